#!/usr/bin/python3
"""gen_seeds.py OUTDIR - the image seed corpus of `make fuzz` (tests/fuzz/seeds/).

Small valid images of every layout the decoders accept, each well under 4 KB,
so a mutant is one or two mutations away from every decoder branch. TIFFs are
written by hand (not PIL) because PIL cannot write 16-bit RGB(A), tiles or
planar-separate files, and a hand-made IFD also keeps the byte layout stable
for the header mutator. PNG and JPEG come from PIL. Deterministic: the same
bytes on every run, so the committed corpus can be regenerated and diffed.
"""
import io
import os
import struct
import sys
import zlib

import numpy as np
from PIL import Image

W, H = 20, 12  # not square and not a multiple of the 16-pixel tiles: partial tiles


def pixels(spp, bits):
    """Smooth gradients, different per channel: compress well, decode non-trivially."""
    y, x = np.mgrid[0:H, 0:W]
    chans = [(x * 13 + y * 7 + c * 50) % 256 for c in range(spp)]
    a = np.stack(chans, axis=-1).astype(np.uint16)
    if bits == 16:
        return (a * 257 + (x[..., None] % 3)).astype('<u2')
    if bits == 1:
        return ((x + y) % 3 == 0).astype(np.uint8)[..., None]
    return a.astype(np.uint8)


def pack_rows(a, bits):
    """Rows of the (h, w, spp) array as TIFF sample bytes (1-bit packed MSB first)."""
    if bits == 1:
        return b''.join(np.packbits(row[:, 0]).tobytes() for row in a)
    return b''.join(row.tobytes() for row in a)


def tiff(bits, spp, photometric, tiles=False, planar=1, compression=1, extra=None, be=False):
    a = pixels(spp, bits)
    if be and bits == 16:
        a = a.astype('>u2')
    e = '>' if be else '<'
    comp = (lambda b: zlib.compress(b, 9)) if compression == 8 else (lambda b: b)
    planes = [a[..., s:s + 1] for s in range(spp)] if planar == 2 else [a]
    blocks = []
    if tiles:
        tw = th = 16
        for p in planes:
            for ty in range(0, H, th):
                for tx in range(0, W, tw):
                    t = np.zeros((th, tw, p.shape[2]), dtype=p.dtype)
                    part = p[ty:ty + th, tx:tx + tw]
                    t[:part.shape[0], :part.shape[1]] = part
                    blocks.append(comp(pack_rows(t, bits)))
    else:
        rps = 5  # several strips, the last one short
        for p in planes:
            for y0 in range(0, H, rps):
                blocks.append(comp(pack_rows(p[y0:y0 + rps], bits)))
    data = b''
    offsets = []
    for b in blocks:
        offsets.append(8 + len(data))
        data += b
        if len(data) % 2:
            data += b'\0'
    entries = []  # (tag, type, values)
    SHORT, LONG = 3, 4
    entries.append((256, SHORT, [W]))
    entries.append((257, SHORT, [H]))
    entries.append((258, SHORT, [bits] * spp))
    entries.append((259, SHORT, [compression]))
    entries.append((262, SHORT, [photometric]))
    if not tiles:
        entries.append((273, LONG, offsets))
    entries.append((277, SHORT, [spp]))
    if not tiles:
        entries.append((278, SHORT, [5]))
        entries.append((279, LONG, [len(b) for b in blocks]))
    entries.append((284, SHORT, [planar]))
    if photometric == 3:
        n = 1 << bits
        entries.append((320, SHORT, [(i * 4099) % 65536 for i in range(3 * n)]))
    if tiles:
        entries.append((322, SHORT, [16]))
        entries.append((323, SHORT, [16]))
        entries.append((324, LONG, offsets))
        entries.append((325, LONG, [len(b) for b in blocks]))
    if extra is not None:
        entries.append((338, SHORT, [extra]))
    entries.sort()
    ifd_off = 8 + len(data)
    ifd_size = 2 + 12 * len(entries) + 4
    ext = b''  # out-of-line values after the IFD
    ifd = struct.pack(e + 'H', len(entries))
    for tag, typ, vals in entries:
        fmt = 'H' if typ == SHORT else 'I'
        raw = struct.pack(e + fmt * len(vals), *vals)
        if len(raw) <= 4:
            ifd += struct.pack(e + 'HHI', tag, typ, len(vals)) + raw.ljust(4, b'\0')
        else:
            ifd += struct.pack(e + 'HHII', tag, typ, len(vals), ifd_off + ifd_size + len(ext))
            ext += raw
            if len(ext) % 2:
                ext += b'\0'
    ifd += struct.pack(e + 'I', 0)
    head = (b'MM' if be else b'II') + struct.pack(e + 'HI', 42, ifd_off)
    return head + data + ifd + ext


def pil_bytes(img, fmt, **kw):
    b = io.BytesIO()
    img.save(b, fmt, **kw)
    return b.getvalue()


def main(out):
    os.makedirs(out, exist_ok=True)
    seeds = {
        'gray8_strips.tif': tiff(8, 1, 1),
        'gray8_minwhite_tiles_deflate.tif': tiff(8, 1, 0, tiles=True, compression=8),
        'gray16_strips.tif': tiff(16, 1, 1),
        'gray16_tiles_be.tif': tiff(16, 1, 1, tiles=True, compression=8, be=True),
        'gray1_strips.tif': tiff(1, 1, 1),
        'rgb8_strips.tif': tiff(8, 3, 2),
        'rgb8_tiles_deflate.tif': tiff(8, 3, 2, tiles=True, compression=8),
        'rgb8_planar_strips.tif': tiff(8, 3, 2, planar=2),
        'rgb16_strips_deflate.tif': tiff(16, 3, 2, compression=8),
        'rgb16_tiles_deflate.tif': tiff(16, 3, 2, tiles=True, compression=8),
        'rgba8_strips.tif': tiff(8, 4, 2, extra=2),
        'rgba8_tiles_deflate.tif': tiff(8, 4, 2, tiles=True, compression=8, extra=2),
        'rgba16_strips_deflate.tif': tiff(16, 4, 2, compression=8, extra=2),
        'rgba16_tiles_planar_deflate.tif': tiff(16, 4, 2, tiles=True, planar=2, compression=8, extra=1),
        'palette8_strips.tif': tiff(8, 1, 3, compression=8),
    }
    rgb = Image.fromarray(pixels(3, 8))
    gray = Image.fromarray(pixels(1, 8)[..., 0])
    rgba = Image.fromarray(pixels(4, 8), 'RGBA')
    g16 = Image.fromarray(pixels(1, 16)[..., 0].astype(np.int32), 'I').convert('I;16')
    seeds['rgb8.png'] = pil_bytes(rgb, 'PNG')
    seeds['gray8.png'] = pil_bytes(gray, 'PNG')
    seeds['rgba8.png'] = pil_bytes(rgba, 'PNG')
    seeds['gray16.png'] = pil_bytes(g16, 'PNG')
    seeds['palette.png'] = pil_bytes(rgb.convert('P'), 'PNG')
    seeds['rgb_baseline.jpg'] = pil_bytes(rgb, 'JPEG', quality=80)
    seeds['gray_baseline.jpg'] = pil_bytes(gray, 'JPEG', quality=80)
    seeds['rgb_progressive.jpg'] = pil_bytes(rgb, 'JPEG', quality=80, progressive=True)
    seeds['rgb_420_optimized.jpg'] = pil_bytes(rgb, 'JPEG', quality=60, subsampling=2, optimize=True)
    for name, data in sorted(seeds.items()):
        assert len(data) < 4096, (name, len(data))
        with open(os.path.join(out, name), 'wb') as f:
            f.write(data)
    print('%d image seeds in %s' % (len(seeds), out))


if __name__ == '__main__':
    main(sys.argv[1] if len(sys.argv) > 1 else os.path.join(os.path.dirname(__file__), 'seeds'))
