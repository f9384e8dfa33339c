"""--access-log (issue 14): one line per answered request on stderr, through
the log module: method, route template (never the mailbox id), status,
bytes, duration in microseconds, TLS version, resumed or not. Off by
default; never a claim, token, payload, id or client address."""

import re
import ssl

from flows import both_flows
from relaytest import (Conn, Relay, bind_receiver, call, client_context, delete, expect_json,
                       expect_status, log_events, new_claim, new_mailbox, parse_log_line,
                       preview, read, relinquish, run_relay, update, wait_until)

EXPECTED_SECONDS = 8

FIELDS = {"method", "route", "status", "bytes", "duration_us", "tls", "resumed"}
ROUTES = {"/v1/m", "/v1/m/{id}", "other", "/.well-known/apple-app-site-association",
          "/.well-known/assetlinks.json"}


def access_lines(relay):
    return [l for l in relay.stderr.lines()
            if any(e["msg"] == "request" for e in log_events([l]))]


def records(relay, n, what):
    """The first n access-log lines, parsed, once there are n."""
    wait_until(lambda: len(access_lines(relay)) >= n, 5, "%d access-log lines (%s)" % (n, what))
    out = []
    for line in access_lines(relay)[:n]:
        e = parse_log_line(line)
        assert e["level"] == "info" and set(e) - {"ts", "level", "msg"} <= FIELDS, (
            "access-log line not in the expected form: %r" % line)
        assert isinstance(e.get("status"), int) and isinstance(e.get("bytes"), int) and \
            isinstance(e.get("duration_us"), int) and isinstance(e.get("resumed"), bool), (
                "access-log line not in the expected form: %r" % line)
        tls = e.get("tls", "-")
        assert tls in ("TLSv1.2", "TLSv1.3", "-"), "tls %r: %r" % (tls, line)
        route = e.get("route")
        assert route in ROUTES, "route %r is not a template: %r" % (route, line)
        out.append({"method": e.get("method", "-"), "route": route, "status": e["status"],
                    "bytes": e["bytes"], "us": e["duration_us"], "tls": tls,
                    "resumed": e["resumed"], "line": line})
    return out


def test_off_by_default():
    with Relay() as relay:
        mb = new_mailbox(relay)
        expect_status(preview(relay, mb.id), 200)
        expect_status(call(relay, "GET", "/nothing"), 404)
        # A request after them, answered: their lines, if any, came before.
        expect_json(read(relay, mb.id, mb.sender), 200)
        assert access_lines(relay) == [], access_lines(relay)


def test_one_line_per_request():
    with Relay("--access-log") as relay:
        mb = new_mailbox(relay, rights="RWD")
        expect_status(preview(relay, mb.id), 200)
        expect_status(preview(relay, mb.id, method="HEAD"), 200)
        receiver = bind_receiver(relay, mb)
        etag = expect_json_etag(update(relay, mb.id, mb.sender))
        expect_status(read(relay, mb.id, mb.sender, headers={"If-None-Match": etag,
                                                             "Prefer": "wait=1"}, timeout_s=10), 204)
        expect_json(relinquish(relay, mb.id, receiver), 200)
        expect_json(delete(relay, mb.id, mb.sender), 200)
        expect_status(call(relay, "GET", "/no/such/path"), 404)
        expect_status(call(relay, "GET", "/v1/m"), 405)
        with Conn(relay) as c:
            c.send(b"BREW /v1/m HTTP/1.1\r\nHost: x\r\n\r\n")
            expect_status(c.read_response("GET"), 400)
        want = [("POST", "/v1/m", 200), ("GET", "/v1/m/{id}", 200), ("HEAD", "/v1/m/{id}", 200),
                ("POST", "/v1/m/{id}", 200), ("PUT", "/v1/m/{id}", 200), ("POST", "/v1/m/{id}", 204),
                ("PATCH", "/v1/m/{id}", 200), ("DELETE", "/v1/m/{id}", 200), ("GET", "other", 404),
                ("GET", "/v1/m", 405), ("-", "other", 400)]
        got = records(relay, len(want), "one per request")
        assert [(r["method"], r["route"], r["status"]) for r in got] == want, \
            "\n".join(r["line"] for r in got)
        assert len(access_lines(relay)) == len(want), access_lines(relay)
        text = "\n".join(access_lines(relay))
        assert mb.id not in text and mb.id.replace("-", "") not in text, "the mailbox id is logged"
        assert all(r["tls"] == "TLSv1.3" and not r["resumed"] for r in got), text
        assert all(r["bytes"] > 0 for r in got), text
        poll = got[5]
        # (Its timer counts from the start of the loop turn that read it.)
        assert poll["us"] >= 900000, "the long-poll took %d us, it waited 1 s" % poll["us"]
        assert all(r["us"] < 1000000 for i, r in enumerate(got) if i != 5), text


def expect_json_etag(resp):
    expect_json(resp, 200)
    return resp.header("ETag")


def test_bytes_are_the_answers_size():
    with Relay("--access-log") as relay:
        with Conn(relay) as c:
            c.send(b"GET /nothing HTTP/1.1\r\nHost: x\r\n\r\n")
            raw = b""
            while b"\r\n\r\n" not in raw or len(raw) < raw.index(b"\r\n\r\n") + 4 + int(
                    re.search(rb"Content-Length: (\d+)", raw).group(1)):
                c._recv(5)
                raw = bytes(c.buf)
        (rec,) = records(relay, 1, "the 404")
        assert rec["bytes"] == len(raw), "bytes=%d, the answer was %d" % (rec["bytes"], len(raw))


def test_tls_version_and_resumption():
    with Relay("--access-log") as relay:
        ctx = client_context(relay.cacert)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        with Conn(relay, context=ctx) as c:
            expect_status(c.roundtrip("GET", "/v1/m"), 405)
            session = c.sock.session
        with Conn(relay, context=ctx, session=session) as c:
            expect_status(c.roundtrip("GET", "/v1/m"), 405)
            assert c.sock.session_reused, "the client did not resume"
        first, second = records(relay, 2, "two TLS 1.2 connections")
        assert first["tls"] == "TLSv1.2" and not first["resumed"], first["line"]
        assert second["tls"] == "TLSv1.2" and second["resumed"], second["line"]


def test_plain_http_says_no_tls():
    with Relay("--access-log", "--no-tls", tls=False) as relay:
        expect_status(call(relay, "GET", "/v1/m"), 405)
        (rec,) = records(relay, 1, "one request over --no-tls")
        assert rec["tls"] == "-" and not rec["resumed"], rec["line"]


def test_access_log_needs_info_level():
    rc, out, err = run_relay(["--access-log", "--log-level", "warn"])
    assert rc == 2 and err.count("\n") == 1 and "--access-log" in err, (rc, err)


def test_access_log_holds_no_secrets():
    relay = Relay("--access-log")
    relay.client_source = ("127.0.0.2", 0)
    relay.start()
    try:
        secrets = both_flows(relay)
        expect_status(preview(relay, new_claim()), 404)
    finally:
        relay.stop()
    lines = access_lines(relay)
    assert len(lines) > 20, "the flows logged only %d requests" % len(lines)
    text = "\n".join(lines)
    leaks = ["%s %r" % (what, needle) for s in secrets for needle, what in s.needles()
             if needle.lower() in text.lower()]
    assert not leaks, "secrets in the access log: %s" % "; ".join(leaks[:10])
    assert "127.0.0.2" not in relay.stderr.text(), "the client's address is logged"
