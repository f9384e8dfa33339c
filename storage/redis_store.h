/*
 * redis_store.h — the mailboxes in Redis, shared by several relays.
 *
 * The calls of storage/access.h, each one Lua script run by Redis at once
 * (storage/redis/, one file each; docs/redis-store.md has their contract). The
 * answer comes later, through req->done, when Redis replies; or, with
 * ACCESS_REFUSED and STORE_UNAVAILABLE, when Redis is down, goes, or does
 * not reply within the timeout. A request whose answer is no longer wanted
 * is cancelled; its done is then never called.
 *
 * Long-polls parked here are woken by changes made on any relay (a second
 * connection hears them); the server may be named by Sentinel (net/redis).
 * The rate limits and the long-polls per address are kept in Redis too, for
 * all relays (access.h, count_failure and release_waiter).
 */
#ifndef STORAGE_REDIS_STORE_H
#define STORAGE_REDIS_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "net/redis.h"
#include "storage/access.h"
#include "storage/ratelimit.h"
#include "storage/store.h"

struct event_base;
struct redis_store;

struct redis_store_config {
	struct redis_config server;
	/* Claims are kept as keyed hashes under it: the same on every relay. */
	const uint8_t *secret;
	size_t secret_len;
	const char *prefix;             /* of every key, e.g. "relay:" */
	size_t max_mailboxes;           /* 0: no limit */
	size_t max_owner_bytes;         /* per owner; 0: no limit */
	/* The token types a push goes to, separated by spaces: what a create
	 * or update answers as isPushNotificationSupported. */
	const char *push_types;
	unsigned timeout_ms;            /* for each answer */
	/* Each write acknowledged only once this many replicas have it
	 * (WAIT); otherwise STORE_UNAVAILABLE. 0: not waited for. */
	unsigned wait_replicas;
	store_random_fn random;         /* new mailbox identifiers */
	void *random_ctx;
	/* Per address, for all relays (per 0: no limit): CreateMailbox calls,
	 * and failed claim checks. */
	struct ratelimit_rule rate_create, rate_fail;
	size_t max_waiters;             /* long-polls per address, for all relays; 0: no limit */
	/* The relay's clock (Unix seconds), called with state's ctx. */
	int64_t (*now)(void *ctx);
	/* Tests only: how far the relay's clocks are moved ahead (ms), which
	 * the rate limits add to Redis's clock; NULL: 0. */
	int64_t (*offset_ms)(void *ctx);
};

/* Connects at once and keeps connecting; state() hears each change. config's
 * strings and secret are copied. NULL when memory runs out. */
struct redis_store *redis_store_new(struct event_base *base,
    const struct redis_store_config *config,
    void (*state)(void *ctx, int up, const char *why), void *ctx);
/* Every request still waiting is answered STORE_UNAVAILABLE first. */
void redis_store_free(struct redis_store *s);
int redis_store_up(const struct redis_store *s);
/* Live mailboxes in Redis, all relays' (read each second; this relay's own
 * creates and deletes count at once). */
size_t redis_store_mailboxes(const struct redis_store *s);

void redis_store_create(struct redis_store *s, struct access_request *req);
void redis_store_read(struct redis_store *s, struct access_request *req);
void redis_store_update(struct redis_store *s, struct access_request *req);
void redis_store_delete(struct redis_store *s, struct access_request *req);
void redis_store_relinquish(struct redis_store *s, struct access_request *req);
void redis_store_preview(struct redis_store *s, struct access_request *req);
/* A claim check client failed before any call (access.h): a --rate-fail
 * token goes, without an answer. */
void redis_store_count_failure(struct redis_store *s, const uint8_t *client);
/* A long-poll's wait is over: the place its read took goes back. */
void redis_store_release_waiter(struct redis_store *s, const uint8_t *client, uint64_t lease);
/* Forget one party's token if it is still this one; nobody waits. */
void redis_store_drop_token(struct redis_store *s, const uint8_t id[MAILBOX_ID_LEN],
    int64_t now, enum mailbox_party party, struct store_bytes type, struct store_bytes data);
/* Its answer is no longer wanted (the connection went). Harmless when it
 * has been answered. */
void redis_store_cancel(struct access_request *req);
/* Park w on mb (a read's answer) until the mailbox changes, on any relay,
 * to a version w does not hold, or goes (struct mailbox_waiter). */
void redis_store_watch(struct redis_store *s, struct mailbox *mb, struct mailbox_waiter *w);
/* Harmless when w was woken. */
void redis_store_unwatch(struct mailbox_waiter *w);
/* The relay's clock jumped (tests: RELAY_TEST_CLOCK): the waits end at
 * their mailboxes' expiry as it now reads; those already past end in this
 * turn of the loop. */
void redis_store_clock_moved(struct redis_store *s);
/* The calls above as the API asks them (deferred). */
void redis_store_access(struct access_store *out, struct redis_store *s);

#endif
