/*
 * base64.h — RFC 4648 base64, strict, in both alphabets we meet:
 *
 *   BASE64_STD  section 4: A-Z a-z 0-9 + /, padded with = to a multiple of 4
 *               (payload data on the wire)
 *   BASE64_URL  section 5: A-Z a-z 0-9 - _, without padding (the Secret in a
 *               Share URL's fragment)
 *
 * Decoding accepts exactly what encoding produces, one text per byte string:
 * no white space, no character of the other alphabet, padding exactly where
 * the standard alphabet needs it and nowhere in the URL one, and the bits
 * left over in the last character zero (section 3.5). Anything else is -1.
 */
#ifndef LIB_BASE64_H
#define LIB_BASE64_H

#include <stddef.h>
#include <stdint.h>

enum base64_alphabet {
	BASE64_STD,
	BASE64_URL
};

/* Characters that encoding n bytes writes at most (exactly, for BASE64_STD). */
#define BASE64_ENCODED_LEN(n) (((n) + 2) / 3 * 4)

/* Encode len bytes of in into out (BASE64_ENCODED_LEN(len) bytes; no NUL is
 * written): the number of characters. */
size_t base64_encode(enum base64_alphabet alphabet, const uint8_t *in, size_t len, char *out);
/* Is s (len characters) canonical base64 in this alphabet? 0 and the length
 * it decodes to, or -1. The empty text is the empty byte string. */
int base64_decoded_len(enum base64_alphabet alphabet, const char *s, size_t len,
    size_t *decoded_len);
/* Decode s into out (cap bytes): 0 and the length, or -1 when s is not
 * canonical base64 in this alphabet (out may then hold a part of it) or
 * decodes to more than cap bytes (out untouched). One pass over s. */
int base64_decode(enum base64_alphabet alphabet, const char *s, size_t len, uint8_t *out,
    size_t cap, size_t *out_len);

#endif
