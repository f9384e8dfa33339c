/*
 * admin.h — the admin listener (--admin-listen): GET /metrics, /healthz and
 * /readyz over plain HTTP, for loopback or a private network.
 *
 * Its connections run on the API's connection code (server/conn.c: the
 * same parser, limits and deadlines) with routes of their own and none of
 * the API's; the API's listeners serve none of these. Who may connect is
 * decided at accept: a loopback peer when it listens on loopback, and any
 * peer in an --admin-allow range; anyone else is closed at once. What it
 * answers is counts and one-line states: never a mailbox identifier, a
 * claim, a token, a payload or an address.
 */
#ifndef SERVER_ADMIN_H
#define SERVER_ADMIN_H

#include <stddef.h>

#include <sys/socket.h>

#include "lib/buf.h"
#include "lib/clock.h"
#include "server/config.h"
#include "server/conn.h"
#include "server/listener.h"
#include "server/metrics.h"

/* What the admin listener needs from its owner, who keeps it while it lives. */
struct admin_context {
	struct event_base *base;
	const struct config *config;            /* admin_listen and admin_allow */
	struct metrics *metrics;                /* where refused peers are counted */
	/* Append the metrics exposition to out. */
	void (*scrape)(void *owner, struct buf *out);
	/* Non-zero when ready to serve; else 0, with why in one line. */
	int (*ready)(void *owner, char *why, size_t why_len);
	/* accept() ran out of descriptors or memory. */
	void (*starved)(void *owner, int listen_fd);
	void *owner;
};

struct admin {
	struct admin_context context;
	struct listener listener;
	struct listener_context listening;
	struct conn_context conns;      /* shared by its connections */
	const struct conn_context *api_conns;   /* the API's: its clock */
	struct conn *conn_list;
	size_t conn_count;
	int loopback;                   /* it listens on loopback */
	int open;                       /* it listens at all */
	struct buf body;                /* the answer being built */
	int64_t date_at;                /* when date was formatted */
	char date[CLOCK_HTTP_DATE_LEN + 1];
};

/* Bind and listen on --admin-listen (nothing without it): 0, or -1 with a
 * one-line reason in err. Connections are taken only once admin_start()
 * has been called. */
int admin_listen(struct admin *a, const struct admin_context *context, char *err,
    size_t err_len);
/* Serve connections with the deadlines, clock and log of the API's (their
 * context, filled in by now). */
void admin_start(struct admin *a, const struct conn_context *api_conns);
void admin_enable(struct admin *a, int enabled);
/* Close the listener and every connection. */
void admin_close(struct admin *a);

#endif
