"""benchlib — what bench.py, footprint.py and longpoll.py share.

Starting the relay and nginx pinned to a CPU, reading a process's CPU time and
RSS from /proc, the one certificate both servers use, the requests of the
"1 KiB workload", and a small pipelining HTTPS client (several keep-alive
connections, many requests in flight on each) that creates mailboxes fast.

Only the standard library: the bench must run wherever `make deps` and
`make deps` ran.
"""
import base64
import json
import os
import re
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.normpath(os.path.join(HERE, "..", ".."))
BUILD = os.path.join(ROOT, "build", "bench")
CERT = os.path.join(BUILD, "cert.pem")
KEY = os.path.join(BUILD, "key.pem")
PAYLOAD_FILE = os.path.join(BUILD, "payload.b64")

SERVER_CPU = os.environ.get("BENCH_SERVER_CPU", "0")
CLIENT_CPU = os.environ.get("BENCH_CLIENT_CPU", "1")
CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE = os.sysconf("SC_PAGE_SIZE")

# The 1 KiB workload: the payload's *decoded* data is 1024 bytes, so `data`
# is 1368 base64 characters. Display information and token as a phone
# would send them (an APNs token is 32 bytes, 64 hex characters).
PAYLOAD_BYTES = 1024
DISPLAY = {"title": "Front door", "description": "Home key from Alex",
           "imageURL": "https://example.com/door.png"}


def log(*args):
    print("bench:", *args, file=sys.stderr, flush=True)


def die(msg):
    log("error:", msg)
    sys.exit(1)


def ensure_dirs():
    os.makedirs(BUILD, exist_ok=True)


def payload_b64():
    """The same 1024 random bytes for every run (wrk scripts read the file)."""
    ensure_dirs()
    if not os.path.exists(PAYLOAD_FILE):
        data = base64.b64encode(os.urandom(PAYLOAD_BYTES)).decode()
        with open(PAYLOAD_FILE + ".tmp", "w") as f:
            f.write(data)
        os.replace(PAYLOAD_FILE + ".tmp", PAYLOAD_FILE)
    with open(PAYLOAD_FILE) as f:
        data = f.read().strip()
    assert len(data) == 1368, len(data)
    return data


def ensure_cert():
    """One ECDSA P-256 certificate and key for the relay and nginx."""
    ensure_dirs()
    if os.path.exists(CERT) and os.path.exists(KEY):
        return
    subprocess.run(["openssl", "ecparam", "-name", "prime256v1", "-genkey",
                    "-noout", "-out", KEY], check=True)
    subprocess.run(["openssl", "req", "-new", "-x509", "-key", KEY, "-out", CERT,
                    "-days", "3650", "-subj", "/CN=localhost",
                    "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# ---------------------------------------------------------------- /proc

def cpu_ticks(pids):
    """utime + stime of these processes (all their threads), in clock ticks."""
    total = 0
    for pid in pids:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])   # utime, stime
    return total


def rss_bytes(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise RuntimeError("no VmRSS")


def children(pid):
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as f:
            return [int(x) for x in f.read().split()]
    except OSError:
        return []


def settle(pid, quiet_ticks=1, interval=0.2, timeout=10.0):
    """Wait until the process (or list of processes) has (almost) stopped
    using CPU."""
    pids = pid if isinstance(pid, list) else [pid]
    deadline = time.time() + timeout
    last = cpu_ticks(pids)
    while time.time() < deadline:
        time.sleep(interval)
        now = cpu_ticks(pids)
        if now - last <= quiet_ticks:
            return
        last = now


# ---------------------------------------------------------------- servers

class Server:
    """A server process we started, and how to reach it."""

    def __init__(self, name, proc, port, pids_fn):
        self.name = name
        self.proc = proc
        self.port = port
        self._pids_fn = pids_fn

    @property
    def pid(self):
        return self.proc.pid

    def pids(self):
        return self._pids_fn()

    def ticks(self):
        return cpu_ticks(self.pids())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def relay_binary():
    path = os.environ.get("RELAY", os.path.join(ROOT, "relay"))
    if not os.access(path, os.X_OK):
        die(f"{path} not found: run make first")
    return path


def start_relay(extra_args=(), nofile=None, log_name="relay.log"):
    """Start ./relay on a free port, pinned to SERVER_CPU, with our cert."""
    ensure_cert()
    nofile = nofile or hard_nofile()
    logpath = os.path.join(BUILD, log_name)
    args = ["taskset", "-c", SERVER_CPU,
            "prlimit", f"--nofile={nofile}:{nofile}",
            relay_binary(), "--listen", "127.0.0.1:0",
            "--cert", CERT, "--key", KEY, "--log-level", "warn"] + list(extra_args)
    logf = open(logpath, "w")
    # prlimit and taskset exec the relay, so proc.pid is the relay's pid.
    proc = subprocess.Popen(args, stdout=logf, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    deadline = time.time() + 15
    port = None
    while time.time() < deadline:
        if proc.poll() is not None:
            break
        with open(logpath) as f:
            m = re.search(r"listening on https://127\.0\.0\.1:(\d+)", f.read())
        if m:
            port = int(m.group(1))
            break
        time.sleep(0.05)
    if port is None:
        proc.kill()
        with open(logpath) as f:
            die("relay did not start: " + f.read()[-2000:])
    # exec chain done: make sure we measure the relay and not a wrapper
    with open(f"/proc/{proc.pid}/comm") as f:
        comm = f.read().strip()
    if comm != "relay":
        die(f"expected pid {proc.pid} to be the relay, it is {comm}")
    return Server("relay", proc, port, lambda: [proc.pid])


def hard_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard == resource.RLIM_INFINITY:
        hard = 1 << 20
    return hard


def raise_nofile():
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


def nginx_binary():
    for p in (os.environ.get("NGINX"), shutil.which("nginx"), "/usr/sbin/nginx"):
        if p and os.access(p, os.X_OK):
            return p
    die("nginx not found: run make deps")


def nginx_body(size, fill="x"):
    """A JSON object of exactly `size` bytes: {"pad":"xxx…"}."""
    head, tail = '{"pad":"', '"}'
    n = size - len(head) - len(tail)
    if n < 0:
        return "x" * size
    return head + fill * n + tail


def start_nginx(sizes):
    """nginx, one worker, same cert, TLS 1.2 / ECDHE-ECDSA-AES128-GCM-SHA256,
    answering each of the relay's routes with `return 200` and a body the
    size the relay answered for that route (sizes: create, read, update,
    preview)."""
    ensure_cert()
    d = os.path.join(BUILD, "nginx")
    os.makedirs(os.path.join(d, "tmp"), exist_ok=True)
    port = free_port()
    nofile = hard_nofile()
    # The routes are told apart as the relay tells them apart: POST /v1/m is
    # create; on /v1/m/{id}, POST reads, PUT updates and GET is the preview.
    conf = f"""# generated by test/bench/benchlib.py — do not edit
worker_processes 1;
worker_rlimit_nofile {nofile};
daemon off;
master_process on;
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{
    worker_connections {min(nofile, 20000)};
}}
http {{
    access_log off;
    server_tokens off;
    keepalive_requests 100000000;
    keepalive_timeout 300s;
    client_body_temp_path {d}/tmp;
    proxy_temp_path {d}/tmp;
    fastcgi_temp_path {d}/tmp;
    uwsgi_temp_path {d}/tmp;
    scgi_temp_path {d}/tmp;
    client_max_body_size 64k;
    client_body_buffer_size 64k;
    map $request_method $bench_body {{
        default '{nginx_body(sizes["read"])}';
        PUT '{nginx_body(sizes["update"])}';
        GET '{nginx_body(sizes["preview"])}';
        HEAD '{nginx_body(sizes["preview"])}';
    }}
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {CERT};
        ssl_certificate_key {KEY};
        ssl_protocols TLSv1.2;
        ssl_ciphers ECDHE-ECDSA-AES128-GCM-SHA256;
        ssl_prefer_server_ciphers on;
        ssl_ecdh_curve X25519:prime256v1;
        default_type application/json;
        add_header Cache-Control no-store always;
        add_header Strict-Transport-Security "max-age=31536000" always;
        location = /v1/m {{
            return 200 '{nginx_body(sizes["create"])}';
        }}
        location /v1/m/ {{
            return 200 $bench_body;
        }}
    }}
}}
"""
    path = os.path.join(d, "nginx.conf")
    with open(path, "w") as f:
        f.write(conf)
    logf = open(os.path.join(d, "stdout.log"), "w")
    proc = subprocess.Popen(["taskset", "-c", SERVER_CPU, nginx_binary(),
                             "-c", path, "-p", d + "/", "-e", d + "/error.log"],
                            stdout=logf, stderr=subprocess.STDOUT,
                            stdin=subprocess.DEVNULL)
    deadline = time.time() + 10
    while time.time() < deadline:
        if proc.poll() is not None:
            with open(os.path.join(d, "error.log")) as f:
                die("nginx did not start: " + f.read()[-2000:])
        if children(proc.pid):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                pass
        time.sleep(0.05)
    else:
        proc.kill()
        die("nginx did not start listening")
    return Server("nginx", proc, port, lambda: [proc.pid] + children(proc.pid))


# ---------------------------------------------------------------- requests

def claim():
    return str(uuid.uuid4())


def token_hex():
    return os.urandom(32).hex()


class Workload:
    """Request bodies of the 1 KiB workload, built once."""

    def __init__(self):
        self.data = payload_b64()
        pl = {"type": "AEAD_AES_128_GCM", "data": self.data}
        self.update_body = json.dumps({"payload": pl}, separators=(",", ":")).encode()
        # create: payload, display information and a notification token
        self.create_prefix = json.dumps(
            {"payload": pl, "displayInformation": DISPLAY}, separators=(",", ":")
        )[:-1].encode() + b',"notificationToken":{"type":"com.apple.apns","tokenData":"'
        self.create_suffix = b'"}}'

    def create_body(self):
        return self.create_prefix + token_hex().encode() + self.create_suffix

    def create_request(self, host, sender):
        body = self.create_body()
        return (b"POST /v1/m HTTP/1.1\r\nHost: " + host.encode() +
                b"\r\nMailbox-Device-Claim: " + sender.encode() +
                b"\r\nContent-Type: application/json\r\nContent-Length: " +
                str(len(body)).encode() + b"\r\n\r\n" + body)

    @staticmethod
    def read_request(host, path, who, extra=b""):
        return (b"POST " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() +
                b"\r\nMailbox-Device-Claim: " + who.encode() +
                b"\r\nContent-Length: 0\r\n" + extra + b"\r\n")

    def update_request(self, host, path, who):
        return (b"PUT " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() +
                b"\r\nMailbox-Device-Claim: " + who.encode() +
                b"\r\nContent-Type: application/json\r\nContent-Length: " +
                str(len(self.update_body)).encode() + b"\r\n\r\n" + self.update_body)

    @staticmethod
    def preview_request(host, path):
        return (b"GET " + path.encode() + b" HTTP/1.1\r\nHost: " + host.encode() +
                b"\r\n\r\n")


def client_context():
    ctx = ssl.create_default_context(cafile=CERT)
    ctx.check_hostname = False   # we connect to 127.0.0.1; the chain is checked
    return ctx


class Response:
    __slots__ = ("status", "headers", "body")

    def __init__(self, status, headers, body):
        self.status = status
        self.headers = headers
        self.body = body

    def header(self, name):
        return self.headers.get(name.lower())


def _parse_responses(buf, out, want_headers):
    """Take complete responses off the front of buf; return the rest."""
    pos = 0
    n = len(buf)
    while True:
        end = buf.find(b"\r\n\r\n", pos)
        if end < 0:
            break
        head = buf[pos:end]
        line_end = head.find(b"\r\n")
        status = int(head[9:12])
        cl = 0
        i = head.find(b"\r\nContent-Length:")
        if i < 0:
            i = head.lower().find(b"\r\ncontent-length:")
        if i >= 0:
            j = head.find(b"\r\n", i + 2)
            cl = int(head[i + 17:j if j >= 0 else len(head)])
        body_start = end + 4
        if body_start + cl > n:
            break
        headers = None
        if want_headers:
            headers = {}
            for hl in head[line_end + 2:].split(b"\r\n"):
                k, _, v = hl.partition(b":")
                headers[k.decode().strip().lower()] = v.decode().strip()
        out.append(Response(status, headers, buf[body_start:body_start + cl]))
        pos = body_start + cl
    return buf[pos:]


class Conn:
    """One blocking keep-alive HTTPS connection that can pipeline."""

    def __init__(self, port, ctx=None, timeout=60):
        ctx = ctx or client_context()
        raw = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = ctx.wrap_socket(raw, server_hostname="localhost")
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.buf = b""

    def pipeline(self, requests, want_headers=True):
        """Send all requests at once, return their responses in order."""
        self.sock.sendall(b"".join(requests))
        out = []
        while len(out) < len(requests):
            chunk = self.sock.recv(262144)
            if not chunk:
                raise ConnectionError(f"closed after {len(out)} of {len(requests)} responses")
            self.buf = _parse_responses(self.buf + chunk, out, want_headers)
        return out

    def request(self, req):
        return self.pipeline([req])[0]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def run_pipelined(port, jobs, conns=8, depth=64, want_headers=False, on_batch=None):
    """Send `jobs` (a list of request bytes) over `conns` connections, `depth`
    requests in flight on each; return the responses in the jobs' order.

    The relay is the bottleneck (it runs on the other CPU); the client's
    Python work per request is a few microseconds."""
    n = len(jobs)
    results = [None] * n
    errors = []
    next_index = [0]
    lock = threading.Lock()
    ctx = client_context()

    def worker():
        try:
            c = Conn(port, ctx)
        except Exception as e:   # noqa: BLE001 — reported below
            errors.append(e)
            return
        try:
            while True:
                with lock:
                    start = next_index[0]
                    if start >= n:
                        return
                    stop = min(n, start + depth)
                    next_index[0] = stop
                resps = c.pipeline(jobs[start:stop], want_headers)
                results[start:stop] = resps
                if on_batch:
                    on_batch(start, resps)
        except Exception as e:   # noqa: BLE001
            errors.append(e)
        finally:
            c.close()

    threads = [threading.Thread(target=worker) for _ in range(conns)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise RuntimeError(f"pipelined client: {errors[0]!r}")
    return results


class Created:
    """What create_mailboxes made: how many, the failures by status, and the
    mailboxes kept as (path, sender, receiver, etag)."""

    def __init__(self):
        self.count = 0
        self.failures = {}
        self.first_failure = None
        self.boxes = []


def create_mailboxes(port, count, bind_receiver=True, conns=8, depth=64, keep=None,
                     allow_fail=False):
    """Create `count` mailboxes of the 1 KiB workload (payload, display
    information, token), each with a fresh Sender claim; optionally read each
    kept one once with a fresh Receiver claim so that a Receiver is bound.

    Keeps every mailbox, or about `keep` of them spread evenly (to spare
    memory at a million). A failed create raises, unless allow_fail, where
    it is counted and creation stops after the chunk it happened in."""
    wl = Workload()
    host = f"127.0.0.1:{port}"
    out = Created()
    chunk = 50000
    stride = max(1, count // keep) if keep else 1
    for base in range(0, count, chunk):
        k = min(chunk, count - base)
        senders = [claim() for _ in range(k)]
        reqs = [wl.create_request(host, s) for s in senders]
        resps = run_pipelined(port, reqs, conns, depth)
        paths = [None] * k
        for i, r in enumerate(resps):
            if r.status != 200:
                if not allow_fail:
                    raise RuntimeError(f"create #{base + i}: HTTP {r.status} {r.body[:200]!r}")
                out.failures[r.status] = out.failures.get(r.status, 0) + 1
                if out.first_failure is None:
                    out.first_failure = (base + i, r.status, r.body[:200])
                continue
            link = json.loads(r.body)["urlLink"]
            paths[i] = link[link.index("/v1/m/"):]
            out.count += 1
        idx = [i for i in range(k) if (base + i) % stride == 0 and paths[i]]
        receivers = {}
        etags = {}
        if bind_receiver and idx:
            rc = {i: claim() for i in idx}
            reads = [Workload.read_request(host, paths[i], rc[i]) for i in idx]
            rr = run_pipelined(port, reads, conns, depth, want_headers=True)
            for i, r in zip(idx, rr):
                if r.status != 200:
                    raise RuntimeError(f"bind read: HTTP {r.status} {r.body[:200]!r}")
                receivers[i] = rc[i]
                etags[i] = r.header("etag")
        for i in idx:
            out.boxes.append((paths[i], senders[i], receivers.get(i, "-"), etags.get(i, "-")))
        if out.failures:
            break
    return out


def write_mailbox_file(path, boxes):
    with open(path, "w") as f:
        for p, s, r, e in boxes:
            f.write(f"{p} {s} {r} {e}\n")


def response_sizes(port, box):
    """The relay's body size for each route, on one mailbox of the workload."""
    wl = Workload()
    c = Conn(port)
    host = c.host
    path, sender, receiver, _ = box
    sizes = {}
    r = c.request(wl.create_request(host, claim()))
    assert r.status == 200, r.status
    sizes["create"] = len(r.body)
    r = c.request(Workload.read_request(host, path, receiver))
    assert r.status == 200, r.status
    sizes["read"] = len(r.body)
    r = c.request(wl.update_request(host, path, sender))
    assert r.status == 200, r.status
    sizes["update"] = len(r.body)
    r = c.request(Workload.preview_request(host, path))
    assert r.status == 200, r.status
    sizes["preview"] = len(r.body)
    c.close()
    return sizes
