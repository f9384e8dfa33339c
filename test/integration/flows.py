"""
flows — the two end-to-end uses of the relay (spec §1), as the devices would
drive them. Shared by test_flows (do they work?) and test_privacy (does
anything secret reach the logs?). Every step asserts its answer.
"""

import os
import time
import uuid

from relaytest import (Conn, b64, expect_error, expect_json, expect_status, new_claim, preview,
                       read, relinquish, update, delete, create, call)


class Secrets:
    """Distinctive values a flow sends, so a test can search for them."""

    def __init__(self):
        tag = self.tag = uuid.uuid4().hex[:12]
        self.sender = new_claim()
        self.receiver = new_claim()
        self.second_receiver = new_claim()
        self.sender_token = "tokS%sdata" % tag
        self.receiver_token = "tokR%sdata" % tag
        self.attestation = "attest%sblob" % tag
        self.title = "Title%sCar" % tag
        self.description = "Desc%sText" % tag
        self.image = "https://img%s.example/key.png" % tag
        self.payloads = []           # raw bytes of every payload sent
        self.mailbox_ids = []
        self.request_ids = []        # every Mailbox-Request-ID sent
        self.error_bodies = []       # every error response body seen

    def payload(self):
        raw = os.urandom(40) + b"PAYLOAD"
        self.payloads.append(raw)
        return {"type": "AEAD_AES_256_GCM", "data": b64(raw)}

    def request_id(self, name):
        """A Mailbox-Request-ID for one step, distinctive of this flow."""
        rid = "rid%s-%s" % (self.tag, name)
        self.request_ids.append(rid)
        return rid

    def display(self):
        return {"title": self.title, "description": self.description, "imageURL": self.image}

    def claims(self):
        return [self.sender, self.receiver, self.second_receiver]

    def needles(self):
        """(text, what) pairs that must never appear in logs or error messages."""
        out = []
        for c in self.claims():
            out += [(c, "claim"), (c.upper(), "claim"), (c.replace("-", ""), "claim")]
        out += [(self.sender_token, "Sender token"), (self.receiver_token, "Receiver token"),
                (self.attestation, "attestation"), (self.title, "title"),
                (self.description, "description"), (self.image.split("/")[2], "imageURL")]
        for raw in self.payloads:
            out += [(b64(raw)[:24], "payload data (base64)"), (raw.hex()[:24], "payload data (hex)")]
        for mid in self.mailbox_ids:
            out += [(mid, "mailbox id"), (mid.replace("-", ""), "mailbox id")]
        # A UUID's 16 bytes in base64, as a careless log might print them.
        for u in self.claims() + self.mailbox_ids:
            out.append((b64(uuid.UUID(u).bytes)[:20], "claim or mailbox id (base64)"))
        out += [(rid, "Mailbox-Request-ID") for rid in self.request_ids]
        return out


def _token(value):
    return {"type": "com.apple.apns", "tokenData": value}


def _mailbox_id(resp):
    data = expect_json(resp, 200, "create")
    mid = data["urlLink"].rsplit("/", 1)[1]
    return data["urlLink"], mid


def _error(s, resp, status, code, what):
    s.error_bodies.append(resp.body)
    expect_error(resp, status, code, what)


def stateless_flow(relay, s):
    """Sender deposits a key, Receiver previews the link, reads once, deletes."""
    body = {"payload": s.payload(), "displayInformation": s.display(),
            "notificationToken": _token(s.sender_token)}
    resp = create(relay, s.sender, body, headers={"Mailbox-Device-Attestation": s.attestation},
                  request_id=s.request_id("stateless-create"))
    url, mid = _mailbox_id(resp)
    s.mailbox_ids.append(mid)
    assert url.startswith(relay.public_url + "/v1/m/"), url
    # The link travels by SMS; the Receiver's messaging app renders the preview.
    path = url[len(relay.public_url):] + "?v=c"
    expect_status(call(relay, "GET", path), 200, "preview of the shared link")
    # The Receiver opens it and reads (binding itself).
    got = expect_json(read(relay, mid, s.receiver, {"notificationToken": _token(s.receiver_token)}), 200,
                      "Receiver reads")
    assert got["payload"] == body["payload"], "Receiver got another payload"
    assert got["displayInformation"] == body["displayInformation"]
    # Someone else who got hold of the link cannot read.
    _error(s, read(relay, mid, s.second_receiver), 401, "unauthorized", "third party reads")
    # The Receiver is done and deletes the mailbox (default rights RD).
    assert expect_json(delete(relay, mid, s.receiver), 200, "Receiver deletes") == {}
    _error(s, read(relay, mid, s.sender), 404, "not_found", "Sender reads after delete")
    expect_status(preview(relay, mid), 404, "preview after delete")


def stateful_flow(relay, s, rounds=3):
    """Sender and Receiver take turns through one mailbox, waking each other
    by long-poll; the Receiver hands over to a second device; Sender closes."""
    exp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(time.time() + 3600))
    body = {"payload": s.payload(), "displayInformation": s.display(),
            "notificationToken": _token(s.sender_token),
            "mailboxConfiguration": {"accessRights": "RWD", "expiration": exp}}
    _, mid = _mailbox_id(create(relay, s.sender, body,
                                headers={"Mailbox-Device-Attestation": s.attestation}))
    s.mailbox_ids.append(mid)
    resp = read(relay, mid, s.receiver, {"notificationToken": _token(s.receiver_token)})
    got = expect_json(resp, 200, "Receiver's first read")
    assert got["expiration"] == exp, got
    etag = resp.header("ETag")
    parties = [(s.receiver, s.sender), (s.sender, s.receiver)]     # (writer, waiter)
    for i in range(rounds * 2):
        writer, waiter = parties[i % 2]
        # The waiter parks a long-poll on the current ETag...
        conn = Conn(relay, timeout_s=30)
        try:
            conn.request("POST", "/v1/m/%s" % mid, [("Mailbox-Device-Claim", waiter),
                                                    ("If-None-Match", etag), ("Prefer", "wait=20")])
            assert not conn.data_within(0.3), "long-poll answered before any update (round %d)" % i
            # ...the writer answers through the mailbox...
            new = {"payload": s.payload()}
            rid = s.request_id("round-%d" % i)
            expect_json(update(relay, mid, writer, new, request_id=rid), 200, "update round %d" % i)
            # ...a lost response makes the writer retry: nothing changes.
            expect_json(update(relay, mid, writer, {"payload": s.payload()}, request_id=rid), 201,
                        "retried update round %d" % i)
            woken = conn.read_response("POST", timeout_s=5)
        finally:
            conn.close()
        data = expect_json(woken, 200, "waiter woken in round %d" % i)
        assert data["payload"] == new["payload"], "round %d: waiter got a stale or retried payload" % i
        assert woken.header("ETag") != etag, "round %d: ETag did not change" % i
        etag = woken.header("ETag")
    # The Receiver moves to another device: relinquish, then the new one reads.
    rid = s.request_id("handover")
    assert expect_json(relinquish(relay, mid, s.receiver, request_id=rid), 200) == {}
    expect_json(relinquish(relay, mid, s.receiver, request_id=rid), 201, "relinquish retried")
    got = expect_json(read(relay, mid, s.second_receiver), 200, "second device binds")
    _error(s, read(relay, mid, s.receiver), 401, "unauthorized", "old device after hand-over")
    expect_json(update(relay, mid, s.second_receiver, {"payload": s.payload()}), 200, "new Receiver writes")
    # Some refused calls whose messages must not echo what was sent.
    _error(s, create(relay, "{%s}" % s.sender, body), 401, "invalid_claim", "braced claim")
    bad = {"payload": {"type": "AEAD_AES_256_GCM", "data": s.title + "!!"}}
    _error(s, update(relay, mid, s.sender, bad), 400, "bad_base64", "non-base64 data")
    bad = {"payload": s.payload(), "notificationToken": {"type": s.sender_token, "tokenData": ""}}
    _error(s, update(relay, mid, s.sender, bad), 400, "invalid_field", "empty tokenData")
    _error(s, read(relay, mid, s.sender, b'{"notificationToken": "%s"' % s.receiver_token.encode()), 400,
           "bad_json", "unparsable read body")
    # The Sender closes the share.
    assert expect_json(delete(relay, mid, s.sender), 200, "Sender deletes") == {}
    _error(s, read(relay, mid, s.second_receiver), 404, "not_found", "read after the Sender closed")


def both_flows(relay, rounds=1):
    """The stateless flow and then the stateful one, each with Secrets of its
    own; returns the two, for a test to search the relay's output for them."""
    secrets = [Secrets(), Secrets()]
    stateless_flow(relay, secrets[0])
    stateful_flow(relay, secrets[1], rounds=rounds)
    return secrets
