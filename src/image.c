/* image.c - format detection by magic bytes and the channel conversions shared
 * by the three decoders (DESIGN 3.1). The decoders themselves live in
 * image_tiff.c, image_png.c and image_jpeg.c. */
#include "image.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

static int64_t max_pixels_ = TC_IMAGE_MAX_PIXELS_DEFAULT;

TcErr tc_image_set_max_pixels(int64_t max_pixels) {
  TC_CHECK(max_pixels >= 1 && max_pixels <= TC_IMAGE_MAX_PIXELS_CAP, TC_ERR_USAGE,
           "--max-pixels must be in 1..%lld (got %lld)", (long long)TC_IMAGE_MAX_PIXELS_CAP,
           (long long)max_pixels);
  max_pixels_ = max_pixels;
  return TC_OK;
}

int64_t tc_image_max_pixels(void) { return max_pixels_; }

TcErr tc_image_check_size(const char *path, const char *fmt, uint64_t w, uint64_t h) {
  TC_CHECK(w >= 1 && h >= 1, TC_ERR_FORMAT, "%s: %s declares an empty image (%llux%llu)", path, fmt,
           (unsigned long long)w, (unsigned long long)h);
  /* Sides are at most 2^32 in every format, so the product cannot wrap. */
  TC_CHECK(w * h <= (uint64_t)max_pixels_, TC_ERR_FORMAT,
           "%s: %s declares %llux%llu = %llu pixels, over the limit of %lld (--max-pixels; a "
           "decompression bomb or a damaged header)",
           path, fmt, (unsigned long long)w, (unsigned long long)h, (unsigned long long)(w * h),
           (long long)max_pixels_);
  return TC_OK;
}

typedef enum { FMT_UNKNOWN, FMT_TIFF, FMT_PNG, FMT_JPEG } ImageFormat;

/* Open the file ourselves first so that a missing, unreadable or empty file
 * gets an I/O or "empty file" message rather than whatever the codec says. */
static TcErr sniff_format_(const char *path, ImageFormat *fmt) {
  *fmt = FMT_UNKNOWN;
  FILE *f = fopen(path, "rb");
  if (!f) return tc_err_set(TC_ERR_IO, "%s: cannot open image: %s", path, strerror(errno));
  struct stat st;
  if (fstat(fileno(f), &st) != 0 || S_ISDIR(st.st_mode)) {
    fclose(f);
    return tc_err_set(TC_ERR_IO, "%s: cannot read image: %s", path,
                      S_ISDIR(st.st_mode) ? "is a directory" : strerror(errno));
  }
  unsigned char m[8] = {0};
  size_t n = fread(m, 1, sizeof m, f);
  int rerr = ferror(f);
  fclose(f);
  if (rerr) return tc_err_set(TC_ERR_IO, "%s: cannot read image", path);
  if (n == 0) return tc_err_set(TC_ERR_FORMAT, "%s: empty file (0 bytes), not an image", path);
  if (n >= 4 && ((m[0] == 'I' && m[1] == 'I' && (m[2] == 42 || m[2] == 43) && m[3] == 0) ||
                 (m[0] == 'M' && m[1] == 'M' && m[2] == 0 && (m[3] == 42 || m[3] == 43))))
    *fmt = FMT_TIFF;
  else if (n >= 8 && memcmp(m, "\x89PNG\r\n\x1a\n", 8) == 0)
    *fmt = FMT_PNG;
  else if (n >= 3 && m[0] == 0xFF && m[1] == 0xD8 && m[2] == 0xFF)
    *fmt = FMT_JPEG;
  if (*fmt == FMT_UNKNOWN)
    return tc_err_set(TC_ERR_FORMAT,
                      "%s: not an image (first bytes are not TIFF, PNG or JPEG magic)", path);
  return TC_OK;
}

static TcErr read_native_(const char *path, TcImage *out) {
  memset(out, 0, sizeof *out);
  ImageFormat fmt;
  TC_CALL(sniff_format_(path, &fmt));
  switch (fmt) {
  case FMT_TIFF: TC_CALL(tc_image_read_tiff(path, out)); break;
  case FMT_PNG: TC_CALL(tc_image_read_png(path, out)); break;
  case FMT_JPEG: TC_CALL(tc_image_read_jpeg(path, out)); break;
  default: return tc_err_set(TC_ERR_INTERNAL, "%s: unknown format", path);
  }
  if (out->c != 1 && out->c != 3) {
    tc_image_free(out);
    return tc_err_set(TC_ERR_INTERNAL, "%s: decoder returned %d channels", path, out->c);
  }
  return TC_OK;
}

TcErr tc_image_read(const char *path, TcImage *out) {
  TC_CALL(read_native_(path, out));
  if (out->c == 3) return TC_OK;
  size_t np = (size_t)out->w * (size_t)out->h;
  uint8_t *rgb = tc_malloc(np * 3, "RGB image");
  if (!rgb) {
    tc_image_free(out);
    return TC_ERR_MEM;
  }
  for (size_t i = 0; i < np; i++) rgb[3 * i] = rgb[3 * i + 1] = rgb[3 * i + 2] = out->rgb[i];
  free(out->rgb);
  out->rgb = rgb;
  out->c = 3;
  return TC_OK;
}

TcErr tc_image_read_gray(const char *path, TcImage *out) {
  TC_CALL(read_native_(path, out));
  if (out->c == 1) return TC_OK;
  size_t np = (size_t)out->w * (size_t)out->h;
  /* In place is safe: pixel i is written after its RGB (at 3i >= i) is read. */
  for (size_t i = 0; i < np; i++) {
    const uint8_t *p = out->rgb + 3 * i;
    /* PIL's convert("L") (ITU-R 601-2 luma in 16-bit fixed point). */
    out->rgb[i] = (uint8_t)((19595u * p[0] + 38470u * p[1] + 7471u * p[2] + 0x8000u) >> 16);
  }
  out->c = 1;
  return TC_OK;
}

void tc_image_free(TcImage *img) {
  if (!img) return;
  free(img->rgb);
  memset(img, 0, sizeof *img);
}
