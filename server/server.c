/*
 * server.c — process-wide set-up, the accept path, the tick and the stop.
 *
 * Stopping is graceful: on the first SIGINT or SIGTERM the listeners close,
 * idle connections close at once, parked long-polls are answered, and
 * requests under way are finished; the loop ends when the last connection is
 * gone (or after a grace period). A second signal stops at once.
 */
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include "protocol/api.h"
#include "server/conn.h"
#include "server/push.h"
#include "net/rng.h"
#include "server/server.h"
#include "net/tls.h"
#include "net/transport.h"
#include "server/wellknown.h"
#include "lib/alloc.h"
#include "lib/parse.h"
#include "storage/quota.h"
#include "storage/ratelimit.h"
#include "storage/redis_store.h"
#include "storage/store.h"

#define SERVER_GRACE_SECONDS 10
#define SERVER_LINGER_SECONDS 2
/* Tests only: RELAY_TEST_SPEEDUP=N divides the relay's own waits (the
 * connection timeouts, linger, the stop's grace period, the push gateway's
 * timeout and retry delays) by N, so that the integration tests check them
 * without sitting them out. Not in --help: nobody should run it for real,
 * and a relay started with it says so in its log. */
#define SERVER_SPEEDUP_ENV "RELAY_TEST_SPEEDUP"
#define SERVER_SPEEDUP_MAX 20
#define SERVER_STARVED_PAUSE_SECONDS 1
#define SERVER_OUTPUT_SHARE 8
#define SERVER_OUTPUT_MIN (1024 * 1024)
/* Client addresses tracked for rate limits at most, and dropped per tick. */
#define SERVER_RATELIMIT_ENTRIES 100000
/* --store redis://: every key starts so; the secret claims are kept under
 * is at least this long; an answer from Redis slower than this is a 503. */
#define SERVER_STORE_PREFIX "relay:"
#define SERVER_STORE_SECRET_MIN 32
#define SERVER_STORE_TIMEOUT_MS 2000
#define SERVER_RATELIMIT_EXPIRE_BUDGET 10000

/* The clock, read once per loop turn. libevent caches its own time when a
 * turn begins; a change in it is how a new turn is recognised, so that
 * every callback of one turn sees the same instant. */
static const struct clock *server_clock(struct server *s)
{
	struct timeval tv;

	event_base_gettimeofday_cached(s->base, &tv);
	if (tv.tv_sec != s->clock_turn.tv_sec || tv.tv_usec != s->clock_turn.tv_usec) {
		s->clock_turn = tv;
		clock_update(&s->clock);
	}
	return &s->clock;
}

int64_t server_now(struct server *s)
{
	return clock_wall_s(server_clock(s));
}

int64_t server_mono_ms(struct server *s)
{
	return clock_mono_ms(server_clock(s));
}

static void server_update_accepting(struct server *s)
{
	int on = !s->stopping && !s->accept_full && !s->accept_starved;

	for (size_t i = 0; i < s->listener_count; i++)
		listener_enable(&s->listeners[i], on);
	/* Still open while the relay is full or stopping, to say so. */
	admin_enable(&s->admin, !s->accept_starved);
}

/* The peer's rate-limit key, and whether it is a proxy we trust. */
static void server_client(const struct server *s, const struct sockaddr_storage *peer,
    struct api_client *client)
{
	const uint8_t *addr;
	size_t len = config_address_bytes(peer, &addr);

	memset(client, 0, sizeof(*client));
	ratelimit_key(addr, len, client->key);
	client->trusted_proxy = config_cidrs_match(&s->config->trust_proxy, addr, len);
}

/* The clock, as the modules below the server take it. */
static int64_t server_clock_now(void *owner)
{
	return server_now(owner);
}

static int64_t server_clock_offset_ms(void *owner)
{
	return ((struct server *)owner)->clock.offset_ms;
}

static int64_t server_clock_mono_ms(void *owner)
{
	return server_mono_ms(owner);
}

/* A listener accepted a connection from peer. */
static void server_on_accepted(void *owner, int fd, const struct sockaddr_storage *peer)
{
	struct server *s = owner;
	struct quota_entry *quota;
	struct api_client client;
	struct transport *t;

	/* The socket's peer, before any X-Forwarded-For: behind a trusted
	 * proxy this counts the proxy's connections. */
	server_client(s, peer, &client);
	if (quota_take(s->quota, QUOTA_CONNECTIONS, client.key, 1, &quota) != 0) {
		log_event(&s->log, LOG_DEBUG, "connection refused: its address has as many open "
		    "as it may", LOG_UINT("limit", s->config->max_connections_per_address), LOG_END);
		metrics_count_refused(&s->metrics, METRICS_REFUSED_PER_ADDRESS);
		close(fd);
		return;
	}
	t = s->tls ? tls_transport_new(s->tls, fd) : transport_plain_new(fd);
	if (t == NULL) {
		log_event(&s->log, LOG_WARN, "no memory for a new connection; refused it", LOG_END);
		metrics_count_refused(&s->metrics, METRICS_REFUSED_NO_MEMORY);
		quota_give(s->quota, quota, QUOTA_CONNECTIONS, 1);
		close(fd);
		return;
	}
	s->metrics.accepted++;
	server_conn_open(s, fd, t, &client, quota);
}

void server_conn_open(struct server *s, int fd, struct transport *t,
    const struct api_client *client, struct quota_entry *quota)
{
	struct conn *c;

	c = conn_new(&s->conn_context, fd, t, client);
	c->quota = quota;
	log_event(&s->log, LOG_DEBUG, "connection accepted", LOG_UINT("open", s->conn_count + 1),
	    LOG_END);
	conn_list_add(&s->conns, c);
	s->conn_count++;
	if (s->conn_count >= s->config->max_connections && !s->accept_full) {
		log_event(&s->log, LOG_INFO, "--max-connections open: no new ones until one closes",
		    LOG_UINT("open", s->conn_count), LOG_END);
		s->accept_full = 1;
		server_update_accepting(s);
	}
}

/* accept() on listen_fd ran out of descriptors or memory: turn one waiting
 * client away and pause accepting for a moment. */
static void server_on_starved(void *owner, int listen_fd)
{
	struct server *s = owner;
	struct timeval pause = { SERVER_STARVED_PAUSE_SECONDS, 0 };

	/* With the spare descriptor given back for a moment, the client at the
	 * head of the queue hears "closed" at once instead of waiting. */
	if (s->spare_fd >= 0) {
		int client;

		close(s->spare_fd);
		client = accept4(listen_fd, NULL, NULL, SOCK_CLOEXEC);
		if (client >= 0) {
			metrics_count_refused(&s->metrics, METRICS_REFUSED_NO_DESCRIPTORS);
			close(client);
		}
		s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	}
	if (s->accept_starved)
		return;
	/* Said once a minute at most, not once a second while it lasts. */
	log_event(&s->log, server_now(s) - s->starved_warned_at < 60 ? LOG_DEBUG : LOG_WARN,
	    "out of file descriptors; pausing accepts", LOG_UINT("open", s->conn_count), LOG_END);
	if (server_now(s) - s->starved_warned_at >= 60)
		s->starved_warned_at = server_now(s);
	s->accept_starved = 1;
	server_update_accepting(s);
	evtimer_add(s->accept_retry, &pause);
}

static void server_on_accept_retry(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	s->accept_starved = 0;
	server_update_accepting(s);
}

/* A connection is being freed. */
static void server_on_conn_gone(void *owner, struct conn *c)
{
	struct server *s = owner;

	log_event(&s->log, LOG_DEBUG, "connection closed", LOG_UINT("requests", c->requests),
	    LOG_UINT("open", s->conn_count - 1), LOG_END);
	conn_list_remove(&s->conns, c);
	s->conn_count--;
	quota_give(s->quota, c->quota, QUOTA_CONNECTIONS, 1);
	c->quota = NULL;
	if (s->accept_full && s->conn_count < s->config->max_connections) {
		s->accept_full = 0;
		server_update_accepting(s);
	}
	if (s->stopping && s->conn_count == 0)
		event_base_loopexit(s->base, NULL);
}

/* 429s and 503s at warn, but one line per reason and second at most, with
 * how many there were since the last: a flood of refusals must not become a
 * flood of lines. Nothing of the client goes in (spec 8). final: whatever
 * the second, at the stop. */
static void server_log_refusals(struct server *s, int final)
{
	const uint64_t *refused = api_refusals(s->api);
	int64_t second = server_mono_ms(s) / 1000;

	if (second == s->refusals_second && !final)
		return;
	s->refusals_second = second;
	for (int i = 0; i < API_REFUSALS; i++) {
		uint64_t total = refused[i];
		int status = api_refusal_status((enum api_refusal)i);

		if (total == s->refusals_logged[i])
			continue;
		log_event(&s->log, LOG_WARN, status == 429 ? "rate limited" : "refused: over a limit",
		    LOG_STR("reason", api_refusal_name((enum api_refusal)i)),
		    LOG_INT("status", status), LOG_UINT("count", total - s->refusals_logged[i]),
		    LOG_END);
		s->refusals_logged[i] = total;
	}
}

static void server_expire(struct server *s)
{
	if (api_tick(s->api, server_now(s)))
		event_active(s->expire_more, EV_TIMEOUT, 0);
	if (s->limits != NULL)
		ratelimit_expire(s->limits, server_mono_ms(s), SERVER_RATELIMIT_EXPIRE_BUDGET);
	/* Once per process, and never the value itself: it may be an address. */
	if (api_forwarded_warning(s->api))
		log_event(&s->log, LOG_WARN, "--trust-proxy: an X-Forwarded-For did not end in an "
		    "IP address; such clients are rate-limited by its text (said once)", LOG_END);
	server_log_refusals(s, 0);
}

static void server_on_tick(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	server_expire(arg);
}

static void server_on_grace_over(evutil_socket_t fd, short what, void *arg)
{
	struct server *s = arg;

	(void)fd;
	(void)what;
	log_event(&s->log, LOG_WARN, "connections still open after the grace period; closing them",
	    LOG_UINT("open", s->conn_count), LOG_UINT("grace_s", SERVER_GRACE_SECONDS), LOG_END);
	event_base_loopexit(s->base, NULL);
}

static void server_on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;
	struct timeval grace = clock_timer(SERVER_GRACE_SECONDS, s->speedup);
	struct conn *c, *next;

	(void)what;
	if (s->stopping) {
		log_event(&s->log, LOG_INFO, "second signal: stopping now", LOG_END);
		event_base_loopexit(s->base, NULL);
		return;
	}
	s->stopping = 1;
	log_event(&s->log, LOG_INFO, "stopping: finishing the open connections first",
	    LOG_STR("signal", sig == SIGINT ? "SIGINT" : "SIGTERM"),
	    LOG_UINT("open", s->conn_count), LOG_END);
	for (size_t i = 0; i < s->listener_count; i++)
		listener_close(&s->listeners[i]);
	for (c = s->conns; c != NULL; c = next) {
		next = c->next;
		conn_stop(c);
	}
	if (s->conn_count == 0)
		event_base_loopexit(s->base, NULL);
	else
		evtimer_add(s->grace, &grace);
}

/* Serve the --well-known files just read (and let them go), saying which:
 * first those that are missing, then those served. */
static void server_serve_app_links(struct server *s, struct wellknown *wk, int reload)
{
	wellknown_apply(wk, s->api);
	for (int i = 0; i < API_APP_LINKS; i++) {
		if (wk->file[i].data == NULL)
			log_event(&s->log, LOG_WARN, reload ?
			    "SIGHUP: --well-known: a file does not exist; its URL answers 404" :
			    "--well-known: a file does not exist; its URL answers 404",
			    LOG_STR("file", wellknown_name((enum api_app_link)i)),
			    LOG_STR("dir", s->config->well_known), LOG_END);
	}
	for (int i = 0; i < API_APP_LINKS; i++) {
		if (wk->file[i].data != NULL)
			log_event(&s->log, LOG_INFO, reload ? "SIGHUP: --well-known: serving a file" :
			    "--well-known: serving a file",
			    LOG_STR("file", wellknown_name((enum api_app_link)i)),
			    LOG_UINT("bytes", wk->file[i].len), LOG_STR("dir", s->config->well_known),
			    LOG_END);
	}
	wellknown_free(wk);
}

/* SIGHUP: a renewed certificate and app-link files, without dropping a
 * connection. */
static void server_on_reload(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;
	char err[512];

	(void)sig;
	(void)what;
	if (s->tls == NULL)
		log_event(&s->log, LOG_INFO, "SIGHUP: no TLS (--no-tls), no certificate to reload",
		    LOG_END);
	else if (tls_reload(s->tls, err, sizeof(err)) != 0)
		log_event(&s->log, LOG_ERROR, "SIGHUP: still serving the previous certificate",
		    LOG_STR("error", err), LOG_END);
	else
		log_event(&s->log, LOG_INFO, "SIGHUP: new certificate for new connections",
		    LOG_STR("sha256_fingerprint", tls_fingerprint(s->tls)), LOG_END);
	if (s->config->well_known == NULL)
		return;
	if (wellknown_read(s->config->well_known, &s->well_known, err, sizeof(err)) != 0)
		log_event(&s->log, LOG_ERROR, "SIGHUP: --well-known: still serving the previous "
		    "app-link files", LOG_STR("error", err), LOG_END);
	else
		server_serve_app_links(s, &s->well_known, 1);
}

static int server_push_supports(void *ctx, const char *type, size_t type_len)
{
	return push_supports(ctx, type, type_len);
}

static void server_push(void *ctx, const uint8_t id[MAILBOX_ID_LEN], enum mailbox_party party,
    const struct mailbox_token *token)
{
	push_enqueue(ctx, id, party, token);
}

static void server_on_token_dead(void *owner, const uint8_t id[MAILBOX_ID_LEN],
    enum mailbox_party party, struct store_bytes type, struct store_bytes data)
{
	struct server *s = owner;

	api_drop_token(s->api, server_now(s), id, party, type, data);
}

/* SIGUSR2 under RELAY_TEST_CLOCK: the clocks move on, and what has fallen
 * due happens now, as the passing of that time would have made it happen:
 * mailboxes expire (waking their long-polls with 404), full rate-limit
 * buckets go, long-polls whose wait is over end. Then a notice (logged
 * whatever --log-level), which the test waits for instead of sleeping. */
static void server_on_test_clock(evutil_socket_t sig, short what, void *arg)
{
	struct server *s = arg;
	int64_t before = s->test_clock.offset_ms;
	char err[512];

	(void)sig;
	(void)what;
	if (testclock_reread(&s->test_clock, err, sizeof(err)) != 0) {
		log_event(&s->log, LOG_ERROR, "SIGUSR2: the clocks stay where they were",
		    LOG_STR("error", err), LOG_INT("offset_ms", before), LOG_END);
		return;
	}
	clock_set_offset_ms(&s->clock, s->test_clock.offset_ms);
	/* All of it before the line, not a budget per turn: a test holds few. */
	while (api_tick(s->api, server_now(s)))
		continue;
	server_expire(s);
	if (s->redis != NULL)
		redis_store_clock_moved(s->redis);
	for (struct conn *c = s->conns; c != NULL; c = c->next)
		conn_clock_moved(c);
	log_event(&s->log, LOG_NOTICE, "test clock moved",
	    LOG_INT("offset_ms", s->test_clock.offset_ms), LOG_END);
}

static const struct timeval *server_common_timeout(struct server *s, int64_t seconds)
{
	struct timeval tv = clock_timer(seconds, s->speedup);

	return event_base_init_common_timeout(s->base, &tv);
}

static char *server_public_url(const struct server *s)
{
	const char *name = s->listeners[0].name, *port = strrchr(name, ':');
	char url[128];

	if (s->config->public_url != NULL) {
		char *copy = xstrdup(s->config->public_url);
		size_t len = strlen(copy);

		while (len > 0 && copy[len - 1] == '/')
			copy[--len] = '\0';
		return copy;
	}
	snprintf(url, sizeof(url), "%s://localhost%s", s->tls ? "https" : "http", port);
	return xstrdup(url);
}

/* The relay API, as the connections call it. */
static enum api_result server_api_handle(void *ctx, int64_t now,
    const struct api_client *client, const struct http_request *req,
    const struct http_input *in, struct buf *out, struct api_wait *wait, int *close)
{
	return api_handle(ctx, now, client, req, in, out, wait, close);
}

static void server_api_error(void *ctx, int64_t now, const struct http_request *req,
    const struct http_input *in, int status, struct buf *out)
{
	api_error(ctx, now, req, in, status, out);
}

void server_init_conns(struct server *s)
{
	const struct config *config = s->config;
	struct conn_context *cc = &s->conn_context;

	cc->base = s->base;
	cc->log = &s->log;
	cc->service.handle = server_api_handle;
	cc->service.error = server_api_error;
	cc->service.ctx = s->api;
	/* Counted per request only where someone can read them. */
	cc->metrics = s->admin.open ? &s->metrics : NULL;
	cc->access_log = config->access_log;
	cc->max_body = config->max_body;
	cc->max_waiters = config->max_waiters;
	cc->handshake_tv = server_common_timeout(s, config->handshake_timeout);
	cc->header_tv = server_common_timeout(s, config->header_timeout);
	cc->body_tv = server_common_timeout(s, config->body_timeout);
	cc->idle_tv = server_common_timeout(s, config->idle_timeout);
	cc->linger_tv = server_common_timeout(s, SERVER_LINGER_SECONDS);
	/* Unsent answers live outside the store: an eighth of its memory. */
	cc->out_budget = config->max_memory / SERVER_OUTPUT_SHARE;
	if (cc->out_budget < SERVER_OUTPUT_MIN)
		cc->out_budget = SERVER_OUTPUT_MIN;
	cc->now = server_clock_now;
	cc->mono_ms = server_clock_mono_ms;
	cc->gone = server_on_conn_gone;
	cc->owner = s;
}

/* /readyz: may a load balancer send this relay work? Not while it stops,
 * cannot accept, cannot store a mailbox of the largest body, or failed its
 * last snapshot. */
/* The store's figures; with Redis, the mailboxes of every relay there. */
static struct store_stats server_store_stats(const struct server *s)
{
	struct store_stats stats = store_stats(s->store);

	if (s->redis != NULL)
		stats.mailboxes = redis_store_mailboxes(s->redis);
	return stats;
}

static int server_ready(void *owner, char *why, size_t why_len)
{
	struct server *s = owner;
	const struct config *config = s->config;
	struct store_stats stats = server_store_stats(s);

	if (s->stopping)
		snprintf(why, why_len, "shutting down");
	else if (s->redis != NULL && !redis_store_up(s->redis))
		snprintf(why, why_len, "the store (Redis) is unreachable");
	else if (s->accept_starved)
		snprintf(why, why_len, "out of file descriptors: not accepting connections");
	else if (s->accept_full)
		snprintf(why, why_len, "%zu connections open (--max-connections): not accepting "
		    "more", s->conn_count);
	else if (stats.mailboxes >= config->max_mailboxes)
		snprintf(why, why_len, "store full: %zu of %zu mailboxes (--max-mailboxes)",
		    stats.mailboxes, config->max_mailboxes);
	else if (stats.bytes + config->max_body > config->max_memory)
		snprintf(why, why_len, "store full: %zu of %zu bytes held, no room for one "
		    "--max-body (--max-memory)", stats.bytes, config->max_memory);
	else if (s->persist.last_failed)
		snprintf(why, why_len, "the last snapshot to --state-file failed");
	else
		return 1;
	return 0;
}

/* GET /metrics: what the modules count, and what holds now. */
static void server_scrape(void *owner, struct buf *out)
{
	struct server *s = owner;
	struct metrics_gauges g;
	char why[8];

	memset(&g, 0, sizeof(g));
	g.store = server_store_stats(s);
	g.max_mailboxes = s->config->max_mailboxes;
	g.max_memory = s->config->max_memory;
	g.refused = api_refusals(s->api);
	for (const struct conn *c = s->conns; c != NULL; c = c->next)
		g.connections[metrics_conn_state(c)]++;
	/* The parked connections, not waiter_count: that holds a place for
	 * every request still waiting for Redis's answer as well (conn.c). */
	g.waiters = g.connections[METRICS_CONN_PARKED];
	if (s->push != NULL)
		g.push = push_stats(s->push);
	g.snapshot_duration_ms = s->persist.last_duration_ms;
	g.snapshot_written_at = s->persist.last_written_at;
	g.snapshot_failures = s->persist.failures;
	g.ready = server_ready(s, why, sizeof(why));
	metrics_render(&s->metrics, &g, out);
}

/* 0 and s->speedup (0 without RELAY_TEST_SPEEDUP), or -1 when it is not
 * a whole number from 1 to SERVER_SPEEDUP_MAX. */
static int server_read_speedup(struct server *s)
{
	const char *v = getenv(SERVER_SPEEDUP_ENV);
	uint64_t n;

	if (v == NULL)
		return 0;
	if (parse_number(v, &n) != 0 || n < 1 || n > SERVER_SPEEDUP_MAX) {
		log_event(&s->log, LOG_ERROR, "cannot start: " SERVER_SPEEDUP_ENV " must be a whole "
		    "number from 1 to " LIMITS_TEXT(SERVER_SPEEDUP_MAX), LOG_END);
		return -1;
	}
	s->speedup = (unsigned)n;
	log_event(&s->log, LOG_WARN, SERVER_SPEEDUP_ENV ": timeouts and retry delays are "
	    "this many times shorter (for tests only)", LOG_UINT("speedup", s->speedup), LOG_END);
	return 0;
}

/* Log a one-line start error. */
static int server_fail(struct server *s, const char *what)
{
	log_event(&s->log, LOG_ERROR, "cannot start", LOG_STR("error", what), LOG_END);
	return -1;
}

/* RELAY_TEST_CLOCK (tests only, server/testclock.h): the clocks start as
 * far ahead as its file says. 0, or -1 when the file is not usable. */
static int server_read_test_clock(struct server *s)
{
	char err[512];

	if (testclock_init(&s->test_clock, err, sizeof(err)) != 0)
		return server_fail(s, err);
	if (s->test_clock.path == NULL)
		return 0;
	clock_set_offset_ms(&s->clock, s->test_clock.offset_ms);
	log_event(&s->log, LOG_WARN, TESTCLOCK_ENV ": the clocks run ahead, and further on each "
	    "SIGUSR2 (for tests only)", LOG_STR("file", s->test_clock.path),
	    LOG_INT("offset_ms", s->test_clock.offset_ms), LOG_END);
	return 0;
}

/* A file's bytes, for a secret (at most cap - 1 of them, one line end
 * dropped): 0, or -1 with why in err. */
static int server_read_secret(const char *path, const char *what, char *out, size_t cap,
    size_t *len, char *err, size_t err_len)
{
	/* Non-blocking: a FIFO (or a device) in its place must not hang the
	 * start; only a regular file is taken. */
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	struct stat st;
	ssize_t n;

	if (fd < 0) {
		snprintf(err, err_len, "%s %s: %s", what, path, strerror(errno));
		return -1;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		snprintf(err, err_len, "%s %s: not a regular file", what, path);
		return -1;
	}
	n = read(fd, out, cap);
	close(fd);
	if (n < 0 || (size_t)n >= cap) {
		snprintf(err, err_len, "%s %s: %s", what, path,
		    n < 0 ? strerror(errno) : "longer than a secret should be");
		return -1;
	}
	if (n > 0 && out[n - 1] == '\n')
		n--;
	if (n > 0 && out[n - 1] == '\r')
		n--;
	out[n] = '\0';
	*len = (size_t)n;
	return 0;
}

static void server_on_redis(void *ctx, int up, const char *why)
{
	struct server *s = ctx;

	if (up)
		log_event(&s->log, LOG_NOTICE, "the store is reachable", LOG_STR("store", "redis"),
		    LOG_END);
	else
		log_event(&s->log, LOG_ERROR, "the store is unreachable: answering 503 until it is back",
		    LOG_STR("store", "redis"), LOG_STR("error", why ? why : ""), LOG_END);
}

/* --store redis://: the secret, the password, then the connection. */
static int server_open_redis(struct server *s, char *err, size_t err_len)
{
	const struct config *config = s->config;
	char secret[4096], password[1024], types[CONFIG_MAX_PUSH_TYPES * (CONFIG_PUSH_TYPE_MAX + 1) + 1];
	size_t secret_len, password_len = 0, at = 0;
	struct redis_endpoint sentinels[CONFIG_MAX_SENTINELS];
	struct redis_store_config rc;
	int ret = -1;

	if (server_read_secret(config->store_secret_file, "--store-secret-file", secret,
	    sizeof(secret), &secret_len, err, err_len) != 0)
		return -1;
	if (secret_len < SERVER_STORE_SECRET_MIN) {
		snprintf(err, err_len, "--store-secret-file %s: %zu bytes, at least %d are needed",
		    config->store_secret_file, secret_len, SERVER_STORE_SECRET_MIN);
		goto done;
	}
	if (config->store_password_file != NULL &&
	    server_read_secret(config->store_password_file, "--store-password-file", password,
	    sizeof(password), &password_len, err, err_len) != 0)
		goto done;
	types[0] = '\0';
	for (size_t i = 0; i < config->push_map_count && config->push_gateway != NULL; i++)
		at += (size_t)snprintf(types + at, sizeof(types) - at, "%s%s", at ? " " : "",
		    config->push_map[i].type);
	memset(&rc, 0, sizeof(rc));
	rc.server.host = config->store_redis.host;
	rc.server.port = config->store_redis.port;
	rc.server.db = config->store_redis.db;
	rc.server.user = config->store_redis.user[0] ? config->store_redis.user : NULL;
	rc.server.password = config->store_password_file ? password : NULL;
	for (size_t i = 0; i < config->store_redis.sentinel_count; i++) {
		sentinels[i].host = config->store_redis.sentinels[i].host;
		sentinels[i].port = config->store_redis.sentinels[i].port;
	}
	rc.server.sentinels = sentinels;
	rc.server.sentinel_count = config->store_redis.sentinel_count;
	rc.server.master = config->store_redis.master;
	rc.secret = (const uint8_t *)secret;
	rc.secret_len = secret_len;
	rc.prefix = SERVER_STORE_PREFIX;
	rc.max_mailboxes = config->max_mailboxes;
	rc.max_owner_bytes = config->max_bytes_per_address;
	rc.push_types = types;
	rc.timeout_ms = SERVER_STORE_TIMEOUT_MS;
	rc.wait_replicas = (unsigned)config->store_wait_replicas;
	rc.random = rng_bytes;
	rc.random_ctx = s->rng;
	rc.rate_create = config->rate_create;
	rc.rate_fail = config->rate_fail;
	rc.max_waiters = config->max_waiters_per_address;
	rc.now = server_clock_now;
	rc.offset_ms = server_clock_offset_ms;
	s->redis = redis_store_new(s->base, &rc, server_on_redis, s);
	if (s->redis == NULL) {
		snprintf(err, err_len, "out of memory");
		goto done;
	}
	redis_store_access(&s->access, s->redis);
	if (config->store_redis.sentinel_count > 0)
		log_event(&s->log, LOG_INFO, "mailboxes are kept in Redis, its master named by Sentinel",
		    LOG_STR("master", config->store_redis.master),
		    LOG_UINT("sentinels", config->store_redis.sentinel_count), LOG_END);
	else
		log_event(&s->log, LOG_INFO, "mailboxes are kept in Redis",
		    LOG_STR("host", config->store_redis.host),
		    LOG_INT("port", config->store_redis.port), LOG_INT("db", config->store_redis.db),
		    LOG_END);
	ret = 0;
done:
	memset(secret, 0, sizeof(secret));
	memset(password, 0, sizeof(password));
	return ret;
}

int server_init(struct server *s, const struct config *config)
{
	struct store_limits limits = { config->max_mailboxes, config->max_memory,
	    config->max_bytes_per_address };
	struct api_config api_config;
	struct persist_context persisting;
	char err[512];

	memset(s, 0, sizeof(*s));
	clock_init(&s->clock);
	metrics_init(&s->metrics, clock_wall_s(&s->clock));
	s->config = config;
	s->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	config_log(config, &s->log);
	if (server_read_speedup(s) != 0 || server_read_test_clock(s) != 0)
		return -1;
	if (persist_check(config->state_file, &s->log) != 0)
		return -1;
	/* Before anything is made or written: a bad file stops the start. */
	if (config->well_known != NULL &&
	    wellknown_read(config->well_known, &s->well_known, err, sizeof(err)) != 0)
		return server_fail(s, err);
	signal(SIGPIPE, SIG_IGN);
	s->base = event_base_new();
	if (s->base == NULL)
		return server_fail(s, "cannot create the event loop");
	s->rng = rng_new(err, sizeof(err));
	if (s->rng == NULL)
		return server_fail(s, err);
	/* Listen first: a relay that cannot start must not have replaced the
	 * development certificate a running one is using. */
	s->listening.base = s->base;
	s->listening.accepted = server_on_accepted;
	s->listening.starved = server_on_starved;
	s->listening.owner = s;
	for (size_t i = 0; i < config->listen_count; i++) {
		if (listener_open(&s->listeners[i], &s->listening, &config->listen[i], err,
		    sizeof(err)) != 0)
			return server_fail(s, err);
		s->listener_count++;
	}
	{
		struct admin_context admin = { s->base, config, &s->metrics, server_scrape,
		    server_ready, server_on_starved, s };

		if (admin_listen(&s->admin, &admin, err, sizeof(err)) != 0)
			return server_fail(s, err);
	}
	if (!config->no_tls) {
		struct tls_options opts = { config->cert_file, config->key_file,
		    config->dev_cert_out };

		s->tls = tls_new(&opts, s->rng, err, sizeof(err));
		if (s->tls == NULL)
			return server_fail(s, err);
	}
	s->store = store_new(&limits, rng_bytes, s->rng);
	if (s->store == NULL)
		return server_fail(s, "the random generator failed");
	if ((config->store_redis.port != 0 || config->store_redis.sentinel_count > 0) &&
	    server_open_redis(s, err, sizeof(err)) != 0)
		return server_fail(s, err);
	/* With Redis, the rate limits are kept there, for every relay alike. */
	if (s->redis == NULL && (config->rate_create.per != 0 || config->rate_fail.per != 0)) {
		struct ratelimit_rule rules[RATELIMIT_KINDS];
		uint8_t key[SIPHASH_KEY_LEN];

		rules[RATELIMIT_CREATE] = config->rate_create;
		rules[RATELIMIT_FAIL] = config->rate_fail;
		if (rng_bytes(s->rng, key, sizeof(key)) != 0)
			return server_fail(s, "the random generator failed");
		s->limits = ratelimit_new(rules, SERVER_RATELIMIT_ENTRIES, key);
	}
	if (config->max_connections_per_address != 0 || config->max_waiters_per_address != 0) {
		size_t quota_limits[QUOTA_KINDS] = { 0 };
		uint8_t key[SIPHASH_KEY_LEN];

		quota_limits[QUOTA_CONNECTIONS] = config->max_connections_per_address;
		/* With Redis, long-polls are counted there, for every relay. */
		quota_limits[QUOTA_WAITERS] = s->redis != NULL ? 0 :
		    config->max_waiters_per_address;
		if (rng_bytes(s->rng, key, sizeof(key)) != 0)
			return server_fail(s, "the random generator failed");
		s->quota = quota_new(quota_limits, key);
	}
	if (config->push_gateway != NULL) {
		s->push_context.base = s->base;
		s->push_context.log = &s->log;
		s->push_context.rng = s->rng;
		s->push_context.config = config;
		s->push_context.speedup = s->speedup;
		s->push_context.token_dead = server_on_token_dead;
		s->push_context.owner = s;
		s->push = push_new(&s->push_context, err, sizeof(err));
		if (s->push == NULL)
			return server_fail(s, err);
		s->notifier.supports = server_push_supports;
		s->notifier.push = server_push;
		s->notifier.ctx = s->push;
		log_event(&s->log, LOG_INFO, "pushes go to the gateway",
		    LOG_STR("url", config->push_gateway), LOG_END);
	}
	s->public_url = server_public_url(s);
	api_config.public_url = s->public_url;
	api_config.default_ttl = config->default_ttl;
	api_config.max_ttl = config->max_ttl;
	api_config.max_wait = (unsigned)config->max_wait;
	api_config.hsts = s->tls != NULL;
	api_config.limits = s->limits;
	api_config.quota = s->quota;
	if (rng_bytes(s->rng, api_config.name_secret, sizeof(api_config.name_secret)) != 0)
		return server_fail(s, "the random generator failed");
	api_config.notifier = s->push != NULL ? &s->notifier : NULL;
	api_config.access = s->redis != NULL ? &s->access : NULL;
	{
		const char *origins[CORS_MAX_ORIGINS];

		for (size_t i = 0; i < config->cors_origin_count; i++)
			origins[i] = config->cors_origin[i];
		api_config.cors_origins = origins;
		api_config.cors_origin_count = config->cors_origin_count;
		s->api = api_new(&api_config, s->store, server_now(s));
	}
	if (config->well_known != NULL)
		server_serve_app_links(s, &s->well_known, 0);
	persisting.base = s->base;
	persisting.log = &s->log;
	persisting.store = s->store;
	persisting.path = config->state_file;
	persisting.snapshot_interval = config->snapshot_interval;
	persisting.max_ttl = config->max_ttl;
	persisting.now = server_clock_now;
	persisting.owner = s;
	if (persist_init(&s->persist, &persisting) != 0)
		return -1;

	server_init_conns(s);
	admin_start(&s->admin, &s->conn_context);
	s->tick = event_new(s->base, -1, EV_PERSIST, server_on_tick, s);
	s->expire_more = event_new(s->base, -1, 0, server_on_tick, s);
	s->accept_retry = evtimer_new(s->base, server_on_accept_retry, s);
	s->grace = evtimer_new(s->base, server_on_grace_over, s);
	s->sigint = evsignal_new(s->base, SIGINT, server_on_signal, s);
	s->sigterm = evsignal_new(s->base, SIGTERM, server_on_signal, s);
	s->sighup = evsignal_new(s->base, SIGHUP, server_on_reload, s);
	if (s->tick == NULL || s->expire_more == NULL || s->accept_retry == NULL ||
	    s->grace == NULL || s->sigint == NULL || s->sigterm == NULL || s->sighup == NULL)
		return server_fail(s, "cannot create the event loop's timers");
	if (s->test_clock.path != NULL) {
		s->sigusr2 = evsignal_new(s->base, SIGUSR2, server_on_test_clock, s);
		if (s->sigusr2 == NULL)
			return server_fail(s, "cannot create the event loop's timers");
		event_add(s->sigusr2, NULL);
	}
	{
		struct timeval second = { 1, 0 };

		event_add(s->tick, &second);
	}
	event_add(s->sigint, NULL);
	event_add(s->sigterm, NULL);
	event_add(s->sighup, NULL);

	/* Scripts wait for these lines: notices, written whatever the level,
	 * and each in one write (log_write), so none waits in a buffer. The
	 * admin listener's comes first, so that it is there when they are. */
	if (s->admin.open) {
		char url[sizeof(s->admin.listener.name) + 8];

		snprintf(url, sizeof(url), "http://%s", s->admin.listener.name);
		log_event(&s->log, LOG_NOTICE, "admin listening", LOG_STR("url", url), LOG_END);
	}
	if (s->tls != NULL) {
		log_event(&s->log, LOG_NOTICE, "certificate", LOG_STR("sha256_fingerprint",
		    tls_fingerprint(s->tls)), LOG_END);
		if (config->dev_cert_out != NULL)
			log_event(&s->log, LOG_NOTICE, "self-signed certificate for localhost written",
			    LOG_STR("file", config->dev_cert_out), LOG_END);
	} else {
		log_event(&s->log, LOG_NOTICE, "TLS is OFF (--no-tls): plain HTTP, to be used only "
		    "behind a TLS-terminating proxy", LOG_END);
	}
	for (size_t i = 0; i < s->listener_count; i++) {
		char url[sizeof(s->listeners[i].name) + 8];

		snprintf(url, sizeof(url), "%s://%s", s->tls ? "https" : "http",
		    s->listeners[i].name);
		log_event(&s->log, LOG_NOTICE, "listening", LOG_STR("url", url), LOG_END);
	}
	return 0;
}

void server_run(struct server *s)
{
	event_base_dispatch(s->base);
}

int server_finish(struct server *s)
{
	/* Connections still open after the grace period go now, so that
	 * nothing parks on the mailboxes being written. */
	while (s->conns != NULL)
		conn_free(s->conns);
	server_log_refusals(s, 1);
	if (s->push != NULL) {
		struct push_stats ps = push_stats(s->push);

		log_event(&s->log, LOG_INFO, "push: totals at the stop", LOG_UINT("sent", ps.sent),
		    LOG_UINT("failed", ps.failed), LOG_UINT("dropped", ps.dropped),
		    LOG_UINT("queued", ps.queued), LOG_END);
	}
	return persist_final(&s->persist);
}

void server_free(struct server *s)
{
	while (s->conns != NULL)
		conn_free(s->conns);
	admin_close(&s->admin);
	for (size_t i = 0; i < s->listener_count; i++)
		listener_close(&s->listeners[i]);
	if (s->tick)
		event_free(s->tick);
	if (s->expire_more)
		event_free(s->expire_more);
	if (s->accept_retry)
		event_free(s->accept_retry);
	if (s->grace)
		event_free(s->grace);
	if (s->sigint)
		event_free(s->sigint);
	if (s->sigterm)
		event_free(s->sigterm);
	if (s->sighup)
		event_free(s->sighup);
	if (s->sigusr2)
		event_free(s->sigusr2);
	persist_free(&s->persist);
	wellknown_free(&s->well_known);
	push_free(s->push);
	/* Before the api: an answer it still owed would go there. */
	redis_store_free(s->redis);
	api_free(s->api);
	ratelimit_free(s->limits);
	quota_free(s->quota);
	store_free(s->store);
	free(s->public_url);
	tls_free(s->tls);
	rng_free(s->rng);
	if (s->base)
		event_base_free(s->base);
	if (s->spare_fd >= 0)
		close(s->spare_fd);
	memset(s, 0, sizeof(*s));
}
