"""Set-up: what make deps, make run and make test install, as root and through
sudo, and what a missing build dependency looks like.

Nothing is installed for real. `make` runs with stand-ins for apt-get,
apt-cache, dpkg-query, dpkg, sudo, id, systemctl and update-rc.d first on PATH
(one shell script, below, under each name). They record every call, keep a
pretend package database in a temporary directory (a package is installed
unless listed as missing; "installing" takes it off the list) and play root
through sudo by id -u. policy-rc.d goes to a temporary path (POLICY_RC_D).
"""

import os
import re
import resource
import shutil
import stat
import subprocess
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))

EXPECTED_SECONDS = 15
STORE_INDEPENDENT = "it runs make against stand-ins and starts no relay"
MAKE = shutil.which("make") or "make"

STANDIN_NAMES = ["apt-get", "apt-cache", "dpkg-query", "dpkg", "sudo", "id", "systemctl",
                 "update-rc.d"]

# A package that was there before and ships a service: never disabled by us.
BASELINE = ["base-files", "dash", "openssh-server"]
PACKAGE_FILES = {
    "nginx-common": ["/lib/systemd/system/nginx.service", "/etc/init.d/nginx",
                     "/etc/nginx/nginx.conf"],
    "openssh-server": ["/lib/systemd/system/ssh.service", "/lib/systemd/system/ssh@.service",
                       "/etc/init.d/ssh"],
    "sslscan": ["/usr/bin/sslscan"],
}
# What apt-get pulls in with a package (so that the services of dependencies count).
PULLED_IN = {"nginx": ["nginx-common"]}

# A shell script, as in test_mbedtls_fetch.py: make runs it some fifty times
# in this module, and a Python start-up costs many times a shell's.
# A call is recorded as one line of calls: name, uid, DEBIAN_FRONTEND and
# what policy-rc.d answered (both only for apt-get install, else "-"), then
# the arguments, each ended by \037 (arguments never hold tabs, newlines or
# \037). What dpkg -L lists and what apt-get pulls in come from the files
# files/PACKAGE and pulled-in/PACKAGE in the state directory.
STANDIN = r'''#!/bin/sh
state=$STANDIN_STATE
name=${0##*/}
uid=${STANDIN_UID:-0}

log() {
	fe=$1 answer=$2
	shift 2
	{ printf '%s\t%s\t%s\t%s\t' "$name" "$uid" "$fe" "$answer"; printf '%s\037' "$@"; echo; } \
	    >>"$state/calls"
}

case $name in
id)
	[ "$*" = -u ] || { echo "id stand-in: only id -u, not $*" >&2; exit 1; }
	echo "$uid"
	;;
sudo)
	log - - "$@"
	case ${1:--} in -*) echo "sudo stand-in: options are not expected here: $*" >&2; exit 1;; esac
	export STANDIN_UID=0
	exec "$@"
	;;
dpkg-query)
	log - - "$@"
	fmt='${Package}\t${Version}\n'
	pkgs=
	for a in "$@"; do
		case $a in
		-f=*|--showformat=*) fmt=${a#*=} ;;
		-W) ;;
		-*) echo "dpkg-query stand-in: unexpected option $a" >&2; exit 1 ;;
		*) pkgs="$pkgs $a" ;;
		esac
	done
	[ -n "$pkgs" ] || pkgs=$(cat "$state/baseline" "$state/added" 2>/dev/null)
	# One awk for every package: what the format says, or "not found".
	printf '%s\n' $pkgs | awk -v fmt="$fmt" -v missing="$state/missing" '
		BEGIN { while ((getline l < missing) > 0) gone[l] = 1 }
		$0 in gone { print "dpkg-query: no packages found matching " $0 > "/dev/stderr"; rc = 1; next }
		{
			o = fmt
			gsub(/\$\{Package\}/, $0, o)
			gsub(/\$\{binary:Package\}/, $0 ":amd64", o)
			gsub(/\$\{Status\}/, "install ok installed", o)
			gsub(/\$\{Version\}/, "1.0", o)
			gsub(/\\n/, "\n", o)
			gsub(/\\t/, "\t", o)
			printf "%s", o
		}
		END { exit rc }'
	;;
dpkg)
	log - - "$@"
	[ "${1-}" = -L ] || { echo "dpkg stand-in: only dpkg -L, not $*" >&2; exit 1; }
	shift
	for p in "$@"; do
		printf '/.\n/usr/share/doc/%s\n' "$p"
		cat "$state/files/$p" 2>/dev/null
	done
	;;
apt-cache)
	log - - "$@"
	[ "$*" = "show libllhttp-dev" ] && [ -n "${STANDIN_LIBLLHTTP-}" ] && exit 0
	exit 100
	;;
apt-get)
	if [ "$uid" != 0 ]; then
		log - - "$@"
		echo "E: Could not open lock file - open (13: Permission denied)" >&2
		echo "E: Unable to acquire the dpkg frontend lock, are you root?" >&2
		exit 100
	fi
	install=
	for a in "$@"; do [ "$a" = install ] && install=yes; done
	if [ -z "$install" ]; then
		log - - "$@"
		exit 0
	fi
	# What invoke-rc.d would be told if a postinst started a service now.
	answer=none
	if [ -e "$STANDIN_POLICY" ]; then
		"$STANDIN_POLICY" nginx start
		answer=$?
	fi
	log "${DEBIAN_FRONTEND-}" "$answer" "$@"
	if [ -n "${STANDIN_APT_FAILS-}" ]; then
		echo "E: Unable to locate package (stand-in failure)" >&2
		exit 100
	fi
	new=
	seen=
	for a in "$@"; do
		[ -n "$seen" ] || { [ "$a" = install ] && seen=yes; continue; }
		case $a in -*) continue ;; esac
		new="$new $a"
		[ -e "$state/pulled-in/$a" ] && new="$new $(cat "$state/pulled-in/$a")"
	done
	printf '%s\n' $new >>"$state/added"
	awk -v added="$state/added" 'BEGIN { while ((getline l < added) > 0) have[l] = 1 }
		!($0 in have)' "$state/missing" >"$state/missing.new"
	mv "$state/missing.new" "$state/missing"
	;;
*)
	log - - "$@"
	;;
esac
'''


def make_env():
    """This environment without what an outer make (make test) passes down."""
    return {k: v for k, v in os.environ.items()
            if k not in ("MAKEFLAGS", "MFLAGS", "MAKELEVEL", "MAKEOVERRIDES")}


class Setup:
    """A stand-in Debian for one test: make runs against it in a scratch dir."""

    def __init__(self, tmp, missing=(), uid="0", policy_content=None):
        self.tmp = tmp
        self.bin = os.path.join(tmp, "bin")
        self.state = os.path.join(tmp, "state")
        os.makedirs(self.bin)
        os.makedirs(self.state)
        script = os.path.join(self.bin, "standin")
        with open(script, "w") as f:
            f.write(STANDIN)
        os.chmod(script, 0o755)
        for folder, table in (("files", PACKAGE_FILES), ("pulled-in", PULLED_IN)):
            os.makedirs(os.path.join(self.state, folder))
            for package, entries in table.items():
                with open(os.path.join(self.state, folder, package), "w") as f:
                    f.write("".join(e + "\n" for e in entries))
        for name in STANDIN_NAMES:
            os.symlink("standin", os.path.join(self.bin, name))
        self.policy = os.path.join(tmp, "sbin", "policy-rc.d")
        os.makedirs(os.path.dirname(self.policy))
        if policy_content is not None:
            with open(self.policy, "w") as f:
                f.write(policy_content)
            os.chmod(self.policy, 0o750)
        self.set_missing(missing)
        with open(os.path.join(self.state, "baseline"), "w") as f:
            f.write("".join(p + "\n" for p in BASELINE))
        self.uid = uid
        self.extra_env = {}

    def set_missing(self, packages):
        with open(os.path.join(self.state, "missing"), "w") as f:
            f.write("".join(p + "\n" for p in packages))

    def missing(self):
        with open(os.path.join(self.state, "missing")) as f:
            return set(f.read().split())

    def env(self):
        env = make_env()
        env.update(PATH=self.bin + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin"),
                   STANDIN_STATE=self.state, STANDIN_UID=self.uid, STANDIN_POLICY=self.policy,
                   LC_ALL="C")
        env.update(self.extra_env)
        return env

    def make(self, *args):
        """Runs make in the source tree; returns (exit status, output, CPU seconds
        it and its children took: unlike wall time, not a measure of how
        busy the machine is)."""
        try:
            os.unlink(os.path.join(self.state, "calls"))
        except FileNotFoundError:
            pass
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        proc = subprocess.run([MAKE, "--no-print-directory", "-C", ROOT,
                               "POLICY_RC_D=" + self.policy] + list(args),
                              env=self.env(), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpu_s = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        return proc.returncode, proc.stdout + proc.stderr, cpu_s

    def calls(self, name=None):
        """The stand-ins' calls, as dicts: name, uid, args, and for apt-get
        install what DEBIAN_FRONTEND was (frontend) and what policy-rc.d
        answered (policy_rc_d, None without one)."""
        calls = []
        try:
            with open(os.path.join(self.state, "calls")) as f:
                for line in f:
                    who, uid, frontend, answer, args = line.rstrip("\n").split("\t", 4)
                    call = dict(name=who, uid=uid, args=args.split("\037")[:-1])
                    if answer != "-":
                        call.update(frontend=frontend or None,
                                    policy_rc_d=None if answer == "none" else int(answer))
                    calls.append(call)
        except FileNotFoundError:
            pass
        return [c for c in calls if name is None or c["name"] == name]


def apt_calls(setup):
    """The apt-get calls as (first word, packages, uid, call)."""
    out = []
    for c in setup.calls("apt-get"):
        words = [a for a in c["args"] if not a.startswith("-")]
        out.append((words[0] if words else None, set(words[1:]), c["uid"], c))
    return out


def expect_installed(setup, out, packages, uid="0"):
    calls = apt_calls(setup)
    assert [c[0] for c in calls] == ["update", "install"], \
        "expected apt-get update then apt-get install, got %r\n%s" % (setup.calls(), out)
    _, pkgs, who, install = calls[1]
    assert pkgs == set(packages), "apt-get install %r, expected the missing ones only: %r\n%s" % (
        sorted(pkgs), sorted(packages), out)
    assert "-y" in install["args"], "apt-get install without -y: %r" % install["args"]
    assert who == uid and calls[0][2] == uid, "apt-get ran as uid %r, expected %r" % (who, uid)
    assert install["frontend"] == "noninteractive", \
        "DEBIAN_FRONTEND was %r during apt-get install" % install["frontend"]
    assert install["policy_rc_d"] == 101, \
        "during apt-get install, policy-rc.d answered %r to a start, not 101 (deny)" % (
            install["policy_rc_d"])


def test_root_without_sudo_installs_only_what_is_missing_then_nothing():
    # Today's bug: as root, `$sudo -E apt-get` became `-E apt-get`.
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(tmp, missing=["libevent-dev", "sslscan", "nginx"], uid="0")
        rc, out, _ = setup.make("deps")
        assert rc == 0, "make deps as root failed (exit %d):\n%s" % (rc, out)
        expect_installed(setup, out, ["libevent-dev", "sslscan", "nginx"])
        assert not setup.calls("sudo"), "root without sudo called sudo: %r" % setup.calls("sudo")
        assert not os.path.lexists(setup.policy), "policy-rc.d left behind after installing"
        assert not setup.missing(), "still missing after make deps: %r" % setup.missing()

        rc, out, seconds = setup.make("deps")
        assert rc == 0, "second make deps failed (exit %d):\n%s" % (rc, out)
        called = [c for c in setup.calls() if c["name"] != "dpkg-query"]
        assert not called, "with everything installed, make deps still called %r" % called
        assert seconds < 1.0, "a make deps with nothing to do took %.2f s of CPU" % seconds
        assert out.strip() == "", "a make deps with nothing to do printed %r" % out


def test_normal_user_installs_through_sudo():
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(tmp, missing=["libjansson-dev", "chromium"], uid="1000")
        rc, out, _ = setup.make("deps-test")
        assert rc == 0, "make deps-test as a normal user failed (exit %d):\n%s" % (rc, out)
        sudo = setup.calls("sudo")
        assert len(sudo) == 1, "expected one sudo (one password prompt), got %r" % sudo
        assert sudo[0]["uid"] == "1000"
        expect_installed(setup, out, ["libjansson-dev", "chromium"], uid="0")
        assert not os.path.lexists(setup.policy), "policy-rc.d left behind after installing"


def test_an_operators_policy_rc_d_is_put_back():
    mine = "#!/bin/sh\n# the operator's own: allow everything\nexit 0\n"
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(tmp, missing=["wrk"], policy_content=mine)
        rc, out, _ = setup.make("deps-bench")
        assert rc == 0, "make deps-bench failed (exit %d):\n%s" % (rc, out)
        expect_installed(setup, out, ["wrk"])
        with open(setup.policy) as f:
            assert f.read() == mine, "the operator's policy-rc.d was not put back as it was"
        assert stat.S_IMODE(os.stat(setup.policy).st_mode) == 0o750, "its mode changed"
        assert os.listdir(os.path.dirname(setup.policy)) == ["policy-rc.d"], \
            "files left beside policy-rc.d: %r" % os.listdir(os.path.dirname(setup.policy))


def test_a_failed_install_still_removes_its_policy_rc_d():
    mine = "#!/bin/sh\nexit 0\n"
    with tempfile.TemporaryDirectory() as tmp:
        for before in (None, mine):
            sub = os.path.join(tmp, "with" if before else "without")
            os.makedirs(sub)
            setup = Setup(sub, missing=["curl"], policy_content=before)
            setup.extra_env["STANDIN_APT_FAILS"] = "1"
            rc, out, _ = setup.make("deps-test")
            assert rc != 0, "make deps-test succeeded although apt-get install failed:\n%s" % out
            installs = [c for c in setup.calls("apt-get") if "install" in c["args"]]
            assert installs and installs[-1]["policy_rc_d"] == 101, \
                "policy-rc.d did not deny starts during the failed install: %r\n%s" % (
                    installs, out)
            if before is None:
                assert not os.path.lexists(setup.policy), \
                    "policy-rc.d left behind after a failed install"
            else:
                with open(setup.policy) as f:
                    assert f.read() == before, "a failed install did not put back the operator's"
            assert os.listdir(os.path.dirname(setup.policy)) == (["policy-rc.d"] if before else [])


def test_sets_make_run_installs_only_what_building_needs():
    # Each target asks for its own set: nothing for the fuzzer or the
    # benchmarks when building and running.
    expectations = [
        ("deps-build", {"bzip2"}),
        ("deps-test", {"bzip2", "sslscan", "chromium", "curl", "systemd", "strace", "mandoc",
                       "nginx", "haproxy"}),
        ("deps-fuzz", {"bzip2", "clang", "libclang-rt-dev"}),
        ("deps-bench", {"bzip2", "nginx", "wrk", "libssl-dev", "haproxy"}),
        ("deps-profile", {"bzip2", "nginx", "wrk", "libssl-dev", "haproxy", "linux-perf"}),
        ("deps", {"bzip2", "sslscan", "chromium", "curl", "systemd", "strace", "mandoc",
                  "nginx", "haproxy", "clang", "libclang-rt-dev", "wrk", "libssl-dev",
                  "linux-perf"}),
    ]
    everything = expectations[-1][1]
    with tempfile.TemporaryDirectory() as tmp:
        for target, expected in expectations:
            sub = os.path.join(tmp, target)
            os.makedirs(sub)
            setup = Setup(sub, missing=sorted(everything))
            rc, out, _ = setup.make(target)
            assert rc == 0, "make %s failed (exit %d):\n%s" % (target, rc, out)
            expect_installed(setup, out, expected)
    # make run and make test call those targets before building. One
    # printed database (make -p) holds every goal's rule.
    proc = subprocess.run(["make", "-C", ROOT, "-p", "-q", "run"],
                          stdin=subprocess.DEVNULL, capture_output=True, text=True,
                          env=make_env(), timeout=60)
    database = proc.stdout.splitlines()
    for goal, target in (("run", "deps-build"), ("test", "deps-test"), ("check", "deps-test"),
                         ("fuzz", "deps-fuzz"), ("bench", "deps-bench"),
                         ("bench-profile", "deps-profile"), ("footprint", "deps-bench")):
        rules = [line for line in database if line.startswith(goal + ":")]
        assert rules, "make -p shows no rule for %s" % goal
        if goal == "check":
            # check runs make test again, sanitized: that installs.
            continue
        assert rules[0].split(":", 1)[1].split() == [target], \
            "make %s should install first (%s), its rule is %r" % (goal, target, rules[0])


def test_llhttp_is_the_package_this_debian_has():
    for has_libllhttp, package in (("", "node-llhttp"), ("1", "libllhttp-dev")):
        with tempfile.TemporaryDirectory() as tmp:
            setup = Setup(tmp)
            setup.extra_env["STANDIN_LIBLLHTTP"] = has_libllhttp
            rc, out, _ = setup.make("deps-build", "PKG=false", "LLHTTP_DIR=" + tmp)
            assert rc == 0, "make deps-build without llhttp failed (exit %d):\n%s" % (rc, out)
            expect_installed(setup, out, [package])


def test_the_services_an_install_enabled_are_disabled():
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(tmp, missing=["nginx", "sslscan"])
        rc, out, _ = setup.make("deps")
        assert rc == 0, "make deps failed (exit %d):\n%s" % (rc, out)
        disabled = sorted(tuple(c["args"]) for c in setup.calls("systemctl"))
        assert disabled == [("disable", "--quiet", "nginx.service")], \
            "systemctl calls %r: expected to disable nginx.service (from nginx-common, pulled " \
            "in by nginx) and nothing that was there before" % disabled
        rcd = [tuple(c["args"]) for c in setup.calls("update-rc.d")]
        assert rcd == [("nginx", "disable")], "update-rc.d calls %r" % rcd


def build_without(tmp, *make_args):
    """Builds into tmp with -j2; returns (exit status, output lines)."""
    build = os.path.join(tmp, "build")
    proc = subprocess.run([MAKE, "--no-print-directory", "-s", "-j2", "-C", ROOT,
                           "BUILD=" + build, "RELAY_BIN=" + os.path.join(build, "relay")]
                          + list(make_args),
                          env=make_env(),
                          stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=300)
    assert not os.path.exists(build), "something was compiled before the check"
    return proc.returncode, (proc.stdout + proc.stderr).strip().splitlines()


def expect_one_line(rc, lines, pattern):
    assert rc != 0, "the build succeeded without its dependency"
    # make's own report of build-deps failing is all that may come with it.
    ours = [l for l in lines if not re.fullmatch(
        r"make: \*\*\* (\[[^]]*: build-deps\] Error \d+|Waiting for unfinished jobs\.\.\.\.)", l)]
    assert len(ours) == 1 and re.fullmatch(pattern, ours[0]), \
        "expected one line matching %r and make's own, got:\n%s" % (
            pattern, "\n".join(lines)[:3000])


def test_a_missing_library_is_one_line_before_compiling():
    # A compiler that cannot find libevent's headers, as on a fresh machine.
    with tempfile.TemporaryDirectory() as tmp:
        hidden = os.path.join(tmp, "include", "event2")
        os.makedirs(hidden)
        with open(os.path.join(hidden, "event.h"), "w") as f:
            f.write("#error event2/event.h: No such file or directory\n")
        cc = os.path.join(tmp, "cc")
        with open(cc, "w") as f:
            f.write("#!/bin/sh\nexec cc -I%s \"$@\"\n" % os.path.join(tmp, "include"))
        os.chmod(cc, 0o755)
        rc, lines = build_without(tmp, "CC=" + cc)
        expect_one_line(rc, lines, re.escape("relay: libevent-dev is missing: run make deps-build "
                                             "(or apt-get install libevent-dev)"))


def test_missing_llhttp_sources_are_one_line_too():
    with tempfile.TemporaryDirectory() as tmp:
        rc, lines = build_without(tmp, "PKG=false", "LLHTTP_DIR=" + tmp)
        expect_one_line(rc, lines, r"relay: (node-llhttp|libllhttp-dev) is missing: run make "
                                   r"deps-build \(or apt-get install \1\)")


def test_left_behind_by_a_killed_run():
    with tempfile.TemporaryDirectory() as tmp:
        # Ours, from a run killed before it could clean up: removed, not kept.
        setup = Setup(os.path.join(tmp, "ours"), missing=["curl"], policy_content=(
            "#!/bin/sh\n# written by relay's tools/deps.sh while apt-get runs; removed after\n"
            "exit 101\n"))
        rc, out, _ = setup.make("deps-test")
        assert rc == 0, "make deps-test failed (exit %d):\n%s" % (rc, out)
        assert not os.path.lexists(setup.policy), "a policy-rc.d of ours was kept as if foreign"
        # The operator's, saved aside by a killed run: never overwritten.
        setup = Setup(os.path.join(tmp, "saved"), missing=["curl"], policy_content="exit 0\n")
        saved = setup.policy + ".relay-saved"
        with open(saved, "w") as f:
            f.write("the operator's\n")
        rc, out, _ = setup.make("deps-test")
        assert rc != 0, "make deps-test went on although %s exists:\n%s" % (saved, out)
        assert saved in out and "move it back" in out, "no word on the saved copy:\n%s" % out
        with open(saved) as f:
            assert f.read() == "the operator's\n", "the saved copy was overwritten"
        with open(setup.policy) as f:
            assert f.read() == "exit 0\n", "policy-rc.d was touched"
        assert [c[0] for c in apt_calls(setup)] == ["update"], "apt-get install ran anyway"


def test_a_normal_user_without_sudo_is_told_what_to_run():
    # A PATH with the stand-ins (no sudo among them) and only the real tools
    # the check needs, so that a real sudo elsewhere cannot be found.
    with tempfile.TemporaryDirectory() as tmp:
        setup = Setup(tmp, missing=["libevent-dev", "sslscan"], uid="1000")
        os.unlink(os.path.join(setup.bin, "sudo"))
        tools = os.path.join(tmp, "tools")
        os.makedirs(tools)
        for tool in ("sh", "awk", "tr", "find", "pkg-config", "cat"):
            path = shutil.which(tool)
            if path:
                os.symlink(path, os.path.join(tools, tool))
        setup.extra_env["PATH"] = setup.bin + os.pathsep + tools
        rc, out, _ = setup.make("deps-test")
        assert rc != 0, "make deps-test succeeded as a normal user without sudo:\n%s" % out
        lines = [l for l in out.splitlines() if l.startswith("relay:")]
        assert lines and lines[-1] == ("relay: installing needs root and there is no sudo: run this as "
                             "root (or apt-get install libevent-dev sslscan)"), lines
        assert not setup.calls("apt-get"), "apt-get ran: %r" % setup.calls("apt-get")
