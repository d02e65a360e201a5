#!/usr/bin/python3
"""PyTorch CPU peer of the extract benchmark (bench/extract_bench.sh): images/s
of the same backbone forward at 224, batch 1, with torch.set_num_threads(T).
    /usr/bin/python3 bench/extract_torch.py --backbone wrn50|mobilenetv2 --weights W.h5 --n N --threads T
"""
import argparse
import os
import sys
import time

import h5py
import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "golden"))
from make_cnn_fixtures import mbv2_forward, run_resnet  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--backbone", required=True)
ap.add_argument("--weights", required=True)
ap.add_argument("--n", type=int, default=10)
ap.add_argument("--threads", type=int, default=1)
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.set_grad_enabled(False)
with h5py.File(a.weights, "r") as f:
    W = {k: torch.from_numpy(f[k][()]) for k in f.keys()}
    eps = float(f.attrs["bn_eps"])
x = torch.from_numpy(np.random.default_rng(0).uniform(-1, 1, (1, 3, 224, 224)).astype(np.float32))
if a.backbone == "mobilenetv2":
    def fwd():
        return mbv2_forward(W, x, eps)
else:
    m = torchvision.models.wide_resnet50_2() if a.backbone == "wrn50" else torchvision.models.resnet18()
    m.load_state_dict(W, strict=False)
    m.eval()

    def fwd():
        return run_resnet(m, x)
# warm-up forward, counting the convolutions' FLOPs (2 x MACs) on the way:
# every conv of both backbones goes through torch.nn.functional.conv2d
flops = [0]
conv2d = torch.nn.functional.conv2d


def counting_conv2d(inp, weight, bias=None, stride=1, padding=0, dilation=1, groups=1):
    out = conv2d(inp, weight, bias, stride, padding, dilation, groups)
    flops[0] += 2 * out.numel() * weight[0].numel()
    return out


torch.nn.functional.conv2d = counting_conv2d
fwd()
torch.nn.functional.conv2d = conv2d
print("torch_conv_gflop_per_image=%.4f" % (flops[0] / 1e9))
t0 = time.perf_counter()
for _ in range(a.n):
    fwd()
dt = time.perf_counter() - t0
print("torch %-12s %7.2f images/s network only (torch %s, %d thread(s))" % (a.backbone, a.n / dt,
      torch.__version__, a.threads))
