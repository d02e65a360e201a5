#!/usr/bin/python3
"""Golden fixtures for tests/unit/test_image.c (image decoding, DESIGN 3.1
preprocessing, masks, DESIGN 3.6 step 8 views).

Regenerate (from the repository root, with Debian's python3: numpy, PIL,
torch, torchvision, h5py):

    /usr/bin/python3 tests/golden/make_image_fixtures.py

Writes
  tests/golden/images/*   small image files of every kind (PNG, JPEG, TIFF)
  tests/golden/image_ref.h5  the references (gzip, split in two files to keep
                             each small), root attributes
                             magic = "tailedcore-image-golden", version = 1:
    decode/<file>       uint8 [h, w, 3]  expected tc_image_read
    decode_gray/<file>  uint8 [h, w]     expected tc_image_read_gray
    resize/<case>       uint8 [H, W, c]  PIL resize (+ torchvision CenterCrop)
                                         of a procedural source (pattern()
                                         below, re-implemented in the C test)
    norm/imagenet       float32 [3, 256] ToTensor+Normalize of value v
    norm/keras          float32 [256]    v / 127.5 - 1 in float32
    pre_u8/photo        uint8 [224, 224, 3] Resize(256) + CenterCrop(224) of it
    pre/photo           float32 [3, 28, 28] torchvision Resize(256),
                                         CenterCrop(224), ToTensor, Normalize
                                         of images/photo.png, every 8th
                                         row and column
    mask/mask           uint8 [224, 224] (ToTensor(Resize+CenterCrop(mask))
                                         == 1.0) of images/mask.png
  tests/golden/image_views_ref.h5 (same attributes):
    views/<case>        uint8 [n, crop, crop, 3] torchvision hflip, pad(edge),
                                         rotate(NEAREST), CenterCrop views

Rules pinned here (and in src/image.h, src/augment.h): 16-bit samples become
round(v * 255 / 65535) (numpy, not PIL, which clips or truncates); alpha is
dropped; colour -> gray is PIL's convert("L").
"""
import math
import os

import h5py
import numpy as np
import torch
import torchvision.transforms as T
import torchvision.transforms.functional as F
from PIL import Image

# Byte-identical regeneration: no modification times in the HDF5 files.
_create_dataset = h5py.Group.create_dataset


def _create_dataset_untimed(self, *args, **kw):
    kw.setdefault("track_times", False)
    return _create_dataset(self, *args, **kw)


def _create_group_untimed(self, name):
    gcpl = h5py.h5p.create(h5py.h5p.GROUP_CREATE)
    gcpl.set_obj_track_times(False)
    return h5py.Group(h5py.h5g.create(self.id, name if isinstance(name, bytes) else name.encode(), gcpl=gcpl))


def _h5_create(path):
    """h5py.File(path, "w", libver="latest") with untimed root group."""
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_libver_bounds(h5py.h5f.LIBVER_LATEST, h5py.h5f.LIBVER_LATEST)
    fcpl = h5py.h5p.create(h5py.h5p.FILE_CREATE)
    fcpl.set_obj_track_times(False)
    return h5py.File(h5py.h5f.create(path.encode(), h5py.h5f.ACC_TRUNC, fapl=fapl, fcpl=fcpl))


h5py.Group.create_dataset = _create_dataset_untimed
h5py.Group.create_group = _create_group_untimed

HERE = os.path.dirname(os.path.abspath(__file__))
IMG = os.path.join(HERE, "images")


def pattern(kind, w, h, c):
    """Procedural uint8 image [h, w, c]; integer-only so C reproduces it."""
    y, x = np.mgrid[0:h, 0:w].astype(np.int64)
    out = np.zeros((h, w, c), np.uint8)
    for ch in range(c):
        if kind == "A":  # high frequency: stresses the antialiasing filter
            v = ((x * (3 + ch) + y * (5 + 2 * ch)) ^ ((x * y) >> (3 + ch))) & 255
        else:  # "B": smooth rings
            v = ((x * x * (ch + 1) + y * y * (3 - ch) + 7 * x * y) >> 9) & 255
        out[..., ch] = v
    return out


def to8(v16):
    return np.floor(v16.astype(np.float64) * 255.0 / 65535.0 + 0.5).astype(np.uint8)


def pil_gray(rgb):
    return np.array(Image.fromarray(rgb, "RGB").convert("L"))


def write_images(h5):
    os.makedirs(IMG, exist_ok=True)
    dec = h5.create_group("decode")
    decg = h5.create_group("decode_gray")

    def put(name, rgb, gray):
        dec.create_dataset(name, data=rgb, compression="gzip", compression_opts=9)
        decg.create_dataset(name, data=gray, compression="gzip", compression_opts=9)

    w, h = 48, 40
    rgb = pattern("B", w, h, 3)
    rgb[5:15, 30:44] = (250, 10, 128)  # a flat block so JPEG has edges too
    alpha = pattern("A", w, h, 1)[..., 0]
    gray = pattern("A", w, h, 1)[..., 0]
    g16 = (gray.astype(np.uint32) * 257 + (pattern("B", w, h, 1)[..., 0] & 0xFF)).astype(np.uint16)
    rgba = np.dstack([rgb, alpha])

    def save(name, im, **kw):
        im.save(os.path.join(IMG, name), **kw)

    # PNG
    save("png_rgb.png", Image.fromarray(rgb, "RGB"))
    put("png_rgb.png", rgb, pil_gray(rgb))
    save("png_rgba.png", Image.fromarray(rgba, "RGBA"))
    put("png_rgba.png", rgb, pil_gray(rgb))
    save("png_gray.png", Image.fromarray(gray, "L"))
    put("png_gray.png", np.dstack([gray] * 3), gray)
    save("png_la.png", Image.fromarray(np.dstack([gray, alpha]), "LA"))
    put("png_la.png", np.dstack([gray] * 3), gray)
    im16 = Image.fromarray(g16, "I;16")
    save("png_gray16.png", im16)
    put("png_gray16.png", np.dstack([to8(g16)] * 3), to8(g16))
    pal = Image.fromarray(rgb, "RGB").quantize(colors=16)
    save("png_palette.png", pal)
    prgb = np.array(pal.convert("RGB"))
    put("png_palette.png", prgb, pil_gray(prgb))
    save("png_palette_trns.png", pal, transparency=3)
    put("png_palette_trns.png", prgb, pil_gray(prgb))
    bil = Image.fromarray(gray > 128)
    save("png_bilevel.png", bil)
    b8 = np.array(bil.convert("L"))
    put("png_bilevel.png", np.dstack([b8] * 3), b8)

    # JPEG: PIL decodes with the same libjpeg-turbo defaults as ours.
    for name, im, kw in [
        ("jpg_rgb.jpg", Image.fromarray(rgb, "RGB"), dict(quality=90)),
        ("jpg_rgb444.jpg", Image.fromarray(rgb, "RGB"), dict(quality=95, subsampling=0)),
        ("jpg_progressive.jpg", Image.fromarray(rgb, "RGB"), dict(quality=85, progressive=True)),
        ("jpg_gray.jpg", Image.fromarray(gray, "L"), dict(quality=90)),
    ]:
        save(name, im, **kw)
        back = Image.open(os.path.join(IMG, name))
        back.load()
        if back.mode == "L":
            g = np.array(back)
            put(name, np.dstack([g] * 3), g)
        else:
            r = np.array(back.convert("RGB"))
            put(name, r, pil_gray(r))
    save("jpg_cmyk.jpg", Image.fromarray(rgb, "RGB").convert("CMYK"), quality=90)  # refused

    # TIFF (strips; tiles / 16-bit RGB / planar separate are written by the C
    # test with libtiff, PIL cannot write them)
    save("tif_rgb.tif", Image.fromarray(rgb, "RGB"))
    put("tif_rgb.tif", rgb, pil_gray(rgb))
    save("tif_rgb_lzw.tif", Image.fromarray(rgb, "RGB"), compression="tiff_lzw")
    put("tif_rgb_lzw.tif", rgb, pil_gray(rgb))
    save("tif_rgb_deflate.tif", Image.fromarray(rgb, "RGB"), compression="tiff_adobe_deflate")
    put("tif_rgb_deflate.tif", rgb, pil_gray(rgb))
    save("tif_rgba.tif", Image.fromarray(rgba, "RGBA"), compression="tiff_lzw")
    put("tif_rgba.tif", rgb, pil_gray(rgb))
    save("tif_gray.tif", Image.fromarray(gray, "L"))
    put("tif_gray.tif", np.dstack([gray] * 3), gray)
    save("tif_gray16.tif", im16)
    put("tif_gray16.tif", np.dstack([to8(g16)] * 3), to8(g16))
    save("tif_palette.tif", pal)
    put("tif_palette.tif", prgb, pil_gray(prgb))
    save("tif_bilevel.tif", bil)
    put("tif_bilevel.tif", np.dstack([b8] * 3), b8)
    save("tif_float.tif", Image.fromarray(gray.astype(np.float32), "F"))  # refused

    # Preprocessing of a file end to end, and a mask.
    pw, ph = 480, 360
    y, x = np.mgrid[0:ph, 0:pw]
    photo = np.zeros((ph, pw, 3), np.uint8)
    photo[..., 0] = (x * 255 // (pw - 1))
    photo[..., 1] = (y * 255 // (ph - 1))
    photo[..., 2] = 128
    disk = (x - 220) ** 2 + (y - 170) ** 2 < 90 ** 2
    photo[disk] = (230, 40, 30)
    photo[150:180, 300:450] = (20, 20, 200)
    photo[::16, :] = 255  # thin lines: aliasing-sensitive
    Image.fromarray(photo, "RGB").save(os.path.join(IMG, "photo.png"))
    tf = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor(),
                    T.Normalize(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))])
    t = tf(Image.open(os.path.join(IMG, "photo.png")).convert("RGB")).numpy()
    h5.create_dataset("pre/photo", data=t[:, ::8, ::8].astype(np.float32))
    u8 = F.center_crop(F.resize(Image.open(os.path.join(IMG, "photo.png")).convert("RGB"), 256), 224)
    h5.create_dataset("pre_u8/photo", data=np.array(u8), compression="gzip", compression_opts=9)

    mw, mh = 300, 200
    y, x = np.mgrid[0:mh, 0:mw]
    m = np.zeros((mh, mw), np.uint8)
    m[((x - 90) ** 2 + (y - 100) ** 2) < 40 ** 2] = 255
    m[30:60, 180:260] = 255
    m[150:152, 150:290] = 255  # thin: partly below 255 after resizing
    Image.fromarray(m, "L").save(os.path.join(IMG, "mask.png"))
    tm = T.Compose([T.Resize(256), T.CenterCrop(224), T.ToTensor()])
    mt = tm(Image.open(os.path.join(IMG, "mask.png")))[0].numpy()
    h5.create_dataset("mask/mask", data=(mt >= 1.0).astype(np.uint8), compression="gzip",
                      compression_opts=9)


# name, pattern, sw, sh, c, mode, a, b: mode "pre" = Resize(a) + CenterCrop(b)
# (torchvision), "raw" = PIL resize to (a, b). The C test has the same table.
RESIZE_CASES = [
    ("down_A", "A", 300, 200, 3, "pre", 120, 100),
    ("up_small", "B", 130, 90, 3, "pre", 64, 56),
    ("odd_crop", "B", 257, 333, 3, "pre", 64, 55),
    ("heavy_down", "A", 1000, 700, 3, "pre", 64, 56),
    ("gray", "A", 97, 61, 1, "pre", 40, 33),
    ("raw_mixed", "A", 97, 61, 3, "raw", 150, 40),
    ("raw_h_only", "A", 50, 40, 3, "raw", 90, 40),
    ("raw_v_only", "A", 50, 40, 3, "raw", 50, 70),
    ("raw_down_4ch", "A", 77, 55, 2, "raw", 20, 13),
]

# name, pattern, sw, sh, resize, crop, step (degrees)
VIEW_CASES = [
    ("rect_rot15flip", "B", 70, 50, 40, 32, 15),
    ("square_rotflip", "A", 50, 50, 40, 32, 90),
    ("photo_rot30", "photo", 0, 0, 256, 224, 30),
]


def pad_amount(rw, rh, crop):
    return max(0, math.ceil(crop / math.sqrt(2.0) - min(rw, rh) / 2.0) + 2)


def write_resize(h5):
    for name, kind, sw, sh, c, mode, a, b in RESIZE_CASES:
        src = pattern(kind, sw, sh, c)
        if c == 1:
            im = Image.fromarray(src[..., 0], "L")
        elif c == 2:
            im = Image.fromarray(src, "LA")
        else:
            im = Image.fromarray(src, "RGB")
        if mode == "pre":
            out = F.center_crop(F.resize(im, a), b)
        else:
            if c == 2:  # no premultiplication: resize the two bands as L images
                bands = [Image.fromarray(src[..., i], "L").resize((a, b), Image.BILINEAR) for i in range(2)]
                out = np.dstack([np.array(x) for x in bands])
            else:
                out = im.resize((a, b), Image.BILINEAR)
        arr = np.array(out)
        if arr.ndim == 2:
            arr = arr[..., None]
        h5.create_dataset("resize/" + name, data=arr, compression="gzip", compression_opts=9)


def write_norm(h5):
    v = np.arange(256, dtype=np.uint8)
    img = Image.fromarray(np.stack([v, v, v], axis=-1)[None, :, :], "RGB")  # 1 x 256
    t = F.normalize(F.to_tensor(img), mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
    h5.create_dataset("norm/imagenet", data=t[:, 0, :].numpy().astype(np.float32))
    k = torch.from_numpy(v.astype(np.float32)) / 127.5 - 1.0
    h5.create_dataset("norm/keras", data=k.numpy().astype(np.float32))


def write_views(h5):
    for name, kind, sw, sh, size, crop, step in VIEW_CASES:
        if kind == "photo":
            im = Image.open(os.path.join(IMG, "photo.png")).convert("RGB")
        else:
            im = Image.fromarray(pattern(kind, sw, sh, 3), "RGB")
        res = F.resize(im, size)
        rw, rh = res.size
        p = pad_amount(rw, rh, crop)
        n = 360 // step
        specs = [(0, (v + 1) * step) for v in range(n - 1)] + [(1, v * step) for v in range(n)]
        if name == "photo_rot30":  # keep the fixture small: 1 view at full size
            specs = [specs[n + 3]]
        views = []
        for flip, ang in specs:
            x = F.hflip(res) if flip else res
            x = F.pad(x, p, padding_mode="edge")
            x = F.rotate(x, ang, interpolation=T.InterpolationMode.NEAREST)
            views.append(np.array(F.center_crop(x, crop)))
        ds = h5.create_dataset("views/" + name, data=np.stack(views), compression="gzip",
                               compression_opts=9)
        ds.attrs["flip"] = np.array([s[0] for s in specs], np.int32)
        ds.attrs["angle"] = np.array([s[1] for s in specs], np.int32)
        ds.attrs["pad"] = p


def main():
    path = os.path.join(HERE, "image_ref.h5")
    with _h5_create(path) as h5:
        h5.attrs["magic"] = "tailedcore-image-golden"
        h5.attrs["version"] = np.int32(1)
        write_images(h5)
        write_resize(h5)
        write_norm(h5)
    vpath = os.path.join(HERE, "image_views_ref.h5")
    with _h5_create(vpath) as h5:
        h5.attrs["magic"] = "tailedcore-image-golden"
        h5.attrs["version"] = np.int32(1)
        write_views(h5)
    total = os.path.getsize(path) + os.path.getsize(vpath) + sum(os.path.getsize(os.path.join(IMG, f)) for f in os.listdir(IMG))
    print(f"wrote {path} and {len(os.listdir(IMG))} images, {total / 1024:.0f} KB in all")


if __name__ == "__main__":
    main()
