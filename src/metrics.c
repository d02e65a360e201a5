/* metrics.c - ROC AUC (sklearn's roc_auc_score semantics) through sorted
 * keys and integer counting, and group means. See metrics.h. */
#include "metrics.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

struct TcAuroc {
  uint32_t *pos, *neg;
  int64_t n_pos, n_neg, cap_pos, cap_neg;
};

/* Order-preserving key of a float: a larger float gives a larger unsigned
 * key; -0.0 is mapped to +0.0 so numpy's equal scores stay tied. */
static uint32_t key_(float f) {
  if (f == 0.0f) f = 0.0f;
  uint32_t u;
  memcpy(&u, &f, sizeof u);
  return (u & 0x80000000u) ? ~u : (u | 0x80000000u);
}

static TcErr grow_(uint32_t **a, int64_t *cap, int64_t need) {
  if (need <= *cap) return TC_OK;
  int64_t c = *cap ? *cap : 4096;
  while (c < need) c *= 2;
  uint32_t *p = realloc(*a, sizeof(uint32_t) * (size_t)c);
  TC_CHECK(p, TC_ERR_MEM, "auroc: out of memory for %lld values", (long long)need);
  *a = p;
  *cap = c;
  return TC_OK;
}

TcErr tc_auroc_create(TcAuroc **acc) {
  *acc = tc_calloc(1, sizeof(TcAuroc), "auroc accumulator");
  return *acc ? TC_OK : TC_ERR_MEM;
}

void tc_auroc_destroy(TcAuroc **acc) {
  if (!acc || !*acc) return;
  free((*acc)->pos);
  free((*acc)->neg);
  free(*acc);
  *acc = NULL;
}

void tc_auroc_counts(const TcAuroc *acc, int64_t *n_pos, int64_t *n_neg) {
  *n_pos = acc->n_pos;
  *n_neg = acc->n_neg;
}

TcErr tc_auroc_add(TcAuroc *acc, const float *score, const uint8_t *label, int64_t n) {
  int64_t np = 0;
  for (int64_t i = 0; i < n; i++) {
    TC_CHECK(!isnan(score[i]), TC_ERR_FORMAT, "auroc: score %lld is NaN", (long long)i);
    np += label[i] != 0;
  }
  TC_CALL(grow_(&acc->pos, &acc->cap_pos, acc->n_pos + np));
  TC_CALL(grow_(&acc->neg, &acc->cap_neg, acc->n_neg + (n - np)));
  for (int64_t i = 0; i < n; i++) {
    if (label[i]) acc->pos[acc->n_pos++] = key_(score[i]);
    else acc->neg[acc->n_neg++] = key_(score[i]);
  }
  return TC_OK;
}

/* LSD radix sort of 32-bit keys, 4 passes of 8 bits; tmp has n slots. */
static void radix_sort_(uint32_t *a, uint32_t *tmp, int64_t n) {
  uint32_t *src = a, *dst = tmp;
  for (int shift = 0; shift < 32; shift += 8) {
    int64_t count[257] = {0};
    for (int64_t i = 0; i < n; i++) count[((src[i] >> shift) & 0xFF) + 1]++;
    if (count[((src[0] >> shift) & 0xFF) + 1] == n) continue; /* one bucket: already ordered */
    for (int b = 0; b < 256; b++) count[b + 1] += count[b];
    for (int64_t i = 0; i < n; i++) dst[count[(src[i] >> shift) & 0xFF]++] = src[i];
    uint32_t *t = src;
    src = dst;
    dst = t;
  }
  if (src != a) memcpy(a, src, sizeof(uint32_t) * (size_t)n);
}

TcErr tc_auroc_finish(TcAuroc *acc, double *auc) {
  int64_t P = acc->n_pos, N = acc->n_neg;
  if (P == 0 || N == 0) {
    *auc = NAN;
    return TC_OK;
  }
  uint32_t *tmp = tc_malloc(sizeof(uint32_t) * (size_t)(P > N ? P : N), "auroc sort buffer");
  if (!tmp) return TC_ERR_MEM;
  radix_sort_(acc->pos, tmp, P);
  radix_sort_(acc->neg, tmp, N);
  free(tmp);
  /* u2 = 2 * (#neg below + 0.5 #neg equal) summed over positives: an exact
   * integer (< 2 P N < 2^63 for any class that fits in memory) */
  int64_t u2 = 0, lt = 0, j = 0;
  for (int64_t i = 0; i < P;) {
    uint32_t v = acc->pos[i];
    int64_t cp = 0;
    while (i < P && acc->pos[i] == v) { cp++; i++; }
    while (j < N && acc->neg[j] < v) j++;
    lt = j;
    int64_t eq = 0;
    while (j + eq < N && acc->neg[j + eq] == v) eq++;
    u2 += cp * (2 * lt + eq);
  }
  *auc = (double)u2 / (2.0 * (double)P * (double)N);
  return TC_OK;
}

TcErr tc_metrics_auroc(const float *score, const uint8_t *label, int64_t n, double *auc) {
  TcAuroc *acc = NULL;
  TC_CALL(tc_auroc_create(&acc));
  TcErr err = TC_OK;
  TC_CALL_GOTO(err, tc_auroc_add(acc, score, label, n), cleanup);
  TC_CALL_GOTO(err, tc_auroc_finish(acc, auc), cleanup);
cleanup:
  tc_auroc_destroy(&acc);
  return err;
}

void tc_metrics_group_means(const double *value, const int *is_tail, int n, TcGroupMeans *out) {
  double st = 0, sh = 0, sa = 0;
  int nt = 0, nh = 0, na = 0;
  for (int i = 0; i < n; i++) {
    if (isnan(value[i])) continue;
    int t = is_tail ? is_tail[i] : -1;
    sa += value[i];
    na++;
    if (t == 1) { st += value[i]; nt++; }
    if (t == 0) { sh += value[i]; nh++; }
  }
  out->tail = nt ? st / nt : NAN;
  out->head = nh ? sh / nh : NAN;
  out->all = na ? sa / na : NAN;
  out->n_tail = nt;
  out->n_head = nh;
  out->n_all = na;
}
