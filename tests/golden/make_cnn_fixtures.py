#!/usr/bin/python3
"""Golden fixtures for the CNN runtime, the backbones and the patch embedding
(DESIGN 3.2), computed with torch / torchvision.

Regenerate (from the repository root):
    /usr/bin/python3 tests/golden/make_cnn_fixtures.py tests/golden
(writes tests/golden/cnn_fixtures.h5 and tests/golden/embed_fixtures.h5)

Read by tests/unit/test_cnn.c and tests/unit/test_embed.c. Tests never run
this script (CI has no torch).

Whole networks use weights (and inputs) from a counter-based formula that the
C test reproduces bit for bit (tc_formula below = formula_ in test_cnn.c), so
the fixture stores only the tensor names/shapes/roles and the reference
outputs, not megabytes of weights:
    z = (k + 1) * 0x9E3779B97F4A7C15 + i  (mod 2^64), k = tensor index, i = element
    z = splitmix64 finaliser(z); u = (z >> 40) / 2^24 in [0, 1)
    role 0 conv weight: (2u - 1) * sqrt(3 / fan_in)      role 1 BN gamma: 0.5 + u
    role 2 BN beta / bias: 0.2 (2u - 1)                     role 3 BN mean: 0.2 (2u - 1)
    role 4 BN var: 0.5 + u                                  role 5 input: 2u - 1
computed in float64, stored as float32.
"""
import sys

import h5py
import numpy as np
import torch
import torch.nn.functional as F
import torchvision

torch.set_grad_enabled(False)
torch.set_num_threads(1)
M64 = np.uint64(0xFFFFFFFFFFFFFFFF)


def tc_formula(k, shape, role, fan_in=1):
    n = int(np.prod(shape))
    with np.errstate(over="ignore"):
        z = np.uint64(k + 1) * np.uint64(0x9E3779B97F4A7C15) + np.arange(n, dtype=np.uint64)
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    u = (z >> np.uint64(40)).astype(np.float64) / float(1 << 24)
    if role == 0:
        v = (2 * u - 1) * np.sqrt(3.0 / fan_in)
    elif role in (1, 4):
        v = 0.5 + u
    elif role in (2, 3):
        v = 0.2 * (2 * u - 1)
    else:
        v = 2 * u - 1
    return v.astype(np.float32).reshape(shape)


def role_of(name, shape):
    if name.endswith("running_mean"):
        return 3
    if name.endswith("running_var"):
        return 4
    if name.endswith(".weight") and len(shape) == 4:
        return 0
    if name.endswith(".weight"):
        return 1
    return 2


def formula_state(names_shapes):
    """{name: tensor} with formula values, in the given order (k = position)."""
    out = {}
    for k, (name, shape) in enumerate(names_shapes):
        role = role_of(name, shape)
        fan = int(np.prod(shape[1:])) if role == 0 else 1
        out[name] = torch.from_numpy(tc_formula(k, shape, role, fan))
    return out


def write_spec(g, names_shapes):
    names = np.array([n.encode() for n, _ in names_shapes], dtype="S64")
    shapes = np.zeros((len(names_shapes), 6), dtype=np.int64)
    for k, (n, s) in enumerate(names_shapes):
        shapes[k, 0] = len(s)
        shapes[k, 1:1 + len(s)] = s
        shapes[k, 5] = role_of(n, s)
    g.create_dataset("spec_names", data=names)
    g.create_dataset("spec_shapes", data=shapes)


INPUT_K = 100000  # formula index of the input image


def formula_input(h, w):
    return torch.from_numpy(tc_formula(INPUT_K, (1, 3, h, w), 5))


# ------------------------------------------------------------ single layers
def tf_same_pad(x, k, s):
    h, w = x.shape[2], x.shape[3]
    pads = []
    for n in (w, h):
        o = (n + s - 1) // s
        t = max((o - 1) * s + k - n, 0)
        pads += [t // 2, t - t // 2]
    return F.pad(x, pads)


def layer_cases(f, rng):
    def t(*shape):
        return torch.from_numpy(rng.standard_normal(shape).astype(np.float32))

    def bn(c):
        return (torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)),
                torch.from_numpy(rng.uniform(-0.2, 0.2, c).astype(np.float32)),
                torch.from_numpy(rng.uniform(-0.2, 0.2, c).astype(np.float32)),
                torch.from_numpy(rng.uniform(0.5, 1.5, c).astype(np.float32)))

    cases = [
        # name, kind, cin, cout, k, stride, pad_mode(0 explicit, 1 tf same), pad, act, h, w, eps, bias
        ("conv3x3", "conv", 5, 7, 3, 1, 0, 1, 0, 9, 11, 1e-5, False),
        ("conv7x7s2", "conv", 3, 4, 7, 2, 0, 3, 1, 13, 12, 1e-5, False),
        ("conv1x1_relu6", "conv", 6, 5, 1, 1, 1, 0, 2, 7, 8, 1e-3, False),
        ("conv1x1s2", "conv", 6, 8, 1, 2, 0, 0, 0, 9, 8, 1e-5, False),
        ("conv3x3s2_same_even", "conv", 4, 6, 3, 2, 1, 0, 2, 10, 12, 1e-3, False),
        ("conv3x3s2_same_odd", "conv", 4, 6, 3, 2, 1, 0, 2, 9, 11, 1e-3, False),
        ("conv3x3_bias", "conv", 3, 5, 3, 1, 0, 1, 1, 6, 6, 1e-5, True),
        ("dw3x3_same", "dw", 6, 6, 3, 1, 1, 0, 2, 9, 10, 1e-3, False),
        ("dw3x3s2_same_even", "dw", 6, 6, 3, 2, 1, 0, 2, 10, 12, 1e-3, False),
        ("dw3x3s2_same_odd", "dw", 6, 6, 3, 2, 1, 0, 2, 9, 7, 1e-3, False),
    ]
    for (name, kind, cin, cout, k, s, mode, pad, act, h, w, eps, bias) in cases:
        g = f.create_group("layer/" + name)
        x = t(1, cin, h, w)
        wt = t(cout, 1 if kind == "dw" else cin, k, k) * (1.0 / np.sqrt(cin * k * k))
        b = t(cout) * 0.1 if bias else None
        gam, bet, mu, var = bn(cout)
        xin = tf_same_pad(x, k, s) if mode == 1 else x
        y = F.conv2d(xin, wt, b, stride=s, padding=0 if mode == 1 else pad,
                     groups=cin if kind == "dw" else 1)
        y = F.batch_norm(y, mu, var, gam, bet, training=False, eps=eps)
        if act == 1:
            y = F.relu(y)
        elif act == 2:
            y = F.relu6(y)
        for key, v in (("x", x), ("w", wt), ("gamma", gam), ("beta", bet), ("mean", mu),
                       ("var", var), ("y", y)):
            g.create_dataset(key, data=v.numpy()[0] if key in ("x", "y") else v.numpy())
        if b is not None:
            g.create_dataset("b", data=b.numpy())
        for key, v in (("depthwise", int(kind == "dw")), ("cin", cin), ("cout", cout), ("k", k),
                       ("stride", s), ("pad_mode", mode), ("pad", pad), ("act", act), ("eps", eps)):
            g.attrs[key] = v
    # max pool (torchvision's 3x3 s2 p1), add + relu, global average pool
    g = f.create_group("layer/maxpool")
    x = t(1, 4, 9, 10)
    g.create_dataset("x", data=x.numpy()[0])
    g.create_dataset("y", data=F.max_pool2d(x, 3, 2, 1).numpy()[0])
    g = f.create_group("layer/add_relu")
    a, b = t(1, 3, 5, 6), t(1, 3, 5, 6)
    g.create_dataset("a", data=a.numpy()[0])
    g.create_dataset("b", data=b.numpy()[0])
    g.create_dataset("y", data=F.relu(a + b).numpy()[0])
    g = f.create_group("layer/gap")
    x = t(1, 5, 7, 9)
    g.create_dataset("x", data=x.numpy()[0])
    g.create_dataset("y", data=x.mean(dim=(2, 3)).numpy()[0])


# ------------------------------------------------------------- patch embedding
def patchcore_embed(maps, D):
    """PatchCore's torch code for DESIGN 3.2 (patchcore/patchcore.py +
    common.py: PatchMaker.patchify, the interpolation loop, Preprocessing
    (MeanMapper = adaptive_avg_pool1d) and Aggregator)."""
    feats, shapes = [], []
    for m in maps:  # [1, C, h, w]
        C, h, w = m.shape[1:]
        u = F.unfold(m, kernel_size=3, stride=1, padding=1, dilation=1)  # [1, C*9, h*w]
        u = u.reshape(1, C, 3, 3, h * w).permute(0, 4, 1, 2, 3)  # [1, hw, C, 3, 3]
        feats.append(u)
        shapes.append((h, w))
    ref = shapes[0]
    for i in range(1, len(feats)):
        fe = feats[i]
        h, w = shapes[i]
        fe = fe.reshape(fe.shape[0], h, w, *fe.shape[2:])
        fe = fe.permute(0, -3, -2, -1, 1, 2)
        base = fe.shape
        fe = fe.reshape(-1, *fe.shape[-2:])
        fe = F.interpolate(fe.unsqueeze(1), size=(ref[0], ref[1]), mode="bilinear",
                           align_corners=False)
        fe = fe.squeeze(1)
        fe = fe.reshape(*base[:-2], ref[0], ref[1])
        fe = fe.permute(0, -2, -1, 1, 2, 3)
        fe = fe.reshape(len(fe), -1, *fe.shape[-3:])
        feats[i] = fe
    feats = [x.reshape(-1, *x.shape[-3:]) for x in feats]  # [P, C, 3, 3]
    pooled = [F.adaptive_avg_pool1d(x.reshape(len(x), 1, -1), D).squeeze(1) for x in feats]
    st = torch.stack(pooled, dim=1)  # [P, L, D]
    st = st.reshape(len(st), 1, -1)
    return F.adaptive_avg_pool1d(st, D).reshape(len(st), -1)


def embed_cases(f, rng):
    cases = [
        ("two_layers", [(6, 7, 7), (10, 4, 4)], 16),
        ("repeat_values", [(3, 5, 6), (5, 3, 3)], 100),
        ("three_layers", [(4, 8, 8), (6, 4, 4), (5, 2, 3)], 24),
        ("odd_ratio", [(8, 14, 14), (12, 7, 7)], 32),
    ]
    for name, shapes, D in cases:
        g = f.create_group("embed/" + name)
        maps = [torch.from_numpy(rng.standard_normal((1,) + s).astype(np.float32)) for s in shapes]
        for i, m in enumerate(maps):
            g.create_dataset("map%d" % i, data=m.numpy()[0])
        g.attrs["nlayers"] = len(maps)
        g.attrs["D"] = D
        g.create_dataset("y", data=patchcore_embed(maps, D).numpy())
    # adaptive pool bins on their own
    g = f.create_group("embed/pool")
    x = torch.from_numpy(rng.standard_normal(37).astype(np.float32))
    g.create_dataset("x", data=x.numpy())
    for n in (5, 37, 50, 100):
        g.create_dataset("y%d" % n, data=F.adaptive_avg_pool1d(x.reshape(1, 1, -1), n).reshape(-1).numpy())


# ------------------------------------------------------------- whole networks
def torchvision_state_spec(model):
    return [(k, tuple(v.shape)) for k, v in model.state_dict().items()
            if not k.endswith("num_batches_tracked") and not k.startswith("fc.")]


def run_resnet(model, x):
    model.eval()
    outs = {}
    y = model.maxpool(model.relu(model.bn1(model.conv1(x))))
    for l in range(1, 5):
        y = getattr(model, "layer%d" % l)(y)
        outs["layer%d" % l] = y
    outs["embedding"] = y.mean(dim=(2, 3))
    return outs


def small_wrn50():
    """torchvision's Bottleneck ResNet-50-2 structure ([3,4,6,3] blocks, inner
    width 2x planes, expansion 4) with planes 4/8/16/32 instead of 64..512."""
    from torchvision.models.resnet import Bottleneck, ResNet
    m = ResNet(Bottleneck, [3, 4, 6, 3], width_per_group=128)
    m.conv1 = torch.nn.Conv2d(3, 8, 7, 2, 3, bias=False)
    m.bn1 = torch.nn.BatchNorm2d(8)
    m.inplanes = 8
    m.layer1 = m._make_layer(Bottleneck, 4, 3)
    m.layer2 = m._make_layer(Bottleneck, 8, 4, stride=2)
    m.layer3 = m._make_layer(Bottleneck, 16, 6, stride=2)
    m.layer4 = m._make_layer(Bottleneck, 32, 3, stride=2)
    m.fc = torch.nn.Identity()
    return m


# Keras MobileNetV2 alpha 1.0, in torch, from a dict of OIHW tensors.
MBV2_BLOCKS = [(24, 2), (24, 1), (32, 2), (32, 1), (32, 1), (64, 2), (64, 1), (64, 1), (64, 1),
               (96, 1), (96, 1), (96, 1), (160, 2), (160, 1), (160, 1), (320, 1)]


def mbv2_spec(width=1.0):
    def c(n):
        return int(n * width) if width != 1.0 else n
    spec = []

    def conv(name, cout, cin, k, dw=False):
        spec.append((name + ".weight", (cout, 1 if dw else cin, k, k)))

    def bn(name, ch):
        for s in ("weight", "bias", "running_mean", "running_var"):
            spec.append(("%s.%s" % (name, s), (ch,)))
    conv("Conv1", 32, 3, 3)
    bn("bn_Conv1", 32)
    conv("expanded_conv_depthwise", 32, 32, 3, dw=True)
    bn("expanded_conv_depthwise_BN", 32)
    conv("expanded_conv_project", 16, 32, 1)
    bn("expanded_conv_project_BN", 16)
    cin = 16
    for i, (cout, s) in enumerate(MBV2_BLOCKS, start=1):
        p = "block_%d" % i
        e = cin * 6
        conv(p + "_expand", e, cin, 1)
        bn(p + "_expand_BN", e)
        conv(p + "_depthwise", e, e, 3, dw=True)
        bn(p + "_depthwise_BN", e)
        conv(p + "_project", cout, e, 1)
        bn(p + "_project_BN", cout)
        cin = cout
    conv("Conv_1", 1280, 320, 1)
    bn("Conv_1_bn", 1280)
    return spec


def mbv2_forward(W, x, eps=1e-3):
    outs = {}

    def cbn(x, conv, bnn, s, dw, act):
        w = W[conv + ".weight"]
        k = w.shape[-1]
        # Keras: ZeroPadding2D((0,1),(0,1)) + 'valid' before stride 2
        x = F.pad(x, (0, 1, 0, 1)) if s == 2 else tf_same_pad(x, k, s)
        x = F.conv2d(x, w, None, stride=s, groups=w.shape[0] if dw else 1)
        x = F.batch_norm(x, W[bnn + ".running_mean"], W[bnn + ".running_var"], W[bnn + ".weight"],
                         W[bnn + ".bias"], training=False, eps=eps)
        return F.relu6(x) if act else x
    x = cbn(x, "Conv1", "bn_Conv1", 2, False, True)
    x = cbn(x, "expanded_conv_depthwise", "expanded_conv_depthwise_BN", 1, True, True)
    x = cbn(x, "expanded_conv_project", "expanded_conv_project_BN", 1, False, False)
    for i, (cout, s) in enumerate(MBV2_BLOCKS, start=1):
        p = "block_%d" % i
        y = cbn(x, p + "_expand", p + "_expand_BN", 1, False, True)
        y = cbn(y, p + "_depthwise", p + "_depthwise_BN", s, True, True)
        y = cbn(y, p + "_project", p + "_project_BN", 1, False, False)
        outs[p + "_project_BN"] = y
        if s == 1 and y.shape[1] == x.shape[1]:
            y = x + y
            outs[p + "_add"] = y
        x = y
    x = cbn(x, "Conv_1", "Conv_1_bn", 1, False, True)
    outs["out_relu"] = x
    outs["embedding"] = x.mean(dim=(2, 3))
    return outs


def net_cases(f):
    H = W_ = 64
    x = formula_input(H, W_)
    # resnet18, full size
    m = torchvision.models.resnet18()
    spec = torchvision_state_spec(m)
    m.load_state_dict(formula_state(spec), strict=False)
    outs = run_resnet(m, x)
    g = f.create_group("net/resnet18")
    write_spec(g, spec)
    g.attrs["layout"], g.attrs["eps"], g.attrs["h"], g.attrs["w"] = "torchvision", 1e-5, H, W_
    # layer2 is checked through the patch features (which depend on it)
    for k in ("layer3", "embedding"):
        g.create_dataset(k, data=outs[k].numpy()[0])
    g.create_dataset("patch_D64", data=patchcore_embed([outs["layer2"], outs["layer3"]], 64).numpy())
    # wrn50 structure, width-reduced
    m = small_wrn50()
    spec = torchvision_state_spec(m)
    m.load_state_dict(formula_state(spec), strict=False)
    outs = run_resnet(m, x)
    g = f.create_group("net/wrn50_small")
    write_spec(g, spec)
    g.attrs["layout"], g.attrs["eps"], g.attrs["h"], g.attrs["w"] = "torchvision", 1e-5, H, W_
    for k in ("layer2", "layer3", "embedding"):
        g.create_dataset(k, data=outs[k].numpy()[0])
    # Keras MobileNetV2, full size
    spec = mbv2_spec()
    Wd = formula_state(spec)
    outs = mbv2_forward(Wd, x)
    g = f.create_group("net/mobilenetv2")
    write_spec(g, spec)
    g.attrs["layout"], g.attrs["eps"], g.attrs["h"], g.attrs["w"] = "keras", 1e-3, H, W_
    for k in ("block_5_add", "block_10_project_BN", "embedding"):
        g.create_dataset(k, data=outs[k].numpy()[0])
    g.create_dataset("patch_D64", data=patchcore_embed(
        [outs["block_5_add"], outs["block_10_project_BN"]], 64).numpy())
    # odd input size: the stride-2 padding stays bottom/right only
    x2 = formula_input(57, 45)
    outs = mbv2_forward(Wd, x2)
    g.create_dataset("odd_block_5_add", data=outs["block_5_add"].numpy()[0])
    g.create_dataset("odd_embedding", data=outs["embedding"].numpy()[0])
    g.attrs["odd_h"], g.attrs["odd_w"] = 57, 45


def main():
    outdir = sys.argv[1] if len(sys.argv) > 1 else "tests/golden"
    rng = np.random.default_rng(20240603)
    for name, fill in (("cnn_fixtures.h5", lambda f: (layer_cases(f, rng), net_cases(f))),
                       ("embed_fixtures.h5", lambda f: embed_cases(f, rng))):
        path = outdir + "/" + name
        with h5py.File(path, "w") as f:
            f.attrs["magic"] = "tailedcore-golden-" + name.split("_")[0]
            f.attrs["version"] = 1
            f.attrs["torch"] = str(torch.__version__)
            f.attrs["torchvision"] = str(torchvision.__version__)
            f.attrs["input_k"] = INPUT_K
            fill(f)
        print("wrote", path)


if __name__ == "__main__":
    main()
