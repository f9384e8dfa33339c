/*
 * test_parse.c — counts, durations and sizes as the command lines take them.
 *
 * Scripts depend on the exact forms, and a value one past the largest must be
 * refused rather than wrap round to a small one.
 */
#include <stdint.h>
#include <stdio.h>

#include "lib/parse.h"
#include "test/unit/check.h"

static void test_numbers(void)
{
	static const struct {
		const char *text;
		uint64_t value;
	} good[] = {
		{ "0", 0 }, { "1", 1 }, { "007", 7 }, { "65535", 65535 },
		{ "18446744073709551615", UINT64_MAX },
	};
	static const char *bad[] = {
		"", "x", "-1", "+1", " 1", "1 ", "1k", "1s", "0x10", "1.0",
		"18446744073709551616", "99999999999999999999",
	};
	uint64_t v;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		v = 1234;
		CHECK_EQ_INT(parse_number(good[i].text, &v), 0);
		CHECK(v == good[i].value);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		v = 7;
		r = parse_number(bad[i], &v);
		if (r != -1)
			printf("    accepted number \"%s\"\n", bad[i]);
		CHECK_EQ_INT(r, -1);
		CHECK(v == 7);
	}
}

static void test_durations(void)
{
	static const struct {
		const char *text;
		int64_t seconds;
	} good[] = {
		{ "90", 90 }, { "90s", 90 }, { "15m", 900 }, { "24h", 86400 }, { "7d", 604800 },
		{ "0", 0 }, { "1", 1 }, { "007s", 7 }, { "24855d", 2147472000 },
		{ "2147483647", 2147483647 },
	};
	static const char *bad[] = {
		"", "x", "10x", "-1", "1.5h", "+5", " 5", "5 ", "5ss", "s", "h", "5S", "5H",
		"1w", "0x10", "5 s", "99999999999999999999999", "18446744073709551616",
		"2147483648", "24856d", "35791395m", "596524h",
	};
	int64_t seconds;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		seconds = -1;
		CHECK_EQ_INT(parse_duration(good[i].text, &seconds), 0);
		CHECK_EQ_INT(seconds, good[i].seconds);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		seconds = -7;
		r = parse_duration(bad[i], &seconds);
		if (r != -1)
			printf("    accepted duration \"%s\"\n", bad[i]);
		CHECK_EQ_INT(r, -1);
		CHECK_EQ_INT(seconds, -7);
	}
}

static void test_sizes(void)
{
	static const struct {
		const char *text;
		uint64_t bytes;
	} good[] = {
		{ "65536", 65536 }, { "64k", 65536 }, { "64K", 65536 }, { "8m", 8 << 20 },
		{ "8M", 8 << 20 }, { "1g", 1ULL << 30 }, { "1G", 1ULL << 30 }, { "0", 0 },
		{ "512m", 512ULL << 20 }, { "16g", 16ULL << 30 },
		/* The largest of each form, exactly (on a 64-bit size_t). */
		{ "18446744073709551615", UINT64_MAX }, { "18446744073709551609", UINT64_MAX - 6 },
		{ "17179869183g", 17179869183ULL << 30 },
	};
	static const char *bad[] = {
		"64kb", "", "-1", "1.5m", "k", "1t", "64 k", " 64k", "64k ", "64KB", "0x40",
		"99999999999999999999", "17179869184g", "18014398509481984m", "+1",
		"18446744073709551616", "18446744073709551620", "184467440737095516150",
		"18014398509481984k",
	};
	size_t bytes;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		bytes = 1;
		CHECK_EQ_INT(parse_size(good[i].text, &bytes), 0);
		CHECK(bytes == good[i].bytes);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r;

		bytes = 7;
		r = parse_size(bad[i], &bytes);
		if (r != -1)
			printf("    accepted size \"%s\"\n", bad[i]);
		CHECK_EQ_INT(r, -1);
		CHECK_EQ_INT(bytes, 7);
	}
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_numbers);
	CHECK_RUN(test_durations);
	CHECK_RUN(test_sizes);
	return CHECK_SUMMARY();
}
