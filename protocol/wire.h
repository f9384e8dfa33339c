/*
 * wire.h — the textual forms values take on the wire, parsed strictly and
 * formatted canonically: UUIDs and access rights (spec sections 3, 4 and
 * 10; base64 is lib/base64.h's, RFC 3339 instants lib/clock.h's). The rules
 * on the values themselves (lengths, payload types, request identifiers)
 * are storage/mailbox.h's.
 *
 * Every check here is a pure function of its input, so the unit tests can
 * cover each rule without a server.
 */
#ifndef PROTOCOL_WIRE_H
#define PROTOCOL_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_UUID_LEN 36        /* 8-4-4-4-12 */

/* A UUID as a device sends it: 36 characters 8-4-4-4-12, hex digits of
 * either case, which name the same UUID (RFC 9562). Device Claims and the
 * mailbox identifier in a request's path are read so (spec section 1, v1.1:
 * iOS's UUID.uuidString is upper case). 0 and the 16 bytes, or -1. */
int wire_parse_uuid(const char *s, size_t len, uint8_t out[16]);
/* Lower-case canonical form, NUL-terminated (37 bytes). */
void wire_format_uuid(const uint8_t id[16], char out[WIRE_UUID_LEN + 1]);

/* Non-empty, only R, W and D, each at most once. 0 and the bits of
 * enum mailbox_right, or -1. */
int wire_parse_rights(const char *s, size_t len, uint8_t *out);

/* One X-Forwarded-For entry, as proxies write a client's address: a.b.c.d,
 * a.b.c.d:port, an IPv6 address, [IPv6] or [IPv6]:port. 0 and the address
 * (4 bytes, or 16 for IPv6: an IPv4-mapped IPv6 address is its IPv4
 * address, as the client is the same) with its length in *addr_len; -1 for
 * anything else. */
int wire_parse_forwarded_addr(const char *s, size_t len, uint8_t addr[16], size_t *addr_len);

#endif
