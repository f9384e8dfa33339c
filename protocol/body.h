/*
 * body.h — the JSON request bodies of the API, checked member by member.
 *
 * jansson parses (rejecting invalid UTF-8, lone surrogates, NUL characters and
 * duplicate keys); these functions then check every member the spec names
 * for presence, type and range, and hand back pointers into jansson's strings.
 * A failure carries the HTTP status, the error code and a message that names
 * the member but never repeats its value.
 */
#ifndef PROTOCOL_BODY_H
#define PROTOCOL_BODY_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "storage/store.h"

struct body_error {
	int status;             /* 400, or 503 when jansson ran out of memory */
	const char *code;       /* bad_json, missing_field, invalid_field, bad_base64 */
	char message[160];
};

struct body_payload {
	struct store_bytes type, data;  /* data: the base64 text, checked */
	size_t decoded_len;             /* the bytes it decodes to */
};

struct body_token {
	struct store_bytes type, data;  /* type.ptr NULL: no token given */
};

struct body_create {
	struct body_payload payload;
	struct store_bytes title, description, image_url;
	struct body_token token;
	uint8_t rights;
	int has_expiration;
	int64_t expires_at;     /* Unix seconds, range not yet checked */
};

struct body_update {
	struct body_payload payload;
	struct body_token token;
};

struct body_read {
	struct body_token token;
};

/* Each returns 0 and the parsed document in *doc (it owns the strings the
 * result points into: release it with json_decref), or -1 with err filled in.
 * A read body may be empty: *doc is then NULL and no token is given. */
int body_parse_create(const char *text, size_t len, struct body_create *out,
    json_t **doc, struct body_error *err);
int body_parse_update(const char *text, size_t len, struct body_update *out,
    json_t **doc, struct body_error *err);
int body_parse_read(const char *text, size_t len, struct body_read *out,
    json_t **doc, struct body_error *err);

#endif
