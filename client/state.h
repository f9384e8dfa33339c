/*
 * state.h — what a device remembers: its claim and the Secret for each
 * mailbox it takes part in.
 *
 * One JSON file per device, mode 0600, replaced atomically (temporary file,
 * fsync, rename) under an exclusive lock, so that a crash leaves either the
 * old file or the new one and two commands of the same device (a `watch`
 * and a `reply`, say) never lose each other's changes: every change re-reads
 * the file and touches one mailbox's entry only.
 *
 * Whoever opens the file forgets the mailboxes whose expiry has passed (with
 * a margin for the clocks of device and relay), so it does not grow with
 * every share this device ever made.
 */
#ifndef CLIENT_STATE_H
#define CLIENT_STATE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "client/seal.h"

enum state_role {
	STATE_SENDER,
	STATE_RECEIVER
};

/* How many recent messages a device remembers as its own or already seen:
 * enough that a watch racing with this device's own replies never mistakes
 * one for news. */
#define STATE_SEEN_MAX 8

struct state_entry {
	char claim[37];
	uint8_t secret[SEAL_KEY_MAX];
	size_t secret_len;
	enum state_role role;
	char etag[80];          /* the last ETag seen, or "" */
	char seen[STATE_SEEN_MAX][65];  /* SHA-256 of data seen or written, newest first */
	int seen_count;
	int64_t expires_at;     /* the relay's expiration (Unix time), or 0: unknown */
};

/* How long past its expiry a mailbox is still kept: a device's clock may be
 * ahead of the relay's, and forgetting a live mailbox loses its claim for
 * good, while keeping a dead one a little longer costs a line in the file. */
#define STATE_EXPIRY_GRACE_S 600

/* Has this device seen (or written) data with this digest? */
int state_seen(const struct state_entry *e, const char *digest);
/* Remember a digest as seen, forgetting the oldest beyond STATE_SEEN_MAX. */
void state_see(struct state_entry *e, const char *digest);

/* The default path: $XDG_STATE_HOME/relay/state.json, else
 * ~/.local/state/relay/state.json. 0, or -1 when neither can be made. */
int state_default_path(char *out, size_t out_len);

/* 1 and the entry, 0 when the device knows no such mailbox, -1 on error
 * (with a one-line reason in err). */
int state_get(const char *path, const char *mailbox_url, struct state_entry *out,
    char *err, size_t err_len);
/* Record (or, with entry NULL, forget) one mailbox: 0, or -1. */
int state_put(const char *path, const char *mailbox_url, const struct state_entry *entry,
    char *err, size_t err_len);
/* Call fn for every mailbox the file holds, soonest expiry first (unknown
 * last): 0, or -1 with a reason in err. An entry that does not decode is
 * passed with e NULL. */
int state_list(const char *path, void (*fn)(void *ctx, const char *mailbox_url,
    const struct state_entry *e), void *ctx, char *err, size_t err_len);

#endif
