/* score_tool.c - test-only inputs for predict and eval (issue 7), with
 * deterministic content on any number of ranks:
 *
 *   score_tool model OUT M D FMAP SEED [BACKBONE [METHOD]]
 *       model.h5: /memory_bank [M, D] hash values in [-0.5, 0.5), /memory_weights [M]
 *       in [0.5, 1.5), attribute method (default patchcore), feature attributes
 *       as fake_features writes them (backbone default "fake", crop 224).
 *   score_tool features OUT N FMAP D SEED [BACKBONE [ROOT]]
 *       test features.h5: every 3rd patch is a memory row (index from the
 *       hash) plus small noise, the others fresh hash values, so nearest
 *       neighbours are both near and far. With ROOT, N is ignored and the
 *       paths are ROOT's test split (tc_dataset_list order).
 *   score_tool dataset ROOT
 *       a tiny MVTec-layout set with PNG masks: classes alpha (tail), beta,
 *       gamma (head), each train/good x2, test/good x3, test/crack x3 with
 *       ground_truth/crack/NNN_mask.png; dataset.json beside it (ROOT/dataset.json).
 *   score_tool scores OUT ROOT
 *       a scores.h5 for ROOT's test split whose AUROCs are known by hand:
 *       alpha perfect (image 1, pixel 1), beta inverted (0, 0), gamma all
 *       tied (0.5, 0.5): means tail 1, head 0.25, all 0.5.
 * Model and features files are written by all ranks (row blocks); dataset and
 * scores are for one rank. */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "context.h"
#include "dataset.h"
#include "dataset_build.h"
#include "features_io.h"
#include "image.h"
#include "image_write.h"
#include "partition.h"
#include "resize.h"
#include "tool_common.h"

static float hv_(uint64_t seed, uint64_t a, uint64_t b) {
  return tool_hash_(seed, a * 0x100000001B3ULL + b * 0xC2B2AE3D27D4EB4FULL);
}

/* every file this tool writes has 8-wide embeddings */
static void meta_(TcFeaturesMeta *m, int64_t N, int64_t fmap, int64_t D, const char *backbone) {
  tool_meta_(m, N, fmap, D, 8, backbone);
}

static TcErr model_(MPI_Comm comm, int argc, char **argv) {
  TC_CHECK(argc >= 7, TC_ERR_USAGE, "model OUT M D FMAP SEED [BACKBONE [METHOD]]");
  int64_t M = atoll(argv[3]), D = atoll(argv[4]), fmap = atoll(argv[5]);
  uint64_t seed = strtoull(argv[6], NULL, 10);
  const char *bb = argc > 7 ? argv[7] : "fake", *method = argc > 8 ? argv[8] : "patchcore";
  TcFeaturesMeta m;
  meta_(&m, 0, fmap, D, bb);
  int64_t lo, hi;
  tc_block_range(M, tc_rank(comm), tc_size(comm), &lo, &hi);
  float *bank = tc_malloc(sizeof(float) * (size_t)((hi - lo) * D + 1), "bank");
  float *w = tc_malloc(sizeof(float) * (size_t)(hi - lo + 1), "weights");
  TcErr err = tc_agree(comm, bank && w ? TC_OK : TC_ERR_MEM);
  for (int64_t i = lo; !err && i < hi; i++) {
    for (int64_t d = 0; d < D; d++) bank[(i - lo) * D + d] = hv_(seed, (uint64_t)i, (uint64_t)d);
    w[i - lo] = 1.0f + hv_(seed + 7, (uint64_t)i, 0);
  }
  TcH5File *f = NULL;
  if (!err) err = tc_agree(comm, tc_h5_create(comm, argv[2], "model", &f));
  int64_t bd[2] = {M, D}, wd[1] = {M};
  if (!err) err = tc_features_meta_write_attrs(f, &m);
  if (!err) err = tc_h5_set_attr_str(f, "/", "method", method);
  if (!err) err = tc_h5_create_dataset(f, "memory_bank", TC_H5_F32, 2, bd, 0);
  if (!err) err = tc_h5_create_dataset(f, "memory_weights", TC_H5_F32, 1, wd, 0);
  if (!err) err = tc_agree(comm, err);
  if (!err) err = tc_agree(comm, tc_h5_write_rows(f, "memory_bank", TC_H5_F32, lo, hi - lo, bank));
  if (!err) err = tc_agree(comm, tc_h5_write_rows(f, "memory_weights", TC_H5_F32, lo, hi - lo, w));
  if (err) tc_h5_abandon(&f);
  else err = tc_h5_publish(&f);
  free(bank);
  free(w);
  return err;
}

static TcErr features_(MPI_Comm comm, int argc, char **argv) {
  TC_CHECK(argc >= 7, TC_ERR_USAGE, "features OUT N FMAP D SEED [BACKBONE [ROOT]]");
  int64_t N = atoll(argv[3]), fmap = atoll(argv[4]), D = atoll(argv[5]);
  uint64_t seed = strtoull(argv[6], NULL, 10);
  const char *bb = argc > 7 ? argv[7] : "fake", *root = argc > 8 ? argv[8] : NULL;
  TcDataset *ds = NULL;
  TcErr err = TC_OK;
  if (root) {
    err = tc_dataset_list(root, "test", &ds);
    if (!err) N = ds->n;
  }
  TC_CALL(tc_agree(comm, err));
  TcFeaturesMeta m;
  meta_(&m, N, fmap, D, bb);
  int64_t HW = fmap * fmap, lo, hi;
  tc_block_range(N, tc_rank(comm), tc_size(comm), &lo, &hi);
  int64_t n = hi - lo;
  float *x = tc_malloc(sizeof(float) * (size_t)(n * HW * D + 1), "features");
  float *e = tc_calloc((size_t)(n * m.E + 1), sizeof(float), "embeddings");
  char **paths = tc_calloc((size_t)n + 1, sizeof(char *), "paths");
  char *pbuf = tc_malloc((size_t)(n + 1) * 256, "paths");
  err = tc_agree(comm, x && e && paths && pbuf ? TC_OK : TC_ERR_MEM);
  for (int64_t i = lo; !err && i < hi; i++) {
    for (int64_t p = 0; p < HW; p++) {
      float *v = x + ((i - lo) * HW + p) * D;
      uint64_t key = (uint64_t)(i * HW + p);
      if (p % 3 == 0) {
        /* near a memory row of a model made with the same seed and M >= 64 */
        uint64_t row = (uint64_t)((hv_(seed + 3, key, 0) + 0.5f) * 64);
        for (int64_t d = 0; d < D; d++) v[d] = hv_(seed, row, (uint64_t)d) + 0.02f * hv_(seed + 5, key, (uint64_t)d);
      } else {
        for (int64_t d = 0; d < D; d++) v[d] = hv_(seed + 11, key, (uint64_t)d);
      }
    }
    paths[i - lo] = pbuf + (i - lo) * 256;
    if (ds) snprintf(paths[i - lo], 256, "%s", ds->items[i].path);
    else snprintf(paths[i - lo], 256, "cls%d/test/good/%03lld.png", (int)(i % 3), (long long)i);
  }
  TcH5File *f = NULL;
  if (!err) err = tc_agree(comm, tc_features_create(comm, argv[2], &m, &f));
  if (!err) err = tc_agree(comm, tc_features_write(f, &m, lo, n, x, e, (const char *const *)paths));
  if (err) tc_h5_abandon(&f);
  else err = tc_h5_publish(&f);
  tc_dataset_destroy(&ds);
  free(x);
  free(e);
  free(paths);
  free(pbuf);
  return err;
}

static TcErr mkdirs_(const char *path) {
  char buf[1024];
  snprintf(buf, sizeof buf, "%s", path);
  for (char *p = buf + 1; *p; p++)
    if (*p == '/') {
      *p = 0;
      mkdir(buf, 0755);
      *p = '/';
    }
  mkdir(buf, 0755);
  return TC_OK;
}

static const char *classes_[3] = {"alpha", "beta", "gamma"};

static TcErr dataset_(int argc, char **argv) {
  TC_CHECK(argc >= 3, TC_ERR_USAGE, "dataset ROOT");
  const char *root = argv[2];
  char dir[1024], path[1200];
  uint8_t img[64 * 64 * 3], mask[64 * 64];
  for (int c = 0; c < 3; c++) {
    const char *sub[3] = {"train/good", "test/good", "test/crack"};
    for (int s = 0; s < 3; s++) {
      snprintf(dir, sizeof dir, "%s/%s/%s", root, classes_[c], sub[s]);
      mkdirs_(dir);
      int n = s == 0 ? 2 : 3;
      for (int k = 0; k < n; k++) {
        for (int i = 0; i < 64 * 64 * 3; i++) img[i] = (uint8_t)(40 * c + 10 * k + (i % 97));
        snprintf(path, sizeof path, "%s/%03d.png", dir, k);
        TC_CALL(tc_image_write(path, 64, 64, 3, img, TC_IMAGE_PNG));
      }
    }
    snprintf(dir, sizeof dir, "%s/%s/ground_truth/crack", root, classes_[c]);
    mkdirs_(dir);
    for (int k = 0; k < 3; k++) {
      /* a white square of a size that depends on k, inside the centre crop */
      memset(mask, 0, sizeof mask);
      for (int y = 20; y < 30 + 4 * k; y++)
        for (int x = 16; x < 28 + 3 * k; x++) mask[y * 64 + x] = 255;
      snprintf(path, sizeof path, "%s/%03d_mask.png", dir, k);
      TC_CALL(tc_image_write(path, 64, 64, 1, mask, TC_IMAGE_PNG));
    }
  }
  TcClassInfo ci[3];
  memset(ci, 0, sizeof ci);
  for (int c = 0; c < 3; c++) {
    ci[c].name = (char *)classes_[c];
    ci[c].is_tail = c == 0;
    ci[c].n_source_train = 2;
    ci[c].n_good = 2;
    ci[c].n_test_good = 3;
    ci[c].n_test_anomaly = 3;
  }
  TcDatasetInfo info;
  memset(&info, 0, sizeof info);
  info.protocol = "test";
  info.n_classes = 3;
  info.classes = ci;
  info.n_good = 6;
  snprintf(path, sizeof path, "%s/dataset.json", root);
  TC_CALL(tc_dataset_info_write(path, &info));
  return TC_OK;
}

static TcErr scores_(MPI_Comm comm, int argc, char **argv) {
  TC_CHECK(argc >= 4, TC_ERR_USAGE, "scores OUT ROOT");
  TC_CHECK(tc_size(comm) == 1, TC_ERR_USAGE, "scores: run on one rank");
  TcDataset *ds = NULL;
  TC_CALL(tc_dataset_list(argv[3], "test", &ds));
  int64_t T = ds->n, crop = 224;
  TcPreproc pp = TC_PREPROC_DEFAULT;
  float *sc = tc_malloc(sizeof(float) * (size_t)T, "scores");
  float *maps = tc_malloc(sizeof(float) * (size_t)(T * crop * crop), "maps");
  uint8_t *m = tc_malloc((size_t)(crop * crop), "mask");
  const char **paths = tc_malloc(sizeof(char *) * (size_t)T, "paths");
  TcErr err = sc && maps && m && paths ? TC_OK : TC_ERR_MEM;
  for (int64_t i = 0; !err && i < T; i++) {
    const TcDatasetItem *it = &ds->items[i];
    paths[i] = it->path;
    int anomalous = strcmp(it->defect, "good") != 0;
    memset(m, 0, (size_t)(crop * crop));
    if (anomalous && it->mask_path) {
      char mp[1200];
      snprintf(mp, sizeof mp, "%s/%s", argv[3], it->mask_path);
      TcImage mk;
      err = tc_image_read_gray(mp, &mk);
      if (!err) err = tc_resize_mask(&mk, &pp, m);
      tc_image_free(&mk);
    }
    int cls = !strcmp(it->class_name, "alpha") ? 0 : !strcmp(it->class_name, "beta") ? 1 : 2;
    sc[i] = cls == 0 ? (anomalous ? 2.0f : 1.0f) : cls == 1 ? (anomalous ? 1.0f : 2.0f) : 3.0f;
    for (int64_t p = 0; p < crop * crop; p++)
      maps[i * crop * crop + p] = cls == 0 ? (float)m[p] : cls == 1 ? 1.0f - (float)m[p] : 0.5f;
  }
  TcFeaturesMeta fm;
  meta_(&fm, T, 28, 16, "fake");
  TcH5File *f = NULL;
  int64_t sd[1] = {T}, md[3] = {T, crop, crop};
  if (!err) err = tc_h5_create(comm, argv[2], "scores", &f);
  if (!err) err = tc_features_meta_write_attrs(f, &fm);
  if (!err) err = tc_h5_set_attr_str(f, "/", "method", "handmade");
  if (!err) err = tc_h5_create_dataset(f, "image_scores", TC_H5_F32, 1, sd, 0);
  if (!err) err = tc_h5_create_dataset(f, "anomaly_maps", TC_H5_F32, 3, md, 1);
  if (!err) err = tc_h5_write_rows(f, "image_scores", TC_H5_F32, 0, T, sc);
  if (!err) err = tc_h5_write_rows(f, "anomaly_maps", TC_H5_F32, 0, T, maps);
  if (!err) err = tc_h5_write_strings(f, "paths", T, 0, T, paths);
  if (f) {
    if (err) tc_h5_abandon(&f);
    else err = tc_h5_publish(&f);
  }
  free(sc);
  free(maps);
  free(m);
  free(paths);
  tc_dataset_destroy(&ds);
  return err;
}

static TcErr run_(MPI_Comm comm, int argc, char **argv) {
  const char *c = argc >= 2 ? argv[1] : "";
  if (!strcmp(c, "model")) return model_(comm, argc, argv);
  if (!strcmp(c, "features")) return features_(comm, argc, argv);
  if (!strcmp(c, "dataset")) return tc_agree(comm, tc_rank(comm) == 0 ? dataset_(argc, argv) : TC_OK);
  if (!strcmp(c, "scores")) return scores_(comm, argc, argv);
  return tc_err_set(TC_ERR_USAGE, "usage: score_tool model|features|dataset|scores ... (see the header)");
}

int main(int argc, char **argv) { return tool_main_(argc, argv, "score_tool", run_); }
