/*
 * test_quota.c — per-address counts: limits hold exactly, nothing is counted
 * on a refusal, entries go the moment their last count does, and no sum
 * wraps however large the numbers.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "storage/quota.h"
#include "test/unit/check.h"

static const uint8_t test_hash_key[SIPHASH_KEY_LEN] = { 1, 2, 3, 4, 5, 6, 7, 8,
	9, 10, 11, 12, 13, 14, 15, 16 };

static void key_of(uint8_t key[QUOTA_KEY_LEN], uint32_t n)
{
	memset(key, 0, QUOTA_KEY_LEN);
	memcpy(key + 12, &n, sizeof(n));
}

static struct quota *quota_make(size_t connections, size_t waiters, size_t bytes)
{
	size_t limits[QUOTA_KINDS];

	limits[QUOTA_CONNECTIONS] = connections;
	limits[QUOTA_WAITERS] = waiters;
	limits[QUOTA_BYTES] = bytes;
	return quota_new(limits, test_hash_key);
}

static void test_quota_limit_is_exact(void)
{
	struct quota *q = quota_make(3, 0, 0);
	struct quota_entry *e[4], *other;
	uint8_t a[QUOTA_KEY_LEN], b[QUOTA_KEY_LEN];

	key_of(a, 1);
	key_of(b, 2);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(quota_take(q, QUOTA_CONNECTIONS, a, 1, &e[i]), 0);
		CHECK(e[i] != NULL && e[i] == e[0]);
	}
	CHECK_EQ_INT(quota_used(q, QUOTA_CONNECTIONS, a), 3);
	/* The fourth is refused and counts nothing. */
	e[3] = (struct quota_entry *)&e;
	CHECK_EQ_INT(quota_take(q, QUOTA_CONNECTIONS, a, 1, &e[3]), -1);
	CHECK(e[3] == NULL);
	CHECK_EQ_INT(quota_used(q, QUOTA_CONNECTIONS, a), 3);
	/* Another address has its own count. */
	CHECK_EQ_INT(quota_take(q, QUOTA_CONNECTIONS, b, 3, &other), 0);
	CHECK_EQ_INT(quota_entries(q), 2);
	/* One back: room for exactly one more. */
	quota_give(q, e[0], QUOTA_CONNECTIONS, 1);
	CHECK_EQ_INT(quota_take(q, QUOTA_CONNECTIONS, a, 1, &e[3]), 0);
	CHECK_EQ_INT(quota_take(q, QUOTA_CONNECTIONS, a, 1, &e[3]), -1);
	for (int i = 0; i < 3; i++)
		quota_give(q, e[0], QUOTA_CONNECTIONS, 1);
	CHECK_EQ_INT(quota_used(q, QUOTA_CONNECTIONS, a), 0);
	CHECK_EQ_INT(quota_entries(q), 1);
	quota_give(q, other, QUOTA_CONNECTIONS, 3);
	CHECK_EQ_INT(quota_entries(q), 0);
	quota_free(q);
}

static void test_quota_kinds_share_an_entry(void)
{
	struct quota *q = quota_make(2, 1, 100);
	struct quota_entry *conn, *wait, *bytes;
	uint8_t a[QUOTA_KEY_LEN];

	key_of(a, 7);
	CHECK_EQ_INT(quota_take(q, QUOTA_CONNECTIONS, a, 1, &conn), 0);
	CHECK_EQ_INT(quota_take(q, QUOTA_WAITERS, a, 1, &wait), 0);
	CHECK_EQ_INT(quota_take(q, QUOTA_BYTES, a, 100, &bytes), 0);
	CHECK(conn == wait && wait == bytes);
	CHECK_EQ_INT(quota_take(q, QUOTA_WAITERS, a, 1, &wait), -1);
	CHECK_EQ_INT(quota_add(q, bytes, QUOTA_BYTES, 1), -1);
	CHECK_EQ_INT(quota_used(q, QUOTA_BYTES, a), 100);
	/* The entry stays while any kind is counted... */
	quota_give(q, conn, QUOTA_CONNECTIONS, 1);
	quota_give(q, conn, QUOTA_BYTES, 100);
	CHECK_EQ_INT(quota_entries(q), 1);
	CHECK_EQ_INT(quota_used(q, QUOTA_WAITERS, a), 1);
	/* ...and goes with the last. */
	quota_give(q, conn, QUOTA_WAITERS, 1);
	CHECK_EQ_INT(quota_entries(q), 0);
	CHECK_EQ_INT(quota_used(q, QUOTA_WAITERS, a), 0);
	quota_free(q);
}

static void test_quota_off(void)
{
	struct quota *q = quota_make(0, 5, 0);
	struct quota_entry *e = (struct quota_entry *)&q;
	uint8_t a[QUOTA_KEY_LEN];

	key_of(a, 1);
	/* A kind without a limit is not counted: no entry is made. */
	for (int i = 0; i < 1000; i++)
		CHECK_EQ_INT(quota_take(q, QUOTA_CONNECTIONS, a, 1, &e), 0);
	CHECK(e == NULL);
	CHECK_EQ_INT(quota_entries(q), 0);
	quota_give(q, e, QUOTA_CONNECTIONS, 1);
	CHECK_EQ_INT(quota_add(q, NULL, QUOTA_BYTES, SIZE_MAX), 0);
	quota_free(q);
	/* No quota at all: everything is allowed and nothing is held. */
	e = (struct quota_entry *)&q;
	CHECK_EQ_INT(quota_take(NULL, QUOTA_BYTES, a, SIZE_MAX, &e), 0);
	CHECK(e == NULL);
	quota_give(NULL, NULL, QUOTA_BYTES, 1);
	CHECK_EQ_INT(quota_entries(NULL), 0);
	CHECK_EQ_INT(quota_used(NULL, QUOTA_BYTES, a), 0);
}

static void test_quota_no_overflow(void)
{
	struct quota *q = quota_make(0, 0, SIZE_MAX - 10);
	struct quota_entry *e, *refused;
	uint8_t a[QUOTA_KEY_LEN];

	key_of(a, 3);
	CHECK_EQ_INT(quota_take(q, QUOTA_BYTES, a, SIZE_MAX - 20, &e), 0);
	/* used + amount would wrap to a small number: still refused. */
	CHECK_EQ_INT(quota_add(q, e, QUOTA_BYTES, SIZE_MAX), -1);
	CHECK_EQ_INT(quota_add(q, e, QUOTA_BYTES, 21), -1);
	CHECK_EQ_INT(quota_take(q, QUOTA_BYTES, a, SIZE_MAX - 5, &refused), -1);
	CHECK(refused == NULL);
	CHECK_EQ_INT(quota_add(q, e, QUOTA_BYTES, 10), 0);
	CHECK(quota_used(q, QUOTA_BYTES, a) == SIZE_MAX - 10);
	CHECK_EQ_INT(quota_add(q, e, QUOTA_BYTES, 1), -1);
	/* More back than is held never wraps: the entry just goes. */
	quota_give(q, e, QUOTA_BYTES, SIZE_MAX);
	CHECK_EQ_INT(quota_entries(q), 0);
	quota_free(q);
}

/* A crowd of addresses, then all gone: the table holds none of them. */
static void test_quota_many_addresses_come_and_go(void)
{
	struct quota *q = quota_make(2, 0, 0);
	static struct quota_entry *entries[50000];
	uint8_t key[QUOTA_KEY_LEN];

	for (uint32_t i = 0; i < 50000; i++) {
		key_of(key, i);
		CHECK_EQ_INT(quota_take(q, QUOTA_CONNECTIONS, key, 2, &entries[i]), 0);
	}
	CHECK_EQ_INT(quota_entries(q), 50000);
	for (uint32_t i = 0; i < 50000; i++) {
		key_of(key, i);
		CHECK_EQ_INT(quota_used(q, QUOTA_CONNECTIONS, key), 2);
		quota_give(q, entries[i], QUOTA_CONNECTIONS, 1);
		quota_give(q, entries[i], QUOTA_CONNECTIONS, 1);
	}
	CHECK_EQ_INT(quota_entries(q), 0);
	/* Half held when the quota goes: freed with it (ASan would tell). */
	for (uint32_t i = 0; i < 1000; i++) {
		key_of(key, i);
		CHECK_EQ_INT(quota_take(q, QUOTA_CONNECTIONS, key, 1, &entries[i]), 0);
	}
	quota_free(q);
}

int main(void)
{
	CHECK_RUN(test_quota_limit_is_exact);
	CHECK_RUN(test_quota_kinds_share_an_entry);
	CHECK_RUN(test_quota_off);
	CHECK_RUN(test_quota_no_overflow);
	CHECK_RUN(test_quota_many_addresses_come_and_go);
	return CHECK_SUMMARY();
}
