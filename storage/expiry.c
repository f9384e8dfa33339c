/*
 * expiry.c — the binary min-heap behind timer-driven expiry.
 */
#include <stdlib.h>

#include "lib/alloc.h"
#include "storage/expiry.h"

#define EXPIRY_MIN_CAPACITY 64

static void expiry_place(struct expiry_heap *h, size_t i, struct expiry_node *node)
{
	h->nodes[i] = node;
	node->heap_index = i;
}

static void expiry_sift_up(struct expiry_heap *h, size_t i)
{
	struct expiry_node *node = h->nodes[i];

	while (i > 0) {
		size_t parent = (i - 1) / 2;

		if (h->nodes[parent]->expires_at <= node->expires_at)
			break;
		expiry_place(h, i, h->nodes[parent]);
		i = parent;
	}
	expiry_place(h, i, node);
}

static void expiry_sift_down(struct expiry_heap *h, size_t i)
{
	struct expiry_node *node = h->nodes[i];

	for (;;) {
		size_t child = 2 * i + 1;

		if (child >= h->count)
			break;
		if (child + 1 < h->count &&
		    h->nodes[child + 1]->expires_at < h->nodes[child]->expires_at)
			child++;
		if (node->expires_at <= h->nodes[child]->expires_at)
			break;
		expiry_place(h, i, h->nodes[child]);
		i = child;
	}
	expiry_place(h, i, node);
}

void expiry_init(struct expiry_heap *h)
{
	h->nodes = NULL;
	h->count = h->capacity = 0;
}

void expiry_destroy(struct expiry_heap *h)
{
	free(h->nodes);
	expiry_init(h);
}

void expiry_add(struct expiry_heap *h, struct expiry_node *node)
{
	if (h->count == h->capacity) {
		h->capacity = h->capacity ? h->capacity * 2 : EXPIRY_MIN_CAPACITY;
		h->nodes = xrealloc(h->nodes, h->capacity * sizeof(*h->nodes));
	}
	h->nodes[h->count] = node;
	expiry_sift_up(h, h->count++);
}

void expiry_remove(struct expiry_heap *h, struct expiry_node *node)
{
	size_t i = node->heap_index;
	struct expiry_node *last = h->nodes[--h->count];

	if (i != h->count) {
		expiry_place(h, i, last);
		expiry_sift_down(h, i);
		expiry_sift_up(h, last->heap_index);
	}
	/* Give memory back after a mass expiry, keeping headroom against
	 * thrashing at the boundary. */
	if (h->capacity > EXPIRY_MIN_CAPACITY && h->count < h->capacity / 4) {
		h->capacity /= 2;
		h->nodes = xrealloc(h->nodes, h->capacity * sizeof(*h->nodes));
	}
}

struct expiry_node *expiry_first(const struct expiry_heap *h)
{
	return h->count ? h->nodes[0] : NULL;
}

size_t expiry_bytes(const struct expiry_heap *h)
{
	return h->capacity * sizeof(*h->nodes);
}
