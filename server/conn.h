/*
 * conn.h — one client connection and its state machine.
 */
#ifndef SERVER_CONN_H
#define SERVER_CONN_H

#include <event2/event.h>
#include <event2/event_struct.h>

#include "protocol/api.h"
#include "lib/buf.h"
#include "protocol/http.h"
#include "net/io.h"
#include "net/transport.h"

struct server;

enum conn_state {
	CONN_HANDSHAKE,     /* TLS handshake under way */
	CONN_READ,          /* reading requests and answering them */
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
	struct server *server;
	struct conn *next, *prev;
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
	struct api_client client;   /* the peer, as the api's rate limits see it */
	struct quota_entry *quota;  /* the peer's count of connections, or NULL */
	uint8_t readable;           /* the socket may have bytes we have not read */
	uint8_t close_after;        /* close once the answers are sent */
	uint8_t handled;            /* requests answered in this turn (budget) */
	uint32_t requests;          /* requests answered on this connection */
};

/* A new connection over an accepted socket; it starts its handshake. */
struct conn *conn_new(struct server *s, int fd, struct transport *t,
    const struct api_client *client);
/* The relay is stopping: finish what is under way, then close. Returns
 * non-zero when the connection closed at once (it has been freed). */
int conn_stop(struct conn *c);
/* Free everything the connection holds; it must not be in a callback. */
void conn_free(struct conn *c);

#endif
