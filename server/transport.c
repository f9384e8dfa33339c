/*
 * transport.c — the plain (--no-tls) transport: the socket as it is.
 */
#include <errno.h>
#include <stdlib.h>
#include <sys/socket.h>

#include "server/transport.h"
#include "storage/alloc.h"

static int plain_handshake(struct transport *t)
{
	(void)t;
	return 0;
}

static ssize_t plain_read(struct transport *t, char *buf, size_t len)
{
	for (;;) {
		ssize_t n = recv(t->fd, buf, len, 0);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? TRANSPORT_WANT_READ :
		    TRANSPORT_ERROR;
	}
}

static ssize_t plain_write(struct transport *t, const char *buf, size_t len)
{
	for (;;) {
		ssize_t n = send(t->fd, buf, len, MSG_NOSIGNAL);

		if (n >= 0)
			return n;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? TRANSPORT_WANT_WRITE :
		    TRANSPORT_ERROR;
	}
}

static int plain_shutdown(struct transport *t)
{
	(void)t;
	return 0;
}

static int plain_pending(struct transport *t)
{
	(void)t;
	return 0;
}

static void plain_free(struct transport *t)
{
	free(t);
}

static const struct transport_ops plain_ops = {
	.handshake = plain_handshake,
	.read = plain_read,
	.write = plain_write,
	.shutdown = plain_shutdown,
	.pending = plain_pending,
	.free = plain_free,
};

struct transport *transport_plain_new(int fd)
{
	struct transport *t = xmalloc(sizeof(*t));

	t->ops = &plain_ops;
	t->fd = fd;
	return t;
}
