/*
 * fuzz_preview.c — the share preview page (protocol/html.h): nothing a
 * client sends may form a tag, an attribute or a character reference.
 *
 * The input is split on '\n' into title, description, imageURL, the
 * mailbox identifier (made exactly 36 bytes) and the public base URL; the
 * time the share has left, from more than a day gone to several days ahead,
 * comes from a hash of the whole input.
 * The page is rendered twice: with those values, and with every value
 * replaced by as many harmless letters. Escaping turns each input '<', '>',
 * '"' and '\'' into a character reference, so both pages must hold exactly as
 * many of each of those characters (all of them the template's own), and
 * every '&' of the real page must begin one of the five references that
 * html_escape writes. html_escape alone must also round-trip: unescaping
 * its output gives back the input byte for byte.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "lib/buf.h"
#include "protocol/html.h"
#include "storage/store.h"
#include "test/fuzz/fuzz.h"

#define FUZZ_FIELDS 5
#define FUZZ_ID_LEN 36
#define FUZZ_DEFAULT_BASE "https://relay.example"
#define FUZZ_NOW 1767225600     /* 2026-01-01T00:00:00Z */
#define FUZZ_DAY_S (24 * 60 * 60)

static const struct {
	const char *text;
	size_t len;
	char c;
} fuzz_refs[] = {
	{ "&amp;", 5, '&' },
	{ "&lt;", 4, '<' },
	{ "&gt;", 4, '>' },
	{ "&quot;", 6, '"' },
	{ "&#39;", 5, '\'' },
};

static int fuzz_special(char c)
{
	return c == '&' || c == '<' || c == '>' || c == '"' || c == '\'';
}

/* The reference that starts at s, or -1. */
static int fuzz_ref_at(const char *s, size_t left)
{
	for (size_t i = 0; i < sizeof(fuzz_refs) / sizeof(fuzz_refs[0]); i++) {
		if (left >= fuzz_refs[i].len && memcmp(s, fuzz_refs[i].text, fuzz_refs[i].len) == 0)
			return (int)i;
	}
	return -1;
}

struct fuzz_counts {
	size_t lt, gt, quot, apos, bare_amp;
};

static struct fuzz_counts fuzz_count(const char *s, size_t len)
{
	struct fuzz_counts n = { 0, 0, 0, 0, 0 };

	for (size_t i = 0; i < len; i++) {
		switch (s[i]) {
		case '<': n.lt++; break;
		case '>': n.gt++; break;
		case '"': n.quot++; break;
		case '\'': n.apos++; break;
		case '&':
			if (fuzz_ref_at(s + i, len - i) < 0)
				n.bare_amp++;
			break;
		default: break;
		}
	}
	return n;
}

static int fuzz_contains(const struct buf *b, const char *s)
{
	return memmem(b->data, b->len, s, strlen(s)) != NULL;
}

/* FNV-1a: every byte moves the time left, so every phrasing is reached. */
static int64_t fuzz_time_left(const uint8_t *data, size_t size)
{
	uint64_t h = 0xcbf29ce484222325ULL;

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 0x100000001b3ULL;
	return (int64_t)(h % (10 * FUZZ_DAY_S)) - 2 * FUZZ_DAY_S;
}

static struct mailbox_display *fuzz_display(const char *title, size_t title_len,
    const char *description, size_t description_len, const char *image, size_t image_len)
{
	struct mailbox_display *d = malloc(sizeof(*d) + title_len + description_len + image_len);

	FUZZ_CHECK(d != NULL, "memory for the display information");
	d->title_len = (uint16_t)title_len;
	d->description_len = (uint16_t)description_len;
	d->image_url_len = (uint16_t)image_len;
	memcpy(d->bytes, title, title_len);
	memcpy(d->bytes + title_len, description, description_len);
	memcpy(d->bytes + title_len + description_len, image, image_len);
	return d;
}

/* html_escape leaves nothing special behind and loses nothing. */
static void fuzz_check_escape(const char *s, size_t len)
{
	struct buf out;
	size_t i = 0, j = 0;

	buf_init(&out);
	html_escape(&out, s, len);
	FUZZ_CHECK(!out.failed, "html_escape did not run out of memory");
	while (i < out.len) {
		char c = out.data[i];

		FUZZ_CHECK(c != '<' && c != '>' && c != '"' && c != '\'',
		    "html_escape leaves no < > \" ' behind");
		if (c == '&') {
			int ref = fuzz_ref_at(out.data + i, out.len - i);

			FUZZ_CHECK(ref >= 0, "every & that html_escape writes begins a reference");
			c = fuzz_refs[ref].c;
			i += fuzz_refs[ref].len;
		} else {
			i++;
		}
		FUZZ_CHECK(j < len && s[j] == c, "unescaping html_escape's output gives the input");
		j++;
	}
	FUZZ_CHECK(j == len, "html_escape loses no byte");
	buf_free(&out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *field[FUZZ_FIELDS] = { "", "", "", "", FUZZ_DEFAULT_BASE };
	size_t field_len[FUZZ_FIELDS] = { 0, 0, 0, 0, sizeof(FUZZ_DEFAULT_BASE) - 1 };
	const char *s = (const char *)data;
	char *benign, *id, *benign_id, *base, *benign_base, *title_z;
	struct mailbox_display *real_d, *benign_d;
	struct buf real, fake;
	struct fuzz_counts real_n, fake_n;
	size_t at = 0, specials = 0;
	int64_t expires_at = FUZZ_NOW + fuzz_time_left(data, size);

	for (int f = 0; f < FUZZ_FIELDS && at <= size; f++) {
		const char *nl = f < FUZZ_FIELDS - 1 ? memchr(s + at, '\n', size - at) : NULL;
		size_t end = nl ? (size_t)(nl - s) : size;

		if (f == FUZZ_FIELDS - 1 && end == at)
			break;      /* no base given: keep the default */
		field[f] = s + at;
		field_len[f] = end - at;
		if (field_len[f] > UINT16_MAX)
			field_len[f] = UINT16_MAX;
		at = end + 1;
		if (nl == NULL)
			break;
	}
	for (int f = 0; f < FUZZ_FIELDS; f++) {
		for (size_t i = 0; i < field_len[f] && (f != 3 || i < FUZZ_ID_LEN); i++)
			specials += fuzz_special(field[f][i]);
	}

	/* The identifier is exactly 36 bytes, in a buffer of exactly that. */
	id = malloc(FUZZ_ID_LEN);
	benign_id = malloc(FUZZ_ID_LEN);
	FUZZ_CHECK(id != NULL && benign_id != NULL, "memory for the identifiers");
	memset(id, 'a', FUZZ_ID_LEN);
	memcpy(id, field[3], field_len[3] < FUZZ_ID_LEN ? field_len[3] : FUZZ_ID_LEN);
	memset(benign_id, 'x', FUZZ_ID_LEN);
	base = malloc(field_len[4] + 1);
	benign_base = malloc(field_len[4] + 1);
	FUZZ_CHECK(base != NULL && benign_base != NULL, "memory for the base URLs");
	memcpy(base, field[4], field_len[4]);
	memset(benign_base, 'x', field_len[4]);

	benign = malloc(field_len[0] + field_len[1] + field_len[2] + 1);
	FUZZ_CHECK(benign != NULL, "memory for the benign values");
	memset(benign, 'x', field_len[0] + field_len[1] + field_len[2] + 1);
	real_d = fuzz_display(field[0], field_len[0], field[1], field_len[1], field[2], field_len[2]);
	benign_d = fuzz_display(benign, field_len[0], benign, field_len[1], benign, field_len[2]);

	buf_init(&real);
	buf_init(&fake);
	html_preview_page(&real, real_d, base, field_len[4], id, expires_at, FUZZ_NOW);
	html_preview_page(&fake, benign_d, benign_base, field_len[4], benign_id, expires_at, FUZZ_NOW);
	FUZZ_CHECK(!real.failed && !fake.failed, "the pages were rendered in full");
	FUZZ_CHECK(fuzz_contains(&real, "This share expires <time datetime=\"") &&
	    fuzz_contains(&real, "</time>.</p>"), "the page says when the share expires");
	real_n = fuzz_count(real.data, real.len);
	fake_n = fuzz_count(fake.data, fake.len);
	FUZZ_CHECK(real_n.lt == fake_n.lt, "no '<' from the input reaches the page raw");
	FUZZ_CHECK(real_n.gt == fake_n.gt, "no '>' from the input reaches the page raw");
	FUZZ_CHECK(real_n.quot == fake_n.quot, "no '\"' from the input reaches the page raw");
	FUZZ_CHECK(real_n.apos == fake_n.apos, "no '\\'' from the input reaches the page raw");
	FUZZ_CHECK(real_n.bare_amp == fake_n.bare_amp,
	    "every '&' from the input becomes a character reference");
	if (specials == 0)
		FUZZ_CHECK(real.len == fake.len, "values without special characters are kept as they are");
	else
		FUZZ_CHECK(real.len > fake.len, "special characters are written as references");
	buf_free(&real);
	buf_free(&fake);

	/* The error page shows a NUL-terminated title. */
	title_z = malloc(field_len[0] + 1);
	FUZZ_CHECK(title_z != NULL, "memory for the title");
	memcpy(title_z, field[0], field_len[0]);
	title_z[field_len[0]] = '\0';
	buf_init(&real);
	buf_init(&fake);
	html_error_page(&real, title_z);
	memset(title_z, 'x', strlen(title_z));
	html_error_page(&fake, title_z);
	real_n = fuzz_count(real.data, real.len);
	fake_n = fuzz_count(fake.data, fake.len);
	FUZZ_CHECK(real_n.lt == fake_n.lt && real_n.gt == fake_n.gt && real_n.quot == fake_n.quot &&
	    real_n.apos == fake_n.apos && real_n.bare_amp == fake_n.bare_amp,
	    "the error page escapes its title");
	buf_free(&real);
	buf_free(&fake);

	fuzz_check_escape(s, size);

	free(title_z);
	free(real_d);
	free(benign_d);
	free(benign);
	free(base);
	free(benign_base);
	free(id);
	free(benign_id);
	return 0;
}
