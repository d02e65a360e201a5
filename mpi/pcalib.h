/* pcalib.h - fit's calibration (issue 16, calib.h): which training images
 * are held out for validation, and, once the bank is written, their scores
 * against it and the thresholds, stored in model.h5's /calibration.
 *
 * The validation images take no part in the bank: no coreset picks their
 * patches (fit drops them before the coresets). They do take part in what
 * describes the data set as a whole: TailSampler's class sizes (it decides
 * which images are tail before the split, so a tail image is never held
 * out) and the LOF neighbourhoods and keep-quantile of the noise filter
 * (good images of the same folders, like the ones kept). Their scores are
 * exactly predict's (tc_ppredict_score_rows on the model file before it is
 * published), so the threshold holds for the model as published. */
#ifndef TC_PCALIB_H
#define TC_PCALIB_H

#include <mpi.h>
#include <stdint.h>

#include "calib.h"
#include "err.h"
#include "h5fmt.h"

/* Choose the validation images of the N images of an open features file:
 * --val-fraction `fraction` per folder class (tc_calib_holdout, key =
 * seeded hash of the path), or the images `list` names (paths as in
 * /paths, one a line, '#' comments and blank lines skipped; a line that is
 * no image of the file is an error naming the list and the line). Images
 * flagged in is_tail [N] (NULL: none) are never held out: listed ones stay
 * in the bank, with a warning. No validation image, or no training image
 * left, is an error. held [N] (output, every rank), *n_held; cal: rank 0
 * gets the validation paths, classes and class names, every rank n_val,
 * n_classes and source. Collective; agreed. */
TcErr tc_pcalib_holdout(MPI_Comm comm, TcH5File *features, const char *features_path, int64_t N,
                        const uint8_t *is_tail, double fraction, const char *list, int64_t seed, uint8_t *held,
                        int64_t *n_held, TcCalibration *cal);

/* `tailedcore calibrate`: every image of an open features file is a
 * validation image (held [N] all 1, output); cal as tc_pcalib_holdout
 * fills it. Collective; agreed. */
TcErr tc_pcalib_all(MPI_Comm comm, TcH5File *features, const char *features_path, int64_t N,
                    TcCalibration *cal, uint8_t *held);

/* Score the held images (features_path rows) against the bank of `model`
 * (an open model file; fit's, complete but not yet published, is synced
 * first) and set cal's scores, bank digest and thresholds for target_frr
 * on every rank. Collective; agreed. */
TcErr tc_pcalib_score(MPI_Comm comm, TcH5File *model, const char *features_path, const uint8_t *held, int64_t N,
                      int64_t mem_per_rank, double target_frr, TcCalibration *cal);

/* Score the held images (features_path rows) against the bank of `model`
 * (fit's output, complete but not yet published), set the thresholds for
 * target_frr and write /calibration into model. Collective; agreed. */
TcErr tc_pcalib_write(MPI_Comm comm, TcH5File *model, const char *features_path, const uint8_t *held, int64_t N,
                      int64_t mem_per_rank, double target_frr, TcCalibration *cal);

#endif
