/*
 * wellknown.c — reading and checking the --well-known files.
 *
 * This runs in the event loop (at start and on SIGHUP), so it never waits
 * on a file that is not a regular one: a FIFO or a device is refused
 * before anything is read from it.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>

#include <jansson.h>

#include "server/wellknown.h"

static const char *const wellknown_names[API_APP_LINKS] = {
	[API_APP_LINK_APPLE] = "apple-app-site-association",
	[API_APP_LINK_ANDROID] = "assetlinks.json",
};

const char *wellknown_name(enum api_app_link which)
{
	return wellknown_names[which];
}

/* An error line must stay one line: jansson quotes the text near the fault. */
static void wellknown_one_line(char *s)
{
	for (; *s != '\0'; s++) {
		if ((unsigned char)*s < ' ' || *s == 0x7f)
			*s = ' ';
	}
}

/* 0 with the bytes in *f (data NULL when the file does not exist), or -1. */
static int wellknown_read_file(const char *dir, const char *name, struct wellknown_file *f,
    char *err, size_t err_len)
{
	char path[PATH_MAX];
	struct stat st;
	json_error_t json_err;
	json_t *doc;
	char *data = NULL;
	size_t len = 0, cap;
	int fd = -1;

	f->data = NULL;
	f->len = 0;
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", dir, name) >= sizeof(path)) {
		snprintf(err, err_len, "--well-known: the path of %s in %s is too long", name, dir);
		return -1;
	}
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0) {
		snprintf(err, err_len, "--well-known: cannot open %s: %s", path, strerror(errno));
		goto fail;
	}
	if (fstat(fd, &st) != 0) {
		snprintf(err, err_len, "--well-known: cannot read %s: %s", path, strerror(errno));
		goto fail;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "--well-known: %s is not a regular file", path);
		goto fail;
	}
	if (st.st_size > WELLKNOWN_FILE_MAX)
		goto too_large;
	/* One byte more than fstat said: a file that grew since shows it. */
	cap = (size_t)st.st_size + 1;
	data = malloc(cap);
	if (data == NULL) {
		snprintf(err, err_len, "--well-known: no memory to read %s", path);
		goto fail;
	}
	while (len < cap) {
		ssize_t n = read(fd, data + len, cap - len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			snprintf(err, err_len, "--well-known: cannot read %s: %s", path,
			    strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len == cap) {
		snprintf(err, err_len, "--well-known: %s changed while it was read", path);
		goto fail;
	}
	/* An object or an array (jansson's default), valid UTF-8, nothing after. */
	doc = json_loadb(data, len, 0, &json_err);
	if (doc == NULL) {
		snprintf(err, err_len, "--well-known: %s is not valid JSON (line %d: %s)", path,
		    json_err.line, json_err.text);
		wellknown_one_line(err);
		goto fail;
	}
	json_decref(doc);
	close(fd);
	f->data = data;
	f->len = len;
	return 0;

too_large:
	snprintf(err, err_len, "--well-known: %s is larger than %d KiB", path,
	    WELLKNOWN_FILE_MAX / 1024);
fail:
	free(data);
	if (fd >= 0)
		close(fd);
	return -1;
}

int wellknown_read(const char *dir, struct wellknown *wk, char *err, size_t err_len)
{
	struct stat st;
	int present = 0;

	memset(wk, 0, sizeof(*wk));
	if (stat(dir, &st) != 0) {
		snprintf(err, err_len, "--well-known: cannot use the directory %s: %s", dir,
		    strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(err, err_len, "--well-known: %s is not a directory", dir);
		return -1;
	}
	for (int i = 0; i < API_APP_LINKS; i++) {
		if (wellknown_read_file(dir, wellknown_names[i], &wk->file[i], err, err_len) != 0)
			goto fail;
		present += wk->file[i].data != NULL;
	}
	/* Surely the wrong directory: nothing would ever be served. */
	if (present == 0) {
		snprintf(err, err_len, "--well-known: %s holds neither %s nor %s", dir,
		    wellknown_names[API_APP_LINK_APPLE], wellknown_names[API_APP_LINK_ANDROID]);
		goto fail;
	}
	return 0;

fail:
	wellknown_free(wk);
	return -1;
}

void wellknown_apply(const struct wellknown *wk, struct api *api)
{
	for (int i = 0; i < API_APP_LINKS; i++)
		api_set_app_link(api, (enum api_app_link)i, wk->file[i].data, wk->file[i].len);
}

void wellknown_free(struct wellknown *wk)
{
	for (int i = 0; i < API_APP_LINKS; i++)
		free(wk->file[i].data);
	memset(wk, 0, sizeof(*wk));
}
