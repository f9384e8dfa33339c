/*
 * fsync.c — durable replacement of a file by rename.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsync.h"

/* Tries at a fresh name before giving up: a clash of 64 random bits means
 * someone is filling the directory with guesses, not bad luck. */
#define FSYNC_TEMP_ATTEMPTS 8

int fsync_temp_open(const char *path, char *tmp, size_t tmp_len)
{
	for (int attempt = 0; attempt < FSYNC_TEMP_ATTEMPTS; attempt++) {
		uint8_t random[8];
		ssize_t got;
		int n, fd;

		do {
			got = getrandom(random, sizeof(random), 0);
		} while (got < 0 && errno == EINTR);
		if (got != (ssize_t)sizeof(random)) {
			if (got >= 0)
				errno = EIO;
			break;
		}
		n = snprintf(tmp, tmp_len, "%s.tmp.%02x%02x%02x%02x%02x%02x%02x%02x", path,
		    random[0], random[1], random[2], random[3], random[4], random[5], random[6],
		    random[7]);
		if (n < 0 || (size_t)n >= tmp_len) {
			errno = ENAMETOOLONG;
			break;
		}
		/* O_EXCL refuses any name that exists, a link included; O_NOFOLLOW
		 * says so once more. The mode is set again in case of a umask
		 * that takes away the owner's bits. */
		fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0 && errno == EEXIST)
			continue;
		if (fd < 0)
			break;
		if (fchmod(fd, 0600) != 0) {
			int saved = errno;

			close(fd);
			unlink(tmp);
			errno = saved;
			break;
		}
		return fd;
	}
	if (tmp_len > 0)
		tmp[0] = '\0';
	return -1;
}

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
