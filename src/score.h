/* score.h - scoring of test patches against a memory bank (DESIGN 3.7):
 * nearest-neighbour squared L2 distance through blocked sgemm, image score,
 * and the anomaly map (bilinear upsampling as torch F.interpolate, then a
 * Gaussian filter as scipy.ndimage.gaussian_filter).
 *
 * Nearest neighbour. The search key of (query a, memory row b) is the
 * faiss IndexFlatL2 quantity ||a||^2 + ||b||^2 - 2 a.b (float32, clamped at
 * 0), computed tile by tile with cblas_sgemm so the temporary stays small.
 * The winner is the lowest key, lowest global row index on ties. Its distance
 * is then recomputed directly as sum (a - b)^2 with a float64 accumulator, so
 * the reported distance does not carry the cancellation error of the sgemm
 * form (which only decides the argmin, as in faiss).
 *
 * Rank-count independence (DESIGN 6): a bank is processed in tiles of
 * `tile_rows` rows starting at global row 0; a bank split over ranks is split
 * at tile boundaries, so every (query block, tile) sgemm has the same shape
 * in the replicated and in the split mode and gives the same bits. Local, no
 * state; nothing here knows about MPI (the reduction lives in mpi/ppredict.c). */
#ifndef TC_SCORE_H
#define TC_SCORE_H

#include <stdint.h>

#include "err.h"

/* Default tile of memory rows per sgemm: a 784-query block against 2048 rows
 * keeps the temporary at 6.4 MB. */
#define TC_SCORE_TILE_ROWS 2048
/* Queries per sgemm call at most (a longer query list is processed in blocks). */
#define TC_SCORE_QUERY_BLOCK 1024

/* The nearest memory row of one query. 16 bytes, no padding, so an MPI
 * reduction can move it as bytes. */
typedef struct {
  float key;     /* sgemm-form squared distance (search key), +inf when none yet */
  float dist;    /* exact squared distance to row `index` (after tc_score_nn_exact) */
  int64_t index; /* global memory row, -1 when none yet */
} TcScoreNN;

/* Squared L2 norms of n rows of X [n x D] into norms [n] (float32 result of a
 * float32 sdot, the same bits wherever a row sits). Local. */
void tc_score_row_norms(const float *X, int64_t n, int64_t D, float *norms);

/* Reset out[0..q) to "no neighbour yet" (key +inf, index -1). Local. */
void tc_score_nn_init(TcScoreNN *out, int64_t q);

/* Number of floats of workspace tc_score_nn needs for q queries. Local. */
int64_t tc_score_nn_work_floats(int64_t q, int64_t tile_rows);

/* Merge the nearest rows of a bank slice into out. Local.
 *   Q      [q x D] (input) query patches, row-major.
 *   bank   [M x D] (input) memory rows; global index of row r is index0 + r.
 *   norms  [M] (input) tc_score_row_norms of bank.
 *   tile_rows (input) rows per sgemm tile (> 0); tiles start at bank row 0,
 *          so a split bank must start each slice at a multiple of tile_rows.
 *   work   (scratch) tc_score_nn_work_floats(q, tile_rows) floats.
 *   out    [q] (input/output) updated where this slice has a lower key (or
 *          the same key at a lower index). dist is not touched: call
 *          tc_score_nn_exact once the winner is final.
 * Errors: TC_ERR_USAGE for bad sizes (D, tile_rows or q beyond BLAS's int).
 * DESIGN 3.7 (patch score). */
TcErr tc_score_nn(const float *Q, int64_t q, const float *bank, const float *norms, int64_t M,
                  int64_t D, int64_t index0, int64_t tile_rows, float *work, TcScoreNN *out);

/* Recompute out[i].dist = sum_d (Q[i,d] - bank[out[i].index - index0, d])^2
 * (float64 accumulation, rounded to float32) for the queries whose winner
 * lies in [index0, index0 + M); others are left alone. Local. */
void tc_score_nn_exact(const float *Q, int64_t q, const float *bank, int64_t M, int64_t D,
                       int64_t index0, TcScoreNN *out);

/* Convenience for one whole bank: init + tc_score_nn + tc_score_nn_exact,
 * allocating its own workspace. dist [q] (output) exact squared distances,
 * index [q] (output, may be NULL) nearest rows. Local. */
TcErr tc_score_nn_bank(const float *Q, int64_t q, const float *bank, const float *norms, int64_t M,
                       int64_t D, float *dist, int64_t *index);

/* torch.nn.functional.interpolate(mode="bilinear", align_corners=False) of
 * one map: in [ih x iw] (input) -> out [oh x ow] (output, caller-allocated).
 * Source coordinate (dst + 0.5) * in/out - 0.5 clamped at 0, computed in
 * float32 as PyTorch's CPU kernel does. Local. DESIGN 3.7. */
void tc_score_upsample_bilinear(const float *in, int ih, int iw, float *out, int oh, int ow);

/* scipy.ndimage.gaussian_filter(img, sigma, truncate=truncate, mode="reflect")
 * of a float32 image, in place: separable, axis 0 then axis 1, weights
 * exp(-x^2 / (2 sigma^2)) / sum over radius int(truncate * sigma + 0.5),
 * float64 accumulation, the intermediate rounded to float32 as scipy stores
 * it in the float32 output. Reflect = (d c b a | a b c d | d c b a), repeated
 * for images smaller than the radius. img [h x w] (input/output).
 * Errors: TC_ERR_USAGE (sigma <= 0, bad sizes), TC_ERR_MEM. Local. DESIGN 3.7. */
TcErr tc_score_gaussian(float *img, int h, int w, double sigma, double truncate);

/* The anomaly map of one image: grid [fh x fw] of patch scores (input) ->
 * out [crop x crop] (output): bilinear to crop x crop, then Gaussian sigma
 * (DESIGN: 4, truncate 4). Local. DESIGN 3.7. */
TcErr tc_score_anomaly_map(const float *grid, int fh, int fw, int crop, double sigma, float *out);

/* Image score = max of the n patch scores (DESIGN 3.7); -inf when n = 0. Local. */
float tc_score_image(const float *patch_scores, int64_t n);

#endif
