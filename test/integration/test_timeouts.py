"""Slow clients (spec §4.7, §10): a request head not complete within 10 s, or
a body not complete within 30 s, gets 408 and a close. The relay runs with
RELAY_TEST_SPEEDUP, so those are 2 s and 6 s here; the tests run in parallel,
so the module costs about 7 s of wall time."""

import time

from relaytest import (Conn, ConnectionClosed, assert_closed, expect_error, expect_status,
                       new_claim)

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
