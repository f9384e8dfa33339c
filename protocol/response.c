/*
 * response.c — status line, headers and JSON pieces.
 */
#include <string.h>

#include "protocol/response.h"
#include "lib/clock.h"

static const char *response_status_line(int status)
{
	switch (status) {
	case 100: return "HTTP/1.1 100 Continue\r\n";
	case 200: return "HTTP/1.1 200 OK\r\n";
	case 201: return "HTTP/1.1 201 Created\r\n";
	case 204: return "HTTP/1.1 204 No Content\r\n";
	case 400: return "HTTP/1.1 400 Bad Request\r\n";
	case 401: return "HTTP/1.1 401 Unauthorized\r\n";
	case 404: return "HTTP/1.1 404 Not Found\r\n";
	case 405: return "HTTP/1.1 405 Method Not Allowed\r\n";
	case 408: return "HTTP/1.1 408 Request Timeout\r\n";
	case 413: return "HTTP/1.1 413 Content Too Large\r\n";
	case 412: return "HTTP/1.1 412 Precondition Failed\r\n";
	case 415: return "HTTP/1.1 415 Unsupported Media Type\r\n";
	case 429: return "HTTP/1.1 429 Too Many Requests\r\n";
	case 431: return "HTTP/1.1 431 Request Header Fields Too Large\r\n";
	case 503: return "HTTP/1.1 503 Service Unavailable\r\n";
	default: return "HTTP/1.1 500 Internal Server Error\r\n";
	}
}

size_t response_format_etag(uint64_t etag, char out[RESPONSE_ETAG_MAX])
{
	static const char digits[] = "0123456789abcdef";
	char hex[16];
	size_t n = 0;

	do {
		hex[n++] = digits[etag & 15];
		etag >>= 4;
	} while (etag != 0);
	out[0] = '"';
	for (size_t i = 0; i < n; i++)
		out[1 + i] = hex[n - 1 - i];
	out[n + 1] = '"';
	return n + 2;
}

void response_cors(struct buf *out, const char *origin)
{
	buf_append_lit(out, "Access-Control-Allow-Origin: ");
	buf_append_str(out, origin);
	/* What a script may read of the answer; credentials never. */
	buf_append_lit(out, "\r\nVary: Origin\r\n"
	    "Access-Control-Expose-Headers: ETag, Mailbox-Request-ID, Retry-After, "
	    "Preference-Applied\r\n");
}

void response_write(struct buf *out, const struct response *r, const char *body,
    size_t body_len)
{
	buf_reserve(out, 512 + r->request_id_len + (r->head ? 0 : body_len));
	buf_append_str(out, response_status_line(r->status));
	buf_append_lit(out, "Date: ");
	buf_append(out, r->date, CLOCK_HTTP_DATE_LEN);
	buf_append_lit(out, "\r\n");
	if (r->type == RESPONSE_JSON) {
		buf_append_lit(out, "Content-Type: application/json\r\n"
		    "Cache-Control: no-store\r\n");
	} else if (r->type == RESPONSE_HTML) {
		buf_append_lit(out, "Content-Type: text/html; charset=utf-8\r\n"
		    "Content-Security-Policy: default-src 'none'; img-src https:; "
		    "style-src 'unsafe-inline'\r\n"
		    "X-Content-Type-Options: nosniff\r\n"
		    "Referrer-Policy: no-referrer\r\n"
		    "X-Robots-Tag: noindex, nofollow\r\n"
		    "Cache-Control: no-store\r\n");
	} else if (r->type == RESPONSE_TEXT) {
		buf_append_lit(out, "Content-Type: text/plain; charset=utf-8\r\n"
		    "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n");
	} else if (r->type == RESPONSE_METRICS) {
		buf_append_lit(out, "Content-Type: text/plain; version=0.0.4; charset=utf-8\r\n"
		    "X-Content-Type-Options: nosniff\r\nCache-Control: no-store\r\n");
	} else {
		buf_append_lit(out, "Cache-Control: no-store\r\n");
	}
	if (r->status != 204) {
		buf_append_lit(out, "Content-Length: ");
		buf_append_uint(out, body_len);
		buf_append_lit(out, "\r\n");
	}
	if (r->hsts)
		buf_append_lit(out, "Strict-Transport-Security: max-age=31536000\r\n");
	if (r->etag) {
		char tag[RESPONSE_ETAG_MAX];

		buf_append_lit(out, "ETag: ");
		buf_append(out, tag, response_format_etag(r->etag, tag));
		buf_append_lit(out, "\r\n");
	}
	if (r->allow) {
		buf_append_lit(out, "Allow: ");
		buf_append_str(out, r->allow);
		buf_append_lit(out, "\r\n");
	}
	if (r->retry_after) {
		buf_append_lit(out, "Retry-After: ");
		buf_append_uint(out, r->retry_after);
		buf_append_lit(out, "\r\n");
	}
	if (r->preference_wait >= 0) {
		buf_append_lit(out, "Preference-Applied: wait=");
		buf_append_uint(out, (uint64_t)r->preference_wait);
		buf_append_lit(out, "\r\n");
	}
	if (r->request_id) {
		buf_append_lit(out, "Mailbox-Request-ID: ");
		buf_append(out, r->request_id, r->request_id_len);
		buf_append_lit(out, "\r\n");
	}
	if (r->cors_origin)
		response_cors(out, r->cors_origin);
	if (r->cors_methods) {
		buf_append_lit(out, "Access-Control-Allow-Methods: ");
		buf_append_str(out, r->cors_methods);
		buf_append_lit(out, "\r\nAccess-Control-Allow-Headers: Mailbox-Device-Claim, "
		    "Mailbox-Request-ID, Mailbox-Device-Attestation, Content-Type, If-None-Match, "
		    "If-Match, Prefer\r\nAccess-Control-Max-Age: 600\r\n");
	}
	if (r->close)
		buf_append_lit(out, "Connection: close\r\n");
	buf_append_lit(out, "\r\n");
	if (!r->head)
		buf_append(out, body, body_len);
}

void response_continue(struct buf *out)
{
	buf_append_lit(out, "HTTP/1.1 100 Continue\r\n\r\n");
}

void response_json_string(struct buf *out, const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	size_t run = 0;

	buf_append_lit(out, "\"");
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)s[i];
		char esc[6];
		size_t esc_len = 2;

		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		esc[0] = '\\';
		switch (c) {
		case '"': esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			memcpy(esc + 1, "u00", 3);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			esc_len = 6;
		}
		buf_append(out, s + run, i - run);
		buf_append(out, esc, esc_len);
		run = i + 1;
	}
	buf_append(out, s + run, len - run);
	buf_append_lit(out, "\"");
}

void response_error_body(struct buf *body, const char *code, const char *message)
{
	buf_append_lit(body, "{\"error\":");
	response_json_string(body, code, strlen(code));
	buf_append_lit(body, ",\"message\":");
	response_json_string(body, message, strlen(message));
	buf_append_lit(body, "}");
}
