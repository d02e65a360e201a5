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
  test_groups_();
  test_modes_();
  return tc_test_report();
}
