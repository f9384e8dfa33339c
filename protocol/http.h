/*
 * http.h — HTTP/1.1 request parsing in place, on llhttp.
 *
 * The parser never copies request bytes. It records where the request target,
 * the headers the relay reads and the body lie in the caller's input buffer
 * (as offsets, so the buffer may move when it grows), and de-chunks a chunked
 * body by sliding its pieces together inside the same buffer. One call parses
 * as far as the bytes allow and stops at the end of the request head (so the
 * caller can answer "100 Continue" or refuse a body it will never read) and at
 * the end of each request (so pipelined requests are answered one by one).
 */
#ifndef PROTOCOL_HTTP_H
#define PROTOCOL_HTTP_H

#include <stddef.h>
#include <stdint.h>

#include <llhttp.h>

/* A piece of the input buffer. */
struct http_span {
	uint32_t off, len;
};

/* The request headers the relay reads; all others are skipped. */
enum http_header {
	HTTP_H_CLAIM,           /* Mailbox-Device-Claim */
	HTTP_H_REQUEST_ID,      /* Mailbox-Request-ID */
	HTTP_H_ATTESTATION,     /* Mailbox-Device-Attestation */
	HTTP_H_CONTENT_TYPE,
	HTTP_H_PREFER,
	HTTP_H_IF_NONE_MATCH,
	HTTP_H_IF_MATCH,
	HTTP_H_EXPECT,
	HTTP_H_FORWARDED_FOR,   /* X-Forwarded-For, read only from a trusted proxy */
	HTTP_H_ORIGIN,          /* a browser's, for --cors-origin */
	HTTP_H_AC_REQUEST_METHOD,       /* Access-Control-Request-Method (preflight) */
	HTTP_H_COUNT
};

struct http_request {
	uint8_t method;                 /* enum llhttp_method, once head_read */
	uint8_t head_read;              /* the head was read whole (if refused after) */
	uint8_t keep_alive;             /* the connection may carry another request */
	uint8_t expect_continue;        /* "Expect: 100-continue" */
	uint8_t has_body;               /* Content-Length > 0 or chunked */
	struct http_span target;        /* request target as sent */
	struct http_span header[HTTP_H_COUNT];
	uint8_t header_count[HTTP_H_COUNT];   /* > 1: sent more than once */
	struct http_span body;          /* de-chunked */
};

/* The bytes the parser works on. The caller owns the memory and appends to it;
 * the parser advances `parsed` and may shrink `len` (dropping chunk framing). */
struct http_input {
	char *data;
	size_t len;
	size_t parsed;
};

enum http_parse_result {
	HTTP_PARSE_MORE,        /* every byte used; the request is not complete */
	HTTP_PARSE_HEAD,        /* head complete, a body follows */
	HTTP_PARSE_DONE,        /* a whole request */
	HTTP_PARSE_ERROR        /* error_status says which; close after answering */
};

struct http_parser {
	llhttp_t ll;
	struct http_request req;
	struct http_input *in;          /* valid during http_parse() only */
	size_t max_head, max_body;
	uint32_t head_start;            /* offset of the request's first byte */
	uint32_t head_end;              /* offset just past the head, once known */
	int current_header;             /* enum http_header, or -1 */
	struct http_span field;         /* header name being read */
	struct http_span value;         /* header value being read */
	int error_status;               /* 400, 413 or 431 */
	uint8_t state;                  /* private: where in the request we are */
	char line_prev;                 /* private: the head or trailer byte before the next */
};

void http_parser_init(struct http_parser *p, size_t max_head, size_t max_body);
enum http_parse_result http_parse(struct http_parser *p, struct http_input *in);
/* Forget the request just answered and move pipelined bytes to the front. */
void http_next(struct http_parser *p, struct http_input *in);
/* Move the request in progress to the front of the buffer, to make room. */
void http_compact(struct http_parser *p, struct http_input *in);
/* Nothing of a next request has been received. */
int http_idle(const struct http_parser *p, const struct http_input *in);
/* The head is in and the body is arriving. */
int http_in_body(const struct http_parser *p);
/* After HTTP_PARSE_HEAD: the body comes in chunks, its length unknown. */
int http_body_is_chunked(const struct http_parser *p);
/* After HTTP_PARSE_HEAD of a body that is not chunked: the body bytes still
 * to come (all of Content-Length until the body starts to arrive). */
uint64_t http_content_length(const struct http_parser *p);

/* Pointer to a span's first byte. */
static inline const char *http_at(const struct http_input *in, struct http_span s)
{
	return in->data + s.off;
}

#endif
