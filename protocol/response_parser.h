/*
 * response_parser.h — reading an HTTP/1.1 response, for the relay's own requests (the
 * command-line client's, the push gateway client's).
 *
 * One parser collects the status, the two headers those clients read (ETag,
 * Retry-After) and the body up to a limit, from bytes fed as they arrive.
 */
#ifndef PROTOCOL_RESPONSE_PARSER_H
#define PROTOCOL_RESPONSE_PARSER_H

#include <stddef.h>

#include <llhttp.h>

#include "lib/buf.h"

#define RESPONSE_PARSER_ETAG_MAX 80

struct response_parser {
	llhttp_t ll;
	struct buf *body;               /* the caller's, emptied by response_parser_init */
	size_t body_max;
	int status;                     /* once complete */
	int keep_alive;                 /* the connection may carry another request */
	int complete;
	int too_large;                  /* the body went past body_max */
	char etag[RESPONSE_PARSER_ETAG_MAX];     /* "" when absent */
	unsigned retry_after;           /* seconds; 0 when absent or a date */
	char field[16];
	size_t field_len;
	int reading;                    /* which header value is arriving */
	size_t etag_len;
};

void response_parser_init(struct response_parser *a, struct buf *body, size_t body_max);
/* Feed received bytes (len 0: the connection ended). 1 when the answer is
 * complete, 0 when more is needed, -1 when it cannot be a valid answer. */
int response_parser_feed(struct response_parser *a, const char *data, size_t len);

#endif
