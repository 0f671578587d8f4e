#!/usr/bin/python3
"""Validates a Prometheus text exposition (format 0.0.4) read from the file
given as argument 1, with the reference parser (Debian's
python3-prometheus-client) plus the rules it does not enforce: every family
has one TYPE line, before its samples, and its samples are contiguous;
histogram buckets are cumulative and end in +Inf equal to _count.
Prints one line per sample, "name{k="v",...} value" with labels sorted, so a
test can look for exact series. Exits 1 with the reason on stderr."""
import re
import sys

from prometheus_client.parser import text_string_to_metric_families


def fail(msg):
    print("prom_check: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    if not text.endswith("\n"):
        fail("the text does not end with a newline")
    typed, seen_samples, last_family = {}, set(), None
    sample_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})? (\S+)$')
    for n, line in enumerate(text.splitlines(), 1):
        if line.startswith("# TYPE "):
            parts = line.split()
            if len(parts) != 4:
                fail("line %d: bad TYPE line: %s" % (n, line))
            if parts[2] in typed:
                fail("line %d: family %s typed twice" % (n, parts[2]))
            if parts[2] in seen_samples:
                fail("line %d: TYPE of %s after its samples" % (n, parts[2]))
            typed[parts[2]] = parts[3]
            continue
        if line.startswith("#") or not line:
            continue
        m = sample_re.match(line)
        if not m:
            fail("line %d: not a sample: %s" % (n, line))
        name = m.group(1)
        family = re.sub(r'_(bucket|sum|count)$', '', name) if re.sub(
            r'_(bucket|sum|count)$', '', name) in typed else name
        if family != last_family and family in seen_samples:
            fail("line %d: samples of %s are not contiguous" % (n, family))
        seen_samples.add(family)
        last_family = family
        float(m.group(3))
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as e:  # the reference parser's verdict
        fail("reference parser: %s" % e)
    for fam in families:
        if fam.type == "histogram":
            series = {}
            for s in fam.samples:
                key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
                series.setdefault(key, {"buckets": [], "count": None})
                if s.name.endswith("_bucket"):
                    series[key]["buckets"].append((float(s.labels["le"]), s.value))
                elif s.name.endswith("_count"):
                    series[key]["count"] = s.value
            for key, h in series.items():
                b = h["buckets"]
                if not b or b[-1][0] != float("inf"):
                    fail("%s%s: no +Inf bucket" % (fam.name, key))
                if any(b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
                    fail("%s%s: buckets not cumulative" % (fam.name, key))
                if b[-1][1] != h["count"]:
                    fail("%s%s: +Inf bucket != _count" % (fam.name, key))
        for s in fam.samples:
            labels = ",".join('%s="%s"' % (k, v) for k, v in sorted(s.labels.items()))
            value = int(s.value) if s.value == int(s.value) else s.value
            print("%s{%s} %s" % (s.name, labels, value))


main()
