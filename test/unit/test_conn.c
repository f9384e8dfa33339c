/*
 * test_conn.c — the connection state machine (server/conn.c), driven through
 * the scripted transport of test/fuzz/connsim.h: the orders of events that a
 * real network produces only by chance, produced on purpose.
 */
#include "test/fuzz/connsim.h"
#include "test/unit/check.h"

/* Run turns until the peer has received n answers (or give up). */
static void wait_answers(struct sim *sim, size_t peer, size_t n)
{
	for (int i = 0; i < 200 && sim->peers[peer].status_count < n; i++) {
		sim_turn(sim);
		sim_recv(sim, peer, SIZE_MAX);
	}
}

/* The relay has said goodbye to the peer: its answers are over. */
static int peer_sees_end(struct sim *sim, size_t peer)
{
	char byte;

	return recv(sim->peers[peer].fd, &byte, 1, MSG_DONTWAIT) == 0;
}

static void check_sim(struct sim *sim)
{
	sim_check(sim);
	if (sim->violation != NULL)
		printf("    invariant: %s\n", sim->violation);
	CHECK(sim->violation == NULL);
}

static struct sim *sim_with_parked_sender(void)
{
	struct sim *sim = sim_new();

	sim_connect(sim, 0, 0);
	sim_send_template(sim, 0, SIM_POLL_SENDER, 0);
	sim_settle(sim);
	CHECK_EQ_INT(sim->server.conn_context.waiter_count, 1);
	return sim;
}

/* The waking request and the waiter's departure reach the relay in one
 * turn, the request first: the waiter is freed by its read callback while
 * its write event, made active by the wake-up, is still queued. */
static void waiter_leaves_as_it_is_woken(enum sim_template waker)
{
	struct sim *sim = sim_with_parked_sender();

	sim_connect(sim, 1, 0);
	sim_send_template(sim, 1, waker, 0);
	sim_close(sim, 0);
	sim_turn(sim);
	sim_settle(sim);
	check_sim(sim);
	CHECK_EQ_INT(sim->server.conn_context.waiter_count, 0);
	CHECK(sim_conn(sim, 0) == NULL);
	sim_recv(sim, 1, SIZE_MAX);
	CHECK_EQ_INT(sim->peers[1].status_count, 1);
	CHECK_EQ_INT(sim->peers[1].statuses[0], 200);
	sim_drain(sim);
	check_sim(sim);
	sim_free(sim);
}

static void test_waiter_leaves_as_an_update_wakes_it(void)
{
	waiter_leaves_as_it_is_woken(SIM_UPDATE_SENDER);
}

static void test_waiter_leaves_as_a_delete_wakes_it(void)
{
	waiter_leaves_as_it_is_woken(SIM_DELETE_SENDER);
}

static void test_waiter_leaves_as_expiry_wakes_it(void)
{
	struct sim *sim = sim_with_parked_sender();

	sim_close(sim, 0);
	sim_expire(sim);
	sim_turn(sim);
	sim_settle(sim);
	check_sim(sim);
	CHECK_EQ_INT(sim->server.conn_count, 0);
	sim_free(sim);
}

static void test_waiter_leaves_as_the_relay_stops(void)
{
	struct sim *sim = sim_with_parked_sender();

	sim_close(sim, 0);
	sim_stop(sim);
	sim_turn(sim);
	sim_settle(sim);
	check_sim(sim);
	CHECK_EQ_INT(sim->server.conn_count, 0);
	sim_free(sim);
}

static void test_waiter_leaves_as_its_time_runs_out(void)
{
	struct sim *sim = sim_with_parked_sender();

	sim_close(sim, 0);
	sim_fire_timer(sim, 0);
	sim_turn(sim);
	sim_settle(sim);
	check_sim(sim);
	CHECK_EQ_INT(sim->server.conn_count, 0);
	sim_free(sim);
}

/* Woken and stopped in the same turn: one answer, never two. */
static void test_waiter_woken_then_stopped_gets_one_answer(void)
{
	struct sim *sim = sim_with_parked_sender();

	sim_connect(sim, 1, 0);
	sim_send_template(sim, 1, SIM_UPDATE_SENDER, 0);
	sim_turn(sim);
	sim_stop(sim);
	sim_settle(sim);
	wait_answers(sim, 0, 1);
	CHECK_EQ_INT(sim->peers[0].status_count, 1);
	CHECK_EQ_INT(sim->peers[0].statuses[0], 200);
	check_sim(sim);
	sim_drain(sim);
	check_sim(sim);
	sim_free(sim);
}

/* A client that pipelines reads of a large mailbox and takes nothing:
 * the relay stops parsing once the answers waiting for it pass the cap,
 * and carries on, losing nothing, once the client reads. */
static void test_pipelined_reads_stop_at_the_output_cap(void)
{
	struct sim *sim = sim_new();
	struct conn *c;

	sim_connect(sim, 0, 0);
	sim_behaviour(sim, 0)->write_quota = 0;
	for (int i = 0; i < 16; i++)
		sim_send_template(sim, 0, SIM_READ_SENDER, 0);
	sim_settle(sim);
	check_sim(sim);
	c = sim_conn(sim, 0);
	CHECK(c != NULL);
	if (c != NULL) {
		/* Each answer is over 50 KB: the second passes 64 KiB. */
		CHECK_EQ_INT(c->requests, 2);
		CHECK(c->out.len - c->out_sent < 128 * 1024);
		CHECK_EQ_INT(sim->server.conn_context.out_pending, c->out.len - c->out_sent);
	}
	sim_behaviour(sim, 0)->write_quota = SIZE_MAX;
	wait_answers(sim, 0, 16);
	CHECK_EQ_INT(sim->peers[0].status_count, 16);
	for (size_t i = 0; i < sim->peers[0].status_count; i++)
		CHECK_EQ_INT(sim->peers[0].statuses[i], 200);
	check_sim(sim);
	sim_drain(sim);
	check_sim(sim);
	sim_free(sim);
}

/* Clients that hold answers unread fill the server's budget: the next
 * request anywhere gets 503 with Retry-After, and once they read, requests
 * are served again. */
static void test_output_budget_turns_requests_away_until_clients_read(void)
{
	struct sim *sim = sim_new();

	for (size_t p = 0; p < 3; p++) {
		sim_connect(sim, p, 0);
		sim_behaviour(sim, p)->write_quota = 0;
		for (int i = 0; i < 3; i++)
			sim_send_template(sim, p, SIM_READ_SENDER, 0);
		sim_settle(sim);
	}
	CHECK(conn_output_full(&sim->server.conn_context));
	sim_connect(sim, 3, 0);
	sim_send_template(sim, 3, SIM_PREVIEW, 0);
	wait_answers(sim, 3, 1);
	CHECK_EQ_INT(sim->peers[3].status_count, 1);
	CHECK_EQ_INT(sim->peers[3].statuses[0], 503);
	check_sim(sim);
	for (size_t p = 0; p < 3; p++) {
		sim_behaviour(sim, p)->write_quota = SIZE_MAX;
		wait_answers(sim, p, 2);
	}
	CHECK(!conn_output_full(&sim->server.conn_context));
	sim_close(sim, 3);
	sim_settle(sim);
	sim_connect(sim, 3, 0);
	sim_send_template(sim, 3, SIM_PREVIEW, 0);
	wait_answers(sim, 3, 1);
	CHECK_EQ_INT(sim->peers[3].status_count, 1);
	CHECK_EQ_INT(sim->peers[3].statuses[0], 200);
	check_sim(sim);
	sim_drain(sim);
	check_sim(sim);
	sim_free(sim);
}

/* One update wakes two waiters with the budget nearly spent: the first
 * answer that fits is sent whole, the one after it is a short 503, and
 * that connection closes as its answer says. */
static void test_waiters_woken_past_the_budget_get_503(void)
{
	struct sim *sim = sim_new();

	for (size_t p = 0; p < 2; p++) {
		sim_connect(sim, p, 0);
		sim_behaviour(sim, p)->write_quota = 0;
		for (int i = 0; i < 3; i++)
			sim_send_template(sim, p, SIM_READ_SENDER, 0);
		sim_settle(sim);
	}
	CHECK(!conn_output_full(&sim->server.conn_context));
	sim_connect(sim, 2, 0);
	sim_send_template(sim, 2, SIM_POLL_SENDER, 0);
	sim_connect(sim, 3, 0);
	sim_send_template(sim, 3, SIM_POLL_SENDER, 0);
	sim_settle(sim);
	CHECK_EQ_INT(sim->server.conn_context.waiter_count, 2);
	sim_connect(sim, 4, 0);
	sim_send_template(sim, 4, SIM_UPDATE_BIG, 0);
	wait_answers(sim, 4, 1);
	wait_answers(sim, 2, 1);
	wait_answers(sim, 3, 1);
	CHECK_EQ_INT(sim->peers[4].statuses[0], 200);
	CHECK_EQ_INT(sim->peers[2].status_count, 1);
	CHECK_EQ_INT(sim->peers[3].status_count, 1);
	/* Waiters are woken in some order: one of each. */
	CHECK_EQ_INT(sim->peers[2].statuses[0] + sim->peers[3].statuses[0], 200 + 503);
	sim_settle(sim);
	CHECK(peer_sees_end(sim, sim->peers[2].statuses[0] == 503 ? 2 : 3));
	check_sim(sim);
	sim_drain(sim);
	check_sim(sim);
	sim_free(sim);
}

/* The transport asks for the other readiness (TLS during a read), accepts
 * a few bytes at a time, and holds the handshake back: every answer still
 * arrives whole and in order. */
static void test_transport_wants_and_short_writes(void)
{
	struct sim *sim = sim_new();
	struct sim_behaviour *how;

	sim_connect(sim, 0, 0);
	how = sim_behaviour(sim, 0);
	how->handshake_wants = 2;
	how->read_wants_write = 1;
	how->read_chunk = 7;
	sim_send_template(sim, 0, SIM_PREVIEW, 0);
	sim_send_template(sim, 0, SIM_READ_SENDER, 0);
	sim_send_template(sim, 0, SIM_UPDATE_CHUNKED, 0);
	sim_send_template(sim, 0, SIM_HEAD, 0);
	for (int i = 0; i < 400 && sim->peers[0].status_count < 4; i++) {
		how->write_quota = 1000;
		sim_turn(sim);
		sim_recv(sim, 0, SIZE_MAX);
	}
	CHECK_EQ_INT(sim->peers[0].status_count, 4);
	for (size_t i = 0; i < 4; i++)
		CHECK_EQ_INT(sim->peers[0].statuses[i], 200);
	check_sim(sim);
	sim_drain(sim);
	check_sim(sim);
	sim_free(sim);
}

/* A client that half-closes after its request still gets its answer. */
static void test_half_close_after_a_request_is_answered(void)
{
	struct sim *sim = sim_new();

	sim_connect(sim, 0, 0);
	sim_send_template(sim, 0, SIM_READ_SENDER, 0);
	sim_shutdown_write(sim, 0);
	wait_answers(sim, 0, 1);
	CHECK_EQ_INT(sim->peers[0].status_count, 1);
	CHECK_EQ_INT(sim->peers[0].statuses[0], 200);
	sim_settle(sim);
	check_sim(sim);
	CHECK_EQ_INT(sim->server.conn_count, 0);
	sim_free(sim);
}

/* A transport failure at any point frees the connection and nothing else. */
static void test_transport_failure_in_every_state(void)
{
	enum sim_template step[] = { SIM_READ_SENDER, SIM_POLL_SENDER, SIM_UPDATE_BIG };

	for (size_t at = 0; at < 3; at++) {
		struct sim *sim = sim_new();

		sim_connect(sim, 0, 0);
		sim_send_template(sim, 0, step[at], 20);
		sim_settle(sim);
		sim_behaviour(sim, 0)->fail = 1;
		sim_send_rest(sim, 0);
		sim_settle(sim);
		check_sim(sim);
		CHECK_EQ_INT(sim->server.conn_count, 0);
		CHECK_EQ_INT(sim->server.conn_context.waiter_count, 0);
		sim_free(sim);
	}
}

/* A request head that stops half way: the deadline answers 408, closes. */
static void test_head_deadline_answers_408(void)
{
	struct sim *sim = sim_new();

	sim_connect(sim, 0, 0);
	sim_send_template(sim, 0, SIM_UPDATE_SENDER, 30);
	sim_settle(sim);
	sim_fire_timer(sim, 0);
	wait_answers(sim, 0, 1);
	CHECK_EQ_INT(sim->peers[0].status_count, 1);
	CHECK_EQ_INT(sim->peers[0].statuses[0], 408);
	sim_close(sim, 0);
	sim_settle(sim);
	check_sim(sim);
	CHECK_EQ_INT(sim->server.conn_count, 0);
	sim_free(sim);
}

int main(void)
{
	CHECK_RUN(test_waiter_leaves_as_an_update_wakes_it);
	CHECK_RUN(test_waiter_leaves_as_a_delete_wakes_it);
	CHECK_RUN(test_waiter_leaves_as_expiry_wakes_it);
	CHECK_RUN(test_waiter_leaves_as_the_relay_stops);
	CHECK_RUN(test_waiter_leaves_as_its_time_runs_out);
	CHECK_RUN(test_waiter_woken_then_stopped_gets_one_answer);
	CHECK_RUN(test_pipelined_reads_stop_at_the_output_cap);
	CHECK_RUN(test_output_budget_turns_requests_away_until_clients_read);
	CHECK_RUN(test_waiters_woken_past_the_budget_get_503);
	CHECK_RUN(test_transport_wants_and_short_writes);
	CHECK_RUN(test_half_close_after_a_request_is_answered);
	CHECK_RUN(test_transport_failure_in_every_state);
	CHECK_RUN(test_head_deadline_answers_408);
	return CHECK_SUMMARY();
}
