/*
 * snapshot.c — writing and loading store snapshots.
 *
 * Writing streams through stdio with the checksum kept as the bytes go; it
 * runs either in the parent at shutdown or in a forked child that owns a
 * copy-on-write image of the store (server/ decides which). Loading reads
 * the whole file, checks magic, version and checksum before looking at a
 * single mailbox, then checks every length against the spec's limits while
 * it rebuilds the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "storage/snapshot.h"

#define SNAPSHOT_MAGIC "RELAYSNP"
#define SNAPSHOT_MAGIC_LEN 8
#define SNAPSHOT_HEADER_LEN (SNAPSHOT_MAGIC_LEN + 4 + 4 + 8 + 8)
#define SNAPSHOT_CRC_LEN 8
/* CRC-64/Jones, reflected, as Redis uses for its dumps. */
#define SNAPSHOT_CRC_POLY 0x95ac9329ac4bc9b5ULL

struct snapshot_crc {
	uint64_t table[256];
	uint64_t value;
};

static void snapshot_crc_init(struct snapshot_crc *crc)
{
	for (int i = 0; i < 256; i++) {
		uint64_t v = (uint64_t)i;

		for (int bit = 0; bit < 8; bit++)
			v = v & 1 ? (v >> 1) ^ SNAPSHOT_CRC_POLY : v >> 1;
		crc->table[i] = v;
	}
	crc->value = 0;
}

static void snapshot_crc_add(struct snapshot_crc *crc, const void *bytes, size_t len)
{
	const uint8_t *p = bytes;
	uint64_t v = crc->value;

	while (len--)
		v = crc->table[(v ^ *p++) & 0xff] ^ (v >> 8);
	crc->value = v;
}

/* --- writing ------------------------------------------------------------ */

struct snapshot_writer {
	FILE *f;
	struct snapshot_crc crc;
	int64_t now;
	uint64_t count;
	int failed;
};

static void snapshot_put(struct snapshot_writer *w, const void *bytes, size_t len)
{
	if (w->failed || len == 0)
		return;
	snapshot_crc_add(&w->crc, bytes, len);
	if (fwrite(bytes, 1, len, w->f) != len)
		w->failed = 1;
}

static void snapshot_put_uint(struct snapshot_writer *w, uint64_t v, int bytes)
{
	uint8_t le[8];

	for (int i = 0; i < bytes; i++)
		le[i] = (uint8_t)(v >> (8 * i));
	snapshot_put(w, le, (size_t)bytes);
}

static void snapshot_put_string(struct snapshot_writer *w, const char *s, size_t len,
    int len_bytes)
{
	snapshot_put_uint(w, len, len_bytes);
	snapshot_put(w, s, len);
}

static void snapshot_put_token(struct snapshot_writer *w, const struct mailbox_token *t)
{
	snapshot_put_uint(w, t != NULL, 1);
	if (t == NULL)
		return;
	snapshot_put_string(w, mailbox_token_type(t), t->type_len, 2);
	snapshot_put_string(w, mailbox_token_data(t), t->data_len, 2);
}

static void snapshot_put_mailbox(const struct mailbox *mb, void *arg)
{
	struct snapshot_writer *w = arg;
	const struct mailbox_payload *p = mb->payload;
	const struct mailbox_display *d = mb->display;
	const struct store_record *rec;
	uint64_t records = 0;

	if (mb->expiry.expires_at <= w->now)
		return;
	snapshot_put(w, mailbox_id(mb), MAILBOX_ID_LEN);
	snapshot_put(w, mb->sender_claim, MAILBOX_CLAIM_LEN);
	snapshot_put(w, mb->receiver_claim, MAILBOX_CLAIM_LEN);
	snapshot_put_uint(w, mb->rights, 1);
	snapshot_put_uint(w, mb->receiver_bound, 1);
	snapshot_put_uint(w, (uint64_t)mb->expiry.expires_at, 8);
	snapshot_put_uint(w, mb->etag, 8);
	snapshot_put_string(w, mailbox_payload_type(p), p->type_len, 1);
	snapshot_put_string(w, mailbox_payload_data(p), p->data_len, 4);
	snapshot_put_string(w, mailbox_display_title(d), d->title_len, 2);
	snapshot_put_string(w, mailbox_display_description(d), d->description_len, 2);
	snapshot_put_string(w, mailbox_display_image_url(d), d->image_url_len, 2);
	snapshot_put_token(w, mb->tokens[MAILBOX_SENDER]);
	snapshot_put_token(w, mb->tokens[MAILBOX_RECEIVER]);
	for (rec = mb->records; rec != NULL; rec = rec->mailbox_next)
		records++;
	snapshot_put_uint(w, records, 1);
	for (rec = mb->records; rec != NULL; rec = rec->mailbox_next) {
		snapshot_put(w, rec->node.key, MAILBOX_CLAIM_LEN);
		snapshot_put_uint(w, rec->op, 1);
		snapshot_put_uint(w, rec->result, 1);
		snapshot_put_string(w, rec->request_id, rec->request_id_len, 1);
	}
	w->count++;
}

static void snapshot_count_live(const struct mailbox *mb, void *arg)
{
	struct snapshot_writer *w = arg;

	if (mb->expiry.expires_at > w->now)
		w->count++;
}

/* Make a rename in path's directory survive a crash. */
static void snapshot_sync_dir(const char *path)
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

int snapshot_write(struct store *store, const char *path, int64_t now,
    char *err, size_t err_len)
{
	struct snapshot_writer *w;
	char tmp[4200];
	uint64_t count;
	int fd, saved;

	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, err_len, "cannot write %s: out of memory", path);
		return -1;
	}
	snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0 || (w->f = fdopen(fd, "wb")) == NULL)
		goto fail;
	snapshot_crc_init(&w->crc);
	w->now = now;
	/* The count goes in the header, so it is taken first; the store does
	 * not change while it is written (it is this process's own copy). */
	store_iterate(store, snapshot_count_live, w);
	count = w->count;
	w->count = 0;
	snapshot_put(w, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_LEN);
	snapshot_put_uint(w, SNAPSHOT_VERSION, 4);
	snapshot_put_uint(w, 0, 4);
	snapshot_put_uint(w, (uint64_t)now, 8);
	snapshot_put_uint(w, count, 8);
	store_iterate(store, snapshot_put_mailbox, w);
	snapshot_put_uint(w, w->crc.value, 8);
	if (w->failed || fflush(w->f) != 0 || fsync(fd) != 0)
		goto fail;
	fd = -1;
	if (fclose(w->f) != 0) {
		w->f = NULL;
		goto fail;
	}
	w->f = NULL;
	if (rename(tmp, path) != 0)
		goto fail;
	snapshot_sync_dir(path);
	free(w);
	return 0;
fail:
	saved = errno;
	snprintf(err, err_len, "cannot write %s: %s", path, strerror(saved ? saved : EIO));
	if (w->f != NULL)
		fclose(w->f);
	else if (fd >= 0)
		close(fd);
	unlink(tmp);
	free(w);
	return -1;
}

/* --- loading ------------------------------------------------------------ */

struct snapshot_reader {
	const uint8_t *p, *end;
	int failed;
};

static uint64_t snapshot_get_uint(struct snapshot_reader *r, int bytes)
{
	uint64_t v = 0;

	if (r->failed || r->end - r->p < bytes) {
		r->failed = 1;
		return 0;
	}
	for (int i = 0; i < bytes; i++)
		v |= (uint64_t)r->p[i] << (8 * i);
	r->p += bytes;
	return v;
}

static const uint8_t *snapshot_get_bytes(struct snapshot_reader *r, size_t len)
{
	const uint8_t *at = r->p;

	if (r->failed || (size_t)(r->end - r->p) < len) {
		r->failed = 1;
		return NULL;
	}
	r->p += len;
	return at;
}

/* A length-prefixed string no longer than max. */
static struct store_bytes snapshot_get_string(struct snapshot_reader *r, int len_bytes,
    size_t min, size_t max)
{
	struct store_bytes s = { NULL, 0 };
	uint64_t len = snapshot_get_uint(r, len_bytes);

	if (len < min || len > max) {
		r->failed = 1;
		return s;
	}
	s.len = (size_t)len;
	s.ptr = (const char *)snapshot_get_bytes(r, s.len);
	if (s.ptr == NULL)
		s.len = 0;
	return s;
}

/* Responses copy the payload's type without escaping (it was checked on
 * the way in), so a file may not smuggle in anything else: letters, digits
 * and the given characters only. */
static int snapshot_all_of(struct store_bytes s, const char *extra)
{
	for (size_t i = 0; i < s.len; i++) {
		char c = s.ptr[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || (c != '\0' && strchr(extra, c) != NULL)))
			return 0;
	}
	return 1;
}

/* Limits in bytes: the spec's in code points, four bytes each at most. */
static int snapshot_get_token(struct snapshot_reader *r, struct store_bytes *type,
    struct store_bytes *data)
{
	uint64_t present = snapshot_get_uint(r, 1);

	type->ptr = data->ptr = NULL;
	type->len = data->len = 0;
	if (present > 1)
		r->failed = 1;
	if (present != 1)
		return 0;
	*type = snapshot_get_string(r, 2, 1, 4 * 128);
	*data = snapshot_get_string(r, 2, 1, 4 * 4096);
	return 1;
}

/* One mailbox into the store; 0, or -1 with err. */
static int snapshot_get_mailbox(struct snapshot_reader *r, struct store *store, int64_t now,
    size_t *loaded, char *err, size_t err_len)
{
	struct store_bytes receiver_type, receiver_data;
	const uint8_t *id, *sender, *receiver;
	struct mailbox_spec spec;
	uint64_t etag, records;
	enum store_result result;
	struct mailbox *mb;
	int bound, has_receiver_token;

	memset(&spec, 0, sizeof(spec));
	id = snapshot_get_bytes(r, MAILBOX_ID_LEN);
	sender = snapshot_get_bytes(r, MAILBOX_CLAIM_LEN);
	receiver = snapshot_get_bytes(r, MAILBOX_CLAIM_LEN);
	spec.rights = (uint8_t)snapshot_get_uint(r, 1);
	bound = (int)snapshot_get_uint(r, 1);
	spec.expires_at = (int64_t)snapshot_get_uint(r, 8);
	etag = snapshot_get_uint(r, 8);
	spec.payload_type = snapshot_get_string(r, 1, 1, 64);
	spec.payload_data = snapshot_get_string(r, 4, 1, UINT32_MAX);
	spec.title = snapshot_get_string(r, 2, 1, 4 * 256);
	spec.description = snapshot_get_string(r, 2, 0, 4 * 1024);
	spec.image_url = snapshot_get_string(r, 2, 8, 4 * 2048);
	snapshot_get_token(r, &spec.token_type, &spec.token_data);
	has_receiver_token = snapshot_get_token(r, &receiver_type, &receiver_data);
	records = snapshot_get_uint(r, 1);
	if (r->failed || spec.rights > 7 || spec.rights == 0 || bound > 1 || etag == 0 ||
	    (has_receiver_token && !bound) ||
	    !snapshot_all_of(spec.payload_type, "_.-"))
		goto damaged;
	memcpy(spec.sender_claim, sender, MAILBOX_CLAIM_LEN);
	if (spec.expires_at <= now) {
		/* Expired while the relay was down: skip it whole. */
		for (uint64_t i = 0; i < records; i++) {
			snapshot_get_bytes(r, MAILBOX_CLAIM_LEN + 2);
			snapshot_get_string(r, 1, 1, STORE_REQUEST_ID_MAX);
		}
		if (r->failed)
			goto damaged;
		return 0;
	}
	result = store_restore(store, &spec, id, etag, &mb);
	if (result == STORE_EXISTS)
		goto damaged;
	if (result != STORE_OK) {
		snprintf(err, err_len, "it holds more than --max-mailboxes or --max-memory allow");
		return -1;
	}
	if (bound)
		store_bind_receiver(store, mb, receiver);
	if (has_receiver_token) {
		struct mailbox_change change = {
			.token_type = receiver_type, .token_data = receiver_data,
			.token_party = MAILBOX_RECEIVER,
		};

		if (store_update(store, mb, &change) != STORE_OK) {
			snprintf(err, err_len, "it holds more than --max-memory allows");
			return -1;
		}
	}
	for (uint64_t i = 0; i < records; i++) {
		const uint8_t *claim = snapshot_get_bytes(r, MAILBOX_CLAIM_LEN);
		uint64_t op = snapshot_get_uint(r, 1), res = snapshot_get_uint(r, 1);
		struct store_bytes rid = snapshot_get_string(r, 1, 1, STORE_REQUEST_ID_MAX);

		if (r->failed || op < STORE_OP_CREATE || op > STORE_OP_RELINQUISH || res > 1)
			goto damaged;
		store_record_set(store, claim, mb, (enum store_op)op, (uint8_t)res, rid.ptr, rid.len);
	}
	(*loaded)++;
	return 0;
damaged:
	snprintf(err, err_len, "a mailbox record is malformed");
	return -1;
}

int snapshot_parse(struct store *store, const uint8_t *data, size_t len, int64_t now,
    size_t *loaded, char *err, size_t err_len)
{
	struct snapshot_reader r = { data, data + len, 0 }, tail;
	struct snapshot_crc *crc;
	uint64_t version, count, stored_crc;

	*loaded = 0;
	if (len < SNAPSHOT_HEADER_LEN + SNAPSHOT_CRC_LEN ||
	    memcmp(data, SNAPSHOT_MAGIC, SNAPSHOT_MAGIC_LEN) != 0) {
		snprintf(err, err_len, "it is not a relay state file (or is truncated)");
		return -1;
	}
	crc = malloc(sizeof(*crc));
	if (crc == NULL) {
		snprintf(err, err_len, "out of memory");
		return -1;
	}
	snapshot_crc_init(crc);
	snapshot_crc_add(crc, data, len - SNAPSHOT_CRC_LEN);
	r.end = data + len - SNAPSHOT_CRC_LEN;
	tail.p = r.end;
	tail.end = data + len;
	tail.failed = 0;
	stored_crc = snapshot_get_uint(&tail, 8);
	if (crc->value != stored_crc) {
		free(crc);
		snprintf(err, err_len, "its checksum does not match: the file is damaged or truncated");
		return -1;
	}
	free(crc);
	r.p = data + SNAPSHOT_MAGIC_LEN;
	version = snapshot_get_uint(&r, 4);
	if (version != SNAPSHOT_VERSION) {
		snprintf(err, err_len, "it is of format version %llu; this relay reads version %d",
		    (unsigned long long)version, SNAPSHOT_VERSION);
		return -1;
	}
	snapshot_get_uint(&r, 4);                       /* flags */
	snapshot_get_uint(&r, 8);                       /* written at */
	count = snapshot_get_uint(&r, 8);
	for (uint64_t i = 0; i < count; i++) {
		if (snapshot_get_mailbox(&r, store, now, loaded, err, err_len) != 0)
			return -1;
	}
	if (r.failed || r.p != r.end) {
		snprintf(err, err_len, "its length does not match its contents");
		return -1;
	}
	return 0;
}

int snapshot_load(struct store *store, const char *path, int64_t now, size_t *loaded,
    char *err, size_t err_len)
{
	uint8_t *data = NULL;
	struct stat st;
	size_t done = 0;
	int fd, r = -1;
	char why[256];

	*loaded = 0;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, err_len, "cannot read state file %s: %s", path, strerror(errno));
		goto done;
	}
	data = malloc(st.st_size > 0 ? (size_t)st.st_size : 1);
	if (data == NULL) {
		snprintf(err, err_len, "cannot read state file %s: out of memory", path);
		goto done;
	}
	while (done < (size_t)st.st_size) {
		ssize_t n = read(fd, data + done, (size_t)st.st_size - done);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			snprintf(err, err_len, "cannot read state file %s: %s", path,
			    n < 0 ? strerror(errno) : "it shrank while being read");
			goto done;
		}
		done += (size_t)n;
	}
	if (snapshot_parse(store, data, done, now, loaded, why, sizeof(why)) != 0) {
		snprintf(err, err_len, "state file %s is unusable: %s", path, why);
		goto done;
	}
	r = 0;
done:
	if (fd >= 0)
		close(fd);
	free(data);
	return r;
}
