/* test_lof.c - LOF against scikit-learn's LocalOutlierFactor on fixtures
 * (relative error <= 1e-5), hand cases, and a brute-force reference. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "bank_fixture.h"
#include "check.h"
#include "lof.h"
#include "rng.h"

/* The definition, O(n^2) with exact double distances and a full sort. */
static void brute_lof_(const float *X, int n, int dim, int k, double *out) {
  double *d = malloc(sizeof(double) * n * n), *kd = malloc(sizeof(double) * n),
         *lrd = malloc(sizeof(double) * n);
  int *nb = malloc(sizeof(int) * n * k);
  for (int i = 0; i < n; i++)
    for (int j = 0; j < n; j++) {
      double s = 0;
      for (int c = 0; c < dim; c++) { double t = (double)X[i * dim + c] - X[j * dim + c]; s += t * t; }
      d[i * n + j] = sqrt(s);
    }
  for (int i = 0; i < n; i++) {
    int cnt = 0;
    char *used = calloc(n, 1);
    used[i] = 1;
    while (cnt < k) {
      int b = -1;
      for (int j = 0; j < n; j++)
        if (!used[j] && (b < 0 || d[i * n + j] < d[i * n + b])) b = j;
      used[b] = 1;
      nb[i * k + cnt++] = b;
    }
    kd[i] = d[i * n + nb[i * k + k - 1]];
    free(used);
  }
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int t = 0; t < k; t++) { int o = nb[i * k + t]; s += fmax(kd[o], d[i * n + o]); }
    lrd[i] = 1.0 / (s / k + 1e-10);
  }
  for (int i = 0; i < n; i++) {
    double s = 0;
    for (int t = 0; t < k; t++) s += lrd[nb[i * k + t]];
    out[i] = s / k / lrd[i];
  }
  free(d); free(kd); free(lrd); free(nb);
}

int main(void) {
  hid_t f = bank_fixture_open_();
  CHECK(f >= 0);
  const char *cases[] = {"random_small", "random_128", "tiny", "outliers", "duplicates",
                         "grid_ties", "lattice", "big_group", "k3"};
  for (int c = 0; f >= 0 && c < 9; c++) {
    char name[128];
    int64_t nel, dims[2], n;
    snprintf(name, sizeof name, "lof/%s/X", cases[c]);
    float *X = bank_fixture_read_(f, name, H5T_NATIVE_FLOAT, 4, &nel, dims);
    snprintf(name, sizeof name, "lof/%s/lof", cases[c]);
    float *ref = bank_fixture_read_(f, name, H5T_NATIVE_FLOAT, 4, &n, NULL);
    snprintf(name, sizeof name, "lof/%s/mask", cases[c]);
    uint8_t *mask = bank_fixture_read_(f, name, H5T_NATIVE_UINT8, 1, &n, NULL);
    snprintf(name, sizeof name, "lof/%s", cases[c]);
    int k = (int)bank_fixture_attr_i64_(f, name, "k");
    TcLofWork *w = NULL;
    CHECK(tc_lof_work_create(n, (int)dims[1], k, &w) == TC_OK);
    float *got = malloc(sizeof(float) * n);
    CHECK(tc_lof_scores(w, X, n, got) == TC_OK);
    double maxrel = 0;
    int compared = 0;
    for (int64_t i = 0; i < n; i++) {
      if (!mask[i]) continue;
      compared++;
      double rel = fabs((double)got[i] - ref[i]) / fabs((double)ref[i]);
      if (rel > maxrel) maxrel = rel;
    }
    CHECK_MSG(maxrel <= 1e-5, "%s: max relative error %g", cases[c], maxrel);
    printf("lof %-13s n=%-4lld d=%-3lld k=%d compared %d: max rel err vs sklearn %.2e\n", cases[c],
           (long long)n, (long long)dims[1], k, compared, maxrel);
    free(X); free(ref); free(mask); free(got);
    tc_lof_work_destroy(&w);
  }
  if (f >= 0) H5Fclose(f);

  /* 400 points in 128-d with more than one Gram panel, vs the definition */
  const int n = 603, dim = 128; /* not a multiple of 8: ragged tiles */
  float *X = malloc(sizeof(float) * n * dim), *got = malloc(sizeof(float) * n);
  double *ref = malloc(sizeof(double) * n);
  for (int i = 0; i < n * dim; i++) X[i] = (float)(tc_rng_uniform(9, 1, i) * 2 - 1) + 3.0f;
  for (int c = 0; c < dim; c++) X[5 * dim + c] = X[6 * dim + c] = X[7 * dim + c]; /* copies */
  TcLofWork *w = NULL;
  CHECK(tc_lof_work_create(n, dim, 6, &w) == TC_OK);
  CHECK(tc_lof_scores(w, X, n, got) == TC_OK);
  brute_lof_(X, n, dim, 6, ref);
  double maxrel = 0;
  for (int i = 0; i < n; i++) maxrel = fmax(maxrel, fabs(got[i] - ref[i]) / ref[i]);
  CHECK_MSG(maxrel < 1e-6, "brute force: %g", maxrel);
  /* the sgemm-panel path (many points) gives the same bits as the
   * one-ssyrk path: the float32 Gram only picks candidates, exact float64
   * distances decide */
  {
    TcLofWork *wp = NULL;
    float *gp = malloc(sizeof(float) * n);
    CHECK(tc_lof_work_create_limited(n, dim, 6, 0, &wp) == TC_OK);
    CHECK(tc_lof_scores(wp, X, n, gp) == TC_OK);
    int same_panel = 1;
    for (int i = 0; i < n; i++) same_panel &= gp[i] == got[i];
    CHECK_MSG(same_panel, "panel path differs from the full-Gram path");
    tc_lof_work_destroy(&wp);
    free(gp);
  }
  /* one point: LOF 1; two points: k_eff = 1, both LOF 1 */
  CHECK(tc_lof_scores(w, X, 1, got) == TC_OK);
  CHECK(got[0] == 1.0f);
  CHECK(tc_lof_scores(w, X, 2, got) == TC_OK);
  CHECK_NEAR(got[0], 1.0, 1e-6);
  CHECK(tc_lof_scores(w, X, n + 1, got) != TC_OK);
  tc_lof_work_destroy(&w);
  CHECK(tc_lof_work_create(10, dim, 0, &w) == TC_ERR_USAGE);
  free(X); free(got); free(ref);
  return tc_test_report();
}
