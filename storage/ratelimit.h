/*
 * ratelimit.h — token buckets per client address, in a table that cannot grow
 * without bound.
 *
 * An address is an IPv4 /32 or an IPv6 /64 (one subscriber's usual
 * allocation), folded into 16 bytes. Each address has one bucket per kind of
 * limited event. The table holds at most max_entries addresses: the least
 * recently seen one makes room for a new one, and addresses idle long enough
 * for every bucket to be full again are dropped, since a full bucket is the
 * same as none.
 *
 * now_ms is monotonic time (lib/clock.h), never the wall clock: a clock
 * stepped back would withhold tokens for as long, one stepped forward would
 * refill every bucket at once.
 */
#ifndef STORAGE_RATELIMIT_H
#define STORAGE_RATELIMIT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/siphash.h"

#define RATELIMIT_KEY_LEN 16

enum ratelimit_kind {
	RATELIMIT_CREATE,       /* CreateMailbox calls */
	RATELIMIT_FAIL,         /* failed claim checks (401) */
	RATELIMIT_KINDS
};

/* per tokens every period_ms, at most burst saved up; per 0: no limit. */
struct ratelimit_rule {
	uint32_t per;
	uint32_t period_ms;
	uint32_t burst;
};

struct ratelimit;

struct ratelimit *ratelimit_new(const struct ratelimit_rule rules[RATELIMIT_KINDS],
    size_t max_entries, const uint8_t hash_key[SIPHASH_KEY_LEN]);
void ratelimit_free(struct ratelimit *rl);

/* The bucket key of an IPv4 address (4 bytes) or IPv6 address (16 bytes). */
void ratelimit_key(const uint8_t *addr, size_t addr_len, uint8_t key[RATELIMIT_KEY_LEN]);
/* The key of a client known by a name that is not an address (what a proxy
 * wrote where an address belongs): one key per name, never the key of any
 * address, and not predictable without secret (random, and used for nothing
 * else), so that no name can be chosen to share another's bucket. Rate
 * limits and the counts per address (storage/quota.h) both use it. */
void ratelimit_key_name(const uint8_t secret[SIPHASH_KEY_LEN], const char *name, size_t len,
    uint8_t key[RATELIMIT_KEY_LEN]);

/* 0 when a token is there, else the seconds until one will be (>= 1). */
unsigned ratelimit_allow(struct ratelimit *rl, enum ratelimit_kind kind,
    const uint8_t key[RATELIMIT_KEY_LEN], int64_t now_ms);
/* Use one token (none left: nothing happens). */
void ratelimit_spend(struct ratelimit *rl, enum ratelimit_kind kind,
    const uint8_t key[RATELIMIT_KEY_LEN], int64_t now_ms);
/* Drop addresses whose buckets have all refilled; at most budget of them. */
void ratelimit_expire(struct ratelimit *rl, int64_t now_ms, size_t budget);
/* Addresses held, and the bytes they take. */
size_t ratelimit_count(const struct ratelimit *rl);
size_t ratelimit_bytes(const struct ratelimit *rl);

#endif
