/*
 * tlsload — a handshake load generator: every request on a new TCP
 * connection with a new TLS handshake, full or resumed; or N connections
 * held open and idle after their handshake, for the server's memory.
 *
 * wrk cannot make full handshakes: after a clean close it keeps the SSL
 * session and offers its ticket on the next connect, so with
 * "Connection: close" it measures resumed handshakes. This tool does either,
 * on purpose, and counts how many handshakes the server really resumed
 * (SSL_session_reused), so a "resumed" figure is never a full one in
 * disguise.
 *
 *   tlsload -p PORT [-v 1.2|1.3] [-s SUITE] [-c CONNS] [-d SECONDS]
 *           [-m full|resume] -r REQUEST_FILE
 *   tlsload -p PORT [-v 1.2|1.3] [-s SUITE] [-c CONNS] -m hold -n N
 *
 * full and resume: CONNS threads each loop: connect, handshake (resume mode
 * offers the session of the thread's previous connection), send the request
 * (which should carry "Connection: close"), read the whole response (by
 * Content-Length), close with close_notify. The server's CPU is measured
 * from outside; this prints one line:
 *
 *   BENCH_RESULT {"requests":…,"duration_us":…,"p50_us":…,"p99_us":…,
 *                 "reused":…,"errors":…,"version":…,"cipher":…,"group":…}
 *
 * hold: CONNS threads open N connections between them with a full
 * handshake each and send nothing; then this prints
 *
 *   BENCH_HELD {"held":…,"errors":…,"version":…,"cipher":…,"group":…}
 *
 * and keeps them open until its standard input closes, so that the caller
 * can read the server's memory meanwhile.
 *
 * TLS 1.2 with ECDHE-ECDSA-AES128-GCM-SHA256 only, or TLS 1.3 with
 * TLS_AES_128_GCM_SHA256 only (the default), as the bench's nginx is
 * configured, unless -s names another suite (OpenSSL's name); key exchange
 * X25519; no certificate check (the bench's own
 * certificate, on loopback). "version", "cipher" and "group" are what the
 * first handshake negotiated.
 *
 * In TLS 1.3 the server's session ticket arrives after the handshake, in
 * front of the response: resume mode takes the session (SSL_get1_session)
 * only once the response is read, so that it holds the ticket.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <openssl/err.h>
#include <openssl/ssl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum mode { MODE_FULL, MODE_RESUME, MODE_HOLD };

struct worker {
	pthread_t thread;
	uint32_t *lat_us;
	size_t lat_len, lat_cap;
	uint64_t requests, reused, errors;
	size_t hold_count; /* hold mode: connections this thread opens */
};

static SSL_CTX *ctx;
static struct sockaddr_in addr;
static char *request;
static size_t request_len;
static enum mode mode = MODE_FULL;
static atomic_int stop;
static int first_error_printed;
static pthread_mutex_t print_lock = PTHREAD_MUTEX_INITIALIZER;
/* What the first successful handshake negotiated, for the report. */
static char negotiated_version[32] = "none", negotiated_cipher[64] = "none",
            negotiated_group[32] = "none";
static int negotiated_seen;

static uint64_t now_us(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void report_error(const char *what)
{
	pthread_mutex_lock(&print_lock);
	if (!first_error_printed) {
		first_error_printed = 1;
		fprintf(stderr, "tlsload: %s: ", what);
		ERR_print_errors_fp(stderr);
		fprintf(stderr, " (errno %d %s)\n", errno, strerror(errno));
	}
	pthread_mutex_unlock(&print_lock);
}

static void note_negotiated(SSL *ssl)
{
	pthread_mutex_lock(&print_lock);
	if (!negotiated_seen) {
		negotiated_seen = 1;
		snprintf(negotiated_version, sizeof negotiated_version, "%s",
		         SSL_get_version(ssl));
		snprintf(negotiated_cipher, sizeof negotiated_cipher, "%s",
		         SSL_get_cipher_name(ssl));
		const char *group = SSL_group_to_name(ssl, SSL_get_negotiated_group(ssl));
		snprintf(negotiated_group, sizeof negotiated_group, "%s",
		         group != NULL ? group : "?");
	}
	pthread_mutex_unlock(&print_lock);
}

/* A connected TCP socket with TCP_NODELAY, or -1. */
static int connect_tcp(void)
{
	int fd = socket(AF_INET, SOCK_STREAM, 0);
	if (fd < 0) {
		report_error("socket");
		return -1;
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&addr, sizeof addr) != 0) {
		report_error("connect");
		close(fd);
		usleep(1000);
		return -1;
	}
	return fd;
}

/* Read one response: the head, then Content-Length bytes of body. */
static int read_response(SSL *ssl)
{
	char buf[16384];
	size_t have = 0;
	long body_left = -1; /* unknown until the head is complete */

	while (body_left != 0) {
		char *dst = body_left < 0 ? buf + have : buf;
		size_t room = body_left < 0 ? sizeof buf - have : sizeof buf;
		if (room == 0)
			return -1; /* a head larger than 16 KiB: not ours */
		int n = SSL_read(ssl, dst, (int)room);
		if (n <= 0)
			return -1;
		if (body_left >= 0) {
			body_left -= n;
			continue;
		}
		have += (size_t)n;
		char *end = memmem(buf, have, "\r\n\r\n", 4);
		if (end == NULL)
			continue;
		if (strncmp(buf, "HTTP/1.1 200 ", 13) != 0)
			return -1;
		long cl = 0;
		for (char *p = buf; p < end; p++) {
			if (*p == '\n' && strncasecmp(p + 1, "content-length:", 15) == 0) {
				cl = strtol(p + 16, NULL, 10);
				break;
			}
		}
		body_left = cl - (long)(have - (size_t)(end + 4 - buf));
	}
	return 0;
}

static void *worker_main(void *arg)
{
	struct worker *w = arg;
	SSL_SESSION *session = NULL;

	while (!atomic_load(&stop)) {
		uint64_t t0 = now_us();
		int fd = connect_tcp();
		if (fd < 0) {
			w->errors++;
			continue;
		}
		SSL *ssl = SSL_new(ctx);
		SSL_set_fd(ssl, fd);
		SSL_set_tlsext_host_name(ssl, "localhost");
		if (mode == MODE_RESUME && session != NULL)
			SSL_set_session(ssl, session);
		int ok = SSL_connect(ssl) == 1;
		if (!ok)
			report_error("handshake");
		if (ok && SSL_write(ssl, request, (int)request_len) != (int)request_len) {
			report_error("write");
			ok = 0;
		}
		if (ok && read_response(ssl) != 0) {
			report_error("response");
			ok = 0;
		}
		if (ok) {
			note_negotiated(ssl);
			if (SSL_session_reused(ssl))
				w->reused++;
			if (mode == MODE_RESUME) {
				/* After the response: a TLS 1.3 ticket came before it. */
				SSL_SESSION *s = SSL_get1_session(ssl);
				if (session != NULL)
					SSL_SESSION_free(session);
				session = s;
			}
			SSL_shutdown(ssl); /* close_notify: keeps the session resumable */
			uint64_t dt = now_us() - t0;
			if (w->lat_len == w->lat_cap) {
				w->lat_cap = w->lat_cap ? w->lat_cap * 2 : 65536;
				w->lat_us = realloc(w->lat_us, w->lat_cap * sizeof *w->lat_us);
				if (w->lat_us == NULL)
					abort();
			}
			w->lat_us[w->lat_len++] = dt > UINT32_MAX ? UINT32_MAX : (uint32_t)dt;
			w->requests++;
		} else {
			w->errors++;
		}
		SSL_free(ssl);
		close(fd);
	}
	if (session != NULL)
		SSL_SESSION_free(session);
	return NULL;
}

/* Hold mode: open w->hold_count connections, handshake each, keep them.
 * They stay open until the process exits (the kernel closes them). */
static void *holder_main(void *arg)
{
	struct worker *w = arg;

	for (size_t i = 0; i < w->hold_count; i++) {
		int fd = connect_tcp();
		if (fd < 0) {
			w->errors++;
			continue;
		}
		SSL *ssl = SSL_new(ctx);
		SSL_set_fd(ssl, fd);
		SSL_set_tlsext_host_name(ssl, "localhost");
		if (SSL_connect(ssl) != 1) {
			report_error("handshake");
			w->errors++;
			SSL_free(ssl);
			close(fd);
			continue;
		}
		note_negotiated(ssl);
		w->requests++;
	}
	return NULL;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static void usage(void)
{
	fprintf(stderr, "usage: tlsload -p PORT [-v 1.2|1.3] [-s SUITE] [-c CONNS] [-d SECONDS] "
	                "[-m full|resume] -r REQUEST_FILE\n"
	                "       tlsload -p PORT [-v 1.2|1.3] [-s SUITE] [-c CONNS] -m hold -n N\n");
	exit(2);
}

int main(int argc, char **argv)
{
	int port = 0, conns = 64, opt, version = TLS1_3_VERSION;
	long hold = 0;
	double seconds = 10;
	const char *request_file = NULL, *suite = NULL;

	while ((opt = getopt(argc, argv, "p:c:d:m:n:r:s:v:")) != -1) {
		switch (opt) {
		case 'p': port = atoi(optarg); break;
		case 'c': conns = atoi(optarg); break;
		case 'd': seconds = atof(optarg); break;
		case 'm':
			if (strcmp(optarg, "resume") == 0)
				mode = MODE_RESUME;
			else if (strcmp(optarg, "hold") == 0)
				mode = MODE_HOLD;
			else if (strcmp(optarg, "full") != 0)
				usage();
			break;
		case 'n': hold = atol(optarg); break;
		case 'r': request_file = optarg; break;
		case 's': suite = optarg; break;
		case 'v':
			if (strcmp(optarg, "1.2") == 0)
				version = TLS1_2_VERSION;
			else if (strcmp(optarg, "1.3") != 0)
				usage();
			break;
		default: usage();
		}
	}
	if (port <= 0 || conns <= 0 || seconds <= 0)
		usage();
	if (mode == MODE_HOLD ? hold <= 0 : request_file == NULL)
		usage();

	if (request_file != NULL) {
		FILE *f = fopen(request_file, "rb");
		if (f == NULL) {
			perror(request_file);
			return 1;
		}
		request = malloc(65536);
		request_len = fread(request, 1, 65536, f);
		fclose(f);
	}

	ctx = SSL_CTX_new(TLS_client_method());
	SSL_CTX_set_min_proto_version(ctx, version);
	SSL_CTX_set_max_proto_version(ctx, version);
	/* One suite per version, the same for both servers: the bench's nginx
	 * allows only these, and the relay gets no other choice. */
	int suite_ok;
	if (version == TLS1_2_VERSION)
		suite_ok = SSL_CTX_set_cipher_list(ctx, suite ? suite : "ECDHE-ECDSA-AES128-GCM-SHA256");
	else
		suite_ok = SSL_CTX_set_ciphersuites(ctx, suite ? suite : "TLS_AES_128_GCM_SHA256");
	if (!suite_ok) {
		fprintf(stderr, "tlsload: unknown cipher suite %s\n", suite);
		return 2;
	}
	/* X25519 is the one key share offered. P-256 is listed too because in
	 * TLS 1.2 the list also names the curves the server's ECDSA
	 * certificate may use (RFC 8422), and ours is on P-256. */
	SSL_CTX_set1_groups_list(ctx, "X25519:P-256");
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	/* Sessions are kept by hand (resume mode) or never offered (full mode);
	 * the client-side cache would only add locking. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);

	addr.sin_family = AF_INET;
	addr.sin_port = htons((uint16_t)port);
	addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);

	struct worker *workers = calloc((size_t)conns, sizeof *workers);
	if (mode == MODE_HOLD) {
		uint64_t held = 0, errors = 0;
		for (int i = 0; i < conns; i++) {
			workers[i].hold_count = (size_t)(hold / conns + (i < hold % conns));
			pthread_create(&workers[i].thread, NULL, holder_main, &workers[i]);
		}
		for (int i = 0; i < conns; i++) {
			pthread_join(workers[i].thread, NULL);
			held += workers[i].requests;
			errors += workers[i].errors;
		}
		printf("BENCH_HELD {\"held\":%llu,\"errors\":%llu,\"version\":\"%s\","
		       "\"cipher\":\"%s\",\"group\":\"%s\"}\n", (unsigned long long)held,
		       (unsigned long long)errors, negotiated_version, negotiated_cipher,
		       negotiated_group);
		fflush(stdout);
		char c;
		while (read(0, &c, 1) > 0)
			;
		return 0;
	}
	uint64_t start = now_us();
	for (int i = 0; i < conns; i++)
		pthread_create(&workers[i].thread, NULL, worker_main, &workers[i]);
	struct timespec ts = { (time_t)seconds,
	                       (long)((seconds - (double)(time_t)seconds) * 1e9) };
	nanosleep(&ts, NULL);
	atomic_store(&stop, 1);
	for (int i = 0; i < conns; i++)
		pthread_join(workers[i].thread, NULL);
	uint64_t elapsed = now_us() - start;

	uint64_t requests = 0, reused = 0, errors = 0;
	size_t total = 0;
	for (int i = 0; i < conns; i++) {
		requests += workers[i].requests;
		reused += workers[i].reused;
		errors += workers[i].errors;
		total += workers[i].lat_len;
	}
	uint32_t *all = malloc((total ? total : 1) * sizeof *all);
	size_t k = 0;
	for (int i = 0; i < conns; i++) {
		memcpy(all + k, workers[i].lat_us, workers[i].lat_len * sizeof *all);
		k += workers[i].lat_len;
	}
	qsort(all, total, sizeof *all, cmp_u32);
	uint32_t p50 = total ? all[total / 2] : 0;
	uint32_t p99 = total ? all[(size_t)((double)total * 0.99)] : 0;
	uint32_t max = total ? all[total - 1] : 0;
	printf("%.0f handshakes/s, %llu requests, %llu reused, %llu errors in %.2fs; "
	       "latency p50 %uus p99 %uus max %uus\n",
	       (double)requests * 1e6 / (double)elapsed, (unsigned long long)requests,
	       (unsigned long long)reused, (unsigned long long)errors,
	       (double)elapsed / 1e6, p50, p99, max);
	printf("BENCH_RESULT {\"requests\":%llu,\"duration_us\":%llu,\"p50_us\":%u,"
	       "\"p90_us\":%u,\"p99_us\":%u,\"max_us\":%u,\"reused\":%llu,\"errors\":%llu,"
	       "\"version\":\"%s\",\"cipher\":\"%s\",\"group\":\"%s\"}\n",
	       (unsigned long long)requests, (unsigned long long)elapsed, p50,
	       total ? all[(size_t)((double)total * 0.90)] : 0, p99, max,
	       (unsigned long long)reused, (unsigned long long)errors,
	       negotiated_version, negotiated_cipher, negotiated_group);
	return 0;
}
