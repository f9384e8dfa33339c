/*
 * seal.c — AES-GCM and base64 on mbedTLS.
 */
#include <stdlib.h>
#include <string.h>

#include <mbedtls/base64.h>
#include <mbedtls/gcm.h>
#include <mbedtls/md.h>

#include "client/seal.h"
#include "protocol/wire.h"

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

char *seal_base64(const uint8_t *in, size_t len)
{
	size_t cap = (len + 2) / 3 * 4 + 1, written;
	char *out = malloc(cap);

	if (out == NULL)
		return NULL;
	if (mbedtls_base64_encode((unsigned char *)out, cap, &written, in, len) != 0) {
		free(out);
		return NULL;
	}
	return out;
}

int seal_unbase64(const char *s, size_t len, uint8_t **out, size_t *out_len)
{
	size_t cap = len / 4 * 3 + 3;

	*out = malloc(cap);
	if (*out == NULL)
		return -1;
	if (mbedtls_base64_decode(*out, cap, out_len, (const unsigned char *)s, len) != 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

void seal_base64url(const uint8_t *in, size_t len, char *out)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
	size_t i, n = 0;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		out[n++] = alphabet[v >> 18];
		out[n++] = alphabet[(v >> 12) & 63];
		out[n++] = alphabet[(v >> 6) & 63];
		out[n++] = alphabet[v & 63];
	}
	if (len - i == 1) {
		uint32_t v = (uint32_t)in[i] << 16;

		out[n++] = alphabet[v >> 18];
		out[n++] = alphabet[(v >> 12) & 63];
	} else if (len - i == 2) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;

		out[n++] = alphabet[v >> 18];
		out[n++] = alphabet[(v >> 12) & 63];
		out[n++] = alphabet[(v >> 6) & 63];
	}
	out[n] = '\0';
}

int seal_unbase64url(const char *s, size_t len, uint8_t *out, size_t cap, size_t *out_len)
{
	uint32_t acc = 0;
	size_t n = 0;
	int bits = 0;

	/* One character alone (6 bits) cannot encode a whole byte. */
	if (len % 4 == 1)
		return -1;
	for (size_t i = 0; i < len; i++) {
		int v = wire_base64_digit((unsigned char)s[i], 1);

		if (v < 0)
			return -1;
		acc = acc << 6 | (uint32_t)v;
		bits += 6;
		if (bits >= 8) {
			bits -= 8;
			if (n == cap)
				return -1;
			out[n++] = (uint8_t)(acc >> bits);
		}
	}
	/* Left-over bits must be zero: one encoding per byte string. */
	if (acc & ((1u << bits) - 1))
		return -1;
	*out_len = n;
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
