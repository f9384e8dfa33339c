"""relay(8), docs/relay.8, against the binary and README.md.

The server options that `relay --help` lists, the OPTIONS of the man page
and the first column of README.md's option table must be the same set; the
device commands of `relay help` and every option they take must be in the
man page's COMMANDS; the page may name no option that neither side has.
Each failure lists what is missing where. mandoc (and groff, through man,
where it is installed) must find nothing to say about the page.
"""

import os
import re
import shutil
import subprocess

from relaytest import run_relay

STORE_INDEPENDENT = "it reads the manual page and --help, and starts no relay"

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
MANPAGE = os.path.join(ROOT, "docs", "relay.8")
README = os.path.join(ROOT, "README.md")

OPTION_RE = re.compile(r"--[a-z0-9][a-z0-9-]*")
# An option in mdoc: `Fl -listen` prints --listen.
FL_RE = re.compile(r"(?:^\.|\s)Fl\s+(-[a-z0-9][a-z0-9-]*)")
SECTIONS = ["NAME", "SYNOPSIS", "DESCRIPTION", "OPTIONS", "COMMANDS", "SIGNALS",
            "ENVIRONMENT", "FILES", "EXIT STATUS", "EXAMPLES", "SEE ALSO"]


def option_column(line):
    """The options at the start of a help line: `--cert FILE --key FILE`
    from `  --cert FILE --key FILE    PEM certificate...`."""
    return set(OPTION_RE.findall(re.split(r"\s{2,}", line.strip())[0]))


def help_options():
    """The server options: the first column of each line of --help's
    `options:` block that starts with `  --` (continuation lines are
    indented further and may mention options in passing)."""
    rc, out, err = run_relay(["--help"])
    assert rc == 0, "relay --help: exit %d, stderr %r" % (rc, err)
    lines = out.splitlines()
    assert "options:" in lines, "relay --help has no 'options:' line: %r" % out
    names = set()
    for line in lines[lines.index("options:") + 1:]:
        if not line.strip():
            break
        if line.startswith("  --"):
            names |= option_column(line)
    assert len(names) > 20, "parsed only %r from relay --help" % sorted(names)
    return names


def client_help():
    """(commands, options) of `relay help`: commands from the lines that
    start with two spaces and a word, before the common options; options
    from the first column of every line that starts with spaces and --."""
    rc, out, err = run_relay(["help"])
    assert rc == 0, "relay help: exit %d, stderr %r" % (rc, err)
    commands, options = [], set()
    in_commands = True
    for line in out.splitlines():
        in_commands = in_commands and not line.startswith("Every command")
        m = re.match(r"^  ([a-z]+)(?:\s|$)", line)
        if m and in_commands:
            commands.append(m.group(1))
        if re.match(r"^\s+--", line):
            options |= option_column(line)
    assert "send" in commands and "--state" in options, \
        "could not parse relay help: %r" % out
    return commands, options


def man_sections():
    """{section: [source lines]} of the mdoc page."""
    with open(MANPAGE, encoding="utf-8") as f:
        text = f.read()
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith(".Sh "):
            current = line[4:].strip().strip('"')
            sections[current] = []
        elif current is not None:
            sections[current].append(line)
    return sections


def fl_options(lines, item_only=False):
    """The long options that Fl macros name in these lines (only those that
    open a list item with item_only)."""
    names = set()
    for line in lines:
        if item_only and not line.startswith(".It "):
            continue
        names |= {"-" + t for t in FL_RE.findall(line) if t.startswith("-")}
    return names


def readme_options():
    """The options in the first column of README.md's option table."""
    with open(README, encoding="utf-8") as f:
        lines = f.read().splitlines()
    header = [i for i, l in enumerate(lines) if re.match(r"^\|\s*option\s*\|", l)]
    assert len(header) == 1, "README.md should have one '| option | ...' table, has %d" % len(header)
    names = set()
    for line in lines[header[0] + 2:]:
        if not line.startswith("|"):
            break
        names |= set(OPTION_RE.findall(line.split("|")[1]))
    return names


def differences(reference, ref_name, other, other_name):
    problems = []
    if reference - other:
        problems.append("in %s but not in %s: %s" % (ref_name, other_name,
                                                      " ".join(sorted(reference - other))))
    if other - reference:
        problems.append("in %s but not in %s: %s" % (other_name, ref_name,
                                                     " ".join(sorted(other - reference))))
    return problems


def test_server_options_are_the_same_in_help_man_page_and_readme():
    help_ = help_options()
    man = fl_options(man_sections().get("OPTIONS", []), item_only=True)
    problems = differences(help_, "relay --help", man, "docs/relay.8 OPTIONS")
    problems += differences(help_, "relay --help", readme_options(), "README.md's option table")
    assert not problems, "\n".join(problems)


def test_every_device_command_and_its_options_are_in_the_man_page():
    commands, options = client_help()
    commands_section = man_sections().get("COMMANDS", [])
    items = {m.group(1) for m in (re.match(r"^\.It Cm ([a-z]+)", l) for l in commands_section) if m}
    problems = []
    if set(commands) - items:
        problems.append("device commands of relay help not in docs/relay.8 COMMANDS: %s"
                        % " ".join(c for c in commands if c not in items))
    problems += differences(options, "relay help", fl_options(commands_section, item_only=True),
                            "docs/relay.8 COMMANDS")
    assert not problems, "\n".join(problems)


def test_man_page_names_no_option_that_does_not_exist():
    known = help_options() | client_help()[1]
    problems = []
    for section, lines in man_sections().items():
        unknown = fl_options(lines) - known
        if unknown:
            problems.append("%s names %s" % (section, " ".join(sorted(unknown))))
        if section == "EXAMPLES":
            # The relay's command lines, written out (\e ends a continued line).
            text = "\n".join(l for l in lines if not l.startswith(".")).replace("\\e\n", " ")
            words = set()
            for m in re.finditer(r"(?:^|\|)\s*relay\s(.*)", text, re.M):
                words |= set(OPTION_RE.findall(m.group(1)))
            assert "--public-url" in words, "no relay command line found in EXAMPLES"
            if words - known:
                problems.append("EXAMPLES uses %s" % " ".join(sorted(words - known)))
    assert not problems, "docs/relay.8 names options neither relay --help nor relay help " \
        "lists:\n" + "\n".join(problems)


def test_man_page_has_its_sections_and_mandoc_finds_nothing_wrong():
    sections = list(man_sections())
    missing = [s for s in SECTIONS if s not in sections]
    assert not missing, "docs/relay.8 lacks the sections %s (has %s)" % (missing, sections)
    mandoc = shutil.which("mandoc")
    assert mandoc, "mandoc is needed to check docs/relay.8 (make deps-test installs it)"
    proc = subprocess.run([mandoc, "-Tlint", "-Wstyle", MANPAGE], capture_output=True,
                          text=True, timeout=30)
    # Whether the pages of SEE ALSO are installed here says nothing of this one.
    said = [l for l in (proc.stdout + proc.stderr).splitlines()
            if l.strip() and not re.search(r"referenced manual not found|mandoc\.db lacks", l)]
    assert not said, "mandoc -Tlint -Wstyle docs/relay.8:\n" + "\n".join(said)
    man = shutil.which("man")
    if man:
        # groff's view (man-db is not a test dependency: checked where it is).
        proc = subprocess.run([man, "--warnings", "-l", MANPAGE], capture_output=True, text=True,
                              timeout=30, env=dict(os.environ, MANPAGER="cat", PAGER="cat",
                                                   MANWIDTH="80"))
        assert proc.returncode == 0 and not proc.stderr.strip(), \
            "man --warnings -l docs/relay.8 (exit %d):\n%s" % (proc.returncode, proc.stderr)
        assert "--max-connections" in proc.stdout, "man rendered no options: %r" % proc.stdout[:500]
