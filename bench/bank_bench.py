#!/usr/bin/python3
"""Python peers of bench/bank_bench.c (not tests). Run by bench/bank_bench.sh:
    /usr/bin/python3 bench/bank_bench.py coreset N DIM STEPS   # PyTorch CPU greedy loop
    /usr/bin/python3 bench/bank_bench.py lof N HW DIM           # sklearn LOF per position
    /usr/bin/python3 bench/bank_bench.py lof-authors N HW DIM   # the authors' call, metric="l2"
    /usr/bin/python3 bench/bank_bench.py lof-l2check N NPOS DIM # metric="l2" vs default, same LOF?

lof-authors times what the TailedCore authors' code runs: one
LocalOutlierFactor(n_neighbors=6, metric="l2").fit per spatial position on
features[:, p, :] of a float32 (N, HW, DIM) array (their torch tensor after
.cpu().numpy()). scikit-learn 1.2 special-cases only "euclidean"/"sqeuclidean"
(minkowski p=2, the default) to its GEMM-based neighbour search; "l2" goes
through the generic per-pair distance loop, hence slower. lof-l2check shows the
result is the same Euclidean LOF: it prints the max relative difference of
-negative_outlier_factor_ between metric="l2" and the default on NPOS positions.
"""
import sys
import time

import numpy as np

mode = sys.argv[1]
if mode == "coreset":
    import torch
    torch.set_num_threads(1)
    n, dim, steps = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    X = torch.rand(n, dim)
    mind = torch.full((n,), float("inf"))
    idx = 0
    t0 = time.time()
    for _ in range(steps - 1):
        d = ((X - X[idx]) ** 2).sum(1)
        mind = torch.minimum(mind, d)
        idx = int(torch.argmax(mind))
    print("torch_coreset_step_ms %.3f" % ((time.time() - t0) / (steps - 1) * 1e3))
elif mode in ("lof", "lof-authors"):
    from sklearn.neighbors import LocalOutlierFactor
    N, HW, dim = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(0)
    # "lof": our call; "lof-authors": the authors' call (metric="l2") on their
    # layout, one (N, HW, dim) float32 array sliced per position
    authors = mode == "lof-authors"
    kw = dict(metric="l2") if authors else {}
    features = rng.random((N, HW, dim), dtype=np.float32) if authors else None
    t = 0.0
    for p in range(HW):
        X = features[:, p, :] if authors else rng.random((N, dim), dtype=np.float32)
        t0 = time.time()
        LocalOutlierFactor(n_neighbors=6, **kw).fit(X)
        t += time.time() - t0
    print("%s %.3f (N=%d, HW=%d, dim=%d)"
          % ("sklearn_authors_lof_seconds" if authors else "sklearn_lof_seconds", t, N, HW, dim))
elif mode == "lof-l2check":
    from sklearn.neighbors import LocalOutlierFactor
    N, npos, dim = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(1)
    features = rng.random((N, npos, dim), dtype=np.float32)
    worst = 0.0
    for p in range(npos):
        X = features[:, p, :]
        a = -LocalOutlierFactor(n_neighbors=6, metric="l2").fit(X).negative_outlier_factor_
        b = -LocalOutlierFactor(n_neighbors=6).fit(X).negative_outlier_factor_
        worst = max(worst, float(np.max(np.abs(a.astype(np.float64) - b) / np.abs(b))))
    print("sklearn_l2_vs_default_max_rel_diff %.3g (N=%d, positions=%d, dim=%d)" % (worst, N, npos, dim))
else:
    sys.exit("unknown mode %s" % mode)
