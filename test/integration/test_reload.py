"""SIGHUP re-reads --cert/--key: new connections get the new certificate,
connections already open keep working on theirs, and a pair that does not
load (a key that does not match, garbage, a missing file) is logged and the
previous certificate kept. Without --cert/--key (development certificate)
or with --no-tls, SIGHUP changes nothing and stops nothing. TLS 1.2 and 1.3
sessions resume across a reload (the ticket keys are the relay's), and a
TLS 1.2 session whose suite the new key cannot serve gets a full handshake.

Certificates are made with the openssl command (ECDSA P-256 and RSA 2048,
CN and subjectAltName localhost) in a temporary directory; the client
trusts exactly those certificates (they are self-signed, so each is its own
trust anchor) and checks which one it got by the SHA-256 fingerprint of the
leaf. Cost: about 1 s (making the keys included).
"""

import os
import shutil
import signal
import ssl
import subprocess
import tempfile

from relaytest import (Conn, Relay, client_context, expect_json, expect_status, new_claim,
                       new_mailbox, parse_log_line, read, sha256_fingerprint)

EXPECTED_SECONDS = 3


# ------------------------------------------------------------------ helpers

def _openssl(*args):
    proc = subprocess.run(["openssl"] + list(args), stdin=subprocess.DEVNULL,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=60)
    if proc.returncode != 0:
        raise AssertionError("openssl %s failed: %s" % (" ".join(args), proc.stderr.decode()))


class _Certs:
    """Self-signed certificates for localhost in a temporary directory, and
    the --cert/--key files the relay reads (replaced atomically)."""

    def __enter__(self):
        self.dir = tempfile.mkdtemp(prefix="relay-certs-")
        self.cert_file = os.path.join(self.dir, "server.crt")
        self.key_file = os.path.join(self.dir, "server.key")
        self.pairs = {}
        p256 = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]
        for name, newkey in (("ecdsa", p256), ("rsa", ["-newkey", "rsa:2048"]),
                             ("ecdsa2", p256)):
            cert = os.path.join(self.dir, name + ".crt")
            key = os.path.join(self.dir, name + ".key")
            _openssl("req", "-x509", *newkey, "-nodes", "-keyout", key, "-out", cert,
                     "-days", "2", "-subj", "/CN=localhost",
                     "-addext", "subjectAltName=DNS:localhost")
            der = ssl.PEM_cert_to_DER_cert(open(cert).read())
            self.pairs[name] = (cert, key, sha256_fingerprint(der))
        bundle = os.path.join(self.dir, "trusted.pem")
        with open(bundle, "w") as out:
            for cert, _, _ in self.pairs.values():
                out.write(open(cert).read())
        self.context = client_context(bundle)
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.dir, ignore_errors=True)
        return False

    def fingerprint(self, name):
        return self.pairs[name][2]

    def install(self, cert=None, key=None):
        """Make the relay's --cert/--key hold these (file names or bytes)."""
        for target, source in ((self.cert_file, cert), (self.key_file, key)):
            if source is None:
                continue
            data = source if isinstance(source, bytes) else open(source, "rb").read()
            tmp = target + ".new"
            with open(tmp, "wb") as f:
                f.write(data)
            os.replace(tmp, target)

    def install_pair(self, name):
        cert, key, _ = self.pairs[name]
        self.install(cert, key)

    def relay(self, *args):
        return Relay("--cert", self.cert_file, "--key", self.key_file, *args, dev_cert=False)


def _peer_fingerprint(conn):
    return sha256_fingerprint(conn.sock.getpeercert(binary_form=True))


def _new_connection_fingerprint(relay, context):
    with Conn(relay, context=context) as c:
        fp = _peer_fingerprint(c)
        expect_status(c.roundtrip("GET", "/v1/m/%s" % new_claim()), 404,
                      "request on a new connection")
        return fp


def _sighup_lines(relay):
    return [l for l in relay.stderr.lines() if "SIGHUP" in l]


def _sighup(relay):
    """Send SIGHUP and wait until the relay has logged what it made of it;
    returns that log line."""
    before = len(_sighup_lines(relay))
    relay.proc.send_signal(signal.SIGHUP)
    if not relay.stderr.wait_for(lambda ls: len([l for l in ls if "SIGHUP" in l]) > before, 5):
        raise AssertionError("no log line about SIGHUP within 5 s (alive: %s); stderr: %r" % (
            relay.alive(), relay.stderr.text()[-600:]))
    assert relay.alive(), "relay stopped on SIGHUP: %r" % relay.stderr.text()[-600:]
    return _sighup_lines(relay)[before]


def _served(conn, mb, what):
    expect_json(read(None, mb.id, mb.sender, conn=conn), 200, what)


TLS_VERSIONS = (("TLSv1.2", ssl.TLSVersion.TLSv1_2), ("TLSv1.3", ssl.TLSVersion.TLSv1_3))


def _one_version(context, version):
    """A copy of context's trust that speaks only this TLS version."""
    ctx = client_context()
    ctx.load_verify_locations(cadata="".join(ssl.DER_cert_to_PEM_cert(der) for der in
                                             context.get_ca_certs(binary_form=True)))
    ctx.minimum_version = ctx.maximum_version = version
    return ctx


def _session_from(relay, context, session, name, what):
    """One request on a connection that offers `session` (None: a full
    handshake). Returns (the session to offer next, whether this one was
    resumed, the fingerprint of the certificate it is under)."""
    with Conn(relay, context=context, session=session) as c:
        assert c.sock.version() == name, "%s: asked for %s, got %s" % (what, name,
                                                                      c.sock.version())
        # The request also makes the client read TLS 1.3's NewSessionTicket,
        # which follows the handshake.
        expect_status(c.roundtrip("GET", "/v1/m/%s" % new_claim()), 404, what)
        return c.sock.session, c.sock.session_reused, _peer_fingerprint(c)


# -------------------------------------------------------------------- tests

def test_sighup_new_certificate_for_new_connections_open_ones_keep_working():
    with _Certs() as certs:
        certs.install_pair("ecdsa")
        ecdsa, rsa = certs.fingerprint("ecdsa"), certs.fingerprint("rsa")
        with certs.relay() as relay:
            assert relay.fingerprint == ecdsa, "relay printed fingerprint %s, the ECDSA " \
                "certificate is %s" % (relay.fingerprint, ecdsa)
            with Conn(relay, context=certs.context) as c:
                mb = new_mailbox(relay, conn=c)
            old = Conn(relay, context=certs.context)
            try:
                assert _peer_fingerprint(old) == ecdsa
                _served(old, mb, "keep-alive connection before SIGHUP")

                certs.install_pair("rsa")
                line = _sighup(relay)
                assert rsa in line, "SIGHUP log line does not show the new fingerprint " \
                    "%s: %r" % (rsa, line)
                got = _new_connection_fingerprint(relay, certs.context)
                assert got == rsa, "new connection after SIGHUP got certificate %s, expected " \
                    "the new RSA one %s (old ECDSA %s)" % (got, rsa, ecdsa)
                # A client that trusts only the old certificate is refused now.
                only_old = client_context(certs.pairs["ecdsa"][0])
                try:
                    Conn(relay, context=only_old).close()
                    raise AssertionError("a client trusting only the old certificate still "
                                         "connected after the reload")
                except ssl.SSLCertVerificationError:
                    pass
                # The connection opened before keeps working, on the old certificate.
                for i in range(3):
                    _served(old, mb, "keep-alive connection %d after SIGHUP" % (i + 1))
                assert _peer_fingerprint(old) == ecdsa
                newer = Conn(relay, context=certs.context)

                # And back to ECDSA: both earlier connections carry on.
                certs.install_pair("ecdsa")
                assert ecdsa in _sighup(relay)
                got = _new_connection_fingerprint(relay, certs.context)
                assert got == ecdsa, "after the second SIGHUP got %s, expected %s" % (got, ecdsa)
                _served(old, mb, "connection from before both reloads")
                _served(newer, mb, "connection from between the reloads")
                assert _peer_fingerprint(newer) == rsa
                newer.close()
            finally:
                old.close()


def test_sighup_with_a_bad_pair_keeps_the_previous_certificate():
    with _Certs() as certs:
        certs.install_pair("ecdsa")
        ecdsa, rsa = certs.fingerprint("ecdsa"), certs.fingerprint("rsa")
        ecdsa_cert, ecdsa_key, _ = certs.pairs["ecdsa"]
        rsa_cert, rsa_key, _ = certs.pairs["rsa"]
        good_cert, good_key = open(ecdsa_cert, "rb").read(), open(ecdsa_key, "rb").read()
        cases = [
            ("a certificate with a key that does not match it", rsa_cert, ecdsa_key),
            ("the other way round", ecdsa_cert, rsa_key),
            ("an ECDSA certificate with another P-256 key", ecdsa_cert, certs.pairs["ecdsa2"][1]),
            ("a garbage certificate", b"-----BEGIN CERTIFICATE-----\ngarbage\n"
                                      b"-----END CERTIFICATE-----\n", good_key),
            ("a garbage key", good_cert, os.urandom(300)),
            ("an empty certificate file", b"", good_key),
            ("a truncated key", good_cert, good_key[:len(good_key) // 2]),
        ]
        with certs.relay() as relay:
            with Conn(relay, context=certs.context) as c:
                mb = new_mailbox(relay, conn=c)
            old = Conn(relay, context=certs.context)
            try:
                for what, cert, key in cases:
                    certs.install(cert, key)
                    line = _sighup(relay)
                    assert parse_log_line(line)["level"] in ("error", "warn"), "SIGHUP with " \
                        "%s: not logged as a problem: %r" % (what, line)
                    got = _new_connection_fingerprint(relay, certs.context)
                    assert got == ecdsa, "SIGHUP with %s: new connections got %s instead of " \
                        "the previous certificate %s" % (what, got, ecdsa)
                    _served(old, mb, "open connection after SIGHUP with %s" % what)
                # The key file gone altogether.
                certs.install(good_cert, None)
                os.unlink(certs.key_file)
                line = _sighup(relay)
                assert parse_log_line(line)["level"] in ("error", "warn"), line
                assert _new_connection_fingerprint(relay, certs.context) == ecdsa
                # A good pair after all that is taken.
                certs.install_pair("rsa")
                assert rsa in _sighup(relay)
                assert _new_connection_fingerprint(relay, certs.context) == rsa
                _served(old, mb, "open connection after the good reload")
            finally:
                old.close()


def test_sighup_with_the_development_certificate_or_without_tls_changes_nothing():
    with Relay() as relay:
        mb = new_mailbox(relay)
        with Conn(relay) as old:
            _sighup(relay)
            with Conn(relay) as c:
                assert _peer_fingerprint(c) == relay.fingerprint, "new connection after " \
                    "SIGHUP got another certificate than the development one"
                _served(c, mb, "new connection after SIGHUP (dev certificate)")
            _served(old, mb, "open connection after SIGHUP (dev certificate)")
        # The certificate file written at start is not overwritten by SIGHUP.
        with open(relay.cacert, "rb") as f:
            der = ssl.PEM_cert_to_DER_cert(f.read().decode())
        assert sha256_fingerprint(der) == relay.fingerprint
    with Relay("--no-tls", tls=False) as relay:
        mb = new_mailbox(relay)
        with Conn(relay) as old:
            _sighup(relay)
            _served(old, mb, "open connection after SIGHUP (--no-tls)")
            with Conn(relay) as c:
                _served(c, mb, "new connection after SIGHUP (--no-tls)")


def test_sessions_resume_in_both_versions_and_across_a_reload():
    # TLS 1.2 tickets and TLS 1.3 NewSessionTickets resume, and keep
    # resuming after SIGHUP has swapped the certificate: the ticket keys
    # belong to the relay, not to one certificate.
    with _Certs() as certs:
        certs.install_pair("ecdsa")
        ecdsa, ecdsa2, rsa = (certs.fingerprint(n) for n in ("ecdsa", "ecdsa2", "rsa"))
        with certs.relay() as relay:
            kept = {}
            for name, version in TLS_VERSIONS:
                ctx = _one_version(certs.context, version)
                session, reused, fp = _session_from(relay, ctx, None, name, "%s full" % name)
                assert not reused and fp == ecdsa, (name, reused, fp)
                session, reused, fp = _session_from(relay, ctx, session, name,
                                                    "%s resumption" % name)
                assert reused, "a %s session was not resumed (a full handshake instead)" % name
                assert fp == ecdsa, (name, fp)
                kept[name] = (ctx, session)

            certs.install_pair("ecdsa2")
            assert ecdsa2 in _sighup(relay)
            for name, (ctx, session) in kept.items():
                _, reused, fp = _session_from(relay, ctx, None, name, "%s new after SIGHUP" % name)
                assert not reused and fp == ecdsa2, "a full %s handshake after SIGHUP got %s, " \
                    "expected the new certificate %s" % (name, fp, ecdsa2)
                session, reused, fp = _session_from(relay, ctx, session, name,
                                                    "%s resumption after SIGHUP" % name)
                assert reused, "a %s session from before SIGHUP was not resumed after it" % name
                assert fp == ecdsa, "the resumed %s session is under %s, expected the " \
                    "certificate it began with %s" % (name, fp, ecdsa)
                kept[name] = (ctx, session)

            # To a key of another type. A TLS 1.2 session keeps its suite,
            # and ECDHE-ECDSA cannot be chosen with an RSA key: a full
            # handshake then, never a failed one.
            certs.install_pair("rsa")
            assert rsa in _sighup(relay)
            for name, (ctx, session) in kept.items():
                try:
                    _, reused, fp = _session_from(relay, ctx, session, name,
                                                  "%s resumption after SIGHUP to RSA" % name)
                except ssl.SSLError as e:
                    raise AssertionError("a client offering its %s session from the ECDSA "
                                         "certificate could not connect after SIGHUP to an RSA "
                                         "one: %s" % (name, e))
                if name == "TLSv1.3":
                    assert reused and fp == ecdsa, "the TLS 1.3 session from the ECDSA " \
                        "certificate: reused %s, under %s" % (reused, fp)
                else:
                    assert not reused and fp == rsa, "the TLS 1.2 session from the ECDSA " \
                        "certificate: reused %s, under %s (expected a full handshake under " \
                        "%s)" % (reused, fp, rsa)
