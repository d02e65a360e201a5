/* peval.h - evaluation of a scores.h5 against the MVTec ground truth
 * (DESIGN 3.7): image AUROC and pixel AUROC per class, means over tail,
 * head and all classes.
 *
 * Ground truth: a scored path 'CLASS/test/TYPE/NAME' (ROOT-relative, or
 * absolute under ROOT) is matched to ROOT's test split (tc_dataset_list);
 * label = TYPE != "good"; the mask of an anomalous image is the file the
 * lister found under CLASS/ground_truth/TYPE/, processed as DESIGN 3.1
 * (same resize and crop as the scores' feature attributes say, anomalous
 * where the resized value is 255: tc_resize_mask). Good images have an
 * all-zero mask.
 *
 * Distribution: the image AUROCs are cheap and computed on every rank; the
 * pixel AUROC of class c is computed by rank c % size, which reads that
 * class's maps one at a time through its own serial handle of the file and
 * keeps 4 bytes per pixel (metrics.h); one reduction collects the values. */
#ifndef TC_PEVAL_H
#define TC_PEVAL_H

#include <mpi.h>
#include <stdint.h>

#include "dataset.h"
#include "err.h"
#include "metrics.h"

typedef struct {
  char name[128];      /* product class */
  int is_tail;         /* 1 tail, 0 head, -1 unknown (no dataset.json) */
  int64_t n_images;    /* scored test images of the class */
  int64_t n_anomalous; /* of which TYPE != good */
  int64_t n_unscored;  /* test images of the class in ROOT that the scores file lacks */
  double image_auroc;  /* NaN when undefined (one label only) */
  double pixel_auroc;  /* NaN when undefined */
} TcEvalClass;

typedef struct {
  char method[64];     /* the scores file's `method` attribute ("?" when absent) */
  char path[1024];     /* the scores file */
  char source[4096];   /* what predict scored ("" when not recorded) */
  int n_classes;
  TcEvalClass *classes; /* [n_classes], sorted by name */
  TcGroupMeans image, pixel;
  /* decisions of a calibrated model's scores (scores_io.h); else calibrated
   * 0 and the rest NaN / 0 */
  int calibrated;
  double threshold, target_frr;
  int64_t n_good, n_good_ng;  /* good test images, and those decided NG (false rejects) */
  int64_t n_bad, n_bad_ok;    /* anomalous ones, and those decided OK (escapes) */
} TcEvalResult;

/* Evaluate one scores file. Collective on comm; every rank gets the same
 * result. info (may be NULL) gives tail/head membership: then every scored
 * class must be in it and every class in it must be scored ("missing
 * class"), else TC_ERR_FORMAT. A scored image that is not in ROOT's test
 * split, or an anomalous one without a mask file, is TC_ERR_FORMAT naming
 * the image. *out is allocated here; free with tc_eval_result_destroy. */
TcErr tc_peval_scores(MPI_Comm comm, const char *scores_path, const char *root,
                      const TcDatasetInfo *info, TcEvalResult **out);

/* Free a result; NULL-safe, sets *r to NULL. Local. */
void tc_eval_result_destroy(TcEvalResult **r);

#endif
