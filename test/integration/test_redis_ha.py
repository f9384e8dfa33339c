"""The relay over Redis for high availability (issue 15): writes that wait
for a replica, a failover through Sentinel that loses no acknowledged
mailbox, and two relays behind a real HAProxy (contrib/haproxy/relay.cfg,
round robin) sharing everything through one Redis.
"""
import secrets
import time

from redistest import RedisServer, Resp, Secret, Sentinel, StoreRelay, park, store_args
from relaytest import (Conn, build_request, call, create, default_body, expect_error,
                       expect_json, expect_status, log_events, new_claim, new_mailbox,
                       preview, read, update, update_body, wait_until)
from test_proxies import HAProxy

PARALLEL = True          # each test runs its own Redis and relays, and mostly waits
RACES = 1000


def test_writes_wait_for_replicas():
    # (Redis would wait 5 s for more replicas before it sends the first.)
    with RedisServer("--repl-diskless-sync-delay", "0") as primary, RedisServer() as replica, \
            Secret() as secret:
        replica.client().call("REPLICAOF", "127.0.0.1", str(primary.port))
        db = primary.client()
        wait_until(lambda: b"state=online" in db.call("INFO", "replication"), 10,
                   "the replica to be in sync")
        # In sync is not yet acknowledging: a replica still loading what it
        # was sent answers WAIT late. A write of the test's own first.
        wait_until(lambda: db.call("SET", "probe", "1") == b"OK" and
                   db.call("WAIT", 1, 200) == 1, 10, "the replica to acknowledge a write")
        with StoreRelay(*store_args(primary, secret, "--store-wait-replicas", "1")) as relay:
            mb = new_mailbox(relay)
            assert replica.client().call("EXISTS", "relay:m:" + mb.id.replace("-", "")) == 1, \
                "acknowledged, but not on the replica"
            expect_json(update(relay, mb.id, mb.sender, update_body()), 200, "update")
            expect_status(preview(relay, mb.id), 200, "a preview writes nothing to wait for")
            replica.pause()
            try:
                expect_error(create(relay, new_claim(), default_body()), 503, "unavailable",
                             "create with the replica stopped")
                expect_error(update(relay, mb.id, mb.sender, update_body()), 503,
                             "unavailable", "update with the replica stopped")
                expect_status(preview(relay, mb.id), 200, "preview with the replica stopped")
            finally:
                replica.resume()
            new_mailbox(relay)


def test_failover_through_sentinel_loses_no_acknowledged_mailbox():
    with RedisServer("--repl-diskless-sync-delay", "0") as primary, \
            RedisServer("--repl-diskless-sync-delay", "0") as r1, \
            RedisServer("--repl-diskless-sync-delay", "0") as r2, Secret() as secret:
        for replica in (r1, r2):
            replica.client().call("REPLICAOF", "127.0.0.1", str(primary.port))
        db = primary.client()
        wait_until(lambda: db.call("INFO", "replication").count(b"state=online") == 2, 10,
                   "both replicas in sync")
        wait_until(lambda: db.call("SET", "probe", "1") == b"OK" and
                   db.call("WAIT", 2, 200) == 2, 10, "both replicas to acknowledge a write")
        with Sentinel("m", primary.port) as s1, Sentinel("m", primary.port) as s2, \
                Sentinel("m", primary.port) as s3:
            wait_until(lambda: all(b"sentinels=3" in Resp(s.port).call("INFO", "sentinel")
                                   for s in (s1, s2, s3)), 15, "the sentinels to know each other")
            url = "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/m" % (
                s1.port, s2.port, s3.port)
            with StoreRelay("--store", url, "--store-secret-file", secret,
                            "--store-wait-replicas", "1") as relay:
                acknowledged, refused = [], 0
                first_refused = last_refused = None
                with Conn(relay) as c:
                    deadline = time.monotonic() + 30
                    killed = False
                    while time.monotonic() < deadline:
                        sender = new_claim()
                        resp = call(relay, "POST", "/v1/m", sender, default_body(), conn=c)
                        now = time.monotonic()
                        if resp.status == 200:
                            acknowledged.append((resp.json()["urlLink"].rsplit("/", 1)[1],
                                                 sender))
                            if killed and s1.master_port_now() != primary.port and \
                                    len(acknowledged) > 50 + after_kill:
                                break
                        else:
                            expect_error(resp, 503, "unavailable", "create in the failover")
                            refused += 1
                            # A load of a few hundred requests a second, not
                            # as many as the 503s can come.
                            time.sleep(0.005)
                            first_refused = first_refused or now
                            last_refused = now
                        if not killed and len(acknowledged) == 50:
                            primary.kill()
                            killed, after_kill = True, len(acknowledged)
                print("    failover: %d acknowledged, %d refused over %.2f s" % (
                    len(acknowledged), refused, (last_refused or 0) - (first_refused or 0)))
                assert killed and len(acknowledged) > 100, \
                    "no recovery: %d acknowledged, %d refused" % (len(acknowledged), refused)
                assert last_refused is None or last_refused - first_refused < 15, \
                    "503s for %.1f s" % (last_refused - first_refused)
                lost = [mid for mid, sender in acknowledged
                        if read(relay, mid, sender).status != 200]
                assert not lost, "%d of %d acknowledged mailboxes lost: %r" % (
                    len(lost), len(acknowledged), lost[:5])


class TwoRelaysHAProxy(HAProxy):
    """contrib/haproxy/relay.cfg in front of two relays, round robin."""

    def __init__(self, a, b):
        super().__init__(a)
        self.relays = (a, b)

    def config(self, replacements):
        a, b = self.relays
        return super().config([r for r in replacements if not r[0].startswith("server relay")] + [
            ("server relay 127.0.0.1:8080",
             "balance roundrobin\n    server relay1 127.0.0.1:%d\n"
             "    server relay2 127.0.0.1:%d" % (a.port, b.port), 1)])


def _served(relay):
    """How many requests a relay answered (its --access-log lines)."""
    return sum(1 for e in log_events(relay.stderr.lines()) if e["msg"] == "request")


def test_two_relays_behind_haproxy():
    args = ("--no-tls", "--trust-proxy", "127.0.0.1/32", "--access-log",
            "--public-url", "https://relay.example")
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay(*store_args(redis, secret, *args), tls=False) as a, \
            StoreRelay(*store_args(redis, secret, *args), tls=False) as b, \
            TwoRelaysHAProxy(a, b) as proxy:
        mb = new_mailbox(proxy)
        receiver = new_claim()
        expect_json(read(proxy, mb.id, receiver), 200, "bind through the proxy")
        waiting = park(proxy, mb, receiver)
        body = update_body()
        expect_json(update(proxy, mb.id, mb.sender, body), 200, "update through the proxy")
        data = expect_json(waiting.read_response("POST"), 200, "the long-poll")
        assert data["payload"] == body["payload"], data
        waiting.close()
        sender, rid = new_claim(), "r-" + secrets.token_hex(6)
        first = expect_json(create(proxy, sender, default_body(), request_id=rid), 200, "create")
        again = create(proxy, sender, default_body(), request_id=rid)
        expect_json(again, 201, "the same create, through the proxy again")
        assert again.json()["urlLink"] == first["urlLink"], (first, again.json())
        # HAProxy balances each request, kept-alive connections too: of
        # three requests in turn (create, two reads), the reads go to
        # different relays.
        with Conn(proxy) as maker, Conn(proxy) as c1, Conn(proxy) as c2:
            for i in range(RACES):
                resp = call(proxy, "POST", "/v1/m", new_claim(), default_body(), conn=maker)
                path = "/v1/m/" + expect_json(resp, 200, "create")["urlLink"].rsplit("/", 1)[1]
                c1.send(build_request("POST", path, [("Mailbox-Device-Claim", new_claim())]))
                c2.send(build_request("POST", path, [("Mailbox-Device-Claim", new_claim())]))
                got = sorted([c1.read_response("POST").status, c2.read_response("POST").status])
                assert got == [200, 401], "race %d through the proxy: %r" % (i, got)
        wait_until(lambda: _served(a) > RACES and _served(b) > RACES, 10,
                   "both relays to have answered (round robin)")


def test_a_rate_limit_holds_across_relays_behind_haproxy():
    # The client's address comes from HAProxy's X-Forwarded-For: one
    # bucket on both relays, whichever answers.
    args = ("--no-tls", "--trust-proxy", "127.0.0.1/32", "--access-log",
            "--public-url", "https://relay.example", "--rate-create", "30/m,4")
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay(*store_args(redis, secret, *args), tls=False) as a, \
            StoreRelay(*store_args(redis, secret, *args), tls=False) as b, \
            TwoRelaysHAProxy(a, b) as proxy:
        for i in range(4):
            expect_json(create(proxy, new_claim(), default_body()), 200, "create %d" % (i + 1))
        wait_until(lambda: (_served(a), _served(b)) == (2, 2), 10,
                   "each relay to have made two (round robin)")
        for i in range(2):
            resp = create(proxy, new_claim(), default_body())
            expect_error(resp, 429, "rate_limited", "create %d past the burst of 4" % (i + 5))
        wait_until(lambda: (_served(a), _served(b)) == (3, 3), 10,
                   "each relay to have refused one")
