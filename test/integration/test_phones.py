"""What real phones send (contract v1.1, issue 11): mailbox ids in upper
case (iOS's UUID.uuidString), a clock that runs a few minutes fast, Android's
Base64.DEFAULT with its line breaks, and share links opened with query
parameters a messenger added. Each test fails on the relay before v1.1."""

import base64
import email.utils
import re

from relaytest import (Conn, Relay, config, create, default_body, delete, expect_error,
                       expect_json, expect_status, new_claim, new_mailbox,
                       parse_rfc3339, preview, read, relinquish, rfc3339, update, update_body)

EXPECTED_SECONDS = 4
MAX_TTL_S = 2 * 3600
RELAY_ARGS = ("--max-ttl", "2h")

ROBOTS = "noindex, nofollow"


def _og_url(text):
    m = re.search(r'<meta property="og:url" content="([^"]*)">', text)
    assert m, "no og:url in the page: %r" % text[:400]
    return m.group(1)


def test_upper_case_id_reaches_the_same_mailbox(relay):
    mb = new_mailbox(relay, rights="RWD")
    upper = mb.id.upper()
    assert upper != mb.id
    mixed = "".join(c.upper() if i % 2 else c for i, c in enumerate(mb.id))
    # The preview, GET and HEAD, in either spelling: og:url in lower case.
    for spelling in (upper, mixed):
        page = preview(relay, spelling)
        expect_status(page, 200, "preview of %s" % spelling)
        assert _og_url(page.text) == mb.url, "og:url %r for %s" % (_og_url(page.text), spelling)
        assert spelling not in page.text or spelling == mb.id, "the page repeats the path's spelling"
        expect_status(preview(relay, spelling, method="HEAD"), 200, "HEAD %s" % spelling)
    # Every endpoint of the API.
    receiver = new_claim()
    got = expect_json(read(relay, upper, receiver), 200, "Receiver reads with the upper-case id")
    assert got["payload"] == mb.body["payload"]
    body = update_body()
    expect_json(update(relay, upper, receiver, body, request_id="up-1"), 200, "update, upper case")
    expect_json(update(relay, mixed, receiver, update_body(), request_id="up-1"), 201,
                "the same update through another spelling is its retry")
    assert expect_json(read(relay, mb.id, mb.sender), 200)["payload"] == body["payload"]
    expect_json(relinquish(relay, mixed, receiver, request_id="rel-1"), 200, "relinquish, mixed case")
    expect_json(relinquish(relay, upper, receiver, request_id="rel-1"), 201, "relinquish retried")
    expect_json(read(relay, upper, new_claim()), 200, "a new Receiver binds through upper case")
    expect_json(delete(relay, upper, mb.sender), 200, "delete, upper case")
    expect_error(read(relay, mb.id, mb.sender), 404, "not_found", "deleted through upper case")
    expect_error(delete(relay, upper, mb.sender), 404, "not_found", "second delete")
    expect_status(preview(relay, upper), 404, "preview after delete")


def test_relay_writes_lower_case_only(relay):
    mb = new_mailbox(relay)
    assert mb.id == mb.id.lower()
    again = expect_json(create(relay, mb.sender, request_id="lc", body=default_body()), 200)
    retry = expect_json(create(relay, mb.sender.upper(), request_id="lc", body=default_body()), 201)
    assert retry["urlLink"] == again["urlLink"] == again["urlLink"].lower(), (again, retry)


def test_not_a_uuid_in_any_case_is_404(relay):
    mb = new_mailbox(relay)
    for bad in ("{%s}" % mb.id.upper(), mb.id.upper().replace("-", ""), "urn:uuid:" + mb.id.upper(),
                mb.id.upper()[:-1] + "G", mb.id.upper() + "0"):
        expect_error(read(relay, bad, mb.sender), 404, "not_found", "read of /v1/m/%s" % bad)
        expect_status(preview(relay, bad), 404, "preview of /v1/m/%s" % bad)


def _relay_now(resp):
    return int(email.utils.parsedate_to_datetime(resp.header("Date")).timestamp())


def _create_expiring(relay, offset_s, attempts=20):
    """Create with expiration = the relay's now + --max-ttl + offset_s, exactly:
    the relay's clock is read from the Date of the answer, and a try during
    which it moved on is made again. Returns (response, the relay's now)."""
    for _ in range(attempts):
        with Conn(relay) as c:
            before = _relay_now(c.roundtrip("GET", "/v1/m"))
            body = default_body(mailboxConfiguration=config(
                expiration=rfc3339(before + MAX_TTL_S + offset_s)))
            resp = create(relay, body=body, conn=c)
        if _relay_now(resp) == before:
            return resp, before
    raise AssertionError("the relay's clock moved on during each of %d tries" % attempts)


def test_expiration_a_little_past_the_maximum_is_clamped(relay):
    for offset in (1, 60, 300):
        resp, now = _create_expiring(relay, offset)
        data = expect_json(resp, 200, "expiration max-ttl + %d s" % offset)
        mid = data["urlLink"].rsplit("/", 1)[1]
        got = expect_json(read(relay, mid, new_claim()), 200)
        assert parse_rfc3339(got["expiration"]) == now + MAX_TTL_S, (
            "max-ttl + %d s read back as %s, expected %s" % (
                offset, got["expiration"], rfc3339(now + MAX_TTL_S)))
    resp, _ = _create_expiring(relay, 0)
    expect_json(resp, 200, "expiration exactly now + max-ttl")


def test_expiration_further_past_the_maximum_is_refused(relay):
    for offset in (301, 3600, 400 * 86400):
        resp, _ = _create_expiring(relay, offset)
        expect_error(resp, 400, "invalid_field", "expiration max-ttl + %d s" % offset)


def test_preview_carries_x_robots_tag(relay):
    mb = new_mailbox(relay)
    for method in ("GET", "HEAD"):
        for mid, status in ((mb.id, 200), (new_claim(), 404), ("nope", 404)):
            resp = preview(relay, mid, method=method)
            expect_status(resp, status, "%s preview of %s" % (method, mid))
            assert resp.header("X-Robots-Tag") == ROBOTS, "%s %s: X-Robots-Tag %r" % (
                method, mid, resp.header("X-Robots-Tag"))


def test_query_parameters_never_change_the_preview(relay):
    # 90 minutes: the page's "in 1 hour" holds for the whole test.
    mb = new_mailbox(relay, expires_in_s=5400)
    plain = preview(relay, mb.id)
    expect_status(plain, 200)
    assert _og_url(plain.text) == mb.url
    for query in ("?v=h", "?v=c&utm_source=whatsapp&fbclid=IwAR0x", "?", "?v=%22%3E%3Cscript%3E",
                  "?og:url=https://evil.example/", "?v=a#not-sent-anyway"):
        for mid in (mb.id, mb.id.upper()):
            resp = preview(relay, mid, query=query.split("#")[0])
            expect_status(resp, 200, "preview of %s with %s" % (mid, query))
            assert resp.body == plain.body, "the query %r changed the page of %s" % (query, mid)


def _data_body(data):
    return {"payload": {"type": "OPAQUE_BLOB", "data": data}}


def test_android_base64_default_gets_bad_base64(relay):
    mb = new_mailbox(relay)
    raw = bytes(range(190, 250)) * 3          # 180 bytes: 240 characters, with + and /
    good = base64.b64encode(raw).decode()
    # android.util.Base64.DEFAULT: a "\n" after every 76 characters and at the end.
    android = "".join(good[i:i + 76] + "\n" for i in range(0, len(good), 76))
    assert android.count("\n") == 4
    url_safe = base64.urlsafe_b64encode(raw).decode()
    assert "-" in url_safe and "_" in url_safe
    bad = {
        "Base64.DEFAULT (line breaks)": android,
        "Base64.DEFAULT without the last line break": android[:-1],
        "MIME line breaks": android.replace("\n", "\r\n"),
        "Base64.URL_SAFE": url_safe,
        "Base64.URL_SAFE | NO_PADDING": base64.urlsafe_b64encode(raw[:-1]).decode().rstrip("="),
        "a space": good[:40] + " " + good[40:],
        "no padding": base64.b64encode(raw[:-1]).decode().rstrip("="),
    }
    for what, data in bad.items():
        for call in ("create", "update"):
            if call == "create":
                resp = create(relay, body=default_body(payload=_data_body(data)["payload"]))
            else:
                resp = update(relay, mb.id, mb.sender, _data_body(data))
            err = expect_error(resp, 400, "bad_base64", "%s with %s" % (call, what))
            msg = err["message"]
            assert "line break" in msg and "URL" in msg, "the message does not say why: %r" % msg
            assert data[:20] not in msg, "the message echoes the data"
    # The same bytes in strict base64 are fine; empty data is another fault.
    expect_json(update(relay, mb.id, mb.sender, _data_body(good)), 200)
    expect_error(update(relay, mb.id, mb.sender, _data_body("")), 400, "invalid_field")

