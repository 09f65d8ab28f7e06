#!/usr/bin/python3
"""prom_sum.py FAMILY [SELECTOR] [--lines] < metrics.txt

Reads Prometheus text exposition on stdin and prints the sum of the samples
named FAMILY whose labels include every pair in SELECTOR
(e.g. 'direction="inbound",peer="src",target_port="80"'). No match → 0.
Integral sums print without a decimal point. --lines prints the matching
samples instead of the sum. Exit status 2 on unparsable input lines that
belong to FAMILY (a malformed exposition should fail the test loudly).
"""
import re
import sys

LABEL_RE = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*=\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')


def parse_labels(s):
    labels = {}
    pos = 0
    s = s.strip()
    while pos < len(s):
        m = LABEL_RE.match(s, pos)
        if not m:
            raise ValueError("bad labels: %r" % s)
        labels[m.group(1)] = re.sub(r"\\(.)", lambda e: "\n" if e.group(1) == "n" else e.group(1),
                                    m.group(2))
        pos = m.end()
    return labels


def split_sample(line):
    """-> (name, labels-string, value-string)"""
    brace = line.find("{")
    space = line.find(" ")
    if brace != -1 and (space == -1 or brace < space):
        # find the closing brace outside quotes
        i, inq = brace + 1, False
        while i < len(line):
            ch = line[i]
            if inq:
                if ch == "\\":
                    i += 1
                elif ch == '"':
                    inq = False
            elif ch == '"':
                inq = True
            elif ch == "}":
                break
            i += 1
        if i >= len(line):
            raise ValueError("unterminated labels")
        name, lab, rest = line[:brace], line[brace + 1:i], line[i + 1:]
    else:
        if space == -1:
            raise ValueError("no value")
        name, lab, rest = line[:space], "", line[space:]
    parts = rest.split()
    if not parts:
        raise ValueError("no value")
    return name, lab, parts[0]


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("--")]
    show = "--lines" in sys.argv
    if not args:
        sys.exit(__doc__)
    family = args[0]
    want = parse_labels(args[1]) if len(args) > 1 and args[1] else {}
    total = 0.0
    bad = False
    for raw in sys.stdin:
        line = raw.rstrip("\n")
        if not line or line.startswith("#"):
            continue
        if not line.startswith(family):
            continue
        try:
            name, lab, val = split_sample(line)
        except ValueError as e:
            sys.stderr.write("prom_sum: %s: %r\n" % (e, line))
            bad = True
            continue
        if name != family:
            continue
        try:
            labels = parse_labels(lab)
            v = float(val)
        except ValueError as e:
            sys.stderr.write("prom_sum: %s: %r\n" % (e, line))
            bad = True
            continue
        if all(labels.get(k) == x for k, x in want.items()):
            total += v
            if show:
                print(line)
    if not show:
        print(int(total) if total == int(total) else total)
    sys.exit(2 if bad else 0)


if __name__ == "__main__":
    main()
