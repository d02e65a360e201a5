/* test_coreset.c - greedy coreset (DESIGN 3.5): hand cases, the numpy
 * fixture, covering radius never increasing, and plain == pruned ==
 * a straightforward loop on 100k random points. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bank_fixture.h"
#include "check.h"
#include "coreset.h"
#include "log.h"
#include "rng.h"

/* The DESIGN 3.5 loop written as plainly as possible (its own d2 loop with
 * the same pinned order, via tc_coreset_d2). */
static void straight_(const float *X, int64_t n, int dim, int64_t m, int64_t first, int64_t *idx) {
  float *md = malloc(sizeof(float) * n);
  for (int64_t i = 0; i < n; i++) md[i] = INFINITY;
  idx[0] = first;
  for (int64_t t = 1; t < m; t++) {
    const float *c = X + idx[t - 1] * dim;
    for (int64_t i = 0; i < n; i++) {
      float d = tc_coreset_d2(X + i * dim, c, dim);
      if (d < md[i]) md[i] = d;
    }
    int64_t b = 0;
    for (int64_t i = 1; i < n; i++)
      if (md[i] > md[b]) b = i;
    idx[t] = b;
  }
  free(md);
}

int main(void) {
  /* d2 pinned order: exact on small integers */
  float a[11] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}, b[11] = {0};
  CHECK(tc_coreset_d2(a, b, 11) == 506.0f);
  CHECK(tc_coreset_d2(a, a, 11) == 0.0f);

  /* hand case on a line: 0 1 2 3 10, first = 0 -> 10, then 2 (d=2 beats 1 and 3? 3 is
   * at 3 from 0 but 7 from 10: min 3; 2: min 2), so 3, then 1 vs 2: tie at 1 -> lowest */
  float line[5] = {0, 1, 2, 3, 10};
  int64_t idx[5];
  for (int pr = 0; pr < 2; pr++) {
    CHECK(tc_coreset_select(line, 5, 1, 5, 0, pr, idx, NULL) == TC_OK);
    CHECK_INT(idx[0], 0); CHECK_INT(idx[1], 4); CHECK_INT(idx[2], 3); CHECK_INT(idx[3], 1);
    CHECK_INT(idx[4], 2);
  }
  /* ties: equal distances -> lowest index; the first point is in the set */
  float sq[8] = {0, 0, 1, 0, 0, 1, 1, 1}; /* unit square corners */
  CHECK(tc_coreset_select(sq, 4, 2, 3, 1, 0, idx, NULL) == TC_OK);
  CHECK_INT(idx[0], 1); CHECK_INT(idx[1], 2); CHECK_INT(idx[2], 0);
  /* all duplicates: the loop picks index 0 again once everything is covered */
  float dup[6] = {5, 5, 5, 5, 5, 5};
  for (int pr = 0; pr < 2; pr++) {
    CHECK(tc_coreset_select(dup, 6, 1, 3, 4, pr, idx, NULL) == TC_OK);
    CHECK_INT(idx[0], 4); CHECK_INT(idx[1], 0); CHECK_INT(idx[2], 0);
  }
  CHECK(tc_coreset_select(dup, 6, 1, 7, 0, 0, idx, NULL) != TC_OK);
  CHECK_INT(tc_coreset_target(1000, 0.1), 100);
  CHECK_INT(tc_coreset_target(9, 0.1), 1);
  CHECK_INT(tc_coreset_target(0, 0.1), 0);
  CHECK(tc_coreset_first(3, 1000) == tc_coreset_first(3, 1000));
  CHECK(tc_coreset_first(3, 1000) >= 0 && tc_coreset_first(3, 1000) < 1000);

  /* the numpy loop of tests/golden/make_bank_fixtures.py */
  hid_t f = bank_fixture_open_();
  CHECK(f >= 0);
  if (f >= 0) {
    int64_t nel, dims[2], m;
    float *X = bank_fixture_read_(f, "coreset/X", H5T_NATIVE_FLOAT, 4, &nel, dims);
    int64_t *ref = bank_fixture_read_(f, "coreset/idx", H5T_NATIVE_INT64, 8, &m, NULL);
    int64_t first = bank_fixture_attr_i64_(f, "coreset", "first");
    int64_t *got = malloc(sizeof(int64_t) * m);
    for (int pr = 0; pr < 2; pr++) {
      CHECK(tc_coreset_select(X, dims[0], (int)dims[1], m, first, pr, got, NULL) == TC_OK);
      int same = !memcmp(got, ref, sizeof(int64_t) * m);
      CHECK_MSG(same, "numpy fixture (pruned=%d)", pr);
    }
    free(X); free(ref); free(got);
    H5Fclose(f);
  }

  /* 100k random points, 128-d: plain == pruned == straightforward; radius */
  const int64_t n = 100000, m = 300;
  const int dim = 128;
  float *X = malloc(sizeof(float) * n * dim);
  /* clustered data, so the pruning actually prunes */
  for (int64_t i = 0; i < n; i++) {
    int64_t cl = tc_rng_index(5, 7, i, 50);
    for (int c = 0; c < dim; c++)
      X[i * dim + c] = (float)(tc_rng_uniform(5, 8, cl * dim + c) * 10 +
                               tc_rng_uniform(5, 9, i * dim + c) - 0.5);
  }
  int64_t *i1 = malloc(sizeof(int64_t) * m), *i2 = malloc(sizeof(int64_t) * m),
          *i3 = malloc(sizeof(int64_t) * m);
  float *r1 = malloc(sizeof(float) * m), *r2 = malloc(sizeof(float) * m);
  int64_t first = tc_coreset_first(0, n);
  double t0 = tc_now();
  CHECK(tc_coreset_select(X, n, dim, m, first, 0, i1, r1) == TC_OK);
  double t1 = tc_now();
  CHECK(tc_coreset_select(X, n, dim, m, first, 1, i2, r2) == TC_OK);
  double t2 = tc_now();
  straight_(X, n, dim, m, first, i3);
  CHECK_MSG(!memcmp(i1, i2, sizeof(int64_t) * m), "plain != pruned");
  CHECK_MSG(!memcmp(i1, i3, sizeof(int64_t) * m), "plain != straightforward");
  CHECK_MSG(!memcmp(r1, r2, sizeof(float) * m), "radius plain != pruned");
  int incr = 0;
  for (int64_t t = 1; t < m; t++)
    if (r1[t] > r1[t - 1]) incr++;
  CHECK_INT(incr, 0);
  /* the radius is the argmax value: the next selected point's minimum */
  printf("100k x 128, m=%lld: plain %.2fs, pruned %.2fs (%.1fx)\n", (long long)m, t1 - t0, t2 - t1,
         (t1 - t0) / (t2 - t1));
  free(X); free(i1); free(i2); free(i3); free(r1); free(r2);
  return tc_test_report();
}
