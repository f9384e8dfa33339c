/*
 * push.h — waking devices through a gorush push gateway.
 *
 * A party's notification token is queued when the other party wrote to (or
 * deleted) the mailbox; the queue is sent to the gateway in batches over one
 * kept-alive connection driven by the event loop, so the API never waits for
 * the gateway. What is sent is a content-free "mailbox updated" signal and
 * the token, nothing else: no mailbox identifier, no payload.
 */
#ifndef SERVER_PUSH_H
#define SERVER_PUSH_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>

#include "lib/log.h"
#include "storage/store.h"

struct config;
struct push;
struct rng;

/* What the push client needs from its owner, who keeps it while it lives. */
struct push_context {
	struct event_base *base;
	const struct log *log;
	struct rng *rng;                /* for TLS to an https gateway */
	const struct config *config;    /* the --push-* options */
	unsigned speedup;               /* divides every wait; 0 or 1 but in tests */
	/* The provider says a party's token will never work again: forget it. */
	void (*token_dead)(void *owner, const uint8_t id[MAILBOX_ID_LEN],
	    enum mailbox_party party, struct store_bytes type, struct store_bytes data);
	void *owner;
};

/* Counters a metrics endpoint can show. */
struct push_stats {
	size_t sent;        /* tokens the gateway accepted */
	size_t failed;      /* refused by the gateway, or given up after retries */
	size_t dropped;     /* pushed out of a full queue */
	size_t queued;      /* waiting now, in the queue or in flight */
};

/* NULL, with a one-line reason, when the gateway cannot be used at all (its
 * host does not resolve, its CA file does not load). */
struct push *push_new(const struct push_context *context, char *err, size_t err_len);
void push_free(struct push *p);

/* Can a token of this type be pushed (is it in --push-map)? */
int push_supports(const struct push *p, const char *type, size_t type_len);
/* Queue a push to one party's token of a mailbox. */
void push_enqueue(struct push *p, const uint8_t id[MAILBOX_ID_LEN], enum mailbox_party party,
    const struct mailbox_token *token);
struct push_stats push_stats(const struct push *p);

#endif
