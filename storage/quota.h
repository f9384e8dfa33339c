/*
 * quota.h — counts per client address, each with a limit, in a table that
 * holds only the addresses that have something counted.
 *
 * The global limits (--max-connections, --max-waiters, --max-memory) stop a
 * relay from falling over, but one address could take all of each; these
 * counts stop that. An address is a 16-byte key (ratelimit_key()'s IPv4
 * address or IPv6 /64); to this module it is just bytes. An entry exists
 * while any of its counts is above zero and is freed the moment the last one
 * is given back, so the table never holds more addresses than there are
 * connections, long-polls and mailboxes. Keys are chosen by clients, so the
 * table's hash is SipHash under a secret key.
 *
 * Every count taken must be given back exactly once, to the entry it was
 * taken on: an entry pointer stays valid only while its holder's count is in.
 */
#ifndef STORAGE_QUOTA_H
#define STORAGE_QUOTA_H

#include <stddef.h>
#include <stdint.h>

#include "storage/siphash.h"

#define QUOTA_KEY_LEN 16

enum quota_kind {
	QUOTA_CONNECTIONS,      /* open connections */
	QUOTA_WAITERS,          /* parked long-polls */
	QUOTA_BYTES,            /* bytes of mailboxes held */
	QUOTA_KINDS
};

struct quota;
struct quota_entry;

/* limits[kind] 0: that kind is neither limited nor counted. */
struct quota *quota_new(const size_t limits[QUOTA_KINDS],
    const uint8_t hash_key[SIPHASH_KEY_LEN]);
/* Frees every entry; pointers to them are then dangling. */
void quota_free(struct quota *q);

/* Count amount (> 0) more of kind against key. 0 with *entry the key's entry (NULL
 * when q is NULL or the kind is not counted), or -1 when that would take the
 * key beyond the kind's limit: nothing is counted then. */
int quota_take(struct quota *q, enum quota_kind kind, const uint8_t key[QUOTA_KEY_LEN],
    size_t amount, struct quota_entry **entry);
/* The same on an entry already held (NULL: nothing counted, always 0). */
int quota_add(struct quota *q, struct quota_entry *entry, enum quota_kind kind,
    size_t amount);
/* Give amount of kind back (entry NULL: nothing). The entry is freed once
 * all its counts are zero. */
void quota_give(struct quota *q, struct quota_entry *entry, enum quota_kind kind,
    size_t amount);

/* What key has counted of kind (0 when it has no entry). */
size_t quota_used(struct quota *q, enum quota_kind kind,
    const uint8_t key[QUOTA_KEY_LEN]);
/* Addresses held. */
size_t quota_entries(const struct quota *q);

#endif
