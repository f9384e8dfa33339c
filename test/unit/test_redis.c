/*
 * test_redis.c — what net/redis makes of what sentinels say.
 *
 * The file includes net/redis.c to reach its static parsers: an announcement
 * (+switch-master) is used only when it is well formed and about our master,
 * a reply that would trip hiredis's asserts is refused as it is read, and a
 * follower starts again only when a sentinel names another master. Last, a
 * sentinel connection and its followers are freed in either order while
 * connecting (the sanitizer build watches the memory).
 */
#include "net/redis.c"

#include "test/unit/check.h"

/* A string reply over text (which must outlive it). */
static redisReply string_reply(const char *text, size_t len)
{
	redisReply r = { .type = REDIS_REPLY_STRING, .len = len, .str = (char *)text };

	return r;
}

static int switch_of(const char *msg, size_t len, char *host, int *port)
{
	redisReply r = string_reply(msg, len);

	return redis_switch_addr(&r, "m", host, REDIS_HOST_MAX + 1, port);
}

#define SWITCH(msg, host, port) switch_of(msg, sizeof(msg) - 1, host, port)

static void test_port(void)
{
	CHECK_EQ_INT(redis_parse_port("6379", 4), 6379);
	CHECK_EQ_INT(redis_parse_port("1", 1), 1);
	CHECK_EQ_INT(redis_parse_port("65535", 5), 65535);
	CHECK_EQ_INT(redis_parse_port("65536", 5), -1);
	CHECK_EQ_INT(redis_parse_port("0", 1), -1);
	CHECK_EQ_INT(redis_parse_port("", 0), -1);
	CHECK_EQ_INT(redis_parse_port("-1", 2), -1);
	CHECK_EQ_INT(redis_parse_port("+1", 2), -1);
	CHECK_EQ_INT(redis_parse_port(" 80", 3), -1);
	CHECK_EQ_INT(redis_parse_port("80a", 3), -1);
	CHECK_EQ_INT(redis_parse_port("000080", 6), -1);
	CHECK_EQ_INT(redis_parse_port("99999999999999999999", 20), -1);
	/* Only len counts: "6379" cut to "63". */
	CHECK_EQ_INT(redis_parse_port("6379", 2), 63);
}

static void test_switch_message(void)
{
	char host[REDIS_HOST_MAX + 1];
	char long_host[600];
	int port = 0;

	CHECK_EQ_INT(SWITCH("m 10.0.0.1 6379 10.0.0.2 6380", host, &port), 0);
	CHECK_EQ_STR(host, "10.0.0.2");
	CHECK_EQ_INT(port, 6380);
	CHECK_EQ_INT(SWITCH("m ::1 6379 fe80::1 7000", host, &port), 0);
	CHECK_EQ_STR(host, "fe80::1");
	CHECK_EQ_INT(port, 7000);

	/* Another master, or ours by another spelling. */
	CHECK_EQ_INT(SWITCH("other 10.0.0.1 6379 10.0.0.2 6380", host, &port), -1);
	CHECK_EQ_INT(SWITCH("M 10.0.0.1 6379 10.0.0.2 6380", host, &port), -1);
	CHECK_EQ_INT(SWITCH("mm 10.0.0.1 6379 10.0.0.2 6380", host, &port), -1);
	/* Fields too few, too many, or empty. */
	CHECK_EQ_INT(SWITCH("", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m 10.0.0.1 6379 10.0.0.2", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m 10.0.0.1 6379 10.0.0.2 6380 1", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m 10.0.0.1 6379 10.0.0.2 6380 ", host, &port), -1);
	CHECK_EQ_INT(SWITCH(" m 10.0.0.1 6379 10.0.0.2 6380", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m  10.0.0.1 6379 10.0.0.2 6380", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m 10.0.0.1 6379  6380", host, &port), -1);
	/* Ports that are none, old or new. */
	CHECK_EQ_INT(SWITCH("m 10.0.0.1 6379 10.0.0.2 65536", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m 10.0.0.1 6379 10.0.0.2 0", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m 10.0.0.1 6379 10.0.0.2 -6380", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m 10.0.0.1 6379 10.0.0.2 6380x", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m 10.0.0.1 6379 10.0.0.2 99999999999999999999", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m 10.0.0.1 x 10.0.0.2 6380", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m a b c d", host, &port), -1);
	/* A NUL inside, anywhere. */
	CHECK_EQ_INT(SWITCH("m\0 10.0.0.1 6379 10.0.0.2 6380", host, &port), -1);
	CHECK_EQ_INT(SWITCH("m 10.0.0.1 6379 10.0.0.2 6380\0", host, &port), -1);
	/* A host longer than any: refused, not cut. */
	memset(long_host, 'h', sizeof(long_host));
	memcpy(long_host, "m 1 1 ", 6);
	memcpy(long_host + sizeof(long_host) - 5, " 6380", 5);
	CHECK_EQ_INT(switch_of(long_host, sizeof(long_host), host, &port), -1);
	/* Not a string at all. */
	{
		redisReply number = { .type = REDIS_REPLY_INTEGER, .integer = 5 };

		CHECK_EQ_INT(redis_switch_addr(&number, "m", host, sizeof(host), &port), -1);
	}
}

static void test_master_answer(void)
{
	redisReply host = string_reply("10.0.0.2", 8), port = string_reply("6380", 4);
	redisReply nul = string_reply("10.0\0.2", 7), bad = string_reply("6380x", 5);
	redisReply number = { .type = REDIS_REPLY_INTEGER, .integer = 6380 };
	redisReply *good[2] = { &host, &port }, *with_nul[2] = { &nul, &port };
	redisReply *bad_port[2] = { &host, &bad }, *int_port[2] = { &host, &number };
	redisReply answer = { .type = REDIS_REPLY_ARRAY, .elements = 2, .element = good };
	redisReply nil = { .type = REDIS_REPLY_NIL };
	const char *named = NULL;
	int p = 0;

	CHECK_EQ_INT(redis_master_addr(&answer, &named, &p), 0);
	CHECK_EQ_STR(named, "10.0.0.2");
	CHECK_EQ_INT(p, 6380);
	CHECK_EQ_INT(redis_master_addr(NULL, &named, &p), -1);
	CHECK_EQ_INT(redis_master_addr(&nil, &named, &p), -1);
	answer.elements = 1;
	CHECK_EQ_INT(redis_master_addr(&answer, &named, &p), -1);
	answer.elements = 2;
	answer.element = with_nul;
	CHECK_EQ_INT(redis_master_addr(&answer, &named, &p), -1);
	answer.element = bad_port;
	CHECK_EQ_INT(redis_master_addr(&answer, &named, &p), -1);
	answer.element = int_port;
	CHECK_EQ_INT(redis_master_addr(&answer, &named, &p), -1);
}

/* The reader's verdict on one element, as hiredis would ask it. */
static int readable(struct redis *r, const redisReadTask *parent, int idx, int type,
    const char *str, long long elements)
{
	redisReadTask task = { .type = type, .idx = idx, .parent = (redisReadTask *)parent,
		.privdata = r };

	return redis_sentinel_readable(&task, type, str, str != NULL ? strlen(str) : 0, elements);
}

static void test_reader(void)
{
	struct redis r = { .to_sentinel = 1 };
	redisReadTask root = { .type = REDIS_REPLY_ARRAY, .idx = -1, .privdata = &r };
	redisReadTask inner = { .type = REDIS_REPLY_ARRAY, .idx = 2, .parent = &root,
		.privdata = &r };

	/* The answer due is read whatever it is, and only it. */
	r.answers_due = 1;
	CHECK(readable(&r, NULL, -1, REDIS_REPLY_ARRAY, NULL, 1));
	CHECK(readable(&r, &root, 0, REDIS_REPLY_INTEGER, NULL, 0));
	CHECK_EQ_INT(r.answers_due, 0);
	CHECK(!readable(&r, NULL, -1, REDIS_REPLY_STATUS, "OK", 0));

	/* Not subscribed (yet): an error only. */
	CHECK(!readable(&r, NULL, -1, REDIS_REPLY_ARRAY, NULL, 3));
	CHECK(readable(&r, NULL, -1, REDIS_REPLY_ERROR, "ERR", 0));
	/* Subscribed: arrays of three or more. */
	r.subscribed = 1;
	CHECK(readable(&r, NULL, -1, REDIS_REPLY_ARRAY, NULL, 3));
	CHECK(readable(&r, NULL, -1, REDIS_REPLY_ARRAY, NULL, 4));
	CHECK(!readable(&r, NULL, -1, REDIS_REPLY_ARRAY, NULL, 2));
	CHECK(!readable(&r, NULL, -1, REDIS_REPLY_ARRAY, NULL, 0));
	CHECK(!readable(&r, NULL, -1, REDIS_REPLY_NIL, NULL, 0));
	CHECK(!readable(&r, NULL, -1, REDIS_REPLY_INTEGER, NULL, 0));
	CHECK(!readable(&r, NULL, -1, REDIS_REPLY_STRING, "message", 0));
	CHECK(!readable(&r, NULL, -1, REDIS_REPLY_STATUS, "OK", 0));
	/* Its first: "message" or "subscribe", a bulk string. */
	CHECK(readable(&r, &root, 0, REDIS_REPLY_STRING, "message", 0));
	CHECK(readable(&r, &root, 0, REDIS_REPLY_STRING, "subscribe", 0));
	CHECK(!readable(&r, &root, 0, REDIS_REPLY_STRING, "unsubscribe", 0));
	CHECK(!readable(&r, &root, 0, REDIS_REPLY_STRING, "pmessage", 0));
	CHECK(!readable(&r, &root, 0, REDIS_REPLY_STRING, "Message", 0));
	CHECK(!readable(&r, &root, 0, REDIS_REPLY_STATUS, "message", 0));
	CHECK(!readable(&r, &root, 0, REDIS_REPLY_INTEGER, NULL, 0));
	CHECK(!readable(&r, &root, 0, REDIS_REPLY_NIL, NULL, 0));
	CHECK(!readable(&r, &root, 0, REDIS_REPLY_ARRAY, NULL, 1));
	/* Its second: our channel. */
	CHECK(readable(&r, &root, 1, REDIS_REPLY_STRING, "+switch-master", 0));
	CHECK(!readable(&r, &root, 1, REDIS_REPLY_STRING, "+sdown", 0));
	CHECK(!readable(&r, &root, 1, REDIS_REPLY_STRING, "+switch-master2", 0));
	CHECK(!readable(&r, &root, 1, REDIS_REPLY_INTEGER, NULL, 0));
	/* The rest, and anything deeper, is for the callback to judge. */
	CHECK(readable(&r, &root, 2, REDIS_REPLY_INTEGER, NULL, 0));
	CHECK(readable(&r, &root, 3, REDIS_REPLY_NIL, NULL, 0));
	CHECK(readable(&r, &inner, 0, REDIS_REPLY_INTEGER, NULL, 0));

	/* A follower's question: its answer, then errors only. */
	r.to_sentinel = 0;
	CHECK(!readable(&r, NULL, -1, REDIS_REPLY_ARRAY, NULL, 3));
	CHECK(readable(&r, NULL, -1, REDIS_REPLY_ERROR, "ERR", 0));
}

static struct redis *follower(struct event_base *base, enum redis_phase phase)
{
	static const struct redis_endpoint sentinels[2] = {
		{ "127.0.0.1", 1 }, { "127.0.0.1", 2 }
	};
	const struct redis_config config = { .sentinels = sentinels, .sentinel_count = 2,
		.master = "m" };
	const struct redis_events events = { NULL, NULL, NULL };
	struct redis *f = redis_make(base, &config, &events);

	free(f->host);
	f->host = strdup("10.0.0.1");
	f->port = 6379;
	f->phase = phase;
	/* redis_reset needs a connection to drop: one never used. */
	if (phase >= REDIS_CONNECTING)
		f->ac = (redisAsyncContext *)f;
	return f;
}

static void follower_free(struct redis *f)
{
	f->ac = NULL;
	redis_free(f);
}

static void test_follow(void)
{
	struct event_base *base = event_base_new();
	struct redis *f;

	/* Where it is already: nothing. */
	f = follower(base, REDIS_UP);
	redis_follow(f, "10.0.0.1", 6379, 1, 1);
	CHECK(!f->reset && !f->hinted);
	follower_free(f);
	/* Elsewhere: it starts again, and asks that sentinel first. */
	f = follower(base, REDIS_UP);
	redis_follow(f, "10.0.0.2", 6379, 1, 0);
	CHECK(f->reset && f->hinted);
	CHECK_EQ_INT(f->hinted_sentinel, 1);
	follower_free(f);
	f = follower(base, REDIS_HELLO);
	redis_follow(f, "10.0.0.1", 6380, 1, 1);
	CHECK(f->reset && f->hinted);
	follower_free(f);
	/* Not connected: an announcement is for its next question; a
	 * sentinel's answer is not (its own is under way or to come). */
	f = follower(base, REDIS_ASKING);
	redis_follow(f, "10.0.0.2", 6379, 1, 0);
	CHECK(!f->reset && !f->hinted);
	redis_follow(f, "10.0.0.2", 6379, 1, 1);
	CHECK(!f->reset && f->hinted);
	follower_free(f);
	/* A sentinel out of the follower's list is not asked. */
	f = follower(base, REDIS_DOWN);
	f->sentinel_next = 0;
	redis_follow(f, "10.0.0.2", 6379, 7, 1);
	CHECK(f->hinted);
	CHECK_EQ_INT(f->hinted_sentinel, 0);
	follower_free(f);
	event_base_free(base);
}

/* Freed in either order, while everything is connecting. */
static void test_free_in_any_order(void)
{
	static const struct redis_endpoint sentinels[1] = { { "127.0.0.1", 1 } };
	const struct redis_config config = { .sentinels = sentinels, .sentinel_count = 1,
		.master = "m" };
	const struct redis_events events = { NULL, NULL, NULL };
	struct event_base *base = event_base_new();

	for (int order = 0; order < 3; order++) {
		struct redis *a = redis_new(base, &config, &events);
		struct redis *b = redis_new(base, &config, &events);
		struct redis *sc = redis_sentinel_new(base, &config, (struct redis *[]){ a, b }, 2);

		CHECK(a != NULL && b != NULL && sc != NULL);
		CHECK(a->leader == sc && b->leader == sc);
		if (order == 0) {
			redis_free(sc);
			CHECK(a->leader == NULL && b->leader == NULL);
			redis_free(a);
			redis_free(b);
		} else if (order == 1) {
			redis_free(a);
			CHECK(sc->followers[0] == NULL && sc->followers[1] == b);
			redis_free(sc);
			redis_free(b);
		} else {
			redis_free(b);
			redis_free(a);
			redis_free(sc);
		}
	}
	{
		const struct redis_config plain = { .host = "127.0.0.1", .port = 1 };

		CHECK(redis_sentinel_new(base, &plain, NULL, 0) == NULL);
	}
	event_base_free(base);
}

int main(void)
{
	CHECK_RUN(test_port);
	CHECK_RUN(test_switch_message);
	CHECK_RUN(test_master_answer);
	CHECK_RUN(test_reader);
	CHECK_RUN(test_follow);
	CHECK_RUN(test_free_in_any_order);
	return CHECK_SUMMARY();
}
