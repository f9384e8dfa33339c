/*
 * persist.c — snapshots in a child process, as Redis's BGSAVE does.
 *
 * fork() gives the child a copy-on-write image of the store as it is at that
 * instant; the child writes it out and exits while the parent goes on
 * serving. Only one child runs at a time: an interval that comes round while
 * the previous snapshot is still being written is skipped. The child never
 * touches the event loop, the sockets or stdio buffers it inherited.
 */
#include <errno.h>
#include <signal.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "lib/clock.h"
#include "server/persist.h"
#include "storage/snapshot.h"

/* Unix seconds, as snapshots count them. */
static int64_t persist_now(const struct persist *p)
{
	return p->context.now(p->context.owner);
}

/* A periodic snapshot has ended, written or not. */
static void persist_ended(struct persist *p, int written)
{
	p->last_failed = !written;
	if (written)
		p->last_written_at = persist_now(p);
	else
		p->failures++;
}

static void persist_reap(struct persist *p)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		if (pid != p->child)
			continue;
		p->child = 0;
		p->last_duration_ms = clock_mono_now_ms() - p->child_started_ms;
		persist_ended(p, WIFEXITED(status) && WEXITSTATUS(status) == 0);
		if (!p->last_failed)
			continue;
		/* A child that failed removed its file; one that crashed did not. */
		if (!WIFEXITED(status))
			snapshot_temp_remove(&p->child_temp);
		log_event(p->context.log, LOG_ERROR, "snapshot failed (see above); the previous one "
		    "is still in place", LOG_STR("file", p->context.path), LOG_END);
	}
}

static void persist_on_sigchld(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	persist_reap(arg);
}

/* The child shares libevent's signal pipe with the parent: a signal sent to
 * it alone (Ctrl-C reaches the whole process group, systemd signals every
 * process of a service) would be read by the parent as its own, and a
 * SIGTERM meant for a snapshot would stop the relay. So the child takes
 * back the default of every signal the parent handles, and ends on one like
 * any process: the parent sees a failed snapshot. Signals stay blocked from
 * before fork() until then, so none slips in between. */
static void persist_child_signals(const sigset_t *old)
{
	for (int sig = 1; sig < NSIG; sig++) {
		struct sigaction sa;

		if (sigaction(sig, NULL, &sa) == 0 && ((sa.sa_flags & SA_SIGINFO) ||
		    (sa.sa_handler != SIG_DFL && sa.sa_handler != SIG_IGN)))
			signal(sig, SIG_DFL);
	}
	sigprocmask(SIG_SETMASK, old, NULL);
}

static void persist_on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct persist *p = arg;
	const struct persist_context *ctx = &p->context;
	struct snapshot_temp temp;
	char err[512];
	sigset_t all, old;
	int64_t now = persist_now(p);
	pid_t pid;

	(void)fd;
	(void)what;
	if (p->child != 0)
		return;
	/* Made here rather than in the child, so that the name is known if the
	 * child has to be killed or dies. */
	if (snapshot_temp_open(ctx->path, &temp, err, sizeof(err)) != 0) {
		log_event(ctx->log, LOG_ERROR, "snapshot failed", LOG_STR("error", err), LOG_END);
		persist_ended(p, 0);
		return;
	}
	/* Counted from before the fork, which copies the page tables. */
	p->child_started_ms = clock_mono_now_ms();
	sigfillset(&all);
	sigprocmask(SIG_BLOCK, &all, &old);
	pid = fork();
	if (pid != 0)
		sigprocmask(SIG_SETMASK, &old, NULL);
	if (pid < 0) {
		log_event(ctx->log, LOG_ERROR, "snapshot failed: cannot fork",
		    LOG_STR("error", strerror(errno)), LOG_END);
		snapshot_temp_remove(&temp);
		persist_ended(p, 0);
		return;
	}
	if (pid == 0) {
		int ok;

		persist_child_signals(&old);
		ok = snapshot_write_temp(ctx->store, &temp, ctx->path, now, err, sizeof(err)) == 0;
		if (!ok)
			log_event(ctx->log, LOG_ERROR, "snapshot failed", LOG_STR("error", err), LOG_END);
		_exit(ok ? 0 : 1);
	}
	snapshot_temp_close(&temp);
	p->child_temp = temp;
	p->child = pid;
}

int persist_check(const char *path, const struct log *log)
{
	struct snapshot_temp temp;
	char err[600];

	if (path == NULL)
		return 0;
	if (snapshot_temp_open(path, &temp, err, sizeof(err)) != 0) {
		log_event(log, LOG_ERROR, "cannot start: --state-file's directory must exist and be "
		    "writable", LOG_STR("error", err), LOG_END);
		return -1;
	}
	snapshot_temp_remove(&temp);
	return 0;
}

int persist_init(struct persist *p, const struct persist_context *context)
{
	const struct persist_context *ctx = &p->context;
	struct snapshot_loaded loaded;
	char err[600];

	memset(p, 0, sizeof(*p));
	p->context = *context;
	if (ctx->path == NULL)
		return 0;
	if (snapshot_load(ctx->store, ctx->path, persist_now(p), ctx->max_ttl, &loaded, err,
	    sizeof(err)) != 0) {
		log_event(ctx->log, LOG_ERROR, "cannot start: --state-file cannot be loaded (move it "
		    "away to start empty)", LOG_STR("error", err), LOG_END);
		return -1;
	}
	if (loaded.empty)
		log_event(ctx->log, LOG_WARN, "state file is empty: starting with no mailboxes",
		    LOG_STR("file", ctx->path), LOG_END);
	if (loaded.mailboxes > 0)
		log_event(ctx->log, LOG_INFO, "restored mailboxes from the state file",
		    LOG_UINT("mailboxes", loaded.mailboxes), LOG_STR("file", ctx->path),
		    LOG_UINT("shortened_to_max_ttl", loaded.shortened), LOG_END);
	if (ctx->snapshot_interval > 0) {
		struct timeval every = { (time_t)ctx->snapshot_interval, 0 };

		p->timer = event_new(ctx->base, -1, EV_PERSIST, persist_on_timer, p);
		p->sigchld = evsignal_new(ctx->base, SIGCHLD, persist_on_sigchld, p);
		if (p->timer == NULL || p->sigchld == NULL) {
			log_event(ctx->log, LOG_ERROR, "cannot start: cannot create the snapshot timer",
			    LOG_END);
			return -1;
		}
		event_add(p->timer, &every);
		event_add(p->sigchld, NULL);
	}
	return 0;
}

int persist_final(struct persist *p)
{
	const struct persist_context *ctx = &p->context;
	char err[512];

	if (ctx->path == NULL)
		return 0;
	/* A snapshot still being written is older than the one about to be. */
	if (p->child != 0) {
		kill(p->child, SIGKILL);
		waitpid(p->child, NULL, 0);
		snapshot_temp_remove(&p->child_temp);
		p->child = 0;
	}
	if (snapshot_write(ctx->store, ctx->path, persist_now(p), err, sizeof(err)) != 0) {
		log_event(ctx->log, LOG_ERROR, "final snapshot failed: the mailboxes of this run are "
		    "lost", LOG_STR("error", err), LOG_END);
		return -1;
	}
	log_event(ctx->log, LOG_INFO, "saved mailboxes to the state file",
	    LOG_UINT("mailboxes", store_stats(ctx->store).mailboxes), LOG_STR("file", ctx->path),
	    LOG_END);
	return 0;
}

void persist_free(struct persist *p)
{
	if (p->timer != NULL)
		event_free(p->timer);
	if (p->sigchld != NULL)
		event_free(p->sigchld);
	p->timer = p->sigchld = NULL;
}
