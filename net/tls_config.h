/*
 * tls_config.h — the relay's mbedTLS configuration, on top of the library's
 * defaults (MBEDTLS_USER_CONFIG_FILE: mbedtls/build_info.h includes it last).
 *
 * The library in build/mbedtls is compiled with it and so is every relay
 * object that includes an mbedTLS header: it changes struct layouts, so the
 * two must never disagree (the Makefile passes the one path to both, and
 * rebuilds both when it changes). With `make MBEDTLS=system` it is not used:
 * a system library has its own.
 */
#ifndef RELAY_TLS_CONFIG_H
#define RELAY_TLS_CONFIG_H

/* Seen by net/tls_internal.h, which refuses to build without it (unless
 * built against a system mbedTLS). */
#define RELAY_TLS_CONFIG 1

/* Everest's X25519 (formally verified, Apache-2.0, shipped in the mbedTLS
 * tarball under 3rdparty/everest) takes a TLS 1.2 full handshake from
 * 1,290 to 570 µs of server CPU here. */
#define MBEDTLS_ECDH_VARIANT_EVEREST_ENABLED

/* TLS 1.3 makes its X25519 key share through PSA, which computes the public
 * key on mbedTLS's generic bignums: half of a full TLS 1.3 handshake's CPU.
 * The ladder's step is the one hook on that path; net/mbedtls/ecp_alt.c
 * does it with Everest's field arithmetic, which needs 128-bit integers.
 * A full TLS 1.3 handshake then costs what a TLS 1.2 one does. */
#if defined(__SIZEOF_INT128__)
#define MBEDTLS_ECP_INTERNAL_ALT
#define MBEDTLS_ECP_DOUBLE_ADD_MXZ_ALT
#endif

/* What we send fits in 4 KiB records: answers are split, not refused. What
 * we receive stays at 16 KiB (MBEDTLS_SSL_IN_CONTENT_LEN's default), since
 * TLS lets a client send records that large. Per connection: 12 KiB less. */
#undef MBEDTLS_SSL_OUT_CONTENT_LEN
#define MBEDTLS_SSL_OUT_CONTENT_LEN 4096

/* No CBC: the relay offers AEAD suites only, and CBC's MAC-then-encrypt is
 * where TLS's padding-oracle attacks live. Without it mbedTLS also stops
 * reserving room for CBC padding and an HMAC in each record buffer: 576
 * bytes less per connection. (It also means no encrypted PEM keys, which
 * --key never took: the relay has no way to ask for a passphrase.) */
#undef MBEDTLS_CIPHER_MODE_CBC

/* Features the relay never uses are code an attacker can reach, and state
 * in every connection. */
#undef MBEDTLS_SSL_PROTO_DTLS
#undef MBEDTLS_SSL_DTLS_ANTI_REPLAY
#undef MBEDTLS_SSL_DTLS_HELLO_VERIFY
#undef MBEDTLS_SSL_DTLS_CLIENT_PORT_REUSE
#undef MBEDTLS_SSL_DTLS_CONNECTION_ID
#undef MBEDTLS_SSL_DTLS_CONNECTION_ID_COMPAT
#undef MBEDTLS_SSL_DTLS_SRTP
#undef MBEDTLS_SSL_COOKIE_C
/* A client-started renegotiation would cost us a full handshake each time. */
#undef MBEDTLS_SSL_RENEGOTIATION
#undef MBEDTLS_SSL_CONTEXT_SERIALIZATION
/* MBEDTLS_SSL_EARLY_DATA stays off (3.6's default; net/tls.c refuses to
 * build with it): 0-RTT data can be replayed, and mbedTLS has no replay
 * protection for it. Our tickets never allow early data, so only a client
 * breaking the rules sends it; mbedTLS then ends the connection instead of
 * skipping the data (RFC 8446 4.2.10), which costs nothing but that client. */

/*
 * Left off on purpose:
 *
 * MBEDTLS_SSL_VARIABLE_BUFFER_LENGTH: with OUT < IN it shrinks a TLS 1.2
 * connection's input buffer after the handshake and then fails on a
 * client's 16 KiB record (reproduced on 3.6.6).
 *
 * MBEDTLS_GCM_LARGE_TABLE: no gain with AES-NI, and 3.8 KiB more in every
 * GCM context.
 *
 * MBEDTLS_PSA_P256M_DRIVER_ENABLED and MBEDTLS_USE_PSA_CRYPTO: both made
 * handshakes slower here.
 */

#endif
