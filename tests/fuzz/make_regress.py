#!/usr/bin/python3
"""make_regress.py [BUILD] - (re)make the regression inputs in tests/fuzz/regress/.

The committed files are the ones `make test` runs (tests/mpi/test_fuzz_regress.sh
needs neither Python nor h5py); this script is their recipe, deterministic,
run with the normal build (default `build`) for the two valid base files
(the HDF5 files come out equal in content, h5diff, but differ in a few
timestamp bytes: regenerate only the files whose recipe changed):
  features.h5  fake_features write 8 images, 8x8 patches, D = 4, E = 4, seed 5
  model.h5     fit --method patchcore of features.h5
Every other file is one hostile edit of them (h5py) or a hand-made image.
cases.txt lists `FILE COMMAND` lines; COMMAND is one of extract, extract-bounded
(a legal image that may also be accepted within the memory limit), tailsample,
fit (patchcore), fit-tailedcore (--tail-aug none), predict-features (FILE as --features, model.h5 as --model),
predict-model (FILE as --model, features.h5 as --features), info. Every case
must end with exit 2, 3 or 4 and one error line naming FILE.
A make fuzz finding is kept either as an edit here (H5_CASES) or, when it is
raw damage with no recipe, as the saved file itself (regress/found_*) listed
in regress/found.txt, which this script appends to cases.txt.
"""
import io
import os
import shutil
import struct
import subprocess
import sys

import h5py
import numpy as np
from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, '..', '..'))
OUT = os.path.join(HERE, 'regress')
sys.path.insert(0, HERE)
import mutate  # noqa: E402


def attr(name, value):
    def f(h):
        del h.attrs[name]
        h.attrs[name] = value
    return f


def attrs(**kv):
    def f(h):
        for k, v in kv.items():
            attr(k, v)(h)
    return f


def dataset(name, data):
    def f(h):
        mutate._replace_dataset(h, name, data=data)
    return f


def delete(name):
    def f(h):
        del h[name]
    return f


def declared(name, rows):
    """name replaced by a chunked dataset declaring `rows` rows, no data written"""
    def f(h):
        d = h[name]
        shp = (rows,) + tuple(d.shape[1:])
        mutate._replace_dataset(h, name, shape=shp, dtype=d.dtype, chunks=(1,) + tuple(d.shape[1:]))
    return f


def set_values(name, where, value):
    def f(h):
        a = h[name][()]
        if where == 'one':
            a.reshape(-1)[5] = value
        else:
            a[...] = value
        h[name][...] = a
    return f


VL = h5py.string_dtype()
# (file, base, edit, commands, why) - the cases of issue 19 first
H5_CASES = [
    ('kind_fixed50.h5', 'features', attr('tc_kind', np.array([b'features'] * 50)), ['tailsample', 'info'],
     'tc_kind as an array of 50 fixed-length strings (heap overflow, glibc abort)'),
    ('kind_vlen50.h5', 'features', attr('tc_kind', np.array(['features'] * 50, dtype=VL)), ['tailsample', 'info'],
     'tc_kind as an array of 50 variable-length strings (50 pointers into one char *)'),
    ('D_array100.h5', 'features', attr('D', np.arange(100, dtype=np.int64) + 4), ['fit', 'tailsample'],
     'integer attribute D as an array of 100 values (stack overflow)'),
    ('features_rank12.h5', 'features', dataset('/features', np.zeros([8] + [1] * 11, dtype=np.float32)),
     ['fit', 'info'], '/features of rank 12 (hsize_t[8] overflow; info: h5fmt.c describe_obj_)'),
    ('features_rank20.h5', 'features', dataset('/features', np.zeros([8] + [1] * 19, dtype=np.float32)),
     ['predict-features'], '/features of rank 20'),
    ('bank_rank12.h5', 'model', dataset('/memory_bank', np.zeros([4] + [1] * 11, dtype=np.float32)),
     ['predict-model'], '/memory_bank of rank 12'),
    ('embeddings_rank32.h5', 'features', dataset('/embeddings', np.zeros([8] + [1] * 31, dtype=np.float32)),
     ['fit-tailedcore', 'tailsample'], '/embeddings of rank 32 (make fuzz: stack smashed, SEGV at pc 0x1)'),
    ('method_vlen2.h5', 'model', attr('method', np.array(['patchcore'] * 2, dtype=VL)), ['predict-model'],
     'model attribute method as 2 vlen strings (make fuzz: stack-buffer-overflow in tc_h5_get_attr_str)'),
    ('fmap_h_wrap.h5', 'features', attrs(fmap_h=np.int64(2 ** 61 + 8), fmap_w=np.int64(8)),
     ['fit', 'predict-features'], 'fmap_h = 2^61 + 8, fmap_w = 8: the product wraps to 64 = HW'),
    ('fmap_h_int64max.h5', 'features', attr('fmap_h', np.int64(2 ** 63 - 1)), ['fit', 'predict-features'],
     'fmap_h = INT64_MAX (turned negative, read as the wildcard)'),
    ('features_nan.h5', 'features', set_values('features', 'one', np.nan), ['fit', 'predict-features'],
     'one NaN in /features (fit exits 0 with a collapsed bank)'),
    ('features_inf.h5', 'features', set_values('features', 'one', np.inf), ['predict-features'],
     'one +Inf in /features'),
    ('embeddings_nan.h5', 'features', set_values('embeddings', 'one', np.nan), ['tailsample'],
     'one NaN in /embeddings'),
    ('features_1e20.h5', 'features', set_values('features', 'one', -1e20), ['predict-features'],
     'one -1e20 in /features (squared distances overflow; predict exits 1, no neighbour)'),
    ('DE_wrap.h5', 'features', attrs(D=np.int64(2 ** 61), E=np.int64(2 ** 61)), ['tailsample'],
     'D = E = 2^61 (make fuzz seed 1 h5_00007: tailsample exits 0)'),
    ('bank_inf_one.h5', 'model', set_values('memory_bank', 'one', np.inf), ['predict-model'],
     'one +Inf in /memory_bank (make fuzz seed 1 h5_00029: predict exits 0)'),
    ('bank_1e20.h5', 'model', set_values('memory_bank', 'all', -1e20), ['predict-model'],
     '/memory_bank all -1e20 (make fuzz seed 1 h5_00003: predict exits 1, no neighbour)'),
    ('bank_nan.h5', 'model', set_values('memory_bank', 'all', np.nan), ['predict-model'],
     'NaN everywhere in /memory_bank'),
    ('weights_nan.h5', 'model', set_values('memory_weights', 'one', np.nan), ['predict-model'],
     'one NaN in /memory_weights'),
    ('no_weights.h5', 'model', delete('/memory_weights'), ['predict-model'],
     'patchcore model without /memory_weights (make fuzz seed 4 h5_00561: predict exits 0)'),
    ('embeddings_declared_2p40.h5', 'features', declared('/embeddings', 2 ** 40), ['tailsample'],
     '/embeddings declaring 2^40 rows, none written (make fuzz seed 3 h5_00632: a 32 TB allocation)'),
    ('resize_empty.h5', 'features', attr('resize', np.zeros(0, dtype=np.int64)), ['tailsample'],
     'attribute resize an empty int64 array (make fuzz seed 3 h5_00319: tailsample exits 0)'),
    ('crop_resize_wrap.h5', 'features', attrs(crop=np.int64(2 ** 31 + 224), resize=np.int64(2 ** 32 + 256)),
     ['tailsample'], 'crop = 2^31 + 224, resize = 2^32 + 256 (make fuzz seed 3 h5_00634: tailsample exits 0)'),
]


def jpeg(img, **kw):
    b = io.BytesIO()
    img.save(b, 'JPEG', **kw)
    return b.getvalue()


def sof_dims(data, w, h):
    """The same JPEG declaring w x h: its scan data are now far too short."""
    p = mutate._jpeg_sof(data)
    d = bytearray(data)
    d[p + 5:p + 9] = struct.pack('>HH', h, w)
    return bytes(d)


def image_cases():
    small = Image.new('RGB', (16, 16), (120, 60, 200))
    return [
        ('jpeg_1x65500.jpg', jpeg(Image.new('L', (1, 65500), 128), quality=50), ['extract-bounded'],
         '1 x 65500 JPEG, all data present: the resize asked for 12.9 GB (now: the crop window only, 5 MB)'),
        ('png_999999x16.png', mutate.png_bomb(999999, 16, 0), ['extract-bounded'],
         '999999 x 16 grey PNG, all data present: the resize asked for 12.3 GB (now: the crop window only, 66 MB)'),
        ('jpeg_32768_missing.jpg', sof_dims(jpeg(small, quality=90), 32768, 32768), ['extract'],
         'baseline JPEG declaring 32768 x 32768 with 16 x 16 of data (decoded 30-50 s, accepted as grey)'),
        ('jpeg_32768_gray_missing.jpg', sof_dims(jpeg(small.convert('L'), quality=90), 32768, 32768), ['extract'],
         'grey baseline JPEG declaring 32768 x 32768 with 16 x 16 of data'),
        ('jpeg_32768_progressive_missing.jpg', sof_dims(jpeg(small, quality=90, progressive=True), 32768, 32768),
         ['extract'], 'progressive JPEG declaring 32768 x 32768 with 16 x 16 of data'),
    ]


def run(args):
    env = dict(os.environ, OPENBLAS_NUM_THREADS='1', OMPI_MCA_rmaps_base_oversubscribe='1')
    mr = ['mpirun', '-np', '1'] + (['--allow-run-as-root'] if os.geteuid() == 0 else [])
    subprocess.run(mr + args, check=True, env=env, cwd=ROOT)


def main():
    build = os.path.abspath(sys.argv[1] if len(sys.argv) > 1 else os.path.join(ROOT, 'build'))
    os.makedirs(OUT, exist_ok=True)
    base = {'features': os.path.join(OUT, 'features.h5'), 'model': os.path.join(OUT, 'model.h5')}
    run([os.path.join(build, 'tests', 'tools', 'fake_features'), 'write', base['features'], '8', '8', '4', '4', '5'])
    run([os.path.join(build, 'tailedcore'), 'fit', '--features', base['features'], '--method', 'patchcore',
         '--out', base['model'], '--quiet'])
    lines = ['# FILE COMMAND  # why (made by make_regress.py; see test_fuzz_regress.sh)']
    for name, kind, edit, cmds, why in H5_CASES:
        dst = os.path.join(OUT, name)
        shutil.copyfile(base[kind], dst)
        with h5py.File(dst, 'r+') as h:
            edit(h)
        lines += ['%s %s  # %s' % (name, c, why) for c in cmds]
    for name, data, cmds, why in image_cases():
        with open(os.path.join(OUT, name), 'wb') as f:
            f.write(data)
        lines += ['%s %s  # %s' % (name, c, why) for c in cmds]
    found = os.path.join(OUT, 'found.txt')
    if os.path.exists(found):  # inputs saved by make fuzz, committed as they were found
        lines += [ln.rstrip('\n') for ln in open(found) if ln.strip() and not ln.startswith('#')]
    with open(os.path.join(OUT, 'cases.txt'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    for n in sorted(os.listdir(OUT)):
        print('%8d %s' % (os.path.getsize(os.path.join(OUT, n)), n))


if __name__ == '__main__':
    main()
