"""UpdateMailbox — PUT /v1/m/{id} (spec §4.2)."""

import os

from relaytest import (DELETE, OMIT, b64, default_payload, delete, expect_error, expect_json,
                       new_claim, new_mailbox, read, update, update_body, with_member)

EXPECTED_SECONDS = 3


def test_sender_updates_payload(relay):
    mb = new_mailbox(relay)
    before = read(relay, mb.id, mb.sender)
    body = update_body()
    resp = update(relay, mb.id, mb.sender, body)
    data = expect_json(resp, 200, "Sender updates")
    assert data == {"isPushNotificationSupported": False}, "update body %r" % data
    after = read(relay, mb.id, mb.sender)
    got = expect_json(after, 200)
    assert got["payload"] == body["payload"], "payload not replaced: %r" % got["payload"]
    assert got["displayInformation"] == mb.body["displayInformation"], "display information changed"
    assert after.header("ETag") != before.header("ETag"), "ETag unchanged by an update"


def test_update_with_token_push_not_supported(relay):
    mb = new_mailbox(relay)
    body = update_body(notificationToken={"type": "com.apple.apns", "tokenData": "xyz"})
    data = expect_json(update(relay, mb.id, mb.sender, body), 200)
    assert data == {"isPushNotificationSupported": False}, data


def test_receiver_with_w_updates(relay):
    mb = new_mailbox(relay, rights="RW")
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200)
    body = update_body()
    expect_json(update(relay, mb.id, receiver, body), 200, "bound Receiver with W updates")
    got = expect_json(read(relay, mb.id, mb.sender), 200)
    assert got["payload"] == body["payload"], "Sender does not see the Receiver's payload"


def test_receiver_without_w_401(relay):
    mb = new_mailbox(relay)                      # default rights RD
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200)
    expect_error(update(relay, mb.id, receiver), 401, "unauthorized", "Receiver without W updates")
    got = expect_json(read(relay, mb.id, mb.sender), 200)
    assert got["payload"] == mb.body["payload"], "refused update changed the payload"


def test_unbound_claim_401_even_with_w(relay):
    mb = new_mailbox(relay, rights="RWD")
    expect_error(update(relay, mb.id, new_claim()), 401, "unauthorized",
                 "claim that never read updates")
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200)
    expect_error(update(relay, mb.id, new_claim()), 401, "unauthorized", "stranger after binding")


def test_update_validation(relay):
    mb = new_mailbox(relay)
    base = update_body()
    cases = [
        (with_member(base, ("payload",), DELETE), 400, "missing_field", "no payload"),
        ({}, 400, "missing_field", "empty object"),
        (with_member(base, ("payload", "data"), DELETE), 400, "missing_field", "no payload.data"),
        (with_member(base, ("payload", "type"), DELETE), 400, "missing_field", "no payload.type"),
        (with_member(base, ("payload",), None), 400, "invalid_field", "payload null"),
        (with_member(base, ("payload",), "x"), 400, "invalid_field", "payload a string"),
        (with_member(base, ("payload", "data"), b64(os.urandom(27))), 400, "invalid_field", "27 AEAD bytes"),
        (with_member(base, ("payload", "data"), b64(os.urandom(29)).rstrip("=")), 400, "bad_base64",
         "unpadded base64"),
        (with_member(base, ("payload", "type"), ""), 400, "invalid_field", "empty type"),
        (with_member(base, ("notificationToken",), {"type": "x"}), 400, "missing_field", "token w/o data"),
        (with_member(base, ("notificationToken",), {"type": "x", "tokenData": ""}), 400, "invalid_field",
         "empty tokenData"),
        (b"{", 400, "bad_json", "unparsable"),
        (b"", 400, "bad_json", "empty body"),
        (b"[]", 400, "bad_json", "array"),
    ]
    for body, status, code, what in cases:
        expect_error(update(relay, mb.id, mb.sender, body), status, code, "update with %s" % what)
    got = expect_json(read(relay, mb.id, mb.sender), 200)
    assert got["payload"] == mb.body["payload"], "a refused update changed the payload"
    expect_error(update(relay, mb.id, mb.sender, update_body(), content_type="text/plain"), 415,
                 "unsupported_media_type", "update as text/plain")


def test_update_unknown_or_deleted_404(relay):
    claim = new_claim()
    for mid in (new_claim(), "nope", "00000000-0000-4000-8000-000000000000"):
        expect_error(update(relay, mid, claim), 404, "not_found", "update of id %r" % mid)
    mb = new_mailbox(relay)
    expect_json(delete(relay, mb.id, mb.sender), 200)
    expect_error(update(relay, mb.id, mb.sender), 404, "not_found", "update of a deleted mailbox")


def test_update_missing_claim_401(relay):
    mb = new_mailbox(relay)
    expect_error(update(relay, mb.id, OMIT), 401, "invalid_claim", "update without claim")


def test_update_keeps_other_payload_types(relay):
    mb = new_mailbox(relay)
    body = {"payload": default_payload(64, "AEAD_AES_256_GCM")}
    expect_json(update(relay, mb.id, mb.sender, body), 200)
    got = expect_json(read(relay, mb.id, mb.sender), 200)
    assert got["payload"] == body["payload"], got
