/*
 * snapshot.h — the store on disk, so that a restart loses nothing.
 *
 * A snapshot is one file holding every live mailbox with everything a device
 * relies on: claims, rights, binding, tokens, retry records, expiry instant
 * and ETag. It is written to a temporary file of a random name in the same
 * directory, made durable and renamed into place (mode 0600), so the file at
 * the path is always a whole snapshot and nothing is ever written through a
 * link someone planted beside it.
 * The format is versioned and ends in a CRC-64 of all that precedes it; a
 * file that fails any check is refused as a whole, never half-loaded.
 *
 *   "RELAYSNP" u32 version u32 flags i64 written_at u64 count
 *   count × mailbox, u64 crc64            (integers little-endian)
 */
#ifndef STORAGE_SNAPSHOT_H
#define STORAGE_SNAPSHOT_H

#include <stddef.h>
#include <stdint.h>

#include "storage/store.h"

#define SNAPSHOT_VERSION 1
/* Longest name of a temporary file (PATH_MAX). */
#define SNAPSHOT_TEMP_PATH_MAX 4096

/* A temporary file beside the state file, made with a random name that
 * nobody could have planted a link at (O_EXCL | O_NOFOLLOW), mode 0600. */
struct snapshot_temp {
	int fd;                         /* -1 once handed on */
	char path[SNAPSHOT_TEMP_PATH_MAX];
};

/* What a load brought back. */
struct snapshot_loaded {
	size_t mailboxes;               /* put in the store */
	size_t shortened;               /* of those, expiring after now + max_ttl: cut to it */
	int empty;                      /* the file was there with nothing in it */
};

/* Make the temporary file for a snapshot of path: 0, or -1 with a one-line
 * reason. */
int snapshot_temp_open(const char *path, struct snapshot_temp *temp, char *err,
    size_t err_len);
/* The parent's part once a child writes into temp: close its descriptor,
 * keep the name, so that the file can still be removed if the child dies. */
void snapshot_temp_close(struct snapshot_temp *temp);
/* Give a snapshot up: close temp if it is open and remove its file. */
void snapshot_temp_remove(struct snapshot_temp *temp);
/* Write every mailbox live at now into temp, make it durable and rename it
 * to path. temp's descriptor is closed either way; on failure the temporary
 * file is removed, path is left as it was, and err says why. */
int snapshot_write_temp(struct store *store, struct snapshot_temp *temp, const char *path,
    int64_t now, char *err, size_t err_len);
/* Both at once: 0, or -1 with a one-line reason. */
int snapshot_write(struct store *store, const char *path, int64_t now,
    char *err, size_t err_len);

/* Load path into an empty store, dropping mailboxes expired by now and
 * bringing expiry instants later than now + max_ttl in to it. Every mailbox
 * is held to the rules the API holds a request to (storage/mailbox.h); the
 * first that breaks one refuses the file, and err names the record and the
 * field, never a value. A missing file is an empty snapshot. 0, or -1 with a
 * one-line reason, in which case the store may hold part of the file and
 * should be discarded. */
int snapshot_load(struct store *store, const char *path, int64_t now, int64_t max_ttl,
    struct snapshot_loaded *loaded, char *err, size_t err_len);

/* The same for bytes already in memory (what the fuzzer drives). */
int snapshot_parse(struct store *store, const uint8_t *data, size_t len, int64_t now,
    int64_t max_ttl, struct snapshot_loaded *loaded, char *err, size_t err_len);

#endif
