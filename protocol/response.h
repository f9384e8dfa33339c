/*
 * response.h — HTTP/1.1 responses, written into one buffer in one pass.
 *
 * The head is written straight from fixed strings and numbers (no printf on
 * this path), the body is appended after it, and the whole response leaves in
 * a single write. JSON output is written by hand too: the relay only ever
 * emits a handful of fixed shapes, and the stored strings are already known
 * to be valid UTF-8.
 */
#ifndef PROTOCOL_RESPONSE_H
#define PROTOCOL_RESPONSE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"

enum response_type {
	RESPONSE_EMPTY,         /* no body, no Content-Type (204) */
	RESPONSE_JSON,
	RESPONSE_HTML,          /* with the preview page's security headers */
	RESPONSE_TEXT,          /* text/plain (the admin listener) */
	RESPONSE_METRICS        /* Prometheus's text exposition format 0.0.4 */
};

struct response {
	int status;
	enum response_type type;
	const char *allow;              /* Allow, on 405 */
	uint64_t etag;                  /* ETag "<hex>"; 0: none */
	unsigned retry_after;           /* Retry-After seconds; 0: none */
	int preference_wait;            /* Preference-Applied: wait=N; < 0: none */
	int close;                      /* Connection: close */
	int head;                       /* HEAD: announce the body, send none */
	int hsts;                       /* Strict-Transport-Security (HTTPS only) */
	const char *request_id;         /* Mailbox-Request-ID to echo, or NULL */
	size_t request_id_len;
	const char *date;               /* Date header (clock_format_http_date) */
	/* Access-Control-Allow-Origin (and the CORS headers that go with it),
	 * NUL-terminated, or NULL: the request's Origin is not allowed. */
	const char *cors_origin;
	/* Access-Control-Allow-Methods of a preflight answer, or NULL. */
	const char *cors_methods;
};

/* The CORS headers of an answer to a browser from origin (spec 4.7). */
void response_cors(struct buf *out, const char *origin);
void response_write(struct buf *out, const struct response *r, const char *body,
    size_t body_len);
/* The interim answer to "Expect: 100-continue". */
void response_continue(struct buf *out);

/* {"error": code, "message": message} into body. */
void response_error_body(struct buf *body, const char *code, const char *message);
/* Append s as a JSON string literal, quotes included. */
void response_json_string(struct buf *out, const char *s, size_t len);
#define RESPONSE_ETAG_MAX 18   /* '"' + 16 hex digits + '"' */

/* The ETag value of a version, a quoted hex string, into out; its length. */
size_t response_format_etag(uint64_t etag, char out[RESPONSE_ETAG_MAX]);

#endif
