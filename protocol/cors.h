/*
 * cors.h — which browser origins may call the API (spec 4.7, v1.1: opt-in
 * CORS with --cors-origin).
 *
 * An origin is compared byte for byte with the request's Origin header, as
 * browsers compare Access-Control-Allow-Origin with their own origin; so a
 * configured origin is first brought to the form browsers send (lower-case
 * scheme and host, no default port). Nothing here ever allows credentials.
 */
#ifndef PROTOCOL_CORS_H
#define PROTOCOL_CORS_H

#include <stddef.h>

#define CORS_MAX_ORIGINS 32
#define CORS_ORIGIN_MAX 255     /* characters of a configured origin */

/* "*", or scheme://host[:port] with nothing after it (no path, not even
 * "/", no user info, query or fragment; "null" is no origin one can name).
 * 0 and the form browsers send, NUL-terminated, in out (CORS_ORIGIN_MAX + 1
 * bytes): scheme and host in lower case, the port without leading zeros and
 * dropped when it is the scheme's default (http 80, https 443). -1 and why
 * (a phrase) otherwise. */
int cors_normalize_origin(const char *s, char out[CORS_ORIGIN_MAX + 1], const char **why);

/* The configured origin that an Origin header sent count times with this
 * value matches: the index of that origin (of "*" for any non-empty one),
 * or -1. An Origin sent twice matches nothing. */
int cors_match(const char *const *origins, size_t origin_count, unsigned header_count,
    const char *value, size_t len);

#endif
