#!/usr/bin/python3
"""Golden fixtures for the memory bank (DESIGN 3.4, 3.5).

Regenerate (Debian python3 with numpy, h5py, torch, scikit-learn):
    /usr/bin/python3 tests/golden/make_bank_fixtures.py tests/golden/bank_fixtures.h5

Contents (read by tests/unit/test_lof.c, test_quantile.c, test_coreset.c):
  lof/<case>/X     float32 [n, d]   points of one "position"
  lof/<case>/lof   float32 [n]      -LocalOutlierFactor(n_neighbors=k).fit(X).negative_outlier_factor_
  lof/<case>/mask  uint8   [n]      1 = compare (0 only next to a group of > k identical
                                    points, where sklearn's float64 GEMM distances leave
                                    a k-distance of ~1e-6 instead of 0; see src/lof.h)
  attrs k
  quantile/<case>/x  float32 [n]    (case "gen": not stored; x_i = ((i * 7919) % n) / 1024)
  quantile/<case>/q  float64 [nq],  quantile/<case>/out float32 [nq] = torch.quantile(x, q)
  coreset/X float32 [n, d], coreset/idx int64 [m] (plain numpy greedy loop), attrs first, m
Root attributes: magic "tailedcore-bank-fixtures", version 1, sklearn/torch versions.
"""
import sys

import h5py
import numpy as np
import sklearn
import torch
from sklearn.neighbors import LocalOutlierFactor


def lof_case(g, name, X, k=6, mask=None, algorithm="auto"):
    X = np.ascontiguousarray(X, dtype=np.float32)
    est = LocalOutlierFactor(n_neighbors=k, algorithm=algorithm).fit(X)
    s = g.create_group(name)
    s["X"] = X
    s["lof"] = (-est.negative_outlier_factor_).astype(np.float32)
    s["mask"] = np.ones(len(X), np.uint8) if mask is None else mask.astype(np.uint8)
    s.attrs["k"] = k


def main(path):
    rng = np.random.default_rng(20250505)
    f = h5py.File(path, "w")
    f.attrs["magic"] = "tailedcore-bank-fixtures"
    f.attrs["version"] = 1
    f.attrs["sklearn"] = sklearn.__version__
    f.attrs["torch"] = str(torch.__version__)
    g = f.create_group("lof")
    lof_case(g, "random_small", rng.normal(size=(50, 8)))
    lof_case(g, "random_128", rng.normal(size=(120, 128)) * 2.0 + 0.5)
    # few points: k_eff = n - 1
    lof_case(g, "tiny", rng.normal(size=(5, 4)))
    # an outlier cluster and a far point
    X = rng.normal(size=(80, 16)); X[:5] += 6.0; X[7] *= 10.0
    lof_case(g, "outliers", X)
    # duplicates: pairs and triples (<= k copies) among random points
    X = rng.normal(size=(60, 16)).astype(np.float32)
    X[10] = X[3]; X[11] = X[3]; X[20] = X[7]; X[40] = X[41]; X[50:55] = X[2]
    lof_case(g, "duplicates", X)
    # integer grid: many exact distance ties among distinct points. sklearn's
    # "auto" takes the brute-force path (exact float64 ties, lowest index wins)
    # only above 15 dimensions; below, a KD-tree whose tie order depends on the
    # tree. Our projection is 128-d, so ties are pinned on the brute path.
    X = rng.integers(0, 3, size=(70, 16)).astype(np.float32)
    lof_case(g, "grid_ties", X)
    X = np.array([[x, y] for x in range(6) for y in range(6)], np.float32)
    lof_case(g, "lattice", X, algorithm="brute")
    # a group of 9 identical points (> k): compare the group and points that
    # do not have a group member among their neighbours
    X = rng.normal(size=(60, 16)).astype(np.float32)
    X[30:39] = X[5]
    est = LocalOutlierFactor(n_neighbors=6).fit(X)
    grp = set([5] + list(range(30, 39)))
    nb = est.kneighbors()[1]
    mask = np.array([i in grp or not (set(nb[i]) & grp) for i in range(len(X))])
    lof_case(g, "big_group", X, mask=mask)
    lof_case(g, "k3", rng.normal(size=(40, 8)), k=3)

    g = f.create_group("quantile")
    def qcase(name, x, qs, store=True):
        s = g.create_group(name)
        x = np.asarray(x, np.float32)
        if store:
            s["x"] = x
        s["q"] = np.asarray(qs, np.float64)
        t = torch.from_numpy(x)
        s["out"] = np.array([torch.quantile(t, torch.tensor(q, dtype=torch.float32)).item()
                             for q in qs], np.float32)
        s.attrs["n"] = len(x)
    qs = [0.0, 0.1, 0.25, 0.5, 0.85, 0.9, 0.99, 1.0, 1 / 3]
    qcase("one", [3.5], qs)
    qcase("two", [1.0, -2.0], qs)
    qcase("seven", rng.normal(size=7), qs)
    qcase("ties", rng.integers(0, 5, size=101), qs)
    qcase("lof_like", 1.0 + np.abs(rng.standard_cauchy(size=5000)) * 0.1, qs)
    for n in (313600, 1000003):
        x = (((np.arange(n, dtype=np.int64) * 7919) % n) / 1024.0).astype(np.float32)
        qcase("gen%d" % n, x, qs, store=False)

    # a plain greedy coreset, written as the DESIGN 3.5 loop
    n, d, m, first = 600, 16, 60, 17
    X = rng.normal(size=(n, d)).astype(np.float32)
    mind = np.full(n, np.inf, np.float32)
    idx = [first]
    for _ in range(m - 1):
        diff = X - X[idx[-1]]
        mind = np.minimum(mind, (diff * diff).sum(axis=1, dtype=np.float32))
        idx.append(int(np.argmax(mind)))
    g = f.create_group("coreset")
    g["X"] = X
    g["idx"] = np.array(idx, np.int64)
    g.attrs["first"] = first
    g.attrs["m"] = m
    f.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/bank_fixtures.h5")
