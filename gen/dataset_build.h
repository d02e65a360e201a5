/* dataset_build.h - what the data-set builders (tc-synth, tc-longtail,
 * tc-realbench) need beyond src/dataset.h: writing dataset.json and making
 * or removing the folders of a built set. The detector only reads data sets,
 * so these live with the builders in gen/. Local (no MPI). */
#ifndef TC_DATASET_BUILD_H
#define TC_DATASET_BUILD_H

#include "dataset.h"
#include "err.h"

/* Write dataset.json (atomically: temporary name, then rename), in the
 * format tc_dataset_info_read reads. Local. Errors: TC_ERR_IO. */
TcErr tc_dataset_info_write(const char *path, const TcDatasetInfo *info);

/* rm -rf of path without following symlinks (links in a built data set
 * point into its source). Best effort, for cleaning up temporary trees.
 * Local. */
void tc_dataset_remove_tree(const char *path);

/* mkdir -p of the folder that will hold `path` (not of path itself), so
 * `--out data/synth` works when data/ does not exist yet. Errors: TC_ERR_IO
 * naming the folder that could not be made. Local. */
TcErr tc_dataset_make_parents(const char *path);

#endif
