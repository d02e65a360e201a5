/* pcoreset.h - greedy coreset over MPI ranks (DESIGN 3.5, 6).
 *
 * Points stay on their rank. Each step every rank updates its local minima
 * with the last selected point's vector (tc_coreset_step), finds its local
 * argmax, and ONE MPI_Allreduce with a user-defined operation (max of min_d2,
 * lowest global ordinal on ties, carrying the winner's vector) tells every
 * rank the next point and its vector. The minima are a per-point function of
 * the point and the selected vectors, and the reduction order is a total
 * order, so the index list is identical to the serial tc_coreset_select for
 * any rank count. Memory per rank: its points' minima (+ assignment and the
 * centres that own local points when pruned), no global arrays but idx. */
#ifndef TC_PCORESET_H
#define TC_PCORESET_H

#include <mpi.h>
#include <stdint.h>

#include "coreset.h"
#include "err.h"

/* The candidate an allreduce step carries: header + vector [dim]. */
typedef struct {
  int64_t gidx; /* global ordinal; INT64_MAX for "no candidate" */
  float val;    /* min_d2 of the candidate; -1 for none, +inf for the seeded first */
  int32_t pad_;
  float vec[];  /* [dim] */
} TcPcoresetCand;

/* Create the MPI datatype (dim floats + header, as bytes) and the max-location
 * op (commutative; larger val wins, lowest gidx on equal val). Local. Free
 * with tc_pcoreset_op_free. */
TcErr tc_pcoreset_op_create(int dim, MPI_Datatype *type, MPI_Op *op);
void tc_pcoreset_op_free(MPI_Datatype *type, MPI_Op *op);

/* Greedy coreset of n_total points spread in rank-ordered blocks: this rank
 * holds ordinals [off, off + n_local) in X_local [n_local x dim] (local
 * input). m (global) indices are written to idx [m] (output, same on every
 * rank, caller-allocated); idx[0] = first (global input, in [0, n_total)).
 * pruned selects the triangle-pruned local update (identical result). stage
 * names the progress line (rank 0). Collective on comm; returns an agreed
 * code. DESIGN 3.5, DESIGN 6. */
TcErr tc_pcoreset_select(MPI_Comm comm, const float *X_local, int64_t n_local, int64_t off,
                         int64_t n_total, int dim, int64_t m, int64_t first, int pruned,
                         int64_t *idx, const char *stage);

/* Any coreset mode (coreset.h: exact, bf16, int8, two-round): the same list
 * as the serial tc_coreset_select_mode for any rank count. Same layout and
 * arguments as tc_pcoreset_select; *m_got = the number selected (m, or the
 * two-round union's size when smaller). pruned: triangle-pruned steps in
 * every mode and round (mode->pruned is ignored; same indices either way).
 * Collective on comm; returns an agreed code. DESIGN 6, issue 17. */
TcErr tc_pcoreset_select_mode(MPI_Comm comm, const float *X_local, int64_t n_local, int64_t off,
                              int64_t n_total, int dim, int64_t m, int64_t first, const TcCoresetMode *mode,
                              int pruned, int64_t *idx, int64_t *m_got, const char *stage);

/* fit --tail-coreset per-image (coreset.h, tc_coreset_select_groups): the
 * n_total points are consecutive groups of `group` (a tail image and its
 * views) and every rank holds whole groups (off and n_local multiples of
 * group, else an agreed TC_ERR_INTERNAL). Each rank runs its own groups
 * without communication; one allgather of the picks and their d2, and every
 * rank merges the same m into idx [m] (global ordinals). The same list as
 * the serial tc_coreset_select_groups for any rank count; mode gives the
 * precision and the oversample (pruned as in tc_pcoreset_select_mode).
 * Collective on comm; returns an agreed code. */
TcErr tc_pcoreset_select_groups(MPI_Comm comm, const float *X_local, int64_t n_local, int64_t off,
                                int64_t n_total, int dim, int64_t group, int64_t m, const TcCoresetMode *mode,
                                int pruned, uint64_t seed, uint64_t counter0, int64_t *idx, const char *stage);

#endif
