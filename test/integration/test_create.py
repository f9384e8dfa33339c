"""CreateMailbox — POST /v1/m (spec §4.1, §10): the success response, mailbox
ids, and every kind of bad input."""

import base64
import json
import os
import re
import time

from relaytest import (DELETE, MAILBOX_ID_RE, b64, config, create, default_body, expect_error,
                       expect_json, new_claim, new_mailbox, parse_rfc3339, read, rfc3339,
                       with_member)

EXPECTED_SECONDS = 5

BASE = default_body()
P, D, N, C = ("payload",), ("displayInformation",), ("notificationToken",), ("mailboxConfiguration",)
TOKEN = {"type": "com.apple.apns", "tokenData": "0123456789abcdef"}


def _body(path, value, base=None):
    return with_member(base or default_body(), path, value)


def _with_token(**over):
    tok = dict(TOKEN)
    tok.update(over)
    return default_body(notificationToken=tok)


def _expect_400(relay, body, code, what):
    expect_error(create(relay, body=body), 400, code, what)


def _expect_200(relay, body, what):
    return expect_json(create(relay, body=body), 200, what)


def test_create_success_body_and_headers(relay):
    claim = new_claim()
    resp = create(relay, claim)
    data = expect_json(resp, 200, "create")
    assert set(data) == {"urlLink", "isPushNotificationSupported"}, "create body members: %r" % data
    assert data["isPushNotificationSupported"] is False, data
    m = re.match(r"^https://localhost:%d/v1/m/([^/?#]+)$" % relay.port, data["urlLink"])
    assert m, "urlLink %r is not https://localhost:%d/v1/m/{id}" % (data["urlLink"], relay.port)
    assert MAILBOX_ID_RE.match(m.group(1)), "mailbox id %r is not a lower-case v4 UUID" % m.group(1)


def test_push_not_supported_even_with_token(relay):
    data = _expect_200(relay, _with_token(), "create with an APNs token")
    assert data["isPushNotificationSupported"] is False, data


def test_mailbox_ids_unique_and_random(relay):
    ids = [new_mailbox(relay).id for _ in range(48)]
    assert len(set(ids)) == len(ids), "mailbox ids repeat: %r" % ids
    values = [int(i.replace("-", ""), 16) for i in ids]
    # Every one of the 122 random bits takes both values across 48 ids
    # (a constant bit would have probability 2^-47 per bit).
    fixed = (0xF << 76) | (0x3 << 62)
    constant = [b for b in range(128) if not (fixed >> b) & 1
                and len({(v >> b) & 1 for v in values}) == 1]
    assert not constant, "bits %r are the same in all ids (not random): %r" % (constant, ids[:4])
    diffs = sorted(abs(a - b) for a, b in zip(values, values[1:]))
    assert diffs[len(diffs) // 2] > 1 << 64, "consecutive ids are close together: %r" % ids[:4]


def test_unknown_members_ignored(relay):
    body = default_body(extra=1, another={"x": [1, 2]})
    body["payload"]["comment"] = "ignored"
    body["displayInformation"]["subtitle"] = "ignored"
    body["notificationToken"] = dict(TOKEN, extra=True)
    body["mailboxConfiguration"] = dict(config(), extra="x")
    _expect_200(relay, body, "create with unknown members")


def test_configuration_is_honoured(relay):
    exp = rfc3339(time.time() + 7200)
    mb = new_mailbox(relay, body=default_body(mailboxConfiguration={"expiration": exp}))
    data = expect_json(read(relay, mb.id, mb.sender), 200)
    assert data["expiration"] == exp, "expiration %r, asked for %r" % (data["expiration"], exp)
    assert data["payload"] == mb.body["payload"], data
    assert data["displayInformation"] == mb.body["displayInformation"], data


# ------------------------------------------------------------------ bad JSON

def test_unparsable_or_non_object_body_bad_json(relay):
    for raw in (b"{", b"", b"   ", b"[]", b'"text"', b"null", b"42", b"true",
                b'{"payload": }', b"{} x", json.dumps(default_body()).encode() + b"}",
                b"{'payload': 1}"):
        _expect_400(relay, raw, "bad_json", "body %r" % raw[:40])


def test_deeply_nested_body_does_not_crash(relay):
    body = b'{"x":' + b"[" * 20000 + b"]" * 20000 + b"}"
    resp = create(relay, body=body)
    assert resp.status in (200, 400), "20000-deep nesting answered %s" % resp
    expect_json(create(relay), 200, "relay still works after a deeply nested body")


# ------------------------------------------------------------ missing members

def test_missing_members(relay):
    cases = [
        (P, "payload"), (D, "displayInformation"),
        (P + ("type",), "payload.type"), (P + ("data",), "payload.data"),
        (D + ("title",), "title"), (D + ("description",), "description"), (D + ("imageURL",), "imageURL"),
    ]
    for path, what in cases:
        _expect_400(relay, _body(path, DELETE), "missing_field", "without %s" % what)
    _expect_400(relay, default_body(notificationToken={"type": "com.apple.apns"}), "missing_field",
                "notificationToken without tokenData")
    _expect_400(relay, default_body(notificationToken={"tokenData": "abc"}), "missing_field",
                "notificationToken without type")
    _expect_400(relay, default_body(mailboxConfiguration={}), "missing_field",
                "mailboxConfiguration without expiration")
    _expect_400(relay, default_body(mailboxConfiguration={"accessRights": "RW"}), "missing_field",
                "mailboxConfiguration with accessRights but no expiration")
    _expect_400(relay, {}, "missing_field", "empty object")


def test_empty_description_accepted(relay):
    _expect_200(relay, _body(D + ("description",), ""), "empty description")


# --------------------------------------------------------- null / wrong type

def test_null_members_invalid(relay):
    paths = [P, D, N, C, P + ("type",), P + ("data",), D + ("title",), D + ("description",),
             D + ("imageURL",)]
    base = default_body(notificationToken=dict(TOKEN), mailboxConfiguration=config(rights="RW"))
    for path in paths:
        _expect_400(relay, _body(path, None, base), "invalid_field", "%s: null" % ".".join(path))
    for path in (N + ("type",), N + ("tokenData",), C + ("accessRights",), C + ("expiration",)):
        _expect_400(relay, _body(path, None, base), "invalid_field", "%s: null" % ".".join(path))


def test_wrong_types_invalid(relay):
    base = default_body(notificationToken=dict(TOKEN), mailboxConfiguration=config(rights="RW"))
    wrong = {
        P: ["payload", [], 1, True],
        D: ["display", [1], 2.5, False],
        N: ["token", [], 7],
        C: ["config", [], 0],
        P + ("type",): [1, ["AEAD_AES_128_GCM"], {"t": 1}, True],
        P + ("data",): [12, [b64(os.urandom(32))], {"d": 1}, False],
        D + ("title",): [1, ["t"], {}, True],
        D + ("description",): [0, [], {"x": 1}],
        D + ("imageURL",): [3, ["https://example.com/a.png"], {"u": 1}],
        N + ("type",): [1, [], {}],
        N + ("tokenData",): [123, ["abc"], {}],
        C + ("accessRights",): [1, ["R"], {}],
        C + ("expiration",): [int(time.time()) + 3600, [rfc3339(time.time() + 3600)], {}],
    }
    for path, values in wrong.items():
        for value in values:
            _expect_400(relay, _body(path, value, base), "invalid_field",
                        "%s: %s" % (".".join(path), json.dumps(value)))


# ---------------------------------------------------------------- payload.type

def test_payload_type_rules(relay):
    for value in ("AEAD_AES_128_GCM", "AEAD_AES_256_GCM", "a.b-c_D9", "X", "T" * 64):
        _expect_200(relay, _body(P + ("type",), value), "payload.type %r" % value)
    for value in ("", "T" * 65, "AES 128", "AES/GCM", "typ\u00e9", "a+b", "a:b", "AEAD\u00a0GCM"):
        _expect_400(relay, _body(P + ("type",), value), "invalid_field", "payload.type %r" % value)


# ---------------------------------------------------------------- payload.data

def test_payload_data_strict_base64(relay):
    # A type without a minimum length, so that only the encoding is judged.
    def body(data):
        return _body(P, {"type": "OPAQUE_BLOB", "data": data})
    for raw in (bytes(range(190, 252)), bytes(range(190, 251))):      # 62 and 61 bytes
        good = base64.b64encode(raw).decode()
        assert good.endswith("=") and ("+" in good or "/" in good), good
        _expect_200(relay, body(good), "standard padded base64 (%d bytes)" % len(raw))
        bad = {
            "no padding": good.rstrip("="),
            "url-safe alphabet": base64.urlsafe_b64encode(raw).decode(),
            "url-safe alphabet, no padding": base64.urlsafe_b64encode(raw).decode().rstrip("="),
            "space inside": good[:8] + " " + good[8:],
            "newline inside": good[:20] + "\n" + good[20:],
            "CRLF every 76 (MIME)": good[:76] + "\r\n" + good[76:],
            "trailing newline": good + "\n",
            "leading space": " " + good,
            "extra padding": good + "==",
            "padding in the middle": good[:4] + "=" + good[5:],
            "data after padding": good + "QUJD",
            "non-alphabet character": good[:-4] + "*" + good[-3:],
            "length not a multiple of 4": good[:-1],
        }
        for what, value in bad.items():
            _expect_400(relay, body(value), "bad_base64", "payload.data, %s (%d bytes)" % (what, len(raw)))
        # Empty is valid base64, but no payload.
        _expect_400(relay, body(""), "invalid_field", "payload.data, empty")


def test_aead_data_length(relay):
    for t in ("AEAD_AES_128_GCM", "AEAD_AES_256_GCM"):
        _expect_200(relay, _body(P, {"type": t, "data": b64(os.urandom(28))}), "%s with 28 bytes" % t)
        _expect_400(relay, _body(P, {"type": t, "data": b64(os.urandom(27))}), "invalid_field",
                    "%s with 27 bytes" % t)
        _expect_400(relay, _body(P, {"type": t, "data": b64(os.urandom(1))}), "invalid_field",
                    "%s with 1 byte" % t)
    _expect_200(relay, _body(P, {"type": "OTHER_TYPE", "data": b64(b"x")}), "other type with 1 byte")


# ------------------------------------------------------- displayInformation

def test_title_length_in_code_points(relay):
    for s, what in (("t" * 256, "256 ASCII"), ("\u00e9" * 256, "256 two-byte"),
                    ("\u20ac" * 256, "256 three-byte"), ("\U0001F511" * 256, "256 four-byte")):
        _expect_200(relay, _body(D + ("title",), s), "title of %s characters" % what)
    for s, what in (("t" * 257, "257 ASCII"), ("\u00e9" * 257, "257 two-byte"),
                    ("\U0001F511" * 257, "257 four-byte"), ("", "0")):
        _expect_400(relay, _body(D + ("title",), s), "invalid_field", "title of %s characters" % what)


def test_title_surrogate_pair_escapes_count_as_one(relay):
    pair = "\\ud83d\\udd11"                      # one code point, U+1F511
    ok = json.dumps(default_body()).replace('"Hotel room 1205"', '"%s"' % (pair * 256))
    _expect_200(relay, ok.encode(), "title of 256 escaped surrogate pairs")
    bad = json.dumps(default_body()).replace('"Hotel room 1205"', '"%s"' % (pair * 257))
    _expect_400(relay, bad.encode(), "invalid_field", "title of 257 escaped surrogate pairs")


def test_description_length(relay):
    _expect_200(relay, _body(D + ("description",), "\u20ac" * 1024), "description of 1024 characters")
    _expect_200(relay, _body(D + ("description",), "d" * 1024), "description of 1024 ASCII")
    _expect_400(relay, _body(D + ("description",), "\u20ac" * 1025), "invalid_field",
                "description of 1025 characters")
    _expect_400(relay, _body(D + ("description",), "d" * 1025), "invalid_field",
                "description of 1025 ASCII")


def test_image_url_rules(relay):
    prefix = "https://example.com/"
    _expect_200(relay, _body(D + ("imageURL",), prefix + "i" * (2048 - len(prefix))), "imageURL of 2048")
    _expect_400(relay, _body(D + ("imageURL",), prefix + "i" * (2049 - len(prefix))), "invalid_field",
                "imageURL of 2049")
    for value in ("", "http://example.com/a.png", "ftp://example.com/a.png", "//example.com/a.png",
                  "javascript:alert(1)", "data:image/png;base64,AAAA", "example.com/a.png",
                  " https://example.com/a.png", "https:/example.com"):
        _expect_400(relay, _body(D + ("imageURL",), value), "invalid_field", "imageURL %r" % value)


# ---------------------------------------------------------- notificationToken

def test_notification_token_lengths(relay):
    _expect_200(relay, _with_token(type="t" * 128), "token type of 128")
    _expect_200(relay, _with_token(tokenData="d" * 4096), "tokenData of 4096")
    _expect_200(relay, _with_token(type="\u00e9" * 128, tokenData="\u20ac" * 4096),
                "multi-byte token strings at their limits")
    for over, what in (({"type": ""}, "empty type"), ({"type": "t" * 129}, "type of 129"),
                       ({"tokenData": ""}, "empty tokenData"), ({"tokenData": "d" * 4097}, "tokenData of 4097"),
                       ({"type": "\u00e9" * 129}, "type of 129 two-byte")):
        _expect_400(relay, _with_token(**over), "invalid_field", "notificationToken %s" % what)


# ------------------------------------------------------- mailboxConfiguration

def test_access_rights(relay):
    for rights in ("R", "W", "D", "RW", "RD", "WD", "DWR", "RWD", "WR"):
        _expect_200(relay, default_body(mailboxConfiguration=config(rights=rights)), "accessRights %r" % rights)
    for rights in ("", "RR", "X", "r", "rw", "RWDR", "R W", "RWX", "DD", "R,W"):
        _expect_400(relay, default_body(mailboxConfiguration=config(rights=rights)), "invalid_field",
                    "accessRights %r" % rights)


def test_expiration_forms(relay):
    t = time.time() + 3600
    good = rfc3339(t)
    _expect_200(relay, default_body(mailboxConfiguration=config(expiration=good)), "expiration %r" % good)
    bad = [
        good[:-1] + "+00:00", good[:-1] + "-00:00", good[:-1] + ".000Z", good[:-1] + ".5Z",
        good[:10], good.replace("T", " "), good.replace("T", "t"), good[:-1] + "z", good[:-1],
        good[:-3] + "Z", time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(t)),
        "%s-13-01T00:00:00Z" % time.gmtime().tm_year, "tomorrow", "",
        " " + good, good + " ",
    ]
    for value in bad:
        _expect_400(relay, default_body(mailboxConfiguration=config(expiration=value)), "invalid_field",
                    "expiration %r" % value)
    for value in (int(t), float(t), t * 1000):
        _expect_400(relay, default_body(mailboxConfiguration={"expiration": value}), "invalid_field",
                    "expiration as number %r" % value)


def test_expiration_must_be_future_and_within_max_ttl(relay):
    now = time.time()
    for delta, what in ((-3600, "an hour ago"), (-2, "two seconds ago"), (-86400 * 400, "last year")):
        _expect_400(relay, default_body(mailboxConfiguration=config(expiration=rfc3339(now + delta))),
                    "invalid_field", "expiration %s" % what)
    # v1.1: up to 5 minutes past the maximum is clamped (test_phones), beyond is refused.
    _expect_400(relay, default_body(mailboxConfiguration=config(expiration=rfc3339(now + 7 * 86400 + 600))),
                "invalid_field", "expiration 7 days + 10 minutes ahead (default --max-ttl 7d)")
    _expect_400(relay, default_body(mailboxConfiguration=config(expiration="2999-01-01T00:00:00Z")),
                "invalid_field", "expiration in 2999")
    ok = rfc3339(now + 7 * 86400 - 120)
    mb = new_mailbox(relay, body=default_body(mailboxConfiguration=config(expiration=ok)))
    data = expect_json(read(relay, mb.id, mb.sender), 200)
    assert data["expiration"] == ok, "expiration %r, asked for %r" % (data["expiration"], ok)


def test_calendar_invalid_expiration(relay):
    year = time.gmtime(time.time() + 86400).tm_year
    for value in ("%d-02-30T12:00:00Z" % year, "%d-04-31T12:00:00Z" % year,
                  "%d-06-10T24:00:00Z" % year, "%d-06-10T12:60:00Z" % year, "%d-00-10T12:00:00Z" % year):
        _expect_400(relay, default_body(mailboxConfiguration=config(expiration=value)), "invalid_field",
                    "expiration %r" % value)


# ------------------------------------------------------------------- UTF-8

def test_invalid_utf8_bytes_400(relay):
    template = json.dumps(default_body(), ensure_ascii=False).encode()
    for bad, what in ((b"\xff", "0xFF"), (b"\xc3", "truncated sequence"), (b"\xc0\xaf", "overlong /"),
                      (b"\xed\xa0\x80", "UTF-8-encoded surrogate"), (b"\xf4\x90\x80\x80", "beyond U+10FFFF"),
                      (b"\x80", "lone continuation byte")):
        body = template.replace(b"Hotel room 1205", b"Hotel " + bad + b" room")
        expect_error(create(relay, body=body), 400, ("bad_json", "invalid_field"), "title with %s" % what)
        body = template[:-1] + b', "unknown": "x' + bad + b'"}'
        expect_error(create(relay, body=body), 400, ("bad_json", "invalid_field"),
                     "ignored member with %s" % what)


def test_lone_surrogate_escapes_400(relay):
    template = json.dumps(default_body())
    for esc in ("\\ud800", "\\udc00", "x\\ud83dy", "\\udd11\\ud83d"):
        body = template.replace("Hotel room 1205", "Hotel %s room" % esc)
        expect_error(create(relay, body=body.encode()), 400, ("bad_json", "invalid_field"),
                     "title with %s" % esc)


def test_escaped_unicode_round_trips(relay):
    title = "Schl\u00fcssel \U0001F511 \u00e9\u20ac \"quoted\" \\ back/slash"
    mb = new_mailbox(relay, body=_body(D + ("title",), title))
    data = expect_json(read(relay, mb.id, mb.sender), 200)
    assert data["displayInformation"]["title"] == title, data["displayInformation"]
