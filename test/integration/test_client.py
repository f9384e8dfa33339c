"""The command-line client: `relay send|receive|reply|watch|delete|relinquish|
preview|help` driving a real relay, checked against the client contract.

Two state files are two devices (Client below). Nothing here trusts the
client's own account of what it did: the share URL is parsed, the secret is
decoded, payloads stored on the relay are read back through the API (with the
Sender's claim found in its state file) and decrypted with an independent
AES-GCM written here in plain Python, and for the properties that need to see
the requests themselves (the fragment never leaves the device, every request
has a fresh Mailbox-Request-ID, a lost response is retried once with the same
id) the client talks to a --no-tls relay through a recording TCP proxy.
A TLS-preserving proxy (it forwards bytes, it cannot read them) loses the first
response of a create to check the retry over TLS as well.

Nothing sleeps to synchronise: child processes are waited for with timeouts,
lines of `relay watch` are awaited with deadlines, and expiry is polled.
"""

import base64
import json
import os
import re
import selectors
import shutil
import socket
import stat
import subprocess
import tempfile
import threading
import time

from relaytest import (RELAY_BIN, Output, Relay, call, create, expect_error, expect_json,
                       free_port, parse_rfc3339, read, run_relay, tail, wait_until)

EXPECTED_SECONDS = 9

# The module's shared relay: a default lifetime that the client's own 24 h
# default cannot be mistaken for.
RELAY_ARGS = ["--default-ttl", "2h"]
RELAY_DEFAULT_TTL_S = 2 * 3600

CLIENT_TIMEOUT_S = 30.0
WATCH_LINE_TIMEOUT_S = 15.0

DEFAULT_TITLE = "Digital key"
DEFAULT_DESCRIPTION = ""
DEFAULT_IMAGE = "https://relay.invalid/key.png"

UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
MAILBOX_ID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
SHARE_RE = re.compile(r"^(?P<link>(?P<base>https?://[^/?#\s]+)/v1/m/(?P<id>[^/?#\s]+))"
                      r"\?v=(?P<v>[^#&\s]*)#(?P<frag>\S*)$")
BASE64URL_RE = re.compile(r"^[A-Za-z0-9_-]*$")


# ------------------------------------------------------------ AES-GCM (test side)
#
# An independent AES-GCM (FIPS 197, NIST SP 800-38D) in plain Python, so that
# the test can decrypt what the client stored and encrypt what the client must
# accept without trusting the client or needing a third-party module.
# Checked against the NIST GCM test vectors in _self_check_aes_gcm().

def _xtime(a):
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _make_sbox():
    # Multiplicative inverse in GF(2^8) followed by the affine map.
    exp, log = [0] * 512, [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x ^= _xtime(x)               # multiply by 3, a generator
    for i in range(255, 512):
        exp[i] = exp[i - 255]
    box = []
    for a in range(256):
        inv = 0 if a == 0 else exp[255 - log[a]]
        s = inv
        for r in range(1, 5):
            s ^= ((inv << r) | (inv >> (8 - r))) & 0xFF
        box.append(s ^ 0x63)
    return box


_SBOX = _make_sbox()
_MUL2 = [_xtime(a) for a in range(256)]
_MUL3 = [_xtime(a) ^ a for a in range(256)]


def _aes_key_schedule(key):
    nk = len(key) // 4
    if len(key) not in (16, 24, 32):
        raise ValueError("AES key of %d bytes" % len(key))
    nr = nk + 6
    words = [list(key[4 * i:4 * i + 4]) for i in range(nk)]
    rcon = 1
    for i in range(nk, 4 * (nr + 1)):
        t = list(words[i - 1])
        if i % nk == 0:
            t = t[1:] + t[:1]
            t = [_SBOX[b] for b in t]
            t[0] ^= rcon
            rcon = _xtime(rcon)
        elif nk > 6 and i % nk == 4:
            t = [_SBOX[b] for b in t]
        words.append([a ^ b for a, b in zip(words[i - nk], t)])
    return [sum(words[4 * r:4 * r + 4], []) for r in range(nr + 1)]


def _aes_block(round_keys, block):
    s = [b ^ k for b, k in zip(block, round_keys[0])]
    last = len(round_keys) - 1
    for rnd in range(1, last + 1):
        s = [_SBOX[b] for b in s]
        s = [s[(r + 4 * ((c + r) % 4))] for c in range(4) for r in range(4)]
        if rnd != last:
            m = []
            for c in range(4):
                a0, a1, a2, a3 = s[4 * c:4 * c + 4]
                m += [_MUL2[a0] ^ _MUL3[a1] ^ a2 ^ a3, a0 ^ _MUL2[a1] ^ _MUL3[a2] ^ a3,
                      a0 ^ a1 ^ _MUL2[a2] ^ _MUL3[a3], _MUL3[a0] ^ a1 ^ a2 ^ _MUL2[a3]]
            s = m
        s = [b ^ k for b, k in zip(s, round_keys[rnd])]
    return bytes(s)


_GCM_R = 0xE1 << 120


def _gf_mul(x, y):
    z, v = 0, y
    for i in range(127, -1, -1):
        if (x >> i) & 1:
            z ^= v
        v = (v >> 1) ^ _GCM_R if v & 1 else v >> 1
    return z


def _ghash(h, data):
    y = 0
    for i in range(0, len(data), 16):
        block = data[i:i + 16].ljust(16, b"\0")
        y = _gf_mul(y ^ int.from_bytes(block, "big"), h)
    return y


def _gcm(key, iv, data, encrypt):
    """(output, tag) for AES-GCM with a 96-bit IV and no associated data."""
    rk = _aes_key_schedule(key)
    h = int.from_bytes(_aes_block(rk, b"\0" * 16), "big")
    j0 = iv + b"\0\0\0\1"
    out = bytearray()
    counter = 1
    for i in range(0, len(data), 16):
        counter = (counter + 1) & 0xFFFFFFFF
        ks = _aes_block(rk, iv + counter.to_bytes(4, "big"))
        out += bytes(a ^ b for a, b in zip(data[i:i + 16], ks))
    ct = bytes(out) if encrypt else bytes(data)
    lengths = (0).to_bytes(8, "big") + (len(ct) * 8).to_bytes(8, "big")
    s = _ghash(h, ct + b"\0" * (-len(ct) % 16) + lengths)
    tag = bytes(a ^ b for a, b in zip(_aes_block(rk, j0), s.to_bytes(16, "big")))
    return bytes(out), tag


def gcm_seal(key, plaintext, iv=None):
    """IV ‖ ciphertext ‖ tag, the layout the contract gives for payload data."""
    iv = os.urandom(12) if iv is None else iv
    ct, tag = _gcm(key, iv, plaintext, True)
    return iv + ct + tag


def gcm_open(key, blob):
    """The plaintext, or None when the tag does not verify."""
    if len(blob) < 28:
        return None
    iv, ct, tag = blob[:12], blob[12:-16], blob[-16:]
    pt, want = _gcm(key, iv, ct, False)
    return pt if want == tag else None


def _self_check_aes_gcm():
    # NIST SP 800-38D / McGrew-Viega test cases 3 (AES-128) and 15 (AES-256).
    pt = bytes.fromhex("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
                       "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
    iv = bytes.fromhex("cafebabefacedbaddecaf888")
    k128 = bytes.fromhex("feffe9928665731c6d6a8f9467308308")
    want128 = ("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
               "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985"
               "4d5c2af327cd64a62cf35abd2ba6fab4")
    k256 = k128 * 2
    want256 = ("522dc1f099567d07f47f37a32a84427d643a8cdcbfe5c0c97598a2bd2555d1aa"
               "8cb08e48590dbb3da7b08b1056828838c5f61e6393ba7a0abcc9f662898015ad"
               "b094dac5d93471bdec1a502270e3cc6c")
    for key, want in ((k128, want128), (k256, want256)):
        got = gcm_seal(key, pt, iv)
        if got[12:].hex() != want:
            raise AssertionError("the test's own AES-GCM is wrong (key of %d bytes)" % len(key))
        if gcm_open(key, got) != pt or gcm_open(key, got[:-1] + bytes([got[-1] ^ 1])) is not None:
            raise AssertionError("the test's own AES-GCM open is wrong")


_self_check_aes_gcm()


def b64url(data):
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text):
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def provisioning(content, fmt="generic"):
    return {"format": fmt, "content": content}


def sealed_payload(key, plaintext):
    typ = {16: "AEAD_AES_128_GCM", 32: "AEAD_AES_256_GCM"}[len(key)]
    return {"type": typ, "data": base64.b64encode(gcm_seal(key, plaintext)).decode("ascii")}


def open_payload(key, payload, what):
    """Decrypt a stored payload with the share secret; returns the plaintext bytes."""
    want_type = {16: "AEAD_AES_128_GCM", 32: "AEAD_AES_256_GCM"}[len(key)]
    assert payload.get("type") == want_type, "%s: payload type %r, expected %r for a %d-byte secret" % (
        what, payload.get("type"), want_type, len(key))
    try:
        blob = base64.b64decode(payload["data"], validate=True)
    except (ValueError, KeyError, TypeError) as e:
        raise AssertionError("%s: payload data is not standard base64 (%s): %r" % (what, e, payload))
    pt = gcm_open(key, blob)
    assert pt is not None, (
        "%s: the stored payload does not decrypt with the share secret as AES-GCM "
        "(IV 12 bytes ‖ ciphertext ‖ 16-byte tag, no associated data); %d bytes" % (what, len(blob)))
    return pt


def parse_json_text(text, what):
    try:
        return json.loads(text)
    except ValueError as e:
        raise AssertionError("%s is not JSON (%s): %r" % (what, e, tail(text, 400)))


# -------------------------------------------------------------------- devices

class Workdir:
    """A private temporary directory for one test."""

    def __enter__(self):
        self.path = tempfile.mkdtemp(prefix="relay-client-")
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False

    def file(self, name, content=None):
        p = os.path.join(self.path, name)
        os.makedirs(os.path.dirname(p), exist_ok=True)
        if content is not None:
            with open(p, "wb") as f:
                f.write(content.encode("utf-8") if isinstance(content, str) else content)
        return p


class Result:
    def __init__(self, argv, rc, out, err):
        self.argv, self.rc, self.out, self.err = argv, rc, out, err

    def __str__(self):
        return "`relay %s` -> exit %s; stdout %r; stderr %r" % (
            " ".join(self.argv[1:]), self.rc, tail(self.out, 600), tail(self.err, 600))

    def ok(self, what):
        if self.rc != 0:
            raise AssertionError("%s: expected exit status 0: %s" % (what, self))
        return self

    def silent_ok(self, what):
        self.ok(what)
        assert self.out == "" and self.err == "", "%s: expected no output on success: %s" % (what, self)
        return self

    def fails(self, code, what, *words):
        """Exit status `code`, nothing on stdout, exactly one stderr line starting
        'relay: ' that contains each of words (a tuple there means any of)."""
        problems = []
        if self.rc != code:
            problems.append("exit status %s, expected %d" % (self.rc, code))
        if self.out:
            problems.append("something was printed on stdout")
        lines = self.err.splitlines()
        if len(lines) != 1:
            problems.append("%d lines on stderr, expected exactly one" % len(lines))
        elif not lines[0].startswith("relay: "):
            problems.append("the stderr line does not start with 'relay: '")
        else:
            low = lines[0].lower()
            for w in words:
                alts = w if isinstance(w, tuple) else (w,)
                if not any(a.lower() in low for a in alts):
                    problems.append("the stderr line does not contain %s" % " or ".join(map(repr, alts)))
        if problems:
            raise AssertionError("%s: %s: %s" % (what, "; ".join(problems), self))
        return self


class Client:
    """One device: the client binary with its own state file. Every command
    gets --state (unless state=None) and, for a TLS relay, --cacert with the
    relay's dev certificate. HOME and XDG_STATE_HOME point into the test's
    directory so that nothing can ever touch the real user's state."""

    def __init__(self, work, name, relay=None, cacert="auto", state="auto", relay_url=None):
        self.name = name
        self.dir = os.path.join(work.path, name)
        self.state = os.path.join(self.dir, "state", "state.json") if state == "auto" else state
        if cacert == "auto":
            cacert = relay.cacert if relay is not None and relay.tls else None
        self.cacert = cacert
        if relay_url is None and relay is not None:
            relay_url = "%s://localhost:%d" % ("https" if relay.tls else "http", relay.port)
        self.relay_url = relay_url
        self.env = dict(os.environ)
        for k in ("RELAY_URL", "SSL_CERT_FILE", "SSL_CERT_DIR", "CURL_CA_BUNDLE"):
            self.env.pop(k, None)
        self.env["HOME"] = os.path.join(self.dir, "home")
        self.env["XDG_STATE_HOME"] = os.path.join(self.dir, "xdg")
        self.check_state = True

    def argv(self, sub, *args, cacert="auto", state="auto"):
        cmd = [RELAY_BIN, sub]
        state = self.state if state == "auto" else state
        if state is not None:
            cmd += ["--state", state]
        cacert = self.cacert if cacert == "auto" else cacert
        if cacert is not None:
            cmd += ["--cacert", cacert]
        return cmd + [str(a) for a in args]

    def run(self, sub, *args, stdin=None, env=None, cacert="auto", state="auto",
            timeout_s=CLIENT_TIMEOUT_S):
        argv = self.argv(sub, *args, cacert=cacert, state=state)
        data = stdin.encode("utf-8") if isinstance(stdin, str) else stdin
        proc = subprocess.Popen(argv, stdin=subprocess.PIPE if data is not None else subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=env if env is not None else self.env)
        try:
            out, err = proc.communicate(data, timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            out, err = proc.communicate()
            raise AssertionError("`relay %s` still running after %.0f s; stdout %r; stderr %r" % (
                " ".join(argv[1:]), timeout_s, tail(out.decode("utf-8", "replace")),
                tail(err.decode("utf-8", "replace"))))
        res = Result(argv, proc.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace"))
        if self.check_state and state == "auto" and self.state and os.path.exists(self.state):
            check_state_file(self.state, "after %s" % res)
        return res

    # -- the commands

    def send(self, content=None, *opts, relay_url="default", stdin_text=None, file=None):
        """send content (a JSON object) on stdin, or from file= when given."""
        url = self.relay_url if relay_url == "default" else relay_url
        args = list(opts)
        if url is not None:
            args = ["--relay", url] + args
        if file is not None:
            return self.run("send", *(args + [file]))
        text = stdin_text if stdin_text is not None else json.dumps(content)
        return self.run("send", *args, stdin=text)

    def receive(self, url, *opts):
        return self.run("receive", *(list(opts) + [url]))

    def reply(self, url, content, *opts):
        return self.run("reply", *(list(opts) + [url]), stdin=json.dumps(content))

    def delete(self, url):
        return self.run("delete", url)

    def relinquish(self, url):
        return self.run("relinquish", url)

    def preview(self, url):
        return self.run("preview", url)

    def watch(self, url):
        return Watch(self, url)

    def received(self, url, expected, what, *opts):
        """receive, expect exit 0 and exactly `expected` (a Provisioning
        Information object) as JSON on one newline-terminated stdout."""
        res = self.receive(url, *opts).ok(what)
        assert res.out.endswith("\n"), "%s: stdout does not end in a newline: %s" % (what, res)
        got = parse_json_text(res.out, "%s: stdout" % what)
        assert got == expected, "%s: printed %r, expected %r" % (what, got, expected)
        return res

    def state_json(self):
        return check_state_file(self.state, "state of %s" % self.name)


class Watch:
    """`relay watch URL` running in the background."""

    def __init__(self, client, url):
        self.argv = client.argv("watch", url)
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=client.env)
        self.stdout = Output(self.proc.stdout)
        self.stderr = Output(self.proc.stderr)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def describe(self):
        return "`relay %s` (%s); stdout %r; stderr %r" % (
            " ".join(self.argv[1:]), "running" if self.proc.poll() is None else
            "exit %s" % self.proc.returncode, self.stdout.lines(), tail(self.stderr.text(), 600))

    def lines(self):
        return self.stdout.lines()

    def wait_lines(self, n, what, timeout_s=WATCH_LINE_TIMEOUT_S):
        if not self.stdout.wait_for(lambda ls: len(ls) >= n, timeout_s):
            raise AssertionError("%s: watch printed %d line(s) within %.0f s, expected %d: %s" % (
                what, len(self.lines()), timeout_s, n, self.describe()))
        return self.lines()

    def wait_exit(self, what, timeout_s=WATCH_LINE_TIMEOUT_S):
        try:
            rc = self.proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            raise AssertionError("%s: watch still running after %.0f s: %s" % (what, timeout_s, self.describe()))
        self.stdout.join()
        self.stderr.join()
        return rc

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.stdout.join()
        self.stderr.join()


# ------------------------------------------------------------ share URLs, state

class Share:
    def __init__(self, url, m):
        self.url = url
        self.link = m.group("link")
        self.base = m.group("base")
        self.id = m.group("id")
        self.vertical = m.group("v")
        self.fragment = m.group("frag")
        self.secret = b64url_decode(self.fragment)

    def with_fragment(self, frag):
        return "%s?v=%s#%s" % (self.link, self.vertical, frag)


def parse_share(res, base, key_len=16, vertical="a"):
    """The one stdout line of a successful send, checked against the contract."""
    lines = res.out.splitlines()
    assert len(lines) == 1, "send must print exactly one line (the share URL): %s" % res
    url = lines[0]
    m = SHARE_RE.match(url)
    assert m, "share URL %r is not <urlLink>?v=<vertical>#<secret>: %s" % (url, res)
    assert m.group("base") == base, "share URL %r does not start with the relay's public URL %r" % (url, base)
    assert MAILBOX_ID_RE.match(m.group("id")), "share URL %r: %r is not a mailbox id" % (url, m.group("id"))
    assert m.group("v") == vertical, "share URL %r: v=%r, expected %r" % (url, m.group("v"), vertical)
    frag = m.group("frag")
    want_len = {16: 22, 32: 43}[key_len]
    assert BASE64URL_RE.match(frag) and len(frag) == want_len, (
        "share URL %r: the secret must be %d characters of unpadded base64url (%d bytes), got %r"
        % (url, want_len, key_len, frag))
    share = Share(url, m)
    assert len(share.secret) == key_len and b64url(share.secret) == frag, \
        "share URL %r: fragment is not the canonical base64url of %d bytes" % (url, key_len)
    return share


def check_state_file(path, what):
    """The state file must always be a whole JSON document with mode 0600."""
    with open(path, "rb") as f:
        raw = f.read()
    try:
        data = json.loads(raw.decode("utf-8"))
    except ValueError as e:
        raise AssertionError("state file %s is not valid JSON (%s) %s: %r" % (path, e, what, raw[:300]))
    mode = stat.S_IMODE(os.stat(path).st_mode)
    assert mode == 0o600, "state file %s has mode %o, expected 600 (%s)" % (path, mode, what)
    return data


def claim_candidates(state_path, mailbox_id):
    """UUIDs in the state file that may be this device's claim for the
    mailbox: those in the entries that mention the mailbox first, then any
    other UUID in the file. The format of the file is the client's own; the
    relay decides which candidate is the claim (see find_claim)."""
    with open(state_path, encoding="utf-8") as f:
        data = json.load(f)
    mailbox_id = mailbox_id.lower()
    near, everywhere = [], []

    def uuids(node, out):
        if isinstance(node, dict):
            for k, v in node.items():
                out += UUID_RE.findall(k)
                uuids(v, out)
        elif isinstance(node, list):
            for v in node:
                uuids(v, out)
        elif isinstance(node, str):
            out += UUID_RE.findall(node)

    def walk(node):
        if isinstance(node, dict):
            for k, v in node.items():
                if mailbox_id in k.lower():
                    uuids(v, near)
                elif isinstance(v, str) and mailbox_id in v.lower():
                    uuids(node, near)
                walk(v)
        elif isinstance(node, list):
            for v in node:
                walk(v)

    walk(data)
    uuids(data, everywhere)
    out = []
    for u in near + everywhere:
        u = u.lower()
        if u != mailbox_id and u not in out:
            out.append(u)
    return out


def find_claim(state_path, mailbox_id, attempt, what):
    """The candidate claim for which attempt(claim) answers 200, and that
    response. attempt must have no effect for a wrong claim (a read once a
    Receiver is bound, or an update, which never binds)."""
    cands = claim_candidates(state_path, mailbox_id)
    seen = []
    for c in cands:
        resp = attempt(c)
        if resp.status == 200:
            return c, resp
        seen.append(resp.status)
    raise AssertionError("%s: none of the UUIDs in the state file %s (%r) is accepted by the relay as "
                         "this device's claim for mailbox %s (statuses %r)" % (
                             what, state_path, cands, mailbox_id, seen))


def stored(relay, state_path, mailbox_id, what):
    """(claim, body) read with the claim found in state_path. Only once a
    Receiver is bound (a wrong candidate then gets 401 and binds nothing)."""
    claim, resp = find_claim(state_path, mailbox_id, lambda c: read(relay, mailbox_id, c), what)
    return claim, expect_json(resp, 200, what)


def base_url(relay):
    return "https://localhost:%d" % relay.port


# ---------------------------------------------------------------------- proxy

def parse_http_messages(data, responses=False):
    """The complete HTTP/1.1 messages at the start of data: a list of
    (first line, [(lower-case name, value)], body)."""
    out, i = [], 0
    while True:
        end = data.find(b"\r\n\r\n", i)
        if end < 0:
            return out
        lines = data[i:end].decode("latin-1").split("\r\n")
        headers = []
        for line in lines[1:]:
            n, _, v = line.partition(":")
            headers.append((n.strip().lower(), v.strip()))
        h = dict(headers)
        pos = end + 4
        body = b""
        status = lines[0].split(" ")[1] if responses and " " in lines[0] else ""
        if responses and (status.startswith("1") or status in ("204", "304")):
            pass
        elif "chunked" in h.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                eol = data.find(b"\r\n", pos)
                if eol < 0:
                    return out
                size = int(data[pos:eol].split(b";")[0], 16)
                pos = eol + 2
                if size == 0:
                    trailer_end = data.find(b"\r\n\r\n", pos - 2)
                    if trailer_end < 0:
                        return out
                    pos = trailer_end + 4
                    break
                if len(data) < pos + size + 2:
                    return out
                body += data[pos:pos + size]
                pos += size + 2
            body = bytes(body)
        elif "content-length" in h:
            n = int(h["content-length"])
            if len(data) < pos + n:
                return out
            body = data[pos:pos + n]
            pos += n
        out.append((lines[0], headers, body))
        i = pos


class ProxyConn:
    def __init__(self, index, peer, drop):
        self.index = index
        self.peer = peer
        self.drop = drop            # lose the first response on this connection
        self.cut = False            # ...and it was lost
        self.c2s = bytearray()      # every byte the client sent
        self.s2c = bytearray()      # every byte the relay sent
        self._tls_buf = bytearray()
        self.tls_app_records = []   # lengths of client application-data records

    def request_sent(self, tls):
        """True once the client has sent a whole request: over TLS, an
        application-data record big enough to be an HTTP request (TLS 1.2
        sends the Finished message as a handshake record; a TLS 1.3 Finished
        is 53-69 bytes); in plain HTTP, a complete parsed request."""
        if tls:
            return any(n > 100 for n in self.tls_app_records)
        return bool(parse_http_messages(bytes(self.c2s)))

    def feed_client(self, data):
        self.c2s += data
        self._tls_buf += data
        while len(self._tls_buf) >= 5:
            n = int.from_bytes(self._tls_buf[3:5], "big")
            if len(self._tls_buf) < 5 + n:
                break
            if self._tls_buf[0] == 0x17:
                self.tls_app_records.append(n)
            del self._tls_buf[:5 + n]

    def requests(self):
        return parse_http_messages(bytes(self.c2s))

    def responses(self):
        return parse_http_messages(bytes(self.s2c), responses=True)


class Proxy:
    """A TCP proxy on 127.0.0.1 that records both directions and forwards
    bytes unchanged (so TLS passes through end to end). When drop_next > 0,
    the next connections accepted lose their first response: the relay's
    answer is swallowed and the client's side closed, while the relay's side
    stays open so that the relay surely handles the whole request."""

    def __init__(self, tls):
        self.tls = tls
        self.drop_next = 0
        self.conns = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = []
        self._lsock = socket.socket()
        self._lsock.bind(("127.0.0.1", 0))
        self._lsock.listen(64)
        self.port = self._lsock.getsockname()[1]
        self.target = None
        self._accepter = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
        return False

    def start(self, port, host="127.0.0.1"):
        self.target = (host, port)
        self._accepter = threading.Thread(target=self._accept_loop, daemon=True)
        self._accepter.start()

    def close(self):
        self._stop.set()
        try:
            self._lsock.close()
        except OSError:
            pass
        for t in [self._accepter] + self._threads:
            if t is not None:
                t.join(5)

    def _accept_loop(self):
        self._lsock.settimeout(0.1)
        while not self._stop.is_set():
            try:
                csock, peer = self._lsock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            with self._lock:
                drop = self.drop_next > 0
                if drop:
                    self.drop_next -= 1
                pc = ProxyConn(len(self.conns), peer, drop)
                self.conns.append(pc)
            t = threading.Thread(target=self._serve, args=(pc, csock), daemon=True)
            self._threads.append(t)
            t.start()

    def settle(self, timeout_s=5.0):
        """The connections accepted so far: connects once more and waits until
        that connection is accepted, so none is left waiting in the backlog."""
        marker = socket.create_connection(("127.0.0.1", self.port), timeout=timeout_s)
        try:
            me = marker.getsockname()
            wait_until(lambda: any(c.peer == me for c in list(self.conns)), timeout_s,
                       "the proxy to accept its marker connection")
            with self._lock:
                return [c for c in self.conns if c.peer != me and not getattr(c, "marker", False)]
        finally:
            for c in self.conns:
                if c.peer == me:
                    c.marker = True
            marker.close()

    @staticmethod
    def _recv(sock):
        try:
            return sock.recv(65536)
        except OSError:
            return b""

    def _serve(self, pc, csock):
        try:
            ssock = socket.create_connection(self.target, timeout=5)
        except OSError:
            csock.close()
            return
        sel = selectors.DefaultSelector()
        sel.register(csock, selectors.EVENT_READ, "c")
        sel.register(ssock, selectors.EVENT_READ, "s")
        client_open = server_open = True
        try:
            while (client_open or server_open) and not self._stop.is_set():
                for key, _ in sel.select(0.1):
                    if key.data == "c" and client_open:
                        data = self._recv(csock)
                        if not data:
                            client_open = False
                            sel.unregister(csock)
                            try:
                                ssock.shutdown(socket.SHUT_WR)
                            except OSError:
                                pass
                            continue
                        pc.feed_client(data)
                        try:
                            ssock.sendall(data)
                        except OSError:
                            pass
                    elif key.data == "s" and server_open:
                        data = self._recv(ssock)
                        if not data:
                            server_open = False
                            sel.unregister(ssock)
                            if client_open:
                                client_open = False
                                sel.unregister(csock)
                                csock.close()
                            continue
                        pc.s2c += data
                        if pc.cut:
                            continue
                        if pc.drop and client_open and pc.request_sent(self.tls):
                            # Forward what the client has already written, then
                            # lose the response: close the client's side only.
                            csock.setblocking(False)
                            while True:
                                try:
                                    more = csock.recv(65536)
                                except OSError:
                                    break
                                if not more:
                                    break
                                pc.feed_client(more)
                                try:
                                    ssock.sendall(more)
                                except OSError:
                                    break
                            pc.cut = True
                            client_open = False
                            sel.unregister(csock)
                            csock.close()
                            continue
                        if client_open:
                            try:
                                csock.sendall(data)
                            except OSError:
                                pass
        finally:
            sel.close()
            for s in (csock, ssock):
                try:
                    s.close()
                except OSError:
                    pass

    def client_bytes(self):
        return b"".join(bytes(c.c2s) for c in list(self.conns))

    def requests(self):
        out = []
        for c in list(self.conns):
            out += [(c.index,) + r for r in c.requests()]
        return out


def header(headers, name):
    for n, v in headers:
        if n == name.lower():
            return v
    return None


def plain_setup(*relay_args):
    """A recording proxy and a --no-tls relay whose urlLinks point at it."""
    proxy = Proxy(tls=False)
    relay = Relay("--no-tls", "--public-url", "http://localhost:%d" % proxy.port, *relay_args, tls=False)
    try:
        relay.start()
    except BaseException:
        proxy.close()
        raise
    proxy.start(relay.port)
    return proxy, relay


# ====================================================================== tests

# 1 ----------------------------------------------------------- stateless flow

def test_stateless_flow_two_devices(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        content = {"door": "front", "pin": [1, 2, 3], "note": "häusle ✓"}
        t0 = time.time()
        share = parse_share(a.send(content).ok("A sends from stdin"), relay.public_url)
        res = b.received(share.url, provisioning(content), "B receives")
        # What the relay holds decrypts with the share secret to exactly what B printed.
        a_claim, body = stored(relay, a.state, share.id, "A reads its mailbox (B is bound)")
        pt = open_payload(share.secret, body["payload"], "payload created by send")
        assert res.out == pt.decode("utf-8") + "\n", \
            "B must print the decrypted plaintext and a newline: printed %r, plaintext %r" % (res.out, pt)
        assert body["displayInformation"] == {"title": DEFAULT_TITLE, "description": DEFAULT_DESCRIPTION,
                                              "imageURL": DEFAULT_IMAGE}, body["displayInformation"]
        # Neither --ttl nor --rights: no mailboxConfiguration, the relay's default lifetime.
        exp = parse_rfc3339(body["expiration"])
        assert t0 + RELAY_DEFAULT_TTL_S - 5 <= exp <= time.time() + RELAY_DEFAULT_TTL_S + 5, (
            "without --ttl/--rights the relay's default lifetime (2h here) should apply; "
            "expiration %s" % body["expiration"])
        # B reads again: same claim reused from its state (still bound, still allowed).
        b.received(share.url, provisioning(content), "B receives a second time")
        b_claim, _ = stored(relay, b.state, share.id, "B's claim from its state file")
        assert a_claim != b_claim, "A and B use the same claim %s" % a_claim
        # The relay never saw the secret.
        logs = relay.stdout.text() + relay.stderr.text()
        for form in (share.fragment, base64.b64encode(share.secret).decode()[:20], share.secret.hex()):
            assert form not in logs, "the secret %r appears in the relay's output" % form


def test_content_from_file_dash_and_stdin(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        content = {"from": "file", "n": 1}
        path = w.file("content.json", json.dumps(content))
        share = parse_share(a.send(None, file=path).ok("send FILE"), relay.public_url)
        b.received(share.url, provisioning(content), "receive what was sent from a file")
        content2 = {"from": "dash"}
        res = a.run("send", "--relay", a.relay_url, "-", stdin=json.dumps(content2)).ok("send -")
        share2 = parse_share(res, relay.public_url)
        assert share2.id != share.id and share2.secret != share.secret, "two sends share a mailbox or secret"
        b.received(share2.url, provisioning(content2), "receive what was sent from '-'")


def test_fragment_never_sent_and_request_ids_fresh():
    """Over plain HTTP through a recording proxy: the secret never leaves the
    device, the wire format is the contract's, every request has its own
    Mailbox-Request-ID, and B reuses its claim."""
    proxy, relay = plain_setup()
    try:
        with Workdir() as w:
            base = "http://localhost:%d" % proxy.port
            a = Client(w, "A", relay, relay_url=base)
            b = Client(w, "B", relay, relay_url=base)
            content = {"secret-test": True, "x": "y"}
            t0 = time.time()
            share = parse_share(a.send(content, "--rights", "RWD").ok("A sends over http://"), base)
            t1 = time.time()
            first = b.received(share.url, provisioning(content), "B receives over http://")
            b.received(share.url, provisioning(content), "B receives again")
            answer = {"reply": "from B"}
            b.reply(share.url, answer).ok("B replies")
            a.received(share.url, provisioning(answer), "A receives B's reply")
            a.preview(share.url).ok("A previews the share URL")
            b.delete(share.url).silent_ok("B deletes")

            conns = proxy.settle()
            wire = b"".join(bytes(c.c2s) for c in conns)
            for form, what in ((share.fragment.encode(), "base64url"),
                               (base64.b64encode(share.secret)[:20], "base64"),
                               (share.secret.hex().encode(), "hex"), (share.secret, "raw")):
                assert form not in wire, "the secret (%s) was sent to the relay" % what
            reqs = [r for c in conns for r in c.requests()]
            assert len(reqs) >= 7, "expected at least 7 requests on the wire, saw %r" % [r[0] for r in reqs]
            for line, _, _ in reqs:
                assert "#" not in line, "request line carries a fragment: %r" % line
            ids = [header(h, "mailbox-request-id") for _, h, _ in reqs]
            assert all(ids), "a request without Mailbox-Request-ID: %r" % list(zip([r[0] for r in reqs], ids))
            assert len(set(ids)) == len(ids), "Mailbox-Request-IDs are reused: %r" % ids

            def target(r):
                return r[0].split(" ")[1].split("?")[0]

            def by(method):
                return [r for r in reqs if r[0].split(" ")[0] == method]

            def claim_of(r):
                return (header(r[1], "mailbox-device-claim") or "").lower()

            creates = [r for r in by("POST") if target(r) == "/v1/m"]
            assert len(creates) == 1, "expected one create, saw %r" % [r[0] for r in reqs]
            _, ch, cbody = creates[0]
            created = parse_json_text(cbody.decode("utf-8"), "create body")
            a_claim = claim_of(creates[0])
            assert UUID_RE.fullmatch(a_claim), "create claim %r" % a_claim
            pt = open_payload(share.secret, created["payload"], "create payload on the wire")
            assert json.loads(pt) == provisioning(content), pt
            assert created["displayInformation"] == {"title": DEFAULT_TITLE, "description": DEFAULT_DESCRIPTION,
                                                     "imageURL": DEFAULT_IMAGE}, created
            cfg = created.get("mailboxConfiguration")
            assert isinstance(cfg, dict) and cfg.get("accessRights") == "RWD", created
            exp = parse_rfc3339(cfg["expiration"])
            assert t0 + 86400 - 2 <= exp <= t1 + 86400 + 2, "--rights alone: expiration should be now+24h: %r" % cfg
            assert first.out == pt.decode("utf-8") + "\n", "B printed %r, plaintext %r" % (first.out, pt)

            path = "/v1/m/%s" % share.id
            reads = [r for r in by("POST") if target(r) == path]
            b_reads = [r for r in reads if claim_of(r) != a_claim]
            assert len(b_reads) == 2, "expected B's two reads, saw %r" % [(r[0], r[1]) for r in reads]
            b_claims = {claim_of(r) for r in b_reads}
            assert len(b_claims) == 1, "B used different claims for its two reads: %r" % b_claims
            b_claim = b_claims.pop()
            assert UUID_RE.fullmatch(b_claim), "B's claim %r" % b_claim
            a_reads = [r for r in reads if claim_of(r) == a_claim]
            assert len(a_reads) == 1, "A's receive: %r" % [(r[0], r[1]) for r in a_reads]
            puts = by("PUT")
            assert len(puts) == 1 and target(puts[0]) == path, [r[0] for r in puts]
            assert claim_of(puts[0]) == b_claim, "B replied with another claim"
            put_body = parse_json_text(puts[0][2].decode("utf-8"), "update body")
            reply_blob = base64.b64decode(put_body["payload"]["data"])
            assert reply_blob[:12] != base64.b64decode(created["payload"]["data"])[:12], "IV reused"
            assert json.loads(open_payload(share.secret, put_body["payload"], "reply payload")) == \
                provisioning(answer)
            gets = by("GET")
            assert gets and all(target(g) == path for g in gets), "preview: %r" % [g[0] for g in gets]
            dels = by("DELETE")
            assert len(dels) == 1 and claim_of(dels[0]) == b_claim, [d[0] for d in dels]
            assert len(reqs) == len(creates) + len(reads) + len(puts) + len(gets) + len(dels), \
                "unexpected requests: %r" % [r[0] for r in reqs]
    finally:
        try:
            relay.stop()
        finally:
            proxy.close()


def test_send_options_on_the_wire():
    """--ttl, --rights, --title, --description, --image, --vertical, --format
    and --aes-256 as they reach the relay."""
    proxy, relay = plain_setup()
    try:
        with Workdir() as w:
            base = "http://localhost:%d" % proxy.port
            a = Client(w, "A", relay, relay_url=base)
            b = Client(w, "B", relay, relay_url=base)
            cases = [
                ([], 16, "a", None),
                (["--ttl", "1h"], 16, "a", ("RD", 3600)),
                (["--rights", "R", "--ttl", "90m"], 16, "a", ("R", 5400)),
                (["--rights", "RWD"], 16, "a", ("RWD", 86400)),
                (["--vertical", "h", "--format", "com.example.home", "--aes-256",
                  "--title", "Home", "--description", "Front door", "--image",
                  "https://img.example/h.png"], 32, "h", None),
                (["--vertical", "c"], 16, "c", None),
            ]
            for i, (opts, key_len, vertical, cfg) in enumerate(cases):
                what = "send %s" % " ".join(opts)
                before = len(proxy.requests())
                t0 = time.time()
                share = parse_share(a.send({"case": i}, *opts).ok(what), base, key_len, vertical)
                t1 = time.time()
                wait_until(lambda: len(proxy.requests()) > before, 5, "the create of %s on the wire" % what)
                line, _, body = proxy.requests()[before][1:]
                assert line.startswith("POST /v1/m "), "%s: first request %r" % (what, line)
                created = json.loads(body)
                fmt = "com.example.home" if "--format" in opts else "generic"
                assert json.loads(open_payload(share.secret, created["payload"], what)) == \
                    provisioning({"case": i}, fmt), what
                if "--title" in opts:
                    assert created["displayInformation"] == {
                        "title": "Home", "description": "Front door", "imageURL": "https://img.example/h.png"}, \
                        "%s: %r" % (what, created["displayInformation"])
                got = created.get("mailboxConfiguration")
                if cfg is None:
                    assert got is None, "%s: mailboxConfiguration sent without --ttl/--rights: %r" % (what, got)
                else:
                    rights, ttl = cfg
                    assert isinstance(got, dict), "%s: no mailboxConfiguration: %r" % (what, created)
                    assert got.get("accessRights", "RD") == rights, "%s: accessRights %r" % (what, got)
                    exp = parse_rfc3339(got["expiration"])
                    assert t0 + ttl - 2 <= exp <= t1 + ttl + 2, "%s: expiration %r, expected now+%ds" % (
                        what, got["expiration"], ttl)
                b.received(share.url, provisioning({"case": i}, fmt), "B receives (%s)" % what)
    finally:
        try:
            relay.stop()
        finally:
            proxy.close()


# 2 ------------------------------------------------------------ stateful flow

def test_stateful_three_round_trips_then_delete(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        msgs = [{"round": i, "tag": os.urandom(4).hex()} for i in range(6)]
        share = parse_share(a.send(msgs[0], "--rights", "RWD").ok("A sends"), relay.public_url)
        bare = share.link
        b.received(share.url, provisioning(msgs[0]), "B receives A's first message")
        b.reply(share.url, msgs[1]).ok("B replies (round 1)")
        a.received(share.url, provisioning(msgs[1]), "A receives B's reply (round 1)")
        a.reply(bare, msgs[2]).ok("A replies with the bare mailbox URL (round 2)")
        b.received(share.url, provisioning(msgs[2]), "B receives A's reply (round 2)")
        path = w.file("b3.json", json.dumps(msgs[3]))
        b.run("reply", share.url, path).ok("B replies from a file (round 2)")
        a.received(share.url, provisioning(msgs[3]), "A receives (round 2)")
        a.run("reply", "--format", "custom.v2", bare, "-", stdin=json.dumps(msgs[4])).ok(
            "A replies with --format from '-' (round 3)")
        b.received(share.url, provisioning(msgs[4], "custom.v2"), "B receives (round 3)")
        b.reply(share.url, msgs[5]).ok("B replies (round 3)")
        a.received(bare, provisioning(msgs[5]), "A receives with the bare URL of a mailbox it knows")
        a.delete(share.url).silent_ok("A deletes")
        b.receive(share.url).fails(6, "B receives after A deleted", ("deleted", "expired"))
        a.receive(share.url).fails(6, "A receives its deleted mailbox", ("deleted", "expired"))


def test_reply_over_a_message_not_yet_read_sends_nothing_exit_10(relay):
    """reply writes only over the version this device last saw (If-Match):
    when the other side wrote first, nothing is stored, the message says
    what to do, and the exit status is 10."""
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        share = parse_share(a.send({"start": 0}, "--rights", "RWD").ok("A sends"), relay.public_url)
        b.received(share.url, provisioning({"start": 0}), "B receives")
        first = {"from": "B", "first": True}
        b.reply(share.url, first).ok("B replies")
        a.reply(share.url, {"from": "A", "blind": True}).fails(
            10, "A replies without having read B's reply", ("wrote", "first"))
        b.received(share.url, provisioning(first), "B reads back its own reply: A's was not stored")
        a.received(share.url, provisioning(first), "A reads B's reply")
        a.reply(share.url, {"from": "A", "informed": True}).ok("A replies over what it read")


def test_share_link_with_an_upper_case_id_is_the_same_mailbox(relay):
    """An app that rebuilt the link from a parsed UUID (iOS writes it in
    upper case) names the same mailbox, and this device keeps one entry."""
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        share = parse_share(a.send({"case": 1}, "--rights", "RWD").ok("A sends"), relay.public_url)
        upper = share.url.replace(share.id, share.id.upper())
        assert upper != share.url
        b.received(upper, provisioning({"case": 1}), "B receives through the upper-case link")
        b.reply(share.url, {"case": 2}).ok("B replies through the lower-case link, as the same device")
        a.received(upper, provisioning({"case": 2}), "A receives through the upper-case link")
        entries = json.dumps(b.state_json())
        assert share.id in entries and share.id.upper() not in entries, \
            "B's state keeps the mailbox by the relay's lower-case id: %s" % entries


def test_reply_and_watch_wait_from_the_etag_of_their_own_writes():
    """Over a recording proxy: a reply carries If-Match with the ETag this
    device last saw, and a watch started after it long-polls with the ETag
    that the reply's answer returned, so it is not woken by its own write."""
    proxy, relay = plain_setup()
    try:
        with Workdir() as w:
            base = "http://localhost:%d" % proxy.port
            a = Client(w, "A", relay, relay_url=base)
            b = Client(w, "B", relay, relay_url=base)
            share = parse_share(a.send({"start": 0}, "--rights", "RWD").ok("A sends"), base)
            b.received(share.url, provisioning({"start": 0}), "B receives")
            own = {"own": "A"}
            a.reply(share.url, own).ok("A replies")
            with a.watch(share.url) as watch:
                news = {"news": "B"}
                b.received(share.url, provisioning(own), "B receives A's reply")
                b.reply(share.url, news).ok("B replies")
                lines = watch.wait_lines(1, "after B's reply")
                assert [parse_json_text(l, "watch line") for l in lines] == [provisioning(news)], \
                    watch.describe()
                b.delete(share.url).silent_ok("B deletes")
                assert watch.wait_exit("after B deleted") == 0, watch.describe()
            conns = proxy.settle()
            pairs = [(q, r) for c in conns for q, r in zip(c.requests(), c.responses())]

            def claim(req):
                return (header(req[1], "mailbox-device-claim") or "").lower()

            def method(req):
                return req[0].split(" ")[0]

            create = [(q, r) for q, r in pairs if method(q) == "POST" and
                      q[0].split(" ")[1] == "/v1/m"]
            a_claim = claim(create[0][0])
            created_etag = header(create[0][1][1], "etag")
            assert created_etag, "the create answer carries no ETag: %r" % (create[0][1][0],)
            puts = [(q, r) for q, r in pairs if method(q) == "PUT" and claim(q) == a_claim]
            assert len(puts) == 1, "A's replies on the wire: %r" % [q[0] for q, _ in puts]
            assert header(puts[0][0][1], "if-match") == created_etag, \
                "A's reply must be conditional on the version A created: %r" % (puts[0][0][1],)
            reply_etag = header(puts[0][1][1], "etag")
            assert reply_etag, "the update answer carries no ETag"
            polls = [q for q, _ in pairs if method(q) == "POST" and claim(q) == a_claim and
                     header(q[1], "prefer")]
            assert polls, "A's watch sent no long-poll"
            assert header(polls[0][1], "if-none-match") == reply_etag, \
                "A's watch must wait from the ETag of A's own reply (%s), not %r" % (
                    reply_etag, header(polls[0][1], "if-none-match"))
    finally:
        relay.stop()
        proxy.close()


def test_relinquish_hands_over_to_another_device(relay):
    with Workdir() as w:
        a, b, c = Client(w, "A", relay), Client(w, "B", relay), Client(w, "C", relay)
        content = {"hand": "over"}
        share = parse_share(a.send(content).ok("A sends"), relay.public_url)
        b.received(share.url, provisioning(content), "B receives")
        c.receive(share.url).fails(7, "C before B relinquished", "bound to another device")
        b.relinquish(share.url).silent_ok("B relinquishes")
        c.received(share.url, provisioning(content), "C receives after B relinquished")
        b.receive(share.url).fails(7, "B after C took over", "bound to another device")


def test_receiver_deletes(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        share = parse_share(a.send({"k": 1}).ok("A sends"), relay.public_url)
        b.received(share.url, provisioning({"k": 1}), "B receives")
        b.delete(share.url).silent_ok("B deletes (default rights RD)")
        a.receive(share.url).fails(6, "A after B deleted", ("deleted", "expired"))


def test_second_delete_reports_deleted_exit_6(relay):
    """Deleting a mailbox that is already gone is 'mailbox not found: deleted
    or expired', whichever side deleted it first."""
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        share = parse_share(a.send({"k": 2}).ok("A sends"), relay.public_url)
        b.received(share.url, provisioning({"k": 2}), "B receives")
        a.delete(share.url).silent_ok("A deletes")
        b.delete(share.url).fails(6, "B deletes after A deleted", ("deleted", "expired"))
        a.delete(share.url).fails(6, "A deletes a second time", ("deleted", "expired"))


def test_mailbox_expiry_exit_6():
    # The relay's clock moves past the expiry (test_clock) instead of a sleep.
    with Relay(test_clock=0) as relay, Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        share = parse_share(a.send({"short": "lived"}, "--ttl", "30s").ok("A sends with --ttl 30s"),
                            relay.public_url)
        b.received(share.url, provisioning({"short": "lived"}), "B receives before the expiry")
        relay.advance_clock(31)
        b.receive(share.url).fails(6, "B receives an expired mailbox", ("deleted", "expired"))


# 3 --------------------------------------------------------------------- watch

def test_watch_prints_new_messages_and_exits_on_delete(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        share = parse_share(a.send({"start": 0}, "--rights", "RWD").ok("A sends"), relay.public_url)
        b.received(share.url, provisioning({"start": 0}), "B receives")
        with a.watch(share.url) as watch:
            m1, m2 = {"n": 1, "t": "one"}, {"n": 2, "t": "two"}
            b.reply(share.url, m1).ok("B replies 1")
            lines = watch.wait_lines(1, "after B's first reply")
            assert [parse_json_text(l, "watch line") for l in lines] == [provisioning(m1)], watch.describe()
            b.reply(share.url, m2).ok("B replies 2")
            lines = watch.wait_lines(2, "after B's second reply")
            assert [parse_json_text(l, "watch line") for l in lines] == [provisioning(m1), provisioning(m2)], \
                "watch must print exactly the two new messages in order: %s" % watch.describe()
            b.delete(share.url).silent_ok("B deletes")
            rc = watch.wait_exit("after B deleted the mailbox")
            assert rc == 0, "watch ended with %s after the mailbox was deleted: %s" % (rc, watch.describe())
            assert len(watch.lines()) == 2, "watch printed more than the two messages: %s" % watch.describe()


def test_watch_skips_messages_this_device_wrote_or_saw(relay):
    """What this device saw (receive) or wrote (send, reply) before watch
    started is in its state file and is not printed as new."""
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        share = parse_share(a.send({"start": 0}, "--rights", "RWD").ok("A sends"), relay.public_url)
        b.received(share.url, provisioning({"start": 0}), "B receives")
        seen = {"seen": "already"}
        b.reply(share.url, seen).ok("B replies")
        a.received(share.url, provisioning(seen), "A receives B's reply before watching")
        with a.watch(share.url) as watch:
            new = {"new": "from B"}
            b.reply(share.url, new).ok("B replies while A watches")
            lines = watch.wait_lines(1, "after B's reply")
            assert parse_json_text(lines[0], "watch line") == provisioning(new), (
                "the first line of watch must be B's new message, not the one A already received: %s"
                % watch.describe())
        own = {"own": "A wrote this"}
        a.reply(share.url, own).ok("A replies (no watch running)")
        with a.watch(share.url) as watch:
            new2 = {"new": "second from B"}
            b.received(share.url, provisioning(own), "B receives A's reply")
            b.reply(share.url, new2).ok("B replies while A watches again")
            lines = watch.wait_lines(1, "after B's second reply")
            assert parse_json_text(lines[0], "watch line") == provisioning(new2), (
                "the first line of the second watch must be B's new message, not A's own reply: %s"
                % watch.describe())
            a.delete(share.url).silent_ok("A deletes")
            rc = watch.wait_exit("after A deleted the mailbox")
            assert rc == 0 and len(watch.lines()) == 1, "watch: %s" % watch.describe()


def test_watch_skips_own_reply_made_while_watching(relay):
    """A reply from another process of the same device (same state file)
    while watch runs is this device's own message and is not printed."""
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        share = parse_share(a.send({"start": 0}, "--rights", "RWD").ok("A sends"), relay.public_url)
        b.received(share.url, provisioning({"start": 0}), "B receives")
        with a.watch(share.url) as watch:
            for i in range(3):
                own = {"own": i}
                a.reply(share.url, own).ok("A replies %d while its watch runs" % i)
                b.received(share.url, provisioning(own), "B receives A's reply %d" % i)
                new = {"new": i}
                b.reply(share.url, new).ok("B replies %d" % i)
                lines = watch.wait_lines(i + 1, "after B's reply %d" % i)
                got = [parse_json_text(l, "watch line") for l in lines]
                assert got == [provisioning({"new": j}) for j in range(i + 1)], (
                    "watch must print only B's messages, not A's own replies: %s" % watch.describe())
            b.delete(share.url).silent_ok("B deletes")
            assert watch.wait_exit("after B deleted") == 0, watch.describe()


def test_watch_exits_when_mailbox_expires():
    # Debug logs say when the watch's long-poll is parked; then the relay's
    # clock moves past the expiry (test_clock), within the poll's 60 s.
    with Relay("--log-level", "debug", test_clock=0) as relay, Workdir() as w:
        a = Client(w, "A", relay)
        share = parse_share(a.send({"e": 1}, "--ttl", "30s").ok("A sends with --ttl 30s"), relay.public_url)
        with a.watch(share.url) as watch:
            assert relay.stderr.wait_for(lambda ls: any("parked" in l for l in ls), 10), \
                "the watch's long-poll did not park: %s" % watch.describe()
            relay.advance_clock(31)
            rc = watch.wait_exit("mailbox expiry", timeout_s=10)
            assert rc == 0, "watch ended with %s when the mailbox expired: %s" % (rc, watch.describe())
            assert watch.lines() == [], "watch printed A's own message: %s" % watch.describe()


# 4 -------------------------------------------------------------- third device

def test_third_device_is_refused(relay):
    with Workdir() as w:
        a, b, c = Client(w, "A", relay), Client(w, "B", relay), Client(w, "C", relay)
        share = parse_share(a.send({"only": "B"}).ok("A sends"), relay.public_url)
        b.received(share.url, provisioning({"only": "B"}), "B receives")
        c.receive(share.url).fails(7, "C receives after B", "bound to another device")
        b.received(share.url, provisioning({"only": "B"}), "B still receives after C was refused")


# 5 ------------------------------------------------------------------ tampering

def test_tampered_payload_fails_decryption(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        share = parse_share(a.send({"genuine": True}).ok("A sends"), relay.public_url)
        # Before B ever reads: replace the payload with a valid AEAD payload under another key.
        forged_pt = json.dumps(provisioning({"forged": True})).encode()
        forged = sealed_payload(os.urandom(16), forged_pt)
        a_claim, _ = find_claim(a.state, share.id,
                                lambda c: call(relay, "PUT", "/v1/m/%s" % share.id, claim=c,
                                               body={"payload": forged}),
                                "replace A's payload with A's claim")
        b.receive(share.url).fails(1, "B receives a payload sealed with another key", "decryption failed")

        def put(payload, what):
            expect_json(call(relay, "PUT", "/v1/m/%s" % share.id, claim=a_claim, body={"payload": payload}),
                        200, what)

        # Control: a payload sealed here with the share secret is accepted, byte for byte.
        good_pt = b'{"format":"generic","content":{"sealed":"by the test"}}'
        good = sealed_payload(share.secret, good_pt)
        put(good, "put a payload sealed with the share secret")
        res = b.receive(share.url).ok("B receives a payload the test sealed with the secret")
        assert res.out == good_pt.decode() + "\n", "B printed %r, expected the plaintext %r" % (res.out, good_pt)
        blob = base64.b64decode(good["data"])
        variants = {
            "a flipped IV bit": blob[:3] + bytes([blob[3] ^ 0x10]) + blob[4:],
            "a flipped ciphertext bit": blob[:20] + bytes([blob[20] ^ 0x01]) + blob[21:],
            "a flipped tag bit": blob[:-1] + bytes([blob[-1] ^ 0x80]),
            "a truncated tag": blob[:-1],
            "IV and tag only": blob[:12] + blob[-16:],
        }
        for name, data in variants.items():
            put({"type": "AEAD_AES_128_GCM", "data": base64.b64encode(data).decode()}, name)
            b.receive(share.url).fails(1, "B receives a payload with %s" % name, "decryption failed")
        put(good, "put the good payload back")
        b.receive(share.url).ok("B receives the good payload again")


def test_wrong_secret_fails_decryption(relay):
    with Workdir() as w:
        a, c = Client(w, "A", relay), Client(w, "C", relay)
        share = parse_share(a.send({"k": "v"}).ok("A sends"), relay.public_url)
        wrong = bytearray(share.secret)
        wrong[5] ^= 0x41
        frag = b64url(bytes(wrong))
        assert len(frag) == 22 and frag != share.fragment
        c.receive(share.with_fragment(frag)).fails(1, "receive with a wrong secret", "decryption failed")


# 6 -------------------------------------------------------------- lost responses

def test_lost_create_response_retried_once_over_tls():
    with Relay("--max-mailboxes", "1") as relay, Proxy(tls=True) as proxy, Workdir() as w:
        proxy.start(relay.port)
        proxy.drop_next = 1
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        content = {"lost": "response"}
        res = a.send(content, relay_url="https://localhost:%d" % proxy.port)
        conns = proxy.settle()
        res.ok("send whose first response is lost (proxy: %d connection(s), cut %s)" % (
            len(conns), [c.cut for c in conns]))
        share = parse_share(res, relay.public_url)
        assert conns and conns[0].cut, "the proxy never saw the relay answer on the first connection"
        assert len(conns) == 2, "expected exactly 2 connections (the lost one and one retry), saw %d" % len(conns)
        expect_error(create(relay), 503, "store_full", "a new create: the store of 1 must be full")
        b.received(share.url, provisioning(content), "B receives the retried mailbox")


def test_lost_responses_retried_with_same_request_id_plain():
    proxy, relay = plain_setup("--max-mailboxes", "1")
    try:
        with Workdir() as w:
            base = "http://localhost:%d" % proxy.port
            a, b = Client(w, "A", relay, relay_url=base), Client(w, "B", relay, relay_url=base)
            proxy.drop_next = 1
            content = {"lost": "plain"}
            res = a.send(content, "--rights", "RWD")
            conns = proxy.settle()
            res.ok("send whose first response is lost")
            share = parse_share(res, base)
            assert len(conns) == 2 and conns[0].cut, "expected one lost and one retried connection: %d, cut %s" % (
                len(conns), [c.cut for c in conns])
            (l1, h1, b1), = conns[0].requests()
            (l2, h2, b2), = conns[1].requests()
            assert l1 == l2 and l1.startswith("POST /v1/m "), (l1, l2)
            for name in ("mailbox-request-id", "mailbox-device-claim"):
                assert header(h1, name) and header(h1, name) == header(h2, name), \
                    "the retry must repeat %s: %r vs %r" % (name, header(h1, name), header(h2, name))
            (s1, _, rb1), = conns[0].responses()
            (s2, _, rb2), = conns[1].responses()
            assert " 200 " in s1 + " " and " 201 " in s2 + " ", "relay answered %r then %r" % (s1, s2)
            assert json.loads(rb1)["urlLink"] == json.loads(rb2)["urlLink"] == share.link
            expect_error(create(relay), 503, "store_full", "only one mailbox exists")

            b.received(share.url, provisioning(content), "B receives")
            # A reply whose response is lost: retried with the same id, the relay
            # answers 201 and changes nothing; the client reports success.
            n = len(proxy.settle())
            proxy.drop_next = 1
            answer = {"reply": "lost once"}
            b.reply(share.url, answer).ok("B's reply whose first response is lost")
            conns = proxy.settle()[n:]
            assert len(conns) == 2 and conns[0].cut, "reply: %d connection(s), cut %s" % (
                len(conns), [c.cut for c in conns])
            puts = [r for c in conns for r in c.requests()]
            assert [p[0].split(" ")[0] for p in puts] == ["PUT", "PUT"], [p[0] for p in puts]
            assert header(puts[0][1], "mailbox-request-id") == header(puts[1][1], "mailbox-request-id")
            assert " 201 " in conns[1].responses()[0][0] + " ", conns[1].responses()
            a.received(share.url, provisioning(answer), "A receives the reply")
            # A read whose response is lost is simply read again.
            proxy.drop_next = 1
            a.received(share.url, provisioning(answer), "A's receive whose first response is lost")
    finally:
        try:
            relay.stop()
        finally:
            proxy.close()


def test_connection_lost_twice_exit_4():
    with Relay() as relay, Proxy(tls=True) as proxy, Workdir() as w:
        proxy.start(relay.port)
        proxy.drop_next = 100
        a = Client(w, "A", relay)
        res = a.send({"never": "answered"}, relay_url="https://localhost:%d" % proxy.port)
        conns = proxy.settle()
        res.fails(4, "send whose responses are lost twice")
        assert len(conns) == 2 and all(c.cut for c in conns), \
            "expected exactly two attempts, both cut: %d connection(s), cut %s" % (
                len(conns), [c.cut for c in conns])


# 7 ----------------------------------------------- URLs, reachability, certificates

def test_malformed_share_urls_exit_3(relay):
    with Workdir() as w:
        a, b, c = Client(w, "A", relay), Client(w, "B", relay), Client(w, "C", relay)
        share = parse_share(a.send({"m": 1}).ok("A sends"), relay.public_url)
        base = base_url(relay)
        good = share.fragment
        cases = {
            "no fragment, mailbox unknown to this device": share.link + "?v=a",
            "empty fragment": share.link + "?v=a#",
            "fragment not base64url": share.with_fragment(good[:20] + "$!"),
            "fragment in standard base64 alphabet": share.with_fragment(good[:20] + "+/"),
            "secret of 15 bytes": share.with_fragment(b64url(share.secret[:15])),
            "secret of 24 bytes": share.with_fragment(b64url(share.secret + share.secret[:8])),
            "path /v2/m/<id>": "%s/v2/m/%s?v=a#%s" % (base, share.id, good),
            "path /v1/x/<id>": "%s/v1/x/%s?v=a#%s" % (base, share.id, good),
            "path with an extra segment": "%s/v1/m/%s/x?v=a#%s" % (base, share.id, good),
            "id not a UUID": "%s/v1/m/not-a-mailbox?v=a#%s" % (base, good),
            "id without hyphens": "%s/v1/m/%s?v=a#%s" % (base, share.id.replace("-", ""), good),
            "not a URL": "not a url",
            "no scheme": "localhost:%d/v1/m/%s#%s" % (relay.port, share.id, good),
        }
        for name, url in cases.items():
            c.receive(url).fails(3, "receive with a malformed share URL (%s: %r)" % (name, url))
        for name in ("not a URL", "id not a UUID", "fragment not base64url"):
            c.run("reply", cases[name], stdin="{}").fails(3, "reply to %s" % name)
        # None of that bound C: B can still become the Receiver.
        b.received(share.url, provisioning({"m": 1}), "B receives after C's malformed attempts")


def test_reply_without_fragment_to_unknown_mailbox_exit_3(relay):
    """'no fragment for an unknown mailbox' is a malformed share URL (3) for
    reply as for receive: the bare URL is only enough when the state file
    already knows the mailbox."""
    with Workdir() as w:
        a, c = Client(w, "A", relay), Client(w, "C", relay)
        share = parse_share(a.send({"m": 2}, "--rights", "RWD").ok("A sends"), relay.public_url)
        c.receive(share.link + "?v=a").fails(3, "receive with no fragment, mailbox unknown to C")
        c.run("reply", share.link, stdin="{}").fails(3, "reply with the bare URL, mailbox unknown to C")
        c.run("reply", share.link + "?v=a", stdin="{}").fails(
            3, "reply with no fragment, mailbox unknown to C")


def test_unreachable_relay_exit_4():
    with Workdir() as w:
        port = free_port()
        a = Client(w, "A", cacert=None, relay_url="https://localhost:%d" % port)
        a.send({"x": 1}).fails(4, "send to a closed port")
        url = "https://localhost:%d/v1/m/%s?v=a#%s" % (port, "0b7e0a40-93a4-4b8e-9c55-35a0f6f3c1d2",
                                                       b64url(os.urandom(16)))
        a.receive(url).fails(4, "receive from a closed port")
        a.preview(url).fails(4, "preview from a closed port")


def test_untrusted_certificate_exit_5():
    with Relay() as relay, Relay() as other, Workdir() as w:
        a = Client(w, "A", relay, cacert=other.cacert)
        a.send({"x": 1}).fails(5, "send with another relay's certificate as CA")
        res = a.run("send", "--relay", base_url(relay), cacert=None, stdin='{"x": 1}')
        res.fails(5, "send trusting only the system CAs")
        good = Client(w, "G", relay)
        share = parse_share(good.send({"y": 2}).ok("send with the right CA"), relay.public_url)
        a.receive(share.url).fails(5, "receive with another relay's certificate as CA")
        good.received(share.url, provisioning({"y": 2}), "the mailbox was not bound by the refused receive")


def test_certificate_host_name_mismatch_exit_5():
    # The dev certificate names localhost, 127.0.0.1 and ::1 — not 127.0.0.2.
    with Relay(listen=["127.0.0.2:0"]) as relay, Workdir() as w:
        a = Client(w, "A", relay, relay_url="https://127.0.0.2:%d" % relay.port)
        a.send({"x": 1}).fails(5, "send to a host name the certificate does not name")


def test_insecure_accepts_any_certificate_and_warns():
    with Relay() as relay, Relay() as other, Workdir() as w:
        a = Client(w, "A", relay, cacert=None)
        res = a.run("send", "--relay", base_url(relay), "--cacert", other.cacert, "--insecure",
                    stdin='{"i": 1}', cacert=None)
        if "--cacert" in res.err and res.rc == 2:
            # --cacert and --insecure may be exclusive: then --insecure alone.
            res = a.run("send", "--relay", base_url(relay), "--insecure", stdin='{"i": 1}', cacert=None)
        res.ok("send --insecure to an untrusted relay")
        share = parse_share(res, relay.public_url)
        assert res.err.strip(), "--insecure must print a warning on stderr: %s" % res
        b = Client(w, "B", relay, cacert=None)
        res = b.run("receive", "--insecure", share.url, cacert=None).ok("receive --insecure")
        assert json.loads(res.out) == provisioning({"i": 1}), res
        assert res.err.strip(), "--insecure must print a warning on stderr: %s" % res


def test_relay_url_from_environment(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        env = dict(a.env, RELAY_URL=base_url(relay))
        res = a.run("send", stdin='{"env": true}', env=env).ok("send with RELAY_URL and no --relay")
        share = parse_share(res, relay.public_url)
        b.received(share.url, provisioning({"env": True}), "B receives")


def test_relay_refusals_exit_8():
    with Relay("--max-mailboxes", "1", "--max-body", "2k") as relay, Workdir() as w:
        a = Client(w, "A", relay)
        a.send({"big": "x" * 4000}).fails(8, "send of a body over --max-body", "413")
        parse_share(a.send({"small": 1}).ok("a small send"), relay.public_url)
        a.send({"second": 1}).fails(8, "send to a full store", "503")


# 8 ---------------------------------------------------------------- state file

def test_state_file_mode_directory_and_independence(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        assert not os.path.exists(os.path.dirname(a.state))
        share = parse_share(a.send({"s": 1}, "--rights", "RWD").ok("A sends"), relay.public_url)
        assert os.path.isfile(a.state), "send did not create the state file %s" % a.state
        check_state_file(a.state, "after send")
        assert not os.path.exists(b.state), "A's send wrote B's state file"
        with open(a.state, "rb") as f:
            a_bytes = f.read()
        b.received(share.url, provisioning({"s": 1}), "B receives")
        b.reply(share.url, {"s": 2}).ok("B replies")
        b.preview(share.url).ok("B previews")
        with open(a.state, "rb") as f:
            assert f.read() == a_bytes, "B's commands changed A's state file"
        check_state_file(b.state, "B after receive and reply")
        a_cands = claim_candidates(a.state, share.id)
        b_claim, _ = stored(relay, b.state, share.id, "B's claim")
        assert b_claim not in a_cands, "B's claim %s is in A's state file" % b_claim
        a_claim, _ = stored(relay, a.state, share.id, "A's claim")
        assert a_claim not in claim_candidates(b.state, share.id), "A's claim is in B's state file"


def test_state_default_locations(relay):
    with Workdir() as w:
        a = Client(w, "A", relay)
        xdg = os.path.join(w.path, "xdg-state")
        env = dict(a.env, XDG_STATE_HOME=xdg)
        res = a.run("send", "--relay", a.relay_url, stdin='{"d": 1}', env=env, state=None)
        res.ok("send without --state, XDG_STATE_HOME set")
        want = os.path.join(xdg, "relay", "state.json")
        assert os.path.isfile(want), "no state file at %s: %s" % (want, res)
        check_state_file(want, "default state under XDG_STATE_HOME")
        assert not os.path.exists(os.path.join(a.env["HOME"], ".local")), "wrote under HOME despite XDG_STATE_HOME"
        home = os.path.join(w.path, "home-only")
        env = dict(a.env, HOME=home)
        env.pop("XDG_STATE_HOME")
        res = a.run("send", "--relay", a.relay_url, stdin='{"d": 2}', env=env, state=None)
        res.ok("send without --state or XDG_STATE_HOME")
        want = os.path.join(home, ".local", "state", "relay", "state.json")
        assert os.path.isfile(want), "no state file at %s: %s" % (want, res)
        check_state_file(want, "default state under HOME")


def test_state_file_never_half_written(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        stop = threading.Event()
        bad, reads = [], [0]

        def reader():
            while not stop.is_set():
                for path in (a.state, b.state):
                    try:
                        with open(path, "rb") as f:
                            raw = f.read()
                    except (FileNotFoundError, IsADirectoryError):
                        continue
                    reads[0] += 1
                    try:
                        json.loads(raw.decode("utf-8"))
                    except ValueError:
                        bad.append(raw[:200])

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        try:
            for i in range(4):
                share = parse_share(a.send({"i": i, "pad": "p" * 2000}, "--rights", "RWD").ok("send %d" % i),
                                    relay.public_url)
                b.received(share.url, provisioning({"i": i, "pad": "p" * 2000}), "receive %d" % i)
                b.reply(share.url, {"r": i}).ok("reply %d" % i)
                a.received(share.url, provisioning({"r": i}), "A receives %d" % i)
        finally:
            stop.set()
            t.join(5)
        assert reads[0] > 0, "the reader never saw a state file"
        assert not bad, "a concurrent reader saw a state file that is not whole JSON %d time(s) of %d: %r" % (
            len(bad), reads[0], bad[:3])


def test_unusable_state_file_exit_9(relay):
    with Workdir() as w:
        a = Client(w, "A", relay)
        a.check_state = False
        blocker = w.file("a-file", "not a directory")
        garbage = w.file("garbage/state.json", "{ this is not json")
        os.chmod(garbage, 0o600)
        for state, what in ((os.path.join(blocker, "state.json"), "state path below a regular file"),
                            (os.path.dirname(w.file("dir-state/x")), "state path is a directory"),
                            (garbage, "state file not JSON")):
            res = a.run("send", "--relay", a.relay_url, stdin='{"x": 1}', state=state)
            # The contract does not say whether send may create the mailbox before
            # it finds the state unusable; if it printed a share URL, it is a whole one.
            if res.out:
                parse_share(res, relay.public_url)
                res.out = ""
            res.fails(9, "send with an unusable state file (%s)" % what)
        good = Client(w, "G", relay)
        share = parse_share(good.send({"y": 1}).ok("a good send"), relay.public_url)
        a.run("receive", share.url, state=garbage).fails(9, "receive with a state file that is not JSON")


def test_bad_content_exit_9_creates_nothing():
    with Relay("--max-mailboxes", "1") as relay, Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        files = {
            "a missing file": os.path.join(w.path, "missing.json"),
            "a directory": w.path,
            "an array": w.file("array.json", "[1, 2, 3]"),
            "a string": w.file("string.json", '"text"'),
            "a number": w.file("number.json", "42"),
            "null": w.file("null.json", "null"),
            "not JSON": w.file("bad.json", "{not json}"),
            "an empty file": w.file("empty.json", ""),
            "two objects": w.file("two.json", '{"a": 1} {"b": 2}'),
        }
        for name, path in files.items():
            a.send(None, file=path).fails(9, "send of %s" % name)
        a.send(None, stdin_text="[1]").fails(9, "send of an array on stdin")
        a.send(None, stdin_text="").fails(9, "send of empty stdin")
        share = parse_share(a.send({"ok": 1}, "--rights", "RWD").ok(
            "send after the refused ones (the store holds one mailbox)"), relay.public_url)
        b.received(share.url, provisioning({"ok": 1}), "B receives")
        b.run("reply", share.url, files["an array"]).fails(9, "reply with an array")
        b.run("reply", share.url, "-", stdin="nope").fails(9, "reply with non-JSON stdin")
        a.received(share.url, provisioning({"ok": 1}), "the refused replies changed nothing")


# 9 ------------------------------------------------------------- command line

SUBCOMMANDS = ("send", "receive", "reply", "watch", "delete", "relinquish", "preview", "help")


def test_help_lists_subcommands_and_exit_codes():
    rc, out, err = run_relay(["help"])
    assert rc == 0, "relay help: exit status %d; stdout %r; stderr %r" % (rc, tail(out), tail(err))
    for sub in SUBCOMMANDS:
        assert re.search(r"\b%s\b" % sub, out), "relay help does not list %r: %r" % (sub, tail(out))
    for code in range(10):
        pat = r"(?m)^(?=.*(?<![\w.-])%d(?![\w.%%])).*[A-Za-z]{3}" % code
        assert re.search(pat, out), "relay help does not list exit code %d: %r" % (code, tail(out, 3000))
    for words in ("decryption", "bound", "certificate", ("deleted", "expired"), ("unreachable", "reach")):
        alts = words if isinstance(words, tuple) else (words,)
        assert any(a in out.lower() for a in alts), "relay help does not mention %r: %r" % (alts, tail(out))


def test_bad_command_line_exit_2():
    with Relay("--max-mailboxes", "1") as relay, Workdir() as w:
        a = Client(w, "A", relay)
        url = "%s/v1/m/%s?v=a#%s" % (relay.public_url, "0b7e0a40-93a4-4b8e-9c55-35a0f6f3c1d2",
                                     b64url(os.urandom(16)))
        cases = [
            (["send", "--relay", a.relay_url, "--frobnicate"], "an unknown option of send"),
            (["send", "--relay", a.relay_url, "--vertical", "x"], "send --vertical x"),
            (["send", "--relay", a.relay_url, "--ttl", "soon"], "send --ttl soon"),
            (["send", "--relay", a.relay_url, "--title"], "send --title without its value"),
            (["receive", "--frobnicate", url], "an unknown option of receive"),
            (["receive"], "receive without a URL"),
            (["receive", url, url], "receive with two URLs"),
            (["watch"], "watch without a URL"),
            (["delete"], "delete without a URL"),
        ]
        for args, what in cases:
            a.run(args[0], *args[1:], stdin='{"x": 1}').fails(2, what)
        res = a.run("frobnicate", stdin="{}", state=None, cacert=None)
        res.fails(2, "an unknown subcommand")
        parse_share(a.send({"ok": 1}).ok("a good send after the refused command lines"), relay.public_url)


# 10 ------------------------------------------------------------------ AES-256

def test_aes_256(relay):
    with Workdir() as w:
        a, b = Client(w, "A", relay), Client(w, "B", relay)
        content = {"long": "key"}
        share = parse_share(a.send(content, "--aes-256", "--rights", "RWD").ok("send --aes-256"),
                            relay.public_url, key_len=32)
        res = b.received(share.url, provisioning(content), "B receives an AES-256 share")
        _, body = stored(relay, a.state, share.id, "A reads the AES-256 mailbox")
        assert body["payload"]["type"] == "AEAD_AES_256_GCM", body["payload"]["type"]
        pt = open_payload(share.secret, body["payload"], "AES-256 payload")
        assert res.out == pt.decode() + "\n", (res.out, pt)
        b.reply(share.url, {"answer": 256}).ok("B replies in an AES-256 mailbox")
        _, body = stored(relay, a.state, share.id, "A reads B's reply")
        assert json.loads(open_payload(share.secret, body["payload"], "B's AES-256 reply")) == \
            provisioning({"answer": 256})
        a.received(share.url, provisioning({"answer": 256}), "A receives B's reply")


# 11 ------------------------------------------------------------------ preview

def test_preview_prints_display_information(relay):
    with Workdir() as w:
        a, c, b = Client(w, "A", relay), Client(w, "C", relay), Client(w, "B", relay)
        title = 'Tom & Jerry <"key">'
        description = "Fish & chips <b>bold</b> 'quoted' \"double\" ünïcödé €"
        image = "https://img.example/key.png?a=1&b=<2>"
        share = parse_share(a.send({"p": 1}, "--title", title, "--description", description,
                                   "--image", image).ok("send with display options"), relay.public_url)
        res = c.preview(share.url).ok("preview by another device")
        lines = [l.rstrip() for l in res.out.splitlines()]
        for want in ("title: " + title, "description: " + description, "image: " + image):
            assert want in lines, "preview did not print %r exactly: %s" % (want, res)
        b.received(share.url, provisioning({"p": 1}), "B receives after C's preview (preview binds nothing)")
        res = b.preview(share.link).ok("preview of the bare mailbox URL")
        assert "title: " + title in [l.rstrip() for l in res.out.splitlines()], res
        share2 = parse_share(a.send({"p": 2}).ok("send with default display"), relay.public_url)
        res = c.preview(share2.url).ok("preview of the defaults")
        lines = [l.rstrip() for l in res.out.splitlines()]
        for want in ("title: " + DEFAULT_TITLE, "description:", "image: " + DEFAULT_IMAGE):
            assert want in lines, "preview did not print %r: %s" % (want, res)
        a.delete(share2.url).silent_ok("A deletes")
        c.preview(share2.url).fails(6, "preview of a deleted mailbox", ("deleted", "expired"))
