/*
 * base64.c — one strict codec for both RFC 4648 alphabets.
 */
#include "lib/base64.h"

static const char base64_digits[2][65] = {
	[BASE64_STD] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/",
	[BASE64_URL] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_",
};

/* The value of one digit of the alphabet, or -1. */
static int base64_value(enum base64_alphabet alphabet, unsigned char c)
{
	/* The common case first: a letter or digit, by table, stored plus one
	 * so that zero means "not a letter or digit". */
	static const int8_t digits[256] = {
		['A'] = 1, ['B'] = 2, ['C'] = 3, ['D'] = 4, ['E'] = 5, ['F'] = 6, ['G'] = 7,
		['H'] = 8, ['I'] = 9, ['J'] = 10, ['K'] = 11, ['L'] = 12, ['M'] = 13, ['N'] = 14,
		['O'] = 15, ['P'] = 16, ['Q'] = 17, ['R'] = 18, ['S'] = 19, ['T'] = 20, ['U'] = 21,
		['V'] = 22, ['W'] = 23, ['X'] = 24, ['Y'] = 25, ['Z'] = 26,
		['a'] = 27, ['b'] = 28, ['c'] = 29, ['d'] = 30, ['e'] = 31, ['f'] = 32, ['g'] = 33,
		['h'] = 34, ['i'] = 35, ['j'] = 36, ['k'] = 37, ['l'] = 38, ['m'] = 39, ['n'] = 40,
		['o'] = 41, ['p'] = 42, ['q'] = 43, ['r'] = 44, ['s'] = 45, ['t'] = 46, ['u'] = 47,
		['v'] = 48, ['w'] = 49, ['x'] = 50, ['y'] = 51, ['z'] = 52,
		['0'] = 53, ['1'] = 54, ['2'] = 55, ['3'] = 56, ['4'] = 57, ['5'] = 58, ['6'] = 59,
		['7'] = 60, ['8'] = 61, ['9'] = 62,
	};

	if (digits[c])
		return digits[c] - 1;
	if (c == (unsigned char)base64_digits[alphabet][62])
		return 62;
	if (c == (unsigned char)base64_digits[alphabet][63])
		return 63;
	return -1;
}

size_t base64_encode(enum base64_alphabet alphabet, const uint8_t *in, size_t len, char *out)
{
	const char *digit = base64_digits[alphabet];
	char *p = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		p[0] = digit[v >> 18];
		p[1] = digit[(v >> 12) & 63];
		p[2] = digit[(v >> 6) & 63];
		p[3] = digit[v & 63];
		p += 4;
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

		*p++ = digit[v >> 18];
		*p++ = digit[(v >> 12) & 63];
		if (i + 1 < len)
			*p++ = digit[(v >> 6) & 63];
		else if (alphabet == BASE64_STD)
			*p++ = '=';
		if (alphabet == BASE64_STD)
			*p++ = '=';
	}
	return (size_t)(p - out);
}

/* The digits of s without its padding: 0 and their count, or -1. */
static int base64_digit_count(enum base64_alphabet alphabet, const char *s, size_t len,
    size_t *count)
{
	size_t pad = 0;

	if (alphabet == BASE64_STD) {
		if (len % 4 != 0)
			return -1;
		if (len > 0 && s[len - 1] == '=')
			pad = s[len - 2] == '=' ? 2 : 1;
	}
	/* One digit alone (6 bits) cannot encode a whole byte. */
	if ((len - pad) % 4 == 1)
		return -1;
	*count = len - pad;
	return 0;
}

int base64_decoded_len(enum base64_alphabet alphabet, const char *s, size_t len,
    size_t *decoded_len)
{
	size_t count, tail;
	int last = 0;

	if (base64_digit_count(alphabet, s, len, &count) != 0)
		return -1;
	for (size_t i = 0; i < count; i++) {
		last = base64_value(alphabet, (unsigned char)s[i]);
		if (last < 0)
			return -1;
	}
	/* The bits a short last group leaves over must be zero: one text per
	 * byte string, as RFC 4648 section 3.5 asks of canonical encoders. */
	tail = count % 4;
	if ((tail == 2 && (last & 0x0f)) || (tail == 3 && (last & 0x03)))
		return -1;
	*decoded_len = count / 4 * 3 + (tail == 0 ? 0 : tail - 1);
	return 0;
}

int base64_decode(enum base64_alphabet alphabet, const char *s, size_t len, uint8_t *out,
    size_t cap, size_t *out_len)
{
	size_t count, tail, n, i;
	int32_t v[4];

	/* One pass: each group is checked as it is decoded. */
	if (base64_digit_count(alphabet, s, len, &count) != 0)
		return -1;
	tail = count % 4;
	n = count / 4 * 3 + (tail == 0 ? 0 : tail - 1);
	if (n > cap)
		return -1;
	for (i = 0; i < count; i += 4) {
		size_t digits = count - i < 4 ? count - i : 4;
		uint32_t bits = 0;

		for (size_t k = 0; k < 4; k++) {
			v[k] = k < digits ? base64_value(alphabet, (unsigned char)s[i + k]) : 0;
			if (v[k] < 0)
				return -1;
			bits = bits << 6 | (uint32_t)v[k];
		}
		/* The bits a short last group leaves over must be zero: one
		 * text per byte string (RFC 4648 section 3.5). */
		if ((digits == 2 && (v[1] & 0x0f)) || (digits == 3 && (v[2] & 0x03)))
			return -1;
		for (size_t k = 0; k + 1 < digits; k++)
			*out++ = (uint8_t)(bits >> (16 - 8 * k));
	}
	*out_len = n;
	return 0;
}
