/*
 * access.h — what a device does to a mailbox, checked and done in one call.
 *
 * Each call looks the mailbox up, recognises a retry (spec section 5),
 * checks the claim against the mailbox's parties and rights (section 4),
 * and only then acts: nothing can come in between. That is the unit a
 * store shared by several relays has to make atomic (with Redis, one
 * script per call), so the layer above decides nothing about a mailbox
 * itself: it asks, and answers what it is told.
 *
 * The answer comes through req->done, which the memory store calls before
 * returning. answer->mb is the mailbox as the call left it, readable only
 * inside done (after a delete it is about to be freed). done may park a
 * waiter on it with store_watch and do nothing else to the store.
 */
#ifndef STORAGE_ACCESS_H
#define STORAGE_ACCESS_H

#include <stdint.h>

#include "storage/store.h"

enum access_verdict {
	ACCESS_DONE,            /* acted */
	ACCESS_REPEATED,        /* a retry of the claim's last call: nothing done again */
	ACCESS_NOT_FOUND,       /* no such mailbox, or it has expired */
	ACCESS_UNAUTHORIZED,    /* the claim may not do this to this mailbox */
	ACCESS_NOT_MATCHED,     /* update: If-Match does not name the stored version */
	ACCESS_BAD_BODY,        /* body_ok was 0, and every check before it passed */
	ACCESS_RATE_LIMITED,    /* the address has no token left (a store that keeps
	                         * the rate limits): retry_after says when */
	ACCESS_REFUSED          /* the store could not: refusal says why */
};

struct access_answer {
	enum access_verdict verdict;
	enum store_result refusal;      /* ACCESS_REFUSED */
	enum mailbox_party party;       /* ACCESS_DONE: the claim's party */
	/* ACCESS_DONE of create and update: what remember() said;
	 * ACCESS_REPEATED: what it said the first time. */
	uint8_t remembered;
	unsigned retry_after;           /* ACCESS_RATE_LIMITED: seconds */
	uint64_t lease;                 /* read: the long-poll's place taken, or 0 */
	struct mailbox *mb;             /* ACCESS_DONE and ACCESS_REPEATED */
};

struct access_request {
	const uint8_t *id;              /* the mailbox's; not for create */
	const uint8_t *claim;           /* the device's; not for preview */
	/* The address the call counts against (RATELIMIT_KEY_LEN bytes), for a
	 * store that keeps the rate limits; NULL: none. */
	const uint8_t *client;
	int64_t now;
	const char *request_id;         /* Mailbox-Request-ID, or NULL */
	size_t request_id_len;
	/* 0 when the caller refused the request's body: the call stops with
	 * ACCESS_BAD_BODY where it would have used it, after the checks that
	 * come first (404, retry, 401, 412). */
	int body_ok;
	const struct mailbox_spec *spec;        /* create */
	/* read: a token; update: the payload and maybe a token. The call sets
	 * token_party to the claim's party. */
	struct mailbox_change change;
	/* update, If-Match: if_match 0 when there is none (any version may be
	 * overwritten); otherwise only the match_count versions in match, or
	 * any at all when match_any. */
	uint8_t if_match, match_any;
	const uint64_t *match;
	size_t match_count;
	/* read, for a store that counts long-polls per address (release_waiter
	 * set): a long-poll of up to park_ms (0: none) by a reader that holds
	 * the held_count versions in held, or any at all when held_any. When
	 * it holds the stored one, it will park: the call takes one of the
	 * client's places (answer->lease), or is refused STORE_WAITERS_FULL
	 * once it has acted. */
	int64_t park_ms;
	uint8_t held_any;
	const uint64_t *held;
	size_t held_count;
	/* create and update: what a retry must answer again, from the type of
	 * the writer's token once the call is done (type.ptr NULL: none). */
	uint8_t (*remember)(const struct access_request *req, struct store_bytes type);
	void (*done)(struct access_request *req, const struct access_answer *answer);
	void *pending;          /* the store's own, while an answer is due */
};

/*
 * A store the API asks: the memory store (access_memory) or a shared one
 * (storage/redis_store.h). With deferred set, an answer may come after the
 * call returns; cancel then says it is no longer wanted (done is never
 * called for it), and is harmless once it has come.
 */
struct access_store {
	void (*create)(void *ctx, struct access_request *req);
	void (*read)(void *ctx, struct access_request *req);
	void (*update)(void *ctx, struct access_request *req);
	void (*remove)(void *ctx, struct access_request *req);
	void (*relinquish)(void *ctx, struct access_request *req);
	void (*preview)(void *ctx, struct access_request *req);
	void (*cancel)(void *ctx, struct access_request *req);
	/* Park w on mb, a read's answer, until the mailbox changes to a
	 * version w does not hold, or goes (struct mailbox_waiter says how);
	 * unwatch is harmless when w was woken. */
	void (*watch)(void *ctx, struct mailbox *mb, struct mailbox_waiter *w);
	void (*unwatch)(void *ctx, struct mailbox_waiter *w);
	/* A store shared by several relays keeps the rate limits, so that they
	 * hold across all of them: each call checks its address's bucket
	 * first (ACCESS_RATE_LIMITED), and count_failure spends a --rate-fail
	 * token for a claim check the caller failed itself. NULL: the store
	 * keeps none (the caller does, storage/ratelimit.h). */
	void (*count_failure)(void *ctx, const uint8_t *client);
	/* Forget one party's token of mailbox id if it is still this one (a
	 * push gateway said it is no longer valid). Nobody waits for it. */
	void (*drop_token)(void *ctx, const uint8_t *id, int64_t now, enum mailbox_party party,
	    struct store_bytes type, struct store_bytes data);
	/* A store shared by several relays counts long-polls per address too
	 * (access_request.park_ms): a read's lease goes back with this once
	 * its wait is over. NULL: the store counts none. */
	void (*release_waiter)(void *ctx, const uint8_t *client, uint64_t lease);
	int deferred;
	void *ctx;
};

/* The memory store's calls, below, as an access_store. */
void access_memory(struct access_store *out, struct store *store);

void access_create(struct store *store, struct access_request *req);
/* Read, binding a claim that is neither party as the Receiver when the
 * mailbox has none and grants R. */
void access_read(struct store *store, struct access_request *req);
void access_update(struct store *store, struct access_request *req);
void access_delete(struct store *store, struct access_request *req);
void access_relinquish(struct store *store, struct access_request *req);
/* The share preview: no claim, nothing changes. */
void access_preview(struct store *store, struct access_request *req);
void access_drop_token(struct store *store, const uint8_t *id, int64_t now,
    enum mailbox_party party, struct store_bytes type, struct store_bytes data);

#endif
