/*
 * connsim.h — the real connection code (server/conn.c) driven by a script.
 *
 * A simulation is one server object with an in-memory store and a real
 * libevent loop, whose connections are socket pairs: the relay's end goes to
 * conn.c exactly as an accepted socket would (server_conn_open), the other
 * end is played by the script. Between the two sits a scripted transport
 * that passes bytes through like --no-tls, except when the script tells it
 * to accept fewer bytes, ask for the other readiness (as TLS does), fail,
 * or hold the handshake back. Timers fire when the script says, the way
 * libevent fires them; expiry and a graceful stop are the server's own
 * calls. Nothing of conn.c's loop is copied here: what the script cannot
 * reach, conn.c does not do.
 *
 * Shared by the fuzz target (test/fuzz/fuzz_conn.c) and the unit tests of
 * the state machine (test/unit/test_conn.c), each of which includes it once;
 * its functions are static inline so that neither has to use all of them.
 */
#ifndef TEST_FUZZ_CONNSIM_H
#define TEST_FUZZ_CONNSIM_H

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <event2/event.h>

#include "protocol/api.h"
#include "lib/buf.h"
#include "server/config.h"
#include "server/conn.h"
#include "server/server.h"
#include "net/transport.h"
#include "storage/quota.h"
#include "storage/store.h"

#define SIM_PEERS 6
/* The mailbox every request template names, large enough that two answers
 * to a read are more than a connection may hold unsent. */
#define SIM_PAYLOAD_LEN 40000
/* Unsent output the whole server may hold: small, so a script reaches it. */
#define SIM_OUT_BUDGET (256 * 1024)

/* What a peer's transport does besides passing bytes through. */
struct sim_behaviour {
	size_t write_quota;     /* bytes write() still accepts; SIZE_MAX: any */
	size_t read_chunk;      /* bytes one read() returns at most; 0: any */
	int fail;               /* the next call of any kind fails */
	int handshake_wants;    /* WANT_READ answers before the handshake is done */
	int read_wants_write;   /* the next read() asks for writability first */
};

struct sim_transport {
	struct transport base;
	struct transport *plain;        /* the socket as it is */
	struct sim_behaviour *how;      /* the peer's, which outlives us */
};

struct sim_peer {
	int fd;                 /* the client's end, or -1 */
	int relay_fd;           /* the relay's end, while the relay may hold it */
	int raw;                /* sent bytes that need not be HTTP: answers unchecked */
	uint64_t heads;         /* of the requests not yet answered, in order from
	                         * bit 0: which are HEAD (their answers have no body) */
	size_t unanswered;
	struct sim_behaviour how;
	struct buf answers;     /* bytes received and not yet parsed */
	const char *rest;       /* the unsent part of a request cut short */
	size_t rest_len;
	int statuses[64];       /* every final status received, in order */
	size_t status_count;
};

struct sim {
	struct config config;
	struct server server;
	struct sim_peer peers[SIM_PEERS];
	struct timeval tv_short, tv_long;
	uint64_t random_state;
	uint8_t id[MAILBOX_ID_LEN], sender[MAILBOX_CLAIM_LEN];
	char *payload;                  /* the mailbox's raw payload */
	struct buf templates[16];
	size_t template_count;
	int stopped;
	const char *violation;          /* the first invariant that failed, or NULL */
};

enum sim_template {
	SIM_READ_SENDER, SIM_READ_RECEIVER, SIM_POLL_SENDER, SIM_POLL_RECEIVER,
	SIM_UPDATE_SENDER, SIM_UPDATE_RECEIVER, SIM_DELETE_SENDER, SIM_RELINQUISH,
	SIM_PREVIEW, SIM_CREATE, SIM_UPDATE_CHUNKED, SIM_READ_HTTP10, SIM_READ_CLOSE,
	SIM_UPDATE_RETRY, SIM_HEAD, SIM_UPDATE_BIG
};

#define SIM_SENDER "11111111-1111-4111-8111-111111111111"
#define SIM_RECEIVER "22222222-2222-4222-8222-222222222222"
#define SIM_OTHER "33333333-3333-4333-8333-333333333333"
#define SIM_ID "44444444-4444-4444-8444-444444444444"

static inline int sim_random(void *ctx, unsigned char *out, size_t len)
{
	struct sim *sim = ctx;

	for (size_t i = 0; i < len; i++) {
		sim->random_state = sim->random_state * 6364136223846793005ULL + 1442695040888963407ULL;
		out[i] = (unsigned char)(sim->random_state >> 56);
	}
	return 0;
}

/* --- the scripted transport --------------------------------------------- */

static inline struct sim_transport *sim_transport_of(struct transport *t)
{
	return (struct sim_transport *)(void *)t;
}

static inline int sim_fails(struct sim_transport *t)
{
	if (!t->how->fail)
		return 0;
	t->how->fail = 0;
	return 1;
}

static inline int sim_handshake(struct transport *t)
{
	struct sim_transport *st = sim_transport_of(t);

	if (sim_fails(st))
		return TRANSPORT_ERROR;
	if (st->how->handshake_wants > 0) {
		st->how->handshake_wants--;
		return TRANSPORT_WANT_READ;
	}
	return 0;
}

static inline ssize_t sim_read(struct transport *t, char *buf, size_t len)
{
	struct sim_transport *st = sim_transport_of(t);
	ssize_t n;

	if (sim_fails(st))
		return TRANSPORT_ERROR;
	if (st->how->read_wants_write) {
		st->how->read_wants_write = 0;
		return TRANSPORT_WANT_WRITE;
	}
	if (st->how->read_chunk != 0 && len > st->how->read_chunk)
		len = st->how->read_chunk;
	n = st->plain->ops->read(st->plain, buf, len);
	t->drained = st->plain->drained;
	return n;
}

static inline ssize_t sim_write(struct transport *t, const char *buf, size_t len)
{
	struct sim_transport *st = sim_transport_of(t);
	ssize_t n;

	if (sim_fails(st))
		return TRANSPORT_ERROR;
	if (st->how->write_quota == 0)
		return TRANSPORT_WANT_WRITE;
	if (len > st->how->write_quota)
		len = st->how->write_quota;
	n = st->plain->ops->write(st->plain, buf, len);
	if (n > 0 && st->how->write_quota != SIZE_MAX)
		st->how->write_quota -= (size_t)n;
	return n;
}

/* A real transport sends corked bytes later; the simulation's client
 * reads them at once either way. */
static inline void sim_cork(struct transport *t)
{
	(void)t;
}

static inline int sim_shutdown(struct transport *t)
{
	return sim_fails(sim_transport_of(t)) ? TRANSPORT_ERROR : 0;
}

static inline int sim_pending(struct transport *t)
{
	(void)t;
	return 0;
}

static inline void sim_info(struct transport *t, struct transport_info *info)
{
	(void)t;
	memset(info, 0, sizeof(*info));
}

static inline void sim_transport_free(struct transport *t)
{
	struct sim_transport *st = sim_transport_of(t);

	st->plain->ops->free(st->plain);
	free(st);
}

static const struct transport_ops sim_transport_ops = {
	.handshake = sim_handshake,
	.read = sim_read,
	.write = sim_write,
	.cork = sim_cork,
	.shutdown = sim_shutdown,
	.pending = sim_pending,
	.info = sim_info,
	.free = sim_transport_free,
};

/* --- set-up ------------------------------------------------------------- */

static inline struct buf *sim_template_start(struct sim *sim)
{
	struct buf *b = &sim->templates[sim->template_count++];

	buf_init(b);
	return b;
}

static inline void sim_request(struct sim *sim, const char *head, const char *body)
{
	struct buf *b = sim_template_start(sim);

	buf_append_str(b, head);
	if (body != NULL) {
		buf_append_lit(b, "Content-Type: application/json\r\nContent-Length: ");
		buf_append_uint(b, strlen(body));
		buf_append_lit(b, "\r\n\r\n");
		buf_append_str(b, body);
	} else {
		buf_append_lit(b, "\r\n");
	}
}

static inline void sim_chunk(struct buf *b, const char *data, size_t len)
{
	char size[24];
	int n = snprintf(size, sizeof(size), "%zx\r\n", len);

	buf_append(b, size, (size_t)n);
	buf_append(b, data, len);
	buf_append_lit(b, "\r\n");
}

static inline void sim_templates(struct sim *sim)
{
	static const char base64[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *update = "{\"payload\":{\"type\":\"AEAD_AES_128_GCM\","
	    "\"data\":\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"}}";
	struct buf *b;

	sim_request(sim, "POST /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: " SIM_SENDER
	    "\r\n", NULL);
	sim_request(sim, "POST /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: " SIM_RECEIVER
	    "\r\n", NULL);
	/* Long-polls on the version the mailbox is created with: an update
	 * wakes them (spec 6), and they park again once it is created again. */
	sim_request(sim, "POST /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: " SIM_SENDER
	    "\r\nIf-None-Match: \"1\"\r\nPrefer: wait=30\r\n", NULL);
	sim_request(sim, "POST /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: " SIM_RECEIVER
	    "\r\nIf-None-Match: \"1\"\r\nPrefer: wait=30\r\n", NULL);
	sim_request(sim, "PUT /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: " SIM_SENDER
	    "\r\n", update);
	sim_request(sim, "PUT /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: " SIM_RECEIVER
	    "\r\n", update);
	sim_request(sim, "DELETE /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: " SIM_SENDER
	    "\r\n", NULL);
	sim_request(sim, "PATCH /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: " SIM_RECEIVER
	    "\r\nMailbox-Request-ID: r1\r\n", NULL);
	sim_request(sim, "GET /v1/m/" SIM_ID "?v=c HTTP/1.1\r\n", NULL);
	sim_request(sim, "POST /v1/m HTTP/1.1\r\nMailbox-Device-Claim: " SIM_OTHER "\r\n",
	    "{\"payload\":{\"type\":\"AEAD_AES_128_GCM\",\"data\":"
	    "\"AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8=\"},"
	    "\"displayInformation\":{\"title\":\"t\",\"description\":\"\","
	    "\"imageURL\":\"https://x.example/i.png\"}}");
	b = sim_template_start(sim);
	buf_append_lit(b, "PUT /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: " SIM_SENDER
	    "\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n"
	    "Expect: 100-continue\r\n\r\n");
	sim_chunk(b, update, 16);
	sim_chunk(b, update + 16, strlen(update) - 16);
	buf_append_lit(b, "0\r\n\r\n");
	sim_request(sim, "POST /v1/m/" SIM_ID " HTTP/1.0\r\nMailbox-Device-Claim: " SIM_SENDER
	    "\r\n", NULL);
	sim_request(sim, "POST /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: " SIM_RECEIVER
	    "\r\nConnection: close\r\n", NULL);
	sim_request(sim, "PUT /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: " SIM_SENDER
	    "\r\nMailbox-Request-ID: u1\r\n", update);
	sim_request(sim, "HEAD /v1/m/" SIM_ID " HTTP/1.1\r\n", NULL);
	/* An update that puts a large payload back, so that reads are large. */
	b = sim_template_start(sim);
	{
		static const char start[] = "{\"payload\":{\"type\":\"AEAD_AES_128_GCM\",\"data\":\"";
		size_t data_len = 4 * ((SIM_PAYLOAD_LEN + 2) / 3);

		buf_append_lit(b, "PUT /v1/m/" SIM_ID " HTTP/1.1\r\nMailbox-Device-Claim: "
		    SIM_SENDER "\r\nContent-Type: application/json\r\nContent-Length: ");
		buf_append_uint(b, sizeof(start) - 1 + data_len + 3);
		buf_append_lit(b, "\r\n\r\n");
		buf_append_lit(b, start);
		if (buf_reserve(b, data_len) != 0)
			abort();
		for (size_t i = 0; i < data_len; i++)
			b->data[b->len + i] = base64[i % 64];
		b->len += data_len;
		buf_append_lit(b, "\"}}");
	}
}

static inline void sim_parse_uuid(const char *text, uint8_t out[16])
{
	for (size_t i = 0, j = 0; text[i] != '\0' && j < 16; i++) {
		if (text[i] == '-')
			continue;
		sscanf(text + i, "%2hhx", &out[j++]);
		i++;
	}
}

/* The mailbox the templates name, as it was created (again). */
static inline void sim_create_mailbox(struct sim *sim)
{
	struct mailbox_spec spec;
	struct mailbox *mb;

	if (store_get(sim->server.store, sim->id, server_now(&sim->server)) != NULL)
		return;
	memset(&spec, 0, sizeof(spec));
	memcpy(spec.sender_claim, sim->sender, sizeof(spec.sender_claim));
	spec.rights = MAILBOX_READ | MAILBOX_WRITE | MAILBOX_DELETE;
	spec.expires_at = server_now(&sim->server) + 3600;
	spec.payload_type = (struct store_bytes){ "AEAD_AES_128_GCM", 16 };
	spec.payload_data = (struct store_bytes){ sim->payload, SIM_PAYLOAD_LEN };
	spec.title = (struct store_bytes){ "Car key", 7 };
	spec.description = (struct store_bytes){ "", 0 };
	spec.image_url = (struct store_bytes){ "https://x.example/i.png", 23 };
	store_restore(sim->server.store, &spec, sim->id, 1, &mb);
}

static inline struct sim *sim_new(void)
{
	static char *argv[] = { "relay", "--no-tls", NULL };
	struct sim *sim = calloc(1, sizeof(*sim));
	struct server *s = &sim->server;
	struct store_limits limits = { 1000, 64 * 1024 * 1024, 0 };
	/* Every peer is one address: a few connections and long-polls each. */
	size_t quota_limits[QUOTA_KINDS] = { SIM_PEERS, 2, 0 };
	uint8_t hash_key[SIPHASH_KEY_LEN] = { 0 };
	struct api_config api_config;

	if (sim == NULL || config_parse(&sim->config, 2, argv, stdout, stderr) != CONFIG_RUN)
		abort();
	sim->config.max_waiters = 3;
	s->config = &sim->config;
	log_init(&s->log);
	s->log.level = LOG_ERROR;
	s->spare_fd = -1;
	s->base = event_base_new();
	s->store = store_new(&limits, sim_random, sim);
	memset(&api_config, 0, sizeof(api_config));
	api_config.public_url = "https://localhost:8443";
	api_config.default_ttl = sim->config.default_ttl;
	api_config.max_ttl = sim->config.max_ttl;
	api_config.max_wait = (unsigned)sim->config.max_wait;
	s->quota = quota_new(quota_limits, hash_key);
	api_config.quota = s->quota;
	s->api = api_new(&api_config, s->store, server_now(s));
	if (s->base == NULL || s->store == NULL)
		abort();
	server_init_conns(s);
	s->conn_context.out_budget = SIM_OUT_BUDGET;
	sim->tv_short.tv_sec = 10;
	sim->tv_long.tv_sec = 30;
	s->conn_context.handshake_tv = s->conn_context.header_tv = &sim->tv_short;
	s->conn_context.linger_tv = &sim->tv_short;
	s->conn_context.body_tv = s->conn_context.idle_tv = &sim->tv_long;
	sim_parse_uuid(SIM_ID, sim->id);
	sim_parse_uuid(SIM_SENDER, sim->sender);
	sim->payload = malloc(SIM_PAYLOAD_LEN);
	if (sim->payload == NULL)
		abort();
	for (size_t i = 0; i < SIM_PAYLOAD_LEN; i++)
		sim->payload[i] = (char)(i * 7);
	sim_templates(sim);
	sim_create_mailbox(sim);
	for (size_t i = 0; i < SIM_PEERS; i++) {
		sim->peers[i].fd = sim->peers[i].relay_fd = -1;
		buf_init(&sim->peers[i].answers);
	}
	return sim;
}

/* --- what the script does ----------------------------------------------- */

/* The relay's connection for a peer, if it still has one. */
static inline struct conn *sim_conn(struct sim *sim, size_t peer)
{
	int fd = sim->peers[peer].relay_fd;

	for (struct conn *c = sim->server.conns; c != NULL && fd >= 0; c = c->next) {
		if (c->fd == fd)
			return c;
	}
	return NULL;
}

static inline void sim_fail(struct sim *sim, const char *what)
{
	if (sim->violation == NULL)
		sim->violation = what;
}

/* A new client; 0, or -1 when the slot is taken, the relay stops, or the
 * address has as many connections as it may (the relay turns it away, as
 * the server's accept callback does: its clients may have left unnoticed). */
static inline int sim_connect(struct sim *sim, size_t peer, size_t sndbuf)
{
	struct sim_peer *p = &sim->peers[peer];
	struct api_client client;
	struct quota_entry *quota = NULL;
	struct sim_transport *t;
	int fds[2];

	if (p->fd >= 0 || sim->stopped)
		return -1;
	memset(&client, 0, sizeof(client));
	if (quota_take(sim->server.quota, QUOTA_CONNECTIONS, client.key, 1, &quota) != 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, fds) != 0) {
		quota_give(sim->server.quota, quota, QUOTA_CONNECTIONS, 1);
		return -1;
	}
	if (sndbuf != 0) {
		int size = (int)sndbuf;

		setsockopt(fds[1], SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
		setsockopt(fds[0], SOL_SOCKET, SO_RCVBUF, &size, sizeof(size));
	}
	t = calloc(1, sizeof(*t));
	if (t == NULL)
		abort();
	t->base.ops = &sim_transport_ops;
	t->base.fd = fds[1];
	t->plain = transport_plain_new(fds[1]);
	t->how = &p->how;
	memset(&p->how, 0, sizeof(p->how));
	p->how.write_quota = SIZE_MAX;
	p->fd = fds[0];
	p->relay_fd = fds[1];
	p->raw = 0;
	p->heads = 0;
	p->unanswered = 0;
	p->answers.len = 0;
	p->rest = NULL;
	p->status_count = 0;
	server_conn_open(&sim->server, fds[1], &t->base, &client, quota);
	return 0;
}

static inline void sim_send(struct sim *sim, size_t peer, const char *bytes, size_t len)
{
	struct sim_peer *p = &sim->peers[peer];

	(void)sim;
	while (p->fd >= 0 && len > 0) {
		ssize_t n = send(p->fd, bytes, len, MSG_NOSIGNAL);

		if (n <= 0)
			break;      /* full or gone: the rest is lost, as a client's would be */
		bytes += n;
		len -= (size_t)n;
	}
}

/* Send a template, or only its first cut bytes (the rest is kept for
 * sim_send_rest). */
static inline void sim_send_template(struct sim *sim, size_t peer, size_t which, size_t cut)
{
	const struct buf *b = &sim->templates[which % sim->template_count];
	struct sim_peer *p = &sim->peers[peer];

	if (cut == 0 || cut > b->len)
		cut = b->len;
	/* Behind the unsent rest of another request, this one makes a stream
	 * that is not HTTP: what the relay answers then is not checked (a HEAD
	 * it could not parse is not known to be one). */
	if (p->rest_len > 0)
		p->raw = 1;
	/* So does a HEAD cut short, if a deadline answers it before the rest:
	 * the relay cannot know an unfinished request line said HEAD. */
	if (which % sim->template_count == SIM_HEAD && cut < b->len)
		p->raw = 1;
	if (p->unanswered < 64) {
		if (which % sim->template_count == SIM_HEAD)
			p->heads |= 1ull << p->unanswered;
		p->unanswered++;
	} else {
		p->raw = 1;     /* too many to follow */
	}
	sim_send(sim, peer, b->data, cut);
	p->rest = b->data + cut;
	p->rest_len = b->len - cut;
}

static inline void sim_send_rest(struct sim *sim, size_t peer)
{
	struct sim_peer *p = &sim->peers[peer];

	if (p->rest_len > 0)
		sim_send(sim, peer, p->rest, p->rest_len);
	p->rest_len = 0;
}

static inline void sim_send_raw(struct sim *sim, size_t peer, const char *bytes, size_t len)
{
	sim->peers[peer].raw = 1;
	sim_send(sim, peer, bytes, len);
}

/* Check and drop every whole answer at the front of the peer's buffer. */
static inline void sim_parse_answers(struct sim *sim, struct sim_peer *p)
{
	for (;;) {
		char *data = p->answers.data, *end, *cl;
		size_t head_len, body_len = 0;
		int status;

		if (p->answers.len < 12)
			return;
		if (memcmp(data, "HTTP/1.1 ", 9) != 0 || data[9] < '1' || data[9] > '5') {
			sim_fail(sim, "an answer does not begin with an HTTP/1.1 status line");
			p->raw = 1;
			return;
		}
		status = (data[9] - '0') * 100 + (data[10] - '0') * 10 + (data[11] - '0');
		end = memmem(data, p->answers.len, "\r\n\r\n", 4);
		if (end == NULL)
			return;
		head_len = (size_t)(end - data) + 4;
		cl = memmem(data, head_len, "\r\nContent-Length: ", 18);
		if (cl != NULL)
			body_len = strtoul(cl + 18, NULL, 10);
		else if (status != 100 && status != 204)
			sim_fail(sim, "an answer without Content-Length");
		if (status >= 200 && (p->heads & 1))
			body_len = 0;
		if (p->answers.len < head_len + body_len)
			return;
		if (status >= 200) {
			p->heads >>= 1;
			p->unanswered -= p->unanswered > 0;
		}
		if (status >= 200 && p->status_count < sizeof(p->statuses) / sizeof(p->statuses[0]))
			p->statuses[p->status_count++] = status;
		buf_consume(&p->answers, head_len + body_len);
	}
}

/* Take what the relay has sent, at most max bytes. */
static inline void sim_recv(struct sim *sim, size_t peer, size_t max)
{
	struct sim_peer *p = &sim->peers[peer];
	char chunk[16384];

	while (p->fd >= 0 && max > 0) {
		ssize_t n = recv(p->fd, chunk, max < sizeof(chunk) ? max : sizeof(chunk), 0);

		if (n <= 0)
			break;
		max -= (size_t)n;
		if (!p->raw) {
			buf_append(&p->answers, chunk, (size_t)n);
			sim_parse_answers(sim, p);
		}
	}
}

static inline void sim_shutdown_write(struct sim *sim, size_t peer)
{
	if (sim->peers[peer].fd >= 0)
		shutdown(sim->peers[peer].fd, SHUT_WR);
}

/* The client goes, unread answers and all: the relay's next write to it
 * fails, as it would after a TCP reset. */
static inline void sim_close(struct sim *sim, size_t peer)
{
	struct sim_peer *p = &sim->peers[peer];

	if (p->fd < 0)
		return;
	close(p->fd);
	p->fd = -1;
	p->answers.len = 0;
	p->rest_len = 0;
}

/* One turn of the loop: every callback that is ready runs once. (Without
 * EVLOOP_ONCE, libevent goes on turning while anything is active, and a
 * transport that keeps asking to write would keep it turning.) */
static inline void sim_turn(struct sim *sim)
{
	event_base_loop(sim->server.base, EVLOOP_ONCE | EVLOOP_NONBLOCK);
}

/* Enough turns for the relay to finish what it can do now. */
static inline void sim_settle(struct sim *sim)
{
	for (int i = 0; i < 32; i++)
		sim_turn(sim);
}

/* The peer's connection timer fires now, as libevent would fire it: taken
 * out of the timeout heap, then made active. A timer that is not pending
 * cannot fire. */
static inline void sim_fire_timer(struct sim *sim, size_t peer)
{
	struct conn *c = sim_conn(sim, peer);

	if (c == NULL || !evtimer_pending(&c->timer, NULL))
		return;
	evtimer_del(&c->timer);
	event_active(&c->timer, EV_TIMEOUT, 0);
}

/* Time passes beyond every mailbox's expiry instant, and the tick runs. */
static inline void sim_expire(struct sim *sim)
{
	api_tick(sim->server.api, server_now(&sim->server) + 10 * 365 * 86400);
	/* The api's clock goes back to the loop's with the next request. */
	api_tick(sim->server.api, server_now(&sim->server));
}

/* SIGTERM: what server_on_signal does to every connection. */
static inline void sim_stop(struct sim *sim)
{
	struct conn *c, *next;

	if (sim->stopped)
		return;
	sim->stopped = 1;
	sim->server.stopping = 1;
	for (c = sim->server.conns; c != NULL; c = next) {
		next = c->next;
		conn_stop(c);
	}
}

static inline struct sim_behaviour *sim_behaviour(struct sim *sim, size_t peer)
{
	return &sim->peers[peer].how;
}

/* What must hold between any two steps of a script. */
static inline void sim_check(struct sim *sim)
{
	struct server *s = &sim->server;
	size_t parked = 0, pending = 0, count = 0;

	for (struct conn *c = s->conns; c != NULL; c = c->next) {
		size_t out = c->out.len - c->out_sent;

		count++;
		parked += c->state == CONN_PARKED;
		pending += c->out_counted;
		if (c->out_counted != out)
			sim_fail(sim, "a connection's unsent output is miscounted");
		/* One answer beyond the cap at most: a read of the mailbox is
		 * under 64 KiB, and a request is not parsed past the cap. */
		if (out > 64 * 1024 + 64 * 1024)
			sim_fail(sim, "a connection holds more unsent output than its cap allows");
		if (c->state == CONN_CLOSED)
			sim_fail(sim, "a closed connection is still listed");
	}
	if (count != s->conn_count)
		sim_fail(sim, "the server's connection count is off");
	if (parked != s->conn_context.waiter_count)
		sim_fail(sim, "the server's waiter count is off");
	if (pending != s->conn_context.out_pending)
		sim_fail(sim, "the server's unsent output is miscounted");
}

/* Every client leaves; the relay must let go of every connection. */
static inline void sim_drain(struct sim *sim)
{
	for (size_t i = 0; i < SIM_PEERS; i++)
		sim_close(sim, i);
	for (int i = 0; i < 64 && sim->server.conn_count > 0; i++) {
		for (struct conn *c = sim->server.conns; c != NULL; c = c->next) {
			if (evtimer_pending(&c->timer, NULL)) {
				evtimer_del(&c->timer);
				event_active(&c->timer, EV_TIMEOUT, 0);
			}
		}
		sim_turn(sim);
	}
	sim_check(sim);
	if (sim->server.conn_count != 0)
		sim_fail(sim, "connections outlive their clients and their timers");
	if (sim->server.conn_context.waiter_count != 0 ||
	    sim->server.conn_context.out_pending != 0)
		sim_fail(sim, "waiters or unsent output outlive their connections");
	if (quota_entries(sim->server.quota) != 0)
		sim_fail(sim, "an address's counts outlive its connections and long-polls");
}

static inline void sim_free(struct sim *sim)
{
	struct server *s = &sim->server;

	while (s->conns != NULL)
		conn_free(s->conns);
	for (size_t i = 0; i < SIM_PEERS; i++) {
		sim_close(sim, i);
		buf_free(&sim->peers[i].answers);
	}
	for (size_t i = 0; i < sim->template_count; i++)
		buf_free(&sim->templates[i]);
	api_free(s->api);
	quota_free(s->quota);
	store_free(s->store);
	event_base_free(s->base);
	free(sim->payload);
	free(sim);
}

#endif
