/*
 * test_uuid.c — a version-4 UUID keeps 122 of its random bits and gets the
 * version and variant fields, whatever the bytes were.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "lib/uuid.h"
#include "test/unit/check.h"

static void test_version_and_variant(void)
{
	static const uint8_t fills[] = { 0x00, 0xff, 0x5a, 0xa5 };

	for (size_t f = 0; f < sizeof(fills); f++) {
		uint8_t id[UUID_LEN], before[UUID_LEN];

		memset(id, fills[f], sizeof(id));
		memcpy(before, id, sizeof(id));
		uuid_set_v4(id);
		CHECK_EQ_INT(id[6] >> 4, 4);
		CHECK_EQ_INT(id[8] >> 6, 2);
		/* Every other bit is the caller's. */
		CHECK_EQ_INT(id[6] & 0x0f, before[6] & 0x0f);
		CHECK_EQ_INT(id[8] & 0x3f, before[8] & 0x3f);
		CHECK(memcmp(id, before, 6) == 0);
		CHECK_EQ_INT(id[7], before[7]);
		CHECK(memcmp(id + 9, before + 9, UUID_LEN - 9) == 0);
	}
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_version_and_variant);
	return CHECK_SUMMARY();
}
