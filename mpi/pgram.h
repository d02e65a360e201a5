/* pgram.h - the Gram matrix of the quantised embeddings with ScaLAPACK
 * (DESIGN 3.6 step 1, DESIGN 6), whole rows per rank, computing only one
 * triangle.
 *
 * Layout: a 1 x P BLACS grid on our communicator (Csys2blacs_handle); the
 * inner dimension E is never split; rows of S (= columns of the
 * column-major C = At^T At) are dealt to ranks in blocks of nb rows,
 * cyclically (ScaLAPACK's block-cyclic layout on one process row), so each
 * rank holds whole rows. S is symmetric, so psgemm computes, per row panel
 * of nb rows, only the blocks on and right of the diagonal in
 * column-major terms: N (N + nb) E flop instead of 2 N^2 E. The cyclic deal
 * keeps every psgemm call balanced across ranks (a contiguous deal would
 * leave the owners of the first rows idle). The other triangle is then
 * filled by a mirror exchange of transposed tiles, one shifted
 * MPI_Sendrecv per block diagonal.
 *
 * Bit-identity across rank counts, block sizes and grids does not rest on
 * this layout: the fixed-point quantisation (src/tailsampler.h) makes every
 * dot product exact in float32, and a mirrored value is the same exact dot. */
#ifndef TC_PGRAM_H
#define TC_PGRAM_H

#include <mpi.h>
#include <stdint.h>

#include "err.h"

/* The block of the cyclic deal for N rows on `size` ranks: the largest
 * power of two <= N / (4 size), within [32, 512] (measured at N = 2000,
 * 5000, 20000, E = 2048 on 2 ranks: smaller blocks balance better, larger
 * ones make larger local sgemm calls). The environment variable
 * TC_GRAM_BLOCK (a positive integer, at most N is used) overrides it, for
 * tests of ragged layouts and for tuning; the result does not depend on it.
 * Local. */
int64_t tc_pgram_cyclic_nb(int64_t N, int size);

/* How many rows rank `rank` holds in the cyclic deal (ScaLAPACK numroc).
 * Local. */
int64_t tc_pgram_cyclic_rows(int64_t N, int64_t nb, int rank, int size);

/* The global row of local row l of rank `rank` in the cyclic deal. Local. */
static inline int64_t tc_pgram_cyclic_global(int64_t l, int64_t nb, int rank, int size) {
  return (l / nb) * nb * size + (int64_t)rank * nb + l % nb;
}

typedef struct {
  double t_gemm;   /* seconds in the psgemm panels */
  double t_mirror; /* seconds filling the other triangle */
  double flops;    /* flop actually computed: sum over panels of 2 nb (N - i0) E */
} TcPGramStats;

/* This rank's rows (the cyclic deal with block nb) of the exact dot
 * products D = A A^T, all N columns; the row steps turn them into cosines
 * (tc_tail_scale_threshold_rows) on the pass over memory they make anyway.
 * Collective on comm (builds and frees a 1 x P BLACS grid, calls psgemm_
 * once per row panel with rank-0 progress, then exchanges tiles).
 * A_local [nloc x E] quantised embeddings of this rank's rows in the cyclic
 * deal (local input, row-major, from tc_tail_quantise); S_local [nloc x N]
 * (local output, row-major, caller allocates), nloc =
 * tc_pgram_cyclic_rows(). Work space: 2 nloc nb floats. Requires nloc * N
 * and N * E below 2^31 (ScaLAPACK int indexing); callers switch to
 * streaming before that. The caller agrees on errors before calling: this
 * function is entered by all ranks or none. Returns an agreed code. */
TcErr tc_pgram_sym_rows(MPI_Comm comm, const float *A_local, int64_t N, int64_t E, int64_t nb,
                        float *S_local, TcPGramStats *stats);

#endif
