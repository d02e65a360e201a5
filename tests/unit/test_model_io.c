/* test_model_io.c - the method table (method.h) and model.h5 (model_io.h):
 * what fit writes reads back through predict's steps, and the reader
 * refuses a damaged bank with predict's messages. Serial, on
 * MPI_COMM_SELF. */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "method.h"
#include "model_io.h"

static char dir_[] = "/tmp/tc_model_io.XXXXXX";

static void test_methods_(void) {
  const TcMethod *t = tc_method_find("tailedcore"), *s = tc_method_find("softpatch"),
                 *p = tc_method_find("patchcore");
  CHECK(t && s && p);
  CHECK(!tc_method_find("knn") && !tc_method_find(NULL) && !tc_method_find(""));
  if (!t || !s || !p) return;
  CHECK(t->noise_filter && t->tail_sampling && t->tail_views && !t->memory_weights && !t->weights_scores);
  CHECK(s->noise_filter && !s->tail_sampling && !s->tail_views && s->memory_weights && s->weights_scores);
  CHECK(!p->noise_filter && !p->tail_sampling && !p->tail_views && !p->memory_weights && !p->weights_scores);
  /* every name of the table is one of the choices, and the reverse */
  char choices[] = TC_METHOD_CHOICES;
  int n = 0;
  for (char *tok = strtok(choices, "|"); tok; tok = strtok(NULL, "|"), n++) CHECK(tc_method_find(tok) != NULL);
  CHECK_INT(n, 3);
}

static TcFeaturesMeta meta_(void) {
  TcFeaturesMeta m;
  memset(&m, 0, sizeof m);
  m.fmap_h = 2;
  m.fmap_w = 2;
  m.D = 4;
  m.E = 3;
  m.resize = 64;
  m.crop = 56;
  snprintf(m.backbone, sizeof m.backbone, "resnet18");
  snprintf(m.weights_sha256, sizeof m.weights_sha256, "abc");
  snprintf(m.taps, sizeof m.taps, "layer2,layer3");
  snprintf(m.normalisation, sizeof m.normalisation, "imagenet");
  return m;
}

/* A model of M = 3 rows of D = 4, the given method, one value changed. */
static void write_model_(const char *path, const char *method, float bad_bank, float bad_weight) {
  TcFeaturesMeta fm = meta_();
  TcH5File *f = NULL;
  float bank[12], w[3] = {0.5f, 1.5f, bad_weight};
  for (int i = 0; i < 12; i++) bank[i] = (float)i;
  bank[9] = bad_bank;
  int64_t idx[3] = {1, 5, 7}, clean[2] = {7, 1};
  TcModelInfo mi = {.features = &fm, .method = method, .coreset_ratio = 0.5, .coreset_mode = "exact",
                    .tail_coreset = "global", .tail_cut = "cap", .embed_norm = "none", .tail_aug = "none", .tail_views = "none",
                    .program_version = "test", .source_features = "f.h5", .N = 2, .n_patches = 8, .M = 3,
                    .coreset_clean_size = 2, .lof_threshold = NAN};
  TcErr err = tc_model_create(MPI_COMM_SELF, path, 3, 4, 2, 0, &f);
  if (!err) err = tc_model_write_rows(f, 0, 3, bank, w);
  if (!err) err = tc_model_write_coreset(f, 1, 3, idx, 2, clean, 0, NULL);
  if (!err) err = tc_model_write_info(f, &mi);
  if (!err) err = tc_h5_publish(&f);
  else tc_h5_abandon(&f);
  CHECK_MSG(err == TC_OK, "%s", tc_err_message());
}

/* Predict's steps 1-3 on path; the code of the first that fails. */
static TcErr open_model_(const char *path, TcH5File **f, TcModelMeta *m) {
  TcErr err = tc_model_open(MPI_COMM_SELF, path, f);
  if (!err) err = tc_model_read_meta(*f, m);
  if (!err) err = tc_model_check_bank(*f, m);
  return err;
}

static void test_round_trip_(void) {
  char path[600];
  snprintf(path, sizeof path, "%s/good.h5", dir_);
  write_model_(path, "softpatch", 9.0f, 2.5f);
  TcH5File *f = NULL;
  TcModelMeta m;
  TcErr err = open_model_(path, &f, &m);
  CHECK_MSG(err == TC_OK, "%s", tc_err_message());
  CHECK(strcmp(m.method, "softpatch") == 0 && strcmp(m.features.taps, "layer2,layer3") == 0);
  CHECK_INT(m.M, 3);
  CHECK_INT(m.features.D, 4);
  CHECK(m.weights_scores && m.has_weights);
  float bank[8], w[3];
  if (!err) err = tc_model_read_rows(f, &m, 1, 2, bank, w);
  if (!err) err = tc_model_check_weights(f, &m, w);
  CHECK_MSG(err == TC_OK, "%s", tc_err_message());
  CHECK(bank[0] == 4.0f && bank[7] == 11.0f && w[0] == 0.5f && w[2] == 2.5f);
  int64_t M = 0;
  if (f) CHECK(tc_h5_get_attr_i64(f, "/", "M", &M) == TC_OK && M == 3);
  tc_h5_close(&f);
}

/* Each damage gives predict's message. */
static void expect_refused_(const char *name, const char *method, float bad_bank, float bad_weight,
                            const char *want) {
  char path[600];
  snprintf(path, sizeof path, "%s/%s.h5", dir_, name);
  write_model_(path, method, bad_bank, bad_weight);
  TcH5File *f = NULL;
  TcModelMeta m;
  float bank[12], w[3];
  TcErr err = open_model_(path, &f, &m);
  if (!err) err = tc_model_read_rows(f, &m, 0, 3, bank, m.has_weights ? w : NULL);
  if (!err) err = tc_model_check_weights(f, &m, m.has_weights ? w : NULL);
  CHECK_INT(err, TC_ERR_FORMAT);
  CHECK_MSG(strstr(tc_err_message(), want) != NULL, "'%s' lacks '%s'", tc_err_message(), want);
  tc_err_clear();
  tc_h5_close(&f);
}

/* A model fit never writes: a bank but no weights, or an empty bank. */
static void write_bare_(const char *path, const char *method, int64_t M) {
  TcFeaturesMeta fm = meta_();
  TcH5File *f = NULL;
  int64_t dims[2] = {M, 4};
  float bank[4] = {0};
  TcErr err = tc_h5_create(MPI_COMM_SELF, path, "model", &f);
  if (!err) err = tc_features_meta_write_attrs(f, &fm);
  if (!err) err = tc_h5_set_attr_str(f, "/", "method", method);
  if (!err) err = tc_h5_create_dataset(f, "memory_bank", TC_H5_F32, 2, dims, 0);
  if (!err && M > 0) err = tc_h5_write_rows(f, "memory_bank", TC_H5_F32, 0, 1, bank);
  if (!err) err = tc_h5_publish(&f);
  else tc_h5_abandon(&f);
  CHECK_MSG(err == TC_OK, "%s", tc_err_message());
}

/* A bare model (no weights) of `method` with M rows is refused at open with
 * exactly "PATH: <msg>". */
static void expect_bare_refused_(const char *name, const char *method, int M, const char *msg) {
  char path[600], want[900];
  snprintf(path, sizeof path, "%s/%s.h5", dir_, name);
  write_bare_(path, method, M);
  TcH5File *f = NULL;
  TcModelMeta m;
  CHECK_INT(open_model_(path, &f, &m), TC_ERR_FORMAT);
  snprintf(want, sizeof want, "%s: %s", path, msg);
  CHECK_MSG(strcmp(tc_err_message(), want) == 0, "%s", tc_err_message());
  tc_err_clear();
  tc_h5_close(&f);
}

static void test_refused_(void) {
  expect_refused_("nanrow", "patchcore", NAN, 1.0f, "/memory_bank row 2 holds NaN at column 1");
  expect_refused_("infweight", "patchcore", 9.0f, INFINITY, "/memory_weights[2] holds inf");
  expect_bare_refused_("noweights", "softpatch", 1, "method softpatch but no /memory_weights");
  /* fit writes /memory_weights for every method: a model without them is
   * damaged even where the method does not score with them (make fuzz seed
   * 4 h5_00561: accepted) */
  expect_bare_refused_("noweights_pc", "patchcore", 1,
                       "method patchcore but no /memory_weights (fit writes them for every method: a damaged model)");
  expect_bare_refused_("empty", "patchcore", 0, "/memory_bank is empty");
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  const int made = mkdtemp(dir_) != NULL;
  CHECK_MSG(made, "cannot make %s", dir_);
  if (made) {
    test_methods_();
    test_round_trip_();
    test_refused_();
    char rm[600];
    snprintf(rm, sizeof rm, "rm -rf '%s'", dir_);
    CHECK(system(rm) == 0);
  }
  MPI_Finalize();
  return tc_test_report();
}
