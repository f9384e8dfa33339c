/*
 * headers.c — the values of the request headers the API reads, parsed
 * strictly and in place (RFC 9110, RFC 7240).
 */
#include <string.h>
#include <strings.h>

#include "protocol/headers.h"

int headers_is_json(const char *s, size_t len)
{
	static const char type[] = "application/json";
	size_t i = sizeof(type) - 1;

	if (len < i || strncasecmp(s, type, i) != 0)
		return 0;
	while (i < len) {
		size_t name, value, value_len;

		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len)
			break;
		if (s[i++] != ';')
			return 0;
		while (i < len && (s[i] == ' ' || s[i] == '\t'))
			i++;
		if (i == len || s[i] == ';')
			continue;   /* an empty parameter, as lenient parsers allow */
		name = i;
		/* A parameter's name is a token: no space before its "="
		 * (RFC 9110 5.6.6), so "charset =x" names no charset. */
		while (i < len && s[i] != '=' && s[i] != ';' && s[i] != ' ' && s[i] != '\t')
			i++;
		/* "=x" names nothing: a token is at least one character. */
		if (i == name || i == len || s[i] != '=')
			return 0;
		value = ++i;
		while (i < len && s[i] != ';' && s[i] != ' ' && s[i] != '\t')
			i++;
		value_len = i - value;
		if (value_len >= 2 && s[value] == '"' && s[value + value_len - 1] == '"') {
			value++;
			value_len -= 2;
		}
		if (value - name >= 8 && strncasecmp(s + name, "charset=", 8) == 0 &&
		    !(value_len == 5 && strncasecmp(s + value, "utf-8", 5) == 0))
			return 0;
	}
	return 1;
}

/* The version a tag's text (inside the quotes) names: exactly what
 * response_format_etag writes, so that two spellings never name one
 * version. 0 for anything else. */
static uint64_t headers_etag_version(const char *s, size_t len)
{
	uint64_t v = 0;

	if (len == 0 || len > 2 * sizeof(uint64_t) || s[0] == '0')
		return 0;
	for (size_t i = 0; i < len; i++) {
		int digit = s[i] >= '0' && s[i] <= '9' ? s[i] - '0' :
		    s[i] >= 'a' && s[i] <= 'f' ? s[i] - 'a' + 10 : -1;

		if (digit < 0)
			return 0;
		v = v << 4 | (uint64_t)digit;
	}
	return v;
}

int headers_etag_next(const char *s, size_t len, size_t *at, struct headers_etag *item)
{
	size_t i = *at, start;

	while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
		i++;
	if (i == len)
		return 0;
	memset(item, 0, sizeof(*item));
	if (s[i] == '*') {
		item->any = 1;
		i++;
	} else {
		if (len - i >= 2 && s[i] == 'W' && s[i + 1] == '/') {
			item->weak = 1;
			i += 2;
		}
		if (i == len || s[i] != '"')
			return -1;
		start = ++i;
		/* etagc: visible characters but the quote, and obs-text. */
		while (i < len && s[i] != '"') {
			if ((unsigned char)s[i] < 0x21 || s[i] == 0x7f)
				return -1;
			i++;
		}
		if (i == len)
			return -1;
		item->version = headers_etag_version(s + start, i - start);
		i++;
	}
	while (i < len && (s[i] == ' ' || s[i] == '\t'))
		i++;
	if (i < len && s[i] != ',')
		return -1;
	*at = i;
	return 1;
}

int headers_etag_listed(const char *s, size_t len, uint64_t etag, int strong)
{
	struct headers_etag item;
	size_t at = 0;
	int r, found = 0;

	while ((r = headers_etag_next(s, len, &at, &item)) == 1) {
		if (item.any || (item.version == etag && !(strong && item.weak)))
			found = 1;
	}
	return r == 0 && found;
}

long headers_prefer_wait(const char *s, size_t len)
{
	size_t i = 0;

	while (i < len) {
		while (i < len && (s[i] == ' ' || s[i] == '\t' || s[i] == ','))
			i++;
		if (len - i > 5 && strncasecmp(s + i, "wait", 4) == 0) {
			size_t j = i + 4;
			long n = 0;

			while (j < len && (s[j] == ' ' || s[j] == '\t'))
				j++;
			if (j < len && s[j] == '=') {
				size_t digits = 0;
				int quoted;

				/* RFC 7240: BWS on both sides of "=", and the value
				 * a token or a quoted-string. */
				for (j++; j < len && (s[j] == ' ' || s[j] == '\t'); j++)
					;
				quoted = j < len && s[j] == '"';
				for (j += quoted; j < len && s[j] >= '0' && s[j] <= '9'; j++, digits++)
					n = n > 100000 ? n : n * 10 + (s[j] - '0');
				if (quoted && (j == len || s[j++] != '"'))
					digits = 0;
				if (digits > 0 && (j == len || s[j] == ',' || s[j] == ';' ||
				    s[j] == ' ' || s[j] == '\t'))
					return n;
			}
		}
		/* On to the next preference: a comma inside a quoted value
		 * (foo="a,wait=9") starts none. */
		for (int quoted = 0; i < len && (quoted || s[i] != ','); i++) {
			if (s[i] == '"')
				quoted = !quoted;
			else if (quoted && s[i] == '\\' && i + 1 < len)
				i++;
		}
	}
	return -1;
}

const char *headers_forwarded_last(const char *s, size_t len, size_t *entry_len)
{
	const char *last = s + len, *end = s + len;

	while (last > s && last[-1] != ',')
		last--;
	while (last < end && (*last == ' ' || *last == '\t'))
		last++;
	while (end > last && (end[-1] == ' ' || end[-1] == '\t'))
		end--;
	*entry_len = (size_t)(end - last);
	return last;
}
