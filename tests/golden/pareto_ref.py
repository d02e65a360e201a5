#!/usr/bin/python3
"""Reference for the long-tail builder's pareto counts (DESIGN 4).

Regenerate (from the repository root, Debian's python3 with numpy + scipy):
    /usr/bin/python3 tests/golden/pareto_ref.py > tests/golden/pareto_ref.txt

Re-implements the two functions of the authors' make_tailed_noisy_mvtec.py
that fix the class sizes: get_discrete_pareto_pmf (scipy.stats.pareto cdf
differences on C+1 evenly spaced points between the 0.01 and 0.99
quantiles) and redistribute_num_class_samples (largest pmf -> that class
keeps all its images; others np.round(pmf * factor), half to even; capped
at what a class has; floored at 5). tests/unit/test_dataset.c reads the
output: pmf values to 1e-12 relative, counts exactly.
"""
import numpy as np
from scipy.stats import pareto


def pmf(alpha, C, eps=0.01):
    x = np.linspace(pareto.ppf(eps, alpha), pareto.ppf(1 - eps, alpha), C + 1)
    cdf = pareto.cdf(x, alpha)
    return (cdf - np.concatenate([[0], cdf])[:-1])[1:]


def counts(dist, have, floor=5):
    have = np.array(have)
    dist = np.array(dist)
    i = dist.argmax()
    factor = have[i] / dist[i]
    want = np.round(dist * factor).astype(int)
    return [int(max(min(h, w), floor)) for h, w in zip(have, want)]


MVTEC = [209, 224, 219, 280, 264, 391, 245, 220, 267, 320, 230, 60, 213, 247, 240]
rng = np.random.RandomState(7)
cases = [
    (15, 6.0, [60] * 15, list(range(15))),
    (15, 6.0, MVTEC, list(range(15))),
    (15, 6.0, MVTEC, list(rng.permutation(15))),
    (12, 6.0, [100] * 12, list(rng.permutation(12))),
    (16, 3.0, [80] * 16, list(range(16))),
    (10, 0.6, [300] * 10, list(range(10))),
    (5, 1.5, [40, 7, 100, 25, 60], list(rng.permutation(5))),
    (2, 6.0, [30, 30], [0, 1]),
]
print("# pareto class-count reference, made by tests/golden/pareto_ref.py (scipy %s)"
      % __import__("scipy").__version__)
for C, alpha, have, perm in cases:
    p = pmf(alpha, C)
    dist = [p[k] for k in perm]
    print("case %d %.17g" % (C, alpha))
    print("pmf " + " ".join("%.17g" % v for v in p))
    print("have " + " ".join(str(h) for h in have))
    print("perm " + " ".join(str(int(k)) for k in perm))
    print("counts " + " ".join(str(c) for c in counts(dist, have)))
