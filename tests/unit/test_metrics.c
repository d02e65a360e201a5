/* test_metrics.c - ROC AUC against sklearn's roc_auc_score (fixtures with
 * ties, signed zeros, negative scores), the incremental accumulator against
 * the one-shot call, an O(n^2) pairwise count on random tie-heavy data,
 * undefined cases, and the group means. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "metrics.h"
#include "score_fixture.h"

static double pairwise_(const float *s, const uint8_t *l, int64_t n) {
  double num = 0, P = 0, N = 0;
  for (int64_t i = 0; i < n; i++) {
    if (l[i]) P++;
    else N++;
  }
  for (int64_t i = 0; i < n; i++)
    if (l[i])
      for (int64_t j = 0; j < n; j++)
        if (!l[j]) num += s[i] > s[j] ? 1.0 : (s[i] == s[j] ? 0.5 : 0.0);
  return num / (P * N);
}

static uint64_t z_ = 88172645463325252ULL;
static double urand_(void) {
  z_ ^= z_ << 13;
  z_ ^= z_ >> 7;
  z_ ^= z_ << 17;
  return (double)(z_ >> 11) / 9007199254740992.0;
}

int main(void) {
  hid_t f = score_fixture_open_();
  CHECK(f >= 0);
  const char *cases[] = {"hand", "ties", "all_tied", "perfect", "inverted", "signed_zero",
                         "random", "quantised", "negative"};
  for (size_t c = 0; f >= 0 && c < sizeof cases / sizeof *cases; c++) {
    char name[128];
    int64_t n, nl, na;
    snprintf(name, sizeof name, "auroc/%s/score", cases[c]);
    float *s = score_fixture_read_(f, name, H5T_NATIVE_FLOAT, sizeof(float), &n, NULL);
    snprintf(name, sizeof name, "auroc/%s/label", cases[c]);
    uint8_t *l = score_fixture_read_(f, name, H5T_NATIVE_UINT8, 1, &nl, NULL);
    snprintf(name, sizeof name, "auroc/%s/auc", cases[c]);
    double *ref = score_fixture_read_(f, name, H5T_NATIVE_DOUBLE, sizeof(double), &na, NULL);
    CHECK(s && l && ref && n == nl);
    if (!s || !l || !ref) continue;
    double auc = -1;
    CHECK(tc_metrics_auroc(s, l, n, &auc) == TC_OK);
    CHECK_MSG(fabs(auc - ref[0]) <= 1e-12, "%s: %.17g vs sklearn %.17g", cases[c], auc, ref[0]);
    /* incremental, in uneven pieces, gives the same number */
    TcAuroc *acc = NULL;
    CHECK(tc_auroc_create(&acc) == TC_OK);
    for (int64_t i = 0; i < n;) {
      int64_t k = 1 + (i * 7 + 3) % 97;
      if (i + k > n) k = n - i;
      CHECK(tc_auroc_add(acc, s + i, l + i, k) == TC_OK);
      i += k;
    }
    double auc2 = -1;
    CHECK(tc_auroc_finish(acc, &auc2) == TC_OK);
    CHECK(auc2 == auc);
    tc_auroc_destroy(&acc);
    CHECK(acc == NULL);
    if (n <= 4000) CHECK_NEAR(auc, pairwise_(s, l, n), 1e-12);
    free(s);
    free(l);
    free(ref);
  }
  if (f >= 0) H5Fclose(f);

  /* random tie-heavy data against the pairwise definition */
  for (int rep = 0; rep < 5; rep++) {
    int64_t n = 500 + rep * 300;
    float *s = malloc(sizeof(float) * n);
    uint8_t *l = malloc((size_t)n);
    for (int64_t i = 0; i < n; i++) {
      l[i] = urand_() < 0.2 + 0.1 * rep;
      s[i] = (float)floor((urand_() + 0.3 * l[i]) * (3 + rep * 5)) - 2.0f;
    }
    double auc;
    CHECK(tc_metrics_auroc(s, l, n, &auc) == TC_OK);
    CHECK_NEAR(auc, pairwise_(s, l, n), 1e-12);
    free(s);
    free(l);
  }

  /* undefined: one class only -> NaN, no error; NaN score -> error */
  float s1[3] = {1, 2, 3};
  uint8_t l0[3] = {0, 0, 0}, l1[3] = {1, 1, 1}, lm[3] = {0, 1, 0};
  double auc = 0;
  CHECK(tc_metrics_auroc(s1, l0, 3, &auc) == TC_OK && isnan(auc));
  CHECK(tc_metrics_auroc(s1, l1, 3, &auc) == TC_OK && isnan(auc));
  CHECK(tc_metrics_auroc(s1, lm, 0, &auc) == TC_OK && isnan(auc));
  float sn[3] = {1, NAN, 3};
  CHECK(tc_metrics_auroc(sn, lm, 3, &auc) == TC_ERR_FORMAT);
  /* infinities are ordinary extreme scores */
  float si[4] = {-INFINITY, INFINITY, 0, 1};
  uint8_t li[4] = {0, 1, 0, 1};
  CHECK(tc_metrics_auroc(si, li, 4, &auc) == TC_OK && auc == 1.0);

  /* a larger case (a 224x224 x 40 "class" of quantised scores) runs and
   * agrees with a sort-free histogram count */
  {
    int64_t n = 40LL * 224 * 224;
    float *s = malloc(sizeof(float) * n);
    uint8_t *l = malloc((size_t)n);
    int64_t hp[64] = {0}, hn[64] = {0};
    for (int64_t i = 0; i < n; i++) {
      l[i] = urand_() < 0.03;
      int v = (int)(urand_() * 40 + l[i] * 20);
      s[i] = (float)v * 0.25f;
      if (l[i]) hp[v]++;
      else hn[v]++;
    }
    double num = 0, P = 0, N = 0, below = 0;
    for (int v = 0; v < 64; v++) { P += hp[v]; N += hn[v]; }
    for (int v = 0; v < 64; v++) {
      num += hp[v] * (below + 0.5 * hn[v]);
      below += hn[v];
    }
    CHECK(tc_metrics_auroc(s, l, n, &auc) == TC_OK);
    CHECK_NEAR(auc, num / (P * N), 1e-12);
    free(s);
    free(l);
  }

  /* group means */
  double v[5] = {0.9, 0.8, NAN, 0.6, 1.0};
  int t[5] = {1, 0, 1, -1, 0};
  TcGroupMeans g;
  tc_metrics_group_means(v, t, 5, &g);
  CHECK_NEAR(g.tail, 0.9, 1e-15);
  CHECK_NEAR(g.head, 0.9, 1e-15);
  CHECK_NEAR(g.all, (0.9 + 0.8 + 0.6 + 1.0) / 4, 1e-15);
  CHECK_INT(g.n_tail, 1);
  CHECK_INT(g.n_head, 2);
  CHECK_INT(g.n_all, 4);
  tc_metrics_group_means(v, NULL, 5, &g);
  CHECK(isnan(g.tail) && isnan(g.head) && g.n_all == 4);
  return tc_test_report();
}
