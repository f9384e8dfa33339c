/*
 * admin.c — the admin listener's accept check and its three routes.
 *
 * Every answer is short plain text, or the metrics exposition, built in one
 * buffer the listener keeps. Anything but GET or HEAD on a route is 405
 * with Allow; any other path is 404, the API's paths included.
 */
#include <string.h>
#include <unistd.h>

#include "lib/alloc.h"
#include "protocol/response.h"
#include "server/admin.h"

/* A scraper, a health checker and someone with curl, with room to spare;
 * more are closed at accept. They come from CONFIG_FD_RESERVE. */
#define ADMIN_MAX_CONNECTIONS 8
/* Unsent answers, all connections together. A scrape is tens of KiB. */
#define ADMIN_OUT_BUDGET (4 * 1024 * 1024)
#define ADMIN_ALLOW "GET, HEAD"

enum admin_route {
	ADMIN_NONE,
	ADMIN_METRICS,
	ADMIN_HEALTHZ,
	ADMIN_READYZ
};

static enum admin_route admin_route(const struct http_input *in,
    const struct http_request *req)
{
	static const struct {
		const char *path;
		enum admin_route route;
	} routes[] = {
		{ "/metrics", ADMIN_METRICS }, { "/healthz", ADMIN_HEALTHZ },
		{ "/readyz", ADMIN_READYZ },
	};
	const char *target = http_at(in, req->target);
	size_t len = req->target.len;
	const char *query = memchr(target, '?', len);

	if (query != NULL)
		len = (size_t)(query - target);
	for (size_t i = 0; i < sizeof(routes) / sizeof(routes[0]); i++) {
		if (strlen(routes[i].path) == len && memcmp(target, routes[i].path, len) == 0)
			return routes[i].route;
	}
	return ADMIN_NONE;
}

static void admin_response_init(struct admin *a, int64_t now, const struct http_request *req,
    struct response *r)
{
	if (a->date[0] == '\0' || now != a->date_at) {
		clock_format_http_date(now, a->date);
		a->date_at = now;
	}
	memset(r, 0, sizeof(*r));
	r->preference_wait = -1;
	r->date = a->date;
	r->type = RESPONSE_TEXT;
	r->close = !req->keep_alive;
	r->head = req->head_read && req->method == HTTP_HEAD;
}

/* A body of one line of text. */
static struct buf *admin_text(struct admin *a, const char *line)
{
	a->body.len = 0;
	a->body.failed = 0;
	buf_append_str(&a->body, line);
	buf_append_lit(&a->body, "\n");
	return &a->body;
}

static enum api_result admin_handle(void *ctx, int64_t now, const struct api_client *client,
    const struct http_request *req, const struct http_input *in, struct buf *out,
    struct api_wait *wait, int *close)
{
	struct admin *a = ctx;
	const struct admin_context *actx = &a->context;
	enum admin_route route = admin_route(in, req);
	struct buf *body;
	struct response r;

	(void)client;
	(void)wait;
	admin_response_init(a, now, req, &r);
	r.status = 200;
	if (route == ADMIN_NONE) {
		r.status = 404;
		body = admin_text(a, "not found: this listener serves /metrics, /healthz and /readyz");
	} else if (req->method != HTTP_GET && req->method != HTTP_HEAD) {
		r.status = 405;
		r.allow = ADMIN_ALLOW;
		body = admin_text(a, "method not allowed");
	} else if (route == ADMIN_METRICS) {
		body = &a->body;
		body->len = 0;
		body->failed = 0;
		actx->scrape(actx->owner, body);
		r.type = RESPONSE_METRICS;
	} else if (route == ADMIN_HEALTHZ) {
		body = admin_text(a, "ok");
	} else {
		char why[160];

		if (actx->ready(actx->owner, why, sizeof(why))) {
			body = admin_text(a, "ok");
		} else {
			r.status = 503;
			body = admin_text(a, why);
		}
	}
	if (body->failed) {
		r.status = 503;
		r.close = 1;
		body = admin_text(a, "out of memory");
	}
	response_write(out, &r, body->data, body->len);
	*close = r.close;
	return API_DONE;
}

/* The parser or a deadline gave up on a request (400, 408, 413, 431), or
 * unsent answers take all the memory they may (503). */
static void admin_error(void *ctx, int64_t now, const struct http_request *req,
    const struct http_input *in, int status, struct buf *out)
{
	struct admin *a = ctx;
	struct buf *body;
	struct response r;

	(void)in;
	admin_response_init(a, now, req, &r);
	r.status = status;
	r.close = 1;
	switch (status) {
	case 408: body = admin_text(a, "request timeout"); break;
	case 413: body = admin_text(a, "a request to this listener has no body"); break;
	case 431: body = admin_text(a, "request head too large"); break;
	case 503: body = admin_text(a, "busy"); r.retry_after = 1; break;
	default: r.status = 400; body = admin_text(a, "bad request"); break;
	}
	response_write(out, &r, body->data, body->len);
}

static void admin_on_conn_gone(void *owner, struct conn *c)
{
	struct admin *a = owner;

	conn_list_remove(&a->conn_list, c);
	a->conn_count--;
}

static void admin_on_accepted(void *owner, int fd, const struct sockaddr_storage *peer)
{
	struct admin *a = owner;
	const struct config *config = a->context.config;
	struct api_client nobody;
	const uint8_t *addr;
	size_t len = config_address_bytes(peer, &addr);
	struct conn *c;

	if (!(a->loopback && config_is_loopback(addr, len)) &&
	    !config_cidrs_match(&config->admin_allow, addr, len)) {
		metrics_count_refused(a->context.metrics, METRICS_REFUSED_ADMIN_NOT_ALLOWED);
		log_event(a->conns.log, LOG_DEBUG, "admin listener: refused a connection from an "
		    "address that is not allowed", LOG_END);
		close(fd);
		return;
	}
	if (a->conn_count >= ADMIN_MAX_CONNECTIONS) {
		metrics_count_refused(a->context.metrics, METRICS_REFUSED_ADMIN_BUSY);
		close(fd);
		return;
	}
	memset(&nobody, 0, sizeof(nobody));
	c = conn_new(&a->conns, fd, transport_plain_new(fd), &nobody);
	conn_list_add(&a->conn_list, c);
	a->conn_count++;
}

static void admin_on_starved(void *owner, int listen_fd)
{
	struct admin *a = owner;

	a->context.starved(a->context.owner, listen_fd);
}

int admin_listen(struct admin *a, const struct admin_context *context, char *err,
    size_t err_len)
{
	const struct config *config = context->config;
	const uint8_t *addr;
	size_t len;

	memset(a, 0, sizeof(*a));
	a->context = *context;
	a->listener.fd = -1;
	buf_init(&a->body);
	if (config->admin_listen.addr_len == 0)
		return 0;
	len = config_address_bytes(&config->admin_listen.addr, &addr);
	a->loopback = config_is_loopback(addr, len);
	a->listening.base = context->base;
	a->listening.accepted = admin_on_accepted;
	a->listening.starved = admin_on_starved;
	a->listening.owner = a;
	if (listener_open(&a->listener, &a->listening, &config->admin_listen, err, err_len) != 0) {
		size_t n = strlen(err);

		/* Say which option: the address may look like a --listen one. */
		if (n + 16 < err_len) {
			memmove(err + 16, err, n + 1);
			memcpy(err, "--admin-listen: ", 16);
		}
		return -1;
	}
	a->open = 1;
	return 0;
}

/* The API's clock, which its callbacks read through its owner. */
static int64_t admin_now(void *owner)
{
	const struct conn_context *api_conns = ((struct admin *)owner)->api_conns;

	return api_conns->now(api_conns->owner);
}

static int64_t admin_mono_ms(void *owner)
{
	const struct conn_context *api_conns = ((struct admin *)owner)->api_conns;

	return api_conns->mono_ms(api_conns->owner);
}

void admin_start(struct admin *a, const struct conn_context *api_conns)
{
	struct conn_context *cc = &a->conns;

	cc->base = api_conns->base;
	cc->log = api_conns->log;
	cc->service.handle = admin_handle;
	cc->service.error = admin_error;
	cc->service.ctx = a;
	/* Its own requests are neither counted nor logged per request. */
	cc->metrics = NULL;
	cc->access_log = 0;
	/* A GET has no body; one that comes with a body is refused (413). */
	cc->max_body = 0;
	cc->max_waiters = 0;
	cc->handshake_tv = api_conns->handshake_tv;
	cc->header_tv = api_conns->header_tv;
	cc->body_tv = api_conns->body_tv;
	cc->idle_tv = api_conns->idle_tv;
	cc->linger_tv = api_conns->linger_tv;
	cc->out_budget = ADMIN_OUT_BUDGET;
	cc->now = admin_now;
	cc->mono_ms = admin_mono_ms;
	cc->gone = admin_on_conn_gone;
	cc->owner = a;
	a->api_conns = api_conns;
}

void admin_enable(struct admin *a, int enabled)
{
	if (a->open)
		listener_enable(&a->listener, enabled);
}

void admin_close(struct admin *a)
{
	while (a->conn_list != NULL)
		conn_free(a->conn_list);
	if (a->open)
		listener_close(&a->listener);
	a->open = 0;
	buf_free(&a->body);
}
