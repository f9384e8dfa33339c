"""Expiry (spec §7, §6): a mailbox is gone (404) from its expiry instant, wakes
its waiters with 404, and releases its place in the store.

Each test runs its own relay on the test clock (Relay(test_clock=0)): it is
moved to just before an expiry instant and then to the instant, instead of
polling in real time until the mailbox goes. Times below are the relay's
clock (relay.clock())."""

import json

from relaytest import (Conn, Relay, default_body, delete, expect_error, expect_json,
                       expect_status, media_type, new_claim, new_mailbox, parse_rfc3339,
                       read, relinquish, rfc3339, update)

EXPECTED_SECONDS = 2
PARALLEL = True

EARLY_S = 1.0      # the relay's clock may round to whole seconds
LATE_S = 1.5       # "within about one second of the instant"
# How far before the instant the mailbox is still seen: the relay's
# clock is in whole seconds, so this is the second before, with room for
# a slow machine's delay between the move and the request.
BEFORE_S = 0.9


def _short_lived(relay, seconds=3600, **kw):
    exp = int(relay.clock()) + seconds
    mb = new_mailbox(relay, body=default_body(mailboxConfiguration={"expiration": rfc3339(exp), **kw}))
    return mb, exp


def _first_404(relay, mb, claim, exp):
    """Move the relay's clock to just before exp and then to exp, reading
    on one keep-alive connection; returns the relay's time of the first
    404 and of the last 200."""
    with Conn(relay) as c:
        relay.advance_clock_to(exp - BEFORE_S)
        resp = c.roundtrip("POST", mb.path, {"Mailbox-Device-Claim": claim})
        expect_json(resp, 200, "read %.1f s before the expiry" % BEFORE_S)
        last_200 = relay.clock()
        relay.advance_clock_to(exp)
        resp = c.roundtrip("POST", mb.path, {"Mailbox-Device-Claim": claim})
        gone_at = relay.clock()
        expect_error(resp, 404, "not_found", "read of an expired mailbox")
        return gone_at, last_200


def test_mailbox_gone_at_expiration():
    with Relay(test_clock=0) as relay:
        mb, exp = _short_lived(relay, rights="RWD")
        receiver = new_claim()
        data = expect_json(read(relay, mb.id, receiver), 200, "read right after create")
        assert data["expiration"] == rfc3339(exp), data
        expect_status(call_preview(relay, mb), 200, "preview before expiry")
        gone_at, last_200 = _first_404(relay, mb, receiver, exp)
        assert last_200 is not None, "never saw the mailbox readable"
        assert gone_at >= exp - EARLY_S, "mailbox vanished %.2f s before its expiration" % (exp - gone_at)
        assert gone_at <= exp + LATE_S, "mailbox vanished %.2f s after its expiration" % (gone_at - exp)
        expect_error(read(relay, mb.id, mb.sender), 404, "not_found", "Sender read after expiry")
        expect_error(update(relay, mb.id, mb.sender), 404, "not_found", "update after expiry")
        expect_error(relinquish(relay, mb.id, receiver), 404, "not_found", "relinquish after expiry")
        expect_error(delete(relay, mb.id, mb.sender), 404, "not_found", "delete after expiry")
        resp = call_preview(relay, mb)
        expect_status(resp, 404, "preview after expiry")
        assert media_type(resp) == "text/html", "preview 404 is not HTML: %s" % resp


def call_preview(relay, mb):
    with Conn(relay) as c:
        return c.roundtrip("GET", mb.path)


def test_expiry_ends_long_poll_with_404():
    with Relay(test_clock=0) as relay:
        mb, exp = _short_lived(relay)
        resp = read(relay, mb.id, mb.sender)
        etag = resp.header("ETag")
        # Within the longest wait (--max-wait, 60 s) of the instant.
        relay.advance_clock_to(exp - 20)
        with Conn(relay, timeout_s=20) as c:
            c.request("POST", mb.path, [("Mailbox-Device-Claim", mb.sender),
                                        ("If-None-Match", etag), ("Prefer", "wait=30")])
            relay.advance_clock_to(exp - BEFORE_S)
            assert not c.data_within(0.2), "long-poll answered %.1f s before the expiry: %s" % (
                BEFORE_S, c.read_response("POST"))
            relay.advance_clock_to(exp)
            resp = c.read_response("POST")
            now = relay.clock()
        expect_error(resp, 404, "not_found", "long-poll across the expiry")
        assert exp - EARLY_S <= now <= exp + LATE_S + 0.5, \
            "long-poll ended %.2f s from the expiry instant" % (now - exp)


def test_expired_mailbox_releases_its_place():
    with Relay("--max-mailboxes", "1", test_clock=0) as relay:
        mb, exp = _short_lived(relay)
        claim = new_claim()
        with Conn(relay) as c:
            def create():
                return c.roundtrip("POST", "/v1/m", [("Mailbox-Device-Claim", claim),
                                                     ("Content-Type", "application/json")],
                                   json.dumps(default_body()).encode())
            expect_error(create(), 503, "store_full", "second mailbox while the first lives")
            relay.advance_clock_to(exp - BEFORE_S)
            expect_error(create(), 503, "store_full", "create %.1f s before the first mailbox "
                         "expires" % BEFORE_S)
            relay.advance_clock_to(exp)
            resp = create()
            now = relay.clock()
        expect_json(resp, 200, "create once the only mailbox expired")
        assert now <= exp + LATE_S, "the store freed its place %.2f s after the expiry" % (now - exp)


def test_default_ttl_applies_and_expires():
    with Relay("--default-ttl", "3s", test_clock=0) as relay:
        t0 = relay.clock()
        mb = new_mailbox(relay)
        data = expect_json(read(relay, mb.id, mb.sender), 200)
        exp = parse_rfc3339(data["expiration"])
        assert t0 + 1 <= exp <= t0 + 4.5, "expiration %r is not ~3 s ahead" % data["expiration"]
        gone_at, _ = _first_404(relay, mb, mb.sender, exp)
        assert exp - EARLY_S <= gone_at <= exp + LATE_S, \
            "default-ttl mailbox vanished %.2f s from its expiration" % (gone_at - exp)


def test_many_expiring_mailboxes_all_go():
    with Relay(test_clock=0) as relay:
        exp = int(relay.clock()) + 600
        mbs = [new_mailbox(relay, expiration=rfc3339(exp)) for _ in range(30)]
        longer = new_mailbox(relay, expiration=rfc3339(exp + 600))
        gone_at, _ = _first_404(relay, mbs[0], mbs[0].sender, exp)
        assert gone_at <= exp + LATE_S, "first mailbox vanished %.2f s late" % (gone_at - exp)
        for mb in mbs[1:]:
            expect_error(read(relay, mb.id, mb.sender), 404, "not_found", "read after the shared expiry")
        expect_json(read(relay, longer.id, longer.sender), 200, "longer-lived mailbox still there")
