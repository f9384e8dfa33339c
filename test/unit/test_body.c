/*
 * test_body.c — the JSON bodies of CreateMailbox, UpdateMailbox and
 * ReadSecureContent (spec sections 4.1, 4.2, 4.5 and 10).
 *
 * Bodies are assembled from parts so that one member at a time can be left
 * out, nulled, given the wrong type or pushed past its limit while the rest
 * stays valid. Every refusal is checked for its status and code, and for not
 * repeating the offending value: bad values carry a marker string that must
 * never show up in the message.
 */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "protocol/body.h"
#include "test/unit/check.h"

#define MARK "ZQXMARK"
#define BODY_MAX 80000

/* base64 of 28 and of 27 zero bytes. */
#define DATA_28 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="
#define DATA_27 "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"

/* base64 of the 60 bytes 190 to 249 (80 characters, with + and /), cut
 * where Android's Base64.DEFAULT breaks the line; and with - and _. */
#define ANDROID_76 "vr/AwcLDxMXGx8jJysvMzc7P0NHS09TV1tfY2drb3N3e3+Dh4uPk5ebn6Onq6+zt7u/w8fLz9PX2"
#define ANDROID_REST "9/j5"
#define URL_SAFE_80 \
	"vr_AwcLDxMXGx8jJysvMzc7P0NHS09TV1tfY2drb3N3e3-Dh4uPk5ebn6Onq6-zt7u_w8fLz9PX29_j5"

#define EURO "\xe2\x82\xac"     /* one code point, three bytes */

/* ---- building bodies ---- */

/* A member set to OMIT (or NULL) is left out. Values are raw JSON. */
static const char OMIT[] = "<omit>";

struct parts {
	const char *payload, *display, *token, *config;     /* raw objects */
	const char *type, *data;
	const char *title, *description, *image;
	const char *token_type, *token_data;
	const char *rights, *expiration;
};

static struct parts parts_default(void)
{
	struct parts p;

	memset(&p, 0, sizeof(p));
	p.type = "\"AEAD_AES_128_GCM\"";
	p.data = "\"" DATA_28 "\"";
	p.title = "\"Car key\"";
	p.description = "\"For the weekend\"";
	p.image = "\"https://img.example/car.png\"";
	return p;
}

static char body_text[BODY_MAX];
static size_t body_len;

static void put(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static void put(const char *fmt, ...)
{
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(body_text + body_len, sizeof(body_text) - body_len, fmt, ap);
	va_end(ap);
	if (n > 0)
		body_len += (size_t)n;
	if (body_len >= sizeof(body_text)) {
		printf("    test body too large\n");
		body_len = sizeof(body_text) - 1;
	}
}

static int present(const char *v)
{
	return v != NULL && v != OMIT;
}

/* One object member: raw JSON, or built from up to three named members. */
static void put_object(int *first, const char *name, const char *raw,
    const char *n1, const char *v1, const char *n2, const char *v2,
    const char *n3, const char *v3)
{
	int inner = 1;

	if (raw == OMIT)
		return;
	if (raw == NULL && !present(v1) && !present(v2) && !present(v3))
		return;
	put("%s\"%s\":", *first ? "" : ",", name);
	*first = 0;
	if (raw != NULL) {
		put("%s", raw);
		return;
	}
	put("{");
	if (present(v1)) {
		put("\"%s\":%s", n1, v1);
		inner = 0;
	}
	if (present(v2)) {
		put("%s\"%s\":%s", inner ? "" : ",", n2, v2);
		inner = 0;
	}
	if (n3 != NULL && present(v3))
		put("%s\"%s\":%s", inner ? "" : ",", n3, v3);
	put("}");
}

static const char *build(const struct parts *p)
{
	int first = 1;

	body_len = 0;
	put("{");
	/* The payload object always exists unless omitted as a whole. */
	if (p->payload != OMIT) {
		if (p->payload == NULL && !present(p->type) && !present(p->data)) {
			put("\"payload\":{}");
			first = 0;
		} else {
			put_object(&first, "payload", p->payload, "type", p->type, "data", p->data,
			    NULL, NULL);
		}
	}
	if (p->display != OMIT) {
		if (p->display == NULL && !present(p->title) && !present(p->description) &&
		    !present(p->image)) {
			put("%s\"displayInformation\":{}", first ? "" : ",");
			first = 0;
		} else {
			put_object(&first, "displayInformation", p->display, "title", p->title,
			    "description", p->description, "imageURL", p->image);
		}
	}
	put_object(&first, "notificationToken", p->token, "type", p->token_type,
	    "tokenData", p->token_data, NULL, NULL);
	put_object(&first, "mailboxConfiguration", p->config, "accessRights", p->rights,
	    "expiration", p->expiration, NULL, NULL);
	put("}");
	return body_text;
}

/* A JSON string of n copies of unit, with an optional prefix, in a buffer of
 * its own so that several can be used at once. */
static char *repeat(char *out, size_t cap, const char *prefix, const char *unit, size_t n)
{
	size_t len = 0, unit_len = strlen(unit);

	len += (size_t)snprintf(out, cap, "\"%s", prefix);
	for (size_t i = 0; i < n && len + unit_len + 2 < cap; i++) {
		memcpy(out + len, unit, unit_len);
		len += unit_len;
	}
	out[len++] = '"';
	out[len] = '\0';
	return out;
}

/* ---- checking outcomes ---- */

enum kind { CREATE, UPDATE, READ };

static int parse(enum kind kind, const char *text, size_t len, json_t **doc,
    struct body_error *err, void *out)
{
	switch (kind) {
	case CREATE: return body_parse_create(text, len, out, doc, err);
	case UPDATE: return body_parse_update(text, len, out, doc, err);
	default: return body_parse_read(text, len, out, doc, err);
	}
}

/* The number of things wrong with a refusal (0: as expected). */
static int refusal_problems(enum kind kind, const char *text, size_t len, const char *code)
{
	union {
		struct body_create c;
		struct body_update u;
		struct body_read r;
	} out;
	struct body_error err;
	json_t *doc = NULL;
	int problems = 0;

	memset(&err, 0, sizeof(err));
	if (parse(kind, text, len, &doc, &err, &out) != -1) {
		printf("    accepted: %.200s\n", text);
		if (doc != NULL)
			json_decref(doc);
		return 1;
	}
	if (err.status != 400) {
		printf("    status %d for: %.200s\n", err.status, text);
		problems++;
	}
	if (err.code == NULL || strcmp(err.code, code) != 0) {
		printf("    code \"%s\", expected \"%s\" for: %.200s\n",
		    err.code ? err.code : "(null)", code, text);
		problems++;
	}
	if (err.message[0] == '\0' || strlen(err.message) >= sizeof(err.message)) {
		printf("    no message for: %.200s\n", text);
		problems++;
	}
	if (strstr(err.message, MARK) != NULL) {
		printf("    message echoes the value: \"%s\"\n", err.message);
		problems++;
	}
	return problems;
}

#define REFUSED(kind, text, code) \
	CHECK_EQ_INT(refusal_problems((kind), (text), strlen(text), (code)), 0)
#define REFUSED_LEN(kind, text, len, code) \
	CHECK_EQ_INT(refusal_problems((kind), (text), (len), (code)), 0)

static int accepted(enum kind kind, const char *text)
{
	union {
		struct body_create c;
		struct body_update u;
		struct body_read r;
	} out;
	struct body_error err;
	json_t *doc = NULL;

	memset(&err, 0, sizeof(err));
	if (parse(kind, text, strlen(text), &doc, &err, &out) != 0) {
		printf("    refused (%d %s: %s): %.200s\n", err.status, err.code ? err.code : "",
		    err.message, text);
		return 0;
	}
	json_decref(doc);
	return 1;
}

#define ACCEPTED(kind, text) CHECK(accepted((kind), (text)))

static int span_is(struct store_bytes b, const char *s)
{
	return b.ptr != NULL && b.len == strlen(s) && memcmp(b.ptr, s, b.len) == 0;
}

/* ---- create: what a valid body yields ---- */

static void test_create_minimal(void)
{
	struct parts p = parts_default();
	struct body_create out;
	struct body_error err;
	json_t *doc = NULL;
	const char *text = build(&p);

	memset(&out, 0xff, sizeof(out));
	CHECK_EQ_INT(body_parse_create(text, strlen(text), &out, &doc, &err), 0);
	CHECK(doc != NULL);
	CHECK(span_is(out.payload.type, "AEAD_AES_128_GCM"));
	CHECK(span_is(out.payload.data, DATA_28));
	CHECK(span_is(out.title, "Car key"));
	CHECK(span_is(out.description, "For the weekend"));
	CHECK(span_is(out.image_url, "https://img.example/car.png"));
	CHECK(out.token.type.ptr == NULL && out.token.data.ptr == NULL);
	CHECK_EQ_INT(out.rights, MAILBOX_READ | MAILBOX_DELETE);
	CHECK_EQ_INT(out.has_expiration, 0);
	json_decref(doc);
}

static void test_create_full(void)
{
	static const char text[] =
	    "{\"extra\":[1,{\"x\":null}],"
	    "\"payload\":{\"type\":\"AEAD_AES_256_GCM\",\"data\":\"" DATA_28 "\",\"more\":1},"
	    "\"displayInformation\":{\"title\":\"T\\u00e9\\ud83d\\udd11\",\"description\":\"\","
	    "\"imageURL\":\"https://i.example/x?a=1&b=\\\"2\\\"\",\"unknown\":true},"
	    "\"notificationToken\":{\"type\":\"com.apple.apns\",\"tokenData\":\"abc\"},"
	    "\"mailboxConfiguration\":{\"accessRights\":\"WDR\","
	    "\"expiration\":\"2030-01-01T00:00:00Z\",\"other\":\"x\"}}";
	struct body_create out;
	struct body_error err;
	json_t *doc = NULL;

	CHECK_EQ_INT(body_parse_create(text, strlen(text), &out, &doc, &err), 0);
	CHECK(span_is(out.payload.type, "AEAD_AES_256_GCM"));
	/* Escapes are decoded: é is two bytes, the key emoji four. */
	CHECK(span_is(out.title, "T\xc3\xa9\xf0\x9f\x94\x91"));
	CHECK_EQ_INT(out.description.len, 0);
	CHECK(span_is(out.image_url, "https://i.example/x?a=1&b=\"2\""));
	CHECK(span_is(out.token.type, "com.apple.apns"));
	CHECK(span_is(out.token.data, "abc"));
	CHECK_EQ_INT(out.rights, MAILBOX_READ | MAILBOX_WRITE | MAILBOX_DELETE);
	CHECK_EQ_INT(out.has_expiration, 1);
	CHECK_EQ_INT(out.expires_at, 1893456000);
	json_decref(doc);
}

/* ---- create: missing, null and wrongly typed members ---- */

static void test_create_missing(void)
{
	struct parts p;

	p = parts_default(); p.payload = OMIT;
	REFUSED(CREATE, build(&p), "missing_field");
	p = parts_default(); p.display = OMIT;
	REFUSED(CREATE, build(&p), "missing_field");
	p = parts_default(); p.type = OMIT;
	REFUSED(CREATE, build(&p), "missing_field");
	p = parts_default(); p.data = OMIT;
	REFUSED(CREATE, build(&p), "missing_field");
	p = parts_default(); p.type = OMIT; p.data = OMIT;
	REFUSED(CREATE, build(&p), "missing_field");
	p = parts_default(); p.title = OMIT;
	REFUSED(CREATE, build(&p), "missing_field");
	p = parts_default(); p.description = OMIT;
	REFUSED(CREATE, build(&p), "missing_field");
	p = parts_default(); p.image = OMIT;
	REFUSED(CREATE, build(&p), "missing_field");
	p = parts_default(); p.title = p.description = p.image = OMIT;
	REFUSED(CREATE, build(&p), "missing_field");
	/* Both token members are required once the token is there. */
	p = parts_default(); p.token_type = "\"com.apple.apns\"";
	REFUSED(CREATE, build(&p), "missing_field");
	p = parts_default(); p.token_data = "\"abc\"";
	REFUSED(CREATE, build(&p), "missing_field");
	p = parts_default(); p.token = "{}";
	REFUSED(CREATE, build(&p), "missing_field");
	/* expiration is required once mailboxConfiguration is there. */
	p = parts_default(); p.rights = "\"RWD\"";
	REFUSED(CREATE, build(&p), "missing_field");
	p = parts_default(); p.config = "{}";
	REFUSED(CREATE, build(&p), "missing_field");
	REFUSED(CREATE, "{}", "missing_field");
}

static void test_create_wrong_types(void)
{
	/* Values that are of the wrong type for a string member and for an
	 * object member; null is one of them (spec section 10). */
	static const char *not_string[] = { "null", "1", "0", "true", "false", "[]",
	    "[\"" MARK "\"]", "{}", "{\"v\":\"" MARK "\"}", "1.5" };
	static const char *not_object[] = { "null", "1", "true", "[]", "[{}]",
	    "\"" MARK "\"", "\"\"" };
	const size_t ns = sizeof(not_string) / sizeof(not_string[0]);
	const size_t no = sizeof(not_object) / sizeof(not_object[0]);
	struct parts p;

	for (size_t i = 0; i < no; i++) {
		p = parts_default(); p.payload = not_object[i];
		REFUSED(CREATE, build(&p), "invalid_field");
		p = parts_default(); p.display = not_object[i];
		REFUSED(CREATE, build(&p), "invalid_field");
		p = parts_default(); p.token = not_object[i];
		REFUSED(CREATE, build(&p), "invalid_field");
		p = parts_default(); p.config = not_object[i];
		REFUSED(CREATE, build(&p), "invalid_field");
	}
	for (size_t i = 0; i < ns; i++) {
		p = parts_default(); p.type = not_string[i];
		REFUSED(CREATE, build(&p), "invalid_field");
		p = parts_default(); p.data = not_string[i];
		REFUSED(CREATE, build(&p), "invalid_field");
		p = parts_default(); p.title = not_string[i];
		REFUSED(CREATE, build(&p), "invalid_field");
		p = parts_default(); p.description = not_string[i];
		REFUSED(CREATE, build(&p), "invalid_field");
		p = parts_default(); p.image = not_string[i];
		REFUSED(CREATE, build(&p), "invalid_field");
		p = parts_default(); p.token_type = not_string[i]; p.token_data = "\"abc\"";
		REFUSED(CREATE, build(&p), "invalid_field");
		p = parts_default(); p.token_type = "\"t\""; p.token_data = not_string[i];
		REFUSED(CREATE, build(&p), "invalid_field");
		p = parts_default(); p.rights = not_string[i];
		p.expiration = "\"2030-01-01T00:00:00Z\"";
		REFUSED(CREATE, build(&p), "invalid_field");
		p = parts_default(); p.expiration = not_string[i];
		REFUSED(CREATE, build(&p), "invalid_field");
	}
	/* A number where the instant goes, as the spec names it. */
	p = parts_default(); p.expiration = "1893456000";
	REFUSED(CREATE, build(&p), "invalid_field");
}

/* ---- create: lengths in code points ---- */

static void test_create_lengths(void)
{
	static char a[BODY_MAX / 4], b[BODY_MAX / 4];
	struct parts p;

	/* title: 1 to 256 code points; a 3-byte character counts once. */
	p = parts_default(); p.title = repeat(a, sizeof(a), "", EURO, 256);
	ACCEPTED(CREATE, build(&p));
	p = parts_default(); p.title = repeat(a, sizeof(a), MARK, EURO, 257 - 7);
	REFUSED(CREATE, build(&p), "invalid_field");
	p = parts_default(); p.title = repeat(a, sizeof(a), "", "x", 256);
	ACCEPTED(CREATE, build(&p));
	p = parts_default(); p.title = repeat(a, sizeof(a), "", "x", 257);
	REFUSED(CREATE, build(&p), "invalid_field");
	p = parts_default(); p.title = "\"\"";
	REFUSED(CREATE, build(&p), "invalid_field");
	/* A 4-byte character as an escaped surrogate pair is one code point. */
	p = parts_default(); p.title = repeat(a, sizeof(a), "", "\\ud83d\\udd11", 256);
	ACCEPTED(CREATE, build(&p));
	p = parts_default(); p.title = repeat(a, sizeof(a), "", "\\ud83d\\udd11", 257);
	REFUSED(CREATE, build(&p), "invalid_field");

	/* description: 0 to 1024. */
	p = parts_default(); p.description = "\"\"";
	ACCEPTED(CREATE, build(&p));
	p = parts_default(); p.description = repeat(a, sizeof(a), "", EURO, 1024);
	ACCEPTED(CREATE, build(&p));
	p = parts_default(); p.description = repeat(a, sizeof(a), MARK, EURO, 1025 - 7);
	REFUSED(CREATE, build(&p), "invalid_field");

	/* imageURL: at most 2048, "https://" included. */
	p = parts_default(); p.image = repeat(a, sizeof(a), "https://", "a", 2040);
	ACCEPTED(CREATE, build(&p));
	p = parts_default(); p.image = repeat(a, sizeof(a), "https://" MARK, "a", 2041 - 7);
	REFUSED(CREATE, build(&p), "invalid_field");
	p = parts_default(); p.image = repeat(a, sizeof(a), "https://", "\xc3\xa9", 2040);
	ACCEPTED(CREATE, build(&p));
	p = parts_default(); p.image = repeat(a, sizeof(a), "https://", "\xc3\xa9", 2041);
	REFUSED(CREATE, build(&p), "invalid_field");

	/* payload.type: 1 to 64. */
	p = parts_default(); p.type = repeat(a, sizeof(a), "", "T", 64);
	p.data = "\"QQ==\"";
	ACCEPTED(CREATE, build(&p));
	p = parts_default(); p.type = repeat(a, sizeof(a), MARK, "T", 65 - 7);
	REFUSED(CREATE, build(&p), "invalid_field");
	p = parts_default(); p.type = "\"\"";
	REFUSED(CREATE, build(&p), "invalid_field");

	/* notificationToken: type 1 to 128, tokenData 1 to 4096. */
	p = parts_default();
	p.token_type = repeat(a, sizeof(a), "", EURO, 128);
	p.token_data = repeat(b, sizeof(b), "", EURO, 4096);
	ACCEPTED(CREATE, build(&p));
	ACCEPTED(UPDATE, build(&p));
	ACCEPTED(READ, build(&p));
	p.token_type = repeat(a, sizeof(a), MARK, EURO, 129 - 7);
	REFUSED(CREATE, build(&p), "invalid_field");
	REFUSED(UPDATE, build(&p), "invalid_field");
	REFUSED(READ, build(&p), "invalid_field");
	p.token_type = "\"com.apple.apns\"";
	p.token_data = repeat(b, sizeof(b), MARK, EURO, 4097 - 7);
	REFUSED(CREATE, build(&p), "invalid_field");
	REFUSED(UPDATE, build(&p), "invalid_field");
	REFUSED(READ, build(&p), "invalid_field");
	p.token_data = "\"\"";
	REFUSED(CREATE, build(&p), "invalid_field");
	p.token_data = "\"x\"";
	p.token_type = "\"\"";
	REFUSED(CREATE, build(&p), "invalid_field");
}

/* ---- create: the rules for individual members ---- */

static void test_create_image_url(void)
{
	static const char *bad[] = { "\"http://" MARK ".example/a.png\"", "\"ftp://" MARK "\"",
	    "\"javascript:" MARK "\"", "\" https://" MARK "\"", "\"//" MARK "\"",
	    "\"https:/" MARK "\"", "\"https:\"", "\"" MARK "\"" };
	struct parts p;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		p = parts_default(); p.image = bad[i];
		REFUSED(CREATE, build(&p), "invalid_field");
	}
	p = parts_default(); p.image = "\"https://x\"";
	ACCEPTED(CREATE, build(&p));
}

static void test_payload_rules(void)
{
	static const char *bad_types[] = { "\"" MARK " X\"", "\"" MARK "/x\"", "\"" MARK "+\"",
	    "\"" MARK "\\u00e9\"", "\"" MARK ":\"", "\"" MARK "\\n\"" };
	static const char *bad_data[] = {
		"\"" MARK "\"",                 /* 7: padding missing */
		"\"QUJDQQ\"",                   /* padding missing */
		"\"QUJD QQ==\"",                /* white space */
		"\"QUJD\\nQQ==\"",
		"\"QUJD\\tQQ==\"",
		"\"QUJDQ-__\"",                 /* url-safe alphabet */
		"\"QU=DQQ==\"",                 /* '=' inside */
		"\"QR==\"",                     /* non-zero trailing bits */
		"\"QUJ=\"",
		"\"QUJD====\"",
		/* Android's Base64.DEFAULT: a line break after every 76
		 * characters and at the end. */
		"\"" ANDROID_76 "\\n" ANDROID_REST "\\n\"",
		"\"" ANDROID_76 "\\n" ANDROID_REST "\"",
		"\"" ANDROID_76 "\\r\\n" ANDROID_REST "\"",     /* MIME */
		"\"" ANDROID_76 ANDROID_REST "\\n\"",
		/* Base64.URL_SAFE (RFC 4648 section 5), padded or not. */
		"\"" URL_SAFE_80 "\"",
		"\"QUJDQ-__\"",
		"\"QUJDQ___\"",
		"\"QUJDQ---\"",
	};
	struct parts p;
	struct body_update out;
	struct body_error err;
	json_t *doc;

	for (size_t i = 0; i < sizeof(bad_types) / sizeof(bad_types[0]); i++) {
		p = parts_default(); p.type = bad_types[i];
		REFUSED(CREATE, build(&p), "invalid_field");
		REFUSED(UPDATE, build(&p), "invalid_field");
	}
	p = parts_default(); p.type = "\"com.example-v1_2.X\""; p.data = "\"QQ==\"";
	ACCEPTED(CREATE, build(&p));
	for (size_t i = 0; i < sizeof(bad_data) / sizeof(bad_data[0]); i++) {
		p = parts_default(); p.type = "\"other\""; p.data = bad_data[i];
		REFUSED(CREATE, build(&p), "bad_base64");
		REFUSED(UPDATE, build(&p), "bad_base64");
	}
	/* The message says what to change. */
	p = parts_default(); p.type = "\"other\"";
	p.data = "\"" ANDROID_76 "\\n" ANDROID_REST "\\n\"";
	memset(&err, 0, sizeof(err));
	CHECK_EQ_INT(body_parse_update(build(&p), strlen(build(&p)), &out, &doc, &err), -1);
	CHECK(strstr(err.message, "payload.data") != NULL);
	CHECK(strstr(err.message, "line breaks") != NULL);
	CHECK(strstr(err.message, "URL alphabet") != NULL);
	/* The same bytes without line breaks, or in the standard alphabet. */
	p.data = "\"" ANDROID_76 ANDROID_REST "\"";
	ACCEPTED(CREATE, build(&p));
	ACCEPTED(UPDATE, build(&p));
	/* Empty data is valid base64 but no payload: another fault. */
	p.data = "\"\"";
	REFUSED(CREATE, build(&p), "invalid_field");
	REFUSED(UPDATE, build(&p), "invalid_field");
	/* Valid base64 with 0, 1 and 2 padding characters. */
	p = parts_default(); p.type = "\"other\"";
	p.data = "\"QUJD\"";
	ACCEPTED(CREATE, build(&p));
	p.data = "\"QUI=\"";
	ACCEPTED(CREATE, build(&p));
	p.data = "\"QQ==\"";
	ACCEPTED(CREATE, build(&p));

	/* AEAD types: at least 28 decoded bytes (IV and tag). */
	p = parts_default(); p.type = "\"AEAD_AES_128_GCM\""; p.data = "\"" DATA_28 "\"";
	ACCEPTED(CREATE, build(&p));
	ACCEPTED(UPDATE, build(&p));
	p.data = "\"" DATA_27 "\"";
	REFUSED(CREATE, build(&p), "invalid_field");
	REFUSED(UPDATE, build(&p), "invalid_field");
	p.type = "\"AEAD_AES_256_GCM\"";
	REFUSED(CREATE, build(&p), "invalid_field");
	REFUSED(UPDATE, build(&p), "invalid_field");
	p.data = "\"" DATA_28 "\"";
	ACCEPTED(CREATE, build(&p));
	/* Another type with short data is fine. */
	p.type = "\"AEAD_AES_128_GCM_SIV\""; p.data = "\"QQ==\"";
	ACCEPTED(CREATE, build(&p));
	p.type = "\"custom\""; p.data = "\"" DATA_27 "\"";
	ACCEPTED(CREATE, build(&p));
	ACCEPTED(UPDATE, build(&p));
}

static void test_configuration(void)
{
	struct body_create out;
	struct body_error err;
	json_t *doc = NULL;
	struct parts p;
	const char *text;
	static const char *bad_rights[] = { "\"\"", "\"RR\"", "\"X\"", "\"r\"", "\"RWDX\"",
	    "\"" MARK "\"", "\"R W\"", "\"WW\"" };
	static const char *bad_times[] = {
		"\"2030-01-01T00:00:00+00:00\"", "\"2030-01-01T00:00:00.5Z\"",
		"\"2030-01-01\"", "\"2030-01-01t00:00:00z\"", "\"" MARK "\"", "\"\"",
		"\"2030-02-29T00:00:00Z\"", "\"2030-01-01T24:00:00Z\"",
	};

	/* accessRights defaults to RD when the configuration has none. */
	p = parts_default(); p.expiration = "\"2028-02-29T12:00:00Z\"";
	text = build(&p);
	CHECK_EQ_INT(body_parse_create(text, strlen(text), &out, &doc, &err), 0);
	CHECK_EQ_INT(out.rights, MAILBOX_READ | MAILBOX_DELETE);
	CHECK_EQ_INT(out.has_expiration, 1);
	CHECK_EQ_INT(out.expires_at, 1835438400);
	json_decref(doc);

	p.rights = "\"W\"";
	text = build(&p);
	CHECK_EQ_INT(body_parse_create(text, strlen(text), &out, &doc, &err), 0);
	CHECK_EQ_INT(out.rights, MAILBOX_WRITE);
	json_decref(doc);
	p.rights = "\"DR\"";
	text = build(&p);
	CHECK_EQ_INT(body_parse_create(text, strlen(text), &out, &doc, &err), 0);
	CHECK_EQ_INT(out.rights, MAILBOX_READ | MAILBOX_DELETE);
	json_decref(doc);

	for (size_t i = 0; i < sizeof(bad_rights) / sizeof(bad_rights[0]); i++) {
		p = parts_default(); p.rights = bad_rights[i];
		p.expiration = "\"2030-01-01T00:00:00Z\"";
		REFUSED(CREATE, build(&p), "invalid_field");
	}
	for (size_t i = 0; i < sizeof(bad_times) / sizeof(bad_times[0]); i++) {
		p = parts_default(); p.expiration = bad_times[i];
		REFUSED(CREATE, build(&p), "invalid_field");
	}
}

/* ---- bodies that are not JSON objects ---- */

static void test_bad_json(void)
{
	static const char *bad[] = {
		"{",
		"}",
		"   ",
		"[]",
		"[{\"payload\":{}}]",
		"null",
		"42",
		"\"" MARK "\"",
		"{\"payload\": " MARK "}",
		"{\"payload\":{\"type\":\"" MARK "\",}}",
		"{'payload':1}",
		"{\"a\":1} " MARK,
		"{\"a\":1}{}",
		"{\"a\":\"" MARK "\\x\"}",
		/* Duplicate keys, at the top and inside. */
		"{\"payload\":{},\"payload\":\"" MARK "\"}",
		"{\"payload\":{\"type\":\"a\",\"type\":\"" MARK "\"}}",
		"{\"a\":{\"b\":1,\"b\":2}}",
		/* Lone surrogate escapes. */
		"{\"displayInformation\":{\"title\":\"" MARK "\\ud800\"}}",
		"{\"displayInformation\":{\"title\":\"" MARK "\\udc00x\"}}",
		"{\"a\":\"\\ud83d" MARK "\"}",
		/* Invalid UTF-8 bytes: a stray continuation, an overlong form, a
		 * truncated sequence, a surrogate encoded directly. */
		"{\"a\":\"" MARK "\x80\"}",
		"{\"a\":\"" MARK "\xc0\xaf\"}",
		"{\"a\":\"" MARK "\xe2\x82\"}",
		"{\"a\":\"" MARK "\xed\xa0\x80\"}",
		"{\"a\":\"" MARK "\xff\"}",
		"{\"" MARK "\xfe\":1}",
		/* A NUL character inside a string. */
		"{\"a\":\"" MARK "\\u0000\"}",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		REFUSED(CREATE, bad[i], "bad_json");
		REFUSED(UPDATE, bad[i], "bad_json");
		REFUSED(READ, bad[i], "bad_json");
	}
	/* Empty bodies: refused for create and update, fine for a read. */
	REFUSED_LEN(CREATE, "", 0, "bad_json");
	REFUSED_LEN(UPDATE, "", 0, "bad_json");
	/* A raw NUL byte in the body. */
	REFUSED_LEN(CREATE, "{\"a\":\"x\0\"}", sizeof("{\"a\":\"x\0\"}") - 1, "bad_json");
	/* Invalid UTF-8 inside a member that is otherwise valid. */
	{
		struct parts p = parts_default();

		p.title = "\"" MARK "\xc3\x28\"";
		REFUSED(CREATE, build(&p), "bad_json");
	}
}

/* ---- update and read ---- */

static void test_update(void)
{
	static const char minimal[] = "{\"payload\":{\"type\":\"t\",\"data\":\"QUJD\"}}";
	static const char with_token[] = "{\"payload\":{\"type\":\"t\",\"data\":\"QUJD\"},"
	    "\"notificationToken\":{\"type\":\"com.apple.apns\",\"tokenData\":\"d\"},"
	    "\"displayInformation\":42}";
	struct body_update out;
	struct body_error err;
	json_t *doc = NULL;
	struct parts p;

	CHECK_EQ_INT(body_parse_update(minimal, strlen(minimal), &out, &doc, &err), 0);
	CHECK(span_is(out.payload.type, "t"));
	CHECK(span_is(out.payload.data, "QUJD"));
	CHECK(out.token.type.ptr == NULL);
	json_decref(doc);
	/* displayInformation is not an update member: ignored. */
	CHECK_EQ_INT(body_parse_update(with_token, strlen(with_token), &out, &doc, &err), 0);
	CHECK(span_is(out.token.type, "com.apple.apns"));
	CHECK(span_is(out.token.data, "d"));
	json_decref(doc);

	REFUSED(UPDATE, "{}", "missing_field");
	REFUSED(UPDATE, "{\"notificationToken\":{\"type\":\"a\",\"tokenData\":\"b\"}}",
	    "missing_field");
	REFUSED(UPDATE, "{\"payload\":null}", "invalid_field");
	REFUSED(UPDATE, "{\"payload\":{\"type\":\"t\"}}", "missing_field");
	REFUSED(UPDATE, "{\"payload\":{\"data\":\"QUJD\"}}", "missing_field");
	REFUSED(UPDATE, "{\"payload\":{\"type\":null,\"data\":\"QUJD\"}}", "invalid_field");
	REFUSED(UPDATE, "{\"payload\":{\"type\":\"t\",\"data\":null}}", "invalid_field");
	p = parts_default(); p.display = OMIT; p.token_type = "\"a\"";
	REFUSED(UPDATE, build(&p), "missing_field");
	p = parts_default(); p.display = OMIT; p.token = "null";
	REFUSED(UPDATE, build(&p), "invalid_field");
}

static void test_read(void)
{
	struct body_read out;
	struct body_error err;
	json_t *sentinel = json_object(), *doc = sentinel;
	static const char token[] =
	    "{\"notificationToken\":{\"type\":\"com.apple.apns\",\"tokenData\":\"xyz\"},\"z\":1}";

	/* Empty: nothing to parse, no token. */
	memset(&out, 0xff, sizeof(out));
	CHECK_EQ_INT(body_parse_read("", 0, &out, &doc, &err), 0);
	CHECK(doc == NULL);
	json_decref(sentinel);
	CHECK(out.token.type.ptr == NULL && out.token.data.ptr == NULL);
	CHECK_EQ_INT(out.token.type.len + out.token.data.len, 0);

	CHECK_EQ_INT(body_parse_read("{}", 2, &out, &doc, &err), 0);
	CHECK(out.token.type.ptr == NULL);
	json_decref(doc);

	CHECK_EQ_INT(body_parse_read(token, strlen(token), &out, &doc, &err), 0);
	CHECK(span_is(out.token.type, "com.apple.apns"));
	CHECK(span_is(out.token.data, "xyz"));
	json_decref(doc);

	/* A read body needs nothing else, not even a payload. */
	ACCEPTED(READ, "{\"payload\":42}");
	REFUSED(READ, "{\"notificationToken\":null}", "invalid_field");
	REFUSED(READ, "{\"notificationToken\":\"" MARK "\"}", "invalid_field");
	REFUSED(READ, "{\"notificationToken\":{\"type\":\"a\"}}", "missing_field");
	REFUSED(READ, "{\"notificationToken\":{\"tokenData\":\"" MARK "\"}}", "missing_field");
	REFUSED(READ, "{\"notificationToken\":{\"type\":\"a\",\"tokenData\":7}}", "invalid_field");
}

/* The message names the member (so a developer can fix the request). */
static void test_messages_name_members(void)
{
	struct body_create out;
	struct body_error err;
	json_t *doc = NULL;
	struct parts p = parts_default();
	const char *text;

	p.title = "\"\"";
	text = build(&p);
	CHECK_EQ_INT(body_parse_create(text, strlen(text), &out, &doc, &err), -1);
	CHECK(strstr(err.message, "displayInformation.title") != NULL);
	p = parts_default(); p.data = "\"" MARK "\"";
	text = build(&p);
	CHECK_EQ_INT(body_parse_create(text, strlen(text), &out, &doc, &err), -1);
	CHECK(strstr(err.message, "payload.data") != NULL);
	CHECK(strstr(err.message, MARK) == NULL);
	p = parts_default(); p.expiration = "\"" MARK "\"";
	text = build(&p);
	CHECK_EQ_INT(body_parse_create(text, strlen(text), &out, &doc, &err), -1);
	CHECK(strstr(err.message, "expiration") != NULL);
	CHECK(strstr(err.message, MARK) == NULL);
}

int main(void)
{
	/* Lines reach a pipe even if a later test crashes. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_create_minimal);
	CHECK_RUN(test_create_full);
	CHECK_RUN(test_create_missing);
	CHECK_RUN(test_create_wrong_types);
	CHECK_RUN(test_create_lengths);
	CHECK_RUN(test_create_image_url);
	CHECK_RUN(test_payload_rules);
	CHECK_RUN(test_configuration);
	CHECK_RUN(test_bad_json);
	CHECK_RUN(test_update);
	CHECK_RUN(test_read);
	CHECK_RUN(test_messages_name_members);
	return CHECK_SUMMARY();
}
