"""The relay's log (issue 14): 429s and 503s at warn, at most one line per
reason and second however many there are, with counts that add up to the
refusals; bad --log-format values. test_privacy checks that no secret
reaches a line in either format, test_cli that a start error is one line,
and test/unit/test_log.c how values are written."""

import math
import time

from relaytest import (Conn, Relay, build_request, create, default_body, encode_body, expect_error,
                       expect_json, new_claim, read, run_relay)

EXPECTED_SECONDS = 3

FLOOD_REFUSALS = 5000
FLOOD_MIN_S = 2.0               # long enough for two once-a-second lines, and the stop's
FLOOD_MAX_S = 15.0
BATCH = 100                     # pipelined requests per write


def _pipelined(conn, requests, method):
    """Send requests in one write, read as many answers: their statuses."""
    conn.send(b"".join(requests))
    return [conn.read_response(method).status for _ in requests]


def _ts(event):
    t = time.strptime(event["ts"][:19], "%Y-%m-%dT%H:%M:%S")
    return time.mktime(t) + int(event["ts"][20:23]) / 1000.0


def test_a_flood_of_refusals_is_one_warn_line_per_reason_and_second():
    # A full store (503 store_full) and a spent --rate-fail (429 rate_fail),
    # both flooded at once from one client: thousands of refusals, a
    # handful of lines.
    with Relay("--no-tls", "--log-format", "json", "--max-mailboxes", "1", "--rate-fail", "1/h",
               tls=False) as relay:
        mid = expect_json(create(relay), 200, "the one mailbox")["urlLink"].rsplit("/", 1)[1]
        expect_json(read(relay, mid, new_claim()), 200, "the Receiver binds")
        expect_error(read(relay, mid, new_claim()), 401, "unauthorized",
                     "the failed claim check that spends --rate-fail")
        body = encode_body(default_body())
        creates = [build_request("POST", "/v1/m", {"Mailbox-Device-Claim": new_claim(),
                                                   "Content-Type": "application/json"}, body)
                   for _ in range(BATCH)]
        reads = [build_request("POST", "/v1/m/" + mid, {"Mailbox-Device-Claim": new_claim()})
                 for _ in range(BATCH)]
        seen = {503: 0, 429: 0}
        started = time.monotonic()
        with Conn(relay) as a, Conn(relay) as b:
            while True:
                elapsed = time.monotonic() - started
                if elapsed > FLOOD_MAX_S or (elapsed > FLOOD_MIN_S and
                                             sum(seen.values()) >= FLOOD_REFUSALS):
                    break
                for status in _pipelined(a, creates, "POST") + _pipelined(b, reads, "POST"):
                    assert status in seen, "a flooded request answered %d" % status
                    seen[status] += 1
        relay.stop()                # the last second's lines come at the stop
        flood_s = time.monotonic() - started
    lines = {}
    for e in relay.events():
        if "reason" in e:
            lines.setdefault(e["reason"], []).append(e)
    assert set(lines) == {"store_full", "rate_fail"}, "refusal lines: %r" % lines
    for reason, status, msg in (("store_full", 503, "refused: over a limit"),
                                ("rate_fail", 429, "rate limited")):
        got = lines[reason]
        assert all(set(e) == {"ts", "level", "msg", "reason", "status", "count"} and
                   e["level"] == "warn" and e["status"] == status and e["msg"] == msg
                   for e in got), "%s: %r" % (reason, got[:3])
        assert sum(e["count"] for e in got) == seen[status], \
            "%s: the lines count %d refusals, the client saw %d" % (
                reason, sum(e["count"] for e in got), seen[status])
        # One a second at most (and one more at the stop).
        assert 2 <= len(got) <= math.ceil(flood_s) + 2, \
            "%s: %d lines for %d refusals in %.1f s" % (reason, len(got), seen[status], flood_s)
        gaps = [_ts(b) - _ts(a) for a, b in zip(got, got[1:-1])]
        assert all(g >= 0.5 for g in gaps), "%s: lines %r s apart" % (reason, gaps)
    assert sum(seen.values()) >= FLOOD_REFUSALS or flood_s >= FLOOD_MAX_S, seen
    return "%d refusals in %.1f s, logged in %d lines" % (
        sum(seen.values()), flood_s, sum(len(v) for v in lines.values()))


def test_refusals_are_not_logged_per_request_below_warn():
    # --log-level error: the refusal lines are warnings, so none is written;
    # the start-up notices are, whatever the level.
    with Relay("--max-mailboxes", "1", "--log-level", "error") as relay:
        expect_json(create(relay), 200)
        expect_error(create(relay), 503, "store_full")
    levels = {e["level"] for e in relay.events()}
    assert levels == {"notice"}, "at --log-level error: %r" % relay.stderr.lines()


def test_bad_log_format_exit_2_one_line_naming_the_option():
    for value in ("xml", "JSON", "", "json,text", "text\n2030-01-01T00:00:00.000Z error forged"):
        rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--log-format", value])
        lines = err.splitlines()
        assert rc == 2 and out == "" and len(lines) == 1, \
            "--log-format %r: exit %d, stdout %r, stderr %r" % (value, rc, out, err)
        assert "--log-format" in lines[0] and "text or json" in lines[0], lines[0]
        assert "forged" not in err, "the bad value was echoed: %r" % err
    rc, out, err = run_relay(["--log-format"])
    assert rc == 2 and "--log-format" in err and len(err.splitlines()) == 1, (rc, err)
