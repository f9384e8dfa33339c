"""
chaos — a seeded, bounded storm of misbehaving clients against one relay.

Workers run scenarios back to back until the time is up. Each scenario opens
its own connections (a raw non-blocking socket with TLS through memory BIOs,
so that it controls every byte and every way of leaving) and, by the dice,
leaves at any stage: half-way through the TLS handshake, the request head or
the body, while parked on a long-poll, while its answer is being written
(unread, or with a reset); it half-closes, pipelines, reads slowly, and races
updates, deletes, relinquishes, expiry and retries against parked long-polls.

Every answer it does read is checked against the API (docs/api.md):
the status is one the spec allows for that request from that party, the
response is well-formed HTTP/1.1 whose Content-Length frames it, JSON bodies
parse and have the members the spec names, ETags are present and move as §6
says, payloads read back are ones that were written to that very mailbox,
and every response echoes the Mailbox-Request-ID of the request it answers.

Choices are deterministic given the seed: scenario number i draws everything
from random.Random("<seed>:<i>"), so a replay runs the same scenarios with the
same bytes (the interleaving, set by timing, differs from run to run).
"""

import asyncio
import base64
import collections
import json
import random
import re
import socket
import ssl
import struct
import threading
import time
import traceback
import uuid

from relaytest import client_context, rfc3339

# Lines on the relay's stderr that mean a sanitizer found something.
SANITIZER_RE = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|runtime error:|"
                          r"SUMMARY: \w+Sanitizer|AddressSanitizer:DEADLYSIGNAL")
MAILBOX_URL_RE = re.compile(r"^https://[^/]+/v1/m/([0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-"
                            r"[89ab][0-9a-f]{3}-[0-9a-f]{12})$")
ETAG_RE = re.compile(r'^"[\x21\x23-\x7e]+"$')
ERROR_CODE_RE = re.compile(r"^[a-z_]+$")
EXPIRATION_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")

IO_TIMEOUT_S = 10.0       # any step the relay must finish promptly (it runs under ASan)
SLACK_S = 8.0             # beyond a timer the relay must keep (wait, 408, close)


class Violation(AssertionError):
    """The relay broke the protocol (or hung) in an answer we read."""


class Silent(Violation):
    """Nothing came from the relay before a deadline."""


class Gone(Exception):
    """The connection ended before what we waited for."""


def sanitizer_lines(relay):
    return [line for line in relay.stderr.lines() if SANITIZER_RE.search(line)]


def sanitizer_report(relay, limit=5000):
    """The relay's stderr from the first sanitizer line to its SUMMARY (the
    stacks; not the shadow-byte map), or the tail of it all."""
    lines = relay.stderr.lines()
    start = next((i for i, l in enumerate(lines) if SANITIZER_RE.search(l)), None)
    if start is None:
        text = "\n".join(lines)
        return text if len(text) <= limit else "..." + text[-limit:]
    end = next((i for i in range(start, len(lines)) if lines[i].startswith("SUMMARY:")),
               len(lines) - 1)
    return "\n".join(lines[max(0, start - 1):end + 1])[:limit]


# ------------------------------------------------------------------ model

class Mailbox:
    """What the clients know of one mailbox: its claims and every payload
    ever sent to it (sent, not necessarily applied)."""

    def __init__(self, sender, rights, lifetime_s, display):
        self.sender = sender
        self.rights = rights
        self.lifetime_s = lifetime_s      # None: --default-ttl
        # Wall-clock seconds, as the relay shows it.
        self.expires_at = int(time.time()) + lifetime_s if lifetime_s else None
        self.display = display
        self.written = set()
        self.id = None
        self.url = None
        self.etag = None


class Req:
    """One request as sent, and what the spec allows as its answer."""

    def __init__(self, kind, method, path, headers, body, allowed, mb=None, claim=None,
                 inm=None, wait=None, request_id=None, interim=False):
        self.kind = kind
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.allowed = set(allowed)
        self.mb = mb
        self.claim = claim
        self.inm = inm
        self.wait = wait
        self.request_id = request_id
        self.interim = interim             # Expect: 100-continue was sent
        self.sent_at = None

    def bytes(self):
        lines = ["%s %s HTTP/1.1" % (self.method, self.path), "Host: localhost"]
        lines += ["%s: %s" % hv for hv in self.headers]
        if self.body is not None and not any(n.lower() in ("content-length", "transfer-encoding")
                                             for n, _ in self.headers):
            lines.append("Content-Length: %d" % len(self.body))
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + (self.body or b"")

    def __str__(self):
        party = None
        if self.claim is not None and self.mb is not None:
            party = "by the Sender" if self.claim == self.mb.sender else "by another claim"
        extra = "".join(" %s" % p for p in (
            party, self.request_id and "rid=%s" % self.request_id,
            self.inm and "If-None-Match", self.wait and "wait=%d" % self.wait) if p)
        return "%s %s%s" % (self.method, self.kind, extra)


class Response:
    def __init__(self, status, reason, headers, body, raw_head):
        self.status = status
        self.reason = reason
        self.headers = headers
        self.body = body
        self.raw_head = raw_head

    def header(self, name, default=None):
        values = self.header_all(name)
        return values[0] if values else default

    def header_all(self, name):
        name = name.lower()
        return [v for n, v in self.headers if n.lower() == name]

    def __str__(self):
        return "%s + %r" % (self.raw_head[:600], self.body[:300])


# ------------------------------------------------------------------ one connection

class Client:
    """One TLS connection driven byte by byte; resume=True offers the
    session ticket of a recent connection, so that resumed handshakes are
    left half-way too."""

    def __init__(self, run, rcvbuf=None, resume=False):
        self.run = run
        self.loop = asyncio.get_running_loop()
        self.sock = None
        self.rcvbuf = rcvbuf
        self.pace = None            # (dice, largest read, longest pause): a slow reader
        self.inc = ssl.MemoryBIO()
        self.out = ssl.MemoryBIO()
        session = run.sessions[-1] if resume and run.sessions else None
        self.tls = run.ctx.wrap_bio(self.inc, self.out, server_hostname="localhost",
                                    session=session)
        self.session_kept = False
        self.buf = bytearray()
        self.eof = False
        self.closed = False

    async def connect(self):
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        sock.setblocking(False)
        if self.rcvbuf:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self.rcvbuf)
            # Segments well below the window, or loopback's 64 KiB MSS
            # leaves the window shut and the relay probing with backoff.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 536)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.run.open_clients.add(self)
        self.run.stats["connections"] += 1
        self.run.peak_connections = max(self.run.peak_connections, len(self.run.open_clients))
        try:
            await asyncio.wait_for(self.loop.sock_connect(sock, self.run.addr), IO_TIMEOUT_S)
        except asyncio.TimeoutError:
            raise Violation("TCP connect not accepted within %.0f s" % IO_TIMEOUT_S)
        return self

    async def open(self):
        await self.connect()
        await self.handshake()
        return self

    async def _send_raw(self, data):
        try:
            await asyncio.wait_for(self.loop.sock_sendall(self.sock, data), IO_TIMEOUT_S)
        except (ConnectionResetError, BrokenPipeError):
            raise Gone("reset while sending")
        except asyncio.TimeoutError:
            raise Violation("the relay took nothing of %d bytes for %.0f s" % (len(data), IO_TIMEOUT_S))

    async def _flush(self):
        data = self.out.read()
        if data:
            await self._send_raw(data)

    async def _recv_raw(self, deadline, n=65536):
        if self.pace:
            rng, largest, pause_s = self.pace
            n = min(n, rng.randint(1, largest))
            await asyncio.sleep(rng.uniform(0, pause_s))
        remaining = deadline - time.monotonic()
        try:
            if remaining > 0:
                data = await asyncio.wait_for(self.loop.sock_recv(self.sock, n), remaining)
            else:
                # Past the deadline, what has arrived by now still counts.
                try:
                    data = self.sock.recv(n)
                except BlockingIOError:
                    raise asyncio.TimeoutError()
        except (ConnectionResetError, BrokenPipeError):
            data = b""
        except asyncio.TimeoutError:
            raise Silent("nothing from the relay in time")
        if not data:
            self.inc.write_eof()
        else:
            self.inc.write(data)
        return data

    def client_hello(self):
        """The first handshake flight, without sending it."""
        try:
            self.tls.do_handshake()
        except ssl.SSLWantReadError:
            pass
        return self.out.read()

    async def handshake(self, deadline=None):
        deadline = deadline or time.monotonic() + IO_TIMEOUT_S
        while True:
            try:
                self.tls.do_handshake()
                await self._flush()
                return
            except ssl.SSLWantReadError:
                await self._flush()
            except ssl.SSLError as e:
                raise Violation("TLS handshake failed: %s" % e)
            try:
                data = await self._recv_raw(deadline)
            except Silent:
                raise Violation("TLS handshake not finished within %.0f s" % IO_TIMEOUT_S)
            if not data:
                raise Gone("closed during the handshake")

    async def send(self, data):
        """Encrypt and send; when the socket takes it all at once this does
        not yield, so what the caller does next happens in the same step."""
        self.tls.write(data)
        await self._flush()

    async def send_raw(self, data):
        await self._send_raw(data)

    async def send_pieces(self, data, rng, max_gap_s=0.03):
        """data in 2-5 TLS records at random cut points, with short pauses."""
        cuts = sorted(rng.sample(range(1, len(data)), min(len(data) - 1, rng.randint(1, 4))))
        start = 0
        for cut in cuts + [len(data)]:
            await self.send(data[start:cut])
            start = cut
            if cut != len(data):
                await asyncio.sleep(rng.uniform(0, max_gap_s))

    async def fill(self, deadline, n=65536):
        """Read more plaintext into buf; False at end of stream."""
        while True:
            try:
                data = self.tls.read(n)
                if data:
                    self.buf += data
                    return True
                self.eof = True
                return False
            except ssl.SSLWantReadError:
                pass
            except (ssl.SSLZeroReturnError, ssl.SSLEOFError):
                self.eof = True
                return False
            except ssl.SSLError as e:
                raise Violation("TLS error while reading an answer: %s" % e)
            # At the end too: the TLS object may still hold a record.
            await self._recv_raw(deadline, n)

    async def response(self, req, deadline, lenient_eof=False):
        """Read and check the answer to req. Gone when the stream ends first
        (a Violation instead unless lenient_eof: the relay must answer what
        it parsed before it closes, unless we made it give up)."""
        start = req.sent_at or time.monotonic()
        try:
            resp = await self._read_response(req, deadline)
        except Silent:
            raise Violation("no answer to %s within %.1f s (received %r)"
                            % (req, deadline - start, bytes(self.buf[:200])))
        except Gone as g:
            if lenient_eof:
                raise
            raise Violation("the relay closed before it had answered %s (%s; received %r)"
                            % (req, g, bytes(self.buf[:200])))
        check(req, resp, time.monotonic() - start)
        self.run.stats["answers %d" % resp.status] += 1
        if not self.session_kept:
            # The ticket came after the handshake: it is in hand by now.
            self.session_kept = True
            self.run.stats["resumed"] += self.tls.session_reused
            if self.tls.session is not None and self.tls.session.has_ticket:
                self.run.sessions.append(self.tls.session)
        return resp

    async def _read_response(self, req, deadline):
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end >= 0:
                head = bytes(self.buf[:end]).decode("latin-1")
                del self.buf[:end + 4]
                status, reason, headers = parse_head(head)
                if 100 <= status < 200:
                    if status != 100 or not req.interim:
                        raise Violation("unexpected interim %d to %s: %r" % (status, req, head))
                    req.interim = False
                    continue
                resp = Response(status, reason, headers, b"", head)
                resp.body = await self._read_body(req, resp, deadline)
                return resp
            if self.eof:
                raise Gone("end of stream before a response head")
            if len(self.buf) > 65536:
                raise Violation("response head longer than 64 KiB: %r" % bytes(self.buf[:200]))
            await self.fill(deadline)

    async def _read_body(self, req, resp, deadline):
        cl = resp.header_all("Content-Length")
        te = resp.header("Transfer-Encoding")
        if resp.status in (204, 304):
            if te is not None or any(v != "0" for v in cl):
                raise Violation("%d with a body (Content-Length %r, Transfer-Encoding %r): %s"
                                % (resp.status, cl, te, resp))
            return b""
        if te is not None:
            raise Violation("the relay sent Transfer-Encoding %r (it frames with Content-Length): %s"
                            % (te, resp))
        if len(cl) != 1 or not re.match(r"^[0-9]{1,9}$", cl[0]):
            raise Violation("response without exactly one valid Content-Length (%r) to %s: %s"
                            % (cl, req, resp))
        if req.method == "HEAD":
            return b""
        n = int(cl[0])
        while len(self.buf) < n:
            if self.eof:
                raise Gone("stream ended after %d of %d body bytes: %s" % (len(self.buf), n, resp))
            await self.fill(deadline)
        body = bytes(self.buf[:n])
        del self.buf[:n]
        return body

    async def drain_until_closed(self, deadline):
        """Read everything until the relay closes; Violation at the deadline."""
        while not self.eof:
            try:
                await self.fill(deadline)
            except Silent:
                raise Violation("the relay kept the connection open past the deadline "
                                "(%d bytes read)" % len(self.buf))

    async def drain_raw(self, deadline, n):
        """Read up to n bytes below TLS, whatever they are."""
        return await self._recv_raw(deadline, n)

    async def drain_raw_until_closed(self, deadline):
        """The same below TLS (the handshake never finished)."""
        try:
            while await self._recv_raw(deadline):
                pass
        except Silent:
            raise Violation("the relay kept a connection whose TLS handshake stalled open "
                            "past the deadline")

    def leave(self, how):
        """End the connection now, without yielding: 'fin' closes, 'rst'
        resets (SO_LINGER 0), 'notify' sends a TLS close_notify then closes,
        'half' sends FIN (SHUT_WR) and keeps reading."""
        if self.closed or self.sock is None:
            return
        self.run.stats["leave " + how] += 1
        try:
            if how == "rst":
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            elif how == "notify":
                try:
                    self.tls.unwrap()
                except ssl.SSLError:
                    pass
                data = self.out.read()
                if data:
                    self.sock.send(data)
            elif how == "half":
                self.sock.shutdown(socket.SHUT_WR)
                return
        except OSError:
            pass
        self.close()

    def close(self):
        if not self.closed and self.sock is not None:
            self.closed = True
            self.run.open_clients.discard(self)
            self.sock.close()


def parse_head(head):
    lines = head.split("\r\n")
    m = re.match(r"^HTTP/1\.1 ([1-5][0-9]{2}) ([\x20-\x7e]*)$", lines[0])
    if not m:
        raise Violation("malformed status line %r" % lines[0])
    headers = []
    for line in lines[1:]:
        hm = re.match(r"^([!#$%&'*+.^_`|~0-9A-Za-z-]+):[ \t]*([\x20-\x7e\t]*?)[ \t]*$", line)
        if not hm:
            raise Violation("malformed response header line %r in %r" % (line, head[:300]))
        headers.append((hm.group(1), hm.group(2)))
    return int(m.group(1)), m.group(2), headers


# ------------------------------------------------------------------ checking answers

def json_body(req, resp):
    ct = (resp.header("Content-Type") or "").split(";")[0].strip().lower()
    if ct != "application/json":
        raise Violation("answer to %s has Content-Type %r, expected JSON: %s"
                        % (req, resp.header("Content-Type"), resp))
    if "no-store" not in (resp.header("Cache-Control") or ""):
        raise Violation("JSON answer to %s without Cache-Control: no-store: %s" % (req, resp))
    try:
        data = json.loads(resp.body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as e:
        raise Violation("answer to %s is not JSON (%s): %s" % (req, e, resp))
    if not isinstance(data, dict):
        raise Violation("answer to %s is JSON but not an object: %s" % (req, resp))
    return data


def need_etag(req, resp):
    etag = resp.header("ETag")
    if etag is None or not ETAG_RE.match(etag):
        raise Violation("%d to %s without a quoted ETag (%r): %s" % (resp.status, req, etag, resp))
    return etag


def check(req, resp, elapsed_s):
    """Everything the spec says about this answer to this request."""
    if resp.status not in req.allowed:
        raise Violation("%s answered %d; the spec allows %s here: %s"
                        % (req, resp.status, sorted(req.allowed), resp))
    if req.request_id is not None and resp.status not in (400, 408, 413, 431):
        echoed = resp.header_all("Mailbox-Request-ID")
        if echoed != [req.request_id]:
            raise Violation("answer to %s echoes Mailbox-Request-ID %r, expected %r "
                            "(an answer meant for another request?): %s"
                            % (req, echoed, req.request_id, resp))
    if req.kind == "preview" and resp.status in (200, 404):
        if (resp.header("Content-Type") or "").split(";")[0].strip() != "text/html":
            raise Violation("preview answered with Content-Type %r: %s"
                            % (resp.header("Content-Type"), resp))
        if "default-src 'none'" not in (resp.header("Content-Security-Policy") or ""):
            raise Violation("preview without its CSP: %s" % resp)
        return
    if req.kind in ("raw", "preview") and not resp.header("Content-Type", "").startswith(
            "application/json"):
        return
    if resp.status == 204:
        check_no_content(req, resp, elapsed_s)
        return
    data = json_body(req, resp)
    if resp.status >= 400:
        if set(data) != {"error", "message"} or not isinstance(data["error"], str) \
                or not ERROR_CODE_RE.match(data["error"]) \
                or not isinstance(data["message"], str) or not data["message"]:
            raise Violation("error answer to %s is not {error, message}: %s" % (req, resp))
        if resp.status == 503 and not (resp.header("Retry-After") or "").isdigit():
            raise Violation("503 to %s without Retry-After: %s" % (req, resp))
        return
    getattr(CHECKS, req.kind)(req, resp, data, elapsed_s)


def check_no_content(req, resp, elapsed_s):
    etag = need_etag(req, resp)
    if req.inm is None:
        raise Violation("204 to %s that sent no If-None-Match: %s" % (req, resp))
    if etag != req.inm:
        raise Violation("204 to %s carries ETag %s, not the If-None-Match %s it matched: %s"
                        % (req, etag, req.inm, resp))
    if req.wait:
        applied = resp.header("Preference-Applied") or ""
        m = re.match(r"^wait=([0-9]+)$", applied.replace(" ", ""))
        if not m:
            raise Violation("long-poll 204 to %s without Preference-Applied: wait=N: %s"
                            % (req, resp))
        applied_s = int(m.group(1))
        if applied_s > req.wait:
            raise Violation("%s applied wait=%d, more than asked: %s" % (req, applied_s, resp))
        # Measured from our send, so the relay's hold can only look longer
        # than it was; but its timers count from the start of the loop turn
        # that parked the poll, and a turn can take a good part of a second
        # under the sanitizers on a busy machine.
        if elapsed_s < applied_s - 1.0:
            raise Violation("long-poll %s ended with 204 after %.2f s, before its %d s wait"
                            % (req, elapsed_s, applied_s))


class CHECKS:
    @staticmethod
    def create(req, resp, data, elapsed_s):
        # Spec v1.1: create and update answers carry the stored ETag.
        need_etag(req, resp)
        m = MAILBOX_URL_RE.match(str(data.get("urlLink")))
        if not m or not isinstance(data.get("isPushNotificationSupported"), bool):
            raise Violation("create answer lacks urlLink or isPushNotificationSupported: %s" % resp)

    @staticmethod
    def read(req, resp, data, elapsed_s):
        etag = need_etag(req, resp)
        if req.inm is not None and etag == req.inm:
            raise Violation("200 to %s although the ETag %s matches If-None-Match: %s"
                            % (req, etag, resp))
        payload = data.get("payload")
        if not isinstance(payload, dict) or not isinstance(data.get("displayInformation"), dict) \
                or not EXPIRATION_RE.match(str(data.get("expiration"))):
            raise Violation("read answer lacks payload, displayInformation or expiration: %s" % resp)
        mb = req.mb
        if payload.get("data") not in mb.written:
            raise Violation("read of mailbox %s returned a payload never written to it: %s"
                            % (mb.id, resp))
        if data["displayInformation"] != mb.display:
            raise Violation("read of mailbox %s returned another displayInformation: %s"
                            % (mb.id, resp))
        if mb.expires_at is not None and data["expiration"] != rfc3339(mb.expires_at):
            raise Violation("mailbox %s expiration reads %s, it was created with %s"
                            % (mb.id, data["expiration"], rfc3339(mb.expires_at)))

    @staticmethod
    def update(req, resp, data, elapsed_s):
        # Spec v1.1: create and update answers carry the stored ETag.
        need_etag(req, resp)
        if set(data) != {"isPushNotificationSupported"} \
                or not isinstance(data["isPushNotificationSupported"], bool):
            raise Violation("update answer is not {isPushNotificationSupported}: %s" % resp)

    @staticmethod
    def delete(req, resp, data, elapsed_s):
        if data != {}:
            raise Violation("delete answered 200 with %s, expected {}" % resp)

    relinquish = delete


# ------------------------------------------------------------------ requests

def claim_of(rng):
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def payload_of(rng, mb):
    data = base64.b64encode(rng.randbytes(rng.randint(28, 300))).decode("ascii")
    mb.written.add(data)
    return {"type": rng.choice(["AEAD_AES_128_GCM", "AEAD_AES_256_GCM"]), "data": data}


class Requests:
    """Builds the requests of one scenario, each with a fresh request id
    (so that nothing is a retry by accident) and the statuses the spec
    allows for it."""

    def __init__(self, rng, tag):
        self.rng = rng
        self.tag = tag
        self.n = 0

    def rid(self):
        self.n += 1
        return "%s-%d" % (self.tag, self.n)

    def create(self, mb, request_id=None):
        body = {"payload": payload_of(self.rng, mb), "displayInformation": mb.display}
        cfg = {}
        if mb.rights is not None:
            cfg["accessRights"] = mb.rights
        if mb.expires_at is not None:
            cfg["expiration"] = rfc3339(mb.expires_at)
        if cfg:
            body["mailboxConfiguration"] = cfg
        rid = request_id or self.rid()
        allowed = {200, 503} | ({201} if request_id else set())
        if mb.expires_at is not None:
            allowed.add(400)     # only if it arrives after its expiration; see CHECKS
        return Req("create", "POST", "/v1/m", [("Mailbox-Device-Claim", mb.sender),
                                                ("Mailbox-Request-ID", rid),
                                                ("Content-Type", "application/json")],
                   json.dumps(body).encode(), allowed, mb, mb.sender, request_id=rid)

    def read(self, mb, claim, inm=None, wait=None, body=False):
        hdrs = [("Mailbox-Device-Claim", claim)]
        if inm:
            hdrs.append(("If-None-Match", inm))
        if wait:
            hdrs.append(("Prefer", "wait=%d" % wait))
        rid = self.rid()
        hdrs.append(("Mailbox-Request-ID", rid))
        raw = None
        if body:
            hdrs.append(("Content-Type", "application/json"))
            raw = b"{}"
        allowed = {200, 404} | ({204} if inm else set()) | ({503} if inm and wait else set())
        if claim != mb.sender:
            allowed.add(401)
        return Req("read", "POST", "/v1/m/%s" % mb.id, hdrs, raw, allowed, mb, claim,
                   inm=inm, wait=wait, request_id=rid)

    def update(self, mb, claim, request_id=None, if_match=None):
        hdrs = [("Mailbox-Device-Claim", claim), ("Content-Type", "application/json")]
        rid = request_id or self.rid()
        hdrs.append(("Mailbox-Request-ID", rid))
        if if_match:
            hdrs.append(("If-Match", if_match))
        body = json.dumps({"payload": payload_of(self.rng, mb)}).encode()
        allowed = {200, 404} | ({201} if request_id else set()) | ({412} if if_match else set())
        if claim != mb.sender:
            allowed.add(401)
        return Req("update", "PUT", "/v1/m/%s" % mb.id, hdrs, body, allowed, mb, claim,
                   request_id=rid)

    def delete(self, mb, claim):
        rid = self.rid()
        allowed = {200, 404} | ({401} if claim != mb.sender else set())
        return Req("delete", "DELETE", "/v1/m/%s" % mb.id,
                   [("Mailbox-Device-Claim", claim), ("Mailbox-Request-ID", rid)], None,
                   allowed, mb, claim, request_id=rid)

    def relinquish(self, mb, claim, request_id=None):
        rid = request_id or self.rid()
        allowed = {200, 401, 404} | ({201} if request_id else set())
        return Req("relinquish", "PATCH", "/v1/m/%s" % mb.id,
                   [("Mailbox-Device-Claim", claim), ("Mailbox-Request-ID", rid)], None,
                   allowed, mb, claim, request_id=rid)

    def preview(self, mb, head=False):
        return Req("preview", "HEAD" if head else "GET", "/v1/m/%s?v=a" % mb.id, [], None,
                   {200, 404}, mb)

    def odd(self, mb):
        """A request the relay refuses without closing."""
        rid = self.rid()
        choice = self.rng.randrange(5)
        if choice == 0:
            return Req("raw", "GET", "/v2/m", [("Mailbox-Request-ID", rid)], None, {404},
                       request_id=rid)
        if choice == 1:
            return Req("raw", "PUT", "/v1/m", [("Mailbox-Request-ID", rid)], b"{}", {405},
                       request_id=rid)
        if choice == 2:
            return Req("raw", "POST", "/v1/m/%s" % mb.id, [("Mailbox-Request-ID", rid)], None,
                       {401}, request_id=rid)
        if choice == 3:
            return Req("raw", "POST", "/v1/m", [("Mailbox-Device-Claim", mb.sender),
                                               ("Content-Type", "application/json"),
                                               ("Mailbox-Request-ID", rid)],
                       b'{"payload": ', {400}, request_id=rid)
        return Req("raw", "PUT", "/v1/m/%s" % mb.id, [("Mailbox-Device-Claim", mb.sender),
                                                      ("Content-Type", "text/plain"),
                                                      ("Mailbox-Request-ID", rid)],
                   b"hello", {415, 404}, request_id=rid)


# ------------------------------------------------------------------ the run

class Run:
    """One storm: `workers` coroutines start scenarios for `seconds`, while a
    thread watches the relay's stderr; violations collect in a list."""

    def __init__(self, relay, scenarios, seed, seconds, workers, max_wait_s):
        self.relay = relay
        self.seed = seed
        self.seconds = seconds
        self.workers = workers
        self.max_wait_s = max_wait_s
        self.scenarios = scenarios            # (name, weight, async fn(Scenario))
        self.addr = (relay.host, relay.port)
        self.ctx = client_context(relay.cacert)
        self.stats = collections.Counter()
        self.violations = []
        self.open_clients = set()
        self.sessions = collections.deque(maxlen=32)
        self.next_index = 0
        self.loop = None
        self.relay_gone = None
        self.peak_connections = 0

    def scenario_rng(self, index):
        return random.Random("%s:%d" % (self.seed, index))

    # -- watching the relay

    def _watch_stderr(self, stop_flag):
        seen = [0]

        def bad(lines):
            for line in lines[seen[0]:]:
                if SANITIZER_RE.search(line):
                    return True
            seen[0] = len(lines)
            return stop_flag.is_set()

        self.relay.stderr.wait_for(bad, self.seconds + 120)
        if not stop_flag.is_set():
            self.loop.call_soon_threadsafe(self.relay_gone.set)

    # -- scenarios

    async def worker(self, deadline):
        names = [name for name, _, _ in self.scenarios]
        weights = [weight for _, weight, _ in self.scenarios]
        funcs = {name: fn for name, _, fn in self.scenarios}
        while time.monotonic() < deadline and not self.relay_gone.is_set() \
                and len(self.violations) < 5:
            index = self.next_index
            self.next_index += 1
            rng = self.scenario_rng(index)
            name = rng.choices(names, weights)[0]
            self.stats["scenario " + name] += 1
            sc = Scenario(self, rng, index)
            try:
                await funcs[name](sc)
            except (Violation, Gone, OSError) as e:
                if not self.relay_gone.is_set() and self.relay.alive():
                    what = ("" if isinstance(e, Violation) else
                            "connection lost where an answer was due: " if isinstance(e, Gone)
                            else "%s: " % type(e).__name__)
                    self.violations.append("scenario #%d (%s): %s%s\n  its steps: %s"
                                           % (index, name, what, e, "; ".join(sc.trace[-15:])))
            finally:
                sc.close_all()

    async def main(self):
        self.loop = asyncio.get_running_loop()
        self.relay_gone = asyncio.Event()
        stop_flag = threading.Event()
        watcher = threading.Thread(target=self._watch_stderr, args=(stop_flag,), daemon=True)
        watcher.start()
        deadline = time.monotonic() + self.seconds
        tasks = [asyncio.ensure_future(self.worker(deadline)) for _ in range(self.workers)]
        everything = asyncio.gather(*tasks, return_exceptions=True)
        gone = asyncio.ensure_future(self.relay_gone.wait())
        # Scenarios bound their own waits; this only catches a hang in them.
        drain_s = self.max_wait_s + 2 * IO_TIMEOUT_S + SLACK_S
        await asyncio.wait([everything, gone], timeout=self.seconds + drain_s,
                           return_when=asyncio.FIRST_COMPLETED)
        hung = [t for t in tasks if not t.done()]
        for t in hung:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if hung and not self.relay_gone.is_set():
            self.violations.append("%d scenario(s) still running %.0f s after the last one "
                                   "began: the relay stopped answering" % (len(hung), drain_s))
        for t in tasks:
            if t not in hung and t.exception() is not None:
                e = t.exception()
                self.violations.append("a worker crashed (a bug in the test): %s"
                                       % "".join(traceback.format_exception(e))[-3000:])
        for c in list(self.open_clients):
            c.close()
        stop_flag.set()
        gone.cancel()
        return self.relay_gone.is_set()


class Scenario:
    """What a scenario function gets: its dice, its request builder, and
    connections that are closed when it ends."""

    def __init__(self, run, rng, index):
        self.run = run
        self.rng = rng
        self.index = index
        self.trace = []
        self.req = Requests(rng, "c%d" % index)
        self.clients = []

    def note(self, text):
        self.trace.append(text)

    def client(self, rcvbuf=None):
        c = Client(self.run, rcvbuf, resume=self.rng.random() < 0.5)
        self.clients.append(c)
        return c

    def new_mailbox(self, rights=None, lifetime_s=None):
        rng = self.rng
        display = {"title": "Key %d" % rng.randrange(10 ** 6),
                   "description": rng.choice(["", "Front door", "Room <b>12</b> & \"co\""]),
                   "imageURL": "https://example.com/k%d.png" % rng.randrange(100)}
        if rights is not None and not lifetime_s:
            lifetime_s = rng.choice([6, 20])     # accessRights needs an expiration
        return Mailbox(claim_of(rng), rights, lifetime_s, display)

    async def create(self, mb, conn=None):
        """Create mb on conn (or a fresh connection); False if the relay
        may refuse it (store full, or expiry already past)."""
        own = conn is None
        conn = conn or await self.client().open()
        req = self.req.create(mb)
        req.sent_at = time.monotonic()
        await conn.send(req.bytes())
        resp = await conn.response(req, time.monotonic() + IO_TIMEOUT_S)
        if own:
            conn.close()
        if resp.status == 400:
            if mb.expires_at is None or time.time() < mb.expires_at - 1:
                raise Violation("create with expiration %s refused while in the future: %s"
                                % (rfc3339(mb.expires_at), resp))
            return False
        if resp.status != 200:
            self.note("create %d" % resp.status)
            return False
        data = json.loads(resp.body)
        mb.url = data["urlLink"]
        mb.id = MAILBOX_URL_RE.match(mb.url).group(1)
        mb.etag = resp.header("ETag")
        self.note("created %s" % mb.id[:8])
        return True

    async def exchange(self, conn, req, timeout_s=IO_TIMEOUT_S, lenient_eof=False):
        req.sent_at = time.monotonic()
        await conn.send(req.bytes())
        return await conn.response(req, time.monotonic() + timeout_s, lenient_eof)

    def close_all(self):
        for c in self.clients:
            c.close()
