/*
 * test_ratelimit.c — token buckets per address and the bounded table.
 */
#include <string.h>

#include "check.h"
#include "server/config.h"
#include "storage/ratelimit.h"

static const uint8_t hash_key[SIPHASH_KEY_LEN] = { 1, 2, 3 };

static struct ratelimit *limiter(uint32_t per, uint32_t period_ms, uint32_t burst,
    size_t max_entries)
{
	struct ratelimit_rule rules[RATELIMIT_KINDS] = {
		[RATELIMIT_CREATE] = { per, period_ms, burst },
		[RATELIMIT_FAIL] = { 1, 1000, 2 },
	};

	return ratelimit_new(rules, max_entries, hash_key);
}

static void key_of(uint8_t last, uint8_t key[RATELIMIT_KEY_LEN])
{
	uint8_t v4[4] = { 192, 0, 2, last };

	ratelimit_key(v4, 4, key);
}

static void test_burst_then_refill(void)
{
	struct ratelimit *rl = limiter(30, 60000, 3, 100);
	uint8_t a[RATELIMIT_KEY_LEN];
	int64_t t = 1000000;

	key_of(1, a);
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_CREATE, a, t), 0);
		ratelimit_spend(rl, RATELIMIT_CREATE, a, t);
	}
	/* 30 a minute: one token every 2 s. */
	CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_CREATE, a, t), 2);
	CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_CREATE, a, t + 1000), 1);
	CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_CREATE, a, t + 2000), 0);
	ratelimit_spend(rl, RATELIMIT_CREATE, a, t + 2000);
	CHECK(ratelimit_allow(rl, RATELIMIT_CREATE, a, t + 2000) > 0);
	/* A long idle refills to the burst, never beyond. */
	t += 3600 * 1000;
	for (int i = 0; i < 3; i++) {
		CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_CREATE, a, t), 0);
		ratelimit_spend(rl, RATELIMIT_CREATE, a, t);
	}
	CHECK(ratelimit_allow(rl, RATELIMIT_CREATE, a, t) > 0);
	ratelimit_free(rl);
}

/* A client that never pauses still gets its refill: fractions of a token
 * earned between its calls are kept, not rounded away call after call. */
static void test_refill_under_constant_pressure(void)
{
	struct ratelimit *rl = limiter(12, 60000, 3, 100);
	uint8_t a[RATELIMIT_KEY_LEN];
	int64_t t = 5000, first_again = -1;

	key_of(3, a);
	for (int i = 0; i < 3; i++)
		ratelimit_spend(rl, RATELIMIT_CREATE, a, t);
	for (int64_t now = t; now < t + 6000; now += 2) {
		if (ratelimit_allow(rl, RATELIMIT_CREATE, a, now) == 0) {
			first_again = now - t;
			break;
		}
	}
	/* 12 a minute: one token 5 s after the bucket ran dry. */
	CHECK(first_again >= 4990 && first_again <= 5010);
	ratelimit_free(rl);
}

static void test_addresses_and_kinds_are_separate(void)
{
	struct ratelimit *rl = limiter(1, 1000, 1, 100);
	uint8_t a[RATELIMIT_KEY_LEN], b[RATELIMIT_KEY_LEN];

	key_of(1, a);
	key_of(2, b);
	ratelimit_spend(rl, RATELIMIT_CREATE, a, 0);
	CHECK(ratelimit_allow(rl, RATELIMIT_CREATE, a, 0) > 0);
	CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_CREATE, b, 0), 0);
	CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_FAIL, a, 0), 0);
	ratelimit_spend(rl, RATELIMIT_FAIL, a, 0);
	ratelimit_spend(rl, RATELIMIT_FAIL, a, 0);
	ratelimit_spend(rl, RATELIMIT_FAIL, a, 0);    /* floor at empty */
	CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_FAIL, a, 0), 1);
	CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_FAIL, a, 1000), 0);
	ratelimit_free(rl);
}

static void test_ipv6_counts_by_slash_64(void)
{
	uint8_t a6[16] = { 0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 1 };
	uint8_t b6[16], ka[RATELIMIT_KEY_LEN], kb[RATELIMIT_KEY_LEN];
	uint8_t v4[4] = { 10, 0, 0, 1 };

	memcpy(b6, a6, 16);
	b6[15] = 0x99;                      /* same /64 */
	ratelimit_key(a6, 16, ka);
	ratelimit_key(b6, 16, kb);
	CHECK(memcmp(ka, kb, RATELIMIT_KEY_LEN) == 0);
	b6[7] = 2;                          /* another /64 */
	ratelimit_key(b6, 16, kb);
	CHECK(memcmp(ka, kb, RATELIMIT_KEY_LEN) != 0);
	ratelimit_key(v4, 4, ka);
	CHECK(ka[10] == 0xff && ka[11] == 0xff && ka[12] == 10 && ka[15] == 1);
}

/* A name (what a proxy wrote where an address belongs) has a bucket of its
 * own, which no address shares, whatever the name or the address. */
static void test_name_keys(void)
{
	static const uint8_t other_hash_key[SIPHASH_KEY_LEN] = { 9 };
	static const char *const names[] = { "", "unknown", "_hidden", "10.0.0.1:x", "\0", "a" };
	static const uint8_t addrs[][16] = {
		{ 0 }, { 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
		0xff, 0xff, 0xff, 0xff }, { 10, 0, 1, 1 }, { 0x20, 0x01, 0x0d, 0xb8 },
	};
	static const uint8_t name_secret[SIPHASH_KEY_LEN] = { 1 };
	struct ratelimit *rl = limiter(1, 1000, 1, 100);
	const size_t n = sizeof(names) / sizeof(names[0]);
	uint8_t keys[6][RATELIMIT_KEY_LEN], k[RATELIMIT_KEY_LEN], a[RATELIMIT_KEY_LEN];

	for (size_t i = 0; i < n; i++) {
		ratelimit_key_name(name_secret, names[i], strlen(names[i]) + (i == 4), keys[i]);
		for (size_t j = 0; j < i; j++)
			CHECK(memcmp(keys[i], keys[j], RATELIMIT_KEY_LEN) != 0);
		/* The same name, the same key. */
		ratelimit_key_name(name_secret, names[i], strlen(names[i]) + (i == 4), k);
		CHECK(memcmp(keys[i], k, RATELIMIT_KEY_LEN) == 0);
		/* Under another secret, another key. */
		ratelimit_key_name(other_hash_key, names[i], strlen(names[i]) + (i == 4), k);
		CHECK(memcmp(keys[i], k, RATELIMIT_KEY_LEN) != 0);
		for (size_t j = 0; j < sizeof(addrs) / sizeof(addrs[0]); j++) {
			ratelimit_key(addrs[j], 4, a);
			CHECK(memcmp(keys[i], a, RATELIMIT_KEY_LEN) != 0);
			ratelimit_key(addrs[j], 16, a);
			CHECK(memcmp(keys[i], a, RATELIMIT_KEY_LEN) != 0);
		}
	}
	/* A name's bucket is its own. */
	key_of(1, a);
	ratelimit_spend(rl, RATELIMIT_CREATE, keys[1], 0);
	CHECK(ratelimit_allow(rl, RATELIMIT_CREATE, keys[1], 0) > 0);
	CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_CREATE, keys[2], 0), 0);
	CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_CREATE, a, 0), 0);
	ratelimit_free(rl);
}

static void test_table_is_bounded_and_forgets_idle(void)
{
	struct ratelimit *rl = limiter(1, 1000, 5, 50);
	uint8_t k[RATELIMIT_KEY_LEN];

	for (int i = 0; i < 200; i++) {
		key_of((uint8_t)i, k);
		ratelimit_spend(rl, RATELIMIT_CREATE, k, i);
	}
	CHECK_EQ_INT(ratelimit_count(rl), 50);
	/* The newest are kept: the last one still has a spent token. */
	key_of(199, k);
	CHECK(ratelimit_count(rl) == 50);
	/* After everything refilled (5 s for a burst of 5 at 1/s), idle
	 * entries go; within the budget only. */
	ratelimit_expire(rl, 199 + 5000, 10);
	CHECK_EQ_INT(ratelimit_count(rl), 40);
	ratelimit_expire(rl, 199 + 5000, 1000);
	CHECK_EQ_INT(ratelimit_count(rl), 0);
	CHECK(ratelimit_bytes(rl) > 0);     /* the table's empty buckets */
	ratelimit_free(rl);
}

static void test_disabled_rule_keeps_nothing(void)
{
	struct ratelimit *rl = limiter(0, 0, 0, 10);
	uint8_t k[RATELIMIT_KEY_LEN];

	key_of(1, k);
	for (int i = 0; i < 100; i++) {
		CHECK_EQ_INT(ratelimit_allow(rl, RATELIMIT_CREATE, k, 0), 0);
		ratelimit_spend(rl, RATELIMIT_CREATE, k, 0);
	}
	CHECK_EQ_INT(ratelimit_count(rl), 0);
	ratelimit_free(rl);
}

static void test_config_rates_and_ranges(void)
{
	struct ratelimit_rule r;
	struct config_cidr cidr;
	struct config c;
	uint8_t in4[4] = { 10, 1, 2, 3 }, out4[4] = { 11, 1, 2, 3 };
	uint8_t in6[16] = { 0xfd, 0x12 }, out6[16] = { 0xfe };

	CHECK_EQ_INT(config_parse_rate("30/m", &r), 0);
	CHECK(r.per == 30 && r.period_ms == 60000 && r.burst == 30);
	CHECK_EQ_INT(config_parse_rate("5/s,20", &r), 0);
	CHECK(r.per == 5 && r.period_ms == 1000 && r.burst == 20);
	CHECK_EQ_INT(config_parse_rate("100/h", &r), 0);
	CHECK_EQ_INT(r.period_ms, 3600000);
	CHECK_EQ_INT(config_parse_rate("off", &r), 0);
	CHECK_EQ_INT(r.per, 0);
	static const char *bad_rates[] = { "", "30", "30/", "30/d", "0/m", "x/m", "30/m,",
	    "30/m,0", "30/mm", "-1/s", "30/m,5x" };
	for (size_t i = 0; i < sizeof(bad_rates) / sizeof(bad_rates[0]); i++)
		CHECK_EQ_INT(config_parse_rate(bad_rates[i], &r), -1);

	memset(&c, 0, sizeof(c));
	CHECK_EQ_INT(config_parse_cidr("10.0.0.0/8", &c.trust_proxy.range[0]), 0);
	CHECK_EQ_INT(config_parse_cidr("fd00::/8", &c.trust_proxy.range[1]), 0);
	c.trust_proxy.count = 2;
	CHECK(config_cidrs_match(&c.trust_proxy, in4, 4));
	CHECK(!config_cidrs_match(&c.trust_proxy, out4, 4));
	CHECK(config_cidrs_match(&c.trust_proxy, in6, 16));
	CHECK(!config_cidrs_match(&c.trust_proxy, out6, 16));
	CHECK_EQ_INT(config_parse_cidr("192.0.2.7", &cidr), 0);
	CHECK_EQ_INT(cidr.prefix, 32);
	CHECK_EQ_INT(config_parse_cidr("10.0.0.0/12", &c.trust_proxy.range[0]), 0);
	CHECK(config_cidrs_match(&c.trust_proxy, in4, 4));      /* 10.1 is inside 10.0/12 */
	in4[1] = 16;
	CHECK(!config_cidrs_match(&c.trust_proxy, in4, 4));     /* 10.16 is not */
	static const char *bad_ranges[] = { "", "10.0.0.0/33", "::/129", "host/8", "10.0.0.0/x",
	    "/8" };
	for (size_t i = 0; i < sizeof(bad_ranges) / sizeof(bad_ranges[0]); i++)
		CHECK_EQ_INT(config_parse_cidr(bad_ranges[i], &cidr), -1);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_burst_then_refill);
	CHECK_RUN(test_refill_under_constant_pressure);
	CHECK_RUN(test_addresses_and_kinds_are_separate);
	CHECK_RUN(test_ipv6_counts_by_slash_64);
	CHECK_RUN(test_name_keys);
	CHECK_RUN(test_table_is_bounded_and_forgets_idle);
	CHECK_RUN(test_disabled_rule_keeps_nothing);
	CHECK_RUN(test_config_rates_and_ranges);
	return CHECK_SUMMARY();
}
