/* test_proj.c - the seeded projection: bounds, determinism, sgemm result. */
#include <math.h>
#include <stdlib.h>

#include "check.h"
#include "proj.h"
#include "rng.h"

int main(void) {
  const int64_t P = 128, D = 300;
  float *W = NULL, *W2 = NULL, *W3 = NULL;
  CHECK(tc_proj_create(P, D, 42, &W) == TC_OK);
  CHECK(tc_proj_create(P, D, 42, &W2) == TC_OK);
  CHECK(tc_proj_create(P, D, 43, &W3) == TC_OK);
  float b = (float)(1.0 / sqrt((double)D));
  int out = 0, same = 1, diff = 0;
  double mean = 0, var = 0;
  for (int64_t i = 0; i < P * D; i++) {
    if (!(W[i] > -b && W[i] < b)) out++;
    if (W[i] != W2[i]) same = 0;
    if (W[i] != W3[i]) diff++;
    mean += W[i];
    var += (double)W[i] * W[i];
  }
  mean /= (double)(P * D);
  var = var / (double)(P * D) - mean * mean;
  CHECK_INT(out, 0);
  CHECK(same);
  CHECK(diff > P * D - 10);
  CHECK_NEAR(mean, 0.0, 0.01 * b);
  CHECK_NEAR(var / (b * b), 1.0 / 3.0, 0.01);
  /* element (r, c) is addressable without building the rest */
  CHECK(W[5 * D + 7] == tc_rng_uniform_f(42, TC_RNG_STREAM_PROJ, 5 * D + 7, -b, b));
  /* Y = X W^T against a double loop */
  const int64_t n = 37;
  float *X = malloc(sizeof(float) * n * D), *Y = malloc(sizeof(float) * n * P);
  for (int64_t i = 0; i < n * D; i++) X[i] = (float)(tc_rng_uniform(1, 99, (uint64_t)i) * 4 - 2);
  CHECK(tc_proj_apply(W, P, D, X, n, Y) == TC_OK);
  double maxerr = 0;
  for (int64_t i = 0; i < n; i++)
    for (int64_t r = 0; r < P; r++) {
      double s = 0;
      for (int64_t c = 0; c < D; c++) s += (double)X[i * D + c] * W[r * D + c];
      double e = fabs(s - Y[i * P + r]);
      if (e > maxerr) maxerr = e;
    }
  CHECK_MSG(maxerr < 1e-4, "max error %g", maxerr);
  CHECK(tc_proj_apply(W, P, D, X, 0, Y) == TC_OK);
  free(W3);
  CHECK(tc_proj_create(0, D, 1, &W3) == TC_ERR_USAGE);
  CHECK(W3 == NULL);
  free(X); free(Y); free(W); free(W2); free(W3);
  return tc_test_report();
}
