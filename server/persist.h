/*
 * persist.h — when the store goes to disk: at start (load), every
 * --snapshot-interval (in a forked child, so the loop never stalls), and at
 * a clean stop (in the process itself, after the last connection closed).
 */
#ifndef SERVER_PERSIST_H
#define SERVER_PERSIST_H

#include <sys/types.h>

#include <event2/event.h>

#include "storage/snapshot.h"

struct server;

struct persist {
	struct server *server;
	const char *path;           /* --state-file, or NULL: nothing persists */
	pid_t child;                /* a snapshot being written, or 0 */
	struct snapshot_temp child_temp;    /* the file it writes into */
	struct event *timer;        /* --snapshot-interval */
	struct event *sigchld;
};

/* Before anything else at start: a snapshot can be written beside path (a
 * file can be made and removed in its directory), so that a mistake in the
 * path is found now rather than at the first snapshot, with every mailbox
 * lost. 0, or -1 after printing a one-line start error. */
int persist_check(const char *path);
/* Load the state file into the server's store and start the periodic
 * snapshots. 0, or -1 after printing a one-line start error. */
int persist_init(struct persist *p, struct server *s);
/* The final snapshot: 0, or -1 (logged). */
int persist_final(struct persist *p);
void persist_free(struct persist *p);

#endif
