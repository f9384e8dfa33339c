/*
 * url.h — where a server is: the scheme, host and port of an http(s) URL.
 *
 * Only the origin is parsed; what follows the port (path, query, fragment)
 * is handed back to the caller, which alone knows what it may hold.
 */
#ifndef LIB_URL_H
#define LIB_URL_H

#include <stdint.h>

struct url {
	int tls;                        /* https, or http */
	char host[256];                 /* as written, without brackets */
	uint16_t port;                  /* given, or 443 / 80 */
};

/* "https://host[:port]…", "http://[::1]:8080/…": 0 and *rest at what follows
 * the port (nothing, or a path, query or fragment), or -1 and why (a phrase
 * such as "it names no host"). */
int url_parse(const char *s, struct url *out, const char **rest, const char **why);

#endif
