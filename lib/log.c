/*
 * log.c — timestamped lines on stderr.
 */
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

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
	struct tm tm;
	time_t now;
	va_list ap;
	int n;

	if (level > log->level)
		return;
	now = time(NULL);
	gmtime_r(&now, &tm);
	/* Built whole, then written once: stderr is unbuffered, and one
	 * write keeps lines from interleaving with other output. */
	n = (int)strftime(line, sizeof(line), "%Y-%m-%dT%H:%M:%SZ relay ", &tm);
	n += snprintf(line + n, sizeof(line) - (size_t)n, "%s: ", log_names[level]);
	va_start(ap, fmt);
	vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
	va_end(ap);
	fprintf(stderr, "%s\n", line);
}
