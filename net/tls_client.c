/*
 * tls_client.c — the relay's TLS client configuration, on mbedTLS 3.6 LTS:
 * the push gateway's connection and the command-line client's.
 *
 * TLS 1.3 and 1.2 with the same suites and groups the server offers; the
 * peer's certificate checked against a CA file or the system's CAs and the
 * host name, unless the caller asked not to verify. The name check is
 * stricter than mbedTLS's own: an IP address host only against the
 * certificate's iPAddress entries, a DNS name only against its dNSName
 * entries. What a failed verification found is told in words, the same for
 * every caller. Each connection runs on the shared transport
 * (net/tls_transport.c).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include <mbedtls/net_sockets.h>
#include <mbedtls/oid.h>
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

/* The operator's CA file, parsed once, with what is wrong said plainly
 * rather than as mbedTLS's "PK - Read/write of file failed". Opened without
 * blocking first, so that a FIFO named by mistake is refused, not waited on. */
static int tls_client_load_ca(struct tls_client *c, const char *cafile, char *err,
    size_t err_len)
{
	struct stat st;
	int fd = open(cafile, O_RDONLY | O_NONBLOCK | O_CLOEXEC), ret;

	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, err_len, "cannot read CA file %s: %s", cafile, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	close(fd);
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "cannot read CA file %s: %s", cafile,
		    S_ISDIR(st.st_mode) ? strerror(EISDIR) : "not a regular file");
		return -1;
	}
	ret = mbedtls_x509_crt_parse_file(&c->ca, cafile);
	if (ret < 0) {
		snprintf(err, err_len, "cannot read CA file %s: it holds no certificate in "
		    "PEM or DER form", cafile);
		return -1;
	}
	if (ret > 0) {
		snprintf(err, err_len, "cannot read CA file %s: %d of its certificates "
		    "could not be parsed", cafile, ret);
		return -1;
	}
	return 0;
}

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
		if (tls_client_load_ca(c, cafile, err, err_len) != 0)
			goto fail;
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

/* What the certificate check needs to know of the peer, and what it saw. */
struct tls_client_transport {
	struct tls_transport tt;
	uint8_t ip[16];
	size_t ip_len;                  /* 0: the host is a DNS name */
	char *host;                     /* as the caller names it */
	char names[160];                /* the certificate's names, for a mismatch */
};

static struct tls_client_transport *tls_client_transport_of(struct tls_transport *tt)
{
	return (struct tls_client_transport *)(void *)tt;
}

int tls_client_host_ip(const char *host, uint8_t ip[16], size_t *ip_len)
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

int tls_client_san_has_ip(const mbedtls_x509_sequence *san, const uint8_t *ip, size_t ip_len)
{
	for (; san != NULL; san = san->next) {
		if (san->buf.p != NULL &&
		    san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 7) &&
		    san->buf.len == ip_len && memcmp(san->buf.p, ip, ip_len) == 0)
			return 1;
	}
	return 0;
}

int tls_client_san_has_dns(const mbedtls_x509_sequence *san, const char *host)
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
static void tls_client_san_names(const mbedtls_x509_sequence *san, char *out, size_t out_len)
{
	size_t used = 0;

	out[0] = '\0';
	for (; san != NULL && used + 1 < out_len; san = san->next) {
		char name[INET6_ADDRSTRLEN] = "";
		size_t i;

		if (san->buf.p == NULL)
			continue;
		if (san->buf.tag == (MBEDTLS_ASN1_CONTEXT_SPECIFIC | 2)) {
			/* Printable ASCII only: the certificate is the peer's word. */
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
static int tls_client_verify(void *ctx, mbedtls_x509_crt *crt, int depth, uint32_t *flags)
{
	struct tls_client_transport *ct = ctx;
	int match;

	if (depth != 0)
		return 0;
	tls_client_san_names(&crt->subject_alt_names, ct->names, sizeof(ct->names));
	if (ct->ip_len != 0)
		match = tls_client_san_has_ip(&crt->subject_alt_names, ct->ip, ct->ip_len);
	else if (mbedtls_x509_crt_has_ext_type(crt, MBEDTLS_X509_EXT_SUBJECT_ALT_NAME))
		match = tls_client_san_has_dns(&crt->subject_alt_names, ct->host);
	else
		return 0;
	if (match)
		*flags &= ~(uint32_t)MBEDTLS_X509_BADCERT_CN_MISMATCH;
	else
		*flags |= MBEDTLS_X509_BADCERT_CN_MISMATCH;
	return 0;
}

static void tls_client_transport_release(struct tls_transport *tt)
{
	free(tls_client_transport_of(tt)->host);
}

struct transport *tls_client_transport_new(struct tls_client *c, int fd, const char *hostname)
{
	struct tls_transport *tt = tls_transport_open(&c->conf, c->stage, fd,
	    sizeof(struct tls_client_transport));
	struct tls_client_transport *ct;

	if (tt == NULL)
		return NULL;
	ct = tls_client_transport_of(tt);
	tt->release = tls_client_transport_release;
	ct->host = strdup(hostname);
	if (ct->host == NULL || mbedtls_ssl_set_hostname(&tt->ssl, hostname) != 0) {
		tt->base.ops->free(&tt->base);
		return NULL;
	}
	tls_client_host_ip(hostname, ct->ip, &ct->ip_len);
	mbedtls_ssl_set_verify(&tt->ssl, tls_client_verify, ct);
	return &tt->base;
}

int tls_client_verify_failed(struct transport *t, const char *ca_hint, char *why,
    size_t why_len)
{
	static const struct {
		uint32_t flags;
		const char *words;
	} problems[] = {
		{ MBEDTLS_X509_BADCERT_EXPIRED, "it has expired" },
		{ MBEDTLS_X509_BADCERT_FUTURE, "it is not valid yet (or this device's clock is wrong)" },
		{ MBEDTLS_X509_BADCERT_REVOKED, "it has been revoked" },
		{ MBEDTLS_X509_BADCERT_KEY_USAGE | MBEDTLS_X509_BADCERT_EXT_KEY_USAGE |
		    MBEDTLS_X509_BADCERT_NS_CERT_TYPE, "it is not meant for a TLS server" },
		{ MBEDTLS_X509_BADCERT_BAD_MD | MBEDTLS_X509_BADCERT_BAD_PK |
		    MBEDTLS_X509_BADCERT_BAD_KEY, "it uses an algorithm or key size this client "
		    "refuses" },
		{ MBEDTLS_X509_BADCERT_MISSING, "the peer sent none" },
		{ MBEDTLS_X509_BADCERT_OTHER | MBEDTLS_X509_BADCERT_SKIP_VERIFY,
		    "it failed a check" },
	};
	struct tls_transport *tt = tls_transport_of(t);
	const struct tls_client_transport *ct = tls_client_transport_of(tt);
	uint32_t flags = mbedtls_ssl_get_verify_result(&tt->ssl);
	size_t used = 0;

	if (tt->failure != MBEDTLS_ERR_X509_CERT_VERIFY_FAILED || flags == 0 ||
	    flags == (uint32_t)-1)
		return 0;
	why[0] = '\0';
	if (flags & MBEDTLS_X509_BADCERT_CN_MISMATCH)
		used += (size_t)snprintf(why, why_len, " it is not for %s%s%s%s;", ct->host,
		    ct->names[0] ? " (it names " : "", ct->names, ct->names[0] ? ")" : "");
	if (flags & MBEDTLS_X509_BADCERT_NOT_TRUSTED && used < why_len)
		used += (size_t)snprintf(why + used, why_len - used, " it is not signed by a CA "
		    "this device trusts (%s);", ca_hint);
	for (size_t i = 0; i < sizeof(problems) / sizeof(problems[0]) && used < why_len; i++) {
		if (flags & problems[i].flags)
			used += (size_t)snprintf(why + used, why_len - used, " %s;", problems[i].words);
	}
	if (used < why_len && used > 0 && why[used - 1] == ';')
		why[used - 1] = '\0';
	/* Without the leading space. */
	memmove(why, why + (why[0] == ' '), strlen(why + (why[0] == ' ')) + 1);
	return 1;
}
