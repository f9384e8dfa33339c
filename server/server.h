/*
 * server.h — the one server object: everything the process owns.
 *
 * One libevent loop drives listeners, connections, the once-a-second tick
 * (clock and expiry) and the signals. There is no other global state: every
 * module reaches what it needs through this object.
 */
#ifndef SERVER_SERVER_H
#define SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <event2/event.h>

#include "server/config.h"
#include "server/listener.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "protocol/api.h"
#include "server/persist.h"
#include "server/wellknown.h"

struct conn;
struct transport;
struct quota_entry;

struct server {
	struct event_base *base;
	const struct config *config;
	struct log log;
	struct rng *rng;
	struct tls *tls;                /* NULL with --no-tls */
	struct store *store;
	struct api *api;
	char *public_url;
	struct listener listeners[CONFIG_MAX_LISTEN];
	size_t listener_count;
	struct conn *conns;             /* every open connection */
	size_t conn_count;
	size_t waiter_count;            /* connections parked on a long-poll */
	size_t out_pending;             /* answers not yet taken by their clients */
	size_t out_budget;              /* ... at most this much (--max-memory / 8) */
	struct ratelimit *limits;       /* per-address limits, or NULL */
	struct quota *quota;            /* connections and long-polls per address, or NULL */
	struct persist persist;         /* the state file */
	struct push *push;              /* the push gateway, or NULL */
	struct api_notifier notifier;   /* how the api reaches it */
	struct wellknown well_known;    /* --well-known files on their way to the api */
	int accept_full;                /* paused at --max-connections */
	int accept_starved;             /* paused for a moment: out of descriptors */
	int spare_fd;                   /* given up to turn a client away on EMFILE */
	int64_t starved_warned_at;      /* when the shortage was last logged */
	int stopping;                   /* SIGINT or SIGTERM received */
	struct event *tick;             /* once a second: clock, expiry */
	struct event *expire_more;      /* expiry left work for the next turn */
	struct event *accept_retry;     /* ends an out-of-descriptors pause */
	struct event *grace;            /* bounds a graceful stop */
	struct event *sigint, *sigterm, *sighup;
	/* libevent "common timeouts": O(1) timers for the fixed durations. */
	const struct timeval *handshake_tv, *header_tv, *body_tv, *idle_tv, *linger_tv;
	struct clock clock;             /* read once per loop turn (server_now) */
	struct timeval clock_turn;      /* libevent's cached time when it was read */
};

/* 0, or -1 after printing one line on stderr (the relay cannot start). */
int server_init(struct server *s, const struct config *config);
/* Serve until SIGINT or SIGTERM and every connection has finished. */
void server_run(struct server *s);
/* After the loop: write the final snapshot. 0, or -1 when it failed. */
int server_finish(struct server *s);
void server_free(struct server *s);

/* Wall-clock Unix seconds, and monotonic milliseconds (for rate limits
 * and timeouts), both read once per loop turn. */
int64_t server_now(struct server *s);
int64_t server_mono_ms(struct server *s);
/* A listener accepted a connection from peer. */
void server_accept(struct server *s, int fd, const struct sockaddr_storage *peer);
/* Serve a connection from client on fd, through transport t, holding its
 * address's connection count in quota (NULL: none); all are taken over. */
void server_conn_open(struct server *s, int fd, struct transport *t,
    const struct api_client *client, struct quota_entry *quota);
/* accept() on listen_fd ran out of descriptors or memory: turn one waiting
 * client away and pause accepting for a moment. */
void server_accept_starved(struct server *s, int listen_fd);
/* The connections' unsent answers take all the memory they may: further
 * requests are turned away (503) until clients take what they were sent. */
int server_output_full(const struct server *s);
/* A connection was freed. */
void server_conn_gone(struct server *s, struct conn *c);

#endif
