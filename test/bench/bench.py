#!/usr/bin/env python3
"""bench — the relay against nginx, scenario by scenario, in one run.

Both servers run pinned to CPU 0 (BENCH_SERVER_CPU), one after the other
within each scenario; the load generator (wrk for keep-alive requests,
tlsload for handshakes) runs on CPU 1 (BENCH_CLIENT_CPU), 64 connections.
Each measurement is a warm-up, then BENCH_SECONDS of load; the server's CPU
time (utime+stime from /proc, master+worker for nginx) is read just before
and just after the measured window and divided by the requests completed.
The memory scenarios (idle connections, parked long-polls) measure a fresh
relay of their own, alone. The store scenarios (redis-create, redis-read,
redis-update; opt-in) measure three deployments instead of relay and nginx:
the relay with its memory store, one relay over one redis-server, and
HAProxy (holding TLS) in front of two relays over one redis-server, each
one's CPU the sum of all its processes. redis-wake (opt-in too) times a
long-poll's wake-up across two relays over one redis-server (waiters on
one, updates on the other) against one relay with its memory store.

Settings (environment): BENCH_RUNS (1; 3 for the medians the targets are
stated in), BENCH_SECONDS (10), BENCH_WARMUP (2), BENCH_CONNECTIONS (64),
BENCH_MAILBOXES (10000), BENCH_WAITERS (10000), BENCH_WAKE_WAITERS (1000),
BENCH_IDLE (2000), BENCH_KEEPALIVE_TLS (1.2), BENCH_PERF (0), BENCH_SCENARIOS
(DEFAULT_SCENARIOS, any of ALL_SCENARIOS; handshake, resume and longpoll
still name the TLS 1.2 ones; redis names the four store scenarios).

Writes build/bench/results.md and results.json, raw tool output to
build/bench/logs/, and prints the table.
"""
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402
import longpoll  # noqa: E402

KEEPALIVE = ["create", "read", "update", "preview", "mixed"]
# A new connection per request: tlsload's mode and the TLS version.
HANDSHAKES = {"handshake12": ("full", "1.2"), "resume12": ("resume", "1.2"),
              "handshake13": ("full", "1.3"), "resume13": ("resume", "1.3")}
# Relay only, each on a fresh relay: the TLS version. Long-polls get the
# suite the relay picks from Python's offer; idle connections those below.
IDLE = {"idle12": "1.2", "idle13": "1.3"}
LONGPOLL = {"longpoll12": "1.2", "longpoll13": "1.3"}
# Idle connections, per version: (result name, suite). An AES-GCM
# connection holds about 1 KB more than a ChaCha20-Poly1305 one (two GCM
# contexts, each with its AES context), so TLS 1.2 is measured with the
# suite the relay picks when offered (ChaCha20-Poly1305, the figure issue
# 12's target is checked against) and with the handshake scenarios' one;
# TLS 1.3 with TLS_AES_128_GCM_SHA256, which the relay takes from clients
# that offer it first (phones and browsers do).
IDLE_SUITES = {"1.2": [("idle12", bl.TLS12_RELAY_CIPHER), ("idle12-aes-gcm", bl.TLS12_CIPHER)],
               "1.3": [("idle13", bl.TLS13_CIPHER)]}
# The store scenarios (issue 15): a keep-alive load (the wrk script named)
# on three deployments in the same run, every process of each counted:
# "memory", the relay with its memory store (the baseline); "redis", one
# relay over one redis-server; "haproxy", HAProxy holding TLS in front of
# two relays (plain HTTP) over one redis-server, as README.md's "Running
# several relays" sets them up. Each deployment has its own Redis.
STORE = {"redis-create": "create", "redis-read": "read", "redis-update": "update"}
STORE_TARGETS = ["memory", "redis", "haproxy"]
STORE_KINDS = ["relays", "redis", "haproxy"]
# The long-poll across relays (issue 15): BENCH_WAKE_WAITERS long-polls
# parked on relay A, woken by the Sender's updates through relay B, both
# over one redis-server ("redis"), and the same on one relay with its
# memory store ("memory"), in the same run: the TLS version of the
# waiters, TLS 1.2 as longpoll12's.
WAKE = {"redis-wake": "1.2"}
WAKE_TARGETS = list(longpoll.STORES)
# Issue 15's target: the wake-up's p99 across relays on loopback.
WAKE_P99_LIMIT_US = 5000
ALL_SCENARIOS = (KEEPALIVE + list(HANDSHAKES) + list(IDLE) + list(LONGPOLL) + list(STORE) +
                 list(WAKE))
# All but longpoll13, which takes half a minute to tell what idle13 tells
# (a parked request adds a few bytes to its connection), and has no
# target: the issue's long-poll target is stated on TLS 1.2; and but the
# store scenarios, which compare the relay with itself, not nginx, and take
# over two minutes together (three deployments to fill with mailboxes, then
# three windows per scenario), nor redis-wake, the long-poll across relays
# over Redis.
DEFAULT_SCENARIOS = [x for x in ALL_SCENARIOS
                     if x != "longpoll13" and x not in STORE and x not in WAKE]
# The names from before TLS 1.3, which meant TLS 1.2 and still do; and
# "redis" for every store scenario.
ALIASES = {"handshake": ["handshake12"], "resume": ["resume12"], "longpoll": ["longpoll12"],
           "redis": list(STORE) + list(WAKE)}
TARGETS = ["relay", "nginx"]
# The ratios of the last measurement on mbedTLS 2.28 (test/bench/README.md,
# "Latest results" of 2026-11-29: medians of 3, keep-alive over TLS 1.2),
# which issue 12 asks read and preview not to fall behind.
BEFORE_MBEDTLS_3 = {"read": {"cpu_us": 1.25, "rps": 0.81},
                    "preview": {"cpu_us": 1.30, "rps": 0.79}}


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


RUNS = env_int("BENCH_RUNS", 1)
SECONDS = env_int("BENCH_SECONDS", 10)     # wrk takes whole seconds
WARMUP = env_int("BENCH_WARMUP", 2)
SLICES = env_int("BENCH_SLICES", 5)
CONNS = env_int("BENCH_CONNECTIONS", 64)
MAILBOXES = env_int("BENCH_MAILBOXES", 10000)
WAITERS = env_int("BENCH_WAITERS", 10000)
# redis-wake's: a few seconds of updates, one at a time, each waited for
WAKE_WAITERS = env_int("BENCH_WAKE_WAITERS", 1000)
IDLE_CONNS = env_int("BENCH_IDLE", 2000)
KEEPALIVE_TLS = os.environ.get("BENCH_KEEPALIVE_TLS", "1.2")
PERF = os.environ.get("BENCH_PERF", "0") == "1"
SCENARIOS = list(dict.fromkeys(
    y for x in os.environ.get("BENCH_SCENARIOS", " ".join(DEFAULT_SCENARIOS)).split()
    for y in ALIASES.get(x, [x])))
LUA = os.path.join(bl.HERE, "lua")
LOGS = os.path.join(bl.BUILD, "logs")
TLSLOAD = os.path.join(bl.BUILD, "tlsload")


def build_tlsload():
    src = os.path.join(bl.HERE, "tlsload.c")
    if (os.path.exists(TLSLOAD) and
            os.path.getmtime(TLSLOAD) >= os.path.getmtime(src)):
        return
    cc = os.environ.get("CC", "cc")
    subprocess.run([cc, "-O2", "-Wall", "-Wextra", "-o", TLSLOAD, src,
                    "-lssl", "-lcrypto", "-pthread"], check=True)


def run_client(cmd, env, log_path):
    """Run the load generator; return (stdout, its own CPU seconds)."""
    with open(log_path, "w") as logf:
        logf.write("$ " + " ".join(cmd) + "\n")
        logf.flush()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=logf, env=env)
        out = proc.stdout.read().decode(errors="replace")
        _, status, ru = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        logf.write(out)
    if proc.returncode != 0:
        raise RuntimeError(f"{os.path.basename(cmd[3])} exited {proc.returncode}; see {log_path}")
    return out, ru.ru_utime + ru.ru_stime


def parse_result(out, what):
    for line in out.splitlines():
        if line.startswith("BENCH_RESULT "):
            return json.loads(line[len("BENCH_RESULT "):])
    raise RuntimeError(f"{what}: no BENCH_RESULT line in:\n{out[-2000:]}")


def client_cmd(scenario, port, seconds, reqfile):
    if scenario in HANDSHAKES:
        mode, version = HANDSHAKES[scenario]
        return ["taskset", "-c", bl.CLIENT_CPU, TLSLOAD, "-p", str(port), "-v", version,
                "-c", str(CONNS), "-d", str(seconds), "-m", mode, "-r", reqfile]
    script = STORE.get(scenario, scenario) + ".lua"
    return ["taskset", "-c", bl.CLIENT_CPU, "wrk", "-t1", f"-c{CONNS}",
            f"-d{max(1, round(seconds))}s", "--latency", "-s", os.path.join(LUA, script),
            f"https://127.0.0.1:{port}"]


def server_env(server, env):
    """The client's environment for this server: a deployment of the store
    scenarios has its own mailboxes (BENCH_MAILBOXES)."""
    extra = getattr(server, "env", None)
    return dict(env, **extra) if extra else env


def server_ticks(server):
    """The server's CPU ticks, and for a deployment of several processes
    the same by kind of process (else None)."""
    if isinstance(server, bl.Deployment):
        kinds = server.kind_ticks()
        return sum(kinds.values()), kinds
    return server.ticks(), None


def expected_tls(scenario):
    """(version, cipher) tlsload must have negotiated in a handshake
    scenario: the one suite per version that both servers are held to."""
    version = HANDSHAKES[scenario][1]
    return ({"1.2": "TLSv1.2", "1.3": "TLSv1.3"}[version],
            bl.TLS12_CIPHER if version == "1.2" else bl.TLS13_CIPHER)


def start_perf(server, tag):
    """perf record of the server during the measured window (BENCH_PERF=1).
    perf runs on the client's CPU; its sampling interrupts still land on
    the server's, so a profiled run's CPU figures are not for the table."""
    data = os.path.join(bl.BUILD, f"perf-{tag}.data")
    logf = open(os.path.join(LOGS, f"perf-{tag}.txt"), "w")
    proc = subprocess.Popen(["taskset", "-c", bl.CLIENT_CPU, "perf", "record", "-F", "499",
                             "--call-graph", "dwarf", "-p", ",".join(map(str, server.pids())),
                             "-o", data], stdout=logf, stderr=subprocess.STDOUT)
    return proc, data, logf


def stop_perf(perf, tag):
    """Stop perf record and write two reports as text into build/bench/:
    perf-TAG.txt, time spent in each function itself with the call chains
    that led there, and perf-TAG-inclusive.txt, time spent in each function
    and what it called (where a handshake's steps show whole: key share,
    signature, key schedule)."""
    proc, data, logf = perf
    proc.send_signal(signal.SIGINT)
    proc.wait()
    logf.close()
    report = os.path.join(bl.BUILD, f"perf-{tag}.txt")
    with open(report, "w") as f:
        subprocess.run(["perf", "report", "-i", data, "--no-children", "--percent-limit", "2",
                        "--stdio"], stdout=f, stderr=subprocess.DEVNULL, check=True)
    inclusive = os.path.join(bl.BUILD, f"perf-{tag}-inclusive.txt")
    with open(inclusive, "w") as f:
        subprocess.run(["perf", "report", "-i", data, "--children", "--percent-limit", "3",
                        "--stdio", "-g", "none", "--sort", "symbol"],
                       stdout=f, stderr=subprocess.DEVNULL, check=True)
    bl.log(f"{tag}: profile in {report} and {inclusive}")


def measure_slice(server, scenario, env, reqfile, tag, seconds):
    """One measured slice of `seconds` on one server; the client's
    figures and the server's CPU over it."""
    bl.settle(server.pids(), timeout=3)
    perf = start_perf(server, tag) if PERF and server.name == "relay" else None
    t0 = time.time()
    ticks0, kinds0 = server_ticks(server)
    out, client_cpu = run_client(client_cmd(scenario, server.port, seconds, reqfile),
                                 server_env(server, env), os.path.join(LOGS, tag + ".txt"))
    ticks1, kinds1 = server_ticks(server)
    wall = time.time() - t0
    if perf:
        stop_perf(perf, tag)
    r = parse_result(out, tag)
    part = {
        "requests": r["requests"],
        "duration_s": r["duration_us"] / 1e6,
        "p50_ms": r["p50_us"] / 1000.0,
        "p99_ms": r["p99_us"] / 1000.0,
        "cpu_s": (ticks1 - ticks0) / bl.CLK_TCK,
        "client_cpu_s": client_cpu,
        "wall_s": wall,
        "errors": sum(v for k, v in r.items() if k.startswith("err") or k == "errors") +
                  out.count("BENCH_NON200"),
        "reused": r.get("reused", 0),
    }
    if kinds0 is not None:
        part["cpu_kinds_s"] = {k: (kinds1[k] - kinds0[k]) / bl.CLK_TCK for k in kinds1}
    if scenario in HANDSHAKES:
        # A full handshake that was resumed, or a resumed one that was
        # full, or another suite than the other server's, would make the
        # comparison meaningless: stop rather than print it.
        want = expected_tls(scenario)
        got = (r["version"], r["cipher"])
        if got != want:
            bl.die(f"{tag}: negotiated {got}, expected {want}")
        if r["group"] != "x25519":
            bl.die(f"{tag}: key exchange {r['group']}, expected x25519")
        full = HANDSHAKES[scenario][0] == "full"
        if full and r["reused"]:
            bl.die(f"{tag}: {r['reused']} of {r['requests']} 'full' handshakes were resumed")
        # each of tlsload's connections starts without a session
        if not full and r["reused"] < r["requests"] - CONNS:
            bl.die(f"{tag}: only {r['reused']} of {r['requests']} handshakes resumed")
    if part["errors"]:
        bl.log(f"{tag}: {part['errors']} errors or answers not 200 — see {LOGS}/{tag}.txt")
    return part


def combine(parts):
    """One server's result over its slices: sums, and the median of the
    slices' latency percentiles."""
    reqs = sum(p["requests"] for p in parts)
    dur = sum(p["duration_s"] for p in parts)
    cpu = sum(p["cpu_s"] for p in parts)
    wall = sum(p["wall_s"] for p in parts)
    # a deployment's CPU per request by kind of process (relays, redis, haproxy)
    kinds = {}
    for p in parts:
        for k, v in p.get("cpu_kinds_s", {}).items():
            kinds[k] = kinds.get(k, 0.0) + v
    return dict({f"cpu_us_{k}": v * 1e6 / reqs if reqs else float("nan")
                 for k, v in kinds.items()}, **{
        "rps": reqs / dur if dur else 0.0,
        "p50_ms": med([p["p50_ms"] for p in parts]),
        "p99_ms": med([p["p99_ms"] for p in parts]),
        "cpu_us": cpu * 1e6 / reqs if reqs else float("nan"),
        "server_cpu": cpu / wall,
        "client_cpu": sum(p["client_cpu_s"] for p in parts) / wall,
        "requests": reqs,
        "errors": sum(p["errors"] for p in parts),
        "reused_share": sum(p["reused"] for p in parts) / reqs if reqs else 0.0,
        "slices": len(parts),
    })


def measure(servers, scenario, env, reqfile, run_no):
    """Warm-up of each server, then each one's measured window of
    BENCH_SECONDS, cut into BENCH_SLICES slices taken in turns (relay,
    nginx, nginx, relay, relay, ...; with three, a b c c b a a ...): a noisy
    neighbour on this virtual machine then weighs on every server alike
    rather than on the one it happened to meet. One result dict per server
    name."""
    slices = 1 if PERF else max(1, min(SLICES, SECONDS))   # wrk takes whole seconds
    for server in servers:
        if WARMUP > 0:
            run_client(client_cmd(scenario, server.port, WARMUP, reqfile), server_env(server, env),
                       os.path.join(LOGS, f"run{run_no}-{scenario}-{server.name}-warmup.txt"))
    parts = {server.name: [] for server in servers}
    for k in range(slices):
        for server in (servers if k % 2 == 0 else servers[::-1]):
            tag = f"run{run_no}-{scenario}-{server.name}"
            if slices > 1:
                tag += f"-slice{k + 1}"
            parts[server.name].append(measure_slice(server, scenario, env, reqfile, tag,
                                                    SECONDS / slices))
    results = {}
    for server in servers:
        res = results[server.name] = combine(parts[server.name])
        bl.log(f"run{run_no}-{scenario}-{server.name}: {res['rps']:.0f} req/s, "
               f"p50 {res['p50_ms']:.2f} ms, p99 {res['p99_ms']:.2f} ms, "
               f"{res['cpu_us']:.1f} CPU us/req (server {res['server_cpu']:.0%}, "
               f"client {res['client_cpu']:.0%})")
    return results


def s_client(port, reqfile, args, env=None):
    """One openssl s_client connection sending the request file; returns
    ("New" or "Reused", protocol, cipher), or None when it failed. -ign_eof
    waits for the answer (the request asks to close), so that a TLS 1.3
    session ticket, sent after the handshake, is in what -sess_out saves."""
    with open(reqfile, "rb") as f:
        req = f.read()
    try:
        p = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{port}",
                            "-servername", "localhost", "-ign_eof"] + args,
                           input=req, capture_output=True, timeout=15, env=env)
    except subprocess.TimeoutExpired:
        return None
    m = re.search(rb"^(New|Reused), (TLSv[\d.]+), Cipher is (\S+)", p.stdout, re.M)
    return tuple(x.decode() for x in m.groups()) if m else None


def check_tls(servers, reqfile, versions, keepalive):
    """What each server negotiates, shown under the table:

    - keepalive: what wrk gets, seen by openssl s_client under the same
      OPENSSL_CONF (same library, same configuration, same default offer);
    - per TLS version of the handshake scenarios, that resumption happens:
      s_client with -sess_out then -sess_in must print New then Reused, and
      tlsload in resume mode counts the handshakes the server resumed."""
    out = {}
    for s in servers:
        c = out[s.name] = {}
        if keepalive:
            env = dict(os.environ, OPENSSL_CONF=bl.openssl_client_conf(KEEPALIVE_TLS))
            got = s_client(s.port, reqfile, [], env)
            c["keepalive"] = f"{got[1]} {got[2]}" if got else "failed"
            bl.log(f"keep-alive TLS on {s.name} (wrk's configuration): {c['keepalive']}")
        for version in versions:
            sess = os.path.join(bl.BUILD, f"{s.name}-tls{version}.sess")
            flag = "-tls1_2" if version == "1.2" else "-tls1_3"
            first = s_client(s.port, reqfile, [flag, "-sess_out", sess])
            second = s_client(s.port, reqfile, [flag, "-sess_in", sess])
            proto = {"1.2": "TLSv1.2", "1.3": "TLSv1.3"}[version]
            ok = (first is not None and first[:2] == ("New", proto) and
                  second is not None and second[:2] == ("Reused", proto))
            t, _ = run_client(["taskset", "-c", bl.CLIENT_CPU, TLSLOAD, "-p", str(s.port),
                               "-v", version, "-c", "8", "-d", "1", "-m", "resume",
                               "-r", reqfile], None,
                              os.path.join(LOGS, f"resume-check-{s.name}-tls{version}.txt"))
            r = parse_result(t, "resume check")
            frac = r["reused"] / r["requests"] if r["requests"] else 0.0
            c[version] = {"s_client_reused": ok, "tlsload_reused": frac}
            bl.log(f"TLS {version} resumption on {s.name}: s_client "
                   f"{'New then Reused' if ok else f'NOT resumed ({first}, {second})'}, "
                   f"tlsload {r['reused']}/{r['requests']} handshakes resumed")
    return out


def check_nginx_sizes(nginx, relay_sizes):
    """nginx must answer each route with as many body bytes as the relay."""
    wl = bl.Workload()
    c = bl.Conn(nginx.port)
    h = c.host
    path = "/v1/m/00000000-0000-4000-8000-000000000000"
    got = {
        "create": len(c.request(wl.create_request(h, bl.claim())).body),
        "read": len(c.request(bl.Workload.read_request(h, path, bl.claim())).body),
        "update": len(c.request(wl.update_request(h, path, bl.claim())).body),
        "preview": len(c.request(bl.Workload.preview_request(h, path)).body),
    }
    c.close()
    if got != relay_sizes:
        bl.die(f"nginx body sizes {got} differ from the relay's {relay_sizes}")


def one_run(run_no, results, checks):
    os.makedirs(LOGS, exist_ok=True)
    if any(x in KEEPALIVE or x in HANDSHAKES for x in SCENARIOS):
        run_servers(run_no, results, checks)
    if any(x in STORE for x in SCENARIOS):
        run_store(run_no, results, checks)
    for scenario in SCENARIOS:
        if scenario in IDLE:
            for name, suite in IDLE_SUITES[IDLE[scenario]]:
                res = measure_idle(IDLE[scenario], suite, IDLE_CONNS)
                bl.log(f"run{run_no}-{name}: {res['bytes_per_connection']:.0f} B per idle "
                       f"{res['tls_version']} {suite} connection ({res['connections']} held)")
                results.setdefault(name, {}).setdefault("relay", []).append(res)
        elif scenario in LONGPOLL:
            res = longpoll.run(WAITERS, tls=LONGPOLL[scenario])
            bl.log(f"run{run_no}-{scenario}: {res['bytes_per_waiter']:.0f} B per parked "
                   f"long-poll over {res['tls_version']}, wake-up p50 {res['wake_p50_us']:.0f} us "
                   f"p99 {res['wake_p99_us']:.0f} us, {res['failed']} failed, "
                   f"{res['early']} early")
            results.setdefault(scenario, {}).setdefault("relay", []).append(res)
        elif scenario in WAKE:
            run_wake(run_no, scenario, results)


def run_wake(run_no, scenario, results):
    """The long-poll's wake-up over Redis across two relays and on one relay
    with its memory store, each on servers of its own, one after the other
    (the other way round in every other run)."""
    stores = WAKE_TARGETS if run_no % 2 else WAKE_TARGETS[::-1]
    for store in stores:
        res = longpoll.run(WAKE_WAITERS, tls=WAKE[scenario], store=store, tag="wake")
        bl.log(f"run{run_no}-{scenario}-{store}: wake-up after the update's answer "
               f"p50 {res['wake_p50_us']:.0f} us, p99 {res['wake_p99_us']:.0f} us, "
               f"max {res['wake_max_us']:.0f} us; {res['failed']} failed "
               f"({res['lost']} lost), {res['early']} answered early")
        results.setdefault(scenario, {}).setdefault(store, []).append(res)


def run_servers(run_no, results, checks):
    """The scenarios that compare the relay with nginx, on one relay and one
    nginx started for them."""
    relay = bl.start_relay(["--max-mailboxes", "2000000", "--max-memory", "4g",
                            # at most what the descriptor limit holds,
                            # less the 64 the relay keeps for itself
                            "--max-connections",
                            str(min(20000, bl.hard_nofile() - 64))])
    nginx = None
    try:
        t0 = time.time()
        created = bl.create_mailboxes(relay.port, MAILBOXES)
        boxes = created.boxes
        mbfile = os.path.join(bl.BUILD, "mailboxes.txt")
        bl.write_mailbox_file(mbfile, boxes)
        bl.log(f"run {run_no}: {len(boxes)} mailboxes created and bound in {time.time() - t0:.1f}s")
        sizes = bl.response_sizes(relay.port, boxes[0])
        checks["body_sizes"] = sizes
        nginx = bl.start_nginx(sizes)
        check_nginx_sizes(nginx, sizes)
        reqfile = os.path.join(bl.BUILD, "handshake-request.txt")
        with open(reqfile, "wb") as f:
            f.write(bl.Workload.preview_request("localhost", boxes[0][0])[:-2] +
                    b"Connection: close\r\n\r\n")
        versions = sorted({HANDSHAKES[x][1] for x in SCENARIOS if x in HANDSHAKES})
        keepalive = any(x in KEEPALIVE for x in SCENARIOS)
        if run_no == 1:
            checks["tls"] = check_tls([relay, nginx], reqfile, versions, keepalive)
        # wrk reads OPENSSL_CONF; tlsload sets every TLS parameter itself
        env = dict(os.environ, BENCH_LUA=LUA, BENCH_PAYLOAD=bl.PAYLOAD_FILE,
                   BENCH_MAILBOXES=mbfile,
                   OPENSSL_CONF=bl.openssl_client_conf(KEEPALIVE_TLS))
        for scenario in SCENARIOS:
            if scenario in IDLE or scenario in LONGPOLL:
                continue
            measured = measure([relay, nginx], scenario, env, reqfile, run_no)
            for server in (relay, nginx):
                results.setdefault(scenario, {}).setdefault(server.name, []).append(
                    measured[server.name])
                if server.proc.poll() is not None:
                    bl.die(f"{server.name} exited during {scenario}")
        checks.setdefault("relay_rss_end", []).append(bl.rss_bytes(relay.pid))
    finally:
        if nginx:
            nginx.stop()
        relay.stop()


def start_store_deployments(started):
    """The three deployments of the store scenarios, every process pinned to
    the servers' CPU; each process is appended to `started` as soon as it
    runs, for the caller to stop whatever happens."""
    secret = bl.store_secret()
    # The relays' own limits as run_servers gives them, and one public URL
    # for all, so that every deployment answers the same bytes.
    limits = ["--max-mailboxes", "2000000", "--max-memory", "4g",
              "--max-connections", str(min(20000, bl.hard_nofile() - 64)),
              "--public-url", "https://relay.example"]

    def keep(server):
        started.append(server)
        return server

    def over(redis):
        return ["--store", f"redis://127.0.0.1:{redis.port}", "--store-secret-file", secret]

    memory = keep(bl.start_relay(limits, log_name="relay-store-memory.log"))
    redis1 = keep(bl.start_redis("redis-store-redis"))
    relay1 = keep(bl.start_relay(limits + over(redis1), log_name="relay-store-redis.log",
                                 ready="the store is reachable"))
    redis2 = keep(bl.start_redis("redis-store-haproxy"))
    # Behind HAProxy as contrib/haproxy/relay.cfg wants them: plain HTTP,
    # the client's address from HAProxy's X-Forwarded-For.
    behind = [keep(bl.start_relay(limits + over(redis2) + ["--trust-proxy", "127.0.0.1/32"],
                                  log_name=f"relay-store-haproxy-{i}.log", tls=False,
                                  ready="the store is reachable"))
              for i in (1, 2)]
    haproxy = keep(bl.start_haproxy(behind))
    return [bl.Deployment("memory", memory.port, [memory]),
            bl.Deployment("redis", relay1.port, [relay1, redis1]),
            bl.Deployment("haproxy", haproxy.port, [haproxy] + behind + [redis2])]


def run_store(run_no, results, checks):
    """The store scenarios: the same load on the memory store, on one relay
    over Redis and on two relays over Redis behind HAProxy, in turns, each
    deployment with BENCH_MAILBOXES mailboxes of its own (made through its
    own front door)."""
    started = []
    try:
        deployments = start_store_deployments(started)
        sizes = {}
        for d in deployments:
            t0 = time.time()
            # what a bound mailbox of the 1 KiB workload costs Redis (the
            # one relay's, which holds nothing else yet)
            redis = d.parts[1] if d.name == "redis" else None
            used0 = int(bl.redis_info(redis.port, "memory")["used_memory"]) if redis else 0
            created = bl.create_mailboxes(d.port, MAILBOXES)
            if redis:
                used1 = int(bl.redis_info(redis.port, "memory")["used_memory"])
                checks.setdefault("redis_bytes_per_mailbox", []).append(
                    (used1 - used0) / created.count)
            mbfile = os.path.join(bl.BUILD, f"mailboxes-{d.name}.txt")
            bl.write_mailbox_file(mbfile, created.boxes)
            d.env = {"BENCH_MAILBOXES": mbfile}
            bl.log(f"run {run_no}: {len(created.boxes)} mailboxes created and bound on "
                   f"{d.name} in {time.time() - t0:.1f}s")
            sizes[d.name] = bl.response_sizes(d.port, created.boxes[0])
        # the same work on every deployment: the same answers
        if any(v != sizes["memory"] for v in sizes.values()):
            bl.die(f"store scenarios: body sizes differ between deployments: {sizes}")
        checks["store_body_sizes"] = sizes["memory"]
        reqfile = os.path.join(bl.BUILD, "store-request.txt")
        with open(reqfile, "wb") as f:
            f.write(bl.Workload.preview_request("localhost", "/v1/m/00000000-0000-4000-8000-"
                                                "000000000000")[:-2] +
                    b"Connection: close\r\n\r\n")
        if run_no == 1:
            checks["store_tls"] = check_tls(deployments, reqfile, [], True)
        env = dict(os.environ, BENCH_LUA=LUA, BENCH_PAYLOAD=bl.PAYLOAD_FILE,
                   OPENSSL_CONF=bl.openssl_client_conf(KEEPALIVE_TLS))
        for scenario in SCENARIOS:
            if scenario not in STORE:
                continue
            measured = measure(deployments, scenario, env, reqfile, run_no)
            for d in deployments:
                results.setdefault(scenario, {}).setdefault(d.name, []).append(measured[d.name])
                gone = d.dead()
                if gone:
                    bl.die(f"{d.name}: {gone} exited during {scenario}")
    finally:
        # in reverse: HAProxy before its relays, relays before their Redis
        for server in reversed(started):
            server.stop()


def hold_connections(port, version, suite, n):
    """tlsload holding n connections open after a full handshake each; its
    BENCH_HELD line once they all are. They close with hold_release."""
    with open(os.path.join(LOGS, f"idle-{suite}-{n}.txt"), "w") as logf:
        proc = subprocess.Popen(["taskset", "-c", bl.CLIENT_CPU, TLSLOAD, "-p", str(port),
                                 "-v", version, "-s", suite, "-c", str(min(CONNS, n)),
                                 "-m", "hold", "-n", str(n)],
                                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=logf)
    line = proc.stdout.readline().decode()
    if not line.startswith("BENCH_HELD "):
        proc.kill()
        proc.wait()
        raise RuntimeError(f"tlsload -m hold: no BENCH_HELD line ({line!r})")
    return proc, json.loads(line[len("BENCH_HELD "):])


def hold_release(proc):
    proc.stdin.close()
    proc.wait()


def measure_idle(version, suite, n):
    """Relay RSS per idle TLS connection: on a fresh relay (no mailboxes),
    n connections each after a full handshake, nothing sent on them;
    (RSS holding them − RSS before) / n. One connection opened and closed
    first, so that what the relay allocates once, at its first handshake,
    is not counted."""
    relay = bl.start_relay([
        "--max-connections", str(min(n + 100, bl.hard_nofile() - 64)),
        # they send no request: keep them past the header and idle timeouts
        "--handshake-timeout", "120s", "--header-timeout", "300s",
        "--idle-timeout", "300s",
    ], log_name=f"relay-idle-{suite}.log")
    try:
        proc, _ = hold_connections(relay.port, version, suite, 1)
        hold_release(proc)
        bl.settle(relay.pid)
        rss_base = bl.rss_bytes(relay.pid)
        t0 = time.time()
        proc, held = hold_connections(relay.port, version, suite, n)
        try:
            bl.settle(relay.pid)
            rss_held = bl.rss_bytes(relay.pid)
        finally:
            hold_release(proc)
        if held["held"] != n or relay.proc.poll() is not None:
            raise RuntimeError(f"idle TLS {version}: {held['held']} of {n} connections held, "
                               f"{held['errors']} failed; see "
                               f"{bl.BUILD}/relay-idle-{suite}.log")
        want = ({"1.2": "TLSv1.2", "1.3": "TLSv1.3"}[version], suite)
        if (held["version"], held["cipher"]) != want or held["group"] != "x25519":
            raise RuntimeError(f"idle TLS {version}: negotiated {held}, expected {want}")
        return {"tls_version": held["version"], "cipher": held["cipher"],
                "connections": n, "connect_s": round(time.time() - t0, 2),
                "rss_base": rss_base, "rss_held": rss_held,
                "bytes_per_connection": (rss_held - rss_base) / n}
    finally:
        relay.stop()


# ---------------------------------------------------------------- report

def med(values):
    values = [v for v in values if v == v]   # drop NaN
    return statistics.median(values) if values else float("nan")


def fmt(v, nd=1):
    if v is None or v != v:
        return "—"
    if abs(v) >= 1000:
        return f"{v:,.0f}"
    return f"{v:.{nd}f}"


def med_runs(runs):
    """One result over runs: numbers their medians, anything else (TLS
    version, suite, counts by status) the first run's."""
    return {k: (med([r[k] for r in runs]) if isinstance(v, (int, float)) else v)
            for k, v in runs[0].items()}


def summarize(results):
    """Medians over runs; ratios are medians of the per-run ratios."""
    summary = {}
    for scenario, per in results.items():
        if scenario.startswith("idle") or scenario in LONGPOLL:
            summary[scenario] = med_runs(per["relay"])
            continue
        if scenario in WAKE:
            summary[scenario] = {t: med_runs(per[t]) for t in WAKE_TARGETS if t in per}
            # failures summed over runs, not medians: one lost wake-up is one too many
            for t, r in summary[scenario].items():
                for k in ("failed", "update_failed", "wake_failed", "lost", "lost_late",
                          "not_updated", "early", "wake_before_update_answer"):
                    r[k] = sum(x[k] for x in per[t])
            continue
        s = {}
        for target in (STORE_TARGETS if scenario in STORE else TARGETS):
            runs = per.get(target, [])
            if runs:
                s[target] = {k: med([r[k] for r in runs]) for k in runs[0]}
        if scenario in STORE:
            # each deployment against the memory store of the same run
            s["ratios"] = {}
            for target in STORE_TARGETS[1:]:
                if target in per and "memory" in per:
                    pairs = list(zip(per[target], per["memory"]))
                    s["ratios"][target] = {
                        k: med([a[k] / b[k] for a, b in pairs if b[k]])
                        for k in ("rps", "cpu_us", "p50_ms", "p99_ms")}
            summary[scenario] = s
            continue
        if "relay" in per and "nginx" in per:
            pairs = list(zip(per["relay"], per["nginx"]))
            s["ratio"] = {
                "rps": med([a["rps"] / b["rps"] for a, b in pairs if b["rps"]]),
                "cpu_us": med([a["cpu_us"] / b["cpu_us"] for a, b in pairs if b["cpu_us"]]),
                "p50_ms": med([a["p50_ms"] / b["p50_ms"] for a, b in pairs if b["p50_ms"]]),
                "p99_ms": med([a["p99_ms"] / b["p99_ms"] for a, b in pairs if b["p99_ms"]]),
            }
        summary[scenario] = s
    return summary


def verdicts(summary):
    """The targets this run can judge, as (target, measured, limit, ok):
    issue 12's first, then issue 15's, then the earlier ones (the first
    benchmark's)."""
    issue12, issue15, earlier = [], [], []

    def ratio(scen, key):
        return summary.get(scen, {}).get("ratio", {}).get(key)

    def at_most(out, text, v, limit, unit="×"):
        if v is not None:
            if unit == "×":
                out.append((text, f"{v:.2f}×", f"≤ {limit:.2f}×", v <= limit))
            else:
                out.append((text, f"{v:,.0f} B", f"≤ {limit:,} B", v <= limit))

    def at_least(out, text, v, limit):
        if v is not None:
            out.append((text, f"{v:.2f}×", f"≥ {limit:.2f}×", v >= limit))

    at_most(issue12, "full TLS 1.2 handshake: server CPU, relay/nginx",
            ratio("handshake12", "cpu_us"), 1.6)
    at_most(issue12, "full TLS 1.3 handshake: server CPU, relay/nginx",
            ratio("handshake13", "cpu_us"), 2.6)
    at_most(issue12, "resumed TLS 1.2 handshake: server CPU, relay/nginx",
            ratio("resume12", "cpu_us"), 1.1)
    # mbedTLS 2.28's ratios were measured over TLS 1.2: judged only then
    if KEEPALIVE_TLS == "1.2":
        for scen, before in BEFORE_MBEDTLS_3.items():
            at_most(issue12, f"{scen}: CPU/request, relay/nginx (limit: mbedTLS 2.28's ratio)",
                    ratio(scen, "cpu_us"), before["cpu_us"])
            at_least(issue12, f"{scen}: requests/s, relay/nginx (limit: mbedTLS 2.28's ratio)",
                     ratio(scen, "rps"), before["rps"])
    idle = summary.get("idle12")
    if idle:
        at_most(issue12, f"idle TLS 1.2 connection ({idle['cipher']}): relay RSS each",
                idle["bytes_per_connection"], 24000, unit="B")
    lp = summary.get("longpoll12")
    if lp:
        at_most(issue12, "parked long-poll over TLS 1.2, its connection included: relay RSS each",
                lp["bytes_per_waiter"], 26000, unit="B")

    for scen in ("read", "preview", "update"):
        at_most(earlier, f"{scen}: CPU/request, relay/nginx", ratio(scen, "cpu_us"), 1.0)
    at_most(earlier, "create: CPU/request, relay/nginx", ratio("create", "cpu_us"), 1.2)
    for scen in KEEPALIVE:
        at_least(earlier, f"{scen}: requests/s, relay/nginx", ratio(scen, "rps"), 0.95)
    at_most(earlier, "full TLS 1.2 handshake: server CPU, relay/nginx",
            ratio("handshake12", "cpu_us"), 1.0)
    full = summary.get("handshake12", {}).get("relay", {}).get("cpu_us")
    res = summary.get("resume12", {}).get("relay", {}).get("cpu_us")
    if full and res:
        at_most(earlier, "resumed TLS 1.2 handshake / full one (relay CPU)", res / full, 0.3)
    if lp:
        at_most(earlier, "parked long-poll over TLS 1.2: relay RSS each",
                lp["bytes_per_waiter"], 2048, unit="B")
        earlier.append(("long-poll wake-up p99 after the update, TLS 1.2",
                        f"{lp['wake_p99_us'] / 1000:.2f} ms", "≤ 1 ms",
                        lp["wake_p99_us"] <= 1000 and lp["failed"] == 0))
    for scen in WAKE:
        r = summary.get(scen, {}).get("redis")
        if r:
            issue15.append(("long-poll wake-up p99 after the update's answer, across relays "
                            "over Redis (none may fail)",
                            f"{r['wake_p99_us'] / 1000:.2f} ms, {r['failed']:.0f} failed",
                            f"≤ {WAKE_P99_LIMIT_US / 1000:g} ms",
                            r["wake_p99_us"] <= WAKE_P99_LIMIT_US and r["failed"] == 0))
    return issue12, issue15, earlier


def render(summary, checks):
    lines = []
    lines.append(f"runs: {RUNS} (medians), {SECONDS:g} s per measurement after "
                 f"{WARMUP:g} s warm-up, {CONNS} connections; "
                 f"servers on CPU {bl.SERVER_CPU}, client on CPU {bl.CLIENT_CPU}; "
                 f"{MAILBOXES} mailboxes; keep-alive scenarios over TLS {KEEPALIVE_TLS}; "
                 f"{time.strftime('%Y-%m-%d %H:%M')}, "
                 f"load average before {checks.get('loadavg', '?')}; {checks.get('relay_version', '')}")
    if PERF:
        lines.append("")
        lines.append("**Profiled run (BENCH_PERF=1): the relay's CPU figures include perf's "
                     "sampling; do not compare them.**")
    if any(x in summary for x in SCENARIOS if x in KEEPALIVE or x in HANDSHAKES):
        lines.append("")
        lines.append("| scenario | target | req/s | p50 ms | p99 ms | server CPU µs/req | "
                     "server CPU | client CPU |")
        lines.append("|---|---|--:|--:|--:|--:|--:|--:|")
    for scen in SCENARIOS:
        if scen in IDLE or scen in LONGPOLL or scen in STORE or scen in WAKE or \
                scen not in summary:
            continue
        s = summary[scen]
        for target in TARGETS:
            if target in s:
                r = s[target]
                lines.append(f"| {scen} | {target} | {fmt(r['rps'], 0)} | {fmt(r['p50_ms'], 2)} | "
                             f"{fmt(r['p99_ms'], 2)} | {fmt(r['cpu_us'], 1)} | "
                             f"{r['server_cpu']:.0%} | {r['client_cpu']:.0%} |")
        if "ratio" in s:
            r = s["ratio"]
            lines.append(f"| {scen} | **relay/nginx** | **{r['rps']:.2f}** | {r['p50_ms']:.2f} | "
                         f"{r['p99_ms']:.2f} | **{r['cpu_us']:.2f}** | | |")
    hs = [x for x in SCENARIOS if x in HANDSHAKES and x in summary]
    if hs:
        lines.append("")
        parts = []
        for x in hs:
            mode, version = HANDSHAKES[x]
            v, c = expected_tls(x)
            shares = ", ".join(f"{t} {summary[x][t]['reused_share']:.1%}"
                               for t in TARGETS if t in summary[x])
            parts.append(f"{x}: {v} {c}, X25519, {mode} handshakes, resumed {shares}")
        lines.append("handshakes (tlsload): " + "; ".join(parts))
    mem = [name for x in SCENARIOS if x in IDLE for name, _ in IDLE_SUITES[IDLE[x]]]
    mem = [x for x in mem + [x for x in SCENARIOS if x in LONGPOLL] if x in summary]
    if mem:
        lines.append("")
        lines.append("| memory, relay only | TLS | count | relay RSS each |")
        lines.append("|---|---|--:|--:|")
        for x in mem:
            m = summary[x]
            if x.startswith("idle"):
                lines.append(f"| {x}: idle connection after a full handshake | "
                             f"{m['tls_version']} {m['cipher']} | {int(m['connections']):,} | "
                             f"{m['bytes_per_connection']:,.0f} B |")
            else:
                lines.append(f"| {x}: parked long-poll, its connection included | "
                             f"{m['tls_version']} {m['cipher']} | {int(m['waiters']):,} | "
                             f"{m['bytes_per_waiter']:,.0f} B ({m['bytes_per_connection']:,.0f} B "
                             f"the connection, {m['bytes_per_park']:,.0f} B the request) |")
        for x in mem:
            if x in LONGPOLL:
                m = summary[x]
                lines.append("")
                lines.append(f"{x} ({m['tls_version']}): wake-up after the update's answer "
                             f"p50 {m['wake_p50_us']:.0f} µs, p99 {m['wake_p99_us']:.0f} µs "
                             f"(from sending the update: p50 {m['wake_from_send_p50_us']:.0f} µs, "
                             f"p99 {m['wake_from_send_p99_us']:.0f} µs); "
                             f"{int(m['failed'])} failed, {int(m['early'])} answered early")
    if "tls" in checks:
        lines.append("")
        parts = []
        for name, c in checks["tls"].items():
            p = []
            if "keepalive" in c:
                p.append(f"keep-alive (wrk) {c['keepalive']}")
            for version in ("1.2", "1.3"):
                if version in c:
                    r = c[version]
                    p.append(f"TLS {version} s_client {'Reused' if r['s_client_reused'] else 'NOT reused'}, "
                             f"tlsload {r['tlsload_reused']:.0%} resumed")
            parts.append(f"{name}: " + ", ".join(p))
        lines.append("TLS check: " + "; ".join(parts))
    if "body_sizes" in checks:
        b = checks["body_sizes"]
        lines.append("")
        lines.append("body bytes (relay = nginx): " +
                     ", ".join(f"{k} {v}" for k, v in b.items()))
    store = [x for x in SCENARIOS if x in STORE and x in summary]
    if store:
        lines.extend(render_store(summary, store, checks))
    wake = [x for x in SCENARIOS if x in WAKE and x in summary]
    if wake:
        lines.extend(render_wake(summary, wake))
    issue12, issue15, earlier = verdicts(summary)
    for title, rows in (("issue 12's targets", issue12), ("issue 15's targets", issue15),
                        ("earlier targets", earlier)):
        if rows:
            lines.append("")
            lines.append(f"| {title} | measured | limit | |")
            lines.append("|---|--:|--:|---|")
            for text, val, limit, ok in rows:
                lines.append(f"| {text} | {val} | {limit} | {'ok' if ok else '**MISSED**'} |")
    if KEEPALIVE_TLS != "1.2" and any(x in SCENARIOS for x in BEFORE_MBEDTLS_3):
        lines.append("")
        lines.append(f"Read and preview are not judged against mbedTLS 2.28's ratios: those "
                     f"were measured over TLS 1.2, these over TLS {KEEPALIVE_TLS}.")
    return "\n".join(lines) + "\n"


def render_wake(summary, wake):
    """The wake-up across relays against one relay's, in microseconds."""
    lines = ["", "Long-poll wake-up (issue 15): redis = the long-polls parked on relay A, "
             "the Sender's updates through relay B, both over one redis-server; memory = "
             "one relay, memory store; each on servers of its own, "
             f"every one pinned to CPU {bl.SERVER_CPU}, the client on CPU {bl.CLIENT_CPU}. "
             "The updates go one at a time, each waiting for its wake-up (lost after "
             f"{longpoll.WAKE_TIMEOUT_S} s).", "",
             "| scenario | store | waiters | TLS | wake-up after the update's answer: p50 µs | "
             "p99 µs | max µs | after sending the update: p50 µs | p99 µs | max µs | "
             "failed (lost) | answered early |",
             "|---|---|--:|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    notes = []
    for scen in wake:
        s = summary[scen]
        for store in WAKE_TARGETS:
            if store not in s:
                continue
            r = s[store]
            lines.append(f"| {scen} | {store} | {r['waiters']:,.0f} | {r['tls_version']} | "
                         f"{fmt(r['wake_p50_us'], 0)} | {fmt(r['wake_p99_us'], 0)} | "
                         f"{fmt(r['wake_max_us'], 0)} | {fmt(r['wake_from_send_p50_us'], 0)} | "
                         f"{fmt(r['wake_from_send_p99_us'], 0)} | "
                         f"{fmt(r['wake_from_send_max_us'], 0)} | "
                         f"{r['failed']:.0f} ({r['lost']:.0f}) | {r['early']:.0f} |")
            if r["failed"]:
                notes.append(f"{scen}, {store}: updates refused {r['update_failed']:.0f}, "
                             f"waiters answered other than 200 {r['wake_failed']:.0f}, lost "
                             f"{r['lost']:.0f} (answered later {r['lost_late']:.0f}), not "
                             f"updated {r['not_updated']:.0f}, answered early "
                             f"{r['early']:.0f}; statuses {r['statuses']}, early "
                             f"{r['early_statuses']} (first run's)")
            if r["wake_before_update_answer"]:
                notes.append(f"{scen}, {store}: waiters answered before the update: "
                             f"{r['wake_before_update_answer']:.0f} (counted as 0 µs after it)")
    if notes:
        lines.append("")
        lines.extend(notes)
    return lines


def render_store(summary, store, checks):
    """The store scenarios' table: each deployment's figures, the CPU per
    request split by kind of process, and each deployment against the
    memory store of the same run."""
    lines = ["", "Store scenarios (issue 15): memory = one relay, memory store; "
             "redis = one relay over one redis-server; haproxy = HAProxy (TLS) in front of "
             "two relays (plain HTTP) over one redis-server, round robin. Every process "
             f"pinned to CPU {bl.SERVER_CPU}; CPU per request counts them all.", "",
             "| scenario | deployment | req/s | p50 ms | p99 ms | CPU µs/req | relays | redis | "
             "haproxy | server CPU | client CPU |",
             "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|"]
    errors = []
    for scen in store:
        s = summary[scen]
        for target in STORE_TARGETS:
            if target not in s:
                continue
            r = s[target]
            kinds = " | ".join(fmt(r.get(f"cpu_us_{k}"), 1) for k in STORE_KINDS)
            lines.append(f"| {scen} | {target} | {fmt(r['rps'], 0)} | {fmt(r['p50_ms'], 2)} | "
                         f"{fmt(r['p99_ms'], 2)} | {fmt(r['cpu_us'], 1)} | {kinds} | "
                         f"{r['server_cpu']:.0%} | {r['client_cpu']:.0%} |")
            if r["errors"]:
                errors.append(f"{scen} on {target}: {r['errors']:.0f} of {r['requests']:,.0f}")
        for target, r in s.get("ratios", {}).items():
            lines.append(f"| {scen} | **{target}/memory** | **{r['rps']:.2f}** | "
                         f"{r['p50_ms']:.2f} | {r['p99_ms']:.2f} | **{r['cpu_us']:.2f}** | "
                         f"| | | | |")
    lines.append("")
    lines.append("errors or answers ≥ 400 (wrk): " + ("; ".join(errors) if errors else "none"))
    if "store_tls" in checks:
        lines.append("")
        lines.append("keep-alive TLS (wrk's configuration): " + ", ".join(
            f"{name} {c.get('keepalive', '?')}" for name, c in checks["store_tls"].items()))
    if "redis_bytes_per_mailbox" in checks:
        lines.append("")
        lines.append(f"Redis memory per mailbox (used_memory after creating and binding "
                     f"{MAILBOXES:,} mailboxes of the 1 KiB workload, less before; Redis's "
                     f"default configuration): {med(checks['redis_bytes_per_mailbox']):,.0f} B")
    if "store_body_sizes" in checks:
        lines.append("")
        lines.append("body bytes (every deployment alike): " + ", ".join(
            f"{k} {v}" for k, v in checks["store_body_sizes"].items()))
    return lines


def main():
    for tool in ("wrk", "taskset", "openssl"):
        if not shutil.which(tool):
            bl.die(f"{tool} not found: run make deps")
    if any(x in KEEPALIVE or x in HANDSHAKES for x in SCENARIOS):
        bl.nginx_binary()
    if any(x in STORE or x in WAKE for x in SCENARIOS):
        bl.sbin_binary("redis-server")
    if any(x in STORE for x in SCENARIOS):
        bl.sbin_binary("haproxy")
    bad = [s for s in SCENARIOS if s not in ALL_SCENARIOS]
    if bad:
        bl.die(f"unknown scenario {bad}; known: {' '.join(ALL_SCENARIOS)} "
               f"(and {', '.join(a + ' = ' + ' '.join(b) for a, b in ALIASES.items())})")
    if KEEPALIVE_TLS not in ("1.2", "1.3"):
        bl.die(f"BENCH_KEEPALIVE_TLS must be 1.2 or 1.3, not {KEEPALIVE_TLS!r}")
    if PERF and not shutil.which("perf"):
        bl.die("BENCH_PERF=1 needs perf: make deps-profile (Debian package linux-perf)")
    # A SIGTERM (timeout, a stopped make) ends us through the finally
    # blocks that stop every server we started.
    signal.signal(signal.SIGTERM, lambda signum, frame: sys.exit(128 + signum))
    try:
        os.sched_setaffinity(0, {int(bl.CLIENT_CPU)})
    except OSError:
        pass
    bl.raise_nofile()
    bl.ensure_cert()
    bl.payload_b64()
    build_tlsload()
    checks = {"loadavg": " ".join(open("/proc/loadavg").read().split()[:3]),
              "relay_version": subprocess.run([bl.relay_binary(), "--version"],
                                              capture_output=True, text=True).stdout.strip()}
    results = {}
    t0 = time.time()
    for run_no in range(1, RUNS + 1):
        bl.log(f"run {run_no} of {RUNS}")
        one_run(run_no, results, checks)
    summary = summarize(results)
    text = render(summary, checks)
    with open(os.path.join(bl.BUILD, "results.md"), "w") as f:
        f.write(text)
    with open(os.path.join(bl.BUILD, "results.json"), "w") as f:
        json.dump({"settings": {"runs": RUNS, "seconds": SECONDS, "warmup": WARMUP,
                                "connections": CONNS, "mailboxes": MAILBOXES,
                                "waiters": WAITERS, "wake_waiters": WAKE_WAITERS,
                                "idle": IDLE_CONNS,
                                "keepalive_tls": KEEPALIVE_TLS, "perf": PERF,
                                "scenarios": SCENARIOS},
                   "checks": checks, "runs": results, "summary": summary}, f, indent=1)
    print()
    print(text)
    bl.log(f"done in {time.time() - t0:.0f}s; build/bench/results.md")


if __name__ == "__main__":
    main()
