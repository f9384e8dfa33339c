"""
gorush_standin — a stand-in for a gorush push gateway, for the push tests.

It speaks HTTP/1.1 on 127.0.0.1 (keep-alive, one thread per connection),
plain or over TLS with a throwaway certificate made by `openssl`, and follows
gorush's documented API: `POST /api/push` with a JSON body
`{"notifications": [{"tokens": [...], "platform": N, ...}]}` is answered 200
with `{"counts": <notifications>, "logs": [...], "success": "ok"}`, where
`logs` holds gorush's per-token failure reports
`{"type": "failed-push", "platform": "ios", "token": ..., "message": "",
"error": ...}` for the tokens a test chose to fail.

Every request is recorded (method, path, headers, body, parsed JSON, arrival
and answer times, which connection) and a test may change behaviour at any
time: answer normally, answer a status (503 + Retry-After, 500, ...) for the
next K requests or from now on, sleep before each answer, answer garbage,
close in the middle of a response, fail chosen tokens. "Down" is simply a
stand-in that is not started: its URL names a free port nobody listens on,
and start() may bring it up there later.

Nothing here sleeps to synchronise: wait_for()/wait_for_token() wait on a
condition variable with a deadline.
"""

import json
import os
import shutil
import socket
import ssl
import subprocess
import tempfile
import threading
import time

PLATFORM_NAMES = {1: "ios", 2: "android", 3: "huawei"}

# What the stand-in does with one request.
NORMAL = "normal"
STATUS = "status"          # answer `status` (with Retry-After if given)
GARBAGE = "garbage"        # non-HTTP bytes, then close
CLOSE_MID = "close-mid"    # half a response head and body, then close
CLOSE = "close"            # close without a byte

GARBAGE_BYTES = b"\x16\x03\x01\x00\xffthis is not HTTP at all\x00\xfe\r\n\r\n"


def free_port(host="127.0.0.1"):
    with socket.socket() as s:
        s.bind((host, 0))
        return s.getsockname()[1]


class Request:
    """One request the stand-in received."""

    def __init__(self, conn_id, method, path, version, headers, body, received_at):
        self.conn_id = conn_id
        self.method = method
        self.path = path
        self.version = version
        self.headers = headers            # list of (name, value), in order
        self.body = body
        self.received_at = received_at    # time.monotonic() once the body was in
        self.answered_at = None           # time.monotonic() once the answer was sent
        self.action = None                # what the stand-in answered (NORMAL, STATUS, ...)
        self.status = None
        try:
            self.json = json.loads(body.decode("utf-8")) if body else None
        except (UnicodeDecodeError, ValueError):
            self.json = None

    def header(self, name, default=None):
        name = name.lower()
        for n, v in self.headers:
            if n.lower() == name:
                return v
        return default

    def notifications(self):
        if isinstance(self.json, dict) and isinstance(self.json.get("notifications"), list):
            return self.json["notifications"]
        return []

    def tokens(self):
        out = []
        for n in self.notifications():
            if isinstance(n, dict) and isinstance(n.get("tokens"), list):
                out += [t for t in n["tokens"] if isinstance(t, str)]
        return out

    def __repr__(self):
        return "<%s %s conn %d at %.3f: %r>" % (self.method, self.path, self.conn_id,
                                                 self.received_at, self.body[:300])


# ------------------------------------------------------------ certificates

def _openssl(*args, cwd):
    proc = subprocess.run(["openssl"] + list(args), cwd=cwd, stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    if proc.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args),
                                                        proc.stderr.decode("utf-8", "replace")))


class CertAuthority:
    """A throwaway CA (EC P-256) that signs server certificates, made with the
    openssl command line in a private temporary directory."""

    def __init__(self, name="relay-test-gateway-ca"):
        self.dir = tempfile.mkdtemp(prefix="gorush-ca-")
        self.cert = os.path.join(self.dir, "ca.pem")
        self.key = os.path.join(self.dir, "ca.key")
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", self.key, "-out", self.cert, "-days", "2",
                 "-subj", "/CN=%s" % name,
                 "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", cwd=self.dir)
        self._serial = 0

    def issue(self, cn="localhost", san="DNS:localhost"):
        """A server certificate for cn/san signed by this CA: (cert, key) paths."""
        self._serial += 1
        base = os.path.join(self.dir, "leaf%d" % self._serial)
        ext = base + ".ext"
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\n"
                    "keyUsage=critical,digitalSignature\n"
                    "extendedKeyUsage=serverAuth\n"
                    "subjectAltName=%s\n" % san)
        _openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256",
                 "-nodes", "-keyout", base + ".key", "-out", base + ".csr",
                 "-subj", "/CN=%s" % cn, cwd=self.dir)
        _openssl("x509", "-req", "-in", base + ".csr", "-CA", self.cert, "-CAkey", self.key,
                 "-set_serial", str(1000 + self._serial), "-days", "2", "-extfile", ext,
                 "-out", base + ".pem", cwd=self.dir)
        return base + ".pem", base + ".key"

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)


# ---------------------------------------------------------------- the server

class GorushStandin:
    """
        with GorushStandin() as gw:                      # plain HTTP, ephemeral port
            ... relay --push-gateway gw.url ...
            assert gw.wait_for(1, 5.0)

        gw = GorushStandin(start=False)                  # "down": nobody listens
        ... later: gw.start()                            # up on the same port

        GorushStandin(tls=(cert_path, key_path))         # HTTPS; url is https://localhost:PORT
        GorushStandin(tls=..., tls_max_version=ssl.TLSVersion.TLSv1_2)   # and no TLS 1.3
    """

    def __init__(self, tls=None, port=None, start=True, host="127.0.0.1", tls_max_version=None):
        self.host = host
        self.port = port or free_port(host)
        self.tls = tls
        self.scheme = "https" if tls else "http"
        # The certificate names localhost (which resolves to 127.0.0.1 here).
        self.url = "%s://%s:%d" % (self.scheme, "localhost" if tls else host, self.port)
        self._cond = threading.Condition()
        self._requests = []
        self._connections = 0          # accepted
        self._handshake_failures = 0   # TLS handshakes that did not complete
        self._closed_without_request = 0  # connections that ended before a request
        self._default = (NORMAL, None)  # (action, status/retry-after info)
        self._script = []              # one-shot actions, consumed in order
        self._delay_s = 0.0
        self._delay_script = []        # one-shot delays, consumed in order
        self._fail_tokens = {}
        self._stopping = threading.Event()
        self._listener = None
        self._threads = []
        self._socks = set()
        self._ssl_ctx = None
        if tls:
            self._ssl_ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            self._ssl_ctx.load_cert_chain(tls[0], tls[1])
            if tls_max_version is not None:
                self._ssl_ctx.maximum_version = tls_max_version
        if start:
            self.start()

    # -- life cycle

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def running(self):
        return self._listener is not None

    def start(self):
        """Listen (again) on self.port."""
        if self._listener is not None:
            return self
        self._stopping.clear()
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind((self.host, self.port))
        s.listen(64)
        self._listener = s
        t = threading.Thread(target=self._accept_loop, args=(s,), daemon=True)
        t.start()
        self._threads.append(t)
        return self

    def stop(self):
        """Stop listening and close every connection ("down" from now on)."""
        listener, self._listener = self._listener, None
        self._stopping.set()
        if listener is not None:
            try:
                listener.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            listener.close()
        with self._cond:
            socks = list(self._socks)
            self._cond.notify_all()
        for s in socks:
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        for t in list(self._threads):
            t.join(5.0)
        self._threads = [t for t in self._threads if t.is_alive()]

    # -- behaviours (may be changed at any time)

    def answer_normally(self):
        """200 for every request from now on; forget scripted answers and delays."""
        with self._cond:
            self._default = (NORMAL, None)
            self._script = []
            self._delay_s = 0.0
            self._delay_script = []

    def answer_status(self, status, count=None, retry_after=None):
        """Answer `status` (e.g. 503, 500, 429) to the next `count` requests,
        or to every request from now on when count is None; with
        `Retry-After: retry_after` when given."""
        self._set(STATUS, (status, retry_after), count)

    def answer_garbage(self, count=None):
        self._set(GARBAGE, None, count)

    def close_mid_response(self, count=None):
        self._set(CLOSE_MID, None, count)

    def close_without_answer(self, count=None):
        self._set(CLOSE, None, count)

    def _set(self, action, info, count):
        with self._cond:
            if count is None:
                self._default = (action, info)
            else:
                self._script += [(action, info)] * count

    def slow(self, seconds, count=None):
        """Sleep this long before answering each request (0: answer at once),
        or only before the next `count` requests."""
        with self._cond:
            if count is None:
                self._delay_s = float(seconds)
            else:
                self._delay_script += [float(seconds)] * count

    def fail_token(self, token, error):
        """Report `token` as failed with this provider error in every 200 answer
        whose request carries it (None: stop failing it)."""
        with self._cond:
            if error is None:
                self._fail_tokens.pop(token, None)
            else:
                self._fail_tokens[token] = error

    # -- what was received

    def requests(self):
        with self._cond:
            return list(self._requests)

    def push_requests(self):
        return [r for r in self.requests() if r.method == "POST" and r.path == "/api/push"]

    def notifications(self):
        """(request, notification) for every notification received, in order."""
        return [(r, n) for r in self.requests() for n in r.notifications()]

    def requests_with_token(self, token):
        return [r for r in self.requests() if token in r.tokens()]

    def token_count(self, token):
        """How many times `token` was received (in any notification of any request)."""
        return sum(r.tokens().count(token) for r in self.requests())

    @property
    def connections(self):
        with self._cond:
            return self._connections

    @property
    def handshake_failures(self):
        with self._cond:
            return self._handshake_failures

    def wait_for(self, n, timeout):
        """True once at least n requests were received; False at the deadline."""
        return self._wait(lambda: len(self._requests) >= n, timeout)

    def wait_for_token(self, token, n=1, timeout=5.0):
        """True once `token` was received at least n times; False at the deadline."""
        return self._wait(lambda: sum(r.tokens().count(token) for r in self._requests) >= n,
                          timeout)

    @property
    def closed_without_request(self):
        with self._cond:
            return self._closed_without_request

    def wait_for_closed_without_request(self, n, timeout):
        """True once at least n connections (TLS handshake failures included)
        ended without a single request."""
        return self._wait(lambda: self._closed_without_request >= n, timeout)

    def wait_for_connections(self, n, timeout):
        """True once at least n connections were accepted."""
        return self._wait(lambda: self._connections >= n, timeout)

    def wait_for_handshake_failures(self, n, timeout):
        return self._wait(lambda: self._handshake_failures >= n, timeout)

    def wait_until(self, predicate, timeout):
        """True once predicate(requests) holds; False at the deadline."""
        return self._wait(lambda: predicate(list(self._requests)), timeout)

    def _wait(self, cond, timeout):
        deadline = time.monotonic() + timeout
        with self._cond:
            while not cond():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(remaining)
            return True

    def describe(self, limit=12):
        reqs = self.requests()
        lines = ["%d request(s) on %d connection(s)" % (len(reqs), self.connections)]
        for r in reqs[-limit:]:
            lines.append("  t=%.3f conn=%d %s %s -> %s %r" % (
                r.received_at, r.conn_id, r.method, r.path, r.action, r.body[:400]))
        return "\n".join(lines)

    # -- serving

    def _accept_loop(self, listener):
        while not self._stopping.is_set():
            try:
                sock, _ = listener.accept()
            except OSError:
                return
            with self._cond:
                self._connections += 1
                conn_id = self._connections
                self._socks.add(sock)
                self._cond.notify_all()
            t = threading.Thread(target=self._serve, args=(sock, conn_id), daemon=True)
            t.start()
            self._threads.append(t)

    def _serve(self, sock, conn_id):
        raw = sock
        try:
            sock.settimeout(0.5)
            if self._ssl_ctx is not None:
                sock.settimeout(10.0)
                try:
                    sock = self._ssl_ctx.wrap_socket(sock, server_side=True)
                except (ssl.SSLError, OSError):
                    with self._cond:
                        self._handshake_failures += 1
                        self._closed_without_request += 1
                        self._cond.notify_all()
                    return
                sock.settimeout(0.5)
            buf = bytearray()
            served = 0
            while not self._stopping.is_set():
                req, buf = self._read_request(sock, buf, conn_id)
                if req is None:
                    if served == 0 and not self._stopping.is_set():
                        with self._cond:
                            self._closed_without_request += 1
                            self._cond.notify_all()
                    return
                served += 1
                if not self._answer(sock, req):
                    return
        except OSError:
            return
        finally:
            with self._cond:
                self._socks.discard(raw)
            try:
                sock.close()
            except OSError:
                pass

    def _recv(self, sock):
        """Some bytes, b"" at EOF, None when stopping."""
        while not self._stopping.is_set():
            try:
                return sock.recv(65536)
            except (socket.timeout, TimeoutError):
                continue
            except ssl.SSLWantReadError:
                continue
            except (ConnectionError, ssl.SSLError):
                return b""
        return None

    def _read_request(self, sock, buf, conn_id):
        while b"\r\n\r\n" not in buf:
            data = self._recv(sock)
            if not data:
                return None, buf
            buf += data
            if len(buf) > 1 << 20:
                return None, buf
        end = buf.index(b"\r\n\r\n")
        head = bytes(buf[:end]).decode("latin-1")
        del buf[:end + 4]
        lines = head.split("\r\n")
        parts = lines[0].split(" ")
        method, path, version = (parts + ["", "", ""])[:3]
        headers = []
        for line in lines[1:]:
            if ":" in line:
                n, v = line.split(":", 1)
                headers.append((n.strip(), v.strip()))
        hmap = {n.lower(): v for n, v in headers}
        body = b""
        if "chunked" in hmap.get("transfer-encoding", "").lower():
            body = bytearray()
            while True:
                while b"\r\n" not in buf:
                    data = self._recv(sock)
                    if not data:
                        return None, buf
                    buf += data
                i = buf.index(b"\r\n")
                size = int(bytes(buf[:i]).split(b";")[0].strip() or b"0", 16)
                del buf[:i + 2]
                while len(buf) < size + 2:
                    data = self._recv(sock)
                    if not data:
                        return None, buf
                    buf += data
                body += buf[:size]
                del buf[:size + 2]
                if size == 0:
                    break
            body = bytes(body)
        elif "content-length" in hmap:
            n = int(hmap["content-length"])
            while len(buf) < n:
                data = self._recv(sock)
                if not data:
                    return None, buf
                buf += data
            body = bytes(buf[:n])
            del buf[:n]
        req = Request(conn_id, method, path, version, headers, body, time.monotonic())
        return req, buf

    def _answer(self, sock, req):
        """Answer req as the current behaviour says; False when the connection
        is to be closed."""
        with self._cond:
            if self._script:
                action, info = self._script.pop(0)
            else:
                action, info = self._default
            delay = self._delay_script.pop(0) if self._delay_script else self._delay_s
            fail_tokens = dict(self._fail_tokens)
            req.action = action
            self._requests.append(req)
            self._cond.notify_all()
        if delay > 0 and self._stopping.wait(delay):
            return False
        keep_alive = (req.version == "HTTP/1.1"
                      and (req.header("Connection") or "").lower() != "close")
        if action == GARBAGE:
            self._send(sock, GARBAGE_BYTES, req)
            return False
        if action == CLOSE:
            self._mark_answered(req)
            return False
        if action == CLOSE_MID:
            self._send(sock, b"HTTP/1.1 200 OK\r\nContent-Type: application/json; charset=utf-8"
                             b"\r\nContent-Length: 120\r\n\r\n{\"counts\":1,\"lo", req)
            return False
        if action == STATUS:
            status, retry_after = info
            body = json.dumps({"error": "stand-in answers %d" % status}).encode()
            extra = [("Retry-After", str(retry_after))] if retry_after is not None else []
            req.status = status
            return self._respond(sock, req, status, body, extra, keep_alive)
        # NORMAL: gorush's own checks first (Go's net/http demands Host in HTTP/1.1).
        if req.version == "HTTP/1.1" and req.header("Host") is None:
            req.status = 400
            return self._respond(sock, req, 400, b"400 Bad Request: missing required Host header",
                                 [], False, ctype="text/plain; charset=utf-8")
        if req.method != "POST" or req.path != "/api/push":
            req.status = 404
            return self._respond(sock, req, 404, b"404 page not found", [], keep_alive,
                                 ctype="text/plain")
        notes = req.notifications()
        if not notes:
            req.status = 400
            return self._respond(sock, req, 400, json.dumps(
                {"message": "Request body is empty or notifications is empty"}).encode(),
                [], keep_alive)
        logs = []
        for n in notes:
            platform = n.get("platform") if isinstance(n, dict) else None
            for tok in (n.get("tokens") or []) if isinstance(n, dict) else []:
                if tok in fail_tokens:
                    logs.append({"type": "failed-push",
                                 "platform": PLATFORM_NAMES.get(platform, str(platform)),
                                 "token": tok, "message": "", "error": fail_tokens[tok]})
        body = json.dumps({"counts": len(notes), "logs": logs, "success": "ok"}).encode()
        req.status = 200
        return self._respond(sock, req, 200, body, [], keep_alive)

    def _respond(self, sock, req, status, body, extra, keep_alive,
                 ctype="application/json; charset=utf-8"):
        reasons = {200: "OK", 400: "Bad Request", 404: "Not Found", 429: "Too Many Requests",
                   500: "Internal Server Error", 502: "Bad Gateway", 503: "Service Unavailable"}
        lines = ["HTTP/1.1 %d %s" % (status, reasons.get(status, "Status")),
                 "Content-Type: %s" % ctype,
                 "Content-Length: %d" % len(body),
                 "Date: %s" % time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime())]
        lines += ["%s: %s" % hv for hv in extra]
        if not keep_alive:
            lines.append("Connection: close")
        data = ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body
        return self._send(sock, data, req) and keep_alive

    def _send(self, sock, data, req):
        try:
            sock.sendall(data)
            ok = True
        except OSError:
            ok = False
        self._mark_answered(req)
        return ok

    def _mark_answered(self, req):
        with self._cond:
            req.answered_at = time.monotonic()
            self._cond.notify_all()
