/* ppredict.h - the distributed predict step (DESIGN 3.7, 6): test images
 * sharded over ranks in contiguous blocks, every patch scored against the
 * memory bank of a model.h5, anomaly maps, scores.h5 published atomically.
 *
 * The output's layout is scores_io.h.
 *
 * Bank placement: replicated on every rank when it fits in mem_per_rank
 * (bank + norms + the working set of one image), else split over all ranks
 * by whole tiles of TC_SCORE_TILE_ROWS rows; then each round every rank
 * scores the query patches of all ranks' current images against its slice
 * and one MPI_Allreduce with a (key, lowest index) min operator, carrying
 * the exact distance, decides every patch's nearest row. Both placements
 * give the same bits on any number of ranks (see score.h).
 *
 * --search ivf (issue 17): the bank must be replicated (split or too large
 * for mem_per_rank is refused, TC_ERR_USAGE / TC_ERR_MEM); every rank holds
 * the same IVF index (ivf.h, fixed seed), built with the assignments split
 * over the ranks (pivf.h: the serial build's bits) or loaded from a file of
 * `tailedcore index` (refused when made for another bank or --nlist), and
 * searches its own images, so the scores do not depend on the rank count
 * either. A seeded
 * sample of about TC_PREDICT_RECALL_SAMPLE patches (by global patch number)
 * is also scored exactly; the recall@1 (the IVF neighbour is as near as the
 * exact one) is logged and stored in scores.h5 (scores_io.h). Unless
 * ivf_image_score, every image's score is then made the exact search's by
 * tc_ivf_certify_max (its patches rescored exactly in descending bound until
 * the bound closes; the image's sampled patches ride on its first pass over
 * the bank and keep their exact neighbours); the number of patches rescored
 * for the bound is logged and stored. */
#ifndef TC_PPREDICT_H
#define TC_PPREDICT_H

#include <mpi.h>
#include <stdint.h>

#include "err.h"
#include "h5fmt.h"
#include "score.h"

/* Patches of a predict --search ivf run scored exactly too, about. */
#define TC_PREDICT_RECALL_SAMPLE 2000

typedef enum { TC_BANK_AUTO = 0, TC_BANK_REPLICATED, TC_BANK_SPLIT } TcBankMode;

/* predict's nearest-neighbour search (--search). */
typedef enum { TC_SEARCH_EXACT = 0, TC_SEARCH_IVF = 1, TC_SEARCH_AUTO = 2 } TcSearch;

typedef struct {
  const char *model;        /* model.h5 (kind "model") */
  const char *features;     /* precomputed test features (kind "features"), or NULL */
  const char *data_root;    /* MVTec root (with split), or NULL */
  const char *split;        /* "test" */
  const char *list;         /* manifest of ROOT-relative paths (with data_root), or a plain
                               list of image files (without), or NULL */
  const char *const *images; /* [n_images] image files to score, as given (without data_root) */
  int64_t n_images;
  const char *csv;          /* path,class,score table to publish too, or NULL */
  const char *weights;      /* backbone weights file (image mode); its checksum must be the model's */
  const char *out;          /* scores.h5 to publish */
  int64_t mem_per_rank;     /* bytes a rank may use for the bank and its work */
  TcBankMode bank_mode;     /* auto: split only when the bank does not fit */
  double sigma;             /* anomaly-map Gaussian sigma (DESIGN: 4) */
  double target_frr;        /* > 0: the threshold for this rate from the model's validation
                               scores instead of the one fit stored; 0: the model's */
  const char *maps_dir;     /* heatmap PNGs under this folder (needs images), or NULL */
  int maps_all;             /* every image, not only the NG ones */
  const char *calibration;  /* a calibration file (`tailedcore calibrate`) instead of the model's own */
  TcSearch search_mode;      /* exact: every memory row; ivf: IVF index (ivf.h), bank replicated; auto (the
                               default): ivf unless the bank must be split over the ranks, then exact */
  int64_t nlist;            /* ivf: k-means lists, 0 = tc_ivf_default_nlist(M) */
  int64_t nprobe;           /* ivf: lists scanned per patch (>= 1; clamped to nlist) */
  const char *index;        /* ivf: a stored index (`tailedcore index`, pivf.h) instead of the build, or NULL */
  int ivf_image_score;      /* ivf: 1 = image score = max of the IVF patch scores; 0 = made exact
                               (tc_ivf_certify_max, the default) */
} TcPredictOptions;

/* Run predict. Collective on comm. All inputs are checked before the output
 * is created; the model's feature attributes must match the features file
 * (backbone, weights, taps, D, geometry) or the error is TC_ERR_FORMAT.
 * With data_root instead of features, rank 0 lists the images (split or
 * list), every rank extracts its own block with the extractor of
 * pextract.h configured from the model's attributes (a bad image stops the
 * job, naming it). With neither, the images are plain files: the entries of
 * list, then images[]; /paths keeps them as given. With csv, rank 0 also
 * publishes one row per image (path, class, image score; csv_out.h): class
 * is the CLASS folder of a ROOT-relative CLASS/train|test/TYPE/NAME path
 * (data root, or a features file's paths), empty for plain files. Returns
 * an agreed code; on error nothing is published (scores.h5 is published
 * before the CSV is renamed into place: a failed rename leaves the scores).
 * With a calibrated model (model_io.h /calibration) every image also gets
 * the threshold of its class (or the global one), a normalised score and an
 * OK/NG decision in scores.h5 and the CSV; maps_dir writes a heatmap PNG
 * per NG image (every image with maps_all, or when the model is not
 * calibrated) as MAPS/NAME.heatmap.png, NAME the image as listed without
 * its extension.
 * DESIGN 3.7, 6. */
TcErr tc_ppredict_run(MPI_Comm comm, const TcPredictOptions *opt);

/* Image scores of rows[0..n) of the features file `features` (checked
 * against the model) against the bank of `model`, an open model file that
 * may still be being written (fit's, flushed: its bank, weights and
 * attributes complete); exactly predict's scores for those images. scores
 * [n] (output) on every rank, *bank_digest (output) tc_calib_bank_digest of
 * the model's bank. The model file stays open. Collective on
 * comm; the error is agreed. */
TcErr tc_ppredict_score_rows(MPI_Comm comm, TcH5File *model, const char *features, const int64_t *rows,
                             int64_t n, int64_t mem_per_rank, float *scores, uint64_t *bank_digest);

/* The MPI reduction of TcScoreNN records: lowest key, then lowest index;
 * the winner's exact distance travels with it. Collective on comm:
 * MPI_Allreduce in place over n records. Exposed for tests. */
TcErr tc_ppredict_nn_allreduce(MPI_Comm comm, TcScoreNN *nn, int64_t n);

#endif
