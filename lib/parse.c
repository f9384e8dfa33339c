/*
 * parse.c — counts, durations and sizes, exact to the last digit.
 */
#include <stdint.h>
#include <string.h>

#include "lib/parse.h"

/* Digits then one optional unit from units (with its multipliers). */
static int parse_scaled(const char *s, const char *units, const uint64_t *multipliers,
    uint64_t *out)
{
	uint64_t value = 0, multiplier = 1;
	const char *p = s;

	if (*p < '0' || *p > '9')
		return -1;
	for (; *p >= '0' && *p <= '9'; p++) {
		uint64_t digit = (uint64_t)(*p - '0');

		/* Exact: every number up to UINT64_MAX is taken, none beyond. */
		if (value > (UINT64_MAX - digit) / 10)
			return -1;
		value = value * 10 + digit;
	}
	if (*p != '\0') {
		const char *unit = strchr(units, *p);

		if (unit == NULL || p[1] != '\0')
			return -1;
		multiplier = multipliers[unit - units];
	}
	if (multiplier != 0 && value > UINT64_MAX / multiplier)
		return -1;
	*out = value * multiplier;
	return 0;
}

int parse_number(const char *s, uint64_t *out)
{
	return parse_scaled(s, "", NULL, out);
}

int parse_duration(const char *s, int64_t *seconds)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };
	uint64_t v;

	if (parse_scaled(s, "smhd", mult, &v) != 0 || v > (uint64_t)INT32_MAX)
		return -1;
	*seconds = (int64_t)v;
	return 0;
}

int parse_size(const char *s, size_t *bytes)
{
	static const uint64_t mult[] = { 1024, 1024, 1ULL << 20, 1ULL << 20,
	    1ULL << 30, 1ULL << 30 };
	uint64_t v;

	if (parse_scaled(s, "kKmMgG", mult, &v) != 0 || v > SIZE_MAX)
		return -1;
	*bytes = (size_t)v;
	return 0;
}
