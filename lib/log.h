/*
 * log.h — one line per event on stderr, filtered by level.
 *
 * What the relay logs is decided by its callers, and they follow one rule
 * (spec section 8): never a claim, token, attestation, mailbox identifier,
 * payload, display text or client address. Events are described by what
 * happened and how many, not by whom.
 */
#ifndef LIB_LOG_H
#define LIB_LOG_H

enum log_level {
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG
};

struct log {
	enum log_level level;
};

/* 0 and the level for "error", "warn", "info" or "debug"; -1 otherwise. */
int log_parse_level(const char *name, enum log_level *out);

void log_at(const struct log *log, enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
