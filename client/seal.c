/*
 * seal.c — AES-GCM and SHA-256 on mbedTLS.
 */
#include <string.h>

#include <mbedtls/gcm.h>
#include <mbedtls/md.h>

#include "client/seal.h"

static int seal_setkey(mbedtls_gcm_context *gcm, const uint8_t *key, size_t key_len)
{
	if (key_len != 16 && key_len != 32)
		return -1;
	mbedtls_gcm_init(gcm);
	return mbedtls_gcm_setkey(gcm, MBEDTLS_CIPHER_ID_AES, key,
	    (unsigned int)key_len * 8) == 0 ? 0 : -1;
}

int seal_encrypt(const uint8_t *key, size_t key_len, const uint8_t iv[SEAL_IV_LEN],
    const uint8_t *pt, size_t pt_len, uint8_t *out)
{
	mbedtls_gcm_context gcm;
	int ret;

	if (seal_setkey(&gcm, key, key_len) != 0) {
		mbedtls_gcm_free(&gcm);
		return -1;
	}
	memcpy(out, iv, SEAL_IV_LEN);
	ret = mbedtls_gcm_crypt_and_tag(&gcm, MBEDTLS_GCM_ENCRYPT, pt_len, iv, SEAL_IV_LEN,
	    NULL, 0, pt, out + SEAL_IV_LEN, SEAL_TAG_LEN, out + SEAL_IV_LEN + pt_len);
	mbedtls_gcm_free(&gcm);
	return ret == 0 ? 0 : -1;
}

int seal_decrypt(const uint8_t *key, size_t key_len, const uint8_t *in, size_t in_len,
    uint8_t *pt)
{
	mbedtls_gcm_context gcm;
	size_t ct_len;
	int ret;

	if (in_len < SEAL_OVERHEAD)
		return -1;
	ct_len = in_len - SEAL_OVERHEAD;
	if (seal_setkey(&gcm, key, key_len) != 0) {
		mbedtls_gcm_free(&gcm);
		return -1;
	}
	ret = mbedtls_gcm_auth_decrypt(&gcm, ct_len, in, SEAL_IV_LEN, NULL, 0,
	    in + SEAL_IV_LEN + ct_len, SEAL_TAG_LEN, in + SEAL_IV_LEN, pt);
	mbedtls_gcm_free(&gcm);
	return ret == 0 ? 0 : -1;
}

const char *seal_type(size_t key_len)
{
	return key_len == 16 ? "AEAD_AES_128_GCM" : key_len == 32 ? "AEAD_AES_256_GCM" : NULL;
}

size_t seal_key_len(const char *type)
{
	if (strcmp(type, "AEAD_AES_128_GCM") == 0)
		return 16;
	if (strcmp(type, "AEAD_AES_256_GCM") == 0)
		return 32;
	return 0;
}

void seal_digest(const void *bytes, size_t len, char out[65])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char sum[32];

	mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), bytes, len, sum);
	for (int i = 0; i < 32; i++) {
		out[2 * i] = hex[sum[i] >> 4];
		out[2 * i + 1] = hex[sum[i] & 15];
	}
	out[64] = '\0';
}
