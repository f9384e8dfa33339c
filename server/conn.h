/*
 * conn.h — one client connection and its state machine.
 *
 * A connection knows its owner only through struct conn_context: the loop,
 * what answers its requests (the relay API, or the admin endpoints), the
 * limits and deadlines, a clock, where requests are counted and one
 * callback for when it is freed. The counts of parked long-polls and of
 * unsent output are sums over every connection, so they live in the context
 * too, where the owner reads them.
 */
#ifndef SERVER_CONN_H
#define SERVER_CONN_H

#include <stddef.h>
#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

#include "protocol/api.h"
#include "lib/buf.h"
#include "lib/log.h"
#include "protocol/http.h"
#include "net/io.h"
#include "net/transport.h"

struct conn;
struct metrics;

/* What answers a connection's requests, called as api_handle() and
 * api_error() are (protocol/api.h); ctx is theirs. */
struct conn_service {
	enum api_result (*handle)(void *ctx, int64_t now, const struct api_client *client,
	    const struct http_request *req, const struct http_input *in, struct buf *out,
	    struct api_wait *wait, int *close);
	void (*error)(void *ctx, int64_t now, const struct http_request *req,
	    const struct http_input *in, int status, struct buf *out);
	void *ctx;
};

/* One answered request, as the counters and the access log see it: what
 * was asked and how it went, never who asked nor which mailbox. */
struct conn_request {
	uint8_t method;             /* enum llhttp_method, or CONN_METHOD_UNKNOWN */
	uint8_t route;              /* enum api_route */
	uint16_t status;
	size_t bytes;               /* of the answer, head and body */
	int64_t duration_us;        /* from its first byte in to its answer written */
	const char *tls_version;    /* "TLSv1.3", "TLSv1.2", or NULL: plain HTTP */
	uint8_t resumed;            /* its TLS session was resumed from a ticket */
};
/* The request was given up on before its method was read. */
#define CONN_METHOD_UNKNOWN 0xff

/* What every connection shares; its owner fills it in before the first
 * conn_new() and keeps it for as long as connections live. */
struct conn_context {
	struct event_base *base;
	const struct log *log;
	struct conn_service service;
	/* Answered requests and TLS handshakes are counted here (NULL: not
	 * counted, nor logged: the admin listener's). */
	struct metrics *metrics;
	int access_log;                 /* --access-log: a line per request */
	size_t max_body;                /* --max-body */
	size_t max_waiters;             /* --max-waiters */
	/* libevent "common timeouts": O(1) timers for the fixed durations. */
	const struct timeval *handshake_tv, *header_tv, *body_tv, *idle_tv, *linger_tv;
	size_t waiter_count;            /* connections parked on a long-poll */
	size_t out_pending;             /* answers not yet taken by their clients */
	size_t out_budget;              /* ... at most this much */
	/* Read once per loop turn: wall-clock Unix seconds (expiry, the Date
	 * header) and monotonic milliseconds (rate limits). */
	int64_t (*now)(void *owner);
	int64_t (*mono_ms)(void *owner);
	/* c is being freed: it holds no descriptor, timer or count any more. */
	void (*gone)(void *owner, struct conn *c);
	void *owner;
};

enum conn_state {
	CONN_HANDSHAKE,     /* TLS handshake under way */
	CONN_READ,          /* reading requests and answering them */
	CONN_PENDING,       /* the store has the request: its bytes stay, nothing is read */
	CONN_PARKED,        /* a long-poll waits on a mailbox; later input is held */
	CONN_WRITE,         /* answers are being sent; input is held until they are */
	CONN_SHUTDOWN,      /* the last answer is sent: say goodbye, drain input */
	CONN_CLOSED         /* finished; freed by whoever closed it, at a safe point */
};

/* Which deadline the connection's one timer stands for. */
enum conn_timer {
	CONN_TIMER_NONE,
	CONN_TIMER_HANDSHAKE,
	CONN_TIMER_FIRST,   /* the first request has not begun to arrive */
	CONN_TIMER_IDLE,    /* between requests on a kept-alive connection */
	CONN_TIMER_HEAD,    /* a request head is arriving */
	CONN_TIMER_BODY,    /* a request body is arriving */
	CONN_TIMER_WAIT,    /* a parked long-poll */
	CONN_TIMER_WRITE,   /* the client is not taking our answer */
	CONN_TIMER_LINGER   /* draining input after the last answer */
};

struct conn {
	struct conn_context *context;
	struct conn *next, *prev;   /* the owner's list */
	struct transport *transport;
	int fd;
	enum conn_state state;
	enum conn_timer timer_kind;
	struct io_events io;
	struct event timer;
	struct http_parser parser;
	struct http_input in;
	size_t in_cap;
	struct buf out;
	size_t out_sent;
	size_t out_counted;         /* of out, what the server's sum holds */
	struct api_wait wait;
	int64_t wait_until_ms;      /* a parked long-poll's deadline (mono_ms) */
	struct api_client client;   /* the peer, as the api's rate limits see it */
	struct quota_entry *quota;  /* the peer's count of connections, or NULL */
	const char *tls_version;    /* as agreed in the handshake; NULL: plain */
	uint8_t tls_resumed;
	int64_t read_started_us;    /* the request being read began to arrive */
	/* The request being answered, until its answer is written (a parked
	 * long-poll's stays here while it waits), for its record. */
	struct {
		int64_t started_us;
		size_t at;              /* where its answer starts in out */
		uint8_t method, route;  /* as in struct conn_request */
	} answering;
	uint8_t readable;           /* the socket may have bytes we have not read */
	uint8_t close_after;        /* close once the answers are sent */
	uint8_t handled;            /* requests answered in this turn (budget) */
	uint32_t requests;          /* requests answered on this connection */
};

/* A new connection over an accepted socket; it starts its handshake. */
struct conn *conn_new(struct conn_context *context, int fd, struct transport *t,
    const struct api_client *client);
/* The relay is stopping: finish what is under way, then close. Returns
 * non-zero when the connection closed at once (it has been freed). */
int conn_stop(struct conn *c);
/* Free everything the connection holds; it must not be in a callback. */
void conn_free(struct conn *c);
/* An owner's list of its connections, through their next and prev. */
void conn_list_add(struct conn **list, struct conn *c);
void conn_list_remove(struct conn **list, struct conn *c);
/* Tests only: the clock has moved on (RELAY_TEST_CLOCK); a long-poll
 * whose deadline has passed ends now, as if that time had gone by. Other
 * timeouts are real time (RELAY_TEST_SPEEDUP shortens those). */
void conn_clock_moved(struct conn *c);
/* The connections' unsent answers take all the memory they may: further
 * requests are turned away (503) until clients take what they were sent. */
int conn_output_full(const struct conn_context *context);

#endif
