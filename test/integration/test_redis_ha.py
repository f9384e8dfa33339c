"""The relay over Redis for high availability (issue 15): writes that wait
for a replica, a failover through Sentinel during creates and reads that
loses no acknowledged mailbox, and two relays behind a real HAProxy (contrib/haproxy/relay.cfg,
round robin) sharing everything through one Redis.
"""
import random
import secrets
import socket
import time

from redistest import (FakeSentinel, RedisServer, Resp, Secret, Sentinel, StoreRelay,
                       park, resp_bulk, resp_message, store_args)
from relaytest import (Conn, Relay, build_request, call, create, default_body, expect_error,
                       expect_json, expect_status, log_events, new_claim, new_mailbox,
                       preview, read, update, update_body, wait_until)
from test_proxies import HAProxy

PARALLEL = True          # each test runs its own Redis and relays, and mostly waits
STORE_INDEPENDENT = "each relay here is on a redis-server of the test's own"
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
                acknowledged, refused, reads = [], 0, 0
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
                        # Reads of acknowledged mailboxes too: through
                        # the failover each is there, or the store is
                        # unavailable, never gone.
                        if acknowledged:
                            mid, who = random.choice(acknowledged)
                            got = read(relay, mid, who, conn=c)
                            if got.status == 200:
                                reads += 1
                            else:
                                expect_error(got, 503, "unavailable", "read in the failover")
                        if not killed and len(acknowledged) == 50:
                            primary.kill()
                            killed, after_kill = True, len(acknowledged)
                print("    failover: %d acknowledged, %d refused over %.2f s, %d reads" % (
                    len(acknowledged), refused, (last_refused or 0) - (first_refused or 0), reads))
                assert killed and len(acknowledged) > 100, \
                    "no recovery: %d acknowledged, %d refused" % (len(acknowledged), refused)
                assert last_refused is None or last_refused - first_refused < 15, \
                    "503s for %.1f s" % (last_refused - first_refused)
                lost = [mid for mid, sender in acknowledged
                        if read(relay, mid, sender).status != 200]
                assert not lost, "%d of %d acknowledged mailboxes lost: %r" % (
                    len(lost), len(acknowledged), lost[:5])


def named_client(port):
    """A connection of the test's own, named so that relay_clients leaves it
    out, even closed and not yet gone."""
    c = Resp(port)
    c.call("CLIENT", "SETNAME", "test")
    return c


def relay_clients(port):
    """The relay's connections to the Redis server on port, as CLIENT LIST
    fields by client id: every client but the sentinels' (named), replicas
    and master links (flags S, M) and the test's (named too)."""
    c = named_client(port)
    try:
        listing = c.call("CLIENT", "LIST").decode()
    finally:
        c.close()
    clients = {}
    for line in listing.splitlines():
        fields = dict(kv.split("=", 1) for kv in line.split(" ") if "=" in kv)
        if not fields.get("name") and not set(fields.get("flags", "")) & set("SM"):
            clients[int(fields["id"])] = fields
    return clients


def both_connections(port):
    """The relay's two connections on port, commands and subscription
    (PSUBSCRIBE), once they are there: their ids."""
    clients = relay_clients(port)
    if len(clients) == 2 and sorted(f["psub"] for f in clients.values()) == ["0", "1"]:
        return sorted(clients)
    return None


def role(port):
    c = named_client(port)
    try:
        return c.call("ROLE")[0].decode()
    finally:
        c.close()


def test_switch_master_is_followed_at_once():
    # A failover in which the old master lives on: the sentinels turn it
    # into a replica only seconds later, and that closes its clients. The
    # relay, sent no request, must be on the new master before that, its
    # subscription (the wake-ups from other relays) too: it heard the
    # sentinels' +switch-master.
    with RedisServer("--repl-diskless-sync-delay", "0") as primary, \
            RedisServer("--repl-diskless-sync-delay", "0") as replica, Secret() as secret:
        named_client(replica.port).call("REPLICAOF", "127.0.0.1", str(primary.port))
        wait_until(lambda: b"state=online" in named_client(primary.port).call(
            "INFO", "replication"), 10, "the replica to be in sync")
        with Sentinel("m", primary.port) as s1, Sentinel("m", primary.port) as s2, \
                Sentinel("m", primary.port) as s3:
            url = "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d,127.0.0.1:%d/m" % (
                s1.port, s2.port, s3.port)
            with StoreRelay("--store", url, "--store-secret-file", secret) as relay:
                wait_until(lambda: both_connections(primary.port), 10,
                           "the relay's two connections to the master")

                def failover():
                    c = Resp(s1.port)
                    try:
                        c.send("SENTINEL", "FAILOVER", "m")
                        return c.reply() == b"OK"
                    finally:
                        c.close()
                # (NOGOODSLAVE until the sentinels have seen the replica.)
                wait_until(failover, 20, "a sentinel to start a failover")
                wait_until(lambda: s1.master_port_now() == replica.port, 20,
                           "the sentinels to name the replica master")
                wait_until(lambda: both_connections(replica.port), 20,
                           "the relay's two connections on the new master")
                assert role(primary.port) == "master", \
                    "the relay moved only once the old master was made a replica, which " \
                    "closed its connections: it did not follow +switch-master"
                assert not relay_clients(primary.port), relay_clients(primary.port)
                assert relay.alive()
                new_mailbox(relay)


def _relay_moved(redis, before):
    ids = both_connections(redis.port)
    return ids if ids and not set(ids) & set(before) else None


def test_malformed_announcements_are_ignored():
    # A sentinel of the test's own, the only one the relay knows, sends on
    # the relay's subscription what no sentinel should. What hiredis can
    # read is read and ignored; what would trip hiredis's asserts (or hand
    # a message to a freed callback) ends that connection, never the
    # process, and the relay subscribes again. Neither moves the relay's
    # connections to Redis; a well-formed announcement of another master
    # does, through the sentinel's answer, not the announced address.
    with RedisServer() as redis, Secret() as secret, FakeSentinel("m", redis.port) as fake, \
            socket.socket() as decoy:
        decoy.bind(("127.0.0.1", 0))
        decoy.listen(8)
        decoy.setblocking(False)
        url = "redis-sentinel://127.0.0.1:%d/m" % fake.port
        with StoreRelay("--store", url, "--store-secret-file", secret) as relay:
            before = wait_until(lambda: both_connections(redis.port), 10,
                                "the relay's two connections")
            sub = fake.wait_subscriber()
            here = "m 127.0.0.1 1 127.0.0.1 %d" % redis.port
            ignored = [resp_message(p) for p in (
                "other 127.0.0.1 %d 127.0.0.1 1" % redis.port,     # another master
                "M 127.0.0.1 %d 127.0.0.1 1" % redis.port,
                "m 127.0.0.1 %d 127.0.0.1" % redis.port,           # a field short
                "m 127.0.0.1 %d 127.0.0.1 1 7" % redis.port,       # one too many
                "m 127.0.0.1 %d 127.0.0.1 " % redis.port,
                "m  127.0.0.1 %d 127.0.0.1 1" % redis.port,
                "m 127.0.0.1 %d 127.0.0.1 99999999999999999999" % redis.port,
                "m 127.0.0.1 %d 127.0.0.1 65536" % redis.port,
                "m 127.0.0.1 %d 127.0.0.1 0" % redis.port,
                "m 127.0.0.1 %d 127.0.0.1 -1" % redis.port,
                "m 127.0.0.1 %d 127.0.0.1 12ab" % redis.port,
                "m 127.0.0.1 %d 127.0.0.1 +1" % redis.port,
                "m 127.0.0.1 x 127.0.0.1 1",
                "m a b c d",
                "",
                "m\0 127.0.0.1 %d 127.0.0.1 1" % redis.port,
                "m 127.0.0.1 %d %s 1" % (redis.port, "h" * 300),
                "m 127.0.0.1 1 127.0.0.1 " + "9" * (1 << 20),
                here,                                               # where it is already
            )] + [
                b"*3\r\n" + resp_bulk("message") + resp_bulk("+switch-master") + b":5\r\n",
                b"*3\r\n" + resp_bulk("message") + resp_bulk("+switch-master") + b"$-1\r\n",
                b"*3\r\n" + resp_bulk("message") + resp_bulk("+switch-master") +
                b"*1\r\n" + resp_bulk(here),
                b"*4\r\n" + resp_bulk("message") + resp_bulk("+switch-master") +
                resp_bulk(here) + resp_bulk("m 127.0.0.1 1 127.0.0.1 1"),
                b"*3\r\n" + resp_bulk("subscribe") + resp_bulk("+switch-master") +
                resp_bulk("not a count"),
            ]
            refused = [
                b"*2\r\n" + resp_bulk("message") + resp_bulk("+switch-master"),
                b"*1\r\n" + resp_bulk("message"),
                b"*0\r\n",
                b"*-1\r\n",
                b"$-1\r\n",
                b":5\r\n",
                b"+OK\r\n",
                resp_bulk("m 127.0.0.1 1 127.0.0.1 1"),
                b"*3\r\n:1\r\n" + resp_bulk("+switch-master") + resp_bulk(here),
                b"*3\r\n" + resp_bulk("message") + b":5\r\n" + resp_bulk(here),
                b"*3\r\n*1\r\n" + resp_bulk("message") + resp_bulk("+switch-master") +
                resp_bulk(here),
                # would leave subscribed mode, and the next reply abort
                b"*3\r\n" + resp_bulk("unsubscribe") + resp_bulk("+switch-master") + b":0\r\n",
                b"*2\r\n" + resp_bulk("unsubscribe") + resp_bulk("+switch-master"),
                # another channel: hiredis would run the callback it ran last
                resp_message("m 127.0.0.1 1 127.0.0.1 1", channel="other"),
                b"*3\r\n" + resp_bulk("pmessage") + resp_bulk("+switch-master") + resp_bulk(here),
                b"-ERR a sentinel in a bad mood\r\n",
                b"!not RESP at all\r\n",
            ]
            # Read in order: the ignored ones, then one refused ends the
            # connection; only then is the relay asked where it stands.
            for frame in ignored:
                sub.send(frame)
            for frame in refused:
                sub.send(frame)
                sub.wait_closed()
                assert relay.alive(), "the relay ended on %r" % frame
                sub = fake.wait_subscriber(after=sub)
            assert both_connections(redis.port) == before, \
                "a malformed announcement moved the relay's connections"
            # Well-formed, naming another master: both connections ask again
            # (the sentinel still names redis), none goes where it said.
            asks = fake.asks()
            sub.send(resp_message("m 127.0.0.1 %d 127.0.0.1 %d" % (
                redis.port, decoy.getsockname()[1])))
            wait_until(lambda: _relay_moved(redis, before), 10,
                       "the relay's connections to be made again")
            assert fake.asks() >= asks + 2, (asks, fake.asks())
            try:
                decoy.accept()
                raise AssertionError("the relay connected to the announced address itself")
            except BlockingIOError:
                pass
            new_mailbox(relay)


def test_more_than_an_answer():
    # Sent right behind an answer, in the same read: a message on a channel
    # nobody subscribed to (hiredis would run the answer's callback again,
    # freed) or a reply nobody asked for (an assert outside subscribed
    # mode). The question is answered; the rest ends that connection.
    for extra in (resp_message("m 127.0.0.1 1 127.0.0.1 1", channel="other"), b"+OK\r\n",
                  b"*3\r\n" + resp_bulk("unsubscribe") + resp_bulk("+switch-master") +
                  b":0\r\n" + resp_message("m 127.0.0.1 1 127.0.0.1 1")):
        with RedisServer() as redis, Secret() as secret, \
                FakeSentinel("m", redis.port, after_answer=extra) as fake:
            url = "redis-sentinel://127.0.0.1:%d/m" % fake.port
            with StoreRelay("--store", url, "--store-secret-file", secret) as relay:
                new_mailbox(relay)
                wait_until(lambda: len(fake.conns) >= 5, 10,
                           "the relay's sentinel connection to be made again")
                assert relay.alive()


def test_sentinels_that_fail():
    # The first sentinel accepts connections and never answers: the
    # relay's questions time out and go to the next, and so does its
    # subscription. Then the one that answers closes the subscription, and
    # later stops answering on it: the relay subscribes again each time.
    with RedisServer() as redis, Secret() as secret, \
            FakeSentinel("m", redis.port, silent=True) as silent, \
            FakeSentinel("m", redis.port) as fake:
        url = "redis-sentinel://127.0.0.1:%d,127.0.0.1:%d/m" % (silent.port, fake.port)
        with StoreRelay("--store", url, "--store-secret-file", secret) as relay:
            sub = fake.wait_subscriber()
            sub.close()
            sub = fake.wait_subscriber(after=sub, timeout_s=15)
            # A subscription whose sentinel goes quiet is given up (it is
            # pinged every few seconds) for the next sentinel, and so on.
            sub.mute = True
            sub.wait_closed(timeout_s=15)
            fake.wait_subscriber(after=sub, timeout_s=15)
            assert silent.conns, "the silent sentinel was never tried"
            new_mailbox(relay)


def test_stopped_while_the_sentinel_says_nothing():
    # Freed with a question and a subscription both unanswered: a clean
    # exit (the sanitizer build finds no leak).
    with RedisServer() as redis, Secret() as secret, \
            FakeSentinel("m", redis.port, silent=True) as silent:
        url = "redis-sentinel://127.0.0.1:%d/m" % silent.port
        with Relay("--store", url, "--store-secret-file", secret) as relay:
            wait_until(lambda: sum(1 for c in list(silent.conns) if c.commands) >= 2, 10,
                       "a question and a subscription to wait")
            assert relay.alive()


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
