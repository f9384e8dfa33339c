/*
 * fsync.c — durable replacement of a file by rename.
 */
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "lib/fsync.h"

/* Make a rename in path's directory survive a crash. */
static void fsync_dir(const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t len = slash == NULL ? 0 : slash == path ? 1 : (size_t)(slash - path);
	char dir[4096];
	int fd;

	if (len >= sizeof(dir))
		return;
	if (len == 0) {
		strcpy(dir, ".");
	} else {
		memcpy(dir, path, len);
		dir[len] = '\0';
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0) {
		fsync(fd);
		close(fd);
	}
}

int fsync_replace(int fd, const char *tmp_path, const char *path)
{
	if (fsync(fd) != 0 || rename(tmp_path, path) != 0)
		return -1;
	fsync_dir(path);
	return 0;
}
