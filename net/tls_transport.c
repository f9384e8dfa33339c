/*
 * tls_transport.c — one TLS connection behind the transport interface, on
 * mbedTLS 3.6 LTS, for both sides: the relay's accepted connections
 * (net/tls_server.c) and its own outgoing ones, to the push gateway and from
 * the command-line client (net/tls_client.c).
 *
 * mbedTLS's results become "bytes", "wait until readable/writable" or
 * fatal, so that the code above never knows whether bytes were encrypted.
 * Received bytes go through one shared stage buffer, and a handshake's
 * messages leave together: both save system calls. Nothing here reads a
 * structure member that mbedTLS makes private. This file never logs, and
 * never turns on mbedTLS's debug output, which prints key material at its
 * higher levels.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/error.h>
#include <mbedtls/x509.h>
#include <mbedtls/net_sockets.h>
#include <psa/crypto.h>

#include "net/tls.h"
#include "net/tls_internal.h"

/* Forward-secret AEAD only (and tls_server.c's tls_suite_key() must know
 * each TLS 1.2 one). In TLS 1.2 this is the server's order of preference
 * (mbedTLS picks the first one the client also offers that fits our key);
 * in TLS 1.3 mbedTLS takes the client's first that is listed here.
 * ChaCha20-Poly1305 comes first: mbedTLS's portable ChaCha20-Poly1305 seals
 * a 1.7 KB record in 6 µs where its AES-GCM, even with AES-NI and PCLMUL,
 * takes 10 µs, and records are what every request costs. */
const int tls_ciphersuites[] = {
	MBEDTLS_TLS1_3_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS1_3_AES_128_GCM_SHA256,
	MBEDTLS_TLS1_3_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	0
};

/* Key-exchange groups. In TLS 1.2 the server's order of preference; in TLS
 * 1.3 mbedTLS takes the group of the client's key share when it is listed
 * here (one round trip fewer than asking for ours). */
const uint16_t tls_groups[] = {
	MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_NONE
};

void tls_set_error(char *err, size_t err_len, int ret, const char *fmt, ...)
{
	char reason[160];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(err, err_len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= err_len)
		return;
	mbedtls_strerror(ret, reason, sizeof(reason));
	snprintf(err + n, err_len - (size_t)n, ": %s", reason);
}

/* Calling it again is harmless. */
int tls_start_psa(char *err, size_t err_len)
{
	if (psa_crypto_init() == PSA_SUCCESS)
		return 0;
	snprintf(err, err_len, "cannot set up TLS: PSA crypto did not start");
	return -1;
}

/* mbedTLS's bio callbacks, on the connection's non-blocking socket. */
static int tls_bio_error(struct tls_transport *tt, int would_block_code, int failed_code)
{
	if (transport_would_block())
		return would_block_code;
	tt->sys_errno = errno;
	if (errno == ECONNRESET || errno == EPIPE)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return failed_code;
}

/*
 * mbedTLS sends each handshake message as it writes it: nine send() calls
 * for one TLS 1.2 or 1.3 handshake, each a trip through the loopback or
 * network stack. During a handshake step they are held instead and leave
 * together when the step ends (tls_release_held): three calls. A corked
 * last answer is held the same way and leaves with the close_notify.
 */
static int tls_hold(struct tls_transport *tt, const unsigned char *buf, size_t len)
{
	if (len > (size_t)INT_MAX - tt->held_len)
		return MBEDTLS_ERR_SSL_BAD_INPUT_DATA;
	if (tt->held_len + len > tt->held_cap) {
		size_t cap = tt->held_cap ? tt->held_cap : 2048;
		unsigned char *grown;

		while (cap < tt->held_len + len)
			cap *= 2;
		grown = realloc(tt->held, cap);
		if (grown == NULL)
			return MBEDTLS_ERR_SSL_ALLOC_FAILED;
		tt->held = grown;
		tt->held_cap = cap;
	}
	memcpy(tt->held + tt->held_len, buf, len);
	tt->held_len += len;
	return (int)len;
}

/* 0 when everything held is sent (and the buffer freed), else
 * TRANSPORT_WANT_WRITE or TRANSPORT_ERROR. */
static int tls_release_held(struct tls_transport *tt)
{
	while (tt->held_off < tt->held_len) {
		ssize_t n = transport_send(tt->base.fd, tt->held + tt->held_off,
		    tt->held_len - tt->held_off);

		if (n < 0) {
			if (transport_would_block())
				return TRANSPORT_WANT_WRITE;
			tt->sys_errno = errno;
			tt->failure = MBEDTLS_ERR_NET_SEND_FAILED;
			return TRANSPORT_ERROR;
		}
		tt->held_off += (size_t)n;
	}
	free(tt->held);
	tt->held = NULL;
	tt->held_len = tt->held_off = tt->held_cap = 0;
	return 0;
}

static int tls_bio_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct tls_transport *tt = ctx;
	ssize_t n;

	if (tt->holding || tt->corked)
		return tls_hold(tt, buf, len);
	n = transport_send(tt->base.fd, buf, len);
	return n >= 0 ? (int)n : tls_bio_error(tt, MBEDTLS_ERR_SSL_WANT_WRITE,
	    MBEDTLS_ERR_NET_SEND_FAILED);
}

/* Bytes are received into the shared stage, as many as the socket holds;
 * what mbedTLS did not ask for yet waits in the connection's stash, which
 * exists only between those two calls. */
static int tls_bio_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct tls_transport *tt = ctx;
	unsigned char *stage = tt->stage;
	ssize_t n;

	if (tt->stash_off < tt->stash_len) {
		size_t take = tt->stash_len - tt->stash_off < len ? tt->stash_len - tt->stash_off : len;

		memcpy(buf, tt->stash + tt->stash_off, take);
		tt->stash_off += take;
		if (tt->stash_off == tt->stash_len) {
			free(tt->stash);
			tt->stash = NULL;
			tt->stash_len = tt->stash_off = 0;
		}
		return (int)take;
	}
	/* The handshake's last read emptied the socket, and the peer cannot
	 * have answered a flight that is still held: wait for the socket to
	 * say readable rather than ask it for nothing. */
	if (tt->holding && tt->base.drained)
		return MBEDTLS_ERR_SSL_WANT_READ;
	if (len >= TLS_STAGE_SIZE)
		stage = buf;
	n = transport_recv(tt->base.fd, stage, TLS_STAGE_SIZE < len ? len : TLS_STAGE_SIZE);
	if (n < 0)
		return tls_bio_error(tt, MBEDTLS_ERR_SSL_WANT_READ, MBEDTLS_ERR_NET_RECV_FAILED);
	tt->base.drained = (size_t)n < (TLS_STAGE_SIZE < len ? len : TLS_STAGE_SIZE);
	if (stage == buf)
		return (int)n;
	if ((size_t)n > len) {
		tt->stash = malloc((size_t)n - len);
		if (tt->stash == NULL)
			return MBEDTLS_ERR_SSL_ALLOC_FAILED;
		memcpy(tt->stash, stage + len, (size_t)n - len);
		tt->stash_len = (size_t)n - len;
		n = (ssize_t)len;
	}
	memcpy(buf, stage, (size_t)n);
	return (int)n;
}

/*
 * Every mbedTLS result that is not data becomes "wait for readable", "wait
 * for writable" or fatal (kept, for a caller that asks why). The results
 * that ask to call again without waiting (RECEIVED_NEW_SESSION_TICKET and
 * RECEIVED_EARLY_DATA, and the async and restartable-ECC IN_PROGRESS codes)
 * come only with features this configuration never enables (a client is
 * told of TLS 1.3 tickets only when it asks to be), so they count as fatal
 * here.
 */
static int tls_result(struct tls_transport *tt, int ret)
{
	if (ret == MBEDTLS_ERR_SSL_WANT_READ)
		return TRANSPORT_WANT_READ;
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return TRANSPORT_WANT_WRITE;
	tt->failure = ret;
	return TRANSPORT_ERROR;
}

enum tls_failure tls_transport_failure(struct transport *t, int *detail)
{
	const struct tls_transport *tt = tls_transport_of(t);

	*detail = 0;
	switch (tt->failure) {
	case 0:
		return TLS_FAILURE_NONE;
	case MBEDTLS_ERR_X509_CERT_VERIFY_FAILED:
		return TLS_FAILURE_UNTRUSTED;
	case MBEDTLS_ERR_NET_SEND_FAILED:
	case MBEDTLS_ERR_NET_RECV_FAILED:
	case MBEDTLS_ERR_NET_CONN_RESET:
		*detail = tt->sys_errno;
		return TLS_FAILURE_SOCKET;
	case MBEDTLS_ERR_SSL_CONN_EOF:
		return TLS_FAILURE_CLOSED;
	case MBEDTLS_ERR_SSL_ALLOC_FAILED:
		return TLS_FAILURE_MEMORY;
	case MBEDTLS_ERR_SSL_FATAL_ALERT_MESSAGE:
	case MBEDTLS_ERR_SSL_HANDSHAKE_FAILURE:
	case MBEDTLS_ERR_SSL_BAD_PROTOCOL_VERSION:
		return TLS_FAILURE_REFUSED;
	case MBEDTLS_ERR_SSL_INVALID_RECORD:
	case MBEDTLS_ERR_SSL_UNEXPECTED_MESSAGE:
	case MBEDTLS_ERR_SSL_DECODE_ERROR:
		return TLS_FAILURE_NOT_TLS;
	default:
		*detail = -tt->failure;
		return TLS_FAILURE_OTHER;
	}
}

struct tls_transport *tls_transport_of(struct transport *t)
{
	return (struct tls_transport *)(void *)t;
}

/* While messages are held mbedTLS never hears "would block" from a send,
 * so a step ends in data wanted, done, or failed; what it wrote leaves
 * first, also a fatal alert (once, without waiting). What could not leave
 * yet goes first on the next call, when the socket is writable. */
static int tls_transport_handshake(struct transport *t)
{
	struct tls_transport *tt = tls_transport_of(t);
	int ret, released;

	released = tls_release_held(tt);
	if (released != 0)
		return released;
	/* Called when the socket is readable (or first): a read may find bytes. */
	tt->base.drained = 0;
	tt->holding = 1;
	if (tt->handshaking != NULL)
		*tt->handshaking = tt;
	ret = mbedtls_ssl_handshake(&tt->ssl);
	if (tt->handshaking != NULL)
		*tt->handshaking = NULL;
	tt->holding = 0;
	released = tls_release_held(tt);
	if (ret != 0 && tls_result(tt, ret) == TRANSPORT_ERROR)
		return TRANSPORT_ERROR;
	if (released != 0)
		return released;
	return ret == 0 ? 0 : tls_result(tt, ret);
}

static ssize_t tls_transport_read(struct transport *t, char *buf, size_t len)
{
	struct tls_transport *tt = tls_transport_of(t);
	int ret = mbedtls_ssl_read(&tt->ssl, (unsigned char *)buf, len);

	if (ret > 0)
		return ret;
	/* 0 is mbedTLS's word for EOF without close_notify: an HTTP message
	 * carries its own length, so a truncation shows there. */
	if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
		return 0;
	return tls_result(tt, ret);
}

/*
 * Nothing may overtake the end of a held handshake flight.
 *
 * A write mbedTLS could not finish (WANT_WRITE) has made its record; asked
 * again, it sends the rest of that record and answers the length it is
 * asked then (up to a record's), whatever the record held: it must be
 * asked with the same arguments. The caller's output may have grown
 * meanwhile (the store answered a pipelined request while the client was
 * slow to read), so the length is held to the first call's: else bytes
 * never sent count as sent, and the stream loses them.
 */
static ssize_t tls_transport_write(struct transport *t, const char *buf, size_t len)
{
	struct tls_transport *tt = tls_transport_of(t);
	int ret = tt->corked ? 0 : tls_release_held(tt);

	if (ret != 0)
		return ret;
	if (tt->write_owed != 0 && len > tt->write_owed)
		len = tt->write_owed;
	ret = mbedtls_ssl_write(&tt->ssl, (const unsigned char *)buf, len);
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE || ret == MBEDTLS_ERR_SSL_WANT_READ) {
		if (tt->write_owed == 0)
			tt->write_owed = len;
	} else {
		tt->write_owed = 0;
	}
	return ret >= 0 ? ret : tls_result(tt, ret);
}

static void tls_transport_cork(struct transport *t)
{
	tls_transport_of(t)->corked = 1;
}

/* The close_notify is held behind whatever else is, and all of it leaves
 * in as few sends as the socket takes. */
static int tls_transport_shutdown(struct transport *t)
{
	struct tls_transport *tt = tls_transport_of(t);

	if (!tt->said_goodbye) {
		int ret;

		tt->holding = 1;
		ret = mbedtls_ssl_close_notify(&tt->ssl);
		tt->holding = 0;
		if (ret != 0)
			return tls_result(tt, ret);
		tt->said_goodbye = 1;
	}
	return tls_release_held(tt);
}

static int tls_transport_pending(struct transport *t)
{
	const struct tls_transport *tt = tls_transport_of(t);

	return tt->stash_off < tt->stash_len || mbedtls_ssl_get_bytes_avail(&tt->ssl) > 0 ||
	    mbedtls_ssl_check_pending(&tt->ssl);
}

static void tls_transport_info(struct transport *t, struct transport_info *info)
{
	struct tls_transport *tt = tls_transport_of(t);

	info->tls = 1;
	info->version = NULL;
	info->resumed = tt->resumed;
	/* Until the ClientHello is read, mbedTLS reports the highest version
	 * it would take, not one agreed. */
	if (!tt->hello_read && !mbedtls_ssl_is_handshake_over(&tt->ssl))
		return;
	switch (mbedtls_ssl_get_version_number(&tt->ssl)) {
	case MBEDTLS_SSL_VERSION_TLS1_3: info->version = "TLSv1.3"; break;
	case MBEDTLS_SSL_VERSION_TLS1_2: info->version = "TLSv1.2"; break;
	default: break;
	}
}

static void tls_transport_free(struct transport *t)
{
	struct tls_transport *tt = tls_transport_of(t);

	mbedtls_ssl_free(&tt->ssl);
	if (tt->release != NULL)
		tt->release(tt);
	free(tt->stash);
	free(tt->held);
	free(tt);
}

static const struct transport_ops tls_transport_ops = {
	.handshake = tls_transport_handshake,
	.read = tls_transport_read,
	.write = tls_transport_write,
	.cork = tls_transport_cork,
	.shutdown = tls_transport_shutdown,
	.pending = tls_transport_pending,
	.info = tls_transport_info,
	.free = tls_transport_free,
};

struct tls_transport *tls_transport_open(const mbedtls_ssl_config *conf,
    unsigned char *stage, int fd, size_t size)
{
	struct tls_transport *tt = calloc(1, size);

	if (tt == NULL)
		return NULL;
	tt->base.ops = &tls_transport_ops;
	tt->base.fd = fd;
	tt->stage = stage;
	mbedtls_ssl_init(&tt->ssl);
	if (mbedtls_ssl_setup(&tt->ssl, conf) != 0) {
		mbedtls_ssl_free(&tt->ssl);
		free(tt);
		return NULL;
	}
	mbedtls_ssl_set_bio(&tt->ssl, tt, tls_bio_send, tls_bio_recv, NULL);
	/* For callbacks that are handed the mbedTLS context. */
	mbedtls_ssl_set_user_data_p(&tt->ssl, tt);
	return tt;
}
