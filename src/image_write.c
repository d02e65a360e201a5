/* image_write.c - deterministic TIFF/PNG writers (see image_write.h). */
#include "image_write.h"

#include <png.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <tiffio.h>
#include <unistd.h>

/* libtiff reports through global handlers; route them into our error buffer
 * instead of stderr (first message wins, so the root cause is kept). */
static void tiff_error_(const char *module, const char *fmt, va_list ap) {
  char msg[512];
  vsnprintf(msg, sizeof msg, fmt, ap);
  tc_err_set(TC_ERR_LIB, "libtiff: %s: %s", module ? module : "", msg);
}

static TcErr write_tiff_(const char *path, int w, int h, int c, const uint8_t *px, int deflate) {
  TIFFErrorHandler old_err = TIFFSetErrorHandler(tiff_error_);
  TIFFErrorHandler old_warn = TIFFSetWarningHandler(NULL);
  TcErr err = TC_OK;
  TIFF *tif = TIFFOpen(path, "w");
  TC_CHECK_GOTO(err, tif, TC_ERR_IO, cleanup, "%s: cannot create TIFF file", path);
  TIFFSetField(tif, TIFFTAG_IMAGEWIDTH, (uint32_t)w);
  TIFFSetField(tif, TIFFTAG_IMAGELENGTH, (uint32_t)h);
  TIFFSetField(tif, TIFFTAG_SAMPLESPERPIXEL, (uint16_t)c);
  TIFFSetField(tif, TIFFTAG_BITSPERSAMPLE, (uint16_t)8);
  TIFFSetField(tif, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(tif, TIFFTAG_PHOTOMETRIC, c == 3 ? PHOTOMETRIC_RGB : PHOTOMETRIC_MINISBLACK);
  TIFFSetField(tif, TIFFTAG_ORIENTATION, ORIENTATION_TOPLEFT);
  if (deflate) {
    TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_ADOBE_DEFLATE);
    TIFFSetField(tif, TIFFTAG_ZIPQUALITY, 1);
    TIFFSetField(tif, TIFFTAG_PREDICTOR, PREDICTOR_HORIZONTAL);
  } else {
    TIFFSetField(tif, TIFFTAG_COMPRESSION, COMPRESSION_NONE);
  }
  /* About 64 KiB per strip: few strips, yet readers can stream. */
  uint32_t rps = (uint32_t)(65536 / ((size_t)w * c));
  if (rps < 1) rps = 1;
  TIFFSetField(tif, TIFFTAG_ROWSPERSTRIP, rps);
  size_t row = (size_t)w * c;
  uint8_t *buf = tc_malloc(row, "TIFF scanline");
  TC_CHECK_GOTO(err, buf, TC_ERR_MEM, cleanup, "%s: out of memory", path);
  for (int y = 0; y < h && err == TC_OK; y++) {
    /* TIFFWriteScanline may modify the buffer (predictor), so copy. */
    memcpy(buf, px + (size_t)y * row, row);
    if (TIFFWriteScanline(tif, buf, (uint32_t)y, 0) < 0)
      err = tc_err_set(TC_ERR_IO, "%s: cannot write row %d", path, y);
  }
  free(buf);
cleanup:
  if (tif) {
    /* Flushing happens in close; a full disk shows up here. */
    if (!TIFFFlush(tif) && err == TC_OK) err = tc_err_set(TC_ERR_IO, "%s: write failed", path);
    TIFFClose(tif);
  }
  TIFFSetErrorHandler(old_err);
  TIFFSetWarningHandler(old_warn);
  return err;
}

typedef struct {
  const char *path;
  int failed;
} PngCtx_;

static void png_error_(png_structp png, png_const_charp msg) {
  PngCtx_ *ctx = png_get_error_ptr(png);
  tc_err_set(TC_ERR_LIB, "%s: libpng: %s", ctx->path, msg);
  ctx->failed = 1;
  png_longjmp(png, 1);
}

static void png_warn_(png_structp png, png_const_charp msg) { (void)png; (void)msg; }

static TcErr write_png_(const char *path, int w, int h, int c, const uint8_t *px) {
  FILE *fp = fopen(path, "wb");
  TC_CHECK(fp, TC_ERR_IO, "%s: cannot create PNG file", path);
  PngCtx_ ctx = {path, 0};
  png_structp png = png_create_write_struct(PNG_LIBPNG_VER_STRING, &ctx, png_error_, png_warn_);
  png_infop info = png ? png_create_info_struct(png) : NULL;
  if (!png || !info) {
    if (png) png_destroy_write_struct(&png, NULL);
    fclose(fp);
    return tc_err_set(TC_ERR_LIB, "%s: libpng initialisation failed", path);
  }
  /* volatile: modified between setjmp and a possible longjmp. */
  volatile TcErr err = TC_OK;
  if (setjmp(png_jmpbuf(png))) {
    err = TC_ERR_LIB;
  } else {
    png_init_io(png, fp);
    png_set_compression_level(png, 1);
    png_set_IHDR(png, info, (png_uint_32)w, (png_uint_32)h, 8,
                 c == 3 ? PNG_COLOR_TYPE_RGB : PNG_COLOR_TYPE_GRAY, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    png_write_info(png, info);
    for (int y = 0; y < h; y++) png_write_row(png, (png_const_bytep)(px + (size_t)y * w * c));
    png_write_end(png, info);
  }
  png_destroy_write_struct(&png, &info);
  if (fclose(fp) != 0 && err == TC_OK) err = tc_err_set(TC_ERR_IO, "%s: write failed", path);
  return err;
}

TcErr tc_image_write(const char *path, int w, int h, int c, const uint8_t *pixels,
                     TcImageFormat format) {
  TC_CHECK(w >= 1 && h >= 1 && (c == 1 || c == 3), TC_ERR_USAGE,
           "%s: cannot write a %dx%d image with %d channels", path, w, h, c);
  size_t n = strlen(path);
  char *tmp = tc_malloc(n + 16, "temporary file name");
  if (!tmp) return TC_ERR_MEM;
  snprintf(tmp, n + 16, "%s.tmp%ld", path, (long)getpid());
  TcErr err = format == TC_IMAGE_PNG ? write_png_(tmp, w, h, c, pixels)
                                     : write_tiff_(tmp, w, h, c, pixels,
                                                   format == TC_IMAGE_TIFF_DEFLATE);
  if (err == TC_OK && rename(tmp, path) != 0)
    err = tc_err_set(TC_ERR_IO, "%s: cannot rename temporary file into place", path);
  if (err != TC_OK) unlink(tmp);
  free(tmp);
  return err;
}

const char *tc_image_format_ext(TcImageFormat format) {
  return format == TC_IMAGE_PNG ? "png" : "tiff";
}

TcErr tc_image_format_parse(const char *text, TcImageFormat *format) {
  if (strcmp(text, "tiff") == 0) *format = TC_IMAGE_TIFF_DEFLATE;
  else if (strcmp(text, "tiff-raw") == 0) *format = TC_IMAGE_TIFF_RAW;
  else if (strcmp(text, "png") == 0) *format = TC_IMAGE_PNG;
  else return tc_err_set(TC_ERR_USAGE, "unknown image format '%s' (tiff, tiff-raw, png)", text);
  return TC_OK;
}
