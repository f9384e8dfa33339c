/*
 * metrics.c — counting, and the Prometheus text exposition format 0.0.4.
 *
 * Every family is written with its HELP and TYPE lines even before it has a
 * sample, so that a dashboard finds every name from the first scrape. The
 * series of requests and durations are written only for the routes,
 * methods and codes that have been seen: a few dozen lines instead of
 * hundreds of zeros. Names follow Prometheus's conventions: the relay_
 * prefix, _total on counters, seconds and bytes.
 */
#include <dirent.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <llhttp.h>

#include "net/tls.h"
#include "server/config.h"
#include "server/metrics.h"

static const int metrics_statuses[METRICS_STATUSES] = {
	200, 201, 204, 400, 401, 404, 405, 408, 412, 413, 415, 429, 431, 500, 503
};

static const char *const metrics_method_names[METRICS_METHODS] = {
	"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "other", "unknown"
};

/* Upper bounds in microseconds, and as the le label says them. */
static const uint64_t metrics_bounds_us[METRICS_BUCKETS] = {
	100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 500000,
	1000000, 2500000, 5000000, 10000000, 30000000, 60000000, 120000000
};
static const char *const metrics_bounds[METRICS_BUCKETS] = {
	"0.0001", "0.00025", "0.0005", "0.001", "0.0025", "0.005", "0.01", "0.025", "0.05",
	"0.1", "0.25", "0.5", "1", "2.5", "5", "10", "30", "60", "120"
};

static const char *const metrics_tls_names[METRICS_TLS_VERSIONS] = {
	"TLSv1.2", "TLSv1.3", "unknown"
};
static const char *const metrics_handshake_names[METRICS_HANDSHAKE_RESULTS] = {
	"full", "resumed", "failed"
};
static const char *const metrics_refusal_names[METRICS_REFUSALS] = {
	"per_address", "no_descriptors", "no_memory", "admin_not_allowed", "admin_busy"
};
static const char *const metrics_conn_state_names[METRICS_CONN_STATES] = {
	"handshake", "idle", "reading", "parked", "writing", "closing"
};

void metrics_init(struct metrics *m, int64_t started_at)
{
	memset(m, 0, sizeof(*m));
	m->started_at = started_at;
}

static enum metrics_method metrics_method(unsigned method)
{
	switch (method) {
	case HTTP_GET: return METRICS_GET;
	case HTTP_HEAD: return METRICS_HEAD;
	case HTTP_POST: return METRICS_POST;
	case HTTP_PUT: return METRICS_PUT;
	case HTTP_DELETE: return METRICS_DELETE;
	case HTTP_PATCH: return METRICS_PATCH;
	case HTTP_OPTIONS: return METRICS_OPTIONS;
	case CONN_METHOD_UNKNOWN: return METRICS_NO_METHOD;
	default: return METRICS_OTHER_METHOD;
	}
}

/* Any other code is counted as the 500 that protocol/response.c would
 * have written for it. */
static size_t metrics_status(unsigned status)
{
	size_t i;

	for (i = 0; i < METRICS_STATUSES; i++) {
		if ((unsigned)metrics_statuses[i] == status)
			return i;
	}
	for (i = 0; metrics_statuses[i] != 500; i++)
		continue;
	return i;
}

void metrics_count_request(struct metrics *m, const struct conn_request *r)
{
	size_t route = r->route < API_ROUTES ? r->route : API_ROUTE_NONE;
	enum metrics_method method = metrics_method(r->method);
	struct metrics_histogram *h = &m->duration[route][method];
	uint64_t us = r->duration_us > 0 ? (uint64_t)r->duration_us : 0;

	m->requests[route][method][metrics_status(r->status)]++;
	for (size_t i = 0; i < METRICS_BUCKETS; i++) {
		if (us <= metrics_bounds_us[i]) {
			h->bucket[i]++;
			break;
		}
	}
	h->count++;
	h->sum_us += us;
}

void metrics_count_handshake(struct metrics *m, const struct transport_info *info,
    int completed)
{
	enum metrics_tls_version version = METRICS_TLS_UNKNOWN;

	if (info->version != NULL && strcmp(info->version, "TLSv1.3") == 0)
		version = METRICS_TLS13;
	else if (info->version != NULL && strcmp(info->version, "TLSv1.2") == 0)
		version = METRICS_TLS12;
	m->handshakes[version][!completed ? METRICS_HANDSHAKE_FAILED :
	    info->resumed ? METRICS_HANDSHAKE_RESUMED : METRICS_HANDSHAKE_FULL]++;
}

void metrics_count_refused(struct metrics *m, enum metrics_refusal why)
{
	m->refused[why]++;
}

enum metrics_conn_state metrics_conn_state(const struct conn *c)
{
	switch (c->state) {
	case CONN_HANDSHAKE: return METRICS_CONN_HANDSHAKE;
	case CONN_READ:
		return c->timer_kind == CONN_TIMER_IDLE || c->timer_kind == CONN_TIMER_FIRST ?
		    METRICS_CONN_IDLE : METRICS_CONN_READING;
	/* Still being answered. */
	case CONN_PENDING: return METRICS_CONN_READING;
	case CONN_PARKED: return METRICS_CONN_PARKED;
	case CONN_WRITE: return METRICS_CONN_WRITING;
	default: return METRICS_CONN_CLOSING;
	}
}

/* --- the text ----------------------------------------------------------- */

static void metrics_family(struct buf *out, const char *name, const char *type,
    const char *help)
{
	buf_append_lit(out, "# HELP ");
	buf_append_str(out, name);
	buf_append_lit(out, " ");
	buf_append_str(out, help);
	buf_append_lit(out, "\n# TYPE ");
	buf_append_str(out, name);
	buf_append_lit(out, " ");
	buf_append_str(out, type);
	buf_append_lit(out, "\n");
}

/* Label values are the fixed strings above, route templates and library
 * versions: none needs escaping. */
static void metrics_label(struct buf *out, int first, const char *key, const char *value)
{
	buf_append_str(out, first ? "{" : ",");
	buf_append_str(out, key);
	buf_append_lit(out, "=\"");
	buf_append_str(out, value);
	buf_append_lit(out, "\"");
}

/* After the name and labels (if any) of a sample: its value. */
static void metrics_value(struct buf *out, int labelled, uint64_t value)
{
	buf_append_str(out, labelled ? "} " : " ");
	buf_append_uint(out, value);
	buf_append_lit(out, "\n");
}

/* The same for a value in units of 10^-digits: 1234 with 3 digits is
 * 1.234 (milliseconds as seconds). */
static void metrics_value_scaled(struct buf *out, int labelled, uint64_t value,
    unsigned digits)
{
	uint64_t scale = 1;
	char frac[8];

	for (unsigned i = 0; i < digits; i++)
		scale *= 10;
	buf_append_str(out, labelled ? "} " : " ");
	buf_append_uint(out, value / scale);
	snprintf(frac, sizeof(frac), ".%0*llu", (int)digits,
	    (unsigned long long)(value % scale));
	buf_append_str(out, frac);
	buf_append_lit(out, "\n");
}

/* A family of one sample without labels. */
static void metrics_single(struct buf *out, const char *name, const char *type,
    const char *help, uint64_t value)
{
	metrics_family(out, name, type, help);
	buf_append_str(out, name);
	metrics_value(out, 0, value);
}

/* A family whose samples differ in one label: its values, names[i] for
 * values[i]. */
static void metrics_by_label(struct buf *out, const char *name, const char *type,
    const char *help, const char *label, const char *const *names, const uint64_t *values,
    size_t count)
{
	metrics_family(out, name, type, help);
	for (size_t i = 0; i < count; i++) {
		buf_append_str(out, name);
		metrics_label(out, 1, label, names[i]);
		metrics_value(out, 1, values[i]);
	}
}

static void metrics_route_labels(struct buf *out, const char *name, size_t route,
    size_t method)
{
	buf_append_str(out, name);
	metrics_label(out, 1, "route", api_route_template((enum api_route)route));
	metrics_label(out, 0, "method", metrics_method_names[method]);
}

static void metrics_render_requests(const struct metrics *m, struct buf *out)
{
	static const char duration[] = "relay_http_request_duration_seconds";

	metrics_family(out, "relay_http_requests_total", "counter",
	    "Requests answered on the API listeners, by route template, method and status code.");
	for (size_t r = 0; r < API_ROUTES; r++) {
		for (size_t me = 0; me < METRICS_METHODS; me++) {
			for (size_t st = 0; st < METRICS_STATUSES; st++) {
				char code[8];

				if (m->requests[r][me][st] == 0)
					continue;
				snprintf(code, sizeof(code), "%d", metrics_statuses[st]);
				metrics_route_labels(out, "relay_http_requests_total", r, me);
				metrics_label(out, 0, "code", code);
				metrics_value(out, 1, m->requests[r][me][st]);
			}
		}
	}
	metrics_family(out, duration, "histogram", "Time from a request's first byte to its "
	    "answer, by route template and method (long-polls include their wait).");
	for (size_t r = 0; r < API_ROUTES; r++) {
		for (size_t me = 0; me < METRICS_METHODS; me++) {
			const struct metrics_histogram *h = &m->duration[r][me];
			uint64_t below = 0;

			if (h->count == 0)
				continue;
			for (size_t b = 0; b < METRICS_BUCKETS; b++) {
				below += h->bucket[b];
				metrics_route_labels(out, "relay_http_request_duration_seconds_bucket",
				    r, me);
				metrics_label(out, 0, "le", metrics_bounds[b]);
				metrics_value(out, 1, below);
			}
			metrics_route_labels(out, "relay_http_request_duration_seconds_bucket", r, me);
			metrics_label(out, 0, "le", "+Inf");
			metrics_value(out, 1, h->count);
			metrics_route_labels(out, "relay_http_request_duration_seconds_sum", r, me);
			metrics_value_scaled(out, 1, h->sum_us, 6);
			metrics_route_labels(out, "relay_http_request_duration_seconds_count", r, me);
			metrics_value(out, 1, h->count);
		}
	}
}

static void metrics_render_connections(const struct metrics *m,
    const struct metrics_gauges *g, struct buf *out)
{
	const char *reasons[API_REFUSALS];

	for (size_t i = 0; i < API_REFUSALS; i++)
		reasons[i] = api_refusal_name((enum api_refusal)i);
	metrics_by_label(out, "relay_requests_refused_total", "counter",
	    "Requests turned away for want of room or rate (429, 503), by reason.",
	    "reason", reasons, g->refused, API_REFUSALS);
	metrics_single(out, "relay_connections_accepted_total", "counter",
	    "Connections accepted on the API listeners.", m->accepted);
	metrics_by_label(out, "relay_connections_refused_total", "counter",
	    "Connections closed as soon as they were accepted, by reason.",
	    "reason", metrics_refusal_names, m->refused, METRICS_REFUSALS);
	metrics_by_label(out, "relay_connections", "gauge",
	    "Open connections on the API listeners, by what they are doing.",
	    "state", metrics_conn_state_names, g->connections, METRICS_CONN_STATES);
	metrics_family(out, "relay_tls_handshakes_total", "counter",
	    "TLS handshakes that ended: full, resumed from a session ticket, or failed "
	    "(version unknown when none was agreed).");
	for (size_t v = 0; v < METRICS_TLS_VERSIONS; v++) {
		for (size_t r = 0; r < METRICS_HANDSHAKE_RESULTS; r++) {
			buf_append_lit(out, "relay_tls_handshakes_total");
			metrics_label(out, 1, "version", metrics_tls_names[v]);
			metrics_label(out, 0, "result", metrics_handshake_names[r]);
			metrics_value(out, 1, m->handshakes[v][r]);
		}
	}
	metrics_single(out, "relay_longpolls_parked", "gauge",
	    "Long-polls waiting for their mailbox to change.", g->waiters);
}

static void metrics_render_store(const struct metrics_gauges *g, struct buf *out)
{
	/* The families of one unlabelled value, in the order they are shown. */
	const struct {
		const char *name, *type, *help;
		uint64_t value;
	} singles[] = {
		{ "relay_mailboxes", "gauge", "Mailboxes held.", g->store.mailboxes },
		{ "relay_mailboxes_max", "gauge", "Mailboxes held at most (--max-mailboxes).",
		    g->max_mailboxes },
		{ "relay_store_bytes", "gauge", "Bytes held for mailboxes, every byte counted "
		    "(--max-memory's measure).", g->store.bytes },
		{ "relay_store_bytes_max", "gauge", "Bytes held at most (--max-memory).",
		    g->max_memory },
		{ "relay_mailboxes_created_total", "counter",
		    "Mailboxes created (not those restored from the state file).", g->store.created },
		{ "relay_mailboxes_expired_total", "counter", "Mailboxes removed at their expiry.",
		    g->store.expired },
		{ "relay_mailboxes_deleted_total", "counter", "Mailboxes deleted by a device.",
		    g->store.deleted },
		{ "relay_push_queue_depth", "gauge",
		    "Pushes waiting for the gateway, queued or in flight.", g->push.queued },
		{ "relay_pushes_sent_total", "counter", "Pushes the gateway accepted.", g->push.sent },
		{ "relay_pushes_failed_total", "counter",
		    "Pushes the gateway refused, or given up after retries.", g->push.failed },
		{ "relay_pushes_dropped_total", "counter",
		    "Pushes dropped from a full queue (--push-queue).", g->push.dropped },
	};

	for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++)
		metrics_single(out, singles[i].name, singles[i].type, singles[i].help,
		    singles[i].value);
	metrics_family(out, "relay_snapshot_duration_seconds", "gauge",
	    "How long the last periodic snapshot took, written or not (0: none yet).");
	buf_append_lit(out, "relay_snapshot_duration_seconds");
	metrics_value_scaled(out, 0, (uint64_t)g->snapshot_duration_ms, 3);
	metrics_single(out, "relay_snapshot_last_success_timestamp_seconds", "gauge",
	    "When the last periodic snapshot was written, Unix seconds (0: never).",
	    (uint64_t)g->snapshot_written_at);
	metrics_single(out, "relay_snapshot_failures_total", "counter",
	    "Periodic snapshots that were not written.", g->snapshot_failures);
}

/* Resident memory from /proc/self/statm; -1 when it cannot be read. */
static int metrics_resident_bytes(uint64_t *bytes)
{
	FILE *f = fopen("/proc/self/statm", "re");
	unsigned long long size, resident;
	long page = sysconf(_SC_PAGESIZE);
	int ok;

	if (f == NULL)
		return -1;
	ok = fscanf(f, "%llu %llu", &size, &resident) == 2 && page > 0;
	fclose(f);
	if (!ok)
		return -1;
	*bytes = resident * (uint64_t)page;
	return 0;
}

/* Open descriptors, counted in /proc/self/fd (less the one reading it). */
static int metrics_open_fds(uint64_t *count)
{
	DIR *dir = opendir("/proc/self/fd");
	struct dirent *e;
	uint64_t n = 0;

	if (dir == NULL)
		return -1;
	while ((e = readdir(dir)) != NULL) {
		if (e->d_name[0] != '.')
			n++;
	}
	closedir(dir);
	*count = n > 0 ? n - 1 : 0;
	return 0;
}

static void metrics_render_process(const struct metrics *m, struct buf *out)
{
	uint64_t value;

	metrics_single(out, "relay_process_start_time_seconds", "gauge",
	    "When the relay started, Unix seconds.", (uint64_t)m->started_at);
	metrics_family(out, "relay_process_resident_memory_bytes", "gauge",
	    "Resident memory of the relay process.");
	if (metrics_resident_bytes(&value) == 0) {
		buf_append_lit(out, "relay_process_resident_memory_bytes");
		metrics_value(out, 0, value);
	}
	metrics_family(out, "relay_process_open_fds", "gauge",
	    "File descriptors the relay process holds open.");
	if (metrics_open_fds(&value) == 0) {
		buf_append_lit(out, "relay_process_open_fds");
		metrics_value(out, 0, value);
	}
}

void metrics_render(const struct metrics *m, const struct metrics_gauges *g, struct buf *out)
{
	metrics_family(out, "relay_build_info", "gauge",
	    "Always 1: the relay's version and its TLS library's.");
	buf_append_lit(out, "relay_build_info");
	metrics_label(out, 1, "version", CONFIG_VERSION);
	metrics_label(out, 0, "mbedtls", tls_library_version());
	metrics_value(out, 1, 1);
	metrics_single(out, "relay_ready", "gauge",
	    "1 when /readyz answers 200, else 0.", g->ready ? 1 : 0);
	metrics_render_requests(m, out);
	metrics_render_connections(m, g, out);
	metrics_render_store(g, out);
	metrics_render_process(m, out);
}
