#!/usr/bin/env python3
"""realbench_report.py RUN "PROTOCOLS" "SEEDS" "METHODS" - the summary of a
bench/realbench.sh run as Markdown on stdout: per protocol, TailSampler's
Table 5 measures (mean and worst over the seeds, from RUN/VARIANT/tailsample.log)
and image/pixel AUROC tail/head/all per method (mean over the seeds, from
RUN/VARIANT/eval-METHOD.csv). Missing results are counted and reported, never
filled in."""
import csv
import os
import re
import sys

# name in the tailsample log, label, worst = max (1) or min (-1)
MEASURES = [
    ("missing tail samples", "missing tail (%)", 1, 100.0),
    ("included anomalies", "noise in T (%)", 1, 100.0),
    ("included head samples", "head in T (%)", 1, 100.0),
    ("class-size error (1/|C|)", "class-size error", 1, 1.0),
    ("AUROC(-kappa, tail)", "AUROC(-kappa) (%)", -1, 100.0),
]


def read_tail(path):
    out = {}
    try:
        with open(path) as f:
            for line in f:
                for key, _, _, _ in MEASURES:
                    m = re.match(r"\s*" + re.escape(key) + r"\s+([-+0-9.eEna]+)\s*$", line)
                    if m:
                        out[key] = float(m.group(1))
    except OSError:
        pass
    return out


def read_eval(path):
    out = {}
    try:
        with open(path) as f:
            for row in csv.DictReader(f):
                if row["group"] == "mean":
                    g = row["class"].replace("mean_", "")
                    out[("image", g)] = float(row["image_auroc"])
                    out[("pixel", g)] = float(row["pixel_auroc"])
    except (OSError, KeyError, ValueError):
        pass
    return out


def fmt(x, scale=100.0):
    return "-" if x is None or x != x else "%.2f" % (x * scale) if scale == 100.0 else "%.3f" % x


def main():
    if len(sys.argv) != 5:
        sys.stderr.write(__doc__)
        return 2
    run, protos, seeds, methods = sys.argv[1], sys.argv[2].split(), sys.argv[3].split(), sys.argv[4].split()
    cfg = {}
    try:
        with open(os.path.join(run, "config.txt")) as f:
            cfg = dict(l.rstrip("\n").split("=", 1) for l in f if "=" in l)
    except OSError:
        pass
    print("# realbench: %s (commit %s)\n" % (cfg.get("tag", os.path.basename(run)), cfg.get("commit", "?")))
    print("extract args: `%s`, TailSampler args: `%s`, fit args: `%s`, tailedcore --tail-aug %s, ranks: %s\n" % (
        cfg.get("extract_args", ""), cfg.get("tail_args", ""), cfg.get("fit_args", ""),
        cfg.get("tail_aug", "?"), cfg.get("np", "?")))
    for p in protos:
        print("## %s\n" % p)
        tails = {s: read_tail(os.path.join(run, "%s-seed%s" % (p, s), "tailsample.log")) for s in seeds}
        done = [s for s in seeds if len(tails[s]) == len(MEASURES)]
        print("TailSampler (paper Table 5), seeds done: %s of %s\n" % (" ".join(done) or "none", " ".join(seeds)))
        print("| measure | mean | worst | " + " | ".join("seed %s" % s for s in seeds) + " |")
        print("| --- | --- | --- | " + " | ".join("---" for _ in seeds) + " |")
        for key, label, sign, scale in MEASURES:
            vals = [tails[s][key] for s in done]
            mean = sum(vals) / len(vals) if vals else None
            worst = (max(vals) if sign > 0 else min(vals)) if vals else None
            cells = [fmt(tails[s].get(key), scale) for s in seeds]
            print("| %s | %s | %s | %s |" % (label, fmt(mean, scale), fmt(worst, scale), " | ".join(cells)))
        print()
        print("End to end, AUROC % (mean over the seeds done; image / pixel)\n")
        print("| method | seeds | image tail | image head | image all | pixel tail | pixel head | pixel all |")
        print("| --- | --- | --- | --- | --- | --- | --- | --- |")
        for m in methods:
            evs = [read_eval(os.path.join(run, "%s-seed%s" % (p, s), "eval-%s.csv" % m)) for s in seeds]
            evs = [e for e in evs if e]
            cells = []
            for kind in ("image", "pixel"):
                for g in ("tail", "head", "all"):
                    vals = [e[(kind, g)] for e in evs if (kind, g) in e and e[(kind, g)] == e[(kind, g)]]
                    cells.append(fmt(sum(vals) / len(vals)) if vals else "-")
            print("| %s | %d | %s |" % (m, len(evs), " | ".join(cells)))
        print()
    times = os.path.join(run, "times.tsv")
    if os.path.exists(times):
        tot = {}
        with open(times) as f:
            for line in f:
                parts = line.rstrip("\n").split("\t")
                if len(parts) == 2:
                    tot[parts[0]] = float(parts[1])  # last run of a step wins
        print("Wall time of the steps run for this tag: %.0f s in all (per step in %s)\n" % (sum(tot.values()), times))
    return 0


if __name__ == "__main__":
    sys.exit(main())
