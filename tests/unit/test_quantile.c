/* test_quantile.c - torch.quantile's rule against torch on fixtures, and the
 * radix selection against sorting. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bank_fixture.h"
#include "check.h"
#include "quantile.h"
#include "rng.h"

static int cmpf_(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

/* k-th order statistic by four radix rounds, as mpi/plof.c does with the
 * counts summed over ranks; here the "ranks" are three slices of x. */
static float select_k_(const float *x, int64_t n, int64_t k) {
  uint32_t prefix = 0;
  for (int shift = 24; shift >= 0; shift -= 8) {
    int64_t tot[256] = {0}, part[256];
    int64_t cut[4] = {0, n / 3, 2 * n / 3, n};
    for (int r = 0; r < 3; r++) {
      tc_quantile_hist(x + cut[r], cut[r + 1] - cut[r], prefix, shift, part);
      for (int b = 0; b < 256; b++) tot[b] += part[b];
    }
    int b = tc_quantile_pick(tot, &k);
    prefix |= (uint32_t)b << shift;
  }
  return tc_quantile_unkey(prefix);
}

int main(void) {
  /* key order = float order */
  float vals[] = {-INFINITY, -3.5f, -1e-30f, -0.0f, 0.0f, 1e-30f, 1.0f, 2.5f, INFINITY};
  for (int i = 0; i + 1 < 9; i++) CHECK(tc_quantile_key(vals[i]) <= tc_quantile_key(vals[i + 1]));
  for (int i = 0; i < 9; i++) CHECK(tc_quantile_unkey(tc_quantile_key(vals[i])) == vals[i]);

  hid_t f = bank_fixture_open_();
  CHECK(f >= 0);
  if (f < 0) return tc_test_report();
  const char *cases[] = {"one", "two", "seven", "ties", "lof_like", "gen313600", "gen1000003"};
  for (int c = 0; c < 7; c++) {
    char name[128];
    int64_t n, nq;
    snprintf(name, sizeof name, "quantile/%s", cases[c]);
    n = bank_fixture_attr_i64_(f, name, "n");
    float *x;
    if (!strncmp(cases[c], "gen", 3)) {
      x = malloc(sizeof(float) * n);
      for (int64_t i = 0; i < n; i++) x[i] = (float)((double)((i * 7919) % n) / 1024.0);
    } else {
      snprintf(name, sizeof name, "quantile/%s/x", cases[c]);
      x = bank_fixture_read_(f, name, H5T_NATIVE_FLOAT, 4, &n, NULL);
    }
    snprintf(name, sizeof name, "quantile/%s/q", cases[c]);
    double *q = bank_fixture_read_(f, name, H5T_NATIVE_DOUBLE, 8, &nq, NULL);
    snprintf(name, sizeof name, "quantile/%s/out", cases[c]);
    float *ref = bank_fixture_read_(f, name, H5T_NATIVE_FLOAT, 4, &nq, NULL);
    float *sorted = malloc(sizeof(float) * n);
    memcpy(sorted, x, sizeof(float) * n);
    qsort(sorted, n, sizeof(float), cmpf_);
    for (int64_t j = 0; j < nq; j++) {
      float got;
      CHECK(tc_quantile(x, n, q[j], &got) == TC_OK);
      /* exact equality: same float32 rank, same lerp */
      CHECK_MSG(got == ref[j], "%s q=%g: %.9g vs torch %.9g", cases[c], q[j], got, ref[j]);
      int64_t lo, hi;
      float w;
      tc_quantile_rank(n, q[j], &lo, &hi, &w);
      float a = select_k_(x, n, lo), b = select_k_(x, n, hi);
      CHECK_MSG(a == sorted[lo] && b == sorted[hi], "%s radix select", cases[c]);
      CHECK(tc_quantile_lerp(a, b, w) == ref[j]);
    }
    free(x); free(q); free(ref); free(sorted);
  }
  H5Fclose(f);
  /* random signs and magnitudes through the radix path */
  const int64_t n = 5001;
  float *x = malloc(sizeof(float) * n), *s = malloc(sizeof(float) * n);
  for (int64_t i = 0; i < n; i++)
    x[i] = (float)((tc_rng_uniform(3, 5, i) - 0.5) * pow(10.0, 6 * tc_rng_uniform(3, 6, i) - 3));
  memcpy(s, x, sizeof(float) * n);
  qsort(s, n, sizeof(float), cmpf_);
  int bad = 0;
  for (int64_t k = 0; k < n; k += 97)
    if (select_k_(x, n, k) != s[k]) bad++;
  CHECK_INT(bad, 0);
  free(x); free(s);
  return tc_test_report();
}
