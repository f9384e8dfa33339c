/*
 * persist.h — when the store goes to disk: at start (load), every
 * --snapshot-interval (in a forked child, so the loop never stalls), and at
 * a clean stop (in the process itself, after the last connection closed).
 */
#ifndef SERVER_PERSIST_H
#define SERVER_PERSIST_H

#include <stdint.h>
#include <sys/types.h>

#include <event2/event.h>

#include "lib/log.h"
#include "storage/snapshot.h"
#include "storage/store.h"

/* What persisting needs from its owner. */
struct persist_context {
	struct event_base *base;
	const struct log *log;
	struct store *store;
	const char *path;               /* --state-file, or NULL: nothing persists */
	int64_t snapshot_interval;      /* seconds; 0: only at a clean stop */
	int64_t max_ttl;                /* seconds: loaded expiry instants are cut to it */
	/* Wall-clock Unix seconds, read once per loop turn. */
	int64_t (*now)(void *owner);
	void *owner;
};

struct persist {
	struct persist_context context;
	pid_t child;                /* a snapshot being written, or 0 */
	struct snapshot_temp child_temp;    /* the file it writes into */
	struct event *timer;        /* --snapshot-interval */
	struct event *sigchld;
	/* For the metrics and /readyz: the periodic snapshots so far. */
	int64_t child_started_ms;   /* monotonic, when the child was forked */
	int64_t last_duration_ms;   /* of the last one that ended, written or not */
	int64_t last_written_at;    /* Unix seconds of the last one written, or 0 */
	uint64_t failures;
	int last_failed;            /* the last one that ended was not written */
};

/* Before anything else at start: a snapshot can be written beside path (a
 * file can be made and removed in its directory), so that a mistake in the
 * path is found now rather than at the first snapshot, with every mailbox
 * lost. 0, or -1 after logging a one-line start error. */
int persist_check(const char *path, const struct log *log);
/* Load the state file into the context's store and start the periodic
 * snapshots. 0, or -1 after logging a one-line start error. */
int persist_init(struct persist *p, const struct persist_context *context);
/* The final snapshot: 0, or -1 (logged). */
int persist_final(struct persist *p);
void persist_free(struct persist *p);

#endif
