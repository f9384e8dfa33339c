/*
 * metrics.h — the relay's counters, and their Prometheus text exposition
 * (format 0.0.4) for the admin listener's GET /metrics.
 *
 * What the server sees happen is counted here, in fixed arrays that an event
 * only indexes: no allocation and no lookup on the request path. What other
 * modules count themselves (the store, the api's refusals, push, persist)
 * and what is true at the moment (gauges) is gathered by the server when it
 * is scraped, into struct metrics_gauges. Nothing here can hold an
 * identifier, a claim, a token, a payload or an address: every label is a
 * route template, a method, a status code or a fixed reason.
 */
#ifndef SERVER_METRICS_H
#define SERVER_METRICS_H

#include <stddef.h>
#include <stdint.h>

#include "lib/buf.h"
#include "net/transport.h"
#include "protocol/api.h"
#include "server/conn.h"
#include "server/push.h"
#include "storage/store.h"

/* Methods the relay answers, then the rest, then none read (a request
 * given up on before its head was whole). */
enum metrics_method {
	METRICS_GET, METRICS_HEAD, METRICS_POST, METRICS_PUT, METRICS_DELETE,
	METRICS_PATCH, METRICS_OPTIONS, METRICS_OTHER_METHOD, METRICS_NO_METHOD,
	METRICS_METHODS
};

/* The status codes the relay sends (protocol/response.c). */
#define METRICS_STATUSES 15
/* Request duration buckets, 100 µs to 2 min: a request answered from
 * memory, up to a long-poll held for --max-wait. */
#define METRICS_BUCKETS 19

enum metrics_tls_version {
	METRICS_TLS12, METRICS_TLS13, METRICS_TLS_UNKNOWN,     /* none agreed */
	METRICS_TLS_VERSIONS
};

enum metrics_handshake {
	METRICS_HANDSHAKE_FULL, METRICS_HANDSHAKE_RESUMED, METRICS_HANDSHAKE_FAILED,
	METRICS_HANDSHAKE_RESULTS
};

/* Why a connection was closed as soon as it was accepted. */
enum metrics_refusal {
	METRICS_REFUSED_PER_ADDRESS,    /* --max-connections-per-address */
	METRICS_REFUSED_NO_DESCRIPTORS, /* out of file descriptors: turned away */
	METRICS_REFUSED_NO_MEMORY,
	METRICS_REFUSED_ADMIN_NOT_ALLOWED,      /* not loopback nor --admin-allow */
	METRICS_REFUSED_ADMIN_BUSY,     /* the admin listener's few are all open */
	METRICS_REFUSALS
};

/* Open connections, by what they are doing. */
enum metrics_conn_state {
	METRICS_CONN_HANDSHAKE, METRICS_CONN_IDLE, METRICS_CONN_READING,
	METRICS_CONN_PARKED, METRICS_CONN_WRITING, METRICS_CONN_CLOSING,
	METRICS_CONN_STATES
};

struct metrics_histogram {
	uint64_t bucket[METRICS_BUCKETS];       /* each its own, not cumulative */
	uint64_t count;
	uint64_t sum_us;
};

struct metrics {
	uint64_t requests[API_ROUTES][METRICS_METHODS][METRICS_STATUSES];
	struct metrics_histogram duration[API_ROUTES][METRICS_METHODS];
	uint64_t handshakes[METRICS_TLS_VERSIONS][METRICS_HANDSHAKE_RESULTS];
	uint64_t accepted;                      /* connections */
	uint64_t refused[METRICS_REFUSALS];     /* connections */
	int64_t started_at;                     /* the process, Unix seconds */
};

/* What the server gathers when it is scraped. */
struct metrics_gauges {
	struct store_stats store;
	size_t max_mailboxes, max_memory;
	const uint64_t *refused;                /* api_refusals() */
	size_t waiters;                         /* parked long-polls */
	uint64_t connections[METRICS_CONN_STATES];
	struct push_stats push;                 /* all 0 without a gateway */
	int64_t snapshot_duration_ms;           /* the last periodic one, or 0 */
	int64_t snapshot_written_at;            /* Unix seconds, or 0: none yet */
	uint64_t snapshot_failures;
	int ready;                              /* what /readyz answers */
};

void metrics_init(struct metrics *m, int64_t started_at);
/* An answered request; its route, method and status pick the counters. */
void metrics_count_request(struct metrics *m, const struct conn_request *r);
/* A TLS handshake ended: completed (full or resumed, as info says) or not. */
void metrics_count_handshake(struct metrics *m, const struct transport_info *info,
    int completed);
void metrics_count_refused(struct metrics *m, enum metrics_refusal why);
/* What an open connection is doing, for the gauge of connections. */
enum metrics_conn_state metrics_conn_state(const struct conn *c);

/* Append the whole exposition to out: the counters, the gauges, and the
 * process's resident memory and open descriptors, read from /proc now. */
void metrics_render(const struct metrics *m, const struct metrics_gauges *g, struct buf *out);

#endif
