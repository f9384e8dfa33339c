/*
 * test_clock.c — the cached clock: one instant per turn, a monotonic side
 * that never goes back, and the test offset that moves both sides at once;
 * and the text forms of wall-clock time, strict one way and exact the other.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "test/unit/check.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void test_cached_until_update(void)
{
	struct clock c;
	int64_t mono, wall;
	struct timespec pause = { 0, 20 * 1000 * 1000 };

	clock_init(&c);
	mono = clock_mono_ms(&c);
	wall = clock_wall_s(&c);
	CHECK(wall > 1700000000);
	CHECK(wall - (int64_t)time(NULL) <= 1 && (int64_t)time(NULL) - wall <= 1);
	nanosleep(&pause, NULL);
	/* The same turn: the same instant, however long it took. */
	CHECK_EQ_INT(clock_mono_ms(&c), mono);
	CHECK_EQ_INT(clock_wall_s(&c), wall);
	clock_update(&c);
	CHECK(clock_mono_ms(&c) >= mono + 20);
	CHECK(clock_mono_ms(&c) <= clock_mono_now_ms());
}

static void test_offset(void)
{
	struct clock c;
	int64_t mono, wall;

	clock_init(&c);
	mono = clock_mono_ms(&c);
	wall = clock_wall_s(&c);
	clock_set_offset_ms(&c, 3600 * 1000);
	/* At once, without waiting for the next turn. */
	CHECK_EQ_INT(clock_mono_ms(&c), mono + 3600 * 1000);
	CHECK_EQ_INT(clock_wall_s(&c), wall + 3600);
	clock_update(&c);
	CHECK(clock_mono_ms(&c) >= mono + 3600 * 1000);
	CHECK(clock_mono_ms(&c) < mono + 3600 * 1000 + 10000);
	CHECK(clock_wall_s(&c) >= wall + 3600 && clock_wall_s(&c) <= wall + 3610);
	/* Not cumulative: a new offset replaces the last one. */
	clock_set_offset_ms(&c, 1000);
	clock_update(&c);
	CHECK(clock_mono_ms(&c) >= mono + 1000 && clock_mono_ms(&c) < mono + 11000);
	clock_set_offset_ms(&c, 0);
	clock_update(&c);
	CHECK(clock_mono_ms(&c) <= clock_mono_now_ms());
}

/* Wall seconds round down, so a millisecond before a second is the
 * second before. */
static void test_wall_seconds_round_down(void)
{
	struct clock c = { 0, 0, 0 };

	c.wall_ms = 1999;
	CHECK_EQ_INT(clock_wall_s(&c), 1);
	c.wall_ms = -1;
	CHECK_EQ_INT(clock_wall_s(&c), -1);
	c.wall_ms = -1000;
	CHECK_EQ_INT(clock_wall_s(&c), -1);
	c.wall_ms = -1001;
	CHECK_EQ_INT(clock_wall_s(&c), -2);
}

/* Real time unless a test speeds the relay up, and then to the microsecond. */
static void test_timer(void)
{
	struct timeval tv;

	tv = clock_timer(10, 0);
	CHECK_EQ_INT(tv.tv_sec, 10);
	CHECK_EQ_INT(tv.tv_usec, 0);
	tv = clock_timer(10, 1);
	CHECK_EQ_INT(tv.tv_sec, 10);
	CHECK_EQ_INT(tv.tv_usec, 0);
	tv = clock_timer(10, 4);
	CHECK_EQ_INT(tv.tv_sec, 2);
	CHECK_EQ_INT(tv.tv_usec, 500000);
	tv = clock_timer(1, 3);
	CHECK_EQ_INT(tv.tv_sec, 0);
	CHECK_EQ_INT(tv.tv_usec, 333333);
}

/* ---- RFC 3339 ---- */

static void test_rfc3339_known(void)
{
	int64_t t = -1;

	CHECK_EQ_INT(clock_parse_rfc3339(S("1970-01-01T00:00:00Z"), &t), 0);
	CHECK_EQ_INT(t, 0);
	CHECK_EQ_INT(clock_parse_rfc3339(S("2000-03-01T00:00:00Z"), &t), 0);
	CHECK_EQ_INT(t, 951868800);
	CHECK_EQ_INT(clock_parse_rfc3339(S("2038-01-19T03:14:08Z"), &t), 0);
	CHECK_EQ_INT(t, 2147483648LL);
	CHECK_EQ_INT(clock_parse_rfc3339(S("2038-01-19T03:14:07Z"), &t), 0);
	CHECK_EQ_INT(t, 2147483647LL);
	CHECK_EQ_INT(clock_parse_rfc3339(S("2000-02-29T12:00:00Z"), &t), 0);
	CHECK_EQ_INT(t, 951825600);
	CHECK_EQ_INT(clock_parse_rfc3339(S("2028-02-29T00:00:00Z"), &t), 0);
	CHECK_EQ_INT(t, 1835395200);
	CHECK_EQ_INT(clock_parse_rfc3339(S("2023-11-14T22:13:20Z"), &t), 0);
	CHECK_EQ_INT(t, 1700000000);
	CHECK_EQ_INT(clock_parse_rfc3339(S("1969-12-31T23:59:59Z"), &t), 0);
	CHECK_EQ_INT(t, -1);
	CHECK_EQ_INT(clock_parse_rfc3339(S("9999-12-31T23:59:59Z"), &t), 0);
	CHECK_EQ_INT(t, 253402300799LL);
	CHECK_EQ_INT(clock_parse_rfc3339(S("2024-12-31T23:59:59Z"), &t), 0);
	CHECK_EQ_INT(t, 1735689599);
}

static void test_rfc3339_rejects(void)
{
	static const char *bad[] = {
		"2030-01-01T00:00:00+00:00",
		"2030-01-01T00:00:00+0000",
		"2030-01-01T00:00:00.0Z",
		"2030-01-01T00:00:00.123Z",
		"2030-01-01t00:00:00Z",
		"2030-01-01T00:00:00z",
		"2030-01-01 00:00:00Z",
		"2030-01-01",
		"2030-01-01T00:00Z",
		"2030-01-01T00:00:00",
		"2030-01-01T24:00:00Z",
		"2030-01-01T23:60:00Z",
		"2030-01-01T23:59:60Z",
		"2030-13-01T00:00:00Z",
		"2030-00-01T00:00:00Z",
		"2030-01-00T00:00:00Z",
		"2030-01-32T00:00:00Z",
		"2030-04-31T00:00:00Z",
		"2027-02-29T00:00:00Z",
		"2100-02-29T00:00:00Z",     /* not a leap year */
		"1900-02-29T00:00:00Z",
		"2030-02-30T00:00:00Z",
		"+030-01-01T00:00:00Z",
		"20300-01-01T00:00:00Z",
		"2030-1-01T00:00:00Z",
		"2030-01-01T0:00:00Z",
		"2030/01/01T00:00:00Z",
		"2030-01-01T00-00-00Z",
		"203a-01-01T00:00:00Z",
		"2030-01-01T00:00:0 Z",
		"1893456000",
		"",
	};
	int64_t t = 99;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = clock_parse_rfc3339(bad[i], strlen(bad[i]), &t);

		if (r != -1)
			printf("    accepted time \"%s\"\n", bad[i]);
		CHECK_EQ_INT(r, -1);
	}
	CHECK_EQ_INT(t, 99);
	/* 2000 is a leap year (divisible by 400). */
	CHECK_EQ_INT(clock_parse_rfc3339(S("2000-02-29T00:00:00Z"), &t), 0);
	CHECK_EQ_INT(clock_parse_rfc3339(S("2024-02-29T00:00:00Z"), &t), 0);
}

static void test_rfc3339_round_trip(void)
{
	char text[CLOCK_RFC3339_LEN + 1];
	int64_t back;
	int bad = 0;

	clock_format_rfc3339(0, text);
	CHECK_EQ_STR(text, "1970-01-01T00:00:00Z");
	clock_format_rfc3339(951868800, text);
	CHECK_EQ_STR(text, "2000-03-01T00:00:00Z");
	clock_format_rfc3339(2147483648LL, text);
	CHECK_EQ_STR(text, "2038-01-19T03:14:08Z");
	clock_format_rfc3339(1835395200, text);
	CHECK_EQ_STR(text, "2028-02-29T00:00:00Z");
	clock_format_rfc3339(-1, text);
	CHECK_EQ_STR(text, "1969-12-31T23:59:59Z");
	/* Every day from 1900 to 2200 at a varying time of day, and every
	 * second of a day around a leap day. */
	for (int64_t t = -2208988800LL; t < 7258118400LL; t += 86400 + 7) {
		clock_format_rfc3339(t, text);
		if (strlen(text) != CLOCK_RFC3339_LEN || clock_parse_rfc3339(text, CLOCK_RFC3339_LEN, &back) != 0 ||
		    back != t) {
			if (bad++ < 5)
				printf("    round trip of %lld gave \"%s\"\n", (long long)t, text);
		}
	}
	for (int64_t t = 951782400 - 3600; t < 951868800 + 3600; t++) {
		clock_format_rfc3339(t, text);
		if (clock_parse_rfc3339(text, CLOCK_RFC3339_LEN, &back) != 0 || back != t) {
			if (bad++ < 5)
				printf("    round trip of %lld gave \"%s\"\n", (long long)t, text);
		}
	}
	CHECK_EQ_INT(bad, 0);
}

/* ---- IMF-fixdate ---- */

static void test_http_date(void)
{
	static const struct {
		int64_t t;
		const char *text;
	} known[] = {
		{ 784111777, "Sun, 06 Nov 1994 08:49:37 GMT" },     /* RFC 9110's example */
		{ 0, "Thu, 01 Jan 1970 00:00:00 GMT" },
		{ -1, "Wed, 31 Dec 1969 23:59:59 GMT" },
		{ 1700000000, "Tue, 14 Nov 2023 22:13:20 GMT" },
		{ 951782400, "Tue, 29 Feb 2000 00:00:00 GMT" },
		{ 2147483648LL, "Tue, 19 Jan 2038 03:14:08 GMT" },
		{ 253402300799LL, "Fri, 31 Dec 9999 23:59:59 GMT" },
	};
	char text[CLOCK_HTTP_DATE_LEN + 1];

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
		clock_format_http_date(known[i].t, text);
		CHECK_EQ_STR(text, known[i].text);
	}
	/* Every day of a leap year has the length the header needs. */
	for (int64_t t = 951782400 - 60 * 86400; t < 951782400 + 320 * 86400; t += 86400 + 13) {
		clock_format_http_date(t, text);
		CHECK_EQ_INT(strlen(text), CLOCK_HTTP_DATE_LEN);
	}
}

/* Past the years of four digits, the text stays in its form. */
static void test_clamped_years(void)
{
	char text[CLOCK_HTTP_DATE_LEN + 1];

	clock_format_rfc3339(INT64_MAX, text);
	CHECK_EQ_STR(text, "9999-12-31T23:59:59Z");
	clock_format_rfc3339(INT64_MIN, text);
	CHECK_EQ_STR(text, "0000-01-01T00:00:00Z");
	clock_format_http_date(INT64_MAX, text);
	CHECK_EQ_STR(text, "Fri, 31 Dec 9999 23:59:59 GMT");
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_cached_until_update);
	CHECK_RUN(test_offset);
	CHECK_RUN(test_wall_seconds_round_down);
	CHECK_RUN(test_timer);
	CHECK_RUN(test_rfc3339_known);
	CHECK_RUN(test_rfc3339_rejects);
	CHECK_RUN(test_rfc3339_round_trip);
	CHECK_RUN(test_http_date);
	CHECK_RUN(test_clamped_years);
	return CHECK_SUMMARY();
}
