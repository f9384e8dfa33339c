/*
 * test_tls.c — the relay's TLS server against a real mbedTLS client.
 *
 * Both ends run in this process over a non-blocking socketpair: the server
 * end is the transport from tls_transport_new(), the client end a plain
 * mbedTLS client, and a loop steps each until it has finished or failed.
 * Certificates the tests need besides the development one (RSA, mismatched
 * pairs) are made here with mbedTLS and written to a temporary directory.
 */
#include <dirent.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <mbedtls/build_info.h>
#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/rsa.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "net/rng.h"
#include "net/tls.h"
#include "net/tls_internal.h"
#include "test/unit/check.h"

#define TEST_ROUNDS 1000          /* a loop that has not converged by now never will */

/*
 * The relay's transport sends with send(); this definition takes the place
 * of libc's in this program. On the watched descriptor it counts the calls
 * and can act like a full socket: take at most max_bytes, or refuse every
 * refuse_every-th call with EAGAIN.
 */
static struct {
	int fd;
	int calls;
	size_t max_bytes;
	int refuse_every;
} send_watch = { -1, 0, 0, 0 };

ssize_t send(int fd, const void *buf, size_t len, int flags)
{
	if (fd == send_watch.fd) {
		send_watch.calls++;
		if (send_watch.refuse_every > 0 && send_watch.calls % send_watch.refuse_every == 0) {
			errno = EAGAIN;
			return -1;
		}
		if (send_watch.max_bytes > 0 && len > send_watch.max_bytes)
			len = send_watch.max_bytes;
	}
	return syscall(SYS_sendto, fd, buf, len, flags, NULL, 0);
}
#define TEST_DIR_LEN 32           /* "/tmp/test_tls.XXXXXX" */
#define TEST_PATH_LEN 128
#define TEST_ERR_LEN 512

/* What the development certificate's subjectAltName must be, byte for byte:
 * SEQUENCE { dNSName "localhost", iPAddress 127.0.0.1, iPAddress ::1 }. */
static const unsigned char expected_san[] = {
	0x30, 0x23,
	0x82, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
	0x87, 0x04, 127, 0, 0, 1,
	0x87, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
};

/* OID 1.2.840.10045.3.1.7, prime256v1, as it appears in the public key. */
static const unsigned char p256_oid[] = {
	0x06, 0x08, 0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07
};

/* OID 2.5.29.14, subjectKeyIdentifier, which RFC 5280 wants in a CA. */
static const unsigned char ski_oid[] = { 0x06, 0x03, 0x55, 0x1d, 0x0e };

/* A TLS 1.2 client that prefers AES-GCM (as OpenSSL's does) but also
 * offers ChaCha20-Poly1305. */
static const int gcm_first_ciphersuites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	0
};

/* What a client that still allows CBC might offer. */
static const int cbc_ciphersuites[] = {
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA256,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA384,
	MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA256,
	MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA,
	0
};

enum alert {
	ALERT_HANDSHAKE_FAILURE = 40,
	ALERT_PROTOCOL_VERSION = 70
};

/* ---- temporary files ---- */

static int temp_dir_make(char *dir, size_t len)
{
	snprintf(dir, len, "/tmp/test_tls.XXXXXX");
	return mkdtemp(dir) != NULL ? 0 : -1;
}

static void temp_dir_remove(const char *dir)
{
	char path[TEST_DIR_LEN + 1 + sizeof(((struct dirent *)0)->d_name)];
	struct dirent *entry;
	DIR *d;

	d = opendir(dir);
	if (d == NULL)
		return;
	while ((entry = readdir(d)) != NULL) {
		if (strcmp(entry->d_name, ".") == 0 || strcmp(entry->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, entry->d_name);
		unlink(path);
	}
	closedir(d);
	rmdir(dir);
}

static int put_text(const char *path, const char *mode, const char *text)
{
	FILE *f = fopen(path, mode);
	int failed;

	if (f == NULL)
		return -1;
	failed = fputs(text, f) == EOF;
	return fclose(f) != 0 || failed ? -1 : 0;
}

static int write_text(const char *path, const char *text)
{
	return put_text(path, "w", text);
}

static int append_text(const char *path, const char *text)
{
	return put_text(path, "a", text);
}

/* Writes a new key of the given type and a self-signed certificate for
 * localhost (CN only) to cert_path and key_path, as PEM. */
static int write_key_and_cert(struct rng *rng, mbedtls_pk_type_t type,
    const char *cert_path, const char *key_path)
{
	mbedtls_pk_context key;
	mbedtls_x509write_cert crt;
	unsigned char pem[8192];
	unsigned char serial[] = { 0x01 };
	int ok = 0;

	mbedtls_pk_init(&key);
	mbedtls_x509write_crt_init(&crt);

	if (mbedtls_pk_setup(&key, mbedtls_pk_info_from_type(type)) != 0)
		goto done;
	if (type == MBEDTLS_PK_RSA) {
		if (mbedtls_rsa_gen_key(mbedtls_pk_rsa(key), rng_bytes, rng, 2048, 65537) != 0)
			goto done;
	} else if (mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(key),
	    rng_bytes, rng) != 0) {
		goto done;
	}
	if (mbedtls_pk_write_key_pem(&key, pem, sizeof(pem)) != 0 ||
	    write_text(key_path, (char *)pem) != 0)
		goto done;

	if (mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof(serial)) != 0)
		goto done;
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &key);
	if (mbedtls_x509write_crt_set_subject_name(&crt, "CN=localhost") != 0 ||
	    mbedtls_x509write_crt_set_issuer_name(&crt, "CN=localhost") != 0 ||
	    mbedtls_x509write_crt_set_validity(&crt, "20200101000000", "20991231235959") != 0 ||
	    mbedtls_x509write_crt_pem(&crt, pem, sizeof(pem), rng_bytes, rng) != 0 ||
	    write_text(cert_path, (char *)pem) != 0)
		goto done;
	ok = 1;

done:
	mbedtls_x509write_crt_free(&crt);
	mbedtls_pk_free(&key);
	return ok ? 0 : -1;
}

/* ---- the client end ---- */

enum client_versions {
	CLIENT_DEFAULT,     /* whatever the library offers: TLS 1.3 first */
	CLIENT_TLS12_MAX,   /* TLS 1.2 only */
	CLIENT_TLS13_ONLY   /* TLS 1.3 only */
};

struct test_client {
	int fd;
	mbedtls_ssl_config conf;
	mbedtls_ssl_context ssl;
	unsigned char wire[64];   /* the first bytes received, to read alerts */
	size_t wire_len;
	int certs_verified;       /* certificates the server sent and we checked */
};

static int client_send(void *ctx, const unsigned char *buf, size_t len)
{
	struct test_client *c = ctx;
	ssize_t n = send(c->fd, buf, len, MSG_NOSIGNAL);

	if (n >= 0)
		return (int)n;
	if (errno == EAGAIN || errno == EWOULDBLOCK)
		return MBEDTLS_ERR_SSL_WANT_WRITE;
	return MBEDTLS_ERR_SSL_INTERNAL_ERROR;
}

static int client_recv(void *ctx, unsigned char *buf, size_t len)
{
	struct test_client *c = ctx;
	ssize_t n = recv(c->fd, buf, len, 0);
	size_t keep;

	if (n < 0)
		return errno == EAGAIN || errno == EWOULDBLOCK ?
		    MBEDTLS_ERR_SSL_WANT_READ : MBEDTLS_ERR_SSL_INTERNAL_ERROR;
	keep = sizeof(c->wire) - c->wire_len;
	if (keep > (size_t)n)
		keep = (size_t)n;
	memcpy(c->wire + c->wire_len, buf, keep);
	c->wire_len += keep;
	return (int)n;
}

/* Called once per certificate of the server's chain, which a resumed
 * session does not send. */
static int client_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct test_client *c = ctx;

	(void)crt;
	(void)depth;
	(void)flags;
	c->certs_verified++;
	return 0;
}

static void client_limit_versions(struct test_client *c, enum client_versions versions)
{
	switch (versions) {
	case CLIENT_DEFAULT:
		break;
	case CLIENT_TLS12_MAX:
		mbedtls_ssl_conf_max_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
		break;
	case CLIENT_TLS13_ONLY:
		mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_3);
		break;
	}
}

/* ca NULL: do not verify the server. suites NULL: the library's list. */
static int client_init(struct test_client *c, int fd, struct rng *rng,
    mbedtls_x509_crt *ca, const int *suites, enum client_versions versions)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	mbedtls_ssl_config_init(&c->conf);
	mbedtls_ssl_init(&c->ssl);
	if (mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT) != 0)
		return -1;
	mbedtls_ssl_conf_rng(&c->conf, rng_bytes, rng);
	if (ca != NULL) {
		mbedtls_ssl_conf_ca_chain(&c->conf, ca, NULL);
		mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_REQUIRED);
	} else {
		mbedtls_ssl_conf_authmode(&c->conf, MBEDTLS_SSL_VERIFY_NONE);
	}
	mbedtls_ssl_conf_verify(&c->conf, client_verify, c);
	if (suites != NULL)
		mbedtls_ssl_conf_ciphersuites(&c->conf, suites);
	client_limit_versions(c, versions);
	if (mbedtls_ssl_setup(&c->ssl, &c->conf) != 0 ||
	    mbedtls_ssl_set_hostname(&c->ssl, "localhost") != 0)
		return -1;
	mbedtls_ssl_set_bio(&c->ssl, c, client_send, client_recv, NULL);
	return 0;
}

static void client_free(struct test_client *c)
{
	mbedtls_ssl_free(&c->ssl);
	mbedtls_ssl_config_free(&c->conf);
}

/* The first alert the server sent, or -1 if its first record was not one. */
static int client_first_alert(const struct test_client *c)
{
	/* record: type 21, version (2), length (2) = 2, level, description */
	if (c->wire_len < 7 || c->wire[0] != 21)
		return -1;
	return c->wire[6];
}

/* The suite the handshake settled on, or "" before that. */
static const char *client_suite(const struct test_client *c)
{
	const char *name = mbedtls_ssl_get_ciphersuite(&c->ssl);

	return name != NULL ? name : "";
}

/* ---- a connected pair ---- */

struct pair {
	int fds[2];                 /* [0] server end, [1] client end */
	struct transport *server;
	struct test_client client;
	int server_result;          /* of the last handshake */
	int client_result;
};

static int pair_open(struct pair *p, struct tls *tls, struct rng *rng,
    mbedtls_x509_crt *ca, const int *suites, enum client_versions versions)
{
	p->server = NULL;
	p->fds[0] = p->fds[1] = -1;
	/* First, so that pair_close may always free the client. */
	if (client_init(&p->client, -1, rng, ca, suites, versions) != 0)
		return -1;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0, p->fds) != 0)
		return -1;
	p->client.fd = p->fds[1];
	p->server = tls_transport_new(tls, p->fds[0]);
	return p->server != NULL ? 0 : -1;
}

static void pair_close(struct pair *p)
{
	if (p->server != NULL)
		p->server->ops->free(p->server);
	client_free(&p->client);
	if (p->fds[0] >= 0)
		close(p->fds[0]);
	if (p->fds[1] >= 0)
		close(p->fds[1]);
}

static int client_waits(int ret)
{
	return ret == MBEDTLS_ERR_SSL_WANT_READ || ret == MBEDTLS_ERR_SSL_WANT_WRITE;
}

static int server_waits(int ret)
{
	return ret == TRANSPORT_WANT_READ || ret == TRANSPORT_WANT_WRITE;
}

/* Steps both handshakes until neither waits any more; 0 when both are
 * complete. The results stay in p for the tests that expect failure. */
static int pair_handshake(struct pair *p)
{
	int s = TRANSPORT_WANT_READ, c = MBEDTLS_ERR_SSL_WANT_READ;
	int round;

	for (round = 0; round < TEST_ROUNDS && (server_waits(s) || client_waits(c)); round++) {
		if (client_waits(c))
			c = mbedtls_ssl_handshake(&p->client.ssl);
		if (server_waits(s))
			s = p->server->ops->handshake(p->server);
	}
	p->server_result = s;
	p->client_result = c;
	return s == 0 && c == 0 ? 0 : -1;
}

static int client_write_all(struct pair *p, const void *data, size_t len)
{
	const unsigned char *bytes = data;
	int round, ret;

	for (round = 0; len > 0 && round < TEST_ROUNDS; round++) {
		ret = mbedtls_ssl_write(&p->client.ssl, bytes, len);
		if (ret > 0) {
			bytes += ret;
			len -= (size_t)ret;
		} else if (!client_waits(ret)) {
			return -1;
		}
	}
	return len == 0 ? 0 : -1;
}

/* Reads exactly len bytes on the client, skipping what TLS 1.3 sends
 * after the handshake (mbedTLS 3.x may report a new session ticket). */
static int client_read_exact(struct pair *p, void *buf, size_t len)
{
	unsigned char *bytes = buf;
	int round, ret;

	for (round = 0; len > 0 && round < TEST_ROUNDS; round++) {
		ret = mbedtls_ssl_read(&p->client.ssl, bytes, len);
		if (ret > 0) {
			bytes += ret;
			len -= (size_t)ret;
			continue;
		}
		if (ret == MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
			continue;
		if (!client_waits(ret))
			return -1;
	}
	return len == 0 ? 0 : -1;
}

/* For a TLS 1.3 client told of tickets (signal_new_session_tickets):
 * reads until the server's NewSessionTicket has arrived and keeps the
 * session it makes resumable. */
static int client_take_ticket(struct pair *p, mbedtls_ssl_session *session)
{
	unsigned char byte;
	int round, ret = MBEDTLS_ERR_SSL_WANT_READ;

	for (round = 0; round < TEST_ROUNDS && client_waits(ret); round++)
		ret = mbedtls_ssl_read(&p->client.ssl, &byte, 1);
	if (ret != MBEDTLS_ERR_SSL_RECEIVED_NEW_SESSION_TICKET)
		return -1;
	return mbedtls_ssl_get_session(&p->client.ssl, session);
}

static int server_read_exact(struct pair *p, void *buf, size_t len)
{
	char *bytes = buf;
	ssize_t n;
	int round;

	for (round = 0; len > 0 && round < TEST_ROUNDS; round++) {
		n = p->server->ops->read(p->server, bytes, len);
		if (n > 0) {
			bytes += n;
			len -= (size_t)n;
		} else if (!server_waits((int)n)) {
			return -1;
		}
	}
	return len == 0 ? 0 : -1;
}

static int server_write_all(struct pair *p, const void *data, size_t len)
{
	const char *bytes = data;
	ssize_t n;
	int round;

	for (round = 0; len > 0 && round < TEST_ROUNDS; round++) {
		n = p->server->ops->write(p->server, bytes, len);
		if (n > 0) {
			bytes += n;
			len -= (size_t)n;
		} else if (!server_waits((int)n)) {
			return -1;
		}
	}
	return len == 0 ? 0 : -1;
}

/* ---- a server with the development certificate ---- */

struct dev_server {
	char dir[TEST_DIR_LEN];
	char cert_path[TEST_PATH_LEN];
	struct rng *rng;
	struct tls *tls;
	mbedtls_x509_crt cert;      /* as written to cert_path */
};

static int dev_server_start(struct dev_server *d)
{
	struct tls_options opts = { NULL, NULL, d->cert_path };
	char err[TEST_ERR_LEN];

	memset(d, 0, sizeof(*d));
	mbedtls_x509_crt_init(&d->cert);
	if (temp_dir_make(d->dir, sizeof(d->dir)) != 0)
		return -1;
	snprintf(d->cert_path, sizeof(d->cert_path), "%s/dev.pem", d->dir);
	d->rng = rng_new(err, sizeof(err));
	if (d->rng == NULL)
		return -1;
	d->tls = tls_new(&opts, d->rng, err, sizeof(err));
	if (d->tls == NULL) {
		printf("    tls_new: %s\n", err);
		return -1;
	}
	return mbedtls_x509_crt_parse_file(&d->cert, d->cert_path) == 0 ? 0 : -1;
}

static void dev_server_stop(struct dev_server *d)
{
	mbedtls_x509_crt_free(&d->cert);
	tls_free(d->tls);
	rng_free(d->rng);
	if (d->dir[0] != '\0')
		temp_dir_remove(d->dir);
}

static int contains(const void *haystack, size_t haystack_len, const void *needle,
    size_t needle_len)
{
	return memmem(haystack, haystack_len, needle, needle_len) != NULL;
}

static time_t x509_time_to_utc(const mbedtls_x509_time *t)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = t->year - 1900;
	tm.tm_mon = t->mon - 1;
	tm.tm_mday = t->day;
	tm.tm_hour = t->hour;
	tm.tm_min = t->min;
	tm.tm_sec = t->sec;
	return timegm(&tm);
}

/* "AB:CD:…" computed here, independently of tls.c. */
static void sha256_colon_hex(const unsigned char *der, size_t der_len, char *out)
{
	unsigned char digest[32];
	size_t i;

	mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256), der, der_len, digest);
	for (i = 0; i < sizeof(digest); i++)
		sprintf(out + 3 * i, i + 1 < sizeof(digest) ? "%02X:" : "%02X", digest[i]);
}

/* ---- tests ---- */

static void test_dev_cert(void)
{
	struct dev_server d;
	const mbedtls_x509_sequence *san;
	char text[4096];
	uint32_t flags = 0;
	int localhost_listed = 0;

	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL || d.cert.raw.len == 0)
		goto done;

	CHECK(mbedtls_pk_get_type(&d.cert.pk) == MBEDTLS_PK_ECKEY);
	CHECK(mbedtls_pk_get_bitlen(&d.cert.pk) == 256);
	CHECK(contains(d.cert.pk_raw.p, d.cert.pk_raw.len, p256_oid, sizeof(p256_oid)));

	CHECK(mbedtls_x509_dn_gets(text, sizeof(text), &d.cert.subject) > 0);
	CHECK_EQ_STR(text, "CN=localhost");
	CHECK(mbedtls_x509_dn_gets(text, sizeof(text), &d.cert.issuer) > 0);
	CHECK_EQ_STR(text, "CN=localhost");

	CHECK(contains(d.cert.v3_ext.p, d.cert.v3_ext.len, expected_san, sizeof(expected_san)));
	CHECK(contains(d.cert.v3_ext.p, d.cert.v3_ext.len, ski_oid, sizeof(ski_oid)));
	for (san = &d.cert.subject_alt_names; san != NULL; san = san->next)
		if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2) &&
		    san->buf.len == 9 && memcmp(san->buf.p, "localhost", 9) == 0)
			localhost_listed = 1;
	CHECK(localhost_listed);

	/* Its own trust anchor, valid now, for the name clients connect to. */
	CHECK(mbedtls_x509_crt_verify(&d.cert, &d.cert, NULL, "localhost", &flags,
	    NULL, NULL) == 0);
	CHECK_EQ_INT(flags, 0);
	CHECK(mbedtls_x509_crt_check_key_usage(&d.cert,
	    MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_CERT_SIGN) == 0);
#if !defined(MBEDTLS_X509_REMOVE_INFO)
	CHECK(mbedtls_x509_crt_info(text, sizeof(text), "", &d.cert) > 0);
	CHECK(strstr(text, "CA=true") != NULL);
#endif

	CHECK_EQ_INT(d.cert.serial.len, 16);
	CHECK((d.cert.serial.p[0] & 0x80) == 0);
	CHECK_EQ_INT(x509_time_to_utc(&d.cert.valid_to) - x509_time_to_utc(&d.cert.valid_from),
	    90 * 24 * 3600 + 3600);
	CHECK(!mbedtls_x509_time_is_future(&d.cert.valid_from));
	CHECK(!mbedtls_x509_time_is_past(&d.cert.valid_to));

done:
	dev_server_stop(&d);
}

static void test_dev_cert_is_fresh_each_time(void)
{
	struct dev_server a, b;

	CHECK(dev_server_start(&a) == 0);
	CHECK(dev_server_start(&b) == 0);
	if (a.tls != NULL && b.tls != NULL) {
		CHECK(strcmp(tls_fingerprint(a.tls), tls_fingerprint(b.tls)) != 0);
		CHECK(a.cert.serial.len != b.cert.serial.len ||
		    memcmp(a.cert.serial.p, b.cert.serial.p, a.cert.serial.len) != 0);
	}
	dev_server_stop(&a);
	dev_server_stop(&b);
}

static void test_fingerprint(void)
{
	struct dev_server d;
	char expected[96];
	const char *fp;
	size_t i;

	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL || d.cert.raw.len == 0)
		goto done;
	fp = tls_fingerprint(d.tls);
	CHECK_EQ_INT(strlen(fp), 95);
	for (i = 0; i < strlen(fp); i++) {
		if (i % 3 == 2)
			CHECK(fp[i] == ':');
		else
			CHECK((fp[i] >= '0' && fp[i] <= '9') || (fp[i] >= 'A' && fp[i] <= 'F'));
	}
	sha256_colon_hex(d.cert.raw.p, d.cert.raw.len, expected);
	CHECK_EQ_STR(fp, expected);

done:
	dev_server_stop(&d);
}

static void test_cert_and_key_files(void)
{
	char dir[TEST_DIR_LEN], rsa_cert[TEST_PATH_LEN], rsa_key[TEST_PATH_LEN];
	char ec_cert[TEST_PATH_LEN], ec_key[TEST_PATH_LEN], err[TEST_ERR_LEN];
	char expected[96];
	struct tls_options rsa_opts = { rsa_cert, rsa_key, NULL };
	struct tls_options ec_opts = { ec_cert, ec_key, NULL };
	mbedtls_x509_crt ca;
	struct tls *tls;
	struct rng *rng;
	struct pair p;

	mbedtls_x509_crt_init(&ca);
	CHECK(temp_dir_make(dir, sizeof(dir)) == 0);
	snprintf(rsa_cert, sizeof(rsa_cert), "%s/rsa-cert.pem", dir);
	snprintf(rsa_key, sizeof(rsa_key), "%s/rsa-key.pem", dir);
	snprintf(ec_cert, sizeof(ec_cert), "%s/ec-cert.pem", dir);
	snprintf(ec_key, sizeof(ec_key), "%s/ec-key.pem", dir);
	rng = rng_new(err, sizeof(err));
	CHECK(rng != NULL);
	if (rng == NULL)
		goto done;
	CHECK(write_key_and_cert(rng, MBEDTLS_PK_RSA, rsa_cert, rsa_key) == 0);
	CHECK(write_key_and_cert(rng, MBEDTLS_PK_ECKEY, ec_cert, ec_key) == 0);

	tls = tls_new(&ec_opts, rng, err, sizeof(err));
	CHECK(tls != NULL);
	tls_free(tls);

	tls = tls_new(&rsa_opts, rng, err, sizeof(err));
	CHECK(tls != NULL);
	if (tls == NULL) {
		printf("    tls_new: %s\n", err);
		goto done;
	}
	CHECK(mbedtls_x509_crt_parse_file(&ca, rsa_cert) == 0);
	sha256_colon_hex(ca.raw.p, ca.raw.len, expected);
	CHECK_EQ_STR(tls_fingerprint(tls), expected);

	/* The RSA key really serves: a verifying client completes ECDHE-RSA. */
	CHECK(pair_open(&p, tls, rng, &ca, NULL, CLIENT_TLS12_MAX) == 0);
	if (p.server == NULL)
		goto close;
	CHECK(pair_handshake(&p) == 0);
	CHECK(strstr(client_suite(&p.client), "ECDHE-RSA") != NULL);
	CHECK(p.client.certs_verified > 0);
close:
	pair_close(&p);
	tls_free(tls);

done:
	mbedtls_x509_crt_free(&ca);
	rng_free(rng);
	temp_dir_remove(dir);
}

/* tls_new must fail, with one line that names `path`. */
static void check_refused(const struct tls_options *opts, struct rng *rng, const char *path)
{
	char err[TEST_ERR_LEN] = "";
	struct tls *tls;

	tls = tls_new(opts, rng, err, sizeof(err));
	CHECK(tls == NULL);
	tls_free(tls);
	CHECK(strstr(err, path) != NULL);
	CHECK(strchr(err, '\n') == NULL);
}

/* to holds the certificate of from, times times: a chain of that length. */
static int test_chain_repeat(const char *from, const char *to, int times)
{
	char pem[4096];
	size_t n;
	FILE *f = fopen(from, "r");

	if (f == NULL)
		return -1;
	n = fread(pem, 1, sizeof(pem) - 1, f);
	fclose(f);
	pem[n] = '\0';
	if (write_text(to, "") != 0)
		return -1;
	for (int i = 0; i < times; i++)
		if (append_text(to, pem) != 0)
			return -1;
	return 0;
}

static void test_bad_files(void)
{
	char dir[TEST_DIR_LEN], cert_a[TEST_PATH_LEN], key_a[TEST_PATH_LEN];
	char cert_b[TEST_PATH_LEN], key_b[TEST_PATH_LEN], missing[TEST_PATH_LEN];
	char unwritable[TEST_PATH_LEN], chain[TEST_PATH_LEN], err[TEST_ERR_LEN];
	struct tls *tls;
	struct rng *rng;

	CHECK(temp_dir_make(dir, sizeof(dir)) == 0);
	snprintf(cert_a, sizeof(cert_a), "%s/a-cert.pem", dir);
	snprintf(key_a, sizeof(key_a), "%s/a-key.pem", dir);
	snprintf(cert_b, sizeof(cert_b), "%s/b-cert.pem", dir);
	snprintf(key_b, sizeof(key_b), "%s/b-key.pem", dir);
	snprintf(missing, sizeof(missing), "%s/missing.pem", dir);
	snprintf(unwritable, sizeof(unwritable), "%s/no/such/dir/dev.pem", dir);
	snprintf(chain, sizeof(chain), "%s/chain.pem", dir);
	rng = rng_new(err, sizeof(err));
	CHECK(rng != NULL);
	if (rng == NULL)
		goto done;
	CHECK(write_key_and_cert(rng, MBEDTLS_PK_ECKEY, cert_a, key_a) == 0);
	CHECK(write_key_and_cert(rng, MBEDTLS_PK_ECKEY, cert_b, key_b) == 0);

	check_refused(&(struct tls_options){ missing, key_a, NULL }, rng, missing);
	check_refused(&(struct tls_options){ cert_a, missing, NULL }, rng, missing);
	/* A PEM key where the certificate should be. */
	check_refused(&(struct tls_options){ key_a, key_a, NULL }, rng, key_a);
	check_refused(&(struct tls_options){ cert_a, key_b, NULL }, rng, key_b);
	/* A chain with one certificate that does not parse. */
	CHECK(append_text(cert_b, "-----BEGIN CERTIFICATE-----\nAAAA\n"
	    "-----END CERTIFICATE-----\n") == 0);
	check_refused(&(struct tls_options){ cert_b, key_b, NULL }, rng, cert_b);
	check_refused(&(struct tls_options){ cert_a, NULL, NULL }, rng, cert_a);
	check_refused(&(struct tls_options){ NULL, key_a, NULL }, rng, key_a);
	check_refused(&(struct tls_options){ NULL, NULL, unwritable }, rng, unwritable);
	/* A chain longer than one 4 KiB record: it would load, and then every
	 * handshake would fail without a word. */
	CHECK(test_chain_repeat(cert_a, chain, 20) == 0);
	check_refused(&(struct tls_options){ chain, key_a, NULL }, rng, chain);
	CHECK(test_chain_repeat(cert_a, chain, 2) == 0);
	tls = tls_new(&(struct tls_options){ chain, key_a, NULL }, rng, err, sizeof(err));
	CHECK(tls != NULL);
	tls_free(tls);

done:
	rng_free(rng);
	temp_dir_remove(dir);
}

/* mbedTLS sends each handshake message by itself (seven calls for the
 * server's side of either version); the transport holds them so that each
 * flight leaves in one call: two. */
static void test_handshake_flights_leave_whole(void)
{
	static const enum client_versions versions[] = { CLIENT_DEFAULT, CLIENT_TLS12_MAX };
	struct dev_server d;
	struct pair p;

	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		CHECK(pair_open(&p, d.tls, d.rng, &d.cert, NULL, versions[i]) == 0);
		if (p.server == NULL)
			goto close;
		send_watch.fd = p.fds[0];
		send_watch.calls = 0;
		CHECK(pair_handshake(&p) == 0);
		CHECK_EQ_INT(send_watch.calls, 2);
		send_watch.fd = -1;
close:
		pair_close(&p);
	}
done:
	dev_server_stop(&d);
}

/* A socket that takes a hundred bytes at a time and refuses every third
 * call: the held flights leave in pieces, in order, nothing lost or sent
 * twice, and the connection carries data afterwards. */
static void test_held_flights_survive_a_full_socket(void)
{
	static const enum client_versions versions[] = { CLIENT_DEFAULT, CLIENT_TLS12_MAX };
	static const char request[] = "GET /v1/m/abc HTTP/1.1\r\nHost: localhost\r\n\r\n";
	char buf[64];
	struct dev_server d;
	struct pair p;

	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;
	for (size_t i = 0; i < sizeof(versions) / sizeof(versions[0]); i++) {
		CHECK(pair_open(&p, d.tls, d.rng, &d.cert, NULL, versions[i]) == 0);
		if (p.server == NULL)
			goto close;
		send_watch.fd = p.fds[0];
		send_watch.calls = 0;
		send_watch.max_bytes = 100;
		send_watch.refuse_every = 3;
		CHECK(pair_handshake(&p) == 0);
		CHECK(send_watch.calls > 6);
		send_watch.fd = -1;
		send_watch.max_bytes = 0;
		send_watch.refuse_every = 0;
		CHECK(client_write_all(&p, request, sizeof(request) - 1) == 0);
		memset(buf, 0, sizeof(buf));
		CHECK(server_read_exact(&p, buf, sizeof(request) - 1) == 0);
		CHECK_EQ_STR(buf, request);
close:
		send_watch.fd = -1;
		pair_close(&p);
	}
done:
	dev_server_stop(&d);
}

static void test_handshake_and_exchange(void)
{
	static const char request[] = "GET /v1/m/abc HTTP/1.1\r\nHost: localhost\r\n\r\n";
	static const char response[] = "HTTP/1.1 204 No Content\r\n\r\n";
	char buf[128];
	struct dev_server d;
	struct pair p;
	const char *version;

	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;
	CHECK(pair_open(&p, d.tls, d.rng, &d.cert, NULL, CLIENT_DEFAULT) == 0);
	if (p.server == NULL)
		goto close;
	CHECK(pair_handshake(&p) == 0);
	CHECK(p.client.certs_verified > 0);
	CHECK(mbedtls_ssl_get_verify_result(&p.client.ssl) == 0);
	version = mbedtls_ssl_get_version(&p.client.ssl);
	CHECK(strcmp(version, "TLSv1.2") == 0 || strcmp(version, "TLSv1.3") == 0);
	CHECK(strstr(client_suite(&p.client), "GCM") != NULL ||
	    strstr(client_suite(&p.client), "CHACHA20") != NULL);

	CHECK(client_write_all(&p, request, sizeof(request) - 1) == 0);
	memset(buf, 0, sizeof(buf));
	CHECK(server_read_exact(&p, buf, sizeof(request) - 1) == 0);
	CHECK_EQ_STR(buf, request);
	CHECK(server_write_all(&p, response, sizeof(response) - 1) == 0);
	memset(buf, 0, sizeof(buf));
	CHECK(client_read_exact(&p, buf, sizeof(response) - 1) == 0);
	CHECK_EQ_STR(buf, response);

	/* Goodbyes: the server's close_notify reaches the client, the client's
	 * makes the server's read return 0. */
	CHECK_EQ_INT(p.server->ops->shutdown(p.server), 0);
	CHECK_EQ_INT(mbedtls_ssl_read(&p.client.ssl, (unsigned char *)buf, sizeof(buf)),
	    MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY);
	CHECK_EQ_INT(mbedtls_ssl_close_notify(&p.client.ssl), 0);
	CHECK_EQ_INT(p.server->ops->read(p.server, buf, sizeof(buf)), 0);
close:
	pair_close(&p);

done:
	dev_server_stop(&d);
}

static void test_eof_without_close_notify(void)
{
	struct dev_server d;
	struct pair p;
	char buf[16];

	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;
	CHECK(pair_open(&p, d.tls, d.rng, &d.cert, NULL, CLIENT_DEFAULT) == 0);
	if (p.server == NULL)
		goto close;
	CHECK(pair_handshake(&p) == 0);
	CHECK_EQ_INT(p.server->ops->read(p.server, buf, sizeof(buf)), TRANSPORT_WANT_READ);
	/* A FIN, not close(): the client never read its TLS 1.3 session
	 * ticket, and closing a socket with unread bytes sends a reset. */
	CHECK(shutdown(p.fds[1], SHUT_WR) == 0);
	CHECK_EQ_INT(p.server->ops->read(p.server, buf, sizeof(buf)), 0);
close:
	pair_close(&p);

done:
	dev_server_stop(&d);
}

static void test_cbc_client_refused(void)
{
	struct dev_server d;
	struct pair p;

	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;
	CHECK(pair_open(&p, d.tls, d.rng, &d.cert, cbc_ciphersuites, CLIENT_TLS12_MAX) == 0);
	if (p.server == NULL)
		goto close;
	CHECK(pair_handshake(&p) != 0);
	CHECK_EQ_INT(p.server_result, TRANSPORT_ERROR);
	CHECK(p.client_result != 0 && !client_waits(p.client_result));
	CHECK_EQ_INT(client_first_alert(&p.client), ALERT_HANDSHAKE_FAILURE);
close:
	pair_close(&p);

done:
	dev_server_stop(&d);
}

static void test_session_ticket_resumption(void)
{
	struct dev_server d;
	mbedtls_ssl_session saved;
	struct pair first, second;
	char buf[5] = "";

	mbedtls_ssl_session_init(&saved);
	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;

	/* TLS 1.2 on every library: 1.3 tickets arrive after the handshake and
	 * resume differently. */
	CHECK(pair_open(&first, d.tls, d.rng, &d.cert, NULL, CLIENT_TLS12_MAX) == 0);
	if (first.server == NULL)
		goto close_first;
	CHECK(pair_handshake(&first) == 0);
	CHECK(first.client.certs_verified > 0);
	CHECK(mbedtls_ssl_get_session(&first.client.ssl, &saved) == 0);
close_first:
	pair_close(&first);

	CHECK(pair_open(&second, d.tls, d.rng, &d.cert, NULL, CLIENT_TLS12_MAX) == 0);
	if (second.server == NULL)
		goto close_second;
	CHECK(mbedtls_ssl_set_session(&second.client.ssl, &saved) == 0);
	CHECK(pair_handshake(&second) == 0);
	/* A resumed handshake sends no certificate, so none was checked. */
	CHECK_EQ_INT(second.client.certs_verified, 0);
	CHECK(client_write_all(&second, "ping", 4) == 0);
	CHECK(server_read_exact(&second, buf, 4) == 0);
	CHECK_EQ_STR(buf, "ping");
close_second:
	pair_close(&second);

done:
	mbedtls_ssl_session_free(&saved);
	dev_server_stop(&d);
}

/* A first TLS 1.3 connection, full handshake, whose client keeps the
 * session from the server's NewSessionTicket in saved. 0 on success. */
static int tls13_first_session(struct dev_server *d, mbedtls_ssl_session *saved)
{
	struct pair p;
	int ok = 0;

	if (pair_open(&p, d->tls, d->rng, &d->cert, NULL, CLIENT_TLS13_ONLY) != 0)
		goto close;
	mbedtls_ssl_conf_tls13_enable_signal_new_session_tickets(&p.client.conf,
	    MBEDTLS_SSL_TLS1_3_SIGNAL_NEW_SESSION_TICKETS_ENABLED);
	ok = pair_handshake(&p) == 0 && p.client.certs_verified > 0 &&
	    strcmp(mbedtls_ssl_get_version(&p.client.ssl), "TLSv1.3") == 0 &&
	    client_take_ticket(&p, saved) == 0;
close:
	pair_close(&p);
	return ok ? 0 : -1;
}

static void test_tls13_ticket_resumption(void)
{
	struct dev_server d;
	mbedtls_ssl_session saved;
	struct pair p;
	char buf[5] = "";

	mbedtls_ssl_session_init(&saved);
	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;
	CHECK(tls13_first_session(&d, &saved) == 0);

	CHECK(pair_open(&p, d.tls, d.rng, &d.cert, NULL, CLIENT_TLS13_ONLY) == 0);
	if (p.server == NULL)
		goto close;
	CHECK(mbedtls_ssl_set_session(&p.client.ssl, &saved) == 0);
	CHECK(pair_handshake(&p) == 0);
	CHECK_EQ_STR(mbedtls_ssl_get_version(&p.client.ssl), "TLSv1.3");
	/* Resumed: the server proved itself with the ticket's key, not with
	 * its certificate, which it did not send. */
	CHECK_EQ_INT(p.client.certs_verified, 0);
	CHECK(client_write_all(&p, "ping", 4) == 0);
	CHECK(server_read_exact(&p, buf, 4) == 0);
	CHECK_EQ_STR(buf, "ping");
close:
	pair_close(&p);

done:
	mbedtls_ssl_session_free(&saved);
	dev_server_stop(&d);
}

/* A TLS 1.3 client that offers to resume with the ticket's key alone
 * (psk_ke, no key share) gets no session at all: with no (EC)DHE there is
 * nothing else to fall back on, and a session keyed by the ticket alone
 * would be open to whoever later learns the ticket key. */
static void test_tls13_pure_psk_resumption_refused(void)
{
	struct dev_server d;
	mbedtls_ssl_session saved;
	struct pair p;

	mbedtls_ssl_session_init(&saved);
	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;
	CHECK(tls13_first_session(&d, &saved) == 0);

	CHECK(pair_open(&p, d.tls, d.rng, &d.cert, NULL, CLIENT_TLS13_ONLY) == 0);
	if (p.server == NULL)
		goto close;
	mbedtls_ssl_conf_tls13_key_exchange_modes(&p.client.conf,
	    MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_PSK);
	CHECK(mbedtls_ssl_set_session(&p.client.ssl, &saved) == 0);
	CHECK(pair_handshake(&p) != 0);
	CHECK_EQ_INT(p.server_result, TRANSPORT_ERROR);
close:
	pair_close(&p);

done:
	mbedtls_ssl_session_free(&saved);
	dev_server_stop(&d);
}

/* Where the server chooses (TLS 1.2), ChaCha20-Poly1305 wins even for a
 * client that lists AES-GCM first. */
static void test_tls12_server_prefers_chacha20(void)
{
	struct dev_server d;
	struct pair p;

	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;
	CHECK(pair_open(&p, d.tls, d.rng, &d.cert, gcm_first_ciphersuites, CLIENT_TLS12_MAX) == 0);
	if (p.server == NULL)
		goto close;
	CHECK(pair_handshake(&p) == 0);
	CHECK_EQ_STR(client_suite(&p.client), "TLS-ECDHE-ECDSA-WITH-CHACHA20-POLY1305-SHA256");
close:
	pair_close(&p);

done:
	dev_server_stop(&d);
}

static void check_pending_after_partial_read(enum client_versions versions,
    const char *version)
{
	unsigned char record[100];
	char buf[sizeof(record)];
	struct dev_server d;
	struct pair p;
	size_t i;

	for (i = 0; i < sizeof(record); i++)
		record[i] = (unsigned char)i;
	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;
	CHECK(pair_open(&p, d.tls, d.rng, &d.cert, NULL, versions) == 0);
	if (p.server == NULL)
		goto close;
	CHECK(pair_handshake(&p) == 0);
	CHECK_EQ_STR(mbedtls_ssl_get_version(&p.client.ssl), version);
	CHECK(!p.server->ops->pending(p.server));

	/* One record of 100 bytes, of which the server takes 10. */
	CHECK_EQ_INT(mbedtls_ssl_write(&p.client.ssl, record, sizeof(record)), sizeof(record));
	CHECK_EQ_INT(p.server->ops->read(p.server, buf, 10), 10);
	CHECK(p.server->ops->pending(p.server));
	/* The rest is inside the transport, not in the socket: waiting for
	 * readability now would wait forever. */
	CHECK(recv(p.fds[0], buf, 1, MSG_PEEK) < 0 && errno == EAGAIN);
	CHECK_EQ_INT(p.server->ops->read(p.server, buf + 10, sizeof(buf) - 10), 90);
	CHECK(memcmp(buf, record, sizeof(record)) == 0);
	CHECK(!p.server->ops->pending(p.server));
close:
	pair_close(&p);

done:
	dev_server_stop(&d);
}

static void test_pending_after_partial_read_tls12(void)
{
	check_pending_after_partial_read(CLIENT_TLS12_MAX, "TLSv1.2");
}

static void test_pending_after_partial_read_tls13(void)
{
	check_pending_after_partial_read(CLIENT_TLS13_ONLY, "TLSv1.3");
}

/* Two records that arrive together are taken from the socket in one
 * receive: the second waits in the transport (pending), the socket is known
 * to be empty (drained), and both come out whole and in order. */
static void check_records_received_together(enum client_versions versions,
    const char *version)
{
	char buf[64];
	struct dev_server d;
	struct pair p;

	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;
	CHECK(pair_open(&p, d.tls, d.rng, &d.cert, NULL, versions) == 0);
	if (p.server == NULL)
		goto close;
	CHECK(pair_handshake(&p) == 0);
	CHECK_EQ_STR(mbedtls_ssl_get_version(&p.client.ssl), version);
	CHECK_EQ_INT(mbedtls_ssl_write(&p.client.ssl, (const unsigned char *)"first", 5), 5);
	CHECK_EQ_INT(mbedtls_ssl_write(&p.client.ssl, (const unsigned char *)"second", 6), 6);
	CHECK_EQ_INT(p.server->ops->read(p.server, buf, sizeof(buf)), 5);
	CHECK(memcmp(buf, "first", 5) == 0);
	CHECK(p.server->drained);
	CHECK(recv(p.fds[0], buf, 1, MSG_PEEK) < 0 && errno == EAGAIN);
	CHECK(p.server->ops->pending(p.server));
	CHECK_EQ_INT(p.server->ops->read(p.server, buf, sizeof(buf)), 6);
	CHECK(memcmp(buf, "second", 6) == 0);
	CHECK(!p.server->ops->pending(p.server));
	CHECK_EQ_INT(p.server->ops->read(p.server, buf, sizeof(buf)), TRANSPORT_WANT_READ);
close:
	pair_close(&p);

done:
	dev_server_stop(&d);
}

static void test_records_received_together_tls12(void)
{
	check_records_received_together(CLIENT_TLS12_MAX, "TLSv1.2");
}

static void test_records_received_together_tls13(void)
{
	check_records_received_together(CLIENT_TLS13_ONLY, "TLSv1.3");
}

/* Fills the socket until the server's write must wait, then checks that
 * repeating the same call once the client has drained it loses nothing. */
static void test_write_waits_for_writable(void)
{
	unsigned char chunk[16384], got[4096];
	size_t sent = 0, received = 0, i;
	struct dev_server d;
	struct pair p;
	ssize_t n = 0;
	int round, ret, mismatches = 0;

	CHECK(dev_server_start(&d) == 0);
	if (d.tls == NULL)
		goto done;
	CHECK(pair_open(&p, d.tls, d.rng, &d.cert, NULL, CLIENT_DEFAULT) == 0);
	if (p.server == NULL)
		goto close;
	CHECK(pair_handshake(&p) == 0);

	/* Byte k of the stream is k % 251, whichever call carries it. */
	for (round = 0; round < TEST_ROUNDS && n >= 0; round++) {
		for (i = 0; i < sizeof(chunk); i++)
			chunk[i] = (unsigned char)((sent + i) % 251);
		n = p.server->ops->write(p.server, (char *)chunk, sizeof(chunk));
		if (n > 0)
			sent += (size_t)n;
	}
	CHECK_EQ_INT(n, TRANSPORT_WANT_WRITE);

	/* The client drains the socket; each time it runs dry the server
	 * repeats the call that had to wait, with the same bytes. */
	for (round = 0; round < 100 * TEST_ROUNDS && (n < 0 || received < sent); round++) {
		ret = mbedtls_ssl_read(&p.client.ssl, got, sizeof(got));
		if (ret > 0) {
			for (i = 0; i < (size_t)ret; i++)
				mismatches += got[i] != (received + i) % 251;
			received += (size_t)ret;
		} else if (client_waits(ret) && n < 0) {
			n = p.server->ops->write(p.server, (char *)chunk, sizeof(chunk));
			if (n > 0)
				sent += (size_t)n;
		}
	}
	/* What the repeated call reports: at most one record, 4 KiB
	 * (MBEDTLS_SSL_OUT_CONTENT_LEN), less a byte in TLS 1.3. */
	CHECK(n > 0 && n <= 4096);
	CHECK_EQ_INT(received, sent);
	CHECK_EQ_INT(mismatches, 0);
close:
	pair_close(&p);

done:
	dev_server_stop(&d);
}

/* ---- the client's check of the peer's name ---- */

/* One subjectAltName entry, as mbedTLS's parser leaves it. */
static void san_entry(mbedtls_x509_sequence *seq, int tag, const void *bytes, size_t len,
    mbedtls_x509_sequence *next)
{
	memset(seq, 0, sizeof(*seq));
	seq->buf.tag = tag;
	seq->buf.p = (unsigned char *)bytes;
	seq->buf.len = len;
	seq->next = next;
}

#define SAN_DNS (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)
#define SAN_IP (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7)

static void test_host_ip(void)
{
	static const uint8_t lo4[4] = { 127, 0, 0, 1 };
	static const uint8_t lo6[16] = { [15] = 1 };
	uint8_t ip[16];
	size_t len = 0;

	CHECK_EQ_INT(tls_client_host_ip("127.0.0.1", ip, &len), 1);
	CHECK(len == 4 && memcmp(ip, lo4, 4) == 0);
	/* What the resolver reads as 127.0.0.1 is checked as 127.0.0.1. */
	CHECK_EQ_INT(tls_client_host_ip("127.1", ip, &len), 1);
	CHECK(len == 4 && memcmp(ip, lo4, 4) == 0);
	CHECK_EQ_INT(tls_client_host_ip("0x7f.0.0.1", ip, &len), 1);
	CHECK(len == 4 && memcmp(ip, lo4, 4) == 0);
	CHECK_EQ_INT(tls_client_host_ip("::1", ip, &len), 1);
	CHECK(len == 16 && memcmp(ip, lo6, 16) == 0);
	CHECK_EQ_INT(tls_client_host_ip("0:0:0:0:0:0:0:1", ip, &len), 1);
	CHECK(len == 16 && memcmp(ip, lo6, 16) == 0);
	CHECK_EQ_INT(tls_client_host_ip("localhost", ip, &len), 0);
	CHECK_EQ_INT(tls_client_host_ip("relay.example", ip, &len), 0);
	CHECK_EQ_INT(tls_client_host_ip("127.0.0.1 evil", ip, &len), 0);
	CHECK_EQ_INT(tls_client_host_ip("127.0.0.1.example", ip, &len), 0);
	CHECK_EQ_INT(tls_client_host_ip("", ip, &len), 0);
	CHECK_EQ_INT(tls_client_host_ip("fe80::1%eth0", ip, &len), 0);
}

static void test_ip_san_match(void)
{
	static const uint8_t lo4[4] = { 127, 0, 0, 1 }, other4[4] = { 127, 0, 0, 2 };
	static const uint8_t lo6[16] = { [15] = 1 };
	static const uint8_t mapped[16] = { [10] = 0xff, [11] = 0xff, 127, 0, 0, 1 };
	mbedtls_x509_sequence dns, ip4, ip6, text_ip, dns_ip, wide;

	/* The dev certificate: localhost, 127.0.0.1, ::1. */
	san_entry(&ip6, SAN_IP, lo6, 16, NULL);
	san_entry(&ip4, SAN_IP, lo4, 4, &ip6);
	san_entry(&dns, SAN_DNS, "localhost", 9, &ip4);
	CHECK(tls_client_san_has_ip(&dns, lo4, 4));
	CHECK(tls_client_san_has_ip(&dns, lo6, 16));
	CHECK(!tls_client_san_has_ip(&dns, other4, 4));
	/* The same address in another family is another address. */
	CHECK(!tls_client_san_has_ip(&dns, mapped, 16));
	CHECK(!tls_client_san_has_ip(&ip6, lo4, 4));
	/* A dNSName that spells the address never counts... */
	san_entry(&dns_ip, SAN_DNS, "127.0.0.1", 9, NULL);
	CHECK(!tls_client_san_has_ip(&dns_ip, lo4, 4));
	/* ...nor an iPAddress holding the text, nor one of the wrong length
	 * (a name constraint's address and mask), nor a prefix. */
	san_entry(&text_ip, SAN_IP, "127.0.0.1", 9, NULL);
	CHECK(!tls_client_san_has_ip(&text_ip, lo4, 4));
	san_entry(&wide, SAN_IP, (const uint8_t[8]){ 127, 0, 0, 1, 255, 255, 255, 255 }, 8, NULL);
	CHECK(!tls_client_san_has_ip(&wide, lo4, 4));
	san_entry(&wide, SAN_IP, lo4, 3, NULL);
	CHECK(!tls_client_san_has_ip(&wide, lo4, 4));
	/* A certificate without the extension: an empty first entry. */
	san_entry(&wide, 0, NULL, 0, NULL);
	CHECK(!tls_client_san_has_ip(&wide, lo4, 4));
	CHECK(!tls_client_san_has_ip(NULL, lo4, 4));
}

/* A DNS host is matched against dNSName entries only: an iPAddress whose
 * bytes spell a name (42.46.105.111 is "*.io") never vouches for it, as
 * mbedTLS 2.28's own text comparison would let it. */
static void test_dns_san_match(void)
{
	mbedtls_x509_sequence dns, star, ip_star, ip_text;

	san_entry(&dns, SAN_DNS, "relay.example", 13, NULL);
	CHECK(tls_client_san_has_dns(&dns, "relay.example"));
	CHECK(tls_client_san_has_dns(&dns, "RELAY.Example"));
	CHECK(!tls_client_san_has_dns(&dns, "relay.example.evil"));
	CHECK(!tls_client_san_has_dns(&dns, "elay.example"));
	CHECK(!tls_client_san_has_dns(&dns, "relay"));
	san_entry(&star, SAN_DNS, "*.example", 9, NULL);
	CHECK(tls_client_san_has_dns(&star, "relay.example"));
	CHECK(!tls_client_san_has_dns(&star, "a.relay.example"));
	CHECK(!tls_client_san_has_dns(&star, "example"));
	CHECK(!tls_client_san_has_dns(&star, ".example"));
	san_entry(&ip_star, SAN_IP, "*.io", 4, NULL);
	CHECK(!tls_client_san_has_dns(&ip_star, "relay.io"));
	san_entry(&ip_text, SAN_IP, "a.io", 4, NULL);
	CHECK(!tls_client_san_has_dns(&ip_text, "a.io"));
	CHECK(!tls_client_san_has_dns(NULL, "relay.example"));
}

int main(void)
{
	/* The test's own TLS 1.3 client uses PSA. */
	if (psa_crypto_init() != PSA_SUCCESS) {
		printf("psa_crypto_init failed\n");
		return 1;
	}
	CHECK_RUN(test_dev_cert);
	CHECK_RUN(test_dev_cert_is_fresh_each_time);
	CHECK_RUN(test_fingerprint);
	CHECK_RUN(test_cert_and_key_files);
	CHECK_RUN(test_bad_files);
	CHECK_RUN(test_handshake_and_exchange);
	CHECK_RUN(test_handshake_flights_leave_whole);
	CHECK_RUN(test_held_flights_survive_a_full_socket);
	CHECK_RUN(test_eof_without_close_notify);
	CHECK_RUN(test_cbc_client_refused);
	CHECK_RUN(test_session_ticket_resumption);
	CHECK_RUN(test_tls13_ticket_resumption);
	CHECK_RUN(test_tls13_pure_psk_resumption_refused);
	CHECK_RUN(test_tls12_server_prefers_chacha20);
	CHECK_RUN(test_pending_after_partial_read_tls12);
	CHECK_RUN(test_pending_after_partial_read_tls13);
	CHECK_RUN(test_records_received_together_tls12);
	CHECK_RUN(test_records_received_together_tls13);
	CHECK_RUN(test_write_waits_for_writable);
	CHECK_RUN(test_host_ip);
	CHECK_RUN(test_ip_san_match);
	CHECK_RUN(test_dns_san_match);
	return CHECK_SUMMARY();
}
