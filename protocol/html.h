/*
 * html.h — the share preview page (spec section 4.4) and its 404 twin.
 *
 * Messaging apps fetch a share link to draw a card from its OpenGraph tags;
 * a person who opens it sees the same title, description and image, and is
 * told in plain words what to do with the link and when it expires. Every
 * value comes from a client, so every value is escaped for the context it
 * lands in (text or a double-quoted attribute), and the page is served with
 * a Content-Security-Policy that lets no script run even if escaping failed.
 */
#ifndef PROTOCOL_HTML_H
#define PROTOCOL_HTML_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "storage/store.h"

/* Append s with & < > " ' replaced by character references. */
void html_escape(struct buf *out, const char *s, size_t len);

/* The preview page for the mailbox whose URL is base + "/v1/m/" + id (the
 * 36-character canonical identifier). It tells a person what is waiting, where
 * to open the link, and how long the share has left: expires_at and now are
 * Unix seconds. */
void html_preview_page(struct buf *out, const struct mailbox_display *display,
    const char *base, size_t base_len, const char *id, int64_t expires_at, int64_t now);
/* The page for a share that does not exist (any more). */
void html_not_found_page(struct buf *out);
/* The page for a preview request that could not be served: a short sentence
 * that says why, in plain words. */
void html_error_page(struct buf *out, const char *title);

#endif
