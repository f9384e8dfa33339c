"""Opt-in CORS (contract v1.1, §4.7): with --cors-origin, a browser script
from a listed origin may call the API and read every answer, errors
included; everything else is as without the option. Origins are compared
byte for byte with what browsers send, and credentials are never allowed."""

from relaytest import (Conn, Relay, build_request, call, create, default_body, delete,
                       expect_error, expect_json, expect_status, new_claim, new_mailbox,
                       preview, read, relinquish, run_relay, update)

EXPECTED_SECONDS = 3

APP = "https://app.example"
DEV = "http://localhost:3000"
RELAY_ARGS = ["--cors-origin", APP, "--cors-origin", DEV, "--max-body", "2k",
              "--header-timeout", "1s"]
EXPOSED = "ETag, Mailbox-Request-ID, Retry-After, Preference-Applied"
ALLOWED = ("Mailbox-Device-Claim, Mailbox-Request-ID, Mailbox-Device-Attestation, "
           "Content-Type, If-None-Match, If-Match, Prefer")
ALLOW_MAILBOX = "GET, HEAD, POST, PUT, DELETE, PATCH"
CORS_HEADERS = ("Access-Control-Allow-Origin", "Vary", "Access-Control-Expose-Headers",
                "Access-Control-Allow-Methods", "Access-Control-Allow-Headers",
                "Access-Control-Max-Age", "Access-Control-Allow-Credentials")


def origin(value):
    return [("Origin", value)]


def expect_cors(resp, allowed, what):
    """The CORS headers of an answer to a request from `allowed`, or none
    at all (allowed None)."""
    if allowed is None:
        present = [h for h in CORS_HEADERS if resp.has_header(h)]
        assert not present, "%s: CORS headers %s for an origin not allowed: %s" % (
            what, present, resp)
        return
    for name, want in (("Access-Control-Allow-Origin", allowed), ("Vary", "Origin"),
                       ("Access-Control-Expose-Headers", EXPOSED)):
        got = resp.header_all(name)
        assert got == [want], "%s: %s is %r, expected %r: %s" % (what, name, got, want, resp)
    assert not resp.has_header("Access-Control-Allow-Credentials"), \
        "%s: credentials allowed: %s" % (what, resp)


# ------------------------------------------------- simple requests, answers

def test_every_endpoint_answers_a_listed_origin(relay):
    h = origin(APP)
    mb = new_mailbox(relay, headers=h)
    expect_cors(mb.resp, APP, "create")
    receiver = new_claim()
    resp = read(relay, mb.id, receiver, headers=h, request_id="r-1")
    expect_json(resp, 200, "read")
    expect_cors(resp, APP, "read")
    assert resp.header("ETag") and resp.header("Mailbox-Request-ID") == "r-1", resp
    for what, allowed, resp in (
            ("update", APP, update(relay, mb.id, mb.sender, headers=h)),
            ("preview", DEV, preview(relay, mb.id, headers=origin(DEV))),
            ("preview HEAD", APP, preview(relay, mb.id, method="HEAD", headers=h)),
            ("relinquish", APP, relinquish(relay, mb.id, receiver, headers=h)),
            ("delete", DEV, delete(relay, mb.id, mb.sender, headers=origin(DEV)))):
        expect_status(resp, 200, what)
        expect_cors(resp, allowed, what)


def test_errors_carry_the_headers_so_a_script_can_read_them(relay):
    h = origin(APP)
    mb = new_mailbox(relay)
    cases = [
        ("bad JSON", call(relay, "POST", "/v1/m", claim=new_claim(), body=b"{", headers=h),
         400),
        ("no claim", create(relay, claim="", headers=h), 401),
        ("unknown path", call(relay, "GET", "/v2/x", headers=h), 404),
        ("unknown mailbox", read(relay, "0" * 8 + "-0000-4000-8000-" + "0" * 12, new_claim(),
                                 headers=h), 404),
        ("preview 404 (HTML)", preview(relay, "nope", headers=h), 404),
        ("wrong method", call(relay, "GET", "/v1/m", headers=h), 405),
        ("wrong Content-Type", create(relay, content_type="text/plain", headers=h), 415),
        ("stranger's read", read(relay, mb.id, new_claim(), headers=h), (200, 401)),
        ("body over --max-body", create(relay, body={"x": "y" * 3000}, headers=h), 413),
    ]
    for what, resp, status in cases:
        expect_status(resp, status, what)
        expect_cors(resp, APP, what)
    # Requests the parser gives up on: the Origin it had read still counts.
    with Conn(relay) as c:
        c.send(build_request("POST", "/v1/m", h + [("X-Filler", "f" * 9000)], None,
                             host=c.host_header))
        resp = c.read_response("POST", timeout_s=5)
        expect_error(resp, 431, "headers_too_large", "431")
        expect_cors(resp, APP, "431")
    with Conn(relay) as c:
        c.send(b"POST /v1/m HTTP/1.1\r\nHost: x\r\nOrigin: " + APP.encode() +
               b"\r\nContent-Length: 1x\r\n\r\n")
        resp = c.read_response("POST", timeout_s=5)
        expect_error(resp, 400, "bad_request", "malformed Content-Length")
        expect_cors(resp, APP, "400 from the parser")
    with Conn(relay, timeout_s=10) as c:
        c.send(b"POST /v1/m HTTP/1.1\r\nHost: x\r\nOrigin: " + APP.encode() + b"\r\nX-Slow: ")
        resp = c.read_response("POST", timeout_s=8)
        expect_error(resp, 408, "request_timeout", "head never finished")
        expect_cors(resp, APP, "408")


def test_429_and_503_carry_the_headers():
    with Relay("--cors-origin", APP, "--max-mailboxes", "1", "--rate-fail", "1/m,1") as relay:
        h = origin(APP)
        # No Receiver may ever read it: every other claim is a failed one.
        mb = new_mailbox(relay, rights="D")
        resp = create(relay, headers=h)
        expect_error(resp, 503, "store_full", "store full")
        expect_cors(resp, APP, "503")
        expect_status(read(relay, mb.id, new_claim(), headers=h), 401, "a failed claim")
        resp = read(relay, mb.id, new_claim(), headers=h)
        expect_error(resp, 429, "rate_limited", "failed claims over the limit")
        expect_cors(resp, APP, "429")
        assert resp.header("Retry-After"), resp


def test_long_poll_answers_carry_the_headers(relay):
    h = origin(APP)
    mb = new_mailbox(relay)
    receiver = new_claim()
    etag = read(relay, mb.id, receiver).header("ETag")
    poll = h + [("If-None-Match", etag), ("Prefer", "wait=1")]
    resp = read(relay, mb.id, receiver, headers=poll, timeout_s=5)
    expect_status(resp, 204, "long-poll that timed out")
    expect_cors(resp, APP, "204 after the wait")
    assert resp.header("Preference-Applied") == "wait=1", resp
    # Woken by the Sender's update.
    with Conn(relay) as waiting:
        waiting.request("POST", mb.path, [("Mailbox-Device-Claim", receiver)] + h +
                        [("If-None-Match", etag), ("Prefer", "wait=30")])
        # Parked or not yet when the update lands, the answer is the new content.
        expect_status(update(relay, mb.id, mb.sender), 200, "update")
        resp = waiting.read_response("POST", timeout_s=10)
        expect_json(resp, 200, "woken long-poll")
        expect_cors(resp, APP, "woken long-poll")


def test_origins_not_listed_get_nothing(relay):
    mb = new_mailbox(relay)
    strangers = [
        "https://app.example:8443", "http://app.example", "https://APP.EXAMPLE",
        "HTTPS://app.example", "https://app.example:443", "https://app.example/",
        "https://app.example.evil.example", "https://evilapp.example", "https://app.exampl",
        "http://localhost:3001", "http://localhost", "https://localhost:3000", "null", "",
        "*", "https://app.example https://evil.example", "https://app.example, " + DEV,
    ]
    for value in strangers:
        for what, resp in (("read", read(relay, mb.id, mb.sender, headers=origin(value))),
                           ("404", call(relay, "GET", "/x", headers=origin(value)))):
            expect_cors(resp, None, "%s from Origin %r" % (what, value))
    # Origin twice, listed or not: nothing (a browser sends it once).
    for pair in ([APP, APP], [APP, DEV], ["https://evil.example", APP]):
        resp = read(relay, mb.id, mb.sender, headers=[("Origin", v) for v in pair])
        expect_json(resp, 200, "Origin twice")
        expect_cors(resp, None, "Origin sent twice: %r" % pair)
    expect_cors(read(relay, mb.id, mb.sender), None, "no Origin")


# ---------------------------------------------------------------- preflight

def _preflight(relay, path, origin_value=APP, method="PUT", extra=(), conn=None):
    headers = [("Origin", origin_value)]
    if method is not None:
        headers.append(("Access-Control-Request-Method", method))
    headers += list(extra)
    return call(relay, "OPTIONS", path, headers=headers, conn=conn)


def test_preflight_on_api_paths(relay):
    mb = new_mailbox(relay)
    with Conn(relay) as c:
        for path, methods in (("/v1/m", "POST"), (mb.path, ALLOW_MAILBOX),
                              (mb.path + "?v=c", ALLOW_MAILBOX),
                              ("/v1/m/" + "f" * 8 + "-ffff-4fff-bfff-" + "f" * 12, ALLOW_MAILBOX)):
            resp = _preflight(relay, path, extra=[
                ("Access-Control-Request-Headers", "mailbox-device-claim,content-type,if-match")],
                conn=c)
            expect_status(resp, 204, "preflight on %s" % path)
            expect_cors(resp, APP, "preflight")
            assert resp.header("Access-Control-Allow-Methods") == methods, resp
            assert resp.header("Access-Control-Allow-Headers") == ALLOWED, resp
            assert resp.header("Access-Control-Max-Age") == "600", resp
            assert resp.body == b"" and not resp.has_header("Allow"), resp
        # The connection carries on: the real request follows the preflight.
        expect_json(read(relay, mb.id, mb.sender, headers=origin(APP), conn=c), 200,
                    "request after the preflight, same connection")


def test_options_that_is_no_preflight_stays_405(relay):
    mb = new_mailbox(relay)
    resp = _preflight(relay, "/v1/m", method=None)
    expect_error(resp, 405, "method_not_allowed", "OPTIONS without Access-Control-Request-Method")
    assert resp.header("Allow") == "POST", resp
    expect_cors(resp, APP, "405 for a listed origin")
    resp = _preflight(relay, mb.path, method="")
    expect_status(resp, 405, "empty Access-Control-Request-Method")
    resp = _preflight(relay, mb.path, extra=[("Access-Control-Request-Method", "POST")])
    expect_status(resp, 405, "Access-Control-Request-Method twice")
    for value in ("https://evil.example", "null", "https://app.example:444"):
        resp = _preflight(relay, mb.path, origin_value=value)
        expect_error(resp, 405, "method_not_allowed", "preflight from %s" % value)
        assert resp.header("Allow") == ALLOW_MAILBOX, resp
        expect_cors(resp, None, "preflight from %s" % value)


def test_preflight_on_unknown_paths_404(relay):
    for path in ("/v1/m/", "/v1/x", "/v2/m", "/", "/v1/m/x/y", "/.well-known/assetlinks.json",
                 "/.well-known/../v1/m", "/%2e%2e/v1/m"):
        resp = _preflight(relay, path)
        expect_error(resp, 404, "not_found", "preflight on %s" % path)
        expect_cors(resp, APP, "404 to a preflight on %s" % path)
        assert not resp.has_header("Access-Control-Allow-Methods"), resp


def test_without_the_option_nothing_changes():
    with Relay() as relay:
        mb = new_mailbox(relay)
        resp = _preflight(relay, mb.path)
        expect_error(resp, 405, "method_not_allowed", "preflight without --cors-origin")
        expect_cors(resp, None, "preflight without --cors-origin")
        for value in (APP, "null", "*"):
            expect_cors(read(relay, mb.id, mb.sender, headers=origin(value)), None,
                        "read from %s without --cors-origin" % value)


def test_any_origin_is_answered_with_a_star():
    with Relay("--cors-origin", "*") as relay:
        mb = new_mailbox(relay)
        for value in (APP, "null", "capacitor://localhost", "https://x.example:1"):
            expect_cors(read(relay, mb.id, mb.sender, headers=origin(value)), "*",
                        "read from %s" % value)
        resp = _preflight(relay, "/v1/m", origin_value="https://x.example")
        expect_status(resp, 204, "preflight with *")
        expect_cors(resp, "*", "preflight with *")
        expect_cors(read(relay, mb.id, mb.sender), None, "no Origin with *")
        expect_cors(read(relay, mb.id, mb.sender, headers=origin("")), None, "empty Origin")
        expect_cors(read(relay, mb.id, mb.sender, headers=[("Origin", APP), ("Origin", APP)]),
                    None, "Origin twice with *")


def test_configured_origin_is_matched_in_the_form_browsers_send():
    with Relay("--cors-origin", "HTTPS://App.Example:443") as relay:
        mb = new_mailbox(relay)
        expect_cors(read(relay, mb.id, mb.sender, headers=origin(APP)), APP, "normalized")
        expect_cors(read(relay, mb.id, mb.sender, headers=origin("HTTPS://App.Example:443")),
                    None, "the form as configured, which no browser sends")


def test_bad_origins_are_refused_at_start():
    for value in ("https://app.example/", "app.example", "null", "https://app.example:0",
                  "https://u@app.example", "https://app.example?x", ""):
        rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--no-tls", "--cors-origin", value])
        lines = err.strip().splitlines()
        assert rc == 2 and len(lines) == 1 and "--cors-origin" in lines[0], \
            "--cors-origin %r: exit %d, stderr %r" % (value, rc, err)
    rc, out, err = run_relay(["--no-tls", "--cors-origin", "*", "--cors-origin", APP])
    assert rc == 2 and "--cors-origin" in err and len(err.strip().splitlines()) == 1, err
    args = ["--no-tls"]
    for i in range(33):
        args += ["--cors-origin", "https://app%d.example" % i]
    rc, out, err = run_relay(args)
    assert rc == 2 and "at most 32" in err, err
