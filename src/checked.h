/* checked.h - overflow-checked size arithmetic and the finiteness scan for
 * values that come from files (issue 19). A file's attributes and extents
 * are whatever its writer (or a bit flip) made them: every product of sizes
 * taken from a file goes through these, and every float array read from a
 * file is scanned once before it is used.
 *
 * Local; no MPI. */
#ifndef TC_CHECKED_H
#define TC_CHECKED_H

#include <stddef.h>
#include <stdint.h>

/* Largest magnitude accepted for a feature, embedding or memory-bank value.
 * With D <= TC_FEATURES_MAX_SIDE (65536) a squared float32 distance is at
 * most D * (2e15)^2 = 2.6e35, below FLT_MAX (3.4e38), so no distance, norm
 * or GEMM-expansion term can overflow to inf (see DECISIONS.md). */
#define TC_VALUE_ABS_MAX 1e15f

/* *out = a * b for non-negative a, b; 0 (and *out untouched) when either is
 * negative or the product exceeds INT64_MAX. Local. */
static inline int tc_mul_i64(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_mul_overflow(a, b, &r)) return 0;
  *out = r;
  return 1;
}

/* *out = a + b for non-negative a, b; 0 on a negative operand or overflow. */
static inline int tc_add_i64(int64_t a, int64_t b, int64_t *out) {
  int64_t r;
  if (a < 0 || b < 0 || __builtin_add_overflow(a, b, &r)) return 0;
  *out = r;
  return 1;
}

/* *out = a * b * c (non-negative, no overflow) or 0. */
static inline int tc_mul3_i64(int64_t a, int64_t b, int64_t c, int64_t *out) {
  int64_t t;
  return tc_mul_i64(a, b, &t) && tc_mul_i64(t, c, out);
}

/* Index of the first of x[0..n) that is NaN, infinite or larger than bound
 * in magnitude; -1 when all are in range. One branch-free pass over blocks
 * (the compiler vectorises it) and a rescan of the one bad block only, so it
 * costs a fraction of the read it follows. Local. */
int64_t tc_first_bad_f32(const float *x, int64_t n, float bound);

/* "NaN", "inf", "-inf" or "%g" of v, for messages (static buffer). */
const char *tc_value_str(float v);

#endif
