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
 *
 * The wall clock's text forms are here too: RFC 3339 instants (expiration)
 * and the HTTP Date header's IMF-fixdate, by libc's timegm and gmtime_r.
 */
#ifndef LIB_CLOCK_H
#define LIB_CLOCK_H

#include <stddef.h>
#include <stdint.h>
#include <sys/time.h>

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
/* The same in microseconds, for what takes less than a loop turn: how long
 * one request took, for the metrics and the access log. */
int64_t clock_mono_now_us(void);

/* A timer's duration: seconds divided by speedup, which is 0 or 1 (real
 * time) but in tests (RELAY_TEST_SPEEDUP shortens the relay's own waits). */
struct timeval clock_timer(int64_t seconds, unsigned speedup);

/* The two forms wall-clock time takes on the wire, in UTC. */
#define CLOCK_RFC3339_LEN 20    /* "2030-01-01T00:00:00Z" */
#define CLOCK_HTTP_DATE_LEN 29  /* "Sun, 06 Nov 1994 08:49:37 GMT" (IMF-fixdate) */

/* Exactly YYYY-MM-DDThh:mm:ssZ (UTC, no fractions or offsets), a real date.
 * 0 and Unix seconds, or -1. */
int clock_parse_rfc3339(const char *s, size_t len, int64_t *out);
/* NUL-terminated; years outside 0000 to 9999 are clamped to them. */
void clock_format_rfc3339(int64_t t, char out[CLOCK_RFC3339_LEN + 1]);
/* An IMF-fixdate for the Date header (RFC 9110 section 5.6.7),
 * NUL-terminated; years clamped as above. */
void clock_format_http_date(int64_t t, char out[CLOCK_HTTP_DATE_LEN + 1]);

#endif
