/*
 * test_http.c — the in-place HTTP/1.1 request parser (protocol/http.h).
 *
 * Requests are fed the way a socket delivers them: appended to one buffer,
 * sometimes a byte at a time, and parsed as far as they go. A request split
 * at any byte boundary must give the same result as the whole of it, since
 * the parser keeps spans into the buffer rather than copies.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/http.h"
#include "test/unit/check.h"

#define FEED_CAP 65536
#define MAX_HEAD 8192
#define MAX_BODY 65536

/* ---- feeding ---- */

struct feed {
	struct http_parser p;
	struct http_input in;
	int heads;              /* HTTP_PARSE_HEAD results seen */
	size_t head_parsed;     /* in.parsed when the last one came */
	size_t head_in_len;     /* in.len then */
};

static void feed_init(struct feed *f, size_t max_head, size_t max_body)
{
	memset(f, 0, sizeof(*f));
	http_parser_init(&f->p, max_head, max_body);
	f->in.data = malloc(FEED_CAP);
}

static void feed_free(struct feed *f)
{
	free(f->in.data);
	f->in.data = NULL;
}

/* Parse as far as the bytes go, past HEAD results as the connection does. */
static enum http_parse_result feed_parse(struct feed *f)
{
	for (;;) {
		enum http_parse_result r = http_parse(&f->p, &f->in);

		if (r != HTTP_PARSE_HEAD)
			return r;
		f->heads++;
		f->head_parsed = f->in.parsed;
		f->head_in_len = f->in.len;
	}
}

static enum http_parse_result feed_bytes(struct feed *f, const char *bytes, size_t n)
{
	if (f->in.len + n > FEED_CAP) {
		printf("    test feed overflow\n");
		return HTTP_PARSE_ERROR;
	}
	memcpy(f->in.data + f->in.len, bytes, n);
	f->in.len += n;
	return feed_parse(f);
}

/* Feed text in pieces of the given size until the parser stops needing more. */
static enum http_parse_result feed_pieces(struct feed *f, const char *text, size_t len,
    size_t piece)
{
	enum http_parse_result r = HTTP_PARSE_MORE;
	size_t at = 0;

	while (at < len && r == HTTP_PARSE_MORE) {
		size_t n = len - at < piece ? len - at : piece;

		r = feed_bytes(f, text + at, n);
		at += n;
	}
	return r;
}

static int span_eq(const struct feed *f, struct http_span s, const char *expected)
{
	return s.len == strlen(expected) && memcmp(http_at(&f->in, s), expected, s.len) == 0;
}

static int header_is(const struct feed *f, enum http_header h, const char *expected)
{
	return f->p.req.header_count[h] > 0 && span_eq(f, f->p.req.header[h], expected);
}

/* Everything the parser said about the current request, as one string. */
static void describe(const struct feed *f, char *out, size_t cap)
{
	const struct http_request *r = &f->p.req;
	size_t len;

	len = (size_t)snprintf(out, cap, "m=%d ka=%d ec=%d hb=%d t=[%.*s] err=%d", r->method,
	    r->keep_alive, r->expect_continue, r->has_body, (int)r->target.len,
	    http_at(&f->in, r->target), f->p.error_status);
	for (int h = 0; h < HTTP_H_COUNT && len < cap; h++) {
		len += (size_t)snprintf(out + len, cap - len, " h%d=%d[%.*s]", h, r->header_count[h],
		    r->header_count[h] ? (int)r->header[h].len : 0,
		    r->header_count[h] ? http_at(&f->in, r->header[h]) : "");
	}
	if (len < cap)
		snprintf(out + len, cap - len, " body=[%.*s]", (int)r->body.len,
		    http_at(&f->in, r->body));
}

/* ---- requests ---- */

static void test_simple_get(void)
{
	static const char req[] = "GET /v1/m/abc?x=1 HTTP/1.1\r\nHost: relay\r\n\r\n";
	struct feed f;

	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK(http_idle(&f.p, &f.in));
	CHECK_EQ_INT(feed_bytes(&f, req, sizeof(req) - 1), HTTP_PARSE_DONE);
	CHECK_EQ_INT(f.p.req.method, HTTP_GET);
	CHECK(span_eq(&f, f.p.req.target, "/v1/m/abc?x=1"));
	CHECK_EQ_INT(f.p.req.keep_alive, 1);
	CHECK_EQ_INT(f.p.req.has_body, 0);
	CHECK_EQ_INT(f.p.req.expect_continue, 0);
	CHECK_EQ_INT(f.p.req.body.len, 0);
	CHECK_EQ_INT(f.heads, 0);
	CHECK_EQ_INT(f.in.parsed, sizeof(req) - 1);
	for (int h = 0; h < HTTP_H_COUNT; h++)
		CHECK_EQ_INT(f.p.req.header_count[h], 0);
	CHECK(!http_idle(&f.p, &f.in));
	CHECK(!http_in_body(&f.p));
	/* Asking again changes nothing. */
	CHECK_EQ_INT(http_parse(&f.p, &f.in), HTTP_PARSE_DONE);
	http_next(&f.p, &f.in);
	CHECK(http_idle(&f.p, &f.in));
	CHECK_EQ_INT(f.in.len, 0);
	feed_free(&f);
}

static void test_methods(void)
{
	static const struct {
		const char *req;
		int method;
	} cases[] = {
		{ "HEAD /v1/m/x HTTP/1.1\r\n\r\n", HTTP_HEAD },
		{ "DELETE /v1/m/x HTTP/1.1\r\n\r\n", HTTP_DELETE },
		{ "PATCH /v1/m/x HTTP/1.1\r\n\r\n", HTTP_PATCH },
		{ "PUT /v1/m/x HTTP/1.1\r\nContent-Length: 0\r\n\r\n", HTTP_PUT },
		{ "POST /v1/m HTTP/1.1\r\nContent-Length: 0\r\n\r\n", HTTP_POST },
		{ "OPTIONS * HTTP/1.1\r\n\r\n", HTTP_OPTIONS },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct feed f;

		feed_init(&f, MAX_HEAD, MAX_BODY);
		CHECK_EQ_INT(feed_bytes(&f, cases[i].req, strlen(cases[i].req)), HTTP_PARSE_DONE);
		CHECK_EQ_INT(f.p.req.method, cases[i].method);
		CHECK_EQ_INT(f.p.req.has_body, 0);
		feed_free(&f);
	}
	/* Known once the request line is, before the head is complete: a
	 * timeout or a head too large is answered for that method. */
	{
		static const char line[] = "HEAD /v1/m/x HTTP/1.1\r\nHost: a\r\n";
		struct feed f;

		feed_init(&f, MAX_HEAD, MAX_BODY);
		CHECK_EQ_INT(feed_pieces(&f, line, sizeof(line) - 1, 1), HTTP_PARSE_MORE);
		CHECK_EQ_INT(f.p.req.method, HTTP_HEAD);
		feed_free(&f);
		feed_init(&f, 64, MAX_BODY);
		CHECK_EQ_INT(feed_bytes(&f, "GET /v1/m/x HTTP/1.1\r\nX: 0123456789012345678901234567890"
		    "1234567890123456789", 75), HTTP_PARSE_ERROR);
		CHECK_EQ_INT(f.p.error_status, 431);
		CHECK_EQ_INT(f.p.req.method, HTTP_GET);
		feed_free(&f);
	}
}

static void test_headers(void)
{
	static const char req[] =
	    "POST /v1/m/x HTTP/1.1\r\n"
	    "Host: relay\r\n"
	    "mailbox-device-claim:   0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0 \t \r\n"
	    "MAILBOX-REQUEST-ID: req 1\t\r\n"
	    "Mailbox-Device-Attestation: att\r\n"
	    "X-Mailbox-Device-Claim: not-this-one\r\n"
	    "Mailbox-Device-Claims: nor-this\r\n"
	    "content-TYPE: application/json; charset=utf-8\r\n"
	    "Prefer: wait=5\r\n"
	    "Prefer: respond-async  \r\n"
	    "If-None-Match:\r\n"
	    "IF-MATCH: \"3\", W/\"4\"\r\n"
	    "If-Matches: x\r\n"
	    "Expect: 100-continue\r\n"
	    "origin: https://app.example \r\n"
	    "Origins: not-this\r\n"
	    "ACCESS-CONTROL-REQUEST-METHOD: PUT\r\n"
	    "Content-Length: 2\r\n"
	    "\r\n"
	    "{}";
	struct feed f;

	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK_EQ_INT(feed_bytes(&f, req, sizeof(req) - 1), HTTP_PARSE_DONE);
	CHECK(header_is(&f, HTTP_H_CLAIM, "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0"));
	CHECK_EQ_INT(f.p.req.header_count[HTTP_H_CLAIM], 1);
	/* Inner white space stays; trailing white space goes. */
	CHECK(header_is(&f, HTTP_H_REQUEST_ID, "req 1"));
	CHECK(header_is(&f, HTTP_H_ATTESTATION, "att"));
	CHECK(header_is(&f, HTTP_H_CONTENT_TYPE, "application/json; charset=utf-8"));
	CHECK_EQ_INT(f.p.req.header_count[HTTP_H_PREFER], 2);
	CHECK(header_is(&f, HTTP_H_PREFER, "respond-async"));   /* the last one */
	CHECK_EQ_INT(f.p.req.header_count[HTTP_H_IF_NONE_MATCH], 1);
	CHECK_EQ_INT(f.p.req.header[HTTP_H_IF_NONE_MATCH].len, 0);
	CHECK_EQ_INT(f.p.req.header_count[HTTP_H_IF_MATCH], 1);
	CHECK(header_is(&f, HTTP_H_IF_MATCH, "\"3\", W/\"4\""));
	CHECK(header_is(&f, HTTP_H_EXPECT, "100-continue"));
	CHECK_EQ_INT(f.p.req.expect_continue, 1);
	CHECK(header_is(&f, HTTP_H_ORIGIN, "https://app.example"));
	CHECK_EQ_INT(f.p.req.header_count[HTTP_H_ORIGIN], 1);
	CHECK(header_is(&f, HTTP_H_AC_REQUEST_METHOD, "PUT"));
	CHECK(span_eq(&f, f.p.req.body, "{}"));
	feed_free(&f);

	/* A duplicated claim is counted, so that the api can refuse it. */
	{
		static const char dup[] = "DELETE /v1/m/x HTTP/1.1\r\n"
		    "Mailbox-Device-Claim: a\r\nmailbox-device-claim: b\r\n"
		    "Mailbox-Request-ID: 1\r\nMailbox-Request-ID: 1\r\n\r\n";

		feed_init(&f, MAX_HEAD, MAX_BODY);
		CHECK_EQ_INT(feed_bytes(&f, dup, sizeof(dup) - 1), HTTP_PARSE_DONE);
		CHECK_EQ_INT(f.p.req.header_count[HTTP_H_CLAIM], 2);
		CHECK_EQ_INT(f.p.req.header_count[HTTP_H_REQUEST_ID], 2);
		feed_free(&f);
	}
}

static const char split_post[] =
    "POST /v1/m/0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0 HTTP/1.1\r\n"
    "Host: relay\r\n"
    "Mailbox-Device-Claim: 11111111-2222-3333-4444-555555555555   \r\n"
    "X-Other: something long enough to matter\r\n"
    "Mailbox-Request-ID: abc\r\n"
    "Content-Type: application/json\r\n"
    "If-None-Match: \"2\"\r\n"
    "Prefer: wait=30\r\n"
    "Content-Length: 26\r\n"
    "\r\n"
    "{\"notificationToken\":null}";

static const char split_chunked[] =
    "PUT /v1/m/x HTTP/1.1\r\n"
    "Mailbox-Device-Claim: c\r\n"
    "Transfer-Encoding: chunked\r\n"
    "Content-Type: application/json \r\n"
    "\r\n"
    "5\r\n{\"a\":\r\n"
    "a;ext=1\r\n\"012345678\r\n"
    "1\r\n}\r\n"
    "0\r\n"
    "\r\n";

static void split_everywhere(const char *req, size_t len)
{
	char whole[2048], part[2048];
	int mismatches = 0;
	struct feed f;

	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK_EQ_INT(feed_bytes(&f, req, len), HTTP_PARSE_DONE);
	describe(&f, whole, sizeof(whole));
	feed_free(&f);
	for (size_t k = 1; k < len; k++) {
		enum http_parse_result r;

		feed_init(&f, MAX_HEAD, MAX_BODY);
		r = feed_bytes(&f, req, k);
		if (r == HTTP_PARSE_MORE)
			r = feed_bytes(&f, req + k, len - k);
		describe(&f, part, sizeof(part));
		if (r != HTTP_PARSE_DONE || strcmp(whole, part) != 0) {
			if (mismatches++ < 3)
				printf("    split at %zu: %s\n    whole: %s\n", k, part, whole);
		}
		feed_free(&f);
	}
	/* One byte at a time, and in odd-sized pieces. */
	for (size_t piece = 1; piece <= 13; piece += 3) {
		feed_init(&f, MAX_HEAD, MAX_BODY);
		CHECK_EQ_INT(feed_pieces(&f, req, len, piece), HTTP_PARSE_DONE);
		describe(&f, part, sizeof(part));
		if (strcmp(whole, part) != 0 && mismatches++ < 3)
			printf("    pieces of %zu: %s\n", piece, part);
		feed_free(&f);
	}
	CHECK_EQ_INT(mismatches, 0);
}

static void test_split_everywhere(void)
{
	char text[2048];
	struct feed f;

	split_everywhere(split_post, sizeof(split_post) - 1);
	split_everywhere(split_chunked, sizeof(split_chunked) - 1);
	/* And the result is what it should be, not merely the same. */
	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK_EQ_INT(feed_pieces(&f, split_post, sizeof(split_post) - 1, 1), HTTP_PARSE_DONE);
	CHECK(header_is(&f, HTTP_H_CLAIM, "11111111-2222-3333-4444-555555555555"));
	CHECK(header_is(&f, HTTP_H_IF_NONE_MATCH, "\"2\""));
	CHECK(header_is(&f, HTTP_H_PREFER, "wait=30"));
	CHECK(span_eq(&f, f.p.req.body, "{\"notificationToken\":null}"));
	describe(&f, text, sizeof(text));
	feed_free(&f);
	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK_EQ_INT(feed_pieces(&f, split_chunked, sizeof(split_chunked) - 1, 1), HTTP_PARSE_DONE);
	CHECK(span_eq(&f, f.p.req.body, "{\"a\":\"012345678}"));
	CHECK(header_is(&f, HTTP_H_CONTENT_TYPE, "application/json"));
	feed_free(&f);
}

static void test_pipelined(void)
{
	static const char reqs[] =
	    "GET /a HTTP/1.1\r\nPrefer: one\r\n\r\n"
	    "POST /b HTTP/1.1\r\nContent-Length: 3\r\nPrefer: two\r\n\r\nxyz"
	    "PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n0\r\n\r\n"
	    "DELETE /d HTTP/1.1\r\n\r\n";
	struct feed f;

	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK_EQ_INT(feed_bytes(&f, reqs, sizeof(reqs) - 1), HTTP_PARSE_DONE);
	CHECK(span_eq(&f, f.p.req.target, "/a"));
	CHECK(header_is(&f, HTTP_H_PREFER, "one"));
	CHECK(f.in.parsed < f.in.len);
	http_next(&f.p, &f.in);
	CHECK(!http_idle(&f.p, &f.in));

	CHECK_EQ_INT(feed_parse(&f), HTTP_PARSE_DONE);
	CHECK_EQ_INT(f.p.req.method, HTTP_POST);
	CHECK(span_eq(&f, f.p.req.target, "/b"));
	CHECK(header_is(&f, HTTP_H_PREFER, "two"));
	CHECK(span_eq(&f, f.p.req.body, "xyz"));
	http_next(&f.p, &f.in);

	CHECK_EQ_INT(feed_parse(&f), HTTP_PARSE_DONE);
	CHECK(span_eq(&f, f.p.req.target, "/c"));
	CHECK_EQ_INT(f.p.req.header_count[HTTP_H_PREFER], 0);
	CHECK(span_eq(&f, f.p.req.body, "hi"));
	http_next(&f.p, &f.in);

	CHECK_EQ_INT(feed_parse(&f), HTTP_PARSE_DONE);
	CHECK_EQ_INT(f.p.req.method, HTTP_DELETE);
	CHECK(span_eq(&f, f.p.req.target, "/d"));
	CHECK_EQ_INT(f.p.req.body.len, 0);
	CHECK_EQ_INT(f.in.parsed, f.in.len);
	http_next(&f.p, &f.in);
	CHECK(http_idle(&f.p, &f.in));
	CHECK_EQ_INT(f.in.len, 0);
	CHECK_EQ_INT(feed_parse(&f), HTTP_PARSE_MORE);
	feed_free(&f);
}

static void test_content_length_body(void)
{
	static const char head[] = "POST /v1/m HTTP/1.1\r\nContent-Length: 11\r\n\r\n";
	struct feed f;

	feed_init(&f, MAX_HEAD, MAX_BODY);
	/* The head alone: HEAD, before a byte of the body. */
	CHECK_EQ_INT(http_parse(&f.p, &f.in), HTTP_PARSE_MORE);
	memcpy(f.in.data, head, sizeof(head) - 1);
	f.in.len = sizeof(head) - 1;
	CHECK_EQ_INT(http_parse(&f.p, &f.in), HTTP_PARSE_HEAD);
	CHECK_EQ_INT(f.in.parsed, sizeof(head) - 1);
	CHECK_EQ_INT(f.p.req.has_body, 1);
	CHECK(http_in_body(&f.p));
	/* What the connection reads to make room for the body in one go. */
	CHECK(!http_body_is_chunked(&f.p));
	CHECK_EQ_INT(http_content_length(&f.p), 11);
	CHECK_EQ_INT(http_parse(&f.p, &f.in), HTTP_PARSE_MORE);
	CHECK_EQ_INT(feed_bytes(&f, "hello", 5), HTTP_PARSE_MORE);
	CHECK_EQ_INT(feed_bytes(&f, " world", 6), HTTP_PARSE_DONE);
	CHECK(span_eq(&f, f.p.req.body, "hello world"));
	CHECK_EQ_INT(f.p.req.body.off, sizeof(head) - 1);
	CHECK(!http_in_body(&f.p));
	feed_free(&f);

	/* Content-Length: 0 is no body at all. */
	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK_EQ_INT(feed_bytes(&f, "POST /v1/m HTTP/1.1\r\nContent-Length: 0\r\n\r\n", 42),
	    HTTP_PARSE_DONE);
	CHECK_EQ_INT(f.heads, 0);
	CHECK_EQ_INT(f.p.req.has_body, 0);
	CHECK_EQ_INT(f.p.req.body.len, 0);
	feed_free(&f);

	/* Head and body in one read: HEAD still comes first. */
	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK_EQ_INT(feed_bytes(&f, "PUT /x HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc", 41),
	    HTTP_PARSE_DONE);
	CHECK_EQ_INT(f.heads, 1);
	CHECK_EQ_INT(f.head_parsed, 38);
	CHECK(span_eq(&f, f.p.req.body, "abc"));
	feed_free(&f);
}

static void test_chunked_in_place(void)
{
	static const char head[] = "POST /v1/m HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n";
	static const char chunks[] =
	    "3\r\nabc\r\n"
	    "10\r\n0123456789abcdef\r\n"
	    "1;name=value\r\nZ\r\n"
	    "A\r\nABCDEFGHIJ\r\n"
	    "0\r\nTrailer: x\r\n\r\n";
	static const char expected[] = "abc0123456789abcdefZABCDEFGHIJ";

	for (size_t piece = 1; piece <= 7; piece++) {
		struct feed f;

		feed_init(&f, MAX_HEAD, MAX_BODY);
		CHECK_EQ_INT(feed_bytes(&f, head, sizeof(head) - 1), HTTP_PARSE_MORE);
		CHECK_EQ_INT(f.heads, 1);
		CHECK_EQ_INT(f.p.req.has_body, 1);
		CHECK(http_body_is_chunked(&f.p));
		CHECK_EQ_INT(feed_pieces(&f, chunks, sizeof(chunks) - 1, piece), HTTP_PARSE_DONE);
		/* De-chunked, right after the head, framing gone from the buffer. */
		CHECK(span_eq(&f, f.p.req.body, expected));
		CHECK_EQ_INT(f.p.req.body.off, sizeof(head) - 1);
		CHECK(f.in.len < sizeof(head) - 1 + sizeof(chunks) - 1);
		feed_free(&f);
	}
}

/* Trailer fields after a chunked body are never taken for headers: a claim
 * smuggled in a trailer must not replace (or add to) the real one. */
static void test_trailers_are_not_headers(void)
{
	static const char head[] = "PUT /v1/m/x HTTP/1.1\r\nMailbox-Device-Claim: real\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n";
	static const char chunks[] = "2\r\n{}\r\n0\r\nMailbox-Device-Claim: smuggled\r\n"
	    "Mailbox-Request-ID: trailer\r\n\r\n";

	static const size_t pieces[] = { 1, 5, 9, sizeof(chunks) };

	for (size_t i = 0; i < sizeof(pieces) / sizeof(pieces[0]); i++) {
		struct feed f;

		feed_init(&f, MAX_HEAD, MAX_BODY);
		CHECK_EQ_INT(feed_bytes(&f, head, sizeof(head) - 1), HTTP_PARSE_MORE);
		CHECK_EQ_INT(feed_pieces(&f, chunks, sizeof(chunks) - 1, pieces[i]), HTTP_PARSE_DONE);
		CHECK_EQ_INT(f.p.req.header_count[HTTP_H_CLAIM], 1);
		CHECK(header_is(&f, HTTP_H_CLAIM, "real"));
		CHECK_EQ_INT(f.p.req.header_count[HTTP_H_REQUEST_ID], 0);
		CHECK(span_eq(&f, f.p.req.body, "{}"));
		feed_free(&f);
	}
}

static void test_expect_continue(void)
{
	static const struct {
		const char *req;
		int expect;
	} cases[] = {
		{ "POST /v1/m HTTP/1.1\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", 1 },
		{ "POST /v1/m HTTP/1.1\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n", 1 },
		{ "POST /v1/m HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 1\r\n\r\n", 0 },
		{ "POST /v1/m HTTP/1.1\r\nExpect: 200-ok\r\nContent-Length: 1\r\n\r\n", 0 },
		{ "POST /v1/m HTTP/1.1\r\nContent-Length: 1\r\n\r\n", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct feed f;

		feed_init(&f, MAX_HEAD, MAX_BODY);
		CHECK_EQ_INT(feed_bytes(&f, cases[i].req, strlen(cases[i].req)), HTTP_PARSE_MORE);
		CHECK_EQ_INT(f.heads, 1);
		CHECK_EQ_INT(f.p.req.expect_continue, cases[i].expect);
		feed_free(&f);
	}
}

static void test_keep_alive(void)
{
	static const struct {
		const char *req;
		int keep_alive;
	} cases[] = {
		{ "GET / HTTP/1.1\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nConnection: keep-alive\r\n\r\n", 1 },
		{ "GET / HTTP/1.1\r\nConnection: close\r\n\r\n", 0 },
		{ "GET / HTTP/1.1\r\nConnection: Close\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\n\r\n", 0 },
		{ "GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", 0 },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct feed f;

		feed_init(&f, MAX_HEAD, MAX_BODY);
		CHECK_EQ_INT(feed_bytes(&f, cases[i].req, strlen(cases[i].req)), HTTP_PARSE_DONE);
		if (f.p.req.keep_alive != cases[i].keep_alive)
			printf("    keep_alive %d for: %s", f.p.req.keep_alive, cases[i].req);
		CHECK_EQ_INT(f.p.req.keep_alive, cases[i].keep_alive);
		feed_free(&f);
	}
}

/* ---- refusals ---- */

/* The first thing the parser reports is the error; 1 if so. */
static int expect_error(const char *req, size_t len, int status, size_t piece)
{
	struct feed f;
	enum http_parse_result r;
	int ok;

	feed_init(&f, 256, 64);
	r = feed_pieces(&f, req, len, piece);
	ok = r == HTTP_PARSE_ERROR && f.p.error_status == status;
	if (!ok) {
		printf("    result %d, status %d (expected %d) in pieces of %zu for: ", r,
		    f.p.error_status, status, piece);
		for (size_t i = 0; i < len && i < 90; i++) {
			if (req[i] == '\r' || req[i] == '\n' || req[i] == '\t')
				printf("\\%c", req[i] == '\r' ? 'r' : req[i] == '\n' ? 'n' : 't');
			else
				putchar(req[i]);
		}
		putchar('\n');
	}
	CHECK_EQ_INT(r, HTTP_PARSE_ERROR);
	CHECK_EQ_INT(f.p.error_status, status);
	/* An error is final. */
	CHECK_EQ_INT(http_parse(&f.p, &f.in), HTTP_PARSE_ERROR);
	feed_free(&f);
	return ok;
}

static void test_errors_400(void)
{
	static const char *bad[] = {
		"POST / HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"
		    "0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
		    "0\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nabcdef",
		"POST / HTTP/1.1\r\nContent-Length: 5\r\nContent-Length: 5\r\n\r\nabcde",
		"POST / HTTP/1.1\r\nContent-Length: -1\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: +1\r\n\r\na",
		"POST / HTTP/1.1\r\nContent-Length: 1,1\r\n\r\na",
		"POST / HTTP/1.1\r\nContent-Length: abc\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: 1 1\r\n\r\na",
		"POST / HTTP/1.1\r\nContent-Length: 0x1\r\n\r\na",
		"POST / HTTP/1.1\r\nContent-Length: 1.0\r\n\r\na",
		"POST / HTTP/1.1\r\nContent-Length: 99999999999999999999999\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nab\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n-1\r\na\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n 2\r\nab\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabc\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\nabc",
		"GARBAGE\r\n\r\n",
		"GET / HTTP/9.9\r\n\r\n",
		"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
		"GET / HTTP/1.1\r\nX: a\rb\r\n\r\n",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		expect_error(bad[i], strlen(bad[i]), 400, 4096);
		expect_error(bad[i], strlen(bad[i]), 400, 1);
	}
}

/* Framing that llhttp would take, and a proxy in front might read otherwise:
 * each is followed by a pipelined request that must never be reached. The
 * error comes first, however the bytes are cut up, so nothing of the
 * request (or of the one after it) is answered but the 400. */
static void test_loose_framing_400(void)
{
	static const char *const bad[] = {
		/* Two bytes that are not CRLF after chunk data. */
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nabXY0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r0\r\n\r\n",
		/* Header names that are not tokens. */
		"GET / HTTP/1.1\r\nX Y: a\r\n\r\n",
		"GET / HTTP/1.1\r\nX : a\r\n\r\n",
		"GET / HTTP/1.1\r\nX\t: a\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT U: a\r\n\r\n",
		/* Obs-fold: in framing headers, */
		"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding:\r\n\tchunked\r\n\r\n0\r\n\r\n",
		"POST / HTTP/1.1\r\nContent-Length: \r\n 2\r\n\r\nab",
		"POST / HTTP/1.1\r\nContent-Length:\r\n\t2\r\n\r\nab",
		"POST / HTTP/1.1\r\nContent-Length: 2\r\n \r\n\r\nab",
		/* in headers the relay reads and in headers it skips, */
		"GET / HTTP/1.1\r\nMailbox-Request-ID: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nX-Other: a\r\n b\r\n\r\n",
		"GET / HTTP/1.1\r\nX-Other: a\r\n\tb\r\n\r\n",
		"GET / HTTP/1.1\r\nX-Other: a\r\n \t b\r\nY: c\r\n\r\n",
		/* white space alone on the folded line, after a value or none, */
		"GET / HTTP/1.1\r\nX-Other: a\r\n \r\n\r\n",
		"GET / HTTP/1.1\r\nX-Other:\r\n \r\n\r\n",
		"GET / HTTP/1.1\r\nX-Other:\r\n\t\r\nY: z\r\n\r\n",
		/* in the trailer section. */
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\r\n b\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nab\r\n0\r\nT: a\r\n\tb\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT:\r\n \r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\r\n\t\r\nU: b\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n T: a\r\n\r\n",
		/* A bare LF where a line ends: request line, last line, trailers. */
		"GET / HTTP/1.1\nX: a\r\n\r\n",
		"GET /x\nX: a\r\nContent-Length: 2\r\n\r\nab",
		"GET / HTTP/1.1\r\nX: a\r\n\n",
		"\nGET / HTTP/1.1\r\n\r\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nT: a\r\n\n",
		"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\n",
		/* No HTTP/1.x version: HTTP/0.9's bare line, which carries no
		 * headers, is read by llhttp with them. */
		"GET /x\r\nContent-Length: 2\r\n\r\nab",
		"GET /x\r\n\r\n",
	};
	static const char next[] = "GET /smuggled HTTP/1.1\r\nHost: h\r\n\r\n";
	static const size_t pieces[] = { 4096, 1, 2, 3, 7 };
	char req[512];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int n = snprintf(req, sizeof(req), "%s%s", bad[i], next);

		for (size_t k = 0; k < sizeof(pieces) / sizeof(pieces[0]); k++)
			expect_error(req, (size_t)n, 400, pieces[k]);
	}
}

/* What the checks above must not catch: white space inside and around
 * values, empty values, and trailers, whole or cut anywhere. */
static void test_lines_that_are_fine(void)
{
	static const char spaced[] =
	    "GET /v1/m/x HTTP/1.1\r\n"
	    "X:\r\n"
	    "Y: \t\r\n"
	    "Mailbox-Request-ID:\tr 1 \t\r\n"
	    "Z: a \t b\r\n"
	    "\r\n";
	static const char trailers[] =
	    "PUT /v1/m/x HTTP/1.1\r\n"
	    "Mailbox-Device-Claim: c\r\n"
	    "Transfer-Encoding: chunked\r\n"
	    "\r\n"
	    "3\r\na\nb\r\n"
	    "2\r\n \t\r\n"
	    "0\r\n"
	    "T: a b\r\n"
	    "U:\r\n"
	    "V: \t\r\n"
	    "\r\n";
	static const char body_lines[] = "POST / HTTP/1.1\r\nContent-Length: 5\r\n\r\n\r\n x\n";
	struct feed f;

	split_everywhere(spaced, sizeof(spaced) - 1);
	split_everywhere(trailers, sizeof(trailers) - 1);
	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK_EQ_INT(feed_bytes(&f, spaced, sizeof(spaced) - 1), HTTP_PARSE_DONE);
	CHECK(header_is(&f, HTTP_H_REQUEST_ID, "r 1"));
	feed_free(&f);
	/* Line breaks and white space in a body are just bytes. */
	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK_EQ_INT(feed_pieces(&f, trailers, sizeof(trailers) - 1, 1), HTTP_PARSE_DONE);
	CHECK(span_eq(&f, f.p.req.body, "a\nb \t"));
	feed_free(&f);
	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK_EQ_INT(feed_bytes(&f, body_lines, sizeof(body_lines) - 1), HTTP_PARSE_DONE);
	CHECK(span_eq(&f, f.p.req.body, "\r\n x\n"));
	feed_free(&f);
}

static void test_errors_413(void)
{
	static const char over[] = "POST / HTTP/1.1\r\nContent-Length: 65\r\n\r\n";
	static const char exact_head[] = "POST / HTTP/1.1\r\nContent-Length: 64\r\n\r\n";
	char body[80], chunked[400];
	struct feed f;
	int n;

	memset(body, 'b', sizeof(body));
	/* Refused from the head alone: no body byte has been sent. */
	expect_error(over, sizeof(over) - 1, 413, 4096);
	expect_error(over, sizeof(over) - 1, 413, 1);

	/* Exactly max_body: accepted. */
	feed_init(&f, 256, 64);
	CHECK_EQ_INT(feed_bytes(&f, exact_head, sizeof(exact_head) - 1), HTTP_PARSE_MORE);
	CHECK_EQ_INT(feed_bytes(&f, body, 64), HTTP_PARSE_DONE);
	CHECK_EQ_INT(f.p.req.body.len, 64);
	feed_free(&f);

	/* Chunked: 64 in all is fine, 65 is not, however it is cut up. */
	n = snprintf(chunked, sizeof(chunked),
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n%.32s\r\n20\r\n%.32s\r\n0\r\n\r\n",
	    body, body);
	feed_init(&f, 256, 64);
	CHECK_EQ_INT(feed_pieces(&f, chunked, (size_t)n, 5), HTTP_PARSE_DONE);
	CHECK_EQ_INT(f.p.req.body.len, 64);
	feed_free(&f);
	n = snprintf(chunked, sizeof(chunked),
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n20\r\n%.32s\r\n20\r\n%.32s\r\n"
	    "1\r\nb\r\n0\r\n\r\n", body, body);
	expect_error(chunked, (size_t)n, 413, 4096);
	expect_error(chunked, (size_t)n, 413, 3);
	n = snprintf(chunked, sizeof(chunked),
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n41\r\n%.65s\r\n0\r\n\r\n", body);
	expect_error(chunked, (size_t)n, 413, 4096);
	/* A huge announced chunk is refused once its data passes the limit. */
	n = snprintf(chunked, sizeof(chunked),
	    "POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nffffff\r\n%.70s", body);
	expect_error(chunked, (size_t)n, 413, 4096);
	expect_error(chunked, (size_t)n, 413, 9);
}

static void test_errors_431(void)
{
	char req[600];
	struct feed f;
	size_t len;

	/* A head of exactly max_head (256) bytes is fine, one more is not. */
	len = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX: %0*d\r\n\r\n",
	    256 - 16 - 3 - 4, 0);
	CHECK_EQ_INT(len, 256);
	feed_init(&f, 256, 64);
	CHECK_EQ_INT(feed_bytes(&f, req, len), HTTP_PARSE_DONE);
	feed_free(&f);
	feed_init(&f, 256, 64);
	CHECK_EQ_INT(feed_pieces(&f, req, len, 1), HTTP_PARSE_DONE);
	feed_free(&f);
	len = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX: %0*d\r\n\r\n",
	    256 - 16 - 3 - 4 + 1, 0);
	expect_error(req, len, 431, 4096);
	expect_error(req, len, 431, 1);
	/* Long, with a body to follow. */
	len = (size_t)snprintf(req, sizeof(req),
	    "POST / HTTP/1.1\r\nContent-Length: 1\r\nX: %0300d\r\n\r\na", 0);
	expect_error(req, len, 431, 4096);
	/* Still incomplete: refused as soon as it is too long. */
	len = (size_t)snprintf(req, sizeof(req), "GET / HTTP/1.1\r\nX: %0400d", 0);
	expect_error(req, len, 431, 4096);
	expect_error(req, len, 431, 7);
	len = (size_t)snprintf(req, sizeof(req), "GET /%0400d", 0);
	expect_error(req, len, 431, 4096);
	/* A pipelined second request is measured from its own start. */
	{
		char two[700];
		size_t first;

		first = (size_t)snprintf(two, sizeof(two), "GET /a HTTP/1.1\r\nX: %0200d\r\n\r\n", 0);
		len = first + (size_t)snprintf(two + first, sizeof(two) - first,
		    "GET /b HTTP/1.1\r\nX: %0200d\r\n\r\n", 0);
		feed_init(&f, 256, 64);
		CHECK_EQ_INT(feed_bytes(&f, two, len), HTTP_PARSE_DONE);
		http_next(&f.p, &f.in);
		CHECK_EQ_INT(feed_parse(&f), HTTP_PARSE_DONE);
		CHECK(span_eq(&f, f.p.req.target, "/b"));
		feed_free(&f);
	}
}

/* ---- compaction ---- */

static void test_compact(void)
{
	static const char first[] = "GET /first HTTP/1.1\r\nPrefer: wait=1\r\n\r\n";
	static const char second[] =
	    "POST /second HTTP/1.1\r\n"
	    "Mailbox-Device-Claim: abc  \r\n"
	    "Content-Type: application/json\r\n"
	    "Transfer-Encoding: chunked\r\n"
	    "\r\n"
	    "3\r\n{\"a\r\n4\r\n\":1}\r\n0\r\n\r\n";
	char reference[2048], got[2048];
	int mismatches = 0;
	struct feed f;

	/* The second request alone, as the reference. */
	feed_init(&f, MAX_HEAD, MAX_BODY);
	CHECK_EQ_INT(feed_bytes(&f, second, sizeof(second) - 1), HTTP_PARSE_DONE);
	describe(&f, reference, sizeof(reference));
	CHECK(span_eq(&f, f.p.req.body, "{\"a\":1}"));
	feed_free(&f);

	/* After the first, part of the second; compact; the rest. */
	for (size_t k = 0; k < sizeof(second) - 1; k++) {
		enum http_parse_result r;
		char joined[512];

		memcpy(joined, first, sizeof(first) - 1);
		memcpy(joined + sizeof(first) - 1, second, k);
		feed_init(&f, MAX_HEAD, MAX_BODY);
		r = feed_bytes(&f, joined, sizeof(first) - 1 + k);
		CHECK_EQ_INT(r, HTTP_PARSE_DONE);
		CHECK(span_eq(&f, f.p.req.target, "/first"));
		http_next(&f.p, &f.in);
		r = feed_parse(&f);
		http_compact(&f.p, &f.in);
		CHECK_EQ_INT(f.p.head_start, 0);
		if (r == HTTP_PARSE_MORE)
			r = feed_bytes(&f, second + k, sizeof(second) - 1 - k);
		describe(&f, got, sizeof(got));
		if (r != HTTP_PARSE_DONE || strcmp(got, reference) != 0) {
			if (mismatches++ < 3)
				printf("    compact after %zu: %s\n    expected: %s\n", k, got, reference);
		}
		/* Compacting a finished request is harmless too. */
		http_compact(&f.p, &f.in);
		describe(&f, got, sizeof(got));
		if (strcmp(got, reference) != 0 && mismatches++ < 3)
			printf("    second compact after %zu: %s\n", k, got);
		feed_free(&f);
	}
	CHECK_EQ_INT(mismatches, 0);
}

/* ---- random pipelines ---- */

static uint64_t next_random(uint64_t *state)
{
	uint64_t x = (*state += 0x9e3779b97f4a7c15ULL);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

struct expected_request {
	char target[16];
	char header[HTTP_H_COUNT][24];
	int header_count[HTTP_H_COUNT];
	char body[400];
	size_t body_len;
};

/* The headers sent, in odd spellings; one without is never sent. */
static const char *const header_spelling[HTTP_H_COUNT] = {
	[HTTP_H_CLAIM] = "Mailbox-Device-Claim",
	[HTTP_H_REQUEST_ID] = "mailbox-request-id",
	[HTTP_H_ATTESTATION] = "MAILBOX-DEVICE-ATTESTATION",
	[HTTP_H_CONTENT_TYPE] = "Content-type",
	[HTTP_H_PREFER] = "Prefer",
	[HTTP_H_IF_NONE_MATCH] = "If-None-Match",
	[HTTP_H_IF_MATCH] = "if-MATCH",
	[HTTP_H_EXPECT] = "Expect",
	[HTTP_H_ORIGIN] = "oRIGIN",
	[HTTP_H_AC_REQUEST_METHOD] = "Access-Control-Request-METHOD",
};

/* One random request appended to text; what the parser must report. */
static size_t random_request(uint64_t *state, int index, char *text, size_t at,
    struct expected_request *e)
{
	static const char *const methods[] = { "GET", "POST", "PUT", "DELETE" };
	int method = (int)(next_random(state) % 4);
	int chunked = (int)(next_random(state) % 2);
	int headers = (int)(next_random(state) % 6);

	memset(e, 0, sizeof(*e));
	snprintf(e->target, sizeof(e->target), "/t%d", index);
	at += (size_t)sprintf(text + at, "%s %s HTTP/1.1\r\nHost: h\r\n", methods[method],
	    e->target);
	for (int i = 0; i < headers; i++) {
		int h = (int)(next_random(state) % HTTP_H_COUNT);
		int len = 1 + (int)(next_random(state) % 20);

		if (header_spelling[h] == NULL)
			continue;
		for (int k = 0; k < len; k++)
			e->header[h][k] = (char)('a' + next_random(state) % 26);
		e->header[h][len] = '\0';
		e->header_count[h]++;
		at += (size_t)sprintf(text + at, "%s:%s%s%s\r\n", header_spelling[h],
		    next_random(state) % 2 ? " " : "", e->header[h],
		    next_random(state) % 2 ? " \t " : "");
	}
	if (method == 1 || method == 2) {
		e->body_len = (size_t)(next_random(state) % 300);
		for (size_t k = 0; k < e->body_len; k++)
			e->body[k] = (char)(' ' + next_random(state) % 95);
		if (chunked) {
			size_t done = 0;

			at += (size_t)sprintf(text + at, "Transfer-Encoding: chunked\r\n\r\n");
			while (done < e->body_len) {
				size_t n = 1 + (size_t)(next_random(state) % 50);

				if (n > e->body_len - done)
					n = e->body_len - done;
				at += (size_t)sprintf(text + at, "%zx%s\r\n", n,
				    next_random(state) % 4 ? "" : ";x=y");
				memcpy(text + at, e->body + done, n);
				at += n;
				at += (size_t)sprintf(text + at, "\r\n");
				done += n;
			}
			at += (size_t)sprintf(text + at, "0\r\n\r\n");
		} else {
			at += (size_t)sprintf(text + at, "Content-Length: %zu\r\n\r\n", e->body_len);
			memcpy(text + at, e->body, e->body_len);
			at += e->body_len;
		}
	} else {
		at += (size_t)sprintf(text + at, "\r\n");
	}
	return at;
}

static int request_matches(const struct feed *f, const struct expected_request *e)
{
	const struct http_request *r = &f->p.req;

	if (!span_eq(f, r->target, e->target) || r->body.len != e->body_len ||
	    memcmp(http_at(&f->in, r->body), e->body, e->body_len) != 0)
		return 0;
	for (int h = 0; h < HTTP_H_COUNT; h++) {
		if (r->header_count[h] != e->header_count[h])
			return 0;
		if (e->header_count[h] && !span_eq(f, r->header[h], e->header[h]))
			return 0;
	}
	return 1;
}

/* Pipelines of random requests, fed in random pieces, with compaction in
 * between as the connection does when it needs room. */
static void test_random_pipelines(void)
{
	static char text[8192];
	struct expected_request expected[4];
	uint64_t state = 12345;
	int failures = 0, answered_total = 0;

	for (int round = 0; round < 3000 && failures < 3; round++) {
		int count = 1 + (int)(next_random(&state) % 4), answered = 0;
		size_t len = 0, fed = 0;
		struct feed f;

		for (int i = 0; i < count; i++)
			len = random_request(&state, i, text, len, &expected[i]);
		feed_init(&f, MAX_HEAD, MAX_BODY);
		while (answered < count) {
			enum http_parse_result r = feed_parse(&f);

			if (r == HTTP_PARSE_DONE) {
				if (!request_matches(&f, &expected[answered])) {
					char got[2048];

					describe(&f, got, sizeof(got));
					printf("    round %d request %d: %s\n", round, answered, got);
					failures++;
					break;
				}
				answered++;
				http_next(&f.p, &f.in);
				continue;
			}
			if (r == HTTP_PARSE_ERROR || fed == len) {
				printf("    round %d request %d: result %d, status %d\n", round, answered,
				    r, f.p.error_status);
				failures++;
				break;
			}
			if (next_random(&state) % 3 == 0)
				http_compact(&f.p, &f.in);
			{
				size_t n = 1 + (size_t)(next_random(&state) % 64);

				if (n > len - fed)
					n = len - fed;
				memcpy(f.in.data + f.in.len, text + fed, n);
				f.in.len += n;
				fed += n;
			}
		}
		answered_total += answered;
		if (answered == count) {
			http_compact(&f.p, &f.in);
			CHECK(http_idle(&f.p, &f.in));
		}
		feed_free(&f);
	}
	CHECK_EQ_INT(failures, 0);
	CHECK(answered_total > 5000);
}

int main(void)
{
	/* Lines reach a pipe even if a later test crashes. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_simple_get);
	CHECK_RUN(test_methods);
	CHECK_RUN(test_headers);
	CHECK_RUN(test_split_everywhere);
	CHECK_RUN(test_pipelined);
	CHECK_RUN(test_content_length_body);
	CHECK_RUN(test_chunked_in_place);
	CHECK_RUN(test_trailers_are_not_headers);
	CHECK_RUN(test_expect_continue);
	CHECK_RUN(test_keep_alive);
	CHECK_RUN(test_errors_400);
	CHECK_RUN(test_loose_framing_400);
	CHECK_RUN(test_lines_that_are_fine);
	CHECK_RUN(test_errors_413);
	CHECK_RUN(test_errors_431);
	CHECK_RUN(test_compact);
	CHECK_RUN(test_random_pipelines);
	return CHECK_SUMMARY();
}
