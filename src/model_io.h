/* model_io.h - the model.h5 file (DESIGN 5): fit writes and predict reads
 * exactly one layout, named in model_io.c only.
 *
 * model.h5 (tc_kind "model"), M bank rows of D floats:
 *   /memory_bank          float32 [M, D]   the bank, rows in ascending global
 *                                          patch index (pfit.h: image patches
 *                                          g = image * HW + position, then the
 *                                          tail views' patches after N * HW)
 *   /memory_weights       float32 [M]      each row's weight: its patch's LOF
 *                                          score for a method with
 *                                          memory_weights (method.h), else 1
 *   /coreset/indices      int64   [M]      each row's global patch index g
 *   /coreset/clean_order  int64   [m_clean] M_clean's indices in the order
 *                                          the greedy loop picked them
 *   /coreset/tail_order   int64   [m_tail]  M_tail's, likewise (m = 0: the
 *                                          dataset exists with no value)
 *   /tail/...             the tail group (class_size, is_tail, k_max), written
 *                         by fit through its own module
 *   /calibration/         only when fit held out validation images (calib.h):
 *     val_scores          float32 [n_val]  their image scores against the bank
 *     val_class           int64   [n_val]  index into class_names, -1 = none
 *     val_paths           string  [n_val]  their paths in the features file
 *     class_names         string  [K]      folder classes (absent when K = 0)
 *     class_thresholds    float32 [K]      NaN: too few images, global applies
 *     class_counts        int64   [K]
 *     attributes: target_frr, threshold, expected_frr (float64), n_val,
 *       n_classes, bank_digest (int64: tc_calib_bank_digest of the bank the
 *       scores were made against), source (string); the threshold must be the
 *       rule's over val_scores, or the file is refused as damaged.
 *   A calibration file (tc_kind "calibration", `tailedcore calibrate`) holds
 *   the same group, with the model's feature attributes and method at its
 *   root.
 *   root attributes:
 *     the feature attributes of features_io.h (backbone, weights_sha256, taps,
 *     normalisation: strings; D, E, resize, crop, fmap_h, fmap_w: int64), and
 *     strings  method, coreset_mode, tail_coreset, tail_cut, embed_norm, tail_aug,
 *              tail_views, program_version, source_features
 *     float64  coreset_ratio, tail_coreset_ratio, coreset_oversample, lof_keep, tail_p,
 *              lof_threshold (NaN without the noise filter)
 *     int64    coreset_shard, proj_dim, lof_k, tail_views_per_image,
 *              tail_view_images, tail_view_patches, seed, N, n_patches, M,
 *              coreset_clean_size, coreset_tail_size,
 *              coreset_clean_candidates, coreset_tail_candidates, lof_removed
 *   (each is the field of TcModelInfo of the same name, which says what it
 *   holds)
 *
 * Collective on the file's communicator unless marked Local. */
#ifndef TC_MODEL_IO_H
#define TC_MODEL_IO_H

#include "calib.h"
#include "features_io.h"
#include "h5fmt.h"

/* ------------------------------------------------------------ writing (fit) */

/* Everything fit records about how the bank was made: the root attributes,
 * one per field of the same name (features: the feature attributes). */
typedef struct {
  const TcFeaturesMeta *features; /* copied so predict extracts as fit did */
  const char *method;             /* method.h name */
  double coreset_ratio;
  double tail_coreset_ratio;      /* M_tail's ratio (= coreset_ratio unless --tail-coreset-ratio) */
  const char *coreset_mode;       /* tc_coreset_mode_name */
  int64_t coreset_shard;          /* two-round modes; else 0 */
  double coreset_oversample;      /* two-round modes; else 0 */
  const char *tail_coreset;       /* --tail-coreset: global | per-image */
  int64_t proj_dim, lof_k;
  double lof_keep;
  double tail_p;                  /* the TailSampler rules used (after "auto") */
  const char *tail_cut, *embed_norm;
  const char *tail_aug;           /* --tail-aug as given */
  const char *tail_views;         /* how M_tail's candidates were made, in words */
  int64_t tail_views_per_image;   /* V; 0 without views */
  int64_t tail_view_images;       /* T tail images whose views were extracted */
  int64_t tail_view_patches;      /* T * V * HW */
  int64_t seed;
  const char *program_version;
  const char *source_features;    /* features.h5 path as given */
  int64_t N, n_patches, M;        /* images, N * HW, bank rows */
  int64_t coreset_clean_size, coreset_tail_size;             /* m_clean, m_tail */
  int64_t coreset_clean_candidates, coreset_tail_candidates; /* the points each coreset chose from */
  int64_t lof_removed;            /* patches the noise filter dropped */
  double lof_threshold;           /* its quantile; NaN without it */
} TcModelInfo;

/* Create model.h5 under a temporary name with /memory_bank [M, D],
 * /memory_weights [M] and the /coreset datasets [M], [m_clean], [m_tail].
 * Collective; on failure nothing is left (abandoned). Publish with
 * tc_h5_publish, or tc_h5_abandon. */
TcErr tc_model_create(MPI_Comm comm, const char *path, int64_t M, int64_t D, int64_t m_clean,
                      int64_t m_tail, TcH5File **out);

/* Write bank rows [row0, row0 + n): rows [n x D] and their weights [n].
 * Collective (n may be 0). */
TcErr tc_model_write_rows(TcH5File *f, int64_t row0, int64_t n, const float *rows, const float *weights);

/* Write the /coreset arrays: indices [M], clean [m_clean], tail [m_tail]
 * (the sizes given to tc_model_create), from the rank passing writer = 1;
 * the others pass 0 and join with no rows (their pointers unused).
 * Collective. */
TcErr tc_model_write_coreset(TcH5File *f, int writer, int64_t M, const int64_t *indices, int64_t m_clean,
                             const int64_t *clean, int64_t m_tail, const int64_t *tail);

/* Write the root attributes. Collective (same info on every rank). */
TcErr tc_model_write_info(TcH5File *f, const TcModelInfo *info);

/* Write /calibration from c (the same on every rank); the rank passing
 * writer = 1 writes the arrays. Collective. */
TcErr tc_model_write_calibration(TcH5File *f, int writer, const TcCalibration *c);

/* --------------------------------------------------------- reading (predict) */

/* What predict needs to know of a model before it reads the bank. */
typedef struct {
  TcFeaturesMeta features; /* the feature attributes (N unset: 0) */
  char method[64];
  int64_t M;               /* bank rows */
  int weights_scores;      /* the method scores with /memory_weights (method.h) */
  int has_weights;         /* /memory_weights is present (then checked float32 [M]) */
} TcModelMeta;

/* The reading steps, in predict's order. Between two of them (and after
 * the last) the caller agrees the code across the communicator before going
 * on, and leaves on an error: each step reads only after the previous one
 * passed on every rank. Every message names the file (as given to open). */

/* 1. Open a model file (tc_kind "model"; errors as tc_h5_open's). */
TcErr tc_model_open(MPI_Comm comm, const char *path, TcH5File **out);

/* 2. The feature attributes (tc_features_meta_read_attrs's checks) and the
 * method. Fills meta->features and meta->method; the rest zero. */
TcErr tc_model_read_meta(TcH5File *f, TcModelMeta *meta);

/* 3. The bank's shape: /memory_bank float32 [M, D] with M > 0, then
 * /memory_weights float32 [M] when present, which it must be when the
 * method scores with it (damaged weights are a damaged model for any
 * method). Sets meta->M, weights_scores, has_weights. */
TcErr tc_model_check_bank(TcH5File *f, TcModelMeta *meta);

/* 4. Read bank rows [row0, row0 + n) into bank [n x D] and, when weights
 * is not NULL (pass it when meta->has_weights), all M weights; then every
 * bank value read must be finite with |x| <= TC_VALUE_ABS_MAX (checked.h),
 * else TC_ERR_FORMAT naming the row and column. */
TcErr tc_model_read_rows(TcH5File *f, const TcModelMeta *meta, int64_t row0, int64_t n, float *bank,
                         float *weights);

/* 5. The weights read in step 4 likewise, naming the first bad one. Local. */
TcErr tc_model_check_weights(const TcH5File *f, const TcModelMeta *meta, const float *weights);

/* 1 when the model holds /calibration. Collective. */
int tc_model_has_calibration(TcH5File *f);

/* Read /calibration into c (every rank), check its shapes, values and that
 * the stored threshold is the rule's over the stored scores. On error c may
 * hold partial data: tc_calib_clear it. Collective. */
TcErr tc_model_read_calibration(TcH5File *f, TcCalibration *c);

#endif
