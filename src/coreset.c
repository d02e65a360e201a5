/* coreset.c - greedy coreset, plain and triangle-pruned (DESIGN 3.5). */
#include "coreset.h"

#include <math.h>
#ifdef __AVX2__
#include <immintrin.h>
#endif
#include <stdlib.h>
#include <string.h>

#include "rng.h"
#include "sketch.h"

#define PRUNE_MARGIN 4.004f /* 4 * (1 + 1e-3): see coreset.h */

struct TcCoreset {
  const float *X;
  const void *E;     /* encoded rows (narrow precisions) */
  TcCoresetPrec prec;
  int64_t n;
  int dim;
  int pruned;
  float *mind2;      /* [n] */
  int32_t *assign;   /* [n] slot of the centre realising mind2, -1 none (pruned only) */
  float *centres;    /* [cap x dim] centre vectors that own local points (pruned only) */
  int32_t *owned;    /* [cap] local points assigned to each slot */
  int32_t *free_slots;
  int32_t nfree, nslots, cap;
  float *dc;         /* [cap] d2(new centre, slot centre) */
  TcSketch sk;       /* sketch filter (float32 rows only) */
  float *skip_t;     /* [n] tc_sketch_threshold of each point's minimum */
  int8_t *ccode;     /* [R] the centre's sketch code */
  int64_t evaluated;
};

int64_t tc_coreset_target(int64_t n, double ratio) {
  if (n <= 0) return 0;
  int64_t m = (int64_t)floor((double)n * ratio);
  if (m < 1) m = 1;
  if (m > n) m = n;
  return m;
}

int64_t tc_coreset_first(uint64_t seed, int64_t n) {
  return tc_rng_index(seed, TC_RNG_STREAM_CORESET, 0, n);
}

TcErr tc_coreset_create(const float *X, int64_t n, int dim, int pruned, TcCoreset **out) {
  *out = NULL;
  TC_CHECK(n >= 0 && dim >= 1, TC_ERR_INTERNAL, "tc_coreset_create: bad sizes");
  TC_CHECK(!pruned || n < INT32_MAX, TC_ERR_USAGE, "pruned coreset: %lld local points is too many",
           (long long)n);
  TcCoreset *s = tc_calloc(1, sizeof *s, "coreset state");
  if (!s) return TC_ERR_MEM;
  s->X = X;
  s->E = X;
  s->n = n;
  s->dim = dim;
  s->pruned = pruned;
  s->mind2 = tc_malloc_aligned((size_t)(n > 0 ? n : 1) * sizeof(float), "coreset minima");
  if (!s->mind2) goto oom;
  for (int64_t i = 0; i < n; i++) s->mind2[i] = INFINITY;
  if (pruned == TC_CORESET_SKETCH ||
      (pruned == TC_CORESET_FILTERED && n >= TC_CORESET_SKETCH_MIN_N && dim <= TC_CORESET_SKETCH_MAX_DIM)) {
    if (n >= 1) {
      TcErr err = tc_sketch_build(X, n, dim, &s->sk);
      if (err) {
        tc_coreset_destroy(&s);
        return err;
      }
      s->skip_t = tc_malloc_aligned((size_t)n * sizeof(float), "coreset sketch thresholds");
      s->ccode = tc_malloc((size_t)s->sk.R, "coreset sketch centre");
      if (!s->skip_t || !s->ccode) goto oom;
      for (int64_t i = 0; i < n; i++) s->skip_t[i] = INFINITY;
    }
    s->pruned = TC_CORESET_SKETCH;
  } else if (pruned) {
    s->pruned = TC_CORESET_TRIANGLE;
    s->assign = tc_malloc((size_t)(n > 0 ? n : 1) * sizeof(int32_t), "coreset assignment");
    if (!s->assign) goto oom;
    for (int64_t i = 0; i < n; i++) s->assign[i] = -1;
  }
  *out = s;
  return TC_OK;
oom:
  tc_coreset_destroy(&s);
  return TC_ERR_MEM;
}

void tc_coreset_destroy(TcCoreset **ps) {
  if (!ps || !*ps) return;
  TcCoreset *s = *ps;
  free(s->mind2);
  free(s->assign);
  free(s->centres);
  free(s->owned);
  free(s->free_slots);
  free(s->dc);
  tc_sketch_free(&s->sk);
  free(s->skip_t);
  free(s->ccode);
  free(s);
  *ps = NULL;
}

int64_t tc_coreset_evaluated(const TcCoreset *s) { return s->evaluated; }
const float *tc_coreset_mind2(const TcCoreset *s) { return s->mind2; }

static TcErr plain_step_(TcCoreset *s, const float *c, int64_t *best, float *best_d2) {
  const int dim = s->dim;
  float *restrict md = s->mind2;
  int64_t bi = -1;
  float bv = -1.0f;
  for (int64_t i = 0; i < s->n; i++) {
    float d = tc_coreset_d2(s->X + i * dim, c, dim);
    if (d < md[i]) md[i] = d;
    if (md[i] > bv) { bv = md[i]; bi = i; }
  }
  s->evaluated += s->n;
  *best = bi;
  *best_d2 = bv;
  return TC_OK;
}

/* The sketch filter (sketch.h): the float32 d2 is computed only where the
 * sketch's lower bound does not already exceed the point's minimum, so the
 * minima are the plain loop's, bit for bit. A point's threshold changes only
 * when its minimum does. Blocks of points go through three passes: the
 * bound (eight points at a time with AVX2), the exact d2 of the few
 * candidates (rows prefetched: they are scattered, and each would be a
 * cache miss), then the argmax. */
#define SKETCH_BLOCK 2048
#ifdef __AVX2__
/* Candidates among 8 consecutive points (AoS codes, R a multiple of 16): bit
 * k set when point k must be evaluated. The same float operations in the
 * same order as the portable test, so the same bits. */
static inline unsigned filter8_(const int8_t *restrict Q, int R, const int8_t *restrict cq,
                                const float *restrict t, float u) {
  __m256i a[8];
  for (int p = 0; p < 8; p++) a[p] = _mm256_setzero_si256();
  for (int c = 0; c < R; c += 16) {
    const __m256i y = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(cq + c)));
    for (int p = 0; p < 8; p++) {
      const __m256i x = _mm256_cvtepi8_epi16(_mm_loadu_si128((const __m128i *)(Q + (size_t)p * R + c)));
      const __m256i d = _mm256_sub_epi16(x, y);
      a[p] = _mm256_add_epi32(a[p], _mm256_madd_epi16(d, d));
    }
  }
  /* eight horizontal sums at once: point p's total lands in lane p */
  const __m256i s01 = _mm256_hadd_epi32(a[0], a[1]), s23 = _mm256_hadd_epi32(a[2], a[3]);
  const __m256i s45 = _mm256_hadd_epi32(a[4], a[5]), s67 = _mm256_hadd_epi32(a[6], a[7]);
  const __m256i s03 = _mm256_hadd_epi32(s01, s23), s47 = _mm256_hadd_epi32(s45, s67);
  const __m256i sum = _mm256_add_epi32(_mm256_permute2x128_si256(s03, s47, 0x20),
                                       _mm256_permute2x128_si256(s03, s47, 0x31));
  const __m256 th = _mm256_add_ps(_mm256_loadu_ps(t), _mm256_set1_ps(u));
  const __m256 lim = _mm256_mul_ps(_mm256_mul_ps(th, th), _mm256_set1_ps(1.000001f));
  const __m256 skip = _mm256_cmp_ps(_mm256_cvtepi32_ps(sum), lim, _CMP_GT_OQ);
  return ~(unsigned)_mm256_movemask_ps(skip) & 0xffu;
}

/* First index of the largest of v [n] (lowest index on ties), -1 when n = 0;
 * lanes keep their first maximum, then the lanes are merged by (value,
 * index). */
static inline int64_t argmax_(const float *restrict v, int64_t n, float *best) {
  __m256 vb = _mm256_set1_ps(-1.0f);
  __m256i vi = _mm256_set1_epi32(-1), idx = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
  const __m256i eight = _mm256_set1_epi32(8);
  int64_t k = 0;
  for (; k + 8 <= n; k += 8) {
    const __m256 x = _mm256_loadu_ps(v + k);
    const __m256 gt = _mm256_cmp_ps(x, vb, _CMP_GT_OQ);
    vb = _mm256_blendv_ps(vb, x, gt);
    vi = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(vi), _mm256_castsi256_ps(idx), gt));
    idx = _mm256_add_epi32(idx, eight);
  }
  float lv[8];
  int32_t li[8];
  _mm256_storeu_ps(lv, vb);
  _mm256_storeu_si256((__m256i *)li, vi);
  float bv = -1.0f;
  int64_t bi = -1;
  for (int l = 0; l < 8; l++)
    if (li[l] >= 0 && (lv[l] > bv || (lv[l] == bv && li[l] < bi))) { bv = lv[l]; bi = li[l]; }
  for (; k < n; k++)
    if (v[k] > bv) { bv = v[k]; bi = k; }
  *best = bv;
  return bi;
}
#else
static inline int64_t argmax_(const float *restrict v, int64_t n, float *best) {
  float bv = -1.0f;
  int64_t bi = -1;
  for (int64_t k = 0; k < n; k++)
    if (v[k] > bv) { bv = v[k]; bi = k; }
  *best = bv;
  return bi;
}
#endif

static TcErr sketch_step_(TcCoreset *s, const float *c, int64_t *best, float *best_d2) {
  const int dim = s->dim, R = s->sk.R;
  float u = 0;
  if (s->n > 0) tc_sketch_centre(&s->sk, c, s->ccode, &u);
  const int8_t *restrict Q = s->sk.code, *restrict cq = s->ccode;
  float *restrict md = s->mind2, *restrict t = s->skip_t;
  int32_t cand[SKETCH_BLOCK];
  int64_t bi = -1, evaluated = 0;
  float bv = -1.0f;
  for (int64_t i0 = 0; i0 < s->n; i0 += SKETCH_BLOCK) {
    const int64_t bn = s->n - i0 < SKETCH_BLOCK ? s->n - i0 : SKETCH_BLOCK;
    int nc = 0;
    int64_t k = 0;
#ifdef __AVX2__
    if (R % 16 == 0)
      for (; k + 8 <= bn; k += 8)
        for (unsigned m = filter8_(Q + (i0 + k) * R, R, cq, t + i0 + k, u); m; m &= m - 1)
          cand[nc++] = (int32_t)k + __builtin_ctz(m);
#endif
    for (; k < bn; k++) {
      const int64_t i = i0 + k;
      const float th = t[i] + u, lim = th * th * 1.000001f;
      const int32_t d = tc_i8_d2(Q + i * R, cq, R);
      cand[nc] = (int32_t)k;
      nc += !((float)d > lim);
    }
    for (int j = 0; j < nc; j++) {
      if (j + 4 < nc) {
        const char *p = (const char *)(s->X + (i0 + cand[j + 4]) * dim);
        for (int b = 0; b < dim * 4; b += 64) __builtin_prefetch(p + b);
      }
      const int64_t i = i0 + cand[j];
      const float d = tc_coreset_d2(s->X + i * dim, c, dim);
      if (d < md[i]) {
        md[i] = d;
        t[i] = tc_sketch_threshold(&s->sk, d, s->sk.resid[i]);
      }
    }
    evaluated += nc;
    float v;
    const int64_t b = argmax_(md + i0, bn, &v);
    if (b >= 0 && v > bv) { bv = v; bi = i0 + b; }
  }
  s->evaluated += evaluated;
  *best = bi;
  *best_d2 = bv;
  return TC_OK;
}

/* A slot for the new centre; recycled from slots whose points all left. */
static TcErr new_slot_(TcCoreset *s, int32_t *slot) {
  if (s->nfree > 0) { *slot = s->free_slots[--s->nfree]; return TC_OK; }
  if (s->nslots == s->cap) {
    int32_t cap = s->cap ? 2 * s->cap : 64;
    if (cap > s->n + 1) cap = (int32_t)s->n + 1;
    float *c = realloc(s->centres, (size_t)cap * s->dim * sizeof(float));
    if (c) s->centres = c;
    int32_t *o = realloc(s->owned, (size_t)cap * sizeof(int32_t));
    if (o) s->owned = o;
    int32_t *f = realloc(s->free_slots, (size_t)cap * sizeof(int32_t));
    if (f) s->free_slots = f;
    float *dc = realloc(s->dc, (size_t)cap * sizeof(float));
    if (dc) s->dc = dc;
    if (!c || !o || !f || !dc) return tc_err_set(TC_ERR_MEM, "out of memory growing coreset centres");
    s->cap = cap;
  }
  *slot = s->nslots++;
  return TC_OK;
}

static inline float bf16_f32_(uint16_t h) {
  uint32_t u = (uint32_t)h << 16;
  float f;
  memcpy(&f, &u, sizeof f);
  return f;
}

/* The pinned order of tc_coreset_d2 over decoded values, so bf16 ties and
 * bits are as reproducible as the float32 ones. */
static inline float d2_bf16_(const uint16_t *restrict a, const uint16_t *restrict b, int dim) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= dim; j += 8)
    for (int l = 0; l < 8; l++) {
      float t = bf16_f32_(a[j + l]) - bf16_f32_(b[j + l]);
      acc[l] += t * t;
    }
  for (int l = 0; j + l < dim; l++) {
    float t = bf16_f32_(a[j + l]) - bf16_f32_(b[j + l]);
    acc[l] += t * t;
  }
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}


/* d2 of two encoded rows: the exact step's pinned sum for float32, the same
 * sum over decoded values for bf16, the exact integer sum for int8. */
static inline float d2_enc_(TcCoresetPrec prec, const void *a, const void *b, int dim) {
  switch (prec) {
  case TC_CORESET_BF16: return d2_bf16_(a, b, dim);
  case TC_CORESET_I8: return (float)tc_i8_d2(a, b, dim);
  default: return tc_coreset_d2(a, b, dim);
  }
}

/* The triangle test holds in every precision: int8 distances are exact
 * Euclidean distances between the integer points, bf16 ones are float32
 * distances between the decoded points (the margin argument of coreset.h). */
static TcErr pruned_step_(TcCoreset *s, const void *c, int64_t *best, float *best_d2) {
  const int dim = s->dim;
  const TcCoresetPrec prec = s->prec;
  const size_t rb = tc_coreset_row_bytes(prec, dim);
  const char *R = s->E, *C = (const char *)s->centres;
  /* distances from the new centre to every live slot centre; a free slot
   * owns no point, so its value is never read */
  for (int32_t a = 0; a < s->nslots; a++)
    s->dc[a] = s->owned[a] > 0 ? d2_enc_(prec, C + (size_t)a * rb, c, dim) : 0.0f;
  int32_t slot = -1;
  TC_CALL(new_slot_(s, &slot));
  s->owned[slot] = 0;
  float *restrict md = s->mind2;
  int32_t *restrict as = s->assign;
  int64_t bi = -1, evaluated = 0;
  float bv = -1.0f;
  for (int64_t i = 0; i < s->n; i++) {
    int32_t a = as[i];
    if (a < 0 || !(s->dc[a] > PRUNE_MARGIN * md[i])) {
      float d = d2_enc_(prec, R + i * rb, c, dim);
      evaluated++;
      if (d < md[i]) {
        md[i] = d;
        if (a >= 0 && --s->owned[a] == 0) s->free_slots[s->nfree++] = a;
        as[i] = slot;
        s->owned[slot]++;
      }
    }
    if (md[i] > bv) { bv = md[i]; bi = i; }
  }
  if (s->owned[slot] > 0) memcpy((char *)s->centres + (size_t)slot * rb, c, rb);
  else s->free_slots[s->nfree++] = slot;
  s->evaluated += evaluated;
  *best = bi;
  *best_d2 = bv;
  return TC_OK;
}

static TcErr bf16_step_(TcCoreset *s, const uint16_t *c, int64_t *best, float *best_d2) {
  const int dim = s->dim;
  const uint16_t *X = s->E;
  float *restrict md = s->mind2;
  int64_t bi = -1;
  float bv = -1.0f;
  for (int64_t i = 0; i < s->n; i++) {
    float d = d2_bf16_(X + i * dim, c, dim);
    if (d < md[i]) md[i] = d;
    if (md[i] > bv) { bv = md[i]; bi = i; }
  }
  s->evaluated += s->n;
  *best = bi;
  *best_d2 = bv;
  return TC_OK;
}

static TcErr i8_step_(TcCoreset *s, const int8_t *c, int64_t *best, float *best_d2) {
  const int dim = s->dim;
  const int8_t *X = s->E;
  float *restrict md = s->mind2;
  int64_t bi = -1;
  float bv = -1.0f;
  for (int64_t i = 0; i < s->n; i++) {
    float d = (float)tc_i8_d2(X + i * dim, c, dim); /* exact: < 2^24 by qmax */
    if (d < md[i]) md[i] = d;
    if (md[i] > bv) { bv = md[i]; bi = i; }
  }
  s->evaluated += s->n;
  *best = bi;
  *best_d2 = bv;
  return TC_OK;
}

TcErr tc_coreset_step(TcCoreset *s, const float *c, int64_t *best, float *best_d2) {
  return tc_coreset_step_enc(s, c, best, best_d2);
}

TcErr tc_coreset_step_enc(TcCoreset *s, const void *c, int64_t *best, float *best_d2) {
  if (s->pruned == TC_CORESET_SKETCH) return sketch_step_(s, c, best, best_d2);
  if (s->pruned) return pruned_step_(s, c, best, best_d2);
  switch (s->prec) {
  case TC_CORESET_BF16: return bf16_step_(s, c, best, best_d2);
  case TC_CORESET_I8: return i8_step_(s, c, best, best_d2);
  default: return plain_step_(s, c, best, best_d2);
  }
}

TcErr tc_coreset_create_enc(const void *E, int64_t n, int dim, TcCoresetPrec prec, int pruned, TcCoreset **out) {
  /* the sketch bounds float32 distances; narrow codes keep the triangle */
  if (prec != TC_CORESET_F32 && pruned) pruned = TC_CORESET_TRIANGLE;
  TC_CALL(tc_coreset_create(prec == TC_CORESET_F32 ? E : NULL, n, dim, pruned, out));
  (*out)->E = E;
  (*out)->prec = prec;
  return TC_OK;
}

/* ------------------------------------------------------------ modes */

static int cmp_i64_(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

static double oversample_or_1_(const TcCoresetMode *mode) {
  return mode->oversample >= 1.0 ? mode->oversample : 1.0;
}

static const struct { const char *name; TcCoresetPrec prec; int rounds; } modes_[] = {
    {"exact", TC_CORESET_F32, 1},          {"bf16", TC_CORESET_BF16, 1},
    {"int8", TC_CORESET_I8, 1},            {"tworound", TC_CORESET_F32, 2},
    {"tworound-bf16", TC_CORESET_BF16, 2}, {"tworound-int8", TC_CORESET_I8, 2},
};

TcErr tc_coreset_mode_parse(const char *name, TcCoresetMode *mode) {
  for (size_t k = 0; k < sizeof modes_ / sizeof modes_[0]; k++)
    if (name && !strcmp(name, modes_[k].name)) {
      mode->prec = modes_[k].prec;
      mode->rounds = modes_[k].rounds;
      return TC_OK;
    }
  return tc_err_set(TC_ERR_USAGE, "--coreset-mode %s: expected exact, bf16, int8, tworound, tworound-bf16 or "
                    "tworound-int8", name ? name : "(null)");
}

const char *tc_coreset_mode_name(const TcCoresetMode *mode) {
  for (size_t k = 0; k < sizeof modes_ / sizeof modes_[0]; k++)
    if (mode->prec == modes_[k].prec && mode->rounds == modes_[k].rounds) return modes_[k].name;
  return "unknown";
}

size_t tc_coreset_row_bytes(TcCoresetPrec prec, int dim) {
  return (size_t)dim * (prec == TC_CORESET_F32 ? 4 : prec == TC_CORESET_BF16 ? 2 : 1);
}

int tc_coreset_i8_qmax(int dim) {
  /* dim * (2 qmax)^2 <= 2^24 - 1 keeps every d2 an exact float */
  int q = (int)floor(sqrt((double)((1 << 24) - 1) / (double)(dim > 0 ? dim : 1)) / 2.0);
  while (q > 1 && (int64_t)dim * 4 * q * q > (1 << 24) - 1) q--;
  return q > 127 ? 127 : q < 1 ? 1 : q;
}

float tc_coreset_maxabs(const float *X, int64_t n, int dim) {
  float m = 0.0f;
  for (int64_t i = 0; i < n * dim; i++) {
    float a = fabsf(X[i]);
    if (a > m) m = a;
  }
  return m;
}

static uint16_t f32_bf16_(float f) {
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  if ((u & 0x7f800000u) == 0x7f800000u) return (uint16_t)((u >> 16) | ((u & 0xffffu) ? 0x40u : 0u));
  u += 0x7fffu + ((u >> 16) & 1u); /* nearest, ties to even */
  return (uint16_t)(u >> 16);
}

void tc_coreset_encode(TcCoresetPrec prec, const float *X, int64_t n, int dim, float scale, void *out) {
  const int64_t cnt = n * dim;
  if (prec == TC_CORESET_F32) {
    memcpy(out, X, (size_t)cnt * sizeof(float));
  } else if (prec == TC_CORESET_BF16) {
    uint16_t *o = out;
    for (int64_t i = 0; i < cnt; i++) o[i] = f32_bf16_(X[i]);
  } else {
    int8_t *o = out;
    const int qmax = tc_coreset_i8_qmax(dim);
    const float inv = scale > 0 ? 1.0f / scale : 0.0f;
    for (int64_t i = 0; i < cnt; i++) {
      float q = nearbyintf(X[i] * inv);
      o[i] = (int8_t)(q > qmax ? qmax : q < -qmax ? -qmax : q);
    }
  }
}

TcErr tc_coreset_select_enc(const void *E, int64_t n, int dim, TcCoresetPrec prec, int pruned, const void *c0,
                            int64_t first, int64_t k, int64_t *idx) {
  return tc_coreset_select_enc_val(E, n, dim, prec, pruned, c0, first, k, idx, NULL);
}

TcErr tc_coreset_select_enc_val(const void *E, int64_t n, int dim, TcCoresetPrec prec, int pruned, const void *c0,
                                int64_t first, int64_t k, int64_t *idx, float *val) {
  TC_CHECK(n >= 1 && k >= 1 && k <= n && (c0 || (first >= 0 && first < n)), TC_ERR_INTERNAL,
           "tc_coreset_select_enc: bad sizes (n %lld, k %lld, first %lld)", (long long)n, (long long)k,
           (long long)first);
  const size_t rb = tc_coreset_row_bytes(prec, dim);
  const char *R = E;
  TcCoreset *s = NULL;
  TC_CALL(tc_coreset_create_enc(E, n, dim, prec, pruned, &s));
  TcErr err = TC_OK;
  int64_t t = 0;
  const void *c = c0;
  if (!c0) {
    if (val) val[t] = INFINITY;
    idx[t++] = first;
    c = R + first * rb;
  }
  for (; t < k; t++) {
    int64_t b;
    float bv;
    TC_CALL_GOTO(err, tc_coreset_step_enc(s, c, &b, &bv), cleanup);
    idx[t] = b;
    if (val) val[t] = bv;
    c = R + b * rb;
  }
cleanup:
  tc_coreset_destroy(&s);
  return err;
}

int64_t tc_coreset_nshards(int64_t n, int64_t shard) {
  if (n <= 0) return 0;
  if (shard < 1) shard = 1;
  return (n + shard - 1) / shard;
}

int64_t tc_coreset_shard_k(int64_t n, int64_t m, int64_t len, double oversample) {
  if (len <= 0 || n <= 0) return 0;
  double want = ceil(oversample * (double)m * (double)len / (double)n);
  int64_t k = want < 1 ? 1 : (int64_t)want;
  return k > len ? len : k;
}

TcErr tc_coreset_select_mode(const float *X, int64_t n, int dim, int64_t m, int64_t first,
                             const TcCoresetMode *mode, int64_t *idx, int64_t *m_got) {
  TC_CHECK(n >= 1 && m >= 1 && m <= n && first >= 0 && first < n, TC_ERR_INTERNAL,
           "tc_coreset_select_mode: bad sizes (n %lld, m %lld, first %lld)", (long long)n, (long long)m,
           (long long)first);
  const TcCoresetPrec prec = mode->prec;
  const size_t rb = tc_coreset_row_bytes(prec, dim);
  const float scale = (float)(tc_coreset_maxabs(X, n, dim) / tc_coreset_i8_qmax(dim));
  TcErr err = TC_OK;
  char *E = tc_malloc_aligned((size_t)n * rb, "encoded points");
  char *U = NULL;
  int64_t *uo = NULL, *pick = NULL, *ui = NULL;
  if (!E) return TC_ERR_MEM;
  tc_coreset_encode(prec, X, n, dim, scale > 0 ? scale : 1.0f, E);
  if (mode->rounds != 2) {
    err = tc_coreset_select_enc(E, n, dim, prec, mode->pruned, NULL, first, m, idx);
    *m_got = m;
    goto cleanup;
  }
  const int64_t ns = tc_coreset_nshards(n, mode->shard);
  int64_t ucap = 1;
  for (int64_t j = 0; j < ns; j++) ucap += tc_coreset_shard_k(n, m, (n - j + ns - 1) / ns, mode->oversample);
  U = tc_malloc_aligned((size_t)(ucap + (n + ns - 1) / ns) * rb, "two-round union");
  uo = tc_malloc((size_t)ucap * sizeof(int64_t), "two-round union ordinals");
  pick = tc_malloc((size_t)((n + ns - 1) / ns + 1) * sizeof(int64_t), "two-round picks");
  ui = tc_malloc((size_t)m * sizeof(int64_t), "two-round selection");
  if (!U || !uo || !pick || !ui) { err = TC_ERR_MEM; goto cleanup; }
  int64_t nu = 0, ufirst = -1;
  /* the shard rows go to the tail of U, the picks are appended in (shard,
   * ordinal) order; the first point sits at its ordinal's place */
  char *S = U + (size_t)ucap * rb;
  for (int64_t j = 0; j < ns; j++) {
    const int64_t len = (n - j + ns - 1) / ns, k = tc_coreset_shard_k(n, m, len, oversample_or_1_(mode));
    for (int64_t r = 0; r < len; r++) memcpy(S + r * rb, E + (j + r * ns) * rb, rb);
    TC_CALL_GOTO(err, tc_coreset_select_enc(S, len, dim, prec, mode->pruned, E + first * rb, 0, k, pick), cleanup);
    if (first % ns == j) pick[k] = (first - j) / ns;
    const int64_t kk = k + (first % ns == j);
    qsort(pick, (size_t)kk, sizeof(int64_t), cmp_i64_);
    for (int64_t r = 0; r < kk; r++) {
      if (r > 0 && pick[r] == pick[r - 1]) continue;
      const int64_t o = j + pick[r] * ns;
      if (o == first) ufirst = nu;
      memcpy(U + nu * rb, E + o * rb, rb);
      uo[nu++] = o;
    }
  }
  const int64_t mm = m < nu ? m : nu;
  TC_CALL_GOTO(err, tc_coreset_select_enc(U, nu, dim, prec, mode->pruned, NULL, ufirst, mm, ui), cleanup);
  for (int64_t t = 0; t < mm; t++) idx[t] = uo[ui[t]];
  *m_got = mm;
cleanup:
  free(E);
  free(U);
  free(uo);
  free(pick);
  free(ui);
  return err;
}

TcErr tc_coreset_select(const float *X, int64_t n, int dim, int64_t m, int64_t first, int pruned,
                        int64_t *idx, float *radius) {
  TC_CHECK(n >= 1 && m >= 1 && m <= n && first >= 0 && first < n, TC_ERR_INTERNAL,
           "tc_coreset_select: bad sizes (n %lld, m %lld, first %lld)", (long long)n, (long long)m,
           (long long)first);
  TcCoreset *s = NULL;
  TC_CALL(tc_coreset_create(X, n, dim, pruned, &s));
  TcErr err = TC_OK;
  idx[0] = first;
  for (int64_t t = 1; t <= m; t++) {
    if (t == m && !radius) break;
    int64_t b;
    float bv;
    TC_CALL_GOTO(err, tc_coreset_step(s, X + idx[t - 1] * dim, &b, &bv), cleanup);
    if (radius) radius[t - 1] = bv;
    if (t < m) idx[t] = b;
  }
cleanup:
  tc_coreset_destroy(&s);
  return err;
}

int64_t tc_coreset_group_k(int64_t m, int64_t group) {
  return m < group ? m : group;
}

TcErr tc_coreset_groups_run(const float *X, int64_t ngroups, int64_t group, int dim, int64_t kcap,
                            TcCoresetPrec prec, float scale, int pruned, uint64_t seed, uint64_t counter0,
                            int64_t *idx, float *val) {
  TC_CHECK(ngroups >= 0 && group >= 1 && kcap >= 1 && kcap <= group && dim >= 1, TC_ERR_INTERNAL,
           "tc_coreset_groups_run: bad sizes (groups %lld of %lld, k %lld)", (long long)ngroups,
           (long long)group, (long long)kcap);
  const size_t rb = tc_coreset_row_bytes(prec, dim);
  char *E = NULL;
  if (prec != TC_CORESET_F32) {
    E = tc_malloc_aligned((size_t)group * rb, "encoded group");
    if (!E) return TC_ERR_MEM;
  }
  /* int8 d2 count lattice steps: scale^2 makes them comparable with other
   * groups' (one scale for all groups) and with float32 d2 */
  const float unit = prec == TC_CORESET_I8 ? scale * scale : 1.0f;
  TcErr err = TC_OK;
  for (int64_t g = 0; g < ngroups && !err; g++) {
    const float *Xg = X + g * group * dim;
    if (E) tc_coreset_encode(prec, Xg, group, dim, scale, E);
    const int64_t first = tc_rng_index(seed, TC_RNG_STREAM_CORESET, counter0 + (uint64_t)g, group);
    int64_t *ig = idx + g * kcap;
    float *vg = val + g * kcap;
    err = tc_coreset_select_enc_val(E ? (const void *)E : (const void *)Xg, group, dim, prec, pruned, NULL, first,
                                    kcap, ig, vg);
    for (int64_t t = 0; t < kcap && !err; t++) {
      ig[t] += g * group;
      if (t > 0) vg[t] *= unit;
    }
  }
  free(E);
  return err;
}

/* (val desc, position asc): a total order, so the merge is the same
 * wherever the picks were computed */
typedef struct {
  float val;
  int64_t pos;
} GroupPick;

static int cmp_pick_(const void *a, const void *b) {
  const GroupPick *x = a, *y = b;
  if (x->val != y->val) return x->val > y->val ? -1 : 1;
  return (x->pos > y->pos) - (x->pos < y->pos);
}

TcErr tc_coreset_groups_merge(const int64_t *idx, const float *val, int64_t npicks, int64_t m, int64_t *out) {
  TC_CHECK(m >= 0 && m <= npicks, TC_ERR_INTERNAL, "tc_coreset_groups_merge: %lld of %lld picks", (long long)m,
           (long long)npicks);
  GroupPick *p = tc_malloc((size_t)(npicks > 0 ? npicks : 1) * sizeof(GroupPick), "group picks");
  if (!p) return TC_ERR_MEM;
  for (int64_t i = 0; i < npicks; i++) p[i] = (GroupPick){val[i], i};
  qsort(p, (size_t)npicks, sizeof(GroupPick), cmp_pick_);
  for (int64_t t = 0; t < m; t++) out[t] = idx[p[t].pos];
  free(p);
  return TC_OK;
}

TcErr tc_coreset_select_groups(const float *X, int64_t n, int64_t group, int dim, int64_t m,
                               const TcCoresetMode *mode, uint64_t seed, uint64_t counter0, int64_t *idx) {
  TC_CHECK(group >= 1 && n % group == 0 && m >= 1 && m <= n, TC_ERR_INTERNAL,
           "tc_coreset_select_groups: bad sizes (n %lld, group %lld, m %lld)", (long long)n, (long long)group,
           (long long)m);
  const int64_t ng = n / group, kcap = tc_coreset_group_k(m, group);
  const float mx = tc_coreset_maxabs(X, n, dim);
  const float scale = mx > 0 ? mx / (float)tc_coreset_i8_qmax(dim) : 1.0f;
  int64_t *pi = tc_malloc((size_t)(ng * kcap) * sizeof(int64_t), "group picks");
  float *pv = tc_malloc((size_t)(ng * kcap) * sizeof(float), "group pick distances");
  TcErr err = pi && pv ? TC_OK : TC_ERR_MEM;
  if (!err) err = tc_coreset_groups_run(X, ng, group, dim, kcap, mode->prec, scale, mode->pruned, seed, counter0, pi, pv);
  if (!err) err = tc_coreset_groups_merge(pi, pv, ng * kcap, m < ng * kcap ? m : ng * kcap, idx);
  free(pi);
  free(pv);
  return err;
}
