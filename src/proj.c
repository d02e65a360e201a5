/* proj.c - random projection (DESIGN 3.3). */
#include "proj.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>

#include "rng.h"

TcErr tc_proj_create(int64_t P, int64_t D, uint64_t seed, float **W) {
  *W = NULL;
  TC_CHECK(P >= 1 && D >= 1 && P <= INT_MAX && D <= INT_MAX, TC_ERR_USAGE,
           "projection size %lld x %lld is out of range", (long long)P, (long long)D);
  float *w = tc_malloc_aligned((size_t)(P * D) * sizeof(float), "projection matrix");
  if (!w) return TC_ERR_MEM;
  float bound = (float)(1.0 / sqrt((double)D));
  for (int64_t r = 0; r < P; r++)
    for (int64_t c = 0; c < D; c++)
      w[r * D + c] = tc_rng_uniform_f(seed, TC_RNG_STREAM_PROJ, (uint64_t)(r * D + c), -bound, bound);
  *W = w;
  return TC_OK;
}

TcErr tc_proj_apply(const float *W, int64_t P, int64_t D, const float *X, int64_t n, float *Y) {
  TC_CHECK(P >= 1 && D >= 1 && P <= INT_MAX && D <= INT_MAX && n >= 0, TC_ERR_INTERNAL,
           "tc_proj_apply: bad sizes");
  const int64_t slice = INT_MAX / 2;
  for (int64_t r0 = 0; r0 < n; r0 += slice) {
    int64_t rows = n - r0 < slice ? n - r0 : slice;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)rows, (int)P, (int)D, 1.0f,
                X + r0 * D, (int)D, W, (int)D, 0.0f, Y + r0 * P, (int)P);
  }
  return TC_OK;
}
