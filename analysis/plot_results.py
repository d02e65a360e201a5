#!/usr/bin/python3
"""Figures of a TailedCore run (Debian python3 with numpy, h5py, matplotlib;
PIL for TIFF test images in the overlays).

    /usr/bin/python3 analysis/plot_results.py --out-dir plots \
        --csv results.csv                       # from `tailedcore eval --csv` (with --compare)
        --scores scores_tailedcore.h5 --data ROOT [--n-overlays 6]
        --tail tail.h5 | --tail model.h5        # TailSampler elbow plot

Writes, for every input given (missing pieces are skipped with a note):
  results.png         AUROC per method: tail / head / all bars, image and pixel
  tail_vs_noise.png   tail AUROC vs noisy-head AUROC, one point per method (the
                      paper's Figure 1: up and right is better on both)
  overlays.png        a few anomalous test images: crop, ground-truth contour,
                      anomaly map overlaid, image score
  elbow.png           TailSampler class cardinalities eta (descending) with
                      K_elbow, K_cap and K_max marked (DESIGN 3.6 steps 5-6).
                      From tail.h5 (/tail/eta, k_elbow, k_cap, k_max); from a
                      model.h5 eta is recomputed from /tail/class_size with the
                      DESIGN 3.6 step 5-6 rules (plotting only).
"""
import argparse
import csv
import math
import os
import sys

import numpy as np

try:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import matplotlib.ticker
except ImportError:  # the demo installs python3-matplotlib; say so plainly
    sys.exit("plot_results.py: matplotlib is missing (Debian: apt-get install python3-matplotlib)")


def note(msg):
    print("plot_results: " + msg, file=sys.stderr)


# ---------------------------------------------------------------- results CSV
def read_csv(path):
    rows = list(csv.DictReader(open(path)))
    methods = []
    for r in rows:
        if r["method"] not in methods:
            methods.append(r["method"])
    means = {m: {} for m in methods}
    for r in rows:
        if r["group"] == "mean":
            g = r["class"].replace("mean_", "")
            means[r["method"]][g] = (float(r["image_auroc"]), float(r["pixel_auroc"]))
    return methods, means


def plot_results(methods, means, out):
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    groups = ["tail", "head", "all"]
    w = 0.8 / max(1, len(methods))
    for k, title in enumerate(["image AUROC", "pixel AUROC"]):
        ax = axes[k]
        for i, m in enumerate(methods):
            vals = [100 * means[m].get(g, (math.nan, math.nan))[k] for g in groups]
            x = np.arange(len(groups)) + (i - (len(methods) - 1) / 2) * w
            bars = ax.bar(x, vals, w, label=m)
            for b, v in zip(bars, vals):
                if not math.isnan(v):
                    ax.text(b.get_x() + b.get_width() / 2, v + 0.5, "%.1f" % v, ha="center",
                            va="bottom", fontsize=7)
        ax.set_xticks(np.arange(len(groups)))
        ax.set_xticklabels(["tail classes", "head classes (noisy)", "all classes"])
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
    # the full 0-100 scale: a cut axis makes a 5-point gap look like a collapse
    for ax in axes:
        ax.set_ylim(0, 105)
    axes[0].set_ylabel("AUROC %")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(methods), fontsize=8)
    fig.suptitle("Mean AUROC over classes, per method")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    fig.savefig(out, dpi=120)
    plt.close(fig)


def plot_tail_vs_noise(methods, means, out):
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    pts = 0
    for m in methods:
        t = means[m].get("tail", (math.nan,) * 2)[0]
        h = means[m].get("head", (math.nan,) * 2)[0]
        if math.isnan(t) or math.isnan(h):
            continue
        ax.scatter([100 * h], [100 * t], s=80)
        ax.annotate(m, (100 * h, 100 * t), textcoords="offset points", xytext=(6, 4))
        pts += 1
    if pts == 0:
        plt.close(fig)
        note("no tail/head means in the CSV (eval without --dataset-info?): no tail_vs_noise.png")
        return False
    ax.set_xlabel("noisy head classes: image AUROC %  (noise robustness)")
    ax.set_ylabel("tail classes: image AUROC %  (few-shot)")
    ax.set_title("Tail versus noise (paper Fig. 1)")
    ax.grid(alpha=0.3)
    ax.margins(0.15)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return True


# ---------------------------------------------------------------- overlays
def load_crop(path, resize, crop, gray=False):
    """DESIGN 3.1 geometry for display: PIL bilinear resize of the shorter
    side, centre crop (torchvision's rounding)."""
    from PIL import Image
    im = Image.open(path)
    im = im.convert("L" if gray else "RGB")
    w, h = im.size
    if w <= h:
        nw, nh = resize, int(resize * h / w)
    else:
        nw, nh = int(resize * w / h), resize
    im = im.resize((nw, nh), Image.BILINEAR)
    x0 = int(round((nw - crop) / 2.0))
    y0 = int(round((nh - crop) / 2.0))
    return np.asarray(im.crop((x0, y0, x0 + crop, y0 + crop)))


def plot_overlays(scores_path, root, n, out):
    import h5py
    try:
        import PIL  # noqa: F401
    except ImportError:
        note("PIL is missing (Debian: python3-pil): no overlays.png")
        return False
    f = h5py.File(scores_path, "r")
    paths = [p.decode() if isinstance(p, bytes) else str(p) for p in f["paths"][:]]
    s = f["image_scores"][:]
    resize, crop = int(f.attrs["resize"]), int(f.attrs["crop"])
    method = f.attrs.get("method", b"?")
    method = method.decode() if isinstance(method, bytes) else str(method)
    # a few anomalous images spread over the classes, then one good one
    anom = [i for i, p in enumerate(paths) if "/test/" in p and "/test/good/" not in p]
    good = [i for i, p in enumerate(paths) if "/test/good/" in p]
    by_class = {}
    for i in anom:
        by_class.setdefault(paths[i].split("/")[0], []).append(i)
    pick = []
    while len(pick) < max(0, n - 1) and any(by_class.values()):
        for c in sorted(by_class):
            if by_class[c] and len(pick) < n - 1:
                pick.append(by_class[c].pop(0))
    pick += good[:1]
    if not pick:
        note("no test images in %s: no overlays.png" % scores_path)
        return False
    vmax = float(np.percentile(f["anomaly_maps"][pick[0]], 99.5)) if pick else 1.0
    vmax = max(vmax, max(float(f["anomaly_maps"][i].max()) for i in pick))
    fig, axes = plt.subplots(2, len(pick), figsize=(2.6 * len(pick), 5.4), squeeze=False)
    for k, i in enumerate(pick):
        rel = paths[i]
        img_path = rel if os.path.isabs(rel) else os.path.join(root, rel)
        amap = f["anomaly_maps"][i]
        try:
            img = load_crop(img_path, resize, crop)
        except Exception as e:  # a missing image should not stop the other figures
            note("%s: %s" % (img_path, e))
            img = np.zeros((crop, crop, 3), np.uint8)
        parts = rel.split("/")
        mask = None
        if len(parts) >= 4 and parts[-2] != "good":
            stem = os.path.splitext(parts[-1])[0]
            gdir = os.path.join(root, parts[0], "ground_truth", parts[-2])
            for ext in (".png", ".tiff", ".tif", ".jpg", os.path.splitext(parts[-1])[1]):
                mp = os.path.join(gdir, stem + "_mask" + ext)
                if os.path.exists(mp):
                    mask = load_crop(mp, resize, crop, gray=True) == 255
                    break
        ax = axes[0][k]
        ax.imshow(img)
        if mask is not None and mask.any():
            ax.contour(mask, levels=[0.5], colors="lime", linewidths=1)
        ax.set_title("%s\n%s" % (parts[0], "/".join(parts[-2:])), fontsize=7)
        ax.axis("off")
        ax = axes[1][k]
        ax.imshow(img)
        heat = ax.imshow(amap, cmap="jet", alpha=0.5, vmin=0, vmax=vmax)
        if mask is not None and mask.any():
            ax.contour(mask, levels=[0.5], colors="white", linewidths=0.8)
        # raw squared-L2 scores mean nothing to a reader: say where the image
        # ranks among all scored test images
        pct = 100.0 * float(np.mean(s <= s[i]))
        ax.set_title("score %.3g\nhigher than %.0f%% of test" % (s[i], pct), fontsize=7)
        ax.axis("off")
    fig.colorbar(heat, ax=list(axes[1]), fraction=0.02, pad=0.01,
                 label="patch score (squared L2 to the memory bank)")
    fig.suptitle("%s: test crops with ground truth (green) and anomaly maps (common scale)" % method,
                 fontsize=9)
    fig.savefig(out, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return True


# ---------------------------------------------------------------- elbow
def eta_from_kappa(kappa):
    """DESIGN 3.6 step 5 (class cardinalities from predicted class sizes)."""
    v = sorted(max(1, int(k)) for k in kappa)
    etas = []
    i = 0
    while i < len(v):
        g = v[i]
        rem = len(v) - i
        if rem < g:
            if etas:
                etas[-1] += rem
            else:
                etas.append(rem)
            break
        e = int(np.round(np.mean(v[i:i + g])))  # numpy rounds half to even
        e = min(max(e, 1), rem)
        etas.append(e)
        i += e
    return sorted(etas, reverse=True)


def k_elbow_cap(eta):
    """DESIGN 3.6 step 6."""
    n = len(eta)
    if n <= 1 or eta[0] == eta[-1]:
        ke = eta[0]
        dist = np.zeros(n)
    else:
        p0 = np.array([0.0, eta[0]])
        p1 = np.array([n - 1.0, eta[-1]])
        d = (p1 - p0) / np.linalg.norm(p1 - p0)
        pts = np.stack([np.arange(n, dtype=float), np.asarray(eta, float)], 1) - p0
        dist = np.abs(pts[:, 0] * d[1] - pts[:, 1] * d[0])
        ke = eta[int(np.argmax(dist))]
    n15 = math.floor(0.15 * sum(eta))
    asc = sorted(eta)
    k, c = 0, 0
    for e in asc:
        c += e
        if c > n15:
            break
        k += 1
    kc = eta[min(n - k, n - 1)]
    return ke, kc, dist


def plot_elbow(path, out):
    import h5py
    f = h5py.File(path, "r")
    src = ""
    if "tail/eta" in f:
        eta = [int(x) for x in f["tail/eta"][:]]
        ke = int(f["tail/k_elbow"][()].ravel()[0]) if "tail/k_elbow" in f else None
        kc = int(f["tail/k_cap"][()].ravel()[0]) if "tail/k_cap" in f else None
        km = int(f["tail/k_max"][()].ravel()[0]) if "tail/k_max" in f else None
        if ke is None or kc is None:
            ke, kc, _ = k_elbow_cap(eta)
        src = "/tail/eta of %s" % os.path.basename(path)
    elif "tail/class_size" in f:
        eta = eta_from_kappa(f["tail/class_size"][:])
        ke, kc, _ = k_elbow_cap(eta)
        km = int(f["tail/k_max"][()].ravel()[0]) if "tail/k_max" in f else min(ke, kc)
        src = "recomputed from /tail/class_size of %s" % os.path.basename(path)
    else:
        note("%s has no /tail data (not a tailedcore model or tail file): no elbow.png" % path)
        return False
    if km is None:
        km = min(ke, kc)
    n_tail = int(np.asarray(f["tail/is_tail"][:]).sum()) if "tail/is_tail" in f else None
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    t = np.arange(len(eta))
    ax.plot(t, eta, "o-", ms=4, label="eta (class cardinalities, descending)")
    if len(eta) > 1:
        ax.plot([0, len(eta) - 1], [eta[0], eta[-1]], "--", color="grey", lw=1, label="elbow line")
    # K_max equals K_elbow or K_cap, so a line for it would hide one of them:
    # it is the shaded tail zone instead, and the two candidates stay visible
    ax.axhspan(0, km, color="tab:red", alpha=0.12, label="tail zone: kappa <= K_max = %d" % km)
    ax.axhline(ke, color="tab:orange", lw=1.6, ls="--", label="K_elbow = %d" % ke)
    ax.axhline(kc, color="tab:green", lw=1.2, ls=":", label="K_cap = %d" % kc)
    ax.xaxis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlabel("predicted class t (descending size)")
    ax.set_ylabel("eta_t (images)")
    title = "TailSampler: %d predicted classes" % len(eta)
    if n_tail is not None:
        title += ", %d tail images (kappa <= K_max)" % n_tail
    ax.set_title(title, fontsize=9)
    ax.text(0.99, 0.01, src, transform=ax.transAxes, ha="right", va="bottom", fontsize=6, color="grey")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return True


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", default="plots", help="where the PNGs go [plots]")
    ap.add_argument("--csv", help="eval CSV (tailedcore eval --csv, with --compare for several methods)")
    ap.add_argument("--scores", help="a scores.h5 for the overlays")
    ap.add_argument("--data", help="data root of the test images (overlays)")
    ap.add_argument("--n-overlays", type=int, default=6, help="images in overlays.png [6]")
    ap.add_argument("--tail", help="tail.h5 or a tailedcore model.h5 (elbow plot)")
    a = ap.parse_args()
    os.makedirs(a.out_dir, exist_ok=True)
    wrote = []
    if a.csv:
        if os.path.exists(a.csv):
            methods, means = read_csv(a.csv)
            p = os.path.join(a.out_dir, "results.png")
            plot_results(methods, means, p)
            wrote.append(p)
            p = os.path.join(a.out_dir, "tail_vs_noise.png")
            if plot_tail_vs_noise(methods, means, p):
                wrote.append(p)
        else:
            note("%s does not exist: no results.png" % a.csv)
    if a.scores:
        if not os.path.exists(a.scores):
            note("%s does not exist: no overlays.png" % a.scores)
        elif not a.data:
            note("--scores needs --data (the test images): no overlays.png")
        else:
            p = os.path.join(a.out_dir, "overlays.png")
            if plot_overlays(a.scores, a.data, a.n_overlays, p):
                wrote.append(p)
    if a.tail:
        if os.path.exists(a.tail):
            p = os.path.join(a.out_dir, "elbow.png")
            if plot_elbow(a.tail, p):
                wrote.append(p)
        else:
            note("%s does not exist: no elbow.png" % a.tail)
    for p in wrote:
        print("wrote " + p)
    if not wrote:
        note("nothing to plot (give --csv, --scores with --data, or --tail)")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
