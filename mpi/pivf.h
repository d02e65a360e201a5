/* pivf.h - the IVF index (ivf.h) over MPI ranks: the k-means build with
 * its assignments split over the ranks, `tailedcore index` (build once,
 * store in index.h5, ivf_io.h), and predict's load of a stored index.
 *
 * The split build (tc_ivf_build_split): each rank assigns a contiguous run
 * of whole TC_IVF_ASSIGN_BLOCK-row blocks (the serial build's sgemm calls,
 * same shapes, same operands), then one MPI_Allgatherv of the int32
 * assignments and one of the float32 keys give every rank all of them;
 * the centroid update, empty-list repair and reordering run whole on every
 * rank in the serial order. So the index has the serial build's bits for
 * any rank count, and only the assignment (the dominant cost: rows x nlist
 * x D per iteration, and once over the whole bank) is divided. */
#ifndef TC_PIVF_H
#define TC_PIVF_H

#include <mpi.h>
#include <stdint.h>

#include "err.h"
#include "ivf.h"

/* Build the index of bank [M x D] (the whole bank on every rank; reordered
 * in place as tc_ivf_build does) with the assignments split over comm.
 * The same bits on every rank and for every rank count as tc_ivf_build.
 * Collective on comm; the error is agreed (an MPI failure inside the
 * k-means loop aborts the job: it cannot be agreed on). */
TcErr tc_pivf_build(MPI_Comm comm, float *bank, int64_t M, int64_t D, int64_t nlist, int iters, uint64_t seed,
                    TcIvf *ivf);

/* predict --index: load the index stored in `path` for bank [M x D] (model
 * order in; reordered in place into the index's list order, as a build
 * would) whose tc_calib_bank_digest is bank_digest. Refused (TC_ERR_FORMAT,
 * one line naming both files) when the index was made for another bank (its
 * digest, rows or D differ), TC_ERR_USAGE when nlist > 0 (an explicit
 * --nlist, clamped to M) differs from the index's. model names the model in
 * messages. Collective on comm; the error is agreed; on error ivf holds
 * nothing (and the bank is unchanged unless a rank ran out of memory after
 * the checks: then the run is over anyway). */
TcErr tc_pivf_load(MPI_Comm comm, const char *path, const char *model, float *bank, int64_t M, int64_t D,
                   uint64_t bank_digest, int64_t nlist, TcIvf *ivf);

/* What `tailedcore index` is asked to do. */
typedef struct {
  const char *model; /* model.h5 (input) */
  const char *out;   /* index.h5 to publish */
  int64_t nlist;     /* k-means lists, 0 = tc_ivf_default_nlist(M); clamped to M */
  uint64_t seed;     /* the sample seed (TC_IVF_SEED: predict's in-process build) */
} TcIndexOptions;

/* `tailedcore index`: read the model's bank on every rank, its digest, the
 * split build (TC_IVF_ITERS iterations), then index.h5 written and
 * published (nothing under the final name on error). Collective on comm;
 * the error is agreed. The output is checked against the inputs by the
 * caller (cmd_index.c). */
TcErr tc_pivf_index_run(MPI_Comm comm, const TcIndexOptions *opt);

#endif
