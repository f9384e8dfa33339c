/*
 * utf8.h — one UTF-8 sequence at a time, strictly (RFC 3629).
 *
 * Shortest forms only, no surrogates, nothing past U+10FFFF: what the API
 * accepts in a text member, and what the log writes unescaped.
 */
#ifndef LIB_UTF8_H
#define LIB_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The bytes of the sequence at the start of p (1 to 4, at most len) and its
 * code point, or 0 when they are no valid sequence (or len is 0). */
size_t utf8_decode(const unsigned char *p, size_t len, uint32_t *point);

#endif
