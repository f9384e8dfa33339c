/*
 * listener.h — one listening socket and its accept loop.
 */
#ifndef SERVER_LISTENER_H
#define SERVER_LISTENER_H

#include <stddef.h>

#include <event2/event.h>

#include "server/config.h"

struct server;

struct listener {
	int fd;
	struct event *ev;
	struct server *server;
	char name[64];          /* "127.0.0.1:8443", "[::1]:8443" with the real port */
	int enabled;
};

/* Bind and listen; 0, or -1 with a one-line reason in err. */
int listener_open(struct listener *l, struct server *s, const struct config_listen *addr,
    char *err, size_t err_len);
void listener_close(struct listener *l);
void listener_enable(struct listener *l, int enabled);

#endif
