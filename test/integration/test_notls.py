"""--no-tls (spec §2, §9, §10): plain HTTP for use behind a TLS-terminating
proxy, announced loudly at start."""

import socket
import ssl

from relaytest import (Conn, Relay, client_context, expect_json, expect_status, new_claim,
                       new_mailbox, read, update, delete)

EXPECTED_SECONDS = 2


def test_no_tls_announces_and_serves_plain_http():
    with Relay("--no-tls", tls=False) as relay:
        lines = relay.stdout.lines() + relay.stderr.lines()
        events = relay.events()
        listening = [(e["level"], e["url"]) for e in events if e["msg"] == "listening"]
        assert listening == [("notice", "http://127.0.0.1:%d" % relay.port)], lines
        assert any("TLS is OFF" in e["msg"] and e["level"] == "notice" for e in events), \
            "no start-up notice says 'TLS is OFF': %r" % lines
        mb = new_mailbox(relay)
        receiver = new_claim()
        expect_json(read(relay, mb.id, receiver), 200, "read over plain HTTP")
        expect_json(delete(relay, mb.id, receiver), 200)
        with Conn(relay) as c:
            # Pipelining and keep-alive work the same on the plain transport.
            c.send(b"GET /v1/m/%s HTTP/1.1\r\nHost: x\r\n\r\nGET /v1/x HTTP/1.1\r\nHost: x\r\n\r\n"
                   % mb.id.encode())
            expect_status(c.read_response("GET"), 404)
            expect_status(c.read_response("GET"), 404)


def test_no_tls_refuses_a_tls_handshake_without_dying():
    with Relay("--no-tls", tls=False) as relay:
        ctx = client_context(verify=False)
        raw = socket.create_connection(("127.0.0.1", relay.port), timeout=5)
        try:
            ctx.wrap_socket(raw, server_hostname="localhost")
            raise AssertionError("a TLS handshake succeeded on a --no-tls listener")
        except (ssl.SSLError, ConnectionError, OSError, TimeoutError):
            pass
        finally:
            raw.close()
        mb = new_mailbox(relay)
        expect_json(update(relay, mb.id, mb.sender), 200, "relay still serving after a TLS hello")
