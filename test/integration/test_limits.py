"""Limits (spec §4.1, §4.7, §9, §10): store limits (503 + Retry-After),
--max-body (413), header size (431), --max-connections."""

import json
import os
import re
import threading
import time

from relaytest import (Conn, Relay, assert_closed, b64, build_request, chunked, create,
                       default_body, delete, expect_error, expect_json, memory_store_only,
                       new_claim, new_mailbox, read, update, update_body, with_member)

EXPECTED_SECONDS = 2
PARALLEL = True

MAX_BODY = 2048


def _retry_after_ok(value):
    return value is not None and (re.match(r"^\d+$", value) or
                                  re.match(r"^[A-Z][a-z]{2}, \d{2} [A-Z][a-z]{2} \d{4} \d{2}:\d{2}:\d{2} GMT$", value))


def test_max_mailboxes_503_with_retry_after():
    with Relay("--max-mailboxes", "2") as relay:
        a = new_mailbox(relay)
        new_mailbox(relay)
        resp = create(relay)
        expect_error(resp, 503, "store_full", "third create with --max-mailboxes 2")
        assert _retry_after_ok(resp.header("Retry-After")), "Retry-After %r" % resp.header("Retry-After")
        # Existing mailboxes still work; deleting one frees a place.
        expect_json(read(relay, a.id, a.sender), 200)
        expect_json(update(relay, a.id, a.sender), 200, "update in a full store (count limit)")
        expect_json(delete(relay, a.id, a.sender), 200)
        expect_json(create(relay), 200, "create after a delete freed a place")
        expect_error(create(relay), 503, "store_full", "full again")


def _big_body():
    body = default_body()
    body["payload"]["data"] = b64(os.urandom(30000))       # 40 000 base64 characters
    return body


def test_max_memory_503_and_delete_frees_bytes():
    memory_store_only("--max-memory is the memory store's limit (with Redis, Redis's "
                      "maxmemory: test_redis.test_redis_full_is_store_full)")
    with Relay("--max-memory", "1m", "--max-body", "64k") as relay:
        made, full = [], None
        for i in range(80):
            claim = new_claim()
            resp = create(relay, claim, _big_body())
            if resp.status == 503:
                full = resp
                break
            expect_json(resp, 200, "create %d under --max-memory 1m" % i)
            made.append((claim, resp.json()["urlLink"].rsplit("/", 1)[1]))
        assert full is not None, "80 mailboxes of 40 kB each fit in --max-memory 1m"
        expect_error(full, 503, "store_full", "create past --max-memory")
        assert _retry_after_ok(full.header("Retry-After")), full
        assert len(made) >= 5, "only %d mailboxes of 40 kB fit in 1 MiB" % len(made)
        # Deleting two big mailboxes gives their bytes back.
        for claim, mid in made[:2]:
            expect_json(delete(relay, mid, claim), 200)
        expect_json(create(relay, body=_big_body()), 200, "create after deletes freed memory")


def test_body_of_exactly_max_body_accepted_and_one_more_413():
    with Relay("--max-body", "2k") as relay:
        body = json.dumps(default_body(pad="")).encode()
        pad = MAX_BODY - len(body)
        exact = json.dumps(default_body(pad="p" * pad)).encode()
        assert len(exact) == MAX_BODY, len(exact)
        expect_json(create(relay, body=exact), 200, "body of exactly --max-body (2048) bytes")
        mb = new_mailbox(relay)
        upd = json.dumps(update_body(pad="")).encode()
        upd = json.dumps(update_body(pad="q" * (MAX_BODY - len(upd)))).encode()
        assert len(upd) == MAX_BODY
        expect_json(update(relay, mb.id, mb.sender, upd), 200, "update of exactly 2048 bytes")
        # One more byte: refused from Content-Length alone, before any body is sent.
        for method, path in (("POST", "/v1/m"), ("PUT", mb.path), ("POST", mb.path)):
            with Conn(relay) as c:
                c.send(build_request(method, path, [("Mailbox-Device-Claim", mb.sender),
                                                    ("Content-Type", "application/json"),
                                                    ("Content-Length", str(MAX_BODY + 1))],
                                     None, host=c.host_header))
                resp = c.read_response(method, timeout_s=5)
                expect_error(resp, 413, "payload_too_large", "%s %s with Content-Length 2049" % (method, path))
                assert_closed(c, "413")


def test_huge_content_length_413_at_once():
    with Relay("--max-body", "2k") as relay:
        for value in ("1000000", "99999999999999999999"):
            with Conn(relay) as c:
                c.send(build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                       ("Content-Type", "application/json"),
                                                       ("Content-Length", value)],
                                     None, host=c.host_header))
                resp = c.read_response("POST", timeout_s=5)
                # An overflowing length may be judged malformed instead; both refuse and close.
                if value == "1000000":
                    expect_error(resp, 413, "payload_too_large", "Content-Length %s" % value)
                else:
                    expect_error(resp, (400, 413), ("bad_request", "payload_too_large"),
                                 "Content-Length %s" % value)
                assert_closed(c, "refusing Content-Length %s" % value)


def test_expect_100_continue_with_oversized_body_gets_413():
    with Relay("--max-body", "2k") as relay:
        with Conn(relay) as c:
            c.send(build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                   ("Content-Type", "application/json"),
                                                   ("Content-Length", "5000"),
                                                   ("Expect", "100-continue")], None, host=c.host_header))
            resp = c.read_response("POST", timeout_s=5)
            expect_error(resp, 413, "payload_too_large", "Expect: 100-continue with Content-Length 5000")


def test_chunked_body_over_max_413_and_exact_accepted():
    with Relay("--max-body", "2k") as relay:
        body = json.dumps(default_body(pad="")).encode()
        exact = json.dumps(default_body(pad="p" * (MAX_BODY - len(body)))).encode()
        with Conn(relay) as c:
            c.send(build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                   ("Content-Type", "application/json"),
                                                   ("Transfer-Encoding", "chunked")],
                                 chunked(exact, [512, 512, 512, 512]), host=c.host_header))
            expect_json(c.read_response("POST"), 200, "chunked body of exactly 2048 bytes")
        with Conn(relay) as c:
            c.send(build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                   ("Content-Type", "application/json"),
                                                   ("Transfer-Encoding", "chunked")],
                                 None, host=c.host_header))
            # 2049 bytes in chunks, without the last-chunk: the relay must refuse
            # once the total passes the limit, whatever comes next.
            data = exact + b" "
            for i in range(0, len(data), 512):
                part = data[i:i + 512]
                c.send(b"%x\r\n" % len(part) + part + b"\r\n")
            resp = c.read_response("POST", timeout_s=5)
            expect_error(resp, 413, "payload_too_large", "chunked body of 2049 bytes")
            assert_closed(c, "413 for a chunked body")


def test_header_section_over_8k_431():
    with Relay() as relay:
        cases = [
            ("long request line", "POST", "/v1/m/" + "a" * 9000, []),
            ("one long header", "POST", "/v1/m", [("X-Filler", "f" * 9000)]),
            ("many headers", "POST", "/v1/m", [("X-Filler-%03d" % i, "v" * 60) for i in range(150)]),
        ]
        for what, method, path, headers in cases:
            with Conn(relay) as c:
                c.send(build_request(method, path, [("Mailbox-Device-Claim", new_claim())] + headers,
                                     None, host=c.host_header))
                resp = c.read_response(method, timeout_s=5)
                expect_error(resp, 431, "headers_too_large", what)
        # Just under the limit is fine.
        filler = [("X-Filler-%02d" % i, "v" * 60) for i in range(90)]         # ~6.5 KiB
        resp = create(relay, headers=filler)
        expect_json(resp, 200, "create with ~6.5 KiB of headers")


def test_max_connections_waits_in_backlog():
    with Relay("--max-connections", "2") as relay:
        first, second = Conn(relay), Conn(relay)
        try:
            for c in (first, second):
                expect_json(c.roundtrip("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                          ("Content-Type", "application/json")],
                                        json.dumps(default_body()).encode()), 200)
            result = {}
            done = threading.Event()

            def third():
                try:
                    c = Conn(relay, timeout_s=15)
                    result["resp"] = c.roundtrip("GET", "/v1/m/%s" % new_claim())
                    c.close()
                except BaseException as e:          # reported below
                    result["error"] = e
                finally:
                    done.set()

            t = threading.Thread(target=third, daemon=True)
            t.start()
            # A window in which the third connection must not be served.
            assert not done.wait(1.5), "third connection served while 2 were open: %r" % result
            first.close()
            assert done.wait(8), "third connection not served after one of the two closed"
            assert "error" not in result, "third connection failed: %r" % result.get("error")
            assert result["resp"].status == 404, result["resp"]
        finally:
            first.close()
            second.close()
