/* tail_diag.h - the paper's Table 5 diagnostics of a TailSampler result
 * against the true labels (`tailedcore tailsample --labels`). They only
 * report: the labels never change the result.
 *
 * Labels file: one line per training image, `path class is_noise
 * is_tail_class` (the flags 0 or 1), separated by blanks; `#` starts a
 * comment line. Lines are matched to the images by path, or by order when
 * the features file has no /paths. Serial and local. */
#ifndef TC_TAIL_DIAG_H
#define TC_TAIL_DIAG_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"
#include "tailsampler.h"

/* Read the labels file at labels_path for the N images of r, compute the
 * Table 5 measures and print them to out. paths [N] the images' paths, or
 * NULL to match by order. A file that does not label every image exactly
 * once by path is TC_ERR_FORMAT naming it. Local. */
TcErr tc_tail_diag_report(FILE *out, const char *labels_path, int64_t N, char *const *paths,
                          const TcTailResult *r);

#endif
