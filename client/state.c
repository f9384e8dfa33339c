/*
 * state.c — the device state file.
 *
 *   {"version": 1, "mailboxes": {"<mailbox URL>": {"claim": "…", "secret": "…",
 *    "role": "sender"|"receiver", "etag": "…", "seen": ["…", …],
 *    "expires": "YYYY-MM-DDThh:mm:ssZ" (when known)}}}
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "client/state.h"
#include "lib/base64.h"
#include "lib/clock.h"
#include "lib/fsync.h"

#define STATE_VERSION 1

int state_default_path(char *out, size_t out_len)
{
	const char *xdg = getenv("XDG_STATE_HOME"), *home = getenv("HOME");
	int n;

	if (xdg != NULL && xdg[0] == '/')
		n = snprintf(out, out_len, "%s/relay/state.json", xdg);
	else if (home != NULL && home[0] == '/')
		n = snprintf(out, out_len, "%s/.local/state/relay/state.json", home);
	else
		return -1;
	return n > 0 && (size_t)n < out_len ? 0 : -1;
}

/* mkdir -p for the file's directory, private to the user. */
static int state_make_dir(const char *path)
{
	char dir[4096];
	char *slash;

	if (strlen(path) >= sizeof(dir))
		return -1;
	strcpy(dir, path);
	slash = strrchr(dir, '/');
	if (slash == NULL || slash == dir)
		return 0;
	*slash = '\0';
	for (char *p = dir + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(dir, 0700) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(dir, 0700) != 0 && errno != EEXIST ? -1 : 0;
}

/* An exclusive lock on path.lock, held until the descriptor is closed. */
static int state_lock(const char *path, char *err, size_t err_len)
{
	char lock_path[4200];
	int fd;

	if (state_make_dir(path) != 0) {
		snprintf(err, err_len, "cannot create the directory of %s: %s", path,
		    strerror(errno));
		return -1;
	}
	snprintf(lock_path, sizeof(lock_path), "%s.lock", path);
	fd = open(lock_path, O_RDWR | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0 || flock(fd, LOCK_EX) != 0) {
		snprintf(err, err_len, "cannot lock %s: %s", lock_path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

/* The whole document; a missing file is an empty one. */
static json_t *state_load(const char *path, char *err, size_t err_len)
{
	json_error_t jerr;
	json_t *root, *mailboxes;

	root = json_load_file(path, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (access(path, F_OK) != 0 && errno == ENOENT)
			return json_pack("{s:i, s:{}}", "version", STATE_VERSION, "mailboxes");
		snprintf(err, err_len, "%s is not a relay state file (%s)", path, jerr.text);
		return NULL;
	}
	mailboxes = json_object_get(root, "mailboxes");
	if (!json_is_object(root) || !json_is_object(mailboxes) ||
	    json_integer_value(json_object_get(root, "version")) != STATE_VERSION) {
		snprintf(err, err_len, "%s is not a relay state file of version %d", path,
		    STATE_VERSION);
		json_decref(root);
		return NULL;
	}
	return root;
}

/* Write to a temporary file, make it durable, then put it in place. */
static int state_write(const char *path, json_t *root, char *err, size_t err_len)
{
	char tmp[4200], *text;
	size_t len, done = 0;
	int fd;

	text = json_dumps(root, JSON_INDENT(2) | JSON_SORT_KEYS);
	if (text == NULL) {
		snprintf(err, err_len, "out of memory writing %s", path);
		return -1;
	}
	len = strlen(text);
	fd = fsync_temp_open(path, tmp, sizeof(tmp));
	if (fd < 0)
		goto fail;
	while (done < len) {
		ssize_t n = write(fd, text + done, len - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto fail;
		done += (size_t)n;
	}
	if (write(fd, "\n", 1) != 1 || fsync_replace(fd, tmp, path) != 0)
		goto fail;
	/* On disk and in place: a failure to close can lose nothing now. */
	close(fd);
	free(text);
	return 0;
fail:
	snprintf(err, err_len, "cannot write %s: %s", path, strerror(errno));
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	free(text);
	return -1;
}

static void state_copy_string(char *out, size_t out_len, json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	snprintf(out, out_len, "%s", s ? s : "");
}

static int state_decode(json_t *obj, struct state_entry *out)
{
	const char *secret = json_string_value(json_object_get(obj, "secret"));
	const char *role = json_string_value(json_object_get(obj, "role"));

	memset(out, 0, sizeof(*out));
	state_copy_string(out->claim, sizeof(out->claim), obj, "claim");
	state_copy_string(out->etag, sizeof(out->etag), obj, "etag");
	{
		json_t *seen = json_object_get(obj, "seen"), *v;
		size_t i;

		json_array_foreach(seen, i, v) {
			if (out->seen_count == STATE_SEEN_MAX || !json_is_string(v))
				break;
			snprintf(out->seen[out->seen_count++], sizeof(out->seen[0]), "%s",
			    json_string_value(v));
		}
	}
	{
		const char *expires = json_string_value(json_object_get(obj, "expires"));

		if (expires != NULL &&
		    clock_parse_rfc3339(expires, strlen(expires), &out->expires_at) != 0)
			out->expires_at = 0;
	}
	if (secret == NULL || role == NULL || strlen(out->claim) != 36 ||
	    base64_decode(BASE64_URL, secret, strlen(secret), out->secret, sizeof(out->secret),
	    &out->secret_len) != 0)
		return -1;
	out->role = strcmp(role, "sender") == 0 ? STATE_SENDER : STATE_RECEIVER;
	return 0;
}

int state_seen(const struct state_entry *e, const char *digest)
{
	for (int i = 0; i < e->seen_count; i++) {
		if (strcmp(e->seen[i], digest) == 0)
			return 1;
	}
	return 0;
}

void state_see(struct state_entry *e, const char *digest)
{
	int n = e->seen_count < STATE_SEEN_MAX ? e->seen_count : STATE_SEEN_MAX - 1;

	if (state_seen(e, digest))
		return;
	memmove(e->seen[1], e->seen[0], (size_t)n * sizeof(e->seen[0]));
	snprintf(e->seen[0], sizeof(e->seen[0]), "%s", digest);
	e->seen_count = n + 1;
}

/* Forget what has expired; 1 when something was. */
static int state_prune(json_t *root)
{
	json_t *mailboxes = json_object_get(root, "mailboxes"), *v;
	int64_t now = (int64_t)time(NULL);
	const char *url;
	void *tmp;
	int pruned = 0;

	json_object_foreach_safe(mailboxes, tmp, url, v) {
		const char *expires = json_string_value(json_object_get(v, "expires"));
		int64_t at;

		if (expires != NULL && clock_parse_rfc3339(expires, strlen(expires), &at) == 0 &&
		    at + STATE_EXPIRY_GRACE_S < now) {
			json_object_del(mailboxes, url);
			pruned = 1;
		}
	}
	return pruned;
}

/* The document, read under the lock (*lock, which the caller closes), and
 * without the mailboxes that have expired. */
static json_t *state_open(const char *path, int *lock, char *err, size_t err_len)
{
	json_t *root;

	*lock = state_lock(path, err, err_len);
	if (*lock < 0)
		return NULL;
	root = state_load(path, err, err_len);
	if (root != NULL && state_prune(root) && state_write(path, root, err, err_len) != 0) {
		json_decref(root);
		root = NULL;
	}
	if (root == NULL) {
		close(*lock);
		*lock = -1;
	}
	return root;
}

int state_get(const char *path, const char *mailbox_url, struct state_entry *out,
    char *err, size_t err_len)
{
	json_t *root, *entry;
	int lock, found = 0;

	root = state_open(path, &lock, err, err_len);
	if (root == NULL)
		return -1;
	close(lock);
	entry = json_object_get(json_object_get(root, "mailboxes"), mailbox_url);
	if (entry != NULL) {
		if (state_decode(entry, out) != 0) {
			snprintf(err, err_len, "%s holds a damaged entry for that mailbox", path);
			found = -1;
		} else {
			found = 1;
		}
	}
	json_decref(root);
	return found;
}

int state_put(const char *path, const char *mailbox_url, const struct state_entry *e,
    char *err, size_t err_len)
{
	char secret[BASE64_ENCODED_LEN(SEAL_KEY_MAX) + 1];
	json_t *root, *mailboxes;
	int lock, r = -1;

	root = state_open(path, &lock, err, err_len);
	if (root == NULL)
		return -1;
	mailboxes = json_object_get(root, "mailboxes");
	if (e == NULL) {
		json_object_del(mailboxes, mailbox_url);
	} else {
		json_t *seen = json_array(), *obj;

		for (int i = 0; seen != NULL && i < e->seen_count; i++)
			json_array_append_new(seen, json_string(e->seen[i]));
		secret[base64_encode(BASE64_URL, e->secret, e->secret_len, secret)] = '\0';
		obj = seen == NULL ? NULL : json_pack("{s:s, s:s, s:s, s:s, s:o}",
		    "claim", e->claim, "secret", secret,
		    "role", e->role == STATE_SENDER ? "sender" : "receiver",
		    "etag", e->etag, "seen", seen);
		if (obj != NULL && e->expires_at > 0) {
			char expires[CLOCK_RFC3339_LEN + 1];

			clock_format_rfc3339(e->expires_at, expires);
			if (json_object_set_new(obj, "expires", json_string(expires)) != 0) {
				json_decref(obj);
				obj = NULL;
			}
		}
		if (obj == NULL || json_object_set_new(mailboxes, mailbox_url, obj) != 0) {
			snprintf(err, err_len, "out of memory updating %s", path);
			goto done;
		}
	}
	r = state_write(path, root, err, err_len);
done:
	json_decref(root);
	close(lock);
	return r;
}

struct state_item {
	const char *url;
	struct state_entry entry;
	int ok;
};

static int state_item_order(const void *a, const void *b)
{
	const struct state_item *x = a, *y = b;
	int64_t ex = x->ok && x->entry.expires_at ? x->entry.expires_at : INT64_MAX;
	int64_t ey = y->ok && y->entry.expires_at ? y->entry.expires_at : INT64_MAX;

	if (ex != ey)
		return ex < ey ? -1 : 1;
	return strcmp(x->url, y->url);
}

int state_list(const char *path, void (*fn)(void *ctx, const char *mailbox_url,
    const struct state_entry *e), void *ctx, char *err, size_t err_len)
{
	json_t *root, *mailboxes, *v;
	struct state_item *items;
	const char *url;
	size_t n = 0;
	int lock;

	root = state_open(path, &lock, err, err_len);
	if (root == NULL)
		return -1;
	close(lock);
	mailboxes = json_object_get(root, "mailboxes");
	items = calloc(json_object_size(mailboxes) + 1, sizeof(*items));
	if (items == NULL) {
		snprintf(err, err_len, "out of memory reading %s", path);
		json_decref(root);
		return -1;
	}
	json_object_foreach(mailboxes, url, v) {
		items[n].url = url;
		items[n].ok = state_decode(v, &items[n].entry) == 0;
		n++;
	}
	qsort(items, n, sizeof(*items), state_item_order);
	for (size_t i = 0; i < n; i++)
		fn(ctx, items[i].url, items[i].ok ? &items[i].entry : NULL);
	/* The Secrets were copied out to sort: leave none behind. */
	explicit_bzero(items, n * sizeof(*items));
	free(items);
	json_decref(root);
	return 0;
}
