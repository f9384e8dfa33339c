/*
 * listener.h — one listening socket and its accept loop.
 *
 * What it accepts goes to its owner through struct listener_context; the
 * listener knows nothing of connections.
 */
#ifndef SERVER_LISTENER_H
#define SERVER_LISTENER_H

#include <stddef.h>

#include <sys/socket.h>

#include <event2/event.h>

#include "server/config.h"

/* Shared by every listener of one owner, who keeps it while they live. */
struct listener_context {
	struct event_base *base;
	/* A connection came from peer; fd is the owner's now. */
	void (*accepted)(void *owner, int fd, const struct sockaddr_storage *peer);
	/* accept() on listen_fd ran out of descriptors or memory. */
	void (*starved)(void *owner, int listen_fd);
	void *owner;
};

struct listener {
	int fd;
	struct event *ev;
	const struct listener_context *context;
	char name[64];          /* "127.0.0.1:8443", "[::1]:8443" with the real port */
	int enabled;
};

/* Bind and listen; 0, or -1 with a one-line reason in err. */
int listener_open(struct listener *l, const struct listener_context *context,
    const struct config_listen *addr, char *err, size_t err_len);
void listener_close(struct listener *l);
void listener_enable(struct listener *l, int enabled);

#endif
