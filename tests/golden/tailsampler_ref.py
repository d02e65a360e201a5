#!/usr/bin/python3
"""tailsampler_ref.py - a straightforward NumPy implementation of DESIGN 3.6
steps 1-7 (TailSampler), used to make the golden fixtures that
tests/unit/test_tailsampler.c compares with EXACTLY, and (imported by
bench/tailsample_numpy.py) as the NumPy baseline of the benchmark.

Regenerate the fixtures (from the repository root):
    /usr/bin/python3 tests/golden/tailsampler_ref.py tests/golden

Each fixture tests/golden/tailsampler_<case>.h5 is a tailedcore "features"
file (root attributes tc_kind, tc_format_version) with
    /embeddings          float32 [N, E]   synthetic clustered embeddings
    /paths               strings [N]
    /labels/class        int64 [N]        true class (evaluation only)
    /labels/is_noise     uint8 [N]        perturbed head sample ("defect")
    /labels/is_tail_class uint8 [N]
    /expected/th, count, class_size, is_tail [N], eta [K], k [3] = (K_elbow, K_cap, K_max)
and attributes magic = "tailsampler-golden", version = 1.

Rules shared with src/tailsampler.c (see its header): the embeddings are
normalised and rounded to multiples of 2^-11 so every dot product is exact
in float32 whatever the summation order; S_ij = float32(D_ij * (r_i r_j))
with r = 1/||a||, S_ii = 1; th_half = float32(sqrt((1 + m) / 2)), which
equals cos(arccos(m) / 2) and is correctly rounded on every platform.
"""
import math
import sys

import numpy as np

SCALE = 2048.0


def quantise(X):
    X = np.asarray(X, dtype=np.float32).astype(np.float64)
    n, E = X.shape
    A = np.zeros((n, E), dtype=np.int64)
    r = np.zeros(n, dtype=np.float64)
    for i in range(n):
        x = X[i]
        ss = np.cumsum(x * x)[-1]  # sequential, as the C loop
        inv = 1.0 / math.sqrt(ss) if ss > 0 else 0.0
        a = np.clip(np.rint((x * inv) * SCALE), -SCALE, SCALE).astype(np.int64)
        A[i] = a
        isum = int(np.dot(a, a))
        r[i] = 1.0 / math.sqrt(isum / (SCALE * SCALE)) if isum > 0 else 0.0
    return A, r


def cosine(X):
    """Step 1: S [N x N] float32, exactly as the C code computes it."""
    A, r = quantise(X)
    Af = A.astype(np.float64)
    D = Af @ Af.T  # integers below 2^23 each: exact in float64
    S = ((D / (SCALE * SCALE)) * (r[:, None] * r[None, :])).astype(np.float32)
    np.fill_diagonal(S, np.float32(1.0))
    return S


def threshold_row(s, p):
    """Step 2 on one row: the trim_min threshold (float32 throughout)."""
    N = s.shape[0]
    Nf = np.float32(N)
    q = np.trunc(Nf * s) / Nf  # trunc toward zero, float32
    q = np.sort(q)
    m = q[0]
    th_half = np.float32(math.sqrt(max((1.0 + float(m)) / 2.0, 0.0)))
    H = q[q > th_half]
    L = len(H)
    if L == 0:
        return th_half
    f = int(math.floor(L * p))
    return H[L - f] if f > 0 else H[0]  # the reference's H[-f]: f = 0 is H[0]


def cardinalities(kappa):
    """Step 5."""
    v = np.sort(np.maximum(np.asarray(kappa, dtype=np.int64), 1))
    n = len(v)
    eta = []
    pos = 0
    while pos < n:
        g = int(v[pos])
        remaining = n - pos
        if remaining < g:
            if eta:
                eta[-1] += remaining
            else:
                eta.append(remaining)
            break
        e = int(np.round(np.sum(v[pos:pos + g]) / g))  # half to even
        e = max(1, min(e, remaining))
        eta.append(e)
        pos += e
    return sorted(eta, reverse=True)


def kmax(eta):
    """Step 6: (K_elbow, K_cap, K_max)."""
    L = len(eta)
    dx, dy = L - 1, eta[-1] - eta[0]
    nums = [abs(dy * t - dx * (eta[t] - eta[0])) for t in range(L)]
    k_elbow = eta[int(np.argmax(nums))]  # first on ties
    n15 = math.floor(0.15 * sum(eta))
    k = 0
    cum = 0
    for e in reversed(eta):
        cum += e
        if cum > n15:
            break
        k += 1
    k_cap = eta[min(L - k, L - 1)]
    return k_elbow, k_cap, min(k_elbow, k_cap)


def tailsampler(X, p=0.85, S=None):
    """Steps 1-7. Returns a dict of every intermediate."""
    if S is None:
        S = cosine(X)
    N = S.shape[0]
    th = np.array([threshold_row(S[i], p) for i in range(N)], dtype=np.float32)
    sees = S >= th[:, None]  # sees[i, j]: i sees j
    count = sees.sum(axis=1).astype(np.int64)
    kappa = np.zeros(N, dtype=np.int64)
    for j in range(N):
        votes = count[sees[:, j]]
        kappa[j] = int(np.argmax(np.bincount(votes)))  # first max = smallest value
    eta = cardinalities(kappa)
    k_elbow, k_cap, k_max = kmax(eta)
    return dict(th=th, count=count, kappa=kappa, eta=np.array(eta, dtype=np.int64),
                k_elbow=k_elbow, k_cap=k_cap, k_max=k_max, is_tail=(kappa <= k_max).astype(np.uint8))


def diagnostics(kappa, is_tail, cls, is_noise, is_tail_class):
    """The paper's Table 5 measures, as src/tailsampler.c defines them."""
    from collections import Counter
    size = Counter(cls.tolist())
    csize = np.array([size[c] for c in cls], dtype=np.float64)
    clean = is_noise == 0
    tailc = (is_tail_class == 1) & clean
    headc = (is_tail_class == 0) & clean
    out = {
        "missing tail samples": float(np.mean(is_tail[tailc] == 0)) if tailc.any() else float("nan"),
        "included anomalies": float(np.mean(is_tail[is_noise == 1] == 1)) if (is_noise == 1).any() else float("nan"),
        "included head samples": float(np.mean(is_tail[headc] == 1)) if headc.any() else float("nan"),
        "class-size error (1/|C|)": float(np.sum(np.abs(kappa - csize) / csize) / np.sum(1.0 / csize)),
    }
    try:
        from sklearn.metrics import roc_auc_score
        out["AUROC(-kappa, tail)"] = float(roc_auc_score(is_tail_class, -kappa))
    except ImportError:
        out["AUROC(-kappa, tail)"] = float("nan")
    return out


def synthetic(sizes, n_head, E, seed, noise_ratio=0.10, sigma=0.4, defect=0.8):
    """Clustered embeddings: one N(0,1) centre per class, samples centre +
    N(0, sigma^2); noise = head-class samples pushed off by N(0, defect^2)
    until they are noise_ratio of the training set."""
    rng = np.random.default_rng(seed)
    C = len(sizes)
    centres = rng.standard_normal((C, E))
    X, cls, noise, tailc, paths = [], [], [], [], []
    for c, n in enumerate(sizes):
        for t in range(n):
            X.append(centres[c] + sigma * rng.standard_normal(E))
            cls.append(c); noise.append(0); tailc.append(int(c >= n_head))
            paths.append("class%02d/train/good/%03d.png" % (c, t))
    n_clean = len(X)
    n_noise = int(round(noise_ratio * n_clean / (1.0 - noise_ratio)))
    for t in range(n_noise):
        c = int(rng.integers(0, n_head))
        X.append(centres[c] + sigma * rng.standard_normal(E) + defect * rng.standard_normal(E))
        cls.append(c); noise.append(1); tailc.append(0)
        paths.append("class%02d/test/defect/%03d.png" % (c, t))
    order = rng.permutation(len(X))  # classes interleaved, as a real file list
    X = np.array(X, dtype=np.float32)[order]
    take = lambda a, dt: np.array(a, dtype=dt)[order]
    return X, take(cls, np.int64), take(noise, np.uint8), take(tailc, np.uint8), [paths[i] for i in order]


def pareto_sizes(C, alpha=6.0, largest=240, floor=5):
    """DESIGN 4's pareto profile: cdf differences of scipy's pareto(alpha) on
    C+1 evenly spaced points between its 0.01 and 0.99 quantiles, scaled so
    the largest class has `largest` images, floored at `floor`."""
    from scipy.stats import pareto
    x = np.linspace(pareto.ppf(0.01, alpha), pareto.ppf(0.99, alpha), C + 1)
    pmf = np.diff(pareto.cdf(x, alpha))
    sizes = np.maximum(np.round(pmf / pmf.max() * largest).astype(int), floor)
    return sizes.tolist()


CASES = {
    # 15 classes as MVTec AD; 40% head classes keep 25 images, the others K
    "step_k1": ([25] * 6 + [1] * 9, 6),
    "step_k4": ([25] * 6 + [4] * 9, 6),
}


def write_fixture(path, X, cls, noise, tailc, paths, res):
    import h5py
    with h5py.File(path, "w") as f:
        f.attrs["tc_kind"] = np.bytes_("features")
        f.attrs["tc_format_version"] = np.int64(1)
        f.attrs["magic"] = np.bytes_("tailsampler-golden")
        f.attrs["version"] = np.int64(1)
        f.attrs["E"] = np.int64(X.shape[1])
        f.create_dataset("embeddings", data=X.astype(np.float32))
        w = max(len(p) for p in paths)
        f.create_dataset("paths", data=np.array([p.encode() for p in paths], dtype="S%d" % w))
        f.create_dataset("labels/class", data=cls)
        f.create_dataset("labels/is_noise", data=noise)
        f.create_dataset("labels/is_tail_class", data=tailc)
        f.create_dataset("expected/th", data=res["th"])
        f.create_dataset("expected/count", data=res["count"])
        f.create_dataset("expected/class_size", data=res["kappa"])
        f.create_dataset("expected/is_tail", data=res["is_tail"])
        f.create_dataset("expected/eta", data=res["eta"])
        f.create_dataset("expected/k", data=np.array([res["k_elbow"], res["k_cap"], res["k_max"]], dtype=np.int64))
    with open(path[:-3] + ".labels", "w") as f:
        f.write("# path class is_noise is_tail_class  (made by tailsampler_ref.py)\n")
        for p, c, n, t in zip(paths, cls, noise, tailc):
            f.write("%s class%02d %d %d\n" % (p, c, n, t))


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    E = 48
    cases = dict(CASES)
    psizes = pareto_sizes(15)
    cases["pareto"] = (sorted(psizes, reverse=True), sum(1 for s in psizes if s >= 20))
    for k, (name, (sizes, n_head)) in enumerate(sorted(cases.items())):
        if name == "pareto":
            # pareto: head classes are those with >= 20 images (DESIGN 4)
            tail_flags = [int(s < 20) for s in sizes]
            sizes = sorted(sizes, reverse=True)
            n_head = sum(1 for s in sizes if s >= 20)
        X, cls, noise, tailc, paths = synthetic(sizes, n_head, E, seed=100 + k)
        res = tailsampler(X, 0.85)
        path = "%s/tailsampler_%s.h5" % (outdir, name)
        write_fixture(path, X, cls, noise, tailc, paths, res)
        d = diagnostics(res["kappa"], res["is_tail"], cls, noise, tailc)
        found = bool(np.all(res["is_tail"][(tailc == 1) & (noise == 0)] == 1))
        print("%s: N = %d, E = %d, class sizes %s" % (name, len(X), E, sizes))
        print("  K_elbow = %d, K_cap = %d, K_max = %d, %d tail images predicted, eta = %s"
              % (res["k_elbow"], res["k_cap"], res["k_max"], int(res["is_tail"].sum()), res["eta"].tolist()))
        print("  all tail images found: %s" % found)
        for key, v in d.items():
            print("  %-26s %.4f" % (key, v))


if __name__ == "__main__":
    main()
