/*
 * rng.h — the process's one cryptographic random generator.
 *
 * mbedTLS's CTR-DRBG seeded from the operating system's entropy. Mailbox
 * identifiers, hash keys, session-ticket keys and the development
 * certificate all draw from it; nothing else in the relay makes random bytes.
 */
#ifndef NET_RNG_H
#define NET_RNG_H

#include <stddef.h>

struct rng;

/* NULL, with a one-line reason in err, when the OS cannot seed it. */
struct rng *rng_new(char *err, size_t err_len);
/* Same shape as mbedTLS's f_rng, so it can be handed to mbedTLS directly:
 * 0 on success, non-zero on failure. */
int rng_bytes(void *rng, unsigned char *out, size_t len);
void rng_free(struct rng *rng);

#endif
