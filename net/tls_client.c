/*
 * tls_client.c — the relay's TLS client configuration, on mbedTLS 3.6 LTS:
 * the push gateway's connection and the command-line client's.
 *
 * TLS 1.3 and 1.2 with the same suites and groups the server offers; the
 * peer's certificate checked against a CA file or the system's CAs and the
 * host name, unless the caller asked not to verify. Each connection runs
 * on the shared transport (net/tls_transport.c).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include <mbedtls/ssl.h>
#include <mbedtls/x509_crt.h>

#include "net/rng.h"
#include "net/tls.h"
#include "net/tls_internal.h"

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
	struct tls_transport *tt = tls_transport_open(&c->conf, c->stage, fd, sizeof(*tt));

	if (tt == NULL)
		return NULL;
	if (mbedtls_ssl_set_hostname(&tt->ssl, hostname) != 0) {
		tt->base.ops->free(&tt->base);
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
