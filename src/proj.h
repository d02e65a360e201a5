/* proj.h - the seeded random projection to a few dimensions (DESIGN 3.3).
 *
 * W [P x D] has entries uniform in the open interval (-1/sqrt(D), 1/sqrt(D)),
 * the distribution of torch.nn.Linear(D, P, bias=False)'s default init used by
 * the reference. Entry (r, c) comes from tc_rng_uniform_f(seed,
 * TC_RNG_STREAM_PROJ, r * D + c), so every rank builds the same W alone. */
#ifndef TC_PROJ_H
#define TC_PROJ_H

#include <stdint.h>

#include "err.h"

/* Build W [P x D] row-major. Local. *W is 64-byte aligned; caller frees it
 * with free(). DESIGN 3.3. */
TcErr tc_proj_create(int64_t P, int64_t D, uint64_t seed, float **W);

/* Y [n x P] = X [n x D] * W^T with cblas_sgemm (row-major). Local.
 * X, W (local input), Y (local output, caller-allocated). n may be 0 and may
 * exceed INT_MAX (done in slices). DESIGN 3.3. */
TcErr tc_proj_apply(const float *W, int64_t P, int64_t D, const float *X, int64_t n, float *Y);

#endif
