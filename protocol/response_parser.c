/*
 * response_parser.c — reading an HTTP/1.1 response, on llhttp.
 */
#include <string.h>
#include <strings.h>

#include "protocol/response_parser.h"

#define RESPONSE_PARSER_RETRY_AFTER_MAX 86400

enum response_parser_header {
	RESPONSE_PARSER_H_OTHER,
	RESPONSE_PARSER_H_ETAG,
	RESPONSE_PARSER_H_RETRY_AFTER
};

static struct response_parser *response_parser_of(llhttp_t *ll)
{
	return ll->data;
}

static int response_parser_on_header_field(llhttp_t *ll, const char *at, size_t len)
{
	struct response_parser *a = response_parser_of(ll);

	if (a->field_len + len < sizeof(a->field)) {
		memcpy(a->field + a->field_len, at, len);
		a->field_len += len;
	} else {
		a->field_len = sizeof(a->field);    /* too long to be one we read */
	}
	return 0;
}

static int response_parser_on_header_field_complete(llhttp_t *ll)
{
	struct response_parser *a = response_parser_of(ll);

	a->reading = RESPONSE_PARSER_H_OTHER;
	if (a->field_len == 4 && strncasecmp(a->field, "etag", 4) == 0) {
		a->reading = RESPONSE_PARSER_H_ETAG;
		a->etag_len = 0;
	} else if (a->field_len == 11 && strncasecmp(a->field, "retry-after", 11) == 0) {
		a->reading = RESPONSE_PARSER_H_RETRY_AFTER;
		a->retry_after = 0;
	}
	a->field_len = 0;
	return 0;
}

static int response_parser_on_header_value(llhttp_t *ll, const char *at, size_t len)
{
	struct response_parser *a = response_parser_of(ll);

	if (a->reading == RESPONSE_PARSER_H_ETAG && a->etag_len + len < sizeof(a->etag)) {
		memcpy(a->etag + a->etag_len, at, len);
		a->etag_len += len;
		a->etag[a->etag_len] = '\0';
	}
	/* Delta-seconds only: an HTTP date counts as no advice. */
	for (size_t i = 0; a->reading == RESPONSE_PARSER_H_RETRY_AFTER && i < len; i++) {
		if (at[i] < '0' || at[i] > '9') {
			a->reading = RESPONSE_PARSER_H_OTHER;
			a->retry_after = 0;
		} else if (a->retry_after < RESPONSE_PARSER_RETRY_AFTER_MAX) {
			a->retry_after = a->retry_after * 10 + (unsigned)(at[i] - '0');
		}
	}
	return 0;
}

static int response_parser_on_body(llhttp_t *ll, const char *at, size_t len)
{
	struct response_parser *a = response_parser_of(ll);

	if (a->body->len + len > a->body_max) {
		a->too_large = 1;
		return -1;
	}
	buf_append(a->body, at, len);
	return a->body->failed ? -1 : 0;
}

static int response_parser_on_message_complete(llhttp_t *ll)
{
	struct response_parser *a = response_parser_of(ll);

	/* An interim 100 Continue is not the answer. */
	if (llhttp_get_status_code(ll) / 100 == 1)
		return 0;
	a->complete = 1;
	a->status = llhttp_get_status_code(ll);
	a->keep_alive = llhttp_should_keep_alive(ll);
	return HPE_PAUSED;
}

static const llhttp_settings_t response_parser_settings = {
	.on_header_field = response_parser_on_header_field,
	.on_header_field_complete = response_parser_on_header_field_complete,
	.on_header_value = response_parser_on_header_value,
	.on_body = response_parser_on_body,
	.on_message_complete = response_parser_on_message_complete,
};

void response_parser_init(struct response_parser *a, struct buf *body, size_t body_max)
{
	memset(a, 0, sizeof(*a));
	llhttp_init(&a->ll, HTTP_RESPONSE, &response_parser_settings);
	a->ll.data = a;
	a->body = body;
	a->body_max = body_max;
	body->len = 0;
	body->failed = 0;
}

int response_parser_feed(struct response_parser *a, const char *data, size_t len)
{
	llhttp_errno_t e = len == 0 ? llhttp_finish(&a->ll) : llhttp_execute(&a->ll, data, len);

	if (a->complete)
		return 1;
	if (e != HPE_OK || len == 0)
		return -1;
	return 0;
}
