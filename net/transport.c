/*
 * transport.c — the plain (--no-tls) transport: the socket as it is.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "net/transport.h"
#include "lib/alloc.h"

static int plain_handshake(struct transport *t)
{
	(void)t;
	return 0;
}

ssize_t transport_send(int fd, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = send(fd, buf, len, MSG_NOSIGNAL);
	while (n < 0 && errno == EINTR);
	return n;
}

ssize_t transport_recv(int fd, void *buf, size_t len)
{
	ssize_t n;

	do
		n = recv(fd, buf, len, 0);
	while (n < 0 && errno == EINTR);
	return n;
}

int transport_would_block(void)
{
	return errno == EAGAIN || errno == EWOULDBLOCK;
}

static ssize_t plain_read(struct transport *t, char *buf, size_t len)
{
	ssize_t n = transport_recv(t->fd, buf, len);

	if (n >= 0) {
		t->drained = (size_t)n < len;
		return n;
	}
	return transport_would_block() ? TRANSPORT_WANT_READ : TRANSPORT_ERROR;
}

static ssize_t plain_write(struct transport *t, const char *buf, size_t len)
{
	ssize_t n = transport_send(t->fd, buf, len);

	if (n >= 0)
		return n;
	return transport_would_block() ? TRANSPORT_WANT_WRITE : TRANSPORT_ERROR;
}

/* Nothing to say at the end: writes leave at once. */
static void plain_cork(struct transport *t)
{
	(void)t;
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

static void plain_info(struct transport *t, struct transport_info *info)
{
	(void)t;
	memset(info, 0, sizeof(*info));
}

static void plain_free(struct transport *t)
{
	free(t);
}

static const struct transport_ops plain_ops = {
	.handshake = plain_handshake,
	.read = plain_read,
	.write = plain_write,
	.cork = plain_cork,
	.shutdown = plain_shutdown,
	.pending = plain_pending,
	.info = plain_info,
	.free = plain_free,
};

struct transport *transport_plain_new(int fd)
{
	struct transport *t = xmalloc(sizeof(*t));

	t->ops = &plain_ops;
	t->fd = fd;
	t->drained = 0;
	return t;
}
