#!/usr/bin/python3
"""tailsample_authors.py - the "authors-style" peer of bench/tailsample_bench.sh
(a benchmark, not a test): DESIGN 3.6 steps 1-7 structured the way the
TailedCore paper's own Python code is, i.e. what a user would otherwise run:
  1. Gram in torch, float32: F.normalize(X, dim=-1), torch.matmul(X, X.t())
     on --threads threads (torch.set_num_threads); S_ii = 1 (DESIGN 3.6 step 1);
  2. the trim_min threshold (p = 0.85), one joblib task per row
     (joblib.Parallel(n_jobs=threads), default loky backend), each task
     quantising its row and sorting it with np.sort; the rule is the one of
     tests/golden/tailsampler_ref.py (float32 throughout);
  3. mask = S >= th[:, None]; count = mask.sum(1);
  4. count_map = mask * count[:, None]; kappa = scipy.stats.mode of
     np.where(count_map == 0, nan, count_map) along axis 0, nan_policy="omit"
     (scipy 1.10: masked arrays + mstats find_repeats; the smallest value wins a
     tie, as DESIGN 3.6 step 4 says);
  5-7. cardinalities, K_max, tail flags: tests/golden/tailsampler_ref.py.
Written from that description for this benchmark; no third-party code copied.

    /usr/bin/python3 bench/tailsample_authors.py [--threads NP] [--check] features.h5

Timed from the embeddings in memory (the file read is not timed, as in
bench/tailsample_numpy.py); the time includes starting the joblib workers.
Prints one line: N, E, seconds, peak RSS of the main process (MiB; the joblib
workers are separate processes), K_max, tail count.
--check then verifies, exiting 1 on a mismatch, that
  (a) th, count, kappa, eta, K_elbow, K_cap, K_max and the tail flags equal
      those of tests/golden/tailsampler_ref.py's tailsampler() on the same
      (torch) S;
  (b) the NumPy peer's S (bench/tailsample_numpy.py) through steps 2-7 here
      gives exactly the NumPy peer's results (every intermediate);
  (c) end to end on the same file, K_max, the tail count and the tail flags
      equal the NumPy peer's. The per-image class sizes may differ (printed,
      not a failure): F.normalize and np.linalg.norm round differently in
      float32 (the matmuls agree bit for bit), so a threshold or an entry of S
      can cross a quantisation step, a few counts change, and a mode over the
      counts of a large class can move by a few; (b) shows steps 2-7 agree.
"""
import argparse
import math
import os
import resource
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F
from joblib import Parallel, delayed
from scipy import stats

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
import tailsampler_ref as ref  # noqa: E402

P = 0.85


def row_threshold(s, p):
    """DESIGN 3.6 step 2 on one row s (float32): the trim_min threshold."""
    n = np.float32(s.shape[0])
    q = np.sort(np.trunc(n * s) / n)  # quantise toward zero (float32), sort ascending
    th_half = np.float32(math.sqrt(max((1.0 + float(q[0])) / 2.0, 0.0)))  # cos(arccos(m) / 2), correctly rounded
    h = q[q > th_half]
    if len(h) == 0:
        return th_half
    f = int(math.floor(len(h) * p))
    return h[len(h) - f] if f > 0 else h[0]  # H[len - floor(len p)]; H[0] when that floor is 0


def gram(X, threads):
    """Step 1 in torch, float32."""
    torch.set_num_threads(threads)
    Xt = F.normalize(torch.from_numpy(X), dim=-1)
    S = torch.matmul(Xt, Xt.t())
    S.fill_diagonal_(1.0)
    return S.numpy()


def steps_2_to_7(S, threads, p=P):
    N = S.shape[0]
    # 2. one joblib task per row
    th = Parallel(n_jobs=threads)(delayed(row_threshold)(S[i], p) for i in range(N))
    th = np.array(th, dtype=np.float32)
    # 3. neighbourhoods
    mask = S >= th[:, None]
    count = mask.sum(1)
    # 4. vote: the mode of the counts of those who see j, per column j
    count_map = mask * count[:, None]
    m = stats.mode(np.where(count_map == 0, np.nan, count_map), axis=0, nan_policy="omit", keepdims=False)
    kappa = np.asarray(m.mode, dtype=np.float64).ravel().astype(np.int64)
    # 5-7.
    eta = ref.cardinalities(kappa)
    k_elbow, k_cap, k_max = ref.kmax(eta)
    is_tail = (kappa <= k_max).astype(np.uint8)
    return dict(th=th, count=count.astype(np.int64), kappa=kappa, eta=np.array(eta, dtype=np.int64),
                   k_elbow=k_elbow, k_cap=k_cap, k_max=k_max, is_tail=is_tail)


def numpy_S(X):
    """The Gram of bench/tailsample_numpy.py."""
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    S = (Xn @ Xn.T).astype(np.float32)
    np.fill_diagonal(S, np.float32(1.0))
    return S


def compare(name, a, b, keys):
    bad = []
    for k in keys:
        x, y = np.asarray(a[k]), np.asarray(b[k])
        if x.shape != y.shape or not np.array_equal(x, y):
            n = int(np.sum(x != y)) if x.shape == y.shape else -1
            bad.append("%s (%s)" % (k, "%d differ" % n if n >= 0 else "shape %s vs %s" % (x.shape, y.shape)))
    print("check %s: %s" % (name, "equal (%s)" % ", ".join(keys) if not bad else "MISMATCH: " + "; ".join(bad)))
    return not bad


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("features")
    ap.add_argument("--threads", type=int,
                    default=int(os.environ.get("OMP_NUM_THREADS", "0") or 0) or os.cpu_count())
    ap.add_argument("--check", action="store_true",
                    help="compare with tailsampler_ref.py on the same S and with the NumPy peer; exit 1 on a mismatch")
    a = ap.parse_args()
    import h5py
    X = np.ascontiguousarray(h5py.File(a.features, "r")["embeddings"][()], dtype=np.float32)
    t0 = time.time()
    S = gram(X, a.threads)
    res = steps_2_to_7(S, a.threads)
    dt = time.time() - t0
    rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    print("authors N=%d E=%d seconds=%.3f peak_MiB=%.1f k_max=%d n_tail=%d"
          % (X.shape[0], X.shape[1], dt, rss, res["k_max"], int(res["is_tail"].sum())), flush=True)
    if not a.check:
        return 0
    keys = ["th", "count", "kappa", "eta", "k_elbow", "k_cap", "k_max", "is_tail"]
    # (a) the same S: every intermediate equal to the reference
    ok = compare("(a) authors vs tailsampler_ref.py on the same torch S", res, ref.tailsampler(None, P, S=S), keys)
    # (b) the NumPy peer's S through the authors' steps 2-7: equal to the NumPy peer
    Sn = numpy_S(X)
    rn = ref.tailsampler(None, P, S=Sn)
    ok = compare("(b) authors steps 2-7 vs bench/tailsample_numpy.py on the NumPy S", steps_2_to_7(Sn, a.threads), rn, keys) and ok
    # (c) end to end on the same file: K_max, tail count and tail flags equal;
    # the Grams differ by the rounding of the normalisation (F.normalize and
    # np.linalg.norm sum the squares in different orders; the matmuls agree),
    # which can move a few per-image class sizes on either side of a
    # quantisation step or a threshold
    Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
    nd = int(np.sum(F.normalize(torch.from_numpy(X), dim=-1).numpy() != Xn))
    d = np.abs(Sn.astype(np.float64) - S)
    print("torch vs NumPy Gram: normalised X differ in %d of %d entries; S max |diff| %.3g, %d of %d entries differ"
          % (nd, Xn.size, d.max(), int(np.sum(d > 0)), d.size))
    del d
    print("numpy peer: k_max=%d n_tail=%d" % (rn["k_max"], int(rn["is_tail"].sum())))
    ok = compare("(c) authors vs bench/tailsample_numpy.py end to end", res, rn, ["k_max", "is_tail"]) and ok
    dk = res["kappa"] != rn["kappa"]
    print("(c) per-image class sizes: %d of %d differ (max |diff| %d), eta %s"
          % (int(dk.sum()), dk.size, int(np.abs(res["kappa"] - rn["kappa"]).max()),
             "equal" if np.array_equal(res["eta"], rn["eta"]) else "differs"))
    print("check: %s" % ("PASS" if ok else "FAIL"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
