/* metrics.h - ROC AUC as scikit-learn's roc_auc_score, and the per-class
 * means of the paper's tables (DESIGN 3.7).
 *
 * AUROC is computed as the Mann-Whitney statistic with ties counted half:
 *   AUC = (#{(p, n): s_p > s_n} + 0.5 #{(p, n): s_p == s_n}) / (P N),
 * which is exactly the trapezoid area of the ROC curve over distinct
 * thresholds that sklearn integrates (tied scores form one threshold, i.e. a
 * diagonal segment). Counting is done in integers, so the only rounding is
 * the final division. Positives and negatives are kept as two arrays of
 * order-preserving 32-bit keys (4 bytes per pixel) and radix-sorted, so the
 * pixel AUROC of a whole class (T x 224 x 224 pixels) costs O(n) time and
 * about 8 bytes per pixel at the peak. -0.0 and +0.0 are the same score (as
 * in numpy). A NaN score is an error (sklearn refuses NaN input too).
 *
 * Everything here is Local. */
#ifndef TC_METRICS_H
#define TC_METRICS_H

#include <stdint.h>

#include "err.h"

/* AUROC of n scores with 0/1 labels (label != 0 is positive). Local.
 *   auc (output) in [0, 1]; NaN when only one class is present (sklearn
 *   raises there: "Only one class present in y_true"), which is not an error.
 * Errors: TC_ERR_FORMAT for a NaN score, TC_ERR_MEM. DESIGN 3.7. */
TcErr tc_metrics_auroc(const float *score, const uint8_t *label, int64_t n, double *auc);

/* Incremental AUROC over many images (pixel AUROC of a class): add the
 * pixels of one image at a time, then finish. The accumulator keeps 4 bytes
 * per added value. create/destroy pair; destroy is NULL-safe and sets *acc
 * to NULL. Local. */
typedef struct TcAuroc TcAuroc;
TcErr tc_auroc_create(TcAuroc **acc);
/* Append n values. Errors: TC_ERR_FORMAT (NaN score), TC_ERR_MEM. */
TcErr tc_auroc_add(TcAuroc *acc, const float *score, const uint8_t *label, int64_t n);
/* Compute the AUROC of everything added (NaN when one class only). The
 * accumulator can still be destroyed only. Errors: TC_ERR_MEM. */
TcErr tc_auroc_finish(TcAuroc *acc, double *auc);
/* Counts added so far. */
void tc_auroc_counts(const TcAuroc *acc, int64_t *n_pos, int64_t *n_neg);
void tc_auroc_destroy(TcAuroc **acc);

/* Means over class groups, as the paper's tables (DESIGN 3.7). */
typedef struct {
  double tail, head, all; /* NaN when the group has no class with a defined value */
  int n_tail, n_head, n_all; /* classes counted in each mean */
} TcGroupMeans;

/* value [n] (input) one metric per class (NaN = undefined, skipped);
 * is_tail [n] (input) 1 tail, 0 head, -1 unknown (counted in "all" only),
 * may be NULL (all unknown). Local. */
void tc_metrics_group_means(const double *value, const int *is_tail, int n, TcGroupMeans *out);

#endif
