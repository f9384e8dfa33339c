/*
 * test_fsync.c — a file replaced through fsync_replace holds the new
 * contents under the old name; a replacement that cannot happen leaves the
 * old file alone.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsync.h"
#include "test/unit/check.h"

static void write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	if (f != NULL) {
		fputs(text, f);
		fclose(f);
	}
}

static int file_holds(const char *path, const char *text)
{
	char got[64] = "";
	FILE *f = fopen(path, "r");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(got, 1, sizeof(got) - 1, f);
	got[n] = '\0';
	fclose(f);
	return strcmp(got, text) == 0;
}

static void test_replace(void)
{
	char dir[] = "/tmp/relay-fsync-XXXXXX", path[128], tmp[128], missing[160];
	int fd;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/state", dir);
	snprintf(tmp, sizeof(tmp), "%s/state.tmp", dir);
	write_file(path, "old");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ_INT(write(fd, "new", 3), 3);
	CHECK_EQ_INT(fsync_replace(fd, tmp, path), 0);
	CHECK_EQ_INT(close(fd), 0);
	CHECK(file_holds(path, "new"));
	CHECK_EQ_INT(access(tmp, F_OK), -1);

	/* A rename into a directory that is not there fails; nothing moves. */
	snprintf(missing, sizeof(missing), "%s/no-such-dir/state", dir);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ_INT(write(fd, "newer", 5), 5);
	CHECK_EQ_INT(fsync_replace(fd, tmp, missing), -1);
	close(fd);
	CHECK(file_holds(path, "new"));
	CHECK(file_holds(tmp, "newer"));

	/* A bare name lives in the working directory, which is synced. */
	CHECK_EQ_INT(chdir(dir), 0);
	fd = open("bare.tmp", O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	CHECK_EQ_INT(fsync_replace(fd, "bare.tmp", "bare"), 0);
	close(fd);
	CHECK(file_holds("bare", ""));

	unlink("bare");
	unlink(tmp);
	unlink(path);
	CHECK_EQ_INT(chdir("/"), 0);
	rmdir(dir);
}

/* A fresh, unguessable name beside the file, created for the caller alone:
 * mode 0600 whatever the umask, never an existing name. */
static void test_temp_open(void)
{
	char dir[] = "/tmp/relay-fsync-XXXXXX", path[128], a[160], b[160], small[8];
	struct stat st;
	mode_t old_umask;
	int fa, fb;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	old_umask = umask(0777);
	fa = fsync_temp_open(path, a, sizeof(a));
	umask(old_umask);
	fb = fsync_temp_open(path, b, sizeof(b));
	CHECK(fa >= 0 && fb >= 0);
	CHECK(strncmp(a, path, strlen(path)) == 0 && strncmp(a + strlen(path), ".tmp.", 5) == 0);
	CHECK_EQ_INT(strlen(a), strlen(path) + 5 + 16);
	CHECK(strcmp(a, b) != 0);
	CHECK(lstat(a, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);

	errno = 0;
	CHECK_EQ_INT(fsync_temp_open(path, small, sizeof(small)), -1);
	CHECK_EQ_INT(errno, ENAMETOOLONG);
	CHECK_EQ_STR(small, "");

	close(fa);
	close(fb);
	unlink(a);
	unlink(b);
	rmdir(dir);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_replace);
	CHECK_RUN(test_temp_open);
	return CHECK_SUMMARY();
}
