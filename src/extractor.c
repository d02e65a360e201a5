/* extractor.c - one image to its features (DESIGN 3.1, 3.2, 3.6 step 8). */
#include "extractor.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "embed.h"
#include "image.h"

TcErr tc_extractor_create(const TcExtractConfig *cfg, TcExtractor **out) {
  return tc_extractor_create_embed(cfg, NULL, out);
}

TcErr tc_extractor_create_embed(const TcExtractConfig *cfg, const char *embed_tap, TcExtractor **out) {
  *out = NULL;
  TC_CHECK(cfg->resize > 0 && cfg->crop > 0 && cfg->crop <= cfg->resize, TC_ERR_USAGE,
           "need 0 < --crop (%d) <= --resize (%d)", cfg->crop, cfg->resize);
  TC_CHECK(cfg->dim >= 0, TC_ERR_USAGE, "--dim must be positive (got %d)", cfg->dim);
  TcExtractor *ex = tc_calloc(1, sizeof *ex, "extractor");
  if (!ex) return TC_ERR_MEM;
  TcErr err = TC_OK;
  TC_CALL_GOTO(err, tc_backbone_load_embed(cfg->backbone, cfg->weights, cfg->taps, embed_tap, &ex->bb), fail);
  ex->pre = (TcPreproc){cfg->resize, cfg->crop, ex->bb->norm};
  ex->D = cfg->dim > 0 ? cfg->dim : ex->bb->default_dim;
  ex->E = ex->bb->embed_dim;
  size_t px = (size_t)cfg->crop * cfg->crop;
  ex->input = tc_calloc(3 * px, sizeof(float), "network input");
  ex->crop_u8 = tc_malloc(3 * px, "image crop");
  if (!ex->input || !ex->crop_u8) {
    err = TC_ERR_MEM;
    goto fail;
  }
  /* the grid depends only on the crop size: measure it once */
  TC_CALL_GOTO(err, tc_backbone_forward(ex->bb, ex->input, cfg->crop, cfg->crop), fail);
  int c, h, w;
  TC_CHECK_GOTO(err, tc_backbone_tap(ex->bb, 0, &c, &h, &w), TC_ERR_INTERNAL, fail, "no tap map");
  ex->fmap_h = h;
  ex->fmap_w = w;
fail:
  if (err == TC_OK)
    *out = ex;
  else
    tc_extractor_destroy(&ex);
  return err;
}

void tc_extractor_destroy(TcExtractor **ex) {
  if (!ex || !*ex) return;
  tc_backbone_destroy(&(*ex)->bb);
  free((*ex)->input);
  free((*ex)->crop_u8);
  free(*ex);
  *ex = NULL;
}

TcErr tc_extractor_load_u8(TcExtractor *ex, const char *path, uint8_t *crop) {
  TcImage img = {0};
  TC_CALL(tc_image_read(path, &img));
  TcErr err = tc_resize_preprocess_u8(&img, &ex->pre, crop);
  tc_image_free(&img);
  if (err) {
    /* keep the file name in the message whatever the resize code said */
    char msg[512];
    snprintf(msg, sizeof msg, "%s", tc_err_message());
    tc_err_clear();
    return tc_err_set(err, "%s: %s", path, msg);
  }
  return TC_OK;
}

void tc_extractor_set_u8(TcExtractor *ex, const uint8_t *crop) {
  tc_resize_normalize(crop, ex->pre.crop, ex->pre.norm, ex->input);
}

TcErr tc_extractor_load(TcExtractor *ex, const char *path) {
  TC_CALL(tc_extractor_load_u8(ex, path, ex->crop_u8));
  tc_extractor_set_u8(ex, ex->crop_u8);
  return TC_OK;
}

TcErr tc_extractor_run(TcExtractor *ex, float *feat, float *emb) {
  TC_CALL(tc_backbone_forward(ex->bb, ex->input, ex->pre.crop, ex->pre.crop));
  if (feat) {
    const float *maps[TC_BACKBONE_MAX_TAPS];
    int c[TC_BACKBONE_MAX_TAPS], h[TC_BACKBONE_MAX_TAPS], w[TC_BACKBONE_MAX_TAPS];
    for (int t = 0; t < ex->bb->ntaps; t++) maps[t] = tc_backbone_tap(ex->bb, t, &c[t], &h[t], &w[t]);
    TC_CALL(tc_embed_patches(ex->bb->ntaps, maps, c, h, w, ex->D, feat));
  }
  if (emb) memcpy(emb, tc_backbone_embedding(ex->bb), (size_t)ex->E * sizeof(float));
  return TC_OK;
}

TcErr tc_pextract_views_image(TcExtractor *ex, const TcImage *img, TcAugment aug, float *out) {
  int count = tc_augment_count(aug);
  if (count == 0) return TC_OK;
  int crop = ex->pre.crop;
  size_t vsz = (size_t)crop * crop * 3, fsz = (size_t)ex->fmap_h * ex->fmap_w * ex->D;
  uint8_t *views = tc_malloc(vsz * (size_t)count, "augmented views");
  TcErr err = views ? TC_OK : TC_ERR_MEM;
  if (!err) err = tc_augment_views(img, &ex->pre, aug, views);
  for (int v = 0; !err && v < count; v++) {
    tc_resize_normalize(views + (size_t)v * vsz, crop, ex->pre.norm, ex->input);
    err = tc_extractor_run(ex, out + (size_t)v * fsz, NULL);
  }
  free(views);
  return err;
}

TcErr tc_pextract_views(TcExtractor *ex, const char *path, TcAugment aug, float *out) {
  if (tc_augment_count(aug) == 0) return TC_OK;
  TcImage img = {0};
  TC_CALL(tc_image_read(path, &img));
  TcErr err = tc_pextract_views_image(ex, &img, aug, out);
  tc_image_free(&img);
  return err;
}
