/*
 * test_mailbox.c — the rules of storage/mailbox.h, which hold a device's
 * request (through protocol/body.c) and a state file (through
 * storage/snapshot.c) alike: the forms each must accept and the near misses
 * it must refuse.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "storage/mailbox.h"
#include "storage/store.h"
#include "test/unit/check.h"

#define S(lit) (lit), (sizeof(lit) - 1)

static void test_payload_type(void)
{
	char type[70];

	CHECK_EQ_INT(mailbox_check_payload_type(S("AEAD_AES_128_GCM")), 0);
	CHECK_EQ_INT(mailbox_check_payload_type(S("a")), 0);
	CHECK_EQ_INT(mailbox_check_payload_type(S("com.example.v1-2_X")), 0);
	CHECK_EQ_INT(mailbox_check_payload_type(S("")), -1);
	CHECK_EQ_INT(mailbox_check_payload_type(S("has space")), -1);
	CHECK_EQ_INT(mailbox_check_payload_type(S("slash/no")), -1);
	CHECK_EQ_INT(mailbox_check_payload_type(S("quote\"")), -1);
	CHECK_EQ_INT(mailbox_check_payload_type(S("caf\xc3\xa9")), -1);
	CHECK_EQ_INT(mailbox_check_payload_type(S("plus+")), -1);
	CHECK_EQ_INT(mailbox_check_payload_type("nul\0x", 5), -1);
	memset(type, 'A', sizeof(type));
	CHECK_EQ_INT(mailbox_check_payload_type(type, 64), 0);
	CHECK_EQ_INT(mailbox_check_payload_type(type, 65), -1);
}

static void test_payload_size(void)
{
	CHECK_EQ_INT(mailbox_check_payload_size(S("t"), 1), 0);
	CHECK_EQ_INT(mailbox_check_payload_size(S("t"), 0), -1);
	CHECK_EQ_INT(mailbox_check_payload_size(S("AEAD_AES_128_GCM"), 28), 0);
	CHECK_EQ_INT(mailbox_check_payload_size(S("AEAD_AES_128_GCM"), 27), -1);
	CHECK_EQ_INT(mailbox_check_payload_size(S("AEAD_AES_256_GCM"), 27), -1);
	CHECK_EQ_INT(mailbox_check_payload_size(S("AEAD_AES_256_GCM"), 1 << 20), 0);
	/* The minimum is the AEAD types', not their prefixes' or extensions'. */
	CHECK_EQ_INT(mailbox_check_payload_size(S("AEAD_AES_128_GC"), 1), 0);
	CHECK_EQ_INT(mailbox_check_payload_size(S("AEAD_AES_128_GCMX"), 1), 0);
	CHECK_EQ_INT(mailbox_check_payload_size("AEAD_AES_128_GCM\0", 17, 1), 0);
}

static void test_request_id(void)
{
	char id[130];

	memset(id, 'x', sizeof(id));
	CHECK_EQ_INT(mailbox_check_request_id(S("a")), 0);
	CHECK_EQ_INT(mailbox_check_request_id(S("!~\"{}[]<>")), 0);
	CHECK_EQ_INT(mailbox_check_request_id(id, 128), 0);
	CHECK_EQ_INT(mailbox_check_request_id(id, 129), -1);
	CHECK_EQ_INT(mailbox_check_request_id(S("")), -1);
	CHECK_EQ_INT(mailbox_check_request_id(S("a b")), -1);
	CHECK_EQ_INT(mailbox_check_request_id(S("a\tb")), -1);
	CHECK_EQ_INT(mailbox_check_request_id(S("ab\x7f")), -1);
	CHECK_EQ_INT(mailbox_check_request_id(S("\x1f")), -1);
	CHECK_EQ_INT(mailbox_check_request_id(S("caf\xc3\xa9")), -1);
	CHECK_EQ_INT(mailbox_check_request_id(S("\xff")), -1);
	CHECK_EQ_INT(mailbox_check_request_id("a\0b", 3), -1);
}

/* Lengths count code points: n characters of each width fit a limit of n. */
static void test_lengths_count_code_points(void)
{
	static const char *const one[] = { "a", "\xc3\xa9", "\xe2\x82\xac", "\xf0\x9f\x94\x91" };
	char text[4 * 4096 + 8];

	for (size_t w = 0; w < 4; w++) {
		size_t width = strlen(one[w]);

		for (size_t i = 0; i < 4097; i++)
			memcpy(text + i * width, one[w], width);
		CHECK_EQ_INT(mailbox_check_title(text, 256 * width), 0);
		CHECK_EQ_INT(mailbox_check_title(text, 257 * width), -1);
		CHECK_EQ_INT(mailbox_check_description(text, 1024 * width), 0);
		CHECK_EQ_INT(mailbox_check_description(text, 1025 * width), -1);
		CHECK_EQ_INT(mailbox_check_token_type(text, 128 * width), 0);
		CHECK_EQ_INT(mailbox_check_token_type(text, 129 * width), -1);
		CHECK_EQ_INT(mailbox_check_token_data(text, 4096 * width), 0);
		CHECK_EQ_INT(mailbox_check_token_data(text, 4097 * width), -1);
	}
	CHECK_EQ_INT(mailbox_check_title(S("")), -1);
	CHECK_EQ_INT(mailbox_check_description(S("")), 0);
	CHECK_EQ_INT(mailbox_check_token_type(S("")), -1);
	CHECK_EQ_INT(mailbox_check_token_data(S("")), -1);
	/* Escaped control characters reach the API as themselves: allowed. */
	CHECK_EQ_INT(mailbox_check_title(S("a\nb\tc\x7f")), 0);
}

/* What jansson refuses in a body, the rules refuse in a file. */
static void test_text_must_be_utf8_without_nul(void)
{
	static const char *const bad[] = {
		"\x80", "a\xbf", "\xc3", "\xc3(", "\xe2\x82", "\xf0\x9f\x94",
		"\xc0\xaf", "\xc1\xbf",                 /* overlong ASCII */
		"\xe0\x80\xaf", "\xe0\x9f\xbf",         /* overlong 3 bytes */
		"\xf0\x80\x80\xaf", "\xf0\x8f\xbf\xbf", /* overlong 4 bytes */
		"\xed\xa0\x80", "\xed\xbf\xbf",         /* UTF-16 surrogates */
		"\xf4\x90\x80\x80", "\xf5\x80\x80\x80", /* past U+10FFFF */
		"\xf8\x88\x80\x80\x80", "\xfe", "\xff",
	};
	static const char *const good[] = {
		"\x7f", "\xc2\x80", "\xdf\xbf", "\xe0\xa0\x80", "\xed\x9f\xbf", "\xee\x80\x80",
		"\xef\xbf\xbf", "\xf0\x90\x80\x80", "\xf4\x8f\xbf\xbf",
	};

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char text[16];
		size_t len = strlen(bad[i]);

		snprintf(text, sizeof(text), "x%sy", bad[i]);
		CHECK_EQ_INT(mailbox_check_title(text, len + 2), -1);
		CHECK_EQ_INT(mailbox_check_description(bad[i], len), -1);
		CHECK_EQ_INT(mailbox_check_token_type(bad[i], len), -1);
		CHECK_EQ_INT(mailbox_check_token_data(bad[i], len), -1);
		snprintf(text, sizeof(text), "https://%s", bad[i]);
		CHECK_EQ_INT(mailbox_check_image_url(text, len + 8), -1);
	}
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		CHECK_EQ_INT(mailbox_check_title(good[i], strlen(good[i])), 0);
		CHECK_EQ_INT(mailbox_check_token_data(good[i], strlen(good[i])), 0);
	}
	CHECK_EQ_INT(mailbox_check_title("a\0b", 3), -1);
	CHECK_EQ_INT(mailbox_check_token_data("\0", 1), -1);
	CHECK_EQ_INT(mailbox_check_description("\0", 1), -1);
}

static void test_image_url(void)
{
	static const char *const bad[] = {
		"", "https:/", "https:", "http://x", "HTTPS://x", "javascript:alert(1)",
		"data:image/png;base64,AAAA", " https://x", "//x",
	};
	char url[2060];

	CHECK_EQ_INT(mailbox_check_image_url(S("https://")), 0);
	CHECK_EQ_INT(mailbox_check_image_url(S("https://example.com/i.png")), 0);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		CHECK_EQ_INT(mailbox_check_image_url(bad[i], strlen(bad[i])), -1);
	memcpy(url, "https://", 8);
	memset(url + 8, 'a', sizeof(url) - 8);
	CHECK_EQ_INT(mailbox_check_image_url(url, 2048), 0);
	CHECK_EQ_INT(mailbox_check_image_url(url, 2049), -1);
}

static void test_rights(void)
{
	CHECK_EQ_INT(mailbox_check_rights(0), -1);
	for (unsigned r = 1; r <= 7; r++)
		CHECK_EQ_INT(mailbox_check_rights((uint8_t)r), 0);
	CHECK_EQ_INT(mailbox_check_rights(8), -1);
	CHECK_EQ_INT(mailbox_check_rights(0x81), -1);
	CHECK_EQ_INT(mailbox_check_rights(0xff), -1);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_payload_type);
	CHECK_RUN(test_payload_size);
	CHECK_RUN(test_request_id);
	CHECK_RUN(test_lengths_count_code_points);
	CHECK_RUN(test_text_must_be_utf8_without_nul);
	CHECK_RUN(test_image_url);
	CHECK_RUN(test_rights);
	return CHECK_SUMMARY();
}
