/* extractor.h - one image to its features on one process (DESIGN 3.1, 3.2):
 * decode, resize and crop, normalise, run the backbone, embed the patches;
 * and the features of the augmented views of one image (DESIGN 3.6 step 8).
 * Serial: mpi/pextract.c deals images to the ranks, fit and predict use an
 * extractor per rank. */
#ifndef TC_EXTRACTOR_H
#define TC_EXTRACTOR_H

#include <stdint.h>

#include "augment.h"
#include "backbone.h"
#include "err.h"
#include "resize.h"

/* Everything that fixes what a feature means; recorded in features.h5 and
 * model.h5 so predict extracts exactly as fit did. */
typedef struct {
  const char *backbone; /* one of TC_BACKBONE_CHOICES */
  const char *weights;  /* weights file (kind "weights") */
  const char *taps;     /* NULL/"" = the backbone's default */
  int dim;              /* D; 0 = the backbone's default (DESIGN 3.2) */
  int resize, crop;     /* DESIGN 3.1: 256, 224 */
  int skip_bad;         /* 1: skip unreadable images and record them */
  int batch;            /* images per rank between collective writes (>= 1) */
} TcExtractConfig;

/* A loaded backbone plus the buffers to turn one image into features.
 * Local object (one per rank). */
typedef struct {
  TcBackbone *bb;
  TcPreproc pre;
  int D;            /* patch feature dimension */
  int fmap_h, fmap_w; /* patch grid (first tap) */
  int E;            /* embedding dimension */
  float *input;     /* [3 x crop x crop] */
  uint8_t *crop_u8; /* [crop x crop x 3] */
} TcExtractor;

/* Load the backbone and measure the feature grid with one forward pass on a
 * blank crop. Local. Free with tc_extractor_destroy. Errors as
 * tc_backbone_load, TC_ERR_USAGE for bad sizes. */
TcErr tc_extractor_create(const TcExtractConfig *cfg, TcExtractor **out);

/* The same with a choice of global embedding (tc_backbone_load_embed):
 * embed_tap = comma-separated maps whose global averages are concatenated;
 * NULL/"" = the default (layer4 / out_relu). Only the embedding changes: the
 * patch features are the same bits. Local. */
TcErr tc_extractor_create_embed(const TcExtractConfig *cfg, const char *embed_tap, TcExtractor **out);
void tc_extractor_destroy(TcExtractor **ex);

/* Decode + preprocess one image file into ex->input (DESIGN 3.1). Local.
 * Errors (naming the path): TC_ERR_IO, TC_ERR_FORMAT, TC_ERR_MEM. */
TcErr tc_extractor_load(TcExtractor *ex, const char *path);

/* The two halves of tc_extractor_load: decode + resize + crop one file into
 * crop [crop x crop x 3] uint8 (errors as tc_extractor_load), then turn such
 * a crop into ex->input. Load then set gives the bits of tc_extractor_load.
 * Local. */
TcErr tc_extractor_load_u8(TcExtractor *ex, const char *path, uint8_t *crop);
void tc_extractor_set_u8(TcExtractor *ex, const uint8_t *crop);

/* Features of ex->input: feat [fmap_h*fmap_w x D] and emb [E] (either may
 * be NULL). Local. DESIGN 3.2. */
TcErr tc_extractor_run(TcExtractor *ex, float *feat, float *emb);

/* Patch features of the augmented views of one image (DESIGN 3.6 step 8):
 * view order of augment.h; out [tc_augment_count(aug) x fmap_h*fmap_w x D]
 * (caller-allocated). Local: fit calls it for its own tail images. (Named
 * tc_pextract_ for its callers' sake although it is serial.) */
TcErr tc_pextract_views(TcExtractor *ex, const char *path, TcAugment aug, float *out);

/* The same from an already decoded image (img->c = 3), so a caller that also
 * needs the plain features of the image decodes it once. Local. */
TcErr tc_pextract_views_image(TcExtractor *ex, const TcImage *img, TcAugment aug, float *out);

#endif
