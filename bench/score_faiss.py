#!/usr/bin/python3
"""Peer for bench/score_bench.sh: faiss IndexFlatL2 (k = 1) query patches per
second on the same synthetic problem as tests/tools/score_bench.c (bank
uniform in [0, 1), queries = bank rows + small noise), same query blocking
(784 patches = one image per search call), same thread count.
Not a test. Debian: apt-get install python3-faiss (./deps.sh bench).

    /usr/bin/python3 bench/score_faiss.py M D Q [REPS] [THREADS]
prints: "faiss M=.. D=.. Q=.. best_s=.. qps=.."
"""
import sys
import time

import numpy as np

try:
    import faiss
except ImportError:
    sys.exit("score_faiss.py: faiss is missing (Debian: ./deps.sh bench installs python3-faiss)")


def main():
    M, D, Q = (int(x) for x in sys.argv[1:4])
    reps = int(sys.argv[4]) if len(sys.argv) > 4 else 3
    threads = int(sys.argv[5]) if len(sys.argv) > 5 else 1
    faiss.omp_set_num_threads(threads)
    rng = np.random.default_rng(0)
    B = rng.random((M, D), dtype=np.float32)
    rows = rng.integers(0, M, Q)
    X = (B[rows] + 0.05 * (rng.random((Q, D), dtype=np.float32) - 0.5)).astype(np.float32)
    index = faiss.IndexFlatL2(D)
    index.add(B)  # norms computed here, outside the timing (as ours)
    best = float("inf")
    for _ in range(reps):
        t0 = time.perf_counter()
        for q0 in range(0, Q, 784):
            index.search(X[q0:q0 + 784], 1)
        best = min(best, time.perf_counter() - t0)
    print("faiss M=%d D=%d Q=%d best_s=%.4f qps=%.1f threads=%d" % (M, D, Q, best, Q / best, threads))


if __name__ == "__main__":
    main()
