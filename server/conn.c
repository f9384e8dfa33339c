/*
 * conn.c — the connection state machine (after memcached's drive_machine).
 *
 * One driver, conn_drive(), runs the step for the current state until a step
 * has to wait for the socket or a timer. Steps talk to the transport only, so
 * TLS and plain sockets take the same path; a transport that wants the other
 * readiness than the step expected (TLS reading during a write) simply gets
 * that event armed.
 *
 *   HANDSHAKE ──► READ ◄──────► WRITE ──► SHUTDOWN ──► CLOSED
 *                  │  ▲            ▲
 *                  ▼  │            │
 *                 PARKED ──────────┘   (long-poll answered)
 *
 * Input is parsed in place in one buffer per connection; answers to
 * pipelined requests collect in one output buffer and leave together. Both
 * buffers are given back while a connection idles between requests, so ten
 * thousand quiet keep-alive connections cost little more than their TLS
 * state. A connection is freed only by the callback that closed it, after the
 * driver has returned, or by the server outside any of its callbacks.
 *
 * Each answered request leaves a record (struct conn_request) for the
 * counters and the access log, filled in one place, conn_request_done(): at
 * once, or for a long-poll when its answer is finally written.
 */
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "protocol/limits.h"
#include "protocol/response.h"
#include "server/conn.h"
#include "server/metrics.h"
#include "lib/alloc.h"
#include "lib/clock.h"
#include "lib/container_of.h"

#define CONN_IN_MIN 4096
/* Requests answered per event, so one pipelining client cannot starve the
 * others. */
#define CONN_REQUESTS_PER_TURN 16
/* No further request is parsed while this much output waits for the client:
 * one that pipelines reads and never takes its answers holds one answer's
 * worth of memory, not sixteen. */
#define CONN_OUT_MAX (64 * 1024)
/* A last answer up to this size leaves with the goodbye in one send (one
 * TLS record): a handshake, one request and a close cost a call less. */
#define CONN_CORK_MAX 4096

static void conn_on_read(evutil_socket_t fd, short what, void *arg);
static void conn_on_write(evutil_socket_t fd, short what, void *arg);
static void conn_on_timer(evutil_socket_t fd, short what, void *arg);

/* Unix seconds, as the api takes them. */
static int64_t conn_now(const struct conn *c)
{
	return c->context->now(c->context->owner);
}

/* A long-poll's timer runs until its deadline on the clock: the time left
 * is the wait itself, but less once a test has moved the clock on. */
static void conn_arm_wait(struct conn *c)
{
	int64_t left_ms = c->wait_until_ms - c->context->mono_ms(c->context->owner);
	struct timeval tv;

	if (left_ms < 0)
		left_ms = 0;
	tv.tv_sec = (time_t)(left_ms / 1000);
	tv.tv_usec = (suseconds_t)(left_ms % 1000 * 1000);
	evtimer_add(&c->timer, &tv);
}

static void conn_set_timer(struct conn *c, enum conn_timer kind)
{
	const struct conn_context *ctx = c->context;
	const struct timeval *tv = NULL;

	c->timer_kind = kind;
	switch (kind) {
	case CONN_TIMER_NONE:
		evtimer_del(&c->timer);
		return;
	case CONN_TIMER_HANDSHAKE: tv = ctx->handshake_tv; break;
	case CONN_TIMER_FIRST: tv = ctx->header_tv; break;
	case CONN_TIMER_HEAD: tv = ctx->header_tv; break;
	case CONN_TIMER_BODY: tv = ctx->body_tv; break;
	case CONN_TIMER_IDLE: tv = ctx->idle_tv; break;
	case CONN_TIMER_WRITE: tv = ctx->idle_tv; break;
	case CONN_TIMER_LINGER: tv = ctx->linger_tv; break;
	case CONN_TIMER_WAIT:
		c->wait_until_ms = ctx->mono_ms(ctx->owner) + (int64_t)c->wait.wait_s * 1000;
		conn_arm_wait(c);
		return;
	}
	evtimer_add(&c->timer, tv);
}

/* Back to reading: the deadline depends on how far the request has come. */
static void conn_set_request_timer(struct conn *c)
{
	if (http_idle(&c->parser, &c->in))
		conn_set_timer(c, CONN_TIMER_IDLE);
	else
		conn_set_timer(c, http_in_body(&c->parser) ? CONN_TIMER_BODY : CONN_TIMER_HEAD);
}

/* The status of the answer that starts at offset at of the output, or 0. */
static unsigned conn_answer_status(const struct conn *c, size_t at)
{
	const char *digits;
	unsigned status = 0;

	/* Checked first: data may be NULL once the buffers are released. */
	if (c->out.len < at + 12)
		return 0;
	digits = c->out.data + at + 9;                  /* after "HTTP/1.1 " */
	for (int i = 0; i < 3; i++) {
		if (digits[i] < '0' || digits[i] > '9')
			return 0;
		status = status * 10 + (unsigned)(digits[i] - '0');
	}
	return status;
}

/* --access-log: one line per answered request. Never the path, which holds
 * the mailbox identifier, nor who asked: the route's template stands for
 * the path. (The one place this line is formatted.) */
static void conn_log_request(const struct log *log, const struct conn_request *r)
{
	log_event(log, LOG_INFO, "request",
	    LOG_STR("method", r->method == CONN_METHOD_UNKNOWN ? NULL :
	    llhttp_method_name((llhttp_method_t)r->method)),
	    LOG_STR("route", api_route_template((enum api_route)r->route)),
	    LOG_UINT("status", r->status), LOG_UINT("bytes", r->bytes),
	    LOG_INT("duration_us", r->duration_us), LOG_STR("tls", r->tls_version),
	    LOG_BOOL("resumed", r->resumed), LOG_END);
}

/* Requests are timed only for the metrics or the access log. */
static int64_t conn_clock_us(const struct conn *c)
{
	return c->context->metrics != NULL || c->context->access_log ? clock_mono_now_us() : 0;
}

/* A request is about to be answered (or to park): note what its record
 * will say, while the parser still holds it. */
static void conn_begin_answer(struct conn *c)
{
	const struct http_request *req = &c->parser.req;

	c->answering.started_us = c->read_started_us;
	c->answering.at = c->out.len;
	if (c->context->metrics == NULL && !c->context->access_log)
		return;
	c->answering.method = req->head_read ? req->method : CONN_METHOD_UNKNOWN;
	c->answering.route = (uint8_t)api_request_route(&c->in, req);
}

/* The answer to the request in c->answering is written, at now_us. */
static void conn_request_done(struct conn *c, int64_t now_us)
{
	const struct conn_context *ctx = c->context;
	struct conn_request r;

	if (ctx->metrics == NULL && !ctx->access_log)
		return;
	r.method = c->answering.method;
	r.route = c->answering.route;
	r.status = (uint16_t)conn_answer_status(c, c->answering.at);
	r.bytes = c->out.len - c->answering.at;
	r.duration_us = now_us - c->answering.started_us;
	r.tls_version = c->tls_version;
	r.resumed = c->tls_resumed;
	if (ctx->metrics != NULL)
		metrics_count_request(ctx->metrics, &r);
	if (ctx->access_log)
		conn_log_request(ctx->log, &r);
}

/* A TLS handshake is over, completed or not. */
static void conn_handshake_done(struct conn *c, int completed)
{
	struct transport_info info;

	c->transport->ops->info(c->transport, &info);
	if (!info.tls)
		return;
	if (completed) {
		c->tls_version = info.version;
		c->tls_resumed = (uint8_t)info.resumed;
	}
	if (c->context->metrics != NULL)
		metrics_count_handshake(c->context->metrics, &info, completed);
}

/* A long-poll is answered (woken, timed out, or the relay stops): count it
 * out, and its record is complete. */
static void conn_leave_parked(struct conn *c)
{
	c->context->waiter_count--;
	conn_request_done(c, conn_clock_us(c));
	if (!c->wait.keep_alive)
		c->close_after = 1;
	c->state = CONN_WRITE;
}

static void conn_close(struct conn *c)
{
	if (c->state == CONN_CLOSED)
		return;
	if (c->state == CONN_PENDING) {
		api_wait_cancel(&c->wait);
		c->context->waiter_count--;
	}
	if (c->state == CONN_PARKED) {
		api_wait_cancel(&c->wait);
		c->context->waiter_count--;
	}
	if (c->state == CONN_HANDSHAKE && c->transport != NULL)
		conn_handshake_done(c, 0);
	io_events_stop(&c->io);
	evtimer_del(&c->timer);
	c->state = CONN_CLOSED;
}

/* An idle connection keeps no buffers. */
static void conn_release_buffers(struct conn *c)
{
	if (c->in.data != NULL && http_idle(&c->parser, &c->in)) {
		free(c->in.data);
		c->in.data = NULL;
		c->in.len = c->in.parsed = 0;
		c->in_cap = 0;
		http_next(&c->parser, &c->in);
	}
	if (c->out.data != NULL && c->out.len == 0)
		buf_free(&c->out);
}

/* Room to read into, growing the buffer up to what one request may need.
 * 0, or -1 when memory is short or the buffer is at its largest. */
static int conn_make_room(struct conn *c, size_t want)
{
	size_t max = LIMITS_HEAD_MAX + c->context->max_body + CONN_IN_MIN, cap;
	char *data;

	if (c->in_cap - c->in.len >= want)
		return 0;
	http_compact(&c->parser, &c->in);
	if (c->in_cap - c->in.len >= want)
		return 0;
	if (c->in_cap >= max)
		return c->in.len < c->in_cap ? 0 : -1;
	cap = c->in_cap ? c->in_cap : CONN_IN_MIN;
	while (cap - c->in.len < want && cap < max)
		cap *= 2;
	if (cap > max)
		cap = max;
	data = realloc(c->in.data, cap);
	if (data == NULL)
		return c->in.len < c->in_cap ? 0 : -1;
	c->in.data = data;
	c->in_cap = cap;
	return 0;
}

/* Send what is queued: 0 when all is sent, 1 when the socket is full (the
 * right event is armed), -1 when the connection failed. */
static int conn_flush(struct conn *c)
{
	while (c->out_sent < c->out.len) {
		ssize_t n = c->transport->ops->write(c->transport, c->out.data + c->out_sent,
		    c->out.len - c->out_sent);

		if (n > 0) {
			c->out_sent += (size_t)n;
			continue;
		}
		if (n == TRANSPORT_WANT_WRITE) {
			io_events_arm(&c->io, c->io.reading, 1);
			return 1;
		}
		if (n == TRANSPORT_WANT_READ) {
			io_events_arm(&c->io, 1, c->io.writing);
			return 1;
		}
		return -1;
	}
	c->out.len = c->out_sent = 0;
	/* A parked long-poll's answer will be written from the start. */
	c->answering.at = 0;
	return 0;
}

static int conn_step_handshake(struct conn *c)
{
	int r = c->transport->ops->handshake(c->transport);

	if (r == 0) {
		conn_handshake_done(c, 1);
		c->state = CONN_READ;
		c->read_started_us = conn_clock_us(c);
		/* The first request often came with the handshake; when the
		 * handshake's last read emptied the socket, the socket will say
		 * when it comes. */
		c->readable = !c->transport->drained || c->transport->ops->pending(c->transport);
		io_events_arm(&c->io, 1, 0);
		conn_set_timer(c, CONN_TIMER_FIRST);
		return 0;
	}
	if (r == TRANSPORT_WANT_READ)
		io_events_arm(&c->io, 1, 0);
	else if (r == TRANSPORT_WANT_WRITE)
		io_events_arm(&c->io, 0, 1);
	else
		conn_close(c);
	return 1;
}

/* The parser or a deadline gave up on the request: answer and close. */
static void conn_fail_request(struct conn *c, int status)
{
	const struct conn_service *service = &c->context->service;

	conn_begin_answer(c);
	service->error(service->ctx, conn_now(c), &c->parser.req, &c->in, status, &c->out);
	conn_request_done(c, conn_clock_us(c));
	c->close_after = 1;
	c->state = CONN_WRITE;
}

/* Output waiting for this connection's client. */
static size_t conn_out_pending(const struct conn *c)
{
	return c->out.len - c->out_sent;
}

/* Keep the context's sum of pending output up to date; called whenever the
 * driver lets go of the connection, and when it is freed. */
static void conn_count_output(struct conn *c, size_t pending)
{
	c->context->out_pending += pending - c->out_counted;
	c->out_counted = pending;
}

/* The answer to a long-poll may be written: the relay is not already
 * holding as much unsent output as it may. */
static int conn_wait_room(struct api_wait *w)
{
	struct conn *c = container_of(w, struct conn, wait);

	return !conn_output_full(c->context);
}

/* The parked request's answer is in the output buffer. */
static void conn_wake(struct conn *c)
{
	conn_leave_parked(c);
	conn_set_timer(c, CONN_TIMER_NONE);
	/* Counted now: the next waiter woken by the same update must see it. */
	conn_count_output(c, conn_out_pending(c));
	/* Answer from this connection's own callback, not from inside the
	 * request that woke it. */
	event_active(&c->io.write_ev, EV_WRITE, 0);
}

static void conn_wait_ready(struct api_wait *w)
{
	conn_wake(container_of(w, struct conn, wait));
}

/* Debug logs name the method and the status, never the path: it holds the
 * mailbox identifier. */
static void conn_log_answer(struct conn *c, uint8_t method, enum api_result result)
{
	unsigned status = conn_answer_status(c, c->answering.at);

	if (result == API_PARKED)
		log_event(c->context->log, LOG_DEBUG, "request parked",
		    LOG_STR("method", llhttp_method_name((llhttp_method_t)method)),
		    LOG_UINT("wait_s", c->wait.wait_s), LOG_END);
	else if (status != 0)
		log_event(c->context->log, LOG_DEBUG, "request answered",
		    LOG_STR("method", llhttp_method_name((llhttp_method_t)method)),
		    LOG_UINT("status", status), LOG_UINT("request", c->requests), LOG_END);
}

static void conn_answered(struct conn *c, enum api_result result, int close);

/* A whole request is in: answer it. */
static void conn_answer(struct conn *c)
{
	struct conn_context *ctx = c->context;
	const struct conn_service *service = &ctx->service;
	enum api_result result = API_DONE;
	int close = 0;

	c->handled++;
	c->requests++;
	c->client.now_ms = ctx->mono_ms(ctx->owner);
	conn_begin_answer(c);
	if (conn_output_full(ctx)) {
		/* Clients that do not read their answers hold the whole
		 * budget: turn this one away until they are gone. */
		service->error(service->ctx, conn_now(c), &c->parser.req, &c->in, 503, &c->out);
		close = 1;
	} else {
		/* No room for another long-poll: the api answers 503. */
		c->wait.may_park = ctx->waiter_count < ctx->max_waiters;
		result = service->handle(service->ctx, conn_now(c), &c->client, &c->parser.req,
		    &c->in, &c->out, &c->wait, &close);
	}
	if (result == API_PENDING) {
		/* The store answers later: hold this request where it is, read
		 * nothing more, and let no deadline of reading run. It holds a
		 * waiter's place meanwhile: its answer may park it, and
		 * --max-waiters must hold for those too. */
		c->state = CONN_PENDING;
		ctx->waiter_count++;
		conn_set_timer(c, CONN_TIMER_NONE);
		return;
	}
	conn_answered(c, result, close);
}

/* The store's answer came, and the request's is in the output buffer (or
 * the request parked): go on as if it had come at once, from this
 * connection's own callback. */
static void conn_wait_answered(struct api_wait *w, enum api_result result, int close)
{
	struct conn *c = container_of(w, struct conn, wait);
	/* Only conn_stop sets it while a request waits: the relay is stopping. */
	int stopping = c->close_after;

	c->context->waiter_count--;
	c->state = CONN_READ;
	conn_answered(c, result, close);
	if (c->state == CONN_PARKED && stopping) {
		/* Parked after the stop's round: answered now, as it would
		 * have been. */
		api_wait_timeout(&c->wait, 1);
		c->close_after = 1;
		conn_wake(c);
		return;
	}
	/* Parked or not, the driver takes over: a parked connection watches
	 * its socket again (a client that goes is seen). */
	event_active(&c->io.write_ev, EV_WRITE, 0);
}

/* What follows an answer: the request is done with, or parked. */
static void conn_answered(struct conn *c, enum api_result result, int close)
{
	struct conn_context *ctx = c->context;
	uint8_t method = c->parser.req.method;
	int64_t now_us;

	now_us = conn_clock_us(c);
	if (result != API_PARKED)
		conn_request_done(c, now_us);
	http_next(&c->parser, &c->in);
	/* Pipelined bytes of the next request are here already. */
	if (!http_idle(&c->parser, &c->in))
		c->read_started_us = now_us;
	if (ctx->log->level >= LOG_DEBUG)
		conn_log_answer(c, method, result);
	if (close)
		c->close_after = 1;
	if (result == API_PARKED) {
		ctx->waiter_count++;
		c->state = CONN_PARKED;
		conn_set_timer(c, CONN_TIMER_WAIT);
		return;
	}
	conn_set_request_timer(c);
	if (c->close_after || c->handled >= CONN_REQUESTS_PER_TURN ||
	    conn_out_pending(c) >= CONN_OUT_MAX)
		c->state = CONN_WRITE;
}

static int conn_step_read(struct conn *c)
{
	const struct transport_ops *ops = c->transport->ops;

	for (;;) {
		ssize_t n;

		switch (http_parse(&c->parser, &c->in)) {
		case HTTP_PARSE_HEAD:
			conn_set_timer(c, CONN_TIMER_BODY);
			/* Room for a body of known length in one go (the parser
			 * has already refused one over --max-body). */
			if (!http_body_is_chunked(&c->parser) &&
			    conn_make_room(c, http_content_length(&c->parser)) != 0) {
				conn_close(c);
				return 1;
			}
			/* Tell a waiting client to send the body, unless it has
			 * already started to. */
			if (c->parser.req.expect_continue && c->in.parsed == c->in.len) {
				response_continue(&c->out);
				c->state = CONN_WRITE;
				return 0;
			}
			continue;
		case HTTP_PARSE_DONE:
			conn_answer(c);
			if (c->state != CONN_READ)
				return 0;
			continue;
		case HTTP_PARSE_ERROR:
			conn_fail_request(c, c->parser.error_status);
			return 0;
		case HTTP_PARSE_MORE:
			break;
		}
		/* Answers go out before more input is read. */
		if (c->out.len > c->out_sent) {
			c->state = CONN_WRITE;
			return 0;
		}
		if (!http_idle(&c->parser, &c->in) &&
		    (c->timer_kind == CONN_TIMER_FIRST || c->timer_kind == CONN_TIMER_IDLE))
			conn_set_timer(c, CONN_TIMER_HEAD);
		if (!c->readable && !ops->pending(c->transport)) {
			conn_release_buffers(c);
			io_events_arm(&c->io, 1, c->io.writing);
			return 1;
		}
		if (conn_make_room(c, 1024) != 0) {
			conn_close(c);
			return 1;
		}
		n = ops->read(c->transport, c->in.data + c->in.len, c->in_cap - c->in.len);
		if (n > 0) {
			if (http_idle(&c->parser, &c->in))
				c->read_started_us = conn_clock_us(c);
			c->in.len += (size_t)n;
			/* The socket is empty: wait for it rather than ask again. */
			if (c->transport->drained && !ops->pending(c->transport))
				c->readable = 0;
			continue;
		}
		if (n == TRANSPORT_WANT_READ) {
			c->readable = 0;
			continue;
		}
		if (n == TRANSPORT_WANT_WRITE) {
			io_events_arm(&c->io, 0, 1);
			return 1;
		}
		/* End of stream or a broken connection: nobody to answer. */
		conn_close(c);
		return 1;
	}
}

static int conn_step_write(struct conn *c)
{
	int r;

	if (c->close_after && conn_out_pending(c) <= CONN_CORK_MAX)
		c->transport->ops->cork(c->transport);
	r = conn_flush(c);

	if (r < 0) {
		conn_close(c);
		return 1;
	}
	if (r > 0) {
		/* Hold input until the client takes what it was sent. */
		io_events_arm(&c->io, c->io.writing ? 0 : 1, c->io.writing);
		if (c->timer_kind != CONN_TIMER_WRITE)
			conn_set_timer(c, CONN_TIMER_WRITE);
		return 1;
	}
	if (c->close_after) {
		c->state = CONN_SHUTDOWN;
		conn_set_timer(c, CONN_TIMER_LINGER);
		return 0;
	}
	c->state = CONN_READ;
	io_events_arm(&c->io, 1, 0);
	if (c->timer_kind == CONN_TIMER_WRITE || c->timer_kind == CONN_TIMER_NONE)
		conn_set_request_timer(c);
	if (c->handled >= CONN_REQUESTS_PER_TURN) {
		/* Budget spent: carry on in a later turn of the loop. */
		c->readable = 1;
		event_active(&c->io.read_ev, EV_READ, 0);
		return 1;
	}
	return 0;
}

/* While a long-poll waits, send any earlier answers and watch for the client
 * leaving; what it sends meanwhile is kept for later. */
/* Send earlier answers while a request waits: 0, with *blocked set when
 * the socket takes no more, or -1 when the connection is closed. */
static int conn_flush_while_waiting(struct conn *c, int *blocked)
{
	int r;

	*blocked = 0;
	if (c->out.len == c->out_sent)
		return 0;
	r = conn_flush(c);
	if (r < 0) {
		conn_close(c);
		return -1;
	}
	*blocked = r > 0;
	return 0;
}

/* Earlier answers may still go out; nothing comes in, so that the request
 * the store has stays where it is. */
static int conn_step_pending(struct conn *c)
{
	int blocked;

	if (conn_flush_while_waiting(c, &blocked) == 0)
		io_events_arm(&c->io, 0, blocked);
	return 1;
}

static int conn_step_parked(struct conn *c)
{
	int blocked;

	if (conn_flush_while_waiting(c, &blocked) != 0)
		return 1;
	while (c->readable) {
		ssize_t n;

		if (conn_make_room(c, 1) != 0) {
			/* Full: stop reading until the wait is over. */
			io_events_arm(&c->io, 0, blocked);
			return 1;
		}
		n = c->transport->ops->read(c->transport, c->in.data + c->in.len,
		    c->in_cap - c->in.len);
		if (n > 0) {
			if (http_idle(&c->parser, &c->in))
				c->read_started_us = conn_clock_us(c);
			c->in.len += (size_t)n;
		} else if (n == TRANSPORT_WANT_READ) {
			c->readable = 0;
		} else if (n == TRANSPORT_WANT_WRITE) {
			io_events_arm(&c->io, 0, 1);
			return 1;
		} else {
			conn_close(c);
			return 1;
		}
	}
	conn_release_buffers(c);
	io_events_arm(&c->io, 1, blocked);
	return 1;
}

/* Say goodbye (TLS close_notify), stop sending, and read until the client
 * closes too, so that its unread bytes cannot make the kernel reset the
 * connection before it has read our last answer. */
static int conn_step_shutdown(struct conn *c)
{
	char sink[4096];

	if (c->transport != NULL) {
		int r = c->transport->ops->shutdown(c->transport);

		if (r == TRANSPORT_WANT_WRITE || r == TRANSPORT_WANT_READ) {
			io_events_arm(&c->io, r == TRANSPORT_WANT_READ, r == TRANSPORT_WANT_WRITE);
			return 1;
		}
		c->transport->ops->free(c->transport);
		c->transport = NULL;
		shutdown(c->fd, SHUT_WR);
		/* The client answers the goodbye only once it has it: wait
		 * for the socket to say so rather than ask at once. */
		io_events_arm(&c->io, 1, 0);
		return 1;
	}
	for (;;) {
		ssize_t n = transport_recv(c->fd, sink, sizeof(sink));

		if (n > 0 && (size_t)n == sizeof(sink))
			continue;
		if (n > 0) {
			/* That was all there was. */
			io_events_arm(&c->io, 1, 0);
			return 1;
		}
		if (n < 0 && transport_would_block()) {
			io_events_arm(&c->io, 1, 0);
			return 1;
		}
		conn_close(c);
		return 1;
	}
}

static void conn_drive(struct conn *c)
{
	int stop = 0;

	c->handled = 0;
	while (!stop) {
		switch (c->state) {
		case CONN_HANDSHAKE: stop = conn_step_handshake(c); break;
		case CONN_READ: stop = conn_step_read(c); break;
		case CONN_PENDING: stop = conn_step_pending(c); break;
		case CONN_PARKED: stop = conn_step_parked(c); break;
		case CONN_WRITE: stop = conn_step_write(c); break;
		case CONN_SHUTDOWN: stop = conn_step_shutdown(c); break;
		case CONN_CLOSED: stop = 1; break;
		}
	}
	conn_count_output(c, c->state == CONN_CLOSED ? 0 : conn_out_pending(c));
}

static void conn_timeout(struct conn *c)
{
	enum conn_timer kind = c->timer_kind;

	c->timer_kind = CONN_TIMER_NONE;
	switch (kind) {
	case CONN_TIMER_FIRST:
	case CONN_TIMER_HEAD:
	case CONN_TIMER_BODY:
		if (c->state == CONN_READ) {
			conn_fail_request(c, 408);
			break;
		}
		conn_close(c);
		break;
	case CONN_TIMER_WAIT:
		if (c->state == CONN_PARKED) {
			api_wait_timeout(&c->wait, 0);
			conn_leave_parked(c);
		}
		break;
	default:
		conn_close(c);
		break;
	}
}

/* Every callback ends here: the connection is freed only after the driver
 * has let go of it. */
static void conn_after_event(struct conn *c)
{
	if (c->state == CONN_CLOSED)
		conn_free(c);
}

static void conn_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	c->readable = 1;
	conn_drive(c);
	conn_after_event(c);
}

static void conn_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	conn_drive(c);
	conn_after_event(c);
}

static void conn_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct conn *c = arg;

	(void)fd;
	(void)what;
	conn_timeout(c);
	conn_drive(c);
	conn_after_event(c);
}

struct conn *conn_new(struct conn_context *context, int fd, struct transport *t,
    const struct api_client *client)
{
	struct conn *c = xcalloc(1, sizeof(*c));
	int one = 1;

	/* Answers are written whole; do not hold them back for more. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	c->context = context;
	c->fd = fd;
	c->transport = t;
	c->client = *client;
	c->state = CONN_HANDSHAKE;
	io_events_assign(&c->io, context->base, fd, conn_on_read, conn_on_write, c);
	evtimer_assign(&c->timer, context->base, conn_on_timer, c);
	http_parser_init(&c->parser, LIMITS_HEAD_MAX, context->max_body);
	buf_init(&c->out);
	c->wait.out = &c->out;
	c->wait.ready = conn_wait_ready;
	c->wait.answered = conn_wait_answered;
	c->wait.room = conn_wait_room;
	conn_set_timer(c, CONN_TIMER_HANDSHAKE);
	io_events_arm(&c->io, 1, 0);
	return c;
}

int conn_stop(struct conn *c)
{
	switch (c->state) {
	case CONN_HANDSHAKE:
		break;
	case CONN_READ:
		if (!http_idle(&c->parser, &c->in) || c->out.len > c->out_sent) {
			c->close_after = 1;
			return 0;
		}
		break;
	case CONN_PENDING:
		/* The store answers within its timeout; then the goodbye. */
		c->close_after = 1;
		return 0;
	case CONN_PARKED:
		api_wait_timeout(&c->wait, 1);
		c->close_after = 1;
		conn_wake(c);
		return 0;
	case CONN_WRITE:
		c->close_after = 1;
		return 0;
	case CONN_SHUTDOWN:
		return 0;
	case CONN_CLOSED:
		break;
	}
	conn_close(c);
	conn_free(c);
	return 1;
}

void conn_free(struct conn *c)
{
	conn_close(c);
	conn_count_output(c, 0);
	if (c->transport != NULL)
		c->transport->ops->free(c->transport);
	close(c->fd);
	free(c->in.data);
	buf_free(&c->out);
	c->context->gone(c->context->owner, c);
	free(c);
}

void conn_list_add(struct conn **list, struct conn *c)
{
	c->prev = NULL;
	c->next = *list;
	if (*list != NULL)
		(*list)->prev = c;
	*list = c;
}

void conn_list_remove(struct conn **list, struct conn *c)
{
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		*list = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	c->next = c->prev = NULL;
}

void conn_clock_moved(struct conn *c)
{
	if (c->timer_kind == CONN_TIMER_WAIT)
		conn_arm_wait(c);
}

int conn_output_full(const struct conn_context *context)
{
	return context->out_pending >= context->out_budget;
}
