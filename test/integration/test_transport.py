"""Transport and HTTP/1.1 framing (spec §2, §4.7, §10): TLS versions and suites,
keep-alive, pipelining, HTTP/1.0, Expect: 100-continue, chunked bodies, request
smuggling defences, routing (404/405)."""

import json
import os
import shutil
import socket
import ssl
import tempfile
import time

from relaytest import (ALLOW_COLLECTION, ALLOW_MAILBOX, Conn, ConnectionClosed, Relay, assert_closed,
                       build_request, call, chunked, client_context, default_body, default_payload,
                       expect_error, expect_json, expect_status, media_type, new_claim,
                       new_mailbox)

EXPECTED_SECONDS = 5


def _tls_connect(relay, min_version=None, max_version=None, ciphers=None):
    ctx = client_context(relay.cacert)
    if min_version:
        ctx.minimum_version = min_version
    if max_version:
        ctx.maximum_version = max_version
    if ciphers:
        ctx.set_ciphers(ciphers)
    return Conn(relay, context=ctx)


def test_tls_version_is_modern(relay):
    with Conn(relay) as c:
        version = c.sock.version()
    assert version == "TLSv1.3", "a client offering TLS 1.3 got %s" % version


def test_tls_1_1_refused(relay):
    ctx = client_context(relay.cacert)
    try:
        ctx.set_ciphers("ALL:@SECLEVEL=0")
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
    except (ValueError, ssl.SSLError):
        pass
    try:
        c = Conn(relay, context=ctx)
    except (ssl.SSLError, ConnectionError, OSError):
        return
    version = c.sock.version()
    c.close()
    raise AssertionError("relay accepted a %s connection" % version)


def test_tls12_suites_are_forward_secret_aead(relay):
    with _tls_connect(relay, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2) as c:
        name, _, _ = c.sock.cipher()
    assert name.startswith("ECDHE-") and ("GCM" in name or "CHACHA20-POLY1305" in name), \
        "TLS 1.2 suite %s is not ECDHE with AES-GCM or ChaCha20-Poly1305" % name
    for weak in ("ECDHE-ECDSA-AES128-SHA256:ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA:"
                 "ECDHE-RSA-AES128-SHA256:ECDHE-RSA-AES128-SHA",
                 "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA256:AES128-SHA",
                 "DHE-RSA-AES128-GCM-SHA256"):
        try:
            c = _tls_connect(relay, ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_2, weak)
        except (ssl.SSLError, ConnectionError, OSError):
            continue
        name = c.sock.cipher()[0]
        c.close()
        raise AssertionError("relay agreed to the non-forward-secret or non-AEAD suite %s" % name)


TLS_VERSIONS = (("TLSv1.2", ssl.TLSVersion.TLSv1_2), ("TLSv1.3", ssl.TLSVersion.TLSv1_3))
TLS_RECORD_MAX = 16384          # the largest plaintext a TLS record may carry
RELAY_OUT_RECORD = 4096         # MBEDTLS_SSL_OUT_CONTENT_LEN in net/tls_config.h


def test_full_16k_records_in_and_answers_over_4k_out_in_both_versions(relay):
    # A client may send records of up to 16 KiB: one write of a request
    # longer than that goes out as a full record and the rest. The relay
    # sends 4 KiB records, so an answer several times that spans several.
    # (mbedTLS's MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH broke the first.)
    for name, version in TLS_VERSIONS:
        body = default_body(payload=default_payload(12 * 1024))
        raw_body = json.dumps(body).encode()
        with _tls_connect(relay, version, version) as c:
            assert c.sock.version() == name, "asked for %s, got %s" % (name, c.sock.version())
            raw = build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                  ("Content-Type", "application/json")],
                                raw_body, host=c.host_header)
            assert len(raw) > TLS_RECORD_MAX, len(raw)
            c.send(raw)                              # one SSL_write: a full record first
            try:
                created = c.read_response("POST")
            except ConnectionClosed as e:
                raise AssertionError("%s: the relay closed the connection on a client's full "
                                     "16 KiB record: %s" % (name, e))
            mailbox = expect_json(created, 200, "%s create sent in a full 16 KiB record" % name)
            path = "/v1/m/%s" % mailbox["urlLink"].rsplit("/", 1)[-1]
            got = c.roundtrip("POST", path, [("Mailbox-Device-Claim", new_claim())])
            data = expect_json(got, 200, "%s read of a %d-byte payload" % (name, len(raw_body)))
            assert len(got.body) > 3 * RELAY_OUT_RECORD, len(got.body)
            assert data["payload"] == body["payload"], \
                "%s: the payload read back (%d bytes of data) is not the one sent (%d)" % (
                    name, len(data["payload"].get("data", "")), len(body["payload"]["data"]))


def test_keep_alive_serves_several_requests(relay):
    mb = new_mailbox(relay)
    with Conn(relay) as c:
        for i in range(3):
            resp = c.roundtrip("POST", mb.path, {"Mailbox-Device-Claim": mb.sender,
                                                 "Mailbox-Request-ID": "ka-%d" % i})
            expect_json(resp, 200, "request %d on one connection" % i)
            assert resp.header("Mailbox-Request-ID") == "ka-%d" % i, resp
            assert (resp.header("Connection") or "").lower() != "close", \
                "relay closes an HTTP/1.1 keep-alive connection: %s" % resp


def test_pipelined_requests_answered_in_order(relay):
    mb = new_mailbox(relay)
    claim = new_claim()
    body = json.dumps(default_body()).encode()
    reqs = [
        build_request("POST", "/v1/m", [("Mailbox-Device-Claim", claim), ("Mailbox-Request-ID", "p1"),
                                        ("Content-Type", "application/json")], body),
        build_request("GET", mb.path, [("Mailbox-Request-ID", "p2")]),
        build_request("POST", mb.path, [("Mailbox-Device-Claim", mb.sender), ("Mailbox-Request-ID", "p3")]),
        build_request("POST", "/v1/m/%s" % new_claim(), [("Mailbox-Device-Claim", claim),
                                                          ("Mailbox-Request-ID", "p4")]),
        build_request("HEAD", mb.path, [("Mailbox-Request-ID", "p5")]),
        build_request("DELETE", mb.path, [("Mailbox-Device-Claim", mb.sender), ("Mailbox-Request-ID", "p6")]),
    ]
    methods = ["POST", "GET", "POST", "POST", "HEAD", "DELETE"]
    expected = [200, 200, 200, 404, 200, 200]
    with Conn(relay) as c:
        c.send(b"".join(reqs))
        for i, (method, status) in enumerate(zip(methods, expected)):
            resp = c.read_response(method)
            assert resp.header("Mailbox-Request-ID") == "p%d" % (i + 1), \
                "pipelined response %d out of order or without its request id: %s" % (i + 1, resp)
            expect_status(resp, status, "pipelined request p%d" % (i + 1))


def test_http10_answered_and_closed(relay):
    mb = new_mailbox(relay)
    with Conn(relay) as c:
        c.request("GET", mb.path, version="HTTP/1.0")
        resp = c.read_response("GET")
        expect_status(resp, 200, "HTTP/1.0 preview")
        assert "close" in (resp.header("Connection") or "").lower(), \
            "HTTP/1.0 answer lacks Connection: close: %s" % resp
        assert_closed(c, "an HTTP/1.0 response")
    with Conn(relay) as c:
        body = json.dumps(default_body()).encode()
        c.request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                    ("Content-Type", "application/json")], body, version="HTTP/1.0")
        resp = c.read_response("POST")
        expect_json(resp, 200, "HTTP/1.0 create")
        assert "close" in (resp.header("Connection") or "").lower(), resp
        assert_closed(c, "an HTTP/1.0 response")


def test_connection_close_honoured(relay):
    mb = new_mailbox(relay)
    with Conn(relay) as c:
        resp = c.roundtrip("POST", mb.path, [("Mailbox-Device-Claim", mb.sender), ("Connection", "close")])
        expect_json(resp, 200)
        assert_closed(c, "a response to a request with Connection: close")


def test_expect_100_continue(relay):
    body = json.dumps(default_body(pad="x" * 3000)).encode()
    with Conn(relay) as c:
        c.send(build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                               ("Content-Type", "application/json"),
                                               ("Content-Length", str(len(body))),
                                               ("Expect", "100-continue")], None, host=c.host_header))
        interim = c.read_response("POST", timeout_s=5)
        expect_status(interim, 100, "interim response to Expect: 100-continue")
        c.send(body)
        final = c.read_response("POST")
        expect_json(final, 200, "create after 100 Continue")
        # The connection stays usable.
        resp = c.roundtrip("GET", "/v1/m/%s" % new_claim())
        expect_status(resp, 404)


def test_chunked_request_body(relay):
    body = json.dumps(default_body()).encode()
    with Conn(relay) as c:
        c.send(build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                               ("Content-Type", "application/json"),
                                               ("Transfer-Encoding", "chunked")],
                             chunked(body, [1, 7, 50, 100]), host=c.host_header))
        resp = c.read_response("POST")
        expect_json(resp, 200, "create with a chunked body")
        # Next request on the same connection still parses.
        expect_status(c.roundtrip("GET", "/v1/m/%s" % new_claim()), 404)


def _smuggle(relay, headers, body, what):
    with Conn(relay) as c:
        c.send(build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                               ("Content-Type", "application/json")] + headers,
                             body, host=c.host_header, content_length=False))
        try:
            resp = c.read_response("POST")
        except ConnectionClosed:
            raise AssertionError("%s: relay closed without a 400 response" % what)
        expect_error(resp, 400, "bad_request", what)
        assert_closed(c, "400 for %s" % what)


def test_content_length_and_transfer_encoding_refused(relay):
    body = json.dumps(default_body()).encode()
    _smuggle(relay, [("Content-Length", str(len(body))), ("Transfer-Encoding", "chunked")],
             chunked(body), "Content-Length with Transfer-Encoding: chunked")
    _smuggle(relay, [("Transfer-Encoding", "chunked"), ("Content-Length", "5")],
             chunked(body), "Transfer-Encoding before a Content-Length")


def test_malformed_content_length_refused(relay):
    body = json.dumps(default_body()).encode()
    n = len(body)
    for value in ("abc", "+%d" % n, "-%d" % n, "%d, %d" % (n, n), "0x%x" % n, "%d abc" % n):
        _smuggle(relay, [("Content-Length", value)], body, "Content-Length %r" % value)
    _smuggle(relay, [("Content-Length", str(n)), ("Content-Length", str(n + 1))], body + b" ",
             "two differing Content-Length headers")


def test_malformed_chunk_refused(relay):
    for raw, what in ((b"zz\r\n{}\r\n0\r\n\r\n", "chunk size 'zz'"),
                      (b"2g\r\n{}\r\n0\r\n\r\n", "chunk size '2g'"),
                      (b"2\r\n{}XX\r\n0\r\n\r\n", "chunk data longer than its size")):
        with Conn(relay) as c:
            c.send(build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                   ("Content-Type", "application/json"),
                                                   ("Transfer-Encoding", "chunked")],
                                 raw, host=c.host_header))
            try:
                resp = c.read_response("POST")
            except ConnectionClosed:
                raise AssertionError("%s: relay closed without a 400 response" % what)
            expect_error(resp, 400, "bad_request", what)
            assert_closed(c, "400 for %s" % what)


def _loose_framing_forms(host):
    """(bytes, what): requests whose framing llhttp (8, even strict) would
    take and a proxy in front may read otherwise. Each is a create that
    would succeed if its framing were taken."""
    body = json.dumps(default_body()).encode()

    def head(*lines):
        return ("\r\n".join(["POST /v1/m HTTP/1.1", "Host: %s" % host,
                              "Mailbox-Device-Claim: %s" % new_claim(),
                              "Content-Type: application/json"] + list(lines))
                + "\r\n\r\n").encode()

    cl = "Content-Length: %d" % len(body)
    te = "Transfer-Encoding: chunked"
    size = b"%x\r\n" % len(body)
    return [
        (head(te) + size + body + b"XY0\r\n\r\n", "two bytes other than CRLF after chunk data"),
        (head(cl, "X Y: a") + body, "a space inside a header name"),
        (head(cl, "X-Other : a") + body, "a space before a header name's colon"),
        (head("Transfer-Encoding:", " chunked") + chunked(body),
         "Transfer-Encoding folded onto a continuation line (SP)"),
        (head("Transfer-Encoding:", "\tchunked") + chunked(body),
         "Transfer-Encoding folded onto a continuation line (HTAB)"),
        (head("Content-Length: ", " %d" % len(body)) + body,
         "Content-Length folded onto a continuation line"),
        (head(cl, "Mailbox-Request-ID: a", " b") + body, "a folded header that the relay reads"),
        (head(cl, "X-Other: a", "\tb") + body, "a folded header that the relay skips"),
        (head(cl, "X-Other: a", " ") + body, "a continuation line of white space alone"),
        (head(te) + chunked(body)[:-2] + b"X-Trailer: a\r\n b\r\n\r\n", "a folded trailer"),
        (head(te) + chunked(body)[:-2] + b"X-Trailer: a\r\n\tb\r\n\r\n",
         "a trailer folded with HTAB"),
        (head(cl)[:-2] + b"\n" + body, "a head ended by a bare LF"),
        (head(cl).replace(b" HTTP/1.1\r\n", b"\r\n", 1) + body,
         "a request line without HTTP/1.x (HTTP/0.9 has no headers)"),
    ]


def test_loose_framing_refused_and_the_pipelined_request_never_answered(relay):
    # One 400 and the close, nothing for the request sent behind it: a
    # relay that took the framing would answer the create and then this.
    for raw, what in _loose_framing_forms("localhost:%d" % relay.port):
        with Conn(relay) as c:
            c.send(raw + build_request("GET", "/v1/m/%s" % new_claim(), host=c.host_header))
            try:
                resp = c.read_response("POST")
            except ConnectionClosed:
                raise AssertionError("%s: relay closed without a 400 response" % what)
            expect_error(resp, 400, "bad_request", what)
            assert_closed(c, "400 for %s (the pipelined request must not be answered)" % what)
    expect_status(call(relay, "GET", "/v1/m/%s" % new_claim()), 404, "relay still serving")


def test_connect_and_upgrade_answered_and_closed_before_what_follows(relay):
    # After a CONNECT or an upgrade the bytes that follow are a tunnel's or
    # another protocol's: the relay answers with Connection: close and
    # closes, and never answers the request sent behind as if it were one
    # (it used to read it as garbage and answer 400).
    mb = new_mailbox(relay)
    forms = (
        (build_request("CONNECT", "relay.example:443", host="relay.example:443"),
         "CONNECT", 404, "CONNECT"),
        (build_request("GET", mb.path, [("Connection", "Upgrade"), ("Upgrade", "websocket")]),
         "GET", 200, "an upgrade to WebSocket"),
    )
    for head, method, status, what in forms:
        with Conn(relay) as c:
            c.send(head + build_request("GET", "/v1/m/%s" % new_claim(), host=c.host_header))
            resp = c.read_response(method)
            expect_status(resp, status, what)
            assert "close" in (resp.header("Connection") or "").lower(), \
                "%s answered without Connection: close: %s" % (what, resp)
            assert_closed(c, "the answer to %s (the request behind it must not be read)" % what)


def test_unknown_paths_404(relay):
    mb = new_mailbox(relay)
    paths = ["/", "/v1", "/v1/", "/v2/m", "/v2/m/%s" % mb.id, "/v1/m/", "/v1/m/%s/" % mb.id,
             "/v1/m/%s/extra" % mb.id, "/V1/m", "/v1/M", "/v1/M/%s" % mb.id, "/v1/mailbox",
             "/v1/m/%s/../%s" % (mb.id, mb.id), "/v0/m"]
    for path in paths:
        for method in ("POST", "GET"):
            resp = call(relay, method, path, claim=mb.sender)
            expect_status(resp, 404, "%s %s" % (method, path))
        expect_error(call(relay, "POST", path, claim=mb.sender), 404, "not_found", "POST %s" % path)


def test_route_404_comes_before_method_405(relay):
    expect_error(call(relay, "OPTIONS", "/v2/m"), 404, "not_found", "OPTIONS /v2/m")
    expect_error(call(relay, "DELETE", "/v1/m/%s/x" % new_claim()), 404, "not_found")


def _allow_set(resp):
    return {t.strip() for t in (resp.header("Allow") or "").split(",") if t.strip()}


def test_405_with_allow(relay):
    mb = new_mailbox(relay)
    for method in ("GET", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"):
        resp = call(relay, method, "/v1/m")
        expect_status(resp, 405, "%s /v1/m" % method)
        assert _allow_set(resp) == ALLOW_COLLECTION, "Allow on /v1/m is %r" % resp.header("Allow")
        if method != "HEAD":
            expect_error(resp, 405, "method_not_allowed", "%s /v1/m" % method)
    for method in ("OPTIONS", "TRACE"):
        for path in (mb.path, "/v1/m/%s" % new_claim()):
            resp = call(relay, method, path)
            expect_error(resp, 405, "method_not_allowed", "%s %s" % (method, path))
            assert _allow_set(resp) == ALLOW_MAILBOX, "Allow on %s is %r" % (path, resp.header("Allow"))
    # Exactly the spelling of spec §10.
    resp = call(relay, "OPTIONS", mb.path)
    assert resp.header("Allow").replace(" ", "") == "GET,HEAD,POST,PUT,DELETE,PATCH", resp.header("Allow")


def test_json_response_headers(relay):
    mb = new_mailbox(relay)
    for resp, what in ((mb.resp, "create"),
                       (call(relay, "POST", mb.path, claim=mb.sender), "read"),
                       (call(relay, "POST", "/v1/m/%s" % new_claim(), claim=mb.sender), "404"),
                       (call(relay, "GET", "/v1/m"), "405")):
        expect_json(resp, resp.status, what)
        assert resp.header("Content-Type").lower().startswith("application/json"), what


def test_request_line_with_absolute_form_or_garbage_does_not_crash(relay):
    for raw in (b"GARBAGE\r\n\r\n", b"GET\r\n\r\n", b"\x16\x03\x01\x00\x05hello\r\n\r\n",
                b"GET /v1/m HTTP/9.9\r\nHost: x\r\n\r\n"):
        with Conn(relay) as c:
            c.send(raw)
            try:
                resp = c.read_response("GET", timeout_s=5)
                assert 400 <= resp.status < 600, "garbage %r answered %s" % (raw, resp)
            except ConnectionClosed:
                pass
    expect_status(call(relay, "GET", "/v1/m/%s" % new_claim()), 404, "relay still serving")


def test_long_pipelined_burst_answered_in_order(relay):
    mb = new_mailbox(relay)
    reqs = []
    for i in range(60):
        if i % 3 == 0:
            reqs.append(build_request("POST", mb.path, [("Mailbox-Device-Claim", mb.sender),
                                                        ("Mailbox-Request-ID", "b%d" % i)]))
        elif i % 3 == 1:
            reqs.append(build_request("GET", mb.path, [("Mailbox-Request-ID", "b%d" % i)]))
        else:
            reqs.append(build_request("GET", "/v1/nothing", [("Mailbox-Request-ID", "b%d" % i)]))
    with Conn(relay) as c:
        c.send(b"".join(reqs))
        for i in range(60):
            resp = c.read_response("POST" if i % 3 == 0 else "GET")
            assert resp.header("Mailbox-Request-ID") == "b%d" % i, "response %d: %s" % (i, resp)
            expect_status(resp, 404 if i % 3 == 2 else 200, "burst request %d" % i)


def test_request_sent_one_byte_at_a_time(relay):
    body = json.dumps(default_body()).encode()
    raw = build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                          ("Content-Type", "application/json")], body)
    with Conn(relay) as c:
        for i in range(len(raw)):
            c.send(raw[i:i + 1])            # one TLS record per byte
        expect_json(c.read_response("POST"), 200, "create sent byte by byte")


def test_header_names_case_insensitive(relay):
    body = json.dumps(default_body()).encode()
    with Conn(relay) as c:
        resp = c.roundtrip("POST", "/v1/m", [("mailbox-device-claim", new_claim()),
                                             ("CONTENT-TYPE", "application/json"),
                                             ("mailbox-request-id", "lower")], body)
    expect_json(resp, 200, "lower/upper-case header names")
    assert resp.header("Mailbox-Request-ID") == "lower", resp


def test_body_on_delete_or_relinquish_needs_json_content_type(relay):
    mb = new_mailbox(relay)
    receiver = new_claim()
    expect_json(call(relay, "POST", mb.path, claim=receiver), 200)
    for method in ("DELETE", "PATCH"):
        resp = call(relay, method, mb.path, claim=receiver, body=b"hello", content_type="text/plain")
        expect_error(resp, 415, "unsupported_media_type", "%s with a text/plain body" % method)
    expect_json(call(relay, "POST", mb.path, claim=receiver), 200, "mailbox untouched by the 415s")


def test_abandoned_connections_do_not_hurt(relay):
    for _ in range(10):
        raw = socket.create_connection((relay.host, relay.port), timeout=5)
        raw.close()                                     # before the TLS handshake
    for _ in range(10):
        raw = socket.create_connection((relay.host, relay.port), timeout=5)
        raw.sendall(b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03")   # a cut ClientHello
        raw.close()
    for _ in range(10):
        Conn(relay).close()                             # handshake, then nothing
    for _ in range(5):
        c = Conn(relay)
        c.send(b"POST /v1/m HTTP/1.1\r\nHost: x\r\nContent-Length: 500\r\n\r\n{")
        c.close()                                       # mid-body
    mb = new_mailbox(relay)
    expect_json(call(relay, "POST", mb.path, claim=mb.sender), 200, "relay serves after abandoned connections")


def _connection_system_calls(version):
    """Five connections of one full TLS handshake, one GET with Connection:
    close and the relay's goodbye, under strace: per connection, the sends,
    and the receives that found nothing."""
    strace = shutil.which("strace")
    assert strace, "strace is needed (make deps-test installs it)"
    with tempfile.TemporaryDirectory() as tmp:
        trace = os.path.join(tmp, "trace")
        # -D: the tracer is a grandchild, the relay keeps its pid. A
        # sanitized relay's leak check cannot run under ptrace.
        options = os.environ.get("ASAN_OPTIONS", "")
        env = dict(os.environ, ASAN_OPTIONS=(options + ":" if options else "") + "detect_leaks=0")
        with Relay(wrap=[strace, "-D", "-f", "-qq", "-o", trace,
                         "-e", "trace=accept4,sendto,recvfrom"], env=env) as relay:
            path = new_mailbox(relay).path
            with open(trace) as f:
                before = len(f.readlines())
            for _ in range(5):
                ctx = client_context(relay.cacert)
                ctx.minimum_version = ctx.maximum_version = version
                with Conn(relay, context=ctx) as c:
                    resp = c.roundtrip("GET", path, [("Connection", "close")])
                    expect_status(resp, 200, "the preview")
                    assert_closed(c, "an answer to Connection: close")
        with open(trace) as f:
            lines = f.readlines()[before:]
    accepts = sum(1 for line in lines if "accept4(" in line and "EAGAIN" not in line)
    assert accepts == 5, "expected 5 connections in the trace, saw %d:\n%s" % (accepts, "".join(lines))
    sends = sum(1 for line in lines if "sendto(" in line)
    empty = [line for line in lines if "recvfrom(" in line and "EAGAIN" in line]
    return sends / 5, empty, "".join(lines)


def test_a_short_connection_sends_three_times_and_never_reads_in_vain():
    """The server's two handshake flights leave in one send each, the last
    answer and the close_notify in one more; a read that would find nothing
    is never made (the relay waits for the socket to say readable)."""
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        sends, empty, trace = _connection_system_calls(version)
        assert sends == 3, "%s: %.1f sends per connection, not 3:\n%s" % (version.name, sends, trace)
        assert not empty, "%s: %d reads found nothing:\n%s" % (version.name, len(empty), trace)
