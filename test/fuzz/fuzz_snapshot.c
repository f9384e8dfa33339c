/*
 * fuzz_snapshot.c — the state-file loader (storage/snapshot.h): any bytes,
 * damaged, truncated or forged with a valid checksum, are either loaded
 * whole or refused whole, never a crash, a leak or an over-read.
 *
 * Random bytes almost never carry a valid CRC-64, so the target first
 * repairs the checksum of the input (when it starts with the magic) and
 * loads that: the fuzzer then explores the parser behind the checksum.
 * Every loaded store must be consistent: written out again and reloaded, it
 * gives the same mailboxes with the same bytes accounted; and no mailbox
 * expires later than now + max_ttl.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "storage/snapshot.h"
#include "storage/store.h"
#include "test/fuzz/fuzz.h"

#define FUZZ_NOW 1700000000   /* before the seeds expire */
#define FUZZ_MAX_TTL (7 * 86400)
#define FUZZ_CRC_POLY 0x95ac9329ac4bc9b5ULL

static int fuzz_random(void *ctx, unsigned char *out, size_t len)
{
	unsigned *counter = ctx;

	for (size_t i = 0; i < len; i++)
		out[i] = (unsigned char)(++*counter * 167 + i);
	return 0;
}

/* CRC-64/Jones as the snapshot writes it, written out independently. */
static uint64_t fuzz_crc64(const uint8_t *p, size_t len)
{
	uint64_t v = 0;

	while (len--) {
		v ^= *p++;
		for (int bit = 0; bit < 8; bit++)
			v = v & 1 ? (v >> 1) ^ FUZZ_CRC_POLY : v >> 1;
	}
	return v;
}

static struct store *fuzz_store(unsigned *counter, size_t max_mailboxes)
{
	struct store_limits limits = { max_mailboxes, 16u << 20, 0 };
	struct store *store = store_new(&limits, fuzz_random, counter);

	FUZZ_CHECK(store != NULL, "a store can be made");
	return store;
}

static void fuzz_check_expiry(const struct mailbox *mb, void *arg)
{
	(void)arg;
	FUZZ_CHECK(mb->expiry.expires_at > FUZZ_NOW &&
	    mb->expiry.expires_at <= FUZZ_NOW + FUZZ_MAX_TTL,
	    "a loaded mailbox expires after now and within max_ttl");
}

static void fuzz_load(const uint8_t *data, size_t size, size_t max_mailboxes)
{
	unsigned c1 = 0, c2 = 0;
	struct store *a = fuzz_store(&c1, max_mailboxes), *b;
	struct snapshot_loaded loaded, reloaded;
	char err[256], path[64];
	uint8_t *copy;

	/* An exact-size heap copy: any read past the end is caught. */
	copy = malloc(size ? size : 1);
	FUZZ_CHECK(copy != NULL, "memory");
	memcpy(copy, data, size);
	err[0] = '\0';
	if (snapshot_parse(a, copy, size, FUZZ_NOW, FUZZ_MAX_TTL, &loaded, err,
	    sizeof(err)) != 0) {
		FUZZ_CHECK(err[0] != '\0', "a refusal says why");
		FUZZ_CHECK(strchr(err, '\n') == NULL, "the reason is one line");
		free(copy);
		store_free(a);
		return;
	}
	free(copy);
	FUZZ_CHECK(store_stats(a).mailboxes == loaded.mailboxes,
	    "every loaded mailbox is in the store");
	FUZZ_CHECK(loaded.shortened <= loaded.mailboxes, "only loaded mailboxes are shortened");
	store_iterate(a, fuzz_check_expiry, NULL);
	/* What was loaded writes out and loads back the same. */
	snprintf(path, sizeof(path), "/tmp/fuzz-snapshot-%ld", (long)getpid());
	FUZZ_CHECK(snapshot_write(a, path, FUZZ_NOW, err, sizeof(err)) == 0, "a loaded store writes");
	b = fuzz_store(&c2, max_mailboxes);
	FUZZ_CHECK(snapshot_load(b, path, FUZZ_NOW, FUZZ_MAX_TTL, &reloaded, err,
	    sizeof(err)) == 0, "what the relay wrote, it reads");
	FUZZ_CHECK(reloaded.mailboxes == loaded.mailboxes, "the same mailboxes come back");
	FUZZ_CHECK(reloaded.shortened == 0, "and need no shortening again");
	FUZZ_CHECK(store_stats(b).bytes == store_stats(a).bytes, "with the same bytes counted");
	FUZZ_CHECK(store_stats(b).records == store_stats(a).records, "and the same retry records");
	unlink(path);
	store_free(a);
	store_free(b);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* As given: the checksum guards almost everything. */
	fuzz_load(data, size, 1000);
	/* With the checksum made right, so the parser behind it is reached;
	 * and once with a small mailbox limit, so refusals for room are too. */
	if (size >= 8 + 24 + 8 && memcmp(data, "RELAYSNP", 8) == 0) {
		uint8_t *fixed = malloc(size);
		uint64_t crc;

		FUZZ_CHECK(fixed != NULL, "memory");
		memcpy(fixed, data, size);
		crc = fuzz_crc64(fixed, size - 8);
		for (int i = 0; i < 8; i++)
			fixed[size - 8 + i] = (uint8_t)(crc >> (8 * i));
		fuzz_load(fixed, size, 1000);
		fuzz_load(fixed, size, 2);
		free(fixed);
	}
	return 0;
}
