/*
 * test_snapshot.c — snapshots keep every field, refuse damage, drop the
 * expired.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "storage/snapshot.h"

#define NOW 1800000000

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
	size_t loaded;

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
	CHECK_EQ_INT(snapshot_load(b, path, NOW, &loaded, err, sizeof(err)), 0);
	CHECK_EQ_INT(loaded, 2);

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
	CHECK_EQ_INT(snapshot_load(b, path, NOW + 61, &loaded, err, sizeof(err)), 0);
	CHECK_EQ_INT(loaded, 1);
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
	size_t len, loaded;
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
		CHECK_EQ_INT(snapshot_parse(b, data, len, NOW, &loaded, err, sizeof(err)), -1);
		CHECK(err[0] != '\0');
		data[i] ^= 0x20;
		store_free(b);
	}
	for (size_t cut = 0; cut < len; cut += 7) {
		unsigned c = 0;
		struct store *b = new_store(&c, 100);

		CHECK_EQ_INT(snapshot_parse(b, data, cut, NOW, &loaded, err, sizeof(err)), -1);
		store_free(b);
	}
	{
		unsigned c = 0;
		struct store *b = new_store(&c, 100);

		CHECK_EQ_INT(snapshot_parse(b, data, len, NOW, &loaded, err, sizeof(err)), 0);
		CHECK_EQ_INT(loaded, 5);
		store_free(b);
	}
	/* More than the limits allow: refused with a reason, not truncated. */
	{
		unsigned c = 0;
		struct store *b = new_store(&c, 3);

		CHECK_EQ_INT(snapshot_parse(b, data, len, NOW, &loaded, err, sizeof(err)), -1);
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
	size_t loaded = 99;

	make_path();
	CHECK_EQ_INT(snapshot_load(a, path, NOW, &loaded, err, sizeof(err)), 0);
	CHECK_EQ_INT(loaded, 0);
	err[0] = '\0';
	CHECK_EQ_INT(snapshot_write(a, "/nonexistent-dir/state", NOW, err, sizeof(err)), -1);
	CHECK(strstr(err, "/nonexistent-dir/state") != NULL);
	store_free(a);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_round_trip_keeps_everything);
	CHECK_RUN(test_damage_is_refused_whole);
	CHECK_RUN(test_missing_file_is_empty_and_unwritable_fails);
	return CHECK_SUMMARY();
}
