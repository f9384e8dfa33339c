"""Request headers (spec §3, §10): Mailbox-Device-Claim, Mailbox-Request-ID,
Mailbox-Device-Attestation, Content-Type."""

import uuid

from relaytest import (OMIT, call, create, default_body, delete, expect_error, expect_json,
                       expect_status, new_claim, new_mailbox, read, relinquish, update,
                       update_body, config)

EXPECTED_SECONDS = 3

MALFORMED_CLAIMS = [
    "",
    "not-a-uuid",
    "{%s}" % uuid.uuid4(),
    "urn:uuid:%s" % uuid.uuid4(),
    uuid.uuid4().hex,                                  # no hyphens
    str(uuid.uuid4())[:-1],                            # 35 characters
    str(uuid.uuid4()) + "0",                           # 37 characters
    "g" + str(uuid.uuid4())[1:],                       # not hex
    str(uuid.uuid4()).replace("-", "_"),
    " %s x" % uuid.uuid4(),
    "%s,%s" % (uuid.uuid4(), uuid.uuid4()),
]


# ------------------------------------------------------------------ claims

def test_create_without_claim_401(relay):
    expect_error(create(relay, claim=OMIT), 401, "invalid_claim", "create without claim")


def test_malformed_claims_401_on_every_endpoint(relay):
    mb = new_mailbox(relay)
    for claim in MALFORMED_CLAIMS:
        expect_error(create(relay, claim=claim), 401, "invalid_claim", "create claim %r" % claim)
        expect_error(read(relay, mb.id, claim), 401, "invalid_claim", "read claim %r" % claim)
        expect_error(update(relay, mb.id, claim), 401, "invalid_claim", "update claim %r" % claim)
        expect_error(delete(relay, mb.id, claim), 401, "invalid_claim", "delete claim %r" % claim)
        expect_error(relinquish(relay, mb.id, claim), 401, "invalid_claim", "relinquish claim %r" % claim)
    # None of that hurt the mailbox.
    expect_json(read(relay, mb.id, mb.sender), 200)


def test_missing_claim_401_on_every_endpoint(relay):
    mb = new_mailbox(relay)
    expect_error(read(relay, mb.id, OMIT), 401, "invalid_claim", "read without claim")
    expect_error(update(relay, mb.id, OMIT), 401, "invalid_claim", "update without claim")
    expect_error(delete(relay, mb.id, OMIT), 401, "invalid_claim", "delete without claim")
    expect_error(relinquish(relay, mb.id, OMIT), 401, "invalid_claim", "relinquish without claim")


def test_uppercase_and_any_version_claims_accepted(relay):
    for claim in (str(uuid.uuid4()).upper(), str(uuid.uuid1()), str(uuid.uuid3(uuid.NAMESPACE_DNS, "x")),
                  "00000000-0000-0000-0000-000000000000", "AbCdEf01-2345-6789-abcd-EF0123456789"):
        expect_json(create(relay, claim=claim), 200, "create with claim %r" % claim)


def test_claims_compare_case_insensitively(relay):
    sender = str(uuid.uuid4())
    # No R: only the Sender can read, so a 200 proves the claim matched the Sender's.
    mb = new_mailbox(relay, sender=sender.upper(), rights="WD")
    expect_json(read(relay, mb.id, sender.lower()), 200, "Sender reading with its claim in lower case")
    expect_json(update(relay, mb.id, sender.lower()), 200, "Sender updating with lower-case claim")
    expect_error(read(relay, mb.id, new_claim()), 401, "unauthorized", "other claim, no R")
    expect_json(delete(relay, mb.id, sender.lower()), 200, "Sender deleting with lower-case claim")


# --------------------------------------------------------- Mailbox-Request-ID

def test_request_id_echoed(relay):
    mb = new_mailbox(relay)
    rid = "".join(chr(c) for c in range(0x21, 0x7F))[:128]
    cases = [
        ("create", lambda h: create(relay, request_id=h)),
        ("read", lambda h: read(relay, mb.id, mb.sender, request_id=h)),
        ("preview", lambda h: call(relay, "GET", mb.path, request_id=h)),
        ("HEAD preview", lambda h: call(relay, "HEAD", mb.path, request_id=h)),
        ("404", lambda h: read(relay, new_claim(), mb.sender, request_id=h)),
        ("401", lambda h: read(relay, mb.id, OMIT, request_id=h)),
        ("405", lambda h: call(relay, "GET", "/v1/m", request_id=h)),
        ("unknown path", lambda h: call(relay, "GET", "/nowhere", request_id=h)),
        ("400", lambda h: create(relay, body=b"{", request_id=h)),
    ]
    for value in ("a", rid, "x" * 128, "req-1.2_3~!"):
        for what, fn in cases:
            resp = fn(value)
            assert resp.header("Mailbox-Request-ID") == value, \
                "%s: Mailbox-Request-ID %r not echoed unchanged: %s" % (what, value, resp)


def test_invalid_request_id_400_not_echoed(relay):
    mb = new_mailbox(relay)
    for value in ("x" * 129, "a b", "", "caf\u00e9", "tab\there", "del\x7f"):
        for what, resp in (("create", create(relay, request_id=value)),
                           ("read", read(relay, mb.id, mb.sender, request_id=value)),
                           ("update", update(relay, mb.id, mb.sender, request_id=value)),
                           ("relinquish", relinquish(relay, mb.id, mb.sender, request_id=value)),
                           ("delete", delete(relay, mb.id, new_claim(), request_id=value))):
            # A DEL byte may already fail the HTTP parser (bad_request); 400 either way.
            codes = ("invalid_request_id", "bad_request") if "\x7f" in value else "invalid_request_id"
            expect_error(resp, 400, codes, "%s with request id %r" % (what, value))
            assert not resp.has_header("Mailbox-Request-ID"), \
                "invalid request id %r was echoed: %s" % (value, resp)
        resp = call(relay, "GET", mb.path, request_id=value)
        expect_status(resp, 400, "preview with request id %r" % value)
    expect_json(read(relay, mb.id, mb.sender), 200, "mailbox intact after refused requests")


# ----------------------------------------------------------------- attestation

def test_attestation_up_to_4096_bytes_accepted(relay):
    resp = create(relay, headers={"Mailbox-Device-Attestation": "A" * 4096})
    expect_json(resp, 200, "create with a 4096-byte attestation")
    mb = new_mailbox(relay)
    resp = read(relay, mb.id, mb.sender, headers={"Mailbox-Device-Attestation": "B" * 4096})
    data = expect_json(resp, 200, "read with a 4096-byte attestation")
    assert "B" * 100 not in resp.text, "attestation echoed in the read response"
    assert set(data) == {"displayInformation", "payload", "expiration"}, data


def test_attestation_over_4096_bytes_400(relay):
    big = "A" * 4097
    expect_error(create(relay, headers={"Mailbox-Device-Attestation": big}), 400,
                 "invalid_attestation", "create with a 4097-byte attestation")
    mb = new_mailbox(relay)
    for what, resp in (("read", read(relay, mb.id, mb.sender, headers={"Mailbox-Device-Attestation": big})),
                       ("update", update(relay, mb.id, mb.sender, headers={"Mailbox-Device-Attestation": big})),
                       ("delete", delete(relay, mb.id, mb.sender, headers={"Mailbox-Device-Attestation": big}))):
        expect_error(resp, 400, "invalid_attestation", "%s with a 4097-byte attestation" % what)
    expect_json(read(relay, mb.id, mb.sender), 200, "mailbox still there after refused delete")


# ---------------------------------------------------------------- Content-Type

def test_content_type_json_with_utf8_charset_accepted(relay):
    for ct in ("application/json", "application/json; charset=utf-8"):
        expect_json(create(relay, content_type=ct), 200, "create with Content-Type %r" % ct)
        mb = new_mailbox(relay)
        expect_json(update(relay, mb.id, mb.sender, content_type=ct), 200, "update with %r" % ct)
        expect_json(read(relay, mb.id, mb.sender, body={}, content_type=ct), 200, "read with %r" % ct)


def test_other_content_types_415(relay):
    mb = new_mailbox(relay)
    for ct in ("text/plain", "application/x-www-form-urlencoded", "application/jsonp",
               "application/json; charset=latin1", OMIT):
        what = "Content-Type %r" % ct
        expect_error(create(relay, content_type=ct), 415, "unsupported_media_type", "create, " + what)
        expect_error(update(relay, mb.id, mb.sender, content_type=ct), 415, "unsupported_media_type",
                     "update, " + what)
        expect_error(read(relay, mb.id, mb.sender, body={}, content_type=ct), 415,
                     "unsupported_media_type", "read, " + what)


def test_empty_body_needs_no_content_type(relay):
    mb = new_mailbox(relay)
    expect_json(read(relay, mb.id, mb.sender), 200, "read, no body")
    expect_json(read(relay, mb.id, mb.sender, body=b"", content_type=OMIT), 200, "read, Content-Length: 0")
    expect_json(read(relay, mb.id, mb.sender, body=b"", content_type="text/plain"), 200,
                "read, empty body labelled text/plain")
    expect_error(create(relay, body=b"", content_type=OMIT), 400, "bad_json", "create, empty body")
    expect_error(update(relay, mb.id, mb.sender, body=b"", content_type=OMIT), 400, "bad_json",
                 "update, empty body")
