#!/usr/bin/env python3
"""
run.py — the relay's test runner.

    python3 test/run.py --relay ./relay --unit-dir build/rel/test/unit [-k NAME]...

1. Runs every executable in --unit-dir. Each prints "ok   name" / "FAIL name"
   lines and ends with "N passed, M failed"; the counts are added up. A binary
   that crashes or prints no summary counts as one more failure.
2. Runs the integration tests: every test_* function of every
   test/integration/test_*.py. Each module runs in its own Python process
   (modules run in parallel, -j); a test whose only parameter is named `relay`
   receives a relay shared by the module (started with the module's
   RELAY_ARGS / RELAY_KWARGS), other tests start their own. A module with
   PARALLEL = True runs its tests in threads, for tests that mostly wait.
   A test that raises unittest.SkipTest (it needs a tool this machine lacks)
   is skipped, not passed. A module with EXCLUSIVE = True runs alone, after
   all the others (it loads the machine). A module with LAST = True runs
   after those: it checks what every other module saw. Each module's answers
   are recorded (RELAY_TEST_RECORD, test/integration/relaytest.py) in a
   directory that lasts for the run.

Prints "ok   module.test" (with what the test returned, if anything), "FAIL
module.test: message" or "skip module.test: reason" per test and, last,
exactly one line "N passed, M failed", followed by ", K skipped" when K > 0.
Exit status 1 when anything failed or nothing ran.
"""

import argparse
import concurrent.futures
import importlib.util
import inspect
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import unittest

HERE = os.path.dirname(os.path.abspath(__file__))
INTEGRATION_DIR = os.path.join(HERE, "integration")
MODULE_TIMEOUT_S = 300
UNIT_TIMEOUT_S = 120

print_lock = threading.Lock()


def emit(line):
    with print_lock:
        print(line, flush=True)


def selected(name, filters):
    return not filters or any(f in name for f in filters)


# ------------------------------------------------------------------ unit tests

def run_unit_dir(unit_dir, filters):
    passed = failed = 0
    if not os.path.isdir(unit_dir):
        emit("FAIL unit: --unit-dir %s is not a directory" % unit_dir)
        return 0, 1
    for name in sorted(os.listdir(unit_dir)):
        path = os.path.join(unit_dir, name)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)) or "." in name:
            continue
        if not selected(name, filters):
            continue
        try:
            proc = subprocess.run([path], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT, timeout=UNIT_TIMEOUT_S)
            out, rc = proc.stdout.decode("utf-8", "replace"), proc.returncode
        except subprocess.TimeoutExpired as e:
            out = (e.stdout or b"").decode("utf-8", "replace")
            rc = None
        summary = None
        seen_ok = seen_fail = 0
        for line in out.splitlines():
            m = re.match(r"^(\d+) passed, (\d+) failed$", line.strip())
            if m:
                summary = (int(m.group(1)), int(m.group(2)))
            elif line.startswith("ok   "):
                seen_ok += 1
                emit("ok   unit/%s.%s" % (name, line[5:].strip()))
            elif line.startswith("FAIL "):
                seen_fail += 1
                emit("FAIL unit/%s.%s" % (name, line[5:].strip()))
            elif line.strip():
                emit("     " + line.rstrip())
        # Without a summary (a crash), count the lines the binary did print.
        p, f = summary if summary else (seen_ok, seen_fail)
        passed += p
        failed += f
        if rc is None:
            emit("FAIL unit/%s: timed out after %d s" % (name, UNIT_TIMEOUT_S))
            failed += 1
        elif rc < 0:
            emit("FAIL unit/%s: crashed (%s)" % (name, signal_name(-rc)))
            failed += 1
        elif summary is None:
            emit("FAIL unit/%s: no 'N passed, M failed' summary (exit status %d)" % (name, rc))
            failed += 1
        elif rc != 0 and summary[1] == 0:
            emit("FAIL unit/%s: exit status %d although no test failed" % (name, rc))
            failed += 1
    return passed, failed


def signal_name(num):
    try:
        return signal.Signals(num).name
    except ValueError:
        return "signal %d" % num


# ------------------------------------------------------- integration (parent)

def discover_modules():
    return sorted(f[:-3] for f in os.listdir(INTEGRATION_DIR)
                  if f.startswith("test_") and f.endswith(".py"))


def module_has_selected_tests(module, filters):
    if not filters:
        return True
    if any(f in module for f in filters):
        return True
    # Cheap source scan so that -k on a test name does not start every module.
    with open(os.path.join(INTEGRATION_DIR, module + ".py"), encoding="utf-8") as f:
        names = re.findall(r"^def (test_\w+)\(", f.read(), re.M)
    return any(selected("%s.%s" % (module, n), filters) for n in names)


def slow_first(module):
    # Modules that wait for timers go first so the parallel run ends sooner.
    path = os.path.join(INTEGRATION_DIR, module + ".py")
    with open(path, encoding="utf-8") as f:
        m = re.search(r"^EXPECTED_SECONDS\s*=\s*(\d+)", f.read(), re.M)
    return -(int(m.group(1)) if m else 1)


def run_module_process(module, filters):
    """Run one module in a child process; returns its list of result dicts."""
    fd, result_file = tempfile.mkstemp(prefix="relay-results-", suffix=".jsonl")
    os.close(fd)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", module,
           "--result-file", result_file]
    for f in filters:
        cmd += ["-k", f]
    start = time.monotonic()
    proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, start_new_session=True)
    try:
        out, _ = proc.communicate(timeout=MODULE_TIMEOUT_S)
        timed_out = False
    except subprocess.TimeoutExpired:
        # The child and the relays it started share its process group.
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        timed_out = True
    results = []
    with open(result_file, encoding="utf-8") as f:
        for line in f:
            if line.strip():
                results.append(json.loads(line))
    os.unlink(result_file)
    stray = out.decode("utf-8", "replace").strip()
    if timed_out:
        results.append({"name": "%s.(module)" % module, "ok": False,
                        "message": "module did not finish within %d s; killed" % MODULE_TIMEOUT_S})
    elif proc.returncode != 0:
        results.append({"name": "%s.(module)" % module, "ok": False,
                        "message": "test process ended with status %d: %s" % (
                            proc.returncode, stray[-2000:])})
    return results, time.monotonic() - start


def module_flag(module, name):
    """The module sets NAME = True at its top level."""
    with open(os.path.join(INTEGRATION_DIR, module + ".py"), encoding="utf-8") as f:
        return re.search(r"^%s\s*=\s*True\b" % name, f.read(), re.M) is not None


def report(results):
    """Print one module's results; returns (passed, failed, skipped)."""
    passed = failed = skipped = 0
    lines = []
    for r in results:
        if r.get("skipped"):
            skipped += 1
            lines.append("skip %s: %s" % (r["name"], r["message"]))
        elif r["ok"]:
            passed += 1
            lines.append("ok   %s%s" % (r["name"], " (%s)" % r["message"] if r["message"] else ""))
        else:
            failed += 1
            msg = r["message"].rstrip().replace("\n", "\n         ")
            lines.append("FAIL %s: %s" % (r["name"], msg))
    if lines:
        emit("\n".join(lines))
    return passed, failed, skipped


def run_integration(filters, jobs):
    modules = [m for m in discover_modules() if module_has_selected_tests(m, filters)]
    modules.sort(key=slow_first)
    last = [m for m in modules if module_flag(m, "LAST")]
    alone = [m for m in modules if module_flag(m, "EXCLUSIVE") and m not in last]
    totals = [0, 0, 0]
    times = {}
    # Every module's children write their answers here (relaytest._Recorder),
    # unless the caller chose where.
    record_dir = None
    if not os.environ.get("RELAY_TEST_RECORD"):
        record_dir = tempfile.mkdtemp(prefix="relay-answers-")
        os.environ["RELAY_TEST_RECORD"] = record_dir
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            futures = {pool.submit(run_module_process, m, filters): m
                       for m in modules if m not in alone and m not in last}
            for fut in concurrent.futures.as_completed(futures):
                results, seconds = fut.result()
                totals = [t + n for t, n in zip(totals, report(results))]
                times[futures[fut]] = seconds
        for m in alone + last:
            results, times[m] = run_module_process(m, filters)
            totals = [t + n for t, n in zip(totals, report(results))]
    finally:
        if record_dir is not None:
            del os.environ["RELAY_TEST_RECORD"]
            shutil.rmtree(record_dir, ignore_errors=True)
    # On stderr, slowest first: what to shorten when the suite grows slow.
    sys.stderr.write("".join("(%s: %.1f s)\n" % (m, s)
                             for m, s in sorted(times.items(), key=lambda i: -i[1])))
    return tuple(totals)


# -------------------------------------------------------- integration (child)

def load_module(name):
    sys.path.insert(0, INTEGRATION_DIR)
    spec = importlib.util.spec_from_file_location(name, os.path.join(INTEGRATION_DIR, name + ".py"))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def failure_message(exc):
    """The assertion message plus where in a test file it was raised."""
    text = str(exc) if isinstance(exc, AssertionError) else "%s: %s" % (type(exc).__name__, exc)
    if not text.strip():
        text = type(exc).__name__
    notes = getattr(exc, "__notes__", None)
    if notes:
        text += "\n" + "\n".join(notes)
    frames = [f for f in traceback.extract_tb(exc.__traceback__)
              if os.path.basename(f.filename).startswith("test_")]
    if frames:
        f = frames[-1]
        text += "  [%s:%d]" % (os.path.basename(f.filename), f.lineno)
    elif not isinstance(exc, AssertionError):
        text += "\n" + "".join(traceback.format_exception(exc)).rstrip()
    return text


class SharedRelay:
    """The module's shared relay, restarted (and the crash reported) if it dies."""

    def __init__(self, mod):
        import relaytest
        self.relaytest = relaytest
        self.args = getattr(mod, "RELAY_ARGS", [])
        self.kwargs = getattr(mod, "RELAY_KWARGS", {})
        self.relay = None
        self.lock = threading.Lock()
        self.crashes = []

    def get(self):
        with self.lock:
            if self.relay is not None and not self.relay.alive():
                dead = self.relay
                self.relay = None
                try:
                    dead.stop()
                except AssertionError as e:
                    self.crashes.append(str(e))
                raise AssertionError("the module's shared relay died during an earlier test: %s"
                                     % (self.crashes[-1] if self.crashes else "?"))
            if self.relay is None:
                self.relay = self.relaytest.Relay(*self.args, **self.kwargs).start()
            return self.relay

    def death_note(self):
        """After a failed test: if the shared relay has died, say how, and
        drop it so that the next test gets a fresh one."""
        with self.lock:
            relay = self.relay
            if relay is None or relay.proc is None:
                return None
            try:
                rc = relay.proc.wait(0.5)
            except Exception:          # still running (TimeoutExpired)
                return None
            self.relay = None
            note = "the shared relay died (%s); stderr: %r" % (
                self.relaytest.describe_status(rc), self.relaytest.tail(relay.stderr.text(), 600))
            try:
                relay.stop()
            except AssertionError:
                pass                   # already reported in the note
            return note

    def stop(self):
        with self.lock:
            if self.relay is not None:
                relay, self.relay = self.relay, None
                relay.stop()


def run_child(module, filters, result_file):
    mod = load_module(module)
    tests = [(n, f) for n, f in vars(mod).items()
             if n.startswith("test_") and inspect.isfunction(f) and f.__module__ == mod.__name__]
    tests = [(n, f) for n, f in tests if selected("%s.%s" % (module, n), filters)]
    shared = SharedRelay(mod)
    out_lock = threading.Lock()

    def record(name, ok, message="", skipped=False):
        with out_lock, open(result_file, "a", encoding="utf-8") as f:
            f.write(json.dumps({"name": "%s.%s" % (module, name), "ok": ok,
                                "message": message, "skipped": skipped}) + "\n")

    def run_one(name, fn):
        params = list(inspect.signature(fn).parameters)
        try:
            if params == ["relay"]:
                note = fn(shared.get())
            elif not params:
                note = fn()
            else:
                raise TypeError("test parameters must be () or (relay), not %r" % params)
        except unittest.SkipTest as e:
            return name, None, str(e) or "skipped"
        except BaseException as e:  # noqa: B036 — a test must never stop the run
            message = failure_message(e)
            if params == ["relay"]:
                note = shared.death_note()
                if note:
                    message += "\n" + note
            return name, False, message
        return name, True, note if isinstance(note, str) else ""

    results = {}
    if getattr(mod, "PARALLEL", False):
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(tests))) as pool:
            for name, ok, msg in pool.map(lambda t: run_one(*t), tests):
                results[name] = (ok, msg)
    else:
        for name, fn in tests:
            _, ok, msg = run_one(name, fn)
            results[name] = (ok, msg)
    for name, _ in tests:
        ok, msg = results[name]
        record(name, bool(ok), msg, skipped=ok is None)
    try:
        shared.stop()
    except AssertionError as e:
        record("(shared relay shutdown)", False, str(e))
    return 0


# ------------------------------------------------------------------------ main

def main():
    ap = argparse.ArgumentParser(description="relay unit and integration tests")
    ap.add_argument("--relay", help="relay binary (sets RELAY_BIN; default ./relay)")
    ap.add_argument("--unit-dir", help="directory of unit-test binaries to run first")
    ap.add_argument("-k", dest="filters", action="append", default=[],
                    help="run only tests whose name contains this (repeatable)")
    ap.add_argument("-j", dest="jobs", type=int, default=int(os.environ.get("RELAY_TEST_JOBS", "6")),
                    help="integration modules run in parallel (default 6)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--result-file", help=argparse.SUPPRESS)
    args = ap.parse_args()

    if args.relay:
        os.environ["RELAY_BIN"] = os.path.abspath(args.relay)
    elif "RELAY_BIN" in os.environ:
        os.environ["RELAY_BIN"] = os.path.abspath(os.environ["RELAY_BIN"])
    else:
        os.environ["RELAY_BIN"] = os.path.abspath("./relay")

    if args.child:
        return run_child(args.child, args.filters, args.result_file)

    start = time.monotonic()
    passed = failed = 0
    if args.unit_dir:
        p, f = run_unit_dir(args.unit_dir, args.filters)
        passed += p
        failed += f
    p, f, skipped = run_integration(args.filters, args.jobs)
    passed += p
    failed += f
    sys.stderr.write("(%.1f s)\n" % (time.monotonic() - start))
    sys.stderr.flush()
    print("%d passed, %d failed%s" % (passed, failed, ", %d skipped" % skipped if skipped else ""),
          flush=True)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
