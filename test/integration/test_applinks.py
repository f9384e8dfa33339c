"""App links (contract v1.1, §4.7): with --well-known DIR the relay serves
DIR/apple-app-site-association and DIR/assetlinks.json at /.well-known/, so
that tapping a share link opens the wallet or car app (iOS Universal Links,
Android App Links). The files are JSON, read at start and on SIGHUP; a bad
one stops the start, and on SIGHUP leaves both files as they were served.
Nothing else under /.well-known/ exists."""

import os
import re
import shutil
import signal
import subprocess
import tempfile

from relaytest import (RELAY_BIN, Conn, Relay, call, expect_error, expect_status, new_claim,
                       parse_log_line, run_relay)

EXPECTED_SECONDS = 4

APPLE = ('{\n  "applinks": {\n    "details": [{"appIDs": ["ABCDE12345.com.example.keys"],\n'
         '      "components": [{"/": "/v1/m/*", "comment": "shared keys \u2014 caf\u00e9"}]}]\n'
         '  }\n}\n').encode("utf-8")
ANDROID = (b'[{"relation": ["delegate_permission/common.handle_all_urls"],\n'
           b' "target": {"namespace": "android_app", "package_name": "com.example.keys",\n'
           b' "sha256_cert_fingerprints": ["14:6D:E9:83"]}}]')
LIMIT = 64 * 1024
APPLE_PATH = "/.well-known/apple-app-site-association"
ANDROID_PATH = "/.well-known/assetlinks.json"


class _Dir:
    """A --well-known directory whose files are replaced atomically."""

    def __init__(self, apple=APPLE, android=ANDROID):
        self.path = tempfile.mkdtemp(prefix="relay-wk-")
        os.chmod(self.path, 0o755)
        if apple is not None:
            self.put("apple-app-site-association", apple)
        if android is not None:
            self.put("assetlinks.json", android)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.path, ignore_errors=True)
        return False

    def file(self, name):
        return os.path.join(self.path, name)

    def put(self, name, data):
        tmp = self.file(name + ".new")
        with open(tmp, "wb") as f:
            f.write(data)
        os.chmod(tmp, 0o644)
        os.replace(tmp, self.file(name))


def _get(relay, path, method="GET", conn=None, **kw):
    return call(relay, method, path, conn=conn, **kw)


def _expect_served(resp, data, what):
    expect_status(resp, 200, what)
    assert resp.header("Content-Type") == "application/json", "%s: Content-Type %r" % (
        what, resp.header("Content-Type"))
    assert resp.header("Cache-Control") == "no-store", "%s: %s" % (what, resp)
    assert resp.header("Location") is None, "%s: a redirect? %s" % (what, resp)
    assert resp.body == data, "%s: served %r, the file holds %r" % (what, resp.body[:200],
                                                                   data[:200])


def _sighup(relay, expect):
    """SIGHUP; wait for the first log line about the app-link files, which
    must hold expect. Returns that line.

    A reload logs one line about the certificate first, then one per file:
    this reload's lines are those after its certificate line, since the
    previous reload's last lines may still be on their way."""
    def reloads(ls):
        """Each reload's app-link lines, in order."""
        out = []
        for l in ls:
            if "SIGHUP:" not in l:
                continue
            if "SIGHUP: --well-known" not in l:
                out.append([])
            elif out:
                out[-1].append(l)
        return out
    before = len(reloads(relay.stderr.lines()))
    relay.proc.send_signal(signal.SIGHUP)
    if not relay.stderr.wait_for(lambda ls: len(reloads(ls)) > before and
                                 reloads(ls)[before], 5):
        raise AssertionError("no SIGHUP log line about the app-link files within 5 s; "
                             "stderr: %r" % relay.stderr.text()[-800:])
    line = reloads(relay.stderr.lines())[before][0]
    assert expect in line, "SIGHUP log line %r does not say %r" % (line, expect)
    assert relay.alive(), "relay stopped on SIGHUP"
    return line


def _start_error(args):
    """Run the relay, expect exit 1 with one line on stderr; return it."""
    rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--no-tls"] + args)
    lines = err.strip().splitlines()
    assert rc == 1, "%s: exit status %d, expected 1; stderr %r" % (args, rc, err)
    assert len(lines) == 1, "%s: expected one line on stderr, got %r" % (args, err)
    assert "listening" not in out + err, "%s: it started listening: %r" % (args, out)
    return lines[0]


# -------------------------------------------------------------------- tests

def test_both_files_served_as_they_are():
    with _Dir() as d, Relay("--well-known", d.path) as relay:
        with Conn(relay) as c:
            _expect_served(_get(relay, APPLE_PATH, conn=c), APPLE, "apple-app-site-association")
            resp = _get(relay, ANDROID_PATH, conn=c)
            _expect_served(resp, ANDROID, "assetlinks.json")
            assert resp.header("Strict-Transport-Security"), "no HSTS over TLS: %s" % resp
            # Query strings are ignored (as on API paths).
            _expect_served(_get(relay, ANDROID_PATH + "?utm_source=sms&v=c", conn=c), ANDROID,
                           "assetlinks.json with a query")
            # HEAD: the same head, no body (the next answer on the
            # connection would otherwise be misread).
            head = _get(relay, APPLE_PATH, method="HEAD", conn=c)
            expect_status(head, 200, "HEAD")
            assert head.header("Content-Length") == str(len(APPLE)), head
            assert head.header("Content-Type") == "application/json", head
            assert head.body == b"", head
            _expect_served(_get(relay, APPLE_PATH, conn=c), APPLE, "GET after HEAD")
        assert "does not exist" not in relay.stderr.text(), relay.stderr.text()


def test_other_methods_405_allow_get_head():
    with _Dir() as d, Relay("--well-known", d.path) as relay:
        for path in (APPLE_PATH, ANDROID_PATH):
            for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS"):
                resp = call(relay, method, path, claim=new_claim(),
                            body=b"{}" if method in ("POST", "PUT") else None)
                expect_error(resp, 405, "method_not_allowed", "%s %s" % (method, path))
                assert resp.header("Allow") == "GET, HEAD", resp


def test_nothing_else_under_well_known():
    paths = [
        "/.well-known/", "/.well-known", "/.well-known/assetlinks.json/",
        "/.well-known/ASSETLINKS.json", "/.WELL-KNOWN/assetlinks.json",
        "/.well-known/Apple-App-Site-Association", "/.well-known/../v1/m",
        "/.well-known/%2e%2e/v1/m", "/.well-known/%2E%2E/%2E%2E/etc/passwd",
        "/.well-known/assetlinks%2ejson", "/.well-known/assetlinks.json%00",
        "/.well-known/assetlinks.json%2f", "/.well-known//assetlinks.json",
        "//.well-known/assetlinks.json", "/./.well-known/assetlinks.json",
        "/.well-known/./assetlinks.json", "/v1/.well-known/assetlinks.json",
        "/.well-known/apple-app-site-association.json", "/apple-app-site-association",
        "/.well-known/security.txt", "/.well-known/assetlinks.json.new",
        "/.well-known/..%2fassetlinks.json", "/.well-known/assetlinks.json;x",
    ]
    with _Dir() as d, Relay("--well-known", d.path) as relay:
        # A file next to the two is never served, whatever the path says.
        d.put("security.txt", b'{"secret": 1}')
        with Conn(relay) as c:
            for path in paths:
                resp = _get(relay, path, conn=c)
                expect_error(resp, 404, "not_found", "GET %s" % path)
                assert b"secret" not in resp.body and b"applinks" not in resp.body, resp
            # A traversal does not reach the API either: nothing is created.
            resp = call(relay, "POST", "/.well-known/../v1/m", claim=new_claim(), body=b"{}",
                        conn=c)
            expect_error(resp, 404, "not_found", "POST /.well-known/../v1/m")


def test_without_the_option_404():
    with Relay() as relay:
        for path in (APPLE_PATH, ANDROID_PATH, "/.well-known/"):
            for method in ("GET", "HEAD", "OPTIONS", "POST"):
                resp = call(relay, method, path)
                expect_status(resp, 404, "%s %s without --well-known" % (method, path))


def test_one_file_missing_is_404_and_said_at_start():
    with _Dir(android=None) as d, Relay("--well-known", d.path) as relay:
        _expect_served(_get(relay, APPLE_PATH), APPLE, "the file that exists")
        for method in ("GET", "HEAD", "PUT"):
            expect_status(_get(relay, ANDROID_PATH, method=method), 404,
                          "%s of the missing file" % method)
        missing = [e for e in relay.events() if "does not exist" in e["msg"]]
        assert [(e["level"], e["file"], e["dir"]) for e in missing] == \
            [("warn", "assetlinks.json", d.path)] and "404" in missing[0]["msg"], \
            "the start does not say that assetlinks.json is missing: %r" % relay.stderr.text()


def test_bad_files_refuse_the_start():
    cases = [
        ("not JSON", b"applinks: yes"),
        ("truncated", APPLE[:-4]),
        ("empty", b""),
        ("trailing garbage", b'{"applinks": {}} x'),
        ("two documents", b"{} {}"),
        ("a JSON scalar", b'"applinks"'),
        ("invalid UTF-8", b'{"a": "\xff\xfe"}'),
        ("a BOM", b"\xef\xbb\xbf{}"),
        ("a NUL byte", b'{"a": 1}\x00'),
        ("a line break in the fault", b'{"a": "x\ny"}'),
        ("one byte over 64 KiB", b"[" + b"0," * ((LIMIT - 1) // 2) + b"0]"),
    ]
    assert len(cases[-1][1]) == LIMIT + 1
    for what, data in cases:
        for name in ("apple-app-site-association", "assetlinks.json"):
            with _Dir() as d:
                d.put(name, data)
                line = _start_error(["--well-known", d.path])
                assert "--well-known" in line and d.file(name) in line, \
                    "%s in %s: the error does not name the file: %r" % (what, name, line)


def test_exactly_64_kib_is_taken():
    data = b"[0" + b" " * (LIMIT - 3) + b"]"
    assert len(data) == LIMIT
    with _Dir(android=data) as d, Relay("--well-known", d.path) as relay:
        _expect_served(_get(relay, ANDROID_PATH), data, "a file of exactly 64 KiB")


def test_unusable_directory_or_files_refuse_the_start():
    with _Dir() as d:
        line = _start_error(["--well-known", os.path.join(d.path, "missing")])
        assert "--well-known" in line and os.path.join(d.path, "missing") in line, line
        line = _start_error(["--well-known", d.file("assetlinks.json")])
        assert "not a directory" in line, line
    with _Dir(apple=None, android=None) as d:
        line = _start_error(["--well-known", d.path])
        assert "neither" in line and d.path in line, line
    # A directory, or a FIFO (that must not hang the start), in a file's place.
    with _Dir(android=None) as d:
        os.mkdir(d.file("assetlinks.json"))
        line = _start_error(["--well-known", d.path])
        assert d.file("assetlinks.json") in line and "regular file" in line, line
    with _Dir(android=None) as d:
        os.mkfifo(d.file("assetlinks.json"))
        line = _start_error(["--well-known", d.path])
        assert d.file("assetlinks.json") in line and "regular file" in line, line


def test_unreadable_file_refuses_the_start():
    with _Dir() as d:
        os.chmod(d.file("apple-app-site-association"), 0)
        preexec = None
        if os.geteuid() == 0:
            # Root reads anything: be somebody who cannot.
            def preexec():
                os.setgid(65534)
                os.setuid(65534)
        proc = subprocess.run([os.path.abspath(RELAY_BIN), "--listen", "127.0.0.1:0",
                               "--no-tls", "--well-known", d.path], stdin=subprocess.DEVNULL,
                              capture_output=True, timeout=10, preexec_fn=preexec)
        err = proc.stderr.decode()
        lines = err.strip().splitlines()
        assert proc.returncode == 1 and len(lines) == 1, "exit %d, %r" % (proc.returncode, err)
        assert d.file("apple-app-site-association") in lines[0], lines[0]
        assert "Permission denied" in lines[0], lines[0]


def test_sighup_serves_new_files_and_keeps_old_ones_when_a_file_is_bad():
    new_apple = b'{"applinks": {"details": []}, "webcredentials": {"apps": []}}'
    newer_apple = b'{"applinks": {}}'
    new_android = b'[]'
    for tls in (True, False):
        with _Dir() as d, Relay("--well-known", d.path, *([] if tls else ["--no-tls"]),
                                tls=tls) as relay:
            old = Conn(relay)
            try:
                _expect_served(_get(relay, APPLE_PATH, conn=old), APPLE, "before SIGHUP")
                # A fixed file: served at once, on an open connection too.
                d.put("apple-app-site-association", new_apple)
                _sighup(relay, "serving")
                _expect_served(_get(relay, APPLE_PATH, conn=old), new_apple, "after SIGHUP")
                _expect_served(_get(relay, ANDROID_PATH), ANDROID, "unchanged file")

                # One good change and one broken file: neither is taken.
                for broken in (b'[{"relation": ', b"x" * (LIMIT + 1), None):
                    d.put("apple-app-site-association", newer_apple)
                    if broken is None:
                        os.unlink(d.file("assetlinks.json"))
                        os.mkdir(d.file("assetlinks.json"))
                    else:
                        d.put("assetlinks.json", broken)
                    line = _sighup(relay, "still serving the previous app-link files")
                    assert parse_log_line(line)["level"] == "error", line
                    assert d.file("assetlinks.json") in parse_log_line(line)["error"], line
                    _expect_served(_get(relay, APPLE_PATH, conn=old), new_apple,
                                   "apple file after a SIGHUP with a broken assetlinks.json")
                    _expect_served(_get(relay, ANDROID_PATH), ANDROID,
                                   "assetlinks.json after a SIGHUP that broke it")
                    if broken is None:
                        os.rmdir(d.file("assetlinks.json"))

                # Fixed: both new files are served.
                d.put("assetlinks.json", new_android)
                _sighup(relay, "serving")
                _expect_served(_get(relay, APPLE_PATH), newer_apple, "after the fix")
                _expect_served(_get(relay, ANDROID_PATH, conn=old), new_android, "after the fix")

                # A file removed: that path is a 404 from now on.
                os.unlink(d.file("assetlinks.json"))
                _sighup(relay, "does not exist")
                expect_status(_get(relay, ANDROID_PATH), 404, "removed file after SIGHUP")
                _expect_served(_get(relay, APPLE_PATH), newer_apple, "the file that stayed")

                # The directory gone: logged, the previous files stay.
                moved = d.path + ".moved"
                os.rename(d.path, moved)
                try:
                    _sighup(relay, "still serving the previous app-link files")
                    _expect_served(_get(relay, APPLE_PATH), newer_apple, "directory gone")
                finally:
                    os.rename(moved, d.path)
            finally:
                old.close()


def test_readme_example_file_is_served():
    # The README's app-link example: the file it writes is one the relay takes.
    readme = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
    with open(readme, encoding="utf-8") as f:
        text = f.read()
    m = re.search(r"### App links.*?```sh\n(.*?)```", text, re.S)
    assert m, "README.md has no App links example"
    block = m.group(1)
    assert "--well-known well-known" in block, block
    body = re.search(r"<<'JSON'\n(.*?)\nJSON\n", block, re.S)
    assert body, "the example writes no assetlinks.json: %r" % block
    data = (body.group(1) + "\n").encode()
    with _Dir(apple=None, android=data) as d, Relay("--well-known", d.path) as relay:
        _expect_served(_get(relay, ANDROID_PATH), data, "the README's assetlinks.json")
