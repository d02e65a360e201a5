/* tailsampler.h - TailSampler, the class-size predictor (DESIGN 3.6 steps
 * 1-7), as serial kernels on rows of the cosine matrix S. The MPI drivers
 * (mpi/pgram.c, mpi/ptailsample.c) call the row kernels on the rows a rank
 * holds; tc_tail_run() chains everything in one process (tests, small N).
 *
 * Bit-identical S whatever the rank count, grid or panel shape (DESIGN 6):
 * tc_tail_quantise() rounds every normalised embedding to a fixed-point grid
 * of 2^-11. A product of two such components is an integer multiple of
 * 2^-22 and, by Cauchy-Schwarz, every partial sum of a dot product has
 * magnitude < 2, i.e. it is an integer < 2^23 times 2^-22: exactly
 * representable in float32. So EVERY summation order (any BLAS blocking, any
 * K panelling inside psgemm, FMA or not, threads) gives the same exact dot
 * D_ij. The cosine is then one elementwise, order-free formula
 * S_ij = float(D_ij * (r_i * r_j)) with r = 1/||a|| in double (multiplication
 * commutes, so S stays exactly symmetric), and S_ii = 1. The price is an
 * input perturbation of about 1e-4 in the cosines (2^-12 per component);
 * the golden reference (tests/golden/tailsampler_ref.py) applies the same
 * quantisation, so comparisons with it are exact. */
#ifndef TC_TAILSAMPLER_H
#define TC_TAILSAMPLER_H

#include <stdint.h>

#include "err.h"

/* Fixed-point grid of the quantised embeddings: components are k / 2048. */
#define TC_TAIL_FIXED_SCALE 2048.0

/* What happens to the embeddings before step 1 (an option, not DESIGN 3.6):
 *   NONE    the paper: the embeddings as they are;
 *   CENTER  each embedding is normalised, rounded to the 2^-20 grid, and the
 *           mean of those over the N images is subtracted. Post-ReLU global
 *           averages share one large common direction (every cosine of the
 *           raw embeddings is high), which hides the class structure from
 *           the cosine; the mean is that direction. The sum of the rounded
 *           components is an int64, exact in any order, so the mean, and S
 *           after it, are the same bits on any rank count. */
typedef enum { TC_TAIL_NORM_NONE = 0, TC_TAIL_NORM_CENTER = 1 } TcTailNorm;
#define TC_TAIL_NORM_CHOICES "none|center"
#define TC_TAIL_CENTER_SCALE 1048576.0 /* 2^20 */

/* How K_max is chosen from eta (step 6; an option, not DESIGN 3.6):
 *   CAP    the paper: min(K_elbow, K_cap);
 *   ELBOW  K_elbow alone, ignoring the 15% cap;
 *   GAP    the natural break: t = the first index with the largest ratio
 *          eta_t / eta_{t+1} of consecutive cardinalities (descending eta);
 *          K_max = eta_{t+1} when that ratio is at least 3/2, else the
 *          paper's rule (no clear break, e.g. classes of similar sizes).
 *          The 15% cap bounds the tail by image count, which on a pareto
 *          set sits below several tail classes; a break in the sizes
 *          separates few-shot classes from the rest whatever their count.
 *          Ratios are compared on exact int64 cross products. */
typedef enum { TC_TAIL_CUT_CAP = 0, TC_TAIL_CUT_ELBOW = 1, TC_TAIL_CUT_GAP = 2 } TcTailCut;
#define TC_TAIL_CUT_CHOICES "cap|elbow|gap"

/* The rules a backbone's features get when the user does not choose
 * (--tail-p auto, --tail-cut auto): mobilenetv2 p = 1, GAP (measured with
 * its default embedding block_10_project_BN:std, DECISIONS.md); any other
 * or unknown backbone (NULL) the paper's p = 0.85, CAP. Local. */
void tc_tail_default_rules(const char *backbone, double *p, int *cut);

/* Parse / name the choices above; parse returns -1 for an unknown name. */
int tc_tail_norm_parse(const char *s);
const char *tc_tail_norm_name(int norm);
int tc_tail_cut_parse(const char *s);
const char *tc_tail_cut_name(int cut);

/* CENTER, first half: add the rounded normalised components of rows X
 * [n x E] to sum [E] (int64, units of 2^-20; caller zeroes it). Returns the
 * first row holding an inf or NaN, or -1. Local; sums of several row blocks
 * (any split, any order, e.g. an MPI_SUM allreduce) are the same integers. */
int64_t tc_tail_center_sums(const float *X, int64_t n, int64_t E, int64_t *sum);

/* CENTER, second half: Y [n x E] = rounded normalised X minus the mean
 * sum / N, in float. Each element depends only on its own row and the global
 * sum, so any row split gives the same bits. Y may equal X. Local. */
void tc_tail_center_apply(const float *X, int64_t n, int64_t E, const int64_t *sum, int64_t N,
                          float *Y);

/* Normalise each row of X and round it to the 2^-11 grid (half to even).
 * Local. X [n x E] (input, row-major); A [n x E] (output, exact multiples of
 * 2^-11); r [n] (output) = 1 / ||A row|| in double, 0 for a zero row.
 * Returns the first row holding an inf or NaN (its A and r are then
 * meaningless), or -1 when every value is finite. DESIGN 3.6 step 1. */
int64_t tc_tail_quantise(const float *X, int64_t n, int64_t E, float *A, double *r);

/* Turn a block of exact dot products D (rows row0.., columns col0.. of the
 * global matrix) into cosines in place: S_ij = float(D_ij * (r_i * r_j)),
 * and S_ii = 1 where the global row equals the global column. Local.
 * S [nrows x ncols] leading dimension ld (row-major); r_rows [nrows],
 * r_cols [ncols]. DESIGN 3.6 step 1. */
void tc_tail_scale(float *S, int64_t nrows, int64_t ncols, int64_t ld, const double *r_rows,
                   const double *r_cols, int64_t row0, int64_t col0);

/* The "trim_min" threshold of one row of S (DESIGN 3.6 step 2): q =
 * trunc(N s) / N in float32, m = min q, th_half = cos(arccos(m) / 2)
 * computed as the equal sqrt((1 + m) / 2) in double rounded to float (sqrt
 * is correctly rounded, so every libm agrees), H = q > th_half ascending,
 * th = H[len - floor(len p)], H[0] when floor(len p) = 0, th_half when H is
 * empty (only when every q rounds to 1). A counting pass over the integer
 * keys trunc(N s) in [-N, N] replaces the sort. Local.
 * row [N] (input); hist [N + 2] int32 work, zero on entry and on return. */
float tc_tail_row_threshold(const float *row, int64_t N, double p, int32_t *hist);

/* Steps 2-3 for nrows consecutive rows of S: th[i] and count[i] = #{j :
 * S_ij >= th[i]}. Local. S [nrows x N] leading dimension ld; th [nrows],
 * count [nrows] (output). */
TcErr tc_tail_threshold_rows(const float *S, int64_t nrows, int64_t N, int64_t ld, double p,
                             float *th, int64_t *count);

/* Steps 1 (scaling) and 2-3 in one pass over memory, for nrows consecutive
 * rows of EXACT DOTS (global rows row0..): each row is turned into cosines
 * in place exactly as tc_tail_scale does (S_ii = 1), then th[i] and count[i]
 * as tc_tail_threshold_rows. Same results as tc_tail_scale followed by
 * tc_tail_threshold_rows, one read of S fewer. Local. S [nrows x N] leading
 * dimension ld (in: dots, out: cosines); r_all [N] (global inverse norms). */
TcErr tc_tail_scale_threshold_rows(float *S, int64_t nrows, int64_t N, int64_t ld,
                                   const double *r_all, int64_t row0, double p, float *th,
                                   int64_t *count);

/* Step 4 for nrows consecutive rows j of S: kappa[j] = mode of {count_i :
 * S_ji >= th_i} (S symmetric), the smallest value winning ties. Local.
 * S [nrows x N] leading dimension ld; th_all [N], count_all [N] (global,
 * input); kappa [nrows] (output). */
TcErr tc_tail_vote_rows(const float *S, int64_t nrows, int64_t N, int64_t ld,
                        const float *th_all, const int64_t *count_all, int64_t *kappa);

/* Step 5: the class cardinalities eta (descending) from all N class sizes.
 * Local. kappa [N] (input). *eta is malloc'd [*neta] (caller frees). */
TcErr tc_tail_cardinalities(const int64_t *kappa, int64_t N, int64_t **eta, int64_t *neta);

/* Step 6: K_elbow, K_cap and K_max = min of both from eta (descending,
 * neta >= 1). dist [neta] (optional output, NULL to skip): each point's
 * orthogonal distance to the line through the first and last point, for the
 * elbow plot. Ties are decided on exact integer numerators. Local. */
void tc_tail_kmax(const int64_t *eta, int64_t neta, int64_t *k_elbow, int64_t *k_cap,
                  int64_t *k_max, double *dist);

/* Everything TailSampler produces for N images. */
typedef struct {
  int64_t N;
  float *th;         /* [N] per-row threshold (step 2) */
  int64_t *count;    /* [N] neighbourhood size (step 3) */
  int64_t *kappa;    /* [N] predicted class size (step 4) */
  uint8_t *is_tail;  /* [N] 1 = tail image (step 7) */
  int64_t neta;
  int64_t *eta;      /* [neta] class cardinalities, descending (step 5) */
  double *elbow_dist;/* [neta] distance of each (t, eta_t) to the elbow line */
  int64_t k_elbow, k_cap, k_max;
  int cut;           /* TcTailCut used by tc_tail_finish (0 = the paper's) */
} TcTailResult;

/* Allocate a result for N images with th, count, kappa, is_tail (zeroed).
 * Local. Free with tc_tail_result_destroy. */
TcErr tc_tail_result_create(int64_t N, TcTailResult **out);
/* NULL-safe; sets *r = NULL. */
void tc_tail_result_destroy(TcTailResult **r);

/* K_max of rule cut (TcTailCut) from eta (descending, neta >= 1), K_elbow
 * and K_cap (tc_tail_kmax). Local. */
int64_t tc_tail_kmax_rule(int cut, const int64_t *eta, int64_t neta, int64_t k_elbow,
                          int64_t k_cap);

/* Steps 5-7 once r->kappa is complete: eta, elbow data, K values (K_max by
 * rule r->cut), is_tail. Local (every rank calls it on the same global
 * kappa, same answer). */
TcErr tc_tail_finish(TcTailResult *r);

/* DESIGN 3.6 steps 1-7 in one process: X [N x E] embeddings (input). The
 * Gram is computed in row panels with sgemm, never N x N at once.
 * *out is created here (tc_tail_result_destroy). */
TcErr tc_tail_run(const float *X, int64_t N, int64_t E, double p, TcTailResult **out);

/* tc_tail_run with the options above: norm (TcTailNorm) applied to X first,
 * K_max by rule cut (TcTailCut). tc_tail_run is norm NONE, cut CAP. */
TcErr tc_tail_run_opts(const float *X, int64_t N, int64_t E, double p, int norm, int cut,
                       TcTailResult **out);

/* The paper's Table 5 measures, from the true labels (evaluation only). */
typedef struct {
  int64_t n_tail_samples;   /* images of tail classes that are not noise */
  int64_t n_head_samples;   /* images of head classes that are not noise */
  int64_t n_noise;          /* defective images */
  int64_t n_classes;
  double missing_tail;      /* tail-class images not selected / n_tail_samples */
  double included_noise;    /* noise images selected / n_noise */
  double included_head;     /* head-class images selected / n_head_samples */
  double class_size_error;  /* sum_j w_j |kappa_j - |C_j|| / sum_j w_j, w_j = 1/|C_j| */
  double auroc_tail;        /* AUROC of -kappa for "image of a tail class" */
} TcTailDiag;

/* Compute the Table 5 measures. Local. cls [N] true class ids (any int64
 * labels); is_noise, is_tail_class [N] 0/1. |C_j| counts every training
 * image carrying j's class label (noise included, it is in the training
 * set). A ratio whose denominator is 0 is NaN. */
TcErr tc_tail_diagnostics(int64_t N, const int64_t *kappa, const uint8_t *is_tail,
                          const int64_t *cls, const uint8_t *is_noise,
                          const uint8_t *is_tail_class, TcTailDiag *d);

#endif
