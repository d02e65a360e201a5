#!/usr/bin/python3
"""Reference forward pass in torch from one of OUR weights files, for the
one-off full-size checks (not a unit test: needs torch):

    /usr/bin/python3 tests/golden/make_ref_forward.py --backbone wrn50 --weights W.h5 --out REF.h5 [--size 224]

resnet18 / wrn50: the torchvision model with the file's tensors loaded;
mobilenetv2: the Keras-layout forward of make_cnn_fixtures.py (explicit
bottom/right padding before stride 2, eps from the file). Input: a fixed
random image in the backbone's input range (seed 0). REF.h5 holds /input
[3 x S x S], the default taps and /embedding; compare with
    build/tests/test_cnn --ref REF.h5 --weights W.h5 --backbone NAME
"""
import argparse
import os
import sys

import h5py
import numpy as np
import torch
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from make_cnn_fixtures import mbv2_forward, run_resnet  # noqa: E402

torch.set_grad_enabled(False)
ap = argparse.ArgumentParser()
ap.add_argument("--backbone", required=True, choices=["resnet18", "wrn50", "mobilenetv2"])
ap.add_argument("--weights", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--size", type=int, default=224)
a = ap.parse_args()
with h5py.File(a.weights, "r") as f:
    W = {k: torch.from_numpy(f[k][()]) for k in f.keys()}
    eps = float(f.attrs["bn_eps"])
rng = np.random.default_rng(0)
S = a.size
if a.backbone == "mobilenetv2":
    x = torch.from_numpy(rng.uniform(-1, 1, (1, 3, S, S)).astype(np.float32))
    outs = mbv2_forward(W, x, eps)
    taps = ["block_5_add", "block_10_project_BN"]
else:
    x = torch.from_numpy(rng.standard_normal((1, 3, S, S)).astype(np.float32))
    m = torchvision.models.resnet18() if a.backbone == "resnet18" else torchvision.models.wide_resnet50_2()
    missing = m.load_state_dict(W, strict=False)
    assert not [k for k in missing.missing_keys if not k.startswith("fc.") and "num_batches" not in k], missing
    outs = run_resnet(m, x)
    taps = ["layer2", "layer3"]
with h5py.File(a.out, "w") as f:
    f.create_dataset("input", data=x.numpy()[0])
    for t in taps + ["embedding"]:
        f.create_dataset(t, data=outs[t].numpy()[0])
print("wrote", a.out)
