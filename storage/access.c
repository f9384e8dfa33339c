/*
 * access.c — what a device does to a mailbox, on the memory store.
 */
#include <string.h>

#include "storage/access.h"

static void access_answer(struct access_request *req, enum access_verdict verdict,
    struct mailbox *mb)
{
	struct access_answer a = { .verdict = verdict, .mb = mb };

	req->done(req, &a);
}

static void access_refused(struct access_request *req, enum store_result why)
{
	struct access_answer a = { .verdict = ACCESS_REFUSED, .refusal = why };

	req->done(req, &a);
}

static int access_is_sender(const struct mailbox *mb, const uint8_t *claim)
{
	return store_claim_equal(mb->sender_claim, claim);
}

static int access_is_receiver(const struct mailbox *mb, const uint8_t *claim)
{
	/* Compare even when unbound, so that timing says nothing of binding. */
	int same = store_claim_equal(mb->receiver_claim, claim);

	return mb->receiver_bound && same;
}

/* The claim's record, if this call repeats the call it records: the same
 * operation with the same Mailbox-Request-ID, on the same mailbox (mb NULL:
 * any live one, for create). */
static const struct store_record *access_retry(struct store *store,
    const struct access_request *req, enum store_op op, const struct mailbox *mb)
{
	const struct store_record *rec = store_record_find(store, req->claim);

	if (rec == NULL || rec->op != op || req->request_id == NULL ||
	    rec->request_id_len != req->request_id_len ||
	    memcmp(rec->request_id, req->request_id, rec->request_id_len) != 0)
		return NULL;
	if (mb != NULL ? rec->mailbox != mb :
	    store_get(store, mailbox_id(rec->mailbox), req->now) == NULL)
		return NULL;
	return rec;
}

static void access_repeated(struct access_request *req, const struct store_record *rec)
{
	struct access_answer a = { .verdict = ACCESS_REPEATED, .remembered = rec->result,
	    .mb = rec->mailbox };

	req->done(req, &a);
}

static void access_remember(struct store *store, struct access_request *req,
    struct mailbox *mb, enum store_op op, uint8_t result)
{
	store_record_set(store, req->claim, mb, op, result, req->request_id,
	    req->request_id ? req->request_id_len : 0);
}

static struct store_bytes access_token_type(const struct mailbox *mb, enum mailbox_party party)
{
	struct store_bytes type = { NULL, 0 };

	if (mb->tokens[party] != NULL) {
		type.ptr = mailbox_token_type(mb->tokens[party]);
		type.len = mb->tokens[party]->type_len;
	}
	return type;
}

/* May the stored version be overwritten (If-Match)? */
static int access_matches(const struct access_request *req, uint64_t etag)
{
	if (!req->if_match || req->match_any)
		return 1;
	for (size_t i = 0; i < req->match_count; i++) {
		if (req->match[i] == etag)
			return 1;
	}
	return 0;
}

void access_create(struct store *store, struct access_request *req)
{
	const struct store_record *rec = access_retry(store, req, STORE_OP_CREATE, NULL);
	struct access_answer a = { .verdict = ACCESS_DONE, .party = MAILBOX_SENDER };
	enum store_result result;
	struct mailbox *mb;

	if (rec != NULL) {
		access_repeated(req, rec);
		return;
	}
	if (!req->body_ok) {
		access_answer(req, ACCESS_BAD_BODY, NULL);
		return;
	}
	result = store_create(store, req->spec, &mb);
	if (result != STORE_OK) {
		access_refused(req, result);
		return;
	}
	a.remembered = req->remember(req, access_token_type(mb, MAILBOX_SENDER));
	access_remember(store, req, mb, STORE_OP_CREATE, a.remembered);
	a.mb = mb;
	req->done(req, &a);
}

void access_read(struct store *store, struct access_request *req)
{
	struct access_answer a = { .verdict = ACCESS_DONE };
	struct mailbox *mb = store_get(store, req->id, req->now);
	int sender, bind = 0;

	if (mb == NULL) {
		access_answer(req, ACCESS_NOT_FOUND, NULL);
		return;
	}
	sender = access_is_sender(mb, req->claim);
	if (!sender && !(access_is_receiver(mb, req->claim) && (mb->rights & MAILBOX_READ))) {
		/* A new claim becomes the Receiver, if the mailbox lets one read. */
		if (mb->receiver_bound || !(mb->rights & MAILBOX_READ)) {
			access_answer(req, ACCESS_UNAUTHORIZED, NULL);
			return;
		}
		bind = 1;
	}
	if (!req->body_ok) {
		access_answer(req, ACCESS_BAD_BODY, NULL);
		return;
	}
	a.party = sender ? MAILBOX_SENDER : MAILBOX_RECEIVER;
	if (req->change.token_type.ptr != NULL) {
		enum store_result r;

		req->change.token_party = a.party;
		r = store_update(store, mb, &req->change);
		if (r != STORE_OK) {
			access_refused(req, r);
			return;
		}
	}
	if (bind)
		store_bind_receiver(store, mb, req->claim);
	a.mb = mb;
	req->done(req, &a);
}

void access_update(struct store *store, struct access_request *req)
{
	struct access_answer a = { .verdict = ACCESS_DONE };
	struct mailbox *mb = store_get(store, req->id, req->now);
	const struct store_record *rec;
	enum store_result result;
	int sender;

	if (mb == NULL) {
		access_answer(req, ACCESS_NOT_FOUND, NULL);
		return;
	}
	rec = access_retry(store, req, STORE_OP_UPDATE, mb);
	if (rec != NULL) {
		access_repeated(req, rec);
		return;
	}
	sender = access_is_sender(mb, req->claim);
	if (!sender && !(access_is_receiver(mb, req->claim) && (mb->rights & MAILBOX_WRITE))) {
		access_answer(req, ACCESS_UNAUTHORIZED, NULL);
		return;
	}
	if (!access_matches(req, mb->etag)) {
		access_answer(req, ACCESS_NOT_MATCHED, NULL);
		return;
	}
	if (!req->body_ok) {
		access_answer(req, ACCESS_BAD_BODY, NULL);
		return;
	}
	a.party = sender ? MAILBOX_SENDER : MAILBOX_RECEIVER;
	req->change.token_party = a.party;
	/* This wakes every long-poll parked on the mailbox that does not
	 * already hold the new version. */
	result = store_update(store, mb, &req->change);
	if (result != STORE_OK) {
		access_refused(req, result);
		return;
	}
	/* The writer's token: the one just given, else the one it left. */
	a.remembered = req->remember(req, access_token_type(mb, a.party));
	access_remember(store, req, mb, STORE_OP_UPDATE, a.remembered);
	a.mb = mb;
	req->done(req, &a);
}

void access_delete(struct store *store, struct access_request *req)
{
	struct access_answer a = { .verdict = ACCESS_DONE };
	struct mailbox *mb = store_get(store, req->id, req->now);
	int sender;

	if (mb == NULL) {
		access_answer(req, ACCESS_NOT_FOUND, NULL);
		return;
	}
	sender = access_is_sender(mb, req->claim);
	if (!sender && !(access_is_receiver(mb, req->claim) && (mb->rights & MAILBOX_DELETE))) {
		access_answer(req, ACCESS_UNAUTHORIZED, NULL);
		return;
	}
	a.party = sender ? MAILBOX_SENDER : MAILBOX_RECEIVER;
	a.mb = mb;
	/* The answer reads the mailbox (the other party's token) last. */
	req->done(req, &a);
	store_delete(store, mb);
}

void access_relinquish(struct store *store, struct access_request *req)
{
	struct access_answer a = { .verdict = ACCESS_DONE, .party = MAILBOX_RECEIVER };
	struct mailbox *mb = store_get(store, req->id, req->now);
	const struct store_record *rec;

	if (mb == NULL) {
		access_answer(req, ACCESS_NOT_FOUND, NULL);
		return;
	}
	rec = access_retry(store, req, STORE_OP_RELINQUISH, mb);
	if (rec != NULL) {
		access_repeated(req, rec);
		return;
	}
	if (!access_is_receiver(mb, req->claim)) {
		access_answer(req, ACCESS_UNAUTHORIZED, NULL);
		return;
	}
	store_unbind_receiver(store, mb);
	access_remember(store, req, mb, STORE_OP_RELINQUISH, 0);
	a.mb = mb;
	req->done(req, &a);
}

void access_preview(struct store *store, struct access_request *req)
{
	struct mailbox *mb = store_get(store, req->id, req->now);

	access_answer(req, mb != NULL ? ACCESS_DONE : ACCESS_NOT_FOUND, mb);
}

void access_drop_token(struct store *store, const uint8_t *id, int64_t now,
    enum mailbox_party party, struct store_bytes type, struct store_bytes data)
{
	struct mailbox *mb = store_get(store, id, now);

	if (mb != NULL)
		store_drop_token(store, mb, party, type, data);
}

/* The calls above through access_store's shape: ctx is the store. */
static void access_memory_create(void *ctx, struct access_request *req)
{
	access_create(ctx, req);
}

static void access_memory_read(void *ctx, struct access_request *req)
{
	access_read(ctx, req);
}

static void access_memory_update(void *ctx, struct access_request *req)
{
	access_update(ctx, req);
}

static void access_memory_delete(void *ctx, struct access_request *req)
{
	access_delete(ctx, req);
}

static void access_memory_relinquish(void *ctx, struct access_request *req)
{
	access_relinquish(ctx, req);
}

static void access_memory_preview(void *ctx, struct access_request *req)
{
	access_preview(ctx, req);
}

static void access_memory_drop_token(void *ctx, const uint8_t *id, int64_t now,
    enum mailbox_party party, struct store_bytes type, struct store_bytes data)
{
	access_drop_token(ctx, id, now, party, type, data);
}

/* Every answer has come before the call returned: nothing to cancel. */
static void access_memory_cancel(void *ctx, struct access_request *req)
{
	(void)ctx;
	(void)req;
}

static void access_memory_watch(void *ctx, struct mailbox *mb, struct mailbox_waiter *w)
{
	(void)ctx;
	store_watch(mb, w);
}

static void access_memory_unwatch(void *ctx, struct mailbox_waiter *w)
{
	(void)ctx;
	store_unwatch(w);
}

void access_memory(struct access_store *out, struct store *store)
{
	out->watch = access_memory_watch;
	out->unwatch = access_memory_unwatch;
	out->create = access_memory_create;
	out->read = access_memory_read;
	out->update = access_memory_update;
	out->remove = access_memory_delete;
	out->relinquish = access_memory_relinquish;
	out->preview = access_memory_preview;
	out->cancel = access_memory_cancel;
	out->count_failure = NULL;
	out->drop_token = access_memory_drop_token;
	out->release_waiter = NULL;
	out->deferred = 0;
	out->ctx = store;
}
