#!/usr/bin/env python3
"""
run.py — the relay's test runner.

    python3 test/run.py --relay ./relay --unit-dir build/rel/test/unit [-k NAME]...
                        [--store memory|redis]...

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
   directory that lasts for the pass.
3. Step 2 runs twice (--store picks one): every relay over the memory store,
   then every relay over Redis. In the Redis pass (RELAY_TEST_STORE=redis)
   each module's process starts a redis-server of its own (SuiteRedis: no
   persistence, a free loopback port) and relaytest.Relay gives each relay
   a fresh database of it, unless the test chose a store itself. What
   is the memory store's own is skipped in the Redis pass, saying so: a test
   that starts a relay with --state-file or --snapshot-interval, a test that
   calls relaytest.memory_store_only(why), every test of a module that sets
   MEMORY_STORE_ONLY = "why". A module that sets STORE_INDEPENDENT = "why"
   starts no relay on the suite's store (none at all, or each on a Redis of
   its own): it runs in the memory pass only, which checks that claim. The
   Redis pass names its tests "redis:...".

Prints "ok   module.test" (with what the test returned, if anything), "FAIL
module.test: message" or "skip module.test: reason" per test, after each
pass a line "STORE store: N passed, M failed, K skipped in S s" and the
skips' reasons counted, and, last, exactly one line "N passed, M failed"
(both passes and the unit tests), followed by ", K skipped" when K > 0.
Exit status 1 when anything failed (in either pass) or nothing ran.
"""

import argparse
import concurrent.futures
import contextlib
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
# The integration suite runs once over each store, in this order.
STORES = ("memory", "redis")
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


# The module processes running now, so that an interrupted run can end them
# (each in its own session, with the relays it started).
running = set()
running_lock = threading.Lock()


def kill_running():
    with running_lock:
        for proc in running:
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


def run_module_process(module, filters, env):
    """Run one module in a child process (environment env); returns its list
    of result dicts and the seconds it took."""
    fd, result_file = tempfile.mkstemp(prefix="relay-results-", suffix=".jsonl")
    os.close(fd)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", module,
           "--result-file", result_file]
    for f in filters:
        cmd += ["-k", f]
    start = time.monotonic()
    with running_lock:
        proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, start_new_session=True, env=env)
        running.add(proc)
    try:
        out, _ = proc.communicate(timeout=MODULE_TIMEOUT_S)
        timed_out = False
    except subprocess.TimeoutExpired:
        # The child and the relays it started share its process group.
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        timed_out = True
    finally:
        with running_lock:
            running.discard(proc)
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


def report(results, label, skips):
    """Print one module's results, each name after label; returns (passed,
    failed, skipped) and counts the skips' reasons in skips."""
    passed = failed = skipped = 0
    lines = []
    for r in results:
        name = label + r["name"]
        if r.get("skipped"):
            skipped += 1
            skips[r["message"]] = skips.get(r["message"], 0) + 1
            lines.append("skip %s: %s" % (name, r["message"]))
        elif r["ok"]:
            passed += 1
            lines.append("ok   %s%s" % (name, " (%s)" % r["message"] if r["message"] else ""))
        else:
            failed += 1
            msg = r["message"].rstrip().replace("\n", "\n         ")
            lines.append("FAIL %s: %s" % (name, msg))
    if lines:
        emit("\n".join(lines))
    return passed, failed, skipped


def run_integration(filters, jobs, store, env):
    """One pass of the integration suite, every relay over `store`, the
    modules' processes in environment env. Returns (passed, failed,
    skipped)."""
    label = "" if store == "memory" else store + ":"
    modules = [m for m in discover_modules() if module_has_selected_tests(m, filters)]
    modules.sort(key=slow_first)
    last = [m for m in modules if module_flag(m, "LAST")]
    alone = [m for m in modules if module_flag(m, "EXCLUSIVE") and m not in last]
    totals = [0, 0, 0]
    times = {}
    skips = {}
    start = time.monotonic()
    # Every module's children write their answers here (relaytest._Recorder),
    # unless the caller chose where.
    record_dir = None
    if not env.get("RELAY_TEST_RECORD"):
        record_dir = tempfile.mkdtemp(prefix="relay-answers-")
        env = dict(env, RELAY_TEST_RECORD=record_dir)
    # What the modules' processes keep for the pass (their redis-servers'
    # directories), gone with it even when they were killed.
    pass_dir = tempfile.mkdtemp(prefix="relay-pass-")
    env = dict(env, RELAY_TEST_PASS_DIR=pass_dir)
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
            try:
                futures = {pool.submit(run_module_process, m, filters, env): m
                           for m in modules if m not in alone and m not in last}
                for fut in concurrent.futures.as_completed(futures):
                    results, seconds = fut.result()
                    totals = [t + n for t, n in zip(totals, report(results, label, skips))]
                    times[futures[fut]] = seconds
            except BaseException:
                # Interrupted: what has not started never will, and what
                # runs ends now, so that leaving the pool does not wait.
                pool.shutdown(wait=False, cancel_futures=True)
                kill_running()
                raise
        for m in alone + last:
            results, times[m] = run_module_process(m, filters, env)
            totals = [t + n for t, n in zip(totals, report(results, label, skips))]
    except BaseException:
        kill_running()
        raise
    finally:
        if record_dir is not None:
            shutil.rmtree(record_dir, ignore_errors=True)
        shutil.rmtree(pass_dir, ignore_errors=True)
    # On stderr, slowest first: what to shorten when the suite grows slow.
    sys.stderr.write("".join("(%s%s: %.1f s)\n" % (label, m, s)
                             for m, s in sorted(times.items(), key=lambda i: -i[1])))
    emit("%s store: %d passed, %d failed, %d skipped in %.1f s" % (
        store, totals[0], totals[1], totals[2], time.monotonic() - start))
    for reason, n in sorted(skips.items(), key=lambda i: -i[1]):
        emit("    %d skipped: %s" % (n, reason))
    return tuple(totals)


# ------------------------------------- a module's redis-server (the Redis pass)

# Databases of a module's redis-server: one per relay the module starts (27
# at most today, 230 in the whole pass), each about 500 bytes of Redis's
# memory while empty.
REDIS_DATABASES = 1024


def die_with_parent():
    """In the child, before exec: SIGKILL when the runner ends, however it
    ends (Linux prctl PR_SET_PDEATHSIG), so no redis-server outlives it."""
    import ctypes
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)


class SuiteRedis:
    """The redis-server of one module in the Redis pass (redistest's), on a
    free loopback port, without persistence (--save ''), with
    REDIS_DATABASES databases: each relay a test starts takes a fresh one
    (relaytest.Relay), so relays that run side by side never share
    mailboxes, limits or counts; modules, which run side by side too, do not
    even share a server (one module's 11 MiB mailbox does not hold up
    another's calls). Its --store-secret-file is made here too. Stopped on
    leaving the block."""

    def __enter__(self):
        # On the path once a test module is loaded.
        from redistest import RedisServer

        if shutil.which("redis-server") is None:
            raise RuntimeError("redis-server is not installed (make deps-test installs it; "
                               "--store memory runs without it)")
        self.server = RedisServer("--databases", REDIS_DATABASES, preexec_fn=die_with_parent,
                                  parent_dir=os.environ.get("RELAY_TEST_PASS_DIR"))
        self.server.__enter__()
        try:
            self.secret = os.path.join(self.server.dir, "store-secret")
            with open(self.secret, "wb") as f:
                f.write(os.urandom(48))
        except BaseException:
            self.server.__exit__()
            raise
        return self

    def __exit__(self, *exc):
        self.server.__exit__()
        return False

    def env(self):
        """What relaytest needs to put relays on it."""
        return {"RELAY_TEST_STORE": "redis", "RELAY_TEST_REDIS_PORT": str(self.server.port),
                "RELAY_TEST_REDIS_DATABASES": str(REDIS_DATABASES),
                "RELAY_TEST_STORE_SECRET": self.secret}


def run_pass(filters, jobs, store):
    """The integration suite over one store; (passed, failed, skipped)."""
    emit("== integration tests, every relay over the %s store%s ==" % (
        store, " (a redis-server per module, a database per relay)" if store == "redis" else ""))
    if store == "redis" and shutil.which("redis-server") is None:
        emit("FAIL redis:(pass): redis-server is not installed (make deps-test installs it; "
             "--store memory runs without it)")
        return 0, 1, 0
    return run_integration(filters, jobs, store, dict(os.environ, RELAY_TEST_STORE=store))


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

    # MEMORY_STORE_ONLY = "why": every test is about the memory store.
    # STORE_INDEPENDENT = "why": no test starts a relay on the suite's store
    # (none at all, or each on a Redis of its own), so one pass is enough.
    memory_only = getattr(mod, "MEMORY_STORE_ONLY", None)
    independent = getattr(mod, "STORE_INDEPENDENT", None)
    store = os.environ.get("RELAY_TEST_STORE", "memory")
    if store != "memory" and (memory_only or independent):
        why = ("memory store only: " + memory_only if memory_only else
               "runs in the memory pass only: " + independent)
        for name, _ in tests:
            record(name, False, why, skipped=True)
        return 0

    with contextlib.ExitStack() as stack:
        if store == "redis":
            try:
                redis = stack.enter_context(SuiteRedis())
            except (RuntimeError, AssertionError) as e:
                record("(redis-server)", False, str(e))
                return 0
            os.environ.update(redis.env())
        return run_tests(module, mod, tests, shared, record, independent)


def run_tests(module, mod, tests, shared, record, independent):
    """Run the module's tests (in threads when PARALLEL) and record them."""
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
    if independent and shared.relaytest.started_on_suite_store:
        record("(STORE_INDEPENDENT)", False, "the module says %r, yet its tests started %d "
               "relay(s) on the suite's store: drop STORE_INDEPENDENT so that the Redis pass "
               "runs them" % (independent, shared.relaytest.started_on_suite_store))
    return 0


# ------------------------------------------------------------------------ main

def interrupted(signum, frame):
    raise KeyboardInterrupt("signal %d" % signum)


def main():
    ap = argparse.ArgumentParser(description="relay unit and integration tests")
    ap.add_argument("--relay", help="relay binary (sets RELAY_BIN; default ./relay)")
    ap.add_argument("--unit-dir", help="directory of unit-test binaries to run first")
    ap.add_argument("-k", dest="filters", action="append", default=[],
                    help="run only tests whose name contains this (repeatable)")
    ap.add_argument("-j", dest="jobs", type=int, default=int(os.environ.get("RELAY_TEST_JOBS", "6")),
                    help="integration modules run in parallel (default 6)")
    ap.add_argument("--store", dest="stores", action="append", choices=STORES,
                    help="run the integration suite over this store (repeatable; default: "
                         "once over each, %s)" % " then ".join(STORES))
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
    # SIGTERM ends the run as ^C does: the modules' processes go, and their
    # relays and redis-servers with them.
    signal.signal(signal.SIGTERM, interrupted)
    skipped = 0
    for store in args.stores or STORES:
        p, f, s = run_pass(args.filters, args.jobs, store)
        passed += p
        failed += f
        skipped += s
    sys.stderr.write("(%.1f s)\n" % (time.monotonic() - start))
    sys.stderr.flush()
    print("%d passed, %d failed%s" % (passed, failed, ", %d skipped" % skipped if skipped else ""),
          flush=True)
    return 1 if failed or passed == 0 else 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        # The modules' processes, their relays and redis-servers are gone.
        print("interrupted", flush=True)
        sys.exit(130)
