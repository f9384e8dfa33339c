"""
relaytest — what every integration test needs to drive the real relay.

Each test starts the real binary (Relay), speaks raw HTTP/1.1 to it over TLS
(Conn) so that it controls framing byte for byte, and checks answers against
docs/api.md. Standard library only.

Nothing here sleeps to synchronise: waiting for the relay to start, for a
response or for a close always polls with a deadline and fails with a message
that says what was awaited.
"""

import atexit
import base64
import calendar
import copy
import hashlib
import json
import math
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import threading
import time
import unittest
import uuid

RELAY_BIN = os.environ.get("RELAY_BIN", "./relay")
START_TIMEOUT_S = float(os.environ.get("RELAY_START_TIMEOUT", "15"))

# The store of every relay a test starts (test/run.py runs the suite once per
# store). With "redis", RELAY_TEST_REDIS_PORT is a redis-server of the module's
# own on loopback and RELAY_TEST_STORE_SECRET its --store-secret-file; each
# relay gets a database of its own (Relay.start), so that relays started side
# by side never see each other's mailboxes or limits.
TEST_STORE = os.environ.get("RELAY_TEST_STORE", "memory")
# Options the relay refuses with a Redis store (exit 2): a test that gives
# them is about the memory store.
MEMORY_STORE_OPTIONS = ("--state-file", "--snapshot-interval")


# Relays this process started on the suite's store (test/run.py checks that
# a module marked STORE_INDEPENDENT starts none).
started_on_suite_store = 0
_started_lock = threading.Lock()


def memory_store_only(reason):
    """Skip the calling test when the suite runs over Redis: what it checks
    is the memory store's own (say why)."""
    if TEST_STORE != "memory":
        raise unittest.SkipTest("memory store only: " + reason)
STOP_TIMEOUT_S = 10.0
IO_TIMEOUT_S = 10.0

# The url of the start-up line {"msg": "listening", "url": ...}, and the
# fingerprint of {"msg": "certificate", "sha256_fingerprint": ...}.
LISTEN_URL_RE = re.compile(
    r"^(https?)://(\[[0-9A-Fa-f:.]+\]|[0-9.]+|[A-Za-z0-9.-]+):(\d+)$")
FINGERPRINT_RE = re.compile(r"^((?:[0-9A-Fa-f]{2}:){31}[0-9A-Fa-f]{2})$")
# The relay's log: every line it writes once it runs, on stderr.
LOG_TS_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
LOG_LEVELS = ("notice", "error", "warn", "info", "debug")
_LOG_TEXT_RE = re.compile(r"^(\S+) (notice|error|warn|info|debug) (.*)$", re.S)
_LOG_FIELD_RE = re.compile(r" ([a-z0-9_]+)=")
MAILBOX_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
EXPIRATION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

CSP = "default-src 'none'; img-src https:; style-src 'unsafe-inline'"
ALLOW_MAILBOX = {"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH"}
ALLOW_COLLECTION = {"POST"}


class _Omit:
    def __repr__(self):
        return "OMIT"


# Passed as a claim (or content type) to leave the header out altogether.
OMIT = _Omit()
# Content type chosen by call(): application/json whenever a body is sent.
AUTO = object()


# ---------------------------------------------------------------- processes

class Output:
    """Collects the lines of one pipe in a thread, so a test can wait for a
    line with a deadline and read everything the process wrote."""

    def __init__(self, pipe):
        self._lines = []
        self._closed = False
        self._cond = threading.Condition()
        self._thread = threading.Thread(target=self._pump, args=(pipe,), daemon=True)
        self._thread.start()

    def _pump(self, pipe):
        try:
            for raw in iter(pipe.readline, b""):
                with self._cond:
                    self._lines.append(raw)
                    self._cond.notify_all()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()
            pipe.close()

    def lines(self):
        with self._cond:
            return [b.decode("utf-8", "replace").rstrip("\r\n") for b in self._lines]

    def raw(self):
        with self._cond:
            return b"".join(self._lines)

    def text(self):
        return self.raw().decode("utf-8", "replace")

    def wait_for(self, predicate, timeout_s):
        """True once predicate(lines) holds; False at the deadline or when the
        pipe closed without it holding."""
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                lines = [b.decode("utf-8", "replace").rstrip("\r\n") for b in self._lines]
                if predicate(lines):
                    return True
                remaining = deadline - time.monotonic()
                if self._closed or remaining <= 0:
                    return False
                self._cond.wait(remaining)

    def join(self, timeout_s=5.0):
        self._thread.join(timeout_s)


def describe_status(rc):
    if rc is None:
        return "still running"
    if rc < 0:
        try:
            return "killed by %s" % signal.Signals(-rc).name
        except ValueError:
            return "killed by signal %d" % -rc
    return "exit status %d" % rc


def tail(text, n=1500):
    return text if len(text) <= n else "..." + text[-n:]


def parse_log_line(line):
    """One line of the relay's log as a dict: ts, level, msg and the event's
    fields. Either format: a JSON object, or text ("TS LEVEL message k=v
    k="quoted"", where a quoted value is a JSON string literal and a bare
    one is plain ASCII; bare numbers and booleans come back as such).
    ValueError when the line is neither, strictly."""
    if line.startswith("{"):
        event = json.loads(line)
        if not isinstance(event, dict):
            raise ValueError("not a JSON object: %r" % line)
    else:
        m = _LOG_TEXT_RE.match(line)
        if not m:
            raise ValueError("not a log line: %r" % line)
        ts, level, rest = m.groups()
        first = _LOG_FIELD_RE.search(rest)
        at = first.start() if first else len(rest)
        event = {"ts": ts, "level": level, "msg": rest[:at]}
        decoder = json.JSONDecoder()
        while at < len(rest):
            f = _LOG_FIELD_RE.match(rest, at)
            if not f or f.group(1) in event:
                raise ValueError("bad or repeated field at %d: %r" % (at, line))
            at = f.end()
            if rest.startswith('"', at):
                value, at = decoder.raw_decode(rest, at)
            else:
                end = rest.find(" ", at)
                end = len(rest) if end < 0 else end
                value, at = rest[at:end], end
                if not value or re.search(r'["\\=]|[^\x21-\x7e\u2026]', value):
                    raise ValueError("bad bare value %r: %r" % (value, line))
                if re.fullmatch(r"-?\d+", value):
                    value = int(value)
                elif value in ("true", "false"):
                    value = value == "true"
            event[f.group(1)] = value
    for key in ("ts", "level", "msg"):
        if not isinstance(event.get(key), str):
            raise ValueError("no %s: %r" % (key, line))
    if not LOG_TS_RE.match(event["ts"]) or event["level"] not in LOG_LEVELS:
        raise ValueError("bad ts or level: %r" % line)
    return event


def log_events(lines):
    """The events among lines (anything else, such as a sanitizer's report,
    is left out)."""
    out = []
    for line in lines:
        try:
            out.append(parse_log_line(line))
        except ValueError:
            pass
    return out


def listening_lines(lines):
    """The start-up lines that say where the relay listens, as matches of
    LISTEN_URL_RE: (scheme, host, port)."""
    return [m for m in (LISTEN_URL_RE.match(str(e.get("url", ""))) for e in log_events(lines)
                        if e["msg"] == "listening" and e["level"] == "notice") if m]


def fingerprint_in(lines):
    """The SHA-256 fingerprint the start-up lines give, or None."""
    for e in log_events(lines):
        if e["msg"] == "certificate" and FINGERPRINT_RE.match(str(e.get("sha256_fingerprint"))):
            return e["sha256_fingerprint"]
    return None


class Relay:
    """The relay binary, started for a test.

        with Relay("--max-mailboxes", "2") as relay:
            ...

    It always listens on ephemeral ports (--listen 127.0.0.1:0 unless listen=
    says otherwise) and, with TLS, writes its dev certificate into a private
    temporary directory for use as the CA file. Leaving the block sends
    SIGTERM and asserts exit status 0 within STOP_TIMEOUT_S.

    speedup=N (tests only) starts it with RELAY_TEST_SPEEDUP=N: its own waits
    (connection timeouts, linger, the stop's grace period, the push gateway's
    timeout and retry delays) are N times shorter, so that a test checks them
    without sitting them out; the test scales what it expects by
    relay.speedup.

    test_clock=S (tests only) starts it with RELAY_TEST_CLOCK: its clocks
    start S seconds ahead of the real ones, and advance_clock() moves them
    on while it runs, as if that time had passed (mailboxes expire, rate
    limits refill, long-polls end), instead of sleeping. relay.clock() is
    the time it thinks it is.

    wrap=[...] runs it under a command that ends by exec'ing the relay, so
    that it keeps the pid a test signals: prlimit(1) to start it with
    systemd's LimitNOFILE=, strace -D to see its system calls.

    Its store is the suite's (TEST_STORE): in the Redis pass of test/run.py
    it gets --store redis://... on a database no other relay has used, and
    is entered once it has reached Redis. A test that gives --store itself
    keeps it; one that gives an option of the memory store only
    (MEMORY_STORE_OPTIONS) is skipped in that pass.
    """

    def __init__(self, *args, tls=True, listen=None, dev_cert=True,
                 start_timeout_s=START_TIMEOUT_S, env=None, speedup=1, test_clock=None,
                 wrap=()):
        self.extra_args = [str(a) for a in args]
        self.wrap = list(wrap)
        self.tls = tls
        self.listen = list(listen) if listen else ["127.0.0.1:0"]
        self.dev_cert = dev_cert and tls
        self.start_timeout_s = start_timeout_s
        self.env = env              # the relay's environment (None: this one's)
        self.speedup = speedup
        if speedup != 1:
            self.env = dict(os.environ if env is None else env, RELAY_TEST_SPEEDUP=str(speedup))
        self.clock_offset_ms = 0 if test_clock is None else int(round(test_clock * 1000))
        self.test_clock = test_clock is not None
        self.proc = None
        self.tmpdir = None
        self.store_db = None        # its database of the suite's redis-server
        self._ctx = None
        self._signalled = None

    # -- life cycle

    def __enter__(self):
        self.start()
        return self

    def __exit__(self, exc_type, exc, tb):
        try:
            self.stop()
        except AssertionError as stop_error:
            if exc is None:
                raise
            if hasattr(exc, "add_note"):
                exc.add_note("and at shutdown: %s" % stop_error)
        return False

    def start(self):
        if not (os.path.isfile(RELAY_BIN) and os.access(RELAY_BIN, os.X_OK)):
            raise AssertionError("relay binary %r not found or not executable "
                                 "(build it with make, or set RELAY_BIN)" % RELAY_BIN)
        store_args = self._test_store_args()
        self.tmpdir = tempfile.mkdtemp(prefix="relaytest-")
        self.cacert = os.path.join(self.tmpdir, "cert.pem") if self.dev_cert else None
        cmd = self.wrap + [RELAY_BIN]
        for addr in self.listen:
            cmd += ["--listen", addr]
        if self.cacert:
            cmd += ["--dev-cert-out", self.cacert]
        cmd += self.extra_args + store_args
        self.cmd = cmd
        env = self.env
        if self.test_clock:
            self.clock_file = os.path.join(self.tmpdir, "clock")
            self._write_clock(self.clock_offset_ms)
            env = dict(os.environ if env is None else env, RELAY_TEST_CLOCK=self.clock_file)
        self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, env=env,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        self.stdout = Output(self.proc.stdout)
        self.stderr = Output(self.proc.stderr)
        want = len(self.listen)
        if not self.stderr.wait_for(lambda ls: len(listening_lines(ls)) >= want,
                                    self.start_timeout_s):
            rc = self.proc.poll()
            self._kill()
            raise AssertionError(
                "relay (%s) did not log %d 'listening' line(s) within %.0f s "
                "(%s); stdout: %r; stderr: %r" % (
                    " ".join(cmd[1:]), want, self.start_timeout_s, describe_status(rc),
                    tail(self.stdout.text()), tail(self.stderr.text())))
        self.listeners = []
        for m in listening_lines(self.stderr.lines())[:want]:
            self.listeners.append((m.group(1), m.group(2).strip("[]"), int(m.group(3))))
        self.scheme, self.host, self.port = self.listeners[0]
        self.fingerprint = fingerprint_in(self.stderr.lines())
        self.public_url = self._option("--public-url") or "https://localhost:%d" % self.port
        if self.store_db is not None:
            self._wait_for_store()
        return self

    def _test_store_args(self):
        """The options that put the relay on the suite's store (TEST_STORE),
        unless the test chose a store itself; for a test that gives an option
        of the memory store only, a skip."""
        global started_on_suite_store
        self.store_db = None
        if self._option("--store") is not None:
            return []
        with _started_lock:
            started_on_suite_store += 1
        if TEST_STORE == "memory":
            return []
        for name in MEMORY_STORE_OPTIONS:
            if self._option(name) is not None:
                raise unittest.SkipTest("memory store only: starts a relay with %s" % name)
        self.store_db = _fresh_redis_database()
        return ["--store", "redis://127.0.0.1:%s/%d" % (os.environ["RELAY_TEST_REDIS_PORT"],
                                                         self.store_db),
                "--store-secret-file", os.environ["RELAY_TEST_STORE_SECRET"]]

    def _wait_for_store(self):
        # Until the relay has reached Redis it answers 503 (and /readyz says
        # so): a test starts once it has, as it would with the memory store.
        if not self.stderr.wait_for(lambda ls: any(
                e["msg"] == "the store is reachable" for e in log_events(ls)),
                self.start_timeout_s):
            rc = self.proc.poll()
            self._kill()
            raise AssertionError("relay (%s) did not reach its Redis store within %.0f s "
                                 "(%s); stderr: %r" % (" ".join(self.cmd[1:]),
                                                       self.start_timeout_s, describe_status(rc),
                                                       tail(self.stderr.text())))

    def _option(self, name):
        """The value the test gave option `name` (the last one), or None."""
        args = self.extra_args
        for i, a in enumerate(args):
            if a == name and i + 1 < len(args):
                return args[i + 1]
            if a.startswith(name + "="):
                return a.split("=", 1)[1]
        return None

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def events(self):
        """What it has logged so far (parse_log_line of each line)."""
        return log_events(self.stderr.lines())

    # -- the test clock (test_clock=)

    def clock(self):
        """The relay's wall clock now, in Unix seconds."""
        return time.time() + self.clock_offset_ms / 1000

    def advance_clock(self, seconds):
        """Move the relay's clocks `seconds` (> 0) further ahead, and return
        once it says it has, and has done what fell due meanwhile."""
        assert self.test_clock, "advance_clock needs Relay(..., test_clock=0)"
        assert seconds > 0, "the relay's clocks only move on (%r s)" % seconds
        offset_ms = self.clock_offset_ms + max(1, math.ceil(seconds * 1000))
        self._write_clock(offset_ms)
        self.proc.send_signal(signal.SIGUSR2)
        if not self.stderr.wait_for(lambda ls: any(
                e["msg"] == "test clock moved" and e.get("offset_ms") == offset_ms
                for e in log_events(ls)), IO_TIMEOUT_S):
            raise AssertionError("relay did not log 'test clock moved' to %d ms within %.0f s "
                                 "of SIGUSR2 (%s); stderr: %r" % (
                                     offset_ms, IO_TIMEOUT_S, describe_status(self.proc.poll()),
                                     tail(self.stderr.text())))
        self.clock_offset_ms = offset_ms

    def advance_clock_to(self, when):
        """Move the relay's clocks on until its wall clock reads `when` (by
        a millisecond at least, so that what fell due is done now even if
        real time got there first)."""
        # A millisecond more: the relay reads the real clock in whole
        # milliseconds, rounded down.
        self.advance_clock(max(0.001, when - self.clock() + 0.001))

    def _write_clock(self, offset_ms):
        # Whole or not at all: a SIGUSR2 must never find half a number.
        tmp = self.clock_file + ".tmp"
        with open(tmp, "w") as f:
            f.write("%d\n" % offset_ms)
        os.replace(tmp, self.clock_file)

    def send_signal(self, sig):
        """Signal the relay now; a later stop() only waits for it to end."""
        self._signalled = sig
        self.proc.send_signal(sig)

    def stop(self, sig=signal.SIGTERM, timeout_s=STOP_TIMEOUT_S):
        """Signal the relay, wait for it, and assert exit status 0."""
        if self.proc is None:
            return
        proc, self.proc = self.proc, None
        was_running = proc.poll() is None or self._signalled is not None
        if self._signalled is not None:
            sig = self._signalled
        elif was_running:
            proc.send_signal(sig)
        try:
            rc = proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            self._cleanup()
            raise AssertionError("relay did not exit within %.0f s of %s; stderr: %r" % (
                timeout_s, signal.Signals(sig).name, tail(self.stderr.text())))
        self._cleanup()
        self.returncode = rc
        if not was_running:
            raise AssertionError("relay had already stopped before the test ended (%s); "
                                 "stderr: %r" % (describe_status(rc), tail(self.stderr.text())))
        if rc != 0:
            raise AssertionError("relay ended with %s after %s (expected exit status 0); "
                                 "stderr: %r" % (describe_status(rc), signal.Signals(sig).name,
                                                 tail(self.stderr.text())))

    def _kill(self):
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        self._cleanup()

    def _cleanup(self):
        self.stdout.join()
        self.stderr.join()
        if self.tmpdir:
            shutil.rmtree(self.tmpdir, ignore_errors=True)
            self.tmpdir = None
        if self.store_db is not None:
            # Its database is never used again: give the memory back.
            db, self.store_db = self.store_db, None
            try:
                _redis_simple(("SELECT", db), ("FLUSHDB", "ASYNC"))
            except OSError:
                pass        # the suite's redis-server is gone: every test says so

    # -- connecting

    def ssl_context(self):
        if self._ctx is None:
            # The certificate is written before the listening line; wait a
            # little in case the file system is slow to show it.
            wait_until(lambda: os.path.exists(self.cacert) and os.path.getsize(self.cacert) > 0,
                       5.0, "dev certificate %s to be written" % self.cacert)
            self._ctx = client_context(self.cacert)
        return self._ctx

    def connect(self, **kw):
        return Conn(self, **kw)

    def cpu_seconds(self):
        """User + system CPU time the relay has used so far (Linux /proc)."""
        with open("/proc/%d/stat" % self.proc.pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        ticks = os.sysconf("SC_CLK_TCK")
        return (int(fields[11]) + int(fields[12])) / ticks


def _redis_simple(*commands):
    """Send commands (tuples) to the suite's redis-server on one connection;
    their replies, each an integer or a status ("OK")."""
    port = int(os.environ["RELAY_TEST_REDIS_PORT"])
    out = bytearray()
    for command in commands:
        words = [str(w).encode() for w in command]
        out += b"*%d\r\n" % len(words)
        for w in words:
            out += b"$%d\r\n%s\r\n" % (len(w), w)
    buf = b""
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S) as s:
        s.sendall(out)
        while buf.count(b"\r\n") < len(commands):
            chunk = s.recv(4096)
            if not chunk:
                raise AssertionError("the suite's redis-server (port %d) closed the "
                                     "connection; it answered %r" % (port, buf))
            buf += chunk
    replies = buf.split(b"\r\n")[:len(commands)]
    for command, reply in zip(commands, replies):
        if reply[:1] not in (b":", b"+"):
            raise AssertionError("the suite's redis-server answered %r to %r" % (reply, command))
    return [int(r[1:]) if r[:1] == b":" else r[1:].decode() for r in replies]


# Database 0 of the suite's redis-server holds only this counter.
_REDIS_DB_COUNTER = "relaytest:databases-taken"


def _fresh_redis_database():
    """A database of the suite's redis-server that no relay has used."""
    db = _redis_simple(("INCR", _REDIS_DB_COUNTER))[0]
    databases = int(os.environ["RELAY_TEST_REDIS_DATABASES"])
    if db >= databases:
        raise AssertionError("the suite's redis-server has no database left (%d, all taken): "
                             "raise REDIS_DATABASES in test/run.py" % databases)
    return db


def client_context(cafile=None, verify=True):
    ctx = ssl.create_default_context(cafile=cafile) if verify else ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    if not verify:
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
    if hasattr(ssl, "OP_IGNORE_UNEXPECTED_EOF"):
        ctx.options |= ssl.OP_IGNORE_UNEXPECTED_EOF
    return ctx


def run_relay(args, timeout_s=10.0):
    """Run the binary with exactly these arguments and expect it to end by
    itself (help, version, bad options, start errors). Returns
    (exit status, stdout, stderr)."""
    if not (os.path.isfile(RELAY_BIN) and os.access(RELAY_BIN, os.X_OK)):
        raise AssertionError("relay binary %r not found or not executable" % RELAY_BIN)
    proc = subprocess.Popen([RELAY_BIN] + [str(a) for a in args], stdin=subprocess.DEVNULL,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        raise AssertionError("relay %s was still running after %.0f s (expected it to exit); "
                             "stdout %r stderr %r" % (" ".join(map(str, args)), timeout_s,
                                                      tail(out.decode("utf-8", "replace")),
                                                      tail(err.decode("utf-8", "replace"))))
    return proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def wait_until(predicate, timeout_s, what, interval_s=0.02):
    """Poll predicate until it returns a true value; AssertionError naming
    `what` at the deadline. Returns the value."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise AssertionError("timed out after %.1f s waiting for %s" % (timeout_s, what))
        time.sleep(interval_s)


def free_port(host="127.0.0.1"):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


# ------------------------------------------------------------------ HTTP/1.1

class ResponseTimeout(AssertionError):
    pass


class ConnectionClosed(AssertionError):
    pass


class Response:
    def __init__(self, version, status, reason, headers, body, head):
        self.version = version
        self.status = status
        self.reason = reason
        self.headers = headers          # list of (name, value), in order
        self.body = body
        self.head = head

    def header(self, name, default=None):
        name = name.lower()
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return default

    def header_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def has_header(self, name):
        return bool(self.header_all(name))

    @property
    def text(self):
        return self.body.decode("utf-8")

    def json(self):
        try:
            return json.loads(self.body.decode("utf-8"))
        except (UnicodeDecodeError, ValueError) as e:
            raise AssertionError("response body is not JSON (%s): %s" % (e, self))

    def __str__(self):
        hdrs = "; ".join("%s: %s" % hv for hv in self.headers)
        body = self.body[:400]
        return "<HTTP %d %s [%s] %r%s>" % (self.status, self.reason, hdrs, body,
                                           "..." if len(self.body) > 400 else "")

    __repr__ = __str__


def build_request(method, path, headers=None, body=None, version="HTTP/1.1",
                  host="localhost", content_length=True):
    """Bytes of one request. headers: dict or list of pairs (kept in order).
    Host is added unless given or host is None; Content-Length is added for a
    body unless the headers already frame it or content_length is False."""
    pairs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    names = {n.lower() for n, _ in pairs}
    lines = ["%s %s %s" % (method, path, version)]
    if host is not None and "host" not in names:
        lines.append("Host: %s" % host)
    lines += ["%s: %s" % (n, v) for n, v in pairs]
    if isinstance(body, str):
        body = body.encode("utf-8")
    if (body is not None and content_length and "content-length" not in names
            and "transfer-encoding" not in names):
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("utf-8") + (body or b"")


def chunked(body, sizes=None):
    """body in chunked transfer coding; sizes gives the chunk sizes in turn."""
    out, i = bytearray(), 0
    sizes = list(sizes or [])
    while i < len(body):
        n = sizes.pop(0) if sizes else 1000
        part = body[i:i + n]
        out += b"%x\r\n" % len(part) + part + b"\r\n"
        i += n
    return bytes(out + b"0\r\n\r\n")


class _Recorder:
    """RELAY_TEST_RECORD=DIR (test/run.py sets it): the method, path and
    status of every final answer read for a request sent with Conn.request
    (so with call(), create() and the rest too), written when the process
    ends to DIR/<pid>.jsonl, for test_openapi to find each in
    docs/openapi.yaml. Mailbox identifiers become {uuid}, the query goes."""

    UUID_RE = re.compile(r"[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
                         r"[0-9A-Fa-f]{12}")

    def __init__(self, directory):
        self.file = os.path.join(directory, "%d.jsonl" % os.getpid())
        self.seen = set()
        atexit.register(self.write)

    def note(self, method, path, status):
        self.seen.add((method, self.UUID_RE.sub("{uuid}", path.split("?", 1)[0]), status))

    def write(self):
        with open(self.file, "a", encoding="utf-8") as f:
            for method, path, status in sorted(self.seen):
                f.write(json.dumps({"method": method, "path": path, "status": status}) + "\n")


_recorder = _Recorder(os.environ["RELAY_TEST_RECORD"]) if os.environ.get("RELAY_TEST_RECORD") \
    else None


class Conn:
    """One client connection (keep-alive): send bytes, read responses. With
    session (an ssl.SSLSession from an earlier connection) it offers to
    resume that session. sockopts, (level, name, value) triples, are set
    before it connects: a small SO_RCVBUF, a small TCP_MAXSEG (which keeps
    the relay's send buffer small too) make a client the relay must wait
    for."""

    def __init__(self, relay=None, host=None, port=None, tls=None, timeout_s=IO_TIMEOUT_S,
                 source=None, server_hostname="localhost", context=None, session=None,
                 sockopts=()):
        host = host or relay.host
        port = port or relay.port
        if source is None and relay is not None:
            source = getattr(relay, "client_source", None)
        tls = relay.tls if tls is None else tls
        self.timeout_s = timeout_s
        self.host_header = "localhost:%d" % port
        if sockopts:
            raw = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET)
            try:
                for level, name, value in sockopts:
                    raw.setsockopt(level, name, value)
                raw.settimeout(timeout_s)
                if source is not None:
                    raw.bind(source)
                raw.connect((host, port))
            except BaseException:
                raw.close()
                raise
        else:
            raw = socket.create_connection((host, port), timeout=timeout_s,
                                           source_address=source)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if tls:
            ctx = context or relay.ssl_context()
            try:
                self.sock = ctx.wrap_socket(raw, server_hostname=server_hostname,
                                            session=session)
            except BaseException:
                raw.close()
                raise
        else:
            self.sock = raw
        self.buf = bytearray()
        self.eof = False
        # (method, path) of requests not yet answered, noted only on a
        # relay's API listener: not through a proxy, nor on another port.
        api_ports = {p for _, _, p in getattr(relay, "listeners", ())}
        self._sent = [] if port in api_ports else None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def send(self, data):
        # Bytes a test framed itself: which requests they hold, and so which
        # request the next answers belong to, is not known any more.
        self._sent = None
        self.sock.sendall(data)

    def request(self, method, path, headers=None, body=None, **kw):
        kw.setdefault("host", self.host_header)
        self.sock.sendall(build_request(method, path, headers, body, **kw))
        if self._sent is not None:
            self._sent.append((method, path))

    def roundtrip(self, method, path, headers=None, body=None, timeout_s=None, **kw):
        self.request(method, path, headers, body, **kw)
        return self.read_response(method, timeout_s=timeout_s)

    # -- reading

    def _recv(self, timeout_s):
        self.sock.settimeout(max(timeout_s, 0.001))
        try:
            data = self.sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError, ssl.SSLEOFError, ssl.SSLZeroReturnError):
            data = b""
        except ssl.SSLError as e:
            if "EOF" in str(e) or "SHUTDOWN" in str(e).upper():
                data = b""
            else:
                raise
        if data:
            self.buf += data
        else:
            self.eof = True
        return data

    def _fill(self, deadline, what):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise ResponseTimeout("no %s within %.1f s (received so far: %r)" % (
                what, self._timeout_used, bytes(self.buf[:300])))
        try:
            self._recv(remaining)
        except (socket.timeout, TimeoutError):
            raise ResponseTimeout("no %s within %.1f s (received so far: %r)" % (
                what, self._timeout_used, bytes(self.buf[:300])))

    def read_response(self, method="GET", timeout_s=None):
        """Read one response (an interim 1xx counts as one). Raises
        ResponseTimeout or ConnectionClosed (both AssertionErrors)."""
        resp = self._read_response(method, timeout_s)
        if resp.status >= 200 and self._sent:
            sent_method, sent_path = self._sent.pop(0)
            if _recorder is not None:
                _recorder.note(sent_method, sent_path, resp.status)
        return resp

    def _read_response(self, method, timeout_s):
        self._timeout_used = timeout_s or self.timeout_s
        deadline = time.monotonic() + self._timeout_used
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                break
            if self.eof:
                raise ConnectionClosed("connection closed before a complete response head "
                                       "(received %r)" % bytes(self.buf[:300]))
            if len(self.buf) > 65536:
                raise AssertionError("response head longer than 64 KiB")
            self._fill(deadline, "response")
        head = bytes(self.buf[:end]).decode("latin-1")
        del self.buf[:end + 4]
        lines = head.split("\r\n")
        m = re.match(r"^HTTP/(\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError("malformed status line %r" % lines[0])
        status = int(m.group(2))
        headers = []
        for line in lines[1:]:
            if ":" not in line or line[:1] in (" ", "\t"):
                raise AssertionError("malformed response header line %r" % line)
            n, v = line.split(":", 1)
            headers.append((n.strip(), v.strip()))
        resp = Response(m.group(1), status, m.group(3) or "", headers, b"", head)
        if 100 <= status < 200 or status in (204, 304) or method == "HEAD":
            return resp
        te = resp.header("Transfer-Encoding")
        cl = resp.header_all("Content-Length")
        if te is not None:
            if te.lower() != "chunked":
                raise AssertionError("unexpected response Transfer-Encoding %r" % te)
            resp.body = self._read_chunked(deadline)
        elif cl:
            if len(set(cl)) != 1 or not cl[0].isdigit():
                raise AssertionError("malformed response Content-Length %r" % cl)
            resp.body = self._read_exact(int(cl[0]), deadline)
        else:
            while not self.eof:
                self._fill(deadline, "end of a response body delimited by close")
            resp.body = bytes(self.buf)
            self.buf.clear()
        return resp

    def _read_exact(self, n, deadline):
        while len(self.buf) < n:
            if self.eof:
                raise ConnectionClosed("connection closed after %d of %d body bytes"
                                       % (len(self.buf), n))
            self._fill(deadline, "complete response body")
        data = bytes(self.buf[:n])
        del self.buf[:n]
        return data

    def _read_line(self, deadline):
        while True:
            i = self.buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self.buf[:i])
                del self.buf[:i + 2]
                return line
            if self.eof:
                raise ConnectionClosed("connection closed inside a chunked response body")
            self._fill(deadline, "chunk of the response body")

    def _read_chunked(self, deadline):
        body = bytearray()
        while True:
            size = int(self._read_line(deadline).split(b";")[0].strip(), 16)
            if size == 0:
                while self._read_line(deadline):
                    pass
                return bytes(body)
            body += self._read_exact(size, deadline)
            if self._read_line(deadline) != b"":
                raise AssertionError("chunk not followed by CRLF")

    def data_within(self, timeout_s):
        """True when at least one byte (or EOF) arrives within timeout_s; the
        bytes are kept for read_response. Used to assert that the relay is
        *holding* a request (a check with a window, not a synchronising sleep)."""
        if self.buf or self.eof:
            return True
        try:
            self._recv(timeout_s)
        except (socket.timeout, TimeoutError):
            return False
        return True

    def closed_now(self):
        """For a socket a selector says is readable: one read of what has
        arrived, kept in buf; True when the peer has closed. Unlike
        closed_within it does not wait: what made the socket readable may be
        no data at all (a TLS 1.3 session ticket), or the 408 before the
        close; either way the selector says when there is more."""
        if not self.eof:
            try:
                self._recv(0)
            except (socket.timeout, TimeoutError):
                pass
        return self.eof

    def closed_within(self, timeout_s=5.0):
        """True when the peer closes the connection within timeout_s (any data
        that arrives first is kept in buf)."""
        deadline = time.monotonic() + timeout_s
        while not self.eof:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return False
            try:
                self._recv(remaining)
            except (socket.timeout, TimeoutError):
                return False
        return True


def send_together(relay, conns, requests):
    """Make the relay receive several requests at the same instant, one per
    connection: every request but its last byte goes first; a round trip on
    another connection then proves the relay has read all of that (it reads
    in one loop, and loopback delivers a send at once), and the last bytes
    follow back to back. Returns nothing; read the answers from conns."""
    assert len(conns) == len(requests)
    for conn, data in zip(conns, requests):
        conn.send(data[:-1])
    with Conn(relay) as barrier:
        resp = barrier.roundtrip("GET", "/v1/m", timeout_s=5)
        if resp.status != 405:
            raise AssertionError("barrier request: expected 405, got %s" % resp)
    for conn, data in zip(conns, requests):
        conn.send(data[-1:])


def assert_closed(conn, what, timeout_s=5.0):
    if not conn.closed_within(timeout_s):
        raise AssertionError("relay did not close the connection within %.0f s after %s"
                             % (timeout_s, what))
    if conn.buf:
        raise AssertionError("unexpected bytes after %s before the close: %r"
                             % (what, bytes(conn.buf[:200])))


# --------------------------------------------------------------- relay API

def new_claim():
    return str(uuid.uuid4())


def b64(data):
    return base64.b64encode(data).decode("ascii")


def default_payload(n=48, type_="AEAD_AES_128_GCM"):
    return {"type": type_, "data": b64(os.urandom(n))}


def default_display():
    return {"title": "Hotel room 1205",
            "description": "Your key for the Grand Hotel, valid for three nights.",
            "imageURL": "https://example.com/hotel/key.png"}


def default_body(**members):
    """A valid CreateMailbox body; keyword arguments add or replace members."""
    body = {"payload": default_payload(), "displayInformation": default_display()}
    body.update(members)
    return body


def update_body(**members):
    body = {"payload": default_payload()}
    body.update(members)
    return body


DELETE = object()


def with_member(body, path, value):
    """A deep copy of body with the member at path (tuple of keys) set to
    value, or removed when value is DELETE."""
    body = copy.deepcopy(body)
    node = body
    for key in path[:-1]:
        node = node[key]
    if value is DELETE:
        node.pop(path[-1], None)
    else:
        node[path[-1]] = value
    return body


def rfc3339(epoch_s):
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(epoch_s))


def parse_rfc3339(text):
    return calendar.timegm(time.strptime(text, "%Y-%m-%dT%H:%M:%SZ"))


def config(expires_in_s=3600, rights=None, expiration=None):
    cfg = {"expiration": expiration if expiration is not None else rfc3339(time.time() + expires_in_s)}
    if rights is not None:
        cfg["accessRights"] = rights
    return cfg


def encode_body(body):
    if body is None:
        return None
    if isinstance(body, (bytes, bytearray)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    return json.dumps(body, ensure_ascii=False).encode("utf-8")


def call(relay, method, path, claim=None, body=None, headers=None, content_type=AUTO,
         request_id=None, conn=None, timeout_s=None):
    """One request on a fresh connection (or on conn); returns the Response."""
    raw = encode_body(body)
    hdrs = list(headers.items()) if isinstance(headers, dict) else list(headers or [])
    if claim is not None and claim is not OMIT:
        hdrs.append(("Mailbox-Device-Claim", claim))
    if request_id is not None:
        hdrs.append(("Mailbox-Request-ID", request_id))
    if content_type is AUTO:
        if raw is not None:
            hdrs.append(("Content-Type", "application/json"))
    elif content_type is not None and content_type is not OMIT:
        hdrs.append(("Content-Type", content_type))
    own = conn is None
    if own:
        conn = Conn(relay)
    try:
        return conn.roundtrip(method, path, hdrs, raw, timeout_s=timeout_s)
    finally:
        if own:
            conn.close()


def mailbox_path(mailbox_id):
    return "/v1/m/%s" % mailbox_id


def create(relay, claim=None, body=None, **kw):
    """POST /v1/m. claim=None makes a fresh claim; OMIT sends none."""
    claim = new_claim() if claim is None else claim
    return call(relay, "POST", "/v1/m", claim=claim, body=default_body() if body is None else body, **kw)


def read(relay, mailbox_id, claim, body=None, **kw):
    return call(relay, "POST", mailbox_path(mailbox_id), claim=claim, body=body, **kw)


def update(relay, mailbox_id, claim, body=None, **kw):
    return call(relay, "PUT", mailbox_path(mailbox_id), claim=claim,
                body=update_body() if body is None else body, **kw)


def delete(relay, mailbox_id, claim, **kw):
    return call(relay, "DELETE", mailbox_path(mailbox_id), claim=claim, **kw)


def relinquish(relay, mailbox_id, claim, **kw):
    return call(relay, "PATCH", mailbox_path(mailbox_id), claim=claim, **kw)


def preview(relay, mailbox_id, method="GET", query="", **kw):
    return call(relay, method, mailbox_path(mailbox_id) + query, **kw)


class Mailbox:
    def __init__(self, relay, sender, body, resp):
        self.relay = relay
        self.sender = sender
        self.body = body
        self.resp = resp
        data = expect_json(resp, 200)
        self.url = data.get("urlLink")
        assert isinstance(self.url, str), "urlLink missing in %s" % resp
        self.id = self.url.rsplit("/", 1)[-1]
        assert MAILBOX_ID_RE.match(self.id), "urlLink %r does not end in a v4 mailbox id" % self.url
        self.path = mailbox_path(self.id)


def new_mailbox(relay, sender=None, body=None, rights=None, expires_in_s=None,
                expiration=None, **kw):
    """Create a mailbox and assert 200; returns a Mailbox."""
    sender = sender or new_claim()
    body = copy.deepcopy(body) if body is not None else default_body()
    if rights is not None or expires_in_s is not None or expiration is not None:
        body["mailboxConfiguration"] = config(expires_in_s or 3600, rights, expiration)
    resp = create(relay, sender, body, **kw)
    if resp.status != 200:
        raise AssertionError("create failed: %s" % resp)
    return Mailbox(relay, sender, body, resp)


def bind_receiver(relay, mailbox, claim=None):
    """Read the mailbox with a new claim (binding it as Receiver); returns the claim."""
    claim = claim or new_claim()
    resp = read(relay, mailbox.id, claim)
    expect_json(resp, 200)
    return claim


# -------------------------------------------------------------- assertions

def media_type(resp):
    ct = resp.header("Content-Type") or ""
    return ct.split(";")[0].strip().lower()


def expect_status(resp, status, context=""):
    statuses = status if isinstance(status, (tuple, list, set)) else (status,)
    if resp.status not in statuses:
        raise AssertionError("%sexpected HTTP %s, got %s" % (
            context + ": " if context else "", "/".join(map(str, statuses)), resp))


def expect_json(resp, status, context=""):
    """Assert the status and the JSON response rules (Content-Type
    application/json, Cache-Control no-store); returns the parsed body."""
    expect_status(resp, status, context)
    prefix = context + ": " if context else ""
    if media_type(resp) != "application/json":
        raise AssertionError("%sContent-Type is %r, expected application/json: %s"
                             % (prefix, resp.header("Content-Type"), resp))
    cc = (resp.header("Cache-Control") or "").lower()
    if "no-store" not in cc:
        raise AssertionError("%sCache-Control %r lacks no-store: %s" % (prefix, cc, resp))
    return resp.json()


def expect_error(resp, status, code, context=""):
    """Assert an error response {"error": code, "message": text}."""
    data = expect_json(resp, status, context)
    codes = code if isinstance(code, (tuple, list, set)) else (code,)
    prefix = context + ": " if context else ""
    if not isinstance(data, dict) or data.get("error") not in codes:
        raise AssertionError("%sexpected error code %s, got %s" % (prefix, "/".join(codes), resp))
    if not isinstance(data.get("message"), str) or not data["message"]:
        raise AssertionError("%serror body lacks a message string: %s" % (prefix, resp))
    if set(data) != {"error", "message"}:
        raise AssertionError("%serror body has members beyond error and message: %s" % (prefix, resp))
    return data


def expect_equal(actual, expected, what):
    if actual != expected:
        raise AssertionError("%s: expected %r, got %r" % (what, expected, actual))


def sha256_fingerprint(der):
    digest = hashlib.sha256(der).hexdigest().upper()
    return ":".join(digest[i:i + 2] for i in range(0, 64, 2))
