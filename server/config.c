/*
 * config.c — command-line parsing with exact, one-line errors.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/resource.h>

#include "server/config.h"
#include "lib/parse.h"
#include "net/tls.h"

static const char config_usage[] =
"usage: relay [options]\n"
"       relay COMMAND ... (the device commands below; relay COMMAND --help)\n"
"\n"
"A Secure Credential Transfer relay: temporary end-to-end-encrypted mailboxes\n"
"for handing a digital key from one device to another, held in memory.\n"
"With no options it serves HTTPS on 127.0.0.1:8443 with a fresh self-signed\n"
"certificate for localhost, and prints that certificate's SHA-256 fingerprint.\n"
"\n"
"options:\n"
"  --listen ADDR:PORT        address to listen on, may be repeated; IPv6 as\n"
"                            [::]:443; port 0 picks a free port\n"
"                            (default 127.0.0.1:8443)\n"
"  --cert FILE --key FILE    PEM certificate chain and private key (ECDSA or RSA)\n"
"                            (default: a self-signed certificate made at start)\n"
"  --dev-cert-out FILE       write the self-signed certificate (PEM) here, for\n"
"                            curl --cacert\n"
"  --public-url URL          base of every urlLink, http(s)://host[:port] only\n"
"                            (default https://localhost:PORT)\n"
"  --default-ttl DUR         lifetime of a mailbox created without one (24h)\n"
"  --max-ttl DUR             longest lifetime a mailbox may ask for (7d); up to\n"
"                            5 min more (a phone clock running fast) is clamped\n"
"  --max-body SIZE           largest request body (64k; at most 16m)\n"
"  --max-mailboxes N         mailboxes held at most; past it, 503 (1000000)\n"
"  --max-memory SIZE         bytes of mailboxes held at most; past it, 503 (512m)\n"
"  --max-connections N       open connections at most; more wait in the\n"
"                            kernel's backlog (10000). The relay raises its\n"
"                            descriptor limit (ulimit -n) to the hard limit\n"
"                            and keeps 64 for itself; a value beyond is\n"
"                            refused, the default is lowered to fit\n"
"  --max-connections-per-address N\n"
"                            open connections from one client address at\n"
"                            most; more are closed at once (off)\n"
"  --max-wait DUR            longest long-poll (60s)\n"
"  --handshake-timeout DUR   TLS handshake must finish within (10s)\n"
"  --header-timeout DUR      a request head must arrive within (10s)\n"
"  --body-timeout DUR        a request body must arrive within (30s)\n"
"  --idle-timeout DUR        keep-alive connections idle longer are closed (60s)\n"
"  --max-waiters N           parked long-polls at most; past it, 503 (10000)\n"
"  --max-waiters-per-address N\n"
"                            parked long-polls of one client address at most;\n"
"                            past it, 503 (off)\n"
"  --max-bytes-per-address SIZE\n"
"                            bytes of mailboxes one client address created,\n"
"                            held at most (whoever wrote them); past it, 503\n"
"                            until one goes (off)\n"
"  --rate-create RATE        CreateMailbox calls per client address, e.g. 30/m\n"
"                            or 5/s,20 (burst 20); 429 beyond (off)\n"
"  --rate-fail RATE          failed claim checks (401) per client address before\n"
"                            it gets 429, against guessing claims (off)\n"
"  --trust-proxy CIDR        take the client address from X-Forwarded-For when\n"
"                            the peer is in this range; may be repeated\n"
"  --store memory|URL        where mailboxes live: in this process (memory, the\n"
"                            default) or in Redis, shared by several relays:\n"
"                            redis://[user@]host:port[/db], or through Sentinel:\n"
"                            redis-sentinel://host:port[,host:port...]/NAME\n"
"                            (the limits per address but connections are then\n"
"                            counted there, for every relay)\n"
"  --store-password-file FILE\n"
"                            Redis's password, from a file (never the command\n"
"                            line)\n"
"  --store-secret-file FILE  with Redis: the secret claims are kept under (the\n"
"                            same on every relay; at least 32 bytes)\n"
"  --store-wait-replicas N   with Redis: a write is acknowledged only once N\n"
"                            replicas have it (WAIT), so that a failover loses\n"
"                            no acknowledged mailbox; else 503 (off)\n"
"  --state-file FILE         keep mailboxes across restarts: loaded at start,\n"
"                            written at a clean stop (mode 0600); its directory\n"
"                            must exist and be writable\n"
"  --snapshot-interval DUR   also write it this often, in the background, so\n"
"                            a crash loses at most that much (off)\n"
"  --push-gateway URL        wake devices through a gorush push gateway at URL\n"
"                            (http or https; requests go to URL/api/push)\n"
"  --push-map TYPE=N[,...]   notificationToken types and their gorush platforms\n"
"                            (com.apple.apns=" LIMITS_TEXT(LIMITS_PUSH_PLATFORM_IOS)
    ",com.google.fcm=" LIMITS_TEXT(LIMITS_PUSH_PLATFORM_ANDROID) ")\n"
"  --push-cacert FILE        CA certificates for an https gateway (default:\n"
"                            the system's)\n"
"  --push-queue N            pushes waiting for the gateway at most; the oldest\n"
"                            is dropped beyond (10000; at most 1000000)\n"
"  --push-retries N          retries of a push the gateway did not take\n"
"                            (3; at most 100)\n"
"  --well-known DIR          serve DIR/apple-app-site-association and\n"
"                            DIR/assetlinks.json at /.well-known/ (iOS and\n"
"                            Android app links): JSON of at most 64 KiB each;\n"
"                            a file that is absent is a 404, one that is not\n"
"                            JSON, unreadable or larger stops the start\n"
"  --cors-origin ORIGIN      let scripts of this browser origin call the API:\n"
"                            scheme://host[:port] as browsers send it, or * for\n"
"                            any (answered as *); may be repeated (32 at\n"
"                            most). Credentials are never allowed\n"
"  --no-tls                  plain HTTP, only behind a TLS-terminating proxy\n"
"  --log-level LEVEL         error, warn, info or debug (info)\n"
"  --log-format FORMAT       text or json: one line per event on stderr, with\n"
"                            a timestamp (text)\n"
"  --access-log              log a line per request at level info: method,\n"
"                            route template (never the mailbox id), status,\n"
"                            bytes, duration in us, TLS version, resumed (off)\n"
"  --admin-listen ADDR:PORT  serve GET /metrics (Prometheus), /healthz and\n"
"                            /readyz here, in plain HTTP, never the API (off).\n"
"                            On loopback, loopback clients may ask; any other\n"
"                            address needs --admin-allow\n"
"  --admin-allow CIDR        who else may ask the admin listener, e.g.\n"
"                            10.0.0.0/8 (with a non-loopback --admin-listen,\n"
"                            only these: add 127.0.0.1 for local tools); may\n"
"                            be repeated\n"
"  --help                    show this help and exit\n"
"  --version                 show the version and exit\n"
"\n"
"Durations take 90, 90s, 15m, 24h, 7d; sizes take 65536, 64k, 8m, 1g.\n"
"An IPv4 client counts by its address, an IPv6 client by its /64; behind\n"
"--trust-proxy, by its X-Forwarded-For address, except for connections,\n"
"which count against the proxy. The per-address limits take N (or SIZE) or\n"
"off.\n"
"SIGHUP reads --cert and --key again: new connections get the new pair, open\n"
"ones keep theirs, and a pair that does not load is logged and ignored.\n"
"It reads the --well-known files again too: if one is bad, both stay as\n"
"they were.\n"
"Exit status: 0 after SIGINT or SIGTERM, 1 when it cannot start (or the final\n"
"snapshot could not be written), 2 for a bad command line.\n";

int config_parse_rate(const char *s, struct ratelimit_rule *out)
{
	const char *slash = strchr(s, '/'), *comma;
	char number[24];
	uint64_t per, burst;
	uint32_t period_ms;

	memset(out, 0, sizeof(*out));
	if (strcmp(s, "off") == 0)
		return 0;
	if (slash == NULL || (size_t)(slash - s) >= sizeof(number))
		return -1;
	memcpy(number, s, (size_t)(slash - s));
	number[slash - s] = '\0';
	if (parse_number(number, &per) != 0 || per == 0 || per > 1000000)
		return -1;
	switch (slash[1]) {
	case 's': period_ms = 1000; break;
	case 'm': period_ms = 60 * 1000; break;
	case 'h': period_ms = 3600 * 1000; break;
	default: return -1;
	}
	comma = slash + 2;
	burst = per;
	if (*comma == ',') {
		if (parse_number(comma + 1, &burst) != 0 || burst == 0 ||
		    burst > 1000000)
			return -1;
	} else if (*comma != '\0') {
		return -1;
	}
	out->per = (uint32_t)per;
	out->period_ms = period_ms;
	out->burst = (uint32_t)burst;
	return 0;
}

int config_parse_cidr(const char *s, struct config_cidr *out)
{
	const char *slash = strchr(s, '/');
	char host[INET6_ADDRSTRLEN];
	size_t len = slash ? (size_t)(slash - s) : strlen(s);
	uint64_t prefix;

	memset(out, 0, sizeof(*out));
	if (len == 0 || len >= sizeof(host))
		return -1;
	memcpy(host, s, len);
	host[len] = '\0';
	if (inet_pton(AF_INET, host, out->addr) == 1)
		out->addr_len = 4;
	else if (inet_pton(AF_INET6, host, out->addr) == 1)
		out->addr_len = 16;
	else
		return -1;
	prefix = out->addr_len * 8;
	if (slash != NULL && (parse_number(slash + 1, &prefix) != 0 ||
	    prefix > out->addr_len * 8))
		return -1;
	out->prefix = (unsigned)prefix;
	return 0;
}

int config_parse_push_map(const char *s, struct config *c)
{
	size_t count = 0;

	while (*s != '\0') {
		const char *eq = strchr(s, '='), *end;
		unsigned long platform = 0;

		if (eq == NULL || eq == s || (size_t)(eq - s) > CONFIG_PUSH_TYPE_MAX ||
		    count == CONFIG_MAX_PUSH_TYPES || memchr(s, ',', (size_t)(eq - s)) != NULL)
			return -1;
		for (end = eq + 1; *end >= '0' && *end <= '9' && platform < 1000; end++)
			platform = platform * 10 + (unsigned long)(*end - '0');
		if (end == eq + 1 || platform == 0 || platform >= 1000 || (*end != ',' && *end != '\0'))
			return -1;
		memcpy(c->push_map[count].type, s, (size_t)(eq - s));
		c->push_map[count].type[eq - s] = '\0';
		c->push_map[count].platform = (unsigned)platform;
		count++;
		s = *end == ',' ? end + 1 : end;
		if (*end == ',' && *s == '\0')
			return -1;
	}
	if (count == 0)
		return -1;
	c->push_map_count = count;
	return 0;
}

unsigned config_push_platform(const struct config *c, const char *type, size_t len)
{
	for (size_t i = 0; i < c->push_map_count; i++) {
		if (strlen(c->push_map[i].type) == len && memcmp(c->push_map[i].type, type, len) == 0)
			return c->push_map[i].platform;
	}
	return 0;
}

size_t config_address_bytes(const struct sockaddr_storage *ss, const uint8_t **addr)
{
	if (ss->ss_family == AF_INET6) {
		*addr = ((const struct sockaddr_in6 *)ss)->sin6_addr.s6_addr;
		if (IN6_IS_ADDR_V4MAPPED((const struct in6_addr *)*addr)) {
			*addr += 12;
			return 4;
		}
		return 16;
	}
	*addr = (const uint8_t *)&((const struct sockaddr_in *)ss)->sin_addr;
	return 4;
}

int config_is_loopback(const uint8_t *addr, size_t addr_len)
{
	static const uint8_t v6[16] = { [15] = 1 };

	return addr_len == 4 ? addr[0] == 127 : memcmp(addr, v6, sizeof(v6)) == 0;
}

int config_cidrs_match(const struct config_cidrs *list, const uint8_t *addr, size_t addr_len)
{
	for (size_t i = 0; i < list->count; i++) {
		const struct config_cidr *r = &list->range[i];
		unsigned whole = r->prefix / 8, bits = r->prefix % 8;

		if (r->addr_len != addr_len || memcmp(r->addr, addr, whole) != 0)
			continue;
		if (bits == 0 || ((r->addr[whole] ^ addr[whole]) & (0xff << (8 - bits))) == 0)
			return 1;
	}
	return 0;
}

int config_parse_listen(const char *s, struct config_listen *out)
{
	char host[INET6_ADDRSTRLEN + 2];
	const char *colon, *port_text;
	size_t host_len;
	uint64_t port;

	memset(out, 0, sizeof(*out));
	if (s[0] == '[') {
		const char *end = strchr(s, ']');

		if (end == NULL || end[1] != ':')
			return -1;
		host_len = (size_t)(end - s - 1);
		if (host_len == 0 || host_len >= sizeof(host))
			return -1;
		memcpy(host, s + 1, host_len);
		port_text = end + 2;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL)
			return -1;
		host_len = (size_t)(colon - s);
		if (host_len == 0 || host_len >= sizeof(host))
			return -1;
		memcpy(host, s, host_len);
		port_text = colon + 1;
	}
	host[host_len] = '\0';
	if (parse_number(port_text, &port) != 0 || port > 65535)
		return -1;
	if (s[0] == '[') {
		struct sockaddr_in6 *a = (struct sockaddr_in6 *)&out->addr;

		if (inet_pton(AF_INET6, host, &a->sin6_addr) != 1)
			return -1;
		a->sin6_family = AF_INET6;
		a->sin6_port = htons((uint16_t)port);
		out->addr_len = sizeof(*a);
	} else {
		struct sockaddr_in *a = (struct sockaddr_in *)&out->addr;

		if (inet_pton(AF_INET, host, &a->sin_addr) != 1)
			return -1;
		a->sin_family = AF_INET;
		a->sin_port = htons((uint16_t)port);
		out->addr_len = sizeof(*a);
	}
	return 0;
}

static void config_defaults(struct config *c)
{
	memset(c, 0, sizeof(*c));
	c->default_ttl = 24 * 3600;
	c->max_ttl = 7 * 86400;
	c->max_body = 64 * 1024;
	c->max_mailboxes = 1000000;
	c->max_memory = (size_t)512 << 20;
	c->max_connections = 10000;
	c->max_wait = 60;
	c->handshake_timeout = 10;
	c->header_timeout = 10;
	c->body_timeout = 30;
	c->idle_timeout = 60;
	c->max_waiters = 10000;
	c->push_queue = 10000;
	c->push_retries = 3;
	config_parse_push_map("com.apple.apns=1,com.google.fcm=2", c);
	c->log_level = LOG_INFO;
	c->log_format = LOG_TEXT;
}

enum config_kind {
	CONFIG_FLAG,        /* no value */
	CONFIG_STRING,
	CONFIG_DURATION,    /* seconds, at least min */
	CONFIG_SIZE,        /* bytes, from min to max */
	CONFIG_COUNT,       /* plain number, from min to max */
	CONFIG_SIZE_OFF,    /* a size from min to max, or off (0) */
	CONFIG_COUNT_OFF,   /* a number from min to max, or off (0) */
	CONFIG_LISTEN,      /* one more --listen */
	CONFIG_ADDRESS,     /* one struct config_listen */
	CONFIG_LEVEL,
	CONFIG_LOG_FORMAT,
	CONFIG_RATE,
	CONFIG_CIDR,        /* one more range in a struct config_cidrs */
	CONFIG_PUSH_MAP,
	CONFIG_ORIGIN
};

struct config_option {
	const char *name;
	enum config_kind kind;
	size_t offset;
	uint64_t min;
	uint64_t max;           /* sizes and counts; 0: SIZE_MAX */
	const char *expects;    /* for the error line; NULL: the kind's */
};

#define OPT(name, kind, field, min) \
	{ name, kind, offsetof(struct config, field), min, 0, NULL }
#define OPT_MAX(name, kind, field, min, max) \
	{ name, kind, offsetof(struct config, field), min, max, NULL }
#define OPT_EXPECTS(name, kind, field, expects) \
	{ name, kind, offsetof(struct config, field), 0, 0, expects }

/* Spans into the input buffer are 32-bit, and no payload needs more. */
#define CONFIG_MAX_BODY ((uint64_t)16 << 20)
/* A payload decodes to fewer bytes than the body that carries it, and the
 * store keeps its length unchecked. */
_Static_assert(CONFIG_MAX_BODY <= STORE_PAYLOAD_DATA_CAP,
    "a payload from the largest body must fit mailbox_payload.data_len");
/* A bigger queue only delays the news that the gateway is gone; more
 * retries, at up to 18 hours apart, would never give up. */
#define CONFIG_MAX_PUSH_QUEUE 1000000
#define CONFIG_MAX_PUSH_RETRIES 100
/* More replicas than any deployment has; WAIT itself takes any number. */
#define CONFIG_MAX_WAIT_REPLICAS 100

static const struct config_option config_options[] = {
	OPT("--listen", CONFIG_LISTEN, listen, 0),
	OPT("--cert", CONFIG_STRING, cert_file, 0),
	OPT("--key", CONFIG_STRING, key_file, 0),
	OPT("--dev-cert-out", CONFIG_STRING, dev_cert_out, 0),
	OPT_EXPECTS("--public-url", CONFIG_STRING, public_url, "an http:// or https:// URL"),
	OPT("--default-ttl", CONFIG_DURATION, default_ttl, 1),
	OPT("--max-ttl", CONFIG_DURATION, max_ttl, 1),
	OPT_MAX("--max-body", CONFIG_SIZE, max_body, 1, CONFIG_MAX_BODY),
	OPT("--max-mailboxes", CONFIG_COUNT, max_mailboxes, 1),
	OPT("--max-memory", CONFIG_SIZE, max_memory, 1),
	OPT("--max-connections", CONFIG_COUNT, max_connections, 1),
	OPT("--max-connections-per-address", CONFIG_COUNT_OFF, max_connections_per_address, 1),
	OPT("--max-wait", CONFIG_DURATION, max_wait, 0),
	OPT("--handshake-timeout", CONFIG_DURATION, handshake_timeout, 1),
	OPT("--header-timeout", CONFIG_DURATION, header_timeout, 1),
	OPT("--body-timeout", CONFIG_DURATION, body_timeout, 1),
	OPT("--idle-timeout", CONFIG_DURATION, idle_timeout, 1),
	OPT("--max-waiters", CONFIG_COUNT, max_waiters, 0),
	OPT("--max-waiters-per-address", CONFIG_COUNT_OFF, max_waiters_per_address, 1),
	OPT("--max-bytes-per-address", CONFIG_SIZE_OFF, max_bytes_per_address, 1),
	OPT("--rate-create", CONFIG_RATE, rate_create, 0),
	OPT("--rate-fail", CONFIG_RATE, rate_fail, 0),
	OPT("--trust-proxy", CONFIG_CIDR, trust_proxy, 0),
	OPT_EXPECTS("--store", CONFIG_STRING, store,
	    "memory, redis://[user@]host:port[/db] or redis-sentinel://host:port[,...]/NAME"),
	OPT("--store-password-file", CONFIG_STRING, store_password_file, 0),
	OPT("--store-secret-file", CONFIG_STRING, store_secret_file, 0),
	OPT_MAX("--store-wait-replicas", CONFIG_COUNT, store_wait_replicas, 1,
	    CONFIG_MAX_WAIT_REPLICAS),
	OPT("--state-file", CONFIG_STRING, state_file, 0),
	OPT("--snapshot-interval", CONFIG_DURATION, snapshot_interval, 0),
	OPT_EXPECTS("--push-gateway", CONFIG_STRING, push_gateway, "an http:// or https:// URL"),
	OPT("--push-map", CONFIG_PUSH_MAP, push_map, 0),
	OPT("--push-cacert", CONFIG_STRING, push_cacert, 0),
	OPT_MAX("--push-queue", CONFIG_COUNT, push_queue, 1, CONFIG_MAX_PUSH_QUEUE),
	OPT_MAX("--push-retries", CONFIG_COUNT, push_retries, 0, CONFIG_MAX_PUSH_RETRIES),
	OPT_EXPECTS("--well-known", CONFIG_STRING, well_known, "a directory"),
	OPT("--cors-origin", CONFIG_ORIGIN, cors_origin, 0),
	OPT("--no-tls", CONFIG_FLAG, no_tls, 0),
	OPT("--log-level", CONFIG_LEVEL, log_level, 0),
	OPT("--log-format", CONFIG_LOG_FORMAT, log_format, 0),
	OPT("--access-log", CONFIG_FLAG, access_log, 0),
	OPT("--admin-listen", CONFIG_ADDRESS, admin_listen, 0),
	OPT("--admin-allow", CONFIG_CIDR, admin_allow, 0),
};

/* What an option's value looks like, for the error line: the option's own
 * words, or its kind's. */
static const char *config_expects(const struct config_option *o)
{
	static const char *const by_kind[] = {
		[CONFIG_STRING] = "a file name",
		[CONFIG_DURATION] = "a duration such as 90s, 15m, 24h, 7d",
		[CONFIG_SIZE] = "a size such as 65536, 64k, 8m, 1g",
		[CONFIG_COUNT] = "a number",
		[CONFIG_SIZE_OFF] = "a size such as 256k, 8m, or off",
		[CONFIG_COUNT_OFF] = "a positive number or off",
		[CONFIG_LISTEN] = "ADDR:PORT, e.g. 127.0.0.1:8443 or [::]:443",
		[CONFIG_ADDRESS] = "ADDR:PORT, e.g. 127.0.0.1:9100 or [::1]:9100",
		[CONFIG_LEVEL] = "error, warn, info or debug",
		[CONFIG_LOG_FORMAT] = "text or json",
		[CONFIG_RATE] = "a rate such as 30/m, 5/s,20 or off",
		[CONFIG_CIDR] = "an address range such as 10.0.0.0/8",
		[CONFIG_PUSH_MAP] = "TYPE=PLATFORM[,TYPE=PLATFORM...]",
		[CONFIG_ORIGIN] = "scheme://host[:port] with nothing after it, "
		    "e.g. https://app.example, or *",
	};

	if (o->expects != NULL)
		return o->expects;
	if (o->kind == CONFIG_COUNT && o->min > 0)
		return "a positive number";
	return by_kind[o->kind];
}

static const struct config_option *config_find(const char *name, size_t len)
{
	for (size_t i = 0; i < sizeof(config_options) / sizeof(config_options[0]); i++) {
		if (strlen(config_options[i].name) == len &&
		    strncmp(config_options[i].name, name, len) == 0)
			return &config_options[i];
	}
	return NULL;
}

/* "16m" for a size that is a whole number of k, m or g; else the bytes. */
static void config_format_size(uint64_t bytes, char *out, size_t len)
{
	static const char units[] = "gmk";
	static const unsigned shifts[] = { 30, 20, 10 };

	for (int i = 0; i < 3; i++) {
		if (bytes != 0 && bytes % ((uint64_t)1 << shifts[i]) == 0) {
			snprintf(out, len, "%llu%c", (unsigned long long)(bytes >> shifts[i]), units[i]);
			return;
		}
	}
	snprintf(out, len, "%llu", (unsigned long long)bytes);
}

/* A size or a count within [o->min, o->max]: 0, -1 when it is not one, or -2
 * when it is one but above the maximum. */
static int config_set_number(const struct config_option *o, const char *value, size_t *field)
{
	uint64_t max = o->max ? o->max : SIZE_MAX;
	uint64_t v;

	if ((o->kind == CONFIG_SIZE_OFF || o->kind == CONFIG_COUNT_OFF) &&
	    strcmp(value, "off") == 0) {
		*field = 0;
		return 0;
	}
	if (o->kind == CONFIG_SIZE || o->kind == CONFIG_SIZE_OFF) {
		size_t n;

		if (parse_size(value, &n) != 0)
			return -1;
		v = n;
	} else if (parse_number(value, &v) != 0 || v > SIZE_MAX) {
		return -1;
	}
	if (v < o->min)
		return -1;
	if (v > max)
		return -2;
	*field = (size_t)v;
	return 0;
}

/* Store one option's value; 0, -1 when the value is bad, -2 when it is above
 * the option's maximum. */
static int config_set(struct config *c, const struct config_option *o, const char *value)
{
	void *field = (char *)c + o->offset;
	int64_t seconds;

	switch (o->kind) {
	case CONFIG_FLAG:
		*(int *)field = 1;
		return 0;
	case CONFIG_STRING:
		if (value[0] == '\0')
			return -1;
		*(const char **)field = value;
		return 0;
	case CONFIG_DURATION:
		if (parse_duration(value, &seconds) != 0 || (uint64_t)seconds < o->min)
			return -1;
		*(int64_t *)field = seconds;
		return 0;
	case CONFIG_SIZE:
	case CONFIG_COUNT:
	case CONFIG_SIZE_OFF:
	case CONFIG_COUNT_OFF:
		return config_set_number(o, value, (size_t *)field);
	case CONFIG_LISTEN:
		if (c->listen_count == CONFIG_MAX_LISTEN ||
		    config_parse_listen(value, &c->listen[c->listen_count]) != 0)
			return -1;
		c->listen_count++;
		return 0;
	case CONFIG_ADDRESS:
		return config_parse_listen(value, (struct config_listen *)field);
	case CONFIG_LEVEL:
		return log_parse_level(value, (enum log_level *)field);
	case CONFIG_LOG_FORMAT:
		return log_parse_format(value, (enum log_format *)field);
	case CONFIG_RATE:
		return config_parse_rate(value, (struct ratelimit_rule *)field);
	case CONFIG_PUSH_MAP:
		return config_parse_push_map(value, c);
	case CONFIG_ORIGIN: {
		const char *why;

		if (c->cors_origin_count == CORS_MAX_ORIGINS ||
		    cors_normalize_origin(value, c->cors_origin[c->cors_origin_count], &why) != 0)
			return -1;
		c->cors_origin_count++;
		return 0;
	}
	case CONFIG_CIDR: {
		struct config_cidrs *list = field;

		if (list->count == CONFIG_MAX_CIDRS ||
		    config_parse_cidr(value, &list->range[list->count]) != 0)
			return -1;
		list->count++;
		return 0;
	}
	}
	return -1;
}

/* Why an origin was refused, on one line. */
static void config_origin_error(FILE *err, const char *value)
{
	char scratch[CORS_ORIGIN_MAX + 1];
	const char *why = "";

	cors_normalize_origin(value, scratch, &why);
	fprintf(err, "relay: bad value for --cors-origin: expected scheme://host[:port] as a "
	    "browser sends it (e.g. https://app.example) or *, but %s\n", why);
}

/* The base of every urlLink that devices receive: a host and a port, since
 * the relay appends the path itself and a link with anything else in it
 * (a space, a query, a fragment, user info) would be broken or misleading. */
static int config_check_public_url(const char *url, const char **why)
{
	struct url parsed;
	const char *rest;

	for (const char *p = url; *p != '\0'; p++) {
		if ((unsigned char)*p <= ' ' || (unsigned char)*p >= 0x7f) {
			*why = "it holds white space, a control or a non-ASCII character";
			return -1;
		}
	}
	if (url_parse(url, &parsed, &rest, why) != 0)
		return -1;
	/* A trailing slash is harmless: the relay drops it. */
	if (strspn(rest, "/") != strlen(rest)) {
		*why = "it has a path, query or fragment";
		return -1;
	}
	if (strchr(url, '@') != NULL) {
		*why = "it has user info";
		return -1;
	}
	/* In brackets, only an IPv6 address (not "[example.com]"). */
	if (strchr(url, '[') != NULL) {
		struct in6_addr v6;

		if (inet_pton(AF_INET6, parsed.host, &v6) != 1) {
			*why = "its IPv6 address is malformed";
			return -1;
		}
	} else if (strspn(parsed.host, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
	    "0123456789.-") != strlen(parsed.host)) {
		*why = "its host has a character no host name has";
		return -1;
	}
	return 0;
}

void config_log(const struct config *c, struct log *log)
{
	log_init(log);
	log->level = c->log_level;
	log->format = c->log_format;
}

void config_warn(const struct config *c, const struct log *log)
{
	long pages = sysconf(_SC_PHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
	int per_address = c->rate_create.per != 0 || c->rate_fail.per != 0 ||
	    c->max_connections_per_address != 0 || c->max_waiters_per_address != 0 ||
	    c->max_bytes_per_address != 0;

	if (c->no_tls && per_address && c->trust_proxy.count == 0)
		log_event(log, LOG_WARN, "--no-tls with limits per client address but no "
		    "--trust-proxy: behind a proxy every client shares the proxy's address "
		    "(name the proxy with --trust-proxy)", LOG_END);
	/* A proxy in front (plain HTTP behind it, or one we trust) closes a
	 * long-poll it has waited on for its read timeout: nginx's is 60 s. */
	if ((c->no_tls || c->trust_proxy.count > 0) && c->max_wait >= CONFIG_PROXY_TIMEOUT)
		log_event(log, LOG_WARN, "--max-wait is not below a common proxy read timeout "
		    "(nginx's default): lower it, or raise the proxy's",
		    LOG_INT("max_wait_s", c->max_wait), LOG_INT("proxy_timeout_s", CONFIG_PROXY_TIMEOUT),
		    LOG_INT("suggested_max_wait_s", CONFIG_PROXY_TIMEOUT - 10), LOG_END);
	if (pages > 0 && page_size > 0 &&
	    c->max_memory / (size_t)page_size > (size_t)pages)
		log_event(log, LOG_WARN, "--max-memory is above this machine's physical memory: "
		    "the relay would be killed before it refused a mailbox",
		    LOG_UINT("physical_mib", (size_t)pages / (1048576 / (size_t)page_size)), LOG_END);
}

/* host:port up to end (NULL: the string's end), for --store: 0, or -1
 * with why. */
static int config_parse_host_port(const char *host, const char *end, char *out_host,
    size_t host_cap, int *port, const char **why)
{
	const char *colon = memchr(host, ':', end ? (size_t)(end - host) : strlen(host));
	char digits[8];
	size_t len;
	char *stop;
	long v;

	if (colon == NULL || colon == host || (size_t)(colon - host) >= host_cap) {
		*why = "a host, then :port";
		return -1;
	}
	memcpy(out_host, host, (size_t)(colon - host));
	out_host[colon - host] = '\0';
	for (const char *p = out_host; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_')) {
			*why = "the host holds a character no host name or IPv4 address has";
			return -1;
		}
	}
	len = end ? (size_t)(end - colon - 1) : strlen(colon + 1);
	if (len == 0 || len >= sizeof(digits)) {
		*why = "the port is 1 to 65535";
		return -1;
	}
	memcpy(digits, colon + 1, len);
	digits[len] = '\0';
	errno = 0;
	v = strtol(digits, &stop, 10);
	if (*stop != '\0' || errno != 0 || v < 1 || v > 65535) {
		*why = "the port is 1 to 65535";
		return -1;
	}
	*port = (int)v;
	return 0;
}

/* redis-sentinel://host:port[,host:port...]/NAME */
static int config_parse_sentinel(const char *url, struct config_store *out, const char **why)
{
	const char *at = url + strlen("redis-sentinel://");
	const char *slash = strchr(at, '/');

	if (slash == NULL || slash[1] == '\0' || strlen(slash + 1) >= sizeof(out->master)) {
		*why = "the sentinels, then /the name they know the master by";
		return -1;
	}
	for (const char *p = slash + 1; *p != '\0'; p++) {
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' || *p == '_')) {
			*why = "the master's name holds a character other than letters, digits, -, . or _";
			return -1;
		}
	}
	strcpy(out->master, slash + 1);
	while (at < slash) {
		const char *comma = memchr(at, ',', (size_t)(slash - at));
		const char *end = comma ? comma : slash;

		if (out->sentinel_count == CONFIG_MAX_SENTINELS) {
			*why = "at most " LIMITS_TEXT(CONFIG_MAX_SENTINELS) " sentinels";
			return -1;
		}
		if (config_parse_host_port(at, end, out->sentinels[out->sentinel_count].host,
		    sizeof(out->sentinels[0].host), &out->sentinels[out->sentinel_count].port,
		    why) != 0)
			return -1;
		out->sentinel_count++;
		at = end + (comma != NULL);
	}
	if (out->sentinel_count == 0) {
		*why = "at least one sentinel";
		return -1;
	}
	return 0;
}

/* redis://[user@]host:port[/db] or redis-sentinel://...: 0, or -1 with why. */
static int config_parse_store(const char *url, struct config_store *out, const char **why)
{
	const char *at, *host, *slash;
	char *stop;
	long v;

	memset(out, 0, sizeof(*out));
	if (strncmp(url, "redis-sentinel://", 17) == 0)
		return config_parse_sentinel(url, out, why);
	if (strncmp(url, "redis://", 8) != 0) {
		*why = "only redis:// and redis-sentinel:// are known";
		return -1;
	}
	host = url + 8;
	slash = strchr(host, '/');
	at = strchr(host, '@');
	if (at != NULL && (slash == NULL || at < slash)) {
		if (at == host || (size_t)(at - host) >= sizeof(out->user) ||
		    memchr(host, ':', (size_t)(at - host)) != NULL) {
			*why = "a user name, then @ (the password goes in --store-password-file)";
			return -1;
		}
		memcpy(out->user, host, (size_t)(at - host));
		host = at + 1;
	}
	if (config_parse_host_port(host, slash, out->host, sizeof(out->host), &out->port,
	    why) != 0)
		return -1;
	if (slash != NULL) {
		errno = 0;
		v = strtol(slash + 1, &stop, 10);
		if (stop == slash + 1 || *stop != '\0' || errno != 0 || v < 0 || v > 1000000) {
			*why = "the database is a number";
			return -1;
		}
		out->db = (int)v;
	}
	return 0;
}

/* Rules that tie options together, checked once all are read. */
static int config_check(struct config *c, int default_ttl_given, FILE *err)
{
	const char *rest = "", *why = "";
	const uint8_t *admin_addr;
	size_t admin_addr_len;

	if ((c->cert_file == NULL) != (c->key_file == NULL)) {
		fprintf(err, "relay: %s needs %s as well\n",
		    c->cert_file ? "--cert" : "--key", c->cert_file ? "--key" : "--cert");
		return -1;
	}
	if (c->no_tls && (c->cert_file || c->dev_cert_out)) {
		fprintf(err, "relay: --no-tls cannot be combined with %s\n",
		    c->cert_file ? "--cert" : "--dev-cert-out");
		return -1;
	}
	if (c->dev_cert_out && c->cert_file) {
		fprintf(err, "relay: --dev-cert-out writes the generated certificate, "
		    "which is not made when --cert is given\n");
		return -1;
	}
	if (c->store != NULL && strcmp(c->store, "memory") != 0) {
		if (config_parse_store(c->store, &c->store_redis, &why) != 0) {
			fprintf(err, "relay: --store expects memory, redis://[user@]host:port[/db] "
			    "or redis-sentinel://host:port[,host:port...]/NAME: %s\n", why);
			return -1;
		}
		if (c->state_file != NULL || c->snapshot_interval > 0) {
			fprintf(err, "relay: %s is for the memory store: Redis keeps the "
			    "mailboxes itself\n", c->state_file ? "--state-file" :
			    "--snapshot-interval");
			return -1;
		}
		if (c->store_secret_file == NULL) {
			fprintf(err, "relay: --store redis:// needs --store-secret-file\n");
			return -1;
		}
	} else if (c->store_password_file != NULL || c->store_secret_file != NULL ||
	    c->store_wait_replicas != 0) {
		fprintf(err, "relay: %s is for --store redis://\n", c->store_password_file ?
		    "--store-password-file" : c->store_secret_file ? "--store-secret-file" :
		    "--store-wait-replicas");
		return -1;
	}
	if (c->snapshot_interval > 0 && c->state_file == NULL) {
		fprintf(err, "relay: --snapshot-interval needs --state-file\n");
		return -1;
	}
	if (c->default_ttl > c->max_ttl) {
		/* Only a lifetime the operator asked for is an error; the
		 * built-in one yields to a shorter --max-ttl. */
		if (default_ttl_given) {
			fprintf(err, "relay: --default-ttl may not exceed --max-ttl\n");
			return -1;
		}
		c->default_ttl = c->max_ttl;
	}
	if (c->public_url && config_check_public_url(c->public_url, &why) != 0) {
		fprintf(err, "relay: --public-url expects http(s)://host[:port] and nothing more: "
		    "%s\n", why);
		return -1;
	}
	for (size_t i = 0; c->cors_origin_count > 1 && i < c->cors_origin_count; i++) {
		if (strcmp(c->cors_origin[i], "*") == 0) {
			fprintf(err, "relay: --cors-origin * allows every origin: give it alone\n");
			return -1;
		}
	}
	if (c->admin_allow.count > 0 && c->admin_listen.addr_len == 0) {
		fprintf(err, "relay: --admin-allow needs --admin-listen\n");
		return -1;
	}
	/* Plain HTTP that says how busy the relay is: on another interface,
	 * only when the operator has said who may ask. */
	admin_addr_len = config_address_bytes(&c->admin_listen.addr, &admin_addr);
	if (c->admin_listen.addr_len != 0 && c->admin_allow.count == 0 &&
	    !config_is_loopback(admin_addr, admin_addr_len)) {
		fprintf(err, "relay: --admin-listen on an address that is not loopback needs "
		    "--admin-allow CIDR, naming who may connect\n");
		return -1;
	}
	if (c->access_log && c->log_level < LOG_INFO) {
		fprintf(err, "relay: --access-log writes its lines at level info: it needs "
		    "--log-level info or debug\n");
		return -1;
	}
	if (c->push_cacert && !c->push_gateway) {
		fprintf(err, "relay: --push-cacert needs --push-gateway\n");
		return -1;
	}
	if (c->push_gateway) {
		if (url_parse(c->push_gateway, &c->push_url, &rest, &why) != 0) {
			fprintf(err, "relay: --push-gateway expects an http:// or https:// URL: %s\n",
			    why);
			return -1;
		}
		if ((*rest != '\0' && *rest != '/') || strpbrk(rest, "?#") != NULL) {
			fprintf(err, "relay: --push-gateway expects a base URL, without query or "
			    "fragment\n");
			return -1;
		}
		c->push_path = rest;
	}
	return 0;
}

enum config_result config_parse(struct config *c, int argc, char **argv,
    FILE *out, FILE *err)
{
	int default_ttl_given = 0;

	config_defaults(c);
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *eq = strchr(arg, '='), *value = NULL;
		size_t name_len = eq ? (size_t)(eq - arg) : strlen(arg);
		const struct config_option *o;
		int r;

		if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
			fputs(config_usage, out);
			return CONFIG_EXIT;
		}
		if (strcmp(arg, "--version") == 0) {
			fprintf(out, "relay %s (mbedTLS %s)\n", CONFIG_VERSION,
			    tls_library_version());
			return CONFIG_EXIT;
		}
		o = strncmp(arg, "--", 2) == 0 ? config_find(arg, name_len) : NULL;
		if (o == NULL) {
			fprintf(err, "relay: unknown option %.*s (see relay --help)\n",
			    (int)name_len, arg);
			return CONFIG_USAGE;
		}
		if (o->kind == CONFIG_FLAG) {
			if (eq != NULL) {
				fprintf(err, "relay: %s takes no value\n", o->name);
				return CONFIG_USAGE;
			}
		} else if (eq != NULL) {
			value = eq + 1;
		} else if (i + 1 < argc) {
			value = argv[++i];
		} else {
			fprintf(err, "relay: %s needs a value: %s\n", o->name, config_expects(o));
			return CONFIG_USAGE;
		}
		if (o->offset == offsetof(struct config, default_ttl))
			default_ttl_given = 1;
		if (o->offset == offsetof(struct config, max_connections))
			c->max_connections_given = 1;
		r = config_set(c, o, value);
		if (r == -2) {
			char max[32];

			if (o->kind == CONFIG_SIZE || o->kind == CONFIG_SIZE_OFF)
				config_format_size(o->max, max, sizeof(max));
			else
				snprintf(max, sizeof(max), "%llu", (unsigned long long)o->max);
			fprintf(err, "relay: %s may be at most %s\n", o->name, max);
			return CONFIG_USAGE;
		}
		if (r != 0) {
			if (o->kind == CONFIG_LISTEN && c->listen_count == CONFIG_MAX_LISTEN)
				fprintf(err, "relay: %s may be given at most %d times\n", o->name,
				    CONFIG_MAX_LISTEN);
			else if (o->kind == CONFIG_CIDR && ((const struct config_cidrs *)(const void *)
			    ((const char *)c + o->offset))->count == CONFIG_MAX_CIDRS)
				fprintf(err, "relay: %s may be given at most %d times\n", o->name,
				    CONFIG_MAX_CIDRS);
			else if (o->kind == CONFIG_ORIGIN && c->cors_origin_count == CORS_MAX_ORIGINS)
				fprintf(err, "relay: %s may be given at most %d times\n", o->name,
				    CORS_MAX_ORIGINS);
			else if (o->kind == CONFIG_ORIGIN)
				config_origin_error(err, value);
			else
				fprintf(err, "relay: bad value for %s: expected %s\n", o->name,
				    config_expects(o));
			return CONFIG_USAGE;
		}
	}
	if (config_check(c, default_ttl_given, err) != 0)
		return CONFIG_USAGE;
	if (c->listen_count == 0)
		config_parse_listen("127.0.0.1:8443", &c->listen[c->listen_count++]);
	return CONFIG_RUN;
}

int config_fit_descriptors(struct config *c, const struct log *log, FILE *err)
{
	struct rlimit lim;
	uint64_t need;

	if (getrlimit(RLIMIT_NOFILE, &lim) != 0)
		return 0;
	/* Raise the soft limit as far as we may. (A hard limit of "unlimited"
	 * is refused as a soft one above fs.nr_open: the soft limit stays.) */
	if (lim.rlim_cur != lim.rlim_max) {
		struct rlimit raised = { lim.rlim_max, lim.rlim_max };

		if (setrlimit(RLIMIT_NOFILE, &raised) == 0)
			lim = raised;
	}
	if (lim.rlim_cur == RLIM_INFINITY)
		return 0;
	/* Compared without adding: SIZE_MAX connections plus the reserve
	 * would wrap round to a handful. */
	if (lim.rlim_cur > CONFIG_FD_RESERVE &&
	    c->max_connections <= lim.rlim_cur - CONFIG_FD_RESERVE)
		return 0;
	need = (uint64_t)c->max_connections + CONFIG_FD_RESERVE;
	if (need < c->max_connections)
		need = UINT64_MAX;
	if (c->max_connections_given || lim.rlim_cur <= CONFIG_FD_RESERVE) {
		fprintf(err, "relay: --max-connections %zu needs %llu file descriptors, but at "
		    "most %llu may be open (ulimit -n); raise the limit or lower the option\n",
		    c->max_connections, (unsigned long long)need,
		    (unsigned long long)lim.rlim_cur);
		return -1;
	}
	/* Only a number the operator asked for is an error; the built-in
	 * one yields to the limit, as --default-ttl yields to --max-ttl. */
	c->max_connections = (size_t)(lim.rlim_cur - CONFIG_FD_RESERVE);
	log_event(log, LOG_WARN, "--max-connections lowered to fit the file descriptor limit "
	    "(ulimit -n)", LOG_UINT("max_connections", c->max_connections),
	    LOG_UINT("ulimit_n", lim.rlim_cur), LOG_END);
	return 0;
}
