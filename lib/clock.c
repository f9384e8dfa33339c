/*
 * clock.c — cached monotonic and wall clocks, with a test offset.
 */
#include <time.h>

#include "lib/clock.h"

static int64_t clock_read_ms(clockid_t id)
{
	struct timespec ts;

	clock_gettime(id, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void clock_init(struct clock *c)
{
	c->offset_ms = 0;
	clock_update(c);
}

void clock_update(struct clock *c)
{
	c->mono_ms = clock_read_ms(CLOCK_MONOTONIC) + c->offset_ms;
	c->wall_ms = clock_read_ms(CLOCK_REALTIME) + c->offset_ms;
}

int64_t clock_mono_ms(const struct clock *c)
{
	return c->mono_ms;
}

int64_t clock_wall_s(const struct clock *c)
{
	/* Rounded down, before 1970 too (never the case, but exact). */
	return c->wall_ms >= 0 ? c->wall_ms / 1000 : (c->wall_ms - 999) / 1000;
}

void clock_set_offset_ms(struct clock *c, int64_t offset_ms)
{
	c->mono_ms += offset_ms - c->offset_ms;
	c->wall_ms += offset_ms - c->offset_ms;
	c->offset_ms = offset_ms;
}

int64_t clock_mono_now_ms(void)
{
	return clock_read_ms(CLOCK_MONOTONIC);
}
