"""The order in which the relay checks a JSON request: route (404) -> method
(405) -> Mailbox-Request-ID (400) -> claim syntax (401 invalid_claim) ->
attestation size (400) -> Content-Type (415) -> mailbox lookup (404) -> retry
record (201) -> authorization (401 unauthorized) -> body (400) -> store
limits (503). Each test pairs two faults and checks the earlier one wins."""

from relaytest import (OMIT, Relay, call, create, default_body, expect_error, expect_json,
                       new_claim, new_mailbox, read, relinquish, update)

EXPECTED_SECONDS = 3

BAD_RID = "x" * 129
BIG_ATT = {"Mailbox-Device-Attestation": "A" * 4097}


def test_route_before_method(relay):
    expect_error(call(relay, "PUT", "/v2/m", request_id=BAD_RID), 404, "not_found")


def test_method_before_request_id(relay):
    resp = call(relay, "GET", "/v1/m", request_id=BAD_RID)
    expect_error(resp, 405, "method_not_allowed", "GET /v1/m with a bad request id")


def test_request_id_before_claim(relay):
    expect_error(create(relay, claim=OMIT, request_id=BAD_RID), 400, "invalid_request_id",
                 "no claim and a bad request id")
    expect_error(read(relay, new_claim(), "bad-claim", request_id=""), 400, "invalid_request_id",
                 "malformed claim and an empty request id")


def test_claim_before_attestation(relay):
    expect_error(create(relay, claim="nope", headers=BIG_ATT), 401, "invalid_claim",
                 "malformed claim and a 4097-byte attestation")


def test_attestation_before_content_type(relay):
    expect_error(create(relay, headers=BIG_ATT, content_type="text/plain"), 400, "invalid_attestation",
                 "4097-byte attestation and text/plain")


def test_content_type_before_lookup(relay):
    expect_error(update(relay, new_claim(), new_claim(), content_type="text/plain"), 415,
                 "unsupported_media_type", "text/plain body for an unknown mailbox")


def test_claim_before_lookup(relay):
    expect_error(read(relay, new_claim(), OMIT), 401, "invalid_claim", "no claim, unknown mailbox")
    expect_error(update(relay, new_claim(), "garbage-claim"), 401, "invalid_claim",
                 "malformed claim, unknown mailbox")


def test_lookup_before_authorization_and_body(relay):
    expect_error(update(relay, new_claim(), new_claim(), body=b"{"), 404, "not_found",
                 "unknown mailbox, stranger, bad JSON")
    expect_error(relinquish(relay, new_claim(), new_claim()), 404, "not_found", "relinquish unknown")


def test_authorization_before_body(relay):
    mb = new_mailbox(relay)
    expect_error(update(relay, mb.id, new_claim(), body=b"{"), 401, "unauthorized",
                 "stranger sending bad JSON")
    expect_error(update(relay, mb.id, new_claim(), body={}), 401, "unauthorized",
                 "stranger sending an empty object")
    mb2 = new_mailbox(relay, rights="WD")
    expect_error(read(relay, mb2.id, new_claim(), body=b"{"), 401, "unauthorized",
                 "claim without R sending bad JSON to read")


def test_retry_record_before_authorization_and_body(relay):
    mb = new_mailbox(relay, rights="RW")
    receiver = new_claim()
    expect_json(read(relay, mb.id, receiver), 200)
    expect_json(update(relay, mb.id, mb.sender, request_id="ord-u1"), 200)
    resp = update(relay, mb.id, mb.sender, body=b"{", request_id="ord-u1")
    expect_json(resp, 201, "retry of a successful update with a now-unparsable body")
    expect_json(relinquish(relay, mb.id, receiver, request_id="ord-r1"), 200)
    expect_json(relinquish(relay, mb.id, receiver, request_id="ord-r1"), 201,
                "relinquish retry after the claim was unbound")


def test_body_before_store_limits():
    with Relay("--max-mailboxes", "1") as relay:
        expect_json(create(relay), 200)
        expect_error(create(relay), 503, "store_full", "second create in a full store")
        body = default_body()
        del body["payload"]
        expect_error(create(relay, body=body), 400, "missing_field", "bad body in a full store")
        expect_error(create(relay, body=b"{"), 400, "bad_json", "unparsable body in a full store")
