"""The example proxy configurations in contrib/ (nginx, HAProxy) in front of
`--no-tls --trust-proxy`, each run in the real proxy from Debian's package.

The tested configuration is the shipped file: only its lines marked
"# site:" (the ones an operator edits) are changed, and only by the exact
replacements listed here (ports, narrowed to loopback; certificate and log
paths), each of which must match. What a proxy needs to run without root or
a system install (pid file, temporary paths, the global section) goes in a
wrapper beside it, never into it.

Through each proxy over TLS: the API works, with the header the relay would
send itself; a long-poll is held for seconds and woken, or answered at
--max-wait; a body of --max-body passes; the rate limit counts each
original client (127.0.0.2 and 127.0.0.3 are other addresses on Linux's lo)
and a forged X-Forwarded-For does not escape it. That the proxy waits
longer than the relay's default --max-wait is read from the file and tied to
the relay's --help; that this very setting is what governs a long-poll is
shown by lowering it, and seeing the proxy cut the poll.
"""

import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import unittest

from gorush_standin import CertAuthority
from relaytest import (Conn, Output, Relay, client_context, create,
                       default_body, describe_status, encode_body, expect_error,
                       expect_json, expect_status, free_port, new_claim, new_mailbox, read,
                       run_relay, tail, update, wait_until)

EXPECTED_SECONDS = 15
PARALLEL = True

CONTRIB = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "contrib")
SITE_MARK = "# site:"
START_TIMEOUT_S = 15.0
STOP_TIMEOUT_S = 10.0
HSTS = "max-age=31536000"
# How far above the relay's default --max-wait a proxy's read timeout must be
# to be "safely above" it.
TIMEOUT_MARGIN_S = 15

HELD_S = 3                      # the test relay's --max-wait: a long-poll of seconds
RATE = 2                        # the test relay's --rate-create, per hour

CLIENT_A = ("127.0.0.2", 0)
CLIENT_B = ("127.0.0.3", 0)


# ------------------------------------------------------------------ proxies

def site_config(path, replacements, tamper=()):
    """The file at path with each (shipped, test, count) replacement made on
    the lines marked SITE_MARK only, exactly count times. tamper: more
    (shipped, test, count) replacements made on any line but a comment, for
    the controls that show a setting matters."""
    with open(path, encoding="utf-8") as f:
        lines = f.read().splitlines(keepends=True)
    hits = {}
    for pairs, where in ((replacements, lambda l: SITE_MARK in l),
                         (tamper, lambda l: not l.lstrip().startswith("#"))):
        for old, new, _ in pairs:
            hits[old] = 0
            for i, line in enumerate(lines):
                if old in line and where(line):
                    hits[old] += line.count(old)
                    lines[i] = line.replace(old, new)
    wrong = ["%r: %d, expected %d" % (old, hits[old], count)
             for old, _, count in list(replacements) + list(tamper) if hits[old] != count]
    assert not wrong, "%s no longer has what the test replaces (%s): update the test " \
        "with the file" % (path, "; ".join(wrong))
    return "".join(lines)


class Proxy:
    """A real proxy in front of relay, started from its contrib file with
    test ports and paths. Stands in for the relay in the relaytest helpers
    (create, read, Conn, ...): host, port, tls, ssl_context, client_source.
    After the block, logged holds the lines it logged of each request."""

    name = binary = contrib = None
    read_timeouts = ()          # settings a long-poll must stay under
    timeout_control = None      # (shipped, lowered, count): one of them, cut to 1 s
    stop_signal = signal.SIGTERM

    def __init__(self, relay, tamper=()):
        self.relay = relay
        self.tamper = tamper
        self.host = "127.0.0.1"
        self.tls = True
        self.client_source = None
        self.proc = None
        self.ca = None
        self.logged = []

    def __enter__(self):
        path = shutil.which(self.binary, path=os.environ.get("PATH", "") + ":/usr/sbin:/sbin")
        if path is None:
            raise unittest.SkipTest("%s is not installed (apt-get install %s)"
                                    % (self.binary, self.binary))
        self.tmpdir = tempfile.mkdtemp(prefix="relay-%s-" % self.name)
        try:
            self.ca = CertAuthority()
            self.cert, self.key = self.ca.issue()
            self.port, self.port6 = free_port(), free_port("::1")
            cmd = self.prepare(path)
            self.check_quiet(path)
            self.proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                         stderr=subprocess.PIPE, cwd=self.tmpdir)
            self.stdout = Output(self.proc.stdout)
            self.stderr = Output(self.proc.stderr)
            for host, port in (("127.0.0.1", self.port), ("::1", self.port6)):
                wait_until(lambda: self._listening(host, port), START_TIMEOUT_S,
                           "%s to listen on [%s]:%d" % (self.name, host, port))
        except BaseException:
            self._end()
            raise
        return self

    def _listening(self, host, port):
        if self.proc.poll() is not None:
            raise AssertionError("%s ended at start (%s); stderr: %r" % (
                self.name, describe_status(self.proc.returncode), tail(self.stderr.text())))
        try:
            socket.create_connection((host, port), timeout=1).close()
            return True
        except OSError:
            return False

    def __exit__(self, exc_type, exc, tb):
        proc = self.proc
        self._end()
        if exc is None and proc is not None and proc.returncode != 0:
            raise AssertionError("%s ended with %s after %s; stderr: %r" % (
                self.name, describe_status(proc.returncode), self.stop_signal.name,
                tail(self.stderr.text())))
        return False

    def _end(self):
        if self.proc is not None:
            if self.proc.poll() is None:
                self.proc.send_signal(self.stop_signal)
                try:
                    self.proc.wait(STOP_TIMEOUT_S)
                except subprocess.TimeoutExpired:
                    self.proc.kill()
                    self.proc.wait()
            self.stdout.join()
            self.stderr.join()
            self.logged = self.read_log()
        if self.ca is not None:
            self.ca.cleanup()
        shutil.rmtree(self.tmpdir, ignore_errors=True)

    def check_quiet(self, path):
        """Assert the proxy has nothing to say about the configuration."""

    def ssl_context(self):
        return client_context(self.ca.cert)

    def file(self, name):
        return os.path.join(self.tmpdir, name)

    def config(self, replacements):
        return site_config(os.path.join(CONTRIB, self.contrib), replacements, self.tamper)

    @classmethod
    def read_timeouts_s(cls):
        """The shipped file's read_timeouts, in seconds."""
        with open(os.path.join(CONTRIB, cls.contrib), encoding="utf-8") as f:
            text = f.read()
        found = {}
        for name in cls.read_timeouts:
            m = re.search(r"^\s*%s\s+(\d+)s\b" % re.escape(name), text, re.M)
            assert m, "%s has no '%s Ns' line" % (cls.contrib, name)
            found[name] = int(m.group(1))
        return found


class Nginx(Proxy):
    name = "nginx"
    binary = "nginx"
    contrib = "nginx/relay.conf"
    read_timeouts = ("proxy_read_timeout",)
    stop_signal = signal.SIGTERM        # its fast stop: exit status 0
    timeout_control = ("proxy_read_timeout 90s;", "proxy_read_timeout 1s;", 1)

    def prepare(self, path):
        self.access_log = self.file("access.log")
        with open(self.file("relay.conf"), "w", encoding="utf-8") as f:
            f.write(self.config([
                ("listen 443 ssl;", "listen 127.0.0.1:%d ssl;" % self.port, 1),
                ("listen [::]:443 ssl;", "listen [::1]:%d ssl;" % self.port6, 1),
                ("server 127.0.0.1:8080;", "server 127.0.0.1:%d;" % self.relay.port, 1),
                ("/etc/ssl/relay/fullchain.pem", self.cert, 1),
                ("/etc/ssl/relay/privkey.pem", self.key, 1),
                ("/var/log/nginx/relay-access.log", self.access_log, 1),
            ]))
        # What Debian's nginx.conf gives it (the http block that includes
        # sites-enabled/), with the paths of a system install moved here.
        with open(self.file("nginx.conf"), "w", encoding="utf-8") as f:
            f.write("daemon off;\n"
                    "worker_processes 1;\n"
                    "pid %(d)s/nginx.pid;\n"
                    "error_log stderr notice;\n"
                    "events { worker_connections 128; }\n"
                    "http {\n"
                    "    client_body_temp_path %(d)s/body;\n"
                    "    proxy_temp_path %(d)s/proxy;\n"
                    "    fastcgi_temp_path %(d)s/fastcgi;\n"
                    "    uwsgi_temp_path %(d)s/uwsgi;\n"
                    "    scgi_temp_path %(d)s/scgi;\n"
                    "    include %(d)s/relay.conf;\n"
                    "}\n" % {"d": self.tmpdir})
        self.options = ["-p", self.tmpdir, "-c", self.file("nginx.conf"), "-e", "stderr"]
        return [path] + self.options

    def check_quiet(self, path):
        # Its test mode prints what it warns of, and nothing else with -q.
        proc = subprocess.run([path, "-t", "-q"] + self.options, stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=START_TIMEOUT_S)
        assert proc.returncode == 0 and not proc.stdout, "nginx -t on %s: exit status %d: %s" % (
            self.contrib, proc.returncode, proc.stdout.decode("utf-8", "replace"))

    def read_log(self):
        try:
            with open(self.access_log, encoding="utf-8") as f:
                return f.read().splitlines()
        except FileNotFoundError:
            return []


class HAProxy(Proxy):
    name = "haproxy"
    binary = "haproxy"
    contrib = "haproxy/relay.cfg"
    read_timeouts = ("timeout server",)
    stop_signal = signal.SIGUSR1        # its soft stop; SIGTERM is a kill
    timeout_control = ("timeout server 90s", "timeout server 1s", 1)

    def prepare(self, path):
        # HAProxy takes the certificate and its key in one file.
        pem = self.file("relay.pem")
        with open(pem, "w", encoding="utf-8") as out:
            for part in (self.cert, self.key):
                with open(part, encoding="utf-8") as f:
                    out.write(f.read())
        with open(self.file("relay.cfg"), "w", encoding="utf-8") as f:
            f.write(self.config([
                ("bind :443 ", "bind 127.0.0.1:%d " % self.port, 1),
                ("bind :::443 ", "bind ::1:%d " % self.port6, 1),
                ("crt /etc/haproxy/certs/relay.pem ", "crt %s " % pem, 2),
                ("server relay 127.0.0.1:8080", "server relay 127.0.0.1:%d" % self.relay.port, 1),
            ]))
        # Debian's haproxy.cfg is loaded first for its global section: user
        # and chroot a test run as itself does without, and syslog, here
        # stderr.
        with open(self.file("global.cfg"), "w", encoding="utf-8") as f:
            f.write("global\n    log stderr format raw local0\n")
        # -dW: a warning about the configuration stops the start.
        return [path, "-db", "-dW", "-f", self.file("global.cfg"), "-f", self.file("relay.cfg")]

    def read_log(self):
        # Its lines for requests, not its notices: they start with %t.
        return [l for l in self.stderr.lines() if re.match(r"^\d\d/\w{3}/\d{4}:", l)]


PROXIES = {"nginx": Nginx, "haproxy": HAProxy}


def proxied_relay(*args):
    """The relay as the files expect it: plain HTTP on loopback, trusting
    X-Forwarded-For from the proxy (127.0.0.1) only."""
    return Relay("--no-tls", "--trust-proxy", "127.0.0.1/32", *args, tls=False)


def relay_default(option):
    """The default of a duration (in seconds) or size (in bytes) option, as
    relay --help says it: what the files are written for."""
    rc, out, err = run_relay(["--help"])
    assert rc == 0, "relay --help: exit status %d" % rc
    m = re.search(r"^  %s [A-Z]+ +[^(\n]*\((\d+)(s|k)\b" % re.escape(option), out + err, re.M)
    assert m, "relay --help no longer gives the default of %s: %r" % (option, out)
    return int(m.group(1)) * {"s": 1, "k": 1024}[m.group(2)]


# ------------------------------------------------------------------- checks

def _serves_the_api(kind):
    with proxied_relay() as relay, PROXIES[kind](relay) as proxy:
        mb = new_mailbox(proxy)
        assert mb.resp.header("Strict-Transport-Security") == HSTS, \
            "%s: no Strict-Transport-Security %r on an answer: %s" % (kind, HSTS, mb.resp)
        receiver = new_claim()
        data = expect_json(read(proxy, mb.id, receiver), 200, "%s: read" % kind)
        assert data["payload"] == mb.body["payload"], "%s: read back %r" % (kind, data)
        expect_json(update(proxy, mb.id, mb.sender), 200, "%s: update" % kind)
        # The file's IPv6 listener serves too.
        with Conn(host="::1", port=proxy.port6, tls=True, context=proxy.ssl_context()) as c:
            expect_json(c.roundtrip("POST", mb.path, [("Mailbox-Device-Claim", receiver)]),
                        200, "%s: read over IPv6" % kind)
        # A body of exactly --max-body passes the proxy (white space after
        # the JSON is still JSON); one byte more is refused, by either.
        body = encode_body(default_body())
        max_body = relay_default("--max-body")
        for size, status in ((max_body, 200), (max_body + 1, 413)):
            resp = create(proxy, body=body + b" " * (size - len(body)))
            expect_status(resp, status, "%s: a body of %d bytes" % (kind, size))
        # A proxy logs a request once it is done with its connection, which
        # for a refused body can be after the answer: wait for the six lines
        # before stopping it, which could lose the last.
        wait_until(lambda: len(proxy.read_log()) >= 6, 10,
                   "%s to log the six requests" % kind)
    # What the proxy logged of each request names no mailbox, claim or client.
    assert len(proxy.logged) >= 6, "%s logged %d lines for 6 requests: %r" % (
        kind, len(proxy.logged), proxy.logged)
    for secret in (mb.id, mb.sender, receiver, "127.0.0.", "::1"):
        leaks = [l for l in proxy.logged if secret in l]
        assert not leaks, "%s logged %r: %r" % (kind, secret, leaks)


def _poll(proxy, mb, claim, etag, **kw):
    """A long-poll longer than any test waits: the relay's --max-wait ends it."""
    with Conn(proxy, timeout_s=30) as c:
        return c.roundtrip("POST", mb.path, [("Mailbox-Device-Claim", claim),
                                             ("If-None-Match", etag), ("Prefer", "wait=600")],
                           **kw)


def _etag(proxy, mb, claim):
    resp = read(proxy, mb.id, claim)
    expect_json(resp, 200, "%s: read" % proxy.name)
    return resp.header("ETag")


def _long_poll(kind):
    cls = PROXIES[kind]
    default_s = relay_default("--max-wait")
    for name, value in cls.read_timeouts_s().items():
        assert value >= default_s + TIMEOUT_MARGIN_S, \
            "%s: %s %ds is not safely above the relay's default --max-wait %ds" % (
                kind, name, value, default_s)
    with proxied_relay("--max-wait", "%ds" % HELD_S) as relay, cls(relay) as proxy:
        mb = new_mailbox(proxy)
        receiver = new_claim()
        etag = _etag(proxy, mb, receiver)
        # Held for seconds, then woken by an update.
        with Conn(proxy, timeout_s=30) as c:
            c.request("POST", mb.path, [("Mailbox-Device-Claim", receiver),
                                        ("If-None-Match", etag), ("Prefer", "wait=600")])
            if c.data_within(HELD_S - 0.5):
                raise AssertionError("%s: a long-poll was answered within %.1f s: %s" % (
                    kind, HELD_S - 0.5, c.read_response("POST")))
            expect_json(update(proxy, mb.id, mb.sender), 200, "%s: the waking update" % kind)
            woken = c.read_response("POST", timeout_s=5)
        expect_json(woken, 200, "%s: the woken long-poll" % kind)
        # One that nothing wakes is answered by the relay at --max-wait.
        start = time.monotonic()
        resp = _poll(proxy, mb, receiver, woken.header("ETag"))
        elapsed = time.monotonic() - start
        expect_status(resp, 204, "%s: a long-poll at --max-wait" % kind)
        assert elapsed >= HELD_S - 0.5, "%s: the long-poll ended after %.1f s" % (kind, elapsed)
    # The setting checked above is what governs it: lowered below the wait,
    # the proxy cuts the same long-poll.
    with proxied_relay("--max-wait", "%ds" % HELD_S) as relay, \
            cls(relay, tamper=[cls.timeout_control]) as proxy:
        mb = new_mailbox(proxy)
        resp = _poll(proxy, mb, mb.sender, _etag(proxy, mb, mb.sender))
        expect_status(resp, 504, "%s with %r: a long-poll" % (kind, cls.timeout_control[1]))


def _rate_limit(kind):
    with proxied_relay("--rate-create", "%d/h" % RATE) as relay, PROXIES[kind](relay) as proxy:
        proxy.client_source = CLIENT_A
        for i in range(RATE):
            expect_json(create(proxy), 200, "%s: create %d from %s" % (kind, i + 1, CLIENT_A[0]))
        expect_error(create(proxy), 429, "rate_limited", "%s: one more from %s" % (kind, CLIENT_A[0]))
        # The client may claim to be another one, anyone, or a chain of
        # proxies: the proxy's word is the last, and it is still A.
        for forged in ([CLIENT_B[0]], ["198.51.100.7"], ["198.51.100.7, 203.0.113.9"],
                       ["not an address"], ["198.51.100.7", "203.0.113.9"]):
            resp = create(proxy, headers=[("X-Forwarded-For", f) for f in forged])
            expect_error(resp, 429, "rate_limited", "%s: %s with X-Forwarded-For %r" % (
                kind, CLIENT_A[0], forged))
        # B has its own limit, untouched by what A forged in its name.
        proxy.client_source = CLIENT_B
        for i in range(RATE):
            expect_json(create(proxy), 200, "%s: create %d from %s" % (kind, i + 1, CLIENT_B[0]))
        expect_error(create(proxy), 429, "rate_limited", "%s: one more from %s" % (kind, CLIENT_B[0]))


def test_nginx_serves_the_api():
    _serves_the_api("nginx")


def test_haproxy_serves_the_api():
    _serves_the_api("haproxy")


def test_nginx_long_poll():
    _long_poll("nginx")


def test_haproxy_long_poll():
    _long_poll("haproxy")


def test_nginx_rate_limit_per_client():
    _rate_limit("nginx")


def test_haproxy_rate_limit_per_client():
    _rate_limit("haproxy")
