"""DeleteMailbox — DELETE /v1/m/{id} (spec §4.3)."""

from relaytest import (OMIT, call, delete, expect_error, expect_json, expect_status, new_claim,
                       new_mailbox, preview, read, relinquish, update)

EXPECTED_SECONDS = 2


def test_sender_deletes(relay):
    mb = new_mailbox(relay)
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200)
    resp = delete(relay, mb.id, mb.sender)
    assert expect_json(resp, 200, "Sender deletes") == {}, "delete body %r" % resp.body
    expect_error(read(relay, mb.id, mb.sender), 404, "not_found", "read after delete")
    expect_error(read(relay, mb.id, receiver), 404, "not_found", "Receiver read after delete")
    expect_error(update(relay, mb.id, mb.sender), 404, "not_found", "update after delete")
    expect_error(relinquish(relay, mb.id, receiver), 404, "not_found", "relinquish after delete")
    expect_status(preview(relay, mb.id), 404, "preview after delete")
    expect_error(delete(relay, mb.id, mb.sender), 404, "not_found", "second delete")


def test_sender_may_delete_whatever_the_rights(relay):
    for rights in ("R", "W", "RW"):
        mb = new_mailbox(relay, rights=rights)
        expect_json(delete(relay, mb.id, mb.sender), 200, "Sender deletes (rights %r)" % rights)


def test_receiver_with_d_deletes(relay):
    for rights in (None, "RD", "RWD"):
        mb = new_mailbox(relay, rights=rights)
        receiver = new_claim()
        expect_json(read(relay, mb.id, receiver), 200)
        expect_json(delete(relay, mb.id, receiver), 200, "Receiver with D deletes (rights %r)" % rights)
        expect_error(read(relay, mb.id, mb.sender), 404, "not_found")


def test_receiver_without_d_401(relay):
    for rights in ("R", "RW"):
        mb = new_mailbox(relay, rights=rights)
        receiver = new_claim()
        expect_json(read(relay, mb.id, receiver), 200)
        expect_error(delete(relay, mb.id, receiver), 401, "unauthorized",
                     "Receiver without D deletes (rights %r)" % rights)
        expect_json(read(relay, mb.id, mb.sender), 200, "mailbox still there")


def test_unbound_or_stranger_401(relay):
    mb = new_mailbox(relay)
    expect_error(delete(relay, mb.id, new_claim()), 401, "unauthorized", "claim that never read")
    expect_json(read(relay, mb.id, new_claim()), 200)
    expect_error(delete(relay, mb.id, new_claim()), 401, "unauthorized", "stranger after binding")
    expect_error(delete(relay, mb.id, OMIT), 401, "invalid_claim", "delete without claim")
    expect_json(read(relay, mb.id, mb.sender), 200, "mailbox still there")


def test_delete_unknown_404(relay):
    claim = new_claim()
    for mid in (new_claim(), "xyz", new_claim() + "0"):
        expect_error(delete(relay, mid, claim), 404, "not_found", "delete of id %r" % mid)


def test_delete_is_not_subject_to_retries(relay):
    mb = new_mailbox(relay)
    expect_json(delete(relay, mb.id, mb.sender, request_id="del-1"), 200)
    resp = delete(relay, mb.id, mb.sender, request_id="del-1")
    expect_error(resp, 404, "not_found", "repeated delete with the same request id")
    assert resp.header("Mailbox-Request-ID") == "del-1", resp
