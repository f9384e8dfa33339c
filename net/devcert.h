/*
 * devcert.h — the self-signed development certificate (net/devcert.c), for
 * net/tls_server.c only: it speaks in mbedTLS's types.
 */
#ifndef NET_DEVCERT_H
#define NET_DEVCERT_H

#include <stddef.h>

#include <mbedtls/pk.h>
#include <mbedtls/x509_crt.h>

struct rng;

/* A new ECDSA P-256 key into key (initialised, empty) and a certificate for
 * it into chain, written as PEM to out_path unless that is NULL. 0, or -1
 * with a one-line reason in err. */
int devcert_make(struct rng *rng, mbedtls_x509_crt *chain, mbedtls_pk_context *key,
    const char *out_path, char *err, size_t err_len);

#endif
