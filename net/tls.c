/*
 * tls.c — the relay's TLS, on mbedTLS 3.6 LTS.
 *
 * tls_new() builds the one mbedtls_ssl_config that every connection shares:
 * the certificate chain and key (from PEM files, or a self-signed development
 * certificate made at start), the session-ticket keys, and a policy narrower
 * than mbedTLS's defaults: TLS 1.3 and 1.2, (EC)DHE with AEAD ciphers only,
 * no renegotiation, no 0-RTT. tls_transport_new() puts one accepted socket
 * behind that configuration and the transport interface, so that the
 * connection code sees only "bytes" or "wait until readable/writable".
 *
 * Nothing here reads a structure member that mbedTLS makes private. This
 * file never logs, and never turns on mbedTLS's debug output, which prints
 * key material at its higher levels.
 */
#include <errno.h>
#include <limits.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

/* build_info.h pulls in the library's configuration (and ours), which every
 * check below depends on. */
#include <mbedtls/build_info.h>
#include <mbedtls/ecp.h>
#include <mbedtls/error.h>
#include <mbedtls/md.h>
#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>
#include <psa/crypto.h>

#include "net/rng.h"
#include "net/tls.h"

#if MBEDTLS_VERSION_NUMBER < 0x03060000 || MBEDTLS_VERSION_NUMBER >= 0x04000000
#error "relay needs mbedTLS 3.6 LTS (or a later 3.x): build without MBEDTLS=system"
#endif
#if !defined(RELAY_TLS_CONFIG) && !defined(RELAY_TLS_SYSTEM)
#error "mbedTLS headers without net/tls_config.h: build with the Makefile"
#endif
#if !defined(MBEDTLS_SSL_PROTO_TLS1_3) || !defined(MBEDTLS_SSL_PROTO_TLS1_2) || \
    !defined(MBEDTLS_SSL_SESSION_TICKETS) || !defined(MBEDTLS_SSL_TICKET_C) || \
    !defined(MBEDTLS_X509_CRT_WRITE_C) || !defined(MBEDTLS_PEM_WRITE_C) || \
    !defined(MBEDTLS_FS_IO) || !defined(MBEDTLS_PSA_CRYPTO_C)
#error "relay needs mbedTLS with TLS 1.3 and 1.2, session tickets, PSA, certificate writing and file I/O"
#endif
#if defined(MBEDTLS_SSL_EARLY_DATA)
/* 0-RTT data can be replayed; mbedTLS does not stop that. */
#error "relay must not be built against mbedTLS with early data"
#endif

#define TLS_TICKET_LIFETIME_S (24 * 60 * 60)
#define TLS_DEV_CERT_BACKDATE_S (60 * 60)         /* tolerate slow client clocks */
#define TLS_DEV_CERT_LIFETIME_S (90 * 24 * 60 * 60)
#define TLS_DEV_CERT_NAME "CN=localhost"
#define TLS_SHA256_LEN 32

/*
 * A certificate with its key and the configuration that serves it. SIGHUP
 * makes a new one for new handshakes; connections already open keep theirs
 * (mbedTLS points into it), so it is counted and freed with the last one.
 */
struct tls_identity {
	int refs;
	mbedtls_x509_crt chain;        /* leaf first */
	mbedtls_pk_context key;
	mbedtls_ssl_config conf;
	mbedtls_ssl_ticket_context *tickets;    /* the relay's, shared */
	char fingerprint[TLS_SHA256_LEN * 3];   /* "AB:CD:…" and its NUL */
};

/* One receive can take a whole record (or several) from the socket, where
 * mbedTLS asks for a 5-byte header first and then the rest: two system calls
 * per record, and a third to learn the socket is empty. */
#define TLS_STAGE_SIZE (16384 + 2048)

struct tls {
	struct rng *rng;
	unsigned char *stage;                   /* shared: one loop, one read at a time */
	mbedtls_ssl_ticket_context tickets;
	struct tls_identity *current;
	char *cert_file, *key_file;             /* what a reload reads again */
};

/* One allocation per connection: the transport the caller sees, and the
 * mbedTLS session behind it. */
struct tls_transport {
	struct transport base;
	unsigned char *stage;                   /* the owner's shared receive buffer */
	struct tls_identity *identity;          /* server side; NULL for a client */
	unsigned char *stash;                   /* received, not yet given to mbedTLS */
	size_t stash_len, stash_off;
	unsigned char *held;                    /* handshake flight mbedTLS thinks sent */
	size_t held_len, held_off, held_cap;
	int holding;                            /* inside mbedtls_ssl_handshake() */
	mbedtls_ssl_context ssl;
};

/* Forward-secret AEAD only (and tls_suite_key() must know each TLS 1.2
 * one). In TLS 1.2 this is the server's order of preference (mbedTLS picks
 * the first one the client also offers that fits our key); in TLS 1.3
 * mbedTLS takes the client's first that is listed here.
 * ChaCha20-Poly1305 comes first: mbedTLS's portable ChaCha20-Poly1305 seals
 * a 1.7 KB record in 6 µs where its AES-GCM, even with AES-NI and PCLMUL,
 * takes 10 µs, and records are what every request costs. */
static const int tls_ciphersuites[] = {
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
static const uint16_t tls_groups[] = {
	MBEDTLS_SSL_IANA_TLS_GROUP_X25519,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP256R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_SECP384R1,
	MBEDTLS_SSL_IANA_TLS_GROUP_NONE
};

/*
 * The development certificate's subjectAltName, DER-encoded (mbedTLS's
 * writer, mbedtls_x509write_crt_set_subject_alternative_name, takes the
 * same bytes in a linked list of buffers):
 *   SEQUENCE { [2] "localhost", [7] 127.0.0.1, [7] ::1 }
 */
static const unsigned char tls_dev_cert_san[] = {
	0x30, 0x23,
	0x82, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
	0x87, 0x04, 127, 0, 0, 1,
	0x87, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
};

/* err = the formatted context, ": ", and mbedTLS's description of ret. */
__attribute__((format(printf, 4, 5)))
static void tls_set_error(char *err, size_t err_len, int ret, const char *fmt, ...)
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

/* Loads the chain and key the operator gave and checks that they belong
 * together, so that a mix-up fails at start rather than at each handshake. */
static int tls_load_files(struct tls *tls, struct tls_identity *id, const char *cert_file,
    const char *key_file, char *err, size_t err_len)
{
	int ret;

	ret = mbedtls_x509_crt_parse_file(&id->chain, cert_file);
	if (ret < 0) {
		tls_set_error(err, err_len, ret, "cannot read certificate %s", cert_file);
		return -1;
	}
	/* A positive count means some certificates in the file were skipped:
	 * serving a chain with holes would fail in clients, so refuse it. */
	if (ret > 0) {
		snprintf(err, err_len, "cannot read certificate %s: %d of its "
		    "certificates could not be parsed", cert_file, ret);
		return -1;
	}
	ret = mbedtls_pk_parse_keyfile(&id->key, key_file, NULL, rng_bytes, tls->rng);
	if (ret != 0) {
		tls_set_error(err, err_len, ret, "cannot read key %s", key_file);
		return -1;
	}
	ret = mbedtls_pk_check_pair(&id->chain.pk, &id->key, rng_bytes, tls->rng);
	if (ret != 0) {
		tls_set_error(err, err_len, ret, "key %s does not match certificate %s",
		    key_file, cert_file);
		return -1;
	}
	return 0;
}

/* "YYYYMMDDhhmmss" in UTC, the form mbedtls_x509write_crt_set_validity
 * takes. */
static int tls_format_time(time_t when, char *out, size_t out_len)
{
	struct tm tm;

	if (gmtime_r(&when, &tm) == NULL)
		return -1;
	return strftime(out, out_len, "%Y%m%d%H%M%S", &tm) == 14 ? 0 : -1;
}

static int tls_write_file(const char *path, const char *text, char *err,
    size_t err_len)
{
	FILE *f;
	int failed;

	f = fopen(path, "w");
	if (f == NULL)
		goto fail;
	failed = fputs(text, f) == EOF;
	if (fclose(f) != 0 || failed)
		goto fail;
	return 0;

fail:
	snprintf(err, err_len, "cannot write certificate %s: %s", path, strerror(errno));
	return -1;
}

/*
 * subjectKeyIdentifier, and the authorityKeyIdentifier that equals it in a
 * self-signed certificate: SHA-256 of the SubjectPublicKeyInfo (RFC 7093,
 * method 4). RFC 5280 requires one in every CA certificate, which this one
 * claims to be. Written by hand because mbedTLS's own writers use SHA-1.
 */
static int tls_set_key_identifiers(mbedtls_x509write_cert *crt, mbedtls_pk_context *key)
{
	unsigned char spki[256];
	/* OCTET STRING keyIdentifier */
	unsigned char ski[2 + TLS_SHA256_LEN] = { 0x04, TLS_SHA256_LEN };
	/* SEQUENCE { [0] keyIdentifier } */
	unsigned char aki[4 + TLS_SHA256_LEN] = { 0x30, 2 + TLS_SHA256_LEN, 0x80, TLS_SHA256_LEN };
	int len, ret;

	/* The writer fills the buffer from its end. */
	len = mbedtls_pk_write_pubkey_der(key, spki, sizeof(spki));
	if (len < 0)
		return len;
	ret = mbedtls_md(mbedtls_md_info_from_type(MBEDTLS_MD_SHA256),
	    spki + sizeof(spki) - len, (size_t)len, ski + 2);
	if (ret != 0)
		return ret;
	memcpy(aki + 4, ski + 2, TLS_SHA256_LEN);
	ret = mbedtls_x509write_crt_set_extension(crt, MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_KEY_IDENTIFIER), 0, ski, sizeof(ski));
	if (ret != 0)
		return ret;
	return mbedtls_x509write_crt_set_extension(crt, MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER,
	    MBEDTLS_OID_SIZE(MBEDTLS_OID_AUTHORITY_KEY_IDENTIFIER), 0, aki, sizeof(aki));
}

/*
 * Makes a fresh ECDSA P-256 key and a self-signed certificate for localhost,
 * so that `./relay` with no arguments serves HTTPS at once. The certificate
 * is its own CA (basicConstraints CA:TRUE, keyCertSign) so that curl
 * --cacert, OpenSSL and Python accept it directly as a trust anchor.
 */
static int tls_make_dev_cert(struct tls *tls, struct tls_identity *id, const char *out_path,
    char *err, size_t err_len)
{
	mbedtls_x509write_cert crt;
	unsigned char serial[16];
	unsigned char pem[4096];
	char not_before[16], not_after[16];
	time_t now;
	int ret;

	mbedtls_x509write_crt_init(&crt);

	ret = mbedtls_pk_setup(&id->key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (ret != 0)
		goto fail;
	ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(id->key),
	    rng_bytes, tls->rng);
	if (ret != 0)
		goto fail;

	/* RFC 5280 wants a positive serial of at most 20 bytes. Random, because
	 * browsers reject a second certificate with the same issuer and serial.
	 * Clearing the top bit keeps it positive; setting the next one keeps its
	 * DER encoding at 16 bytes. */
	ret = rng_bytes(tls->rng, serial, sizeof(serial));
	if (ret != 0)
		goto fail;
	serial[0] = (unsigned char)((serial[0] & 0x3f) | 0x40);
	ret = mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof(serial));
	if (ret != 0)
		goto fail;

	now = time(NULL);
	if (tls_format_time(now - TLS_DEV_CERT_BACKDATE_S, not_before, sizeof(not_before)) != 0 ||
	    tls_format_time(now + TLS_DEV_CERT_LIFETIME_S, not_after, sizeof(not_after)) != 0) {
		ret = MBEDTLS_ERR_X509_INVALID_DATE;
		goto fail;
	}
	ret = mbedtls_x509write_crt_set_validity(&crt, not_before, not_after);
	if (ret != 0)
		goto fail;

	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, &id->key);
	mbedtls_x509write_crt_set_issuer_key(&crt, &id->key);
	if ((ret = mbedtls_x509write_crt_set_subject_name(&crt, TLS_DEV_CERT_NAME)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_issuer_name(&crt, TLS_DEV_CERT_NAME)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_basic_constraints(&crt, 1, 0)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_key_usage(&crt,
	        MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_CERT_SIGN)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
	        MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
	        tls_dev_cert_san, sizeof(tls_dev_cert_san))) != 0)
		goto fail;
	ret = tls_set_key_identifiers(&crt, &id->key);
	if (ret != 0)
		goto fail;

	ret = mbedtls_x509write_crt_pem(&crt, pem, sizeof(pem), rng_bytes, tls->rng);
	if (ret != 0)
		goto fail;
	ret = mbedtls_x509_crt_parse(&id->chain, pem, strlen((char *)pem) + 1);
	if (ret != 0)
		goto fail;
	if (out_path != NULL && tls_write_file(out_path, (char *)pem, err, err_len) != 0)
		goto fail_reported;

	mbedtls_x509write_crt_free(&crt);
	return 0;

fail:
	tls_set_error(err, err_len, ret, "cannot generate the development certificate");
fail_reported:
	mbedtls_x509write_crt_free(&crt);
	return -1;
}

static int tls_compute_fingerprint(struct tls_identity *id)
{
	static const char hex[] = "0123456789ABCDEF";
	const mbedtls_md_info_t *sha256;
	unsigned char digest[TLS_SHA256_LEN];
	size_t i;

	sha256 = mbedtls_md_info_from_type(MBEDTLS_MD_SHA256);
	if (sha256 == NULL ||
	    mbedtls_md(sha256, id->chain.raw.p, id->chain.raw.len, digest) != 0)
		return -1;
	for (i = 0; i < TLS_SHA256_LEN; i++) {
		id->fingerprint[3 * i] = hex[digest[i] >> 4];
		id->fingerprint[3 * i + 1] = hex[digest[i] & 0x0f];
		id->fingerprint[3 * i + 2] = i + 1 < TLS_SHA256_LEN ? ':' : '\0';
	}
	return 0;
}

/* The key a TLS 1.2 suite of ours signs with; MBEDTLS_PK_NONE for the TLS
 * 1.3 ones, which leave that to the certificate. */
static mbedtls_pk_type_t tls_suite_key(int suite)
{
	switch (suite) {
	case MBEDTLS_TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256:
	case MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256:
	case MBEDTLS_TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384:
		return MBEDTLS_PK_ECDSA;
	case MBEDTLS_TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256:
	case MBEDTLS_TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256:
	case MBEDTLS_TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384:
		return MBEDTLS_PK_RSA;
	default:
		return MBEDTLS_PK_NONE;
	}
}

static int tls_ticket_write(void *ctx, const mbedtls_ssl_session *session,
    unsigned char *start, const unsigned char *end, size_t *len, uint32_t *lifetime)
{
	const struct tls_identity *id = ctx;

	return mbedtls_ssl_ticket_write(id->tickets, session, start, end, len, lifetime);
}

/*
 * On a TLS 1.2 ticket mbedTLS resumes the session and then picks the suite
 * afresh for the key it has now. After a reload from an ECDSA key to an
 * RSA one (or back) it would resume an ECDSA suite's session under an RSA
 * suite, which RFC 5246 forbids and OpenSSL clients abort on. Such a
 * ticket is refused, as an unreadable one is: a full handshake follows.
 */
static int tls_ticket_parse(void *ctx, mbedtls_ssl_session *session,
    unsigned char *buf, size_t len)
{
	struct tls_identity *id = ctx;
	mbedtls_pk_type_t needs;
	int ret;

	ret = mbedtls_ssl_ticket_parse(id->tickets, session, buf, len);
	if (ret != 0)
		return ret;
	needs = tls_suite_key(mbedtls_ssl_session_get_ciphersuite_id(session));
	if (needs != MBEDTLS_PK_NONE && !mbedtls_pk_can_do(&id->key, needs))
		return MBEDTLS_ERR_SSL_INVALID_MAC;
	return 0;
}

static int tls_configure(struct tls *tls, struct tls_identity *id, char *err, size_t err_len)
{
	mbedtls_ssl_config *conf = &id->conf;
	int ret;

	ret = mbedtls_ssl_config_defaults(conf, MBEDTLS_SSL_IS_SERVER,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0)
		goto fail;
	mbedtls_ssl_conf_rng(conf, rng_bytes, tls->rng);
	mbedtls_ssl_conf_min_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_ciphersuites(conf, tls_ciphersuites);
	mbedtls_ssl_conf_groups(conf, tls_groups);
	/* A TLS 1.3 resumption still does an (EC)DHE, as OpenSSL's does: with
	 * pure-PSK mode, whoever learnt a ticket key could read every session
	 * resumed under it. */
	mbedtls_ssl_conf_tls13_key_exchange_modes(conf,
	    MBEDTLS_SSL_TLS1_3_KEY_EXCHANGE_MODE_EPHEMERAL_ALL);
#if defined(MBEDTLS_SSL_RENEGOTIATION)
	/* With MBEDTLS=system: a client-started renegotiation would cost us a
	 * full handshake each time. */
	mbedtls_ssl_conf_renegotiation(conf, MBEDTLS_SSL_RENEGOTIATION_DISABLED);
#endif

	/* Tickets belong to the relay, not to one certificate: a client
	 * resumes across a certificate reload. */
	id->tickets = &tls->tickets;
	mbedtls_ssl_conf_session_tickets_cb(conf, tls_ticket_write, tls_ticket_parse, id);

	ret = mbedtls_ssl_conf_own_cert(conf, &id->chain, &id->key);
	if (ret != 0)
		goto fail;
	return 0;

fail:
	tls_set_error(err, err_len, ret, "cannot configure TLS");
	return -1;
}

static void tls_identity_release(struct tls_identity *id)
{
	if (id == NULL || --id->refs > 0)
		return;
	mbedtls_ssl_config_free(&id->conf);
	mbedtls_pk_free(&id->key);
	mbedtls_x509_crt_free(&id->chain);
	free(id);
}

/* A configured identity from the files, or (both NULL) a new development
 * certificate written to dev_cert_out. */
static struct tls_identity *tls_identity_new(struct tls *tls, const char *cert_file,
    const char *key_file, const char *dev_cert_out, char *err, size_t err_len)
{
	struct tls_identity *id = calloc(1, sizeof(*id));

	if (id == NULL) {
		snprintf(err, err_len, "cannot set up TLS: out of memory");
		return NULL;
	}
	id->refs = 1;
	mbedtls_x509_crt_init(&id->chain);
	mbedtls_pk_init(&id->key);
	mbedtls_ssl_config_init(&id->conf);
	if (cert_file != NULL) {
		if (tls_load_files(tls, id, cert_file, key_file, err, err_len) != 0)
			goto fail;
	} else if (tls_make_dev_cert(tls, id, dev_cert_out, err, err_len) != 0) {
		goto fail;
	}
	if (tls_compute_fingerprint(id) != 0) {
		snprintf(err, err_len, "cannot set up TLS: SHA-256 unavailable");
		goto fail;
	}
	if (tls_configure(tls, id, err, err_len) != 0)
		goto fail;
	return id;
fail:
	tls_identity_release(id);
	return NULL;
}

/* TLS 1.3 does its key exchange and key schedule through PSA, which must be
 * started first. Calling it again is harmless. */
static int tls_start_psa(char *err, size_t err_len)
{
	if (psa_crypto_init() == PSA_SUCCESS)
		return 0;
	snprintf(err, err_len, "cannot set up TLS: PSA crypto did not start");
	return -1;
}

const char *tls_library_version(void)
{
	return MBEDTLS_VERSION_STRING;
}

struct tls *tls_new(const struct tls_options *opts, struct rng *rng,
    char *err, size_t err_len)
{
	struct tls *tls;
	int ret;

	tls = calloc(1, sizeof(*tls));
	if (tls == NULL) {
		snprintf(err, err_len, "cannot set up TLS: out of memory");
		return NULL;
	}
	tls->rng = rng;
	mbedtls_ssl_ticket_init(&tls->tickets);
	tls->stage = malloc(TLS_STAGE_SIZE);
	if (tls->stage == NULL) {
		snprintf(err, err_len, "cannot set up TLS: out of memory");
		goto fail;
	}

	if (tls_start_psa(err, err_len) != 0)
		goto fail;

	if (opts->cert_file != NULL && opts->key_file == NULL) {
		snprintf(err, err_len, "certificate %s given without its key", opts->cert_file);
		goto fail;
	}
	if (opts->key_file != NULL && opts->cert_file == NULL) {
		snprintf(err, err_len, "key %s given without its certificate", opts->key_file);
		goto fail;
	}
	ret = mbedtls_ssl_ticket_setup(&tls->tickets, rng_bytes, tls->rng,
	    MBEDTLS_CIPHER_AES_256_GCM, TLS_TICKET_LIFETIME_S);
	if (ret != 0) {
		tls_set_error(err, err_len, ret, "cannot configure TLS");
		goto fail;
	}
	if (opts->cert_file != NULL) {
		tls->cert_file = strdup(opts->cert_file);
		tls->key_file = strdup(opts->key_file);
		if (tls->cert_file == NULL || tls->key_file == NULL) {
			snprintf(err, err_len, "cannot set up TLS: out of memory");
			goto fail;
		}
	}
	tls->current = tls_identity_new(tls, opts->cert_file, opts->key_file,
	    opts->dev_cert_out, err, err_len);
	if (tls->current == NULL)
		goto fail;
	return tls;

fail:
	tls_free(tls);
	return NULL;
}

int tls_reload(struct tls *tls, char *err, size_t err_len)
{
	struct tls_identity *id;

	if (tls->cert_file == NULL) {
		snprintf(err, err_len, "no --cert/--key to reload: the development certificate stays");
		return -1;
	}
	id = tls_identity_new(tls, tls->cert_file, tls->key_file, NULL, err, err_len);
	if (id == NULL)
		return -1;
	tls_identity_release(tls->current);
	tls->current = id;
	return 0;
}

void tls_free(struct tls *tls)
{
	if (tls == NULL)
		return;
	tls_identity_release(tls->current);
	mbedtls_ssl_ticket_free(&tls->tickets);
	free(tls->stage);
	free(tls->cert_file);
	free(tls->key_file);
	free(tls);
}

const char *tls_fingerprint(const struct tls *tls)
{
	return tls->current->fingerprint;
}

/* mbedTLS's bio callbacks, on the connection's non-blocking socket. */
static int tls_bio_error(int would_block_code, int failed_code)
{
	if (transport_would_block())
		return would_block_code;
	if (errno == ECONNRESET || errno == EPIPE)
		return MBEDTLS_ERR_NET_CONN_RESET;
	return failed_code;
}

/*
 * mbedTLS sends each handshake message as it writes it: nine send() calls
 * for one TLS 1.2 or 1.3 handshake, each a trip through the loopback or
 * network stack. During a handshake step they are held instead and leave
 * together when the step ends (tls_release_held): three calls.
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

		if (n < 0)
			return transport_would_block() ? TRANSPORT_WANT_WRITE : TRANSPORT_ERROR;
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

	if (tt->holding)
		return tls_hold(tt, buf, len);
	n = transport_send(tt->base.fd, buf, len);
	return n >= 0 ? (int)n : tls_bio_error(MBEDTLS_ERR_SSL_WANT_WRITE,
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
	if (len >= TLS_STAGE_SIZE)
		stage = buf;
	n = transport_recv(tt->base.fd, stage, TLS_STAGE_SIZE < len ? len : TLS_STAGE_SIZE);
	if (n < 0)
		return tls_bio_error(MBEDTLS_ERR_SSL_WANT_READ, MBEDTLS_ERR_NET_RECV_FAILED);
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
 * for writable" or fatal. The results that ask to call again without waiting
 * (RECEIVED_NEW_SESSION_TICKET and RECEIVED_EARLY_DATA, and the async and
 * restartable-ECC IN_PROGRESS codes) come only with features this
 * configuration never enables (a client is told of TLS 1.3 tickets only
 * when it asks to be), so they count as fatal here.
 */
static int tls_result(int ret)
{
	if (ret == MBEDTLS_ERR_SSL_WANT_READ)
		return TRANSPORT_WANT_READ;
	if (ret == MBEDTLS_ERR_SSL_WANT_WRITE)
		return TRANSPORT_WANT_WRITE;
	return TRANSPORT_ERROR;
}

static struct tls_transport *tls_transport_of(struct transport *t)
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
	tt->holding = 1;
	ret = mbedtls_ssl_handshake(&tt->ssl);
	tt->holding = 0;
	released = tls_release_held(tt);
	if (ret != 0 && tls_result(ret) == TRANSPORT_ERROR)
		return TRANSPORT_ERROR;
	if (released != 0)
		return released;
	return ret == 0 ? 0 : tls_result(ret);
}

static ssize_t tls_transport_read(struct transport *t, char *buf, size_t len)
{
	int ret = mbedtls_ssl_read(&tls_transport_of(t)->ssl, (unsigned char *)buf, len);

	if (ret > 0)
		return ret;
	/* 0 is mbedTLS's word for EOF without close_notify: an HTTP message
	 * carries its own length, so a truncation shows there. */
	if (ret == 0 || ret == MBEDTLS_ERR_SSL_PEER_CLOSE_NOTIFY)
		return 0;
	return tls_result(ret);
}

static ssize_t tls_transport_write(struct transport *t, const char *buf, size_t len)
{
	int ret = mbedtls_ssl_write(&tls_transport_of(t)->ssl,
	    (const unsigned char *)buf, len);

	return ret >= 0 ? ret : tls_result(ret);
}

static int tls_transport_shutdown(struct transport *t)
{
	int ret = mbedtls_ssl_close_notify(&tls_transport_of(t)->ssl);

	return ret == 0 ? 0 : tls_result(ret);
}

static int tls_transport_pending(struct transport *t)
{
	const struct tls_transport *tt = tls_transport_of(t);

	return tt->stash_off < tt->stash_len || mbedtls_ssl_get_bytes_avail(&tt->ssl) > 0 ||
	    mbedtls_ssl_check_pending(&tt->ssl);
}

static void tls_transport_free(struct transport *t)
{
	struct tls_transport *tt = tls_transport_of(t);

	mbedtls_ssl_free(&tt->ssl);
	tls_identity_release(tt->identity);
	free(tt->stash);
	free(tt->held);
	free(tt);
}

static const struct transport_ops tls_transport_ops = {
	.handshake = tls_transport_handshake,
	.read = tls_transport_read,
	.write = tls_transport_write,
	.shutdown = tls_transport_shutdown,
	.pending = tls_transport_pending,
	.free = tls_transport_free,
};

/* A transport over fd in conf; NULL when memory is short. */
static struct tls_transport *tls_transport_open(const mbedtls_ssl_config *conf,
    unsigned char *stage, int fd)
{
	struct tls_transport *tt = calloc(1, sizeof(*tt));

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
	return tt;
}

struct transport *tls_transport_new(struct tls *tls, int fd)
{
	struct tls_transport *tt = tls_transport_open(&tls->current->conf, tls->stage, fd);

	if (tt == NULL)
		return NULL;
	tt->identity = tls->current;
	tt->identity->refs++;
	return &tt->base;
}

/* --- the client side ---------------------------------------------------- */

#define TLS_SYSTEM_CA_FILE "/etc/ssl/certs/ca-certificates.crt"
#define TLS_SYSTEM_CA_DIR "/etc/ssl/certs"

struct tls_client {
	mbedtls_x509_crt ca;
	mbedtls_ssl_config conf;
	unsigned char *stage;
};

struct tls_client *tls_client_new(struct rng *rng, const char *cafile, int verify,
    char *err, size_t err_len)
{
	struct tls_client *c = calloc(1, sizeof(*c));
	int ret;

	if (c == NULL) {
		snprintf(err, err_len, "cannot set up TLS: out of memory");
		return NULL;
	}
	mbedtls_x509_crt_init(&c->ca);
	mbedtls_ssl_config_init(&c->conf);
	c->stage = malloc(TLS_STAGE_SIZE);
	if (c->stage == NULL) {
		snprintf(err, err_len, "cannot set up TLS: out of memory");
		goto fail;
	}
	if (tls_start_psa(err, err_len) != 0)
		goto fail;
	if (cafile != NULL) {
		ret = mbedtls_x509_crt_parse_file(&c->ca, cafile);
		if (ret != 0) {
			tls_set_error(err, err_len, ret, "cannot read CA certificates from %s", cafile);
			goto fail;
		}
	} else if (verify && mbedtls_x509_crt_parse_file(&c->ca, TLS_SYSTEM_CA_FILE) < 0) {
		/* Some of a system bundle may not parse; what does is enough. */
		mbedtls_x509_crt_parse_path(&c->ca, TLS_SYSTEM_CA_DIR);
	}
	ret = mbedtls_ssl_config_defaults(&c->conf, MBEDTLS_SSL_IS_CLIENT,
	    MBEDTLS_SSL_TRANSPORT_STREAM, MBEDTLS_SSL_PRESET_DEFAULT);
	if (ret != 0) {
		tls_set_error(err, err_len, ret, "cannot configure TLS");
		goto fail;
	}
	mbedtls_ssl_conf_min_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_2);
	mbedtls_ssl_conf_max_tls_version(&c->conf, MBEDTLS_SSL_VERSION_TLS1_3);
	mbedtls_ssl_conf_ciphersuites(&c->conf, tls_ciphersuites);
	mbedtls_ssl_conf_groups(&c->conf, tls_groups);
	mbedtls_ssl_conf_rng(&c->conf, rng_bytes, rng);
	mbedtls_ssl_conf_ca_chain(&c->conf, &c->ca, NULL);
	mbedtls_ssl_conf_authmode(&c->conf, verify ? MBEDTLS_SSL_VERIFY_REQUIRED :
	    MBEDTLS_SSL_VERIFY_NONE);
	return c;
fail:
	tls_client_free(c);
	return NULL;
}

void tls_client_free(struct tls_client *c)
{
	if (c == NULL)
		return;
	mbedtls_ssl_config_free(&c->conf);
	mbedtls_x509_crt_free(&c->ca);
	free(c->stage);
	free(c);
}

const mbedtls_ssl_config *tls_client_config(const struct tls_client *c)
{
	return &c->conf;
}

struct transport *tls_client_transport_new(struct tls_client *c, int fd, const char *hostname)
{
	struct tls_transport *tt = tls_transport_open(&c->conf, c->stage, fd);

	if (tt == NULL)
		return NULL;
	if (mbedtls_ssl_set_hostname(&tt->ssl, hostname) != 0) {
		tls_transport_free(&tt->base);
		return NULL;
	}
	return &tt->base;
}

int tls_transport_verify_failed(struct transport *t, char *why, size_t why_len)
{
	uint32_t flags = mbedtls_ssl_get_verify_result(&tls_transport_of(t)->ssl);

	if (flags == 0 || flags == (uint32_t)-1)
		return 0;
	mbedtls_x509_crt_verify_info(why, why_len, "", flags);
	for (char *p = why; *p; p++)
		if (*p == '\n')
			*p = *(p + 1) ? ';' : '\0';
	return 1;
}
