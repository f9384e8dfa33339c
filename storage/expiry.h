/*
 * expiry.h — a binary min-heap of expiry instants.
 *
 * The store asks one question of it, once a tick: which entries have expired
 * by now? The earliest is always at the root, so answering costs O(log n) per
 * expired entry and nothing for the rest: expiry never scans the table.
 * Nodes are embedded in their owners and remember their heap position, so an
 * entry deleted early leaves the heap in O(log n) too.
 */
#ifndef STORAGE_EXPIRY_H
#define STORAGE_EXPIRY_H

#include <stddef.h>
#include <stdint.h>

struct expiry_node {
	int64_t expires_at;   /* Unix seconds */
	size_t heap_index;
};

struct expiry_heap {
	struct expiry_node **nodes;
	size_t count, capacity;
};

void expiry_init(struct expiry_heap *h);
void expiry_destroy(struct expiry_heap *h);
void expiry_add(struct expiry_heap *h, struct expiry_node *node);
void expiry_remove(struct expiry_heap *h, struct expiry_node *node);
/* The earliest node, or NULL when the heap is empty. */
struct expiry_node *expiry_first(const struct expiry_heap *h);
size_t expiry_bytes(const struct expiry_heap *h);

#endif
