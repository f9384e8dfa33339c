/*
 * https.h — one request, one answer: the client's blocking HTTP(S).
 *
 * A command-line client does one thing at a time, so this side of the
 * protocol waits for each step, within deadlines; underneath it drives the
 * same non-blocking transport as the relay and its push gateway connection
 * (net/tls.h). The relay's certificate is verified against the system's CAs
 * or --cacert (host name included, and an IP address host against the
 * certificate's iPAddress names only), unless the user asked for --insecure. A connection that is lost before the answer arrives
 * is tried once more with the very same bytes, so the request's
 * Mailbox-Request-ID lets the relay recognise the retry (spec section 5).
 * One deadline covers both attempts: nothing here waits longer than the
 * request's timeout_s, however slowly the relay drips its bytes.
 */
#ifndef CLIENT_HTTPS_H
#define CLIENT_HTTPS_H

#include <stddef.h>
#include <stdint.h>

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

#endif
