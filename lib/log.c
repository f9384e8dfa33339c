/*
 * log.c — timestamped lines on stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "lib/clock.h"
#include "lib/log.h"

static const char *const log_names[] = { "error", "warn", "info", "debug" };

int log_parse_level(const char *name, enum log_level *out)
{
	for (int i = 0; i <= LOG_DEBUG; i++) {
		if (strcmp(name, log_names[i]) == 0) {
			*out = (enum log_level)i;
			return 0;
		}
	}
	return -1;
}

void log_at(const struct log *log, enum log_level level, const char *fmt, ...)
{
	char line[1024];
	va_list ap;
	int n;

	if (level > log->level)
		return;
	/* Built whole, then written once: stderr is unbuffered, and one
	 * write keeps lines from interleaving with other output. */
	clock_format_rfc3339((int64_t)time(NULL), line);
	n = CLOCK_RFC3339_LEN;
	n += snprintf(line + n, sizeof(line) - (size_t)n, " relay %s: ", log_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
