/* test_tailsampler.c - pins every rule of DESIGN 3.6 steps 1-7 on
 * hand-computed tiny cases, checks that the fixed-point Gram is exact
 * whatever the summation order, and compares tc_tail_run exactly with the
 * NumPy reference fixtures (tests/golden/tailsampler_*.h5, made by
 * tests/golden/tailsampler_ref.py).
 *
 * Extra mode (no tests, for tests/mpi/test_tailsample.sh and the bench):
 *   test_tailsampler --write-features PATH N E SEED [NAN_ROW]
 * writes a features file (kind "features", /embeddings, /paths) of
 * synthetic clustered embeddings and PATH.labels for --labels (E = 0: no
 * /embeddings, a bad input; NAN_ROW: that image's embedding gets a NaN);
 *   test_tailsampler --dump-tail FILE tail|expected
 * prints the results of a tail file or a golden fixture as text. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "h5fmt.h"
#include "blas.h"
#include "tailsampler.h"
#include "transpose.h"

/* ---- hand-computed rules ---------------------------------------------- */

static float thr_(const float *row, int64_t N, double p) {
  int32_t hist[64] = {0};
  float t = tc_tail_row_threshold(row, N, p, hist);
  int clean = 1;
  for (int i = 0; i < 64; i++) clean = clean && hist[i] == 0;
  CHECK_MSG(clean, "histogram not left zeroed");
  return t;
}

static void test_threshold_(void) {
  /* q = [1, .75, .75, 0]; m = 0, th_half = .7071; H = [.75, .75, 1];
   * floor(3 * .85) = 2 -> H[1] = .75; raw S >= .75: 1, .9, .8 */
  float r1[4] = {1.0f, 0.9f, 0.8f, 0.2f};
  CHECK(thr_(r1, 4, 0.85) == 0.75f);
  float th;
  int64_t cnt;
  CHECK_INT(tc_tail_threshold_rows(r1, 1, 4, 4, 0.85, &th, &cnt), TC_OK);
  CHECK(th == 0.75f);
  CHECK_INT(cnt, 3);

  /* truncation toward zero: -0.95 * 4 = -3.8 -> -3 (m = -.75, th_half =
   * .354, H = [1], floor(.85) = 0 -> H[0] = 1). Flooring would give m = -1,
   * th_half = 0, H = [.25, .25, 1] and th = .25. */
  float r2[4] = {1.0f, 0.3f, 0.3f, -0.95f};
  CHECK(thr_(r2, 4, 0.85) == 1.0f);
  CHECK_INT(tc_tail_threshold_rows(r2, 1, 4, 4, 0.85, &th, &cnt), TC_OK);
  CHECK_INT(cnt, 1);

  /* the product N * s is float32: 10 * 0.7f = 6.99999988 rounds to 7.0f,
   * so the key is 7, not 6. m = -1 -> th_half = 0; H = [.7 x8, 1];
   * floor(9 * .85) = 7 -> H[2] = 0.7f */
  float r3[10] = {1.0f, 0.7f, 0.7f, 0.7f, 0.7f, 0.7f, 0.7f, 0.7f, 0.7f, -1.0f};
  CHECK(thr_(r3, 10, 0.85) == 0.7f);
  CHECK_INT(tc_tail_threshold_rows(r3, 1, 10, 10, 0.85, &th, &cnt), TC_OK);
  CHECK_INT(cnt, 9);

  /* floor(len * p) = 0 with len > 1: p = 0.1, len 9 -> H[0] = 0.7f */
  CHECK(thr_(r3, 10, 0.1) == 0.7f);
  /* p = 1: floor(len) = len -> H[0]; p = 0 -> H[0] */
  CHECK(thr_(r3, 10, 1.0) == 0.7f);
  CHECK(thr_(r3, 10, 0.0) == 0.7f);
  /* len 2: floor(1.7) = 1 -> H[1] */
  float r4[3] = {1.0f, 0.95f, -1.0f}; /* keys 3, 2 (2.85), -3 -> H = [.6667, 1] */
  CHECK(thr_(r4, 3, 0.85) == 1.0f);
  /* empty H: every q is 1, th_half = 1, nothing is > 1 -> th = th_half = 1 */
  float r5[3] = {1.0f, 1.0f, 1.0f};
  CHECK(thr_(r5, 3, 0.85) == 1.0f);
  CHECK_INT(tc_tail_threshold_rows(r5, 1, 3, 3, 0.85, &th, &cnt), TC_OK);
  CHECK_INT(cnt, 3);
  /* N = 1: the row is [1]: m = 1, H empty, th = 1, count 1 */
  float r6[1] = {1.0f};
  CHECK(thr_(r6, 1, 0.85) == 1.0f);
  /* strictly greater than th_half: m = 0 -> th_half = sqrt(.5) = .70710677f;
   * with N = 2, q can only be 0, .5, 1; H = [1] */
  float r7[2] = {1.0f, 0.0f};
  CHECK(thr_(r7, 2, 0.85) == 1.0f);
  /* two rows at once with a leading dimension larger than N */
  float rr[2 * 5] = {1.0f, 0.9f, 0.8f, 0.2f, 99.0f, 1.0f, 0.3f, 0.3f, -0.95f, 99.0f};
  float th2[2];
  int64_t c2[2];
  CHECK_INT(tc_tail_threshold_rows(rr, 2, 4, 5, 0.85, th2, c2), TC_OK);
  CHECK(th2[0] == 0.75f && th2[1] == 1.0f);
  CHECK_INT(c2[0], 3);
  CHECK_INT(c2[1], 1);
}

static void test_vote_(void) {
  /* row j = S_j.; i sees j when S_ji >= th_i */
  float row[4] = {1.0f, 0.9f, 0.9f, 0.9f};
  float th[4] = {0.5f, 0.5f, 0.5f, 0.95f};
  int64_t c1[4] = {3, 2, 3, 2}, k;
  CHECK_INT(tc_tail_vote_rows(row, 1, 4, 4, th, c1, &k), TC_OK);
  CHECK_INT(k, 3); /* votes 3, 2, 3 (i = 3 does not see j) */
  float th_all[4] = {0.5f, 0.5f, 0.5f, 0.5f};
  int64_t c2[4] = {3, 2, 2, 3};
  CHECK_INT(tc_tail_vote_rows(row, 1, 4, 4, th_all, c2, &k), TC_OK);
  CHECK_INT(k, 2); /* 2 and 3 tie twice each: the smallest wins */
  int64_t c3[4] = {4, 3, 4, 3};
  CHECK_INT(tc_tail_vote_rows(row, 1, 4, 4, th_all, c3, &k), TC_OK);
  CHECK_INT(k, 3); /* the larger value is seen first, still the smaller wins */
  /* the threshold compares raw S with >=: exactly equal counts */
  float th_eq[4] = {1.0f, 0.9f, 0.9f, 0.9f};
  int64_t c4[4] = {4, 1, 1, 4};
  CHECK_INT(tc_tail_vote_rows(row, 1, 4, 4, th_eq, c4, &k), TC_OK);
  CHECK_INT(k, 1); /* all four vote (S == th counts): 4, 1, 1, 4 -> tie -> 1 */
  /* a count outside [0, N] is reported, not used as an index */
  int64_t c5[4] = {9, 1, 1, 1};
  CHECK(tc_tail_vote_rows(row, 1, 4, 4, th_all, c5, &k) == TC_ERR_INTERNAL);
  tc_err_clear();
}

static void card_(const int64_t *kappa, int64_t N, const int64_t *want, int64_t nwant, int line) {
  int64_t *eta = NULL, n = 0;
  CHECK_INT(tc_tail_cardinalities(kappa, N, &eta, &n), TC_OK);
  int ok = n == nwant;
  for (int64_t i = 0; ok && i < n; i++) ok = eta[i] == want[i];
  CHECK_MSG(ok, "cardinalities case at line %d: got %lld classes, first %lld", line,
            (long long)n, n ? (long long)eta[0] : -1LL);
  free(eta);
}
#define CARD(k, w) card_(k, (int64_t)(sizeof k / sizeof k[0]), w, (int64_t)(sizeof w / sizeof w[0]), __LINE__)

static void test_cardinalities_(void) {
  int64_t k1[] = {3, 2, 1, 3, 2, 3}, w1[] = {3, 2, 1}; /* sorted 1 2 2 3 3 3 */
  CARD(k1, w1);
  /* mean 3.5 -> 4 (half to even), capped at the 3 remaining */
  int64_t k2[] = {2, 2, 2, 5, 5}, w2[] = {3, 2};
  CARD(k2, w2);
  /* leftover: 2 values remain for g = 4: added to the last class (3 + 2) */
  int64_t k3[] = {3, 3, 3, 4, 4}, w3[] = {5};
  CARD(k3, w3);
  /* leftover with no class found yet: one class of all */
  int64_t k4[] = {4, 4, 4}, w4[] = {3};
  CARD(k4, w4);
  /* half to even: mean(2, 3) = 2.5 -> 2 (half-up would give 3, then a leftover) */
  int64_t k5[] = {2, 3, 3, 3, 3}, w5[] = {3, 2};
  CARD(k5, w5);
  /* values below 1 become 1 */
  int64_t k6[] = {0, 2, 0, 2}, w6[] = {2, 1, 1};
  CARD(k6, w6);
  /* single image */
  int64_t k7[] = {1}, w7[] = {1};
  CARD(k7, w7);
  /* everything one class */
  int64_t k8[] = {4, 4, 4, 4}, w8[] = {4};
  CARD(k8, w8);
  /* g = 1 -> class of 1; then g = 9 with 2 left: they join it (1 + 2) */
  int64_t k9[] = {1, 9, 9}, w9[] = {3};
  CARD(k9, w9);
}

static void kmax_(const int64_t *eta, int64_t n, int64_t we, int64_t wc, int line) {
  int64_t ke, kc, km;
  double dist[16];
  tc_tail_kmax(eta, n, &ke, &kc, &km, dist);
  CHECK_MSG(ke == we && kc == wc && km == (we < wc ? we : wc),
            "kmax case at line %d: elbow %lld cap %lld max %lld (want %lld %lld)", line,
            (long long)ke, (long long)kc, (long long)km, (long long)we, (long long)wc);
}
#define KMAX(e, we, wc) kmax_(e, (int64_t)(sizeof e / sizeof e[0]), we, wc, __LINE__)

static void test_kmax_(void) {
  /* line (0,10)-(3,1): numerators 0, 12, 6, 0 -> elbow at t = 1 (3);
   * n15 = floor(2.4) = 2: ascending sums 1 (<= 2), 3 -> k = 1 -> eta[3] = 1 */
  int64_t e1[] = {10, 3, 2, 1};
  KMAX(e1, 3, 1);
  /* single point: elbow eta_0; n15 = 1 < 7 -> k = 0 -> index min(1, 0) */
  int64_t e2[] = {7};
  KMAX(e2, 7, 7);
  /* flat line: every distance 0 -> eta_0 */
  int64_t e3[] = {4, 4, 4};
  KMAX(e3, 4, 4);
  /* straight sloped line: all distances 0 -> eta_0; cap n15 = floor(2.4) = 2:
   * 1 <= 2, 1 + 3 > 2 -> k = 1 -> eta[3] = 1 */
  int64_t e4[] = {7, 5, 3, 1};
  KMAX(e4, 7, 1);
  /* tie of the two largest distances (numerators 5 and 5): the first wins;
   * cap: n15 = 3: sums 1, 3 (<= 3), 11 -> k = 2 -> eta[2] = 2 */
  int64_t e5[] = {9, 8, 2, 1};
  KMAX(e5, 8, 2);
  /* cap with k = 3: total 65, n15 = 9; sums 1, 3, 6 (<= 9), 10 -> eta[6-3] = 3;
   * elbow: dx 5, dy -49, numerators |-49 t - 5 (e_t - 50)|: t=1 -> 176 */
  int64_t e6[] = {50, 5, 4, 3, 2, 1};
  KMAX(e6, 5, 3);
  /* two points: distances 0 -> eta_0 = 6; total 8, n15 = 1: 2 > 1 -> k = 0
   * -> index min(2, 1) = 1 -> 2 */
  int64_t e7[] = {6, 2};
  KMAX(e7, 6, 2);
  double dist[4];
  int64_t ke, kc, km;
  tc_tail_kmax(e1, 4, &ke, &kc, &km, dist);
  CHECK_NEAR(dist[1], 12.0 / sqrt(90.0), 1e-12);
  CHECK_NEAR(dist[0], 0.0, 1e-12);
}

/* ---- options beyond DESIGN 3.6: K_max rules and centring -------------- */

static void cut_(const int64_t *eta, int64_t n, int64_t want_cap, int64_t want_elbow, int64_t want_gap,
                 int line) {
  int64_t ke, kc, km;
  tc_tail_kmax(eta, n, &ke, &kc, &km, NULL);
  int64_t c = tc_tail_kmax_rule(TC_TAIL_CUT_CAP, eta, n, ke, kc);
  int64_t e = tc_tail_kmax_rule(TC_TAIL_CUT_ELBOW, eta, n, ke, kc);
  int64_t g = tc_tail_kmax_rule(TC_TAIL_CUT_GAP, eta, n, ke, kc);
  CHECK_MSG(c == want_cap && c == km && e == want_elbow && g == want_gap,
            "cut case at line %d: cap %lld elbow %lld gap %lld (want %lld %lld %lld)", line, (long long)c,
            (long long)e, (long long)g, (long long)want_cap, (long long)want_elbow, (long long)want_gap);
}
#define CUT(e, wc, we, wg) cut_(e, (int64_t)(sizeof e / sizeof e[0]), wc, we, wg, __LINE__)

static void test_cut_rules_(void) {
  /* pareto-like: elbow dx 7, dy -65, numerators |-65 t - 7 (e_t - 70)| =
   * 0 131 171 190 160 116 65 0 -> t = 3 (15); cap: total 181, n15 = 27,
   * ascending sums 5 10 17 27 (<= 27) 37 -> k = 4 -> eta[4] = 10; gap:
   * ratios 70/42 42/27 27/15 15/10 10/7 7/5 5/5, largest 27/15 = 1.8 >= 1.5
   * -> 15. The paper's cap keeps the class of 15 out of the tail. */
  int64_t p1[] = {70, 42, 27, 15, 10, 7, 5, 5};
  CUT(p1, 10, 15, 15);
  /* no clear break: ratios 10/9 9/8 8/7, largest 8/7 < 3/2 -> the paper's
   * rule; elbow: every point on the line -> eta_0 = 10; cap: total 34,
   * n15 = 5 < 7 -> k = 0 -> eta[min(4, 3)] = 7 */
  int64_t p2[] = {10, 9, 8, 7};
  CUT(p2, 7, 10, 7);
  /* step: the drop after the head classes, 50/5 = 10 -> 5 */
  int64_t p3[] = {50, 5, 4, 3, 2, 1};
  CUT(p3, 3, 5, 5);
  /* equal ratios 2, 2, 2: the first wins -> 4 */
  int64_t p4[] = {8, 4, 2, 1};
  int64_t ke, kc, km;
  tc_tail_kmax(p4, 4, &ke, &kc, &km, NULL);
  CHECK_INT(tc_tail_kmax_rule(TC_TAIL_CUT_GAP, p4, 4, ke, kc), 4);
  /* exactly 3/2 counts as a break (2 * 9 >= 3 * 6) -> 6 */
  int64_t p5[] = {9, 6, 5};
  tc_tail_kmax(p5, 3, &ke, &kc, &km, NULL);
  CHECK_INT(tc_tail_kmax_rule(TC_TAIL_CUT_GAP, p5, 3, ke, kc), 6);
  /* one class: no ratio -> the paper's rule (7) */
  int64_t p6[] = {7};
  CUT(p6, 7, 7, 7);
  /* flat: ratio 1 -> paper (4) */
  int64_t p7[] = {4, 4, 4};
  CUT(p7, 4, 4, 4);
  /* names */
  CHECK_INT(tc_tail_cut_parse("gap"), TC_TAIL_CUT_GAP);
  CHECK_INT(tc_tail_cut_parse("cap"), TC_TAIL_CUT_CAP);
  CHECK_INT(tc_tail_cut_parse("elbow"), TC_TAIL_CUT_ELBOW);
  CHECK_INT(tc_tail_cut_parse("nope"), -1);
  CHECK(!strcmp(tc_tail_cut_name(TC_TAIL_CUT_GAP), "gap"));
  CHECK_INT(tc_tail_norm_parse("center"), TC_TAIL_NORM_CENTER);
  CHECK_INT(tc_tail_norm_parse("whiten"), -1);
  /* auto rules: mobilenetv2 p = 1 and gap, anything else the paper's */
  double p;
  int c;
  tc_tail_default_rules("mobilenetv2", &p, &c);
  CHECK(p == 1.0 && c == TC_TAIL_CUT_GAP);
  tc_tail_default_rules("wrn50", &p, &c);
  CHECK(p == 0.85 && c == TC_TAIL_CUT_CAP);
  tc_tail_default_rules(NULL, &p, &c);
  CHECK(p == 0.85 && c == TC_TAIL_CUT_CAP);
}

static void test_center_(void) {
  /* rows (3,4), (4,3), (0,5): normalised (.6,.8), (.8,.6), (0,1); on the
   * 2^-20 grid 0.6 -> rint(629145.6) = 629146, 0.8 -> rint(838860.8) =
   * 838861, 1 -> 1048576. Sums: 1468007 and 2516583; means 489335.666...
   * and 838861 exactly. */
  float X[3 * 2] = {3, 4, 4, 3, 0, 5}, Y[3 * 2];
  int64_t sum[2] = {0, 0}, part[2] = {0, 0};
  CHECK_INT(tc_tail_center_sums(X, 3, 2, sum), -1);
  CHECK(sum[0] == 1468007 && sum[1] == 2516583);
  /* any split of the rows gives the same integers */
  CHECK_INT(tc_tail_center_sums(X + 4, 1, 2, part), -1);
  CHECK_INT(tc_tail_center_sums(X, 2, 2, part), -1);
  CHECK(part[0] == sum[0] && part[1] == sum[1]);
  tc_tail_center_apply(X, 3, 2, sum, 3, Y);
  CHECK(Y[1] == 0.0f);                                      /* 838861 - 838861 */
  CHECK(Y[3] == (float)(-209715.0 / 1048576.0));            /* 629146 - 838861 */
  CHECK(Y[5] == (float)(209715.0 / 1048576.0));             /* 1048576 - 838861 */
  CHECK(Y[0] == (float)((629146.0 - 1468007.0 / 3.0) / 1048576.0));
  CHECK_NEAR(Y[0], 0.1333333, 1e-6);
  CHECK_NEAR(Y[2], 0.3333333, 1e-6);
  CHECK_NEAR(Y[4], -0.4666667, 1e-6);
  /* row by row equals all at once */
  float Y1[2];
  tc_tail_center_apply(X + 2, 1, 2, sum, 3, Y1);
  CHECK(!memcmp(Y1, Y + 2, sizeof Y1));
  /* a non-finite row is reported, its sums skipped */
  float B[2 * 2] = {1, 0, NAN, 1};
  int64_t bs[2] = {0, 0};
  CHECK_INT(tc_tail_center_sums(B, 2, 2, bs), 1);
  CHECK(bs[0] == 1048576 && bs[1] == 0);
  /* the whole run with centring = the plain run on the centred rows; here
   * the centred rows (0.13,0), (0.33,-0.2), (-0.47,0.2) separate row 2 */
  TcTailResult *a = NULL, *b = NULL;
  CHECK_INT(tc_tail_run_opts(X, 3, 2, 0.85, TC_TAIL_NORM_CENTER, TC_TAIL_CUT_CAP, &a), TC_OK);
  CHECK_INT(tc_tail_run(Y, 3, 2, 0.85, &b), TC_OK);
  if (a && b) {
    CHECK(!memcmp(a->th, b->th, 3 * sizeof(float)));
    CHECK(!memcmp(a->count, b->count, 3 * sizeof(int64_t)));
    CHECK(!memcmp(a->kappa, b->kappa, 3 * sizeof(int64_t)));
    CHECK(a->k_max == b->k_max);
  }
  tc_tail_result_destroy(&a);
  tc_tail_result_destroy(&b);
  /* a NaN embedding is named under centring too */
  CHECK(tc_tail_run_opts(B, 2, 2, 0.85, TC_TAIL_NORM_CENTER, TC_TAIL_CUT_CAP, &a) == TC_ERR_FORMAT);
  tc_err_clear();
  CHECK(tc_tail_run_opts(X, 3, 2, 0.85, 7, TC_TAIL_CUT_CAP, &a) == TC_ERR_USAGE);
  tc_err_clear();
  /* the gap rule through the whole run: the tiny pipeline's eta = [3, 1]
   * has the ratio 3 -> K_max = 1, as the paper's cap there */
  float T[4 * 2] = {2, 0, 1, 0, 5, 0, 0, 3};
  CHECK_INT(tc_tail_run_opts(T, 4, 2, 1.0, TC_TAIL_NORM_NONE, TC_TAIL_CUT_GAP, &a), TC_OK);
  if (a) {
    CHECK_INT(a->cut, TC_TAIL_CUT_GAP);
    CHECK_INT(a->k_max, 1);
    CHECK(!a->is_tail[0] && a->is_tail[3]);
  }
  tc_tail_result_destroy(&a);
}

static void test_pipeline_tiny_(void) {
  /* three identical embeddings and one orthogonal: rows 0-2 have th = 1 and
   * count 3, row 3 th = 1 and count 1; kappa = 3 3 3 1; eta = [3, 1];
   * elbow (2 points) 3; cap: n15 = 0 -> k = 0 -> eta[1] = 1; K_max = 1 */
  float X[4 * 2] = {2, 0, 1, 0, 5, 0, 0, 3};
  TcTailResult *r = NULL;
  CHECK_INT(tc_tail_run(X, 4, 2, 0.85, &r), TC_OK);
  if (!r) return;
  CHECK(r->th[0] == 1.0f && r->th[3] == 1.0f);
  CHECK_INT(r->count[0], 3);
  CHECK_INT(r->count[3], 1);
  CHECK_INT(r->kappa[0], 3);
  CHECK_INT(r->kappa[2], 3);
  CHECK_INT(r->kappa[3], 1);
  CHECK_INT(r->neta, 2);
  CHECK_INT(r->k_elbow, 3);
  CHECK_INT(r->k_cap, 1);
  CHECK_INT(r->k_max, 1);
  CHECK(!r->is_tail[0] && !r->is_tail[1] && !r->is_tail[2] && r->is_tail[3]);
  tc_tail_result_destroy(&r);
  CHECK(r == NULL);
  /* a zero embedding is similar to itself only, and nothing crashes */
  float Z[3 * 2] = {0, 0, 1, 1, 1, 1};
  CHECK_INT(tc_tail_run(Z, 3, 2, 0.85, &r), TC_OK);
  if (r) {
    CHECK_INT(r->kappa[0], 1);
    CHECK_INT(r->kappa[1], 2);
    tc_tail_result_destroy(&r);
  }
  /* N = 1 */
  float one[3] = {0.1f, 0.2f, 0.3f};
  CHECK_INT(tc_tail_run(one, 1, 3, 0.85, &r), TC_OK);
  if (r) {
    CHECK_INT(r->kappa[0], 1);
    CHECK_INT(r->k_max, 1);
    CHECK_INT(r->is_tail[0], 1);
    tc_tail_result_destroy(&r);
  }
  /* bad arguments are errors, not crashes */
  CHECK(tc_tail_run(one, 1, 3, 1.5, &r) == TC_ERR_USAGE);
  tc_err_clear();
}

/* ---- the fixed-point Gram is exact in any order --------------------- */

static uint64_t rng_state_;
static uint64_t rng_next_(void) {
  uint64_t z = (rng_state_ += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}
static double rng_unif_(void) { return ((double)(rng_next_() >> 11) + 0.5) / 9007199254740992.0; }
static double rng_normal_(void) {
  return sqrt(-2.0 * log(rng_unif_())) * cos(6.283185307179586 * rng_unif_());
}

/* tc_transpose_f32 (the Gram mirror): every shape around the 8 x 8 and
 * 32 x 32 tiles, inside larger leading dimensions, against index arithmetic */
static void test_transpose_(void) {
  const int sizes[] = {1, 3, 8, 9, 31, 32, 33, 40, 67};
  int ok = 1;
  float *src = malloc(sizeof(float) * 80 * 90), *dst = malloc(sizeof(float) * 80 * 90);
  for (int a = 0; a < 9; a++)
    for (int b = 0; b < 9; b++) {
      int rows = sizes[a], cols = sizes[b], lds = cols + 5, ldd = rows + 3;
      for (int i = 0; i < 80 * 90; i++) src[i] = (float)i, dst[i] = -1.0f;
      tc_transpose_f32(src, lds, dst, ldd, rows, cols);
      for (int c = 0; c < cols; c++) {
        for (int r = 0; r < rows; r++) ok = ok && dst[c * ldd + r] == src[r * lds + c];
        for (int r = rows; r < ldd; r++) ok = ok && dst[c * ldd + r] == -1.0f; /* padding untouched */
      }
    }
  CHECK_MSG(ok, "tc_transpose_f32 differs from the index definition");
  free(src);
  free(dst);
}

static void test_gram_exact_(void) {
  const int N = 37, E = 300;
  float *X = malloc(sizeof(float) * N * E), *A = malloc(sizeof(float) * N * E);
  double *r = malloc(sizeof(double) * N);
  float *S1 = malloc(sizeof(float) * N * N), *S2 = malloc(sizeof(float) * N * N);
  rng_state_ = 7;
  for (int i = 0; i < N * E; i++) X[i] = (float)rng_normal_();
  /* one heavily aligned pair stresses the partial-sum bound */
  for (int k = 0; k < E; k++) X[E + k] = X[k];
  CHECK_MSG(tc_tail_quantise(X, N, E, A, r) == -1, "finite embeddings reported as not finite");
  {
    /* the finiteness check: the first row holding an inf or NaN */
    float keep5 = X[5 * E + 3], keep9 = X[9 * E];
    X[9 * E] = INFINITY;
    X[5 * E + 3] = NAN;
    float Ab[2 * 300];
    double rb[20];
    int64_t bad = -1;
    for (int i = 0; i < N && i < 20 && bad < 0; i += 2) {
      int64_t b = tc_tail_quantise(X + i * E, N - i < 2 ? N - i : 2, E, Ab, rb);
      if (b >= 0) bad = i + b;
    }
    CHECK_MSG(bad == 5, "first non-finite row is 5, got %lld", (long long)bad);
    X[5 * E + 3] = keep5;
    CHECK_MSG(tc_tail_quantise(X + 8 * E, 2, E, Ab, rb) == 1, "inf in row 9 not reported");
    X[9 * E] = keep9;
  }
  int grid_ok = 1;
  for (int i = 0; i < N * E; i++) {
    double s = (double)A[i] * TC_TAIL_FIXED_SCALE;
    grid_ok = grid_ok && s == rint(s) && fabs(s) <= TC_TAIL_FIXED_SCALE;
  }
  CHECK_MSG(grid_ok, "quantised values are not on the 2^-11 grid");
  const float one = 1.0f, zero = 0.0f;
  /* S1: one sgemm; S2: K split in uneven chunks accumulated with beta = 1 */
  sgemm_("T", "N", &N, &N, &E, &one, A, &E, A, &E, &zero, S1, &N);
  int chunks[] = {1, 7, 64, 100, 128};
  int k0 = 0, ci = 0;
  memset(S2, 0, sizeof(float) * N * N);
  while (k0 < E) {
    int kc = chunks[ci++ % 5];
    if (k0 + kc > E) kc = E - k0;
    sgemm_("T", "N", &N, &N, &kc, &one, A + k0, &E, A + k0, &E, &one, S2, &N);
    k0 += kc;
  }
  int same = 1, exact = 1, symmetric = 1;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      int64_t d = 0;
      float rev = 0.0f;
      for (int k = 0; k < E; k++)
        d += (int64_t)rint(A[i * E + k] * 2048.0) * (int64_t)rint(A[j * E + k] * 2048.0);
      for (int k = E - 1; k >= 0; k--) rev += A[i * E + k] * A[j * E + k];
      float dx = (float)((double)d / (2048.0 * 2048.0));
      same = same && memcmp(&S1[i * N + j], &S2[i * N + j], sizeof(float)) == 0;
      exact = exact && S1[i * N + j] == dx && rev == dx;
      symmetric = symmetric && S1[i * N + j] == S1[j * N + i];
    }
  CHECK_MSG(same, "K-split sgemm differs from one sgemm");
  CHECK_MSG(exact, "sgemm or reversed-order sum differs from the exact integer dot");
  CHECK(symmetric);
  /* the fused scale + threshold pass (used on the dots by every driver)
   * equals scaling first and thresholding after, bit for bit; rows 3.. as a
   * block whose global row0 is 3 checks the diagonal offset */
  {
    float *S3 = malloc((size_t)N * N * sizeof(float));
    float th_a[64], th_b[64];
    int64_t c_a[64], c_b[64];
    memcpy(S3, S1, (size_t)N * N * sizeof(float));
    CHECK(N <= 64);
    CHECK_INT(tc_tail_scale_threshold_rows(S3 + 3 * N, N - 3, N, N, r, 3, 0.85, th_a, c_a), TC_OK);
    memcpy(S2, S1, (size_t)N * N * sizeof(float));
    tc_tail_scale(S2 + 3 * N, N - 3, N, N, r + 3, r, 3, 0);
    CHECK_INT(tc_tail_threshold_rows(S2 + 3 * N, N - 3, N, N, 0.85, th_b, c_b), TC_OK);
    CHECK(memcmp(S3 + 3 * N, S2 + 3 * N, (size_t)(N - 3) * N * sizeof(float)) == 0);
    CHECK(memcmp(th_a, th_b, (size_t)(N - 3) * sizeof(float)) == 0);
    CHECK(memcmp(c_a, c_b, (size_t)(N - 3) * sizeof(int64_t)) == 0);
    free(S3);
  }
  tc_tail_scale(S1, N, N, N, r, r, 0, 0);
  int diag = 1, sym2 = 1, bounded = 1;
  for (int i = 0; i < N; i++)
    for (int j = 0; j < N; j++) {
      if (i == j) diag = diag && S1[i * N + j] == 1.0f;
      sym2 = sym2 && S1[i * N + j] == S1[j * N + i];
      bounded = bounded && fabsf(S1[i * N + j]) <= 1.0f;
    }
  CHECK(diag);
  CHECK(sym2);
  CHECK(bounded);
  CHECK(S1[0 * N + 1] == 1.0f); /* identical embeddings have cosine exactly 1 */
  free(X);
  free(A);
  free(r);
  free(S1);
  free(S2);
}

static void test_diagnostics_(void) {
  /* classes: A (3 images, one is noise), B (1, tail), C (2, tail) */
  int64_t cls[6] = {0, 0, 0, 1, 2, 2};
  uint8_t noise[6] = {0, 0, 1, 0, 0, 0}, tailc[6] = {0, 0, 0, 1, 1, 1};
  int64_t kappa[6] = {3, 2, 1, 1, 2, 3};
  uint8_t is_tail[6] = {0, 1, 1, 1, 1, 0};
  TcTailDiag d;
  CHECK_INT(tc_tail_diagnostics(6, kappa, is_tail, cls, noise, tailc, &d), TC_OK);
  CHECK_INT(d.n_classes, 3);
  CHECK_INT(d.n_tail_samples, 3);
  CHECK_INT(d.n_head_samples, 2);
  CHECK_INT(d.n_noise, 1);
  CHECK_NEAR(d.missing_tail, 1.0 / 3.0, 1e-12);
  CHECK_NEAR(d.included_noise, 1.0, 1e-12);
  CHECK_NEAR(d.included_head, 0.5, 1e-12);
  /* weights 1/3,1/3,1/3,1,1/2,1/2 (sum 3); errors 0,1,2,0,0,1 -> (1/3+2/3+1/2)/3 */
  CHECK_NEAR(d.class_size_error, (1.0 / 3 + 2.0 / 3 + 0.5) / 3.0, 1e-12);
  /* -kappa: positives {-1,-2,-3}, negatives {-3,-2,-1}: pos -1 beats -3, -2
   * and ties -1: 2.5; pos -2 beats -3, ties -2: 1.5; pos -3 ties -3: .5;
   * 4.5 of 9 pairs */
  CHECK_NEAR(d.auroc_tail, 0.5, 1e-12);
}

/* ---- golden fixtures from tests/golden/tailsampler_ref.py ----------- */

static void test_golden_(const char *dir, const char *name) {
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  TcH5File *f = NULL;
  TcErr e = tc_h5_open(MPI_COMM_SELF, path, "features", &f);
  CHECK_MSG(e == TC_OK, "%s: %s", path, tc_err_message());
  if (e) {
    tc_err_clear();
    return;
  }
  int nd;
  int64_t dims[4], kd[4];
  float *X = NULL;
  int64_t *kappa = NULL, *count = NULL, *eta = NULL, kv[3] = {0, 0, 0};
  uint8_t *tail = NULL;
  float *th = NULL;
  TcTailResult *r = NULL;
  if (tc_h5_dims(f, "embeddings", &nd, dims) || tc_h5_dims(f, "expected/eta", &nd, kd)) goto out;
  int64_t N = dims[0], E = dims[1], K = kd[0];
  X = malloc(sizeof(float) * N * E);
  kappa = malloc(sizeof(int64_t) * N);
  count = malloc(sizeof(int64_t) * N);
  tail = malloc(N);
  th = malloc(sizeof(float) * N);
  eta = malloc(sizeof(int64_t) * K);
  if (tc_h5_read_rows(f, "embeddings", TC_H5_F32, 0, N, X) ||
      tc_h5_read_rows(f, "expected/class_size", TC_H5_I64, 0, N, kappa) ||
      tc_h5_read_rows(f, "expected/count", TC_H5_I64, 0, N, count) ||
      tc_h5_read_rows(f, "expected/th", TC_H5_F32, 0, N, th) ||
      tc_h5_read_rows(f, "expected/is_tail", TC_H5_U8, 0, N, tail) ||
      tc_h5_read_rows(f, "expected/eta", TC_H5_I64, 0, K, eta) ||
      tc_h5_read_rows(f, "expected/k", TC_H5_I64, 0, 3, kv))
    goto out;
  double p = 0.85;
  CHECK_INT(tc_tail_run(X, N, E, p, &r), TC_OK);
  if (!r) goto out;
  int64_t bad_th = 0, bad_count = 0, bad_kappa = 0, bad_tail = 0, first = -1;
  for (int64_t j = 0; j < N; j++) {
    bad_th += r->th[j] != th[j];
    bad_count += r->count[j] != count[j];
    bad_kappa += r->kappa[j] != kappa[j];
    bad_tail += r->is_tail[j] != tail[j];
    if (first < 0 && (r->th[j] != th[j] || r->count[j] != count[j] || r->kappa[j] != kappa[j]))
      first = j;
  }
  CHECK_MSG(bad_th == 0, "%s: %lld thresholds differ (first row %lld: %.9g vs %.9g)", name,
            (long long)bad_th, (long long)first, first >= 0 ? r->th[first] : 0.0,
            first >= 0 ? th[first] : 0.0);
  CHECK_MSG(bad_count == 0, "%s: %lld counts differ", name, (long long)bad_count);
  CHECK_MSG(bad_kappa == 0, "%s: %lld class sizes differ", name, (long long)bad_kappa);
  CHECK_MSG(bad_tail == 0, "%s: %lld tail flags differ", name, (long long)bad_tail);
  int eta_ok = r->neta == K;
  for (int64_t t = 0; eta_ok && t < K; t++) eta_ok = r->eta[t] == eta[t];
  CHECK_MSG(eta_ok, "%s: eta differs (%lld vs %lld classes)", name, (long long)r->neta, (long long)K);
  CHECK_MSG(r->k_elbow == kv[0] && r->k_cap == kv[1] && r->k_max == kv[2],
            "%s: K elbow/cap/max %lld %lld %lld vs %lld %lld %lld", name, (long long)r->k_elbow,
            (long long)r->k_cap, (long long)r->k_max, (long long)kv[0], (long long)kv[1],
            (long long)kv[2]);
  int64_t ntail = 0;
  for (int64_t j = 0; j < N; j++) ntail += r->is_tail[j];
  printf("golden %s: N = %lld, E = %lld, K_max = %lld, %lld tail images\n", name, (long long)N,
         (long long)E, (long long)r->k_max, (long long)ntail);
out:
  if (tc_err_message()[0]) {
    CHECK_MSG(0, "%s: %s", name, tc_err_message());
    tc_err_clear();
  }
  tc_tail_result_destroy(&r);
  free(X);
  free(kappa);
  free(count);
  free(tail);
  free(th);
  free(eta);
  tc_h5_close(&f);
}

/* ---- synthetic features files for the shell test and the bench ------- */

static int write_features_(const char *path, int64_t N, int64_t E, uint64_t seed, int64_t nan_row) {
  /* class sizes: a long tail (size_c ~ 0.5 N / (c+1)^1.3, at least 1),
   * one random centre per class; 10% of the images are noise: a head-class
   * centre pushed far off by a random direction (a "defect") */
  rng_state_ = seed * 0x2545F4914F6CDD1DULL + 1;
  int64_t n_noise = N / 10, n_clean = N - n_noise;
  int64_t maxc = N + 1, nc = 0;
  int64_t *size = calloc((size_t)maxc, sizeof(int64_t));
  int64_t left = n_clean;
  while (left > 0) {
    int64_t s = (int64_t)floor(0.5 * (double)n_clean / pow((double)(nc + 1), 1.3));
    if (s < 1) s = 1;
    if (s > left) s = left;
    size[nc++] = s;
    left -= s;
  }
  float *C = malloc(sizeof(float) * (size_t)(nc * E + 1));
  for (int64_t i = 0; i < nc * E; i++) C[i] = (float)rng_normal_();
  float *X = malloc(sizeof(float) * (size_t)(N * E + 1));
  char **names = malloc(sizeof(char *) * (size_t)N);
  char lpath[1100];
  snprintf(lpath, sizeof lpath, "%s.labels", path);
  FILE *lf = fopen(lpath, "w");
  if (!C || !X || !names || !lf) return 1;
  fprintf(lf, "# path class is_noise is_tail_class (synthetic, seed %llu)\n", (unsigned long long)seed);
  int64_t j = 0;
  for (int64_t c = 0; c < nc; c++)
    for (int64_t t = 0; t < size[c]; t++, j++) {
      for (int64_t k = 0; k < E; k++)
        X[j * E + k] = C[c * E + k] + 0.35f * (float)rng_normal_();
      names[j] = malloc(64);
      snprintf(names[j], 64, "class%03lld/img%05lld.png", (long long)c, (long long)j);
      fprintf(lf, "%s class%03lld 0 %d\n", names[j], (long long)c, size[c] < 20);
    }
  int64_t nhead = 0;
  for (int64_t c = 0; c < nc; c++) nhead += size[c] >= 20;
  if (nhead == 0) nhead = 1;
  for (; j < N; j++) {
    int64_t c = (int64_t)(rng_next_() % (uint64_t)nhead);
    for (int64_t k = 0; k < E; k++)
      X[j * E + k] = C[c * E + k] + 0.35f * (float)rng_normal_() + 0.8f * (float)rng_normal_();
    names[j] = malloc(64);
    snprintf(names[j], 64, "class%03lld/defect%05lld.png", (long long)c, (long long)j);
    fprintf(lf, "%s class%03lld 1 0\n", names[j], (long long)c);
  }
  fclose(lf);
  if (nan_row >= 0 && nan_row < N && E > 0) X[nan_row * E + E / 2] = NAN;
  TcH5File *f = NULL;
  int64_t dims[2] = {N, E};
  TcErr e = tc_h5_create(MPI_COMM_SELF, path, "features", &f);
  /* E = 0 writes a features file without /embeddings (a bad input) */
  if (!e && E > 0) e = tc_h5_create_dataset(f, "embeddings", TC_H5_F32, 2, dims, 0);
  if (!e && E > 0) e = tc_h5_write_rows(f, "embeddings", TC_H5_F32, 0, N, X);
  if (!e) e = tc_h5_write_strings(f, "paths", N, 0, N, (const char *const *)names);
  if (!e) e = tc_h5_set_attr_i64(f, "/", "E", E);
  if (!e) e = tc_h5_publish(&f);
  else tc_h5_abandon(&f);
  if (e) fprintf(stderr, "write-features: %s\n", tc_err_message());
  for (int64_t i = 0; i < N; i++) free(names[i]);
  free(names);
  free(X);
  free(C);
  free(size);
  return e ? 1 : 0;
}

/* Print the results stored in a tail file (prefix "tail") or a golden
 * fixture (prefix "expected") as text, so the shell test can diff runs
 * without Python or the HDF5 tools. */
static int dump_tail_(const char *path, const char *prefix) {
  TcH5File *f = NULL;
  int gold = !strcmp(prefix, "expected");
  if (tc_h5_open(MPI_COMM_SELF, path, gold ? "features" : "tail", &f)) {
    fprintf(stderr, "dump: %s\n", tc_err_message());
    return 1;
  }
  char name[128];
  int nd, rc = 1;
  int64_t dn[4], dk[4], k[3];
  snprintf(name, sizeof name, "%s/class_size", prefix);
  if (tc_h5_dims(f, name, &nd, dn)) goto out;
  snprintf(name, sizeof name, "%s/eta", prefix);
  if (tc_h5_dims(f, name, &nd, dk)) goto out;
  int64_t N = dn[0], K = dk[0];
  int64_t *cs = malloc(sizeof(int64_t) * N), *cnt = malloc(sizeof(int64_t) * N), *eta = malloc(sizeof(int64_t) * K);
  uint8_t *tl = malloc(N);
  float *th = malloc(sizeof(float) * N);
  const char *names[5] = {"class_size", "count", "is_tail", "th", "eta"};
  TcH5Type types[5] = {TC_H5_I64, TC_H5_I64, TC_H5_U8, TC_H5_F32, TC_H5_I64};
  void *bufs[5] = {cs, cnt, tl, th, eta};
  for (int i = 0; i < 5; i++) {
    snprintf(name, sizeof name, "%s/%s", prefix, names[i]);
    if (tc_h5_read_rows(f, name, types[i], 0, i == 4 ? K : N, bufs[i])) goto done;
  }
  if (gold) {
    if (tc_h5_read_rows(f, "expected/k", TC_H5_I64, 0, 3, k)) goto done;
  } else if (tc_h5_read_rows(f, "tail/k_elbow", TC_H5_I64, 0, 1, &k[0]) ||
             tc_h5_read_rows(f, "tail/k_cap", TC_H5_I64, 0, 1, &k[1]) ||
             tc_h5_read_rows(f, "tail/k_max", TC_H5_I64, 0, 1, &k[2])) {
    goto done;
  }
  printf("k_elbow %lld k_cap %lld k_max %lld\neta", (long long)k[0], (long long)k[1], (long long)k[2]);
  for (int64_t t = 0; t < K; t++) printf(" %lld", (long long)eta[t]);
  printf("\n");
  for (int64_t j = 0; j < N; j++)
    printf("%lld %a %lld %lld %d\n", (long long)j, th[j], (long long)cnt[j], (long long)cs[j], tl[j]);
  rc = 0;
done:
  free(cs); free(cnt); free(eta); free(tl); free(th);
out:
  if (rc) fprintf(stderr, "dump: %s\n", tc_err_message());
  tc_h5_close(&f);
  return rc;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rc;
  if (argc == 5 && !strcmp(argv[1], "--sgemm-peak")) {
    /* the measured sgemm rate of the linked BLAS (bench/tailsample_bench.sh) */
    int m = atoi(argv[2]), n = atoi(argv[3]), k = atoi(argv[4]);
    float *a = calloc((size_t)m * k, 4), *b = calloc((size_t)n * k, 4), *c = calloc((size_t)m * n, 4);
    const float one = 1.0f, zero = 0.0f;
    for (size_t i = 0; i < (size_t)m * k; i++) a[i] = (float)(i % 7);
    for (size_t i = 0; i < (size_t)n * k; i++) b[i] = (float)(i % 5);
    sgemm_("T", "N", &n, &m, &k, &one, b, &k, a, &k, &zero, c, &n);
    double best = 1e30;
    for (int rep = 0; rep < 3; rep++) {
      double t0 = MPI_Wtime();
      sgemm_("T", "N", &n, &m, &k, &one, b, &k, a, &k, &zero, c, &n);
      double dt = MPI_Wtime() - t0;
      best = dt < best ? dt : best;
    }
    printf("sgemm %d x %d x %d: %.1f GFLOP/s\n", m, n, k, 2.0 * m * n * k / best / 1e9);
    free(a); free(b); free(c);
    MPI_Finalize();
    return 0;
  }
  if (argc == 4 && !strcmp(argv[1], "--dump-tail")) {
    rc = dump_tail_(argv[2], argv[3]);
    MPI_Finalize();
    return rc;
  }
  if ((argc == 6 || argc == 7) && !strcmp(argv[1], "--write-features")) {
    rc = write_features_(argv[2], atoll(argv[3]), atoll(argv[4]), (uint64_t)atoll(argv[5]),
                         argc == 7 ? atoll(argv[6]) : -1);
    MPI_Finalize();
    return rc;
  }
  test_threshold_();
  test_vote_();
  test_cardinalities_();
  test_kmax_();
  test_pipeline_tiny_();
  test_cut_rules_();
  test_center_();
  test_gram_exact_();
  test_transpose_();
  test_diagnostics_();
  const char *dir = getenv("TC_GOLDEN_DIR") ? getenv("TC_GOLDEN_DIR") : "tests/golden";
  test_golden_(dir, "tailsampler_step_k1.h5");
  test_golden_(dir, "tailsampler_step_k4.h5");
  test_golden_(dir, "tailsampler_pareto.h5");
  rc = tc_test_report();
  MPI_Finalize();
  return rc;
}
