"""The test clock (RELAY_TEST_CLOCK=FILE, tests only): off without the
variable (SIGUSR2 keeps its default disposition), a bad file refuses the
start, and a move of the clocks does at once what that much time would have
done: mailboxes expire and wake their long-polls, rate limits refill,
long-polls whose wait is over end, the rest wait on. A file that is bad or
would set the clocks back is refused at SIGUSR2 and changes nothing.

The other modules use it (Relay(test_clock=...), relay.advance_clock) to
check what happens after minutes or hours without sleeping."""

import os
import signal
import shutil
import subprocess
import tempfile
import time

from relaytest import (RELAY_BIN, Conn, Relay, create, expect_error, expect_json,
                       expect_status, new_claim, new_mailbox, parse_rfc3339, read, rfc3339,
                       wait_until)

EXPECTED_SECONDS = 3
PARALLEL = True

# server/testclock.h: ten years of milliseconds.
MAX_MS = 10 * 366 * 24 * 3600 * 1000


def test_off_without_the_variable_sigusr2_keeps_its_default():
    relay = Relay("--no-tls", tls=False).start()
    try:
        relay.proc.send_signal(signal.SIGUSR2)
        try:
            rc = relay.proc.wait(5)
        except subprocess.TimeoutExpired:
            rc = "still running 5 s later"
        assert rc == -signal.SIGUSR2, "without RELAY_TEST_CLOCK, SIGUSR2 should end the " \
            "relay (its default disposition), not %s: the hook is armed" % rc
        # Everything it wrote, now that its pipes have closed.
        relay.stdout.join()
        relay.stderr.join()
        assert "RELAY_TEST_CLOCK" not in relay.stderr.text(), \
            "a relay without RELAY_TEST_CLOCK mentions it: %r" % relay.stderr.text()
        assert not [e for e in relay.events() if e["msg"] == "test clock moved"], \
            relay.stderr.text()
    finally:
        relay._kill()


def test_on_it_says_so_loudly_and_starts_as_far_ahead_as_the_file_says():
    with Relay(test_clock=7200) as relay:
        # Written before the listening line, but on the other pipe.
        warned = [e for e in relay.events() if "RELAY_TEST_CLOCK" in e["msg"]]
        assert len(warned) == 1 and warned[0]["level"] == "warn" and \
            "for tests only" in warned[0]["msg"] and warned[0].get("offset_ms") == 7200000 and \
            warned[0].get("file") == relay.clock_file, \
            "start-up warning: %r" % relay.stderr.text()
        # A mailbox's default expiry (1 day) counts from the relay's clock.
        mb = new_mailbox(relay)
        exp = parse_rfc3339(expect_json(read(relay, mb.id, mb.sender), 200)["expiration"])
        ahead = exp - 86400 - time.time()
        assert 7190 <= ahead <= 7210, "default expiry %d s from the real clock's, expected " \
            "the relay 7200 s ahead" % (ahead + 86400)


def _refused_at_start(env_value, content=None, what=None):
    d = tempfile.mkdtemp(prefix="relay-clock-")
    try:
        value = env_value.replace("DIR", d)
        if content is not None:
            with open(os.path.join(d, "clock"), "wb") as f:
                f.write(content)
        env = dict(os.environ, RELAY_TEST_CLOCK=value)
        what = what or "RELAY_TEST_CLOCK=%r holding %r" % (env_value, content)
        try:
            proc = subprocess.run([os.path.abspath(RELAY_BIN), "--listen", "127.0.0.1:0",
                                   "--no-tls"], stdin=subprocess.DEVNULL, capture_output=True,
                                  timeout=10, env=env)
        except subprocess.TimeoutExpired as e:
            raise AssertionError("%s: the relay started (still running after 10 s): %r" % (
                what, e.stdout)) from None
        err, out = proc.stderr.decode(), proc.stdout.decode()
        lines = err.strip().splitlines()
        assert proc.returncode == 1, "%s: exit status %d, expected 1: %r" % (
            what, proc.returncode, err)
        assert len(lines) == 1 and "RELAY_TEST_CLOCK" in lines[0], \
            "%s: expected one line naming RELAY_TEST_CLOCK, got %r" % (what, err)
        assert not out, "%s: it wrote on stdout: %r" % (what, out)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_a_bad_file_refuses_to_start():
    _refused_at_start("")
    _refused_at_start("DIR/missing")
    _refused_at_start("DIR", what="a directory")
    for content in (b"", b"\n", b"abc", b"-1", b"+5", b" 5", b"5 ", b"5\n\n", b"1.5", b"0x10",
                    b"5\x000", b"99999999999999999999", b"1" * 30, str(MAX_MS + 1).encode(),
                    # 5 ms, but longer than the relay reads: never a cut-off 0.
                    b"0" * 30 + b"5"):
        _refused_at_start("DIR/clock", content)


def test_a_fifo_is_refused_at_start_without_blocking():
    d = tempfile.mkdtemp(prefix="relay-clock-")
    try:
        os.mkfifo(os.path.join(d, "clock"))
        # run with a 10 s limit: a relay that opened the FIFO to read would hang.
        _refused_at_start(os.path.join(d, "clock"), what="a FIFO")
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_the_largest_offset_starts():
    with Relay("--no-tls", tls=False, test_clock=MAX_MS / 1000) as relay:
        mb = new_mailbox(relay)
        exp = parse_rfc3339(expect_json(read(relay, mb.id, mb.sender), 200)["expiration"])
        assert exp > relay.clock(), "expiration %s not ahead of the relay's clock" % exp


def _long_poll(relay, mb, claim, etag, wait_s):
    conn = Conn(relay, timeout_s=10)
    conn.request("POST", mb.path, [("Mailbox-Device-Claim", claim), ("If-None-Match", etag),
                                   ("Prefer", "wait=%d" % wait_s)])
    assert not conn.data_within(0.3), "long-poll answered at once: %s" % conn.read_response("POST")
    return conn


def test_a_move_expires_mailboxes_and_wakes_their_long_polls():
    with Relay("--max-mailboxes", "2", test_clock=0) as relay:
        exp = int(relay.clock()) + 3600
        mb = new_mailbox(relay, expiration=rfc3339(exp))
        later = new_mailbox(relay, expiration=rfc3339(exp + 60))
        etag = read(relay, mb.id, mb.sender).header("ETag")
        relay.advance_clock_to(exp - 50)
        expect_json(read(relay, mb.id, mb.sender), 200, "50 s before its expiry")
        waiter = _long_poll(relay, mb, mb.sender, etag, 60)
        try:
            relay.advance_clock_to(exp - 1)
            assert not waiter.data_within(0.2), "long-poll ended a second before the expiry"
            expect_json(read(relay, mb.id, mb.sender), 200, "a second before its expiry")
            relay.advance_clock_to(exp)
            # Its place in the store is free at once, not at the next tick
            # (a second of real time away).
            expect_json(create(relay), 200, "create in the place the expired mailbox left")
            # The long-poll is answered by the expiry, not by its own 60 s.
            expect_error(waiter.read_response("POST", timeout_s=5), 404, "not_found",
                         "long-poll on a mailbox the clock moved past")
        finally:
            waiter.close()
        expect_error(read(relay, mb.id, mb.sender), 404, "not_found", "read at its expiry")
        expect_json(read(relay, later.id, later.sender), 200, "a mailbox a minute later")


def test_a_move_ends_the_long_polls_whose_wait_is_over_and_only_those():
    with Relay(test_clock=0) as relay:
        mb = new_mailbox(relay)
        etag = read(relay, mb.id, mb.sender).header("ETag")
        short = _long_poll(relay, mb, mb.sender, etag, 30)
        longer = _long_poll(relay, mb, mb.sender, etag, 60)
        try:
            relay.advance_clock(29)
            assert not short.data_within(0.2), "wait=30 ended 29 s into it"
            relay.advance_clock(1.5)
            resp = short.read_response("POST", timeout_s=5)
            expect_status(resp, 204, "wait=30 after the clock moved 30.5 s")
            assert (resp.header("Preference-Applied") or "").replace(" ", "") == "wait=30", resp
            assert not longer.data_within(0.2), "wait=60 ended 30.5 s into it"
            relay.advance_clock(30)
            expect_status(longer.read_response("POST", timeout_s=5), 204,
                          "wait=60 after the clock moved 60.5 s")
            # A long-poll that starts after the moves waits its own time.
            fresh = _long_poll(relay, mb, mb.sender, etag, 30)
            fresh.close()
        finally:
            short.close()
            longer.close()


def test_a_move_refills_rate_limits():
    with Relay("--no-tls", "--rate-create", "2/h", tls=False, test_clock=0) as relay:
        for i in range(2):
            expect_json(create(relay), 200, "create %d of 2" % (i + 1))
        resp = create(relay)
        expect_error(resp, 429, "rate_limited", "third create at 2/h")
        retry = int(resp.header("Retry-After"))
        assert 1700 <= retry <= 1800, "Retry-After %d s at 2/h" % retry
        relay.advance_clock(retry - 2)
        expect_error(create(relay), 429, "rate_limited", "%d s into a %d s Retry-After" % (
            retry - 2, retry))
        relay.advance_clock(2)
        expect_json(create(relay), 200, "create once Retry-After has passed on the clock")
        expect_error(create(relay), 429, "rate_limited", "one token came back, not more")


def test_a_bad_file_or_a_step_back_is_refused_at_sigusr2():
    with Relay("--no-tls", tls=False, test_clock=0) as relay:
        exp = int(relay.clock()) + 600
        mb = new_mailbox(relay, expiration=rfc3339(exp))
        relay.advance_clock(60)
        for content, why in ((b"1000\n", "behind"), (b"junk", "whole number"),
                             (str(MAX_MS + 1).encode(), "whole number")):
            tmp = relay.clock_file + ".tmp"
            with open(tmp, "wb") as f:
                f.write(content)
            os.replace(tmp, relay.clock_file)
            before = len(relay.events())
            relay.proc.send_signal(signal.SIGUSR2)
            refused = wait_until(lambda: [e for e in relay.events()[before:]
                                          if e["msg"].startswith("SIGUSR2")],
                                 5, "the relay to refuse %r" % content)[0]
            assert refused["level"] == "error" and why in refused.get("error", "") and \
                refused.get("offset_ms") == 60000, refused
        moves = [e.get("offset_ms") for e in relay.events() if e["msg"] == "test clock moved"]
        assert moves == [60000], "moves logged: %r" % moves
        # Still 60 s ahead: the mailbox lives; and the clock moves on from there.
        expect_json(read(relay, mb.id, mb.sender), 200, "after the refused moves")
        relay.advance_clock_to(exp)
        expect_error(read(relay, mb.id, mb.sender), 404, "not_found", "after a good move")
        assert relay.alive()
