/*
 * test_api.c — the relay API (protocol/api.h) driven without sockets.
 *
 * Each request is written as raw bytes, parsed by the real HTTP parser into
 * an http_input, and handed to api_handle() with a store whose random
 * generator is a counter, at a clock the test sets. The answer is read back
 * from the output buffer: status line, headers and JSON body. Long-polls
 * park on an api_wait owned by the test, which plays the connection: it
 * counts ready() calls and reads the answer from the wait's own buffer.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "protocol/api.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/container_of.h"
#include "protocol/http.h"
#include "protocol/wire.h"
#include "storage/ratelimit.h"
#include "storage/store.h"
#include "test/unit/check.h"

#define NOW 1700000000              /* Tue, 14 Nov 2023 22:13:20 GMT */
#define BASE "https://relay.example"
#define DEFAULT_TTL 3600
#define MAX_TTL (7 * 86400)
#define MAX_WAIT 60

#define CLAIM_A "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa"     /* the Sender */
#define CLAIM_B "bbbbbbbb-bbbb-4bbb-8bbb-bbbbbbbbbbbb"     /* the Receiver */
#define CLAIM_C "cccccccc-cccc-4ccc-8ccc-cccccccccccc"     /* a stranger */
#define CLAIM_D "dddddddd-dddd-4ddd-8ddd-dddddddddddd"

#define DATA_1 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
#define DATA_2 "QkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQkJCQg=="
#define DATA_3 "Q0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQ0NDQw=="
#define DATA_4 "RERERERERERERERERERERERERERERERERERERA=="

#define UPDATE_2 "{\"payload\":{\"type\":\"AEAD_AES_128_GCM\",\"data\":\"" DATA_2 "\"}}"
#define UPDATE_3 "{\"payload\":{\"type\":\"AEAD_AES_128_GCM\",\"data\":\"" DATA_3 "\"}}"
#define UPDATE_4 "{\"payload\":{\"type\":\"AEAD_AES_128_GCM\",\"data\":\"" DATA_4 "\"}}"
#define TOKEN_BODY "{\"notificationToken\":{\"type\":\"com.apple.apns\",\"tokenData\":\"TOKENDATA\"}}"

#define CSP "default-src 'none'; img-src https:; style-src 'unsafe-inline'"
#define ALLOW_MAILBOX "GET, HEAD, POST, PUT, DELETE, PATCH"

/* ---- the fixture ---- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

static int test_random(void *ctx, unsigned char *out, size_t len)
{
	uint64_t *counter = ctx, v = 0;

	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = splitmix64((*counter)++);
		out[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
	return 0;
}

struct fx {
	uint64_t counter;
	struct store *store;
	struct api *api;
	int64_t now;
	struct ratelimit *limits;           /* NULL: none */
	const struct api_client *client;    /* NULL: not rate-limited */
};

static void fx_init_limits(struct fx *fx, size_t max_mailboxes, size_t max_bytes)
{
	struct store_limits limits = { max_mailboxes, max_bytes, 0 };
	struct api_config config = { BASE, DEFAULT_TTL, MAX_TTL, MAX_WAIT, 0, NULL, NULL, NULL, NULL, { 0 },
	    NULL, 0 };

	memset(fx, 0, sizeof(*fx));
	fx->now = NOW;
	fx->store = store_new(&limits, test_random, &fx->counter);
	fx->api = api_new(&config, fx->store, fx->now);
}

static void fx_init(struct fx *fx)
{
	fx_init_limits(fx, 1000, (size_t)64 << 20);
}

/* With per-address rate limits: one create a minute, one failure a minute. */
static void fx_init_rate_limited(struct fx *fx)
{
	static const uint8_t hash_key[SIPHASH_KEY_LEN] = { 7 };
	struct ratelimit_rule rules[RATELIMIT_KINDS] = {
		[RATELIMIT_CREATE] = { 1, 60000, 1 },
		[RATELIMIT_FAIL] = { 1, 60000, 1 },
	};
	struct store_limits limits = { 1000, (size_t)64 << 20, 0 };
	struct api_config config = { BASE, DEFAULT_TTL, MAX_TTL, MAX_WAIT, 0, NULL, NULL, NULL, NULL, { 0 },
	    NULL, 0 };

	memset(fx, 0, sizeof(*fx));
	fx->now = NOW;
	fx->store = store_new(&limits, test_random, &fx->counter);
	fx->limits = ratelimit_new(rules, 1000, hash_key);
	config.limits = fx->limits;
	fx->api = api_new(&config, fx->store, fx->now);
}

static void fx_free(struct fx *fx)
{
	api_free(fx->api);
	ratelimit_free(fx->limits);
	store_free(fx->store);
}

/* A parked long-poll, as a connection would hold it. */
struct test_wait {
	struct api_wait w;
	struct buf out;
	int ready;
};

static void test_ready(struct api_wait *w)
{
	container_of(w, struct test_wait, w)->ready++;
}

static void wait_init(struct test_wait *tw)
{
	memset(tw, 0, sizeof(*tw));
	buf_init(&tw->out);
	tw->w.out = &tw->out;
	tw->w.ready = test_ready;
	tw->w.may_park = 1;
}

/* ---- replies ---- */

struct reply {
	enum api_result result;
	int close;
	int status;
	char *raw;              /* the whole response, NUL-terminated */
	size_t head_len;        /* through the blank line */
	const char *body;
	size_t body_len;
	json_t *json;           /* the body, when it is JSON */
};

static struct reply reply_parse(const char *data, size_t len)
{
	struct reply r;
	const char *end;

	memset(&r, 0, sizeof(r));
	r.raw = malloc(len + 1);
	memcpy(r.raw, data ? data : "", len);
	r.raw[len] = '\0';
	if (len > 12 && strncmp(r.raw, "HTTP/1.1 ", 9) == 0)
		r.status = atoi(r.raw + 9);
	end = strstr(r.raw, "\r\n\r\n");
	if (end == NULL) {
		r.head_len = len;
		r.body = r.raw + len;
		return r;
	}
	r.head_len = (size_t)(end - r.raw) + 4;
	r.body = r.raw + r.head_len;
	r.body_len = len - r.head_len;
	if (strstr(r.raw, "\r\nContent-Type: application/json\r\n") != NULL && r.body_len > 0)
		r.json = json_loadb(r.body, r.body_len, 0, NULL);
	return r;
}

static void reply_free(struct reply *r)
{
	free(r->raw);
	if (r->json != NULL)
		json_decref(r->json);
	memset(r, 0, sizeof(*r));
}

/* The value of a response header, or NULL. */
static const char *header(const struct reply *r, const char *name)
{
	static char value[512];
	char needle[128];
	const char *at, *eol;

	snprintf(needle, sizeof(needle), "\r\n%s: ", name);
	at = strstr(r->raw, needle);
	if (at == NULL || (size_t)(at - r->raw) >= r->head_len)
		return NULL;
	at += strlen(needle);
	eol = strstr(at, "\r\n");
	snprintf(value, sizeof(value), "%.*s", (int)(eol - at), at);
	return value;
}

static const char *json_str(const struct reply *r, const char *key)
{
	return json_string_value(json_object_get(r->json, key));
}

static const char *json_path(const struct reply *r, const char *outer, const char *key)
{
	return json_string_value(json_object_get(json_object_get(r->json, outer), key));
}

/* ---- requests ---- */

static void test_ready_unexpected(struct api_wait *w)
{
	(void)w;
	printf("    ready() on the scratch wait\n");
}

/* Parse raw bytes and answer them. A request that parks must be given a wait
 * of its own. */
static struct reply exchange(struct fx *fx, const char *text, size_t len, struct test_wait *tw)
{
	struct http_parser parser;
	struct http_input in;
	struct api_wait scratch;
	struct buf scratch_out, out;
	enum http_parse_result pr;
	struct reply r;
	int close = 0;

	http_parser_init(&parser, 8192, 65536);
	in.data = malloc(len + 1);
	memcpy(in.data, text, len);
	in.len = len;
	in.parsed = 0;
	do
		pr = http_parse(&parser, &in);
	while (pr == HTTP_PARSE_HEAD);
	if (pr != HTTP_PARSE_DONE) {
		printf("    the test request did not parse (%d, %d): %.80s\n", pr,
		    parser.error_status, text);
		free(in.data);
		memset(&r, 0, sizeof(r));
		r.raw = calloc(1, 1);
		r.status = -1;
		return r;
	}
	memset(&scratch, 0, sizeof(scratch));
	buf_init(&scratch_out);
	scratch.out = &scratch_out;
	scratch.ready = test_ready_unexpected;
	buf_init(&out);
	r.result = api_handle(fx->api, fx->now, fx->client, &parser.req, &in, &out,
	    tw ? &tw->w : &scratch, &close);
	if (tw == NULL && r.result == API_PARKED) {
		printf("    parked on the scratch wait\n");
		api_wait_cancel(&scratch);
	}
	/* The request's bytes go, as the connection reuses its buffer. */
	memset(in.data, 'X', len);
	free(in.data);
	{
		enum api_result result = r.result;

		r = reply_parse(out.data, out.len);
		r.result = result;
		r.close = close;
	}
	buf_free(&out);
	buf_free(&scratch_out);
	return r;
}

/* A request with the usual headers. claim and body may be NULL; extra holds
 * whole header lines. A non-empty body is sent as JSON unless extra names a
 * Content-Type. */
static struct reply request(struct fx *fx, const char *method, const char *target,
    const char *claim, const char *extra, const char *body, struct test_wait *tw)
{
	size_t cap = 1024 + (extra ? strlen(extra) : 0) + (body ? strlen(body) : 0);
	char *text = malloc(cap);
	size_t len;
	struct reply r;

	len = (size_t)snprintf(text, cap, "%s %s HTTP/1.1\r\nHost: relay.example\r\n", method,
	    target);
	if (claim != NULL)
		len += (size_t)snprintf(text + len, cap - len, "Mailbox-Device-Claim: %s\r\n", claim);
	if (extra != NULL)
		len += (size_t)snprintf(text + len, cap - len, "%s", extra);
	if (body != NULL) {
		if (body[0] != '\0' && (extra == NULL || strstr(extra, "Content-Type") == NULL))
			len += (size_t)snprintf(text + len, cap - len,
			    "Content-Type: application/json\r\n");
		len += (size_t)snprintf(text + len, cap - len, "Content-Length: %zu\r\n", strlen(body));
	}
	len += (size_t)snprintf(text + len, cap - len, "\r\n%s", body ? body : "");
	r = exchange(fx, text, len, tw);
	free(text);
	return r;
}

static char *mailbox_path(char *out, const char *id)
{
	sprintf(out, "/v1/m/%s", id);
	return out;
}

/* A create body; rights NULL and expires_at 0 leave mailboxConfiguration out. */
static char *create_body(char *out, size_t cap, const char *rights, int64_t expires_at)
{
	size_t len = (size_t)snprintf(out, cap,
	    "{\"payload\":{\"type\":\"AEAD_AES_128_GCM\",\"data\":\"" DATA_1 "\"},"
	    "\"displayInformation\":{\"title\":\"Car key\",\"description\":\"For the weekend\","
	    "\"imageURL\":\"https://img.example/car.png\"}");

	if (rights != NULL || expires_at != 0) {
		char when[CLOCK_RFC3339_LEN + 1];

		clock_format_rfc3339(expires_at ? expires_at : NOW + 600, when);
		len += (size_t)snprintf(out + len, cap - len, ",\"mailboxConfiguration\":{");
		if (rights != NULL)
			len += (size_t)snprintf(out + len, cap - len, "\"accessRights\":\"%s\",", rights);
		len += (size_t)snprintf(out + len, cap - len, "\"expiration\":\"%s\"}", when);
	}
	snprintf(out + len, cap - len, "}");
	return out;
}

/* Create a mailbox as claim; its id into id (37 bytes). The status. */
static int create(struct fx *fx, const char *claim, const char *rights, const char *extra,
    char *id)
{
	char body[1024];
	struct reply r = request(fx, "POST", "/v1/m", claim, extra,
	    create_body(body, sizeof(body), rights, 0), NULL);
	const char *link = json_str(&r, "urlLink");
	int status = r.status;

	id[0] = '\0';
	if (link != NULL && strlen(link) == strlen(BASE "/v1/m/") + 36)
		snprintf(id, 37, "%s", link + strlen(BASE "/v1/m/"));
	reply_free(&r);
	return status;
}

/* Read as claim; the status, and the ETag into etag when given. */
static int read_mailbox(struct fx *fx, const char *id, const char *claim, char *etag)
{
	char path[64];
	struct reply r = request(fx, "POST", mailbox_path(path, id), claim, NULL, "", NULL);
	int status = r.status;

	if (etag != NULL) {
		const char *e = header(&r, "ETag");

		snprintf(etag, 32, "%s", e ? e : "");
	}
	reply_free(&r);
	return status;
}

static int simple(struct fx *fx, const char *method, const char *id, const char *claim,
    const char *extra, const char *body)
{
	char path[64];
	struct reply r = request(fx, method, mailbox_path(path, id), claim, extra, body, NULL);
	int status = r.status;

	reply_free(&r);
	return status;
}

static struct mailbox *lookup(struct fx *fx, const char *id)
{
	uint8_t raw[MAILBOX_ID_LEN];

	if (wire_parse_uuid(id, strlen(id), raw) != 0)
		return NULL;
	return store_get(fx->store, raw, fx->now);
}

/* 1 or 0, or -1 when the mailbox is gone. */
static int bound(struct fx *fx, const char *id)
{
	struct mailbox *mb = lookup(fx, id);

	return mb != NULL ? mb->receiver_bound : -1;
}

static int is_error(const struct reply *r, int status, const char *code)
{
	int ok = r->status == status && r->json != NULL && json_str(r, "error") != NULL &&
	    strcmp(json_str(r, "error"), code) == 0 && json_str(r, "message") != NULL &&
	    header(r, "Content-Type") != NULL &&
	    strcmp(header(r, "Content-Type"), "application/json") == 0;

	if (!ok)
		printf("    expected %d %s, got: %.300s\n", status, code, r->raw);
	return ok;
}

/* ---- routing and the order of checks ---- */

static void test_route_404(void)
{
	static const char *paths[] = { "/", "/v1", "/v1/", "/v1/m/", "/v2/m", "/V1/m", "/v1/M",
	    "/v1/mx", "/v1/m/" CLAIM_A "/extra", "/v1/m/" CLAIM_A "/", "/v1/m//x",
	    "/v2/m/" CLAIM_A, "/v1/mailbox" };
	struct fx fx;

	fx_init(&fx);
	for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++) {
		struct reply r = request(&fx, "POST", paths[i], NULL,
		    "Mailbox-Request-ID: a b\r\n", "{", NULL);

		/* The route comes first: no claim, bad id, bad body notwithstanding. */
		CHECK(is_error(&r, 404, "not_found"));
		reply_free(&r);
		r = request(&fx, "GET", paths[i], NULL, NULL, NULL, NULL);
		CHECK(is_error(&r, 404, "not_found"));
		reply_free(&r);
	}
	fx_free(&fx);
}

static void test_method_405(void)
{
	static const char *collection_methods[] = { "GET", "HEAD", "PUT", "DELETE", "PATCH",
	    "OPTIONS" };
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	for (size_t i = 0; i < sizeof(collection_methods) / sizeof(collection_methods[0]); i++) {
		r = request(&fx, collection_methods[i], "/v1/m", NULL,
		    "Mailbox-Request-ID: a b\r\n", NULL, NULL);
		CHECK_EQ_INT(r.status, 405);
		CHECK_EQ_STR(header(&r, "Allow"), "POST");
		/* HEAD's missing body is test_head_never_has_body's business. */
		if (strcmp(collection_methods[i], "HEAD") != 0)
			CHECK(is_error(&r, 405, "method_not_allowed"));
		reply_free(&r);
	}
	r = request(&fx, "OPTIONS", "/v1/m/" CLAIM_A, NULL, "Mailbox-Request-ID: a b\r\n", NULL,
	    NULL);
	CHECK(is_error(&r, 405, "method_not_allowed"));
	CHECK_EQ_STR(header(&r, "Allow"), ALLOW_MAILBOX);
	reply_free(&r);
	r = request(&fx, "TRACE", "/v1/m/" CLAIM_A, CLAIM_A, NULL, NULL, NULL);
	CHECK_EQ_INT(r.status, 405);
	CHECK_EQ_STR(header(&r, "Allow"), ALLOW_MAILBOX);
	reply_free(&r);
	/* A query string does not change the route. */
	r = request(&fx, "GET", "/v1/m?x=1", NULL, NULL, NULL, NULL);
	CHECK_EQ_INT(r.status, 405);
	reply_free(&r);
	fx_free(&fx);
}

static void test_request_id_400(void)
{
	char long_id[200], extra[300], id[37];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	memset(long_id, 'r', 129);
	long_id[129] = '\0';
	/* Before the claim: none is sent here. */
	r = request(&fx, "POST", "/v1/m", NULL, "Mailbox-Request-ID: a b\r\n", "{}", NULL);
	CHECK(is_error(&r, 400, "invalid_request_id"));
	CHECK(header(&r, "Mailbox-Request-ID") == NULL);
	reply_free(&r);
	snprintf(extra, sizeof(extra), "Mailbox-Request-ID: %s\r\n", long_id);
	r = request(&fx, "POST", "/v1/m", NULL, extra, "{}", NULL);
	CHECK(is_error(&r, 400, "invalid_request_id"));
	reply_free(&r);
	r = request(&fx, "DELETE", "/v1/m/" CLAIM_A, NULL,
	    "Mailbox-Request-ID: x\r\nMailbox-Request-ID: x\r\n", NULL, NULL);
	CHECK(is_error(&r, 400, "invalid_request_id"));
	reply_free(&r);
	r = request(&fx, "POST", "/v1/m", NULL, "Mailbox-Request-ID: caf\xc3\xa9\r\n", "{}", NULL);
	CHECK(is_error(&r, 400, "invalid_request_id"));
	reply_free(&r);
	r = request(&fx, "POST", "/v1/m", NULL, "Mailbox-Request-ID:\r\n", "{}", NULL);
	CHECK(is_error(&r, 400, "invalid_request_id"));
	reply_free(&r);
	/* 128 characters is fine, and echoed. */
	long_id[128] = '\0';
	snprintf(extra, sizeof(extra), "Mailbox-Request-ID: %s\r\n", long_id);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, extra, id), 200);
	r = request(&fx, "POST", "/v1/m", NULL, extra, "{}", NULL);
	CHECK(is_error(&r, 401, "invalid_claim"));
	CHECK_EQ_STR(header(&r, "Mailbox-Request-ID"), long_id);
	reply_free(&r);
	/* The preview answers in HTML. */
	r = request(&fx, "GET", "/v1/m/" CLAIM_A, NULL, "Mailbox-Request-ID: a b\r\n", NULL,
	    NULL);
	CHECK_EQ_INT(r.status, 400);
	CHECK_EQ_STR(header(&r, "Content-Type"), "text/html; charset=utf-8");
	CHECK_EQ_STR(header(&r, "Content-Security-Policy"), CSP);
	reply_free(&r);
	fx_free(&fx);
}

static void test_claim_401(void)
{
	static const char *bad_claims[] = {
		"{" CLAIM_A "}", "urn:uuid:" CLAIM_A, "aaaaaaaaaaaa4aaa8aaaaaaaaaaaaaaaaaaa",
		"aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaa", "aaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaaa",
		"gaaaaaaa-aaaa-4aaa-8aaa-aaaaaaaaaaaa", "",
	};
	static const char *methods[] = { "POST", "PUT", "DELETE", "PATCH" };
	char id[37], path[64], big[5000], extra[5200];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	mailbox_path(path, id);
	for (size_t m = 0; m < 4; m++) {
		/* No claim: 401 even for an unknown mailbox (the claim comes first). */
		r = request(&fx, methods[m], "/v1/m/" CLAIM_C, NULL, NULL, "{", NULL);
		CHECK(is_error(&r, 401, "invalid_claim"));
		reply_free(&r);
		r = request(&fx, methods[m], path, NULL, NULL, UPDATE_2, NULL);
		CHECK(is_error(&r, 401, "invalid_claim"));
		reply_free(&r);
		for (size_t i = 0; i < sizeof(bad_claims) / sizeof(bad_claims[0]); i++) {
			r = request(&fx, methods[m], path, bad_claims[i], NULL, UPDATE_2, NULL);
			CHECK(is_error(&r, 401, "invalid_claim"));
			/* Never echoed. */
			CHECK(bad_claims[i][0] == '\0' || strstr(r.raw, bad_claims[i]) == NULL);
			reply_free(&r);
		}
		/* Sent twice, even the same value. */
		r = request(&fx, methods[m], path, CLAIM_A, "Mailbox-Device-Claim: " CLAIM_A "\r\n",
		    NULL, NULL);
		CHECK(is_error(&r, 401, "invalid_claim"));
		reply_free(&r);
	}
	r = request(&fx, "POST", "/v1/m", NULL, NULL, "{}", NULL);
	CHECK(is_error(&r, 401, "invalid_claim"));
	reply_free(&r);
	/* Before the attestation check. */
	memset(big, 'a', 4097);
	big[4097] = '\0';
	snprintf(extra, sizeof(extra), "Mailbox-Device-Attestation: %s\r\n", big);
	r = request(&fx, "POST", "/v1/m", NULL, extra, "{}", NULL);
	CHECK(is_error(&r, 401, "invalid_claim"));
	reply_free(&r);
	/* The mailbox was never touched. */
	CHECK(lookup(&fx, id) != NULL);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, NULL), 200);
	fx_free(&fx);
}

static void test_attestation_400(void)
{
	char big[5000], extra[5200], id[37];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	memset(big, 'a', 4097);
	big[4097] = '\0';
	/* Over 4 KiB: 400, before the Content-Type (415) is looked at. */
	snprintf(extra, sizeof(extra),
	    "Mailbox-Device-Attestation: %s\r\nContent-Type: text/plain\r\n", big);
	r = request(&fx, "POST", "/v1/m", CLAIM_A, extra, "{}", NULL);
	CHECK(is_error(&r, 400, "invalid_attestation"));
	CHECK(strstr(r.raw, "aaaaaaaaaaaaaaaa") == NULL);
	reply_free(&r);
	/* Twice: 400. */
	r = request(&fx, "POST", "/v1/m", CLAIM_A,
	    "Mailbox-Device-Attestation: x\r\nMailbox-Device-Attestation: y\r\n", "{}", NULL);
	CHECK(is_error(&r, 400, "invalid_attestation"));
	reply_free(&r);
	/* Exactly 4096: accepted, on create and on others. */
	big[4096] = '\0';
	snprintf(extra, sizeof(extra), "Mailbox-Device-Attestation: %s\r\n", big);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, extra, id), 200);
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, extra, UPDATE_2), 200);
	fx_free(&fx);
}

static void test_content_type_415(void)
{
	/* Which media types pass is test_headers.c's; here, that the API
	 * asks, once, in its order. */
	static const char *bad[] = {
		"Content-Type: text/plain\r\n",
		"Content-Type: application/json; charset=latin1\r\n",
		"Content-Type: application/json\r\nContent-Type: application/json\r\n",
	};
	static const char *good[] = {
		"Content-Type: application/json; charset=utf-8\r\n",
	};
	char body[1024], id[37];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	create_body(body, sizeof(body), NULL, 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = request(&fx, "POST", "/v1/m", CLAIM_A, bad[i], body, NULL);
		CHECK(is_error(&r, 415, "unsupported_media_type"));
		reply_free(&r);
		/* Before the mailbox lookup: an unknown one still gets 415. */
		r = request(&fx, "PUT", "/v1/m/" CLAIM_C, CLAIM_A, bad[i], UPDATE_2, NULL);
		CHECK(is_error(&r, 415, "unsupported_media_type"));
		reply_free(&r);
	}
	/* No Content-Type at all, with a body. */
	{
		static const char raw[] = "PUT /v1/m/cccccccc-cccc-4ccc-8ccc-cccccccccccc HTTP/1.1\r\n"
		    "Mailbox-Device-Claim: " CLAIM_A "\r\nContent-Length: 2\r\n\r\n{}";

		r = exchange(&fx, raw, sizeof(raw) - 1, NULL);
		CHECK(is_error(&r, 415, "unsupported_media_type"));
		reply_free(&r);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		char new_id[37];

		CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, good[i], new_id), 200);
	}
	/* An empty read body needs no Content-Type. */
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, NULL), 200);
	fx_free(&fx);
}

static void test_mailbox_404(void)
{
	static const char *methods[] = { "POST", "PUT", "DELETE", "PATCH" };
	char id[37];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	for (size_t m = 0; m < 4; m++) {
		const char *body = strcmp(methods[m], "PUT") == 0 ? UPDATE_2 : NULL;

		r = request(&fx, methods[m], "/v1/m/" CLAIM_C, CLAIM_A, NULL, body, NULL);
		CHECK(is_error(&r, 404, "not_found"));
		reply_free(&r);
		/* Malformed ids are unknown too; so is an unknown one in upper case. */
		r = request(&fx, methods[m], "/v1/m/CCCCCCCC-CCCC-4CCC-8CCC-CCCCCCCCCCCC", CLAIM_A,
		    NULL, body, NULL);
		CHECK(is_error(&r, 404, "not_found"));
		reply_free(&r);
		r = request(&fx, methods[m], "/v1/m/{" CLAIM_C "}", CLAIM_A, NULL, body, NULL);
		CHECK(is_error(&r, 404, "not_found"));
		reply_free(&r);
		r = request(&fx, methods[m], "/v1/m/not-a-uuid", CLAIM_A, NULL, body, NULL);
		CHECK(is_error(&r, 404, "not_found"));
		reply_free(&r);
		/* The mailbox is looked up before the body is. */
		r = request(&fx, methods[m], "/v1/m/" CLAIM_C, CLAIM_A, NULL, "{", NULL);
		CHECK(is_error(&r, 404, "not_found"));
		reply_free(&r);
	}
	fx_free(&fx);
}

/* retry (201) → authorization (401) → body (400) → store (503). */
static void test_order_after_lookup(void)
{
	char id[37], path[64], body[1024];
	struct fx fx;
	struct reply r;

	fx_init_limits(&fx, 1, (size_t)64 << 20);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "RW", "Mailbox-Request-ID: c1\r\n", id), 200);
	mailbox_path(path, id);

	/* A retry is answered before the body is checked. */
	r = request(&fx, "POST", "/v1/m", CLAIM_A, "Mailbox-Request-ID: c1\r\n", "{", NULL);
	CHECK_EQ_INT(r.status, 201);
	reply_free(&r);
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, "Mailbox-Request-ID: u1\r\n", UPDATE_2), 200);
	r = request(&fx, "PUT", path, CLAIM_A, "Mailbox-Request-ID: u1\r\n", "{", NULL);
	CHECK_EQ_INT(r.status, 201);
	reply_free(&r);

	/* Authorization before the body. */
	r = request(&fx, "PUT", path, CLAIM_C, NULL, "{", NULL);
	CHECK(is_error(&r, 401, "unauthorized"));
	reply_free(&r);
	r = request(&fx, "PUT", path, CLAIM_C, NULL, "{\"payload\":{}}", NULL);
	CHECK(is_error(&r, 401, "unauthorized"));
	reply_free(&r);
	r = request(&fx, "DELETE", path, CLAIM_C, NULL, "{", NULL);
	CHECK(is_error(&r, 401, "unauthorized"));
	reply_free(&r);

	/* The body before the store: the store is full (one mailbox). */
	r = request(&fx, "POST", "/v1/m", CLAIM_B, NULL, "{", NULL);
	CHECK(is_error(&r, 400, "bad_json"));
	reply_free(&r);
	r = request(&fx, "POST", "/v1/m", CLAIM_B, NULL, "{\"payload\":{}}", NULL);
	CHECK(is_error(&r, 400, "missing_field"));
	reply_free(&r);
	r = request(&fx, "POST", "/v1/m", CLAIM_B, NULL, create_body(body, sizeof(body), NULL, 0),
	    NULL);
	CHECK(is_error(&r, 503, "store_full"));
	CHECK_EQ_STR(header(&r, "Retry-After"), "30");
	reply_free(&r);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 1);
	fx_free(&fx);
}

static void test_store_full_bytes(void)
{
	char id[37], big_update[8192];
	struct fx fx;
	struct reply r;
	char path[64];
	size_t n;

	/* Enough for the tables and one small mailbox, not for a big update. */
	fx_init_limits(&fx, 100, 3000);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	n = (size_t)snprintf(big_update, sizeof(big_update),
	    "{\"payload\":{\"type\":\"x\",\"data\":\"");
	memset(big_update + n, 'A', 4000);
	n += 4000;
	snprintf(big_update + n, sizeof(big_update) - n, "\"}}");
	r = request(&fx, "PUT", mailbox_path(path, id), CLAIM_A, NULL, big_update, NULL);
	CHECK(is_error(&r, 503, "store_full"));
	CHECK(header(&r, "Retry-After") != NULL);
	reply_free(&r);
	/* Nothing changed. */
	r = request(&fx, "POST", path, CLAIM_A, NULL, "", NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(json_path(&r, "payload", "data"), DATA_1);
	CHECK_EQ_STR(header(&r, "ETag"), "\"1\"");
	reply_free(&r);
	fx_free(&fx);
}

/* ---- the endpoints ---- */

static void test_create_and_read(void)
{
	char id[37], path[64], etag[32], expiration[CLOCK_RFC3339_LEN + 1];
	uint8_t raw_id[16];
	struct fx fx;
	struct reply r;
	json_t *display;

	fx_init(&fx);
	{
		char body[1024];

		r = request(&fx, "POST", "/v1/m", CLAIM_A, NULL,
		    create_body(body, sizeof(body), NULL, 0), NULL);
	}
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(header(&r, "Content-Type"), "application/json");
	CHECK_EQ_STR(header(&r, "Cache-Control"), "no-store");
	CHECK_EQ_STR(header(&r, "Date"), "Tue, 14 Nov 2023 22:13:20 GMT");
	CHECK(header(&r, "Connection") == NULL);
	CHECK(json_is_false(json_object_get(r.json, "isPushNotificationSupported")));
	CHECK(json_str(&r, "urlLink") != NULL &&
	    strncmp(json_str(&r, "urlLink"), BASE "/v1/m/", strlen(BASE "/v1/m/")) == 0);
	snprintf(id, sizeof(id), "%s", json_str(&r, "urlLink") ? json_str(&r, "urlLink") +
	    strlen(BASE "/v1/m/") : "");
	/* A version-4 identifier in lower case. */
	CHECK_EQ_INT(wire_parse_uuid(id, strlen(id), raw_id), 0);
	CHECK_EQ_INT(raw_id[6] >> 4, 4);
	CHECK_EQ_INT(raw_id[8] & 0xc0, 0x80);
	CHECK(header(&r, "Content-Length") != NULL &&
	    (size_t)atoi(header(&r, "Content-Length")) == r.body_len);
	reply_free(&r);

	/* The first other claim to read becomes the Receiver. */
	CHECK_EQ_INT(bound(&fx, id), 0);
	r = request(&fx, "POST", mailbox_path(path, id), CLAIM_B, NULL, "", NULL);
	CHECK_EQ_INT(r.status, 200);
	display = json_object_get(r.json, "displayInformation");
	CHECK_EQ_STR(json_string_value(json_object_get(display, "title")), "Car key");
	CHECK_EQ_STR(json_string_value(json_object_get(display, "description")), "For the weekend");
	CHECK_EQ_STR(json_string_value(json_object_get(display, "imageURL")),
	    "https://img.example/car.png");
	CHECK_EQ_STR(json_path(&r, "payload", "type"), "AEAD_AES_128_GCM");
	CHECK_EQ_STR(json_path(&r, "payload", "data"), DATA_1);
	clock_format_rfc3339(NOW + DEFAULT_TTL, expiration);
	CHECK_EQ_STR(json_str(&r, "expiration"), expiration);
	CHECK(header(&r, "ETag") != NULL && header(&r, "ETag")[0] == '"');
	CHECK_EQ_INT(bound(&fx, id), 1);
	reply_free(&r);

	/* A second reader is refused; both parties still read. */
	r = request(&fx, "POST", path, CLAIM_C, NULL, "", NULL);
	CHECK(is_error(&r, 401, "unauthorized"));
	reply_free(&r);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, etag), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, NULL), 200);
	/* Claims compare without regard to case. */
	CHECK_EQ_INT(read_mailbox(&fx, id, "BBBBBBBB-BBBB-4BBB-8BBB-BBBBBBBBBBBB", NULL), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_D, NULL), 401);
	/* A read body with only unknown members is fine. */
	r = request(&fx, "POST", path, CLAIM_B, NULL, "{\"x\":1}", NULL);
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	r = request(&fx, "POST", path, CLAIM_B, NULL, "[]", NULL);
	CHECK(is_error(&r, 400, "bad_json"));
	reply_free(&r);
	fx_free(&fx);
}

static void test_sender_never_receiver(void)
{
	char id[37];
	struct fx fx;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	/* The Sender's reads bind nobody. */
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, NULL), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, "AAAAAAAA-AAAA-4AAA-8AAA-AAAAAAAAAAAA", NULL), 200);
	CHECK_EQ_INT(bound(&fx, id), 0);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, NULL), 200);
	CHECK_EQ_INT(bound(&fx, id), 1);
	fx_free(&fx);
}

static void test_rights_without_read(void)
{
	static const char *rights[] = { "W", "D", "WD" };
	struct fx fx;

	fx_init(&fx);
	for (size_t i = 0; i < 3; i++) {
		char id[37];

		CHECK_EQ_INT(create(&fx, CLAIM_A, rights[i], NULL, id), 200);
		CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, NULL), 401);
		CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_C, NULL), 401);
		CHECK_EQ_INT(bound(&fx, id), 0);
		/* Never bound, so never allowed to write or delete either. */
		CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_B, NULL, UPDATE_2), 401);
		CHECK_EQ_INT(simple(&fx, "DELETE", id, CLAIM_B, NULL, NULL), 401);
		CHECK_EQ_INT(simple(&fx, "PATCH", id, CLAIM_B, NULL, NULL), 401);
		CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, NULL), 200);
	}
	fx_free(&fx);
}

static void test_update_rules(void)
{
	char id_rd[37], id_rw[37], path[64];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id_rd), 200);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "RW", NULL, id_rw), 200);

	/* A claim that has not read yet is not bound. */
	CHECK_EQ_INT(simple(&fx, "PUT", id_rw, CLAIM_B, NULL, UPDATE_2), 401);
	CHECK_EQ_INT(read_mailbox(&fx, id_rd, CLAIM_B, NULL), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id_rw, CLAIM_B, NULL), 200);

	/* The Sender always. */
	r = request(&fx, "PUT", mailbox_path(path, id_rd), CLAIM_A, NULL, UPDATE_2, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.json != NULL && json_is_false(json_object_get(r.json, "isPushNotificationSupported")));
	CHECK_EQ_INT(json_object_size(r.json), 1);
	reply_free(&r);
	/* The Receiver with W only. */
	r = request(&fx, "PUT", path, CLAIM_B, NULL, UPDATE_3, NULL);
	CHECK(is_error(&r, 401, "unauthorized"));
	reply_free(&r);
	CHECK_EQ_INT(simple(&fx, "PUT", id_rw, CLAIM_B, NULL, UPDATE_3), 200);
	CHECK_EQ_INT(simple(&fx, "PUT", id_rw, CLAIM_C, NULL, UPDATE_4), 401);

	/* What the updates left. */
	r = request(&fx, "POST", mailbox_path(path, id_rd), CLAIM_B, NULL, "", NULL);
	CHECK_EQ_STR(json_path(&r, "payload", "data"), DATA_2);
	reply_free(&r);
	r = request(&fx, "POST", mailbox_path(path, id_rw), CLAIM_A, NULL, "", NULL);
	CHECK_EQ_STR(json_path(&r, "payload", "data"), DATA_3);
	reply_free(&r);

	/* The body rules apply. */
	r = request(&fx, "PUT", path, CLAIM_A, NULL, "{\"payload\":{\"type\":\"AEAD_AES_128_GCM\","
	    "\"data\":\"QQ==\"}}", NULL);
	CHECK(is_error(&r, 400, "invalid_field"));
	reply_free(&r);
	r = request(&fx, "PUT", path, CLAIM_A, NULL, "", NULL);
	CHECK(is_error(&r, 400, "bad_json"));
	reply_free(&r);
	fx_free(&fx);
}

static void test_delete_rules(void)
{
	char id_rw[37], id_rd[37], id_sender[37], path[64];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "RW", NULL, id_rw), 200);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "RD", NULL, id_rd), 200);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "R", NULL, id_sender), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id_rw, CLAIM_B, NULL), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id_rd, CLAIM_B, NULL), 200);

	/* Without D the Receiver may not. */
	r = request(&fx, "DELETE", mailbox_path(path, id_rw), CLAIM_B, NULL, NULL, NULL);
	CHECK(is_error(&r, 401, "unauthorized"));
	reply_free(&r);
	CHECK(lookup(&fx, id_rw) != NULL);
	CHECK_EQ_INT(simple(&fx, "DELETE", id_rd, CLAIM_C, NULL, NULL), 401);
	/* With D it may, once. */
	r = request(&fx, "DELETE", mailbox_path(path, id_rd), CLAIM_B, NULL, NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.json != NULL && json_is_object(r.json) && json_object_size(r.json) == 0);
	reply_free(&r);
	CHECK(lookup(&fx, id_rd) == NULL);
	r = request(&fx, "DELETE", path, CLAIM_B, NULL, NULL, NULL);
	CHECK(is_error(&r, 404, "not_found"));
	reply_free(&r);
	CHECK_EQ_INT(read_mailbox(&fx, id_rd, CLAIM_A, NULL), 404);
	/* The Sender always. */
	CHECK_EQ_INT(simple(&fx, "DELETE", id_rw, CLAIM_A, NULL, NULL), 200);
	CHECK_EQ_INT(simple(&fx, "DELETE", id_sender, CLAIM_A, NULL, NULL), 200);
	CHECK_EQ_INT(simple(&fx, "DELETE", id_sender, CLAIM_A, NULL, NULL), 404);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 0);
	fx_free(&fx);
}

static void test_relinquish(void)
{
	char id[37], path[64];
	struct mailbox *mb;
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	mailbox_path(path, id);
	/* Nobody bound yet: nobody may relinquish. */
	CHECK_EQ_INT(simple(&fx, "PATCH", id, CLAIM_B, NULL, NULL), 401);
	r = request(&fx, "POST", path, CLAIM_B, NULL, TOKEN_BODY, NULL);
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	mb = lookup(&fx, id);
	CHECK(mb != NULL);
	if (mb == NULL) {
		fx_free(&fx);
		return;
	}
	CHECK(mb->tokens[MAILBOX_RECEIVER] != NULL);
	/* Only the bound Receiver. */
	r = request(&fx, "PATCH", path, CLAIM_A, NULL, NULL, NULL);
	CHECK(is_error(&r, 401, "unauthorized"));
	reply_free(&r);
	CHECK_EQ_INT(simple(&fx, "PATCH", id, CLAIM_C, NULL, NULL), 401);
	CHECK(mb->receiver_bound);

	r = request(&fx, "PATCH", path, CLAIM_B, "Mailbox-Request-ID: rel-1\r\n", NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.json != NULL && json_object_size(r.json) == 0);
	CHECK_EQ_STR(header(&r, "Mailbox-Request-ID"), "rel-1");
	reply_free(&r);
	CHECK(!mb->receiver_bound);
	CHECK(mb->tokens[MAILBOX_RECEIVER] == NULL);
	/* Its retry is still a retry although the claim is unbound now. */
	r = request(&fx, "PATCH", path, CLAIM_B, "Mailbox-Request-ID: rel-1\r\n", NULL, NULL);
	CHECK_EQ_INT(r.status, 201);
	CHECK(r.json != NULL && json_object_size(r.json) == 0);
	reply_free(&r);
	/* A new call is not. */
	CHECK_EQ_INT(simple(&fx, "PATCH", id, CLAIM_B, "Mailbox-Request-ID: rel-2\r\n", NULL), 401);
	CHECK_EQ_INT(simple(&fx, "PATCH", id, CLAIM_B, NULL, NULL), 401);

	/* The next new claim becomes the Receiver; the old one is out. */
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_C, NULL), 200);
	CHECK(mb->receiver_bound);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, NULL), 401);
	CHECK_EQ_INT(simple(&fx, "PATCH", id, CLAIM_C, NULL, NULL), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, NULL), 200);
	fx_free(&fx);
}

/* An unbound mailbox holds a zeroed Receiver claim; the all-zero claim must
 * not pass for that Receiver, before a binding or after a relinquish. */
static void test_zero_claim(void)
{
	static const char zero[] = "00000000-0000-0000-0000-000000000000";
	char id[37];
	struct fx fx;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "RWD", NULL, id), 200);
	CHECK_EQ_INT(simple(&fx, "PUT", id, zero, NULL, UPDATE_2), 401);
	CHECK_EQ_INT(simple(&fx, "PATCH", id, zero, NULL, NULL), 401);
	CHECK_EQ_INT(simple(&fx, "DELETE", id, zero, NULL, NULL), 401);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, NULL), 200);
	CHECK_EQ_INT(simple(&fx, "PATCH", id, CLAIM_B, NULL, NULL), 200);
	CHECK_EQ_INT(simple(&fx, "PUT", id, zero, NULL, UPDATE_2), 401);
	CHECK_EQ_INT(simple(&fx, "DELETE", id, zero, NULL, NULL), 401);
	/* As an ordinary claim it may become the Receiver. */
	CHECK_EQ_INT(read_mailbox(&fx, id, zero, NULL), 200);
	CHECK_EQ_INT(bound(&fx, id), 1);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, NULL), 401);
	fx_free(&fx);
}

static void test_create_retries(void)
{
	char body[1024], link_x[128], link_y[128];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	create_body(body, sizeof(body), NULL, 0);
	r = request(&fx, "POST", "/v1/m", CLAIM_A, "Mailbox-Request-ID: X\r\n", body, NULL);
	CHECK_EQ_INT(r.status, 200);
	snprintf(link_x, sizeof(link_x), "%s", json_str(&r, "urlLink") ? json_str(&r, "urlLink") : "");
	reply_free(&r);

	/* Same id: 201, same urlLink, no new mailbox. */
	r = request(&fx, "POST", "/v1/m", CLAIM_A, "Mailbox-Request-ID: X\r\n", body, NULL);
	CHECK_EQ_INT(r.status, 201);
	CHECK_EQ_STR(json_str(&r, "urlLink"), link_x);
	CHECK(json_is_false(json_object_get(r.json, "isPushNotificationSupported")));
	CHECK_EQ_STR(header(&r, "Mailbox-Request-ID"), "X");
	reply_free(&r);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 1);

	/* Another claim with the same id is a new call. */
	r = request(&fx, "POST", "/v1/m", CLAIM_B, "Mailbox-Request-ID: X\r\n", body, NULL);
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 2);

	/* A failed call is not remembered: X is still the last. */
	r = request(&fx, "POST", "/v1/m", CLAIM_A, "Mailbox-Request-ID: Y\r\n", "{}", NULL);
	CHECK_EQ_INT(r.status, 400);
	reply_free(&r);
	r = request(&fx, "POST", "/v1/m", CLAIM_A, "Mailbox-Request-ID: X\r\n", body, NULL);
	CHECK_EQ_INT(r.status, 201);
	CHECK_EQ_STR(json_str(&r, "urlLink"), link_x);
	reply_free(&r);

	/* X, Y, X: the second X is a new call. */
	r = request(&fx, "POST", "/v1/m", CLAIM_A, "Mailbox-Request-ID: Y\r\n", body, NULL);
	CHECK_EQ_INT(r.status, 200);
	snprintf(link_y, sizeof(link_y), "%s", json_str(&r, "urlLink") ? json_str(&r, "urlLink") : "");
	CHECK(strcmp(link_y, link_x) != 0);
	reply_free(&r);
	r = request(&fx, "POST", "/v1/m", CLAIM_A, "Mailbox-Request-ID: X\r\n", body, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(json_str(&r, "urlLink") != NULL && strcmp(json_str(&r, "urlLink"), link_x) != 0 &&
	    strcmp(json_str(&r, "urlLink"), link_y) != 0);
	reply_free(&r);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 4);

	/* Without an id every call is new. */
	r = request(&fx, "POST", "/v1/m", CLAIM_D, NULL, body, NULL);
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	r = request(&fx, "POST", "/v1/m", CLAIM_D, NULL, body, NULL);
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 6);

	/* Once its mailbox is gone, a retry makes a new one. */
	{
		char id[37];

		CHECK_EQ_INT(create(&fx, CLAIM_C, NULL, "Mailbox-Request-ID: Z\r\n", id), 200);
		CHECK_EQ_INT(simple(&fx, "DELETE", id, CLAIM_C, NULL, NULL), 200);
		CHECK_EQ_INT(create(&fx, CLAIM_C, NULL, "Mailbox-Request-ID: Z\r\n", id), 200);
	}
	fx_free(&fx);
}

static void test_update_retries(void)
{
	char id[37], other[37], path[64], e1[32], e2[32], e3[32];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, other), 200);
	mailbox_path(path, id);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, e1), 200);
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, "Mailbox-Request-ID: X\r\n", UPDATE_2), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, e2), 200);
	CHECK(strcmp(e1, e2) != 0);

	/* The retry changes nothing, even with another payload. */
	r = request(&fx, "PUT", path, CLAIM_A, "Mailbox-Request-ID: X\r\n", UPDATE_3, NULL);
	CHECK_EQ_INT(r.status, 201);
	CHECK(json_is_false(json_object_get(r.json, "isPushNotificationSupported")));
	reply_free(&r);
	r = request(&fx, "POST", path, CLAIM_A, NULL, "", NULL);
	CHECK_EQ_STR(header(&r, "ETag"), e2);
	CHECK_EQ_STR(json_path(&r, "payload", "data"), DATA_2);
	reply_free(&r);

	/* The same id on another mailbox is a new call. */
	CHECK_EQ_INT(simple(&fx, "PUT", other, CLAIM_A, "Mailbox-Request-ID: X\r\n", UPDATE_3), 200);
	/* ... and it replaced the record: X on the first is new again. */
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, "Mailbox-Request-ID: X\r\n", UPDATE_3), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, e3), 200);
	CHECK(strcmp(e3, e2) != 0);
	/* A create record does not make an update a retry. */
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, "Mailbox-Request-ID: K\r\n", other), 200);
	CHECK_EQ_INT(simple(&fx, "PUT", other, CLAIM_A, "Mailbox-Request-ID: K\r\n", UPDATE_4), 200);
	fx_free(&fx);
}

static void test_etag(void)
{
	char id[37], path[64], e1[32], e[32];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "RWD", NULL, id), 200);
	mailbox_path(path, id);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e1), 200);
	CHECK(strlen(e1) >= 3 && e1[0] == '"' && e1[strlen(e1) - 1] == '"');
	/* The same for both parties, unchanged by reads and token updates. */
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, e), 200);
	CHECK_EQ_STR(e, e1);
	r = request(&fx, "POST", path, CLAIM_B, NULL, TOKEN_BODY, NULL);
	CHECK_EQ_STR(header(&r, "ETag"), e1);
	reply_free(&r);
	r = request(&fx, "POST", path, CLAIM_A, NULL, TOKEN_BODY, NULL);
	CHECK_EQ_STR(header(&r, "ETag"), e1);
	reply_free(&r);
	/* ... and by failed updates. */
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, NULL, "{\"payload\":1}"), 400);
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_C, NULL, UPDATE_2), 401);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e), 200);
	CHECK_EQ_STR(e, e1);
	/* Each payload update gives a new one, whoever writes. */
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_B, NULL, UPDATE_2), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, e), 200);
	CHECK(strcmp(e, e1) != 0);
	strcpy(e1, e);
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, NULL, UPDATE_2), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e), 200);
	CHECK(strcmp(e, e1) != 0);
	/* An update that sets a token along with the payload changes it too. */
	strcpy(e1, e);
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, NULL,
	    "{\"payload\":{\"type\":\"t\",\"data\":\"QQ==\"},"
	    "\"notificationToken\":{\"type\":\"a\",\"tokenData\":\"b\"}}"), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e), 200);
	CHECK(strcmp(e, e1) != 0);
	fx_free(&fx);
}

static void test_tokens_stored_per_party(void)
{
	static const char create_with_token[] =
	    "{\"payload\":{\"type\":\"t\",\"data\":\"QQ==\"},"
	    "\"displayInformation\":{\"title\":\"t\",\"description\":\"\",\"imageURL\":\"https://i\"},"
	    "\"notificationToken\":{\"type\":\"com.apple.apns\",\"tokenData\":\"SENDER\"}}";
	char id[37], path[64];
	struct mailbox *mb;
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	r = request(&fx, "POST", "/v1/m", CLAIM_A, NULL, create_with_token, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(json_is_false(json_object_get(r.json, "isPushNotificationSupported")));
	snprintf(id, sizeof(id), "%s", json_str(&r, "urlLink") ? json_str(&r, "urlLink") +
	    strlen(BASE "/v1/m/") : "");
	reply_free(&r);
	mb = lookup(&fx, id);
	CHECK(mb != NULL && mb->tokens[MAILBOX_SENDER] != NULL);
	if (mb == NULL || mb->tokens[MAILBOX_SENDER] == NULL) {
		fx_free(&fx);
		return;
	}
	CHECK(memcmp(mailbox_token_data(mb->tokens[MAILBOX_SENDER]), "SENDER", 6) == 0);
	CHECK(mb->tokens[MAILBOX_RECEIVER] == NULL);
	/* A binding read stores the Receiver's token; it never shows in a reply. */
	r = request(&fx, "POST", mailbox_path(path, id), CLAIM_B, NULL, TOKEN_BODY, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.raw, "TOKENDATA") == NULL);
	CHECK(strstr(r.raw, "SENDER") == NULL);
	reply_free(&r);
	CHECK(mb->tokens[MAILBOX_RECEIVER] != NULL &&
	    memcmp(mailbox_token_data(mb->tokens[MAILBOX_RECEIVER]), "TOKENDATA", 9) == 0);
	CHECK(memcmp(mailbox_token_data(mb->tokens[MAILBOX_SENDER]), "SENDER", 6) == 0);
	/* The Sender's read replaces the Sender's. */
	r = request(&fx, "POST", path, CLAIM_A, NULL,
	    "{\"notificationToken\":{\"type\":\"x\",\"tokenData\":\"NEWSENDER\"}}", NULL);
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	CHECK(memcmp(mailbox_token_data(mb->tokens[MAILBOX_SENDER]), "NEWSENDER", 9) == 0);
	CHECK(memcmp(mailbox_token_data(mb->tokens[MAILBOX_RECEIVER]), "TOKENDATA", 9) == 0);
	/* A bad token on a read: 400, and nobody is bound by it. */
	CHECK_EQ_INT(simple(&fx, "PATCH", id, CLAIM_B, NULL, NULL), 200);
	r = request(&fx, "POST", path, CLAIM_C, NULL, "{\"notificationToken\":{\"type\":\"x\"}}",
	    NULL);
	CHECK(is_error(&r, 400, "missing_field"));
	reply_free(&r);
	CHECK(!mb->receiver_bound);
	fx_free(&fx);
}

/* A token the push gateway calls dead goes, but only that very token: one
 * the party has sent since stays, and a mailbox that is gone is no error. */
static void test_drop_token(void)
{
	static const char create_with_token[] =
	    "{\"payload\":{\"type\":\"t\",\"data\":\"QQ==\"},"
	    "\"displayInformation\":{\"title\":\"t\",\"description\":\"\",\"imageURL\":\"https://i\"},"
	    "\"notificationToken\":{\"type\":\"com.apple.apns\",\"tokenData\":\"SENDER\"}}";
	struct store_bytes type = { "com.apple.apns", 14 };
	struct store_bytes old = { "OLD", 3 }, current = { "SENDER", 6 };
	uint8_t id_raw[MAILBOX_ID_LEN], unknown[MAILBOX_ID_LEN] = { 0 };
	char id[37];
	struct mailbox *mb;
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	r = request(&fx, "POST", "/v1/m", CLAIM_A, NULL, create_with_token, NULL);
	CHECK_EQ_INT(r.status, 200);
	snprintf(id, sizeof(id), "%s", json_str(&r, "urlLink") ? json_str(&r, "urlLink") +
	    strlen(BASE "/v1/m/") : "");
	reply_free(&r);
	mb = lookup(&fx, id);
	CHECK(mb != NULL && mb->tokens[MAILBOX_SENDER] != NULL);
	if (mb == NULL || mb->tokens[MAILBOX_SENDER] == NULL) {
		fx_free(&fx);
		return;
	}
	memcpy(id_raw, mailbox_id(mb), MAILBOX_ID_LEN);
	/* Not the token the Sender holds now, nor the other party's. */
	api_drop_token(fx.api, fx.now, id_raw, MAILBOX_SENDER, type, old);
	api_drop_token(fx.api, fx.now, id_raw, MAILBOX_RECEIVER, type, current);
	CHECK(mb->tokens[MAILBOX_SENDER] != NULL);
	api_drop_token(fx.api, fx.now, unknown, MAILBOX_SENDER, type, current);
	CHECK(mb->tokens[MAILBOX_SENDER] != NULL);
	api_drop_token(fx.api, fx.now, id_raw, MAILBOX_SENDER, type, current);
	CHECK(mb->tokens[MAILBOX_SENDER] == NULL);
	fx_free(&fx);
}

/* ---- If-None-Match and long-polls ---- */

static void test_if_none_match(void)
{
	char id[37], path[64], e1[32], extra[128];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	mailbox_path(path, id);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e1), 200);

	snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", e1);
	r = request(&fx, "POST", path, CLAIM_B, extra, "", NULL);
	CHECK_EQ_INT(r.result, API_DONE);
	CHECK_EQ_INT(r.status, 204);
	CHECK_EQ_STR(header(&r, "ETag"), e1);
	CHECK(header(&r, "Content-Length") == NULL);
	CHECK(header(&r, "Content-Type") == NULL);
	CHECK(header(&r, "Preference-Applied") == NULL);
	CHECK_EQ_INT(r.body_len, 0);
	reply_free(&r);

	snprintf(extra, sizeof(extra), "If-None-Match: \"x\", W/%s\r\n", e1);
	r = request(&fx, "POST", path, CLAIM_A, extra, "", NULL);
	CHECK_EQ_INT(r.status, 204);
	reply_free(&r);
	r = request(&fx, "POST", path, CLAIM_B, "If-None-Match: *\r\n", "", NULL);
	CHECK_EQ_INT(r.status, 204);
	reply_free(&r);
	r = request(&fx, "POST", path, CLAIM_B, "If-None-Match: \"ffff\"\r\n", "", NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(header(&r, "ETag"), e1);
	reply_free(&r);
	/* Still authorization first: a stranger learns nothing. */
	r = request(&fx, "POST", path, CLAIM_C, extra, "", NULL);
	CHECK_EQ_INT(r.status, 401);
	reply_free(&r);
	/* After an update the old tag no longer matches. */
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, NULL, UPDATE_2), 200);
	snprintf(extra, sizeof(extra), "If-None-Match: %s\r\n", e1);
	r = request(&fx, "POST", path, CLAIM_B, extra, "", NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(header(&r, "ETag") != NULL && strcmp(header(&r, "ETag"), e1) != 0);
	CHECK_EQ_STR(json_path(&r, "payload", "data"), DATA_2);
	reply_free(&r);
	fx_free(&fx);
}

/* Park a long-poll of claim on id with the given Prefer value. */
static struct reply park(struct fx *fx, const char *id, const char *claim, const char *etag,
    const char *prefer, struct test_wait *tw)
{
	char path[64], extra[256];

	snprintf(extra, sizeof(extra),
	    "If-None-Match: %s\r\nPrefer: %s\r\nMailbox-Request-ID: poll-1\r\n", etag, prefer);
	return request(fx, "POST", mailbox_path(path, id), claim, extra, "", tw);
}

static void test_long_poll_update(void)
{
	char id[37], e1[32], path[64];
	struct test_wait tw, tw_sender;
	struct fx fx;
	struct reply r, woken;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "RW", NULL, id), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e1), 200);
	wait_init(&tw);
	wait_init(&tw_sender);

	r = park(&fx, id, CLAIM_B, e1, "wait=10", &tw);
	CHECK_EQ_INT(r.result, API_PARKED);
	CHECK_EQ_INT(r.status, 0);      /* nothing written yet */
	CHECK_EQ_INT(tw.out.len, 0);
	CHECK_EQ_INT(tw.w.wait_s, 10);
	reply_free(&r);
	r = park(&fx, id, CLAIM_A, e1, "respond-async, wait=20", &tw_sender);
	CHECK_EQ_INT(r.result, API_PARKED);
	CHECK_EQ_INT(tw_sender.w.wait_s, 20);
	reply_free(&r);
	CHECK_EQ_INT(tw.ready, 0);

	/* A read and a token-only read wake nobody. */
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, NULL), 200);
	r = request(&fx, "POST", mailbox_path(path, id), CLAIM_A, NULL, TOKEN_BODY, NULL);
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	CHECK_EQ_INT(tw.ready + tw_sender.ready, 0);

	/* The update wakes both, each with the new content. */
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_B, NULL, UPDATE_2), 200);
	CHECK_EQ_INT(tw.ready, 1);
	CHECK_EQ_INT(tw_sender.ready, 1);
	woken = reply_parse(tw.out.data, tw.out.len);
	CHECK_EQ_INT(woken.status, 200);
	CHECK(header(&woken, "ETag") != NULL && strcmp(header(&woken, "ETag"), e1) != 0);
	CHECK_EQ_STR(json_path(&woken, "payload", "data"), DATA_2);
	CHECK_EQ_STR(header(&woken, "Mailbox-Request-ID"), "poll-1");
	CHECK_EQ_INT(atoi(header(&woken, "Content-Length") ? header(&woken, "Content-Length") : "0"),
	    woken.body_len);
	CHECK(header(&woken, "Connection") == NULL);
	reply_free(&woken);
	woken = reply_parse(tw_sender.out.data, tw_sender.out.len);
	CHECK_EQ_INT(woken.status, 200);
	reply_free(&woken);
	/* Woken once: a later update does not write again. */
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, NULL, UPDATE_3), 200);
	CHECK_EQ_INT(tw.ready, 1);
	api_wait_cancel(&tw.w);     /* harmless after the wake */
	buf_free(&tw.out);
	buf_free(&tw_sender.out);
	fx_free(&fx);
}

static void test_long_poll_delete_and_expiry(void)
{
	char id[37], id2[37], e1[32], e2[32];
	struct test_wait tw, tw2;
	struct fx fx;
	struct reply r, woken;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e1), 200);
	wait_init(&tw);
	r = park(&fx, id, CLAIM_B, e1, "wait=30", &tw);
	CHECK_EQ_INT(r.result, API_PARKED);
	reply_free(&r);
	CHECK_EQ_INT(simple(&fx, "DELETE", id, CLAIM_A, NULL, NULL), 200);
	CHECK_EQ_INT(tw.ready, 1);
	woken = reply_parse(tw.out.data, tw.out.len);
	CHECK(is_error(&woken, 404, "not_found"));
	reply_free(&woken);
	buf_free(&tw.out);

	/* Expiry ends a wait like a delete. */
	fx.now = NOW + 100;
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id2), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id2, CLAIM_B, e2), 200);
	wait_init(&tw2);
	r = park(&fx, id2, CLAIM_B, e2, "wait=60", &tw2);
	CHECK_EQ_INT(r.result, API_PARKED);
	reply_free(&r);
	CHECK_EQ_INT(api_tick(fx.api, NOW + 100 + DEFAULT_TTL - 1), 0);
	CHECK_EQ_INT(tw2.ready, 0);
	CHECK_EQ_INT(api_tick(fx.api, NOW + 100 + DEFAULT_TTL), 0);
	CHECK_EQ_INT(tw2.ready, 1);
	woken = reply_parse(tw2.out.data, tw2.out.len);
	CHECK(is_error(&woken, 404, "not_found"));
	reply_free(&woken);
	buf_free(&tw2.out);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 0);
	fx_free(&fx);
}

static void test_long_poll_timeout(void)
{
	char id[37], e1[32];
	struct test_wait tw;
	struct fx fx;
	struct reply r, timed_out;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e1), 200);

	wait_init(&tw);
	r = park(&fx, id, CLAIM_B, e1, "wait=5", &tw);
	CHECK_EQ_INT(r.result, API_PARKED);
	if (r.result == API_PARKED)
		api_wait_timeout(&tw.w, 0);
	reply_free(&r);
	timed_out = reply_parse(tw.out.data, tw.out.len);
	CHECK_EQ_INT(timed_out.status, 204);
	CHECK_EQ_STR(header(&timed_out, "ETag"), e1);
	CHECK_EQ_STR(header(&timed_out, "Preference-Applied"), "wait=5");
	CHECK_EQ_STR(header(&timed_out, "Mailbox-Request-ID"), "poll-1");
	CHECK(header(&timed_out, "Connection") == NULL);
	CHECK_EQ_INT(timed_out.body_len, 0);
	reply_free(&timed_out);
	/* Unparked: an update now leaves it alone. */
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, NULL, UPDATE_2), 200);
	CHECK_EQ_INT(tw.ready, 0);
	buf_free(&tw.out);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e1), 200);

	/* Capped by --max-wait. */
	wait_init(&tw);
	r = park(&fx, id, CLAIM_B, e1, "wait=100000000", &tw);
	CHECK_EQ_INT(r.result, API_PARKED);
	CHECK_EQ_INT(tw.w.wait_s, MAX_WAIT);
	if (r.result == API_PARKED)
		api_wait_timeout(&tw.w, 1);     /* the relay is shutting down */
	reply_free(&r);
	timed_out = reply_parse(tw.out.data, tw.out.len);
	CHECK_EQ_INT(timed_out.status, 204);
	CHECK_EQ_STR(header(&timed_out, "Preference-Applied"), "wait=60");
	CHECK_EQ_STR(header(&timed_out, "Connection"), "close");
	reply_free(&timed_out);
	buf_free(&tw.out);

	/* wait=0, or no number: answered at once. */
	wait_init(&tw);
	r = park(&fx, id, CLAIM_B, e1, "wait=0", &tw);
	CHECK_EQ_INT(r.result, API_DONE);
	CHECK_EQ_INT(r.status, 204);
	reply_free(&r);
	r = park(&fx, id, CLAIM_B, e1, "wait=", &tw);
	CHECK_EQ_INT(r.result, API_DONE);
	CHECK_EQ_INT(r.status, 204);
	reply_free(&r);
	r = park(&fx, id, CLAIM_B, e1, "waiting=5", &tw);
	CHECK_EQ_INT(r.result, API_DONE);
	reply_free(&r);
	/* A stale tag is answered at once, Prefer or not. */
	r = park(&fx, id, CLAIM_B, "\"0\"", "wait=5", &tw);
	CHECK_EQ_INT(r.result, API_DONE);
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	CHECK_EQ_INT(tw.ready, 0);
	buf_free(&tw.out);
	fx_free(&fx);
}

/* A Receiver that gives the mailbox up while it waits is not shown the next
 * version. */
static void test_long_poll_after_relinquish(void)
{
	char id[37], e1[32];
	struct test_wait tw;
	struct fx fx;
	struct reply r, woken;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e1), 200);
	wait_init(&tw);
	r = park(&fx, id, CLAIM_B, e1, "wait=30", &tw);
	CHECK_EQ_INT(r.result, API_PARKED);
	reply_free(&r);
	CHECK_EQ_INT(simple(&fx, "PATCH", id, CLAIM_B, NULL, NULL), 200);
	CHECK_EQ_INT(tw.ready, 0);
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, NULL, UPDATE_2), 200);
	CHECK_EQ_INT(tw.ready, 1);
	woken = reply_parse(tw.out.data, tw.out.len);
	CHECK_EQ_INT(woken.status, 401);
	CHECK(strstr(woken.raw, DATA_2) == NULL);
	reply_free(&woken);
	buf_free(&tw.out);
	fx_free(&fx);
}

/* ---- the preview ---- */

static void test_preview(void)
{
	char id[37], path[64];
	struct fx fx;
	struct reply get, head;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	mailbox_path(path, id);

	/* A claim on a preview is ignored, and binds nobody. */
	get = request(&fx, "GET", path, CLAIM_B, "Mailbox-Request-ID: p1\r\n", NULL, NULL);
	CHECK_EQ_INT(get.status, 200);
	CHECK_EQ_STR(header(&get, "Content-Type"), "text/html; charset=utf-8");
	CHECK_EQ_STR(header(&get, "Content-Security-Policy"), CSP);
	CHECK_EQ_STR(header(&get, "X-Content-Type-Options"), "nosniff");
	CHECK_EQ_STR(header(&get, "Referrer-Policy"), "no-referrer");
	CHECK_EQ_STR(header(&get, "Cache-Control"), "no-store");
	CHECK_EQ_STR(header(&get, "X-Robots-Tag"), "noindex, nofollow");
	CHECK_EQ_STR(header(&get, "Mailbox-Request-ID"), "p1");
	CHECK(strstr(get.body, "og:title") != NULL);
	CHECK(strstr(get.body, "content=\"Car key\"") != NULL);
	CHECK(strstr(get.body, "content=\"https://img.example/car.png\"") != NULL);
	CHECK(strstr(get.body, "<meta property=\"og:url\" content=\"" BASE "/v1/m/") != NULL);
	CHECK(strstr(get.body, id) != NULL);
	CHECK(strstr(get.body, "og:type\" content=\"website\"") != NULL);
	CHECK(strstr(get.body, "<title>Car key</title>") != NULL);
	/* Nothing secret in it. */
	CHECK(strstr(get.raw, DATA_1) == NULL);
	CHECK(strstr(get.raw, CLAIM_A) == NULL);
	CHECK(strstr(get.raw, CLAIM_B) == NULL);
	CHECK(strstr(get.raw, "ETag") == NULL);
	CHECK_EQ_INT(bound(&fx, id), 0);

	/* HEAD: the same head, no body. */
	head = request(&fx, "HEAD", path, NULL, "Mailbox-Request-ID: p1\r\n", NULL, NULL);
	CHECK_EQ_INT(head.status, 200);
	CHECK_EQ_INT(head.body_len, 0);
	CHECK_EQ_INT(atoi(header(&head, "Content-Length") ? header(&head, "Content-Length") : "0"),
	    get.body_len);
	CHECK_EQ_STR(header(&head, "Content-Security-Policy"), CSP);
	CHECK_EQ_STR(header(&head, "X-Robots-Tag"), "noindex, nofollow");
	CHECK_EQ_INT(head.head_len, get.head_len);
	reply_free(&head);
	reply_free(&get);

	/* The share URL carries ?v=..., a messenger adds its own: the same
	 * page byte for byte, og:url without the query. */
	{
		static const char *queries[] = { "?v=h", "?v=c&utm_source=chat&fbclid=Q9",
		    "?", "?v=%22%3E%3Cscript%3E", "?og:url=https://evil.example/" };
		char shared[160];
		struct reply plain = request(&fx, "GET", path, NULL, NULL, NULL, NULL);

		CHECK_EQ_INT(plain.status, 200);
		for (size_t i = 0; i < sizeof(queries) / sizeof(queries[0]); i++) {
			snprintf(shared, sizeof(shared), "%s%s", path, queries[i]);
			get = request(&fx, "GET", shared, NULL, NULL, NULL, NULL);
			CHECK_EQ_INT(get.status, 200);
			CHECK_EQ_INT(get.body_len, plain.body_len);
			CHECK(get.body_len == plain.body_len &&
			    memcmp(get.body, plain.body, plain.body_len) == 0);
			snprintf(shared, sizeof(shared), "content=\"" BASE "/v1/m/%s\"", id);
			CHECK(strstr(get.body, shared) != NULL);
			CHECK(strstr(get.body, "v=h") == NULL);
			CHECK(strstr(get.body, "evil") == NULL);
			reply_free(&get);
		}
		reply_free(&plain);
	}

	/* C can still become the Receiver. */
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_C, NULL), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, NULL), 401);

	/* Unknown or malformed ids: 404 pages with the same CSP. */
	{
		static const char *paths[] = { "/v1/m/" CLAIM_D, "/v1/m/nope",
		    "/v1/m/DDDDDDDD-DDDD-4DDD-8DDD-DDDDDDDDDDDD" };

		for (size_t i = 0; i < 3; i++) {
			get = request(&fx, "GET", paths[i], NULL, NULL, NULL, NULL);
			CHECK_EQ_INT(get.status, 404);
			CHECK_EQ_STR(header(&get, "Content-Type"), "text/html; charset=utf-8");
			CHECK_EQ_STR(header(&get, "Content-Security-Policy"), CSP);
			CHECK_EQ_STR(header(&get, "X-Content-Type-Options"), "nosniff");
			CHECK_EQ_STR(header(&get, "X-Robots-Tag"), "noindex, nofollow");
			CHECK(strstr(get.body, "<html") != NULL);
			reply_free(&get);
			head = request(&fx, "HEAD", paths[i], NULL, NULL, NULL, NULL);
			CHECK_EQ_INT(head.status, 404);
			CHECK_EQ_INT(head.body_len, 0);
			reply_free(&head);
		}
	}
	fx_free(&fx);
}

static void test_preview_escapes_display(void)
{
	static const char body[] =
	    "{\"payload\":{\"type\":\"t\",\"data\":\"QQ==\"},"
	    "\"displayInformation\":{\"title\":\"<script>alert(1)</script>\","
	    "\"description\":\"\\\"><img src=x onerror=alert(1)>\","
	    "\"imageURL\":\"https://x/\\\"onload=\\\"alert(1)\"}}";
	char id[37], path[64];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	r = request(&fx, "POST", "/v1/m", CLAIM_A, NULL, body, NULL);
	CHECK_EQ_INT(r.status, 200);
	snprintf(id, sizeof(id), "%s", json_str(&r, "urlLink") ? json_str(&r, "urlLink") +
	    strlen(BASE "/v1/m/") : "");
	reply_free(&r);
	r = request(&fx, "GET", mailbox_path(path, id), NULL, NULL, NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.body, "<script") == NULL);
	CHECK(strstr(r.body, "<img src=x") == NULL);
	CHECK(strstr(r.body, "\"onload") == NULL);
	CHECK(strstr(r.body, "&lt;script&gt;") != NULL);
	reply_free(&r);
	/* And the JSON read gives the text back exactly. */
	r = request(&fx, "POST", path, CLAIM_B, NULL, "", NULL);
	CHECK_EQ_STR(json_path(&r, "displayInformation", "title"), "<script>alert(1)</script>");
	CHECK_EQ_STR(json_path(&r, "displayInformation", "imageURL"),
	    "https://x/\"onload=\"alert(1)");
	reply_free(&r);
	fx_free(&fx);
}

/* ---- time ---- */

static void test_expired(void)
{
	char id[37], path[64], body[1024];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "RWD", NULL, id), 200);       /* expires NOW + 600 */
	mailbox_path(path, id);
	fx.now = NOW + 599;
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, NULL), 200);
	fx.now = NOW + 600;
	r = request(&fx, "POST", path, CLAIM_B, NULL, "", NULL);
	CHECK(is_error(&r, 404, "not_found"));
	reply_free(&r);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, NULL), 404);
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, NULL, UPDATE_2), 404);
	CHECK_EQ_INT(simple(&fx, "PATCH", id, CLAIM_B, NULL, NULL), 404);
	CHECK_EQ_INT(simple(&fx, "DELETE", id, CLAIM_A, NULL, NULL), 404);
	r = request(&fx, "GET", path, NULL, NULL, NULL, NULL);
	CHECK_EQ_INT(r.status, 404);
	CHECK_EQ_STR(header(&r, "Content-Type"), "text/html; charset=utf-8");
	reply_free(&r);
	/* Still held until the tick collects it. */
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 1);
	CHECK_EQ_INT(api_tick(fx.api, fx.now), 0);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 0);

	/* The expiration a create asks for: in the future, within max-ttl. */
	fx.now = NOW;
	r = request(&fx, "POST", "/v1/m", CLAIM_A, NULL,
	    create_body(body, sizeof(body), NULL, NOW), NULL);
	CHECK(is_error(&r, 400, "invalid_field"));
	reply_free(&r);
	r = request(&fx, "POST", "/v1/m", CLAIM_A, NULL,
	    create_body(body, sizeof(body), NULL, NOW - 1), NULL);
	CHECK(is_error(&r, 400, "invalid_field"));
	reply_free(&r);
	/* Up to five minutes past the maximum is clamped to it (a phone's
	 * clock runs fast); a second more is refused. */
	r = request(&fx, "POST", "/v1/m", CLAIM_A, NULL,
	    create_body(body, sizeof(body), NULL, NOW + MAX_TTL + 301), NULL);
	CHECK(is_error(&r, 400, "invalid_field"));
	reply_free(&r);
	r = request(&fx, "POST", "/v1/m", CLAIM_A, NULL,
	    create_body(body, sizeof(body), NULL, NOW + 400 * 86400), NULL);
	CHECK(is_error(&r, 400, "invalid_field"));
	reply_free(&r);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 0);
	{
		static const int64_t past_max[] = { 1, 60, 300 };

		for (size_t i = 0; i < 3; i++) {
			char when[CLOCK_RFC3339_LEN + 1];
			struct mailbox *mb;

			r = request(&fx, "POST", "/v1/m", CLAIM_A, NULL, create_body(body,
			    sizeof(body), NULL, NOW + MAX_TTL + past_max[i]), NULL);
			CHECK_EQ_INT(r.status, 200);
			snprintf(id, sizeof(id), "%s", json_str(&r, "urlLink") ?
			    json_str(&r, "urlLink") + strlen(BASE "/v1/m/") : "");
			reply_free(&r);
			mb = lookup(&fx, id);
			CHECK(mb != NULL && mb->expiry.expires_at == NOW + MAX_TTL);
			r = request(&fx, "POST", mailbox_path(path, id), CLAIM_A, NULL, "", NULL);
			clock_format_rfc3339(NOW + MAX_TTL, when);
			CHECK_EQ_STR(json_str(&r, "expiration"), when);
			reply_free(&r);
			CHECK_EQ_INT(simple(&fx, "DELETE", id, CLAIM_A, NULL, NULL), 200);
		}
	}
	r = request(&fx, "POST", "/v1/m", CLAIM_A, NULL,
	    create_body(body, sizeof(body), NULL, NOW + MAX_TTL), NULL);
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 1);
	/* The read shows the instant asked for. */
	r = request(&fx, "POST", "/v1/m", CLAIM_A, NULL,
	    create_body(body, sizeof(body), NULL, NOW + 1), NULL);
	snprintf(id, sizeof(id), "%s", json_str(&r, "urlLink") ? json_str(&r, "urlLink") +
	    strlen(BASE "/v1/m/") : "");
	reply_free(&r);
	r = request(&fx, "POST", mailbox_path(path, id), CLAIM_A, NULL, "", NULL);
	{
		char when[CLOCK_RFC3339_LEN + 1];

		clock_format_rfc3339(NOW + 1, when);
		CHECK_EQ_STR(json_str(&r, "expiration"), when);
	}
	reply_free(&r);
	fx_free(&fx);
}

/* Collection has a budget per tick, and says when some are left. */
static void test_tick_budget(void)
{
	struct mailbox_spec spec;
	struct mailbox *mb;
	struct fx fx;
	int created = 0;

	fx_init_limits(&fx, 20000, (size_t)256 << 20);
	memset(&spec, 0, sizeof(spec));
	spec.rights = MAILBOX_READ;
	spec.payload_type = (struct store_bytes){ "t", 1 };
	spec.payload_data = (struct store_bytes){ "QQ==", 4 };
	spec.title = (struct store_bytes){ "t", 1 };
	spec.image_url = (struct store_bytes){ "https://i", 9 };
	for (int i = 0; i < 10001; i++) {
		spec.expires_at = NOW + 10 + i % 7;
		created += store_create(fx.store, &spec, &mb) == STORE_OK;
	}
	CHECK_EQ_INT(created, 10001);
	CHECK_EQ_INT(api_tick(fx.api, NOW + 9), 0);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 10001);
	CHECK(api_tick(fx.api, NOW + 100) != 0);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 1);
	CHECK_EQ_INT(api_tick(fx.api, NOW + 100), 0);
	CHECK_EQ_INT(store_stats(fx.store).mailboxes, 0);
	fx_free(&fx);
}

/* ---- headers on every answer ---- */

/* The status of a create sent through the proxy with this X-Forwarded-For
 * (NULL: none). */
static int create_via(struct fx *fx, const char *forwarded)
{
	char extra[256], id[37];

	if (forwarded == NULL)
		return create(fx, CLAIM_A, NULL, NULL, id);
	snprintf(extra, sizeof(extra), "X-Forwarded-For: %s\r\n", forwarded);
	return create(fx, CLAIM_A, NULL, extra, id);
}

/* Behind a trusted proxy every client has its bucket: each way a proxy may
 * write an address counts as that address, and an entry that is no address
 * is a client of its own, never the proxy (whose bucket all would share)
 * nor an address. One create a minute each. */
static void test_trusted_proxy_clients(void)
{
	static const uint8_t proxy_addr[4] = { 192, 0, 2, 1 };
	struct api_client proxy;
	struct fx fx;

	fx_init_rate_limited(&fx);
	memset(&proxy, 0, sizeof(proxy));
	ratelimit_key(proxy_addr, 4, proxy.key);
	proxy.trusted_proxy = 1;
	proxy.now_ms = (int64_t)NOW * 1000;
	fx.client = &proxy;

	/* An IPv4-mapped address is its IPv4 client; a port changes nothing. */
	CHECK_EQ_INT(create_via(&fx, "10.0.1.1"), 200);
	CHECK_EQ_INT(create_via(&fx, "::ffff:10.0.1.1"), 429);
	CHECK_EQ_INT(create_via(&fx, "[::ffff:10.0.1.1]:8080"), 429);
	CHECK_EQ_INT(create_via(&fx, "10.0.1.1:5555"), 429);
	CHECK_EQ_INT(create_via(&fx, "10.0.0.1:5555"), 200);
	CHECK_EQ_INT(create_via(&fx, "10.0.0.1"), 429);
	/* Brackets, with and without a port. */
	CHECK_EQ_INT(create_via(&fx, "[2001:db8::1]"), 200);
	CHECK_EQ_INT(create_via(&fx, "[2001:db8::1]:443"), 429);
	CHECK_EQ_INT(create_via(&fx, "2001:db8::1"), 429);
	CHECK_EQ_INT(create_via(&fx, "2001:db8::99"), 429);    /* the same /64 */
	/* Another mapped client is not the first one: each has its bucket
	 * (a mapped address keyed as IPv6 would share the /64 ::ffff:0:0/64). */
	CHECK_EQ_INT(create_via(&fx, "::ffff:10.0.9.9"), 200);
	CHECK_EQ_INT(create_via(&fx, "::ffff:10.0.9.8"), 200);

	/* Not an address: its own bucket, keyed by its text. Nothing is said
	 * to the server until one comes, and then only once. */
	CHECK_EQ_INT(api_forwarded_warning(fx.api), 0);
	CHECK_EQ_INT(create_via(&fx, "unknown"), 200);
	CHECK_EQ_INT(api_forwarded_warning(fx.api), 1);
	CHECK_EQ_INT(api_forwarded_warning(fx.api), 0);
	CHECK_EQ_INT(create_via(&fx, "unknown"), 429);
	CHECK_EQ_INT(create_via(&fx, "10.0.0.1, unknown"), 429);
	CHECK_EQ_INT(create_via(&fx, "_hidden"), 200);
	CHECK_EQ_INT(create_via(&fx, "192.0.2.1:http"), 200);
	CHECK_EQ_INT(create_via(&fx, "10.0.0.7, "), 200);      /* an empty last entry */
	CHECK_EQ_INT(api_forwarded_warning(fx.api), 0);
	/* None of them spent the proxy's own budget, nor an address's. */
	CHECK_EQ_INT(create_via(&fx, NULL), 200);
	CHECK_EQ_INT(create_via(&fx, NULL), 429);
	CHECK_EQ_INT(create_via(&fx, "198.51.100.1"), 200);
	/* The proxy's address named as a client is that client, as before. */
	CHECK_EQ_INT(create_via(&fx, "192.0.2.1"), 429);
	fx_free(&fx);

	/* An untrusted peer's X-Forwarded-For counts for nothing. */
	fx_init_rate_limited(&fx);
	proxy.trusted_proxy = 0;
	fx.client = &proxy;
	CHECK_EQ_INT(create_via(&fx, "10.0.1.1"), 200);
	CHECK_EQ_INT(create_via(&fx, "unknown"), 429);
	CHECK_EQ_INT(api_forwarded_warning(fx.api), 0);
	fx_free(&fx);
}

/* Each 429 and 503 is counted once, under the reason the server logs it by;
 * nothing else is. */
static void test_refusals_counted_by_reason(void)
{
	static const uint8_t addr[4] = { 192, 0, 2, 9 };
	uint64_t expect[API_REFUSALS] = { 0 };
	struct http_request req;
	struct http_input in = { NULL, 0, 0 };
	struct api_client client;
	struct buf out;
	char id[37];
	struct fx fx;

	for (int i = 0; i < API_REFUSALS; i++) {
		int status = api_refusal_status((enum api_refusal)i);

		CHECK(status == 429 || status == 503);
		CHECK(api_refusal_name((enum api_refusal)i) != NULL);
		for (int j = 0; j < i; j++)
			CHECK(strcmp(api_refusal_name((enum api_refusal)i),
			    api_refusal_name((enum api_refusal)j)) != 0);
	}
	CHECK_EQ_STR(api_refusal_name(API_REFUSED_RATE_CREATE), "rate_create");
	CHECK_EQ_STR(api_refusal_name(API_REFUSED_STORE_FULL), "store_full");

	fx_init_rate_limited(&fx);
	memset(&client, 0, sizeof(client));
	ratelimit_key(addr, 4, client.key);
	client.now_ms = (int64_t)NOW * 1000;
	fx.client = &client;
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 429);
	CHECK_EQ_INT(create(&fx, CLAIM_B, NULL, NULL, id), 429);
	expect[API_REFUSED_RATE_CREATE] = 2;
	/* A claim that fails spends the failure budget (401, not counted);
	 * the next is refused before it is looked at. */
	CHECK_EQ_INT(simple(&fx, "POST", "00000000-0000-4000-8000-000000000000", CLAIM_A, NULL,
	    ""), 404);
	CHECK_EQ_INT(simple(&fx, "DELETE", "00000000-0000-4000-8000-000000000000", "nonsense",
	    NULL, ""), 401);
	CHECK_EQ_INT(simple(&fx, "POST", "00000000-0000-4000-8000-000000000000", CLAIM_A, NULL,
	    ""), 429);
	expect[API_REFUSED_RATE_FAIL] = 1;
	for (int i = 0; i < API_REFUSALS; i++)
		CHECK_EQ_INT(api_refusals(fx.api)[i], expect[i]);
	fx_free(&fx);

	memset(expect, 0, sizeof(expect));
	fx_init_limits(&fx, 1, (size_t)64 << 20);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 503);
	expect[API_REFUSED_STORE_FULL] = 1;
	/* The answers the connection layer asks for: only 503 is a refusal. */
	memset(&req, 0, sizeof(req));
	buf_init(&out);
	api_error(fx.api, fx.now, &req, &in, 400, &out);
	api_error(fx.api, fx.now, &req, &in, 503, &out);
	buf_free(&out);
	expect[API_REFUSED_BUSY] = 1;
	for (int i = 0; i < API_REFUSALS; i++)
		CHECK_EQ_INT(api_refusals(fx.api)[i], expect[i]);
	fx_free(&fx);
}

static void test_request_id_echo(void)
{
	char id[37], path[64];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	mailbox_path(path, id);
	/* Unchanged, whatever the answer. */
	r = request(&fx, "POST", "/nowhere", NULL, "Mailbox-Request-ID: R-1!\"~\r\n", NULL, NULL);
	CHECK_EQ_INT(r.status, 404);
	CHECK_EQ_STR(header(&r, "Mailbox-Request-ID"), "R-1!\"~");
	reply_free(&r);
	r = request(&fx, "GET", "/v1/m", NULL, "Mailbox-Request-ID: R-2\r\n", NULL, NULL);
	CHECK_EQ_INT(r.status, 405);
	CHECK_EQ_STR(header(&r, "Mailbox-Request-ID"), "R-2");
	reply_free(&r);
	r = request(&fx, "POST", path, CLAIM_C, "Mailbox-Request-ID: R-3\r\n", "", NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(header(&r, "Mailbox-Request-ID"), "R-3");
	reply_free(&r);
	r = request(&fx, "POST", path, CLAIM_D, "Mailbox-Request-ID: R-4\r\n", "", NULL);
	CHECK_EQ_INT(r.status, 401);
	CHECK_EQ_STR(header(&r, "Mailbox-Request-ID"), "R-4");
	reply_free(&r);
	r = request(&fx, "PUT", path, CLAIM_A, "Mailbox-Request-ID: R-5\r\n", "{", NULL);
	CHECK_EQ_INT(r.status, 400);
	CHECK_EQ_STR(header(&r, "Mailbox-Request-ID"), "R-5");
	reply_free(&r);
	r = request(&fx, "DELETE", path, CLAIM_A, "Mailbox-Request-ID: R-6\r\n", NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(header(&r, "Mailbox-Request-ID"), "R-6");
	reply_free(&r);
	/* No header, no echo. */
	r = request(&fx, "DELETE", path, CLAIM_A, NULL, NULL, NULL);
	CHECK(header(&r, "Mailbox-Request-ID") == NULL);
	reply_free(&r);
	fx_free(&fx);
}

static void test_connection_close(void)
{
	static const char http10[] = "POST /v1/m/" CLAIM_D " HTTP/1.0\r\n"
	    "Mailbox-Device-Claim: " CLAIM_A "\r\n\r\n";
	static const char close11[] = "DELETE /v1/m/" CLAIM_D " HTTP/1.1\r\n"
	    "Connection: close\r\nMailbox-Device-Claim: " CLAIM_A "\r\n\r\n";
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	r = exchange(&fx, http10, sizeof(http10) - 1, NULL);
	CHECK_EQ_INT(r.status, 404);
	CHECK_EQ_INT(r.close, 1);
	CHECK_EQ_STR(header(&r, "Connection"), "close");
	reply_free(&r);
	r = exchange(&fx, close11, sizeof(close11) - 1, NULL);
	CHECK_EQ_INT(r.close, 1);
	CHECK_EQ_STR(header(&r, "Connection"), "close");
	reply_free(&r);
	r = request(&fx, "DELETE", "/v1/m/" CLAIM_D, CLAIM_A, NULL, NULL, NULL);
	CHECK_EQ_INT(r.close, 0);
	CHECK(header(&r, "Connection") == NULL);
	reply_free(&r);
	fx_free(&fx);
}

static void test_api_error(void)
{
	static const struct {
		int status;
		const char *code;
	} cases[] = {
		{ 400, "bad_request" }, { 408, "request_timeout" }, { 413, "payload_too_large" },
		{ 431, "headers_too_large" },
	};
	struct fx fx;

	fx_init(&fx);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_request req;
		struct http_input in = { NULL, 0, 0 };
		struct buf out;
		struct reply r;

		memset(&req, 0, sizeof(req));
		buf_init(&out);
		api_error(fx.api, fx.now, &req, &in, cases[i].status, &out);
		r = reply_parse(out.data, out.len);
		CHECK(is_error(&r, cases[i].status, cases[i].code));
		CHECK_EQ_STR(header(&r, "Connection"), "close");
		reply_free(&r);
		buf_free(&out);
	}
	fx_free(&fx);
}

/* An answer to HEAD never carries a body (RFC 9110, 9.3.2), or the client
 * would read it as the start of the next response. */
static void test_head_never_has_body(void)
{
	static const struct {
		const char *target, *extra;
		int status;
	} cases[] = {
		{ "/", NULL, 404 },                                     /* unknown path */
		{ "/v1/m", NULL, 405 },                                 /* wrong method */
		{ "/v1/m/" CLAIM_D, NULL, 404 },                        /* unknown mailbox */
		{ "/v1/m/" CLAIM_D, "Mailbox-Request-ID: a b\r\n", 400 }, /* bad request id */
	};
	struct fx fx;

	fx_init(&fx);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct reply r = request(&fx, "HEAD", cases[i].target, NULL, cases[i].extra, NULL,
		    NULL);

		CHECK_EQ_INT(r.status, cases[i].status);
		if (r.body_len != 0)
			printf("    HEAD %s: %d with a %zu-byte body\n", cases[i].target, r.status,
			    r.body_len);
		CHECK_EQ_INT(r.body_len, 0);
		reply_free(&r);
	}
	/* The parser's refusals of a HEAD request too. */
	{
		static const char raw[] = "HEAD /v1/m HTTP/1.1\r\n\r\n";
		struct http_parser parser;
		struct http_input in;
		struct buf out;
		struct reply r;

		http_parser_init(&parser, 8192, 65536);
		in.data = malloc(sizeof(raw));
		memcpy(in.data, raw, sizeof(raw));
		in.len = sizeof(raw) - 1;
		in.parsed = 0;
		CHECK_EQ_INT(http_parse(&parser, &in), HTTP_PARSE_DONE);
		buf_init(&out);
		api_error(fx.api, fx.now, &parser.req, &in, 408, &out);
		r = reply_parse(out.data, out.len);
		CHECK_EQ_INT(r.status, 408);
		CHECK_EQ_INT(r.body_len, 0);
		reply_free(&r);
		buf_free(&out);
		free(in.data);
	}
	fx_free(&fx);
}

/* A request the parser gave up on still has a complete, valid request ID
 * echoed (spec section 10). */
static void test_stream_error_echoes_request_id(void)
{
	static const char raw[] = "POST /v1/m HTTP/1.1\r\nMailbox-Request-ID: retry-7\r\n"
	    "Content-Length: 99999999\r\n\r\n";
	struct http_parser parser;
	struct http_input in;
	struct buf out;
	struct reply r;
	struct fx fx;

	fx_init(&fx);
	http_parser_init(&parser, 8192, 65536);
	in.data = malloc(sizeof(raw));
	memcpy(in.data, raw, sizeof(raw));
	in.len = sizeof(raw) - 1;
	in.parsed = 0;
	CHECK_EQ_INT(http_parse(&parser, &in), HTTP_PARSE_ERROR);
	CHECK_EQ_INT(parser.error_status, 413);
	buf_init(&out);
	api_error(fx.api, fx.now, &parser.req, &in, parser.error_status, &out);
	r = reply_parse(out.data, out.len);
	CHECK(is_error(&r, 413, "payload_too_large"));
	CHECK_EQ_STR(header(&r, "Mailbox-Request-ID"), "retry-7");
	CHECK_EQ_STR(header(&r, "Connection"), "close");
	reply_free(&r);
	buf_free(&out);
	free(in.data);
	fx_free(&fx);
}

/* ---- v1.1 ---- */

static void upper_case(char *dst, const char *src)
{
	for (; *src; src++)
		*dst++ = (char)(*src >= 'a' && *src <= 'f' ? *src - 32 : *src);
	*dst = '\0';
}

/* iOS writes UUIDs in upper case: every endpoint finds the mailbox, and
 * everything the relay writes stays lower case. */
static void test_mailbox_id_any_case(void)
{
	char id[37], upper[37], mixed[37], path[64], want[160];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "RWD", NULL, id), 200);
	upper_case(upper, id);
	CHECK(strcmp(upper, id) != 0);
	strcpy(mixed, id);
	for (int i = 0; i < 36; i += 2)
		mixed[i] = upper[i];

	/* The preview, GET and HEAD: og:url in lower case. */
	snprintf(want, sizeof(want), "<meta property=\"og:url\" content=\"" BASE "/v1/m/%s\">", id);
	r = request(&fx, "GET", mailbox_path(path, upper), NULL, NULL, NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(strstr(r.body, want) != NULL);
	CHECK(strstr(r.raw, upper) == NULL);
	reply_free(&r);
	r = request(&fx, "HEAD", mailbox_path(path, mixed), NULL, NULL, NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	r = request(&fx, "GET", mailbox_path(path, mixed), NULL, NULL, NULL, NULL);
	CHECK(strstr(r.body, want) != NULL);
	reply_free(&r);

	/* Read (binding the Receiver), update, retry, relinquish, delete. */
	CHECK_EQ_INT(read_mailbox(&fx, upper, CLAIM_B, NULL), 200);
	CHECK_EQ_INT(bound(&fx, id), 1);
	CHECK_EQ_INT(simple(&fx, "PUT", upper, CLAIM_B, "Mailbox-Request-ID: u\r\n", UPDATE_2), 200);
	/* The same call through the other spelling is its retry. */
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_B, "Mailbox-Request-ID: u\r\n", UPDATE_3), 201);
	r = request(&fx, "POST", mailbox_path(path, mixed), CLAIM_A, NULL, "", NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(json_path(&r, "payload", "data"), DATA_2);
	reply_free(&r);
	CHECK_EQ_INT(simple(&fx, "PATCH", upper, CLAIM_B, "Mailbox-Request-ID: r\r\n", NULL), 200);
	CHECK_EQ_INT(simple(&fx, "PATCH", mixed, CLAIM_B, "Mailbox-Request-ID: r\r\n", NULL), 201);
	CHECK_EQ_INT(bound(&fx, id), 0);
	CHECK_EQ_INT(simple(&fx, "DELETE", upper, CLAIM_A, NULL, NULL), 200);
	CHECK(lookup(&fx, id) == NULL);
	CHECK_EQ_INT(simple(&fx, "DELETE", id, CLAIM_A, NULL, NULL), 404);
	r = request(&fx, "GET", mailbox_path(path, upper), NULL, NULL, NULL, NULL);
	CHECK_EQ_INT(r.status, 404);
	CHECK_EQ_STR(header(&r, "X-Robots-Tag"), "noindex, nofollow");
	reply_free(&r);
	fx_free(&fx);
}

/* The ETag header of a reply, copied (32 bytes), or "". */
static void copy_etag(const struct reply *r, char *etag)
{
	const char *e = header(r, "ETag");

	snprintf(etag, 32, "%s", e ? e : "");
}

/* Create and update answers carry the ETag reads return (spec 4.1, 4.2). */
static void test_write_etags(void)
{
	char id[37], path[64], body[1024], e_read[32], e_write[32];
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	r = request(&fx, "POST", "/v1/m", CLAIM_A, "Mailbox-Request-ID: c1\r\n",
	    create_body(body, sizeof(body), "RW", 0), NULL);
	CHECK_EQ_INT(r.status, 200);
	copy_etag(&r, e_write);
	snprintf(id, sizeof(id), "%s", json_str(&r, "urlLink") ? json_str(&r, "urlLink") +
	    strlen(BASE "/v1/m/") : "");
	reply_free(&r);
	mailbox_path(path, id);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e_read), 200);
	CHECK(e_write[0] == '"');
	CHECK_EQ_STR(e_write, e_read);
	/* The retry too. */
	r = request(&fx, "POST", "/v1/m", CLAIM_A, "Mailbox-Request-ID: c1\r\n",
	    create_body(body, sizeof(body), "RW", 0), NULL);
	CHECK_EQ_INT(r.status, 201);
	CHECK_EQ_STR(header(&r, "ETag"), e_read);
	reply_free(&r);

	/* Each party's update answers the new version. */
	r = request(&fx, "PUT", path, CLAIM_B, "Mailbox-Request-ID: u1\r\n", UPDATE_2, NULL);
	CHECK_EQ_INT(r.status, 200);
	copy_etag(&r, e_write);
	reply_free(&r);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, e_read), 200);
	CHECK_EQ_STR(e_write, e_read);
	/* Its retry: the version stored now. */
	r = request(&fx, "PUT", path, CLAIM_B, "Mailbox-Request-ID: u1\r\n", UPDATE_3, NULL);
	CHECK_EQ_INT(r.status, 201);
	CHECK_EQ_STR(header(&r, "ETag"), e_read);
	reply_free(&r);
	r = request(&fx, "PUT", path, CLAIM_A, NULL, UPDATE_3, NULL);
	CHECK_EQ_INT(r.status, 200);
	copy_etag(&r, e_write);
	reply_free(&r);
	CHECK(strcmp(e_write, e_read) != 0);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e_read), 200);
	CHECK_EQ_STR(e_write, e_read);
	/* Refusals carry none. */
	r = request(&fx, "PUT", path, CLAIM_C, NULL, UPDATE_3, NULL);
	CHECK_EQ_INT(r.status, 401);
	CHECK(header(&r, "ETag") == NULL);
	reply_free(&r);
	r = request(&fx, "PUT", path, CLAIM_A, NULL, "{\"payload\":1}", NULL);
	CHECK_EQ_INT(r.status, 400);
	CHECK(header(&r, "ETag") == NULL);
	reply_free(&r);
	fx_free(&fx);
}

/* PUT with an If-Match value (NULL: none) as claim; the status (-1 for a
 * 412 that is not the spec's error), and the answer's ETag into etag. */
static int put_if_match(struct fx *fx, const char *id, const char *claim, const char *if_match,
    const char *request_id, const char *body, char *etag)
{
	char path[64], extra[512];
	struct reply r;
	int status;
	size_t len = 0;

	extra[0] = '\0';
	if (if_match != NULL)
		len += (size_t)snprintf(extra, sizeof(extra), "If-Match: %s\r\n", if_match);
	if (request_id != NULL)
		snprintf(extra + len, sizeof(extra) - len, "Mailbox-Request-ID: %s\r\n", request_id);
	r = request(fx, "PUT", mailbox_path(path, id), claim, extra, body, NULL);
	status = r.status;
	if (status == 412 && (!is_error(&r, 412, "precondition_failed") ||
	    header(&r, "ETag") != NULL))
		status = -1;
	if (etag != NULL)
		copy_etag(&r, etag);
	reply_free(&r);
	return status;
}

static void test_if_match(void)
{
	char id[37], path[64], e1[32], e2[32], e[32], tag[256], bare[32];
	struct test_wait tw;
	struct mailbox *mb;
	struct fx fx;
	struct reply r;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "RW", NULL, id), 200);
	mailbox_path(path, id);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e1), 200);
	mb = lookup(&fx, id);

	/* Matching forms go ahead. */
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_B, e1, NULL, UPDATE_2, e2), 200);
	CHECK(strcmp(e1, e2) != 0);
	snprintf(tag, sizeof(tag), "\"x\", W/\"y\",%s , \"z\"", e2);
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_A, tag, NULL, UPDATE_3, e), 200);
	snprintf(tag, sizeof(tag), ",\t%s,,", e);
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_A, tag, NULL, UPDATE_2, e2), 200);
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_A, "*", NULL, UPDATE_3, e), 200);
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_A, e, NULL, UPDATE_2, e2), 200);
	snprintf(bare, sizeof(bare), "%.*s", (int)strlen(e2) - 2, e2 + 1);

	/* Stale, weak or malformed: 412, and nothing changes. */
	wait_init(&tw);
	r = park(&fx, id, CLAIM_B, e2, "wait=30", &tw);
	CHECK_EQ_INT(r.result, API_PARKED);
	reply_free(&r);
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_B, e1, "stale", UPDATE_4, e), 412);
	CHECK_EQ_STR(e, "");
	{
		const char *forms[][3] = {      /* before, the current tag, after */
			{ "\"ffff\"", "", "" },
			{ "W/", e2, "" },               /* weak: never a strong match */
			{ "\"1\", W/", e2, "" },
			{ "", e2, e2 },                 /* two tags without a comma */
			{ "\"0", bare, "\"" },          /* another spelling */
			{ "'", bare, "'" },
			{ "", bare, "" },               /* not quoted */
			{ "\"", bare, "" },             /* not closed */
			{ "", e2, " x" },               /* a match in a malformed list */
			{ "x", e2, "" },
			{ "\" ", bare, "\"" },
			{ "", "", "" },
			{ ",", "", "" },
			{ "**", "", "" },
			{ "\"*\"", "", "" },
		};

		for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
			snprintf(tag, sizeof(tag), "%s%s%s", forms[i][0], forms[i][1], forms[i][2]);
			if (put_if_match(&fx, id, CLAIM_A, tag, NULL, UPDATE_4, NULL) != 412) {
				printf("    If-Match: %s did not give 412\n", tag);
				CHECK(0);
			}
		}
	}
	/* Sent on two lines, the list cannot be read whole: never a match. */
	snprintf(tag, sizeof(tag), "%s\r\nIf-Match: %s", e2, e2);
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_A, tag, NULL, UPDATE_4, NULL), 412);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_A, e), 200);
	CHECK_EQ_STR(e, e2);
	CHECK_EQ_INT(tw.ready, 0);
	CHECK(memcmp(mailbox_payload_data(mb->payload), "BBBB", 4) == 0);
	/* The request id of a 412 was not recorded: once the precondition
	 * holds, the same id is a new call, not a retry of the refusal. */
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_B, e2, "stale", UPDATE_4, e), 200);
	CHECK_EQ_INT(tw.ready, 1);
	CHECK(memcmp(mailbox_payload_data(mb->payload), "DDDD", 4) == 0);
	/* A refusal does not forget the claim's last success, and a retry is
	 * recognised before the precondition. */
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_B, e1, "other", UPDATE_3, NULL), 412);
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_B, e1, "stale", UPDATE_3, e2), 201);
	CHECK_EQ_STR(e2, e);
	CHECK(memcmp(mailbox_payload_data(mb->payload), "DDDD", 4) == 0);
	buf_free(&tw.out);

	/* 401 and 404 come before 412, and 412 before the body. */
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_C, "\"0\"", NULL, UPDATE_3, NULL), 401);
	CHECK_EQ_INT(put_if_match(&fx, CLAIM_D, CLAIM_A, "\"0\"", NULL, UPDATE_3, NULL), 404);
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_A, "\"0\"", NULL, "{", NULL), 412);
	/* Without If-Match the update overwrites, as before. */
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_A, NULL, NULL, UPDATE_2, NULL), 200);
	/* If-Match means nothing to a read. */
	r = request(&fx, "POST", path, CLAIM_B, "If-Match: \"0\"\r\n", "", NULL);
	CHECK_EQ_INT(r.status, 200);
	reply_free(&r);
	fx_free(&fx);
}

/* Spec 6: an update answers the waiters that do not hold the new version. */
static void test_wake_by_etag(void)
{
	char id[37], e1[32], e2[32], e3[32], list[160], e[32];
	struct test_wait named, plain, star, many;
	struct fx fx;
	struct reply r, woken;
	uint64_t v1;

	fx_init(&fx);
	CHECK_EQ_INT(create(&fx, CLAIM_A, "RWD", NULL, id), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e1), 200);
	v1 = lookup(&fx, id)->etag;
	/* The next two versions, as the relay spells them. */
	snprintf(e2, sizeof(e2), "\"%llx\"", (unsigned long long)(v1 + 1));
	snprintf(e3, sizeof(e3), "\"%llx\"", (unsigned long long)(v1 + 2));
	wait_init(&named);
	wait_init(&plain);
	wait_init(&star);
	wait_init(&many);

	snprintf(list, sizeof(list), "%s, W/%s", e1, e2);
	r = park(&fx, id, CLAIM_A, list, "wait=30", &named);
	CHECK_EQ_INT(r.result, API_PARKED);
	reply_free(&r);
	r = park(&fx, id, CLAIM_B, e1, "wait=30", &plain);
	CHECK_EQ_INT(r.result, API_PARKED);
	reply_free(&r);
	r = park(&fx, id, CLAIM_B, "*", "wait=30", &star);
	CHECK_EQ_INT(r.result, API_PARKED);
	reply_free(&r);
	/* More later versions than a waiter keeps: the lowest are kept. */
	snprintf(list, sizeof(list),
	    "\"%llx\", \"%llx\", \"%llx\", \"%llx\", \"%llx\", %s, %s, %s, %s",
	    (unsigned long long)(v1 + 9), (unsigned long long)(v1 + 8),
	    (unsigned long long)(v1 + 7), (unsigned long long)(v1 + 6),
	    (unsigned long long)(v1 + 5), e3, e2, e1, e3);
	r = park(&fx, id, CLAIM_A, list, "wait=30", &many);
	CHECK_EQ_INT(r.result, API_PARKED);
	reply_free(&r);
	CHECK_EQ_INT(many.w.later_count, API_WAIT_LATER);
	CHECK(many.w.later[0] == v1 + 1 && many.w.later[1] == v1 + 2 &&
	    many.w.later[2] == v1 + 5 && many.w.later[3] == v1 + 6);

	/* To the next version: the waiters that name it stay. */
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_A, NULL, NULL, UPDATE_2, e), 200);
	CHECK_EQ_STR(e, e2);
	CHECK_EQ_INT(plain.ready, 1);
	CHECK_EQ_INT(named.ready + star.ready + many.ready, 0);
	woken = reply_parse(plain.out.data, plain.out.len);
	CHECK_EQ_INT(woken.status, 200);
	CHECK_EQ_STR(header(&woken, "ETag"), e2);
	reply_free(&woken);
	/* Still on the mailbox's list, where a timeout finds it: 204 with the
	 * version it now holds. */
	CHECK(named.w.waiter.mailbox == lookup(&fx, id));
	api_wait_timeout(&named.w, 0);
	woken = reply_parse(named.out.data, named.out.len);
	CHECK_EQ_INT(woken.status, 204);
	CHECK_EQ_STR(header(&woken, "ETag"), e2);
	reply_free(&woken);
	CHECK(named.w.waiter.mailbox == NULL);

	/* The writer's flow: it long-polls with the ETag its write returned,
	 * and the other party's next write answers it. */
	buf_free(&named.out);
	wait_init(&named);
	r = park(&fx, id, CLAIM_A, e2, "wait=30", &named);
	CHECK_EQ_INT(r.result, API_PARKED);
	reply_free(&r);
	CHECK_EQ_INT(put_if_match(&fx, id, CLAIM_B, e2, NULL, UPDATE_3, e), 200);
	CHECK_EQ_STR(e, e3);
	CHECK_EQ_INT(named.ready, 1);
	woken = reply_parse(named.out.data, named.out.len);
	CHECK_EQ_INT(woken.status, 200);
	CHECK_EQ_STR(header(&woken, "ETag"), e3);
	CHECK_EQ_STR(json_path(&woken, "payload", "data"), DATA_3);
	reply_free(&woken);
	CHECK_EQ_INT(many.ready + star.ready, 0);
	/* The version after is not among the lowest kept: it wakes the list. */
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_B, NULL, UPDATE_4), 200);
	CHECK_EQ_INT(many.ready, 1);
	/* "*" names any version: only the mailbox's end answers it. */
	CHECK_EQ_INT(star.ready, 0);
	CHECK_EQ_INT(simple(&fx, "DELETE", id, CLAIM_B, NULL, NULL), 200);
	CHECK_EQ_INT(star.ready, 1);
	woken = reply_parse(star.out.data, star.out.len);
	CHECK_EQ_INT(woken.status, 404);
	reply_free(&woken);
	buf_free(&named.out);
	buf_free(&plain.out);
	buf_free(&star.out);
	buf_free(&many.out);
	fx_free(&fx);
}

/* ---- CORS (spec 4.7, v1.1) ---- */

#define APP_ORIGIN "https://app.example"
#define EXPOSED "ETag, Mailbox-Request-ID, Retry-After, Preference-Applied"
#define ALLOWED_HEADERS "Mailbox-Device-Claim, Mailbox-Request-ID, " \
	"Mailbox-Device-Attestation, Content-Type, If-None-Match, If-Match, Prefer"

static void fx_init_cors(struct fx *fx, const char *const *origins, size_t count)
{
	struct store_limits limits = { 1000, (size_t)64 << 20, 0 };
	struct api_config config = { BASE, DEFAULT_TTL, MAX_TTL, MAX_WAIT, 0, NULL, NULL, NULL, NULL, { 0 },
	    NULL, 0 };

	memset(fx, 0, sizeof(*fx));
	fx->now = NOW;
	fx->store = store_new(&limits, test_random, &fx->counter);
	config.cors_origins = origins;
	config.cors_origin_count = count;
	fx->api = api_new(&config, fx->store, fx->now);
}

/* The CORS headers of a simple answer for allow, or none of them (NULL). */
static int cors_headers(const struct reply *r, const char *allow)
{
	int ok;

	if (allow == NULL)
		ok = header(r, "Access-Control-Allow-Origin") == NULL &&
		    header(r, "Vary") == NULL && header(r, "Access-Control-Expose-Headers") == NULL;
	else
		ok = header(r, "Access-Control-Allow-Origin") != NULL &&
		    strcmp(header(r, "Access-Control-Allow-Origin"), allow) == 0 &&
		    header(r, "Vary") != NULL && strcmp(header(r, "Vary"), "Origin") == 0 &&
		    header(r, "Access-Control-Expose-Headers") != NULL &&
		    strcmp(header(r, "Access-Control-Expose-Headers"), EXPOSED) == 0;
	/* Credentials are never allowed, and preflight headers only on 204. */
	ok = ok && header(r, "Access-Control-Allow-Credentials") == NULL &&
	    (r->status == 204 || header(r, "Access-Control-Allow-Methods") == NULL);
	if (!ok)
		printf("    expected CORS headers for %s, got: %.600s\n", allow ? allow : "none",
		    r->raw);
	return ok;
}

static void test_cors_every_answer(void)
{
	static const char *const origins[] = { APP_ORIGIN, "http://localhost:3000" };
	static const struct {
		const char *method, *target, *claim, *extra, *body;
		int status;
	} cases[] = {
		{ "POST", "/v1/m", CLAIM_A, NULL, "{}", 400 },
		{ "POST", "/v1/m", NULL, NULL, "{}", 401 },
		{ "POST", "/v1/m", CLAIM_A, "Content-Type: text/plain\r\n", "{}", 415 },
		{ "GET", "/v1/m", NULL, NULL, NULL, 405 },
		{ "GET", "/nothing", NULL, NULL, NULL, 404 },
		{ "POST", "/v1/m/" CLAIM_D, CLAIM_A, NULL, "", 404 },
		{ "GET", "/v1/m/" CLAIM_D, NULL, NULL, NULL, 404 },     /* the HTML 404 */
		{ "POST", "/v1/m", CLAIM_A, "Mailbox-Request-ID: \r\n", "{}", 400 },
	};
	static const char *const strangers[] = {
		"Origin: https://app.example:443\r\n",          /* browsers never send it */
		"Origin: https://app.example:8443\r\n",
		"Origin: http://app.example\r\n",
		"Origin: HTTPS://APP.EXAMPLE\r\n",
		"Origin: https://App.example\r\n",
		"Origin: https://app.example/\r\n",
		"Origin: https://app.example.evil.example\r\n",
		"Origin: https://evil.app.example\r\n",
		"Origin: https://app.exampl\r\n",
		"Origin: null\r\n",
		"Origin: \r\n",
		"Origin: *\r\n",
		"Origin: https://app.example, https://app.example\r\n",
		"Origin: https://app.example\r\nOrigin: https://app.example\r\n",   /* twice */
		"Origin: https://evil.example\r\nOrigin: https://app.example\r\n",
	};
	char id[37], path[64], body[1024], extra[256];
	struct reply r;
	struct fx fx;

	fx_init_cors(&fx, origins, 2);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, "Origin: " APP_ORIGIN "\r\n", id), 200);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(extra, sizeof(extra), "Origin: http://localhost:3000\r\n%s",
		    cases[i].extra ? cases[i].extra : "");
		r = request(&fx, cases[i].method, cases[i].target, cases[i].claim, extra,
		    cases[i].body, NULL);
		CHECK_EQ_INT(r.status, cases[i].status);
		CHECK(cors_headers(&r, "http://localhost:3000"));
		reply_free(&r);
	}
	/* A successful create, read and preview. */
	r = request(&fx, "POST", "/v1/m", CLAIM_A, "Origin: " APP_ORIGIN "\r\n",
	    create_body(body, sizeof(body), NULL, 0), NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(cors_headers(&r, APP_ORIGIN));
	reply_free(&r);
	r = request(&fx, "POST", mailbox_path(path, id), CLAIM_B, "Origin: " APP_ORIGIN "\r\n",
	    "", NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(cors_headers(&r, APP_ORIGIN));
	reply_free(&r);
	r = request(&fx, "GET", mailbox_path(path, id), NULL, "Origin: " APP_ORIGIN "\r\n",
	    NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(cors_headers(&r, APP_ORIGIN));
	reply_free(&r);
	/* No Origin, or one not listed: not a byte of CORS. */
	r = request(&fx, "POST", mailbox_path(path, id), CLAIM_B, NULL, "", NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(cors_headers(&r, NULL));
	reply_free(&r);
	for (size_t i = 0; i < sizeof(strangers) / sizeof(strangers[0]); i++) {
		r = request(&fx, "POST", mailbox_path(path, id), CLAIM_B, strangers[i], "", NULL);
		CHECK_EQ_INT(r.status, 200);
		CHECK(cors_headers(&r, NULL));
		reply_free(&r);
		r = request(&fx, "GET", "/nothing", NULL, strangers[i], NULL, NULL);
		CHECK(cors_headers(&r, NULL));
		reply_free(&r);
	}
	fx_free(&fx);
}

static void test_cors_preflight(void)
{
	static const char *const origins[] = { APP_ORIGIN };
	char id[37], path[64];
	struct reply r;
	struct fx fx;

	fx_init_cors(&fx, origins, 1);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	r = request(&fx, "OPTIONS", "/v1/m", NULL, "Origin: " APP_ORIGIN "\r\n"
	    "Access-Control-Request-Method: POST\r\n"
	    "Access-Control-Request-Headers: mailbox-device-claim, content-type\r\n", NULL, NULL);
	CHECK_EQ_INT(r.status, 204);
	CHECK(cors_headers(&r, APP_ORIGIN));
	CHECK_EQ_STR(header(&r, "Access-Control-Allow-Methods"), "POST");
	CHECK_EQ_STR(header(&r, "Access-Control-Allow-Headers"), ALLOWED_HEADERS);
	CHECK_EQ_STR(header(&r, "Access-Control-Max-Age"), "600");
	CHECK(header(&r, "Allow") == NULL);
	CHECK_EQ_INT(r.body_len, 0);
	CHECK(r.close == 0);
	reply_free(&r);
	/* A mailbox path, existing or not, with a query. */
	r = request(&fx, "OPTIONS", mailbox_path(path, id), NULL, "Origin: " APP_ORIGIN "\r\n"
	    "Access-Control-Request-Method: PUT\r\n", NULL, NULL);
	CHECK_EQ_INT(r.status, 204);
	CHECK_EQ_STR(header(&r, "Access-Control-Allow-Methods"), ALLOW_MAILBOX);
	reply_free(&r);
	r = request(&fx, "OPTIONS", "/v1/m/" CLAIM_D "?v=c", NULL, "Origin: " APP_ORIGIN "\r\n"
	    "Access-Control-Request-Method: DELETE\r\n", NULL, NULL);
	CHECK_EQ_INT(r.status, 204);
	CHECK_EQ_STR(header(&r, "Access-Control-Allow-Methods"), ALLOW_MAILBOX);
	reply_free(&r);
	/* Not a preflight: no Access-Control-Request-Method, an empty one, two. */
	r = request(&fx, "OPTIONS", "/v1/m", NULL, "Origin: " APP_ORIGIN "\r\n", NULL, NULL);
	CHECK(is_error(&r, 405, "method_not_allowed"));
	CHECK_EQ_STR(header(&r, "Allow"), "POST");
	CHECK(cors_headers(&r, APP_ORIGIN));
	reply_free(&r);
	r = request(&fx, "OPTIONS", "/v1/m", NULL, "Origin: " APP_ORIGIN "\r\n"
	    "Access-Control-Request-Method: \r\n", NULL, NULL);
	CHECK_EQ_INT(r.status, 405);
	reply_free(&r);
	r = request(&fx, "OPTIONS", "/v1/m", NULL, "Origin: " APP_ORIGIN "\r\n"
	    "Access-Control-Request-Method: POST\r\nAccess-Control-Request-Method: PUT\r\n",
	    NULL, NULL);
	CHECK_EQ_INT(r.status, 405);
	reply_free(&r);
	/* An origin not listed: as without the option. */
	r = request(&fx, "OPTIONS", "/v1/m", NULL, "Origin: https://evil.example\r\n"
	    "Access-Control-Request-Method: POST\r\n", NULL, NULL);
	CHECK(is_error(&r, 405, "method_not_allowed"));
	CHECK(cors_headers(&r, NULL));
	reply_free(&r);
	/* An unknown path is unknown to a preflight too (its answer readable). */
	r = request(&fx, "OPTIONS", "/v1/m/", NULL, "Origin: " APP_ORIGIN "\r\n"
	    "Access-Control-Request-Method: POST\r\n", NULL, NULL);
	CHECK(is_error(&r, 404, "not_found"));
	CHECK(cors_headers(&r, APP_ORIGIN));
	reply_free(&r);
	fx_free(&fx);

	/* Without --cors-origin nothing changes. */
	fx_init(&fx);
	r = request(&fx, "OPTIONS", "/v1/m", NULL, "Origin: " APP_ORIGIN "\r\n"
	    "Access-Control-Request-Method: POST\r\n", NULL, NULL);
	CHECK(is_error(&r, 405, "method_not_allowed"));
	CHECK(cors_headers(&r, NULL));
	reply_free(&r);
	fx_free(&fx);
}

/* "*": any origin a browser sends, answered as "*" (no credentials). */
static void test_cors_any_origin(void)
{
	static const char *const origins[] = { "*" };
	static const char *const sent[] = { "Origin: null\r\n", "Origin: https://x.example\r\n",
	    "Origin: capacitor://localhost\r\n" };
	struct reply r;
	struct fx fx;

	fx_init_cors(&fx, origins, 1);
	for (size_t i = 0; i < sizeof(sent) / sizeof(sent[0]); i++) {
		r = request(&fx, "GET", "/nothing", NULL, sent[i], NULL, NULL);
		CHECK(cors_headers(&r, "*"));
		reply_free(&r);
	}
	r = request(&fx, "OPTIONS", "/v1/m", NULL, "Origin: https://x.example\r\n"
	    "Access-Control-Request-Method: POST\r\n", NULL, NULL);
	CHECK_EQ_INT(r.status, 204);
	CHECK(cors_headers(&r, "*"));
	reply_free(&r);
	r = request(&fx, "GET", "/nothing", NULL, NULL, NULL, NULL);
	CHECK(cors_headers(&r, NULL));
	reply_free(&r);
	r = request(&fx, "GET", "/nothing", NULL, "Origin: \r\n", NULL, NULL);
	CHECK(cors_headers(&r, NULL));
	reply_free(&r);
	r = request(&fx, "GET", "/nothing", NULL, "Origin: https://a.example\r\n"
	    "Origin: https://b.example\r\n", NULL, NULL);
	CHECK(cors_headers(&r, NULL));
	reply_free(&r);
	fx_free(&fx);
}

/* A parked long-poll is answered later, without the request: it keeps
 * what the request was allowed. */
static void test_cors_long_poll(void)
{
	static const char *const origins[] = { APP_ORIGIN };
	char id[37], e1[32], path[64], extra[256];
	struct test_wait tw;
	struct reply r, later;
	struct fx fx;

	fx_init_cors(&fx, origins, 1);
	CHECK_EQ_INT(create(&fx, CLAIM_A, NULL, NULL, id), 200);
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e1), 200);
	snprintf(extra, sizeof(extra), "Origin: " APP_ORIGIN "\r\nIf-None-Match: %s\r\n"
	    "Prefer: wait=5\r\n", e1);

	wait_init(&tw);
	r = request(&fx, "POST", mailbox_path(path, id), CLAIM_B, extra, "", &tw);
	CHECK_EQ_INT(r.result, API_PARKED);
	if (r.result == API_PARKED)
		api_wait_timeout(&tw.w, 0);
	reply_free(&r);
	later = reply_parse(tw.out.data, tw.out.len);
	CHECK_EQ_INT(later.status, 204);
	CHECK(cors_headers(&later, APP_ORIGIN));
	reply_free(&later);
	buf_free(&tw.out);

	/* Woken by an update. */
	r = request(&fx, "POST", mailbox_path(path, id), CLAIM_B, extra, "", &tw);
	CHECK_EQ_INT(r.result, API_PARKED);
	reply_free(&r);
	CHECK_EQ_INT(simple(&fx, "PUT", id, CLAIM_A, NULL, UPDATE_2), 200);
	CHECK_EQ_INT(tw.ready, 1);
	later = reply_parse(tw.out.data, tw.out.len);
	CHECK_EQ_INT(later.status, 200);
	CHECK(cors_headers(&later, APP_ORIGIN));
	reply_free(&later);
	buf_free(&tw.out);

	/* The same wait, reused by a request without Origin: nothing left over. */
	CHECK_EQ_INT(read_mailbox(&fx, id, CLAIM_B, e1), 200);
	snprintf(extra, sizeof(extra), "If-None-Match: %s\r\nPrefer: wait=5\r\n", e1);
	r = request(&fx, "POST", mailbox_path(path, id), CLAIM_B, extra, "", &tw);
	CHECK_EQ_INT(r.result, API_PARKED);
	reply_free(&r);
	CHECK_EQ_INT(simple(&fx, "DELETE", id, CLAIM_A, NULL, NULL), 200);
	later = reply_parse(tw.out.data, tw.out.len);
	CHECK_EQ_INT(later.status, 404);
	CHECK(cors_headers(&later, NULL));
	reply_free(&later);
	buf_free(&tw.out);
	fx_free(&fx);
}

/* Requests the parser gave up on: the Origin it had read still counts. */
static void test_cors_api_error(void)
{
	static const char *const origins[] = { APP_ORIGIN };
	static char head[] = "Origin: " APP_ORIGIN;
	struct http_request req;
	struct http_input in = { head, sizeof(head) - 1, 0 };
	struct buf out;
	struct reply r;
	struct fx fx;

	fx_init_cors(&fx, origins, 1);
	memset(&req, 0, sizeof(req));
	req.header[HTTP_H_ORIGIN].off = 8;
	req.header[HTTP_H_ORIGIN].len = (uint32_t)strlen(APP_ORIGIN);
	req.header_count[HTTP_H_ORIGIN] = 1;
	buf_init(&out);
	api_error(fx.api, fx.now, &req, &in, 431, &out);
	r = reply_parse(out.data, out.len);
	CHECK(is_error(&r, 431, "headers_too_large"));
	CHECK(cors_headers(&r, APP_ORIGIN));
	reply_free(&r);
	buf_free(&out);
	fx_free(&fx);
}

/* ---- app links (spec 4.7, v1.1) ---- */

static void test_app_links(void)
{
	static const char apple[] = "{\"applinks\":{\"details\":[]}}\n";
	static const char android[] = "[ {\"relation\": [\"delegate_permission/common.handle_all_urls\"]} ]";
	static const char *const not_found[] = {
		"/.well-known/", "/.well-known", "/.well-known/assetlinks.json/",
		"/.well-known/ASSETLINKS.json", "/.well-known/../v1/m", "/.well-known/%2e%2e/v1/m",
		"/.well-known/assetlinks%2ejson", "/.well-known//assetlinks.json",
		"/.well-known/apple-app-site-association.json", "//.well-known/assetlinks.json",
		"/v1/.well-known/assetlinks.json", "/.WELL-KNOWN/assetlinks.json",
		"/.well-known/security.txt", "/.well-known/assetlinks.json%00",
	};
	static const char *const methods[] = { "POST", "PUT", "DELETE", "PATCH", "OPTIONS" };
	struct reply r;
	struct fx fx;

	fx_init(&fx);
	/* Without the files: 404, whatever the method. */
	r = request(&fx, "GET", "/.well-known/assetlinks.json", NULL, NULL, NULL, NULL);
	CHECK(is_error(&r, 404, "not_found"));
	reply_free(&r);
	r = request(&fx, "OPTIONS", "/.well-known/apple-app-site-association", NULL, NULL, NULL,
	    NULL);
	CHECK(is_error(&r, 404, "not_found"));
	reply_free(&r);

	api_set_app_link(fx.api, API_APP_LINK_APPLE, apple, sizeof(apple) - 1);
	api_set_app_link(fx.api, API_APP_LINK_ANDROID, android, sizeof(android) - 1);
	r = request(&fx, "GET", "/.well-known/apple-app-site-association", NULL, NULL, NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_STR(header(&r, "Content-Type"), "application/json");
	CHECK_EQ_STR(header(&r, "Cache-Control"), "no-store");
	CHECK(header(&r, "Location") == NULL);
	CHECK(r.body_len == sizeof(apple) - 1 && memcmp(r.body, apple, r.body_len) == 0);
	reply_free(&r);
	r = request(&fx, "GET", "/.well-known/assetlinks.json?utm_source=x", NULL, NULL, NULL,
	    NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK(r.body_len == sizeof(android) - 1 && memcmp(r.body, android, r.body_len) == 0);
	reply_free(&r);
	r = request(&fx, "HEAD", "/.well-known/assetlinks.json", NULL, NULL, NULL, NULL);
	CHECK_EQ_INT(r.status, 200);
	CHECK_EQ_INT(atoi(header(&r, "Content-Length")), sizeof(android) - 1);
	CHECK_EQ_INT(r.body_len, 0);
	reply_free(&r);
	for (size_t i = 0; i < sizeof(methods) / sizeof(methods[0]); i++) {
		r = request(&fx, methods[i], "/.well-known/assetlinks.json", CLAIM_A, NULL, NULL,
		    NULL);
		CHECK(is_error(&r, 405, "method_not_allowed"));
		CHECK_EQ_STR(header(&r, "Allow"), "GET, HEAD");
		reply_free(&r);
	}
	for (size_t i = 0; i < sizeof(not_found) / sizeof(not_found[0]); i++) {
		r = request(&fx, "GET", not_found[i], NULL, NULL, NULL, NULL);
		if (r.status != 404)
			printf("    %s answered %d\n", not_found[i], r.status);
		CHECK(is_error(&r, 404, "not_found"));
		reply_free(&r);
	}
	/* New bytes replace the old; none at all make it a 404 again. */
	api_set_app_link(fx.api, API_APP_LINK_APPLE, "[]", 2);
	api_set_app_link(fx.api, API_APP_LINK_ANDROID, NULL, 0);
	r = request(&fx, "GET", "/.well-known/apple-app-site-association", NULL, NULL, NULL, NULL);
	CHECK(r.status == 200 && r.body_len == 2 && memcmp(r.body, "[]", 2) == 0);
	reply_free(&r);
	r = request(&fx, "GET", "/.well-known/assetlinks.json", NULL, NULL, NULL, NULL);
	CHECK(is_error(&r, 404, "not_found"));
	reply_free(&r);
	r = request(&fx, "DELETE", "/.well-known/assetlinks.json", CLAIM_A, NULL, NULL, NULL);
	CHECK(is_error(&r, 404, "not_found"));
	reply_free(&r);
	fx_free(&fx);
}

int main(void)
{
	/* Lines reach a pipe even if a later test crashes. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_route_404);
	CHECK_RUN(test_stream_error_echoes_request_id);
	CHECK_RUN(test_method_405);
	CHECK_RUN(test_request_id_400);
	CHECK_RUN(test_claim_401);
	CHECK_RUN(test_attestation_400);
	CHECK_RUN(test_content_type_415);
	CHECK_RUN(test_mailbox_404);
	CHECK_RUN(test_order_after_lookup);
	CHECK_RUN(test_store_full_bytes);
	CHECK_RUN(test_refusals_counted_by_reason);
	CHECK_RUN(test_create_and_read);
	CHECK_RUN(test_sender_never_receiver);
	CHECK_RUN(test_rights_without_read);
	CHECK_RUN(test_update_rules);
	CHECK_RUN(test_delete_rules);
	CHECK_RUN(test_relinquish);
	CHECK_RUN(test_zero_claim);
	CHECK_RUN(test_create_retries);
	CHECK_RUN(test_update_retries);
	CHECK_RUN(test_etag);
	CHECK_RUN(test_tokens_stored_per_party);
	CHECK_RUN(test_drop_token);
	CHECK_RUN(test_if_none_match);
	CHECK_RUN(test_long_poll_update);
	CHECK_RUN(test_long_poll_delete_and_expiry);
	CHECK_RUN(test_long_poll_timeout);
	CHECK_RUN(test_long_poll_after_relinquish);
	CHECK_RUN(test_preview);
	CHECK_RUN(test_preview_escapes_display);
	CHECK_RUN(test_expired);
	CHECK_RUN(test_tick_budget);
	CHECK_RUN(test_request_id_echo);
	CHECK_RUN(test_connection_close);
	CHECK_RUN(test_api_error);
	CHECK_RUN(test_head_never_has_body);
	CHECK_RUN(test_trusted_proxy_clients);
	CHECK_RUN(test_mailbox_id_any_case);
	CHECK_RUN(test_write_etags);
	CHECK_RUN(test_if_match);
	CHECK_RUN(test_wake_by_etag);
	CHECK_RUN(test_cors_every_answer);
	CHECK_RUN(test_cors_preflight);
	CHECK_RUN(test_cors_any_origin);
	CHECK_RUN(test_cors_long_poll);
	CHECK_RUN(test_cors_api_error);
	CHECK_RUN(test_app_links);
	return CHECK_SUMMARY();
}
