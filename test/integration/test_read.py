"""ReadSecureContentFromMailbox — POST /v1/m/{id} (spec §4.5): the response,
who may read, and how the first other claim binds as Receiver."""

import re
import time

from relaytest import (EXPIRATION_RE, OMIT, call, config, default_body, delete, expect_error, expect_json,
                       new_claim, new_mailbox, parse_rfc3339, read, relinquish, update)

EXPECTED_SECONDS = 3


def test_sender_reads_full_content(relay):
    mb = new_mailbox(relay, body=default_body(notificationToken={"type": "com.apple.apns",
                                                                 "tokenData": "tok-abc"}))
    resp = read(relay, mb.id, mb.sender)
    data = expect_json(resp, 200, "Sender reads")
    assert set(data) == {"displayInformation", "payload", "expiration"}, "read body members: %r" % data
    assert data["payload"] == mb.body["payload"], (data["payload"], mb.body["payload"])
    assert data["displayInformation"] == mb.body["displayInformation"], data["displayInformation"]
    assert EXPIRATION_RE.match(data["expiration"]), "expiration %r" % data["expiration"]
    assert abs(parse_rfc3339(data["expiration"]) - (time.time() + 86400)) < 10, \
        "default expiration %r is not ~24 h ahead" % data["expiration"]
    etag = resp.header("ETag")
    assert etag and re.match(r'^"[\x21\x23-\x7e]+"$', etag), "ETag %r is not a quoted entity-tag" % etag
    assert "tok-abc" not in resp.text, "notification token leaked into the read response"


def test_receiver_binds_on_first_read(relay):
    mb = new_mailbox(relay)
    receiver = new_claim()
    data = expect_json(read(relay, mb.id, receiver), 200, "first other claim reads")
    assert data["payload"] == mb.body["payload"]
    expect_json(read(relay, mb.id, receiver), 200, "bound Receiver reads again")
    expect_error(read(relay, mb.id, new_claim()), 401, "unauthorized", "third claim after binding")
    expect_json(read(relay, mb.id, mb.sender), 200, "Sender still reads")
    expect_json(read(relay, mb.id, receiver.upper()), 200, "Receiver claim in upper case")


def test_sender_read_does_not_bind(relay):
    mb = new_mailbox(relay)
    for _ in range(2):
        expect_json(read(relay, mb.id, mb.sender), 200, "Sender reads")
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200, "first other claim after Sender reads binds")
    expect_error(read(relay, mb.id, new_claim()), 401, "unauthorized", "another claim")


def test_rights_without_r_never_bind(relay):
    for rights in ("W", "D", "WD"):
        mb = new_mailbox(relay, rights=rights)
        stranger = new_claim()
        expect_error(read(relay, mb.id, stranger), 401, "unauthorized",
                     "other claim reading a mailbox with rights %r" % rights)
        expect_error(update(relay, mb.id, stranger), 401, "unauthorized",
                     "unbound claim updating (rights %r)" % rights)
        expect_error(delete(relay, mb.id, stranger), 401, "unauthorized",
                     "unbound claim deleting (rights %r)" % rights)
        expect_json(read(relay, mb.id, mb.sender), 200, "Sender reads (rights %r)" % rights)
        expect_error(read(relay, mb.id, new_claim()), 401, "unauthorized", "another claim (rights %r)" % rights)


def test_read_with_rights_r_only(relay):
    mb = new_mailbox(relay, rights="R")
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200, "Receiver with R")
    expect_error(update(relay, mb.id, receiver), 401, "unauthorized", "Receiver without W updates")
    expect_error(delete(relay, mb.id, receiver), 401, "unauthorized", "Receiver without D deletes")


def test_read_bodies(relay):
    mb = new_mailbox(relay)
    receiver = new_claim()
    token = {"type": "com.apple.apns", "tokenData": "abcdef"}
    expect_json(read(relay, mb.id, receiver, body={"notificationToken": token}), 200, "read with a token")
    expect_json(read(relay, mb.id, receiver, body={}), 200, "read with {}")
    expect_json(read(relay, mb.id, receiver, body={"unknown": 1}), 200, "read with an unknown member")
    for raw in (b"{", b"[]", b"null", b"\"x\"", b"{} {}"):
        expect_error(read(relay, mb.id, receiver, body=raw), 400, "bad_json", "read body %r" % raw)
    for tok, what in (({"type": "com.apple.apns"}, "token without tokenData"),):
        expect_error(read(relay, mb.id, receiver, body={"notificationToken": tok}), 400,
                     "missing_field", what)
    for tok, what in (({"type": "", "tokenData": "x"}, "empty token type"),
                      ({"type": "x", "tokenData": "d" * 4097}, "tokenData of 4097"),
                      ("token", "token as a string"), (None, "token null"),
                      ({"type": 5, "tokenData": "x"}, "token type a number")):
        expect_error(read(relay, mb.id, receiver, body={"notificationToken": tok}), 400,
                     "invalid_field", what)
    expect_error(read(relay, mb.id, receiver, body=b"{}", content_type="text/plain"), 415,
                 "unsupported_media_type", "read body as text/plain")


def test_read_unknown_or_malformed_id_404(relay):
    claim = new_claim()
    for mid in (new_claim(), "not-a-uuid", "00000000-0000-0000-0000-000000000000",
                new_claim().upper(), new_claim()[:-1], "%7B" + new_claim() + "%7D"):
        expect_error(read(relay, mid, claim), 404, "not_found", "read of id %r" % mid)


def test_read_after_delete_404(relay):
    mb = new_mailbox(relay)
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200)
    expect_json(delete(relay, mb.id, mb.sender), 200)
    expect_error(read(relay, mb.id, mb.sender), 404, "not_found", "Sender reads a deleted mailbox")
    expect_error(read(relay, mb.id, receiver), 404, "not_found", "Receiver reads a deleted mailbox")


def test_mailbox_id_in_either_case_rest_of_path_case_sensitive(relay):
    # v1.1: the id matches case-insensitively, as UUIDs do (test_phones).
    mb = new_mailbox(relay)
    got = expect_json(read(relay, mb.id.upper(), mb.sender), 200, "read via the upper-case id")
    assert got["payload"] == mb.body["payload"]
    for path in ("/V1/m/" + mb.id, "/v1/M/" + mb.id):
        expect_error(call(relay, "POST", path, claim=mb.sender), 404, "not_found",
                     "read via %s (the rest of the path is case-sensitive)" % path)


def test_nil_uuid_claim_is_an_ordinary_claim(relay):
    nil = "00000000-0000-0000-0000-000000000000"
    mb = new_mailbox(relay, rights="RWD")
    # Not bound yet: it may not write, delete or relinquish.
    expect_error(update(relay, mb.id, nil), 401, "unauthorized", "nil-UUID claim updates unbound")
    expect_error(delete(relay, mb.id, nil), 401, "unauthorized", "nil-UUID claim deletes unbound")
    expect_error(relinquish(relay, mb.id, nil), 401, "unauthorized", "nil-UUID claim relinquishes unbound")
    expect_json(read(relay, mb.id, nil), 200, "nil-UUID claim reads and binds")
    expect_json(update(relay, mb.id, nil), 200, "bound nil-UUID Receiver updates")
    expect_error(read(relay, mb.id, new_claim()), 401, "unauthorized", "another claim after nil bound")
