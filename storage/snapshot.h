/*
 * snapshot.h — the store on disk, so that a restart loses nothing.
 *
 * A snapshot is one file holding every live mailbox with everything a device
 * relies on: claims, rights, binding, tokens, retry records, expiry instant
 * and ETag. It is written to a temporary file, made durable and renamed into
 * place (mode 0600), so the file at the path is always a whole snapshot.
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

/* Write every mailbox live at now to path: 0, or -1 with a one-line reason. */
int snapshot_write(struct store *store, const char *path, int64_t now,
    char *err, size_t err_len);

/* Load path into an empty store, dropping mailboxes expired by now. A missing
 * file is an empty snapshot (*loaded 0). 0, or -1 with a one-line reason, in
 * which case the store may hold part of the file and should be discarded. */
int snapshot_load(struct store *store, const char *path, int64_t now, size_t *loaded,
    char *err, size_t err_len);

/* The same for bytes already in memory (what the fuzzer drives). */
int snapshot_parse(struct store *store, const uint8_t *data, size_t len, int64_t now,
    size_t *loaded, char *err, size_t err_len);

#endif
