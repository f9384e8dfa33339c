/*
 * ratelimit.c — token buckets, counted in thousandths of a token so that
 * slow rates (30 a minute) refill smoothly with integer arithmetic.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "lib/alloc.h"
#include "lib/container_of.h"
#include "storage/ratelimit.h"
#include "storage/table.h"

#define RATELIMIT_MILLI 1000

struct ratelimit_entry {
	struct table_node node;             /* key: the address */
	struct ratelimit_entry *newer, *older;
	int64_t seen_ms;                    /* last use, for idle expiry */
	int64_t filled_ms[RATELIMIT_KINDS]; /* time accounted for in tokens */
	int64_t tokens[RATELIMIT_KINDS];    /* thousandths */
};

struct ratelimit {
	struct ratelimit_rule rules[RATELIMIT_KINDS];
	struct table table;
	struct ratelimit_entry *newest, *oldest;
	size_t max_entries;
	int64_t full_after_ms;              /* an idle entry is full again after this */
};

static int64_t ratelimit_capacity(const struct ratelimit_rule *rule)
{
	return (int64_t)rule->burst * RATELIMIT_MILLI;
}

struct ratelimit *ratelimit_new(const struct ratelimit_rule rules[RATELIMIT_KINDS],
    size_t max_entries, const uint8_t hash_key[SIPHASH_KEY_LEN])
{
	struct ratelimit *rl = xcalloc(1, sizeof(*rl));

	memcpy(rl->rules, rules, sizeof(rl->rules));
	table_init(&rl->table, hash_key);
	rl->max_entries = max_entries ? max_entries : 1;
	for (int k = 0; k < RATELIMIT_KINDS; k++) {
		const struct ratelimit_rule *r = &rules[k];
		int64_t refill;

		if (r->per == 0)
			continue;
		refill = ((int64_t)r->burst * r->period_ms + r->per - 1) / r->per;
		if (refill > rl->full_after_ms)
			rl->full_after_ms = refill;
	}
	return rl;
}

static void ratelimit_unlink(struct ratelimit *rl, struct ratelimit_entry *e)
{
	if (e->newer != NULL)
		e->newer->older = e->older;
	else
		rl->newest = e->older;
	if (e->older != NULL)
		e->older->newer = e->newer;
	else
		rl->oldest = e->newer;
	e->newer = e->older = NULL;
}

static void ratelimit_push_newest(struct ratelimit *rl, struct ratelimit_entry *e)
{
	e->older = rl->newest;
	e->newer = NULL;
	if (rl->newest != NULL)
		rl->newest->newer = e;
	rl->newest = e;
	if (rl->oldest == NULL)
		rl->oldest = e;
}

static void ratelimit_drop(struct ratelimit *rl, struct ratelimit_entry *e)
{
	ratelimit_unlink(rl, e);
	table_remove(&rl->table, &e->node);
	free(e);
}

void ratelimit_free(struct ratelimit *rl)
{
	if (rl == NULL)
		return;
	while (rl->oldest != NULL)
		ratelimit_drop(rl, rl->oldest);
	table_destroy(&rl->table);
	free(rl);
}

void ratelimit_key(const uint8_t *addr, size_t addr_len, uint8_t key[RATELIMIT_KEY_LEN])
{
	/* Byte 8 stays 0 either way: ratelimit_key_name relies on it. */
	memset(key, 0, RATELIMIT_KEY_LEN);
	if (addr_len == 4) {
		/* ::ffff:a.b.c.d, as the kernel writes a mapped address. */
		key[10] = key[11] = 0xff;
		memcpy(key + 12, addr, 4);
	} else {
		memcpy(key, addr, 8);
	}
}

void ratelimit_key_name(const uint8_t secret[SIPHASH_KEY_LEN], const char *name, size_t len,
    uint8_t key[RATELIMIT_KEY_LEN])
{
	uint64_t h = siphash((const uint8_t *)name, len, secret);

	/* Byte 8 of every address key is 0; 0xff marks a name. */
	memcpy(key, &h, 8);
	memset(key + 8, 0xff, 8);
}

/* The address's entry with its buckets refilled up to now, made if absent. */
static struct ratelimit_entry *ratelimit_entry(struct ratelimit *rl,
    const uint8_t key[RATELIMIT_KEY_LEN], int64_t now_ms)
{
	struct table_node *node = table_find(&rl->table, key);
	struct ratelimit_entry *e;

	if (node == NULL) {
		if (rl->table.count >= rl->max_entries)
			ratelimit_drop(rl, rl->oldest);
		e = xcalloc(1, sizeof(*e));
		memcpy(e->node.key, key, RATELIMIT_KEY_LEN);
		for (int k = 0; k < RATELIMIT_KINDS; k++) {
			e->tokens[k] = ratelimit_capacity(&rl->rules[k]);
			e->filled_ms[k] = now_ms;
		}
		e->seen_ms = now_ms;
		table_insert(&rl->table, &e->node);
		ratelimit_push_newest(rl, e);
		return e;
	}
	e = container_of(node, struct ratelimit_entry, node);
	for (int k = 0; k < RATELIMIT_KINDS; k++) {
		const struct ratelimit_rule *r = &rl->rules[k];
		int64_t cap = ratelimit_capacity(r), elapsed = now_ms - e->filled_ms[k], added;

		if (r->per == 0 || elapsed <= 0)
			continue;
		/* Once full, stay full: and never overflow on long idles. */
		if (elapsed >= rl->full_after_ms) {
			e->tokens[k] = cap;
			e->filled_ms[k] = now_ms;
			continue;
		}
		/* Only the time that became whole thousandths is used up, so
		 * a client calling faster than that still sees its refill. */
		added = elapsed * r->per * RATELIMIT_MILLI / r->period_ms;
		e->filled_ms[k] += added * r->period_ms / ((int64_t)r->per * RATELIMIT_MILLI);
		e->tokens[k] += added;
		if (e->tokens[k] >= cap) {
			e->tokens[k] = cap;
			e->filled_ms[k] = now_ms;
		}
	}
	if (now_ms > e->seen_ms)
		e->seen_ms = now_ms;
	ratelimit_unlink(rl, e);
	ratelimit_push_newest(rl, e);
	return e;
}

unsigned ratelimit_allow(struct ratelimit *rl, enum ratelimit_kind kind,
    const uint8_t key[RATELIMIT_KEY_LEN], int64_t now_ms)
{
	const struct ratelimit_rule *r = &rl->rules[kind];
	struct ratelimit_entry *e;
	int64_t missing, wait_ms;

	if (r->per == 0)
		return 0;
	e = ratelimit_entry(rl, key, now_ms);
	if (e->tokens[kind] >= RATELIMIT_MILLI)
		return 0;
	missing = RATELIMIT_MILLI - e->tokens[kind];
	wait_ms = (missing * r->period_ms + (int64_t)r->per * RATELIMIT_MILLI - 1) /
	    ((int64_t)r->per * RATELIMIT_MILLI);
	return (unsigned)((wait_ms + 999) / 1000);
}

void ratelimit_spend(struct ratelimit *rl, enum ratelimit_kind kind,
    const uint8_t key[RATELIMIT_KEY_LEN], int64_t now_ms)
{
	struct ratelimit_entry *e;

	if (rl->rules[kind].per == 0)
		return;
	e = ratelimit_entry(rl, key, now_ms);
	if (e->tokens[kind] >= RATELIMIT_MILLI)
		e->tokens[kind] -= RATELIMIT_MILLI;
	else
		e->tokens[kind] = 0;
}

void ratelimit_expire(struct ratelimit *rl, int64_t now_ms, size_t budget)
{
	while (budget-- > 0 && rl->oldest != NULL &&
	    now_ms - rl->oldest->seen_ms >= rl->full_after_ms)
		ratelimit_drop(rl, rl->oldest);
}

size_t ratelimit_count(const struct ratelimit *rl)
{
	return rl->table.count;
}

size_t ratelimit_bytes(const struct ratelimit *rl)
{
	return rl->table.count * sizeof(struct ratelimit_entry) + table_bytes(&rl->table);
}
