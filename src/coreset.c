/* coreset.c - greedy coreset, plain and triangle-pruned (DESIGN 3.5). */
#include "coreset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

#define PRUNE_MARGIN 4.004f /* 4 * (1 + 1e-3): see coreset.h */

struct TcCoreset {
  const float *X;
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
  s->n = n;
  s->dim = dim;
  s->pruned = pruned;
  s->mind2 = tc_malloc_aligned((size_t)(n > 0 ? n : 1) * sizeof(float), "coreset minima");
  if (!s->mind2) goto oom;
  for (int64_t i = 0; i < n; i++) s->mind2[i] = INFINITY;
  if (pruned) {
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

static TcErr pruned_step_(TcCoreset *s, const float *c, int64_t *best, float *best_d2) {
  const int dim = s->dim;
  /* distances from the new centre to every live slot centre; a free slot
   * owns no point, so its value is never read */
  for (int32_t a = 0; a < s->nslots; a++)
    s->dc[a] = s->owned[a] > 0 ? tc_coreset_d2(s->centres + (int64_t)a * dim, c, dim) : 0.0f;
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
      float d = tc_coreset_d2(s->X + i * dim, c, dim);
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
  if (s->owned[slot] > 0) memcpy(s->centres + (int64_t)slot * dim, c, (size_t)dim * sizeof(float));
  else s->free_slots[s->nfree++] = slot;
  s->evaluated += evaluated;
  *best = bi;
  *best_d2 = bv;
  return TC_OK;
}

TcErr tc_coreset_step(TcCoreset *s, const float *c, int64_t *best, float *best_d2) {
  return s->pruned ? pruned_step_(s, c, best, best_d2) : plain_step_(s, c, best, best_d2);
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
