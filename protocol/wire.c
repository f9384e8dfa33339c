/*
 * wire.c — strict parsers and canonical formatters for on-the-wire values.
 */
#include <arpa/inet.h>
#include <string.h>

#include "protocol/wire.h"
#include "storage/store.h"

static int wire_hex(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int wire_parse_uuid(const char *s, size_t len, uint8_t out[16])
{
	size_t i, n = 0;

	if (len != WIRE_UUID_LEN)
		return -1;
	for (i = 0; i < WIRE_UUID_LEN; ) {
		int hi, lo;

		if (i == 8 || i == 13 || i == 18 || i == 23) {
			if (s[i++] != '-')
				return -1;
			continue;
		}
		hi = wire_hex(s[i]);
		lo = wire_hex(s[i + 1]);
		if (hi < 0 || lo < 0)
			return -1;
		out[n++] = (uint8_t)(hi << 4 | lo);
		i += 2;
	}
	return 0;
}

void wire_format_uuid(const uint8_t id[16], char out[WIRE_UUID_LEN + 1])
{
	static const char digits[] = "0123456789abcdef";
	char *p = out;

	for (int i = 0; i < 16; i++) {
		if (i == 4 || i == 6 || i == 8 || i == 10)
			*p++ = '-';
		*p++ = digits[id[i] >> 4];
		*p++ = digits[id[i] & 15];
	}
	*p = '\0';
}

int wire_base64_digit(unsigned char c, int url_alphabet)
{
	/* The common case first: a letter or digit, by table. */
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

	/* Stored plus one, so that zero means "not a letter or digit". */
	if (digits[c])
		return digits[c] - 1;
	if (c == (url_alphabet ? '-' : '+'))
		return 62;
	if (c == (url_alphabet ? '_' : '/'))
		return 63;
	return -1;
}

int wire_check_base64(const char *s, size_t len, size_t *decoded_len)
{
	size_t pad = 0, i;
	int last;

	if (len == 0 || len % 4 != 0)
		return -1;
	if (s[len - 1] == '=')
		pad = s[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++) {
		if (wire_base64_digit((unsigned char)s[i], 0) < 0)
			return -1;
	}
	/* The bits that padding leaves over must be zero: one encoding per
	 * byte string, as RFC 4648 section 3.5 asks of canonical encoders. */
	last = wire_base64_digit((unsigned char)s[len - pad - 1], 0);
	if ((pad == 1 && (last & 0x03)) || (pad == 2 && (last & 0x0f)))
		return -1;
	*decoded_len = len / 4 * 3 - pad;
	return 0;
}

void wire_base64_decode(const char *s, size_t len, uint8_t *out)
{
	size_t pad = len >= 2 && s[len - 1] == '=' ? (s[len - 2] == '=' ? 2 : 1) : 0;
	size_t whole = (len - pad) / 4 * 4, i;

	/* Four characters make three bytes; the checked input has no surprises. */
	for (i = 0; i < whole; i += 4) {
		uint32_t v = (uint32_t)wire_base64_digit((unsigned char)s[i], 0) << 18 |
		    (uint32_t)wire_base64_digit((unsigned char)s[i + 1], 0) << 12 |
		    (uint32_t)wire_base64_digit((unsigned char)s[i + 2], 0) << 6 |
		    (uint32_t)wire_base64_digit((unsigned char)s[i + 3], 0);

		out[0] = (uint8_t)(v >> 16);
		out[1] = (uint8_t)(v >> 8);
		out[2] = (uint8_t)v;
		out += 3;
	}
	if (i < len - pad) {
		uint32_t v = (uint32_t)wire_base64_digit((unsigned char)s[i], 0) << 18 |
		    (uint32_t)wire_base64_digit((unsigned char)s[i + 1], 0) << 12;

		if (pad == 1)
			v |= (uint32_t)wire_base64_digit((unsigned char)s[i + 2], 0) << 6;
		out[0] = (uint8_t)(v >> 16);
		if (pad == 1)
			out[1] = (uint8_t)(v >> 8);
	}
}

size_t wire_base64_encode(const uint8_t *in, size_t len, char *out)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	char *p = out;
	size_t i;

	for (i = 0; i + 2 < len; i += 3) {
		uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];

		p[0] = alphabet[v >> 18];
		p[1] = alphabet[(v >> 12) & 63];
		p[2] = alphabet[(v >> 6) & 63];
		p[3] = alphabet[v & 63];
		p += 4;
	}
	if (i < len) {
		uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < len ? (uint32_t)in[i + 1] << 8 : 0);

		p[0] = alphabet[v >> 18];
		p[1] = alphabet[(v >> 12) & 63];
		p[2] = i + 1 < len ? alphabet[(v >> 6) & 63] : '=';
		p[3] = '=';
		p += 4;
	}
	return (size_t)(p - out);
}

static int wire_digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

static int wire_leap(int year)
{
	return (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
}

/* Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
 * days_from_civil), without the C library's time-zone machinery. */
static int64_t wire_days_from_civil(int y, int m, int d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

int wire_parse_time(const char *s, size_t len, int64_t *out)
{
	static const int month_days[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
	int year, month, day, hour, minute, second, max_day;

	if (len != WIRE_TIME_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return -1;
	if (wire_digits(s, 4, &year) || wire_digits(s + 5, 2, &month) ||
	    wire_digits(s + 8, 2, &day) || wire_digits(s + 11, 2, &hour) ||
	    wire_digits(s + 14, 2, &minute) || wire_digits(s + 17, 2, &second))
		return -1;
	if (month < 1 || month > 12 || hour > 23 || minute > 59 || second > 59)
		return -1;
	max_day = month_days[month - 1] + (month == 2 && wire_leap(year));
	if (day < 1 || day > max_day)
		return -1;
	*out = wire_days_from_civil(year, month, day) * 86400 +
	    hour * 3600 + minute * 60 + second;
	return 0;
}

static void wire_put2(char *p, int v)
{
	p[0] = (char)('0' + v / 10);
	p[1] = (char)('0' + v % 10);
}

void wire_format_time(int64_t t, char out[WIRE_TIME_LEN + 1])
{
	int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
	int64_t secs = t - days * 86400;
	/* civil_from_days, the inverse of wire_days_from_civil. */
	int64_t z = days + 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	int day = (int)(doy - (153 * mp + 2) / 5 + 1);
	int month = (int)(mp < 10 ? mp + 3 : mp - 9);
	int year = (int)(yoe + era * 400 + (month <= 2));

	if (year < 0)
		year = 0;
	if (year > 9999)
		year = 9999;
	wire_put2(out, year / 100);
	wire_put2(out + 2, year % 100);
	out[4] = '-';
	wire_put2(out + 5, month);
	out[7] = '-';
	wire_put2(out + 8, day);
	out[10] = 'T';
	wire_put2(out + 11, (int)(secs / 3600));
	out[13] = ':';
	wire_put2(out + 14, (int)(secs / 60 % 60));
	out[16] = ':';
	wire_put2(out + 17, (int)(secs % 60));
	out[19] = 'Z';
	out[20] = '\0';
}

int wire_parse_rights(const char *s, size_t len, uint8_t *out)
{
	uint8_t rights = 0;

	if (len == 0)
		return -1;
	for (size_t i = 0; i < len; i++) {
		uint8_t bit = s[i] == 'R' ? MAILBOX_READ : s[i] == 'W' ? MAILBOX_WRITE :
		    s[i] == 'D' ? MAILBOX_DELETE : 0;

		if (bit == 0 || (rights & bit))
			return -1;
		rights |= bit;
	}
	*out = rights;
	return 0;
}

/* ":" and a port number of 1 to 5 digits up to 65535, exactly. */
static int wire_is_port_suffix(const char *s, size_t len)
{
	unsigned port = 0;

	if (len < 2 || len > 6 || s[0] != ':')
		return 0;
	for (size_t i = 1; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return 0;
		port = port * 10 + (unsigned)(s[i] - '0');
	}
	return port <= 65535;
}

int wire_parse_forwarded_addr(const char *s, size_t len, uint8_t addr[16], size_t *addr_len)
{
	static const uint8_t v4_mapped[12] = { [10] = 0xff, [11] = 0xff };
	char text[INET6_ADDRSTRLEN];
	const char *colon = memchr(s, ':', len);
	int family = 0;

	if (len > 0 && s[0] == '[') {
		const char *close = memchr(s, ']', len);
		size_t rest;

		if (close == NULL)
			return -1;
		rest = len - (size_t)(close + 1 - s);
		if (rest > 0 && !wire_is_port_suffix(close + 1, rest))
			return -1;
		s++;
		len = (size_t)(close - s);
		family = AF_INET6;
	} else if (colon != NULL && memchr(colon + 1, ':', len - (size_t)(colon + 1 - s)) == NULL) {
		/* One colon: an IPv6 address has at least two. */
		if (!wire_is_port_suffix(colon, len - (size_t)(colon - s)))
			return -1;
		len = (size_t)(colon - s);
		family = AF_INET;
	}
	if (len == 0 || len >= sizeof(text) || memchr(s, '\0', len) != NULL)
		return -1;
	memcpy(text, s, len);
	text[len] = '\0';
	if (family != AF_INET6 && inet_pton(AF_INET, text, addr) == 1) {
		*addr_len = 4;
		return 0;
	}
	if (family != AF_INET && inet_pton(AF_INET6, text, addr) == 1) {
		*addr_len = 16;
		if (memcmp(addr, v4_mapped, sizeof(v4_mapped)) == 0) {
			memmove(addr, addr + 12, 4);
			*addr_len = 4;
		}
		return 0;
	}
	return -1;
}
