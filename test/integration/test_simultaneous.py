"""Requests that reach the relay at the same instant on separate connections
(issue 11): what clients rely on when two phones, or one phone's retry and
its first try, race. Every request is sent whole but for its last byte, and
the last bytes go together (send_together), so the relay reads them in one
turn of its loop; each race runs several rounds."""

import base64
import json
import os

from relaytest import (Conn, Relay, build_request, create, default_body, delete, expect_error,
                       expect_json, new_claim, new_mailbox, read, send_together, update_body)

EXPECTED_SECONDS = 3
ROUNDS = 8


def _request(relay, method, path, claim, body=None, request_id=None, headers=()):
    hdrs = [("Mailbox-Device-Claim", claim)] + list(headers)
    if request_id is not None:
        hdrs.append(("Mailbox-Request-ID", request_id))
    raw = None
    if body is not None:
        raw = json.dumps(body).encode()
        hdrs.append(("Content-Type", "application/json"))
    return build_request(method, path, hdrs, raw, host="localhost:%d" % relay.port)


def _race(relay, requests, methods=None):
    """Send the requests at the same instant, one connection each; returns
    the responses in the same order."""
    conns = [Conn(relay) for _ in requests]
    try:
        send_together(relay, conns, requests)
        return [c.read_response((methods or {}).get(i, "POST"), timeout_s=10)
                for i, c in enumerate(conns)]
    finally:
        for c in conns:
            c.close()


def test_share_link_tapped_on_several_devices_binds_one_receiver(relay):
    for round_ in range(ROUNDS):
        mb = new_mailbox(relay)
        devices = [new_claim() for _ in range(6)]
        answers = _race(relay, [_request(relay, "POST", mb.path, d) for d in devices])
        statuses = [a.status for a in answers]
        assert sorted(statuses) == [200] + [401] * 5, "round %d: %s" % (round_, statuses)
        winner = devices[statuses.index(200)]
        got = expect_json(answers[statuses.index(200)], 200)
        assert got["payload"] == mb.body["payload"]
        for a in answers:
            if a.status == 401:
                expect_error(a, 401, "unauthorized", "a device that lost the race")
        # The binding holds: the winner reads again, the others stay out.
        expect_json(read(relay, mb.id, winner), 200, "the bound Receiver again")
        for d in devices:
            if d != winner:
                expect_error(read(relay, mb.id, d), 401, "unauthorized", "a losing device later")


def test_identical_creates_at_once_make_one_mailbox():
    with Relay("--max-mailboxes", "1") as relay:
        for round_ in range(ROUNDS):
            claim = new_claim()
            body = default_body()
            req = _request(relay, "POST", "/v1/m", claim, body, request_id="create-%d" % round_)
            answers = _race(relay, [req, req])
            statuses = sorted(a.status for a in answers)
            assert statuses == [200, 201], "round %d: %s" % (round_, answers)
            links = {expect_json(a, a.status)["urlLink"] for a in answers}
            assert len(links) == 1, "round %d: two links %s" % (round_, links)
            # One mailbox only: the store of one is full.
            expect_error(create(relay, new_claim()), 503, "store_full", "round %d" % round_)
            mid = links.pop().rsplit("/", 1)[1]
            expect_json(delete(relay, mid, claim), 200)


def test_request_id_reused_at_once_for_another_call_is_a_new_call(relay):
    for round_ in range(ROUNDS):
        rid = "same-%d" % round_
        a = new_mailbox(relay, rights="RW")
        b = new_mailbox(relay, sender=a.sender, rights="RW")
        bodies = [update_body(), update_body()]
        # The same claim and id: an update of a, an update of b, a create.
        answers = _race(relay, [
            _request(relay, "PUT", a.path, a.sender, bodies[0], rid),
            _request(relay, "PUT", b.path, a.sender, bodies[1], rid),
            _request(relay, "POST", "/v1/m", a.sender, default_body(), rid),
        ])
        for i, what in enumerate(("update of a", "update of b", "create")):
            expect_json(answers[i], 200, "round %d: %s with a shared request id" % (round_, what))
        assert expect_json(read(relay, a.id, a.sender), 200)["payload"] == bodies[0]["payload"]
        assert expect_json(read(relay, b.id, a.sender), 200)["payload"] == bodies[1]["payload"]


def _payload(tag):
    # Large enough to arrive in several TLS records: a torn write would show.
    return {"type": "AEAD_AES_256_GCM", "data": base64.b64encode(tag * 1024 + os.urandom(64)).decode()}


def test_both_parties_writing_at_once_never_tear(relay):
    for round_ in range(ROUNDS):
        mb = new_mailbox(relay, rights="RW")
        receiver = new_claim()
        expect_json(read(relay, mb.id, receiver), 200)
        bodies = [{"payload": _payload(b"S" * 24)}, {"payload": _payload(b"R" * 24)}]
        answers = _race(relay, [_request(relay, "PUT", mb.path, mb.sender, bodies[0]),
                                _request(relay, "PUT", mb.path, receiver, bodies[1])])
        for a in answers:
            expect_json(a, 200, "round %d: a write at once" % round_)
        etags = [a.header("ETag") for a in answers]
        assert etags[0] and etags[1] and etags[0] != etags[1], "round %d: ETags %s" % (round_, etags)
        seen = []
        for claim in (mb.sender, receiver):
            got = read(relay, mb.id, claim)
            seen.append((json.dumps(expect_json(got, 200)["payload"]), got.header("ETag")))
        assert seen[0] == seen[1], "round %d: the parties read different things" % round_
        payload, etag = json.loads(seen[0][0]), seen[0][1]
        assert payload in (bodies[0]["payload"], bodies[1]["payload"]), "round %d: torn" % round_
        last = 0 if payload == bodies[0]["payload"] else 1
        assert etag == etags[last], "round %d: the stored payload's ETag %s is not its write's %s" % (
            round_, etag, etags[last])


def test_conditional_writes_at_once_exactly_one_wins(relay):
    for round_ in range(ROUNDS):
        mb = new_mailbox(relay, rights="RW")
        receiver = new_claim()
        resp = read(relay, mb.id, receiver)
        expect_json(resp, 200)
        etag = resp.header("ETag")
        bodies = [{"payload": _payload(b"s" * 24)}, {"payload": _payload(b"r" * 24)}]
        ids = ["s-%d" % round_, "r-%d" % round_]
        answers = _race(relay, [
            _request(relay, "PUT", mb.path, mb.sender, bodies[0], ids[0], [("If-Match", etag)]),
            _request(relay, "PUT", mb.path, receiver, bodies[1], ids[1], [("If-Match", etag)])])
        statuses = [a.status for a in answers]
        assert sorted(statuses) == [200, 412], "round %d: %s" % (round_, answers)
        won = statuses.index(200)
        expect_error(answers[1 - won], 412, "precondition_failed")
        for claim in (mb.sender, receiver):
            got = read(relay, mb.id, claim)
            assert expect_json(got, 200)["payload"] == bodies[won]["payload"], "round %d" % round_
            assert got.header("ETag") == answers[won].header("ETag"), "round %d" % round_
        # The loser's request id was not recorded: its write, made again
        # on the new ETag, is a new call.
        loser = (mb.sender, receiver)[1 - won]
        again = _request(relay, "PUT", mb.path, loser, bodies[1 - won], ids[1 - won],
                         [("If-Match", answers[won].header("ETag"))])
        with Conn(relay) as c:
            c.send(again)
            expect_json(c.read_response("PUT"), 200, "round %d: the loser writes again" % round_)
