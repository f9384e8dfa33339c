/*
 * fuzz_request.c — the whole request path in one process, without sockets:
 * bytes → http_parse → api_handle / api_error → store → response bytes.
 *
 * The input is what clients send. "~~~~\n" starts the next connection's
 * stream (FUZZ_CONNS at most), so that one connection's update can wake
 * another's long-poll. The first connection sends until it has sent all or
 * its long-poll parks, then the next one, and a woken connection carries on
 * before the others. Each stream arrives in pieces whose sizes come from the
 * input bytes themselves, so every split of a request — inside a header
 * name, a chunk-size line, a trailer — gets explored, and the parser's buffer
 * moves (grows, is compacted) the way a connection's does. The unused tail
 * of that buffer is poisoned, so a span that points past the bytes the parser
 * kept is caught even where it is still inside the allocation.
 *
 * The harness plays the connection layer (server/conn.c) step by step:
 * 100 Continue when the client waits for it, one answer per request, parked
 * long-polls that end by a wake (update, delete, expiry), by their timer, by
 * shutdown or by the client leaving, and a 408 for a request left unfinished.
 * The clock moves on with every request and api_tick() runs whenever it does,
 * so mailboxes expire under the requests' feet.
 *
 * What must hold, checked on every request, answer and input:
 *   - every span the parser reports lies inside the bytes it kept, and
 *     header values come from the head, never from chunked trailers;
 *   - an answer is one well-formed HTTP/1.1 response: "HTTP/1.1 " and a
 *     known 3-digit status, header lines without control bytes, a
 *     Content-Length equal to the body that follows (none after HEAD),
 *     valid JSON where it says JSON, the request's ID echoed when it was
 *     valid, "Connection: close" exactly when the connection will close;
 *   - no answer contains a Device Claim sent in a Mailbox-Device-Claim
 *     header (unless the input also put that text somewhere it may be
 *     echoed: a body, a path, a request ID);
 *   - a parked long-poll writes nothing until it ends, and its ready() hook
 *     is called at most once, only while it is parked;
 *   - the store never holds more mailboxes than its limit, and once every
 *     mailbox is gone its accounted bytes come back to what an empty store
 *     that has been used once holds.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "protocol/api.h"
#include "lib/buf.h"
#include "lib/container_of.h"
#include "protocol/http.h"
#include "protocol/response.h"
#include "protocol/wire.h"
#include "storage/quota.h"
#include "storage/ratelimit.h"
#include "storage/store.h"
#include "test/fuzz/fuzz.h"

#define FUZZ_CONNS 4
#define FUZZ_SPLIT "~~~~\n"
#define FUZZ_SPLIT_LEN 5
#define FUZZ_NOW 1700000000         /* Tue, 14 Nov 2023 22:13:20 GMT */
#define FUZZ_BASE "https://relay.example"
#define FUZZ_MAX_HEAD 2048
#define FUZZ_MAX_BODY 2048
#define FUZZ_DEFAULT_TTL 30         /* short, so that expiry happens */
#define FUZZ_MAX_TTL 600
#define FUZZ_MAX_WAIT 20
#define FUZZ_MAX_WAITERS 2          /* parked at once; more get no wait (503) */
#define FUZZ_MAX_CLAIMS 32

enum fuzz_conn_state {
	FUZZ_OPEN,          /* reading and answering requests */
	FUZZ_PARKED,        /* a long-poll waits; input is kept, not parsed */
	FUZZ_WOKEN,         /* ready() was called; the answer is in out */
	FUZZ_CLOSED
};

struct fuzz;

struct fuzz_conn {
	struct fuzz *fz;
	const uint8_t *src;         /* this connection's stream */
	size_t src_len, fed;
	unsigned sum;               /* of the stream's bytes: picks how a wait ends */
	struct http_parser parser;
	struct http_input in;
	size_t in_cap;
	struct buf out;
	struct api_wait wait;
	struct api_client client;
	int has_client;
	enum fuzz_conn_state state;
	int ready_calls;            /* during the current park */
	int64_t deadline;           /* of the current park */
	int heads;                  /* HTTP_PARSE_HEAD for the current request */
	/* The parked request's ID, to find echoed in its late answer. */
	char request_id[STORE_REQUEST_ID_MAX];
	size_t request_id_len;
	int has_request_id;
};

struct fuzz_claim {
	char text[WIRE_UUID_LEN + 1];   /* canonical, lower case */
	int echoable;                   /* a request also sent it where it may echo */
	int compact_echoable;           /* the same for its 32 hex digits */
};

struct fuzz {
	const uint8_t *data;
	size_t size;
	int64_t now;
	uint64_t counter;
	struct store_limits store_limits;
	struct store *store;
	struct ratelimit *limits;
	struct api *api;
	size_t baseline_bytes;
	struct quota *quota;            /* long-polls per address */
	struct fuzz_conn conns[FUZZ_CONNS];
	int conn_count;
	int parked;
	struct fuzz_claim claims[FUZZ_MAX_CLAIMS];
	int claim_count;
};

/* What an answer must look like. */
struct fuzz_expect {
	int head;                   /* an answer to HEAD: no body */
	int close;                  /* Connection: close: 1 present, 0 absent, -1 either */
	int status;                 /* 0: any known status */
	int preference_wait;        /* > 0: Preference-Applied: wait=N and an ETag */
	const char *request_id;     /* to be echoed, or NULL: no echo */
	size_t request_id_len;
};

/* ---- deterministic randomness ---- */

static uint64_t fuzz_splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static int fuzz_random(void *ctx, unsigned char *out, size_t len)
{
	uint64_t *counter = ctx, v = 0;

	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = fuzz_splitmix64((*counter)++);
		out[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
	return 0;
}

/* ---- claims sent in headers ---- */

static void fuzz_compact_claim(const char *text, char out[33])
{
	size_t n = 0;

	for (size_t i = 0; i < WIRE_UUID_LEN; i++) {
		if (text[i] != '-')
			out[n++] = text[i];
	}
	out[n] = '\0';
}

static void fuzz_add_claim(struct fuzz *fz, const char *value, size_t len)
{
	uint8_t bytes[MAILBOX_CLAIM_LEN];
	char text[WIRE_UUID_LEN + 1];

	if (len != WIRE_UUID_LEN || wire_parse_uuid(value, len, bytes) != 0)
		return;
	wire_format_uuid(bytes, text);
	for (int k = 0; k < fz->claim_count; k++) {
		if (memcmp(fz->claims[k].text, text, WIRE_UUID_LEN) == 0)
			return;
	}
	if (fz->claim_count == FUZZ_MAX_CLAIMS)
		return;
	memcpy(fz->claims[fz->claim_count++].text, text, sizeof(text));
}

/* Every value of a Mailbox-Device-Claim header line in the input, found by a
 * scan of its own rather than only by the parser under test. */
static void fuzz_scan_claims(struct fuzz *fz)
{
	static const char name[] = "mailbox-device-claim:";
	const size_t name_len = sizeof(name) - 1;
	const char *d = (const char *)fz->data;
	size_t size = fz->size;

	for (size_t i = 0; i + name_len <= size; i++) {
		size_t start, end;

		if ((i > 0 && d[i - 1] != '\n') || fuzz_find(d + i, name_len, name, name_len, 1) == NULL)
			continue;
		start = i + name_len;
		while (start < size && (d[start] == ' ' || d[start] == '\t'))
			start++;
		end = start;
		while (end < size && d[end] != '\r' && d[end] != '\n')
			end++;
		while (end > start && (d[end - 1] == ' ' || d[end - 1] == '\t'))
			end--;
		fuzz_add_claim(fz, d + start, end - start);
	}
}

static void fuzz_note_text(struct fuzz *fz, const char *s, size_t len)
{
	for (int k = 0; k < fz->claim_count; k++) {
		struct fuzz_claim *c = &fz->claims[k];
		char compact[33];

		if (!c->echoable && fuzz_find(s, len, c->text, WIRE_UUID_LEN, 1) != NULL)
			c->echoable = 1;
		fuzz_compact_claim(c->text, compact);
		if (!c->compact_echoable && fuzz_find(s, len, compact, 32, 1) != NULL)
			c->compact_echoable = 1;
	}
}

static void fuzz_note_json(struct fuzz *fz, json_t *v)
{
	const char *key;
	json_t *member;
	size_t i;

	if (json_is_string(v)) {
		fuzz_note_text(fz, json_string_value(v), json_string_length(v));
	} else if (json_is_object(v)) {
		json_object_foreach(v, key, member) {
			fuzz_note_text(fz, key, strlen(key));
			fuzz_note_json(fz, member);
		}
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, member)
			fuzz_note_json(fz, member);
	}
}

/* A request is about to be answered: its claim header joins the claims that
 * no answer may hold, and whatever it sent that an answer may legitimately
 * repeat (path, request ID, body: stored display data is shown again) marks
 * the claims it contains as fair to echo. */
static void fuzz_note_request(struct fuzz *fz, const struct http_request *req,
    const struct http_input *in)
{
	if (req->header_count[HTTP_H_CLAIM] > 0)
		fuzz_add_claim(fz, http_at(in, req->header[HTTP_H_CLAIM]),
		    req->header[HTTP_H_CLAIM].len);
	if (fz->claim_count == 0)
		return;
	fuzz_note_text(fz, http_at(in, req->target), req->target.len);
	fuzz_note_text(fz, http_at(in, req->header[HTTP_H_REQUEST_ID]),
	    req->header[HTTP_H_REQUEST_ID].len);
	if (req->body.len > 0) {
		json_t *doc;

		fuzz_note_text(fz, http_at(in, req->body), req->body.len);
		doc = json_loadb(http_at(in, req->body), req->body.len, 0, NULL);
		if (doc != NULL) {
			fuzz_note_json(fz, doc);
			json_decref(doc);
		}
	}
}

/* A claim in an answer, other than as part of a mailbox URL (a claim may
 * happen to equal a mailbox identifier). */
static int fuzz_holds(const char *r, size_t len, const char *text, size_t text_len)
{
	const char *at = r, *end = r + len;

	while ((at = fuzz_find(at, (size_t)(end - at), text, text_len, 1)) != NULL) {
		if (!(at - r >= 6 && memcmp(at - 6, "/v1/m/", 6) == 0))
			return 1;
		at++;
	}
	return 0;
}

static void fuzz_check_privacy(const struct fuzz *fz, const char *r, size_t len)
{
	for (int k = 0; k < fz->claim_count; k++) {
		const struct fuzz_claim *c = &fz->claims[k];
		char compact[33];

		if (!c->echoable)
			FUZZ_CHECK(!fuzz_holds(r, len, c->text, WIRE_UUID_LEN),
			    "an answer contains a Device Claim sent in a request header");
		fuzz_compact_claim(c->text, compact);
		if (!c->compact_echoable)
			FUZZ_CHECK(!fuzz_holds(r, len, compact, 32),
			    "an answer contains a Device Claim's hex digits");
	}
}

/* ---- answers ---- */

static int fuzz_known_status(int status)
{
	static const int known[] = { 200, 201, 204, 400, 401, 404, 405, 408, 412, 413, 415,
	    429, 431, 503 };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		if (known[i] == status)
			return 1;
	}
	return 0;
}

static int fuzz_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	    (c != 0 && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

static int fuzz_name_is(const char *line, size_t name_len, const char *name)
{
	return strlen(name) == name_len && fuzz_find(line, name_len, name, name_len, 1) == line;
}

/* One answer, exactly, in r. */
static void fuzz_check_response(const struct fuzz *fz, const char *r, size_t len,
    const struct fuzz_expect *e)
{
	const char *head_end, *line, *body;
	size_t head_len, body_len, content_length = 0;
	int status, has_length = 0, lengths = 0, ids = 0, closes = 0, etags = 0, prefs = 0;
	int json = 0;

	FUZZ_CHECK(len >= 13 && memcmp(r, "HTTP/1.1 ", 9) == 0,
	    "an answer starts with \"HTTP/1.1 \"");
	FUZZ_CHECK(r[9] >= '1' && r[9] <= '5' && r[10] >= '0' && r[10] <= '9' &&
	    r[11] >= '0' && r[11] <= '9' && r[12] == ' ', "a 3-digit status follows");
	status = (r[9] - '0') * 100 + (r[10] - '0') * 10 + (r[11] - '0');
	FUZZ_CHECK(fuzz_known_status(status), "the status is one the relay sends");
	if (e->status)
		FUZZ_CHECK(status == e->status, "the status is the expected one");
	head_end = fuzz_find(r, len, "\r\n\r\n", 4, 0);
	FUZZ_CHECK(head_end != NULL, "the head ends with an empty line");
	head_len = (size_t)(head_end - r) + 4;
	line = fuzz_find(r, head_len, "\r\n", 2, 0) + 2;
	while (line < head_end + 2) {
		const char *eol = fuzz_find(line, (size_t)(head_end + 2 - line), "\r\n", 2, 0);
		size_t line_len = (size_t)(eol - line), name_len = 0, value_len;
		const char *value;

		while (name_len < line_len && fuzz_tchar((unsigned char)line[name_len]))
			name_len++;
		FUZZ_CHECK(name_len > 0 && name_len + 2 <= line_len && line[name_len] == ':' &&
		    line[name_len + 1] == ' ', "a header line is \"Name: value\"");
		value = line + name_len + 2;
		value_len = line_len - name_len - 2;
		for (size_t i = 0; i < value_len; i++) {
			unsigned char c = (unsigned char)value[i];

			FUZZ_CHECK((c >= 0x20 && c != 0x7f) || c == '\t',
			    "a header value holds no control byte (no response splitting)");
		}
		if (fuzz_name_is(line, name_len, "content-length")) {
			lengths++;
			has_length = 1;
			FUZZ_CHECK(value_len > 0 && value_len <= 10, "Content-Length is a number");
			content_length = 0;
			for (size_t i = 0; i < value_len; i++) {
				FUZZ_CHECK(value[i] >= '0' && value[i] <= '9',
				    "Content-Length holds digits only");
				content_length = content_length * 10 + (size_t)(value[i] - '0');
			}
		} else if (fuzz_name_is(line, name_len, "mailbox-request-id")) {
			ids++;
			FUZZ_CHECK(e->request_id != NULL && value_len == e->request_id_len &&
			    memcmp(value, e->request_id, value_len) == 0,
			    "Mailbox-Request-ID echoes the request's valid ID, and nothing else");
		} else if (fuzz_name_is(line, name_len, "connection")) {
			closes++;
			FUZZ_CHECK(value_len == 5 && memcmp(value, "close", 5) == 0,
			    "Connection says close");
		} else if (fuzz_name_is(line, name_len, "etag")) {
			etags++;
			FUZZ_CHECK(value_len >= 3 && value[0] == '"' && value[value_len - 1] == '"',
			    "an ETag is a quoted entity-tag");
		} else if (fuzz_name_is(line, name_len, "preference-applied")) {
			char want[32];

			prefs++;
			snprintf(want, sizeof(want), "wait=%d", e->preference_wait);
			FUZZ_CHECK(e->preference_wait > 0 && value_len == strlen(want) &&
			    memcmp(value, want, value_len) == 0,
			    "Preference-Applied names the wait applied, on a timed-out wait only");
		} else if (fuzz_name_is(line, name_len, "content-type")) {
			json = value_len >= 16 && memcmp(value, "application/json", 16) == 0;
		}
		line = eol + 2;
	}
	FUZZ_CHECK(lengths <= 1 && ids <= 1 && closes <= 1 && etags <= 1 && prefs <= 1,
	    "no header is sent twice");
	if (e->request_id != NULL)
		FUZZ_CHECK(ids == 1, "a valid Mailbox-Request-ID is echoed");
	if (e->close >= 0)
		FUZZ_CHECK(closes == e->close,
		    "\"Connection: close\" is sent exactly when the connection closes");
	if (e->preference_wait > 0)
		FUZZ_CHECK(prefs == 1 && etags == 1, "a timed-out wait names its wait and ETag");

	body = r + head_len;
	body_len = len - head_len;
	if (e->head) {
		FUZZ_CHECK(body_len == 0, "an answer to HEAD has no body");
	} else if (has_length) {
		FUZZ_CHECK(body_len == content_length,
		    "Content-Length equals the body bytes that follow (one answer exactly)");
	} else {
		FUZZ_CHECK(status == 204 && body_len == 0,
		    "only a 204 goes without Content-Length, and has no body");
	}
	if (status == 204)
		FUZZ_CHECK(body_len == 0 && !has_length, "a 204 has no body and no length");
	if (json && !e->head && body_len > 0) {
		json_t *doc = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, NULL);

		FUZZ_CHECK(doc != NULL && json_is_object(doc), "a JSON body is a JSON object");
		if (status >= 400)
			FUZZ_CHECK(json_is_string(json_object_get(doc, "error")) &&
			    json_is_string(json_object_get(doc, "message")),
			    "an error body has \"error\" and \"message\" strings");
		json_decref(doc);
	}
	fuzz_check_privacy(fz, r, len);
}

/* FUZZ_TRACE=1 in the environment shows every answer's status line on
 * stderr, to see what a corpus file does. */
static void fuzz_trace(const struct fuzz_conn *c, const char *what)
{
	static int trace = -1;
	const char *eol;

	if (trace < 0)
		trace = getenv("FUZZ_TRACE") != NULL;
	if (!trace)
		return;
	eol = c->out.len ? memchr(c->out.data, '\r', c->out.len) : NULL;
	fprintf(stderr, "conn %d t+%lld %s: %.*s\n", (int)(c - c->fz->conns),
	    (long long)(c->fz->now - FUZZ_NOW), what,
	    eol ? (int)(eol - c->out.data) : 0, eol ? c->out.data : "");
}

/* Check what the connection's out buffer holds as one answer, then let it go
 * as if sent. */
static void fuzz_check_out(struct fuzz_conn *c, const struct fuzz_expect *e)
{
	FUZZ_CHECK(!c->out.failed, "the output buffer has not failed");
	fuzz_trace(c, "answer");
	fuzz_check_response(c->fz, c->out.data, c->out.len, e);
	c->out.len = 0;
}

/* The request's ID when it must be echoed: sent once, 1 to 128 visible ASCII
 * characters (spec sections 3 and 10). */
static void fuzz_expect_request(struct fuzz_expect *e, const struct http_request *req,
    const struct http_input *in)
{
	const char *id = http_at(in, req->header[HTTP_H_REQUEST_ID]);
	size_t len = req->header[HTTP_H_REQUEST_ID].len;
	int valid = req->header_count[HTTP_H_REQUEST_ID] == 1 && len >= 1 && len <= 128;

	memset(e, 0, sizeof(*e));
	e->close = -1;
	e->head = req->method == HTTP_HEAD;
	for (size_t i = 0; valid && i < len; i++)
		valid = id[i] > 0x20 && id[i] < 0x7f;
	if (valid) {
		e->request_id = id;
		e->request_id_len = len;
	}
}

/* Every span of a request the parser hands over lies inside the bytes it
 * kept (the api reads them all), and header values come from the request's
 * head: trailer fields after a chunked body are not request headers (RFC
 * 9110 section 6.5.1), or a claim or request ID could be sent after the
 * body, past anything that inspected the head. */
static void fuzz_check_spans(const struct http_parser *p, const struct http_input *in)
{
	const struct http_request *req = &p->req;

	FUZZ_CHECK((size_t)req->target.off + req->target.len <= in->len,
	    "the request target lies inside the parser's input");
	for (int h = 0; h < HTTP_H_COUNT; h++) {
		if (req->header_count[h] == 0)
			continue;
		FUZZ_CHECK((size_t)req->header[h].off + req->header[h].len <= in->len,
		    "every recorded header value lies inside the parser's input");
		if (p->head_end != 0)
			FUZZ_CHECK((size_t)req->header[h].off + req->header[h].len <= p->head_end,
			    "header values come from the request head, not from trailer fields");
	}
	FUZZ_CHECK((size_t)req->body.off + req->body.len <= in->len,
	    "the body lies inside the parser's input");
}

/* ---- the connection's input buffer ---- */

static void fuzz_poison_tail(struct fuzz_conn *c)
{
	if (c->in.data != NULL) {
		FUZZ_CHECK(c->in.len <= c->in_cap && c->in.parsed <= c->in.len,
		    "the parser keeps parsed <= len <= capacity");
		FUZZ_POISON(c->in.data + c->in.len, c->in_cap - c->in.len);
	}
}

static size_t fuzz_piece_len(const struct fuzz_conn *c, uint32_t *hash)
{
	static const size_t sizes[8] = { SIZE_MAX, SIZE_MAX, 1, 2, 5, 16, 61, 400 };
	size_t left = c->src_len - c->fed;
	uint32_t h = (uint32_t)c->src[c->fed] * 0x9e3779b1u + (uint32_t)c->fed * 0x85ebca6bu;
	size_t n = sizes[h >> 29];

	*hash = h;
	return n < left ? n : left;
}

/* The client sends the next piece of its stream. */
static void fuzz_feed(struct fuzz_conn *c)
{
	struct http_input *in = &c->in;
	uint32_t hash;
	size_t n = fuzz_piece_len(c, &hash);

	/* Sometimes move the request in progress to the front, as a
	 * connection does when its buffer is full. */
	if (hash & 0x100)
		http_compact(&c->parser, in);
	if (in->len + n > c->in_cap) {
		size_t cap = c->in_cap ? c->in_cap : 64;
		char *data;

		while (cap < in->len + n)
			cap *= 2;
		FUZZ_UNPOISON(in->data, c->in_cap);
		data = realloc(in->data, cap);
		FUZZ_CHECK(data != NULL, "memory for the input buffer");
		in->data = data;
		c->in_cap = cap;
	}
	FUZZ_UNPOISON(in->data + in->len, n);
	memcpy(in->data + in->len, c->src + c->fed, n);
	in->len += n;
	c->fed += n;
	fuzz_poison_tail(c);
}

/* ---- time, long-polls ---- */

static void fuzz_check_store(const struct fuzz *fz)
{
	struct store_stats stats = store_stats(fz->store);

	FUZZ_CHECK(stats.mailboxes <= fz->store_limits.max_mailboxes,
	    "the store holds no more mailboxes than its limit");
}

static void fuzz_unpark(struct fuzz_conn *c, int close)
{
	c->fz->parked--;
	c->state = close ? FUZZ_CLOSED : FUZZ_OPEN;
}

static void fuzz_wait_expect(const struct fuzz_conn *c, struct fuzz_expect *e)
{
	memset(e, 0, sizeof(*e));
	e->close = !c->wait.keep_alive;
	if (c->has_request_id) {
		e->request_id = c->request_id;
		e->request_id_len = c->request_id_len;
	}
}

static void fuzz_ready(struct api_wait *w)
{
	struct fuzz_conn *c = container_of(w, struct fuzz_conn, wait);

	FUZZ_CHECK(c->state == FUZZ_PARKED, "ready() is called only for a parked long-poll");
	FUZZ_CHECK(c->ready_calls == 0, "ready() is called at most once per long-poll");
	c->ready_calls++;
	c->state = FUZZ_WOKEN;
}

/* The version an answer's ETag names, or 0. */
static uint64_t fuzz_answer_version(const char *r, size_t len)
{
	const char *at = fuzz_find(r, len, "\r\nETag: \"", 9, 0);
	uint64_t v = 0;

	if (at == NULL)
		return 0;
	for (at += 9; at < r + len && *at != '"'; at++)
		v = v << 4 | (uint64_t)(*at <= '9' ? *at - '0' : *at - 'a' + 10);
	return v;
}

/* An update wakes a long-poll only with a version its If-None-Match does
 * not name (spec 6). */
static int fuzz_woken_by_new_version(const struct api_wait *w, uint64_t version)
{
	if (w->holds_any || version == w->etag)
		return 0;
	for (size_t i = 0; i < w->later_count; i++) {
		if (w->later[i] == version)
			return 0;
	}
	return 1;
}

/* Answer long-polls that ready() has woken: an update (200), a delete or
 * expiry (404), or a claim that gave the mailbox up (401). */
static void fuzz_settle(struct fuzz *fz)
{
	for (int i = 0; i < fz->conn_count; i++) {
		struct fuzz_conn *c = &fz->conns[i];
		struct fuzz_expect e;

		if (c->state != FUZZ_WOKEN)
			continue;
		fuzz_wait_expect(c, &e);
		fuzz_trace(c, "woken");
		fuzz_check_response(fz, c->out.data, c->out.len, &e);
		FUZZ_CHECK(memcmp(c->out.data + 9, "200", 3) == 0 ||
		    memcmp(c->out.data + 9, "401", 3) == 0 ||
		    memcmp(c->out.data + 9, "404", 3) == 0,
		    "a woken long-poll answers 200, 401 or 404");
		FUZZ_CHECK(memcmp(c->out.data + 9, "200", 3) != 0 || fuzz_woken_by_new_version(
		    &c->wait, fuzz_answer_version(c->out.data, c->out.len)),
		    "a long-poll is woken only by a version it does not name");
		c->out.len = 0;
		fuzz_unpark(c, !c->wait.keep_alive);
	}
}

/* The wait's timer fired (closing 0), or the relay shuts down (closing 1). */
static void fuzz_timeout(struct fuzz_conn *c, int closing)
{
	struct fuzz_expect e;

	FUZZ_CHECK(c->out.len == 0, "a parked long-poll has written nothing");
	api_wait_timeout(&c->wait, closing);
	fuzz_wait_expect(c, &e);
	e.status = 204;
	e.preference_wait = (int)c->wait.wait_s;
	if (closing)
		e.close = 1;
	fuzz_check_out(c, &e);
	fuzz_unpark(c, e.close);
}

/* The client went away while its long-poll waited. */
static void fuzz_cancel(struct fuzz_conn *c)
{
	FUZZ_CHECK(c->out.len == 0, "a parked long-poll has written nothing");
	fuzz_trace(c, "cancelled");
	api_wait_cancel(&c->wait);
	fuzz_unpark(c, 1);
}

/* The clock moves on: expire mailboxes (which wakes their waiters) and fire
 * the timers of long-polls whose time is up. */
static void fuzz_advance(struct fuzz *fz, int64_t now)
{
	if (now <= fz->now)
		return;
	fz->now = now;
	api_tick(fz->api, now);
	ratelimit_expire(fz->limits, now * 1000, 16);
	fuzz_settle(fz);
	for (int i = 0; i < fz->conn_count; i++) {
		struct fuzz_conn *c = &fz->conns[i];

		if (c->state == FUZZ_PARKED && c->deadline <= now)
			fuzz_timeout(c, 0);
	}
	fuzz_check_store(fz);
}

/* ---- requests ---- */

static void fuzz_answer(struct fuzz_conn *c)
{
	struct fuzz *fz = c->fz;
	const struct http_request *req = &c->parser.req;
	size_t request_bytes = c->in.parsed - c->parser.head_start;
	struct fuzz_expect e;
	enum api_result result;
	struct api_wait *wait;
	int close = 0, method = req->method;

	fuzz_check_spans(&c->parser, &c->in);
	fuzz_advance(fz, fz->now + (int64_t)(request_bytes * 7 % 13));
	c->client.now_ms = fz->now * 1000 + (int64_t)(request_bytes % 1000);
	fuzz_expect_request(&e, req, &c->in);
	fuzz_note_request(fz, req, &c->in);
	FUZZ_CHECK(c->out.len == 0, "nothing is left over before an answer");
	wait = fz->parked < FUZZ_MAX_WAITERS ? &c->wait : NULL;
	result = api_handle(fz->api, fz->now, c->has_client ? &c->client : NULL, req, &c->in,
	    &c->out, wait, &close);
	if (result == API_PARKED) {
		FUZZ_CHECK(wait != NULL, "a long-poll parks only on a wait it was given");
		FUZZ_CHECK(method == HTTP_POST, "only ReadSecureContent parks");
		FUZZ_CHECK(c->out.len == 0, "a parked long-poll writes nothing yet");
		FUZZ_CHECK(c->wait.wait_s >= 1 && c->wait.wait_s <= FUZZ_MAX_WAIT,
		    "a wait lasts 1 s to --max-wait");
		FUZZ_CHECK(c->wait.keep_alive == !close, "the wait keeps the connection's fate");
		/* The request's bytes will move; keep what its answer echoes. */
		c->has_request_id = e.request_id != NULL;
		c->request_id_len = e.request_id_len;
		if (e.request_id != NULL)
			memcpy(c->request_id, e.request_id, e.request_id_len);
		fuzz_trace(c, "parked");
		c->state = FUZZ_PARKED;
		c->ready_calls = 0;
		c->deadline = fz->now + c->wait.wait_s;
		fz->parked++;
	} else {
		e.close = close;
		fuzz_check_out(c, &e);
		if (close)
			c->state = FUZZ_CLOSED;
	}
	http_next(&c->parser, &c->in);
	fuzz_poison_tail(c);
	c->heads = 0;
	/* Long-polls that this request woke answer now. */
	fuzz_settle(fz);
	fuzz_check_store(fz);
}

/* The parser (or the request's deadline, status 408) gave up: answer and
 * close. */
static void fuzz_refuse(struct fuzz_conn *c, int status)
{
	struct fuzz *fz = c->fz;
	struct fuzz_expect e;

	fuzz_check_spans(&c->parser, &c->in);
	fuzz_expect_request(&e, &c->parser.req, &c->in);
	fuzz_note_request(fz, &c->parser.req, &c->in);
	e.close = 1;
	e.status = status;
	FUZZ_CHECK(c->out.len == 0, "nothing is left over before an answer");
	api_error(fz->api, fz->now, &c->parser.req, &c->in, status, &c->out);
	fuzz_check_out(c, &e);
	c->state = FUZZ_CLOSED;
}

/* Parse and answer as far as the bytes received allow. */
static void fuzz_drive(struct fuzz_conn *c)
{
	while (c->state == FUZZ_OPEN) {
		enum http_parse_result r = http_parse(&c->parser, &c->in);

		fuzz_poison_tail(c);
		switch (r) {
		case HTTP_PARSE_HEAD:
			FUZZ_CHECK(++c->heads == 1, "the end of a head is reported once");
			FUZZ_CHECK(c->parser.req.has_body, "a head is reported only when a body follows");
			if (c->parser.req.expect_continue && c->in.parsed == c->in.len) {
				response_continue(&c->out);
				FUZZ_CHECK(c->out.len == 25 &&
				    memcmp(c->out.data, "HTTP/1.1 100 Continue\r\n\r\n", 25) == 0,
				    "100 Continue is exactly that");
				c->out.len = 0;
			}
			break;
		case HTTP_PARSE_DONE:
			fuzz_answer(c);
			break;
		case HTTP_PARSE_ERROR:
			FUZZ_CHECK(c->parser.error_status == 400 || c->parser.error_status == 413 ||
			    c->parser.error_status == 431, "a parse error is 400, 413 or 431");
			fuzz_refuse(c, c->parser.error_status);
			return;
		case HTTP_PARSE_MORE:
			FUZZ_CHECK(c->in.parsed == c->in.len, "MORE means every byte was used");
			return;
		}
	}
}

/* ---- one input ---- */

/* Create and delete one mailbox with a retry record, through the store. */
static void fuzz_store_cycle(struct fuzz *fz)
{
	static const uint8_t claim[MAILBOX_CLAIM_LEN] = { 0xfe };
	struct mailbox_spec spec;
	struct mailbox *mb;

	memset(&spec, 0, sizeof(spec));
	memcpy(spec.sender_claim, claim, MAILBOX_CLAIM_LEN);
	spec.rights = MAILBOX_READ | MAILBOX_DELETE;
	spec.expires_at = fz->now + 1;
	spec.payload_type.ptr = "t";
	spec.payload_type.len = 1;
	spec.payload_data.ptr = "AAAA";
	spec.payload_data.len = 4;
	spec.title.ptr = "t";
	spec.title.len = 1;
	spec.description.ptr = "";
	spec.image_url.ptr = "https://x";
	spec.image_url.len = 9;
	FUZZ_CHECK(store_create(fz->store, &spec, &mb) == STORE_OK,
	    "an empty store takes a small mailbox");
	store_record_set(fz->store, claim, mb, STORE_OP_CREATE, 0, "r", 1);
	store_delete(fz->store, mb);
}

static void fuzz_init(struct fuzz *fz, const uint8_t *data, size_t size)
{
	static const uint8_t addr_a[4] = { 192, 0, 2, 1 };
	static const uint8_t addr_b[16] = { 0x20, 0x01, 0x0d, 0xb8, [15] = 1 };
	struct ratelimit_rule rules[RATELIMIT_KINDS];
	struct api_config config;
	uint8_t key[SIPHASH_KEY_LEN];
	size_t at = 0;

	memset(fz, 0, sizeof(*fz));
	fz->data = data;
	fz->size = size;
	fz->now = FUZZ_NOW;
	/* A third of the inputs get limits they can reach. */
	if (size % 3 == 0) {
		fz->store_limits.max_mailboxes = 4;
		fz->store_limits.max_bytes = 8192;
		fz->store_limits.max_owner_bytes = 4096;
	} else {
		fz->store_limits.max_mailboxes = 1000;
		fz->store_limits.max_bytes = (size_t)4 << 20;
	}
	fz->store = store_new(&fz->store_limits, fuzz_random, &fz->counter);
	FUZZ_CHECK(fz->store != NULL, "store_new with a working random function");
	/* Tables and the expiry heap keep their smallest size once used:
	 * that, not a store never used, is what "empty" comes back to. */
	fuzz_store_cycle(fz);
	fz->baseline_bytes = store_stats(fz->store).bytes;

	memset(rules, 0, sizeof(rules));
	rules[RATELIMIT_CREATE] = (struct ratelimit_rule){ .per = 1, .period_ms = 20000, .burst = 3 };
	rules[RATELIMIT_FAIL] = (struct ratelimit_rule){ .per = 1, .period_ms = 5000, .burst = 4 };
	fuzz_random(&fz->counter, key, sizeof(key));
	fz->limits = ratelimit_new(rules, 2, key);
	FUZZ_CHECK(fz->limits != NULL, "ratelimit_new");
	{
		/* One long-poll per address: the second parks only from the
		 * other address. */
		size_t quota_limits[QUOTA_KINDS] = { 0, 1, 0 };

		fz->quota = quota_new(quota_limits, key);
	}

	memset(&config, 0, sizeof(config));
	config.public_url = FUZZ_BASE;
	config.default_ttl = FUZZ_DEFAULT_TTL;
	config.max_ttl = FUZZ_MAX_TTL;
	config.max_wait = FUZZ_MAX_WAIT;
	config.hsts = (int)(size & 1);
	config.limits = fz->limits;
	config.quota = fz->quota;
	if (size & 2) {
		/* Half the inputs come from an allowed browser origin. */
		static const char *const origins[] = { "https://app.example" };

		config.cors_origins = origins;
		config.cors_origin_count = 1;
	}
	fz->api = api_new(&config, fz->store, fz->now);
	api_set_app_link(fz->api, API_APP_LINK_APPLE, "{}", 2);

	fuzz_scan_claims(fz);

	/* Connections: 0 is not rate-limited, 1 and 2 share an address, 3 is
	 * a trusted proxy whose X-Forwarded-For counts. */
	while (fz->conn_count < FUZZ_CONNS) {
		struct fuzz_conn *c = &fz->conns[fz->conn_count];
		const char *split = NULL;
		size_t end = size;

		if (fz->conn_count < FUZZ_CONNS - 1)
			split = fuzz_find((const char *)data + at, size - at, FUZZ_SPLIT,
			    FUZZ_SPLIT_LEN, 0);
		if (split != NULL)
			end = (size_t)((const uint8_t *)split - data);
		c->fz = fz;
		c->src = data + at;
		c->src_len = end - at;
		for (size_t i = 0; i < c->src_len; i++)
			c->sum += c->src[i];
		http_parser_init(&c->parser, FUZZ_MAX_HEAD, FUZZ_MAX_BODY);
		buf_init(&c->out);
		c->wait.out = &c->out;
		c->wait.ready = fuzz_ready;
		c->wait.may_park = 1;
		c->state = FUZZ_OPEN;
		c->has_client = fz->conn_count > 0;
		if (fz->conn_count == 3) {
			ratelimit_key(addr_b, sizeof(addr_b), c->client.key);
			c->client.trusted_proxy = 1;
		} else {
			ratelimit_key(addr_a, sizeof(addr_a), c->client.key);
		}
		fz->conn_count++;
		if (split == NULL)
			break;
		at = end + FUZZ_SPLIT_LEN;
	}
}

/* The connection that sends next: the first open one with bytes left, as if
 * each client waited for the ones before it; a client whose long-poll is
 * parked sends the rest of its stream only when nobody else has anything. */
static struct fuzz_conn *fuzz_next_sender(struct fuzz *fz)
{
	for (int pass = 0; pass < 2; pass++) {
		for (int i = 0; i < fz->conn_count; i++) {
			struct fuzz_conn *c = &fz->conns[i];

			if (c->fed < c->src_len &&
			    c->state == (pass == 0 ? FUZZ_OPEN : FUZZ_PARKED))
				return c;
		}
	}
	return NULL;
}

/* Parse what has arrived, including what a connection kept while its
 * long-poll was parked, until nothing is left that can be answered (one
 * connection's request may wake another). */
static void fuzz_drive_all(struct fuzz *fz)
{
	int again = 1;

	while (again) {
		again = 0;
		for (int i = 0; i < fz->conn_count; i++) {
			struct fuzz_conn *c = &fz->conns[i];

			if (c->state == FUZZ_OPEN && c->in.parsed < c->in.len) {
				fuzz_drive(c);
				again = 1;
			}
		}
	}
}

static void fuzz_run(struct fuzz *fz)
{
	for (;;) {
		struct fuzz_conn *next, *parked = NULL;

		fuzz_drive_all(fz);
		next = fuzz_next_sender(fz);
		if (next != NULL) {
			fuzz_feed(next);
			continue;
		}
		/* Everything has been sent: end the waits, one at a time. */
		for (int i = 0; i < fz->conn_count && parked == NULL; i++) {
			if (fz->conns[i].state == FUZZ_PARKED)
				parked = &fz->conns[i];
		}
		if (parked == NULL)
			break;
		switch (parked->sum % 3) {
		case 0:
			if (parked->deadline > fz->now)
				fuzz_advance(fz, parked->deadline);
			else
				fuzz_timeout(parked, 0);
			break;
		case 1: fuzz_cancel(parked); break;
		default: fuzz_timeout(parked, 1); break;
		}
	}
	/* A request left half-sent: its deadline passes (408), or the client
	 * simply goes away. */
	for (int i = 0; i < fz->conn_count; i++) {
		struct fuzz_conn *c = &fz->conns[i];

		if (c->state == FUZZ_OPEN && !http_idle(&c->parser, &c->in) && c->sum % 2)
			fuzz_refuse(c, 408);
	}
}

static void fuzz_finish(struct fuzz *fz)
{
	struct store_stats stats;

	FUZZ_CHECK(fz->parked == 0, "no long-poll is left parked");
	store_expire(fz->store, INT64_MAX / 4, SIZE_MAX);
	stats = store_stats(fz->store);
	FUZZ_CHECK(stats.mailboxes == 0 && stats.records == 0,
	    "expiry far in the future removes every mailbox and record");
	FUZZ_CHECK(stats.owners == 0, "every owner's bytes are given back");
	FUZZ_CHECK(quota_entries(fz->quota) == 0, "every long-poll's count is given back");
	/* Resizing is incremental: a few more operations bring the tables back
	 * to their smallest size. */
	for (int i = 0; i < 4096 && stats.bytes != fz->baseline_bytes; i++) {
		fuzz_store_cycle(fz);
		stats = store_stats(fz->store);
	}
	FUZZ_CHECK(stats.bytes == fz->baseline_bytes,
	    "the store's bytes come back to the empty figure once every mailbox is gone");

	for (int i = 0; i < fz->conn_count; i++) {
		struct fuzz_conn *c = &fz->conns[i];

		FUZZ_UNPOISON(c->in.data, c->in_cap);
		free(c->in.data);
		buf_free(&c->out);
	}
	api_free(fz->api);
	ratelimit_free(fz->limits);
	quota_free(fz->quota);
	store_free(fz->store);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz *fz = calloc(1, sizeof(*fz));

	FUZZ_CHECK(fz != NULL, "memory for the harness");
	fuzz_init(fz, data, size);
	fuzz_run(fz);
	fuzz_finish(fz);
	free(fz);
	return 0;
}
