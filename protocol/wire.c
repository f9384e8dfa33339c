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
