"""The README's curl walkthrough, run exactly as written against a fresh relay.

Every shell block that follows a `<!-- walkthrough -->` marker in README.md is
joined in order and run by bash with errexit; the README's own defaults for
RELAY and CACERT are overridden through the environment, as its first block
allows.
"""

import os
import re
import shlex
import subprocess
import tempfile

from relaytest import Relay, run_relay

README = os.path.join(os.path.dirname(__file__), "..", "..", "README.md")
BLOCK_RE = re.compile(r"<!-- walkthrough -->\s*```sh\n(.*?)```", re.S)


def walkthrough_script():
    with open(README, encoding="utf-8") as f:
        blocks = BLOCK_RE.findall(f.read())
    assert len(blocks) >= 8, "README.md has %d walkthrough blocks, expected the whole walkthrough" % len(blocks)
    return "set -euo pipefail\n" + "\n".join(blocks)


def test_readme_walkthrough_runs_as_written():
    script = walkthrough_script()
    with Relay() as relay, tempfile.TemporaryDirectory() as workdir:
        env = dict(os.environ, RELAY="https://localhost:%d" % relay.port, CACERT=relay.cacert)
        proc = subprocess.run(["bash", "-c", script], cwd=workdir, env=env, timeout=60,
                              capture_output=True, text=True)
        out = proc.stdout
        assert proc.returncode == 0, "walkthrough failed (exit %d)\nstdout:\n%s\nstderr:\n%s" % (
            proc.returncode, out, proc.stderr)
        lines = out.splitlines()
        assert re.match(r"^https://localhost:%d/v1/m/[0-9a-f-]{36}$" % relay.port, lines[0]), \
            "first line is not the urlLink: %r" % lines[0]
        assert 'og:title" content="Front door"' in out, "preview step printed no og:title: %r" % out
        assert "\n401\n" in out, "a third claim was not refused with 401: %r" % out
        assert "\n404\n" in out, "the deleted mailbox did not answer 404: %r" % out
        assert re.search(r'"urlLink":"[^"]+"[^\n]* 201\n', out), "the retried create was not 201: %r" % out
        assert re.search(r'Receiver holds "[0-9a-f]+"', out), "no ETag for the Receiver: %r" % out
        assert out.count('"displayInformation"') >= 2, \
            "the Sender's long-poll did not return the new content: %r" % out
        assert "\n412\n" in out, "the stale If-Match was not refused with 412: %r" % out
        assert re.search(r'\n[Ee][Tt][Aa][Gg]: "[0-9a-f]+"\n', out), \
            "the conditional update that matched answered no ETag: %r" % out
        assert not os.listdir(workdir), "the walkthrough left files behind: %r" % os.listdir(workdir)


PUBLIC_RE = re.compile(r"### On a public server.*?```sh\n(.*?)```", re.S)


def test_readme_public_server_command_line_is_accepted_and_sets_the_address_limits():
    # Every option of the README's public-server command line is parsed
    # (a later --help answers only once all before it were accepted).
    with open(README, encoding="utf-8") as f:
        m = PUBLIC_RE.search(f.read())
    assert m, "README.md has no public-server command line"
    args = shlex.split(m.group(1).replace("\\\n", " "))
    assert args[0] == "./relay", args
    for option in ("--max-connections-per-address", "--max-waiters-per-address",
                   "--max-bytes-per-address", "--rate-create", "--rate-fail"):
        assert option in args, "the public-server command line does not set %s" % option
    rc, out, err = run_relay(args[1:] + ["--help"])
    assert rc == 0 and "usage" in out, "the public-server options were refused (exit %d): %r" % (
        rc, err)
