/*
 * url.c — the origin of an http(s) URL, without resolving or normalising it.
 */
#include <string.h>

#include "lib/url.h"

/* What a DNS name or an IPv4 address is made of (letters, digits, "-", "."
 * and, as resolvers allow, "_"), or an IPv6 address (hex digits, ":" and
 * the "." of a trailing IPv4 part). Nothing else may reach a resolver, a
 * Host header or a certificate check. */
static int url_host_char(char c, int ipv6)
{
	if ((c >= '0' && c <= '9') || c == '.' || (ipv6 && c == ':'))
		return 1;
	if (ipv6)
		return (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-' || c == '_';
}

int url_parse(const char *s, struct url *out, const char **rest, const char **why)
{
	const char *p, *host, *host_end;
	unsigned long port;
	int ipv6 = 0;

	memset(out, 0, sizeof(*out));
	if (strncmp(s, "https://", 8) == 0) {
		out->tls = 1;
		p = s + 8;
	} else if (strncmp(s, "http://", 7) == 0) {
		p = s + 7;
	} else {
		*why = "it does not start with https:// or http://";
		return -1;
	}
	host = p;
	if (*p == '[') {
		ipv6 = 1;
		host = ++p;
		while (*p && *p != ']')
			p++;
		if (*p != ']') {
			*why = "its IPv6 address has no closing ]";
			return -1;
		}
		host_end = p++;
	} else {
		while (*p && *p != ':' && *p != '/' && *p != '?' && *p != '#')
			p++;
		host_end = p;
	}
	if (host_end == host) {
		*why = "it names no host";
		return -1;
	}
	if ((size_t)(host_end - host) >= sizeof(out->host)) {
		*why = "its host name is longer than 255 characters";
		return -1;
	}
	for (const char *q = host; q < host_end; q++) {
		if (url_host_char(*q, ipv6))
			continue;
		if (*q == '@')
			*why = "it holds a user name, which is not taken";
		else if (ipv6)
			*why = "its IPv6 address holds a character no address has";
		else
			*why = "its host name holds a character no host name has";
		return -1;
	}
	memcpy(out->host, host, (size_t)(host_end - host));
	port = out->tls ? 443 : 80;
	if (*p == ':') {
		const char *digits = ++p;

		port = 0;
		while (*p >= '0' && *p <= '9' && port <= 65535)
			port = port * 10 + (unsigned long)(*p++ - '0');
		if (p == digits || port == 0 || port > 65535 || (*p >= '0' && *p <= '9')) {
			*why = "its port is not a number from 1 to 65535";
			return -1;
		}
	}
	/* What follows the origin starts a path, query or fragment, or
	 * nothing: "https://[::1]x" or "https://h:80x" name no origin. */
	if (*p != '\0' && *p != '/' && *p != '?' && *p != '#') {
		*why = *(p - 1) == ']' ? "something follows its IPv6 address's ]" :
		    "its port is not a number from 1 to 65535";
		return -1;
	}
	out->port = (uint16_t)port;
	*rest = p;
	return 0;
}
