#!/usr/bin/env python3
"""Convert VisA to the MVTec AD layout read by tailedcore (see inputs/README.md).

    python3 analysis/visa_to_mvtec.py VISA_ROOT OUT_ROOT [--csv split_csv/1cls.csv] [--copy]

Reads VISA_ROOT/split_csv/1cls.csv (object,split,label,image,mask) and writes
    OUT_ROOT/CLASS/train/good/NAME          (split=train, label=normal)
    OUT_ROOT/CLASS/test/good/NAME           (split=test,  label=normal)
    OUT_ROOT/CLASS/test/bad/NAME            (split=test,  label=anomaly)
    OUT_ROOT/CLASS/ground_truth/bad/STEM_mask.png   (mask binarised: non-zero -> 255)
Images are symlinked (or copied with --copy); masks are always rewritten,
because VisA stores small labels and DESIGN 3.1 needs full intensity.
Needs Pillow. Refuses an existing OUT_ROOT.
"""
import argparse
import csv
import os
import shutil
import sys


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("visa_root")
    ap.add_argument("out_root")
    ap.add_argument("--csv", default="split_csv/1cls.csv")
    ap.add_argument("--copy", action="store_true")
    a = ap.parse_args()
    from PIL import Image
    import numpy as np

    src = os.path.abspath(a.visa_root)
    if os.path.exists(a.out_root):
        sys.exit("visa_to_mvtec: %s already exists" % a.out_root)
    rows = list(csv.DictReader(open(os.path.join(src, a.csv))))
    tmp = a.out_root.rstrip("/") + ".tmp"
    n = 0
    for r in rows:
        cls, split, label = r["object"], r["split"], r["label"]
        img = os.path.join(src, r["image"])
        name = os.path.basename(r["image"])
        typ = "good" if label == "normal" else "bad"
        if split == "train" and typ != "good":
            continue  # VisA's 1cls split has no anomalies in train; keep the layout clean
        dst = os.path.join(tmp, cls, "train" if split == "train" else "test", typ, name)
        os.makedirs(os.path.dirname(dst), exist_ok=True)
        if a.copy:
            shutil.copyfile(img, dst)
        else:
            os.symlink(img, dst)
        if typ == "bad":
            if not r.get("mask"):
                sys.exit("visa_to_mvtec: %s has no mask" % r["image"])
            m = np.array(Image.open(os.path.join(src, r["mask"])).convert("L"))
            mdst = os.path.join(tmp, cls, "ground_truth", "bad", os.path.splitext(name)[0] + "_mask.png")
            os.makedirs(os.path.dirname(mdst), exist_ok=True)
            Image.fromarray(((m != 0) * 255).astype(np.uint8)).save(mdst)
        n += 1
    os.rename(tmp, a.out_root)
    print("visa_to_mvtec: %d images -> %s" % (n, a.out_root))


if __name__ == "__main__":
    main()
