/*
 * redis_store.c — the mailboxes in Redis, shared by several relays.
 *
 * Each call builds one EVALSHA (EVAL again, with the script's text, when
 * Redis answers NOSCRIPT: a restarted or promoted server has none loaded),
 * keeps its arguments until the reply, and reads the reply into the same
 * answer the memory store gives. A mailbox in an answer is a view made from
 * the reply (store_view_new), freed once done has read it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/event.h>
#include <event2/event_struct.h>
#include <hiredis/hiredis.h>

#include "lib/container_of.h"
#include "net/keyed.h"
#include "storage/mailbox.h"
#include "storage/redis_store.h"
#include "storage/table.h"

#include "redis_scripts.h"

/* A claim is kept as the first 16 bytes of its HMAC-SHA-256. */
#define REDIS_CLAIM_HASH_LEN 16
/* Arguments of a script call: EVALSHA, sha, numkeys, KEYS, ARGV. */
#define REDIS_ARGS_MAX 32
/* Calls in a row that got no answer in time before the connection is
 * judged hung and made again: hiredis has no timeout of its own. */
#define REDIS_TIMEOUTS_MAX 3
/* Identifiers drawn for one create before giving up (each clash is 2^-122). */
#define REDIS_CREATE_TRIES 3
/* A call's answer may take the timeout and 1 ms more for each this many
 * bytes it carries: a payload of megabytes is copied a few times in Redis
 * (into Lua, packed, stored), more slowly on a busy machine. */
#define REDIS_BYTES_PER_MS 5000
/* How long a change heard is remembered (s), and how many at most: longer
 * than an answer may take (the call's timeout), and bounded under a flood. */
#define REDIS_HEARD_S 4
#define REDIS_HEARD_MAX 65536

enum redis_script {
	REDIS_CREATE,
	REDIS_READ,
	REDIS_UPDATE,
	REDIS_DELETE,
	REDIS_RELINQUISH,
	REDIS_PREVIEW,
	REDIS_PEEK,
	REDIS_RATE,
	REDIS_DROP_TOKEN,
	REDIS_UNPARK,
	REDIS_SCRIPTS
};

static const struct {
	const char *name;
	const char *text;
} redis_scripts[REDIS_SCRIPTS] = {
	[REDIS_CREATE] = { "create", redis_script_create },
	[REDIS_READ] = { "read", redis_script_read },
	[REDIS_UPDATE] = { "update", redis_script_update },
	[REDIS_DELETE] = { "delete", redis_script_delete },
	[REDIS_RELINQUISH] = { "relinquish", redis_script_relinquish },
	[REDIS_PREVIEW] = { "preview", redis_script_preview },
	[REDIS_PEEK] = { "peek", redis_script_peek },
	[REDIS_RATE] = { "rate", redis_script_rate },
	[REDIS_DROP_TOKEN] = { "drop_token", redis_script_drop_token },
	[REDIS_UNPARK] = { "unpark", redis_script_unpark },
};

/* The verdicts the scripts reply with (docs/redis-store.md). */
enum redis_verdict {
	REDIS_V_DONE,
	REDIS_V_REPEATED,
	REDIS_V_NOT_FOUND,
	REDIS_V_UNAUTHORIZED,
	REDIS_V_NOT_MATCHED,
	REDIS_V_BAD_BODY,
	REDIS_V_FULL,
	REDIS_V_OWNER_FULL,
	REDIS_V_EXISTS,
	REDIS_V_RATE_LIMITED,           /* and the seconds until a token */
	REDIS_V_WAITERS_FULL
};

/* The fields of a DONE or REPEATED reply, in order. */
enum redis_field {
	RF_VERDICT, RF_PARTY, RF_REMEMBERED, RF_ID, RF_ETAG, RF_EXPIRES, RF_RIGHTS,
	RF_BOUND, RF_PT, RF_PD, RF_DT, RF_DD, RF_DI, RF_T0T, RF_T0D, RF_T1T, RF_T1D,
	RF_COUNT
};

struct redis_store {
	struct redis *redis;
	/* The second connection: every change to a mailbox, from any relay
	 * (PSUBSCRIBE P w:*), for the long-polls parked here. */
	struct redis *sub;
	/* With Sentinel: its announcements, which both connections follow. */
	struct redis *sentinel;
	struct table watches;           /* struct redis_watch, by mailbox id */
	/* Changes heard lately (struct redis_heard, by mailbox id), oldest
	 * first. */
	struct table heard;
	struct redis_heard *heard_oldest, *heard_newest;
	char *channel_prefix;           /* P "w:" */
	struct event_base *base;
	/* Live mailboxes in Redis, for every relay: counted each second
	 * (ZCOUNT), and moved by this relay's own creates and deletes between. */
	size_t mailboxes;
	struct event count_timer;
	int counting;
	char sha[REDIS_SCRIPTS][41];
	unsigned loading;               /* SCRIPT LOADs unanswered in this hello */
	int load_failed;
	char load_error[128];
	uint8_t *secret;
	size_t secret_len;
	char *prefix, *push_types;
	size_t max_mailboxes, max_owner_bytes;
	struct ratelimit_rule rate_create, rate_fail;
	size_t max_waiters;
	int64_t (*offset_ms)(void *ctx);
	/* Long-polls' places in Redis are named <relay>:<lease>: this relay's
	 * random name, and the last lease number given. */
	char relay_name[17];
	uint64_t leases;
	unsigned timeout_ms;
	unsigned wait_replicas;
	store_random_fn random;
	void *random_ctx;
	int64_t (*now)(void *ctx);
	void (*state)(void *ctx, int up, const char *why);
	void *state_ctx;
	size_t parked_count;            /* long-polls parked here */
	unsigned timeouts;              /* calls timed out since the last reply */
	/* A change may have gone unheard (the subscription was down, or a
	 * waiter's peek could not be sent): every waiter reads again once both
	 * connections are up. */
	int recheck_due;
};

/* One script call, until its reply (which may come after its answer: a
 * timeout, a cancel). */
struct redis_op {
	struct redis_store *s;
	struct access_request *req;     /* NULL once answered or cancelled */
	int detached;                   /* sent for its effect: nobody waits */
	uint64_t lease;                 /* read: the long-poll's place, if it takes one */
	struct event timer;
	enum redis_script script;
	int evaled;                     /* sent again as EVAL after NOSCRIPT */
	/* --store-wait-replicas: WAITs sent after the script, unanswered; the
	 * script's DONE is held (answer and view) until the last one says
	 * enough replicas have it. */
	int waiting;
	int replies;                    /* scripts sent, not yet answered */
	int unconfirmed;                /* a WAIT could not be sent */
	int holding;
	struct access_answer held;
	int tries;                      /* create: identifiers drawn */
	int argc;
	size_t at[REDIS_ARGS_MAX];      /* where each argument starts in arena */
	size_t lens[REDIS_ARGS_MAX];
	char *arena;                    /* the arguments' bytes */
	size_t arena_len, arena_cap;
};

/* --- arguments ------------------------------------------------------------ */

/* Append one argument's bytes to the op's arena (by offset: the arena moves
 * as it grows). */
static int redis_op_arg(struct redis_op *op, const void *bytes, size_t len)
{
	if (op->argc == REDIS_ARGS_MAX)
		return -1;
	if (op->arena_len + len > op->arena_cap) {
		size_t cap = (op->arena_len + len) * 2 + 64;
		char *arena = realloc(op->arena, cap);

		if (arena == NULL)
			return -1;
		op->arena = arena;
		op->arena_cap = cap;
	}
	if (len > 0)
		memcpy(op->arena + op->arena_len, bytes, len);
	op->at[op->argc] = op->arena_len;
	op->lens[op->argc++] = len;
	op->arena_len += len;
	return 0;
}

static int redis_op_str(struct redis_op *op, const char *s)
{
	return redis_op_arg(op, s, strlen(s));
}

static int redis_op_bytes(struct redis_op *op, struct store_bytes b)
{
	return redis_op_arg(op, b.ptr, b.ptr ? b.len : 0);
}

static int redis_op_int(struct redis_op *op, long long v)
{
	char text[24];

	return redis_op_arg(op, text, (size_t)snprintf(text, sizeof(text), "%lld", v));
}

static void redis_hex(char *out, const uint8_t *bytes, size_t len)
{
	static const char digits[] = "0123456789abcdef";

	for (size_t i = 0; i < len; i++) {
		out[2 * i] = digits[bytes[i] >> 4];
		out[2 * i + 1] = digits[bytes[i] & 15];
	}
	out[2 * len] = '\0';
}

/* A key: the prefix, a kind ("m:", "r:", ...), then hex of bytes. */
static int redis_op_key(struct redis_op *op, const char *kind, const uint8_t *bytes, size_t len)
{
	char key[256];
	int n = snprintf(key, sizeof(key), "%s%s", op->s->prefix, kind);

	if (n < 0 || (size_t)n + 2 * len + 1 > sizeof(key))
		return -1;
	redis_hex(key + n, bytes, len);
	return redis_op_arg(op, key, (size_t)n + 2 * len);
}

static int redis_claim_hash(const struct redis_store *s, const uint8_t *claim,
    uint8_t out[REDIS_CLAIM_HASH_LEN])
{
	return keyed_hash(s->secret, s->secret_len, claim, MAILBOX_CLAIM_LEN, out,
	    REDIS_CLAIM_HASH_LEN);
}

/* The key of req's address's bucket of one kind ("lc:" creates, "lf:"
 * failures, "lw:" long-polls); when the script will not use it (on 0, or
 * no address), a key of no address, without hashing one. Addresses are
 * kept as keyed hashes, as claims are: a dump must not list who used the
 * relay. */
static int redis_op_bucket(struct redis_op *op, const char *kind,
    const struct access_request *req, int on)
{
	uint8_t hash[REDIS_CLAIM_HASH_LEN];

	if (req->client == NULL || !on)
		return redis_op_key(op, kind, NULL, 0);
	if (keyed_hash(op->s->secret, op->s->secret_len, req->client, RATELIMIT_KEY_LEN, hash,
	    sizeof(hash)) != 0)
		return -1;
	return redis_op_key(op, kind, hash, sizeof(hash));
}

/* The rate rule every script that checks one ends its ARGV with
 * (common.lua): none for a call that counts against no address. */
static int redis_op_rule(struct redis_op *op, const struct ratelimit_rule *rule,
    const struct access_request *req)
{
	struct redis_store *s = op->s;
	int on = req->client != NULL && rule->per != 0;

	return redis_op_int(op, on ? rule->per : 0) || redis_op_int(op, rule->period_ms) ||
	    redis_op_int(op, rule->burst) ||
	    redis_op_int(op, s->offset_ms != NULL ? s->offset_ms(s->state_ctx) : 0);
}

/* --- answers -------------------------------------------------------------- */

static void redis_answer(struct redis_op *op, const struct access_answer *a)
{
	struct access_request *req = op->req;
	struct access_answer refused = { .verdict = ACCESS_REFUSED, .refusal = STORE_UNAVAILABLE };

	if (op->unconfirmed && a->verdict == ACCESS_DONE)
		a = &refused;
	if (op->waiting > 0 && a->verdict == ACCESS_DONE && !op->holding) {
		/* Not before enough replicas have it: the view is the op's now. */
		op->holding = 1;
		op->held = *a;
		return;
	}
	op->req = NULL;
	req->pending = NULL;
	req->done(req, a);
}

/* The held answer, and its view, are dropped. */
static void redis_drop_held(struct redis_op *op)
{
	if (op->holding) {
		op->holding = 0;
		store_view_free(op->held.mb);
	}
}

static void redis_refuse(struct redis_op *op, enum store_result why)
{
	struct access_answer a = { .verdict = ACCESS_REFUSED, .refusal = why };

	redis_answer(op, &a);
}

static struct store_bytes redis_field_bytes(const redisReply *r)
{
	struct store_bytes b = { NULL, 0 };

	if (r->type == REDIS_REPLY_STRING) {
		b.ptr = r->str;
		b.len = r->len;
	}
	return b;
}

static long long redis_field_int(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return r->integer;
	if (r->type == REDIS_REPLY_STRING)
		return strtoll(r->str, NULL, 10);
	return -1;
}

/* 16 bytes from 32 hex digits; -1 when they are not. */
static int redis_unhex(const redisReply *r, uint8_t out[MAILBOX_ID_LEN])
{
	if (r->type != REDIS_REPLY_STRING || r->len != 2 * MAILBOX_ID_LEN)
		return -1;
	for (size_t i = 0; i < 2 * MAILBOX_ID_LEN; i++) {
		char c = r->str[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;

		if (v < 0)
			return -1;
		out[i / 2] = (uint8_t)(i % 2 ? out[i / 2] | v : v << 4);
	}
	return 0;
}

/* A DONE or REPEATED reply: the mailbox as a view, answered, then freed. */
static void redis_answer_mailbox(struct redis_op *op, const redisReply *reply,
    enum access_verdict verdict)
{
	redisReply **f = reply->element;
	struct access_answer a = { .verdict = verdict };
	struct mailbox_spec spec;
	struct store_bytes t1t;
	uint8_t id[MAILBOX_ID_LEN];
	struct mailbox *mb;

	/* A read's reply ends with whether its long-poll's place was taken. */
	if (reply->elements != RF_COUNT + (op->script == REDIS_READ) ||
	    redis_unhex(f[RF_ID], id) != 0) {
		redis_refuse(op, STORE_UNAVAILABLE);
		return;
	}
	memset(&spec, 0, sizeof(spec));
	spec.rights = (uint8_t)redis_field_int(f[RF_RIGHTS]);
	spec.expires_at = redis_field_int(f[RF_EXPIRES]);
	spec.payload_type = redis_field_bytes(f[RF_PT]);
	spec.payload_data = redis_field_bytes(f[RF_PD]);
	spec.title = redis_field_bytes(f[RF_DT]);
	spec.description = redis_field_bytes(f[RF_DD]);
	spec.image_url = redis_field_bytes(f[RF_DI]);
	spec.token_type = redis_field_bytes(f[RF_T0T]);
	spec.token_data = redis_field_bytes(f[RF_T0D]);
	if (spec.token_type.len == 0)
		spec.token_type.ptr = NULL;
	t1t = redis_field_bytes(f[RF_T1T]);
	if (t1t.len == 0)
		t1t.ptr = NULL;
	/* Written into JSON as it is: a server that does not hold what the
	 * relay wrote must not choose the relay's answer's bytes. */
	if (mailbox_check_payload_type(spec.payload_type.ptr, spec.payload_type.len) != 0) {
		redis_refuse(op, STORE_UNAVAILABLE);
		return;
	}
	mb = store_view_new(id, &spec, (uint64_t)redis_field_int(f[RF_ETAG]),
	    redis_field_int(f[RF_BOUND]) == 1, t1t, redis_field_bytes(f[RF_T1D]));
	if (mb == NULL) {
		redis_refuse(op, STORE_NO_MEMORY);
		return;
	}
	a.party = redis_field_int(f[RF_PARTY]) == 1 ? MAILBOX_RECEIVER : MAILBOX_SENDER;
	/* The view names the caller's claim in its party's place, so that
	 * whoever reads it sees what Redis checked (party 2: neither). */
	if (op->req->claim != NULL && redis_field_int(f[RF_PARTY]) < 2)
		memcpy(a.party == MAILBOX_SENDER ? mb->sender_claim : mb->receiver_claim,
		    op->req->claim, MAILBOX_CLAIM_LEN);
	a.remembered = (uint8_t)redis_field_int(f[RF_REMEMBERED]);
	if (op->script == REDIS_READ && redis_field_int(f[RF_COUNT]) == 1)
		a.lease = op->lease;
	a.mb = mb;
	redis_answer(op, &a);
	if (!op->holding)
		store_view_free(mb);
}

static int redis_op_send(struct redis_op *op);
static int redis_new_id(struct redis_store *s, uint8_t id[MAILBOX_ID_LEN]);

/* EXISTS: the same create under another identifier. Only the mailbox key's
 * 32 hex digits change (argument 3): the request's own bytes are gone by
 * now, and were copied into the arena when it was first sent. */
static int redis_create_again(struct redis_op *op)
{
	uint8_t id[MAILBOX_ID_LEN];
	char hex[2 * MAILBOX_ID_LEN + 1];

	if (op->script != REDIS_CREATE || op->tries >= REDIS_CREATE_TRIES ||
	    op->argc < 4 || op->lens[3] < 2 * MAILBOX_ID_LEN || redis_new_id(op->s, id) != 0)
		return -1;
	op->tries++;
	redis_hex(hex, id, sizeof(id));
	memcpy(op->arena + op->at[3] + op->lens[3] - 2 * MAILBOX_ID_LEN, hex, 2 * MAILBOX_ID_LEN);
	return 0;
}

static void redis_read_reply(struct redis_op *op, const redisReply *reply)
{
	static const enum access_verdict verdicts[] = {
		[REDIS_V_NOT_FOUND] = ACCESS_NOT_FOUND,
		[REDIS_V_UNAUTHORIZED] = ACCESS_UNAUTHORIZED,
		[REDIS_V_NOT_MATCHED] = ACCESS_NOT_MATCHED,
		[REDIS_V_BAD_BODY] = ACCESS_BAD_BODY,
	};
	struct access_answer a = { .verdict = ACCESS_NOT_FOUND };
	long long v;

	if (reply == NULL) {
		redis_refuse(op, STORE_UNAVAILABLE);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		/* maxmemory reached: the store is full, as --max-memory is. */
		redis_refuse(op, strncmp(reply->str, "OOM", 3) == 0 ? STORE_FULL :
		    STORE_UNAVAILABLE);
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements == 0) {
		redis_refuse(op, STORE_UNAVAILABLE);
		return;
	}
	v = redis_field_int(reply->element[RF_VERDICT]);
	switch (v) {
	case REDIS_V_DONE:
		if (op->script == REDIS_CREATE)
			op->s->mailboxes++;
		else if (op->script == REDIS_DELETE && op->s->mailboxes > 0)
			op->s->mailboxes--;
		/* fall through */
	case REDIS_V_REPEATED:
		redis_answer_mailbox(op, reply, v == REDIS_V_DONE ? ACCESS_DONE : ACCESS_REPEATED);
		return;
	case REDIS_V_NOT_FOUND:
	case REDIS_V_UNAUTHORIZED:
	case REDIS_V_NOT_MATCHED:
	case REDIS_V_BAD_BODY:
		a.verdict = verdicts[v];
		redis_answer(op, &a);
		return;
	case REDIS_V_FULL:
		redis_refuse(op, STORE_FULL);
		return;
	case REDIS_V_OWNER_FULL:
		redis_refuse(op, STORE_OWNER_FULL);
		return;
	case REDIS_V_WAITERS_FULL:
		redis_refuse(op, STORE_WAITERS_FULL);
		return;
	case REDIS_V_RATE_LIMITED:
		if (reply->elements != 2)
			break;
		a.verdict = ACCESS_RATE_LIMITED;
		v = redis_field_int(reply->element[1]);
		a.retry_after = v < 1 ? 1 : v > 86400 ? 86400 : (unsigned)v;
		redis_answer(op, &a);
		return;
	case REDIS_V_EXISTS:
		/* Another identifier, the same call. */
		if (redis_create_again(op) == 0 && redis_op_send(op) == 0)
			return;
		break;
	}
	redis_refuse(op, STORE_UNAVAILABLE);
}

static void redis_op_free(struct redis_op *op)
{
	redis_drop_held(op);
	evtimer_del(&op->timer);
	free(op->arena);
	free(op);
}

static void redis_on_reply(void *arg, const redisReply *reply)
{
	struct redis_op *op = arg;

	op->replies--;
	if (reply != NULL)
		op->s->timeouts = 0;
	if ((op->req != NULL || op->detached) && reply != NULL &&
	    reply->type == REDIS_REPLY_ERROR &&
	    strncmp(reply->str, "NOSCRIPT", 8) == 0 && !op->evaled) {
		op->evaled = 1;
		if (redis_op_send(op) == 0)
			return;
	}
	if (op->req != NULL && !op->holding)
		redis_read_reply(op, reply);
	/* Kept while a reply is still due: a create sent again (another
	 * identifier), a script sent again as EVAL, a WAIT. */
	if (op->replies > 0 || op->waiting > 0)
		return;
	redis_op_free(op);
}

/* The reply is late: answer now, and drop the reply when it comes. */
static void redis_on_timeout(evutil_socket_t fd, short what, void *arg)
{
	struct redis_op *op = arg;

	(void)fd;
	(void)what;
	redis_drop_held(op);
	if (op->req != NULL)
		redis_refuse(op, STORE_UNAVAILABLE);
	if (++op->s->timeouts >= REDIS_TIMEOUTS_MAX) {
		op->s->timeouts = 0;
		redis_reset(op->s->redis, "calls in a row got no answer in time");
	}
	/* Nothing is sent again for a call answered: its arguments go now, not
	 * when a stalled server replies. */
	free(op->arena);
	op->arena = NULL;
	op->arena_cap = op->arena_len = 0;
}

/* WAIT's reply: how many replicas have every write so far. The held DONE
 * goes out when enough do; otherwise the call is "unavailable", as a
 * write that a failover could lose must not be acknowledged. */
static void redis_on_waited(void *arg, const redisReply *reply)
{
	struct redis_op *op = arg;
	int enough = reply != NULL && reply->type == REDIS_REPLY_INTEGER &&
	    reply->integer >= (long long)op->s->wait_replicas;

	if (--op->waiting > 0 || op->replies > 0)
		return;
	if (op->holding && op->req != NULL) {
		struct access_answer a = op->held;

		op->holding = 0;
		if (enough)
			redis_answer(op, &a);
		else
			redis_refuse(op, STORE_UNAVAILABLE);
		store_view_free(a.mb);
	}
	redis_op_free(op);
}

/* Calls that may write, which --store-wait-replicas waits for; not those
 * nobody waits for (a rate bucket or a dead token a failover loses is only
 * counted again). */
static int redis_op_writes(const struct redis_op *op)
{
	return op->script != REDIS_PREVIEW && op->script != REDIS_PEEK && !op->detached;
}

/* EVALSHA (or EVAL) with the op's arguments, which start at index 3. */
static int redis_op_send(struct redis_op *op)
{
	const char *argv[REDIS_ARGS_MAX];
	struct redis_store *s = op->s;

	argv[0] = op->evaled ? "EVAL" : "EVALSHA";
	op->lens[0] = strlen(argv[0]);
	argv[1] = op->evaled ? redis_scripts[op->script].text : s->sha[op->script];
	op->lens[1] = strlen(argv[1]);
	for (int i = 2; i < op->argc; i++)
		argv[i] = op->arena + op->at[i];
	if (redis_command(s->redis, op->argc, argv, op->lens, redis_on_reply, op) != 0)
		return -1;
	op->replies++;
	if (s->wait_replicas > 0 && redis_op_writes(op)) {
		/* Right behind the script on the same connection: it waits for
		 * what the script wrote. Half the call's time, so that its
		 * answer comes before the call's own timeout. */
		char n[16], ms[16];
		const char *wait[3] = { "WAIT", n, ms };
		size_t lens[3] = { 4, (size_t)snprintf(n, sizeof(n), "%u", s->wait_replicas),
		    (size_t)snprintf(ms, sizeof(ms), "%u", s->timeout_ms / 2) };

		if (redis_command(s->redis, 3, wait, lens, redis_on_waited, op) == 0)
			op->waiting++;
		else
			op->unconfirmed = 1;
	}
	return 0;
}

static struct redis_op *redis_op_new(struct redis_store *s, struct access_request *req,
    enum redis_script script)
{
	struct redis_op *op = calloc(1, sizeof(*op));

	if (op == NULL)
		return NULL;
	op->s = s;
	op->req = req;
	op->script = script;
	evtimer_assign(&op->timer, s->base, redis_on_timeout, op);
	/* Slots 0 and 1 (command and script) are filled when sent. */
	op->argc = 2;
	return op;
}

/* The ARGV head every script starts with (docs/redis-store.md). */
static int redis_op_common(struct redis_op *op, const struct access_request *req)
{
	uint8_t claim[REDIS_CLAIM_HASH_LEN];
	struct store_bytes rid = { req->request_id, req->request_id_len };

	if (req->claim != NULL) {
		if (redis_claim_hash(op->s, req->claim, claim) != 0)
			return -1;
	} else {
		memset(claim, 0, sizeof(claim));
	}
	return redis_op_int(op, req->now) || redis_op_arg(op, claim, sizeof(claim)) ||
	    redis_op_bytes(op, rid) || redis_op_int(op, req->body_ok ? 1 : 0);
}

/* Send op for req, or answer req at once when that cannot be done. */
static void redis_op_start(struct redis_op *op, struct access_request *req, int built)
{
	struct timeval tv;
	size_t ms;

	if (op == NULL) {
		struct access_answer a = { .verdict = ACCESS_REFUSED, .refusal = STORE_NO_MEMORY };

		req->done(req, &a);
		return;
	}
	if (built != 0 || !redis_up(op->s->redis) || redis_op_send(op) != 0) {
		redis_refuse(op, built != 0 ? STORE_NO_MEMORY : STORE_UNAVAILABLE);
		redis_op_free(op);
		return;
	}
	req->pending = op;
	ms = op->s->timeout_ms + op->arena_len / REDIS_BYTES_PER_MS;
	tv.tv_sec = (time_t)(ms / 1000);
	tv.tv_usec = (suseconds_t)(ms % 1000) * 1000;
	evtimer_add(&op->timer, &tv);
}

/* --- the calls ------------------------------------------------------------ */

/* A fresh identifier: a version-4 UUID, as the memory store makes. */
static int redis_new_id(struct redis_store *s, uint8_t id[MAILBOX_ID_LEN])
{
	if (s->random(s->random_ctx, id, MAILBOX_ID_LEN) != 0)
		return -1;
	id[6] = (uint8_t)((id[6] & 0x0f) | 0x40);
	id[8] = (uint8_t)((id[8] & 0x3f) | 0x80);
	return 0;
}

/* create's arguments, with a fresh identifier. */
static int redis_create_args(struct redis_op *op)
{
	struct redis_store *s = op->s;
	const struct access_request *req = op->req;
	const struct mailbox_spec *spec = req->spec;
	uint8_t id[MAILBOX_ID_LEN], claim[REDIS_CLAIM_HASH_LEN];
	char owner[2 * STORE_OWNER_LEN + 1] = "";
	size_t bytes;

	op->tries++;
	if (redis_new_id(s, id) != 0)
		return -1;
	if (spec->owner != NULL)
		redis_hex(owner, spec->owner, STORE_OWNER_LEN);
	if (redis_claim_hash(s, req->claim, claim) != 0)
		return -1;
	bytes = spec->payload_type.len + spec->payload_data.len + spec->title.len +
	    spec->description.len + spec->image_url.len + spec->token_type.len +
	    spec->token_data.len;
	return redis_op_int(op, 6) || redis_op_key(op, "m:", id, sizeof(id)) ||
	    redis_op_key(op, "r:", claim, sizeof(claim)) || redis_op_key(op, "all", NULL, 0) ||
	    redis_op_key(op, "o:", spec->owner ? spec->owner : (const uint8_t *)"", spec->owner ?
	    STORE_OWNER_LEN : 0) ||
	    redis_op_key(op, "oe:", spec->owner ? spec->owner : (const uint8_t *)"", spec->owner ?
	    STORE_OWNER_LEN : 0) || redis_op_bucket(op, "lc:", req, s->rate_create.per != 0) ||
	    redis_op_common(op, req) || redis_op_int(op, spec->rights) ||
	    redis_op_int(op, spec->expires_at) || redis_op_bytes(op, spec->payload_type) ||
	    redis_op_bytes(op, spec->payload_data) || redis_op_bytes(op, spec->title) ||
	    redis_op_bytes(op, spec->description) || redis_op_bytes(op, spec->image_url) ||
	    redis_op_bytes(op, spec->token_type) || redis_op_bytes(op, spec->token_data) ||
	    redis_op_int(op, req->remember(req, spec->token_type)) ||
	    redis_op_int(op, (long long)s->max_mailboxes) ||
	    redis_op_int(op, (long long)s->max_owner_bytes) || redis_op_int(op, (long long)bytes) ||
	    redis_op_str(op, owner) || redis_op_rule(op, &s->rate_create, req) ? -1 : 0;
}

void redis_store_create(struct redis_store *s, struct access_request *req)
{
	struct redis_op *op = redis_op_new(s, req, REDIS_CREATE);

	redis_op_start(op, req, op ? redis_create_args(op) : 0);
}

/* The keys and head of a call on one mailbox: its key, then the claim's
 * record key when with_record, then the address's --rate-fail bucket when
 * checked (the caller ends the ARGV with redis_op_rule). */
static int redis_mailbox_args(struct redis_op *op, const struct access_request *req,
    int with_record, int checked)
{
	uint8_t claim[REDIS_CLAIM_HASH_LEN];

	if (with_record && redis_claim_hash(op->s, req->claim, claim) != 0)
		return -1;
	return redis_op_int(op, 1 + with_record + checked) ||
	    redis_op_key(op, "m:", req->id, MAILBOX_ID_LEN) ||
	    (with_record && redis_op_key(op, "r:", claim, sizeof(claim))) ||
	    (checked && redis_op_bucket(op, "lf:", req, op->s->rate_fail.per != 0)) ||
	    redis_op_common(op, req) ? -1 : 0;
}

/* A list of versions for a script: "*" (any), "-" (none) or versions
 * separated by spaces. */
static int redis_op_versions(struct redis_op *op, int any, const uint64_t *v, size_t count)
{
	char *text, *at;
	int ret;

	if (any)
		return redis_op_str(op, "*");
	if (count == 0)
		return redis_op_str(op, "-");
	if ((text = malloc(count * 21 + 1)) == NULL)
		return -1;
	at = text;
	for (size_t i = 0; i < count; i++)
		at += sprintf(at, i ? " %llu" : "%llu", (unsigned long long)v[i]);
	ret = redis_op_arg(op, text, (size_t)(at - text));
	free(text);
	return ret;
}

/* The name of a long-poll's place: this relay's, and the lease. */
static int redis_op_lease(struct redis_op *op, uint64_t lease)
{
	char name[64];

	return redis_op_arg(op, name, (size_t)snprintf(name, sizeof(name), "%s:%llu",
	    op->s->relay_name, (unsigned long long)lease));
}

void redis_store_read(struct redis_store *s, struct access_request *req)
{
	struct redis_op *op = redis_op_new(s, req, REDIS_READ);
	int counted = req->park_ms > 0 && req->client != NULL && s->max_waiters > 0;

	if (op != NULL && counted)
		op->lease = ++s->leases;
	redis_op_start(op, req, op ? redis_op_int(op, 3) ||
	    redis_op_key(op, "m:", req->id, MAILBOX_ID_LEN) || redis_op_bucket(op, "lw:", req, counted) ||
	    redis_op_bucket(op, "lf:", req, s->rate_fail.per != 0) || redis_op_common(op, req) ||
	    redis_op_bytes(op, req->change.token_type) ||
	    redis_op_bytes(op, req->change.token_data) ||
	    redis_op_versions(op, req->held_any, req->held, req->held_count) ||
	    redis_op_int(op, counted ? req->park_ms : 0) || redis_op_lease(op, op->lease) ||
	    redis_op_int(op, (long long)s->max_waiters) ||
	    redis_op_int(op, (long long)s->max_owner_bytes) ||
	    redis_op_rule(op, &s->rate_fail, req) : 0);
}

/* If-Match for the script: empty (none), or the versions it names. */
static int redis_op_if_match(struct redis_op *op, const struct access_request *req)
{
	if (!req->if_match)
		return redis_op_str(op, "");
	return redis_op_versions(op, req->match_any, req->match, req->match_count);
}

void redis_store_update(struct redis_store *s, struct access_request *req)
{
	struct redis_op *op = redis_op_new(s, req, REDIS_UPDATE);

	redis_op_start(op, req, op ? redis_mailbox_args(op, req, 1, 1) ||
	    redis_op_if_match(op, req) || redis_op_bytes(op, req->change.payload_type) ||
	    redis_op_bytes(op, req->change.payload_data) ||
	    redis_op_bytes(op, req->change.token_type) ||
	    redis_op_bytes(op, req->change.token_data) || redis_op_str(op, s->push_types) ||
	    redis_op_int(op, (long long)s->max_owner_bytes) ||
	    redis_op_rule(op, &s->rate_fail, req) : 0);
}

void redis_store_delete(struct redis_store *s, struct access_request *req)
{
	struct redis_op *op = redis_op_new(s, req, REDIS_DELETE);

	/* Its second key, the set of live mailboxes, takes the record's place. */
	redis_op_start(op, req, op ? redis_op_int(op, 3) ||
	    redis_op_key(op, "m:", req->id, MAILBOX_ID_LEN) || redis_op_key(op, "all", NULL, 0) ||
	    redis_op_bucket(op, "lf:", req, s->rate_fail.per != 0) || redis_op_common(op, req) ||
	    redis_op_rule(op, &s->rate_fail, req) : 0);
}

void redis_store_relinquish(struct redis_store *s, struct access_request *req)
{
	struct redis_op *op = redis_op_new(s, req, REDIS_RELINQUISH);

	redis_op_start(op, req, op ? redis_mailbox_args(op, req, 1, 1) ||
	    redis_op_rule(op, &s->rate_fail, req) : 0);
}

void redis_store_preview(struct redis_store *s, struct access_request *req)
{
	struct redis_op *op = redis_op_new(s, req, REDIS_PREVIEW);

	redis_op_start(op, req, op ? redis_mailbox_args(op, req, 0, 0) : 0);
}

/* A parked long-poll's claim reads the mailbox again, binding nothing. */
static void redis_store_peek(struct redis_store *s, struct access_request *req)
{
	struct redis_op *op = redis_op_new(s, req, REDIS_PEEK);

	redis_op_start(op, req, op ? redis_mailbox_args(op, req, 0, 0) : 0);
}

/* A call nobody waits for, built by its caller: sent, then freed by its
 * reply (or the NULL one hiredis gives when the connection goes), as a
 * cancelled call is. */
static struct redis_op *redis_op_detached(struct redis_store *s, enum redis_script script)
{
	struct redis_op *op;

	if (!redis_up(s->redis) || (op = redis_op_new(s, NULL, script)) == NULL)
		return NULL;
	op->detached = 1;
	return op;
}

static void redis_op_detach(struct redis_op *op, int built)
{
	if (built != 0 || redis_op_send(op) != 0)
		redis_op_free(op);
}

void redis_store_count_failure(struct redis_store *s, const uint8_t *client)
{
	struct access_request req = { .client = client };
	struct redis_op *op;

	if (s->rate_fail.per == 0 || client == NULL ||
	    (op = redis_op_detached(s, REDIS_RATE)) == NULL)
		return;
	redis_op_detach(op, redis_op_int(op, 1) || redis_op_bucket(op, "lf:", &req, 1) ||
	    redis_op_common(op, &req) || redis_op_rule(op, &s->rate_fail, &req));
}

void redis_store_release_waiter(struct redis_store *s, const uint8_t *client, uint64_t lease)
{
	struct access_request req = { .client = client };
	struct redis_op *op;

	if (lease == 0 || (op = redis_op_detached(s, REDIS_UNPARK)) == NULL)
		return;
	redis_op_detach(op, redis_op_int(op, 1) || redis_op_bucket(op, "lw:", &req, 1) ||
	    redis_op_common(op, &req) || redis_op_lease(op, lease));
}

void redis_store_drop_token(struct redis_store *s, const uint8_t id[MAILBOX_ID_LEN],
    int64_t now, enum mailbox_party party, struct store_bytes type, struct store_bytes data)
{
	struct access_request req = { .id = id, .now = now };
	struct redis_op *op = redis_op_detached(s, REDIS_DROP_TOKEN);

	if (op != NULL)
		redis_op_detach(op, redis_mailbox_args(op, &req, 0, 0) ||
		    redis_op_int(op, party == MAILBOX_RECEIVER ? 1 : 0) ||
		    redis_op_bytes(op, type) || redis_op_bytes(op, data));
}

void redis_store_cancel(struct access_request *req)
{
	struct redis_op *op = req->pending;

	if (op == NULL)
		return;
	/* The reply still comes, to an op that answers nobody. */
	redis_drop_held(op);
	op->req = NULL;
	req->pending = NULL;
	evtimer_del(&op->timer);
}


/* --- long-polls ------------------------------------------------------------ */

/*
 * A long-poll parked here waits on a mailbox that lives in Redis, where any
 * relay may change it. Every change is published (P w:<id>: the new version,
 * or "gone"), and this relay hears them all on a second connection. A
 * waiter that does not hold the new version has the mailbox read again with
 * its claim (peek: nothing bound or changed) and is woken with what Redis
 * says then. When the subscription comes back after Redis went, every waiter
 * is read again once, so that a change made meanwhile is not lost. The
 * mailbox's end (its expiry) wakes its waiters from a timer here.
 */

/*
 * A change heard lately. The answer to a read (or a peek) and the news of a
 * change come on two connections, read in no set order: Redis may answer a
 * read, then publish a change made after it, and this relay hear the change
 * first, when nobody waits on that mailbox yet. The waiter would then park
 * on a version already gone, until its time is over. So each change heard
 * is kept a while, and a waiter about to park whose version it has passed
 * reads the mailbox again.
 */
struct redis_heard {
	struct table_node node;         /* key: the mailbox id */
	struct redis_heard *older, *newer;
	int64_t at;                     /* when heard (s->now) */
	uint64_t etag;                  /* the latest version heard; 0: deleted */
};

static void redis_heard_drop(struct redis_store *s, struct redis_heard *h)
{
	if (h->older != NULL)
		h->older->newer = h->newer;
	else
		s->heard_oldest = h->newer;
	if (h->newer != NULL)
		h->newer->older = h->older;
	else
		s->heard_newest = h->older;
	table_remove(&s->heard, &h->node);
	free(h);
}

/* Forget what is old enough for any answer crossing it to have come. */
static void redis_heard_prune(struct redis_store *s, int64_t now)
{
	while (s->heard_oldest != NULL && (s->heard_oldest->at < now - REDIS_HEARD_S ||
	    s->heard.count > REDIS_HEARD_MAX))
		redis_heard_drop(s, s->heard_oldest);
}

/* The mailbox changed to etag (0: deleted). Without memory it is not kept:
 * a waiter that crossed it waits until its time is over, as before. */
static void redis_heard_note(struct redis_store *s, const uint8_t *id, uint64_t etag)
{
	struct table_node *node = table_find(&s->heard, id);
	struct redis_heard *h;
	int64_t now = s->now(s->state_ctx);

	if (node != NULL) {
		h = container_of(node, struct redis_heard, node);
		/* Versions only grow; a deletion is the last word. */
		if (h->etag != 0 && (etag == 0 || etag > h->etag))
			h->etag = etag;
		etag = h->etag;
		redis_heard_drop(s, h);
	}
	if ((h = calloc(1, sizeof(*h))) != NULL) {
		memcpy(h->node.key, id, MAILBOX_ID_LEN);
		h->at = now;
		h->etag = etag;
		h->older = s->heard_newest;
		if (s->heard_newest != NULL)
			s->heard_newest->newer = h;
		else
			s->heard_oldest = h;
		s->heard_newest = h;
		table_insert(&s->heard, &h->node);
	}
	redis_heard_prune(s, now);
}

/* Has a change heard lately passed version etag, which w read, to one it
 * does not hold? */
static int redis_heard_since(struct redis_store *s, const uint8_t *id, uint64_t etag,
    struct mailbox_waiter *w)
{
	struct table_node *node;
	const struct redis_heard *h;

	redis_heard_prune(s, s->now(s->state_ctx));
	if ((node = table_find(&s->heard, id)) == NULL)
		return 0;
	h = container_of(node, struct redis_heard, node);
	return h->etag == 0 ||
	    (h->etag > etag && (w->holds == NULL || !w->holds(w, h->etag)));
}

/* The waiters parked on one mailbox. */
struct redis_watch {
	struct table_node node;         /* key: the mailbox id */
	struct redis_store *s;
	struct redis_parked *parked;
	struct event expiry;
	int64_t expires_at;             /* the mailbox's, on the relay's clock */
};

/* One parked waiter: in its watch's list, or reading the mailbox again
 * (watch NULL). */
struct redis_parked {
	struct redis_parked *next, *prev;
	struct redis_watch *watch;
	struct redis_store *s;
	struct mailbox_waiter *w;
	uint8_t id[MAILBOX_ID_LEN];
	uint64_t etag;                  /* the version it last read */
	int64_t expires_at;
	struct access_request peek;
};

static void redis_watch_link(struct redis_watch *watch, struct redis_parked *p)
{
	p->watch = watch;
	p->prev = NULL;
	p->next = watch->parked;
	if (watch->parked != NULL)
		watch->parked->prev = p;
	watch->parked = p;
}

/* Out of its watch; a watch left empty goes. */
static void redis_watch_unlink(struct redis_parked *p)
{
	struct redis_watch *watch = p->watch;

	if (watch == NULL)
		return;
	if (p->prev != NULL)
		p->prev->next = p->next;
	else
		watch->parked = p->next;
	if (p->next != NULL)
		p->next->prev = p->prev;
	p->next = p->prev = NULL;
	p->watch = NULL;
	if (watch->parked == NULL) {
		table_remove(&watch->s->watches, &watch->node);
		evtimer_del(&watch->expiry);
		free(watch);
	}
}

static void redis_on_expiry(evutil_socket_t fd, short what, void *arg);

/* The timer at the mailbox's end, from the relay's clock as it reads now.
 * Due already: it fires in this turn of the loop, after the caller. */
static void redis_watch_arm(struct redis_watch *watch)
{
	int64_t now = watch->s->now(watch->s->state_ctx);
	struct timeval tv = { (time_t)(watch->expires_at - now), 0 };

	if (watch->expires_at <= now)
		event_active(&watch->expiry, EV_TIMEOUT, 0);
	else
		evtimer_add(&watch->expiry, &tv);
}

/* The watch of this mailbox, made when it has none (NULL: no memory). */
static struct redis_watch *redis_watch_of(struct redis_store *s, const uint8_t *id,
    int64_t expires_at)
{
	struct table_node *node = table_find(&s->watches, id);
	struct redis_watch *watch;

	if (node != NULL)
		return container_of(node, struct redis_watch, node);
	if ((watch = calloc(1, sizeof(*watch))) == NULL)
		return NULL;
	memcpy(watch->node.key, id, MAILBOX_ID_LEN);
	watch->s = s;
	watch->expires_at = expires_at;
	evtimer_assign(&watch->expiry, s->base, redis_on_expiry, watch);
	redis_watch_arm(watch);
	table_insert(&s->watches, &watch->node);
	return watch;
}

static void redis_watch_rearm(struct table_node *node, void *arg)
{
	(void)arg;
	redis_watch_arm(container_of(node, struct redis_watch, node));
}

void redis_store_clock_moved(struct redis_store *s)
{
	table_each(&s->watches, redis_watch_rearm, NULL);
}

static void redis_peek_send(struct redis_parked *p);

/* Parked (again) on its mailbox, after an answer from Redis (fresh): unless
 * a change heard meanwhile has passed it, when it reads again instead (a
 * peek's answer always comes later, from Redis). Without memory for a
 * watch it stays parked on nothing: its wait ends at its time with
 * "nothing new". */
static void redis_park(struct redis_parked *p, int fresh)
{
	struct redis_watch *watch;

	if (fresh && redis_up(p->s->redis) && redis_heard_since(p->s, p->id, p->etag, p->w)) {
		redis_peek_send(p);
		return;
	}
	/* Not listening yet (or no longer): it reads again once both
	 * connections are up. */
	if (!redis_up(p->s->sub))
		p->s->recheck_due = 1;
	watch = redis_watch_of(p->s, p->id, p->expires_at);

	if (watch != NULL)
		redis_watch_link(watch, p);
}

/* The waiter leaves (woken, or gone): its entry goes, and with it any
 * peek under way. */
static void redis_parked_free(struct redis_parked *p)
{
	redis_watch_unlink(p);
	redis_store_cancel(&p->peek);
	p->w->parked = NULL;
	p->s->parked_count--;
	free(p);
}

static void redis_parked_wake(struct redis_parked *p, const struct mailbox *mb)
{
	struct mailbox_waiter *w = p->w;

	redis_parked_free(p);
	w->wake(w, mb);
}

static void redis_on_expiry(evutil_socket_t fd, short what, void *arg)
{
	struct redis_watch *watch = arg;
	struct redis_parked *p;

	(void)fd;
	(void)what;
	/* The last one out frees the watch: stop before it. */
	while ((p = watch->parked) != NULL) {
		int last = p->next == NULL;

		redis_parked_wake(p, NULL);
		if (last)
			break;
	}
}

/* What Redis says of the mailbox now, for one waiter. */
static void redis_on_peek(struct access_request *req, const struct access_answer *a)
{
	struct redis_parked *p = container_of(req, struct redis_parked, peek);
	struct mailbox_waiter *w = p->w;

	if (a->verdict == ACCESS_NOT_FOUND) {
		redis_parked_wake(p, NULL);
		return;
	}
	if (a->verdict == ACCESS_DONE) {
		/* A claim that may no longer read it is answered (401), even
		 * for a version it holds. */
		int reads = store_claim_equal(a->mb->sender_claim, w->claim) ||
		    (a->mb->receiver_bound && store_claim_equal(a->mb->receiver_claim, w->claim));

		p->expires_at = a->mb->expiry.expires_at;
		p->etag = a->mb->etag;
		if (!reads || w->holds == NULL || !w->holds(w, a->mb->etag)) {
			redis_parked_wake(p, a->mb);
			return;
		}
	}
	/* It holds this version, or Redis did not answer: wait on. */
	if (a->verdict != ACCESS_DONE)
		p->s->recheck_due = 1;
	redis_park(p, a->verdict == ACCESS_DONE);
}

static void redis_peek_send(struct redis_parked *p)
{
	redis_watch_unlink(p);
	memset(&p->peek, 0, sizeof(p->peek));
	p->peek.id = p->id;
	p->peek.claim = p->w->claim;
	p->peek.now = p->s->now(p->s->state_ctx);
	p->peek.body_ok = 1;
	p->peek.done = redis_on_peek;
	redis_store_peek(p->s, &p->peek);
}

void redis_store_watch(struct redis_store *s, struct mailbox *mb, struct mailbox_waiter *w)
{
	struct redis_parked *p = calloc(1, sizeof(*p));

	/* Without memory the waiter parks on nothing (see redis_park). */
	w->parked = p;
	if (p == NULL)
		return;
	p->s = s;
	p->w = w;
	memcpy(p->id, mailbox_id(mb), MAILBOX_ID_LEN);
	p->expires_at = mb->expiry.expires_at;
	p->etag = mb->etag;
	s->parked_count++;
	redis_park(p, 1);
}

void redis_store_unwatch(struct mailbox_waiter *w)
{
	if (w->parked != NULL)
		redis_parked_free(w->parked);
}

struct redis_gather {
	struct redis_parked **all;
	size_t n, cap;
};

static void redis_gather_watch(struct table_node *node, void *arg)
{
	struct redis_gather *g = arg;

	for (struct redis_parked *p = container_of(node, struct redis_watch, node)->parked;
	    p != NULL && g->n < g->cap; p = p->next)
		g->all[g->n++] = p;
}

/* Every parked waiter reads its mailbox again (the subscription is back):
 * gathered first, since a peek that cannot be sent answers at once. */
static void redis_recheck_all(struct redis_store *s)
{
	struct redis_gather g = { NULL, 0, s->parked_count };

	if (g.cap == 0 || (g.all = calloc(g.cap, sizeof(*g.all))) == NULL)
		return;
	table_each(&s->watches, redis_gather_watch, &g);
	for (size_t i = 0; i < g.n; i++)
		redis_peek_send(g.all[i]);
	free(g.all);
}

/* A message on the subscription: P w:<id> and the new version, or
 * "gone"; NULL when the subscription went (the waiters stay parked). */
static void redis_on_change(void *arg, const redisReply *reply)
{
	struct redis_store *s = arg;
	const redisReply *channel, *message;
	size_t prefix_len = strlen(s->channel_prefix);
	struct redis_parked *p, *next;
	struct redis_watch *watch;
	struct table_node *node;
	uint8_t id[MAILBOX_ID_LEN];
	uint64_t etag = 0;
	int gone;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY || reply->elements < 3 ||
	    reply->element[0]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(reply->element[0]->str, "psubscribe") == 0) {
		/* Subscribed: changes from now on are heard. */
		redis_hello_done(s->sub, 1, NULL);
		return;
	}
	if (strcmp(reply->element[0]->str, "pmessage") != 0 || reply->elements != 4)
		return;
	channel = reply->element[2];
	message = reply->element[3];
	if (channel->type != REDIS_REPLY_STRING || message->type != REDIS_REPLY_STRING ||
	    channel->len != prefix_len + 2 * MAILBOX_ID_LEN ||
	    memcmp(channel->str, s->channel_prefix, prefix_len) != 0)
		return;
	{
		redisReply hex = *channel;

		hex.str += prefix_len;
		hex.len -= prefix_len;
		if (redis_unhex(&hex, id) != 0)
			return;
	}
	gone = strcmp(message->str, "gone") == 0;
	if (!gone && (etag = strtoull(message->str, NULL, 10)) == 0)
		return;
	redis_heard_note(s, id, etag);
	if ((node = table_find(&s->watches, id)) == NULL)
		return;
	watch = container_of(node, struct redis_watch, node);
	for (p = watch->parked; p != NULL; p = next) {
		/* The watch goes with its last waiter: no use of it after. */
		next = p->next;
		if (gone)
			redis_parked_wake(p, NULL);
		else if (p->w->holds == NULL || !p->w->holds(p->w, etag))
			redis_peek_send(p);
	}
}

static void redis_on_sub_hello(void *ctx, struct redis *r)
{
	struct redis_store *s = ctx;
	char pattern[256];

	snprintf(pattern, sizeof(pattern), "%s*", s->channel_prefix);
	if (redis_psubscribe(r, pattern, redis_on_change, s) != 0)
		redis_hello_done(r, 0, NULL);
}

/* Both connections up after a change may have gone unheard: read again. */
static void redis_recheck_if_due(struct redis_store *s)
{
	if (s->recheck_due && redis_up(s->redis) && redis_up(s->sub)) {
		s->recheck_due = 0;
		redis_recheck_all(s);
	}
}

static void redis_on_sub_state(void *ctx, int up, const char *why)
{
	struct redis_store *s = ctx;

	(void)why;
	if (!up)
		s->recheck_due = 1;
	redis_recheck_if_due(s);
}

/* --- the connection ------------------------------------------------------- */

static void redis_on_loaded(void *arg, const redisReply *reply)
{
	struct redis_store *s = arg;
	size_t i = REDIS_SCRIPTS - s->loading;

	if (reply == NULL)
		return;
	if (reply->type != REDIS_REPLY_STRING || reply->len != 40) {
		/* The first refusal says why (NOAUTH: --store-password-file). */
		if (!s->load_failed)
			snprintf(s->load_error, sizeof(s->load_error), "SCRIPT LOAD: %s",
			    reply->type == REDIS_REPLY_ERROR ? reply->str : "not a SHA-1");
		s->load_failed = 1;
	} else {
		memcpy(s->sha[i], reply->str, 41);
	}
	if (--s->loading == 0)
		redis_hello_done(s->redis, !s->load_failed, s->load_error);
}

/* Each new connection loads the scripts first: their SHA-1s are the same
 * everywhere, but a server may be new (a restart, a failover). */
static void redis_on_hello(void *ctx, struct redis *r)
{
	struct redis_store *s = ctx;

	s->loading = REDIS_SCRIPTS;
	s->load_failed = 0;
	s->load_error[0] = '\0';
	for (int i = 0; i < REDIS_SCRIPTS; i++) {
		const char *argv[3] = { "SCRIPT", "LOAD", redis_scripts[i].text };
		size_t lens[3] = { 6, 4, strlen(redis_scripts[i].text) };

		if (redis_command(r, 3, argv, lens, redis_on_loaded, s) != 0) {
			redis_hello_done(r, 0, NULL);
			return;
		}
	}
}

static void redis_on_state(void *ctx, int up, const char *why)
{
	struct redis_store *s = ctx;

	redis_recheck_if_due(s);
	if (s->state != NULL)
		s->state(s->state_ctx, up, why);
}

static void redis_on_count(void *arg, const redisReply *reply)
{
	struct redis_store *s = arg;

	s->counting = 0;
	if (reply != NULL && reply->type == REDIS_REPLY_INTEGER && reply->integer >= 0)
		s->mailboxes = (size_t)reply->integer;
}

static void redis_on_count_timer(evutil_socket_t fd, short what, void *arg)
{
	struct redis_store *s = arg;
	char key[256], min[32];
	const char *argv[4] = { "ZCOUNT", key, min, "+inf" };
	size_t lens[4] = { 6, 0, 0, 4 };

	(void)fd;
	(void)what;
	if (s->counting || !redis_up(s->redis))
		return;
	/* Those not expired yet: `all` keeps expired ones until a create. */
	lens[1] = (size_t)snprintf(key, sizeof(key), "%sall", s->prefix);
	lens[2] = (size_t)snprintf(min, sizeof(min), "(%lld", (long long)s->now(s->state_ctx));
	if (lens[1] < sizeof(key) && redis_command(s->redis, 4, argv, lens, redis_on_count, s) == 0)
		s->counting = 1;
}

size_t redis_store_mailboxes(const struct redis_store *s)
{
	return s->mailboxes;
}

struct redis_store *redis_store_new(struct event_base *base,
    const struct redis_store_config *config,
    void (*state)(void *ctx, int up, const char *why), void *ctx)
{
	struct redis_store *s = calloc(1, sizeof(*s));
	struct redis_events events = { redis_on_hello, redis_on_state, NULL };
	struct redis_events sub_events = { redis_on_sub_hello, redis_on_sub_state, NULL };
	uint8_t hash_key[SIPHASH_KEY_LEN], name[8];
	struct timeval second = { 1, 0 };
	int hashed;

	if (s == NULL)
		return NULL;
	s->base = base;
	s->secret = malloc(config->secret_len);
	s->secret_len = config->secret_len;
	s->prefix = strdup(config->prefix);
	s->push_types = strdup(config->push_types ? config->push_types : "");
	s->max_mailboxes = config->max_mailboxes;
	s->max_owner_bytes = config->max_owner_bytes;
	s->rate_create = config->rate_create;
	s->rate_fail = config->rate_fail;
	s->max_waiters = config->max_waiters;
	s->offset_ms = config->offset_ms;
	s->timeout_ms = config->timeout_ms;
	s->wait_replicas = config->wait_replicas;
	s->random = config->random;
	s->random_ctx = config->random_ctx;
	s->now = config->now;
	s->state = state;
	s->state_ctx = ctx;
	s->channel_prefix = malloc(strlen(config->prefix) + 3);
	if (s->channel_prefix != NULL)
		snprintf(s->channel_prefix, strlen(config->prefix) + 3, "%sw:", config->prefix);
	/* The table's key first: redis_store_free destroys the table. */
	hashed = config->random(config->random_ctx, hash_key, sizeof(hash_key)) == 0 &&
	    config->random(config->random_ctx, name, sizeof(name)) == 0;
	table_init(&s->watches, hash_key);
	table_init(&s->heard, hash_key);
	event_assign(&s->count_timer, base, -1, EV_PERSIST, redis_on_count_timer, s);
	redis_hex(s->relay_name, name, sizeof(name));
	if (!hashed || s->secret == NULL || s->prefix == NULL || s->push_types == NULL ||
	    s->channel_prefix == NULL) {
		redis_store_free(s);
		return NULL;
	}
	memcpy(s->secret, config->secret, config->secret_len);
	evtimer_add(&s->count_timer, &second);
	events.ctx = s;
	sub_events.ctx = s;
	if ((s->redis = redis_new(base, &config->server, &events)) == NULL ||
	    (s->sub = redis_new(base, &config->server, &sub_events)) == NULL ||
	    (config->server.sentinel_count > 0 && (s->sentinel = redis_sentinel_new(base,
	    &config->server, (struct redis *[]){ s->redis, s->sub }, 2)) == NULL)) {
		redis_store_free(s);
		return NULL;
	}
	return s;
}

void redis_store_free(struct redis_store *s)
{
	if (s == NULL)
		return;
	evtimer_del(&s->count_timer);
	/* The subscription first: it only tells. Then unanswered calls get
	 * their NULL replies, and so their answers. No waiter is parked any
	 * more: the connections went first. */
	redis_free(s->sentinel);
	redis_free(s->sub);
	redis_free(s->redis);
	table_destroy(&s->watches);
	while (s->heard_oldest != NULL)
		redis_heard_drop(s, s->heard_oldest);
	table_destroy(&s->heard);
	free(s->channel_prefix);
	if (s->secret != NULL)
		memset(s->secret, 0, s->secret_len);
	free(s->secret);
	free(s->prefix);
	free(s->push_types);
	free(s);
}

int redis_store_up(const struct redis_store *s)
{
	return redis_up(s->redis);
}

/* --- as an access_store --------------------------------------------------- */

static void redis_access_create(void *ctx, struct access_request *req)
{
	redis_store_create(ctx, req);
}

static void redis_access_read(void *ctx, struct access_request *req)
{
	redis_store_read(ctx, req);
}

static void redis_access_update(void *ctx, struct access_request *req)
{
	redis_store_update(ctx, req);
}

static void redis_access_delete(void *ctx, struct access_request *req)
{
	redis_store_delete(ctx, req);
}

static void redis_access_relinquish(void *ctx, struct access_request *req)
{
	redis_store_relinquish(ctx, req);
}

static void redis_access_preview(void *ctx, struct access_request *req)
{
	redis_store_preview(ctx, req);
}

static void redis_access_count_failure(void *ctx, const uint8_t *client)
{
	redis_store_count_failure(ctx, client);
}

static void redis_access_drop_token(void *ctx, const uint8_t *id, int64_t now,
    enum mailbox_party party, struct store_bytes type, struct store_bytes data)
{
	redis_store_drop_token(ctx, id, now, party, type, data);
}

static void redis_access_release_waiter(void *ctx, const uint8_t *client, uint64_t lease)
{
	redis_store_release_waiter(ctx, client, lease);
}

static void redis_access_cancel(void *ctx, struct access_request *req)
{
	(void)ctx;
	redis_store_cancel(req);
}

static void redis_access_watch(void *ctx, struct mailbox *mb, struct mailbox_waiter *w)
{
	redis_store_watch(ctx, mb, w);
}

static void redis_access_unwatch(void *ctx, struct mailbox_waiter *w)
{
	(void)ctx;
	redis_store_unwatch(w);
}

void redis_store_access(struct access_store *out, struct redis_store *s)
{
	out->watch = redis_access_watch;
	out->unwatch = redis_access_unwatch;
	out->create = redis_access_create;
	out->read = redis_access_read;
	out->update = redis_access_update;
	out->remove = redis_access_delete;
	out->relinquish = redis_access_relinquish;
	out->preview = redis_access_preview;
	out->cancel = redis_access_cancel;
	out->count_failure = redis_access_count_failure;
	out->drop_token = redis_access_drop_token;
	out->release_waiter = s->max_waiters > 0 ? redis_access_release_waiter : NULL;
	out->deferred = 1;
	out->ctx = s;
}
