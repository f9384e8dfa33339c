/*
 * hostport.h — a host and port as an HTTP Host header and a message write
 * them: "relay.example:8443", "[::1]:8443", with the brackets an IPv6
 * address needs so that its colons are not read as the port's.
 */
#ifndef NET_HOSTPORT_H
#define NET_HOSTPORT_H

#include <stddef.h>

/* host (brackets added around an IPv6 address), then ":port" unless port
 * is 0, into out as a string (cut short to fit out_len). */
void hostport_format(char *out, size_t out_len, const char *host, unsigned port);

#endif
