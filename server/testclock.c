/*
 * testclock.c — reading RELAY_TEST_CLOCK's file.
 *
 * It runs in the event loop, so a FIFO or a device named by the variable is
 * refused before anything is read: it could block the loop for ever.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/parse.h"
#include "server/testclock.h"

/* "3600000" or "3600000\n": room for any number up to the maximum. */
#define TESTCLOCK_TEXT_MAX 24

/* 0 and the offset the file holds, or -1 with the reason in err. */
static int testclock_read(const char *path, int64_t *offset_ms, char *err, size_t err_len)
{
	char text[TESTCLOCK_TEXT_MAX + 1];
	struct stat st;
	uint64_t ms;
	ssize_t n;
	int fd, too_long;

	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0) {
		snprintf(err, err_len, "%s: cannot open %s: %s", TESTCLOCK_ENV, path,
		    strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "%s: %s is not a regular file", TESTCLOCK_ENV, path);
		goto fail;
	}
	n = read(fd, text, TESTCLOCK_TEXT_MAX);
	if (n < 0) {
		snprintf(err, err_len, "%s: cannot read %s: %s", TESTCLOCK_ENV, path,
		    strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;
	/* Far more than the longest number: a file that fills it is too long. */
	too_long = n == TESTCLOCK_TEXT_MAX;
	text[n] = '\0';
	if (n > 0 && text[n - 1] == '\n')
		text[--n] = '\0';
	if (too_long || memchr(text, '\0', (size_t)n) != NULL || parse_number(text, &ms) != 0 ||
	    ms > (uint64_t)TESTCLOCK_MAX_MS) {
		snprintf(err, err_len, "%s: %s must hold a whole number of milliseconds from 0 "
		    "to %lld", TESTCLOCK_ENV, path, (long long)TESTCLOCK_MAX_MS);
		return -1;
	}
	*offset_ms = (int64_t)ms;
	return 0;
fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

int testclock_init(struct testclock *tc, char *err, size_t err_len)
{
	memset(tc, 0, sizeof(*tc));
	tc->path = getenv(TESTCLOCK_ENV);
	if (tc->path == NULL)
		return 0;
	if (tc->path[0] == '\0') {
		snprintf(err, err_len, "%s must name a file", TESTCLOCK_ENV);
		return -1;
	}
	return testclock_read(tc->path, &tc->offset_ms, err, err_len);
}

int testclock_reread(struct testclock *tc, char *err, size_t err_len)
{
	int64_t ms;

	if (testclock_read(tc->path, &ms, err, err_len) != 0)
		return -1;
	if (ms < tc->offset_ms) {
		snprintf(err, err_len, "%s: %lld ms is behind the %lld ms the clocks are ahead "
		    "already; they never go back", TESTCLOCK_ENV, (long long)ms,
		    (long long)tc->offset_ms);
		return -1;
	}
	tc->offset_ms = ms;
	return 0;
}
