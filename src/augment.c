/* augment.c - flipped / rotated views of tail images (DESIGN 3.6 step 8).
 *
 * The reference is torchvision on PIL images: F.hflip, F.pad(P,
 * padding_mode="edge"), F.rotate(angle, NEAREST) (which is PIL's
 * Image.rotate), CenterCrop. To match it pixel for pixel we reproduce PIL's
 * rotate exactly: its fast paths (0 and 180 degrees always, 90 and 270 only
 * for a square canvas, done as exact transposes), otherwise its affine
 * matrix (cos/sin rounded to 15 decimals, centre (W/2, H/2)) evaluated by
 * libImaging's nearest-neighbour affine_fixed (16.16 fixed point, sample at
 * pixel centres, floor) or, for canvases too big for 16.16, its floating
 * point loop. The padded canvas is never materialised: a canvas pixel is
 * read through clamped (edge-replicated) coordinates of the resized image.
 * Only the crop window of the rotated canvas is computed, and the resized
 * image only where that window can read it: every sampled canvas point is
 * within crop / sqrt 2 + 2 of the canvas centre (rotation keeps distances
 * to the centre; nearest-neighbour flooring and the half-pixel crop offset
 * add at most 2), and edge clamping maps points outside the image onto its
 * border, so a square of side 2 ceil(crop / sqrt 2) + 9 about the resized
 * image's centre is all a view needs (about 330 x 330 for 224), whatever
 * the image's size or aspect ratio. */
#include "augment.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *const aug_names_[] = {"none", "rotflip", "rot30flip", "rot15flip"};

TcErr tc_augment_parse(const char *name, TcAugment *out) {
  for (int i = 0; i < 4; i++)
    if (name && strcmp(name, aug_names_[i]) == 0) {
      *out = (TcAugment)i;
      return TC_OK;
    }
  return tc_err_set(TC_ERR_USAGE, "bad tail augmentation '%s' (expected none, rotflip, rot30flip or rot15flip)",
                    name ? name : "(null)");
}

const char *tc_augment_name(TcAugment a) {
  return (a >= TC_AUG_NONE && a <= TC_AUG_ROT15FLIP) ? aug_names_[a] : "?";
}

static int aug_step_(TcAugment a) {
  switch (a) {
  case TC_AUG_ROTFLIP: return 90;
  case TC_AUG_ROT30FLIP: return 30;
  case TC_AUG_ROT15FLIP: return 15;
  default: return 0;
  }
}

int tc_augment_count(TcAugment a) {
  int s = aug_step_(a);
  return s ? 2 * (360 / s) - 1 : 0;
}

void tc_augment_view_spec(TcAugment a, int v, int *flip, int *angle_deg) {
  int s = aug_step_(a), n = s ? 360 / s : 1;
  if (v < n - 1) *flip = 0, *angle_deg = (v + 1) * s;
  else *flip = 1, *angle_deg = (v - (n - 1)) * s;
}

int tc_augment_pad(int rw, int rh, int crop) {
  double half_short = (rw < rh ? rw : rh) / 2.0;
  int p = (int)ceil(crop / sqrt(2.0) - half_short) + 2;
  return p < 0 ? 0 : p;
}

/* Canvas = flipped, edge-padded resized image, W x H = (rw + 2P) x (rh + 2P).
 * px holds the window [wx0, wx0 + ww) x [wy0, wy0 + wh) of the resized
 * image (the whole of it for tc_augment_view). */
typedef struct {
  const uint8_t *px;
  int rw, rh, pad, flip;
  int wx0, wy0, ww, wh;
} Canvas;

static inline const uint8_t *canvas_at_(const Canvas *cv, int x, int y) {
  int sx = x - cv->pad, sy = y - cv->pad;
  sx = sx < 0 ? 0 : sx >= cv->rw ? cv->rw - 1 : sx;
  sy = sy < 0 ? 0 : sy >= cv->rh ? cv->rh - 1 : sy;
  if (cv->flip) sx = cv->rw - 1 - sx;
  sx -= cv->wx0, sy -= cv->wy0;
  /* Never taken when the window is the one view_window_ computes (see the
   * header comment); keeps a wrong window from reading out of bounds. */
  sx = sx < 0 ? 0 : sx >= cv->ww ? cv->ww - 1 : sx;
  sy = sy < 0 ? 0 : sy >= cv->wh ? cv->wh - 1 : sy;
  return cv->px + ((size_t)sy * (size_t)cv->ww + (size_t)sx) * 3;
}

/* The part of an rw x rh resized image any view with this crop reads. */
static void view_window_(int rw, int rh, int crop, int *wx0, int *wy0, int *ww, int *wh) {
  int r = (int)ceil(crop / sqrt(2.0)) + 4;
  int x0 = rw / 2 - r, y0 = rh / 2 - r, x1 = rw / 2 + r + 1, y1 = rh / 2 + r + 1;
  x0 = x0 < 0 ? 0 : x0, y0 = y0 < 0 ? 0 : y0;
  x1 = x1 > rw ? rw : x1, y1 = y1 > rh ? rh : y1;
  *wx0 = x0, *wy0 = y0, *ww = x1 - x0, *wh = y1 - y0;
}

/* n sequential v = fl(v + a) in a few steps. Inside one binade of v (all
 * doubles there are multiples of the same ulp u, and v is one), fl(v + a) =
 * v + round(a / u) u exactly as long as the result stays inside the binade
 * and a / u is not a tie, so a run of k additions is one integer step of
 * k round(a / u) ulps; steps that leave the binade, ties and tiny |v| are
 * done one addition at a time. */
double tc_augment_replay_sum(double v, double a, int64_t n) {
  const int64_t lo = INT64_C(1) << 52, hi = INT64_C(1) << 53;
  while (n > 0) {
    if (a == 0.0) return v + a; /* only -0 + +0 changes anything, once */
    int e;
    (void)frexp(v, &e); /* |v| in [2^(e-1), 2^e) */
    double u = ldexp(1.0, e - 53);
    double q = a / u; /* exact: a power-of-two scaling */
    double qr = nearbyint(q);
    if (v == 0.0 || !isfinite(q) || fabs(q - floor(q) - 0.5) == 0.0 || fabs(qr) >= (double)lo ||
        u < 0x1p-1000) {
      v += a;
      n--;
      continue;
    }
    int64_t m = (int64_t)(fabs(v) / u); /* in [2^52, 2^53), exact */
    int64_t s = (int64_t)qr * (v > 0.0 ? 1 : -1); /* movement of |v| in ulps */
    int64_t k;
    if (s > 0) k = (hi - 1 - m) / s;
    else if (s < 0) k = (m - lo - 1) / -s;
    else return v; /* a is under half an ulp of v: v never moves */
    if (k > n) k = n;
    if (k <= 0) {
      v += a;
      n--;
      continue;
    }
    double mag = (double)(m + k * s) * u;
    v = v > 0.0 ? mag : -mag;
    n -= k;
  }
  return v;
}

/* Python's round(v, 15): glibc printf rounds the exact binary value
 * correctly (half to even), as CPython's dtoa does. */
static double round15_(double v) {
  char s[64];
  snprintf(s, sizeof s, "%.15f", v);
  return strtod(s, NULL);
}

static int fix16_(double v) {
  double t = v * 65536.0 + 0.5;
  return t < 0.0 ? (int)floor(t) : (int)t;
}

static TcErr view_(const Canvas *cvp, int crop, int angle_deg, uint8_t *out) {
  const Canvas cv = *cvp;
  const int rw = cv.rw, rh = cv.rh;
  TC_CHECK(cv.px && rw >= 1 && rh >= 1 && crop >= 1 && crop <= rw && crop <= rh, TC_ERR_USAGE,
           "augment: crop %d does not fit a %dx%d image", crop, rw, rh);
  TC_CHECK(angle_deg >= 0 && angle_deg < 360, TC_ERR_USAGE, "augment: angle %d not in [0, 360)",
           angle_deg);
  int W = rw + 2 * cv.pad, H = rh + 2 * cv.pad;
  int x0, y0;
  tc_resize_crop_offsets(W, H, crop, &x0, &y0);

  /* PIL Image.rotate fast paths (exact transposes). */
  int mode = -1; /* 0: copy, 1: 180, 2: 90, 3: 270, 4: affine */
  if (angle_deg == 0) mode = 0;
  else if (angle_deg == 180) mode = 1;
  else if (angle_deg == 90 && W == H) mode = 2;
  else if (angle_deg == 270 && W == H) mode = 3;
  else mode = 4;

  if (mode != 4) {
    for (int y = 0; y < crop; y++)
      for (int x = 0; x < crop; x++) {
        int xo = x0 + x, yo = y0 + y, xi, yi;
        switch (mode) {
        case 0: xi = xo, yi = yo; break;
        case 1: xi = W - 1 - xo, yi = H - 1 - yo; break;
        case 2: xi = W - 1 - yo, yi = xo; break;  /* ROTATE_90: counter-clockwise */
        default: xi = yo, yi = H - 1 - xo; break; /* ROTATE_270 */
        }
        memcpy(out + ((size_t)y * crop + x) * 3, canvas_at_(&cv, xi, yi), 3);
      }
    return TC_OK;
  }

  /* Image.rotate's inverse matrix (output -> input), in CPython's order. */
  double rad = -((double)angle_deg * (M_PI / 180.0));
  double a[6] = {round15_(cos(rad)), round15_(sin(rad)), 0.0, round15_(-sin(rad)), round15_(cos(rad)), 0.0};
  double cx = W / 2.0, cy = H / 2.0;
  a[2] = a[0] * -cx + a[1] * -cy + 0.0;
  a[5] = a[3] * -cx + a[4] * -cy + 0.0;
  a[2] += cx;
  a[5] += cy;

#define CHECK_FIXED_(x, y) (fabs((x) * a[0] + (y) * a[1] + a[2]) < 32768.0 && fabs((x) * a[3] + (y) * a[4] + a[5]) < 32768.0)
  int fixed = CHECK_FIXED_(0, 0) && CHECK_FIXED_(W, H) && CHECK_FIXED_(0, H) && CHECK_FIXED_(W, 0);
#undef CHECK_FIXED_
  static const uint8_t black[3] = {0, 0, 0}; /* PIL's fill outside the canvas */
  if (fixed) {
    /* libImaging affine_fixed: accumulations are exact integer sums, so the
     * per-pixel closed form equals PIL's running sums. */
    int64_t A0 = fix16_(a[0]), A1 = fix16_(a[1]), A3 = fix16_(a[3]), A4 = fix16_(a[4]);
    int64_t A2 = fix16_(a[2] + a[0] * 0.5 + a[1] * 0.5);
    int64_t A5 = fix16_(a[5] + a[3] * 0.5 + a[4] * 0.5);
    for (int y = 0; y < crop; y++)
      for (int x = 0; x < crop; x++) {
        int64_t xo = x0 + x, yo = y0 + y;
        int64_t xx = A2 + yo * A1 + xo * A0, yy = A5 + yo * A4 + xo * A3;
        int64_t xi = xx >> 16, yi = yy >> 16; /* floor, like PIL's arithmetic shift */
        const uint8_t *s = (xi >= 0 && xi < W && yi >= 0 && yi < H) ? canvas_at_(&cv, (int)xi, (int)yi) : black;
        memcpy(out + ((size_t)y * crop + x) * 3, s, 3);
      }
  } else {
    /* libImaging's floating-point loop: running sums, so replay them; the
     * sums over the rows above and the columns left of the crop are jumped
     * (tc_augment_replay_sum: same bits, without millions of additions per
     * row on a canvas of extreme aspect ratio). */
    double xo = a[2] + a[1] * 0.5 + a[0] * 0.5, yo = a[5] + a[4] * 0.5 + a[3] * 0.5;
    xo = tc_augment_replay_sum(xo, a[1], y0);
    yo = tc_augment_replay_sum(yo, a[4], y0);
    for (int y = 0; y < crop; y++) {
      double xx = tc_augment_replay_sum(xo, a[0], x0), yy = tc_augment_replay_sum(yo, a[3], x0);
      for (int x = 0; x < crop; x++) {
        int xi = xx < 0.0 ? -1 : (int)xx, yi = yy < 0.0 ? -1 : (int)yy;
        const uint8_t *s = (xi >= 0 && xi < W && yi >= 0 && yi < H) ? canvas_at_(&cv, xi, yi) : black;
        memcpy(out + ((size_t)y * crop + x) * 3, s, 3);
        xx += a[0];
        yy += a[3];
      }
      xo += a[1];
      yo += a[4];
    }
  }
  return TC_OK;
}

TcErr tc_augment_view(const uint8_t *resized, int rw, int rh, int crop, int flip, int angle_deg,
                      uint8_t *out) {
  TC_CHECK(rw >= 1 && rh >= 1 && crop >= 1, TC_ERR_USAGE, "augment: crop %d does not fit a %dx%d image",
           crop, rw, rh);
  Canvas cv = {resized, rw, rh, tc_augment_pad(rw, rh, crop), flip != 0, 0, 0, rw, rh};
  return view_(&cv, crop, angle_deg, out);
}

TcErr tc_augment_views(const TcImage *img, const TcPreproc *p, TcAugment a, uint8_t *out) {
  int n = tc_augment_count(a);
  if (n == 0) return TC_OK;
  TC_CHECK(img && img->c == 3 && img->rgb, TC_ERR_USAGE, "augment: expected an RGB image");
  TC_CHECK(p->resize >= 1 && p->crop >= 1 && p->crop <= p->resize, TC_ERR_USAGE,
           "augment: bad resize %d / crop %d", p->resize, p->crop);
  int rw, rh, wx0, wy0, ww, wh;
  TC_CALL(tc_resize_dims_check(img->w, img->h, p->resize, &rw, &rh));
  TC_CHECK(p->crop <= rw && p->crop <= rh, TC_ERR_USAGE, "augment: crop %d does not fit a %dx%d image",
           p->crop, rw, rh);
  view_window_(rw, rh, p->crop, &wx0, &wy0, &ww, &wh);
  uint8_t *res = tc_malloc((size_t)ww * (size_t)wh * 3, "resized window for views");
  if (!res) return TC_ERR_MEM;
  TcErr err = TC_OK;
  TC_CALL_GOTO(err, tc_resize_bilinear_region(img->rgb, img->w, img->h, 3, rw, rh, wx0, wy0, ww, wh, res),
               cleanup);
  size_t vsz = (size_t)p->crop * (size_t)p->crop * 3;
  for (int v = 0; v < n; v++) {
    int flip, ang;
    tc_augment_view_spec(a, v, &flip, &ang);
    Canvas cv = {res, rw, rh, tc_augment_pad(rw, rh, p->crop), flip, wx0, wy0, ww, wh};
    TC_CALL_GOTO(err, view_(&cv, p->crop, ang, out + (size_t)v * vsz), cleanup);
  }
cleanup:
  free(res);
  return err;
}
