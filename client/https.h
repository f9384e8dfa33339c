/*
 * https.h — one request, one answer: the client's blocking HTTP(S).
 *
 * A command-line client does one thing at a time, so this side of the
 * protocol is plain blocking I/O with deadlines. The relay's certificate is
 * verified against the system's CAs or --cacert (host name included, and an
 * IP address host against the certificate's iPAddress names), unless the user
 * asked for --insecure. A connection that is lost before the answer arrives
 * is tried once more with the very same bytes, so the request's
 * Mailbox-Request-ID lets the relay recognise the retry (spec section 5).
 * One deadline covers both attempts: nothing here waits longer than the
 * request's timeout_s, however slowly the relay drips its bytes.
 */
#ifndef CLIENT_HTTPS_H
#define CLIENT_HTTPS_H

#include <stddef.h>
#include <stdint.h>

#include <mbedtls/x509_crt.h>

#include "client/share.h"
#include "lib/buf.h"

struct rng;

struct https {
	struct tls_client *tls;     /* the relay's TLS configuration (net/tls.h) */
};

enum https_status {
	HTTPS_OK,           /* an answer arrived (any status) */
	HTTPS_UNREACHABLE,  /* no connection, or lost twice */
	HTTPS_UNTRUSTED     /* the relay's certificate did not verify */
};

struct https_request {
	const char *method;
	const char *path;
	const char *headers;    /* extra header lines, each ending in \r\n, or NULL */
	const char *body;
	size_t body_len;
	unsigned timeout_s;     /* longest wait for the answer, both attempts together */
};

struct https_response {
	int status;
	char etag[80];          /* RESPONSE_PARSER_ETAG_MAX */
	struct buf body;
};

/* 0, or -1 with a one-line reason (the CA file cannot be read: the sentence
 * names the file and says why). */
int https_init(struct https *h, struct rng *rng, const char *cacert, int insecure,
    char *err, size_t err_len);
void https_free(struct https *h);

/* Send the request to origin and read the answer into resp (whose body the
 * caller frees with buf_free). err says why when the result is not HTTPS_OK. */
enum https_status https_exchange(struct https *h, const struct url *origin,
    const struct https_request *req, struct https_response *resp,
    char *err, size_t err_len);

/* Is host an IP address, as the resolver would read it ("127.0.0.1", "::1",
 * also "127.1")? Then 1 and its 4 or 16 bytes in ip; else 0. */
int https_host_ip(const char *host, uint8_t ip[16], size_t *ip_len);
/* Does a subjectAltName list hold this address as an iPAddress entry ([7]),
 * byte for byte? A dNSName that spells the address never counts. */
int https_san_has_ip(const mbedtls_x509_sequence *san, const uint8_t *ip, size_t ip_len);
/* Does it hold host as a dNSName entry ([2]), or under a "*." wildcard for
 * its leftmost label? An iPAddress entry never counts, whatever its bytes. */
int https_san_has_dns(const mbedtls_x509_sequence *san, const char *host);

#endif
