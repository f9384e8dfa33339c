"""End-to-end flows (spec §1): stateless hand-over and stateful exchange."""

from flows import Secrets, stateful_flow, stateless_flow

EXPECTED_SECONDS = 3
PARALLEL = True


def test_stateless_flow(relay):
    stateless_flow(relay, Secrets())


def test_stateful_flow(relay):
    stateful_flow(relay, Secrets())


def test_several_flows_at_once(relay):
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        futures = [pool.submit(stateful_flow if i % 2 else stateless_flow, relay, Secrets())
                   for i in range(6)]
        for f in futures:
            f.result()
