/*
 * redis.h — one connection to one Redis server, on the relay's loop.
 *
 * hiredis's asynchronous client through its libevent adapter. The
 * connection introduces itself (AUTH, SELECT) and then runs the owner's
 * hello() (to load scripts, subscribe) before it counts as up; commands
 * sent meanwhile are refused, not queued, so that nothing waits on a server
 * that may never come. When the connection goes, every command still
 * unanswered gets its callback with reply NULL, and it comes back by itself
 * after a pause that doubles up to a few seconds. A READONLY error (the
 * server was made a replica in a failover) drops the connection too, so
 * that the next one goes to the new master.
 *
 * With Sentinel, a sentinel connection listens to the sentinels'
 * +switch-master and makes the connections that follow it ask again when
 * a failover moved the master, before anything fails on them.
 */
#ifndef NET_REDIS_H
#define NET_REDIS_H

#include <stddef.h>

struct event_base;
struct redisReply;
struct redis;

struct redis_endpoint {
	const char *host;
	int port;
};

struct redis_config {
	const char *host;           /* the server (without Sentinel) */
	int port;
	/* With Sentinel: the server is whichever these say is master of
	 * `master`, asked again at each connect, and it must say it is (ROLE);
	 * host and port are not used. */
	const struct redis_endpoint *sentinels;
	size_t sentinel_count;
	const char *master;
	int db;                     /* SELECT, when not 0 */
	const char *user;           /* AUTH user password (Redis 6 ACLs), or NULL */
	const char *password;       /* AUTH password, or NULL */
};

/* reply is NULL when the connection went before it came: the command may
 * or may not have run. */
typedef void (*redis_reply_fn)(void *arg, const struct redisReply *reply);

struct redis_events {
	/* The connection is introduced: send what must precede every command
	 * (redis_command works here), then call redis_hello_done() once their
	 * answers are in, with 0 for up or -1 to start again later. */
	void (*hello)(void *ctx, struct redis *r);
	/* Up (1) or down (0), each time it changes, and down the first time
	 * a connection fails; why names the error. */
	void (*state)(void *ctx, int up, const char *why);
	void *ctx;
};

/* Connects at once (and again whenever the connection goes) until freed.
 * config's strings are copied. NULL when memory runs out. */
struct redis *redis_new(struct event_base *base, const struct redis_config *config,
    const struct redis_events *events);
/* With Sentinel (config->sentinel_count > 0, else NULL): one connection to
 * one sentinel at a time (the next after a failure), subscribed to
 * +switch-master, that asks the master's address as it connects too. When
 * a sentinel names another master than the one a follower is on, the
 * follower connects again, asking first that sentinel: what is announced
 * is checked like any answer (ROLE), never connected to as such. The
 * followers are redis_new's of the same config, each following one
 * sentinel connection at most. Only redis_free applies to it; it and its
 * followers may be freed in any order. NULL when memory runs out. */
struct redis *redis_sentinel_new(struct event_base *base, const struct redis_config *config,
    struct redis *const *followers, size_t follower_count);
/* Every unanswered command gets its callback with NULL first. */
void redis_free(struct redis *r);

int redis_up(const struct redis *r);
/* Drop the connection (from the loop, soon) and connect again: the owner
 * judged the server hung. */
void redis_reset(struct redis *r, const char *why);
/* why: what went wrong when not ok (NULL: nothing said), for the log. */
void redis_hello_done(struct redis *r, int ok, const char *why);

/* PSUBSCRIBE pattern (from hello): the connection takes no other command
 * after it, and cb hears every message, as hiredis hands it (an array of
 * "pmessage", the pattern, the channel, the message), until the connection
 * goes; then cb gets NULL once. One subscription per connection. 0 or -1. */
int redis_psubscribe(struct redis *r, const char *pattern, redis_reply_fn cb, void *arg);

/* Send one command of argc binary-safe arguments. 0, or -1 when the
 * connection is not up (then cb is not called). */
int redis_command(struct redis *r, int argc, const char **argv, const size_t *lens,
    redis_reply_fn cb, void *arg);

#endif
