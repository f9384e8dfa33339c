/*
 * test_base64.c — RFC 4648 base64 in both alphabets, and every text the
 * strict decoder must refuse: a second spelling of the same bytes would let
 * two devices disagree about what was sent.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/base64.h"
#include "test/unit/check.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* RFC 4648 section 10, with and without its padding. */
static const struct {
	const char *bytes, *std, *url;
} base64_vectors[] = {
	{ "", "", "" },
	{ "f", "Zg==", "Zg" },
	{ "fo", "Zm8=", "Zm8" },
	{ "foo", "Zm9v", "Zm9v" },
	{ "foob", "Zm9vYg==", "Zm9vYg" },
	{ "fooba", "Zm9vYmE=", "Zm9vYmE" },
	{ "foobar", "Zm9vYmFy", "Zm9vYmFy" },
};

static void test_rfc4648_vectors(void)
{
	for (size_t i = 0; i < sizeof(base64_vectors) / sizeof(base64_vectors[0]); i++) {
		const char *bytes = base64_vectors[i].bytes;
		size_t len = strlen(bytes), n;
		char text[16];
		uint8_t out[8];

		n = base64_encode(BASE64_STD, (const uint8_t *)bytes, len, text);
		text[n] = '\0';
		CHECK_EQ_STR(text, base64_vectors[i].std);
		CHECK_EQ_INT(n, BASE64_ENCODED_LEN(len));
		n = base64_encode(BASE64_URL, (const uint8_t *)bytes, len, text);
		text[n] = '\0';
		CHECK_EQ_STR(text, base64_vectors[i].url);

		n = 99;
		CHECK_EQ_INT(base64_decode(BASE64_STD, base64_vectors[i].std,
		    strlen(base64_vectors[i].std), out, sizeof(out), &n), 0);
		CHECK(n == len && memcmp(out, bytes, len) == 0);
		n = 99;
		CHECK_EQ_INT(base64_decode(BASE64_URL, base64_vectors[i].url,
		    strlen(base64_vectors[i].url), out, sizeof(out), &n), 0);
		CHECK(n == len && memcmp(out, bytes, len) == 0);
	}
}

/* The two alphabets differ in digits 62 and 63 only. */
static void test_alphabets(void)
{
	static const uint8_t high[] = { 0xfb, 0xff, 0xbf };
	uint8_t out[3];
	char text[5];
	size_t n;

	n = base64_encode(BASE64_STD, high, 3, text);
	text[n] = '\0';
	CHECK_EQ_STR(text, "+/+/");
	n = base64_encode(BASE64_URL, high, 3, text);
	text[n] = '\0';
	CHECK_EQ_STR(text, "-_-_");
	CHECK_EQ_INT(base64_decode(BASE64_STD, S("+/+/"), out, 3, &n), 0);
	CHECK(n == 3 && memcmp(out, high, 3) == 0);
	CHECK_EQ_INT(base64_decode(BASE64_URL, S("-_-_"), out, 3, &n), 0);
	CHECK(n == 3 && memcmp(out, high, 3) == 0);
}

static void test_decoded_len(void)
{
	size_t n = 12345;

	CHECK_EQ_INT(base64_decoded_len(BASE64_STD, S("QUJD"), &n), 0);
	CHECK_EQ_INT(n, 3);
	CHECK_EQ_INT(base64_decoded_len(BASE64_STD, S("QUI="), &n), 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(base64_decoded_len(BASE64_STD, S("QQ=="), &n), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(base64_decoded_len(BASE64_STD, S("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=="), &n), 0);
	CHECK_EQ_INT(n, 28);
	CHECK_EQ_INT(base64_decoded_len(BASE64_STD, S("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"), &n), 0);
	CHECK_EQ_INT(n, 27);
	CHECK_EQ_INT(base64_decoded_len(BASE64_STD, S(""), &n), 0);
	CHECK_EQ_INT(n, 0);
	CHECK_EQ_INT(base64_decoded_len(BASE64_URL, S("QUI"), &n), 0);
	CHECK_EQ_INT(n, 2);
	CHECK_EQ_INT(base64_decoded_len(BASE64_URL, S("QQ"), &n), 0);
	CHECK_EQ_INT(n, 1);
	CHECK_EQ_INT(base64_decoded_len(BASE64_URL, S(""), &n), 0);
	CHECK_EQ_INT(n, 0);
}

/* Each text refused by both the check and the decoder, which leave the
 * length untouched; and a NUL is no digit. */
static void check_rejects(enum base64_alphabet alphabet, const char *const *bad, size_t count)
{
	size_t n = 777;
	uint8_t out[8];

	for (size_t i = 0; i < count; i++) {
		int r = base64_decoded_len(alphabet, bad[i], strlen(bad[i]), &n);

		if (r != -1)
			printf("    accepted \"%s\"\n", bad[i]);
		CHECK_EQ_INT(r, -1);
		CHECK_EQ_INT(base64_decode(alphabet, bad[i], strlen(bad[i]), out, sizeof(out), &n),
		    -1);
	}
	CHECK_EQ_INT(n, 777);
	CHECK_EQ_INT(base64_decoded_len(alphabet, "QU\0D", 4, &n), -1);
}

static void test_std_rejects(void)
{
	static const char *bad[] = {
		"QQ",           /* padding missing */
		"QUI",
		"QQ=",
		"Q===",         /* too much padding */
		"====",
		"=QUJ",
		"QU=D",         /* '=' inside */
		"QUJD====",
		"QUI=QUI=",
		"QUJD QUJD",    /* white space */
		"QUJD\nQUJD",
		"QUJD\r\n",
		" QUJD",
		"QUJ-",         /* the URL alphabet */
		"QUJ_",
		"QR==",         /* non-zero left-over bits */
		"QUJ=",
		"QUJD*AAA",
		"QUJ\xc3",
	};

	check_rejects(BASE64_STD, bad, sizeof(bad) / sizeof(bad[0]));
}

static void test_url_rejects(void)
{
	static const char *bad[] = {
		"Zg==",         /* padding */
		"Zm8=",
		"Zg=",
		"=",
		"A",            /* one digit is no whole byte */
		"AAAAA",
		"AB",           /* non-zero left-over bits */
		"AAB",
		"Zh",
		"AAEC+wQF",     /* the standard alphabet */
		"AAEC/wQF",
		"AAEC wQF",     /* white space */
		"AAECwQF\n",
		"AAEC.wQF",
	};

	check_rejects(BASE64_URL, bad, sizeof(bad) / sizeof(bad[0]));
}

/* The decoder checks as it goes; it must agree with the check on every
 * text, good or bad: short random texts over the digits of both alphabets,
 * padding and a stranger, with fixed seeds so a failure repeats. */
static void test_decode_agrees_with_check(void)
{
	static const char chars[] = "AQgw+/-_=.";
	char text[12];
	uint8_t out[9];

	for (unsigned seed = 1; seed <= 20000; seed++) {
		unsigned x = seed * 2654435761u;
		size_t len = x % sizeof(text), n1 = 0, n2 = 0;

		for (size_t i = 0; i < len; i++) {
			x = x * 1103515245u + 12345u;
			text[i] = chars[(x >> 16) % (sizeof(chars) - 1)];
		}
		for (int a = BASE64_STD; a <= BASE64_URL; a++) {
			int r1 = base64_decoded_len((enum base64_alphabet)a, text, len, &n1);
			int r2 = base64_decode((enum base64_alphabet)a, text, len, out,
			    sizeof(out), &n2);

			if (r1 != r2)
				printf("    \"%.*s\": check %d, decode %d\n", (int)len, text, r1, r2);
			CHECK_EQ_INT(r1, r2);
			if (r1 == 0)
				CHECK_EQ_INT(n1, n2);
		}
	}
}

/* A text that decodes to more than the buffer holds is refused whole,
 * never cut short. */
static void test_decode_capacity(void)
{
	uint8_t out[4] = { 0xaa, 0xaa, 0xaa, 0xaa };
	size_t n = 777;

	CHECK_EQ_INT(base64_decode(BASE64_URL, S("AAAA"), out, 2, &n), -1);
	CHECK_EQ_INT(base64_decode(BASE64_STD, S("Zm9vYg=="), out, 3, &n), -1);
	CHECK_EQ_INT(n, 777);
	CHECK_EQ_INT(out[0], 0xaa);
	CHECK_EQ_INT(base64_decode(BASE64_STD, S("Zm9vYg=="), out, 4, &n), 0);
	CHECK_EQ_INT(n, 4);
	CHECK(memcmp(out, "foob", 4) == 0);
}

/* Stored payloads are decoded bytes; reads encode them again, and the text
 * must come out exactly as the device sent it, in either alphabet. */
static void test_round_trip(void)
{
	uint8_t in[64], out[64];
	char text[BASE64_ENCODED_LEN(64) + 1];

	for (size_t i = 0; i < sizeof(in); i++)
		in[i] = (uint8_t)(i * 53 + 250);
	for (int a = BASE64_STD; a <= BASE64_URL; a++) {
		for (size_t len = 0; len <= sizeof(in); len++) {
			size_t n = base64_encode((enum base64_alphabet)a, in, len, text), decoded = 0;

			if (a == BASE64_STD)
				CHECK_EQ_INT(n, BASE64_ENCODED_LEN(len));
			else
				CHECK_EQ_INT(n, (len * 4 + 2) / 3);
			memset(out, 0xaa, sizeof(out));
			CHECK_EQ_INT(base64_decode((enum base64_alphabet)a, text, n, out, len,
			    &decoded), 0);
			CHECK_EQ_INT(decoded, len);
			CHECK(memcmp(in, out, len) == 0);
			if (len < sizeof(out))
				CHECK_EQ_INT(out[len], 0xaa);
		}
	}
}

int main(void)
{
	/* Lines reach a pipe even if a later test crashes. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_rfc4648_vectors);
	CHECK_RUN(test_alphabets);
	CHECK_RUN(test_decoded_len);
	CHECK_RUN(test_std_rejects);
	CHECK_RUN(test_url_rejects);
	CHECK_RUN(test_decode_capacity);
	CHECK_RUN(test_decode_agrees_with_check);
	CHECK_RUN(test_round_trip);
	return CHECK_SUMMARY();
}
