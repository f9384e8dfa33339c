"""
promtext — a strict reader of Prometheus's text exposition format 0.0.4, for
the tests of the admin listener's /metrics.

Strict where Prometheus's own parsers are lenient: every line must be a HELP,
a TYPE or a sample (no blank lines), every sample must belong to a family that
has a TYPE (given before its first sample), a family's lines must be
contiguous, no series may appear twice, label values must be properly quoted
and escaped, values must be numbers as Go's ParseFloat reads them, counters
must be named *_total, and every histogram must have monotone cumulative
buckets ending in le="+Inf" equal to its _count, and a _sum. Any breach is an
AssertionError naming the line.

    fams = parse(text)                    # {name: Family}
    fams["relay_mailboxes"].type          # "gauge"
    sample(fams, "relay_http_requests_total", route="/v1/m", method="POST", code="200")
"""

import math
import re

NAME_RE = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*\Z")
LABEL_NAME_RE = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
VALUE_RE = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]+)?\Z|[-+]Inf\Z|NaN\Z")
TIMESTAMP_RE = re.compile(r"-?[0-9]+\Z")
TYPES = ("counter", "gauge", "histogram", "summary", "untyped")


class Family:
    def __init__(self, name):
        self.name = name
        self.type = None
        self.help = None
        self.samples = []           # (sample name, {label: value}, float value)

    def __repr__(self):
        return "<%s %s, %d samples>" % (self.type, self.name, len(self.samples))


def _fail(n, line, why):
    raise AssertionError("exposition line %d %r: %s" % (n, line[:200], why))


def _unescape_help(n, line, text):
    out, i = [], 0
    while i < len(text):
        c = text[i]
        if c == "\\":
            nxt = text[i + 1:i + 2]
            if nxt not in ("\\", "n"):
                _fail(n, line, "HELP may escape only \\\\ and \\n, not \\%s" % nxt)
            out.append("\\" if nxt == "\\" else "\n")
            i += 2
            continue
        out.append(c)
        i += 1
    return "".join(out)


def _labels(n, line, text, i):
    """Labels from text[i] == '{'; returns (dict, index after '}')."""
    labels = {}
    i += 1
    if text[i:i + 1] == "}":
        return labels, i + 1
    while True:
        m = LABEL_NAME_RE.match(text, i)
        if not m:
            _fail(n, line, "a label name was expected at column %d" % i)
        key = m.group(0)
        i = m.end()
        if text[i:i + 2] != '="':
            _fail(n, line, 'label %s is not followed by ="' % key)
        i += 2
        value = []
        while True:
            if i >= len(text):
                _fail(n, line, "label %s's value is not closed" % key)
            c = text[i]
            if c == "\\":
                nxt = text[i + 1:i + 2]
                if nxt not in ('\\', '"', "n"):
                    _fail(n, line, "label %s: \\%s is not an escape of the format" % (key, nxt))
                value.append({"n": "\n"}.get(nxt, nxt))
                i += 2
                continue
            if c == "\n":
                _fail(n, line, "raw newline in a label value")
            if c == '"':
                i += 1
                break
            value.append(c)
            i += 1
        if key in labels:
            _fail(n, line, "label %s given twice" % key)
        labels[key] = "".join(value)
        if text[i:i + 1] == ",":
            i += 1
            if text[i:i + 1] == "}":
                _fail(n, line, "a comma before the closing brace")
            continue
        if text[i:i + 1] == "}":
            return labels, i + 1
        _fail(n, line, "a comma or a closing brace was expected at column %d" % i)


def _family_of(name, families):
    """The family a sample name belongs to (histogram and summary suffixes)."""
    for suffix, types in (("_bucket", ("histogram",)), ("_sum", ("histogram", "summary")),
                          ("_count", ("histogram", "summary"))):
        base = name[:-len(suffix)]
        if name.endswith(suffix) and base in families and families[base].type in types:
            return base
    return name


def parse(text):
    assert isinstance(text, str), "the exposition is text"
    if not text.endswith("\n"):
        raise AssertionError("the exposition does not end with a newline: %r" % text[-80:])
    families = {}
    finished = set()            # families whose lines are over
    current = None
    series = set()
    for n, line in enumerate(text[:-1].split("\n"), 1):
        if line == "" or line.strip() == "":
            _fail(n, line, "blank line")
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) < 3 or parts[0] != "#" or parts[1] not in ("HELP", "TYPE"):
                continue        # a plain comment
            kind, name = parts[1], parts[2]
            rest = parts[3] if len(parts) > 3 else ""
            if not NAME_RE.match(name):
                _fail(n, line, "%r is not a metric name" % name)
            if name != current:
                if name in finished or (name in families and families[name].samples):
                    _fail(n, line, "family %s resumed after other lines" % name)
                if current is not None:
                    finished.add(current)
                current = name
            fam = families.setdefault(name, Family(name))
            if kind == "TYPE":
                if fam.type is not None:
                    _fail(n, line, "second TYPE for %s" % name)
                if fam.samples:
                    _fail(n, line, "TYPE after samples of %s" % name)
                if rest not in TYPES:
                    _fail(n, line, "unknown type %r" % rest)
                fam.type = rest
            else:
                if fam.help is not None:
                    _fail(n, line, "second HELP for %s" % name)
                fam.help = _unescape_help(n, line, rest)
            continue
        m = re.match(r"[a-zA-Z_:][a-zA-Z0-9_:]*", line)
        if not m:
            _fail(n, line, "not a HELP, TYPE or sample line")
        name, i = m.group(0), m.end()
        labels = {}
        if line[i:i + 1] == "{":
            labels, i = _labels(n, line, line, i)
        if line[i:i + 1] != " ":
            _fail(n, line, "one space must separate the series from its value")
        fields = line[i + 1:].split(" ")
        if not 1 <= len(fields) <= 2 or not VALUE_RE.match(fields[0]) or \
                (len(fields) == 2 and not TIMESTAMP_RE.match(fields[1])):
            _fail(n, line, "value %r (and optional timestamp) malformed" % line[i + 1:])
        value = float(fields[0].replace("Inf", "inf"))
        base = _family_of(name, families)
        fam = families.get(base)
        if fam is None or fam.type is None:
            _fail(n, line, "sample of %s without a TYPE line before it" % base)
        if base != current:
            _fail(n, line, "sample of %s among the lines of %s" % (base, current))
        key = (name, tuple(sorted(labels.items())))
        if key in series:
            _fail(n, line, "series given twice")
        series.add(key)
        if fam.type == "histogram" and name == base:
            _fail(n, line, "a histogram's samples are _bucket, _sum and _count")
        fam.samples.append((name, labels, value))
    for fam in families.values():
        _check_family(fam)
    return families


def _check_family(fam):
    if fam.type == "counter" and not fam.name.endswith("_total"):
        raise AssertionError("counter %s is not named *_total" % fam.name)
    for name, _, value in fam.samples:
        if fam.type == "counter" and (value < 0 or math.isnan(value)):
            raise AssertionError("counter %s has value %r" % (name, value))
    if fam.type != "histogram":
        return
    groups = {}
    for name, labels, value in fam.samples:
        rest = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        g = groups.setdefault(rest, {"buckets": [], "sum": None, "count": None})
        if name.endswith("_bucket"):
            if "le" not in labels:
                raise AssertionError("%s%s has no le label" % (name, dict(rest)))
            le = labels["le"]
            if not VALUE_RE.match(le):
                raise AssertionError("%s: le=%r is not a number" % (name, le))
            g["buckets"].append((float(le.replace("Inf", "inf")), value))
        elif name.endswith("_sum"):
            g["sum"] = value
        else:
            g["count"] = value
    for rest, g in groups.items():
        what = "%s%s" % (fam.name, dict(rest))
        bounds = [b for b, _ in g["buckets"]]
        if bounds != sorted(bounds) or len(set(bounds)) != len(bounds):
            raise AssertionError("%s: buckets not in increasing le order: %r" % (what, bounds))
        if not bounds or bounds[-1] != math.inf:
            raise AssertionError("%s: no le=\"+Inf\" bucket" % what)
        counts = [c for _, c in g["buckets"]]
        if any(b < a for a, b in zip(counts, counts[1:])):
            raise AssertionError("%s: cumulative buckets decrease: %r" % (what, counts))
        if g["count"] is None or g["sum"] is None:
            raise AssertionError("%s: _count or _sum missing" % what)
        if counts[-1] != g["count"]:
            raise AssertionError("%s: +Inf bucket %r != _count %r" % (what, counts[-1], g["count"]))
        if g["count"] > 0 and g["sum"] < 0:
            raise AssertionError("%s: negative _sum" % what)


def sample(families, name, **labels):
    """The value of the one sample with exactly these labels, or None."""
    fam = families.get(_family_of(name, families))
    if fam is None:
        return None
    for n, l, v in fam.samples:
        if n == name and l == labels:
            return v
    return None


def histogram(families, name, **labels):
    """{le: cumulative count} (le as float), with 'sum' and 'count', of one
    histogram series; None when absent."""
    fam = families.get(name)
    if fam is None:
        return None
    out = {}
    for n, l, v in fam.samples:
        rest = {k: x for k, x in l.items() if k != "le"}
        if rest != labels:
            continue
        if n.endswith("_bucket"):
            out[float(l["le"].replace("Inf", "inf"))] = v
        elif n.endswith("_sum"):
            out["sum"] = v
        elif n.endswith("_count"):
            out["count"] = v
    return out or None
