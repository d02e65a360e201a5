#!/usr/bin/python3
"""tailsample_numpy.py - the NumPy baseline of bench/tailsample_bench.sh (a
benchmark, not a test): DESIGN 3.6 steps 1-7 as tests/golden/tailsampler_ref.py
writes them (float32 Gram with one matmul, a sort per row, a bincount per
column), timed on the embeddings of a features file.
    /usr/bin/python3 bench/tailsample_numpy.py features.h5
Prints one line: N, E, seconds, peak RSS (MiB), K_max, tail count."""
import os
import resource
import sys
import time

import h5py
import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
import tailsampler_ref as ref  # noqa: E402

X = h5py.File(sys.argv[1], "r")["embeddings"][()]
t0 = time.time()
Xn = X / np.linalg.norm(X, axis=1, keepdims=True)
S = (Xn @ Xn.T).astype(np.float32)
np.fill_diagonal(S, np.float32(1.0))
res = ref.tailsampler(None, 0.85, S=S)
dt = time.time() - t0
rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
print("numpy N=%d E=%d seconds=%.3f peak_MiB=%.1f k_max=%d n_tail=%d"
      % (X.shape[0], X.shape[1], dt, rss, res["k_max"], int(res["is_tail"].sum())))
