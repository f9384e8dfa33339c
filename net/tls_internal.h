/*
 * tls_internal.h — what the pieces of the relay's TLS share, inside net/
 * only: the transport one connection runs on (net/tls_transport.c), which
 * the server (net/tls_server.c) and the client (net/tls_client.c) each
 * open over their own mbedTLS configuration, and the policy both sides
 * offer. Nothing above net/ includes this file; net/tls.h is the public
 * face, and it shows no mbedTLS type.
 *
 * It builds against mbedTLS 3.6 LTS, configured by net/tls_config.h.
 */
#ifndef NET_TLS_INTERNAL_H
#define NET_TLS_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

/* build_info.h pulls in the library's configuration (and ours), which every
 * check below depends on. */
#include <mbedtls/build_info.h>
#include <mbedtls/ssl.h>
#include <mbedtls/x509.h>

#include "net/transport.h"

/* 3.6.6, as tools/mbedtls.sh demands: before 3.6.1 a TLS 1.3 client's read
 * reported a server's session ticket as an error, and the relay sends one. */
#if MBEDTLS_VERSION_NUMBER < 0x03060600 || MBEDTLS_VERSION_NUMBER >= 0x04000000
#error "relay needs mbedTLS 3.6 LTS, 3.6.6 or later: build without MBEDTLS=system"
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

#define TLS_SHA256_LEN 32

/* One receive can take a whole record (or several) from the socket, where
 * mbedTLS asks for a 5-byte header first and then the rest: two system calls
 * per record, and a third to learn the socket is empty. */
#define TLS_STAGE_SIZE (16384 + 2048)

/* The suites and groups both sides offer (net/tls_transport.c says why
 * these, in this order). */
extern const int tls_ciphersuites[];
extern const uint16_t tls_groups[];

/*
 * One connection's TLS: the transport the caller sees and the mbedTLS
 * session behind it. A side that needs more per connection allocates a
 * larger struct that begins with this one (tls_transport_open's size).
 */
struct tls_transport {
	struct transport base;
	unsigned char *stage;                   /* the owner's shared receive buffer */
	/* What the side that opened it must let go of at the end, or NULL. */
	void (*release)(struct tls_transport *tt);
	unsigned char *stash;                   /* received, not yet given to mbedTLS */
	size_t stash_len, stash_off;
	unsigned char *held;                    /* records mbedTLS thinks sent */
	size_t held_len, held_off, held_cap;
	int holding;                            /* inside mbedtls_ssl_handshake() */
	int corked;                             /* the last answer: held for the goodbye */
	int said_goodbye;                       /* close_notify written (maybe held) */
	/* The length of the write mbedTLS answered WANT_WRITE (or WANT_READ)
	 * to, or 0: it made its record from that, and must be asked again
	 * with the same (tls_transport_write). */
	size_t write_owed;
	int sys_errno;                          /* of the last failed send or recv */
	int failure;                            /* mbedTLS's last fatal result, or 0 */
	/* mbedTLS tells the session-ticket callbacks only the configuration:
	 * the owner points this at its note of which connection is inside
	 * mbedtls_ssl_handshake() now, which the handshake keeps up (or NULL). */
	struct tls_transport **handshaking;
	uint8_t hello_read;                     /* a version is agreed (the server's
	                                         * callbacks say so; see tls_server.c) */
	uint8_t resumed;                        /* a session ticket was taken */
	mbedtls_ssl_context ssl;
};

/* A transport of size bytes (at least sizeof(struct tls_transport)) over
 * fd in conf, reading through stage; NULL when memory is short. */
struct tls_transport *tls_transport_open(const mbedtls_ssl_config *conf,
    unsigned char *stage, int fd, size_t size);
struct tls_transport *tls_transport_of(struct transport *t);

/* The client's check of the peer's name (net/tls_client.c), open to the
 * unit tests. Is host an IP address, as the resolver would read it
 * ("127.0.0.1", "::1", also "127.1")? Then 1 and its 4 or 16 bytes in ip;
 * else 0. */
int tls_client_host_ip(const char *host, uint8_t ip[16], size_t *ip_len);
/* Does a subjectAltName list hold this address as an iPAddress entry ([7]),
 * byte for byte? A dNSName that spells the address never counts. */
int tls_client_san_has_ip(const mbedtls_x509_sequence *san, const uint8_t *ip, size_t ip_len);
/* Does it hold host as a dNSName entry ([2]), or under a "*." wildcard for
 * its leftmost label? An iPAddress entry never counts, whatever its bytes. */
int tls_client_san_has_dns(const mbedtls_x509_sequence *san, const char *host);

/* err = the formatted context, ": ", and mbedTLS's description of ret. */
__attribute__((format(printf, 4, 5)))
void tls_set_error(char *err, size_t err_len, int ret, const char *fmt, ...);

/* TLS 1.3 does its key exchange and key schedule through PSA, which must be
 * started first: 0, or -1 with the reason in err. */
int tls_start_psa(char *err, size_t err_len);

#endif
