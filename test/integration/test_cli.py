"""Command line (spec §9, §10): options, exit codes, start-up output, certificates."""

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time

from relaytest import (Conn, Output, Relay, client_context, create, default_body, expect_equal,
                       expect_error, expect_json, fingerprint_in, listening_lines, log_events,
                       new_claim, new_mailbox, parse_log_line, parse_rfc3339, read, rfc3339,
                       run_relay, sha256_fingerprint, tail, wait_until, RELAY_BIN, config)

EXPECTED_SECONDS = 1


def _one_line(text, what):
    lines = text.splitlines()
    assert len(lines) == 1, "%s: expected exactly one line on stderr, got %d: %r" % (
        what, len(lines), text)
    return lines[0]


def test_help_exits_0_with_help_on_stdout():
    rc, out, err = run_relay(["--help"])
    assert rc == 0, "--help: exit status %d, stderr %r" % (rc, err)
    assert "--listen" in out, "--help output on stdout does not mention --listen: %r" % out
    assert "--max-body" in out and "--no-tls" in out, "--help does not list the options: %r" % out


def test_version_exits_0():
    rc, out, err = run_relay(["--version"])
    assert rc == 0, "--version: exit status %d, stderr %r" % (rc, err)
    assert out.strip(), "--version printed nothing on stdout (stderr %r)" % err


def test_unknown_option_exit_2_one_line_naming_it():
    rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--frobnicate-widgets"])
    assert rc == 2, "unknown option: expected exit status 2, got %d (stderr %r)" % (rc, err)
    line = _one_line(err, "unknown option")
    assert "--frobnicate-widgets" in line, "error line does not name the option: %r" % line


BAD_VALUES = [
    ("--max-body", "abc"), ("--max-body", "12q"), ("--max-body", "-1"), ("--max-body", ""),
    ("--max-memory", "lots"), ("--max-memory", "5x"),
    ("--default-ttl", "soon"), ("--default-ttl", "5x"), ("--max-ttl", "-7d"),
    ("--max-wait", "1w"), ("--max-wait", "abc"),
    ("--max-mailboxes", "many"), ("--max-mailboxes", "-3"),
    ("--max-connections", "lots"),
    ("--listen", "nonsense"), ("--listen", "127.0.0.1:70000"), ("--listen", "127.0.0.1"),
    ("--log-level", "loud"), ("--log-level", "notice"), ("--log-level", "INFO"),
    ("--log-format", "xml"), ("--log-format", "JSON"), ("--log-format", ""),
    ("--log-format", "text "), ("--log-format", "json\nrelay: forged"),
]


def test_bad_values_exit_2_one_line_naming_the_option():
    problems = []
    for opt, value in BAD_VALUES:
        args = ["--listen", "127.0.0.1:0", opt, value] if opt != "--listen" else [opt, value]
        rc, out, err = run_relay(args)
        lines = err.splitlines()
        if rc != 2:
            problems.append("%s %r: exit status %d (stderr %r)" % (opt, value, rc, err))
        elif len(lines) != 1:
            problems.append("%s %r: %d stderr lines %r" % (opt, value, len(lines), err))
        elif opt not in lines[0]:
            problems.append("%s %r: error line does not name the option: %r" % (opt, value, lines[0]))
    assert not problems, "bad option values:\n" + "\n".join(problems)


def test_missing_value_exit_2():
    rc, out, err = run_relay(["--listen", "127.0.0.1:0", "--max-body"])
    assert rc == 2, "--max-body without a value: exit status %d (stderr %r)" % (rc, err)
    line = _one_line(err, "missing value")
    assert "--max-body" in line, "error does not name --max-body: %r" % line


def test_startup_lines_and_fingerprint_match_served_certificate():
    with Relay() as relay:
        events = relay.events()
        msgs = [e["msg"] for e in events]
        assert "certificate" in msgs, "no 'certificate' line on stderr: %r" % events
        assert len(relay.fingerprint) == 95, relay.fingerprint
        assert msgs.index("certificate") < msgs.index("listening"), \
            "fingerprint line should come before the listening line: %r" % events
        listening = events[msgs.index("listening")]
        expect_equal(listening["url"], "https://127.0.0.1:%d" % relay.port, "listening line")
        expect_equal(listening["level"], "notice", "listening line's level")
        assert relay.port != 0, "listening line shows port 0"
        assert relay.stdout.text() == "", "the relay wrote on stdout: %r" % relay.stdout.text()
        with Conn(relay) as c:
            served = c.sock.getpeercert(binary_form=True)
        expect_equal(relay.fingerprint.upper(), sha256_fingerprint(served),
                     "printed fingerprint vs SHA-256 of the served certificate")
        with open(relay.cacert) as f:
            pem = f.read()
        expect_equal(ssl.PEM_cert_to_DER_cert(pem), served, "--dev-cert-out file vs served certificate")


def test_dev_cert_names_localhost_and_loopback_addresses():
    with Relay() as relay:
        info = ssl._ssl._test_decode_cert(relay.cacert)
        san = info.get("subjectAltName", ())
        dns = {v for k, v in san if k == "DNS"}
        ips = {v.strip() for k, v in san if k == "IP Address"}
        assert "localhost" in dns, "dev certificate SAN lacks DNS:localhost: %r" % (san,)
        assert "127.0.0.1" in ips, "dev certificate SAN lacks IP 127.0.0.1: %r" % (san,)
        assert ips & {"::1", "0:0:0:0:0:0:0:1"}, "dev certificate SAN lacks IP ::1: %r" % (san,)
        # And a verifying client accepts the names.
        for name in ("localhost", "127.0.0.1"):
            with Conn(relay, server_hostname=name) as c:
                assert c.sock.version() in ("TLSv1.2", "TLSv1.3")


def test_dev_cert_is_ecdsa_p256():
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to inspect the certificate"
    with Relay() as relay:
        text = subprocess.run([openssl, "x509", "-noout", "-text", "-in", relay.cacert],
                              capture_output=True, text=True, check=True).stdout
    assert "id-ecPublicKey" in text, "dev certificate key is not EC: %s" % text[:600]
    assert "prime256v1" in text or "P-256" in text, "dev certificate curve is not P-256: %s" % text[:800]


def test_startup_output_flushed_when_stderr_is_a_file():
    # Spec §10: printed and flushed at once even when output is a file, at
    # every --log-level (notices are never filtered) and in both formats.
    tmp = tempfile.mkdtemp(prefix="relaytest-")
    err_path = os.path.join(tmp, "stderr.txt")
    try:
        with open(err_path, "wb") as err:
            proc = subprocess.Popen([RELAY_BIN, "--listen", "127.0.0.1:0", "--log-level", "error",
                                     "--log-format", "json"], stdin=subprocess.DEVNULL,
                                    stdout=subprocess.DEVNULL, stderr=err)
        try:
            def listening():
                with open(err_path, encoding="utf-8", errors="replace") as f:
                    lines = f.read().splitlines()
                return listening_lines(lines) and fingerprint_in(lines)
            wait_until(listening, 10, "fingerprint and listening lines in the stderr file "
                       "(output not flushed?)")
        finally:
            proc.send_signal(signal.SIGTERM)
            rc = proc.wait(10)
        assert rc == 0, "exit status %d after SIGTERM" % rc
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_sigint_exits_0():
    relay = Relay().start()
    try:
        with Conn(relay) as c:
            resp = c.roundtrip("GET", "/v1/m/%s" % new_claim())
            assert resp.status == 404, "preview of an unknown id: %s" % resp
    finally:
        relay.stop(sig=signal.SIGINT)


def test_no_arguments_listens_on_8443():
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", 8443))
    except OSError as e:
        raise AssertionError("port 8443 is busy on this machine, cannot test the default: %s" % e)
    finally:
        probe.close()
    proc = subprocess.Popen([RELAY_BIN], stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE)
    try:
        err = Output(proc.stderr)
        ok = err.wait_for(listening_lines, 10)
        lines = err.lines()
        assert ok, "no listening line within 10 s: %r" % lines
        assert [m.group(0) for m in listening_lines(lines)] == ["https://127.0.0.1:8443"], lines
        assert fingerprint_in(lines), "no fingerprint line: %r" % lines
        ctx = client_context(verify=False)
        with socket.create_connection(("127.0.0.1", 8443), timeout=10) as raw:
            with ctx.wrap_socket(raw, server_hostname="localhost") as s:
                s.sendall(b"GET /v1/m/x HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n")
                data = s.recv(100)
        assert data.startswith(b"HTTP/1.1 404"), "GET on the default relay answered %r" % data
    finally:
        proc.send_signal(signal.SIGTERM)
        rc = proc.wait(10)
        proc.stdout.close()
    assert rc == 0, "exit status %d after SIGTERM" % rc


def test_port_in_use_exit_1_one_line():
    # A start error is one log line, in either format: the level, a fixed
    # message and what went wrong.
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    port = holder.getsockname()[1]
    try:
        for log_format in ("text", "json"):
            rc, out, err = run_relay(["--listen", "127.0.0.1:%d" % port, "--log-format",
                                      log_format])
            assert rc == 1, "port in use: expected exit status 1, got %d (stderr %r)" % (rc, err)
            line = _one_line(err, "port in use")
            assert out == "", "port in use: stdout %r" % out
            if log_format == "json":
                event = json.loads(line)
            else:
                event = parse_log_line(line)
            assert event["level"] == "error" and event["msg"] == "cannot start", line
            assert "127.0.0.1:%d" % port in event["error"], line
    finally:
        holder.close()


def _openssl_cert(tmp, name="localhost"):
    openssl = shutil.which("openssl")
    assert openssl, "the openssl command is needed to make a test certificate"
    key, cert = os.path.join(tmp, "key.pem"), os.path.join(tmp, "cert.pem")
    subprocess.run([openssl, "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-keyout", key, "-out", cert,
                    "-days", "2", "-subj", "/CN=%s" % name,
                    "-addext", "subjectAltName=DNS:%s" % name],
                   check=True, capture_output=True)
    return cert, key


def test_cert_and_key_files_are_served():
    tmp = tempfile.mkdtemp(prefix="relaytest-")
    try:
        cert, key = _openssl_cert(tmp)
        with Relay("--cert", cert, "--key", key, dev_cert=False) as relay:
            with open(cert) as f:
                der = ssl.PEM_cert_to_DER_cert(f.read())
            ctx = client_context(cert)
            with Conn(relay, context=ctx) as c:
                expect_equal(c.sock.getpeercert(binary_form=True), der, "served certificate")
                resp = c.roundtrip("POST", "/v1/m", {"Mailbox-Device-Claim": new_claim(),
                                                     "Content-Type": "application/json"},
                                   json.dumps(default_body()).encode())
                expect_json(resp, 200)
            assert relay.fingerprint, "no fingerprint line with --cert"
            expect_equal(relay.fingerprint.upper(), sha256_fingerprint(der), "fingerprint")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def test_bad_cert_or_key_files_exit_1_one_line():
    tmp = tempfile.mkdtemp(prefix="relaytest-")
    try:
        cert, key = _openssl_cert(tmp)
        garbage = os.path.join(tmp, "garbage.pem")
        with open(garbage, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a certificate\n-----END CERTIFICATE-----\n")
        missing = os.path.join(tmp, "missing.pem")
        cases = {
            "missing cert": ["--cert", missing, "--key", key],
            "missing key": ["--cert", cert, "--key", missing],
            "unparsable cert": ["--cert", garbage, "--key", key],
            "unparsable key": ["--cert", cert, "--key", garbage],
        }
        problems = []
        for what, args in cases.items():
            rc, out, err = run_relay(["--listen", "127.0.0.1:0"] + args)
            if rc != 1 or len(err.splitlines()) != 1:
                problems.append("%s: exit status %d, stderr %r" % (what, rc, err))
        assert not problems, "start errors:\n" + "\n".join(problems)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _expiration_of_default(relay):
    mb = new_mailbox(relay)
    data = expect_json(read(relay, mb.id, mb.sender), 200)
    return parse_rfc3339(data["expiration"]) - time.time()


def test_duration_forms_for_default_ttl():
    for value, seconds in (("90", 90), ("90s", 90), ("15m", 900), ("24h", 86400), ("2d", 172800)):
        with Relay("--default-ttl", value) as relay:
            ttl = _expiration_of_default(relay)
            assert abs(ttl - seconds) <= 5, "--default-ttl %s: mailbox lives %.0f s, expected %d" % (
                value, ttl, seconds)


def test_default_ttl_is_24h():
    with Relay() as relay:
        ttl = _expiration_of_default(relay)
        assert abs(ttl - 86400) <= 5, "default lifetime is %.0f s, expected 24 h" % ttl


def test_max_ttl_option():
    with Relay("--max-ttl", "1h", "--default-ttl", "10m") as relay:
        ok = create(relay, body=default_body(mailboxConfiguration=config(expires_in_s=1800)))
        expect_json(ok, 200, "expiration 30 min ahead with --max-ttl 1h")
        too_far = create(relay, body=default_body(mailboxConfiguration=config(expires_in_s=7200)))
        expect_error(too_far, 400, "invalid_field", "expiration 2 h ahead with --max-ttl 1h")


def test_size_forms_for_max_body():
    # (1g is past --max-body's maximum of 16m: test_option_bounds; the g form
    # is taken by --max-memory below.)
    for value, limit in (("1024", 1024), ("1k", 1024), ("8m", 8 << 20), ("16m", 16 << 20)):
        with Relay("--max-body", value) as relay:
            # A body one byte past the limit is refused from its Content-Length alone.
            with Conn(relay) as c:
                c.send(("POST /v1/m HTTP/1.1\r\nHost: localhost\r\nMailbox-Device-Claim: %s\r\n"
                        "Content-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                        % (new_claim(), limit + 1)).encode())
                expect_error(c.read_response("POST"), 413, "payload_too_large",
                             "--max-body %s, Content-Length %d" % (value, limit + 1))
            expect_json(create(relay), 200, "--max-body %s, small body" % value)
    # And the other sizes are accepted as values.
    for opt, value in (("--max-memory", "65536"), ("--max-memory", "64k"), ("--max-memory", "8m"),
                       ("--max-memory", "1g"), ("--max-wait", "90s"), ("--max-wait", "15m")):
        with Relay(opt, value) as relay:
            expect_json(create(relay), 200, "%s %s" % (opt, value))


def test_public_url_and_host_header_ignored():
    with Relay("--public-url", "https://relay.example.org:9443") as relay:
        with Conn(relay) as c:
            resp = c.roundtrip("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                 ("Content-Type", "application/json")],
                               json.dumps(default_body()).encode(), host="evil.example.net")
        url = expect_json(resp, 200)["urlLink"]
        assert url.startswith("https://relay.example.org:9443/v1/m/"), \
            "urlLink %r does not use --public-url" % url
    with Relay() as relay:
        with Conn(relay) as c:
            resp = c.roundtrip("POST", "/v1/m", [("Mailbox-Device-Claim", new_claim()),
                                                 ("Content-Type", "application/json")],
                               json.dumps(default_body()).encode(), host="evil.example.net")
        url = expect_json(resp, 200)["urlLink"]
        assert url.startswith("https://localhost:%d/v1/m/" % relay.port), \
            "default urlLink %r should be https://localhost:%d/v1/m/..." % (url, relay.port)


def test_repeated_listen_serves_every_address():
    with Relay(listen=["127.0.0.1:0", "127.0.0.1:0"]) as relay:
        assert len(relay.listeners) == 2, relay.listeners
        ports = {p for _, _, p in relay.listeners}
        assert len(ports) == 2, "two --listen 127.0.0.1:0 should give two ports: %r" % relay.listeners
        mb = new_mailbox(relay)
        for _, host, port in relay.listeners:
            with Conn(relay, host=host, port=port) as c:
                resp = c.roundtrip("POST", mb.path, {"Mailbox-Device-Claim": mb.sender})
                expect_json(resp, 200, "read via port %d" % port)
