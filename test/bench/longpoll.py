#!/usr/bin/env python3
"""longpoll — memory per parked long-poll and time from update to wake-up.

Against a fresh relay (started here, pinned to the server CPU), or over
Redis (--store redis) against two: relay A holding the long-polls and
relay B taking the Sender's updates, both over one redis-server, so that
each wake-up crosses Redis's pub/sub (issue 15):

 1. create N mailboxes of the 1 KiB workload and bind a Receiver to each
    (its first read gives the ETag); over Redis, half through each relay;
 2. baseline RSS (of relay A);
 3. open N TLS connections to relay A (resuming one session ticket, so
    that setting up 10,000 connections does not take 10,000 full
    handshakes) — RSS;
    TLS 1.3 or 1.2 (--tls), the cipher suite the relay picks from Python's
    default offer;
 4. on each, the Receiver parks a long-poll: POST /v1/m/{id} with
    If-None-Match: <etag> and Prefer: wait=N — once the relay's metrics
    count them parked, RSS; none may be answered yet;
 5. one by one, the Sender updates each mailbox over one keep-alive
    connection (to relay B over Redis); the wake-up time is from the moment
    the update's answer arrived to the moment the waiter's answer arrived
    (both seen by this one event loop; negative when the waiter's answer
    came first), and from the moment the update was sent.

Prints a human summary and one `BENCH_RESULT {json}` line.
"""
import argparse
import asyncio
import json
import os
import ssl
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402


def percentile(values, p):
    if not values:
        return float("nan")
    s = sorted(values)
    k = min(len(s) - 1, int(round(p / 100.0 * (len(s) - 1))))
    return s[k]


class ResumingContext(ssl.SSLContext):
    """asyncio gives no way to pass a session; the context hands it over."""
    session = None

    def wrap_bio(self, incoming, outgoing, server_side=False,
                 server_hostname=None, session=None):
        return super().wrap_bio(incoming, outgoing, server_side, server_hostname,
                                session or self.session)


TLS_VERSIONS = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}


def make_context(tls):
    ctx = ResumingContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.load_verify_locations(bl.CERT)
    ctx.check_hostname = False
    ctx.minimum_version = ctx.maximum_version = TLS_VERSIONS[tls]
    return ctx


class HTTPClient(asyncio.Protocol):
    """One connection; answers complete a future each, in order."""

    def __init__(self):
        self.transport = None
        self.buf = b""
        self.waiting = []        # futures, one per request in flight
        self.arrivals = []       # (monotonic time the answer completed, status)
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport):
        self.transport = transport

    def send(self, data):
        fut = asyncio.get_running_loop().create_future()
        self.waiting.append(fut)
        self.transport.write(data)
        return fut

    def data_received(self, data):
        t = time.perf_counter()
        self.buf += data
        while True:
            end = self.buf.find(b"\r\n\r\n")
            if end < 0:
                return
            head = self.buf[:end]
            cl = 0
            for line in head.split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                if k.strip().lower() == b"content-length":
                    cl = int(v)
            if len(self.buf) < end + 4 + cl:
                return
            status = int(head[9:12])
            self.buf = self.buf[end + 4 + cl:]
            self.arrivals.append((t, status))
            if self.waiting:
                fut = self.waiting.pop(0)
                if not fut.done():
                    fut.set_result((t, status))

    def connection_lost(self, exc):
        for fut in self.waiting:
            if not fut.done():
                fut.set_exception(ConnectionError("closed"))
        if not self.closed.done():
            self.closed.set_result(True)


async def connect_all(port, ctx, n, concurrency=64):
    loop = asyncio.get_running_loop()
    sem = asyncio.Semaphore(concurrency)
    conns = [None] * n

    async def one(i):
        async with sem:
            for attempt in range(5):
                try:
                    _, proto = await loop.create_connection(
                        HTTPClient, "127.0.0.1", port, ssl=ctx,
                        server_hostname="localhost", ssl_handshake_timeout=60)
                    conns[i] = proto
                    return
                except OSError:
                    if attempt == 4:
                        raise
                    await asyncio.sleep(0.1)

    await asyncio.gather(*(one(i) for i in range(n)))
    return conns


async def until(cond, timeout_s, interval_s=0.02):
    """Wait until cond() holds (True), or timeout_s (False)."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        if time.monotonic() >= deadline:
            return False
        await asyncio.sleep(interval_s)
    return True


def connections(relay, state):
    """The relay's API connections in this state (its admin metrics)."""
    return bl.metrics(relay.admin_port)[f'relay_connections{{state="{state}"}}']


# A wake-up not seen within this is lost; after this many lost ones the
# Sender stops, so that a relay that lost them all cannot hold the bench
# for N times the timeout.
WAKE_TIMEOUT_S = 5
LOST_MAX = 10


async def measure(relay, boxes, wait_s, log, tls, updater=None):
    """Park a long-poll for each of boxes on relay, then update them one by
    one through updater (relay when None) and time each wake-up."""
    port = relay.port
    upd_port = (updater or relay).port
    n = len(boxes)
    host = f"127.0.0.1:{port}"
    upd_host = f"127.0.0.1:{upd_port}"
    wl = bl.Workload()
    ctx = make_context(tls)

    # One blocking connection to get a session ticket all the others resume.
    # In TLS 1.3 the ticket comes after the handshake, before the answer:
    # the session is taken once the answer is in.
    import socket
    raw = socket.create_connection(("127.0.0.1", port))
    s = ctx.wrap_socket(raw, server_hostname="localhost")
    s.sendall(bl.Workload.preview_request(host, boxes[0][0]))
    s.recv(65536)
    ctx.session = s.session
    version, cipher = s.version(), s.cipher()[0]
    s.close()

    # the admin listener's answer allocates once: before the baseline
    connections(relay, "parked")
    bl.settle(relay.pid)
    rss_base = bl.rss_bytes(relay.pid)
    log(f"longpoll: {n} mailboxes, relay RSS {rss_base / 2**20:.1f} MiB; connecting {n}")
    t0 = time.time()
    conns = await connect_all(port, ctx, n)
    resumed = sum(1 for c in conns if c.transport.get_extra_info("ssl_object").session_reused)
    t_connect = time.time() - t0
    # the client is done with each handshake before the relay is
    await until(lambda: connections(relay, "idle") >= n, 30)
    bl.settle(relay.pid)
    rss_conn = bl.rss_bytes(relay.pid)
    log(f"longpoll: {n} {version} connections in {t_connect:.1f}s ({resumed} resumed), "
        f"RSS {rss_conn / 2**20:.1f} MiB; parking")

    waits = []
    extra = (b'If-None-Match: ' + b'%s' + b'\r\nPrefer: wait=' + str(wait_s).encode() + b'\r\n')
    for c, (path, sender, receiver, etag) in zip(conns, boxes):
        req = bl.Workload.read_request(host, path, receiver, extra.replace(b"%s", etag.encode()))
        waits.append(c.send(req))
    # Parked (over Redis, once the store said the version is the one held),
    # or answered early: each one either way.
    all_parked = await until(
        lambda: connections(relay, "parked") + sum(1 for w in waits if w.done()) >= n, 60)
    bl.settle(relay.pid)
    rss_parked = bl.rss_bytes(relay.pid)
    early = sum(1 for w in waits if w.done())
    early_statuses = {}
    for w in waits:
        if w.done() and not w.exception():
            early_statuses[w.result()[1]] = early_statuses.get(w.result()[1], 0) + 1
    log(f"longpoll: parked{'' if all_parked else ' (not all in 60 s)'}, "
        f"RSS {rss_parked / 2**20:.1f} MiB, {early} answered early; waking")

    # the updater: the Sender writes, over its own keep-alive connection
    loop = asyncio.get_running_loop()
    _, upd = await loop.create_connection(HTTPClient, "127.0.0.1", upd_port, ssl=ctx,
                                          server_hostname="localhost")
    wake_after_resp = []
    wake_after_send = []
    update_failed = wake_failed = 0
    lost = []                    # indexes of waiters not woken in time
    statuses = {}                # waiters' answers that were not 200
    not_updated = 0              # the Sender stopped before them
    for i, (path, sender, receiver, etag) in enumerate(boxes):
        if waits[i].done():
            continue             # answered early: counted above
        if len(lost) >= LOST_MAX:
            not_updated += 1
            continue
        t_send = time.perf_counter()
        t_resp, status = await upd.send(wl.update_request(upd_host, path, sender))
        if status != 200:
            update_failed += 1
            statuses[f"update {status}"] = statuses.get(f"update {status}", 0) + 1
            continue
        try:
            t_wake, wstatus = await asyncio.wait_for(asyncio.shield(waits[i]), WAKE_TIMEOUT_S)
        except asyncio.TimeoutError:
            lost.append(i)
            continue
        except ConnectionError:
            wake_failed += 1
            statuses["closed"] = statuses.get("closed", 0) + 1
            continue
        if wstatus != 200:
            wake_failed += 1
            statuses[str(wstatus)] = statuses.get(str(wstatus), 0) + 1
            continue
        wake_after_resp.append((t_wake - t_resp) * 1e6)
        wake_after_send.append((t_wake - t_send) * 1e6)
    # lost ones answered since, later than WAKE_TIMEOUT_S
    late = sum(1 for i in lost if waits[i].done())
    upd.transport.close()
    for c in conns:
        c.transport.close()
    await until(lambda: all(c.closed.done() for c in conns + [upd]), 10)

    clamp = [max(0.0, x) for x in wake_after_resp]
    res = {
        "tls_version": version,
        "cipher": cipher,
        "waiters": n,
        "connect_s": round(t_connect, 2),
        "resumed": resumed,
        "rss_base": rss_base,
        "rss_connected": rss_conn,
        "rss_parked": rss_parked,
        "bytes_per_connection": (rss_conn - rss_base) / n,
        "bytes_per_waiter": (rss_parked - rss_base) / n,
        "bytes_per_park": (rss_parked - rss_conn) / n,
        "early": early,
        "early_statuses": early_statuses,
        # every waiter not woken with a 200 in time after a 200 update
        "failed": early + update_failed + wake_failed + len(lost) + not_updated,
        "update_failed": update_failed,
        "wake_failed": wake_failed,
        "lost": len(lost),
        "lost_late": late,
        "not_updated": not_updated,
        "statuses": statuses,
        "woken": len(wake_after_resp),
        "wake_p50_us": percentile(clamp, 50),
        "wake_p99_us": percentile(clamp, 99),
        "wake_max_us": max(clamp) if clamp else float("nan"),
        "wake_before_update_answer": sum(1 for x in wake_after_resp if x < 0),
        "wake_from_send_p50_us": percentile(wake_after_send, 50),
        "wake_from_send_p99_us": percentile(wake_after_send, 99),
        "wake_from_send_max_us": max(wake_after_send) if wake_after_send else float("nan"),
        "update_rtt_median_us": statistics.median(
            [(a - b) for a, b in zip(wake_after_send, wake_after_resp)]) if wake_after_send else 0,
    }
    return res


STORES = ("memory", "redis")


def run(waiters, wait_s=250, log=bl.log, tls="1.3", store="memory", tag="longpoll"):
    """One measurement on fresh servers, all pinned to the server CPU:
    store "memory", one relay; "redis", relay A (the waiters) and relay B
    (the updates) over one redis-server. Logs in build/bench/ named after
    tag. Every server started is stopped before it returns."""
    bl.raise_nofile()
    options = [
        # The relay refuses more than its descriptor limit can hold (it
        # keeps 64 for itself).
        "--max-connections", str(min(waiters * 2 + 100, bl.hard_nofile() - 64)),
        "--max-waiters", str(waiters * 2),
        "--max-wait", f"{wait_s + 50}s",
        "--handshake-timeout", "120s",
        "--header-timeout", "300s",
        "--idle-timeout", "300s",
        "--max-mailboxes", "2000000", "--max-memory", "4g",
    ]
    started = []
    try:
        if store == "memory":
            relay = bl.start_relay(options, log_name=f"relay-{tag}-tls{tls}.log", admin=True)
            started.append(relay)
            updater = None
            boxes = bl.create_mailboxes(relay.port, waiters).boxes
        elif store == "redis":
            redis = bl.start_redis(f"redis-{tag}")
            started.append(redis)
            over = ["--store", f"redis://127.0.0.1:{redis.port}",
                    "--store-secret-file", bl.store_secret()]
            relay = bl.start_relay(options + over, log_name=f"relay-{tag}-redis-a-tls{tls}.log",
                                   ready="the store is reachable", admin=True)
            started.append(relay)
            updater = bl.start_relay(options + over, log_name=f"relay-{tag}-redis-b-tls{tls}.log",
                                     ready="the store is reachable")
            started.append(updater)
            # A change is heard only once a relay's subscription is up.
            deadline = time.time() + 15
            while bl.redis_pattern_subscribers(redis.port) < 2:
                if time.time() > deadline:
                    raise RuntimeError("the relays did not both subscribe to Redis in 15 s")
                time.sleep(0.02)
            # Either relay's mailboxes are every relay's: half through each.
            boxes = (bl.create_mailboxes(relay.port, waiters // 2).boxes +
                     bl.create_mailboxes(updater.port, waiters - waiters // 2).boxes)
        else:
            raise ValueError(f"store {store!r}: not one of {STORES}")
        res = asyncio.run(measure(relay, boxes, wait_s, log, tls, updater))
        res["store"] = store
        for server in started:
            if server.proc.poll() is not None:
                raise RuntimeError(f"{server.name} (pid {server.pid}) exited during the "
                                   "long-poll test")
        return res
    finally:
        # in reverse: the relays before their Redis
        for server in reversed(started):
            server.stop()


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--waiters", type=int, default=int(os.environ.get("BENCH_WAITERS", 10000)))
    ap.add_argument("--tls", choices=sorted(TLS_VERSIONS), default="1.3",
                    help="TLS version of the waiters' connections (1.3)")
    ap.add_argument("--store", choices=STORES, default="memory",
                    help="memory: one relay; redis: waiters on relay A, updates on relay B, "
                         "both over one redis-server (memory)")
    args = ap.parse_args()
    try:
        os.sched_setaffinity(0, {int(bl.CLIENT_CPU)})
    except OSError:
        pass
    res = run(args.waiters, tls=args.tls, store=args.store)
    print(f"{res['waiters']} parked long-polls over {res['tls_version']} ({res['cipher']}), "
          f"{res['store']} store: "
          f"{res['bytes_per_waiter']:.0f} B each above baseline "
          f"({res['bytes_per_connection']:.0f} B the connection, "
          f"{res['bytes_per_park']:.0f} B the parked request); "
          f"wake-up after the update's answer p50 {res['wake_p50_us']:.0f} us, "
          f"p99 {res['wake_p99_us']:.0f} us, max {res['wake_max_us']:.0f} us; "
          f"{res['failed']} failed ({res['lost']} lost), {res['early']} early")
    print("BENCH_RESULT " + json.dumps(res))


if __name__ == "__main__":
    main()
