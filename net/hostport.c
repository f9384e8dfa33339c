/*
 * hostport.c — "host:port" for Host headers and messages, one spelling for
 * the push gateway's requests and the client's.
 */
#include <stdio.h>
#include <string.h>

#include "net/hostport.h"

void hostport_format(char *out, size_t out_len, const char *host, unsigned port)
{
	/* Only an IPv6 address has a colon in a URL's host. */
	const char *open = strchr(host, ':') != NULL ? "[" : "";
	const char *close = *open != '\0' ? "]" : "";

	if (port != 0)
		snprintf(out, out_len, "%s%s%s:%u", open, host, close, port);
	else
		snprintf(out, out_len, "%s%s%s", open, host, close);
}
