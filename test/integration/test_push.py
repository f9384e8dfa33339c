"""Push notifications through a gorush gateway (spec §4, §6 and the push
contract): which party is woken, exactly what is sent, isPushNotificationSupported,
retries and drops when the gateway fails, invalid tokens forgotten, an API that
never waits for the gateway, a bounded queue, an https gateway whose certificate
is verified, no token in any log line, and the command-line options.

Every relay here runs with --log-level debug, and every token is a distinctive
random string: the last tests read the output of every relay the module started
and look for them. The gateway is gorush_standin (a thread-based HTTP/1.1
stand-in that records what it receives).

Costs (seconds, measured alone on a 2-CPU machine): exact notifications 0.1;
isPushNotificationSupported 0.3; delete 0.1; relinquish / replaced tokens 0.1;
gateway down 8 (the retry schedule: gives up at +3 s, then a window up to
+8 s); 500 twice then OK 3; broken answers 3; Retry-After and 429 4; invalid
tokens 0.2; slow gateway 5; queue bound 1; oldest dropped 1.6; batches 1.2; 10 s timeout
11; https 0.5; logs 1; options 0.1. About 40 s in all.

Waiting is on conditions with deadlines (GorushStandin.wait_for*). Where a test
must show that something does *not* happen, it uses a "fence": a later push
to another token that must arrive; the relay sends its queue in order over one
connection, so anything queued before the fence has arrived by then. Only the
"gateway comes back after the relay gave up" step waits for a point in time,
because that point is what it tests (the contract's retry schedule).
"""

import os
import re
import statistics
import sys
import threading
import time
import uuid

from gorush_standin import CertAuthority, GorushStandin, free_port
from relaytest import (Conn, Mailbox, Relay, config, create, default_body, delete, expect_equal,
                       expect_json, expect_status, new_claim, read, relinquish, run_relay,
                       update, update_body)

EXPECTED_SECONDS = 20

APNS = "com.apple.apns"
FCM = "com.google.fcm"
CUSTOM = "com.example.custom"
OWN = "org.example.push"      # mapped to platform 7 where a test says so

WAKE = {"relay": "mailbox-updated"}
PUSH_TIMEOUT_S = 5.0           # a push to a healthy gateway arrives well within this
# The retry and timeout tests run their relay this many times faster
# (RELAY_TEST_SPEEDUP): the gateway timeout of 10 s, the backoff of 1 s, 2 s,
# ... and Retry-After all shrink by it, and so does what the tests expect.
SPEEDUP = 4
LATE_S = 0.5                   # what a loaded machine may add to a sped-up wait


_RELAYS = []                   # every Relay this module started (the log test reads them)
_TOKENS = []                   # every tokenData this module sent


# ------------------------------------------------------------------ helpers

def new_token_data(length=64):
    """A distinctive token (hex, like an APNs device token)."""
    data = ""
    while len(data) < length:
        data += uuid.uuid4().hex
    data = data[:length]
    _TOKENS.append(data)
    return data


def tok(type_, data=None):
    return {"type": type_, "tokenData": data if data is not None else new_token_data()}


def expected_notification(platform, data):
    """Exactly what the contract says is sent for one token."""
    if platform == 1:
        return {"tokens": [data], "platform": 1, "content_available": True,
                "push_type": "background", "priority": "normal", "data": WAKE}
    if platform == 2:
        return {"tokens": [data], "platform": 2, "priority": "high", "data": WAKE}
    return {"tokens": [data], "platform": platform, "data": WAKE}


def relay_for(gateway, *args, speedup=1):
    """A Relay (not started yet) at --log-level debug, with --push-gateway
    from a GorushStandin or a URL string when gateway is not None."""
    cmd = ["--log-level", "debug"]
    if gateway is not None:
        cmd += ["--push-gateway", gateway if isinstance(gateway, str) else gateway.url]
    relay = Relay(*(cmd + [str(a) for a in args]), speedup=speedup)
    _RELAYS.append(relay)
    return relay


def push_counters(relay):
    """The counters of the one 'push: totals at the stop' line the stopped
    relay logged (sent, failed, dropped, queued), as a dict."""
    found = [e for e in relay.events() if e["msg"] == "push: totals at the stop"]
    assert len(found) == 1 and found[0]["level"] == "info", (
        "expected exactly one info 'push: totals at the stop' line at the clean stop, found "
        "%d; stderr tail: %r" % (len(found), relay.stderr.lines()[-8:]))
    return {k: found[0][k] for k in ("sent", "failed", "dropped", "queued")}


def expect_counters(c, what, sent=None, failed=None, dropped=None, queued_max=None):
    """Check counters; sent/failed/dropped are a number or a (low, high) range.
    The push that was last sent before a stop may still be in flight at the
    SIGTERM (the contract does not say how the relay counts it), so a test
    settles the pushes it counts with a fence and allows one more."""
    problems = []
    for name, want in (("sent", sent), ("failed", failed), ("dropped", dropped)):
        if want is None:
            continue
        lo, hi = want if isinstance(want, tuple) else (want, want)
        if not lo <= c[name] <= hi:
            problems.append("%s %d, expected %s" % (name, c[name], want))
    if queued_max is not None and c["queued"] > queued_max:
        problems.append("queued %d, expected at most %d" % (c["queued"], queued_max))
    assert not problems, "%s: push counters %r: %s" % (what, c, "; ".join(problems))


def report(line):
    """Print a figure; run the module directly to see it
    (python3 test/integration/test_push.py test_name)."""
    print(line, flush=True)


class Pair:
    """A mailbox with a Sender (optionally with a token) and, unless bind is
    False, a bound Receiver (reading with its token, if any)."""

    def __init__(self, relay, sender_token=None, receiver_token=None, rights="RWD", bind=True):
        self.relay = relay
        self.sender = new_claim()
        self.sender_token = sender_token
        self.receiver_token = receiver_token
        body = default_body(mailboxConfiguration=config(rights=rights))
        if sender_token is not None:
            body["notificationToken"] = sender_token
        resp = create(relay, self.sender, body)
        self.created = expect_json(resp, 200, "create")
        self.mailbox = Mailbox(relay, self.sender, body, resp)
        self.id = self.mailbox.id
        self.receiver = new_claim()
        if bind:
            self.read_as_receiver(receiver_token)

    def read_as_receiver(self, token=None):
        body = {"notificationToken": token} if token is not None else None
        return expect_json(read(self.relay, self.id, self.receiver, body), 200, "receiver read")

    def update_by(self, claim, token=None, request_id=None, conn=None, status=200):
        body = update_body(notificationToken=token) if token is not None else update_body()
        resp = update(self.relay, self.id, claim, body, request_id=request_id, conn=conn)
        return expect_json(resp, status, "update")

    def update_by_sender(self, token=None, **kw):
        return self.update_by(self.sender, token, **kw)

    def update_by_receiver(self, token=None, **kw):
        return self.update_by(self.receiver, token, **kw)


def expect_push(gw, data, n=1, timeout=PUSH_TIMEOUT_S, what="push"):
    if not gw.wait_for_token(data, n, timeout):
        raise AssertionError("%s: token %s... was received %d time(s), expected %d within "
                             "%.0f s; the gateway saw %s" % (what, data[:8], gw.token_count(data),
                                                           n, timeout, gw.describe()))


def fence(gw, pair, what="fence"):
    """Sender update on `pair` (whose Receiver holds a mapped token) and wait
    for that push: every push the relay queued before it has arrived by then."""
    data = pair.receiver_token["tokenData"]
    before = gw.token_count(data)
    pair.update_by_sender()
    expect_push(gw, data, before + 1, what=what)


def expect_never_pushed(gw, data, what):
    hits = gw.requests_with_token(data)
    raw_hits = [r for r in gw.requests() if data.encode() in r.body]
    assert not hits and not raw_hits, "%s: token %s... was pushed: %s" % (
        what, data[:8], gw.describe())


def exact_notification(gw, data, platform, what):
    """The single notification carrying `data` equals the documented object."""
    found = [n for _, n in gw.notifications() if data in (n.get("tokens") or [])]
    assert found, "%s: no notification for the token; %s" % (what, gw.describe())
    for n in found:
        expect_equal(n, expected_notification(platform, data), "%s: notification" % what)


def check_request_form(req, what):
    """POST /api/push, JSON, Host, and a body of nothing but `notifications`."""
    assert req.method == "POST" and req.path == "/api/push", "%s: %s %s (expected POST " \
        "/api/push)" % (what, req.method, req.path)
    ctype = (req.header("Content-Type") or "").split(";")[0].strip().lower()
    assert ctype == "application/json", "%s: Content-Type %r" % (what, req.header("Content-Type"))
    assert req.header("Host"), "%s: no Host header (gorush, a Go server, answers 400)" % what
    assert req.version == "HTTP/1.1", "%s: %s (expected HTTP/1.1)" % (what, req.version)
    assert isinstance(req.json, dict), "%s: body is not a JSON object: %r" % (what, req.body[:300])
    assert set(req.json) == {"notifications"}, "%s: body members %s, expected only " \
        "notifications: %r" % (what, sorted(req.json), req.body[:300])
    notes = req.json["notifications"]
    assert isinstance(notes, list) and 1 <= len(notes) <= 100, \
        "%s: %s notifications in one request (1..100 allowed)" % (what, len(notes))


def raw_request(req):
    head = "%s %s %s\r\n" % (req.method, req.path, req.version)
    head += "".join("%s: %s\r\n" % hv for hv in req.headers)
    return head.encode("latin-1") + b"\r\n" + req.body


def percentile(values, p):
    s = sorted(values)
    return s[min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))]


def rss_bytes(relay):
    with open("/proc/%d/status" % relay.proc.pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for the relay")


def sped_up(low, high):
    """A window (low, high) of seconds for a relay sped up by SPEEDUP: not
    early by more than the window said, late by at most LATE_S more."""
    return (low / SPEEDUP, high / SPEEDUP + LATE_S)


def sleep_until(instant):
    """Wait for a point in time that the contract's retry schedule defines."""
    remaining = instant - time.monotonic()
    if remaining > 0:
        time.sleep(remaining)


# ---------------------------------------------- 1. who is woken, with what

def test_update_pushes_exact_notification_to_the_other_party_only():
    s, r = tok(APNS), tok(FCM)
    with GorushStandin() as gw, relay_for(gw) as relay:
        p = Pair(relay, sender_token=s, receiver_token=r)
        p.update_by_receiver()
        expect_push(gw, s["tokenData"], what="Receiver's update -> Sender's apns token")
        p.update_by_sender()
        expect_push(gw, r["tokenData"], what="Sender's update -> Receiver's fcm token")
        exact_notification(gw, s["tokenData"], 1, "apns (platform 1)")
        exact_notification(gw, r["tokenData"], 2, "fcm (platform 2)")
        expect_equal(gw.token_count(s["tokenData"]), 1, "pushes to the Sender (it wrote once, "
                     "the Receiver once)")
        expect_equal(gw.token_count(r["tokenData"]), 1, "pushes to the Receiver")
        expected = [expected_notification(1, s["tokenData"]),
                    expected_notification(2, r["tokenData"])]
        for req, n in gw.notifications():
            assert n in expected, "a notification that is neither of the two expected ones " \
                "(the writer is never pushed, nothing but the token is sent): %r" % (n,)
        reqs = gw.requests()
        for i, req in enumerate(reqs):
            check_request_form(req, "request %d" % (i + 1))
            raw = raw_request(req)
            for needle, what in [(p.id, "mailbox id"), (p.sender, "Sender claim"),
                                 (p.receiver, "Receiver claim")]:
                assert needle.encode() not in raw, "request %d carries the %s: %r" % (
                    i + 1, what, raw[:400])
        # Each write was pushed once, to the other party: the push for the
        # Receiver's write (the first request) must not name the Receiver.
        assert r["tokenData"].encode() not in reqs[0].body, \
            "the push for the Receiver's write names the Receiver's own token: %s" % gw.describe()
        assert all(s["tokenData"].encode() not in q.body
                   for q in reqs if r["tokenData"] in q.tokens()), \
            "the push for the Sender's write names the Sender's own token: %s" % gw.describe()
        fence(gw, p, "settling push")     # the answers to the first two are in
        reqs = gw.requests()
        conns = {q.conn_id for q in reqs}
        assert len(conns) == 1 and gw.connections == 1, (
            "pushes did not share one kept-alive connection: %d connections for %d requests"
            % (gw.connections, len(reqs)))
    expect_counters(push_counters(relay), "two pushes delivered (and a third at the stop)",
                    sent=(2, 3), failed=0, dropped=0, queued_max=1)


# ---------------------------------------------- 2. isPushNotificationSupported

def _flag(data, what):
    assert isinstance(data, dict) and isinstance(data.get("isPushNotificationSupported"), bool), \
        "%s: no boolean isPushNotificationSupported in %r" % (what, data)
    return data["isPushNotificationSupported"]


def _create_flag(relay, token, what, request_id=None, claim=None):
    body = default_body(mailboxConfiguration=config(rights="RWD"))
    if token is not None:
        body["notificationToken"] = token
    claim = claim or new_claim()
    resp = create(relay, claim, body, request_id=request_id)
    return _flag(expect_json(resp, 200, what), what), resp, claim, body


def test_is_push_notification_supported():
    problems = []

    def check(actual, expected, what):
        if actual != expected:
            problems.append("%s: isPushNotificationSupported %r, expected %r"
                            % (what, actual, expected))

    with GorushStandin() as gw, relay_for(gw) as relay:
        check(_create_flag(relay, tok(APNS), "create apns")[0], True, "create with apns token")
        check(_create_flag(relay, tok(FCM), "create fcm")[0], True, "create with fcm token")
        custom = tok(CUSTOM)
        check(_create_flag(relay, custom, "create custom")[0], False,
              "create with unmapped token type %s" % CUSTOM)
        check(_create_flag(relay, None, "create no token")[0], False, "create without token")

        # A create retry (same claim, same Mailbox-Request-ID) repeats the answer.
        for token, flag in [(tok(APNS), True), (None, False)]:
            first, resp1, claim, body = _create_flag(relay, token, "create", request_id="cr-1")
            resp2 = create(relay, claim, body, request_id="cr-1")
            data2 = expect_json(resp2, 201, "create retry")
            check(_flag(data2, "create retry"), flag, "create retry (token %s)"
                  % (token and token["type"]))
            expect_equal(data2.get("urlLink"), resp1.json().get("urlLink"), "create retry urlLink")

        # Updates: the token in the body, else the caller's stored one.
        p = Pair(relay, sender_token=tok(APNS), receiver_token=None)
        check(_flag(p.update_by_sender(), "u"), True, "Sender update, no token in body, "
              "stored apns token")
        check(_flag(p.update_by_receiver(), "u"), False, "Receiver update, no token anywhere")
        check(_flag(p.update_by_receiver(tok(FCM)), "u"), True, "Receiver update with fcm token")
        check(_flag(p.update_by_receiver(), "u"), True, "Receiver update, stored fcm token")
        p_custom = tok(CUSTOM)
        check(_flag(p.update_by_sender(p_custom), "u"), False,
              "Sender update with unmapped token (replacing its apns token)")
        check(_flag(p.update_by_sender(), "u"), False, "Sender update, stored unmapped token")

        q = Pair(relay, sender_token=None, receiver_token=tok(APNS))
        check(_flag(q.update_by_sender(), "u"), False, "Sender update, created without token")
        check(_flag(q.update_by_sender(tok(FCM)), "u"), True, "Sender update with fcm token")
        check(_flag(q.update_by_receiver(), "u"), True, "Receiver update, token from its read")
        # An update retry repeats the original answer.
        check(_flag(q.update_by_sender(request_id="up-1"), "u"), True, "Sender update (id up-1)")
        check(_flag(q.update_by_sender(request_id="up-1", status=201), "u"), True,
              "Sender update retry (201)")

        # Unmapped tokens are stored but never pushed: the Sender of u holds
        # one; the Receiver's updates must push nothing to it. Fence: a push
        # to u's Receiver (mapped) that must arrive after them.
        u = Pair(relay, sender_token=custom, receiver_token=tok(FCM))
        u.update_by_receiver()
        u.update_by_receiver()
        fence(gw, u, "fence after updates to an unmapped token")
        expect_never_pushed(gw, custom["tokenData"], "unmapped token type")
        # p's Sender replaced its apns token by an unmapped one: the apns token
        # (pushed while it was current; all those pushes are in, behind the
        # fence) gets no more pushes, the unmapped one none at all.
        replaced = p.sender_token["tokenData"]
        pushed_before = gw.token_count(replaced)
        p.update_by_receiver()
        fence(gw, u, "fence after an update to a replaced token")
        expect_equal(gw.token_count(replaced), pushed_before, "pushes to an apns token after "
                     "its owner replaced it by an unmapped one")
        expect_never_pushed(gw, p_custom["tokenData"], "unmapped token stored by an update")

    # No gateway: always false.
    with relay_for(None) as bare:
        check(_create_flag(bare, tok(APNS), "no gateway")[0], False, "no gateway: create apns")
        check(_create_flag(bare, tok(FCM), "no gateway")[0], False, "no gateway: create fcm")
        first, resp1, claim, body = _create_flag(bare, tok(APNS), "c", request_id="nr-1")
        check(_flag(expect_json(create(bare, claim, body, request_id="nr-1"), 201, "retry"),
                    "retry"), False, "no gateway: create retry")
        b = Pair(bare, sender_token=tok(APNS), receiver_token=tok(FCM))
        check(_flag(b.update_by_sender(), "u"), False, "no gateway: update, stored token")
        check(_flag(b.update_by_receiver(tok(APNS)), "u"), False, "no gateway: update with token")

    # A --push-map of our own: only its types are mapped, with its platforms.
    with GorushStandin() as gw, relay_for(gw, "--push-map", "%s=1,%s=7" % (APNS, OWN)) as relay:
        own, fcm = tok(OWN), tok(FCM)
        check(_create_flag(relay, tok(APNS), "map")[0], True, "custom map: apns")
        check(_create_flag(relay, tok(OWN), "map")[0], True, "custom map: %s=7" % OWN)
        check(_create_flag(relay, tok(FCM), "map")[0], False, "custom map without fcm: fcm")
        m = Pair(relay, sender_token=own, receiver_token=tok(APNS))
        n = Pair(relay, sender_token=fcm, receiver_token=tok(APNS))
        m.update_by_receiver()
        expect_push(gw, own["tokenData"], what="push to a platform-7 token")
        exact_notification(gw, own["tokenData"], 7, "platform 7")
        n.update_by_receiver()
        fence(gw, n, "fence after an update to an fcm token that this map lacks")
        expect_never_pushed(gw, fcm["tokenData"], "fcm token with a map without fcm")

    assert not problems, "isPushNotificationSupported:\n" + "\n".join(problems)


# ---------------------------------------------- 3. delete, relinquish, replaced tokens

def test_delete_pushes_to_the_other_party():
    with GorushStandin() as gw, relay_for(gw) as relay:
        a = Pair(relay, sender_token=tok(APNS), receiver_token=tok(FCM))
        b = Pair(relay, sender_token=tok(FCM), receiver_token=tok(APNS))
        expect_status(delete(relay, a.id, a.sender), 200, "delete by the Sender")
        expect_push(gw, a.receiver_token["tokenData"], what="Sender's delete -> Receiver")
        expect_status(delete(relay, b.id, b.receiver), 200, "delete by the Receiver")
        expect_push(gw, b.sender_token["tokenData"], what="Receiver's delete -> Sender")
        exact_notification(gw, a.receiver_token["tokenData"], 2, "delete push (fcm)")
        exact_notification(gw, b.sender_token["tokenData"], 2, "delete push (fcm)")
        # b's push came after a's, so a wrong push to a's Sender has arrived by now.
        expect_never_pushed(gw, a.sender_token["tokenData"], "the deleting Sender")
        expect_never_pushed(gw, b.receiver_token["tokenData"], "the deleting Receiver")
        for req in gw.requests():
            check_request_form(req, "delete push")


def test_relinquish_forgets_receiver_token_and_later_bodies_replace_tokens():
    with GorushStandin() as gw, relay_for(gw) as relay:
        first = tok(APNS)
        p = Pair(relay, sender_token=None, receiver_token=first)
        p.update_by_sender()
        expect_push(gw, first["tokenData"], what="push to the first Receiver")
        expect_status(relinquish(relay, p.id, p.receiver), 200, "relinquish")
        p.update_by_sender()                  # nobody to wake now
        second = tok(FCM)
        p.receiver, p.receiver_token = new_claim(), second
        p.read_as_receiver(second)
        fence(gw, p, "push to the new Receiver")
        expect_equal(gw.token_count(first["tokenData"]), 1,
                     "pushes to the relinquished Receiver's token")

        # The Sender's token: from create, replaced by its read body, then by
        # its update body; the Receiver's: from its update body.
        created, by_read, by_update = tok(APNS), tok(APNS), tok(FCM)
        q = Pair(relay, sender_token=created, receiver_token=None)
        expect_json(read(relay, q.id, q.sender, {"notificationToken": by_read}), 200,
                    "Sender read with a token")
        q.update_by_receiver()
        expect_push(gw, by_read["tokenData"], what="push to the token of the Sender's read")
        q.update_by_sender(by_update)
        q.update_by_receiver()
        expect_push(gw, by_update["tokenData"], what="push to the token of the Sender's update")
        exact_notification(gw, by_update["tokenData"], 2, "replaced token (fcm)")
        receiver_tok = tok(APNS)
        q.update_by_receiver(receiver_tok)
        expect_push(gw, by_update["tokenData"], 2,
                    what="Receiver's update with a token pushes to the Sender")
        q.update_by_sender()
        expect_push(gw, receiver_tok["tokenData"], what="push to the token of the Receiver's "
                    "update")
        expect_never_pushed(gw, created["tokenData"], "the Sender's replaced create token")
        expect_equal(gw.token_count(by_read["tokenData"]), 1, "pushes to the replaced read token")


# ---------------------------------------------- 4. gateway down, retries, drops

def _sequential_latencies(relay, n=100):
    """n sequential requests on one keep-alive connection, alternating a
    Receiver read and a Receiver update (which pushes to the Sender)."""
    p = Pair(relay, sender_token=tok(APNS), receiver_token=None)
    out = []
    with Conn(relay) as conn:
        expect_json(read(relay, p.id, p.receiver, conn=conn), 200, "warm-up read")
        for i in range(n):
            t = time.perf_counter()
            if i % 2:
                resp = update(relay, p.id, p.receiver, update_body(), conn=conn)
            else:
                resp = read(relay, p.id, p.receiver, conn=conn)
            out.append((time.perf_counter() - t) * 1000.0)
            expect_status(resp, 200, "request %d" % i)
    return out


def test_gateway_down_api_at_full_speed_and_push_retried_then_dropped():
    late = GorushStandin(start=False)           # down now; comes up after the relay gave up
    try:
        with relay_for(late, "--push-retries", "2", speedup=SPEEDUP) as give_up:
            s = tok(APNS)
            p = Pair(give_up, sender_token=s, receiver_token=tok(FCM))
            t0 = time.monotonic()
            p.update_by_receiver()               # refused at +0, retried at +1 and +3, dropped
                                                 # (sped up: +0.25, +0.75)

            # Meanwhile: the API with a down gateway against one without a gateway.
            down = GorushStandin(start=False)
            with relay_for(down) as relay_down:
                with_down = _sequential_latencies(relay_down)
            with relay_for(None) as relay_bare:
                without = _sequential_latencies(relay_bare)
            med_down, med_bare = statistics.median(with_down), statistics.median(without)
            report("gateway down: median %.2f ms, max %.2f ms over %d requests; no gateway: "
                   "median %.2f ms, max %.2f ms" % (med_down, max(with_down), len(with_down),
                                                   med_bare, max(without)))
            assert max(with_down) < 200 and med_down < 20, (
                "API slowed by a down gateway: median %.1f ms, max %.1f ms (without a gateway: "
                "median %.1f ms, max %.1f ms)" % (med_down, max(with_down), med_bare, max(without)))
            c = push_counters(relay_down)
            expect_equal(c["sent"], 0, "pushes sent to a gateway that is down")

            # Retries 2: the last retry is due at +3 s. Come up well after it,
            # and watch for at least as long as the whole schedule.
            sleep_until(t0 + 4.5 / SPEEDUP)
            late.start()
            got = late.wait_for(1, max(t0 + 8.0 / SPEEDUP, time.monotonic() + 3.5 / SPEEDUP)
                                - time.monotonic())
            assert not got, ("a push arrived %.1f s after the update although --push-retries 2 "
                             "had given up at +%g s: %s" % (late.requests()[0].received_at - t0,
                                                          3.0 / SPEEDUP, late.describe()))
            # The gateway is back: a new push goes through, and only it.
            p.update_by_receiver()
            expect_push(late, s["tokenData"], what="push after the gateway came back")
            fence(late, p, "settling push")
            expect_equal(late.token_count(s["tokenData"]), 1, "pushes received once the gateway "
                         "was back (the dropped one must not come)")
        c = push_counters(give_up)
        expect_counters(c, "one push dropped, one delivered (and one at the stop)", sent=(1, 2))
        assert c["dropped"] + c["failed"] >= 1, "the push given up was counted neither dropped " \
            "nor failed: %r" % c
    finally:
        late.stop()


def _spacing(reqs, what, expected):
    """Gaps from each answer to the next attempt, against (low, high) pairs."""
    gaps = [reqs[i + 1].received_at - reqs[i].answered_at for i in range(len(reqs) - 1)]
    for gap, (lo, hi) in zip(gaps, expected):
        assert lo <= gap <= hi, "%s: retry gaps %s s, expected within %s" % (
            what, ["%.2f" % g for g in gaps], expected)
    return gaps


def test_retry_after_500_twice_then_ok():
    with GorushStandin() as gw, relay_for(gw, speedup=SPEEDUP) as relay:
        p = Pair(relay, sender_token=tok(APNS), receiver_token=tok(FCM))
        data = p.sender_token["tokenData"]
        gw.answer_status(500, count=2)
        p.update_by_receiver()
        expect_push(gw, data, 3, timeout=8.0, what="two 500s then OK")
        reqs = gw.requests_with_token(data)
        expect_equal([q.status for q in reqs], [500, 500, 200], "statuses answered")
        assert all(q.json == reqs[0].json for q in reqs), "the retries did not repeat the same " \
            "batch: %s" % gw.describe()
        gaps = _spacing(reqs, "500, 500, OK", [sped_up(0.9, 1.2), sped_up(1.9, 2.3)])
        report("500 twice then OK: retries after %.2f s and %.2f s" % tuple(gaps))
        fence(gw, p, "push after the retried one")
        expect_equal(gw.token_count(data), 3, "requests carrying the retried notification")
    expect_counters(push_counters(relay), "a retried push delivered (and one more at the stop)",
                    sent=(1, 2), dropped=0, queued_max=1)


def test_broken_answers_are_retried_on_a_new_connection():
    with GorushStandin() as gw, relay_for(gw, speedup=SPEEDUP) as relay:
        p = Pair(relay, sender_token=tok(FCM), receiver_token=tok(APNS))
        data = p.sender_token["tokenData"]
        gw.answer_garbage(count=1)
        gw.close_mid_response(count=1)
        p.update_by_receiver()
        expect_push(gw, data, 3, timeout=8.0, what="garbage, closed mid-response, then OK")
        reqs = gw.requests_with_token(data)
        assert all(q.json == reqs[0].json for q in reqs), "the retries did not repeat the same " \
            "batch: %s" % gw.describe()
        _spacing(reqs, "garbage, close, OK", [sped_up(0.9, 1.2), sped_up(1.9, 2.3)])
        assert len({q.conn_id for q in reqs}) == 3, "each retry after a broken connection " \
            "needs a new one: %s" % gw.describe()
        expect_equal(reqs[2].status, 200, "last answer")
        fence(gw, p, "push after the retried one")
        expect_equal(gw.token_count(data), 3, "requests carrying the retried notification")
    expect_counters(push_counters(relay), "a retried push delivered (and one more at the stop)",
                    sent=(1, 2), dropped=0, queued_max=1)


# ---------------------------------------------- 5. Retry-After

def test_503_retry_after_is_honoured_and_429_retried():
    with GorushStandin() as gw, relay_for(gw, speedup=SPEEDUP) as relay:
        p = Pair(relay, sender_token=tok(APNS), receiver_token=tok(FCM))
        data = p.sender_token["tokenData"]
        gw.answer_status(503, count=1, retry_after=3)
        p.update_by_receiver()
        expect_push(gw, data, 2, timeout=9.0, what="503 Retry-After: 3, then OK")
        reqs = gw.requests_with_token(data)
        gap = reqs[1].received_at - reqs[0].answered_at
        report("503 Retry-After: 3 -> retried after %.2f s (sped up %d times)" % (gap, SPEEDUP))
        low, high = sped_up(2.9, 3.3)
        assert low <= gap <= high, "retry %.2f s after a 503 with Retry-After: 3 " \
            "(expected %.2f-%.2f s, sped up %d times)" % (gap, low, high, SPEEDUP)
        assert reqs[1].json == reqs[0].json, "the retry is not the same batch: %s" % gw.describe()

        # 429 without Retry-After: the ordinary 1 s backoff.
        gw.answer_status(429, count=1)
        p.update_by_receiver()
        expect_push(gw, data, 4, timeout=5.0, what="429, then OK")
        reqs = gw.requests_with_token(data)[2:]
        expect_equal([q.status for q in reqs], [429, 200], "statuses answered")
        _spacing(reqs, "429 then OK", [sped_up(0.9, 1.2)])


# ---------------------------------------------- 6. invalid tokens

INVALID_ERRORS = [(APNS, "BadDeviceToken"), (APNS, "Unregistered"),
                  (APNS, "DeviceTokenNotForTopic"),
                  (FCM, "NotRegistered"), (FCM, "InvalidRegistration"),
                  (FCM, "registration-token-not-registered"), (APNS, "baddevicetoken"),
                  (FCM, "NOTREGISTERED")]
TRANSIENT_ERRORS = [(APNS, "InternalServerError"), (FCM, "Unavailable")]


def test_invalid_token_reports_forget_the_token_transient_ones_do_not():
    with GorushStandin() as gw, relay_for(gw) as relay:
        fence_pair = Pair(relay, sender_token=None, receiver_token=tok(FCM))
        cases = []
        for type_, error in INVALID_ERRORS + TRANSIENT_ERRORS:
            p = Pair(relay, sender_token=tok(type_), receiver_token=None)
            gw.fail_token(p.sender_token["tokenData"], error)
            cases.append((p, error, (type_, error) in INVALID_ERRORS))
        for p, _, _ in cases:
            p.update_by_receiver()
        for p, error, _ in cases:
            expect_push(gw, p.sender_token["tokenData"], what="first push (reported %s)" % error)
        # The fence is sent after the answer that reported the failures was read.
        fence(gw, fence_pair, "fence after the failure reports")
        for p, error, _ in cases:
            expect_equal(gw.token_count(p.sender_token["tokenData"]), 1,
                         "pushes to a token reported %s (a per-token failure is not retried)"
                         % error)
        for p, _, _ in cases:
            p.update_by_receiver()
        fence(gw, fence_pair, "fence after the second updates")
        problems = []
        for p, error, invalid in cases:
            n = gw.token_count(p.sender_token["tokenData"])
            if invalid and n != 1:
                problems.append("token reported %s was pushed again (%d pushes)" % (error, n))
            if not invalid and n != 2:
                problems.append("token reported %s (transient) got %d pushes, expected 2"
                                % (error, n))
        assert not problems, "\n".join(problems) + "\n" + gw.describe(30)
    c = push_counters(relay)
    assert c["failed"] >= 2 * len(TRANSIENT_ERRORS), (
        "failed counter %d after %d transient per-token failures: %r"
        % (c["failed"], 2 * len(TRANSIENT_ERRORS), c))


# ---------------------------------------------- 7. slow gateway, API latency

PACE_S = 0.004


def _paced(due):
    """Wait for the next request's turn (due), and return the one after."""
    time.sleep(max(0.0, due - time.monotonic()))
    return max(due, time.monotonic() - PACE_S) + PACE_S


def _load(relay, duration_s=2.5, readers=3, platforms=None):
    """Receiver reads on `readers` keep-alive connections while one more
    connection keeps updating (each update pushes to a Sender's token),
    each connection one request every PACE_S: a steady load, not as much
    as Python can send, which took both cores from the other modules and
    measured no more. Returns (read latencies ms, update latencies ms);
    platforms (a dict) receives tokenData -> gorush platform of the
    Senders' tokens."""
    pairs = [Pair(relay, sender_token=tok(APNS if i % 2 else FCM), receiver_token=None)
             for i in range(4)]
    if platforms is not None:
        for p in pairs:
            platforms[p.sender_token["tokenData"]] = 1 if p.sender_token["type"] == APNS else 2
    reads, updates, errors = [], [], []
    stop_at = [None]
    start = threading.Barrier(readers + 1, action=lambda: stop_at.__setitem__(
        0, time.monotonic() + duration_s))

    def reader(k):
        try:
            with Conn(relay) as conn:
                p = pairs[k % len(pairs)]
                expect_json(read(relay, p.id, p.receiver, conn=conn), 200, "warm-up")
                start.wait(10)
                due = time.monotonic()
                while time.monotonic() < stop_at[0]:
                    due = _paced(due)
                    t = time.perf_counter()
                    resp = read(relay, p.id, p.receiver, conn=conn)
                    reads.append((time.perf_counter() - t) * 1000.0)
                    expect_status(resp, 200, "read under load")
        except BaseException as e:           # reported by the test
            errors.append(e)

    def writer():
        try:
            with Conn(relay) as conn:
                i = 0
                due = time.monotonic()
                while time.monotonic() < stop_at[0]:
                    due = _paced(due)
                    p = pairs[i % len(pairs)]
                    t = time.perf_counter()
                    resp = update(relay, p.id, p.receiver, update_body(), conn=conn)
                    updates.append((time.perf_counter() - t) * 1000.0)
                    expect_status(resp, 200, "update under load")
                    i += 1
        except BaseException as e:
            errors.append(e)

    threads = [threading.Thread(target=reader, args=(k,)) for k in range(readers)]
    old = sys.getswitchinterval()
    sys.setswitchinterval(0.0005)            # less GIL noise in the client's own figures
    try:
        for t in threads:
            t.start()
        start.wait(10)
        w = threading.Thread(target=writer)
        w.start()
        for t in threads + [w]:
            t.join(duration_s + 30)
    finally:
        sys.setswitchinterval(old)
    if errors:
        raise errors[0]
    assert len(reads) > 50 and len(updates) > 10, "too few requests under load: %d reads, " \
        "%d updates" % (len(reads), len(updates))
    return reads, updates


def test_slow_gateway_does_not_slow_the_api():
    with GorushStandin() as gw:
        gw.slow(5.0)
        platforms = {}
        with relay_for(gw) as slow_relay:
            slow_reads, slow_updates = _load(slow_relay, platforms=platforms)
            assert gw.wait_for(1, 2.0), "no push reached the slow gateway during the load"
        # Batches (at most 100 notifications each), every notification exact.
        for i, req in enumerate(gw.requests()):
            check_request_form(req, "batch %d to the slow gateway" % (i + 1))
            for n in req.notifications():
                data = (n.get("tokens") or [None])[0]
                assert data in platforms, "unknown token in %r" % (n,)
                expect_equal(n, expected_notification(platforms[data], data),
                             "batched notification")
    with relay_for(None) as relay:
        bare_reads, bare_updates = _load(relay)
    p99 = percentile(slow_reads, 99)
    p99_bare = percentile(bare_reads, 99)
    report("read p99 with a slow (5 s) gateway: %.2f ms (%d reads, max %.2f ms; update p99 "
           "%.2f ms over %d); without a gateway: %.2f ms (%d reads, max %.2f ms; update p99 "
           "%.2f ms over %d)" % (p99, len(slow_reads), max(slow_reads),
                                 percentile(slow_updates, 99), len(slow_updates),
                                 p99_bare, len(bare_reads), max(bare_reads),
                                 percentile(bare_updates, 99), len(bare_updates)))
    assert p99 < 100 and max(slow_reads) < 1000, (
        "reads slowed by a slow gateway: p99 %.1f ms, max %.1f ms (without a gateway: p99 %.1f "
        "ms)" % (p99, max(slow_reads), p99_bare))
    up99 = percentile(slow_updates, 99)
    assert up99 < 100 and max(slow_updates) < 1000, (
        "updates slowed by a slow gateway: p99 %.1f ms, max %.1f ms (without: p99 %.1f ms)"
        % (up99, max(slow_updates), percentile(bare_updates, 99)))
    c = push_counters(slow_relay)
    # A batch (at most 100) may be in flight at the stop.
    assert sum(c.values()) >= len(slow_updates) - 100, (
        "counters after %d pushes to a slow gateway account for fewer: %r" % (len(slow_updates), c))


# ---------------------------------------------- 8. queue bound

def _without_asan_quarantine():
    """AddressSanitizer keeps freed memory in quarantine (256 MiB by default),
    so under `make check` RSS would grow whatever the queue does. This test's
    relay runs with no quarantine; every other test keeps it."""
    options = os.environ.get("ASAN_OPTIONS", "")
    return dict(os.environ, ASAN_OPTIONS=(options + ":" if options else "") + "quarantine_size_mb=0")


def test_queue_bound_counts_drops_and_memory_stays_flat():
    down = GorushStandin(start=False)
    total = 0
    relay = relay_for(down, "--push-queue", "5")
    relay.env = _without_asan_quarantine()
    with relay:
        # Big tokens (4096 characters, the most a token may have), so that an
        # unbounded queue would show in the relay's memory.
        pairs = [Pair(relay, sender_token=tok(APNS, new_token_data(4096)), receiver_token=None)
                 for _ in range(10)]
        with Conn(relay) as conn:
            for i in range(50):
                pairs[i % 10].update_by_receiver(conn=conn)
            total += 50
            rss_before = rss_bytes(relay)
            for i in range(2500):
                pairs[i % 10].update_by_receiver(conn=conn)
            total += 2500
            rss_after = rss_bytes(relay)
    c = push_counters(relay)
    growth = rss_after - rss_before
    report("queue bound 5, %d pushes to a down gateway: %r, RSS %+.2f MiB" % (
        total, c, growth / 1048576.0))
    assert c["sent"] == 0, "pushes sent to a gateway that is down: %r" % c
    assert c["queued"] <= 10, "more than the queue bound left queued: %r" % c
    assert c["dropped"] >= total - 10, (
        "with --push-queue 5 and %d pushes to a down gateway at most 10 (5 queued, at most 5 "
        "in flight) can escape being dropped, yet dropped is %d: %r" % (total, c["dropped"], c))
    assert growth < 4 * 1048576, "RSS grew by %.1f MiB over 2500 pushes with a queue of 5" % (
        growth / 1048576.0)


def test_queue_full_drops_the_oldest():
    with GorushStandin() as gw, relay_for(gw, "--push-queue", "5") as relay:
        pairs = [Pair(relay, sender_token=tok(APNS), receiver_token=None) for _ in range(10)]
        data = [p.sender_token["tokenData"] for p in pairs]
        gw.slow(1.5, count=1)             # holds the first push while the others queue up
        pairs[0].update_by_receiver()
        expect_push(gw, data[0], what="first push (held by the gateway)")
        for p in pairs[1:]:
            p.update_by_receiver()
        expect_push(gw, data[9], timeout=6.0, what="newest push once the gateway answered")
        for i, req in enumerate(gw.requests()):
            check_request_form(req, "request %d" % (i + 1))
        got = [i + 1 for i, d in enumerate(data) if gw.token_count(d)]
        # 1 is in flight; 2..10 wait for a queue of 5: 2..5 (and 6, if the
        # flight counts against the bound) are the oldest and go.
        assert got in ([1, 6, 7, 8, 9, 10], [1, 7, 8, 9, 10]), (
            "pushes delivered after a full queue of 5 (1 held, 2..10 queued): %s; expected "
            "1 and the newest five (or four)\n%s" % (got, gw.describe()))
    c = push_counters(relay)
    assert c["dropped"] >= 4, "pushes dropped from a full queue: %r" % c


def test_batches_hold_at_most_100_and_lose_nothing():
    with GorushStandin() as gw, relay_for(gw) as relay:
        pairs = [Pair(relay, sender_token=tok(APNS if i % 2 else FCM), receiver_token=None)
                 for i in range(5)]
        gw.slow(1.0, count=1)             # holds the first push while 250 more queue up
        pairs[0].update_by_receiver()
        expect_push(gw, pairs[0].sender_token["tokenData"], what="first push (held)")
        with Conn(relay) as conn:
            for i in range(250):
                pairs[i % 5].update_by_receiver(conn=conn)
        total = 251
        if not gw.wait_until(lambda reqs: sum(len(r.notifications()) for r in reqs) >= total,
                             8.0):
            raise AssertionError("%d notifications queued behind a held one, %d arrived: %s" % (
                total, len(gw.notifications()), gw.describe()))
        for i, req in enumerate(gw.requests()):
            check_request_form(req, "request %d" % (i + 1))
        for p in pairs:
            d = p.sender_token["tokenData"]
            for _, n in gw.notifications():
                if d in (n.get("tokens") or []):
                    expect_equal(n, expected_notification(1 if p.sender_token["type"] == APNS
                                                          else 2, d), "batched notification")
        expect_equal(len(gw.notifications()), total, "notifications received")
        report("251 pushes, the first held 1 s: %d requests of %s notifications" % (
            len(gw.requests()), [len(r.notifications()) for r in gw.requests()]))


# ---------------------------------------------- timeout

def test_gateway_timeout_after_10_s_is_retried():
    with GorushStandin() as gw, relay_for(gw, speedup=SPEEDUP) as relay:
        p = Pair(relay, sender_token=tok(APNS), receiver_token=tok(FCM))
        data = p.sender_token["tokenData"]
        gw.slow(20.0 / SPEEDUP, count=1)  # never answers the first request in time
        p.update_by_receiver()
        lat = []
        expect_push(gw, data, what="first try")
        for _ in range(20):
            t = time.perf_counter()
            p.read_as_receiver()
            lat.append((time.perf_counter() - t) * 1000.0)
        expect_push(gw, data, 2, timeout=16.0, what="retry after a 10 s timeout")
        first, second = gw.requests_with_token(data)[:2]
        gap = second.received_at - first.received_at
        report("gateway silent: retried %.2f s after the first try (10 s timeout + 1 s, sped up "
               "%d times)" % (gap, SPEEDUP))
        low, high = sped_up(10.5, 11.5)
        assert low <= gap <= high, "retry %.2f s after a request the gateway never answered " \
            "(expected the 10 s timeout, then the 1 s backoff, sped up %d times: %.2f-%.2f s)" % (
                gap, SPEEDUP, low, high)
        assert second.conn_id != first.conn_id, "the retry went over the timed-out connection"
        assert max(lat) < 200, "API slowed while the gateway hung: %s ms" % (
            ["%.1f" % x for x in lat])
        expect_equal(second.status, 200, "answer to the retry")


# ---------------------------------------------- 9. https gateway

def test_https_gateway_verified():
    ca, stranger = CertAuthority(), CertAuthority("some-other-ca")
    try:
        cert, key = ca.issue("localhost", "DNS:localhost")
        with GorushStandin(tls=(cert, key)) as gw:
            with relay_for(gw, "--push-cacert", ca.cert) as relay:
                p = Pair(relay, sender_token=tok(APNS), receiver_token=tok(FCM))
                p.update_by_receiver()
                expect_push(gw, p.sender_token["tokenData"], what="push over https")
                exact_notification(gw, p.sender_token["tokenData"], 1, "https push")
                fence(gw, p, "settling push over https")
            expect_counters(push_counters(relay), "https push (and one more at the stop)",
                            sent=(1, 2), failed=0, dropped=0)

            # Untrusted: another CA; the name is right but nobody vouches for it.
            # Then: the right CA, but the URL names 127.0.0.1, which the
            # certificate does not. Then: no --push-cacert (system CAs).
            cases = [("certificate from an untrusted CA", gw.url, ["--push-cacert", stranger.cert]),
                     ("certificate for another name", "https://127.0.0.1:%d" % gw.port,
                      ["--push-cacert", ca.cert]),
                     ("no --push-cacert (system CAs)", gw.url, [])]
            for what, url, extra in cases:
                before_reqs, before_closed = len(gw.requests()), gw.closed_without_request
                with relay_for(url, *(extra + ["--push-retries", "0"])) as relay:
                    p = Pair(relay, sender_token=tok(APNS), receiver_token=None)
                    lat = []
                    for _ in range(10):
                        t = time.perf_counter()
                        p.update_by_receiver()
                        lat.append((time.perf_counter() - t) * 1000.0)
                    # The relay gave the connection up (and so has judged it).
                    assert gw.wait_for_closed_without_request(before_closed + 1, 5.0), (
                        "%s: the relay never connected to the gateway and gave up" % what)
                    assert max(lat) < 200, "%s: API slowed: %s ms" % (
                        what, ["%.1f" % x for x in lat])
                expect_equal(len(gw.requests()), before_reqs,
                             "%s: requests the gateway received" % what)
                c = push_counters(relay)
                assert c["sent"] == 0 and c["failed"] >= 1, (
                    "%s: expected nothing sent and the push counted failed: %r" % (what, c))
    finally:
        ca.cleanup()
        stranger.cleanup()



def test_https_gateway_ip_spelled_as_dns_name_refused():
    # The URL names 127.0.0.1 and the certificate (from the right CA) has it
    # only as a dNSName: mbedTLS alone would take the text for the address;
    # an IP host must match an iPAddress entry (RFC 9525), as for the client.
    ca = CertAuthority()
    try:
        cert, key = ca.issue("127.0.0.1", "DNS:127.0.0.1")
        with GorushStandin(tls=(cert, key)) as gw:
            url = "https://127.0.0.1:%d" % gw.port
            with relay_for(url, "--push-cacert", ca.cert, "--push-retries", "0") as relay:
                Pair(relay, sender_token=tok(APNS), receiver_token=None).update_by_receiver()
                assert gw.wait_for_closed_without_request(1, 5.0), (
                    "the relay never connected to the gateway and gave up")
            expect_equal(len(gw.requests()), 0, "requests the gateway received")
            c = push_counters(relay)
            assert c["sent"] == 0 and c["failed"] >= 1, (
                "expected nothing sent and the push counted failed: %r" % c)
    finally:
        ca.cleanup()

# ---------------------------------------------- 10. no token in any log line

def test_no_token_in_any_log_line():
    # A run of its own, so the test means something when run alone...
    with GorushStandin() as gw, relay_for(gw) as relay:
        p = Pair(relay, sender_token=tok(APNS), receiver_token=tok(FCM))
        gw.fail_token(p.sender_token["tokenData"], "BadDeviceToken")
        gw.answer_status(503, count=1, retry_after=1)
        p.update_by_receiver()
        p.update_by_sender()
        expect_push(gw, p.receiver_token["tokenData"], timeout=8.0, what="push to the Receiver")
        expect_status(relinquish(relay, p.id, p.receiver), 200, "relinquish")
        expect_status(delete(relay, p.id, p.sender), 200, "delete")
    with relay_for("http://127.0.0.1:%d" % free_port(), "--push-retries", "0") as relay:
        Pair(relay, sender_token=tok(APNS), receiver_token=None).update_by_receiver()
    # ...then the output of every relay this module started (all at debug).
    # Every token is lower-case hex: look for any 16 characters of the first
    # 64 of a token inside any run of hex digits in the output.
    windows = {}
    for data in _TOKENS:
        head = data[:64].lower()
        for i in range(len(head) - 15):
            windows[head[i:i + 16]] = data
    leaks = []
    for relay in _RELAYS:
        if relay.proc is not None:
            continue                      # still running (should not happen)
        text = relay.stdout.text() + "\n" + relay.stderr.text()
        low = text.lower()
        for m in re.finditer(r"[0-9a-f]{16,}", low):
            run = m.group()
            hit = next((run[i:i + 16] for i in range(len(run) - 15) if run[i:i + 16] in windows),
                       None)
            if hit:
                j = m.start()
                leaks.append("relay %s: token %s... in %r" % (
                    " ".join(relay.extra_args[:6]), windows[hit][:8], text[max(0, j - 60):j + 80]))
    assert not leaks, "tokens in the relays' output:\n" + "\n".join(leaks[:10])
    with_gateway = [r for r in _RELAYS if "--push-gateway" in r.extra_args and r.proc is None
                    and getattr(r, "returncode", None) == 0]
    for relay in with_gateway:
        push_counters(relay)              # one counters line at each clean stop


# ---------------------------------------------- 11. options

def test_bad_push_options_exit_2_naming_the_option():
    gw = ["--push-gateway", "http://127.0.0.1:9"]
    rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--frobnicate-widgets"], timeout_s=5)
    unknown_template = err.strip().replace("--frobnicate-widgets", "{}")
    bad = [(["--push-map", "foo"] + gw, "--push-map"),
           (["--push-map", "com.apple.apns=x"] + gw, "--push-map"),
           (["--push-map", "com.apple.apns="] + gw, "--push-map"),
           (["--push-map", "=1"] + gw, "--push-map"),
           (["--push-map", "com.apple.apns=1,"] + gw, "--push-map"),
           (["--push-gateway", "ftp://x"], "--push-gateway"),
           (["--push-gateway", "localhost:8088"], "--push-gateway"),
           (["--push-gateway", "http://"], "--push-gateway"),
           (["--push-queue", "0"] + gw, "--push-queue"),
           (["--push-queue", "many"] + gw, "--push-queue"),
           (["--push-queue", "-5"] + gw, "--push-queue"),
           (["--push-retries", "-1"] + gw, "--push-retries"),
           (["--push-retries", "x"] + gw, "--push-retries")]
    ca = CertAuthority()
    problems = []
    try:
        bad.append((["--push-cacert", ca.cert], ("--push-cacert", "--push-gateway")))
        for args, names in bad:
            names = names if isinstance(names, tuple) else (names,)
            try:
                rc, out, err = run_relay(["--listen", "127.0.0.1:0"] + args, timeout_s=5)
            except AssertionError as e:
                problems.append("%s: %s" % (" ".join(args), e))
                continue
            lines = err.splitlines()
            what = " ".join(args)
            if rc != 2:
                problems.append("%s: exit status %d, expected 2 (stderr %r)" % (what, rc, err))
            elif len(lines) != 1:
                problems.append("%s: %d stderr lines, expected one: %r" % (what, len(lines), err))
            elif not any(n in lines[0] for n in names):
                problems.append("%s: error line does not name %s: %r" % (
                    what, " or ".join(names), lines[0]))
            elif any(unknown_template.format(n) == lines[0].strip() for n in names):
                problems.append("%s: the relay does not know the option: %r" % (what, lines[0]))
        # Control: the same options with good values start a relay.
        good = Relay("--push-gateway", "https://localhost:9", "--push-cacert", ca.cert,
                     "--push-map", "%s=1,%s=2,%s=7" % (APNS, FCM, OWN),
                     "--push-queue", "1", "--push-retries", "0")
        with good:
            pass
    finally:
        ca.cleanup()
    assert not problems, "bad push options:\n" + "\n".join(problems)


if __name__ == "__main__":
    # Run this module's tests directly (figures on stdout):
    #   RELAY_BIN=./relay python3 test/integration/test_push.py [NAME...]
    failed = 0
    for name, fn in list(globals().items()):
        if name.startswith("test_") and callable(fn) and (len(sys.argv) < 2 or any(
                a in name for a in sys.argv[1:])):
            t = time.monotonic()
            try:
                fn()
                print("ok   %s (%.1f s)" % (name, time.monotonic() - t), flush=True)
            except AssertionError as e:
                failed += 1
                print("FAIL %s (%.1f s): %s" % (name, time.monotonic() - t, e), flush=True)
    sys.exit(1 if failed else 0)
