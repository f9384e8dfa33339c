"""The service: contrib/relay.service, contrib/relay.env and make install.

- make install (in a copy of the files it needs, never in this tree) puts the
  binary, relay(8) and the unit under PREFIX inside DESTDIR, with the modes
  a system wants whatever the umask, the unit naming the installed binary;
  make uninstall takes them away again.
- systemd-analyze verify has nothing to say about the installed unit (its
  ExecStart pointed at the binary inside DESTDIR, man:relay(8) looked up in
  DESTDIR's man pages), and the unit keeps the sandbox it promises.
- The relay starts with the unit's ExecStart options, contrib/relay.env's
  values, its credentials and state directory laid out as systemd would, and
  under its LimitNOFILE; it writes its state where StateDirectory= says.
- Run through a workload under strace, it makes no system call that the
  unit's SystemCallFilter= forbids (which would kill it with SIGSYS).
"""

import os
import re
import shlex
import shutil
import signal
import stat
import subprocess
import tempfile
import unittest

from gorush_standin import GorushStandin
from relaytest import (RELAY_BIN, Relay, call, config, create, default_body, delete, expect_json,
                       new_claim, read, run_relay, update, update_body, wait_until)
from test_cli import _openssl_cert

EXPECTED_SECONDS = 15

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
UNIT = os.path.join(ROOT, "contrib", "relay.service")
ENV_EXAMPLE = os.path.join(ROOT, "contrib", "relay.env")
MAKE = shutil.which("make") or "make"
# The binary path in contrib/relay.service, which make install replaces.
UNIT_BIN = "/usr/local/sbin/relay"
# The descriptors the relay keeps for itself (server/config.c CONFIG_FD_RESERVE).
FD_RESERVE = 64
# What the unit must keep: the sandbox of issue 14, each as name=value.
SANDBOX = ["DynamicUser=yes", "StateDirectory=relay", "ProtectSystem=strict",
           "ProtectHome=yes", "PrivateTmp=yes", "PrivateDevices=yes", "NoNewPrivileges=yes",
           "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
           "SystemCallFilter=@system-service", "AmbientCapabilities=CAP_NET_BIND_SERVICE",
           "CapabilityBoundingSet=CAP_NET_BIND_SERVICE", "Restart=on-failure",
           "ExecReload=/bin/kill -HUP $MAINPID", "KillMode=mixed"]


# ------------------------------------------------------------------ reading

def parse_unit(path):
    """[(section, key, value)] of a unit file: comments dropped, lines ending
    in a backslash joined as systemd joins them."""
    entries, section, pending = [], None, ""
    with open(path, encoding="utf-8") as f:
        for raw in f:
            line = raw.rstrip("\n")
            if not pending and (not line.strip() or line.lstrip()[:1] in "#;"):
                continue
            if line.endswith("\\"):
                pending += line[:-1] + " "
                continue
            line, pending = pending + line, ""
            if line.startswith("["):
                section = line.strip("[] ")
            else:
                key, _, value = line.partition("=")
                entries.append((section, key.strip(), value.strip()))
    return entries


def unit_values(entries, key):
    return [v for _, k, v in entries if k == key]


def unit_value(entries, key):
    values = unit_values(entries, key)
    assert len(values) == 1, "relay.service should set %s once, sets it %r" % (key, values)
    return values[0]


def parse_env_file(path):
    """NAME=value lines as systemd's EnvironmentFile= reads them."""
    env = {}
    with open(path, encoding="utf-8") as f:
        for line in f:
            line = line.strip()
            if not line or line[0] in "#;":
                continue
            name, _, value = line.partition("=")
            if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
                value = value[1:-1]
            env[name.strip()] = value
    return env


def exec_start(entries, env, credentials, state_root):
    """ExecStart's argv as systemd would run it: %S is state_root,
    ${CREDENTIALS_DIRECTORY} is credentials, ${NAME} is one word and $NAME
    the words of env[NAME]. Anything else systemd would expand fails."""
    argv = []
    for word in shlex.split(unit_value(entries, "ExecStart")):
        word = word.replace("%S", state_root).replace("${CREDENTIALS_DIRECTORY}", credentials)
        m = re.fullmatch(r"\$([A-Z_][A-Z0-9_]*)", word)
        if m:
            assert m.group(1) in env, "ExecStart uses $%s, which %s does not set" % (
                m.group(1), ENV_EXAMPLE)
            argv += env[m.group(1)].split()
            continue
        word = re.sub(r"\$\{([A-Z_][A-Z0-9_]*)\}", lambda v: env[v.group(1)], word)
        assert "%" not in word and "$" not in word, \
            "ExecStart word %r has a specifier or variable this test does not know" % word
        argv.append(word)
    return argv


def option(argv, name):
    values = [argv[i + 1] for i, a in enumerate(argv[:-1]) if a == name]
    assert values, "ExecStart has no %s" % name
    return values[-1]


def without_listen(args):
    out, skip = [], False
    for a in args:
        if skip:
            skip = False
        elif a == "--listen":
            skip = True
        else:
            out.append(a)
    return out


class ServiceLayout:
    """What systemd lays out for the unit, in a temporary directory: its
    credentials (a fresh certificate for localhost and its key), the state
    directory, and ExecStart's argv with contrib/relay.env's values."""

    def __init__(self):
        self.tmp = tempfile.mkdtemp(prefix="relay-service-")
        self.entries = parse_unit(UNIT)
        self.state_root = os.path.join(self.tmp, "lib")
        self.credentials = os.path.join(self.tmp, "credentials")
        os.makedirs(self.credentials)
        state_dir = os.path.join(self.state_root, unit_value(self.entries, "StateDirectory"))
        os.makedirs(state_dir, mode=0o700)
        self.argv = exec_start(self.entries, parse_env_file(ENV_EXAMPLE), self.credentials,
                               self.state_root)
        assert self.argv[0] == UNIT_BIN, "ExecStart runs %r, make install replaces %r" % (
            self.argv[0], UNIT_BIN)
        self.args = self.argv[1:]
        self.state_file = option(self.args, "--state-file")
        assert os.path.dirname(self.state_file) == state_dir, \
            "--state-file %s is not in StateDirectory= (%s)" % (self.state_file, state_dir)
        self.cert, self.key = option(self.args, "--cert"), option(self.args, "--key")
        ids = [v.split(":", 1)[0] for v in unit_values(self.entries, "LoadCredential")]
        for path in (self.cert, self.key):
            assert os.path.dirname(path) == self.credentials and os.path.basename(path) in ids, \
                "%s is not one of the LoadCredential= ids %r" % (path, ids)
        cert, key = _openssl_cert(self.tmp)
        os.replace(cert, self.cert)
        os.replace(key, self.key)
        self.nofile = int(unit_value(self.entries, "LimitNOFILE"))

    def relay(self, *extra, wrap=()):
        """The relay with ExecStart's options (but listening on a free
        loopback port) under LimitNOFILE, trusting the credentials' pair."""
        relay = Relay(*(without_listen(self.args) + list(extra)), dev_cert=False,
                      wrap=["prlimit", "--nofile=%d:%d" % (self.nofile, self.nofile)] + list(wrap))
        relay.start()
        relay.cacert = self.cert
        return relay

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        shutil.rmtree(self.tmp, ignore_errors=True)
        return False


# ------------------------------------------------------------------ install

def install_tree(work, *make_args, umask=0o022):
    """make with these arguments (install, uninstall) in work/src, a copy of
    the files installing needs: the binary under test is ./relay there,
    taken as built (-o relay), this tree's build/ never touched."""
    src = os.path.join(work, "src")
    for path in ("Makefile", "docs/relay.8", "contrib/relay.service"):
        os.makedirs(os.path.dirname(os.path.join(src, path)), exist_ok=True)
        shutil.copy(os.path.join(ROOT, path), os.path.join(src, path))
    shutil.copy(RELAY_BIN, os.path.join(src, "relay"))
    # Not the make that runs the tests: under make check its SANITIZE would
    # reach this one through MAKEFLAGS and name another binary to install.
    env = {k: v for k, v in os.environ.items()
           if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "SANITIZE")}
    proc = subprocess.run([MAKE, "--no-print-directory", "-C", src, "-o", "relay"]
                          + list(make_args), stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=60, env=env,
                          preexec_fn=lambda: os.umask(umask))
    assert proc.returncode == 0, "make %s failed (exit %d):\n%s%s" % (
        " ".join(make_args), proc.returncode, proc.stdout, proc.stderr)


def tree(root):
    """{path below root: permission bits} of everything below root."""
    found = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = os.path.join(dirpath, name)
            found[os.path.relpath(path, root)] = stat.S_IMODE(os.lstat(path).st_mode)
    return found


def test_make_install_puts_binary_page_and_unit_under_prefix_in_destdir():
    with tempfile.TemporaryDirectory(prefix="relay install ") as work:
        dest = os.path.join(work, "dest dir")
        install_tree(work, "install", "DESTDIR=" + dest, "PREFIX=/usr", umask=0o077)
        files = {"usr/sbin/relay": 0o755, "usr/share/man/man8/relay.8": 0o644,
                 "usr/lib/systemd/system/relay.service": 0o644}
        dirs = {"usr", "usr/sbin", "usr/share", "usr/share/man", "usr/share/man/man8", "usr/lib",
                "usr/lib/systemd", "usr/lib/systemd/system"}
        expected = dict(files, **{d: 0o755 for d in dirs})
        got = tree(dest)
        assert got == expected, "make install DESTDIR PREFIX=/usr (umask 077) made %s, " \
            "expected %s" % (sorted("%s %o" % kv for kv in got.items()),
                             sorted("%s %o" % kv for kv in expected.items()))

        binary = os.path.join(dest, "usr/sbin/relay")
        proc = subprocess.run([binary, "--version"], capture_output=True, text=True, timeout=10)
        assert proc.returncode == 0 and proc.stdout.startswith("relay "), \
            "the installed relay --version: exit %d, %r %r" % (proc.returncode, proc.stdout,
                                                              proc.stderr)
        with open(os.path.join(ROOT, "docs/relay.8"), "rb") as a, \
                open(os.path.join(dest, "usr/share/man/man8/relay.8"), "rb") as b:
            assert a.read() == b.read(), "the installed relay.8 differs from docs/relay.8"
        with open(UNIT) as a, open(os.path.join(dest, "usr/lib/systemd/system/relay.service")) as b:
            source, installed = a.read(), b.read()
        assert installed == source.replace(UNIT_BIN, "/usr/sbin/relay"), \
            "the installed unit is not contrib/relay.service with ExecStart=/usr/sbin/relay"
        assert "ExecStart=/usr/sbin/relay " in installed, "installed ExecStart: %r" % installed

        install_tree(work, "uninstall", "DESTDIR=" + dest, "PREFIX=/usr")
        left = [p for p in tree(dest) if not os.path.isdir(os.path.join(dest, p))]
        assert not left, "make uninstall left %r" % left

        # Without PREFIX: /usr/local, which the unit in contrib/ names as it is.
        dest = os.path.join(work, "default")
        install_tree(work, "install", "DESTDIR=" + dest)
        unit = os.path.join(dest, "usr/local/lib/systemd/system/relay.service")
        assert os.path.isfile(os.path.join(dest, "usr/local/sbin/relay")), tree(dest)
        with open(unit) as f:
            assert f.read() == source, "with the default PREFIX the unit should be contrib's"


# --------------------------------------------------------------------- unit

def test_installed_unit_passes_systemd_analyze_verify_and_keeps_its_sandbox():
    analyze = shutil.which("systemd-analyze")
    assert analyze, "systemd-analyze is needed to check the unit (make deps-test installs " \
        "systemd)"
    entries = parse_unit(UNIT)
    have = {"%s=%s" % (k, v) for _, k, v in entries}
    missing = [s for s in SANDBOX if s not in have]
    assert not missing, "contrib/relay.service lost %s" % missing
    with tempfile.TemporaryDirectory(prefix="relay-verify-") as work:
        dest = os.path.join(work, "dest")
        install_tree(work, "install", "DESTDIR=" + dest, "PREFIX=/usr")
        with open(os.path.join(dest, "usr/lib/systemd/system/relay.service")) as f:
            unit = f.read()
        # verify wants ExecStart's binary to exist: the installed one, in DESTDIR.
        units = os.path.join(work, "units")
        os.makedirs(units)
        with open(os.path.join(units, "relay.service"), "w") as f:
            f.write(unit.replace("ExecStart=/usr/sbin/relay ",
                                 "ExecStart=%s/usr/sbin/relay " % dest))
        proc = subprocess.run([analyze, "verify", os.path.join(units, "relay.service")],
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60,
                              env=dict(os.environ, MANPATH=os.path.join(dest, "usr/share/man")))
    said = (proc.stdout + proc.stderr).strip()
    # An unknown key is only a warning to systemd (exit 0): any word fails.
    assert proc.returncode == 0 and not said, \
        "systemd-analyze verify relay.service (exit %d):\n%s" % (proc.returncode, said)


def test_exec_start_options_bring_the_relay_up_under_the_units_limits():
    with ServiceLayout() as layout:
        # Every option, the real --listen values included, is parsed (a
        # --help after them answers only once all before it are accepted).
        rc, out, err = run_relay(layout.args + ["--help"])
        assert rc == 0 and "usage" in out, "relay refused ExecStart's options %s (exit %d): %r" \
            % (" ".join(layout.args), rc, err)
        relay = layout.relay()
        try:
            expect_json(create(relay, new_claim()), 200, "create on the unit's relay")
        finally:
            relay.stop()
        err = relay.stderr.text()
        # Its --max-connections fits LimitNOFILE, less the relay's own.
        max_conn = int(option(layout.args, "--max-connections"))
        assert max_conn + FD_RESERVE <= layout.nofile and "lowered" not in err, \
            "--max-connections %d does not fit LimitNOFILE=%d less %d: %r" % (
                max_conn, layout.nofile, FD_RESERVE, err)
        assert os.path.isfile(layout.state_file), \
            "no state file at %s after a clean stop; stderr %r" % (layout.state_file, err)
        mode = stat.S_IMODE(os.stat(layout.state_file).st_mode)
        assert mode == 0o600, "state file mode %o, expected 600" % mode


# ---------------------------------------------------------- system calls

def allowed_syscalls(analyze, filters):
    """The system calls that these SystemCallFilter= values let through:
    the first sets an allow list (or, with ~, a deny list); the rest add to
    it or, with ~, take away."""
    proc = subprocess.run([analyze, "syscall-filter"], capture_output=True, text=True, timeout=30,
                          check=True)
    groups, current = {}, None
    for line in proc.stdout.splitlines():
        if line.startswith("@"):
            current = groups.setdefault(line.strip(), set())
        elif current is not None and line.strip() and not line.strip().startswith("#"):
            current.add(line.strip())

    def expand(names, seen=()):
        out = set()
        for name in names:
            if name.startswith("@"):
                assert name in groups, "systemd-analyze syscall-filter knows no %s" % name
                if name not in seen:
                    out |= expand(groups[name], seen + (name,))
            else:
                out.add(name)
        return out

    assert filters and not filters[0].startswith("~"), \
        "this test reads an allow list first, the unit has %r" % filters
    allowed = set()
    for value in filters:
        names = expand(value.lstrip("~").split())
        allowed = allowed - names if value.startswith("~") else allowed | names
    return allowed


def strace_summary(path):
    """The system calls of a strace -c summary."""
    calls = set()
    with open(path) as f:
        for line in f:
            m = re.match(r"^\s*[\d.]+\s+[\d.]+\s+\d+\s+\d+\s+(?:\d+\s+)?([a-z_0-9]+)\s*$", line)
            if m and m.group(1) != "total":
                calls.add(m.group(1))
    return calls


def test_system_calls_stay_within_the_units_filter():
    analyze, strace = shutil.which("systemd-analyze"), shutil.which("strace")
    assert analyze and strace, "systemd-analyze and strace are needed (make deps-test " \
        "installs systemd and strace)"
    with open(RELAY_BIN, "rb") as f:
        if b"__asan_init" in f.read():
            raise unittest.SkipTest("a sanitized relay: LeakSanitizer's ptrace is not the "
                                    "relay's own call")
    allowed = allowed_syscalls(analyze, unit_values(parse_unit(UNIT), "SystemCallFilter"))
    with ServiceLayout() as layout, GorushStandin() as gateway:
        summary = os.path.join(layout.tmp, "strace")
        well_known = os.path.join(layout.tmp, "well-known")
        os.makedirs(well_known)
        with open(os.path.join(well_known, "assetlinks.json"), "w") as f:
            f.write("[]")
        # strace -D: the tracer is a grandchild, the relay keeps its pid.
        relay = layout.relay("--snapshot-interval", "1s", "--push-gateway", gateway.url,
                             "--well-known", well_known,
                             wrap=[strace, "-D", "-f", "-qq", "-c", "-o", summary])
        try:
            token = {"type": "com.apple.apns", "tokenData": "ab" * 32}
            sender, receiver = new_claim(), new_claim()
            body = default_body(notificationToken=token,
                                mailboxConfiguration=config(rights="RWD"))
            created = expect_json(create(relay, sender, body), 200, "create")
            mailbox = created["urlLink"].rsplit("/", 1)[-1]
            resp = read(relay, mailbox, receiver)
            expect_json(resp, 200, "read")
            etag = resp.header("etag")
            # A long-poll that ends by itself, the preview page, an app link.
            call(relay, "POST", "/v1/m/" + mailbox, claim=receiver,
                 headers={"If-None-Match": etag, "Prefer": "wait=1"})
            call(relay, "GET", "/v1/m/" + mailbox)
            call(relay, "GET", "/.well-known/assetlinks.json")
            expect_json(update(relay, mailbox, receiver, update_body()), 200, "update")
            assert gateway.wait_for_token(token["tokenData"], 1, 10), "no push to the Sender"
            wait_until(lambda: os.path.exists(layout.state_file), 10, "a snapshot")
            relay.proc.send_signal(signal.SIGHUP)  # not send_signal: it would await an end
            wait_until(lambda: "SIGHUP" in relay.stderr.text(), 10, "the SIGHUP log line")
            delete(relay, mailbox, sender)
        finally:
            relay.stop()
        # The tracer writes its summary as it ends, after the relay.
        wait_until(lambda: os.path.exists(summary) and "total" in open(summary).read(), 10,
                   "strace's summary")
        calls = strace_summary(summary)
    assert len(calls) > 20, "strace saw only %r" % sorted(calls)
    forbidden = sorted(calls - allowed)
    assert not forbidden, "the relay calls %s, which relay.service's SystemCallFilter= " \
        "forbids (systemd would kill it with SIGSYS)" % " ".join(forbidden)
