#!/usr/bin/env python3
"""bench — the relay against nginx, scenario by scenario, in one run.

Both servers run pinned to CPU 0 (BENCH_SERVER_CPU), one after the other
within each scenario; the load generator (wrk, or tlsload for full
handshakes) runs on CPU 1 (BENCH_CLIENT_CPU), one thread, 64 connections.
Each measurement is a warm-up, then BENCH_SECONDS of load; the server's CPU
time (utime+stime from /proc, master+worker for nginx) is read just before
and just after the measured window and divided by the requests completed.

Settings (environment): BENCH_RUNS (1; 3 for the medians the targets are
stated in), BENCH_SECONDS (10), BENCH_WARMUP (2), BENCH_CONNECTIONS (64),
BENCH_MAILBOXES (10000), BENCH_WAITERS (10000), BENCH_SCENARIOS (all:
create read update preview mixed handshake resume longpoll).

Writes build/bench/results.md and results.json, raw tool output to
build/bench/logs/, and prints the table.
"""
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

ALL_SCENARIOS = ["create", "read", "update", "preview", "mixed",
                 "handshake", "resume", "longpoll"]
KEEPALIVE = ["create", "read", "update", "preview", "mixed"]
TARGETS = ["relay", "nginx"]


def env_int(name, default):
    return int(os.environ.get(name, default))


def env_float(name, default):
    return float(os.environ.get(name, default))


RUNS = env_int("BENCH_RUNS", 1)
SECONDS = env_int("BENCH_SECONDS", 10)     # wrk takes whole seconds
WARMUP = env_int("BENCH_WARMUP", 2)
CONNS = env_int("BENCH_CONNECTIONS", 64)
MAILBOXES = env_int("BENCH_MAILBOXES", 10000)
WAITERS = env_int("BENCH_WAITERS", 10000)
SCENARIOS = os.environ.get("BENCH_SCENARIOS", " ".join(ALL_SCENARIOS)).split()
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
    if scenario == "handshake":
        return ["taskset", "-c", bl.CLIENT_CPU, TLSLOAD, "-p", str(port),
                "-c", str(CONNS), "-d", str(seconds), "-m", "full", "-r", reqfile]
    return ["taskset", "-c", bl.CLIENT_CPU, "wrk", "-t1", f"-c{CONNS}",
            f"-d{max(1, round(seconds))}s", "--latency", "-s", os.path.join(LUA, scenario + ".lua"),
            f"https://127.0.0.1:{port}"]


def measure(server, scenario, env, reqfile, run_no):
    """Warm-up, then the measured window; one result dict."""
    tag = f"run{run_no}-{scenario}-{server.name}"
    if WARMUP > 0:
        run_client(client_cmd(scenario, server.port, WARMUP, reqfile), env,
                   os.path.join(LOGS, tag + "-warmup.txt"))
    bl.settle(server.pids(), timeout=3)
    t0 = time.time()
    ticks0 = server.ticks()
    out, client_cpu = run_client(client_cmd(scenario, server.port, SECONDS, reqfile),
                                 env, os.path.join(LOGS, tag + ".txt"))
    ticks1 = server.ticks()
    wall = time.time() - t0
    r = parse_result(out, tag)
    errors = sum(v for k, v in r.items() if k.startswith("err") or k == "errors")
    non200 = out.count("BENCH_NON200")
    reqs = r["requests"]
    dur = r["duration_us"] / 1e6
    cpu_s = (ticks1 - ticks0) / bl.CLK_TCK
    res = {
        "rps": reqs / dur if dur else 0.0,
        "p50_ms": r["p50_us"] / 1000.0,
        "p99_ms": r["p99_us"] / 1000.0,
        "cpu_us": cpu_s * 1e6 / reqs if reqs else float("nan"),
        "server_cpu": cpu_s / wall,
        "client_cpu": client_cpu / wall,
        "requests": reqs,
        "errors": errors + non200,
    }
    if "reused" in r:
        res["reused"] = r["reused"]
    if errors or non200:
        bl.log(f"{tag}: {errors} errors, {non200} answers not 200 — see {LOGS}/{tag}.txt")
    bl.log(f"{tag}: {res['rps']:.0f} req/s, p50 {res['p50_ms']:.2f} ms, "
           f"p99 {res['p99_ms']:.2f} ms, {res['cpu_us']:.1f} CPU us/req "
           f"(server {res['server_cpu']:.0%}, client {res['client_cpu']:.0%})")
    return res


def check_resumption(servers, reqfile):
    """Prove that resumption happens: openssl s_client with -sess_out and
    -sess_in must print "Reused", and tlsload in resume mode counts the
    handshakes the server resumed."""
    out = {}
    for s in servers:
        sess = os.path.join(bl.BUILD, f"{s.name}.sess")
        base = ["openssl", "s_client", "-connect", f"127.0.0.1:{s.port}", "-tls1_2",
                "-servername", "localhost"]
        first = subprocess.run(base + ["-sess_out", sess], input=b"", capture_output=True)
        second = subprocess.run(base + ["-sess_in", sess], input=b"", capture_output=True)
        reused = b"Reused, TLSv1.2" in second.stdout
        first_new = b"New, TLSv1.2" in first.stdout
        t, _ = run_client(["taskset", "-c", bl.CLIENT_CPU, TLSLOAD, "-p", str(s.port),
                           "-c", "8", "-d", "1", "-m", "resume", "-r", reqfile], None,
                          os.path.join(LOGS, f"resume-check-{s.name}.txt"))
        r = parse_result(t, "resume check")
        frac = r["reused"] / r["requests"] if r["requests"] else 0.0
        out[s.name] = {"s_client_reused": reused and first_new, "tlsload_reused": frac}
        bl.log(f"resumption on {s.name}: s_client {'Reused' if reused else 'NOT reused'}, "
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
        if run_no == 1 and ("resume" in SCENARIOS or "handshake" in SCENARIOS):
            checks["resumption"] = check_resumption([relay, nginx], reqfile)
        env = dict(os.environ, BENCH_LUA=LUA, BENCH_PAYLOAD=bl.PAYLOAD_FILE,
                   BENCH_MAILBOXES=mbfile)
        for scenario in SCENARIOS:
            if scenario == "longpoll":
                continue
            for server in (relay, nginx):
                res = measure(server, scenario, env, reqfile, run_no)
                results.setdefault(scenario, {}).setdefault(server.name, []).append(res)
                if server.proc.poll() is not None:
                    bl.die(f"{server.name} exited during {scenario}")
        checks.setdefault("relay_rss_end", []).append(bl.rss_bytes(relay.pid))
    finally:
        if nginx:
            nginx.stop()
        relay.stop()
    if "longpoll" in SCENARIOS:
        import longpoll
        res = longpoll.run(WAITERS)
        bl.log(f"run{run_no}-longpoll: {res['bytes_per_waiter']:.0f} B per parked long-poll, "
               f"wake-up p50 {res['wake_p50_us']:.0f} us p99 {res['wake_p99_us']:.0f} us, "
               f"{res['failed']} failed, {res['early']} early")
        results.setdefault("longpoll", {}).setdefault("relay", []).append(res)


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


def summarize(results):
    """Medians over runs; ratios are medians of the per-run ratios."""
    summary = {}
    for scenario, per in results.items():
        if scenario == "longpoll":
            runs = per["relay"]
            summary[scenario] = {k: med([r[k] for r in runs]) for k in runs[0]
                                 if isinstance(runs[0][k], (int, float))}
            continue
        s = {}
        for target in TARGETS:
            runs = per.get(target, [])
            if runs:
                s[target] = {k: med([r[k] for r in runs]) for k in runs[0]}
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
    """The issue's targets that this run can judge: (text, value, ok)."""
    out = []

    def ratio(scen, key):
        return summary.get(scen, {}).get("ratio", {}).get(key)

    for scen in ("read", "preview", "update"):
        v = ratio(scen, "cpu_us")
        if v is not None:
            out.append((f"{scen}: CPU/request ≤ 1.0× nginx", f"{v:.2f}×", v <= 1.0))
    v = ratio("create", "cpu_us")
    if v is not None:
        out.append(("create: CPU/request ≤ 1.2× nginx", f"{v:.2f}×", v <= 1.2))
    for scen in KEEPALIVE:
        v = ratio(scen, "rps")
        if v is not None:
            out.append((f"{scen}: requests/s ≥ 0.95× nginx", f"{v:.2f}×", v >= 0.95))
    v = ratio("handshake", "cpu_us")
    if v is not None:
        out.append(("full handshake: CPU ≤ 1.0× nginx", f"{v:.2f}×", v <= 1.0))
    full = summary.get("handshake", {}).get("relay", {}).get("cpu_us")
    res = summary.get("resume", {}).get("relay", {}).get("cpu_us")
    if full and res:
        out.append(("resumed handshake ≤ 0.3× a full one (relay CPU)",
                    f"{res / full:.2f}×", res / full <= 0.3))
    lp = summary.get("longpoll")
    if lp:
        out.append(("parked long-poll ≤ 2 KiB of relay memory each",
                    f"{lp['bytes_per_waiter']:,.0f} B", lp["bytes_per_waiter"] <= 2048))
        out.append(("long-poll wake-up p99 ≤ 1 ms after the update",
                    f"{lp['wake_p99_us'] / 1000:.2f} ms",
                    lp["wake_p99_us"] <= 1000 and lp["failed"] == 0))
    return out


def render(summary, checks):
    lines = []
    lines.append(f"runs: {RUNS} (medians), {SECONDS:g} s per measurement after "
                 f"{WARMUP:g} s warm-up, {CONNS} connections, one client thread; "
                 f"servers on CPU {bl.SERVER_CPU}, client on CPU {bl.CLIENT_CPU}; "
                 f"{MAILBOXES} mailboxes; {time.strftime('%Y-%m-%d %H:%M')}, "
                 f"load average before {checks.get('loadavg', '?')}")
    lines.append("")
    lines.append("| scenario | target | req/s | p50 ms | p99 ms | server CPU µs/req | server CPU | client CPU |")
    lines.append("|---|---|--:|--:|--:|--:|--:|--:|")
    for scen in SCENARIOS:
        if scen == "longpoll" or scen not in summary:
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
    lp = summary.get("longpoll")
    if lp:
        lines.append("")
        lines.append(f"longpoll ({int(lp['waiters'])} parked, relay only): "
                     f"{lp['bytes_per_waiter']:,.0f} B of relay RSS per parked long-poll "
                     f"({lp['bytes_per_connection']:,.0f} B the TLS connection, "
                     f"{lp['bytes_per_park']:,.0f} B the parked request); wake-up after the "
                     f"update's answer p50 {lp['wake_p50_us']:.0f} µs, p99 {lp['wake_p99_us']:.0f} µs "
                     f"(from sending the update: p50 {lp['wake_from_send_p50_us']:.0f} µs, "
                     f"p99 {lp['wake_from_send_p99_us']:.0f} µs); "
                     f"{int(lp['failed'])} failed, {int(lp['early'])} answered early")
    if "resumption" in checks:
        lines.append("")
        parts = []
        for name, c in checks["resumption"].items():
            parts.append(f"{name}: s_client {'Reused' if c['s_client_reused'] else 'NOT reused'}, "
                         f"tlsload {c['tlsload_reused']:.0%} resumed")
        lines.append("resumption check: " + "; ".join(parts) +
                     " (wrk resumes by itself after a clean close)")
    if "body_sizes" in checks:
        b = checks["body_sizes"]
        lines.append("")
        lines.append("body bytes (relay = nginx): " +
                     ", ".join(f"{k} {v}" for k, v in b.items()))
    v = verdicts(summary)
    if v:
        lines.append("")
        lines.append("| target | measured | |")
        lines.append("|---|--:|---|")
        for text, val, ok in v:
            lines.append(f"| {text} | {val} | {'ok' if ok else '**MISSED**'} |")
    return "\n".join(lines) + "\n"


def main():
    for tool in ("wrk", "taskset", "openssl"):
        if not shutil.which(tool):
            bl.die(f"{tool} not found: run make deps")
    bl.nginx_binary()
    bad = [s for s in SCENARIOS if s not in ALL_SCENARIOS]
    if bad:
        bl.die(f"unknown scenario {bad}; known: {' '.join(ALL_SCENARIOS)}")
    try:
        os.sched_setaffinity(0, {int(bl.CLIENT_CPU)})
    except OSError:
        pass
    bl.raise_nofile()
    bl.ensure_cert()
    bl.payload_b64()
    build_tlsload()
    checks = {"loadavg": " ".join(open("/proc/loadavg").read().split()[:3])}
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
                                "waiters": WAITERS},
                   "checks": checks, "runs": results, "summary": summary}, f, indent=1)
    print()
    print(text)
    bl.log(f"done in {time.time() - t0:.0f}s; build/bench/results.md")


if __name__ == "__main__":
    main()
