/*
 * table.c — chained hash table with incremental rehash (after Redis's dict.c).
 *
 * The table doubles when it holds as many entries as buckets and halves when
 * it is less than an eighth full, so a flood of inserts followed by mass expiry
 * gives the memory back. While a resize is under way both bucket arrays are
 * live: lookups search both, inserts go to the new one, and every operation
 * moves a few buckets across until the old array is empty.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "storage/table.h"

#define TABLE_MIN_BUCKETS 16
/* Buckets moved per operation while rehashing; empty ones are cheap, so
 * visit a bounded number of those too. */
#define TABLE_REHASH_STEP 4
#define TABLE_REHASH_EMPTY_VISITS 40

static size_t table_slot(const struct table *t, const uint8_t *key, int which)
{
	return siphash(key, TABLE_KEY_LEN, t->hash_key) & (t->bucket_count[which] - 1);
}

static int table_rehashing(const struct table *t)
{
	return t->buckets[1] != NULL;
}

static void table_rehash_step(struct table *t)
{
	int moved = 0, empty_visits = 0;

	while (moved < TABLE_REHASH_STEP && t->rehash_index < t->bucket_count[0]) {
		struct table_node *node = t->buckets[0][t->rehash_index];

		if (node == NULL) {
			t->rehash_index++;
			if (++empty_visits >= TABLE_REHASH_EMPTY_VISITS)
				return;
			continue;
		}
		while (node != NULL) {
			struct table_node *next = node->next;
			size_t slot = table_slot(t, node->key, 1);

			node->next = t->buckets[1][slot];
			t->buckets[1][slot] = node;
			node = next;
		}
		t->buckets[0][t->rehash_index++] = NULL;
		moved++;
	}
	if (t->rehash_index == t->bucket_count[0]) {
		free(t->buckets[0]);
		t->buckets[0] = t->buckets[1];
		t->bucket_count[0] = t->bucket_count[1];
		t->buckets[1] = NULL;
		t->bucket_count[1] = 0;
		t->rehash_index = 0;
	}
}

static void table_start_resize(struct table *t, size_t bucket_count)
{
	t->buckets[1] = xcalloc(bucket_count, sizeof(*t->buckets[1]));
	t->bucket_count[1] = bucket_count;
	t->rehash_index = 0;
}

/* Called after every insert and remove: start a resize when the load calls for
 * one, or advance the one under way. */
static void table_maintain(struct table *t)
{
	if (table_rehashing(t)) {
		table_rehash_step(t);
		return;
	}
	if (t->count >= t->bucket_count[0])
		table_start_resize(t, t->bucket_count[0] * 2);
	else if (t->bucket_count[0] > TABLE_MIN_BUCKETS && t->count < t->bucket_count[0] / 8)
		table_start_resize(t, t->bucket_count[0] / 2);
}

void table_init(struct table *t, const uint8_t hash_key[SIPHASH_KEY_LEN])
{
	memset(t, 0, sizeof(*t));
	memcpy(t->hash_key, hash_key, SIPHASH_KEY_LEN);
	t->bucket_count[0] = TABLE_MIN_BUCKETS;
	t->buckets[0] = xcalloc(TABLE_MIN_BUCKETS, sizeof(*t->buckets[0]));
}

void table_destroy(struct table *t)
{
	free(t->buckets[0]);
	free(t->buckets[1]);
	memset(t, 0, sizeof(*t));
}

static struct table_node **table_link_of(struct table *t, const uint8_t *key,
    struct table_node *target)
{
	for (int which = 0; which < 2; which++) {
		struct table_node **link;

		if (t->buckets[which] == NULL)
			break;
		/* Buckets below rehash_index have already moved to buckets[1]. */
		if (which == 0 && table_rehashing(t) &&
		    table_slot(t, key, 0) < t->rehash_index)
			continue;
		link = &t->buckets[which][table_slot(t, key, which)];
		for (; *link != NULL; link = &(*link)->next) {
			if (target != NULL ? *link == target :
			    memcmp((*link)->key, key, TABLE_KEY_LEN) == 0)
				return link;
		}
	}
	return NULL;
}

struct table_node *table_find(struct table *t, const uint8_t key[TABLE_KEY_LEN])
{
	struct table_node **link = table_link_of(t, key, NULL);

	return link ? *link : NULL;
}

void table_insert(struct table *t, struct table_node *node)
{
	int which = table_rehashing(t) ? 1 : 0;
	size_t slot = table_slot(t, node->key, which);

	node->next = t->buckets[which][slot];
	t->buckets[which][slot] = node;
	t->count++;
	table_maintain(t);
}

void table_remove(struct table *t, struct table_node *node)
{
	struct table_node **link = table_link_of(t, node->key, node);

	if (link == NULL)
		return;
	*link = node->next;
	node->next = NULL;
	t->count--;
	table_maintain(t);
}

size_t table_bytes(const struct table *t)
{
	return (t->bucket_count[0] + t->bucket_count[1]) * sizeof(struct table_node *);
}

void table_each(const struct table *t, void (*fn)(struct table_node *node, void *arg),
    void *arg)
{
	for (int which = 0; which < 2; which++) {
		for (size_t i = 0; i < t->bucket_count[which]; i++) {
			struct table_node *node = t->buckets[which][i], *next;

			for (; node != NULL; node = next) {
				next = node->next;
				fn(node, arg);
			}
		}
	}
}
