/* features_io.h - the features.h5 file (DESIGN 5): typed create/write/open/
 * read on top of h5fmt, so extract writes and fit/predict read exactly one
 * layout, with one validator.
 *
 *   /features    float32 [N, HW, D]  chunked one image per chunk
 *   /embeddings  float32 [N, E]
 *   /paths       string  [N]
 *   attributes   backbone, weights_sha256, taps, D, E, resize, crop, fmap_h,
 *                fmap_w, normalisation (and anything the writer adds)
 *
 * Collective on the file's communicator. */
#ifndef TC_FEATURES_IO_H
#define TC_FEATURES_IO_H

#include "h5fmt.h"

/* Upper bound of D, E, fmap_h, fmap_w, resize and crop in a file we read. */
#define TC_FEATURES_MAX_SIDE 65536

typedef struct {
  int64_t N;              /* images */
  int64_t fmap_h, fmap_w; /* patch grid: HW = fmap_h * fmap_w */
  int64_t D;              /* patch feature dimension */
  int64_t E;              /* global embedding dimension */
  int64_t resize, crop;   /* preprocessing geometry */
  char backbone[64];      /* "mobilenetv2", "resnet18", "wrn50" */
  char weights_sha256[80];
  char taps[160];         /* comma-separated tap names */
  char normalisation[32]; /* "imagenet" or "keras" */
} TcFeaturesMeta;

/* Create features.h5 under a temporary name with all datasets and
 * attributes of meta. Collective. Publish with tc_h5_publish. */
TcErr tc_features_create(MPI_Comm comm, const char *path, const TcFeaturesMeta *meta,
                         TcH5File **out);

/* Write images [row0, row0+n) of this rank: feats [n x HW x D], embeds
 * [n x E], paths [n] (n may be 0). Collective. The path dataset is written
 * in the same call because its string width is agreed across ranks. */
TcErr tc_features_write(TcH5File *f, const TcFeaturesMeta *meta, int64_t row0, int64_t n,
                        const float *feats, const float *embeds, const char *const *paths);

/* Open and validate a features file: kind, every dataset's presence, type
 * and shape consistency with the attributes. Collective. */
TcErr tc_features_open(MPI_Comm comm, const char *path, TcH5File **out, TcFeaturesMeta *meta);

/* Read images [row0, row0+n): feats (may be NULL to skip) [n x HW x D],
 * embeds (may be NULL) [n x E]. Every value must be finite with
 * |x| <= TC_VALUE_ABS_MAX (checked.h): else TC_ERR_FORMAT naming the file,
 * the image (row) and the position, on the rank that read it. Collective. */
TcErr tc_features_read(TcH5File *f, const TcFeaturesMeta *meta, int64_t row0, int64_t n,
                       float *feats, float *embeds);

/* Copy the feature attributes onto another file (model.h5 keeps them so
 * predict extracts as fit did). Collective. */
TcErr tc_features_meta_write_attrs(TcH5File *f, const TcFeaturesMeta *meta);
/* Read them back (from a features or model file), each in its range (1 ..
 * TC_FEATURES_MAX_SIDE, crop <= resize) and fmap_h x fmap_w x D without
 * overflow. Collective. */
TcErr tc_features_meta_read_attrs(TcH5File *f, TcFeaturesMeta *meta);

#endif
