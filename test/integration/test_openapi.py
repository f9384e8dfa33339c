"""The published API, docs/openapi.yaml and docs/api.md, against the relay.

- The document is valid OpenAPI 3.1, by @seriousme/openapi-schema-validator
  (the Makefile installs it into build/npm; NPM_VALIDATOR below).
- The live relay gives every answer the document lists, path by method by
  status, and each answer is what the document says: its media type, its
  body's schema, every header it must carry, and no header it does not list
  (Date, Content-Length, Connection and Content-Type apart). An answer it
  cannot be driven to is an error in the document.
- Every answer the other integration modules saw is in the document:
  test_answers_documented.py, which runs after them.
- The error codes protocol/ can send are the document's, and api.md names
  each.

The document is read with PyYAML and bodies are checked with jsonschema
(Debian's python3-yaml and python3-jsonschema, make deps-test).
"""

import glob
import json
import os
import re
import socket
import subprocess
import tempfile
import threading

from relaytest import (Conn, Relay, assert_closed, b64, build_request, call, config,
                       default_body, expect_status, new_claim, read, update_body)

EXPECTED_SECONDS = 10

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
OPENAPI = os.path.join(ROOT, "docs", "openapi.yaml")
API_MD = os.path.join(ROOT, "docs", "api.md")
# The Makefile's NPM_VALIDATOR: installed by make test-nodeps.
NPM_VALIDATOR = os.path.join(ROOT, "build", "npm", "node_modules", ".bin", "validate-api")

METHODS = ("get", "head", "post", "put", "delete", "patch", "options", "trace")
# Said once for every answer in the document's info, not per response.
GENERAL_HEADERS = {"date", "content-length", "connection", "content-type"}
ORIGIN = "https://app.example"
TIMEOUT_S = 1            # --header-timeout and --max-wait of the relay driven


def load_document():
    try:
        import yaml
    except ImportError:
        raise AssertionError("PyYAML is missing: run make deps-test (python3-yaml)")
    with open(OPENAPI, encoding="utf-8") as f:
        return yaml.safe_load(f)


def schema_validator():
    try:
        import jsonschema
    except ImportError:
        raise AssertionError("jsonschema is missing: run make deps-test (python3-jsonschema)")
    return jsonschema


# ------------------------------------------------------------ the document

class Document:
    """docs/openapi.yaml: routes, answers and their schemas."""

    def __init__(self):
        self.doc = load_document()
        self.jsonschema = schema_validator()
        paths = self.doc["paths"]
        self.any_other = [p for p, item in paths.items() if item.get("x-relay-any-other-target")]
        assert len(self.any_other) == 1, "one path must be x-relay-any-other-target: %r" % (
            self.any_other,)
        self.templated = []
        for p in paths:
            if "{" in p and p not in self.any_other:
                rx = "^" + re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(p)) + "$"
                self.templated.append((re.compile(rx), p))

    def route(self, target):
        """The document's path for a request target, as the relay routes it."""
        path = target.split("?", 1)[0]
        if path in self.doc["paths"] and "{" not in path:
            return path
        for rx, p in self.templated:
            if rx.match(path):
                return p
        return self.any_other[0]

    def operations(self):
        """Every (path, method) the document has."""
        return [(p, m) for p, item in self.doc["paths"].items() for m in METHODS if m in item]

    def triples(self):
        return {(p, m, int(s)) for p, m in self.operations()
                for s in self.doc["paths"][p][m]["responses"]}

    def deref(self, obj):
        """obj, or what its $ref names, and the JSON pointer to it."""
        pointer = None
        while isinstance(obj, dict) and "$ref" in obj and len(obj) == 1:
            pointer = obj["$ref"]
            obj = self.at(pointer)
        return obj, pointer

    def at(self, pointer):
        node = self.doc
        for part in pointer.lstrip("#/").split("/"):
            node = node[part.replace("~1", "/").replace("~0", "~")]
        return node

    def errors(self, instance, pointer):
        """Schema errors of instance against the schema at pointer (which may
        $ref the rest of the document)."""
        schema = dict(self.doc, **{"$ref": pointer})
        cls = self.jsonschema.Draft202012Validator
        return ["%s at %s" % (e.message, "/".join(map(str, e.absolute_path)) or "top")
                for e in cls(schema).iter_errors(instance)]

    def response(self, path, method, status):
        """The response object and a JSON pointer to it, or (None, None)."""
        op = self.doc["paths"][path].get(method)
        if op is None or str(status) not in op["responses"]:
            return None, None
        resp, pointer = self.deref(op["responses"][str(status)])
        if pointer is None:
            pointer = "#/paths/%s/%s/responses/%d" % (
                path.replace("~", "~0").replace("/", "~1"), method, status)
        return resp, pointer


def media_type(value):
    return (value or "").split(";")[0].strip().lower()


def check_answer(doc, method, path, resp, request_id=None):
    """What is wrong with resp as the document's answer to method on path
    (a document path); [] when nothing."""
    method = method.lower()
    where = "%s %s %d" % (method.upper(), path, resp.status)
    documented, pointer = doc.response(path, method, resp.status)
    if documented is None:
        return ["%s is not documented" % where]
    problems = []
    headers = {}
    for name, value in resp.headers:
        headers.setdefault(name.lower(), []).append(value)
    listed = {n.lower(): doc.deref(h)[0] for n, h in documented.get("headers", {}).items()}
    for name, values in headers.items():
        if name in GENERAL_HEADERS:
            continue
        if name not in listed:
            problems.append("%s: header %s is not documented" % (where, name))
            continue
        schema = listed[name].get("schema", {})
        for value in values:
            instance = value
            if schema.get("type") == "integer":
                instance = int(value) if re.fullmatch(r"-?[0-9]+", value) else value
            for e in doc.jsonschema.Draft202012Validator(schema).iter_errors(instance):
                problems.append("%s: header %s %r: %s" % (where, name, value, e.message))
    for name, header in listed.items():
        if header.get("required") and name not in headers:
            problems.append("%s: required header %s missing" % (where, name))
    if request_id is not None and headers.get("mailbox-request-id") != [request_id]:
        problems.append("%s: Mailbox-Request-ID %r not echoed" % (where, request_id))
    content = documented.get("content")
    got_type = media_type(resp.header("Content-Type"))
    if not content:
        if got_type or resp.body:
            problems.append("%s: documented without a body, got %r %r" % (
                where, got_type, resp.body[:80]))
        return problems
    if got_type not in content:
        problems.append("%s: Content-Type %r, documented %s" % (where, got_type, list(content)))
        return problems
    if method == "head":
        # Conn reads no body after HEAD; whoever sent this one checks that
        # none followed.
        return problems
    schema_at = "%s/content/%s/schema" % (pointer, got_type.replace("/", "~1"))
    if got_type == "application/json":
        try:
            instance = json.loads(resp.body.decode("utf-8"))
        except ValueError as e:
            return problems + ["%s: body is not JSON (%s): %r" % (where, e, resp.body[:200])]
    else:
        instance = resp.body.decode("utf-8")
    problems += ["%s: body %s (%r)" % (where, e, resp.body[:200])
                 for e in doc.errors(instance, schema_at)]
    return problems


# ------------------------------------------------------------- validation

def test_document_is_valid_openapi_3_1():
    if not os.access(NPM_VALIDATOR, os.X_OK):
        raise AssertionError("%s is missing: make test-nodeps installs it" % NPM_VALIDATOR)
    proc = subprocess.run([NPM_VALIDATOR, OPENAPI], stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, "validate-api refused docs/openapi.yaml (exit %d): %s %s" % (
        proc.returncode, proc.stdout[-3000:], proc.stderr[-1000:])
    assert json.loads(proc.stdout) == {"valid": True}, proc.stdout
    # The schemas are 2020-12 schemas jsonschema can use, too.
    doc = Document()
    cls = doc.jsonschema.Draft202012Validator
    for name, schema in doc.doc["components"]["schemas"].items():
        cls.check_schema(schema)


def c_error_codes():
    """Every error code the relay's protocol layer can answer with."""
    patterns = [r'api_fail\(&?call, \d{3}, "(\w+)"', r'response_error_body\(body, "(\w+)"',
                r'\{ \d{3}, "(\w+)"', r'body_fail\(err, "(\w+)"', r'->code = "(\w+)"']
    codes = set()
    for path in glob.glob(os.path.join(ROOT, "protocol", "*.c")):
        with open(path, encoding="utf-8") as f:
            text = f.read()
        for rx in patterns:
            codes.update(re.findall(rx, text))
    return codes


def test_error_codes_are_the_sources_and_api_md_names_each():
    doc = Document()
    documented = set(doc.doc["components"]["schemas"]["Error"]["properties"]["error"]["enum"])
    sent = c_error_codes()
    assert len(sent) > 15, "found only %r in protocol/*.c: has the code changed shape?" % sent
    assert sent == documented, "protocol/ sends %r undocumented; documented %r never sent" % (
        sorted(sent - documented), sorted(documented - sent))
    with open(API_MD, encoding="utf-8") as f:
        prose = f.read()
    missing = sorted(c for c in documented if "`%s`" % c not in prose)
    assert not missing, "docs/api.md does not name %s" % missing


# ------------------------------------------------------------ live relays

class Drive:
    """Requests against the relays, each answer checked against the
    document and noted as (path, method, status)."""

    def __init__(self, doc):
        self.doc = doc
        self.seen = set()
        self.problems = []
        self.lock = threading.Lock()

    def note(self, method, target, resp, request_id=None, expect=None):
        path = self.doc.route(target)
        with self.lock:
            self.seen.add((path, method.lower(), resp.status))
            self.problems += check_answer(self.doc, method, path, resp, request_id)
        if expect is not None:
            expect_status(resp, expect, "%s %s" % (method, target))
        return resp

    def call(self, relay, method, target, expect=None, **kw):
        rid = kw.get("request_id")
        echo = rid if rid is not None and re.fullmatch(r"[!-~]{1,128}", rid) else None
        return self.note(method, target, call(relay, method, target, **kw), echo, expect)


def mailbox(drive, relay, rights="RWD", request_id=None, **kw):
    """A new mailbox: (path, sender claim, create answer)."""
    sender = new_claim()
    body = default_body(mailboxConfiguration=config(3600, rights))
    resp = drive.call(relay, "POST", "/v1/m", 200, claim=sender, body=body,
                      request_id=request_id, **kw)
    return "/v1/m/" + resp.json()["urlLink"].rsplit("/", 1)[-1], sender, resp


def drive_mailbox_calls(d, relay):
    """The answers of the six operations, the preflights and the 405s."""
    origin = [("Origin", ORIGIN)]
    path, sender, created = mailbox(d, relay, request_id="create-1", headers=origin)
    d.call(relay, "POST", "/v1/m", 201, claim=sender, body=default_body(),
           request_id="create-1")
    d.call(relay, "POST", "/v1/m", 400, claim=new_claim(), body=b"{")
    d.call(relay, "POST", "/v1/m", 401, body=default_body())
    d.call(relay, "POST", "/v1/m", 415, claim=new_claim(), body=b"{}", content_type="text/plain")
    gone = "/v1/m/%s" % new_claim()

    d.call(relay, "GET", path + "?v=h", 200, headers=origin)
    d.call(relay, "HEAD", path, 200)
    for method in ("GET", "HEAD"):
        d.call(relay, method, gone, 404)
        d.call(relay, method, path, 400, request_id="not valid")

    receiver = new_claim()
    etag = d.call(relay, "POST", path, 200, claim=receiver).header("ETag")
    d.call(relay, "POST", path, 204, claim=receiver, headers=[("If-None-Match", etag)])
    d.call(relay, "POST", path, 401, claim=new_claim())
    d.call(relay, "POST", gone, 404, claim=receiver)
    d.call(relay, "POST", path, 400, claim=receiver, body={"notificationToken": 1})
    d.call(relay, "POST", path, 415, claim=receiver, body=b"{}", content_type="text/plain")

    # A long-poll woken by an update, on a connection of its own.
    with Conn(relay) as waiter:
        waiter.request("POST", path, [("Mailbox-Device-Claim", receiver),
                                      ("If-None-Match", etag), ("Prefer", "wait=30")])
        assert not waiter.data_within(0.2), "the long-poll was answered at once"
        d.call(relay, "PUT", path, 200, claim=sender, body=update_body(), request_id="put-1")
        d.note("POST", path, waiter.read_response("POST"), expect=200)
    d.call(relay, "PUT", path, 201, claim=sender, body=update_body(), request_id="put-1")
    d.call(relay, "PUT", path, 412, claim=receiver, body=update_body(),
           headers=[("If-Match", etag)])
    d.call(relay, "PUT", path, 400, claim=receiver, body={"payload": {"type": "x", "data": "@"}})
    d.call(relay, "PUT", path, 401, claim=new_claim(), body=update_body())
    d.call(relay, "PUT", gone, 404, claim=sender, body=update_body())
    d.call(relay, "PUT", path, 415, claim=sender, body=b"{}", content_type="text/plain")

    d.call(relay, "PATCH", path, 200, claim=receiver, request_id="give-up")
    d.call(relay, "PATCH", path, 201, claim=receiver, request_id="give-up")
    d.call(relay, "PATCH", path, 401, claim=sender)
    d.call(relay, "PATCH", path, 400, claim=sender, headers=[("Mailbox-Device-Attestation",
                                                              "a" * 4097)])
    d.call(relay, "PATCH", gone, 404, claim=sender)
    d.call(relay, "PATCH", path, 415, claim=sender, body=b"x", content_type="text/plain")

    d.call(relay, "DELETE", path, 401, claim=new_claim())
    d.call(relay, "DELETE", path, 400, claim=sender, request_id="")
    d.call(relay, "DELETE", path, 415, claim=sender, body=b"x", content_type="text/plain")
    d.call(relay, "DELETE", path, 200, claim=sender, headers=origin)
    d.call(relay, "DELETE", path, 404, claim=sender)

    preflight = origin + [("Access-Control-Request-Method", "PUT")]
    for target in ("/v1/m", path):
        d.call(relay, "OPTIONS", target, 204, headers=preflight)
        d.call(relay, "OPTIONS", target, 405)
    for method in ("GET", "HEAD", "PUT", "DELETE", "PATCH", "TRACE"):
        d.call(relay, method, "/v1/m", 405)
    d.call(relay, "TRACE", path, 405)


def drive_other_paths(d, relay, served):
    """The app-link files (served or not) and paths that are nothing."""
    for target in ("/.well-known/apple-app-site-association", "/.well-known/assetlinks.json"):
        for method in ("GET", "HEAD"):
            d.call(relay, method, target, 200 if served else 404)
        for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE"):
            d.call(relay, method, target, 405 if served else 404)
    for method in METHODS:
        d.call(relay, method.upper(), "/nowhere/at/all", 404)


def drive_rate_limits(d, relay):
    """429: the second create, then every call on a mailbox once the address
    has spent its one failed claim check."""
    d.call(relay, "POST", "/v1/m", 200, claim=new_claim(), body=default_body())
    d.call(relay, "POST", "/v1/m", 429, claim=new_claim(), body=default_body())
    target = "/v1/m/%s" % new_claim()
    d.call(relay, "POST", target, 401, claim="not a claim")
    for method in ("POST", "PUT", "DELETE", "PATCH"):
        d.call(relay, method, target, 429, claim=new_claim())


def sample_target(path, mailbox_path):
    if path == "/v1/m/{id}":
        return mailbox_path
    return "/nowhere" if "{" in path else path


def drive_everywhere(d, relay, mailbox_path):
    """What any request can get, on every path and method: 400 for HTTP the
    relay will not read, 413, 431, and 408 for a head that never ends (all
    at once: they wait together)."""
    ops = d.doc.operations()
    for path, method in ops:
        target = sample_target(path, mailbox_path)
        for status, headers in ((400, [("Content-Length", "x")]),
                                (413, [("Content-Length", "99999999")]),
                                (431, [("X-Pad", "p" * 9000)])):
            d.call(relay, method.upper(), target, status, headers=headers)
    pending = []
    try:
        for path, method in ops:
            target = sample_target(path, mailbox_path)
            conn = Conn(relay)
            pending.append((conn, method.upper(), target))
            # The head without its last CRLF: it never ends. (A header
            # counts once the line after it has begun.)
            conn.send(build_request(method.upper(), target,
                                    [("Mailbox-Request-ID", "slow"), ("X-Slow", "1")])[:-2])
        for conn, method, target in pending:
            d.note(method, target, conn.read_response(method, timeout_s=TIMEOUT_S + 10),
                   "slow", 408)
            # Nothing after the head of a HEAD's answer, then the close.
            assert_closed(conn, "408 to %s %s" % (method, target))
    finally:
        for conn, _, _ in pending:
            conn.close()


def small_window_conn(relay):
    """A connection whose receive window is small, so that what the relay
    writes to it stays in the relay rather than in the kernel."""
    raw = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    raw.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    # Small segments keep the relay's send buffer small too: Linux sizes it
    # from the peer's MSS, 64 KiB on loopback.
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_MAXSEG, 1200)
    raw.settimeout(10)
    raw.connect((relay.host, relay.port))
    return relay.ssl_context().wrap_socket(raw, server_hostname="localhost")


def drive_busy(d, relay, mailbox_path):
    """503 busy everywhere: one client that does not read a 16 MB answer
    holds more unread output than a relay of --max-memory 40m keeps (5 MiB),
    and every request on another connection is turned away until it goes."""
    big = default_body(payload={"type": "AEAD_AES_128_GCM", "data": b64(os.urandom(11 << 20))})
    sender = new_claim()
    resp = call(relay, "POST", "/v1/m", claim=sender, body=big, timeout_s=30)
    expect_status(resp, 200, "create of an 11 MiB payload")
    held = "/v1/m/" + resp.json()["urlLink"].rsplit("/", 1)[-1]
    hog = small_window_conn(relay)
    try:
        hog.sendall(build_request("POST", held, [("Mailbox-Device-Claim", sender)]))
        # Its answer has begun: the relay has written what the socket took
        # and counted the rest as unread before it reads anything else.
        assert hog.recv(1), "no answer to the big read"
        for path, method in d.doc.operations():
            target = sample_target(path, mailbox_path)
            d.note(method, target, call(relay, method.upper(), target, request_id="busy"),
                   "busy", 503)
    finally:
        hog.close()


def test_every_documented_answer_is_given_and_matches_the_document():
    doc = Document()
    d = Drive(doc)
    with tempfile.TemporaryDirectory() as tmp:
        for name in ("apple-app-site-association", "assetlinks.json"):
            with open(os.path.join(tmp, name), "w") as f:
                json.dump({"applinks": {"details": []}} if "apple" in name else [], f)
        with Relay("--well-known", tmp, "--cors-origin", ORIGIN, "--max-body", "16m",
                   "--max-memory", "40m", "--header-timeout", "%ds" % TIMEOUT_S,
                   "--max-wait", "%ds" % TIMEOUT_S) as relay:
            drive_mailbox_calls(d, relay)
            drive_other_paths(d, relay, served=True)
            path, sender, _ = mailbox(d, relay)
            # A long-poll whose time runs out, while the heads time out.
            etag = d.call(relay, "POST", path, 200, claim=new_claim()).header("ETag")
            timed_out = {}
            poll = threading.Thread(target=lambda: timed_out.update(resp=call(
                relay, "POST", path, claim=sender, headers=[
                    ("If-None-Match", etag), ("Prefer", "wait=30")])))
            poll.start()
            drive_everywhere(d, relay, path)
            poll.join(TIMEOUT_S + 20)
            resp = d.note("POST", path, timed_out["resp"], expect=204)
            assert resp.header("Preference-Applied") == "wait=%d" % TIMEOUT_S, resp
            drive_busy(d, relay, path)
        with Relay("--rate-create", "1/h", "--rate-fail", "1/h") as relay:
            drive_other_paths(d, relay, served=False)
            drive_rate_limits(d, relay)
    assert not d.problems, "answers that are not as documented:\n  " + "\n  ".join(
        sorted(set(d.problems))[:60])
    never = sorted(doc.triples() - d.seen)
    assert not never, "documented but never given (%d): %s" % (len(never), never[:60])
    return "%d documented answers given" % len(d.seen)
