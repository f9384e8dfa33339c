"""Limits per client address (--max-connections-per-address,
--max-waiters-per-address, --max-bytes-per-address): one address cannot take
every connection, long-poll or stored byte, while other addresses are served,
and every way a connection, a long-poll or a mailbox ends gives its count
back.

Other client addresses: Linux routes all of 127.0.0.0/8 to lo, so a client
that binds 127.0.0.2 before connecting is another address to the relay.
"""

import json
import os
import re
import socket
import tempfile

from relaytest import (Conn, Relay, b64, create, default_body, delete,
                       expect_error, expect_json, new_claim, new_mailbox, read, rfc3339,
                       update, update_body, wait_until)

EXPECTED_SECONDS = 6
PARALLEL = True

OTHER = ("127.0.0.2", 0)


def _retry_after(resp, what):
    value = resp.header("Retry-After")
    assert value is not None and re.match(r"^[1-9][0-9]*$", value), \
        "%s: Retry-After %r is not a positive number of seconds: %s" % (what, value, resp)


def _from(relay, source):
    """Make the relay's helpers (create, read, ...) connect from source."""
    relay.client_source = source


# ------------------------------------------------------------- connections

def _refused_at_accept(relay, source=None):
    """Connect over plain TCP: True when the relay closes at once, without a
    byte (a connection it keeps would wait for a TLS hello for 30 s)."""
    with socket.create_connection((relay.host, relay.port), timeout=5,
                                  source_address=source) as s:
        s.settimeout(3)
        try:
            data = s.recv(1)
        except ConnectionResetError:
            return True
        except (socket.timeout, TimeoutError):
            return False
        assert data == b"", "the relay sent %r to a connection it refused" % data
        return True


def _works(conn):
    resp = conn.roundtrip("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                            ("Content-Type", "application/json")],
                          json.dumps(default_body()).encode())
    expect_json(resp, 200, "create on an accepted connection")


def test_connection_beyond_the_per_address_limit_is_closed_at_accept():
    with Relay("--max-connections-per-address", "3", "--handshake-timeout", "30s") as relay:
        held = [Conn(relay) for _ in range(3)]
        try:
            for c in held:
                _works(c)
            assert _refused_at_accept(relay), "a 4th connection from 127.0.0.1 was kept"
            # The three stay open and served; another address is not held back.
            for c in held:
                _works(c)
            with Conn(relay, source=OTHER) as other:
                _works(other)
            # Closing one makes room for exactly one.
            held.pop().close()
            wait_until(lambda: not _refused_at_accept(relay), 5,
                       "a new connection to be kept once one of the three closed")
            held.append(Conn(relay))
            _works(held[-1])
            assert _refused_at_accept(relay), "a 4th connection after one was replaced"
        finally:
            for c in held:
                c.close()


def test_connections_per_address_count_the_socket_peer_behind_a_trusted_proxy():
    # X-Forwarded-For is read per request, long after accept: a proxy's
    # connections are the proxy's.
    with Relay("--max-connections-per-address", "2", "--trust-proxy", "127.0.0.0/8",
               "--handshake-timeout", "30s") as relay:
        held = [Conn(relay) for _ in range(2)]
        try:
            for i, c in enumerate(held):
                resp = c.roundtrip("POST", "/v1/m", [
                    ("Mailbox-Device-Claim", new_claim()), ("Content-Type", "application/json"),
                    ("X-Forwarded-For", "203.0.113.%d" % (i + 1))],
                    json.dumps(default_body()).encode())
                expect_json(resp, 200)
            assert _refused_at_accept(relay), "a 3rd connection from the proxy was kept"
        finally:
            for c in held:
                c.close()


# ---------------------------------------------------------------- long-polls

def _long_poll(relay, mb, claim, etag, wait_s=30, source=None, forwarded=None):
    conn = Conn(relay, timeout_s=wait_s + 10, source=source)
    headers = [("Mailbox-Device-Claim", claim), ("If-None-Match", etag),
               ("Prefer", "wait=%d" % wait_s)]
    if forwarded:
        headers.append(("X-Forwarded-For", forwarded))
    conn.request("POST", mb.path, headers)
    return conn


def _parked(conn, what):
    if conn.data_within(0.5):
        raise AssertionError("%s was answered at once instead of waiting: %s" % (
            what, conn.read_response("POST", timeout_s=2)))


def _refused_poll(conn, what):
    with conn:
        resp = conn.read_response("POST", timeout_s=5)
        expect_error(resp, 503, "too_many_waiters", what)
        _retry_after(resp, what)


def _etag(relay, mb):
    resp = read(relay, mb.id, mb.sender)
    expect_json(resp, 200)
    return resp.header("ETag")


def test_long_polls_beyond_the_per_address_limit_get_503_and_every_end_gives_back():
    with Relay("--max-waiters-per-address", "2") as relay:
        mb = new_mailbox(relay, rights="RW")
        etag = _etag(relay, mb)
        conns = []
        try:
            w1 = _long_poll(relay, mb, mb.sender, etag)
            w2 = _long_poll(relay, mb, mb.sender, etag)
            conns += [w1, w2]
            _parked(w1, "1st long-poll from 127.0.0.1")
            _parked(w2, "2nd long-poll from 127.0.0.1")
            _refused_poll(_long_poll(relay, mb, mb.sender, etag), "3rd long-poll from 127.0.0.1")
            # Another address parks; plain reads from the first are served.
            other = _long_poll(relay, mb, mb.sender, etag, source=OTHER)
            conns.append(other)
            _parked(other, "long-poll from 127.0.0.2 while 127.0.0.1 is at its limit")
            expect_json(read(relay, mb.id, mb.sender), 200, "plain read at the limit")

            # A waiter that hangs up gives its place back.
            w2.close()
            conns.remove(w2)

            def parks():
                c = _long_poll(relay, mb, mb.sender, etag)
                if c.data_within(0.3):
                    _refused_poll(c, "long-poll while the hang-up is noticed")
                    return None
                return c
            w3 = wait_until(parks, 5, "a long-poll to park after a waiter hung up")
            conns.append(w3)
            _refused_poll(_long_poll(relay, mb, mb.sender, etag), "3rd long-poll again")

            # Woken waiters give theirs back.
            expect_json(update(relay, mb.id, mb.sender), 200)
            for c in (w1, w3, other):
                expect_json(c.read_response("POST", timeout_s=5), 200, "woken long-poll")
            etag = _etag(relay, mb)
            # Timed-out ones too: two 1-second polls, a third refused, then
            # room again once both have answered 204.
            short = [_long_poll(relay, mb, mb.sender, etag, wait_s=1) for _ in range(2)]
            conns += short
            _refused_poll(_long_poll(relay, mb, mb.sender, etag), "3rd beside two short polls")
            for c in short:
                resp = c.read_response("POST", timeout_s=5)
                assert resp.status == 204, "short long-poll: expected 204, got %s" % resp
            w4 = _long_poll(relay, mb, mb.sender, etag)
            w5 = _long_poll(relay, mb, mb.sender, etag)
            conns += [w4, w5]
            _parked(w4, "long-poll after the short ones timed out")
            _parked(w5, "2nd long-poll after the short ones timed out")
            # A delete wakes them (404) and leaves nothing counted behind.
            expect_json(delete(relay, mb.id, mb.sender), 200)
            for c in (w4, w5):
                expect_error(c.read_response("POST", timeout_s=5), 404, "not_found",
                             "long-poll woken by a delete")
            mb2 = new_mailbox(relay)
            etag2 = _etag(relay, mb2)
            for i in range(2):
                c = _long_poll(relay, mb2, mb2.sender, etag2)
                conns.append(c)
                _parked(c, "long-poll %d after a delete woke the others" % (i + 1))
        finally:
            for c in conns:
                c.close()


def test_long_polls_per_address_count_the_forwarded_client_behind_a_trusted_proxy():
    with Relay("--max-waiters-per-address", "1", "--trust-proxy", "127.0.0.0/8") as relay:
        mb = new_mailbox(relay)
        etag = _etag(relay, mb)
        conns = []
        try:
            a = _long_poll(relay, mb, mb.sender, etag, forwarded="203.0.113.5")
            conns.append(a)
            _parked(a, "long-poll for 203.0.113.5")
            _refused_poll(_long_poll(relay, mb, mb.sender, etag, forwarded="203.0.113.5"),
                          "2nd long-poll for 203.0.113.5")
            for client in ("198.51.100.7", "2001:db8:1:2::1"):
                b = _long_poll(relay, mb, mb.sender, etag, forwarded=client)
                conns.append(b)
                _parked(b, "long-poll for %s through the same proxy" % client)
            # IPv6 counts by its /64.
            _refused_poll(_long_poll(relay, mb, mb.sender, etag, forwarded="2001:db8:1:2::ff"),
                          "long-poll for another address of the same /64")
        finally:
            for c in conns:
                c.close()


# --------------------------------------------------------------- bytes stored

PAYLOAD_BYTES = 20000       # three such mailboxes fit in 64k, four do not


def _big_body(n=PAYLOAD_BYTES):
    body = default_body()
    body["payload"]["data"] = b64(os.urandom(n))
    return body


def _big_update(n=PAYLOAD_BYTES):
    body = update_body()
    body["payload"]["data"] = b64(os.urandom(n))
    return body


def _store_full(resp, what):
    expect_error(resp, 503, "store_full", what)
    _retry_after(resp, what)


def test_bytes_beyond_the_per_address_limit_get_503_and_a_delete_gives_them_back():
    with Relay("--max-bytes-per-address", "64k", "--max-body", "64k") as relay:
        mine = [new_mailbox(relay, body=_big_body(), rights="RW") for _ in range(3)]
        _store_full(create(relay, body=_big_body()), "4th mailbox of 20 kB from 127.0.0.1")
        # Small mailboxes still fit in what is left; another address is not held back.
        small = new_mailbox(relay)
        _from(relay, OTHER)
        theirs = [new_mailbox(relay, body=_big_body()) for _ in range(3)]
        _store_full(create(relay, body=_big_body()), "4th mailbox of 20 kB from 127.0.0.2")
        _from(relay, None)
        # Growing a mailbox past the share is refused and leaves it as it was.
        before = read(relay, mine[0].id, mine[0].sender).json()
        _store_full(update(relay, mine[0].id, mine[0].sender, _big_update(40000)),
                    "update that doubles a mailbox beyond the address's share")
        assert read(relay, mine[0].id, mine[0].sender).json() == before, \
            "a refused update changed the mailbox"
        # The bytes are the creator's whoever writes: the Receiver (another
        # address) cannot grow them past the creator's share either...
        receiver = new_claim()
        _from(relay, OTHER)
        expect_json(read(relay, mine[1].id, receiver), 200, "the Receiver binds")
        _store_full(update(relay, mine[1].id, receiver, _big_update(40000)),
                    "the Receiver's update beyond the creator's share")
        # ...while a shrinking update by it gives bytes back to the creator.
        expect_json(update(relay, mine[1].id, receiver, _big_update(100)), 200,
                    "the Receiver shrinks the mailbox")
        _from(relay, None)
        expect_json(create(relay, body=_big_body(15000)), 200,
                    "create in the room the Receiver's update gave back")
        _store_full(create(relay, body=_big_body()), "full again")
        # A delete gives its mailbox's bytes back.
        expect_json(delete(relay, mine[2].id, mine[2].sender), 200)
        expect_json(create(relay, body=_big_body()), 200, "create after a delete")
        _store_full(create(relay, body=_big_body()), "full once more")
        del theirs, small


def test_bytes_per_address_expire_with_their_mailboxes():
    with Relay("--max-bytes-per-address", "48k", "--max-body", "64k", test_clock=0) as relay:
        exp = int(relay.clock()) + 600
        for _ in range(2):
            new_mailbox(relay, body=_big_body(), expiration=rfc3339(exp))
        _store_full(create(relay, body=_big_body()), "3rd mailbox of 20 kB in 48k")
        # The relay's clock, not a sleep, moves past their expiry.
        relay.advance_clock_to(exp - 1)
        _store_full(create(relay, body=_big_body()), "3rd mailbox a second before the two expire")
        relay.advance_clock_to(exp)
        expect_json(create(relay, body=_big_body()), 200,
                    "a create once the first two mailboxes expired")


def test_bytes_per_address_count_the_forwarded_client_behind_a_trusted_proxy():
    with Relay("--max-bytes-per-address", "32k", "--max-body", "64k",
               "--trust-proxy", "127.0.0.0/8") as relay:
        def create_for(client):
            return create(relay, body=_big_body(), headers=[("X-Forwarded-For", client)])
        expect_json(create_for("203.0.113.5"), 200, "1st create for 203.0.113.5")
        _store_full(create_for("203.0.113.5"), "2nd create for 203.0.113.5")
        expect_json(create_for("198.51.100.7"), 200, "create for another client, same proxy")
        expect_json(create(relay, body=_big_body()), 200, "create for the proxy itself")


def test_mailboxes_restored_from_the_state_file_count_against_nobody():
    # Addresses are never written to disk, so after a restart the mailboxes
    # belong to nobody: they still count in --max-memory, not in a share.
    with tempfile.TemporaryDirectory() as tmp:
        args = ("--max-bytes-per-address", "48k", "--max-body", "64k",
                "--state-file", os.path.join(tmp, "state"))
        with Relay(*args) as relay:
            kept = [new_mailbox(relay, body=_big_body()) for _ in range(2)]
            _store_full(create(relay, body=_big_body()), "3rd mailbox of 20 kB in 48k")
        with Relay(*args) as relay:
            for mb in kept:
                expect_json(read(relay, mb.id, mb.sender), 200, "a restored mailbox")
            for i in range(2):
                expect_json(create(relay, body=_big_body()), 200,
                            "create %d after the restart" % (i + 1))
            _store_full(create(relay, body=_big_body()), "full again with new mailboxes")
            # Deleting a restored mailbox gives nobody anything back.
            expect_json(delete(relay, kept[0].id, kept[0].sender), 200)
            _store_full(create(relay, body=_big_body()), "after deleting a restored mailbox")
