/* test_image.c - image decoding, DESIGN 3.1 preprocessing (resize, crop,
 * normalisation, masks) and DESIGN 3.6 step 8 views, against PIL /
 * torchvision references made by tests/golden/make_image_fixtures.py
 * (tests/golden/image_ref.h5, image_views_ref.h5, images/). TIFF kinds PIL
 * cannot write (tiles, 16-bit RGB, planar separate, big-endian, 2/4-bit, ...)
 * are written here with libtiff and compared with the pixels we wrote. Bad
 * files (truncated, bad CRC, empty, text, missing, unsupported) are made at
 * run time in a temporary directory; each must fail with TC_ERR_FORMAT or
 * TC_ERR_IO, a message naming the file, and nothing on stderr.
 *
 * Every comparison prints its max abs error; tolerances: decoded pixels,
 * uint8 resize/crop, masks and views exact (0 levels); normalised floats
 * 1e-6 relative (they are computed in torchvision's float32 order). */
#include <dirent.h>
#include <fcntl.h>
#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <time.h>
#include <unistd.h>

#include "augment.h"
#include "check.h"
#include "image.h"
#include "resize.h"

static const char *golden_dir(void) {
  const char *d = getenv("TC_GOLDEN_DIR");
  return d ? d : "tests/golden";
}

static char tmpdir[256];

/* Paths live in a ring of 64 buffers: enough for every case table here. */
static const char *tmp_path(const char *name) {
  static char buf[64][512];
  static int k = 0;
  k = (k + 1) % 64;
  snprintf(buf[k], sizeof buf[k], "%s/%s", tmpdir, name);
  return buf[k];
}

static const char *img_path(const char *name) {
  static char buf[8][512];
  static int k = 0;
  k = (k + 1) % 8;
  snprintf(buf[k], sizeof buf[k], "%s/images/%s", golden_dir(), name);
  return buf[k];
}

/* ---- HDF5 fixture access (plain serial HDF5; no MPI needed) ---- */

static void *h5_read(hid_t f, const char *name, hid_t memtype, size_t esize, int *nd, hsize_t dims[4]) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) {
    fprintf(stderr, "fixture: dataset %s missing\n", name);
    return NULL;
  }
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  hid_t s = H5Dget_space(d);
  *nd = H5Sget_simple_extent_ndims(s);
  H5Sget_simple_extent_dims(s, dims, NULL);
  size_t n = 1;
  for (int i = 0; i < *nd; i++) n *= dims[i];
  void *buf = malloc(n * esize);
  if (buf && H5Dread(d, memtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
    free(buf);
    buf = NULL;
  }
  H5Sclose(s);
  H5Dclose(d);
  return buf;
}

static int h5_attr_ints(hid_t f, const char *dset, const char *attr, int *vals, int maxn) {
  hid_t d = H5Dopen2(f, dset, H5P_DEFAULT);
  if (d < 0) return -1;
  hid_t a = H5Aopen(d, attr, H5P_DEFAULT);
  hid_t s = H5Aget_space(a);
  hssize_t n = H5Sget_simple_extent_npoints(s);
  int ok = n >= 1 && n <= maxn && H5Aread(a, H5T_NATIVE_INT, vals) >= 0;
  H5Sclose(s);
  H5Aclose(a);
  H5Dclose(d);
  return ok ? (int)n : -1;
}

static hid_t open_fixture(const char *file) {
  char p[512];
  snprintf(p, sizeof p, "%s/%s", golden_dir(), file);
  hid_t f = H5Fopen(p, H5F_ACC_RDONLY, H5P_DEFAULT);
  CHECK_MSG(f >= 0, "cannot open fixture %s (regenerate: /usr/bin/python3 tests/golden/make_image_fixtures.py)", p);
  return f;
}

/* ---- helpers ---- */

static int max_abs_diff_u8(const uint8_t *a, const uint8_t *b, size_t n, size_t *ndiff) {
  int m = 0;
  size_t nd = 0;
  for (size_t i = 0; i < n; i++) {
    int d = abs((int)a[i] - (int)b[i]);
    if (d) nd++;
    if (d > m) m = d;
  }
  if (ndiff) *ndiff = nd;
  return m;
}

/* The procedural sources of make_image_fixtures.py's pattern(). */
static uint8_t *pattern(char kind, int w, int h, int c) {
  uint8_t *p = malloc((size_t)w * h * c);
  for (int64_t y = 0; y < h; y++)
    for (int64_t x = 0; x < w; x++)
      for (int ch = 0; ch < c; ch++) {
        int64_t v = kind == 'A' ? ((x * (3 + ch) + y * (5 + 2 * ch)) ^ ((x * y) >> (3 + ch))) & 255
                                : ((x * x * (ch + 1) + y * y * (3 - ch) + 7 * x * y) >> 9) & 255;
        p[((size_t)y * w + (size_t)x) * c + ch] = (uint8_t)v;
      }
  return p;
}

/* stderr capture: every decoder must stay silent. */
static int saved_stderr = -1;
static void stderr_capture(void) {
  fflush(stderr);
  saved_stderr = dup(2);
  int fd = open(tmp_path("stderr.txt"), O_WRONLY | O_CREAT | O_TRUNC, 0600);
  dup2(fd, 2);
  close(fd);
}
static long stderr_release(void) {
  fflush(stderr);
  dup2(saved_stderr, 2);
  close(saved_stderr);
  struct stat st;
  return stat(tmp_path("stderr.txt"), &st) == 0 ? (long)st.st_size : -1;
}

static int write_file(const char *path, const void *data, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t w = n ? fwrite(data, 1, n, f) : 0;
  fclose(f);
  return w == n ? 0 : -1;
}

static uint8_t *read_file(const char *path, size_t *n) {
  FILE *f = fopen(path, "rb");
  if (!f) return NULL;
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)sz + 1);
  *n = fread(b, 1, (size_t)sz, f);
  fclose(f);
  return b;
}

/* ---- 1. decoding vs PIL ---- */

static const char *decode_files[] = {
    "png_rgb.png", "png_rgba.png", "png_gray.png", "png_la.png", "png_gray16.png",
    "png_palette.png", "png_palette_trns.png", "png_bilevel.png", "jpg_rgb.jpg",
    "jpg_rgb444.jpg", "jpg_progressive.jpg", "jpg_gray.jpg", "tif_rgb.tif", "tif_rgb_lzw.tif",
    "tif_rgb_deflate.tif", "tif_rgba.tif", "tif_gray.tif", "tif_gray16.tif", "tif_palette.tif",
    "tif_bilevel.tif"};

static void test_decode_golden(hid_t f) {
  int worst = 0;
  for (size_t i = 0; i < sizeof decode_files / sizeof *decode_files; i++) {
    const char *name = decode_files[i];
    char ds[256];
    int nd;
    hsize_t dims[4];
    snprintf(ds, sizeof ds, "decode/%s", name);
    uint8_t *ref = h5_read(f, ds, H5T_NATIVE_UINT8, 1, &nd, dims);
    snprintf(ds, sizeof ds, "decode_gray/%s", name);
    uint8_t *refg = h5_read(f, ds, H5T_NATIVE_UINT8, 1, &nd, dims);
    CHECK_MSG(ref && refg, "fixture for %s", name);
    if (!ref || !refg) continue;
    TcImage im;
    TcErr e = tc_image_read(img_path(name), &im);
    CHECK_MSG(e == TC_OK, "%s: %s", name, tc_err_message());
    if (e == TC_OK) {
      CHECK_INT(im.c, 3);
      CHECK_MSG(im.w == (int)dims[1] && im.h == (int)dims[0], "%s: size %dx%d", name, im.w, im.h);
      size_t nd8;
      int m = max_abs_diff_u8(im.rgb, ref, (size_t)im.w * im.h * 3, &nd8);
      if (m > worst) worst = m;
      CHECK_MSG(m == 0, "%s: RGB max abs diff %d (%zu values differ)", name, m, nd8);
    }
    tc_image_free(&im);
    tc_err_clear();
    e = tc_image_read_gray(img_path(name), &im);
    CHECK_MSG(e == TC_OK, "%s (gray): %s", name, tc_err_message());
    if (e == TC_OK) {
      CHECK_INT(im.c, 1);
      int m = max_abs_diff_u8(im.rgb, refg, (size_t)im.w * im.h, NULL);
      if (m > worst) worst = m;
      CHECK_MSG(m == 0, "%s: gray max abs diff %d", name, m);
    }
    tc_image_free(&im);
    tc_err_clear();
    free(ref);
    free(refg);
  }
  printf("decode vs PIL/numpy: %zu files (PNG, JPEG, TIFF), max abs diff %d levels\n",
         sizeof decode_files / sizeof *decode_files, worst);
}

/* ---- 2. TIFF kinds written here with libtiff ---- */

typedef struct {
  const char *name;
  int w, h, spp, bits, photometric, separate;
  int tile;  /* tile side (multiple of 16), 0 = strips */
  int rps;   /* rows per strip */
  int compression;
  int bigendian;
  int extra; /* extra samples (alpha) */
} TiffCase;

static uint32_t tiff_value(int x, int y, int s, int bits) {
  uint32_t v = (uint32_t)(x * 37 + y * 101 + s * 53 + ((x * y) >> 2) * 7919) ;
  return bits >= 16 ? (v * 2654435761u) >> 16 & 0xFFFF : v % (1u << bits);
}

static int write_tiff_case(const TiffCase *tc, const char *path) {
  TIFF *t = TIFFOpen(path, tc->bigendian ? "wb" : "wl");
  if (!t) return -1;
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, tc->w);
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, tc->h);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, tc->spp);
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, tc->bits);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, tc->photometric);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, tc->separate ? PLANARCONFIG_SEPARATE : PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_COMPRESSION, tc->compression);
  if (tc->extra) {
    uint16_t ex[1] = {EXTRASAMPLE_UNASSALPHA};
    TIFFSetField(t, TIFFTAG_EXTRASAMPLES, 1, ex);
  }
  if (tc->photometric == PHOTOMETRIC_PALETTE) {
    uint16_t r[256], g[256], b[256];
    for (int i = 0; i < 256; i++) r[i] = (uint16_t)(i * 257), g[i] = (uint16_t)((255 - i) * 257), b[i] = (uint16_t)((i * 7 % 256) * 257);
    TIFFSetField(t, TIFFTAG_COLORMAP, r, g, b);
  }
  int nplanes = tc->separate ? tc->spp : 1, sp = tc->separate ? 1 : tc->spp;
  int bw = tc->tile ? tc->tile : tc->w, bh = tc->tile ? tc->tile : tc->rps;
  if (tc->tile) {
    TIFFSetField(t, TIFFTAG_TILEWIDTH, tc->tile);
    TIFFSetField(t, TIFFTAG_TILELENGTH, tc->tile);
  } else {
    TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, tc->rps);
  }
  size_t rowb = ((size_t)bw * sp * tc->bits + 7) / 8;
  uint8_t *blk = calloc(rowb * bh, 1);
  int rc = 0;
  for (int p = 0; p < nplanes; p++)
    for (int by = 0; by < tc->h; by += bh)
      for (int bx = 0; bx < tc->w; bx += bw) {
        memset(blk, 0, rowb * bh);
        int rows = tc->tile ? bh : (by + bh <= tc->h ? bh : tc->h - by);
        for (int y = 0; y < rows; y++)
          for (int x = 0; x < bw; x++)
            for (int s = 0; s < sp; s++) {
              int X = bx + x, Y = by + y, S = tc->separate ? p : s;
              uint32_t v = (X < tc->w && Y < tc->h) ? tiff_value(X, Y, S, tc->bits) : 0;
              size_t idx = (size_t)x * sp + s;
              uint8_t *row = blk + (size_t)y * rowb;
              if (tc->bits == 16) { uint16_t v16 = (uint16_t)v; memcpy(row + 2 * idx, &v16, 2); }
              else if (tc->bits == 8) row[idx] = (uint8_t)v;
              else if (tc->bits == 32) { memcpy(row + 4 * idx, &v, 4); }
              else {
                size_t bit = idx * tc->bits;
                row[bit >> 3] |= (uint8_t)(v << (8 - tc->bits - (bit & 7)));
              }
            }
        tmsize_t r;
        if (tc->tile) r = TIFFWriteEncodedTile(t, TIFFComputeTile(t, bx, by, 0, p), blk, (tmsize_t)(rowb * bh));
        else r = TIFFWriteEncodedStrip(t, TIFFComputeStrip(t, by, p), blk, (tmsize_t)(rowb * rows));
        if (r < 0) rc = -1;
      }
  free(blk);
  TIFFClose(t);
  return rc;
}

/* Expected 8-bit value of sample s at (x, y), per the rules of image.h. */
static uint8_t tiff_expect(const TiffCase *tc, int x, int y, int s) {
  uint32_t v = tiff_value(x, y, s, tc->bits);
  if (tc->bits == 16) return (uint8_t)floor(v * 255.0 / 65535.0 + 0.5);
  if (tc->bits == 8) return (uint8_t)v;
  return (uint8_t)(v * 255 / ((1u << tc->bits) - 1));
}

static void test_tiff_written(void) {
  TiffCase cases[] = {
      {"rgb8_tiled_deflate", 50, 37, 3, 8, PHOTOMETRIC_RGB, 0, 16, 0, COMPRESSION_ADOBE_DEFLATE, 0, 0},
      {"rgb16_strips_lzw", 41, 29, 3, 16, PHOTOMETRIC_RGB, 0, 0, 5, COMPRESSION_LZW, 0, 0},
      {"rgb16_strips_bigendian", 23, 17, 3, 16, PHOTOMETRIC_RGB, 0, 0, 4, COMPRESSION_NONE, 1, 0},
      {"rgba16_tiled_separate", 35, 33, 4, 16, PHOTOMETRIC_RGB, 1, 16, 0, COMPRESSION_ADOBE_DEFLATE, 0, 1},
      {"rgba8_tiled", 40, 20, 4, 8, PHOTOMETRIC_RGB, 0, 32, 0, COMPRESSION_NONE, 0, 1},
      {"rgb8_strips_separate", 30, 21, 3, 8, PHOTOMETRIC_RGB, 1, 0, 4, COMPRESSION_PACKBITS, 0, 0},
      {"gray16_tiled", 33, 18, 1, 16, PHOTOMETRIC_MINISBLACK, 0, 16, 0, COMPRESSION_LZW, 0, 0},
      {"gray16_bigendian_tiled", 20, 20, 1, 16, PHOTOMETRIC_MINISBLACK, 0, 16, 0, COMPRESSION_NONE, 1, 0},
      {"gray8_alpha_strips", 27, 19, 2, 8, PHOTOMETRIC_MINISBLACK, 0, 0, 3, COMPRESSION_NONE, 0, 1},
      {"gray16_alpha_separate", 27, 19, 2, 16, PHOTOMETRIC_MINISBLACK, 1, 0, 7, COMPRESSION_NONE, 0, 1},
      {"gray4_strips", 31, 9, 1, 4, PHOTOMETRIC_MINISBLACK, 0, 0, 2, COMPRESSION_NONE, 0, 0},
      {"gray2_strips", 29, 7, 1, 2, PHOTOMETRIC_MINISBLACK, 0, 0, 3, COMPRESSION_NONE, 0, 0},
      {"gray1_miniswhite", 37, 11, 1, 1, PHOTOMETRIC_MINISWHITE, 0, 0, 4, COMPRESSION_NONE, 0, 0},
      {"palette8_tiled", 25, 25, 1, 8, PHOTOMETRIC_PALETTE, 0, 16, 0, COMPRESSION_NONE, 0, 0},
  };
  int n = (int)(sizeof cases / sizeof *cases);
  int worst = 0;
  for (int i = 0; i < n; i++) {
    const TiffCase *tc = &cases[i];
    char name[128];
    snprintf(name, sizeof name, "%s.tif", tc->name);
    const char *p = tmp_path(name);
    CHECK_MSG(write_tiff_case(tc, p) == 0, "libtiff could not write %s", name);
    TcImage im;
    stderr_capture();
    TcErr e = tc_image_read(p, &im);
    long nerr = stderr_release();
    CHECK_MSG(e == TC_OK, "%s: %s", name, tc_err_message());
    CHECK_MSG(nerr == 0, "%s: decoder wrote %ld bytes to stderr", name, nerr);
    if (e != TC_OK) { tc_err_clear(); continue; }
    CHECK(im.w == tc->w && im.h == tc->h && im.c == 3);
    int m = 0;
    for (int y = 0; y < tc->h; y++)
      for (int x = 0; x < tc->w; x++)
        for (int s = 0; s < 3; s++) {
          uint8_t want;
          if (tc->photometric == PHOTOMETRIC_PALETTE) {
            uint32_t idx = tiff_value(x, y, 0, 8);
            want = (uint8_t)(s == 0 ? idx : s == 1 ? 255 - idx : idx * 7 % 256);
          } else if (tc->photometric == PHOTOMETRIC_RGB) {
            want = tiff_expect(tc, x, y, s);
          } else {
            want = tiff_expect(tc, x, y, 0);
            if (tc->photometric == PHOTOMETRIC_MINISWHITE) want = (uint8_t)(255 - want);
          }
          int d = abs((int)im.rgb[((size_t)y * im.w + x) * 3 + s] - (int)want);
          if (d > m) m = d;
        }
    CHECK_MSG(m == 0, "%s: max abs diff %d vs the pixels written", name, m);
    if (m > worst) worst = m;
    tc_image_free(&im);
  }
  printf("libtiff-written TIFFs (tiles, strips, planar contig/separate, 1/2/4/8/16-bit, big-endian, palette): %d kinds, max abs diff %d\n",
         n, worst);

  /* Unsupported kinds: a clear refusal, not garbage. */
  TiffCase bad[] = {
      {"gray32_uint", 10, 10, 1, 32, PHOTOMETRIC_MINISBLACK, 0, 0, 10, COMPRESSION_NONE, 0, 0},
      {"cmyk8", 10, 10, 4, 8, PHOTOMETRIC_SEPARATED, 0, 0, 10, COMPRESSION_NONE, 0, 0},
  };
  const char *why[] = {"32-bit", "CMYK"};
  for (int i = 0; i < 2; i++) {
    char name[128];
    snprintf(name, sizeof name, "%s.tif", bad[i].name);
    const char *p = tmp_path(name);
    CHECK(write_tiff_case(&bad[i], p) == 0);
    TcImage im;
    stderr_capture();
    TcErr e = tc_image_read(p, &im);
    long nerr = stderr_release();
    CHECK_MSG(e == TC_ERR_FORMAT && strstr(tc_err_message(), why[i]) && strstr(tc_err_message(), p),
              "%s: code %d, message '%s'", name, (int)e, tc_err_message());
    CHECK(nerr == 0);
    CHECK(im.rgb == NULL);
    tc_err_clear();
  }
}

/* ---- 3. bad files ---- */

typedef struct {
  const char *label;
  const char *path;
  TcErr code;
  const char *keyword; /* must appear in the message */
} BadCase;

static void make_truncated(const char *src, const char *dst, double frac) {
  size_t n;
  uint8_t *b = read_file(src, &n);
  CHECK_MSG(b != NULL, "read %s", src);
  if (!b) return;
  write_file(dst, b, (size_t)(n * frac));
  free(b);
}

static void test_bad_files(void) {
  /* Truncated copies of good files. */
  make_truncated(img_path("tif_rgb.tif"), tmp_path("trunc.tif"), 0.5);
  make_truncated(img_path("tif_rgb_lzw.tif"), tmp_path("trunc_lzw.tif"), 0.6);
  make_truncated(img_path("png_rgb.png"), tmp_path("trunc.png"), 0.5);
  make_truncated(img_path("jpg_rgb.jpg"), tmp_path("trunc.jpg"), 0.6);
  make_truncated(img_path("jpg_rgb.jpg"), tmp_path("trunc_header.jpg"), 0.02);
  /* A tiled deflate TIFF with garbage in its first tile's compressed data
   * (libtiff writes tile data right after the 8-byte header, IFD last). */
  {
    TiffCase tc = {"t", 64, 64, 3, 8, PHOTOMETRIC_RGB, 0, 16, 0, COMPRESSION_ADOBE_DEFLATE, 0, 0};
    write_tiff_case(&tc, tmp_path("tiled_full.tif"));
    size_t n;
    uint8_t *b = read_file(tmp_path("tiled_full.tif"), &n);
    CHECK(b && n > 64);
    if (b) {
      memset(b + 8, 0xFF, 24);
      write_file(tmp_path("corrupt_tiled.tif"), b, n);
    }
    free(b);
  }
  /* PNG with a bad CRC (the IDAT's CRC bytes flipped, data intact) and a PNG
   * with corrupt compressed data (one IDAT data byte flipped). */
  {
    size_t n;
    uint8_t *b = read_file(img_path("png_rgb.png"), &n);
    uint8_t *idat = NULL;
    for (size_t k = 4; b && k + 4 <= n && !idat; k++)
      if (memcmp(b + k, "IDAT", 4) == 0) idat = b + k;
    CHECK(idat != NULL);
    if (idat) {
      uint32_t len = (uint32_t)idat[-4] << 24 | (uint32_t)idat[-3] << 16 | (uint32_t)idat[-2] << 8 | idat[-1];
      idat[4 + len] ^= 0x01;
      write_file(tmp_path("badcrc.png"), b, n);
      idat[4 + len] ^= 0x01;
      idat[10] ^= 0x55;
      write_file(tmp_path("corrupt_data.png"), b, n);
    }
    free(b);
  }
  write_file(tmp_path("empty.png"), "", 0);
  const char *text = "path,label\nimg001.png,good\n";
  write_file(tmp_path("notes.png"), text, strlen(text));
  write_file(tmp_path("magic_only.tif"), "II*\0\x08\0\0\0garbage", 16);
  mkdir(tmp_path("a_directory.png"), 0700);

  BadCase cases[] = {
      {"truncated TIFF (strips)", tmp_path("trunc.tif"), TC_ERR_FORMAT, "TIFF"},
      {"truncated TIFF (LZW)", tmp_path("trunc_lzw.tif"), TC_ERR_FORMAT, "TIFF"},
      {"corrupt TIFF tile", tmp_path("corrupt_tiled.tif"), TC_ERR_FORMAT, "tile"},
      {"truncated PNG", tmp_path("trunc.png"), TC_ERR_FORMAT, "PNG"},
      {"PNG with bad CRC", tmp_path("badcrc.png"), TC_ERR_FORMAT, "CRC"},
      {"PNG with corrupt data", tmp_path("corrupt_data.png"), TC_ERR_FORMAT, "PNG"},
      {"truncated JPEG", tmp_path("trunc.jpg"), TC_ERR_FORMAT, "truncated"},
      {"truncated JPEG header", tmp_path("trunc_header.jpg"), TC_ERR_FORMAT, "JPEG"},
      {"zero-size file", tmp_path("empty.png"), TC_ERR_FORMAT, "empty"},
      {"text file", tmp_path("notes.png"), TC_ERR_FORMAT, "not an image"},
      {"TIFF magic then garbage", tmp_path("magic_only.tif"), TC_ERR_FORMAT, "TIFF"},
      {"missing file", tmp_path("does_not_exist.png"), TC_ERR_IO, "No such file"},
      {"directory", tmp_path("a_directory.png"), TC_ERR_IO, "directory"},
      {"CMYK JPEG", img_path("jpg_cmyk.jpg"), TC_ERR_FORMAT, "CMYK"},
      {"32-bit float TIFF", img_path("tif_float.tif"), TC_ERR_FORMAT, "floating point"},
  };
  int n = (int)(sizeof cases / sizeof *cases);
  for (int i = 0; i < n; i++) {
    for (int gray = 0; gray < 2; gray++) {
      TcImage im = {1, 1, 1, (uint8_t *)1}; /* garbage in: must come back zeroed */
      tc_err_clear();
      stderr_capture();
      TcErr e = gray ? tc_image_read_gray(cases[i].path, &im) : tc_image_read(cases[i].path, &im);
      long nerr = stderr_release();
      const char *msg = tc_err_message();
      CHECK_MSG(e == cases[i].code, "%s: code %s, expected %s (%s)", cases[i].label, tc_err_name(e),
                tc_err_name(cases[i].code), msg);
      CHECK_MSG(strstr(msg, cases[i].path) != NULL, "%s: message does not name the file: %s",
                cases[i].label, msg);
      CHECK_MSG(strstr(msg, cases[i].keyword) != NULL, "%s: message lacks '%s': %s", cases[i].label,
                cases[i].keyword, msg);
      CHECK_MSG(nerr == 0, "%s: %ld bytes written to stderr", cases[i].label, nerr);
      CHECK(im.rgb == NULL && im.w == 0);
      if (!gray) printf("  bad %-26s -> %-6s %s\n", cases[i].label, tc_err_name(e), msg);
    }
  }
  tc_err_clear();
}

/* ---- 4. resize / crop / normalisation vs PIL + torchvision ---- */

typedef struct {
  const char *name;
  char kind;
  int sw, sh, c;
  int pre; /* 1: Resize(a)+CenterCrop(b); 0: resize to (a, b) */
  int a, b;
} ResizeCase;

static void test_resize_golden(hid_t f) {
  ResizeCase cases[] = {
      {"down_A", 'A', 300, 200, 3, 1, 120, 100}, {"up_small", 'B', 130, 90, 3, 1, 64, 56},
      {"odd_crop", 'B', 257, 333, 3, 1, 64, 55}, {"heavy_down", 'A', 1000, 700, 3, 1, 64, 56},
      {"gray", 'A', 97, 61, 1, 1, 40, 33},       {"raw_mixed", 'A', 97, 61, 3, 0, 150, 40},
      {"raw_h_only", 'A', 50, 40, 3, 0, 90, 40}, {"raw_v_only", 'A', 50, 40, 3, 0, 50, 70},
      {"raw_down_4ch", 'A', 77, 55, 2, 0, 20, 13},
  };
  int worst = 0;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const ResizeCase *rc = &cases[i];
    char ds[128];
    snprintf(ds, sizeof ds, "resize/%s", rc->name);
    int nd;
    hsize_t dims[4];
    uint8_t *ref = h5_read(f, ds, H5T_NATIVE_UINT8, 1, &nd, dims);
    CHECK_MSG(ref != NULL, "fixture %s", ds);
    if (!ref) continue;
    uint8_t *src = pattern(rc->kind, rc->sw, rc->sh, rc->c);
    int ow = rc->pre ? rc->b : rc->a, oh = rc->b;
    uint8_t *out = malloc((size_t)ow * oh * rc->c);
    TcErr e;
    if (rc->pre) {
      TcPreproc p = {rc->a, rc->b, TC_NORM_IMAGENET};
      if (rc->c == 3) {
        TcImage im = {rc->sw, rc->sh, 3, src};
        e = tc_resize_preprocess_u8(&im, &p, out);
      } else {
        /* gray: the mask path without the threshold */
        int rw, rh;
        tc_resize_dims(rc->sw, rc->sh, rc->a, &rw, &rh);
        uint8_t *tmp = malloc((size_t)rw * rh);
        e = tc_resize_bilinear(src, rc->sw, rc->sh, 1, tmp, rw, rh);
        if (!e) e = tc_resize_center_crop(tmp, rw, rh, 1, rc->b, out);
        free(tmp);
      }
    } else {
      e = tc_resize_bilinear(src, rc->sw, rc->sh, rc->c, out, rc->a, rc->b);
    }
    CHECK_MSG(e == TC_OK, "%s: %s", rc->name, tc_err_message());
    CHECK_MSG((int)dims[0] == oh && (int)dims[1] == ow && (int)dims[2] == rc->c, "%s: fixture shape", rc->name);
    size_t ndiff;
    int m = max_abs_diff_u8(out, ref, (size_t)ow * oh * rc->c, &ndiff);
    printf("  resize %-12s %4dx%-4d c%d -> %3dx%-3d max abs diff %d (%zu of %zu values differ)\n",
           rc->name, rc->sw, rc->sh, rc->c, ow, oh, m, ndiff, (size_t)ow * oh * rc->c);
    CHECK_MSG(m == 0, "%s: resize differs from PIL by up to %d levels", rc->name, m);
    if (m > worst) worst = m;
    free(src);
    free(out);
    free(ref);
  }
  printf("resize vs PIL (BILINEAR, antialiased) + torchvision CenterCrop: max abs diff %d levels\n", worst);

  /* geometry rules */
  int rw, rh, x0, y0;
  tc_resize_dims(400, 300, 256, &rw, &rh);
  CHECK(rw == 341 && rh == 256);
  tc_resize_dims(257, 333, 64, &rw, &rh);
  CHECK(rw == 64 && rh == 82);
  tc_resize_dims(300, 300, 256, &rw, &rh);
  CHECK(rw == 256 && rh == 256);
  tc_resize_crop_offsets(64, 82, 55, &x0, &y0); /* 4.5 -> 4, 13.5 -> 14 (half to even) */
  CHECK(x0 == 4 && y0 == 14);
  tc_resize_crop_offsets(341, 256, 224, &x0, &y0); /* 58.5 -> 58, 16 */
  CHECK(x0 == 58 && y0 == 16);
  uint8_t one[3] = {1, 2, 3}, o4[12];
  CHECK_INT(tc_resize_bilinear(one, 0, 1, 3, o4, 2, 2), TC_ERR_USAGE);
  tc_err_clear();
  CHECK_INT(tc_resize_center_crop(one, 1, 1, 3, 2, o4), TC_ERR_USAGE);
  tc_err_clear();
}

static void test_normalize_golden(hid_t f) {
  int nd;
  hsize_t dims[4];
  float *imn = h5_read(f, "norm/imagenet", H5T_NATIVE_FLOAT, 4, &nd, dims);
  float *ker = h5_read(f, "norm/keras", H5T_NATIVE_FLOAT, 4, &nd, dims);
  CHECK(imn && ker);
  if (!imn || !ker) return;
  uint8_t hwc[16 * 16 * 3];
  for (int v = 0; v < 256; v++) hwc[3 * v] = hwc[3 * v + 1] = hwc[3 * v + 2] = (uint8_t)v;
  float chw[3 * 256];
  double worst = 0;
  tc_resize_normalize(hwc, 16, TC_NORM_IMAGENET, chw);
  for (int i = 0; i < 3 * 256; i++) {
    double r = fabs(chw[i] - imn[i]) / fmax(1.0, fabs(imn[i]));
    if (r > worst) worst = r;
  }
  printf("normalize ImageNet vs torchvision ToTensor+Normalize: max rel err %.3g\n", worst);
  CHECK_MSG(worst <= 1e-6, "imagenet normalisation rel err %g", worst);
  worst = 0;
  tc_resize_normalize(hwc, 16, TC_NORM_KERAS, chw);
  for (int c = 0; c < 3; c++)
    for (int v = 0; v < 256; v++) {
      double r = fabs(chw[c * 256 + v] - ker[v]) / fmax(1.0, fabs(ker[v]));
      if (r > worst) worst = r;
    }
  printf("normalize Keras x/127.5-1 vs torch float32: max rel err %.3g\n", worst);
  CHECK_MSG(worst <= 1e-6, "keras normalisation rel err %g", worst);
  free(imn);
  free(ker);
}

static void test_preprocess_file(hid_t f) {
  int nd;
  hsize_t dims[4];
  uint8_t *ref8 = h5_read(f, "pre_u8/photo", H5T_NATIVE_UINT8, 1, &nd, dims);
  float *reff = h5_read(f, "pre/photo", H5T_NATIVE_FLOAT, 4, &nd, dims);
  CHECK(ref8 && reff);
  TcImage im;
  TcErr e = tc_image_read(img_path("photo.png"), &im);
  CHECK_MSG(e == TC_OK, "%s", tc_err_message());
  if (e || !ref8 || !reff) goto out;
  TcPreproc p = TC_PREPROC_DEFAULT;
  uint8_t *u8 = malloc(224 * 224 * 3);
  float *x = malloc(sizeof(float) * 3 * 224 * 224);
  CHECK(tc_resize_preprocess_u8(&im, &p, u8) == TC_OK);
  size_t ndiff;
  int m = max_abs_diff_u8(u8, ref8, 224 * 224 * 3, &ndiff);
  printf("photo.png 480x360 -> Resize(256) 341x256 -> CenterCrop(224), uint8: max abs diff %d (%zu values differ)\n", m, ndiff);
  CHECK_MSG(m == 0, "preprocess uint8 differs by %d", m);
  CHECK(tc_resize_preprocess(&im, &p, x) == TC_OK);
  double worst = 0;
  int n = (int)dims[1];
  for (int c = 0; c < 3; c++)
    for (int i = 0; i < n; i++)
      for (int j = 0; j < n; j++) {
        float a = x[(size_t)c * 224 * 224 + (size_t)(8 * i) * 224 + 8 * j];
        float b = reff[((size_t)c * n + i) * n + j];
        double r = fabs(a - b) / fmax(1.0, fabs(b));
        if (r > worst) worst = r;
      }
  printf("photo.png full preprocessing vs torchvision (every 8th pixel): max rel err %.3g\n", worst);
  CHECK_MSG(worst <= 1e-6, "preprocess float rel err %g", worst);
  free(u8);
  free(x);
out:
  tc_image_free(&im);
  free(ref8);
  free(reff);
}

static void test_mask(hid_t f) {
  int nd;
  hsize_t dims[4];
  uint8_t *ref = h5_read(f, "mask/mask", H5T_NATIVE_UINT8, 1, &nd, dims);
  CHECK(ref != NULL);
  TcImage m;
  TcErr e = tc_image_read_gray(img_path("mask.png"), &m);
  CHECK_MSG(e == TC_OK, "%s", tc_err_message());
  if (e || !ref) { free(ref); return; }
  TcPreproc p = TC_PREPROC_DEFAULT;
  uint8_t out[224 * 224];
  CHECK(tc_resize_mask(&m, &p, out) == TC_OK);
  size_t ndiff, ones = 0;
  int mx = max_abs_diff_u8(out, ref, sizeof out, &ndiff);
  for (size_t i = 0; i < sizeof out; i++) ones += out[i];
  printf("mask.png: %zu anomalous of %zu pixels, %zu differ from torchvision (value == 1.0)\n", ones,
         sizeof out, ndiff);
  CHECK_MSG(mx == 0, "mask differs in %zu pixels", ndiff);
  CHECK(ones > 0);
  /* The RGB image is refused: masks must be gray (tc_image_read_gray). */
  TcImage rgb = {2, 2, 3, (uint8_t[12]){0}};
  CHECK_INT(tc_resize_mask(&rgb, &p, out), TC_ERR_USAGE);
  tc_err_clear();
  tc_image_free(&m);
  free(ref);
}

/* ---- 5. views vs torchvision hflip / pad(edge) / rotate(NEAREST) / crop ---- */

typedef struct {
  const char *name;
  char kind; /* 'A', 'B' or 'P' (photo.png) */
  int sw, sh, resize, crop;
  TcAugment aug;
} ViewCase;

static void test_views(hid_t f) {
  ViewCase cases[] = {
      {"rect_rot15flip", 'B', 70, 50, 40, 32, TC_AUG_ROT15FLIP},
      {"square_rotflip", 'A', 50, 50, 40, 32, TC_AUG_ROTFLIP},
      {"photo_rot30", 'P', 0, 0, 256, 224, TC_AUG_ROT30FLIP},
  };
  size_t total_diff = 0, total_px = 0;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const ViewCase *vc = &cases[i];
    char ds[128];
    snprintf(ds, sizeof ds, "views/%s", vc->name);
    int nd;
    hsize_t dims[4];
    uint8_t *ref = h5_read(f, ds, H5T_NATIVE_UINT8, 1, &nd, dims);
    int flips[64], angles[64], pad;
    int nv = h5_attr_ints(f, ds, "flip", flips, 64);
    CHECK(ref && nv == (int)dims[0] && h5_attr_ints(f, ds, "angle", angles, 64) == nv &&
          h5_attr_ints(f, ds, "pad", &pad, 1) == 1);
    if (!ref || nv <= 0) { free(ref); continue; }
    TcImage im = {0};
    if (vc->kind == 'P') {
      CHECK(tc_image_read(img_path("photo.png"), &im) == TC_OK);
    } else {
      im.w = vc->sw, im.h = vc->sh, im.c = 3, im.rgb = pattern(vc->kind, vc->sw, vc->sh, 3);
    }
    int rw, rh, crop = vc->crop;
    tc_resize_dims(im.w, im.h, vc->resize, &rw, &rh);
    CHECK_MSG(tc_augment_pad(rw, rh, crop) == pad, "%s: pad %d vs %d", vc->name, tc_augment_pad(rw, rh, crop), pad);
    uint8_t *res = malloc((size_t)rw * rh * 3);
    CHECK(tc_resize_bilinear(im.rgb, im.w, im.h, 3, res, rw, rh) == TC_OK);
    size_t vsz = (size_t)crop * crop * 3;
    uint8_t *out = malloc(vsz);
    size_t case_diff = 0;
    for (int v = 0; v < nv; v++) {
      CHECK(tc_augment_view(res, rw, rh, crop, flips[v], angles[v], out) == TC_OK);
      size_t ndiff = 0;
      for (size_t k = 0; k < (size_t)crop * crop; k++)
        if (memcmp(out + 3 * k, ref + (size_t)v * vsz + 3 * k, 3)) ndiff++;
      CHECK_MSG(ndiff == 0, "%s view flip=%d angle=%d: %zu of %d pixels differ", vc->name, flips[v],
                angles[v], ndiff, crop * crop);
      case_diff += ndiff;
    }
    /* The stored order is the documented view order for the full sets. */
    if (vc->kind != 'P') {
      CHECK_INT(nv, tc_augment_count(vc->aug));
      int order_ok = 1;
      for (int v = 0; v < nv; v++) {
        int fl, an;
        tc_augment_view_spec(vc->aug, v, &fl, &an);
        if (fl != flips[v] || an != angles[v]) order_ok = 0;
      }
      CHECK_MSG(order_ok, "%s: view order differs from the fixture's", vc->name);
      TcPreproc p = {vc->resize, crop, TC_NORM_IMAGENET};
      uint8_t *all = malloc(vsz * nv);
      CHECK(tc_augment_views(&im, &p, vc->aug, all) == TC_OK);
      size_t nd8;
      CHECK_MSG(max_abs_diff_u8(all, ref, vsz * nv, &nd8) == 0, "%s: tc_augment_views differs in %zu values",
                vc->name, nd8);
      free(all);
    }
    printf("  views %-15s %2d views %dx%d (resized %dx%d, pad %d): %zu of %zu pixels differ\n", vc->name, nv,
           crop, crop, rw, rh, pad, case_diff, (size_t)nv * crop * crop);
    total_diff += case_diff;
    total_px += (size_t)nv * crop * crop;
    free(out);
    free(res);
    if (vc->kind == 'P') tc_image_free(&im);
    else free(im.rgb);
    free(ref);
  }
  printf("views vs torchvision (PIL rotate NEAREST): %zu of %zu pixels differ\n", total_diff, total_px);

  /* No blank corner: a white image stays white in every rot15flip view at the
   * default geometry (the edge padding covers the rotated crop). */
  TcImage white = {300, 257, 3, malloc(300 * 257 * 3)};
  memset(white.rgb, 255, 300 * 257 * 3);
  TcPreproc p = TC_PREPROC_DEFAULT;
  int n = tc_augment_count(TC_AUG_ROT15FLIP);
  uint8_t *all = malloc((size_t)n * 224 * 224 * 3);
  CHECK(tc_augment_views(&white, &p, TC_AUG_ROT15FLIP, all) == TC_OK);
  size_t nonwhite = 0;
  for (size_t k = 0; k < (size_t)n * 224 * 224 * 3; k++) nonwhite += all[k] != 255;
  CHECK_MSG(nonwhite == 0, "%zu non-white values: a rotated crop left the padded image", nonwhite);
  free(all);
  free(white.rgb);

  CHECK_INT(tc_augment_count(TC_AUG_NONE), 0);
  CHECK_INT(tc_augment_count(TC_AUG_ROTFLIP), 7);
  CHECK_INT(tc_augment_count(TC_AUG_ROT30FLIP), 23);
  CHECK_INT(tc_augment_count(TC_AUG_ROT15FLIP), 47);
  CHECK_INT(tc_augment_pad(341, 256, 224), 33);
  TcAugment a;
  CHECK(tc_augment_parse("rot30flip", &a) == TC_OK && a == TC_AUG_ROT30FLIP);
  CHECK(tc_augment_parse("rot45", &a) == TC_ERR_USAGE && strstr(tc_err_message(), "rot45"));
  tc_err_clear();
  int fl, an;
  tc_augment_view_spec(TC_AUG_ROT15FLIP, 22, &fl, &an);
  CHECK(fl == 0 && an == 345);
  tc_augment_view_spec(TC_AUG_ROT15FLIP, 23, &fl, &an);
  CHECK(fl == 1 && an == 0);
  tc_augment_view_spec(TC_AUG_ROT15FLIP, 46, &fl, &an);
  CHECK(fl == 1 && an == 345);
}

/* ---- 6. JPEG-compressed YCbCr TIFF, cross-checked with libtiff's RGBA reader ---- */

static void test_tiff_jpeg(void) {
  const char *p = tmp_path("ycbcr_jpeg.tif");
  int w = 64, h = 48;
  TIFF *t = TIFFOpen(p, "w");
  CHECK(t != NULL);
  if (!t) return;
  TIFFSetField(t, TIFFTAG_IMAGEWIDTH, w);
  TIFFSetField(t, TIFFTAG_IMAGELENGTH, h);
  TIFFSetField(t, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField(t, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(t, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(t, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
  TIFFSetField(t, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
  TIFFSetField(t, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
  TIFFSetField(t, TIFFTAG_JPEGQUALITY, 90);
  TIFFSetField(t, TIFFTAG_ROWSPERSTRIP, 16);
  uint8_t *src = pattern('B', w, h, 3);
  int ok = 1;
  for (int y = 0; y < h; y++)
    if (TIFFWriteScanline(t, src + (size_t)y * w * 3, (uint32_t)y, 0) < 0) ok = 0;
  TIFFClose(t);
  free(src);
  CHECK_MSG(ok, "libtiff could not write a JPEG TIFF");
  uint32_t *rgba = malloc(sizeof(uint32_t) * w * h);
  t = TIFFOpen(p, "r");
  int rok = t && TIFFReadRGBAImageOriented(t, w, h, rgba, ORIENTATION_TOPLEFT, 0);
  if (t) TIFFClose(t);
  CHECK(rok);
  TcImage im;
  stderr_capture();
  TcErr e = tc_image_read(p, &im);
  long nerr = stderr_release();
  CHECK_MSG(e == TC_OK, "%s", tc_err_message());
  CHECK(nerr == 0);
  if (e == TC_OK && rok) {
    int m = 0;
    for (int i = 0; i < w * h; i++)
      for (int c = 0; c < 3; c++) {
        int ref = (int)((rgba[i] >> (8 * c)) & 0xFF); /* TIFFGetR/G/B */
        int d = abs((int)im.rgb[3 * i + c] - ref);
        if (d > m) m = d;
      }
    printf("JPEG-compressed YCbCr TIFF vs libtiff TIFFReadRGBAImage: max abs diff %d\n", m);
    CHECK_MSG(m == 0, "YCbCr JPEG TIFF differs by %d", m);
  }
  tc_image_free(&im);
  free(rgba);
  tc_err_clear();
}

/* ---- 7. mutated files: never crash, never print, OK or FORMAT only ---- */

static void test_mutations(void) {
  const char *files[] = {"png_rgb.png", "png_palette.png", "png_gray16.png", "jpg_rgb.jpg",
                         "jpg_progressive.jpg", "tif_rgb.tif", "tif_rgb_lzw.tif", "tif_gray16.tif",
                         "tif_palette.tif", "tif_rgba.tif"};
  uint64_t rng = 0x9E3779B97F4A7C15ull;
  int n_ok = 0, n_fmt = 0, n_other = 0;
  long printed = 0;
  for (size_t fi = 0; fi < sizeof files / sizeof *files; fi++) {
    size_t n;
    uint8_t *orig = read_file(img_path(files[fi]), &n);
    CHECK(orig != NULL);
    if (!orig) continue;
    uint8_t *b = malloc(n);
    for (int m = 0; m < 40; m++) {
      memcpy(b, orig, n);
      size_t len = n;
      int nflip = 1 + m % 8;
      for (int k = 0; k < nflip; k++) {
        rng = rng * 6364136223846793005ull + 1442695040888963407ull;
        size_t pos = 8 + (size_t)(rng >> 33) % (n - 8); /* keep the magic */
        b[pos] ^= (uint8_t)(1 + ((rng >> 20) & 0xFE));
      }
      if (m % 5 == 4) len = 8 + (size_t)(rng >> 40) % (n - 8);
      const char *p = tmp_path("mutant.img");
      write_file(p, b, len);
      TcImage im;
      stderr_capture();
      TcErr e = (m & 1) ? tc_image_read_gray(p, &im) : tc_image_read(p, &im);
      printed += stderr_release();
      if (e == TC_OK) n_ok++;
      else if (e == TC_ERR_FORMAT && strstr(tc_err_message(), p)) n_fmt++;
      else n_other++;
      tc_image_free(&im);
      tc_err_clear();
    }
    free(b);
    free(orig);
  }
  printf("mutated files: %d decoded, %d refused (format), %d other, %ld bytes on stderr\n", n_ok, n_fmt,
         n_other, printed);
  CHECK_INT(n_other, 0);
  CHECK_INT(printed, 0);
}

/* ---- 8. decompression and resize bombs (issue 19) ---- */

static double now_s(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (double)t.tv_sec + 1e-9 * (double)t.tv_nsec;
}

static uint32_t crc32_png(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

static void put_be(uint8_t *p, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * (bytes - 1 - i)));
}

/* Offset of the first SOF0/1/2 marker of a JPEG (its size fields follow at
 * +5 (height) and +7 (width)), or of the first SOS when sos. 0 if none. */
static size_t jpeg_find(const uint8_t *b, size_t n, int sos) {
  size_t i = 2;
  while (i + 4 <= n && b[i] == 0xFF) {
    int m = b[i + 1];
    if (sos ? m == 0xDA : (m == 0xC0 || m == 0xC1 || m == 0xC2)) return i;
    i += 2 + ((size_t)b[i + 2] << 8 | b[i + 3]);
  }
  return 0;
}

/* A copy of a golden JPEG whose frame header declares w x h. */
static void jpeg_with_size(const char *src, const char *dst, uint32_t w, uint32_t h) {
  size_t n;
  uint8_t *b = read_file(src, &n);
  size_t k = b ? jpeg_find(b, n, 0) : 0;
  CHECK_MSG(k > 0, "no SOF in %s", src);
  if (!k) { free(b); return; }
  put_be(b + k + 5, h, 2);
  put_be(b + k + 7, w, 2);
  write_file(dst, b, n);
  free(b);
}

/* A copy of a golden JPEG keeping `frac` of its first scan's data, then EOI:
 * the data segment ends early (libjpeg pads the rest with gray). */
static void jpeg_cut_scan(const char *src, const char *dst, double frac) {
  size_t n;
  uint8_t *b = read_file(src, &n);
  size_t k = b ? jpeg_find(b, n, 1) : 0;
  CHECK_MSG(k > 0, "no SOS in %s", src);
  if (!k) { free(b); return; }
  size_t data = k + 2 + ((size_t)b[k + 2] << 8 | b[k + 3]);
  size_t keep = data + (size_t)((double)(n - data) * frac);
  if (keep > 0 && b[keep - 1] == 0xFF) keep--; /* never split a marker */
  b[keep] = 0xFF, b[keep + 1] = 0xD9;
  write_file(dst, b, keep + 2);
  free(b);
}

/* A copy of a golden PNG whose IHDR declares w x h (CRC fixed). */
static void png_with_size(const char *src, const char *dst, uint32_t w, uint32_t h) {
  size_t n;
  uint8_t *b = read_file(src, &n);
  CHECK(b && n > 33 && memcmp(b + 12, "IHDR", 4) == 0);
  if (!b || n <= 33) { free(b); return; }
  put_be(b + 16, w, 4);
  put_be(b + 20, h, 4);
  put_be(b + 29, crc32_png(b + 12, 17), 4);
  write_file(dst, b, n);
  free(b);
}

/* Every bomb: TC_ERR_FORMAT, the file and `keyword` in the message, nothing
 * on stderr, nothing allocated for the caller, in well under a second. */
static void expect_refused(const char *label, const char *path, const char *keyword) {
  for (int gray = 0; gray < 2; gray++) {
    TcImage im = {0};
    tc_err_clear();
    stderr_capture();
    double t0 = now_s();
    TcErr e = gray ? tc_image_read_gray(path, &im) : tc_image_read(path, &im);
    double dt = now_s() - t0;
    long nerr = stderr_release();
    const char *msg = tc_err_message();
    CHECK_MSG(e == TC_ERR_FORMAT, "%s: code %s (%s)", label, tc_err_name(e), msg);
    CHECK_MSG(strstr(msg, path) && strstr(msg, keyword), "%s: message lacks the file or '%s': %s", label,
              keyword, msg);
    CHECK_MSG(dt < 1.0, "%s: took %.2f s", label, dt);
    CHECK_MSG(nerr == 0 && im.rgb == NULL, "%s: stderr %ld bytes / pixels returned", label, nerr);
    if (!gray) printf("  bomb %-34s -> %s in %.1f ms: %s\n", label, tc_err_name(e), 1e3 * dt, msg);
  }
  tc_err_clear();
}

static void test_bombs(void) {
  /* the option's range and default */
  CHECK_INT(tc_image_max_pixels(), 89478485);
  CHECK(tc_image_set_max_pixels(0) == TC_ERR_USAGE);
  CHECK(tc_image_set_max_pixels(TC_IMAGE_MAX_PIXELS_CAP + 1) == TC_ERR_USAGE);
  tc_err_clear();
  CHECK_INT(tc_image_max_pixels(), 89478485);

  /* the limit is inclusive and applies to every format, RGB and gray reads */
  const char *lim_files[] = {"png_rgb.png", "jpg_rgb.jpg", "jpg_progressive.jpg", "tif_rgb.tif", "tif_rgb_lzw.tif"};
  for (size_t i = 0; i < sizeof lim_files / sizeof *lim_files; i++) {
    TcImage im = {0};
    CHECK(tc_image_set_max_pixels(TC_IMAGE_MAX_PIXELS_DEFAULT) == TC_OK);
    CHECK(tc_image_read(img_path(lim_files[i]), &im) == TC_OK);
    int64_t np = (int64_t)im.w * im.h;
    tc_image_free(&im);
    CHECK(tc_image_set_max_pixels(np) == TC_OK);
    CHECK_MSG(tc_image_read(img_path(lim_files[i]), &im) == TC_OK, "%s at its own size: %s", lim_files[i],
              tc_err_message());
    tc_image_free(&im);
    CHECK(tc_image_set_max_pixels(np - 1) == TC_OK);
    expect_refused(lim_files[i], img_path(lim_files[i]), "--max-pixels");
  }
  CHECK(tc_image_set_max_pixels(TC_IMAGE_MAX_PIXELS_DEFAULT) == TC_OK);

  /* declared sizes the data cannot fill */
  jpeg_with_size(img_path("jpg_rgb.jpg"), tmp_path("b32768.jpg"), 32768, 32768);
  jpeg_with_size(img_path("jpg_gray.jpg"), tmp_path("b32768g.jpg"), 32768, 32768);
  jpeg_with_size(img_path("jpg_progressive.jpg"), tmp_path("b32768p.jpg"), 32768, 32768);
  jpeg_with_size(img_path("jpg_rgb.jpg"), tmp_path("b8000.jpg"), 8000, 8000);
  jpeg_with_size(img_path("jpg_gray.jpg"), tmp_path("b1x65500.jpg"), 1, 65500);
  png_with_size(img_path("png_gray.png"), tmp_path("b999999x16.png"), 999999, 16);
  png_with_size(img_path("png_rgb.png"), tmp_path("short_rows.png"), 48, 41);
  expect_refused("JPEG 32768x32768 baseline", tmp_path("b32768.jpg"), "--max-pixels");
  expect_refused("JPEG 32768x32768 gray", tmp_path("b32768g.jpg"), "--max-pixels");
  expect_refused("JPEG 32768x32768 progressive", tmp_path("b32768p.jpg"), "--max-pixels");
  expect_refused("JPEG 8000x8000 in 938 bytes", tmp_path("b8000.jpg"), "one bit per block");
  /* 8188 blocks fit in 1211 bytes at one bit each: the decode starts and
   * stops at the first missing row */
  expect_refused("JPEG 1x65500 with 48x40 data", tmp_path("b1x65500.jpg"), "premature end of data segment");
  expect_refused("PNG 999999x16 in 1514 bytes", tmp_path("b999999x16.png"), "1032:1");
  expect_refused("PNG rows missing (48x41 of 48x40)", tmp_path("short_rows.png"), "Not enough image data");
  /* over the pixel limit, the file-size bound still refuses it */
  CHECK(tc_image_set_max_pixels(INT64_C(1) << 31) == TC_OK);
  expect_refused("JPEG 32768x32768, --max-pixels 2^31", tmp_path("b32768.jpg"), "one bit per block");
  expect_refused("JPEG 32768x32768 progressive, 2^31", tmp_path("b32768p.jpg"), "one bit per block");
  CHECK(tc_image_set_max_pixels(TC_IMAGE_MAX_PIXELS_DEFAULT) == TC_OK);

  /* scans cut short then EOI: libjpeg's "premature end of data segment" */
  jpeg_cut_scan(img_path("jpg_rgb.jpg"), tmp_path("cut.jpg"), 0.5);
  jpeg_cut_scan(img_path("jpg_gray.jpg"), tmp_path("cutg.jpg"), 0.3);
  jpeg_cut_scan(img_path("jpg_progressive.jpg"), tmp_path("cutp.jpg"), 0.2);
  expect_refused("JPEG scan cut at 50% + EOI", tmp_path("cut.jpg"), "premature end of data segment");
  expect_refused("JPEG gray scan cut at 30% + EOI", tmp_path("cutg.jpg"), "premature end of data segment");
  expect_refused("JPEG progressive cut + EOI", tmp_path("cutp.jpg"), "JPEG");
  make_truncated(img_path("jpg_progressive.jpg"), tmp_path("truncp.jpg"), 0.7);
  expect_refused("JPEG progressive truncated at 70%", tmp_path("truncp.jpg"), "truncated");
  tc_err_clear();
}

/* The crop computed alone equals the full resize then the crop, and a view
 * from the resized window equals the view from the full resized image, for
 * shapes that take every resize branch and both rotation loops. */
typedef struct {
  int w, h, c, resize, crop;
} WindowCase;

static void test_resize_windows(void) {
  WindowCase cases[] = {
      {300, 200, 3, 120, 100}, {130, 90, 3, 64, 56},   {257, 333, 3, 64, 55}, {97, 61, 1, 40, 33},
      {64, 48, 3, 48, 40},     {50, 50, 3, 50, 50},    {40, 50, 3, 40, 32},   {1, 5000, 3, 16, 12},
      {5000, 3, 3, 16, 12},    {2, 3000, 1, 16, 16},   {700, 500, 3, 256, 224}, {33, 4000, 3, 20, 14},
  };
  size_t nbad = 0, ncmp = 0, vbad = 0, vcmp = 0;
  for (size_t i = 0; i < sizeof cases / sizeof *cases; i++) {
    const WindowCase *wc = &cases[i];
    TcImage im = {wc->w, wc->h, wc->c, pattern(i & 1 ? 'B' : 'A', wc->w, wc->h, wc->c)};
    int rw, rh;
    tc_resize_dims(wc->w, wc->h, wc->resize, &rw, &rh);
    uint8_t *full = malloc((size_t)rw * rh * wc->c), *ref = malloc((size_t)wc->crop * wc->crop * wc->c);
    uint8_t *got = malloc((size_t)wc->crop * wc->crop * wc->c);
    CHECK(tc_resize_bilinear(im.rgb, im.w, im.h, im.c, full, rw, rh) == TC_OK);
    CHECK(tc_resize_center_crop(full, rw, rh, im.c, wc->crop, ref) == TC_OK);
    TcPreproc pp = {wc->resize, wc->crop, TC_NORM_IMAGENET};
    if (im.c == 3) CHECK(tc_resize_preprocess_u8(&im, &pp, got) == TC_OK);
    else {
      /* the mask path thresholds, so compare the window itself */
      int x0, y0;
      tc_resize_crop_offsets(rw, rh, wc->crop, &x0, &y0);
      CHECK(tc_resize_bilinear_region(im.rgb, im.w, im.h, 1, rw, rh, x0, y0, wc->crop, wc->crop, got) == TC_OK);
    }
    size_t nd = 0;
    max_abs_diff_u8(got, ref, (size_t)wc->crop * wc->crop * wc->c, &nd);
    CHECK_MSG(nd == 0, "%dx%dx%d -> %d/%d: %zu crop bytes differ", wc->w, wc->h, wc->c, wc->resize, wc->crop, nd);
    nbad += nd, ncmp += (size_t)wc->crop * wc->crop * wc->c;
    /* an arbitrary off-centre window */
    int ow = rw / 3 + 1, oh = rh / 4 + 1, x0 = rw - ow, y0 = rh / 5;
    uint8_t *win = malloc((size_t)ow * oh * wc->c);
    CHECK(tc_resize_bilinear_region(im.rgb, im.w, im.h, im.c, rw, rh, x0, y0, ow, oh, win) == TC_OK);
    size_t wd = 0;
    for (int y = 0; y < oh; y++)
      wd += memcmp(win + (size_t)y * ow * wc->c, full + ((size_t)(y0 + y) * rw + x0) * wc->c, (size_t)ow * wc->c) != 0;
    CHECK_MSG(wd == 0, "%dx%d window %dx%d at (%d,%d): %zu rows differ", wc->w, wc->h, ow, oh, x0, y0, wd);
    CHECK(tc_resize_bilinear_region(im.rgb, im.w, im.h, im.c, rw, rh, x0 + 1, y0, ow, oh, win) == TC_ERR_USAGE);
    tc_err_clear();
    free(win);
    if (im.c == 3) {
      int nv = tc_augment_count(TC_AUG_ROT15FLIP);
      size_t vsz = (size_t)wc->crop * wc->crop * 3;
      uint8_t *views = malloc(vsz * (size_t)nv), *one = malloc(vsz);
      CHECK(tc_augment_views(&im, &pp, TC_AUG_ROT15FLIP, views) == TC_OK);
      for (int v = 0; v < nv; v++) {
        int fl, an;
        tc_augment_view_spec(TC_AUG_ROT15FLIP, v, &fl, &an);
        CHECK(tc_augment_view(full, rw, rh, wc->crop, fl, an, one) == TC_OK);
        size_t d = 0;
        max_abs_diff_u8(views + (size_t)v * vsz, one, vsz, &d);
        CHECK_MSG(d == 0, "%dx%d view flip=%d angle=%d: %zu bytes differ from the full-resize view", wc->w,
                  wc->h, fl, an, d);
        vbad += d, vcmp += vsz;
      }
      free(views), free(one);
    }
    free(full), free(ref), free(got), free(im.rgb);
  }
  printf("resize windows: %zu of %zu crop bytes, %zu of %zu view bytes differ from the full resize\n", nbad,
         ncmp, vbad, vcmp);

  /* the jumped running sums of the rotation's floating-point loop are the
   * loop's bits: PIL's cos/sin steps, starts around large canvas centres
   * and across zero, n up to 2^21 */
  {
    uint64_t st = 12345;
    int bad = 0, cases = 0;
    for (int ang = 0; ang < 360; ang += 15)
      for (int t = 0; t < 40; t++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        double rad = -(double)ang * (M_PI / 180.0);
        char buf[64];
        snprintf(buf, sizeof buf, "%.15f", (t & 1) ? cos(rad) : sin(rad));
        double a = strtod(buf, NULL);
        double v = ((double)(st >> 11) / 9007199254740992.0 - 0.5) * (t < 20 ? 4e7 : 600.0);
        int64_t n = (int64_t)((st >> 20) % (t % 3 == 0 ? 2097152 : 5000));
        double ref = v;
        for (int64_t i = 0; i < n; i++) ref += a;
        double got = tc_augment_replay_sum(v, a, n);
        cases++;
        if (memcmp(&ref, &got, sizeof ref) != 0) {
          if (bad++ < 5) printf("  replay v=%.17g a=%.17g n=%lld: %.17g, loop %.17g\n", v, a, (long long)n, got, ref);
        }
      }
    CHECK_MSG(bad == 0, "jumped running sums: %d of %d differ from the loop", bad, cases);
    printf("rotation running sums: %d cases, %d differ from the addition loop\n", cases, bad);
  }
  /* 65500 x 1: canvas 16768066 wide, PIL's floating-point rotation loop;
   * 47 views of the 1 x 65500 and 65500 x 1 images, each in well under
   * a second */
  for (int tall = 0; tall < 2; tall++) {
    int w = tall ? 1 : 65500, h = tall ? 65500 : 1;
    TcImage im = {w, h, 3, pattern('B', w, h, 3)};
    uint8_t *views = malloc((size_t)47 * 224 * 224 * 3);
    double t0 = now_s();
    TcErr e = tc_augment_views(&im, &TC_PREPROC_DEFAULT, TC_AUG_ROT15FLIP, views);
    double dt = now_s() - t0;
    CHECK_MSG(e == TC_OK && dt < 5.0, "%dx%d: 47 views: %s in %.2f s", w, h, tc_err_name(e), dt);
    printf("%dx%d image: 47 views in %.0f ms\n", w, h, 1e3 * dt);
    free(views), free(im.rgb);
  }
  /* 1 x 65500 (the 633-byte JPEG's size): resized 256 x 16768000 = 12.9 GB
   * if materialised; the crop alone is immediate */
  {
    TcImage im = {1, 65500, 3, pattern('A', 1, 65500, 3)};
    uint8_t *out = malloc(224 * 224 * 3);
    double t0 = now_s();
    TcErr e = tc_resize_preprocess_u8(&im, &TC_PREPROC_DEFAULT, out);
    double dt = now_s() - t0;
    CHECK_MSG(e == TC_OK && dt < 0.5, "1x65500 crop: %s in %.2f s", tc_err_name(e), dt);
    int flat = 1; /* one source column: every output row is one colour */
    for (int y = 0; y < 224; y++)
      for (int x = 1; x < 224; x++) flat &= !memcmp(out + (y * 224 + x) * 3, out + y * 224 * 3, 3);
    CHECK(flat);
    uint8_t *views = malloc((size_t)7 * 224 * 224 * 3);
    t0 = now_s();
    e = tc_augment_views(&im, &TC_PREPROC_DEFAULT, TC_AUG_ROTFLIP, views);
    dt = now_s() - t0;
    CHECK_MSG(e == TC_OK && dt < 2.0, "1x65500 views: %s in %.2f s", tc_err_name(e), dt);
    printf("1x65500 image: crop and 7 views computed in %.0f ms\n", 1e3 * dt);
    free(views), free(out), free(im.rgb);
  }
  /* an aspect ratio whose resized longer side would pass 2^31: refused */
  {
    TcImage mk = {1, 10000000, 1, calloc(10000000, 1)};
    uint8_t out[224 * 224];
    tc_err_clear();
    TcErr e = tc_resize_mask(&mk, &TC_PREPROC_DEFAULT, out);
    CHECK_MSG(e == TC_ERR_FORMAT && strstr(tc_err_message(), "aspect ratio"), "1 x 10M mask: %s: %s",
              tc_err_name(e), tc_err_message());
    tc_err_clear();
    free(mk.rgb);
  }
}

static void rm_tmpdir(void) {
  DIR *d = opendir(tmpdir);
  if (!d) return;
  struct dirent *e;
  while ((e = readdir(d))) {
    if (!strcmp(e->d_name, ".") || !strcmp(e->d_name, "..")) continue;
    const char *p = tmp_path(e->d_name);
    if (remove(p) != 0) rmdir(p);
  }
  closedir(d);
  rmdir(tmpdir);
}

int main(void) {
  snprintf(tmpdir, sizeof tmpdir, "/tmp/tc_test_image_XXXXXX");
  if (!mkdtemp(tmpdir)) {
    perror("mkdtemp");
    return 1;
  }
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  hid_t f = open_fixture("image_ref.h5");
  hid_t fv = open_fixture("image_views_ref.h5");
  if (f >= 0) {
    test_decode_golden(f);
    test_resize_golden(f);
    test_normalize_golden(f);
    test_preprocess_file(f);
    test_mask(f);
    H5Fclose(f);
  }
  test_tiff_written();
  test_tiff_jpeg();
  test_bad_files();
  test_mutations();
  test_bombs();
  test_resize_windows();
  if (fv >= 0) {
    test_views(fv);
    H5Fclose(fv);
  }
  rm_tmpdir();
  return tc_test_report();
}
