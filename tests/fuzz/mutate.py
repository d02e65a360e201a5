#!/usr/bin/python3
"""mutate.py - the mutators of `make fuzz` (imported by fuzz.py; usable alone).

  mutate.py image SEED OUT RNGSEED          one image mutant of SEED
  mutate.py h5 SEED KIND OUT RNGSEED        one HDF5 mutant (KIND: features model tail scores weights)

Every mutant is a pure function of (seed file, rng seed), so a finding is
reproduced from its recorded numbers even when the saved file is lost.

Images: generic byte damage (bit flips, interesting bytes, truncation, chunk
delete/duplicate) and format-aware header edits that keep the file
superficially valid, because the decoders' checksums and magic numbers stop
random damage long before it reaches the allocation and loop code: PNG IHDR
fields with the CRC recomputed, JPEG SOF dimensions / precision / sampling,
TIFF IFD entries (dims, bits, samples, offsets, counts, types, IFD loops), and
decompression bombs (tiny files declaring huge images).

HDF5: semantic edits with h5py (attribute class, shape and value; dataset
rank, dims, dtype, non-finite values, links) and raw damage of the file body.
Each HDF5 mutant says which commands must refuse it (`reject`): an exit 0
there is a silently accepted hostile input, reported separately from crashes.
"""
import random
import shutil
import struct
import sys
import warnings
import zlib

warnings.simplefilter('ignore', DeprecationWarning)

INT32 = [0, 1, 2, 3, 7, 8, 15, 16, 17, 31, 32, 63, 64, 127, 128, 255, 256, 1023, 1024,
         4095, 4096, 32767, 32768, 65499, 65500, 65535, 65536, 999999, 1 << 24,
         0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff]
INT16 = [0, 1, 2, 7, 8, 15, 16, 17, 255, 256, 4096, 16384, 32767, 32768, 65500, 65535]
INT64 = [0, -1, -2, 1, 2 ** 31 - 1, 2 ** 31, 2 ** 32, 2 ** 32 + 8, 2 ** 61 + 8, 2 ** 62,
         2 ** 63 - 1, -2 ** 63, -2 ** 31, 10 ** 12]
BYTES = [0x00, 0x01, 0x7f, 0x80, 0xff, 0xfe, 0x10, 0x20, 0x40]


# ---------------------------------------------------------------- images
def _bitflip(d, rng):
    d = bytearray(d)
    n = rng.choice([1, 1, 2, 4, 8, 32])
    for _ in range(n):
        i = rng.randrange(len(d))
        d[i] ^= 1 << rng.randrange(8)
    return bytes(d), 'bitflip x%d' % n


def _bytes(d, rng):
    d = bytearray(d)
    n = rng.choice([1, 2, 4])
    where = []
    for _ in range(n):
        i = rng.randrange(len(d))
        d[i] = rng.choice(BYTES) if rng.random() < 0.7 else rng.randrange(256)
        where.append(i)
    return bytes(d), 'bytes at %s' % where


def _truncate(d, rng):
    n = rng.choice([0, 1, 8, rng.randrange(len(d)), len(d) - 1, len(d) // 2, len(d) - 2])
    return d[:max(0, n)], 'truncate to %d of %d' % (max(0, n), len(d))


def _chunk(d, rng):
    i = rng.randrange(len(d))
    n = rng.randrange(1, 64)
    op = rng.choice(['delete', 'duplicate', 'insert'])
    if op == 'delete':
        return d[:i] + d[i + n:], 'delete %d bytes at %d' % (n, i)
    if op == 'duplicate':
        return d[:i + n] + d[i:i + n] + d[i + n:], 'duplicate %d bytes at %d' % (n, i)
    return d[:i] + bytes(rng.randrange(256) for _ in range(n)) + d[i:], 'insert %d bytes at %d' % (n, i)


def _png_chunks(d):
    out, p = [], 8
    while p + 8 <= len(d):
        n = struct.unpack('>I', d[p:p + 4])[0]
        out.append((p, n, d[p + 4:p + 8]))
        p += 12 + n
    return out


def _png_put(d, p, n, typ, data):
    """Replace the chunk at p (n data bytes) with typ+data and a correct CRC."""
    new = struct.pack('>I', len(data)) + typ + data + struct.pack('>I', zlib.crc32(typ + data) & 0xffffffff)
    return d[:p] + new + d[p + 12 + n:]


def png_bomb(w, h, color=0, depth=8):
    """A valid PNG of zero pixels declaring w x h: the whole zlib stream is
    present, so only a dimension check before decoding stops it."""
    bpp = {0: 1, 2: 3, 4: 2, 6: 4}[color] * depth // 8
    row = b'\0' * (1 + w * bpp)
    z = zlib.compressobj(9)
    body = b''.join(z.compress(row) for _ in range(h)) + z.flush()

    def chunk(t, x):
        return struct.pack('>I', len(x)) + t + x + struct.pack('>I', zlib.crc32(t + x) & 0xffffffff)
    return (b'\x89PNG\r\n\x1a\n' + chunk(b'IHDR', struct.pack('>IIBBBBB', w, h, depth, color, 0, 0, 0))
            + chunk(b'IDAT', body) + chunk(b'IEND', b''))


def _png(d, rng):
    ch = _png_chunks(d)
    if not ch or ch[0][2] != b'IHDR':
        return _bitflip(d, rng)
    p, n, _ = ch[0]
    ihdr = bytearray(d[p + 8:p + 8 + n])
    op = rng.choice(['dims', 'dims', 'dims', 'depth', 'color', 'interlace', 'idat', 'drop', 'bomb'])
    if op == 'dims':
        w = rng.choice(INT32) if rng.random() < 0.7 else struct.unpack('>I', ihdr[0:4])[0]
        h = rng.choice(INT32) if rng.random() < 0.7 else struct.unpack('>I', ihdr[4:8])[0]
        ihdr[0:8] = struct.pack('>II', w, h)
        return _png_put(d, p, n, b'IHDR', bytes(ihdr)), 'PNG IHDR %u x %u (CRC fixed)' % (w, h)
    if op == 'depth':
        ihdr[8] = rng.choice([0, 1, 2, 3, 4, 8, 16, 32, 255])
        return _png_put(d, p, n, b'IHDR', bytes(ihdr)), 'PNG bit depth %d (CRC fixed)' % ihdr[8]
    if op == 'color':
        ihdr[9] = rng.choice([0, 1, 2, 3, 4, 5, 6, 7, 255])
        return _png_put(d, p, n, b'IHDR', bytes(ihdr)), 'PNG colour type %d (CRC fixed)' % ihdr[9]
    if op == 'interlace':
        ihdr[12] = rng.choice([1, 2, 255])
        ihdr[10] = rng.choice([0, 0, 1])
        return _png_put(d, p, n, b'IHDR', bytes(ihdr)), 'PNG interlace %d compression %d (CRC fixed)' % (ihdr[12], ihdr[10])
    if op == 'idat':
        for cp, cn, t in ch:
            if t == b'IDAT' and cn:
                body = bytearray(d[cp + 8:cp + 8 + cn])
                i = rng.randrange(cn)
                body[i] ^= 1 << rng.randrange(8)
                return _png_put(d, cp, cn, b'IDAT', bytes(body)), 'PNG IDAT bit flip at %d (CRC fixed)' % i
        return _bitflip(d, rng)
    if op == 'drop' and len(ch) > 1:
        cp, cn, t = ch[rng.randrange(1, len(ch))]
        return d[:cp] + d[cp + 12 + cn:], 'PNG chunk %s removed' % t.decode('latin1')
    w, h = rng.choice([(1, 65500), (65500, 1), (999999, 16), (16, 999999), (8000, 8000), (30000, 2000)])
    color = rng.choice([0, 2])
    return png_bomb(w, h, color), 'PNG bomb %d x %d colour %d, all data present' % (w, h, color)


def _jpeg_sof(d):
    p = 2
    while p + 4 <= len(d):
        if d[p] != 0xff:
            return None
        m = d[p + 1]
        if m == 0xd8 or 0xd0 <= m <= 0xd7 or m == 0x01:
            p += 2
            continue
        n = struct.unpack('>H', d[p + 2:p + 4])[0]
        if 0xc0 <= m <= 0xcf and m not in (0xc4, 0xc8, 0xcc):
            return p
        if m == 0xda:
            return None
        p += 2 + n
    return None


def _jpeg(d, rng):
    p = _jpeg_sof(d)
    if p is None:
        return _bitflip(d, rng)
    d = bytearray(d)
    op = rng.choice(['dims', 'dims', 'dims', 'precision', 'ncomp', 'sampling', 'marker', 'noeoi'])
    if op == 'dims':
        h, w = rng.choice(INT16), rng.choice(INT16)
        if rng.random() < 0.3:
            h, w = rng.choice([(65500, 1), (1, 65500), (32768, 32768), (65535, 65535), (0, 16)])
        d[p + 5:p + 9] = struct.pack('>HH', h, w)
        return bytes(d), 'JPEG SOF %02x dims %d x %d (w x h %d x %d)' % (d[p + 1], h, w, w, h)
    if op == 'precision':
        d[p + 4] = rng.choice([0, 1, 12, 16, 255])
        return bytes(d), 'JPEG SOF precision %d' % d[p + 4]
    if op == 'ncomp':
        d[p + 9] = rng.choice([0, 2, 4, 255])
        return bytes(d), 'JPEG SOF component count %d' % d[p + 9]
    if op == 'sampling':
        i = p + 11 + 3 * rng.randrange(max(1, min(d[p + 9], 3)))
        if i < len(d):
            d[i] = rng.choice([0x00, 0x11, 0x44, 0x41, 0x14, 0xff, 0x22])
        return bytes(d), 'JPEG SOF sampling byte %d = 0x%02x' % (i, d[i] if i < len(d) else 0)
    if op == 'marker':
        d[p + 1] = rng.choice([0xc1, 0xc2, 0xc3, 0xc5, 0xc9, 0xcb, 0xcf, 0xc0])
        return bytes(d), 'JPEG SOF marker -> 0x%02x' % d[p + 1]
    return bytes(d[:-2]), 'JPEG without EOI'


def _tiff_entries(d):
    if d[:2] == b'II':
        e = '<'
    elif d[:2] == b'MM':
        e = '>'
    else:
        return None, None, []
    off = struct.unpack(e + 'I', d[4:8])[0]
    if off + 2 > len(d):
        return e, off, []
    n = struct.unpack(e + 'H', d[off:off + 2])[0]
    return e, off, [off + 2 + 12 * i for i in range(n) if off + 14 + 12 * i <= len(d)]


TIFF_TAGS = {256: 'ImageWidth', 257: 'ImageLength', 258: 'BitsPerSample', 259: 'Compression',
             262: 'Photometric', 273: 'StripOffsets', 277: 'SamplesPerPixel', 278: 'RowsPerStrip',
             279: 'StripByteCounts', 284: 'PlanarConfig', 320: 'ColorMap', 322: 'TileWidth',
             323: 'TileLength', 324: 'TileOffsets', 325: 'TileByteCounts', 338: 'ExtraSamples',
             339: 'SampleFormat'}
TIFF_VALUES = {258: [0, 1, 2, 4, 8, 12, 16, 32, 64, 255], 259: [1, 2, 5, 7, 8, 32773, 34712, 65535],
               262: [0, 1, 2, 3, 4, 5, 6, 8, 32844], 277: [0, 1, 2, 3, 4, 5, 255, 65535],
               284: [0, 1, 2, 3], 338: [0, 1, 2, 3], 339: [1, 2, 3, 4, 6]}


def _tiff(d, rng):
    e, off, ents = _tiff_entries(d)
    if not ents:
        return _bitflip(d, rng)
    d = bytearray(d)
    op = rng.choice(['value', 'value', 'value', 'value', 'count', 'type', 'ifdloop', 'ifdoff', 'nentries', 'add_sampleformat'])
    if op == 'value':
        p = rng.choice(ents)
        tag, typ, cnt = struct.unpack(e + 'HHI', d[p:p + 8])
        vals = TIFF_VALUES.get(tag, INT32)
        v = rng.choice(vals)
        if typ == 3:
            v &= 0xffff
            if cnt <= 2:
                d[p + 8:p + 10] = struct.pack(e + 'H', v)
            else:  # out-of-line array: change its first element
                q = struct.unpack(e + 'I', d[p + 8:p + 12])[0]
                if q + 2 <= len(d):
                    d[q:q + 2] = struct.pack(e + 'H', v)
        else:
            if cnt == 1:
                d[p + 8:p + 12] = struct.pack(e + 'I', v & 0xffffffff)
            else:
                q = struct.unpack(e + 'I', d[p + 8:p + 12])[0]
                if q + 4 <= len(d):
                    d[q:q + 4] = struct.pack(e + 'I', v & 0xffffffff)
        return bytes(d), 'TIFF %s = %d' % (TIFF_TAGS.get(tag, str(tag)), v)
    if op == 'count':
        p = rng.choice(ents)
        tag = struct.unpack(e + 'H', d[p:p + 2])[0]
        c = rng.choice([0, 1, 2, 3, 4, 255, 65536, 0x7fffffff, 0xffffffff])
        d[p + 4:p + 8] = struct.pack(e + 'I', c)
        return bytes(d), 'TIFF %s count = %d' % (TIFF_TAGS.get(tag, str(tag)), c)
    if op == 'type':
        p = rng.choice(ents)
        tag = struct.unpack(e + 'H', d[p:p + 2])[0]
        t = rng.choice([0, 1, 2, 3, 4, 5, 7, 11, 12, 13, 16, 17, 18, 255])
        d[p + 2:p + 4] = struct.pack(e + 'H', t)
        return bytes(d), 'TIFF %s type = %d' % (TIFF_TAGS.get(tag, str(tag)), t)
    end = off + 2 + 12 * len(ents)
    if op == 'ifdloop' and end + 4 <= len(d):
        d[end:end + 4] = struct.pack(e + 'I', off)
        return bytes(d), 'TIFF next-IFD offset points to itself'
    if op == 'ifdoff':
        v = rng.choice([0, 1, 8, len(d) - 2, len(d), 0xffffffff])
        d[4:8] = struct.pack(e + 'I', v)
        return bytes(d), 'TIFF first IFD offset = %d' % v
    if op == 'nentries':
        v = rng.choice([0, 1, 0xffff, len(ents) + 1])
        d[off:off + 2] = struct.pack(e + 'H', v)
        return bytes(d), 'TIFF IFD entry count = %d' % v
    # SampleFormat rewrite: turn an existing tag into SampleFormat (float / signed)
    p = rng.choice(ents)
    d[p:p + 12] = struct.pack(e + 'HHIHH', 339, 3, 1, rng.choice([2, 3, 4]), 0)
    return bytes(d), 'TIFF entry replaced by SampleFormat (IFD order broken)'


def image_mutant(data, name, rng):
    """(bytes, description) - one or two stacked mutations of a seed image."""
    fmt = _jpeg if name.endswith('.jpg') else _png if name.endswith('.png') else _tiff
    desc = []
    for _ in range(1 if rng.random() < 0.75 else 2):
        r = rng.random()
        f = fmt if r < 0.45 else _bitflip if r < 0.65 else _bytes if r < 0.78 else _truncate if r < 0.9 else _chunk
        if not data:
            break
        data, dsc = f(data, rng)
        desc.append(dsc)
    return data, '; '.join(desc)


# ---------------------------------------------------------------- HDF5
# Commands that read each dataset/attribute: a hostile value there must be refused
# by them (exit 2/3/4). info only summarises and must merely survive.
CONSUMERS = {
    'features': {'/features': {'fit', 'predict'}, '/embeddings': {'tailsample', 'fitt'},
                 '/paths': {'fit', 'fitt', 'predict'}},
    'model': {'/memory_bank': {'predict'}, '/memory_weights': {'predict'}},
}
# Attributes the commands read (features_io.c reads the feature set from
# features files and from models, predict adds method, extract reads the
# weights' own): a hostile value elsewhere (diagnostics) may be ignored.
FEATURE_ATTRS = {'tc_kind', 'tc_format_version', 'backbone', 'weights_sha256', 'taps', 'normalisation',
                 'D', 'E', 'resize', 'crop', 'fmap_h', 'fmap_w'}
READ_ATTRS = {'features': FEATURE_ATTRS, 'model': FEATURE_ATTRS | {'method'},
              'weights': {'tc_kind', 'tc_format_version', 'backbone', 'layout', 'bn_eps', 'sha256'},
              'tail': set(), 'scores': set()}
READERS = {'features': {'fit', 'fitt', 'tailsample', 'predict'}, 'model': {'predict'},
           'weights': {'extract'}, 'tail': set(), 'scores': set()}


def _walk(f):
    import h5py
    ds = []
    f.visititems(lambda n, o: ds.append('/' + n) if isinstance(o, h5py.Dataset) else None)
    return sorted(ds)


def _attr_value(rng, name, old):
    """(value, description, hostile) - a replacement of another class, shape or
    magnitude; hostile when a reader must refuse it: a string attribute that is
    no longer one string, an integer one that is no longer one integer in
    [0, 2^31], or tc_kind changed at all."""
    import h5py
    import numpy as np
    was_str = isinstance(old, (bytes, str))
    text = old.decode('utf-8', 'replace') if isinstance(old, bytes) else str(old)
    op = rng.choice(['fixed_array', 'vlen_array', 'vlen_scalar', 'int_array', 'int_huge', 'int_huge',
                     'uint64', 'float', 'as_string', 'long_string', 'empty_string', 'empty_array',
                     'null', '2d', 'int8'])
    if op == 'fixed_array':
        n = rng.choice([2, 50])
        return np.array([text.encode()] * n, dtype='S%d' % max(1, len(text.encode()))), 'array of %d fixed strings' % n, True
    if op == 'vlen_array':
        n = rng.choice([2, 50])
        return np.array([text] * n, dtype=h5py.string_dtype()), 'array of %d vlen strings' % n, True
    if op == 'vlen_scalar':
        return np.array(text, dtype=h5py.string_dtype()), 'vlen string %r' % text[:20], not was_str
    if op == 'int_array':
        n = rng.choice([2, 100])
        return np.arange(8, 8 + n, dtype=np.int64), 'int64 array of %d' % n, True
    if op == 'int_huge':
        v = rng.choice(INT64)
        return np.int64(v), 'int64 %d' % v, was_str or v < 0 or v > 2 ** 31
    if op == 'uint64':
        return np.uint64(2 ** 64 - 1), 'uint64 2^64-1', True
    if op == 'float':
        v = rng.choice([float('nan'), float('inf'), 1e20, -0.5, 2.5])
        return np.float64(v), 'float64 %r' % v, True
    if op == 'as_string':
        return np.bytes_(text.encode() + b'x'), 'string %r' % (text[:20] + 'x'), name == 'tc_kind' or not was_str
    if op == 'long_string':
        return np.bytes_(b'x' * 5000), 'fixed string of 5000', name == 'tc_kind' or not was_str
    if op == 'empty_string':
        return np.array(b'', dtype='S1'), 'empty string', name == 'tc_kind' or not was_str
    if op == 'empty_array':
        return np.zeros((0,), dtype=np.int64), 'empty int64 array', True
    if op == 'null':
        return h5py.Empty('i8'), 'null dataspace', True
    if op == '2d':
        return np.full((3, 3), 8, dtype=np.int64), 'int64 3x3', True
    return np.int8(-1), 'int8 -1', True


def _replace_dataset(f, name, data=None, **kw):
    parent, base = name.rsplit('/', 1)
    g = f[parent] if parent else f
    attrs = dict(g[base].attrs)
    del g[base]
    d = g.create_dataset(base, data=data, **kw)
    for k, v in attrs.items():
        d.attrs[k] = v
    return d


def h5_mutant(src, kind, dst, rng):
    """Write a mutant of src to dst; returns (description, reject): reject is the
    set of commands that must refuse it (exit 2/3/4)."""
    r = rng.random()
    if r < 0.25:
        data = open(src, 'rb').read()
        op = rng.choice(['bitflip', 'bitflip', 'bytes', 'truncate', 'zero'])
        if op == 'bitflip':
            data, desc = _bitflip(data, rng)
        elif op == 'bytes':
            data, desc = _bytes(data, rng)
        elif op == 'truncate':
            data, desc = _truncate(data, rng)
        else:
            b = bytearray(data)
            i = rng.randrange(len(b))
            b[i:i + 512] = bytes(len(b[i:i + 512]))
            data, desc = bytes(b), 'zero 512 bytes at %d' % i
        with open(dst, 'wb') as fo:
            fo.write(data)
        return 'raw ' + desc, set()
    import h5py
    import numpy as np
    shutil.copyfile(src, dst)
    with h5py.File(dst, 'r+') as f:
        dsets = _walk(f)
        op = rng.choice(['attr', 'attr', 'attr', 'kind', 'pair', 'shape', 'shape', 'nonfinite', 'nonfinite',
                         'intvals', 'paths', 'delete', 'link', 'dtype'])
        if op in ('attr', 'kind'):
            names = list(f.attrs.keys())
            name = 'tc_kind' if op == 'kind' or not names else rng.choice(names)
            old = f.attrs.get(name, b'')
            if isinstance(old, np.ndarray) and old.shape:
                old = old.flat[0]
            readers = READERS[kind] if name in READ_ATTRS[kind] else set()
            if rng.random() < 0.1:
                del f.attrs[name]
                return 'attribute %s deleted' % name, readers
            v, desc, hostile = _attr_value(rng, name, old)
            del f.attrs[name]
            f.attrs[name] = v
            return 'attribute %s: %s' % (name, desc), readers if hostile else set()
        if op == 'pair' and kind == 'features':
            a, b, v, w = rng.choice([('fmap_h', 'fmap_w', 2 ** 61 + 8, 8), ('fmap_h', 'fmap_w', 2 ** 63 - 1, 1),
                                     ('fmap_w', 'fmap_h', 2 ** 62 + 2, 4), ('D', 'E', 2 ** 61, 2 ** 61),
                                     ('crop', 'resize', 2 ** 31 + 224, 2 ** 32 + 256)])
            f.attrs[a] = np.int64(v)
            f.attrs[b] = np.int64(w)
            return 'attributes %s = %d, %s = %d (product wraps)' % (a, v, b, w), READERS[kind]
        if not dsets:
            return 'no dataset to mutate', set()
        name = rng.choice(dsets)
        d = f[name]
        users = CONSUMERS.get(kind, {}).get(name, set())
        if op == 'shape':
            sub = rng.choice(['rank', 'rank', 'zero', 'rows', 'scalar', 'null', 'huge'])
            dt = d.dtype
            if sub == 'rank':
                # a rank the dataset does not have: same rank and shape would
                # only zero the values (make fuzz seed 3 h5_00079)
                rk = rng.choice([r for r in (1, 4, 12, 20, 32) if r != len(d.shape)])
                dims = [1] * rk
                dims[0] = d.shape[0] if d.shape else 1
                _replace_dataset(f, name, data=np.zeros(dims, dtype=dt))
                return '%s rank %d %s' % (name, rk, dims), users
            if sub == 'zero':
                shp = (0,) + tuple(d.shape[1:]) if d.shape else (0,)
                _replace_dataset(f, name, data=np.zeros(shp, dtype=dt))
                return '%s with dims %s' % (name, shp), users
            if sub == 'rows':
                n = d.shape[0] if d.shape else 1
                k = rng.choice([1, n + 1, max(1, n - 1), 2 * n])
                shp = (k,) + tuple(d.shape[1:])
                a = np.resize(d[()], shp) if d.shape else np.zeros(shp, dtype=dt)
                _replace_dataset(f, name, data=a)
                return '%s resized to %s' % (name, shp), set()
            if sub == 'scalar':
                _replace_dataset(f, name, data=np.zeros((), dtype=dt))
                return '%s scalar' % name, users
            if sub == 'null':
                _replace_dataset(f, name, data=h5py.Empty(dt))
                return '%s null dataspace' % name, users
            shp = (rng.choice([2 ** 31, 2 ** 40, 2 ** 20]),) + tuple(min(s, 8) for s in d.shape[1:])
            _replace_dataset(f, name, shape=shp, dtype=dt, chunks=(1,) + tuple(shp[1:]))
            return '%s declared %s, no data written (fill values)' % (name, shp), set()
        if op == 'nonfinite' or op == 'dtype' and d.dtype.kind != 'f':
            floats = [n for n in dsets if f[n].dtype.kind == 'f' and f[n].size]
            if not floats:
                return 'no float dataset', set()
            name = rng.choice(floats)
            users = CONSUMERS.get(kind, {}).get(name, set())
            a = f[name][()]
            v = rng.choice([np.nan, np.inf, -np.inf, 1e20, -1e20, 3.4e38, 1e-45])
            where = rng.choice(['one', 'row', 'all'])
            flat = a.reshape(-1)
            if where == 'one':
                flat[rng.randrange(flat.size)] = v
            elif where == 'row':
                a[rng.randrange(a.shape[0]) if a.ndim else ()] = v
            else:
                a[...] = v
            f[name][...] = a
            return '%s: %s set to %r' % (name, where, float(v)), users if not np.isfinite(v) else set()
        if op == 'dtype':
            nt = rng.choice(['f8', 'f2', 'i4', 'u1', 'S8'])
            a = d[()]
            _replace_dataset(f, name, data=a.astype(nt) if nt != 'S8' else np.full(a.shape, b'1.5', dtype='S8'))
            return '%s stored as %s' % (name, nt), set()
        if op == 'intvals':
            ints = [n for n in dsets if f[n].dtype.kind in 'iu' and f[n].size]
            if not ints:
                return 'no integer dataset', set()
            name = rng.choice(ints)
            a = f[name][()]
            v = rng.choice(INT64)
            try:
                a.reshape(-1)[rng.randrange(a.size)] = v
            except OverflowError:
                a.reshape(-1)[0] = np.iinfo(a.dtype).max
            f[name][...] = a
            return '%s: one value set to %d' % (name, v), set()
        if op == 'paths' and '/paths' in dsets:
            n = f['/paths'].shape[0]
            sub = rng.choice(['vlen', 'long', 'empty', 'binary', 'traversal'])
            if sub == 'vlen':
                vals = np.array([x.decode('utf-8', 'replace') for x in f['/paths'][()]], dtype=h5py.string_dtype())
            elif sub == 'long':
                vals = np.array([b'a/' * 4000] * n)
            elif sub == 'empty':
                vals = np.array([b''] * n, dtype='S1')
            elif sub == 'binary':
                vals = np.array([bytes([0xff, 0xfe, 0x00, 0x41, 0x0a]) * 3] * n)
            else:
                vals = np.array([b'../../../../etc/passwd'] * n)
            _replace_dataset(f, '/paths', data=vals)
            return '/paths: %s' % sub, set()
        if op == 'delete':
            parent, base = name.rsplit('/', 1)
            del (f[parent] if parent else f)[base]
            return '%s deleted' % name, users
        if op == 'link':
            parent, base = name.rsplit('/', 1)
            g = f[parent] if parent else f
            del g[base]
            sub = rng.choice(['soft_missing', 'soft_loop', 'external', 'group'])
            if sub == 'soft_missing':
                g[base] = h5py.SoftLink('/nowhere')
            elif sub == 'soft_loop':
                g[base] = h5py.SoftLink(name)
            elif sub == 'external':
                g[base] = h5py.ExternalLink('/dev/zero', '/x')
            else:
                g.create_group(base)
            return '%s replaced by %s' % (name, sub), users
        return 'unchanged (%s not applicable)' % op, set()


if __name__ == '__main__':
    if sys.argv[1] == 'image':
        data = open(sys.argv[2], 'rb').read()
        out, desc = image_mutant(data, sys.argv[2], random.Random(sys.argv[4]))
        open(sys.argv[3], 'wb').write(out)
        print(desc)
    else:
        desc, rej = h5_mutant(sys.argv[2], sys.argv[3], sys.argv[4], random.Random(sys.argv[5]))
        print(desc, '| must refuse:', ' '.join(sorted(rej)) or '-')
