/*
 * test_client.c — the client's encryption (known answers), Share URLs,
 * device state file, and its check of an IP address host against a
 * certificate's names.
 *
 * The expected `data` strings below were computed independently, with
 * Python's cryptography package (AESGCM), from the same key, IV and
 * plaintext; the README's worked example quotes the first one.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "check.h"
#include "client/https.h"
#include "client/seal.h"
#include "client/share.h"
#include "client/state.h"
#include "lib/base64.h"

static const char kat_plaintext[] = "{\"format\":\"generic\",\"content\":{\"door\":\"front\"}}";

static void kat_key_iv(uint8_t *key, size_t key_len, uint8_t iv[SEAL_IV_LEN])
{
	for (size_t i = 0; i < key_len; i++)
		key[i] = (uint8_t)i;
	for (int i = 0; i < SEAL_IV_LEN; i++)
		iv[i] = (uint8_t)(0xa0 + i);
}

static char *kat_data(size_t key_len)
{
	uint8_t key[32], iv[SEAL_IV_LEN], out[sizeof(kat_plaintext) - 1 + SEAL_OVERHEAD];
	char *data;

	kat_key_iv(key, key_len, iv);
	if (seal_encrypt(key, key_len, iv, (const uint8_t *)kat_plaintext,
	    sizeof(kat_plaintext) - 1, out) != 0 ||
	    (data = malloc(BASE64_ENCODED_LEN(sizeof(out)) + 1)) == NULL)
		return NULL;
	data[base64_encode(BASE64_STD, out, sizeof(out), data)] = '\0';
	return data;
}

static void test_known_answer_aes128(void)
{
	char *data = kat_data(16);
	uint8_t key[16], iv[SEAL_IV_LEN];
	char secret[32];

	CHECK_EQ_STR(data, "oKGio6Slpqeoqaqr0aRe1AzkUn6oQpdnI3zVEjqNASShdFLBUXUf72C39Ir+zCpDLdD"
	    "OCw2xjLCNpnT57AxMTByWUAsVsKLdZ2zA");
	free(data);
	kat_key_iv(key, sizeof(key), iv);
	secret[base64_encode(BASE64_URL, key, sizeof(key), secret)] = '\0';
	CHECK_EQ_STR(secret, "AAECAwQFBgcICQoLDA0ODw");
	CHECK_EQ_STR(seal_type(16), "AEAD_AES_128_GCM");
}

static void test_known_answer_aes256(void)
{
	char *data = kat_data(32);
	uint8_t key[32], iv[SEAL_IV_LEN];
	char secret[64];

	CHECK_EQ_STR(data, "oKGio6SlpqeoqaqrnToaQjemY8tAX6W0YhSlrBnPezyw1C0C6GtI8l2RDiO2GSiNjRh"
	    "xWy3zarwrB/5UWw05LDTQgZpJTR2dFs9b");
	free(data);
	kat_key_iv(key, sizeof(key), iv);
	secret[base64_encode(BASE64_URL, key, sizeof(key), secret)] = '\0';
	CHECK_EQ_STR(secret, "AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8");
	CHECK_EQ_STR(seal_type(32), "AEAD_AES_256_GCM");
	CHECK_EQ_INT(seal_key_len("AEAD_AES_256_GCM"), 32);
	CHECK_EQ_INT(seal_key_len("AEAD_CHACHA20_POLY1305"), 0);
}

static void test_decrypt_round_trip_and_tampering(void)
{
	uint8_t key[16], iv[SEAL_IV_LEN], sealed[sizeof(kat_plaintext) - 1 + SEAL_OVERHEAD];
	uint8_t plain[sizeof(sealed)];
	size_t len = sizeof(sealed);

	kat_key_iv(key, sizeof(key), iv);
	CHECK_EQ_INT(seal_encrypt(key, 16, iv, (const uint8_t *)kat_plaintext, len - SEAL_OVERHEAD,
	    sealed), 0);
	CHECK_EQ_INT(seal_decrypt(key, 16, sealed, len, plain), 0);
	CHECK(memcmp(plain, kat_plaintext, len - SEAL_OVERHEAD) == 0);
	/* Any flipped bit, in IV, ciphertext or tag, fails verification. */
	for (size_t i = 0; i < len; i += 7) {
		sealed[i] ^= 0x01;
		CHECK_EQ_INT(seal_decrypt(key, 16, sealed, len, plain), -1);
		sealed[i] ^= 0x01;
	}
	key[0] ^= 0x80;
	CHECK_EQ_INT(seal_decrypt(key, 16, sealed, len, plain), -1);
	CHECK_EQ_INT(seal_decrypt(key, 16, sealed, SEAL_OVERHEAD - 1, plain), -1);
	CHECK_EQ_INT(seal_decrypt(key, 24, sealed, len, plain), -1);
}

#define ID "7a6122d6-553c-44d0-b088-b3a61fce29e6"

static void test_share_urls(void)
{
	struct share s;
	char err[256], url[SHARE_URL_MAX + 80];
	uint8_t key[16];

	CHECK_EQ_INT(share_parse("https://relay.example:8443/v1/m/" ID "?v=h#AAECAwQFBgcICQoLDA0ODw",
	    &s, err, sizeof(err)), 0);
	CHECK(s.origin.tls);
	CHECK_EQ_STR(s.origin.host, "relay.example");
	CHECK_EQ_INT(s.origin.port, 8443);
	CHECK_EQ_STR(s.id, ID);
	CHECK_EQ_STR(s.path, "/v1/m/" ID);
	CHECK_EQ_STR(s.mailbox_url, "https://relay.example:8443/v1/m/" ID);
	CHECK_EQ_INT(s.vertical, 'h');
	CHECK_EQ_INT(s.secret_len, 16);
	CHECK_EQ_INT(s.secret[15], 15);

	CHECK_EQ_INT(share_parse("https://[::1]/v1/m/" ID, &s, err, sizeof(err)), 0);
	CHECK_EQ_STR(s.origin.host, "::1");
	CHECK_EQ_INT(s.origin.port, 443);
	CHECK_EQ_INT(s.secret_len, 0);
	CHECK_EQ_INT(s.vertical, 0);
	CHECK_EQ_INT(share_parse("http://localhost:8080/v1/m/" ID "#AAECAwQFBgcICQoLDA0ODxAREhMUFRYXGBkaGxwdHh8",
	    &s, err, sizeof(err)), 0);
	CHECK(!s.origin.tls);
	CHECK_EQ_INT(s.secret_len, 32);

	static const char *bad[] = {
		"relay.example/v1/m/" ID "#AAECAwQFBgcICQoLDA0ODw",         /* no scheme */
		"ftp://relay.example/v1/m/" ID,
		"https:///v1/m/" ID,                                           /* no host */
		"https://relay.example:0/v1/m/" ID,
		"https://relay.example:70000/v1/m/" ID,
		"https://relay.example/v2/m/" ID,
		"https://relay.example/v1/m/" ID "/x",
		"https://relay.example/v1/m/7a6122d6",
		"https://relay.example/v1/m/" ID "#AAECAwQFBgcICQoLDA0O",       /* 15 bytes */
		"https://relay.example/v1/m/" ID "#AAECAwQFBgcICQoLDA0ODw==",   /* padded */
		"https://relay.example/v1/m/" ID "#AAECAwQFBgc+CQoLDA0ODw",     /* not url alphabet */
		"https://relay.example/v1/m/" ID "?v=x#AAECAwQFBgcICQoLDA0ODw",
	};
	/* An id in upper case (iOS's uuidString) is the same mailbox, kept in
	 * the relay's lower case. */
	CHECK_EQ_INT(share_parse("https://relay.example/v1/m/7A6122D6-553C-44D0-B088-B3A61FCE29E6"
	    "#AAECAwQFBgcICQoLDA0ODw", &s, err, sizeof(err)), 0);
	CHECK_EQ_STR(s.id, "7a6122d6-553c-44d0-b088-b3a61fce29e6");
	CHECK_EQ_STR(s.mailbox_url, "https://relay.example/v1/m/7a6122d6-553c-44d0-b088-b3a61fce29e6");
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (share_parse(bad[i], &s, err, sizeof(err)) != -1)
			printf("    accepted: %s\n", bad[i]);
		CHECK(err[0] != '\0');
	}

	for (int i = 0; i < 16; i++)
		key[i] = (uint8_t)(0xf0 + i);
	share_format("https://localhost:8443/v1/m/" ID, 'c', key, sizeof(key), url, sizeof(url));
	CHECK_EQ_INT(share_parse(url, &s, err, sizeof(err)), 0);
	CHECK_EQ_INT(s.vertical, 'c');
	CHECK_EQ_INT(s.secret_len, 16);
	CHECK(memcmp(s.secret, key, 16) == 0);
}

static void test_seen_keeps_the_newest(void)
{
	struct state_entry e;
	char digest[8];

	memset(&e, 0, sizeof(e));
	for (int i = 0; i < STATE_SEEN_MAX + 3; i++) {
		snprintf(digest, sizeof(digest), "d%d", i);
		state_see(&e, digest);
		state_see(&e, digest);      /* twice: still once */
	}
	CHECK_EQ_INT(e.seen_count, STATE_SEEN_MAX);
	CHECK_EQ_STR(e.seen[0], "d10");
	CHECK(!state_seen(&e, "d2"));
	CHECK(state_seen(&e, "d3"));
}

static void test_state_file(void)
{
	char dir[] = "/tmp/relay-state-XXXXXX", path[256], err[512], url2[128];
	struct state_entry e, got;
	struct stat st;

	CHECK(mkdtemp(dir) != NULL);
	/* The directory is made on demand, private to the user. */
	snprintf(path, sizeof(path), "%s/deep/er/state.json", dir);
	CHECK_EQ_INT(state_get(path, "https://x/v1/m/" ID, &got, err, sizeof(err)), 0);
	memset(&e, 0, sizeof(e));
	strcpy(e.claim, "11111111-2222-4333-8444-555555555555");
	for (int i = 0; i < 32; i++)
		e.secret[i] = (uint8_t)i;
	e.secret_len = 32;
	e.role = STATE_RECEIVER;
	strcpy(e.etag, "\"7\"");
	state_see(&e, "abc");
	state_see(&e, "def");
	CHECK_EQ_INT(state_put(path, "https://x/v1/m/" ID, &e, err, sizeof(err)), 0);
	CHECK_EQ_INT(stat(path, &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0600);
	snprintf(url2, sizeof(url2), "%s/deep/er", dir);
	CHECK_EQ_INT(stat(url2, &st), 0);
	CHECK_EQ_INT(st.st_mode & 0777, 0700);

	CHECK_EQ_INT(state_get(path, "https://x/v1/m/" ID, &got, err, sizeof(err)), 1);
	CHECK_EQ_STR(got.claim, e.claim);
	CHECK_EQ_INT(got.secret_len, 32);
	CHECK(memcmp(got.secret, e.secret, 32) == 0);
	CHECK_EQ_INT(got.role, STATE_RECEIVER);
	CHECK_EQ_STR(got.etag, "\"7\"");
	CHECK_EQ_INT(got.seen_count, 2);
	CHECK_EQ_STR(got.seen[0], "def");
	CHECK(state_seen(&got, "abc") && state_seen(&got, "def") && !state_seen(&got, "ghi"));

	/* A second mailbox leaves the first alone; forgetting removes one. */
	e.role = STATE_SENDER;
	CHECK_EQ_INT(state_put(path, "https://y/v1/m/" ID, &e, err, sizeof(err)), 0);
	CHECK_EQ_INT(state_put(path, "https://x/v1/m/" ID, NULL, err, sizeof(err)), 0);
	CHECK_EQ_INT(state_get(path, "https://x/v1/m/" ID, &got, err, sizeof(err)), 0);
	CHECK_EQ_INT(state_get(path, "https://y/v1/m/" ID, &got, err, sizeof(err)), 1);
	CHECK_EQ_INT(got.role, STATE_SENDER);

	/* A damaged file is reported, never silently replaced. */
	{
		FILE *f = fopen(path, "w");

		fputs("{\"version\": 1, \"mail", f);
		fclose(f);
	}
	err[0] = '\0';
	CHECK_EQ_INT(state_get(path, "https://y/v1/m/" ID, &got, err, sizeof(err)), -1);
	CHECK(strstr(err, path) != NULL);
	CHECK_EQ_INT(state_put(path, "https://y/v1/m/" ID, &e, err, sizeof(err)), -1);
	{
		char cmd[300];

		snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
		CHECK_EQ_INT(system(cmd), 0);
	}
}

static int list_count;
static char list_lines[4][200];

static void list_collect(void *ctx, const char *url, const struct state_entry *e)
{
	(void)ctx;
	if (list_count < 4)
		snprintf(list_lines[list_count], sizeof(list_lines[0]), "%s %s %lld", url,
		    e == NULL ? "damaged" : e->role == STATE_SENDER ? "sender" : "receiver",
		    e == NULL ? 0LL : (long long)e->expires_at);
	list_count++;
}

static void test_state_forgets_expired(void)
{
	char dir[] = "/tmp/relay-state-XXXXXX", path[256], err[512], line[300];
	struct state_entry e, got;
	int64_t now = (int64_t)time(NULL);
	FILE *f;
	char text[4096];
	size_t len;

	CHECK(mkdtemp(dir) != NULL);
	snprintf(path, sizeof(path), "%s/state.json", dir);
	memset(&e, 0, sizeof(e));
	strcpy(e.claim, "11111111-2222-4333-8444-555555555555");
	e.secret_len = 16;
	e.role = STATE_SENDER;
	e.expires_at = now - STATE_EXPIRY_GRACE_S - 60;     /* gone, past the margin */
	CHECK_EQ_INT(state_put(path, "https://x/v1/m/old", &e, err, sizeof(err)), 0);
	e.expires_at = now - 60;                             /* within the margin: kept */
	CHECK_EQ_INT(state_put(path, "https://x/v1/m/recent", &e, err, sizeof(err)), 0);
	e.role = STATE_RECEIVER;
	e.expires_at = now + 3600;
	CHECK_EQ_INT(state_put(path, "https://x/v1/m/live", &e, err, sizeof(err)), 0);
	e.expires_at = 0;                                    /* unknown: kept */
	CHECK_EQ_INT(state_put(path, "https://x/v1/m/unknown", &e, err, sizeof(err)), 0);

	/* The put of "recent" opened the file and forgot "old" already. */
	CHECK_EQ_INT(state_get(path, "https://x/v1/m/old", &got, err, sizeof(err)), 0);
	CHECK_EQ_INT(state_get(path, "https://x/v1/m/live", &got, err, sizeof(err)), 1);
	CHECK_EQ_INT(got.expires_at, now + 3600);
	f = fopen(path, "r");
	len = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	text[len] = '\0';
	CHECK(strstr(text, "/old") == NULL);
	CHECK(strstr(text, "\"expires\"") != NULL);

	list_count = 0;
	CHECK_EQ_INT(state_list(path, list_collect, NULL, err, sizeof(err)), 0);
	CHECK_EQ_INT(list_count, 3);
	snprintf(line, sizeof(line), "https://x/v1/m/recent sender %lld", (long long)(now - 60));
	CHECK_EQ_STR(list_lines[0], line);
	snprintf(line, sizeof(line), "https://x/v1/m/live receiver %lld", (long long)(now + 3600));
	CHECK_EQ_STR(list_lines[1], line);
	CHECK_EQ_STR(list_lines[2], "https://x/v1/m/unknown receiver 0");

	/* Expiry is judged at every open, a read included. */
	f = fopen(path, "w");
	if (f) {
		fprintf(f, "{\"version\": 1, \"mailboxes\": {\"https://x/v1/m/dead\": {\"claim\": "
		    "\"11111111-2222-4333-8444-555555555555\", \"secret\": \"AAECAwQFBgcICQoLDA0ODw\", "
		    "\"role\": \"receiver\", \"etag\": \"\", \"seen\": [], "
		    "\"expires\": \"2001-01-01T00:00:00Z\"}}}\n");
		fclose(f);
	}
	CHECK_EQ_INT(state_get(path, "https://x/v1/m/dead", &got, err, sizeof(err)), 0);
	f = fopen(path, "r");
	len = f ? fread(text, 1, sizeof(text) - 1, f) : 0;
	if (f)
		fclose(f);
	text[len] = '\0';
	CHECK(strstr(text, "/dead") == NULL);

	unlink(path);
	snprintf(line, sizeof(line), "%s.lock", path);
	unlink(line);
	rmdir(dir);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_known_answer_aes128);
	CHECK_RUN(test_known_answer_aes256);
	CHECK_RUN(test_decrypt_round_trip_and_tampering);
	CHECK_RUN(test_share_urls);
	CHECK_RUN(test_seen_keeps_the_newest);
	CHECK_RUN(test_state_file);
	CHECK_RUN(test_state_forgets_expired);
	return CHECK_SUMMARY();
}
