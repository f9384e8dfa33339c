/*
 * redis.c — one connection to one Redis server, on the relay's loop.
 *
 * With Sentinel, the sentinel connection (redis_sentinel_new) is one of the
 * same kind to the sentinels themselves: what they say only makes the
 * other connections, its followers, ask again; it never names where they
 * connect. hiredis's callbacks run inside hiredis, so a context is freed
 * from our side only outside its own callbacks (from the timer), or after
 * its struct redis forgot it, so that the callbacks it still runs with NULL
 * find nothing to do.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <hiredis/adapters/libevent.h>

#include "net/redis.h"

/* The first pause before connecting again, and the longest. */
#define REDIS_BACKOFF_MIN_MS 100
#define REDIS_BACKOFF_MAX_MS 5000
/* From connecting to up (connect, AUTH, SELECT, hello): a server that
 * takes longer is treated as down, not waited for. */
#define REDIS_HELLO_MS 2000
/* The sentinel connection subscribes again this long after the sentinel
 * last said it is there: a sentinel gone silent (its host lost) would
 * otherwise keep it deaf without ever closing. */
#define REDIS_SENTINEL_PING_MS 5000
/* Where Sentinel announces a failover, and the longest host it may name. */
#define REDIS_SWITCH_CHANNEL "+switch-master"
#define REDIS_HOST_MAX 255

enum redis_phase {
	REDIS_DOWN,         /* waiting to connect again */
	REDIS_ASKING,       /* asking a sentinel where the master is */
	REDIS_CONNECTING,   /* TCP connect under way */
	REDIS_HELLO,        /* AUTH, SELECT, then the owner's hello */
	REDIS_UP
};

struct redis {
	struct event_base *base;
	redisAsyncContext *ac;      /* NULL while down */
	redisAsyncContext *asking;  /* the sentinel asked, or NULL */
	struct redis_endpoint *sentinels;       /* hosts ours */
	size_t sentinel_count, sentinel_next;
	char *master;
	struct event *timer;        /* reconnect pause, or the hello deadline */
	enum redis_phase phase;
	unsigned backoff_ms;
	char *host, *user, *password;
	int port, db;
	struct redis_events events;
	/* redis_psubscribe's: hiredis keeps calling back with this. */
	redis_reply_fn sub_fn;
	void *sub_arg;
	int subscribed;
	int told;                   /* state() has been called at least once */
	int reset;                  /* redis_reset: drop it at the timer */
	char why[128];              /* why the introduction failed */
	/* A follower: its sentinel connection, and whether a sentinel (that
	 * one, hinted_sentinel) named another master since the last question
	 * was asked; the next one goes to it. */
	struct redis *leader;
	int hinted;
	size_t hinted_sentinel;
	/* The sentinel connection: to sentinels[sentinel_next] itself, and
	 * what it hears is for these (a slot is NULL once freed). */
	int to_sentinel;
	struct redis **followers;
	size_t follower_count;
	/* The reader of its connection to a sentinel (or of the question a
	 * follower asks one): hiredis's object functions under ours, the
	 * replies still due to commands, and whether the reply being read is
	 * one of them. Whether a SUBSCRIBE sent as a ping is unconfirmed. */
	redisReplyObjectFunctions *reply_fn;
	unsigned answers_due;
	int free_form;
	int pinged;
};

/* One command's callback, until its reply comes. */
struct redis_pending {
	redis_reply_fn fn;
	void *arg;
};

static void redis_connect(struct redis *r);

static void redis_set_timer(struct redis *r, unsigned ms)
{
	struct timeval tv = { ms / 1000, (ms % 1000) * 1000 };

	evtimer_add(r->timer, &tv);
}

/* The connection is gone (or never came): say so once, and try again after
 * a pause that doubles each time. */
static void redis_down(struct redis *r, const char *why)
{
	/* Down is news when it was up, and the first time: an operator must
	 * see why a relay cannot reach its store from the start. */
	int tell = r->phase == REDIS_UP || !r->told;

	r->ac = NULL;
	r->phase = REDIS_DOWN;
	/* A reset under way is done: the connection it was for is gone. */
	r->reset = 0;
	r->pinged = 0;
	/* The sentinel connection tries the next sentinel (a follower's next
	 * question is chosen as it is asked). */
	if (r->to_sentinel)
		r->sentinel_next = (r->sentinel_next + 1) % r->sentinel_count;
	if (r->subscribed) {
		/* hiredis does not call a subscription back when it frees it. */
		r->subscribed = 0;
		r->sub_fn(r->sub_arg, NULL);
	}
	redis_set_timer(r, r->backoff_ms);
	r->backoff_ms = r->backoff_ms * 2 > REDIS_BACKOFF_MAX_MS ? REDIS_BACKOFF_MAX_MS :
	    r->backoff_ms * 2;
	if (tell) {
		r->told = 1;
		if (r->events.state != NULL)
			r->events.state(r->events.ctx, 0, why);
	}
}

/* Drop the connection from our side (outside hiredis's callbacks). */
static void redis_drop(struct redis *r, const char *why)
{
	redisAsyncContext *ac = r->ac;

	redis_down(r, why);
	/* Unanswered commands get NULL; no hiredis callback reaches us for
	 * this context any more, since r->ac no longer names it. */
	if (ac != NULL)
		redisAsyncFree(ac);
}

static void redis_sentinel_ping(struct redis *r);

static void redis_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct redis *r = arg;

	(void)fd;
	(void)what;
	if (r->phase == REDIS_DOWN) {
		redis_connect(r);
	} else if (r->phase == REDIS_ASKING) {
		redisAsyncContext *asking = r->asking;

		/* A sentinel that never answers must not be asked for ever. */
		r->asking = NULL;
		r->sentinel_next = (r->sentinel_next + 1) % r->sentinel_count;
		redis_down(r, "no answer from the sentinel in time");
		if (asking != NULL)
			redisAsyncFree(asking);
	} else if (r->phase == REDIS_UP && !r->reset && r->to_sentinel) {
		redis_sentinel_ping(r);
	} else if (r->phase != REDIS_UP || r->reset) {
		r->reset = 0;
		redis_drop(r, r->why[0] != '\0' ? r->why : "no answer in time");
	}
}

static void redis_on_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis_pending p = *(struct redis_pending *)privdata;
	const redisReply *rr = reply;

	free(privdata);
	p.fn(p.arg, reply);
	/* A master made replica: the next connection finds the new one. */
	if (rr != NULL && rr->type == REDIS_REPLY_ERROR && strncmp(rr->str, "READONLY", 8) == 0 &&
	    !(ac->c.flags & REDIS_DISCONNECTING))
		redisAsyncDisconnect(ac);
}

int redis_command(struct redis *r, int argc, const char **argv, const size_t *lens,
    redis_reply_fn cb, void *arg)
{
	struct redis_pending *p;

	if (r->ac == NULL || r->phase < REDIS_HELLO || (p = malloc(sizeof(*p))) == NULL)
		return -1;
	p->fn = cb;
	p->arg = arg;
	if (redisAsyncCommandArgv(r->ac, redis_on_reply, p, argc, argv, lens) != REDIS_OK) {
		free(p);
		return -1;
	}
	return 0;
}

/* Every message of the subscription; NULL (once) when the connection goes,
 * after which hiredis calls no more. */
static void redis_on_message(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis *r = privdata;

	(void)ac;
	if (reply == NULL && !r->subscribed)
		return;
	if (reply == NULL)
		r->subscribed = 0;
	r->sub_fn(r->sub_arg, reply);
}

/* (P)SUBSCRIBE name: cb hears its messages until the connection goes. */
static int redis_subscribe(struct redis *r, const char *command, const char *name,
    redis_reply_fn cb, void *arg)
{
	const char *argv[2] = { command, name };
	size_t lens[2] = { strlen(command), strlen(name) };

	if (r->ac == NULL || r->phase < REDIS_HELLO)
		return -1;
	r->sub_fn = cb;
	r->sub_arg = arg;
	if (redisAsyncCommandArgv(r->ac, redis_on_message, r, 2, argv, lens) != REDIS_OK)
		return -1;
	r->subscribed = 1;
	return 0;
}

int redis_psubscribe(struct redis *r, const char *pattern, redis_reply_fn cb, void *arg)
{
	return redis_subscribe(r, "PSUBSCRIBE", pattern, cb, arg);
}

void redis_reset(struct redis *r, const char *why)
{
	if (r->ac == NULL || r->reset)
		return;
	snprintf(r->why, sizeof(r->why), "%s", why);
	r->reset = 1;
	redis_set_timer(r, 0);
}

int redis_up(const struct redis *r)
{
	return r->phase == REDIS_UP;
}

void redis_hello_done(struct redis *r, int ok, const char *why)
{
	/* (A reset under way drops this connection: it is not to come up.) */
	if (r->phase != REDIS_HELLO || r->ac == NULL || r->reset)
		return;
	if (!ok) {
		if (why != NULL && r->why[0] == '\0')
			snprintf(r->why, sizeof(r->why), "%s", why);
		/* Dropped from the timer, not from inside hiredis's callbacks,
		 * where freeing the context would pull it from under hiredis. */
		redis_set_timer(r, 0);
		return;
	}
	evtimer_del(r->timer);
	r->phase = REDIS_UP;
	r->told = 1;
	r->backoff_ms = REDIS_BACKOFF_MIN_MS;
	if (r->events.state != NULL)
		r->events.state(r->events.ctx, 1, NULL);
}

/* A status reply; otherwise what the server said is kept for the log. */
static int redis_reply_ok(struct redis *r, const redisReply *reply)
{
	if (reply != NULL && reply->type == REDIS_REPLY_STATUS)
		return 1;
	snprintf(r->why, sizeof(r->why), "%s", reply != NULL && reply->type ==
	    REDIS_REPLY_ERROR ? reply->str : "no answer");
	return 0;
}

static void redis_on_role(void *arg, const redisReply *reply)
{
	struct redis *r = arg;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 1 ||
	    reply->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(reply->element[0]->str, "master") != 0) {
		/* Not (or no longer) the master the sentinels named. */
		snprintf(r->why, sizeof(r->why), "not a master (ROLE)");
		redis_hello_done(r, 0, NULL);
		return;
	}
	r->events.hello(r->events.ctx, r);
}

/* Introduced: with Sentinel, check it is the master, then the owner's. */
static void redis_introduced(struct redis *r)
{
	const char *argv[1] = { "ROLE" };
	size_t lens[1] = { 4 };

	if (r->sentinel_count == 0 || r->to_sentinel)
		r->events.hello(r->events.ctx, r);
	else if (redis_command(r, 1, argv, lens, redis_on_role, r) != 0)
		redis_hello_done(r, 0, NULL);
}

static void redis_on_select(void *arg, const redisReply *reply)
{
	struct redis *r = arg;

	if (!redis_reply_ok(r, reply)) {
		redis_hello_done(r, 0, NULL);
		return;
	}
	redis_introduced(r);
}

static void redis_select(struct redis *r)
{
	char db[16];
	const char *argv[2] = { "SELECT", db };
	size_t lens[2] = { 6, 0 };

	if (r->db == 0) {
		redis_introduced(r);
		return;
	}
	lens[1] = (size_t)snprintf(db, sizeof(db), "%d", r->db);
	if (redis_command(r, 2, argv, lens, redis_on_select, r) != 0)
		redis_hello_done(r, 0, NULL);
}

static void redis_on_auth(void *arg, const redisReply *reply)
{
	struct redis *r = arg;

	if (!redis_reply_ok(r, reply))
		redis_hello_done(r, 0, NULL);
	else
		redis_select(r);
}

static void redis_on_connect(const redisAsyncContext *ac, int status)
{
	struct redis *r = ac->data;
	const char *argv[3] = { "AUTH" };
	size_t lens[3] = { 4 };
	int argc = 1;

	if (r == NULL || ac != r->ac)
		return;
	if (status != REDIS_OK) {
		/* hiredis frees the context after this callback. */
		redis_down(r, ac->errstr);
		return;
	}
	r->phase = REDIS_HELLO;
	if (r->password == NULL) {
		redis_select(r);
		return;
	}
	if (r->user != NULL) {
		argv[argc] = r->user;
		lens[argc++] = strlen(r->user);
	}
	argv[argc] = r->password;
	lens[argc++] = strlen(r->password);
	if (redis_command(r, argc, argv, lens, redis_on_auth, r) != 0)
		redis_hello_done(r, 0, NULL);
}

static void redis_on_disconnect(const redisAsyncContext *ac, int status)
{
	struct redis *r = ac->data;

	(void)status;
	/* A context we dropped ourselves is no longer r->ac. */
	if (r == NULL || ac != r->ac)
		return;
	redis_down(r, ac->errstr[0] != '\0' ? ac->errstr : "connection closed");
}

/* --- what sentinels say, as it is read ------------------------------------- */

/* hiredis 0.14 asserts on a pub/sub reply it cannot route (fewer than two
 * elements, a first or second that is not a string, an unsubscribe without
 * its count), outside subscribed mode on any reply nobody asked for, and
 * hands a message on a channel it does not know to the callback it ran
 * last, which may be a command's, already freed: a sentinel could end the
 * process or worse. So past the answers due, a connection to a sentinel
 * reads only an error or, on the subscribed sentinel connection, an array
 * of three or more whose first is "subscribe" or "message" and second our
 * channel; anything else is refused as it is read, which ends that
 * connection (a reader error), not the process. 1 to read. */
static int redis_sentinel_readable(const redisReadTask *task, int type, const char *str,
    size_t len, long long elements)
{
	struct redis *r = task->privdata;

	if (task->parent == NULL) {
		/* A new reply: while an answer is due, it is that answer. */
		r->free_form = r->answers_due > 0;
		if (r->free_form) {
			r->answers_due--;
			return 1;
		}
		return type == REDIS_REPLY_ERROR || (type == REDIS_REPLY_ARRAY && elements >= 3 &&
		    r->to_sentinel && r->subscribed);
	}
	if (r->free_form || task->parent->parent != NULL || task->idx > 1)
		return 1;
	if (type != REDIS_REPLY_STRING)
		return 0;
	if (task->idx == 1)
		return len == strlen(REDIS_SWITCH_CHANNEL) &&
		    memcmp(str, REDIS_SWITCH_CHANNEL, len) == 0;
	return (len == 7 && memcmp(str, "message", 7) == 0) ||
	    (len == 9 && memcmp(str, "subscribe", 9) == 0);
}

static void *redis_sentinel_string(const redisReadTask *task, char *str, size_t len)
{
	struct redis *r = task->privdata;

	if (!redis_sentinel_readable(task, task->type, str, len, 0))
		return NULL;
	return r->reply_fn->createString(task, str, len);
}

static void *redis_sentinel_array(const redisReadTask *task, int elements)
{
	struct redis *r = task->privdata;

	if (!redis_sentinel_readable(task, REDIS_REPLY_ARRAY, NULL, 0, elements))
		return NULL;
	return r->reply_fn->createArray(task, elements);
}

static void *redis_sentinel_integer(const redisReadTask *task, long long value)
{
	struct redis *r = task->privdata;

	if (!redis_sentinel_readable(task, REDIS_REPLY_INTEGER, NULL, 0, 0))
		return NULL;
	return r->reply_fn->createInteger(task, value);
}

static void *redis_sentinel_nil(const redisReadTask *task)
{
	struct redis *r = task->privdata;

	if (!redis_sentinel_readable(task, REDIS_REPLY_NIL, NULL, 0, 0))
		return NULL;
	return r->reply_fn->createNil(task);
}

static redisReplyObjectFunctions redis_sentinel_reader = {
	redis_sentinel_string, redis_sentinel_array, redis_sentinel_integer, redis_sentinel_nil,
	freeReplyObject
};

/* ac, to a sentinel, is read as above, answers replies being due first:
 * before any byte is read (the reader is the context's). */
static void redis_sentinel_guard(struct redis *r, redisAsyncContext *ac, unsigned answers)
{
	r->reply_fn = ac->c.reader->fn;
	r->answers_due = answers;
	ac->c.reader->fn = &redis_sentinel_reader;
	ac->c.reader->privdata = r;
}

/* --- connecting ------------------------------------------------------------ */

static void redis_connect_server(struct redis *r, const char *host, int port)
{
	redisAsyncContext *ac = redisAsyncConnect(host, port);

	if (ac == NULL) {
		redis_down(r, "out of memory");
		return;
	}
	if (ac->err != 0) {
		redis_down(r, ac->errstr);
		redisAsyncFree(ac);
		return;
	}
	ac->data = r;
	r->ac = ac;
	r->why[0] = '\0';
	r->phase = REDIS_CONNECTING;
	if (r->to_sentinel)
		redis_sentinel_guard(r, ac, 0);
	if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
		redis_drop(r, "cannot watch the socket");
		return;
	}
	redisAsyncSetConnectCallback(ac, redis_on_connect);
	redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
	redis_set_timer(r, REDIS_HELLO_MS);
}

/* A TCP port in decimal and nothing else, or -1. */
static int redis_parse_port(const char *s, size_t len)
{
	int port = 0;

	if (len == 0 || len > 5)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		port = port * 10 + (s[i] - '0');
	}
	return port >= 1 && port <= 65535 ? port : -1;
}

/* A sentinel's answer to get-master-addr-by-name, [host, port]: 0 with host
 * pointing into the reply, or -1. */
static int redis_master_addr(const redisReply *rr, const char **host, int *port)
{
	if (rr == NULL || rr->type != REDIS_REPLY_ARRAY || rr->elements != 2 ||
	    rr->element[0]->type != REDIS_REPLY_STRING ||
	    rr->element[1]->type != REDIS_REPLY_STRING ||
	    rr->element[0]->len == 0 || rr->element[0]->len > REDIS_HOST_MAX ||
	    strlen(rr->element[0]->str) != rr->element[0]->len ||
	    (*port = redis_parse_port(rr->element[1]->str, rr->element[1]->len)) < 0)
		return -1;
	*host = rr->element[0]->str;
	return 0;
}

/* The sentinel's answer: the master's host and port, then connect there. */
static void redis_on_master(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis *r = privdata;
	const char *named;
	char *host;
	int port;

	if (ac != r->asking)
		return;
	r->asking = NULL;
	redisAsyncDisconnect(ac);
	r->sentinel_next = (r->sentinel_next + 1) % r->sentinel_count;
	if (r->hinted) {
		/* A new master was announced meanwhile: this answer may be
		 * older. The sentinel that announced it is asked next. */
		redis_down(r, "a new master was announced while asking");
		return;
	}
	if (redis_master_addr(reply, &named, &port) != 0 || (host = strdup(named)) == NULL) {
		redis_down(r, "the sentinel named no master");
		return;
	}
	free(r->host);
	r->host = host;
	r->port = port;
	evtimer_del(r->timer);
	redis_connect_server(r, r->host, r->port);
}

static void redis_on_sentinel_connect(const redisAsyncContext *ac, int status)
{
	struct redis *r = ac->data;

	if (status != REDIS_OK && ac == r->asking) {
		/* hiredis frees it after this; the next try asks another. */
		r->asking = NULL;
		r->sentinel_next = (r->sentinel_next + 1) % r->sentinel_count;
		redis_down(r, ac->errstr);
	}
}

/* Ask the next sentinel which server is the master now. */
static void redis_ask(struct redis *r)
{
	const struct redis_endpoint *e;
	redisAsyncContext *ac;

	if (r->hinted) {
		/* The sentinel that announced a new master knows it. */
		r->hinted = 0;
		r->sentinel_next = r->hinted_sentinel;
	}
	e = &r->sentinels[r->sentinel_next];
	ac = redisAsyncConnect(e->host, e->port);
	if (ac != NULL)
		redis_sentinel_guard(r, ac, 1);
	if (ac == NULL || ac->err != 0 || redisLibeventAttach(ac, r->base) != REDIS_OK ||
	    redisAsyncCommand(ac, redis_on_master, r, "SENTINEL get-master-addr-by-name %s",
	    r->master) != REDIS_OK) {
		r->sentinel_next = (r->sentinel_next + 1) % r->sentinel_count;
		redis_down(r, ac && ac->err ? ac->errstr : "cannot ask a sentinel");
		if (ac != NULL)
			redisAsyncFree(ac);
		return;
	}
	ac->data = r;
	r->asking = ac;
	r->phase = REDIS_ASKING;
	redisAsyncSetConnectCallback(ac, redis_on_sentinel_connect);
	redis_set_timer(r, REDIS_HELLO_MS);
}

static void redis_connect(struct redis *r)
{
	if (r->to_sentinel)
		redis_connect_server(r, r->sentinels[r->sentinel_next].host,
		    r->sentinels[r->sentinel_next].port);
	else if (r->sentinel_count > 0)
		redis_ask(r);
	else
		redis_connect_server(r, r->host, r->port);
}

/* --- the sentinel connection ----------------------------------------------- */

/* A sentinel (sentinels[sentinel]) says host:port is master.
 * A follower connected, or connecting, elsewhere starts again; an
 * announcement also outdates a question under way or about to be asked.
 * Either way the next question goes to that sentinel, which knows: what
 * it says is checked (ROLE) like any answer, never taken as an address. */
static void redis_follow(struct redis *f, const char *host, int port, size_t sentinel,
    int announced)
{
	int elsewhere = f->phase >= REDIS_CONNECTING &&
	    (f->port != port || strcmp(f->host, host) != 0);

	if (!elsewhere && !(announced && f->phase < REDIS_CONNECTING))
		return;
	f->hinted = 1;
	f->hinted_sentinel = sentinel < f->sentinel_count ? sentinel : f->sentinel_next;
	if (elsewhere)
		redis_reset(f, "the sentinels name another master");
}

static void redis_sentinel_tell(struct redis *sc, const char *host, int port, int announced)
{
	for (size_t i = 0; i < sc->follower_count; i++)
		if (sc->followers[i] != NULL)
			redis_follow(sc->followers[i], host, port, sc->sentinel_next, announced);
}

/* The string reply s is exactly text. */
static int redis_is(const redisReply *s, const char *text)
{
	return s->type == REDIS_REPLY_STRING && s->len == strlen(text) &&
	    memcmp(s->str, text, s->len) == 0;
}

/* A +switch-master message, "<name> <old-ip> <old-port> <new-ip> <new-port>":
 * 0 with the new address when it is about master; -1 for another master or
 * anything malformed (fields too many or too few, or empty, a port that is
 * none, a host too long for host_size, a NUL). */
static int redis_switch_addr(const redisReply *msg, const char *master, char *host,
    size_t host_size, int *port)
{
	const char *field[5], *at, *end, *space;
	size_t len[5], n = 0;

	if (msg->type != REDIS_REPLY_STRING || memchr(msg->str, '\0', msg->len) != NULL)
		return -1;
	for (at = msg->str, end = msg->str + msg->len;; at = space + 1) {
		space = memchr(at, ' ', (size_t)(end - at));
		if (n == 5)
			return -1;
		field[n] = at;
		len[n] = (size_t)((space != NULL ? space : end) - at);
		if (len[n++] == 0)
			return -1;
		if (space == NULL)
			break;
	}
	if (n != 5 || len[0] != strlen(master) || memcmp(field[0], master, len[0]) != 0 ||
	    redis_parse_port(field[2], len[2]) < 0 || len[3] >= host_size ||
	    (*port = redis_parse_port(field[4], len[4])) < 0)
		return -1;
	memcpy(host, field[3], len[3]);
	host[len[3]] = '\0';
	return 0;
}

/* Its own question, asked as it connects: an announcement made while it
 * was away is not lost. NULL when the connection went. */
static void redis_sentinel_on_master(void *arg, const redisReply *reply)
{
	struct redis *sc = arg;
	const char *host;
	int port;

	if (sc->phase >= REDIS_HELLO && redis_master_addr(reply, &host, &port) == 0)
		redis_sentinel_tell(sc, host, port, 0);
}

/* The subscription: its confirmations (the first makes the connection up,
 * the next answer its pings) and the announcements. */
static void redis_sentinel_on_message(void *arg, const redisReply *reply)
{
	struct redis *sc = arg;
	char host[REDIS_HOST_MAX + 1];
	int port;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements != 3 ||
	    !redis_is(reply->element[1], REDIS_SWITCH_CHANNEL))
		return;
	if (redis_is(reply->element[0], "subscribe")) {
		sc->pinged = 0;
		redis_hello_done(sc, 1, NULL);
		if (sc->phase == REDIS_UP)
			redis_set_timer(sc, REDIS_SENTINEL_PING_MS);
	} else if (redis_is(reply->element[0], "message") &&
	    redis_switch_addr(reply->element[2], sc->master, host, sizeof(host), &port) == 0) {
		redis_sentinel_tell(sc, host, port, 1);
	}
}

static void redis_sentinel_hello(void *ctx, struct redis *sc)
{
	const char *argv[3] = { "SENTINEL", "get-master-addr-by-name", sc->master };
	size_t lens[3] = { 8, 23, strlen(sc->master) };

	(void)ctx;
	if (redis_command(sc, 3, argv, lens, redis_sentinel_on_master, sc) != 0) {
		redis_hello_done(sc, 0, NULL);
		return;
	}
	sc->answers_due = 1;
	if (redis_subscribe(sc, "SUBSCRIBE", REDIS_SWITCH_CHANNEL, redis_sentinel_on_message,
	    sc) != 0)
		redis_hello_done(sc, 0, NULL);
}

/* Up, and quiet for a while: subscribe again, which the sentinel confirms
 * (without a second subscription), or drop it if the last went unheard. */
static void redis_sentinel_ping(struct redis *sc)
{
	if (sc->pinged || redis_subscribe(sc, "SUBSCRIBE", REDIS_SWITCH_CHANNEL,
	    redis_sentinel_on_message, sc) != 0) {
		redis_drop(sc, "the sentinel stopped answering");
		return;
	}
	sc->pinged = 1;
	redis_set_timer(sc, REDIS_HELLO_MS);
}

/* --- life ------------------------------------------------------------------ */

/* Everything but the first connection. */
static struct redis *redis_make(struct event_base *base, const struct redis_config *config,
    const struct redis_events *events)
{
	struct redis *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->base = base;
	r->events = *events;
	r->port = config->port;
	r->db = config->db;
	r->backoff_ms = REDIS_BACKOFF_MIN_MS;
	r->host = strdup(config->host ? config->host : "");
	if (config->sentinel_count > 0) {
		r->sentinels = calloc(config->sentinel_count, sizeof(*r->sentinels));
		r->master = strdup(config->master);
		for (size_t i = 0; r->sentinels != NULL && i < config->sentinel_count; i++) {
			r->sentinels[i].port = config->sentinels[i].port;
			if ((r->sentinels[i].host = strdup(config->sentinels[i].host)) == NULL)
				break;
			r->sentinel_count++;
		}
		if (r->sentinel_count != config->sentinel_count || r->master == NULL) {
			redis_free(r);
			return NULL;
		}
	}
	r->user = config->user ? strdup(config->user) : NULL;
	r->password = config->password ? strdup(config->password) : NULL;
	r->timer = evtimer_new(base, redis_on_timer, r);
	if (r->host == NULL || r->timer == NULL || (config->user && r->user == NULL) ||
	    (config->password && r->password == NULL)) {
		redis_free(r);
		return NULL;
	}
	return r;
}

struct redis *redis_new(struct event_base *base, const struct redis_config *config,
    const struct redis_events *events)
{
	struct redis *r = redis_make(base, config, events);

	if (r != NULL)
		redis_connect(r);
	return r;
}

struct redis *redis_sentinel_new(struct event_base *base, const struct redis_config *config,
    struct redis *const *followers, size_t follower_count)
{
	/* Sentinels are asked without AUTH or SELECT, as redis_ask does. */
	const struct redis_config sentinels = {
		.sentinels = config->sentinels,
		.sentinel_count = config->sentinel_count,
		.master = config->master,
	};
	const struct redis_events events = { redis_sentinel_hello, NULL, NULL };
	struct redis *sc;

	if (config->sentinel_count == 0 || (sc = redis_make(base, &sentinels, &events)) == NULL)
		return NULL;
	sc->to_sentinel = 1;
	if (follower_count > 0 &&
	    (sc->followers = calloc(follower_count, sizeof(*sc->followers))) == NULL) {
		redis_free(sc);
		return NULL;
	}
	for (size_t i = 0; i < follower_count; i++) {
		sc->followers[i] = followers[i];
		followers[i]->leader = sc;
	}
	sc->follower_count = follower_count;
	redis_connect(sc);
	return sc;
}

void redis_free(struct redis *r)
{
	redisAsyncContext *ac;

	if (r == NULL)
		return;
	/* A sentinel connection and its followers may go in any order. */
	for (size_t i = 0; i < r->follower_count; i++)
		if (r->followers[i] != NULL)
			r->followers[i]->leader = NULL;
	for (size_t i = 0; r->leader != NULL && i < r->leader->follower_count; i++)
		if (r->leader->followers[i] == r)
			r->leader->followers[i] = NULL;
	/* The callbacks hiredis runs now, with NULL, must find nothing to do. */
	r->phase = REDIS_DOWN;
	ac = r->ac;
	r->ac = NULL;
	if (ac != NULL)
		redisAsyncFree(ac);
	if ((ac = r->asking) != NULL) {
		r->asking = NULL;
		redisAsyncFree(ac);
	}
	for (size_t i = 0; i < r->sentinel_count; i++)
		free((char *)r->sentinels[i].host);
	free(r->sentinels);
	free(r->master);
	free(r->followers);
	if (r->timer != NULL)
		event_free(r->timer);
	free(r->host);
	free(r->user);
	if (r->password != NULL)
		memset(r->password, 0, strlen(r->password));
	free(r->password);
	free(r);
}
