/*
 * store.c — the in-memory mailbox store.
 *
 * Two tables index what is held: mailboxes by identifier, retry records by
 * claim. An expiry heap orders mailboxes by their expiry instant so that the
 * periodic collection touches only what has expired. Every allocation made
 * for a mailbox is counted in store->bytes, with an allowance for the
 * allocator's own header, so that the limits hold for what memory really
 * costs rather than for what the client sent.
 *
 * Mailbox contents are client-sized, so they come from plain malloc and a
 * failure is reported to the caller (who answers 503) instead of aborting.
 *
 * With a per-owner limit, every byte counted for a mailbox — the mailbox,
 * its contents whoever wrote them, and the retry records that point at it —
 * is also counted against its owner (the creator's address) until the
 * mailbox goes. A single owner makes "who gets the bytes back" trivial on
 * every path, and the Receiver's writes, which the Sender allowed, can only
 * replace what is there, never add up beyond one payload.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/container_of.h"
#include "lib/uuid.h"
#include "storage/quota.h"
#include "storage/store.h"

/* What malloc spends per allocation beyond the bytes asked for (glibc: an
 * 8-byte header, rounded up to 16). */
#define STORE_ALLOC_OVERHEAD 16

#define STORE_ID_ATTEMPTS 4

struct store {
	struct table mailboxes;
	struct table records;
	struct expiry_heap expiry;
	struct store_limits limits;
	struct quota *owners;       /* bytes per owner, or NULL: no such limit */
	store_random_fn random;
	void *random_ctx;
	size_t bytes;               /* mailboxes and records, not the tables */
	size_t record_count;
	uint64_t created, deleted, expired;     /* since start */
};

static size_t store_cost(size_t size)
{
	return size + STORE_ALLOC_OVERHEAD;
}

static size_t store_total_bytes(const struct store *store)
{
	return store->bytes + table_bytes(&store->mailboxes) +
	    table_bytes(&store->records) + expiry_bytes(&store->expiry);
}

static int store_has_room(const struct store *store, size_t more)
{
	return store_total_bytes(store) + more <= store->limits.max_bytes;
}

static size_t store_payload_size(struct store_bytes type, struct store_bytes data)
{
	return sizeof(struct mailbox_payload) + type.len + data.len;
}

static size_t store_display_size(const struct mailbox_spec *spec)
{
	return sizeof(struct mailbox_display) + spec->title.len +
	    spec->description.len + spec->image_url.len;
}

static size_t store_token_size(struct store_bytes type, struct store_bytes data)
{
	return type.ptr ? sizeof(struct mailbox_token) + type.len + data.len : 0;
}

/* A payload or a token of size bytes (as accounted): its struct's fields up
 * to `bytes` (head), then the type, then the data. The caller sets the
 * lengths, whose widths differ. */
static void *store_typed_new(size_t size, size_t head, struct store_bytes type,
    struct store_bytes data)
{
	char *p = malloc(size);

	if (p != NULL) {
		memcpy(p + head, type.ptr, type.len);
		memcpy(p + head + type.len, data.ptr, data.len);
	}
	return p;
}

static struct mailbox_payload *store_payload_new(struct store_bytes type,
    struct store_bytes data)
{
	struct mailbox_payload *p = store_typed_new(store_payload_size(type, data),
	    offsetof(struct mailbox_payload, bytes), type, data);

	if (p != NULL) {
		p->type_len = (uint8_t)type.len;
		p->data_len = (uint32_t)data.len;
	}
	return p;
}

static struct mailbox_display *store_display_new(const struct mailbox_spec *spec)
{
	struct mailbox_display *d = malloc(store_display_size(spec));
	char *at;

	if (d == NULL)
		return NULL;
	d->title_len = (uint16_t)spec->title.len;
	d->description_len = (uint16_t)spec->description.len;
	d->image_url_len = (uint16_t)spec->image_url.len;
	at = d->bytes;
	memcpy(at, spec->title.ptr, spec->title.len);
	at += spec->title.len;
	if (spec->description.len)
		memcpy(at, spec->description.ptr, spec->description.len);
	at += spec->description.len;
	memcpy(at, spec->image_url.ptr, spec->image_url.len);
	return d;
}

static struct mailbox_token *store_token_new(struct store_bytes type,
    struct store_bytes data)
{
	struct mailbox_token *t = store_typed_new(store_token_size(type, data),
	    offsetof(struct mailbox_token, bytes), type, data);

	if (t != NULL) {
		t->type_len = (uint16_t)type.len;
		t->data_len = (uint16_t)data.len;
	}
	return t;
}

struct store *store_new(const struct store_limits *limits, store_random_fn random,
    void *random_ctx)
{
	uint8_t keys[3][SIPHASH_KEY_LEN];
	struct store *store;

	if (random(random_ctx, (unsigned char *)keys, sizeof(keys)) != 0)
		return NULL;
	store = xcalloc(1, sizeof(*store));
	table_init(&store->mailboxes, keys[0]);
	table_init(&store->records, keys[1]);
	expiry_init(&store->expiry);
	store->limits = *limits;
	if (limits->max_owner_bytes != 0) {
		size_t quota_limits[QUOTA_KINDS] = { 0 };

		quota_limits[QUOTA_BYTES] = limits->max_owner_bytes;
		store->owners = quota_new(quota_limits, keys[2]);
	}
	store->random = random;
	store->random_ctx = random_ctx;
	return store;
}

static void store_record_free(struct store *store, struct store_record *rec)
{
	struct store_record **link = &rec->mailbox->records;

	while (*link != rec)
		link = &(*link)->mailbox_next;
	*link = rec->mailbox_next;
	table_remove(&store->records, &rec->node);
	store->bytes -= store_cost(sizeof(*rec) + rec->request_id_len);
	quota_give(store->owners, rec->mailbox->owner, QUOTA_BYTES,
	    store_cost(sizeof(*rec) + rec->request_id_len));
	store->record_count--;
	free(rec);
}

static void store_mailbox_release(struct mailbox *mb)
{
	free(mb->payload);
	free(mb->display);
	free(mb->tokens[MAILBOX_SENDER]);
	free(mb->tokens[MAILBOX_RECEIVER]);
	free(mb);
}

static void store_free_node(struct table_node *node, void *arg)
{
	(void)arg;
	store_mailbox_release(container_of(node, struct mailbox, node));
}

static void store_free_record_node(struct table_node *node, void *arg)
{
	(void)arg;
	free(container_of(node, struct store_record, node));
}

void store_free(struct store *store)
{
	if (store == NULL)
		return;
	table_each(&store->records, store_free_record_node, NULL);
	table_each(&store->mailboxes, store_free_node, NULL);
	table_destroy(&store->records);
	table_destroy(&store->mailboxes);
	expiry_destroy(&store->expiry);
	quota_free(store->owners);
	free(store);
}

_Static_assert(MAILBOX_ID_LEN == UUID_LEN, "a mailbox identifier is a UUID");

/* A version-4 UUID nobody holds yet: 122 random bits, never sequential. */
static enum store_result store_new_id(struct store *store, uint8_t id[MAILBOX_ID_LEN])
{
	for (int attempt = 0; attempt < STORE_ID_ATTEMPTS; attempt++) {
		if (store->random(store->random_ctx, id, MAILBOX_ID_LEN) != 0)
			return STORE_NO_RANDOM;
		uuid_set_v4(id);
		if (table_find(&store->mailboxes, id) == NULL)
			return STORE_OK;
	}
	return STORE_NO_RANDOM;
}

/* A new mailbox under id (NULL: a fresh random one) at version etag. */
static enum store_result store_add(struct store *store, const struct mailbox_spec *spec,
    const uint8_t *id, uint64_t etag, struct mailbox **out)
{
	size_t payload_size = store_payload_size(spec->payload_type, spec->payload_data);
	size_t display_size = store_display_size(spec);
	size_t token_size = store_token_size(spec->token_type, spec->token_data);
	size_t bytes = store_cost(sizeof(struct mailbox)) + store_cost(payload_size) +
	    store_cost(display_size) + (token_size ? store_cost(token_size) : 0);
	struct quota_entry *owner = NULL;
	enum store_result result;
	struct mailbox *mb;

	if (store->mailboxes.count >= store->limits.max_mailboxes ||
	    !store_has_room(store, bytes))
		return STORE_FULL;
	if (spec->owner != NULL &&
	    quota_take(store->owners, QUOTA_BYTES, spec->owner, bytes, &owner) != 0)
		return STORE_OWNER_FULL;
	mb = calloc(1, sizeof(*mb));
	if (mb == NULL) {
		quota_give(store->owners, owner, QUOTA_BYTES, bytes);
		return STORE_NO_MEMORY;
	}
	mb->owner = owner;
	if (id == NULL) {
		result = store_new_id(store, mb->node.key);
		if (result != STORE_OK)
			goto fail;
	} else if (table_find(&store->mailboxes, id) != NULL) {
		result = STORE_EXISTS;
		goto fail;
	} else {
		memcpy(mb->node.key, id, MAILBOX_ID_LEN);
	}
	result = STORE_NO_MEMORY;
	mb->payload = store_payload_new(spec->payload_type, spec->payload_data);
	mb->display = store_display_new(spec);
	if (mb->payload == NULL || mb->display == NULL)
		goto fail;
	if (token_size) {
		mb->tokens[MAILBOX_SENDER] = store_token_new(spec->token_type, spec->token_data);
		if (mb->tokens[MAILBOX_SENDER] == NULL)
			goto fail;
	}
	memcpy(mb->sender_claim, spec->sender_claim, MAILBOX_CLAIM_LEN);
	mb->rights = spec->rights;
	mb->etag = etag;
	mb->bytes = bytes;
	mb->expiry.expires_at = spec->expires_at;
	table_insert(&store->mailboxes, &mb->node);
	expiry_add(&store->expiry, &mb->expiry);
	store->bytes += bytes;
	*out = mb;
	return STORE_OK;
fail:
	quota_give(store->owners, mb->owner, QUOTA_BYTES, bytes);
	store_mailbox_release(mb);
	return result;
}

struct mailbox *store_view_new(const uint8_t id[MAILBOX_ID_LEN],
    const struct mailbox_spec *spec, uint64_t etag, uint8_t receiver_bound,
    struct store_bytes receiver_token_type, struct store_bytes receiver_token_data)
{
	struct mailbox *mb = calloc(1, sizeof(*mb));

	if (mb == NULL)
		return NULL;
	memcpy(mb->node.key, id, MAILBOX_ID_LEN);
	mb->payload = store_payload_new(spec->payload_type, spec->payload_data);
	mb->display = store_display_new(spec);
	if (spec->token_type.ptr != NULL)
		mb->tokens[MAILBOX_SENDER] = store_token_new(spec->token_type, spec->token_data);
	if (receiver_token_type.ptr != NULL)
		mb->tokens[MAILBOX_RECEIVER] = store_token_new(receiver_token_type,
		    receiver_token_data);
	if (mb->payload == NULL || mb->display == NULL ||
	    (spec->token_type.ptr != NULL && mb->tokens[MAILBOX_SENDER] == NULL) ||
	    (receiver_token_type.ptr != NULL && mb->tokens[MAILBOX_RECEIVER] == NULL)) {
		store_mailbox_release(mb);
		return NULL;
	}
	mb->rights = spec->rights;
	mb->receiver_bound = receiver_bound;
	mb->etag = etag;
	mb->expiry.expires_at = spec->expires_at;
	return mb;
}

void store_view_free(struct mailbox *mb)
{
	if (mb != NULL)
		store_mailbox_release(mb);
}

enum store_result store_create(struct store *store, const struct mailbox_spec *spec,
    struct mailbox **out)
{
	enum store_result result = store_add(store, spec, NULL, 1, out);

	if (result == STORE_OK)
		store->created++;
	return result;
}

enum store_result store_restore(struct store *store, const struct mailbox_spec *spec,
    const uint8_t id[MAILBOX_ID_LEN], uint64_t etag, struct mailbox **out)
{
	return store_add(store, spec, id, etag, out);
}

struct mailbox *store_get(struct store *store, const uint8_t id[MAILBOX_ID_LEN],
    int64_t now)
{
	struct table_node *node = table_find(&store->mailboxes, id);
	struct mailbox *mb;

	if (node == NULL)
		return NULL;
	mb = container_of(node, struct mailbox, node);
	/* Expired but not yet collected: already gone for every caller. */
	return mb->expiry.expires_at <= now ? NULL : mb;
}

/* The mailbox goes: every waiter wakes to its absence. */
static void store_wake_gone(struct mailbox *mb)
{
	struct mailbox_waiter *w;

	while ((w = mb->waiters) != NULL) {
		mb->waiters = w->next;
		if (w->next != NULL)
			w->next->prev = NULL;
		w->next = w->prev = NULL;
		w->mailbox = NULL;
		w->wake(w, NULL);
	}
}

/* After a payload update: wake every waiter but those that already hold
 * the new version. wake() does not call back into the store, so the next
 * waiter is still linked when its turn comes. */
static void store_wake_changed(struct mailbox *mb)
{
	struct mailbox_waiter *w, *next;

	for (w = mb->waiters; w != NULL; w = next) {
		next = w->next;
		if (w->holds != NULL && w->holds(w, mb->etag))
			continue;
		store_unwatch(w);
		w->wake(w, mb);
	}
}

static size_t store_token_bytes(const struct mailbox_token *t)
{
	return t ? store_cost(sizeof(*t) + t->type_len + t->data_len) : 0;
}

enum store_result store_update(struct store *store, struct mailbox *mb,
    const struct mailbox_change *change)
{
	struct mailbox_payload *payload = NULL;
	struct mailbox_token *token = NULL, **slot = &mb->tokens[change->token_party];
	size_t old_bytes = 0, new_bytes = 0;

	if (change->payload_type.ptr != NULL) {
		old_bytes += store_cost(sizeof(*mb->payload) + mb->payload->type_len +
		    mb->payload->data_len);
		new_bytes += store_cost(store_payload_size(change->payload_type,
		    change->payload_data));
	}
	if (change->token_type.ptr != NULL) {
		old_bytes += store_token_bytes(*slot);
		new_bytes += store_cost(store_token_size(change->token_type, change->token_data));
	}
	if (new_bytes > old_bytes && !store_has_room(store, new_bytes - old_bytes))
		return STORE_FULL;
	/* Whoever writes, the growth counts against the mailbox's owner. */
	if (new_bytes > old_bytes &&
	    quota_add(store->owners, mb->owner, QUOTA_BYTES, new_bytes - old_bytes) != 0)
		return STORE_OWNER_FULL;
	if (change->payload_type.ptr != NULL) {
		payload = store_payload_new(change->payload_type, change->payload_data);
		if (payload == NULL)
			goto no_memory;
	}
	if (change->token_type.ptr != NULL) {
		token = store_token_new(change->token_type, change->token_data);
		if (token == NULL) {
			free(payload);
			goto no_memory;
		}
		free(*slot);
		*slot = token;
	}
	if (new_bytes < old_bytes)
		quota_give(store->owners, mb->owner, QUOTA_BYTES, old_bytes - new_bytes);
	store->bytes = store->bytes - old_bytes + new_bytes;
	mb->bytes = mb->bytes - old_bytes + new_bytes;
	if (payload != NULL) {
		free(mb->payload);
		mb->payload = payload;
		mb->etag++;
		store_wake_changed(mb);
	}
	return STORE_OK;
no_memory:
	if (new_bytes > old_bytes)
		quota_give(store->owners, mb->owner, QUOTA_BYTES, new_bytes - old_bytes);
	return STORE_NO_MEMORY;
}

void store_bind_receiver(struct store *store, struct mailbox *mb,
    const uint8_t claim[MAILBOX_CLAIM_LEN])
{
	(void)store;
	memcpy(mb->receiver_claim, claim, MAILBOX_CLAIM_LEN);
	mb->receiver_bound = 1;
}

static void store_forget_token(struct store *store, struct mailbox *mb,
    enum mailbox_party party)
{
	size_t bytes = store_token_bytes(mb->tokens[party]);

	free(mb->tokens[party]);
	mb->tokens[party] = NULL;
	store->bytes -= bytes;
	mb->bytes -= bytes;
	quota_give(store->owners, mb->owner, QUOTA_BYTES, bytes);
}

void store_drop_token(struct store *store, struct mailbox *mb, enum mailbox_party party,
    struct store_bytes type, struct store_bytes data)
{
	const struct mailbox_token *t = mb->tokens[party];

	if (t != NULL && t->type_len == type.len && t->data_len == data.len &&
	    memcmp(mailbox_token_type(t), type.ptr, type.len) == 0 &&
	    memcmp(mailbox_token_data(t), data.ptr, data.len) == 0)
		store_forget_token(store, mb, party);
}

void store_unbind_receiver(struct store *store, struct mailbox *mb)
{
	store_forget_token(store, mb, MAILBOX_RECEIVER);
	memset(mb->receiver_claim, 0, MAILBOX_CLAIM_LEN);
	mb->receiver_bound = 0;
}

/* Remove the mailbox with its records; its waiters wake with NULL. */
static void store_remove(struct store *store, struct mailbox *mb)
{
	while (mb->records != NULL)
		store_record_free(store, mb->records);
	table_remove(&store->mailboxes, &mb->node);
	expiry_remove(&store->expiry, &mb->expiry);
	store->bytes -= mb->bytes;
	/* The records went first: their bytes kept the owner's entry alive. */
	quota_give(store->owners, mb->owner, QUOTA_BYTES, mb->bytes);
	store_wake_gone(mb);
	store_mailbox_release(mb);
}

void store_delete(struct store *store, struct mailbox *mb)
{
	store_remove(store, mb);
	store->deleted++;
}

size_t store_expire(struct store *store, int64_t now, size_t budget)
{
	size_t deleted = 0;
	struct expiry_node *first;

	while (deleted < budget && (first = expiry_first(&store->expiry)) != NULL &&
	    first->expires_at <= now) {
		store_remove(store, container_of(first, struct mailbox, expiry));
		store->expired++;
		deleted++;
	}
	return deleted;
}

struct store_iterate_ctx {
	void (*fn)(const struct mailbox *mb, void *arg);
	void *arg;
};

static void store_iterate_node(struct table_node *node, void *arg)
{
	struct store_iterate_ctx *ctx = arg;

	ctx->fn(container_of(node, struct mailbox, node), ctx->arg);
}

void store_iterate(struct store *store,
    void (*fn)(const struct mailbox *mb, void *arg), void *arg)
{
	struct store_iterate_ctx ctx = { fn, arg };

	table_each(&store->mailboxes, store_iterate_node, &ctx);
}

void store_watch(struct mailbox *mb, struct mailbox_waiter *w)
{
	w->mailbox = mb;
	w->prev = NULL;
	w->next = mb->waiters;
	if (mb->waiters != NULL)
		mb->waiters->prev = w;
	mb->waiters = w;
}

void store_unwatch(struct mailbox_waiter *w)
{
	if (w->mailbox == NULL)
		return;
	if (w->prev != NULL)
		w->prev->next = w->next;
	else
		w->mailbox->waiters = w->next;
	if (w->next != NULL)
		w->next->prev = w->prev;
	w->next = w->prev = NULL;
	w->mailbox = NULL;
}

const struct store_record *store_record_find(struct store *store,
    const uint8_t claim[MAILBOX_CLAIM_LEN])
{
	struct table_node *node = table_find(&store->records, claim);

	return node ? container_of(node, struct store_record, node) : NULL;
}

void store_record_set(struct store *store, const uint8_t claim[MAILBOX_CLAIM_LEN],
    struct mailbox *mb, enum store_op op, uint8_t result,
    const char *request_id, size_t request_id_len)
{
	struct table_node *old = table_find(&store->records, claim);
	struct store_record *rec;

	if (old != NULL)
		store_record_free(store, container_of(old, struct store_record, node));
	if (request_id_len == 0 || request_id_len > STORE_REQUEST_ID_MAX)
		return;
	/* One relinquish record per mailbox is enough: otherwise a Receiver
	 * binding and relinquishing with ever new claims would pile them up. */
	if (op == STORE_OP_RELINQUISH) {
		struct store_record *r = mb->records, *next;

		for (; r != NULL; r = next) {
			next = r->mailbox_next;
			if (r->op == STORE_OP_RELINQUISH)
				store_record_free(store, r);
		}
	}
	if (!store_has_room(store, store_cost(sizeof(*rec) + request_id_len)) ||
	    quota_add(store->owners, mb->owner, QUOTA_BYTES,
	    store_cost(sizeof(*rec) + request_id_len)) != 0)
		return;
	rec = malloc(sizeof(*rec) + request_id_len);
	if (rec == NULL) {
		quota_give(store->owners, mb->owner, QUOTA_BYTES,
		    store_cost(sizeof(*rec) + request_id_len));
		return;
	}
	memcpy(rec->node.key, claim, MAILBOX_CLAIM_LEN);
	rec->mailbox = mb;
	rec->op = (uint8_t)op;
	rec->result = result;
	rec->request_id_len = (uint8_t)request_id_len;
	memcpy(rec->request_id, request_id, request_id_len);
	rec->mailbox_next = mb->records;
	mb->records = rec;
	table_insert(&store->records, &rec->node);
	store->bytes += store_cost(sizeof(*rec) + request_id_len);
	store->record_count++;
}

struct store_stats store_stats(const struct store *store)
{
	struct store_stats stats = {
		.mailboxes = store->mailboxes.count,
		.records = store->record_count,
		.bytes = store_total_bytes(store),
		.owners = quota_entries(store->owners),
		.created = store->created,
		.deleted = store->deleted,
		.expired = store->expired,
	};

	return stats;
}

size_t store_owner_bytes(struct store *store, const uint8_t owner[STORE_OWNER_LEN])
{
	return quota_used(store->owners, QUOTA_BYTES, owner);
}

int store_claim_equal(const uint8_t a[MAILBOX_CLAIM_LEN],
    const uint8_t b[MAILBOX_CLAIM_LEN])
{
	uint8_t diff = 0;

	for (int i = 0; i < MAILBOX_CLAIM_LEN; i++)
		diff |= a[i] ^ b[i];
	return diff == 0;
}
