#!/usr/bin/python3
"""Convert backbone weights into a tailedcore weights file (kind "weights").

    # a torchvision state_dict (.pth) of resnet18 or wide_resnet50_2
    /usr/bin/python3 analysis/convert_torchvision.py --pth wide_resnet50_2-32ee1156.pth \\
        --arch wide_resnet50_2 --out weights/wrn50.h5
    # random-init test weights (torch.manual_seed(S), torchvision's init;
    # BatchNorm statistics are randomised too so the folding is exercised)
    /usr/bin/python3 analysis/convert_torchvision.py --random wide_resnet50_2 --seed 0 --out /tmp/wrn50.h5
    /usr/bin/python3 analysis/convert_torchvision.py --random mobilenetv2_keras --seed 0 --out /tmp/mbv2.h5
    # raw tensors dumped by analysis/nsfwjs_to_raw.js (Keras MobileNetV2)
    /usr/bin/python3 analysis/convert_torchvision.py --nsfwjs-raw DIR --sha256 HEX --out weights/mobilenetv2.h5

File layout (src/backbone.h): one float32 dataset per tensor, convolutions
OIHW, depthwise [C, 1, kh, kw], BatchNorm NAME.weight/.bias/.running_mean/
.running_var; root attributes tc_kind="weights", tc_format_version=1,
backbone, layout, bn_eps, source, sha256 (of the source file).
"""
import argparse
import hashlib
import json
import os
import sys

import h5py
import numpy as np

ARCH = {"resnet18": "resnet18", "wide_resnet50_2": "wrn50", "wrn50": "wrn50"}


def write(out, tensors, backbone, layout, eps, source, sha):
    tmp = out + ".tmp"
    with h5py.File(tmp, "w") as f:
        # fixed-length ASCII strings (np.bytes_): h5py's default str
        # attributes are variable-length UTF-8, which h5fmt's reader cannot
        # convert to its ASCII memory type on HDF5 1.10
        f.attrs["tc_kind"] = np.bytes_("weights")
        f.attrs["tc_format_version"] = np.int64(1)
        f.attrs["backbone"] = np.bytes_(backbone)
        f.attrs["layout"] = np.bytes_(layout)
        f.attrs["bn_eps"] = float(eps)
        f.attrs["source"] = np.bytes_(source)
        f.attrs["sha256"] = np.bytes_(sha if sha else "none")
        for k, v in tensors.items():
            f.create_dataset(k, data=np.ascontiguousarray(v, dtype=np.float32))
    os.replace(tmp, out)
    print("wrote %s: %s, %d tensors, %.1f M values" % (out, backbone, len(tensors),
          sum(v.size for v in tensors.values()) / 1e6))


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as fp:
        for b in iter(lambda: fp.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def torchvision_tensors(sd):
    return {k: v.detach().cpu().numpy() for k, v in sd.items()
            if not k.endswith("num_batches_tracked") and not k.startswith("fc.")}


def random_bn(sd, seed):
    import torch
    g = torch.Generator().manual_seed(seed + 1)
    for k in list(sd):
        if k.endswith("running_mean"):
            sd[k] = (torch.rand(sd[k].shape, generator=g) - 0.5) * 0.2
        elif k.endswith("running_var"):
            sd[k] = torch.rand(sd[k].shape, generator=g) * 0.5 + 0.75
        elif k.endswith(".weight") and sd[k].dim() == 1:
            sd[k] = torch.rand(sd[k].shape, generator=g) * 0.5 + 0.75
        elif k.endswith(".bias") and sd[k].dim() == 1:
            sd[k] = (torch.rand(sd[k].shape, generator=g) - 0.5) * 0.2
    return sd


def mbv2_keras_random(seed):
    """Keras MobileNetV2 alpha 1.0 shapes (see tests/golden/make_cnn_fixtures.py)
    with He-uniform convolutions and random BatchNorm statistics."""
    sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "golden"))
    from make_cnn_fixtures import mbv2_spec
    rng = np.random.default_rng(seed)
    out = {}
    for name, shape in mbv2_spec():
        if len(shape) == 4:
            fan = shape[1] * shape[2] * shape[3]
            out[name] = rng.uniform(-1, 1, shape) * np.sqrt(3.0 / fan)
        elif name.endswith("running_var") or name.endswith(".weight"):
            out[name] = rng.uniform(0.75, 1.25, shape)
        else:
            out[name] = rng.uniform(-0.1, 0.1, shape)
    return out


def nsfwjs_tensors(raw_dir):
    """Keras names/layouts (HWIO kernels, [kh,kw,C,1] depthwise, gamma/beta/
    moving_mean/moving_variance) -> our names and OIHW."""
    with open(os.path.join(raw_dir, "index.json")) as fp:
        index = json.load(fp)
    data = np.fromfile(os.path.join(raw_dir, "weights.f32"), dtype="<f4")
    out = {}
    bn_map = {"gamma": "weight", "beta": "bias", "moving_mean": "running_mean",
              "moving_variance": "running_var"}
    for t in index["tensors"]:
        name, shape, off = t["name"], t["shape"], t["offset"]
        v = data[off:off + int(np.prod(shape))].reshape(shape)
        layer, _, var = name.rpartition("/")
        layer = layer.split("/")[-1]
        if var == "kernel" and v.ndim == 4:
            out[layer + ".weight"] = v.transpose(3, 2, 0, 1)  # HWIO -> OIHW
        elif var == "kernel":
            out[layer + ".weight"] = v  # the dense head, dropped below
        elif var == "depthwise_kernel":
            out[layer + ".weight"] = v.transpose(2, 3, 0, 1)  # [kh,kw,C,1] -> [C,1,kh,kw]
        elif var in bn_map:
            out[layer + "." + bn_map[var]] = v
        elif var == "bias":
            out[layer + ".bias"] = v
        else:
            print("skipping", name, file=sys.stderr)
    # keep only the trunk (drop the NSFW classification head)
    keep = {k: v for k, v in out.items()
            if k.split(".")[0].startswith(("Conv1", "bn_Conv1", "expanded_conv", "block_", "Conv_1"))}
    return keep


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pth")
    ap.add_argument("--arch", choices=sorted(ARCH))
    ap.add_argument("--random", choices=["resnet18", "wide_resnet50_2", "mobilenetv2_keras"])
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--nsfwjs-raw")
    ap.add_argument("--sha256", default="")
    ap.add_argument("--out", required=True)
    a = ap.parse_args()
    if a.nsfwjs_raw:
        write(a.out, nsfwjs_tensors(a.nsfwjs_raw), "mobilenetv2", "keras", 1e-3,
              "npm nsfwjs@4.4.0 dist/models/mobilenet_v2 (MIT); Keras MobileNetV2 ImageNet weights "
              "(Apache-2.0) up to block_10, blocks 11-16 and Conv_1 fine-tuned by nsfwjs", a.sha256)
    elif a.random == "mobilenetv2_keras":
        write(a.out, mbv2_keras_random(a.seed), "mobilenetv2", "keras", 1e-3,
              "random init, numpy seed %d" % a.seed, "")
    elif a.random:
        import torch
        import torchvision
        torch.manual_seed(a.seed)
        m = getattr(torchvision.models, a.random)()
        sd = random_bn(m.state_dict(), a.seed)
        write(a.out, torchvision_tensors(sd), ARCH[a.random], "torchvision", 1e-5,
              "torchvision %s random init, torch.manual_seed(%d)" % (a.random, a.seed), "")
    elif a.pth:
        import torch
        if not a.arch:
            ap.error("--pth needs --arch")
        sd = torch.load(a.pth, map_location="cpu")
        if "state_dict" in sd:
            sd = sd["state_dict"]
        write(a.out, torchvision_tensors(sd), ARCH[a.arch], "torchvision", 1e-5,
              "torchvision state_dict " + os.path.basename(a.pth), sha256_of(a.pth))
    else:
        ap.error("give --pth, --random or --nsfwjs-raw")


if __name__ == "__main__":
    main()
