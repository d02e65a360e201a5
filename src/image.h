/* image.h - decoding of input images (DESIGN 3.1): TIFF, PNG, JPEG to 8-bit
 * interleaved pixels.
 *
 * The format is chosen from the file's magic bytes, never its extension. All
 * decoders are Local and never print (the TIFF one swaps libtiff's
 * process-wide handlers for the duration of a call, so decoding is not
 * thread-safe; a rank is one thread): library errors and warnings land in the error
 * buffer of err.h (warnings are dropped). Every failure names the file and
 * the problem and returns TC_ERR_IO (missing / unreadable file) or
 * TC_ERR_FORMAT (empty, truncated, corrupt, not an image, unsupported kind).
 *
 * Pixel rules (DESIGN 3.1), the same for every format:
 *   - 16-bit samples become 8-bit with v8 = round(v16 * 255 / 65535)
 *     (= (v16 * 255 + 32767) / 65535; there are no ties);
 *   - alpha is dropped (not composited);
 *   - palette images are expanded through their palette (16-bit TIFF
 *     colormap entries: the high byte, as libtiff and PIL do, since
 *     writers store v * 256 or v * 257);
 *   - 1/2/4-bit gray is expanded to 8 bits by replication (PNG rule: 1 -> 255);
 *   - gray becomes RGB by copying the value into the three channels;
 *   - tc_image_read_gray (masks) keeps a gray image's single channel as is;
 *     an RGB(A)/palette mask becomes luminance exactly as PIL's convert("L"):
 *     L = (19595 R + 38470 G + 7471 B + 0x8000) >> 16.
 * Size limits (decompression bombs), checked from the header before any
 * pixel buffer is allocated, TC_ERR_FORMAT naming the file when exceeded:
 *   - width x height <= tc_image_max_pixels() (--max-pixels; default
 *     TC_IMAGE_MAX_PIXELS_DEFAULT = PIL's Image.MAX_IMAGE_PIXELS);
 *   - PNG: the unfiltered pixel bytes cannot exceed 1032 x the file size
 *     (deflate's largest possible expansion);
 *   - Huffman JPEG: at least one bit per 8x8 block of the least-sampled
 *     coded component, so blocks <= 8 x the file size;
 * and missing data are errors, never padding: a truncated file or a data
 * segment that ends early (JPEG "premature end of file / data segment",
 * PNG "not enough image data", a short TIFF strip or tile).
 * Not supported (TC_ERR_FORMAT with a message saying so): floating-point or
 * 32-bit TIFF samples, CMYK/YCbCr-subsampled-without-JPEG/Lab TIFFs, CMYK
 * JPEGs, old-style (compression 6) JPEG TIFFs. Only the first page (IFD) of
 * a multi-page TIFF is read; TIFF Orientation and EXIF orientation are
 * ignored, as PIL's Image.open does.
 * 16-bit note: PIL itself clips 16-bit gray to 255 and truncates 16-bit RGB
 * to the high byte; we scale instead (DESIGN 3.1), so for 16-bit files the
 * golden reference is numpy's round(v * 255 / 65535), not PIL. */
#ifndef TC_IMAGE_H
#define TC_IMAGE_H

#include <stdint.h>

#include "err.h"

/* A decoded image: row-major, interleaved, 8 bits per sample.
 * c = 3 (RGB, from tc_image_read) or 1 (gray, from tc_image_read_gray).
 * The field is called rgb for both; for c = 1 it holds h x w gray values. */
typedef struct {
  int w, h;     /* width, height in pixels (both >= 1 after a successful read) */
  int c;        /* channels per pixel: 3 or 1 */
  uint8_t *rgb; /* [h x w x c], owned by the TcImage, free with tc_image_free */
} TcImage;

/* PIL's Image.MAX_IMAGE_PIXELS (1024 * 1024 * 1024 // 4 // 3): the default
 * of --max-pixels. */
#define TC_IMAGE_MAX_PIXELS_DEFAULT INT64_C(89478485)
/* Upper end of --max-pixels: sides and products stay far from overflow. */
#define TC_IMAGE_MAX_PIXELS_CAP (INT64_C(1) << 40)

/* Set the pixel limit every later decode in this process checks (the
 * commands call it once with --max-pixels). Local; process-wide, like the
 * log level. Errors: TC_ERR_USAGE unless 1 <= max_pixels <= 2^40. */
TcErr tc_image_set_max_pixels(int64_t max_pixels);
int64_t tc_image_max_pixels(void);

/* Read an image file as 8-bit RGB. Local.
 *   path (input): file to read; format detected by magic bytes.
 *   out  (output): on success out->c = 3 and out->rgb [h x w x 3] is
 *        allocated here; the caller frees it with tc_image_free. On failure
 *        *out is zeroed (nothing to free).
 * Errors: TC_ERR_IO (missing/unreadable), TC_ERR_FORMAT (see above),
 * TC_ERR_MEM. DESIGN 3.1. */
TcErr tc_image_read(const char *path, TcImage *out);

/* Read a mask (or any image) as 8-bit single-channel gray. Local.
 * Gray files keep their values; colour files become PIL "L" luminance (see
 * the header comment). out->c = 1, out->rgb [h x w]; free with
 * tc_image_free. Errors as tc_image_read. DESIGN 3.1 (masks). */
TcErr tc_image_read_gray(const char *path, TcImage *out);

/* Free the pixels of img and zero it. NULL-safe, idempotent. Local. */
void tc_image_free(TcImage *img);

/* ---- used by image.c only: one decoder per format (image_tiff.c,
 * image_png.c, image_jpeg.c). Each returns its image in its natural
 * channel count after the rules above: c = 1 (gray, gray+alpha) or c = 3
 * (RGB, RGBA, palette). image.c converts to what the caller asked for. */
TcErr tc_image_read_tiff(const char *path, TcImage *out);
TcErr tc_image_read_png(const char *path, TcImage *out);
TcErr tc_image_read_jpeg(const char *path, TcImage *out);

/* Shared by the decoders: TC_ERR_FORMAT "<path>: <fmt> declares W x H = N
 * pixels, over the limit of M (--max-pixels)" unless 1 <= w, h and
 * w * h <= tc_image_max_pixels(). Local. */
TcErr tc_image_check_size(const char *path, const char *fmt, uint64_t w, uint64_t h);

#endif
