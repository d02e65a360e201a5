/* make_bombs.c - writes the hostile images of issue 19 ("decompression and
 * resize bombs") into a directory at test time, so no large file is
 * committed and no Python is needed. Usage: make_bombs OUTDIR.
 *
 * Refused by every decoding command (exit 3, one line):
 *   jpeg_32768_base.jpg    baseline RGB JPEG whose frame declares 32768 x 32768,
 *                          with the scan of a 64 x 64 gradient (about 1 KB)
 *   jpeg_32768_gray.jpg    the same, grayscale
 *   jpeg_prog_bomb.jpg     the same, progressive
 *   jpeg_8000_base.jpg     declares 8000 x 8000 (under --max-pixels, over the
 *                          file-size bound)
 *   jpeg_1x65500_cut.jpg   a valid 1 x 65500 gray JPEG cut to 633 bytes + EOI
 *   png_999999x16_bomb.png IHDR 999999 x 16 RGB, 82 bytes
 *   png_short_rows.png     IHDR says 120 rows, data for 100
 *   jpeg_missing.jpg       2000 x 1500 noise JPEG (within every bound) whose
 *                          scan stops halfway, then EOI
 *   jpeg_prog_missing.jpg  the same, progressive
 *   trunc.jpg trunc.png trunc.tif  1000 x 800 noise images cut at 60%
 *                          (libtiff writes the IFD last: trunc.tif has none)
 *   trunc_strips.tif       1000 x 800 gray TIFF, IFD first, cut at 60%: the
 *                          strips past the cut are missing
 * Accepted (exit 0, small memory):
 *   jpeg_1x65500.jpg       valid 1 x 65500 gray JPEG (resized: 256 x 16768000)
 *   png_999999x16.png      valid 999999 x 16 gray PNG (resized: 15999984 x 256)
 *   photo_4000x3000.jpg/.png  valid 4000 x 3000 smooth RGB images
 *   gray_ifd_first.tif     trunc_strips.tif uncut */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>

#include "image_write.h"

static const char *dir_;

static const char *path_(const char *name) {
  static char buf[4][4096];
  static int k = 0;
  k = (k + 1) % 4;
  snprintf(buf[k], sizeof buf[k], "%s/%s", dir_, name);
  return buf[k];
}

static void die_(const char *what) {
  fprintf(stderr, "make_bombs: %s\n", what);
  exit(1);
}

static void put_(const char *name, const uint8_t *b, size_t n) {
  FILE *f = fopen(path_(name), "wb");
  if (!f || fwrite(b, 1, n, f) != n || fclose(f) != 0) die_(name);
}

static uint8_t *get_(const char *name, size_t *n) {
  FILE *f = fopen(path_(name), "rb");
  if (!f) die_(name);
  fseek(f, 0, SEEK_END);
  long sz = ftell(f);
  fseek(f, 0, SEEK_SET);
  uint8_t *b = malloc((size_t)sz + 2);
  if (!b || fread(b, 1, (size_t)sz, f) != (size_t)sz) die_(name);
  fclose(f);
  *n = (size_t)sz;
  return b;
}

/* JPEG in memory with libjpeg's defaults (4:2:0 for colour). */
static uint8_t *jpeg_(int w, int h, int c, const uint8_t *px, int quality, int progressive, size_t *n) {
  struct jpeg_compress_struct ci;
  struct jpeg_error_mgr jerr;
  ci.err = jpeg_std_error(&jerr);
  jpeg_create_compress(&ci);
  unsigned char *buf = NULL;
  unsigned long len = 0;
  jpeg_mem_dest(&ci, &buf, &len);
  ci.image_width = (JDIMENSION)w, ci.image_height = (JDIMENSION)h;
  ci.input_components = c;
  ci.in_color_space = c == 1 ? JCS_GRAYSCALE : JCS_RGB;
  jpeg_set_defaults(&ci);
  jpeg_set_quality(&ci, quality, TRUE);
  ci.optimize_coding = TRUE;
  if (progressive) jpeg_simple_progression(&ci);
  jpeg_start_compress(&ci, TRUE);
  while (ci.next_scanline < ci.image_height) {
    JSAMPROW row = (JSAMPROW)(px + (size_t)ci.next_scanline * (size_t)w * (size_t)c);
    jpeg_write_scanlines(&ci, &row, 1);
  }
  jpeg_finish_compress(&ci);
  jpeg_destroy_compress(&ci);
  *n = len;
  return buf;
}

/* Offset of the first SOF0/1/2 (sos = 0) or SOS (sos = 1) marker. */
static size_t jpeg_find_(const uint8_t *b, size_t n, int sos) {
  size_t i = 2;
  while (i + 4 <= n && b[i] == 0xFF) {
    int m = b[i + 1];
    if (sos ? m == 0xDA : (m == 0xC0 || m == 0xC1 || m == 0xC2)) return i;
    i += 2 + ((size_t)b[i + 2] << 8 | b[i + 3]);
  }
  die_("no SOF/SOS marker");
  return 0;
}

static void jpeg_resized_(const char *name, uint8_t *b, size_t n, int w, int h) {
  size_t k = jpeg_find_(b, n, 0);
  b[k + 5] = (uint8_t)(h >> 8), b[k + 6] = (uint8_t)h;
  b[k + 7] = (uint8_t)(w >> 8), b[k + 8] = (uint8_t)w;
  put_(name, b, n);
}

/* keep the first scan's data up to `frac`, then EOI */
static void jpeg_cut_(const char *name, uint8_t *b, size_t n, double frac) {
  size_t k = jpeg_find_(b, n, 1);
  size_t data = k + 2 + ((size_t)b[k + 2] << 8 | b[k + 3]);
  size_t keep = data + (size_t)((double)(n - data) * frac);
  if (b[keep - 1] == 0xFF) keep--;
  uint8_t *c = malloc(keep + 2);
  memcpy(c, b, keep);
  c[keep] = 0xFF, c[keep + 1] = 0xD9;
  put_(name, c, keep + 2);
  free(c);
}

static uint32_t crc32_(const uint8_t *p, size_t n) {
  uint32_t c = 0xFFFFFFFFu;
  for (size_t i = 0; i < n; i++) {
    c ^= p[i];
    for (int k = 0; k < 8; k++) c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
  }
  return c ^ 0xFFFFFFFFu;
}

static void be32_(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16), p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static void png_chunk_(uint8_t *dst, size_t *at, const char *kind, const uint8_t *data, uint32_t len) {
  be32_(dst + *at, len);
  memcpy(dst + *at + 4, kind, 4);
  if (len) memcpy(dst + *at + 8, data, len);
  be32_(dst + *at + 8 + len, crc32_(dst + *at + 4, 4 + (size_t)len));
  *at += 12 + len;
}

static void le_(uint8_t *p, uint32_t v, int bytes) {
  for (int i = 0; i < bytes; i++) p[i] = (uint8_t)(v >> (8 * i));
}

/* Uncompressed 8-bit gray TIFF with its IFD before the data (as PIL writes
 * it; libtiff puts it last), 8 rows per strip, so a truncated copy still
 * opens and fails on a strip. */
static void tiff_ifd_first_(const char *name, int w, int h, const uint8_t *px, double keep) {
  const int rps = 8, ns = (h + rps - 1) / rps, nent = 9;
  size_t ifd = 8, arrs = ifd + 2 + 12 * (size_t)nent + 4, data = arrs + 8 * (size_t)ns;
  size_t n = data + (size_t)w * h;
  uint8_t *b = calloc(n, 1);
  memcpy(b, "II*\0", 4);
  le_(b + 4, (uint32_t)ifd, 4);
  le_(b + ifd, (uint32_t)nent, 2);
  /* tag, type (3 SHORT, 4 LONG), count, value or offset */
  uint32_t ent[9][4] = {{256, 4, 1, (uint32_t)w},        {257, 4, 1, (uint32_t)h},
                        {258, 3, 1, 8},                  {259, 3, 1, 1},
                        {262, 3, 1, 1},                  {273, 4, (uint32_t)ns, (uint32_t)arrs},
                        {277, 3, 1, 1},                  {278, 4, 1, (uint32_t)rps},
                        {279, 4, (uint32_t)ns, (uint32_t)(arrs + 4 * (size_t)ns)}};
  for (int i = 0; i < nent; i++) {
    uint8_t *e = b + ifd + 2 + 12 * (size_t)i;
    le_(e, ent[i][0], 2), le_(e + 2, ent[i][1], 2), le_(e + 4, ent[i][2], 4);
    le_(e + 8, ent[i][3], ent[i][1] == 3 ? 2 : 4);
  }
  for (int s = 0; s < ns; s++) {
    int rows = (s + 1) * rps <= h ? rps : h - s * rps;
    le_(b + arrs + 4 * (size_t)s, (uint32_t)(data + (size_t)s * rps * w), 4);
    le_(b + arrs + 4 * ((size_t)ns + s), (uint32_t)((size_t)rows * w), 4);
  }
  memcpy(b + data, px, (size_t)w * h);
  put_(name, b, (size_t)((double)n * keep));
  free(b);
}

static uint8_t *noise_(int w, int h, int c, uint32_t seed) {
  size_t n = (size_t)w * h * c;
  uint8_t *p = malloc(n);
  uint32_t s = seed * 2654435761u + 1;
  for (size_t i = 0; i < n; i++) {
    s ^= s << 13, s ^= s >> 17, s ^= s << 5;
    p[i] = (uint8_t)(s >> 7);
  }
  return p;
}

int main(int argc, char **argv) {
  if (argc != 2) die_("usage: make_bombs OUTDIR");
  dir_ = argv[1];
  size_t n;
  uint8_t *b;

  /* declared sizes the data cannot fill */
  uint8_t grad[64 * 64 * 3], gradg[64 * 64];
  for (int y = 0; y < 64; y++)
    for (int x = 0; x < 64; x++) {
      gradg[y * 64 + x] = (uint8_t)(4 * y);
      for (int ch = 0; ch < 3; ch++) grad[(y * 64 + x) * 3 + ch] = (uint8_t)(4 * y);
    }
  b = jpeg_(64, 64, 3, grad, 90, 0, &n);
  jpeg_resized_("jpeg_32768_base.jpg", b, n, 32768, 32768);
  jpeg_resized_("jpeg_8000_base.jpg", b, n, 8000, 8000);
  free(b);
  b = jpeg_(64, 64, 1, gradg, 90, 0, &n);
  jpeg_resized_("jpeg_32768_gray.jpg", b, n, 32768, 32768);
  free(b);
  b = jpeg_(64, 64, 3, grad, 75, 1, &n);
  jpeg_resized_("jpeg_prog_bomb.jpg", b, n, 32768, 32768);
  free(b);

  /* 1 x 65500: valid, and cut to 633 bytes */
  uint8_t *tall = malloc(65500);
  memset(tall, 128, 65500);
  b = jpeg_(1, 65500, 1, tall, 75, 0, &n);
  put_("jpeg_1x65500.jpg", b, n);
  b[631] = 0xFF, b[632] = 0xD9;
  put_("jpeg_1x65500_cut.jpg", b, 633);
  free(b), free(tall);

  /* 999999 x 16: valid gray PNG, and an 82-byte RGB one */
  uint8_t *wide = calloc((size_t)999999 * 16, 1);
  if (tc_image_write(path_("png_999999x16.png"), 999999, 16, 1, wide, TC_IMAGE_PNG) != TC_OK) die_("png");
  free(wide);
  {
    /* zlib stream of 16 rows of 64 black RGB pixels (filter 0), stored */
    uint8_t raw[16 * (1 + 64 * 3)];
    memset(raw, 0, sizeof raw);
    uint8_t z[2 + 5 + sizeof raw + 4];
    size_t zn = 0;
    z[zn++] = 0x78, z[zn++] = 0x01;
    z[zn++] = 0x01; /* final stored block */
    z[zn++] = (uint8_t)(sizeof raw), z[zn++] = (uint8_t)(sizeof raw >> 8);
    z[zn++] = (uint8_t)~(sizeof raw), z[zn++] = (uint8_t)(~(sizeof raw) >> 8);
    memcpy(z + zn, raw, sizeof raw);
    zn += sizeof raw;
    uint32_t a = 1, bb = 0; /* adler32 */
    for (size_t i = 0; i < sizeof raw; i++) a = (a + raw[i]) % 65521, bb = (bb + a) % 65521;
    be32_(z + zn, bb << 16 | a);
    zn += 4;
    uint8_t png[8 + 25 + 12 + sizeof z + 12];
    size_t at = 8;
    memcpy(png, "\x89PNG\r\n\x1a\n", 8);
    uint8_t ihdr[13] = {0, 0, 0, 0, 0, 0, 0, 0, 8, 2, 0, 0, 0};
    be32_(ihdr, 999999), be32_(ihdr + 4, 16);
    png_chunk_(png, &at, "IHDR", ihdr, 13);
    png_chunk_(png, &at, "IDAT", z, (uint32_t)zn);
    png_chunk_(png, &at, "IEND", NULL, 0);
    put_("png_999999x16_bomb.png", png, at);
  }
  /* 100 rows of noise, IHDR says 120 */
  uint8_t *nz = noise_(100, 100, 1, 5);
  if (tc_image_write(path_("png_short_rows.png"), 100, 100, 1, nz, TC_IMAGE_PNG) != TC_OK) die_("png");
  free(nz);
  b = get_("png_short_rows.png", &n);
  be32_(b + 20, 120);
  be32_(b + 29, crc32_(b + 12, 17));
  put_("png_short_rows.png", b, n);
  free(b);

  /* data segments that end early, in files of a plausible size */
  uint8_t *big = noise_(2000, 1500, 3, 3);
  b = jpeg_(2000, 1500, 3, big, 90, 0, &n);
  jpeg_cut_("jpeg_missing.jpg", b, n, 0.5);
  free(b);
  b = jpeg_(2000, 1500, 3, big, 90, 1, &n);
  jpeg_cut_("jpeg_prog_missing.jpg", b, n, 0.5);
  free(b), free(big);

  /* truncated files */
  uint8_t *mid = noise_(1000, 800, 3, 4);
  b = jpeg_(1000, 800, 3, mid, 90, 0, &n);
  put_("trunc.jpg", b, n * 6 / 10);
  free(b);
  if (tc_image_write(path_("trunc.png"), 1000, 800, 3, mid, TC_IMAGE_PNG) != TC_OK ||
      tc_image_write(path_("trunc.tif"), 1000, 800, 3, mid, TC_IMAGE_TIFF_DEFLATE) != TC_OK)
    die_("png/tif");
  tiff_ifd_first_("trunc_strips.tif", 1000, 800, mid, 0.6);
  tiff_ifd_first_("gray_ifd_first.tif", 1000, 800, mid, 1.0);
  free(mid);
  const char *tr[] = {"trunc.png", "trunc.tif"};
  for (int i = 0; i < 2; i++) {
    b = get_(tr[i], &n);
    put_(tr[i], b, n * 6 / 10);
    free(b);
  }

  /* legit large images */
  int W = 4000, H = 3000;
  uint8_t *ph = malloc((size_t)W * H * 3);
  for (int y = 0; y < H; y++)
    for (int x = 0; x < W; x++) {
      uint8_t *p = ph + ((size_t)y * W + x) * 3;
      p[0] = (uint8_t)(x * 255 / W), p[1] = (uint8_t)(y * 255 / H), p[2] = (uint8_t)((x + y) & 255);
    }
  b = jpeg_(W, H, 3, ph, 90, 0, &n);
  put_("photo_4000x3000.jpg", b, n);
  free(b);
  if (tc_image_write(path_("photo_4000x3000.png"), W, H, 3, ph, TC_IMAGE_PNG) != TC_OK) die_("png");
  free(ph);
  return 0;
}
