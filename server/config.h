/*
 * config.h — the command line (spec section 9), parsed once at start.
 *
 * Scripts rely on this contract: durations take 90, 90s, 15m, 24h, 7d; sizes
 * take 65536, 64k, 8m, 1g; an unknown option or a bad value is one line on
 * stderr naming the option and exit status 2.
 */
#ifndef SERVER_CONFIG_H
#define SERVER_CONFIG_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/socket.h>

#include "protocol/cors.h"
#include "protocol/limits.h"
#include "lib/log.h"
#include "lib/url.h"
#include "storage/ratelimit.h"

#define CONFIG_MAX_LISTEN 16
#define CONFIG_MAX_CIDRS 16
#define CONFIG_MAX_PUSH_TYPES 16
#define CONFIG_PUSH_TYPE_MAX LIMITS_TOKEN_TYPE_MAX

struct config_listen {
	struct sockaddr_storage addr;
	socklen_t addr_len;
};

/* An address range, as in --trust-proxy 10.0.0.0/8. */
struct config_cidr {
	uint8_t addr[16];
	size_t addr_len;        /* 4 or 16 */
	unsigned prefix;
};

/* A repeatable list of ranges (--trust-proxy, --admin-allow). */
struct config_cidrs {
	struct config_cidr range[CONFIG_MAX_CIDRS];
	size_t count;
};

/* --push-map: a notificationToken.type and the gorush platform it goes to. */
/* redis-sentinel://: more sentinels than a deployment runs. */
#define CONFIG_MAX_SENTINELS 8

struct config_push_type {
	char type[CONFIG_PUSH_TYPE_MAX + 1];
	unsigned platform;
};

struct config {
	struct config_listen listen[CONFIG_MAX_LISTEN];
	size_t listen_count;
	const char *cert_file;
	const char *key_file;
	const char *dev_cert_out;
	const char *public_url;         /* NULL: https://localhost:PORT */
	int64_t default_ttl;            /* seconds */
	int64_t max_ttl;
	size_t max_body;                /* bytes */
	size_t max_mailboxes;
	size_t max_memory;              /* bytes */
	size_t max_connections;
	int max_connections_given;      /* not the built-in default */
	size_t max_connections_per_address;     /* 0: no such limit */
	int64_t max_wait;               /* seconds */
	int64_t handshake_timeout;      /* seconds */
	int64_t header_timeout;
	int64_t body_timeout;
	int64_t idle_timeout;
	size_t max_waiters;
	size_t max_waiters_per_address;         /* 0: no such limit */
	size_t max_bytes_per_address;           /* 0: no such limit */
	struct ratelimit_rule rate_create;      /* per 0: off */
	struct ratelimit_rule rate_fail;
	struct config_cidrs trust_proxy;
	/* --store: NULL (or "memory") for the memory store, else redis://. */
	const char *store;
	struct config_store {
		char host[256];
		int port;               /* 0: with Sentinel */
		int db;
		char user[128];         /* "" when none */
		struct config_sentinel {
			char host[256];
			int port;
		} sentinels[CONFIG_MAX_SENTINELS];
		size_t sentinel_count;
		char master[128];       /* the name the sentinels know it by */
	} store_redis;                  /* store, parsed */
	const char *store_password_file;
	const char *store_secret_file;
	size_t store_wait_replicas;     /* 0: writes do not wait for replicas */
	const char *state_file;         /* NULL: mailboxes do not survive a restart */
	int64_t snapshot_interval;      /* seconds; 0: only at a clean stop */
	const char *push_gateway;       /* gorush's base URL, or NULL: no push */
	struct url push_url;            /* push_gateway, parsed */
	const char *push_path;          /* the gateway's base path (may be "") */
	const char *push_cacert;
	struct config_push_type push_map[CONFIG_MAX_PUSH_TYPES];
	size_t push_map_count;
	size_t push_queue;
	size_t push_retries;
	int no_tls;
	enum log_level log_level;
	enum log_format log_format;
	const char *well_known;         /* --well-known DIR, or NULL */
	/* --cors-origin, in the form browsers send (cors_normalize_origin). */
	char cors_origin[CORS_MAX_ORIGINS][CORS_ORIGIN_MAX + 1];
	size_t cors_origin_count;
	/* --admin-listen (addr_len 0: none): plain HTTP for /metrics, /healthz
	 * and /readyz, from loopback or the --admin-allow ranges only. */
	struct config_listen admin_listen;
	struct config_cidrs admin_allow;
	int access_log;                 /* --access-log: a line per request */
};

enum config_result {
	CONFIG_RUN,         /* start the relay */
	CONFIG_EXIT,        /* --help or --version was answered: exit 0 */
	CONFIG_USAGE        /* a one-line error was printed: exit 2 */
};

#define CONFIG_VERSION "1.0.0"

/* Descriptors kept for the relay itself beyond --max-connections: stdio,
 * the event loop and its signal pipe, up to 16 listeners, the spare one
 * given up on EMFILE, the state file and its directory, the push gateway
 * and its CA file, the admin listener with its few connections and the
 * /proc files a scrape reads, with room to spare. */
#define CONFIG_FD_RESERVE 64

/* Fill c from the arguments; help and version go to out, errors to err. */
enum config_result config_parse(struct config *c, int argc, char **argv,
    FILE *out, FILE *err);

/* The log that --log-level and --log-format ask for, on stderr. */
void config_log(const struct config *c, struct log *log);
/* Raise the soft RLIMIT_NOFILE to the hard limit, then make sure that
 * --max-connections fits under it with CONFIG_FD_RESERVE to spare: a value
 * given that does not is one line on err and -1 (exit 2); the default is
 * lowered to fit, and a warning logged. */
int config_fit_descriptors(struct config *c, const struct log *log, FILE *err);
/* A warning logged for each setting that is legal but almost certainly a
 * mistake (limits per address that would all count the proxy, a long-poll
 * a proxy cuts short, more memory than the machine has). */
void config_warn(const struct config *c, const struct log *log);
/* nginx's proxy_read_timeout, the shortest common default in front of us. */
#define CONFIG_PROXY_TIMEOUT 60

/* "127.0.0.1:8443", "[::1]:8443" (port 0: any free port): 0 or -1. */
int config_parse_listen(const char *s, struct config_listen *out);
/* "30/m", "5/s,20" (burst 20), "off": 0 or -1. */
int config_parse_rate(const char *s, struct ratelimit_rule *out);
/* "10.0.0.0/8", "fd00::/8", "192.0.2.7": 0 or -1. */
int config_parse_cidr(const char *s, struct config_cidr *out);
/* "com.apple.apns=1,com.google.fcm=2" into c->push_map: 0 or -1. */
int config_parse_push_map(const char *s, struct config *c);
/* The gorush platform of a token type, or 0 when it is not mapped. */
unsigned config_push_platform(const struct config *c, const char *type, size_t len);
/* The address bytes of a socket address: 4 for IPv4, including an IPv4
 * client of a dual-stack socket (::ffff:a.b.c.d counts as a.b.c.d), else 16. */
size_t config_address_bytes(const struct sockaddr_storage *ss, const uint8_t **addr);
/* Is this address (4 or 16 bytes) in one of the ranges? */
int config_cidrs_match(const struct config_cidrs *list, const uint8_t *addr, size_t addr_len);
/* Are these address bytes (as config_address_bytes gives them) loopback:
 * 127.0.0.0/8 or ::1? */
int config_is_loopback(const uint8_t *addr, size_t addr_len);

#endif
