/*
 * rng.c — the process's one cryptographic random generator.
 *
 * mbedTLS's CTR-DRBG over its entropy collector, which reads the operating
 * system's source (getrandom or /dev/urandom) and reseeds the DRBG on its
 * own schedule. Everything that must be unpredictable draws from here; this
 * file must never fall back to a weaker source when seeding fails.
 */
#include <stdio.h>
#include <stdlib.h>

#include <mbedtls/ctr_drbg.h>
#include <mbedtls/entropy.h>
#include <mbedtls/error.h>

#include "net/rng.h"

struct rng {
	mbedtls_entropy_context entropy;
	mbedtls_ctr_drbg_context drbg;
};

/* Binds this generator's output to this program (NIST SP 800-90A). */
static const unsigned char rng_personalization[] = "relay";

struct rng *rng_new(char *err, size_t err_len)
{
	struct rng *rng;
	char reason[128];
	int ret;

	rng = calloc(1, sizeof(*rng));
	if (rng == NULL) {
		snprintf(err, err_len, "cannot seed the random generator: out of memory");
		return NULL;
	}
	mbedtls_entropy_init(&rng->entropy);
	mbedtls_ctr_drbg_init(&rng->drbg);
	ret = mbedtls_ctr_drbg_seed(&rng->drbg, mbedtls_entropy_func, &rng->entropy,
	    rng_personalization, sizeof(rng_personalization) - 1);
	if (ret != 0) {
		mbedtls_strerror(ret, reason, sizeof(reason));
		snprintf(err, err_len, "cannot seed the random generator: %s", reason);
		goto fail;
	}
	return rng;

fail:
	rng_free(rng);
	return NULL;
}

int rng_bytes(void *rng, unsigned char *out, size_t len)
{
	struct rng *r = rng;
	size_t chunk;
	int ret;

	/* CTR-DRBG refuses requests over MBEDTLS_CTR_DRBG_MAX_REQUEST bytes;
	 * callers should not have to know that. */
	while (len > 0) {
		chunk = len < MBEDTLS_CTR_DRBG_MAX_REQUEST ? len : MBEDTLS_CTR_DRBG_MAX_REQUEST;
		ret = mbedtls_ctr_drbg_random(&r->drbg, out, chunk);
		if (ret != 0)
			return ret;
		out += chunk;
		len -= chunk;
	}
	return 0;
}

void rng_free(struct rng *rng)
{
	if (rng == NULL)
		return;
	mbedtls_ctr_drbg_free(&rng->drbg);
	mbedtls_entropy_free(&rng->entropy);
	free(rng);
}
