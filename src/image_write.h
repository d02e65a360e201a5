/* image_write.h - writing 8-bit gray and RGB images as TIFF (libtiff) or PNG
 * (libpng), for the synthetic generator and for tests that need fixtures.
 *
 * Output is byte-for-byte deterministic for the same pixels and options: no
 * timestamps, software tags or host names are written. Files are written under
 * a temporary name in the same directory and renamed when complete, so a
 * failed write never leaves a half image under the final name. Not a general
 * image writer: no 16-bit, no alpha, no metadata. */
#ifndef TC_IMAGE_WRITE_H
#define TC_IMAGE_WRITE_H

#include <stdint.h>

#include "err.h"

typedef enum {
  TC_IMAGE_TIFF_DEFLATE = 0, /* TIFF, Adobe deflate, zlib level 1 (fast) */
  TC_IMAGE_TIFF_RAW,         /* TIFF, no compression */
  TC_IMAGE_PNG               /* PNG, zlib level 1 */
} TcImageFormat;

/* Write an image. Local.
 *   path   (input) destination file; replaced atomically if it exists.
 *   w, h   (input) size in pixels, >= 1.
 *   c      (input) channels: 1 (gray) or 3 (RGB).
 *   pixels (input) [h x w x c] row-major, interleaved.
 *   format (input) see TcImageFormat.
 * Errors: TC_ERR_USAGE (bad size/channels), TC_ERR_IO (cannot create or
 * write, naming the path), TC_ERR_LIB (libtiff/libpng failure). */
TcErr tc_image_write(const char *path, int w, int h, int c, const uint8_t *pixels,
                     TcImageFormat format);

/* The file extension (without dot) used for a format: "tiff" or "png". */
const char *tc_image_format_ext(TcImageFormat format);

/* Parse "tiff" (deflate), "tiff-raw" or "png". Errors: TC_ERR_USAGE. */
TcErr tc_image_format_parse(const char *text, TcImageFormat *format);

#endif
