/* lof.h - Local Outlier Factor of one spatial position's points with
 * scikit-learn's semantics (DESIGN 3.4).
 *
 * Pinned from sklearn 1.2 LocalOutlierFactor.fit / kneighbors(X=None):
 *  - k_eff = max(1, min(k, n - 1)); neighbours of i are the k_eff nearest
 *    points other than i itself (removed by index, so an exact duplicate of i
 *    IS a neighbour at distance 0); ties at the k-th distance go to the lowest
 *    index (sklearn's heap rejects a candidate equal to its current worst and
 *    scans indices in increasing order);
 *  - k-distance(i) = distance to its k_eff-th neighbour; reach(i, o) =
 *    max(k-distance(o), d(i, o)); lrd(i) = 1 / (mean_o reach(i, o) + 1e-10);
 *    LOF(i) = mean_o lrd(o) / lrd(i). We return LOF (= -negative_outlier_factor_).
 *  - distances are Euclidean, exact to float64 (sklearn computes them in
 *    float64 and rounds them to float32 for float32 input; so do we).
 * Speed: a float32 Gram (one ssyrk, or sgemm panels for many points) ranks
 * candidates with a rigorous rounding bound; only candidates that can be among the k nearest get exact
 * float64 distances, so the result does not depend on the Gram's rounding.
 * Known difference: for a group of more than k identical points, sklearn's
 * ||a||^2 + ||b||^2 - 2ab in float64 may leave a k-distance of ~1e-6 instead
 * of 0 (so its lrd is ~1e6 instead of 1e10). Those points get LOF 1 in both;
 * points whose neighbours include them get huge LOFs in both (removed as
 * noise either way) but the values differ. */
#ifndef TC_LOF_H
#define TC_LOF_H

#include <stdint.h>

#include "err.h"

#define TC_LOF_KMAX 64
/* Up to this many points the whole Gram is one ssyrk (n x n floats: 16 MiB
 * at 2048); above it, PANEL-row sgemm panels bound the memory. */
#define TC_LOF_FULL_GRAM_MAX 2048

typedef struct TcLofWork TcLofWork;

/* Workspace for up to nmax points of dimension dim. Local. */
TcErr tc_lof_work_create(int64_t nmax, int dim, int k, TcLofWork **out);
void tc_lof_work_destroy(TcLofWork **w);
/* The same with another full-Gram limit (tests use it to reach the panel
 * path with few points). */
TcErr tc_lof_work_create_limited(int64_t nmax, int dim, int k, int64_t full_gram_max,
                                 TcLofWork **out);

/* LOF scores lof [n] (local output) of the points X [n x dim] (local input),
 * n <= nmax. n = 1 gives LOF 1 (sklearn refuses a single sample). Local.
 * DESIGN 3.4. */
TcErr tc_lof_scores(TcLofWork *w, const float *X, int64_t n, float *lof);


#endif
