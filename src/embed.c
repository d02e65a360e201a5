/* embed.c - DESIGN 3.2 patch embedding (see embed.h for the order of
 * operations and why pooling comes before interpolation). */
#include "embed.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* PyTorch's adaptive_avg_pool1d: output i of n averages inputs
 * floor(i*L/n) .. ceil((i+1)*L/n) - 1 of L. */
static void window_(int64_t i, int64_t L, int64_t n, int *s, int *e) {
  *s = (int)((i * L) / n);
  *e = (int)(((i + 1) * L + n - 1) / n);
}

static float window_mean_(const float *x, int s, int e) {
  float acc = 0.f;
  for (int k = s; k < e; k++) acc += x[k];
  return acc / (float)(e - s);
}

void tc_embed_adaptive_pool(const float *x, int L, float *y, int n) {
  for (int i = 0; i < n; i++) {
    int s, e;
    window_(i, L, n, &s, &e);
    y[i] = window_mean_(x, s, e);
  }
}

/* The windows computed once per map, not per patch: the two 64-bit
 * divisions per output were a fifth of extract's time. */
typedef struct {
  int *start, *end;
} PoolWindows_;

static TcErr pool_windows_(int L, int n, PoolWindows_ *pw) {
  pw->start = tc_malloc(sizeof(int) * (size_t)n, "pool windows");
  pw->end = tc_malloc(sizeof(int) * (size_t)n, "pool windows");
  if (!pw->start || !pw->end) {
    free(pw->start);
    free(pw->end);
    return TC_ERR_MEM;
  }
  for (int i = 0; i < n; i++) window_(i, L, n, &pw->start[i], &pw->end[i]);
  return TC_OK;
}

static void pool_windows_free_(PoolWindows_ *pw) {
  free(pw->start);
  free(pw->end);
}

static void pool_(const float *x, const PoolWindows_ *pw, float *y, int n) {
  for (int i = 0; i < n; i++) y[i] = window_mean_(x, pw->start[i], pw->end[i]);
}

/* PyTorch's area_pixel_compute_source_index for align_corners=False:
 * src = scale * (dst + 0.5) - 0.5, clamped at 0; scale = in / out (float). */
static void bilinear_index_(int in, int out, int dst, int *i0, int *i1, float *l0, float *l1) {
  float scale = (float)in / (float)out;
  float src = scale * ((float)dst + 0.5f) - 0.5f;
  if (src < 0.f) src = 0.f;
  int i = (int)src;
  if (i > in - 1) i = in - 1;
  *i0 = i;
  *i1 = i < in - 1 ? i + 1 : i;
  *l1 = src - (float)i;
  *l0 = 1.f - *l1;
}

void tc_embed_resize(const float *x, int h, int w, int D, float *y, int oh, int ow) {
  if (h == oh && w == ow) {
    memcpy(y, x, (size_t)h * w * D * sizeof(float));
    return;
  }
  for (int oy = 0; oy < oh; oy++) {
    int y0, y1;
    float ly0, ly1;
    bilinear_index_(h, oh, oy, &y0, &y1, &ly0, &ly1);
    for (int ox = 0; ox < ow; ox++) {
      int x0, x1;
      float lx0, lx1;
      bilinear_index_(w, ow, ox, &x0, &x1, &lx0, &lx1);
      const float *a = x + ((size_t)y0 * w + x0) * D, *b = x + ((size_t)y0 * w + x1) * D;
      const float *c = x + ((size_t)y1 * w + x0) * D, *d = x + ((size_t)y1 * w + x1) * D;
      float *o = y + ((size_t)oy * ow + ox) * D;
      for (int k = 0; k < D; k++)
        o[k] = ly0 * (lx0 * a[k] + lx1 * b[k]) + ly1 * (lx0 * c[k] + lx1 * d[k]);
    }
  }
}

/* Pool the unfolded 3x3 neighbourhood vector of every position of one map
 * to D values: out [h*w x D]. */
static TcErr unfold_pool_(const float *map, int C, int h, int w, int D, float *u, float *out) {
  int L = C * 9;
  PoolWindows_ pw;
  TC_CALL(pool_windows_(L, D, &pw));
  for (int y = 0; y < h; y++)
    for (int x = 0; x < w; x++) {
      for (int c = 0; c < C; c++) {
        const float *mc = map + (size_t)c * h * w;
        for (int ky = 0; ky < 3; ky++)
          for (int kx = 0; kx < 3; kx++) {
            int iy = y + ky - 1, ix = x + kx - 1;
            u[c * 9 + ky * 3 + kx] =
                (iy < 0 || iy >= h || ix < 0 || ix >= w) ? 0.f : mc[(size_t)iy * w + ix];
          }
      }
      pool_(u, &pw, out + ((size_t)y * w + x) * D, D);
    }
  pool_windows_free_(&pw);
  return TC_OK;
}

TcErr tc_embed_patches(int nlayers, const float *const *maps, const int *c, const int *h,
                       const int *w, int D, float *out) {
  TC_CHECK(nlayers >= 1 && nlayers <= 4, TC_ERR_USAGE, "patch embedding: %d layers (1..4)",
           nlayers);
  TC_CHECK(D >= 1, TC_ERR_USAGE, "patch embedding: D must be positive (got %d)", D);
  size_t P = (size_t)h[0] * w[0], maxhw = 0;
  int maxL = 0;
  for (int l = 0; l < nlayers; l++) {
    TC_CHECK(c[l] > 0 && h[l] > 0 && w[l] > 0, TC_ERR_USAGE, "patch embedding: empty layer %d", l);
    if ((size_t)h[l] * w[l] > maxhw) maxhw = (size_t)h[l] * w[l];
    if (c[l] * 9 > maxL) maxL = c[l] * 9;
  }
  float *u = tc_malloc((size_t)(maxL > 2 * D * nlayers ? maxL : 2 * D * nlayers) * sizeof(float),
                       "patch vector");
  float *pooled = tc_malloc(maxhw * D * sizeof(float), "pooled layer");
  float *grid = tc_malloc(P * D * nlayers * sizeof(float), "layer features");
  TcErr err = TC_OK;
  if (!u || !pooled || !grid) {
    err = TC_ERR_MEM;
    goto cleanup;
  }
  for (int l = 0; l < nlayers; l++) {
    float *g = grid + (size_t)l * P * D;
    if (l == 0) TC_CALL_GOTO(err, unfold_pool_(maps[l], c[l], h[l], w[l], D, u, g), cleanup);
    else {
      TC_CALL_GOTO(err, unfold_pool_(maps[l], c[l], h[l], w[l], D, u, pooled), cleanup);
      tc_embed_resize(pooled, h[l], w[l], D, g, h[0], w[0]);
    }
  }
  PoolWindows_ pw;
  TC_CALL_GOTO(err, pool_windows_(D * nlayers, D, &pw), cleanup);
  for (size_t p = 0; p < P; p++) {
    for (int l = 0; l < nlayers; l++)
      memcpy(u + (size_t)l * D, grid + ((size_t)l * P + p) * D, (size_t)D * sizeof(float));
    pool_(u, &pw, out + p * D, D);
  }
  pool_windows_free_(&pw);
cleanup:
  free(u);
  free(pooled);
  free(grid);
  return err;
}
