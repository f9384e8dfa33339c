/*
 * headers.h — the values of request headers: Content-Type, entity-tag lists
 * (If-Match, If-None-Match), Prefer and X-Forwarded-For.
 *
 * The HTTP parser (protocol/http.h) finds where each value lies; these read
 * what it says, as pure functions of the bytes, so the unit tests can cover
 * every accepted and refused form without a request. What a value means for
 * a mailbox is the API's to decide (protocol/api.c).
 */
#ifndef PROTOCOL_HEADERS_H
#define PROTOCOL_HEADERS_H

#include <stddef.h>
#include <stdint.h>

/* application/json, optionally with parameters; a charset must be UTF-8. */
int headers_is_json(const char *s, size_t len);

/* One member of an entity-tag list (RFC 9110 section 8.8.3), as If-Match
 * and If-None-Match carry them. */
struct headers_etag {
	uint8_t any;        /* "*" */
	uint8_t weak;       /* W/"..." */
	uint64_t version;   /* the mailbox version it names; 0: none */
};

/* The next member of the list s from *at: 1 and the member, 0 at the end of
 * the list, -1 when it is malformed (then no member of it counts). A tag
 * names a version only when spelt exactly as response_format_etag writes it
 * (lower-case hex, no leading zero, at most 16 digits). */
int headers_etag_next(const char *s, size_t len, size_t *at, struct headers_etag *item);
/* Does the list name this version? If-None-Match compares weakly (W/ tags
 * count), If-Match strongly (they never do); "*" names any. */
int headers_etag_listed(const char *s, size_t len, uint64_t etag, int strong);

/* Prefer: wait=N (RFC 7240) among other preferences; -1 when absent. */
long headers_prefer_wait(const char *s, size_t len);

/* The last entry of an X-Forwarded-For list, without the white space
 * before it: the one the nearest proxy added. Several lines form one list
 * (RFC 9110 section 5.3), and the parser keeps the last line, so its last
 * entry is that one too. */
const char *headers_forwarded_last(const char *s, size_t len, size_t *entry_len);

#endif
