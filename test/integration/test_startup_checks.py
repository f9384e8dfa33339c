"""Operator mistakes are loud at start (issue 10): a state file that could
never be written, a public URL that makes broken links, and settings that
are legal but almost certainly wrong."""

import os
import shutil
import stat
import subprocess
import tempfile

from relaytest import RELAY_BIN, Relay, create, expect_json, run_relay

EXPECTED_SECONDS = 2


def _one_line(err, what):
    lines = err.strip().splitlines()
    assert len(lines) == 1, "%s: expected one line on stderr, got %r" % (what, err)
    return lines[0]


def test_state_file_in_a_missing_directory_refuses_to_start():
    for path in ("/nonexistent-relay-dir/state", "/etc/hostname/state"):
        rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--no-tls", "--state-file", path])
        line = _one_line(err, path)
        assert rc == 1, "--state-file %s: exit status %d, expected 1; %r" % (path, rc, err)
        assert "--state-file" in line and path in line, "the error names neither: %r" % line
        assert "listening" not in out + err, "it started listening: %r" % out


def test_state_file_in_a_directory_it_cannot_write_refuses_to_start():
    d = tempfile.mkdtemp(prefix="relay-ro-")
    try:
        os.chmod(d, 0o555)
        path = os.path.join(d, "state")
        preexec = None
        if os.geteuid() == 0:
            # Root writes anywhere: be somebody who cannot.
            def preexec():
                os.setgid(65534)
                os.setuid(65534)
        proc = subprocess.run([os.path.abspath(RELAY_BIN), "--listen", "127.0.0.1:0", "--no-tls",
                               "--state-file", path], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=10, preexec_fn=preexec)
        err = proc.stderr.decode()
        line = _one_line(err, "read-only directory")
        assert proc.returncode == 1, "exit status %d, expected 1: %r" % (proc.returncode, err)
        assert "--state-file" in line and "writable" in line, "unclear error: %r" % line
        assert os.listdir(d) == [], "files left in the directory: %r" % os.listdir(d)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_state_file_that_is_not_a_regular_file_refuses_at_once():
    d = tempfile.mkdtemp(prefix="relay-fifo-")
    try:
        path = os.path.join(d, "state")
        os.mkfifo(path)
        rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--no-tls", "--state-file", path],
                                 timeout_s=5)
        line = _one_line(err, "FIFO")
        assert rc == 1 and "regular file" in line, "rc %d: %r" % (rc, err)
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_empty_state_file_is_no_state_and_says_so():
    d = tempfile.mkdtemp(prefix="relay-empty-")
    try:
        path = os.path.join(d, "state")
        open(path, "wb").close()
        with Relay("--state-file", path) as relay:
            expect_json(create(relay), 200)
            relay.stderr.wait_for(lambda ls: any("empty" in l for l in ls), 5)
            assert any(e["msg"] == "state file is empty: starting with no mailboxes" and
                       e["file"] == path and e["level"] == "warn"
                       for e in relay.events()), relay.stderr.text()
        assert os.path.getsize(path) > 0, "the empty state file was not replaced at stop"
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    finally:
        shutil.rmtree(d, ignore_errors=True)


def test_public_url_must_be_scheme_host_and_port_only():
    bad = ["https://a b", "https://x?x=1#frag", "https://x/path", "https://user@x",
           "https://user:pw@x", "https://x#", "https://ex_ample.com", "https://x\t",
           "https://\u00e9.example", "ftp://x", "https://x:0", "https://[::1",
           "https://[example.com]", "https://[1.2.3.4]", "https://[::1]x"]
    for url in bad:
        rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--no-tls", "--public-url", url])
        line = _one_line(err, url)
        assert rc == 2, "--public-url %r: exit status %d, expected 2" % (url, rc)
        assert "--public-url" in line, "--public-url %r: the error does not name it: %r" % (url, line)
    for url in ["https://relay.example.com", "https://relay.example.com:8443/",
                "http://127.0.0.1:9000", "https://[::1]:8443"]:
        with Relay("--public-url", url) as relay:
            link = expect_json(create(relay), 200)["urlLink"]
            assert link.startswith(url.rstrip("/") + "/v1/m/"), "%r gave link %r" % (url, link)


def _warnings(*args):
    with Relay("--no-tls", *args, tls=False) as relay:
        pass
    return [e for e in relay.events() if e["level"] == "warn"]


def test_warnings_for_settings_that_are_almost_certainly_wrong():
    w = _warnings("--rate-create", "5/s", "--max-wait", "30s")
    assert len(w) == 1 and "--trust-proxy" in w[0]["msg"], "no-tls + rate limits: %r" % w
    w = _warnings("--max-connections-per-address", "5", "--trust-proxy", "10.0.0.0/8",
                  "--max-wait", "30s")
    assert w == [], "the proxy is named: no warning expected, got %r" % w
    w = _warnings("--max-wait", "60s")
    assert len(w) == 1 and "--max-wait" in w[0]["msg"] and w[0]["max_wait_s"] == 60 and \
        w[0]["suggested_max_wait_s"] == 50, "max-wait: %r" % w
    w = _warnings("--max-wait", "30s", "--max-memory", "100000g")
    assert len(w) == 1 and "--max-memory" in w[0]["msg"] and \
        "physical memory" in w[0]["msg"] and w[0]["physical_mib"] > 0, "max-memory: %r" % w


def test_a_plain_start_warns_of_nothing():
    with Relay() as relay:
        pass
    assert not [e for e in relay.events() if e["level"] in ("warn", "error")], \
        relay.stderr.text()


def test_a_bad_test_speedup_refuses_to_start():
    # RELAY_TEST_SPEEDUP is for tests only; a value that is not a whole
    # number from 1 to 20 must never quietly shorten (or lengthen) timeouts.
    for value in ("", "0", "21", "1x", " 5", "5 ", "-1", "+5", "0x5",
                  "99999999999999999999"):
        env = dict(os.environ, RELAY_TEST_SPEEDUP=value)
        proc = subprocess.run([os.path.abspath(RELAY_BIN), "--listen", "127.0.0.1:0", "--no-tls"],
                              stdin=subprocess.DEVNULL, capture_output=True, timeout=10, env=env)
        err = proc.stderr.decode()
        line = _one_line(err, "RELAY_TEST_SPEEDUP=%r" % value)
        assert proc.returncode == 1, "RELAY_TEST_SPEEDUP=%r: exit status %d, expected 1: %r" % (
            value, proc.returncode, err)
        assert "RELAY_TEST_SPEEDUP" in line and "1 to 20" in line, "unclear error: %r" % line
