/*
 * log.c — events as text or JSON lines on stderr, each written whole.
 *
 * A line is built in a fixed buffer and leaves in one write(2): no
 * allocation, no stdio buffer that could hold it back or split it, and on a
 * pipe (journald, a supervisor) a write of at most PIPE_BUF bytes is never
 * interleaved with another. The buffer keeps room for what closes a line, so
 * that a value cut short still leaves valid JSON and one line.
 */
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/buf.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "lib/utf8.h"

_Static_assert(LOG_LINE_MAX <= PIPE_BUF, "a line must leave in one atomic write");

/* What may still follow when the line is full: "…" at the end of a cut
 * string, its closing quote, "}" and the newline. */
#define LOG_RESERVE 6
#define LOG_KEY_MAX 64
/* How long a write may wait for a non-blocking stderr to drain. */
#define LOG_STALL_MS 1000

static const char *const log_level_names[] = { "notice", "error", "warn", "info", "debug" };
static const char *const log_format_names[] = { "text", "json" };

struct log_line {
	char *p;
	size_t len;
	int full;       /* something did not fit: nothing more but the closing */
};

void log_init(struct log *log)
{
	log->level = LOG_INFO;
	log->format = LOG_TEXT;
	log->fd = STDERR_FILENO;
}

/* The index from..to of name in names, or -1. */
static int log_lookup(const char *const *names, int from, int to, const char *name)
{
	for (int i = from; i <= to; i++) {
		if (strcmp(name, names[i]) == 0)
			return i;
	}
	return -1;
}

int log_parse_level(const char *name, enum log_level *out)
{
	/* Notice is not a level to choose: it is always written. */
	int i = log_lookup(log_level_names, LOG_ERROR, LOG_DEBUG, name);

	if (i < 0)
		return -1;
	*out = (enum log_level)i;
	return 0;
}

int log_parse_format(const char *name, enum log_format *out)
{
	int i = log_lookup(log_format_names, LOG_TEXT, LOG_JSON, name);

	if (i < 0)
		return -1;
	*out = (enum log_format)i;
	return 0;
}

/* All of bytes or, when they do not fit before the reserve, none. */
static int log_put(struct log_line *line, const void *bytes, size_t len)
{
	if (line->full || line->len + len > LOG_LINE_MAX - LOG_RESERVE) {
		line->full = 1;
		return -1;
	}
	memcpy(line->p + line->len, bytes, len);
	line->len += len;
	return 0;
}

/* Into the reserve: only what closes the line. */
static void log_put_closing(struct log_line *line, const char *s)
{
	size_t len = strlen(s);

	memcpy(line->p + line->len, s, len);
	line->len += len;
}

/* s, with every character that could end the line, forge a field or fool a
 * terminal escaped as in JSON: C0 and C1 controls, DEL, U+2028 and U+2029,
 * and, when quoted (inside a JSON string), '"' and '\'. A byte that is not
 * UTF-8 becomes U+FFFD. Cut short with "…" when it does not fit. */
static void log_put_escaped(struct log_line *line, const char *s, int quoted)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);

	while (left > 0) {
		char esc[6];
		const void *unit = esc;
		size_t len, n;
		uint32_t point;

		n = utf8_decode(p, left, &point);
		if (n == 0) {
			unit = "\xef\xbf\xbd";
			len = 3;
			n = 1;
		} else if (point == '\n' || point == '\r' || point == '\t' ||
		    (quoted && (point == '"' || point == '\\'))) {
			esc[0] = '\\';
			esc[1] = point == '\n' ? 'n' : point == '\r' ? 'r' : point == '\t' ? 't' :
			    (char)point;
			len = 2;
		} else if (point < 0x20 || point == 0x7f || (point >= 0x80 && point <= 0x9f) ||
		    point == 0x2028 || point == 0x2029) {
			memcpy(esc, "\\u", 2);
			esc[2] = hex[point >> 12];
			esc[3] = hex[(point >> 8) & 0xf];
			esc[4] = hex[(point >> 4) & 0xf];
			esc[5] = hex[point & 0xf];
			len = 6;
		} else {
			unit = p;
			len = n;
		}
		if (log_put(line, unit, len) != 0) {
			log_put_closing(line, "\xe2\x80\xa6");
			return;
		}
		p += n;
		left -= n;
	}
}

/* A text value goes bare when it is plain printable ASCII that cannot be
 * mistaken for the next field or a quoted value. */
static int log_text_needs_quotes(const char *s)
{
	if (*s == '\0')
		return 1;
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c <= ' ' || c >= 0x7f || c == '"' || c == '\\' || c == '=')
			return 1;
	}
	return 0;
}

static int log_key_ok(const char *key)
{
	size_t len = key != NULL ? strlen(key) : 0;

	if (len == 0 || len > LOG_KEY_MAX || strcmp(key, "ts") == 0 ||
	    strcmp(key, "level") == 0 || strcmp(key, "msg") == 0)
		return 0;
	return strspn(key, "abcdefghijklmnopqrstuvwxyz0123456789_") == len;
}

/* One field: the key and a number, or the key and the start of a string,
 * go in together or not at all, so that a full line never ends in a key
 * without its value. */
static void log_put_field(struct log_line *line, enum log_format format,
    const struct log_field *f)
{
	char head[LOG_KEY_MAX + 8 + BUF_UINT_DIGITS];  /* ,"key":-digits */
	size_t len = 0, key_len = strlen(f->key);
	int quoted = 1;

	if (format == LOG_JSON) {
		memcpy(head, ",\"", 2);
		memcpy(head + 2, f->key, key_len);
		memcpy(head + 2 + key_len, "\":", 2);
		len = key_len + 4;
	} else {
		head[0] = ' ';
		memcpy(head + 1, f->key, key_len);
		head[1 + key_len] = '=';
		len = key_len + 2;
	}
	switch (f->kind) {
	case LOG_KIND_INT:
		if (f->value.i < 0) {
			head[len++] = '-';
			len += buf_format_uint((uint64_t)0 - (uint64_t)f->value.i, head + len);
		} else {
			len += buf_format_uint((uint64_t)f->value.i, head + len);
		}
		log_put(line, head, len);
		return;
	case LOG_KIND_UINT:
		len += buf_format_uint(f->value.u, head + len);
		log_put(line, head, len);
		return;
	case LOG_KIND_BOOL:
		memcpy(head + len, f->value.b ? "true" : "false", f->value.b ? 4 : 5);
		len += f->value.b ? 4 : 5;
		log_put(line, head, len);
		return;
	case LOG_KIND_STR:
		if (format == LOG_TEXT)
			quoted = log_text_needs_quotes(f->value.str);
		if (quoted)
			head[len++] = '"';
		if (log_put(line, head, len) != 0)
			return;
		log_put_escaped(line, f->value.str, quoted);
		if (quoted)
			log_put_closing(line, "\"");
		return;
	case LOG_KIND_END:
		return;
	}
}

size_t log_format_line(const struct log *log, int64_t ms, enum log_level level,
    const char *msg, const struct log_field *fields, char *out)
{
	struct log_line line = { out, 0, 0 };
	char ts[CLOCK_RFC3339_LEN + 5];
	char frac[3];

	/* "2030-01-01T00:00:00Z" becomes "2030-01-01T00:00:00.000Z". */
	clock_format_rfc3339(ms / 1000, ts);
	frac[0] = (char)('0' + ms % 1000 / 100);
	frac[1] = (char)('0' + ms % 100 / 10);
	frac[2] = (char)('0' + ms % 10);
	ts[CLOCK_RFC3339_LEN - 1] = '.';
	memcpy(ts + CLOCK_RFC3339_LEN, frac, 3);
	memcpy(ts + CLOCK_RFC3339_LEN + 3, "Z", 2);
	if (log->format == LOG_JSON) {
		log_put(&line, "{\"ts\":\"", 7);
		log_put(&line, ts, strlen(ts));
		log_put(&line, "\",\"level\":\"", 11);
		log_put(&line, log_level_names[level], strlen(log_level_names[level]));
		log_put(&line, "\",\"msg\":\"", 9);
		log_put_escaped(&line, msg, 1);
		log_put_closing(&line, "\"");
	} else {
		log_put(&line, ts, strlen(ts));
		log_put(&line, " ", 1);
		log_put(&line, log_level_names[level], strlen(log_level_names[level]));
		log_put(&line, " ", 1);
		log_put_escaped(&line, msg, 0);
	}
	for (const struct log_field *f = fields; f->kind != LOG_KIND_END && !line.full; f++) {
		if (!log_key_ok(f->key) || (f->kind == LOG_KIND_STR && f->value.str == NULL))
			continue;
		log_put_field(&line, log->format, f);
	}
	log_put_closing(&line, log->format == LOG_JSON ? "}\n" : "\n");
	out[line.len] = '\0';
	return line.len;
}

/* The whole line or, when stderr is gone, nothing: a relay without a place
 * to log still serves. A non-blocking stderr (not ours to change) that is
 * full gets a moment to drain rather than half a line. */
static void log_output(int fd, const char *p, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n > 0) {
			p += n;
			len -= (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			struct pollfd pfd = { fd, POLLOUT, 0 };

			if (poll(&pfd, 1, LOG_STALL_MS) <= 0)
				return;
		} else {
			return;
		}
	}
}

void log_write(const struct log *log, enum log_level level, const char *msg,
    const struct log_field *fields)
{
	char line[LOG_LINE_MAX + 1];
	struct timespec now;
	size_t len;
	int saved = errno;

	if (level > log->level)
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	len = log_format_line(log, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, level,
	    msg, fields, line);
	log_output(log->fd, line, len);
	/* Logging never changes what a caller may still read from errno. */
	errno = saved;
}
