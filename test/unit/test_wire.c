/*
 * test_wire.c — the strict parsers and canonical formatters of protocol/wire.h.
 *
 * Each rule of spec sections 3, 4 and 10 that a value's text form must obey
 * is tried from both sides: the forms it must accept and the near misses it
 * must refuse.
 */
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "protocol/wire.h"
#include "storage/store.h"
#include "test/unit/check.h"

#define S(lit) (lit), (sizeof(lit) - 1)

/* ---- claims and identifiers ---- */

static void test_claim_accepts(void)
{
	static const uint8_t expected[16] = {
		0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef,
		0xfe, 0xdc, 0xba, 0x98, 0x76, 0x54, 0x32, 0x10
	};
	uint8_t out[16];

	memset(out, 0, sizeof(out));
	CHECK_EQ_INT(wire_parse_uuid(S("01234567-89ab-cdef-fedc-ba9876543210"), out), 0);
	CHECK(memcmp(out, expected, 16) == 0);
	memset(out, 0, sizeof(out));
	CHECK_EQ_INT(wire_parse_uuid(S("01234567-89AB-CDEF-FEDC-BA9876543210"), out), 0);
	CHECK(memcmp(out, expected, 16) == 0);
	/* Mixed case, and any version: a claim is just a UUID. */
	CHECK_EQ_INT(wire_parse_uuid(S("01234567-89aB-cDeF-FeDc-bA9876543210"), out), 0);
	CHECK(memcmp(out, expected, 16) == 0);
	CHECK_EQ_INT(wire_parse_uuid(S("00000000-0000-0000-0000-000000000000"), out), 0);
	CHECK_EQ_INT(wire_parse_uuid(S("ffffffff-ffff-1fff-ffff-ffffffffffff"), out), 0);
}

static void test_claim_rejects(void)
{
	static const char *bad[] = {
		"{01234567-89ab-cdef-fedc-ba9876543210}",
		"urn:uuid:01234567-89ab-cdef-fedc-ba9876543210",
		"0123456789abcdeffedcba9876543210",
		"01234567-89ab-cdef-fedc-ba987654321",          /* 35 */
		"01234567-89ab-cdef-fedc-ba98765432100",        /* 37 */
		"01234567-89ab-cdef-fedcba98-76543210",         /* hyphen moved */
		"0123456-789ab-cdef-fedc-ba9876543210",
		"01234567_89ab_cdef_fedc_ba9876543210",
		"01234567-89ab-cdef-fedc-ba987654321g",
		"01234567-89ab-cdef-fedc-ba98765432 0",
		"0x234567-89ab-cdef-fedc-ba9876543210",
		"01234567-89ab-cdef-fedc-ba987654321\xc3",
		" 1234567-89ab-cdef-fedc-ba9876543210",
		"------------------------------------",
		"",
	};
	uint8_t out[16];

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = wire_parse_uuid(bad[i], strlen(bad[i]), out);

		if (r != -1)
			printf("    accepted claim \"%s\"\n", bad[i]);
		CHECK_EQ_INT(r, -1);
	}
	/* A NUL inside the 36 bytes. */
	CHECK_EQ_INT(wire_parse_uuid("01234567-89ab-cdef-fedc-ba98765432\0" "0", 36, out), -1);
}

/* A mailbox id in a path: either case names the same mailbox (v1.1: iOS's
 * uuidString is upper case). */
static void test_uuid_either_case(void)
{
	uint8_t lower[16], out[16];

	CHECK_EQ_INT(wire_parse_uuid(S("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fa"), lower), 0);
	CHECK_EQ_INT(lower[0], 0x0f);
	CHECK_EQ_INT(lower[15], 0xfa);
	memset(out, 0, sizeof(out));
	CHECK_EQ_INT(wire_parse_uuid(S("0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0FA"), out), 0);
	CHECK(memcmp(out, lower, 16) == 0);
	memset(out, 0, sizeof(out));
	CHECK_EQ_INT(wire_parse_uuid(S("0f1E2d3C-4b5A-4978-8695-a4B3c2D1e0Fa"), out), 0);
	CHECK(memcmp(out, lower, 16) == 0);
	/* Still exactly the 8-4-4-4-12 form of hex digits. */
	CHECK_EQ_INT(wire_parse_uuid(S("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fG"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f`"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f@"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f\xc1"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S("{0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F}"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S("0F1E2D3C4B5A49788695A4B3C2D1E0FA"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S("0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S("0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0FA0"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S("0F1E2D3C_4B5A-4978-8695-A4B3C2D1E0FA"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S(""), out), -1);
}

static void test_mailbox_id(void)
{
	uint8_t out[16], again[16];
	char text[WIRE_UUID_LEN + 1];

	CHECK_EQ_INT(wire_parse_uuid(S("0f1e2d3c4b5a49788695a4b3c2d1e0f0"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0fG"), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S(""), out), -1);
	CHECK_EQ_INT(wire_parse_uuid(S("0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0"), out), 0);
	CHECK_EQ_INT(out[0], 0x0f);
	CHECK_EQ_INT(out[15], 0xf0);
	/* Either case names the same UUID (spec section 1, v1.1). */
	CHECK_EQ_INT(wire_parse_uuid(S("0F1E2D3C-4B5A-4978-8695-A4B3C2D1E0F0"), again), 0);
	CHECK(memcmp(out, again, 16) == 0);
	CHECK_EQ_INT(wire_parse_uuid(S("0F1E2D3C-4B5A-4978-8695-A4B3C2D1e0f0"), again), 0);
	CHECK(memcmp(out, again, 16) == 0);

	/* Round trip: every byte value in every position. */
	for (int round = 0; round < 256; round++) {
		for (int i = 0; i < 16; i++)
			out[i] = (uint8_t)(round * 31 + i * 17);
		wire_format_uuid(out, text);
		CHECK_EQ_INT(strlen(text), 36);
		CHECK(text[8] == '-' && text[13] == '-' && text[18] == '-' && text[23] == '-');
		memset(again, 0, sizeof(again));
		CHECK_EQ_INT(wire_parse_uuid(text, strlen(text), again), 0);
		CHECK(memcmp(out, again, 16) == 0);
	}
	memset(out, 0xab, sizeof(out));
	wire_format_uuid(out, text);
	CHECK_EQ_STR(text, "abababab-abab-abab-abab-abababababab");
}

/* ---- rights ---- */

static void test_rights(void)
{
	static const char *bad[] = { "", "RR", "X", "r", "w", "d", "RWDR", "R W", "RWX", "DD",
	    "R,W", " R" };
	uint8_t r = 0;

	CHECK_EQ_INT(wire_parse_rights(S("R"), &r), 0);
	CHECK_EQ_INT(r, MAILBOX_READ);
	CHECK_EQ_INT(wire_parse_rights(S("W"), &r), 0);
	CHECK_EQ_INT(r, MAILBOX_WRITE);
	CHECK_EQ_INT(wire_parse_rights(S("D"), &r), 0);
	CHECK_EQ_INT(r, MAILBOX_DELETE);
	CHECK_EQ_INT(wire_parse_rights(S("RD"), &r), 0);
	CHECK_EQ_INT(r, MAILBOX_READ | MAILBOX_DELETE);
	CHECK_EQ_INT(wire_parse_rights(S("DWR"), &r), 0);
	CHECK_EQ_INT(r, MAILBOX_READ | MAILBOX_WRITE | MAILBOX_DELETE);
	CHECK_EQ_INT(wire_parse_rights(S("WD"), &r), 0);
	CHECK_EQ_INT(r, MAILBOX_WRITE | MAILBOX_DELETE);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		r = 0xee;
		CHECK_EQ_INT(wire_parse_rights(bad[i], strlen(bad[i]), &r), -1);
		CHECK_EQ_INT(r, 0xee);
	}
}

/* 0 when entry parses to exactly the address in expected (4 or 16 bytes). */
static int forwarded_is(const char *entry, const char *expected)
{
	uint8_t got[16], want[16];
	size_t got_len = 99;
	int family = strchr(expected, ':') != NULL ? AF_INET6 : AF_INET;

	if (inet_pton(family, expected, want) != 1)
		return -2;
	if (wire_parse_forwarded_addr(entry, strlen(entry), got, &got_len) != 0) {
		printf("    %s did not parse\n", entry);
		return -1;
	}
	if (got_len != (family == AF_INET ? 4u : 16u) || memcmp(got, want, got_len) != 0) {
		printf("    %s parsed to another address (%zu bytes)\n", entry, got_len);
		return -1;
	}
	return 0;
}

static void test_forwarded_addr(void)
{
	static const char *const refused[] = {
		"", "unknown", "_hidden", "10.0.0.256", "10.0.0", "1.2.3.4.5", "010.0.0.1",
		" 10.0.0.1", "10.0.0.1 ", "10.0.0.1:", "10.0.0.1:65536", "10.0.0.1:123456",
		"10.0.0.1:-1", "10.0.0.1:+1", "10.0.0.1: 1", "10.0.0.1:80:90", ":80",
		"[10.0.0.1]", "[10.0.0.1]:80", "[2001:db8::1", "2001:db8::1]", "[2001:db8::1]x",
		"[2001:db8::1]:", "[2001:db8::1]:65536", "[2001:db8::1]80", "[]", "[]:80",
		"[[2001:db8::1]]", "fe80::1%eth0", "2001:db8:::1", "2001:db8::1/64",
		"10.0.0.1/32", "for=10.0.0.1", "\"10.0.0.1\"",
		"ffff:ffff:ffff:ffff:ffff:ffff:255.255.255.255.1",
		"0000000000000000000000000000000000000000000000000000000000000000000010.0.0.1",
	};
	uint8_t addr[16];
	size_t addr_len;

	CHECK_EQ_INT(forwarded_is("10.0.1.1", "10.0.1.1"), 0);
	/* A mapped address is its IPv4 client, however it is written. */
	CHECK_EQ_INT(forwarded_is("::ffff:10.0.1.1", "10.0.1.1"), 0);
	CHECK_EQ_INT(forwarded_is("::FFFF:a00:101", "10.0.1.1"), 0);
	CHECK_EQ_INT(forwarded_is("[::ffff:10.0.1.1]", "10.0.1.1"), 0);
	CHECK_EQ_INT(forwarded_is("[::ffff:10.0.1.1]:8080", "10.0.1.1"), 0);
	CHECK_EQ_INT(forwarded_is("::ffff:0.0.0.0", "0.0.0.0"), 0);
	/* Ports. */
	CHECK_EQ_INT(forwarded_is("10.0.0.1:5555", "10.0.0.1"), 0);
	CHECK_EQ_INT(forwarded_is("10.0.0.1:0", "10.0.0.1"), 0);
	CHECK_EQ_INT(forwarded_is("10.0.0.1:65535", "10.0.0.1"), 0);
	CHECK_EQ_INT(forwarded_is("[2001:db8::1]", "2001:db8::1"), 0);
	CHECK_EQ_INT(forwarded_is("[2001:db8::1]:443", "2001:db8::1"), 0);
	CHECK_EQ_INT(forwarded_is("2001:db8::1", "2001:db8::1"), 0);
	CHECK_EQ_INT(forwarded_is("2001:DB8:0:0:0:0:0:1", "2001:db8::1"), 0);
	/* Without brackets a last group is part of the address, not a port. */
	CHECK_EQ_INT(forwarded_is("2001:db8::1:443", "2001:db8::1:443"), 0);
	/* Not mapped: kept as IPv6. */
	CHECK_EQ_INT(forwarded_is("::10.0.1.1", "::a00:101"), 0);
	CHECK_EQ_INT(forwarded_is("64:ff9b::10.0.1.1", "64:ff9b::a00:101"), 0);
	CHECK_EQ_INT(forwarded_is("::", "::"), 0);
	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		if (wire_parse_forwarded_addr(refused[i], strlen(refused[i]), addr, &addr_len) == 0) {
			printf("    accepted: \"%s\"\n", refused[i]);
			CHECK(0);
		}
	}
	/* Only the bytes given are read. */
	CHECK_EQ_INT(wire_parse_forwarded_addr("10.0.0.1:80", 8, addr, &addr_len), 0);
	CHECK_EQ_INT(addr_len, 4);
	CHECK_EQ_INT(wire_parse_forwarded_addr("10.0.0.12", 8, addr, &addr_len), 0);
	CHECK_EQ_INT(addr[3], 1);
	CHECK_EQ_INT(wire_parse_forwarded_addr("[2001:db8::1]:443", 13, addr, &addr_len), 0);
	CHECK_EQ_INT(wire_parse_forwarded_addr("[2001:db8::1]:443", 14, addr, &addr_len), -1);
	CHECK_EQ_INT(wire_parse_forwarded_addr("10.0.0.1\0", 9, addr, &addr_len), -1);
}

int main(void)
{
	/* Lines reach a pipe even if a later test crashes. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_claim_accepts);
	CHECK_RUN(test_claim_rejects);
	CHECK_RUN(test_uuid_either_case);
	CHECK_RUN(test_mailbox_id);
	CHECK_RUN(test_rights);
	CHECK_RUN(test_forwarded_addr);
	return CHECK_SUMMARY();
}
