/* pcalib.c - fit's validation split and thresholds. See pcalib.h. */
#include "pcalib.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "context.h"
#include "dataset.h"
#include "log.h"
#include "model_io.h"
#include "ppredict.h"
#include "rng.h"

/* n strings as one allocation (pointers, then the bytes): what
 * tc_h5_read_strings gives, so tc_calib_clear frees either with free(). */
static char **pack_strings_(char *const *src, int64_t n) {
  size_t bytes = (size_t)(n > 0 ? n : 1) * sizeof(char *);
  for (int64_t i = 0; i < n; i++) bytes += strlen(src[i]) + 1;
  char **out = tc_malloc(bytes, "strings");
  if (!out) return NULL;
  char *p = (char *)(out + (n > 0 ? n : 1));
  for (int64_t i = 0; i < n; i++) {
    size_t len = strlen(src[i]) + 1;
    memcpy(p, src[i], len);
    out[i] = p;
    p += len;
  }
  return out;
}

static int cmp_str_ptr_(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Rank 0: each image's folder class as an index into the sorted distinct
 * class names (-1 = none): cls [N] (output); names, k (output, packed). */
static TcErr classes_(char *const *paths, int64_t N, int64_t *cls, char ***names, int64_t *k) {
  char (*buf)[256] = tc_malloc((size_t)(N > 0 ? N : 1) * 256, "image classes");
  char **uniq = tc_malloc((size_t)(N > 0 ? N : 1) * sizeof(char *), "class names");
  TcErr err = buf && uniq ? TC_OK : TC_ERR_MEM;
  int64_t m = 0;
  for (int64_t i = 0; !err && i < N; i++)
    if (tc_dataset_class_of(paths[i], buf[i], sizeof buf[i])) uniq[m++] = buf[i];
  if (!err) qsort(uniq, (size_t)m, sizeof(char *), cmp_str_ptr_);
  int64_t u = 0;
  for (int64_t i = 0; !err && i < m; i++)
    if (u == 0 || strcmp(uniq[u - 1], uniq[i])) uniq[u++] = uniq[i];
  for (int64_t i = 0; !err && i < N; i++) {
    cls[i] = -1;
    if (!buf[i][0]) continue;
    char *key = buf[i];
    char **hit = bsearch(&key, uniq, (size_t)u, sizeof(char *), cmp_str_ptr_);
    cls[i] = hit - uniq;
  }
  if (!err) {
    *names = pack_strings_(uniq, u);
    *k = u;
    if (!*names) err = TC_ERR_MEM;
  }
  free(buf);
  free(uniq);
  return err;
}

typedef struct {
  char *const *paths;
  int64_t *order; /* image indices sorted by path */
} PathIndex_;

static const PathIndex_ *cmp_ctx_;
static int cmp_order_(const void *a, const void *b) {
  return strcmp(cmp_ctx_->paths[*(const int64_t *)a], cmp_ctx_->paths[*(const int64_t *)b]);
}

/* Rank 0: --val LIST, each line an image of the features file. */
static TcErr held_from_list_(const char *list, const char *fpath, char *const *paths, int64_t N, uint8_t *held) {
  FILE *fp = fopen(list, "r");
  TC_CHECK(fp, TC_ERR_IO, "--val %s: cannot open: %s", list, strerror(errno));
  PathIndex_ ix = {paths, tc_malloc((size_t)(N > 0 ? N : 1) * sizeof(int64_t), "path index")};
  TcErr err = ix.order ? TC_OK : TC_ERR_MEM;
  for (int64_t i = 0; !err && i < N; i++) ix.order[i] = i;
  cmp_ctx_ = &ix;
  if (!err) qsort(ix.order, (size_t)N, sizeof(int64_t), cmp_order_);
  char *line = NULL;
  size_t cap = 0;
  ssize_t len;
  for (int64_t ln = 1; !err && (len = getline(&line, &cap, fp)) >= 0; ln++) {
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ')) line[--len] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (!*p || *p == '#') continue;
    int64_t lo = 0, hi = N;
    while (lo < hi) {
      int64_t mid = lo + (hi - lo) / 2;
      if (strcmp(paths[ix.order[mid]], p) < 0) lo = mid + 1;
      else hi = mid;
    }
    if (lo < N && !strcmp(paths[ix.order[lo]], p)) held[ix.order[lo]] = 1;
    else err = tc_err_set(TC_ERR_USAGE, "--val %s:%lld: '%s' is not an image of %s (give paths as in its /paths)",
                          list, (long long)ln, p, fpath);
  }
  if (!err && ferror(fp)) err = tc_err_set(TC_ERR_IO, "--val %s: read error", list);
  free(line);
  free(ix.order);
  fclose(fp);
  return err;
}

static TcErr fill_validation_(char *const *paths, int64_t N, const int64_t *cls, char **all_names, int64_t k,
                              const uint8_t *held, int64_t n, TcCalibration *cal);

/* Rank 0: choose, then fill cal's validation arrays. */
static TcErr choose_(char *const *paths, const char *fpath, int64_t N, const uint8_t *is_tail, double fraction,
                     const char *list, int64_t seed, uint8_t *held, TcCalibration *cal) {
  int64_t *cls = tc_malloc((size_t)(N > 0 ? N : 1) * sizeof(int64_t), "image classes");
  uint64_t *key = tc_malloc((size_t)(N > 0 ? N : 1) * sizeof(uint64_t), "hold-out keys");
  char **all_names = NULL;
  int64_t k = 0, n = 0, dropped = 0;
  TcErr err = cls && key ? TC_OK : TC_ERR_MEM;
  if (!err) err = classes_(paths, N, cls, &all_names, &k);
  if (!err && list) {
    memset(held, 0, (size_t)N);
    err = held_from_list_(list, fpath, paths, N, held);
    for (int64_t i = 0; !err && is_tail && i < N; i++)
      if (held[i] && is_tail[i]) held[i] = 0, dropped++;
    if (dropped)
      tc_log(0, "fit: warning: %lld image(s) of --val %s are tail images (TailSampler): they stay in the bank, "
                "not in the validation set", (long long)dropped, list);
  } else if (!err) {
    for (int64_t i = 0; i < N; i++)
      key[i] = tc_rng_u64((uint64_t)seed, TC_RNG_STREAM_HOLDOUT, tc_calib_path_hash(paths[i]));
    if (tc_calib_holdout(cls, is_tail, key, N, fraction, held) < 0) err = TC_ERR_MEM;
  }
  for (int64_t i = 0; !err && i < N; i++) n += held[i];
  if (!err && n == 0)
    err = list ? tc_err_set(TC_ERR_USAGE, "--val %s: empty validation split (no image of %s it lists%s)", list,
                            fpath, dropped ? " outside the tail" : "")
               : tc_err_set(TC_ERR_USAGE, "--val-fraction %g: empty validation split (a folder class of fewer than "
                                          "%.0f images loses none; tail images never): raise it or give --val LIST",
                            fraction, 1.0 / fraction);
  if (!err && n == N) err = tc_err_set(TC_ERR_USAGE, "the validation split holds every image of %s: nothing "
                                                     "is left to fit", fpath);
  if (!err) err = fill_validation_(paths, N, cls, all_names, k, held, n, cal);
  free(all_names);
  free(cls);
  free(key);
  return err;
}

/* Rank 0: cal's validation paths and classes (renumbered over the classes
 * that have validation images) from the n images flagged in held. */
static TcErr fill_validation_(char *const *paths, int64_t N, const int64_t *cls, char **all_names, int64_t k,
                              const uint8_t *held, int64_t n, TcCalibration *cal) {
  char **vp = NULL;
  TcErr err = TC_OK;
  {
    vp = tc_malloc((size_t)n * sizeof(char *), "validation paths");
    cal->val_class = tc_malloc((size_t)n * sizeof(int64_t), "validation classes");
    if (!vp || !cal->val_class) err = TC_ERR_MEM;
  }
  /* class indices renumbered over the classes that have validation images */
  int64_t *remap = err ? NULL : tc_malloc((size_t)(k > 0 ? k : 1) * sizeof(int64_t), "class map");
  char **used = err ? NULL : tc_malloc((size_t)(k > 0 ? k : 1) * sizeof(char *), "class names");
  if (!err && (!remap || !used)) err = TC_ERR_MEM;
  int64_t nc = 0;
  for (int64_t c = 0; !err && c < k; c++) remap[c] = -1;
  for (int64_t i = 0, j = 0; !err && i < N; i++)
    if (held[i]) {
      if (cls[i] >= 0 && remap[cls[i]] < 0) remap[cls[i]] = 0;
      vp[j++] = paths[i];
    }
  for (int64_t c = 0; !err && c < k; c++)
    if (remap[c] >= 0) used[nc] = all_names[c], remap[c] = nc++;
  for (int64_t i = 0, j = 0; !err && i < N; i++)
    if (held[i]) cal->val_class[j++] = cls[i] >= 0 ? remap[cls[i]] : -1;
  if (!err) {
    cal->n_val = n;
    cal->n_classes = nc;
    cal->val_paths = pack_strings_(vp, n);
    cal->class_names = pack_strings_(used, nc);
    if (!cal->val_paths || !cal->class_names) err = TC_ERR_MEM;
  }
  free(remap);
  free(used);
  free(vp);
  return err;
}

TcErr tc_pcalib_holdout(MPI_Comm comm, TcH5File *features, const char *features_path, int64_t N,
                        const uint8_t *is_tail, double fraction, const char *list, int64_t seed, uint8_t *held,
                        int64_t *n_held, TcCalibration *cal) {
  const int root = tc_rank(comm) == 0;
  char **paths = NULL;
  TcErr err = tc_agree(comm, tc_h5_read_strings(features, "paths", 0, root ? N : 0, &paths));
  if (!err && root) err = choose_(paths, features_path, N, is_tail, fraction, list, seed, held, cal);
  free(paths);
  err = tc_agree_root(comm, err);
  if (err) return err;
  if (root) {
    if (list) snprintf(cal->source, sizeof cal->source, "--val %s", list);
    else snprintf(cal->source, sizeof cal->source, "--val-fraction %g of each folder class, seed %lld", fraction,
                  (long long)seed);
  }
  int64_t sizes[2] = {cal->n_val, cal->n_classes};
  int rc = MPI_Bcast(held, (int)N, MPI_UINT8_T, 0, comm);
  if (!rc) rc = MPI_Bcast(sizes, 2, MPI_INT64_T, 0, comm);
  if (!rc) rc = MPI_Bcast(cal->source, (int)sizeof cal->source, MPI_CHAR, 0, comm);
  TC_CALL(tc_agree(comm, tc_mpi_check(rc, "MPI_Bcast (validation split)")));
  cal->n_val = sizes[0];
  cal->n_classes = sizes[1];
  *n_held = sizes[0];
  tc_log(1, "calibration: %lld of %lld images held out for validation (%s), %lld folder class(es)",
         (long long)*n_held, (long long)N, cal->source, (long long)cal->n_classes);
  return TC_OK;
}

TcErr tc_pcalib_all(MPI_Comm comm, TcH5File *features, const char *features_path, int64_t N,
                     TcCalibration *cal, uint8_t *held) {
  const int root = tc_rank(comm) == 0;
  char **paths = NULL, **names = NULL;
  int64_t *cls = NULL, k = 0;
  memset(held, 1, (size_t)N);
  TcErr err = tc_agree(comm, tc_h5_read_strings(features, "paths", 0, root ? N : 0, &paths));
  if (!err && root) {
    cls = tc_malloc((size_t)(N > 0 ? N : 1) * sizeof(int64_t), "image classes");
    err = cls ? classes_(paths, N, cls, &names, &k) : TC_ERR_MEM;
    if (!err) err = fill_validation_(paths, N, cls, names, k, held, N, cal);
    snprintf(cal->source, sizeof cal->source, "every image of %s", features_path);
  }
  free(paths);
  free(names);
  free(cls);
  TC_CALL(tc_agree_root(comm, err));
  int64_t sizes[2] = {cal->n_val, cal->n_classes};
  TC_CALL(tc_agree(comm, tc_mpi_check(MPI_Bcast(sizes, 2, MPI_INT64_T, 0, comm), "MPI_Bcast (validation)")));
  cal->n_val = sizes[0];
  cal->n_classes = sizes[1];
  return TC_OK;
}

TcErr tc_pcalib_score(MPI_Comm comm, TcH5File *model, const char *features_path, const uint8_t *held, int64_t N,
                      int64_t mem_per_rank, double target_frr, TcCalibration *cal) {
  const int root = tc_rank(comm) == 0;
  const int64_t n = cal->n_val;
  int64_t *rows = tc_malloc((size_t)n * sizeof(int64_t), "validation rows");
  float *scores = tc_malloc((size_t)n * sizeof(float), "validation scores");
  TcErr err = tc_agree(comm, rows && scores ? TC_OK : TC_ERR_MEM);
  for (int64_t i = 0, j = 0; !err && i < N; i++)
    if (held[i]) rows[j++] = i;
  /* fit's model is being written: every rank's rows on disk before any reads */
  if (!err) err = tc_h5_sync(model);
  if (!err) err = tc_ppredict_score_rows(comm, model, features_path, rows, n, mem_per_rank, scores, &cal->bank_digest);
  free(rows);
  if (err) {
    free(scores);
    return err;
  }
  /* every rank has every score: each computes the same thresholds */
  cal->val_scores = scores;
  if (!root) cal->val_class = tc_calloc((size_t)n, sizeof(int64_t), "validation classes");
  err = tc_agree(comm, cal->val_class ? TC_OK : TC_ERR_MEM);
  if (!err && !root)
    for (int64_t i = 0; i < n; i++) cal->val_class[i] = -1;
  if (!err) err = tc_agree(comm, tc_calib_compute(cal, target_frr));
  if (err) return err;
  /* class thresholds need the classes, which only rank 0 has: broadcast */
  if (cal->n_classes > 0) {
    int rc = MPI_Bcast(cal->class_thresholds, (int)cal->n_classes, MPI_FLOAT, 0, comm);
    if (!rc) rc = MPI_Bcast(cal->class_counts, (int)cal->n_classes, MPI_INT64_T, 0, comm);
    TC_CALL(tc_agree(comm, tc_mpi_check(rc, "MPI_Bcast (class thresholds)")));
  }
  tc_log(1, "calibration: threshold %.6g for a false-reject rate of %g over %lld validation images "
            "(expected rate %.4g)", (double)cal->threshold, target_frr, (long long)n, cal->expected_frr);
  if (cal->expected_frr > target_frr * 1.000001)
    tc_log(0, "fit: warning: %lld validation images cannot set a threshold for a false-reject rate of %g (at least "
              "%lld needed): the threshold is their maximum, expect about %.3g",
           (long long)n, target_frr, (long long)tc_calib_min_count(target_frr), cal->expected_frr);
  return TC_OK;
}

TcErr tc_pcalib_write(MPI_Comm comm, TcH5File *model, const char *features_path, const uint8_t *held, int64_t N,
                      int64_t mem_per_rank, double target_frr, TcCalibration *cal) {
  TC_CALL(tc_pcalib_score(comm, model, features_path, held, N, mem_per_rank, target_frr, cal));
  return tc_model_write_calibration(model, tc_rank(comm) == 0, cal);
}
