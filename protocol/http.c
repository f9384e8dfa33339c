/*
 * http.c — llhttp callbacks that record spans instead of copying.
 *
 * llhttp may report one header name or value in several pieces when it
 * arrives in several reads; since the caller keeps every byte of the head in
 * one buffer, the pieces are adjacent and a span simply grows. Chunked body
 * pieces are not adjacent (chunk-size lines sit between them), so each one is
 * slid down to the end of the body so far: the body ends up contiguous, right
 * after the head, and the framing bytes it overwrote are never needed again.
 *
 * llhttp refuses, on its own, what would let a request be smuggled past us:
 * Content-Length together with Transfer-Encoding, duplicate or malformed
 * Content-Length, a chunked coding that is not the last one, bad chunk sizes,
 * and (strict, see below) anything but CRLF after chunk data and header names
 * that are not tokens. What it accepts even then, we refuse ourselves, by
 * reading every byte of the head and of the trailer section as llhttp takes
 * it (http_lines_ok): a line that starts with white space (obs-fold, which
 * llhttp joins to the line before, so that "Transfer-Encoding:" CRLF
 * " chunked" means chunked to us and perhaps nothing to a proxy in front),
 * and an LF without its CR. That check is ours whichever llhttp we are built
 * with, so that it holds with a system llhttp too: llhttp 9 still takes
 * obs-fold, and its leniency flags may take bare LFs.
 */
#include <string.h>
#include <strings.h>

#include "protocol/http.h"

/* llhttp 8 is lax unless every file that includes llhttp.h, and llhttp
 * itself, is built with LLHTTP_STRICT_MODE=1 (the Makefile does); llhttp 9
 * dropped the lax mode. */
#if LLHTTP_VERSION_MAJOR < 9 && !LLHTTP_STRICT_MODE
#error "llhttp 8 must be built with -DLLHTTP_STRICT_MODE=1"
#endif

enum http_state {
	HTTP_STATE_HEAD,        /* reading the request line and headers */
	HTTP_STATE_BODY,        /* head done, reading the body */
	HTTP_STATE_TRAILERS,    /* the last chunk is in, trailer lines follow */
	HTTP_STATE_DONE         /* a whole request, waiting for http_next() */
};

static const struct {
	const char *name;
	size_t len;
} http_header_names[HTTP_H_COUNT] = {
	[HTTP_H_CLAIM] = { "mailbox-device-claim", 20 },
	[HTTP_H_REQUEST_ID] = { "mailbox-request-id", 18 },
	[HTTP_H_ATTESTATION] = { "mailbox-device-attestation", 26 },
	[HTTP_H_CONTENT_TYPE] = { "content-type", 12 },
	[HTTP_H_PREFER] = { "prefer", 6 },
	[HTTP_H_IF_NONE_MATCH] = { "if-none-match", 13 },
	[HTTP_H_IF_MATCH] = { "if-match", 8 },
	[HTTP_H_EXPECT] = { "expect", 6 },
	[HTTP_H_FORWARDED_FOR] = { "x-forwarded-for", 15 },
	[HTTP_H_ORIGIN] = { "origin", 6 },
	[HTTP_H_AC_REQUEST_METHOD] = { "access-control-request-method", 29 },
};

static struct http_parser *http_of(llhttp_t *ll)
{
	return ll->data;
}

/* Grow a span by a piece that llhttp just reported. */
static void http_span_add(struct http_parser *p, struct http_span *s, const char *at,
    size_t len)
{
	if (s->len == 0)
		s->off = (uint32_t)(at - p->in->data);
	s->len += (uint32_t)len;
}

static int http_on_url(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = http_of(ll);

	http_span_add(p, &p->req.target, at, len);
	return 0;
}

/* The method is known from the request line on, so that an answer given up
 * on before the head is complete (408, 431, 400) still suits it: no
 * content for HEAD (RFC 9110 9.3.2), the preview's HTML for GET. */
static int http_on_method_complete(llhttp_t *ll)
{
	http_of(ll)->req.method = (uint8_t)llhttp_get_method(ll);
	return 0;
}

static int http_on_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = http_of(ll);

	/* Trailer fields after a chunked body are not headers: the relay
	 * reads none of them, and their bytes are not kept. */
	if (p->state != HTTP_STATE_HEAD)
		return 0;
	http_span_add(p, &p->field, at, len);
	return 0;
}

static int http_on_header_field_complete(llhttp_t *ll)
{
	struct http_parser *p = http_of(ll);
	const char *name = p->in->data + p->field.off;

	p->current_header = -1;
	if (p->state != HTTP_STATE_HEAD)
		return 0;
	for (int h = 0; h < HTTP_H_COUNT; h++) {
		if (p->field.len == http_header_names[h].len &&
		    strncasecmp(name, http_header_names[h].name, p->field.len) == 0) {
			p->current_header = h;
			break;
		}
	}
	p->field.len = 0;
	p->value.off = p->value.len = 0;
	return 0;
}

static int http_on_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = http_of(ll);

	if (p->current_header >= 0)
		http_span_add(p, &p->value, at, len);
	return 0;
}

static int http_on_header_value_complete(llhttp_t *ll)
{
	struct http_parser *p = http_of(ll);
	int h = p->current_header;
	const char *v;

	if (h < 0)
		return 0;
	/* llhttp drops leading white space; trailing white space is ours. */
	v = p->in->data + p->value.off;
	while (p->value.len > 0 && (v[p->value.len - 1] == ' ' || v[p->value.len - 1] == '\t'))
		p->value.len--;
	p->req.header[h] = p->value;
	if (p->req.header_count[h] < UINT8_MAX)
		p->req.header_count[h]++;
	p->current_header = -1;
	return 0;
}

static int http_span_is(const struct http_parser *p, struct http_span s, const char *lit)
{
	size_t n = strlen(lit);

	return s.len == n && strncasecmp(p->in->data + s.off, lit, n) == 0;
}

static int http_on_headers_complete(llhttp_t *ll)
{
	struct http_parser *p = http_of(ll);
	struct http_request *req = &p->req;

	req->head_read = 1;
	/* A request line without HTTP/1.x (HTTP/0.9's bare "GET /x") has no
	 * headers, yet llhttp reads the lines after it as such: a proxy
	 * would frame it otherwise. */
	if (ll->http_major != 1) {
		p->error_status = 400;
		return -1;
	}
	/* HTTP/1.0 is answered and closed, whatever it asks for. */
	req->keep_alive = ll->http_major == 1 && ll->http_minor >= 1 &&
	    llhttp_should_keep_alive(ll);
	/* After a CONNECT or an upgrade llhttp reads no more HTTP: the bytes
	 * that follow belong to a tunnel or another protocol, which the
	 * relay does not speak. Answered and closed, so that no request
	 * pipelined behind it is read as garbage. */
	if (ll->method == HTTP_CONNECT ||
	    ((ll->flags & F_UPGRADE) && (ll->flags & F_CONNECTION_UPGRADE)))
		req->keep_alive = 0;
	req->has_body = (ll->flags & F_CHUNKED) != 0 ||
	    ((ll->flags & F_CONTENT_LENGTH) && ll->content_length > 0);
	/* 100 Continue means nothing to an HTTP/1.0 client. */
	req->expect_continue = ll->http_minor >= 1 && req->header_count[HTTP_H_EXPECT] == 1 &&
	    http_span_is(p, req->header[HTTP_H_EXPECT], "100-continue");
	if ((ll->flags & F_CONTENT_LENGTH) && !(ll->flags & F_CHUNKED) &&
	    ll->content_length > p->max_body) {
		/* Refused before a byte of it is read. */
		p->error_status = 413;
		return -1;
	}
	if (!req->has_body)
		return 0;
	p->state = HTTP_STATE_BODY;
	return HPE_PAUSED;
}

static int http_on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct http_parser *p = http_of(ll);
	struct http_span *body = &p->req.body;
	size_t end = body->off + body->len;

	if (body->len + len > p->max_body) {
		p->error_status = 413;
		return HPE_USER;
	}
	/* Chunk framing sits between the pieces: close the gap. The piece
	 * always lies after the end of the body so far, and llhttp reads
	 * forward only, so nothing it still needs is overwritten. */
	if ((size_t)(at - p->in->data) != end)
		memmove(p->in->data + end, at, len);
	body->len += (uint32_t)len;
	return 0;
}

/* Pause after the last chunk's size line, so that http_parse() knows where
 * the trailer section starts and reads its lines from their first byte. */
static int http_on_chunk_header(llhttp_t *ll)
{
	struct http_parser *p = http_of(ll);

	if (ll->content_length != 0)
		return 0;
	p->state = HTTP_STATE_TRAILERS;
	p->line_prev = '\n';
	return HPE_PAUSED;
}

static int http_on_message_complete(llhttp_t *ll)
{
	struct http_parser *p = http_of(ll);

	p->state = HTTP_STATE_DONE;
	return HPE_PAUSED;
}

static const llhttp_settings_t http_settings = {
	.on_method_complete = http_on_method_complete,
	.on_url = http_on_url,
	.on_header_field = http_on_header_field,
	.on_header_field_complete = http_on_header_field_complete,
	.on_header_value = http_on_header_value,
	.on_header_value_complete = http_on_header_value_complete,
	.on_headers_complete = http_on_headers_complete,
	.on_body = http_on_body,
	.on_chunk_header = http_on_chunk_header,
	.on_message_complete = http_on_message_complete,
};

static void http_reset_request(struct http_parser *p)
{
	memset(&p->req, 0, sizeof(p->req));
	p->state = HTTP_STATE_HEAD;
	/* As if after a line end: a request that starts with white space or a
	 * bare LF is refused like a line that does. */
	p->line_prev = '\n';
	p->head_end = 0;
	p->current_header = -1;
	p->field.off = p->field.len = 0;
	p->value.off = p->value.len = 0;
}

void http_parser_init(struct http_parser *p, size_t max_head, size_t max_body)
{
	memset(p, 0, sizeof(*p));
	llhttp_init(&p->ll, HTTP_REQUEST, &http_settings);
	p->ll.data = p;
	p->max_head = max_head;
	p->max_body = max_body;
	http_reset_request(p);
}

static enum http_parse_result http_fail(struct http_parser *p, int status)
{
	if (p->error_status == 0)
		p->error_status = status;
	return HTTP_PARSE_ERROR;
}

/* The bytes llhttp has just taken from the head or the trailer section:
 * 0 if a line in them starts with SP or HTAB (obs-fold: RFC 9112 5.2 lets a
 * server refuse it with 400, and we must, since a proxy in front may read
 * the line otherwise) or ends in an LF without CR (RFC 9112 2.2 lets us take
 * it for CRLF; a proxy may not). line_prev carries the byte before them from
 * the previous read, as the trailer section's earlier bytes are gone by then
 * (http_more drops them). */
static int http_lines_ok(struct http_parser *p, const char *at, const char *end)
{
	char prev = p->line_prev;

	for (; at < end; at++) {
		if (prev == '\n' && (*at == ' ' || *at == '\t'))
			return 0;
		if (*at == '\n' && prev != '\r')
			return 0;
		prev = *at;
	}
	p->line_prev = prev;
	return 1;
}

/* Every byte is used and the request is not complete. */
static enum http_parse_result http_more(struct http_parser *p, struct http_input *in)
{
	in->parsed = in->len;
	/* The chunk framing after the body is never needed again. */
	if (p->state == HTTP_STATE_BODY || p->state == HTTP_STATE_TRAILERS)
		in->len = in->parsed = p->req.body.off + p->req.body.len;
	return HTTP_PARSE_MORE;
}

/* The head has ended at offset end: check its size and place the body. */
static int http_head_ends(struct http_parser *p, size_t end)
{
	p->head_end = (uint32_t)end;
	p->req.body.off = (uint32_t)end;
	return end - p->head_start <= p->max_head;
}

enum http_parse_result http_parse(struct http_parser *p, struct http_input *in)
{
	if (p->error_status)
		return HTTP_PARSE_ERROR;
	if (p->state == HTTP_STATE_DONE)
		return HTTP_PARSE_DONE;
	p->in = in;
	while (in->parsed < in->len) {
		const char *start = in->data + in->parsed;
		enum http_state was = p->state;
		llhttp_errno_t err = llhttp_execute(&p->ll, start, in->len - in->parsed);
		const char *end = err == HPE_OK ? in->data + in->len : llhttp_get_error_pos(&p->ll);
		size_t pos;

		/* Whatever llhttp made of them, lines it should not have taken
		 * are a 400, before any other answer. Body bytes are not lines. */
		if (was != HTTP_STATE_BODY && end != NULL && end >= start &&
		    !http_lines_ok(p, start, end)) {
			p->error_status = 400;
			return HTTP_PARSE_ERROR;
		}
		if (err == HPE_OK) {
			if (p->state == HTTP_STATE_HEAD && in->len - p->head_start > p->max_head)
				return http_fail(p, 431);
			return http_more(p, in);
		}
		if (err != HPE_PAUSED)
			return http_fail(p, 400);
		pos = (size_t)(end - in->data);
		in->parsed = pos;
		llhttp_resume(&p->ll);
		switch (p->state) {
		case HTTP_STATE_BODY:
			/* Paused at the end of a head that a body follows. */
			if (!http_head_ends(p, pos))
				return http_fail(p, 431);
			return HTTP_PARSE_HEAD;
		case HTTP_STATE_TRAILERS:
			/* Paused at the last chunk; the trailer section follows. */
			continue;
		default:
			/* A whole request. Without a body the head ends here too. */
			if (p->head_end == 0 && !http_head_ends(p, pos))
				return http_fail(p, 431);
			return HTTP_PARSE_DONE;
		}
	}
	return http_more(p, in);
}

void http_next(struct http_parser *p, struct http_input *in)
{
	http_reset_request(p);
	if (in->parsed == in->len)
		in->parsed = in->len = 0;
	p->head_start = (uint32_t)in->parsed;
}

int http_idle(const struct http_parser *p, const struct http_input *in)
{
	return p->state == HTTP_STATE_HEAD && in->len == p->head_start;
}

static void http_span_shift(struct http_span *s, uint32_t by)
{
	s->off = s->off >= by ? s->off - by : 0;
}

void http_compact(struct http_parser *p, struct http_input *in)
{
	uint32_t by = p->head_start;

	if (by == 0)
		return;
	memmove(in->data, in->data + by, in->len - by);
	in->len -= by;
	in->parsed -= by;
	http_span_shift(&p->req.target, by);
	for (int h = 0; h < HTTP_H_COUNT; h++)
		http_span_shift(&p->req.header[h], by);
	http_span_shift(&p->req.body, by);
	http_span_shift(&p->field, by);
	http_span_shift(&p->value, by);
	if (p->head_end)
		p->head_end -= by;
	p->head_start = 0;
}

int http_in_body(const struct http_parser *p)
{
	return p->state == HTTP_STATE_BODY || p->state == HTTP_STATE_TRAILERS;
}

int http_body_is_chunked(const struct http_parser *p)
{
	return (p->ll.flags & F_CHUNKED) != 0;
}

uint64_t http_content_length(const struct http_parser *p)
{
	return p->ll.content_length;
}
