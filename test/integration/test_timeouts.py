"""Slow clients (spec §4.7, §10): a request head not complete within 10 s, or
a body not complete within 30 s, gets 408 and a close. The module's relay runs
with RELAY_TEST_SPEEDUP, so those are 2 s and 6 s here. Then the options
--idle-timeout, --body-timeout and --handshake-timeout, each on a relay of
its own at real speed (2 s each). The tests run in parallel, so the module
costs about 7 s of wall time."""

import json
import socket
import ssl
import time

from relaytest import (Conn, ConnectionClosed, Relay, assert_closed, build_request, default_body,
                       expect_error, expect_json, expect_status, new_claim, new_mailbox, read)

EXPECTED_SECONDS = 8
PARALLEL = True
RELAY_ARGS = []
SPEEDUP = 5
RELAY_KWARGS = {"speedup": SPEEDUP}

# The defaults (spec §4.7), as the sped-up relay applies them.
HEAD_TIMEOUT_S = 10 / SPEEDUP
BODY_TIMEOUT_S = 30 / SPEEDUP
# Not early by more than a tenth; late by at most a second (a loaded machine).
EARLY_S = 0.1 * HEAD_TIMEOUT_S
LATE_S = 1.0


def _await_408(conn, started, limit_s, what, feed=None):
    """Wait for the 408, optionally feeding bytes while waiting; returns the
    elapsed seconds."""
    deadline = started + limit_s + 5
    while not conn.data_within(1.0 / SPEEDUP):
        if time.monotonic() > deadline:
            raise AssertionError("%s: no answer %.0f s after the start (expected 408 after %g s)"
                                 % (what, time.monotonic() - started, limit_s))
        if feed:
            try:
                feed()
            except OSError:
                break
    try:
        resp = conn.read_response("POST", timeout_s=3)
    except ConnectionClosed:
        raise AssertionError("%s: connection closed after %.1f s without a 408"
                             % (what, time.monotonic() - started))
    elapsed = time.monotonic() - started
    expect_error(resp, 408, "request_timeout", what)
    assert_closed(conn, "408")
    return elapsed


def test_partial_head_gets_408_after_10s(relay):
    with Conn(relay, timeout_s=20) as c:
        started = time.monotonic()
        c.send(b"POST /v1/m HTTP/1.1\r\nHost: localhost\r\nMailbox-Device-Claim: ")
        elapsed = _await_408(c, started, HEAD_TIMEOUT_S, "partial request head")
    assert HEAD_TIMEOUT_S - EARLY_S <= elapsed <= HEAD_TIMEOUT_S + LATE_S, \
        "408 for a partial head after %.1f s, expected about %g s" % (elapsed, HEAD_TIMEOUT_S)


def test_trickled_head_still_gets_408_after_10s(relay):
    with Conn(relay, timeout_s=20) as c:
        started = time.monotonic()
        c.send(b"POST /v1/m HTTP/1.1\r\n")
        count = [0]

        def feed():
            count[0] += 1
            c.send(b"X-Slow-%d: x\r\n" % count[0])
        elapsed = _await_408(c, started, HEAD_TIMEOUT_S, "head sent a header every %g s" % (1.0 / SPEEDUP), feed)
    assert HEAD_TIMEOUT_S - EARLY_S <= elapsed <= HEAD_TIMEOUT_S + LATE_S, \
        "408 for a trickled head after %.1f s, expected about %g s" % (elapsed, HEAD_TIMEOUT_S)


def test_partial_body_gets_408_after_30s(relay):
    with Conn(relay, timeout_s=40) as c:
        started = time.monotonic()
        c.send(b"POST /v1/m HTTP/1.1\r\nHost: localhost\r\nMailbox-Device-Claim: %s\r\n"
               b"Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"payload\":"
               % new_claim().encode())
        elapsed = _await_408(c, started, BODY_TIMEOUT_S, "partial body")
    assert BODY_TIMEOUT_S - EARLY_S <= elapsed <= BODY_TIMEOUT_S + LATE_S, \
        "408 for a partial body after %.1f s, expected about %g s" % (elapsed, BODY_TIMEOUT_S)


def test_slow_client_does_not_block_others(relay):
    with Conn(relay, timeout_s=20) as slow:
        slow.send(b"POST /v1/m HTTP/1.1\r\nHost: localhost\r\n")
        for _ in range(3):
            with Conn(relay) as c:
                start = time.monotonic()
                expect_status(c.roundtrip("GET", "/v1/m/%s" % new_claim()), 404)
                assert time.monotonic() - start < 2, "a slow client delays others"
        assert not slow.data_within(0.2), "slow client answered before its head was complete"


def test_idle_keep_alive_connection_does_not_get_408_early(relay):
    with Conn(relay, timeout_s=20) as c:
        expect_status(c.roundtrip("GET", "/v1/m/%s" % new_claim()), 404)
        # Nothing sent for 3 s, past the head timeout: the relay may close an
        # idle connection, but must not answer a request that was never sent.
        if c.data_within(3):
            assert c.eof and not c.buf, "relay sent %r on an idle connection" % bytes(c.buf[:100])


# ---------------------------------------- the timeout options, one relay each

def test_idle_timeout_closes_an_idle_keep_alive_connection_silently():
    with Relay("--idle-timeout", "2s") as relay:
        mb = new_mailbox(relay)
        with Conn(relay, timeout_s=10) as c:
            # Requests 1.2 s apart keep it open past 2 s: the timer is per idle spell.
            for i in range(3):
                if i:
                    assert not c.data_within(1.2), "relay sent %r or closed a connection idle " \
                        "for 1.2 s (--idle-timeout 2s)" % bytes(c.buf[:100])
                expect_json(read(None, mb.id, mb.sender, conn=c), 200, "request %d on keep-alive" % (i + 1))
            idle_from = time.monotonic()
            if not c.closed_within(6):
                raise AssertionError("idle keep-alive connection still open 6 s after its last "
                                     "answer (--idle-timeout 2s)")
            after = time.monotonic() - idle_from
            assert not c.buf, "relay sent %r when closing an idle connection (a 408 or other " \
                "answer to a request never made)" % bytes(c.buf[:200])
            assert 1.5 <= after <= 3.5, "idle connection closed after %.1f s, expected about 2 s" % after


def test_body_timeout_408_for_a_body_that_stops_half_way():
    with Relay("--body-timeout", "2s") as relay:
        with Conn(relay, timeout_s=10) as c:
            body = json.dumps(default_body()).encode()
            head = build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                   ("Content-Type", "application/json")],
                                 body, host=c.host_header)
            c.send(head[:len(head) - len(body) // 2])
            started = time.monotonic()
            if not c.data_within(6):
                raise AssertionError("no answer 6 s after a body stopped half-way "
                                     "(--body-timeout 2s)")
            resp = c.read_response("POST", timeout_s=3)
            elapsed = time.monotonic() - started
            expect_error(resp, 408, "request_timeout", "body stopped half-way")
            assert 1.5 <= elapsed <= 3.5, "408 after %.1f s, expected about 2 s" % elapsed
            assert_closed(c, "408 for a slow body")
        # A body that keeps coming but is not whole within 2 s: 408 too.
        with Conn(relay, timeout_s=10) as c:
            c.send(head[:len(head) - len(body)])
            started = time.monotonic()
            sent = 0
            while not c.data_within(0.4):
                if time.monotonic() - started > 6:
                    raise AssertionError("no answer 6 s into a trickled body")
                c.send(body[sent:sent + 5])
                sent += 5
            resp = c.read_response("POST", timeout_s=3)
            elapsed = time.monotonic() - started
            expect_error(resp, 408, "request_timeout", "body trickled 5 bytes every 0.4 s")
            assert 1.5 <= elapsed <= 3.5, "408 for a trickled body after %.1f s" % elapsed
        # And a body that arrives whole in time is fine.
        with Conn(relay) as c:
            expect_json(c.roundtrip("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                      ("Content-Type", "application/json")], body),
                        200, "create after the slow ones")


def test_handshake_timeout_closes_a_connection_that_never_says_hello():
    with Relay("--handshake-timeout", "2s") as relay:
        silent = socket.create_connection((relay.host, relay.port), timeout=10)
        # A ClientHello that stops after its record header.
        partial = socket.create_connection((relay.host, relay.port), timeout=10)
        partial.sendall(b"\x16\x03\x01\x02\x00")
        # A ClientHello trickled a byte at a time (slowloris for handshakes).
        # Timed from before the connect: the relay's deadline starts at its
        # accept, and in this module's threads the test may lose the CPU for
        # a while between connect() returning and reading the clock.
        started = time.monotonic()
        trickle = socket.create_connection((relay.host, relay.port), timeout=10)
        hello = _client_hello()
        try:
            # Meanwhile others are served.
            with Conn(relay) as c:
                expect_status(c.roundtrip("GET", "/v1/m/%s" % new_claim()), 404)
            sent = 0
            trickle.settimeout(0.25)
            while time.monotonic() - started < 6 and sent < len(hello):
                try:
                    trickle.sendall(hello[sent:sent + 1])
                except OSError:
                    break
                sent += 1
                try:
                    if trickle.recv(4096) == b"":
                        break
                except (socket.timeout, TimeoutError):
                    continue
                except OSError:
                    break
            trickled_for = time.monotonic() - started
            assert sent < len(hello), "the whole ClientHello (%d bytes) went out a byte at a " \
                "time over %.1f s" % (len(hello), trickled_for)
            assert 1.5 <= trickled_for <= 3.5, "ClientHello trickled a byte every 0.25 s: " \
                "closed after %.1f s (%d bytes), expected about 2 s" % (trickled_for, sent)
            for name, s in (("silent", silent), ("partial ClientHello", partial)):
                data = b""
                while True:
                    s.settimeout(max(0.01, started + 6 - time.monotonic()))
                    try:
                        chunk = s.recv(4096)
                    except (socket.timeout, TimeoutError):
                        raise AssertionError("%s TCP connection still open 6 s later "
                                             "(--handshake-timeout 2s)" % name)
                    except ConnectionResetError:
                        chunk = b""
                    if not chunk:
                        break
                    data += chunk
                elapsed = time.monotonic() - started
                assert 1.5 <= elapsed <= 3.5, "%s connection closed after %.1f s, expected " \
                    "about 2 s" % (name, elapsed)
                # An alert is allowed; HTTP is not possible before a handshake.
                assert not data.startswith(b"HTTP/"), "%s got %r" % (name, data[:100])
        finally:
            silent.close()
            partial.close()
            trickle.close()


def _client_hello():
    """The bytes of a real TLS ClientHello (from Python's own TLS client)."""
    ctx = ssl.create_default_context()
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    obj = ctx.wrap_bio(incoming, outgoing, server_hostname="localhost")
    try:
        obj.do_handshake()
    except ssl.SSLWantReadError:
        pass
    hello = outgoing.read()
    assert hello[:1] == b"\x16" and len(hello) > 100, hello[:20]
    return hello
