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
#include "csv_out.h"
#include "features_io.h"
#include "h5fmt.h"
#include "log.h"
#include "model_io.h"
#include "outguard.h"
#include "dataset.h"
#include "partition.h"
#include "pextract.h"
#include "scores_io.h"
#include "calib.h"
#include "heatmap.h"
#include "image.h"
#include "ivf.h"
#include "pivf.h"
#include "resize.h"
#include "rng.h"
#include <errno.h>
#include <sys/stat.h>

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

/* An --out or --csv that is one of the images would replace it. Plain
 * files have no root to resolve them under: each is checked as given.
 * Local (rank 0). */
static TcErr guard_images_(const TcPredictOptions *opt, const TcDataset *ds) {
  const char *const what[2] = {"--out", "--csv"}, *const outs[2] = {opt->out, opt->csv};
  TcErr err = TC_OK;
  for (int k = 0; k < 2 && !err; k++) {
    if (!outs[k]) continue;
    if (ds->root) {
      err = tc_outguard_dataset(what[k], outs[k], ds, 0);
      continue;
    }
    TcOutGuard *g = NULL;
    err = tc_outguard_open(what[k], outs[k], &g);
    for (int64_t i = 0; !err && i < ds->n; i++) err = tc_outguard_input(g, "image", ds->items[i].path);
    tc_outguard_close(&g);
  }
  return err;
}

/* Rank 0 lists the test images (DESIGN 4 layout or a manifest, or plain
 * files) and broadcasts their names (ROOT-relative, or as given) in one
 * buffer. Collective on comm. *names: T pointers into one allocation
 * (free(*names) frees all). */
static TcErr list_images_(MPI_Comm comm, const TcPredictOptions *opt, int64_t *T, char ***names) {
  TcDataset *ds = NULL;
  TcErr err = TC_OK;
  int64_t n = 0;
  char **paths = NULL;
  if (tc_rank(comm) == 0) {
    if (!opt->data_root) err = tc_dataset_read_plain(opt->list, opt->images, opt->n_images, &ds);
    else err = opt->list ? tc_dataset_read_manifest(opt->data_root, opt->list, &ds)
                         : tc_dataset_list(opt->data_root, opt->split, &ds);
    if (!err) err = guard_images_(opt, ds);
    if (!err) {
      n = ds->n;
      paths = tc_malloc(sizeof(char *) * (size_t)(n ? n : 1), "image names");
      if (!paths) err = TC_ERR_MEM;
      for (int64_t i = 0; paths && i < n; i++) paths[i] = ds->items[i].path;
    }
  }
  err = tc_agree_root(comm, err);
  if (!err) err = tc_bcast_strings(comm, &n, paths, names);
  free(paths);
  tc_dataset_destroy(&ds);
  if (!err) *T = n;
  return err;
}

/* What was scored, for messages and the scores' source attribute. */
static const char *source_name_(const TcPredictOptions *opt) {
  if (opt->features) return opt->features;
  if (opt->data_root) return opt->data_root;
  return opt->list ? opt->list : "image files of the command line";
}

/* ---- the model file, through model_io (the one module naming its datasets) */

/* model.h5 opened and checked, before any row of it is read. */
typedef struct {
  TcH5File *h5;
  TcFeaturesMeta meta; /* the feature attributes the model was fit on */
  char method[64];
  int64_t M;          /* memory bank rows */
  int has_weights;    /* /memory_weights is there (then float32 [M]) */
  int weights_scores; /* the method scores with the weights (method.h) */
  TcModelMeta mm;
} Model_;

/* Open the model, read its feature attributes and method, check the shapes
 * of /memory_bank [M, D] (M >= 1) and of /memory_weights [M] when present
 * or needed by the method. Collective; errors agreed at each step.
 * model->h5 is closed by the caller. */
static TcErr check_model_(MPI_Comm comm, Model_ *model);

static TcErr load_model_(MPI_Comm comm, const char *path, Model_ *model) {
  TcErr err = tc_agree(comm, tc_model_open(comm, path, &model->h5));
  return err ? err : check_model_(comm, model);
}

/* The opened model's attributes and bank shape. Collective; agreed. */
static TcErr check_model_(MPI_Comm comm, Model_ *model) {
  TcErr err = tc_agree(comm, tc_model_read_meta(model->h5, &model->mm));
  if (!err) err = tc_agree(comm, tc_model_check_bank(model->h5, &model->mm));
  if (err) return err;
  model->meta = model->mm.features;
  snprintf(model->method, sizeof model->method, "%s", model->mm.method);
  model->M = model->mm.M;
  model->has_weights = model->mm.has_weights;
  model->weights_scores = model->mm.weights_scores;
  return TC_OK;
}

/* Read this rank's bank rows [b0, b0 + Mloc) into bank [Mloc x D] and, when
 * the model has them, all M weights; refuse a value that is not finite or
 * over TC_VALUE_ABS_MAX, naming where it is. Collective; errors agreed. */
static TcErr load_model_rows_(MPI_Comm comm, const Model_ *model, int64_t b0, int64_t Mloc, float *bank,
                              float *weights) {
  float *w = model->has_weights ? weights : NULL;
  TcErr err = tc_agree(comm, tc_model_read_rows(model->h5, &model->mm, b0, Mloc, bank, w));
  if (err) return err;
  return tc_agree(comm, tc_model_check_weights(model->h5, &model->mm, w));
}

/* ---- one predict run */

/* Everything a run holds; predict_free_ releases it on every path. */
typedef struct {
  MPI_Comm comm;
  int rank, size;
  const TcPredictOptions *opt;
  Model_ model;
  int use_weights;      /* softpatch: a patch's distance times its neighbour's weight */
  TcH5File *feat;       /* features mode: the test features */
  TcExtractor *ex;      /* image mode: the extractor configured as the model's features */
  char **names;         /* image mode: ROOT-relative names of all T images */
  TcFeaturesMeta fm;    /* the test features' attributes, N = T */
  int64_t T, HW, D, crop;
  int64_t lo, nlocal, rounds; /* this rank's block [lo, lo + nlocal); lock-step rounds */
  int split;            /* bank split over the ranks by tiles */
  int64_t b0, Mloc;     /* this rank's bank rows [b0, b0 + Mloc) */
  int64_t nq;           /* query rows scored per round on this rank */
  const char *bank_mode_name;
  float *bank, *norms, *weights, *Q, *work, *grid, *map;
  TcScoreNN *nn;
  int *have;            /* split: which ranks have an image this round */
  char **paths;         /* features mode: this rank's test paths */
  TcH5File *out;
  float *image_scores;  /* this rank's [nlocal], for the CSV */
  TcCsvOut *csv;        /* rank 0, with --csv: the table, unpublished */
  const int64_t *rows;  /* features rows scored (fit's validation images), NULL = all in order */
  int borrowed;         /* model.h5 and the features file belong to the caller */
  TcCalibration cal;    /* the model's (or --calibration's) threshold data */
  int calibrated;
  float *thresholds;    /* this rank's [nlocal]: the threshold that applies to each image */
  int64_t n_maps;       /* heatmaps this rank wrote */
  uint64_t bank_digest; /* tc_calib_bank_digest of the whole bank */
  int ivf_on;           /* --search ivf: s->bank is reordered into the index's list order */
  TcIvf ivf;
  int64_t nprobe;       /* ivf: lists scanned, clamped to [1, nlist] */
  double recall_rate;   /* ivf: probability that a patch is in the recall sample */
  float *Qs;            /* ivf: [HW x D] the sampled patches of one image */
  TcScoreNN *nns;       /* ivf: [HW] their exact neighbours */
  int64_t *sample;      /* ivf: [HW] the image's patches in the recall sample */
  int64_t recall_n, recall_hit; /* ivf: sampled patches, and those whose IVF neighbour is as near */
  int64_t certified_patches;    /* ivf: patches rescored exactly to make the image scores exact */
  float weights_max;            /* ivf: the largest memory weight (the certification's bound) */
  double excess;        /* ivf: sum over the sample of (IVF distance - exact) / exact */
} Predict_;

static void predict_free_(Predict_ *s) {
  tc_h5_abandon(&s->out);
  tc_csv_abandon(&s->csv);
  free(s->image_scores);
  free(s->thresholds);
  tc_calib_clear(&s->cal);
  if (!s->borrowed) {
    tc_h5_close(&s->feat);
    tc_h5_close(&s->model.h5);
  }
  tc_extractor_destroy(&s->ex);
  free(s->names);
  free(s->paths);
  free(s->have);
  free(s->map);
  free(s->grid);
  free(s->nn);
  free(s->work);
  free(s->Q);
  free(s->weights);
  free(s->norms);
  free(s->bank);
  tc_ivf_free(&s->ivf);
  free(s->Qs);
  free(s->nns);
  free(s->sample);
}

/* Image mode: extract the test images exactly as the model's features
 * were: same backbone, taps, D and geometry; the weights file must be the
 * one whose checksum the model records. Collective; the error is agreed. */
static TcErr open_extractor_(Predict_ *s) {
  const TcPredictOptions *opt = s->opt;
  const TcFeaturesMeta *mm = &s->model.meta;
  int64_t T0 = 0;
  TcErr err = list_images_(s->comm, opt, &T0, &s->names);
  if (err) return err;
  TcExtractConfig cfg = {mm->backbone, opt->weights, mm->taps, (int)mm->D, (int)mm->resize, (int)mm->crop, 0, 1};
  err = tc_extractor_create(&cfg, &s->ex);
  if (!err && strcmp(s->ex->bb->sha256, mm->weights_sha256) != 0)
    err = tc_err_set(TC_ERR_FORMAT,
                     "%s: weights checksum %.16s... differs from the model's %.16s... (%s): pass the "
                     "--weights the model was trained with",
                     opt->weights, s->ex->bb->sha256, mm->weights_sha256, opt->model);
  if (!err && (s->ex->D != mm->D || s->ex->fmap_h != mm->fmap_h || s->ex->fmap_w != mm->fmap_w))
    err = tc_err_set(TC_ERR_FORMAT, "%s: the extractor gives D %d on %dx%d, the model has D %lld on %lldx%lld",
                     opt->weights, s->ex->D, s->ex->fmap_h, s->ex->fmap_w, (long long)mm->D,
                     (long long)mm->fmap_h, (long long)mm->fmap_w);
  s->fm = *mm;
  s->fm.N = T0;
  if (!err && T0 <= 0) err = tc_err_set(TC_ERR_FORMAT, "%s: no test images", source_name_(opt));
  return tc_agree(s->comm, err);
}

/* The test images: a features file that matches the model, or the data
 * root's images and an extractor. Collective; the error is agreed. */
static TcErr open_test_source_(Predict_ *s) {
  const TcPredictOptions *opt = s->opt;
  if (!opt->features) return open_extractor_(s);
  TcErr err = tc_agree(s->comm, tc_features_open(s->comm, opt->features, &s->feat, &s->fm));
  if (err) return err;
  err = meta_match_(&s->model.meta, opt->model, &s->fm, opt->features);
  if (!err && s->fm.N <= 0) err = tc_err_set(TC_ERR_FORMAT, "%s: no images", opt->features);
  return tc_agree(s->comm, err);
}

/* --calibration FILE (`tailedcore calibrate`): made for a model with the
 * same features and method (the bank itself is checked once it is read).
 * Collective; agreed. */
static TcErr calibration_file_(Predict_ *s) {
  const TcPredictOptions *opt = s->opt;
  TcH5File *f = NULL;
  TC_CALL(tc_agree(s->comm, tc_h5_open(s->comm, opt->calibration, "calibration", &f)));
  TcFeaturesMeta cm;
  char method[64] = "";
  TcErr err = tc_features_meta_read_attrs(f, &cm);
  if (!err) err = tc_h5_get_attr_str(f, "/", "method", method, sizeof method);
  if (!err && strcmp(cm.backbone, s->model.meta.backbone))
    err = tc_err_set(TC_ERR_FORMAT, "%s: a calibration for backbone %s, the model %s is %s: calibrate this model "
                     "(tailedcore calibrate)", opt->calibration, cm.backbone, opt->model, s->model.meta.backbone);
  if (!err) err = meta_match_(&s->model.meta, opt->model, &cm, opt->calibration);
  if (!err && strcmp(method, s->model.method))
    err = tc_err_set(TC_ERR_FORMAT, "%s: a calibration for method %s, the model %s is %s", opt->calibration, method,
                     opt->model, s->model.method);
  err = tc_agree(s->comm, err);
  if (!err) err = tc_agree(s->comm, tc_model_read_calibration(f, &s->cal));
  tc_h5_close(&f);
  return err;
}

static TcErr load_calibration_file_(Predict_ *s);
static TcErr use_calibration_(Predict_ *s);

/* The model's threshold data, and --target-frr's threshold from them.
 * Collective; agreed. */
static TcErr load_calibration_(Predict_ *s) {
  const TcPredictOptions *opt = s->opt;
  const char *mpath = opt->model;
  if (opt->calibration) return load_calibration_file_(s);
  if (!tc_model_has_calibration(s->model.h5)) {
    if (opt->target_frr > 0)
      return tc_agree(s->comm, tc_err_set(TC_ERR_USAGE, "--target-frr: %s has no calibration (fit it with "
                                          "--val-fraction or --val)", mpath));
    return TC_OK;
  }
  TcErr err = tc_agree(s->comm, tc_model_read_calibration(s->model.h5, &s->cal));
  return err ? err : use_calibration_(s);
}

static TcErr load_calibration_file_(Predict_ *s) {
  TcErr err = calibration_file_(s);
  return err ? err : use_calibration_(s);
}

/* --target-frr's threshold from the validation scores, and the log. Collective; agreed. */
static TcErr use_calibration_(Predict_ *s) {
  const TcPredictOptions *opt = s->opt;
  TcErr err = TC_OK;
  if (opt->target_frr > 0) err = tc_agree(s->comm, tc_calib_compute(&s->cal, opt->target_frr));
  if (err) return err;
  s->calibrated = 1;
  tc_log(1, "predict: threshold %.6g for a false-reject rate of %g (%lld validation images%s)",
         (double)s->cal.threshold, s->cal.target_frr, (long long)s->cal.n_val,
         s->cal.expected_frr > s->cal.target_frr * 1.000001 ? ", too few for the target" : "");
  if (s->cal.expected_frr > s->cal.target_frr * 1.000001)
    tc_log(0, "predict: warning: %lld validation images cannot set a threshold for a false-reject rate of %g "
              "(at least %lld needed): expect about %.3g",
           (long long)s->cal.n_val, s->cal.target_frr, (long long)tc_calib_min_count(s->cal.target_frr),
           s->cal.expected_frr);
  return TC_OK;
}

/* Image t of this rank as listed (ROOT-relative, as given, or the
 * features file's path). Local. */
static const char *image_name_(const Predict_ *s, int64_t t) {
  return s->feat ? s->paths[t] : s->names[s->lo + t];
}

/* Its folder class when the name is ROOT-relative, else "". Local. */
static void image_class_(const Predict_ *s, const char *name, char *cls, size_t cap) {
  if (s->opt->features || s->opt->data_root) tc_dataset_class_of(name, cls, cap);
  else cls[0] = '\0';
}

/* Features mode: this rank's paths, before scoring (the thresholds and
 * heatmaps need each image's class). Collective; agreed. */
static TcErr load_local_paths_(Predict_ *s) {
  if (!s->feat || s->rows) return TC_OK;
  return tc_agree(s->comm, tc_h5_read_strings(s->feat, "paths", s->lo, s->nlocal, &s->paths));
}

/* Bank placement: the same decision on every rank, no communication; then
 * this rank's slice of the bank. Collective; the error is agreed. */
static TcErr plan_bank_(Predict_ *s) {
  const TcPredictOptions *opt = s->opt;
  const int64_t M = s->model.M, D = s->D, HW = s->HW, crop = s->crop, tile = TC_SCORE_TILE_ROWS;
  const int size = s->size;
  TcErr err = TC_OK;
  int64_t ntiles = (M + tile - 1) / tile;
  int64_t work_common = (int64_t)sizeof(float) * (tc_score_nn_work_floats(HW, tile) + HW + crop * crop) +
                        (int64_t)sizeof(float) * (s->model.has_weights ? M : 0);
  int64_t need_rep = (int64_t)sizeof(float) * (M * D + M + HW * D) +
                     (int64_t)sizeof(TcScoreNN) * HW + work_common;
  int64_t t_lo, t_hi, max_tiles = (ntiles + size - 1) / size;
  tc_block_range(ntiles, s->rank, size, &t_lo, &t_hi);
  int64_t need_split = (int64_t)sizeof(float) * (max_tiles * tile * (D + 1) + size * HW * D) +
                       (int64_t)sizeof(TcScoreNN) * size * HW + work_common;
  int split = opt->bank_mode == TC_BANK_SPLIT ||
              (opt->bank_mode == TC_BANK_AUTO && need_rep > opt->mem_per_rank && size > 1);
  char h1[32], h2[32], h3[32];
  int ivf = opt->search_mode != TC_SEARCH_EXACT;
  if (ivf) {
    /* the index (centroids, lists, norms) and the k-means work on top of the
     * replicated bank; ivf needs the whole bank on every rank */
    int64_t nlist = opt->nlist > 0 ? (opt->nlist < M ? opt->nlist : M) : tc_ivf_default_nlist(M);
    int64_t ntrain = nlist * TC_IVF_TRAIN_PER_LIST < M ? nlist * TC_IVF_TRAIN_PER_LIST : M;
    int64_t np = opt->nprobe < nlist ? opt->nprobe : nlist;
    const int64_t f4 = (int64_t)sizeof(float), i8 = (int64_t)sizeof(int64_t), nn = (int64_t)sizeof(TcScoreNN);
    /* the index itself: centroids and their norms, row norms, order, pos, list starts */
    int64_t index_state = f4 * (nlist * D + nlist + M) + i8 * (2 * M + nlist + 1);
    /* making it: the k-means (training rows, an assignment block, float64
     * centroid sums, assignments and keys, flags, the split build's int32
     * exchange), or loading it (flags and a row) */
    int64_t making = opt->index ? M + f4 * D
                                : f4 * (ntrain * D + 1024 * nlist + D) + 8 * nlist * D + (i8 + f4) * M + M +
                                      (int64_t)sizeof(int32_t) * M;
    /* one image's search (the recall sample, centroid keys, a scan block,
     * gathered queries, probes), then, not at the same time, its
     * certification (a search with every list probed, for up to HW
     * patches, and its candidates) */
    int64_t search = f4 * (2 * HW * D + HW * (nlist + tile)) + nn * HW + i8 * 2 * HW * np;
    int64_t certify = opt->ivf_image_score ? 0
                                           : f4 * (2 * HW * D + HW * (nlist + tile)) + 2 * nn * HW + 16 * HW +
                                                 i8 * 2 * HW * nlist + 16 * nlist;
    int64_t need_ivf = need_rep + index_state + making + (search > certify ? search : certify);
    /* auto gives the exact search a bank that must be split: the image
     * scores are the same either way (certified), only speed and maps differ */
    int ivf_fits = opt->bank_mode != TC_BANK_SPLIT &&
                   !(opt->bank_mode == TC_BANK_AUTO && need_ivf > opt->mem_per_rank);
    if (opt->search_mode == TC_SEARCH_AUTO && !ivf_fits && !opt->index)
      ivf = 0;
    else if (opt->bank_mode == TC_BANK_SPLIT)
      err = tc_err_set(TC_ERR_USAGE, "predict: --search ivf needs the whole memory bank on every rank: it cannot "
                                     "run with --bank split (use --search exact to split the bank)");
    else if (opt->bank_mode == TC_BANK_AUTO && need_ivf > opt->mem_per_rank)
      err = tc_err_set(TC_ERR_MEM,
                       "predict: --search ivf needs the whole memory bank (%lld x %lld) and its index on every "
                       "rank, %s, more than --mem-per-rank %s: raise --mem-per-rank or use --search exact (which "
                       "can split the bank over the ranks)",
                       (long long)M, (long long)D, human_(need_ivf, h1, sizeof h1),
                       human_(opt->mem_per_rank, h2, sizeof h2));
    if (ivf) split = 0;
  }
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
  err = tc_agree(s->comm, err);
  if (err) return err;
  /* a rank beyond the last tile gets an empty slice at row M (never past it:
   * the collective read checks its range) */
  int64_t b0 = split ? (t_lo * tile < M ? t_lo * tile : M) : 0;
  int64_t b1 = split ? (t_hi * tile < M ? t_hi * tile : M) : M;
  if (b1 < b0) b1 = b0;
  s->split = split;
  s->b0 = b0;
  s->Mloc = b1 - b0;
  s->nq = split ? size * HW : HW;
  s->bank_mode_name = split ? "split" : "replicated";
  s->ivf_on = ivf;
  tc_log(1, "%s: %lld %s images on %d ranks, memory bank %lld x %lld (%s, %s), method %s, search %s%s",
         s->rows ? "calibration" : "predict", (long long)s->T, s->rows ? "validation" : "test", size,
         (long long)M, (long long)D, s->bank_mode_name, human_(M * D * 4, h1, sizeof h1), s->model.method,
         ivf ? "ivf" : "exact", opt->search_mode == TC_SEARCH_AUTO ? " (auto)" : "");
  return TC_OK;
}

/* --search ivf: the same index on every rank over its whole copy of the
 * bank (reordered in place; the digest is taken before): loaded from
 * --index, or built with the assignments split over the ranks (pivf.h);
 * and the recall sample's buffers. Collective; agreed. */
static TcErr build_ivf_(Predict_ *s) {
  const TcPredictOptions *opt = s->opt;
  const int64_t M = s->model.M, D = s->D, HW = s->HW;
  int64_t nlist = opt->nlist > 0 ? opt->nlist : tc_ivf_default_nlist(M);
  double t0 = tc_now();
  TcErr err = opt->index ? tc_pivf_load(s->comm, opt->index, opt->model, s->bank, M, D, s->bank_digest, opt->nlist,
                                        &s->ivf)
                         : tc_pivf_build(s->comm, s->bank, M, D, nlist, TC_IVF_ITERS, TC_IVF_SEED, &s->ivf);
  if (err) return err;
  double t_index = tc_now() - t0;
  /* the exact search over the original order is no longer needed: its norms go */
  free(s->norms);
  s->norms = NULL;
  s->nprobe = opt->nprobe < 1 ? 1 : opt->nprobe > s->ivf.nlist ? s->ivf.nlist : opt->nprobe;
  s->weights_max = 0.0f;
  for (int64_t r = 0; s->weights && r < M; r++)
    if (s->weights[r] > s->weights_max) s->weights_max = s->weights[r];
  double total = (double)s->T * (double)HW;
  s->recall_rate = total > TC_PREDICT_RECALL_SAMPLE ? TC_PREDICT_RECALL_SAMPLE / total : 1.0;
  s->Qs = tc_malloc_aligned(sizeof(float) * (size_t)(HW * D), "recall sample");
  s->nns = tc_malloc(sizeof(TcScoreNN) * (size_t)HW, "recall neighbours");
  s->sample = tc_malloc(sizeof(int64_t) * (size_t)HW, "recall sample patches");
  err = tc_agree(s->comm, s->Qs && s->nns && s->sample ? TC_OK : TC_ERR_MEM);
  int64_t lmin = M, lmax = 0;
  for (int64_t l = 0; l < s->ivf.nlist; l++) {
    int64_t n = s->ivf.list_start[l + 1] - s->ivf.list_start[l];
    if (n < lmin) lmin = n;
    if (n > lmax) lmax = n;
  }
  if (!err && opt->index)
    tc_log(1, "ivf: index of %lld lists (seed %llu; lists of %lld..%lld rows) loaded from %s in %.2f s, nprobe %lld",
           (long long)s->ivf.nlist, (unsigned long long)s->ivf.seed, (long long)lmin, (long long)lmax, opt->index,
           t_index, (long long)s->nprobe);
  else if (!err)
    tc_log(1, "ivf: index of %lld lists (k-means, %d iterations on %lld rows; lists of %lld..%lld rows) in %.1f s, "
              "nprobe %lld",
           (long long)s->ivf.nlist, TC_IVF_ITERS, (long long)s->ivf.n_train, (long long)lmin, (long long)lmax,
           t_index, (long long)s->nprobe);
  return err;
}

/* Every buffer of the scoring loop, and the bank read into its own.
 * Collective; errors agreed. */
static TcErr load_bank_(Predict_ *s) {
  const int64_t M = s->model.M, D = s->D, HW = s->HW, Mloc = s->Mloc;
  const int has_weights = s->model.has_weights;
  s->bank = tc_malloc_aligned(sizeof(float) * (size_t)(Mloc > 0 ? Mloc * D : 1), "memory bank");
  s->norms = tc_malloc(sizeof(float) * (size_t)(Mloc + 1), "memory bank norms");
  s->Q = tc_malloc_aligned(sizeof(float) * (size_t)(s->nq * D), "query patches");
  s->work = tc_malloc_aligned(sizeof(float) * (size_t)tc_score_nn_work_floats(HW, TC_SCORE_TILE_ROWS),
                              "score workspace");
  s->nn = tc_malloc(sizeof(TcScoreNN) * (size_t)s->nq, "nearest neighbours");
  s->grid = tc_malloc(sizeof(float) * (size_t)HW, "score grid");
  s->map = tc_malloc(sizeof(float) * (size_t)(s->crop * s->crop), "anomaly map");
  s->have = tc_calloc((size_t)s->size, sizeof(int), "round flags");
  s->image_scores = tc_malloc(sizeof(float) * (size_t)(s->nlocal + 1), "image scores");
  s->thresholds = tc_malloc(sizeof(float) * (size_t)(s->nlocal + 1), "image thresholds");
  if (has_weights) s->weights = tc_malloc(sizeof(float) * (size_t)M, "memory weights");
  int ok = s->bank && s->norms && s->Q && s->work && s->nn && s->grid && s->map && s->have && s->image_scores &&
           s->thresholds && (!has_weights || s->weights);
  TcErr err = tc_agree(s->comm, ok ? TC_OK : TC_ERR_MEM);
  if (err) return err;
  TC_CALL(load_model_rows_(s->comm, &s->model, s->b0, Mloc, s->bank, s->weights));
  tc_score_row_norms(s->bank, Mloc, D, s->norms);
  /* the digest over a disjoint cover of the rows: the split slices, or
   * blocks of the replicated bank */
  int64_t lo = s->b0, hi = s->b0 + Mloc;
  if (!s->split) tc_block_range(M, s->rank, s->size, &lo, &hi);
  s->bank_digest = tc_calib_bank_digest(s->bank + (lo - s->b0) * D, hi - lo, D, lo);
  TC_CALL(tc_agree(s->comm, tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, &s->bank_digest, 1, MPI_UINT64_T, MPI_SUM,
                                                       s->comm), "MPI_Allreduce (bank digest)")));
  return s->ivf_on ? build_ivf_(s) : TC_OK;
}

/* A threshold is only valid for the bank its validation scores were made
 * against. Local (the same on every rank). */
static TcErr check_calibration_bank_(const Predict_ *s) {
  if (!s->calibrated) return TC_OK;
  const char *from = s->opt->calibration ? s->opt->calibration : s->opt->model;
  TC_CHECK(s->cal.bank_digest == s->bank_digest, TC_ERR_FORMAT,
           "%s: its calibration was made against another memory bank than %s's (digest %016llx, the bank's "
           "%016llx): calibrate this model (tailedcore calibrate) or refit it",
           from, s->opt->model, (unsigned long long)s->cal.bank_digest, (unsigned long long)s->bank_digest);
  return TC_OK;
}

/* Create scores.h5 with what this run records, and the CSV's temporary
 * file on rank 0. Collective; agreed. */
static TcErr create_output_(Predict_ *s) {
  const TcPredictOptions *opt = s->opt;
  TcScoresRun run = {s->T, &s->fm, s->model.method, opt->model, source_name_(opt),
                     s->bank_mode_name, opt->sigma, s->model.M, s->calibrated, s->cal.threshold,
                     s->cal.target_frr, opt->calibration ? opt->calibration : opt->model};
  TC_CALL(tc_agree(s->comm, tc_scores_create(s->comm, opt->out, &run, &s->out)));
  return tc_agree(s->comm, opt->csv && s->rank == 0 ? tc_csv_create(opt->csv, &s->csv) : TC_OK);
}

/* This rank's queries of round t: its image's patch features (read, or
 * extracted), at its own place in Q when the bank is split. A rank without
 * an image still takes part in the collective read. Collective; agreed. */
static TcErr load_queries_(Predict_ *s, int64_t t, int mine) {
  const TcPredictOptions *opt = s->opt;
  float *myQ = s->split ? s->Q + (int64_t)s->rank * s->HW * s->D : s->Q;
  TcErr err = TC_OK;
  if (s->feat) {
    int64_t row = s->rows ? (mine ? s->rows[s->lo + t] : 0) : s->lo + t;
    err = tc_features_read(s->feat, &s->fm, row, mine ? 1 : 0, myQ, NULL);
  } else if (mine) {
    char buf[4096];
    const char *path = s->names[s->lo + t];
    if (opt->data_root) {
      snprintf(buf, sizeof buf, "%s/%s", opt->data_root, path);
      path = buf;
    }
    err = tc_extractor_load(s->ex, path);
    if (!err) err = tc_extractor_run(s->ex, myQ, NULL);
  }
  if (!err && mine && t == 1 && tc_fault_injected(s->comm, "predict"))
    err = tc_err_set(TC_ERR_IO, "%s: injected failure in round %lld", opt->out, (long long)t);
  return tc_agree(s->comm, err);
}

/* Split bank: every rank scores every rank's queries of this round against
 * its slice, and one reduction picks each patch's nearest row over all
 * slices. Collective; agreed. */
static TcErr nearest_split_(Predict_ *s, int mine) {
  const int64_t HW = s->HW, D = s->D;
  TcErr err = TC_OK;
  int rc = MPI_Allgather(&mine, 1, MPI_INT, s->have, 1, MPI_INT, s->comm);
  rc = rc ? rc : MPI_Allgather(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, s->Q, (int)(HW * D), MPI_FLOAT, s->comm);
  if (rc != MPI_SUCCESS) tc_abort(s->comm, tc_mpi_check(rc, "MPI_Allgather (queries)"), "predict");
  tc_score_nn_init(s->nn, s->nq);
  for (int r = 0; r < s->size && !err; r++)
    if (s->have[r]) {
      const float *q = s->Q + (int64_t)r * HW * D;
      TcScoreNN *nn = s->nn + (int64_t)r * HW;
      err = tc_score_nn(q, HW, s->bank, s->norms, s->Mloc, D, s->b0, TC_SCORE_TILE_ROWS, s->work, nn);
      if (!err) tc_score_nn_exact(q, HW, s->bank, s->Mloc, D, s->b0, nn);
    }
  err = tc_agree(s->comm, err);
  if (err) return err;
  return tc_agree(s->comm, tc_ppredict_nn_allreduce(s->comm, s->nn, s->nq));
}

/* Replicated bank: this rank's image against the whole bank. Local. */
static TcErr nearest_local_(Predict_ *s) {
  tc_score_nn_init(s->nn, s->HW);
  TC_CALL(tc_score_nn(s->Q, s->HW, s->bank, s->norms, s->model.M, s->D, 0, TC_SCORE_TILE_ROWS, s->work, s->nn));
  tc_score_nn_exact(s->Q, s->HW, s->bank, s->model.M, s->D, 0, s->nn);
  return TC_OK;
}

/* --search ivf: this rank's image t's nearest rows through the index, the
 * recall sample (patches chosen by global patch number, so the same whatever
 * the rank count) scored exactly too, then (unless --image-score ivf) its
 * image score made exact. The sample rides on the certification's first
 * pass over the bank (its patches then keep their exact neighbours); with
 * --image-score ivf it makes a pass of its own and every patch keeps its
 * IVF neighbour. Local. */
static TcErr nearest_ivf_(Predict_ *s, int64_t t) {
  const int64_t HW = s->HW, D = s->D;
  TC_CALL(tc_ivf_search(&s->ivf, s->bank, s->Q, HW, s->nprobe, s->nn));
  float *ivf_dist = s->grid; /* free until score_image_ fills it */
  int64_t ns = 0;
  for (int64_t p = 0; p < HW; p++) {
    uint64_t g = (uint64_t)((s->lo + t) * HW + p);
    if (tc_rng_uniform(TC_IVF_SEED, TC_RNG_STREAM_IVF_RECALL, g) < s->recall_rate) {
      s->sample[ns] = p;
      ivf_dist[ns++] = s->nn[p].dist;
    }
  }
  if (s->opt->ivf_image_score) {
    if (ns == 0) return TC_OK;
    for (int64_t i = 0; i < ns; i++) memcpy(s->Qs + i * D, s->Q + s->sample[i] * D, sizeof(float) * (size_t)D);
    TC_CALL(tc_ivf_search(&s->ivf, s->bank, s->Qs, ns, s->ivf.nlist, s->nns));
  } else {
    int64_t n = 0;
    TC_CALL(tc_ivf_certify_max(&s->ivf, s->bank, s->Q, HW, s->use_weights ? s->weights : NULL, s->weights_max,
                               s->sample, ns, s->nn, &n));
    s->certified_patches += n;
    for (int64_t i = 0; i < ns; i++) s->nns[i] = s->nn[s->sample[i]];
  }
  for (int64_t i = 0; i < ns; i++) {
    s->recall_hit += ivf_dist[i] <= s->nns[i].dist;
    if (s->nns[i].dist > 0.0f) s->excess += ((double)ivf_dist[i] - (double)s->nns[i].dist) / (double)s->nns[i].dist;
  }
  s->recall_n += ns;
  return TC_OK;
}

/* Patch scores of this rank's image t from its nearest neighbours, its
 * image score (the max) and its anomaly map into s->map. Local. */
static TcErr score_image_(Predict_ *s, int64_t t, float *image_score) {
  const TcScoreNN *my = s->split ? s->nn + (int64_t)s->rank * s->HW : s->nn;
  for (int64_t p = 0; p < s->HW; p++) {
    TC_CHECK(my[p].index >= 0, TC_ERR_INTERNAL, "patch %lld of image %lld has no neighbour", (long long)p,
             (long long)(s->lo + t));
    /* SoftPatch: the distance scaled by the nearest memory patch's LOF weight */
    s->grid[p] = s->use_weights ? my[p].dist * s->weights[my[p].index] : my[p].dist;
  }
  *image_score = tc_score_image(s->grid, s->HW);
  if (!s->out) return TC_OK; /* scores only (fit's validation images) */
  return tc_score_anomaly_map(s->grid, (int)s->fm.fmap_h, (int)s->fm.fmap_w, (int)s->crop, s->opt->sigma, s->map);
}

/* DIR/NAME-without-extension.heatmap.png for an image NAME as listed: the
 * listing's folders are kept (a leading '/' and '..' components become
 * plain names), created as needed (DIR too). Local. */
static TcErr map_path_(const char *dir, const char *name, char *out, size_t cap) {
  char rel[4096];
  size_t k = 0;
  for (const char *p = name; *p == '/'; p++) name = p + 1;
  for (const char *p = name; *p && k + 2 < sizeof rel; p++) {
    int dotdot = p[0] == '.' && p[1] == '.' && (p == name || p[-1] == '/') && (p[2] == '/' || !p[2]);
    if (dotdot) {
      rel[k++] = '_';
      rel[k++] = '_';
      p++;
    } else rel[k++] = *p;
  }
  rel[k] = '\0';
  char *dot = strrchr(rel, '.'), *slash = strrchr(rel, '/');
  if (dot && (!slash || dot > slash) && dot != rel) *dot = '\0';
  int n = snprintf(out, cap, "%s/%s.heatmap.png", dir, rel);
  TC_CHECK(n > 0 && (size_t)n < cap, TC_ERR_USAGE, "--maps: path for %s is too long", name);
  /* DIR itself too: --maps creates its folder */
  for (char *p = out + 1; (p = strchr(p, '/')) != NULL; p++) {
    *p = '\0';
    int rc = mkdir(out, 0777);
    int e = errno;
    *p = '/';
    TC_CHECK(rc == 0 || e == EEXIST, TC_ERR_IO, "--maps: cannot create the folder of %s: %s", out, strerror(e));
  }
  return TC_OK;
}

/* The heatmap PNG of this rank's image t (the image read again, cropped as
 * the extractor does, the map over it). Local. */
static TcErr write_map_(Predict_ *s, int64_t t, float score) {
  const TcPredictOptions *opt = s->opt;
  const char *name = image_name_(s, t);
  char src[4096], dst[8192], caption[256];
  if (opt->data_root) snprintf(src, sizeof src, "%s/%s", opt->data_root, name);
  else snprintf(src, sizeof src, "%s", name);
  TC_CALL(map_path_(opt->maps_dir, name, dst, sizeof dst));
  const TcGuardInput gi = {"image", src};
  TC_CALL(tc_outguard_check("--maps", dst, &gi, 1));
  const float thr = s->calibrated ? s->thresholds[t] : NAN;
  if (s->calibrated)
    snprintf(caption, sizeof caption, "%s  %.2f x threshold  (score %.4g)", tc_calib_is_ng(score, thr) ? "NG" : "OK",
             (double)(score / thr), (double)score);
  else
    snprintf(caption, sizeof caption, "score %.4g (uncalibrated)", (double)score);
  TcImage img = {0};
  const int64_t crop = s->crop;
  uint8_t *px = tc_malloc((size_t)(crop * crop * 3), "heatmap image");
  TcErr err = px ? tc_image_read(src, &img) : TC_ERR_MEM;
  if (!err) err = tc_resize_preprocess_u8(&img, &s->ex->pre, px);
  if (!err) {
    TcHeatmapInput in = {px, (int)crop, 3, s->map, s->calibrated ? (double)thr : 0.0, caption};
    err = tc_heatmap_write_png(dst, &in);
  }
  tc_image_free(&img);
  free(px);
  if (!err) s->n_maps++;
  return err;
}

/* Round t: every rank's t-th image (if it has one) scored and written.
 * Collective; agreed. */
static TcErr score_round_(Predict_ *s, int64_t t) {
  const int mine = t < s->nlocal;
  TcErr err = load_queries_(s, t, mine);
  if (err) return err;
  if (s->split) {
    err = nearest_split_(s, mine);
    if (err) return err;
  } else if (mine) {
    err = s->ivf_on ? nearest_ivf_(s, t) : nearest_local_(s);
  }
  float image_score = 0.0f;
  if (!err && mine) err = score_image_(s, t, &image_score);
  if (!err && mine) s->image_scores[t] = image_score;
  if (!err && mine && s->calibrated) {
    char cls[256];
    image_class_(s, image_name_(s, t), cls, sizeof cls);
    s->thresholds[t] = tc_calib_threshold_for(&s->cal, cls);
  }
  if (!err && mine && s->opt->maps_dir &&
      (s->opt->maps_all || !s->calibrated || tc_calib_is_ng(image_score, s->thresholds[t])))
    err = write_map_(s, t, image_score);
  err = tc_agree(s->comm, err);
  if (err || !s->out) return err;
  return tc_agree(s->comm, tc_scores_write_images(s->out, s->lo + t, mine, &image_score, s->map));
}

/* The lock-step rounds over all images. Collective; agreed. */
static TcErr score_all_(Predict_ *s) {
  TcProgress prog;
  tc_progress_start(&prog, "predict", "images", s->T);
  for (int64_t t = 0; t < s->rounds; t++) {
    TC_CALL(score_round_(s, t));
    int64_t done = (t + 1) * s->size < s->T ? (t + 1) * s->size : s->T;
    tc_progress_update(&prog, done);
  }
  tc_progress_finish(&prog);
  return TC_OK;
}

/* Rank 0's CSV rows: every image's path, class and score. Plain files
 * have no class. Local (rank 0). */
static void csv_rows_(Predict_ *s, const char *const *paths, const float *scores, const float *thr) {
  const char *header[6] = {"path", "class", "score", "threshold", "normalised_score", "decision"};
  const int ncol = s->calibrated ? 6 : 3;
  tc_csv_row(s->csv, ncol, header);
  for (int64_t i = 0; i < s->T; i++) {
    char cls[256], score[32], t[32], norm[32];
    image_class_(s, paths[i], cls, sizeof cls);
    /* %.9g: the float round-trips */
    snprintf(score, sizeof score, "%.9g", (double)scores[i]);
    const char *row[6] = {paths[i], cls, score, t, norm, ""};
    if (s->calibrated) {
      snprintf(t, sizeof t, "%.9g", (double)thr[i]);
      snprintf(norm, sizeof norm, "%.9g", (double)tc_calib_normalised(scores[i], thr[i]));
      row[5] = tc_calib_is_ng(scores[i], thr[i]) ? "NG" : "OK";
    }
    tc_csv_row(s->csv, ncol, row);
  }
}

/* With --csv: every rank's image scores (and, from a features file, all
 * paths) to rank 0, which writes the rows into the unpublished table.
 * Collective; agreed. */
static TcErr write_csv_(Predict_ *s) {
  if (!s->opt->csv) return TC_OK;
  TcErr err = s->T <= INT32_MAX ? TC_OK : tc_err_set(TC_ERR_USAGE, "--csv: %lld images", (long long)s->T);
  int *counts = tc_malloc(sizeof(int) * 2 * (size_t)s->size, "CSV gather counts");
  float *all = s->rank == 0 ? tc_malloc(sizeof(float) * 2 * (size_t)s->T, "image scores") : NULL;
  char **all_paths = NULL;
  if (!err && (!counts || (s->rank == 0 && !all))) err = TC_ERR_MEM;
  err = tc_agree(s->comm, err);
  if (!err && s->feat)
    err = tc_agree(s->comm, tc_h5_read_strings(s->feat, "paths", 0, s->rank == 0 ? s->T : 0, &all_paths));
  if (!err) {
    for (int r = 0; r < s->size; r++) {
      int64_t lo, hi;
      tc_block_range(s->T, r, s->size, &lo, &hi);
      counts[r] = (int)(hi - lo);
      counts[s->size + r] = (int)lo;
    }
    err = tc_agree(s->comm, tc_mpi_check(MPI_Gatherv(s->image_scores, (int)s->nlocal, MPI_FLOAT, all, counts,
                                                     counts + s->size, MPI_FLOAT, 0, s->comm),
                                         "MPI_Gatherv (image scores)"));
  }
  if (!err && s->calibrated)
    err = tc_agree(s->comm, tc_mpi_check(MPI_Gatherv(s->thresholds, (int)s->nlocal, MPI_FLOAT, all ? all + s->T : NULL,
                                                     counts, counts + s->size, MPI_FLOAT, 0, s->comm),
                                         "MPI_Gatherv (thresholds)"));
  if (!err && s->rank == 0) csv_rows_(s, (const char *const *)(s->feat ? all_paths : s->names), all, all + s->T);
  free(all_paths);
  free(all);
  free(counts);
  return err;
}

/* This rank's thresholds, normalised scores and OK/NG into scores.h5, and
 * the counts in the log. Collective; agreed. */
static TcErr write_decisions_(Predict_ *s) {
  const int64_t n = s->nlocal;
  float *norm = tc_malloc(sizeof(float) * (size_t)(n + 1), "normalised scores");
  uint8_t *dec = tc_malloc((size_t)(n + 1), "decisions");
  TcErr err = tc_agree(s->comm, norm && dec ? TC_OK : TC_ERR_MEM);
  int64_t ng = 0;
  for (int64_t t = 0; !err && t < n; t++) {
    norm[t] = tc_calib_normalised(s->image_scores[t], s->thresholds[t]);
    dec[t] = (uint8_t)tc_calib_is_ng(s->image_scores[t], s->thresholds[t]);
    ng += dec[t];
  }
  if (!err) err = tc_agree(s->comm, tc_scores_write_decisions(s->out, s->lo, n, s->thresholds, norm, dec));
  free(norm);
  free(dec);
  MPI_Allreduce(MPI_IN_PLACE, &ng, 1, MPI_INT64_T, MPI_SUM, s->comm);
  if (!err) tc_log(1, "predict: %lld NG, %lld OK (threshold %.6g)", (long long)ng, (long long)(s->T - ng),
                   (double)s->cal.threshold);
  return err;
}

/* --search ivf: the recall over every rank's sample, logged and stored.
 * Collective; agreed. */
static TcErr write_recall_(Predict_ *s) {
  int64_t c[3] = {s->recall_n, s->recall_hit, s->certified_patches};
  TC_CALL(tc_agree(s->comm, tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, c, 3, MPI_INT64_T, MPI_SUM, s->comm),
                                         "MPI_Allreduce (ivf recall)")));
  double excess = s->excess;
  TC_CALL(tc_agree(s->comm, tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, &excess, 1, MPI_DOUBLE, MPI_SUM, s->comm),
                                         "MPI_Allreduce (ivf distance excess)")));
  double recall = c[0] > 0 ? (double)c[1] / (double)c[0] : NAN;
  /* the excess is only printed: its sum's rounding depends on the rank count */
  tc_log(1, "ivf: nlist %lld, nprobe %lld, recall@1 %.4f on %lld sampled patches (mean distance excess %.2g%%)",
         (long long)s->ivf.nlist, (long long)s->nprobe, recall, (long long)c[0],
         c[0] > 0 ? 100.0 * excess / (double)c[0] : NAN);
  const int exact_images = !s->opt->ivf_image_score;
  if (exact_images)
    tc_log(1, "ivf: image scores made exact by rescoring %lld patches against the whole bank (%.1f an image)",
           (long long)c[2], s->T > 0 ? (double)c[2] / (double)s->T : 0.0);
  TcScoresIvf iv = {s->ivf.nlist, s->nprobe, recall, c[0], exact_images, c[2]};
  return tc_agree(s->comm, tc_scores_write_ivf(s->out, &iv));
}

/* The test paths (the features file's, or the listed names), then the
 * file published, then the CSV. Collective; agreed. */
static TcErr finish_output_(Predict_ *s) {
  const char *const *paths = (const char *const *)(s->feat ? s->paths : s->names ? s->names + s->lo : NULL);
  if (s->calibrated) TC_CALL(write_decisions_(s));
  if (s->ivf_on) TC_CALL(write_recall_(s));
  TC_CALL(tc_agree(s->comm, tc_scores_write_paths(s->out, s->T, s->lo, s->nlocal, paths)));
  TC_CALL(write_csv_(s));
  TC_CALL(tc_agree(s->comm, tc_h5_publish(&s->out)));
  tc_log(1, "predict: wrote %s (%lld images)", s->opt->out, (long long)s->T);
  if (s->opt->csv) {
    TC_CALL(tc_agree_root(s->comm, s->rank == 0 ? tc_csv_publish(&s->csv) : TC_OK));
    tc_log(1, "predict: wrote %s (%lld rows)", s->opt->csv, (long long)s->T);
  }
  return TC_OK;
}

/* The image geometry and this rank's block of test images. Local. */
static void plan_rounds_(Predict_ *s) {
  int64_t hi;
  s->D = s->model.meta.D;
  s->T = s->fm.N;
  s->HW = s->fm.fmap_h * s->fm.fmap_w;
  s->crop = s->fm.crop;
  tc_block_range(s->T, s->rank, s->size, &s->lo, &hi);
  s->nlocal = hi - s->lo;
  s->rounds = (s->T + s->size - 1) / s->size;
}

TcErr tc_ppredict_run(MPI_Comm comm, const TcPredictOptions *opt) {
  Predict_ s = {.comm = comm, .rank = tc_rank(comm), .size = tc_size(comm), .opt = opt};
  /* every input is checked before the output exists */
  TcErr err = tc_h5_check_output(comm, opt->out);
  if (!err) err = load_model_(comm, opt->model, &s.model);
  /* the method table says whether distances are weighted; model_io refused
   * a model whose method needs weights it lacks */
  s.use_weights = s.model.weights_scores;
  if (!err) err = load_calibration_(&s);
  if (!err) err = open_test_source_(&s);
  if (!err) {
    plan_rounds_(&s);
    err = load_local_paths_(&s);
  }
  if (!err) err = plan_bank_(&s);
  if (!err) err = load_bank_(&s);
  if (!err) err = tc_agree(comm, check_calibration_bank_(&s));
  if (!err) err = create_output_(&s);
  if (!err) err = score_all_(&s);
  if (!err) err = finish_output_(&s);
  if (!err && opt->maps_dir) {
    int64_t n = s.n_maps;
    MPI_Allreduce(MPI_IN_PLACE, &n, 1, MPI_INT64_T, MPI_SUM, comm);
    tc_log(1, "predict: wrote %lld heatmap(s) under %s", (long long)n, opt->maps_dir);
  }
  predict_free_(&s);
  return err;
}

TcErr tc_ppredict_score_rows(MPI_Comm comm, TcH5File *model, const char *features, const int64_t *rows, int64_t n,
                             int64_t mem_per_rank, float *scores, uint64_t *bank_digest) {
  TcPredictOptions opt = {.model = tc_h5_path(model), .features = features, .mem_per_rank = mem_per_rank,
                          .bank_mode = TC_BANK_AUTO, .sigma = 4.0};
  Predict_ s = {.comm = comm, .rank = tc_rank(comm), .size = tc_size(comm), .opt = &opt, .rows = rows};
  s.model.h5 = model;
  TcErr err = check_model_(comm, &s.model);
  s.use_weights = s.model.weights_scores;
  if (!err) err = tc_agree(comm, tc_features_open(comm, features, &s.feat, &s.fm));
  if (!err) {
    s.fm.N = n;
    plan_rounds_(&s);
    err = plan_bank_(&s);
  }
  if (!err) err = load_bank_(&s);
  *bank_digest = s.bank_digest;
  for (int64_t t = 0; !err && t < s.rounds; t++) err = score_round_(&s, t);
  int *counts = err ? NULL : tc_malloc(sizeof(int) * 2 * (size_t)s.size, "score gather counts");
  if (!err) err = tc_agree(comm, counts && n <= INT32_MAX ? TC_OK : tc_err_set(TC_ERR_MEM, "gathering %lld scores", (long long)n));
  if (!err) {
    for (int r = 0; r < s.size; r++) {
      int64_t lo, hi;
      tc_block_range(n, r, s.size, &lo, &hi);
      counts[r] = (int)(hi - lo);
      counts[s.size + r] = (int)lo;
    }
    err = tc_agree(comm, tc_mpi_check(MPI_Allgatherv(s.image_scores, (int)s.nlocal, MPI_FLOAT, scores, counts,
                                                     counts + s.size, MPI_FLOAT, comm), "MPI_Allgatherv (scores)"));
  }
  free(counts);
  tc_h5_close(&s.feat);
  s.borrowed = 1;
  predict_free_(&s);
  return err;
}
