"""RelinquishMailbox — PATCH /v1/m/{id} (spec §4.6)."""

from relaytest import (OMIT, expect_error, expect_json, new_claim, new_mailbox, read, relinquish,
                       update)

EXPECTED_SECONDS = 2


def test_receiver_relinquishes_and_next_claim_binds(relay):
    mb = new_mailbox(relay, rights="RW")
    first = new_claim()
    expect_json(read(relay, mb.id, first), 200)
    resp = relinquish(relay, mb.id, first)
    assert expect_json(resp, 200, "Receiver relinquishes") == {}, "relinquish body %r" % resp.body
    second = new_claim()
    expect_json(read(relay, mb.id, second), 200, "next new claim binds")
    expect_json(update(relay, mb.id, second), 200, "new Receiver with W updates")
    expect_error(read(relay, mb.id, first), 401, "unauthorized", "old Receiver after a new one bound")
    expect_error(update(relay, mb.id, first), 401, "unauthorized", "old Receiver updates")
    expect_error(relinquish(relay, mb.id, first), 401, "unauthorized", "old Receiver relinquishes again")


def test_relinquished_claim_loses_rights_until_it_reads_again(relay):
    mb = new_mailbox(relay, rights="RWD")
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200)
    expect_json(relinquish(relay, mb.id, receiver), 200)
    expect_error(update(relay, mb.id, receiver), 401, "unauthorized", "update after relinquishing")
    expect_error(relinquish(relay, mb.id, receiver, request_id="new-id"), 401, "unauthorized",
                 "relinquish again (new request id) while unbound")


def test_sender_and_others_cannot_relinquish(relay):
    mb = new_mailbox(relay)
    expect_error(relinquish(relay, mb.id, mb.sender), 401, "unauthorized", "Sender, no Receiver yet")
    expect_error(relinquish(relay, mb.id, new_claim()), 401, "unauthorized", "stranger, no Receiver yet")
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200)
    expect_error(relinquish(relay, mb.id, mb.sender), 401, "unauthorized", "Sender")
    expect_error(relinquish(relay, mb.id, new_claim()), 401, "unauthorized", "stranger")
    expect_error(relinquish(relay, mb.id, OMIT), 401, "invalid_claim", "no claim")
    expect_json(read(relay, mb.id, receiver), 200, "Receiver still bound")
    expect_error(read(relay, mb.id, new_claim()), 401, "unauthorized", "still bound to the first")


def test_relinquish_unknown_404(relay):
    claim = new_claim()
    for mid in (new_claim(), "bogus"):
        expect_error(relinquish(relay, mid, claim), 404, "not_found", "relinquish id %r" % mid)
