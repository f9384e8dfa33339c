/*
 * test_snapshot.c — snapshots keep every field, refuse damage and anything
 * the API would refuse, drop the expired, shorten the far-future, and never
 * write through a link planted beside the state file.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "storage/snapshot.h"

#define NOW 1800000000
#define MAX_TTL (7 * 86400)

static int test_random(void *ctx, unsigned char *out, size_t len)
{
	unsigned *counter = ctx;

	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(++*counter * 131 + i);
	return 0;
}

static struct store *new_store(unsigned *counter, size_t max_mailboxes)
{
	struct store_limits limits = { max_mailboxes, 64 << 20, 0 };

	return store_new(&limits, test_random, counter);
}

static struct store_bytes str(const char *s)
{
	struct store_bytes b = { s, strlen(s) };

	return b;
}

static struct mailbox *add(struct store *store, uint8_t claim_byte, int64_t expires_at)
{
	struct mailbox_spec spec;
	struct mailbox *mb = NULL;

	memset(&spec, 0, sizeof(spec));
	memset(spec.sender_claim, claim_byte, MAILBOX_CLAIM_LEN);
	spec.rights = MAILBOX_READ | MAILBOX_WRITE;
	spec.expires_at = expires_at;
	spec.payload_type = str("AEAD_AES_128_GCM");
	spec.payload_data = str("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==");
	spec.title = str("Front <door> & \"key\"");
	spec.description = str("");
	spec.image_url = str("https://example.com/i.png");
	spec.token_type = str("com.apple.apns");
	spec.token_data = str("sender-token");
	CHECK_EQ_INT(store_create(store, &spec, &mb), STORE_OK);
	return mb;
}

static char path[64];

static void make_path(void)
{
	snprintf(path, sizeof(path), "/tmp/relay-snapshot-%ld.bin", (long)getpid());
	unlink(path);
}

static void test_round_trip_keeps_everything(void)
{
	unsigned c1 = 0, c2 = 0;
	struct store *a = new_store(&c1, 100), *b = new_store(&c2, 100);
	uint8_t receiver[MAILBOX_CLAIM_LEN];
	struct mailbox_change change = { 0 };
	struct mailbox *m, *r;
	struct stat st;
	char err[256];
	struct snapshot_loaded loaded;

	make_path();
	m = add(a, 0x11, NOW + 3600);
	memset(receiver, 0x22, sizeof(receiver));
	store_bind_receiver(a, m, receiver);
	change.payload_type = str("AEAD_AES_256_GCM");
	change.payload_data = str("BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB");
	change.token_type = str("com.google.fcm");
	change.token_data = str("receiver-token");
	change.token_party = MAILBOX_RECEIVER;
	CHECK_EQ_INT(store_update(a, m, &change), STORE_OK);
	store_record_set(a, receiver, m, STORE_OP_UPDATE, 0, "req-7", 5);
	store_record_set(a, m->sender_claim, m, STORE_OP_CREATE, 1, "create-1", 8);
	add(a, 0x33, NOW + 60);
	add(a, 0x44, NOW - 1);      /* already expired: not written */

	CHECK_EQ_INT(snapshot_write(a, path, NOW, err, sizeof(err)), 0);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	CHECK_EQ_INT(snapshot_load(b, path, NOW, MAX_TTL, &loaded, err, sizeof(err)), 0);
	CHECK_EQ_INT(loaded.mailboxes, 2);

	r = store_get(b, mailbox_id(m), NOW);
	CHECK(r != NULL);
	if (r != NULL) {
		const struct store_record *rec;

		CHECK(memcmp(r->sender_claim, m->sender_claim, MAILBOX_CLAIM_LEN) == 0);
		CHECK(r->receiver_bound && memcmp(r->receiver_claim, receiver, MAILBOX_CLAIM_LEN) == 0);
		CHECK_EQ_INT(r->rights, MAILBOX_READ | MAILBOX_WRITE);
		CHECK_EQ_INT(r->etag, m->etag);
		CHECK_EQ_INT(r->expiry.expires_at, NOW + 3600);
		CHECK_EQ_INT(r->payload->data_len, 40);
		CHECK(memcmp(mailbox_payload_type(r->payload), "AEAD_AES_256_GCM", 16) == 0);
		CHECK_EQ_INT(r->display->title_len, m->display->title_len);
		CHECK(memcmp(mailbox_display_title(r->display), "Front <door>", 12) == 0);
		CHECK(r->tokens[MAILBOX_SENDER] != NULL && r->tokens[MAILBOX_RECEIVER] != NULL);
		CHECK(r->tokens[MAILBOX_RECEIVER] != NULL &&
		    memcmp(mailbox_token_data(r->tokens[MAILBOX_RECEIVER]), "receiver-token", 14) == 0);
		rec = store_record_find(b, receiver);
		CHECK(rec != NULL && rec->mailbox == r && rec->op == STORE_OP_UPDATE &&
		    rec->request_id_len == 5 && memcmp(rec->request_id, "req-7", 5) == 0);
		rec = store_record_find(b, m->sender_claim);
		CHECK(rec != NULL && rec->op == STORE_OP_CREATE && rec->result == 1);
	}
	CHECK_EQ_INT(store_stats(b).mailboxes, 2);
	CHECK_EQ_INT(store_stats(b).records, 2);
	/* Later than the second one's expiry: only the first comes back. */
	store_free(b);
	c2 = 0;
	b = new_store(&c2, 100);
	CHECK_EQ_INT(snapshot_load(b, path, NOW + 61, MAX_TTL, &loaded, err, sizeof(err)), 0);
	CHECK_EQ_INT(loaded.mailboxes, 1);
	store_free(a);
	store_free(b);
	unlink(path);
}

static uint8_t *read_all(size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *data = malloc(1 << 20);

	*len = fread(data, 1, 1 << 20, f);
	fclose(f);
	return data;
}

static void test_damage_is_refused_whole(void)
{
	unsigned c1 = 0;
	struct store *a = new_store(&c1, 100);
	char err[256];
	size_t len;
	struct snapshot_loaded loaded;
	uint8_t *data;

	make_path();
	for (int i = 0; i < 5; i++)
		add(a, (uint8_t)(0x50 + i), NOW + 3600);
	CHECK_EQ_INT(snapshot_write(a, path, NOW, err, sizeof(err)), 0);
	data = read_all(&len);
	CHECK(len > 100);
	/* Every flipped byte, every truncation: refused, store left empty or
	 * to be discarded, never a crash. */
	for (size_t i = 0; i < len; i += 3) {
		unsigned c = 0;
		struct store *b = new_store(&c, 100);

		data[i] ^= 0x20;
		err[0] = '\0';
		CHECK_EQ_INT(snapshot_parse(b, data, len, NOW, MAX_TTL, &loaded, err, sizeof(err)), -1);
		CHECK(err[0] != '\0');
		data[i] ^= 0x20;
		store_free(b);
	}
	for (size_t cut = 0; cut < len; cut += 7) {
		unsigned c = 0;
		struct store *b = new_store(&c, 100);

		CHECK_EQ_INT(snapshot_parse(b, data, cut, NOW, MAX_TTL, &loaded, err, sizeof(err)), -1);
		store_free(b);
	}
	{
		unsigned c = 0;
		struct store *b = new_store(&c, 100);

		CHECK_EQ_INT(snapshot_parse(b, data, len, NOW, MAX_TTL, &loaded, err, sizeof(err)), 0);
		CHECK_EQ_INT(loaded.mailboxes, 5);
		store_free(b);
	}
	/* More than the limits allow: refused with a reason, not truncated. */
	{
		unsigned c = 0;
		struct store *b = new_store(&c, 3);

		CHECK_EQ_INT(snapshot_parse(b, data, len, NOW, MAX_TTL, &loaded, err, sizeof(err)), -1);
		CHECK(strstr(err, "max-mailboxes") != NULL);
		store_free(b);
	}
	free(data);
	store_free(a);
	unlink(path);
}

static void test_missing_file_is_empty_and_unwritable_fails(void)
{
	unsigned c = 0;
	struct store *a = new_store(&c, 100);
	char err[256];
	struct snapshot_loaded loaded = { 99, 99, 99 };
	int fd;

	make_path();
	CHECK_EQ_INT(snapshot_load(a, path, NOW, MAX_TTL, &loaded, err, sizeof(err)), 0);
	CHECK_EQ_INT(loaded.mailboxes, 0);
	CHECK_EQ_INT(loaded.empty, 0);
	/* An empty file is no state, and says so; a FIFO is refused at once. */
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	CHECK(fd >= 0);
	if (fd >= 0)
		close(fd);
	CHECK_EQ_INT(snapshot_load(a, path, NOW, MAX_TTL, &loaded, err, sizeof(err)), 0);
	CHECK_EQ_INT(loaded.mailboxes, 0);
	CHECK_EQ_INT(loaded.empty, 1);
	unlink(path);
	CHECK_EQ_INT(mkfifo(path, 0600), 0);
	CHECK_EQ_INT(snapshot_load(a, path, NOW, MAX_TTL, &loaded, err, sizeof(err)), -1);
	CHECK(strstr(err, "not a regular file") != NULL);
	unlink(path);
	err[0] = '\0';
	CHECK_EQ_INT(snapshot_write(a, "/nonexistent-dir/state", NOW, err, sizeof(err)), -1);
	CHECK(strstr(err, "/nonexistent-dir/state") != NULL);
	store_free(a);
}

/* --- a state file holds nothing the API would refuse -------------------- */

static uint8_t other_claim[MAILBOX_CLAIM_LEN] = { 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77,
    0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77, 0x77 };
static char long_text[4 * 4200];

/* One way of breaking one rule: spec changes the new mailbox's contents,
 * after changes it once it is in the store (the store itself checks
 * nothing: that is the API's job, and now the loader's). */
struct bad_case {
	const char *what;
	const char *field;              /* what the refusal must name */
	void (*spec)(struct mailbox_spec *spec);
	void (*after)(struct store *store, struct mailbox *mb);
};

static struct store_bytes text(const char *s, size_t len)
{
	struct store_bytes b = { s, len };

	return b;
}

static void title_not_utf8(struct mailbox_spec *s) { s->title = str("SECRET \xc3\x28"); }
static void title_nul(struct mailbox_spec *s) { s->title = text("SECRET\0x", 8); }
static void title_empty(struct mailbox_spec *s) { s->title = str(""); }
static void title_long(struct mailbox_spec *s) { s->title = text(long_text, 257); }
static void title_surrogate(struct mailbox_spec *s) { s->title = str("SECRET\xed\xa0\x80"); }
static void description_overlong(struct mailbox_spec *s) { s->description = str("SECRET\xc0\xaf"); }
static void description_long(struct mailbox_spec *s) { s->description = text(long_text, 1025); }
static void url_javascript(struct mailbox_spec *s) { s->image_url = str("javascript:alert(1)"); }
static void url_http(struct mailbox_spec *s) { s->image_url = str("http://example.com/SECRET"); }
static void url_long(struct mailbox_spec *s)
{
	memcpy(long_text, "https://", 8);
	s->image_url = text(long_text, 2049);
}
static void url_not_utf8(struct mailbox_spec *s) { s->image_url = str("https://SECRET\xff"); }
static void type_charset(struct mailbox_spec *s) { s->payload_type = str("a\"b"); }
static void type_empty(struct mailbox_spec *s) { s->payload_type = str(""); }
static void type_long(struct mailbox_spec *s) { s->payload_type = text(long_text, 65); }
static void data_short_aead(struct mailbox_spec *s) { s->payload_data = text(long_text, 27); }
static void data_empty(struct mailbox_spec *s) { s->payload_data = str(""); }
static void rights_none(struct mailbox_spec *s) { s->rights = 0; }
static void rights_extra(struct mailbox_spec *s) { s->rights = 0x0f; }
static void token_type_empty(struct mailbox_spec *s) { s->token_type = str(""); }
static void token_data_long(struct mailbox_spec *s) { s->token_data = text(long_text, 4097); }
static void token_data_not_utf8(struct mailbox_spec *s) { s->token_data = str("SECRET\x80"); }
static void rights_write_delete(struct mailbox_spec *s) { s->rights = MAILBOX_WRITE | MAILBOX_DELETE; }

static void bind_other(struct store *store, struct mailbox *mb)
{
	store_bind_receiver(store, mb, other_claim);
}

static void bind_sender(struct store *store, struct mailbox *mb)
{
	uint8_t sender[MAILBOX_CLAIM_LEN];

	memcpy(sender, mb->sender_claim, sizeof(sender));
	store_bind_receiver(store, mb, sender);
}

static void receiver_token(struct store *store, struct mailbox *mb, struct store_bytes type,
    struct store_bytes data)
{
	struct mailbox_change change = { 0 };

	change.token_type = type;
	change.token_data = data;
	change.token_party = MAILBOX_RECEIVER;
	CHECK_EQ_INT(store_update(store, mb, &change), STORE_OK);
}

static void unbound_receiver_token(struct store *store, struct mailbox *mb)
{
	receiver_token(store, mb, str("com.google.fcm"), str("SECRET"));
}

static void receiver_token_type_long(struct store *store, struct mailbox *mb)
{
	bind_other(store, mb);
	receiver_token(store, mb, text(long_text, 129), str("SECRET"));
}

static void receiver_token_data_empty(struct store *store, struct mailbox *mb)
{
	bind_other(store, mb);
	receiver_token(store, mb, str("com.google.fcm"), str(""));
}

static void record(struct store *store, struct mailbox *mb, const uint8_t *claim, int op,
    int result, const char *request_id)
{
	store_record_set(store, claim, mb, (enum store_op)op, (uint8_t)result, request_id,
	    strlen(request_id));
}

static void record_id_space(struct store *store, struct mailbox *mb)
{
	record(store, mb, mb->sender_claim, STORE_OP_CREATE, 1, "SECRET id");
}

static void record_id_utf8(struct store *store, struct mailbox *mb)
{
	record(store, mb, mb->sender_claim, STORE_OP_UPDATE, 0, "SECRET\xc3\xa9");
}

static void record_op_unknown(struct store *store, struct mailbox *mb)
{
	record(store, mb, mb->sender_claim, 4, 0, "r1");
}

static void record_op_zero(struct store *store, struct mailbox *mb)
{
	record(store, mb, mb->sender_claim, 0, 0, "r1");
}

static void record_result_two(struct store *store, struct mailbox *mb)
{
	record(store, mb, mb->sender_claim, STORE_OP_CREATE, 2, "r1");
}

static void record_relinquish_result(struct store *store, struct mailbox *mb)
{
	record(store, mb, other_claim, STORE_OP_RELINQUISH, 1, "r1");
}

static void record_create_by_stranger(struct store *store, struct mailbox *mb)
{
	record(store, mb, other_claim, STORE_OP_CREATE, 1, "r1");
}

static void record_update_by_stranger(struct store *store, struct mailbox *mb)
{
	record(store, mb, other_claim, STORE_OP_UPDATE, 1, "r1");
}

static void record_update_by_receiver_without_w(struct store *store, struct mailbox *mb)
{
	bind_other(store, mb);
	record(store, mb, other_claim, STORE_OP_UPDATE, 1, "r1");
}

static void record_relinquish_by_sender(struct store *store, struct mailbox *mb)
{
	record(store, mb, mb->sender_claim, STORE_OP_RELINQUISH, 0, "r1");
}

static const struct bad_case bad_cases[] = {
	{ "title not UTF-8", "displayInformation.title", title_not_utf8, NULL },
	{ "title with NUL", "displayInformation.title", title_nul, NULL },
	{ "title with a surrogate", "displayInformation.title", title_surrogate, NULL },
	{ "title empty", "displayInformation.title", title_empty, NULL },
	{ "title of 257", "displayInformation.title", title_long, NULL },
	{ "description overlong UTF-8", "displayInformation.description", description_overlong, NULL },
	{ "description of 1025", "displayInformation.description", description_long, NULL },
	{ "imageURL javascript:", "displayInformation.imageURL", url_javascript, NULL },
	{ "imageURL http://", "displayInformation.imageURL", url_http, NULL },
	{ "imageURL of 2049", "displayInformation.imageURL", url_long, NULL },
	{ "imageURL not UTF-8", "displayInformation.imageURL", url_not_utf8, NULL },
	{ "payload.type quote", "payload.type", type_charset, NULL },
	{ "payload.type empty", "payload.type", type_empty, NULL },
	{ "payload.type of 65", "payload.type", type_long, NULL },
	{ "AEAD data of 27 bytes", "payload.data", data_short_aead, NULL },
	{ "payload.data empty", "payload.data", data_empty, NULL },
	{ "no rights", "mailboxConfiguration.accessRights", rights_none, NULL },
	{ "rights beyond RWD", "mailboxConfiguration.accessRights", rights_extra, NULL },
	{ "Sender token type empty", "the Sender's notificationToken.type", token_type_empty, NULL },
	{ "Sender token data of 4097", "the Sender's notificationToken.tokenData", token_data_long,
	    NULL },
	{ "Sender token data not UTF-8", "the Sender's notificationToken.tokenData",
	    token_data_not_utf8, NULL },
	{ "Receiver is the Sender", "the Receiver's claim", NULL, bind_sender },
	{ "Receiver bound without R", "the Receiver's claim", rights_write_delete, bind_other },
	{ "Receiver token, nobody bound", "the Receiver's notificationToken", NULL,
	    unbound_receiver_token },
	{ "Receiver token type of 129", "the Receiver's notificationToken.type", NULL,
	    receiver_token_type_long },
	{ "Receiver token data empty", "the Receiver's notificationToken.tokenData", NULL,
	    receiver_token_data_empty },
	{ "request id with a space", "retry record 0, Mailbox-Request-ID", NULL, record_id_space },
	{ "request id not ASCII", "retry record 0, Mailbox-Request-ID", NULL, record_id_utf8 },
	{ "record of operation 4", "retry record 0, operation", NULL, record_op_unknown },
	{ "record of operation 0", "retry record 0, operation", NULL, record_op_zero },
	{ "record result 2", "retry record 0, result", NULL, record_result_two },
	{ "relinquish result 1", "retry record 0, result", NULL, record_relinquish_result },
	{ "create by another claim", "retry record 0, claim", NULL, record_create_by_stranger },
	{ "update by a stranger", "retry record 0, claim", NULL, record_update_by_stranger },
	{ "update by a Receiver without W", "retry record 0, claim", NULL,
	    record_update_by_receiver_without_w },
	{ "relinquish by the Sender", "retry record 0, claim", NULL, record_relinquish_by_sender },
};

struct find_arg {
	const struct mailbox *wanted;
	int index, found;
};

static void find_index(const struct mailbox *mb, void *arg)
{
	struct find_arg *f = arg;

	if (mb == f->wanted)
		f->found = f->index;
	f->index++;
}

/* The store's order is the file's: where mb went. */
static int file_index(struct store *store, const struct mailbox *mb)
{
	struct find_arg f = { mb, 0, -1 };

	store_iterate(store, find_index, &f);
	return f.found;
}

/* A file with three good mailboxes and the bad one, written by the relay's
 * own writer (so its checksum is right): refused, naming the record and the
 * field, never a value. bad_expires_at lets the bad one be expired at load. */
static void check_refused(const struct bad_case *c, int64_t bad_expires_at, int64_t load_at)
{
	unsigned c1 = 0, c2 = 0;
	struct store *a = new_store(&c1, 100), *b = new_store(&c2, 100);
	struct snapshot_loaded loaded;
	struct mailbox_spec spec;
	struct mailbox *mb = NULL;
	char err[256], want[160];
	int index;

	make_path();
	add(a, 0x31, NOW + 4 * 3600);
	memset(&spec, 0, sizeof(spec));
	memset(spec.sender_claim, 0x42, MAILBOX_CLAIM_LEN);
	spec.rights = MAILBOX_READ | MAILBOX_DELETE;
	spec.expires_at = bad_expires_at;
	spec.payload_type = str("AEAD_AES_128_GCM");
	spec.payload_data = text(long_text, 28);
	spec.title = str("a title");
	spec.description = str("");
	spec.image_url = str("https://example.com/i.png");
	spec.token_type = str("com.apple.apns");
	spec.token_data = str("SECRET token");
	if (c->spec != NULL)
		c->spec(&spec);
	CHECK_EQ_INT(store_create(a, &spec, &mb), STORE_OK);
	if (mb != NULL && c->after != NULL)
		c->after(a, mb);
	add(a, 0x32, NOW + 4 * 3600);
	add(a, 0x33, NOW + 4 * 3600);
	index = file_index(a, mb);
	CHECK_EQ_INT(snapshot_write(a, path, NOW, err, sizeof(err)), 0);
	err[0] = '\0';
	if (snapshot_load(b, path, load_at, MAX_TTL, &loaded, err, sizeof(err)) != -1) {
		printf("    %s: loaded\n", c->what);
		CHECK(0);
	}
	snprintf(want, sizeof(want), "mailbox record %d breaks the API's rules: %s", index,
	    c->field);
	if (strstr(err, want) == NULL || strstr(err, "SECRET") != NULL ||
	    strstr(err, "javascript") != NULL || strchr(err, '\n') != NULL) {
		printf("    %s: \"%s\", expected it to name \"%s\" and no value\n", c->what, err,
		    want);
		CHECK(0);
	}
	store_free(a);
	store_free(b);
	unlink(path);
}

static void test_every_rule_of_the_api_holds_for_the_file(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		memset(long_text, 'a', sizeof(long_text));
		check_refused(&bad_cases[i], NOW + 3600, NOW);
	}
}

/* A mailbox that expired while the relay was down is left out, but a
 * broken one still says the file is not the relay's. */
static void test_expired_records_are_checked_too(void)
{
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		if (strcmp(bad_cases[i].what, "imageURL javascript:") == 0 ||
		    strcmp(bad_cases[i].what, "create by another claim") == 0) {
			memset(long_text, 'a', sizeof(long_text));
			check_refused(&bad_cases[i], NOW + 60, NOW + 120);
		}
	}
}

static void test_far_future_expiry_is_shortened_to_max_ttl(void)
{
	unsigned c1 = 0, c2 = 0;
	struct store *a = new_store(&c1, 100), *b = new_store(&c2, 100);
	struct snapshot_loaded loaded;
	struct mailbox *far, *edge, *past, *near, *r;
	char err[256];

	make_path();
	far = add(a, 0x61, (int64_t)1 << 62);
	past = add(a, 0x62, NOW + MAX_TTL + 1);
	edge = add(a, 0x63, NOW + MAX_TTL);
	near = add(a, 0x64, NOW + 60);
	CHECK_EQ_INT(snapshot_write(a, path, NOW, err, sizeof(err)), 0);
	CHECK_EQ_INT(snapshot_load(b, path, NOW, MAX_TTL, &loaded, err, sizeof(err)), 0);
	CHECK_EQ_INT(loaded.mailboxes, 4);
	CHECK_EQ_INT(loaded.shortened, 2);
	r = store_get(b, mailbox_id(far), NOW);
	CHECK(r != NULL && r->expiry.expires_at == NOW + MAX_TTL);
	r = store_get(b, mailbox_id(past), NOW);
	CHECK(r != NULL && r->expiry.expires_at == NOW + MAX_TTL);
	r = store_get(b, mailbox_id(edge), NOW);
	CHECK(r != NULL && r->expiry.expires_at == NOW + MAX_TTL);
	r = store_get(b, mailbox_id(near), NOW);
	CHECK(r != NULL && r->expiry.expires_at == NOW + 60);
	/* The shortened ones really go at their new instant. */
	CHECK_EQ_INT(store_expire(b, NOW + MAX_TTL - 1, 100), 1);
	CHECK_EQ_INT(store_expire(b, NOW + MAX_TTL, 100), 3);
	CHECK_EQ_INT(store_stats(b).mailboxes, 0);
	store_free(a);
	store_free(b);
	unlink(path);
}

/* --- the temporary file: never through a link, never a guessable name --- */

static char dir[64], state[128];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/relay-snapdir-XXXXXX");
	CHECK(mkdtemp(dir) != NULL);
	snprintf(state, sizeof(state), "%s/relay.state", dir);
}

/* Files in dir other than the state file and the names given. */
static int others_in_dir(const char *except1, const char *except2)
{
	char cmd[256];
	int n = 0;
	FILE *ls;

	snprintf(cmd, sizeof(cmd), "ls -A %s", dir);
	ls = popen(cmd, "r");
	if (ls == NULL)
		return -1;
	while (fgets(cmd, sizeof(cmd), ls) != NULL) {
		cmd[strcspn(cmd, "\n")] = '\0';
		if (strcmp(cmd, "relay.state") != 0 && (except1 == NULL || strcmp(cmd, except1) != 0) &&
		    (except2 == NULL || strcmp(cmd, except2) != 0))
			n++;
	}
	pclose(ls);
	return n;
}

static void remove_dir(void)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	CHECK_EQ_INT(system(cmd), 0);
}

static int file_is(const char *name, const char *content)
{
	char buf[64];
	FILE *f = fopen(name, "rb");
	size_t n;

	if (f == NULL)
		return 0;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	return n == strlen(content) && memcmp(buf, content, n) == 0;
}

static void test_a_planted_link_is_never_written_through(void)
{
	unsigned c = 0;
	struct store *a = new_store(&c, 100);
	char victim[160], link_name[200], target[160], err[256];
	struct stat st;
	ssize_t n;
	FILE *f;

	make_dir();
	add(a, 0x71, NOW + 3600);
	/* The victim is a file the relay's user may write, somewhere else. */
	snprintf(victim, sizeof(victim), "%s-victim", dir);
	f = fopen(victim, "w");
	CHECK(f != NULL);
	if (f != NULL) {
		fputs("precious", f);
		fclose(f);
	}
	chmod(victim, 0644);
	/* At the name the relay used to take, <state>.tmp.<pid>. */
	snprintf(link_name, sizeof(link_name), "%s.tmp.%ld", state, (long)getpid());
	CHECK_EQ_INT(symlink(victim, link_name), 0);
	CHECK_EQ_INT(snapshot_write(a, state, NOW, err, sizeof(err)), 0);
	CHECK(file_is(victim, "precious"));
	CHECK_EQ_INT(stat(victim, &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0644);
	/* The link is still the attacker's link, and the state file a file. */
	n = readlink(link_name, target, sizeof(target) - 1);
	CHECK(n > 0 && (size_t)n == strlen(victim) && memcmp(target, victim, (size_t)n) == 0);
	CHECK_EQ_INT(lstat(state, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	CHECK_EQ_INT(others_in_dir(strrchr(link_name, '/') + 1, NULL), 0);
	store_free(a);
	unlink(victim);
	remove_dir();
}

static void test_temporary_names_are_random_and_exclusive(void)
{
	struct snapshot_temp t1, t2;
	char err[256], old_name[200];
	size_t prefix;
	struct stat st;
	mode_t old_mask;

	make_dir();
	snprintf(old_name, sizeof(old_name), "%s.tmp.%ld", state, (long)getpid());
	prefix = strlen(state) + strlen(".tmp.");
	/* umask 0 would leave whatever mode open() is given: still 0600. */
	old_mask = umask(0);
	CHECK_EQ_INT(snapshot_temp_open(state, &t1, err, sizeof(err)), 0);
	CHECK_EQ_INT(snapshot_temp_open(state, &t2, err, sizeof(err)), 0);
	umask(old_mask);
	CHECK(strcmp(t1.path, t2.path) != 0);
	CHECK(strcmp(t1.path, old_name) != 0 && strcmp(t2.path, old_name) != 0);
	/* Beside the state file, with 64 random bits in hex. */
	CHECK(strncmp(t1.path, state, strlen(state)) == 0 && strlen(t1.path) == prefix + 16);
	CHECK_EQ_INT(fstat(t1.fd, &st), 0);
	CHECK(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
	CHECK_EQ_INT(lstat(t2.path, &st), 0);
	CHECK(S_ISREG(st.st_mode) && (st.st_mode & 0777) == 0600);
	CHECK(fcntl(t1.fd, F_GETFD) & FD_CLOEXEC);
	/* Closed, the name is kept for removing the file later. */
	snapshot_temp_close(&t1);
	CHECK_EQ_INT(t1.fd, -1);
	CHECK_EQ_INT(lstat(t1.path, &st), 0);
	snapshot_temp_remove(&t1);
	snapshot_temp_remove(&t2);
	CHECK(lstat(t1.path, &st) != 0 && errno == ENOENT);
	CHECK(lstat(t2.path, &st) != 0 && errno == ENOENT);
	remove_dir();
}

static void test_whole_write_makes_0600_under_umask_0(void)
{
	unsigned c = 0;
	struct store *a = new_store(&c, 100);
	char err[256];
	struct stat st;
	mode_t old_mask;
	FILE *f;

	make_dir();
	add(a, 0x72, NOW + 3600);
	/* A state file another tool left readable to all is replaced, not
	 * rewritten in place: it comes back 0600. */
	f = fopen(state, "w");
	if (f != NULL)
		fclose(f);
	chmod(state, 0666);
	old_mask = umask(0);
	CHECK_EQ_INT(snapshot_write(a, state, NOW, err, sizeof(err)), 0);
	umask(old_mask);
	CHECK_EQ_INT(lstat(state, &st), 0);
	CHECK(S_ISREG(st.st_mode));
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	CHECK_EQ_INT(others_in_dir(NULL, NULL), 0);
	store_free(a);
	remove_dir();
}

/* A write that fails half way leaves the old state file as it was and no
 * temporary file behind. */
static void test_failed_write_leaves_old_state_and_no_temporary(void)
{
	unsigned c = 0;
	struct store *a = new_store(&c, 100);
	struct rlimit old_limit, small;
	void (*old_handler)(int);
	char err[256], blocker[160];
	FILE *f;

	make_dir();
	for (int i = 0; i < 10; i++)
		add(a, (uint8_t)(0x80 + i), NOW + 3600);
	f = fopen(state, "w");
	if (f != NULL) {
		fputs("old state", f);
		fclose(f);
	}
	/* The file may not grow past 512 bytes: the write fails with EFBIG. */
	CHECK_EQ_INT(getrlimit(RLIMIT_FSIZE, &old_limit), 0);
	small = old_limit;
	small.rlim_cur = 512;
	old_handler = signal(SIGXFSZ, SIG_IGN);
	CHECK_EQ_INT(setrlimit(RLIMIT_FSIZE, &small), 0);
	err[0] = '\0';
	CHECK_EQ_INT(snapshot_write(a, state, NOW, err, sizeof(err)), -1);
	setrlimit(RLIMIT_FSIZE, &old_limit);
	signal(SIGXFSZ, old_handler);
	CHECK(strstr(err, state) != NULL);
	CHECK(file_is(state, "old state"));
	CHECK_EQ_INT(others_in_dir(NULL, NULL), 0);
	/* The rename fails (a directory is in the way): the same. */
	snprintf(blocker, sizeof(blocker), "%s/blocker", dir);
	CHECK_EQ_INT(mkdir(blocker, 0700), 0);
	snprintf(err, sizeof(err), "%s/blocker/x", dir);
	CHECK_EQ_INT(mkdir(err, 0700), 0);
	CHECK_EQ_INT(snapshot_write(a, blocker, NOW, err, sizeof(err)), -1);
	CHECK_EQ_INT(others_in_dir("blocker", NULL), 0);
	store_free(a);
	remove_dir();
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_round_trip_keeps_everything);
	CHECK_RUN(test_damage_is_refused_whole);
	CHECK_RUN(test_missing_file_is_empty_and_unwritable_fails);
	CHECK_RUN(test_every_rule_of_the_api_holds_for_the_file);
	CHECK_RUN(test_expired_records_are_checked_too);
	CHECK_RUN(test_far_future_expiry_is_shortened_to_max_ttl);
	CHECK_RUN(test_a_planted_link_is_never_written_through);
	CHECK_RUN(test_temporary_names_are_random_and_exclusive);
	CHECK_RUN(test_whole_write_makes_0600_under_umask_0);
	CHECK_RUN(test_failed_write_leaves_old_state_and_no_temporary);
	return CHECK_SUMMARY();
}
