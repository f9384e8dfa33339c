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

/* tmp_path, open as fd and fully written, takes the place of path: fsync
 * fd, rename, fsync the directory. 0, or -1 with errno (the rename not
 * done). fd stays open for the caller to close; on failure the caller
 * removes tmp_path. A directory that cannot be synced is not an error: the
 * file is in place, and only a crash in the next moments could undo that. */
int fsync_replace(int fd, const char *tmp_path, const char *path);

#endif
