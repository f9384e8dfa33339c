/*
 * html.c — preview pages, escaped so that nothing a client sent can form a
 * tag, an attribute or a character reference of its own.
 */
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "protocol/html.h"
#include "lib/clock.h"

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

/* One small stylesheet for every page: a card that reads well from a phone to
 * a desktop. Long unbroken values wrap instead of widening the page. */
static const char html_style[] =
    "<style>\n"
    "body{margin:0;background:#eef0f4;color:#1d1d1f;"
    "font:17px/1.5 system-ui,-apple-system,\"Segoe UI\",Roboto,sans-serif}\n"
    "main{box-sizing:border-box;max-width:30rem;margin:0 auto;padding:1.5rem 1rem}\n"
    ".card{background:#fff;border-radius:18px;padding:1.5rem;"
    "box-shadow:0 1px 2px rgba(0,0,0,.06),0 8px 24px rgba(0,0,0,.06)}\n"
    ".lead{margin:0 0 1rem;color:#0b57d0;font-weight:600}\n"
    "img{display:block;max-width:100%;max-height:15rem;margin:0 auto 1rem;border-radius:12px}\n"
    "h1{margin:0 0 .5rem;font-size:1.5rem;line-height:1.25}\n"
    "h1,p{overflow-wrap:anywhere}\n"
    "p{margin:.5rem 0}\n"
    ".desc{color:#4a4a50}\n"
    ".next{margin-top:1.25rem;padding-top:1rem;border-top:1px solid #e3e3e8}\n"
    ".when{color:#5f5f66;font-size:.94rem}.when time{color:#1d1d1f;font-weight:600}\n"
    "@media(min-width:40rem){main{padding-top:4rem}.card{padding:2rem}}\n"
    "</style>\n";

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

/*
 * "in 23 hours": how long the share has left, in the largest unit that still
 * says something. Each count is rounded down so that the page never promises
 * more time than there is: a share created with a 24-hour lifetime and opened
 * a moment later has 23 full hours left. Hours run up to two days because
 * "in 1 day" would hide up to a day of difference.
 */
static void html_time_left(struct buf *out, int64_t seconds)
{
	static const struct {
		int64_t below, unit;
		const char *one, *many;
	} steps[] = {
		{ 60 * 60, 60, "minute", "minutes" },
		{ 2 * 24 * 60 * 60, 60 * 60, "hour", "hours" },
		{ 0, 24 * 60 * 60, "day", "days" },     /* the last step has no bound */
	};
	const size_t last = sizeof(steps) / sizeof(steps[0]) - 1;
	char text[48];
	size_t i = 0;
	int64_t n;

	if (seconds < 60) {
		buf_append_lit(out, "in less than a minute");
		return;
	}
	while (i < last && seconds >= steps[i].below)
		i++;
	n = seconds / steps[i].unit;
	snprintf(text, sizeof(text), "in %lld %s", (long long)n, n == 1 ? steps[i].one : steps[i].many);
	buf_append_str(out, text);
}

void html_preview_page(struct buf *out, const struct mailbox_display *d,
    const char *base, size_t base_len, const char *id, int64_t expires_at, int64_t now)
{
	const char *title = mailbox_display_title(d);
	const char *description = mailbox_display_description(d);
	const char *image = mailbox_display_image_url(d);
	char expiration[CLOCK_RFC3339_LEN + 1];

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
	buf_append_lit(out, "</head>\n<body>\n<main>\n<div class=\"card\">\n"
	    "<p class=\"lead\">A digital key is waiting for you.</p>\n<img src=\"");
	html_escape(out, image, d->image_url_len);
	buf_append_lit(out, "\" alt=\"\">\n<h1>");
	html_escape(out, title, d->title_len);
	buf_append_lit(out, "</h1>\n<p class=\"desc\">");
	html_escape(out, description, d->description_len);
	/* A browser is where a person lands when the link did not open in the
	 * app that takes the key, so the page says where to open it instead. */
	buf_append_lit(out, "</p>\n<div class=\"next\">\n"
	    "<p><strong>To accept it, open this link on the device that should receive it."
	    "</strong> A web browser cannot add the key.</p>\n"
	    "<p class=\"when\">This share expires <time datetime=\"");
	clock_format_rfc3339(expires_at, expiration);
	buf_append_str(out, expiration);
	buf_append_lit(out, "\">");
	html_time_left(out, expires_at - now);
	buf_append_lit(out, "</time>.</p>\n</div>\n</div>\n</main>\n</body>\n</html>\n");
}

/* A page with a heading and, when text is not NULL, a sentence under it. */
static void html_message_page(struct buf *out, const char *title, const char *text)
{
	html_head(out, title, strlen(title));
	buf_append(out, html_style, sizeof(html_style) - 1);
	buf_append_lit(out, "</head>\n<body>\n<main>\n<div class=\"card\">\n<h1>");
	html_escape(out, title, strlen(title));
	buf_append_lit(out, "</h1>\n");
	if (text != NULL) {
		buf_append_lit(out, "<p class=\"desc\">");
		html_escape(out, text, strlen(text));
		buf_append_lit(out, "</p>\n");
	}
	buf_append_lit(out, "</div>\n</main>\n</body>\n</html>\n");
}

void html_error_page(struct buf *out, const char *title)
{
	html_message_page(out, title, NULL);
}

/* Expired, deleted and never-created shares look the same from outside, and
 * the page does not tell them apart either. */
void html_not_found_page(struct buf *out)
{
	html_message_page(out, "This share has expired or does not exist",
	    "The digital key it offered is no longer available from this link. "
	    "If you have already received the key, there is nothing more to do; "
	    "otherwise, ask the person who shared it to send it again.");
}
