#!/usr/bin/python3
"""Python peers of bench/bank_bench.c (not tests). Run by bench/bank_bench.sh:
    /usr/bin/python3 bench/bank_bench.py coreset N DIM STEPS   # PyTorch CPU greedy loop
    /usr/bin/python3 bench/bank_bench.py lof N HW DIM           # sklearn LOF per position
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
elif mode == "lof":
    from sklearn.neighbors import LocalOutlierFactor
    N, HW, dim = int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
    rng = np.random.default_rng(0)
    t = 0.0
    for p in range(HW):
        X = rng.random((N, dim), dtype=np.float32)
        t0 = time.time()
        LocalOutlierFactor(n_neighbors=6).fit(X)
        t += time.time() - t0
    print("sklearn_lof_seconds %.3f (N=%d, HW=%d, dim=%d)" % (t, N, HW, dim))
