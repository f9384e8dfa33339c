/*
 * keyed.h — a keyed hash: HMAC-SHA-256 (mbedTLS), cut to what the caller
 * keeps.
 *
 * For values that must be recognisable but not recoverable from what is
 * stored: a device's claim in a shared store (a dump of it must not let
 * anyone act as the device).
 */
#ifndef NET_KEYED_H
#define NET_KEYED_H

#include <stddef.h>
#include <stdint.h>

#define KEYED_MAX 32

/* The first out_len (at most KEYED_MAX) bytes of HMAC-SHA-256(key, msg).
 * 0, or -1 when mbedTLS refuses (it does not for these inputs). */
int keyed_hash(const uint8_t *key, size_t key_len, const void *msg, size_t msg_len,
    uint8_t *out, size_t out_len);

#endif
