/*
 * table.h — a chained hash table of 16-byte keys with incremental rehashing.
 *
 * Both of the store's indexes are keyed by 16 bytes (a mailbox identifier or a
 * Device Claim), so one table serves both. Nodes are embedded in the objects
 * they index (no allocation per insert), and the key is hashed with SipHash
 * under a secret key because clients choose claims. Growing or shrinking
 * moves a few buckets per operation, as Redis's dict does, so a table of a
 * million entries never stalls the event loop while it resizes.
 */
#ifndef STORAGE_TABLE_H
#define STORAGE_TABLE_H

#include <stddef.h>
#include <stdint.h>

#include "storage/siphash.h"

#define TABLE_KEY_LEN 16

struct table_node {
	struct table_node *next;
	uint8_t key[TABLE_KEY_LEN];
};

struct table {
	/* buckets[1] is non-NULL only while rehashing from buckets[0] into it. */
	struct table_node **buckets[2];
	size_t bucket_count[2];
	size_t rehash_index;        /* next bucket of buckets[0] to move */
	size_t count;
	uint8_t hash_key[SIPHASH_KEY_LEN];
};

void table_init(struct table *t, const uint8_t hash_key[SIPHASH_KEY_LEN]);
/* Frees the bucket arrays; the nodes belong to their owners. */
void table_destroy(struct table *t);

struct table_node *table_find(struct table *t, const uint8_t key[TABLE_KEY_LEN]);
/* The node's key must not be in the table yet. */
void table_insert(struct table *t, struct table_node *node);
/* The node must be in the table. */
void table_remove(struct table *t, struct table_node *node);

/* Bytes held by the bucket arrays, for memory accounting. */
size_t table_bytes(const struct table *t);

/* Visits every node. fn must not insert or remove. */
void table_each(const struct table *t, void (*fn)(struct table_node *node, void *arg),
    void *arg);

#endif
