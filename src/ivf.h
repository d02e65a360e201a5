/* ivf.h - an inverted-file (IVF) index over a memory bank: approximate
 * nearest-neighbour search for `predict --search ivf` (issue 17). Serial,
 * no MPI, no state outside the index.
 *
 * Build: k-means (Lloyd, `iters` iterations) with nlist centroids on a
 * training sample of at most TC_IVF_TRAIN_PER_LIST * nlist bank rows drawn
 * with rng.h (seed, TC_RNG_STREAM_IVF) by a partial Fisher-Yates shuffle;
 * the first nlist drawn rows are the initial centroids. Assignment is the
 * sgemm key of score.h against the centroids (lowest key, lowest centroid on
 * ties); centroids are float64 means of their rows; an empty list takes the
 * training row farthest from its centroid (lowest row on ties) as its new
 * centroid. Then every bank row goes to its nearest centroid and the bank is
 * reordered IN PLACE list by list, rows of one list in ascending global row
 * order. Every step is a fixed sequence of serial float operations and BLAS
 * calls of fixed shapes: the same bank, nlist, iters and seed give the same
 * index on every rank (on one BLAS kernel).
 *
 * Search of q queries: centroids ranked by the sgemm key (lowest centroid
 * on ties), the nprobe nearest non-empty lists scanned with sgemm (a list's queries
 * gathered into one block, list rows in tiles of TC_SCORE_TILE_ROWS), key as
 * in score.h (||a||^2 + ||b||^2 - 2 a.b clamped at 0), the winner the
 * lowest key, lowest global row on ties; then its exact distance in float64
 * as tc_score_nn_exact. With nprobe = nlist every row is a candidate: the
 * answer is the exact search's, up to keys that differ in the last bit
 * between two sgemm shapes (near ties). The computation for one query
 * depends only on the queries of the same call, never on how a run is split
 * over ranks when each call is one image. */
#ifndef TC_IVF_H
#define TC_IVF_H

#include <stdint.h>

#include "err.h"
#include "score.h"

/* Training rows per list at most (faiss uses 256 and warns below 39; 32
 * gave the same recall as 64 on the clustered bench bank and halves the
 * k-means time, which grows as nlist^2). */
#define TC_IVF_TRAIN_PER_LIST 32
/* Lloyd iterations of `predict --search ivf`. */
#define TC_IVF_ITERS 10
/* The k-means seed of `predict --search ivf` (fixed: the index is a function
 * of the bank) and the default of `tailedcore index --seed`. */
#define TC_IVF_SEED 20261206ULL
/* Rows per sgemm block of the k-means assignment. A split build
 * (tc_ivf_build_split) deals whole blocks to its parts, so every sgemm call
 * has the serial build's shape and operands and gives its bits. */
#define TC_IVF_ASSIGN_BLOCK 1024

typedef struct {
  int64_t M, D, nlist;
  int64_t n_train;     /* rows the k-means was trained on */
  int64_t iters;       /* Lloyd iterations it ran */
  uint64_t seed;       /* its sample seed */
  float *centroids;    /* [nlist x D] */
  float *cnorms;       /* [nlist] squared norms of the centroids */
  int64_t *list_start; /* [nlist + 1]: list l is positions [list_start[l], list_start[l+1]) */
  int64_t *order;      /* [M] global row at position k of the reordered bank */
  int64_t *pos;        /* [M] position of global row r (inverse of order) */
  float *norms;        /* [M] squared norms of the reordered rows (tc_score_row_norms) */
  float norm_max;      /* the largest of them */
} TcIvf;

/* The default nlist for an M-row bank: round(4 sqrt(M)) (faiss's advice is
 * 4..16 sqrt(M); more lists make the build slower), at least 1, at most M. */
int64_t tc_ivf_default_nlist(int64_t M);

/* Build the index of bank [M x D] (input/output: reordered in place into list
 * order, ivf->order maps back). nlist is clamped to [1, M]. iters >= 1.
 * Errors: TC_ERR_USAGE (sizes), TC_ERR_MEM; on error ivf holds nothing and
 * the bank is unchanged. Local. */
TcErr tc_ivf_build(float *bank, int64_t M, int64_t D, int64_t nlist, int iters, uint64_t seed, TcIvf *ivf);

/* How a build is split over cooperating callers (the ranks of an MPI
 * driver; this module sees no MPI): part `part` of nparts assigns only the
 * rows tc_ivf_part_rows gives it, then `share` must leave every part's rows
 * of assign and key in every part's arrays. Everything else (sample,
 * centroid sums in float64 in row order, empty lists, reordering) runs
 * whole on every part, so every part gets the serial build's index.
 *   agree (ctx, local): called once after the build's allocations, before
 *     the first share; returns the code agreed over all parts (a part that
 *     cannot allocate must not leave the others waiting in a share).
 *   share (ctx, n, assign [n], key [n]): fill in the other parts' rows. */
typedef struct {
  int part, nparts;
  void *ctx;
  TcErr (*agree)(void *ctx, TcErr local);
  TcErr (*share)(void *ctx, int64_t n, int64_t *assign, float *key);
} TcIvfSplit;

/* Rows [lo, hi) of an n-row assignment that part `part` of nparts computes:
 * whole TC_IVF_ASSIGN_BLOCK blocks, dealt in contiguous ranges
 * (tc_block_range over the blocks; a part may get none). Local. */
void tc_ivf_part_rows(int64_t n, int part, int nparts, int64_t *lo, int64_t *hi);

/* tc_ivf_build with the assignments split as `split` says (NULL: serial,
 * tc_ivf_build). The same bits as tc_ivf_build on every part, for any
 * nparts. Errors as tc_ivf_build's, plus those of split's callbacks.
 * Local (the callbacks may be collective). */
TcErr tc_ivf_build_split(float *bank, int64_t M, int64_t D, int64_t nlist, int iters, uint64_t seed,
                         const TcIvfSplit *split, TcIvf *ivf);

/* Restore an index from its stored parts instead of building it (ivf_io.h):
 * ivf holds M, D, nlist, n_train, iters, seed, and centroids [nlist x D],
 * list_start [nlist + 1], order [M] (malloc'd; ivf owns them from here).
 * Checks them (list_start from 0 to M, non-decreasing; order a permutation
 * of 0..M-1, ascending within each list; centroids finite), reorders bank
 * [M x D] (input/output, model order in) in place as tc_ivf_build does and
 * computes cnorms, pos and norms: the same index, bit for bit, as the build
 * that stored them. `what` names the source in messages. Errors:
 * TC_ERR_FORMAT, TC_ERR_MEM; on error ivf holds nothing and the bank is
 * unchanged. Local. */
TcErr tc_ivf_restore(float *bank, const char *what, TcIvf *ivf);

/* Patches rescored in the first batch of tc_ivf_certify_max (then 2x per
 * batch, at most TC_SCORE_QUERY_BLOCK). */
#define TC_IVF_CERTIFY_FIRST 8

/* Make the max patch score of one image exact after tc_ivf_search. The
 * index's neighbour is some bank row, so its distance is never below the
 * nearest row's: each patch's IVF distance (softpatch: times the largest
 * weight), rounded up past the float32 products, bounds its exact score.
 * The patches are rescored against the whole bank (tc_ivf_search with every
 * list probed: ties to the lowest model row) in descending bound, in batches of
 * TC_IVF_CERTIFY_FIRST, 2x, 4x... patches, until the next bound is <= the
 * best exact score found: every patch not rescored then scores at most
 * that, so the max over nn's patch scores is the exact search's image score.
 * The one gap no bound closes: the exact search and this rescoring (other
 * sgemm shapes) may pick different rows where two rows' keys tie within
 * their float32 rounding; their distances then differ in the last bits.
 *   Q [q x D] (input) the image's patches; nn [q] (input/output): the
 *   search's neighbours in, the rescored patches' exact neighbours out
 *   (global row, key, float64 distance), the others unchanged.
 *   first [nfirst] (input) patches (distinct, in 0..q-1) rescored in the
 *   first batch whatever their bound: the caller's recall sample rides on
 *   the pass over the bank the certification makes anyway (nfirst 0: none).
 *   weights [M] (input, model row order) or NULL: patch score = distance x
 *   weight of its neighbour (softpatch), else the distance; weights_max
 *   (input) their largest (>= 0; the caller's, found once per bank, not per
 *   image), ignored without weights.
 *   n_exact (output) patches rescored for their bound (first[] not counted).
 * The batches depend only on the image and first[]: the same on any rank.
 * Errors: TC_ERR_MEM, TC_ERR_USAGE (a bad first[]). Local. */
TcErr tc_ivf_certify_max(const TcIvf *ivf, const float *bank, const float *Q, int64_t q, const float *weights,
                         float weights_max, const int64_t *first, int64_t nfirst, TcScoreNN *nn,
                         int64_t *n_exact);

/* Release what tc_ivf_build allocated (zeroes *ivf). NULL-safe fields. */
void tc_ivf_free(TcIvf *ivf);

/* Nearest rows of Q [q x D] among the nprobe nearest non-empty lists
 * (clamped to [1, number of non-empty lists]). bank: the reordered bank of tc_ivf_build. out [q] (output):
 * key, global row index and exact float64-recomputed squared distance.
 * Errors: TC_ERR_USAGE, TC_ERR_MEM. Local. */
TcErr tc_ivf_search(const TcIvf *ivf, const float *bank, const float *Q, int64_t q, int64_t nprobe,
                    TcScoreNN *out);

#endif
