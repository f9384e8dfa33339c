/*
 * test_log.c — log lines: exact text and JSON forms, values that try to end
 * a line, forge a field or carry bytes that are not UTF-8, lines cut short
 * that stay whole, levels, and one write per line.
 *
 * JSON lines are also read back with jansson: what a collector decodes is
 * what was logged, with only the bad bytes replaced.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/log.h"
#include "test/unit/check.h"

/* 2030-01-01T00:00:00.123Z */
#define TEST_MS (INT64_C(1893456000) * 1000 + 123)

static const struct log test_text = { LOG_DEBUG, LOG_TEXT, -1 };
static const struct log test_json = { LOG_DEBUG, LOG_JSON, -1 };

/* A value built to break a line: newline and CR (a forged second line),
 * quote and backslash (a forged field), control bytes (ESC, a terminal's
 * commands; NUL-free as C strings are), DEL, a C1 control and a line
 * separator, valid non-ASCII, and bytes that are not UTF-8: a lone 0xff, an
 * overlong '/', a truncated euro sign and an encoded surrogate. */
static const char test_nasty[] =
    "a\nb\rc\"d\\e\x01\x1b[31m\x7f" "\xc2\x85" "\xe2\x80\xa8" "\xc3\xa9"
    "\xff" "\xc0\xaf" "\xe2\x82" "\xed\xa0\x80" "z";
/* ... as a JSON string literal: every risky character escaped, each bad byte
 * one U+FFFD. */
static const char test_nasty_json[] =
    "\"a\\nb\\rc\\\"d\\\\e\\u0001\\u001b[31m\\u007f\\u0085\\u2028\xc3\xa9"
    "\xef\xbf\xbd" "\xef\xbf\xbd\xef\xbf\xbd" "\xef\xbf\xbd\xef\xbf\xbd"
    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "z\"";
/* ... and as a collector decodes it. */
static const char test_nasty_decoded[] =
    "a\nb\rc\"d\\e\x01\x1b[31m\x7f" "\xc2\x85" "\xe2\x80\xa8" "\xc3\xa9"
    "\xef\xbf\xbd" "\xef\xbf\xbd\xef\xbf\xbd" "\xef\xbf\xbd\xef\xbf\xbd"
    "\xef\xbf\xbd\xef\xbf\xbd\xef\xbf\xbd" "z";

static size_t test_count_newlines(const char *s)
{
	size_t n = 0;

	for (; *s != '\0'; s++)
		n += *s == '\n';
	return n;
}

static void test_text_line(void)
{
	char out[LOG_LINE_MAX + 1];
	size_t len;

	len = log_format_line(&test_text, TEST_MS, LOG_WARN, "rate limited",
	    (const struct log_field[]){ LOG_STR("reason", "rate_create"), LOG_INT("status", 429),
	    LOG_UINT("count", 3), LOG_END }, out);
	CHECK_EQ_STR(out, "2030-01-01T00:00:00.123Z warn rate limited reason=rate_create "
	    "status=429 count=3\n");
	CHECK_EQ_INT(len, strlen(out));
	log_format_line(&test_text, TEST_MS - 123, LOG_NOTICE, "listening",
	    (const struct log_field[]){ LOG_STR("url", "https://[::1]:8443"), LOG_END }, out);
	CHECK_EQ_STR(out, "2030-01-01T00:00:00.000Z notice listening url=https://[::1]:8443\n");
}

static void test_json_line(void)
{
	char out[LOG_LINE_MAX + 1];

	log_format_line(&test_json, TEST_MS, LOG_INFO, "saved mailboxes",
	    (const struct log_field[]){ LOG_UINT("mailboxes", 12), LOG_STR("file", "/var/x"),
	    LOG_BOOL("resumed", 1), LOG_BOOL("full", 0), LOG_INT("delta", -5), LOG_END }, out);
	CHECK_EQ_STR(out, "{\"ts\":\"2030-01-01T00:00:00.123Z\",\"level\":\"info\","
	    "\"msg\":\"saved mailboxes\",\"mailboxes\":12,\"file\":\"/var/x\",\"resumed\":true,"
	    "\"full\":false,\"delta\":-5}\n");
	log_format_line(&test_json, TEST_MS, LOG_DEBUG, "nothing else", (const struct log_field[]){
	    LOG_END }, out);
	CHECK_EQ_STR(out, "{\"ts\":\"2030-01-01T00:00:00.123Z\",\"level\":\"debug\","
	    "\"msg\":\"nothing else\"}\n");
}

static void test_numbers_at_their_limits(void)
{
	char out[LOG_LINE_MAX + 1];

	log_format_line(&test_text, TEST_MS, LOG_INFO, "n", (const struct log_field[]){
	    LOG_INT("min", INT64_MIN), LOG_INT("max", INT64_MAX), LOG_UINT("umax", UINT64_MAX),
	    LOG_UINT("zero", 0), LOG_INT("izero", 0), LOG_END }, out);
	CHECK_EQ_STR(out, "2030-01-01T00:00:00.123Z info n min=-9223372036854775808 "
	    "max=9223372036854775807 umax=18446744073709551615 zero=0 izero=0\n");
}

static void test_json_escapes_every_risky_byte(void)
{
	char out[LOG_LINE_MAX + 1], expect[512];
	json_error_t error;
	json_t *doc;

	log_format_line(&test_json, TEST_MS, LOG_WARN, "m\nsg\"",
	    (const struct log_field[]){ LOG_STR("v", test_nasty), LOG_END }, out);
	snprintf(expect, sizeof(expect), "{\"ts\":\"2030-01-01T00:00:00.123Z\",\"level\":\"warn\","
	    "\"msg\":\"m\\nsg\\\"\",\"v\":%s}\n", test_nasty_json);
	CHECK_EQ_STR(out, expect);
	CHECK_EQ_INT(test_count_newlines(out), 1);
	doc = json_loads(out, 0, &error);
	CHECK(doc != NULL);
	if (doc != NULL) {
		CHECK_EQ_STR(json_string_value(json_object_get(doc, "v")), test_nasty_decoded);
		CHECK_EQ_STR(json_string_value(json_object_get(doc, "msg")), "m\nsg\"");
		CHECK_EQ_STR(json_string_value(json_object_get(doc, "level")), "warn");
		json_decref(doc);
	}
}

static void test_text_quotes_what_is_not_plain(void)
{
	char out[LOG_LINE_MAX + 1], expect[512];

	/* A quoted text value is the same JSON string literal. */
	log_format_line(&test_text, TEST_MS, LOG_WARN, "x",
	    (const struct log_field[]){ LOG_STR("v", test_nasty), LOG_END }, out);
	snprintf(expect, sizeof(expect), "2030-01-01T00:00:00.123Z warn x v=%s\n", test_nasty_json);
	CHECK_EQ_STR(out, expect);
	CHECK_EQ_INT(test_count_newlines(out), 1);
	/* A space, an '=' or a quote would let a value pose as more fields. */
	log_format_line(&test_text, TEST_MS, LOG_INFO, "x", (const struct log_field[]){
	    LOG_STR("a", "b level=error c"), LOG_STR("e", "k=v"), LOG_STR("q", "\"x"),
	    LOG_STR("empty", ""), LOG_STR("t", "\tx"), LOG_STR("plain", "/var/lib/relay-1.0"),
	    LOG_STR("u", "\xc3\xa9"), LOG_END }, out);
	CHECK_EQ_STR(out, "2030-01-01T00:00:00.123Z info x a=\"b level=error c\" e=\"k=v\" "
	    "q=\"\\\"x\" empty=\"\" t=\"\\tx\" plain=/var/lib/relay-1.0 u=\"\xc3\xa9\"\n");
	/* The message is ours, yet a control byte in it stays escaped. */
	log_format_line(&test_text, TEST_MS, LOG_INFO, "two\nlines \"quoted\"",
	    (const struct log_field[]){ LOG_END }, out);
	CHECK_EQ_STR(out, "2030-01-01T00:00:00.123Z info two\\nlines \"quoted\"\n");
}

static void test_fields_left_out(void)
{
	char out[LOG_LINE_MAX + 1];

	/* NULL: an optional field absent. Keys that are not [a-z0-9_], or that
	 * would pose as the line's own members, are dropped. */
	log_format_line(&test_json, TEST_MS, LOG_INFO, "m", (const struct log_field[]){
	    LOG_STR("tls", NULL), LOG_STR("msg", "forged"), LOG_STR("level", "error"),
	    LOG_STR("ts", "0"), LOG_STR("a\"b", "x"), LOG_STR("A", "x"), LOG_STR("", "x"),
	    LOG_STR("k v", "x"), LOG_UINT("kept", 1), LOG_END }, out);
	CHECK_EQ_STR(out, "{\"ts\":\"2030-01-01T00:00:00.123Z\",\"level\":\"info\","
	    "\"msg\":\"m\",\"kept\":1}\n");
}

/* A line too long is cut at a character, ends in "…", and stays one line of
 * valid JSON that still says what happened. */
static void test_long_values_are_cut_whole(void)
{
	static char big[3 * LOG_LINE_MAX];
	char out[LOG_LINE_MAX + 1];
	json_error_t error;
	json_t *doc;
	size_t len;

	for (int pass = 0; pass < 3; pass++) {
		/* Plain bytes; control bytes (6 escaped bytes each); a 2-byte
		 * character that no cut may split. */
		const char *unit = pass == 0 ? "x" : pass == 1 ? "\x01" : "\xc3\xa9";
		size_t unit_len = strlen(unit);

		big[0] = '\0';
		for (size_t i = 0; i + unit_len < sizeof(big); i += unit_len)
			memcpy(big + i, unit, unit_len + 1);
		len = log_format_line(&test_json, TEST_MS, LOG_ERROR, "cannot start",
		    (const struct log_field[]){ LOG_STR("error", big), LOG_UINT("after", 1),
		    LOG_END }, out);
		CHECK(len <= LOG_LINE_MAX);
		CHECK_EQ_INT(strlen(out), len);
		CHECK_EQ_INT(test_count_newlines(out), 1);
		CHECK(len > 3 && strcmp(out + len - 6, "\xe2\x80\xa6\"}\n") == 0);
		doc = json_loads(out, 0, &error);
		CHECK(doc != NULL);
		if (doc != NULL) {
			const char *v = json_string_value(json_object_get(doc, "error"));

			CHECK_EQ_STR(json_string_value(json_object_get(doc, "msg")), "cannot start");
			CHECK(v != NULL && strlen(v) > LOG_LINE_MAX / 8);
			json_decref(doc);
		}
		len = log_format_line(&test_text, TEST_MS, LOG_ERROR, "cannot start",
		    (const struct log_field[]){ LOG_STR("error", big), LOG_END }, out);
		CHECK(len <= LOG_LINE_MAX);
		CHECK_EQ_INT(test_count_newlines(out), 1);
		/* Bare plain bytes, quoted otherwise: cut inside the quotes. */
		CHECK(strcmp(out + len - (pass == 0 ? 4 : 5),
		    pass == 0 ? "\xe2\x80\xa6\n" : "\xe2\x80\xa6\"\n") == 0);
	}
}

/* What log_write sends through a pipe: whole lines, filtered by level, and
 * notices whatever the level. */
static void test_write_filters_by_level(void)
{
	struct log log;
	char got[2 * LOG_LINE_MAX];
	int fds[2];
	ssize_t n;

	CHECK_EQ_INT(pipe(fds), 0);
	log_init(&log);
	CHECK_EQ_INT(log.level, LOG_INFO);
	CHECK_EQ_INT(log.format, LOG_TEXT);
	CHECK_EQ_INT(log.fd, 2);
	log.fd = fds[1];
	log.level = LOG_ERROR;
	errno = ENOENT;
	log_event(&log, LOG_WARN, "dropped", LOG_END);
	log_event(&log, LOG_NOTICE, "listening", LOG_STR("url", "http://127.0.0.1:1"), LOG_END);
	log_event(&log, LOG_ERROR, "kept", LOG_END);
	CHECK_EQ_INT(errno, ENOENT);
	log.level = LOG_DEBUG;
	log.format = LOG_JSON;
	log_event(&log, LOG_DEBUG, "debug", LOG_UINT("n", 7), LOG_END);
	close(fds[1]);
	n = read(fds[0], got, sizeof(got) - 1);
	close(fds[0]);
	CHECK(n > 0);
	got[n > 0 ? n : 0] = '\0';
	CHECK(strstr(got, "dropped") == NULL);
	CHECK(strstr(got, "Z notice listening url=http://127.0.0.1:1\n") != NULL);
	CHECK(strstr(got, "Z error kept\n") != NULL);
	CHECK(strstr(got, "\",\"level\":\"debug\",\"msg\":\"debug\",\"n\":7}\n") != NULL);
	CHECK_EQ_INT(test_count_newlines(got), 3);
	/* Each line starts with this year's timestamp (the wall clock). */
	CHECK(got[4] == '-' && got[10] == 'T' && got[19] == '.' && got[23] == 'Z');
}

static void test_parse_level_and_format(void)
{
	enum log_level level = LOG_INFO;
	enum log_format format = LOG_TEXT;

	CHECK_EQ_INT(log_parse_level("debug", &level), 0);
	CHECK_EQ_INT(level, LOG_DEBUG);
	CHECK_EQ_INT(log_parse_level("error", &level), 0);
	CHECK_EQ_INT(level, LOG_ERROR);
	/* Notice is always written: not a level to choose. */
	CHECK_EQ_INT(log_parse_level("notice", &level), -1);
	CHECK_EQ_INT(log_parse_level("", &level), -1);
	CHECK_EQ_INT(log_parse_level("WARN", &level), -1);
	CHECK_EQ_INT(log_parse_format("json", &format), 0);
	CHECK_EQ_INT(format, LOG_JSON);
	CHECK_EQ_INT(log_parse_format("text", &format), 0);
	CHECK_EQ_INT(format, LOG_TEXT);
	CHECK_EQ_INT(log_parse_format("JSON", &format), -1);
	CHECK_EQ_INT(log_parse_format("json ", &format), -1);
	CHECK_EQ_INT(log_parse_format("logfmt", &format), -1);
	CHECK_EQ_INT(log_parse_format("", &format), -1);
	CHECK_EQ_INT(format, LOG_TEXT);
}

int main(void)
{
	CHECK_RUN(test_text_line);
	CHECK_RUN(test_json_line);
	CHECK_RUN(test_numbers_at_their_limits);
	CHECK_RUN(test_json_escapes_every_risky_byte);
	CHECK_RUN(test_text_quotes_what_is_not_plain);
	CHECK_RUN(test_fields_left_out);
	CHECK_RUN(test_long_values_are_cut_whole);
	CHECK_RUN(test_write_filters_by_level);
	CHECK_RUN(test_parse_level_and_format);
	return CHECK_SUMMARY();
}
