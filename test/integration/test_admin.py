"""The admin listener (--admin-listen, issue 14): GET /metrics in Prometheus's
text format 0.0.4, /healthz and /readyz; who may connect to it; that it and
the API share no route; that nothing it says names a mailbox, a claim, a
token, a payload or an address.

The module's shared relay is exercised once (_exercise: every route of the
API, a long-poll, TLS 1.2 and 1.3 handshakes full, resumed and failed, an
expiry); the tests then read its /metrics. Other tests start relays of their
own. Nothing sleeps: every wait polls /metrics or the process with a
deadline. promtext.py reads the exposition strictly; Debian's
python3-prometheus-client reads it too, as a second opinion.
"""

import os
import re
import shutil
import signal
import socket
import ssl
import sys
import tempfile
import time
import unittest

import promtext
from flows import both_flows
from relaytest import (Conn, ConnectionClosed, Relay, ResponseTimeout, b64, bind_receiver, call,
                       client_context, create, delete, expect_error, expect_json, expect_status,
                       log_events, memory_store_only, new_claim, new_mailbox, preview, read,
                       relinquish, run_relay, update, wait_until, TEST_STORE)

EXPECTED_SECONDS = 25

RELAY_ARGS = ["--admin-listen", "127.0.0.1:0"]

ADMIN_URL_RE = re.compile(r"^http://(\[[0-9A-Fa-f:.]+\]|[0-9.]+):(\d+)$")
METRICS_TYPE = "text/plain; version=0.0.4; charset=utf-8"

# Every family /metrics must show, with its type: a family added to the relay
# without a test here, or one gone, fails test_every_family_with_its_type.
FAMILIES = {
    "relay_build_info": "gauge",
    "relay_ready": "gauge",
    "relay_http_requests_total": "counter",
    "relay_http_request_duration_seconds": "histogram",
    "relay_requests_refused_total": "counter",
    "relay_connections_accepted_total": "counter",
    "relay_connections_refused_total": "counter",
    "relay_connections": "gauge",
    "relay_tls_handshakes_total": "counter",
    "relay_longpolls_parked": "gauge",
    "relay_mailboxes": "gauge",
    "relay_mailboxes_max": "gauge",
    "relay_store_bytes": "gauge",
    "relay_store_bytes_max": "gauge",
    "relay_mailboxes_created_total": "counter",
    "relay_mailboxes_expired_total": "counter",
    "relay_mailboxes_deleted_total": "counter",
    "relay_push_queue_depth": "gauge",
    "relay_pushes_sent_total": "counter",
    "relay_pushes_failed_total": "counter",
    "relay_pushes_dropped_total": "counter",
    "relay_snapshot_duration_seconds": "gauge",
    "relay_snapshot_last_success_timestamp_seconds": "gauge",
    "relay_snapshot_failures_total": "counter",
    "relay_process_start_time_seconds": "gauge",
    "relay_process_resident_memory_bytes": "gauge",
    "relay_process_open_fds": "gauge",
}

MAILBOX = "/v1/m/{id}"


# ---------------------------------------------------------------- helpers

def admin_address(relay):
    """(host, port) of the relay's admin listener, from its start-up line."""
    for e in log_events(relay.stderr.lines()):
        if e["msg"] == "admin listening" and e["level"] == "notice":
            m = ADMIN_URL_RE.match(str(e.get("url", "")))
            if m:
                return m.group(1).strip("[]"), int(m.group(2))
    raise AssertionError("no 'admin listening' notice on stderr: %r" % relay.stderr.lines())


def admin_conn(relay, source=None, timeout_s=10):
    host, port = admin_address(relay)
    return Conn(relay, host=host, port=port, tls=False, source=source, timeout_s=timeout_s)


def admin_get(relay, path, method="GET", source=None):
    with admin_conn(relay, source=source) as c:
        return c.roundtrip(method, path)


def scrape(relay):
    """GET /metrics, checked strictly; returns the families."""
    resp = admin_get(relay, "/metrics")
    expect_status(resp, 200, "GET /metrics")
    assert resp.header("Content-Type") == METRICS_TYPE, \
        "Content-Type %r, expected %r" % (resp.header("Content-Type"), METRICS_TYPE)
    return promtext.parse(resp.text)


def metric(relay, name, **labels):
    """One sample's value now (None when the series is not shown)."""
    return promtext.sample(scrape(relay), name, **labels)


def metric_when(relay, predicate, timeout_s, what):
    """Scrape until predicate(families) holds; returns those families. A
    scrape the relay turns away (its admin connections all taken) is retried."""
    def attempt():
        try:
            fams = scrape(relay)
        except (OSError, ConnectionClosed, ResponseTimeout):
            return None
        return fams if predicate(fams) else None
    return wait_until(attempt, timeout_s, what)


def requests(fams, route, method, code):
    return promtext.sample(fams, "relay_http_requests_total", route=route, method=method,
                           code=str(code)) or 0


def one_line(text):
    return text.endswith("\n") and "\n" not in text[:-1] and len(text) > 1


# ---------------------------------------------------------------- the traffic

def _tls_context(relay, version):
    ctx = client_context(relay.cacert)
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def _resumed_handshake(relay, version):
    """A connection that resumes the session of an earlier one: True when the
    client saw it resumed."""
    ctx = _tls_context(relay, version)
    with Conn(relay, context=ctx) as c:
        expect_status(c.roundtrip("GET", "/v1/m"), 405)
        session = c.sock.session
    assert session is not None and (version == ssl.TLSVersion.TLSv1_2 or session.has_ticket), \
        "no session to resume over %s" % version
    with Conn(relay, context=ctx, session=session) as c:
        expect_status(c.roundtrip("GET", "/v1/m"), 405)
        return c.sock.session_reused


def _failed_handshakes(relay):
    # Plain HTTP to the TLS port: no version is ever agreed.
    with socket.create_connection((relay.host, relay.port), timeout=5) as s:
        s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        while s.recv(4096):
            pass
    # A client that does not trust the certificate gives up after TLS 1.3
    # was agreed.
    distrust = ssl.create_default_context()
    distrust.minimum_version = ssl.TLSVersion.TLSv1_3
    try:
        Conn(relay, context=distrust).close()
    except ssl.SSLError:
        pass
    else:
        raise AssertionError("a client without the dev CA completed a handshake")


def _exercise(relay):
    """Every route and outcome the metrics count, once or more."""
    out = {}
    expiring = new_mailbox(relay, expires_in_s=2)
    mb = new_mailbox(relay, rights="RWD")
    expect_status(preview(relay, mb.id), 200, "preview page (ReadDisplayInformation)")
    expect_status(preview(relay, mb.id, method="HEAD"), 200, "HEAD of the preview")
    receiver = bind_receiver(relay, mb)                     # ReadSecureContent
    expect_json(update(relay, mb.id, mb.sender), 200, "update")
    etag = read(relay, mb.id, mb.sender).header("ETag")
    # A long-poll that nothing wakes: answered 204 after its second.
    expect_status(read(relay, mb.id, mb.sender, headers={"If-None-Match": etag, "Prefer": "wait=1"},
                       timeout_s=10), 204, "long-poll timing out")
    expect_json(relinquish(relay, mb.id, receiver), 200, "relinquish")
    expect_json(delete(relay, mb.id, mb.sender), 200, "delete")
    expect_error(call(relay, "GET", "/no/such/path"), 404, "not_found", "unknown path")
    expect_status(preview(relay, new_claim()), 404, "unknown mailbox")
    expect_error(call(relay, "GET", "/v1/m"), 405, "method_not_allowed", "GET /v1/m")
    expect_error(read(relay, expiring.id, "not-a-claim"), 401, "invalid_claim", "bad claim")
    out["resumed_13"] = _resumed_handshake(relay, ssl.TLSVersion.TLSv1_3)
    out["resumed_12"] = _resumed_handshake(relay, ssl.TLSVersion.TLSv1_2)
    _failed_handshakes(relay)
    # Only the memory store counts the mailboxes it holds and ends
    # (test_store_counters); over Redis, Redis ends them.
    if TEST_STORE == "memory":
        metric_when(relay, lambda f: promtext.sample(f, "relay_mailboxes_expired_total") >= 1,
                    10, "the 2-second mailbox to be counted as expired")
    return out


_exercised = {}


def _traffic(relay):
    """The module relay's traffic, run once for every test that reads it."""
    if relay not in _exercised:
        try:
            _exercised[relay] = _exercise(relay)
        except BaseException as e:          # remembered, so every test reports it
            _exercised[relay] = e
    if isinstance(_exercised[relay], BaseException):
        raise AssertionError("exercising the relay failed: %s" % _exercised[relay])
    return _exercised[relay]


# ---------------------------------------------------------------- /metrics

def test_every_family_with_its_type(relay):
    _traffic(relay)
    fams = scrape(relay)
    types = {name: f.type for name, f in fams.items()}
    missing = {n: t for n, t in FAMILIES.items() if types.get(n) != t}
    extra = sorted(set(types) - set(FAMILIES))
    assert not missing, "families missing or of another type: %r (shown: %r)" % (
        missing, {n: types.get(n) for n in missing})
    assert not extra, "families shown that this test does not know: %r" % extra
    for name, fam in fams.items():
        assert fam.help, "%s has no HELP text" % name


def test_requests_counted_by_route_method_and_status(relay):
    _traffic(relay)
    fams = scrape(relay)
    expected = [
        ("/v1/m", "POST", 200, "create"),
        (MAILBOX, "GET", 200, "preview page"),
        (MAILBOX, "HEAD", 200, "HEAD of the preview"),
        (MAILBOX, "POST", 200, "read secure content"),
        (MAILBOX, "POST", 204, "long-poll that timed out"),
        (MAILBOX, "POST", 401, "bad claim"),
        (MAILBOX, "PUT", 200, "update"),
        (MAILBOX, "PATCH", 200, "relinquish"),
        (MAILBOX, "DELETE", 200, "delete"),
        (MAILBOX, "GET", 404, "unknown mailbox"),
        ("other", "GET", 404, "unknown path"),
        ("/v1/m", "GET", 405, "GET /v1/m"),
    ]
    zero = [what for route, method, code, what in expected
            if requests(fams, route, method, code) < 1]
    assert not zero, "not counted: %s; series shown: %r" % (
        ", ".join(zero), fams["relay_http_requests_total"].samples)
    # Route templates only: no series names a mailbox.
    for _, labels, _ in fams["relay_http_requests_total"].samples:
        assert labels["route"] in ("/v1/m", MAILBOX, "other", "/.well-known/assetlinks.json",
                                   "/.well-known/apple-app-site-association"), labels


def test_duration_histograms(relay):
    _traffic(relay)
    fams = scrape(relay)          # promtext checked monotone buckets, +Inf == count
    series = {tuple(sorted((k, v) for k, v in l.items() if k != "le"))
              for n, l, _ in fams["relay_http_request_duration_seconds"].samples}
    assert (("method", "POST"), ("route", "/v1/m")) in series, series
    for labels in series:
        h = promtext.histogram(fams, "relay_http_request_duration_seconds", **dict(labels))
        total = sum(requests(fams, dict(labels)["route"], dict(labels)["method"], code)
                    for code in (200, 201, 204, 400, 401, 404, 405, 408, 412, 413, 415, 429,
                                 431, 500, 503))
        assert h["count"] == total, "%r: %r observations for %r requests" % (labels, h["count"], total)
    # The long-poll is timed from its first byte to its answer a second later.
    polls = promtext.histogram(fams, "relay_http_request_duration_seconds", route=MAILBOX,
                               method="POST")
    assert polls[0.5] < polls["count"], "no mailbox POST took over 0.5 s: %r" % polls
    assert polls["sum"] >= 0.9, "the mailbox POSTs took %r s in all, the long-poll alone 1 s" % polls["sum"]
    creates = promtext.histogram(fams, "relay_http_request_duration_seconds", route="/v1/m",
                                 method="POST")
    assert creates[1.0] == creates["count"], "a create took over a second: %r" % creates


def test_store_counters(relay):
    memory_store_only("the relay_mailboxes* and relay_store_* families count the memory "
                      "store's mailboxes; over Redis they stay 0")
    _traffic(relay)
    fams = scrape(relay)

    def v(name, **labels):
        return promtext.sample(fams, name, **labels)

    assert v("relay_mailboxes_created_total") >= 2
    assert v("relay_mailboxes_deleted_total") >= 1
    assert v("relay_mailboxes_expired_total") >= 1
    assert v("relay_mailboxes") == v("relay_mailboxes_created_total") - \
        v("relay_mailboxes_deleted_total") - v("relay_mailboxes_expired_total")
    assert v("relay_store_bytes") > 0 or v("relay_mailboxes") == 0


def test_connection_tls_and_process_counters(relay):
    out = _traffic(relay)
    fams = scrape(relay)

    def v(name, **labels):
        return promtext.sample(fams, name, **labels)

    assert v("relay_connections_accepted_total") >= 10
    hs = lambda version, result: v("relay_tls_handshakes_total", version=version, result=result)
    assert hs("TLSv1.3", "full") >= 1 and hs("TLSv1.2", "full") >= 1, \
        fams["relay_tls_handshakes_total"].samples
    assert out["resumed_13"] and out["resumed_12"], "the client saw no resumption: %r" % out
    assert hs("TLSv1.3", "resumed") >= 1 and hs("TLSv1.2", "resumed") >= 1, \
        fams["relay_tls_handshakes_total"].samples
    assert hs("unknown", "failed") >= 1, "plain HTTP to the TLS port not counted as failed"
    assert hs("TLSv1.3", "failed") >= 1, "a client refusing the certificate not counted"
    assert v("relay_process_open_fds") > 3
    assert v("relay_process_resident_memory_bytes") > 1 << 20
    assert [x for _, _, x in fams["relay_build_info"].samples] == [1]


def test_process_start_time(relay):
    fams = scrape(relay)
    started = promtext.sample(fams, "relay_process_start_time_seconds")
    with open("/proc/%d/stat" % relay.proc.pid) as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/stat") as f:
        boot = next(int(l.split()[1]) for l in f if l.startswith("btime "))
    actual = boot + ticks / os.sysconf("SC_CLK_TCK")
    assert abs(started - actual) <= 2, "start time %r, the process started at %r" % (started, actual)


def test_parked_longpoll_and_connection_states(relay):
    mb = new_mailbox(relay)
    etag = read(relay, mb.id, mb.sender).header("ETag")
    idle = Conn(relay)
    poll = Conn(relay, timeout_s=30)
    try:
        expect_status(idle.roundtrip("GET", "/v1/m"), 405)
        poll.request("POST", mb.path, [("Mailbox-Device-Claim", mb.sender), ("If-None-Match", etag),
                                       ("Prefer", "wait=20")])
        fams = metric_when(relay, lambda f: promtext.sample(f, "relay_longpolls_parked") == 1, 5,
                           "the long-poll to show as parked")
        assert promtext.sample(fams, "relay_connections", state="parked") == 1
        assert promtext.sample(fams, "relay_connections", state="idle") >= 1
        expect_json(update(relay, mb.id, mb.sender), 200)
        expect_json(poll.read_response("POST", timeout_s=5), 200, "woken long-poll")
        assert metric(relay, "relay_longpolls_parked") == 0
    finally:
        idle.close()
        poll.close()


def test_official_parser_reads_it(relay):
    """Debian's python3-prometheus-client (tools: DEPS_TEST) reads what
    promtext reads, with the same types."""
    try:
        from prometheus_client.parser import text_string_to_metric_families
    except ImportError:
        # A Python of its own (pyenv) does not see Debian's packages.
        if "/usr/lib/python3/dist-packages" not in sys.path and \
                os.path.isdir("/usr/lib/python3/dist-packages/prometheus_client"):
            sys.path.append("/usr/lib/python3/dist-packages")
        try:
            from prometheus_client.parser import text_string_to_metric_families
        except ImportError:
            raise unittest.SkipTest("python3-prometheus-client is not installed")
    _traffic(relay)
    text = admin_get(relay, "/metrics").text
    ours = promtext.parse(text)
    theirs = {f.name: f for f in text_string_to_metric_families(text)}
    for name, fam in ours.items():
        # Its parser names a counter family without _total.
        key = name[:-len("_total")] if fam.type == "counter" else name
        assert key in theirs, "prometheus_client did not read %s (it read %r)" % (name, sorted(theirs))
        assert theirs[key].type == fam.type, "%s: %s, prometheus_client says %s" % (
            name, fam.type, theirs[key].type)
        assert len(theirs[key].samples) >= len(fam.samples), name


# ---------------------------------------------------------------- the routes

def test_admin_routes_and_methods(relay):
    resp = admin_get(relay, "/healthz")
    expect_status(resp, 200, "/healthz")
    assert resp.text == "ok\n" and resp.header("Content-Type") == "text/plain; charset=utf-8", resp
    resp = admin_get(relay, "/readyz")
    expect_status(resp, 200, "/readyz")
    assert resp.text == "ok\n", resp
    for path in ("/metrics", "/healthz", "/readyz"):
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
            resp = admin_get(relay, path, method=method)
            expect_status(resp, 405, "%s %s" % (method, path))
            assert resp.header("Allow") == "GET, HEAD", resp
        get = admin_get(relay, path)
        head = admin_get(relay, path, method="HEAD")
        expect_status(head, 200, "HEAD " + path)
        assert head.body == b"", "HEAD %s has a body: %r" % (path, head.body[:80])
        assert head.header("Content-Type") == get.header("Content-Type")
        if path != "/metrics":      # the metrics change between two scrapes
            assert head.header("Content-Length") == get.header("Content-Length")
    # A query string does not change the route.
    expect_status(admin_get(relay, "/metrics?x=1"), 200)
    # Keep-alive: several requests on one connection.
    with admin_conn(relay) as c:
        for path in ("/healthz", "/readyz", "/metrics", "/healthz"):
            expect_status(c.roundtrip("GET", path), 200, "kept-alive " + path)


def test_api_not_served_on_admin_listener(relay):
    mb = new_mailbox(relay)
    for method, path in (("POST", "/v1/m"), ("GET", "/v1/m"), ("GET", mb.path),
                         ("POST", mb.path), ("DELETE", mb.path),
                         ("GET", "/.well-known/assetlinks.json"), ("GET", "/"),
                         ("GET", "/metrics/"), ("GET", "/METRICS")):
        resp = admin_get(relay, path, method=method)
        expect_status(resp, 404, "%s %s on the admin listener" % (method, path))
        assert resp.header("Content-Type") == "text/plain; charset=utf-8", resp
    # The mailbox is untouched.
    expect_json(read(relay, mb.id, mb.sender), 200, "mailbox after the admin listener's 404s")


def test_admin_not_served_on_api_listener(relay):
    for path in ("/metrics", "/healthz", "/readyz"):
        for method in ("GET", "HEAD"):
            resp = call(relay, method, path)
            expect_status(resp, 404, "%s %s on the API listener" % (method, path))
            assert b"relay_" not in resp.body and resp.body != b"ok\n", resp


def test_admin_request_limits(relay):
    """The API's limits hold on the admin listener too: a body is refused,
    a head over 8 KiB is 431, and garbage is a 400; each closes."""
    with admin_conn(relay) as c:
        c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello")
        resp = c.read_response("GET")
        expect_status(resp, 413, "a body to the admin listener")
        assert c.closed_within(5)
    with admin_conn(relay) as c:
        c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\nX-Filler: " + b"f" * 9000 + b"\r\n\r\n")
        expect_status(c.read_response("GET"), 431, "an oversized head")
    with admin_conn(relay) as c:
        c.send(b"NOT HTTP AT ALL\r\n\r\n")
        expect_status(c.read_response("GET"), 400, "garbage")
        assert c.closed_within(5)


# ---------------------------------------------------------------- /readyz

def test_readyz_when_the_store_is_full():
    with Relay("--admin-listen", "127.0.0.1:0", "--max-mailboxes", "1") as relay:
        expect_status(admin_get(relay, "/readyz"), 200, "/readyz of an empty relay")
        assert metric(relay, "relay_ready") == 1
        mb = new_mailbox(relay)
        resp = admin_get(relay, "/readyz")
        expect_status(resp, 503, "/readyz with --max-mailboxes 1 and one mailbox")
        assert one_line(resp.text) and "store full" in resp.text and "1 of 1" in resp.text, resp
        assert metric(relay, "relay_ready") == 0
        expect_error(create(relay), 503, "store_full", "a second mailbox")
        assert metric(relay, "relay_requests_refused_total", reason="store_full") == 1
        # /healthz: the process is alive, whatever its store holds.
        expect_status(admin_get(relay, "/healthz"), 200)
        expect_json(delete(relay, mb.id, mb.sender), 200)
        expect_status(admin_get(relay, "/readyz"), 200, "/readyz once the mailbox is gone")


def test_readyz_when_the_store_has_no_room_for_a_body():
    memory_store_only("--max-memory is the memory store's limit (with Redis, Redis's "
                      "maxmemory: test_redis.test_redis_full_is_store_full)")
    # 64 KiB bodies into 200 KiB: a few mailboxes of the largest body fill it.
    with Relay("--admin-listen", "127.0.0.1:0", "--max-memory", "200k") as relay:
        body = {"payload": {"type": "AEAD_AES_128_GCM", "data": b64(os.urandom(45000))},
                "displayInformation": {"title": "t", "description": "", "imageURL": "https://x.example/i"}}

        def full():
            if admin_get(relay, "/readyz").status == 503:
                return True
            expect_json(create(relay, body=body), 200, "filling the store")
            return False
        wait_until(full, 20, "/readyz to say the store is full")
        resp = admin_get(relay, "/readyz")
        assert one_line(resp.text) and "--max-memory" in resp.text, resp


def test_readyz_while_shutting_down():
    # Sped up: a request head left unfinished holds the stop for 2 s.
    relay = Relay("--admin-listen", "127.0.0.1:0", speedup=5)
    relay.start()
    try:
        with Conn(relay) as slow:
            slow.send(b"POST /v1/m HTTP/1.1\r\nHost: x\r\n")
            expect_status(admin_get(relay, "/readyz"), 200)
            relay.send_signal(signal.SIGTERM)
            resp = wait_until(lambda: (lambda r: r if r.status == 503 else None)(
                admin_get(relay, "/readyz")), 5, "/readyz to answer 503 while stopping")
            assert resp.text == "shutting down\n", resp
            expect_status(admin_get(relay, "/healthz"), 200, "/healthz while stopping")
    finally:
        relay.stop()


def test_snapshot_metrics_and_readyz_when_a_snapshot_fails():
    tmp = tempfile.mkdtemp(prefix="relay-admin-")
    state_dir = os.path.join(tmp, "state")
    os.mkdir(state_dir)
    try:
        with Relay("--admin-listen", "127.0.0.1:0", "--state-file", os.path.join(state_dir, "s"),
                   "--snapshot-interval", "1s") as relay:
            new_mailbox(relay)
            fams = metric_when(relay, lambda f: promtext.sample(
                f, "relay_snapshot_last_success_timestamp_seconds") > 0, 10,
                "a periodic snapshot to be written")
            written = promtext.sample(fams, "relay_snapshot_last_success_timestamp_seconds")
            assert abs(written - time.time()) < 30, written
            assert promtext.sample(fams, "relay_snapshot_failures_total") == 0
            assert promtext.sample(fams, "relay_snapshot_duration_seconds") >= 0
            expect_status(admin_get(relay, "/readyz"), 200)
            # The directory goes: the next snapshot cannot be written.
            shutil.rmtree(state_dir)
            metric_when(relay, lambda f: promtext.sample(f, "relay_snapshot_failures_total") >= 1,
                        10, "a failed snapshot to be counted")
            resp = admin_get(relay, "/readyz")
            expect_status(resp, 503, "/readyz after a failed snapshot")
            assert one_line(resp.text) and "snapshot" in resp.text, resp
            os.mkdir(state_dir)
            wait_until(lambda: admin_get(relay, "/readyz").status == 200, 10,
                       "/readyz to recover once a snapshot is written again")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_refusals_by_reason():
    with Relay("--admin-listen", "127.0.0.1:0", "--rate-fail", "1/h", "--rate-create", "1/h") as relay:
        mb = new_mailbox(relay)
        expect_error(create(relay), 429, "rate_limited", "second create in the hour")
        bind_receiver(relay, mb)
        expect_error(read(relay, mb.id, new_claim()), 401, "unauthorized", "a wrong claim")
        expect_error(read(relay, mb.id, new_claim()), 429, "rate_limited", "the next guess")
        fams = scrape(relay)
        by = lambda r: promtext.sample(fams, "relay_requests_refused_total", reason=r)
        assert by("rate_create") == 1 and by("rate_fail") == 1, fams["relay_requests_refused_total"]
        assert requests(fams, "/v1/m", "POST", 429) == 1
    with Relay("--admin-listen", "127.0.0.1:0", "--max-waiters", "0") as relay:
        mb = new_mailbox(relay)
        etag = read(relay, mb.id, mb.sender).header("ETag")
        expect_error(read(relay, mb.id, mb.sender, headers={"If-None-Match": etag,
                                                            "Prefer": "wait=5"}),
                     503, "too_many_waiters", "a long-poll over --max-waiters 0")
        assert metric(relay, "relay_requests_refused_total", reason="waiters") == 1


# ---------------------------------------------------------------- who may ask

def test_non_loopback_admin_listen_needs_admin_allow():
    for address in ("0.0.0.0:0", "[::]:0"):
        rc, out, err = run_relay(["--admin-listen", address])
        assert rc == 2, "--admin-listen %s without --admin-allow: exit %d (%r)" % (address, rc, err)
        assert one_line(err) and "--admin-listen" in err and "--admin-allow" in err, err
        assert out == ""


def test_bad_admin_options_exit_2():
    cases = [
        (["--admin-listen", "127.0.0.1:0", "--admin-allow", "10.0.0.0/33"], "--admin-allow"),
        (["--admin-listen", "127.0.0.1:0", "--admin-allow", "not-a-range"], "--admin-allow"),
        (["--admin-listen", "127.0.0.1:0", "--admin-allow", ""], "--admin-allow"),
        (["--admin-allow", "10.0.0.0/8"], "--admin-listen"),
        (["--admin-listen", "localhost:9100"], "--admin-listen"),
        (["--admin-listen", "127.0.0.1"], "--admin-listen"),
        (["--admin-listen"], "--admin-listen"),
    ]
    for args, name in cases:
        rc, out, err = run_relay(args)
        assert rc == 2 and one_line(err) and name in err, "%r: exit %d, %r" % (args, rc, err)


def test_admin_listen_address_in_use_exits_1():
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--admin-listen", "127.0.0.1:%d" % port])
    assert rc == 1 and one_line(err) and "--admin-listen" in err, (rc, err)


def _refused(relay, source):
    """True when the admin listener closes a connection from source unanswered."""
    with admin_conn(relay, source=(source, 0), timeout_s=5) as c:
        try:
            c.send(b"GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n")
        except OSError:
            return True
        return c.closed_within(5) and not c.buf


def test_only_allowed_peers_on_a_non_loopback_address():
    # Listening on every address, for 127.0.0.2 only: 127.0.0.1 is refused,
    # loopback though it is.
    with Relay("--admin-listen", "0.0.0.0:0", "--admin-allow", "127.0.0.2/32") as relay:
        assert _refused(relay, "127.0.0.1"), "127.0.0.1 was answered, though not allowed"
        assert _refused(relay, "127.0.0.3"), "127.0.0.3 was answered, though not allowed"
        resp = admin_get(relay, "/metrics", source=("127.0.0.2", 0))
        expect_status(resp, 200, "the allowed peer")
        fams = promtext.parse(resp.text)
        assert promtext.sample(fams, "relay_connections_refused_total",
                               reason="admin_not_allowed") == 2
        # The relay still serves the API to everyone.
        expect_json(create(relay), 200)


def test_loopback_listener_takes_loopback_peers_and_allowed_ranges():
    with Relay("--admin-listen", "127.0.0.1:0", "--admin-allow", "10.0.0.0/8") as relay:
        for source in ("127.0.0.1", "127.0.0.2"):
            expect_status(admin_get(relay, "/healthz", source=(source, 0)), 200, source)


def test_admin_connections_are_bounded():
    with Relay("--admin-listen", "127.0.0.1:0") as relay:
        held = [admin_conn(relay) for _ in range(8)]
        try:
            for c in held:
                expect_status(c.roundtrip("GET", "/healthz"), 200)
            extra = admin_conn(relay)
            try:
                assert extra.closed_within(5) and not extra.buf, "a ninth admin connection was kept"
            finally:
                extra.close()
        finally:
            for c in held:
                c.close()
        # (A scrape made before the relay has seen the eight go is refused
        # and counted too.)
        metric_when(relay, lambda f: promtext.sample(f, "relay_connections_refused_total",
                                                     reason="admin_busy") >= 1, 5,
                    "the ninth connection to be counted")


# ---------------------------------------------------------------- no secrets

def test_admin_answers_hold_no_secrets():
    relay = Relay("--admin-listen", "127.0.0.1:0")
    relay.client_source = ("127.0.0.2", 0)
    relay.start()
    try:
        secrets = both_flows(relay)
        answers = []
        for path in ("/metrics", "/healthz", "/readyz", "/nothing", "/v1/m/" + secrets[0].mailbox_ids[0]):
            for method in ("GET", "HEAD", "POST"):
                resp = admin_get(relay, path, method=method)
                answers.append(("%s %s" % (method, path), resp.body.decode("utf-8", "replace") +
                                "\n".join("%s: %s" % h for h in resp.headers)))
    finally:
        relay.stop()
    leaks = []
    for what, text in answers:
        for s in secrets:
            for needle, kind in s.needles():
                if needle.lower() in text.lower():
                    leaks.append("%s in %s" % (kind, what))
        if "127.0.0.2" in text:
            leaks.append("the client's address in %s" % what)
    assert not leaks, "secrets in the admin listener's answers: %s" % "; ".join(leaks[:10])
    assert any("relay_http_requests_total" in t for _, t in answers), "no metrics were read"
