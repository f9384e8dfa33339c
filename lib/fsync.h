/*
 * fsync.h — writing a file so that a crash leaves the old one or the new
 * one, never a mix or nothing.
 *
 * The new contents go to a temporary file in the same directory; once they
 * are on disk the temporary file is renamed over the old name, and the
 * directory itself is synced so that the rename survives too.
 */
#ifndef LIB_FSYNC_H
#define LIB_FSYNC_H

#include <stddef.h>

/* A new temporary file beside path, "<path>.tmp.<16 random hex digits>",
 * created with O_EXCL and O_NOFOLLOW at mode 0600: a file or link planted at
 * a guessable name is never followed nor reused. Its name goes into tmp.
 * The descriptor, or -1 with errno (EEXIST: every name tried was taken;
 * ENAMETOOLONG: tmp is too small) and tmp empty. The random bits come from
 * the kernel, so a forked child may call it too. */
int fsync_temp_open(const char *path, char *tmp, size_t tmp_len);

/* tmp_path, open as fd and fully written, takes the place of path: fsync
 * fd, rename, fsync the directory. 0, or -1 with errno (the rename not
 * done). fd stays open for the caller to close; on failure the caller
 * removes tmp_path. A directory that cannot be synced is not an error: the
 * file is in place, and only a crash in the next moments could undo that. */
int fsync_replace(int fd, const char *tmp_path, const char *path);

#endif
