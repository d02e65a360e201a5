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

#include <stddef.h>
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

/* How a step skips points whose minimum cannot change; every variant selects
 * the plain loop's indices:
 *  - TC_CORESET_PLAIN: every point's d2 each step (`fit --no-prune`);
 *  - TC_CORESET_FILTERED (fit's default): the sketch for float32 rows when
 *    there are at least TC_CORESET_SKETCH_MIN_N local points (its build pays
 *    back over the steps) of at most TC_CORESET_SKETCH_MAX_DIM dims (the
 *    basis costs dim^3 and each step R x dim for the centre's code), else
 *    the triangle test;
 *  - TC_CORESET_TRIANGLE: the triangle test above (any precision);
 *  - TC_CORESET_SKETCH: the int8 principal-axes lower bound of sketch.h
 *    (float32 rows; narrow codes fall back to the triangle test). On real
 *    patch features it reads about 1/7 of the plain loop's bytes per step. */
enum { TC_CORESET_PLAIN = 0, TC_CORESET_FILTERED = 1, TC_CORESET_TRIANGLE = 2, TC_CORESET_SKETCH = 3 };
#define TC_CORESET_SKETCH_MIN_N 4096
#define TC_CORESET_SKETCH_MAX_DIM 512

/* Start a selection over the local points X [n x dim] (local input, kept as
 * a view: X must outlive the state). pruned: one of the variants above.
 * Local. Destroy with tc_coreset_destroy. */
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

/* ------------------------------------------------ modes that read less
 *
 * Narrow precision (issue 17). The points are encoded once; each step reads
 * the encoded rows, so a step touches 1/2 (bf16) or 1/4 (int8) of the bytes
 * of the float32 loop. d2 stays a float, and the argmax, tie and first-point
 * rules are those of the exact loop, so everything above (and the MPI
 * max-location op) applies unchanged:
 *  - bf16: each coordinate rounded to bfloat16 (nearest, ties to even);
 *    d2 is the pinned float32 sum of the decoded values.
 *  - int8: q = round(x / scale) clamped to [-qmax, qmax], scale = maxabs /
 *    qmax with maxabs the largest |x| over ALL points (a max, so every rank
 *    count agrees on it bit for bit). d2 = sum (qa - qb)^2 in int32, exact
 *    and order-free; qmax is capped so that dim * (2 qmax)^2 < 2^24, hence
 *    d2 converts to float exactly and the float ordering is the integer one.
 *    d2 is in units of scale^2 (a common factor: the selection does not
 *    need it, the radius in real units is scale * sqrt(d2)).
 *
 * Two-round (composable) coreset: the n points (ordinals 0..n-1) are cut
 * into ns = ceil(n / shard) shards, shard j = the ordinals i with
 * i % ns == j (interleaved, so a shard is a sample of the whole set even
 * when the ordinals run class by class). Round 1: in each shard an exact
 * greedy (of the chosen precision) that starts from the distances to the
 * global first point picks k_j = min(len_j, ceil(oversample * m * len_j / n))
 * points. Round 2: the exact greedy over the union U = {first} + all picks,
 * ordered by (shard, ordinal), starting at first, picks min(m, |U|) points.
 * Everything is a function of (n, shard, oversample, first, data), not of
 * the number of ranks the shards are dealt to. */
typedef enum { TC_CORESET_F32 = 0, TC_CORESET_BF16, TC_CORESET_I8 } TcCoresetPrec;

typedef struct {
  TcCoresetPrec prec;
  int rounds;        /* 1 = one greedy over all points, 2 = two-round */
  int64_t shard;     /* two-round: points per shard (ns = ceil(n / shard)) */
  double oversample; /* two-round: round 1 keeps oversample * m in total, >= 1 */
  int pruned;        /* triangle-pruned steps in every round (same indices, fewer reads) */
} TcCoresetMode;

/* Parse "exact", "bf16", "int8", "tworound", "tworound-bf16", "tworound-int8"
 * into mode->prec and mode->rounds (shard, oversample, pruned untouched).
 * Local. */
TcErr tc_coreset_mode_parse(const char *name, TcCoresetMode *mode);
/* The canonical name of mode (static string). Local. */
const char *tc_coreset_mode_name(const TcCoresetMode *mode);

/* Bytes of one encoded row. Local. */
size_t tc_coreset_row_bytes(TcCoresetPrec prec, int dim);
/* Largest int8 level for dim (<= 127, see above). Local. */
int tc_coreset_i8_qmax(int dim);
/* Largest |x| of X [n x dim] (0 when n = 0). Local. */
float tc_coreset_maxabs(const float *X, int64_t n, int dim);
/* Encode X [n x dim] into out [n x row_bytes] (caller-allocated). scale is
 * used by int8 only: maxabs / qmax (any positive value when maxabs = 0).
 * Local. */
void tc_coreset_encode(TcCoresetPrec prec, const float *X, int64_t n, int dim, float scale, void *out);

/* A selection state over encoded rows E [n x row_bytes] (view). prec =
 * TC_CORESET_F32 with E = the float rows is the exact loop. pruned: the
 * triangle test of the exact loop, valid in every precision (int8 d2 are
 * exact lattice distances, bf16 ones float32 distances of decoded points).
 * Local. Destroy with tc_coreset_destroy. */
TcErr tc_coreset_create_enc(const void *E, int64_t n, int dim, TcCoresetPrec prec, int pruned, TcCoreset **out);
/* tc_coreset_step with the centre given as an encoded row c [row_bytes]. */
TcErr tc_coreset_step_enc(TcCoreset *s, const void *c, int64_t *best, float *best_d2);

/* Greedy over encoded rows E [n x row_bytes]: when c0 is not NULL, the
 * minima start from the distances to the encoded centre c0 and k points are
 * picked after it (idx[0..k-1], the argmax rule); when c0 is NULL, idx[0] =
 * first and k - 1 more are picked (the DESIGN 3.5 loop). Local. */
TcErr tc_coreset_select_enc(const void *E, int64_t n, int dim, TcCoresetPrec prec, int pruned, const void *c0,
                            int64_t first, int64_t k, int64_t *idx);

/* Two-round helpers: shard count, and round 1's picks for a shard of len
 * points out of n when the final target is m. Local. */
int64_t tc_coreset_nshards(int64_t n, int64_t shard);
int64_t tc_coreset_shard_k(int64_t n, int64_t m, int64_t len, double oversample);

/* Serial reference of any mode on X [n x dim] (float32): idx [m] (caller-
 * allocated), *m_got = the number selected (m, or |U| when the two-round
 * union is smaller). The MPI driver returns the same list for any rank
 * count. Local. */
TcErr tc_coreset_select_mode(const float *X, int64_t n, int dim, int64_t m, int64_t first,
                             const TcCoresetMode *mode, int64_t *idx, int64_t *m_got);

/* tc_coreset_select_enc that also records, in val [k] (NULL: not), the d2
 * each pick had to the picks before it when it was picked (+inf for a first
 * given as an index). Non-increasing after the first. Local. */
TcErr tc_coreset_select_enc_val(const void *E, int64_t n, int dim, TcCoresetPrec prec, int pruned, const void *c0,
                                int64_t first, int64_t k, int64_t *idx, float *val);

/* Per-group selection (fit --tail-coreset per-image). The n points are n /
 * group consecutive groups of `group` points (one tail image and its views
 * each); a tail image's rotated views cover each other, while different
 * images mostly do not. So every group gets its own greedy over its own
 * points: kcap = tc_coreset_group_k picks from its seeded first point,
 * each with the d2 it had when picked (the greedy's covering radius^2 at
 * that step in that group). Then the m picks of largest d2 over all groups
 * are kept, in descending d2 (ties: lower group, earlier step), a prefix of
 * each group's list. Where groups do not cover each other this is the one
 * greedy over all points, bar the first point of every group; it reads
 * ngroups * kcap * group distances instead of m * n. Precisions as the
 * modes: int8 with one scale for all groups (d2 scaled back to float units
 * so groups compare). DECISIONS "Tail views, one image at a time". */
/* counter0 of fit's per-group selections: TC_CORESET_GROUP_COUNTER x (purpose
 * + 1), far from the purposes (0, 1) of the one-greedy first points; group g
 * (counted from 0 at the first group of all n points) starts at
 * tc_rng_index(seed, TC_RNG_STREAM_CORESET, counter0 + g, group). */
#define TC_CORESET_GROUP_COUNTER ((uint64_t)1 << 32)
/* Picks per group: min(group, m), so a group is never cut short. Local. */
int64_t tc_coreset_group_k(int64_t m, int64_t group);
/* Each of ngroups groups of X [ngroups * group x dim]: kcap picks as
 * ordinals into X into idx [ngroups * kcap] and their d2 into val (group by
 * group, greedy order). scale: int8's (maxabs over all n points / qmax).
 * first of group g: counter0 + g. Local. */
TcErr tc_coreset_groups_run(const float *X, int64_t ngroups, int64_t group, int dim, int64_t kcap,
                            TcCoresetPrec prec, float scale, int pruned, uint64_t seed, uint64_t counter0,
                            int64_t *idx, float *val);
/* The m picks of largest val out of idx/val [npicks] (ties: lower
 * position) into out [m], in descending val. Local. */
TcErr tc_coreset_groups_merge(const int64_t *idx, const float *val, int64_t npicks, int64_t m, int64_t *out);
/* Serial reference: run (kcap from mode->oversample, precision and pruning
 * from mode) and merge, m picks into idx [m]. Local. */
TcErr tc_coreset_select_groups(const float *X, int64_t n, int64_t group, int dim, int64_t m,
                               const TcCoresetMode *mode, uint64_t seed, uint64_t counter0, int64_t *idx);

#endif
