/*
 * uuid.h — version-4 UUIDs (RFC 9562 section 5.4): 122 random bits with the
 * version and variant fields set, so that anyone reading one can tell it is
 * random and not, say, time-ordered and guessable.
 *
 * The randomness is the caller's (the relay's and the client's generators
 * differ); the text forms are protocol/wire.h's.
 */
#ifndef LIB_UUID_H
#define LIB_UUID_H

#include <stdint.h>

#define UUID_LEN 16

/* Turn 16 random bytes into a version-4 UUID, in place. */
void uuid_set_v4(uint8_t id[UUID_LEN]);

#endif
