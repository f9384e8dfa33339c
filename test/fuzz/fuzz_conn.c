/*
 * fuzz_conn.c — the connection code itself (server/conn.c) under a script.
 *
 * The input is a script for test/fuzz/connsim.h: clients connect, send
 * requests whole or cut anywhere, send raw bytes, read some or all of their
 * answers, half-close and leave; their transports accept a few bytes at a
 * time, ask for the other readiness, fail, or hold the handshake back;
 * timers fire, mailboxes expire, the relay stops. The loop turns only when
 * the script says, so a wake-up, a departure and a timer can meet in one
 * turn in any order the fuzzer finds.
 *
 * Each step is one byte (the operation, and in its upper bits which peer)
 * followed by its arguments. What must hold after every step, besides
 * AddressSanitizer's and UBSan's silence: the server's counts of
 * connections, waiters and unsent output agree with its connections; no
 * connection holds more unsent output than its cap allows; every answer a
 * client reads is a well-formed HTTP/1.1 response. When the script ends,
 * every client leaves, and every connection, waiter and byte must be gone.
 */
#include "test/fuzz/fuzz.h"
#include "test/fuzz/connsim.h"

enum fuzz_op {
	OP_CONNECT, OP_SEND, OP_SEND_CUT, OP_SEND_REST, OP_SEND_RAW, OP_RECV, OP_RECV_SOME,
	OP_SHUT_WR, OP_CLOSE, OP_TURN, OP_SETTLE, OP_TIMER, OP_EXPIRE, OP_RECREATE, OP_STOP,
	OP_BEHAVE, OP_COUNT
};

struct fuzz_script {
	const uint8_t *data;
	size_t len, at;
};

static uint8_t fuzz_byte(struct fuzz_script *s)
{
	return s->at < s->len ? s->data[s->at++] : 0;
}

static void fuzz_behave(struct sim *sim, size_t peer, uint8_t what, uint8_t arg)
{
	static const size_t quotas[] = { 0, 1, 17, 512, 4096, 70000, SIZE_MAX, SIZE_MAX };
	static const size_t chunks[] = { 0, 1, 3, 64, 1000, 16384, 0, 0 };
	struct sim_behaviour *how = sim_behaviour(sim, peer);

	switch (what % 5) {
	case 0: how->write_quota = quotas[arg % 8]; break;
	case 1: how->read_chunk = chunks[arg % 8]; break;
	case 2: how->fail = 1; break;
	case 3: how->handshake_wants = arg % 4; break;
	case 4: how->read_wants_write = 1; break;
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_script s = { data, size, 0 };
	struct sim *sim = sim_new();

	while (s.at < s.len && sim->violation == NULL) {
		uint8_t step = fuzz_byte(&s);
		size_t peer = (size_t)(step >> 4) % SIM_PEERS;

		switch (step % OP_COUNT) {
		case OP_CONNECT:
			sim_connect(sim, peer, fuzz_byte(&s) & 1 ? 4096 : 0);
			break;
		case OP_SEND:
			sim_send_template(sim, peer, fuzz_byte(&s), 0);
			break;
		case OP_SEND_CUT: {
			size_t which = fuzz_byte(&s);
			size_t cut = (size_t)fuzz_byte(&s) << 8 | fuzz_byte(&s);

			sim_send_template(sim, peer, which, cut == 0 ? 1 : cut);
			break;
		}
		case OP_SEND_REST:
			sim_send_rest(sim, peer);
			break;
		case OP_SEND_RAW: {
			size_t n = fuzz_byte(&s) % 64;

			if (n > s.len - s.at)
				n = s.len - s.at;
			sim_send_raw(sim, peer, (const char *)s.data + s.at, n);
			s.at += n;
			break;
		}
		case OP_RECV:
			sim_recv(sim, peer, SIZE_MAX);
			break;
		case OP_RECV_SOME:
			sim_recv(sim, peer, (size_t)fuzz_byte(&s) * 64 + 1);
			break;
		case OP_SHUT_WR:
			sim_shutdown_write(sim, peer);
			break;
		case OP_CLOSE:
			sim_close(sim, peer);
			break;
		case OP_TURN:
			sim_turn(sim);
			break;
		case OP_SETTLE:
			sim_settle(sim);
			break;
		case OP_TIMER:
			sim_fire_timer(sim, peer);
			break;
		case OP_EXPIRE:
			sim_expire(sim);
			break;
		case OP_RECREATE:
			sim_create_mailbox(sim);
			break;
		case OP_STOP:
			sim_stop(sim);
			break;
		case OP_BEHAVE: {
			uint8_t what = fuzz_byte(&s);

			fuzz_behave(sim, peer, what, fuzz_byte(&s));
			break;
		}
		}
		sim_check(sim);
	}
	if (sim->violation == NULL)
		sim_drain(sim);
	if (sim->violation != NULL)
		fprintf(stderr, "connsim: %s\n", sim->violation);
	FUZZ_CHECK(sim->violation == NULL, "the connections' invariants hold");
	sim_free(sim);
	return 0;
}
