/*
 * parse.h — the number forms people type: plain counts, durations, sizes.
 *
 * Each parser takes the whole string or nothing: no sign, no space, no
 * other base, and a value that does not fit is refused, never wrapped.
 * Scripts rely on the forms: durations take 90, 90s, 15m, 24h, 7d; sizes
 * take 65536, 64k, 8m, 1g.
 */
#ifndef LIB_PARSE_H
#define LIB_PARSE_H

#include <stddef.h>
#include <stdint.h>

/* "0" … "18446744073709551615": 0 and the number, or -1. */
int parse_number(const char *s, uint64_t *out);
/* "90", "90s", "15m", "24h", "7d" (at most INT32_MAX seconds): 0 and
 * seconds, or -1. */
int parse_duration(const char *s, int64_t *seconds);
/* "65536", "64k", "8m", "1g" (or K, M, G): 0 and bytes, or -1. */
int parse_size(const char *s, size_t *bytes);

#endif
