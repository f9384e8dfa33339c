"""Mailboxes survive restarts: --state-file (loaded at start, written at
SIGTERM/SIGINT once the last connection has closed, mode 0600, temporary
file + rename), --snapshot-interval (written periodically by a forked
child, so a kill -9 loses at most about one interval), and a damaged file
refuses the start (exit status 1, one line naming the file) without being
touched. The temporary file never follows a link planted at a guessable
name; a forged file with a right checksum is held to the API's rules
(refused naming the record and field) and its far-future expiry instants
are cut to --max-ttl.

Runs its tests one after the other (10,000 mailboxes and a kill -9 are
heavy on 2 cores). Cost, measured on 2 cores: 10,000 mailboxes ~2 s (about
1 s to create them over 4 pipelined connections), every field <1 s (the
relay's test clock moves past two expiry instants), request under way at
SIGTERM ~1 s, SIGINT <1 s,
kill -9 ~8 s (4.5 s of creating), damaged files <1 s, planted links ~2 s,
crafted files <1 s: about 22 s in all.
"""

import json
import os
import re
import shutil
import signal
import stat
import tempfile
import threading
import time
import uuid

from relaytest import (Conn, Relay, b64, build_request, config, create, default_body, delete,
                       expect_error, expect_json, expect_status, new_claim, new_mailbox,
                       parse_rfc3339, read, relinquish, rfc3339, run_relay, update, update_body,
                       wait_until)

EXPECTED_SECONDS = 14
MEMORY_STORE_ONLY = "--state-file and restarts (Redis keeps the mailboxes itself)"


# ------------------------------------------------------------------ helpers

class _StateDir:
    """A private directory for one state file, removed afterwards."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="relay-state-")
        self.path = os.path.join(self.dir, "relay.state")
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def others(self):
        """Files in the directory besides the state file (temporaries left over)."""
        return sorted(f for f in os.listdir(self.dir) if f != "relay.state")


def _mode(path):
    return stat.S_IMODE(os.stat(path).st_mode)


def _check_saved(state, what):
    assert os.path.isfile(state.path), "no state file %s after %s" % (state.path, what)
    assert _mode(state.path) == 0o600, "state file mode %o after %s, expected 600" % (
        _mode(state.path), what)
    assert not state.others(), "files left beside the state file after %s: %r" % (
        what, state.others())


def _json_request(conn, method, path, claim, body=None, headers=()):
    hdrs = [("Mailbox-Device-Claim", claim)] + list(headers)
    raw = None
    if body is not None:
        raw = json.dumps(body).encode()
        hdrs.append(("Content-Type", "application/json"))
    return build_request(method, path, hdrs, raw, host=conn.host_header)


def _pipeline(conn, requests, batch=64):
    """Send requests (bytes) in batches of `batch` and read their answers
    in order; returns the Responses. Batches keep both sides' buffers from
    filling up while neither reads."""
    out = []
    for i in range(0, len(requests), batch):
        part = requests[i:i + batch]
        conn.send(b"".join(part))
        for _ in part:
            out.append(conn.read_response("POST", timeout_s=30))
    return out


def _in_parallel(relay, jobs, work):
    """Split jobs over 4 keep-alive connections, one thread each;
    work(conn, jobs_slice) returns a list. Results in job order."""
    n = 4
    slices = [jobs[i::n] for i in range(n)]
    results = [None] * n
    errors = []

    def run(k):
        try:
            with Conn(relay, timeout_s=30) as conn:
                results[k] = work(conn, slices[k])
        except BaseException as e:           # reported below
            errors.append(e)

    threads = [threading.Thread(target=run, args=(k,), daemon=True) for k in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    if errors:
        raise errors[0]
    assert all(r is not None for r in results), "a worker thread did not finish"
    merged = [None] * len(jobs)
    for k in range(n):
        merged[k::n] = results[k]
    return merged


def _mailbox_id(resp):
    return resp.json()["urlLink"].rsplit("/", 1)[1]


# ------------------------------------------------------- 10,000 mailboxes

MANY = 10000


def test_ten_thousand_mailboxes_survive_sigterm_and_restart():
    now = time.time()
    specs = []
    for i in range(MANY):
        body = default_body()
        body["displayInformation"]["title"] = "Mailbox %05d" % i
        body["displayInformation"]["description"] = "number %d of %d" % (i, MANY)
        body["payload"]["data"] = b64(os.urandom(28 + i % 40))
        if i % 10:
            # Explicit, distinct expiry instants; every tenth takes the default TTL.
            body["mailboxConfiguration"] = config(expiration=rfc3339(now + 7200 + i))
        specs.append({"i": i, "claim": new_claim(), "body": body})

    def create_all(conn, part):
        reqs = [_json_request(conn, "POST", "/v1/m", s["claim"], s["body"]) for s in part]
        return _pipeline(conn, reqs)

    def read_as(claim_key):
        def work(conn, part):
            reqs = [_json_request(conn, "POST", "/v1/m/%s" % s["id"], s[claim_key]) for s in part]
            return _pipeline(conn, reqs)
        return work

    with _StateDir() as state:
        with Relay("--state-file", state.path) as relay:
            started = time.monotonic()
            for s, resp in zip(specs, _in_parallel(relay, specs, create_all)):
                expect_json(resp, 200, "create %d" % s["i"])
                s["id"] = _mailbox_id(resp)
            created_in = time.monotonic() - started
            # Every tenth: read before the restart, to learn its default
            # expiry and ETag; half of them with a new claim, binding a Receiver.
            tenth = [s for s in specs if s["i"] % 10 == 0]
            for s in tenth:
                s["reader"] = new_claim() if s["i"] % 20 == 0 else s["claim"]
                if s["i"] % 20 == 0:
                    s["receiver"] = s["reader"]
            for s, resp in zip(tenth, _in_parallel(relay, tenth, read_as("reader"))):
                data = expect_json(resp, 200, "read %d before the restart" % s["i"])
                s["expiration"] = data["expiration"]
                s["etag"] = resp.header("ETag")
            assert not os.path.exists(state.path), "state file written before any stop " \
                "(no --snapshot-interval)"
        # The with block sent SIGTERM and checked exit status 0.
        _check_saved(state, "SIGTERM")
        size = os.path.getsize(state.path)

        with Relay("--state-file", state.path) as relay:
            restored = [l for l in relay.stderr.lines() if "restored" in l]
            resps = _in_parallel(relay, specs, read_as("claim"))
            bad = []
            for s, resp in zip(specs, resps):
                if resp.status != 200:
                    bad.append((s["i"], resp.status))
                    continue
                data = resp.json()
                want_exp = s.get("expiration") or s["body"]["mailboxConfiguration"]["expiration"]
                if (data.get("payload") != s["body"]["payload"] or
                        data.get("displayInformation") != s["body"]["displayInformation"] or
                        data.get("expiration") != want_exp or
                        ("etag" in s and resp.header("ETag") != s["etag"])):
                    bad.append((s["i"], data, want_exp, resp.header("ETag"), s.get("etag")))
            assert not bad, "%d of %d mailboxes not back as they were after the restart " \
                "(state file %d bytes, log %r); first: %r" % (len(bad), MANY, size, restored,
                                                               bad[:3])
            # Receivers stay bound: the bound one reads, a new claim is refused.
            bound = [s for s in specs if "receiver" in s]
            for s, resp in zip(bound, _in_parallel(relay, bound, read_as("receiver"))):
                expect_json(resp, 200, "bound Receiver of mailbox %d after the restart" % s["i"])
            for s in bound:
                s["stranger"] = new_claim()
            for s, resp in zip(bound, _in_parallel(relay, bound, read_as("stranger"))):
                expect_error(resp, 401, "unauthorized",
                             "new claim on mailbox %d with a bound Receiver" % s["i"])
        _check_saved(state, "the second SIGTERM")
    assert created_in < 60, "creating %d mailboxes took %.1f s" % (MANY, created_in)


# ------------------------------------------------------------ every field

PUBLIC = "https://relay.example"         # the same urlLink base in both runs

def test_every_part_of_a_mailbox_survives_a_restart():
    tokens = {k: "tok-%s-%s" % (k, os.urandom(8).hex()) for k in ("s1", "r1", "s6")}

    def token(name):
        return {"type": "com.apple.apns", "tokenData": tokens[name]}

    with _StateDir() as state:
        with Relay("--state-file", state.path, "--public-url", PUBLIC) as relay:
            # Expires a minute from now: gone after the restart, whose
            # relay starts with its clock past that instant (test_clock).
            short_expires = int(time.time()) + 60
            short = new_mailbox(relay, expiration=rfc3339(short_expires))
            # 1: RW, tokens for both parties, updated, retry record of the update.
            exp1 = rfc3339(time.time() + 5400)
            m1 = new_mailbox(relay, body=default_body(notificationToken=token("s1")),
                             rights="RW", expiration=exp1)
            r1 = new_claim()
            expect_json(read(relay, m1.id, r1, body={"notificationToken": token("r1")}), 200)
            p1 = update_body()
            expect_json(update(relay, m1.id, m1.sender, body=p1, request_id="upd-1"), 200)
            resp = read(relay, m1.id, r1)
            d1 = expect_json(resp, 200)
            etag1 = resp.header("ETag")
            assert d1["payload"] == p1["payload"] and d1["expiration"] == exp1, d1
            # 2: R only, Receiver bound.
            m2 = new_mailbox(relay, rights="R")
            r2 = new_claim()
            expect_json(read(relay, m2.id, r2), 200)
            # 3: RD, Receiver bound and then relinquished (retry record).
            m3 = new_mailbox(relay, rights="RD")
            r3 = new_claim()
            expect_json(read(relay, m3.id, r3), 200)
            expect_json(relinquish(relay, m3.id, r3, request_id="rel-3"), 200)
            # 5: nobody has read it yet.
            m5 = new_mailbox(relay)
            # 6: a create with a Mailbox-Request-ID (retry record), with a token.
            s6, body6 = new_claim(), default_body(notificationToken=token("s6"))
            resp = create(relay, s6, body6, request_id="create-6")
            url6 = expect_json(resp, 200)["urlLink"]
            m6_id = url6.rsplit("/", 1)[1]
            # 7: expires a minute after the restart: the restored expiry is live.
            m7_expires = short_expires + 60
            m7 = new_mailbox(relay, expiration=rfc3339(m7_expires))
        _check_saved(state, "SIGTERM")
        with open(state.path, "rb") as f:
            saved = f.read()
        for name, value in tokens.items():
            assert value.encode() in saved, "notification token %s not in the state file" % name
        # A file another tool left readable to others is written 0600 again.
        os.chmod(state.path, 0o644)
        # The short-lived mailbox expires while the relay is down: it
        # comes back with its clock a second past that instant.
        with Relay("--state-file", state.path, "--public-url", PUBLIC,
                   test_clock=short_expires + 1 - time.time()) as relay:
            # Expired meanwhile: dropped.
            expect_error(read(relay, short.id, short.sender), 404, "not_found",
                         "mailbox that expired while the relay was down")
            # 1: content, expiry, ETag, both claims, cheap poll, retry record, rights.
            for who, claim in (("Sender", m1.sender), ("Receiver", r1)):
                resp = read(relay, m1.id, claim)
                data = expect_json(resp, 200, "%s reads mailbox 1 after the restart" % who)
                assert data == d1, "mailbox 1 read by the %s after the restart: %r, " \
                    "before: %r" % (who, data, d1)
                assert resp.header("ETag") == etag1, "ETag %r after the restart, %r before" % (
                    resp.header("ETag"), etag1)
            expect_error(read(relay, m1.id, new_claim()), 401, "unauthorized",
                         "a third claim on mailbox 1 (Receiver bound before the restart)")
            resp = read(relay, m1.id, r1, headers=[("If-None-Match", etag1)])
            expect_status(resp, 204, "If-None-Match with the ETag from before the restart")
            assert resp.header("ETag") == etag1, resp
            resp = update(relay, m1.id, m1.sender, body=p1, request_id="upd-1")
            expect_json(resp, 201, "repeated update (same claim and Mailbox-Request-ID)")
            resp = read(relay, m1.id, m1.sender)
            assert resp.header("ETag") == etag1, "a retried update changed the ETag: %s" % resp
            # The Receiver holds W: it may update (and the ETag moves on).
            expect_json(update(relay, m1.id, r1), 200, "Receiver with W updates after the restart")
            assert read(relay, m1.id, m1.sender).header("ETag") != etag1
            # 2: the Receiver has R but neither W nor D.
            expect_json(read(relay, m2.id, r2), 200, "Receiver of an R mailbox reads")
            expect_error(update(relay, m2.id, r2), 401, "unauthorized", "Receiver without W updates")
            expect_error(delete(relay, m2.id, r2), 401, "unauthorized", "Receiver without D deletes")
            # 3: the relinquish is remembered, and the place is free for a new Receiver.
            expect_json(relinquish(relay, m3.id, r3, request_id="rel-3"), 201,
                        "repeated relinquish after the restart")
            r3b = new_claim()
            expect_json(read(relay, m3.id, r3b), 200, "new Receiver of a relinquished mailbox")
            expect_error(read(relay, m3.id, r3), 401, "unauthorized", "the old Receiver")
            # 5: still unbound, so the first new claim binds.
            r5 = new_claim()
            expect_json(read(relay, m5.id, r5), 200, "first reader of mailbox 5 after the restart")
            expect_error(read(relay, m5.id, new_claim()), 401, "unauthorized", "second new claim")
            # 6: the create is remembered (201, same urlLink).
            resp = create(relay, s6, body6, request_id="create-6")
            data = expect_json(resp, 201, "repeated create (same claim and Mailbox-Request-ID)")
            assert data.get("urlLink") == url6, "retry after the restart gave %r, first %r" % (
                data.get("urlLink"), url6)
            expect_json(read(relay, m6_id, s6), 200)
            # D holds for mailbox 3's new Receiver.
            expect_json(delete(relay, m3.id, r3b), 200, "Receiver with D deletes")
            # 7: there until its instant, gone after it.
            data = expect_json(read(relay, m7.id, m7.sender), 200, "mailbox 7 before its expiry")
            assert data["expiration"] == rfc3339(m7_expires), data
            relay.advance_clock_to(m7_expires)
            expect_error(read(relay, m7.id, m7.sender), 404, "not_found",
                         "restored mailbox 7 after its expiry instant")
        _check_saved(state, "the second SIGTERM")
        with open(state.path, "rb") as f:
            saved = f.read()
        # The tokens came back with their mailboxes and were saved again.
        for name, value in tokens.items():
            assert value.encode() in saved, "notification token %s lost in the restart" % name
        assert bytes.fromhex(short.id.replace("-", "")) not in saved, "expired mailbox saved again"


# -------------------------------------------- written after the last close

def test_state_is_written_after_the_last_connection_finished():
    with _StateDir() as state:
        relay = Relay("--state-file", state.path).start()
        try:
            mb = new_mailbox(relay)
            newer = update_body()
            conn = Conn(relay, timeout_s=10)
            raw = _json_request(conn, "PUT", mb.path, mb.sender, newer)
            conn.send(raw[:-20])
            # The request is under way when SIGTERM comes.
            assert not conn.data_within(0.3)
            relay.send_signal(signal.SIGTERM)
            # A window: the relay waits for the request, and has not written yet.
            assert not conn.data_within(0.5), "relay answered an incomplete request: %r" % \
                bytes(conn.buf[:200])
            assert relay.alive(), "relay stopped with a request under way"
            assert not os.path.exists(state.path), "state file written while a request was " \
                "still under way"
            conn.send(raw[-20:])
            expect_json(conn.read_response("PUT", timeout_s=5), 200,
                        "update completed after SIGTERM")
            conn.close()
        finally:
            relay.stop()
        _check_saved(state, "SIGTERM with a request under way")
        with Relay("--state-file", state.path) as relay:
            data = expect_json(read(relay, mb.id, mb.sender), 200)
            assert data["payload"] == newer["payload"], "the update that finished after " \
                "SIGTERM was not saved: %r" % data["payload"]


def test_sigint_writes_the_state_file_too():
    with _StateDir() as state:
        relay = Relay("--state-file", state.path).start()
        try:
            mb = new_mailbox(relay)
        finally:
            relay.stop(sig=signal.SIGINT)
        _check_saved(state, "SIGINT")
        with Relay("--state-file", state.path) as relay:
            data = expect_json(read(relay, mb.id, mb.sender), 200, "mailbox saved at SIGINT")
            assert data["payload"] == mb.body["payload"]


# ---------------------------------------------------------- kill -9

def test_kill_9_with_snapshot_interval_loses_at_most_the_last_two_seconds():
    with _StateDir() as state:
        relay = Relay("--state-file", state.path, "--snapshot-interval", "1s").start()
        made = []                   # (answered at, id, claim, payload)
        try:
            wait_until(lambda: os.path.exists(state.path), 5,
                       "the first periodic snapshot to appear (--snapshot-interval 1s)")
            assert _mode(state.path) == 0o600, "periodic snapshot has mode %o" % _mode(state.path)
            with Conn(relay, timeout_s=10) as conn:
                started = time.monotonic()
                # A steady load of 400 creates a second, not as many as
                # Python can send: that took a core from the other modules
                # for the whole 4.5 s and proves nothing more.
                batch_at = started
                while time.monotonic() - started < 4.5:
                    batch_at += 0.05
                    time.sleep(max(0.0, batch_at - time.monotonic()))
                    batch = [(new_claim(), default_body()) for _ in range(20)]
                    resps = _pipeline(conn, [_json_request(conn, "POST", "/v1/m", c, b)
                                             for c, b in batch])
                    at = time.monotonic()
                    for (claim, body), resp in zip(batch, resps):
                        expect_json(resp, 200, "create while snapshots are taken")
                        made.append((at, _mailbox_id(resp), claim, body["payload"]))
            killed_at = time.monotonic()
            relay.proc.kill()
            relay.proc.wait(5)
        finally:
            # Clean up without the exit-status-0 check (killed on purpose).
            relay._kill()
        must = [m for m in made if m[0] < killed_at - 2.0]
        assert len(must) >= 100, "only %d mailboxes made more than 2 s before the kill" % len(must)
        with Relay("--state-file", state.path) as relay:
            with Conn(relay, timeout_s=10) as conn:
                resps = _pipeline(conn, [_json_request(conn, "POST", "/v1/m/%s" % mid, claim)
                                         for _, mid, claim, _ in made])
            back = {}
            for (at, mid, claim, payload), resp in zip(made, resps):
                if resp.status == 200:
                    assert resp.json()["payload"] == payload, "mailbox %s has another payload" % mid
                    back[mid] = at
                else:
                    expect_error(resp, 404, "not_found", "mailbox %s after kill -9" % mid)
            lost = [(round(killed_at - at, 2), mid) for at, mid, _, _ in must if mid not in back]
            assert not lost, "%d of %d mailboxes made more than 2 s before kill -9 are gone " \
                "(seconds before the kill, id): %r" % (len(lost), len(must), lost[:5])


# -------------------------------------------------------- damaged files

def _make_state_file(state):
    with Relay("--state-file", state.path) as relay:
        for _ in range(5):
            mb = new_mailbox(relay, body=default_body(notificationToken={
                "type": "com.apple.apns", "tokenData": "t" * 100}))
            read(relay, mb.id, new_claim())
    _check_saved(state, "SIGTERM")
    with open(state.path, "rb") as f:
        return f.read()


def test_damaged_or_truncated_state_file_refuses_to_start_and_is_left_alone():
    with _StateDir() as state:
        good = _make_state_file(state)
        assert len(good) > 400, "state file of 5 mailboxes is only %d bytes" % len(good)
        mid = len(good) // 2
        flipped = bytearray(good)
        flipped[mid] ^= 0x01
        cases = [
            ("a byte flipped in the middle", bytes(flipped)),
            ("truncated to half", good[:mid]),
            ("the last byte missing", good[:-1]),
            ("truncated to 10 bytes", good[:10]),
            # An empty file is no state, not a damaged one (issue 10):
            # test_startup_checks covers it.
        ]
        for what, content in cases:
            with open(state.path, "wb") as f:
                f.write(content)
            os.chmod(state.path, 0o600)
            before = os.stat(state.path)
            rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--state-file", state.path])
            lines = err.strip().splitlines()
            assert rc == 1, "state file %s: exit status %d, expected 1; stderr %r" % (what, rc, err)
            assert len(lines) == 1, "state file %s: expected one line on stderr, got %r" % (
                what, err)
            assert state.path in lines[0], "state file %s: the message does not name the " \
                "file: %r" % (what, lines[0])
            assert re.search(r"damaged|corrupt|truncated", lines[0], re.I), \
                "state file %s: the message does not say it is damaged: %r" % (what, lines[0])
            assert "listening" not in out + err, "state file %s: relay printed %r" % (what, out)
            with open(state.path, "rb") as f:
                after = f.read()
            assert after == content, "state file %s was modified by the refused start" % what
            st = os.stat(state.path)
            assert (st.st_mtime_ns, st.st_ino, _mode(state.path)) == \
                (before.st_mtime_ns, before.st_ino, 0o600), "state file %s touched" % what
            assert not state.others(), "files left beside it: %r" % state.others()
        # The good file still starts.
        with open(state.path, "wb") as f:
            f.write(good)
        with Relay("--state-file", state.path) as relay:
            assert relay.alive()


# ----------------------------------------------------- planted links

def test_a_link_planted_at_the_old_temporary_name_is_never_written_through():
    """The temporary file used to be <state>.tmp.<pid>, opened with O_TRUNC
    and without O_EXCL: a link planted there had every mailbox written
    into its target. Links at that name for the relay's pid (the final
    write) and the pids after it (the periodic children) change nothing."""
    victim_dir = tempfile.mkdtemp(prefix="relay-victim-")
    victim = os.path.join(victim_dir, "precious")
    try:
        with open(victim, "w") as f:
            f.write("precious")
        os.chmod(victim, 0o644)
        with _StateDir() as state:
            # umask 0: what open() is given is what the file gets, so a
            # mode other than 0600 anywhere would show.
            old_mask = os.umask(0)
            try:
                relay = Relay("--state-file", state.path, "--snapshot-interval", "1s").start()
            finally:
                os.umask(old_mask)
            links = []
            try:
                for pid in range(relay.proc.pid, relay.proc.pid + 200):
                    link = "%s.tmp.%d" % (state.path, pid)
                    os.symlink(victim, link)
                    links.append(os.path.basename(link))
                token = "tok-%s" % os.urandom(8).hex()
                mb = new_mailbox(relay, body=default_body(notificationToken={
                    "type": "com.apple.apns", "tokenData": token}))
                # A periodic snapshot (forked child) with the mailbox in it.
                wait_until(lambda: os.path.isfile(state.path) and
                           token.encode() in open(state.path, "rb").read(), 10,
                           "a periodic snapshot holding the new mailbox")
            finally:
                relay.stop()
            with open(victim, "rb") as f:
                written = f.read()
            assert written == b"precious", "the mailboxes were written through a planted link " \
                "(%d bytes, token in them: %s)" % (len(written), token.encode() in written)
            assert _mode(victim) == 0o644, "the link's target changed mode"
            st = os.lstat(state.path)
            assert stat.S_ISREG(st.st_mode), "the state file is not a plain file (a link moved " \
                "into its place?)"
            assert _mode(state.path) == 0o600, "state file mode %o under umask 0" % _mode(
                state.path)
            for name in links:
                assert os.path.islink(os.path.join(state.dir, name)), "planted link %s gone" % name
            assert state.others() == sorted(links), "temporary files left beside it: %r" % [
                f for f in state.others() if f not in links]
            with Relay("--state-file", state.path) as relay:
                expect_json(read(relay, mb.id, mb.sender), 200, "the mailbox after the restart")
    finally:
        shutil.rmtree(victim_dir, ignore_errors=True)


# ------------------------------------------------------ crafted files

def _crc64_jones(data):
    """CRC-64/Jones, reflected: the state file's checksum."""
    table = []
    for i in range(256):
        v = i
        for _ in range(8):
            v = (v >> 1) ^ 0x95ac9329ac4bc9b5 if v & 1 else v >> 1
        table.append(v)
    v = 0
    for b in data:
        v = table[(v ^ b) & 0xff] ^ (v >> 8)
    return v


def _crafted_mailbox(sender, expires_at, receiver=None, title="a title",
                     image_url=b"https://example.com/i.png", payload=b"\x00" * 28,
                     payload_type=b"AEAD_AES_128_GCM", rights=5, records=()):
    """One mailbox record as storage/snapshot.c writes it; claims as UUID
    strings, strings as bytes (title may be str)."""
    def s(data, width):
        return len(data).to_bytes(width, "little") + data
    if isinstance(title, str):
        title = title.encode()
    out = uuid.uuid4().bytes + uuid.UUID(sender).bytes
    out += uuid.UUID(receiver).bytes if receiver else bytes(16)
    out += bytes([rights, 1 if receiver else 0])
    out += (expires_at % 2 ** 64).to_bytes(8, "little") + (1).to_bytes(8, "little")
    out += s(payload_type, 1) + s(payload, 4)
    out += s(title, 2) + s(b"", 2) + s(image_url, 2)
    out += b"\x00\x00"                     # no tokens
    out += bytes([len(records)])
    for claim, op, result, request_id in records:
        out += uuid.UUID(claim).bytes + bytes([op, result]) + s(request_id, 1)
    return out


def _crafted_file(mailboxes, written_at=None):
    body = b"RELAYSNP" + (1).to_bytes(4, "little") + bytes(4)
    body += int(written_at or time.time()).to_bytes(8, "little")
    body += len(mailboxes).to_bytes(8, "little") + b"".join(mailboxes)
    return body + _crc64_jones(body).to_bytes(8, "little")


def _mailbox_uuid(record):
    return str(uuid.UUID(bytes=record[:16]))


def test_a_crafted_state_file_breaking_the_apis_rules_refuses_the_start():
    """A forged file with a right checksum is held to the API's rules: the
    start is refused (status 1, one line naming the record and the field,
    never the value) and the file left alone."""
    later = int(time.time()) + 3600
    sender = new_claim()
    good = _crafted_mailbox(new_claim(), later)
    cases = [
        ("a title that is not UTF-8", _crafted_mailbox(sender, later, title=b"SECRET\xc3\x28"),
         "displayInformation.title"),
        ("a javascript: imageURL", _crafted_mailbox(
            sender, later, image_url=b"javascript:alert('SECRET')"), "displayInformation.imageURL"),
        ("a Receiver that is the Sender", _crafted_mailbox(sender, later, receiver=sender),
         "Receiver's claim"),
        ("AEAD data too short", _crafted_mailbox(sender, later, payload=b"SECRET"), "payload.data"),
        ("a create record of another claim", _crafted_mailbox(
            sender, later, records=[(new_claim(), 1, 1, b"SECRET")]), "retry record 0, claim"),
    ]
    with _StateDir() as state:
        for what, bad, field in cases:
            content = _crafted_file([good, bad])
            with open(state.path, "wb") as f:
                f.write(content)
            os.chmod(state.path, 0o600)
            before = os.stat(state.path)
            rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--state-file", state.path])
            lines = err.strip().splitlines()
            assert rc == 1, "%s: exit status %d, expected 1; stderr %r" % (what, rc, err)
            assert len(lines) == 1, "%s: expected one line on stderr, got %r" % (what, err)
            assert state.path in lines[0] and "mailbox record 1 " in lines[0] and \
                field in lines[0], "%s: the line does not name the file, record 1 and %s: %r" % (
                    what, field, lines[0])
            for secret in ("SECRET", "javascript", sender, sender.replace("-", "")):
                assert secret.lower() not in lines[0].lower(), "%s: the line shows a value: %r" % (
                    what, lines[0])
            assert "listening" not in out + err, "%s: relay printed %r" % (what, out)
            with open(state.path, "rb") as f:
                assert f.read() == content, "%s: the refused file was modified" % what
            st = os.stat(state.path)
            assert (st.st_mtime_ns, st.st_ino) == (before.st_mtime_ns, before.st_ino), \
                "%s: the refused file was touched" % what
            assert not state.others(), "files left beside it: %r" % state.others()


def test_a_far_future_expiry_is_shortened_to_max_ttl_at_start():
    now = int(time.time())
    far, near = new_claim(), new_claim()
    far_box = _crafted_mailbox(far, 2 ** 62)
    near_box = _crafted_mailbox(near, now + 600)
    with _StateDir() as state:
        with open(state.path, "wb") as f:
            f.write(_crafted_file([far_box, near_box]))
        with Relay("--state-file", state.path, "--max-ttl", "1h") as relay:
            started = time.time()
            relay.stderr.wait_for(lambda ls: any("restored" in l for l in ls), 5)
            restored = [e for e in relay.events() if e["msg"].startswith("restored")]
            assert len(restored) == 1, "no start-up line about the restore: %r" % (
                relay.stderr.lines())
            assert (restored[0]["mailboxes"], restored[0]["shortened_to_max_ttl"],
                    restored[0]["file"]) == (2, 1, state.path), "start-up line %r" % restored[0]
            data = expect_json(read(relay, _mailbox_uuid(far_box), far), 200, "far-future mailbox")
            expires = parse_rfc3339(data["expiration"])
            assert now + 3600 <= expires <= started + 3600 + 1, \
                "far-future expiry read back as %s, expected now + 1h" % data["expiration"]
            data = expect_json(read(relay, _mailbox_uuid(near_box), near), 200, "near mailbox")
            assert parse_rfc3339(data["expiration"]) == now + 600, data
