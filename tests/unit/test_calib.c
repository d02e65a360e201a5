/* test_calib.c - the threshold rule, per-class thresholds and the hold-out
 * split on hand-computed cases. */
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "calib.h"
#include "check.h"

static void test_threshold_(void) {
  /* 1..100 shuffled: r = 0.01 -> j = ceil(101 * 0.99) = ceil(99.99) = 100,
   * the maximum; expected rate 1/101 */
  float s[100];
  for (int i = 0; i < 100; i++) s[i] = (float)((i * 37) % 100 + 1);
  float t = 0;
  double e = 0;
  CHECK(tc_calib_threshold(s, 100, 0.01, &t, &e) == TC_OK);
  CHECK(t == 100.0f);
  CHECK(fabs(e - 1.0 / 101) < 1e-12);
  /* r = 0.05 -> j = ceil(101 * 0.95) = ceil(95.95) = 96: 4 of 100 above */
  CHECK(tc_calib_threshold(s, 100, 0.05, &t, &e) == TC_OK);
  CHECK(t == 96.0f);
  CHECK(fabs(e - 5.0 / 101) < 1e-12);
  /* n = 99, r = 0.01: (n + 1)(1 - r) = 99 exactly in real numbers (98.99999... in
   * doubles): j = 99, the maximum, not past it */
  CHECK(tc_calib_threshold(s, 99, 0.01, &t, &e) == TC_OK);
  CHECK(fabs(e - 1.0 / 100) < 1e-12);
  /* too few for the target: the maximum, and the expected rate says so */
  float few[3] = {3, 1, 2};
  CHECK(tc_calib_threshold(few, 3, 0.01, &t, &e) == TC_OK);
  CHECK(t == 3.0f);
  CHECK(fabs(e - 0.25) < 1e-12);
  CHECK(few[0] == 3 && few[1] == 1); /* input untouched */
  CHECK(tc_calib_threshold(few, 0, 0.01, &t, &e) == TC_ERR_USAGE);
  /* a validation image at the threshold is OK; above it, or NaN, is NG */
  CHECK(!tc_calib_is_ng(96.0f, 96.0f));
  CHECK(tc_calib_is_ng(96.5f, 96.0f));
  CHECK(tc_calib_is_ng(NAN, 96.0f));
  CHECK_INT(tc_calib_min_count(0.01), 99);
  CHECK_INT(tc_calib_min_count(0.05), 19);
  CHECK_INT(tc_calib_min_count(0.5), 1);
}

static void test_frr_option_(void) {
  tc_err_clear();
  CHECK(tc_calib_check_frr("--target-frr", 0.01) == TC_OK);
  CHECK(tc_calib_check_frr("--target-frr", 0) == TC_ERR_USAGE);
  CHECK(strstr(tc_err_message(), "--target-frr 0 is impossible") != NULL);
  CHECK(tc_calib_check_frr("--target-frr", 1) == TC_ERR_USAGE);
  CHECK(tc_calib_check_frr("--target-frr", -0.1) == TC_ERR_USAGE);
  CHECK(tc_calib_check_frr("--target-frr", NAN) == TC_ERR_USAGE);
  tc_err_clear();
}

static void test_class_thresholds_(void) {
  /* class 0: 19 scores 1..19 (r = 0.05 needs 19: j = ceil(20 * 0.95) = 19);
   * class 1: 5 scores (too few: NaN); one score without a class */
  float s[25];
  int64_t c[25];
  for (int i = 0; i < 19; i++) s[i] = (float)(19 - i), c[i] = 0;
  for (int i = 19; i < 24; i++) s[i] = 100.0f + (float)i, c[i] = 1;
  s[24] = 1e6f, c[24] = -1;
  float thr[2];
  int64_t cnt[2];
  CHECK(tc_calib_class_thresholds(s, c, 25, 2, 0.05, thr, cnt) == TC_OK);
  CHECK(thr[0] == 19.0f);
  CHECK(isnan(thr[1]));
  CHECK_INT(cnt[0], 19);
  CHECK_INT(cnt[1], 5);
}

static void test_holdout_(void) {
  /* class 0: 10 images, class 1: 25, class 2: 4 (floor(0.4) = 0), and 5
   * images without a class; fraction 0.2 -> 2 + 5 + 0 + 1 */
  enum { N = 44 };
  int64_t c[N];
  uint64_t key[N];
  uint8_t keep[N], held[N];
  for (int i = 0; i < N; i++) {
    c[i] = i < 10 ? 0 : i < 35 ? 1 : i < 39 ? 2 : -1;
    key[i] = (uint64_t)(N - i); /* later images first */
    keep[i] = 0;
  }
  CHECK_INT(tc_calib_holdout(c, NULL, key, N, 0.2, held), 8);
  CHECK(held[9] && held[8] && !held[7]);   /* class 0: the two smallest keys */
  CHECK(held[34] && held[30] && !held[29]); /* class 1: five */
  for (int i = 35; i < 39; i++) CHECK(!held[i]);
  CHECK(held[43] && !held[42]);
  /* kept (tail) images are never held out; the next keys go instead */
  keep[9] = keep[34] = 1;
  CHECK_INT(tc_calib_holdout(c, keep, key, N, 0.2, held), 8);
  CHECK(!held[9] && held[8] && held[7] && !held[6]);
  CHECK(!held[34] && held[29] && !held[28]);
  /* a class of kept images only loses none */
  for (int i = 0; i < 10; i++) keep[i] = 1;
  CHECK_INT(tc_calib_holdout(c, keep, key, N, 0.2, held), 6);
  CHECK_INT(tc_calib_holdout(c, NULL, key, N, 0.0, held), 0);
  CHECK(tc_calib_path_hash("a") != tc_calib_path_hash("b"));
  CHECK(tc_calib_path_hash("") == 1469598103934665603ULL);
}

int main(void) {
  test_threshold_();
  test_frr_option_();
  test_class_thresholds_();
  test_holdout_();
  return tc_test_report();
}
