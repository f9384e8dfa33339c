/*
 * html.c — preview pages, escaped so that nothing a client sent can form a
 * tag, an attribute or a character reference of its own.
 */
#include <string.h>

#include "protocol/html.h"

void html_escape(struct buf *out, const char *s, size_t len)
{
	size_t run = 0;

	for (size_t i = 0; i < len; i++) {
		const char *ref;

		switch (s[i]) {
		case '&': ref = "&amp;"; break;
		case '<': ref = "&lt;"; break;
		case '>': ref = "&gt;"; break;
		case '"': ref = "&quot;"; break;
		case '\'': ref = "&#39;"; break;
		default: continue;
		}
		buf_append(out, s + run, i - run);
		buf_append_str(out, ref);
		run = i + 1;
	}
	buf_append(out, s + run, len - run);
}

static const char html_style[] =
    "<style>body{font-family:system-ui,sans-serif;margin:0;background:#f4f4f6;color:#1c1c1e}"
    "main{max-width:32rem;margin:3rem auto;padding:1.5rem;background:#fff;border-radius:12px}"
    "img{max-width:100%;border-radius:8px}h1{font-size:1.4rem}</style>\n";

static void html_head(struct buf *out, const char *title, size_t title_len)
{
	buf_append_lit(out, "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n"
	    "<meta charset=\"utf-8\">\n"
	    "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n"
	    "<meta name=\"robots\" content=\"noindex\">\n<title>");
	html_escape(out, title, title_len);
	buf_append_lit(out, "</title>\n");
}

static void html_meta(struct buf *out, const char *property, const char *value, size_t len)
{
	buf_append_lit(out, "<meta property=\"");
	buf_append_str(out, property);
	buf_append_lit(out, "\" content=\"");
	html_escape(out, value, len);
	buf_append_lit(out, "\">\n");
}

void html_preview_page(struct buf *out, const struct mailbox_display *d,
    const char *base, size_t base_len, const char *id)
{
	const char *title = mailbox_display_title(d);
	const char *description = mailbox_display_description(d);
	const char *image = mailbox_display_image_url(d);

	html_head(out, title, d->title_len);
	html_meta(out, "og:title", title, d->title_len);
	html_meta(out, "og:description", description, d->description_len);
	html_meta(out, "og:image", image, d->image_url_len);
	buf_append_lit(out, "<meta property=\"og:url\" content=\"");
	html_escape(out, base, base_len);
	buf_append_lit(out, "/v1/m/");
	html_escape(out, id, 36);
	buf_append_lit(out, "\">\n");
	html_meta(out, "og:type", "website", 7);
	buf_append(out, html_style, sizeof(html_style) - 1);
	buf_append_lit(out, "</head>\n<body>\n<main>\n<img src=\"");
	html_escape(out, image, d->image_url_len);
	buf_append_lit(out, "\" alt=\"\">\n<h1>");
	html_escape(out, title, d->title_len);
	buf_append_lit(out, "</h1>\n<p>");
	html_escape(out, description, d->description_len);
	buf_append_lit(out, "</p>\n</main>\n</body>\n</html>\n");
}

void html_error_page(struct buf *out, const char *title)
{
	html_head(out, title, strlen(title));
	buf_append(out, html_style, sizeof(html_style) - 1);
	buf_append_lit(out, "</head>\n<body>\n<main>\n<h1>");
	html_escape(out, title, strlen(title));
	buf_append_lit(out, "</h1>\n</main>\n</body>\n</html>\n");
}

void html_not_found_page(struct buf *out)
{
	html_error_page(out, "This share has expired or does not exist");
}
