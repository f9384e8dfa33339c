"""Upper bounds of the size and count options (attack review, finding 8):
--max-body at most 16m (request offsets are 32-bit), --max-connections
within the file-descriptor limit (raised to the hard limit at start, less
64 the relay keeps for itself), --push-queue and --push-retries within
sane maxima, and no overflow in any size or count however it is written.

A value beyond a bound is one line on stderr naming the option, exit 2.
The descriptor limits are set for the relay alone, in the child between
fork and exec (preexec_fn), so the test process keeps its own.
"""

import os
import resource
import subprocess

from relaytest import (Conn, Output, RELAY_BIN, Relay, build_request, describe_status,
                       expect_error, listening_lines, log_events, new_claim, run_relay, tail)

EXPECTED_SECONDS = 1

RESERVE = 64        # descriptors the relay keeps beyond --max-connections


def _one_line_naming(rc, err, option, what):
    lines = err.splitlines()
    assert rc == 2, "%s: expected exit status 2, got %d (stderr %r)" % (what, rc, err)
    assert len(lines) == 1, "%s: expected one line on stderr, got %r" % (what, err)
    assert option in lines[0], "%s: the error does not name %s: %r" % (what, option, lines[0])
    return lines[0]


def _accepted(args, what):
    """Parsed without complaint: a --help after them is answered."""
    rc, out, err = run_relay(list(args) + ["--help"])
    assert rc == 0 and "usage" in out, "%s: refused (exit %d): %r" % (what, rc, err)


def _limit_nofile(soft, hard):
    def apply():
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
    return apply


def _run_limited(args, soft, hard, timeout_s=10):
    """Run the relay under RLIMIT_NOFILE soft:hard, expecting it to exit."""
    proc = subprocess.run([RELAY_BIN] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout_s,
                          preexec_fn=_limit_nofile(soft, hard))
    return proc.returncode, proc.stdout, proc.stderr


class _LimitedRelay:
    """The relay started under RLIMIT_NOFILE soft:hard, plain HTTP, stopped
    with SIGTERM at the end of the block."""

    def __init__(self, args, soft, hard):
        self.args, self.soft, self.hard = list(args), soft, hard

    def __enter__(self):
        self.proc = subprocess.Popen(
            [RELAY_BIN, "--listen", "127.0.0.1:0", "--no-tls"] + self.args,
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            preexec_fn=_limit_nofile(self.soft, self.hard))
        self.stdout, self.stderr = Output(self.proc.stdout), Output(self.proc.stderr)
        if not self.stderr.wait_for(lambda ls: listening_lines(ls), 10):
            rc = self.proc.poll()
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("relay %s under nofile %d:%d did not start (%s); stderr %r" % (
                " ".join(self.args), self.soft, self.hard, describe_status(rc),
                tail(self.stderr.text())))
        return self

    def open_files_limit(self):
        with open("/proc/%d/limits" % self.proc.pid) as f:
            for line in f:
                if line.startswith("Max open files"):
                    return tuple(int(v) for v in line.split()[3:5])
        raise AssertionError("no 'Max open files' in /proc/%d/limits" % self.proc.pid)

    def __exit__(self, *exc):
        self.proc.terminate()
        rc = self.proc.wait(10)
        self.stdout.join()
        self.stderr.join()
        assert rc == 0, "relay ended with %s; stderr %r" % (describe_status(rc),
                                                           tail(self.stderr.text()))
        return False


# ------------------------------------------------------------------ --max-body

def test_max_body_above_16m_is_refused():
    for value in ("16777217", "17m", "16385k", "1g", "16384m", "4g"):
        rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--max-body", value])
        line = _one_line_naming(rc, err, "--max-body", "--max-body %s" % value)
        assert "16m" in line, "the error does not say the maximum (16m): %r" % line
    _accepted(["--max-body", "16m"], "--max-body 16m")
    _accepted(["--max-body=16777216"], "--max-body 16777216")


def test_max_body_of_16m_is_served_and_one_byte_more_is_413():
    with Relay("--max-body", "16m") as relay:
        with Conn(relay) as c:
            c.send(build_request("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                   ("Content-Type", "application/json"),
                                                   ("Content-Length", str((16 << 20) + 1))],
                                 None, host=c.host_header))
            expect_error(c.read_response("POST", timeout_s=5), 413, "payload_too_large",
                         "Content-Length of 16m + 1 under --max-body 16m")


# ------------------------------------------------------------------- overflow

def test_sizes_and_counts_that_overflow_are_refused_not_wrapped():
    cases = [
        ("--max-memory", "18446744073709551616"),       # 2^64
        ("--max-memory", "17179869184g"),               # 2^64 bytes in g
        ("--max-memory", "18014398509481984k"),         # 2^64 bytes in k
        ("--max-memory", "99999999999999999999999"),
        ("--max-mailboxes", "18446744073709551616"),
        ("--max-waiters", "18446744073709551616"),
        ("--max-connections", "18446744073709551616"),
        ("--max-bytes-per-address", "17179869184g"),
        ("--max-waiters-per-address", "18446744073709551616"),
        ("--max-connections-per-address", "18446744073709551616"),
        ("--max-wait", "2147483648"),                   # past 32-bit seconds
        ("--max-ttl", "24856d"),
        ("--push-queue", "18446744073709551616"),
    ]
    for option, value in cases:
        rc, out, err = run_relay(["--listen", "127.0.0.1:0", option, value])
        _one_line_naming(rc, err, option, "%s %s" % (option, value))
    # The largest values that do fit are taken as they are.
    _accepted(["--max-memory", "17179869183g", "--max-mailboxes", "18446744073709551615",
               "--max-waiters", "18446744073709551615",
               "--max-bytes-per-address", "18446744073709551615"], "the largest sizes and counts")


def test_push_queue_and_retries_have_a_maximum():
    for option, value, maximum in (("--push-queue", "1000001", "1000000"),
                                   ("--push-queue", "18446744073709551615", "1000000"),
                                   ("--push-retries", "101", "100"),
                                   ("--push-retries", "4294967296", "100")):
        rc, out, err = run_relay(["--listen", "127.0.0.1:0", option, value])
        line = _one_line_naming(rc, err, option, "%s %s" % (option, value))
        assert maximum in line, "the error does not say the maximum %s: %r" % (maximum, line)
    _accepted(["--push-queue", "1000000", "--push-retries", "100"], "the maxima themselves")


# ---------------------------------------------------- --max-connections vs ulimit

def test_soft_descriptor_limit_is_raised_to_the_hard_limit():
    with _LimitedRelay(["--max-connections", "1000"], 256, 4096) as relay:
        assert relay.open_files_limit() == (4096, 4096), \
            "soft limit not raised to the hard one: %r" % (relay.open_files_limit(),)


def test_max_connections_beyond_the_hard_limit_is_refused():
    fits = 4096 - RESERVE
    rc, out, err = _run_limited(["--listen", "127.0.0.1:0", "--no-tls",
                                 "--max-connections", str(fits + 1)], 256, 4096)
    line = _one_line_naming(rc, err, "--max-connections", "--max-connections %d under a "
                            "hard limit of 4096" % (fits + 1))
    assert "4096" in line, "the error does not say the limit: %r" % line
    rc, out, err = _run_limited(["--listen", "127.0.0.1:0", "--no-tls",
                                 "--max-connections", "1000000"], 1024, 1024)
    _one_line_naming(rc, err, "--max-connections", "--max-connections 1000000 under 1024")
    # So close to 2^64 that adding the reserve would wrap round to a few.
    for huge in ("18446744073709551615", "18446744073709551600"):
        rc, out, err = _run_limited(["--listen", "127.0.0.1:0", "--no-tls",
                                     "--max-connections", huge], 1024, 1024)
        _one_line_naming(rc, err, "--max-connections", "--max-connections %s" % huge)
    # Exactly what fits starts.
    with _LimitedRelay(["--max-connections", str(fits)], 256, 4096) as relay:
        assert relay.open_files_limit()[0] == 4096, relay.open_files_limit()


def test_default_max_connections_yields_to_a_low_limit():
    # 10000 connections do not fit in 1024 descriptors: the built-in value
    # is lowered (and said so), rather than refusing to start.
    with _LimitedRelay([], 512, 1024) as relay:
        assert relay.open_files_limit() == (1024, 1024), \
            "soft limit not raised to the hard one: %r" % (relay.open_files_limit(),)
        assert relay.stderr.wait_for(
            lambda ls: any(e["msg"].startswith("--max-connections lowered") and
                           e["level"] == "warn" and e["max_connections"] == 1024 - RESERVE and
                           e["ulimit_n"] == 1024 for e in log_events(ls)), 5), \
            "no line saying --max-connections was lowered: %r" % relay.stderr.text()
