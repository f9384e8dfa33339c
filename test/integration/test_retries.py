"""Retries keyed on Mailbox-Request-ID (spec §5)."""

from relaytest import (Relay, create, default_body, delete, expect_error, expect_json, new_claim,
                       new_mailbox, read, relinquish, update, update_body)

EXPECTED_SECONDS = 3


def test_create_retry_returns_same_link_without_new_mailbox():
    with Relay("--max-mailboxes", "1") as relay:
        claim = new_claim()
        first = expect_json(create(relay, claim, request_id="c-1"), 200, "first create")
        resp = create(relay, claim, request_id="c-1")
        again = expect_json(resp, 201, "create retried with the same claim and id")
        assert again == first, "retry body %r differs from the original %r" % (again, first)
        assert resp.header("Mailbox-Request-ID") == "c-1", resp
        # A retry with a different body is still the same call.
        again2 = expect_json(create(relay, claim, default_body(), request_id="c-1"), 201)
        assert again2["urlLink"] == first["urlLink"], again2
        # The store holds exactly one mailbox: any new create is refused.
        expect_error(create(relay, claim, request_id="c-2"), 503, "store_full",
                     "a new create after retries (store of 1)")


def test_create_retry_claim_case_insensitive(relay):
    claim = new_claim()
    first = expect_json(create(relay, claim, request_id="ci-1"), 200)
    again = expect_json(create(relay, claim.upper(), request_id="ci-1"), 201,
                        "retry with the claim in upper case")
    assert again["urlLink"] == first["urlLink"]


def test_only_last_id_counts(relay):
    claim = new_claim()
    x1 = expect_json(create(relay, claim, request_id="X"), 200)
    y = expect_json(create(relay, claim, request_id="Y"), 200)
    x2 = expect_json(create(relay, claim, request_id="X"), 200, "ids X, Y, X: the second X is new")
    assert len({x1["urlLink"], y["urlLink"], x2["urlLink"]}) == 3, (x1, y, x2)
    x3 = expect_json(create(relay, claim, request_id="X"), 201, "X right after X")
    assert x3 == x2, (x3, x2)


def test_same_id_other_claim_is_new(relay):
    a = expect_json(create(relay, new_claim(), request_id="shared"), 200)
    b = expect_json(create(relay, new_claim(), request_id="shared"), 200, "same id, other claim")
    assert a["urlLink"] != b["urlLink"]


def test_no_request_id_never_retry(relay):
    claim = new_claim()
    a = expect_json(create(relay, claim), 200)
    b = expect_json(create(relay, claim), 200, "two creates without a request id")
    assert a["urlLink"] != b["urlLink"]


def test_failed_create_not_remembered(relay):
    claim = new_claim()
    body = default_body()
    del body["payload"]
    expect_error(create(relay, claim, body, request_id="F"), 400, "missing_field")
    expect_json(create(relay, claim, request_id="F"), 200, "same id after a failed create is new")
    expect_json(create(relay, claim, request_id="F"), 201)


def test_update_retry_changes_nothing(relay):
    mb = new_mailbox(relay)
    first_body = update_body()
    data = expect_json(update(relay, mb.id, mb.sender, first_body, request_id="U"), 200)
    etag = read(relay, mb.id, mb.sender).header("ETag")
    resp = update(relay, mb.id, mb.sender, update_body(), request_id="U")
    again = expect_json(resp, 201, "update retried")
    assert again == data == {"isPushNotificationSupported": False}, (again, data)
    after = read(relay, mb.id, mb.sender)
    assert expect_json(after, 200)["payload"] == first_body["payload"], "retry changed the payload"
    assert after.header("ETag") == etag, "retry changed the ETag"


def test_failed_update_does_not_replace_last_id(relay):
    mb = new_mailbox(relay)
    expect_json(update(relay, mb.id, mb.sender, request_id="U1"), 200)
    expect_error(update(relay, mb.id, mb.sender, {"payload": None}, request_id="U2"), 400, "invalid_field")
    expect_json(update(relay, mb.id, mb.sender, request_id="U1"), 201,
                "U1 after a failed U2 is still a retry")
    expect_json(update(relay, mb.id, mb.sender, request_id="U2"), 200, "U2 after it had failed is new")


def test_same_id_other_operation_or_mailbox_is_new(relay):
    claim = new_claim()
    mb = new_mailbox(relay, sender=claim, request_id="K")
    expect_json(update(relay, mb.id, claim, request_id="K"), 200, "update with the id of the create")
    mb2 = new_mailbox(relay, sender=claim)
    expect_json(update(relay, mb2.id, claim, request_id="L"), 200)
    expect_json(update(relay, mb.id, claim, request_id="L"), 200, "same id, other mailbox")


def test_relinquish_retry_after_unbinding(relay):
    mb = new_mailbox(relay)
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200)
    first = expect_json(relinquish(relay, mb.id, receiver, request_id="R1"), 200)
    again = expect_json(relinquish(relay, mb.id, receiver, request_id="R1"), 201, "relinquish retried")
    assert again == first == {}, (again, first)
    # The retry changed nothing: the mailbox is still free for a new Receiver.
    expect_json(read(relay, mb.id, new_claim()), 200, "new claim binds after the retry")


def test_reads_are_not_retries(relay):
    mb = new_mailbox(relay)
    for _ in range(2):
        expect_json(read(relay, mb.id, mb.sender, request_id="RD"), 200, "read with a repeated id")


def test_records_go_with_the_mailbox(relay):
    claim = new_claim()
    mb = new_mailbox(relay, sender=claim, request_id="G")
    expect_json(delete(relay, mb.id, claim), 200)
    data = expect_json(create(relay, claim, request_id="G"), 200,
                       "create with the id of a deleted mailbox's create")
    assert data["urlLink"] != mb.url
