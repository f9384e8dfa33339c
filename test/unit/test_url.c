/*
 * test_url.c — the origin of an http(s) URL: scheme, host (IPv6 without its
 * brackets), port (given or the scheme's), and where the rest begins.
 */
#include <stdio.h>
#include <string.h>

#include "lib/url.h"
#include "test/unit/check.h"

static void test_origins(void)
{
	static const struct {
		const char *text;
		int tls;
		const char *host;
		unsigned port;
		const char *rest;
	} good[] = {
		{ "https://relay.example", 1, "relay.example", 443, "" },
		{ "http://relay.example", 0, "relay.example", 80, "" },
		{ "https://relay.example:8443/v1/m/x", 1, "relay.example", 8443, "/v1/m/x" },
		{ "http://127.0.0.1:1", 0, "127.0.0.1", 1, "" },
		{ "https://[::1]:65535/", 1, "::1", 65535, "/" },
		{ "https://[2001:db8::17]", 1, "2001:db8::17", 443, "" },
		{ "https://h?q#f", 1, "h", 443, "?q#f" },
		{ "https://h#f", 1, "h", 443, "#f" },
		{ "https://Relay-1_b.example", 1, "Relay-1_b.example", 443, "" },
		{ "https://[::FFFF:192.0.2.1]:8443", 1, "::FFFF:192.0.2.1", 8443, "" },
	};
	struct url u;
	const char *rest, *why;

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		rest = NULL;
		CHECK_EQ_INT(url_parse(good[i].text, &u, &rest, &why), 0);
		CHECK_EQ_INT(u.tls, good[i].tls);
		CHECK_EQ_STR(u.host, good[i].host);
		CHECK_EQ_INT(u.port, good[i].port);
		CHECK_EQ_STR(rest, good[i].rest);
	}
}

static void test_refusals(void)
{
	static const struct {
		const char *text;
		const char *why;
	} bad[] = {
		{ "ftp://x", "it does not start with https:// or http://" },
		{ "HTTPS://x", "it does not start with https:// or http://" },
		{ "relay.example", "it does not start with https:// or http://" },
		{ "https://", "it names no host" },
		{ "https://:443", "it names no host" },
		{ "https:///path", "it names no host" },
		{ "https://[]:443", "it names no host" },
		{ "https://[::1", "its IPv6 address has no closing ]" },
		{ "https://h:", "its port is not a number from 1 to 65535" },
		{ "https://h:0", "its port is not a number from 1 to 65535" },
		{ "https://h:65536", "its port is not a number from 1 to 65535" },
		{ "https://h:99999999999999999999", "its port is not a number from 1 to 65535" },
		{ "https://h:-1", "its port is not a number from 1 to 65535" },
		{ "https://h:x", "its port is not a number from 1 to 65535" },
		{ "https://h:80x", "its port is not a number from 1 to 65535" },
		{ "https://h:80 ", "its port is not a number from 1 to 65535" },
		{ "https://[::1]x/", "something follows its IPv6 address's ]" },
		{ "https://[::1]8443", "something follows its IPv6 address's ]" },
		/* Nothing but a name or an address reaches a resolver, a Host
		 * header or a certificate check. */
		{ "https://user@relay.example/", "it holds a user name, which is not taken" },
		{ "https://relay example/", "its host name holds a character no host name has" },
		{ "https://relay.example\r\nX-Evil: 1/", "its host name holds a character no host name has" },
		{ "https://relay.example%2f/", "its host name holds a character no host name has" },
		{ "https://[::1\r\n]/", "its IPv6 address holds a character no address has" },
		{ "https://[fe80::1%25eth0]/", "its IPv6 address holds a character no address has" },
		{ "https://[relay.example]/", "its IPv6 address holds a character no address has" },
	};
	char long_host[300];
	struct url u;
	const char *rest, *why;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		why = NULL;
		if (url_parse(bad[i].text, &u, &rest, &why) != -1)
			printf("    accepted URL \"%s\"\n", bad[i].text);
		CHECK_EQ_STR(why, bad[i].why);
	}
	/* A host that does not fit is refused, never cut short. */
	snprintf(long_host, sizeof(long_host), "https://%0*d", 256, 0);
	CHECK_EQ_INT(url_parse(long_host, &u, &rest, &why), -1);
	CHECK_EQ_STR(why, "its host name is longer than 255 characters");
	snprintf(long_host, sizeof(long_host), "https://%0*d", 255, 0);
	CHECK_EQ_INT(url_parse(long_host, &u, &rest, &why), 0);
	CHECK_EQ_INT(strlen(u.host), 255);
}

int main(void)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_origins);
	CHECK_RUN(test_refusals);
	return CHECK_SUMMARY();
}
