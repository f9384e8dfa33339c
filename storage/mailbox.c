/*
 * mailbox.c — the spec's rules for the parts of a mailbox.
 */
#include <string.h>

#include "lib/utf8.h"
#include "storage/mailbox.h"
#include "storage/store.h"

/* Decoded AEAD data holds at least a 96-bit IV and a 128-bit tag. */
#define MAILBOX_AEAD_MIN_BYTES 28

/* Code points of s when it is valid UTF-8 without NUL; SIZE_MAX otherwise. */
static size_t mailbox_text_length(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t points = 0, at = 0;

	while (at < len) {
		uint32_t point;
		size_t n = utf8_decode(p + at, len - at, &point);

		if (n == 0 || point == 0)
			return SIZE_MAX;
		at += n;
		points++;
	}
	return points;
}

static int mailbox_check_text(const char *s, size_t len, size_t min, size_t max)
{
	size_t points = mailbox_text_length(s, len);

	return points != SIZE_MAX && points >= min && points <= max ? 0 : -1;
}

int mailbox_check_payload_type(const char *s, size_t len)
{
	if (len < 1 || len > MAILBOX_PAYLOAD_TYPE_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
		    (c >= '0' && c <= '9') || c == '_' || c == '.' || c == '-'))
			return -1;
	}
	return 0;
}

static int mailbox_type_is(const char *type, size_t type_len, const char *name)
{
	return type_len == strlen(name) && memcmp(type, name, type_len) == 0;
}

int mailbox_check_payload_size(const char *type, size_t type_len, size_t data_len)
{
	if (data_len == 0)
		return -1;
	if ((mailbox_type_is(type, type_len, "AEAD_AES_128_GCM") ||
	    mailbox_type_is(type, type_len, "AEAD_AES_256_GCM")) &&
	    data_len < MAILBOX_AEAD_MIN_BYTES)
		return -1;
	return 0;
}

int mailbox_check_title(const char *s, size_t len)
{
	return mailbox_check_text(s, len, 1, MAILBOX_TITLE_MAX);
}

int mailbox_check_description(const char *s, size_t len)
{
	return mailbox_check_text(s, len, 0, MAILBOX_DESCRIPTION_MAX);
}

int mailbox_check_image_url(const char *s, size_t len)
{
	/* The preview page shows it as an image source: no javascript: or data:. */
	if (len < 8 || memcmp(s, "https://", 8) != 0)
		return -1;
	return mailbox_check_text(s, len, 1, MAILBOX_IMAGE_URL_MAX);
}

int mailbox_check_token_type(const char *s, size_t len)
{
	return mailbox_check_text(s, len, 1, MAILBOX_TOKEN_TYPE_MAX);
}

int mailbox_check_token_data(const char *s, size_t len)
{
	return mailbox_check_text(s, len, 1, MAILBOX_TOKEN_DATA_MAX);
}

int mailbox_check_rights(uint8_t rights)
{
	return rights != 0 && (rights & ~(MAILBOX_READ | MAILBOX_WRITE | MAILBOX_DELETE)) == 0 ?
	    0 : -1;
}

int mailbox_check_request_id(const char *s, size_t len)
{
	if (len < 1 || len > STORE_REQUEST_ID_MAX)
		return -1;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < 0x21 || s[i] > 0x7e)
			return -1;
	}
	return 0;
}
