/* image_png.c - PNG decoding with libpng (DESIGN 3.1).
 *
 * libpng reports errors by calling our error function, which records the text
 * and longjmps back into tc_image_read_png; warnings are dropped so ranks
 * never print. Palette and 1/2/4-bit gray are expanded by libpng; 16-bit
 * samples are read as such and scaled with the DESIGN rule (not libpng's
 * strip, which truncates); alpha (including tRNS expanded from a palette) is
 * dropped; gamma and colour-profile chunks are ignored, as PIL does. The
 * whole file is checked: png_read_end verifies the chunks after the image
 * data, so a CRC error anywhere is reported.
 *
 * Bombs and missing data: the header's size is checked against the pixel
 * limit (image.h) and against the file size before any row is allocated:
 * deflate expands at most 1032:1 (a 258-byte match coded in 2 bits), so
 * height x ceil(width x bits per pixel / 8) unfiltered bytes need at least
 * 1/1032 of that in the file. Compressed data that end before the last
 * row are libpng's benign error "Not enough image data": an error with
 * libpng's read defaults (tested), and should a libpng build downgrade
 * benign errors to warnings (rows left zero), the warning handler raises
 * it again. Non-interlaced
 * images are read row by row into the 8-bit result, so the decoder holds
 * one file row, not a second copy of the image. */
#include <errno.h>
#include <png.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image.h"

#include <sys/stat.h>

#define MAX_SIDE (1 << 20)

typedef struct {
  char msg[256];
  int sized; /* a size check failed; its message is in err.h already */
} PngCtx;

static void png_error_fn_(png_structp png, png_const_charp text) {
  PngCtx *ctx = png_get_error_ptr(png);
  if (ctx && !ctx->msg[0]) snprintf(ctx->msg, sizeof ctx->msg, "%s", text ? text : "libpng error");
  png_longjmp(png, 1);
}

/* Warnings are dropped, except the benign error that means rows are missing. */
static void png_warning_fn_(png_structp png, png_const_charp text) {
  if (text && strstr(text, "Not enough image data")) png_error_fn_(png, text);
}

static inline uint8_t to8_(uint32_t v16) { return (uint8_t)((v16 * 255u + 32767u) / 65535u); }

/* One decoded file row (channels x depth bits) -> c 8-bit samples per pixel. */
static void convert_row_(const uint8_t *src, uint8_t *dst, png_uint_32 w, int channels, int c, int depth) {
  for (png_uint_32 x = 0; x < w; x++)
    for (int k = 0; k < c; k++) {
      size_t i = (size_t)x * (size_t)channels + (size_t)k;
      if (depth == 8) {
        dst[(size_t)x * c + k] = src[i];
      } else {
        uint32_t v = ((uint32_t)src[2 * i] << 8) | src[2 * i + 1]; /* PNG is big-endian */
        dst[(size_t)x * c + k] = to8_(v);
      }
    }
}

TcErr tc_image_read_png(const char *path, TcImage *out) {
  memset(out, 0, sizeof *out);
  PngCtx ctx = {{0}, 0};
  FILE *f = fopen(path, "rb");
  if (!f) return tc_err_set(TC_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
  png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &ctx, png_error_fn_, png_warning_fn_);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    png_destroy_read_struct(png ? &png : NULL, NULL, NULL);
    fclose(f);
    return tc_err_set(TC_ERR_MEM, "%s: cannot create a libpng reader", path);
  }
  /* Touched between setjmp and longjmp, hence volatile. */
  uint8_t *volatile data = NULL;
  png_bytep *volatile rows = NULL;
  uint8_t *volatile pix = NULL;
  volatile int stage = 0; /* 0 header, 1 pixels, 2 trailing chunks */

  if (setjmp(png_jmpbuf(png))) {
    free(data);
    free(rows);
    free(pix);
    png_destroy_read_struct(&png, &info, NULL);
    fclose(f);
    if (ctx.sized) return TC_ERR_FORMAT;
    static const char *what[] = {"header", "image data", "chunks after the image data"};
    return tc_err_set(TC_ERR_FORMAT, "%s: corrupt or truncated PNG (%s): %s", path, what[stage],
                      ctx.msg[0] ? ctx.msg : "libpng error");
  }
  png_init_io(png, f);
  /* Large but legitimate images: libpng's default 1M-side limit is fine;
   * ancillary chunk CRC errors stay errors (default is to warn+discard). */
  png_set_crc_action(png, PNG_CRC_ERROR_QUIT, PNG_CRC_ERROR_QUIT);
  png_read_info(png, info);

  png_uint_32 w = 0, h = 0;
  int bit_depth = 0, color_type = 0, interlace = 0;
  png_get_IHDR(png, info, &w, &h, &bit_depth, &color_type, &interlace, NULL, NULL);
  if (tc_image_check_size(path, "PNG", w, h) != TC_OK) {
    ctx.sized = 1;
    png_longjmp(png, 1);
  }
  if (!(w <= MAX_SIDE && h <= MAX_SIDE)) {
    snprintf(ctx.msg, sizeof ctx.msg, "unsupported size %ux%u", (unsigned)w, (unsigned)h);
    png_longjmp(png, 1);
  }
  {
    int bpp = png_get_channels(png, info) * bit_depth; /* before any transform */
    uint64_t raw = (uint64_t)h * (((uint64_t)w * (uint64_t)bpp + 7) / 8);
    struct stat st;
    if (fstat(fileno(f), &st) == 0 && raw > 1032 * (uint64_t)st.st_size) {
      tc_err_set(TC_ERR_FORMAT,
                 "%s: PNG declares %ux%u pixels (%llu bytes unfiltered) but the file has %lld "
                 "bytes; deflate cannot expand more than 1032:1, so pixel data are missing (a "
                 "decompression bomb or a truncated file)",
                 path, (unsigned)w, (unsigned)h, (unsigned long long)raw, (long long)st.st_size);
      ctx.sized = 1;
      png_longjmp(png, 1);
    }
  }
  if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
  if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
  if (interlace != PNG_INTERLACE_NONE) png_set_interlace_handling(png);
  png_read_update_info(png, info);

  int channels = png_get_channels(png, info);
  int depth = png_get_bit_depth(png, info);
  size_t rowbytes = png_get_rowbytes(png, info);
  if (channels < 1 || channels > 4 || (depth != 8 && depth != 16) ||
      rowbytes < (size_t)w * (size_t)channels * (size_t)(depth / 8)) {
    snprintf(ctx.msg, sizeof ctx.msg, "unsupported layout: %d channels of %d bits", channels, depth);
    png_longjmp(png, 1);
  }
  int c = channels <= 2 ? 1 : 3; /* gray(+alpha) -> 1, RGB(A) -> 3 */
  /* Interlaced rows are complete only after the last pass: those need the
   * whole file image; others are converted as they arrive. */
  png_uint_32 nbuf = interlace != PNG_INTERLACE_NONE ? h : 1;
  data = malloc(rowbytes * nbuf);
  rows = malloc(sizeof(png_bytep) * nbuf);
  pix = malloc((size_t)w * h * (size_t)c);
  if (!data || !rows || !pix) {
    snprintf(ctx.msg, sizeof ctx.msg, "out of memory for %ux%u pixels", (unsigned)w, (unsigned)h);
    png_longjmp(png, 1);
  }
  for (png_uint_32 y = 0; y < nbuf; y++) rows[y] = data + (size_t)y * rowbytes;
  stage = 1;
  if (nbuf == h) {
    png_read_image(png, rows);
    for (png_uint_32 y = 0; y < h; y++) convert_row_(rows[y], pix + (size_t)y * w * (size_t)c, w, channels, c, depth);
  } else {
    for (png_uint_32 y = 0; y < h; y++) {
      png_read_row(png, data, NULL);
      convert_row_(data, pix + (size_t)y * w * (size_t)c, w, channels, c, depth);
    }
  }
  stage = 2;
  png_read_end(png, NULL);

  free(data);
  free(rows);
  png_destroy_read_struct(&png, &info, NULL);
  fclose(f);
  *out = (TcImage){(int)w, (int)h, c, pix};
  return TC_OK;
}
