"""Set-up: how tools/mbedtls.sh fetches mbedTLS 3.6 from Debian's source
package, and how the Makefile calls it, with no network.

The script runs with stand-ins for apt-get and id first on PATH (one shell
script, below, under both names, as in test_deps.py), and with only the tools
it uses besides, so that the real apt-get is never reached. apt-get prints this
pretend machine's mirrors for indextargets, reads the sources.list it is given
for update and, for source --download-only, copies a .dsc and an orig tarball
this test built into its current directory. It records every call with its
arguments and directory, and writes apt's state where the call's options say:
without them, into a pretend system (etc/apt, var/lib/apt/lists,
var/cache/apt in the test's directory), which must stay as it was. The
fetch's directory has a space in its path throughout.

The Makefile runs in a copy of the tracked files (under a path with a space),
never in this tree: its build/ stays as it is.
"""

import hashlib
import io
import os
import re
import shutil
import subprocess
import tarfile
import tempfile
import unittest

from test_deps import expect_one_line, make_env

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SCRIPT = os.path.join(ROOT, "tools", "mbedtls.sh")

EXPECTED_SECONDS = 19
STORE_INDEPENDENT = "it fetches and checks mbedTLS and starts no relay"
MAKE = shutil.which("make") or "make"
# What the script (and the stand-in) may run, besides apt-get: its PATH holds
# these and the stand-ins only.
TOOLS = ["sh", "dirname", "basename", "mkdir", "rmdir", "rm", "mv", "cp", "ln", "chmod", "touch",
         "cat", "ls", "head", "tail", "cut", "sort", "uniq", "tr", "sed", "grep", "awk", "find",
         "sha256sum", "tar", "bzip2", "id"]
# The real tools/mbedtls.sha256's pin (Debian's 3.6.6 tarball).
DEBIAN_PIN = "8fb65fae8dcae5840f793c0a334860a411f884cc537ea290ce1c52bb64ca007a"
RANGE = "3.6.x with x >= 6"

# This pretend machine's apt configuration, as indextargets lists it: one line
# per index, so each mirror more than once.
MACHINE_TARGETS = [
    dict(RELEASE="bookworm", REPO_URI="http://mirror.example/debian/", ORIGIN="Debian"),
    dict(RELEASE="bookworm", REPO_URI="http://mirror.example/debian/", ORIGIN="Debian"),
    dict(RELEASE="bookworm-security", REPO_URI="http://mirror.example/debian-security/",
         ORIGIN="Debian"),
    dict(RELEASE="bookworm-updates", REPO_URI="http://mirror.example/debian/", ORIGIN="Debian"),
]
PRIVATE_SOURCES = ("deb-src http://mirror.example/debian/ trixie main\n"
                   "deb-src http://mirror.example/debian-security/ trixie-security main\n")
# The options that keep apt's state in DIR.
PRIVATE_OPTIONS = ["Dir::Etc::SourceList", "Dir::Etc::SourceParts", "Dir::State::Lists",
                   "Dir::Cache"]

# A shell script, like test_deps.py's: the tests call it some
# hundred times, and Python's start-up was a third of this module's time.
STANDIN = r'''#!/bin/sh
set -eu
if [ "${0##*/}" = id ]; then
	[ "$*" = -u ] || { echo "id stand-in: only id -u, not $*" >&2; exit 1; }
	echo "$STANDIN_UID"
	exit 0
fi

# Where apt would read and write without the options that move it.
lists=$STANDIN_SYSTEM/var/lib/apt/lists
cache=$STANDIN_SYSTEM/var/cache/apt
sources=$STANDIN_SYSTEM/etc/apt/sources.list
parts=$STANDIN_SYSTEM/etc/apt/sources.list.d
# The record of this call: its directory, its arguments one a line, what
# update read, and an empty line.
record=$(echo "cwd $PWD"; printf 'arg %s\n' "$@")
format= words= flags=
while [ $# -gt 0 ]; do
	case $1 in
	-o)
		case $2 in
		Dir::State::Lists=*) lists=${2#*=} ;;
		Dir::Cache=*) cache=${2#*=} ;;
		Dir::Etc::SourceList=*) sources=${2#*=} ;;
		Dir::Etc::SourceParts=*) parts=${2#*=} ;;
		esac
		shift ;;
	--format) format=$2; shift ;;
	-*) flags="$flags $1" ;;
	*) words="$words $1" ;;
	esac
	shift
done
if [ "$words" = " update" ]; then
	read=$(for f in "$sources" "$parts"/*; do [ ! -f "$f" ] || sed 's/^/read /' "$f"; done)
	[ -z "$read" ] || record="$record
$read"
fi
printf '%s\n\n' "$record" >>"$STANDIN_STATE/calls"

# What apt leaves behind: its lists, its cache.
leave() {
	echo "written by the apt-get stand-in" >"$1/$2"
}

case $words$flags in
" indextargets")
	# One line per target (KEY=VALUE fields, tab-separated), $(KEY) replaced.
	printf '%s\n' "$STANDIN_TARGETS" | while IFS= read -r target; do
		[ -n "$target" ] || continue
		line=$format
		while [ -n "$target" ]; do
			field=${target%%"	"*}
			target=${target#"$field"}
			target=${target#"	"}
			key="\$(${field%%=*})"
			while case $line in *"$key"*) true ;; *) false ;; esac; do
				line=${line%%"$key"*}${field#*=}${line#*"$key"}
			done
		done
		printf '%s\n' "$line"
	done ;;
" update"*)
	[ -z "${STANDIN_UPDATE_FAILS:-}" ] || { echo "$STANDIN_UPDATE_FAILS" >&2; exit 100; }
	leave "$lists" mirror.example_debian_dists_trixie_main_source_Sources ;;
" source mbedtls"*" --download-only"*)
	[ -z "${STANDIN_SOURCE_FAILS:-}" ] || { echo "$STANDIN_SOURCE_FAILS" >&2; exit 100; }
	cp "$STANDIN_PACKAGE"/* .
	leave "$cache" srcpkgcache.bin ;;
*)
	echo "apt-get stand-in: unexpected call: $words$flags" >&2
	exit 1 ;;
esac
'''

# mbedTLS's library Makefile hands $(CFLAGS) to the shell as they are, and
# builds Everest's objects from ../3rdparty by its suffix rule, as here; each
# object's flags are kept beside it, to see which were used.
LIBRARY_MAKEFILE = b"""all: probe.o ../3rdparty/everest/library/Hacl_Curve25519_joined.o
.c.o:
\t$(CC) $(LOCAL_CFLAGS) $(CFLAGS) -o $@ -c $<
\techo '$(CFLAGS)' >$@.flags
clean:
\trm -f *.o ../3rdparty/everest/library/*.o
"""


def mbedtls_tree(top, everest=True):
    """An orig tarball's members (name: content): what the script looks for,
    and Makefiles that build one object with the configuration header."""
    members = {
        top + "/include/mbedtls/build_info.h": b"/* stand-in */\n",
        top + "/Makefile": b"lib:\n\t$(MAKE) -C library\n",
        top + "/library/Makefile": LIBRARY_MAKEFILE,
        top + "/library/probe.c": b"#include MBEDTLS_USER_CONFIG_FILE\n",
        # What net/mbedtls/ecp_alt.c includes first; without the hook's
        # macro the rest of that file (and of mbedTLS) is not needed.
        top + "/library/common.h": b"#include MBEDTLS_USER_CONFIG_FILE\n"
                                   b"#undef MBEDTLS_ECP_DOUBLE_ADD_MXZ_ALT\n",
    }
    if everest:
        members[top + "/3rdparty/everest/include/everest/everest.h"] = b"/* stand-in */\n"
        members[top + "/3rdparty/everest/library/Hacl_Curve25519_joined.c"] = \
            b"#include MBEDTLS_USER_CONFIG_FILE\n"
    return members


def write_tarball(path, members):
    """A .tar.bz2 of members: bytes make a file, ("symlink", target) a link.
    Owned by uid 501 and world-writable where it says so, like an upstream
    tarball made on a laptop."""
    with tarfile.open(path, "w:bz2") as tar:
        for name, content in members.items():
            info = tarfile.TarInfo(name)
            info.uid, info.gid, info.mtime = 501, 20, 1774605000
            if isinstance(content, tuple):
                info.type, info.linkname = tarfile.SYMTYPE, content[1]
                tar.addfile(info)
            else:
                info.size = len(content)
                info.mode = 0o666 if name.endswith("build_info.h") else 0o644
                tar.addfile(info, io.BytesIO(content))
    with open(path, "rb") as f:
        return hashlib.sha256(f.read()).hexdigest()


def snapshot(top, skip=()):
    """Every path under top with its content (or link target) and mode."""
    seen = {}
    for parent, dirs, files in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(parent, d) not in skip]
        for name in dirs + files:
            path = os.path.join(parent, name)
            st = os.lstat(path)
            if os.path.islink(path):
                seen[path] = ("link", os.readlink(path))
            elif os.path.isfile(path):
                with open(path, "rb") as f:
                    seen[path] = (st.st_mode, st.st_mtime_ns, f.read())
            else:
                seen[path] = (st.st_mode,)
    return seen


class Fetch:
    """A pretend machine for one run of tools/mbedtls.sh: stand-ins, the
    system apt state they must not touch, and the package apt-get source
    hands out."""

    def __init__(self, tmp):
        self.tmp = tmp
        self.bin = os.path.join(tmp, "bin")
        self.tools = os.path.join(tmp, "tools")
        self.state = os.path.join(tmp, "state")
        self.system = os.path.join(tmp, "system")
        self.package = os.path.join(tmp, "package")
        self.dir = os.path.join(tmp, "build dir", "mbedtls")
        self.pins = os.path.join(tmp, "mbedtls.sha256")
        for d in (self.bin, self.tools, self.state, self.package):
            os.makedirs(d)
        for d in ("etc/apt/sources.list.d", "var/lib/apt/lists", "var/cache/apt"):
            os.makedirs(os.path.join(self.system, d))
        with open(os.path.join(self.system, "etc/apt/sources.list"), "w") as f:
            f.write("deb http://mirror.example/debian bookworm main\n"
                    "deb http://mirror.example/debian-security bookworm-security main\n")
        with open(os.path.join(self.system, "var/lib/apt/lists/lock"), "w"):
            pass
        script = os.path.join(self.bin, "standin")
        with open(script, "w") as f:
            f.write(STANDIN)
        os.chmod(script, 0o755)
        for name in ("apt-get", "id"):
            os.symlink("standin", os.path.join(self.bin, name))
        for name in TOOLS:
            if shutil.which(name):
                os.symlink(shutil.which(name), os.path.join(self.tools, name))
        with open(self.pins, "w"):
            pass
        self.uid = "0"
        self.targets = MACHINE_TARGETS
        self.extra_env = {}

    def offer(self, version, members=None):
        """What apt-get source hands out: VERSION's .dsc and orig tarball
        (mbedtls_tree by default); returns the tarball's SHA-256."""
        for name in os.listdir(self.package):
            os.unlink(os.path.join(self.package, name))
        with open(os.path.join(self.package, "mbedtls_%s-0.1~deb13u1.dsc" % version), "w") as f:
            f.write("Source: mbedtls\nVersion: %s-0.1~deb13u1\n" % version)
        return write_tarball(os.path.join(self.package, "mbedtls_%s.orig.tar.bz2" % version),
                             members or mbedtls_tree("mbedtls-" + version))

    def pin(self, name, digest):
        with open(self.pins, "w") as f:
            f.write("%s  %s\n" % (digest, name))

    def env(self, path=None):
        env = make_env()
        env.update(PATH=path or self.bin + os.pathsep + self.tools,
                   STANDIN_STATE=self.state, STANDIN_SYSTEM=self.system,
                   STANDIN_PACKAGE=self.package, STANDIN_UID=self.uid,
                   STANDIN_TARGETS="\n".join("\t".join("%s=%s" % field for field in t.items())
                                             for t in self.targets),
                   MBEDTLS_PINS=self.pins,
                   LC_ALL="C")
        env.update(self.extra_env)
        return {k: v for k, v in env.items() if v is not None}

    def run(self, argv=None, cwd=None, dir_arg=None):
        """Runs the script (or argv) on DIR; returns (exit status, its stderr
        and stdout)."""
        try:
            os.unlink(os.path.join(self.state, "calls"))
        except FileNotFoundError:
            pass
        argv = argv or ["sh", SCRIPT]
        proc = subprocess.run(argv + [dir_arg or self.dir], env=self.env(), cwd=cwd or self.tmp,
                              stdin=subprocess.DEVNULL, capture_output=True, text=True,
                              timeout=60, preexec_fn=lambda: os.umask(0o022))
        return proc.returncode, proc.stderr + proc.stdout

    def make(self, tree, *args):
        try:
            os.unlink(os.path.join(self.state, "calls"))
        except FileNotFoundError:
            pass
        path = self.bin + os.pathsep + os.environ.get("PATH", "/usr/bin:/bin")
        proc = subprocess.run([MAKE, "--no-print-directory", "-C", tree] + list(args),
                              env=self.env(path), stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=120)
        return proc.returncode, proc.stdout + proc.stderr

    def calls(self):
        try:
            with open(os.path.join(self.state, "calls")) as f:
                records = f.read().split("\n\n")[:-1]
        except FileNotFoundError:
            return []
        calls = []
        for record in records:
            call = dict(args=[], sources="")
            for line in record.split("\n"):
                kind, _, value = line.partition(" ")
                if kind == "cwd":
                    call["cwd"] = value
                elif kind == "arg":
                    call["args"].append(value)
                else:
                    call["sources"] += value + "\n"
            calls.append(call)
        return calls

    def src(self, *path):
        return os.path.join(self.dir, "src", *path)


def options(call):
    """A call's -o options, as a dict."""
    args = call["args"]
    return dict(args[i + 1].split("=", 1) for i, a in enumerate(args) if a == "-o")


def verb(call):
    """What an apt-get call does: its first word that is no option."""
    args = call["args"]
    words = [a for i, a in enumerate(args)
             if not a.startswith("-") and (i == 0 or args[i - 1] != "-o")]
    return words[0] if words else None


def inside(path, directory):
    return os.path.realpath(path).startswith(os.path.realpath(directory) + os.sep)


def relay_lines(out):
    return [l for l in out.splitlines() if l.startswith("relay: ")]


def expect_fetched(fetch, rc, out, version):
    assert rc == 0, "tools/mbedtls.sh failed (exit %d):\n%s" % (rc, out)
    with open(fetch.src(".relay-version")) as f:
        assert f.read() == version + "\n", "DIR/src/.relay-version should say %s" % version
    assert os.path.isfile(fetch.src("include", "mbedtls", "build_info.h")), \
        "DIR/src holds no include/mbedtls/build_info.h"
    assert not os.path.islink(fetch.src()), "DIR/src is a symbolic link"
    assert not os.path.lexists(os.path.join(fetch.dir, "unpack")), "DIR/unpack left behind"


def expect_refused(fetch, rc, out, what):
    assert rc == 1, "expected exit 1 for %s, got %d:\n%s" % (what, rc, out)
    assert not os.path.lexists(fetch.src()), "DIR/src exists after refusing %s:\n%s" % (what, out)
    assert not os.path.lexists(os.path.join(fetch.dir, "unpack")), \
        "DIR/unpack left behind after refusing %s" % what


def expect_private_apt(fetch, out, sandbox):
    calls = fetch.calls()
    assert [verb(c) for c in calls] == ["indextargets", "update", "source"], \
        "expected apt-get indextargets, update, source; got %r\n%s" % (calls, out)
    assert calls[0]["args"][0] == "indextargets" and "-o" not in calls[0]["args"], \
        "indextargets should read the machine's own configuration: %r" % calls[0]["args"]
    for call in calls[1:]:
        opts = options(call)
        for key in PRIVATE_OPTIONS:
            assert key in opts and inside(opts[key], fetch.dir), \
                "apt-get %s: %s=%r, expected a path inside %s" % (
                    verb(call), key, opts.get(key), fetch.dir)
        outside = [(k, v) for k, v in opts.items() if v.startswith("/") and
                   not inside(v, fetch.dir)]
        assert not outside, "apt-get options point outside DIR: %r" % outside
        assert (opts.get("APT::Sandbox::User") == "root") == sandbox, \
            "APT::Sandbox::User=root %s expected (id -u says %s): %r" % (
                "is" if sandbox else "is not", fetch.uid, call["args"])
    assert inside(calls[2]["cwd"], fetch.dir), \
        "apt-get source downloaded into %s, outside DIR" % calls[2]["cwd"]
    assert calls[1]["sources"] == PRIVATE_SOURCES, \
        "apt-get update read these sources:\n%s\nexpected exactly:\n%s" % (
            calls[1]["sources"], PRIVATE_SOURCES)


def test_the_pinned_release_is_fetched_with_apt_state_of_its_own():
    with tempfile.TemporaryDirectory() as tmp:
        fetch = Fetch(tmp)
        fetch.pin("mbedtls_3.6.6.orig.tar.bz2", fetch.offer("3.6.6"))
        system = snapshot(fetch.system)
        rc, out = fetch.run()
        expect_fetched(fetch, rc, out, "3.6.6")
        expect_private_apt(fetch, out, sandbox=True)
        assert "trusting apt" not in out, "a pinned tarball was called unpinned:\n%s" % out
        assert snapshot(fetch.system) == system, "the pretend system's apt files changed"
        # The files are the caller's, with the umask's modes: not uid 501's
        # nor world-writable as in the archive (and as root's tar would keep).
        for parent, _, files in os.walk(fetch.src()):
            for name in files:
                st = os.lstat(os.path.join(parent, name))
                assert st.st_uid == os.geteuid() and not st.st_mode & 0o002, \
                    "%s: uid %d, mode %o (expected %d, not world-writable)" % (
                        os.path.join(parent, name), st.st_uid, st.st_mode, os.geteuid())


def test_debians_mirrors_are_chosen_over_other_repositories():
    # apt-get update fails at once: the sources it read are all this needs.
    flat = dict(RELEASE="./", REPO_URI="https://flat.example/", ORIGIN="Flat")
    bookworm_too = dict(RELEASE="bookworm", REPO_URI="https://apt.example/", ORIGIN="Example")
    security_too = dict(RELEASE="bookworm-security", REPO_URI="https://apt.example/",
                        ORIGIN="Example")
    deb_debian_org = PRIVATE_SOURCES.replace("mirror.example", "deb.debian.org")
    with tempfile.TemporaryDirectory() as tmp:
        fetch = Fetch(tmp)
        fetch.extra_env["STANDIN_UPDATE_FAILS"] = "E: stop here"
        for what, targets, expected in (
                ("third-party repositories listed first",
                 [flat, bookworm_too, security_too] + MACHINE_TARGETS, PRIVATE_SOURCES),
                ("only other origins' (a mirror that re-signs)",
                 [flat, bookworm_too, security_too],
                 PRIVATE_SOURCES.replace("http://mirror.example/debian-security/",
                                         "https://apt.example/")
                                .replace("http://mirror.example/debian/", "https://apt.example/")),
                ("no index targets at all (never updated)", [], deb_debian_org)):
            fetch.targets = targets
            fetch.run()
            calls = [c for c in fetch.calls() if verb(c) == "update"]
            assert calls and calls[0]["sources"] == expected, \
                "with %s, apt-get update read:\n%s\nexpected:\n%s" % (
                    what, calls and calls[0]["sources"], expected)


def test_a_normal_user_fetches_without_apts_sandbox_option():
    # Really unprivileged (nobody) when the tests run as root, with no id
    # stand-in: apt-get's options and the files must work for such a user.
    with tempfile.TemporaryDirectory() as tmp:
        fetch = Fetch(tmp)
        fetch.offer("3.6.9")
        os.unlink(os.path.join(fetch.bin, "id"))
        argv, uid = ["sh", SCRIPT], os.geteuid()
        if uid == 0:
            uid = 65534
            # Its own copy of the script: this tree may be closed to nobody.
            own = os.path.join(tmp, "own copy")
            os.makedirs(own)
            shutil.copy(os.path.join(ROOT, "tools", "mbedtls.sha256"), own)
            argv = [shutil.which("setpriv"), "--reuid=%d" % uid, "--regid=%d" % uid,
                    "--clear-groups", "--", "sh", shutil.copy(SCRIPT, own)]
            os.chmod(tmp, 0o755)
            os.chown(tmp, uid, uid)
            for parent, dirs, files in os.walk(tmp):
                for name in dirs + files:
                    os.chown(os.path.join(parent, name), uid, uid, follow_symlinks=False)
        fetch.uid = str(uid)
        rc, out = fetch.run(argv)
        expect_fetched(fetch, rc, out, "3.6.9")
        expect_private_apt(fetch, out, sandbox=False)
        for path in (os.path.join(fetch.dir, "apt", "dl", "mbedtls_3.6.9-0.1~deb13u1.dsc"),
                     fetch.src(".relay-version")):
            assert os.stat(path).st_uid == uid, "%s is not uid %d's" % (path, uid)


def test_versions_other_than_3_6_6_and_later_3_6_are_refused():
    # "7" is no 3.6.x at all; twenty digits are more than test(1) compares.
    with tempfile.TemporaryDirectory() as tmp:
        for n, version in enumerate(["3.6.5", "3.5.2", "3.7.0", "4.0.0", "3.6.6+dfsg", "7",
                                     "3.6.99999999999999999999"]):
            fetch = Fetch(os.path.join(tmp, str(n)))
            fetch.offer(version)
            rc, out = fetch.run()
            expect_refused(fetch, rc, out, "mbedTLS " + version)
            lines = [l for l in relay_lines(out) if RANGE in l]
            assert len(lines) == 1 and re.search(r"\b%s\b" % re.escape(version), lines[0]), \
                "expected one line naming %s and %r, got:\n%s" % (version, RANGE, out)


def test_a_pinned_tarball_with_another_digest_is_refused():
    with tempfile.TemporaryDirectory() as tmp:
        fetch = Fetch(tmp)
        actual = fetch.offer("3.6.6")
        wrong = hashlib.sha256(b"not the tarball").hexdigest()
        fetch.pin("mbedtls_3.6.6.orig.tar.bz2", wrong)
        rc, out = fetch.run()
        expect_refused(fetch, rc, out, "a tarball whose pin differs")
        lines = [l for l in relay_lines(out) if actual in l and wrong in l]
        assert len(lines) == 1 and "refused" in lines[0], \
            "expected one line naming both digests (%s, %s), got:\n%s" % (actual, wrong, out)
        # By default, the pins are tools/mbedtls.sha256's: Debian's, not ours.
        fetch.extra_env["MBEDTLS_PINS"] = None
        rc, out = fetch.run()
        expect_refused(fetch, rc, out, "a tarball that is not Debian's 3.6.6")
        assert any(actual in l and DEBIAN_PIN in l for l in relay_lines(out)), \
            "expected a line naming %s and tools/mbedtls.sha256's %s:\n%s" % (
                actual, DEBIAN_PIN, out)


def test_an_unpinned_newer_release_is_taken_on_apts_word():
    with tempfile.TemporaryDirectory() as tmp:
        fetch = Fetch(tmp)
        fetch.offer("3.6.9")
        rc, out = fetch.run()
        expect_fetched(fetch, rc, out, "3.6.9")
        assert any("mbedtls_3.6.9.orig.tar.bz2" in l and "trusting apt's check" in l
                   for l in relay_lines(out)), "no word on trusting apt for 3.6.9:\n%s" % out


def test_tarballs_not_shaped_like_mbedtls_are_refused():
    with tempfile.TemporaryDirectory() as tmp:
        outside = os.path.join(tmp, "outside")
        for name, content in mbedtls_tree(outside).items():
            os.makedirs(os.path.dirname(name), exist_ok=True)
            with open(name, "wb") as f:
                f.write(content)
        good = mbedtls_tree("mbedtls-3.6.9")
        # What is wrong, the tarball, and what the refusal names.
        up = "mbedtls-3.6.9/../../../outside/planted"
        cases = [
            ("no 3rdparty/everest", mbedtls_tree("mbedtls-3.6.9", everest=False),
             "3rdparty/everest"),
            ("a top directory not mbedtls-*", mbedtls_tree("notmbedtls-3.6.9"), "notmbedtls-"),
            ("two top directories", {**good, **mbedtls_tree("mbedtls-3.6.8")}, "mbedtls-3.6.8"),
            ("a file beside the top directory", {**good, "README": b"hello\n"}, "README"),
            ("a hidden entry beside it", {**good, ".hidden/x": b"x\n"}, ".hidden"),
            ("an absolute path", {**good, outside + "/planted": b"x\n"}, outside + "/planted"),
            ("an absolute path first", {outside + "/planted": b"x\n", **good},
             outside + "/planted"),
            ("a .. path", {**good, up: b"x\n"}, up),
            ("a top directory that is a link out", {"mbedtls-3.6.9": ("symlink", outside)},
             "mbedtls_3.6.9.orig.tar.bz2"),
        ]
        for n, (what, members, named) in enumerate(cases):
            fetch = Fetch(os.path.join(tmp, str(n)))
            fetch.offer("3.6.9", members)
            mine = {os.path.dirname(fetch.dir), fetch.state}
            before = snapshot(tmp, skip=mine)
            rc, out = fetch.run()
            expect_refused(fetch, rc, out, "a tarball with " + what)
            last = relay_lines(out)[-1:]
            assert last and "mbedtls_3.6.9.orig.tar.bz2" in last[0] and named in last[0], \
                "no line naming the tarball and %s for %s:\n%s" % (named, what, out)
            after = snapshot(tmp, skip=mine)
            changed = sorted(set(before.items()) ^ set(after.items()))
            assert not changed, "a tarball with %s changed %r outside DIR" % (what, changed)


def test_what_an_earlier_run_left_is_replaced_and_nothing_else():
    with tempfile.TemporaryDirectory() as tmp:
        fetch = Fetch(tmp)
        fetch.offer("3.6.9")
        # Killed while unpacking, after a 3.6.5 fetch; the build's files beside.
        for path, content in ((("unpack", "mbedtls-3.6.5", "x"), b"x\n"),
                              (("src", "half"), b"x\n"),
                              (("apt", "dl", "mbedtls_3.6.5-1.dsc"), b"x\n"),
                              (("apt", "dl", "mbedtls_3.6.5.orig.tar.bz2"), b"x\n"),
                              ((".built",), b""), (("build.log",), b"the last build\n")):
            path = os.path.join(fetch.dir, *path)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "wb") as f:
                f.write(content)
        build = snapshot(fetch.dir, skip={os.path.join(fetch.dir, d)
                                          for d in ("apt", "src", "unpack")})
        rc, out = fetch.run()
        expect_fetched(fetch, rc, out, "3.6.9")
        assert not os.path.exists(fetch.src("half")), "DIR/src keeps the interrupted run's file"
        after = snapshot(fetch.dir, skip={os.path.join(fetch.dir, d)
                                          for d in ("apt", "src", "unpack")})
        assert after == build, "the fetch changed the build's files: %r" % sorted(
            set(after.items()) ^ set(build.items()))

        # DIR a link (to a roomier disk, say), DIR/src a link to someone's tree.
        theirs = os.path.join(tmp, "their tree")
        os.makedirs(theirs)
        with open(os.path.join(theirs, "precious"), "w") as f:
            f.write("keep\n")
        real = os.path.join(tmp, "elsewhere")
        os.makedirs(real)
        os.symlink(theirs, os.path.join(real, "src"))
        fetch.dir = os.path.join(tmp, "linked")
        os.symlink(real, fetch.dir)
        rc, out = fetch.run()
        expect_fetched(fetch, rc, out, "3.6.9")
        assert os.path.islink(fetch.dir) and os.path.isfile(
            os.path.join(real, "src", ".relay-version")), "DIR's link was not followed"
        assert os.listdir(theirs) == ["precious"], \
            "the tree DIR/src linked to changed: %r" % os.listdir(theirs)


def test_an_exported_cdpath_leaves_other_trees_alone():
    # cd with CDPATH goes to the first match, and says where on stdout.
    with tempfile.TemporaryDirectory() as tmp:
        fetch = Fetch(tmp)
        fetch.offer("3.6.9")
        other = os.path.join(tmp, "other checkout")
        os.makedirs(os.path.join(other, "build", "mbedtls", "src"))
        with open(os.path.join(other, "build", "mbedtls", "src", ".relay-version"), "w") as f:
            f.write("3.6.6\n")
        work = os.path.join(tmp, "work")
        os.makedirs(os.path.join(work, "build", "mbedtls"))
        before = snapshot(other)
        fetch.extra_env["CDPATH"] = other
        fetch.dir = os.path.join(work, "build", "mbedtls")
        rc, out = fetch.run(cwd=work, dir_arg="build/mbedtls")
        expect_fetched(fetch, rc, out, "3.6.9")
        assert snapshot(other) == before, "another checkout on CDPATH was changed:\n%s" % out


def test_apt_failing_is_shown_and_said():
    with tempfile.TemporaryDirectory() as tmp:
        fetch = Fetch(tmp)
        fetch.offer("3.6.9")
        fetch.extra_env["STANDIN_UPDATE_FAILS"] = (
            "E: Failed to fetch http://mirror.example/debian/dists/trixie/InRelease  "
            "Could not resolve 'mirror.example'")
        rc, out = fetch.run()
        expect_refused(fetch, rc, out, "apt-get update failing")
        assert fetch.extra_env["STANDIN_UPDATE_FAILS"] in out, "apt's output not shown:\n%s" % out
        assert any(re.search(r"cannot read Debian's .*index", l) for l in relay_lines(out)), \
            "no line saying the index could not be read:\n%s" % out
        assert [verb(c) for c in fetch.calls()] == ["indextargets", "update"], \
            "apt-get went on after update failed: %r" % fetch.calls()

        fetch.extra_env["STANDIN_UPDATE_FAILS"] = None
        fetch.extra_env["STANDIN_SOURCE_FAILS"] = "E: Unable to find a source package for mbedtls"
        rc, out = fetch.run()
        expect_refused(fetch, rc, out, "apt-get source failing")
        assert fetch.extra_env["STANDIN_SOURCE_FAILS"] in out, "apt's output not shown:\n%s" % out
        assert any("cannot download" in l for l in relay_lines(out)), \
            "no line saying the download failed:\n%s" % out


def test_without_apt_get_the_hint_is_mbedtls_system():
    with tempfile.TemporaryDirectory() as tmp:
        fetch = Fetch(tmp)
        fetch.extra_env["PATH"] = fetch.tools
        rc, out = fetch.run()
        assert rc == 1, "expected exit 1 without apt-get, got %d:\n%s" % (rc, out)
        assert any("make MBEDTLS=system" in l for l in relay_lines(out)), \
            "no hint to build with MBEDTLS=system:\n%s" % out
        assert not os.path.lexists(os.path.dirname(fetch.dir)), "DIR created without apt-get"


def source_copy(tmp):
    """This tree's tracked files as they are now, under a path with a space."""
    try:
        names = subprocess.run(["git", "-C", ROOT, "ls-files", "-z"], capture_output=True,
                               check=True).stdout.decode().split("\0")
    except (OSError, subprocess.CalledProcessError) as e:
        raise unittest.SkipTest("cannot list the tracked files with git: %s" % e)
    tree = os.path.join(tmp, "source tree")
    for name in names:
        if name and os.path.lexists(os.path.join(ROOT, name)):
            os.makedirs(os.path.dirname(os.path.join(tree, name)), exist_ok=True)
            shutil.copy2(os.path.join(ROOT, name), os.path.join(tree, name),
                         follow_symlinks=False)
    return tree


def test_make_fetches_once_and_builds_with_our_header_under_a_spaced_path():
    with tempfile.TemporaryDirectory() as tmp:
        fetch = Fetch(tmp)
        fetch.offer("3.6.9")
        tree = source_copy(tmp)
        mbedtls = os.path.join(tree, "build", "mbedtls")
        rc, out = fetch.make(tree, "build/mbedtls/.built")
        assert rc == 0, "make build/mbedtls/.built failed (exit %d):\n%s" % (rc, out)
        assert len(fetch.calls()) == 3, "expected one fetch: %r" % fetch.calls()
        assert os.path.isfile(os.path.join(mbedtls, "src", "library", "probe.o")), \
            "the library was not built with net/tls_config.h:\n%s" % out
        # Everest's X25519 at -O3, the rest at upstream's -O2.
        flags = {}
        for name, obj in (("library", "library/probe.o"),
                          ("Everest", "3rdparty/everest/library/Hacl_Curve25519_joined.o")):
            with open(os.path.join(mbedtls, "src", obj + ".flags")) as f:
                flags[name] = f.read().split()
        assert "-O2" in flags["library"] and "-O3" not in flags["library"], flags
        assert "-O3" in flags["Everest"], flags
        # The relay's ladder step goes into the crypto library.
        members = subprocess.run(["ar", "t", os.path.join(mbedtls, "src", "library",
                                                         "libmbedcrypto.a")],
                                 capture_output=True, text=True).stdout.split()
        assert members == ["ecp_alt.o"], members

        # Fetched and built: nothing to do, no fetch.
        built = snapshot(mbedtls)
        rc, out = fetch.make(tree, "build/mbedtls/.built")
        assert rc == 0, "the second make failed (exit %d):\n%s" % (rc, out)
        assert not fetch.calls() and "mbedtls.sh" not in out, \
            "fetched again with DIR/src/.relay-version there: %r\n%s" % (fetch.calls(), out)
        assert snapshot(mbedtls) == built, "the second make changed build/mbedtls"

        # A src without .relay-version (an interrupted fetch): fetched again.
        os.unlink(os.path.join(mbedtls, "src", ".relay-version"))
        rc, out = fetch.make(tree, "build/mbedtls/.built")
        assert rc == 0, "make after losing .relay-version failed (exit %d):\n%s" % (rc, out)
        assert len(fetch.calls()) == 3, "expected a new fetch: %r\n%s" % (fetch.calls(), out)
        assert os.path.isfile(os.path.join(mbedtls, "src", ".relay-version"))


PKG_CONFIG_2_28 = """#!/bin/sh
case " $* " in
*" mbedtls "*)
	case " $* " in
	*" --modversion "*) echo 2.28.3 ;;
	*" --atleast-version="*) exit 1 ;;
	esac ;;
*) exec pkg-config "$@" ;;
esac
"""


def test_make_mbedtls_system_needs_3_6_and_mbedtls_is_build_or_system():
    with tempfile.TemporaryDirectory() as tmp:
        tree = source_copy(tmp)
        build = os.path.join(tree, "build")

        def make(*args):
            proc = subprocess.run([MAKE, "--no-print-directory", "-s", "-j2", "-C", tree]
                                  + list(args), env=make_env(), stdin=subprocess.DEVNULL,
                                  capture_output=True, text=True, timeout=120)
            return proc.returncode, (proc.stdout + proc.stderr).strip().splitlines()

        rc, lines = make("MBEDTLS=bogus")
        assert rc != 0 and any("MBEDTLS is build (the default) or system, not bogus" in l
                               for l in lines), "make MBEDTLS=bogus: exit %d\n%s" % (
                                   rc, "\n".join(lines))
        assert not os.path.exists(build), "make MBEDTLS=bogus wrote %s" % os.listdir(build)

        # A pkg-config that knows mbedTLS 2.28 (a distribution with its .pc)
        # and, unless it has 3.6, this machine's (Debian 12's 2.28 has none).
        pkg = os.path.join(tmp, "pkg-config")
        with open(pkg, "w") as f:
            f.write(PKG_CONFIG_2_28)
        os.chmod(pkg, 0o755)
        pkgs = [(pkg, re.escape("2.28.3"))]
        if subprocess.run(["pkg-config", "--atleast-version=3.6", "mbedtls"],
                          capture_output=True).returncode != 0:
            pkgs.append(("pkg-config", r"[^:]+"))
        for pkg, has in pkgs:
            rc, lines = make("MBEDTLS=system", "PKG=" + pkg)
            expect_one_line(rc, lines, re.escape(
                "relay: MBEDTLS=system needs mbedTLS >= 3.6 (pkg-config mbedtls), this system "
                "has ") + has + re.escape(": build without MBEDTLS=system"))
            compiled = [f for _, _, files in os.walk(build) for f in files
                        if f.endswith((".o", ".a"))]
            assert not compiled and not os.path.exists(os.path.join(tree, "relay")), \
                "make MBEDTLS=system PKG=%s compiled %r before failing" % (pkg, compiled)
