"""Writes that know what they overwrite (contract v1.1, §4.1, §4.2, §6):
ETags on create and update answers, If-Match → 412 precondition_failed, and
long-polls woken only by a version the waiter does not already hold."""

from relaytest import (Conn, create, delete, expect_error, expect_json, expect_status, new_claim,
                       new_mailbox, read, update, update_body)

EXPECTED_SECONDS = 3
PARALLEL = True          # the long-poll tests mostly wait


def _etag(relay, mb, claim):
    resp = read(relay, mb.id, claim)
    expect_json(resp, 200)
    return resp.header("ETag")


def _write(relay, mb, claim, body=None, if_match=None, request_id=None, status=200):
    """PUT, assert the status; returns (the answer's ETag, the body written)."""
    body = body or update_body()
    headers = [("If-Match", if_match)] if if_match is not None else []
    resp = update(relay, mb.id, claim, body, headers=headers, request_id=request_id)
    if status == 412:
        expect_error(resp, 412, "precondition_failed", "conditional update")
    else:
        expect_json(resp, status, "update")
    return resp.header("ETag"), body


def _park(relay, mb, claim, if_none_match, wait=20):
    conn = Conn(relay, timeout_s=wait + 10)
    conn.request("POST", mb.path, [("Mailbox-Device-Claim", claim),
                                   ("If-None-Match", if_none_match), ("Prefer", "wait=%d" % wait)])
    if conn.data_within(0.3):
        resp = conn.read_response("POST")
        conn.close()
        raise AssertionError("long-poll with If-None-Match %s was answered at once: %s"
                             % (if_none_match, resp))
    return conn


def test_create_answers_the_etag_reads_return(relay):
    claim = new_claim()
    resp = create(relay, claim, request_id="c-etag")
    data = expect_json(resp, 200)
    etag = resp.header("ETag")
    assert etag and etag.startswith('"') and etag.endswith('"'), "create ETag %r" % etag
    mid = data["urlLink"].rsplit("/", 1)[1]
    got = read(relay, mid, claim)
    assert got.header("ETag") == etag, "create said %r, a read says %r" % (etag, got.header("ETag"))
    retry = create(relay, claim, request_id="c-etag")
    expect_json(retry, 201)
    assert retry.header("ETag") == etag, "create retry ETag %r, expected %r" % (retry.header("ETag"), etag)


def test_update_answers_the_etag_of_the_payload_stored(relay):
    mb = new_mailbox(relay, rights="RW")
    receiver = new_claim()
    first = _etag(relay, mb, receiver)
    seen = [first]
    for who in (mb.sender, receiver, mb.sender):
        etag, body = _write(relay, mb, who, request_id="u-%d" % len(seen))
        assert etag and etag not in seen, "update ETag %r (seen %r)" % (etag, seen)
        for reader in (mb.sender, receiver):
            got = read(relay, mb.id, reader)
            assert got.header("ETag") == etag, "update said %r, a read says %r" % (etag, got.header("ETag"))
            assert expect_json(got, 200)["payload"] == body["payload"]
        seen.append(etag)
    # A retry answers the ETag of the payload stored now.
    resp = update(relay, mb.id, mb.sender, update_body(), request_id="u-3")
    expect_json(resp, 201, "update retried")
    assert resp.header("ETag") == seen[-1], "retry ETag %r, expected %r" % (resp.header("ETag"), seen[-1])
    # Refusals carry none.
    resp = update(relay, mb.id, new_claim())
    expect_error(resp, 401, "unauthorized")
    assert resp.header("ETag") is None, resp


def test_if_match_current_etag_writes(relay):
    mb = new_mailbox(relay, rights="RW")
    receiver = new_claim()
    etag = _etag(relay, mb, receiver)
    etag, _ = _write(relay, mb, receiver, if_match=etag)
    etag, _ = _write(relay, mb, mb.sender, if_match='"other", %s' % etag)
    etag, body = _write(relay, mb, receiver, if_match="*")
    assert expect_json(read(relay, mb.id, mb.sender), 200)["payload"] == body["payload"]


def test_if_match_stale_etag_is_412_and_changes_nothing(relay):
    mb = new_mailbox(relay, rights="RW")
    receiver = new_claim()
    e1 = _etag(relay, mb, receiver)
    # The Sender writes first; the Receiver's reply was based on e1.
    e2, sender_body = _write(relay, mb, mb.sender)
    sender_waits = _park(relay, mb, mb.sender, e2)
    try:
        for if_match in (e1, "W/%s" % e2, '"nope"', e2.strip('"'), "%s x" % e2, ""):
            _write(relay, mb, receiver, if_match=if_match, request_id="reply-1", status=412)
        # Nothing stored, nobody woken.
        got = read(relay, mb.id, receiver)
        assert expect_json(got, 200)["payload"] == sender_body["payload"], "a 412 stored its payload"
        assert got.header("ETag") == e2, "a 412 changed the ETag"
        assert not sender_waits.data_within(0.3), "a 412 woke the other party's long-poll"
        # The request id was not recorded: the same id, now with the right
        # ETag, is a new call (200), not a retry (201).
        e3, reply = _write(relay, mb, receiver, if_match=e2, request_id="reply-1")
        woken = sender_waits.read_response("POST", timeout_s=5)
    finally:
        sender_waits.close()
    assert expect_json(woken, 200)["payload"] == reply["payload"]
    assert woken.header("ETag") == e3
    # A retry is recognised before the precondition: the same call again,
    # with its now stale If-Match, is answered 201 with nothing changed.
    resp = update(relay, mb.id, receiver, update_body(), headers=[("If-Match", e2)],
                  request_id="reply-1")
    expect_json(resp, 201, "retry of a conditional update")
    assert resp.header("ETag") == e3


def test_401_and_404_come_before_412(relay):
    mb = new_mailbox(relay, rights="RW")
    expect_error(update(relay, mb.id, new_claim(), headers=[("If-Match", '"0"')]), 401, "unauthorized",
                 "stranger with a stale If-Match")
    expect_error(update(relay, new_claim(), mb.sender, headers=[("If-Match", '"0"')]), 404, "not_found",
                 "unknown mailbox with a stale If-Match")
    expect_error(update(relay, mb.id, mb.sender, b"{", headers=[("If-Match", '"0"')]), 412,
                 "precondition_failed", "a stale If-Match before a malformed body")


def test_writer_long_polls_with_its_own_etag(relay):
    """The stateful flow without push: each side writes, then long-polls with
    the ETag its write returned; only the other side's write answers it."""
    mb = new_mailbox(relay, rights="RW")
    receiver = new_claim()
    e1 = _etag(relay, mb, receiver)
    e2, _ = _write(relay, mb, receiver, if_match=e1)
    receiver_waits = _park(relay, mb, receiver, e2)
    try:
        assert not receiver_waits.data_within(0.3), "answered with its own write"
        e3, sender_body = _write(relay, mb, mb.sender, if_match=e2)
        woken = receiver_waits.read_response("POST", timeout_s=5)
    finally:
        receiver_waits.close()
    assert expect_json(woken, 200)["payload"] == sender_body["payload"]
    assert woken.header("ETag") == e3


def _next_etag(relay):
    """ETags count a mailbox's versions: a fresh mailbox written once shows
    what the second version of any mailbox is called."""
    twin = new_mailbox(relay)
    return _etag(relay, twin, twin.sender), _write(relay, twin, twin.sender)[0]


def test_waiter_that_names_the_new_etag_stays_parked(relay):
    first, second = _next_etag(relay)
    mb = new_mailbox(relay, rights="RW")
    receiver = new_claim()
    assert _etag(relay, mb, receiver) == first
    holds_both = _park(relay, mb, receiver, "%s, %s" % (first, second))
    holds_first = _park(relay, mb, mb.sender, first)
    try:
        e2, _ = _write(relay, mb, mb.sender)
        assert e2 == second
        expect_json(holds_first.read_response("POST", timeout_s=5), 200, "waiter on the old version")
        assert not holds_both.data_within(0.5), "a waiter that names the new ETag was answered"
        # It stays on the mailbox: the next version answers it.
        e3, body = _write(relay, mb, receiver)
        woken = holds_both.read_response("POST", timeout_s=5)
    finally:
        holds_both.close()
        holds_first.close()
    assert expect_json(woken, 200)["payload"] == body["payload"]
    assert woken.header("ETag") == e3


def test_waiter_kept_parked_times_out_with_the_version_it_holds(relay):
    first, second = _next_etag(relay)
    mb = new_mailbox(relay, rights="RW")
    assert _etag(relay, mb, mb.sender) == first
    conn = _park(relay, mb, mb.sender, "%s, W/%s" % (first, second), wait=2)
    try:
        _write(relay, mb, mb.sender)
        resp = conn.read_response("POST", timeout_s=6)
    finally:
        conn.close()
    expect_status(resp, 204, "timed-out long-poll")
    assert resp.header("ETag") == second, "204 ETag %r, expected %r" % (resp.header("ETag"), second)


def test_waiter_with_star_is_answered_only_by_the_end(relay):
    mb = new_mailbox(relay, rights="RWD")
    conn = _park(relay, mb, mb.sender, "*")
    try:
        for _ in range(2):
            _write(relay, mb, mb.sender)
        assert not conn.data_within(0.3), "If-None-Match: * was answered by an update"
        expect_json(delete(relay, mb.id, mb.sender), 200)
        expect_error(conn.read_response("POST", timeout_s=5), 404, "not_found", "after the delete")
    finally:
        conn.close()
