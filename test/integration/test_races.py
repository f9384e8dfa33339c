"""A peer that leaves while the relay is about to answer it (issue 9,
finding 1): every path that wakes a parked long-poll and every path that
frees a connection meet here. Under `make check` a use-after-free aborts
the sanitizer build, and the relay's exit status fails the test."""

import socket
import struct

from relaytest import (Conn, Relay, build_request, encode_body, expect_json, new_claim,
                       new_mailbox, read, update_body, wait_until)

EXPECTED_SECONDS = 5
# Each test has its own relay, and most of its time is the windows that
# check a long-poll is parked: they may as well pass together.
PARALLEL = True
TRIES = 25


def _reset(conn):
    """Close with a TCP reset: the relay's next write to it fails at once."""
    raw = conn.sock
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def _etag(relay, mb, claim):
    resp = read(relay, mb.id, claim)
    expect_json(resp, 200)
    return resp.header("ETag")


def _park(relay, mb, claim, etag):
    conn = Conn(relay)
    conn.request("POST", mb.path, [("Mailbox-Device-Claim", claim), ("If-None-Match", etag),
                                   ("Prefer", "wait=30")])
    assert not conn.data_within(0.1), "the long-poll was answered at once"
    return conn


def _update_bytes(relay, mb, claim):
    body = encode_body(update_body())
    return build_request("PUT", mb.path, [("Mailbox-Device-Claim", claim),
                                          ("Content-Type", "application/json")], body,
                         host="localhost:%d" % relay.port)


def _race(relay, wake_bytes_for):
    """Park the Sender, then send the request that wakes it and reset the
    Sender's connection right behind it, so that both reach the relay in
    one turn of its loop."""
    mb = new_mailbox(relay, rights="RWD")
    receiver = new_claim()
    etag = _etag(relay, mb, receiver)
    with Conn(relay) as writer:
        sender = _park(relay, mb, mb.sender, etag)
        writer.send(wake_bytes_for(relay, mb, receiver))
        _reset(sender)
        resp = writer.read_response("PUT")
        assert resp.status in (200, 201), "the waking request got %s" % resp
    assert relay.alive(), "the relay died: %s" % relay.stderr.text()[-2000:]


def test_waiter_reset_while_an_update_wakes_it():
    with Relay() as relay:
        for _ in range(TRIES):
            _race(relay, _update_bytes)


def test_waiter_reset_while_a_delete_wakes_it():
    def delete_bytes(relay, mb, claim):
        return build_request("DELETE", mb.path, [("Mailbox-Device-Claim", claim)],
                             host="localhost:%d" % relay.port)

    with Relay() as relay:
        for _ in range(TRIES):
            _race(relay, delete_bytes)


def test_waiter_reset_while_the_relay_stops():
    """SIGTERM answers every parked long-poll; a waiter that resets in the
    same moment must not be answered after it was freed."""
    relay = Relay().start()
    try:
        conns = []
        for _ in range(20):
            mb = new_mailbox(relay)
            conns.append(_park(relay, mb, mb.sender, _etag(relay, mb, mb.sender)))
        relay.send_signal(15)
        for conn in conns:
            _reset(conn)
    finally:
        relay.stop()
