/*
 * transport.h — bytes in and out of one accepted socket, encrypted or not.
 *
 * The connection code drives every transport the same way: a call returns
 * bytes, or says which readiness (read or write) it must wait for before the
 * same call is repeated. Whether TLS sits underneath is invisible above this
 * line, which is what lets --no-tls share every code path with HTTPS.
 */
#ifndef NET_TRANSPORT_H
#define NET_TRANSPORT_H

#include <stddef.h>
#include <sys/types.h>

/* Negative results shared by every operation. */
enum {
	TRANSPORT_ERROR = -1,      /* fatal for this connection */
	TRANSPORT_WANT_READ = -2,  /* repeat the call when the socket is readable */
	TRANSPORT_WANT_WRITE = -3  /* repeat the call when the socket is writable */
};

struct transport;

/* What a connection's handshake agreed, for the server's counters and its
 * access log. Read after the handshake, or after it failed. */
struct transport_info {
	int tls;                /* 0: a plain socket, and nothing below applies */
	const char *version;    /* "TLSv1.3", "TLSv1.2", or NULL: none agreed (yet) */
	int resumed;            /* a session ticket spared a full handshake */
};

struct transport_ops {
	/* 0 when the handshake is complete (at once for plain sockets). */
	int (*handshake)(struct transport *t);
	/* > 0 bytes read, 0 at an orderly end of stream, or a negative result. */
	ssize_t (*read)(struct transport *t, char *buf, size_t len);
	/* > 0 bytes accepted (possibly fewer than len), or a negative result.
	 * After a WANT_*, the caller repeats the call with the same bytes. */
	ssize_t (*write)(struct transport *t, const char *buf, size_t len);
	/* The next writes are the last: keep them, so that they leave with
	 * the goodbye in one send (for a short answer before a close). */
	void (*cork)(struct transport *t);
	/* Say goodbye (TLS close_notify) and send what is kept: 0 when done,
	 * or a negative result. */
	int (*shutdown)(struct transport *t);
	/* Non-zero when bytes already received wait inside the transport, so
	 * the socket may never become readable for them. */
	int (*pending)(struct transport *t);
	void (*info)(struct transport *t, struct transport_info *info);
	/* Release the transport; the socket itself stays open (the caller owns
	 * it). */
	void (*free)(struct transport *t);
};

struct transport {
	const struct transport_ops *ops;
	int fd;
	/* The last read from the socket took everything there was: until the
	 * socket says it is readable again, another read would find nothing. */
	int drained;
};

/* A transport that passes bytes through unchanged (--no-tls). */
struct transport *transport_plain_new(int fd);

/* send() and recv() on a non-blocking socket, retried on EINTR; -1 with
 * errno set otherwise. Shared by every transport's socket I/O. */
ssize_t transport_send(int fd, const void *buf, size_t len);
ssize_t transport_recv(int fd, void *buf, size_t len);
/* errno after a failed transport_send/recv is "try again later". */
int transport_would_block(void);

#endif
