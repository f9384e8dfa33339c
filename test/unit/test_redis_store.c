/*
 * test_redis_store.c — the Redis store against a real redis-server.
 *
 * The test starts Debian's redis-server on a free loopback port (no
 * persistence) and drives the store on a libevent loop of its own: the
 * verdicts of storage/access.h come back through Redis, claims are not
 * stored in clear, and the store lives through Redis going away (killed,
 * stopped, back again) without losing an answer or giving one twice.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/hiredis.h>

#include "storage/redis_store.h"
#include "test/unit/check.h"

/* Redis expires keys by its own clock: the calls must use the real time. */
#define NOW ((int64_t)time(NULL))
/* How long any one step may take before the test gives up on it. */
#define STEP_MS 5000

static const uint8_t SENDER[MAILBOX_CLAIM_LEN] = { 0x5e, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11 };
static const uint8_t RECEIVER[MAILBOX_CLAIM_LEN] = { 0xec, 1 };
static const uint8_t STRANGER[MAILBOX_CLAIM_LEN] = { 0x57, 2 };
static const uint8_t SECRET[] = "a secret of this deployment";
/* An address the rate limits count against (--rate-create 2/m,
 * --rate-fail 1/m below). */
static const uint8_t CLIENT[RATELIMIT_KEY_LEN] = { 0xc1, 0x1e, 0x47 };

static struct event_base *base;
static struct redis_store *store;
static int port;
static pid_t server;
static char dir[] = "/tmp/relay-redis-XXXXXX";
static int ups, downs;          /* state() calls seen */
static int came_up;             /* set by the next state() that says up */
static unsigned counter;

static int test_random(void *ctx, unsigned char *out, size_t len)
{
	(void)ctx;
	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(++counter * 131 + i);
	return 0;
}

static int64_t test_now(void *ctx)
{
	(void)ctx;
	return NOW;
}

/* --- redis-server --------------------------------------------------------- */

static int free_port(void)
{
	struct sockaddr_in a = { .sin_family = AF_INET };
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), p;

	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
	    getsockname(fd, (struct sockaddr *)&a, &len) != 0)
		p = -1;
	else
		p = ntohs(a.sin_port);
	if (fd >= 0)
		close(fd);
	return p;
}

static void server_start(void)
{
	char port_text[16];

	snprintf(port_text, sizeof(port_text), "%d", port);
	server = fork();
	if (server == 0) {
		int null = open("/dev/null", O_WRONLY);

		dup2(null, STDOUT_FILENO);
		execlp("redis-server", "redis-server", "--port", port_text, "--bind", "127.0.0.1",
		    "--save", "", "--appendonly", "no", "--dir", dir, (char *)NULL);
		_exit(127);
	}
}

static void server_kill(void)
{
	if (server > 0) {
		kill(server, SIGKILL);
		waitpid(server, NULL, 0);
		server = 0;
	}
}

/* A plain connection of the test's own, to look at what Redis holds. */
static redisContext *server_peek(void)
{
	struct timeval tv = { 2, 0 };

	return redisConnectWithTimeout("127.0.0.1", port, tv);
}

/* --- the loop ------------------------------------------------------------- */

static int deadline_hit;

static void on_deadline(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	deadline_hit = 1;
}

/* Run the loop until *flag is set, or STEP_MS: 1 when it was set. */
static int loop_until(const int *flag)
{
	struct timeval tv = { STEP_MS / 1000, 0 };
	struct event *deadline = evtimer_new(base, on_deadline, NULL);

	deadline_hit = 0;
	evtimer_add(deadline, &tv);
	while (!*flag && !deadline_hit)
		event_base_loop(base, EVLOOP_ONCE);
	event_free(deadline);
	return *flag;
}

static void on_state(void *ctx, int up, const char *why)
{
	(void)ctx;
	(void)why;
	if (up) {
		ups++;
		came_up = 1;
	} else {
		downs++;
	}
}

/* Run the loop until the store says it is up again. */
static int wait_up(void)
{
	came_up = 0;
	return loop_until(&came_up);
}

/* --- calls ---------------------------------------------------------------- */

struct call {
	struct access_request req;
	struct access_answer answer;
	int answers;
	int answered;                   /* for loop_until */
	uint8_t id[MAILBOX_ID_LEN];
	uint64_t etag;
	uint8_t bound;
	char payload[64];
	size_t payload_len;
	uint64_t version;
};

static void call_done(struct access_request *req, const struct access_answer *a)
{
	struct call *c = (struct call *)req;

	c->answer = *a;
	c->answers++;
	c->answered = 1;
	if (a->mb != NULL) {
		memcpy(c->id, mailbox_id(a->mb), MAILBOX_ID_LEN);
		c->etag = a->mb->etag;
		c->bound = a->mb->receiver_bound;
		c->payload_len = a->mb->payload->data_len < sizeof(c->payload) ?
		    a->mb->payload->data_len : sizeof(c->payload);
		memcpy(c->payload, mailbox_payload_data(a->mb->payload), c->payload_len);
	}
}

static uint8_t call_remember(const struct access_request *req, struct store_bytes type)
{
	(void)req;
	return type.ptr != NULL && type.len == 4 && memcmp(type.ptr, "apns", 4) == 0;
}

static void call_init(struct call *c, const uint8_t *claim, const uint8_t *id,
    const char *request_id)
{
	memset(c, 0, sizeof(*c));
	c->req.claim = claim;
	c->req.id = id;
	c->req.now = NOW;
	c->req.request_id = request_id;
	c->req.request_id_len = request_id ? strlen(request_id) : 0;
	c->req.body_ok = 1;
	c->req.remember = call_remember;
	c->req.done = call_done;
}

/* Run one call to its answer; the verdict. */
static int run(struct call *c, void (*fn)(struct redis_store *, struct access_request *))
{
	fn(store, &c->req);
	if (!loop_until(&c->answered))
		return -1;
	return (int)c->answer.verdict;
}

static struct mailbox_spec spec_of(const char *data, size_t len)
{
	struct mailbox_spec spec;

	memset(&spec, 0, sizeof(spec));
	memcpy(spec.sender_claim, SENDER, MAILBOX_CLAIM_LEN);
	spec.rights = MAILBOX_READ;
	spec.expires_at = NOW + 600;
	spec.payload_type = (struct store_bytes){ "t", 1 };
	spec.payload_data = (struct store_bytes){ data, len };
	spec.title = (struct store_bytes){ "A car", 5 };
	spec.description = (struct store_bytes){ "", 0 };
	spec.image_url = (struct store_bytes){ "", 0 };
	spec.token_type = (struct store_bytes){ "apns", 4 };
	spec.token_data = (struct store_bytes){ "tok", 3 };
	return spec;
}

/* A new mailbox; its identifier in id. */
static void create(uint8_t id[MAILBOX_ID_LEN])
{
	struct mailbox_spec spec = spec_of("data", 4);
	struct call c;

	call_init(&c, SENDER, NULL, NULL);
	c.req.spec = &spec;
	CHECK_EQ_INT(run(&c, redis_store_create), ACCESS_DONE);
	memcpy(id, c.id, MAILBOX_ID_LEN);
}

/* --- tests ---------------------------------------------------------------- */

static void test_create_read_bind(void)
{
	static const char bytes[] = { 0, 1, (char)0xff, '"', '\\', 'x', 0 };
	struct mailbox_spec spec = spec_of(bytes, sizeof(bytes));
	uint8_t id[MAILBOX_ID_LEN];
	struct call c;

	call_init(&c, SENDER, NULL, "r1");
	c.req.spec = &spec;
	CHECK_EQ_INT(run(&c, redis_store_create), ACCESS_DONE);
	CHECK_EQ_INT(c.answers, 1);
	CHECK_EQ_INT(c.answer.remembered, 1);
	CHECK_EQ_INT(c.etag, 1);
	CHECK_EQ_INT(c.id[6] >> 4, 4);
	memcpy(id, c.id, MAILBOX_ID_LEN);

	call_init(&c, SENDER, NULL, "r1");
	c.req.spec = &spec;
	CHECK_EQ_INT(run(&c, redis_store_create), ACCESS_REPEATED);
	CHECK(memcmp(c.id, id, MAILBOX_ID_LEN) == 0);

	/* The bytes come back as they went, zeros and quotes included. */
	call_init(&c, RECEIVER, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_read), ACCESS_DONE);
	CHECK_EQ_INT(c.answer.party, MAILBOX_RECEIVER);
	CHECK_EQ_INT(c.bound, 1);
	CHECK_EQ_INT(c.payload_len, sizeof(bytes));
	CHECK(memcmp(c.payload, bytes, sizeof(bytes)) == 0);

	call_init(&c, STRANGER, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_read), ACCESS_UNAUTHORIZED);
	call_init(&c, SENDER, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_read), ACCESS_DONE);
	CHECK_EQ_INT(c.answer.party, MAILBOX_SENDER);
}

static void test_update_if_match_delete(void)
{
	uint8_t id[MAILBOX_ID_LEN];
	struct call c;

	create(id);
	call_init(&c, SENDER, id, "u1");
	c.req.if_match = 1;
	c.version = 7;
	c.req.match = &c.version;
	c.req.match_count = 1;
	CHECK_EQ_INT(run(&c, redis_store_update), ACCESS_NOT_MATCHED);

	call_init(&c, SENDER, id, "u1");
	c.req.if_match = 1;
	c.version = 1;
	c.req.match = &c.version;
	c.req.match_count = 1;
	c.req.change.payload_type = (struct store_bytes){ "t", 1 };
	c.req.change.payload_data = (struct store_bytes){ "new", 3 };
	CHECK_EQ_INT(run(&c, redis_store_update), ACCESS_DONE);
	CHECK_EQ_INT(c.etag, 2);
	CHECK_EQ_INT(c.answer.remembered, 1);

	call_init(&c, NULL, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_preview), ACCESS_DONE);
	CHECK_EQ_INT(c.payload_len, 3);

	call_init(&c, STRANGER, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_delete), ACCESS_UNAUTHORIZED);
	call_init(&c, SENDER, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_delete), ACCESS_DONE);
	call_init(&c, NULL, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_preview), ACCESS_NOT_FOUND);
}

/* The identifier drawn is taken (EXISTS): the same create goes again under
 * another, from what it copied when first sent — the request's own spec is
 * gone by then, as the API's is. */
static void test_create_under_another_id(void)
{
	struct mailbox_spec *spec = malloc(sizeof(*spec));
	uint8_t next[MAILBOX_ID_LEN], id[MAILBOX_ID_LEN];
	char key[64] = "relay:m:";
	redisContext *peek = server_peek();
	redisReply *r;
	struct call c;
	unsigned saved = counter;

	CHECK(spec != NULL && peek != NULL && peek->err == 0);
	if (spec == NULL || peek == NULL || peek->err != 0)
		return;
	/* The identifier the store draws next, taken beforehand. */
	test_random(NULL, next, sizeof(next));
	counter = saved;
	next[6] = (uint8_t)((next[6] & 0x0f) | 0x40);
	next[8] = (uint8_t)((next[8] & 0x3f) | 0x80);
	for (size_t i = 0; i < sizeof(next); i++)
		snprintf(key + 8 + 2 * i, 3, "%02x", next[i]);
	r = redisCommand(peek, "SET %s taken", key);
	freeReplyObject(r);
	*spec = spec_of("data", 4);
	call_init(&c, SENDER, NULL, NULL);
	c.req.spec = spec;
	redis_store_create(store, &c.req);
	memset(spec, 0xa5, sizeof(*spec));
	free(spec);
	CHECK(loop_until(&c.answered));
	CHECK_EQ_INT(c.answer.verdict, ACCESS_DONE);
	CHECK(memcmp(c.id, next, MAILBOX_ID_LEN) != 0);
	/* What was stored came from the copy, not the scribbled spec. */
	memcpy(id, c.id, MAILBOX_ID_LEN);
	call_init(&c, SENDER, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_preview), ACCESS_DONE);
	CHECK_EQ_INT(c.payload_len, 4);
	CHECK(memcmp(c.payload, "data", 4) == 0);
	redisFree(peek);
}

/* Whether a reply is a string holding either claim. */
static int holds_a_claim(const redisReply *r)
{
	return r != NULL && r->type == REDIS_REPLY_STRING &&
	    (memmem(r->str, r->len, SENDER, MAILBOX_CLAIM_LEN) != NULL ||
	    memmem(r->str, r->len, RECEIVER, MAILBOX_CLAIM_LEN) != NULL);
}

/* A dump of Redis must not let anyone act as a device. A string key (a
 * mailbox, a retry record) is read as it is too: DUMP may compress it. */
static void test_claims_not_in_clear(void)
{
	uint8_t id[MAILBOX_ID_LEN];
	redisContext *peek;
	redisReply *keys;
	struct call c;
	int clear = 0;

	create(id);
	call_init(&c, RECEIVER, id, "x");
	run(&c, redis_store_read);
	peek = server_peek();
	CHECK(peek != NULL && peek->err == 0);
	if (peek == NULL || peek->err != 0)
		return;
	keys = redisCommand(peek, "KEYS *");
	CHECK(keys != NULL && keys->type == REDIS_REPLY_ARRAY && keys->elements > 0);
	for (size_t i = 0; keys != NULL && i < keys->elements; i++) {
		const redisReply *key = keys->element[i];
		redisReply *dump = redisCommand(peek, "DUMP %b", key->str, key->len);
		redisReply *value = redisCommand(peek, "GET %b", key->str, key->len);

		clear += holds_a_claim(dump) + holds_a_claim(value);
		freeReplyObject(dump);
		freeReplyObject(value);
	}
	CHECK_EQ_INT(clear, 0);
	freeReplyObject(keys);
	redisFree(peek);
}

/* A call cancelled before its reply: done is never called. */
static void test_cancel(void)
{
	uint8_t id[MAILBOX_ID_LEN];
	struct call c, after;

	create(id);
	call_init(&c, SENDER, id, NULL);
	redis_store_read(store, &c.req);
	redis_store_cancel(&c.req);
	/* A later call's answer comes after the cancelled one's reply. */
	call_init(&after, SENDER, id, NULL);
	CHECK_EQ_INT(run(&after, redis_store_read), ACCESS_DONE);
	CHECK_EQ_INT(c.answers, 0);
}

/* Redis stopped: the answer is "unavailable" at the timeout, and once. */
static void test_slow_redis_times_out(void)
{
	uint8_t id[MAILBOX_ID_LEN];
	struct call slow, after;

	create(id);
	kill(server, SIGSTOP);
	call_init(&slow, SENDER, id, NULL);
	CHECK_EQ_INT(run(&slow, redis_store_read), ACCESS_REFUSED);
	CHECK_EQ_INT(slow.answer.refusal, STORE_UNAVAILABLE);
	kill(server, SIGCONT);
	/* The late reply comes before this one's, and answers nobody. */
	call_init(&after, SENDER, id, NULL);
	CHECK_EQ_INT(run(&after, redis_store_read), ACCESS_DONE);
	CHECK_EQ_INT(slow.answers, 1);
}

/* Stopped for good: after a few timeouts in a row the connection is made
 * again (hiredis would wait on it for ever), and the store is back once
 * Redis runs again. */
static void test_hung_redis_is_left(void)
{
	uint8_t id[MAILBOX_ID_LEN];
	int downs_before, ups_before;
	struct call c;

	create(id);
	downs_before = downs;
	ups_before = ups;
	kill(server, SIGSTOP);
	for (int i = 0; i < 3; i++) {
		call_init(&c, SENDER, id, NULL);
		CHECK_EQ_INT(run(&c, redis_store_read), ACCESS_REFUSED);
	}
	kill(server, SIGCONT);
	CHECK(wait_up());
	CHECK(downs > downs_before);
	CHECK(ups > ups_before);
	call_init(&c, SENDER, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_read), ACCESS_DONE);
}

/* Redis killed and started again: calls meanwhile are refused at once,
 * the one in flight gets "unavailable", and the store is back by itself,
 * its scripts loaded into the new server. */
static void test_redis_gone_and_back(void)
{
	uint8_t id[MAILBOX_ID_LEN];
	int downs_before = downs, ups_before = ups;
	struct call c;

	create(id);
	kill(server, SIGSTOP);
	call_init(&c, SENDER, id, NULL);
	redis_store_read(store, &c.req);
	/* Nobody waits for it: its op goes with the connection (ASan). */
	redis_store_count_failure(store, CLIENT);
	server_kill();
	CHECK(loop_until(&c.answered));
	CHECK_EQ_INT(c.answer.verdict, ACCESS_REFUSED);
	CHECK_EQ_INT(c.answer.refusal, STORE_UNAVAILABLE);
	CHECK_EQ_INT(c.answers, 1);
	CHECK_EQ_INT(downs, downs_before + 1);

	call_init(&c, SENDER, id, NULL);
	redis_store_read(store, &c.req);
	CHECK_EQ_INT(c.answers, 1);
	CHECK_EQ_INT(c.answer.refusal, STORE_UNAVAILABLE);

	server_start();
	CHECK(wait_up());
	CHECK_EQ_INT(ups, ups_before + 1);
	/* A new server holds nothing: the mailbox went with the old one. */
	call_init(&c, SENDER, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_read), ACCESS_NOT_FOUND);
	create(id);
}

/* A waiter of the test's, and how it was woken. */
struct waiter {
	struct mailbox_waiter w;
	int woken;
	uint64_t woken_etag;            /* 0: woken with nothing (404, or timed out) */
};

/* As the API's waiters: a later version held only when named (none here). */
static int waiter_holds(struct mailbox_waiter *mw, uint64_t etag)
{
	(void)mw;
	(void)etag;
	return 0;
}

static void waiter_wake(struct mailbox_waiter *mw, const struct mailbox *mb)
{
	struct waiter *w = (struct waiter *)mw;

	w->woken = 1;
	w->woken_etag = mb != NULL ? mb->etag : 0;
}

/* Park w on mailbox id, as if a read had answered it version etag. */
static void park(struct waiter *w, const uint8_t id[MAILBOX_ID_LEN], uint64_t etag)
{
	struct mailbox_spec spec = spec_of("data", 4);
	struct mailbox *view = store_view_new(id, &spec, etag, 0, (struct store_bytes){ NULL, 0 },
	    (struct store_bytes){ NULL, 0 });

	memset(w, 0, sizeof(*w));
	w->w.holds = waiter_holds;
	w->w.wake = waiter_wake;
	w->w.claim = SENDER;
	CHECK(view != NULL);
	redis_store_watch(store, view, &w->w);
	store_view_free(view);
}

/* A waiter a failed check left parked leaves, before its memory goes. */
static void unpark(struct waiter *w)
{
	if (!w->woken)
		redis_store_unwatch(&w->w);
}

/* Once Redis sends the store's subscription every change (its PSUBSCRIBE
 * counted there). */
static int listening(void)
{
	redisContext *peek = server_peek();
	int ok = 0;

	for (int i = 0; i < 200 && peek != NULL && !ok; i++) {
		redisReply *r = redisCommand(peek, "PUBSUB NUMPAT");
		struct timeval tv = { 0, 10000 };

		ok = r != NULL && r->type == REDIS_REPLY_INTEGER && r->integer >= 1;
		freeReplyObject(r);
		event_base_loopexit(base, &tv);
		event_base_dispatch(base);
	}
	if (peek != NULL)
		redisFree(peek);
	return ok;
}

/* A change Redis made after answering a read, but which this relay heard
 * before the answer (two connections, no set order): the waiter about to
 * park on the version it read would miss it. It reads again instead; and a
 * deletion heard so is answered too. */
static void test_a_change_heard_before_the_park(void)
{
	uint8_t id[MAILBOX_ID_LEN];
	struct waiter first, late;
	struct call c;

	CHECK(listening());
	create(id);
	park(&first, id, 1);
	call_init(&c, SENDER, id, NULL);
	c.req.change.payload_type = (struct store_bytes){ "t", 1 };
	c.req.change.payload_data = (struct store_bytes){ "new", 3 };
	CHECK_EQ_INT(run(&c, redis_store_update), ACCESS_DONE);
	/* Heard: the waiter parked before it is woken. */
	CHECK(loop_until(&first.woken));
	CHECK_EQ_INT(first.woken_etag, 2);
	/* The read that answered version 1 comes in only now. */
	park(&late, id, 1);
	CHECK(loop_until(&late.woken));
	CHECK_EQ_INT(late.woken_etag, 2);
	unpark(&first);
	unpark(&late);
	/* One that read the version heard parks: a call after it on the same
	 * connection is answered, and it is still parked. */
	park(&late, id, 2);
	call_init(&c, NULL, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_preview), ACCESS_DONE);
	CHECK(!late.woken);
	unpark(&late);

	park(&first, id, 2);
	call_init(&c, SENDER, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_delete), ACCESS_DONE);
	CHECK(loop_until(&first.woken));
	park(&late, id, 2);
	CHECK(loop_until(&late.woken));
	CHECK_EQ_INT(late.woken_etag, 0);
	unpark(&first);
	unpark(&late);
}

/* The rate limits are checked in Redis: creates past the burst and a call
 * after the caller's own failed check are refused with the seconds to
 * wait; calls that count against no address are never limited. */
static void test_rate_limits(void)
{
	struct mailbox_spec spec = spec_of("data", 4);
	uint8_t id[MAILBOX_ID_LEN];
	struct call c;

	for (int i = 0; i < 3; i++) {
		call_init(&c, SENDER, NULL, NULL);
		c.req.spec = &spec;
		c.req.client = CLIENT;
		CHECK_EQ_INT(run(&c, redis_store_create), i < 2 ? ACCESS_DONE : ACCESS_RATE_LIMITED);
	}
	CHECK_EQ_INT(c.answer.retry_after, 30);
	CHECK(c.answer.mb == NULL);
	create(id);

	call_init(&c, SENDER, id, NULL);
	c.req.client = CLIENT;
	CHECK_EQ_INT(run(&c, redis_store_read), ACCESS_DONE);
	/* Sent before the read on the same connection: counted first. */
	redis_store_count_failure(store, CLIENT);
	call_init(&c, SENDER, id, NULL);
	c.req.client = CLIENT;
	CHECK_EQ_INT(run(&c, redis_store_read), ACCESS_RATE_LIMITED);
	CHECK_EQ_INT(c.answer.retry_after, 60);
	call_init(&c, SENDER, id, NULL);
	CHECK_EQ_INT(run(&c, redis_store_read), ACCESS_DONE);
}

int main(void)
{
	struct redis_store_config config = {
		.server = { .host = "127.0.0.1" },
		.secret = SECRET,
		.secret_len = sizeof(SECRET) - 1,
		.prefix = "relay:",
		.push_types = "apns fcm",
		.timeout_ms = 300,
		.rate_create = { 2, 60000, 2 },
		.rate_fail = { 1, 60000, 1 },
		.random = test_random,
		.now = test_now,
	};
	signal(SIGPIPE, SIG_IGN);
	if (mkdtemp(dir) == NULL || (port = free_port()) < 0) {
		printf("cannot set up: %s\n", strerror(errno));
		return 1;
	}
	config.server.port = port;
	server_start();
	base = event_base_new();
	store = redis_store_new(base, &config, on_state, NULL);
	if (store == NULL || !wait_up()) {
		printf("redis-server on port %d did not come up\n", port);
		server_kill();
		return 1;
	}
	CHECK_RUN(test_create_read_bind);
	CHECK_RUN(test_update_if_match_delete);
	CHECK_RUN(test_create_under_another_id);
	CHECK_RUN(test_claims_not_in_clear);
	CHECK_RUN(test_cancel);
	CHECK_RUN(test_rate_limits);
	CHECK_RUN(test_a_change_heard_before_the_park);
	CHECK_RUN(test_slow_redis_times_out);
	CHECK_RUN(test_hung_redis_is_left);
	CHECK_RUN(test_redis_gone_and_back);
	redis_store_free(store);
	event_base_free(base);
	server_kill();
	rmdir(dir);
	return CHECK_SUMMARY();
}
