"""TLS audit (issue: "no protocol below TLS 1.2, no CBC/RC4/3DES/NULL/export or
non-forward-secret suite, no compression, no client-initiated renegotiation;
responses carry Strict-Transport-Security"; issue 12: "TLS 1.3 and 1.2,
TLS 1.3 offered and preferred, X25519 then P-256, no 0-RTT").

The scan is Debian's sslscan, read through its XML output: the protocols, and
for each of TLS 1.2 and 1.3 the suites and groups it accepts (TLS 1.3 must
offer exactly its three AEAD suites). Two of sslscan's verdicts cannot be
taken at face value, so they are checked here directly:

  * compression: Debian's sslscan is linked with an OpenSSL built without zlib
    and prints no verdict (and its probe speaks TLS 1.0, which the relay
    refuses). Hand-made TLS 1.2 and TLS 1.3 ClientHellos that offer DEFLATE
    before null must get a ServerHello that picks null (or, in TLS 1.3, a
    refusal).
  * renegotiation: sslscan tries it with a TLS 1.0-only client (so against a
    TLS 1.2-only server it says "not supported" without having connected) and
    reports RFC 5746 support as "renegotiation supported". `openssl s_client`
    connects with TLS 1.2 and asks to renegotiate ('R'); the server must not
    answer with a second handshake. (TLS 1.3 has no renegotiation.)

Beyond sslscan, `openssl s_client` shows which group a handshake used (the
server's X25519 must beat a client's P-256 in TLS 1.2, where the server
chooses) and tries 0-RTT: the server's tickets must not allow early data, and
early data sent anyway (with a session edited to claim it may) must be
rejected. Python's ssl module checks that a default client gets TLS 1.3.

Against a server of your own (say, a stand-in to see the audit fail):

    python3 test/integration/test_tls_audit.py 127.0.0.1:PORT [SNI-NAME]

prints every finding and exits 1 when there is one.
"""

import base64
import os
import shutil
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET

from relaytest import (Conn, Output, Relay, build_request, client_context, expect_json,
                       expect_status, media_type, new_claim, new_mailbox, read, tail)

EXPECTED_SECONDS = 6

SSLSCAN_TIMEOUT_S = 120.0
HSTS_MIN_MAX_AGE_S = 180 * 24 * 60 * 60          # 15552000
INSTALL_HINT = "`make deps` installs it (Debian package %s)"

# The suites the relay may accept: (EC)DHE by construction (TLS 1.3) or ECDHE,
# each with AES-GCM or CHACHA20-POLY1305. IANA id -> OpenSSL name.
ALLOWED_SUITES = {
    0x1301: "TLS_AES_128_GCM_SHA256",
    0x1302: "TLS_AES_256_GCM_SHA384",
    0x1303: "TLS_CHACHA20_POLY1305_SHA256",
    0xC02B: "ECDHE-ECDSA-AES128-GCM-SHA256",
    0xC02F: "ECDHE-RSA-AES128-GCM-SHA256",
    0xC02C: "ECDHE-ECDSA-AES256-GCM-SHA384",
    0xC030: "ECDHE-RSA-AES256-GCM-SHA384",
    0xCCA9: "ECDHE-ECDSA-CHACHA20-POLY1305",
    0xCCA8: "ECDHE-RSA-CHACHA20-POLY1305",
}
TLS13_SUITES = {0x1301, 0x1302, 0x1303}

# Key-exchange groups the relay may use: IANA id -> what we call it.
ALLOWED_GROUPS = {0x001D: "X25519", 0x0017: "P-256", 0x0018: "P-384"}
GROUP_ALIASES = {
    "x25519": 0x001D, "25519": 0x001D,
    "secp256r1": 0x0017, "prime256v1": 0x0017, "p-256": 0x0017,
    "secp384r1": 0x0018, "p-384": 0x0018,
}

OLD_PROTOCOLS = ["SSLv2", "SSLv3", "TLSv1.0", "TLSv1.1"]


# ------------------------------------------------------------------ tools

def require_tool(name, package):
    path = shutil.which(name)
    if not path:
        raise AssertionError("%s is not installed (not found on PATH); the TLS audit needs it: %s"
                             % (name, INSTALL_HINT % package))
    return path


# ---------------------------------------------------------------- sslscan

class Scan:
    """One sslscan run, parsed from its XML output."""

    def __init__(self, host, port, sni, xml_text, stderr, seconds):
        self.target = "%s:%d" % (host, port)
        self.xml_text = xml_text
        self.stderr = stderr
        self.seconds = seconds
        try:
            root = ET.fromstring(xml_text)
        except ET.ParseError as e:
            raise AssertionError("sslscan %s: XML output does not parse (%s): %r; stderr %r"
                                 % (self.target, e, tail(xml_text), tail(stderr)))
        test = root.find("ssltest")
        if test is None:
            raise AssertionError("sslscan %s: no <ssltest> in its XML output (could it connect?): "
                                 "%r; stderr %r" % (self.target, tail(xml_text), tail(stderr)))
        self.protocols = {}                  # "TLSv1.2" -> True/False
        for p in test.findall("protocol"):
            kind, version = p.get("type", "").lower(), p.get("version", "")
            name = ("SSLv%s" % version) if kind == "ssl" else ("TLSv%s" % version)
            self.protocols[name] = p.get("enabled") == "1"
        self.ciphers = [dict(c.attrib) for c in test.findall("cipher")]
        self.groups = [dict(g.attrib) for g in test.findall("group")]
        reneg = test.find("renegotiation")
        self.renegotiation = dict(reneg.attrib) if reneg is not None else None
        comp = test.find("compression")
        self.compression = dict(comp.attrib) if comp is not None else None

    def describe(self):
        return "sslscan %s (%.1f s)" % (self.target, self.seconds)


def run_sslscan(host, port, sni="localhost"):
    exe = require_tool("sslscan", "sslscan")
    cmd = [exe, "--no-colour", "--xml=-", "--sni-name=%s" % sni, "--timeout=5",
           "%s:%d" % (host, port)]
    start = time.monotonic()
    try:
        proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                              stderr=subprocess.PIPE, timeout=SSLSCAN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError("sslscan %s:%d did not finish within %.0f s" % (host, port,
                                                                             SSLSCAN_TIMEOUT_S))
    out = proc.stdout.decode("utf-8", "replace")
    err = proc.stderr.decode("utf-8", "replace")
    if proc.returncode != 0:
        raise AssertionError("%s exited with status %d; stdout %r; stderr %r"
                             % (" ".join(cmd), proc.returncode, tail(out), tail(err)))
    return Scan(host, port, sni, out, err, time.monotonic() - start)


_scans = {}


def scan_relay(relay):
    """sslscan the relay once per relay process (the module's tests share it)."""
    key = (relay.proc.pid if relay.proc else None, relay.port)
    if key not in _scans:
        _scans[key] = run_sslscan(relay.host, relay.port)
    return _scans[key]


def scan_relay_if_installed(relay):
    """For the checks whose own probe decides: sslscan's word when it is there
    (its absence already fails the sslscan tests)."""
    return scan_relay(relay) if shutil.which("sslscan") else None


# ------------------------------------------------------- findings per area

def protocol_findings(scan):
    found = []
    for name in OLD_PROTOCOLS:
        if name not in scan.protocols:
            found.append("%s: sslscan did not report on it (cannot tell whether it is enabled)"
                         % name)
        elif scan.protocols[name]:
            found.append("%s is enabled" % name)
    old = sorted({c.get("sslversion") for c in scan.ciphers
                  if c.get("sslversion") in OLD_PROTOCOLS})
    for version in old:
        if "%s is enabled" % version not in found:
            found.append("%s suites are accepted" % version)
    for name in ("TLSv1.2", "TLSv1.3"):
        if not scan.protocols.get(name):
            found.append("%s is not enabled (sslscan reports %r)" % (name, scan.protocols))
    return found


def suite_problems(name, suite_id=None):
    """Why a suite is not acceptable, in words; [] when it is on the allowed list.
    name is OpenSSL's (ECDHE-RSA-AES128-SHA) or IANA's (TLS_..._WITH_...)."""
    if suite_id is not None and suite_id in ALLOWED_SUITES and ALLOWED_SUITES[suite_id] == name:
        return []
    if suite_id is None and name in ALLOWED_SUITES.values():
        return []
    n = name.upper().replace("_", "-")
    tokens = n.split("-")
    why = []
    tls13 = n.startswith("TLS-") and "-WITH-" not in n
    # Key exchange (the part before the cipher in OpenSSL's names).
    if "-WITH-" in n:
        kx = n[len("TLS-"):n.index("-WITH-")] if n.startswith("TLS-") else n[:n.index("-WITH-")]
    elif tls13:
        kx = "TLS13"
    else:
        kx = None
        for prefix in ("ECDHE-ECDSA", "ECDHE-RSA", "ECDHE-PSK", "DHE-PSK", "RSA-PSK", "DHE-RSA",
                       "DHE-DSS", "EDH-RSA", "EDH-DSS", "ECDH-ECDSA", "ECDH-RSA", "DH-RSA",
                       "DH-DSS", "AECDH", "ADH", "PSK", "SRP", "EXP", "ECDHE", "ECDH", "DHE",
                       "EDH", "DH"):
            if n == prefix or n.startswith(prefix + "-"):
                kx = prefix
                break
        if kx is None:
            kx = "RSA"                       # OpenSSL leaves plain RSA key transport unnamed
    if "ANON" in tokens or kx in ("ADH", "AECDH") or "ANON" in kx:
        why.append("anonymous (no authentication)")
    if "EXP" in tokens or "EXPORT" in tokens or "EXPORT1024" in tokens:
        why.append("export-grade")
    if "NULL" in tokens:
        why.append("NULL (no encryption)")
    if "RC4" in tokens:
        why.append("RC4")
    if "3DES" in tokens or "DES-CBC3" in n or "DES-EDE" in n or "DES-EDE3" in n:
        why.append("3DES")
    elif "DES" in tokens:
        why.append("DES")
    aead = ("GCM" in tokens and any(t.startswith("AES") for t in tokens)) or \
           ("CHACHA20" in tokens and "POLY1305" in tokens)
    block = any(t.startswith(("AES", "CAMELLIA", "ARIA", "SEED", "IDEA")) for t in tokens)
    if "CBC" in tokens or "CBC3" in tokens or (block and not any(t in tokens for t in
                                                                 ("GCM", "CCM", "CCM8", "8"))):
        why.append("CBC mode")
    elif not aead and not any(w.startswith(("NULL", "RC4")) for w in why):
        why.append("cipher is neither AES-GCM nor CHACHA20-POLY1305")
    if "PSK" in kx.split("-") or "PSK" in tokens:
        if not kx.startswith("ECDHE"):
            why.append("PSK without ECDHE")
        else:
            why.append("PSK authentication")
    if not tls13:
        if kx in ("RSA", "RSA-PSK") or kx.startswith("RSA-") or kx == "RSA":
            why.append("static RSA key exchange (not forward-secret)")
        elif kx.startswith(("ECDH-", "DH-")) or kx in ("ECDH", "DH"):
            why.append("static %s key exchange (not forward-secret)" % kx.split("-")[0])
        elif kx.startswith(("DHE", "EDH")) and "PSK" not in kx:
            why.append("finite-field DHE, not ECDHE")
        elif kx.startswith("SRP"):
            why.append("SRP key exchange, not ECDHE")
    if not why:
        why.append("not on the allowed list (%s)" % ", ".join(sorted(set(ALLOWED_SUITES.values()))))
    return why


def cipher_findings(scan):
    found = []
    for c in scan.ciphers:
        name = c.get("cipher", "?")
        try:
            suite_id = int(c["id"], 16) if c.get("id") else None
        except ValueError:
            suite_id = None
        problems = suite_problems(name, suite_id)
        version = c.get("sslversion", "?")
        if not problems and (suite_id in TLS13_SUITES) != (version == "TLSv1.3"):
            problems = ["TLS 1.3 suite outside TLS 1.3 (or the reverse)"]
        if problems:
            found.append("%s %s (%s): %s" % (version, name, c.get("id", "no id"),
                                             "; ".join(problems)))
    for version in ("TLSv1.2", "TLSv1.3"):
        if not any(c.get("sslversion") == version for c in scan.ciphers):
            found.append("sslscan reported no accepted %s cipher suite" % version)
    # TLS 1.3 has five suites; the two CCM ones are refused above, the three
    # AEAD ones must all be there.
    tls13 = {int(c["id"], 16) for c in scan.ciphers
             if c.get("sslversion") == "TLSv1.3" and c.get("id", "").startswith("0x")}
    for suite_id in sorted(TLS13_SUITES - tls13):
        found.append("TLSv1.3 %s (0x%04X) is not offered" % (ALLOWED_SUITES[suite_id], suite_id))
    return found


def group_key(text):
    """IANA id for a group name as sslscan prints it, or None."""
    if not text:
        return None
    first = text.strip().split(" ")[0].lower()
    return GROUP_ALIASES.get(first)


def group_findings(scan):
    found = []
    for g in scan.groups:
        gid = None
        if g.get("id"):
            try:
                gid = int(g["id"], 16)
            except ValueError:
                gid = None
        if gid is None:
            gid = group_key(g.get("name"))
        if gid not in ALLOWED_GROUPS:
            found.append("%s group %s (%s)" % (g.get("sslversion", "?"), g.get("name", "?"),
                                              g.get("id", "no id")))
    # The group each accepted suite was negotiated with (one line per group).
    curves, dh = {}, {}
    for c in scan.ciphers:
        if c.get("curve") and group_key(c["curve"]) not in ALLOWED_GROUPS:
            curves.setdefault(c["curve"], []).append(c.get("cipher", "?"))
        if c.get("dhebits"):
            dh.setdefault(c["dhebits"], []).append(c.get("cipher", "?"))
    for curve, names in sorted(curves.items()):
        found.append("curve %s negotiated by %d suite(s), e.g. %s" % (curve, len(names), names[0]))
    for bits, names in sorted(dh.items(), key=lambda kv: int(kv[0]) if kv[0].isdigit() else 0):
        found.append("finite-field DH group of %s bits negotiated by %d suite(s), e.g. %s"
                     % (bits, len(names), names[0]))
    # sslscan offers one group at a time; in TLS 1.2 an ECDSA certificate's
    # own curve must be among them, so only TLS 1.3 shows every group.
    tls13 = {group_key(g.get("name")) for g in scan.groups if g.get("sslversion") == "TLSv1.3"}
    for gid in (0x001D, 0x0017):
        if gid not in tls13:
            found.append("TLSv1.3 does not accept %s (sslscan's TLS 1.3 groups: %s)" % (
                ALLOWED_GROUPS[gid], ", ".join(sorted(g.get("name", "?") for g in scan.groups
                                                      if g.get("sslversion") == "TLSv1.3"))))
    return found


# --------------------------------------------- groups chosen (s_client)

def s_client(host, port, sni, args, stdin=b"", timeout_s=10.0, stop_at_timeout=False):
    """Run `openssl s_client` with these extra arguments, stdin as its
    input; returns everything it printed. At timeout_s it is stopped, and
    that is a failure unless stop_at_timeout."""
    exe = require_tool("openssl", "openssl")
    cmd = [exe, "s_client", "-connect", "%s:%d" % (host, port), "-servername", sni] + args
    try:
        proc = subprocess.run(cmd, input=stdin, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              timeout=timeout_s)
    except subprocess.TimeoutExpired as e:
        text = (e.stdout or b"").decode("utf-8", "replace")
        if stop_at_timeout:
            return text
        raise AssertionError("%s did not finish within %.0f s: %r" % (" ".join(cmd), timeout_s,
                                                                      tail(text)))
    return proc.stdout.decode("utf-8", "replace")


def negotiated_group(host, port, sni, version_flag, groups=None):
    """(protocol, IANA group id or None, transcript) of one s_client
    handshake; groups as for -groups ("P-256:X25519"), None for OpenSSL's
    default list (X25519 first)."""
    args = [version_flag] + (["-groups", groups] if groups else [])
    text = s_client(host, port, sni, args)
    protocol = gid = None
    for line in text.splitlines():
        if line.startswith("New, ") and ", Cipher is " in line:
            protocol = line.split(",")[1].strip()
        elif line.startswith("Server Temp Key: "):
            # "X25519, 253 bits" or "ECDH, prime256v1, 256 bits"
            parts = [p.strip() for p in line[len("Server Temp Key: "):].split(",")]
            gid = group_key(parts[1] if parts[0] == "ECDH" and len(parts) > 1 else parts[0])
    return protocol, gid, text


# (version flag, -groups offered, the group the server must pick). In TLS 1.3
# mbedTLS takes the group of the key share the client sent (OpenSSL sends
# one, for its first group) rather than spend a round trip on its own
# preference, so there only the clients' usual order (X25519 first) is checked.
GROUP_CHOICES = [
    ("-tls1_2", "P-256:X25519", 0x001D),    # the server chooses: its X25519 first
    ("-tls1_2", "P-256", 0x0017),
    ("-tls1_3", None, 0x001D),              # OpenSSL's default: X25519 first, with its share
    ("-tls1_3", "P-256", 0x0017),
]


def group_choice_findings(host, port, sni="localhost"):
    found = []
    for flag, groups, want in GROUP_CHOICES:
        protocol, gid, text = negotiated_group(host, port, sni, flag, groups)
        what = "openssl s_client %s%s" % (flag, " -groups " + groups if groups else "")
        if protocol not in ("TLSv1.2", "TLSv1.3"):
            found.append("%s: no handshake: %r" % (what, tail(text, 600)))
        elif gid != want:
            found.append("%s: the server chose %s, expected %s" % (
                what, ALLOWED_GROUPS.get(gid, gid), ALLOWED_GROUPS[want]))
    return found


# ----------------------------------------------------- compression (raw)

def _vec(data, length_bytes):
    return len(data).to_bytes(length_bytes, "big") + data


def _ext(ext_type, data):
    return struct.pack(">H", ext_type) + _vec(data, 2)


def client_hello(compression_methods, sni="localhost", tls13=False):
    """A TLS 1.2 ClientHello record that lists compression_methods (ids) and
    the usual suites, groups and signature algorithms; with tls13, one that
    offers TLS 1.3 first (its suites, supported_versions and an X25519 key
    share)."""
    suites = [0xC02B, 0xC02F, 0xC02C, 0xC030, 0xCCA9, 0xCCA8,          # ECDHE AEAD
              0xC009, 0xC013, 0xC00A, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035,
              0x000A, 0x00FF]                                          # + reneg SCSV
    if tls13:
        suites = sorted(TLS13_SUITES) + suites
    groups = [0x001D, 0x0017, 0x0018, 0x0019]
    sigalgs = [0x0403, 0x0503, 0x0603, 0x0804, 0x0805, 0x0806, 0x0401, 0x0501, 0x0601,
               0x0203, 0x0201]
    host = sni.encode("ascii")
    exts = b"".join([
        _ext(0x0000, _vec(b"\x00" + _vec(host, 2), 2)),                 # server_name
        _ext(0x000A, _vec(b"".join(struct.pack(">H", g) for g in groups), 2)),
        _ext(0x000B, _vec(b"\x00", 1)),                                 # ec_point_formats
        _ext(0x000D, _vec(b"".join(struct.pack(">H", s) for s in sigalgs), 2)),
    ])
    if tls13:
        # Any 32 bytes are an X25519 public key.
        exts += (_ext(0x002B, _vec(struct.pack(">HH", 0x0304, 0x0303), 1))
                 + _ext(0x0033, _vec(struct.pack(">H", 0x001D) + _vec(os.urandom(32), 2), 2)))
    body = (b"\x03\x03" + os.urandom(32) + _vec(b"", 1)
            + _vec(b"".join(struct.pack(">H", s) for s in suites), 2)
            + _vec(bytes(compression_methods), 1)
            + _vec(exts, 2))
    handshake = b"\x01" + len(body).to_bytes(3, "big") + body
    return b"\x16\x03\x01" + _vec(handshake, 2)


ALERTS = {10: "unexpected_message", 40: "handshake_failure", 47: "illegal_parameter",
          50: "decode_error", 70: "protocol_version", 71: "insufficient_security",
          80: "internal_error", 112: "unrecognized_name"}


def _hello_version(m, pos):
    """The version a ServerHello message m settles on: its supported_versions
    extension (TLS 1.3), else its legacy version. pos: where its extensions'
    length is."""
    version = struct.unpack(">H", m[0:2])[0]
    end = min(len(m), pos + 2 + (struct.unpack(">H", m[pos:pos + 2])[0] if pos + 2 <= len(m)
                                 else 0))
    pos += 2
    while pos + 4 <= end:
        ext_type, ext_len = struct.unpack(">HH", m[pos:pos + 4])
        if ext_type == 0x002B and ext_len == 2:
            return struct.unpack(">H", m[pos + 4:pos + 6])[0]
        pos += 4 + ext_len
    return version


def parse_server_hello(data):
    """What a server's first bytes say: ("hello", version, suite,
    compression), ("alert", level, description) or ("closed", why); None
    while they are not yet complete."""
    hs = b""
    pos = 0
    while len(data) - pos >= 5:
        rtype = data[pos]
        rlen = struct.unpack(">H", data[pos + 3:pos + 5])[0]
        if len(data) - pos < 5 + rlen:
            return None
        payload = data[pos + 5:pos + 5 + rlen]
        pos += 5 + rlen
        if rtype == 21 and len(payload) >= 2:
            return ("alert", payload[0], ALERTS.get(payload[1], str(payload[1])))
        if rtype != 22:
            return ("closed", "unexpected record type %d" % rtype)
        hs += payload
        if len(hs) >= 4:
            mlen = int.from_bytes(hs[1:4], "big")
            if hs[0] != 2:
                return ("closed", "first handshake message is type %d, not ServerHello" % hs[0])
            if len(hs) >= 4 + mlen:
                m = hs[4:4 + mlen]
                sid_len = m[34]
                at = 35 + sid_len
                suite = struct.unpack(">H", m[at:at + 2])[0]
                return ("hello", _hello_version(m, at + 3), suite, m[at + 2])
    return None


def server_hello_for(host, port, compression_methods, sni="localhost", timeout_s=10.0,
                     tls13=False):
    """Send one ClientHello; returns ("hello", version, suite, compression) or
    ("alert", level, description) or ("closed", bytes received)."""
    with socket.create_connection((host, port), timeout=timeout_s) as s:
        s.sendall(client_hello(compression_methods, sni, tls13))
        buf = b""
        deadline = time.monotonic() + timeout_s
        while True:
            answer = parse_server_hello(buf)
            if answer is not None:
                return answer
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return ("closed", "no ServerHello within %.0f s (got %r)" % (timeout_s, buf[:40]))
            s.settimeout(remaining)
            try:
                data = s.recv(16384)
            except (ConnectionResetError, socket.timeout, TimeoutError) as e:
                return ("closed", "%s after %r" % (type(e).__name__, buf[:40]))
            if not data:
                return ("closed", "connection closed after %r" % buf[:40])
            buf += data


def compression_findings(host, port, sni="localhost", scan=None):
    found = []
    if scan is not None and scan.compression is not None and scan.compression.get("supported") != "0":
        found.append("sslscan reports TLS compression supported: %r" % scan.compression)
    # RFC 8446 has a TLS 1.3 server refuse a ClientHello that offers
    # compression; it may also answer with a TLS 1.2 ServerHello, so long
    # as that picks null.
    plain = server_hello_for(host, port, [0], sni, tls13=True)
    if plain[0] != "hello" or plain[1] != 0x0304:
        found.append("a TLS 1.3 ClientHello offering only null compression got no TLS 1.3 "
                     "ServerHello (%r), so compression could not be probed in TLS 1.3" % (plain,))
    else:
        deflate = server_hello_for(host, port, [1, 0], sni, tls13=True)
        if deflate[0] == "hello" and deflate[3] != 0:
            found.append("the server chose TLS compression method %d (DEFLATE is 1) in %s when "
                         "a TLS 1.3 ClientHello offered DEFLATE and null"
                         % (deflate[3], "TLS 1.3" if deflate[1] == 0x0304 else
                            "version 0x%04X" % deflate[1]))
    plain = server_hello_for(host, port, [0], sni)
    if plain[0] != "hello":
        found.append("a TLS 1.2 ClientHello offering only null compression got no ServerHello "
                     "(%r), so compression could not be probed" % (plain,))
        return found
    deflate = server_hello_for(host, port, [1, 0], sni)
    if deflate[0] != "hello":
        found.append("a ClientHello offering DEFLATE then null got no ServerHello (%r); the "
                     "server must choose null" % (deflate,))
    elif deflate[3] != 0:
        found.append("the server chose TLS compression method %d (DEFLATE is 1) when offered "
                     "DEFLATE and null" % deflate[3])
    return found


# -------------------------------------------------- renegotiation (s_client)

def renegotiation_probe(host, port, sni="localhost", timeout_s=10.0, answer_window_s=5.0):
    """Connect with `openssl s_client -tls1_2`, then ask to renegotiate ('R').
    Returns (outcome, transcript): outcome is "refused" or "renegotiated"."""
    exe = require_tool("openssl", "openssl")
    cmd = [exe, "s_client", "-connect", "%s:%d" % (host, port), "-servername", sni,
           "-tls1_2", "-state"]
    proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT)
    out = Output(proc.stdout)

    def count(lines, text):
        return sum(1 for l in lines if text in l)

    try:
        if not out.wait_for(lambda ls: count(ls, "read finished") >= 1
                            and any("Renegotiation IS" in l for l in ls), timeout_s):
            raise AssertionError("openssl s_client -tls1_2 could not complete a handshake with "
                                 "%s:%d within %.0f s: %r" % (host, port, timeout_s,
                                                              tail(out.text())))
        proc.stdin.write(b"R\n")
        proc.stdin.flush()

        def settled(ls):
            if count(ls, "read finished") >= 2:
                return True
            after = ls[next((i for i, l in enumerate(ls) if "RENEGOTIATING" in l), len(ls)):]
            return any("alert" in l or ":error:" in l for l in after)

        # A server may also ignore the request; the window bounds the wait.
        out.wait_for(settled, answer_window_s)
    finally:
        try:
            proc.stdin.close()
        except OSError:
            pass
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        out.join()
    lines = out.lines()
    text = "\n".join(lines)
    if not any("RENEGOTIATING" in l for l in lines):
        raise AssertionError("openssl s_client did not start a renegotiation after 'R': %r"
                             % tail(text))
    # The server answered the second ClientHello with a ServerHello: it renegotiates.
    if count(lines, "read server hello") >= 2 or count(lines, "read finished") >= 2:
        return "renegotiated", text
    return "refused", text


def renegotiation_findings(host, port, sni="localhost", scan=None):
    found = []
    if scan is not None and scan.renegotiation is not None:
        r = scan.renegotiation
        if r.get("supported") == "1" and r.get("secure") != "1":
            found.append("sslscan reports insecure (pre-RFC 5746) renegotiation: %r" % r)
    outcome, text = renegotiation_probe(host, port, sni)
    if outcome == "renegotiated":
        secure = "Secure Renegotiation IS supported" in text
        found.append("client-initiated renegotiation is accepted (openssl s_client 'R' completed "
                     "a second handshake)%s" % ("" if secure else
                                                 " and it is INSECURE (no RFC 5746)"))
    return found


# -------------------------------------------------------- 0-RTT (s_client)

EARLY_DATA_CLAIMED = 16384


def _der_tlv(der, i):
    """(tag, start of contents, end) of the DER element at i."""
    length, j = der[i + 1], i + 2
    if length & 0x80:
        n = length & 0x7F
        length, j = int.from_bytes(der[j:j + n], "big"), j + n
    return der[i], j, j + length


def _der_length(n):
    if n < 0x80:
        return bytes([n])
    raw = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(raw)]) + raw


def claim_early_data(session_pem, max_early_data=EARLY_DATA_CLAIMED):
    """The OpenSSL session (PEM, as s_client -sess_out writes it) with its
    max_early_data field ([15] in OpenSSL's SSL_SESSION_ASN1) set, so that
    s_client -sess_in sends 0-RTT data whatever the server's ticket said."""
    lines = session_pem.strip().splitlines()
    der = base64.b64decode("".join(lines[1:-1]))
    _, start, end = _der_tlv(der, 0)
    fields, i = [], start
    while i < end:
        tag, _, field_end = _der_tlv(der, i)
        if tag != 0xAF:                                   # drop any [15] there is
            fields.append((tag, der[i:field_end]))
        i = field_end
    value = max_early_data.to_bytes((max_early_data.bit_length() + 8) // 8, "big")
    field = bytes([0xAF, len(value) + 2, 0x02, len(value)]) + value
    # Context tags stay in ascending order: [15] goes before the first above it.
    at = next((k for k, (tag, _) in enumerate(fields) if tag & 0xE0 == 0xA0 and
               (tag & 0x1F) > 15), len(fields))
    body = b"".join(raw for _, raw in fields[:at]) + field + \
        b"".join(raw for _, raw in fields[at:])
    der = b"\x30" + _der_length(len(body)) + body
    text = base64.b64encode(der).decode("ascii")
    return "%s\n%s\n%s\n" % (lines[0], "\n".join(text[k:k + 64] for k in range(0, len(text), 64)),
                              lines[-1])


def early_data_probe(host, port, sni, request, cafile=None, timeout_s=5.0):
    """A TLS 1.3 session from the server (one HTTP/1.0 request, answered and
    closed, so that its NewSessionTicket is read), then a resumption that
    sends `request` (bytes) as 0-RTT data with a copy of the session claiming
    early data is allowed. Returns (max early data of the server's ticket,
    s_client's word on the early data: "accepted", "rejected", "not sent",
    transcript of the second connection), or (None, None, transcript of the
    first) when the server gave no TLS 1.3 ticket."""
    with tempfile.TemporaryDirectory(prefix="relay-0rtt-") as tmp:
        session, claimed, early = (os.path.join(tmp, n) for n in ("sess.pem", "claimed.pem",
                                                                 "early.txt"))
        verify = ["-CAfile", cafile, "-verify_return_error"] if cafile else []
        # A server that keeps the connection open is stopped at timeout_s;
        # s_client has written the session as soon as the ticket came.
        text = s_client(host, port, sni, ["-tls1_3", "-ign_eof", "-sess_out", session] + verify,
                        stdin=b"GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % sni.encode("ascii"),
                        timeout_s=timeout_s, stop_at_timeout=True)
        if not os.path.exists(session) or os.path.getsize(session) == 0:
            return None, None, text
        # The session as saved, with the ticket (s_client's own summary may
        # come before the ticket does).
        proc = subprocess.run([require_tool("openssl", "openssl"), "sess_id", "-in", session,
                               "-noout", "-text"], stdin=subprocess.DEVNULL,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=timeout_s)
        max_early = None
        for line in proc.stdout.decode("utf-8", "replace").splitlines():
            if line.strip().startswith("Max Early Data:"):
                max_early = int(line.split(":")[1])
        if max_early is None:
            raise AssertionError("openssl sess_id -text shows no Max Early Data for the session "
                                 "s_client saved: %r" % tail(proc.stdout.decode("utf-8",
                                                                                "replace")))
        with open(session) as f:
            pem = f.read()
        with open(claimed, "w") as f:
            f.write(claim_early_data(pem))
        with open(early, "wb") as f:
            f.write(request)
        text = s_client(host, port, sni, ["-tls1_3", "-sess_in", claimed, "-early_data", early]
                        + verify, timeout_s=timeout_s, stop_at_timeout=True)
    word = None
    for line in text.splitlines():
        if line.startswith("Early data was "):
            word = line[len("Early data was "):].strip()
    return max_early, word, text


def early_data_findings(host, port, sni="localhost", cafile=None):
    """Nothing to find without a TLS 1.3 ticket (a missing TLS 1.3 is a
    protocol finding)."""
    request = b"GET / HTTP/1.0\r\nHost: %s\r\n\r\n" % sni.encode("ascii")
    max_early, word, text = early_data_probe(host, port, sni, request, cafile)
    if max_early is None and word is None:
        return []
    found = []
    if max_early:
        found.append("the server's TLS 1.3 tickets allow %d bytes of 0-RTT data" % max_early)
    if word == "accepted":
        found.append("0-RTT data sent on resumption was accepted (it can be replayed)")
    elif word not in ("rejected", "not sent"):
        found.append("openssl s_client did not say what became of its 0-RTT data: %r"
                     % tail(text, 600))
    return found


# ------------------------------------------------------------ HSTS helpers

def hsts_max_age(value):
    """max-age of a Strict-Transport-Security value, or None."""
    for directive in value.split(";"):
        name, _, arg = directive.strip().partition("=")
        if name.strip().lower() == "max-age":
            arg = arg.strip().strip('"')
            return int(arg) if arg.isdigit() else None
    return None


def sample_responses(relay):
    """A JSON API answer, the HTML preview page and a 404, from one keep-alive
    connection: [(what, Response)]."""
    mb = new_mailbox(relay)
    out = [("JSON answer to POST /v1/m (create)", mb.resp)]
    with Conn(relay) as c:
        page = c.roundtrip("GET", mb.path)
        expect_status(page, 200, "preview page")
        if media_type(page) != "text/html":
            raise AssertionError("preview page is %r, not text/html: %s"
                                 % (page.header("Content-Type"), page))
        out.append(("HTML preview page GET %s" % mb.path, page))
        missing = c.roundtrip("GET", "/v1/no-such-thing")
        expect_status(missing, 404, "unknown path")
        out.append(("404 for GET /v1/no-such-thing", missing))
    expect_json(mb.resp, 200, "create")
    return out


# ------------------------------------------------- handshakes (Python ssl)

WEAK_ONLY_OFFERS = [
    "ECDHE-ECDSA-AES128-SHA:ECDHE-RSA-AES128-SHA:ECDHE-ECDSA-AES256-SHA384:ECDHE-RSA-AES256-SHA384",
    "AES128-GCM-SHA256:AES256-GCM-SHA384:AES128-SHA:AES256-SHA:DES-CBC3-SHA",
    "DHE-RSA-AES128-GCM-SHA256:DHE-RSA-CHACHA20-POLY1305",
]


def _handshake(host, port, ctx, sni="localhost", timeout_s=10.0):
    with socket.create_connection((host, port), timeout=timeout_s) as raw:
        with ctx.wrap_socket(raw, server_hostname=sni) as s:
            return s.cipher()


def handshake_findings(host, port, cafile=None, sni="localhost"):
    """TLS 1.2 and TLS 1.3 each negotiate an allowed (EC)DHE AEAD suite, a
    client offering both gets TLS 1.3, and a client offering only weak TLS
    1.2 suites gets no session. With cafile the certificate is verified too."""
    found = []
    ctx = client_context(cafile) if cafile else client_context(verify=False)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        name, version, _bits = _handshake(host, port, ctx, sni)
    except OSError as e:
        found.append("a TLS 1.2-only client could not connect: %s" % e)
    else:
        if version != "TLSv1.2":
            found.append("a TLS 1.2-only client negotiated %s" % version)
        elif name not in ALLOWED_SUITES.values() or name.startswith("TLS_"):
            found.append("TLS 1.2 handshake negotiated %s, not an ECDHE AEAD suite (%s)"
                         % (name, "; ".join(suite_problems(name))))
    ctx = client_context(cafile) if cafile else client_context(verify=False)
    ctx.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        name, version, _bits = _handshake(host, port, ctx, sni)
    except OSError as e:
        found.append("a TLS 1.3-only client could not connect: %s" % e)
    else:
        if version != "TLSv1.3" or name not in ALLOWED_SUITES.values():
            found.append("a TLS 1.3-only client negotiated %s %s" % (version, name))
    ctx = client_context(cafile) if cafile else client_context(verify=False)
    try:
        name, version, _bits = _handshake(host, port, ctx, sni)
    except OSError as e:
        found.append("a default client could not connect: %s" % e)
    else:
        if version != "TLSv1.3" or name not in ALLOWED_SUITES.values():
            found.append("a default client (offering TLS 1.3 and 1.2) negotiated %s %s, "
                         "not TLS 1.3" % (version, name))
    for offer in WEAK_ONLY_OFFERS:
        ctx = client_context(verify=False)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        try:
            ctx.set_ciphers(offer + ":@SECLEVEL=0")
        except ssl.SSLError:
            continue                                  # this OpenSSL has none of them
        try:
            name, version, _bits = _handshake(host, port, ctx, sni)
        except OSError:                               # ssl.SSLError, a reset: refused
            continue
        found.append("a client offering only %s got a %s session with %s"
                     % (offer, version, name))
    return found


def hsts_problems(samples):
    """Each (what, Response) carries exactly one Strict-Transport-Security
    with max-age >= 180 days."""
    problems = []
    for what, resp in samples:
        values = resp.header_all("Strict-Transport-Security")
        if len(values) != 1:
            problems.append("%s: %d Strict-Transport-Security headers (want 1): %s"
                            % (what, len(values), resp))
            continue
        age = hsts_max_age(values[0])
        if age is None or age < HSTS_MIN_MAX_AGE_S:
            problems.append("%s: Strict-Transport-Security %r: max-age must be at least %d "
                            "(180 days)" % (what, values[0], HSTS_MIN_MAX_AGE_S))
    return problems


# ------------------------------------------------------------------- tests

def test_tls_audit_sslscan_protocols_tls12_and_tls13_only(relay):
    scan = scan_relay(relay)
    found = protocol_findings(scan)
    assert not found, "%s: protocols below TLS 1.2 (or TLS 1.2 or 1.3 missing):\n  %s" % (
        scan.describe(), "\n  ".join(found))


def test_tls_audit_sslscan_cipher_suites_ecdhe_aead_only(relay):
    scan = scan_relay(relay)
    found = cipher_findings(scan)
    assert not found, ("%s: accepted cipher suites that are not ECDHE (or TLS 1.3) with AES-GCM "
                       "or CHACHA20-POLY1305, or TLS 1.3's AEAD suites not all there:\n  %s"
                       % (scan.describe(), "\n  ".join(found)))


def test_tls_audit_sslscan_tls12_prefers_chacha20(relay):
    # Where the server chooses (TLS 1.2), ChaCha20-Poly1305 first: it is
    # the cheaper of the two AEADs in mbedTLS (see net/tls.c).
    scan = scan_relay(relay)
    preferred = [c.get("cipher") for c in scan.ciphers
                 if c.get("sslversion") == "TLSv1.2" and c.get("status") == "preferred"]
    assert len(preferred) == 1 and "CHACHA20-POLY1305" in preferred[0], \
        "%s: TLS 1.2 suite the server prefers: %r, expected ChaCha20-Poly1305" % (
            scan.describe(), preferred)


def test_tls_audit_sslscan_key_exchange_groups(relay):
    scan = scan_relay(relay)
    found = group_findings(scan)
    assert not found, ("%s: key-exchange groups other than X25519 / P-256 / P-384, or X25519 or "
                       "P-256 missing:\n  %s" % (scan.describe(), "\n  ".join(found)))


def test_tls_audit_x25519_chosen_before_p256(relay):
    found = group_choice_findings(relay.host, relay.port)
    assert not found, "key-exchange group chosen:\n  %s" % "\n  ".join(found)


def _binding_read(relay, mb):
    """A read with a new claim, which binds the mailbox to it (spec 4.5)."""
    return build_request("POST", mb.path, [("Mailbox-Device-Claim", new_claim())],
                         host="localhost:%d" % relay.port)


def test_tls_audit_no_0rtt_and_early_data_never_executed(relay):
    # The early data is a read that binds the mailbox to a Receiver: had
    # the relay executed it, another Receiver would be refused afterwards.
    # As ordinary data the same request does bind:
    other = new_mailbox(relay)
    with Conn(relay) as c:
        c.send(_binding_read(relay, other))
        expect_json(c.read_response("POST"), 200, "a binding read sent as ordinary data")
    expect_status(read(relay, other.id, new_claim()), 401, "a second Receiver's read")

    mb = new_mailbox(relay)
    max_early, word, text = early_data_probe(relay.host, relay.port, "localhost",
                                             _binding_read(relay, mb), relay.cacert)
    assert max_early == 0, "the relay's TLS 1.3 ticket allows %r bytes of 0-RTT data: %r" % (
        max_early, tail(text, 600))
    # The ticket was good, so s_client did send the early data.
    assert word == "rejected", "s_client's 0-RTT data was %s, expected rejected: %r" % (
        word, tail(text, 600))
    expect_json(read(relay, mb.id, new_claim()), 200,
                "a Receiver's read after the 0-RTT attempt (the early request must not have "
                "bound the mailbox)")


def test_tls_audit_no_tls_compression(relay):
    found = compression_findings(relay.host, relay.port, scan=scan_relay_if_installed(relay))
    assert not found, "TLS compression (CRIME):\n  %s" % "\n  ".join(found)


def test_tls_audit_no_client_initiated_renegotiation(relay):
    found = renegotiation_findings(relay.host, relay.port, scan=scan_relay_if_installed(relay))
    assert not found, "renegotiation:\n  %s" % "\n  ".join(found)


def test_tls_audit_python_handshakes_aead_and_tls13_preferred(relay):
    found = handshake_findings(relay.host, relay.port, relay.cacert)
    assert not found, "handshakes with Python's ssl module:\n  " + "\n  ".join(found)


def _openssl(*args):
    proc = subprocess.run([require_tool("openssl", "openssl")] + list(args),
                          stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                          stderr=subprocess.PIPE, timeout=60)
    if proc.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), proc.stderr.decode()))


def _suites_by_version(relay, cafile):
    """{version: suite} of a verifying client limited to each version."""
    got = {}
    for version in (ssl.TLSVersion.TLSv1_2, ssl.TLSVersion.TLSv1_3):
        ctx = client_context(cafile)
        ctx.minimum_version = ctx.maximum_version = version
        name, negotiated, _bits = _handshake(relay.host, relay.port, ctx)
        got[negotiated] = name
    return got


def test_tls_audit_both_versions_with_ecdsa_and_rsa_certificates(relay):
    # TLS 1.3 signs with RSA-PSS where TLS 1.2 may use PKCS#1 v1.5: an RSA
    # key must serve both, as the development certificate's ECDSA one does.
    got = _suites_by_version(relay, relay.cacert)
    assert set(got) == {"TLSv1.2", "TLSv1.3"} and got["TLSv1.3"] in \
        (ALLOWED_SUITES[i] for i in TLS13_SUITES) and got["TLSv1.2"].startswith("ECDHE-ECDSA-"), \
        "with the ECDSA development certificate: %r" % got
    with tempfile.TemporaryDirectory(prefix="relay-rsa-") as tmp:
        cert, key = os.path.join(tmp, "rsa.crt"), os.path.join(tmp, "rsa.key")
        _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", cert,
                 "-days", "2", "-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost")
        with Relay("--cert", cert, "--key", key, dev_cert=False) as rsa_relay:
            got = _suites_by_version(rsa_relay, cert)
    assert set(got) == {"TLSv1.2", "TLSv1.3"} and got["TLSv1.3"] in \
        (ALLOWED_SUITES[i] for i in TLS13_SUITES) and got["TLSv1.2"].startswith("ECDHE-RSA-"), \
        "with an RSA certificate: %r" % got


def test_tls_audit_hsts_on_json_html_and_404(relay):
    problems = hsts_problems(sample_responses(relay))
    assert not problems, "HSTS over HTTPS:\n  " + "\n  ".join(problems)


def test_tls_audit_no_hsts_over_plain_http():
    with Relay("--no-tls", tls=False) as relay:
        problems = []
        for what, resp in sample_responses(relay):
            if resp.has_header("Strict-Transport-Security"):
                problems.append("%s: %s" % (what, resp.header_all("Strict-Transport-Security")))
        assert not problems, ("with --no-tls the relay sent Strict-Transport-Security (meaningless "
                              "over plain HTTP):\n  " + "\n  ".join(problems))


def test_tls_audit_classifier_rejects_weak_suites():
    """The audit's own judgement: every weak kind is named, the good ones pass."""
    for suite_id, name in ALLOWED_SUITES.items():
        assert suite_problems(name, suite_id) == [], "%s judged weak: %s" % (
            name, suite_problems(name, suite_id))
    cases = {
        "ECDHE-RSA-AES128-SHA": "CBC", "ECDHE-ECDSA-AES256-SHA384": "CBC",
        "AES128-SHA": "static RSA", "AES128-GCM-SHA256": "static RSA",
        "RC4-MD5": "RC4", "ECDHE-RSA-RC4-SHA": "RC4", "DES-CBC3-SHA": "3DES",
        "EDH-RSA-DES-CBC3-SHA": "3DES", "DES-CBC-SHA": "DES", "NULL-SHA": "NULL",
        "ECDHE-ECDSA-NULL-SHA": "NULL", "EXP-RC4-MD5": "export", "EXP-DES-CBC-SHA": "export",
        "ADH-AES128-GCM-SHA256": "anonymous", "AECDH-AES256-SHA": "anonymous",
        "PSK-AES128-GCM-SHA256": "PSK without ECDHE", "DHE-PSK-CHACHA20-POLY1305": "PSK without",
        "RSA-PSK-AES256-GCM-SHA384": "static RSA", "ECDHE-PSK-CHACHA20-POLY1305": "PSK",
        "DHE-RSA-AES128-GCM-SHA256": "finite-field DHE", "ECDH-ECDSA-AES128-GCM-SHA256": "static ECDH",
        "DH-RSA-AES256-GCM-SHA384": "static DH", "ECDHE-ARIA128-GCM-SHA256": "neither AES-GCM",
        "DHE-RSA-AES256-CCM": "finite-field DHE", "ECDHE-ECDSA-AES128-CCM8": "neither AES-GCM",
        "CAMELLIA128-SHA": "CBC", "TLS_AES_128_CCM_8_SHA256": "neither AES-GCM",
        "TLS_RSA_WITH_AES_128_CBC_SHA": "static RSA", "TLS_ECDHE_RSA_WITH_3DES_EDE_CBC_SHA": "3DES",
        "SRP-AES-128-CBC-SHA": "SRP",
    }
    wrong = []
    for name, expect in cases.items():
        why = suite_problems(name)
        if not any(expect.lower() in w.lower() for w in why):
            wrong.append("%s: expected a reason containing %r, got %r" % (name, expect, why))
    # An allowed name under the wrong id is not accepted either.
    if not suite_problems("ECDHE-RSA-AES128-GCM-SHA256", 0xC013):
        wrong.append("ECDHE-RSA-AES128-GCM-SHA256 with id 0xC013 was accepted")
    assert not wrong, "suite classifier:\n  " + "\n  ".join(wrong)
    assert group_key("secp256r1 (NIST P-256)") == 0x0017 and group_key("25519") == 0x001D
    assert group_key("secp521r1 (NIST P-521)") is None and group_key("x448") is None
    assert hsts_max_age("max-age=31536000; includeSubDomains") == 31536000
    assert hsts_max_age('max-age="15552000"') == 15552000 and hsts_max_age("preload") is None


# ----------------------------------------------------- any server, by hand

def audit(host, port, sni="localhost"):
    """Every finding of the TLS checks above against host:port, by area."""
    scan = run_sslscan(host, port, sni)
    return scan, {
        "protocols": protocol_findings(scan),
        "cipher suites": cipher_findings(scan),
        "key-exchange groups": group_findings(scan),
        "compression": compression_findings(host, port, sni, scan),
        "renegotiation": renegotiation_findings(host, port, sni, scan),
        "groups chosen (s_client)": group_choice_findings(host, port, sni),
        "0-RTT (s_client)": early_data_findings(host, port, sni),
        "handshakes (Python ssl)": handshake_findings(host, port, None, sni),
    }


def main(argv):
    if len(argv) not in (2, 3) or ":" not in argv[1]:
        sys.stderr.write("usage: %s HOST:PORT [SNI-NAME]\n" % argv[0])
        return 2
    host, _, port = argv[1].rpartition(":")
    scan, findings = audit(host.strip("[]"), int(port), argv[2] if len(argv) == 3 else "localhost")
    total = 0
    for area, found in findings.items():
        print("%-26s %s" % (area + ":", "ok" if not found else "%d finding(s)" % len(found)))
        for f in found:
            print("    " + f)
        total += len(found)
    print("%s; %d finding(s)" % (scan.describe(), total))
    return 1 if total else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
