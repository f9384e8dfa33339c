"""Privacy duties (spec §4, §8, §10), in both log formats: with --log-level
debug, no log line ever holds a claim, token, attestation, mailbox id,
payload, display text or Mailbox-Request-ID, nor the base64 or hex form of
one, not even on the error paths (malformed and wrong claims, rate limits,
a full store, too many long-polls); error messages do not echo them; client
addresses are not logged. Everything the relay writes is a log line on
stderr: with --log-format json each line one JSON object with ts, level and
msg, with text each line starting with its timestamp; stdout stays empty."""

import json

from flows import Secrets, _error, _mailbox_id, _token, stateful_flow, stateless_flow
from relaytest import (LOG_TS_RE, Relay, call, create, expect_json, expect_status, new_claim,
                       parse_log_line, preview, read)

EXPECTED_SECONDS = 12

CLIENT_ADDRESS = "127.0.0.2"     # loopback, but never the relay's own address
FORMATS = ("text", "json")
# The refusals limits_flow provokes, one of each.
REFUSALS = {"store_full": 503, "rate_create": 429, "rate_fail": 429, "waiters": 503}


def limits_flow(relay, s):
    """Every refusal, each request carrying secrets. The relay runs with
    --max-mailboxes 1 --rate-create 2/h --rate-fail 2/h --max-waiters 0."""
    body = {"payload": s.payload(), "displayInformation": s.display(),
            "notificationToken": _token(s.sender_token)}
    attest = {"Mailbox-Device-Attestation": s.attestation}
    _, mid = _mailbox_id(create(relay, s.sender, body, headers=attest,
                                request_id=s.request_id("create")))
    s.mailbox_ids.append(mid)
    _error(s, create(relay, s.sender, body, headers=attest, request_id=s.request_id("full")),
           503, "store_full", "create past --max-mailboxes")
    _error(s, create(relay, s.sender, body, headers=attest, request_id=s.request_id("rate")),
           429, "rate_limited", "create past --rate-create")
    resp = read(relay, mid, s.receiver, {"notificationToken": _token(s.receiver_token)},
                headers=attest, request_id=s.request_id("read"))
    expect_json(resp, 200, "the Receiver reads")
    _error(s, call(relay, "POST", "/v1/m/" + mid, claim=s.receiver,
                   headers={"If-None-Match": resp.header("ETag"), "Prefer": "wait=5"},
                   request_id=s.request_id("wait")),
           503, "too_many_waiters", "a long-poll past --max-waiters 0")
    # Two failed claim checks spend --rate-fail; the third claim is refused
    # before it is looked at.
    _error(s, read(relay, mid, s.second_receiver, request_id=s.request_id("wrong")), 401,
           "unauthorized", "a third party's claim")
    _error(s, read(relay, mid, "{%s}" % s.second_receiver, request_id=s.request_id("braced")),
           401, "invalid_claim", "a braced claim")
    _error(s, read(relay, mid, s.receiver, request_id=s.request_id("guess")), 429,
           "rate_limited", "a claim past --rate-fail")


def _run(log_format):
    """Both relays of one format, run and stopped: [(relay, secrets)]."""
    common = ("--log-level", "debug", "--log-format", log_format)
    runs = []
    relay = Relay(*common)
    relay.client_source = (CLIENT_ADDRESS, 0)
    secrets = [Secrets(), Secrets()]
    relay.start()
    try:
        stateless_flow(relay, secrets[0])
        stateful_flow(relay, secrets[1], rounds=2)
        expect_status(preview(relay, new_claim()), 404)
        expect_status(preview(relay, secrets[0].mailbox_ids[0], method="HEAD"), 404)
    finally:
        relay.stop()
    runs.append((relay, secrets))
    relay = Relay(*common, "--max-mailboxes", "1", "--rate-create", "2/h", "--rate-fail", "2/h",
                  "--max-waiters", "0")
    relay.client_source = (CLIENT_ADDRESS, 0)
    secrets = [Secrets()]
    relay.start()
    try:
        limits_flow(relay, secrets[0])
    finally:
        relay.stop()
    runs.append((relay, secrets))
    return runs


_results = {}


def _runs():
    """Every run of both formats, once for the whole module (a failure is
    re-raised for each test)."""
    for log_format in FORMATS:
        if log_format not in _results:
            try:
                _results[log_format] = _run(log_format)
            except BaseException as e:       # remembered, so every test reports it
                _results[log_format] = e
        if isinstance(_results[log_format], BaseException):
            raise AssertionError("the flows on the debug-logging relay (--log-format %s) "
                                 "failed: %s" % (log_format, _results[log_format]))
    return [(f, relay, secrets) for f in FORMATS for relay, secrets in _results[f]]


def test_logs_hold_no_secrets():
    leaks = []
    for log_format, relay, secrets in _runs():
        logs = relay.stdout.text() + "\n" + relay.stderr.text()
        for s in secrets:
            for needle, what in s.needles():
                i = logs.lower().find(needle.lower())
                if i >= 0:
                    leaks.append("%s: %s %r in %r" % (log_format, what, needle,
                                                      logs[max(0, i - 60):i + 60]))
    assert not leaks, "secrets in the relay's output:\n" + "\n".join(leaks[:10])


def test_error_messages_echo_nothing():
    leaks = []
    for _, _, secrets in _runs():
        for s in secrets:
            assert s.error_bodies, "the flow produced no error responses to inspect"
            for body in s.error_bodies:
                text = body.decode("utf-8", "replace")
                for needle, what in s.needles():
                    if needle.lower() in text.lower():
                        leaks.append("%s in error body %r" % (what, text[:200]))
    assert not leaks, "error messages echo request data:\n" + "\n".join(leaks[:10])


def test_client_address_not_logged():
    for log_format, relay, _ in _runs():
        logs = relay.stdout.text() + relay.stderr.text()
        i = logs.find(CLIENT_ADDRESS)
        assert i < 0, "%s: client address %s appears in the logs: %r" % (
            log_format, CLIENT_ADDRESS, logs[max(0, i - 80):i + 40])


def test_stdout_stays_empty():
    for log_format, relay, _ in _runs():
        assert relay.stdout.text() == "", "%s: the relay wrote on stdout (its log belongs on " \
            "stderr): %r" % (log_format, relay.stdout.text()[:400])


def test_every_line_is_a_log_line_of_its_format():
    for log_format, relay, _ in _runs():
        text = relay.stderr.text()
        assert text.endswith("\n"), "%s: the log does not end in a whole line" % log_format
        for line in relay.stderr.lines():
            if log_format == "json":
                event = json.loads(line)
                assert isinstance(event, dict), "not a JSON object: %r" % line
                for key in ("ts", "level", "msg"):
                    assert isinstance(event.get(key), str), "no %s in %r" % (key, line)
                assert LOG_TS_RE.match(event["ts"]), line
            else:
                assert LOG_TS_RE.match(line[:24]) and line[24] == " ", \
                    "a text line that does not start with its timestamp: %r" % line
            parse_log_line(line)        # and strictly so (ValueError otherwise)


def test_debug_logging_logged_the_traffic_and_the_refusals():
    # Otherwise the checks above prove nothing.
    for log_format, relay, _ in _runs():
        events = [parse_log_line(l) for l in relay.stderr.lines()]
        answered = [e for e in events if e["msg"] == "request answered"]
        assert len(answered) >= 8, "%s: --log-level debug logged %d answers" % (
            log_format, len(answered))
        for e in answered:
            assert set(e) == {"ts", "level", "msg", "method", "status", "request"}, e
    refusals = {}
    for log_format, relay, _ in _runs():
        for e in (parse_log_line(l) for l in relay.stderr.lines()):
            if e["level"] == "warn" and "reason" in e:
                assert set(e) == {"ts", "level", "msg", "reason", "status", "count"}, e
                refusals.setdefault(log_format, {})[e["reason"]] = (e["status"], e["count"])
    for log_format in FORMATS:
        got = refusals.get(log_format, {})
        assert got == {r: (status, 1) for r, status in REFUSALS.items()}, \
            "%s: the refusals logged (reason: status, count): %r" % (log_format, got)
