"""ETags and long-polling (spec §6): If-None-Match, Prefer: wait=N, wake-ups
by update and delete, the --max-wait cap, shutdown with a parked request."""

import signal
import time

from relaytest import (Conn, Relay, build_request, delete, expect_error, expect_json,
                       expect_status, new_claim, new_mailbox, read, update, update_body)

EXPECTED_SECONDS = 4
PARALLEL = True          # most tests here wait on the relay's clock


def _poll_request(conn, mb_id, claim, etag, wait=None, request_id=None):
    hdrs = [("Mailbox-Device-Claim", claim), ("If-None-Match", etag)]
    if wait is not None:
        hdrs.append(("Prefer", "wait=%d" % wait))
    if request_id:
        hdrs.append(("Mailbox-Request-ID", request_id))
    conn.request("POST", "/v1/m/%s" % mb_id, hdrs)


def _park(relay, mb, claim, etag, wait=20):
    """Send a long-poll and check the relay is holding it (no answer within
    0.5 s). Returns the open connection."""
    conn = Conn(relay, timeout_s=wait + 10)
    _poll_request(conn, mb.id, claim, etag, wait)
    if conn.data_within(0.5):
        resp = conn.read_response("POST")
        conn.close()
        raise AssertionError("long-poll with the current ETag was answered at once: %s" % resp)
    return conn


def _etag(relay, mb, claim):
    resp = read(relay, mb.id, claim)
    expect_json(resp, 200)
    etag = resp.header("ETag")
    assert etag, "read response without ETag: %s" % resp
    return etag


def test_etag_same_for_both_parties_and_unchanged_by_reads(relay):
    mb = new_mailbox(relay, rights="RW")
    receiver = new_claim()
    e_receiver = _etag(relay, mb, receiver)
    e_sender = _etag(relay, mb, mb.sender)
    assert e_receiver == e_sender, "ETag differs between Receiver %r and Sender %r" % (e_receiver, e_sender)
    for _ in range(3):
        assert _etag(relay, mb, receiver) == e_sender, "ETag changed by a read"


def test_etag_changes_on_each_update_only(relay):
    mb = new_mailbox(relay, rights="RW")
    receiver = new_claim()
    seen = [_etag(relay, mb, receiver)]
    for who in (mb.sender, receiver, mb.sender):
        expect_json(update(relay, mb.id, who, request_id="e-%d" % len(seen)), 200)
        etag = _etag(relay, mb, mb.sender)
        assert etag not in seen, "ETag %r repeated after an update (seen %r)" % (etag, seen)
        seen.append(etag)
    # Failed updates and retries leave it alone.
    expect_error(update(relay, mb.id, new_claim()), 401, "unauthorized")
    expect_error(update(relay, mb.id, mb.sender, {"payload": {"type": "X", "data": ""}}), 400,
                 "invalid_field")
    expect_json(update(relay, mb.id, mb.sender, request_id="e-3"), 201)
    assert _etag(relay, mb, receiver) == seen[-1], "ETag changed by a failed update or a retry"


def test_if_none_match_without_prefer_is_immediate_204(relay):
    mb = new_mailbox(relay)
    etag = _etag(relay, mb, mb.sender)
    start = time.monotonic()
    with Conn(relay) as c:
        _poll_request(c, mb.id, mb.sender, etag, request_id="cheap")
        resp = c.read_response("POST", timeout_s=5)
    elapsed = time.monotonic() - start
    expect_status(resp, 204, "matching If-None-Match without Prefer")
    assert elapsed < 2, "cheap poll took %.1f s" % elapsed
    assert resp.header("ETag") == etag, "204 ETag %r, expected %r" % (resp.header("ETag"), etag)
    assert resp.body == b"", resp
    assert resp.header("Mailbox-Request-ID") == "cheap", resp


def test_if_none_match_other_etag_gives_200(relay):
    mb = new_mailbox(relay)
    etag = _etag(relay, mb, mb.sender)
    for other in ('"not-the-etag"', '"%s"' % new_claim()):
        for wait in (None, 10):
            with Conn(relay) as c:
                _poll_request(c, mb.id, mb.sender, other, wait)
                resp = c.read_response("POST", timeout_s=3)
            data = expect_json(resp, 200, "If-None-Match %s, wait %s" % (other, wait))
            assert data["payload"] == mb.body["payload"]
            assert resp.header("ETag") == etag


def test_prefer_wait_without_if_none_match_is_immediate(relay):
    mb = new_mailbox(relay)
    with Conn(relay) as c:
        resp = c.roundtrip("POST", mb.path, [("Mailbox-Device-Claim", mb.sender), ("Prefer", "wait=10")],
                           timeout_s=3)
    expect_json(resp, 200, "Prefer: wait without If-None-Match")


def test_wait_times_out_with_204(relay):
    mb = new_mailbox(relay)
    etag = _etag(relay, mb, mb.sender)
    start = time.monotonic()
    with Conn(relay, timeout_s=10) as c:
        _poll_request(c, mb.id, mb.sender, etag, wait=2)
        resp = c.read_response("POST")
    elapsed = time.monotonic() - start
    expect_status(resp, 204, "long-poll with nothing new")
    assert 1.5 <= elapsed <= 4.5, "wait=2 answered after %.2f s" % elapsed
    assert resp.header("ETag") == etag, resp
    assert (resp.header("Preference-Applied") or "").replace(" ", "") == "wait=2", resp


def test_max_wait_caps_the_wait():
    with Relay("--max-wait", "2s") as relay:
        mb = new_mailbox(relay)
        etag = _etag(relay, mb, mb.sender)
        start = time.monotonic()
        with Conn(relay, timeout_s=15) as c:
            _poll_request(c, mb.id, mb.sender, etag, wait=30)
            resp = c.read_response("POST")
        elapsed = time.monotonic() - start
        expect_status(resp, 204, "wait=30 with --max-wait 2s")
        assert 1.5 <= elapsed <= 4.5, "capped wait answered after %.2f s" % elapsed
        assert (resp.header("Preference-Applied") or "").replace(" ", "") == "wait=2", \
            "Preference-Applied should show the applied 2 s: %s" % resp


def test_update_wakes_the_other_party(relay):
    mb = new_mailbox(relay, rights="RW")
    receiver = new_claim()
    etag = _etag(relay, mb, receiver)
    conn = _park(relay, mb, receiver, etag)
    try:
        body = update_body()
        start = time.monotonic()
        expect_json(update(relay, mb.id, mb.sender, body), 200)
        resp = conn.read_response("POST", timeout_s=5)
        elapsed = time.monotonic() - start
    finally:
        conn.close()
    data = expect_json(resp, 200, "Receiver's long-poll after the Sender's update")
    assert elapsed < 2, "wake-up took %.2f s" % elapsed
    assert data["payload"] == body["payload"], "woken read carries the old payload"
    assert resp.header("ETag") and resp.header("ETag") != etag, "woken read has ETag %r" % resp.header("ETag")
    # And the Sender is woken by the Receiver's update.
    etag2 = resp.header("ETag")
    conn = _park(relay, mb, mb.sender, etag2)
    try:
        body2 = update_body()
        expect_json(update(relay, mb.id, receiver, body2), 200)
        resp2 = conn.read_response("POST", timeout_s=5)
    finally:
        conn.close()
    data2 = expect_json(resp2, 200, "Sender's long-poll after the Receiver's update")
    assert data2["payload"] == body2["payload"]
    assert resp2.header("ETag") not in (etag, etag2)


def test_update_wakes_every_waiter(relay):
    mb = new_mailbox(relay, rights="RW")
    receiver = new_claim()
    etag = _etag(relay, mb, receiver)
    conns = [_park(relay, mb, receiver, etag), _park(relay, mb, receiver, etag),
             _park(relay, mb, mb.sender, etag)]
    try:
        body = update_body()
        expect_json(update(relay, mb.id, mb.sender, body), 200)
        for i, c in enumerate(conns):
            data = expect_json(c.read_response("POST", timeout_s=5), 200, "waiter %d after an update" % i)
            assert data["payload"] == body["payload"]
    finally:
        for c in conns:
            c.close()


def test_failed_update_does_not_wake(relay):
    mb = new_mailbox(relay)
    receiver = new_claim()
    etag = _etag(relay, mb, receiver)
    conn = _park(relay, mb, receiver, etag, wait=20)
    try:
        expect_error(update(relay, mb.id, receiver), 401, "unauthorized")   # no W
        expect_error(update(relay, mb.id, mb.sender, {"payload": 1}), 400, "invalid_field")
        assert not conn.data_within(0.5), "a failed update woke the long-poll"
    finally:
        conn.close()


def test_delete_ends_waits_with_404(relay):
    mb = new_mailbox(relay)
    receiver = new_claim()
    etag = _etag(relay, mb, receiver)
    conns = [_park(relay, mb, receiver, etag), _park(relay, mb, mb.sender, etag)]
    try:
        expect_json(delete(relay, mb.id, mb.sender), 200)
        for c in conns:
            expect_error(c.read_response("POST", timeout_s=5), 404, "not_found", "long-poll after delete")
    finally:
        for c in conns:
            c.close()


def test_waiter_that_hangs_up_is_forgotten(relay):
    mb = new_mailbox(relay)
    receiver = new_claim()
    etag = _etag(relay, mb, receiver)
    gone = _park(relay, mb, receiver, etag)
    gone.close()
    conn = _park(relay, mb, receiver, etag)
    try:
        expect_json(update(relay, mb.id, mb.sender), 200)
        expect_json(conn.read_response("POST", timeout_s=5), 200, "remaining waiter")
    finally:
        conn.close()
    expect_json(delete(relay, mb.id, mb.sender), 200, "relay fine after a waiter hung up")


def test_long_poll_then_next_request_on_same_connection(relay):
    mb = new_mailbox(relay)
    etag = _etag(relay, mb, mb.sender)
    with Conn(relay, timeout_s=10) as c:
        _poll_request(c, mb.id, mb.sender, etag, wait=1)
        expect_status(c.read_response("POST"), 204)
        expect_json(c.roundtrip("POST", mb.path, {"Mailbox-Device-Claim": mb.sender}), 200,
                    "request after a timed-out long-poll on the same connection")


def test_waiting_costs_no_cpu():
    with Relay() as relay:
        mb = new_mailbox(relay)
        etag = _etag(relay, mb, mb.sender)
        # All twenty sent first, then one 0.5 s window for all: parking
        # them one by one (_park) spent ten seconds on windows.
        conns = []
        try:
            for _ in range(20):
                conns.append(Conn(relay, timeout_s=40))
                _poll_request(conns[-1], mb.id, mb.sender, etag, 30)
            t0 = time.monotonic()
            answered = [i for i, c in enumerate(conns)
                        if c.data_within(max(0.0, t0 + 0.5 - time.monotonic()))]
            assert not answered, "long-polls %r with the current ETag were answered at " \
                "once" % answered
            before = relay.cpu_seconds()
            t0 = time.monotonic()
            # A window of quiet, checked rather than slept: nobody is answered.
            assert not any(c.data_within(0.1) for c in conns), "a waiter was answered early"
            while time.monotonic() - t0 < 2:
                assert not conns[0].data_within(0.25)
            used = relay.cpu_seconds() - before
            assert used < 0.3, "20 parked long-polls used %.2f s of CPU in 2 s" % used
        finally:
            for c in conns:
                c.close()


def test_parked_long_poll_answered_at_shutdown():
    relay = Relay().start()
    try:
        mb = new_mailbox(relay)
        etag = _etag(relay, mb, mb.sender)
        conn = _park(relay, mb, mb.sender, etag, wait=30)
    except BaseException:
        relay.stop()
        raise
    try:
        relay.send_signal(signal.SIGTERM)
        resp = conn.read_response("POST", timeout_s=8)
        assert 200 <= resp.status < 600, resp
    finally:
        conn.close()
        relay.stop()
