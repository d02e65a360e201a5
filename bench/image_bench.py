#!/usr/bin/python3
"""Peer of bench/image_bench.c: PIL decode + torchvision preprocessing
(Resize(256), CenterCrop(224), ToTensor, Normalize), one thread, same
protocol (one warm-up, repeat >= 3 times and >= --seconds, median).

Also makes the bench inputs: --make DIR writes DIR/bench_1024.tif
(uncompressed), DIR/bench_1024_deflate.tif and DIR/bench_1024.png, a
deterministic 1024x1024 RGB image with smooth regions, edges and texture.

Usage: /usr/bin/python3 bench/image_bench.py --make DIR
       /usr/bin/python3 bench/image_bench.py [--seconds S] label=path ...
Prints key=value lines <label>_decode_ms, <label>_preprocess_ms, <label>_ips.
"""
import os
import sys
import time

import numpy as np
import torch
import torchvision.transforms as T
from PIL import Image


def make(d):
    os.makedirs(d, exist_ok=True)
    n = 1024
    y, x = np.mgrid[0:n, 0:n].astype(np.float64)
    rng = np.random.default_rng(7)
    img = np.zeros((n, n, 3))
    img[..., 0] = 128 + 100 * np.sin(x / 97.0) * np.cos(y / 61.0)
    img[..., 1] = 255 * x / n
    img[..., 2] = 255 * y / n
    img[(x - 400) ** 2 + (y - 520) ** 2 < 180 ** 2] = (200, 60, 40)
    img += rng.normal(0, 6, img.shape)  # sensor noise: realistic compressed size
    img = np.clip(img, 0, 255).astype(np.uint8)
    im = Image.fromarray(img, "RGB")
    im.save(os.path.join(d, "bench_1024.tif"))
    im.save(os.path.join(d, "bench_1024_deflate.tif"), compression="tiff_adobe_deflate")
    im.save(os.path.join(d, "bench_1024.png"))


def main(argv):
    if len(argv) >= 2 and argv[0] == "--make":
        make(argv[1])
        return 0
    seconds = 3.0
    if len(argv) >= 2 and argv[0] == "--seconds":
        seconds = float(argv[1])
        argv = argv[2:]
    torch.set_num_threads(1)
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])
    for arg in argv:
        label, path = arg.split("=", 1)
        td, tp = [], []
        start = None
        rep = -1
        while True:
            t0 = time.perf_counter()
            im = Image.open(path).convert("RGB")  # convert forces the decode
            t1 = time.perf_counter()
            x = tf(im)
            t2 = time.perf_counter()
            if rep < 0:
                start = time.perf_counter()
            else:
                td.append(t1 - t0)
                tp.append(t2 - t1)
                if len(td) >= 3 and time.perf_counter() - start >= seconds:
                    break
            rep += 1
        tt = sorted(a + b for a, b in zip(td, tp))
        print(f"{label}_reps={len(td)}")
        print(f"{label}_decode_ms={1e3 * sorted(td)[len(td) // 2]:.3f}")
        print(f"{label}_preprocess_ms={1e3 * sorted(tp)[len(tp) // 2]:.3f}")
        print(f"{label}_ips={1.0 / tt[len(tt) // 2]:.1f}", flush=True)
        del x
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
