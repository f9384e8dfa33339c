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
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>

#include "client/https.h"
#include "protocol/response_parser.h"
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

/* What the certificate check needs to know of the relay, and what it saw. */
struct https_peer {
	uint8_t ip[16];
	size_t ip_len;                  /* 0: the host is a DNS name */
	const char *host;               /* as the URL names it */
	char names[160];                /* the certificate's names, for a mismatch */
};

/* An open connection. */
struct https_conn {
	int fd;
	int tls;
	mbedtls_ssl_context ssl;
	int64_t deadline_ms;            /* monotonic */
	int timed_out;
	int sys_errno;                  /* of the last failed send or recv, or 0 */
	struct https_peer peer;
};

static int64_t https_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* "host:port", with brackets around an IPv6 address. */
static void https_where(const struct url *origin, char *out, size_t out_len)
{
	snprintf(out, out_len, strchr(origin->host, ':') ? "[%s]:%u" : "%s:%u", origin->host,
	    origin->port);
}

int https_init(struct https *h, struct rng *rng, const char *cacert, int insecure,
    char *err, size_t err_len)
{
	h->tls = NULL;
	/* Say plainly what is wrong with the file before the TLS library
	 * reports it as "PK - Read/write of file failed". */
	if (cacert != NULL) {
		mbedtls_x509_crt chain;
		struct stat st;
		int fd = open(cacert, O_RDONLY | O_CLOEXEC), r;

		if (fd < 0 || fstat(fd, &st) != 0) {
			snprintf(err, err_len, "cannot read CA file %s: %s", cacert, strerror(errno));
			if (fd >= 0)
				close(fd);
			return -1;
		}
		close(fd);
		if (!S_ISREG(st.st_mode)) {
			snprintf(err, err_len, "cannot read CA file %s: %s", cacert,
			    S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
			return -1;
		}
		mbedtls_x509_crt_init(&chain);
		r = mbedtls_x509_crt_parse_file(&chain, cacert);
		mbedtls_x509_crt_free(&chain);
		if (r < 0) {
			snprintf(err, err_len, "cannot read CA file %s: it holds no certificate in "
			    "PEM or DER form", cacert);
			return -1;
		}
		if (r > 0) {
			snprintf(err, err_len, "cannot read CA file %s: %d of its certificates "
			    "could not be parsed", cacert, r);
			return -1;
		}
	}
	h->tls = tls_client_new(rng, cacert, !insecure, err, err_len);
	return h->tls != NULL ? 0 : -1;
}

void https_free(struct https *h)
{
	tls_client_free(h->tls);
	h->tls = NULL;
}

/* --- the IP address check ------------------------------------------------ */

int https_host_ip(const char *host, uint8_t ip[16], size_t *ip_len)
{
	struct in_addr v4;

	/* inet_aton, like the resolver, also reads "127.1" and "0x7f.0.0.1";
	 * it stops quietly at white space, so allow only what a number uses. */
	if (host[0] != '\0' && strspn(host, "0123456789abcdefABCDEFxX.") == strlen(host) &&
	    inet_aton(host, &v4) != 0) {
		memcpy(ip, &v4, 4);
		*ip_len = 4;
		return 1;
	}
	if (inet_pton(AF_INET6, host, ip) == 1) {
		*ip_len = 16;
		return 1;
	}
	return 0;
}

int https_san_has_ip(const mbedtls_x509_sequence *san, const uint8_t *ip, size_t ip_len)
{
	for (; san != NULL; san = san->next) {
		if (san->buf.p != NULL &&
		    san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) &&
		    san->buf.len == ip_len && memcmp(san->buf.p, ip, ip_len) == 0)
			return 1;
	}
	return 0;
}

int https_san_has_dns(const mbedtls_x509_sequence *san, const char *host)
{
	size_t host_len = strlen(host);
	const char *parent = strchr(host, '.');

	for (; san != NULL; san = san->next) {
		const char *name = (const char *)san->buf.p;
		size_t len = san->buf.len;

		if (name == NULL || san->buf.tag != (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2))
			continue;
		if (len == host_len && strncasecmp(name, host, len) == 0)
			return 1;
		/* "*.example.com": exactly one leftmost label, never a whole
		 * name ("*.com" matches "a.com", not "com" nor "a.b.com"). */
		if (len > 2 && name[0] == '*' && name[1] == '.' && parent != NULL &&
		    parent != host && (size_t)(host + host_len - parent) == len - 1 &&
		    strncasecmp(name + 1, parent, len - 1) == 0)
			return 1;
	}
	return 0;
}

/* The dNSName and iPAddress entries, for a message: "localhost, 127.0.0.1". */
static void https_san_names(const mbedtls_x509_sequence *san, char *out, size_t out_len)
{
	size_t used = 0;

	out[0] = '\0';
	for (; san != NULL && used + 1 < out_len; san = san->next) {
		char name[INET6_ADDRSTRLEN] = "";
		size_t i;

		if (san->buf.p == NULL)
			continue;
		if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
			/* Printable ASCII only: the certificate is the relay's word. */
			for (i = 0; i < san->buf.len && i + 1 < sizeof(name); i++)
				name[i] = san->buf.p[i] > 0x20 && san->buf.p[i] < 0x7f ?
				    (char)san->buf.p[i] : '?';
			name[i] = '\0';
		} else if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) &&
		    (san->buf.len == 4 || san->buf.len == 16)) {
			inet_ntop(san->buf.len == 4 ? AF_INET : AF_INET6, san->buf.p, name,
			    sizeof(name));
		} else {
			continue;
		}
		used += (size_t)snprintf(out + used, out_len - used, "%s%s", used ? ", " : "", name);
	}
	if (used >= out_len && out_len > 4)
		memcpy(out + out_len - 4, "...", 4);
}

/*
 * mbedTLS 3.6 compares an IP host with iPAddress entries, but first with
 * every dNSName (and then URI) entry as text: a certificate whose dNSName
 * spells the address would pass, which RFC 9525 forbids. So with a
 * subjectAltName the verdict on the name is ours alone: IP hosts against
 * iPAddress entries, DNS hosts against dNSName entries. (Without one,
 * mbedTLS's check of the Common Name stands.)
 */
static int https_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct https_peer *peer = ctx;
	int match;

	if (depth != 0)
		return 0;
	https_san_names(&crt->subject_alt_names, peer->names, sizeof(peer->names));
	if (peer->ip_len != 0)
		match = https_san_has_ip(&crt->subject_alt_names, peer->ip, peer->ip_len);
	else if (mbedtls_x509_crt_has_ext_type(crt, MBEDTLS_X509_EXT_SUBJECT_ALT_NAME))
		match = https_san_has_dns(&crt->subject_alt_names, peer->host);
	else
		return 0;
	if (match)
		*flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
	else
		*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

/* What the verification found, in words. */
static void https_untrusted(const struct https_conn *c, const struct url *origin,
    uint32_t flags, char *err, size_t err_len)
{
	static const struct {
		uint32_t flags;
		const char *words;
	} problems[] = {
		{ MBEDTLS_X509_BADCERT_NOT_TRUSTED, "it is not signed by a CA this device trusts "
		    "(give the relay's CA with --cacert)" },
		{ MBEDTLS_X509_BADCERT_EXPIRED, "it has expired" },
		{ MBEDTLS_X509_BADCERT_FUTURE, "it is not valid yet (or this device's clock is wrong)" },
		{ MBEDTLS_X509_BADCERT_REVOKED, "it has been revoked" },
		{ MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
		    MBEDTLS_X509_BADCERT_NS_CERT_TYPE, "it is not meant for a TLS server" },
		{ MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK |
		    MBEDTLS_X509_BADCERT_BAD_KEY, "it uses an algorithm or key size this client "
		    "refuses" },
		{ MBEDTLS_X509_BADCERT_MISSING, "the relay sent none" },
		{ MBEDTLS_X509_BADCERT_OTHER | MBEDTLS_X509_BADCERT_SKIP_VERIFY,
		    "it failed a check" },
	};
	size_t used;

	used = (size_t)snprintf(err, err_len, "the certificate of the relay at %s is not trusted:",
	    origin->host);
	if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH && used < err_len)
		used += (size_t)snprintf(err + used, err_len - used, " it is not for %s%s%s%s;",
		    origin->host, c->peer.names[0] ? " (it names " : "", c->peer.names,
		    c->peer.names[0] ? ")" : "");
	for (size_t i = 0; i < sizeof(problems) / sizeof(problems[0]) && used < err_len; i++) {
		if (flags & problems[i].flags)
			used += (size_t)snprintf(err + used, err_len - used, " %s;", problems[i].words);
	}
	if (used < err_len && err[used - 1] == ';')
		err[used - 1] = '\0';
}

/* --- the connection ------------------------------------------------------ */

/* Wait until fd is ready for events or the deadline passes: 0, or -1. */
static int https_wait(struct https_conn *c, short events)
{
	for (;;) {
		struct pollfd pfd = { c->fd, events, 0 };
		int64_t left = c->deadline_ms - https_now_ms();
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

static int https_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct https_conn *c = ctx;

	for (;;) {
		ssize_t n = transport_send(c->fd, buf, len);

		if (n >= 0)
			return (int)n;
		if (!transport_would_block()) {
			c->sys_errno = errno;
			return MBEDTLS_ERR_NET_SEND_FAILED;
		}
		if (https_wait(c, POLLOUT) != 0)
			return MBEDTLS_ERR_NET_SEND_FAILED;
	}
}

static int https_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct https_conn *c = ctx;

	for (;;) {
		ssize_t n = transport_recv(c->fd, buf, len);

		if (n >= 0)
			return (int)n;
		if (!transport_would_block()) {
			c->sys_errno = errno;
			return MBEDTLS_ERR_NET_RECV_FAILED;
		}
		if (https_wait(c, POLLIN) != 0)
			return MBEDTLS_ERR_NET_RECV_FAILED;
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
		if (c->deadline_ms - https_now_ms() > HTTPS_CONNECT_TIMEOUT_S * 1000)
			c->deadline_ms = https_now_ms() + HTTPS_CONNECT_TIMEOUT_S * 1000;
		rc = https_wait(c, POLLOUT);
		if (c->deadline_ms != deadline && c->timed_out && https_now_ms() < deadline)
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

/* The handshake's failure, in words. */
static enum https_attempt https_handshake_failed(struct https_conn *c,
    const struct url *origin, int ret, char *err, size_t err_len)
{
	char where[300];

	https_where(origin, where, sizeof(where));
	if (ret == MBEDTLS_ERR_X509_CERT_VERIFY_FAILED) {
		https_untrusted(c, origin, mbedtls_ssl_get_verify_result(&c->ssl), err, err_len);
		return HTTPS_ATTEMPT_UNTRUSTED;
	}
	if (c->timed_out)
		return HTTPS_ATTEMPT_TIMED_OUT;
	switch (ret) {
	case MBEDTLS_ERR_NET_SEND_FAILED:
	case MBEDTLS_ERR_NET_RECV_FAILED:
		snprintf(err, err_len, "the connection to %s broke during the TLS handshake: %s",
		    where, strerror(c->sys_errno ? c->sys_errno : EIO));
		return HTTPS_ATTEMPT_LOST;
	case MBEDTLS_ERR_SSL_CONN_EOF:
		snprintf(err, err_len, "%s closed the connection during the TLS handshake", where);
		return HTTPS_ATTEMPT_LOST;
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
		snprintf(err, err_len, "out of memory during the TLS handshake with %s", where);
		return HTTPS_ATTEMPT_NO_CONNECTION;
	case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
	case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
	case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION:
		snprintf(err, err_len, "%s refused the TLS handshake: it and this client have no "
		    "TLS version or cipher in common", where);
		return HTTPS_ATTEMPT_NO_CONNECTION;
	case MBEDTLS_ERR_SSL_INVALID_RECORD:
	case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
	case MBEDTLS_ERR_SSL_DECODE_ERROR:
		snprintf(err, err_len, "%s does not speak TLS on that port (an http:// relay?)",
		    where);
		return HTTPS_ATTEMPT_NO_CONNECTION;
	default:
		snprintf(err, err_len, "the TLS handshake with %s failed (TLS library error -0x%04X)",
		    where, (unsigned)-ret);
		return HTTPS_ATTEMPT_LOST;
	}
}

static enum https_attempt https_open(struct https *h, const struct url *origin,
    struct https_conn *c, char *err, size_t err_len)
{
	int ret;

	c->tls = origin->tls;
	if (https_connect(c, origin, err, err_len) != 0)
		return c->timed_out ? HTTPS_ATTEMPT_TIMED_OUT : HTTPS_ATTEMPT_NO_CONNECTION;
	if (!c->tls)
		return HTTPS_ATTEMPT_DONE;
	mbedtls_ssl_init(&c->ssl);
	if (mbedtls_ssl_setup(&c->ssl, tls_client_config(h->tls)) != 0 ||
	    mbedtls_ssl_set_hostname(&c->ssl, origin->host) != 0) {
		snprintf(err, err_len, "out of memory setting up TLS");
		return HTTPS_ATTEMPT_NO_CONNECTION;
	}
	https_host_ip(origin->host, c->peer.ip, &c->peer.ip_len);
	c->peer.host = origin->host;
	mbedtls_ssl_set_verify(&c->ssl, https_verify, &c->peer);
	mbedtls_ssl_set_bio(&c->ssl, c, https_bio_send, https_bio_recv, NULL);
	ret = mbedtls_ssl_handshake(&c->ssl);
	if (ret == 0)
		return HTTPS_ATTEMPT_DONE;
	return https_handshake_failed(c, origin, ret, err, err_len);
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
		int n = c->tls ? mbedtls_ssl_write(&c->ssl, (const unsigned char *)data, len) :
		    https_bio_send(c, (const unsigned char *)data, len);

		if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		if (n <= 0)
			return -1;
		data += n;
		len -= (size_t)n;
	}
	return 0;
}

/* Bytes, 0 at the end of the answer's stream, or < 0. */
static int https_read(struct https_conn *c, char *buf, size_t len)
{
	if (!c->tls)
		return https_bio_recv(c, (unsigned char *)buf, len);
	for (;;) {
		int n = mbedtls_ssl_read(&c->ssl, (unsigned char *)buf, len);

		/* The end of the stream, with or without a goodbye. */
		if (n == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY || n == MBEDTLS_ERR_SSL_CONN_EOF)
			return 0;
		if (n == MBEDTLS_ERR_SSL_WANT_READ || n == MBEDTLS_ERR_SSL_WANT_WRITE)
			continue;
		return n;
	}
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
		if (c.fd >= 0) {
			mbedtls_ssl_free(&c.ssl);
			close(c.fd);
		}
		return result;
	}
	response_parser_init(&a, &resp->body, HTTPS_BODY_MAX);
	if (https_write_all(&c, request->data, request->len) != 0) {
		snprintf(err, err_len, "the connection to %s broke while sending: %s", where,
		    strerror(c.sys_errno ? c.sys_errno : EPIPE));
		result = c.timed_out ? HTTPS_ATTEMPT_TIMED_OUT : HTTPS_ATTEMPT_LOST;
		goto done;
	}
	for (;;) {
		int n = https_read(&c, chunk, sizeof(chunk));
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
			    where, c.sys_errno ? strerror(c.sys_errno) : "the TLS record was damaged");
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
	deadline_ms = https_now_ms() + (int64_t)req->timeout_s * 1000;
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
