/* pextract.c - images -> features.h5 over MPI ranks (DESIGN 3.1, 3.2, 5, 6).
 *
 * Two passes over each rank's contiguous block of images:
 *   1. decode + preprocess every image (no network): a bad image is found
 *      before anything is created, and the number of good images per rank
 *      (hence every rank's first output row) is known. The uint8 crops
 *      (150 KB per image at 224) are kept for pass 2 when they fit
 *      --mem-per-rank, so each image is decoded once;
 *   2. extract in rounds of cfg->batch images per rank and write each round
 *      collectively (a rank with nothing left writes 0 rows), agreeing on
 *      errors before each write. Without the kept crops pass 2 decodes
 *      again and memory stays bounded whatever N is. */
#include "pextract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "embed.h"
#include "features_io.h"
#include "h5fmt.h"
#include "image.h"
#include "log.h"
#include "partition.h"

/* ---------------------------------------------------------- the extractor */

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
  *out = ex;
  return TC_OK;
fail:
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

/* ----------------------------------------------------------- the driver */

/* Pack strings "a\0b\0..." for MPI. Returns malloc'd buffer and its size. */
static char *pack_(char **s, int64_t n, int *bytes) {
  size_t len = 0;
  for (int64_t i = 0; i < n; i++) len += strlen(s[i]) + 1;
  char *buf = tc_malloc(len ? len : 1, "string buffer");
  if (!buf) return NULL;
  size_t o = 0;
  for (int64_t i = 0; i < n; i++) {
    size_t l = strlen(s[i]) + 1;
    memcpy(buf + o, s[i], l);
    o += l;
  }
  *bytes = (int)len;
  return buf;
}

/* Rank 0 logs every skipped image (all ranks' reasons gathered in rank
 * order, so the log is the same for any rank count; each reason names its
 * file). Collective. */
static TcErr log_skipped_(MPI_Comm comm, char **sreasons, int64_t ns) {
  int rank = tc_rank(comm), size = tc_size(comm);
  int bytes = 0;
  char *buf = pack_(sreasons, ns, &bytes);
  int *counts = rank == 0 ? tc_calloc((size_t)size, sizeof(int), "counts") : NULL;
  int *displs = rank == 0 ? tc_calloc((size_t)size, sizeof(int), "displs") : NULL;
  TcErr err = (!buf || (rank == 0 && (!counts || !displs))) ? TC_ERR_MEM : TC_OK;
  err = tc_agree(comm, err);
  char *all = NULL;
  if (!err) {
    MPI_Gather(&bytes, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
    size_t tot = 0;
    if (rank == 0) {
      for (int r = 0; r < size; r++) {
        displs[r] = (int)tot;
        tot += (size_t)counts[r];
      }
      all = tc_malloc(tot ? tot : 1, "skip log");
    }
    err = tc_agree(comm, rank == 0 && !all ? TC_ERR_MEM : TC_OK);
    if (!err) {
      MPI_Gatherv(buf, bytes, MPI_CHAR, all, counts, displs, MPI_CHAR, 0, comm);
      if (rank == 0)
        for (size_t o = 0; o < tot; o += strlen(all + o) + 1) tc_log(0, "skipped bad image %s", all + o);
    }
  }
  free(all);
  free(counts);
  free(displs);
  free(buf);
  return err;
}

TcErr tc_pextract_run(MPI_Comm comm, const TcExtractConfig *cfg, const char *embed_tap, int64_t n,
                      const char *const *paths, const char *const *names, const char *out_path,
                      int64_t mem_per_rank) {
  int rank = tc_rank(comm), size = tc_size(comm);
  TcErr err = TC_OK;
  TcExtractor *ex = NULL;
  TcH5File *f = NULL;
  int64_t lo, hi;
  tc_block_range(n, rank, size, &lo, &hi);
  int64_t nloc = hi - lo, ngood = 0, nskip = 0;
  int64_t *good = NULL; /* global indices of this rank's good images */
  char **spaths = NULL, **sreasons = NULL;
  float *feat = NULL, *emb = NULL;
  uint8_t *crops = NULL; /* [ngood x crop x crop x 3]: pass 1's crops, or NULL */
  const char **gnames = NULL;

  /* the output directory is checked before the CNN runs, not after */
  err = tc_h5_check_output(comm, out_path);
  if (err) return err;
  TC_CHECK_GOTO(err, n > 0, TC_ERR_USAGE, agree, "no images to extract");
  TC_CALL_GOTO(err, tc_extractor_create_embed(cfg, embed_tap, &ex), agree);
  good = tc_malloc((size_t)(nloc ? nloc : 1) * sizeof(int64_t), "image index");
  spaths = tc_calloc((size_t)(nloc ? nloc : 1), sizeof(char *), "skipped");
  sreasons = tc_calloc((size_t)(nloc ? nloc : 1), sizeof(char *), "skipped");
  if (!good || !spaths || !sreasons) err = TC_ERR_MEM;
agree:
  err = tc_agree(comm, err);
  if (err) goto cleanup;

  /* pass 1: decode everything, find bad images before creating anything;
   * keep the uint8 crops for pass 2 when they fit (the network's own
   * memory is not counted), else decode again there */
  int batch = cfg->batch > 0 ? cfg->batch : 1;
  size_t fsz = (size_t)ex->fmap_h * ex->fmap_w * ex->D;
  const size_t cbytes = (size_t)cfg->crop * cfg->crop * 3;
  const double keep_bytes = (double)nloc * cbytes + (double)batch * (fsz + ex->E) * sizeof(float);
  if (mem_per_rank > 0 && keep_bytes <= (double)mem_per_rank) {
    crops = tc_malloc(nloc ? (size_t)nloc * cbytes : 1, "decoded crops");
    if (!crops) tc_err_clear(); /* optional: decode twice instead */
  }
  int kept = crops != NULL, all_kept = 0;
  MPI_Allreduce(&kept, &all_kept, 1, MPI_INT, MPI_MIN, comm);
  tc_log(2, "extract: %s", all_kept ? "decoded crops kept in memory for the second pass"
                                    : "decoding twice (crops over --mem-per-rank on some rank)");
  TcProgress prog;
  tc_progress_start(&prog, "extract: decoding images", "images", n);
  for (int64_t i = lo; i < hi; i++) {
    TcErr e = tc_extractor_load_u8(ex, paths[i], crops ? crops + (size_t)ngood * cbytes : ex->crop_u8);
    if (e == TC_ERR_MEM) {
      err = e;
      break;
    }
    if (e) {
      if (!cfg->skip_bad) {
        err = e;
        break;
      }
      spaths[nskip] = strdup(names[i]);
      sreasons[nskip] = strdup(tc_err_message());
      tc_err_clear();
      if (!spaths[nskip] || !sreasons[nskip]) {
        err = tc_err_set(TC_ERR_MEM, "out of memory");
        break;
      }
      nskip++;
    } else
      good[ngood++] = i;
    if (rank == 0) tc_progress_update(&prog, (i - lo + 1) * (int64_t)size);
  }
  if (err == TC_ERR_FORMAT || err == TC_ERR_IO) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tc_err_message());
    tc_err_clear();
    tc_err_set(err, "%s (nothing written; --skip-bad-images skips such images)", msg);
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  tc_progress_finish(&prog);

  int64_t ntot = 0, row0 = 0, nskip_tot = 0, skip0 = 0;
  MPI_Allreduce(&ngood, &ntot, 1, MPI_INT64_T, MPI_SUM, comm);
  MPI_Exscan(&ngood, &row0, 1, MPI_INT64_T, MPI_SUM, comm);
  MPI_Allreduce(&nskip, &nskip_tot, 1, MPI_INT64_T, MPI_SUM, comm);
  MPI_Exscan(&nskip, &skip0, 1, MPI_INT64_T, MPI_SUM, comm);
  if (rank == 0) row0 = skip0 = 0; /* MPI_Exscan leaves rank 0's undefined */
  if (nskip_tot > 0) TC_CALL_GOTO(err, log_skipped_(comm, sreasons, nskip), cleanup);
  TC_CHECK_GOTO(err, ntot > 0, TC_ERR_FORMAT, cleanup, "all %lld images were bad; nothing written",
                (long long)n);

  /* pass 2: extract in rounds and write */
  TcFeaturesMeta meta;
  memset(&meta, 0, sizeof meta);
  meta.N = ntot;
  meta.fmap_h = ex->fmap_h;
  meta.fmap_w = ex->fmap_w;
  meta.D = ex->D;
  meta.E = ex->E;
  meta.resize = cfg->resize;
  meta.crop = cfg->crop;
  snprintf(meta.backbone, sizeof meta.backbone, "%s", ex->bb->name);
  snprintf(meta.weights_sha256, sizeof meta.weights_sha256, "%s", ex->bb->sha256);
  snprintf(meta.taps, sizeof meta.taps, "%s", ex->bb->taps);
  snprintf(meta.normalisation, sizeof meta.normalisation, "%s",
           ex->bb->norm == TC_NORM_KERAS ? "keras" : "imagenet");
  feat = tc_malloc_aligned((size_t)batch * fsz * sizeof(float), "patch features");
  emb = tc_malloc((size_t)batch * ex->E * sizeof(float), "embeddings");
  gnames = tc_calloc((size_t)(ngood ? ngood : 1), sizeof(char *), "names");
  if (!feat || !emb || !gnames) err = TC_ERR_MEM;
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  TC_CALL_GOTO(err, tc_features_create(comm, out_path, &meta, &f), cleanup);
  TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "/", "weights_source", ex->bb->source), cleanup);
  TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "/", "embed_tap", ex->bb->embed_tap), cleanup);
  TC_CALL_GOTO(err, tc_h5_set_attr_i64(f, "/", "n_skipped", nskip_tot), cleanup);

  int64_t my_rounds = (ngood + batch - 1) / batch, rounds = 0;
  MPI_Allreduce(&my_rounds, &rounds, 1, MPI_INT64_T, MPI_MAX, comm);
  tc_progress_start(&prog, "extract", "images", ntot);
  int64_t done = 0;
  for (int64_t r = 0; r < rounds; r++) {
    int64_t k0 = r * batch, k1 = k0 + batch < ngood ? k0 + batch : ngood;
    if (k1 < k0) k1 = k0;
    for (int64_t k = k0; !err && k < k1; k++) {
      if (crops) tc_extractor_set_u8(ex, crops + (size_t)k * cbytes);
      else err = tc_extractor_load(ex, paths[good[k]]);
      if (!err) err = tc_extractor_run(ex, feat + (size_t)(k - k0) * fsz, emb + (size_t)(k - k0) * ex->E);
    }
    if (!err && tc_fault_injected(comm, "extract")) err = tc_err_set(TC_ERR_IO, "injected failure (extract)");
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    TC_CALL_GOTO(err, tc_h5_write_rows(f, "features", TC_H5_F32, row0 + k0, k1 - k0, feat), cleanup);
    TC_CALL_GOTO(err, tc_h5_write_rows(f, "embeddings", TC_H5_F32, row0 + k0, k1 - k0, emb), cleanup);
    int64_t mine = k1 - k0, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT64_T, MPI_SUM, comm);
    done += all;
    tc_progress_update(&prog, done);
  }
  tc_progress_finish(&prog);
  for (int64_t k = 0; k < ngood; k++) gnames[k] = names[good[k]];
  TC_CALL_GOTO(err, tc_h5_write_strings(f, "paths", ntot, row0, ngood, gnames), cleanup);
  if (nskip_tot > 0) {
    TC_CALL_GOTO(err, tc_h5_write_strings(f, "skipped/paths", nskip_tot, skip0, nskip,
                                          (const char *const *)spaths),
                 cleanup);
    TC_CALL_GOTO(err, tc_h5_write_strings(f, "skipped/reasons", nskip_tot, skip0, nskip,
                                          (const char *const *)sreasons),
                 cleanup);
  }
  TC_CALL_GOTO(err, tc_h5_publish(&f), cleanup);
  tc_log(1, "extract: wrote %s: %lld images x %d x %d patches x D=%d, embeddings E=%d (%s)%s",
         out_path, (long long)ntot, ex->fmap_h, ex->fmap_w, ex->D, ex->E, ex->bb->embed_tap,
         nskip_tot ? " (some images skipped, see /skipped)" : "");
cleanup:
  err = tc_agree(comm, err);
  if (f) tc_h5_abandon(&f);
  tc_extractor_destroy(&ex);
  if (spaths)
    for (int64_t i = 0; i < nskip; i++) free(spaths[i]);
  if (sreasons)
    for (int64_t i = 0; i < nskip; i++) free(sreasons[i]);
  free(spaths);
  free(sreasons);
  free(good);
  free(crops);
  free(feat);
  free(emb);
  free(gnames);
  return err;
}
