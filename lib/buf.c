/*
 * buf.c — growable byte buffer with a sticky failure flag.
 */
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"

#define BUF_MIN_CAPACITY 1024

void buf_init(struct buf *b)
{
	b->data = NULL;
	b->len = b->cap = 0;
	b->failed = 0;
}

void buf_free(struct buf *b)
{
	free(b->data);
	buf_init(b);
}

int buf_reserve(struct buf *b, size_t extra)
{
	size_t want, cap;
	char *data;

	if (b->failed)
		return -1;
	if (extra > SIZE_MAX - b->len) {
		b->failed = 1;
		return -1;
	}
	want = b->len + extra;
	if (want <= b->cap)
		return 0;
	cap = b->cap ? b->cap : BUF_MIN_CAPACITY;
	while (cap < want)
		cap = cap > SIZE_MAX / 2 ? want : cap * 2;
	data = realloc(b->data, cap);
	if (data == NULL) {
		b->failed = 1;
		return -1;
	}
	b->data = data;
	b->cap = cap;
	return 0;
}

void buf_append(struct buf *b, const void *bytes, size_t len)
{
	if (len == 0 || buf_reserve(b, len) != 0)
		return;
	memcpy(b->data + b->len, bytes, len);
	b->len += len;
}

void buf_append_str(struct buf *b, const char *s)
{
	buf_append(b, s, strlen(s));
}

size_t buf_format_uint(uint64_t n, char out[BUF_UINT_DIGITS])
{
	char digits[BUF_UINT_DIGITS];
	size_t i = sizeof(digits);

	do {
		digits[--i] = (char)('0' + n % 10);
		n /= 10;
	} while (n != 0);
	memcpy(out, digits + i, sizeof(digits) - i);
	return sizeof(digits) - i;
}

void buf_append_uint(struct buf *b, uint64_t n)
{
	char digits[BUF_UINT_DIGITS];

	buf_append(b, digits, buf_format_uint(n, digits));
}

void buf_consume(struct buf *b, size_t n)
{
	if (n >= b->len) {
		b->len = 0;
		return;
	}
	memmove(b->data, b->data + n, b->len - n);
	b->len -= n;
}
