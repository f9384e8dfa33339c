/*
 * client.c — the subcommands.
 *
 * Every command follows the same path: read the command line, find what this
 * device knows of the mailbox (its state file), make one request, check the
 * answer, record what changed, print the result. Errors are one line on
 * stderr and a distinct exit status, so scripts can tell "wrong secret" from
 * "relay down" from "someone else got there first".
 *
 * A new claim is recorded before the request that binds it is sent, so a
 * crash can never leave the relay bound to a claim this device forgot.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "client/client.h"
#include "client/https.h"
#include "client/seal.h"
#include "client/share.h"
#include "client/state.h"
#include "lib/base64.h"
#include "lib/clock.h"
#include "lib/parse.h"
#include "lib/uuid.h"
#include "protocol/wire.h"
#include "net/rng.h"

#define CLIENT_CONTENT_MAX (1u << 20)
#define CLIENT_TIMEOUT_S 30
#define CLIENT_TIMEOUT_MAX_S 3600
#define CLIENT_WATCH_WAIT_S 60
#define CLIENT_WATCH_RETRIES 5
#define CLIENT_WATCH_PACE_MS 1000     /* at most one request a second that brings nothing */
#define CLIENT_DEFAULT_RELAY "https://localhost:8443"
#define CLIENT_DEFAULT_IMAGE "https://relay.invalid/key.png"

struct client {
	const char *command;
	const char *relay;
	const char *cacert;
	int insecure;
	unsigned timeout_s;
	char state_path[4096];
	const char *title, *description, *image, *format, *rights;
	int64_t ttl;
	int has_ttl;
	char vertical;
	int aes256;
	const char *args[2];
	int arg_count;
	struct rng *rng;
	struct https https;
};

static int client_fail(int status, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* "relay: " and one line: a newline or a terminal escape in what the relay
 * or a file put in the message can neither break the line nor reach the
 * terminal. */
static void client_say(const char *line)
{
	char out[1024];
	size_t i;

	for (i = 0; line[i] && i + 1 < sizeof(out); i++)
		out[i] = (unsigned char)line[i] < 0x20 || line[i] == 0x7f ? ' ' : line[i];
	out[i] = '\0';
	fprintf(stderr, "relay: %s\n", out);
}

static int client_fail(int status, const char *fmt, ...)
{
	char line[1024];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	client_say(line);
	return status;
}

/* --- command line ------------------------------------------------------- */

enum client_option_set {
	CLIENT_OPT_STATE = 1,   /* --state */
	CLIENT_OPT_NET = 2,     /* --cacert --insecure --timeout */
	CLIENT_OPT_SEND = 4,
	CLIENT_OPT_FORMAT = 8
};

struct client_command {
	const char *name;
	int min_args, max_args;
	int options;
	int (*run)(struct client *c);
	const char *args;       /* for the usage line */
	const char *text;       /* what it does, and its own options */
};

static int client_send(struct client *c);
static int client_receive(struct client *c);
static int client_reply(struct client *c);
static int client_watch(struct client *c);
static int client_delete(struct client *c);
static int client_relinquish(struct client *c);
static int client_preview(struct client *c);
static int client_list(struct client *c);
static int client_print_help(struct client *c);

#define CLIENT_NET (CLIENT_OPT_STATE | CLIENT_OPT_NET)

static const struct client_command client_commands[] = {
	{ "send", 0, 1, CLIENT_NET | CLIENT_OPT_SEND | CLIENT_OPT_FORMAT, client_send,
	    "[FILE|-]",
"  send [FILE|-]          encrypt a JSON object (FILE or stdin) into a new mailbox\n"
"                         and print its Share URL\n"
"      --relay URL        the relay (default $RELAY_URL, else " CLIENT_DEFAULT_RELAY ")\n"
"      --title T --description D --image URL   what the link preview shows\n"
"      --vertical a|h|c   general access, home key or car key (a)\n"
"      --ttl DUR          lifetime, e.g. 15m, 24h (the relay's default)\n"
"      --rights RWD       what the Receiver may do: Read, Write, Delete (RD)\n"
"      --format NAME      the Provisioning Information format (generic)\n"
"      --aes-256          a 32-byte Secret and AES-256-GCM (16 bytes, AES-128)\n" },
	{ "receive", 1, 1, CLIENT_NET, client_receive, "SHARE_URL",
"  receive SHARE_URL      read, verify and decrypt; print the Provisioning\n"
"                         Information as JSON. The first read binds the mailbox\n"
"                         to this device, even when the Secret turns out wrong\n" },
	{ "reply", 1, 2, CLIENT_NET | CLIENT_OPT_FORMAT, client_reply, "URL [FILE|-]",
"  reply URL [FILE|-]     replace the mailbox's content with a new JSON object,\n"
"                         only over the last version this device saw (If-Match):\n"
"                         if the other side wrote first, nothing is sent (exit 10)\n"
"      --format NAME      the Provisioning Information format (generic)\n" },
	{ "watch", 1, 1, CLIENT_NET, client_watch, "URL",
"  watch URL              print each new message (one JSON per line) until the\n"
"                         mailbox is deleted; while the relay cannot be reached,\n"
"                         try again after 2, 4, 8, 16 s, then give up (exit 4)\n" },
	{ "delete", 1, 1, CLIENT_NET, client_delete, "URL",
"  delete URL             delete the mailbox\n" },
	{ "relinquish", 1, 1, CLIENT_NET, client_relinquish, "URL",
"  relinquish URL         give the mailbox up, so another device may take it\n" },
	{ "preview", 1, 1, CLIENT_NET, client_preview, "URL",
"  preview URL            print what a link preview shows\n" },
	{ "list", 0, 0, CLIENT_OPT_STATE, client_list, "",
"  list                   the mailboxes this device's state file holds, one a\n"
"                         line: mailbox URL, role, expiry (no Secret, no claim)\n" },
	{ "help", 0, 1, 0, client_print_help, "[COMMAND]",
"  help [COMMAND]         this text, or one command's\n" },
};

#define CLIENT_COMMAND_COUNT (sizeof(client_commands) / sizeof(client_commands[0]))

static const char client_help_head[] =
"usage: relay COMMAND [options] [arguments]\n"
"\n"
"The device side of the protocol: hand a credential over through a relay.\n"
"`relay COMMAND --help` shows one command.\n"
"\n";

static const char client_help_state[] =
"  --state FILE           this device's claims and secrets (default\n"
"                         $XDG_STATE_HOME/relay/state.json); one file per device.\n"
"                         Mailboxes past their expiry are forgotten when it is\n"
"                         next opened, deleted ones when the relay says so\n";

static const char client_help_net[] =
"  --cacert FILE          trust this CA (e.g. the relay's dev certificate)\n"
"                         (default $RELAY_CACERT, else the system's CAs)\n"
"  --insecure             do not check the relay's certificate (testing only)\n"
"  --timeout DUR          give up on a request after DUR (30s); watch waits up to\n"
"                         60 s longer for news\n";

static const char client_help_exit[] =
"\n"
"Exit status:\n"
"  0  success\n"
"  1  decryption failed: wrong secret or altered ciphertext\n"
"  2  bad command line\n"
"  3  malformed share URL\n"
"  4  the relay cannot be reached, or did not answer in time\n"
"  5  the relay's certificate is not trusted\n"
"  6  the mailbox was deleted or has expired\n"
"  7  the mailbox is bound to another device\n"
"  8  the relay refused the request\n"
"  9  a local file problem (state file, content file)\n"
"  10 reply: the other side wrote first; nothing was sent (read it, reply again)\n";

static const struct client_command *client_find(const char *name)
{
	for (size_t i = 0; i < CLIENT_COMMAND_COUNT; i++) {
		if (strcmp(client_commands[i].name, name) == 0)
			return &client_commands[i];
	}
	return NULL;
}

/* One command's usage, or (cmd NULL) every command's. */
static void client_usage(const struct client_command *cmd, FILE *out)
{
	int options;

	if (cmd != NULL) {
		fprintf(out, "usage: relay %s%s%s%s\n\n", cmd->name,
		    cmd->options ? " [options]" : "", cmd->args[0] ? " " : "", cmd->args);
		fputs(cmd->text, out);
		options = cmd->options;
		fputs("\nOptions:\n", out);
	} else {
		fputs(client_help_head, out);
		for (size_t i = 0; i < CLIENT_COMMAND_COUNT; i++)
			fputs(client_commands[i].text, out);
		options = CLIENT_OPT_STATE | CLIENT_OPT_NET;
		fputs("\nEvery command but help takes (list: only --state):\n", out);
	}
	if (options & CLIENT_OPT_STATE)
		fputs(client_help_state, out);
	if (options & CLIENT_OPT_NET)
		fputs(client_help_net, out);
	fputs("  --help, -h             show this and exit\n", out);
	fputs(client_help_exit, out);
}

/* Levenshtein distance, for "did you mean"; names are short. */
static size_t client_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[32];

	if (la >= 32 || lb >= 32)
		return (size_t)-1;
	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		size_t diagonal = row[0];

		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t up = row[j], best = diagonal + (a[i - 1] != b[j - 1]);

			if (up + 1 < best)
				best = up + 1;
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;
			diagonal = up;
			row[j] = best;
		}
	}
	return row[lb];
}

/* An unknown command: name the nearest one when it is near enough to be a
 * typo ("recieve" is 2 from receive; "frobnicate" is near nothing). */
static int client_unknown(const char *name)
{
	const char *nearest = NULL;
	size_t best = (size_t)-1;

	for (size_t i = 0; i < CLIENT_COMMAND_COUNT; i++) {
		size_t d = client_distance(name, client_commands[i].name);

		if (d < best) {
			best = d;
			nearest = client_commands[i].name;
		}
	}
	if (nearest != NULL && best <= 2 && best < strlen(name))
		return client_fail(CLIENT_USAGE, "unknown command %.64s; did you mean %s? "
		    "(see relay help)", name, nearest);
	return client_fail(CLIENT_USAGE, "unknown command %.64s (see relay help)", name);
}

int client_is_command(const char *name)
{
	/* The relay itself takes options only: anything else is meant as a
	 * command, so that a typo gets "unknown command" and a suggestion. */
	return name[0] != '-' && name[0] != '\0';
}

void client_print_commands(FILE *out)
{
	fputs("\nDevice commands (relay help; relay COMMAND --help):\n ", out);
	for (size_t i = 0; i < CLIENT_COMMAND_COUNT; i++)
		fprintf(out, " %s", client_commands[i].name);
	fputc('\n', out);
}

/* The value of option argv[*i] (--opt VALUE or --opt=VALUE), or NULL. */
static const char *client_value(int argc, char **argv, int *i, const char *eq)
{
	if (eq != NULL)
		return eq + 1;
	return *i + 1 < argc ? argv[++*i] : NULL;
}

/* CLIENT_OK, CLIENT_USAGE (having said why), or CLIENT_PARSE_HELP. */
#define CLIENT_PARSE_HELP (-1)

static int client_parse(struct client *c, const struct client_command *cmd, int argc,
    char **argv)
{
	int insecure_given = 0, cacert_given = 0;

	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '='), *v;
		size_t n = eq ? (size_t)(eq - arg) : strlen(arg);
		int state = cmd->options & CLIENT_OPT_STATE, net = cmd->options & CLIENT_OPT_NET;
		int send = cmd->options & CLIENT_OPT_SEND;

#define IS(name) (n == strlen(name) && strncmp(arg, name, n) == 0)
		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0)
			return CLIENT_PARSE_HELP;
		if (arg[0] != '-' || strcmp(arg, "-") == 0) {
			if (c->arg_count == cmd->max_args)
				return client_fail(CLIENT_USAGE, "%s: unexpected argument %s (see relay "
				    "%s --help)", cmd->name, arg, cmd->name);
			c->args[c->arg_count++] = arg;
			continue;
		}
		if (net && IS("--insecure") && eq == NULL) {
			insecure_given = 1;
			continue;
		}
		if (send && IS("--aes-256") && eq == NULL) {
			c->aes256 = 1;
			continue;
		}
		if (!((state && IS("--state")) ||
		    (net && (IS("--cacert") || IS("--timeout"))) ||
		    (send && (IS("--relay") || IS("--title") || IS("--description") ||
		    IS("--image") || IS("--vertical") || IS("--ttl") || IS("--rights"))) ||
		    ((cmd->options & CLIENT_OPT_FORMAT) && IS("--format"))))
			return client_fail(CLIENT_USAGE, "%s: unknown option %.*s (see relay %s --help)",
			    cmd->name, (int)n, arg, cmd->name);
		v = client_value(argc, argv, &i, eq);
		if (v == NULL)
			return client_fail(CLIENT_USAGE, "%s: %.*s needs a value", cmd->name, (int)n, arg);
		if (IS("--state")) {
			snprintf(c->state_path, sizeof(c->state_path), "%s", v);
		} else if (IS("--cacert")) {
			c->cacert = v;
			cacert_given = 1;
		} else if (IS("--timeout")) {
			int64_t seconds;

			if (parse_duration(v, &seconds) != 0 || seconds <= 0 ||
			    seconds > CLIENT_TIMEOUT_MAX_S)
				return client_fail(CLIENT_USAGE, "--timeout takes a duration from 1s to "
				    "1h, such as 10s or 2m");
			c->timeout_s = (unsigned)seconds;
		} else if (IS("--relay")) {
			c->relay = v;
		} else if (IS("--title")) {
			c->title = v;
		} else if (IS("--description")) {
			c->description = v;
		} else if (IS("--image")) {
			c->image = v;
		} else if (IS("--format")) {
			c->format = v;
		} else if (IS("--vertical")) {
			if (strlen(v) != 1 || strchr("ahc", v[0]) == NULL)
				return client_fail(CLIENT_USAGE, "--vertical takes a, h or c");
			c->vertical = v[0];
		} else if (IS("--ttl")) {
			if (parse_duration(v, &c->ttl) != 0 || c->ttl <= 0)
				return client_fail(CLIENT_USAGE, "--ttl takes a duration such as 15m or 24h");
			c->has_ttl = 1;
		} else if (IS("--rights")) {
			uint8_t rights;

			if (wire_parse_rights(v, strlen(v), &rights) != 0)
				return client_fail(CLIENT_USAGE, "--rights takes letters of R, W and D, each once");
			c->rights = v;
		}
#undef IS
	}
	if (c->arg_count < cmd->min_args)
		return client_fail(CLIENT_USAGE, "%s needs %s (see relay %s --help)", cmd->name,
		    cmd->min_args == 1 ? "a URL" : "more arguments", cmd->name);
	if (insecure_given && cacert_given)
		return client_fail(CLIENT_USAGE, "--insecure and --cacert exclude each other");
	/* An option wins over the environment: --insecure over $RELAY_CACERT. */
	if (insecure_given) {
		c->insecure = 1;
		c->cacert = NULL;
	}
	return CLIENT_OK;
}

/* --- pieces every command uses ------------------------------------------ */

static int client_random(struct client *c, void *out, size_t len)
{
	return rng_bytes(c->rng, out, len) == 0 ? 0 : -1;
}

/* A fresh random version-4 UUID, for claims and request IDs. */
static int client_uuid(struct client *c, char out[WIRE_UUID_LEN + 1])
{
	uint8_t b[UUID_LEN];

	if (client_random(c, b, sizeof(b)) != 0)
		return -1;
	uuid_set_v4(b);
	wire_format_uuid(b, out);
	return 0;
}

/* The JSON object to send: FILE, or stdin for "-" or nothing. */
static int client_read_content(const char *file, json_t **out)
{
	FILE *f = file == NULL || strcmp(file, "-") == 0 ? stdin : fopen(file, "r");
	const char *name = f == stdin ? "standard input" : file;
	json_error_t jerr;
	char *text;
	size_t len;

	if (f == NULL)
		return client_fail(CLIENT_LOCAL_FILE, "cannot open %s: %s", file, strerror(errno));
	text = malloc(CLIENT_CONTENT_MAX + 1);
	if (text == NULL) {
		if (f != stdin)
			fclose(f);
		return client_fail(CLIENT_LOCAL_FILE, "out of memory");
	}
	len = fread(text, 1, CLIENT_CONTENT_MAX + 1, f);
	if (f != stdin)
		fclose(f);
	if (len > CLIENT_CONTENT_MAX) {
		free(text);
		return client_fail(CLIENT_LOCAL_FILE, "%s is larger than %u bytes", name,
		    CLIENT_CONTENT_MAX);
	}
	*out = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
	free(text);
	if (*out == NULL || !json_is_object(*out)) {
		json_decref(*out);
		return client_fail(CLIENT_LOCAL_FILE, "%s does not hold a JSON object", name);
	}
	return CLIENT_OK;
}

/* Provisioning Information {"format": F, "content": {...}} encrypted with key:
 * the payload's base64 data, malloc'd. */
static int client_seal(struct client *c, const char *file, const uint8_t *key, size_t key_len,
    char **data)
{
	uint8_t iv[SEAL_IV_LEN], *sealed;
	json_t *content, *info;
	char *plaintext;
	size_t len;
	int r;

	r = client_read_content(file, &content);
	if (r != CLIENT_OK)
		return r;
	info = json_pack("{s:s, s:o}", "format", c->format ? c->format : "generic",
	    "content", content);
	plaintext = info ? json_dumps(info, JSON_COMPACT) : NULL;
	json_decref(info);
	if (plaintext == NULL)
		return client_fail(CLIENT_LOCAL_FILE, "out of memory");
	len = strlen(plaintext);
	sealed = malloc(len + SEAL_OVERHEAD);
	*data = NULL;
	if (sealed != NULL && client_random(c, iv, sizeof(iv)) == 0 &&
	    seal_encrypt(key, key_len, iv, (const uint8_t *)plaintext, len, sealed) == 0 &&
	    (*data = malloc(BASE64_ENCODED_LEN(len + SEAL_OVERHEAD) + 1)) != NULL)
		(*data)[base64_encode(BASE64_STD, sealed, len + SEAL_OVERHEAD, *data)] = '\0';
	free(sealed);
	free(plaintext);
	if (*data == NULL)
		return client_fail(CLIENT_LOCAL_FILE, "cannot encrypt the content");
	return CLIENT_OK;
}

/* One request, answered within --timeout plus wait_s (a long-poll's wait):
 * CLIENT_OK when an answer (of any status) arrived, else the exit status and,
 * in err, why. Says nothing. */
static int client_exchange(struct client *c, const struct url *origin,
    const char *method, const char *path, const char *claim, const char *extra,
    const char *body, unsigned wait_s, struct https_response *resp, char *err, size_t err_len)
{
	char headers[512], request_id[WIRE_UUID_LEN + 1];
	struct https_request req = { method, path, headers, body, body ? strlen(body) : 0,
	    c->timeout_s + wait_s };
	enum https_status st;

	if (client_uuid(c, request_id) != 0) {
		snprintf(err, err_len, "the random generator failed");
		return CLIENT_LOCAL_FILE;
	}
	snprintf(headers, sizeof(headers), "Mailbox-Request-ID: %s\r\n%s%s%s%s", request_id,
	    claim ? "Mailbox-Device-Claim: " : "", claim ? claim : "", claim ? "\r\n" : "",
	    extra ? extra : "");
	st = https_exchange(&c->https, origin, &req, resp, err, err_len);
	if (st == HTTPS_UNTRUSTED)
		return CLIENT_UNTRUSTED;
	if (st != HTTPS_OK)
		return CLIENT_UNREACHABLE;
	return CLIENT_OK;
}

/* client_exchange, saying why it failed. */
static int client_call(struct client *c, const struct url *origin, const char *method,
    const char *path, const char *claim, const char *body, struct https_response *resp)
{
	char err[512];
	int r = client_exchange(c, origin, method, path, claim, NULL, body, 0, resp, err,
	    sizeof(err));

	return r == CLIENT_OK ? r : client_fail(r, "%s", err);
}

/* Map an unwanted answer to its message and exit status. */
static int client_refused(const struct https_response *resp, int reading)
{
	const char *code, *message;
	json_t *doc;
	int r;

	if (resp->status == 404)
		return client_fail(CLIENT_NOT_FOUND, "the mailbox was deleted or has expired");
	if (resp->status == 401 && reading)
		return client_fail(CLIENT_BOUND_ELSEWHERE, "the mailbox is bound to another device");
	if (resp->status == 401)
		return client_fail(CLIENT_BOUND_ELSEWHERE, "this device may not do that: the mailbox "
		    "is bound to another device, or does not grant the right");
	doc = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL);
	code = json_string_value(json_object_get(doc, "error"));
	message = json_string_value(json_object_get(doc, "message"));
	r = client_fail(CLIENT_REFUSED, "the relay refused the request: %d %s: %s", resp->status,
	    code ? code : "error", message ? message : "no explanation given");
	json_decref(doc);
	return r;
}

static int client_share(const char *url, struct share *share)
{
	char err[256];

	if (share_parse(url, share, err, sizeof(err)) != 0)
		return client_fail(CLIENT_BAD_SHARE_URL, "malformed share URL: %s", err);
	return CLIENT_OK;
}

/* What a command needs this device to know of the mailbox. */
enum client_need {
	CLIENT_NEED_NOTHING,    /* receive: a new claim is made when there is none */
	CLIENT_NEED_ENTRY,      /* reply, watch: the claim and the Secret */
	CLIENT_NEED_ANY_CLAIM   /* delete, relinquish: without one, the relay decides */
};

/* What this device knows of the mailbox, in entry (*found says whether it
 * knew anything). */
static int client_entry(struct client *c, const struct share *share, enum client_need need,
    struct state_entry *entry, int *found)
{
	char err[512];

	*found = state_get(c->state_path, share->mailbox_url, entry, err, sizeof(err));
	if (*found < 0)
		return client_fail(CLIENT_LOCAL_FILE, "%s", err);
	if (!*found && need == CLIENT_NEED_ENTRY) {
		if (share->secret_len == 0)
			return client_fail(CLIENT_BAD_SHARE_URL, "malformed share URL: it has no "
			    "#secret, and this device does not know the mailbox");
		return client_fail(CLIENT_LOCAL_FILE,
		    "this device holds no claim for that mailbox (receive it first)");
	}
	if (!*found && need == CLIENT_NEED_ANY_CLAIM) {
		/* A claim nobody holds: the relay answers 404 if the mailbox
		 * is gone and 401 if it is someone else's. Not recorded. */
		memset(entry, 0, sizeof(*entry));
		if (client_uuid(c, entry->claim) != 0)
			return client_fail(CLIENT_LOCAL_FILE, "the random generator failed");
	}
	/* A Secret in the URL wins: it is what the user just gave. */
	if (*found && share->secret_len) {
		memcpy(entry->secret, share->secret, share->secret_len);
		entry->secret_len = share->secret_len;
	}
	return CLIENT_OK;
}

static int client_save(struct client *c, const char *mailbox_url, const struct state_entry *e)
{
	char err[512];

	if (state_put(c->state_path, mailbox_url, e, err, sizeof(err)) != 0)
		return client_fail(CLIENT_LOCAL_FILE, "%s", err);
	return CLIENT_OK;
}

/* The relay said the mailbox is gone: this device forgets it too. A state
 * file that cannot be written now is only late in forgetting. */
static void client_forget(struct client *c, const char *mailbox_url)
{
	char err[512];

	state_put(c->state_path, mailbox_url, NULL, err, sizeof(err));
}

/* A read's answer: verify, decrypt, and (when new, or print_seen) save what
 * this device now knows, then print it; *printed says whether it did.
 * Saved first, so that by the time a person (or a script) sees the message,
 * a reply sent in answer to it is made over this version (If-Match).
 * CLIENT_DECRYPTION_FAILED is left for the caller to explain. */
static int client_open(struct client *c, const char *mailbox_url,
    const struct https_response *resp, struct state_entry *entry, int print_seen,
    int *printed)
{
	const char *type, *data;
	uint8_t *sealed = NULL, *plain = NULL;
	size_t sealed_len, key_len;
	char digest[65];
	json_t *doc;
	int r = CLIENT_DECRYPTION_FAILED;

	*printed = 0;
	doc = json_loadb(resp->body.data ? resp->body.data : "", resp->body.len, 0, NULL);
	{
		const char *expiration = json_string_value(json_object_get(doc, "expiration"));
		int64_t at;

		if (expiration != NULL && clock_parse_rfc3339(expiration, strlen(expiration), &at) == 0)
			entry->expires_at = at;
	}
	type = json_string_value(json_object_get(json_object_get(doc, "payload"), "type"));
	data = json_string_value(json_object_get(json_object_get(doc, "payload"), "data"));
	if (type == NULL || data == NULL) {
		json_decref(doc);
		return client_fail(CLIENT_REFUSED, "the relay's answer holds no payload");
	}
	seal_digest(data, strlen(data), digest);
	if (!print_seen && state_seen(entry, digest)) {
		r = CLIENT_OK;
		goto done;
	}
	key_len = seal_key_len(type);
	if (key_len == 0 || key_len != entry->secret_len ||
	    (sealed = malloc(strlen(data) / 4 * 3 + 1)) == NULL ||
	    base64_decode(BASE64_STD, data, strlen(data), sealed, strlen(data) / 4 * 3,
	    &sealed_len) != 0 ||
	    sealed_len < SEAL_OVERHEAD || (plain = malloc(sealed_len)) == NULL ||
	    seal_decrypt(entry->secret, entry->secret_len, sealed, sealed_len, plain) != 0)
		goto done;
	state_see(entry, digest);
	if (resp->etag[0])
		snprintf(entry->etag, sizeof(entry->etag), "%s", resp->etag);
	r = client_save(c, mailbox_url, entry);
	fwrite(plain, 1, sealed_len - SEAL_OVERHEAD, stdout);
	putchar('\n');
	fflush(stdout);
	*printed = 1;
done:
	if (resp->etag[0])
		snprintf(entry->etag, sizeof(entry->etag), "%s", resp->etag);
	free(sealed);
	free(plain);
	json_decref(doc);
	return r;
}

/* --- the commands ------------------------------------------------------- */

static int client_send(struct client *c)
{
	struct url origin;
	struct state_entry entry;
	struct https_response resp;
	struct share share;
	uint8_t key[SEAL_KEY_MAX];
	size_t key_len = c->aes256 ? 32 : 16;
	char err[256], *data = NULL, *body = NULL, url[SHARE_URL_MAX + 80], digest[65];
	const char *link;
	json_t *doc = NULL, *answer = NULL;
	int r;

	if (share_parse_origin(c->relay, &origin, err, sizeof(err)) != 0)
		return client_fail(CLIENT_USAGE, "--relay %s: %s", c->relay, err);
	/* Find out now if the state cannot be kept, rather than after the
	 * mailbox exists and could never be deleted by this device. */
	if (state_get(c->state_path, "", &entry, err, sizeof(err)) < 0)
		return client_fail(CLIENT_LOCAL_FILE, "%s", err);
	memset(&entry, 0, sizeof(entry));
	if (client_random(c, key, key_len) != 0 || client_uuid(c, entry.claim) != 0)
		return client_fail(CLIENT_LOCAL_FILE, "the random generator failed");
	r = client_seal(c, c->args[0], key, key_len, &data);
	if (r != CLIENT_OK)
		return r;
	doc = json_pack("{s:{s:s, s:s}, s:{s:s, s:s, s:s}}",
	    "payload", "type", seal_type(key_len), "data", data,
	    "displayInformation", "title", c->title ? c->title : "Digital key",
	    "description", c->description ? c->description : "",
	    "imageURL", c->image ? c->image : CLIENT_DEFAULT_IMAGE);
	if (doc != NULL && (c->has_ttl || c->rights != NULL)) {
		char expiration[CLOCK_RFC3339_LEN + 1];

		/* The relay may shorten it to its --max-ttl: then this device
		 * forgets the mailbox late, never early. Without it, the
		 * relay's default applies and the first read tells. */
		entry.expires_at = (int64_t)time(NULL) + (c->has_ttl ? c->ttl : 86400);
		clock_format_rfc3339(entry.expires_at, expiration);
		json_object_set_new(doc, "mailboxConfiguration", json_pack("{s:s, s:s}",
		    "accessRights", c->rights ? c->rights : "RD", "expiration", expiration));
	}
	body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
	if (body == NULL) {
		r = client_fail(CLIENT_LOCAL_FILE, "out of memory");
		goto done;
	}
	buf_init(&resp.body);
	r = client_call(c, &origin, "POST", "/v1/m", entry.claim, body, &resp);
	if (r != CLIENT_OK)
		goto done_resp;
	if (resp.status != 200 && resp.status != 201) {
		r = client_refused(&resp, 0);
		goto done_resp;
	}
	answer = json_loadb(resp.body.data ? resp.body.data : "", resp.body.len, 0, NULL);
	link = json_string_value(json_object_get(answer, "urlLink"));
	if (link == NULL || share_parse(link, &share, err, sizeof(err)) != 0) {
		r = client_fail(CLIENT_REFUSED, "the relay answered without a usable urlLink");
		goto done_resp;
	}
	memcpy(entry.secret, key, key_len);
	entry.secret_len = key_len;
	entry.role = STATE_SENDER;
	/* A watch long-polls from what was stored (v1.1 answers carry it). */
	snprintf(entry.etag, sizeof(entry.etag), "%s", resp.etag);
	seal_digest(data, strlen(data), digest);
	state_see(&entry, digest);
	share_format(link, c->vertical ? c->vertical : 'a', key, key_len, url, sizeof(url));
	/* The Share URL is printed even if the state cannot be saved: the
	 * Receiver can still use it. */
	puts(url);
	fflush(stdout);
	r = client_save(c, share.mailbox_url, &entry);
done_resp:
	buf_free(&resp.body);
done:
	json_decref(answer);
	json_decref(doc);
	free(body);
	free(data);
	return r;
}

/* Shell-quoted arg, appended to out (which holds at least one byte). */
static void client_quote(char *out, size_t out_len, const char *arg)
{
	size_t used = strlen(out);

	if (arg[0] != '\0' && strspn(arg, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
	    "0123456789@%+=:,./_-") == strlen(arg)) {
		snprintf(out + used, out_len - used, " %s", arg);
		return;
	}
	used += (size_t)snprintf(out + used, out_len - used, " '");
	for (; *arg && used + 5 < out_len; arg++) {
		if (*arg == '\'')
			used += (size_t)snprintf(out + used, out_len - used, "'\\''");
		else
			out[used++] = *arg;
	}
	snprintf(out + used, out_len - used, "'");
}

/*
 * The read succeeded, so the relay has bound the mailbox to this device's
 * claim, but the Secret does not open it: the right device is now locked
 * out until this one lets go. Say so, with the command that does it.
 */
static void client_wrong_secret(struct client *c, const struct share *share,
    const struct state_entry *entry)
{
	char command[4096 * 2 + SHARE_URL_MAX + 64] = "relay relinquish";

	if (entry->role != STATE_RECEIVER) {
		client_fail(0, "decryption failed: wrong secret or altered ciphertext");
		return;
	}
	client_quote(command, sizeof(command), "--state");
	client_quote(command, sizeof(command), c->state_path);
	if (c->cacert != NULL) {
		client_quote(command, sizeof(command), "--cacert");
		client_quote(command, sizeof(command), c->cacert);
	}
	if (c->insecure)
		client_quote(command, sizeof(command), "--insecure");
	client_quote(command, sizeof(command), share->mailbox_url);
	client_fail(0, "decryption failed: wrong secret or altered ciphertext. The relay has "
	    "already bound the mailbox to this device, so no other device can receive it; "
	    "to free it: %s", command);
}

static int client_receive(struct client *c)
{
	struct https_response resp;
	struct state_entry entry;
	struct share share;
	int r, found, printed;

	r = client_share(c->args[0], &share);
	if (r == CLIENT_OK)
		r = client_entry(c, &share, CLIENT_NEED_NOTHING, &entry, &found);
	if (r != CLIENT_OK)
		return r;
	if (!found) {
		if (share.secret_len == 0)
			return client_fail(CLIENT_BAD_SHARE_URL,
			    "malformed share URL: it has no #secret");
		memset(&entry, 0, sizeof(entry));
		if (client_uuid(c, entry.claim) != 0)
			return client_fail(CLIENT_LOCAL_FILE, "the random generator failed");
		memcpy(entry.secret, share.secret, share.secret_len);
		entry.secret_len = share.secret_len;
		entry.role = STATE_RECEIVER;
		r = client_save(c, share.mailbox_url, &entry);
		if (r != CLIENT_OK)
			return r;
	}
	buf_init(&resp.body);
	r = client_call(c, &share.origin, "POST", share.path, entry.claim, NULL, &resp);
	if (r == CLIENT_OK && resp.status != 200)
		r = client_refused(&resp, 1);
	if (r == CLIENT_OK)
		r = client_open(c, share.mailbox_url, &resp, &entry, 1, &printed);
	if (r == CLIENT_DECRYPTION_FAILED) {
		client_wrong_secret(c, &share, &entry);
	} else if (r == CLIENT_NOT_FOUND || (!found && r == CLIENT_BOUND_ELSEWHERE)) {
		/* Gone, or the claim made for this read was never bound. */
		client_forget(c, share.mailbox_url);
	}
	buf_free(&resp.body);
	return r;
}

static int client_reply(struct client *c)
{
	struct https_response resp;
	struct state_entry entry;
	struct share share;
	char *data = NULL, *body = NULL, digest[65];
	int r, found;

	r = client_share(c->args[0], &share);
	if (r == CLIENT_OK)
		r = client_entry(c, &share, CLIENT_NEED_ENTRY, &entry, &found);
	if (r == CLIENT_OK)
		r = client_seal(c, c->args[1], entry.secret, entry.secret_len, &data);
	if (r != CLIENT_OK)
		return r;
	{
		json_t *doc = json_pack("{s:{s:s, s:s}}", "payload", "type",
		    seal_type(entry.secret_len), "data", data);

		body = doc ? json_dumps(doc, JSON_COMPACT) : NULL;
		json_decref(doc);
	}
	if (body == NULL) {
		free(data);
		return client_fail(CLIENT_LOCAL_FILE, "out of memory");
	}
	/* Recorded as seen before it is sent: a `watch` of this device wakes
	 * the moment the relay applies it and must know it for our own. */
	seal_digest(data, strlen(data), digest);
	state_see(&entry, digest);
	r = client_save(c, share.mailbox_url, &entry);
	buf_init(&resp.body);
	if (r == CLIENT_OK) {
		char extra[sizeof(entry.etag) + 16] = "", err[512];

		/* Only over the version this device has seen: a message of the
		 * other side's that it has not read is never overwritten. */
		if (entry.etag[0])
			snprintf(extra, sizeof(extra), "If-Match: %s\r\n", entry.etag);
		r = client_exchange(c, &share.origin, "PUT", share.path, entry.claim, extra, body,
		    0, &resp, err, sizeof(err));
		if (r != CLIENT_OK)
			client_fail(r, "%s", err);
	}
	if (r == CLIENT_OK && resp.status == 412)
		r = client_fail(CLIENT_CONFLICT, "the other side wrote to the mailbox first, so "
		    "nothing was sent: read its message (relay receive or relay watch), then reply "
		    "again");
	else if (r == CLIENT_OK && resp.status != 200 && resp.status != 201)
		r = client_refused(&resp, 0);
	/* The version this device wrote: its watch is not woken by it. */
	if (r == CLIENT_OK && resp.etag[0]) {
		snprintf(entry.etag, sizeof(entry.etag), "%s", resp.etag);
		r = client_save(c, share.mailbox_url, &entry);
	}
	if (r == CLIENT_NOT_FOUND)
		client_forget(c, share.mailbox_url);
	buf_free(&resp.body);
	free(body);
	free(data);
	return r;
}

static void client_pause_ms(int64_t ms)
{
	struct timespec ts = { (time_t)(ms / 1000), (long)(ms % 1000) * 1000000 };

	while (ms > 0 && nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

/*
 * Long-poll until the mailbox goes. The relay unreachable: say so, wait
 * 2, 4, 8, 16 s, then give up. An answer with nothing new that came back
 * at once (a relay or proxy that does not hold long-polls) paces the next
 * request, so a watch never spins.
 */
static int client_watch(struct client *c)
{
	struct https_response resp;
	struct state_entry entry;
	struct share share;
	int r, found, failures = 0;

	r = client_share(c->args[0], &share);
	if (r == CLIENT_OK)
		r = client_entry(c, &share, CLIENT_NEED_ENTRY, &entry, &found);
	if (r != CLIENT_OK)
		return r;
	client_fail(0, "waiting for new messages in %s (Ctrl-C to stop)", share.mailbox_url);
	buf_init(&resp.body);
	for (;;) {
		char extra[160] = "", err[512];
		int64_t started = clock_mono_now_ms();
		int printed = 0;
		struct state_entry fresh;

		/* A reply of this device's since the last answer left the ETag
		 * of its write: wait from there, not to be woken by it. */
		if (state_get(c->state_path, share.mailbox_url, &fresh, err, sizeof(err)) > 0)
			memcpy(entry.etag, fresh.etag, sizeof(entry.etag));
		if (entry.etag[0])
			snprintf(extra, sizeof(extra), "If-None-Match: %s\r\nPrefer: wait=%d\r\n",
			    entry.etag, CLIENT_WATCH_WAIT_S);
		r = client_exchange(c, &share.origin, "POST", share.path, entry.claim, extra, NULL,
		    CLIENT_WATCH_WAIT_S, &resp, err, sizeof(err));
		if (r == CLIENT_UNREACHABLE && ++failures < CLIENT_WATCH_RETRIES) {
			unsigned delay_s = 1u << failures;

			client_fail(0, "%s; retrying in %u s", err, delay_s);
			client_pause_ms((int64_t)delay_s * 1000);
			continue;
		}
		if (r != CLIENT_OK) {
			client_fail(r, "%s", err);
			break;
		}
		if (failures > 0)
			client_fail(0, "the relay answers again; waiting for new messages");
		failures = 0;
		if (resp.status == 404) {
			client_fail(CLIENT_OK, "the mailbox was deleted or has expired");
			client_forget(c, share.mailbox_url);
			r = CLIENT_OK;
			break;
		}
		if (resp.status != 200 && resp.status != 204) {
			r = client_refused(&resp, 1);
			break;
		}
		if (resp.status == 200) {
			/* Another command of this device (a reply) may have written
			 * meanwhile: judge what is new against the file, not a copy. */
			int known = state_get(c->state_path, share.mailbox_url, &fresh, err,
			    sizeof(err));

			if (known < 0) {
				r = client_fail(CLIENT_LOCAL_FILE, "%s", err);
				break;
			}
			if (known)
				entry = fresh;
			r = client_open(c, share.mailbox_url, &resp, &entry, 0, &printed);
			if (r == CLIENT_DECRYPTION_FAILED)
				client_fail(r, "decryption failed: wrong secret or altered ciphertext");
			/* A message seen before: only its ETag is new to the file. */
			if (r == CLIENT_OK && !printed)
				r = client_save(c, share.mailbox_url, &entry);
			if (r != CLIENT_OK)
				break;
		}
		if (!printed)
			client_pause_ms(CLIENT_WATCH_PACE_MS - (clock_mono_now_ms() - started));
	}
	buf_free(&resp.body);
	return r;
}

/* delete and relinquish: one request, then the device forgets the mailbox. */
static int client_let_go(struct client *c, const char *method)
{
	struct https_response resp;
	struct state_entry entry;
	struct share share;
	int r, found;

	r = client_share(c->args[0], &share);
	if (r == CLIENT_OK)
		r = client_entry(c, &share, CLIENT_NEED_ANY_CLAIM, &entry, &found);
	if (r != CLIENT_OK)
		return r;
	buf_init(&resp.body);
	r = client_call(c, &share.origin, method, share.path, entry.claim, NULL, &resp);
	if (r == CLIENT_OK && resp.status != 200 && resp.status != 201)
		r = client_refused(&resp, 0);
	buf_free(&resp.body);
	if (found && (r == CLIENT_OK || r == CLIENT_NOT_FOUND)) {
		char err[512];

		if (state_put(c->state_path, share.mailbox_url, NULL, err, sizeof(err)) != 0 &&
		    r == CLIENT_OK)
			r = client_fail(CLIENT_LOCAL_FILE, "%s", err);
	}
	return r;
}

static int client_delete(struct client *c)
{
	return client_let_go(c, "DELETE");
}

static int client_relinquish(struct client *c)
{
	return client_let_go(c, "PATCH");
}

/* The content of <meta property="og:NAME" content="…">, entities decoded. */
static void client_print_og(const char *html, const char *name, const char *label)
{
	char needle[64];
	const char *p, *end;

	snprintf(needle, sizeof(needle), "property=\"og:%s\" content=\"", name);
	p = strstr(html, needle);
	if (p == NULL)
		return;
	p += strlen(needle);
	end = strchr(p, '"');
	if (end == NULL)
		return;
	printf("%s: ", label);
	while (p < end) {
		static const struct {
			const char *ref, *text;
		} refs[] = { { "&amp;", "&" }, { "&lt;", "<" }, { "&gt;", ">" },
		    { "&quot;", "\"" }, { "&#39;", "'" } };
		size_t i;

		for (i = 0; i < sizeof(refs) / sizeof(refs[0]); i++) {
			size_t n = strlen(refs[i].ref);

			if ((size_t)(end - p) >= n && strncmp(p, refs[i].ref, n) == 0) {
				fputs(refs[i].text, stdout);
				p += n;
				break;
			}
		}
		if (i == sizeof(refs) / sizeof(refs[0]))
			putchar(*p++);
	}
	putchar('\n');
}

static int client_preview(struct client *c)
{
	struct https_response resp;
	struct share share;
	int r;

	r = client_share(c->args[0], &share);
	if (r != CLIENT_OK)
		return r;
	buf_init(&resp.body);
	r = client_call(c, &share.origin, "GET", share.path, NULL, NULL, &resp);
	if (r == CLIENT_OK && resp.status != 200)
		r = client_refused(&resp, 0);
	if (r == CLIENT_OK) {
		buf_append(&resp.body, "", 1);
		client_print_og(resp.body.data, "title", "title");
		client_print_og(resp.body.data, "description", "description");
		client_print_og(resp.body.data, "image", "image");
	}
	buf_free(&resp.body);
	return r;
}

static void client_list_one(void *ctx, const char *mailbox_url, const struct state_entry *e)
{
	char expires[CLOCK_RFC3339_LEN + 1] = "unknown";

	(void)ctx;
	/* The file is this user's, but a terminal escape in it stays out. */
	for (const char *p = mailbox_url; *p; p++)
		putchar((unsigned char)*p < 0x21 || *p == 0x7f ? '?' : *p);
	if (e == NULL) {
		puts(" damaged-entry unknown");
		return;
	}
	if (e->expires_at > 0)
		clock_format_rfc3339(e->expires_at, expires);
	printf(" %s %s\n", e->role == STATE_SENDER ? "sender" : "receiver", expires);
}

static int client_list(struct client *c)
{
	char err[512];

	if (state_list(c->state_path, client_list_one, NULL, err, sizeof(err)) != 0)
		return client_fail(CLIENT_LOCAL_FILE, "%s", err);
	return fflush(stdout) == 0 ? CLIENT_OK :
	    client_fail(CLIENT_LOCAL_FILE, "cannot write the list: %s", strerror(errno));
}

static int client_print_help(struct client *c)
{
	const struct client_command *cmd = NULL;

	if (c->arg_count == 1) {
		cmd = client_find(c->args[0]);
		if (cmd == NULL)
			return client_unknown(c->args[0]);
	}
	client_usage(cmd, stdout);
	return CLIENT_OK;
}

/* An environment variable, unless unset or empty. */
static const char *client_env(const char *name)
{
	const char *v = getenv(name);

	return v != NULL && v[0] != '\0' ? v : NULL;
}

int client_main(int argc, char **argv)
{
	const struct client_command *cmd = client_find(argv[0]);
	struct client c;
	char err[512];
	int r;

	if (cmd == NULL)
		return client_unknown(argv[0]);
	memset(&c, 0, sizeof(c));
	c.command = argv[0];
	c.relay = client_env("RELAY_URL") ? client_env("RELAY_URL") : CLIENT_DEFAULT_RELAY;
	c.cacert = client_env("RELAY_CACERT");
	c.timeout_s = CLIENT_TIMEOUT_S;
	r = client_parse(&c, cmd, argc, argv);
	if (r == CLIENT_PARSE_HELP) {
		client_usage(cmd, stdout);
		return CLIENT_OK;
	}
	if (r != CLIENT_OK || cmd->run == client_print_help)
		return r != CLIENT_OK ? r : client_print_help(&c);
	if (c.state_path[0] == '\0' && state_default_path(c.state_path, sizeof(c.state_path)) != 0)
		return client_fail(CLIENT_LOCAL_FILE, "no --state given and no $HOME to keep state in");
	if (!(cmd->options & CLIENT_OPT_NET))
		return cmd->run(&c);
	if (c.insecure)
		fprintf(stderr, "relay: warning: --insecure: the relay's certificate is not checked\n");
	c.rng = rng_new(err, sizeof(err));
	if (c.rng == NULL)
		return client_fail(CLIENT_LOCAL_FILE, "%s", err);
	if (https_init(&c.https, c.rng, c.cacert, c.insecure, err, sizeof(err)) != 0) {
		r = client_fail(CLIENT_LOCAL_FILE, "%s", err);
	} else {
		r = cmd->run(&c);
	}
	https_free(&c.https);
	rng_free(c.rng);
	return r;
}
