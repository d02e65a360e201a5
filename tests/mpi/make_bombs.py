#!/usr/bin/env python3
"""make_bombs.py OUTDIR - the hostile images of issue 19 ("decompression and
resize bombs"), made at test time so no large file is committed. Needs PIL.

Refused (exit 3, one line):
  jpeg_32768_base.jpg   baseline RGB JPEG whose SOF declares 32768 x 32768,
                        scan data of a 64 x 64 gradient (about 1.5 KB)
  jpeg_32768_gray.jpg   the same, grayscale (under 1 KB)
  jpeg_prog_bomb.jpg    progressive RGB JPEG declaring 32768 x 32768 (~1.2 KB)
  jpeg_8000_base.jpg    baseline RGB declaring 8000 x 8000 (under the pixel
                        limit, over the file-size bound)
  jpeg_1x65500_cut.jpg  1 x 65500 gray JPEG cut to 633 bytes + EOI
  png_999999x16_bomb.png IHDR 999999 x 16 RGB, the IDAT of a 64 x 16 image
  jpeg_missing.jpg      2000 x 1500 noise JPEG, second half of the scan
                        replaced by EOI (data segment ends early; inside
                        the file-size bound, so libjpeg's warning must stop it)
  jpeg_prog_missing.jpg the same, progressive
  trunc.jpg trunc.png trunc.tif  1000 x 800 noise images cut at 60%
Accepted (exit 0, small memory):
  jpeg_1x65500.jpg      valid 1 x 65500 gray JPEG (resized 256 x 16768000)
  png_999999x16.png     valid 999999 x 16 gray PNG (resized 15999984 x 256)
  photo_4000x3000.jpg   valid 4000 x 3000 photo-like JPEG
"""
import os
import struct
import sys
import zlib

from PIL import Image

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def path(name):
    return os.path.join(out, name)


def noise(w, h, mode="RGB", seed=1):
    import random
    rnd = random.Random(seed)
    n = w * h * (3 if mode == "RGB" else 1)
    im = Image.frombytes(mode, (w, h), bytes(rnd.getrandbits(8) for _ in range(n)))
    return im


def jpeg_bytes(im, **kw):
    import io
    b = io.BytesIO()
    im.save(b, "JPEG", **kw)
    return b.getvalue()


def patch_sof(data, w, h):
    """Set the frame size in the first SOF0/SOF1/SOF2 segment."""
    i = 2
    while i < len(data):
        assert data[i] == 0xFF
        m = data[i + 1]
        seglen = struct.unpack(">H", data[i + 2:i + 4])[0]
        if m in (0xC0, 0xC1, 0xC2):
            return data[:i + 5] + struct.pack(">HH", h, w) + data[i + 9:]
        i += 2 + seglen
    raise ValueError("no SOF")


def sos_end(data):
    """Offset of the first byte of entropy-coded data of the first scan."""
    i = 2
    while True:
        m = data[i + 1]
        seglen = struct.unpack(">H", data[i + 2:i + 4])[0]
        if m == 0xDA:
            return i + 2 + seglen
        i += 2 + seglen


def write(name, data):
    with open(path(name), "wb") as f:
        f.write(data)


small = Image.merge("RGB", [Image.linear_gradient("L").resize((64, 64))] * 3)
write("jpeg_32768_base.jpg", patch_sof(jpeg_bytes(small, quality=90), 32768, 32768))
write("jpeg_32768_gray.jpg", patch_sof(jpeg_bytes(small.convert("L"), quality=90), 32768, 32768))
write("jpeg_prog_bomb.jpg", patch_sof(jpeg_bytes(small, quality=75, progressive=True), 32768, 32768))
write("jpeg_8000_base.jpg", patch_sof(jpeg_bytes(small, quality=90), 8000, 8000))

valid = jpeg_bytes(Image.new("L", (1, 65500), 128))
write("jpeg_1x65500.jpg", valid)
write("jpeg_1x65500_cut.jpg", valid[:631] + b"\xff\xd9")

Image.new("L", (999999, 16), 0).save(path("png_999999x16.png"), optimize=True)


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


raw = b"".join(b"\0" + bytes(64 * 3) for _ in range(16))
write("png_999999x16_bomb.png", b"\x89PNG\r\n\x1a\n"
      + png_chunk(b"IHDR", struct.pack(">IIBBBBB", 999999, 16, 8, 2, 0, 0, 0))
      + png_chunk(b"IDAT", zlib.compress(raw, 9)) + png_chunk(b"IEND", b""))

big = noise(2000, 1500, seed=3)
for name, kw in (("jpeg_missing.jpg", {}), ("jpeg_prog_missing.jpg", {"progressive": True})):
    d = jpeg_bytes(big, quality=90, **kw)
    s = sos_end(d)
    write(name, d[:s + (len(d) - s) // 2] + b"\xff\xd9")

mid = noise(1000, 800, seed=4)
for ext, fmt in (("jpg", "JPEG"), ("png", "PNG"), ("tif", "TIFF")):
    mid.save(path("full." + ext), fmt)
    with open(path("full." + ext), "rb") as f:
        d = f.read()
    write("trunc." + ext, d[:int(len(d) * 0.6)])

# photo-like: smooth gradients plus mild noise, as a camera JPEG
w, h = 4000, 3000
grad = Image.linear_gradient("L").resize((w, h))
photo = Image.merge("RGB", (grad, grad.transpose(Image.Transpose.ROTATE_180),
                            Image.radial_gradient("L").resize((w, h))))
photo.save(path("photo_4000x3000.jpg"), quality=90)
