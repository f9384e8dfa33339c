/*
 * keyed.c — HMAC-SHA-256 through mbedTLS.
 */
#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/platform_util.h>

#include "net/keyed.h"

int keyed_hash(const uint8_t *key, size_t key_len, const void *msg, size_t msg_len,
    uint8_t *out, size_t out_len)
{
	const mbedtls_md_info_t *sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	uint8_t mac[KEYED_MAX];

	if (sha256 == NULL || out_len > KEYED_MAX ||
	    mbedtls_md_hmac(sha256, key, key_len, msg, msg_len, mac) != 0)
		return -1;
	memcpy(out, mac, out_len);
	mbedtls_platform_zeroize(mac, sizeof(mac));
	return 0;
}
