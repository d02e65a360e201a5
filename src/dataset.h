/* dataset.h - the MVTec AD directory layout (DESIGN 4) and the files that
 * describe a data set: image lists, manifests and dataset.json.
 *
 * Layout:   ROOT/CLASS/train/good/NAME.EXT
 *           ROOT/CLASS/test/TYPE/NAME.EXT          (TYPE "good" = normal)
 *           ROOT/CLASS/ground_truth/TYPE/NAME_mask.EXT
 * Images are files whose extension is .png, .tif, .tiff, .jpg or .jpeg (any
 * case); anything else in those folders is ignored. Symlinks are followed,
 * so a materialised long-tail set (tc-longtail) reads like a copy.
 *
 * Manifests are text files of ROOT-relative paths, one per line, the format
 * the TailedCore authors publish their splits in. dataset.json describes a
 * (long-tail) build: per class head/tail, counts and the injected noise; it
 * is for evaluation and diagnostics only, never for training (DESIGN 3.7).
 * The builders write it (gen/dataset_build.h: the detector never writes a
 * data set); here is the small generic JSON reader that eval needs (objects,
 * arrays, strings, numbers, true/false/null): JSON so analysis/ scripts can
 * load it with one call.
 *
 * Everything here is Local (no MPI): rank 0 lists and broadcasts. */
#ifndef TC_DATASET_H
#define TC_DATASET_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* One image of a listing. All strings are owned by the TcDataset. */
typedef struct {
  char *class_name; /* first path component, e.g. "screw" */
  char *defect;     /* "good" for normal images, else the test sub-folder */
  char *path;       /* ROOT-relative: "screw/test/scratch/000.tiff" */
  char *mask_path;  /* ROOT-relative mask, or NULL (good images, or no mask file) */
} TcDatasetItem;

typedef struct {
  char *root;           /* the root as given */
  int64_t n;            /* number of items */
  TcDatasetItem *items; /* [n] */
  int n_classes;        /* distinct class names among the items */
  char **classes;       /* [n_classes], sorted by byte order */
} TcDataset;

/* List the images of one split of an MVTec-layout root. Local.
 *   root  (input) data set root.
 *   split (input) "train" or "test".
 *   out   (output) new listing; the caller frees it with tc_dataset_destroy.
 * Order: class, then type, then file name, each by byte order (strcmp), so
 * every rank and every run sees the same order. Class folders are the
 * sub-folders of root not starting with '.' that hold a train/ or test/
 * folder (others, like VisA's split_csv, are skipped). For test images of a
 * non-"good" type the mask is ground_truth/TYPE/STEM_mask.EXT with the same
 * extension preferred, then any accepted one; NULL when none exists.
 * Errors: TC_ERR_IO (root missing, a class has the other split but not this
 * one), TC_ERR_FORMAT (no class folder, no image in the split). DESIGN 4. */
TcErr tc_dataset_list(const char *root, const char *split, TcDataset **out);

/* Read a manifest of ROOT-relative image paths (one per line; blank lines
 * and lines starting with '#' are skipped; CR LF accepted) and check that
 * every file exists. Local.
 *   root (input) the root the paths are relative to.
 *   manifest (input) the manifest file.
 *   out (output) listing in manifest order; classes as in tc_dataset_list
 *       (CLASS/train/... -> defect "good"; CLASS/test/TYPE/... -> TYPE, mask
 *       looked up as in tc_dataset_list). Free with tc_dataset_destroy.
 * Errors: TC_ERR_IO (manifest unreadable; a listed file missing, naming the
 * file and the line), TC_ERR_FORMAT (absolute path, "..", a path that is
 * not CLASS/train|test/TYPE/NAME, or a duplicate). */
TcErr tc_dataset_read_manifest(const char *root, const char *manifest, TcDataset **out);

/* Plain image files, not in any layout (predict on an operator's images):
 * the entries of the text file `list` (one absolute or cwd-relative path a
 * line; blank lines and '#' comments skipped; CR LF accepted), when list is
 * not NULL, then files[0..nfiles). Every one must be a regular file; paths
 * are kept as given (duplicates too: scoring a file twice is harmless).
 * Local.
 *   out (output) listing in that order: root NULL, class_name and defect
 *       "", no masks, no classes. Free with tc_dataset_destroy.
 * Errors: TC_ERR_IO (list unreadable; a file missing or not a regular file,
 * naming it, and the list's line), TC_ERR_FORMAT (a line too long). */
TcErr tc_dataset_read_plain(const char *list, const char *const *files, int64_t nfiles, TcDataset **out);

/* The CLASS of a ROOT-relative path CLASS/train|test/TYPE/NAME into buf
 * [cap]; 1 when the path has that shape, else 0 and buf "". Local. */
int tc_dataset_class_of(const char *rel, char *buf, size_t cap);

/* Free a listing; NULL-safe; sets *ds = NULL. Local. */
void tc_dataset_destroy(TcDataset **ds);

/* 1 when name ends in an accepted image extension (.png .tif .tiff .jpg
 * .jpeg, any case). Local. */
int tc_dataset_is_image_name(const char *name);

/* Per-class record of dataset.json. Strings owned by the TcDatasetInfo. */
typedef struct {
  char *name;
  int is_tail;            /* 1: tail class (evaluation only) */
  int64_t n_source_train; /* training images in the pristine source */
  int64_t n_good;         /* good training images kept */
  int64_t n_noise;        /* injected defect images (in train/good) */
  int64_t n_test_good;    /* test/good images */
  int64_t n_test_anomaly; /* test images of other types */
  char **noise;           /* [n_noise] ROOT-relative injected paths CLASS/train/good/TYPE_NAME */
  char **noise_source;    /* [n_noise] the test images they are, CLASS/test/TYPE/NAME */
} TcClassInfo;

typedef struct {
  char *protocol;     /* "pristine", "step_k1", "step_k4", "pareto", ... */
  int has_seed;       /* 0 when built from manifests or not seeded */
  int64_t seed;
  double noise_ratio; /* requested noise / kept good training images */
  double alpha;       /* pareto shape (pareto only, else 0) */
  double head_ratio;  /* step: share of head classes (step only, else 0) */
  int64_t step_k;     /* step: images kept per tail class (step only, else 0) */
  int64_t n_good;     /* totals over classes */
  int64_t n_noise;
  int n_classes;
  TcClassInfo *classes; /* [n_classes], sorted by name */
} TcDatasetInfo;

/* Read a dataset.json written by tc_dataset_info_write (gen/). Local.
 *   out (output) new record; free with tc_dataset_info_destroy.
 * Unknown keys are ignored (newer writers stay readable).
 * Errors: TC_ERR_IO (unreadable), TC_ERR_FORMAT (not JSON, a required key
 * missing or of the wrong type, naming the file and key). */
TcErr tc_dataset_info_read(const char *path, TcDatasetInfo **out);

/* The record of class `name`, or NULL. Local. */
const TcClassInfo *tc_dataset_info_class(const TcDatasetInfo *info, const char *name);

/* Free; NULL-safe; sets *info = NULL. Local. */
void tc_dataset_info_destroy(TcDatasetInfo **info);

/* Sort strings by byte order (strcmp); a helper shared with the builders. */
void tc_dataset_sort_strings(char **s, int64_t n);

/* Read a whole directory's entry names (not "." / ".."), sorted by byte
 * order. *names is an array of n malloc'd strings; free each and the array.
 * Errors: TC_ERR_IO naming the directory. Local. */
TcErr tc_dataset_dir_names(const char *dir, char ***names, int64_t *n);

#endif
