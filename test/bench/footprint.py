#!/usr/bin/env python3
"""footprint — the relay's memory at rest and per mailbox, and its size.

 1. start a fresh relay with --max-memory 2g (other limits at their
    defaults: --max-mailboxes 1000000), pinned to the server CPU;
 2. idle RSS, once the relay is quiet after start;
 3. create mailboxes of the 1 KiB workload (1024 payload bytes before
    base64, display information, notification token, a fresh Sender claim
    each) as fast as the relay takes them — 8 keep-alive connections, 64
    requests pipelined on each — up to 100,000 and then 1,000,000, reading
    VmRSS after each (the client's connections closed);
 4. bytes per mailbox above idle = (RSS - idle RSS) / mailboxes;
 5. the mailboxes are still served: a sample of them is read back (payload
    intact) and previewed;
 6. binary size: `size relay`, the file, and the file stripped.

Settings (environment): FOOTPRINT_COUNTS (100000,1000000),
FOOTPRINT_MAX_MEMORY (2g), FOOTPRINT_SAMPLE (2000).
Writes build/bench/footprint.md and footprint.json and prints the table.
"""
import json
import os
import random
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import benchlib as bl  # noqa: E402

COUNTS = [int(x) for x in os.environ.get("FOOTPRINT_COUNTS", "100000,1000000").split(",")]
MAX_MEMORY = os.environ.get("FOOTPRINT_MAX_MEMORY", "2g")
SAMPLE = int(os.environ.get("FOOTPRINT_SAMPLE", "2000"))
MiB = 1024 * 1024


def binary_sizes(path):
    out = subprocess.run(["size", path], capture_output=True, text=True, check=True).stdout
    text, data, bss = (int(x) for x in out.splitlines()[1].split()[:3])
    stripped = os.path.join(bl.BUILD, "relay.stripped")
    subprocess.run(["strip", "-o", stripped, path], check=True)
    return {"text": text, "data": data, "bss": bss,
            "file": os.path.getsize(path), "stripped": os.path.getsize(stripped)}


def serve_check(port, boxes):
    """Read a sample back with each Sender's claim and preview it."""
    wl = bl.Workload()
    sample = random.sample(boxes, min(SAMPLE, len(boxes)))
    host = f"127.0.0.1:{port}"
    reads = [bl.Workload.read_request(host, p, s) for p, s, _, _ in sample]
    previews = [bl.Workload.preview_request(host, p) for p, _, _, _ in sample]
    ok = 0
    for r in bl.run_pipelined(port, reads, conns=4, depth=32):
        if r.status == 200 and json.loads(r.body)["payload"]["data"] == wl.data:
            ok += 1
    pv = sum(1 for r in bl.run_pipelined(port, previews, conns=4, depth=32)
             if r.status == 200 and b"og:title" in r.body)
    return len(sample), ok, pv


def main():
    try:
        os.sched_setaffinity(0, {int(bl.CLIENT_CPU)})
    except OSError:
        pass
    bl.raise_nofile()
    relay_path = bl.relay_binary()
    relay = bl.start_relay(["--max-memory", MAX_MEMORY], log_name="relay-footprint.log")
    res = {"max_memory": MAX_MEMORY, "steps": []}
    try:
        time.sleep(0.3)
        bl.settle(relay.pid)
        idle = bl.rss_bytes(relay.pid)
        res["idle_rss"] = idle
        bl.log(f"footprint: idle RSS {idle / MiB:.2f} MiB")
        boxes = []
        total = 0
        for target in COUNTS:
            t0 = time.time()
            made = bl.create_mailboxes(relay.port, target - total, bind_receiver=False,
                                       keep=max(1, SAMPLE * (target - total) // COUNTS[-1]),
                                       allow_fail=True)
            dt = time.time() - t0
            total += made.count
            boxes += made.boxes
            bl.settle(relay.pid)
            rss = bl.rss_bytes(relay.pid)
            step = {"target": target, "mailboxes": total, "rss": rss,
                    "bytes_per_mailbox": (rss - idle) / total if total else None,
                    "create_per_s": made.count / dt if dt else None,
                    "failures": made.failures}
            res["steps"].append(step)
            bl.log(f"footprint: {total} mailboxes in {dt:.1f}s ({made.count / dt:.0f}/s), "
                   f"RSS {rss / MiB:.1f} MiB, {step['bytes_per_mailbox']:.0f} B per mailbox")
            if made.failures:
                idx, status, body = made.first_failure
                step["first_failure"] = {"index": total + idx, "status": status,
                                         "body": body.decode(errors="replace")}
                bl.log(f"footprint: creates refused: {made.failures}; first {status} {body!r}")
                break
        n, ok, pv = serve_check(relay.port, boxes)
        res["served"] = {"sampled": n, "read_ok": ok, "preview_ok": pv}
        bl.log(f"footprint: served {ok}/{n} reads, {pv}/{n} previews")
        if relay.proc.poll() is not None:
            bl.die("relay exited")
        res["rss_end"] = bl.rss_bytes(relay.pid)
    finally:
        relay.stop()
    res["binary"] = binary_sizes(relay_path)

    lines = ["| measure | value | target |", "|---|--:|---|"]
    ok_idle = idle <= 4 * MiB
    lines.append(f"| idle RSS | {idle / MiB:.2f} MiB | ≤ 4 MiB {'ok' if ok_idle else '**MISSED**'} |")
    for st in res["steps"]:
        lines.append(f"| RSS with {st['mailboxes']:,} mailboxes | {st['rss'] / MiB:,.1f} MiB | |")
        bpm = st["bytes_per_mailbox"]
        good = bpm is not None and bpm <= 1700
        lines.append(f"| bytes per mailbox above idle at {st['mailboxes']:,} | {bpm:,.0f} B | "
                     f"≤ 1,700 B {'ok' if good else '**MISSED**'} |")
        lines.append(f"| create rate up to {st['mailboxes']:,} (pipelined) | "
                     f"{st['create_per_s']:,.0f} /s | |")
    last = res["steps"][-1]
    held = last["mailboxes"] >= COUNTS[-1] and not last["failures"]
    sv = res["served"]
    served = sv["read_ok"] == sv["sampled"] and sv["preview_ok"] == sv["sampled"]
    lines.append(f"| {COUNTS[-1]:,} mailboxes held with --max-memory {MAX_MEMORY} | "
                 f"{last['mailboxes']:,} held{'' if not last['failures'] else ', refused: ' + str(last['failures'])} | "
                 f"{'ok' if held else '**MISSED**'} |")
    lines.append(f"| served afterwards (sample read + preview) | {sv['read_ok']}/{sv['sampled']} read, "
                 f"{sv['preview_ok']}/{sv['sampled']} preview | {'ok' if served else '**MISSED**'} |")
    b = res["binary"]
    lines.append(f"| binary: text / data / bss | {b['text']:,} / {b['data']:,} / {b['bss']:,} B | |")
    lines.append(f"| binary file (with debug info) / stripped | {b['file']:,} / {b['stripped']:,} B | |")
    text = (f"relay footprint, {time.strftime('%Y-%m-%d %H:%M')}; mailboxes of the 1 KiB workload "
            f"(1024 payload bytes, 1368 in base64, display information, token)\n\n"
            + "\n".join(lines) + "\n")
    with open(os.path.join(bl.BUILD, "footprint.md"), "w") as f:
        f.write(text)
    with open(os.path.join(bl.BUILD, "footprint.json"), "w") as f:
        json.dump(res, f, indent=1)
    print()
    print(text)


if __name__ == "__main__":
    main()
