/* resize.c - DESIGN 3.1 preprocessing: PIL's antialiased bilinear resize,
 * torchvision's Resize/CenterCrop geometry, ToTensor+Normalize scaling.
 *
 * The resize is a transcription of the arithmetic of Pillow's
 * libImaging/Resample.c (ImagingResample, 8 bits per channel), because
 * "byte for byte like PIL" is only possible by doing the same roundings:
 *   - per output pixel, the filter centre is in0 + (xx + 0.5) * scale and the
 *     support is 1 * max(scale, 1) (antialiasing when downscaling);
 *   - the tap range is [int(centre - support + 0.5), int(centre + support +
 *     0.5)) clipped to the image; weights are the triangle filter at
 *     (x - centre + 0.5) / max(scale, 1), normalised to sum 1 in double;
 *   - weights become integers with 22 fractional bits, rounded half away
 *     from zero; each sum starts at 2^21 (rounding) and is shifted by 22
 *     and clipped to 0..255;
 *   - horizontal pass first (only over the source rows the vertical pass
 *     reads), stored as uint8, then the vertical pass; a pass whose size
 *     does not change is skipped.
 * Every output pixel depends only on its own coefficients and taps, so a
 * window of the output (the centre crop, or the region a rotated view reads)
 * is computed alone with the same bits as the full resize: the resized
 * image is never materialised, and an extreme aspect ratio (1 x 65500 ->
 * 256 x 16768000) costs the crop, not gigabytes. */
#include "resize.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PRECISION_BITS (32 - 8 - 2)

static double bilinear_filter_(double x) {
  if (x < 0.0) x = -x;
  if (x < 1.0) return 1.0 - x;
  return 0.0;
}

/* Coefficients of one pass (PIL precompute_coeffs + normalize_coeffs_8bpc)
 * for output positions o0 .. o0 + on - 1 of an in_size -> out_size pass.
 * bounds [on x 2] = (first tap, tap count); kk [on x ksize]. */
typedef struct {
  int ksize;
  int *bounds;
  int32_t *kk;
} Coeffs;

static TcErr coeffs_make_(int in_size, int out_size, int o0, int on, Coeffs *co) {
  const double support_1 = 1.0; /* bilinear filter support */
  double scale = (double)((float)in_size - 0.0f) / out_size;
  double filterscale = scale < 1.0 ? 1.0 : scale;
  double support = support_1 * filterscale;
  int ksize = (int)ceil(support) * 2 + 1;
  co->ksize = ksize;
  co->bounds = tc_malloc(sizeof(int) * 2 * (size_t)on, "resize bounds");
  co->kk = tc_malloc(sizeof(int32_t) * (size_t)on * (size_t)ksize, "resize coefficients");
  double *k = tc_malloc(sizeof(double) * (size_t)ksize, "resize weights");
  if (!co->bounds || !co->kk || !k) {
    free(co->bounds), free(co->kk), free(k);
    co->bounds = NULL, co->kk = NULL;
    return TC_ERR_MEM;
  }
  for (int i = 0; i < on; i++) {
    int xx = o0 + i;
    double center = 0.0 + (xx + 0.5) * scale;
    double ww = 0.0, ss = 1.0 / filterscale;
    int xmin = (int)(center - support + 0.5);
    if (xmin < 0) xmin = 0;
    int xmax = (int)(center + support + 0.5);
    if (xmax > in_size) xmax = in_size;
    xmax -= xmin;
    for (int x = 0; x < xmax; x++) {
      double w = bilinear_filter_((x + xmin - center + 0.5) * ss);
      k[x] = w;
      ww += w;
    }
    int32_t *kq = co->kk + (size_t)i * (size_t)ksize;
    for (int x = 0; x < ksize; x++) {
      double v = x < xmax ? (ww != 0.0 ? k[x] / ww : k[x]) : 0.0;
      kq[x] = v < 0 ? (int32_t)(-0.5 + v * (1 << PRECISION_BITS))
                    : (int32_t)(0.5 + v * (1 << PRECISION_BITS));
    }
    co->bounds[2 * i] = xmin;
    co->bounds[2 * i + 1] = xmax;
  }
  free(k);
  return TC_OK;
}

static void coeffs_free_(Coeffs *co) {
  free(co->bounds);
  free(co->kk);
  co->bounds = NULL, co->kk = NULL;
}

static inline uint8_t clip8_(int32_t ss) {
  int32_t v = ss >> PRECISION_BITS;
  return (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
}

/* Horizontal pass over source rows [y0, y0 + rows): dst [rows x dw x c]. */
static void pass_h_(const uint8_t *src, int sw, int c, int y0, int rows, const Coeffs *co,
                    uint8_t *dst, int dw) {
  for (int y = 0; y < rows; y++) {
    const uint8_t *in = src + (size_t)(y0 + y) * (size_t)sw * (size_t)c;
    uint8_t *o = dst + (size_t)y * (size_t)dw * (size_t)c;
    for (int xx = 0; xx < dw; xx++) {
      int xmin = co->bounds[2 * xx], xn = co->bounds[2 * xx + 1];
      const int32_t *k = co->kk + (size_t)xx * (size_t)co->ksize;
      const uint8_t *p = in + (size_t)xmin * (size_t)c;
      for (int ch = 0; ch < c; ch++) {
        int32_t ss = 1 << (PRECISION_BITS - 1);
        for (int x = 0; x < xn; x++) ss += p[(size_t)x * c + ch] * k[x];
        o[(size_t)xx * c + ch] = clip8_(ss);
      }
    }
  }
}

/* Vertical pass: src rows of `stride` bytes whose row 0 is source row
 * `ybase`, w x c samples used from each; dst [dh x w x c]. Row-outer loop
 * over taps keeps memory access linear. */
static TcErr pass_v_(const uint8_t *src, size_t stride, int w, int c, int ybase, const Coeffs *co,
                     uint8_t *dst, int dh) {
  size_t rowlen = (size_t)w * (size_t)c;
  int32_t *acc = tc_malloc(sizeof(int32_t) * rowlen, "resize accumulator");
  if (!acc) return TC_ERR_MEM;
  for (int yy = 0; yy < dh; yy++) {
    int ymin = co->bounds[2 * yy] - ybase, yn = co->bounds[2 * yy + 1];
    const int32_t *k = co->kk + (size_t)yy * (size_t)co->ksize;
    for (size_t i = 0; i < rowlen; i++) acc[i] = 1 << (PRECISION_BITS - 1);
    for (int y = 0; y < yn; y++) {
      const uint8_t *in = src + (size_t)(ymin + y) * stride;
      int32_t ky = k[y];
      for (size_t i = 0; i < rowlen; i++) acc[i] += in[i] * ky;
    }
    uint8_t *o = dst + (size_t)yy * rowlen;
    for (size_t i = 0; i < rowlen; i++) o[i] = clip8_(acc[i]);
  }
  free(acc);
  return TC_OK;
}

void tc_resize_dims(int w, int h, int size, int *rw, int *rh) {
  int64_t s = w <= h ? w : h, l = w <= h ? h : w;
  /* Python int(size * long / short): exact product, correctly rounded
   * division, truncation. */
  double nl = (double)((int64_t)size * l) / (double)s;
  int nli = nl < (double)INT_MAX ? (int)nl : INT_MAX;
  if (w <= h) *rw = size, *rh = nli;
  else *rw = nli, *rh = size;
}

TcErr tc_resize_dims_check(int w, int h, int size, int *rw, int *rh) {
  TC_CHECK(w >= 1 && h >= 1 && size >= 1, TC_ERR_USAGE, "resize: bad sizes %dx%d -> %d", w, h, size);
  int64_t s = w <= h ? w : h, l = w <= h ? h : w;
  double nl = (double)((int64_t)size * l) / (double)s;
  /* The resized image is only ever computed in windows, but its coordinates
   * are ints. */
  TC_CHECK(nl < (double)INT_MAX, TC_ERR_FORMAT,
           "%dx%d image: with the shorter side resized to %d the longer would be %.0f pixels, "
           "over 2^31 (aspect ratio too extreme)", w, h, size, nl);
  tc_resize_dims(w, h, size, rw, rh);
  return TC_OK;
}

/* Python's round() of d / 2.0 for d >= 0: halves go to the even integer. */
static int half_round_even_(int d) {
  int q = d / 2;
  if ((d & 1) && (q & 1)) q++;
  return q;
}

void tc_resize_crop_offsets(int w, int h, int crop, int *x0, int *y0) {
  *x0 = half_round_even_(w - crop);
  *y0 = half_round_even_(h - crop);
}

TcErr tc_resize_bilinear_region(const uint8_t *src, int sw, int sh, int c, int dw, int dh, int x0,
                                int y0, int ow, int oh, uint8_t *dst) {
  TC_CHECK(sw > 0 && sh > 0 && dw > 0 && dh > 0 && c >= 1 && c <= 4, TC_ERR_USAGE,
           "resize: bad sizes %dx%dx%d -> %dx%d", sw, sh, c, dw, dh);
  TC_CHECK(x0 >= 0 && y0 >= 0 && ow >= 1 && oh >= 1 && ow <= dw - x0 && oh <= dh - y0, TC_ERR_USAGE,
           "resize: window %dx%d at (%d, %d) outside %dx%d", ow, oh, x0, y0, dw, dh);
  const size_t stride = (size_t)sw * (size_t)c, orow = (size_t)ow * (size_t)c;
  int need_h = sw != dw, need_v = sh != dh;
  if (!need_h && !need_v) {
    for (int y = 0; y < oh; y++)
      memcpy(dst + (size_t)y * orow, src + (size_t)(y0 + y) * stride + (size_t)x0 * (size_t)c, orow);
    return TC_OK;
  }
  TcErr err = TC_OK;
  Coeffs ch = {0}, cv = {0};
  uint8_t *tmp = NULL;
  if (need_h) TC_CALL_GOTO(err, coeffs_make_(sw, dw, x0, ow, &ch), cleanup);
  if (need_v) TC_CALL_GOTO(err, coeffs_make_(sh, dh, y0, oh, &cv), cleanup);
  if (!need_v) {
    pass_h_(src, sw, c, y0, oh, &ch, dst, ow);
  } else if (!need_h) {
    TC_CALL_GOTO(err, pass_v_(src + (size_t)x0 * (size_t)c, stride, ow, c, 0, &cv, dst, oh), cleanup);
  } else {
    /* Only the source rows the vertical pass reads go through pass 1. */
    int yfirst = cv.bounds[0];
    int ylast = cv.bounds[2 * oh - 2] + cv.bounds[2 * oh - 1];
    tmp = tc_malloc((size_t)(ylast - yfirst) * orow, "resize temporary");
    if (!tmp) { err = TC_ERR_MEM; goto cleanup; }
    pass_h_(src, sw, c, yfirst, ylast - yfirst, &ch, tmp, ow);
    TC_CALL_GOTO(err, pass_v_(tmp, orow, ow, c, yfirst, &cv, dst, oh), cleanup);
  }
cleanup:
  free(tmp);
  coeffs_free_(&ch);
  coeffs_free_(&cv);
  return err;
}

TcErr tc_resize_bilinear(const uint8_t *src, int sw, int sh, int c, uint8_t *dst, int dw, int dh) {
  return tc_resize_bilinear_region(src, sw, sh, c, dw, dh, 0, 0, dw, dh, dst);
}

TcErr tc_resize_center_crop(const uint8_t *src, int w, int h, int c, int crop, uint8_t *dst) {
  TC_CHECK(crop >= 1 && crop <= w && crop <= h, TC_ERR_USAGE,
           "center crop %d does not fit a %dx%d image", crop, w, h);
  int x0, y0;
  tc_resize_crop_offsets(w, h, crop, &x0, &y0);
  size_t rowb = (size_t)crop * (size_t)c;
  for (int y = 0; y < crop; y++)
    memcpy(dst + (size_t)y * rowb, src + ((size_t)(y0 + y) * (size_t)w + (size_t)x0) * (size_t)c, rowb);
  return TC_OK;
}

void tc_resize_normalize(const uint8_t *hwc, int crop, TcNorm norm, float *chw) {
  /* float32 constants and operation order of torchvision's ToTensor
   * (x.float().div(255)) and Normalize (sub_(mean).div_(std)). */
  static const float mean[3] = {0.485f, 0.456f, 0.406f};
  static const float std[3] = {0.229f, 0.224f, 0.225f};
  float lut[3][256];
  for (int ch = 0; ch < 3; ch++)
    for (int v = 0; v < 256; v++)
      lut[ch][v] = norm == TC_NORM_KERAS ? (float)v / 127.5f - 1.0f
                                         : ((float)v / 255.0f - mean[ch]) / std[ch];
  size_t hw = (size_t)crop * (size_t)crop;
  for (size_t i = 0; i < hw; i++)
    for (int ch = 0; ch < 3; ch++) chw[(size_t)ch * hw + i] = lut[ch][hwc[3 * i + (size_t)ch]];
}

/* Resize (shorter side p->resize) then centre crop, any channel count. */
static TcErr resize_crop_(const uint8_t *px, int w, int h, int c, const TcPreproc *p, uint8_t *out) {
  TC_CHECK(p->resize >= 1 && p->crop >= 1 && p->crop <= p->resize, TC_ERR_USAGE,
           "preprocess: bad resize %d / crop %d", p->resize, p->crop);
  TC_CHECK(w >= 1 && h >= 1 && px, TC_ERR_USAGE, "preprocess: empty image");
  int rw, rh, x0, y0;
  TC_CALL(tc_resize_dims_check(w, h, p->resize, &rw, &rh));
  tc_resize_crop_offsets(rw, rh, p->crop, &x0, &y0);
  TC_CALL(tc_resize_bilinear_region(px, w, h, c, rw, rh, x0, y0, p->crop, p->crop, out));
  return TC_OK;
}

TcErr tc_resize_preprocess_u8(const TcImage *img, const TcPreproc *p, uint8_t *out) {
  TC_CHECK(img->c == 3, TC_ERR_USAGE, "preprocess: expected an RGB image, got %d channels", img->c);
  TC_CALL(resize_crop_(img->rgb, img->w, img->h, 3, p, out));
  return TC_OK;
}

TcErr tc_resize_preprocess(const TcImage *img, const TcPreproc *p, float *out) {
  TC_CHECK(p->crop >= 1, TC_ERR_USAGE, "preprocess: bad crop %d", p->crop);
  uint8_t *u8 = tc_malloc((size_t)p->crop * (size_t)p->crop * 3, "cropped image");
  if (!u8) return TC_ERR_MEM;
  TcErr err = tc_resize_preprocess_u8(img, p, u8);
  if (err == TC_OK) tc_resize_normalize(u8, p->crop, p->norm, out);
  else tc_err_trace(__FILE__, __LINE__);
  free(u8);
  return err;
}

TcErr tc_resize_mask(const TcImage *mask, const TcPreproc *p, uint8_t *out) {
  TC_CHECK(mask->c == 1, TC_ERR_USAGE, "mask: expected a gray image, got %d channels", mask->c);
  TC_CALL(resize_crop_(mask->rgb, mask->w, mask->h, 1, p, out));
  size_t n = (size_t)p->crop * (size_t)p->crop;
  for (size_t i = 0; i < n; i++) out[i] = out[i] == 255;
  return TC_OK;
}
