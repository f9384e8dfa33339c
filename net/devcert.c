/*
 * devcert.c — the development certificate: a fresh ECDSA P-256 key and a
 * self-signed certificate for localhost (and 127.0.0.1, ::1), made at start
 * when the operator gives no --cert/--key, so that `./relay` with no
 * arguments serves HTTPS at once.
 *
 * mbedTLS's certificate writer does most of it; the subjectAltName and the
 * key identifiers are DER built here by hand, because its own helpers take
 * a different shape (the first) or use SHA-1 (the second).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include <mbedtls/ecp.h>
#include <mbedtls/md.h>
#include <mbedtls/oid.h>
#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

#include "net/devcert.h"
#include "net/rng.h"
#include "net/tls_internal.h"

#define DEVCERT_BACKDATE_S (60 * 60)         /* tolerate slow client clocks */
#define DEVCERT_LIFETIME_S (90 * 24 * 60 * 60)
#define DEVCERT_NAME "CN=localhost"

/*
 * The development certificate's subjectAltName, DER-encoded (mbedTLS's
 * writer, mbedtls_x509write_crt_set_subject_alternative_name, takes the
 * same bytes in a linked list of buffers):
 *   SEQUENCE { [2] "localhost", [7] 127.0.0.1, [7] ::1 }
 */
static const unsigned char devcert_san[] = {
	0x30, 0x23,
	0x82, 0x09, 'l', 'o', 'c', 'a', 'l', 'h', 'o', 's', 't',
	0x87, 0x04, 127, 0, 0, 1,
	0x87, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1
};

/* "YYYYMMDDhhmmss" in UTC, the form mbedtls_x509write_crt_set_validity
 * takes. */
static int devcert_format_time(time_t when, char *out, size_t out_len)
{
	struct tm tm;

	if (gmtime_r(&when, &tm) == NULL)
		return -1;
	return strftime(out, out_len, "%Y%m%d%H%M%S", &tm) == 14 ? 0 : -1;
}

static int devcert_write_file(const char *path, const char *text, char *err,
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
static int devcert_set_key_identifiers(mbedtls_x509write_cert *crt, mbedtls_pk_context *key)
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
int devcert_make(struct rng *rng, mbedtls_x509_crt *chain, mbedtls_pk_context *key,
    const char *out_path, char *err, size_t err_len)
{
	mbedtls_x509write_cert crt;
	unsigned char serial[16];
	unsigned char pem[4096];
	char not_before[16], not_after[16];
	time_t now;
	int ret;

	mbedtls_x509write_crt_init(&crt);

	ret = mbedtls_pk_setup(key, mbedtls_pk_info_from_type(MBEDTLS_PK_ECKEY));
	if (ret != 0)
		goto fail;
	ret = mbedtls_ecp_gen_key(MBEDTLS_ECP_DP_SECP256R1, mbedtls_pk_ec(*key),
	    rng_bytes, rng);
	if (ret != 0)
		goto fail;

	/* RFC 5280 wants a positive serial of at most 20 bytes. Random, because
	 * browsers reject a second certificate with the same issuer and serial.
	 * Clearing the top bit keeps it positive; setting the next one keeps its
	 * DER encoding at 16 bytes. */
	ret = rng_bytes(rng, serial, sizeof(serial));
	if (ret != 0)
		goto fail;
	serial[0] = (unsigned char)((serial[0] & 0x3f) | 0x40);
	ret = mbedtls_x509write_crt_set_serial_raw(&crt, serial, sizeof(serial));
	if (ret != 0)
		goto fail;

	now = time(NULL);
	if (devcert_format_time(now - DEVCERT_BACKDATE_S, not_before, sizeof(not_before)) != 0 ||
	    devcert_format_time(now + DEVCERT_LIFETIME_S, not_after, sizeof(not_after)) != 0) {
		ret = MBEDTLS_ERR_X509_INVALID_DATE;
		goto fail;
	}
	ret = mbedtls_x509write_crt_set_validity(&crt, not_before, not_after);
	if (ret != 0)
		goto fail;

	mbedtls_x509write_crt_set_version(&crt, MBEDTLS_X509_CRT_VERSION_3);
	mbedtls_x509write_crt_set_md_alg(&crt, MBEDTLS_MD_SHA256);
	mbedtls_x509write_crt_set_subject_key(&crt, key);
	mbedtls_x509write_crt_set_issuer_key(&crt, key);
	if ((ret = mbedtls_x509write_crt_set_subject_name(&crt, DEVCERT_NAME)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_issuer_name(&crt, DEVCERT_NAME)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_basic_constraints(&crt, 1, 0)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_key_usage(&crt,
	        MBEDTLS_X509_KU_DIGITAL_SIGNATURE | MBEDTLS_X509_KU_KEY_CERT_SIGN)) != 0 ||
	    (ret = mbedtls_x509write_crt_set_extension(&crt, MBEDTLS_OID_SUBJECT_ALT_NAME,
	        MBEDTLS_OID_SIZE(MBEDTLS_OID_SUBJECT_ALT_NAME), 0,
	        devcert_san, sizeof(devcert_san))) != 0)
		goto fail;
	ret = devcert_set_key_identifiers(&crt, key);
	if (ret != 0)
		goto fail;

	ret = mbedtls_x509write_crt_pem(&crt, pem, sizeof(pem), rng_bytes, rng);
	if (ret != 0)
		goto fail;
	ret = mbedtls_x509_crt_parse(chain, pem, strlen((char *)pem) + 1);
	if (ret != 0)
		goto fail;
	if (out_path != NULL && devcert_write_file(out_path, (char *)pem, err, err_len) != 0)
		goto fail_reported;

	mbedtls_x509write_crt_free(&crt);
	return 0;

fail:
	tls_set_error(err, err_len, ret, "cannot generate the development certificate");
fail_reported:
	mbedtls_x509write_crt_free(&crt);
	return -1;
}
