/* plof.h - LOF noise discrimination over MPI ranks (DESIGN 3.4, 6).
 *
 * Patches arrive image-sharded (rank r holds images [lo_r, hi_r) in rank
 * order). One MPI_Alltoallv transposes them to position-sharded blocks
 * (rank r scores positions tc_block_range(HW, r, size)), each rank runs the
 * serial sklearn-exact LOF (src/lof.c) on its positions, and a second
 * all-to-all brings the scores back to (image, position) order. The global
 * quantile is an exact radix selection: four rounds of 256-bin histograms
 * summed with MPI_Allreduce per order statistic, so no rank ever gathers
 * all N x HW scores. */
#ifndef TC_PLOF_H
#define TC_PLOF_H

#include <mpi.h>
#include <stdint.h>

#include "err.h"

/* LOF score of every local patch. P_local [n_img x HW x dim] (local input,
 * this rank's images), N (global) images in all; lof_local [n_img x HW]
 * (local output, caller-allocated). k: LOF neighbours. Collective on comm;
 * returns an agreed code. DESIGN 3.4. */
TcErr tc_plof_scores(MPI_Comm comm, const float *P_local, int64_t n_img, int64_t N, int64_t HW,
                     int dim, int k, float *lof_local);

/* torch.quantile(all scores, q) over the scores x_local [n_local] of every
 * rank (n_total = sum > 0), without gathering them. *out identical on every
 * rank. Collective on comm. DESIGN 3.4. */
TcErr tc_plof_quantile(MPI_Comm comm, const float *x_local, int64_t n_local, double q, float *out);

/* The k-th smallest (0-based) of all ranks' x_local. Collective. */
TcErr tc_plof_select(MPI_Comm comm, const float *x_local, int64_t n_local, int64_t k, float *out);

#endif
