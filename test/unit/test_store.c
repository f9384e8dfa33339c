/*
 * test_store.c — the storage layer: SipHash, the hash table, the expiry heap
 * and the mailbox store on top of them.
 *
 * Everything random here comes from a counter run through a mixing function,
 * so a failure shows up the same way on every run. The table test is large
 * enough (100 000 keys) that every resize happens, and it checks lookups while
 * an incremental rehash is half done, which is when chained tables break.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/container_of.h"
#include "storage/expiry.h"
#include "storage/siphash.h"
#include "storage/store.h"
#include "storage/table.h"
#include "test/unit/check.h"

#define TEST_TABLE_KEYS 100000
#define TEST_HEAP_NODES 2000
#define TEST_NOW 1700000000

/* ---- deterministic randomness ---- */

static uint64_t splitmix64(uint64_t x)
{
	x += 0x9e3779b97f4a7c15ULL;
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

struct test_rng {
	uint64_t counter;
	int fail;               /* non-zero: every call fails */
	int constant;           /* non-zero: always the same bytes */
};

static int test_random(void *ctx, unsigned char *out, size_t len)
{
	struct test_rng *rng = ctx;
	uint64_t v = 0;

	if (rng->fail)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (i % 8 == 0)
			v = splitmix64(rng->constant ? 42 : rng->counter++);
		out[i] = (unsigned char)(v >> (8 * (i % 8)));
	}
	return 0;
}

static uint64_t test_next(uint64_t *state)
{
	return splitmix64((*state)++);
}

/* ---- SipHash ---- */

static void test_siphash_vectors(void)
{
	uint8_t key[SIPHASH_KEY_LEN], msg[64];

	for (int i = 0; i < SIPHASH_KEY_LEN; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < 64; i++)
		msg[i] = (uint8_t)i;
	/* The reference implementation's vectors.h, and the paper's
	 * appendix A (15 bytes). */
	CHECK(siphash(msg, 0, key) == 0x726fdb47dd0e0e31ULL);
	CHECK(siphash(msg, 1, key) == 0x74f839c593dc67fdULL);
	CHECK(siphash(msg, 7, key) == 0xab0200f58b01d137ULL);
	CHECK(siphash(msg, 8, key) == 0x93f5f5799a932462ULL);
	CHECK(siphash(msg, 9, key) == 0x9e0082df0ba9e4b0ULL);
	CHECK(siphash(msg, 15, key) == 0xa129ca6149be45e5ULL);
	CHECK(siphash(msg, 16, key) == 0x3f2acc7f57c29bdbULL);
	CHECK(siphash(msg, 63, key) == 0x958a324ceb064572ULL);
}

static void test_siphash_keyed(void)
{
	uint8_t key_a[SIPHASH_KEY_LEN] = { 0 }, key_b[SIPHASH_KEY_LEN] = { 0 };
	uint8_t msg[16] = { 1, 2, 3 };

	key_b[15] = 1;
	CHECK(siphash(msg, sizeof(msg), key_a) != siphash(msg, sizeof(msg), key_b));
	CHECK(siphash(msg, sizeof(msg), key_a) == siphash(msg, sizeof(msg), key_a));
	msg[15] ^= 1;
	CHECK(siphash(msg, sizeof(msg), key_a) != siphash(msg, sizeof(msg) - 1, key_a));
}

/* ---- table ---- */

static void test_key(uint8_t key[TABLE_KEY_LEN], uint64_t i)
{
	uint64_t mixed = splitmix64(i);

	/* The index itself in the first half keeps the keys distinct. */
	memcpy(key, &i, 8);
	memcpy(key + 8, &mixed, 8);
}

struct count_ctx {
	size_t visits;
	struct table_node *base;
	size_t n;
	unsigned char *seen;
	int bad;
};

static void count_node(struct table_node *node, void *arg)
{
	struct count_ctx *ctx = arg;
	size_t i = (size_t)(node - ctx->base);

	ctx->visits++;
	if (i >= ctx->n || ctx->seen[i])
		ctx->bad = 1;
	else
		ctx->seen[i] = 1;
}

/* Every present node is found, every absent one is not, and table_each sees
 * each present one exactly once. */
static int table_verify(struct table *t, struct table_node *nodes, const unsigned char *present,
    size_t n)
{
	struct count_ctx ctx = { 0, nodes, n, calloc(n, 1), 0 };
	size_t expected = 0;
	int ok = 1;

	for (size_t i = 0; i < n; i++) {
		uint8_t key[TABLE_KEY_LEN];
		struct table_node *found;

		test_key(key, i);
		found = table_find(t, key);
		if (present[i]) {
			expected++;
			if (found != &nodes[i])
				ok = 0;
		} else if (found != NULL) {
			ok = 0;
		}
	}
	table_each(t, count_node, &ctx);
	if (ctx.bad || ctx.visits != expected || t->count != expected)
		ok = 0;
	for (size_t i = 0; i < n; i++) {
		if (ctx.seen[i] != present[i])
			ok = 0;
	}
	free(ctx.seen);
	return ok;
}

static void test_table_grow_and_shrink(void)
{
	uint8_t hash_key[SIPHASH_KEY_LEN] = { 9, 8, 7 };
	struct table t;
	struct table_node *nodes = calloc(TEST_TABLE_KEYS, sizeof(*nodes));
	unsigned char *present = calloc(TEST_TABLE_KEYS, 1);
	size_t last_target = 0, checkpoints = 0, peak_buckets, buckets_now;
	int all_ok = 1;

	table_init(&t, hash_key);
	for (size_t i = 0; i < TEST_TABLE_KEYS; i++) {
		test_key(nodes[i].key, i);
		table_insert(&t, &nodes[i]);
		present[i] = 1;
		/* Verify everything once per resize, while it is half done. */
		if (t.buckets[1] != NULL && t.bucket_count[1] != last_target &&
		    t.rehash_index > 0) {
			last_target = t.bucket_count[1];
			checkpoints++;
			if (!table_verify(&t, nodes, present, TEST_TABLE_KEYS))
				all_ok = 0;
		}
	}
	CHECK(all_ok);
	CHECK(checkpoints >= 10);
	CHECK_EQ_INT(t.count, TEST_TABLE_KEYS);
	CHECK(table_verify(&t, nodes, present, TEST_TABLE_KEYS));
	peak_buckets = t.bucket_count[0] + t.bucket_count[1];
	CHECK(peak_buckets >= TEST_TABLE_KEYS);
	CHECK_EQ_INT(table_bytes(&t), peak_buckets * sizeof(struct table_node *));

	/* Remove 99 of every 100, checking during each shrink. */
	checkpoints = 0;
	last_target = 0;
	for (size_t i = 0; i < TEST_TABLE_KEYS; i++) {
		if (i % 100 == 7)
			continue;
		table_remove(&t, &nodes[i]);
		present[i] = 0;
		if (t.buckets[1] != NULL && t.bucket_count[1] != last_target) {
			last_target = t.bucket_count[1];
			checkpoints++;
			if (!table_verify(&t, nodes, present, TEST_TABLE_KEYS))
				all_ok = 0;
		}
	}
	CHECK(all_ok);
	CHECK(checkpoints >= 3);
	CHECK_EQ_INT(t.count, TEST_TABLE_KEYS / 100);
	CHECK(table_verify(&t, nodes, present, TEST_TABLE_KEYS));
	buckets_now = t.bucket_count[0] + t.bucket_count[1];
	CHECK(buckets_now < peak_buckets / 8);

	/* Insert some back while a resize may be under way. */
	for (size_t i = 0; i < TEST_TABLE_KEYS; i += 50) {
		if (!present[i]) {
			table_insert(&t, &nodes[i]);
			present[i] = 1;
		}
	}
	CHECK(table_verify(&t, nodes, present, TEST_TABLE_KEYS));
	for (size_t i = 0; i < TEST_TABLE_KEYS; i++) {
		if (present[i]) {
			table_remove(&t, &nodes[i]);
			present[i] = 0;
		}
	}
	CHECK_EQ_INT(t.count, 0);
	CHECK(table_verify(&t, nodes, present, TEST_TABLE_KEYS));
	table_destroy(&t);
	free(nodes);
	free(present);
}

static void test_table_small(void)
{
	uint8_t hash_key[SIPHASH_KEY_LEN] = { 0 };
	struct table t;
	struct table_node a, b;

	table_init(&t, hash_key);
	memset(a.key, 0xaa, TABLE_KEY_LEN);
	memset(b.key, 0xaa, TABLE_KEY_LEN);
	b.key[15] = 0xab;
	CHECK(table_find(&t, a.key) == NULL);
	table_insert(&t, &a);
	CHECK(table_find(&t, a.key) == &a);
	CHECK(table_find(&t, b.key) == NULL);
	table_insert(&t, &b);
	CHECK(table_find(&t, b.key) == &b);
	table_remove(&t, &a);
	CHECK(table_find(&t, a.key) == NULL);
	CHECK(table_find(&t, b.key) == &b);
	CHECK_EQ_INT(t.count, 1);
	table_remove(&t, &b);
	CHECK_EQ_INT(t.count, 0);
	CHECK_EQ_INT(table_bytes(&t), 16 * sizeof(struct table_node *));
	table_destroy(&t);
}

/* ---- expiry heap ---- */

static int heap_valid(const struct expiry_heap *h)
{
	for (size_t i = 0; i < h->count; i++) {
		if (h->nodes[i]->heap_index != i)
			return 0;
		if (i > 0 && h->nodes[(i - 1) / 2]->expires_at > h->nodes[i]->expires_at)
			return 0;
	}
	return 1;
}

static void test_expiry_order(void)
{
	struct expiry_heap h;
	struct expiry_node *nodes = calloc(TEST_HEAP_NODES, sizeof(*nodes));
	unsigned char *removed = calloc(TEST_HEAP_NODES, 1);
	uint64_t state = 1;
	size_t removed_count = 0, popped = 0, peak_bytes;
	int64_t last = INT64_MIN;
	int valid = 1, order_ok = 1, no_removed = 1;

	expiry_init(&h);
	CHECK(expiry_first(&h) == NULL);
	for (size_t i = 0; i < TEST_HEAP_NODES; i++) {
		/* Many equal instants, some negative. */
		nodes[i].expires_at = (int64_t)(test_next(&state) % 1000) - 100;
		expiry_add(&h, &nodes[i]);
	}
	CHECK(heap_valid(&h));
	peak_bytes = expiry_bytes(&h);
	CHECK(peak_bytes >= TEST_HEAP_NODES * sizeof(void *));
	/* Remove a third, at random, mostly from the middle of the array. */
	while (removed_count < TEST_HEAP_NODES / 3) {
		size_t i = (size_t)(test_next(&state) % TEST_HEAP_NODES);

		if (removed[i])
			continue;
		expiry_remove(&h, &nodes[i]);
		removed[i] = 1;
		removed_count++;
		if (removed_count % 37 == 0 && !heap_valid(&h))
			valid = 0;
	}
	CHECK(valid);
	CHECK(heap_valid(&h));
	CHECK_EQ_INT(h.count, TEST_HEAP_NODES - removed_count);
	while (expiry_first(&h) != NULL) {
		struct expiry_node *first = expiry_first(&h);
		size_t i = (size_t)(first - nodes);

		if (first->expires_at < last)
			order_ok = 0;
		if (removed[i])
			no_removed = 0;
		last = first->expires_at;
		expiry_remove(&h, first);
		popped++;
	}
	CHECK(order_ok);
	CHECK(no_removed);
	CHECK_EQ_INT(popped, TEST_HEAP_NODES - removed_count);
	/* The array shrinks again after mass removal. */
	CHECK(expiry_bytes(&h) < peak_bytes / 4);
	expiry_destroy(&h);
	CHECK_EQ_INT(expiry_bytes(&h), 0);
	free(nodes);
	free(removed);
}

static void test_expiry_remove_edges(void)
{
	struct expiry_heap h;
	struct expiry_node n[7];
	/* Added in this order the array is [1 10 2 11 12 3 4]. */
	int64_t at[7] = { 1, 10, 2, 11, 12, 3, 4 };

	expiry_init(&h);
	for (int i = 0; i < 7; i++) {
		n[i].expires_at = at[i];
		expiry_add(&h, &n[i]);
	}
	CHECK(heap_valid(&h));
	CHECK_EQ_INT(n[3].heap_index, 3);
	/* 11 leaves; the last node (4) lands under 10 and must move up. */
	expiry_remove(&h, &n[3]);
	CHECK(heap_valid(&h));
	CHECK_EQ_INT(n[6].heap_index, 1);
	/* The root. */
	expiry_remove(&h, &n[0]);
	CHECK(heap_valid(&h));
	CHECK(expiry_first(&h) == &n[2]);
	/* Whatever sits in the last slot. */
	expiry_remove(&h, h.nodes[h.count - 1]);
	CHECK(heap_valid(&h));
	CHECK_EQ_INT(h.count, 4);
	while (h.count > 0)
		expiry_remove(&h, expiry_first(&h));
	CHECK(expiry_first(&h) == NULL);
	expiry_destroy(&h);
}

/* ---- store helpers ---- */

static const char test_data[] = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==";

static struct mailbox_spec spec_make(uint8_t claim_byte, int64_t expires_at)
{
	struct mailbox_spec spec;

	memset(&spec, 0, sizeof(spec));
	memset(spec.sender_claim, claim_byte, MAILBOX_CLAIM_LEN);
	spec.rights = MAILBOX_READ | MAILBOX_DELETE;
	spec.expires_at = expires_at;
	spec.payload_type = (struct store_bytes){ "AEAD_AES_128_GCM", 16 };
	spec.payload_data = (struct store_bytes){ test_data, sizeof(test_data) - 1 };
	spec.title = (struct store_bytes){ "Title", 5 };
	spec.description = (struct store_bytes){ "", 0 };
	spec.image_url = (struct store_bytes){ "https://img.example/a.png", 25 };
	return spec;
}

static struct store *store_make(struct test_rng *rng, size_t max_mailboxes, size_t max_bytes)
{
	struct store_limits limits = { max_mailboxes, max_bytes, 0 };

	memset(rng, 0, sizeof(*rng));
	return store_new(&limits, test_random, rng);
}

struct test_waiter {
	struct mailbox_waiter w;
	int woken;
	const struct mailbox *got;
	int unlinked_before_wake;
	int order;
};

static int wake_sequence;

static void test_wake(struct mailbox_waiter *w, const struct mailbox *mb)
{
	struct test_waiter *tw = container_of(w, struct test_waiter, w);

	tw->woken++;
	tw->got = mb;
	tw->unlinked_before_wake = w->mailbox == NULL;
	tw->order = wake_sequence++;
}

static void waiter_init(struct test_waiter *tw)
{
	memset(tw, 0, sizeof(*tw));
	tw->w.wake = test_wake;
}

/* ---- store ---- */

static void test_store_ids(void)
{
	struct test_rng rng;
	struct store *s = store_make(&rng, 10000, (size_t)1 << 30);
	struct mailbox *mbs[500];
	int version_ok = 1, distinct = 1;

	for (int i = 0; i < 500; i++) {
		struct mailbox_spec spec = spec_make(1, TEST_NOW + 100);

		CHECK_EQ_INT(store_create(s, &spec, &mbs[i]), STORE_OK);
		if ((mailbox_id(mbs[i])[6] >> 4) != 4 || (mailbox_id(mbs[i])[8] & 0xc0) != 0x80)
			version_ok = 0;
		for (int j = 0; j < i; j++) {
			if (memcmp(mailbox_id(mbs[i]), mailbox_id(mbs[j]), MAILBOX_ID_LEN) == 0)
				distinct = 0;
		}
		CHECK(store_get(s, mailbox_id(mbs[i]), TEST_NOW) == mbs[i]);
	}
	CHECK(version_ok);
	CHECK(distinct);
	CHECK_EQ_INT(store_stats(s).mailboxes, 500);
	/* What was stored is what was given. */
	CHECK_EQ_INT(mbs[0]->payload->type_len, 16);
	CHECK(memcmp(mailbox_payload_type(mbs[0]->payload), "AEAD_AES_128_GCM", 16) == 0);
	CHECK_EQ_INT(mbs[0]->payload->data_len, sizeof(test_data) - 1);
	CHECK(memcmp(mailbox_payload_data(mbs[0]->payload), test_data, sizeof(test_data) - 1) == 0);
	CHECK(memcmp(mailbox_display_image_url(mbs[0]->display), "https://img.example/a.png",
	    25) == 0);
	CHECK(mbs[0]->tokens[MAILBOX_SENDER] == NULL);
	CHECK(!mbs[0]->receiver_bound);
	store_free(s);
}

static void test_store_random_failures(void)
{
	struct test_rng rng;
	struct store_limits limits = { 10, 1 << 20, 0 };
	struct mailbox_spec spec = spec_make(1, TEST_NOW + 100);
	struct mailbox *mb = NULL;
	struct store *s;

	memset(&rng, 0, sizeof(rng));
	rng.fail = 1;
	CHECK(store_new(&limits, test_random, &rng) == NULL);
	rng.fail = 0;
	rng.constant = 1;
	s = store_new(&limits, test_random, &rng);
	CHECK(s != NULL);
	CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_OK);
	/* The same id every time: the store gives up instead of reusing it. */
	CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_NO_RANDOM);
	CHECK_EQ_INT(store_stats(s).mailboxes, 1);
	rng.fail = 1;
	CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_NO_RANDOM);
	store_free(s);
}

static void test_store_get_expired(void)
{
	struct test_rng rng;
	struct store *s = store_make(&rng, 100, 1 << 20);
	struct mailbox_spec spec = spec_make(1, TEST_NOW + 10);
	struct mailbox *mb;
	uint8_t unknown[MAILBOX_ID_LEN] = { 0 };

	CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_OK);
	CHECK(store_get(s, mailbox_id(mb), TEST_NOW + 9) == mb);
	CHECK(store_get(s, mailbox_id(mb), TEST_NOW + 10) == NULL);
	CHECK(store_get(s, mailbox_id(mb), TEST_NOW + 1000) == NULL);
	CHECK(store_get(s, unknown, TEST_NOW) == NULL);
	/* Not collected yet, but gone for every caller. */
	CHECK_EQ_INT(store_stats(s).mailboxes, 1);
	CHECK_EQ_INT(store_expire(s, TEST_NOW + 9, 100), 0);
	CHECK_EQ_INT(store_expire(s, TEST_NOW + 10, 100), 1);
	CHECK_EQ_INT(store_stats(s).mailboxes, 0);
	store_free(s);
}

#define EXPIRE_N 60

static void test_store_expire_order_and_budget(void)
{
	struct test_rng rng;
	struct store *s = store_make(&rng, 1000, 1 << 24);
	struct mailbox *mbs[EXPIRE_N];
	struct test_waiter waiters[EXPIRE_N];
	int64_t at[EXPIRE_N], sorted[EXPIRE_N];
	uint64_t state = 77;
	size_t deleted;
	int order_ok = 1;

	wake_sequence = 0;
	for (int i = 0; i < EXPIRE_N; i++) {
		/* Distinct instants in a random order. */
		at[i] = TEST_NOW + 1 + i * 10 + (int64_t)(test_next(&state) % 5);
		sorted[i] = at[i];
	}
	for (int i = EXPIRE_N - 1; i > 0; i--) {
		int j = (int)(test_next(&state) % (uint64_t)(i + 1));
		int64_t tmp = at[i];

		at[i] = at[j];
		at[j] = tmp;
	}
	for (int i = 0; i < EXPIRE_N; i++) {
		struct mailbox_spec spec = spec_make((uint8_t)i, at[i]);

		CHECK_EQ_INT(store_create(s, &spec, &mbs[i]), STORE_OK);
		waiter_init(&waiters[i]);
		store_watch(mbs[i], &waiters[i].w);
	}
	/* Nothing before the first instant. */
	CHECK_EQ_INT(store_expire(s, TEST_NOW, 1000), 0);
	/* Everything is due, but the budget allows ten. */
	deleted = store_expire(s, TEST_NOW + 100000, 10);
	CHECK_EQ_INT(deleted, 10);
	CHECK_EQ_INT(store_stats(s).mailboxes, EXPIRE_N - 10);
	/* The ten earliest went, in order. */
	for (int i = 0; i < EXPIRE_N; i++) {
		int rank = 0;

		for (int j = 0; j < EXPIRE_N; j++)
			rank += sorted[j] < at[i];
		if (rank < 10) {
			if (waiters[i].woken != 1 || waiters[i].got != NULL ||
			    waiters[i].order != rank)
				order_ok = 0;
		} else if (waiters[i].woken != 0) {
			order_ok = 0;
		}
	}
	CHECK(order_ok);
	/* Only what is due by now goes: instants up to the 20th smallest. */
	{
		int64_t cut = sorted[19];

		deleted = store_expire(s, cut, 1000);
		CHECK_EQ_INT(deleted, 10);
	}
	deleted = store_expire(s, TEST_NOW + 100000, 1000);
	CHECK_EQ_INT(deleted, EXPIRE_N - 20);
	CHECK_EQ_INT(wake_sequence, EXPIRE_N);
	for (int i = 0; i < EXPIRE_N; i++)
		CHECK(waiters[i].unlinked_before_wake);
	CHECK_EQ_INT(store_stats(s).mailboxes, 0);
	store_free(s);
}

static void test_store_waiters(void)
{
	struct test_rng rng;
	struct store *s = store_make(&rng, 100, 1 << 20);
	struct mailbox_spec spec = spec_make(1, TEST_NOW + 100);
	struct test_waiter a, b, c;
	struct mailbox *mb;
	struct mailbox_change change;
	uint64_t etag;

	CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_OK);
	waiter_init(&a);
	waiter_init(&b);
	waiter_init(&c);
	store_watch(mb, &a.w);
	store_watch(mb, &b.w);
	store_watch(mb, &c.w);
	etag = mb->etag;

	/* A token alone: no new version, nobody woken. */
	memset(&change, 0, sizeof(change));
	change.token_type = (struct store_bytes){ "com.apple.apns", 14 };
	change.token_data = (struct store_bytes){ "tok", 3 };
	change.token_party = MAILBOX_RECEIVER;
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_OK);
	CHECK(mb->etag == etag);
	CHECK_EQ_INT(a.woken + b.woken + c.woken, 0);
	CHECK(mb->tokens[MAILBOX_RECEIVER] != NULL);
	CHECK(mb->tokens[MAILBOX_SENDER] == NULL);

	/* b leaves; the others stay parked. */
	store_unwatch(&b.w);
	CHECK(b.w.mailbox == NULL);
	CHECK(a.w.mailbox == mb && c.w.mailbox == mb);
	store_unwatch(&b.w);    /* harmless twice */

	/* A payload: new version, every waiter woken with the mailbox. */
	memset(&change, 0, sizeof(change));
	change.payload_type = (struct store_bytes){ "other", 5 };
	change.payload_data = (struct store_bytes){ "QUJD", 4 };
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_OK);
	CHECK(mb->etag != etag);
	CHECK_EQ_INT(a.woken, 1);
	CHECK_EQ_INT(c.woken, 1);
	CHECK_EQ_INT(b.woken, 0);
	CHECK(a.got == mb && c.got == mb);
	CHECK(a.unlinked_before_wake && c.unlinked_before_wake);
	CHECK(mb->waiters == NULL);
	CHECK_EQ_INT(mb->payload->data_len, 4);
	CHECK(memcmp(mailbox_payload_data(mb->payload), "QUJD", 4) == 0);
	store_unwatch(&a.w);    /* after a wake: harmless */

	/* Unwatch from the middle, the head and the tail of the list. */
	{
		struct test_waiter w[5];

		for (int i = 0; i < 5; i++) {
			waiter_init(&w[i]);
			store_watch(mb, &w[i].w);
		}
		store_unwatch(&w[2].w);
		store_unwatch(&w[4].w);     /* the head: watched last */
		store_unwatch(&w[0].w);     /* the tail */
		store_delete(s, mb);
		CHECK_EQ_INT(w[1].woken, 1);
		CHECK_EQ_INT(w[3].woken, 1);
		CHECK(w[1].got == NULL && w[3].got == NULL);
		CHECK_EQ_INT(w[0].woken + w[2].woken + w[4].woken, 0);
	}
	CHECK_EQ_INT(store_stats(s).mailboxes, 0);
	store_free(s);
}

/* What one mailbox made with spec_make() costs in a fresh store. */
static size_t one_mailbox_bytes(const struct mailbox_spec *spec)
{
	struct test_rng rng;
	struct store *s = store_make(&rng, 100, (size_t)1 << 30);
	struct mailbox *mb;
	size_t bytes;

	store_create(s, spec, &mb);
	bytes = store_stats(s).bytes;
	store_free(s);
	return bytes;
}

static void test_store_limits(void)
{
	struct test_rng rng;
	struct mailbox_spec spec = spec_make(1, TEST_NOW + 100);
	struct mailbox *mb, *other = NULL;
	struct mailbox_change change;
	static char big[4000];
	size_t one = one_mailbox_bytes(&spec), before_bytes;
	struct store *s;
	uint64_t etag;

	/* Mailbox count. */
	s = store_make(&rng, 3, (size_t)1 << 30);
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_OK);
	CHECK_EQ_INT(store_create(s, &spec, &other), STORE_FULL);
	CHECK(other == NULL);
	store_delete(s, mb);
	CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_OK);
	store_free(s);

	/* Bytes: room for one mailbox and a little more. */
	memset(big, 'A', sizeof(big));
	s = store_make(&rng, 100, one + 100);
	CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_OK);
	CHECK_EQ_INT(store_stats(s).bytes, one);
	CHECK_EQ_INT(store_create(s, &spec, &other), STORE_FULL);
	CHECK_EQ_INT(store_stats(s).mailboxes, 1);

	/* A growing update that does not fit changes nothing. */
	etag = mb->etag;
	before_bytes = store_stats(s).bytes;
	memset(&change, 0, sizeof(change));
	change.payload_type = (struct store_bytes){ "x", 1 };
	change.payload_data = (struct store_bytes){ big, sizeof(big) };
	change.token_type = (struct store_bytes){ "t", 1 };
	change.token_data = (struct store_bytes){ "d", 1 };
	change.token_party = MAILBOX_SENDER;
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_FULL);
	CHECK(mb->etag == etag);
	CHECK_EQ_INT(mb->payload->data_len, sizeof(test_data) - 1);
	CHECK(memcmp(mailbox_payload_data(mb->payload), test_data, sizeof(test_data) - 1) == 0);
	CHECK(mb->tokens[MAILBOX_SENDER] == NULL);
	CHECK_EQ_INT(store_stats(s).bytes, before_bytes);

	/* Growing by less than the headroom fits; shrinking always does. */
	change.payload_data = (struct store_bytes){ big, sizeof(test_data) - 1 + 60 };
	change.token_type.ptr = NULL;
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_OK);
	CHECK_EQ_INT(store_stats(s).bytes, before_bytes + 60 + 1 - 16);
	change.payload_data = (struct store_bytes){ big, 4 };
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_OK);
	CHECK(store_stats(s).bytes < before_bytes);
	store_free(s);
}

/*
 * An empty store costs its two minimal tables. Once a mailbox has come and
 * gone the expiry heap keeps its smallest array (64 slots, against thrashing
 * at the boundary), so "idle" is measured after that first round trip, and
 * the difference from a fresh store is checked to be at most that array.
 */
static void test_store_bytes_return_to_idle(void)
{
	struct test_rng rng;
	struct store *s = store_make(&rng, 100000, (size_t)1 << 30);
	struct mailbox **mbs = calloc(20000, sizeof(*mbs));
	size_t fresh = store_stats(s).bytes, idle;
	struct mailbox_spec spec = spec_make(1, TEST_NOW + 100);
	struct mailbox_change change;

	/* One mailbox with every kind of allocation, then gone. */
	spec.token_type = (struct store_bytes){ "com.apple.apns", 14 };
	spec.token_data = (struct store_bytes){ "abcdef", 6 };
	CHECK_EQ_INT(store_create(s, &spec, &mbs[0]), STORE_OK);
	CHECK(store_stats(s).bytes > fresh);
	memset(&change, 0, sizeof(change));
	change.token_type = (struct store_bytes){ "com.apple.apns", 14 };
	change.token_data = (struct store_bytes){ "receiver-token", 14 };
	change.token_party = MAILBOX_RECEIVER;
	CHECK_EQ_INT(store_update(s, mbs[0], &change), STORE_OK);
	store_record_set(s, spec.sender_claim, mbs[0], STORE_OP_CREATE, 0, "req-1", 5);
	store_delete(s, mbs[0]);
	idle = store_stats(s).bytes;
	CHECK_EQ_INT(store_stats(s).records, 0);
	CHECK(idle - fresh <= 64 * sizeof(struct expiry_node *));

	/* Many, then all gone: the tables must give their memory back. */
	for (int i = 0; i < 20000; i++) {
		uint8_t claim[MAILBOX_CLAIM_LEN] = { 0 };

		spec.sender_claim[0] = (uint8_t)i;
		CHECK_EQ_INT(store_create(s, &spec, &mbs[i]), STORE_OK);
		memcpy(claim, &i, sizeof(i));
		store_record_set(s, claim, mbs[i], STORE_OP_CREATE, 0, "id", 2);
	}
	CHECK_EQ_INT(store_stats(s).records, 20000);
	CHECK(store_stats(s).bytes > idle + 20000 * sizeof(struct mailbox));
	CHECK_EQ_INT(store_expire(s, TEST_NOW + 100, 100000), 20000);
	CHECK_EQ_INT(store_stats(s).mailboxes, 0);
	CHECK_EQ_INT(store_stats(s).records, 0);
	CHECK_EQ_INT(store_stats(s).bytes, idle);

	/* And by explicit deletes, newest first. */
	for (int i = 0; i < 5000; i++)
		CHECK_EQ_INT(store_create(s, &spec, &mbs[i]), STORE_OK);
	for (int i = 4999; i >= 0; i--)
		store_delete(s, mbs[i]);
	CHECK_EQ_INT(store_stats(s).bytes, idle);
	free(mbs);
	store_free(s);
}

static void test_store_unbind(void)
{
	struct test_rng rng;
	struct store *s = store_make(&rng, 100, 1 << 20);
	struct mailbox_spec spec = spec_make(1, TEST_NOW + 100);
	uint8_t receiver[MAILBOX_CLAIM_LEN];
	struct mailbox_change change;
	struct mailbox *mb;
	size_t bound_bytes;

	CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_OK);
	bound_bytes = store_stats(s).bytes;
	memset(receiver, 2, sizeof(receiver));
	store_bind_receiver(s, mb, receiver);
	CHECK(mb->receiver_bound);
	CHECK(store_claim_equal(mb->receiver_claim, receiver));
	memset(&change, 0, sizeof(change));
	change.token_type = (struct store_bytes){ "com.apple.apns", 14 };
	change.token_data = (struct store_bytes){ "tok", 3 };
	change.token_party = MAILBOX_RECEIVER;
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_OK);
	CHECK(store_stats(s).bytes > bound_bytes);
	store_unbind_receiver(s, mb);
	CHECK(!mb->receiver_bound);
	CHECK(mb->tokens[MAILBOX_RECEIVER] == NULL);
	CHECK_EQ_INT(store_stats(s).bytes, bound_bytes);
	store_free(s);
}

static void test_store_records(void)
{
	struct test_rng rng;
	struct store *s = store_make(&rng, 100, 1 << 20);
	struct mailbox_spec spec = spec_make(1, TEST_NOW + 100);
	uint8_t a[MAILBOX_CLAIM_LEN], b[MAILBOX_CLAIM_LEN], c[MAILBOX_CLAIM_LEN];
	const struct store_record *rec;
	struct mailbox *m1, *m2;

	memset(a, 0xa, sizeof(a));
	memset(b, 0xb, sizeof(b));
	memset(c, 0xc, sizeof(c));
	CHECK_EQ_INT(store_create(s, &spec, &m1), STORE_OK);
	CHECK_EQ_INT(store_create(s, &spec, &m2), STORE_OK);
	CHECK(store_record_find(s, a) == NULL);

	store_record_set(s, a, m1, STORE_OP_CREATE, 7, "X", 1);
	rec = store_record_find(s, a);
	CHECK(rec != NULL);
	if (rec != NULL) {
		CHECK(rec->mailbox == m1);
		CHECK_EQ_INT(rec->op, STORE_OP_CREATE);
		CHECK_EQ_INT(rec->result, 7);
		CHECK_EQ_INT(rec->request_id_len, 1);
		CHECK(memcmp(rec->request_id, "X", 1) == 0);
	}
	CHECK_EQ_INT(store_stats(s).records, 1);

	/* The claim's next call replaces it, even on another mailbox. */
	store_record_set(s, a, m2, STORE_OP_UPDATE, 0, "Yy", 2);
	rec = store_record_find(s, a);
	CHECK(rec != NULL && rec->mailbox == m2 && rec->op == STORE_OP_UPDATE &&
	    rec->request_id_len == 2 && memcmp(rec->request_id, "Yy", 2) == 0);
	CHECK_EQ_INT(store_stats(s).records, 1);
	CHECK(m1->records == NULL);

	/* An empty id forgets. */
	store_record_set(s, a, m2, STORE_OP_UPDATE, 0, "", 0);
	CHECK(store_record_find(s, a) == NULL);
	CHECK_EQ_INT(store_stats(s).records, 0);
	CHECK(m2->records == NULL);

	/* At most one relinquish record per mailbox; others stay. */
	store_record_set(s, c, m1, STORE_OP_UPDATE, 0, "U", 1);
	store_record_set(s, a, m1, STORE_OP_RELINQUISH, 0, "R1", 2);
	store_record_set(s, b, m1, STORE_OP_RELINQUISH, 0, "R2", 2);
	CHECK(store_record_find(s, a) == NULL);
	CHECK(store_record_find(s, b) != NULL);
	CHECK(store_record_find(s, c) != NULL);
	CHECK_EQ_INT(store_stats(s).records, 2);
	/* A relinquish on another mailbox does not touch this one's. */
	store_record_set(s, a, m2, STORE_OP_RELINQUISH, 0, "R3", 2);
	CHECK(store_record_find(s, b) != NULL);
	CHECK_EQ_INT(store_stats(s).records, 3);

	/* Deleting a mailbox removes the records that point to it. */
	store_delete(s, m1);
	CHECK(store_record_find(s, b) == NULL);
	CHECK(store_record_find(s, c) == NULL);
	CHECK(store_record_find(s, a) != NULL);
	CHECK_EQ_INT(store_stats(s).records, 1);

	/* Expiry takes them too. */
	CHECK_EQ_INT(store_expire(s, TEST_NOW + 100, 10), 1);
	CHECK(store_record_find(s, a) == NULL);
	CHECK_EQ_INT(store_stats(s).records, 0);

	/* A record left at store_free is freed with it (checked by ASan). */
	CHECK_EQ_INT(store_create(s, &spec, &m1), STORE_OK);
	store_record_set(s, a, m1, STORE_OP_CREATE, 0, "Z", 1);
	store_free(s);
}

/* ---- bytes per owner ---- */

static struct store *store_make_owned(struct test_rng *rng, size_t max_owner_bytes)
{
	struct store_limits limits = { 100000, (size_t)1 << 30, max_owner_bytes };

	memset(rng, 0, sizeof(*rng));
	return store_new(&limits, test_random, rng);
}

/* What one mailbox made with spec costs its owner (no table bytes). */
static size_t one_owned_bytes(const struct mailbox_spec *spec)
{
	struct test_rng rng;
	struct store *s = store_make_owned(&rng, (size_t)1 << 30);
	struct mailbox *mb;
	size_t bytes;

	store_create(s, spec, &mb);
	bytes = mb->bytes;
	store_free(s);
	return bytes;
}

/* What a mailbox and its records cost, as the owner is charged. */
static size_t owned_bytes(const struct mailbox *mb)
{
	size_t bytes = mb->bytes;

	for (const struct store_record *r = mb->records; r != NULL; r = r->mailbox_next)
		bytes += sizeof(*r) + r->request_id_len + 16;
	return bytes;
}

static void test_store_owner_bytes_limit(void)
{
	uint8_t a[STORE_OWNER_LEN], b[STORE_OWNER_LEN];
	struct mailbox_spec spec = spec_make(1, TEST_NOW + 100);
	size_t one = one_owned_bytes(&spec);
	struct mailbox *mbs[3], *refused = NULL;
	struct test_rng rng;
	struct store *s = store_make_owned(&rng, 3 * one + 10);

	memset(a, 0xa, sizeof(a));
	memset(b, 0xb, sizeof(b));
	spec.owner = a;
	for (int i = 0; i < 3; i++)
		CHECK_EQ_INT(store_create(s, &spec, &mbs[i]), STORE_OK);
	CHECK_EQ_INT(store_owner_bytes(s, a), 3 * one);
	/* The fourth would pass the owner's share: refused, nothing held. */
	CHECK_EQ_INT(store_create(s, &spec, &refused), STORE_OWNER_FULL);
	CHECK(refused == NULL);
	CHECK_EQ_INT(store_stats(s).mailboxes, 3);
	CHECK_EQ_INT(store_owner_bytes(s, a), 3 * one);
	/* Another owner, and nobody's (a restored mailbox), are not held back. */
	spec.owner = b;
	CHECK_EQ_INT(store_create(s, &spec, &refused), STORE_OK);
	CHECK_EQ_INT(store_owner_bytes(s, b), one);
	spec.owner = NULL;
	CHECK_EQ_INT(store_create(s, &spec, &refused), STORE_OK);
	CHECK(refused->owner == NULL);
	CHECK_EQ_INT(store_stats(s).owners, 2);
	/* A delete gives the bytes back: room for exactly one again. */
	store_delete(s, mbs[1]);
	CHECK_EQ_INT(store_owner_bytes(s, a), 2 * one);
	spec.owner = a;
	CHECK_EQ_INT(store_create(s, &spec, &mbs[1]), STORE_OK);
	CHECK_EQ_INT(store_create(s, &spec, &refused), STORE_OWNER_FULL);
	store_free(s);
}

static void test_store_owner_bytes_follow_every_change(void)
{
	uint8_t a[STORE_OWNER_LEN], claim[MAILBOX_CLAIM_LEN];
	struct mailbox_spec spec = spec_make(1, TEST_NOW + 100);
	size_t one = one_owned_bytes(&spec), before;
	static char big[3000];
	struct mailbox_change change;
	struct mailbox *mb, *mb2;
	struct test_rng rng;
	struct store *s = store_make_owned(&rng, one + 2000);
	uint64_t etag;

	memset(a, 0xa, sizeof(a));
	memset(big, 'B', sizeof(big));
	spec.owner = a;
	CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_OK);
	CHECK_EQ_INT(store_owner_bytes(s, a), owned_bytes(mb));

	/* Growth beyond the share, whoever writes it, changes nothing. */
	memset(&change, 0, sizeof(change));
	change.payload_type = (struct store_bytes){ "x", 1 };
	change.payload_data = (struct store_bytes){ big, sizeof(big) };
	change.token_party = MAILBOX_RECEIVER;
	etag = mb->etag;
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_OWNER_FULL);
	CHECK(mb->etag == etag);
	CHECK_EQ_INT(store_owner_bytes(s, a), one);
	/* Growth within it is charged to the owner; shrinking gives back. */
	change.payload_data = (struct store_bytes){ big, 1500 };
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_OK);
	CHECK_EQ_INT(store_owner_bytes(s, a), owned_bytes(mb));
	CHECK(owned_bytes(mb) > one);
	change.payload_data = (struct store_bytes){ big, 4 };
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_OK);
	CHECK_EQ_INT(store_owner_bytes(s, a), owned_bytes(mb));

	/* Tokens: the Receiver's, then forgotten by unbinding. */
	memset(claim, 2, sizeof(claim));
	store_bind_receiver(s, mb, claim);
	memset(&change, 0, sizeof(change));
	change.token_type = (struct store_bytes){ "com.apple.apns", 14 };
	change.token_data = (struct store_bytes){ "receiver-token", 14 };
	change.token_party = MAILBOX_RECEIVER;
	before = store_owner_bytes(s, a);
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_OK);
	CHECK(store_owner_bytes(s, a) > before);
	CHECK_EQ_INT(store_owner_bytes(s, a), owned_bytes(mb));
	store_unbind_receiver(s, mb);
	CHECK_EQ_INT(store_owner_bytes(s, a), before);
	/* A token the gateway rejected. */
	change.token_party = MAILBOX_SENDER;
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_OK);
	store_drop_token(s, mb, MAILBOX_SENDER, change.token_type, change.token_data);
	CHECK_EQ_INT(store_owner_bytes(s, a), before);

	/* Retry records count too, and go when replaced or with the mailbox. */
	store_record_set(s, claim, mb, STORE_OP_UPDATE, 0, "request-1", 9);
	store_record_set(s, spec.sender_claim, mb, STORE_OP_CREATE, 0, "r", 1);
	CHECK_EQ_INT(store_owner_bytes(s, a), owned_bytes(mb));
	CHECK(store_owner_bytes(s, a) > before);
	store_record_set(s, claim, mb, STORE_OP_RELINQUISH, 0, "rq", 2);
	CHECK_EQ_INT(store_owner_bytes(s, a), owned_bytes(mb));
	/* Filled to 10 bytes short of the share: a record that would pass it
	 * is simply not kept, and another mailbox is refused. */
	memset(&change, 0, sizeof(change));
	change.payload_type = (struct store_bytes){ "x", 1 };
	change.payload_data = (struct store_bytes){ big, mb->payload->data_len +
	    (one + 2000 - owned_bytes(mb) - 10) - (1 - mb->payload->type_len) };
	CHECK_EQ_INT(store_update(s, mb, &change), STORE_OK);
	CHECK_EQ_INT(store_owner_bytes(s, a), one + 2000 - 10);
	before = store_stats(s).records;
	memset(claim, 3, sizeof(claim));
	store_record_set(s, claim, mb, STORE_OP_UPDATE, 0, "request-2", 9);
	CHECK_EQ_INT(store_stats(s).records, before);
	CHECK_EQ_INT(store_owner_bytes(s, a), one + 2000 - 10);
	spec.sender_claim[0] = 9;
	CHECK_EQ_INT(store_create(s, &spec, &mb2), STORE_OWNER_FULL);
	store_delete(s, mb);
	CHECK_EQ_INT(store_owner_bytes(s, a), 0);
	CHECK_EQ_INT(store_stats(s).owners, 0);
	CHECK_EQ_INT(store_stats(s).records, 0);

	/* Expiry gives back like a delete. */
	CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_OK);
	store_record_set(s, spec.sender_claim, mb, STORE_OP_CREATE, 0, "r", 1);
	CHECK_EQ_INT(store_stats(s).owners, 1);
	CHECK_EQ_INT(store_expire(s, TEST_NOW + 100, 10), 1);
	CHECK_EQ_INT(store_owner_bytes(s, a), 0);
	CHECK_EQ_INT(store_stats(s).owners, 0);
	store_free(s);
}

/* Many owners, many mailboxes, all gone: no owner is left behind. */
static void test_store_owners_come_and_go(void)
{
	struct mailbox_spec spec = spec_make(1, TEST_NOW + 100);
	struct mailbox **mbs = calloc(10000, sizeof(*mbs));
	uint8_t owner[STORE_OWNER_LEN];
	struct test_rng rng;
	struct store *s = store_make_owned(&rng, (size_t)1 << 20);

	spec.owner = owner;
	for (int i = 0; i < 10000; i++) {
		memset(owner, 0, sizeof(owner));
		memcpy(owner, &(int){ i / 2 % 1000 }, sizeof(int));
		spec.expires_at = TEST_NOW + 1 + i % 2;
		CHECK_EQ_INT(store_create(s, &spec, &mbs[i]), STORE_OK);
	}
	CHECK_EQ_INT(store_stats(s).owners, 1000);
	CHECK_EQ_INT(store_expire(s, TEST_NOW + 1, 100000), 5000);
	CHECK_EQ_INT(store_stats(s).owners, 1000);
	for (int i = 1; i < 10000; i += 2)
		store_delete(s, mbs[i]);
	CHECK_EQ_INT(store_stats(s).owners, 0);
	free(mbs);
	store_free(s);
}

/* Without a per-owner limit nothing is counted per owner. */
static void test_store_owner_bytes_off(void)
{
	uint8_t a[STORE_OWNER_LEN];
	struct mailbox_spec spec = spec_make(1, TEST_NOW + 100);
	struct test_rng rng;
	struct store *s = store_make(&rng, 100, 1 << 20);
	struct mailbox *mb;

	memset(a, 0xa, sizeof(a));
	spec.owner = a;
	CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_OK);
	CHECK(mb->owner == NULL);
	CHECK_EQ_INT(store_owner_bytes(s, a), 0);
	CHECK_EQ_INT(store_stats(s).owners, 0);
	store_free(s);
}

#define TEST_ITERATE_COUNT 30

struct test_iterate_seen {
	const struct mailbox *mb[TEST_ITERATE_COUNT];
	int visits[TEST_ITERATE_COUNT];
	int strangers;              /* visits to a mailbox the test does not hold */
};

static void test_store_iterate_visit(const struct mailbox *mb, void *arg)
{
	struct test_iterate_seen *seen = arg;

	for (int i = 0; i < TEST_ITERATE_COUNT; i++) {
		if (seen->mb[i] == mb) {
			seen->visits[i]++;
			return;
		}
	}
	seen->strangers++;
}

/* Every mailbox held is visited exactly once, the expired ones not yet
 * collected included (iterate is given no time); deleted and collected
 * ones are not. */
static void test_store_iterate(void)
{
	struct test_rng rng;
	struct store *s = store_make(&rng, 100, 1 << 20);
	struct test_iterate_seen seen = { .strangers = 0 };
	struct mailbox *mb;

	for (int i = 0; i < TEST_ITERATE_COUNT; i++) {
		struct mailbox_spec spec = spec_make(1, TEST_NOW + 1 + i);

		CHECK_EQ_INT(store_create(s, &spec, &mb), STORE_OK);
		seen.mb[i] = mb;
	}
	/* Expiries TEST_NOW + 1..10 have passed at TEST_NOW + 10: the first
	 * three are collected, seven stay expired but held. */
	CHECK_EQ_INT(store_expire(s, TEST_NOW + 10, 3), 3);
	store_delete(s, (struct mailbox *)seen.mb[TEST_ITERATE_COUNT - 1]);
	for (int i = 0; i < 3; i++)
		seen.mb[i] = NULL;
	seen.mb[TEST_ITERATE_COUNT - 1] = NULL;

	store_iterate(s, test_store_iterate_visit, &seen);
	for (int i = 3; i < TEST_ITERATE_COUNT - 1; i++)
		CHECK_EQ_INT(seen.visits[i], 1);
	CHECK_EQ_INT(seen.strangers, 0);
	store_free(s);
}

static void test_store_claim_equal(void)
{
	uint8_t a[MAILBOX_CLAIM_LEN], b[MAILBOX_CLAIM_LEN];

	for (int i = 0; i < MAILBOX_CLAIM_LEN; i++)
		a[i] = b[i] = (uint8_t)(i * 17);
	CHECK(store_claim_equal(a, b));
	for (int i = 0; i < MAILBOX_CLAIM_LEN; i++) {
		for (int bit = 0; bit < 8; bit++) {
			b[i] ^= (uint8_t)(1 << bit);
			CHECK(!store_claim_equal(a, b));
			b[i] ^= (uint8_t)(1 << bit);
		}
	}
	CHECK(store_claim_equal(a, b));
}

int main(void)
{
	/* Lines reach a pipe even if a later test crashes. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_siphash_vectors);
	CHECK_RUN(test_siphash_keyed);
	CHECK_RUN(test_table_small);
	CHECK_RUN(test_table_grow_and_shrink);
	CHECK_RUN(test_expiry_order);
	CHECK_RUN(test_expiry_remove_edges);
	CHECK_RUN(test_store_ids);
	CHECK_RUN(test_store_random_failures);
	CHECK_RUN(test_store_get_expired);
	CHECK_RUN(test_store_expire_order_and_budget);
	CHECK_RUN(test_store_waiters);
	CHECK_RUN(test_store_limits);
	CHECK_RUN(test_store_bytes_return_to_idle);
	CHECK_RUN(test_store_unbind);
	CHECK_RUN(test_store_records);
	CHECK_RUN(test_store_iterate);
	CHECK_RUN(test_store_owner_bytes_limit);
	CHECK_RUN(test_store_owner_bytes_follow_every_change);
	CHECK_RUN(test_store_owners_come_and_go);
	CHECK_RUN(test_store_owner_bytes_off);
	CHECK_RUN(test_store_claim_equal);
	return CHECK_SUMMARY();
}
