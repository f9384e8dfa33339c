/*
 * https.c — blocking HTTP/1.1 over TLS (or plain TCP for a --no-tls relay),
 * answers parsed by llhttp.
 *
 * The socket stays non-blocking and every wait is a poll() bounded by the
 * request's deadline, so a relay that accepts and never answers, or drips
 * one byte at a time, costs at most timeout_s. Failures become one sentence
 * naming the host and, where there is one, the errno: the TLS library's own
 * error strings ("SSL - ...") mean nothing to the person at the terminal.
 */
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "client/https.h"
#include "lib/clock.h"
#include "protocol/response_parser.h"
#include "net/hostport.h"
#include "net/tls.h"
#include "net/transport.h"

#define HTTPS_CONNECT_TIMEOUT_S 10      /* per address, within the deadline */
#define HTTPS_BODY_MAX (16u << 20)

/* One attempt ends in one of these. */
enum https_attempt {
	HTTPS_ATTEMPT_DONE,
	HTTPS_ATTEMPT_NO_CONNECTION,    /* nothing reached the relay */
	HTTPS_ATTEMPT_LOST,             /* the connection broke before the answer */
	HTTPS_ATTEMPT_TIMED_OUT,        /* the deadline passed: no second attempt */
	HTTPS_ATTEMPT_UNTRUSTED
};

/* An open connection. */
struct https_conn {
	int fd;
	int tls;
	struct transport *t;            /* TLS or plain, over fd */
	int64_t deadline_ms;            /* monotonic */
	int timed_out;
	int sys_errno;                  /* of the last failed send or recv, or 0 */
};

/* "host:port", with brackets around an IPv6 address. */
static void https_where(const struct url *origin, char *out, size_t out_len)
{
	hostport_format(out, out_len, origin->host, origin->port);
}

int https_init(struct https *h, struct rng *rng, const char *cacert, int insecure,
    char *err, size_t err_len)
{
	/* tls_client_new says plainly what is wrong with the CA file. */
	h->tls = tls_client_new(rng, cacert, !insecure, err, err_len);
	return h->tls != NULL ? 0 : -1;
}

void https_free(struct https *h)
{
	tls_client_free(h->tls);
	h->tls = NULL;
}

/* --- the connection ------------------------------------------------------ */

/* Wait until fd is ready for events or the deadline passes: 0, or -1. */
static int https_wait(struct https_conn *c, short events)
{
	for (;;) {
		struct pollfd pfd = { c->fd, events, 0 };
		int64_t left = c->deadline_ms - clock_mono_now_ms();
		int n;

		if (left <= 0) {
			c->timed_out = 1;
			return -1;
		}
		n = poll(&pfd, 1, left > 60000 ? 60000 : (int)left);
		if (n > 0)
			return 0;
		if (n < 0 && errno != EINTR) {
			c->sys_errno = errno;
			return -1;
		}
	}
}

/* A non-blocking TCP connection to the first address that answers. */
static int https_connect(struct https_conn *c, const struct url *origin,
    char *err, size_t err_len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *list, *ai;
	char port[8], where[300];
	int rc, saved = ECONNREFUSED;

	https_where(origin, where, sizeof(where));
	snprintf(port, sizeof(port), "%u", origin->port);
	rc = getaddrinfo(origin->host, port, &hints, &list);
	if (rc != 0) {
		snprintf(err, err_len, "cannot find the relay's address %s: %s", origin->host,
		    rc == EAI_SYSTEM ? strerror(errno) : gai_strerror(rc));
		return -1;
	}
	for (ai = list; ai != NULL && !c->timed_out; ai = ai->ai_next) {
		int64_t deadline = c->deadline_ms;
		int soerr = 0;
		socklen_t soerr_len = sizeof(soerr);

		c->fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (c->fd < 0) {
			saved = errno;
			continue;
		}
		if (connect(c->fd, ai->ai_addr, ai->ai_addrlen) == 0)
			break;
		if (errno != EINPROGRESS) {
			saved = errno;
			goto next;
		}
		/* One silent address must not use up the time of the others. */
		if (c->deadline_ms - clock_mono_now_ms() > HTTPS_CONNECT_TIMEOUT_S * 1000)
			c->deadline_ms = clock_mono_now_ms() + HTTPS_CONNECT_TIMEOUT_S * 1000;
		rc = https_wait(c, POLLOUT);
		if (c->deadline_ms != deadline && c->timed_out && clock_mono_now_ms() < deadline)
			c->timed_out = 0;
		c->deadline_ms = deadline;
		if (rc != 0) {
			saved = c->sys_errno ? c->sys_errno : ETIMEDOUT;
			goto next;
		}
		if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) != 0)
			soerr = errno;
		if (soerr == 0)
			break;
		saved = soerr;
next:
		close(c->fd);
		c->fd = -1;
	}
	freeaddrinfo(list);
	if (c->fd < 0) {
		snprintf(err, err_len, "cannot connect to %s: %s", where, strerror(saved));
		return -1;
	}
	return 0;
}

/* Why the transport's last call failed: its errno, or 0. */
static int https_errno(struct https_conn *c)
{
	int detail = 0;

	if (c->sys_errno == 0 && c->tls &&
	    tls_transport_failure(c->t, &detail) == TLS_FAILURE_SOCKET)
		c->sys_errno = detail;
	return c->sys_errno;
}

/*
 * One transport call, repeated until it is done: a WANT_* becomes a poll()
 * for that readiness within the deadline. The result of the call, or
 * TRANSPORT_ERROR when the deadline passed first (c->timed_out).
 */
static ssize_t https_drive(struct https_conn *c, ssize_t (*call)(struct https_conn *c,
    char *buf, size_t len), char *buf, size_t len)
{
	for (;;) {
		ssize_t n = call(c, buf, len);

		if (n != TRANSPORT_WANT_READ && n != TRANSPORT_WANT_WRITE) {
			/* A plain transport leaves its reason in errno. */
			if (n == TRANSPORT_ERROR && !c->tls)
				c->sys_errno = errno;
			return n;
		}
		if (https_wait(c, n == TRANSPORT_WANT_READ ? POLLIN : POLLOUT) != 0)
			return TRANSPORT_ERROR;
	}
}

static ssize_t https_call_handshake(struct https_conn *c, char *buf, size_t len)
{
	return c->t->ops->handshake(c->t);
}

static ssize_t https_call_read(struct https_conn *c, char *buf, size_t len)
{
	return c->t->ops->read(c->t, buf, len);
}

static ssize_t https_call_write(struct https_conn *c, char *buf, size_t len)
{
	return c->t->ops->write(c->t, buf, len);
}

static ssize_t https_call_shutdown(struct https_conn *c, char *buf, size_t len)
{
	return c->t->ops->shutdown(c->t);
}

/* The handshake's failure, in words. */
static enum https_attempt https_handshake_failed(struct https_conn *c,
    const struct url *origin, char *err, size_t err_len)
{
	char where[300], found[400];
	int detail;

	https_where(origin, where, sizeof(where));
	if (tls_client_verify_failed(c->t, "give the relay's CA with --cacert", found,
	    sizeof(found))) {
		snprintf(err, err_len, "the certificate of the relay at %s is not trusted: %s",
		    origin->host, found);
		return HTTPS_ATTEMPT_UNTRUSTED;
	}
	if (c->timed_out)
		return HTTPS_ATTEMPT_TIMED_OUT;
	switch (tls_transport_failure(c->t, &detail)) {
	case TLS_FAILURE_SOCKET:
		snprintf(err, err_len, "the connection to %s broke during the TLS handshake: %s",
		    where, strerror(detail ? detail : EIO));
		return HTTPS_ATTEMPT_LOST;
	case TLS_FAILURE_CLOSED:
		snprintf(err, err_len, "%s closed the connection during the TLS handshake", where);
		return HTTPS_ATTEMPT_LOST;
	case TLS_FAILURE_MEMORY:
		snprintf(err, err_len, "out of memory during the TLS handshake with %s", where);
		return HTTPS_ATTEMPT_NO_CONNECTION;
	case TLS_FAILURE_REFUSED:
		snprintf(err, err_len, "%s refused the TLS handshake: it and this client have no "
		    "TLS version or cipher in common", where);
		return HTTPS_ATTEMPT_NO_CONNECTION;
	case TLS_FAILURE_NOT_TLS:
		snprintf(err, err_len, "%s does not speak TLS on that port (an http:// relay?)",
		    where);
		return HTTPS_ATTEMPT_NO_CONNECTION;
	default:
		snprintf(err, err_len, "the TLS handshake with %s failed (TLS library error -0x%04X)",
		    where, (unsigned)detail);
		return HTTPS_ATTEMPT_LOST;
	}
}

static enum https_attempt https_open(struct https *h, const struct url *origin,
    struct https_conn *c, char *err, size_t err_len)
{
	c->tls = origin->tls;
	if (https_connect(c, origin, err, err_len) != 0)
		return c->timed_out ? HTTPS_ATTEMPT_TIMED_OUT : HTTPS_ATTEMPT_NO_CONNECTION;
	c->t = c->tls ? tls_client_transport_new(h->tls, c->fd, origin->host) :
	    transport_plain_new(c->fd);
	if (c->t == NULL) {
		snprintf(err, err_len, "out of memory setting up TLS");
		return HTTPS_ATTEMPT_NO_CONNECTION;
	}
	if (!c->tls || https_drive(c, https_call_handshake, NULL, 0) == 0)
		return HTTPS_ATTEMPT_DONE;
	return https_handshake_failed(c, origin, err, err_len);
}

static void https_close(struct https_conn *c)
{
	if (c->t != NULL) {
		/* A goodbye if it goes at once; the answer is in already. */
		if (c->tls && c->fd >= 0)
			https_call_shutdown(c, NULL, 0);
		c->t->ops->free(c->t);
		c->t = NULL;
	}
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
}

static int https_write_all(struct https_conn *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = https_drive(c, https_call_write, (char *)data, len);

		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static enum https_attempt https_attempt(struct https *h, const struct url *origin,
    const struct buf *request, int64_t deadline_ms, struct https_response *resp,
    char *err, size_t err_len)
{
	struct https_conn c = { .fd = -1, .deadline_ms = deadline_ms };
	struct response_parser a;
	enum https_attempt result;
	char chunk[16384], where[300];

	https_where(origin, where, sizeof(where));
	result = https_open(h, origin, &c, err, err_len);
	if (result != HTTPS_ATTEMPT_DONE) {
		if (c.t != NULL)
			c.t->ops->free(c.t);
		if (c.fd >= 0)
			close(c.fd);
		return result;
	}
	response_parser_init(&a, &resp->body, HTTPS_BODY_MAX);
	if (https_write_all(&c, request->data, request->len) != 0) {
		snprintf(err, err_len, "the connection to %s broke while sending: %s", where,
		    strerror(https_errno(&c) ? c.sys_errno : EPIPE));
		result = c.timed_out ? HTTPS_ATTEMPT_TIMED_OUT : HTTPS_ATTEMPT_LOST;
		goto done;
	}
	for (;;) {
		ssize_t n = https_drive(&c, https_call_read, chunk, sizeof(chunk));
		int r = n < 0 ? -1 : response_parser_feed(&a, chunk, (size_t)n);

		if (r > 0)
			break;
		if (r == 0)
			continue;
		if (c.timed_out)
			result = HTTPS_ATTEMPT_TIMED_OUT;
		else if (a.too_large)
			snprintf(err, err_len, "the answer from %s is larger than %u bytes", where,
			    HTTPS_BODY_MAX);
		else if (n > 0)
			snprintf(err, err_len, "the answer from %s is not HTTP", where);
		else if (n == 0)
			snprintf(err, err_len, "%s closed the connection before answering", where);
		else
			snprintf(err, err_len, "the connection to %s broke before its answer: %s",
			    where, https_errno(&c) ? strerror(c.sys_errno) : "the TLS record was damaged");
		if (result != HTTPS_ATTEMPT_TIMED_OUT)
			result = HTTPS_ATTEMPT_LOST;
		goto done;
	}
	resp->status = a.status;
	memcpy(resp->etag, a.etag, sizeof(resp->etag));
done:
	https_close(&c);
	return result;
}

enum https_status https_exchange(struct https *h, const struct url *origin,
    const struct https_request *req, struct https_response *resp,
    char *err, size_t err_len)
{
	struct buf request;
	enum https_attempt r;
	int64_t deadline_ms;
	char host[300];

	/* The port only when it is not the scheme's own. */
	hostport_format(host, sizeof(host), origin->host,
	    origin->port != (origin->tls ? 443 : 80) ? origin->port : 0);
	buf_init(&request);
	buf_append_str(&request, req->method);
	buf_append_lit(&request, " ");
	buf_append_str(&request, req->path);
	buf_append_lit(&request, " HTTP/1.1\r\nHost: ");
	buf_append_str(&request, host);
	buf_append_lit(&request, "\r\nUser-Agent: relay-client\r\nConnection: close\r\n");
	if (req->headers != NULL)
		buf_append_str(&request, req->headers);
	if (req->body != NULL) {
		buf_append_lit(&request, "Content-Type: application/json\r\nContent-Length: ");
		buf_append_uint(&request, req->body_len);
		buf_append_lit(&request, "\r\n\r\n");
		buf_append(&request, req->body, req->body_len);
	} else {
		buf_append_lit(&request, "Content-Length: 0\r\n\r\n");
	}
	if (request.failed) {
		buf_free(&request);
		snprintf(err, err_len, "out of memory");
		return HTTPS_UNREACHABLE;
	}
	deadline_ms = clock_mono_now_ms() + (int64_t)req->timeout_s * 1000;
	r = https_attempt(h, origin, &request, deadline_ms, resp, err, err_len);
	/* The same bytes once more: the request ID makes it a retry. */
	if (r == HTTPS_ATTEMPT_LOST)
		r = https_attempt(h, origin, &request, deadline_ms, resp, err, err_len);
	buf_free(&request);
	if (r == HTTPS_ATTEMPT_TIMED_OUT) {
		char where[300];

		https_where(origin, where, sizeof(where));
		snprintf(err, err_len, "no answer from %s within %u s", where, req->timeout_s);
	}
	switch (r) {
	case HTTPS_ATTEMPT_DONE:
		return HTTPS_OK;
	case HTTPS_ATTEMPT_UNTRUSTED:
		return HTTPS_UNTRUSTED;
	default:
		return HTTPS_UNREACHABLE;
	}
}
