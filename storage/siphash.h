/*
 * siphash.h — SipHash-2-4, a keyed hash for tables whose keys clients choose.
 *
 * A client picks its Device Claims, so a table keyed by claims hashed with a
 * public function could be flooded with colliding keys. With a secret random
 * key nobody outside the process can predict which bucket a key lands in.
 */
#ifndef STORAGE_SIPHASH_H
#define STORAGE_SIPHASH_H

#include <stddef.h>
#include <stdint.h>

#define SIPHASH_KEY_LEN 16

uint64_t siphash(const uint8_t *in, size_t len, const uint8_t key[SIPHASH_KEY_LEN]);

#endif
