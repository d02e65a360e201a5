/* calib.h - the operator's threshold (issue 16): which good training images
 * are held out for validation, the threshold for a target false-reject rate
 * from their scores, and the OK/NG decision. Serial; the MPI side is in
 * mpi/pfit.c (hold-out, scoring) and mpi/ppredict.c (decisions).
 *
 * Threshold rule (split conformal): with n validation scores sorted
 * ascending s_1 <= ... <= s_n and a target false-reject rate r, the
 * threshold is s_j with j = ceil((n + 1)(1 - r)). An unseen good image
 * exchangeable with the validation images then scores above it with
 * probability (n + 1 - j) / (n + 1) <= r, and not much less: the expected
 * false-reject rate is r rounded down to a multiple of 1 / (n + 1). When
 * j > n (fewer than (1 - r) / r images) no order statistic guarantees r:
 * the threshold is s_n and the expected rate is 1 / (n + 1) > r; the caller
 * says so. NG means score > threshold, so a validation image at the
 * threshold is OK. */
#ifndef TC_CALIB_H
#define TC_CALIB_H

#include <math.h>
#include <stdint.h>

#include "err.h"

/* --target-frr default: one good part in a hundred rejected. */
#define TC_CALIB_TARGET_FRR_DEFAULT 0.01

/* Refuse a target outside (0, 1) (NaN included), naming the option. Local. */
TcErr tc_calib_check_frr(const char *option, double r);

/* The smallest number of validation scores for which the rule meets r
 * exactly: ceil((1 - r) / r). Local. */
int64_t tc_calib_min_count(double r);

/* The threshold of the rule for scores [n >= 1] (any order; not modified)
 * and target r in (0, 1). *expected_frr (may be NULL) = (n + 1 - j) / (n + 1)
 * with j clamped to n. Errors: TC_ERR_USAGE for n < 1, TC_ERR_MEM. Local. */
TcErr tc_calib_threshold(const float *scores, int64_t n, double r, float *threshold, double *expected_frr);

/* OK (0) or NG (1): NG when score > threshold, or when the score is not a
 * number. Local. */
static inline int tc_calib_is_ng(float score, float threshold) { return !(score <= threshold); }

/* The operator's score: score / threshold, so 1 is the boundary (a zero
 * threshold, all validation images scoring 0, gives +inf for any positive
 * score). Local. */
static inline float tc_calib_normalised(float score, float threshold) {
  return threshold > 0 ? score / threshold : score > 0 ? INFINITY : 0.0f;
}

/* Thresholds per class: class_of [n] gives each validation score's class in
 * [0, n_classes) or -1 (no class). For class c with at least
 * tc_calib_min_count(r) scores, thr[c] is the rule over its scores, else NaN
 * (the global threshold applies); count[c] = its scores. thr [n_classes],
 * count [n_classes] (output). Errors: TC_ERR_MEM. Local. */
TcErr tc_calib_class_thresholds(const float *scores, const int64_t *class_of, int64_t n, int64_t n_classes,
                                double r, float *thr, int64_t *count);

/* The validation split of --val-fraction: per class (class_of [N], -1 = one
 * pool of images without a folder class), floor(fraction * images of the
 * class) images are held out, never one that is flagged in keep [N] (may be
 * NULL: TailSampler's tail images, whose classes may have no other image);
 * among the eligible ones those with the smallest key [N] go (the caller
 * derives a key from the seed and the image's path, so the choice does not
 * depend on the order or the number of images listed, and a night that adds
 * images keeps yesterday's validation images where it can). held [N]
 * (output) 1 = held out; returns their number (or -1 on allocation
 * failure). Local. */
int64_t tc_calib_holdout(const int64_t *class_of, const uint8_t *keep, const uint64_t *key, int64_t N,
                         double fraction, uint8_t *held);

/* A model's calibration: the validation images' scores and what the rule
 * makes of them (stored by model_io.h under /calibration). */
typedef struct {
  double target_frr;        /* r */
  float threshold;          /* the rule over all val_scores */
  double expected_frr;      /* its expected false-reject rate (above) */
  int64_t n_val;
  float *val_scores;        /* [n_val] image scores against the bank */
  int64_t *val_class;       /* [n_val] index into class_names, -1 = none */
  char **val_paths;         /* [n_val] as in the features file */
  int64_t n_classes;
  char **class_names;       /* [n_classes] folder classes of the validation images */
  float *class_thresholds;  /* [n_classes]; NaN: too few images, the global one applies */
  int64_t *class_counts;    /* [n_classes] */
  char source[1024];        /* how the validation images were chosen, in words */
  uint64_t bank_digest;     /* tc_calib_bank_digest of the bank the scores were made against */
} TcCalibration;

/* Fill threshold, expected_frr, class_thresholds and class_counts of c
 * (arrays allocated here when NULL) from its validation data for target r.
 * Errors: TC_ERR_USAGE (no validation image), TC_ERR_MEM. Local. */
TcErr tc_calib_compute(TcCalibration *c, double r);

/* The threshold that applies to an image of class `cls` (a folder class
 * name, "" when unknown): its class's when there is one with enough
 * images, else the global one. Local. */
float tc_calib_threshold_for(const TcCalibration *c, const char *cls);

/* Free what c holds (each array and string list is one allocation) and
 * zero it. NULL-safe. Local. */
void tc_calib_clear(TcCalibration *c);

/* The digest of bank rows [row0, row0 + n) of D floats (rows [n x D]):
 * a sum over rows of a mix of the row's bytes and its global index, so
 * digests of disjoint slices add up (mod 2^64) to the whole bank's however
 * it is split. Identifies the bank a calibration belongs to. Local. */
uint64_t tc_calib_bank_digest(const float *rows, int64_t n, int64_t D, int64_t row0);

/* FNV-1a 64 of a string: with tc_rng_u64 it gives an image's hold-out key
 * from its path. Local. */
uint64_t tc_calib_path_hash(const char *s);

#endif
