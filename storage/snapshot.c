/*
 * snapshot.c — writing and loading store snapshots.
 *
 * Writing streams through stdio with the checksum kept as the bytes go; it
 * runs either in the parent at shutdown or in a forked child that owns a
 * copy-on-write image of the store (server/ decides which). Loading reads
 * the whole file, checks magic, version and checksum before looking at a
 * single mailbox, then holds every mailbox and retry record to the rules
 * the API holds requests to (storage/mailbox.h) while it rebuilds the
 * store: a checksum proves only that the file is whole, not who wrote it.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/fsync.h"
#include "storage/mailbox.h"
#include "storage/snapshot.h"

#define SNAPSHOT_MAGIC "RELAYSNP"
#define SNAPSHOT_MAGIC_LEN 8
#define SNAPSHOT_HEADER_LEN (SNAPSHOT_MAGIC_LEN + 4 + 4 + 8 + 8)
#define SNAPSHOT_CRC_LEN 8

/* The bytes of each string's length in the file. Each must count every
 * length the store field it comes from can hold, or a write would cut it. */
#define SNAPSHOT_PAYLOAD_TYPE_LEN 1
#define SNAPSHOT_PAYLOAD_DATA_LEN 4
#define SNAPSHOT_DISPLAY_LEN 2      /* title, description, image URL */
#define SNAPSHOT_TOKEN_LEN 2        /* a token's type and data */
#define SNAPSHOT_REQUEST_ID_LEN 1
#define SNAPSHOT_LEN_MAX(bytes) ((1ULL << (8 * (bytes))) - 1)
_Static_assert(STORE_PAYLOAD_TYPE_CAP <= SNAPSHOT_LEN_MAX(SNAPSHOT_PAYLOAD_TYPE_LEN) &&
    STORE_PAYLOAD_DATA_CAP <= SNAPSHOT_LEN_MAX(SNAPSHOT_PAYLOAD_DATA_LEN) &&
    STORE_TITLE_CAP <= SNAPSHOT_LEN_MAX(SNAPSHOT_DISPLAY_LEN) &&
    STORE_DESCRIPTION_CAP <= SNAPSHOT_LEN_MAX(SNAPSHOT_DISPLAY_LEN) &&
    STORE_IMAGE_URL_CAP <= SNAPSHOT_LEN_MAX(SNAPSHOT_DISPLAY_LEN) &&
    STORE_TOKEN_TYPE_CAP <= SNAPSHOT_LEN_MAX(SNAPSHOT_TOKEN_LEN) &&
    STORE_TOKEN_DATA_CAP <= SNAPSHOT_LEN_MAX(SNAPSHOT_TOKEN_LEN) &&
    STORE_REQUEST_ID_CAP <= SNAPSHOT_LEN_MAX(SNAPSHOT_REQUEST_ID_LEN),
    "the snapshot's lengths must count what the store holds");
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
	int failed;                 /* errno of the first failed write, or 0 */
};

static void snapshot_put(struct snapshot_writer *w, const void *bytes, size_t len)
{
	if (w->failed || len == 0)
		return;
	snapshot_crc_add(&w->crc, bytes, len);
	if (fwrite(bytes, 1, len, w->f) != len)
		w->failed = errno ? errno : EIO;
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
	snapshot_put_string(w, mailbox_token_type(t), t->type_len, SNAPSHOT_TOKEN_LEN);
	snapshot_put_string(w, mailbox_token_data(t), t->data_len, SNAPSHOT_TOKEN_LEN);
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
	snapshot_put_string(w, mailbox_payload_type(p), p->type_len, SNAPSHOT_PAYLOAD_TYPE_LEN);
	snapshot_put_string(w, mailbox_payload_data(p), p->data_len, SNAPSHOT_PAYLOAD_DATA_LEN);
	snapshot_put_string(w, mailbox_display_title(d), d->title_len, SNAPSHOT_DISPLAY_LEN);
	snapshot_put_string(w, mailbox_display_description(d), d->description_len,
	    SNAPSHOT_DISPLAY_LEN);
	snapshot_put_string(w, mailbox_display_image_url(d), d->image_url_len,
	    SNAPSHOT_DISPLAY_LEN);
	snapshot_put_token(w, mb->tokens[MAILBOX_SENDER]);
	snapshot_put_token(w, mb->tokens[MAILBOX_RECEIVER]);
	for (rec = mb->records; rec != NULL; rec = rec->mailbox_next)
		records++;
	snapshot_put_uint(w, records, 1);
	for (rec = mb->records; rec != NULL; rec = rec->mailbox_next) {
		snapshot_put(w, rec->node.key, MAILBOX_CLAIM_LEN);
		snapshot_put_uint(w, rec->op, 1);
		snapshot_put_uint(w, rec->result, 1);
		snapshot_put_string(w, rec->request_id, rec->request_id_len,
		    SNAPSHOT_REQUEST_ID_LEN);
	}
	w->count++;
}

static void snapshot_count_live(const struct mailbox *mb, void *arg)
{
	struct snapshot_writer *w = arg;

	if (mb->expiry.expires_at > w->now)
		w->count++;
}

int snapshot_temp_open(const char *path, struct snapshot_temp *temp, char *err,
    size_t err_len)
{
	temp->fd = fsync_temp_open(path, temp->path, sizeof(temp->path));
	if (temp->fd >= 0)
		return 0;
	snprintf(err, err_len, "cannot write %s: %s", path,
	    errno == EEXIST ? "every temporary name tried was taken" : strerror(errno));
	return -1;
}

void snapshot_temp_close(struct snapshot_temp *temp)
{
	if (temp->fd >= 0)
		close(temp->fd);
	temp->fd = -1;
}

void snapshot_temp_remove(struct snapshot_temp *temp)
{
	snapshot_temp_close(temp);
	unlink(temp->path);
}

int snapshot_write_temp(struct store *store, struct snapshot_temp *temp, const char *path,
    int64_t now, char *err, size_t err_len)
{
	struct snapshot_writer *w;
	int fd = temp->fd, saved;
	uint64_t count;

	temp->fd = -1;
	w = calloc(1, sizeof(*w));
	errno = ENOMEM;
	if (w == NULL || (w->f = fdopen(fd, "wb")) == NULL)
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
	errno = w->failed;
	if (w->failed || fflush(w->f) != 0 || fsync_replace(fd, temp->path, path) != 0)
		goto fail;
	/* On disk and in place: a failure to close can lose nothing now. */
	fclose(w->f);
	free(w);
	return 0;
fail:
	saved = errno;
	snprintf(err, err_len, "cannot write %s: %s", path, strerror(saved ? saved : EIO));
	if (w != NULL && w->f != NULL)
		fclose(w->f);
	else if (fd >= 0)
		close(fd);
	unlink(temp->path);
	free(w);
	return -1;
}

int snapshot_write(struct store *store, const char *path, int64_t now,
    char *err, size_t err_len)
{
	struct snapshot_temp temp;

	if (snapshot_temp_open(path, &temp, err, err_len) != 0)
		return -1;
	return snapshot_write_temp(store, &temp, path, now, err, err_len);
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

/* A length-prefixed string; the rules on its length are the API's, checked
 * with the rest of its mailbox. */
static struct store_bytes snapshot_get_string(struct snapshot_reader *r, int len_bytes)
{
	struct store_bytes s = { NULL, 0 };
	uint64_t len = snapshot_get_uint(r, len_bytes);

	s.ptr = (const char *)snapshot_get_bytes(r, (size_t)len);
	s.len = s.ptr == NULL ? 0 : (size_t)len;
	return s;
}

/* A notification token, or none (type.ptr NULL). */
static void snapshot_get_token(struct snapshot_reader *r, struct store_bytes *type,
    struct store_bytes *data)
{
	uint64_t present = snapshot_get_uint(r, 1);

	type->ptr = data->ptr = NULL;
	type->len = data->len = 0;
	if (present > 1)
		r->failed = 1;
	if (present != 1)
		return;
	*type = snapshot_get_string(r, SNAPSHOT_TOKEN_LEN);
	*data = snapshot_get_string(r, SNAPSHOT_TOKEN_LEN);
}

/* One mailbox as the file holds it, pointing into the file's bytes. */
struct snapshot_mailbox {
	const uint8_t *id, *receiver_claim;
	struct mailbox_spec spec;       /* the Sender's token in token_* */
	struct store_bytes receiver_token_type, receiver_token_data;
	uint64_t bound, etag, records;
};

/* A token, if there is one, as the API takes notificationToken. */
static const char *snapshot_check_token(struct store_bytes type, struct store_bytes data,
    const char *type_field, const char *data_field)
{
	if (type.ptr == NULL)
		return NULL;
	if (mailbox_check_token_type(type.ptr, type.len) != 0)
		return type_field;
	if (mailbox_check_token_data(data.ptr, data.len) != 0)
		return data_field;
	return NULL;
}

/* The first part of m that breaks a rule the API holds mailboxes to, by
 * name, or NULL. Only names: a log must never hold a claim, token or
 * payload. */
static const char *snapshot_check_mailbox(const struct snapshot_mailbox *m)
{
	const struct mailbox_spec *s = &m->spec;
	const char *token;

	if (mailbox_check_rights(s->rights) != 0)
		return "mailboxConfiguration.accessRights";
	if (mailbox_check_payload_type(s->payload_type.ptr, s->payload_type.len) != 0)
		return "payload.type";
	if (mailbox_check_payload_size(s->payload_type.ptr, s->payload_type.len,
	    s->payload_data.len) != 0)
		return "payload.data";
	if (mailbox_check_title(s->title.ptr, s->title.len) != 0)
		return "displayInformation.title";
	if (mailbox_check_description(s->description.ptr, s->description.len) != 0)
		return "displayInformation.description";
	if (mailbox_check_image_url(s->image_url.ptr, s->image_url.len) != 0)
		return "displayInformation.imageURL";
	token = snapshot_check_token(s->token_type, s->token_data,
	    "the Sender's notificationToken.type", "the Sender's notificationToken.tokenData");
	if (token == NULL)
		token = snapshot_check_token(m->receiver_token_type, m->receiver_token_data,
		    "the Receiver's notificationToken.type",
		    "the Receiver's notificationToken.tokenData");
	if (token != NULL)
		return token;
	if (m->receiver_token_type.ptr != NULL && !m->bound)
		return "the Receiver's notificationToken (no Receiver is bound)";
	/* The API never binds the Sender, nor anyone to a mailbox without R. */
	if (m->bound && store_claim_equal(m->receiver_claim, s->sender_claim))
		return "the Receiver's claim (it is the Sender's)";
	if (m->bound && !(s->rights & MAILBOX_READ))
		return "the Receiver's claim (the mailbox lacks R)";
	return NULL;
}

/* A retry record of m, checked as the API makes them: by whom each call
 * may have come. A record under another claim would answer that claim's
 * "retry" without the call's checks (a create's would hand it the link). */
static const char *snapshot_check_record(const struct snapshot_mailbox *m,
    const uint8_t *claim, uint64_t op, uint64_t result, struct store_bytes request_id)
{
	int sender = store_claim_equal(claim, m->spec.sender_claim);
	int receiver = m->bound && store_claim_equal(claim, m->receiver_claim);

	if (mailbox_check_request_id(request_id.ptr, request_id.len) != 0)
		return "Mailbox-Request-ID";
	if (op < STORE_OP_CREATE || op > STORE_OP_RELINQUISH)
		return "operation";
	if (result > 1 || (op == STORE_OP_RELINQUISH && result != 0))
		return "result";
	if ((op == STORE_OP_CREATE && !sender) ||
	    (op == STORE_OP_UPDATE && !sender && !(receiver && (m->spec.rights & MAILBOX_WRITE))) ||
	    (op == STORE_OP_RELINQUISH && sender))
		return "claim (not one that could have made this call)";
	return NULL;
}

static int snapshot_refuse(char *err, size_t err_len, uint64_t index, const char *field)
{
	snprintf(err, err_len, "mailbox record %llu breaks the API's rules: %s",
	    (unsigned long long)index, field);
	return -1;
}

static int snapshot_damaged(char *err, size_t err_len, uint64_t index)
{
	snprintf(err, err_len, "mailbox record %llu is malformed (damaged file?)",
	    (unsigned long long)index);
	return -1;
}

/* Mailbox number index into the store; 0, or -1 with err. */
static int snapshot_get_mailbox(struct snapshot_reader *r, struct store *store, uint64_t index,
    int64_t now, int64_t max_ttl, struct snapshot_loaded *loaded, char *err, size_t err_len)
{
	struct snapshot_mailbox m;
	const uint8_t *sender;
	enum store_result result;
	struct mailbox *mb = NULL;
	const char *bad;
	int live;

	memset(&m, 0, sizeof(m));
	m.id = snapshot_get_bytes(r, MAILBOX_ID_LEN);
	sender = snapshot_get_bytes(r, MAILBOX_CLAIM_LEN);
	m.receiver_claim = snapshot_get_bytes(r, MAILBOX_CLAIM_LEN);
	m.spec.rights = (uint8_t)snapshot_get_uint(r, 1);
	m.bound = snapshot_get_uint(r, 1);
	m.spec.expires_at = (int64_t)snapshot_get_uint(r, 8);
	m.etag = snapshot_get_uint(r, 8);
	m.spec.payload_type = snapshot_get_string(r, SNAPSHOT_PAYLOAD_TYPE_LEN);
	m.spec.payload_data = snapshot_get_string(r, SNAPSHOT_PAYLOAD_DATA_LEN);
	m.spec.title = snapshot_get_string(r, SNAPSHOT_DISPLAY_LEN);
	m.spec.description = snapshot_get_string(r, SNAPSHOT_DISPLAY_LEN);
	m.spec.image_url = snapshot_get_string(r, SNAPSHOT_DISPLAY_LEN);
	snapshot_get_token(r, &m.spec.token_type, &m.spec.token_data);
	snapshot_get_token(r, &m.receiver_token_type, &m.receiver_token_data);
	m.records = snapshot_get_uint(r, 1);
	if (r->failed || m.bound > 1 || m.etag == 0)
		return snapshot_damaged(err, err_len, index);
	memcpy(m.spec.sender_claim, sender, MAILBOX_CLAIM_LEN);
	bad = snapshot_check_mailbox(&m);
	if (bad != NULL)
		return snapshot_refuse(err, err_len, index, bad);
	/* Expired while the relay was down: checked like the rest, then left out. */
	live = m.spec.expires_at > now;
	if (live && m.spec.expires_at > now + max_ttl) {
		m.spec.expires_at = now + max_ttl;
		loaded->shortened++;
	}
	if (live) {
		result = store_restore(store, &m.spec, m.id, m.etag, &mb);
		if (result == STORE_EXISTS)
			return snapshot_refuse(err, err_len, index, "identifier (already used)");
		if (result != STORE_OK) {
			snprintf(err, err_len, "it holds more than --max-mailboxes or --max-memory allow");
			return -1;
		}
		if (m.bound)
			store_bind_receiver(store, mb, m.receiver_claim);
		if (m.receiver_token_type.ptr != NULL) {
			struct mailbox_change change = {
				.token_type = m.receiver_token_type,
				.token_data = m.receiver_token_data,
				.token_party = MAILBOX_RECEIVER,
			};

			if (store_update(store, mb, &change) != STORE_OK) {
				snprintf(err, err_len, "it holds more than --max-memory allows");
				return -1;
			}
		}
	}
	for (uint64_t i = 0; i < m.records; i++) {
		const uint8_t *claim = snapshot_get_bytes(r, MAILBOX_CLAIM_LEN);
		uint64_t op = snapshot_get_uint(r, 1), res = snapshot_get_uint(r, 1);
		struct store_bytes rid = snapshot_get_string(r, SNAPSHOT_REQUEST_ID_LEN);
		char field[96];

		if (r->failed)
			return snapshot_damaged(err, err_len, index);
		bad = snapshot_check_record(&m, claim, op, res, rid);
		if (bad != NULL) {
			snprintf(field, sizeof(field), "retry record %llu, %s",
			    (unsigned long long)i, bad);
			return snapshot_refuse(err, err_len, index, field);
		}
		if (live)
			store_record_set(store, claim, mb, (enum store_op)op, (uint8_t)res,
			    rid.ptr, rid.len);
	}
	if (live)
		loaded->mailboxes++;
	return 0;
}

int snapshot_parse(struct store *store, const uint8_t *data, size_t len, int64_t now,
    int64_t max_ttl, struct snapshot_loaded *loaded, char *err, size_t err_len)
{
	struct snapshot_reader r = { data, data + len, 0 }, tail;
	struct snapshot_crc *crc;
	uint64_t version, count, stored_crc;

	memset(loaded, 0, sizeof(*loaded));
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
		if (snapshot_get_mailbox(&r, store, i, now, max_ttl, loaded, err, err_len) != 0)
			return -1;
	}
	if (r.failed || r.p != r.end) {
		snprintf(err, err_len, "its length does not match its contents");
		return -1;
	}
	return 0;
}

int snapshot_load(struct store *store, const char *path, int64_t now, int64_t max_ttl,
    struct snapshot_loaded *loaded, char *err, size_t err_len)
{
	uint8_t *data = NULL;
	struct stat st;
	size_t done = 0;
	int fd, r = -1;
	char why[256];

	memset(loaded, 0, sizeof(*loaded));
	/* O_NONBLOCK: a FIFO planted at the path must not hang the start. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0 && errno == ENOENT)
		return 0;
	if (fd < 0 || fstat(fd, &st) != 0) {
		snprintf(err, err_len, "cannot read state file %s: %s", path, strerror(errno));
		goto done;
	}
	if (!S_ISREG(st.st_mode)) {
		snprintf(err, err_len, "state file %s is not a regular file", path);
		goto done;
	}
	/* What a full disk or an operator's `touch` leaves: no state, not a
	 * damaged one. */
	if (st.st_size == 0) {
		loaded->empty = 1;
		r = 0;
		goto done;
	}
	data = malloc((size_t)st.st_size);
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
	if (snapshot_parse(store, data, done, now, max_ttl, loaded, why, sizeof(why)) != 0) {
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
