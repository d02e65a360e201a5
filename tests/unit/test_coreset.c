/* test_coreset.c - greedy coreset (DESIGN 3.5): hand cases, the numpy
 * fixture, covering radius never increasing, and plain == triangle ==
 * sketch == a straightforward loop on 100k random points; the sketch filter
 * on hostile layouts (ties, duplicates, far-off means, clamped outliers). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bank_fixture.h"
#include "check.h"
#include "coreset.h"
#include "log.h"
#include "rng.h"
#include "sketch.h"

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

/* Covering radius^2 of sel [m] over X [n x dim], float32 brute force. */
static double radius2_(const float *X, int64_t n, int dim, const int64_t *sel, int64_t m) {
  double r = 0;
  for (int64_t i = 0; i < n; i++) {
    float b = INFINITY;
    for (int64_t t = 0; t < m; t++) {
      float d = tc_coreset_d2(X + i * dim, X + sel[t] * dim, dim);
      if (d < b) b = d;
    }
    if (b > r) r = b;
  }
  return r;
}

/* issue 17: the modes that read less (coreset.h) */
static void test_modes_(void) {
  TcCoresetMode md = {TC_CORESET_F32, 1, 4, 1.0, 0};
  /* names round-trip; unknown names are usage errors */
  const char *names[] = {"exact", "bf16", "int8", "tworound", "tworound-bf16", "tworound-int8"};
  for (int k = 0; k < 6; k++) {
    CHECK(tc_coreset_mode_parse(names[k], &md) == TC_OK);
    CHECK(!strcmp(tc_coreset_mode_name(&md), names[k]));
  }
  CHECK(tc_coreset_mode_parse("fp8", &md) == TC_ERR_USAGE);
  tc_err_clear();

  /* bf16: nearest, ties to even (1 + 2^-8 is halfway between 1 and 1 + 2^-7) */
  float bx[5] = {1.0f, 1.00390625f, 1.01171875f, -2.0f, 0.0f};
  uint16_t bh[5];
  tc_coreset_encode(TC_CORESET_BF16, bx, 1, 5, 1.0f, bh);
  CHECK_INT(bh[0], 0x3f80); CHECK_INT(bh[1], 0x3f80); CHECK_INT(bh[2], 0x3f82);
  CHECK_INT(bh[3], 0xc000); CHECK_INT(bh[4], 0x0000);
  CHECK_INT(tc_coreset_row_bytes(TC_CORESET_BF16, 128), 256);
  CHECK_INT(tc_coreset_row_bytes(TC_CORESET_I8, 128), 128);

  /* int8: qmax keeps dim * (2 qmax)^2 below 2^24 */
  CHECK_INT(tc_coreset_i8_qmax(128), 127);
  CHECK_INT(tc_coreset_i8_qmax(1024), 63);
  CHECK_INT(tc_coreset_i8_qmax(4096), 31);
  /* scale 2/127: 1 -> 63.5 -> 64 (ties to even), -2 -> -127, 0.26 -> 16.51 -> 17, 5 clamps */
  float ix[5] = {0.0f, 1.0f, -2.0f, 0.26f, 5.0f};
  int8_t iq[5];
  CHECK(tc_coreset_maxabs(ix, 1, 4) == 2.0f);
  tc_coreset_encode(TC_CORESET_I8, ix, 1, 5, 2.0f / 127, iq);
  CHECK_INT(iq[0], 0); CHECK_INT(iq[1], 64); CHECK_INT(iq[2], -127); CHECK_INT(iq[3], 17); CHECK_INT(iq[4], 127);

  /* the line 0 1 2 3 10 in every precision: bf16 holds small integers
   * exactly; int8 (scale 10/127) gives 0 13 25 38 127, whose ties (1 and 2
   * both at 13 after {0, 10, 3}) again go to the lowest index */
  float line[5] = {0, 1, 2, 3, 10};
  int64_t idx[8], got = 0;
  for (int k = 0; k < 3; k++) {
    CHECK(tc_coreset_mode_parse(names[k], &md) == TC_OK);
    CHECK(tc_coreset_select_mode(line, 5, 1, 5, 0, &md, idx, &got) == TC_OK);
    CHECK_INT(got, 5);
    CHECK_INT(idx[0], 0); CHECK_INT(idx[1], 4); CHECK_INT(idx[2], 3); CHECK_INT(idx[3], 1); CHECK_INT(idx[4], 2);
  }

  /* two-round on 0..7, shard 4 -> 2 interleaved shards {0,2,4,6}, {1,3,5,7}.
   * m = 2, oversample 1: one pick per shard after the first point 0: 6 and 7;
   * union (shard, ordinal) = [0, 6, 7]; round 2 from 0 picks 7. */
  float l8[8] = {0, 1, 2, 3, 4, 5, 6, 7};
  md.prec = TC_CORESET_F32; md.rounds = 2; md.shard = 4; md.oversample = 1.0;
  CHECK_INT(tc_coreset_nshards(8, 4), 2);
  CHECK_INT(tc_coreset_nshards(9, 4), 3);
  CHECK_INT(tc_coreset_shard_k(8, 2, 4, 1.0), 1);
  CHECK_INT(tc_coreset_shard_k(8, 3, 4, 1.0), 2);
  CHECK_INT(tc_coreset_shard_k(8, 3, 4, 9.0), 4);
  CHECK(tc_coreset_select_mode(l8, 8, 1, 2, 0, &md, idx, &got) == TC_OK);
  CHECK_INT(got, 2); CHECK_INT(idx[0], 0); CHECK_INT(idx[1], 7);
  /* m = 3: two picks per shard: {6, 2} (2 and 4 tie at 2 -> lower) and
   * {7, 3} (3 is 3 from 0, 5 is 2 from 7); union [0, 2, 6, 3, 7]; round 2:
   * 7, then 3 (3 from 0 and 4 from 7) -> 0 7 3, as the exact loop */
  CHECK(tc_coreset_select_mode(l8, 8, 1, 3, 0, &md, idx, &got) == TC_OK);
  CHECK_INT(got, 3); CHECK_INT(idx[0], 0); CHECK_INT(idx[1], 7); CHECK_INT(idx[2], 3);
  /* first in the second shard: 5; picks from 5: shard 0 -> 0 (5 away), shard
   * 1 -> 1 (4 away); union [0, 1, 5]: round 2 from 5 picks 0 */
  CHECK(tc_coreset_select_mode(l8, 8, 1, 2, 5, &md, idx, &got) == TC_OK);
  CHECK_INT(got, 2); CHECK_INT(idx[0], 5); CHECK_INT(idx[1], 0);
  /* all duplicates: the union shrinks to what is distinct per shard */
  float d8[8] = {3, 3, 3, 3, 3, 3, 3, 3};
  CHECK(tc_coreset_select_mode(d8, 8, 1, 4, 2, &md, idx, &got) == TC_OK);
  CHECK(got >= 1 && got <= 4);
  CHECK_INT(idx[0], 2);

  /* clustered 20k x 32: exact mode == tc_coreset_select; the narrow and the
   * two-round radii stay close to exact's (measured, not a theorem: the
   * bound for two rounds is 2x the round-1 radius plus round 2's) */
  const int64_t n = 20000, m = 200;
  const int dim = 32;
  float *X = malloc(sizeof(float) * n * dim);
  for (int64_t i = 0; i < n; i++) {
    int64_t cl = tc_rng_index(11, 7, i, 30);
    for (int c = 0; c < dim; c++)
      X[i * dim + c] = (float)(tc_rng_uniform(11, 8, cl * dim + c) * 10 + tc_rng_uniform(11, 9, i * dim + c) - 0.5);
  }
  int64_t *ref = malloc(sizeof(int64_t) * m), *sel = malloc(sizeof(int64_t) * m);
  int64_t first = tc_coreset_first(0, n);
  CHECK(tc_coreset_select(X, n, dim, m, first, 0, ref, NULL) == TC_OK);
  md.prec = TC_CORESET_F32; md.rounds = 1;
  CHECK(tc_coreset_select_mode(X, n, dim, m, first, &md, sel, &got) == TC_OK);
  CHECK_MSG(got == m && !memcmp(sel, ref, sizeof(int64_t) * m), "exact mode != tc_coreset_select");
  const double r_exact = sqrt(radius2_(X, n, dim, ref, m));
  for (int k = 1; k < 6; k++) {
    CHECK(tc_coreset_mode_parse(names[k], &md) == TC_OK);
    md.shard = 2000;
    md.oversample = 2.0;
    md.pruned = 0;
    CHECK(tc_coreset_select_mode(X, n, dim, m, first, &md, sel, &got) == TC_OK);
    CHECK_INT(got, m);
    CHECK_INT(sel[0], first);
    /* the triangle test skips points, never changes a minimum */
    int64_t *sp = malloc(sizeof(int64_t) * m), gp = 0;
    md.pruned = 1;
    CHECK(tc_coreset_select_mode(X, n, dim, m, first, &md, sp, &gp) == TC_OK);
    CHECK_MSG(gp == got && !memcmp(sp, sel, sizeof(int64_t) * m), "%s: pruned != plain", names[k]);
    free(sp);
    double r = sqrt(radius2_(X, n, dim, sel, got));
    CHECK_MSG(r <= 1.25 * r_exact, "%s radius %.4g vs exact %.4g", names[k], r, r_exact);
    printf("mode %-14s radius %.4f (exact %.4f, ratio %.3f)\n", names[k], r, r_exact, r / r_exact);
  }
  free(X); free(ref); free(sel);
}

/* fit --tail-coreset per-image: every group's own greedy, then the picks of
 * largest d2 over all groups. Hand case whose answer does not depend on the
 * seeded first points: three groups of two points, so each group's second
 * pick is its other point, at d2 100 (group 0: 0 and 10), 1 (group 1: 100,
 * 101) and 25 (group 2: 200, 205). The three firsts (+inf) come first in
 * group order, then group 0's second, then group 2's, then group 1's. */
static void test_groups_(void) {
  float X[6] = {0, 10, 100, 101, 200, 205};
  int64_t first[3], other[3], idx[6];
  for (int g = 0; g < 3; g++) {
    first[g] = 2 * g + tc_rng_index(5, TC_RNG_STREAM_CORESET, TC_CORESET_GROUP_COUNTER + (uint64_t)g, 2);
    other[g] = 2 * g + 1 - (first[g] - 2 * g);
  }
  const int64_t want[6] = {first[0], first[1], first[2], other[0], other[2], other[1]};
  const char *names[] = {"exact", "int8", "bf16"};
  for (int k = 0; k < 3; k++)
    for (int pr = 0; pr < 2; pr++)
      for (int64_t m = 3; m <= 6; m++) {
        TcCoresetMode md = {TC_CORESET_F32, 1, 1, 2.0, pr};
        CHECK(tc_coreset_mode_parse(names[k], &md) == TC_OK);
        memset(idx, 0xff, sizeof idx);
        CHECK(tc_coreset_select_groups(X, 6, 2, 1, m, &md, 5, TC_CORESET_GROUP_COUNTER, idx) == TC_OK);
        CHECK_MSG(!memcmp(idx, want, sizeof(int64_t) * (size_t)m), "per-group %s pruned=%d m=%lld", names[k], pr,
                  (long long)m);
      }
  /* picks per group: the whole group unless m is smaller */
  CHECK_INT(tc_coreset_group_k(3, 2), 2);
  CHECK_INT(tc_coreset_group_k(1, 2), 1);
  CHECK_INT(tc_coreset_group_k(120736, 6272), 6272);
  /* m = 1: group 0's first */
  TcCoresetMode md = {TC_CORESET_F32, 1, 1, 1.0, 0};
  CHECK(tc_coreset_select_groups(X, 6, 2, 1, 1, &md, 5, TC_CORESET_GROUP_COUNTER, idx) == TC_OK);
  CHECK_INT(idx[0], want[0]);
  /* points that are not whole groups are refused */
  CHECK(tc_coreset_select_groups(X, 5, 2, 1, 3, &md, 5, 0, idx) == TC_ERR_INTERNAL);
  tc_err_clear();
}

/* The sketch filter must give the plain loop's indices and minima on layouts
 * that stress its bound: exact ties on an integer grid, duplicates, a mean
 * far from 0 (cancellation), odd dims, a zero-variance set, and more points
 * than the basis sample with an outlier outside it (clamped codes). */
static void sketch_case_(const char *what, const float *X, int64_t n, int dim, int64_t m) {
  int64_t *a = malloc(sizeof(int64_t) * m), *b = malloc(sizeof(int64_t) * m);
  float *ra = malloc(sizeof(float) * m), *rb = malloc(sizeof(float) * m);
  const int64_t first = tc_coreset_first(11, n);
  CHECK(tc_coreset_select(X, n, dim, m, first, TC_CORESET_PLAIN, a, ra) == TC_OK);
  CHECK(tc_coreset_select(X, n, dim, m, first, TC_CORESET_SKETCH, b, rb) == TC_OK);
  CHECK_MSG(!memcmp(a, b, sizeof(int64_t) * m), "sketch != plain: %s", what);
  CHECK_MSG(!memcmp(ra, rb, sizeof(float) * m), "sketch radius != plain: %s", what);
  free(a); free(b); free(ra); free(rb);
}

static void test_sketch_(void) {
  const int64_t n = 20000;
  float *X = malloc(sizeof(float) * n * 64);
  /* integer grid in 5 dims, values 0..3: thousands of exact ties and duplicates */
  for (int64_t i = 0; i < n * 5; i++) X[i] = (float)tc_rng_index(21, 1, (uint64_t)i, 4);
  sketch_case_("integer grid, dim 5", X, n, 5, 2000);
  /* 33 dims around 1e4 with noise 1e-2: d2 ~ 1e-3 next to |x|^2 ~ 3e9 */
  for (int64_t i = 0; i < n; i++) {
    const int64_t cl = tc_rng_index(21, 2, (uint64_t)i, 7);
    for (int c = 0; c < 33; c++)
      X[i * 33 + c] = (float)(1e4 + cl + 1e-2 * tc_rng_uniform(21, 3, (uint64_t)(i * 33 + c)));
  }
  sketch_case_("mean 1e4, noise 1e-2, dim 33", X, n, 33, 3000);
  /* the same with an outlier at an odd index: not in the basis sample (every
   * 2nd point), so its codes clamp */
  for (int c = 0; c < 33; c++) X[12345 * 33 + c] = 1e6f;
  sketch_case_("clamped outlier", X, n, 33, 500);
  /* 48 and 64 dims: sketches of 16-multiples, the eight-point AVX2 filter
   * (ties on a grid; a far-off mean with clustered noise) */
  for (int64_t i = 0; i < n * 48; i++) X[i] = (float)tc_rng_index(21, 5, (uint64_t)i, 3);
  sketch_case_("integer grid, dim 48", X, n, 48, 1500);
  for (int64_t i = 0; i < n; i++) {
    const int64_t cl = tc_rng_index(21, 6, (uint64_t)i, 40);
    for (int c = 0; c < 64; c++)
      X[i * 64 + c] = (float)(-3e3 + tc_rng_uniform(21, 7, (uint64_t)(cl * 64 + c)) +
                              0.05 * tc_rng_uniform(21, 8, (uint64_t)(i * 64 + c)));
  }
  sketch_case_("40 clusters at -3e3, dim 64", X, n, 64, 2000);
  sketch_case_("40 clusters, 8191 points (a partial block of 8)", X, 8191, 64, 800);
  {
    /* and the filter does skip: after 200 steps far fewer than all distances */
    TcCoreset *st = NULL;
    CHECK(tc_coreset_create(X, n, 64, TC_CORESET_SKETCH, &st) == TC_OK);
    int64_t b = 0;
    float bv;
    for (int k = 0; k < 200; k++) CHECK(tc_coreset_step(st, X + b * 64, &b, &bv) == TC_OK);
    const double frac = (double)tc_coreset_evaluated(st) / (200.0 * (double)n);
    CHECK_MSG(frac < 0.5, "sketch evaluated %.3f of the distances", frac);
    printf("sketch, 40 clusters, 200 steps: %.1f%% of the distances computed\n", 100 * frac);
    tc_coreset_destroy(&st);
  }
  /* every point equal: zero variance, minima all 0 after the first step */
  for (int64_t i = 0; i < n * 3; i++) X[i] = 2.5f;
  sketch_case_("all equal, dim 3", X, n, 3, 10);
  /* one dimension, one point */
  X[0] = 1.0f;
  sketch_case_("one point", X, 1, 1, 1);
  /* the sketch of a small set (below TC_CORESET_SKETCH_MIN_N) when asked for */
  for (int64_t i = 0; i < 300 * 17; i++) X[i] = (float)tc_rng_uniform(21, 4, (uint64_t)i);
  sketch_case_("300 points, dim 17", X, 300, 17, 300);
  /* the bound itself: for random pairs, scale sqrt(Q) - resid_x - resid_c <= |x - c| */
  TcSketch sk;
  CHECK(tc_sketch_build(X, 300, 17, &sk) == TC_OK);
  CHECK(sk.R >= 1 && sk.R <= 17);
  int8_t cq[17];
  int bad = 0;
  for (int64_t i = 0; i < 300; i += 7)
    for (int64_t j = 0; j < 300; j += 5) {
      float u;
      tc_sketch_centre(&sk, X + j * 17, cq, &u);
      const double lb = sk.scale * sqrt((double)tc_i8_d2(sk.code + i * sk.R, cq, sk.R)) - sk.resid[i] - u * sk.scale;
      if (lb > sqrt((double)tc_coreset_d2(X + i * 17, X + j * 17, 17)) * (1 + 1e-6)) bad++;
    }
  CHECK_INT(bad, 0);
  tc_sketch_free(&sk);
  free(X);
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
  for (int pr = 0; pr <= TC_CORESET_SKETCH; pr++) {
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
  for (int pr = 0; pr <= TC_CORESET_SKETCH; pr++) {
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
    for (int pr = 0; pr <= TC_CORESET_SKETCH; pr++) {
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
          *i3 = malloc(sizeof(int64_t) * m), *i4 = malloc(sizeof(int64_t) * m);
  float *r1 = malloc(sizeof(float) * m), *r2 = malloc(sizeof(float) * m), *r4 = malloc(sizeof(float) * m);
  int64_t first = tc_coreset_first(0, n);
  double t0 = tc_now();
  CHECK(tc_coreset_select(X, n, dim, m, first, TC_CORESET_PLAIN, i1, r1) == TC_OK);
  double t1 = tc_now();
  CHECK(tc_coreset_select(X, n, dim, m, first, TC_CORESET_TRIANGLE, i2, r2) == TC_OK);
  double t2 = tc_now();
  CHECK(tc_coreset_select(X, n, dim, m, first, TC_CORESET_SKETCH, i4, r4) == TC_OK);
  double t3 = tc_now();
  straight_(X, n, dim, m, first, i3);
  CHECK_MSG(!memcmp(i1, i2, sizeof(int64_t) * m), "plain != triangle");
  CHECK_MSG(!memcmp(i1, i4, sizeof(int64_t) * m), "plain != sketch");
  CHECK_MSG(!memcmp(i1, i3, sizeof(int64_t) * m), "plain != straightforward");
  CHECK_MSG(!memcmp(r1, r2, sizeof(float) * m), "radius plain != triangle");
  CHECK_MSG(!memcmp(r1, r4, sizeof(float) * m), "radius plain != sketch");
  int incr = 0;
  for (int64_t t = 1; t < m; t++)
    if (r1[t] > r1[t - 1]) incr++;
  CHECK_INT(incr, 0);
  /* the radius is the argmax value: the next selected point's minimum */
  printf("100k x 128, m=%lld: plain %.2fs, triangle %.2fs (%.1fx), sketch %.2fs (%.1fx)\n", (long long)m, t1 - t0,
         t2 - t1, (t1 - t0) / (t2 - t1), t3 - t2, (t1 - t0) / (t3 - t2));
  free(i4); free(r4);
  free(X); free(i1); free(i2); free(i3); free(r1); free(r2);
  test_groups_();
  test_modes_();
  test_sketch_();
  return tc_test_report();
}
