/*
 * test_hostport.c — "host:port" as the Host header and messages write it.
 */
#include <string.h>

#include "check.h"
#include "net/hostport.h"

static void test_names_and_addresses(void)
{
	char out[64];

	hostport_format(out, sizeof(out), "relay.example", 8443);
	CHECK_EQ_STR(out, "relay.example:8443");
	hostport_format(out, sizeof(out), "127.0.0.1", 80);
	CHECK_EQ_STR(out, "127.0.0.1:80");
	/* An IPv6 address needs brackets, or its colons read as the port's. */
	hostport_format(out, sizeof(out), "::1", 8443);
	CHECK_EQ_STR(out, "[::1]:8443");
}

static void test_without_port(void)
{
	char out[64];

	hostport_format(out, sizeof(out), "relay.example", 0);
	CHECK_EQ_STR(out, "relay.example");
	hostport_format(out, sizeof(out), "fe80::1", 0);
	CHECK_EQ_STR(out, "[fe80::1]");
}

static void test_cut_short(void)
{
	char out[8];

	hostport_format(out, sizeof(out), "relay.example", 8443);
	CHECK_EQ_STR(out, "relay.e");
}

int main(void)
{
	CHECK_RUN(test_names_and_addresses);
	CHECK_RUN(test_without_port);
	CHECK_RUN(test_cut_short);
	return CHECK_SUMMARY();
}
