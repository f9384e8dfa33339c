/*
 * share.h — relay URLs and Share URLs.
 *
 *   https://{host}[:{port}]/v1/m/{mailboxIdentifier}?v={vertical}#{Secret}
 *
 * The fragment is the Secret (base64url, no padding); it is split off here
 * and never travels to the relay. The mailbox URL (no query, no fragment) is
 * what names a mailbox in the device's state.
 */
#ifndef CLIENT_SHARE_H
#define CLIENT_SHARE_H

#include <stddef.h>
#include <stdint.h>

#include "client/seal.h"
#include "lib/url.h"

#define SHARE_URL_MAX 512

struct share {
	struct url origin;
	char id[37];                    /* the mailbox identifier */
	char path[64];                  /* /v1/m/{id} */
	char mailbox_url[SHARE_URL_MAX];/* origin + path */
	char vertical;                  /* a, h, c, or 0 when absent */
	uint8_t secret[SEAL_KEY_MAX];
	size_t secret_len;              /* 0 when the URL has no fragment */
};

/* "https://host:port" with an optional trailing path, which is ignored. */
int share_parse_origin(const char *url, struct url *out, char *err, size_t err_len);
/* A Share URL or a bare mailbox URL: 0, or -1 with the reason in err. */
int share_parse(const char *url, struct share *out, char *err, size_t err_len);
/* urlLink?v=X#secret into out. */
void share_format(const char *url_link, char vertical, const uint8_t *secret,
    size_t secret_len, char *out, size_t out_len);

#endif
