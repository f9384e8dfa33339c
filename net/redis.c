/*
 * redis.c — one connection to one Redis server, on the relay's loop.
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

int redis_psubscribe(struct redis *r, const char *pattern, redis_reply_fn cb, void *arg)
{
	const char *argv[2] = { "PSUBSCRIBE", pattern };
	size_t lens[2] = { 10, strlen(pattern) };

	if (r->ac == NULL || r->phase < REDIS_HELLO)
		return -1;
	r->sub_fn = cb;
	r->sub_arg = arg;
	if (redisAsyncCommandArgv(r->ac, redis_on_message, r, 2, argv, lens) != REDIS_OK)
		return -1;
	r->subscribed = 1;
	return 0;
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

	if (r->sentinel_count == 0)
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

static void redis_connect_server(struct redis *r)
{
	redisAsyncContext *ac = redisAsyncConnect(r->host, r->port);

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
	if (redisLibeventAttach(ac, r->base) != REDIS_OK) {
		redis_drop(r, "cannot watch the socket");
		return;
	}
	redisAsyncSetConnectCallback(ac, redis_on_connect);
	redisAsyncSetDisconnectCallback(ac, redis_on_disconnect);
	redis_set_timer(r, REDIS_HELLO_MS);
}

/* The sentinel's answer: the master's host and port, then connect there. */
static void redis_on_master(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct redis *r = privdata;
	const redisReply *rr = reply;
	char *host;
	long port;

	if (ac != r->asking)
		return;
	r->asking = NULL;
	redisAsyncDisconnect(ac);
	r->sentinel_next = (r->sentinel_next + 1) % r->sentinel_count;
	if (rr == NULL || rr->type != REDIS_REPLY_ARRAY || rr->elements != 2 ||
	    rr->element[0]->type != REDIS_REPLY_STRING ||
	    rr->element[1]->type != REDIS_REPLY_STRING ||
	    (port = strtol(rr->element[1]->str, NULL, 10)) < 1 || port > 65535 ||
	    (host = strdup(rr->element[0]->str)) == NULL) {
		redis_down(r, "the sentinel named no master");
		return;
	}
	free(r->host);
	r->host = host;
	r->port = (int)port;
	evtimer_del(r->timer);
	redis_connect_server(r);
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
	const struct redis_endpoint *e = &r->sentinels[r->sentinel_next];
	redisAsyncContext *ac = redisAsyncConnect(e->host, e->port);

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
	if (r->sentinel_count > 0)
		redis_ask(r);
	else
		redis_connect_server(r);
}

struct redis *redis_new(struct event_base *base, const struct redis_config *config,
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
	redis_connect(r);
	return r;
}

void redis_free(struct redis *r)
{
	redisAsyncContext *ac;

	if (r == NULL)
		return;
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
	if (r->timer != NULL)
		event_free(r->timer);
	free(r->host);
	free(r->user);
	if (r->password != NULL)
		memset(r->password, 0, strlen(r->password));
	free(r->password);
	free(r);
}
