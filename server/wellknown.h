/*
 * wellknown.h — the app-link files of --well-known DIR (spec 4.7, v1.1):
 * DIR/apple-app-site-association and DIR/assetlinks.json, read at start and
 * on SIGHUP, checked, and handed to the api, which serves the bytes.
 *
 * Both files are read and checked before either is handed over, so a reload
 * that fails leaves what is served as it was, never half of it new.
 */
#ifndef SERVER_WELLKNOWN_H
#define SERVER_WELLKNOWN_H

#include <stddef.h>

#include "protocol/api.h"

/* Apple's own limit for apple-app-site-association is 128 KB; real files
 * are a few hundred bytes, and the relay holds both in memory. */
#define WELLKNOWN_FILE_MAX (64 * 1024)

struct wellknown {
	struct wellknown_file {
		char *data;     /* NULL: the file does not exist */
		size_t len;
	} file[API_APP_LINKS];
};

/* Read the files of dir into wk. 0, or -1 with one line in err naming the
 * directory or the file (missing directory; a file that is unreadable, not
 * a regular file, larger than WELLKNOWN_FILE_MAX or not JSON; neither file
 * there), with wk left empty. */
int wellknown_read(const char *dir, struct wellknown *wk, char *err, size_t err_len);
/* Serve them from now on (the api keeps copies). */
void wellknown_apply(const struct wellknown *wk, struct api *api);
void wellknown_free(struct wellknown *wk);
/* The file name of an app link in DIR (also its name under /.well-known/). */
const char *wellknown_name(enum api_app_link which);

#endif
