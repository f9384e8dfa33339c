/*
 * api.c — the six endpoints of the relay API (spec sections 3 to 7).
 *
 * Each JSON endpoint checks its request in one fixed order, so that a request
 * with several faults always gets the same answer:
 *
 *   route (404) → method (405) → Mailbox-Request-ID (400) → claim (401)
 *   → rate limit (429) → attestation (400) → Content-Type of a non-empty
 *   body (415) → mailbox (404) → retry record (201) → authorization (401)
 *   → If-Match of an update (412) → body (400) → store limits (503)
 *
 * The rate limit is CreateMailbox's for the collection, and the failed-claim
 * limit for a mailbox: an address that has guessed wrong too often is
 * refused before its next guess is even looked at.
 *
 * Nothing is changed until every check has passed, so a refused request
 * leaves the mailbox as it was. Claims are compared in constant time. Error
 * messages are fixed sentences that name members, never their values.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/api.h"
#include "protocol/body.h"
#include "protocol/cors.h"
#include "protocol/headers.h"
#include "protocol/html.h"
#include "protocol/limits.h"
#include "protocol/response.h"
#include "protocol/wire.h"
#include "lib/alloc.h"
#include "lib/base64.h"
#include "lib/clock.h"
#include "lib/container_of.h"
#include "storage/access.h"
#include "storage/mailbox.h"

#define API_STORE_FULL_RETRY_AFTER 30
#define API_EXPIRE_BUDGET 10000

/* A parked long-poll keeps its Mailbox-Request-ID to echo it. */
_Static_assert(LIMITS_REQUEST_ID_MAX <= sizeof(((struct api_wait *)0)->request_id) &&
    LIMITS_REQUEST_ID_MAX <= STORE_FIELD_MAX(struct api_wait, request_id_len),
    "struct api_wait must hold a Mailbox-Request-ID");

#define API_ALLOW_COLLECTION "POST"
#define API_ALLOW_MAILBOX "GET, HEAD, POST, PUT, DELETE, PATCH"
#define API_ALLOW_APP_LINK "GET, HEAD"

/* Where each enum api_app_link is served: these exact paths, nothing else
 * under /.well-known/. */
static const char *const api_app_link_paths[API_APP_LINKS] = {
	[API_APP_LINK_APPLE] = "/.well-known/apple-app-site-association",
	[API_APP_LINK_ANDROID] = "/.well-known/assetlinks.json",
};

struct api {
	struct api_config config;
	size_t public_url_len;
	struct store *store;
	struct access_store access;     /* what each call asks */
	int64_t now;
	char date[CLOCK_HTTP_DATE_LEN + 1];
	struct buf body;        /* the response body being built */
	struct buf wake_body;   /* the same for waiters woken during a request */
	struct buf decoded;     /* a payload's bytes on their way into the store */
	struct buf versions;    /* the versions an If-Match names, for the store */
	/* A trusted proxy's X-Forwarded-For did not end in an address: 1 until
	 * the server has been told (api_forwarded_warning), then 2. */
	uint8_t forwarded_unparsed;
	const char *cors_origins[CORS_MAX_ORIGINS];     /* ours; config points here */
	uint64_t refused[API_REFUSALS];         /* answers refused, by why */
	struct api_app_link_bytes {
		char *data;             /* NULL: 404 */
		size_t len;
	} app_link[API_APP_LINKS];
};

/* One request on its way through the checks. */
struct api_call {
	struct api *api;
	const struct http_request *req;
	const struct http_input *in;
	struct buf *out;
	struct response resp;       /* headers common to every answer */
	const struct api_client *client;
	uint8_t client_key[RATELIMIT_KEY_LEN];  /* after X-Forwarded-For */
	struct http_span id;        /* the {id} path segment */
	uint8_t claim[MAILBOX_CLAIM_LEN];
	const char *body;
	size_t body_len;
	uint8_t mailbox_id[MAILBOX_ID_LEN];     /* {id}, parsed */
	struct access_request access;           /* what it asks of the store */
	struct body_error body_error;           /* why, when access.body_ok is 0 */
	struct api_wait *wait;      /* the connection's, or NULL (see api_handle) */
	/* The endpoint's answer to the store's, through api_access_done. */
	void (*answer)(struct api_call *call, const struct access_answer *a);
	uint8_t asked, answered;    /* the store was asked; it answered */
	size_t out_start;           /* where this answer begins in out */
	int *close;                 /* api_handle's, until it returns */
	enum api_result result;
	enum api_refusal refused;   /* why it got a 429 or 503; API_REFUSALS: it did not */
};

static void api_set_now(struct api *api, int64_t now)
{
	if (now != api->now || api->date[0] == '\0') {
		api->now = now;
		clock_format_http_date(now, api->date);
	}
}

struct api *api_new(const struct api_config *config, struct store *store, int64_t now)
{
	struct api *api = xcalloc(1, sizeof(*api));

	api->config = *config;
	api->config.public_url = xstrdup(config->public_url);
	api->public_url_len = strlen(api->config.public_url);
	api->store = store;
	if (config->access != NULL)
		api->access = *config->access;
	else
		access_memory(&api->access, store);
	api->config.access = NULL;
	if (api->config.cors_origin_count > CORS_MAX_ORIGINS)
		api->config.cors_origin_count = CORS_MAX_ORIGINS;
	for (size_t i = 0; i < api->config.cors_origin_count; i++)
		api->cors_origins[i] = xstrdup(config->cors_origins[i]);
	api->config.cors_origins = api->cors_origins;
	buf_init(&api->body);
	buf_init(&api->wake_body);
	buf_init(&api->decoded);
	buf_init(&api->versions);
	api_set_now(api, now);
	return api;
}

void api_free(struct api *api)
{
	if (api == NULL)
		return;
	free((char *)api->config.public_url);
	for (size_t i = 0; i < api->config.cors_origin_count; i++)
		free((char *)api->cors_origins[i]);
	for (size_t i = 0; i < API_APP_LINKS; i++)
		free(api->app_link[i].data);
	buf_free(&api->body);
	buf_free(&api->wake_body);
	buf_free(&api->decoded);
	buf_free(&api->versions);
	free(api);
}

void api_set_app_link(struct api *api, enum api_app_link which, const char *data, size_t len)
{
	char *copy = NULL;

	if (data != NULL) {
		copy = xmalloc(len ? len : 1);
		memcpy(copy, data, len);
	}
	free(api->app_link[which].data);
	api->app_link[which].data = copy;
	api->app_link[which].len = len;
}

/* --- answers ------------------------------------------------------------ */

static void api_response_init(struct api *api, struct response *r)
{
	memset(r, 0, sizeof(*r));
	r->preference_wait = -1;
	r->date = api->date;
	r->hsts = api->config.hsts;
}

static void api_send(struct api_call *call, int status, enum response_type type,
    const struct buf *body)
{
	call->resp.status = status;
	call->resp.type = type;
	response_write(call->out, &call->resp, body ? body->data : NULL, body ? body->len : 0);
}

static struct buf *api_body(struct api *api)
{
	api->body.len = 0;
	api->body.failed = 0;
	return &api->body;
}

static void api_fail(struct api_call *call, int status, const char *code, const char *message)
{
	struct buf *body = api_body(call->api);

	response_error_body(body, code, message);
	api_send(call, status, RESPONSE_JSON, body);
}

static const struct api_refusal_kind {
	const char *name;
	int status;
} api_refusal_kinds[API_REFUSALS] = {
	[API_REFUSED_RATE_CREATE] = { "rate_create", 429 },
	[API_REFUSED_RATE_FAIL] = { "rate_fail", 429 },
	[API_REFUSED_STORE_FULL] = { "store_full", 503 },
	[API_REFUSED_ADDRESS_BYTES] = { "address_bytes", 503 },
	[API_REFUSED_WAITERS] = { "waiters", 503 },
	[API_REFUSED_ADDRESS_WAITERS] = { "address_waiters", 503 },
	[API_REFUSED_BUSY] = { "busy", 503 },
	[API_REFUSED_NO_MEMORY] = { "no_memory", 503 },
	[API_REFUSED_STORE_DOWN] = { "store_down", 503 },
};

const char *api_refusal_name(enum api_refusal why)
{
	return api_refusal_kinds[why].name;
}

int api_refusal_status(enum api_refusal why)
{
	return api_refusal_kinds[why].status;
}

const uint64_t *api_refusals(const struct api *api)
{
	return api->refused;
}

static void api_fail_html(struct api_call *call, int status, const char *title)
{
	struct buf *body = api_body(call->api);

	if (status == 404)
		html_not_found_page(body);
	else
		html_error_page(body, title);
	api_send(call, status, RESPONSE_HTML, body);
}

static void api_refuse_address_waiters(struct api_call *call)
{
	call->refused = API_REFUSED_ADDRESS_WAITERS;
	call->resp.retry_after = 1;
	api_fail(call, 503, "too_many_waiters",
	    "this address holds as many long-polls as it may; poll again shortly");
}

static void api_store_failed(struct api_call *call, enum store_result result)
{
	if (result == STORE_WAITERS_FULL) {
		api_refuse_address_waiters(call);
	} else if (result == STORE_FULL) {
		call->refused = API_REFUSED_STORE_FULL;
		call->resp.retry_after = API_STORE_FULL_RETRY_AFTER;
		api_fail(call, 503, "store_full", "the relay holds as much as it may; try again later");
	} else if (result == STORE_OWNER_FULL) {
		/* The store is full for this address: the same code, so that a
		 * client written to the spec backs off the same way. */
		call->refused = API_REFUSED_ADDRESS_BYTES;
		call->resp.retry_after = API_STORE_FULL_RETRY_AFTER;
		api_fail(call, 503, "store_full", "the mailboxes created from this address hold as "
		    "many bytes as they may; delete one or try again later");
	} else if (result == STORE_UNAVAILABLE) {
		call->refused = API_REFUSED_STORE_DOWN;
		call->resp.retry_after = 1;
		api_fail(call, 503, "unavailable", "the relay's store did not answer; try again shortly");
	} else {
		call->refused = API_REFUSED_NO_MEMORY;
		call->resp.retry_after = 1;
		api_fail(call, 503, "unavailable", "the relay cannot take this request right now");
	}
}

static void api_url_link(struct api *api, struct buf *out, const uint8_t id[MAILBOX_ID_LEN])
{
	char text[WIRE_UUID_LEN + 1];

	wire_format_uuid(id, text);
	buf_append(out, api->config.public_url, api->public_url_len);
	buf_append_lit(out, "/v1/m/");
	buf_append(out, text, WIRE_UUID_LEN);
}

/* isPushNotificationSupported: a notifier that takes this token type. */
static int api_pushable(const struct api *api, struct store_bytes type)
{
	const struct api_notifier *n = api->config.notifier;

	return n != NULL && type.ptr != NULL && n->supports(n->ctx, type.ptr, type.len);
}

static void api_append_push_flag(struct buf *body, int pushable)
{
	if (pushable)
		buf_append_lit(body, "\"isPushNotificationSupported\":true}");
	else
		buf_append_lit(body, "\"isPushNotificationSupported\":false}");
}

/* The answer to create and to its retries. */
static void api_send_created(struct api_call *call, int status, const struct mailbox *mb,
    int pushable)
{
	struct buf *body = api_body(call->api);

	/* The payload stored now, so that the Sender can long-poll at once. */
	call->resp.etag = mb->etag;
	buf_append_lit(body, "{\"urlLink\":\"");
	api_url_link(call->api, body, mailbox_id(mb));
	buf_append_lit(body, "\",");
	api_append_push_flag(body, pushable);
	api_send(call, status, RESPONSE_JSON, body);
}

static void api_send_push_flag(struct api_call *call, int status, int pushable)
{
	struct buf *body = api_body(call->api);

	buf_append_lit(body, "{");
	api_append_push_flag(body, pushable);
	api_send(call, status, RESPONSE_JSON, body);
}

/* Wake the party that did not write, if it left a token. */
static void api_wake_other(struct api *api, const struct mailbox *mb,
    enum mailbox_party writer)
{
	enum mailbox_party other = writer == MAILBOX_SENDER ? MAILBOX_RECEIVER : MAILBOX_SENDER;
	const struct mailbox_token *token = mb->tokens[other];
	const struct api_notifier *n = api->config.notifier;

	if (n != NULL && token != NULL)
		n->push(n->ctx, mailbox_id(mb), other, token);
}

static void api_send_empty_object(struct api_call *call, int status)
{
	struct buf *body = api_body(call->api);

	buf_append_lit(body, "{}");
	api_send(call, status, RESPONSE_JSON, body);
}

static void api_render_content(struct buf *body, const struct mailbox *mb)
{
	const struct mailbox_display *d = mb->display;
	const struct mailbox_payload *p = mb->payload;
	char expiration[CLOCK_RFC3339_LEN + 1];

	clock_format_rfc3339(mb->expiry.expires_at, expiration);
	buf_reserve(body, 160 + d->title_len + d->description_len + d->image_url_len +
	    p->type_len + BASE64_ENCODED_LEN(p->data_len));
	buf_append_lit(body, "{\"displayInformation\":{\"title\":");
	response_json_string(body, mailbox_display_title(d), d->title_len);
	buf_append_lit(body, ",\"description\":");
	response_json_string(body, mailbox_display_description(d), d->description_len);
	buf_append_lit(body, ",\"imageURL\":");
	response_json_string(body, mailbox_display_image_url(d), d->image_url_len);
	/* type and data were checked to need no escaping. */
	buf_append_lit(body, "},\"payload\":{\"type\":\"");
	buf_append(body, mailbox_payload_type(p), p->type_len);
	buf_append_lit(body, "\",\"data\":\"");
	if (buf_reserve(body, BASE64_ENCODED_LEN(p->data_len)) == 0)
		body->len += base64_encode(BASE64_STD, (const uint8_t *)mailbox_payload_data(p),
		    p->data_len, body->data + body->len);
	buf_append_lit(body, "\"},\"expiration\":\"");
	buf_append(body, expiration, CLOCK_RFC3339_LEN);
	buf_append_lit(body, "\"}");
}

/* --- request checks ----------------------------------------------------- */

static const char *api_header(const struct api_call *call, enum http_header h, size_t *len)
{
	*len = call->req->header[h].len;
	return http_at(call->in, call->req->header[h]);
}

static enum api_route api_route(const struct http_input *in, const struct http_request *req,
    struct http_span *id)
{
	const char *target = http_at(in, req->target);
	size_t len = req->target.len;
	const char *query = memchr(target, '?', len);

	if (query != NULL)
		len = (size_t)(query - target);
	if (len == 5 && memcmp(target, "/v1/m", 5) == 0)
		return API_ROUTE_COLLECTION;
	if (len > 6 && memcmp(target, "/v1/m/", 6) == 0 &&
	    memchr(target + 6, '/', len - 6) == NULL) {
		id->off = req->target.off + 6;
		id->len = (uint32_t)(len - 6);
		return API_ROUTE_MAILBOX;
	}
	for (int i = 0; i < API_APP_LINKS; i++) {
		if (strlen(api_app_link_paths[i]) == len &&
		    memcmp(target, api_app_link_paths[i], len) == 0)
			return (enum api_route)(API_ROUTE_APP_LINK + i);
	}
	return API_ROUTE_NONE;
}

enum api_route api_request_route(const struct http_input *in, const struct http_request *req)
{
	struct http_span id;

	return req->head_read ? api_route(in, req, &id) : API_ROUTE_NONE;
}

const char *api_route_template(enum api_route route)
{
	switch (route) {
	case API_ROUTE_COLLECTION: return "/v1/m";
	case API_ROUTE_MAILBOX: return "/v1/m/{id}";
	case API_ROUTE_NONE: return "other";
	default: return api_app_link_paths[route - API_ROUTE_APP_LINK];
	}
}

/* The address a request counts against: the connection's, or from a trusted
 * proxy the last one its X-Forwarded-For names. An entry that names no
 * address counts as a client of its own, keyed by its text: never as the
 * proxy, whose bucket every client behind it would then share, nor as any
 * address, whose client it would lock out. */
static void api_client_key(struct api_call *call)
{
	const struct http_request *req = call->req;
	const char *last;
	size_t len, addr_len;
	uint8_t addr[16];

	memcpy(call->client_key, call->client->key, RATELIMIT_KEY_LEN);
	if (!call->client->trusted_proxy || req->header_count[HTTP_H_FORWARDED_FOR] == 0)
		return;
	last = headers_forwarded_last(http_at(call->in, req->header[HTTP_H_FORWARDED_FOR]),
	    req->header[HTTP_H_FORWARDED_FOR].len, &len);
	if (wire_parse_forwarded_addr(last, len, addr, &addr_len) == 0) {
		ratelimit_key(addr, addr_len, call->client_key);
		return;
	}
	ratelimit_key_name(call->api->config.name_secret, last, len, call->client_key);
	if (call->api->forwarded_unparsed == 0)
		call->api->forwarded_unparsed = 1;
}

int api_forwarded_warning(struct api *api)
{
	if (api->forwarded_unparsed != 1)
		return 0;
	api->forwarded_unparsed = 2;
	return 1;
}

static void api_rate_refuse(struct api_call *call, enum ratelimit_kind kind, unsigned wait_s)
{
	call->refused = kind == RATELIMIT_CREATE ? API_REFUSED_RATE_CREATE :
	    API_REFUSED_RATE_FAIL;
	call->resp.retry_after = wait_s;
	api_fail(call, 429, "rate_limited", "too many requests from this address; try again later");
}

/* 0 to carry on, or -1 with 429 written. Only the relay's own limits: a
 * store that keeps them checks them in each call (storage/access.h). */
static int api_rate_limited(struct api_call *call, enum ratelimit_kind kind)
{
	struct ratelimit *limits = call->api->config.limits;
	unsigned wait_s;

	if (limits == NULL || call->client == NULL)
		return 0;
	wait_s = ratelimit_allow(limits, kind, call->client_key, call->client->now_ms);
	if (wait_s == 0) {
		if (kind == RATELIMIT_CREATE)
			ratelimit_spend(limits, kind, call->client_key, call->client->now_ms);
		return 0;
	}
	api_rate_refuse(call, kind, wait_s);
	return -1;
}

/* A claim check failed: it counts against the address. A store that keeps
 * the rate limits has counted the checks it made (by_store) itself. */
static void api_count_failure(struct api_call *call, int by_store)
{
	const struct access_store *store = &call->api->access;

	if (call->client == NULL)
		return;
	if (call->api->config.limits != NULL)
		ratelimit_spend(call->api->config.limits, RATELIMIT_FAIL, call->client_key,
		    call->client->now_ms);
	else if (store->count_failure != NULL && !by_store)
		store->count_failure(store->ctx, call->client_key);
}

/* The checks every JSON endpoint shares, before the store is asked: 0 to
 * carry on with call->access ready for the endpoint to fill in, or -1 with
 * the answer written. */
static int api_prologue(struct api_call *call, enum api_route route)
{
	const struct http_request *req = call->req;
	const char *value;
	size_t len;

	if (call->client != NULL)
		api_client_key(call);
	value = api_header(call, HTTP_H_CLAIM, &len);
	if (req->header_count[HTTP_H_CLAIM] != 1 ||
	    wire_parse_uuid(value, len, call->claim) != 0) {
		api_count_failure(call, 0);
		api_fail(call, 401, "invalid_claim",
		    "Mailbox-Device-Claim must be one UUID (8-4-4-4-12 hex digits)");
		return -1;
	}
	if (api_rate_limited(call, route == API_ROUTE_COLLECTION ? RATELIMIT_CREATE :
	    RATELIMIT_FAIL) != 0)
		return -1;
	if (req->header_count[HTTP_H_ATTESTATION] > 1 ||
	    req->header[HTTP_H_ATTESTATION].len > LIMITS_ATTESTATION_MAX) {
		api_fail(call, 400, "invalid_attestation",
		    "Mailbox-Device-Attestation may be sent once, of at most "
		    LIMITS_TEXT(LIMITS_ATTESTATION_MAX) " bytes");
		return -1;
	}
	call->body = http_at(call->in, req->body);
	call->body_len = req->body.len;
	value = api_header(call, HTTP_H_CONTENT_TYPE, &len);
	if (call->body_len > 0 &&
	    (req->header_count[HTTP_H_CONTENT_TYPE] != 1 || !headers_is_json(value, len))) {
		api_fail(call, 415, "unsupported_media_type",
		    "a request body must be sent as Content-Type: application/json");
		return -1;
	}
	if (route == API_ROUTE_MAILBOX &&
	    wire_parse_uuid(http_at(call->in, call->id), call->id.len, call->mailbox_id) != 0) {
		api_fail(call, 404, "not_found",
		    "no such mailbox: it was deleted, has expired or never existed");
		return -1;
	}
	call->access.id = call->mailbox_id;
	call->access.claim = call->claim;
	call->access.client = call->client != NULL ? call->client_key : NULL;
	call->access.now = call->api->now;
	call->access.request_id = call->resp.request_id;
	call->access.request_id_len = call->resp.request_id_len;
	call->access.body_ok = 1;
	return 0;
}

static void api_unauthorized(struct api_call *call)
{
	api_count_failure(call, 1);
	api_fail(call, 401, "unauthorized", "this claim may not do that to this mailbox");
}

static void api_body_failed(struct api_call *call, const struct body_error *err)
{
	if (err->status == 503) {
		api_store_failed(call, STORE_NO_MEMORY);
		return;
	}
	api_fail(call, err->status, err->code, err->message);
}

/* The store's answers every endpoint gives alike: 1 when answered here. */
static int api_access_failed(struct api_call *call, const struct access_answer *a)
{
	switch (a->verdict) {
	case ACCESS_NOT_FOUND:
		api_fail(call, 404, "not_found",
		    "no such mailbox: it was deleted, has expired or never existed");
		return 1;
	case ACCESS_UNAUTHORIZED:
		api_unauthorized(call);
		return 1;
	case ACCESS_NOT_MATCHED:
		api_fail(call, 412, "precondition_failed",
		    "the mailbox no longer holds the version named in If-Match; read it again");
		return 1;
	case ACCESS_BAD_BODY:
		api_body_failed(call, &call->body_error);
		return 1;
	case ACCESS_REFUSED:
		api_store_failed(call, a->refusal);
		return 1;
	case ACCESS_RATE_LIMITED:
		api_rate_refuse(call, call->access.spec != NULL ? RATELIMIT_CREATE :
		    RATELIMIT_FAIL, a->retry_after);
		return 1;
	case ACCESS_DONE:
	case ACCESS_REPEATED:
		break;
	}
	return 0;
}

static struct api_call *api_call_of(struct access_request *req)
{
	return container_of(req, struct api_call, access);
}

static enum api_result api_finish(struct api_call *call, int *close);

/* Every store answer comes here: the endpoint answers; and when the store
 * answered after api_handle returned, the connection is told, and the call
 * it waited on goes. */
static void api_access_done(struct access_request *req, const struct access_answer *a)
{
	struct api_call *call = api_call_of(req);
	struct api_wait *w;
	enum api_result result;
	int close;

	call->answered = 1;
	/* Answered later: what was in the output then may have gone since. */
	if (call->close == NULL)
		call->out_start = call->out->len;
	call->answer(call, a);
	if (call->close != NULL)
		return;
	w = call->wait;
	result = api_finish(call, &close);
	w->call = NULL;
	free(call);
	w->answered(w, result, close);
}

/* Ask the store: fn is one of api->access's calls. */
static void api_ask(struct api_call *call,
    void (*fn)(void *ctx, struct access_request *req),
    void (*answer)(struct api_call *call, const struct access_answer *a))
{
	call->answer = answer;
	call->access.done = api_access_done;
	call->asked = 1;
	fn(call->api->access.ctx, &call->access);
}

/* The payload's bytes, decoded from its checked base64 into a scratch buffer
 * the store copies from. 0, or -1 when memory is short. */
static int api_decode_payload(struct api *api, const struct body_payload *p,
    struct store_bytes *out)
{
	struct buf *b = &api->decoded;

	b->len = 0;
	b->failed = 0;
	if (buf_reserve(b, p->decoded_len) != 0 ||
	    base64_decode(BASE64_STD, p->data.ptr, p->data.len, (uint8_t *)b->data,
	    p->decoded_len, &out->len) != 0)
		return -1;
	out->ptr = b->data;
	return 0;
}

/* What a retry of create or update answers again: isPushNotificationSupported
 * for the writer's token. */
static uint8_t api_remember_pushable(const struct access_request *req, struct store_bytes type)
{
	const struct api_call *call = container_of(req, const struct api_call, access);

	return (uint8_t)api_pushable(call->api, type);
}

/* --- endpoints ---------------------------------------------------------- */

/* The new mailbox's spec from its checked body: 0, or -1 with the reason in
 * call->body_error. */
static int api_create_spec(struct api_call *call, const struct body_create *body,
    struct mailbox_spec *spec)
{
	struct api *api = call->api;

	if (!body->has_expiration) {
		spec->expires_at = api->now + api->config.default_ttl;
	} else if (body->expires_at <= api->now ||
	    body->expires_at > api->now + api->config.max_ttl + LIMITS_EXPIRATION_GRACE) {
		call->body_error.status = 400;
		call->body_error.code = "invalid_field";
		snprintf(call->body_error.message, sizeof(call->body_error.message), "%s",
		    "mailboxConfiguration.expiration must lie in the future, within the relay's maximum lifetime");
		return -1;
	} else if (body->expires_at > api->now + api->config.max_ttl) {
		spec->expires_at = api->now + api->config.max_ttl;
	} else {
		spec->expires_at = body->expires_at;
	}
	memcpy(spec->sender_claim, call->claim, MAILBOX_CLAIM_LEN);
	/* The creator's address owns every byte of the mailbox until it goes
	 * (storage/store.c says why). */
	spec->owner = call->client != NULL ? call->client_key : NULL;
	spec->rights = body->rights;
	spec->payload_type = body->payload.type;
	if (api_decode_payload(api, &body->payload, &spec->payload_data) != 0) {
		call->body_error.status = 503;
		return -1;
	}
	spec->title = body->title;
	spec->description = body->description;
	spec->image_url = body->image_url;
	spec->token_type = body->token.type;
	spec->token_data = body->token.data;
	return 0;
}

static void api_created(struct api_call *call, const struct access_answer *a)
{

	if (!api_access_failed(call, a))
		api_send_created(call, a->verdict == ACCESS_REPEATED ? 201 : 200, a->mb,
		    a->remembered);
}

static void api_create(struct api_call *call)
{
	struct mailbox_spec spec;
	struct body_create body;
	json_t *doc = NULL;

	if (api_prologue(call, API_ROUTE_COLLECTION) != 0)
		return;
	memset(&spec, 0, sizeof(spec));
	if (body_parse_create(call->body, call->body_len, &body, &doc, &call->body_error) != 0 ||
	    api_create_spec(call, &body, &spec) != 0)
		call->access.body_ok = 0;
	call->access.spec = &spec;
	call->access.remember = api_remember_pushable;
	api_ask(call, call->api->access.create, api_created);
	/* The body's strings stay until the store has copied them. */
	json_decref(doc);
}

static void api_send_content(struct api_call *call, const struct mailbox *mb)
{
	struct buf *body = api_body(call->api);

	api_render_content(body, mb);
	call->resp.etag = mb->etag;
	api_send(call, 200, RESPONSE_JSON, body);
}

static int api_wait_has_later(const struct api_wait *w, uint64_t etag)
{
	for (size_t i = 0; i < w->later_count; i++) {
		if (w->later[i] == etag)
			return 1;
	}
	return 0;
}

/* Remember what a parking long-poll's If-None-Match names beyond the
 * current version (which it matched, or it would not park). */
static void api_wait_note_tags(struct api_wait *w, const char *s, size_t len)
{
	struct headers_etag item;
	size_t at = 0;

	w->later_count = 0;
	w->holds_any = 0;
	while (headers_etag_next(s, len, &at, &item) == 1) {
		size_t i, n = w->later_count;

		if (item.any)
			w->holds_any = 1;
		if (item.version <= w->etag || api_wait_has_later(w, item.version))
			continue;
		/* Keep the lowest, in order: versions only grow, one per update. */
		if (n == API_WAIT_LATER) {
			if (item.version > w->later[n - 1])
				continue;
			n--;
		}
		for (i = n; i > 0 && w->later[i - 1] > item.version; i--)
			w->later[i] = w->later[i - 1];
		w->later[i] = item.version;
		w->later_count = (uint8_t)(n + 1);
	}
}

static int api_may_read(const struct mailbox *mb, const uint8_t *claim)
{
	/* Compare both claims each time, so that timing says nothing. */
	int sender = store_claim_equal(mb->sender_claim, claim);
	int receiver = store_claim_equal(mb->receiver_claim, claim);

	return sender || (mb->receiver_bound && receiver && (mb->rights & MAILBOX_READ));
}

static int api_wait_holds(struct mailbox_waiter *waiter, uint64_t etag);
static void api_wake(struct mailbox_waiter *waiter, const struct mailbox *mb);

/* Read done: the content, a 204 for a version the device has, or a park. */
static void api_read_answered(struct api_call *call, const struct access_answer *a)
{
	struct api *api = call->api;
	struct api_wait *wait = call->wait;
	struct mailbox *mb = a->mb;
	const char *inm, *prefer;
	size_t inm_len, prefer_len;
	long wait_s;

	if (api_access_failed(call, a))
		return;
	inm = api_header(call, HTTP_H_IF_NONE_MATCH, &inm_len);
	if (call->req->header_count[HTTP_H_IF_NONE_MATCH] == 0 ||
	    !headers_etag_listed(inm, inm_len, mb->etag, 0)) {
		api_send_content(call, mb);
		return;
	}
	prefer = api_header(call, HTTP_H_PREFER, &prefer_len);
	wait_s = headers_prefer_wait(prefer, prefer_len);
	if (wait_s > (long)api->config.max_wait)
		wait_s = (long)api->config.max_wait;
	if (wait_s > 0 && (wait == NULL || !wait->may_park)) {
		call->refused = API_REFUSED_WAITERS;
		call->resp.retry_after = 1;
		api_fail(call, 503, "too_many_waiters",
		    "the relay holds as many long-polls as it may; poll again shortly");
		return;
	}
	if (wait_s > 0 && call->client != NULL &&
	    quota_take(api->config.quota, QUOTA_WAITERS, call->client_key, 1,
	    &wait->quota) != 0) {
		api_refuse_address_waiters(call);
		return;
	}
	if (wait_s > 0) {
		wait->api = api;
		wait->etag = mb->etag;
		api_wait_note_tags(wait, inm, inm_len);
		wait->wait_s = (unsigned)wait_s;
		memcpy(wait->claim, call->claim, MAILBOX_CLAIM_LEN);
		wait->keep_alive = !call->resp.close;
		wait->cors_origin = call->resp.cors_origin;
		wait->request_id_len = (uint8_t)call->resp.request_id_len;
		if (call->resp.request_id)
			memcpy(wait->request_id, call->resp.request_id,
			    call->resp.request_id_len);
		wait->waiter.holds = api_wait_holds;
		wait->waiter.wake = api_wake;
		wait->waiter.claim = wait->claim;
		wait->lease = a->lease;
		memcpy(wait->client_key, call->client_key, RATELIMIT_KEY_LEN);
		/* The one thing an answer may do to the store. */
		api->access.watch(api->access.ctx, mb, &wait->waiter);
		call->result = API_PARKED;
		return;
	}
	/* A cheap poll: nothing new. */
	call->resp.etag = mb->etag;
	api_send(call, 204, RESPONSE_EMPTY, NULL);
}

static void api_was_read(struct api_call *call, const struct access_answer *a)
{
	const struct access_store *store = &call->api->access;

	api_read_answered(call, a);
	/* The place a store took for a long-poll that did not park goes back. */
	if (a->verdict == ACCESS_DONE && a->lease != 0 && call->result != API_PARKED)
		store->release_waiter(store->ctx, call->client_key, a->lease);
}

/* The versions an entity-tag list names, for the store (in api->versions
 * until the next call), weak tags too unless strong; *any for "*". A
 * malformed list names nothing. 0, or -1 when memory is short. */
static int api_versions(struct api_call *call, const char *value, size_t len, int strong,
    uint8_t *any, const uint64_t **list, size_t *count)
{
	struct buf *versions = &call->api->versions;
	struct headers_etag item;
	size_t at = 0;
	int r;

	versions->len = 0;
	versions->failed = 0;
	*any = 0;
	while ((r = headers_etag_next(value, len, &at, &item)) == 1) {
		if (item.any)
			*any = 1;
		else if ((!strong || !item.weak) && item.version != 0)
			buf_append(versions, (const char *)&item.version, sizeof(item.version));
	}
	if (versions->failed)
		return -1;
	if (r != 0) {
		*any = 0;
		*count = 0;
		return 0;
	}
	*list = (const uint64_t *)(const void *)versions->data;
	*count = versions->len / sizeof(uint64_t);
	return 0;
}

/* A long-poll, for a store that counts them per address: how long it
 * would wait, and the versions its If-None-Match holds (compared weakly,
 * as api_read_answered does). 0, or -1 when memory is short. */
static int api_park_request(struct api_call *call)
{
	struct access_request *a = &call->access;
	const char *value;
	size_t len;
	long wait_s;

	if (call->api->access.release_waiter == NULL || call->client == NULL ||
	    call->req->header_count[HTTP_H_IF_NONE_MATCH] == 0)
		return 0;
	value = api_header(call, HTTP_H_PREFER, &len);
	wait_s = headers_prefer_wait(value, len);
	if (wait_s > (long)call->api->config.max_wait)
		wait_s = (long)call->api->config.max_wait;
	if (wait_s <= 0)
		return 0;
	value = api_header(call, HTTP_H_IF_NONE_MATCH, &len);
	a->park_ms = (int64_t)wait_s * 1000;
	return api_versions(call, value, len, 0, &a->held_any, &a->held, &a->held_count);
}

static void api_read(struct api_call *call)
{
	struct body_read body;
	json_t *doc = NULL;

	if (api_prologue(call, API_ROUTE_MAILBOX) != 0)
		return;
	if (body_parse_read(call->body, call->body_len, &body, &doc, &call->body_error) != 0) {
		call->access.body_ok = 0;
	} else {
		call->access.change.token_type = body.token.type;
		call->access.change.token_data = body.token.data;
	}
	if (api_park_request(call) != 0)
		api_store_failed(call, STORE_NO_MEMORY);
	else
		api_ask(call, call->api->access.read, api_was_read);
	json_decref(doc);
}

/* A conditional update (spec 4.2, RFC 9110 section 13.1.1): without
 * If-Match it may go ahead; with it, only when the list names the stored
 * version, strongly, which the store checks against the versions read here.
 * If-Match on several lines is not joined here, so its list cannot be read
 * whole: it names nothing, and nothing is overwritten on a guess. 0, or -1
 * when memory is short. */
static int api_if_match(struct api_call *call)
{
	struct access_request *a = &call->access;
	const char *value;
	size_t len;

	if (call->req->header_count[HTTP_H_IF_MATCH] == 0)
		return 0;
	a->if_match = 1;
	if (call->req->header_count[HTTP_H_IF_MATCH] > 1)
		return 0;
	value = api_header(call, HTTP_H_IF_MATCH, &len);
	/* Strong comparison: a weak tag names nothing. */
	return api_versions(call, value, len, 1, &a->match_any, &a->match, &a->match_count);
}

static void api_updated(struct api_call *call, const struct access_answer *a)
{

	if (api_access_failed(call, a))
		return;
	if (a->verdict == ACCESS_DONE)
		api_wake_other(call->api, a->mb, a->party);
	/* The writer's next long-poll names this and is not answered with its
	 * own write. */
	call->resp.etag = a->mb->etag;
	api_send_push_flag(call, a->verdict == ACCESS_REPEATED ? 201 : 200, a->remembered);
}

static void api_update(struct api_call *call)
{
	struct body_update body;
	json_t *doc = NULL;

	if (api_prologue(call, API_ROUTE_MAILBOX) != 0)
		return;
	if (body_parse_update(call->body, call->body_len, &body, &doc, &call->body_error) != 0) {
		call->access.body_ok = 0;
	} else {
		call->access.change.payload_type = body.payload.type;
		call->access.change.token_type = body.token.type;
		call->access.change.token_data = body.token.data;
		if (api_decode_payload(call->api, &body.payload,
		    &call->access.change.payload_data) != 0) {
			call->body_error.status = 503;
			call->access.body_ok = 0;
		}
	}
	if (api_if_match(call) != 0) {
		json_decref(doc);
		api_store_failed(call, STORE_NO_MEMORY);
		return;
	}
	call->access.remember = api_remember_pushable;
	api_ask(call, call->api->access.update, api_updated);
	json_decref(doc);
}

static void api_deleted(struct api_call *call, const struct access_answer *a)
{

	if (api_access_failed(call, a))
		return;
	api_wake_other(call->api, a->mb, a->party);
	api_send_empty_object(call, 200);
}

static void api_delete(struct api_call *call)
{
	if (api_prologue(call, API_ROUTE_MAILBOX) != 0)
		return;
	api_ask(call, call->api->access.remove, api_deleted);
}

static void api_relinquished(struct api_call *call, const struct access_answer *a)
{

	if (!api_access_failed(call, a))
		api_send_empty_object(call, a->verdict == ACCESS_REPEATED ? 201 : 200);
}

static void api_relinquish(struct api_call *call)
{
	if (api_prologue(call, API_ROUTE_MAILBOX) != 0)
		return;
	api_ask(call, call->api->access.relinquish, api_relinquished);
}

/* The share preview page, or the 404 page. */
static void api_previewed(struct api_call *call, const struct access_answer *a)
{
	struct api *api = call->api;
	char id_text[WIRE_UUID_LEN + 1];
	struct buf *body;

	if (a->verdict != ACCESS_DONE) {
		api_fail_html(call, 404, NULL);
		return;
	}
	/* og:url in the relay's own lower case, however the path spelled it. */
	wire_format_uuid(mailbox_id(a->mb), id_text);
	body = api_body(api);
	html_preview_page(body, a->mb->display, api->config.public_url, api->public_url_len,
	    id_text, a->mb->expiry.expires_at, api->now);
	api_send(call, 200, RESPONSE_HTML, body);
}

/* GET and HEAD: the share preview. No claim is read, nobody is bound. */
static void api_preview(struct api_call *call)
{
	if (wire_parse_uuid(http_at(call->in, call->id), call->id.len, call->mailbox_id) != 0) {
		api_fail_html(call, 404, NULL);
		return;
	}
	call->access.id = call->mailbox_id;
	call->access.now = call->api->now;
	api_ask(call, call->api->access.preview, api_previewed);
}

static void api_call_init(struct api_call *call, struct api *api, int64_t now,
    const struct http_request *req, const struct http_input *in, struct buf *out)
{
	const char *rid = http_at(in, req->header[HTTP_H_REQUEST_ID]);

	api_set_now(api, now);
	memset(call, 0, sizeof(*call));
	call->api = api;
	call->refused = API_REFUSALS;
	call->req = req;
	call->in = in;
	call->out = out;
	call->out_start = out->len;
	api_response_init(api, &call->resp);
	{
		int i = cors_match(api->config.cors_origins, api->config.cors_origin_count,
		    req->header_count[HTTP_H_ORIGIN], http_at(in, req->header[HTTP_H_ORIGIN]),
		    req->header[HTTP_H_ORIGIN].len);

		/* Every answer, errors too, so that a script can read why. */
		if (i >= 0)
			call->resp.cors_origin = api->config.cors_origins[i];
	}
	/* HEAD is answered with the headers of GET and no body, whatever the
	 * answer is. */
	call->resp.head = req->method == HTTP_HEAD;
	/* A header is recorded only once its value is complete, so even a
	 * request the parser gave up on can have its ID echoed. */
	if (req->header_count[HTTP_H_REQUEST_ID] == 1 &&
	    mailbox_check_request_id(rid, req->header[HTTP_H_REQUEST_ID].len) == 0) {
		call->resp.request_id = rid;
		call->resp.request_id_len = req->header[HTTP_H_REQUEST_ID].len;
	}
}

static void api_method_not_allowed(struct api_call *call, const char *allow)
{
	call->resp.allow = allow;
	api_fail(call, 405, "method_not_allowed", "this path does not take that method");
}

/* A CORS preflight from an allowed origin, on an API path: 1 when answered.
 * Any other OPTIONS goes on to 404 or 405. */
static int api_preflight(struct api_call *call, enum api_route route)
{
	const struct http_request *req = call->req;

	if (req->method != HTTP_OPTIONS ||
	    (route != API_ROUTE_COLLECTION && route != API_ROUTE_MAILBOX) ||
	    call->resp.cors_origin == NULL ||
	    req->header_count[HTTP_H_AC_REQUEST_METHOD] != 1 ||
	    req->header[HTTP_H_AC_REQUEST_METHOD].len == 0)
		return 0;
	call->resp.cors_methods = route == API_ROUTE_COLLECTION ? API_ALLOW_COLLECTION :
	    API_ALLOW_MAILBOX;
	api_send(call, 204, RESPONSE_EMPTY, NULL);
	return 1;
}

/* GET or HEAD of an app-link file (--well-known): 1 when answered. A file
 * the relay does not have is an unknown path, whatever the method. */
static int api_app_link(struct api_call *call, enum api_route route)
{
	const struct api_app_link_bytes *link;
	struct buf body;

	if (route < API_ROUTE_APP_LINK)
		return 0;
	link = &call->api->app_link[route - API_ROUTE_APP_LINK];
	if (link->data == NULL)
		return 0;
	if (call->req->method != HTTP_GET && call->req->method != HTTP_HEAD) {
		api_method_not_allowed(call, API_ALLOW_APP_LINK);
		return 1;
	}
	/* The bytes as they are: a read-only view, not a copy. */
	buf_init(&body);
	body.data = link->data;
	body.len = link->len;
	api_send(call, 200, RESPONSE_JSON, &body);
	return 1;
}

/* What every answer ends with, now or when the store's came: a 503 in few
 * bytes when it did not fit in memory, the refusal counted, and whether the
 * connection closes after it. */
static enum api_result api_finish(struct api_call *call, int *close)
{
	struct buf *out = call->out;

	if (out->failed) {
		/* The answer did not fit in memory: say so in a few bytes
		 * that need none, and give up on the connection. */
		call->refused = API_REFUSED_NO_MEMORY;
		out->len = call->out_start;
		out->failed = 0;
		buf_append_lit(out, "HTTP/1.1 503 Service Unavailable\r\n"
		    "Content-Length: 0\r\nRetry-After: 1\r\nConnection: close\r\n");
		/* The buffer holds at least 1 KiB already: this fits too. */
		if (call->resp.cors_origin != NULL)
			response_cors(out, call->resp.cors_origin);
		buf_append_lit(out, "\r\n");
		call->resp.close = 1;
	}
	if (call->refused != API_REFUSALS)
		call->api->refused[call->refused]++;
	*close = call->resp.close;
	return call->result;
}

static void api_dispatch(struct api_call *call, enum api_route route)
{
	const struct http_request *req = call->req;
	int preview = route == API_ROUTE_MAILBOX &&
	    (req->method == HTTP_GET || req->method == HTTP_HEAD);

	if (api_preflight(call, route) || api_app_link(call, route)) {
		/* answered */
	} else if (route != API_ROUTE_COLLECTION && route != API_ROUTE_MAILBOX) {
		api_fail(call, 404, "not_found", "there is nothing at this path");
	} else if (route == API_ROUTE_COLLECTION && req->method != HTTP_POST) {
		api_method_not_allowed(call, API_ALLOW_COLLECTION);
	} else if (route == API_ROUTE_MAILBOX && !preview && req->method != HTTP_POST &&
	    req->method != HTTP_PUT && req->method != HTTP_DELETE && req->method != HTTP_PATCH) {
		api_method_not_allowed(call, API_ALLOW_MAILBOX);
	} else if (req->header_count[HTTP_H_REQUEST_ID] != 0 && call->resp.request_id == NULL) {
		if (preview)
			api_fail_html(call, 400, "This request carries a malformed Mailbox-Request-ID");
		else
			api_fail(call, 400, "invalid_request_id",
			    "Mailbox-Request-ID must be 1 to " LIMITS_TEXT(LIMITS_REQUEST_ID_MAX)
			    " visible ASCII characters, sent once");
	} else if (preview) {
		api_preview(call);
	} else if (route == API_ROUTE_COLLECTION) {
		api_create(call);
	} else if (req->method == HTTP_POST) {
		api_read(call);
	} else if (req->method == HTTP_PUT) {
		api_update(call);
	} else if (req->method == HTTP_DELETE) {
		api_delete(call);
	} else {
		api_relinquish(call);
	}
}

enum api_result api_handle(struct api *api, int64_t now, const struct api_client *client,
    const struct http_request *req, const struct http_input *in, struct buf *out,
    struct api_wait *wait, int *close)
{
	struct api_call local, *call = &local;
	enum api_route route;

	/* A store that answers later needs the call to outlive this frame. */
	if (api->access.deferred && wait != NULL && (call = malloc(sizeof(*call))) == NULL)
		call = &local;
	api_call_init(call, api, now, req, in, out);
	call->client = client;
	call->wait = wait;
	call->close = close;
	call->resp.close = !req->keep_alive;
	route = api_route(in, req, &call->id);
	if (call == &local && api->access.deferred && (route == API_ROUTE_COLLECTION ||
	    route == API_ROUTE_MAILBOX))
		/* Nowhere to wait: as when memory is short. */
		api_store_failed(call, STORE_NO_MEMORY);
	else
		api_dispatch(call, route);
	if (call->asked && !call->answered) {
		/* From now on, the answer goes through wait->answered. */
		call->close = NULL;
		wait->call = call;
		return API_PENDING;
	}
	{
		enum api_result result = api_finish(call, close);

		if (call != &local)
			free(call);
		return result;
	}
}

/* Answers to requests that could not be read; the last is the fallback. */
static const struct api_stream_error {
	int status;
	const char *code, *message, *title;
} api_stream_errors[] = {
	{ 408, "request_timeout", "the request took too long to arrive",
	    "The request took too long to arrive" },
	{ 413, "payload_too_large", "the request body is larger than the relay accepts",
	    "The request is too large" },
	{ 431, "headers_too_large", "the request line and headers exceed "
	    LIMITS_TEXT(LIMITS_HEAD_KIB) " KiB",
	    "The request headers are too large" },
	{ 503, "busy", "the relay is sending as much as it may; try again shortly",
	    "The relay is busy" },
	{ 400, "bad_request", "the request is not valid HTTP/1.1", "The request is malformed" },
};

static const struct api_stream_error *api_stream_error(int status)
{
	size_t i;

	for (i = 0; i < sizeof(api_stream_errors) / sizeof(api_stream_errors[0]) - 1; i++) {
		if (api_stream_errors[i].status == status)
			break;
	}
	return &api_stream_errors[i];
}

void api_error(struct api *api, int64_t now, const struct http_request *req,
    const struct http_input *in, int status, struct buf *out)
{
	struct api_call call;
	const struct api_stream_error *e;
	struct http_span id;
	int preview;

	api_call_init(&call, api, now, req, in, out);
	call.resp.close = 1;
	preview = (req->method == HTTP_GET || req->method == HTTP_HEAD) &&
	    req->target.len > 0 && api_route(in, req, &id) == API_ROUTE_MAILBOX;
	e = api_stream_error(status);
	if (e->status == 503) {
		api->refused[API_REFUSED_BUSY]++;
		call.resp.retry_after = 1;
	}
	if (preview)
		api_fail_html(&call, e->status, e->title);
	else
		api_fail(&call, e->status, e->code, e->message);
}

/* --- long-polls --------------------------------------------------------- */

static void api_wait_response(struct api_wait *w, struct response *r)
{
	api_response_init(w->api, r);
	r->close = !w->keep_alive;
	r->cors_origin = w->cors_origin;
	if (w->request_id_len) {
		r->request_id = w->request_id;
		r->request_id_len = w->request_id_len;
	}
}

/* The wait is over, whichever way: its address's count goes back. */
static void api_wait_release(struct api_wait *w)
{
	const struct access_store *store = &w->api->access;

	if (w->lease != 0)
		store->release_waiter(store->ctx, w->client_key, w->lease);
	w->lease = 0;
	if (w->quota == NULL)
		return;
	quota_give(w->api->config.quota, w->quota, QUOTA_WAITERS, 1);
	w->quota = NULL;
}

/* An update to a version the client already has (its If-None-Match names
 * it) leaves it parked; it now holds that version, which a 204 then says. */
static int api_wait_holds(struct mailbox_waiter *waiter, uint64_t etag)
{
	struct api_wait *w = container_of(waiter, struct api_wait, waiter);

	if (!w->holds_any && !api_wait_has_later(w, etag))
		return 0;
	w->etag = etag;
	return 1;
}

static void api_wake(struct mailbox_waiter *waiter, const struct mailbox *mb)
{
	struct api_wait *w = container_of(waiter, struct api_wait, waiter);
	struct api *api = w->api;
	struct buf *body = &api->wake_body;
	enum api_refusal refused = API_REFUSALS;
	struct response r;

	api_wait_release(w);
	body->len = 0;
	body->failed = 0;
	api_wait_response(w, &r);
	r.type = RESPONSE_JSON;
	if (mb == NULL) {
		r.status = 404;
		response_error_body(body, "not_found", "the mailbox was deleted or has expired");
	} else if (w->room != NULL && !w->room(w)) {
		const struct api_stream_error *e = api_stream_error(503);

		refused = API_REFUSED_BUSY;
		r.status = 503;
		r.close = 1;
		r.retry_after = 1;
		response_error_body(body, e->code, e->message);
	} else if (!api_may_read(mb, w->claim)) {
		/* The claim gave the mailbox up while it waited. */
		r.status = 401;
		response_error_body(body, "unauthorized", "this claim may not do that to this mailbox");
	} else {
		r.status = 200;
		r.etag = mb->etag;
		api_render_content(body, mb);
	}
	if (body->failed) {
		refused = API_REFUSED_NO_MEMORY;
		r.status = 503;
		r.close = 1;
		body->len = 0;
	}
	if (refused != API_REFUSALS)
		api->refused[refused]++;
	/* What the answer says, the connection does. */
	if (r.close)
		w->keep_alive = 0;
	response_write(w->out, &r, body->data, body->len);
	w->ready(w);
}

void api_wait_timeout(struct api_wait *w, int closing)
{
	struct response r;

	w->api->access.unwatch(w->api->access.ctx, &w->waiter);
	api_wait_release(w);
	api_wait_response(w, &r);
	r.status = 204;
	r.type = RESPONSE_EMPTY;
	r.etag = w->etag;
	r.preference_wait = (int)w->wait_s;
	if (closing)
		r.close = 1;
	response_write(w->out, &r, NULL, 0);
}

void api_wait_cancel(struct api_wait *w)
{
	struct api_call *call = w->call;

	if (call != NULL) {
		/* Waiting for the store: its answer must find nobody. */
		w->call = NULL;
		call->api->access.cancel(call->api->access.ctx, &call->access);
		free(call);
		return;
	}
	w->api->access.unwatch(w->api->access.ctx, &w->waiter);
	api_wait_release(w);
}

void api_drop_token(struct api *api, int64_t now, const uint8_t id[MAILBOX_ID_LEN],
    enum mailbox_party party, struct store_bytes type, struct store_bytes data)
{
	api->access.drop_token(api->access.ctx, id, now, party, type, data);
}

int api_tick(struct api *api, int64_t now)
{
	api_set_now(api, now);
	return store_expire(api->store, now, API_EXPIRE_BUDGET) == API_EXPIRE_BUDGET;
}
