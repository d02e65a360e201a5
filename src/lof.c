/* lof.c - sklearn-exact LOF for one position (DESIGN 3.4). */
#include "lof.h"

#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* rows of the Gram matrix held at once: memory PANEL x n, not n x n */
#define PANEL 256
/* up to this many points the whole Gram is one ssyrk (half the flops) */
#define FULL_MAX 0 /* ssyrk + mirror measured slower than sgemm panels here; kept switchable */

struct TcLofWork {
  int64_t nmax;
  int dim, k;
  int full;       /* whole Gram at once (ssyrk) */
  float *G;       /* [PANEL x nmax] Gram panel, then approximate d2 */
  float *nrm;     /* [nmax] squared norms from the Gram diagonal */
  int32_t *nbr;   /* [nmax x k] neighbour indices */
  float *dist;    /* [nmax x k] neighbour distances (float32, as sklearn) */
  double *lrd;    /* [nmax] */
  int32_t *cand;  /* [nmax] */
  double *cd2;    /* [nmax] */
};

TcErr tc_lof_work_create(int64_t nmax, int dim, int k, TcLofWork **out) {
  *out = NULL;
  TC_CHECK(nmax >= 1 && nmax < INT_MAX / 2 && dim >= 1 && k >= 1 && k <= TC_LOF_KMAX, TC_ERR_USAGE,
           "LOF: bad sizes (n %lld, dim %d, k %d; k must be 1..%d)", (long long)nmax, dim, k,
           TC_LOF_KMAX);
  TcLofWork *w = tc_calloc(1, sizeof *w, "LOF workspace");
  if (!w) return TC_ERR_MEM;
  w->nmax = nmax;
  w->dim = dim;
  w->k = k;
  w->full = nmax <= FULL_MAX;
  w->G = tc_malloc_aligned((size_t)(w->full ? nmax : nmax < PANEL ? nmax : PANEL) * (size_t)nmax *
                               sizeof(float), "LOF Gram panel");
  w->nrm = tc_malloc((size_t)nmax * sizeof(float), "LOF norms");
  w->nbr = tc_malloc((size_t)nmax * (size_t)k * sizeof(int32_t), "LOF neighbours");
  w->dist = tc_malloc((size_t)nmax * (size_t)k * sizeof(float), "LOF distances");
  w->lrd = tc_malloc((size_t)nmax * sizeof(double), "LOF lrd");
  w->cand = tc_malloc((size_t)nmax * sizeof(int32_t), "LOF candidates");
  w->cd2 = tc_malloc((size_t)nmax * sizeof(double), "LOF candidate distances");
  if (!w->G || !w->nrm || !w->nbr || !w->dist || !w->lrd || !w->cand || !w->cd2) {
    tc_lof_work_destroy(&w);
    return TC_ERR_MEM;
  }
  *out = w;
  return TC_OK;
}

void tc_lof_work_destroy(TcLofWork **pw) {
  if (!pw || !*pw) return;
  TcLofWork *w = *pw;
  free(w->G);
  free(w->nrm);
  free(w->nbr);
  free(w->dist);
  free(w->lrd);
  free(w->cand);
  free(w->cd2);
  free(w);
  *pw = NULL;
}

static double exact_d2_(const float *a, const float *b, int dim) {
  double s = 0.0;
  for (int j = 0; j < dim; j++) {
    double t = (double)a[j] - (double)b[j];
    s += t * t;
  }
  return s;
}

/* exact_d2_ for four rows at once: each sum in the same order (so the same
 * bits), four independent dependency chains instead of one. */
static void exact_d2x4_(const float *a, const float *b0, const float *b1, const float *b2,
                        const float *b3, int dim, double *out) {
  double s0 = 0.0, s1 = 0.0, s2 = 0.0, s3 = 0.0;
  for (int j = 0; j < dim; j++) {
    double x = (double)a[j];
    double t0 = x - (double)b0[j], t1 = x - (double)b1[j], t2 = x - (double)b2[j],
           t3 = x - (double)b3[j];
    s0 += t0 * t0;
    s1 += t1 * t1;
    s2 += t2 * t2;
    s3 += t3 * t3;
  }
  out[0] = s0; out[1] = s1; out[2] = s2; out[3] = s3;
}

/* sklearn.utils._heap.heap_push, verbatim: a max-heap of `size` values that
 * rejects a value equal to its current maximum. */
static void heap_push_(double *val, int32_t *ind, int size, double v, int32_t j) {
  if (v >= val[0]) return;
  int cur = 0;
  for (;;) {
    int l = 2 * cur + 1, r = l + 1, sw;
    if (l >= size) break;
    if (r >= size) {
      if (val[l] > v) sw = l;
      else break;
    } else if (val[l] >= val[r]) {
      if (v < val[l]) sw = l;
      else break;
    } else {
      if (v < val[r]) sw = r;
      else break;
    }
    val[cur] = val[sw];
    ind[cur] = ind[sw];
    cur = sw;
  }
  val[cur] = v;
  ind[cur] = j;
}

/* Neighbours of row i as sklearn's brute-force ArgKmin + kneighbors(X=None)
 * pick them: a heap of k + 1 over every j in increasing order (self
 * included), then self removed by index (or, when more than k duplicates
 * push self out, one zero-distance duplicate: all of them are
 * interchangeable). Output sorted by distance into nb_i / bd. This is the
 * single-heap scan (sklearn's parallel_on_X, or one thread); with several
 * OpenMP threads on fewer than 2048 x threads rows sklearn merges per-thread
 * heaps and its own tie result then depends on the thread count. */
static void sklearn_heap_(TcLofWork *w, const float *X, int n, int i, int k, int32_t *nb_i,
                          double *bd) {
  double val[TC_LOF_KMAX + 1];
  int32_t ind[TC_LOF_KMAX + 1];
  for (int t = 0; t <= k; t++) { val[t] = DBL_MAX; ind[t] = 0; }
  for (int j = 0; j < n; j++)
    heap_push_(val, ind, k + 1, exact_d2_(X + (size_t)i * w->dim, X + (size_t)j * w->dim, w->dim), j);
  int drop = -1;
  for (int t = 0; t <= k; t++)
    if (ind[t] == i) drop = t;
  if (drop < 0) drop = 0;
  int cnt = 0;
  for (int t = 0; t <= k; t++) {
    if (t == drop) continue;
    double v = val[t];
    int p = cnt++;
    while (p > 0 && (bd[p - 1] > v || (bd[p - 1] == v && nb_i[p - 1] > ind[t]))) {
      bd[p] = bd[p - 1];
      nb_i[p] = nb_i[p - 1];
      p--;
    }
    bd[p] = v;
    nb_i[p] = ind[t];
  }
}

TcErr tc_lof_scores(TcLofWork *w, const float *X, int64_t n64, float *lof) {
  TC_CHECK(n64 >= 1 && n64 <= w->nmax, TC_ERR_INTERNAL, "tc_lof_scores: n %lld out of range",
           (long long)n64);
  const int n = (int)n64, dim = w->dim;
  if (n == 1) {
    lof[0] = 1.0f;
    return TC_OK;
  }
  const int k = w->k < n - 1 ? w->k : n - 1;
  float *G = w->G;
  float nmax = 0.0f;
  for (int i = 0; i < n; i++) {
    const float *x = X + (size_t)i * dim;
    float s = 0.0f;
    for (int j = 0; j < dim; j++) s += x[j] * x[j];
    w->nrm[i] = s;
    if (s > nmax) nmax = s;
  }
  /* |approx d2 - exact d2| <= (dim + 2) * 2^-24 * (|a|^2 + |b|^2 + 2|a||b|)
   * for a float32 dot of length dim plus three roundings; doubled for safety */
  const float E = (float)(dim + 4) * 0x1.0p-23f * 2.0f;

  float best[TC_LOF_KMAX];
  for (int i = 0; i < n; i++) {
    if (w->full && i == 0) {
      cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, dim, 1.0f, X, dim, 0.0f, G, n);
      for (int r = 1; r < n; r++)
        for (int c = 0; c < r; c++) G[(size_t)r * n + c] = G[(size_t)c * n + r];
    } else if (!w->full && i % PANEL == 0) {
      int rows = n - i < PANEL ? n - i : PANEL;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, dim, 1.0f, X + (size_t)i * dim,
                  dim, X, dim, 0.0f, G, n);
    }
    float *row = G + (size_t)(w->full ? i : i % PANEL) * n;
    const float ni = w->nrm[i];
    for (int j = 0; j < n; j++) row[j] = ni + w->nrm[j] - 2.0f * row[j];
    /* k smallest approximate values among j != i (insertion into best[]);
     * blocks of 8 are first compared with the current k-th value, which only
     * decreases, so a block with no smaller value is skipped without
     * changing the result */
    int nb = 0;
    for (int j0 = 0; j0 < n; j0 += 8) {
      const int j1 = j0 + 8 < n ? j0 + 8 : n;
      if (nb == k && j1 - j0 == 8) {
        const float cur = best[k - 1];
        int any = 0;
        for (int l = 0; l < 8; l++) any |= row[j0 + l] < cur;
        if (!any) continue;
      }
      for (int j = j0; j < j1; j++) {
        if (j == i) continue;
        float v = row[j];
        if (nb == k && v >= best[k - 1]) continue;
        int p = nb < k ? nb++ : k - 1;
        while (p > 0 && best[p - 1] > v) { best[p] = best[p - 1]; p--; }
        best[p] = v;
      }
    }
    float thr = best[k - 1] + 2.0f * E * (ni + nmax + 2.0f * sqrtf(ni * nmax));
    int nc = 0;
    for (int j0 = 0; j0 < n; j0 += 8) {
      const int j1 = j0 + 8 < n ? j0 + 8 : n;
      if (j1 - j0 == 8) {
        int any = 0;
        for (int l = 0; l < 8; l++) any |= row[j0 + l] <= thr;
        if (!any) continue;
      }
      for (int j = j0; j < j1; j++)
        if (j != i && row[j] <= thr) w->cand[nc++] = j;
    }
    {
      const float *xi = X + (size_t)i * dim;
      int c = 0;
      for (; c + 4 <= nc; c += 4)
        exact_d2x4_(xi, X + (size_t)w->cand[c] * dim, X + (size_t)w->cand[c + 1] * dim,
                    X + (size_t)w->cand[c + 2] * dim, X + (size_t)w->cand[c + 3] * dim, dim,
                    w->cd2 + c);
      for (; c < nc; c++) w->cd2[c] = exact_d2_(xi, X + (size_t)w->cand[c] * dim, dim);
    }
    /* k smallest by (exact d2, index): candidates are in index order, so a
     * stable insertion keeps the lowest index first on ties */
    int32_t *nb_i = w->nbr + (size_t)i * k;
    double bd[TC_LOF_KMAX];
    int cnt = 0;
    for (int c = 0; c < nc; c++) {
      double v = w->cd2[c];
      if (cnt == k && v >= bd[k - 1]) continue;
      int p = cnt < k ? cnt++ : k - 1;
      while (p > 0 && bd[p - 1] > v) { bd[p] = bd[p - 1]; nb_i[p] = nb_i[p - 1]; p--; }
      bd[p] = v;
      nb_i[p] = w->cand[c];
    }
    if (cnt < k) return tc_err_set(TC_ERR_INTERNAL, "LOF: candidate filter lost neighbours");
    /* a tie at the k-th distance: sklearn's answer is whatever its heap
     * keeps, so replay that heap on exact distances (rare: equidistant
     * distinct points do not occur in real features) */
    int nle = 0;
    for (int c = 0; c < nc; c++) nle += w->cd2[c] <= bd[k - 1];
    if (nle > k) sklearn_heap_(w, X, n, i, k, nb_i, bd);
    for (int t = 0; t < k; t++) w->dist[(size_t)i * k + t] = (float)sqrt(bd[t]);
  }
  for (int i = 0; i < n; i++) {
    double s = 0.0;
    for (int t = 0; t < k; t++) {
      int o = w->nbr[(size_t)i * k + t];
      float kd = w->dist[(size_t)o * k + (k - 1)];
      float d = w->dist[(size_t)i * k + t];
      s += d > kd ? d : kd;
    }
    w->lrd[i] = 1.0 / (s / k + 1e-10);
  }
  for (int i = 0; i < n; i++) {
    double s = 0.0;
    for (int t = 0; t < k; t++) s += w->lrd[w->nbr[(size_t)i * k + t]];
    lof[i] = (float)(s / k / w->lrd[i]);
  }
  return TC_OK;
}
