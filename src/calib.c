/* calib.c - threshold rule, per-class thresholds, validation split. */
#include "calib.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"

TcErr tc_calib_check_frr(const char *option, double r) {
  TC_CHECK(r > 0 && r < 1, TC_ERR_USAGE, "%s %g is impossible: a false-reject rate must be in (0, 1), e.g. 0.01",
           option, r);
  return TC_OK;
}

/* j of the rule, 1-based; the small slack keeps (n + 1)(1 - r) that is an
 * integer in exact arithmetic (n = 99, r = 0.01) from rounding up. */
static int64_t rank_of_(int64_t n, double r) {
  double x = (double)(n + 1) * (1.0 - r);
  return (int64_t)ceil(x - 1e-9 * x);
}

int64_t tc_calib_min_count(double r) {
  double x = (1.0 - r) / r;
  return (int64_t)ceil(x - 1e-9 * x);
}

static int cmp_f32_(const void *a, const void *b) {
  float x = *(const float *)a, y = *(const float *)b;
  return (x > y) - (x < y);
}

TcErr tc_calib_threshold(const float *scores, int64_t n, double r, float *threshold, double *expected_frr) {
  TC_CHECK(n >= 1, TC_ERR_USAGE, "no validation score to set a threshold from");
  float *s = tc_malloc((size_t)n * sizeof(float), "validation scores");
  if (!s) return TC_ERR_MEM;
  memcpy(s, scores, (size_t)n * sizeof(float));
  qsort(s, (size_t)n, sizeof(float), cmp_f32_);
  int64_t j = rank_of_(n, r);
  if (j > n) j = n;
  if (j < 1) j = 1;
  *threshold = s[j - 1];
  if (expected_frr) *expected_frr = (double)(n + 1 - j) / (double)(n + 1);
  free(s);
  return TC_OK;
}

TcErr tc_calib_class_thresholds(const float *scores, const int64_t *class_of, int64_t n, int64_t n_classes,
                                double r, float *thr, int64_t *count) {
  float *buf = tc_malloc((size_t)(n > 0 ? n : 1) * sizeof(float), "class scores");
  if (!buf) return TC_ERR_MEM;
  const int64_t need = tc_calib_min_count(r);
  TcErr err = TC_OK;
  for (int64_t c = 0; c < n_classes && !err; c++) {
    int64_t m = 0;
    for (int64_t i = 0; i < n; i++)
      if (class_of[i] == c) buf[m++] = scores[i];
    count[c] = m;
    thr[c] = NAN;
    if (m >= need) err = tc_calib_threshold(buf, m, r, &thr[c], NULL);
  }
  free(buf);
  return err;
}

typedef struct {
  int64_t cls;
  uint64_t key;
  int64_t i;
} Order_;

static int cmp_order_(const void *a, const void *b) {
  const Order_ *x = a, *y = b;
  if (x->cls != y->cls) return (x->cls > y->cls) - (x->cls < y->cls);
  if (x->key != y->key) return (x->key > y->key) - (x->key < y->key);
  return (x->i > y->i) - (x->i < y->i);
}

int64_t tc_calib_holdout(const int64_t *class_of, const uint8_t *keep, const uint64_t *key, int64_t N,
                         double fraction, uint8_t *held) {
  memset(held, 0, (size_t)N);
  if (N < 1) return 0;
  Order_ *o = tc_malloc((size_t)N * sizeof(Order_), "hold-out order");
  if (!o) return -1;
  for (int64_t i = 0; i < N; i++) o[i] = (Order_){class_of[i], key[i], i};
  qsort(o, (size_t)N, sizeof(Order_), cmp_order_);
  int64_t total = 0;
  for (int64_t a = 0, b; a < N; a = b) {
    for (b = a; b < N && o[b].cls == o[a].cls; b++) {
    }
    int64_t want = (int64_t)floor(fraction * (double)(b - a) + 1e-9);
    for (int64_t t = a; t < b && want > 0; t++)
      if (!keep || !keep[o[t].i]) {
        held[o[t].i] = 1;
        want--;
        total++;
      }
  }
  free(o);
  return total;
}

uint64_t tc_calib_path_hash(const char *s) {
  uint64_t h = 1469598103934665603ULL;
  for (; *s; s++) {
    h ^= (unsigned char)*s;
    h *= 1099511628211ULL;
  }
  return h;
}

TcErr tc_calib_compute(TcCalibration *c, double r) {
  TC_CALL(tc_calib_check_frr("--target-frr", r));
  TC_CALL(tc_calib_threshold(c->val_scores, c->n_val, r, &c->threshold, &c->expected_frr));
  c->target_frr = r;
  if (c->n_classes < 1) return TC_OK;
  if (!c->class_thresholds) c->class_thresholds = tc_malloc((size_t)c->n_classes * sizeof(float), "class thresholds");
  if (!c->class_counts) c->class_counts = tc_malloc((size_t)c->n_classes * sizeof(int64_t), "class counts");
  if (!c->class_thresholds || !c->class_counts) return TC_ERR_MEM;
  return tc_calib_class_thresholds(c->val_scores, c->val_class, c->n_val, c->n_classes, r, c->class_thresholds,
                                   c->class_counts);
}

float tc_calib_threshold_for(const TcCalibration *c, const char *cls) {
  if (cls && cls[0] && c->class_thresholds)
    for (int64_t k = 0; k < c->n_classes; k++)
      if (!strcmp(c->class_names[k], cls)) return isnan(c->class_thresholds[k]) ? c->threshold : c->class_thresholds[k];
  return c->threshold;
}

void tc_calib_clear(TcCalibration *c) {
  if (!c) return;
  free(c->val_scores);
  free(c->val_class);
  free(c->val_paths);
  free(c->class_names);
  free(c->class_thresholds);
  free(c->class_counts);
  memset(c, 0, sizeof *c);
}

uint64_t tc_calib_bank_digest(const float *rows, int64_t n, int64_t D, int64_t row0) {
  uint64_t sum = 0;
  for (int64_t i = 0; i < n; i++) {
    const unsigned char *b = (const unsigned char *)(rows + i * D);
    uint64_t h = 1469598103934665603ULL ^ (uint64_t)(row0 + i);
    for (size_t k = 0; k < (size_t)D * sizeof(float); k++) {
      h ^= b[k];
      h *= 1099511628211ULL;
    }
    /* splitmix64's finaliser: a sum of raw FNV values would let rows trade bits */
    h ^= h >> 30;
    h *= 0xbf58476d1ce4e5b9ULL;
    h ^= h >> 27;
    h *= 0x94d049bb133111ebULL;
    h ^= h >> 31;
    sum += h;
  }
  return sum;
}
