/* tailsampler.c - TailSampler (DESIGN 3.6 steps 1-7) as serial kernels on
 * rows of the cosine matrix, in the order of the design. What it is not:
 * distributed (mpi/ptailsample.c drives these kernels over ranks) and not a
 * Gram engine beyond the panel loop of tc_tail_run (mpi/pgram.c is). */
#include "tailsampler.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "blas.h"

#ifdef __AVX2__
#include <immintrin.h>
#endif

/* ---- options: names ---------------------------------------------------- */

int tc_tail_norm_parse(const char *s) {
  if (!s || !strcmp(s, "none")) return TC_TAIL_NORM_NONE;
  if (!strcmp(s, "center")) return TC_TAIL_NORM_CENTER;
  return -1;
}

const char *tc_tail_norm_name(int norm) { return norm == TC_TAIL_NORM_CENTER ? "center" : "none"; }

int tc_tail_cut_parse(const char *s) {
  if (!s || !strcmp(s, "cap")) return TC_TAIL_CUT_CAP;
  if (!strcmp(s, "elbow")) return TC_TAIL_CUT_ELBOW;
  if (!strcmp(s, "gap")) return TC_TAIL_CUT_GAP;
  return -1;
}

const char *tc_tail_cut_name(int cut) {
  return cut == TC_TAIL_CUT_ELBOW ? "elbow" : cut == TC_TAIL_CUT_GAP ? "gap" : "cap";
}

void tc_tail_default_rules(const char *backbone, double *p, int *cut) {
  /* with the std-pooled frozen map, the half-angle set H of a row is
   * already its class: trimming its farthest 15% (p = 0.85) drops real
   * classmates (a class of 4 counts 3) */
  int mnv2 = backbone && !strcmp(backbone, "mobilenetv2");
  *p = mnv2 ? 1.0 : 0.85;
  *cut = mnv2 ? TC_TAIL_CUT_GAP : TC_TAIL_CUT_CAP;
}

/* ---- before step 1: centring (option) ---------------------------------- */

/* The normalised row i rounded to the 2^-20 grid, as integers in q [E];
 * returns 0 when the row is not finite. */
static int center_row_(const float *x, int64_t E, int64_t *q) {
  double ss = 0.0;
  for (int64_t k = 0; k < E; k++) ss += (double)x[k] * (double)x[k];
  if (!isfinite(ss)) return 0;
  double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
  for (int64_t k = 0; k < E; k++) {
    double v = rint((double)x[k] * inv * TC_TAIL_CENTER_SCALE);
    /* |x_k| <= ||x||, but the product may round a hair above 1 */
    if (v > TC_TAIL_CENTER_SCALE) v = TC_TAIL_CENTER_SCALE;
    if (v < -TC_TAIL_CENTER_SCALE) v = -TC_TAIL_CENTER_SCALE;
    q[k] = (int64_t)v;
  }
  return 1;
}

int64_t tc_tail_center_sums(const float *X, int64_t n, int64_t E, int64_t *sum) {
  int64_t bad = -1;
  int64_t *q = malloc((size_t)(E > 0 ? E : 1) * sizeof(int64_t));
  if (!q) return -2;
  for (int64_t i = 0; i < n; i++) {
    if (!center_row_(X + i * E, E, q)) {
      if (bad < 0) bad = i;
      continue;
    }
    for (int64_t k = 0; k < E; k++) sum[k] += q[k];
  }
  free(q);
  return bad;
}

void tc_tail_center_apply(const float *X, int64_t n, int64_t E, const int64_t *sum, int64_t N,
                          float *Y) {
  int64_t *q = malloc((size_t)(E > 0 ? E : 1) * sizeof(int64_t));
  for (int64_t i = 0; i < n; i++) {
    /* a non-finite row was refused by tc_tail_center_sums; keep it NaN so
     * step 1's finiteness check still names it if a caller skipped that */
    if (!q || !center_row_(X + i * E, E, q)) {
      for (int64_t k = 0; k < E; k++) Y[i * E + k] = NAN;
      continue;
    }
    for (int64_t k = 0; k < E; k++) {
      /* sum_k is an integer below 2^53 and the division is correctly
       * rounded, so the mean is the same double everywhere */
      double mean = (double)sum[k] / (double)N;
      Y[i * E + k] = (float)(((double)q[k] - mean) / TC_TAIL_CENTER_SCALE);
    }
  }
  free(q);
}

/* ---- step 1: normalise, fixed-point quantise, scale ------------------- */

int64_t tc_tail_quantise(const float *X, int64_t n, int64_t E, float *A, double *r) {
  int64_t bad = -1;
  for (int64_t i = 0; i < n; i++) {
    const float *x = X + i * E;
    float *a = A + i * E;
    /* sequential double sum: the golden script reproduces it with a cumsum */
    double ss = 0.0;
    for (int64_t k = 0; k < E; k++) ss += (double)x[k] * (double)x[k];
    /* a float squared in double cannot overflow, so only an inf or NaN
     * component makes the sum non-finite: this is the finiteness check */
    if (!isfinite(ss) && bad < 0) bad = i;
    double inv = ss > 0.0 ? 1.0 / sqrt(ss) : 0.0;
    int64_t isum = 0;
    for (int64_t k = 0; k < E; k++) {
      double v = rint((double)x[k] * inv * TC_TAIL_FIXED_SCALE);
      if (v > TC_TAIL_FIXED_SCALE) v = TC_TAIL_FIXED_SCALE;
      if (v < -TC_TAIL_FIXED_SCALE) v = -TC_TAIL_FIXED_SCALE;
      int64_t iv = (int64_t)v;
      isum += iv * iv;
      a[k] = (float)(v / TC_TAIL_FIXED_SCALE);
    }
    /* the exact squared norm in units of 2^-22, so r matches D_ii exactly */
    r[i] = isum > 0 ? 1.0 / sqrt((double)isum / (TC_TAIL_FIXED_SCALE * TC_TAIL_FIXED_SCALE)) : 0.0;
  }
  return bad;
}

/* ---- step 2: the trim_min threshold ----------------------------------- */

/* The quantised value of key k: the reference divides trunc(N s) by N in
 * float32, which is monotone in k, so comparisons on q are comparisons on k. */
static inline float q_of_(int64_t k, float Nf) { return (float)k / Nf; }

static inline int64_t key_of_(float s, float Nf) { return (int64_t)truncf(Nf * s); }

/* The threshold of a row whose smallest value smin is already known. */
static float row_threshold_from_min_(const float *row, int64_t N, double p, float smin,
                                     int32_t *hist) {
  const float Nf = (float)N;
  float m = q_of_(key_of_(smin, Nf), Nf);
  double half = (1.0 + (double)m) / 2.0;
  float th_half = (float)sqrt(half > 0.0 ? half : 0.0);
  /* k0 = the smallest key with q(k) > th_half; H = the entries with key >= k0 */
  int64_t k0 = (int64_t)floor((double)th_half * (double)N) - 2;
  if (k0 < -N) k0 = -N;
  while (k0 <= N && !(q_of_(k0, Nf) > th_half)) k0++;
  if (k0 > N) return th_half; /* H empty: every q is 1 (or rounds onto th_half) */
  int64_t L = 0, j = 0;
#ifdef __AVX2__
  /* Most of a row lies below th_half: skip 8 values at a time when none can
   * reach k0. trunc(x) >= k0 implies x > k0 - 1, so the filter on the same
   * float product Nf * s keeps every entry the exact test below keeps. */
  const __m256 vN = _mm256_set1_ps(Nf), vlo = _mm256_set1_ps((float)(k0 - 1));
  for (; j + 8 <= N; j += 8) {
    __m256 x = _mm256_mul_ps(vN, _mm256_loadu_ps(row + j));
    int m = _mm256_movemask_ps(_mm256_cmp_ps(x, vlo, _CMP_GT_OQ));
    while (m) {
      int t = __builtin_ctz((unsigned)m);
      m &= m - 1;
      int64_t k = key_of_(row[j + t], Nf);
      if (k >= k0) {
        hist[k - k0]++;
        L++;
      }
    }
  }
#endif
  for (; j < N; j++) {
    int64_t k = key_of_(row[j], Nf);
    if (k >= k0) {
      hist[k - k0]++;
      L++;
    }
  }
  if (L == 0) return th_half;
  int64_t f = (int64_t)floor((double)L * p);
  /* the reference indexes H[-f]: f = 0 gives H[0], not H[len] */
  int64_t idx = f > 0 ? L - f : 0;
  int64_t cum = 0, kth = N;
  int found = 0;
  for (int64_t k = k0; k <= N; k++) {
    int32_t c = hist[k - k0];
    if (!found && cum + c > idx) {
      kth = k;
      found = 1;
    }
    cum += c;
    hist[k - k0] = 0;
  }
  return q_of_(kth, Nf);
}

float tc_tail_row_threshold(const float *row, int64_t N, double p, int32_t *hist) {
  float smin = row[0];
  for (int64_t j = 1; j < N; j++) smin = row[j] < smin ? row[j] : smin;
  return row_threshold_from_min_(row, N, p, smin, hist);
}

/* Scale s[a..z) of a row of exact dots into cosines in place,
 * s_j = float(s_j * (ri * r_cols[j])), and return min(smin, those cosines). */
static float scale_min_range_(float *s, int64_t a, int64_t z, double ri, const double *r_cols,
                              float smin) {
  int64_t j = a;
#ifdef __AVX2__
  /* the same double products and roundings as the scalar loop, 8 at a time;
   * S is finite, so the vector minimum is the scalar one (up to the sign of
   * a zero minimum, which the threshold's integer key ignores) */
  const __m256d vri = _mm256_set1_pd(ri);
  __m256 vmin = _mm256_set1_ps(smin);
  for (; j + 8 <= z; j += 8) {
    __m256 x = _mm256_loadu_ps(s + j);
    __m256d lo = _mm256_cvtps_pd(_mm256_castps256_ps128(x)),
            hi = _mm256_cvtps_pd(_mm256_extractf128_ps(x, 1));
    lo = _mm256_mul_pd(lo, _mm256_mul_pd(vri, _mm256_loadu_pd(r_cols + j)));
    hi = _mm256_mul_pd(hi, _mm256_mul_pd(vri, _mm256_loadu_pd(r_cols + j + 4)));
    __m256 v = _mm256_set_m128(_mm256_cvtpd_ps(hi), _mm256_cvtpd_ps(lo));
    _mm256_storeu_ps(s + j, v);
    vmin = _mm256_min_ps(vmin, v);
  }
  float m8[8];
  _mm256_storeu_ps(m8, vmin);
  for (int t = 0; t < 8; t++) smin = m8[t] < smin ? m8[t] : smin;
#endif
  for (; j < z; j++) {
    float v = (float)((double)s[j] * (ri * r_cols[j]));
    s[j] = v;
    smin = v < smin ? v : smin;
  }
  return smin;
}

/* Scale one row of exact dots into cosines (as tc_tail_scale) and return
 * its smallest cosine, in the same pass over memory. The diagonal (jd, or
 * none when jd is outside [0, N)) is 1 by definition and takes part in the
 * minimum as 1, whatever its scaled value was. */
static float scale_row_min_(float *s, int64_t N, double ri, const double *r_cols, int64_t jd) {
  int64_t cut = jd >= 0 && jd < N ? jd : N;
  float smin = cut < N ? 1.0f : INFINITY;
  smin = scale_min_range_(s, 0, cut, ri, r_cols, smin);
  if (cut < N) {
    s[cut] = 1.0f;
    smin = scale_min_range_(s, cut + 1, N, ri, r_cols, smin);
  }
  return smin;
}

void tc_tail_scale(float *S, int64_t nrows, int64_t ncols, int64_t ld, const double *r_rows,
                   const double *r_cols, int64_t row0, int64_t col0) {
  for (int64_t i = 0; i < nrows; i++) {
    float *s = S + i * ld;
    (void)scale_min_range_(s, 0, ncols, r_rows[i], r_cols, INFINITY);
    int64_t jd = row0 + i - col0;
    /* S_ii = 1 by definition, also for a zero embedding (similar to itself only) */
    if (jd >= 0 && jd < ncols) s[jd] = 1.0f;
  }
}

static int64_t count_at_least_(const float *row, int64_t N, float t) {
  int64_t c = 0;
  /* step 3 compares the raw, unquantised S */
  for (int64_t j = 0; j < N; j++) c += row[j] >= t;
  return c;
}

TcErr tc_tail_scale_threshold_rows(float *S, int64_t nrows, int64_t N, int64_t ld,
                                   const double *r_all, int64_t row0, double p, float *th,
                                   int64_t *count) {
  if (nrows == 0) return TC_OK;
  int32_t *hist = tc_calloc((size_t)N + 2, sizeof(int32_t), "threshold histogram");
  if (!hist) return TC_ERR_MEM;
  for (int64_t i = 0; i < nrows; i++) {
    float *row = S + i * ld;
    float smin = scale_row_min_(row, N, r_all[row0 + i], r_all, row0 + i);
    float t = row_threshold_from_min_(row, N, p, smin, hist);
    th[i] = t;
    count[i] = count_at_least_(row, N, t);
  }
  free(hist);
  return TC_OK;
}

TcErr tc_tail_threshold_rows(const float *S, int64_t nrows, int64_t N, int64_t ld, double p,
                             float *th, int64_t *count) {
  if (nrows == 0) return TC_OK;
  int32_t *hist = tc_calloc((size_t)N + 2, sizeof(int32_t), "threshold histogram");
  if (!hist) return TC_ERR_MEM;
  for (int64_t i = 0; i < nrows; i++) {
    const float *row = S + i * ld;
    float t = tc_tail_row_threshold(row, N, p, hist);
    th[i] = t;
    count[i] = count_at_least_(row, N, t);
  }
  free(hist);
  return TC_OK;
}

/* ---- step 4: the mode vote -------------------------------------------- */

TcErr tc_tail_vote_rows(const float *S, int64_t nrows, int64_t N, int64_t ld,
                        const float *th_all, const int64_t *count_all, int64_t *kappa) {
  if (nrows == 0) return TC_OK;
  int32_t *freq = tc_calloc((size_t)N + 1, sizeof(int32_t), "vote histogram");
  int64_t *touched = tc_malloc(((size_t)N + 1) * sizeof(int64_t), "vote list");
  if (!freq || !touched) {
    free(freq);
    free(touched);
    return TC_ERR_MEM;
  }
  TcErr err = TC_OK;
  for (int64_t jr = 0; jr < nrows; jr++) {
    const float *row = S + jr * ld;
    int64_t nt = 0;
    /* i sees j when S_ij >= th_i; S_ij = S_ji, so row j suffices. Few i
     * see a given j: compare 8 at a time and visit only the hits. */
    int64_t i = 0;
#ifdef __AVX2__
    for (; i + 8 <= N; i += 8) {
      int m = _mm256_movemask_ps(
          _mm256_cmp_ps(_mm256_loadu_ps(row + i), _mm256_loadu_ps(th_all + i), _CMP_GE_OQ));
      while (m) {
        int t = __builtin_ctz((unsigned)m);
        m &= m - 1;
        int64_t c = count_all[i + t];
        if (c < 0 || c > N) goto bad_count;
        if (freq[c]++ == 0) touched[nt++] = c;
      }
    }
#endif
    for (; i < N; i++) {
      if (row[i] >= th_all[i]) {
        int64_t c = count_all[i];
        if (c < 0 || c > N) goto bad_count;
        if (freq[c]++ == 0) touched[nt++] = c;
      }
    }
    int64_t best = 0;
    int32_t best_f = -1;
    for (int64_t t = 0; t < nt; t++) {
      int64_t c = touched[t];
      /* the smallest value wins a tie */
      if (freq[c] > best_f || (freq[c] == best_f && c < best)) {
        best = c;
        best_f = freq[c];
      }
      freq[c] = 0;
    }
    kappa[jr] = best;
  }
  goto cleanup;
bad_count:
  err = tc_err_set(TC_ERR_INTERNAL, "tailsampler: a count is out of [0, %lld]", (long long)N);
cleanup:
  free(freq);
  free(touched);
  return err;
}

/* ---- step 5: class cardinalities -------------------------------------- */

static int cmp_i64_asc_(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static int cmp_i64_desc_(const void *a, const void *b) { return cmp_i64_asc_(b, a); }

TcErr tc_tail_cardinalities(const int64_t *kappa, int64_t N, int64_t **eta, int64_t *neta) {
  *eta = NULL;
  *neta = 0;
  TC_CHECK(N >= 1, TC_ERR_USAGE, "tailsampler: no images");
  int64_t *v = tc_malloc((size_t)N * sizeof(int64_t), "sorted class sizes");
  int64_t *out = tc_malloc((size_t)N * sizeof(int64_t), "cardinalities");
  if (!v || !out) {
    free(v);
    free(out);
    return TC_ERR_MEM;
  }
  for (int64_t j = 0; j < N; j++) v[j] = kappa[j] < 1 ? 1 : kappa[j];
  qsort(v, (size_t)N, sizeof(int64_t), cmp_i64_asc_);
  int64_t n_out = 0, pos = 0;
  while (pos < N) {
    int64_t g = v[pos], remaining = N - pos;
    if (remaining < g) {
      /* leftovers join the last class found, or form one class if none */
      if (n_out > 0) out[n_out - 1] += remaining;
      else out[n_out++] = remaining;
      break;
    }
    double sum = 0.0;
    for (int64_t t = 0; t < g; t++) sum += (double)v[pos + t];
    int64_t e = (int64_t)rint(sum / (double)g); /* half to even, as np.round */
    if (e > remaining) e = remaining;
    if (e < 1) e = 1;
    out[n_out++] = e;
    pos += e;
  }
  free(v);
  qsort(out, (size_t)n_out, sizeof(int64_t), cmp_i64_desc_);
  *eta = out;
  *neta = n_out;
  return TC_OK;
}

/* ---- step 6: K_max = min(K_elbow, K_cap) ------------------------------- */

void tc_tail_kmax(const int64_t *eta, int64_t neta, int64_t *k_elbow, int64_t *k_cap,
                  int64_t *k_max, double *dist) {
  /* elbow: distance of (t, eta_t) to the line through (0, eta_0) and
   * (L-1, eta_{L-1}) is |dy t - dx (eta_t - eta_0)| / sqrt(dx^2 + dy^2);
   * the integer numerator decides, so ties are exact and the first wins */
  int64_t L = neta, dx = L - 1, dy = eta[L - 1] - eta[0];
  double norm = sqrt((double)dx * (double)dx + (double)dy * (double)dy);
  int64_t best_t = 0, best_num = -1;
  for (int64_t t = 0; t < L; t++) {
    int64_t num = dy * t - dx * (eta[t] - eta[0]);
    if (num < 0) num = -num;
    if (dist) dist[t] = norm > 0.0 ? (double)num / norm : 0.0;
    if (num > best_num) {
      best_num = num;
      best_t = t;
    }
  }
  *k_elbow = eta[best_t];
  /* cap: the largest class size whose ascending cumulative sum stays within
   * 15% of all images */
  int64_t total = 0;
  for (int64_t t = 0; t < L; t++) total += eta[t];
  int64_t n15 = (int64_t)floor(0.15 * (double)total);
  int64_t k = 0, cum = 0;
  for (int64_t t = L - 1; t >= 0; t--) {
    cum += eta[t];
    if (cum > n15) break;
    k++;
  }
  int64_t idx = L - k < L - 1 ? L - k : L - 1;
  *k_cap = eta[idx];
  *k_max = *k_elbow < *k_cap ? *k_elbow : *k_cap;
}

int64_t tc_tail_kmax_rule(int cut, const int64_t *eta, int64_t neta, int64_t k_elbow,
                          int64_t k_cap) {
  int64_t paper = k_elbow < k_cap ? k_elbow : k_cap;
  if (cut == TC_TAIL_CUT_ELBOW) return k_elbow;
  if (cut != TC_TAIL_CUT_GAP || neta < 2) return paper;
  /* eta_t / eta_{t+1} > eta_b / eta_{b+1}  <=>  eta_t eta_{b+1} > eta_b eta_{t+1}
   * (all >= 1; products of image counts below 2^24 fit int64) */
  int64_t b = 0;
  for (int64_t t = 1; t + 1 < neta; t++)
    if (eta[t] * eta[b + 1] > eta[b] * eta[t + 1]) b = t;
  return 2 * eta[b] >= 3 * eta[b + 1] ? eta[b + 1] : paper;
}

/* ---- results ----------------------------------------------------------- */

TcErr tc_tail_result_create(int64_t N, TcTailResult **out) {
  *out = NULL;
  TcTailResult *r = tc_calloc(1, sizeof *r, "tail result");
  if (!r) return TC_ERR_MEM;
  size_t n = (size_t)(N > 0 ? N : 1);
  r->N = N;
  r->th = tc_calloc(n, sizeof(float), "th");
  r->count = tc_calloc(n, sizeof(int64_t), "count");
  r->kappa = tc_calloc(n, sizeof(int64_t), "kappa");
  r->is_tail = tc_calloc(n, 1, "is_tail");
  if (!r->th || !r->count || !r->kappa || !r->is_tail) {
    tc_tail_result_destroy(&r);
    return TC_ERR_MEM;
  }
  *out = r;
  return TC_OK;
}

void tc_tail_result_destroy(TcTailResult **r) {
  if (!r || !*r) return;
  free((*r)->th);
  free((*r)->count);
  free((*r)->kappa);
  free((*r)->is_tail);
  free((*r)->eta);
  free((*r)->elbow_dist);
  free(*r);
  *r = NULL;
}

TcErr tc_tail_finish(TcTailResult *r) {
  free(r->eta);
  free(r->elbow_dist);
  r->eta = NULL;
  r->elbow_dist = NULL;
  TC_CALL(tc_tail_cardinalities(r->kappa, r->N, &r->eta, &r->neta));
  r->elbow_dist = tc_malloc((size_t)r->neta * sizeof(double), "elbow distances");
  if (!r->elbow_dist) return TC_ERR_MEM;
  tc_tail_kmax(r->eta, r->neta, &r->k_elbow, &r->k_cap, &r->k_max, r->elbow_dist);
  r->k_max = tc_tail_kmax_rule(r->cut, r->eta, r->neta, r->k_elbow, r->k_cap);
  for (int64_t j = 0; j < r->N; j++) r->is_tail[j] = r->kappa[j] <= r->k_max; /* step 7 */
  return TC_OK;
}

/* ---- the whole thing in one process ----------------------------------- */

/* S rows [row0, row0 + nrows) into panel [nrows x N] as exact dots, not yet
 * scaled into cosines (the row steps scale them on their pass over memory). */
static TcErr gram_panel_(const float *A, const double *r, int64_t N, int64_t E, int64_t row0,
                         int64_t nrows, float *panel) {
  TC_CHECK(N <= 2147483647 && E <= 2147483647, TC_ERR_USAGE,
           "tailsampler: N = %lld or E = %lld too large for BLAS int", (long long)N,
           (long long)E);
  int n = (int)N, m = (int)nrows, k = (int)E;
  const float one = 1.0f, zero = 0.0f;
  /* row-major panel = A_rows A^T is column-major panel^T = A^T(all) x A_rows */
  sgemm_("T", "N", &n, &m, &k, &one, A, &k, A + row0 * E, &k, &zero, panel, &n);
  return TC_OK;
}

TcErr tc_tail_run(const float *X, int64_t N, int64_t E, double p, TcTailResult **out) {
  return tc_tail_run_opts(X, N, E, p, TC_TAIL_NORM_NONE, TC_TAIL_CUT_CAP, out);
}

TcErr tc_tail_run_opts(const float *X, int64_t N, int64_t E, double p, int norm, int cut,
                       TcTailResult **out) {
  *out = NULL;
  TC_CHECK(N >= 1 && E >= 1, TC_ERR_USAGE, "tailsampler: need N >= 1 and E >= 1");
  TC_CHECK(p >= 0.0 && p <= 1.0, TC_ERR_USAGE, "tailsampler: tail-p %g not in [0, 1]", p);
  TC_CHECK(norm == TC_TAIL_NORM_NONE || norm == TC_TAIL_NORM_CENTER, TC_ERR_USAGE,
           "tailsampler: unknown embedding norm %d", norm);
  TC_CHECK(cut >= TC_TAIL_CUT_CAP && cut <= TC_TAIL_CUT_GAP, TC_ERR_USAGE,
           "tailsampler: unknown tail cut %d", cut);
  TcErr err = TC_OK;
  TcTailResult *r = NULL;
  float *Xc = NULL;
  int64_t *csum = NULL;
  if (norm == TC_TAIL_NORM_CENTER) {
    Xc = tc_malloc((size_t)N * (size_t)E * sizeof(float), "centred embeddings");
    csum = tc_calloc((size_t)E, sizeof(int64_t), "embedding sums");
    if (!Xc || !csum) {
      free(Xc);
      free(csum);
      return TC_ERR_MEM;
    }
    int64_t bad = tc_tail_center_sums(X, N, E, csum);
    if (bad != -1) {
      free(Xc);
      free(csum);
      if (bad == -2) return TC_ERR_MEM;
      return tc_err_set(TC_ERR_FORMAT, "tailsampler: embedding of image %lld is not finite", (long long)bad);
    }
    tc_tail_center_apply(X, N, E, csum, N, Xc);
    free(csum);
    X = Xc;
  }
  float *A = tc_malloc_aligned((size_t)N * (size_t)E * sizeof(float), "quantised embeddings");
  double *rn = tc_malloc((size_t)N * sizeof(double), "inverse norms");
  int64_t R = N < 256 ? N : 256;
  float *panel = tc_malloc_aligned((size_t)R * (size_t)N * sizeof(float), "Gram panel");
  if (!A || !rn || !panel) {
    err = TC_ERR_MEM;
    goto cleanup;
  }
  TC_CALL_GOTO(err, tc_tail_result_create(N, &r), cleanup);
  r->cut = cut;
  int64_t bad = tc_tail_quantise(X, N, E, A, rn);
  if (bad >= 0) {
    err = tc_err_set(TC_ERR_FORMAT, "tailsampler: embedding of image %lld is not finite", (long long)bad);
    goto cleanup;
  }
  /* two passes over panels, as the streaming driver does */
  for (int64_t i0 = 0; i0 < N; i0 += R) {
    int64_t nr = N - i0 < R ? N - i0 : R;
    TC_CALL_GOTO(err, gram_panel_(A, rn, N, E, i0, nr, panel), cleanup);
    TC_CALL_GOTO(err, tc_tail_scale_threshold_rows(panel, nr, N, N, rn, i0, p, r->th + i0,
                                                   r->count + i0),
                 cleanup);
  }
  for (int64_t i0 = 0; i0 < N; i0 += R) {
    int64_t nr = N - i0 < R ? N - i0 : R;
    TC_CALL_GOTO(err, gram_panel_(A, rn, N, E, i0, nr, panel), cleanup);
    tc_tail_scale(panel, nr, N, N, rn + i0, rn, i0, 0);
    TC_CALL_GOTO(err, tc_tail_vote_rows(panel, nr, N, N, r->th, r->count, r->kappa + i0),
                 cleanup);
  }
  TC_CALL_GOTO(err, tc_tail_finish(r), cleanup);
  *out = r;
  r = NULL;
cleanup:
  tc_tail_result_destroy(&r);
  free(Xc);
  free(A);
  free(rn);
  free(panel);
  return err;
}

/* ---- Table 5 diagnostics ----------------------------------------------- */

typedef struct {
  double score;
  int pos;
} ScoreLabel_;

static int cmp_score_(const void *a, const void *b) {
  double x = ((const ScoreLabel_ *)a)->score, y = ((const ScoreLabel_ *)b)->score;
  return (x > y) - (x < y);
}

TcErr tc_tail_diagnostics(int64_t N, const int64_t *kappa, const uint8_t *is_tail,
                          const int64_t *cls, const uint8_t *is_noise,
                          const uint8_t *is_tail_class, TcTailDiag *d) {
  memset(d, 0, sizeof *d);
  TC_CHECK(N >= 1, TC_ERR_USAGE, "diagnostics: no images");
  TcErr err = TC_OK;
  int64_t *sorted = tc_malloc((size_t)N * sizeof(int64_t), "class labels");
  int64_t *csize = tc_malloc((size_t)N * sizeof(int64_t), "class sizes");
  ScoreLabel_ *sl = tc_malloc((size_t)N * sizeof(ScoreLabel_), "scores");
  if (!sorted || !csize || !sl) {
    err = TC_ERR_MEM;
    goto cleanup;
  }
  memcpy(sorted, cls, (size_t)N * sizeof(int64_t));
  qsort(sorted, (size_t)N, sizeof(int64_t), cmp_i64_asc_);
  for (int64_t j = 0; j < N; j++) d->n_classes += (j == 0 || sorted[j] != sorted[j - 1]);
  for (int64_t j = 0; j < N; j++) {
    /* |C_j| = number of labels equal to cls[j]: a range in the sorted copy */
    int64_t lo = 0, hi = N;
    while (lo < hi) {
      int64_t mid = (lo + hi) / 2;
      if (sorted[mid] < cls[j]) lo = mid + 1; else hi = mid;
    }
    int64_t first = lo;
    hi = N;
    while (lo < hi) {
      int64_t mid = (lo + hi) / 2;
      if (sorted[mid] <= cls[j]) lo = mid + 1; else hi = mid;
    }
    csize[j] = lo - first;
  }
  int64_t miss = 0, inc_noise = 0, inc_head = 0;
  double wsum = 0.0, werr = 0.0;
  int64_t npos = 0;
  for (int64_t j = 0; j < N; j++) {
    if (is_noise[j]) {
      d->n_noise++;
      inc_noise += is_tail[j] != 0;
    } else if (is_tail_class[j]) {
      d->n_tail_samples++;
      miss += is_tail[j] == 0;
    } else {
      d->n_head_samples++;
      inc_head += is_tail[j] != 0;
    }
    double w = 1.0 / (double)csize[j];
    wsum += w;
    werr += w * fabs((double)kappa[j] - (double)csize[j]);
    sl[j].score = -(double)kappa[j];
    sl[j].pos = is_tail_class[j] != 0;
    npos += sl[j].pos;
  }
  d->missing_tail = d->n_tail_samples ? (double)miss / (double)d->n_tail_samples : NAN;
  d->included_noise = d->n_noise ? (double)inc_noise / (double)d->n_noise : NAN;
  d->included_head = d->n_head_samples ? (double)inc_head / (double)d->n_head_samples : NAN;
  d->class_size_error = werr / wsum;
  /* AUROC by average ranks (Mann-Whitney), ties counted half as sklearn does */
  int64_t nneg = N - npos;
  if (npos == 0 || nneg == 0) {
    d->auroc_tail = NAN;
  } else {
    qsort(sl, (size_t)N, sizeof *sl, cmp_score_);
    double rank_sum = 0.0;
    for (int64_t a = 0; a < N;) {
      int64_t b = a;
      while (b < N && sl[b].score == sl[a].score) b++;
      double avg = 0.5 * (double)(a + 1 + b); /* mean of ranks a+1..b */
      for (int64_t t = a; t < b; t++) rank_sum += sl[t].pos ? avg : 0.0;
      a = b;
    }
    d->auroc_tail = (rank_sum - (double)npos * (double)(npos + 1) / 2.0) /
                    ((double)npos * (double)nneg);
  }
cleanup:
  free(sorted);
  free(csize);
  free(sl);
  return err;
}
