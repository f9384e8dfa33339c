/*
 * io.c — arming a connection's two events.
 */
#include "net/io.h"

void io_events_assign(struct io_events *io, struct event_base *base, int fd,
    event_callback_fn on_read, event_callback_fn on_write, void *arg)
{
	event_assign(&io->read_ev, base, fd, EV_READ | EV_PERSIST, on_read, arg);
	event_assign(&io->write_ev, base, fd, EV_WRITE | EV_PERSIST, on_write, arg);
	io->reading = io->writing = 0;
}

void io_events_arm(struct io_events *io, int want_read, int want_write)
{
	if (want_read != io->reading) {
		if (want_read)
			event_add(&io->read_ev, NULL);
		else
			event_del(&io->read_ev);
		io->reading = (uint8_t)want_read;
	}
	if (want_write != io->writing) {
		if (want_write)
			event_add(&io->write_ev, NULL);
		else
			event_del(&io->write_ev);
		io->writing = (uint8_t)want_write;
	}
}

void io_events_stop(struct io_events *io)
{
	/* Unconditionally: an event activated with event_active() is not
	 * "added" in our bookkeeping, yet would still run. */
	event_del(&io->read_ev);
	event_del(&io->write_ev);
	io->reading = io->writing = 0;
}
