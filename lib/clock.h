/*
 * clock.h — the time, read once per turn of an event loop.
 *
 * Two clocks, each for its own job. The monotonic one never steps, so
 * timeouts and rate limits use it: a wall clock set back an hour must not
 * grant a client a fresh burst, nor one set forward take it away. The wall
 * clock (Unix seconds) is for what people and other machines see: when a
 * mailbox expires, the Date header.
 *
 * Everything that happens in one turn sees the same instant, as if it took
 * no time; clock_update starts the next turn. A test can move both clocks
 * ahead (clock_set_offset_ms) instead of sleeping.
 */
#ifndef LIB_CLOCK_H
#define LIB_CLOCK_H

#include <stdint.h>

struct clock {
	int64_t mono_ms;        /* CLOCK_MONOTONIC at the last update, plus offset_ms */
	int64_t wall_ms;        /* CLOCK_REALTIME then, plus offset_ms */
	int64_t offset_ms;      /* 0 but in tests */
};

/* Offset 0, and read both clocks. */
void clock_init(struct clock *c);
/* Read both clocks again: a new turn. */
void clock_update(struct clock *c);
/* Milliseconds on the monotonic clock (from an arbitrary start). */
int64_t clock_mono_ms(const struct clock *c);
/* Unix seconds. */
int64_t clock_wall_s(const struct clock *c);
/* Tests only: from now on both clocks read offset_ms ahead of the real
 * ones (not cumulative: each call replaces the last offset). */
void clock_set_offset_ms(struct clock *c, int64_t offset_ms);

/* The monotonic clock now, uncached, for code without a loop that waits
 * for a deadline (the device client). */
int64_t clock_mono_now_ms(void);

#endif
