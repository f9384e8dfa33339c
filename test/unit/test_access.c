/*
 * test_access.c — the store's verdicts on what a device asks (storage/access.c).
 *
 * The order of the checks is the contract: 404, then a retry, then the
 * claim, then If-Match, then the body, then the act. Every other store
 * (Redis) must give the same verdicts in the same order.
 */
#include <stdint.h>
#include <string.h>

#include "storage/access.h"
#include "storage/store.h"
#include "test/unit/check.h"

#define NOW 1700000000

static const uint8_t SENDER[MAILBOX_CLAIM_LEN] = { 1 };
static const uint8_t RECEIVER[MAILBOX_CLAIM_LEN] = { 2 };
static const uint8_t STRANGER[MAILBOX_CLAIM_LEN] = { 3 };

static int test_random(void *ctx, unsigned char *out, size_t len)
{
	unsigned *counter = ctx;

	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(++*counter * 37);
	return 0;
}

/* One request and what its done() saw. */
struct call {
	struct access_request req;
	struct access_answer answer;
	int answers;
	uint8_t id[MAILBOX_ID_LEN];
	uint64_t version;               /* what If-Match names, when it is sent */
	uint64_t seen_etag;
	int mailbox_alive;              /* done() could read the mailbox */
	uint8_t remembered_for;         /* remember() answers this */
};

static void call_done(struct access_request *req, const struct access_answer *a)
{
	struct call *c = (struct call *)req;

	c->answer = *a;
	c->answers++;
	if (a->mb != NULL) {
		memcpy(c->id, mailbox_id(a->mb), MAILBOX_ID_LEN);
		c->seen_etag = a->mb->etag;
		c->mailbox_alive = a->mb->payload != NULL;
	}
}

/* If-Match names this one version. */
static void if_match(struct call *c, uint64_t version)
{
	c->version = version;
	c->req.if_match = 1;
	c->req.match = &c->version;
	c->req.match_count = 1;
}

static uint8_t call_remember(const struct access_request *req, struct store_bytes type)
{
	const struct call *c = (const struct call *)req;

	return type.ptr != NULL && type.len == 4 && memcmp(type.ptr, "apns", 4) == 0 ?
	    c->remembered_for : 0;
}

static void call_init(struct call *c, const uint8_t *claim, const uint8_t *id,
    const char *request_id)
{
	memset(c, 0, sizeof(*c));
	c->req.claim = claim;
	c->req.id = id;
	c->req.now = NOW;
	c->req.request_id = request_id;
	c->req.request_id_len = request_id ? strlen(request_id) : 0;
	c->req.body_ok = 1;
	c->req.remember = call_remember;
	c->req.done = call_done;
	c->remembered_for = 1;
}

static struct store *new_store(unsigned *counter)
{
	struct store_limits limits = { 100, 1 << 20, 0 };

	return store_new(&limits, test_random, counter);
}

/* The Sender's mailbox for a minute, with a token whose type is remembered. */
static void spec_init(struct mailbox_spec *spec, uint8_t rights)
{
	memset(spec, 0, sizeof(*spec));
	memcpy(spec->sender_claim, SENDER, MAILBOX_CLAIM_LEN);
	spec->rights = rights;
	spec->expires_at = NOW + 60;
	spec->payload_type = (struct store_bytes){ "t", 1 };
	spec->payload_data = (struct store_bytes){ "data", 4 };
	spec->token_type = (struct store_bytes){ "apns", 4 };
	spec->token_data = (struct store_bytes){ "tok", 3 };
	/* As the API hands them: present, maybe empty. */
	spec->title = (struct store_bytes){ "", 0 };
	spec->description = (struct store_bytes){ "", 0 };
	spec->image_url = (struct store_bytes){ "", 0 };
}

/* A mailbox of the Sender's with these rights, its identifier in id. */
static void create(struct store *store, uint8_t rights, uint8_t id[MAILBOX_ID_LEN])
{
	struct mailbox_spec spec;
	struct call c;

	spec_init(&spec, rights);
	call_init(&c, SENDER, NULL, NULL);
	c.req.spec = &spec;
	access_create(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_DONE);
	memcpy(id, c.id, MAILBOX_ID_LEN);
}

static void test_create_and_its_retry(void)
{
	unsigned counter = 0;
	struct store *store = new_store(&counter);
	struct mailbox_spec spec;
	uint8_t first[MAILBOX_ID_LEN];
	struct call c;

	spec_init(&spec, MAILBOX_READ);
	call_init(&c, SENDER, NULL, "r1");
	c.req.spec = &spec;
	c.remembered_for = 7;
	access_create(store, &c.req);
	CHECK_EQ_INT(c.answers, 1);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_DONE);
	CHECK_EQ_INT(c.answer.remembered, 7);
	memcpy(first, c.id, MAILBOX_ID_LEN);

	/* The same request again, its body refused this time: recognised as a
	 * retry before the body counts, with the first answer's flag. */
	call_init(&c, SENDER, NULL, "r1");
	c.req.spec = &spec;
	c.req.body_ok = 0;
	c.remembered_for = 9;
	access_create(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_REPEATED);
	CHECK_EQ_INT(c.answer.remembered, 7);
	CHECK(memcmp(c.id, first, MAILBOX_ID_LEN) == 0);
	CHECK_EQ_INT(store_stats(store).mailboxes, 1);

	/* Another request id, body refused: nothing made. */
	call_init(&c, SENDER, NULL, "r2");
	c.req.spec = &spec;
	c.req.body_ok = 0;
	access_create(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_BAD_BODY);
	CHECK(c.answer.mb == NULL);
	CHECK_EQ_INT(store_stats(store).mailboxes, 1);
	store_free(store);
}

static void test_create_refused_when_full(void)
{
	unsigned counter = 0;
	struct store_limits limits = { 1, 1 << 20, 0 };
	struct store *store = store_new(&limits, test_random, &counter);
	uint8_t id[MAILBOX_ID_LEN];
	struct mailbox_spec spec;
	struct call c;

	create(store, MAILBOX_READ, id);
	spec_init(&spec, MAILBOX_READ);
	call_init(&c, SENDER, NULL, NULL);
	c.req.spec = &spec;
	access_create(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_REFUSED);
	CHECK_EQ_INT(c.answer.refusal, STORE_FULL);
	store_free(store);
}

static void test_read_binds_one_receiver(void)
{
	unsigned counter = 0;
	struct store *store = new_store(&counter);
	uint8_t id[MAILBOX_ID_LEN], unknown[MAILBOX_ID_LEN] = { 0xee };
	struct call c;

	create(store, MAILBOX_READ, id);
	call_init(&c, RECEIVER, unknown, NULL);
	access_read(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_NOT_FOUND);

	call_init(&c, SENDER, id, NULL);
	access_read(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_DONE);
	CHECK_EQ_INT(c.answer.party, MAILBOX_SENDER);

	/* A stranger whose body is refused: nothing bound. */
	call_init(&c, RECEIVER, id, NULL);
	c.req.body_ok = 0;
	access_read(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_BAD_BODY);
	CHECK(!store_get(store, id, NOW)->receiver_bound);

	/* The first new claim binds, with its token; the next is refused, and
	 * its body does not matter. */
	call_init(&c, RECEIVER, id, NULL);
	c.req.change.token_type = (struct store_bytes){ "fcm", 3 };
	c.req.change.token_data = (struct store_bytes){ "r", 1 };
	access_read(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_DONE);
	CHECK_EQ_INT(c.answer.party, MAILBOX_RECEIVER);
	CHECK(store_get(store, id, NOW)->receiver_bound);
	CHECK(store_get(store, id, NOW)->tokens[MAILBOX_RECEIVER] != NULL);
	CHECK(memcmp(store_get(store, id, NOW)->receiver_claim, RECEIVER, MAILBOX_CLAIM_LEN) == 0);

	call_init(&c, STRANGER, id, NULL);
	c.req.body_ok = 0;
	access_read(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_UNAUTHORIZED);
	CHECK(c.answer.mb == NULL);
	store_free(store);
}

static void test_read_without_r_binds_nobody(void)
{
	unsigned counter = 0;
	struct store *store = new_store(&counter);
	uint8_t id[MAILBOX_ID_LEN];
	struct call c;

	create(store, MAILBOX_WRITE | MAILBOX_DELETE, id);
	call_init(&c, RECEIVER, id, NULL);
	access_read(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_UNAUTHORIZED);
	CHECK(!store_get(store, id, NOW)->receiver_bound);
	store_free(store);
}

static void test_update_checks_in_order(void)
{
	unsigned counter = 0;
	struct store *store = new_store(&counter);
	uint8_t id[MAILBOX_ID_LEN], unknown[MAILBOX_ID_LEN] = { 0xee };
	uint64_t etag;
	struct call c;

	create(store, MAILBOX_READ, id);
	etag = store_get(store, id, NOW)->etag;
	call_init(&c, RECEIVER, id, NULL);
	access_read(store, &c.req);

	/* 404 first. */
	call_init(&c, SENDER, unknown, "u1");
	if_match(&c, etag);
	access_update(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_NOT_FOUND);
	/* A Receiver without W: 401 before the precondition and the body. */
	call_init(&c, RECEIVER, id, "u1");
	if_match(&c, etag);
	c.req.body_ok = 0;
	access_update(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_UNAUTHORIZED);
	/* The Sender, a stale version and a refused body: 412. */
	call_init(&c, SENDER, id, "u1");
	if_match(&c, etag + 1);
	c.req.body_ok = 0;
	access_update(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_NOT_MATCHED);
	/* The right version, the body refused. */
	if_match(&c, etag);
	access_update(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_BAD_BODY);
	CHECK_EQ_INT(store_get(store, id, NOW)->etag, etag);

	/* Done: a new version, remembered from the Sender's token. */
	call_init(&c, SENDER, id, "u1");
	c.req.change.payload_type = (struct store_bytes){ "t", 1 };
	c.req.change.payload_data = (struct store_bytes){ "new", 3 };
	c.remembered_for = 5;
	access_update(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_DONE);
	CHECK_EQ_INT(c.answer.party, MAILBOX_SENDER);
	CHECK_EQ_INT(c.answer.remembered, 5);
	CHECK_EQ_INT(c.seen_etag, etag + 1);

	/* Its retry, with a stale If-Match: the retry comes first. */
	call_init(&c, SENDER, id, "u1");
	if_match(&c, etag);
	c.req.change.payload_type = (struct store_bytes){ "t", 1 };
	c.req.change.payload_data = (struct store_bytes){ "again", 5 };
	access_update(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_REPEATED);
	CHECK_EQ_INT(c.answer.remembered, 5);
	CHECK_EQ_INT(store_get(store, id, NOW)->etag, etag + 1);
	store_free(store);
}

static void test_delete_answers_before_the_mailbox_goes(void)
{
	unsigned counter = 0;
	struct store *store = new_store(&counter);
	uint8_t id[MAILBOX_ID_LEN];
	struct call c;

	create(store, MAILBOX_READ, id);
	call_init(&c, RECEIVER, id, NULL);
	access_read(store, &c.req);
	call_init(&c, RECEIVER, id, NULL);
	access_delete(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_UNAUTHORIZED);
	CHECK(store_get(store, id, NOW) != NULL);

	call_init(&c, SENDER, id, NULL);
	access_delete(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_DONE);
	CHECK_EQ_INT(c.answer.party, MAILBOX_SENDER);
	CHECK(c.mailbox_alive);
	CHECK(store_get(store, id, NOW) == NULL);
	store_free(store);
}

static void test_relinquish(void)
{
	unsigned counter = 0;
	struct store *store = new_store(&counter);
	uint8_t id[MAILBOX_ID_LEN];
	struct call c;

	create(store, MAILBOX_READ, id);
	call_init(&c, RECEIVER, id, NULL);
	access_read(store, &c.req);
	call_init(&c, SENDER, id, "q");
	access_relinquish(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_UNAUTHORIZED);
	call_init(&c, RECEIVER, id, "q");
	access_relinquish(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_DONE);
	CHECK(!store_get(store, id, NOW)->receiver_bound);
	call_init(&c, RECEIVER, id, "q");
	access_relinquish(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_REPEATED);
	call_init(&c, RECEIVER, id, "other");
	access_relinquish(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_UNAUTHORIZED);
	store_free(store);
}

static void test_preview(void)
{
	unsigned counter = 0;
	struct store *store = new_store(&counter);
	uint8_t id[MAILBOX_ID_LEN], unknown[MAILBOX_ID_LEN] = { 0xee };
	struct call c;

	create(store, MAILBOX_READ, id);
	call_init(&c, NULL, id, NULL);
	access_preview(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_DONE);
	CHECK(memcmp(c.id, id, MAILBOX_ID_LEN) == 0);
	call_init(&c, NULL, unknown, NULL);
	access_preview(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_NOT_FOUND);
	/* Expired is gone, even before it is collected. */
	call_init(&c, NULL, id, NULL);
	c.req.now = NOW + 61;
	access_preview(store, &c.req);
	CHECK_EQ_INT(c.answer.verdict, ACCESS_NOT_FOUND);
	store_free(store);
}

int main(void)
{
	CHECK_RUN(test_create_and_its_retry);
	CHECK_RUN(test_create_refused_when_full);
	CHECK_RUN(test_read_binds_one_receiver);
	CHECK_RUN(test_read_without_r_binds_nobody);
	CHECK_RUN(test_update_checks_in_order);
	CHECK_RUN(test_delete_answers_before_the_mailbox_goes);
	CHECK_RUN(test_relinquish);
	CHECK_RUN(test_preview);
	return CHECK_SUMMARY();
}
