"""A signal that reaches only the snapshot child (--snapshot-interval) ends
that child, not the relay: the child shares libevent's signal pipe with the
parent, so before the fix a SIGTERM sent to the child was read by the
parent as its own and stopped the relay. The parent reports the failed
snapshot, leaves no temporary file, and the next interval's snapshot is
written as usual.

Cost: about 3 s (creating ~10 MB of mailboxes, then a few intervals).
"""

import json
import os
import shutil
import signal
import tempfile
import time

from relaytest import (Conn, Relay, b64, build_request, default_body, log_events, new_claim,
                       wait_until)

EXPECTED_SECONDS = 4
MEMORY_STORE_ONLY = "the snapshot child of --snapshot-interval"

MAILBOXES = 200
PAYLOAD = 45000     # bytes: 200 of them make a snapshot that takes a while


def _children(pid):
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as f:
            return [int(c) for c in f.read().split()]
    except FileNotFoundError:
        return []


def _fill(relay):
    """MAILBOXES mailboxes of PAYLOAD bytes, over one pipelined connection."""
    with Conn(relay) as conn:
        reqs = []
        for _ in range(MAILBOXES):
            body = default_body(payload={"type": "t", "data": b64(os.urandom(PAYLOAD))})
            raw = json.dumps(body).encode()
            reqs.append(build_request("POST", "/v1/m", [
                ("Mailbox-Device-Claim", new_claim()),
                ("Content-Type", "application/json")], raw, host=conn.host_header))
        for i in range(0, len(reqs), 16):
            part = reqs[i:i + 16]
            conn.send(b"".join(part))
            for _ in part:
                resp = conn.read_response("POST", timeout_s=30)
                assert resp.status == 200, "create: %s" % resp


def test_sigterm_to_the_snapshot_child_ends_only_the_child():
    state_dir = tempfile.mkdtemp(prefix="relay-state-")
    path = os.path.join(state_dir, "relay.state")
    relay = Relay("--state-file", path, "--snapshot-interval", "1s").start()
    try:
        _fill(relay)
        # Catch a child while it writes: poll the relay's children until
        # one is there to be signalled (each interval makes a new one). One
        # caught as it exits (a zombie) takes the signal without effect:
        # then the next interval's child is tried, up to five times.
        def failures():
            return sum(1 for e in log_events(relay.stderr.lines())
                       if e["msg"].startswith("snapshot failed"))

        def mtime():
            try:
                return os.stat(path).st_mtime_ns
            except FileNotFoundError:
                return 0

        signalled, temps = None, set()
        for _ in range(5):
            deadline = time.monotonic() + 20
            caught = None
            while caught is None and time.monotonic() < deadline:
                for child in _children(relay.proc.pid):
                    if child == signalled:
                        continue
                    # One child at a time: the temporary files now are its
                    # (the relay names each before it forks). Listed before
                    # the signal: once it lands, the relay may reap the child
                    # and start the next one's file before a listing after.
                    listed = set(os.listdir(state_dir)) - {"relay.state"}
                    failed, written = failures(), mtime()
                    try:
                        os.kill(child, signal.SIGTERM)
                        caught, temps = child, listed
                    except ProcessLookupError:
                        pass
                if caught is None:
                    time.sleep(0.001)   # a poll of /proc, not a wait for the relay
            assert caught is not None, "no snapshot child seen within 20 s"
            signalled = caught
            # Its outcome as the relay tells it: a failure logged (after
            # its file is removed), or a snapshot written (the signal came
            # too late). A child merely gone is not enough: the relay may
            # not have reaped it yet.
            wait_until(lambda: not relay.alive() or failures() > failed or
                       mtime() != written, 10, "the signalled snapshot child's outcome")
            if not relay.alive() or failures() > failed:
                break
        assert relay.alive(), (
            "a SIGTERM sent to the snapshot child (pid %d) stopped the relay; stderr: %r"
            % (signalled, relay.stderr.text()[-1500:]))
        assert failures() > 0, "no snapshot child was caught while it wrote, in 5 tries"
        assert not temps & set(os.listdir(state_dir)), (
            "the killed snapshot left its file behind: %r of %r" % (temps, os.listdir(state_dir)))
        # The next interval writes a whole snapshot again.
        before = os.stat(path).st_mtime_ns if os.path.exists(path) else 0
        wait_until(lambda: os.path.exists(path) and os.stat(path).st_mtime_ns != before,
                   10, "a snapshot after the killed one")
        with Conn(relay) as conn:
            resp = conn.roundtrip("GET", "/v1/m/%s" % new_claim())
            assert resp.status == 404, "the relay answers after the killed snapshot: %s" % resp
        relay.stop()
    finally:
        if relay.alive():
            relay._kill()
        shutil.rmtree(state_dir, ignore_errors=True)
