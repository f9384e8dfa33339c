"""SIGHUP re-reads --cert/--key: new connections get the new certificate,
connections already open keep working on theirs, and a pair that does not
load (a key that does not match, garbage, a missing file) is logged and the
previous certificate kept. Without --cert/--key (development certificate)
or with --no-tls, SIGHUP changes nothing and stops nothing.

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
                       new_mailbox, read, sha256_fingerprint)

EXPECTED_SECONDS = 1


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
                    assert " error: " in line or " warn: " in line, "SIGHUP with %s: not " \
                        "logged as a problem: %r" % (what, line)
                    got = _new_connection_fingerprint(relay, certs.context)
                    assert got == ecdsa, "SIGHUP with %s: new connections got %s instead of " \
                        "the previous certificate %s" % (what, got, ecdsa)
                    _served(old, mb, "open connection after SIGHUP with %s" % what)
                # The key file gone altogether.
                certs.install(good_cert, None)
                os.unlink(certs.key_file)
                line = _sighup(relay)
                assert " error: " in line or " warn: " in line, line
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
