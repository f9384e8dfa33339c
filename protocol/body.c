/*
 * body.c — validation of CreateMailbox, UpdateMailbox and ReadSecureContent
 * bodies (spec sections 4.1, 4.2, 4.5 and 10).
 */
#include <stdio.h>
#include <string.h>

#include "protocol/body.h"
#include "protocol/limits.h"
#include "protocol/wire.h"
#include "lib/base64.h"
#include "lib/clock.h"
#include "storage/mailbox.h"

static int body_fail(struct body_error *err, const char *code, const char *fmt,
    const char *member)
{
	err->status = 400;
	err->code = code;
	snprintf(err->message, sizeof(err->message), fmt, member);
	return -1;
}

static json_t *body_load(const char *text, size_t len, struct body_error *err)
{
	json_error_t jerr;
	json_t *root;

	if (len == 0) {
		body_fail(err, "bad_json", "%s", "the request body is empty; a JSON object is required");
		return NULL;
	}
	root = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	if (root == NULL) {
		if (json_error_code(&jerr) == json_error_out_of_memory) {
			err->status = 503;
			err->code = "unavailable";
			snprintf(err->message, sizeof(err->message), "the relay is short of memory");
			return NULL;
		}
		/* jerr.text may quote the input, which must never be echoed. */
		err->status = 400;
		err->code = "bad_json";
		snprintf(err->message, sizeof(err->message),
		    "the body is not valid JSON (line %d, column %d)", jerr.line, jerr.column);
		return NULL;
	}
	if (!json_is_object(root)) {
		json_decref(root);
		body_fail(err, "bad_json", "%s", "the body must be a JSON object");
		return NULL;
	}
	return root;
}

/* A string member: present (unless optional), a string, and keeping rule
 * (storage/mailbox.h: the same rule a state file is held to), if one is
 * given; rule_message says what the rule asks. 1 when present and valid, 0
 * when absent and optional, -1 on error. */
static int body_string(json_t *obj, const char *key, const char *path, int optional,
    mailbox_check_fn rule, const char *rule_message, struct store_bytes *out,
    struct body_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL) {
		if (optional)
			return 0;
		return body_fail(err, "missing_field", "%s is required", path);
	}
	if (!json_is_string(v))
		return body_fail(err, "invalid_field", "%s must be a string", path);
	out->ptr = json_string_value(v);
	out->len = json_string_length(v);
	if (rule != NULL && rule(out->ptr, out->len) != 0)
		return body_fail(err, "invalid_field", rule_message, path);
	return 1;
}

/* An object member. 1 present, 0 absent and optional, -1 error. */
static int body_object(json_t *obj, const char *key, int optional, json_t **out,
    struct body_error *err)
{
	json_t *v = json_object_get(obj, key);

	if (v == NULL) {
		if (optional)
			return 0;
		return body_fail(err, "missing_field", "%s is required", key);
	}
	if (!json_is_object(v))
		return body_fail(err, "invalid_field", "%s must be an object", key);
	*out = v;
	return 1;
}

#define BODY_LENGTH "%s has a length out of range"

static int body_payload(json_t *root, struct body_payload *out, struct body_error *err)
{
	json_t *payload;

	if (body_object(root, "payload", 0, &payload, err) < 0)
		return -1;
	if (body_string(payload, "type", "payload.type", 0, mailbox_check_payload_type,
	    "%s must be 1 to " LIMITS_TEXT(LIMITS_PAYLOAD_TYPE_MAX) " of A-Z a-z 0-9 _ . -",
	    &out->type, err) < 0)
		return -1;
	if (body_string(payload, "data", "payload.data", 0, NULL, NULL, &out->data, err) < 0)
		return -1;
	if (out->data.len == 0)
		return body_fail(err, "invalid_field", "%s must not be empty", "payload.data");
	/* Its own code, and a message that names what platforms' encoders get
	 * wrong: Android's Base64.DEFAULT breaks lines, URL_SAFE swaps + and /. */
	if (base64_decoded_len(BASE64_STD, out->data.ptr, out->data.len,
	    &out->decoded_len) != 0)
		return body_fail(err, "bad_base64", "%s must be padded standard base64 "
		    "(RFC 4648 section 4): line breaks, spaces and the URL alphabet (- and _) "
		    "are not accepted", "payload.data");
	if (mailbox_check_payload_size(out->type.ptr, out->type.len, out->decoded_len) != 0)
		return body_fail(err, "invalid_field",
		    "%s is too short for an IV and a tag", "payload.data");
	return 0;
}

static int body_token(json_t *root, struct body_token *out, struct body_error *err)
{
	json_t *token;
	int r = body_object(root, "notificationToken", 1, &token, err);

	out->type.ptr = out->data.ptr = NULL;
	out->type.len = out->data.len = 0;
	if (r <= 0)
		return r;
	if (body_string(token, "type", "notificationToken.type", 0, mailbox_check_token_type,
	    BODY_LENGTH, &out->type, err) < 0 ||
	    body_string(token, "tokenData", "notificationToken.tokenData", 0,
	    mailbox_check_token_data, BODY_LENGTH, &out->data, err) < 0)
		return -1;
	return 0;
}

static int body_display(json_t *root, struct body_create *out, struct body_error *err)
{
	json_t *display;

	if (body_object(root, "displayInformation", 0, &display, err) < 0)
		return -1;
	if (body_string(display, "title", "displayInformation.title", 0, mailbox_check_title,
	    BODY_LENGTH, &out->title, err) < 0 ||
	    body_string(display, "description", "displayInformation.description", 0,
	    mailbox_check_description, BODY_LENGTH, &out->description, err) < 0 ||
	    body_string(display, "imageURL", "displayInformation.imageURL", 0,
	    mailbox_check_image_url, "%s must be an https:// URL of at most "
	    LIMITS_TEXT(LIMITS_IMAGE_URL_MAX) " characters",
	    &out->image_url, err) < 0)
		return -1;
	return 0;
}

static int body_configuration(json_t *root, struct body_create *out, struct body_error *err)
{
	struct store_bytes rights, expiration;
	json_t *config;
	int r;

	out->rights = MAILBOX_READ | MAILBOX_DELETE;
	out->has_expiration = 0;
	r = body_object(root, "mailboxConfiguration", 1, &config, err);
	if (r <= 0)
		return r;
	r = body_string(config, "accessRights", "mailboxConfiguration.accessRights", 1, NULL,
	    NULL, &rights, err);
	if (r < 0)
		return -1;
	if (r > 0 && wire_parse_rights(rights.ptr, rights.len, &out->rights) != 0)
		return body_fail(err, "invalid_field", "%s must combine R, W and D, each once",
		    "mailboxConfiguration.accessRights");
	if (body_string(config, "expiration", "mailboxConfiguration.expiration", 0, NULL, NULL,
	    &expiration, err) < 0)
		return -1;
	if (clock_parse_rfc3339(expiration.ptr, expiration.len, &out->expires_at) != 0)
		return body_fail(err, "invalid_field", "%s must be YYYY-MM-DDThh:mm:ssZ",
		    "mailboxConfiguration.expiration");
	out->has_expiration = 1;
	return 0;
}

int body_parse_create(const char *text, size_t len, struct body_create *out,
    json_t **doc, struct body_error *err)
{
	json_t *root = body_load(text, len, err);

	if (root == NULL)
		return -1;
	if (body_payload(root, &out->payload, err) < 0 || body_display(root, out, err) < 0 ||
	    body_token(root, &out->token, err) < 0 || body_configuration(root, out, err) < 0) {
		json_decref(root);
		return -1;
	}
	*doc = root;
	return 0;
}

int body_parse_update(const char *text, size_t len, struct body_update *out,
    json_t **doc, struct body_error *err)
{
	json_t *root = body_load(text, len, err);

	if (root == NULL)
		return -1;
	if (body_payload(root, &out->payload, err) < 0 || body_token(root, &out->token, err) < 0) {
		json_decref(root);
		return -1;
	}
	*doc = root;
	return 0;
}

int body_parse_read(const char *text, size_t len, struct body_read *out,
    json_t **doc, struct body_error *err)
{
	json_t *root;

	*doc = NULL;
	out->token.type.ptr = out->token.data.ptr = NULL;
	out->token.type.len = out->token.data.len = 0;
	if (len == 0)
		return 0;
	root = body_load(text, len, err);
	if (root == NULL)
		return -1;
	if (body_token(root, &out->token, err) < 0) {
		json_decref(root);
		return -1;
	}
	*doc = root;
	return 0;
}
