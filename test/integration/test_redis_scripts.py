"""The Redis store's Lua scripts (storage/redis/*.lua, docs/redis-store.md),
run in a real redis-server.

Each test starts its own redis-server on a free loopback port (no
persistence, a temporary --dir), loads every script with SCRIPT LOAD and
calls them with EVALSHA over a plain socket (a small RESP client below, no
redis-py). The cases are those of test/unit/test_access.c, which pins the
verdicts of the memory store and their order (404, retry, claim and rights,
If-Match, body, act): the scripts must give the same. Then what only Redis
has: binary-safe payloads, the mailbox packed in one string key, the
keys' expiry, the pub/sub messages, the per-owner byte count and the exact
layout of a DONE reply.

Times are real (a key with an expiry in the past is gone at once), so
"expired by now" is tested by handing a script a later `now`.
"""

import os
import shutil
import socket
import subprocess
import tempfile
import time
import unittest

from redistest import Resp, RespError, script_text, unpack
from relaytest import describe_status, free_port, tail, wait_until

PARALLEL = True          # each test runs its own redis-server, and mostly waits
STORE_INDEPENDENT = "it runs the Lua scripts on a redis-server of its own, without a relay"
EXPECTED_SECONDS = 3

SCRIPTS = ("create", "read", "update", "delete", "relinquish", "preview", "drop_token", "rate",
           "unpark")
REDIS_SERVER = shutil.which("redis-server") or (
    "/usr/bin/redis-server" if os.access("/usr/bin/redis-server", os.X_OK) else None)
START_TIMEOUT_S = 10.0
STOP_TIMEOUT_S = 10.0
IO_TIMEOUT_S = 10.0
PUBLISH_TIMEOUT_S = 2.0
PREFIX = b"relay:"

# Verdicts (docs/redis-store.md).
DONE, REPEATED, NOT_FOUND, UNAUTHORIZED, NOT_MATCHED, BAD_BODY, FULL, OWNER_FULL, EXISTS, \
    RATE_LIMITED, WAITERS_FULL = range(11)
# Rights.
R, W, D = 1, 2, 4

# Claim hashes as the relay sends them: 16 raw bytes (as in test_access.c).
SENDER = b"\x01" + bytes(15)
RECEIVER = b"\x02" + bytes(15)
STRANGER = b"\x03" + bytes(15)
# A claim with every kind of byte in it, and its neighbour.
ODD_CLAIM = bytes([0, 255, 10, 13, 32, 128, 1, 2, 0, 0, 0x7f, 0x80, 0xfe, 0x22, 0x5c, 0])
ODD_OTHER = ODD_CLAIM[:-1] + b"\x01"


# ----------------------------------------------------------------- RESP

# ---------------------------------------------------------- the server

class Redis:
    """A redis-server of the test's own, stopped on leaving the block."""

    def __enter__(self):
        if REDIS_SERVER is None:
            raise unittest.SkipTest("redis-server is not installed (apt-get install redis-server)")
        self.dir = tempfile.mkdtemp(prefix="relay-redis-")
        self.log = os.path.join(self.dir, "redis.log")
        self.port = free_port()
        self.proc = None
        self.conns = []
        try:
            self.proc = subprocess.Popen(
                [REDIS_SERVER, "--save", "", "--appendonly", "no", "--port", str(self.port),
                 "--bind", "127.0.0.1", "--dir", self.dir, "--logfile", self.log],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
            self.db = wait_until(self._ping, START_TIMEOUT_S,
                                 "redis-server to answer PING on port %d" % self.port)
            self.sha = {}
            for name in SCRIPTS:
                self.sha[name] = self.db.call("SCRIPT", "LOAD", script_text(name))
        except BaseException:
            self._end()
            raise
        return self

    def _ping(self):
        if self.proc.poll() is not None:
            raise AssertionError("redis-server ended at start (%s): %r" % (
                describe_status(self.proc.returncode), tail(self.log_text())))
        try:
            conn = Resp(self.port)
        except OSError:
            return None
        try:
            if conn.call("PING") == b"PONG":
                self.conns.append(conn)
                return conn
        except (OSError, AssertionError):
            pass
        conn.close()
        return None

    def log_text(self):
        try:
            with open(self.log, encoding="utf-8", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def connect(self):
        conn = Resp(self.port)
        self.conns.append(conn)
        return conn

    def _end(self):
        for c in self.conns:
            c.close()
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __exit__(self, exc_type, exc, tb):
        self._end()

    # ------------------------------------------------ the scripts' callers

    def run(self, script, keys, argv):
        return self.db.call("EVALSHA", self.sha[script], len(keys), *keys, *argv)

    def create(self, id_hex, claim=SENDER, now=None, rid=b"", body_ok=1, rights=R,
               expires_at=None, pt=b"t", pd=b"data", dt=b"", dd=b"", di=b"",
               t0t=b"apns", t0d=b"tok", remembered=1, max_mailboxes=100,
               max_owner_bytes=0, nbytes=0, owner=b"", rate=None):
        now = NOW() if now is None else now
        expires_at = now + 60 if expires_at is None else expires_at
        keys = [m_key(id_hex), r_key(claim), PREFIX + b"all",
                PREFIX + b"o:" + owner, PREFIX + b"oe:" + owner, rate_key(b"lc:", rate)]
        return self.run("create", keys, [now, claim, rid, body_ok, rights, expires_at, pt, pd,
                                          dt, dd, di, t0t, t0d, remembered, max_mailboxes,
                                          max_owner_bytes, nbytes, owner] + rate_rule(rate))

    def read(self, id_hex, claim, now=None, body_ok=1, tt=b"", td=b"", rate=None, park=None,
             max_owner_bytes=0):
        """A read's reply without its last element, whether a long-poll's
        place was taken, which must be 0 unless park is given: then the
        pair (reply, taken)."""
        p = park or Park(b"-", 0, b"none", 0)
        reply = self.run("read", [m_key(id_hex), rate_key(b"lw:", p), rate_key(b"lf:", rate)],
                         [now_or(now), claim, b"", body_ok, tt, td, p.held, p.park_ms, p.lease,
                          p.max_waiters, max_owner_bytes]
                         + rate_rule(rate if rate is not None else p))
        taken = None
        if isinstance(reply, list) and reply and reply[0] == DONE:
            assert len(reply) == 18 and reply[-1] in (0, 1), "read's DONE: %r" % (reply,)
            reply, taken = reply[:-1], reply[-1]
        if park is not None:
            return reply, taken
        assert not taken, "a read that is no long-poll took a place: %r" % (reply,)
        return reply

    def unpark(self, park):
        return self.run("unpark", [rate_key(b"lw:", park)], [NOW(), b"", b"", 0, park.lease])

    def update(self, id_hex, claim, now=None, rid=b"", body_ok=1, if_match=b"", pt=b"t",
               pd=b"new", tt=b"", td=b"", push_types=b"apns fcm", rate=None, max_owner_bytes=0):
        return self.run("update", [m_key(id_hex), r_key(claim), rate_key(b"lf:", rate)],
                        [now_or(now), claim, rid, body_ok, if_match, pt, pd, tt, td, push_types,
                         max_owner_bytes] + rate_rule(rate))

    def delete(self, id_hex, claim, now=None, rate=None):
        return self.run("delete", [m_key(id_hex), PREFIX + b"all", rate_key(b"lf:", rate)],
                        [now_or(now), claim, b"", 1] + rate_rule(rate))

    def relinquish(self, id_hex, claim, now=None, rid=b"", rate=None):
        return self.run("relinquish", [m_key(id_hex), r_key(claim), rate_key(b"lf:", rate)],
                        [now_or(now), claim, rid, 1] + rate_rule(rate))

    def rate(self, rate):
        """rate.lua: a failed claim check the relay made itself."""
        return self.run("rate", [rate_key(b"lf:", rate)], [NOW(), b"", b"", 0] + rate_rule(rate))

    def preview(self, id_hex, now=None):
        return self.run("preview", [m_key(id_hex)], [now_or(now), b"", b"", 1])

    def drop_token(self, id_hex, party, tt, td, now=None):
        return self.run("drop_token", [m_key(id_hex)], [now_or(now), b"", b"", 1, party, tt, td])

    def stored(self, key):
        """The map packed at key (a mailbox, a retry record), decoded here
        (redistest.unpack), not by Redis; None when there is no key."""
        packed = self.db.call("GET", key)
        return None if packed is None else {k.decode(): v for k, v in unpack(packed).items()}

    def field(self, id_hex, name):
        return (self.stored(m_key(id_hex)) or {}).get(name)


def NOW():
    return int(time.time())


def now_or(now):
    return NOW() if now is None else now


def new_id():
    return os.urandom(16).hex().encode()


class Rate:
    """A rate rule and the bucket it is checked against: per tokens every
    period_ms, burst saved up; offset_ms moves Redis's clock (the relay's
    test clock)."""
    def __init__(self, per, period_ms, burst, address=None, offset_ms=0):
        self.per, self.period_ms, self.burst, self.offset_ms = per, period_ms, burst, offset_ms
        self.address = address if address is not None else os.urandom(16).hex().encode()


class Park:
    """A long-poll's read: the versions held, how long it would park, its
    place's name, the address's limit, the address and the test clock's
    offset (the last ARGV, as for a rate rule)."""
    def __init__(self, held, park_ms, lease, max_waiters, address=b"", offset_ms=0):
        self.held, self.park_ms, self.lease, self.max_waiters = held, park_ms, lease, max_waiters
        self.address, self.offset_ms = address, offset_ms
        self.per, self.period_ms, self.burst = 0, 0, 0


def rate_key(kind, rate):
    return PREFIX + kind + (rate.address if rate is not None else b"")


def rate_rule(rate):
    if rate is None:
        return [0, 0, 0, 0]
    return [rate.per, rate.period_ms, rate.burst, rate.offset_ms]


def m_key(id_hex):
    return PREFIX + b"m:" + id_hex


def r_key(claim):
    return PREFIX + b"r:" + claim.hex().encode()


def verdict(reply):
    assert isinstance(reply, list) and reply and isinstance(reply[0], int), \
        "not a script reply: %r" % (reply,)
    return reply[0]


def expect(reply, want, what):
    assert verdict(reply) == want, "%s: verdict %r, expected %d" % (what, reply, want)
    if want not in (DONE, REPEATED):
        assert reply == [want], "%s: a refusal is one element, got %r" % (what, reply)
    else:
        assert len(reply) == 17, "%s: DONE/REPEATED has 17 elements, got %r" % (what, reply)
    return reply


# The flat reply's fields, by name.
FIELDS = ("verdict", "party", "remembered", "id", "e", "x", "g", "bound", "pt", "pd", "dt",
          "dd", "di", "t0t", "t0d", "t1t", "t1d")


def fields(reply):
    return dict(zip(FIELDS, reply))


def made(db, rights=R, **kw):
    """A mailbox of the Sender's (as test_access.c's create()): its id."""
    id_hex = new_id()
    expect(db.create(id_hex, rights=rights, **kw), DONE, "create")
    return id_hex


# ------------------------------------------- the cases of test_access.c

def test_create_and_its_retry():
    with Redis() as db:
        first = new_id()
        a = fields(expect(db.create(first, rid=b"r1", remembered=7), DONE, "create"))
        assert a["remembered"] == 7 and a["party"] == 0 and a["id"] == first, a
        # The same request again (the relay drew a new id), its body refused
        # this time: a retry, before the body counts, with the first flag.
        again = new_id()
        a = fields(expect(db.create(again, rid=b"r1", body_ok=0, remembered=9), REPEATED,
                          "retry"))
        assert a["remembered"] == 7 and a["id"] == first, a
        assert db.db.call("ZCARD", PREFIX + b"all") == 1
        assert db.db.call("EXISTS", m_key(again)) == 0
        # Another request id, body refused: nothing made.
        expect(db.create(new_id(), rid=b"r2", body_ok=0), BAD_BODY, "other rid, bad body")
        assert db.db.call("ZCARD", PREFIX + b"all") == 1
        # A retry whose mailbox is gone (expired by now) is no retry.
        later = NOW() + 61
        expect(db.create(new_id(), rid=b"r1", body_ok=0, now=later, expires_at=later + 60),
               BAD_BODY, "retry of an expired mailbox")
        # Without a rid the claim's record is forgotten.
        expect(db.create(new_id()), DONE, "create without rid")
        assert db.db.call("EXISTS", r_key(SENDER)) == 0
        expect(db.create(new_id(), rid=b"r1", body_ok=0), BAD_BODY, "retry after the record went")


def test_create_refused_when_full():
    with Redis() as db:
        taken = made(db, max_mailboxes=1)
        # The id is taken: EXISTS, before FULL.
        expect(db.create(taken, max_mailboxes=1), EXISTS, "same id")
        expect(db.create(new_id(), max_mailboxes=1), FULL, "second of one")
        expect(db.create(new_id(), max_mailboxes=0), DONE, "0: no limit")
        # Expired by now, not yet by Redis: pruned at the next create.
        later = NOW() + 61
        expect(db.create(new_id(), max_mailboxes=1, now=later, expires_at=later + 60), DONE,
               "room once the others expired")


def test_read_binds_one_receiver():
    with Redis() as db:
        id_hex = made(db, rights=R)
        expect(db.read(new_id(), RECEIVER), NOT_FOUND, "unknown id")
        a = fields(expect(db.read(id_hex, SENDER), DONE, "Sender reads"))
        assert a["party"] == 0 and a["bound"] == 0, a
        # A stranger whose body is refused: nothing bound.
        expect(db.read(id_hex, RECEIVER, body_ok=0), BAD_BODY, "new claim, bad body")
        assert db.field(id_hex, "r") is None
        # The first new claim binds, with its token; the next is refused
        # whatever its body.
        a = fields(expect(db.read(id_hex, RECEIVER, tt=b"fcm", td=b"r"), DONE, "binds"))
        assert a["party"] == 1 and a["bound"] == 1, a
        assert (a["t1t"], a["t1d"]) == (b"fcm", b"r"), a
        assert (a["t0t"], a["t0d"]) == (b"apns", b"tok"), a
        assert db.field(id_hex, "r") == RECEIVER
        expect(db.read(id_hex, STRANGER, body_ok=0), UNAUTHORIZED, "a second new claim")
        expect(db.read(id_hex, STRANGER), UNAUTHORIZED, "a second new claim, good body")
        a = fields(expect(db.read(id_hex, RECEIVER), DONE, "bound Receiver again"))
        assert a["party"] == 1
        # The Sender's token through a read goes to the Sender's slot.
        a = fields(expect(db.read(id_hex, SENDER, tt=b"apns", td=b"new"), DONE, "Sender token"))
        assert (a["t0d"], a["t1d"]) == (b"new", b"r"), a


def test_read_without_r_binds_nobody():
    with Redis() as db:
        id_hex = made(db, rights=W | D)
        expect(db.read(id_hex, RECEIVER), UNAUTHORIZED, "no R")
        assert db.field(id_hex, "r") is None
        expect(db.read(id_hex, RECEIVER, body_ok=0), UNAUTHORIZED, "no R: 401 before the body")


def test_update_checks_in_order():
    with Redis() as db:
        id_hex = made(db, rights=R)
        etag = db.field(id_hex, "e")
        assert etag == 1
        expect(db.read(id_hex, RECEIVER), DONE, "Receiver binds")
        # 404 first.
        expect(db.update(new_id(), SENDER, rid=b"u1", if_match=b"7", body_ok=0), NOT_FOUND,
               "unknown id")
        # A Receiver without W: 401 before the precondition and the body.
        expect(db.update(id_hex, RECEIVER, rid=b"u1", if_match=b"7", body_ok=0), UNAUTHORIZED,
               "Receiver without W")
        expect(db.update(id_hex, STRANGER, rid=b"u1"), UNAUTHORIZED, "stranger")
        # The Sender, a stale version and a refused body: 412.
        expect(db.update(id_hex, SENDER, rid=b"u1", if_match=b"%d" % (etag + 1), body_ok=0),
               NOT_MATCHED, "stale If-Match")
        # A list that names nothing (what the relay sends for If-Match it
        # cannot read whole): 412.
        expect(db.update(id_hex, SENDER, rid=b"u1", if_match=b"-"), NOT_MATCHED, "If-Match -")
        # The right version (in a list), the body refused.
        expect(db.update(id_hex, SENDER, rid=b"u1", if_match=b"9 %d" % etag, body_ok=0),
               BAD_BODY, "If-Match holds, bad body")
        assert db.field(id_hex, "e") == etag and db.field(id_hex, "pd") == b"data"
        # Done: a new version, remembered from the Sender's (pushable) token.
        a = fields(expect(db.update(id_hex, SENDER, rid=b"u1", pd=b"new"), DONE, "update"))
        assert a["party"] == 0 and a["remembered"] == 1 and a["e"] == etag + 1, a
        # Stored, and not sent back (no answer to an update shows it).
        assert a["pd"] == b"" and db.field(id_hex, "pd") == b"new"
        # Its retry, with a stale If-Match: the retry comes first.
        a = fields(expect(db.update(id_hex, SENDER, rid=b"u1", if_match=b"%d" % etag,
                                    pd=b"again", body_ok=0), REPEATED, "retry"))
        assert a["remembered"] == 1 and a["e"] == etag + 1 and a["pd"] == b"", a
        assert db.field(id_hex, "pd") == b"new"
        # '*' matches any version; a token type that is not pushable.
        a = fields(expect(db.update(id_hex, SENDER, rid=b"u2", if_match=b"*", tt=b"mail",
                                    td=b"x"), DONE, "If-Match *"))
        assert a["remembered"] == 0 and a["e"] == etag + 2 and a["t0t"] == b"mail", a
        # The same rid on another mailbox is no retry.
        other = made(db)
        a = fields(expect(db.update(other, SENDER, rid=b"u2"), DONE, "same rid elsewhere"))
        assert a["id"] == other and a["e"] == 2, a
        # Expired by now: 404, before the retry.
        expect(db.update(other, SENDER, rid=b"u2", now=NOW() + 61), NOT_FOUND, "expired")


def test_update_by_receiver_with_w():
    with Redis() as db:
        id_hex = made(db, rights=R | W)
        expect(db.read(id_hex, RECEIVER, tt=b"fcm", td=b"r"), DONE, "Receiver binds")
        # The writer's token it left is what is remembered.
        a = fields(expect(db.update(id_hex, RECEIVER, rid=b"w", push_types=b"fcm"), DONE,
                          "Receiver updates"))
        assert a["party"] == 1 and a["remembered"] == 1 and a["e"] == 2, a
        a = fields(expect(db.update(id_hex, RECEIVER, tt=b"web", td=b"w2", push_types=b"fcm"),
                          DONE, "with a new token"))
        assert a["remembered"] == 0 and (a["t1t"], a["t1d"]) == (b"web", b"w2"), a
        assert db.db.call("EXISTS", r_key(RECEIVER)) == 0, "no rid: the record is forgotten"


def test_delete_answers_before_the_mailbox_goes():
    with Redis() as db:
        id_hex = made(db, rights=R)
        expect(db.read(id_hex, RECEIVER), DONE, "Receiver binds")
        expect(db.delete(id_hex, RECEIVER), UNAUTHORIZED, "Receiver without D")
        expect(db.delete(id_hex, STRANGER), UNAUTHORIZED, "stranger")
        assert db.db.call("EXISTS", m_key(id_hex)) == 1
        a = fields(expect(db.delete(id_hex, SENDER), DONE, "Sender deletes"))
        assert a["party"] == 0 and a["pt"] == b"t" and a["pd"] == b"" and a["bound"] == 1 and \
            a["id"] == id_hex, a
        assert db.db.call("EXISTS", m_key(id_hex)) == 0
        assert db.db.call("ZSCORE", PREFIX + b"all", id_hex) is None
        expect(db.read(id_hex, SENDER), NOT_FOUND, "read after delete")
        expect(db.delete(id_hex, SENDER), NOT_FOUND, "delete again")
        # A Receiver with D may delete.
        id_hex = made(db, rights=R | D)
        expect(db.read(id_hex, RECEIVER), DONE, "Receiver binds")
        a = fields(expect(db.delete(id_hex, RECEIVER), DONE, "Receiver with D"))
        assert a["party"] == 1, a


def test_relinquish():
    with Redis() as db:
        id_hex = made(db, rights=R)
        expect(db.read(id_hex, RECEIVER, tt=b"fcm", td=b"r"), DONE, "Receiver binds")
        expect(db.relinquish(id_hex, SENDER, rid=b"q"), UNAUTHORIZED, "Sender")
        a = fields(expect(db.relinquish(id_hex, RECEIVER, rid=b"q"), DONE, "Receiver"))
        assert a["party"] == 1 and a["bound"] == 0 and a["t1t"] == b"" and a["t1d"] == b"", a
        assert db.field(id_hex, "r") is None
        expect(db.relinquish(id_hex, RECEIVER, rid=b"q"), REPEATED, "retry")
        expect(db.relinquish(id_hex, RECEIVER, rid=b"other"), UNAUTHORIZED, "another rid")
        expect(db.relinquish(new_id(), RECEIVER, rid=b"q"), NOT_FOUND, "unknown id")
        expect(db.relinquish(id_hex, RECEIVER, rid=b"q", now=NOW() + 61), NOT_FOUND, "expired")
        # One relinquish record per mailbox: the next Receiver's replaces it.
        expect(db.read(id_hex, STRANGER), DONE, "a new Receiver binds")
        expect(db.relinquish(id_hex, STRANGER, rid=b"s"), DONE, "it relinquishes")
        assert db.db.call("EXISTS", r_key(RECEIVER)) == 0, "the first record is gone"
        assert db.db.call("EXISTS", r_key(STRANGER)) == 1
        expect(db.relinquish(id_hex, RECEIVER, rid=b"q"), UNAUTHORIZED, "its retry is no retry")
        # Without a rid the claim's record is forgotten.
        expect(db.read(id_hex, STRANGER), DONE, "binds again")
        expect(db.relinquish(id_hex, STRANGER), DONE, "relinquish without rid")
        assert db.db.call("EXISTS", r_key(STRANGER)) == 0


def test_preview():
    with Redis() as db:
        now = NOW()
        id_hex = made(db, now=now, dt=b"title")
        a = fields(expect(db.preview(id_hex, now=now), DONE, "found"))
        assert a["id"] == id_hex and a["dt"] == b"title" and a["party"] == 0, a
        expect(db.preview(new_id(), now=now), NOT_FOUND, "unknown")
        # Expired is gone, even before Redis expires the key.
        expect(db.preview(id_hex, now=now + 61), NOT_FOUND, "expired")
        expect(db.preview(id_hex, now=now + 60), NOT_FOUND, "now == expires_at")
        expect(db.preview(id_hex, now=now + 59), DONE, "a second before")
        assert db.db.call("EXISTS", m_key(id_hex)) == 1


# ------------------------------------------------------ what only Redis has

def test_binary_payload_and_claims_round_trip():
    with Redis() as db:
        every = bytes(range(256))
        id_hex = new_id()
        a = fields(expect(db.create(id_hex, claim=ODD_CLAIM, pd=every, dt=every[::-1],
                                    t0d=every), DONE, "create"))
        assert a["pd"] == b"" and a["dt"] == every[::-1] and a["t0d"] == every, a
        a = fields(expect(db.read(id_hex, ODD_CLAIM), DONE, "binary claim reads"))
        assert a["party"] == 0 and a["pd"] == every, a
        assert db.field(id_hex, "s") == ODD_CLAIM
        expect(db.read(id_hex, ODD_OTHER), DONE, "a claim one bit away binds")
        assert db.field(id_hex, "r") == ODD_OTHER
        expect(db.update(id_hex, ODD_CLAIM, pd=every * 3 + b"\x00"), DONE, "update")
        assert fields(db.preview(id_hex))["pd"] == every * 3 + b"\x00"
        assert db.field(id_hex, "pd") == every * 3 + b"\x00"


def test_keys_expire_with_their_mailbox():
    with Redis() as db:
        now = NOW()
        x = now + 3600
        id_hex = made(db, now=now, expires_at=x, rid=b"c", max_owner_bytes=10 ** 6, nbytes=100,
                      owner=b"aa" * 16)
        for key in (m_key(id_hex), r_key(SENDER), PREFIX + b"o:" + b"aa" * 16,
                    PREFIX + b"oe:" + b"aa" * 16):
            assert db.db.call("PTTL", key) > 0, "%r has no expiry" % key
            assert db.db.call("PEXPIRETIME", key) == x * 1000, key
        # The records of update and relinquish too.
        expect(db.read(id_hex, RECEIVER), DONE, "binds")
        expect(db.update(id_hex, SENDER, rid=b"u"), DONE, "update")
        expect(db.relinquish(id_hex, RECEIVER, rid=b"q"), DONE, "relinquish")
        for key in (r_key(SENDER), r_key(RECEIVER)):
            assert db.db.call("PEXPIRETIME", key) == x * 1000, key
        # Writes keep the mailbox's expiry.
        assert db.db.call("PEXPIRETIME", m_key(id_hex)) == x * 1000


def test_a_mailbox_is_one_packed_string():
    """The encoding of docs/redis-store.md: one string key per mailbox, a
    MessagePack map whose numbers are integers (Lua's are doubles), whose
    absent fields are absent; and the claim's record the same way."""
    with Redis() as db:
        now = NOW()
        x = 4102444800          # 2100-01-01: seconds and ms beyond 2^32, exact
        id_hex = new_id()
        expect(db.create(id_hex, now=now, expires_at=x, rid=b"c", rights=R | W, pt=b"T",
                         pd=b"P" * 1024, dt=b"ti", dd=b"de", di=b"https://i", remembered=1),
               DONE, "create")
        key = m_key(id_hex)
        assert db.db.call("TYPE", key) == b"string"
        assert db.db.call("PEXPIRETIME", key) == x * 1000
        want = {"s": SENDER, "g": R | W, "e": 1, "x": x, "pt": b"T", "pd": b"P" * 1024,
                "dt": b"ti", "dd": b"de", "di": b"https://i", "t0t": b"apns", "t0d": b"tok",
                "o": b"", "n": 0}
        m = db.stored(key)
        assert m == want, "stored %r, expected %r" % (m, want)
        assert all(type(m[k]) is int for k in ("g", "e", "x", "n")), m
        assert db.stored(r_key(SENDER)) == {"op": 1, "id": id_hex, "res": 1, "rid": b"c"}

        # Bound, with the Receiver's token; updated by it (a record of its own).
        expect(db.read(id_hex, RECEIVER, tt=b"fcm", td=b"r"), DONE, "binds")
        expect(db.update(id_hex, RECEIVER, rid=b"u", pt=b"T2", pd=b"new"), DONE, "update")
        want.update(r=RECEIVER, t1t=b"fcm", t1d=b"r", e=2, pt=b"T2", pd=b"new")
        assert db.stored(key) == want, db.stored(key)
        assert db.stored(r_key(RECEIVER)) == {"op": 2, "id": id_hex, "res": 1, "rid": b"u"}
        # Relinquished: the Receiver and its token are gone, not left empty.
        expect(db.relinquish(id_hex, RECEIVER, rid=b"q"), DONE, "relinquish")
        for k in ("r", "t1t", "t1d"):
            del want[k]
        want["q"] = RECEIVER.hex().encode()
        assert db.stored(key) == want, db.stored(key)
        assert db.stored(r_key(RECEIVER)) == {"op": 3, "id": id_hex, "res": 0, "rid": b"q"}
        # Every write kept the mailbox's expiry; nothing else was made.
        assert db.db.call("PEXPIRETIME", key) == x * 1000
        assert sorted(db.db.call("KEYS", "*")) == sorted(
            [key, r_key(SENDER), r_key(RECEIVER), PREFIX + b"all"])


def published(sub, what):
    """The next message on a subscribed connection. The script published
    before its reply came back, so it is on its way already."""
    sub.sock.settimeout(PUBLISH_TIMEOUT_S)
    try:
        return sub.reply()
    except socket.timeout:
        raise AssertionError("no message within %.0f s %s" % (PUBLISH_TIMEOUT_S, what)) from None


def test_update_and_delete_publish():
    with Redis() as db:
        id_hex = made(db)
        channel = PREFIX + b"w:" + id_hex
        sub = db.connect()
        sub.send("SUBSCRIBE", channel)
        assert sub.reply() == [b"subscribe", channel, 1]
        expect(db.update(id_hex, SENDER), DONE, "update")
        assert published(sub, "after the update") == [b"message", channel, b"2"]
        expect(db.update(id_hex, SENDER, body_ok=0), BAD_BODY, "refused: nothing published")
        expect(db.delete(id_hex, STRANGER), UNAUTHORIZED, "refused delete")
        expect(db.delete(id_hex, SENDER), DONE, "delete")
        assert published(sub, "after the delete") == [b"message", channel, b"gone"], \
            "only the update and the delete publish"


def test_owner_byte_limit():
    with Redis() as db:
        a, b = b"aa" * 16, b"bb" * 16
        kw = dict(max_owner_bytes=1000, nbytes=600)
        first = made(db, owner=a, **kw)
        assert db.field(first, "o") == a and db.field(first, "n") == 600
        expect(db.create(new_id(), owner=a, **kw), OWNER_FULL, "over the owner's bytes")
        expect(db.create(new_id(), owner=a, max_owner_bytes=1000, nbytes=400), DONE,
               "exactly up to the limit")
        expect(db.create(new_id(), owner=b, **kw), DONE, "another owner")
        expect(db.create(new_id(), owner=a, **kw, max_mailboxes=3), FULL, "FULL before OWNER_FULL")
        # A deleted mailbox gives its bytes back (at the owner's next create).
        expect(db.delete(first, SENDER), DONE, "delete")
        second = made(db, owner=a, **kw)
        assert db.db.call("HGET", PREFIX + b"o:" + a, first) is None
        # An expired one too.
        later = NOW() + 61
        expect(db.create(new_id(), owner=a, now=later, expires_at=later + 60, **kw), DONE,
               "after the owner's mailboxes expired")
        assert db.db.call("HGET", PREFIX + b"o:" + a, second) is None
        # Without a limit nothing is counted.
        free = made(db, owner=b"cc" * 16, nbytes=600)
        assert db.field(free, "o") == b"" and db.field(free, "n") == 0
        assert db.db.call("EXISTS", PREFIX + b"o:" + b"cc" * 16) == 0


def test_updates_and_tokens_count_against_the_owner():
    with Redis() as db:
        a = b"aa" * 16
        kw = dict(owner=a, max_owner_bytes=300)
        # pt "t", pd, and the Sender's token "apns" "tok": 8 bytes and pd's.
        id_hex = made(db, pd=b"x" * 100, nbytes=108, rights=R | W, **kw)
        other = made(db, pd=b"", nbytes=8, **kw)
        expect(db.update(id_hex, SENDER, pd=b"y" * 250, max_owner_bytes=300), DONE,
               "growing to 258 of 300 (with the other's 8)")
        assert db.field(id_hex, "n") == 258
        expect(db.update(id_hex, SENDER, pd=b"z" * 286, max_owner_bytes=300), OWNER_FULL,
               "growing past the owner's 300")
        assert db.field(id_hex, "e") == 2 and len(db.field(id_hex, "pd")) == 250
        # A Receiver's token grows it too: refused, and nobody is bound.
        expect(db.read(id_hex, RECEIVER, tt=b"fcm", td=b"r" * 40, max_owner_bytes=300),
               OWNER_FULL, "a token past the owner's bytes")
        assert db.field(id_hex, "r") is None
        # Shrinking gives back; then the token fits.
        expect(db.update(id_hex, SENDER, pd=b"s", max_owner_bytes=300), DONE, "shrink")
        assert db.field(id_hex, "n") == 9
        expect(db.read(id_hex, RECEIVER, tt=b"fcm", td=b"r" * 40, max_owner_bytes=300), DONE,
               "the token now fits")
        assert db.field(id_hex, "n") == 52
        assert db.db.call("HGET", PREFIX + b"o:" + a, id_hex) == b"52"
        assert db.db.call("HGET", PREFIX + b"o:" + a, other) == b"8"


def test_done_reply_layout():
    with Redis() as db:
        now = NOW()
        id_hex = new_id()
        reply = db.create(id_hex, now=now, expires_at=now + 60, rights=R | D, pt=b"T", pd=b"P",
                          dt=b"ti", dd=b"de", di=b"https://i", t0t=b"apns", t0d=b"tok",
                          remembered=1)
        # A create's answer shows no payload: its bytes are not sent back.
        want = [DONE, 0, 1, id_hex, 1, now + 60, R | D, 0, b"T", b"", b"ti", b"de",
                b"https://i", b"apns", b"tok", b"", b""]
        assert reply == want, "create: %r, expected %r" % (reply, want)
        assert [type(v) for v in reply] == [type(v) for v in want], reply
        reply = db.read(id_hex, RECEIVER, tt=b"fcm", td=b"r")
        want = [DONE, 1, 0, id_hex, 1, now + 60, R | D, 1, b"T", b"P", b"ti", b"de",
                b"https://i", b"apns", b"tok", b"fcm", b"r"]
        assert reply == want, "read: %r, expected %r" % (reply, want)
        # No token: an empty type (and data); no display: empty strings.
        other = new_id()
        reply = db.create(other, now=now, t0t=b"", t0d=b"", remembered=0)
        assert reply[12:] == [b"", b"", b"", b"", b""] and reply[10:12] == [b"", b""], reply


def test_drop_token():
    with Redis() as db:
        id_hex = made(db)
        expect(db.read(id_hex, RECEIVER, tt=b"fcm", td=b"r"), DONE, "binds")
        a = fields(expect(db.drop_token(id_hex, 1, b"fcm", b"other"), DONE, "not this token"))
        assert a["t1t"] == b"fcm", a
        a = fields(expect(db.drop_token(id_hex, 0, b"fcm", b"r"), DONE, "not this party"))
        assert a["t1t"] == b"fcm" and a["t0t"] == b"apns", a
        a = fields(expect(db.drop_token(id_hex, 1, b"fcm", b"r"), DONE, "this one"))
        assert (a["t1t"], a["t1d"], a["t0t"], a["bound"]) == (b"", b"", b"apns", 1), a
        expect(db.drop_token(new_id(), 0, b"apns", b"tok"), NOT_FOUND, "unknown")
        expect(db.drop_token(id_hex, 0, b"apns", b"tok", now=NOW() + 61), NOT_FOUND, "expired")
        assert db.field(id_hex, "t0t") == b"apns"


# ------------------------------------------------------ the rate limits

def limited(reply, what):
    """A RATE_LIMITED reply: the seconds until a token."""
    assert isinstance(reply, list) and len(reply) == 2 and reply[0] == RATE_LIMITED, \
        "%s: expected {%d, seconds}, got %r" % (what, RATE_LIMITED, reply)
    return reply[1]


def test_creates_spend_their_bucket_whatever_comes_of_them():
    with Redis() as db:
        rate = Rate(30, 60000, 3)       # a token every 2 s, 3 saved up
        expect(db.create(new_id(), body_ok=0, rate=rate), BAD_BODY, "a refused body")
        expect(db.create(new_id(), max_mailboxes=1, rate=rate), DONE, "create")
        expect(db.create(new_id(), max_mailboxes=1, rate=rate), FULL, "full")
        assert limited(db.create(new_id(), rate=rate), "4th create") == 2
        # Another address has its own bucket; no rule, no bucket.
        other = Rate(30, 60000, 3)
        expect(db.create(new_id(), rate=other), DONE, "another address")
        expect(db.create(new_id()), DONE, "no rate limit")
        buckets = sorted(db.db.call("KEYS", PREFIX + b"l*"))
        assert buckets == sorted(PREFIX + b"lc:" + r.address for r in (rate, other)), buckets


def test_a_bucket_refills_on_the_relays_test_clock():
    with Redis() as db:
        rate = Rate(30, 60000, 1)
        expect(db.create(new_id(), rate=rate), DONE, "the burst of 1")
        wait = limited(db.create(new_id(), rate=rate), "past the burst")
        assert wait == 2, wait
        # The relay's clock moved ahead by Retry-After: the token is there,
        # one only.
        rate.offset_ms = wait * 1000
        expect(db.create(new_id(), rate=rate), DONE, "after Retry-After")
        assert limited(db.create(new_id(), rate=rate), "the next one") >= 1
        # Idle past the time to fill up: full again, and no more than full.
        rate.offset_ms += 60000
        expect(db.create(new_id(), rate=rate), DONE, "after a long idle")
        limited(db.create(new_id(), rate=rate), "a burst of 1, not more")


def test_failed_claims_spend_and_a_spent_address_is_not_checked():
    with Redis() as db:
        id_hex = made(db, rights=R | W | D)
        expect(db.read(id_hex, RECEIVER), DONE, "the Receiver binds")
        rate = Rate(3, 60000, 3)        # a token every 20 s
        for i in range(5):
            expect(db.read(id_hex, SENDER, rate=rate), DONE, "right claims cost nothing")
        expect(db.read(id_hex, STRANGER, rate=rate), UNAUTHORIZED, "wrong read")
        expect(db.update(id_hex, STRANGER, rate=rate), UNAUTHORIZED, "wrong update")
        expect(db.delete(id_hex, STRANGER, rate=rate), UNAUTHORIZED, "wrong delete")
        for what, reply in (("read", db.read(id_hex, SENDER, rate=rate)),
                            ("unknown mailbox", db.read(new_id(), SENDER, rate=rate)),
                            ("update", db.update(id_hex, SENDER, rate=rate)),
                            ("delete", db.delete(id_hex, SENDER, rate=rate)),
                            ("relinquish", db.relinquish(id_hex, RECEIVER, rate=rate))):
            assert limited(reply, what) == 20, (what, reply)
        # Nothing was done: the mailbox is as it was, its Receiver bound.
        assert db.field(id_hex, "e") == 1 and db.field(id_hex, "r") == RECEIVER
        # Another address is checked.
        expect(db.relinquish(id_hex, STRANGER, rate=Rate(3, 60000, 3)), UNAUTHORIZED,
               "a wrong relinquish from elsewhere")


def test_the_relays_own_failures_spend_the_same_bucket():
    with Redis() as db:
        id_hex = made(db)
        rate = Rate(3, 60000, 2)
        assert db.rate(rate) == [0] and db.rate(rate) == [0]
        limited(db.read(id_hex, SENDER, rate=rate), "after two malformed claims")
        # Spent past empty: still one token away, not more.
        assert db.rate(rate) == [0]
        assert limited(db.read(id_hex, SENDER, rate=rate), "still") == 20


def test_a_bucket_is_forgotten_once_it_would_be_full():
    with Redis() as db:
        rate = Rate(3, 60000, 2)        # full 40 s after empty
        db.rate(rate)
        key = PREFIX + b"lf:" + rate.address
        ttl = db.db.call("PTTL", key)
        assert 39000 < ttl <= 40000, ttl
        expect(db.read(made(db), SENDER, rate=Rate(0, 60000, 2, address=rate.address)), DONE,
               "no rule")
        assert db.db.call("HGET", key, "t") == b"1000", db.db.call("HGETALL", key)


# ------------------------------------------- long-polls per address

def test_a_long_poll_that_will_park_takes_a_place_of_its_address():
    with Redis() as db:
        id_hex = made(db)
        expect(db.read(id_hex, RECEIVER), DONE, "the Receiver binds")
        addr = os.urandom(16).hex().encode()
        key = PREFIX + b"lw:" + addr

        def park(lease, held=b"1", limit=2, **kw):
            return Park(held, 30000, lease, limit, address=addr, **kw)

        reply, taken = db.read(id_hex, RECEIVER, park=park(b"relay-a:1"))
        assert reply[0] == DONE and taken == 1, reply
        # One that does not hold the version is answered, and takes none;
        # nor does one with no limit, or none held.
        for p in (park(b"x:1", held=b"2 3"), park(b"x:2", limit=0), park(b"x:3", held=b"-")):
            reply, taken = db.read(id_hex, RECEIVER, park=p)
            assert reply[0] == DONE and taken == 0, (p.held, reply)
        reply, taken = db.read(id_hex, SENDER, park=park(b"relay-b:1", held=b"*"))
        assert reply[0] == DONE and taken == 1, reply
        # The limit of 2, for every relay: the third is refused, after its
        # read was done (a token given is kept, as the memory store does).
        reply, taken = db.read(id_hex, RECEIVER, tt=b"fcm", td=b"late", park=park(b"relay-a:2"))
        assert reply == [WAITERS_FULL] and taken is None, reply
        assert db.field(id_hex, "t1d") == b"late"
        assert sorted(db.db.call("ZRANGE", key, 0, -1)) == [b"relay-a:1", b"relay-b:1"]
        ttl = db.db.call("PTTL", key)
        assert 30000 < ttl <= 35000, ttl
        # A place given back is taken again.
        assert db.unpark(park(b"relay-a:1")) == [0]
        reply, taken = db.read(id_hex, RECEIVER, park=park(b"relay-a:3"))
        assert taken == 1, reply
        # A relay that stopped gives nothing back: a place lasts the wait
        # and 5 s more, on the relays' clock.
        reply, taken = db.read(id_hex, RECEIVER, park=park(b"relay-a:4", offset_ms=35001))
        assert taken == 1, reply
        assert db.db.call("ZRANGE", key, 0, -1) == [b"relay-a:4"]
