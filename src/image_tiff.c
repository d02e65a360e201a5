/* image_tiff.c - TIFF decoding with libtiff (DESIGN 3.1).
 *
 * Decodes the first IFD strip by strip or tile by tile
 * (TIFFReadEncodedStrip / TIFFReadEncodedTile, every return checked), planar
 * contiguous or separate, any compression libtiff was built with. Supported:
 * unsigned 1/2/4/8/16-bit gray (min-is-black or min-is-white, extra samples
 * such as alpha dropped), 8/16-bit RGB(A), 1/2/4/8/16-bit palette, and
 * JPEG-compressed YCbCr (libtiff converts it to RGB). Refused with a clear
 * message: float / signed / 32-bit samples, CMYK, Lab, uncompressed YCbCr.
 * Not TIFFReadRGBAImage: it loses 16-bit precision and is slow.
 *
 * libtiff reports problems through process-wide handlers; while a file is
 * read ours are installed and keep the first error text in a static buffer
 * (a rank is a single thread; this decoder is not thread-safe), so no rank
 * ever writes to stderr and the message reaches err.h prefixed by the path.
 *
 * Bombs: the declared size is checked against the pixel limit (image.h)
 * before the image is allocated; there is no file-size bound (CCITT and
 * JBIG strips legitimately compress bilevel pages by thousands to one), but
 * libtiff refuses strips whose byte counts point past the end of the file,
 * and every strip or tile that decodes short or fails is an error, so
 * missing data stop the decode at the first damaged strip. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>

#include "image.h"

#define MAX_SIDE (1 << 20)

static char tiff_msg_[512];

static void tiff_error_handler_(const char *module, const char *fmt, va_list ap) {
  if (tiff_msg_[0]) return; /* first message is the root cause */
  char text[400];
  vsnprintf(text, sizeof text, fmt, ap);
  if (module && *module)
    snprintf(tiff_msg_, sizeof tiff_msg_, "%s (libtiff %s)", text, module);
  else
    snprintf(tiff_msg_, sizeof tiff_msg_, "%s (libtiff)", text);
}

/* Warnings (unknown tags, odd but readable files) are not errors for us. */
static void tiff_warning_handler_(const char *module, const char *fmt, va_list ap) {
  (void)module, (void)fmt, (void)ap;
}

static const char *tiff_detail_(void) { return tiff_msg_[0] ? tiff_msg_ : "no detail from libtiff"; }

/* 16-bit to 8-bit, DESIGN 3.1 rule: round(v * 255 / 65535) (never a tie). */
static inline uint8_t to8_(uint32_t v16) { return (uint8_t)((v16 * 255u + 32767u) / 65535u); }

/* Sample `idx` of a packed row of `bits`-bit samples (1, 2, 4, 8, 16). 16-bit
 * data come back from libtiff already in host byte order. */
static inline uint32_t get_sample_(const uint8_t *row, int bits, size_t idx) {
  switch (bits) {
  case 8: return row[idx];
  case 16: {
    uint16_t v;
    memcpy(&v, row + 2 * idx, 2);
    return v;
  }
  default: { /* 1, 2, 4: MSB first (FillOrder is undone by libtiff) */
    size_t bit = idx * (size_t)bits;
    unsigned shift = 8u - (unsigned)bits - (unsigned)(bit & 7u);
    return (row[bit >> 3] >> shift) & ((1u << bits) - 1u);
  }
  }
}

typedef enum { KIND_GRAY, KIND_RGB, KIND_PALETTE } TiffKind;

typedef struct {
  TiffKind kind;
  int bits;       /* bits per sample */
  int spp;        /* samples per pixel (in the file) */
  int separate;   /* planar configuration 2 */
  int invert;     /* min-is-white */
  uint8_t lut[3][256]; /* palette index -> RGB (8-bit) */
  int ncolors;
  uint8_t gray_lut[16]; /* 1/2/4-bit gray -> 8-bit */
} TiffLayout;

/* Write one decoded block (strip or tile) of plane `plane` into the image.
 * block: rows of `row_bytes` bytes; the block covers image pixels
 * [x0, x0 + bw) x [y0, y0 + bh) (already clipped to the image). */
static void put_block_(const TiffLayout *L, const uint8_t *block, size_t row_bytes, int x0,
                       int y0, int bw, int bh, int plane, TcImage *img) {
  int c = img->c;
  int sp = L->separate ? 1 : L->spp; /* samples per pixel within this block */
  for (int y = 0; y < bh; y++) {
    const uint8_t *row = block + (size_t)y * row_bytes;
    uint8_t *dst = img->rgb + ((size_t)(y0 + y) * (size_t)img->w + (size_t)x0) * (size_t)c;
    for (int x = 0; x < bw; x++) {
      if (L->kind == KIND_PALETTE) {
        uint32_t i = get_sample_(row, L->bits, (size_t)x * (size_t)sp);
        /* Index beyond the colormap: clamp (libtiff does not validate). */
        if ((int)i >= L->ncolors) i = (uint32_t)L->ncolors - 1;
        dst[3 * x] = L->lut[0][i], dst[3 * x + 1] = L->lut[1][i], dst[3 * x + 2] = L->lut[2][i];
      } else if (L->kind == KIND_GRAY) {
        if (L->separate && plane != 0) return; /* extra-sample planes */
        uint32_t v = get_sample_(row, L->bits, (size_t)x * (size_t)sp);
        uint8_t g = L->bits == 16 ? to8_(v) : L->bits == 8 ? (uint8_t)v : L->gray_lut[v];
        dst[x] = L->invert ? (uint8_t)(255 - g) : g;
      } else { /* RGB */
        if (L->separate) {
          if (plane > 2) return;
          uint32_t v = get_sample_(row, L->bits, (size_t)x);
          dst[3 * x + plane] = L->bits == 16 ? to8_(v) : (uint8_t)v;
        } else {
          for (int s = 0; s < 3; s++) {
            uint32_t v = get_sample_(row, L->bits, (size_t)x * (size_t)sp + (size_t)s);
            dst[3 * x + s] = L->bits == 16 ? to8_(v) : (uint8_t)v;
          }
        }
      }
    }
  }
}

/* The tags of the first IFD that decide how it decodes. */
typedef struct {
  uint32_t w, h;
  uint16_t bits, spp, photometric, planar, sampleformat, compression;
} TiffTags;

/* Read the tags (libtiff's defaults where absent; a missing photometric
 * interpretation guessed from the samples, tolerant like PIL) and refuse
 * sizes and sample formats we do not decode, before any allocation. */
static TcErr read_tags_(TIFF *tif, const char *path, TiffTags *t) {
  *t = (TiffTags){.bits = 1, .spp = 1, .planar = PLANARCONFIG_CONTIG, .sampleformat = SAMPLEFORMAT_UINT,
                  .compression = COMPRESSION_NONE};
  TC_CHECK(TIFFGetField(tif, TIFFTAG_IMAGEWIDTH, &t->w) && TIFFGetField(tif, TIFFTAG_IMAGELENGTH, &t->h),
           TC_ERR_FORMAT, "%s: TIFF without image size: %s", path, tiff_detail_());
  TIFFGetFieldDefaulted(tif, TIFFTAG_BITSPERSAMPLE, &t->bits);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLESPERPIXEL, &t->spp);
  TIFFGetFieldDefaulted(tif, TIFFTAG_PLANARCONFIG, &t->planar);
  TIFFGetFieldDefaulted(tif, TIFFTAG_SAMPLEFORMAT, &t->sampleformat);
  TIFFGetFieldDefaulted(tif, TIFFTAG_COMPRESSION, &t->compression);
  if (!TIFFGetField(tif, TIFFTAG_PHOTOMETRIC, &t->photometric))
    t->photometric = t->spp >= 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK;

  TC_CALL(tc_image_check_size(path, "TIFF", t->w, t->h));
  TC_CHECK(t->w <= MAX_SIDE && t->h <= MAX_SIDE, TC_ERR_FORMAT, "%s: unsupported TIFF size %ux%u", path, t->w,
           t->h);
  TC_CHECK(t->sampleformat == SAMPLEFORMAT_UINT || t->sampleformat == SAMPLEFORMAT_VOID, TC_ERR_FORMAT,
           "%s: unsupported TIFF sample format %u (%s); only unsigned integer samples are read", path,
           t->sampleformat,
           t->sampleformat == SAMPLEFORMAT_IEEEFP ? "floating point" :
           t->sampleformat == SAMPLEFORMAT_INT ? "signed integer" : "other");
  TC_CHECK(t->spp >= 1, TC_ERR_FORMAT, "%s: TIFF with 0 samples per pixel", path);
  return TC_OK;
}

/* The colormap of a palette TIFF as 8-bit RGB lookup tables. */
static TcErr read_palette_(TIFF *tif, const char *path, const TiffTags *t, TiffLayout *L) {
  L->kind = KIND_PALETTE;
  TC_CHECK(t->spp == 1 && (t->bits == 1 || t->bits == 2 || t->bits == 4 || t->bits == 8), TC_ERR_FORMAT,
           "%s: unsupported TIFF: %u-bit palette with %u samples (supported: 1-8 bit, 1 sample)", path, t->bits,
           t->spp);
  uint16_t *r = NULL, *g = NULL, *b = NULL;
  TC_CHECK(TIFFGetField(tif, TIFFTAG_COLORMAP, &r, &g, &b) && r && g && b, TC_ERR_FORMAT,
           "%s: palette TIFF without a colormap", path);
  L->ncolors = 1 << t->bits;
  /* Some writers store 8-bit colormaps; libtiff's own heuristic: if no
   * entry exceeds 255 the map is 8-bit. */
  int is8 = 1;
  for (int i = 0; i < L->ncolors; i++)
    if (r[i] > 255 || g[i] > 255 || b[i] > 255) is8 = 0;
  /* Colormap entries are 16-bit but writers store v * 256 (PIL) or
   * v * 257; the high byte is v for both, and is what libtiff and PIL
   * use. Rounding v * 256 * 255 / 65535 would turn 255 into 254. */
  for (int i = 0; i < L->ncolors; i++) {
    L->lut[0][i] = is8 ? (uint8_t)r[i] : (uint8_t)(r[i] >> 8);
    L->lut[1][i] = is8 ? (uint8_t)g[i] : (uint8_t)(g[i] >> 8);
    L->lut[2][i] = is8 ? (uint8_t)b[i] : (uint8_t)(b[i] >> 8);
  }
  return TC_OK;
}

/* How the samples map to gray or RGB pixels; the kinds we do not decode
 * refused with their name. */
static TcErr layout_of_(TIFF *tif, const char *path, const TiffTags *t, TiffLayout *L) {
  const uint16_t bits = t->bits, spp = t->spp, photometric = t->photometric;
  L->bits = bits;
  L->spp = spp;
  L->separate = t->planar == PLANARCONFIG_SEPARATE && spp > 1;
  switch (photometric) {
  case PHOTOMETRIC_MINISBLACK:
  case PHOTOMETRIC_MINISWHITE:
    L->kind = KIND_GRAY;
    L->invert = photometric == PHOTOMETRIC_MINISWHITE;
    TC_CHECK(bits == 1 || bits == 2 || bits == 4 || bits == 8 || bits == 16, TC_ERR_FORMAT,
             "%s: unsupported TIFF depth: %u-bit gray (supported: 1, 2, 4, 8, 16)", path, bits);
    if (bits < 8)
      for (uint32_t v = 0; v < (1u << bits); v++) L->gray_lut[v] = (uint8_t)(v * 255u / ((1u << bits) - 1u));
    return TC_OK;
  case PHOTOMETRIC_YCBCR:
    TC_CHECK(t->compression == COMPRESSION_JPEG, TC_ERR_FORMAT,
             "%s: unsupported TIFF: YCbCr without JPEG compression", path);
    /* libtiff's JPEG codec upsamples and converts to RGB for us. */
    TC_CHECK(TIFFSetField(tif, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB), TC_ERR_FORMAT,
             "%s: cannot decode YCbCr JPEG TIFF: %s", path, tiff_detail_());
    /* fall through */
  case PHOTOMETRIC_RGB:
    L->kind = KIND_RGB;
    TC_CHECK(spp >= 3, TC_ERR_FORMAT, "%s: unsupported TIFF: RGB with %u samples per pixel", path, spp);
    TC_CHECK(bits == 8 || bits == 16, TC_ERR_FORMAT,
             "%s: unsupported TIFF depth: %u-bit RGB (supported: 8, 16)", path, bits);
    return TC_OK;
  case PHOTOMETRIC_PALETTE:
    return read_palette_(tif, path, t, L);
  default:
    return tc_err_set(TC_ERR_FORMAT, "%s: unsupported TIFF photometric interpretation %u (%s)", path, photometric,
                      photometric == PHOTOMETRIC_SEPARATED ? "CMYK" :
                      photometric == PHOTOMETRIC_CIELAB || photometric == PHOTOMETRIC_ICCLAB ||
                              photometric == PHOTOMETRIC_ITULAB ? "Lab" :
                      photometric == PHOTOMETRIC_MASK ? "transparency mask" : "not gray, RGB or palette");
  }
}

/* Decode a tiled image tile by tile into out (allocated, out->w x out->h). */
static TcErr decode_tiles_(TIFF *tif, const char *path, const TiffLayout *L, TcImage *out) {
  const uint32_t w = (uint32_t)out->w, h = (uint32_t)out->h;
  const int nplanes = L->separate ? L->spp : 1;
  uint32_t tw = 0, th = 0;
  TC_CHECK(TIFFGetField(tif, TIFFTAG_TILEWIDTH, &tw) && TIFFGetField(tif, TIFFTAG_TILELENGTH, &th) && tw > 0 &&
               th > 0,
           TC_ERR_FORMAT, "%s: tiled TIFF without tile size", path);
  tmsize_t tsize = TIFFTileSize(tif), trow = TIFFTileRowSize(tif);
  TC_CHECK(tsize > 0 && trow > 0 && (uint64_t)trow * th <= (uint64_t)tsize, TC_ERR_FORMAT,
           "%s: bad TIFF tile layout: %s", path, tiff_detail_());
  uint8_t *buf = tc_malloc((size_t)tsize, "TIFF tile buffer");
  if (!buf) return TC_ERR_MEM;
  TcErr err = TC_OK;
  for (int p = 0; p < nplanes; p++)
    for (uint32_t ty = 0; ty < h; ty += th)
      for (uint32_t tx = 0; tx < w; tx += tw) {
        uint32_t t = TIFFComputeTile(tif, tx, ty, 0, (uint16_t)p);
        tmsize_t n = TIFFReadEncodedTile(tif, t, buf, tsize);
        TC_CHECK_GOTO(err, n == tsize, TC_ERR_FORMAT, cleanup,
                      "%s: TIFF tile %u unreadable (truncated or corrupt): %s", path, t,
                      n < 0 ? tiff_detail_() : "short tile");
        int bw = (int)(tx + tw <= w ? tw : w - tx), bh = (int)(ty + th <= h ? th : h - ty);
        put_block_(L, buf, (size_t)trow, (int)tx, (int)ty, bw, bh, p, out);
      }
cleanup:
  free(buf);
  return err;
}

/* Decode a stripped image strip by strip into out (allocated). */
static TcErr decode_strips_(TIFF *tif, const char *path, const TiffLayout *L, TcImage *out) {
  const uint32_t w = (uint32_t)out->w, h = (uint32_t)out->h;
  const int nplanes = L->separate ? L->spp : 1;
  uint32_t rps = 0;
  TIFFGetFieldDefaulted(tif, TIFFTAG_ROWSPERSTRIP, &rps);
  if (rps == 0 || rps > h) rps = h;
  tmsize_t ssize = TIFFStripSize(tif), srow = TIFFScanlineSize(tif);
  TC_CHECK(ssize > 0 && srow > 0, TC_ERR_FORMAT, "%s: bad TIFF strip layout: %s", path, tiff_detail_());
  uint8_t *buf = tc_malloc((size_t)ssize, "TIFF strip buffer");
  if (!buf) return TC_ERR_MEM;
  TcErr err = TC_OK;
  for (int p = 0; p < nplanes; p++)
    for (uint32_t y = 0; y < h; y += rps) {
      uint32_t rows = y + rps <= h ? rps : h - y;
      uint32_t s = TIFFComputeStrip(tif, y, (uint16_t)p);
      tmsize_t want = srow * (tmsize_t)rows;
      tmsize_t n = TIFFReadEncodedStrip(tif, s, buf, ssize);
      TC_CHECK_GOTO(err, n >= want, TC_ERR_FORMAT, cleanup,
                    "%s: TIFF strip %u unreadable (truncated or corrupt): %s", path, s,
                    n < 0 ? tiff_detail_() : "short strip");
      put_block_(L, buf, (size_t)srow, 0, (int)y, (int)w, (int)rows, p, out);
    }
cleanup:
  free(buf);
  return err;
}

TcErr tc_image_read_tiff(const char *path, TcImage *out) {
  TcErr err = TC_OK;
  TIFF *tif = NULL;
  TiffLayout *L = NULL;
  memset(out, 0, sizeof *out);
  /* Ours for the duration of this call only, then the caller's again, so
   * other users of libtiff in the process (image_write.c) are unaffected. */
  TIFFErrorHandler old_err = TIFFSetErrorHandler(tiff_error_handler_);
  TIFFErrorHandler old_warn = TIFFSetWarningHandler(tiff_warning_handler_);
  tiff_msg_[0] = 0;

  tif = TIFFOpen(path, "r");
  TC_CHECK_GOTO(err, tif, TC_ERR_FORMAT, cleanup, "%s: not a readable TIFF: %s", path,
                tiff_detail_());
  L = tc_calloc(1, sizeof *L, "TIFF layout");
  if (!L) { err = TC_ERR_MEM; goto cleanup; }
  TiffTags t;
  TC_CALL_GOTO(err, read_tags_(tif, path, &t), cleanup);
  TC_CALL_GOTO(err, layout_of_(tif, path, &t, L), cleanup);

  out->w = (int)t.w;
  out->h = (int)t.h;
  out->c = L->kind == KIND_GRAY ? 1 : 3;
  out->rgb = tc_malloc((size_t)t.w * t.h * (size_t)out->c, "TIFF pixels");
  if (!out->rgb) { err = TC_ERR_MEM; goto cleanup; }
  if (TIFFIsTiled(tif)) TC_CALL_GOTO(err, decode_tiles_(tif, path, L, out), cleanup);
  else TC_CALL_GOTO(err, decode_strips_(tif, path, L, out), cleanup);

cleanup:
  free(L);
  if (tif) TIFFClose(tif);
  TIFFSetErrorHandler(old_err);
  TIFFSetWarningHandler(old_warn);
  if (err != TC_OK) tc_image_free(out);
  return err;
}
