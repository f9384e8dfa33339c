/*
 * store.h — the mailbox store: every mailbox the relay holds, in memory.
 *
 * This is the narrow interface behind which mailboxes live: create, get,
 * update (payload, tokens, binding), delete, expire, iterate, plus the retry
 * records of the spec's section 5 and the waiters that long-polls park on a
 * mailbox. It knows nothing of HTTP, TLS or sockets: identifiers and claims
 * are 16 raw bytes, strings are opaque bytes, time is handed in as `now`.
 * A shared backend (Redis, Valkey) for several relays would implement the
 * same calls.
 *
 * Every byte held for a mailbox is counted so that the operator's limits
 * (--max-mailboxes, --max-memory) can be enforced before memory runs out,
 * and, with a per-owner limit, against the mailbox's owner: an opaque 16-byte
 * key the caller chooses (the relay uses the creator's address).
 */
#ifndef STORAGE_STORE_H
#define STORAGE_STORE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/expiry.h"
#include "storage/table.h"

#define MAILBOX_ID_LEN 16
#define MAILBOX_CLAIM_LEN 16
/* The longest Mailbox-Request-ID a retry record keeps (spec section 3). */
#define STORE_REQUEST_ID_MAX 128
#define STORE_OWNER_LEN 16


/* The most a length field of the structs below can count, from its type:
 * what the store can hold, whatever rule the layers above keep. Lengths are
 * narrowed into these fields unchecked, so protocol/limits.h asserts that
 * every limit of the protocol fits the field that keeps it. */
#define STORE_FIELD_MAX(type, field) \
	((1ULL << (8 * sizeof(((type *)0)->field))) - 1)
#define STORE_PAYLOAD_TYPE_CAP STORE_FIELD_MAX(struct mailbox_payload, type_len)
#define STORE_PAYLOAD_DATA_CAP STORE_FIELD_MAX(struct mailbox_payload, data_len)
#define STORE_TITLE_CAP STORE_FIELD_MAX(struct mailbox_display, title_len)
#define STORE_DESCRIPTION_CAP STORE_FIELD_MAX(struct mailbox_display, description_len)
#define STORE_IMAGE_URL_CAP STORE_FIELD_MAX(struct mailbox_display, image_url_len)
#define STORE_TOKEN_TYPE_CAP STORE_FIELD_MAX(struct mailbox_token, type_len)
#define STORE_TOKEN_DATA_CAP STORE_FIELD_MAX(struct mailbox_token, data_len)
#define STORE_REQUEST_ID_CAP STORE_FIELD_MAX(struct store_record, request_id_len)

/* What the Receiver may do; the Sender may always do everything. */
enum mailbox_right {
	MAILBOX_READ = 1,
	MAILBOX_WRITE = 2,
	MAILBOX_DELETE = 4
};

enum mailbox_party {
	MAILBOX_SENDER = 0,
	MAILBOX_RECEIVER = 1
};

/* A length-counted byte string handed to the store; ptr NULL means absent. */
struct store_bytes {
	const char *ptr;
	size_t len;
};

/* The payload: its type, and its data as bytes (decoded from the base64 the
 * device sent: a quarter less memory than the text, for a cheap re-encoding
 * on each read). */
struct mailbox_payload {
	uint32_t data_len;
	uint8_t type_len;
	char bytes[];           /* type, then data */
};

struct mailbox_display {
	uint16_t title_len, description_len, image_url_len;
	char bytes[];           /* title, description, image URL */
};

struct mailbox_token {
	uint16_t type_len, data_len;
	char bytes[];           /* type, then data */
};

struct store_record;
struct mailbox_waiter;
struct quota_entry;

struct mailbox {
	struct table_node node;             /* key: the identifier */
	struct expiry_node expiry;
	uint8_t sender_claim[MAILBOX_CLAIM_LEN];
	uint8_t receiver_claim[MAILBOX_CLAIM_LEN];
	uint8_t rights;                     /* enum mailbox_right bits */
	uint8_t receiver_bound;
	uint64_t etag;                      /* changes with every payload update */
	struct mailbox_payload *payload;
	struct mailbox_display *display;
	struct mailbox_token *tokens[2];    /* by enum mailbox_party */
	struct store_record *records;       /* retry records that point here */
	struct mailbox_waiter *waiters;     /* parked long-polls */
	struct quota_entry *owner;          /* whose bytes these are, or NULL */
	size_t bytes;                       /* all memory accounted to it */
};

#define mailbox_id(mb) ((mb)->node.key)
#define mailbox_payload_type(p) ((p)->bytes)
#define mailbox_payload_data(p) ((p)->bytes + (p)->type_len)
#define mailbox_display_title(d) ((d)->bytes)
#define mailbox_display_description(d) ((d)->bytes + (d)->title_len)
#define mailbox_display_image_url(d) \
	((d)->bytes + (d)->title_len + (d)->description_len)
#define mailbox_token_type(t) ((t)->bytes)
#define mailbox_token_data(t) ((t)->bytes + (t)->type_len)

/* Everything a new mailbox starts with. */
struct mailbox_spec {
	uint8_t sender_claim[MAILBOX_CLAIM_LEN];
	uint8_t rights;
	int64_t expires_at;                 /* Unix seconds */
	struct store_bytes payload_type, payload_data;
	struct store_bytes title, description, image_url;
	struct store_bytes token_type, token_data;   /* ptr NULL: no token */
	/* STORE_OWNER_LEN bytes that this mailbox's bytes count against until
	 * it goes, or NULL: nobody's (a mailbox restored from a snapshot). */
	const uint8_t *owner;
};

/*
 * A waiter is parked on one mailbox until the mailbox changes to a version
 * the waiter does not already hold, or goes. On a payload update, holds() is
 * asked first (NULL: it holds nothing): non-zero leaves the waiter parked,
 * as its device already has that version (it may note it has). wake() is
 * called once, after the waiter has been unlinked (w->mailbox is NULL by
 * then), with the changed mailbox, or with NULL when it was deleted or
 * expired. Neither may call back into the store; wake() may read the mailbox.
 */
struct mailbox_waiter {
	struct mailbox_waiter *next, *prev;
	struct mailbox *mailbox;
	int (*holds)(struct mailbox_waiter *w, uint64_t etag);
	void (*wake)(struct mailbox_waiter *w, const struct mailbox *mb);
	/* For a shared store, which reads the mailbox again for the waiter
	 * when told it changed: whose claim reads, and the store's own. */
	const uint8_t *claim;
	void *parked;
};

/* Operations that the retry rule of the spec's section 5 covers. */
enum store_op {
	STORE_OP_CREATE = 1,
	STORE_OP_UPDATE,
	STORE_OP_RELINQUISH
};

/* The last successful retryable call of one claim. */
struct store_record {
	struct table_node node;             /* key: the claim */
	struct store_record *mailbox_next;  /* in its mailbox's list */
	struct mailbox *mailbox;
	uint8_t op;                         /* enum store_op */
	uint8_t result;                     /* what the answer said, for the caller */
	uint8_t request_id_len;
	char request_id[];
};
_Static_assert(STORE_REQUEST_ID_MAX <= STORE_REQUEST_ID_CAP,
    "store_record.request_id_len must count STORE_REQUEST_ID_MAX");

/* What an update replaces; a NULL ptr leaves that part as it is. */
struct mailbox_change {
	struct store_bytes payload_type, payload_data;
	struct store_bytes token_type, token_data;
	enum mailbox_party token_party;
};

enum store_result {
	STORE_OK = 0,
	STORE_FULL,         /* a configured limit would be exceeded */
	STORE_OWNER_FULL,   /* the owner's max_owner_bytes would be exceeded */
	STORE_NO_MEMORY,    /* malloc failed */
	STORE_NO_RANDOM,    /* the random generator failed */
	STORE_EXISTS,       /* store_restore: the identifier is taken */
	STORE_UNAVAILABLE,  /* a shared store is down, or did not answer in time */
	STORE_WAITERS_FULL  /* a shared store: the address's long-polls are at their limit */
};

struct store_limits {
	size_t max_mailboxes;
	size_t max_bytes;
	size_t max_owner_bytes;     /* per owner; 0: no such limit */
};

struct store_stats {
	size_t mailboxes;
	size_t records;
	size_t bytes;       /* everything accounted, tables included */
	size_t owners;      /* owners with bytes counted (per-owner limit only) */
	/* Since start: made by store_create (not restored), removed by
	 * store_delete, collected by store_expire. */
	uint64_t created, deleted, expired;
};

/* Same shape as mbedTLS's f_rng: 0 on success. */
typedef int (*store_random_fn)(void *ctx, unsigned char *out, size_t len);

/* NULL when the random generator fails. */
struct store *store_new(const struct store_limits *limits, store_random_fn random,
    void *random_ctx);
/* Frees every mailbox. No waiter may still be parked. */
void store_free(struct store *store);

/* A new mailbox with a fresh random version-4 identifier. */
enum store_result store_create(struct store *store, const struct mailbox_spec *spec,
    struct mailbox **out);
/* A mailbox as it was before a restart: its identifier and version are
 * given rather than made. */
enum store_result store_restore(struct store *store, const struct mailbox_spec *spec,
    const uint8_t id[MAILBOX_ID_LEN], uint64_t etag, struct mailbox **out);
/* A mailbox that no store holds: how a shared store's answer is read back.
 * spec's claims, owner and limits are not used; the receiver's token is
 * absent when its type's ptr is NULL. NULL when memory runs out. */
struct mailbox *store_view_new(const uint8_t id[MAILBOX_ID_LEN],
    const struct mailbox_spec *spec, uint64_t etag, uint8_t receiver_bound,
    struct store_bytes receiver_token_type, struct store_bytes receiver_token_data);
void store_view_free(struct mailbox *mb);
/* The live mailbox with this identifier, or NULL if absent or expired by now. */
struct mailbox *store_get(struct store *store, const uint8_t id[MAILBOX_ID_LEN],
    int64_t now);
/* Replace the payload (changing the ETag and waking every waiter that does
 * not hold the new one), one party's notification token, or both, all or
 * nothing. */
enum store_result store_update(struct store *store, struct mailbox *mb,
    const struct mailbox_change *change);
/* Forget one party's token if it is still this one (a push gateway said it
 * is no longer valid). */
void store_drop_token(struct store *store, struct mailbox *mb, enum mailbox_party party,
    struct store_bytes type, struct store_bytes data);
void store_bind_receiver(struct store *store, struct mailbox *mb,
    const uint8_t claim[MAILBOX_CLAIM_LEN]);
/* Unbind the Receiver and forget its token. */
void store_unbind_receiver(struct store *store, struct mailbox *mb);
/* Remove the mailbox with its records; its waiters wake with NULL. */
void store_delete(struct store *store, struct mailbox *mb);
/* Delete up to budget mailboxes whose expiry instant is <= now; returns how
 * many were deleted. */
size_t store_expire(struct store *store, int64_t now, size_t budget);
/* Visit every mailbox (expired ones not yet collected included). */
void store_iterate(struct store *store,
    void (*fn)(const struct mailbox *mb, void *arg), void *arg);

void store_watch(struct mailbox *mb, struct mailbox_waiter *w);
/* Unpark a waiter that has not been woken; harmless when it was. */
void store_unwatch(struct mailbox_waiter *w);

const struct store_record *store_record_find(struct store *store,
    const uint8_t claim[MAILBOX_CLAIM_LEN]);
/* Remember this claim's last successful call, replacing its previous record.
 * A request_id of length 0 forgets the claim's record. Failure to remember
 * (no memory, store full) only loses the retry and is not reported. */
void store_record_set(struct store *store, const uint8_t claim[MAILBOX_CLAIM_LEN],
    struct mailbox *mb, enum store_op op, uint8_t result,
    const char *request_id, size_t request_id_len);

struct store_stats store_stats(const struct store *store);
/* The bytes counted against an owner (0 without a per-owner limit). */
size_t store_owner_bytes(struct store *store, const uint8_t owner[STORE_OWNER_LEN]);

/* Constant-time comparison of two claims. */
int store_claim_equal(const uint8_t a[MAILBOX_CLAIM_LEN],
    const uint8_t b[MAILBOX_CLAIM_LEN]);

#endif
