/* ppredict.c - distributed predict (DESIGN 3.7, 6). See ppredict.h.
 *
 * The loop runs in lock-step rounds: in round t every rank handles its t-th
 * image (ranks whose block is shorter take part with no image), because the
 * HDF5 reads and writes are collective and, in split-bank mode, every rank
 * must score every rank's queries against its slice of the bank. Every
 * per-image computation (one sgemm per bank tile with the image's HW query
 * rows) is the same whatever the rank count, so the scores are too. */
#include "ppredict.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "context.h"
#include "features_io.h"
#include "h5fmt.h"
#include "log.h"
#include "outguard.h"
#include "dataset.h"
#include "partition.h"
#include "pextract.h"

static void nn_min_op_(void *invec, void *inoutvec, int *len, MPI_Datatype *dt) {
  (void)dt;
  const TcScoreNN *a = invec;
  TcScoreNN *b = inoutvec;
  for (int i = 0; i < *len; i++) {
    if (a[i].index < 0) continue;
    /* lowest key, lowest global index on equal keys: the serial scan's rule */
    if (b[i].index < 0 || a[i].key < b[i].key || (a[i].key == b[i].key && a[i].index < b[i].index))
      b[i] = a[i];
  }
}

TcErr tc_ppredict_nn_allreduce(MPI_Comm comm, TcScoreNN *nn, int64_t n) {
  TC_CHECK(n >= 0 && n <= INT32_MAX, TC_ERR_USAGE, "%lld nearest-neighbour records for one reduction",
           (long long)n);
  MPI_Datatype t;
  MPI_Op op;
  TC_CALL(tc_mpi_check(MPI_Type_contiguous((int)sizeof(TcScoreNN), MPI_BYTE, &t), "MPI_Type_contiguous"));
  MPI_Type_commit(&t);
  MPI_Op_create(nn_min_op_, 1, &op);
  int rc = MPI_Allreduce(MPI_IN_PLACE, nn, (int)n, t, op, comm);
  MPI_Op_free(&op);
  MPI_Type_free(&t);
  return tc_mpi_check(rc, "MPI_Allreduce (nearest neighbours)");
}

/* The attributes that decide what a feature means: a model scores only
 * features extracted exactly as its training features were. Local. */
static TcErr meta_match_(const TcFeaturesMeta *m, const char *mpath, const TcFeaturesMeta *f,
                         const char *fpath) {
#define STR_(field)                                                                         \
  TC_CHECK(strcmp(m->field, f->field) == 0, TC_ERR_FORMAT,                                  \
           "%s: " #field " '%s' differs from the model's '%s' (%s): extract the test images " \
           "as the model was trained",                                                      \
           fpath, f->field, m->field, mpath)
#define INT_(field)                                                                         \
  TC_CHECK(m->field == f->field, TC_ERR_FORMAT,                                             \
           "%s: " #field " %lld differs from the model's %lld (%s): extract the test images " \
           "as the model was trained",                                                      \
           fpath, (long long)f->field, (long long)m->field, mpath)
  STR_(backbone);
  STR_(weights_sha256);
  STR_(taps);
  STR_(normalisation);
  INT_(D);
  INT_(fmap_h);
  INT_(fmap_w);
  INT_(resize);
  INT_(crop);
#undef STR_
#undef INT_
  return TC_OK;
}

/* "1.50 GiB", "12.3 MiB": sizes in messages a user can act on */
static const char *human_(int64_t b, char *buf, size_t n) {
  if (b >= (int64_t)1 << 30) snprintf(buf, n, "%.2f GiB", (double)b / (1024.0 * 1024.0 * 1024.0));
  else snprintf(buf, n, "%.1f MiB", (double)b / (1024.0 * 1024.0));
  return buf;
}

/* Rank 0 lists the test images (DESIGN 4 layout or a manifest) and
 * broadcasts their ROOT-relative names in one buffer. Collective on comm.
 * *names: T pointers into one allocation (free(*names) frees all). */
static TcErr list_images_(MPI_Comm comm, const TcPredictOptions *opt, int64_t *T, char ***names) {
  int rank = tc_rank(comm);
  TcDataset *ds = NULL;
  TcErr err = TC_OK;
  int64_t n = 0, bytes = 0;
  char *buf = NULL;
  if (rank == 0) {
    err = opt->list ? tc_dataset_read_manifest(opt->data_root, opt->list, &ds)
                    : tc_dataset_list(opt->data_root, opt->split, &ds);
    /* an --out that is one of the test images would replace it */
    if (!err) err = tc_outguard_dataset("--out", opt->out, ds, 0);
    if (!err) {
      n = ds->n;
      for (int64_t i = 0; i < n; i++) bytes += (int64_t)strlen(ds->items[i].path) + 1;
    }
  }
  err = tc_agree_root(comm, err);
  if (err) {
    tc_dataset_destroy(&ds);
    return err;
  }
  int64_t hdr[2] = {n, bytes};
  MPI_Bcast(hdr, 2, MPI_INT64_T, 0, comm);
  n = hdr[0];
  bytes = hdr[1];
  char **p = tc_malloc(sizeof(char *) * (size_t)(n + 1) + (size_t)bytes + 1, "image names");
  err = tc_agree(comm, p ? TC_OK : TC_ERR_MEM);
  if (err) {
    free(p);
    tc_dataset_destroy(&ds);
    return err;
  }
  buf = (char *)(p + n + 1);
  if (rank == 0) {
    char *w = buf;
    for (int64_t i = 0; i < n; i++) {
      size_t l = strlen(ds->items[i].path) + 1;
      memcpy(w, ds->items[i].path, l);
      w += l;
    }
  }
  tc_dataset_destroy(&ds);
  TC_CHECK(bytes <= INT32_MAX, TC_ERR_USAGE, "predict: image list too long for one broadcast");
  MPI_Bcast(buf, (int)bytes, MPI_CHAR, 0, comm);
  char *r = buf;
  for (int64_t i = 0; i < n; i++) {
    p[i] = r;
    r += strlen(r) + 1;
  }
  p[n] = NULL;
  *T = n;
  *names = p;
  return TC_OK;
}

TcErr tc_ppredict_run(MPI_Comm comm, const TcPredictOptions *opt) {
  int rank = tc_rank(comm), size = tc_size(comm);
  TcErr err = TC_OK;
  TcH5File *model = NULL, *feat = NULL, *out = NULL;
  TcExtractor *ex = NULL;
  char **names = NULL; /* image mode: ROOT-relative names of all T images */
  TcFeaturesMeta mm, fm;
  char method[64] = "", bank_mode_name[16] = "";
  float *bank = NULL, *norms = NULL, *weights = NULL, *Q = NULL, *work = NULL;
  float *grid = NULL, *map = NULL;
  TcScoreNN *nn = NULL;
  char **paths = NULL;
  int *have = NULL;
  memset(&mm, 0, sizeof mm);
  memset(&fm, 0, sizeof fm);

  /* ---- inputs: model, then features; everything checked before the output exists */
  err = tc_h5_check_output(comm, opt->out);
  if (err) goto cleanup;
  err = tc_agree(comm, tc_h5_open(comm, opt->model, "model", &model));
  if (err) goto cleanup;
  err = tc_features_meta_read_attrs(model, &mm);
  if (!err) err = tc_h5_get_attr_str(model, "/", "method", method, sizeof method);
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  int64_t M = 0, D = mm.D;
  {
    int nd = 0;
    int64_t dims[4] = {0};
    err = tc_h5_dims(model, "memory_bank", &nd, dims);
    if (!err) {
      int64_t want[2] = {-1, mm.D};
      err = tc_h5_expect(model, "memory_bank", TC_H5_F32, 2, want);
    }
    if (!err) M = dims[0];
    if (!err && M <= 0) err = tc_err_set(TC_ERR_FORMAT, "%s: /memory_bank is empty", opt->model);
  }
  int use_weights = strcmp(method, "softpatch") == 0;
  /* every model carries /memory_weights; only softpatch scores with them,
   * but damaged weights mean a damaged model, refused for any method */
  int has_weights = !err && tc_h5_exists(model, "memory_weights");
  if (!err && (use_weights || has_weights)) {
    if (!has_weights)
      err = tc_err_set(TC_ERR_FORMAT, "%s: method softpatch but no /memory_weights", opt->model);
    else {
      int64_t want[1] = {M};
      err = tc_h5_expect(model, "memory_weights", TC_H5_F32, 1, want);
    }
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;

  if (opt->features) {
    err = tc_agree(comm, tc_features_open(comm, opt->features, &feat, &fm));
    if (err) goto cleanup;
    err = meta_match_(&mm, opt->model, &fm, opt->features);
    if (!err && fm.N <= 0) err = tc_err_set(TC_ERR_FORMAT, "%s: no images", opt->features);
  } else {
    /* extract the test images exactly as the model's features were: same
     * backbone, taps, D and geometry; the weights file must be the one
     * whose checksum the model records */
    int64_t T0 = 0;
    err = list_images_(comm, opt, &T0, &names);
    if (err) goto cleanup;
    TcExtractConfig cfg = {mm.backbone, opt->weights, mm.taps, (int)mm.D, (int)mm.resize, (int)mm.crop, 0, 1};
    err = tc_extractor_create(&cfg, &ex);
    if (!err && strcmp(ex->bb->sha256, mm.weights_sha256) != 0)
      err = tc_err_set(TC_ERR_FORMAT,
                       "%s: weights checksum %.16s... differs from the model's %.16s... (%s): pass the "
                       "--weights the model was trained with",
                       opt->weights, ex->bb->sha256, mm.weights_sha256, opt->model);
    if (!err && (ex->D != mm.D || ex->fmap_h != mm.fmap_h || ex->fmap_w != mm.fmap_w))
      err = tc_err_set(TC_ERR_FORMAT, "%s: the extractor gives D %d on %dx%d, the model has D %lld on %lldx%lld",
                       opt->weights, ex->D, ex->fmap_h, ex->fmap_w, (long long)mm.D, (long long)mm.fmap_h,
                       (long long)mm.fmap_w);
    fm = mm;
    fm.N = T0;
    if (!err && T0 <= 0) err = tc_err_set(TC_ERR_FORMAT, "%s: no test images", opt->data_root);
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;

  const int64_t T = fm.N, HW = fm.fmap_h * fm.fmap_w, crop = fm.crop;
  const int64_t tile = TC_SCORE_TILE_ROWS;
  int64_t lo, hi;
  tc_block_range(T, rank, size, &lo, &hi);
  const int64_t nlocal = hi - lo, rounds = (T + size - 1) / size;

  /* ---- bank placement: the same decision on every rank, no communication */
  int64_t ntiles = (M + tile - 1) / tile;
  int64_t work_common = (int64_t)sizeof(float) * (tc_score_nn_work_floats(HW, tile) + HW + crop * crop) +
                        (int64_t)sizeof(float) * (has_weights ? M : 0);
  int64_t need_rep = (int64_t)sizeof(float) * (M * D + M + HW * D) +
                     (int64_t)sizeof(TcScoreNN) * HW + work_common;
  int64_t t_lo, t_hi, max_tiles = (ntiles + size - 1) / size;
  tc_block_range(ntiles, rank, size, &t_lo, &t_hi);
  int64_t need_split = (int64_t)sizeof(float) * (max_tiles * tile * (D + 1) + size * HW * D) +
                       (int64_t)sizeof(TcScoreNN) * size * HW + work_common;
  int split = opt->bank_mode == TC_BANK_SPLIT ||
              (opt->bank_mode == TC_BANK_AUTO && need_rep > opt->mem_per_rank && size > 1);
  char h1[32], h2[32], h3[32];
  if (split && need_split > opt->mem_per_rank && opt->bank_mode == TC_BANK_AUTO)
    err = tc_err_set(TC_ERR_MEM,
                     "the memory bank (%lld x %lld, %s) needs %s per rank even split over %d ranks, more "
                     "than --mem-per-rank %s: use more ranks or a larger --mem-per-rank",
                     (long long)M, (long long)D, human_(M * D * 4, h1, sizeof h1),
                     human_(need_split, h2, sizeof h2), size, human_(opt->mem_per_rank, h3, sizeof h3));
  if (!split && need_rep > opt->mem_per_rank && opt->bank_mode == TC_BANK_AUTO)
    err = tc_err_set(TC_ERR_MEM,
                     "the memory bank (%lld x %lld) and its work need %s, more than --mem-per-rank %s, "
                     "and one rank cannot split it: run on more ranks or raise --mem-per-rank",
                     (long long)M, (long long)D, human_(need_rep, h1, sizeof h1),
                     human_(opt->mem_per_rank, h2, sizeof h2));
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  /* a rank beyond the last tile gets an empty slice at row M (never past it:
   * the collective read checks its range) */
  int64_t b0 = split ? (t_lo * tile < M ? t_lo * tile : M) : 0;
  int64_t b1 = split ? (t_hi * tile < M ? t_hi * tile : M) : M;
  if (b1 < b0) b1 = b0;
  int64_t Mloc = b1 - b0;
  int64_t nq = split ? size * HW : HW; /* query rows scored per round on this rank */
  snprintf(bank_mode_name, sizeof bank_mode_name, "%s", split ? "split" : "replicated");
  tc_log(1, "predict: %lld test images on %d ranks, memory bank %lld x %lld (%s, %s), method %s",
         (long long)T, size, (long long)M, (long long)D, bank_mode_name, human_(M * D * 4, h1, sizeof h1),
         method);

  bank = tc_malloc_aligned(sizeof(float) * (size_t)(Mloc > 0 ? Mloc * D : 1), "memory bank");
  norms = tc_malloc(sizeof(float) * (size_t)(Mloc + 1), "memory bank norms");
  Q = tc_malloc_aligned(sizeof(float) * (size_t)(nq * D), "query patches");
  work = tc_malloc_aligned(sizeof(float) * (size_t)tc_score_nn_work_floats(HW, tile), "score workspace");
  nn = tc_malloc(sizeof(TcScoreNN) * (size_t)nq, "nearest neighbours");
  grid = tc_malloc(sizeof(float) * (size_t)HW, "score grid");
  map = tc_malloc(sizeof(float) * (size_t)(crop * crop), "anomaly map");
  have = tc_calloc((size_t)size, sizeof(int), "round flags");
  if (has_weights) weights = tc_malloc(sizeof(float) * (size_t)M, "memory weights");
  err = (bank && norms && Q && work && nn && grid && map && have && (!has_weights || weights)) ? TC_OK
                                                                                             : TC_ERR_MEM;
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  err = tc_h5_read_rows(model, "memory_bank", TC_H5_F32, b0, Mloc, bank);
  if (!err && has_weights) err = tc_h5_read_rows(model, "memory_weights", TC_H5_F32, 0, M, weights);
  if (!err) {
    /* a NaN row has no distance to anything: refused here, naming it, not
     * later as a patch without a neighbour */
    int64_t bad = tc_first_bad_f32(bank, Mloc * D, TC_VALUE_ABS_MAX);
    if (bad >= 0)
      err = tc_err_set(TC_ERR_FORMAT, "%s: /memory_bank row %lld holds %s at column %lld (values must be finite, "
                       "|x| <= %g)", opt->model, (long long)(b0 + bad / D), tc_value_str(bank[bad]),
                       (long long)(bad % D), (double)TC_VALUE_ABS_MAX);
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  tc_score_row_norms(bank, Mloc, D, norms);
  for (int64_t i = 0; has_weights && i < M; i++)
    if (!isfinite(weights[i]) || fabsf(weights[i]) > TC_VALUE_ABS_MAX) {
      err = tc_err_set(TC_ERR_FORMAT, "%s: /memory_weights[%lld] holds %s (values must be finite, |x| <= %g)",
                       opt->model, (long long)i, tc_value_str(weights[i]), (double)TC_VALUE_ABS_MAX);
      break;
    }
  err = tc_agree(comm, err);
  if (err) goto cleanup;

  /* ---- output */
  err = tc_agree(comm, tc_h5_create(comm, opt->out, "scores", &out));
  if (err) goto cleanup;
  {
    int64_t sd[1] = {T}, md[3] = {T, crop, crop};
    err = tc_h5_create_dataset(out, "image_scores", TC_H5_F32, 1, sd, 0);
    if (!err) err = tc_h5_create_dataset(out, "anomaly_maps", TC_H5_F32, 3, md, 1);
    if (!err) err = tc_features_meta_write_attrs(out, &fm);
    if (!err) err = tc_h5_set_attr_str(out, "/", "method", method);
    if (!err) err = tc_h5_set_attr_str(out, "/", "model", opt->model);
    if (!err) err = tc_h5_set_attr_str(out, "/", "source", opt->features ? opt->features : opt->data_root);
    if (!err) err = tc_h5_set_attr_str(out, "/", "bank_mode", bank_mode_name);
    if (!err) err = tc_h5_set_attr_f64(out, "/", "sigma", opt->sigma);
    if (!err) err = tc_h5_set_attr_i64(out, "/", "memory_rows", M);
    err = tc_agree(comm, err);
    if (err) goto cleanup;
  }

  TcProgress prog;
  tc_progress_start(&prog, "predict", "images", T);
  float *myQ = split ? Q + (int64_t)rank * HW * D : Q;
  for (int64_t t = 0; t < rounds; t++) {
    int mine = t < nlocal;
    if (feat) {
      /* a rank without an image still takes part in the collective read */
      err = tc_features_read(feat, &fm, lo + t, mine ? 1 : 0, myQ, NULL);
    } else if (mine) {
      char path[4096];
      snprintf(path, sizeof path, "%s/%s", opt->data_root, names[lo + t]);
      err = tc_extractor_load(ex, path);
      if (!err) err = tc_extractor_run(ex, myQ, NULL);
    }
    if (!err && mine && t == 1 && tc_fault_injected(comm, "predict"))
      err = tc_err_set(TC_ERR_IO, "%s: injected failure in round %lld", opt->out, (long long)t);
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    if (split) {
      /* every rank needs every rank's queries of this round */
      int rc = MPI_Allgather(&mine, 1, MPI_INT, have, 1, MPI_INT, comm);
      rc = rc ? rc : MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, Q, (int)(HW * D), MPI_FLOAT, comm);
      if (rc != MPI_SUCCESS) tc_abort(comm, tc_mpi_check(rc, "MPI_Allgather (queries)"), "predict");
      tc_score_nn_init(nn, nq);
      for (int s = 0; s < size && !err; s++)
        if (have[s]) {
          err = tc_score_nn(Q + (int64_t)s * HW * D, HW, bank, norms, Mloc, D, b0, tile, work,
                            nn + (int64_t)s * HW);
          if (!err) tc_score_nn_exact(Q + (int64_t)s * HW * D, HW, bank, Mloc, D, b0, nn + (int64_t)s * HW);
        }
      err = tc_agree(comm, err);
      if (err) goto cleanup;
      err = tc_agree(comm, tc_ppredict_nn_allreduce(comm, nn, nq));
      if (err) goto cleanup;
    } else if (mine) {
      tc_score_nn_init(nn, HW);
      err = tc_score_nn(Q, HW, bank, norms, M, D, 0, tile, work, nn);
      if (!err) tc_score_nn_exact(Q, HW, bank, M, D, 0, nn);
    }
    float image_score = 0.0f;
    if (!err && mine) {
      const TcScoreNN *my = split ? nn + (int64_t)rank * HW : nn;
      for (int64_t p = 0; p < HW; p++) {
        if (my[p].index < 0) {
          err = tc_err_set(TC_ERR_INTERNAL, "patch %lld of image %lld has no neighbour",
                           (long long)p, (long long)(lo + t));
          break;
        }
        /* SoftPatch: the distance scaled by the nearest memory patch's LOF weight */
        grid[p] = use_weights ? my[p].dist * weights[my[p].index] : my[p].dist;
      }
      image_score = tc_score_image(grid, HW);
      if (!err) err = tc_score_anomaly_map(grid, (int)fm.fmap_h, (int)fm.fmap_w, (int)crop, opt->sigma, map);
    }
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    err = tc_h5_write_rows(out, "image_scores", TC_H5_F32, lo + t, mine, &image_score);
    if (!err) err = tc_h5_write_rows(out, "anomaly_maps", TC_H5_F32, lo + t, mine, map);
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    int64_t done = (t + 1) * size < T ? (t + 1) * size : T;
    tc_progress_update(&prog, done);
  }
  tc_progress_finish(&prog);

  if (feat) {
    err = tc_agree(comm, tc_h5_read_strings(feat, "paths", lo, nlocal, &paths));
    if (err) goto cleanup;
  }
  err = tc_agree(comm, tc_h5_write_strings(out, "paths", T, lo, nlocal,
                                           (const char *const *)(feat ? paths : names + lo)));
  if (err) goto cleanup;
  err = tc_agree(comm, tc_h5_publish(&out));
  if (!err) tc_log(1, "predict: wrote %s (%lld images)", opt->out, (long long)T);

cleanup:
  if (out) tc_h5_abandon(&out);
  tc_h5_close(&feat);
  tc_h5_close(&model);
  tc_extractor_destroy(&ex);
  free(names);
  free(paths);
  free(have);
  free(map);
  free(grid);
  free(nn);
  free(work);
  free(Q);
  free(weights);
  free(norms);
  free(bank);
  return err;
}
