/* tail_io.h - the tail/ group (DESIGN 3.6, DESIGN 5): TailSampler's result
 * as `tailedcore tailsample` writes it whole into tail.h5 and fit writes
 * its summary into model.h5. One writer, so the two files cannot drift.
 *
 * Layout (N images, K estimated classes; "both" = tail.h5 and model.h5):
 *   tail/class_size      int64   [N]  predicted class size kappa     both
 *   tail/is_tail         uint8   [N]  1 = tail image (kappa <= K_max) both
 *   tail/th              float32 [N]  per-row trim_min threshold     tail.h5
 *   tail/count           int64   [N]  neighbourhood size             tail.h5
 *   tail/eta             int64   [K]  class cardinalities, descending
 *                                     (the elbow plot's y)           tail.h5
 *   tail/elbow_distance  float32 [K]  distance of (t, eta_t) to the
 *                                     elbow line                     tail.h5
 *   tail/k_elbow, tail/k_cap int64 [1]                               tail.h5
 *   tail/k_max           int64   [1]                                 both
 *   attributes on tail (tail.h5): k_elbow, k_cap, k_max, n_images, n_tail,
 *     tail_p, tail_cut, embed_norm, mode, gram, features
 *   /paths               string  [N]  copied from the features file, when
 *                                     it has them                    tail.h5
 * A model fitted without TailSampler (patchcore, softpatch) holds class
 * size 0 and is_tail 0 for every image and k_max -1. model.h5 keeps its
 * TailSampler rules (tail_p, tail_cut, embed_norm) as root attributes,
 * written by fit. Datasets are created and written in the order above. */
#ifndef TC_TAIL_IO_H
#define TC_TAIL_IO_H

#include <stdint.h>

#include "h5fmt.h"
#include "tailsampler.h"

/* What tail.h5 records beyond model.h5's summary. */
typedef struct {
  const char *features;      /* the features file the embeddings came from */
  double tail_p;             /* trim_min p that ran */
  int embed_norm;            /* TcTailNorm that ran */
  int streamed;              /* 1: the streaming mode ran (attribute mode) */
  int has_paths;             /* 1 on every rank: write /paths */
  const char *const *paths;  /* this rank's rows [lo, hi) of /paths */
} TcTailFileInfo;

/* Write the tail/ group of N images into f (created, not yet published).
 * r: the global result (identical on every rank), or NULL in model.h5 when
 * no TailSampler ran. This rank writes image rows [lo, hi) (the ranks'
 * ranges cover [0, N) once; a range may be empty) and, when lead is 1 (on
 * exactly one rank), the short global vectors. full: NULL writes model.h5's
 * summary; otherwise the whole tail.h5 layout (r must not be NULL).
 * Allocates nothing, so nothing local can fail between its collective calls.
 * Collective on the file's communicator; the caller abandons the file on
 * error. */
TcErr tc_tail_io_write(TcH5File *f, const TcTailResult *r, int64_t N, int64_t lo, int64_t hi, int lead,
                       const TcTailFileInfo *full);

#endif
