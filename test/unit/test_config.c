/*
 * test_config.c — the command line (spec section 9).
 *
 * Scripts depend on the exact contract: the value forms, the defaults, and
 * that a mistake produces exactly one line on stderr naming the option.
 * config_parse() writes to the streams it is given, so the tests capture
 * them with open_memstream() and look at every byte.
 */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/config.h"
#include "net/tls.h"
#include "test/unit/check.h"

/* ---- running config_parse ---- */

struct outcome {
	enum config_result result;
	struct config c;
	char *out, *err;
	size_t out_len, err_len;
};

static struct outcome run_argv(int argc, char **argv)
{
	struct outcome o;
	FILE *out, *err;

	memset(&o, 0, sizeof(o));
	out = open_memstream(&o.out, &o.out_len);
	err = open_memstream(&o.err, &o.err_len);
	o.result = config_parse(&o.c, argc, argv, out, err);
	fclose(out);
	fclose(err);
	return o;
}

static void outcome_free(struct outcome *o)
{
	free(o->out);
	free(o->err);
}

#define RUN(o, ...) do { \
	char *run_argv_[] = { "relay", __VA_ARGS__, NULL }; \
	(o) = run_argv((int)(sizeof(run_argv_) / sizeof(run_argv_[0])) - 1, run_argv_); \
} while (0)

static size_t count_lines(const char *s)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == '\n';
	return n;
}

/* Exactly one line on err, naming what it should, and nothing on out. */
static int one_line_naming(const struct outcome *o, const char *name)
{
	int ok = o->result == CONFIG_USAGE && count_lines(o->err) == 1 && o->err_len > 0 &&
	    o->err[o->err_len - 1] == '\n' && strstr(o->err, name) != NULL && o->out_len == 0;

	if (!ok)
		printf("    result %d, err \"%s\", out \"%s\" (expected one line naming %s)\n",
		    o->result, o->err, o->out, name);
	return ok;
}

static int is_ipv4(const struct config_listen *l, const char *addr, int port)
{
	const struct sockaddr_in *a = (const struct sockaddr_in *)&l->addr;
	struct in_addr expected;

	inet_pton(AF_INET, addr, &expected);
	return a->sin_family == AF_INET && ntohs(a->sin_port) == port &&
	    a->sin_addr.s_addr == expected.s_addr && l->addr_len == sizeof(*a);
}

static int is_ipv6(const struct config_listen *l, const char *addr, int port)
{
	const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&l->addr;
	struct in6_addr expected;

	inet_pton(AF_INET6, addr, &expected);
	return a->sin6_family == AF_INET6 && ntohs(a->sin6_port) == port &&
	    memcmp(&a->sin6_addr, &expected, sizeof(expected)) == 0 && l->addr_len == sizeof(*a);
}

/* ---- values ---- */

static void test_listen_addresses(void)
{
	static const char *bad[] = {
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:65536", "127.0.0.1:99999", "localhost:8443",
		"example.com:443", "[::1]8443", "[::1]", "::1:8443", "[127.0.0.1]:80",
		"127.0.0.1:-1", "127.0.0.1:+1", "127.0.0.1:80x", "127.0.0.1:8k", ":8443",
		"256.0.0.1:80", "[]:80", "[::1:80", "[::1]:", "[::1]:-1", "", ":", "[::g]:80",
		"127.0.0.1: 80", " 127.0.0.1:80", "[fe80::1%lo]:80",
	};
	struct config_listen l;

	CHECK_EQ_INT(config_parse_listen("127.0.0.1:8443", &l), 0);
	CHECK(is_ipv4(&l, "127.0.0.1", 8443));
	CHECK_EQ_INT(config_parse_listen("0.0.0.0:65535", &l), 0);
	CHECK(is_ipv4(&l, "0.0.0.0", 65535));
	CHECK_EQ_INT(config_parse_listen("10.1.2.3:0", &l), 0);
	CHECK(is_ipv4(&l, "10.1.2.3", 0));
	CHECK_EQ_INT(config_parse_listen("[::1]:0", &l), 0);
	CHECK(is_ipv6(&l, "::1", 0));
	CHECK_EQ_INT(config_parse_listen("[::]:443", &l), 0);
	CHECK(is_ipv6(&l, "::", 443));
	CHECK_EQ_INT(config_parse_listen("[2001:db8::17]:8443", &l), 0);
	CHECK(is_ipv6(&l, "2001:db8::17", 8443));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		int r = config_parse_listen(bad[i], &l);

		if (r != -1)
			printf("    accepted listen address \"%s\"\n", bad[i]);
		CHECK_EQ_INT(r, -1);
	}
}

/* ---- the command line ---- */

static void test_defaults(void)
{
	char *argv[] = { "relay", NULL };
	struct outcome o = run_argv(1, argv);

	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.out_len, 0);
	CHECK_EQ_INT(o.err_len, 0);
	CHECK_EQ_INT(o.c.listen_count, 1);
	CHECK(is_ipv4(&o.c.listen[0], "127.0.0.1", 8443));
	CHECK(o.c.cert_file == NULL && o.c.key_file == NULL && o.c.dev_cert_out == NULL);
	CHECK(o.c.public_url == NULL);
	CHECK_EQ_INT(o.c.default_ttl, 24 * 3600);
	CHECK_EQ_INT(o.c.max_ttl, 7 * 86400);
	CHECK_EQ_INT(o.c.max_body, 64 * 1024);
	CHECK_EQ_INT(o.c.max_mailboxes, 1000000);
	CHECK(o.c.max_memory == (size_t)512 << 20);
	CHECK_EQ_INT(o.c.max_connections, 10000);
	CHECK_EQ_INT(o.c.max_wait, 60);
	CHECK_EQ_INT(o.c.no_tls, 0);
	CHECK_EQ_INT(o.c.header_timeout, 10);
	CHECK_EQ_INT(o.c.body_timeout, 30);
	outcome_free(&o);
}

static void test_option_forms(void)
{
	struct outcome o;

	RUN(o, "--max-body", "8k", "--max-ttl=2h", "--default-ttl", "90m", "--max-wait=30s",
	    "--max-mailboxes", "5", "--max-memory=1g", "--max-connections", "100",
	    "--public-url", "https://relay.example", "--dev-cert-out=/tmp/x.pem",
	    "--log-level=debug");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.err_len, 0);
	CHECK_EQ_INT(o.c.max_body, 8192);
	CHECK_EQ_INT(o.c.max_ttl, 7200);
	CHECK_EQ_INT(o.c.default_ttl, 5400);
	CHECK_EQ_INT(o.c.max_wait, 30);
	CHECK_EQ_INT(o.c.max_mailboxes, 5);
	CHECK(o.c.max_memory == (size_t)1 << 30);
	CHECK_EQ_INT(o.c.max_connections, 100);
	CHECK_EQ_STR(o.c.public_url, "https://relay.example");
	CHECK_EQ_STR(o.c.dev_cert_out, "/tmp/x.pem");
	CHECK_EQ_INT(o.c.log_level, LOG_DEBUG);
	outcome_free(&o);

	/* The same option in both forms gives the same value. */
	RUN(o, "--max-body=16k");
	CHECK_EQ_INT(o.c.max_body, 16384);
	outcome_free(&o);
	RUN(o, "--max-body", "16k");
	CHECK_EQ_INT(o.c.max_body, 16384);
	outcome_free(&o);

	/* --listen repeats; the default is then not added. */
	RUN(o, "--listen", "127.0.0.1:0", "--listen=[::1]:9443");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.listen_count, 2);
	CHECK(is_ipv4(&o.c.listen[0], "127.0.0.1", 0));
	CHECK(is_ipv6(&o.c.listen[1], "::1", 9443));
	outcome_free(&o);

	/* A value that looks like an option is still a value. */
	RUN(o, "--public-url", "--https://x");
	CHECK_EQ_INT(o.result, CONFIG_USAGE);
	outcome_free(&o);

	/* Both files given: fine. */
	RUN(o, "--cert", "c.pem", "--key=k.pem");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_STR(o.c.cert_file, "c.pem");
	CHECK_EQ_STR(o.c.key_file, "k.pem");
	outcome_free(&o);

	/* The same lifetime for both: fine. */
	RUN(o, "--default-ttl", "1h", "--max-ttl", "60m");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	outcome_free(&o);
}

static void test_unknown_options(void)
{
	struct outcome o;

	RUN(o, "--bogus");
	CHECK(one_line_naming(&o, "--bogus"));
	outcome_free(&o);
	RUN(o, "--bogus=secret-value");
	CHECK(one_line_naming(&o, "--bogus"));
	CHECK(strstr(o.err, "secret-value") == NULL);
	outcome_free(&o);
	RUN(o, "--max-body", "8k", "--listne", "127.0.0.1:1");
	CHECK(one_line_naming(&o, "--listne"));
	outcome_free(&o);
	RUN(o, "-x");
	CHECK(one_line_naming(&o, "-x"));
	outcome_free(&o);
	RUN(o, "positional");
	CHECK(one_line_naming(&o, "positional"));
	outcome_free(&o);
	/* Option names are exact: no prefixes, no single dash. */
	RUN(o, "--max", "5");
	CHECK(one_line_naming(&o, "--max"));
	outcome_free(&o);
	RUN(o, "-listen", "127.0.0.1:1");
	CHECK(one_line_naming(&o, "-listen"));
	outcome_free(&o);
}

static void test_bad_values(void)
{
	static const struct {
		const char *option, *value;
	} cases[] = {
		{ "--max-body", "64kb" }, { "--max-body", "0" }, { "--max-body", "" },
		{ "--max-ttl", "abc" }, { "--max-ttl", "0" }, { "--default-ttl", "1.5h" },
		{ "--default-ttl", "-1" }, { "--listen", "localhost:8443" },
		{ "--listen", "127.0.0.1:65536" }, { "--listen", "[::1]8443" },
		{ "--max-mailboxes", "0" }, { "--max-mailboxes", "-1" },
		{ "--max-mailboxes", "10k" }, { "--max-memory", "lots" },
		{ "--max-connections", "x" }, { "--max-wait", "forever" },
		{ "--log-level", "loud" }, { "--cert", "" }, { "--public-url", "" },
		{ "--header-timeout", "0" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char joined[128];
		struct outcome o;

		RUN(o, (char *)cases[i].option, (char *)cases[i].value);
		CHECK(one_line_naming(&o, cases[i].option));
		outcome_free(&o);
		snprintf(joined, sizeof(joined), "%s=%s", cases[i].option, cases[i].value);
		RUN(o, joined);
		CHECK(one_line_naming(&o, cases[i].option));
		outcome_free(&o);
	}
}

static void test_missing_values(void)
{
	struct outcome o;

	RUN(o, "--max-body");
	CHECK(one_line_naming(&o, "--max-body"));
	outcome_free(&o);
	RUN(o, "--no-tls", "--listen");
	CHECK(one_line_naming(&o, "--listen"));
	outcome_free(&o);
}

static void test_per_address_limits(void)
{
	static const char *const options[] = { "--max-connections-per-address",
		"--max-waiters-per-address", "--max-bytes-per-address" };
	static const char *const bad[] = { "0", "-1", "", "none", "Off", "1x", "99999999999999999999" };
	struct outcome o;

	/* Off unless asked for, so that a laptop relay keeps the contract. */
	RUN(o, "--listen", "127.0.0.1:0");
	CHECK_EQ_INT(o.c.max_connections_per_address, 0);
	CHECK_EQ_INT(o.c.max_waiters_per_address, 0);
	CHECK_EQ_INT(o.c.max_bytes_per_address, 0);
	outcome_free(&o);
	RUN(o, "--max-connections-per-address", "20", "--max-waiters-per-address=5",
	    "--max-bytes-per-address", "256k");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.max_connections_per_address, 20);
	CHECK_EQ_INT(o.c.max_waiters_per_address, 5);
	CHECK_EQ_INT(o.c.max_bytes_per_address, 256 * 1024);
	outcome_free(&o);
	/* "off" turns a limit given earlier off again. */
	RUN(o, "--max-waiters-per-address", "5", "--max-waiters-per-address", "off",
	    "--max-bytes-per-address=off");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.max_waiters_per_address, 0);
	CHECK_EQ_INT(o.c.max_bytes_per_address, 0);
	outcome_free(&o);
	/* 0 would be ambiguous (none at all, or no limit?): refused. */
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++) {
		for (size_t j = 0; j < sizeof(bad) / sizeof(bad[0]); j++) {
			RUN(o, (char *)options[i], (char *)bad[j]);
			CHECK(one_line_naming(&o, options[i]));
			outcome_free(&o);
		}
	}
	/* --help tells of them. */
	RUN(o, "--help");
	for (size_t i = 0; i < sizeof(options) / sizeof(options[0]); i++)
		CHECK(strstr(o.out, options[i]) != NULL);
	outcome_free(&o);
}

static void test_upper_bounds(void)
{
	static const struct {
		const char *option, *value, *says;
	} over[] = {
		{ "--max-body", "16777217", "at most 16m" }, { "--max-body", "17m", "at most 16m" },
		{ "--max-body", "1g", "at most 16m" },
		{ "--push-queue", "1000001", "at most 1000000" },
		{ "--push-queue", "18446744073709551615", "at most 1000000" },
		{ "--push-retries", "101", "at most 100" },
	};
	struct outcome o;

	for (size_t i = 0; i < sizeof(over) / sizeof(over[0]); i++) {
		RUN(o, (char *)over[i].option, (char *)over[i].value);
		CHECK(one_line_naming(&o, over[i].option));
		CHECK(o.err != NULL && strstr(o.err, over[i].says) != NULL);
		outcome_free(&o);
	}
	RUN(o, "--max-body", "16m", "--push-queue", "1000000", "--push-retries", "100");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.max_body, 16 << 20);
	CHECK_EQ_INT(o.c.push_queue, 1000000);
	CHECK_EQ_INT(o.c.push_retries, 100);
	CHECK_EQ_INT(o.c.max_connections_given, 0);
	outcome_free(&o);
	RUN(o, "--max-connections", "10000");
	CHECK_EQ_INT(o.c.max_connections_given, 1);
	outcome_free(&o);
}

static void test_help_and_version(void)
{
	struct outcome o;
	char expected[64];

	RUN(o, "--help");
	CHECK_EQ_INT(o.result, CONFIG_EXIT);
	CHECK(o.out_len > 100);
	CHECK(strstr(o.out, "usage") != NULL);
	CHECK(strstr(o.out, "--listen") != NULL);
	CHECK(strstr(o.out, "--no-tls") != NULL);
	CHECK_EQ_INT(o.err_len, 0);
	outcome_free(&o);
	RUN(o, "-h");
	CHECK_EQ_INT(o.result, CONFIG_EXIT);
	CHECK(o.out_len > 100);
	outcome_free(&o);
	RUN(o, "--max-body", "8k", "--help");
	CHECK_EQ_INT(o.result, CONFIG_EXIT);
	outcome_free(&o);

	/* The TLS library's version too: an operator checks it against
	 * security advisories. */
	RUN(o, "--version");
	CHECK_EQ_INT(o.result, CONFIG_EXIT);
	snprintf(expected, sizeof(expected), "relay %s (mbedTLS %s)\n", CONFIG_VERSION,
	    tls_library_version());
	CHECK_EQ_STR(o.out, expected);
	CHECK(strncmp(tls_library_version(), "3.6.", 4) == 0);
	CHECK_EQ_INT(o.err_len, 0);
	outcome_free(&o);
}

static void test_combinations(void)
{
	struct outcome o;

	RUN(o, "--cert", "c.pem");
	CHECK(one_line_naming(&o, "--key"));
	outcome_free(&o);
	RUN(o, "--key", "k.pem");
	CHECK(one_line_naming(&o, "--cert"));
	outcome_free(&o);
	RUN(o, "--default-ttl", "8d");
	CHECK(one_line_naming(&o, "--max-ttl"));
	outcome_free(&o);
	RUN(o, "--default-ttl", "2h", "--max-ttl", "1h");
	CHECK(one_line_naming(&o, "--default-ttl"));
	outcome_free(&o);
	/* The built-in 24h default yields to a shorter --max-ttl. */
	RUN(o, "--max-ttl", "1h");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.default_ttl, 3600);
	CHECK_EQ_INT(o.err_len, 0);
	outcome_free(&o);
	RUN(o, "--public-url", "ftp://x");
	CHECK(one_line_naming(&o, "--public-url"));
	outcome_free(&o);
}

static void test_no_tls(void)
{
	struct outcome o;

	RUN(o, "--no-tls");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.no_tls, 1);
	CHECK_EQ_INT(o.err_len, 0);
	outcome_free(&o);
	RUN(o, "--no-tls=1");
	CHECK(one_line_naming(&o, "--no-tls"));
	outcome_free(&o);
	RUN(o, "--no-tls", "--cert", "c.pem", "--key", "k.pem");
	CHECK(one_line_naming(&o, "--no-tls"));
	outcome_free(&o);
	RUN(o, "--no-tls", "--dev-cert-out", "d.pem");
	CHECK(one_line_naming(&o, "--no-tls"));
	outcome_free(&o);
}

/* --admin-listen, --admin-allow, --access-log: the admin listener is plain
 * HTTP, so anywhere but loopback it needs to be told who may ask. */
static void test_admin_and_access_log(void)
{
	static const char *not_loopback[] = { "0.0.0.0:9100", "10.0.0.1:9100", "[::]:9100",
	    "[::ffff:10.0.0.1]:9100" };
	static const char *loopback[] = { "127.0.0.1:0", "127.9.9.9:9100", "[::1]:0",
	    "[::ffff:127.0.0.1]:9100" };
	struct outcome o;
	char *argv[8];

	RUN(o, "--log-level", "info");
	CHECK_EQ_INT(o.c.admin_listen.addr_len, 0);
	CHECK_EQ_INT(o.c.admin_allow.count, 0);
	CHECK_EQ_INT(o.c.access_log, 0);
	outcome_free(&o);
	for (size_t i = 0; i < sizeof(loopback) / sizeof(loopback[0]); i++) {
		argv[0] = "relay";
		argv[1] = "--admin-listen";
		argv[2] = (char *)loopback[i];
		argv[3] = NULL;
		o = run_argv(3, argv);
		if (o.result != CONFIG_RUN)
			printf("    refused loopback --admin-listen %s: %s\n", loopback[i], o.err);
		CHECK_EQ_INT(o.result, CONFIG_RUN);
		CHECK(o.c.admin_listen.addr_len != 0);
		outcome_free(&o);
	}
	for (size_t i = 0; i < sizeof(not_loopback) / sizeof(not_loopback[0]); i++) {
		argv[0] = "relay";
		argv[1] = "--admin-listen";
		argv[2] = (char *)not_loopback[i];
		argv[3] = NULL;
		o = run_argv(3, argv);
		CHECK(one_line_naming(&o, "--admin-listen"));
		CHECK(strstr(o.err, "--admin-allow") != NULL);
		outcome_free(&o);
		argv[3] = "--admin-allow";
		argv[4] = "10.0.0.0/8";
		argv[5] = NULL;
		o = run_argv(5, argv);
		CHECK_EQ_INT(o.result, CONFIG_RUN);
		CHECK_EQ_INT(o.c.admin_allow.count, 1);
		outcome_free(&o);
	}
	RUN(o, "--admin-listen", "127.0.0.1:9100", "--admin-allow", "10.0.0.0/33");
	CHECK(one_line_naming(&o, "--admin-allow"));
	outcome_free(&o);
	RUN(o, "--admin-listen", "127.0.0.1:9100", "--admin-allow", "ten.0.0.0/8");
	CHECK(one_line_naming(&o, "--admin-allow"));
	outcome_free(&o);
	RUN(o, "--admin-allow", "10.0.0.0/8");
	CHECK(one_line_naming(&o, "--admin-listen"));
	outcome_free(&o);
	RUN(o, "--admin-listen", "localhost:9100");
	CHECK(one_line_naming(&o, "--admin-listen"));
	outcome_free(&o);
	/* The ranges are their own list, not --trust-proxy's. */
	RUN(o, "--admin-listen", "0.0.0.0:9100", "--admin-allow", "10.0.0.0/8", "--trust-proxy",
	    "192.0.2.0/24");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.admin_allow.count, 1);
	CHECK_EQ_INT(o.c.trust_proxy.count, 1);
	{
		uint8_t ten[4] = { 10, 1, 2, 3 }, doc[4] = { 192, 0, 2, 9 };

		CHECK(config_cidrs_match(&o.c.admin_allow, ten, 4));
		CHECK(!config_cidrs_match(&o.c.admin_allow, doc, 4));
		CHECK(config_cidrs_match(&o.c.trust_proxy, doc, 4));
	}
	outcome_free(&o);
	RUN(o, "--access-log");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.access_log, 1);
	outcome_free(&o);
	RUN(o, "--access-log=yes");
	CHECK(one_line_naming(&o, "--access-log"));
	outcome_free(&o);
	/* Its lines are at level info: a level that hides them is a mistake. */
	RUN(o, "--access-log", "--log-level", "warn");
	CHECK(one_line_naming(&o, "--access-log"));
	outcome_free(&o);
}

static void test_admin_allow_limit(void)
{
	char *argv[40];
	struct outcome o;
	int argc = 0;

	argv[argc++] = "relay";
	argv[argc++] = "--admin-listen";
	argv[argc++] = "0.0.0.0:0";
	for (int i = 0; i < CONFIG_MAX_CIDRS + 1; i++) {
		argv[argc++] = "--admin-allow";
		argv[argc++] = "10.0.0.0/8";
	}
	argv[argc] = NULL;
	o = run_argv(argc, argv);
	CHECK(one_line_naming(&o, "--admin-allow"));
	outcome_free(&o);
	o = run_argv(argc - 2, argv);
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.admin_allow.count, CONFIG_MAX_CIDRS);
	outcome_free(&o);
}

static void test_loopback(void)
{
	uint8_t v4[4] = { 127, 0, 0, 1 }, other4[4] = { 128, 0, 0, 1 };
	uint8_t v6[16] = { [15] = 1 }, any6[16] = { 0 };

	CHECK(config_is_loopback(v4, 4));
	CHECK(!config_is_loopback(other4, 4));
	CHECK(config_is_loopback(v6, 16));
	CHECK(!config_is_loopback(any6, 16));
}

static void test_listen_limit(void)
{
	char *argv[40];
	struct outcome o;
	int argc = 0;

	argv[argc++] = "relay";
	for (int i = 0; i < CONFIG_MAX_LISTEN + 1; i++) {
		argv[argc++] = "--listen";
		argv[argc++] = "127.0.0.1:0";
	}
	argv[argc] = NULL;
	o = run_argv(argc, argv);
	CHECK(one_line_naming(&o, "--listen"));
	outcome_free(&o);
	o = run_argv(argc - 2, argv);
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.listen_count, CONFIG_MAX_LISTEN);
	outcome_free(&o);
}

/* --cors-origin: the forms browsers send, each refused form one line. */
static void test_cors_origins(void)
{
	static const struct {
		const char *given, *stored;
	} good[] = {
		{ "https://app.example", "https://app.example" },
		{ "*", "*" },
		{ "HTTPS://App.Example", "https://app.example" },       /* browsers send lower case */
		{ "https://app.example:443", "https://app.example" },   /* ... and no default port */
		{ "http://localhost:80", "http://localhost" },
		{ "http://localhost:3000", "http://localhost:3000" },
		{ "https://app.example:80", "https://app.example:80" }, /* not https's default */
		{ "http://app.example:443", "http://app.example:443" },
		{ "https://app.example:008443", "https://app.example:8443" },
		{ "capacitor://localhost", "capacitor://localhost" },   /* web-runtime apps */
		{ "chrome-extension://abcdefghijklmnop", "chrome-extension://abcdefghijklmnop" },
		{ "https://[::1]:8443", "https://[::1]:8443" },
		{ "https://[2001:DB8::1]", "https://[2001:db8::1]" },
		{ "https://192.0.2.7", "https://192.0.2.7" },
	};
	static const char *const bad[] = {
		"", "null", "app.example", "//app.example", "https://", "https:app.example",
		"https://app.example/", "https://app.example/path", "https://app.example?x",
		"https://app.example#f", "https://user@app.example", "https://user:pw@app.example",
		"https://app.example:", "https://app.example:0", "https://app.example:65536",
		"https://app.example:99999999999", "https://app.example:8443x",
		"https://app example", "https://app.example ", " https://app.example",
		"https://app_example", "https://app.example\r\nX: y", "https://[::1", "https://[]",
		"https://[zz::1]", "https://[1.2.3.4]", "1https://app.example", "ht tp://a",
		"https://app.ex\xc3\xa4mple", "**", "https://*.example",
	};
	char out[CORS_ORIGIN_MAX + 1], longest[CORS_ORIGIN_MAX + 2];
	const char *why;
	struct outcome o;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		why = NULL;
		CHECK_EQ_INT(cors_normalize_origin(good[i].given, out, &why), 0);
		CHECK_EQ_STR(out, good[i].stored);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (cors_normalize_origin(bad[i], out, &why) != -1 || why == NULL)
			printf("    origin \"%s\" was taken\n", bad[i]);
		CHECK(why != NULL);
	}
	/* The longest origin taken, and one more character. */
	memset(longest, 'a', sizeof(longest) - 1);
	memcpy(longest, "https://", 8);
	longest[CORS_ORIGIN_MAX] = '\0';
	CHECK_EQ_INT(cors_normalize_origin(longest, out, &why), 0);
	CHECK_EQ_STR(out, longest);
	longest[CORS_ORIGIN_MAX] = 'a';
	longest[CORS_ORIGIN_MAX + 1] = '\0';
	CHECK_EQ_INT(cors_normalize_origin(longest, out, &why), -1);

	RUN(o, "--cors-origin", "HTTPS://App.Example:443", "--cors-origin=http://localhost:3000");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.cors_origin_count, 2);
	CHECK_EQ_STR(o.c.cors_origin[0], "https://app.example");
	CHECK_EQ_STR(o.c.cors_origin[1], "http://localhost:3000");
	CHECK_EQ_INT(o.err_len, 0);
	outcome_free(&o);
	RUN(o, "--no-tls");
	CHECK_EQ_INT(o.c.cors_origin_count, 0);
	CHECK(o.c.well_known == NULL);
	outcome_free(&o);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		RUN(o, "--cors-origin", (char *)bad[i]);
		CHECK(one_line_naming(&o, "--cors-origin"));
		outcome_free(&o);
	}
	RUN(o, "--cors-origin");
	CHECK(one_line_naming(&o, "--cors-origin"));
	outcome_free(&o);
	/* "*" already allows every origin: with another, a mistake. */
	RUN(o, "--cors-origin", "*", "--cors-origin", "https://app.example");
	CHECK(one_line_naming(&o, "--cors-origin"));
	outcome_free(&o);
	RUN(o, "--cors-origin", "https://app.example", "--cors-origin", "*");
	CHECK(one_line_naming(&o, "--cors-origin"));
	outcome_free(&o);
}

static void test_cors_origin_limit(void)
{
	char *argv[2 * CORS_MAX_ORIGINS + 4];
	char names[CORS_MAX_ORIGINS + 1][32];
	struct outcome o;
	int argc = 0;

	argv[argc++] = "relay";
	for (int i = 0; i < CORS_MAX_ORIGINS + 1; i++) {
		snprintf(names[i], sizeof(names[i]), "https://app%d.example", i);
		argv[argc++] = "--cors-origin";
		argv[argc++] = names[i];
	}
	argv[argc] = NULL;
	o = run_argv(argc, argv);
	CHECK(one_line_naming(&o, "--cors-origin"));
	CHECK(strstr(o.err, "at most 32") != NULL);
	outcome_free(&o);
	argv[argc - 2] = NULL;
	o = run_argv(argc - 2, argv);
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_INT(o.c.cors_origin_count, CORS_MAX_ORIGINS);
	CHECK_EQ_STR(o.c.cors_origin[CORS_MAX_ORIGINS - 1], "https://app31.example");
	outcome_free(&o);
}

/* --well-known takes a directory name; the files are read at start. */
static void test_well_known(void)
{
	struct outcome o;

	RUN(o, "--well-known", "/srv/relay/well-known");
	CHECK_EQ_INT(o.result, CONFIG_RUN);
	CHECK_EQ_STR(o.c.well_known, "/srv/relay/well-known");
	outcome_free(&o);
	RUN(o, "--well-known", "");
	CHECK(one_line_naming(&o, "--well-known"));
	outcome_free(&o);
	RUN(o, "--well-known");
	CHECK(one_line_naming(&o, "--well-known"));
	outcome_free(&o);
	/* --help tells of both options, and of the size limit. */
	RUN(o, "--help");
	CHECK(strstr(o.out, "--well-known DIR") != NULL);
	CHECK(strstr(o.out, "64 KiB") != NULL);
	CHECK(strstr(o.out, "--cors-origin ORIGIN") != NULL);
	outcome_free(&o);
}

int main(void)
{
	/* Lines reach a pipe even if a later test crashes. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_listen_addresses);
	CHECK_RUN(test_defaults);
	CHECK_RUN(test_option_forms);
	CHECK_RUN(test_unknown_options);
	CHECK_RUN(test_bad_values);
	CHECK_RUN(test_missing_values);
	CHECK_RUN(test_help_and_version);
	CHECK_RUN(test_combinations);
	CHECK_RUN(test_no_tls);
	CHECK_RUN(test_listen_limit);
	CHECK_RUN(test_admin_and_access_log);
	CHECK_RUN(test_admin_allow_limit);
	CHECK_RUN(test_loopback);
	CHECK_RUN(test_per_address_limits);
	CHECK_RUN(test_upper_bounds);
	CHECK_RUN(test_cors_origins);
	CHECK_RUN(test_cors_origin_limit);
	CHECK_RUN(test_well_known);
	return CHECK_SUMMARY();
}
