/* scores_io.h - the scores.h5 file (DESIGN 5): predict writes it, eval reads
 * it, both through this one layout on top of h5fmt.
 *
 *   kind "scores" (root attribute tc_kind; tc_format_version as every file)
 *   /image_scores  float32 [T]              contiguous; max patch score per image
 *   /anomaly_maps  float32 [T, crop, crop]  chunked one image per chunk
 *   /paths         string  [T]              test image paths (as in the
 *                                           features file, or ROOT-relative)
 *   attributes, written in this order after the two float datasets:
 *     the model's feature attributes (features_io.h: backbone,
 *       weights_sha256, taps, normalisation, D, E, resize, crop, fmap_h,
 *       fmap_w), which give the maps' geometry
 *     method       string  the model's method
 *     model        string  the model file's path as given
 *     source       string  the features file or data root scored
 *     bank_mode    string  "replicated" or "split"
 *     sigma        float64 Gaussian sigma of the anomaly maps
 *     memory_rows  int64   rows of the memory bank
 *   /paths is created last, when its string width is known.
 *   when the model is calibrated (calib.h), also
 *     /thresholds         float32 [T]  the threshold applied to each image
 *                                      (its class's, else the global one)
 *     /normalised_scores  float32 [T]  score / threshold (1 = the boundary)
 *     /decisions          uint8   [T]  1 = NG (score > threshold), 0 = OK
 *     threshold, target_frr (float64), calibration (string: where the
 *     threshold came from) attributes
 *   when predict ran with --search ivf (absent with the default exact search,
 *   whose files are unchanged), written just before publication:
 *     search             string  "ivf"
 *     ivf_nlist          int64   k-means lists of the index
 *     ivf_nprobe         int64   lists scanned per patch
 *     ivf_recall         float64 recall@1 on the sampled patches (the IVF
 *                                neighbour as near as the exact one)
 *     ivf_recall_patches int64   patches in that sample
 *     ivf_image_score    string  "exact" (each image score made the exact
 *                                search's, tc_ivf_certify_max) or "ivf"
 *     ivf_exact_patches  int64   patches rescored exactly for that (0 with "ivf")
 *
 * Collective on the file's communicator. */
#ifndef TC_SCORES_IO_H
#define TC_SCORES_IO_H

#include "features_io.h"
#include "h5fmt.h"

/* What predict records about one run. */
typedef struct {
  int64_t T;                      /* test images */
  const TcFeaturesMeta *features; /* the model's feature attributes; crop sizes the maps */
  const char *method;
  const char *model;     /* model file as given */
  const char *source;    /* features file or data root */
  const char *bank_mode; /* "replicated" or "split" */
  double sigma;
  int64_t memory_rows;
  int calibrated;        /* the decision datasets and attributes below exist */
  double threshold, target_frr;
  const char *calibration;
} TcScoresRun;

/* What eval needs of a scores file. */
typedef struct {
  int64_t T;            /* scored images */
  int64_t resize, crop; /* geometry: maps are crop x crop */
  char method[64];      /* the method attribute, "?" when the file has none */
  char source[4096];    /* what predict scored (features file or data root), "" when absent */
  int calibrated;       /* the decision datasets are there (checked [T]) */
  double threshold, target_frr; /* their attributes; NaN when not calibrated */
} TcScoresMeta;

/* Create scores.h5 under a temporary name with both float datasets and
 * every attribute of run. On error nothing stays open. Collective. Publish
 * with tc_h5_publish after tc_scores_write_paths. */
TcErr tc_scores_create(MPI_Comm comm, const char *path, const TcScoresRun *run, TcH5File **out);

/* Write images [row0, row0 + n) of this rank: scores [n], maps
 * [n x crop x crop] (n may be 0). Collective. */
TcErr tc_scores_write_images(TcH5File *f, int64_t row0, int64_t n, const float *scores, const float *maps);

/* Write images [row0, row0 + n)'s thresholds, normalised scores and
 * decisions (calibrated runs only). Collective. */
TcErr tc_scores_write_decisions(TcH5File *f, int64_t row0, int64_t n, const float *thresholds,
                                const float *normalised, const uint8_t *decisions);

/* The --search ivf attributes above. Collective (the same values on every
 * rank). */
typedef struct {
  int64_t nlist, nprobe;
  double recall;
  int64_t recall_patches;
  int exact_images;      /* image scores made exact */
  int64_t exact_patches; /* patches rescored for it */
} TcScoresIvf;
TcErr tc_scores_write_ivf(TcH5File *f, const TcScoresIvf *iv);

/* Read all T decisions (1 = NG) into dec [T]; the file must be calibrated.
 * Collective. */
TcErr tc_scores_read_decisions(TcH5File *f, const TcScoresMeta *meta, uint8_t *dec);

/* Write this rank's paths [row0, row0 + n) of T. Collective (the string
 * width is agreed inside). */
TcErr tc_scores_write_paths(TcH5File *f, int64_t T, int64_t row0, int64_t n, const char *const *paths);

/* Open and validate a scores file: kind, T >= 1 images, resize and crop
 * attributes (crop <= resize), /image_scores [T] and /anomaly_maps
 * [T, crop, crop] float32. On error nothing stays open. Collective on comm
 * (MPI_COMM_SELF for one rank's own handle). */
TcErr tc_scores_open(MPI_Comm comm, const char *path, TcH5File **out, TcScoresMeta *meta);

/* Read all T image scores into scores [T]. Collective. */
TcErr tc_scores_read_image_scores(TcH5File *f, const TcScoresMeta *meta, float *scores);

/* Read all T paths: *paths as tc_h5_read_strings gives them (one
 * allocation, the caller frees it with free()). Collective. */
TcErr tc_scores_read_paths(TcH5File *f, const TcScoresMeta *meta, char ***paths);

/* Read the anomaly map of image `row` into map [crop x crop]; a value that
 * is not finite (or over TC_VALUE_ABS_MAX) is TC_ERR_FORMAT naming the file
 * and the image, as in the image scores. Collective. */
TcErr tc_scores_read_map(TcH5File *f, const TcScoresMeta *meta, int64_t row, float *map);

#endif
