"""Privacy duties (spec §4, §8, §10): with --log-level debug, neither stdout
nor stderr ever holds a claim, token, attestation, mailbox id, payload or
display text; error messages do not echo them; client addresses are not
logged; logs go to stderr, stdout holds only the start-up lines."""

from flows import Secrets, stateful_flow, stateless_flow
from relaytest import Relay, new_claim, preview, expect_status

EXPECTED_SECONDS = 4

CLIENT_ADDRESS = "127.0.0.2"     # loopback, but never the relay's own address


def _run_flows():
    relay = Relay("--log-level", "debug")
    relay.client_source = (CLIENT_ADDRESS, 0)
    relay.start()
    secrets = [Secrets(), Secrets()]
    try:
        startup = relay.stdout.lines()
        stateless_flow(relay, secrets[0])
        stateful_flow(relay, secrets[1], rounds=2)
        expect_status(preview(relay, new_claim()), 404)
        after_traffic = relay.stdout.lines()
    finally:
        relay.stop()
    return relay, secrets, startup, after_traffic


_result = None


def _flows():
    """Run the flows once for the whole module (a failure is re-raised for each test)."""
    global _result
    if _result is None:
        try:
            _result = _run_flows()
        except BaseException as e:       # remembered, so every test reports it
            _result = e
    if isinstance(_result, BaseException):
        raise AssertionError("the flows on the debug-logging relay failed: %s" % _result)
    return _result


def test_logs_hold_no_secrets():
    relay, secrets, _, _ = _flows()
    logs = relay.stdout.text() + "\n" + relay.stderr.text()
    leaks = []
    for s in secrets:
        for needle, what in s.needles():
            if needle in logs or needle.lower() in logs.lower():
                i = logs.lower().find(needle.lower())
                leaks.append("%s %r in %r" % (what, needle, logs[max(0, i - 60):i + 60]))
    assert not leaks, "secrets in the relay's output:\n" + "\n".join(leaks[:10])


def test_error_messages_echo_nothing():
    _, secrets, _, _ = _flows()
    leaks = []
    for s in secrets:
        assert s.error_bodies, "the flow produced no error responses to inspect"
        for body in s.error_bodies:
            text = body.decode("utf-8", "replace")
            for needle, what in s.needles():
                if needle.lower() in text.lower():
                    leaks.append("%s in error body %r" % (what, text[:200]))
    assert not leaks, "error messages echo request data:\n" + "\n".join(leaks[:10])


def test_client_address_not_logged():
    relay, _, _, _ = _flows()
    logs = relay.stdout.text() + relay.stderr.text()
    assert CLIENT_ADDRESS not in logs, "client address %s appears in the logs: %r" % (
        CLIENT_ADDRESS, logs[max(0, logs.find(CLIENT_ADDRESS) - 80):logs.find(CLIENT_ADDRESS) + 40])


def test_stdout_holds_only_startup_lines():
    _, _, startup, after = _flows()
    assert after == startup, "stdout grew during traffic (logs belong on stderr): %r" % after[len(startup):]


def test_debug_logging_writes_to_stderr():
    relay, _, _, _ = _flows()
    assert relay.stderr.text().strip(), \
        "--log-level debug wrote nothing to stderr during two flows, so the privacy checks prove nothing"
