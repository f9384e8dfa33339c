/*
 * https.h — one request, one answer: the client's blocking HTTP(S).
 *
 * A command-line client does one thing at a time, so this side of the
 * protocol is plain blocking I/O with deadlines. The relay's certificate is
 * verified against the system's CAs or --cacert (host name included), unless
 * the user asked for --insecure. A connection that is lost before the answer
 * arrives is tried once more with the very same bytes, so the request's
 * Mailbox-Request-ID lets the relay recognise the retry (spec section 5).
 */
#ifndef CLIENT_HTTPS_H
#define CLIENT_HTTPS_H

#include <stddef.h>

#include "client/share.h"
#include "protocol/buf.h"

struct rng;

struct https {
	struct tls_client *tls;     /* the relay's TLS configuration (server/tls.h) */
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
	unsigned timeout_s;     /* longest wait for the answer */
};

struct https_response {
	int status;
	char etag[80];          /* ANSWER_ETAG_MAX */
	struct buf body;
};

/* 0, or -1 with a one-line reason (the CA file cannot be read). */
int https_init(struct https *h, struct rng *rng, const char *cacert, int insecure,
    char *err, size_t err_len);
void https_free(struct https *h);

/* Send the request to origin and read the answer into resp (whose body the
 * caller frees with buf_free). err says why when the result is not HTTPS_OK. */
enum https_status https_exchange(struct https *h, const struct config_url *origin,
    const struct https_request *req, struct https_response *resp,
    char *err, size_t err_len);

#endif
