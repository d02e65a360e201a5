/* test_score.c - scoring kernels (DESIGN 3.7) against the golden fixtures
 * (numpy brute-force nearest neighbours, torch F.interpolate bilinear,
 * scipy.ndimage.gaussian_filter) and against in-test brute force at the
 * real sizes (784 queries x D 1024); split-bank merging == whole bank. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "score.h"
#include "score_fixture.h"

static uint64_t z_ = 0x2545F4914F6CDD1DULL;
static float frand_(void) {
  z_ ^= z_ << 13;
  z_ ^= z_ >> 7;
  z_ ^= z_ << 17;
  return (float)((double)(z_ >> 40) / 16777216.0) - 0.5f;
}

/* max |a - b| / max(1, |b|) */
static double maxrel_(const float *a, const float *b, int64_t n) {
  double m = 0;
  for (int64_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]) / fmax(1.0, fabs((double)b[i]));
    if (d > m) m = d;
  }
  return m;
}

/* Nearest-neighbour agreement that holds on every BLAS kernel. The search
 * ranks bank rows by |b|^2 - 2 q.b computed with a float32 GEMM whose
 * summation order (and so rounding) differs between OpenBLAS kernels
 * (Haswell/Zen vs SkylakeX vs Sandybridge): two rows whose exact distances
 * differ by less than that rounding can swap. Higham's bound for a float32
 * dot of D terms is gamma_D = D u / (1 - D u), u = 2^-24, times sum |q_d b_d|
 * <= |q| |b|; for the ranking value of one row the error is at most
 * gamma_{D+2} (|b|^2 + 2 |q| |b|) <= gamma_{D+2} (|q| + |b|)^2, so two rows
 * can swap only when their exact distances are within twice that. An index
 * may differ from brute force only inside this tolerance, and the reported
 * distance (recomputed exactly for the chosen row) must then be that row's
 * distance, within the tolerance of the minimum. */
static double nn_tie_tol_(const float *q, const float *b_found, const float *b_true, int64_t D) {
  double u = ldexp(1.0, -24), g = (double)(D + 2) * u / (1.0 - (double)(D + 2) * u);
  double nq = 0, nf = 0, nt = 0;
  for (int64_t d = 0; d < D; d++) {
    nq += (double)q[d] * q[d];
    nf += (double)b_found[d] * b_found[d];
    nt += (double)b_true[d] * b_true[d];
  }
  double nb = sqrt(fmax(nf, nt)), s = sqrt(nq) + nb;
  return 2.0 * g * s * s;
}

/* 1 when (found_i, found_d) agrees with brute force's (true_i, true_d):
 * same row and distance within 1e-6 relative, or a row whose exact distance
 * ties with the minimum within nn_tie_tol_. */
static int nn_agrees_(const float *Q, const float *B, int64_t D, int64_t qi, int64_t found_i,
                      double found_d, int64_t true_i, double true_d) {
  if (found_i == true_i) return fabs(found_d - true_d) <= 1e-6 * fmax(1.0, true_d);
  if (found_i < 0) return 0;
  double tol = nn_tie_tol_(Q + qi * D, B + found_i * D, B + true_i * D, D);
  return found_d >= true_d - 1e-6 * fmax(1.0, true_d) && found_d - true_d <= tol;
}

static void brute_(const float *Q, int64_t q, const float *B, int64_t M, int64_t D, double *dist,
                   int64_t *idx) {
  for (int64_t i = 0; i < q; i++) {
    dist[i] = INFINITY;
    idx[i] = -1;
    for (int64_t j = 0; j < M; j++) {
      double s = 0;
      for (int64_t d = 0; d < D; d++) {
        double t = (double)Q[i * D + d] - B[j * D + d];
        s += t * t;
      }
      if (s < dist[i]) { dist[i] = s; idx[i] = j; }
    }
  }
}

static void fixture_maps_(hid_t f) {
  const char *up[] = {"square", "odd", "down", "same", "full"};
  for (int c = 0; c < 5; c++) {
    char name[128];
    int64_t n, no, di[2], dout[2];
    snprintf(name, sizeof name, "upsample/%s/in", up[c]);
    float *in = score_fixture_read_(f, name, H5T_NATIVE_FLOAT, 4, &n, di);
    snprintf(name, sizeof name, "upsample/%s/out", up[c]);
    float *ref = score_fixture_read_(f, name, H5T_NATIVE_FLOAT, 4, &no, dout);
    CHECK(in && ref);
    if (!in || !ref) continue;
    int step = strcmp(up[c], "full") ? 1 : 7;
    int oh = (int)dout[0] * step, ow = (int)dout[1];
    if (step == 7) oh = 224;
    float *out = malloc(sizeof(float) * oh * ow);
    tc_score_upsample_bilinear(in, (int)di[0], (int)di[1], out, oh, ow);
    double worst = 0;
    for (int r = 0; r < dout[0]; r++) {
      double e = maxrel_(out + (int64_t)r * step * ow, ref + (int64_t)r * ow, ow);
      if (e > worst) worst = e;
    }
    /* torch rounds differently (its kernel fuses multiply-adds): a few ulp */
    CHECK_MSG(worst <= 1e-6, "upsample %s: max rel err %g vs torch", up[c], worst);
    printf("upsample %s: max rel err %.3g vs torch\n", up[c], worst);
    free(in);
    free(ref);
    free(out);
  }
  const char *ga[] = {"medium", "small", "tiny"};
  for (int c = 0; c < 3; c++) {
    char name[128];
    int64_t n, no, di[2];
    snprintf(name, sizeof name, "gauss/%s/in", ga[c]);
    float *img = score_fixture_read_(f, name, H5T_NATIVE_FLOAT, 4, &n, di);
    snprintf(name, sizeof name, "gauss/%s/out", ga[c]);
    float *ref = score_fixture_read_(f, name, H5T_NATIVE_FLOAT, 4, &no, NULL);
    CHECK(img && ref && n == no);
    if (!img || !ref) continue;
    CHECK(tc_score_gaussian(img, (int)di[0], (int)di[1], 4.0, 4.0) == TC_OK);
    double e = maxrel_(img, ref, n);
    CHECK_MSG(e <= 1e-6, "gaussian %s: max rel err %g vs scipy", ga[c], e);
    int same = 0;
    for (int64_t i = 0; i < n; i++) same += img[i] == ref[i];
    printf("gaussian %s: %d/%lld values bit-identical to scipy, max rel err %.3g\n", ga[c], same,
           (long long)n, e);
    free(img);
    free(ref);
  }
  {
    int64_t n, no, dout[2];
    float *grid = score_fixture_read_(f, "amap/full/in", H5T_NATIVE_FLOAT, 4, &n, NULL);
    float *ref = score_fixture_read_(f, "amap/full/out", H5T_NATIVE_FLOAT, 4, &no, dout);
    CHECK(grid && ref && n == 784 && dout[1] == 224);
    if (grid && ref) {
      float *map = malloc(sizeof(float) * 224 * 224);
      CHECK(tc_score_anomaly_map(grid, 28, 28, 224, 4.0, map) == TC_OK);
      double worst = 0;
      for (int r = 0; r < dout[0]; r++) {
        double e = maxrel_(map + (int64_t)r * 7 * 224, ref + (int64_t)r * 224, 224);
        if (e > worst) worst = e;
      }
      CHECK_MSG(worst <= 1e-6, "anomaly map: max rel err %g vs torch+scipy", worst);
      printf("anomaly map 28->224, sigma 4: max rel err %.3g vs torch+scipy\n", worst);
      free(map);
    }
    free(grid);
    free(ref);
  }
}

static void fixture_nn_(hid_t f) {
  int64_t nq, nb, nd, ni, dq[2], db[2];
  float *Q = score_fixture_read_(f, "nn/Q", H5T_NATIVE_FLOAT, 4, &nq, dq);
  float *B = score_fixture_read_(f, "nn/bank", H5T_NATIVE_FLOAT, 4, &nb, db);
  double *dist = score_fixture_read_(f, "nn/dist", H5T_NATIVE_DOUBLE, 8, &nd, NULL);
  int64_t *idx = score_fixture_read_(f, "nn/index", H5T_NATIVE_INT64, 8, &ni, NULL);
  CHECK(Q && B && dist && idx);
  if (Q && B && dist && idx) {
    int64_t q = dq[0], M = db[0], D = dq[1];
    float *norms = malloc(sizeof(float) * M), *d = malloc(sizeof(float) * q);
    int64_t *ix = malloc(sizeof(int64_t) * q);
    tc_score_row_norms(B, M, D, norms);
    CHECK(tc_score_nn_bank(Q, q, B, norms, M, D, d, ix) == TC_OK);
    int bad = 0;
    for (int64_t i = 0; i < q; i++) {
      if (!nn_agrees_(Q, B, D, i, ix[i], d[i], idx[i], dist[i])) bad++;
    }
    CHECK_MSG(bad == 0, "%d of %lld nearest neighbours differ from numpy brute force beyond the tie tolerance", bad,
              (long long)q);
    /* query 3 is bank row 7, duplicated as row 150: either row, distance 0 */
    CHECK(ix[3] == 7 || ix[3] == 150);
    CHECK(d[3] == 0.0f);
    free(norms);
    free(d);
    free(ix);
  }
  free(Q);
  free(B);
  free(dist);
  free(idx);
}

int main(void) {
  hid_t f = score_fixture_open_();
  CHECK(f >= 0);
  if (f >= 0) {
    fixture_maps_(f);
    fixture_nn_(f);
    H5Fclose(f);
  }

  /* real sizes: 784 queries x D 1024 against 5000 rows (several tiles, a
   * ragged last tile), against float64 brute force */
  {
    int64_t q = 784, M = 5000, D = 1024;
    float *Q = malloc(sizeof(float) * q * D), *B = malloc(sizeof(float) * M * D);
    for (int64_t i = 0; i < M * D; i++) B[i] = frand_() * 2.0f + 0.1f;
    for (int64_t i = 0; i < q * D; i++) Q[i] = frand_() * 2.0f + 0.1f;
    /* some queries close to bank rows, as real normal patches are */
    for (int64_t i = 0; i < q; i += 3)
      for (int64_t d = 0; d < D; d++) Q[i * D + d] = B[((i * 37) % M) * D + d] + 0.01f * frand_();
    float *norms = malloc(sizeof(float) * M), *dist = malloc(sizeof(float) * q);
    int64_t *idx = malloc(sizeof(int64_t) * q), *bidx = malloc(sizeof(int64_t) * q);
    double *bd = malloc(sizeof(double) * q);
    tc_score_row_norms(B, M, D, norms);
    CHECK(tc_score_nn_bank(Q, q, B, norms, M, D, dist, idx) == TC_OK);
    brute_(Q, q, B, M, D, bd, bidx);
    int bad_i = 0, swapped = 0;
    double worst = 0;
    for (int64_t i = 0; i < q; i++) {
      if (!nn_agrees_(Q, B, D, i, idx[i], dist[i], bidx[i], bd[i])) bad_i++;
      if (idx[i] != bidx[i]) swapped++;
      double e = idx[i] == bidx[i] ? fabs(dist[i] - bd[i]) / fmax(1.0, bd[i]) : 0.0;
      if (e > worst) worst = e;
    }
    CHECK_MSG(bad_i == 0, "%d nearest neighbours differ from brute force beyond the tie tolerance", bad_i);
    CHECK_MSG(worst <= 1e-6, "max rel distance error %g", worst);
    printf("nn 784 x 5000 x 1024: %d argmins differ within the tie tolerance, %d beyond; max rel dist err %.3g\n",
           swapped, bad_i, worst);

    /* the bank split at tile boundaries, slices merged in any order, gives
     * the same result bits as the whole bank */
    int64_t tile = 1024;
    float *work = malloc(sizeof(float) * tc_score_nn_work_floats(q, tile));
    TcScoreNN *whole = malloc(sizeof(TcScoreNN) * q), *part = malloc(sizeof(TcScoreNN) * q);
    tc_score_nn_init(whole, q);
    CHECK(tc_score_nn(Q, q, B, norms, M, D, 0, tile, work, whole) == TC_OK);
    tc_score_nn_exact(Q, q, B, M, D, 0, whole);
    int64_t cuts[4] = {0, 2048, 3072, M};
    int order[3] = {2, 0, 1};
    tc_score_nn_init(part, q);
    for (int k = 0; k < 3; k++) {
      int s = order[k];
      CHECK(tc_score_nn(Q, q, B + cuts[s] * D, norms + cuts[s], cuts[s + 1] - cuts[s], D, cuts[s], tile,
                        work, part) == TC_OK);
    }
    for (int s = 0; s < 3; s++)
      tc_score_nn_exact(Q, q, B + cuts[s] * D, cuts[s + 1] - cuts[s], D, cuts[s], part);
    CHECK(memcmp(whole, part, sizeof(TcScoreNN) * q) == 0);
    free(work);
    free(whole);
    free(part);

    /* queries in several blocks (q > TC_SCORE_QUERY_BLOCK) */
    int64_t q2 = 2500;
    float *Q2 = malloc(sizeof(float) * q2 * 64), *B2 = malloc(sizeof(float) * 300 * 64);
    for (int64_t i = 0; i < q2 * 64; i++) Q2[i] = frand_();
    for (int64_t i = 0; i < 300 * 64; i++) B2[i] = frand_();
    float *n2 = malloc(sizeof(float) * 300), *d2 = malloc(sizeof(float) * q2);
    int64_t *i2 = malloc(sizeof(int64_t) * q2), *bi2 = malloc(sizeof(int64_t) * q2);
    double *bd2 = malloc(sizeof(double) * q2);
    tc_score_row_norms(B2, 300, 64, n2);
    CHECK(tc_score_nn_bank(Q2, q2, B2, n2, 300, 64, d2, i2) == TC_OK);
    brute_(Q2, q2, B2, 300, 64, bd2, bi2);
    int bad2 = 0;
    for (int64_t i = 0; i < q2; i++)
      bad2 += !nn_agrees_(Q2, B2, 64, i, i2[i], d2[i], bi2[i], bd2[i]);
    CHECK_INT(bad2, 0);
    free(Q2); free(B2); free(n2); free(d2); free(i2); free(bi2); free(bd2);
    free(Q); free(B); free(norms); free(dist); free(idx); free(bidx); free(bd);
  }

  /* image score, bad arguments */
  float ps[5] = {0.5f, 3.0f, -1.0f, 2.9f, 0.0f};
  CHECK(tc_score_image(ps, 5) == 3.0f);
  float img[4] = {1, 2, 3, 4};
  CHECK(tc_score_gaussian(img, 2, 2, 0.0, 4.0) == TC_ERR_USAGE);
  CHECK(tc_score_anomaly_map(img, 0, 2, 8, 4.0, img) == TC_ERR_USAGE);
  float *dummy = NULL;
  CHECK(tc_score_nn_bank(img, 1, img, img, 0, 4, dummy, NULL) == TC_ERR_USAGE);
  /* a constant map stays constant through upsampling and the filter */
  float cgrid[28 * 28], *cmap = malloc(sizeof(float) * 224 * 224);
  for (int i = 0; i < 784; i++) cgrid[i] = 2.5f;
  CHECK(tc_score_anomaly_map(cgrid, 28, 28, 224, 4.0, cmap) == TC_OK);
  CHECK(maxrel_(cmap, (float[]){2.5f}, 1) <= 1e-6 && fabsf(cmap[224 * 224 - 1] - 2.5f) <= 1e-5f);
  free(cmap);
  return tc_test_report();
}
