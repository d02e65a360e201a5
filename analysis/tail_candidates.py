#!/usr/bin/python3
"""tail_candidates.py - TailSampler candidates (embedding taps, poolings,
concatenations, centring/whitening, tail-cut rules) measured on labelled
long-tail sets, in one table (DECISIONS.md, "TailSampler on real
photographs"). Analysis only: the production rules are in C
(src/tailsampler.c); this script runs the NumPy reference of DESIGN 3.6
(tests/golden/tailsampler_ref.py) on embeddings written by
build/tests/tools/embed_taps.

    tail_candidates.py labels DATASET_ROOT > FILE.labels
        labels file (`path class is_noise is_tail_class`) of a tc-longtail
        set, from its dataset.json (train images only).
    tail_candidates.py table --set NAME:EMBDIR:LABELS [--set ...] [--cand SPEC ...]
        one row per candidate, the Table 5 measures per set, then mean and
        worst over the sets of each protocol (NAME = PROTOCOL/SEED).

A candidate SPEC is PARTS[|norm=none|center|whiten][|cut=cap|elbow|...]; PARTS
= TAP.POOL[+TAP.POOL...] (each part L2-normalised before concatenation,
unless the spec has `raw`).
"""
import argparse
import json
import math
import os
import sys
from collections import defaultdict

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
import tailsampler_ref as ref  # noqa: E402


def cmd_labels(root):
    info = json.load(open(os.path.join(root, "dataset.json")))
    noise = set()
    tail = {}
    for c in info["classes"]:
        tail[c["name"]] = int(bool(c["tail"]))
        for z in c["noise"]:
            noise.add(z["path"])
    for c in sorted(tail):
        d = os.path.join(root, c, "train", "good")
        for f in sorted(os.listdir(d)):
            p = "%s/train/good/%s" % (c, f)
            print(p, c, int(p in noise), tail[c])


def read_labels(path):
    rows = [l.split() for l in open(path) if l.strip() and not l.startswith("#")]
    return {r[0]: (r[1], int(r[2]), int(r[3])) for r in rows}


class Set:
    def __init__(self, spec):
        f = spec.split(":")
        self.name, self.emb, lab = f[:3]
        self.labels = read_labels(lab)
        names = [l.strip() for l in open(os.path.join(self.emb, "names.txt"))]
        idx = {n: i for i, n in enumerate(names)}
        # the embeddings may cover more images (a union of sets): take ours;
        # with ROOT:PREFIX a path is looked up as the file its link points to
        # (long-tail sets link into the pristine root the embeddings cover)
        self.paths = sorted(self.labels)
        if len(f) > 4:
            root, prefix = f[3], f[4]
            key = lambda p: os.path.realpath(os.path.join(root, p))[len(prefix):].lstrip("/")
        else:
            key = lambda p: p
        missing = [p for p in self.paths if key(p) not in idx]
        if missing:
            raise SystemExit("%s: no embedding for %s" % (self.name, missing[0]))
        self.rows = np.array([idx[key(p)] for p in self.paths])
        self.nall = len(names)
        cls = [self.labels[p][0] for p in self.paths]
        u = {c: i for i, c in enumerate(sorted(set(cls)))}
        self.cls = np.array([u[c] for c in cls])
        self.noise = np.array([self.labels[p][1] for p in self.paths], dtype=np.uint8)
        self.tailc = np.array([self.labels[p][2] for p in self.paths], dtype=np.uint8)
        self.cache = {}

    def part(self, tp):
        if tp not in self.cache:
            f = os.path.join(self.emb, tp + ".f32")
            a = np.fromfile(f, dtype=np.float32)
            self.cache[tp] = a.reshape(self.nall, -1)[self.rows].astype(np.float64)
        return self.cache[tp]


def l2n(X):
    n = np.linalg.norm(X, axis=1, keepdims=True)
    return X / np.where(n > 0, n, 1)


def embed(s, parts, norm, raw):
    X = np.concatenate([s.part(p) if raw else l2n(s.part(p)) for p in parts], axis=1)
    if norm == "center":
        X = l2n(X)
        X = X - X.mean(axis=0)
    elif norm.startswith("whiten"):
        # PCA whitening on the normalised, centred embeddings, k components
        # (whitenK) or those explaining 90% (whiten), eps on the variance
        X = l2n(X)
        X = X - X.mean(axis=0)
        U, sv, Vt = np.linalg.svd(X, full_matrices=False)
        var = sv ** 2 / X.shape[0]
        k = int(norm[6:]) if len(norm) > 6 else int(np.searchsorted(np.cumsum(var) / var.sum(), 0.9) + 1)
        k = min(k, len(var))
        X = (X @ Vt[:k].T) / np.sqrt(var[:k] + 1e-6 * var[0])
    return X.astype(np.float32)


def kmax_rule(eta, cut):
    k_elbow, k_cap, k_max = ref.kmax(list(eta))
    if cut == "cap":
        return k_max
    if cut == "elbow":
        return k_elbow
    if cut.startswith("gap"):
        # the class size after the largest relative drop between consecutive
        # cardinalities (descending eta); gapR: only when that ratio is >= R,
        # else the paper's rule
        e = np.array(eta, dtype=float)
        if len(e) < 2:
            return k_max
        r = e[:-1] / e[1:]
        t = int(np.argmax(r))
        lim = float(cut[3:]) if len(cut) > 3 else 0.0
        return int(e[t + 1]) if r[t] >= lim else k_max
    if cut == "otsu":
        # two groups of log class sizes with the least within-group variance
        # (one point per class); K_max = the largest size of the lower group
        e = np.sort(np.log(np.array(eta, dtype=float)))
        best, kb = None, k_max
        for t in range(1, len(e)):
            v = t * e[:t].var() + (len(e) - t) * e[t:].var()
            if best is None or v < best:
                best, kb = v, int(round(np.exp(e[t - 1])))
        return kb
    if cut.startswith("frac"):
        # the largest class size at most eta_0 / F
        F = float(cut[4:])
        c = [x for x in eta if x <= eta[0] / F]
        return max(c) if c else 0
    raise SystemExit("unknown cut " + cut)


def measure(s, cand):
    fields = cand.split("|")
    parts = fields[0].split("+")
    norm, cut, raw, p = "none", "cap", False, 0.85
    for f in fields[1:]:
        if f.startswith("norm="):
            norm = f[5:]
        elif f.startswith("cut="):
            cut = f[4:]
        elif f == "raw":
            raw = True
        elif f.startswith("p="):
            p = float(f[2:])
    X = embed(s, parts, norm, raw)
    r = ref.tailsampler(X, p)
    kappa = r["kappa"]
    eta = list(r["eta"])
    km = kmax_rule(eta, cut)
    is_tail = (kappa <= km).astype(np.uint8)
    d = ref.diagnostics(kappa, is_tail, s.cls, s.noise, s.tailc)
    return dict(miss=d["missing tail samples"], noise=d["included anomalies"],
                head=d["included head samples"], cse=d["class-size error (1/|C|)"],
                auc=d["AUROC(-kappa, tail)"], kmax=km, kelbow=r["k_elbow"], kcap=r["k_cap"],
                eta=eta)


def cmd_table(args):
    sets = [Set(x) for x in args.set]
    cands = args.cand
    bypro = defaultdict(list)
    for s in sets:
        bypro[s.name.split("/")[0]].append(s)
    hdr = "| candidate | protocol | missing tail (mean/worst) | noise in T | head in T | class-size err | AUROC(-kappa) | K_max per seed |"
    print(hdr)
    print("|" + " --- |" * 8)
    for c in cands:
        for pro, ss in sorted(bypro.items()):
            ms = [measure(s, c) for s in ss]
            if args.verbose:
                for s, m in zip(ss, ms):
                    print("#", c, s.name, "eta", m["eta"], "elbow", m["kelbow"], "cap", m["kcap"], file=sys.stderr)

            def mw(k, worst=max):
                v = [m[k] for m in ms]
                return "%.3f / %.3f" % (np.mean(v), worst(v))
            print("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                c.replace("|", " "), pro, mw("miss"), mw("noise"), mw("head"), mw("cse"), mw("auc", min),
                ",".join(str(m["kmax"]) for m in ms)))
        sys.stdout.flush()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    a = sub.add_parser("labels")
    a.add_argument("root")
    t = sub.add_parser("table")
    t.add_argument("--set", action="append", required=True)
    t.add_argument("--cand", action="append", required=True)
    t.add_argument("--verbose", action="store_true")
    args = ap.parse_args()
    if args.cmd == "labels":
        cmd_labels(args.root)
    else:
        cmd_table(args)


if __name__ == "__main__":
    main()
