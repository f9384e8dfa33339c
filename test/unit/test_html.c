/*
 * test_html.c — the share preview page (spec section 4.4).
 *
 * The property that matters is that nothing a client stored can open a tag,
 * close an attribute or start a character reference of its own. It is tested
 * by rendering hostile inputs and comparing the page's markup characters
 * with those of a page rendered from harmless text: the template contributes
 * the same number of '<', '>', '"' and '\'' either way, so any difference
 * came from the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/buf.h"
#include "protocol/html.h"
#include "storage/store.h"
#include "test/unit/check.h"

#define TEST_ID "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0"
#define TEST_BASE "https://relay.example"
/* 2026-01-01T00:00:00Z, and a share created then with the default lifetime. */
#define TEST_NOW 1767225600
#define TEST_EXPIRES (TEST_NOW + 24 * 60 * 60)

/* A NUL-terminated copy of what a buffer holds, for string checks. */
static char *buf_text(struct buf *b)
{
	char *s = malloc(b->len + 1);

	memcpy(s, b->data ? b->data : "", b->len);
	s[b->len] = '\0';
	return s;
}

static char *escape(const char *s, size_t len)
{
	struct buf b;
	char *text;

	buf_init(&b);
	html_escape(&b, s, len);
	text = buf_text(&b);
	buf_free(&b);
	return text;
}

static struct mailbox_display *display_new(const char *title, size_t title_len,
    const char *description, size_t description_len, const char *image, size_t image_len)
{
	struct mailbox_display *d = malloc(sizeof(*d) + title_len + description_len + image_len);

	d->title_len = (uint16_t)title_len;
	d->description_len = (uint16_t)description_len;
	d->image_url_len = (uint16_t)image_len;
	memcpy(d->bytes, title, title_len);
	memcpy(d->bytes + title_len, description, description_len);
	memcpy(d->bytes + title_len + description_len, image, image_len);
	return d;
}

static char *page_at(const char *title, const char *description, const char *image,
    int64_t expires_at, int64_t now)
{
	struct mailbox_display *d = display_new(title, strlen(title), description,
	    strlen(description), image, strlen(image));
	struct buf b;
	char *text;

	buf_init(&b);
	html_preview_page(&b, d, TEST_BASE, strlen(TEST_BASE), TEST_ID, expires_at, now);
	CHECK(!b.failed);
	text = buf_text(&b);
	buf_free(&b);
	free(d);
	return text;
}

static char *page(const char *title, const char *description, const char *image)
{
	return page_at(title, description, image, TEST_EXPIRES, TEST_NOW);
}

static size_t count_char(const char *s, char c)
{
	size_t n = 0;

	for (; *s; s++)
		n += *s == c;
	return n;
}

static size_t count_str(const char *s, const char *needle)
{
	size_t n = 0, len = strlen(needle);

	if (len == 0)
		return 0;
	while ((s = strstr(s, needle)) != NULL) {
		n++;
		s += len;
	}
	return n;
}

/* ---- html_escape ---- */

static void test_escape(void)
{
	char *s;

	s = escape("&<>\"'", 5);
	CHECK_EQ_STR(s, "&amp;&lt;&gt;&quot;&#39;");
	free(s);
	s = escape("a&b<c>d\"e'f", 11);
	CHECK_EQ_STR(s, "a&amp;b&lt;c&gt;d&quot;e&#39;f");
	free(s);
	s = escape("plain text", 10);
	CHECK_EQ_STR(s, "plain text");
	free(s);
	s = escape("", 0);
	CHECK_EQ_STR(s, "");
	free(s);
	/* An existing reference is escaped again, not trusted. */
	s = escape("&amp;&#60;", 10);
	CHECK_EQ_STR(s, "&amp;amp;&amp;#60;");
	free(s);
	/* UTF-8 passes through byte for byte. */
	s = escape("Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91", 14);
	CHECK_EQ_STR(s, "Caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x94\x91");
	free(s);
	/* Only len bytes are read. */
	s = escape("<b>", 1);
	CHECK_EQ_STR(s, "&lt;");
	free(s);
	/* A long run with escapes at both ends. */
	{
		char in[3002], expected[3100];

		memset(in, 'x', sizeof(in));
		in[0] = '<';
		in[3001] = '>';
		snprintf(expected, sizeof(expected), "&lt;%.*s&gt;", 3000, in + 1);
		s = escape(in, sizeof(in));
		CHECK_EQ_STR(s, expected);
		free(s);
	}
}

/* ---- the page ---- */

static void test_preview_tags(void)
{
	char *p = page("Car key", "For the weekend", "https://img.example/car.png");

	CHECK(strncmp(p, "<!DOCTYPE html>", 15) == 0);
	CHECK(strstr(p, "<title>Car key</title>") != NULL);
	CHECK(strstr(p, "<meta property=\"og:title\" content=\"Car key\">") != NULL);
	CHECK(strstr(p, "<meta property=\"og:description\" content=\"For the weekend\">") != NULL);
	CHECK(strstr(p, "<meta property=\"og:image\" content=\"https://img.example/car.png\">")
	    != NULL);
	CHECK(strstr(p, "<meta property=\"og:url\" content=\"" TEST_BASE "/v1/m/" TEST_ID "\">")
	    != NULL);
	CHECK(strstr(p, "<meta property=\"og:type\" content=\"website\">") != NULL);
	CHECK(strstr(p, "<meta charset=\"utf-8\">") != NULL);
	/* og tags in the head, the same values in the body for a person. */
	CHECK(strstr(p, "og:title") < strstr(p, "</head>"));
	CHECK(strstr(p, "og:type") < strstr(p, "</head>"));
	CHECK(strstr(p, "<h1>Car key</h1>") != NULL);
	CHECK(strstr(p, "<p class=\"desc\">For the weekend</p>") != NULL);
	CHECK(strstr(p, "<img src=\"https://img.example/car.png\"") != NULL);
	CHECK(strstr(p, "</html>") != NULL);
	/* No script, ever. */
	CHECK(strstr(p, "<script") == NULL);
	free(p);

	/* An empty description still gives its tag. */
	p = page("T", "", "https://i");
	CHECK(strstr(p, "<meta property=\"og:description\" content=\"\">") != NULL);
	free(p);
}

/* A person who lands on the page learns what it is and what to do. */
static void test_preview_says_what_to_do(void)
{
	/* Opened a second after a 24-hour share was created. */
	char *p = page_at("Car key", "For the weekend", "https://img.example/car.png",
	    TEST_EXPIRES, TEST_NOW + 1);
	const char *body = strstr(p, "<body>");

	CHECK(body != NULL);
	CHECK(strstr(body, "A digital key is waiting for you.") != NULL);
	CHECK(strstr(body, "open this link on the device that should receive it.") != NULL);
	CHECK(strstr(body, "This share expires <time datetime=\"2026-01-02T00:00:00Z\">"
	    "in 23 hours</time>.") != NULL);
	/* The texts are in the body, after the title the sender chose. */
	CHECK(strstr(body, "A digital key") < strstr(body, "<h1>Car key</h1>"));
	CHECK(strstr(body, "<h1>Car key</h1>") < strstr(body, "open this link"));
	CHECK(strstr(p, "<script") == NULL);
	free(p);
}

/* The time left at each boundary of its phrasing: always rounded down, so
 * the page never promises more time than there is. */
static void test_preview_time_left(void)
{
	static const struct {
		int64_t left;
		const char *phrase;
	} cases[] = {
		{ -3600, "in less than a minute" },   /* not served, but never nonsense */
		{ 0, "in less than a minute" },
		{ 1, "in less than a minute" },
		{ 59, "in less than a minute" },
		{ 60, "in 1 minute" },
		{ 119, "in 1 minute" },
		{ 120, "in 2 minutes" },
		{ 3599, "in 59 minutes" },
		{ 3600, "in 1 hour" },
		{ 7199, "in 1 hour" },
		{ 7200, "in 2 hours" },
		{ 86399, "in 23 hours" },
		{ 86400, "in 24 hours" },
		{ 2 * 86400 - 1, "in 47 hours" },
		{ 2 * 86400, "in 2 days" },
		{ 7 * 86400 - 1, "in 6 days" },
		{ 7 * 86400, "in 7 days" },
		{ 400 * 86400 + 5, "in 400 days" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char want[80];
		char *p = page_at("t", "d", "https://i", TEST_NOW + cases[i].left, TEST_NOW);

		snprintf(want, sizeof(want), "\">%s</time>.", cases[i].phrase);
		if (strstr(p, want) == NULL)
			printf("    %lld seconds left: expected \"%s\"\n", (long long)cases[i].left,
			    cases[i].phrase);
		CHECK(strstr(p, want) != NULL);
		free(p);
	}
}

/* The machine-readable instant is the mailbox's expiry, whatever now is. */
static void test_preview_expiry_instant(void)
{
	char *p = page_at("t", "d", "https://i", 1767225600 + 3 * 86400 + 45296, TEST_NOW + 100);

	CHECK(strstr(p, "<time datetime=\"2026-01-04T12:34:56Z\">in 3 days</time>") != NULL);
	free(p);
}

static void test_preview_escapes(void)
{
	char *p = page("<b>\"Tom & Jerry's\"</b>", "a<script>alert(1)</script>",
	    "https://x/\"><img src=x onerror=alert(1)>");

	CHECK(strstr(p, "<title>&lt;b&gt;&quot;Tom &amp; Jerry&#39;s&quot;&lt;/b&gt;</title>")
	    != NULL);
	CHECK(strstr(p, "content=\"&lt;b&gt;&quot;Tom &amp; Jerry&#39;s&quot;&lt;/b&gt;\"") != NULL);
	CHECK(strstr(p, "<p class=\"desc\">a&lt;script&gt;alert(1)&lt;/script&gt;</p>") != NULL);
	CHECK(strstr(p, "<script") == NULL);
	CHECK(strstr(p, "<img src=x") == NULL);
	CHECK(strstr(p, "content=\"https://x/&quot;&gt;&lt;img src=x onerror=alert(1)&gt;\"")
	    != NULL);
	free(p);
}

/* Inputs a hostile client might store, and random mixes of their pieces. */
static const char *hostile[] = {
	"\"><script>alert(1)</script>",
	"'><img src=x onerror=alert(document.cookie)>",
	"javascript:alert(1)",
	"<script>",
	"</title><script>x()</script>",
	"\" onmouseover=\"alert(1)",
	"' autofocus onfocus='alert(1)",
	"&lt;script&gt;",
	"&#x3c;script&#x3e;",
	"<!--",
	"-->",
	"<![CDATA[",
	"]]>",
	"</head><body onload=alert(1)>",
	"<svg/onload=alert(1)>",
	"\xe2\x80\xae\"<",
	"<<<<>>>>\"\"\"\"''''&&&&",
	"",
};

static const char *const pieces[] = { "<", ">", "\"", "'", "&", "a", " ", "=", "/",
	"script", "javascript:", "onerror=", "\xc3\xa9", "#", ";", "\\", "\n" };

static uint64_t next_random(uint64_t *state)
{
	uint64_t x = (*state += 0x9e3779b97f4a7c15ULL);

	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
	x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
	return x ^ (x >> 31);
}

/* Is the page's markup the template's alone? And does every value appear in
 * its escaped form? */
static int page_is_safe(const char *title, const char *description, const char *image,
    const char *benign)
{
	char *hostile_page = page(title, description, image);
	char *escaped[3];
	int ok = 1;

	if (count_char(hostile_page, '<') != count_char(benign, '<') ||
	    count_char(hostile_page, '>') != count_char(benign, '>') ||
	    count_char(hostile_page, '"') != count_char(benign, '"') ||
	    count_char(hostile_page, '\'') != count_char(benign, '\''))
		ok = 0;
	escaped[0] = escape(title, strlen(title));
	escaped[1] = escape(description, strlen(description));
	escaped[2] = escape(image, strlen(image));
	/* title: <title>, og:title, <h1>; description: og, <p>; image: og, <img>. */
	if (count_str(hostile_page, escaped[0]) < (escaped[0][0] ? 3u : 0u) ||
	    count_str(hostile_page, escaped[1]) < (escaped[1][0] ? 2u : 0u) ||
	    count_str(hostile_page, escaped[2]) < (escaped[2][0] ? 2u : 0u))
		ok = 0;
	/* Every '&' in the page starts one of the five references. */
	for (const char *amp = strchr(hostile_page, '&'); amp; amp = strchr(amp + 1, '&')) {
		if (strncmp(amp, "&amp;", 5) != 0 && strncmp(amp, "&lt;", 4) != 0 &&
		    strncmp(amp, "&gt;", 4) != 0 && strncmp(amp, "&quot;", 6) != 0 &&
		    strncmp(amp, "&#39;", 5) != 0)
			ok = 0;
	}
	if (!ok)
		printf("    unsafe page for title \"%s\"\n", title);
	for (int i = 0; i < 3; i++)
		free(escaped[i]);
	free(hostile_page);
	return ok;
}

static void test_preview_property(void)
{
	const size_t nh = sizeof(hostile) / sizeof(hostile[0]);
	const size_t np = sizeof(pieces) / sizeof(pieces[0]);
	char *benign = page("t", "d", "https://i");
	char *benign_empty = page("t", "", "https://i");
	uint64_t state = 2026;
	int unsafe = 0;

	/* The template alone has markup; the values add none. */
	CHECK(count_char(benign, '<') > 10);
	for (size_t i = 0; i < nh; i++) {
		for (size_t j = 0; j < nh; j++) {
			const char *b = hostile[j][0] ? benign : benign_empty;

			if (!page_is_safe(hostile[i][0] ? hostile[i] : "x", hostile[j],
			    hostile[(i + j) % nh], b))
				unsafe++;
		}
	}
	/* Random mixes of dangerous pieces. */
	for (int round = 0; round < 2000; round++) {
		char values[3][400];

		for (int v = 0; v < 3; v++) {
			size_t len = 0, n = 1 + next_random(&state) % 30;

			values[v][0] = '\0';
			for (size_t k = 0; k < n; k++) {
				const char *piece = pieces[next_random(&state) % np];
				size_t piece_len = strlen(piece);

				if (len + piece_len >= sizeof(values[v]))
					break;
				memcpy(values[v] + len, piece, piece_len + 1);
				len += piece_len;
			}
		}
		if (!page_is_safe(values[0], values[1], values[2], benign))
			unsafe++;
	}
	CHECK_EQ_INT(unsafe, 0);
	free(benign);
	free(benign_empty);
}

/* The base URL is the operator's, but it is escaped all the same. */
static void test_preview_base_escaped(void)
{
	struct mailbox_display *d = display_new("t", 1, "d", 1, "https://i", 9);
	static const char base[] = "https://a.example/\"<x>";
	struct buf b;
	char *text;

	buf_init(&b);
	html_preview_page(&b, d, base, strlen(base), TEST_ID, TEST_EXPIRES, TEST_NOW);
	text = buf_text(&b);
	CHECK(strstr(text, "content=\"https://a.example/&quot;&lt;x&gt;/v1/m/" TEST_ID "\"") != NULL);
	/* Only base_len bytes of the base are used. */
	buf_free(&b);
	free(text);
	buf_init(&b);
	html_preview_page(&b, d, base, 17, TEST_ID, TEST_EXPIRES, TEST_NOW);
	text = buf_text(&b);
	CHECK(strstr(text, "content=\"https://a.example/v1/m/" TEST_ID "\"") != NULL);
	buf_free(&b);
	free(text);
	free(d);
}

static void test_not_found_and_error_pages(void)
{
	struct buf b;
	char *text;

	buf_init(&b);
	html_not_found_page(&b);
	text = buf_text(&b);
	CHECK(strncmp(text, "<!DOCTYPE html>", 15) == 0);
	CHECK(strstr(text, "<title>") != NULL);
	CHECK(strstr(text, "</html>") != NULL);
	CHECK(strstr(text, "og:") == NULL);
	CHECK(strstr(text, "<script") == NULL);
	/* It says so clearly, and what to do about it. */
	CHECK(strstr(text, "<title>This share has expired or does not exist</title>") != NULL);
	CHECK(strstr(text, "<h1>This share has expired or does not exist</h1>") != NULL);
	CHECK(strstr(text, "The digital key it offered is no longer available from this link.")
	    != NULL);
	CHECK(strstr(text, "ask the person who shared it to send it again.") != NULL);
	/* Nothing that would suggest a key is still waiting. */
	CHECK(strstr(text, "is waiting") == NULL);
	CHECK(strstr(text, "expires") == NULL);
	buf_free(&b);
	free(text);

	buf_init(&b);
	html_error_page(&b, "Bad <request> & \"more\"");
	text = buf_text(&b);
	CHECK(strstr(text, "<title>Bad &lt;request&gt; &amp; &quot;more&quot;</title>") != NULL);
	CHECK(strstr(text, "<h1>Bad &lt;request&gt; &amp; &quot;more&quot;</h1>") != NULL);
	CHECK(strstr(text, "<request>") == NULL);
	CHECK(strstr(text, "no longer available") == NULL);
	buf_free(&b);
	free(text);
}

int main(void)
{
	/* Lines reach a pipe even if a later test crashes. */
	setvbuf(stdout, NULL, _IOLBF, 0);
	CHECK_RUN(test_escape);
	CHECK_RUN(test_preview_tags);
	CHECK_RUN(test_preview_says_what_to_do);
	CHECK_RUN(test_preview_time_left);
	CHECK_RUN(test_preview_expiry_instant);
	CHECK_RUN(test_preview_escapes);
	CHECK_RUN(test_preview_property);
	CHECK_RUN(test_preview_base_escaped);
	CHECK_RUN(test_not_found_and_error_pages);
	return CHECK_SUMMARY();
}
