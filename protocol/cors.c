/*
 * cors.c — origin syntax for --cors-origin, and matching the Origin header.
 */
#include <string.h>

#include "protocol/cors.h"

static char cors_lower(char c)
{
	return c >= 'A' && c <= 'Z' ? (char)(c - 'A' + 'a') : c;
}

static int cors_is_alpha(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static int cors_is_digit(char c)
{
	return c >= '0' && c <= '9';
}

int cors_normalize_origin(const char *s, char out[CORS_ORIGIN_MAX + 1], const char **why)
{
	const char *p = s, *scheme_end, *host, *host_end;
	unsigned long port = 0;
	int has_port = 0;
	size_t n = 0, len = strlen(s);

	if (strcmp(s, "*") == 0) {
		memcpy(out, "*", 2);
		return 0;
	}
	if (len > CORS_ORIGIN_MAX) {
		*why = "it is longer than 255 characters";
		return -1;
	}
	/* scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ) (RFC 3986) */
	if (!cors_is_alpha(*p)) {
		*why = "it does not start with a scheme such as https://";
		return -1;
	}
	while (cors_is_alpha(*p) || cors_is_digit(*p) || *p == '+' || *p == '-' || *p == '.')
		p++;
	scheme_end = p;
	if (strncmp(p, "://", 3) != 0) {
		*why = "it does not start with a scheme such as https://";
		return -1;
	}
	host = p += 3;
	if (*p == '[') {
		/* An IPv6 literal: hex digits, colons and dots, in brackets. */
		p++;
		while (cors_is_digit(*p) || (cors_lower(*p) >= 'a' && cors_lower(*p) <= 'f') ||
		    *p == ':' || *p == '.')
			p++;
		if (*p != ']' || memchr(host, ':', (size_t)(p - host)) == NULL) {
			*why = "its IPv6 address is malformed";
			return -1;
		}
		host_end = ++p;
	} else {
		while (cors_is_alpha(*p) || cors_is_digit(*p) || *p == '.' || *p == '-')
			p++;
		host_end = p;
		if (host_end == host) {
			*why = "it names no host";
			return -1;
		}
	}
	if (*p == ':') {
		const char *digits = ++p;

		while (cors_is_digit(*p) && port <= 65535)
			port = port * 10 + (unsigned long)(*p++ - '0');
		if (p == digits || port == 0 || port > 65535 || cors_is_digit(*p)) {
			*why = "its port is not a number from 1 to 65535";
			return -1;
		}
		has_port = 1;
	}
	if (*p != '\0') {
		*why = "it has more than scheme://host[:port] (a path, even \"/\", user info, "
		    "a query or a character no host name has)";
		return -1;
	}
	for (p = s; p < host_end; p++)
		out[n++] = cors_lower(*p);
	out[n] = '\0';
	if (has_port && !((scheme_end - s == 5 && strncmp(out, "https", 5) == 0 && port == 443) ||
	    (scheme_end - s == 4 && strncmp(out, "http", 4) == 0 && port == 80))) {
		char digits[8];
		size_t d = 0;

		do {
			digits[d++] = (char)('0' + port % 10);
			port /= 10;
		} while (port != 0);
		out[n++] = ':';
		while (d > 0)
			out[n++] = digits[--d];
		out[n] = '\0';
	}
	return 0;
}

int cors_match(const char *const *origins, size_t origin_count, unsigned header_count,
    const char *value, size_t len)
{
	if (header_count != 1 || len == 0)
		return -1;
	for (size_t i = 0; i < origin_count; i++) {
		if (strcmp(origins[i], "*") == 0 ||
		    (strlen(origins[i]) == len && memcmp(origins[i], value, len) == 0))
			return (int)i;
	}
	return -1;
}
