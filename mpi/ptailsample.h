/* ptailsample.h - TailSampler over MPI ranks (DESIGN 3.6 steps 1-7,
 * DESIGN 6): the collective driver used by `tailedcore tailsample` and by
 * fit. Two modes give the same answer bit for bit:
 *   memory  S rows of this rank from ScaLAPACK (mpi/pgram.c: one
 *           triangle by psgemm, the other mirrored), held whole in a
 *           block-cyclic deal of rows: about (N/P) x N floats per rank;
 *   stream  row panels of R rows computed twice (pass 1: th and count;
 *           pass 2: votes), each panel from blocks of A passed around a
 *           ring, so a rank holds R x N + 3 (N/P) x E floats, never N x N.
 * Only the vectors th, count (and at the end kappa) are allgathered. */
#ifndef TC_PTAILSAMPLE_H
#define TC_PTAILSAMPLE_H

#include <mpi.h>
#include <stdint.h>

#include "err.h"
#include "tailsampler.h"

typedef enum { TC_TAIL_MODE_AUTO = 0, TC_TAIL_MODE_MEMORY, TC_TAIL_MODE_STREAM } TcTailMode;

typedef struct {
  double tail_p;        /* trim_min p [0.85] */
  int64_t mem_per_rank; /* bytes a rank may use for TailSampler [2G] */
  TcTailMode mode;      /* auto: memory when it fits in mem_per_rank, else stream */
  int64_t panel_rows;   /* streaming panel height, 0 = the largest that fits */
  int embed_norm;       /* TcTailNorm applied before step 1 [NONE: the paper] */
  int tail_cut;         /* TcTailCut of step 6 [CAP: the paper] */
} TcPTailOpts;

typedef struct {
  int streamed;          /* 1 when the streaming mode ran */
  int64_t panel_rows;    /* R used by the streaming mode */
  int64_t est_bytes;     /* estimated peak bytes per rank of the chosen mode */
  double t_gram;         /* seconds in the Gram (both passes when streaming;
                            in memory psgemm + mirror) */
  double t_mirror;       /* of which filling the second triangle (memory) */
  double t_alloc;        /* mapping the pages of S up front (memory) */
  int64_t gram_block;    /* rows per block of the cyclic deal (memory) */
  double t_rows;         /* seconds in thresholds, counts and votes */
  double t_total;
  double gram_flops;     /* flop computed: N (N + nb) E in memory (one
                            triangle), 2 N^2 E per pass streaming */
} TcPTailStats;

/* Fill opts with the defaults above. Local. */
void tc_ptailsample_defaults(TcPTailOpts *opts);

/* Estimated peak bytes per rank for N, E on `size` ranks: in memory, and
 * streaming with R panel rows. Local. */
int64_t tc_ptailsample_memory_bytes(int64_t N, int64_t E, int size);
int64_t tc_ptailsample_stream_bytes(int64_t N, int64_t E, int size, int64_t R);

/* Run TailSampler on N embeddings distributed in contiguous row blocks.
 * Collective on comm. X_local [(hi-lo) x E] float32 embeddings of global
 * rows [lo, hi) (local input; blocks in rank order must cover [0, N),
 * checked); opts (global input, same on every rank). *out (output) is the
 * complete global result, identical on every rank (th, count, kappa,
 * is_tail [N], eta, K values); the caller frees it with
 * tc_tail_result_destroy. stats (optional output). Returns an agreed code. */
TcErr tc_ptailsample_run(MPI_Comm comm, const float *X_local, int64_t N, int64_t E, int64_t lo,
                         int64_t hi, const TcPTailOpts *opts, TcTailResult **out,
                         TcPTailStats *stats);

#endif
