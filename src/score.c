/* score.c - nearest-neighbour patch scores, image score and anomaly map
 * (DESIGN 3.7). See score.h for the semantics pinned here. */
#include "score.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

void tc_score_row_norms(const float *X, int64_t n, int64_t D, float *norms) {
  /* float64 accumulation: the same bits whatever BLAS kernel or alignment */
  for (int64_t i = 0; i < n; i++) {
    const float *x = X + i * D;
    double s = 0.0;
    for (int64_t d = 0; d < D; d++) s += (double)x[d] * (double)x[d];
    norms[i] = (float)s;
  }
}

void tc_score_nn_init(TcScoreNN *out, int64_t q) {
  for (int64_t i = 0; i < q; i++) {
    out[i].key = INFINITY;
    out[i].dist = INFINITY;
    out[i].index = -1;
  }
}

int64_t tc_score_nn_work_floats(int64_t q, int64_t tile_rows) {
  int64_t qb = q < TC_SCORE_QUERY_BLOCK ? q : TC_SCORE_QUERY_BLOCK;
  if (qb < 1) qb = 1;
  /* query norms of one block + the sgemm tile */
  return qb + qb * tile_rows;
}

TcErr tc_score_nn(const float *Q, int64_t q, const float *bank, const float *norms, int64_t M,
                  int64_t D, int64_t index0, int64_t tile_rows, float *work, TcScoreNN *out) {
  TC_CHECK(D > 0 && D <= INT_MAX && tile_rows > 0 && tile_rows <= INT_MAX / 2 && q >= 0 && M >= 0,
           TC_ERR_USAGE, "score: bad sizes (q=%lld M=%lld D=%lld tile=%lld)", (long long)q,
           (long long)M, (long long)D, (long long)tile_rows);
  if (q == 0 || M == 0) return TC_OK;
  float *qn = work;
  float *C = work + (q < TC_SCORE_QUERY_BLOCK ? q : TC_SCORE_QUERY_BLOCK);
  for (int64_t i0 = 0; i0 < q; i0 += TC_SCORE_QUERY_BLOCK) {
    int64_t qb = q - i0 < TC_SCORE_QUERY_BLOCK ? q - i0 : TC_SCORE_QUERY_BLOCK;
    const float *Qb = Q + i0 * D;
    tc_score_row_norms(Qb, qb, D, qn);
    for (int64_t j0 = 0; j0 < M; j0 += tile_rows) {
      int64_t mt = M - j0 < tile_rows ? M - j0 : tile_rows;
      /* C = -2 Q B^T: scaling by -2 is exact, so key = (|a|^2 + |b|^2) + C
       * is faiss's |a|^2 + |b|^2 - 2ab bit for bit */
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qb, (int)mt, (int)D, -2.0f, Qb,
                  (int)D, bank + j0 * D, (int)D, 0.0f, C, (int)mt);
      const float *bn = norms + j0;
      for (int64_t i = 0; i < qb; i++) {
        const float *c = C + i * mt;
        const float a = qn[i];
        float best = out[i0 + i].key;
        int64_t bi = -1;
        for (int64_t j = 0; j < mt; j++) {
          float k = (a + bn[j]) + c[j];
          if (k < 0.0f) k = 0.0f;
          /* strict <: the first (lowest) row wins ties inside the slice */
          if (k < best) {
            best = k;
            bi = j;
          }
        }
        TcScoreNN *o = &out[i0 + i];
        if (bi >= 0) {
          int64_t g = index0 + j0 + bi;
          /* an equal key from an earlier merge keeps the lower global index */
          if (best < o->key || o->index < 0 || g < o->index) {
            o->key = best;
            o->index = g;
          }
        } else if (o->index > index0 + j0) {
          /* the incumbent came from a later tile (slices merged out of row
           * order): an equal key here has the lower index and wins */
          for (int64_t j = 0; j < mt; j++) {
            float k = (a + bn[j]) + c[j];
            if (k < 0.0f) k = 0.0f;
            if (k == best) {
              if (index0 + j0 + j < o->index) o->index = index0 + j0 + j;
              break;
            }
          }
        }
      }
    }
  }
  return TC_OK;
}

void tc_score_nn_exact(const float *Q, int64_t q, const float *bank, int64_t M, int64_t D,
                       int64_t index0, TcScoreNN *out) {
  for (int64_t i = 0; i < q; i++) {
    int64_t r = out[i].index - index0;
    if (out[i].index < 0 || r < 0 || r >= M) continue;
    const float *a = Q + i * D, *b = bank + r * D;
    double s = 0.0;
    for (int64_t d = 0; d < D; d++) {
      double t = (double)a[d] - (double)b[d];
      s += t * t;
    }
    out[i].dist = (float)s;
  }
}

TcErr tc_score_nn_bank(const float *Q, int64_t q, const float *bank, const float *norms, int64_t M,
                       int64_t D, float *dist, int64_t *index) {
  TC_CHECK(M > 0, TC_ERR_USAGE, "score: empty memory bank");
  int64_t tile = TC_SCORE_TILE_ROWS;
  float *work = tc_malloc(sizeof(float) * (size_t)tc_score_nn_work_floats(q, tile), "score workspace");
  TcScoreNN *nn = tc_malloc(sizeof(TcScoreNN) * (size_t)(q > 0 ? q : 1), "score neighbours");
  TcErr err = TC_OK;
  if (!work || !nn) {
    err = TC_ERR_MEM;
    goto cleanup;
  }
  tc_score_nn_init(nn, q);
  TC_CALL_GOTO(err, tc_score_nn(Q, q, bank, norms, M, D, 0, tile, work, nn), cleanup);
  tc_score_nn_exact(Q, q, bank, M, D, 0, nn);
  for (int64_t i = 0; i < q; i++) {
    dist[i] = nn[i].dist;
    if (index) index[i] = nn[i].index;
  }
cleanup:
  free(nn);
  free(work);
  return err;
}

/* PyTorch's compute_source_index_and_lambda (UpSampleKernel.cpp) for one
 * axis, in float32 (opmath of float). */
static void linear_axis_(int in, int outn, int *i0, int *i1, float *w0, float *w1) {
  if (in == outn) {
    for (int o = 0; o < outn; o++) {
      i0[o] = i1[o] = o;
      w0[o] = 1.0f;
      w1[o] = 0.0f;
    }
    return;
  }
  const float scale = (float)in / (float)outn;
  for (int o = 0; o < outn; o++) {
    float src = scale * ((float)o + 0.5f) - 0.5f;
    if (src < 0.0f) src = 0.0f;
    int a = (int)src;
    int off = a < in - 1 ? 1 : 0;
    float l1 = src - (float)a;
    if (l1 < 0.0f) l1 = 0.0f;
    if (l1 > 1.0f) l1 = 1.0f;
    i0[o] = a;
    i1[o] = a + off;
    w1[o] = l1;
    w0[o] = 1.0f - l1;
  }
}

void tc_score_upsample_bilinear(const float *in, int ih, int iw, float *out, int oh, int ow) {
  /* small index tables on the stack for the usual sizes, heap otherwise */
  int yi0s[512], yi1s[512], xi0s[512], xi1s[512];
  float yw0s[512], yw1s[512], xw0s[512], xw1s[512];
  int big = oh > 512 || ow > 512;
  int *yi0 = yi0s, *yi1 = yi1s, *xi0 = xi0s, *xi1 = xi1s;
  float *yw0 = yw0s, *yw1 = yw1s, *xw0 = xw0s, *xw1 = xw1s;
  if (big) {
    int n = oh > ow ? oh : ow;
    int *ib = malloc(sizeof(int) * 4 * (size_t)n);
    float *fb = malloc(sizeof(float) * 4 * (size_t)n);
    if (!ib || !fb) { /* cannot fail loudly from a void kernel: fill zeros */
      free(ib);
      free(fb);
      memset(out, 0, sizeof(float) * (size_t)oh * (size_t)ow);
      return;
    }
    yi0 = ib; yi1 = ib + n; xi0 = ib + 2 * n; xi1 = ib + 3 * n;
    yw0 = fb; yw1 = fb + n; xw0 = fb + 2 * n; xw1 = fb + 3 * n;
  }
  linear_axis_(ih, oh, yi0, yi1, yw0, yw1);
  linear_axis_(iw, ow, xi0, xi1, xw0, xw1);
  for (int y = 0; y < oh; y++) {
    const float *r0 = in + (size_t)yi0[y] * iw, *r1 = in + (size_t)yi1[y] * iw;
    for (int x = 0; x < ow; x++) {
      /* PyTorch's Interpolate<2>: inner (width) first, then height, each as
       * t0 * w0 + t1 * w1 in float */
      float t0 = r0[xi0[x]] * xw0[x] + r0[xi1[x]] * xw1[x];
      float t1 = r1[xi0[x]] * xw0[x] + r1[xi1[x]] * xw1[x];
      out[(size_t)y * ow + x] = t0 * yw0[y] + t1 * yw1[y];
    }
  }
  if (big) {
    free(yi0);
    free(yw0);
  }
}

/* scipy's reflect extension: period 2n, (d c b a | a b c d | d c b a) */
static int reflect_(int i, int n) {
  int p = 2 * n;
  int m = i % p;
  if (m < 0) m += p;
  return m >= n ? p - 1 - m : m;
}

/* correlate one line (scipy NI_Correlate1D, symmetric-weights branch:
 * centre first, then (x[i+j] + x[i-j]) * w[j], in float64) */
static void gauss_line_(const float *src, ptrdiff_t stride, int n, const double *w, int r,
                        double *ext, float *dst, ptrdiff_t dstride) {
  for (int i = -r; i < n + r; i++) ext[i + r] = (double)src[(ptrdiff_t)reflect_(i, n) * stride];
  for (int i = 0; i < n; i++) {
    const double *x = ext + i + r;
    double acc = x[0] * w[0];
    for (int j = 1; j <= r; j++) acc += (x[j] + x[-j]) * w[j];
    dst[(ptrdiff_t)i * dstride] = (float)acc;
  }
}

TcErr tc_score_gaussian(float *img, int h, int w, double sigma, double truncate) {
  TC_CHECK(sigma > 0 && truncate > 0 && h > 0 && w > 0, TC_ERR_USAGE,
           "gaussian: bad arguments (sigma %g truncate %g size %dx%d)", sigma, truncate, h, w);
  int r = (int)(truncate * sigma + 0.5);
  int n = h > w ? h : w;
  double *wt = tc_malloc(sizeof(double) * (size_t)(r + 1), "gaussian weights");
  double *ext = tc_malloc(sizeof(double) * (size_t)(n + 2 * r), "gaussian line");
  float *line = tc_malloc(sizeof(float) * (size_t)n, "gaussian line");
  TcErr err = TC_OK;
  if (!wt || !ext || !line) {
    err = TC_ERR_MEM;
    goto cleanup;
  }
  /* scipy _gaussian_kernel1d: exp(-0.5 / sigma^2 * x^2) normalised by the
   * sum over x = -r..r (summed in numpy's order: pairwise, but for <= 128
   * terms numpy sums sequentially from -r) */
  double sum = 0.0;
  double sigma2 = sigma * sigma;
  for (int x = -r; x <= r; x++) sum += exp(-0.5 / sigma2 * (double)(x * x));
  for (int x = 0; x <= r; x++) wt[x] = exp(-0.5 / sigma2 * (double)(x * x)) / sum;
  /* axis 0 (down the columns), the result stored as float32 like scipy's
   * float32 output array, then axis 1 */
  for (int x = 0; x < w; x++) {
    gauss_line_(img + x, w, h, wt, r, ext, line, 1);
    for (int y = 0; y < h; y++) img[(size_t)y * w + x] = line[y];
  }
  for (int y = 0; y < h; y++) {
    gauss_line_(img + (size_t)y * w, 1, w, wt, r, ext, line, 1);
    memcpy(img + (size_t)y * w, line, sizeof(float) * (size_t)w);
  }
cleanup:
  free(line);
  free(ext);
  free(wt);
  return err;
}

TcErr tc_score_anomaly_map(const float *grid, int fh, int fw, int crop, double sigma, float *out) {
  TC_CHECK(fh > 0 && fw > 0 && crop > 0, TC_ERR_USAGE, "anomaly map: bad sizes %dx%d -> %d", fh, fw,
           crop);
  tc_score_upsample_bilinear(grid, fh, fw, out, crop, crop);
  TC_CALL(tc_score_gaussian(out, crop, crop, sigma, 4.0));
  return TC_OK;
}

float tc_score_image(const float *patch_scores, int64_t n) {
  float m = -INFINITY;
  for (int64_t i = 0; i < n; i++)
    if (patch_scores[i] > m) m = patch_scores[i];
  return m;
}
