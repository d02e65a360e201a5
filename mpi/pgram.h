/* pgram.h - the cosine Gram matrix S = A A^T of the quantised embeddings
 * with ScaLAPACK (DESIGN 3.6 step 1, DESIGN 6), whole rows per rank.
 *
 * Grid choice: a 1 x P BLACS grid on our communicator (Csys2blacs_handle),
 * in which the inner dimension E is never split and the block size is
 * ceil(N / P), so the ScaLAPACK layout of S IS our contiguous row-block
 * layout and the "redistribute to whole rows" step is the identity. For a
 * Gram with E << N this grid is also the cheap one: the only communication
 * is gathering A (N x E), against N^2 E / P flops per rank. Bit-identity
 * across grids does not rest on this choice: the fixed-point quantisation
 * (src/tailsampler.h) makes every dot product exact in float32. */
#ifndef TC_PGRAM_H
#define TC_PGRAM_H

#include <mpi.h>
#include <stdint.h>

#include "err.h"

/* Rows [*lo, *hi) of rank `rank` in the Gram layout: blocks of ceil(N/size)
 * rows in rank order (the last ranks may get fewer or none). Local. */
void tc_pgram_block_range(int64_t N, int rank, int size, int64_t *lo, int64_t *hi);

/* Rows [lo, hi) (the tc_pgram_block_range rows of this rank) of the exact
 * dot products D = A A^T; the row steps turn them into cosines
 * (tc_tail_scale_threshold_rows), on the pass over memory they make anyway.
 * Collective on comm (builds and frees a 1 x P BLACS grid, calls psgemm_).
 * A_local [(hi-lo) x E] quantised embeddings of this rank's rows (local
 * input, row-major, from tc_tail_quantise); S_local [(hi-lo) x N] (local output, row-major,
 * caller allocates). Requires (hi-lo) * N and N * E below 2^31 (ScaLAPACK
 * int indexing); callers switch to streaming before that. The caller agrees
 * on errors before calling: this function is entered by all ranks or none. */
TcErr tc_pgram_rows(MPI_Comm comm, const float *A_local, int64_t N, int64_t E, float *S_local);

#endif
