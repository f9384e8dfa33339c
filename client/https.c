/*
 * https.c — blocking HTTP/1.1 over TLS (or plain TCP for a --no-tls relay),
 * answers parsed by llhttp.
 */
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <mbedtls/error.h>
#include <mbedtls/net_sockets.h>

#include "client/https.h"
#include "protocol/answer.h"
#include "server/tls.h"
#include "server/transport.h"

#define HTTPS_CONNECT_TIMEOUT_S 10
#define HTTPS_SEND_TIMEOUT_S 30
#define HTTPS_BODY_MAX (16u << 20)

/* One attempt ends in one of these. */
enum https_attempt {
	HTTPS_ATTEMPT_DONE,
	HTTPS_ATTEMPT_NO_CONNECTION,    /* nothing reached the relay */
	HTTPS_ATTEMPT_LOST,             /* the connection broke before the answer */
	HTTPS_ATTEMPT_UNTRUSTED
};

/* An open connection. */
struct https_conn {
	int fd;
	int tls;
	mbedtls_ssl_context ssl;
};

int https_init(struct https *h, struct rng *rng, const char *cacert, int insecure,
    char *err, size_t err_len)
{
	h->tls = tls_client_new(rng, cacert, !insecure, err, err_len);
	return h->tls != NULL ? 0 : -1;
}

void https_free(struct https *h)
{
	tls_client_free(h->tls);
	h->tls = NULL;
}

static int https_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	ssize_t n = transport_send(*(int *)ctx, buf, len);

	return n >= 0 ? (int)n : MBEDTLS_ERR_NET_SEND_FAILED;
}

static int https_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	ssize_t n = transport_recv(*(int *)ctx, buf, len);

	/* A receive timeout (EAGAIN on a blocking socket) is a lost answer. */
	return n >= 0 ? (int)n : MBEDTLS_ERR_NET_RECV_FAILED;
}

/* A TCP connection with a deadline, then blocking with timeouts. */
static int https_connect(const struct config_url *origin, unsigned timeout_s,
    char *err, size_t err_len)
{
	struct addrinfo hints = { .ai_socktype = SOCK_STREAM }, *list, *ai;
	char port[8];
	int fd = -1, rc;

	snprintf(port, sizeof(port), "%u", origin->port);
	rc = getaddrinfo(origin->host, port, &hints, &list);
	if (rc != 0) {
		snprintf(err, err_len, "cannot reach the relay at %s: %s", origin->host,
		    gai_strerror(rc));
		return -1;
	}
	errno = ECONNREFUSED;
	for (ai = list; ai != NULL; ai = ai->ai_next) {
		struct pollfd pfd;
		struct timeval rcv = { (time_t)timeout_s, 0 }, snd = { HTTPS_SEND_TIMEOUT_S, 0 };
		int soerr = 0;
		socklen_t soerr_len = sizeof(soerr);

		fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
		if (fd < 0)
			continue;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0 && errno != EINPROGRESS)
			goto next;
		pfd.fd = fd;
		pfd.events = POLLOUT;
		if (poll(&pfd, 1, HTTPS_CONNECT_TIMEOUT_S * 1000) != 1) {
			errno = ETIMEDOUT;
			goto next;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &soerr_len) != 0 || soerr != 0) {
			errno = soerr ? soerr : errno;
			goto next;
		}
		fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) & ~O_NONBLOCK);
		setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &rcv, sizeof(rcv));
		setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &snd, sizeof(snd));
		break;
next:
		rc = errno;
		close(fd);
		fd = -1;
		errno = rc;
	}
	if (fd < 0)
		snprintf(err, err_len, "cannot reach the relay at %s port %u: %s", origin->host,
		    origin->port, strerror(errno));
	freeaddrinfo(list);
	return fd;
}

static enum https_attempt https_open(struct https *h, const struct config_url *origin,
    struct https_conn *c, unsigned timeout_s, char *err, size_t err_len)
{
	int ret;

	c->tls = origin->tls;
	c->fd = https_connect(origin, timeout_s, err, err_len);
	if (c->fd < 0)
		return HTTPS_ATTEMPT_NO_CONNECTION;
	if (!c->tls)
		return HTTPS_ATTEMPT_DONE;
	mbedtls_ssl_init(&c->ssl);
	if (mbedtls_ssl_setup(&c->ssl, tls_client_config(h->tls)) != 0 ||
	    mbedtls_ssl_set_hostname(&c->ssl, origin->host) != 0) {
		snprintf(err, err_len, "out of memory setting up TLS");
		return HTTPS_ATTEMPT_NO_CONNECTION;
	}
	mbedtls_ssl_set_bio(&c->ssl, &c->fd, https_bio_send, https_bio_recv, NULL);
	ret = mbedtls_ssl_handshake(&c->ssl);
	if (ret == 0)
		return HTTPS_ATTEMPT_DONE;
	if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		char why[256];
		size_t len;

		mbedtls_x509_crt_verify_info(why, sizeof(why), "",
		    mbedtls_ssl_get_verify_result(&c->ssl));
		/* One line: the library separates its findings with newlines. */
		for (len = strlen(why); len > 0 && why[len - 1] == '\n'; len--)
			why[len - 1] = '\0';
		for (char *p = why; *p; p++)
			if (*p == '\n')
				*p = ';';
		snprintf(err, err_len, "the relay's certificate is not trusted: %s", why);
		return HTTPS_ATTEMPT_UNTRUSTED;
	}
	{
		char why[128];

		mbedtls_strerror(ret, why, sizeof(why));
		snprintf(err, err_len, "TLS handshake with %s failed: %s", origin->host, why);
	}
	return HTTPS_ATTEMPT_LOST;
}

static void https_close(struct https_conn *c)
{
	if (c->fd < 0)
		return;
	if (c->tls) {
		mbedtls_ssl_close_notify(&c->ssl);
		mbedtls_ssl_free(&c->ssl);
	}
	close(c->fd);
	c->fd = -1;
}

static int https_write_all(struct https_conn *c, const char *data, size_t len)
{
	while (len > 0) {
		ssize_t n = c->tls ? mbedtls_ssl_write(&c->ssl, (const unsigned char *)data, len) :
		    transport_send(c->fd, data, len);

		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

static ssize_t https_read(struct https_conn *c, char *buf, size_t len)
{
	if (!c->tls)
		return transport_recv(c->fd, buf, len);
	for (;;) {
		int n = mbedtls_ssl_read(&c->ssl, (unsigned char *)buf, len);

		if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
			return 0;
		if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		return n;
	}
}

static enum https_attempt https_attempt(struct https *h, const struct config_url *origin,
    const struct buf *request, const struct https_request *req,
    struct https_response *resp, char *err, size_t err_len)
{
	struct https_conn c = { .fd = -1 };
	struct answer a;
	enum https_attempt result;
	char chunk[16384];

	result = https_open(h, origin, &c, req->timeout_s, err, err_len);
	if (result != HTTPS_ATTEMPT_DONE) {
		if (c.fd >= 0) {
			mbedtls_ssl_free(&c.ssl);
			close(c.fd);
		}
		return result;
	}
	answer_init(&a, &resp->body, HTTPS_BODY_MAX);
	if (https_write_all(&c, request->data, request->len) != 0) {
		snprintf(err, err_len, "the connection to the relay was lost while sending");
		https_close(&c);
		return HTTPS_ATTEMPT_LOST;
	}
	for (;;) {
		ssize_t n = https_read(&c, chunk, sizeof(chunk));
		int r = n < 0 ? -1 : answer_feed(&a, chunk, (size_t)n);

		if (r > 0)
			break;
		if (r < 0) {
			snprintf(err, err_len, a.too_large ? "the relay's answer is too large" :
			    "the connection to the relay was lost before its answer");
			https_close(&c);
			return HTTPS_ATTEMPT_LOST;
		}
	}
	resp->status = a.status;
	memcpy(resp->etag, a.etag, sizeof(resp->etag));
	https_close(&c);
	return HTTPS_ATTEMPT_DONE;
}

enum https_status https_exchange(struct https *h, const struct config_url *origin,
    const struct https_request *req, struct https_response *resp,
    char *err, size_t err_len)
{
	struct buf request;
	enum https_attempt r;
	char port[8] = "";

	if (origin->port != (origin->tls ? 443 : 80))
		snprintf(port, sizeof(port), ":%u", origin->port);
	buf_init(&request);
	buf_append_str(&request, req->method);
	buf_append_lit(&request, " ");
	buf_append_str(&request, req->path);
	buf_append_lit(&request, " HTTP/1.1\r\nHost: ");
	if (strchr(origin->host, ':') != NULL) {
		buf_append_lit(&request, "[");
		buf_append_str(&request, origin->host);
		buf_append_lit(&request, "]");
	} else {
		buf_append_str(&request, origin->host);
	}
	buf_append_str(&request, port);
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
	r = https_attempt(h, origin, &request, req, resp, err, err_len);
	/* The same bytes once more: the request ID makes it a retry. */
	if (r == HTTPS_ATTEMPT_LOST)
		r = https_attempt(h, origin, &request, req, resp, err, err_len);
	buf_free(&request);
	switch (r) {
	case HTTPS_ATTEMPT_DONE:
		return HTTPS_OK;
	case HTTPS_ATTEMPT_UNTRUSTED:
		return HTTPS_UNTRUSTED;
	default:
		return HTTPS_UNREACHABLE;
	}
}
