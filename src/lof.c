/* lof.c - sklearn-exact LOF for one position (DESIGN 3.4). */
#include "lof.h"
#include "transpose.h"

#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

/* rows of the Gram matrix held at once above the full-Gram limit: memory
 * PANEL x n, not n x n */
#define PANEL 256
/* lanes of the branch-free per-row scan (a multiple of any SIMD width) */
#define LANES 16

struct TcLofWork {
  int64_t nmax;
  int dim, k;
  int full;       /* whole Gram at once (ssyrk: half the flops of sgemm) */
  float *G;       /* [nmax x nmax] or [PANEL x nmax] Gram */
  float *nrm;     /* [nmax] squared norms */
  int32_t *nbr;   /* [nmax x k] neighbour indices */
  float *dist;    /* [nmax x k] neighbour distances (float32, as sklearn) */
  double *lrd;    /* [nmax] */
  int32_t *cand;  /* [nmax] */
  double *cd2;    /* [nmax] */
  double *Xd;     /* [nmax x dim] the points in float64 (full path only) */
};

TcErr tc_lof_work_create_limited(int64_t nmax, int dim, int k, int64_t full_gram_max,
                                 TcLofWork **out) {
  *out = NULL;
  TC_CHECK(nmax >= 1 && nmax < INT_MAX / 2 && dim >= 1 && k >= 1 && k <= TC_LOF_KMAX, TC_ERR_USAGE,
           "LOF: bad sizes (n %lld, dim %d, k %d; k must be 1..%d)", (long long)nmax, dim, k,
           TC_LOF_KMAX);
  TcLofWork *w = tc_calloc(1, sizeof *w, "LOF workspace");
  if (!w) return TC_ERR_MEM;
  w->nmax = nmax;
  w->dim = dim;
  w->k = k;
  w->full = nmax <= full_gram_max;
  w->G = tc_malloc_aligned((size_t)(w->full || nmax < PANEL ? nmax : PANEL) * (size_t)nmax *
                               sizeof(float), "LOF Gram");
  w->nrm = tc_malloc((size_t)nmax * sizeof(float), "LOF norms");
  w->nbr = tc_malloc((size_t)nmax * (size_t)k * sizeof(int32_t), "LOF neighbours");
  w->dist = tc_malloc((size_t)nmax * (size_t)k * sizeof(float), "LOF distances");
  w->lrd = tc_malloc((size_t)nmax * sizeof(double), "LOF lrd");
  w->cand = tc_malloc((size_t)nmax * sizeof(int32_t), "LOF candidates");
  w->cd2 = tc_malloc((size_t)nmax * sizeof(double), "LOF candidate distances");
  if (w->full) w->Xd = tc_malloc((size_t)nmax * (size_t)dim * sizeof(double), "LOF points");
  if (!w->G || !w->nrm || !w->nbr || !w->dist || !w->lrd || !w->cand || !w->cd2 ||
      (w->full && !w->Xd)) {
    tc_lof_work_destroy(&w);
    return TC_ERR_MEM;
  }
  *out = w;
  return TC_OK;
}

TcErr tc_lof_work_create(int64_t nmax, int dim, int k, TcLofWork **out) {
  return tc_lof_work_create_limited(nmax, dim, k, TC_LOF_FULL_GRAM_MAX, out);
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
  free(w->Xd);
  free(w);
  *pw = NULL;
}

/* Squared distance in float64 (float32 differences are exact in double).
 * Sixteen partial sums in a fixed order written out in C (enough independent
 * chains to hide the add latency): the compiler may vectorise it but not
 * reorder it, so the bits do not depend on the SIMD width of the machine or
 * on the rank that computes them. The same sums whether the inputs come as
 * float32 or already widened to float64. */
#define EXACT_D2_BODY_                                                                    \
  double s[16] = {0};                                                                     \
  int j = 0;                                                                              \
  for (; j + 16 <= dim; j += 16)                                                          \
    for (int l = 0; l < 16; l++) {                                                        \
      double t = (double)a[j + l] - (double)b[j + l];                                     \
      s[l] += t * t;                                                                      \
    }                                                                                     \
  for (int l = 0; l < 8; l++) s[l] += s[l + 8];                                           \
  double r = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]));          \
  for (; j < dim; j++) {                                                                  \
    double t = (double)a[j] - (double)b[j];                                               \
    r += t * t;                                                                           \
  }                                                                                       \
  return r;
static double exact_d2_(const float *a, const float *b, int dim) { EXACT_D2_BODY_ }
static double exact_d2_wide_(const double *a, const double *b, int dim) { EXACT_D2_BODY_ }

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
static void sklearn_heap_(TcLofWork *w, const float *X, size_t ld, int n, int i, int k, int32_t *nb_i,
                          double *bd) {
  double val[TC_LOF_KMAX + 1];
  int32_t ind[TC_LOF_KMAX + 1];
  for (int t = 0; t <= k; t++) { val[t] = DBL_MAX; ind[t] = 0; }
  for (int j = 0; j < n; j++)
    heap_push_(val, ind, k + 1, exact_d2_(X + (size_t)i * ld, X + (size_t)j * ld, w->dim), j);
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

/* The ranking value of a row entry: d2 minus the row's own squared norm. */
static inline float nrm_minus_(float nrm_j, float g_ij) { return nrm_j - 2.0f * g_ij; }

/* An upper bound on the k-th smallest ranking value of a row (self already
 * +inf), or NAN when the scan holds fewer than k values. Branch-free: each
 * of LANES lanes keeps its two smallest values; the k-th smallest of those
 * 2 x LANES actual row values bounds the row's k-th smallest from above and
 * equals it unless three of the k smallest share a lane. */
static float row_kth_bound_(const float *g, const float *nrm, int n, int k) {
  float m1[LANES], m2[LANES];
  for (int l = 0; l < LANES; l++) m1[l] = m2[l] = INFINITY;
  int j0 = 0;
  for (; j0 + LANES <= n; j0 += LANES)
    for (int l = 0; l < LANES; l++) {
      float v = nrm_minus_(nrm[j0 + l], g[j0 + l]);
      float lo = v < m1[l] ? v : m1[l], hi = v < m1[l] ? m1[l] : v;
      m1[l] = lo;
      m2[l] = hi < m2[l] ? hi : m2[l];
    }
  for (int l = 0; j0 + l < n; l++) {
    float v = nrm_minus_(nrm[j0 + l], g[j0 + l]);
    float lo = v < m1[l] ? v : m1[l], hi = v < m1[l] ? m1[l] : v;
    m1[l] = lo;
    m2[l] = hi < m2[l] ? hi : m2[l];
  }
  /* k-th smallest of the 2 x LANES values by branch-free insertion
   * (new[p] = min(old[p], max(old[p - 1], v))): data-dependent branches
   * here cost more than the scan itself */
  float best[2 * LANES];
  for (int p = 0; p < k; p++) best[p] = INFINITY;
  int finite = 0;
  for (int s = 0; s < 2 * LANES; s++) {
    const float v = s < LANES ? m1[s] : m2[s - LANES];
    finite += v < INFINITY;
    /* a lane's second value rarely beats the k-th of the first values */
    if (s >= LANES && !(v < best[k - 1])) continue;
    for (int p = k - 1; p > 0; p--) {
      const float up = best[p - 1] > v ? best[p - 1] : v;
      best[p] = best[p] < up ? best[p] : up;
    }
    best[0] = best[0] < v ? best[0] : v;
  }
  return finite >= k ? best[k - 1] : NAN;
}

/* The same bound by insertion over the whole row: any k. */
static float row_kth_insert_(const float *g, const float *nrm, int n, int k) {
  float best[TC_LOF_KMAX];
  int nb = 0;
  for (int j = 0; j < n; j++) {
    float v = nrm_minus_(nrm[j], g[j]);
    if (!(v < INFINITY) || (nb == k && v >= best[k - 1])) continue;
    int p = nb < k ? nb++ : k - 1;
    while (p > 0 && best[p - 1] > v) { best[p] = best[p - 1]; p--; }
    best[p] = v;
  }
  return best[k - 1];
}


/* ssyrk fills the upper triangle; the lower one is its transpose: whole 8 x 8
 * tiles strictly above the diagonal by register transposes, the rest (the
 * diagonal band and ragged edges) element by element. Pure copies, so the
 * result does not depend on which path ran. */
static void mirror_upper_(float *G, int n) {
  int tiled = 0; /* rows and columns below this are covered by whole tiles */
#ifdef __AVX2__
  tiled = n / 8 * 8;
  for (int r0 = 0; r0 < tiled; r0 += 8)
    for (int c0 = r0 + 8; c0 < tiled; c0 += 8)
      tc_transpose8_f32(G + (size_t)r0 * n + c0, n, G + (size_t)c0 * n + r0, n);
  for (int r0 = 0; r0 < tiled; r0 += 8)
    for (int r = r0; r < r0 + 8; r++)
      for (int c = r + 1; c < r0 + 8; c++) G[(size_t)c * n + r] = G[(size_t)r * n + c];
#endif
  for (int r = 0; r < n; r++)
    for (int c = r + 1 > tiled ? r + 1 : tiled; c < n; c++) G[(size_t)c * n + r] = G[(size_t)r * n + c];
}

TcErr tc_lof_scores(TcLofWork *w, const float *X, int64_t n64, float *lof) {
  TC_CHECK(n64 >= 1 && n64 <= w->nmax, TC_ERR_INTERNAL, "tc_lof_scores: n %lld out of range",
           (long long)n64);
  const size_t ld = (size_t)w->dim; /* row stride of X */
  const int n = (int)n64, dim = w->dim;
  if (n == 1) {
    lof[0] = 1.0f;
    return TC_OK;
  }
  const int k = w->k < n - 1 ? w->k : n - 1;
  float *G = w->G;
  float nmax = 0.0f;
  for (int i = 0; i < n; i++) {
    const float *x = X + (size_t)i * ld;
    /* sixteen partial sums (vectorisable); any order has the same error
     * bound, and the norms only rank candidates (see E below) */
    float p[16] = {0};
    int j = 0;
    for (; j + 16 <= dim; j += 16)
      for (int l = 0; l < 16; l++) p[l] += x[j + l] * x[j + l];
    for (int l = 0; l < 8; l++) p[l] += p[l + 8];
    float s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
    for (; j < dim; j++) s += x[j] * x[j];
    w->nrm[i] = s;
    if (s > nmax) nmax = s;
  }
  /* Rows are ranked by v_j = |x_j|^2 - 2 x_i.x_j (= d2(i, j) - |x_i|^2) in
   * float32. |error of v| <= (dim + 2) * 2^-24 * (|x_j|^2 + 2|x_i||x_j|)
   * for a float32 dot of length dim plus the roundings; E doubles that for
   * safety, and the candidate window adds it twice (both sides' errors), so
   * every point that can be among the k nearest in exact arithmetic is a
   * candidate and the float32 rounding never decides the result. */
  const float E = (float)(dim + 4) * 0x1.0p-23f * 2.0f;
  if (w->full) {
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasNoTrans, n, dim, 1.0f, X, (int)ld, 0.0f, G, n);
    mirror_upper_(G, n);
    for (int r = 0; r < n; r++)
      for (int c = 0; c < dim; c++) w->Xd[(size_t)r * dim + c] = (double)X[(size_t)r * ld + c];
  }
  for (int i = 0; i < n; i++) {
    if (!w->full && i % PANEL == 0) {
      int rows = n - i < PANEL ? n - i : PANEL;
      cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, rows, n, dim, 1.0f, X + (size_t)i * ld,
                  (int)ld, X, (int)ld, 0.0f, G, n);
    }
    float *row = G + (size_t)(w->full ? i : i % PANEL) * n;
    const float ni = w->nrm[i];
    row[i] = -INFINITY; /* self: v = +inf, never a neighbour by index */
    float kth = k <= 2 * LANES ? row_kth_bound_(row, w->nrm, n, k) : NAN;
    if (isnan(kth)) kth = row_kth_insert_(row, w->nrm, n, k);
    const float thr = kth + 2.0f * E * (ni + nmax + 2.0f * sqrtf(ni * nmax));
    int nc = 0;
    int j0 = 0;
    for (; j0 + LANES <= n; j0 += LANES) {
      unsigned mask = 0;
#ifdef __AVX2__
      const __m256 two = _mm256_set1_ps(2.0f), t8 = _mm256_set1_ps(thr);
      for (int l = 0; l < LANES; l += 8) {
        __m256 v = _mm256_sub_ps(_mm256_loadu_ps(w->nrm + j0 + l),
                                 _mm256_mul_ps(two, _mm256_loadu_ps(row + j0 + l)));
        mask |= (unsigned)_mm256_movemask_ps(_mm256_cmp_ps(v, t8, _CMP_LE_OQ)) << l;
      }
#else
      for (int l = 0; l < LANES; l++)
        mask |= (unsigned)(nrm_minus_(w->nrm[j0 + l], row[j0 + l]) <= thr) << l;
#endif
      while (mask) {
        w->cand[nc++] = j0 + __builtin_ctz(mask);
        mask &= mask - 1;
      }
    }
    for (int j = j0; j < n; j++)
      if (nrm_minus_(w->nrm[j], row[j]) <= thr) w->cand[nc++] = j;
    if (w->full) {
      const double *xi = w->Xd + (size_t)i * dim;
      for (int c = 0; c < nc; c++)
        w->cd2[c] = exact_d2_wide_(xi, w->Xd + (size_t)w->cand[c] * dim, dim);
    } else {
      const float *xi = X + (size_t)i * ld;
      for (int c = 0; c < nc; c++) w->cd2[c] = exact_d2_(xi, X + (size_t)w->cand[c] * ld, dim);
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
    if (nle > k) sklearn_heap_(w, X, ld, n, i, k, nb_i, bd);
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
