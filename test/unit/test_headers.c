/*
 * test_headers.c — the header-value parsers of protocol/headers.h.
 *
 * Each parser is tried from both sides: the forms clients send that it must
 * accept, and the near misses it must refuse. How the API acts on the
 * answers (415, 412, long-polls) is test_api.c's.
 */
#include <stdint.h>
#include <string.h>

#include "protocol/headers.h"
#include "test/unit/check.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void test_json_accepts(void)
{
	CHECK(headers_is_json(S("application/json")));
	CHECK(headers_is_json(S("Application/JSON")));
	CHECK(headers_is_json(S("application/json; charset=utf-8")));
	CHECK(headers_is_json(S("application/json;charset=\"UTF-8\"")));
	CHECK(headers_is_json(S("application/json ; charset=UTF-8")));
	/* Other parameters are ignored, and empty ones, as lenient parsers allow. */
	CHECK(headers_is_json(S("application/json; profile=x")));
	CHECK(headers_is_json(S("application/json;")));
	CHECK(headers_is_json(S("application/json;;charset=utf-8")));
	CHECK(headers_is_json(S("application/json \t")));
}

static void test_json_refuses(void)
{
	CHECK(!headers_is_json(S("")));
	CHECK(!headers_is_json(S("text/plain")));
	CHECK(!headers_is_json(S("application/jso")));
	CHECK(!headers_is_json(S("application/jsonx")));
	CHECK(!headers_is_json(S("application/x-www-form-urlencoded")));
	CHECK(!headers_is_json(S("application/json; charset=latin1")));
	CHECK(!headers_is_json(S("application/json; charset=\"utf-16\"")));
	CHECK(!headers_is_json(S("application/json; charset")));
	CHECK(!headers_is_json(S("application/json x")));
	/* A parameter name is a token: these are malformed, not unknown. */
	CHECK(!headers_is_json(S("application/json; charset =latin1")));
	CHECK(!headers_is_json(S("application/json; char set=utf-8")));
	CHECK(!headers_is_json(S("application/json; =utf-8")));
	CHECK(!headers_is_json(S("application/json;=")));
}

static void test_etag_list(void)
{
	struct headers_etag item;
	size_t at = 0;
	static const char list[] = " \"1a\" , W/\"2\",*,\"x\"";

	CHECK_EQ_INT(headers_etag_next(list, sizeof(list) - 1, &at, &item), 1);
	CHECK(!item.any && !item.weak);
	CHECK_EQ_INT(item.version, 0x1a);
	CHECK_EQ_INT(headers_etag_next(list, sizeof(list) - 1, &at, &item), 1);
	CHECK(!item.any && item.weak);
	CHECK_EQ_INT(item.version, 2);
	CHECK_EQ_INT(headers_etag_next(list, sizeof(list) - 1, &at, &item), 1);
	CHECK(item.any);
	/* A tag the relay never wrote names no version, and spoils nothing. */
	CHECK_EQ_INT(headers_etag_next(list, sizeof(list) - 1, &at, &item), 1);
	CHECK_EQ_INT(item.version, 0);
	CHECK_EQ_INT(headers_etag_next(list, sizeof(list) - 1, &at, &item), 0);
}

static void test_etag_versions(void)
{
	/* Only the spelling response_format_etag writes names a version. */
	CHECK(headers_etag_listed(S("\"ffffffffffffffff\""), UINT64_MAX, 1));
	CHECK(!headers_etag_listed(S("\"1ffffffffffffffff\""), UINT64_MAX, 0));
	CHECK(!headers_etag_listed(S("\"0a\""), 10, 0));
	CHECK(!headers_etag_listed(S("\"A\""), 10, 0));
	CHECK(!headers_etag_listed(S("\"\""), 1, 0));
	CHECK(headers_etag_listed(S("\"a\""), 10, 0));
}

static void test_etag_listed(void)
{
	CHECK(headers_etag_listed(S("\"5\""), 5, 1));
	CHECK(headers_etag_listed(S("\"4\", \"5\""), 5, 1));
	CHECK(!headers_etag_listed(S("\"4\""), 5, 0));
	/* Weak tags count for If-None-Match, never for If-Match. */
	CHECK(headers_etag_listed(S("W/\"5\""), 5, 0));
	CHECK(!headers_etag_listed(S("W/\"5\""), 5, 1));
	CHECK(headers_etag_listed(S("*"), 5, 1));
	CHECK(headers_etag_listed(S(" * "), 5, 0));
	/* Nothing listed names nothing. */
	CHECK(!headers_etag_listed(S(""), 5, 0));
	CHECK(!headers_etag_listed(S(" , "), 5, 0));
}

static void test_etag_malformed(void)
{
	/* A malformed list counts for nothing, even a good member before the
	 * fault. */
	CHECK(!headers_etag_listed(S("\"5\", 5"), 5, 0));
	CHECK(!headers_etag_listed(S("5"), 5, 0));
	CHECK(!headers_etag_listed(S("\"5"), 5, 0));
	CHECK(!headers_etag_listed(S("\"5\" \"6\""), 5, 0));
	CHECK(!headers_etag_listed(S("w/\"5\""), 5, 0));
	CHECK(!headers_etag_listed(S("W/ \"5\""), 5, 0));
	CHECK(!headers_etag_listed(S("\"5 \""), 5, 0));
	CHECK(!headers_etag_listed(S("\"5\x7f\""), 5, 0));
	CHECK(!headers_etag_listed(S("**"), 5, 0));
}

static void test_prefer_wait(void)
{
	CHECK_EQ_INT(headers_prefer_wait(S("wait=10")), 10);
	CHECK_EQ_INT(headers_prefer_wait(S("WAIT=10")), 10);
	/* RFC 7240 allows BWS around "=" and a quoted-string value. */
	CHECK_EQ_INT(headers_prefer_wait(S("wait = 7")), 7);
	CHECK_EQ_INT(headers_prefer_wait(S("wait =7")), 7);
	CHECK_EQ_INT(headers_prefer_wait(S("wait= 7")), 7);
	CHECK_EQ_INT(headers_prefer_wait(S("wait=\t7, x")), 7);
	CHECK_EQ_INT(headers_prefer_wait(S("wait=\"12\"")), 12);
	CHECK_EQ_INT(headers_prefer_wait(S("wait=\"12")), -1);
	CHECK_EQ_INT(headers_prefer_wait(S("wait=\"\"")), -1);
	CHECK_EQ_INT(headers_prefer_wait(S("wait=\"1\"2")), -1);
	CHECK_EQ_INT(headers_prefer_wait(S("wait= ")), -1);
	/* A comma inside a quoted value separates no preferences. */
	CHECK_EQ_INT(headers_prefer_wait(S("foo=\"x,wait=100,y\"")), -1);
	CHECK_EQ_INT(headers_prefer_wait(S("foo=\"x,\\\",wait=9\", wait=3")), 3);
	CHECK_EQ_INT(headers_prefer_wait(S("foo=\"a,b\", wait=4")), 4);
	CHECK_EQ_INT(headers_prefer_wait(S("respond-async, wait=5")), 5);
	CHECK_EQ_INT(headers_prefer_wait(S("wait=5;x, handling=lenient")), 5);
	CHECK_EQ_INT(headers_prefer_wait(S("handling=strict,wait=0")), 0);
	/* Huge values stay huge, without overflow: the API caps them. */
	CHECK(headers_prefer_wait(S("wait=99999999999999999999")) > 100000);
}

static void test_prefer_wait_absent(void)
{
	CHECK_EQ_INT(headers_prefer_wait(S("")), -1);
	CHECK_EQ_INT(headers_prefer_wait(S("respond-async")), -1);
	CHECK_EQ_INT(headers_prefer_wait(S("wait")), -1);
	CHECK_EQ_INT(headers_prefer_wait(S("wait=")), -1);
	CHECK_EQ_INT(headers_prefer_wait(S("wait=-1")), -1);
	CHECK_EQ_INT(headers_prefer_wait(S("wait=5s")), -1);
	CHECK_EQ_INT(headers_prefer_wait(S("waiting=5")), -1);
	CHECK_EQ_INT(headers_prefer_wait(S("x-wait=5")), -1);
}

static void test_forwarded_last(void)
{
	const char *last;
	size_t len;

	last = headers_forwarded_last(S("192.0.2.1"), &len);
	CHECK(len == 9 && memcmp(last, "192.0.2.1", len) == 0);
	last = headers_forwarded_last(S("198.51.100.7, 192.0.2.1"), &len);
	CHECK(len == 9 && memcmp(last, "192.0.2.1", len) == 0);
	last = headers_forwarded_last(S("a,\t [2001:db8::1]:443"), &len);
	CHECK(len == 17 && memcmp(last, "[2001:db8::1]:443", len) == 0);
	/* White space after the entry is no part of it. */
	last = headers_forwarded_last(S("198.51.100.7, 192.0.2.1 \t"), &len);
	CHECK(len == 9 && memcmp(last, "192.0.2.1", len) == 0);
	/* An empty last entry is what it is: nothing, for the caller to refuse. */
	last = headers_forwarded_last(S("192.0.2.1, "), &len);
	CHECK_EQ_INT(len, 0);
	last = headers_forwarded_last(S(""), &len);
	CHECK_EQ_INT(len, 0);
}

int main(void)
{
	CHECK_RUN(test_json_accepts);
	CHECK_RUN(test_json_refuses);
	CHECK_RUN(test_etag_list);
	CHECK_RUN(test_etag_versions);
	CHECK_RUN(test_etag_listed);
	CHECK_RUN(test_etag_malformed);
	CHECK_RUN(test_prefer_wait);
	CHECK_RUN(test_prefer_wait_absent);
	CHECK_RUN(test_forwarded_last);
	return CHECK_SUMMARY();
}
