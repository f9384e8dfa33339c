"""The command-line client as a person meets it (issue 10, "Client"): the
address the relay prints works with its dev certificate, every command has
--help, errors are sentences, nothing waits without a deadline, a wrong
Secret says how to undo what it did, and the state file forgets what is gone.

Helpers come from test_client (devices, share URLs, the test's own AES-GCM).
Nothing sleeps to synchronise: processes are waited for with timeouts, watch
output is awaited with deadlines, and stand-in servers count what they got.
"""

import json
import os
import re
import shlex
import socket
import ssl
import subprocess
import threading
import time

from gorush_standin import CertAuthority, GorushStandin
from relaytest import RELAY_BIN, Relay, free_port, parse_rfc3339, run_relay, tail, wait_until
from test_client import (SUBCOMMANDS, Client, Workdir, b64url, base_url, claim_candidates,
                         parse_share, provisioning, stored)
from test_tls_audit import parse_server_hello

EXPECTED_SECONDS = 13

MAILBOX_ID = "0b7e0a40-93a4-4b8e-9c55-35a0f6f3c1d2"
# The TLS library's own error strings look like "PK - Read/write of file failed".
LIBRARY_STYLE_RE = re.compile(r"\b(PK|SSL|X509|NET|ASN1|CIPHER|MD) - ")
COMMANDS = SUBCOMMANDS + ("list",)


def a_share_url(base):
    return "%s/v1/m/%s?v=a#%s" % (base, MAILBOX_ID, b64url(os.urandom(16)))


def sentence(res, what, code, *words):
    """One stderr line, exit `code`, each of words in it, nothing of the TLS
    library's own error style."""
    res.fails(code, what, *words)
    assert not LIBRARY_STYLE_RE.search(res.err), "%s: the TLS library's message leaked: %s" % (what, res)
    return res.err.strip()


# 1 ------------------------------------------------ IP addresses and certificates

TLS12, TLS13 = 0x0303, 0x0304


class VersionSpy:
    """A TCP forwarder on 127.0.0.1 to a TLS server at 127.0.0.1:port that
    reads off each connection's ServerHello the version it settles on."""

    def __init__(self, port):
        self.target = ("127.0.0.1", port)
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.lock = threading.Lock()
        self.hellos = []                 # parse_server_hello's answer, per connection
        self.conns = []
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self):
        while True:
            try:
                down, _ = self.sock.accept()
            except OSError:
                return
            try:
                up = socket.create_connection(self.target, timeout=10)
            except OSError:
                down.close()
                continue
            with self.lock:
                self.conns += [down, up]
            for src, dst, watch in ((down, up, False), (up, down, True)):
                t = threading.Thread(target=self._pump, args=(src, dst, watch), daemon=True)
                t.start()
                self.threads.append(t)

    def _pump(self, src, dst, watch):
        seen = b""
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                if watch and seen is not None:
                    seen += data
                    hello = parse_server_hello(seen)
                    if hello is not None:
                        with self.lock:
                            self.hellos.append(hello)
                        seen = None
                dst.sendall(data)
        except OSError:
            pass
        finally:
            try:
                dst.shutdown(socket.SHUT_WR)
            except OSError:
                pass

    def versions(self):
        with self.lock:
            return [h[1] if h[0] == "hello" else h for h in self.hellos]

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        with self.lock:
            conns = list(self.conns)
        for c in conns:
            try:
                c.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in self.threads:
            t.join(5)
        for c in conns:
            c.close()


def test_ip_address_the_relay_prints_is_accepted_with_its_dev_certificate():
    with Relay(listen=["127.0.0.1:0", "[::1]:0"]) as relay, Workdir() as w:
        v4 = "https://127.0.0.1:%d" % relay.listeners[0][2]
        v6 = "https://[::1]:%d" % relay.listeners[1][2]
        assert "listening url=%s\n" % v4 in relay.stderr.text(), relay.stderr.text()
        a = Client(w, "A", relay, relay_url=v4)
        share = parse_share(a.send({"ip": 4}).ok("send to %s with the dev certificate" % v4),
                            relay.public_url)
        b = Client(w, "B", relay)
        b.received(share.url.replace("https://localhost:", "https://127.0.0.1:"),
                   provisioning({"ip": 4}), "receive through 127.0.0.1")
        c = Client(w, "C", relay, relay_url=v6)
        parse_share(c.send({"ip": 6}).ok("send to %s with the dev certificate" % v6), relay.public_url)
        # The resolver reads 127.1 as 127.0.0.1, and so does the check.
        parse_share(a.send({"ip": "short"}, relay_url="https://127.1:%d" % relay.listeners[0][2])
                    .ok("send to 127.1"), relay.public_url)


def test_ip_host_matches_only_ip_address_names():
    ca = CertAuthority("relay-client-test-ca")
    try:
        cases = [
            # (subjectAltName, host the client uses, accepted?)
            ("IP:127.0.0.1", "127.0.0.1", True),
            # A dNSName that spells the address is not an address (mbedTLS
            # 2.28 alone would accept it).
            ("DNS:127.0.0.1", "127.0.0.1", False),
            ("IP:127.0.0.2", "127.0.0.1", False),
            ("IP:::1", "127.0.0.1", False),
            # An address does not name a host.
            ("IP:127.0.0.1", "localhost", False),
            ("DNS:localhost", "127.0.0.1", False),
        ]
        with Workdir() as w:
            for san, host, accepted in cases:
                cert, key = ca.issue(cn=host, san=san)
                with Relay("--cert", cert, "--key", key, dev_cert=False) as relay:
                    # Through a spy, to see that the check is made in TLS 1.3.
                    spy = VersionSpy(relay.port)
                    try:
                        a = Client(w, "A-%s-%s" % (san, host), relay, cacert=ca.cert,
                                   relay_url="https://%s:%d" % (host, spy.port))
                        res = a.send({"san": san})
                    finally:
                        spy.close()
                    what = "send to %s, certificate for %s" % (host, san)
                    if accepted:
                        res.ok(what)
                    else:
                        line = sentence(res, what, 5, "not trusted", "not for %s" % host)
                        assert "not signed" not in line, "%s: the CA is trusted: %s" % (what, res)
                    versions = spy.versions()
                    assert versions and all(v == TLS13 for v in versions), \
                        "%s: the relay's ServerHellos settled on %r, expected TLS 1.3 (0x%04X)" % (
                            what, versions, TLS13)
    finally:
        ca.cleanup()


def test_ip_host_checked_in_tls12_too():
    # The relay always speaks TLS 1.3 to this client; a server that offers
    # TLS 1.2 at most (a stand-in here) has its address checked all the same.
    ca = CertAuthority("relay-client-test-ca")
    try:
        with Workdir() as w:
            for san, accepted in (("IP:127.0.0.1", True), ("DNS:127.0.0.1", False)):
                cert, key = ca.issue(cn="127.0.0.1", san=san)
                with GorushStandin(tls=(cert, key), tls_max_version=ssl.TLSVersion.TLSv1_2) as gw:
                    spy = VersionSpy(gw.port)
                    try:
                        a = Client(w, "A-%s" % san, cacert=ca.cert,
                                   relay_url="https://127.0.0.1:%d" % spy.port)
                        res = a.send({"san": san})
                    finally:
                        spy.close()
                    what = "send to a TLS 1.2 server at 127.0.0.1, certificate for %s" % san
                    versions = spy.versions()
                    assert versions and all(v == TLS12 for v in versions), \
                        "%s: ServerHellos settled on %r, expected TLS 1.2" % (what, versions)
                    if accepted:
                        # Past the handshake the client sent its create, which
                        # the stand-in is no relay to answer.
                        assert [r.path for r in gw.requests()][:1] == ["/v1/m"] and \
                            res.rc != 5, "%s: %s; the stand-in got %s" % (
                                what, res, gw.describe())
                    else:
                        sentence(res, what, 5, "not trusted", "not for 127.0.0.1")
                        assert gw.requests() == [], "%s: a request was sent: %s" % (
                            what, gw.describe())
    finally:
        ca.cleanup()


# 2 ------------------------------------------------------------ help, typos

def test_every_command_has_help():
    for sub in COMMANDS:
        for flag in ("--help", "-h"):
            rc, out, err = run_relay([sub, flag])
            what = "relay %s %s" % (sub, flag)
            assert rc == 0 and err == "", "%s: exit %d, stderr %r" % (what, rc, err)
            assert out.startswith("usage: relay %s" % sub), "%s: %r" % (what, tail(out))
        rc, out2, _ = run_relay(["help", sub])
        assert rc == 0 and out2 == out, "relay help %s differs from relay %s --help" % (sub, sub)
    # After other options too, and never mistaken for a value's place.
    rc, out, err = run_relay(["receive", "--state", "/nonexistent/x", "--help"])
    assert rc == 0 and out.startswith("usage: relay receive"), (rc, out, err)
    rc, out, err = run_relay(["send", "--title", "-h", "--frobnicate"])
    assert rc == 2 and "--frobnicate" in err, "send --title -h took -h as help: %r %r" % (out, err)
    rc, out, _ = run_relay(["send", "--help"])
    for opt in ("--relay", "--ttl", "--rights", "--cacert", "--timeout", "RELAY_CACERT"):
        assert opt in out, "relay send --help does not mention %s: %r" % (opt, tail(out))


def test_relay_help_lists_every_command_truthfully():
    rc, out, _ = run_relay(["--help"])
    assert rc == 0
    for sub in COMMANDS:
        assert re.search(r"\b%s\b" % sub, out), "relay --help does not name %r: %r" % (sub, tail(out))
        rc, _, err = run_relay([sub, "--help"])
        assert rc == 0, "relay --help names %r, which has no --help: %r" % (sub, err)
    rc, out, _ = run_relay(["help"])
    for sub in COMMANDS:
        assert re.search(r"(?m)^  %s\b" % sub, out), "relay help does not describe %r" % sub


def test_unknown_command_suggests_the_nearest():
    for typo, nearest in (("recieve", "receive"), ("snd", "send"), ("wacth", "watch"),
                          ("relinqish", "relinquish"), ("lst", "list")):
        rc, out, err = run_relay([typo, "https://x/"])
        assert rc == 2 and out == "", "relay %s: exit %d, stdout %r" % (typo, rc, out)
        lines = err.splitlines()
        assert len(lines) == 1 and "unknown command" in lines[0] and \
            re.search(r"\b%s\b" % nearest, lines[0]), "relay %s: %r" % (typo, err)
    rc, out, err = run_relay(["frobnicate"])
    assert rc == 2 and "unknown command" in err and len(err.splitlines()) == 1, err
    for far in ("send", "receive", "preview", "list"):
        assert far not in err.split("(")[0], "a far-off name suggests %s: %r" % (far, err)
    # A command name cannot paint the terminal or add lines.
    rc, out, err = run_relay(["\x1b]0;owned\x07x\nrelay: fake"])
    assert rc == 2 and "\x1b" not in err and "\x07" not in err and len(err.splitlines()) == 1, repr(err)
    rc, out, err = run_relay(["help", "recieve"])
    assert rc == 2 and "receive" in err, (rc, err)


# 3 ---------------------------------------------------------- RELAY_CACERT

def test_cacert_from_environment_and_the_option_wins():
    with Relay() as relay, Relay() as other, Workdir() as w:
        a = Client(w, "A", relay, cacert=None)
        env = dict(a.env, RELAY_CACERT=relay.cacert)
        res = a.run("send", "--relay", base_url(relay), stdin='{"e": 1}', env=env, cacert=None)
        share = parse_share(res.ok("send with RELAY_CACERT and no --cacert"), relay.public_url)
        b = Client(w, "B", relay, cacert=None)
        res = b.run("receive", share.url, env=dict(b.env, RELAY_CACERT=relay.cacert), cacert=None)
        assert json.loads(res.ok("receive with RELAY_CACERT").out) == provisioning({"e": 1})
        wrong = dict(a.env, RELAY_CACERT=other.cacert)
        a.run("send", "--relay", base_url(relay), stdin="{}", env=wrong, cacert=None).fails(
            5, "RELAY_CACERT naming another relay's certificate is used")
        a.run("send", "--relay", base_url(relay), "--cacert", relay.cacert, stdin="{}", env=wrong,
              cacert=None).ok("--cacert wins over RELAY_CACERT")
        res = a.run("send", "--relay", base_url(relay), "--insecure", stdin="{}", env=wrong, cacert=None)
        res.ok("--insecure wins over RELAY_CACERT")
        res = a.run("send", "--relay", base_url(relay), stdin="{}",
                    env=dict(a.env, RELAY_CACERT="/nonexistent/ca.pem"), cacert=None)
        sentence(res, "RELAY_CACERT naming a missing file", 9, "/nonexistent/ca.pem",
                 "No such file or directory")


# 4 ------------------------------------------------------------ wrong Secret

def test_wrong_secret_says_the_mailbox_is_bound_and_how_to_free_it(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        c = Client(w, "C dir's", relay)      # a quote and a space in its paths
        share = parse_share(a.send({"k": "v"}).ok("A sends"), relay.public_url)
        wrong = bytearray(share.secret)
        wrong[0] ^= 0x55
        line = sentence(c.receive(share.with_fragment(b64url(bytes(wrong)))),
                        "receive with a wrong secret", 1, "decryption failed", "bound", "relay relinquish")
        assert b64url(bytes(wrong)) not in line and share.fragment not in line, \
            "the message repeats a Secret: %r" % line
        for claim in claim_candidates(c.state, share.id):
            assert claim not in line, "the message shows the claim: %r" % line
        b.receive(share.url).fails(7, "B is locked out while C holds the mailbox", "bound")
        command = shlex.split(line.split("relay relinquish", 1)[1])
        assert "--state" in command and c.state in command and relay.cacert in command, \
            "the command does not carry the options it needs: %r" % command
        proc = subprocess.run([RELAY_BIN, "relinquish"] + command, env=c.env, capture_output=True,
                              timeout=30)
        assert proc.returncode == 0, "the printed command failed: %r -> %d %r" % (
            command, proc.returncode, proc.stderr)
        b.received(share.url, provisioning({"k": "v"}), "B receives once C let go")


# 5 ---------------------------------------------------------------- deadlines

class SilentServer:
    """Accepts connections and then answers nothing at all, or (drip=True)
    drips an HTTP answer's header lines forever, one every 0.2 s."""

    def __init__(self, drip=False):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(16)
        self.port = self.sock.getsockname()[1]
        self.drip = drip
        self.stop = threading.Event()
        self.conns = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            self.conns.append(conn)
            if self.drip:
                threading.Thread(target=self._drip, args=(conn,), daemon=True).start()

    def _drip(self, conn):
        try:
            conn.sendall(b"HTTP/1.1 200 OK\r\n")
            while not self.stop.wait(0.2):
                conn.sendall(b"X-Slow: 1\r\n")
        except OSError:
            pass

    def close(self):
        self.stop.set()
        self.sock.close()
        self.thread.join(5)
        for c in self.conns:
            c.close()


def test_timeout_bounds_a_relay_that_never_answers():
    with Workdir() as w:
        for scheme, drip in (("http", False), ("https", False), ("http", True)):
            server = SilentServer(drip=drip)
            try:
                a = Client(w, "A", cacert=None)
                url = a_share_url("%s://127.0.0.1:%d" % (scheme, server.port))
                t0 = time.monotonic()
                res = a.run("receive", "--timeout", "2s", url, timeout_s=20)
                took = time.monotonic() - t0
                what = "receive --timeout 2s from a %s server that %s" % (
                    scheme, "drips" if drip else "never answers")
                sentence(res, what, 4, "127.0.0.1:%d" % server.port, "within 2 s")
                assert took < 6, "%s took %.1f s" % (what, took)
            finally:
                server.close()
        for bad in ("0", "soon", "-1s", "2d", ""):
            a.run("receive", "--timeout", bad, a_share_url("http://127.0.0.1:1")).fails(
                2, "--timeout %r" % bad, "--timeout")


class Answer204Server:
    """Plain HTTP: answers every request at once with 204 (a relay or proxy
    that does not hold long-polls), counting the requests."""

    def __init__(self):
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        self.count = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        self.sock.settimeout(0.1)
        while not self.stop.is_set():
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with conn:
                conn.settimeout(2)
                data = b""
                try:
                    while b"\r\n\r\n" not in data:
                        chunk = conn.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                    self.count += 1
                    conn.sendall(b"HTTP/1.1 204 No Content\r\nConnection: close\r\n\r\n")
                except OSError:
                    pass

    def close(self):
        self.stop.set()
        self.sock.close()
        self.thread.join(5)


def known_mailbox_state(path, mailbox_url):
    """A state file in which this device knows mailbox_url as its Receiver."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w") as f:
        json.dump({"version": 1, "mailboxes": {mailbox_url: {
            "claim": "11111111-2222-4333-8444-555555555555", "secret": b64url(os.urandom(16)),
            "role": "receiver", "etag": "", "seen": []}}}, f)
    os.chmod(path, 0o600)


def test_watch_says_it_waits_and_never_spins():
    server = Answer204Server()
    try:
        with Workdir() as w:
            a = Client(w, "A", cacert=None)
            mailbox = "http://127.0.0.1:%d/v1/m/%s" % (server.port, MAILBOX_ID)
            known_mailbox_state(a.state, mailbox)
            with a.watch(mailbox) as watch:
                if not watch.stderr.wait_for(lambda ls: any("waiting" in l for l in ls), 10):
                    raise AssertionError("watch did not say it is waiting: %s" % watch.describe())
                t0 = time.monotonic()
                wait_until(lambda: server.count >= 2, 10, "watch's second request")
                n0 = server.count
                time.sleep(3)     # a window to count in, not a synchronisation
                n = server.count - n0
                assert watch.proc.poll() is None, watch.describe()
                assert n <= 5, "watch sent %d requests in 3 s to a server answering 204 at once" % n
                assert time.monotonic() - t0 < 30
    finally:
        server.close()


def test_watch_says_when_it_retries_an_unreachable_relay():
    with Workdir() as w:
        relay = Relay().start()
        try:
            a, b = Client(w, "A", relay), Client(w, "B", relay)
            share = parse_share(a.send({"w": 1}, "--rights", "RWD").ok("A sends"), relay.public_url)
            b.received(share.url, provisioning({"w": 1}), "B receives")
            with a.watch(share.url) as watch:
                if not watch.stderr.wait_for(lambda ls: any("waiting" in l for l in ls), 10):
                    raise AssertionError("watch did not say it is waiting: %s" % watch.describe())
                relay.stop()
                if not watch.stderr.wait_for(
                        lambda ls: any(re.search(r"cannot connect to .*; retrying in \d+ s", l)
                                       for l in ls), 15):
                    raise AssertionError("watch did not say it retries: %s" % watch.describe())
                assert not LIBRARY_STYLE_RE.search(watch.stderr.text()), watch.describe()
        finally:
            if relay.alive():
                relay.stop()


# 6 ------------------------------------------------------------ errors as sentences

def test_errors_are_sentences_naming_the_file_or_host():
    with Relay() as relay, Relay() as other, Relay("--no-tls", tls=False) as plain, Workdir() as w:
        a = Client(w, "A", relay)
        res = a.run("send", "--relay", base_url(relay), stdin="{}", cacert="/x/y.pem")
        line = sentence(res, "a missing --cacert file", 9)
        assert line == "relay: cannot read CA file /x/y.pem: No such file or directory", line
        sentence(a.run("send", "--relay", base_url(relay), stdin="{}", cacert=w.path),
                 "a directory as --cacert", 9, "cannot read CA file %s" % w.path, "Is a directory")
        junk = w.file("junk.pem", "not a certificate\n")
        sentence(a.run("send", "--relay", base_url(relay), stdin="{}", cacert=junk),
                 "a --cacert file without certificates", 9, junk, "no certificate")
        # A FIFO is refused at once: opening it to read would wait for a writer.
        fifo = os.path.join(w.path, "fifo.pem")
        os.mkfifo(fifo)
        sentence(a.run("send", "--relay", base_url(relay), stdin="{}", cacert=fifo),
                 "a FIFO as --cacert", 9, "cannot read CA file %s" % fifo, "not a regular file")
        port = free_port()
        line = sentence(Client(w, "B", cacert=None).run("receive", a_share_url("https://127.0.0.1:%d" % port)),
                        "a closed port", 4)
        assert line == "relay: cannot connect to 127.0.0.1:%d: Connection refused" % port, line
        sentence(Client(w, "C", relay, cacert=other.cacert).send({"x": 1}),
                 "another relay's certificate", 5, "localhost", "not signed by a CA")
        sentence(Client(w, "E", relay, relay_url="https://127.0.0.1:%d" % plain.port).send({"x": 1}),
                 "https:// to a plain-HTTP relay", 4, "127.0.0.1:%d" % plain.port, "TLS")
        sentence(Client(w, "F", cacert=None, relay_url="https://relay.invalid:8443").send({"x": 1}),
                 "a host name that does not resolve", 4, "relay.invalid")
    with Relay(listen=["127.0.0.2:0"]) as relay, Workdir() as w:
        line = sentence(Client(w, "D", relay, relay_url="https://127.0.0.2:%d" % relay.port).send({"x": 1}),
                        "an address the certificate does not name", 5, "not for 127.0.0.2")
        for name in ("localhost", "127.0.0.1", "::1"):
            assert name in line, "the message does not say what the certificate names: %r" % line


# 7 ------------------------------------------------------------ state and list

def list_lines(client):
    res = client.run("list", cacert=None).ok("relay list of %s" % client.name)
    assert res.err == "", res
    return [l.split() for l in res.out.splitlines()]


def test_list_shows_what_the_state_holds_and_nothing_secret(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        assert list_lines(a) == []
        t0 = time.time()
        share = parse_share(a.send({"l": 1}, "--ttl", "1h").ok("A sends"), relay.public_url)
        share2 = parse_share(a.send({"l": 2}).ok("A sends without --ttl"), relay.public_url)
        b.received(share.url, provisioning({"l": 1}), "B receives")
        lines = list_lines(a)
        assert len(lines) == 2 and all(len(l) == 3 for l in lines), lines
        by_url = {l[0]: l for l in lines}
        assert by_url[share.link][1] == "sender", lines
        assert abs(parse_rfc3339(by_url[share.link][2]) - (t0 + 3600)) < 10, lines
        # Without --ttl the relay's default applies, which a create does not say.
        assert by_url[share2.link][1:] == ["sender", "unknown"], lines
        a_claim, body = stored(relay, a.state, share.id, "the relay's expiration")
        b_claim, _ = stored(relay, b.state, share.id, "B's claim")
        assert list_lines(b) == [[share.link, "receiver", body["expiration"]]], list_lines(b)
        out = a.run("list", cacert=None).out + b.run("list", cacert=None).out
        for secret in (share.fragment, share2.fragment):
            assert secret not in out, "relay list prints a Secret"
        for claim in (a_claim, b_claim):
            assert claim.lower() not in out.lower(), "relay list prints a claim"
        a.run("list", "--cacert", relay.cacert).fails(2, "list takes no --cacert", "--cacert")


def test_state_forgets_deleted_and_expired_mailboxes(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        share = parse_share(a.send({"d": 1}, "--rights", "RWD").ok("A sends"), relay.public_url)
        b.received(share.url, provisioning({"d": 1}), "B receives")
        a.delete(share.url).silent_ok("A deletes")
        assert [l[0] for l in list_lines(b)] == [share.link], "B still knows the mailbox"
        b.receive(share.url).fails(6, "B receives the deleted mailbox", ("deleted", "expired"))
        assert list_lines(b) == [], "B's state kept a mailbox the relay said is gone"
        assert share.link not in json.dumps(b.state_json())

        share2 = parse_share(a.send({"e": 1}).ok("A sends again"), relay.public_url)
        share3 = parse_share(a.send({"e": 2}).ok("A sends a third"), relay.public_url)
        b.received(share2.url, provisioning({"e": 1}), "B receives the second")
        b.received(share3.url, provisioning({"e": 2}), "B receives the third")
        # As if long ago: the second expired a day ago, by B's clock.
        doc = b.state_json()
        doc["mailboxes"][share2.link]["expires"] = "2001-01-01T00:00:00Z"
        with open(b.state, "w") as f:
            json.dump(doc, f)
        assert [l[0] for l in list_lines(b)] == [share3.link], "an expired mailbox is listed"
        assert share2.link not in json.dumps(b.state_json()), "the expired mailbox is still in the file"
        b.received(share3.url, provisioning({"e": 2}), "the live one still works")
