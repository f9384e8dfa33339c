/*
 * seal.h — the end-to-end encryption of Provisioning Information, and the
 * encodings around it (the README's "Wire format" section, exactly).
 *
 *   data   = base64( IV ‖ AES-GCM(Secret, IV, plaintext) ‖ tag )
 *            IV 12 random bytes, tag 16 bytes, no associated data
 *   type   = AEAD_AES_128_GCM for a 16-byte Secret, AEAD_AES_256_GCM for 32
 *   secret = base64url without padding, in the Share URL's fragment
 *
 * The relay sees data and type only; the Secret never leaves the devices.
 * Both base64 forms are lib/base64.h's (BASE64_STD, BASE64_URL).
 */
#ifndef CLIENT_SEAL_H
#define CLIENT_SEAL_H

#include <stddef.h>
#include <stdint.h>

#define SEAL_IV_LEN 12
#define SEAL_TAG_LEN 16
#define SEAL_OVERHEAD (SEAL_IV_LEN + SEAL_TAG_LEN)
#define SEAL_KEY_MAX 32

/* out receives IV ‖ ciphertext ‖ tag: pt_len + SEAL_OVERHEAD bytes. */
int seal_encrypt(const uint8_t *key, size_t key_len, const uint8_t iv[SEAL_IV_LEN],
    const uint8_t *pt, size_t pt_len, uint8_t *out);
/* pt receives in_len - SEAL_OVERHEAD bytes; -1 when the tag does not verify
 * (wrong key or altered bytes) or the input is too short. */
int seal_decrypt(const uint8_t *key, size_t key_len, const uint8_t *in, size_t in_len,
    uint8_t *pt);

/* The payload type for a key length, or NULL. */
const char *seal_type(size_t key_len);
/* The key length a payload type needs, or 0 for a type this client cannot open. */
size_t seal_key_len(const char *type);

/* SHA-256 of bytes as 64 lower-case hex digits and a NUL. */
void seal_digest(const void *bytes, size_t len, char out[65]);

#endif
