/*
 * uuid.c — the version and variant bits of a random UUID.
 */
#include "lib/uuid.h"

void uuid_set_v4(uint8_t id[UUID_LEN])
{
	/* Version 4 in the high nibble of byte 6, variant 10 in the top two
	 * bits of byte 8; the other 122 bits stay random. */
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
}
