"""Chaos: many misbehaving clients at once against the sanitizer build, to
close the class of bugs where a connection goes away at an awkward moment
(issue 9: a Sender's socket closing in the loop turn in which an update
woke its parked long-poll freed the connection under a pending callback).

Runs only when CHAOS_SECONDS is set: `make check` sets it (the relay there
is built with ASan and UBSan, which turn a use-after-free into a report
instead of silent damage). The seed is random unless CHAOS_SEED gives one;
it is printed on the result line and in every failure, and

    CHAOS_SEED=<seed> CHAOS_SECONDS=30 python3 test/run.py \\
        --relay build/san/relay -k test_chaos

runs the same scenarios again (README.md, Tests). The engine is chaos.py; the
scenarios below say what the clients do, each drawing every choice from its
own dice.

The test fails on a sanitizer report or any other death of the relay, on a
protocol violation in an answer read, on a hang, and, after the storm, when
the relay has not given back every connection or miscounts its parked
long-polls (--max-waiters must hold exactly), or does not stop cleanly when
told to while polls are parked and some of them reset (LeakSanitizer runs
at exit).
"""

import asyncio
import json
import os
import random
import signal
import time
import unittest

import chaos
import relaytest
from chaos import IO_TIMEOUT_S, SLACK_S, Gone, Violation, claim_of
from relaytest import Relay, wait_until

CHAOS_SECONDS = float(os.environ.get("CHAOS_SECONDS") or 0)
EXPECTED_SECONDS = int(CHAOS_SECONDS) + 15
# Alone: it keeps both cores busy, which would disturb the modules that
# measure latency, and their load would hide its races.
EXCLUSIVE = True

WORKERS = int(os.environ.get("CHAOS_WORKERS") or 60)
MAX_WAIT_S = 4
MAX_WAITERS = 48
TIMEOUT_S = 5                # header and body timeouts
HANDSHAKE_TIMEOUT_S = 10     # handshakes queue behind each other under ASan
IDLE_TIMEOUT_S = 10          # also how long a client may take nothing of an answer
# A little under the storm's peak, so that accepts pause and resume under it.
MAX_CONNECTIONS = 100
RELAY_ARGS = ["--max-wait", "%ds" % MAX_WAIT_S, "--max-waiters", str(MAX_WAITERS),
              "--default-ttl", "6s", "--max-ttl", "60s", "--max-mailboxes", "2000",
              "--max-body", "8k", "--max-connections", str(MAX_CONNECTIONS),
              "--handshake-timeout", "%ds" % HANDSHAKE_TIMEOUT_S, "--header-timeout", "%ds" % TIMEOUT_S,
              "--body-timeout", "%ds" % TIMEOUT_S, "--idle-timeout", "%ds" % IDLE_TIMEOUT_S]

LEAVE = ["fin", "rst", "notify", "half"]


def _pause(rng, choices=(0, 0, 0.002, 0.01, 0.05, 0.2)):
    # Part of the storm (where in the other side's work we act), never a
    # substitute for waiting on a condition.
    return asyncio.sleep(rng.choice(choices))


# ------------------------------------------------------------- scenarios

async def wake_race(sc):
    """Long-polls parked on one mailbox while it is updated, deleted,
    relinquished, expires or the waits run out; each poller reads its answer
    or leaves (FIN, RST, close_notify, half-close) before, with or after
    the event that wakes it, in the same step as the request that wakes it."""
    rng = sc.rng
    mb = sc.new_mailbox(rng.choice(["RWD", "RWD", "RW", "RD", "R"]),
                        rng.choice([None, None, None, 3, 4, 6]))
    actor = await sc.client().open()
    if not await sc.create(mb, actor):
        return
    mb.etag = (await sc.exchange(actor, sc.req.read(mb, mb.sender))).header("ETag")
    if mb.etag is None:
        return                       # expired already
    receiver = None
    if rng.random() < 0.6:
        receiver = claim_of(rng)
        resp = await sc.exchange(actor, sc.req.read(mb, receiver))
        if resp.status != 200:
            receiver = None
    pollers = []
    for _ in range(rng.randint(1, 4)):
        claim = receiver if receiver and rng.random() < 0.5 else mb.sender
        inm = mb.etag if rng.random() < 0.9 else '"stale"'
        poll = sc.req.read(mb, claim, inm=inm, wait=rng.randint(1, MAX_WAIT_S + 2),
                           body=rng.random() < 0.2)
        fate = rng.choice(["read", "read", "slow", "before", "with", "with", "with", "during",
                           "abandon"])
        how = rng.choice(LEAVE)
        if fate == "during":
            how = (how, rng.uniform(0, MAX_WAIT_S + 0.5))
        behind = sc.req.preview(mb) if rng.random() < 0.2 else None
        pollers.append((sc.client(), poll, fate, how, behind))
    await asyncio.gather(*(c.open() for c, *_ in pollers))
    for conn, poll, fate, how, behind in pollers:
        poll.sent_at = time.monotonic()
        await conn.send(poll.bytes() + (behind.bytes() if behind else b""))
    for conn, poll, fate, how, behind in pollers:
        if fate == "before":
            conn.leave(how)
    if rng.random() < 0.7:
        # The relay serves readable connections in the order they became
        # readable, so once this answer is back the polls sent before it
        # have parked: the action below then wakes parked polls (without
        # this, it races their parking too).
        await sc.exchange(actor, sc.req.preview(mb))
    actions = ["update", "update", "delete", "none", "two"]
    if receiver:
        actions += ["update_receiver", "relinquish", "delete_receiver"]
    if mb.lifetime_s is not None and mb.lifetime_s < 8:
        actions += ["after_expiry", "after_expiry"]
    action = rng.choice(actions)
    sc.note("%d pollers (%s), action %s" % (len(pollers), ",".join(
        "%s/%s" % (f, h) for _, _, f, h, _ in pollers), action))
    if action == "after_expiry":
        # Come just before or after the expiry timer, so that the request
        # itself may be what finds the mailbox expired and wakes the pollers.
        await asyncio.sleep(max(0.0, mb.expires_at - time.time() + rng.uniform(-0.4, 1.2)))
    else:
        # Mostly long enough for the polls to have parked.
        await _pause(rng, (0, 0.005, 0.02, 0.05, 0.05, 0.1, 0.2, 0.3))
    if action == "none":
        reqs = []
    elif action == "update":
        reqs = [sc.req.update(mb, mb.sender, if_match=rng.choice([None, None, mb.etag, '"x"']))]
    elif action == "two":
        reqs = [sc.req.update(mb, mb.sender), sc.req.delete(mb, mb.sender)]
    elif action == "update_receiver":
        reqs = [sc.req.update(mb, receiver)]
    elif action == "relinquish":
        reqs = [sc.req.relinquish(mb, receiver)]
    elif action == "delete_receiver":
        reqs = [sc.req.delete(mb, receiver)]
    elif action == "after_expiry":
        reqs = [rng.choice([sc.req.read(mb, mb.sender), sc.req.update(mb, mb.sender)])]
    else:
        reqs = [sc.req.delete(mb, mb.sender)]
    if reqs:
        if action == "after_expiry":
            actor = await sc.client().open()     # the first one may have idled out
        now = time.monotonic()
        for r in reqs:
            r.sent_at = now
        # Sent whole, the request and the leaving pollers' FIN or RST reach
        # the relay together: one loop turn may see both.
        await actor.send(b"".join(r.bytes() for r in reqs))
    for conn, poll, fate, how, behind in pollers:
        if fate == "with":
            conn.leave(how)
            sc.run.stats["left as woken"] += action != "none"

    # Pacing draws as many numbers as the timing needs: from dice of its own.
    pace_seed = rng.random()

    async def act():
        for r in reqs:
            await actor.response(r, time.monotonic() + IO_TIMEOUT_S)

    async def leave_during(conn, how_and_when):
        how, after_s = how_and_when
        await asyncio.sleep(after_s)
        conn.leave(how)

    async def answer(conn, poll, fate, behind):
        deadline = poll.sent_at + min(poll.wait, MAX_WAIT_S) + SLACK_S
        if fate == "slow":
            conn.pace = (random.Random(pace_seed), 64, 0.01)
        await conn.response(poll, deadline)
        if behind:
            await conn.response(behind, time.monotonic() + IO_TIMEOUT_S)

    await asyncio.gather(act(), *(answer(c, p, f, b) for c, p, f, h, b in pollers
                                  if f in ("read", "slow")),
                         *(leave_during(c, h) for c, p, f, h, b in pollers if f == "during"))


async def leave_early(sc):
    """One connection that leaves at a random point of the TLS handshake,
    the request head or the body; or stalls there until the relay's timer
    must answer 408 (or close a handshake)."""
    rng = sc.rng
    mb = sc.new_mailbox()
    mb.id = claim_of(rng)            # a mailbox nobody created: reads get 404
    stage = rng.choice(["tcp", "hello", "hello", "server_flight", "plaintext", "junk", "head",
                        "head", "body", "body", "chunked", "expect"])
    how = rng.choice(LEAVE + ["stall"])
    sc.note("stage %s, then %s" % (stage, how))
    conn = sc.client()
    await conn.connect()
    if stage in ("tcp", "hello", "server_flight", "plaintext", "junk"):
        if stage == "hello":
            hello = conn.client_hello()
            await conn.send_raw(hello[:rng.randrange(1, len(hello))])
        elif stage == "server_flight":
            await conn.send_raw(conn.client_hello())
            if rng.random() < 0.5:
                # Part of the relay's answer, still in the handshake.
                await conn.drain_raw(time.monotonic() + IO_TIMEOUT_S, rng.randint(1, 200))
        elif stage == "plaintext":
            await conn.send_raw(b"GET /v1/m HTTP/1.1\r\nHost: localhost\r\n\r\n")
        elif stage == "junk":
            await conn.send_raw(rng.randbytes(rng.randint(1, 600)))
        if how == "stall":
            # The relay gives up on a handshake within --handshake-timeout.
            await conn.drain_raw_until_closed(time.monotonic() + HANDSHAKE_TIMEOUT_S + SLACK_S)
        else:
            conn.leave(how if how != "notify" else "fin")
        return
    await conn.handshake()
    if stage == "head":
        req = rng.choice([sc.req.read(mb, mb.sender), sc.req.create(mb), sc.req.preview(mb)])
        data = req.bytes()
        cut = data.index(b"\r\n\r\n") + rng.choice([0, 2, 3])
        part = data[:rng.randrange(1, cut + 1)]
    else:
        req = sc.req.update(mb, mb.sender)
        if stage == "chunked":
            body = req.body
            req.headers = [(n, v) for n, v in req.headers] + [("Transfer-Encoding", "chunked")]
            req.body = chaos_chunked(body, rng)
        elif stage == "expect":
            req.headers.append(("Expect", "100-continue"))
            req.interim = True
        data = req.bytes()
        head_end = data.index(b"\r\n\r\n") + 4
        part = data[:rng.randrange(head_end, len(data))]
    if stage == "expect" and rng.random() < 0.5:
        req.sent_at = time.monotonic()
        await conn.send(data[:data.index(b"\r\n\r\n") + 4])
        # 100 Continue (which response() skips), then the rest or not.
        await conn.fill(time.monotonic() + IO_TIMEOUT_S)
        if rng.random() < 0.5:
            await conn.send(data[data.index(b"\r\n\r\n") + 4:])
            await conn.response(req, time.monotonic() + IO_TIMEOUT_S)
            return
        part = b""
    elif len(part) > 1:
        await conn.send_pieces(part, rng)
    else:
        await conn.send(part)
    if how != "stall":
        conn.leave(how)
        if how == "half":
            # The relay sees the end of the stream: it closes; it may not
            # answer a request it never got whole.
            await conn.drain_until_closed(time.monotonic() + IO_TIMEOUT_S)
        return
    req.allowed = {408}
    req.request_id = None
    req.sent_at = time.monotonic()
    resp = await conn.response(req, time.monotonic() + TIMEOUT_S + SLACK_S)
    await conn.drain_until_closed(time.monotonic() + IO_TIMEOUT_S)
    sc.note("stalled: %d" % resp.status)


def chaos_chunked(body, rng):
    out, i = bytearray(), 0
    while i < len(body):
        n = rng.randint(1, 200)
        out += b"%x\r\n" % len(body[i:i + n]) + body[i:i + n] + b"\r\n"
        i += n
    return bytes(out + b"0\r\n\r\n")


async def pipeline(sc):
    """Several requests in one go (whole, or in pieces), a long-poll among
    them; then read them all in order, some, none, or half-close."""
    rng = sc.rng
    mb = sc.new_mailbox(rng.choice(["RWD", "RW", None]))
    conn = await sc.client().open()
    if not await sc.create(mb, conn):
        return
    mb.etag = (await sc.exchange(conn, sc.req.read(mb, mb.sender))).header("ETag")
    receiver = claim_of(rng)
    reqs = []
    for _ in range(rng.randint(2, 12)):
        kind = rng.choice(["read", "read_receiver", "preview", "preview_head", "update", "odd",
                           "poll", "relinquish", "delete"])
        if kind == "read":
            reqs.append(sc.req.read(mb, mb.sender, body=rng.random() < 0.3))
        elif kind == "read_receiver":
            reqs.append(sc.req.read(mb, receiver))
        elif kind in ("preview", "preview_head"):
            reqs.append(sc.req.preview(mb, head=kind == "preview_head"))
        elif kind == "update":
            reqs.append(sc.req.update(mb, rng.choice([mb.sender, receiver])))
        elif kind == "odd":
            reqs.append(sc.req.odd(mb))
        elif kind == "poll":
            reqs.append(sc.req.read(mb, mb.sender, inm=mb.etag, wait=rng.randint(1, 2)))
        elif kind == "relinquish":
            reqs.append(sc.req.relinquish(mb, receiver))
        elif kind == "delete" and rng.random() < 0.3:
            reqs.append(sc.req.delete(mb, rng.choice([mb.sender, receiver])))
    if not reqs:
        return          # every draw was a delete not taken: nothing to send
    fate = rng.choice(["all", "all", "all", "some", "none", "half"])
    how = rng.choice(["fin", "rst", "notify"])
    sc.note("%s, then %s/%s" % (" ".join(map(str, reqs)), fate, how))
    data = b"".join(r.bytes() for r in reqs)
    now = time.monotonic()
    for r in reqs:
        r.sent_at = now
    if rng.random() < 0.5:
        await conn.send(data)
    else:
        await conn.send_pieces(data, rng)
    if fate == "none":
        conn.leave(how)
        return
    if fate == "half":
        conn.leave("half")
    keep = rng.randrange(len(reqs)) if fate == "some" else len(reqs)
    deadline = time.monotonic() + 2 + IO_TIMEOUT_S + len(reqs)
    try:
        for r in reqs[:keep]:
            # Pipelined answers queue behind a long-poll (up to 2 s).
            await conn.response(r, deadline, lenient_eof=fate == "half")
    except Gone:
        return
    if fate == "some":
        conn.leave(how)


async def slow_reader(sc):
    """A tiny receive buffer and many answers queued: read a few bytes at a
    time, stop reading and reset, or never read and let the relay's write
    timeout close the connection."""
    rng = sc.rng
    mb = sc.new_mailbox()
    if not await sc.create(mb):
        return
    conn = await sc.client(rcvbuf=rng.choice([2048, 4096, 8192])).open()
    reqs = [rng.choice([sc.req.preview(mb), sc.req.read(mb, mb.sender)])
            for _ in range(rng.randint(8, 60))]
    now = time.monotonic()
    for r in reqs:
        r.sent_at = now
    await conn.send(b"".join(r.bytes() for r in reqs))
    fate = rng.choice(["slow", "slow", "rst_mid", "stuck"])
    sc.note("%d requests, %s" % (len(reqs), fate))
    if fate == "stuck":
        # Take nothing for longer than the relay's write timeout
        # (--idle-timeout): it must give up on us and close.
        await asyncio.sleep(IDLE_TIMEOUT_S + rng.uniform(0, 2))
        await conn.drain_until_closed(time.monotonic() + IDLE_TIMEOUT_S + SLACK_S)
        return
    conn.pace = (random.Random(rng.random()), 300, 0.005)
    stop_after = rng.randrange(len(reqs)) if fate == "rst_mid" else len(reqs)
    deadline = time.monotonic() + IDLE_TIMEOUT_S + SLACK_S
    try:
        for r in reqs[:stop_after]:
            # The relay may end a client this slow when --idle-timeout
            # passes without it taking the whole answer.
            await conn.response(r, deadline, lenient_eof=True)
    except Gone:
        return
    conn.leave("rst")


async def retries(sc):
    """Mailbox-Request-ID retries: a create whose answer is lost (the
    connection reset right after sending), the same create twice at once
    on two connections or pipelined on one (exactly one 200, the other 201
    with the same urlLink), the same for an update and a relinquish, with
    a long-poll parked meanwhile."""
    rng = sc.rng
    mb = sc.new_mailbox("RWD", 50)      # outlives the scenario: no 404 halfway
    create = sc.req.create(mb, request_id="create-%d" % sc.index)
    mode = rng.choice(["lost", "twin", "pipelined"])
    sc.note("create %s" % mode)
    retry = sc.req.create(mb, request_id=create.request_id)
    retry.body = create.body          # the same call, byte for byte
    first = await pair(sc, mode, create, retry)
    if first is None:
        return
    mb.url = first
    mb.id = chaos.MAILBOX_URL_RE.match(first).group(1)
    receiver = claim_of(rng)
    actor = await sc.client().open()
    await sc.exchange(actor, sc.req.read(mb, receiver))
    etag = (await sc.exchange(actor, sc.req.read(mb, mb.sender))).header("ETag")
    poller = await sc.client().open()
    poll = sc.req.read(mb, receiver, inm=etag, wait=MAX_WAIT_S)
    poll.sent_at = time.monotonic()
    await poller.send(poll.bytes())
    await _pause(rng)
    op = rng.choice(["update", "relinquish"])
    mode = rng.choice(["twin", "pipelined", "lost"])
    sc.note("%s %s" % (op, mode))
    who = rng.choice([mb.sender, receiver]) if op == "update" else receiver
    rid = "%s-%d" % (op, sc.index)
    one = getattr(sc.req, op)(mb, who, request_id=rid)
    two = getattr(sc.req, op)(mb, who, request_id=rid)
    two.body = one.body
    await pair(sc, mode, one, two)
    if rng.random() < 0.5:
        poller.leave(rng.choice(LEAVE))
    else:
        await poller.response(poll, time.monotonic() + MAX_WAIT_S + SLACK_S)


async def pair(sc, mode, one, two):
    """Send one and its retry two (lost, twin or pipelined); check that at
    most one was applied. Returns the urlLink of a create, else True; None
    if neither was applied."""
    rng = sc.rng
    if mode == "pipelined":
        conn = await sc.client().open()
        one.sent_at = two.sent_at = time.monotonic()
        await conn.send(one.bytes() + two.bytes())
        answers = [await conn.response(r, time.monotonic() + IO_TIMEOUT_S) for r in (one, two)]
    elif mode == "twin":
        a, b = await asyncio.gather(sc.client().open(), sc.client().open())
        one.sent_at = two.sent_at = time.monotonic()
        await a.send(one.bytes())
        await b.send(two.bytes())
        answers = await asyncio.gather(a.response(one, time.monotonic() + IO_TIMEOUT_S),
                                       b.response(two, time.monotonic() + IO_TIMEOUT_S))
    else:
        lost = await sc.client().open()
        await lost.send(one.bytes())
        lost.leave(rng.choice(["rst", "fin"]))
        conn = await sc.client().open()
        answers = [await sc.exchange(conn, two)]
    statuses = sorted(r.status for r in answers)
    if mode != "lost" and statuses not in ([200, 201], [401, 401], [404, 404], [503, 503]):
        raise Violation("%s sent twice (%s) answered %s: exactly one must be applied and the "
                        "other recognised as its retry" % (one, mode, statuses))
    applied = [r for r in answers if r.status in (200, 201)]
    if one.kind == "create":
        links = {json.loads(r.body)["urlLink"] for r in applied}
        if len(links) > 1:
            raise Violation("create and its retry answered different urlLinks %s" % links)
        return links.pop() if links else None
    if one.kind == "update" and len({r.header("ETag") for r in applied}) > 1:
        raise Violation("update and its retry answered different ETags: %s"
                        % [str(r) for r in applied])
    return True if applied else None


SCENARIOS = [("wake_race", 40, wake_race), ("leave_early", 25, leave_early),
             ("pipeline", 17, pipeline), ("slow_reader", 6, slow_reader),
             ("retries", 12, retries)]


# ------------------------------------------------------------------ test

def _relay_fds(relay):
    return len(os.listdir("/proc/%d/fd" % relay.proc.pid))


async def _waiters_exact(run):
    """Park exactly --max-waiters long-polls on one mailbox; one more must
    get 503 and no other, and an update must then answer all the rest."""
    sc = chaos.Scenario(run, random.Random("%s:waiters" % run.seed), -1)
    try:
        mb = sc.new_mailbox()
        assert await sc.create(mb), "create after the storm refused"
        conn = await sc.client().open()
        mb.etag = (await sc.exchange(conn, sc.req.read(mb, mb.sender))).header("ETag")
        polls = [sc.req.read(mb, mb.sender, inm=mb.etag, wait=MAX_WAIT_S)
                 for _ in range(MAX_WAITERS + 1)]
        conns = await asyncio.gather(*(sc.client().open() for _ in polls))
        for conn, poll in zip(conns, polls):
            poll.sent_at = time.monotonic()
            await conn.send(poll.bytes())
        pending = {asyncio.ensure_future(c.response(p, time.monotonic() + MAX_WAIT_S + SLACK_S)):
                   (c, p) for c, p in zip(conns, polls)}
        done, _ = await asyncio.wait(pending, timeout=MAX_WAIT_S - 1,
                                     return_when=asyncio.FIRST_COMPLETED)
        first = [f.result().status for f in done]
        assert first and all(s == 503 for s in first), (
            "with %d long-polls parked and one more, the first answers were %s, expected the "
            "one 503 past --max-waiters (the relay's count of waiters is off)"
            % (MAX_WAITERS, first or "none within %d s" % (MAX_WAIT_S - 1)))
        actor = await sc.client().open()
        await sc.exchange(actor, sc.req.update(mb, mb.sender))
        statuses = sorted(r.status for r in await asyncio.gather(*pending))
        assert statuses.count(503) == 1 and statuses.count(200) == MAX_WAITERS, (
            "%d long-polls against --max-waiters %d answered %s, expected one 503 and the rest "
            "woken with 200" % (MAX_WAITERS + 1, MAX_WAITERS, statuses))
    finally:
        sc.close_all()


async def _stop_under_fire(relay, run):
    """SIGTERM with long-polls parked and heads half sent, while some of the
    parked clients reset or close in the same moment: every poll still
    there is answered, and the relay then exits cleanly (relay.stop())."""
    rng = random.Random("%s:stop" % run.seed)
    sc = chaos.Scenario(run, rng, -2)
    mb = sc.new_mailbox()
    actor = await sc.client().open()
    assert await sc.create(mb, actor), "create before the stop refused"
    mb.etag = (await sc.exchange(actor, sc.req.read(mb, mb.sender))).header("ETag")
    conns = await asyncio.gather(*(sc.client().open() for _ in range(MAX_WAITERS // 2 + 3)))
    polls, partial = conns[:-3], conns[-3:]
    reqs = []
    for conn in polls:
        reqs.append(sc.req.read(mb, mb.sender, inm=mb.etag, wait=MAX_WAIT_S))
        reqs[-1].sent_at = time.monotonic()
        await conn.send(reqs[-1].bytes())
    for conn in partial:
        head = sc.req.read(mb, mb.sender).bytes()
        await conn.send(head[:rng.randrange(1, len(head) - 4)])
    await sc.exchange(actor, sc.req.preview(mb))     # the polls have parked (see wake_race)
    fates = [rng.choice(["read", "read"] + LEAVE) for _ in polls]
    relay.send_signal(signal.SIGTERM)
    for conn, fate in zip(polls + partial, fates + [rng.choice(LEAVE + ["stay"]) for _ in partial]):
        if fate not in ("read", "stay"):
            conn.leave(fate)
    for conn, req, fate in zip(polls, reqs, fates):
        if fate == "read":
            req.allowed |= {204, 503}
            req.wait = None           # the stop ends the wait early
            await conn.response(req, time.monotonic() + IO_TIMEOUT_S)
    sc.close_all()


def test_chaos():
    if CHAOS_SECONDS <= 0:
        raise unittest.SkipTest("set CHAOS_SECONDS to run it (make check does)")
    seed = int(os.environ.get("CHAOS_SEED") or random.SystemRandom().randrange(10 ** 9))
    binary = os.path.relpath(relaytest.RELAY_BIN)
    if binary.startswith(".."):
        binary = relaytest.RELAY_BIN
    elif "/" not in binary:
        binary = "./" + binary
    replay = ("(seed %d; replay: CHAOS_SEED=%d CHAOS_SECONDS=%g python3 test/run.py --relay %s "
              "-k test_chaos)" % (seed, seed, CHAOS_SECONDS, binary))
    relay = Relay(*RELAY_ARGS).start()
    run = chaos.Run(relay, SCENARIOS, seed, CHAOS_SECONDS, WORKERS, MAX_WAIT_S)
    failure = None
    try:
        _storm(relay, run)
    except (AssertionError, Gone, OSError) as e:
        failure = e
    # Gone before the final SIGTERM is a death; after it, relay.stop()
    # below judges the exit.
    if (not relay.alive() and relay._signalled is None) or chaos.sanitizer_lines(relay):
        # Whatever else went wrong followed from this.
        try:
            relay.proc.wait(10)       # the sanitizer report is whole once it has ended
        except Exception:
            pass
        relay.stderr.join()
        failure = AssertionError("the relay died or its sanitizers reported (%s; %s):\n%s" % (
            "during the storm" if run.relay_gone.is_set() else "after the storm",
            relaytest.describe_status(relay.proc.poll()), chaos.sanitizer_report(relay)))
    try:
        relay.stop()          # exit status 0, so LeakSanitizer found nothing either
    except AssertionError as e:
        failure = failure or e
    if failure is None and chaos.sanitizer_lines(relay):
        failure = AssertionError("sanitizer report from the relay at exit:\n%s"
                                 % chaos.sanitizer_report(relay))
    if failure is not None:
        raise AssertionError("%s: %s\n%s" % (type(failure).__name__, failure, replay))
    s = run.stats
    full = sum("no new ones until one closes" in line for line in relay.stderr.lines())
    return ("seed %d: %d scenarios, %d connections (%d open at once at most, %d resumed, "
            "--max-connections reached %d times), %d answers checked, %d connections left "
            "early, %d of them as a request woke their long-poll" % (
                seed, sum(v for k, v in s.items() if k.startswith("scenario ")),
                s["connections"], run.peak_connections, s["resumed"], full,
                sum(v for k, v in s.items() if k.startswith("answers ")),
                sum(v for k, v in s.items() if k.startswith("leave ")), s["left as woken"]))


def _storm(relay, run):
    idle_fds = _relay_fds(relay)
    asyncio.run(run.main())
    if run.relay_gone.is_set():
        return
    if run.violations:
        raise AssertionError("%d violation(s); the first:\n%s"
                             % (len(run.violations), "\n".join(run.violations[:3])))
    # Every connection given back: the relay's own timers (linger, its
    # timeouts) end the ones it still holds.
    wait_until(lambda: _relay_fds(relay) <= idle_fds, IDLE_TIMEOUT_S + SLACK_S,
               "the relay to close every connection of the storm (%d descriptors when idle)"
               % idle_fds)
    asyncio.run(_waiters_exact(run))
    asyncio.run(_stop_under_fire(relay, run))
