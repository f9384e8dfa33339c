/*
 * tls_server.c — the relay's TLS server configuration, on mbedTLS 3.6 LTS.
 *
 * tls_new() builds the one mbedtls_ssl_config that every connection shares:
 * the certificate chain and key (from PEM files, or a self-signed development
 * certificate from net/devcert.c), the session-ticket keys, and a policy
 * narrower than mbedTLS's defaults: TLS 1.3 and 1.2, (EC)DHE with AEAD
 * ciphers only, no renegotiation, no 0-RTT. SIGHUP reads the files again
 * (tls_reload). tls_transport_new() puts one accepted socket behind that
 * configuration and the transport interface (net/tls_transport.c).
 *
 * Nothing here reads a structure member that mbedTLS makes private, and
 * nothing here logs.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <mbedtls/md.h>
#include <mbedtls/pk.h>
#include <mbedtls/ssl.h>
#include <mbedtls/ssl_ticket.h>
#include <mbedtls/x509_crt.h>

#include "net/devcert.h"
#include "net/rng.h"
#include "net/tls.h"
#include "net/tls_internal.h"

#define TLS_TICKET_LIFETIME_S (24 * 60 * 60)

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
	struct tls_transport *handshaking;      /* inside mbedtls_ssl_handshake(), or NULL */
	char fingerprint[TLS_SHA256_LEN * 3];   /* "AB:CD:…" and its NUL */
};

struct tls {
	struct rng *rng;
	unsigned char *stage;                   /* shared: one loop, one read at a time */
	mbedtls_ssl_ticket_context tickets;
	struct tls_identity *current;
	char *cert_file, *key_file;             /* what a reload reads again */
};

/*
 * mbedTLS sends a handshake message in one record, and our records carry at
 * most MBEDTLS_SSL_OUT_CONTENT_LEN bytes (4 KiB: net/tls_config.h): a longer
 * chain would load and then fail every handshake without a word. Its size
 * in a TLS 1.3 Certificate message, the larger of the two versions: the
 * message and list headers, then per certificate its length and an empty
 * extensions block.
 */
static size_t tls_chain_message_len(const mbedtls_x509_crt *chain)
{
	size_t len = 4 + 1 + 3;

	for (; chain != NULL && chain->raw.len > 0; chain = chain->next)
		len += 3 + chain->raw.len + 2;
	return len;
}

/* Loads the chain and key the operator gave and checks that they belong
 * together and can be sent, so that a mistake fails at start rather than at
 * each handshake. */
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
	if (tls_chain_message_len(&id->chain) > MBEDTLS_SSL_OUT_CONTENT_LEN) {
		snprintf(err, err_len, "certificate %s: the chain takes %zu bytes in a handshake, "
		    "more than the %d the relay sends in one (leave out the root, or use ECDSA "
		    "keys)", cert_file, tls_chain_message_len(&id->chain),
		    MBEDTLS_SSL_OUT_CONTENT_LEN);
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
	/* For the counters: a TLS 1.2 ticket that parses is a resumption. A
	 * TLS 1.3 one is too, unless mbedTLS then finds its age implausible
	 * (a client whose clock ran off by seconds), which is not seen here. */
	if (id->handshaking != NULL)
		id->handshaking->resumed = 1;
	return 0;
}

/* Called once the ClientHello is read, in every handshake of either version
 * (as mbedTLS's certificate-selection hook, though it selects nothing):
 * from here on the version mbedTLS reports is the one agreed, which the
 * counters of failed handshakes name. */
static int tls_on_hello(mbedtls_ssl_context *ssl)
{
	struct tls_transport *tt = mbedtls_ssl_get_user_data_p(ssl);

	if (tt != NULL)
		tt->hello_read = 1;
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
	mbedtls_ssl_conf_cert_cb(conf, tls_on_hello);

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
	} else if (devcert_make(tls->rng, &id->chain, &id->key, dev_cert_out,
	    err, err_len) != 0) {
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

/* Each connection holds the identity it started with. */
struct tls_server_transport {
	struct tls_transport tt;
	struct tls_identity *identity;
};

static void tls_server_transport_release(struct tls_transport *tt)
{
	tls_identity_release(((struct tls_server_transport *)(void *)tt)->identity);
}

struct transport *tls_transport_new(struct tls *tls, int fd)
{
	struct tls_transport *tt = tls_transport_open(&tls->current->conf, tls->stage, fd,
	    sizeof(struct tls_server_transport));

	if (tt == NULL)
		return NULL;
	((struct tls_server_transport *)(void *)tt)->identity = tls->current;
	tls->current->refs++;
	tt->release = tls_server_transport_release;
	tt->handshaking = &tls->current->handshaking;
	return &tt->base;
}
