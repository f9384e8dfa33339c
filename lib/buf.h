/*
 * buf.h — a growable byte buffer for responses.
 *
 * Responses are assembled in one buffer and leave in as few writes (and TLS
 * records) as possible. Their size depends on what clients stored, so growth
 * uses plain realloc: a failed append marks the buffer failed and turns every
 * later append into a no-op, and the caller checks once at the end instead of
 * after every call.
 */
#ifndef LIB_BUF_H
#define LIB_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
	char *data;
	size_t len, cap;
	int failed;
};

void buf_init(struct buf *b);
/* Release the memory; the buffer is empty and usable again. */
void buf_free(struct buf *b);
/* Make room for extra more bytes: 0, or -1 (and failed set). */
int buf_reserve(struct buf *b, size_t extra);
void buf_append(struct buf *b, const void *bytes, size_t len);
void buf_append_str(struct buf *b, const char *s);
void buf_append_uint(struct buf *b, uint64_t n);
/* The decimal digits of n, not NUL-terminated, into out; their count. */
#define BUF_UINT_DIGITS 20
size_t buf_format_uint(uint64_t n, char out[BUF_UINT_DIGITS]);
/* Drop the first n bytes. */
void buf_consume(struct buf *b, size_t n);

#define buf_append_lit(b, lit) buf_append((b), (lit), sizeof(lit) - 1)

#endif
