/* quantile.c - torch.quantile rule and radix-select helpers (DESIGN 3.4). */
#include "quantile.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

void tc_quantile_rank(int64_t n, double q, int64_t *lo, int64_t *hi, float *w) {
  if (n <= (1 << 24)) {
    float r = (float)q * (float)(n - 1); /* float32, as torch */
    *lo = (int64_t)floorf(r);
    *hi = (int64_t)ceilf(r);
    *w = r - (float)*lo;
  } else {
    double r = q * (double)(n - 1);
    *lo = (int64_t)floor(r);
    *hi = (int64_t)ceil(r);
    *w = (float)(r - (double)*lo);
  }
  if (*hi > n - 1) *hi = n - 1;
  if (*lo > n - 1) *lo = n - 1;
}

float tc_quantile_lerp(float a, float b, float w) {
  /* ATen's vectorised lerp: one fused multiply-add from the nearer end */
  return fabsf(w) < 0.5f ? fmaf(w, b - a, a) : fmaf(w - 1.0f, b - a, b);
}

static int cmp_f_(const void *a, const void *b) {
  uint32_t x = tc_quantile_key(*(const float *)a), y = tc_quantile_key(*(const float *)b);
  return (x > y) - (x < y);
}

TcErr tc_quantile(const float *x, int64_t n, double q, float *out) {
  TC_CHECK(n >= 1 && q >= 0 && q <= 1, TC_ERR_INTERNAL, "tc_quantile: bad arguments");
  float *s = tc_malloc((size_t)n * sizeof(float), "quantile copy");
  if (!s) return TC_ERR_MEM;
  memcpy(s, x, (size_t)n * sizeof(float));
  qsort(s, (size_t)n, sizeof(float), cmp_f_);
  int64_t lo, hi;
  float w;
  tc_quantile_rank(n, q, &lo, &hi, &w);
  *out = tc_quantile_lerp(s[lo], s[hi], w);
  free(s);
  return TC_OK;
}

uint32_t tc_quantile_key(float x) {
  uint32_t u;
  memcpy(&u, &x, 4);
  /* negative floats: flip all bits; positive: flip the sign bit */
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

float tc_quantile_unkey(uint32_t k) {
  uint32_t u = (k & 0x80000000u) ? (k & 0x7fffffffu) : ~k;
  float x;
  memcpy(&x, &u, 4);
  return x;
}

void tc_quantile_hist(const float *x, int64_t n, uint32_t prefix, int shift, int64_t counts[256]) {
  memset(counts, 0, 256 * sizeof(int64_t));
  uint32_t mask = shift >= 24 ? 0u : ~0u << (shift + 8);
  for (int64_t i = 0; i < n; i++) {
    uint32_t k = tc_quantile_key(x[i]);
    if ((k & mask) == (prefix & mask)) counts[(k >> shift) & 255u]++;
  }
}

int tc_quantile_pick(const int64_t counts[256], int64_t *k) {
  for (int b = 0; b < 256; b++) {
    if (*k < counts[b]) return b;
    *k -= counts[b];
  }
  return 255;
}
