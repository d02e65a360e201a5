#!/usr/bin/python3
"""Golden fixtures for scoring and metrics (DESIGN 3.7).

Regenerate (Debian python3 with numpy, h5py, torch, scikit-learn, scipy):
    /usr/bin/python3 tests/golden/make_score_fixtures.py tests/golden/score_fixtures.h5

Contents (read by tests/unit/test_score.c and tests/unit/test_metrics.c):
  auroc/<case>/score float32 [n], auroc/<case>/label uint8 [n],
  auroc/<case>/auc   float64 []     sklearn.metrics.roc_auc_score(label, score)
  upsample/<case>/in  float32 [ih, iw]
  upsample/<case>/out float32 [oh, ow]  F.interpolate(in[None, None], (oh, ow), mode="bilinear",
                                        align_corners=False)
      case "full" (28x28 -> 224x224) stores only rows 0, 7, 14, ... (out [32, 224])
      with attribute row_step = 7 to keep the file small.
  gauss/<case>/in  float32 [h, w]
  gauss/<case>/out float32 [h, w]        scipy.ndimage.gaussian_filter(in, sigma=4) (truncate 4,
                                        mode reflect, float32 output as scipy gives)
  amap/full/in  float32 [28, 28]
  amap/full/out float32 [32, 224]        rows 0, 7, ... of gaussian_filter(interpolate(in, 224), 4):
                                        the whole DESIGN 3.7 anomaly map
  nn/Q float32 [q, d], nn/bank float32 [m, d],
  nn/dist float64 [q]  brute-force min_j sum((Q_i - bank_j)^2) in float64,
  nn/index int64 [q]   its argmin (lowest index on ties; bank rows 7 and 150 are
                       duplicates and query 3 equals bank row 150).
Root attributes: magic "tailedcore-score-fixtures", version 1, library versions.
"""
import sys

import h5py
import numpy as np
import scipy
import scipy.ndimage
import sklearn
import torch
import torch.nn.functional as F
from sklearn.metrics import roc_auc_score


def auroc_case(g, name, score, label):
    score = np.asarray(score, dtype=np.float32)
    label = np.asarray(label, dtype=np.uint8)
    s = g.create_group(name)
    s["score"] = score
    s["label"] = label
    s["auc"] = np.float64(roc_auc_score(label, score))


def upsample(x, oh, ow):
    t = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))[None, None]
    return F.interpolate(t, size=(oh, ow), mode="bilinear", align_corners=False)[0, 0].numpy()


def main(path):
    rng = np.random.default_rng(20250707)
    f = h5py.File(path, "w")
    f.attrs["magic"] = "tailedcore-score-fixtures"
    f.attrs["version"] = 1
    f.attrs["sklearn"] = sklearn.__version__
    f.attrs["scipy"] = scipy.__version__
    f.attrs["torch"] = str(torch.__version__)

    g = f.create_group("auroc")
    auroc_case(g, "hand", [0.1, 0.4, 0.35, 0.8], [0, 0, 1, 1])               # 0.75
    auroc_case(g, "ties", [1, 1, 2, 2, 2, 3, 0, 1], [0, 1, 0, 1, 1, 1, 0, 0])
    auroc_case(g, "all_tied", [5, 5, 5, 5, 5], [0, 1, 0, 1, 1])              # 0.5
    auroc_case(g, "perfect", [0.1, 0.2, 0.9, 1.0], [0, 0, 1, 1])
    auroc_case(g, "inverted", [0.9, 1.0, 0.1, 0.2], [0, 0, 1, 1])
    auroc_case(g, "signed_zero", [-0.0, 0.0, 0.0, -1.0, 1.0, -0.0], [1, 0, 1, 0, 1, 0])
    n = 3000
    lab = (rng.random(n) < 0.3).astype(np.uint8)
    sc = rng.normal(size=n) + lab * 0.8
    auroc_case(g, "random", sc, lab)
    # heavy ties: scores quantised to 0.1 (pixel maps have many equal values)
    n = 12000
    lab = (rng.random(n) < 0.05).astype(np.uint8)
    sc = np.round(rng.normal(size=n) + lab * 1.5, 1)
    auroc_case(g, "quantised", sc, lab)
    # negative scores and large magnitudes
    n = 3000
    lab = (rng.random(n) < 0.5).astype(np.uint8)
    sc = (rng.normal(size=n) * 1e4 - 3e4) * (1 + 0.1 * lab)
    auroc_case(g, "negative", sc, lab)

    g = f.create_group("upsample")
    for name, (ih, iw, oh, ow) in {"square": (7, 7, 56, 56), "odd": (5, 3, 17, 11),
                                   "down": (9, 9, 4, 6), "same": (6, 6, 6, 6)}.items():
        x = rng.normal(size=(ih, iw)).astype(np.float32)
        s = g.create_group(name)
        s["in"] = x
        s["out"] = upsample(x, oh, ow)
    x = (rng.random((28, 28)) * 3.0).astype(np.float32)
    s = g.create_group("full")
    s["in"] = x
    s["out"] = upsample(x, 224, 224)[::7]
    s.attrs["row_step"] = 7

    g = f.create_group("gauss")
    for name, (h, w) in {"medium": (40, 36), "small": (10, 12), "tiny": (3, 1)}.items():
        x = rng.normal(size=(h, w)).astype(np.float32)
        s = g.create_group(name)
        s["in"] = x
        s["out"] = scipy.ndimage.gaussian_filter(x, sigma=4)

    g = f.create_group("amap")
    x = (rng.random((28, 28)) ** 3 * 10.0).astype(np.float32)
    s = g.create_group("full")
    s["in"] = x
    s["out"] = scipy.ndimage.gaussian_filter(upsample(x, 224, 224), sigma=4)[::7]
    s.attrs["row_step"] = 7

    q, m, d = 40, 200, 48
    Q = rng.normal(size=(q, d)).astype(np.float32)
    B = (rng.normal(size=(m, d)) * 1.2 + 0.3).astype(np.float32)
    B[150] = B[7]
    Q[3] = B[150]
    Q[5] = B[7] + np.float32(1e-3)
    D2 = ((Q.astype(np.float64)[:, None, :] - B.astype(np.float64)[None, :, :]) ** 2).sum(-1)
    g = f.create_group("nn")
    g["Q"] = Q
    g["bank"] = B
    g["dist"] = D2.min(1)
    g["index"] = D2.argmin(1).astype(np.int64)  # argmin: first (lowest) index on ties
    f.close()


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "tests/golden/score_fixtures.h5")
