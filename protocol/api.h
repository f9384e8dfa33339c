/*
 * api.h — the relay API: routing, the six endpoints, retries and long-polls.
 *
 * The connection layer hands over one parsed request at a time and gets the
 * response appended to its output buffer. A ReadSecureContent long-poll may
 * instead park on its mailbox (API_PARKED): the api later writes the answer
 * into the same buffer and calls the connection's ready() hook, either when
 * the mailbox changes or goes, or when the connection's timer calls
 * api_wait_timeout(). The api never sees a socket.
 */
#ifndef PROTOCOL_API_H
#define PROTOCOL_API_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "protocol/http.h"
#include "storage/quota.h"
#include "storage/ratelimit.h"
#include "storage/access.h"
#include "storage/store.h"

/*
 * What wakes devices: the server's push-gateway client. The api decides whom
 * to wake (the other party of an update or a delete); the notifier decides
 * whether a token type can be pushed at all, and does the pushing.
 */
struct api_notifier {
	int (*supports)(void *ctx, const char *type, size_t type_len);
	void (*push)(void *ctx, const uint8_t id[MAILBOX_ID_LEN], enum mailbox_party party,
	    const struct mailbox_token *token);
	void *ctx;
};

struct api_config {
	const char *public_url;     /* base of every urlLink, without a trailing / */
	int64_t default_ttl;        /* seconds */
	int64_t max_ttl;            /* seconds */
	unsigned max_wait;          /* seconds */
	int hsts;                   /* served over TLS: send Strict-Transport-Security */
	struct ratelimit *limits;   /* per-address limits, or NULL for none */
	const struct api_notifier *notifier;    /* NULL: nothing is pushed */
	struct quota *quota;        /* long-polls per address, or NULL for no limit */
	/* The store asked for each call (copied); NULL: the memory store given
	 * to api_new. */
	const struct access_store *access;
	uint8_t name_secret[SIPHASH_KEY_LEN];   /* keys X-Forwarded-For entries that
	                                         * are no address (ratelimit_key_name) */
	/* --cors-origin, as cors_normalize_origin() wrote them (copied). */
	const char *const *cors_origins;
	size_t cors_origin_count;
};

/* The app-link files of --well-known (spec 4.7), in the order the server
 * reads them. */
enum api_app_link {
	API_APP_LINK_APPLE,     /* /.well-known/apple-app-site-association */
	API_APP_LINK_ANDROID,   /* /.well-known/assetlinks.json */
	API_APP_LINKS
};

/* What a request was for, as the server's counters and access log name it:
 * its route template, never the mailbox identifier in its path. */
enum api_route {
	API_ROUTE_NONE,         /* any other path, or a request not read far enough */
	API_ROUTE_COLLECTION,   /* /v1/m */
	API_ROUTE_MAILBOX,      /* /v1/m/{id} */
	API_ROUTE_APP_LINK,     /* then one per enum api_app_link, in its order */
	API_ROUTES = API_ROUTE_APP_LINK + API_APP_LINKS
};

/* The route of a request whose head was read (API_ROUTE_NONE otherwise),
 * and its template: "/v1/m/{id}", or "other" for API_ROUTE_NONE. */
enum api_route api_request_route(const struct http_input *in, const struct http_request *req);
const char *api_route_template(enum api_route route);

/* Who is asking: the connection's address as a rate-limit key. Rate limits,
 * long-polls and bytes per address count against it after X-Forwarded-For. */
struct api_client {
	uint8_t key[RATELIMIT_KEY_LEN];
	uint8_t trusted_proxy;      /* the peer is a proxy whose X-Forwarded-For counts */
	int64_t now_ms;             /* monotonic: for rate limits */
};

#define API_WAIT_LATER 4

enum api_result {
	API_DONE,           /* the response is in out */
	API_PARKED,         /* wait until ready() or api_wait_timeout() */
	/* The store answers later: the request's bytes must stay where they
	 * are, and nothing more be read, until answered() */
	API_PENDING
};

/* A parked ReadSecureContent, embedded in the connection that waits. */
struct api_call;

struct api_wait {
	struct mailbox_waiter waiter;
	struct api *api;
	struct buf *out;                    /* where the answer goes */
	void (*ready)(struct api_wait *w);  /* the answer is in *out */
	/* Set by the caller before each api_handle: 0 when no more long-polls
	 * may park (the request is answered 503). */
	uint8_t may_park;
	/* API_PENDING: the store's answer came, and with it the request's:
	 * what api_handle would have returned, and its *close. */
	void (*answered)(struct api_wait *w, enum api_result result, int close);
	struct api_call *call;              /* the api's, while pending */
	/* Non-zero when a whole answer may be written; otherwise the woken
	 * request gets a short 503 (the relay holds too much unsent). */
	int (*room)(struct api_wait *w);
	uint64_t etag;                      /* the version the client holds */
	/* Later versions its If-None-Match names too, the lowest few: an
	 * update to one of them leaves it parked (spec 6). */
	uint64_t later[API_WAIT_LATER];
	uint8_t later_count;
	uint8_t holds_any;                  /* If-None-Match: * */
	unsigned wait_s;                    /* as applied (capped by --max-wait) */
	struct quota_entry *quota;          /* the address's long-poll it counts, or NULL */
	/* Or the store's count (access_store.release_waiter): its lease, 0
	 * for none, and the address it counts against. */
	uint64_t lease;
	uint8_t client_key[RATELIMIT_KEY_LEN];
	const char *cors_origin;            /* as in struct response */
	uint8_t claim[MAILBOX_CLAIM_LEN];
	uint8_t keep_alive;
	uint8_t request_id_len;
	char request_id[STORE_REQUEST_ID_MAX];
};


struct api;

struct api *api_new(const struct api_config *config, struct store *store, int64_t now);
void api_free(struct api *api);

/* What GET /.well-known/<which> answers from now on: a copy of these bytes
 * (JSON the server has checked), or 404 when data is NULL. */
void api_set_app_link(struct api *api, enum api_app_link which, const char *data, size_t len);

/* Answer one request at time now (Unix seconds, read once per loop turn) from
 * client (NULL: not rate-limited). wait is the connection's: where a
 * long-poll parks (when wait->may_park), and where a request waits for a
 * store that answers later (API_PENDING); NULL only with the memory store,
 * for a caller that never parks (a long-poll is then answered 503). *close
 * is set when the connection must close after the response (HTTP/1.0,
 * Connection: close, or a stream that cannot be trusted). */
enum api_result api_handle(struct api *api, int64_t now, const struct api_client *client,
    const struct http_request *req,
    const struct http_input *in, struct buf *out, struct api_wait *wait, int *close);

/* Answer a request the parser or a timer gave up on (400, 408, 413, 431),
 * or that the server has no room to answer now (503, Retry-After: 1).
 * The connection always closes after it. req may be partly filled. */
void api_error(struct api *api, int64_t now, const struct http_request *req,
    const struct http_input *in, int status, struct buf *out);

/* The parked request's time is up (or the relay is shutting down, with
 * closing set): answer 204 with the unchanged ETag. */
void api_wait_timeout(struct api_wait *w, int closing);
/* The connection is going away: unpark without answering. */
void api_wait_cancel(struct api_wait *w);

/* Why a request was turned away with 429 or 503: what the operator would
 * change to see fewer of them. */
enum api_refusal {
	API_REFUSED_RATE_CREATE,        /* 429: --rate-create */
	API_REFUSED_RATE_FAIL,          /* 429: --rate-fail */
	API_REFUSED_STORE_FULL,         /* 503: --max-mailboxes or --max-memory */
	API_REFUSED_ADDRESS_BYTES,      /* 503: --max-bytes-per-address */
	API_REFUSED_WAITERS,            /* 503: --max-waiters */
	API_REFUSED_ADDRESS_WAITERS,    /* 503: --max-waiters-per-address */
	API_REFUSED_BUSY,               /* 503: too many answers not yet taken */
	API_REFUSED_NO_MEMORY,          /* 503: an allocation failed */
	API_REFUSED_STORE_DOWN,         /* 503: --store's Redis did not answer */
	API_REFUSALS
};

/* "rate_create", "store_full", ... and the status each is answered with. */
const char *api_refusal_name(enum api_refusal why);
int api_refusal_status(enum api_refusal why);
/* Requests refused since start, by enum api_refusal: each answer once. */
const uint64_t *api_refusals(const struct api *api);

/* 1 once per api, the first time it is asked after a trusted proxy's
 * X-Forwarded-For ended in something that is not an address (such a client
 * is limited by that text): for the server to warn about its proxy. */
int api_forwarded_warning(struct api *api);

/* The push gateway says a party's token will never work again: forget it,
 * unless the party has sent another since, or the mailbox is gone at now. */
void api_drop_token(struct api *api, int64_t now, const uint8_t id[MAILBOX_ID_LEN],
    enum mailbox_party party, struct store_bytes type, struct store_bytes data);

/* Once a second: refresh the clock and collect expired mailboxes. Returns
 * non-zero when expired mailboxes remain for the next call (budget spent). */
int api_tick(struct api *api, int64_t now);

#endif
