/*
 * fuzz_body.c — the JSON body validators (protocol/body.h) against a second,
 * independent reading of the spec (sections 4.1, 4.2, 4.5 and 10).
 *
 * Every input goes through body_parse_create, body_parse_update and
 * body_parse_read. The harness parses it with jansson too and decides on its
 * own whether the body is acceptable, then checks:
 *   - the validator agrees (accepts exactly what the spec accepts);
 *   - on success every span points into one of the document's strings, is
 *     that member's whole value, is NUL-terminated there, and keeps the
 *     limits: lengths in code points, [A-Za-z0-9_.-] types, strict padded
 *     base64 (28 bytes at least for the AEAD types), an https:// imageURL,
 *     both token members or neither, rights and expiry as written;
 *   - on failure the status and code are ones the spec names, and the
 *     message shares no 8-byte run with the input beyond member names and
 *     the fixed sentences the validators write (learnt from bodies that
 *     break one rule each): it never echoes values.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "protocol/body.h"
#include "storage/store.h"
#include "test/fuzz/fuzz.h"

/* What a message may repeat of the input: the member names, and every
 * message that the validators write for bodies that break each rule once
 * (built at the first call, digits made '#'). Anything else of 8 bytes or
 * more that a message shares with the input is a value it echoed. */
static const char fuzz_member_names[] =
    "payload.type payload.data displayInformation.title displayInformation.description "
    "displayInformation.imageURL notificationToken.type notificationToken.tokenData "
    "mailboxConfiguration.accessRights mailboxConfiguration.expiration";

#define FUZZ_P "\"payload\":{\"type\":\"t\",\"data\":\"AAAA\"}"
#define FUZZ_D "\"displayInformation\":{\"title\":\"t\",\"description\":\"\",\"imageURL\":\"https://x\"}"

static const char *const fuzz_rule_breakers[] = {
	"", "{", "[]", "{}", "{\"payload\":1}", "{\"payload\":{}}",
	"{\"payload\":{\"type\":1}}", "{\"payload\":{\"type\":\"\"}}",
	"{\"payload\":{\"type\":\"a b\"}}", "{\"payload\":{\"type\":\"t\"}}",
	"{\"payload\":{\"type\":\"t\",\"data\":1}}", "{\"payload\":{\"type\":\"t\",\"data\":\"A\"}}",
	"{\"payload\":{\"type\":\"t\",\"data\":\"\"}}",
	"{\"payload\":{\"type\":\"AEAD_AES_128_GCM\",\"data\":\"AAAA\"}}",
	"{" FUZZ_P "}", "{" FUZZ_P ",\"displayInformation\":1}",
	"{" FUZZ_P ",\"displayInformation\":{}}",
	"{" FUZZ_P ",\"displayInformation\":{\"title\":1}}",
	"{" FUZZ_P ",\"displayInformation\":{\"title\":\"\"}}",
	"{" FUZZ_P ",\"displayInformation\":{\"title\":\"t\"}}",
	"{" FUZZ_P ",\"displayInformation\":{\"title\":\"t\",\"description\":1}}",
	"{" FUZZ_P ",\"displayInformation\":{\"title\":\"t\",\"description\":\"\"}}",
	"{" FUZZ_P ",\"displayInformation\":{\"title\":\"t\",\"description\":\"\",\"imageURL\":1}}",
	"{" FUZZ_P ",\"displayInformation\":{\"title\":\"t\",\"description\":\"\",\"imageURL\":\"http://x\"}}",
	"{" FUZZ_P "," FUZZ_D ",\"notificationToken\":1}",
	"{" FUZZ_P "," FUZZ_D ",\"notificationToken\":{}}",
	"{" FUZZ_P "," FUZZ_D ",\"notificationToken\":{\"type\":1}}",
	"{" FUZZ_P "," FUZZ_D ",\"notificationToken\":{\"type\":\"\"}}",
	"{" FUZZ_P "," FUZZ_D ",\"notificationToken\":{\"type\":\"t\"}}",
	"{" FUZZ_P "," FUZZ_D ",\"notificationToken\":{\"type\":\"t\",\"tokenData\":1}}",
	"{" FUZZ_P "," FUZZ_D ",\"notificationToken\":{\"type\":\"t\",\"tokenData\":\"\"}}",
	"{" FUZZ_P "," FUZZ_D ",\"mailboxConfiguration\":1}",
	"{" FUZZ_P "," FUZZ_D ",\"mailboxConfiguration\":{}}",
	"{" FUZZ_P "," FUZZ_D ",\"mailboxConfiguration\":{\"accessRights\":1}}",
	"{" FUZZ_P "," FUZZ_D ",\"mailboxConfiguration\":{\"accessRights\":\"\"}}",
	"{" FUZZ_P "," FUZZ_D ",\"mailboxConfiguration\":{\"accessRights\":\"RR\"}}",
	"{" FUZZ_P "," FUZZ_D ",\"mailboxConfiguration\":{\"expiration\":1}}",
	"{" FUZZ_P "," FUZZ_D ",\"mailboxConfiguration\":{\"expiration\":\"x\"}}",
};

static char fuzz_vocabulary[16384];
static size_t fuzz_vocabulary_len;

/* Digits vary with where a JSON error lies; compare them as '#'. */
static char fuzz_fold(char c)
{
	return c >= '0' && c <= '9' ? '#' : c;
}

static void fuzz_learn(const struct body_error *err)
{
	size_t len = strnlen(err->message, sizeof(err->message));

	if (fuzz_vocabulary_len + len + 1 > sizeof(fuzz_vocabulary))
		return;
	for (size_t i = 0; i < len; i++)
		fuzz_vocabulary[fuzz_vocabulary_len++] = fuzz_fold(err->message[i]);
	fuzz_vocabulary[fuzz_vocabulary_len++] = '\n';
}

static void fuzz_build_vocabulary(void)
{
	memcpy(fuzz_vocabulary, fuzz_member_names, sizeof(fuzz_member_names) - 1);
	fuzz_vocabulary_len = sizeof(fuzz_member_names) - 1;
	fuzz_vocabulary[fuzz_vocabulary_len++] = '\n';
	for (size_t i = 0; i < sizeof(fuzz_rule_breakers) / sizeof(fuzz_rule_breakers[0]); i++) {
		const char *text = fuzz_rule_breakers[i];
		size_t len = strlen(text);
		struct body_create create;
		struct body_update update;
		struct body_read read;
		struct body_error err;
		json_t *doc;

		if (body_parse_create(text, len, &create, &doc, &err) == 0)
			json_decref(doc);
		else
			fuzz_learn(&err);
		if (body_parse_update(text, len, &update, &doc, &err) == 0)
			json_decref(doc);
		else
			fuzz_learn(&err);
		if (body_parse_read(text, len, &read, &doc, &err) == 0)
			json_decref(doc);
		else
			fuzz_learn(&err);
	}
}

/* ---- the spec's rules, written again ---- */

static size_t fuzz_code_points(const char *s, size_t len)
{
	size_t n = 0;

	/* jansson hands out valid UTF-8 only: count the lead bytes. */
	for (size_t i = 0; i < len; i++)
		n += ((unsigned char)s[i] & 0xc0) != 0x80;
	return n;
}

/* A string member whose length in code points lies in [min, max]: 1; absent:
 * 0; anything else: -1. */
static int fuzz_string(json_t *obj, const char *key, size_t min, size_t max)
{
	json_t *v = json_object_get(obj, key);
	size_t points;

	if (v == NULL)
		return 0;
	if (!json_is_string(v))
		return -1;
	points = fuzz_code_points(json_string_value(v), json_string_length(v));
	return points >= min && points <= max ? 1 : -1;
}

static int fuzz_b64_digit(char c)
{
	static const char alphabet[] =
	    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	const char *at = c ? strchr(alphabet, c) : NULL;

	return at ? (int)(at - alphabet) : -1;
}

/* RFC 4648 section 4 with padding and zero pad bits: the decoded length, or
 * -1. */
static long fuzz_base64(const char *s, size_t len)
{
	size_t pad = 0;

	if (len == 0 || len % 4 != 0)
		return -1;
	while (pad < 2 && s[len - 1 - pad] == '=')
		pad++;
	for (size_t i = 0; i < len - pad; i++) {
		if (fuzz_b64_digit(s[i]) < 0)
			return -1;
	}
	if (pad == 1 && (fuzz_b64_digit(s[len - 2]) & 3))
		return -1;
	if (pad == 2 && (fuzz_b64_digit(s[len - 3]) & 15))
		return -1;
	return (long)(len / 4 * 3 - pad);
}

static int fuzz_payload_ok(json_t *root)
{
	json_t *p = json_object_get(root, "payload"), *type, *data;
	const char *t;
	long decoded;

	if (!json_is_object(p))
		return 0;
	type = json_object_get(p, "type");
	data = json_object_get(p, "data");
	if (!json_is_string(type) || !json_is_string(data))
		return 0;
	t = json_string_value(type);
	if (json_string_length(type) < 1 || json_string_length(type) > 64)
		return 0;
	for (size_t i = 0; i < json_string_length(type); i++) {
		char c = t[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
		    c == '_' || c == '.' || c == '-'))
			return 0;
	}
	decoded = fuzz_base64(json_string_value(data), json_string_length(data));
	if (decoded < 1)
		return 0;
	if ((strcmp(t, "AEAD_AES_128_GCM") == 0 || strcmp(t, "AEAD_AES_256_GCM") == 0) &&
	    decoded < 28)
		return 0;
	return 1;
}

static int fuzz_token_ok(json_t *root)
{
	json_t *t = json_object_get(root, "notificationToken");

	if (t == NULL)
		return 1;
	return json_is_object(t) && fuzz_string(t, "type", 1, 128) == 1 &&
	    fuzz_string(t, "tokenData", 1, 4096) == 1;
}

static int fuzz_display_ok(json_t *root)
{
	json_t *d = json_object_get(root, "displayInformation"), *url;

	if (!json_is_object(d))
		return 0;
	if (fuzz_string(d, "title", 1, 256) != 1 || fuzz_string(d, "description", 0, 1024) != 1 ||
	    fuzz_string(d, "imageURL", 1, 2048) != 1)
		return 0;
	url = json_object_get(d, "imageURL");
	return json_string_length(url) >= 8 && memcmp(json_string_value(url), "https://", 8) == 0;
}

static int fuzz_rights(const char *s, size_t len, uint8_t *out)
{
	uint8_t rights = 0;

	if (len == 0 || len > 3)
		return -1;
	for (size_t i = 0; i < len; i++) {
		const char *at = s[i] ? strchr("RWD", s[i]) : NULL;
		uint8_t bit;

		if (at == NULL)
			return -1;
		bit = *at == 'R' ? MAILBOX_READ : *at == 'W' ? MAILBOX_WRITE : MAILBOX_DELETE;
		if (rights & bit)
			return -1;
		rights |= bit;
	}
	*out = rights;
	return 0;
}

/* YYYY-MM-DDThh:mm:ssZ naming a real instant, through the C library. */
static int fuzz_time(const char *s, size_t len, int64_t *out)
{
	static const char shape[] = "dddd-dd-ddTdd:dd:ddZ";
	struct tm tm;
	time_t t;

	if (len != 20)
		return -1;
	for (size_t i = 0; i < 20; i++) {
		if (shape[i] == 'd' ? !(s[i] >= '0' && s[i] <= '9') : s[i] != shape[i])
			return -1;
	}
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0') - 1900;
	tm.tm_mon = (s[5] - '0') * 10 + (s[6] - '0') - 1;
	tm.tm_mday = (s[8] - '0') * 10 + (s[9] - '0');
	tm.tm_hour = (s[11] - '0') * 10 + (s[12] - '0');
	tm.tm_min = (s[14] - '0') * 10 + (s[15] - '0');
	tm.tm_sec = (s[17] - '0') * 10 + (s[18] - '0');
	if (tm.tm_mon < 0 || tm.tm_mon > 11 || tm.tm_mday < 1 || tm.tm_hour > 23 ||
	    tm.tm_min > 59 || tm.tm_sec > 59)
		return -1;
	{
		struct tm check = tm;

		t = timegm(&check);
		/* timegm normalises 31 April into 1 May: a real date survives. */
		if (check.tm_mday != tm.tm_mday || check.tm_mon != tm.tm_mon)
			return -1;
	}
	*out = (int64_t)t;
	return 0;
}

struct fuzz_config {
	int ok;
	int has_expiration;
	int64_t expires_at;
	uint8_t rights;
};

static struct fuzz_config fuzz_config_of(json_t *root)
{
	struct fuzz_config c = { 1, 0, 0, MAILBOX_READ | MAILBOX_DELETE };
	json_t *config = json_object_get(root, "mailboxConfiguration"), *v;

	if (config == NULL)
		return c;
	c.ok = 0;
	if (!json_is_object(config))
		return c;
	v = json_object_get(config, "accessRights");
	if (v != NULL && (!json_is_string(v) ||
	    fuzz_rights(json_string_value(v), json_string_length(v), &c.rights) != 0))
		return c;
	v = json_object_get(config, "expiration");
	if (!json_is_string(v) ||
	    fuzz_time(json_string_value(v), json_string_length(v), &c.expires_at) != 0)
		return c;
	c.ok = 1;
	c.has_expiration = 1;
	return c;
}

/* ---- checks on what the validators hand back ---- */

/* The span is member key's whole string value in obj. */
static void fuzz_check_span(json_t *obj, const char *key, struct store_bytes b)
{
	json_t *v = json_object_get(obj, key);

	FUZZ_CHECK(json_is_string(v), "a returned span has a string member behind it");
	FUZZ_CHECK(b.ptr == json_string_value(v) && b.len == json_string_length(v),
	    "a returned span is the member's whole value, inside the document");
	FUZZ_CHECK(b.ptr[b.len] == '\0', "a returned span is NUL-terminated in the document");
	FUZZ_CHECK(memchr(b.ptr, '\0', b.len) == NULL, "a returned span holds no NUL");
}

static void fuzz_check_payload(json_t *doc, const struct body_payload *p)
{
	json_t *payload = json_object_get(doc, "payload");

	fuzz_check_span(payload, "type", p->type);
	fuzz_check_span(payload, "data", p->data);
	FUZZ_CHECK(p->type.len >= 1 && p->type.len <= 64, "payload.type is 1-64 characters");
	FUZZ_CHECK(fuzz_base64(p->data.ptr, p->data.len) >= 1,
	    "payload.data is strict padded base64");
}

static void fuzz_check_token(json_t *doc, const struct body_token *t)
{
	json_t *token = json_object_get(doc, "notificationToken");

	if (token == NULL) {
		FUZZ_CHECK(t->type.ptr == NULL && t->data.ptr == NULL, "no token: both spans NULL");
		return;
	}
	fuzz_check_span(token, "type", t->type);
	fuzz_check_span(token, "tokenData", t->data);
	FUZZ_CHECK(fuzz_code_points(t->type.ptr, t->type.len) >= 1 &&
	    fuzz_code_points(t->type.ptr, t->type.len) <= 128, "token type 1-128 code points");
	FUZZ_CHECK(fuzz_code_points(t->data.ptr, t->data.len) >= 1 &&
	    fuzz_code_points(t->data.ptr, t->data.len) <= 4096, "tokenData 1-4096 code points");
}

/* bad_base64 is for payload.data that is there, a string, not empty, and
 * not strict base64: nothing else. */
static int fuzz_bad_base64_fits(json_t *root)
{
	json_t *data = json_object_get(json_object_get(root, "payload"), "data");

	return json_is_string(data) && json_string_length(data) > 0 &&
	    fuzz_base64(json_string_value(data), json_string_length(data)) < 0;
}

static void fuzz_check_error(const struct body_error *err, const uint8_t *data, size_t size,
    json_t *root)
{
	size_t msg_len = strnlen(err->message, sizeof(err->message));

	FUZZ_CHECK(msg_len > 0 && msg_len < sizeof(err->message), "a message, NUL-terminated");
	FUZZ_CHECK(err->status == 400 || err->status == 503, "a body error is 400 or 503");
	FUZZ_CHECK(err->code != NULL && (strcmp(err->code, "bad_json") == 0 ||
	    strcmp(err->code, "missing_field") == 0 || strcmp(err->code, "invalid_field") == 0 ||
	    strcmp(err->code, "bad_base64") == 0 ||
	    (err->status == 503 && strcmp(err->code, "unavailable") == 0)),
	    "a body error's code is one the spec names");
	FUZZ_CHECK(err->code == NULL || strcmp(err->code, "bad_base64") != 0 ||
	    (root != NULL && fuzz_bad_base64_fits(root)),
	    "bad_base64 only for payload.data that is a string but not strict base64");
	for (size_t i = 0; i + 8 <= msg_len && size >= 8; i++) {
		const char *run = err->message + i;
		char folded[8];

		if (fuzz_find((const char *)data, size, run, 8, 0) == NULL)
			continue;
		for (size_t k = 0; k < 8; k++)
			folded[k] = fuzz_fold(run[k]);
		FUZZ_CHECK(fuzz_find(fuzz_vocabulary, fuzz_vocabulary_len, folded, 8, 0) != NULL,
		    "an error message repeats 8 bytes of the body that no fixed message holds");
	}
}

/* ---- the three validators ---- */

static void fuzz_create(const uint8_t *data, size_t size, json_t *root)
{
	struct body_create out;
	struct body_error err;
	json_t *doc = NULL;
	int expect = 0, r;
	struct fuzz_config config = { 0, 0, 0, 0 };

	if (root != NULL) {
		config = fuzz_config_of(root);
		expect = fuzz_payload_ok(root) && fuzz_display_ok(root) && fuzz_token_ok(root) &&
		    config.ok;
	}
	memset(&out, 0xa5, sizeof(out));
	memset(&err, 0, sizeof(err));
	r = body_parse_create((const char *)data, size, &out, &doc, &err);
	if (r != 0) {
		FUZZ_CHECK(r == -1, "body_parse_create returns 0 or -1");
		FUZZ_CHECK(!expect, "body_parse_create refuses a body the spec accepts");
		fuzz_check_error(&err, data, size, root);
		return;
	}
	FUZZ_CHECK(expect, "body_parse_create accepts a body the spec refuses");
	FUZZ_CHECK(doc != NULL && json_is_object(doc), "success hands over the document");
	fuzz_check_payload(doc, &out.payload);
	fuzz_check_token(doc, &out.token);
	{
		json_t *display = json_object_get(doc, "displayInformation");

		fuzz_check_span(display, "title", out.title);
		fuzz_check_span(display, "description", out.description);
		fuzz_check_span(display, "imageURL", out.image_url);
		FUZZ_CHECK(fuzz_code_points(out.title.ptr, out.title.len) >= 1 &&
		    fuzz_code_points(out.title.ptr, out.title.len) <= 256, "title 1-256 code points");
		FUZZ_CHECK(fuzz_code_points(out.description.ptr, out.description.len) <= 1024,
		    "description at most 1024 code points");
		FUZZ_CHECK(fuzz_code_points(out.image_url.ptr, out.image_url.len) <= 2048 &&
		    out.image_url.len >= 8 && memcmp(out.image_url.ptr, "https://", 8) == 0,
		    "imageURL an https:// URL of at most 2048 code points");
	}
	FUZZ_CHECK(out.rights == config.rights, "accessRights as written, RD by default");
	FUZZ_CHECK(out.rights != 0 && (out.rights & ~7) == 0, "rights are R, W and D bits");
	FUZZ_CHECK(out.has_expiration == config.has_expiration, "expiration given or not");
	if (config.has_expiration)
		FUZZ_CHECK(out.expires_at == config.expires_at, "expiration read as written");
	json_decref(doc);
}

static void fuzz_update(const uint8_t *data, size_t size, json_t *root)
{
	struct body_update out;
	struct body_error err;
	json_t *doc = NULL;
	int expect = root != NULL && fuzz_payload_ok(root) && fuzz_token_ok(root), r;

	memset(&out, 0xa5, sizeof(out));
	memset(&err, 0, sizeof(err));
	r = body_parse_update((const char *)data, size, &out, &doc, &err);
	if (r != 0) {
		FUZZ_CHECK(r == -1, "body_parse_update returns 0 or -1");
		FUZZ_CHECK(!expect, "body_parse_update refuses a body the spec accepts");
		fuzz_check_error(&err, data, size, root);
		return;
	}
	FUZZ_CHECK(expect, "body_parse_update accepts a body the spec refuses");
	FUZZ_CHECK(doc != NULL && json_is_object(doc), "success hands over the document");
	fuzz_check_payload(doc, &out.payload);
	fuzz_check_token(doc, &out.token);
	json_decref(doc);
}

static void fuzz_read(const uint8_t *data, size_t size, json_t *root)
{
	struct body_read out;
	struct body_error err;
	json_t marker, *doc = &marker;      /* must be overwritten */
	int expect = size == 0 || (root != NULL && fuzz_token_ok(root)), r;

	memset(&out, 0xa5, sizeof(out));
	memset(&err, 0, sizeof(err));
	r = body_parse_read((const char *)data, size, &out, &doc, &err);
	if (r != 0) {
		FUZZ_CHECK(r == -1, "body_parse_read returns 0 or -1");
		FUZZ_CHECK(!expect, "body_parse_read refuses a body the spec accepts");
		fuzz_check_error(&err, data, size, root);
		return;
	}
	FUZZ_CHECK(expect, "body_parse_read accepts a body the spec refuses");
	if (size == 0) {
		FUZZ_CHECK(doc == NULL && out.token.type.ptr == NULL && out.token.data.ptr == NULL,
		    "an empty read body: no document, no token");
		return;
	}
	FUZZ_CHECK(doc != NULL && json_is_object(doc), "success hands over the document");
	fuzz_check_token(doc, &out.token);
	json_decref(doc);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	json_t *root = NULL;
	char *copy;

	if (fuzz_vocabulary_len == 0)
		fuzz_build_vocabulary();
	/* The validators get an exactly sized copy: no terminator to lean on. */
	copy = calloc(1, size ? size : 1);
	FUZZ_CHECK(copy != NULL, "memory for the copy");
	if (size)
		memcpy(copy, data, size);
	if (size > 0) {
		root = json_loadb(copy, size, JSON_REJECT_DUPLICATES, NULL);
		if (root != NULL && !json_is_object(root)) {
			json_decref(root);
			root = NULL;
		}
	}
	fuzz_create((const uint8_t *)copy, size, root);
	fuzz_update((const uint8_t *)copy, size, root);
	fuzz_read((const uint8_t *)copy, size, root);
	json_decref(root);
	free(copy);
	return 0;
}
