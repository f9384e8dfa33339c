/*
 * server.h — the one server object: everything the process owns.
 *
 * One libevent loop drives listeners, connections, the once-a-second tick
 * (clock and expiry) and the signals. There is no other global state. The
 * modules below it (listener, conn, persist, push, admin) never see this object:
 * each gets a small context of what it needs, callbacks included, that
 * server.c fills in.
 */
#ifndef SERVER_SERVER_H
#define SERVER_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <sys/socket.h>
#include <sys/time.h>

#include <event2/event.h>

#include "server/admin.h"
#include "server/config.h"
#include "server/conn.h"
#include "server/listener.h"
#include "server/metrics.h"
#include "lib/clock.h"
#include "lib/log.h"
#include "protocol/api.h"
#include "server/persist.h"
#include "server/push.h"
#include "server/testclock.h"
#include "server/wellknown.h"

struct transport;
struct quota_entry;

struct server {
	struct event_base *base;
	const struct config *config;
	struct log log;
	struct rng *rng;
	struct tls *tls;                /* NULL with --no-tls */
	struct store *store;
	struct redis_store *redis;      /* --store redis://, or NULL */
	struct access_store access;     /* how the api asks it */
	struct api *api;
	char *public_url;
	struct listener_context listening;      /* what the listeners call back */
	struct listener listeners[CONFIG_MAX_LISTEN];
	size_t listener_count;
	struct conn_context conn_context;       /* shared by every connection */
	struct conn *conns;             /* every open connection */
	size_t conn_count;
	struct ratelimit *limits;       /* per-address limits, or NULL */
	struct quota *quota;            /* connections and long-polls per address, or NULL */
	struct persist persist;         /* the state file */
	struct push_context push_context;
	struct push *push;              /* the push gateway, or NULL */
	struct api_notifier notifier;   /* how the api reaches it */
	struct wellknown well_known;    /* --well-known files on their way to the api */
	struct metrics metrics;         /* what the admin listener's /metrics shows */
	struct admin admin;             /* --admin-listen */
	int accept_full;                /* paused at --max-connections */
	int accept_starved;             /* paused for a moment: out of descriptors */
	int spare_fd;                   /* given up to turn a client away on EMFILE */
	int64_t starved_warned_at;      /* when the shortage was last logged */
	int stopping;                   /* SIGINT or SIGTERM received */
	int64_t refusals_second;        /* the monotonic second 429s and 503s were last logged */
	uint64_t refusals_logged[API_REFUSALS];         /* how many of each were by then */
	struct event *tick;             /* once a second: clock, expiry */
	struct event *expire_more;      /* expiry left work for the next turn */
	struct event *accept_retry;     /* ends an out-of-descriptors pause */
	struct event *grace;            /* bounds a graceful stop */
	struct event *sigint, *sigterm, *sighup;
	struct event *sigusr2;          /* RELAY_TEST_CLOCK only, else NULL */
	struct clock clock;             /* read once per loop turn (server_now) */
	struct timeval clock_turn;      /* libevent's cached time when it was read */
	unsigned speedup;               /* RELAY_TEST_SPEEDUP (tests only), or 0 */
	struct testclock test_clock;    /* RELAY_TEST_CLOCK (tests only), or off */
};

/* 0, or -1 after logging one line (the relay cannot start). */
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
/* Fill in s->conn_context from s's loop, config, log, api and metrics
 * (server_init does; so does the tests' connection simulator, which builds
 * its server by hand). */
void server_init_conns(struct server *s);
/* Serve a connection from client on fd, through transport t, holding its
 * address's connection count in quota (NULL: none); all are taken over. */
void server_conn_open(struct server *s, int fd, struct transport *t,
    const struct api_client *client, struct quota_entry *quota);

#endif
