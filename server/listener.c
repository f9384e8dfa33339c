/*
 * listener.c — listening sockets.
 *
 * Accepting is bounded per event so that a connection storm cannot starve
 * the connections already open, and running out of descriptors pauses
 * accepting for a moment (OpenBSD httpd's habit) instead of spinning on a
 * listening socket that stays readable.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "net/hostport.h"
#include "server/listener.h"

#define LISTENER_BACKLOG 4096
#define LISTENER_ACCEPTS_PER_EVENT 64

static void listener_on_accept(evutil_socket_t fd, short what, void *arg)
{
	struct listener *l = arg;
	const struct listener_context *ctx = l->context;

	(void)what;
	for (int i = 0; i < LISTENER_ACCEPTS_PER_EVENT && l->enabled; i++) {
		struct sockaddr_storage peer;
		socklen_t peer_len = sizeof(peer);
		int client = accept4((int)fd, (struct sockaddr *)&peer, &peer_len,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (client >= 0) {
			ctx->accepted(ctx->owner, client, &peer);
			continue;
		}
		if (errno == EINTR || errno == ECONNABORTED)
			continue;
		if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM)
			ctx->starved(ctx->owner, (int)fd);
		return;
	}
}

static void listener_name(const struct sockaddr_storage *ss, char *out, size_t len)
{
	char host[INET6_ADDRSTRLEN];
	const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)ss;
	const struct sockaddr_in *a4 = (const struct sockaddr_in *)ss;

	if (ss->ss_family == AF_INET6) {
		inet_ntop(AF_INET6, &a6->sin6_addr, host, sizeof(host));
		hostport_format(out, len, host, ntohs(a6->sin6_port));
	} else {
		inet_ntop(AF_INET, &a4->sin_addr, host, sizeof(host));
		hostport_format(out, len, host, ntohs(a4->sin_port));
	}
}

int listener_open(struct listener *l, const struct listener_context *context,
    const struct config_listen *addr, char *err, size_t err_len)
{
	struct sockaddr_storage bound;
	socklen_t bound_len = sizeof(bound);
	char wanted[64];
	int one = 1;

	memset(l, 0, sizeof(*l));
	l->context = context;
	listener_name(&addr->addr, wanted, sizeof(wanted));
	l->fd = socket(addr->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0)
		goto fail;
	setsockopt(l->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	/* [::] should not also claim IPv4, so both may be listed. */
	if (addr->addr.ss_family == AF_INET6)
		setsockopt(l->fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one));
	if (bind(l->fd, (const struct sockaddr *)&addr->addr, addr->addr_len) != 0 ||
	    listen(l->fd, LISTENER_BACKLOG) != 0 ||
	    getsockname(l->fd, (struct sockaddr *)&bound, &bound_len) != 0)
		goto fail;
	listener_name(&bound, l->name, sizeof(l->name));
	l->ev = event_new(context->base, l->fd, EV_READ | EV_PERSIST, listener_on_accept, l);
	if (l->ev == NULL) {
		errno = ENOMEM;
		goto fail;
	}
	listener_enable(l, 1);
	return 0;
fail:
	snprintf(err, err_len, "cannot listen on %s: %s", wanted, strerror(errno));
	if (l->fd >= 0)
		close(l->fd);
	l->fd = -1;
	return -1;
}

void listener_enable(struct listener *l, int enabled)
{
	if (l->ev == NULL || l->enabled == enabled)
		return;
	if (enabled)
		event_add(l->ev, NULL);
	else
		event_del(l->ev);
	l->enabled = enabled;
}

void listener_close(struct listener *l)
{
	if (l->ev != NULL) {
		event_free(l->ev);
		l->ev = NULL;
	}
	if (l->fd >= 0) {
		close(l->fd);
		l->fd = -1;
	}
	l->enabled = 0;
}
