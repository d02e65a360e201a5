/* sketch.c - principal-axes int8 sketch with residual bounds (see sketch.h). */
#include "sketch.h"

#include <cblas.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"
#include "coreset.h"

#define SAMPLE_MAX 16384 /* points behind the covariance: the basis only sets the speed */
#define BLOCK 1024
/* |computed z - exact z| <= ~dim 2^-53 |x - mu| per axis; this is far above */
#define Z_SLACK 1e-10

static float up_(double v) {
  float f = (float)v;
  if ((double)f < v) f = nextafterf(f, INFINITY);
  return f;
}

void tc_sketch_free(TcSketch *sk) {
  free(sk->mu);
  free(sk->V);
  free(sk->code);
  free(sk->resid);
  memset(sk, 0, sizeof *sk);
}

/* rows [i0, i0 + b) of X (stride `step` rows) minus mu, as doubles */
static void centred_(const TcSketch *sk, const float *X, int64_t i0, int64_t b, int64_t step, double *out) {
  const int dim = sk->dim;
  for (int64_t r = 0; r < b; r++) {
    const float *x = X + (i0 + r) * step * dim;
    for (int j = 0; j < dim; j++) out[r * dim + j] = (double)x[j] - sk->mu[j];
  }
}

/* V: the R leading eigenvectors of the sample covariance; R from the
 * variance they hold. */
static TcErr basis_(TcSketch *sk, const float *X, int64_t n, double *buf) {
  const int dim = sk->dim;
  const int64_t step = n > SAMPLE_MAX ? (n + SAMPLE_MAX - 1) / SAMPLE_MAX : 1, ns = (n + step - 1) / step;
  double *C = calloc((size_t)dim * dim, sizeof(double));
  double *w = malloc((size_t)dim * sizeof(double));
  if (!C || !w) {
    free(C);
    free(w);
    return tc_err_set(TC_ERR_MEM, "out of memory for the coreset sketch basis");
  }
  for (int64_t i0 = 0; i0 < ns; i0 += BLOCK) {
    const int64_t b = ns - i0 < BLOCK ? ns - i0 : BLOCK;
    centred_(sk, X, i0, b, step, buf);
    cblas_dsyrk(CblasRowMajor, CblasUpper, CblasTrans, dim, (int)b, 1.0, buf, dim, 1.0, C, dim);
  }
  for (int i = 0; i < dim; i++)
    for (int j = 0; j < i; j++) C[i * dim + j] = C[j * dim + i];
  int N = dim, lwork = -1, info = 0;
  double wq = 0;
  dsyev_("V", "U", &N, C, &N, w, &wq, &lwork, &info, 1, 1);
  lwork = info == 0 && wq >= 1 ? (int)wq : 3 * dim;
  double *work = malloc((size_t)lwork * sizeof(double));
  if (work) dsyev_("V", "U", &N, C, &N, w, work, &lwork, &info, 1, 1);
  free(work);
  TcErr err = TC_OK;
  if (!work) err = tc_err_set(TC_ERR_MEM, "out of memory for the coreset sketch basis");
  else if (info != 0) err = tc_err_set(TC_ERR_INTERNAL, "coreset sketch: dsyev failed (info %d)", info);
  if (!err) {
    double total = 0, cum = 0;
    for (int k = 0; k < dim; k++) total += w[k] > 0 ? w[k] : 0;
    int R = 0;
    while (R < dim) {
      const int k = dim - 1 - R; /* ascending eigenvalues */
      cum += w[k] > 0 ? w[k] : 0;
      R++;
      if (R % 16 == 0 && cum >= TC_SKETCH_VARIANCE * total) break;
    }
    sk->R = R;
    sk->V = malloc((size_t)R * dim * sizeof(double));
    if (!sk->V) err = tc_err_set(TC_ERR_MEM, "out of memory for the coreset sketch basis");
    /* column-major eigenvectors: eigenvector k is C[k * dim .. + dim) */
    for (int r = 0; r < R && !err; r++) memcpy(sk->V + (size_t)r * dim, C + (size_t)(dim - 1 - r) * dim,
                                                (size_t)dim * sizeof(double));
  }
  free(C);
  free(w);
  return err;
}

/* code and residual bound of one rotated point z [R] with |x - mu| = nx */
static float encode_(const TcSketch *sk, const double *z, double nx, int8_t *q) {
  double e2 = 0;
  for (int r = 0; r < sk->R; r++) {
    double v = nearbyint(z[r] / sk->scale);
    if (v > sk->qmax) v = sk->qmax;
    if (v < -sk->qmax) v = -sk->qmax;
    q[r] = (int8_t)v;
    const double d = z[r] - sk->scale * v;
    e2 += d * d;
  }
  return up_(sqrt(e2) * (1 + Z_SLACK) + Z_SLACK * nx);
}

TcErr tc_sketch_build(const float *X, int64_t n, int dim, TcSketch *sk) {
  memset(sk, 0, sizeof *sk);
  TC_CHECK(n >= 1 && dim >= 1, TC_ERR_INTERNAL, "tc_sketch_build: bad sizes (n %lld, dim %d)", (long long)n, dim);
  sk->n = n;
  sk->dim = dim;
  sk->mu = calloc((size_t)dim, sizeof(double));
  double *buf = malloc((size_t)BLOCK * dim * sizeof(double));
  double *Z = NULL;
  TcErr err = sk->mu && buf ? TC_OK : tc_err_set(TC_ERR_MEM, "out of memory for the coreset sketch");
  if (!err) {
    for (int64_t i = 0; i < n; i++)
      for (int j = 0; j < dim; j++) sk->mu[j] += X[i * dim + j];
    for (int j = 0; j < dim; j++) sk->mu[j] /= (double)n;
    err = basis_(sk, X, n, buf);
  }
  if (!err) {
    const int R = sk->R;
    sk->qmax = tc_coreset_i8_qmax(R);
    sk->code = malloc((size_t)n * R);
    sk->resid = malloc((size_t)n * sizeof(float));
    Z = malloc((size_t)BLOCK * R * sizeof(double));
    if (!sk->code || !sk->resid || !Z) err = tc_err_set(TC_ERR_MEM, "out of memory for the coreset sketch");
  }
  /* the step from the largest |z| of a strided sample: a point beyond it is
   * clamped, which its residual bound records, so this is a speed choice */
  if (!err) {
    const int R = sk->R;
    const int64_t step = n > SAMPLE_MAX ? (n + SAMPLE_MAX - 1) / SAMPLE_MAX : 1, ns = (n + step - 1) / step;
    double mx = 0;
    for (int64_t i0 = 0; i0 < ns; i0 += BLOCK) {
      const int64_t b = ns - i0 < BLOCK ? ns - i0 : BLOCK;
      centred_(sk, X, i0, b, step, buf);
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, R, dim, 1.0, buf, dim, sk->V, dim, 0.0, Z, R);
      for (int64_t k = 0; k < b * R; k++) mx = fabs(Z[k]) > mx ? fabs(Z[k]) : mx;
    }
    sk->scale = mx > 0 ? mx / sk->qmax : 1.0;
    for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
      const int64_t b = n - i0 < BLOCK ? n - i0 : BLOCK;
      centred_(sk, X, i0, b, 1, buf);
      cblas_dgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, R, dim, 1.0, buf, dim, sk->V, dim, 0.0, Z, R);
      for (int64_t r = 0; r < b; r++) {
        double nx = 0;
        for (int j = 0; j < dim; j++) nx += buf[r * dim + j] * buf[r * dim + j];
        sk->resid[i0 + r] = encode_(sk, Z + r * R, sqrt(nx), sk->code + (i0 + r) * R);
      }
    }
  }
  free(buf);
  free(Z);
  if (err) tc_sketch_free(sk);
  return err;
}

void tc_sketch_centre(const TcSketch *sk, const float *c, int8_t *code, float *resid_units) {
  const int dim = sk->dim, R = sk->R;
  double z[256], nx = 0;
  double *zz = R <= 256 ? z : malloc((size_t)R * sizeof(double));
  if (!zz) { /* no room: a bound that never skips */
    memset(code, 0, (size_t)R);
    *resid_units = INFINITY;
    return;
  }
  for (int j = 0; j < dim; j++) {
    const double d = (double)c[j] - sk->mu[j];
    nx += d * d;
  }
  for (int r = 0; r < R; r++) {
    double a = 0;
    for (int j = 0; j < dim; j++) a += sk->V[(size_t)r * dim + j] * ((double)c[j] - sk->mu[j]);
    zz[r] = a;
  }
  *resid_units = up_((double)encode_(sk, zz, sqrt(nx), code) / sk->scale);
  if (zz != z) free(zz);
}

float tc_sketch_threshold(const TcSketch *sk, float mind2, float resid) {
  if (!(mind2 < INFINITY)) return INFINITY;
  return up_((sqrt((double)mind2 / (1.0 - TC_SKETCH_MARGIN)) + (double)resid) / sk->scale);
}
