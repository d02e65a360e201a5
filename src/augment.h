/* augment.h - extra views of tail images (DESIGN 3.6 step 8): horizontal
 * flip and rotations by multiples of 15 / 30 / 90 degrees.
 *
 * A view is made from the RESIZED, uncropped image (tc_resize_dims /
 * tc_resize_bilinear of DESIGN 3.1), in this order:
 *   1. flip horizontally (when the view is flipped);
 *   2. pad every side by P = tc_augment_pad(rw, rh, crop) pixels with edge
 *      replication (numpy/torchvision padding_mode="edge"), so the rotated
 *      crop never sees a blank corner;
 *   3. rotate counter-clockwise by angle degrees about the padded image's
 *      centre (W/2, H/2), nearest neighbour, same canvas size: exactly PIL's
 *      Image.rotate(angle, NEAREST) = torchvision F.rotate on a PIL image;
 *   4. centre crop (torchvision CenterCrop rounding) to crop x crop.
 * The result is uint8 RGB [crop x crop x 3]; each view then goes through
 * tc_resize_normalize like the main image.
 *
 * View order (v = 0 .. count-1), with step s = 15 / 30 / 90 degrees and
 * n = 360 / s angles:
 *   v = 0 .. n-2        : no flip, angle (v + 1) * s          (n-1 rotations)
 *   v = n-1             : flip, angle 0                        (the flip)
 *   v = n .. 2n-2       : flip, angle (v - n + 1) * s          (n-1 rotations
 *                                                               of the flip)
 * so rot15flip = 23 + 1 + 23 = 47 views, rot30flip = 11 + 1 + 11 = 23,
 * rotflip = 3 + 1 + 3 = 7, none = 0. The original (no flip, angle 0) is not
 * a view: it is the image itself. */
#ifndef TC_AUGMENT_H
#define TC_AUGMENT_H

#include <stdint.h>

#include "err.h"
#include "image.h"
#include "resize.h"

typedef enum {
  TC_AUG_NONE = 0,      /* "none": no extra views */
  TC_AUG_ROTFLIP = 1,   /* "rotflip": 90-degree steps, 7 views */
  TC_AUG_ROT30FLIP = 2, /* "rot30flip": 30-degree steps, 23 views */
  TC_AUG_ROT15FLIP = 3  /* "rot15flip": 15-degree steps, 47 views (default) */
} TcAugment;

/* Parse "none" | "rotflip" | "rot30flip" | "rot15flip". Local.
 * Errors: TC_ERR_USAGE naming the bad value and the accepted ones. */
TcErr tc_augment_parse(const char *name, TcAugment *out);

/* The option name of a mode ("rot15flip", ...). Local. */
const char *tc_augment_name(TcAugment a);

/* Number of extra views of one tail image: 0, 7, 23 or 47. Local. */
int tc_augment_count(TcAugment a);

/* What view v (0 <= v < tc_augment_count(a)) is: *flip in {0,1}, *angle_deg
 * in [0, 360) counter-clockwise. See the order above. Local. */
void tc_augment_view_spec(TcAugment a, int v, int *flip, int *angle_deg);

/* Edge-replication pad P for a resized rw x rh image and a crop side:
 * the smallest pad that keeps the rotated crop's corners (radius
 * crop / sqrt 2 about the centre) inside the padded image, plus 2 pixels
 * for nearest-neighbour rounding and the half-pixel crop offset:
 * P = max(0, ceil(crop / sqrt 2 - min(rw, rh) / 2) + 2). 33 for 256/224.
 * Local. */
int tc_augment_pad(int rw, int rh, int crop);

/* One view from the resized image (steps 1-4 above). Local.
 *   resized [rh x rw x 3] uint8 (input); crop <= rw, rh;
 *   out [crop x crop x 3] uint8 (output, caller-allocated).
 * Errors: TC_ERR_USAGE (bad sizes/angle), TC_ERR_MEM. DESIGN 3.6 step 8. */
TcErr tc_augment_view(const uint8_t *resized, int rw, int rh, int crop, int flip, int angle_deg,
                      uint8_t *out);

/* All views of one image in view order: resize img (c = 3) per p, then
 * tc_augment_view for v = 0 .. count-1. Local.
 *   out [count x crop x crop x 3] uint8 (output, caller-allocated; nothing
 *   written when count = 0). Normalise each view with tc_resize_normalize.
 * Errors: TC_ERR_USAGE, TC_ERR_MEM. DESIGN 3.6 step 8. */
TcErr tc_augment_views(const TcImage *img, const TcPreproc *p, TcAugment a, uint8_t *out);

/* The result of n sequential additions v = v + a in IEEE double, computed
 * in O(binades crossed) steps, bit-identical to the loop (PIL's rotate
 * accumulates its source coordinates this way on large canvases). Local;
 * exposed for tests. */
double tc_augment_replay_sum(double v, double a, int64_t n);

#endif
