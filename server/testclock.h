/*
 * testclock.h — tests only: moving the running relay's clocks ahead.
 *
 * RELAY_TEST_CLOCK=FILE names a file holding a whole number of
 * milliseconds: how far both clocks (lib/clock.h) run ahead of the real
 * ones. The relay reads it at start and again on each SIGUSR2, so that an
 * integration test can let an hour pass in an instant instead of sleeping.
 * Without the variable nothing here is armed: SIGUSR2 keeps its default
 * disposition, and no file is read. It is never reachable from the
 * network: only whoever can write the file and signal the process moves
 * the clock, and they could stop the process as well.
 *
 * The offset only grows: the monotonic clock must never step back (a rate
 * limit would withhold tokens for as long), so a smaller number is refused.
 * What the relay judges by its clocks (expiry, rate limits, long-poll
 * deadlines) follows a move at once; its timers of a fixed length
 * (connection timeouts, push retries, snapshots) stay real time, which
 * RELAY_TEST_SPEEDUP shortens instead.
 */
#ifndef SERVER_TESTCLOCK_H
#define SERVER_TESTCLOCK_H

#include <stddef.h>
#include <stdint.h>

#define TESTCLOCK_ENV "RELAY_TEST_CLOCK"
/* Ten years: far beyond any test, and no sum with it can overflow or
 * leave the four-digit years. */
#define TESTCLOCK_MAX_MS (10LL * 366 * 24 * 3600 * 1000)

struct testclock {
	const char *path;       /* RELAY_TEST_CLOCK, or NULL: off */
	int64_t offset_ms;      /* as last read */
};

/* Off (path NULL) without RELAY_TEST_CLOCK; otherwise the offset its file
 * holds. 0, or -1 with a one-line reason in err. */
int testclock_init(struct testclock *tc, char *err, size_t err_len);
/* Read the file again: 0 and the new offset in tc->offset_ms, or -1 with a
 * one-line reason in err and the offset as it was. */
int testclock_reread(struct testclock *tc, char *err, size_t err_len);

#endif
