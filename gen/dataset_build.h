/* dataset_build.h - what the data-set builders (tc-synth, tc-longtail,
 * tc-realbench) need beyond src/dataset.h: writing dataset.json and making
 * or removing the folders of a built set. The detector only reads data sets,
 * so these live with the builders in gen/. Local (no MPI). */
#ifndef TC_DATASET_BUILD_H
#define TC_DATASET_BUILD_H

#include "dataset.h"
#include "err.h"

#include <stddef.h>
#include <stdint.h>

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

/* Start building a set to be published as `out_arg` (trailing slashes
 * dropped, into out [out_len]): refuse an existing one unless `force`, make
 * its parent folders, and create a fresh temporary folder next to it (into
 * tmp [tmp_len]), so the set appears under its name only when complete.
 * Local. Errors: TC_ERR_IO naming the path. */
TcErr tc_dataset_begin(const char *out_arg, int force, char *out, size_t out_len, char *tmp, size_t tmp_len);

/* Finish a pristine set built in `tmp`: sort its classes by name (as every
 * listing is), write tmp/dataset.json (protocol "pristine", the seed, n_train
 * good images per class), and move tmp to `out`, replacing an existing
 * `out` only once the new set is complete (the old one is moved aside,
 * then removed; put back if the rename fails). On success tmp no longer
 * exists. Local. Errors: TC_ERR_IO naming the path. */
TcErr tc_dataset_publish_pristine(const char *tmp, const char *out, TcClassInfo *classes, int n_classes,
                                  int64_t seed, int64_t n_train);

#endif
