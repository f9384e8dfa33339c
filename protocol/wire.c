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
