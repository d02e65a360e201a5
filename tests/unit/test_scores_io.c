/* test_scores_io.c - scores.h5 written by tc_scores_create/write and read
 * back by tc_scores_open/read on MPI_COMM_SELF: every value and attribute
 * eval relies on survives, and the reader refuses an empty file, a map
 * larger than its resize, and a file of another kind. */
#include <hdf5.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "h5_test.h"
#include "scores_io.h"

static char dir_[256];

static TcFeaturesMeta meta_(int64_t resize, int64_t crop) {
  TcFeaturesMeta m;
  memset(&m, 0, sizeof m);
  m.fmap_h = m.fmap_w = 2;
  m.D = 3;
  m.E = 4;
  m.resize = resize;
  m.crop = crop;
  snprintf(m.backbone, sizeof m.backbone, "mobilenetv2");
  snprintf(m.weights_sha256, sizeof m.weights_sha256, "abc");
  snprintf(m.taps, sizeof m.taps, "t1");
  snprintf(m.normalisation, sizeof m.normalisation, "imagenet");
  return m;
}

/* A published scores file of T images with maps crop x crop: image i has
 * score i + 0.5 and every map pixel 10 i + pixel index. */
static TcErr write_file_(const char *path, int64_t T, int64_t resize, int64_t crop) {
  TcFeaturesMeta fm = meta_(resize, crop);
  TcScoresRun run = {T, &fm, "softpatch", "model.h5", "test.h5", "replicated", 4.0, 17, 0, 0, 0, NULL};
  TcH5File *f = NULL;
  TC_CALL(tc_scores_create(MPI_COMM_SELF, path, &run, &f));
  float *maps = malloc(sizeof(float) * (size_t)((T > 0 ? T : 1) * crop * crop));
  float *scores = malloc(sizeof(float) * (size_t)(T > 0 ? T : 1));
  const char *paths[3] = {"a/test/good/0.png", "a/test/crack/1.png", "b/test/good/2.png"};
  for (int64_t i = 0; i < T; i++) {
    scores[i] = (float)i + 0.5f;
    for (int64_t p = 0; p < crop * crop; p++) maps[i * crop * crop + p] = (float)(10 * i + p);
  }
  TcErr err = tc_scores_write_images(f, 0, T, scores, maps);
  /* an empty string dataset cannot be written (predict never has T = 0) */
  if (!err && T > 0) err = tc_scores_write_paths(f, T, 0, T, paths);
  free(maps);
  free(scores);
  if (err) {
    tc_h5_abandon(&f);
    return err;
  }
  return tc_h5_publish(&f);
}

static void test_round_trip_(void) {
  char path[600];
  snprintf(path, sizeof path, "%s/scores.h5", dir_);
  CHECK_INT(write_file_(path, 3, 5, 4), TC_OK);
  TcH5File *f = NULL;
  TcScoresMeta m;
  CHECK_INT(tc_scores_open(MPI_COMM_SELF, path, &f, &m), TC_OK);
  if (!f) return;
  CHECK_INT(m.T, 3);
  CHECK_INT(m.resize, 5);
  CHECK_INT(m.crop, 4);
  CHECK(strcmp(m.method, "softpatch") == 0);
  float scores[3] = {0}, map[16] = {0};
  CHECK_INT(tc_scores_read_image_scores(f, &m, scores), TC_OK);
  CHECK(scores[0] == 0.5f && scores[1] == 1.5f && scores[2] == 2.5f);
  CHECK_INT(tc_scores_read_map(f, &m, 2, map), TC_OK);
  CHECK(map[0] == 20.0f && map[15] == 35.0f);
  char **paths = NULL;
  CHECK_INT(tc_scores_read_paths(f, &m, &paths), TC_OK);
  CHECK(paths && strcmp(paths[1], "a/test/crack/1.png") == 0);
  free(paths);
  /* what eval does not read but predict records */
  char s[64] = "";
  double sigma = 0;
  int64_t rows = 0;
  CHECK_INT(tc_h5_get_attr_str(f, "/", "bank_mode", s, sizeof s), TC_OK);
  CHECK(strcmp(s, "replicated") == 0);
  CHECK_INT(tc_h5_get_attr_f64(f, "/", "sigma", &sigma), TC_OK);
  CHECK(sigma == 4.0);
  CHECK_INT(tc_h5_get_attr_i64(f, "/", "memory_rows", &rows), TC_OK);
  CHECK_INT(rows, 17);
  TcFeaturesMeta back;
  memset(&back, 0, sizeof back);
  CHECK_INT(tc_features_meta_read_attrs(f, &back), TC_OK);
  CHECK(strcmp(back.backbone, "mobilenetv2") == 0 && back.D == 3 && back.fmap_w == 2);
  tc_h5_close(&f);
}

static void test_refused_(void) {
  char path[600];
  TcH5File *f = NULL;
  TcScoresMeta m;
  snprintf(path, sizeof path, "%s/empty.h5", dir_);
  CHECK_INT(write_file_(path, 0, 5, 4), TC_OK);
  CHECK_INT(tc_scores_open(MPI_COMM_SELF, path, &f, &m), TC_ERR_FORMAT);
  CHECK(f == NULL && strstr(tc_err_message(), "no images"));
  tc_err_clear();
  snprintf(path, sizeof path, "%s/geometry.h5", dir_);
  CHECK_INT(write_file_(path, 1, 3, 4), TC_OK);
  CHECK_INT(tc_scores_open(MPI_COMM_SELF, path, &f, &m), TC_ERR_FORMAT);
  CHECK(f == NULL && strstr(tc_err_message(), "bad geometry (resize 3, crop 4)"));
  tc_err_clear();
  /* a features file is not a scores file */
  snprintf(path, sizeof path, "%s/features.h5", dir_);
  TcFeaturesMeta fm = meta_(5, 4);
  fm.N = 1;
  CHECK_INT(tc_features_create(MPI_COMM_SELF, path, &fm, &f), TC_OK);
  CHECK_INT(tc_h5_publish(&f), TC_OK);
  CHECK(tc_scores_open(MPI_COMM_SELF, path, &f, &m) != TC_OK);
  CHECK(f == NULL);
  tc_err_clear();
}

int main(int argc, char **argv) {
  tc_test_h5_begin(&argc, &argv, dir_, sizeof dir_, "tc_scores_io");
  test_round_trip_();
  test_refused_();
  return tc_test_h5_end(dir_);
}
