/*
 * share.c — parsing of relay and Share URLs, strict about what a device
 * relies on (scheme, identifier, Secret) and indifferent to the rest.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client/share.h"
#include "lib/base64.h"
#include "protocol/wire.h"

/* scheme://authority, leaving *rest at the first character after it. */
static int share_origin_prefix(const char *url, struct url *out, const char **rest,
    char *err, size_t err_len)
{
	const char *why;

	if (url_parse(url, out, rest, &why) != 0) {
		snprintf(err, err_len, "%s", why);
		return -1;
	}
	return 0;
}

int share_parse_origin(const char *url, struct url *out, char *err, size_t err_len)
{
	const char *rest;

	if (share_origin_prefix(url, out, &rest, err, err_len) != 0)
		return -1;
	if (*rest != '\0' && *rest != '/') {
		snprintf(err, err_len, "unexpected characters after the host and port");
		return -1;
	}
	return 0;
}

int share_parse(const char *url, struct share *out, char *err, size_t err_len)
{
	const char *rest, *query, *fragment;
	uint8_t id[16];
	int n;

	memset(out, 0, sizeof(*out));
	if (share_origin_prefix(url, &out->origin, &rest, err, err_len) != 0)
		return -1;
	/* In either case (an iOS app may have rebuilt the link from a parsed
	 * UUID, spec section 1), kept as the relay writes it: lower case, so
	 * that one mailbox is one entry of the state file. */
	if (strncmp(rest, "/v1/m/", 6) != 0 || strnlen(rest + 6, WIRE_UUID_LEN) < WIRE_UUID_LEN ||
	    wire_parse_uuid(rest + 6, WIRE_UUID_LEN, id) != 0 ||
	    strchr("?#", rest[6 + WIRE_UUID_LEN]) == NULL) {
		snprintf(err, err_len, "its path is not /v1/m/ and a mailbox identifier");
		return -1;
	}
	wire_format_uuid(id, out->id);
	snprintf(out->path, sizeof(out->path), "/v1/m/%s", out->id);
	n = snprintf(out->mailbox_url, sizeof(out->mailbox_url), "%.*s%s",
	    (int)(rest - url), url, out->path);
	if (n < 0 || (size_t)n >= sizeof(out->mailbox_url)) {
		snprintf(err, err_len, "it is too long");
		return -1;
	}
	rest += 6 + WIRE_UUID_LEN;
	query = *rest == '?' ? rest + 1 : NULL;
	fragment = strchr(rest, '#');
	if (query != NULL) {
		const char *v = strstr(query, "v=");

		/* v= as a parameter of its own, before the fragment. */
		if (v != NULL && (v == query || v[-1] == '&') && (fragment == NULL || v < fragment)) {
			if (strchr("ahc", v[2]) == NULL || v[2] == '\0' ||
			    (v[3] != '\0' && v[3] != '&' && v[3] != '#')) {
				snprintf(err, err_len, "its v= parameter is not a, h or c");
				return -1;
			}
			out->vertical = v[2];
		}
	}
	if (fragment != NULL) {
		size_t len = strlen(fragment + 1);

		if (base64_decode(BASE64_URL, fragment + 1, len, out->secret, sizeof(out->secret),
		    &out->secret_len) != 0 || (out->secret_len != 16 && out->secret_len != 32)) {
			out->secret_len = 0;
			snprintf(err, err_len, "its #fragment is not a 16- or 32-byte secret in base64url");
			return -1;
		}
	}
	return 0;
}

void share_format(const char *url_link, char vertical, const uint8_t *secret,
    size_t secret_len, char *out, size_t out_len)
{
	char encoded[BASE64_ENCODED_LEN(SEAL_KEY_MAX) + 1];

	encoded[base64_encode(BASE64_URL, secret, secret_len, encoded)] = '\0';
	snprintf(out, out_len, "%s?v=%c#%s", url_link, vertical, encoded);
}
