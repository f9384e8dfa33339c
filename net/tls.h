/*
 * tls.h — the relay's TLS, on mbedTLS, behind the transport interface.
 *
 * The server side (net/tls_server.c): one struct tls holds the certificate
 * chain and key (loaded from PEM files, or a self-signed ECDSA P-256
 * certificate for "localhost" made at start when none is given, by
 * net/devcert.c), the session-ticket keys and the mbedTLS configuration:
 * TLS 1.3 and 1.2, forward-secret AEAD suites only, no renegotiation, no
 * compression, no 0-RTT. tls_transport_new() wraps one accepted socket in
 * that configuration. The client side (net/tls_client.c) does the same for
 * an outgoing connection. Both run on one transport (net/tls_transport.c).
 *
 * It builds against mbedTLS 3.6 LTS, configured by net/tls_config.h.
 */
#ifndef NET_TLS_H
#define NET_TLS_H

#include <stddef.h>

#include "net/transport.h"

struct tls;
struct rng;

struct tls_options {
	const char *cert_file;    /* PEM chain; NULL with key_file NULL: dev cert */
	const char *key_file;     /* PEM private key (ECDSA or RSA) */
	const char *dev_cert_out; /* where to write the generated cert, or NULL */
};

/* NULL on failure, with a one-line reason in err (no newline). The rng must
 * outlive the returned object. */
struct tls *tls_new(const struct tls_options *opts, struct rng *rng,
    char *err, size_t err_len);
void tls_free(struct tls *tls);

/* Read --cert/--key again (SIGHUP): new handshakes use the new pair, open
 * connections keep theirs. 0, or -1 with the reason in err and the old pair
 * still in use. */
int tls_reload(struct tls *tls, char *err, size_t err_len);

/* The mbedTLS version built in, "3.6.6". */
const char *tls_library_version(void);

/* SHA-256 of the current leaf certificate's DER, as "AB:CD:…" (95 characters). */
const char *tls_fingerprint(const struct tls *tls);

/* A server-side TLS transport over fd (already non-blocking), or NULL when
 * memory is short. */
struct transport *tls_transport_new(struct tls *tls, int fd);

/* The client side, for the push gateway and the command-line client: TLS 1.3
 * or 1.2, the peer's certificate checked against cafile (NULL: the
 * system's CAs) and its host name, unless verify is 0. An IP address host
 * matches the certificate's iPAddress names only, a DNS name its dNSName
 * names only. */
struct tls_client;

struct tls_client *tls_client_new(struct rng *rng, const char *cafile, int verify,
    char *err, size_t err_len);
void tls_client_free(struct tls_client *c);
/* A client transport over fd (non-blocking, connected) to hostname. */
struct transport *tls_client_transport_new(struct tls_client *c, int fd, const char *hostname);

/* Why a TLS transport's last call failed. */
enum tls_failure {
	TLS_FAILURE_NONE,
	TLS_FAILURE_UNTRUSTED,  /* the peer's certificate: tls_client_verify_failed */
	TLS_FAILURE_SOCKET,     /* send or recv failed; detail: errno (0 if unknown) */
	TLS_FAILURE_CLOSED,     /* the peer closed the connection mid-handshake */
	TLS_FAILURE_MEMORY,
	TLS_FAILURE_REFUSED,    /* no TLS version or cipher in common */
	TLS_FAILURE_NOT_TLS,    /* the peer does not speak TLS */
	TLS_FAILURE_OTHER       /* detail: the TLS library's error code, positive */
};
enum tls_failure tls_transport_failure(struct transport *t, int *detail);

/* After a failed handshake of a client transport: did the peer's
 * certificate fail verification? Then 1, with the findings in words on one
 * line in why ("it is not for 127.0.0.1 (it names localhost); it has
 * expired"); ca_hint says how to name the right CA ("give the relay's CA
 * with --cacert"). */
int tls_client_verify_failed(struct transport *t, const char *ca_hint, char *why,
    size_t why_len);

#endif
