/*
 * utf8.c — a strict UTF-8 decoder.
 */
#include "lib/utf8.h"

size_t utf8_decode(const unsigned char *p, size_t len, uint32_t *point)
{
	unsigned c;
	size_t more;
	uint32_t cp;

	if (len == 0)
		return 0;
	c = p[0];
	if (c < 0x80) {
		*point = c;
		return 1;
	}
	/* 0xc0 and 0xc1 could only start overlong forms of ASCII. */
	if (c >= 0xc2 && c <= 0xdf) {
		more = 1;
		cp = c & 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		more = 2;
		cp = c & 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		more = 3;
		cp = c & 0x07;
	} else {
		return 0;
	}
	if (len - 1 < more)
		return 0;
	for (size_t i = 1; i <= more; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) ||
	    (cp >= 0xd800 && cp <= 0xdfff) || cp > 0x10ffff)
		return 0;
	*point = cp;
	return more + 1;
}
