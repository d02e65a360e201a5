#!/usr/bin/python3
"""Figures of a TailedCore run (Debian python3 with numpy, h5py, matplotlib;
PIL for TIFF test images in the overlays).

    /usr/bin/python3 analysis/plot_results.py --out-dir plots \
        --csv results.csv                       # from `tailedcore eval --csv` (with --compare)
        --scores scores_tailedcore.h5 --data ROOT [--n-overlays 6]
        --tail tail.h5 | --tail model.h5        # TailSampler elbow plot

Writes, for every input given (missing pieces are skipped with a note):
  results.png         AUROC per method: tail / head / all bars, image and pixel,
                      on the whole 0-100 scale with chance (50) marked
  tail_vs_noise.png   tail AUROC vs noisy-head AUROC, one point per method (the
                      paper's Figure 1: up and right is better on both), 0-100
  overlays.png        a few anomalous test images and a good one: crop,
                      ground-truth contour, anomaly map overlaid on one colour
                      scale with its colour bar. From a calibrated model's
                      scores (/normalised_scores, /decisions, /thresholds,
                      attribute threshold) the maps are divided by the image's
                      threshold (bar 0..2, the threshold at 1) and each image
                      shows score / threshold and OK/NG; otherwise raw scores
                      and "uncalibrated" in the title.
  elbow.png           TailSampler class cardinalities eta (descending) with
                      K_elbow, K_cap and K_max as lines labelled with their
                      values (DESIGN 3.6 steps 5-6; equal values are drawn a
                      few points apart, not on top of each other). From
                      tail.h5 (/tail/eta, k_elbow, k_cap, k_max); from a
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


CHANCE = 50.0  # AUROC % of a detector that ranks at random


def save(fig, out, **kw):
    fig.savefig(out, **kw)
    plt.close(fig)


def auroc_axis(ax, which):
    """0-100, not zoomed: an AUROC below chance (a head class whose defects
    sit in the memory bank) is a result to see, and a cut axis makes a
    5-point gap look like a collapse. 105: room for the bar labels."""
    getattr(ax, "set_%slim" % which)(0, 105)
    getattr(ax, "set_%sticks" % which)(np.arange(0, 101, 10))


def figure_results(methods, means):
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
        ax.axhline(CHANCE, color="black", ls="--", lw=0.9, zorder=0.5, label="chance (50)")
        ax.set_xticks(np.arange(len(groups)))
        ax.set_xticklabels(["tail classes", "head classes (noisy)", "all classes"])
        ax.set_title(title)
        ax.grid(axis="y", alpha=0.3)
        auroc_axis(ax, "y")
    axes[0].set_ylabel("AUROC %")
    handles, labels = axes[0].get_legend_handles_labels()
    fig.legend(handles, labels, loc="lower center", ncol=len(labels), fontsize=8)
    fig.suptitle("Mean AUROC over classes, per method")
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    return fig


def figure_tail_vs_noise(methods, means):
    """None when the CSV has no tail/head means."""
    at = {}  # methods on the same point share one label instead of overprinting
    for m in methods:
        t = means[m].get("tail", (math.nan,) * 2)[0]
        h = means[m].get("head", (math.nan,) * 2)[0]
        if not (math.isnan(t) or math.isnan(h)):
            at.setdefault((round(100 * h, 1), round(100 * t, 1)), []).append(m)
    if not at:
        note("no tail/head means in the CSV (eval without --dataset-info?): no tail_vs_noise.png")
        return None
    fig, ax = plt.subplots(figsize=(5.2, 4.6))
    for (h, t), names in at.items():
        ax.scatter([h], [t], s=80, zorder=3)
        # labels turn inwards near the top and right edges of the 0-100 square
        right = h > 70
        ax.annotate(", ".join(names), (h, t), textcoords="offset points", fontsize=8,
                    xytext=(-8 if right else 8, -14 if t > 95 else 4), ha="right" if right else "left")
    ax.axhline(CHANCE, color="black", ls="--", lw=0.9, zorder=0.5)
    ax.axvline(CHANCE, color="black", ls="--", lw=0.9, zorder=0.5, label="chance (50)")
    auroc_axis(ax, "x")
    auroc_axis(ax, "y")
    ax.set_xlabel("noisy head classes: image AUROC %  (noise robustness)")
    ax.set_ylabel("tail classes: image AUROC %  (few-shot)")
    ax.set_title("Tail versus noise (paper Fig. 1)")
    ax.legend(fontsize=7, loc="lower left")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


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


NORMALISED_MAX = 2.0  # calibrated colour scale 0..2: the threshold sits in the middle


def read_calibration(f, raw, scores_path):
    """Decisions that predict stores with a calibrated model: per image the
    normalised score (score / threshold), the threshold applied, the decision
    (None when /decisions is absent). None for an uncalibrated model."""
    t = len(raw)
    glob = float(f.attrs["threshold"]) if "threshold" in f.attrs else None
    got = {name: f[name][:] for name in ("normalised_scores", "thresholds", "decisions") if name in f}
    for name, a in got.items():
        if a.shape != (t,):
            note("%s: /%s has shape %s for %d images: overlays treated as uncalibrated"
                 % (scores_path, name, a.shape, t))
            return None
    thr = got.get("thresholds")
    norm = got.get("normalised_scores")
    if thr is None and glob is not None:
        thr = np.full(t, glob)
    if thr is None and norm is None:
        return None
    thr = np.asarray(thr, float) if thr is not None else raw / np.asarray(norm, float)
    norm = np.asarray(norm, float) if norm is not None else raw / thr
    dec = got.get("decisions")
    return {"norm": norm, "thr": thr, "global": glob,
            "decision": None if dec is None else np.asarray(dec).astype(bool)}


def pick_overlay_images(paths, n):
    """A few anomalous test images spread over the classes, then one good one."""
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
    return pick + good[:1]


def ground_truth_mask(root, rel, resize, crop):
    """The MVTec mask of CLASS/test/TYPE/NAME (ground_truth/TYPE/NAME_mask.*)
    on the display crop, or None."""
    parts = rel.split("/")
    if len(parts) < 4 or parts[-2] == "good":
        return None
    stem = os.path.splitext(parts[-1])[0]
    gdir = os.path.join(root, parts[0], "ground_truth", parts[-2])
    for ext in (".png", ".tiff", ".tif", ".jpg", os.path.splitext(parts[-1])[1]):
        mp = os.path.join(gdir, stem + "_mask" + ext)
        if os.path.exists(mp):
            return load_crop(mp, resize, crop, gray=True) == 255
    return None


def overlay_caption(i, raw, cal):
    """Title text and colour of image i's overlay."""
    if cal is None:
        # raw squared-L2 scores mean nothing to a reader: say where the image
        # ranks among all scored test images
        pct = 100.0 * float(np.mean(raw <= raw[i]))
        return "score %.3g\nhigher than %.0f%% of test" % (raw[i], pct), "black"
    head = "%.2f x threshold" % cal["norm"][i]
    colour = "black"
    if cal["decision"] is not None:
        ng = bool(cal["decision"][i])
        head = ("NG  " if ng else "OK  ") + head
        colour = "tab:red" if ng else "tab:green"
    return "%s\nscore %.3g, threshold %.3g" % (head, raw[i], cal["thr"][i]), colour


def overlay_colour_bar(fig, heat, axes, cal):
    # labels short enough for the bar's height; the suptitle says the rest
    if cal is None:
        bar = fig.colorbar(heat, ax=axes, fraction=0.02, pad=0.01)
        bar.set_label("raw patch score (uncalibrated)", fontsize=8)
        return
    bar = fig.colorbar(heat, ax=axes, fraction=0.02, pad=0.01, extend="max")
    bar.set_label("anomaly map / threshold", fontsize=8)
    bar.ax.axhline(1.0, color="black", lw=2.5)
    bar.set_ticks([0, 0.5, 1, 1.5, 2])
    bar.set_ticklabels(["0", "0.5", "1 threshold", "1.5", "2+"])


def figure_overlays(scores_path, root, n):
    """None when there is nothing to show."""
    import h5py
    try:
        import PIL  # noqa: F401
    except ImportError:
        note("PIL is missing (Debian: python3-pil): no overlays.png")
        return None
    with h5py.File(scores_path, "r") as f:
        paths = [p.decode() if isinstance(p, bytes) else str(p) for p in f["paths"][:]]
        raw = f["image_scores"][:].astype(float)
        resize, crop = int(f.attrs["resize"]), int(f.attrs["crop"])
        method = f.attrs.get("method", b"?")
        method = method.decode() if isinstance(method, bytes) else str(method)
        cal = read_calibration(f, raw, scores_path)
        pick = pick_overlay_images(paths, n)
        if not pick:
            note("no test images in %s: no overlays.png" % scores_path)
            return None
        maps = {i: f["anomaly_maps"][i].astype(float) for i in pick}
    # one colour scale for every overlay, so colours compare across images
    if cal is None:
        vmax = max(float(m.max()) for m in maps.values())
    else:
        vmax = NORMALISED_MAX
        maps = {i: m / cal["thr"][i] for i, m in maps.items()}
    fig, axes = plt.subplots(2, len(pick), figsize=(2.6 * len(pick), 5.4), squeeze=False)
    for k, i in enumerate(pick):
        rel = paths[i]
        img_path = rel if os.path.isabs(rel) else os.path.join(root, rel)
        try:
            img = load_crop(img_path, resize, crop)
        except Exception as e:  # a missing image should not stop the other figures
            note("%s: %s" % (img_path, e))
            img = np.zeros((crop, crop, 3), np.uint8)
        mask = ground_truth_mask(root, rel, resize, crop)
        parts = rel.split("/")
        ax = axes[0][k]
        ax.imshow(img)
        if mask is not None and mask.any():
            ax.contour(mask, levels=[0.5], colors="lime", linewidths=1)
        ax.set_title("%s\n%s" % (parts[0], "/".join(parts[-2:])), fontsize=7)
        ax.axis("off")
        ax = axes[1][k]
        ax.imshow(img)
        heat = ax.imshow(maps[i], cmap="jet", alpha=0.5, vmin=0, vmax=vmax)
        if mask is not None and mask.any():
            ax.contour(mask, levels=[0.5], colors="white", linewidths=0.8)
        caption, colour = overlay_caption(i, raw, cal)
        ax.set_title(caption, fontsize=7, color=colour)
        ax.axis("off")
    overlay_colour_bar(fig, heat, list(axes[1]), cal)
    if cal is None:
        scale = ("uncalibrated: raw scores, squared L2 to the memory bank "
                 "(predict with a calibrated model for OK/NG)")
    else:
        scale = "calibrated: maps divided by the image's threshold"
        if cal["global"] is not None:
            scale += " (global threshold %.4g)" % cal["global"]
        scale += "; OK/NG is decided on the image score, the unsmoothed patch maximum"
    fig.suptitle("%s: test crops with ground truth (green) and anomaly maps, one colour scale\n%s"
                 % (method, scale), fontsize=9)
    return fig


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


def attr_str(attrs, name):
    v = attrs.get(name)
    if v is None:
        return None
    return v.decode() if isinstance(v, bytes) else str(v)


def read_elbow(path):
    """(eta, K_elbow, K_cap, K_max, tail_cut, n_tail, source note), or None."""
    import h5py
    with h5py.File(path, "r") as f:
        if "tail/eta" in f:
            eta = [int(x) for x in f["tail/eta"][:]]
            ke, kc, km = [int(f["tail/" + k][()].ravel()[0]) if "tail/" + k in f else None
                          for k in ("k_elbow", "k_cap", "k_max")]
            if ke is None or kc is None:
                ke, kc, _ = k_elbow_cap(eta)
            cut = attr_str(f["tail"].attrs, "tail_cut")
            src = "/tail/eta of %s" % os.path.basename(path)
        elif "tail/class_size" in f:
            kappa = f["tail/class_size"][:]
            if not np.any(kappa > 0):  # softpatch and patchcore store an empty tail group
                note("%s: a %s model has no TailSampler result: no elbow.png"
                     % (path, attr_str(f.attrs, "method") or "non-tailedcore"))
                return None
            eta = eta_from_kappa(kappa)
            ke, kc, _ = k_elbow_cap(eta)
            km = int(f["tail/k_max"][()].ravel()[0]) if "tail/k_max" in f else None
            cut = attr_str(f.attrs, "tail_cut")
            src = "recomputed from /tail/class_size of %s" % os.path.basename(path)
        else:
            note("%s has no /tail data (not a tailedcore model or tail file): no elbow.png" % path)
            return None
        n_tail = int(np.asarray(f["tail/is_tail"][:]).sum()) if "tail/is_tail" in f else None
    if km is None:
        km = min(ke, kc)
    return eta, ke, kc, km, cut, n_tail, src


def k_max_name(cut):
    """K_max's legend name with the rule that chose it, from the tail file's
    tail_cut (DESIGN 3.6 step 6; DECISIONS.md for the gap cut)."""
    return {None: "K_max = min(K_elbow, K_cap)", "cap": "K_max = min(K_elbow, K_cap)",
            "elbow": "K_max = K_elbow"}.get(cut, "K_max (%s cut)" % cut)


def draw_k_lines(ax, n, lines):
    """Horizontal lines (name, value, colour, dash) across the n classes.
    K_max always equals another value under the paper's rule, so lines of
    equal value are drawn 3 points apart instead of on top of each other; the
    legend carries each value."""
    import matplotlib.transforms
    for name, v, colour, dash in lines:
        same = [l[0] for l in lines if l[1] == v]
        shift = 3.0 * (same.index(name) - (len(same) - 1) / 2.0)
        tr = matplotlib.transforms.offset_copy(ax.transData, fig=ax.figure, y=shift, units="points")
        ax.plot([-0.5, n - 0.5], [v, v], transform=tr, color=colour, ls=dash, lw=1.8,
                label="%s = %d" % (name, v))


def figure_elbow(path):
    """None when the file has no TailSampler data."""
    got = read_elbow(path)
    if got is None:
        return None
    eta, ke, kc, km, cut, n_tail, src = got
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    n = len(eta)
    t = np.arange(n)
    ax.plot(t, eta, "o-", ms=4, color="tab:blue", label="eta (class cardinalities, descending)")
    if n > 1:
        ax.plot([0, n - 1], [eta[0], eta[-1]], "--", color="grey", lw=1, label="elbow line")
    ax.axhspan(0, km, color="tab:red", alpha=0.10, label="tail zone: kappa <= K_max")
    draw_k_lines(ax, n, [("K_elbow", ke, "tab:orange", "--"), ("K_cap", kc, "tab:green", ":"),
                         (k_max_name(cut), km, "tab:red", "-")])
    # class indices and cardinalities are counts: no 2.5th class, no 0.2 images
    for axis in (ax.xaxis, ax.yaxis):
        axis.set_major_locator(matplotlib.ticker.MaxNLocator(integer=True))
    ax.set_xlim(-0.5, n - 0.5)
    ax.set_ylim(0, max(eta + [ke, kc, km]) * 1.08 + 0.5)
    ax.set_xlabel("predicted class t (descending size)")
    ax.set_ylabel("eta_t (images)")
    title = "TailSampler: %d predicted classes" % n
    if n_tail is not None:
        title += ", %d tail images (kappa <= K_max)" % n_tail
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=7, loc="upper right")
    ax.grid(alpha=0.3)
    fig.tight_layout(rect=(0, 0.03, 1, 1))
    fig.text(0.99, 0.005, src, ha="right", va="bottom", fontsize=6, color="grey")
    return fig


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
            save(figure_results(methods, means), p, dpi=120)
            wrote.append(p)
            fig = figure_tail_vs_noise(methods, means)
            if fig is not None:
                p = os.path.join(a.out_dir, "tail_vs_noise.png")
                save(fig, p, dpi=120)
                wrote.append(p)
        else:
            note("%s does not exist: no results.png" % a.csv)
    if a.scores:
        if not os.path.exists(a.scores):
            note("%s does not exist: no overlays.png" % a.scores)
        elif not a.data:
            note("--scores needs --data (the test images): no overlays.png")
        else:
            fig = figure_overlays(a.scores, a.data, a.n_overlays)
            if fig is not None:
                p = os.path.join(a.out_dir, "overlays.png")
                save(fig, p, dpi=110, bbox_inches="tight")
                wrote.append(p)
    if a.tail:
        if os.path.exists(a.tail):
            fig = figure_elbow(a.tail)
            if fig is not None:
                p = os.path.join(a.out_dir, "elbow.png")
                save(fig, p, dpi=120)
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
