/*
 * clock.c — cached monotonic and wall clocks, with a test offset, and the
 * text forms of wall-clock time.
 */
#include <stdio.h>
#include <string.h>
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

int64_t clock_mono_now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

struct timeval clock_timer(int64_t seconds, unsigned speedup)
{
	int64_t us = seconds * 1000000 / (speedup > 1 ? speedup : 1);
	struct timeval tv = { (time_t)(us / 1000000), (suseconds_t)(us % 1000000) };

	return tv;
}

/* 0000-01-01T00:00:00Z and 9999-12-31T23:59:59Z: the years of four digits. */
#define CLOCK_FIRST (-62167219200LL)
#define CLOCK_LAST 253402300799LL

static int clock_digits(const char *s, size_t n, int *out)
{
	int v = 0;

	for (size_t i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int clock_parse_rfc3339(const char *s, size_t len, int64_t *out)
{
	struct tm tm, back;
	int year, month, day, hour, minute, second;
	time_t t;

	if (len != CLOCK_RFC3339_LEN || s[4] != '-' || s[7] != '-' || s[10] != 'T' ||
	    s[13] != ':' || s[16] != ':' || s[19] != 'Z')
		return -1;
	if (clock_digits(s, 4, &year) || clock_digits(s + 5, 2, &month) ||
	    clock_digits(s + 8, 2, &day) || clock_digits(s + 11, 2, &hour) ||
	    clock_digits(s + 14, 2, &minute) || clock_digits(s + 17, 2, &second))
		return -1;
	if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = year - 1900;
	tm.tm_mon = month - 1;
	tm.tm_mday = day;
	tm.tm_hour = hour;
	tm.tm_min = minute;
	tm.tm_sec = second;
	t = timegm(&tm);
	/* timegm turns 31 April into 1 May: only a real date comes back as it
	 * went in. (Its -1 for an error is also 1969-12-31T23:59:59Z, which
	 * this tells apart.) */
	if (gmtime_r(&t, &back) == NULL || back.tm_year != year - 1900 ||
	    back.tm_mon != month - 1 || back.tm_mday != day)
		return -1;
	*out = (int64_t)t;
	return 0;
}

/* t in UTC, within the years of four digits. */
static void clock_utc(int64_t t, struct tm *tm)
{
	time_t when = (time_t)(t < CLOCK_FIRST ? CLOCK_FIRST : t > CLOCK_LAST ? CLOCK_LAST : t);

	gmtime_r(&when, tm);
}

/* A field of a clamped time, already below limit: the compiler learns from
 * the modulo that the text has its fixed width. */
static unsigned clock_field(int value, unsigned limit)
{
	return (unsigned)value % limit;
}

void clock_format_rfc3339(int64_t t, char out[CLOCK_RFC3339_LEN + 1])
{
	struct tm tm;

	/* snprintf, not strftime: %Y does not pad years before 1000. */
	clock_utc(t, &tm);
	snprintf(out, CLOCK_RFC3339_LEN + 1, "%04u-%02u-%02uT%02u:%02u:%02uZ",
	    clock_field(tm.tm_year + 1900, 10000), clock_field(tm.tm_mon + 1, 100),
	    clock_field(tm.tm_mday, 100), clock_field(tm.tm_hour, 100),
	    clock_field(tm.tm_min, 100), clock_field(tm.tm_sec, 100));
}

void clock_format_http_date(int64_t t, char out[CLOCK_HTTP_DATE_LEN + 1])
{
	/* Names from tables, not strftime's %a and %b: those follow the
	 * locale, and the header is English whatever the process's. */
	static const char days[7][4] = { "Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat" };
	static const char months[12][4] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul",
	    "Aug", "Sep", "Oct", "Nov", "Dec" };
	struct tm tm;

	clock_utc(t, &tm);
	snprintf(out, CLOCK_HTTP_DATE_LEN + 1, "%s, %02u %s %04u %02u:%02u:%02u GMT",
	    days[clock_field(tm.tm_wday, 7)], clock_field(tm.tm_mday, 100),
	    months[clock_field(tm.tm_mon, 12)], clock_field(tm.tm_year + 1900, 10000),
	    clock_field(tm.tm_hour, 100), clock_field(tm.tm_min, 100),
	    clock_field(tm.tm_sec, 100));
}
