"""IPv6 listeners (spec §9: --listen [::1]:PORT, repeatable)."""

from relaytest import (Conn, Relay, expect_json, expect_status, new_claim, new_mailbox, read)

EXPECTED_SECONDS = 2


def test_ipv6_only_listener():
    with Relay(listen=["[::1]:0"]) as relay:
        urls = [e["url"] for e in relay.events() if e["msg"] == "listening"]
        assert urls == ["https://[::1]:%d" % relay.port], urls
        assert relay.host == "::1"
        mb = new_mailbox(relay)
        assert mb.url.startswith("https://localhost:%d/v1/m/" % relay.port), mb.url
        expect_json(read(relay, mb.id, new_claim()), 200, "read over IPv6")
        with Conn(relay, server_hostname="::1") as c:      # the dev cert names ::1 too
            expect_status(c.roundtrip("GET", mb.path), 200, "preview over IPv6")


def test_ipv4_and_ipv6_share_one_store():
    with Relay(listen=["127.0.0.1:0", "[::1]:0"]) as relay:
        (_, h4, p4), (_, h6, p6) = relay.listeners
        assert h4 == "127.0.0.1" and h6 == "::1", relay.listeners
        mb = new_mailbox(relay)                      # over IPv4
        receiver = new_claim()
        with Conn(relay, host=h6, port=p6) as c:
            expect_json(c.roundtrip("POST", mb.path, {"Mailbox-Device-Claim": receiver}), 200,
                        "Receiver reads over IPv6 what was created over IPv4")
        with Conn(relay, host=h4, port=p4) as c:
            expect_json(c.roundtrip("DELETE", mb.path, {"Mailbox-Device-Claim": receiver}), 200)
        with Conn(relay, host=h6, port=p6) as c:
            expect_status(c.roundtrip("GET", mb.path), 404)
