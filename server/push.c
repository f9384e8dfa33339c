/*
 * push.c — the gorush client: a bounded queue and one connection, both
 * driven by the event loop.
 *
 *   IDLE ──► CONNECTING ──► HANDSHAKE ──► READY ──► SENDING ──► RECEIVING
 *     ▲                                     ▲                      │
 *     └──────────── BACKOFF ◄───────────────┴──────────────────────┘
 *
 * A batch of at most PUSH_BATCH_MAX tokens is one POST /api/push. A 5xx or
 * 429 answer, a broken connection, garbage or a timeout sends the same batch
 * again after 1, 2, 4 … seconds (or the gateway's Retry-After), at most
 * --push-retries times; then the batch is given up. gorush's per-token
 * failure reports of an invalid or unregistered token make the relay forget
 * that token. Nothing here ever blocks: a slow or dead gateway only makes
 * the queue longer, and the queue is bounded (the oldest push goes first).
 * No log line holds a token.
 */
#include <errno.h>
#include <netdb.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <jansson.h>

#include "protocol/limits.h"
#include "protocol/response_parser.h"
#include "lib/buf.h"
#include "lib/clock.h"
#include "protocol/response.h"
#include "net/io.h"
#include "server/config.h"
#include "server/push.h"
#include "net/tls.h"
#include "net/hostport.h"
#include "net/transport.h"

#define PUSH_BATCH_MAX 100
#define PUSH_TIMEOUT_S 10
#define PUSH_RESPONSE_MAX (1u << 20)
#define PUSH_RETRY_AFTER_MAX 3600

enum push_state {
	PUSH_IDLE,          /* no connection */
	PUSH_CONNECTING,    /* TCP connect under way */
	PUSH_HANDSHAKE,     /* TLS handshake under way */
	PUSH_READY,         /* connected, nothing in flight */
	PUSH_SENDING,       /* writing a request */
	PUSH_RECEIVING,     /* reading its answer */
	PUSH_BACKOFF        /* waiting before the batch is tried again */
};

struct push_item {
	uint8_t id[MAILBOX_ID_LEN];
	uint8_t party;
	uint16_t type_len, data_len;
	unsigned platform;
	char *token;        /* type, then data */
};

struct push {
	const struct push_context *context;
	char path[512];                 /* the gateway's base path + /api/push */
	char host_header[300];
	struct sockaddr_storage addr;
	socklen_t addr_len;
	struct tls_client *tls;         /* https gateway, else NULL */
	struct push_item *ring;         /* the queue, oldest at ring_head */
	size_t ring_head, ring_count, ring_cap;
	struct push_item batch[PUSH_BATCH_MAX];
	size_t batch_count;
	unsigned attempts;              /* failed tries of the batch */
	enum push_state state;
	int fd;
	struct transport *t;
	struct io_events io;
	struct event timer, kick;
	struct buf out;
	size_t out_sent;
	struct response_parser answer;
	struct buf body;
	char last_error[160];
	struct push_stats stats;
};

static void push_drive(struct push *p);
static void push_on_read(evutil_socket_t fd, short what, void *arg);
static void push_on_write(evutil_socket_t fd, short what, void *arg);

/* --- the queue ---------------------------------------------------------- */

static void push_item_free(struct push_item *item)
{
	free(item->token);
	item->token = NULL;
}

int push_supports(const struct push *p, const char *type, size_t type_len)
{
	return config_push_platform(p->context->config, type, type_len) != 0;
}

void push_enqueue(struct push *p, const uint8_t id[MAILBOX_ID_LEN], enum mailbox_party party,
    const struct mailbox_token *token)
{
	unsigned platform = config_push_platform(p->context->config, mailbox_token_type(token),
	    token->type_len);
	struct push_item *item;

	if (platform == 0)
		return;
	if (p->ring_count == p->ring_cap) {
		/* Full: the oldest push is the least likely to still matter. */
		push_item_free(&p->ring[p->ring_head]);
		p->ring_head = (p->ring_head + 1) % p->ring_cap;
		p->ring_count--;
		p->stats.dropped++;
	}
	item = &p->ring[(p->ring_head + p->ring_count) % p->ring_cap];
	item->token = malloc((size_t)token->type_len + token->data_len);
	if (item->token == NULL) {
		p->stats.dropped++;
		return;
	}
	memcpy(item->token, token->bytes, (size_t)token->type_len + token->data_len);
	memcpy(item->id, id, MAILBOX_ID_LEN);
	item->party = (uint8_t)party;
	item->type_len = token->type_len;
	item->data_len = token->data_len;
	item->platform = platform;
	p->ring_count++;
	/* After the request that queued it has been answered. */
	if (p->state == PUSH_IDLE || p->state == PUSH_READY)
		event_active(&p->kick, EV_TIMEOUT, 0);
}

struct push_stats push_stats(const struct push *p)
{
	struct push_stats s = p->stats;

	s.queued = p->ring_count + p->batch_count;
	return s;
}

/* Move up to PUSH_BATCH_MAX queued pushes into the batch. */
static void push_take_batch(struct push *p)
{
	while (p->batch_count < PUSH_BATCH_MAX && p->ring_count > 0) {
		p->batch[p->batch_count++] = p->ring[p->ring_head];
		p->ring[p->ring_head].token = NULL;
		p->ring_head = (p->ring_head + 1) % p->ring_cap;
		p->ring_count--;
	}
	p->attempts = 0;
}

static void push_clear_batch(struct push *p)
{
	for (size_t i = 0; i < p->batch_count; i++)
		push_item_free(&p->batch[i]);
	p->batch_count = 0;
	p->attempts = 0;
}

/* --- the connection ----------------------------------------------------- */

static void push_disconnect(struct push *p)
{
	io_events_stop(&p->io);
	if (p->t != NULL) {
		p->t->ops->free(p->t);
		p->t = NULL;
	}
	if (p->fd >= 0) {
		close(p->fd);
		p->fd = -1;
	}
	p->out.len = p->out_sent = 0;
}

static void push_set_timer(struct push *p, unsigned seconds)
{
	struct timeval tv = clock_timer(seconds, p->context->speedup);

	evtimer_add(&p->timer, &tv);
}

/* The batch did not get through: try it again later, or give it up. */
static void push_retry(struct push *p, unsigned delay_s)
{
	const struct push_context *ctx = p->context;

	if (p->batch_count == 0) {
		p->state = p->t != NULL ? PUSH_READY : PUSH_IDLE;
		return;
	}
	if (++p->attempts > ctx->config->push_retries) {
		log_event(ctx->log, LOG_WARN, "push gateway: gave up a batch of pushes",
		    LOG_UINT("pushes", p->batch_count), LOG_UINT("tries", p->attempts),
		    LOG_STR("error", p->last_error), LOG_END);
		p->stats.failed += p->batch_count;
		push_clear_batch(p);
		p->state = p->t != NULL ? PUSH_READY : PUSH_IDLE;
		event_active(&p->kick, EV_TIMEOUT, 0);
		return;
	}
	if (delay_s == 0)
		delay_s = 1u << (p->attempts - 1 < 16 ? p->attempts - 1 : 16);
	log_event(ctx->log, LOG_DEBUG, "push gateway: will try a batch of pushes again",
	    LOG_STR("error", p->last_error), LOG_UINT("pushes", p->batch_count),
	    LOG_UINT("delay_s", delay_s), LOG_END);
	p->state = PUSH_BACKOFF;
	io_events_arm(&p->io, p->t != NULL, 0);
	push_set_timer(p, delay_s);
}

static void push_broken(struct push *p, const char *why)
{
	snprintf(p->last_error, sizeof(p->last_error), "%s", why);
	push_disconnect(p);
	push_retry(p, 0);
}

static int push_connect(struct push *p)
{
	p->fd = socket(p->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (p->fd < 0)
		return -1;
	if (connect(p->fd, (struct sockaddr *)&p->addr, p->addr_len) != 0 &&
	    errno != EINPROGRESS) {
		close(p->fd);
		p->fd = -1;
		return -1;
	}
	p->t = p->tls ? tls_client_transport_new(p->tls, p->fd, p->context->config->push_url.host) :
	    transport_plain_new(p->fd);
	if (p->t == NULL) {
		close(p->fd);
		p->fd = -1;
		return -1;
	}
	io_events_assign(&p->io, p->context->base, p->fd, push_on_read, push_on_write, p);
	p->state = PUSH_CONNECTING;
	io_events_arm(&p->io, 0, 1);
	push_set_timer(p, PUSH_TIMEOUT_S);
	return 0;
}

/* --- requests and answers ----------------------------------------------- */

static void push_render(struct push *p)
{
	static const char signal[] = ",\"data\":{\"relay\":\"mailbox-updated\"}}";
	struct buf body;

	buf_init(&body);
	buf_append_lit(&body, "{\"notifications\":[");
	for (size_t i = 0; i < p->batch_count; i++) {
		const struct push_item *item = &p->batch[i];

		if (i > 0)
			buf_append_lit(&body, ",");
		buf_append_lit(&body, "{\"tokens\":[");
		response_json_string(&body, item->token + item->type_len, item->data_len);
		buf_append_lit(&body, "],\"platform\":");
		buf_append_uint(&body, item->platform);
		/* Silent and data-only: the device wakes and reads what it has. */
		if (item->platform == LIMITS_PUSH_PLATFORM_IOS)
			buf_append_lit(&body, ",\"content_available\":true,"
			    "\"push_type\":\"background\",\"priority\":\"normal\"");
		else if (item->platform == LIMITS_PUSH_PLATFORM_ANDROID)
			buf_append_lit(&body, ",\"priority\":\"high\"");
		buf_append(&body, signal, sizeof(signal) - 1);
	}
	buf_append_lit(&body, "]}");
	p->out.len = p->out_sent = 0;
	buf_append_lit(&p->out, "POST ");
	buf_append_str(&p->out, p->path);
	buf_append_lit(&p->out, " HTTP/1.1\r\nHost: ");
	buf_append_str(&p->out, p->host_header);
	buf_append_lit(&p->out, "\r\nUser-Agent: relay\r\nContent-Type: application/json\r\n"
	    "Content-Length: ");
	buf_append_uint(&p->out, body.len);
	buf_append_lit(&p->out, "\r\n\r\n");
	buf_append(&p->out, body.data, body.len);
	buf_free(&body);
}

/* gorush's provider errors that mean "this token will never work again". */
static int push_token_is_dead(const char *error)
{
	static const char *const dead[] = {
		"baddevicetoken", "unregistered", "devicetokennotfortopic", "notregistered",
		"invalidregistration", "registration-token-not-registered",
	};

	for (size_t i = 0; error != NULL && i < sizeof(dead) / sizeof(dead[0]); i++) {
		if (strcasecmp(error, dead[i]) == 0)
			return 1;
	}
	return 0;
}

/* A 2xx answer: count what went, and forget the tokens that are dead. */
static void push_accepted(struct push *p)
{
	const struct push_context *ctx = p->context;
	json_t *doc = json_loadb(p->body.data ? p->body.data : "", p->body.len, 0, NULL);
	json_t *logs = json_object_get(doc, "logs"), *entry;
	size_t i, failed = 0;

	json_array_foreach(logs, i, entry) {
		const char *token = json_string_value(json_object_get(entry, "token"));
		const char *type = json_string_value(json_object_get(entry, "type"));
		const char *error = json_string_value(json_object_get(entry, "error"));
		int dead = push_token_is_dead(error);

		if (token == NULL || type == NULL || strcmp(type, "failed-push") != 0)
			continue;
		for (size_t j = 0; j < p->batch_count; j++) {
			struct push_item *item = &p->batch[j];
			struct store_bytes t = { item->token, item->type_len };
			struct store_bytes d = { item->token + item->type_len, item->data_len };

			if (item->token == NULL || strlen(token) != d.len ||
			    memcmp(token, d.ptr, d.len) != 0)
				continue;
			failed++;
			if (dead)
				ctx->token_dead(ctx->owner, item->id, (enum mailbox_party)item->party,
				    t, d);
			/* Counted once, even if the gateway repeats itself. */
			push_item_free(item);
		}
	}
	json_decref(doc);
	if (failed > 0)
		log_event(ctx->log, LOG_INFO, "push gateway: pushes refused by the provider",
		    LOG_UINT("refused", failed), LOG_UINT("pushes", p->batch_count), LOG_END);
	p->stats.failed += failed;
	p->stats.sent += p->batch_count - failed;
	push_clear_batch(p);
}

static void push_answered(struct push *p)
{
	int status = p->answer.status;
	int keep = p->answer.keep_alive;

	evtimer_del(&p->timer);
	if (!keep)
		push_disconnect(p);
	p->state = p->t != NULL ? PUSH_READY : PUSH_IDLE;
	if (status / 100 == 2) {
		push_accepted(p);
	} else if (status == 429 || status / 100 == 5) {
		snprintf(p->last_error, sizeof(p->last_error), "the gateway answered %d", status);
		push_retry(p, p->answer.retry_after < PUSH_RETRY_AFTER_MAX ?
		    p->answer.retry_after : PUSH_RETRY_AFTER_MAX);
	} else {
		log_event(p->context->log, LOG_WARN, "push gateway: refused a batch of pushes",
		    LOG_UINT("pushes", p->batch_count), LOG_INT("status", status), LOG_END);
		p->stats.failed += p->batch_count;
		push_clear_batch(p);
	}
}

/* --- the driver --------------------------------------------------------- */

/* Each step returns 0 to go on, 1 to wait for an event. */

static int push_step_idle(struct push *p)
{
	/* A failure to connect counts against a batch, so take one. */
	if (p->batch_count == 0)
		push_take_batch(p);
	if (p->batch_count == 0)
		return 1;
	if (push_connect(p) != 0) {
		snprintf(p->last_error, sizeof(p->last_error), "cannot connect: %s",
		    strerror(errno));
		push_retry(p, 0);
	}
	return 1;
}

static int push_step_handshake(struct push *p)
{
	int r = p->t->ops->handshake(p->t);

	if (r == TRANSPORT_WANT_READ || r == TRANSPORT_WANT_WRITE) {
		io_events_arm(&p->io, r == TRANSPORT_WANT_READ, r == TRANSPORT_WANT_WRITE);
		return 1;
	}
	if (r != 0) {
		static const char untrusted[] = "the gateway's certificate is not trusted: ";
		char why[sizeof(p->last_error)] = "the TLS handshake failed";

		if (tls_client_verify_failed(p->t, "give the gateway's CA with --push-cacert",
		    why + sizeof(untrusted) - 1, sizeof(why) - sizeof(untrusted) + 1))
			memcpy(why, untrusted, sizeof(untrusted) - 1);
		push_broken(p, why);
		return 1;
	}
	evtimer_del(&p->timer);
	p->state = PUSH_READY;
	return 0;
}

static int push_step_ready(struct push *p)
{
	if (p->batch_count == 0)
		push_take_batch(p);
	if (p->batch_count == 0) {
		/* Idle: watch for the gateway closing the connection. */
		io_events_arm(&p->io, 1, 0);
		return 1;
	}
	push_render(p);
	if (p->out.failed) {
		snprintf(p->last_error, sizeof(p->last_error), "out of memory");
		push_disconnect(p);
		push_retry(p, 0);
		return 1;
	}
	p->state = PUSH_SENDING;
	push_set_timer(p, PUSH_TIMEOUT_S);
	return 0;
}

static int push_step_sending(struct push *p)
{
	const struct transport_ops *ops = p->t->ops;

	while (p->out_sent < p->out.len) {
		ssize_t n = ops->write(p->t, p->out.data + p->out_sent, p->out.len - p->out_sent);

		if (n > 0) {
			p->out_sent += (size_t)n;
			continue;
		}
		if (n == TRANSPORT_WANT_WRITE || n == TRANSPORT_WANT_READ) {
			io_events_arm(&p->io, n == TRANSPORT_WANT_READ, n == TRANSPORT_WANT_WRITE);
			return 1;
		}
		push_broken(p, "the connection broke while sending");
		return 1;
	}
	response_parser_init(&p->answer, &p->body, PUSH_RESPONSE_MAX);
	p->state = PUSH_RECEIVING;
	return 0;
}

static int push_step_receiving(struct push *p)
{
	char chunk[4096];
	ssize_t n = p->t->ops->read(p->t, chunk, sizeof(chunk));
	int r;

	if (n == TRANSPORT_WANT_READ || n == TRANSPORT_WANT_WRITE) {
		io_events_arm(&p->io, n == TRANSPORT_WANT_READ, n == TRANSPORT_WANT_WRITE);
		return 1;
	}
	r = n < 0 ? -1 : response_parser_feed(&p->answer, chunk, (size_t)n);
	if (r < 0) {
		push_broken(p, p->answer.too_large ? "the answer was too large" :
		    n == 0 ? "the gateway closed the connection before answering" :
		    "the answer was not HTTP");
		return 1;
	}
	if (r > 0)
		push_answered(p);
	return 0;
}

/* CONNECTING waits for push_on_write, BACKOFF for push_on_timer. */
static void push_drive(struct push *p)
{
	int stop = 0;

	while (!stop) {
		switch (p->state) {
		case PUSH_IDLE: stop = push_step_idle(p); break;
		case PUSH_CONNECTING: stop = 1; break;
		case PUSH_HANDSHAKE: stop = push_step_handshake(p); break;
		case PUSH_READY: stop = push_step_ready(p); break;
		case PUSH_SENDING: stop = push_step_sending(p); break;
		case PUSH_RECEIVING: stop = push_step_receiving(p); break;
		case PUSH_BACKOFF: stop = 1; break;
		}
	}
}

static void push_on_read(evutil_socket_t fd, short what, void *arg)
{
	struct push *p = arg;
	char byte;

	(void)fd;
	(void)what;
	if ((p->state == PUSH_READY || p->state == PUSH_BACKOFF) && p->t != NULL) {
		/* Nothing is expected between requests: the gateway closed, or
		 * talks out of turn. Either way the connection is done. */
		if (p->t->ops->read(p->t, &byte, 1) != TRANSPORT_WANT_READ) {
			push_disconnect(p);
			if (p->state == PUSH_READY)
				p->state = PUSH_IDLE;
		}
	}
	push_drive(p);
}

static void push_on_write(evutil_socket_t fd, short what, void *arg)
{
	struct push *p = arg;

	(void)fd;
	(void)what;
	if (p->state == PUSH_CONNECTING) {
		int err = 0;
		socklen_t len = sizeof(err);

		if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) != 0 || err != 0) {
			char why[128];

			snprintf(why, sizeof(why), "cannot connect: %s", strerror(err ? err : errno));
			push_broken(p, why);
			return;
		}
		p->state = p->tls ? PUSH_HANDSHAKE : PUSH_READY;
		if (!p->tls)
			evtimer_del(&p->timer);
		io_events_arm(&p->io, 0, 0);
	}
	push_drive(p);
}

static void push_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct push *p = arg;

	(void)fd;
	(void)what;
	if (p->state == PUSH_BACKOFF) {
		p->state = p->t != NULL ? PUSH_READY : PUSH_IDLE;
	} else {
		push_broken(p, "the gateway did not answer in time");
		return;
	}
	push_drive(p);
}

static void push_on_kick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	push_drive(arg);
}

/* --- life cycle --------------------------------------------------------- */

struct push *push_new(const struct push_context *context, char *err, size_t err_len)
{
	const struct config *cfg = context->config;
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *list = NULL;
	struct push *p = calloc(1, sizeof(*p));
	char port[8];
	int rc;

	if (p == NULL) {
		snprintf(err, err_len, "cannot set up the push gateway: out of memory");
		return NULL;
	}
	p->context = context;
	p->fd = -1;
	buf_init(&p->out);
	buf_init(&p->body);
	/* Resolved once, at start: a lookup later would block the loop. */
	snprintf(port, sizeof(port), "%u", cfg->push_url.port);
	rc = getaddrinfo(cfg->push_url.host, port, &hints, &list);
	if (rc != 0) {
		snprintf(err, err_len, "cannot resolve the push gateway %s: %s", cfg->push_url.host,
		    gai_strerror(rc));
		goto fail;
	}
	memcpy(&p->addr, list->ai_addr, list->ai_addrlen);
	p->addr_len = list->ai_addrlen;
	freeaddrinfo(list);
	if (cfg->push_url.tls) {
		p->tls = tls_client_new(context->rng, cfg->push_cacert, 1, err, err_len);
		if (p->tls == NULL)
			goto fail;
	}
	{
		size_t base = strlen(cfg->push_path);

		while (base > 0 && cfg->push_path[base - 1] == '/')
			base--;
		snprintf(p->path, sizeof(p->path), "%.*s/api/push", (int)base, cfg->push_path);
	}
	hostport_format(p->host_header, sizeof(p->host_header), cfg->push_url.host,
	    cfg->push_url.port);
	p->ring_cap = cfg->push_queue;
	p->ring = calloc(p->ring_cap, sizeof(*p->ring));
	if (p->ring == NULL) {
		snprintf(err, err_len, "cannot set up the push queue: out of memory");
		goto fail;
	}
	io_events_assign(&p->io, context->base, -1, push_on_read, push_on_write, p);
	evtimer_assign(&p->timer, context->base, push_on_timer, p);
	evtimer_assign(&p->kick, context->base, push_on_kick, p);
	return p;
fail:
	push_free(p);
	return NULL;
}

void push_free(struct push *p)
{
	if (p == NULL)
		return;
	if (p->ring != NULL) {
		push_disconnect(p);
		evtimer_del(&p->timer);
		event_del(&p->kick);
		for (size_t i = 0; i < p->ring_count; i++)
			push_item_free(&p->ring[(p->ring_head + i) % p->ring_cap]);
	}
	push_clear_batch(p);
	free(p->ring);
	tls_client_free(p->tls);
	buf_free(&p->out);
	buf_free(&p->body);
	free(p);
}
