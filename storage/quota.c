/*
 * quota.c — per-address counts in a keyed hash table (storage/table.c).
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/container_of.h"
#include "storage/quota.h"
#include "storage/table.h"

struct quota_entry {
	struct table_node node;             /* key: the address */
	size_t used[QUOTA_KINDS];
};

struct quota {
	struct table table;
	size_t limits[QUOTA_KINDS];
};

struct quota *quota_new(const size_t limits[QUOTA_KINDS],
    const uint8_t hash_key[SIPHASH_KEY_LEN])
{
	struct quota *q = xcalloc(1, sizeof(*q));

	memcpy(q->limits, limits, sizeof(q->limits));
	table_init(&q->table, hash_key);
	return q;
}

static void quota_free_node(struct table_node *node, void *arg)
{
	(void)arg;
	free(container_of(node, struct quota_entry, node));
}

void quota_free(struct quota *q)
{
	if (q == NULL)
		return;
	table_each(&q->table, quota_free_node, NULL);
	table_destroy(&q->table);
	free(q);
}

/* Would amount more stay within the limit? Written so as not to overflow. */
static int quota_fits(const struct quota *q, const struct quota_entry *e,
    enum quota_kind kind, size_t amount)
{
	size_t used = e ? e->used[kind] : 0;

	return used <= q->limits[kind] && amount <= q->limits[kind] - used;
}

int quota_take(struct quota *q, enum quota_kind kind, const uint8_t key[QUOTA_KEY_LEN],
    size_t amount, struct quota_entry **entry)
{
	struct table_node *node;
	struct quota_entry *e;

	*entry = NULL;
	if (q == NULL || q->limits[kind] == 0)
		return 0;
	node = table_find(&q->table, key);
	e = node ? container_of(node, struct quota_entry, node) : NULL;
	if (!quota_fits(q, e, kind, amount))
		return -1;
	if (e == NULL) {
		e = xcalloc(1, sizeof(*e));
		memcpy(e->node.key, key, QUOTA_KEY_LEN);
		table_insert(&q->table, &e->node);
	}
	e->used[kind] += amount;
	*entry = e;
	return 0;
}

int quota_add(struct quota *q, struct quota_entry *entry, enum quota_kind kind,
    size_t amount)
{
	if (entry == NULL || q->limits[kind] == 0)
		return 0;
	if (!quota_fits(q, entry, kind, amount))
		return -1;
	entry->used[kind] += amount;
	return 0;
}

void quota_give(struct quota *q, struct quota_entry *entry, enum quota_kind kind,
    size_t amount)
{
	if (entry == NULL)
		return;
	/* More back than was taken is a bug in the caller; never wrap. */
	entry->used[kind] -= amount <= entry->used[kind] ? amount : entry->used[kind];
	for (int k = 0; k < QUOTA_KINDS; k++) {
		if (entry->used[k] != 0)
			return;
	}
	table_remove(&q->table, &entry->node);
	free(entry);
}

size_t quota_used(struct quota *q, enum quota_kind kind,
    const uint8_t key[QUOTA_KEY_LEN])
{
	struct table_node *node;

	if (q == NULL)
		return 0;
	node = table_find(&q->table, key);
	return node ? container_of(node, struct quota_entry, node)->used[kind] : 0;
}

size_t quota_entries(const struct quota *q)
{
	return q ? q->table.count : 0;
}
