/*
 * io.h — the pair of socket events every connection keeps (the clients'
 * and the push gateway's), added and removed only when what it waits for
 * changes, so a request that needs no waiting costs no epoll_ctl at all.
 */
#ifndef NET_IO_H
#define NET_IO_H

#include <stdint.h>

#include <event2/event.h>
#include <event2/event_struct.h>

struct io_events {
	struct event read_ev, write_ev;
	uint8_t reading, writing;       /* which of them is added */
};

/* Set both (persistent) events up on fd, neither of them added. */
void io_events_assign(struct io_events *io, struct event_base *base, int fd,
    event_callback_fn on_read, event_callback_fn on_write, void *arg);
/* Add or remove the events so that exactly these are armed. */
void io_events_arm(struct io_events *io, int want_read, int want_write);
/* Take both events out of libevent, whether added, pending or made active
 * by hand (event_active), so that neither can fire again: call it before
 * the memory that holds them is freed. */
void io_events_stop(struct io_events *io);

#endif
