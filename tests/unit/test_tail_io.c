/* test_tail_io.c - the tail/ group writer (src/tail_io.h) on MPI_COMM_SELF:
 * tail.h5's whole layout and model.h5's summary from one result, a model
 * without TailSampler (zeros, k_max -1), elbow distances converted through
 * the stack in several slices (K > 4096), and the refusals. */
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "h5fmt.h"
#include "log.h"
#include "tail_io.h"
#include "tailsampler.h"

static char dir_[] = "/tmp/tc_tail_io.XXXXXX";

/* A result of N images and K classes with values that tell rows apart. */
static TcTailResult *result_(int64_t N, int64_t K) {
  TcTailResult *r = NULL;
  if (tc_tail_result_create(N, &r)) return NULL;
  for (int64_t j = 0; j < N; j++) {
    r->th[j] = 0.25f * (float)j;
    r->count[j] = 3 * j + 1;
    r->kappa[j] = j % 7 + 1;
    r->is_tail[j] = j % 3 == 0;
  }
  r->neta = K;
  r->eta = malloc((size_t)K * sizeof(int64_t));
  r->elbow_dist = malloc((size_t)K * sizeof(double));
  for (int64_t t = 0; t < K; t++) {
    r->eta[t] = K - t;
    r->elbow_dist[t] = 0.1 * (double)t + 1.0 / 3.0;
  }
  r->k_elbow = 5;
  r->k_cap = 4;
  r->k_max = 4;
  r->cut = TC_TAIL_CUT_GAP;
  return r;
}

/* Write and publish dir_/name of kind `kind` with tc_tail_io_write, the
 * one rank writing every row; path (output) names it. */
static TcErr write_(const char *name, const char *kind, const TcTailResult *r, int64_t N,
                    const TcTailFileInfo *full, char *path, size_t cap) {
  snprintf(path, cap, "%s/%s", dir_, name);
  TcH5File *f = NULL;
  TcErr err = tc_h5_create(MPI_COMM_SELF, path, kind, &f);
  if (err) return err;
  err = tc_tail_io_write(f, r, N, 0, N, 1, full);
  if (err) {
    tc_h5_abandon(&f);
    return err;
  }
  return tc_h5_publish(&f);
}

static void test_full_(void) {
  const int64_t N = 10, K = 5000;
  TcTailResult *r = result_(N, K);
  CHECK(r != NULL);
  if (!r) return;
  const char *paths[10] = {"a", "b", "c", "d", "e", "f", "g", "h", "i", "j"};
  TcTailFileInfo info = {.features = "features.h5", .tail_p = 0.85, .embed_norm = TC_TAIL_NORM_CENTER,
                         .streamed = 1, .has_paths = 1, .paths = paths};
  char path[600];
  CHECK_INT(write_("tail.h5", "tail", r, N, &info, path, sizeof path), TC_OK);
  TcH5File *f = NULL;
  CHECK_INT(tc_h5_open(MPI_COMM_SELF, path, "tail", &f), TC_OK);
  if (!f) goto done;
  int64_t kappa[10], count[10], eta[5000], k[3];
  float th[10], dist[5000];
  uint8_t flags[10];
  CHECK_INT(tc_h5_read_rows(f, "tail/class_size", TC_H5_I64, 0, N, kappa), TC_OK);
  CHECK_INT(tc_h5_read_rows(f, "tail/is_tail", TC_H5_U8, 0, N, flags), TC_OK);
  CHECK_INT(tc_h5_read_rows(f, "tail/th", TC_H5_F32, 0, N, th), TC_OK);
  CHECK_INT(tc_h5_read_rows(f, "tail/count", TC_H5_I64, 0, N, count), TC_OK);
  CHECK_INT(tc_h5_read_rows(f, "tail/eta", TC_H5_I64, 0, K, eta), TC_OK);
  CHECK_INT(tc_h5_read_rows(f, "tail/elbow_distance", TC_H5_F32, 0, K, dist), TC_OK);
  CHECK_INT(tc_h5_read_rows(f, "tail/k_elbow", TC_H5_I64, 0, 1, &k[0]), TC_OK);
  CHECK_INT(tc_h5_read_rows(f, "tail/k_cap", TC_H5_I64, 0, 1, &k[1]), TC_OK);
  CHECK_INT(tc_h5_read_rows(f, "tail/k_max", TC_H5_I64, 0, 1, &k[2]), TC_OK);
  int same = 1;
  for (int64_t j = 0; j < N; j++)
    same = same && kappa[j] == r->kappa[j] && flags[j] == r->is_tail[j] && th[j] == r->th[j] &&
           count[j] == r->count[j];
  CHECK(same);
  /* every slice of the stack staging converted in place */
  same = 1;
  for (int64_t t = 0; t < K; t++) same = same && eta[t] == r->eta[t] && dist[t] == (float)r->elbow_dist[t];
  CHECK(same);
  CHECK(k[0] == 5 && k[1] == 4 && k[2] == 4);
  int64_t v = 0;
  char s[128];
  CHECK(tc_h5_get_attr_i64(f, "tail", "n_tail", &v) == TC_OK && v == 4);
  CHECK(tc_h5_get_attr_i64(f, "tail", "n_images", &v) == TC_OK && v == N);
  CHECK(tc_h5_get_attr_str(f, "tail", "tail_cut", s, sizeof s) == TC_OK && !strcmp(s, "gap"));
  CHECK(tc_h5_get_attr_str(f, "tail", "embed_norm", s, sizeof s) == TC_OK && !strcmp(s, "center"));
  CHECK(tc_h5_get_attr_str(f, "tail", "mode", s, sizeof s) == TC_OK && !strcmp(s, "stream"));
  CHECK(tc_h5_get_attr_str(f, "tail", "features", s, sizeof s) == TC_OK && !strcmp(s, "features.h5"));
  char **back = NULL;
  CHECK_INT(tc_h5_read_strings(f, "paths", 0, N, &back), TC_OK);
  CHECK(back && !strcmp(back[0], "a") && !strcmp(back[9], "j"));
  free(back);
  tc_h5_close(&f);
done:
  tc_tail_result_destroy(&r);
}

/* model.h5's summary: three datasets, nothing else of the layout. */
static void test_summary_(const TcTailResult *r, int64_t N, int64_t want_kmax) {
  char path[600];
  CHECK_INT(write_(r ? "model.h5" : "model_none.h5", "model", r, N, NULL, path, sizeof path), TC_OK);
  TcH5File *f = NULL;
  CHECK_INT(tc_h5_open(MPI_COMM_SELF, path, "model", &f), TC_OK);
  if (!f) return;
  int64_t *kappa = calloc((size_t)N, sizeof(int64_t)), kmax = 0;
  uint8_t *flags = calloc((size_t)N, 1);
  CHECK_INT(tc_h5_read_rows(f, "tail/class_size", TC_H5_I64, 0, N, kappa), TC_OK);
  CHECK_INT(tc_h5_read_rows(f, "tail/is_tail", TC_H5_U8, 0, N, flags), TC_OK);
  CHECK_INT(tc_h5_read_rows(f, "tail/k_max", TC_H5_I64, 0, 1, &kmax), TC_OK);
  CHECK_INT(kmax, want_kmax);
  int same = 1;
  for (int64_t j = 0; j < N; j++)
    same = same && kappa[j] == (r ? r->kappa[j] : 0) && flags[j] == (r ? r->is_tail[j] : 0);
  CHECK(same);
  CHECK(!tc_h5_exists(f, "tail/th") && !tc_h5_exists(f, "tail/eta") && !tc_h5_exists(f, "paths"));
  CHECK(!tc_h5_has_attr(f, "tail", "k_max"));
  free(kappa);
  free(flags);
  tc_h5_close(&f);
}

static void test_refusals_(void) {
  TcTailResult *r = result_(4, 2);
  TcTailFileInfo info = {.features = "x"};
  char path[600];
  /* tail.h5 without a result; a result of another size */
  CHECK_INT(write_("bad1.h5", "tail", NULL, 4, &info, path, sizeof path), TC_ERR_INTERNAL);
  CHECK_INT(write_("bad2.h5", "model", r, 5, NULL, path, sizeof path), TC_ERR_INTERNAL);
  tc_err_clear();
  tc_tail_result_destroy(&r);
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  if (!mkdtemp(dir_)) {
    perror("mkdtemp");
    return 1;
  }
  tc_log_level = 0;
  test_full_();
  TcTailResult *r = result_(9000, 3);
  CHECK(r != NULL);
  if (r) test_summary_(r, 9000, 4);
  tc_tail_result_destroy(&r);
  test_summary_(NULL, 9000, -1); /* 9000 zeros: three slices of the stack */
  test_refusals_();
  /* the refused files were abandoned: these three are all there is */
  const char *published[] = {"tail.h5", "model.h5", "model_none.h5"};
  char path[600];
  for (int i = 0; i < 3; i++) {
    snprintf(path, sizeof path, "%s/%s", dir_, published[i]);
    unlink(path);
  }
  CHECK(rmdir(dir_) == 0);
  MPI_Finalize();
  return tc_test_report();
}
