/* coreset.h - greedy (k-center) coreset selection (DESIGN 3.5).
 *
 * Semantics pinned here and shared by the serial and the MPI driver:
 *  - d2(x, y) is the squared Euclidean distance in float32, summed in a fixed
 *    order (tc_coreset_d2: 8 interleaved partial sums, then a fixed tree), so
 *    every code path computes bit-identical values. Ordering on d2 is the
 *    ordering on the distance.
 *  - the first index comes from tc_coreset_first(seed, n) and belongs to the
 *    coreset; min_d2[i] = min over selected c of d2(x_i, x_c), updated with
 *    the last selected point; the next point is the argmax of min_d2 with the
 *    lowest index winning ties. When every remaining min_d2 is 0 (fewer
 *    distinct points than m) that rule picks index 0 again, as the plain loop
 *    of the reference does; duplicates in the list are then possible.
 *
 * TcCoreset holds one rank's share of the points (a view, not copied), the
 * minima and, for the pruned variant, the assignment of each point to the
 * centre that currently realises its minimum. The pruned update skips point i
 * when d2(c, a_i) > 4 (1 + 1e-3) min_d2[i]: by the triangle inequality the new
 * centre c is then at least as far as a_i, and the 1e-3 margin is two orders
 * above float32 rounding of d2 (<= 128 * 2^-24 relative), so the minima, and
 * therefore the selected indices, are bit-identical to the plain loop. */
#ifndef TC_CORESET_H
#define TC_CORESET_H

#include <stdint.h>

#include "err.h"

/* Squared distance with the pinned summation order. Local. */
static inline float tc_coreset_d2(const float *restrict a, const float *restrict b, int dim) {
  float acc[8] = {0, 0, 0, 0, 0, 0, 0, 0};
  int j = 0;
  for (; j + 8 <= dim; j += 8)
    for (int l = 0; l < 8; l++) {
      float t = a[j + l] - b[j + l];
      acc[l] += t * t;
    }
  for (int l = 0; j + l < dim; l++) {
    float t = a[j + l] - b[j + l];
    acc[l] += t * t;
  }
  return ((acc[0] + acc[4]) + (acc[2] + acc[6])) + ((acc[1] + acc[5]) + (acc[3] + acc[7]));
}

/* Target size m = floor(n * ratio), at least 1 when n >= 1. Local. */
int64_t tc_coreset_target(int64_t n, double ratio);

/* The seeded first index in [0, n). Local. DESIGN 3.5. */
int64_t tc_coreset_first(uint64_t seed, int64_t n);

typedef struct TcCoreset TcCoreset;

/* Start a selection over the local points X [n x dim] (local input, kept as
 * a view: X must outlive the state). pruned = 1 enables the triangle-
 * inequality test. Local. Destroy with tc_coreset_destroy. */
TcErr tc_coreset_create(const float *X, int64_t n, int dim, int pruned, TcCoreset **out);
void tc_coreset_destroy(TcCoreset **s);

/* Update the minima with centre c [dim] (local input: the vector of the last
 * selected point, wherever it lives) and return the local argmax (lowest
 * local index on ties) in *best (-1 when n = 0) and its min_d2 in *best_d2.
 * Local. DESIGN 3.5. */
TcErr tc_coreset_step(TcCoreset *s, const float *c, int64_t *best, float *best_d2);

/* Points whose distance was actually computed so far (pruning statistics). */
int64_t tc_coreset_evaluated(const TcCoreset *s);
/* Current minima [n] (view). */
const float *tc_coreset_mind2(const TcCoreset *s);

/* Serial greedy coreset of X [n x dim]: m indices into idx [m] (caller-
 * allocated), idx[0] = first. pruned selects the implementation (identical
 * output). Optional radius [m] (may be NULL): radius[t] = max min_d2 after t+1
 * selections (the squared covering radius; radius[m-1] needs one more update).
 * Local. DESIGN 3.5. */
TcErr tc_coreset_select(const float *X, int64_t n, int dim, int64_t m, int64_t first, int pruned,
                        int64_t *idx, float *radius);

#endif
