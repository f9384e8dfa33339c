/*
 * test_clock.c — the cached clock: one instant per turn, a monotonic side
 * that never goes back, and the test offset that moves both sides at once.
 */
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "lib/clock.h"
#include "test/unit/check.h"

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

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_cached_until_update);
	CHECK_RUN(test_offset);
	CHECK_RUN(test_wall_seconds_round_down);
	return CHECK_SUMMARY();
}
