"""The relay with --store redis:// (issue 15), against a real redis-server.

One relay and two: the same answers as the memory store gives, a mailbox
made on one relay read, bound and retried on the other, exactly one
Receiver in a race through two relays, long-polls woken across relays,
claims nowhere in clear in Redis, what a mailbox costs in Redis (issue
15's goal), 503 while Redis is away, stalled or full and service again
without a restart, and the options checked. Replicas, Sentinel and
HAProxy: test_redis_ha.py.
"""
import json
import os
import secrets
import shutil
import socket
import tempfile

from redistest import ReplyGate, RedisServer, Secret, StoreRelay, park, store_args
from relaytest import (Conn, Relay, b64, build_request, call, create, default_body, delete,
                       log_events,
                       expect_error, expect_json, expect_status, new_claim, new_mailbox,
                       preview, read, relinquish, run_relay, update, update_body, wait_until)
import promtext
from test_admin import admin_get, metric, metric_when

PARALLEL = True          # each test runs its own Redis and relays, and mostly waits
STORE_INDEPENDENT = "each relay here is on a redis-server of the test's own"
RACES = 1000
MAILBOX_BYTES_GOAL = 2000       # Redis's memory per mailbox of the 1 KiB workload (issue 15)
FOOTPRINT_MAILBOXES = 2000
FOOTPRINT_WARMUP = 200


def test_a_mailbox_lives_in_redis():
    with RedisServer() as redis, Secret() as secret, StoreRelay(*store_args(redis, secret)) as relay:
        mb = new_mailbox(relay)
        receiver = new_claim()
        data = expect_json(read(relay, mb.id, receiver), 200, "the Receiver's first read")
        assert data["payload"] == mb.body["payload"], data
        expect_error(read(relay, mb.id, new_claim()), 401, "unauthorized")
        body = update_body()
        resp = update(relay, mb.id, mb.sender, body, headers=[("If-Match", '"1"')])
        expect_json(resp, 200, "update with If-Match")
        assert resp.header("ETag") == '"2"', resp
        expect_error(update(relay, mb.id, mb.sender, body, headers=[("If-Match", '"1"')]),
                     412, "precondition_failed")
        data = expect_json(read(relay, mb.id, receiver), 200, "read after the update")
        assert data["payload"] == body["payload"], data
        expect_status(preview(relay, mb.id), 200, "preview")
        expect_json(relinquish(relay, mb.id, receiver), 200, "relinquish")
        expect_json(delete(relay, mb.id, mb.sender), 200, "delete")
        expect_error(read(relay, mb.id, mb.sender), 404, "not_found")
        keys = redis.client().call("KEYS", "relay:m:*")
        assert keys == [], "a deleted mailbox left %r" % keys


def test_two_relays_share_mailboxes_and_retries():
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay(*store_args(redis, secret)) as a, StoreRelay(*store_args(redis, secret)) as b:
        mb = new_mailbox(a)
        receiver = new_claim()
        expect_json(read(b, mb.id, receiver), 200, "read on the other relay")
        expect_error(read(a, mb.id, new_claim()), 401, "unauthorized",
                     "a second Receiver on the first relay")
        body = update_body()
        expect_json(update(b, mb.id, mb.sender, body), 200, "update on the other relay")
        data = expect_json(read(a, mb.id, receiver), 200, "read back on the first")
        assert data["payload"] == body["payload"], data

        # A retry that lands on the other relay gets the first answer.
        sender, rid = new_claim(), "retry-" + secrets.token_hex(8)
        first = expect_json(create(a, sender, default_body(), request_id=rid), 200, "create")
        again = create(b, sender, default_body(), request_id=rid)
        expect_json(again, 201, "the same create through the other relay")
        assert again.json()["urlLink"].rsplit("/", 1)[1] == \
            first["urlLink"].rsplit("/", 1)[1], (first, again.json())


def test_one_receiver_wins_each_race_across_two_relays():
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay(*store_args(redis, secret)) as a, StoreRelay(*store_args(redis, secret)) as b:
        with Conn(a) as ca, Conn(b) as cb, Conn(a) as maker:
            for i in range(RACES):
                sender = new_claim()
                resp = call(a, "POST", "/v1/m", sender, default_body(), conn=maker)
                path = "/v1/m/" + expect_json(resp, 200, "create")["urlLink"].rsplit("/", 1)[1]
                # Both reads are out before either answer is read.
                ca.send(build_request("POST", path, [("Mailbox-Device-Claim", new_claim())]))
                cb.send(build_request("POST", path, [("Mailbox-Device-Claim", new_claim())]))
                got = sorted([ca.read_response("POST").status, cb.read_response("POST").status])
                assert got == [200, 401], "race %d: answers %r" % (i, got)


def test_rate_limits_hold_across_two_relays():
    args = ("--rate-create", "30/m,3", "--rate-fail", "3/m")
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay(*store_args(redis, secret, *args)) as a, \
            StoreRelay(*store_args(redis, secret, *args)) as b:
        here, there = ("127.0.0.1", 0), ("127.0.0.2", 0)
        with Conn(a, source=here) as a1, Conn(b, source=here) as b1, \
                Conn(a, source=there) as a2:
            # The burst of 3, spent on both relays, is one burst.
            for i, conn in enumerate((a1, b1, a1)):
                expect_json(create(None, new_claim(), default_body(), conn=conn), 200,
                            "create %d of the burst, relay %s" % (i + 1, "aba"[i]))
            for conn, name in ((b1, "b"), (a1, "a")):
                resp = create(None, new_claim(), default_body(), conn=conn)
                expect_error(resp, 429, "rate_limited", "a 4th create on relay " + name)
                assert resp.header("Retry-After") in ("1", "2"), resp
            expect_json(create(None, new_claim(), default_body(), conn=a2), 200,
                        "another address's create")

            # Failed claim checks: a wrong claim on a, a malformed one on b
            # (the relay's own check, sent to Redis without waiting), a
            # wrong update on b (after the malformed one's, in Redis's
            # order); then no call of this address is checked on either.
            mb = new_mailbox(a, conn=a2)
            expect_json(read(None, mb.id, new_claim(), conn=a2), 200, "the Receiver binds")
            expect_error(read(None, mb.id, new_claim(), conn=a1), 401, "unauthorized")
            expect_error(read(None, mb.id, "not-a-claim", conn=b1), 401, "invalid_claim")
            expect_error(update(None, mb.id, new_claim(), update_body(), conn=b1), 401,
                         "unauthorized")
            for conn, name in ((a1, "a"), (b1, "b")):
                resp = read(None, mb.id, mb.sender, conn=conn)
                expect_error(resp, 429, "rate_limited", "the right claim on relay " + name)
                assert resp.header("Retry-After") == "20", resp
            expect_json(read(None, mb.id, mb.sender, conn=a2), 200, "from another address")

        # Addresses are kept as keyed hashes, as claims are.
        db = redis.client()
        buckets = db.call("KEYS", "relay:l*")
        assert len(buckets) == 3, buckets       # two create buckets, one failure bucket
        for key in db.call("KEYS", "*"):
            dump = key + db.call("DUMP", key)
            for addr in (b"\x7f\x00\x00\x01", b"\x7f\x00\x00\x02"):
                raw = bytes(10) + b"\xff\xff" + addr
                assert raw not in dump and raw.hex().encode() not in dump and \
                    addr.hex().encode() not in key, (key, dump)


def test_long_polls_per_address_are_counted_for_every_relay():
    from test_address_limits import _etag, _long_poll, _parked, _refused_poll
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay(*store_args(redis, secret, "--max-waiters-per-address", "2")) as a, \
            StoreRelay(*store_args(redis, secret, "--max-waiters-per-address", "2")) as b:
        mb = new_mailbox(a, rights="RW")
        etag = _etag(a, mb)
        conns = []
        try:
            conns.append(_long_poll(a, mb, mb.sender, etag))
            conns.append(_long_poll(b, mb, mb.sender, etag))
            _parked(conns[0], "a long-poll on relay a")
            _parked(conns[1], "a long-poll on relay b")
            _refused_poll(_long_poll(b, mb, mb.sender, etag), "a third, on relay b")
            _refused_poll(_long_poll(a, mb, mb.sender, etag), "a third, on relay a")
            # One that would not wait (its version is old) is answered.
            with Conn(b) as c:
                resp = read(None, mb.id, mb.sender, conn=c, headers=[
                    ("If-None-Match", '"7"'), ("Prefer", "wait=30")])
                expect_json(resp, 200, "a long-poll whose version is not held, at the limit")
            # A place given back on relay a (its waiter hung up) is taken on b.
            conns.pop(0).close()
            db = redis.client()
            wait_until(lambda: sum(db.call("ZCARD", k) for k in db.call("KEYS", "relay:lw:*"))
                       == 1, 5, "relay a to give the place back")
            conns.append(_long_poll(b, mb, mb.sender, etag))
            _parked(conns[-1], "a long-poll on relay b once a place was given back")
            # A wake gives both back.
            expect_json(update(a, mb.id, mb.sender), 200, "update")
            for c in conns:
                expect_json(c.read_response("POST", timeout_s=5), 200, "woken")
            wait_until(lambda: db.call("KEYS", "relay:lw:*") == [] or
                       sum(db.call("ZCARD", k) for k in db.call("KEYS", "relay:lw:*")) == 0,
                       5, "every place given back")
        finally:
            for c in conns:
                c.close()


def test_every_relay_counts_the_mailboxes_in_redis():
    args = ("--admin-listen", "127.0.0.1:0", "--max-mailboxes", "3")
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay(*store_args(redis, secret, *args)) as a, \
            StoreRelay(*store_args(redis, secret, *args)) as b:
        made = [new_mailbox(a), new_mailbox(a)]
        assert metric(a, "relay_mailboxes") == 2
        expect_status(admin_get(b, "/readyz"), 200, "/readyz on b with 2 of 3")
        made.append(new_mailbox(b))
        # b counts its own create at once, and a's from Redis within a second.
        assert metric(b, "relay_mailboxes") >= 1
        wait_until(lambda: metric(b, "relay_mailboxes") == 3, 5, "b to count a's mailboxes")
        resp = admin_get(b, "/readyz")
        expect_status(resp, 503, "/readyz on b with 3 of 3")
        assert "3 of 3" in resp.text, resp
        wait_until(lambda: admin_get(a, "/readyz").status == 503, 5, "a to say it is full")
        expect_json(delete(a, made[2].id, made[2].sender), 200, "delete b's mailbox on a")
        wait_until(lambda: admin_get(b, "/readyz").status == 200, 5, "b to see the room")


def test_a_token_the_push_gateway_calls_dead_is_forgotten_in_redis():
    from test_push import APNS, FCM, GorushStandin, Pair, expect_push, fence, tok
    with GorushStandin() as gw, RedisServer() as redis, Secret() as secret, \
            StoreRelay(*store_args(redis, secret, "--push-gateway", gw.url)) as relay:
        fence_pair = Pair(relay, sender_token=None, receiver_token=tok(FCM))
        dead = Pair(relay, sender_token=tok(APNS), receiver_token=None)
        data = dead.sender_token["tokenData"]
        gw.fail_token(data, "Unregistered")
        dead.update_by_receiver()
        expect_push(gw, data, what="the push the gateway refuses")
        # Pushed after the refusal was read: the token's drop is in Redis
        # before the next update (one connection, in order).
        fence(gw, fence_pair, "fence after the refusal")
        dead.update_by_receiver()
        fence(gw, fence_pair, "fence after the second update")
        assert gw.token_count(data) == 1, "a dead token was pushed again: %s" % gw.describe(10)


def test_claims_are_not_kept_in_clear():
    with RedisServer() as redis, Secret() as secret, StoreRelay(*store_args(redis, secret)) as relay:
        mb = new_mailbox(relay, request_id="r-" + secrets.token_hex(4))
        receiver = new_claim()
        expect_json(read(relay, mb.id, receiver), 200, "bind")
        db = redis.client()
        found = []
        for key in db.call("KEYS", "*"):
            # A string key (a mailbox, a retry record) as it is too: DUMP
            # may compress it.
            seen = [db.call("DUMP", key)]
            if db.call("TYPE", key) == b"string":
                seen.append(db.call("GET", key))
            for claim in (mb.sender, receiver):
                raw = bytes.fromhex(claim.replace("-", ""))
                if any(raw in v or claim.encode() in v or claim.upper().encode() in v
                       for v in seen):
                    found.append((key, claim))
        assert not found, "claims in clear in Redis: %r" % found


def workload_body():
    """A mailbox of the 1 KiB workload (test/bench/benchlib.py's Workload):
    1024 payload bytes, display information and an APNs token."""
    return {"payload": {"type": "AEAD_AES_128_GCM", "data": b64(os.urandom(1024))},
            "displayInformation": {"title": "Front door", "description": "Home key from Alex",
                                   "imageURL": "https://example.com/door.png"},
            "notificationToken": {"type": "com.apple.apns", "tokenData": os.urandom(32).hex()}}


def used_memory(db):
    info = db.call("INFO", "memory").decode()
    return int(info.split("\r\nused_memory:", 1)[1].split("\r\n", 1)[0])


def test_a_mailbox_takes_at_most_2000_bytes_of_redis():
    """Issue 15's goal, with Redis's default configuration: the growth of
    used_memory over FOOTPRINT_MAILBOXES creates of the 1 KiB workload, each
    with a Sender of its own, without and with a Mailbox-Request-ID (its
    claim's retry record). Counted after a warm-up, so that what grows once
    (the set of all mailboxes leaving its compact encoding, the scripts'
    first run) is not shared out; the key tables' growth is, as it comes."""
    costs = []
    for request_id in (lambda: None, new_claim):
        with RedisServer() as redis, Secret() as secret, \
                StoreRelay(*store_args(redis, secret)) as relay, Conn(relay) as conn:
            db = redis.client()

            def make(n):
                for _ in range(n):
                    expect_json(create(relay, new_claim(), workload_body(), conn=conn,
                                       request_id=request_id()), 200, "create")
            make(FOOTPRINT_WARMUP)
            before = used_memory(db)
            make(FOOTPRINT_MAILBOXES)
            costs.append((used_memory(db) - before) / FOOTPRINT_MAILBOXES)
    assert max(costs) <= MAILBOX_BYTES_GOAL, \
        "Redis bytes per mailbox: %.0f, %.0f with a retry record; the goal is %d" % (
            costs[0], costs[1], MAILBOX_BYTES_GOAL)
    return "%.0f B per mailbox, %.0f B with a retry record" % tuple(costs)


def test_redis_away_is_503_and_service_comes_back_by_itself():
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay(*store_args(redis, secret, "--admin-listen", "127.0.0.1:0")) as relay:
        expect_status(admin_get(relay, "/readyz"), 200, "/readyz with Redis up")
        redis.kill()
        resp = create(relay, new_claim(), default_body())
        expect_error(resp, 503, "unavailable", "create with Redis gone")
        assert resp.header("Retry-After") == "1", resp
        expect_status(admin_get(relay, "/readyz"), 503, "/readyz with Redis gone")
        redis.start()
        wait_until(lambda: admin_get(relay, "/readyz").status == 200, 10,
                   "/readyz to say ready again")
        new_mailbox(relay)

        # Stalled, not gone: the answer is a 503 at the store's timeout.
        mb = new_mailbox(relay)
        redis.pause()
        try:
            expect_error(read(relay, mb.id, mb.sender, timeout_s=10), 503, "unavailable",
                         "read with Redis stopped")
        finally:
            redis.resume()
        expect_json(read(relay, mb.id, mb.sender), 200, "read once Redis runs again")


def test_a_password_from_a_file():
    with RedisServer("--requirepass", "s3cret pass") as redis, Secret() as secret:
        pw_dir = tempfile.mkdtemp(prefix="relay-pw-")
        try:
            pw = os.path.join(pw_dir, "pw")
            with open(pw, "w") as f:
                f.write("s3cret pass\n")
            with StoreRelay(*store_args(redis, secret, "--store-password-file", pw)) as relay:
                new_mailbox(relay)
            with Relay(*store_args(redis, secret)) as relay:
                expect_error(create(relay, new_claim(), default_body()), 503, "unavailable",
                             "without the password")
                # The operator is told why, from the first try on.
                assert relay.stderr.wait_for(lambda ls: any(
                    e["msg"].startswith("the store is unreachable") and
                    "NOAUTH" in e.get("error", "") for e in log_events(ls)), 5), \
                    relay.stderr.text()
        finally:
            shutil.rmtree(pw_dir, ignore_errors=True)


def test_store_options_are_checked():
    with Secret() as secret, Secret(size=16) as short:
        for args, says in (
                (["--store", "redis://127.0.0.1:6379"], "--store-secret-file"),
                (["--store", "redis://127.0.0.1:6379", "--store-secret-file", secret,
                  "--state-file", "/tmp/x"], "Redis keeps the mailboxes itself"),
                (["--store", "redis://127.0.0.1", "--store-secret-file", secret], "port"),
                (["--store", "redis://127.0.0.1:0", "--store-secret-file", secret], "port"),
                (["--store", "redis://:6379", "--store-secret-file", secret], "host"),
                (["--store", "redis://u:pw@127.0.0.1:6379", "--store-secret-file", secret],
                 "--store-password-file"),
                (["--store", "redis://h%0a:6379", "--store-secret-file", secret], "host"),
                (["--store", "redis://127.0.0.1:6379/x", "--store-secret-file", secret],
                 "database"),
                (["--store", "http://127.0.0.1:6379", "--store-secret-file", secret],
                 "redis://"),
                (["--store-secret-file", secret], "--store redis://"),
                (["--store-wait-replicas", "1"], "--store redis://"),
                (["--store", "redis-sentinel://127.0.0.1:26379/", "--store-secret-file",
                  secret], "the name"),
                (["--store", "redis-sentinel:///m", "--store-secret-file", secret],
                 "at least one sentinel"),
                (["--store", "redis-sentinel://a:1,b:x/m", "--store-secret-file", secret],
                 "port"),
                (["--store", "redis-sentinel://a:1/m\r\n", "--store-secret-file", secret],
                 "name"),
                (["--store", "redis-sentinel://" + ",".join(["a:1"] * 9) + "/m",
                  "--store-secret-file", secret], "at most 8")):
            rc, out, err = run_relay(["--no-tls", "--listen", "127.0.0.1:0"] + args)
            assert rc == 2, "%r: exit status %d, stderr %r" % (args, rc, err)
            assert says in err and len(err.strip().splitlines()) == 1, (args, err)
        rc, out, err = run_relay(["--no-tls", "--listen", "127.0.0.1:0", "--store",
                                  "redis://127.0.0.1:6379", "--store-secret-file", short])
        assert rc == 1 and "at least 32" in err, (rc, err)
        # Files that are no secret: too long, a directory, a FIFO (which
        # must not hang the start).
        fifo_dir = tempfile.mkdtemp(prefix="relay-fifo-")
        try:
            fifo, big = os.path.join(fifo_dir, "fifo"), os.path.join(fifo_dir, "big")
            os.mkfifo(fifo)
            with open(big, "wb") as f:
                f.write(secrets.token_bytes(5000))
            for path, says in ((big, "longer than a secret"), (fifo_dir, "not a regular file"),
                               (fifo, "not a regular file")):
                for option in ("--store-secret-file", "--store-password-file"):
                    args = ["--no-tls", "--listen", "127.0.0.1:0", "--store",
                            "redis://127.0.0.1:6379", "--store-secret-file", secret, option, path]
                    rc, out, err = run_relay(args)
                    assert rc == 1 and says in err, (option, path, rc, err)
        finally:
            shutil.rmtree(fifo_dir, ignore_errors=True)


def test_requests_waiting_for_redis_when_their_connection_goes_or_queues():
    with RedisServer() as redis, Secret() as secret, StoreRelay(*store_args(redis, secret)) as relay:
        mb = new_mailbox(relay)
        request = build_request("POST", mb.path, [("Mailbox-Device-Claim", mb.sender)])
        redis.pause()
        try:
            # Gone while its request waits: the late answer must find nobody.
            gone = Conn(relay)
            gone.send(request)
            gone.close()
            # Two pipelined requests behind one that waits: answered in order.
            with Conn(relay) as queued:
                queued.send(request + build_request("GET", mb.path) + request)
                redis.resume()
                statuses = [queued.read_response("POST").status,
                            queued.read_response("GET").status,
                            queued.read_response("POST").status]
        finally:
            redis.resume()
        assert statuses in ([503, 503, 200], [503, 200, 200], [200, 200, 200]), statuses
        expect_json(read(relay, mb.id, mb.sender), 200, "the relay after all that")


def test_a_request_waiting_for_redis_is_not_a_parked_long_poll():
    # It holds a place under --max-waiters while it waits (its answer may
    # park it), but relay_longpolls_parked counts long-polls.
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay("--admin-listen", "127.0.0.1:0", *store_args(redis, secret)) as relay:
        mb = new_mailbox(relay)
        redis.pause()
        try:
            with Conn(relay) as c:
                c.send(build_request("POST", mb.path, [("Mailbox-Device-Claim", mb.sender)]))
                # Answered 503 after 2 s without Redis: seen before that.
                fams = metric_when(relay, lambda f: promtext.sample(
                    f, "relay_connections", state="reading") == 1, 1.5,
                    "the read to wait for Redis")
                assert promtext.sample(fams, "relay_longpolls_parked") == 0, \
                    "a read waiting for Redis counted as a parked long-poll: %r" % (
                        fams["relay_longpolls_parked"].samples)
        finally:
            redis.resume()


def test_pipelined_answers_to_a_slow_reader_arrive_whole():
    # Each read waits for Redis while the answers before it are still going
    # out to a client that takes nothing: the TLS record a blocked write
    # made must be finished as it was, though more output has come since.
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay("--admin-listen", "127.0.0.1:0", *store_args(redis, secret)) as relay:
        # Answers of 3.6 kB, under a TLS record (4 KiB): 360 kB in all, far
        # more than the sockets take, so the relay must wait for us.
        body = default_body()
        body["payload"]["data"] = b64(secrets.token_bytes(2400))
        mb = new_mailbox(relay, body=body)
        count = 100
        with Conn(relay, timeout_s=20, sockopts=[
                (socket.SOL_SOCKET, socket.SO_RCVBUF, 4096),
                (socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1200)]) as c:
            c.send(b"".join(build_request("POST", mb.path, [
                ("Mailbox-Device-Claim", mb.sender), ("Mailbox-Request-ID", "r%d" % i)])
                for i in range(count)))
            # Nothing is read until the relay waits for this client to take
            # what it wrote (its socket is full).
            metric_when(relay, lambda f: promtext.sample(
                f, "relay_connections", state="writing") == 1, 20,
                "the relay to wait for the slow client")
            for i in range(count):
                resp = c.read_response("POST")
                expect_json(resp, 200, "answer %d of %d" % (i + 1, count))
                assert resp.header("Mailbox-Request-ID") == "r%d" % i, \
                    "answer %d echoes %r: %s" % (i, resp.header("Mailbox-Request-ID"), resp)


def test_a_stop_while_a_request_waits_for_redis():
    with RedisServer() as redis, Secret() as secret:
        relay = StoreRelay(*store_args(redis, secret))
        with relay:
            mb = new_mailbox(relay)
            redis.pause()
            try:
                with Conn(relay) as c:
                    c.send(build_request("POST", mb.path, [("Mailbox-Device-Claim", mb.sender)]))
                    relay.stop()
                    expect_error(c.read_response("POST"), 503, "unavailable",
                                 "the answer owed at the stop")
            finally:
                redis.resume()


def test_redis_full_is_store_full():
    with RedisServer("--maxmemory", "2mb", "--maxmemory-policy", "noeviction") as redis, \
            Secret() as secret, StoreRelay(*store_args(redis, secret)) as relay:
        body = default_body()
        body["payload"]["data"] = b64(secrets.token_bytes(30000))
        first = new_mailbox(relay, body=body)
        with Conn(relay) as c:
            for i in range(200):
                resp = call(relay, "POST", "/v1/m", new_claim(), body, conn=c)
                if resp.status != 200:
                    break
        expect_error(resp, 503, "store_full", "create once Redis's maxmemory is reached")
        assert i > 5, "store_full after only %d mailboxes" % i
        # Full, a mailbox can still be read and deleted: that frees room.
        expect_json(read(relay, first.id, first.sender), 200, "read in a full Redis")
        expect_json(delete(relay, first.id, first.sender), 200, "delete in a full Redis")


def test_a_long_poll_on_one_relay_is_woken_by_the_other():
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay(*store_args(redis, secret)) as a, StoreRelay(*store_args(redis, secret)) as b:
        mb = new_mailbox(a)
        receiver = new_claim()
        expect_json(read(b, mb.id, receiver), 200, "bind")
        sender_wait = park(a, mb, mb.sender)
        receiver_wait = park(a, mb, receiver)
        # A version both hold already (If-None-Match names "2" too) keeps
        # them parked; the next one wakes them, with its content.
        holder = park(a, mb, mb.sender, also=', "2"')
        body = update_body()
        expect_json(update(b, mb.id, mb.sender, body), 200, "update on the other relay")
        for conn, who in ((sender_wait, "Sender"), (receiver_wait, "Receiver")):
            resp = conn.read_response("POST")
            data = expect_json(resp, 200, "the %s's long-poll" % who)
            assert data["payload"] == body["payload"] and resp.header("ETag") == '"2"', resp
            conn.close()
        assert not holder.data_within(0.3), "woken by a version it holds"
        expect_json(update(b, mb.id, mb.sender, update_body()), 200, "a third version")
        expect_json(holder.read_response("POST"), 200, "woken by the third version")
        holder.close()

        # A delete on one relay ends the other's long-polls: 404.
        waiting = park(a, mb, mb.sender, etag='"3"')
        expect_json(delete(b, mb.id, mb.sender), 200, "delete")
        expect_error(waiting.read_response("POST"), 404, "not_found", "the long-poll")
        waiting.close()


def test_a_change_heard_before_the_reply_of_the_read_that_parks_wakes_it():
    # The relay calls Redis on one connection and hears changes on another.
    # An update Redis runs just after a long-poll's read may be heard before
    # that read's reply (still saying the version the poll holds) arrives:
    # the poll must be woken all the same, not wait out its time.
    with RedisServer() as redis, Secret() as secret, ReplyGate(redis) as gate, \
            StoreRelay("--store", gate.url, "--store-secret-file", secret) as relay:
        mb = new_mailbox(relay)
        etag = read(relay, mb.id, mb.sender).header("ETag")
        calls = lambda: gate.sent.get("EVALSHA", 0) + gate.sent.get("EVAL", 0)
        before, published = calls(), gate.published
        gate.hold()
        try:
            poll = Conn(relay, timeout_s=20)
            poll.send(build_request("POST", mb.path, [("Mailbox-Device-Claim", mb.sender),
                                                      ("If-None-Match", etag),
                                                      ("Prefer", "wait=4")]))
            gate.wait(lambda: calls() > before, 5, "the long-poll's read to reach Redis")
            writer = Conn(relay)
            writer.send(build_request("PUT", mb.path, [("Mailbox-Device-Claim", mb.sender),
                                                       ("Content-Type", "application/json")],
                                      json.dumps(update_body())))
            gate.wait(lambda: gate.published > published, 5,
                      "the update's publication to reach the relay")
        finally:
            gate.release()
        expect_json(writer.read_response("PUT"), 200, "the update")
        resp = poll.read_response("POST", timeout_s=10)
        expect_json(resp, 200, "the long-poll whose read Redis ran just before the update")
        assert resp.header("ETag") == '"2"', resp
        poll.close()
        writer.close()


def test_long_polls_end_with_their_mailbox_and_after_redis_comes_back():
    with RedisServer() as redis, Secret() as secret, \
            StoreRelay(*store_args(redis, secret)) as relay:
        # Its expiry, as the relay sees it, ends the wait: 404.
        soon = new_mailbox(relay, expires_in_s=2)
        waiting = park(relay, soon, soon.sender)
        expect_error(waiting.read_response("POST"), 404, "not_found", "at the expiry")
        waiting.close()

        # Redis gone and back (empty): each waiter reads its mailbox again,
        # which is no more.
        mb = new_mailbox(relay)
        waiting = park(relay, mb, mb.sender)
        gone = park(relay, mb, mb.sender)
        gone.close()
        redis.kill()
        redis.start()
        expect_error(waiting.read_response("POST"), 404, "not_found",
                     "after Redis came back without the mailbox")
        waiting.close()
