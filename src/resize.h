/* resize.h - the preprocessing of DESIGN 3.1: resize the shorter side with
 * PIL's antialiased BILINEAR, centre crop, backbone input scaling; masks with
 * the same geometry.
 *
 * The resize reproduces Pillow's ImagingResample for 8-bit images (Pillow
 * >= 7: separable, horizontal pass first, filter support scaled by the
 * downscale factor, coefficients in fixed point with 22 fractional bits,
 * both passes rounded to uint8), so it matches PIL byte for byte. The
 * geometry follows torchvision: Resize(size) then CenterCrop(crop). Local,
 * no state. */
#ifndef TC_RESIZE_H
#define TC_RESIZE_H

#include <stdint.h>

#include "err.h"
#include "image.h"

/* Backbone input scaling applied after the crop. */
typedef enum {
  TC_NORM_IMAGENET = 0, /* torchvision: (x / 255 - mean) / std, ImageNet mean/std */
  TC_NORM_KERAS = 1     /* Keras MobileNetV2: x / 127.5 - 1 */
} TcNorm;

/* Preprocessing parameters (DESIGN 3.1 defaults: 256, 224, IMAGENET). */
typedef struct {
  int resize;  /* shorter side after resizing */
  int crop;    /* side of the square centre crop (crop <= resize) */
  TcNorm norm; /* input scaling */
} TcPreproc;

#define TC_PREPROC_DEFAULT ((TcPreproc){256, 224, TC_NORM_IMAGENET})

/* Size after torchvision's Resize(size) of a w x h image: the shorter side
 * becomes size, the longer int(size * long / short) (truncated); a square
 * stays square. Local. */
void tc_resize_dims(int w, int h, int size, int *rw, int *rh);

/* tc_resize_dims, refusing (TC_ERR_FORMAT, naming the sizes) a resized
 * longer side of 2^31 or more, which tc_resize_dims would clamp. Local. */
TcErr tc_resize_dims_check(int w, int h, int size, int *rw, int *rh);

/* Top-left corner of torchvision's CenterCrop(crop) in a w x h image:
 * x0 = int(round((w - crop) / 2.0)) with Python's half-to-even round, same
 * for y0. Requires crop <= w, h. Local. */
void tc_resize_crop_offsets(int w, int h, int crop, int *x0, int *y0);

/* PIL Image.resize((dw, dh), BILINEAR) of an 8-bit interleaved image. Local.
 *   src [sh x sw x c] (input), c in 1..4; dst [dh x dw x c] (output,
 *   caller-allocated, must not overlap src). Same size = copy.
 * Errors: TC_ERR_USAGE for non-positive sizes, TC_ERR_MEM. */
TcErr tc_resize_bilinear(const uint8_t *src, int sw, int sh, int c, uint8_t *dst, int dw, int dh);

/* The window [x0, x0 + ow) x [y0, y0 + oh) of tc_resize_bilinear's dw x dh
 * result, computed alone (same bits; the rest is never computed).
 *   dst [oh x ow x c] (output, caller-allocated). Local.
 * Errors: TC_ERR_USAGE for bad sizes or a window outside dw x dh,
 * TC_ERR_MEM. */
TcErr tc_resize_bilinear_region(const uint8_t *src, int sw, int sh, int c, int dw, int dh, int x0,
                                int y0, int ow, int oh, uint8_t *dst);

/* Copy the centre crop [crop x crop x c] of src [h x w x c] into dst. Local.
 * Errors: TC_ERR_USAGE when crop > w or crop > h. */
TcErr tc_resize_center_crop(const uint8_t *src, int w, int h, int c, int crop, uint8_t *dst);

/* Input scaling of one crop: hwc [crop x crop x 3] uint8 RGB (input) ->
 * chw [3 x crop x crop] float32 (output, caller-allocated). Computed in
 * float32 in torchvision's order, (x / 255.f - mean) / std, so it matches
 * ToTensor + Normalize bit for bit. Local. Used for the main image and for
 * every augmented view (augment.h). */
void tc_resize_normalize(const uint8_t *hwc, int crop, TcNorm norm, float *chw);

/* Resize (shorter side p->resize) + centre crop (p->crop) of an RGB image,
 * still uint8: out [crop x crop x 3] (caller-allocated). Local.
 * img must have c = 3. Errors: TC_ERR_USAGE, TC_ERR_MEM. DESIGN 3.1. */
TcErr tc_resize_preprocess_u8(const TcImage *img, const TcPreproc *p, uint8_t *out);

/* The whole DESIGN 3.1 preprocessing: resize + crop + input scaling.
 *   img (input): RGB image (c = 3), e.g. from tc_image_read.
 *   out [3 x crop x crop] float32 (output, caller-allocated), CHW.
 * Local. Errors: TC_ERR_USAGE, TC_ERR_MEM. */
TcErr tc_resize_preprocess(const TcImage *img, const TcPreproc *p, float *out);

/* Ground-truth mask with the image geometry (DESIGN 3.1 masks): the gray
 * mask (c = 1, from tc_image_read_gray) is resized with the same bilinear
 * filter and centre-cropped; a pixel is anomalous (1) when its resized value
 * is 255, else 0 (the reference's ToTensor value truncated below 1.0).
 *   out [crop x crop] uint8 of 0/1 (output, caller-allocated). Local.
 * Errors: TC_ERR_USAGE (c != 1, bad sizes), TC_ERR_MEM. */
TcErr tc_resize_mask(const TcImage *mask, const TcPreproc *p, uint8_t *out);

#endif
