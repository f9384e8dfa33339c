/*
 * log.h — one line per event on stderr: a message and typed fields.
 *
 *     log_event(log, LOG_WARN, "rate limited", LOG_STR("reason", "rate_create"),
 *         LOG_UINT("count", n), LOG_END);
 *
 * text:  2030-01-01T00:00:00.000Z warn rate limited reason=rate_create count=3
 * json:  {"ts":"2030-01-01T00:00:00.000Z","level":"warn","msg":"rate limited",
 *         "reason":"rate_create","count":3}
 *
 * The message is a constant that says what happened; what varies goes in
 * fields, so that no value is ever read as a format and a line can be
 * searched by its message. Values are written so that none can split a line
 * or forge another: in JSON as strict JSON strings, in text bare when they
 * are plain printable ASCII and otherwise quoted as a JSON string literal.
 * Either way control characters, quotes and backslashes are escaped, line
 * separators too, and bytes that are not UTF-8 become U+FFFD.
 *
 * What the relay logs is decided by its callers, and they follow one rule
 * (spec section 8): never a claim, token, attestation, mailbox identifier,
 * payload, display text or client address. Events are described by what
 * happened and how many, not by whom.
 */
#ifndef LIB_LOG_H
#define LIB_LOG_H

#include <stdint.h>

enum log_level {
	LOG_NOTICE,     /* what scripts wait for (where the relay listens, its
	                 * certificate): written whatever the level */
	LOG_ERROR,
	LOG_WARN,
	LOG_INFO,
	LOG_DEBUG
};

enum log_format {
	LOG_TEXT,
	LOG_JSON
};

struct log {
	enum log_level level;   /* events of a later level are dropped */
	enum log_format format;
	int fd;                 /* 2, but in tests */
};

enum log_kind {
	LOG_KIND_END,
	LOG_KIND_STR,           /* NUL-terminated; NULL leaves the field out */
	LOG_KIND_INT,
	LOG_KIND_UINT,
	LOG_KIND_BOOL
};

/* Keys are constants of [a-z0-9_], other than ts, level and msg. */
struct log_field {
	const char *key;
	enum log_kind kind;
	union {
		const char *str;
		int64_t i;
		uint64_t u;
		int b;
	} value;
};

/* No casts: a value of the wrong type is a compiler error, not a line. */
#define LOG_STR(k, v) ((struct log_field){ .key = (k), .kind = LOG_KIND_STR, .value.str = (v) })
#define LOG_INT(k, v) ((struct log_field){ .key = (k), .kind = LOG_KIND_INT, .value.i = (v) })
#define LOG_UINT(k, v) ((struct log_field){ .key = (k), .kind = LOG_KIND_UINT, .value.u = (v) })
#define LOG_BOOL(k, v) ((struct log_field){ .key = (k), .kind = LOG_KIND_BOOL, .value.b = !!(v) })
#define LOG_END ((struct log_field){ .kind = LOG_KIND_END })

/* The fields, ending in LOG_END, become an array: one call, no varargs. */
#define log_event(log, level, msg, ...) \
	log_write((log), (level), (msg), (const struct log_field[]){ __VA_ARGS__ })

/* A line is at most this long (PIPE_BUF: one write to a pipe is never split
 * nor interleaved); a longer value is cut at a character, ending in "…". */
#define LOG_LINE_MAX 4096

/* Level info, text, on stderr. */
void log_init(struct log *log);
/* 0 and the level for "error", "warn", "info" or "debug"; -1 otherwise. */
int log_parse_level(const char *name, enum log_level *out);
/* 0 and the format for "text" or "json"; -1 otherwise. */
int log_parse_format(const char *name, enum log_format *out);

/* Write one event, fields ending in LOG_END, with the wall clock's time. */
void log_write(const struct log *log, enum log_level level, const char *msg,
    const struct log_field *fields);
/* The line log_write would write at Unix time ms, NUL-terminated, into
 * out[LOG_LINE_MAX + 1]; its length. */
size_t log_format_line(const struct log *log, int64_t ms, enum log_level level,
    const char *msg, const struct log_field *fields, char *out);

#endif
