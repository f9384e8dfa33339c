"""
redistest.py — a redis-server of a test's own, and a RESP client to look
inside it.

    with RedisServer() as redis:
        ... Relay("--store", redis.url, "--store-secret-file", secret) ...
        redis.kill(); redis.start()      # gone, then back on the same port

Debian's redis-server on a free loopback port, without persistence; the
client sends commands as arrays of bulk strings and parses the replies
(errors returned as RespError, not raised).
"""
import os
import re
import secrets
import shutil
import signal
import socket
import struct
import subprocess
import tempfile
import threading
import unittest

from relaytest import (Conn, Relay, build_request, describe_status, free_port, log_events,
                       tail, wait_until)

REDIS_SERVER = shutil.which("redis-server")
SCRIPT_DIR = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "storage",
                          "redis")


def script_text(name):
    """storage/redis/<name>.lua as the relay sends it: common.lua put in
    after its #! line (tools/embed_lua.sh)."""
    with open(os.path.join(SCRIPT_DIR, name + ".lua"), "rb") as f:
        first, rest = f.read().split(b"\n", 1)
    with open(os.path.join(SCRIPT_DIR, "common.lua"), "rb") as f:
        return first + b"\n" + f.read() + rest


def unpack(data):
    """A MessagePack value (the subset Redis's cmsgpack writes), decoded
    here rather than by Redis, as a reader of a dump would: maps become
    dicts, strings bytes, integers int, floats float."""
    value, end = _unpack(data, 0)
    assert end == len(data), "%d bytes after the value: %r" % (len(data) - end, data[end:])
    return value


def _unpack(data, at):
    """The value at data[at:] and where it ends."""
    def take(n, at):
        assert at + n <= len(data), "MessagePack cut short: %r" % data
        return data[at:at + n], at + n

    def number(n, at, signed=False):
        raw, at = take(n, at)
        return int.from_bytes(raw, "big", signed=signed), at

    def items(n, at, is_map):
        out = {} if is_map else []
        for _ in range(n):
            v, at = _unpack(data, at)
            if is_map:
                out[v], at = _unpack(data, at)
            else:
                out.append(v)
        return out, at

    b, at = data[at], at + 1
    if b <= 0x7f or b >= 0xe0:                          # fixint
        return (b if b <= 0x7f else b - 0x100), at
    if 0x80 <= b <= 0x9f:                               # fixmap, fixarray
        return items(b & 0x0f, at, b <= 0x8f)
    if 0xa0 <= b <= 0xbf:                               # fixstr
        return take(b & 0x1f, at)
    if b in (0xc0, 0xc2, 0xc3):
        return {0xc0: None, 0xc2: False, 0xc3: True}[b], at
    width = {0xc4: 1, 0xc5: 2, 0xc6: 4, 0xd9: 1, 0xda: 2, 0xdb: 4}.get(b)
    if width:                                           # bin, str
        n, at = number(width, at)
        return take(n, at)
    if b in (0xdc, 0xdd, 0xde, 0xdf):                   # array, map
        n, at = number(2 if b in (0xdc, 0xde) else 4, at)
        return items(n, at, b >= 0xde)
    if 0xcc <= b <= 0xd3:                               # uint, int
        return number(1 << ((b - 0xcc) % 4), at, signed=b >= 0xd0)
    if b in (0xca, 0xcb):                               # float 32, 64
        raw, at = take(4 if b == 0xca else 8, at)
        return struct.unpack(">f" if b == 0xca else ">d", raw)[0], at
    raise AssertionError("not MessagePack that cmsgpack writes: 0x%02x in %r" % (b, data))


START_TIMEOUT_S = 10.0
IO_TIMEOUT_S = 10.0


class RespError(Exception):
    pass


class Resp:
    """One connection to redis-server: commands out as arrays of bulk
    strings, replies parsed (errors returned as RespError, not raised)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT_S)
        self.buf = b""

    def close(self):
        self.sock.close()

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            if isinstance(a, int):
                a = str(a)
            if isinstance(a, str):
                a = a.encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise AssertionError("redis-server closed the connection")
        self.buf += chunk

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _exactly(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def reply(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            return RespError(rest.decode("utf-8", "replace"))
        if kind == b":":
            return int(rest)
        if kind == b"$":
            return None if int(rest) < 0 else self._exactly(int(rest))
        if kind == b"*":
            return None if int(rest) < 0 else [self.reply() for _ in range(int(rest))]
        raise AssertionError("not a RESP reply: %r" % line)

    def call(self, *args):
        self.send(*args)
        r = self.reply()
        if isinstance(r, RespError):
            raise AssertionError("redis %r: %s" % (args[:2], r))
        return r



class PortTaken(Exception):
    """redis-server could not bind the port chosen for it."""


class RedisServer:
    """redis-server on a free port, killed on leaving the block. args are
    extra command-line options (e.g. "--requirepass", "pw"); preexec_fn runs
    in the child before exec; its files go in a directory made under
    parent_dir (None: the system's temporary directory)."""

    def __init__(self, *args, preexec_fn=None, parent_dir=None):
        self.args = [str(a) for a in args]
        self.preexec_fn = preexec_fn
        self.parent_dir = parent_dir
        self.proc = None
        self.dir = None
        self.port = None

    def __enter__(self):
        if REDIS_SERVER is None:
            raise unittest.SkipTest("redis-server is not installed (apt-get install redis-server)")
        self.dir = tempfile.mkdtemp(prefix="relay-redis-", dir=self.parent_dir)
        try:
            # A port found free may be taken before redis-server binds it
            # (another test's relay on port 0): then another one.
            for attempt in range(5):
                self.port = free_port()
                try:
                    self.start()
                    return self
                except PortTaken:
                    if attempt == 4:
                        raise
        except BaseException:
            self.__exit__(None, None, None)
            raise

    def __exit__(self, *exc):
        self.kill()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def start(self):
        """Start (again, on the same port) and wait until it answers."""
        log = os.path.join(self.dir, "redis.log")
        self.proc = subprocess.Popen(
            [REDIS_SERVER, "--save", "", "--appendonly", "no", "--port", str(self.port),
             "--bind", "127.0.0.1", "--dir", self.dir, "--logfile", log] + self.args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT,
            preexec_fn=self.preexec_fn)

        def answers():
            if self.proc.poll() is not None:
                with open(log, errors="replace") as f:
                    text = f.read()
                if "Address already in use" in text:
                    raise PortTaken(self.port)
                raise AssertionError("redis-server ended at start (%s): %r" % (
                    describe_status(self.proc.returncode), tail(text)))
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=1) as s:
                    s.sendall(b"*1\r\n$4\r\nPING\r\n")
                    # PONG, or an error (NOAUTH with a password, LOADING):
                    # Redis's own answer, not whatever else holds the port.
                    reply = s.recv(64)
                    return reply.startswith(b"+PONG") or reply.startswith(b"-")
            except OSError:
                return False
        wait_until(answers, START_TIMEOUT_S, "redis-server to answer on port %d" % self.port)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def pause(self):
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self):
        self.proc.send_signal(signal.SIGCONT)

    def client(self, password=None):
        c = Resp(self.port)
        if password is not None:
            c.call("AUTH", password)
        return c


class ReplyGate:
    """A loopback proxy in front of redis-server that can hold back Redis's
    replies on the relay's command connections, while its subscription
    connection (the one that sent PSUBSCRIBE) passes freely: a change Redis
    ran after a read then reaches the relay before that read's reply, as it
    may when two sockets deliver them. hold(), then release() in a finally."""

    def __init__(self, redis):
        self.redis = redis
        self.cond = threading.Condition()
        self.holding = False
        self.held = []              # (socket, bytes) in the order Redis sent them
        self.sent = {}              # command word -> times the relay sent it
        self.published = 0          # pmessages passed to the relay
        self.socks = []

    def __enter__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.release()
        self.listener.close()
        with self.cond:
            for s in self.socks:
                s.close()

    @property
    def url(self):
        return "redis://127.0.0.1:%d" % self.port

    def _accept(self):
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.redis.port))
            link = {"sub": False, "tail": b""}
            with self.cond:
                self.socks += [client, server]
            threading.Thread(target=self._up, args=(client, server, link), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, link), daemon=True).start()

    def _up(self, client, server, link):
        for chunk in iter(lambda: client.recv(65536), b""):
            server.sendall(chunk)
            text = (link["tail"] + chunk).upper()
            link["tail"] = chunk[-16:]
            with self.cond:
                if b"PSUBSCRIBE" in text:
                    link["sub"] = True
                for word in (b"EVALSHA", b"EVAL"):
                    n = len(re.findall(rb"\$%d\r\n%s\r\n" % (len(word), word), text))
                    self.sent[word.decode()] = self.sent.get(word.decode(), 0) + n
                self.cond.notify_all()

    def _down(self, server, client, link):
        try:
            for chunk in iter(lambda: server.recv(65536), b""):
                with self.cond:
                    if self.holding and not link["sub"]:
                        self.held.append((client, chunk))
                        continue
                    client.sendall(chunk)
                    if link["sub"]:
                        self.published += chunk.count(b"pmessage")
                        self.cond.notify_all()
        except OSError:
            pass

    def hold(self):
        with self.cond:
            self.holding = True

    def release(self):
        with self.cond:
            self.holding = False
            for client, chunk in self.held:
                try:
                    client.sendall(chunk)
                except OSError:
                    pass
            self.held = []

    def wait(self, predicate, timeout_s, what):
        with self.cond:
            if not self.cond.wait_for(predicate, timeout_s):
                raise AssertionError("timed out after %.0f s waiting for %s" % (timeout_s, what))


REDIS_SENTINEL = shutil.which("redis-sentinel")


class Sentinel:
    """redis-sentinel on a free port watching master `name` at port
    master_port, quick to judge (down after 1 s); killed on leaving."""

    def __init__(self, name, master_port):
        self.name = name
        self.master_port = master_port
        self.proc = None
        self.dir = None

    def __enter__(self):
        if REDIS_SENTINEL is None:
            raise unittest.SkipTest("redis-sentinel is not installed (apt-get install "
                                    "redis-sentinel)")
        self.dir = tempfile.mkdtemp(prefix="relay-sentinel-")
        self.port = free_port()
        conf = os.path.join(self.dir, "sentinel.conf")
        with open(conf, "w") as f:
            f.write("port %d\nbind 127.0.0.1\ndir %s\nlogfile %s\n"
                    "sentinel monitor %s 127.0.0.1 %d 2\n"
                    "sentinel down-after-milliseconds %s 1000\n"
                    "sentinel failover-timeout %s 5000\n"
                    "sentinel parallel-syncs %s 2\n" % (
                        self.port, self.dir, os.path.join(self.dir, "sentinel.log"),
                        self.name, self.master_port, self.name, self.name, self.name))
        self.proc = subprocess.Popen([REDIS_SENTINEL, conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        try:
            wait_until(self._knows_master, START_TIMEOUT_S,
                       "redis-sentinel on port %d to know its master" % self.port)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def _knows_master(self):
        try:
            c = Resp(self.port)
        except OSError:
            return False
        try:
            return c.call("SENTINEL", "get-master-addr-by-name", self.name) is not None
        finally:
            c.close()

    def master_port_now(self):
        c = Resp(self.port)
        try:
            return int(c.call("SENTINEL", "get-master-addr-by-name", self.name)[1])
        finally:
            c.close()

    def __exit__(self, *exc):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()
        if self.dir is not None:
            shutil.rmtree(self.dir, ignore_errors=True)


def resp_bulk(data):
    """data as one RESP bulk string."""
    if isinstance(data, str):
        data = data.encode()
    return b"$%d\r\n%s\r\n" % (len(data), data)


def resp_message(payload, channel="+switch-master"):
    """A pub/sub message as a sentinel sends it to a subscriber."""
    return b"*3\r\n" + resp_bulk("message") + resp_bulk(channel) + resp_bulk(payload)


class FakeSentinelConn:
    """One connection a FakeSentinel accepted: what it was asked, and a way
    to send it anything."""

    def __init__(self, sock):
        self.sock = sock
        self.commands = []          # each a list of bytes arguments
        self.closed = threading.Event()
        self.subscribed = threading.Event()
        self.mute = False           # answer nothing from now on
        self.sending = threading.Lock()

    def send(self, data):
        with self.sending:          # whole frames, from the test and the server
            self.sock.sendall(data)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass

    def wait_closed(self, timeout_s=10):
        if not self.closed.wait(timeout_s):
            raise AssertionError("the relay kept a connection to the fake sentinel open")


class FakeSentinel:
    """A sentinel of the test's own on a free port, speaking just enough
    RESP: SENTINEL get-master-addr-by-name answers with master (a
    (host, port) the test may change) for `name`, SUBSCRIBE is confirmed,
    anything else is an error. silent=True answers nothing at all, and
    after_answer is sent right behind each answer, as if part of it. A test
    sends its subscribers what a real sentinel would not."""

    def __init__(self, name, master_port, silent=False, after_answer=b""):
        self.name = name
        self.master = ("127.0.0.1", master_port)
        self.silent = silent
        self.after_answer = after_answer
        self.conns = []
        self.lock = threading.Lock()
        self.listener = None

    def __enter__(self):
        self.listener = socket.socket()
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(64)
        self.port = self.listener.getsockname()[1]
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def __exit__(self, *exc):
        self.listener.close()
        with self.lock:
            for c in self.conns:
                c.close()

    def _accept(self):
        while True:
            try:
                sock, _ = self.listener.accept()
            except OSError:
                return
            conn = FakeSentinelConn(sock)
            with self.lock:
                self.conns.append(conn)
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        reader = Resp.__new__(Resp)
        reader.sock, reader.buf = conn.sock, b""
        try:
            while True:
                command = reader.reply()
                with self.lock:
                    conn.commands.append(command)
                if self.silent or conn.mute or not isinstance(command, list) or not command:
                    continue
                verb = command[0].upper()
                if verb == b"SENTINEL" and command[1:3] == [b"get-master-addr-by-name",
                                                            self.name.encode()]:
                    conn.send(b"*2\r\n" + resp_bulk(self.master[0]) +
                              resp_bulk(str(self.master[1])) + self.after_answer)
                elif verb == b"SUBSCRIBE":
                    for n, channel in enumerate(command[1:], 1):
                        conn.send(b"*3\r\n" + resp_bulk("subscribe") + resp_bulk(channel) +
                                  b":%d\r\n" % n)
                    conn.subscribed.set()
                else:
                    conn.send(b"-ERR the fake sentinel knows no %s\r\n" % verb)
        except (AssertionError, OSError, ValueError):
            pass
        finally:
            conn.sock.close()
            conn.closed.set()

    def asks(self):
        """How many times it was asked where the master is."""
        with self.lock:
            return sum(1 for c in self.conns for cmd in c.commands
                       if cmd[:2] == [b"SENTINEL", b"get-master-addr-by-name"])

    def subscribers(self):
        with self.lock:
            return [c for c in self.conns if c.subscribed.is_set()]

    def wait_subscriber(self, after=None, timeout_s=10):
        """The connection subscribed last, once it is another than after."""
        def new():
            subs = self.subscribers()
            return subs[-1] if subs and subs[-1] is not after else None
        return wait_until(new, timeout_s, "the relay to subscribe at the fake sentinel")


class Secret:
    """A --store-secret-file of size bytes in a directory of its own."""

    def __init__(self, size=48):
        self.size = size

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="relay-secret-")
        self.path = os.path.join(self.dir, "secret")
        with open(self.path, "wb") as f:
            f.write(secrets.token_bytes(self.size))
        return self.path

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)


def store_args(redis, secret, *more):
    return ["--store", redis.url, "--store-secret-file", secret] + list(more)


class StoreRelay(Relay):
    """A relay over Redis, entered once it has said its store is reachable
    (until then it answers 503, as whenever Redis is away)."""

    def __enter__(self):
        super().__enter__()
        try:
            if not self.stderr.wait_for(lambda ls: any(
                    e["msg"] == "the store is reachable" for e in log_events(ls)), 10):
                raise AssertionError("the relay never reached Redis: %r" % self.stderr.text())
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self


def park(relay, mb, claim, etag='"1"', wait=30, also=""):
    """A long-poll on relay that the relay holds: its connection."""
    conn = Conn(relay, timeout_s=40)
    conn.send(build_request("POST", mb.path, [("Mailbox-Device-Claim", claim),
                                              ("If-None-Match", etag + also),
                                              ("Prefer", "wait=%d" % wait)]))
    assert not conn.data_within(0.3), "answered at once: %s" % conn.read_response("POST")
    return conn
