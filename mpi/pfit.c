/* pfit.c - the fit driver (DESIGN 3.3-3.6, 5, 6). */
#include "pfit.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "augment.h"
#include "checked.h"
#include "context.h"
#include "coreset.h"
#include "features_io.h"
#include "h5fmt.h"
#include "log.h"
#include "method.h"
#include "model_io.h"
#include "outguard.h"
#include "image.h"
#include "partition.h"
#include "pcoreset.h"
#include "pextract.h"
#include "plof.h"
#include "proj.h"
#include "ptailsample.h"
#include "common_opts.h"
#include "tail_io.h"
#include "version.h"
#include "tailsampler.h"
#include "rng.h"
#include "calib.h"
#include "dataset.h"
#include "pcalib.h"


/* images per collective read */
#define CHUNK 16

TcErr tc_pfit_check(const TcFitOpts *o) {
  TC_CHECK(o->method, TC_ERR_USAGE, "--method '%s' is not one of " TC_METHOD_CHOICES, o->method_name);
  TC_CHECK(o->coreset_ratio > 0 && o->coreset_ratio <= 1, TC_ERR_USAGE,
           "--coreset-ratio %g is impossible: it must be in (0, 1]", o->coreset_ratio);
  if (o->tail_coreset_ratio_s && strcmp(o->tail_coreset_ratio_s, "auto")) {
    char *end = NULL;
    double r = strtod(o->tail_coreset_ratio_s, &end);
    TC_CHECK(end != o->tail_coreset_ratio_s && !*end && r > 0 && r <= 1, TC_ERR_USAGE,
             "--tail-coreset-ratio '%s' is impossible: it must be auto or a number in (0, 1]",
             o->tail_coreset_ratio_s);
  }
  TC_CHECK(o->lof_keep > 0 && o->lof_keep <= 1, TC_ERR_USAGE,
           "--lof-keep %g is impossible: it must be in (0, 1]", o->lof_keep);
  if (o->tail_p_s) TC_CALL(tc_tail_p_check("fit", o->tail_p_s));
  else
    TC_CHECK(o->tail_p >= 0 && o->tail_p <= 1, TC_ERR_USAGE, "fit: --tail-p %g is not a number in [0, 1]",
             o->tail_p);
  TC_CHECK(!o->tail_cut_s || !strcmp(o->tail_cut_s, "auto") || tc_tail_cut_parse(o->tail_cut_s) >= 0,
           TC_ERR_USAGE, "--tail-cut '%s' is not auto, %s", o->tail_cut_s, TC_TAIL_CUT_CHOICES);
  TC_CHECK(tc_tail_norm_parse(o->embed_norm_s) >= 0, TC_ERR_USAGE, "--embed-norm '%s' is not %s",
           o->embed_norm_s, TC_TAIL_NORM_CHOICES);
  TC_CHECK(o->proj_dim >= 1 && o->proj_dim <= 4096, TC_ERR_USAGE,
           "--proj-dim %lld is out of range (1..4096)", (long long)o->proj_dim);
  TC_CHECK(o->lof_k >= 1 && o->lof_k <= 64, TC_ERR_USAGE, "--lof-k %lld is out of range (1..64)",
           (long long)o->lof_k);
  TC_CHECK(o->seed >= 0, TC_ERR_USAGE, "--seed must be >= 0");
  TC_CHECK(o->coreset_mode.shard >= 1, TC_ERR_USAGE, "--coreset-shard must be >= 1");
  TC_CHECK(o->coreset_mode.oversample >= 1 && o->coreset_mode.oversample <= 1000, TC_ERR_USAGE,
           "--coreset-oversample %g is out of range [1, 1000]", o->coreset_mode.oversample);
  TcAugment a;
  TC_CALL(tc_augment_parse(o->tail_aug, &a));
  TC_CHECK(o->val_fraction >= 0 && o->val_fraction <= 0.5, TC_ERR_USAGE,
           "--val-fraction %g is impossible: it must be in [0, 0.5] (0 = no calibration)", o->val_fraction);
  TC_CHECK(!(o->val_list && o->val_fraction > 0), TC_ERR_USAGE,
           "--val and --val-fraction both choose the validation images: give one");
  TC_CALL(tc_calib_check_frr("fit: --target-frr", o->target_frr));
  TC_CHECK(!o->data == !o->weights, TC_ERR_USAGE,
           "--data and --weights go together: the tail views are extracted from the images under "
           "--data with the backbone weights features.h5 was made with");
  return TC_OK;
}

/* Distribute selected ordinals back to global patch indices: owner ranks
 * fill their entries, a MAX reduction completes the list everywhere. */
static TcErr ordinals_to_patches_(MPI_Comm comm, const int64_t *ord, int64_t m, int64_t off,
                                  int64_t n_local, const int64_t *gidx_local, int64_t *out) {
  for (int64_t t = 0; t < m; t++)
    out[t] = ord[t] >= off && ord[t] < off + n_local ? gidx_local[ord[t] - off] : -1;
  TC_CALL(tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, out, (int)m, MPI_INT64_T, MPI_MAX, comm),
                       "coreset indices"));
  return TC_OK;
}

static int cmp_i64_(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* One coreset over the rows of Xsel [n_local x P] (global patch indices
 * gsel [n_local]), ordinals dealt in rank order. Returns the ordered list of
 * global patch indices (*out, malloc'd [*m]). */
static TcErr coreset_(MPI_Comm comm, const TcFitOpts *o, double ratio, const float *Xsel, const int64_t *gsel,
                      int64_t n_local, int P, uint64_t purpose, int64_t group, const char *stage, int64_t **out,
                      int64_t *m_out, int64_t *n_out) {
  int64_t off = 0, n = 0;
  MPI_Exscan(&n_local, &off, 1, MPI_INT64_T, MPI_SUM, comm);
  if (tc_rank(comm) == 0) off = 0;
  MPI_Allreduce(&n_local, &n, 1, MPI_INT64_T, MPI_SUM, comm);
  *out = NULL;
  *m_out = 0;
  *n_out = n;
  if (n == 0) return TC_OK;
  int64_t m = tc_coreset_target(n, ratio);
  int64_t first = tc_rng_index((uint64_t)o->seed, TC_RNG_STREAM_CORESET, purpose, n);
  int64_t *ord = tc_malloc((size_t)m * sizeof(int64_t), "coreset ordinals");
  int64_t *g = tc_malloc((size_t)m * sizeof(int64_t), "coreset indices");
  TcErr err = tc_agree(comm, ord && g ? TC_OK : TC_ERR_MEM);
  const double t_cs = tc_now();
  if (!err) {
    tc_log(1, "%s: greedy coreset of %lld patches -> %lld%s", stage, (long long)n, (long long)m,
           group > 0 ? ", one tail image at a time" : "");
    if (group > 0)
      err = tc_pcoreset_select_groups(comm, Xsel, n_local, off, n, P, group, m, &o->coreset_mode, o->pruned,
                                      (uint64_t)o->seed, TC_CORESET_GROUP_COUNTER * (purpose + 1), ord, stage);
    else
      err = tc_pcoreset_select_mode(comm, Xsel, n_local, off, n, P, m, first, &o->coreset_mode, o->pruned, ord,
                                    &m, stage);
  }
  if (!err)
    tc_log(1, "%s: coreset (%s%s) %.2fs", stage, tc_coreset_mode_name(&o->coreset_mode),
           group > 0 ? ", per image" : "", tc_now() - t_cs);
  if (!err) err = ordinals_to_patches_(comm, ord, m, off, n_local, gsel, g);
  free(ord);
  if (err) { free(g); return err; }
  *out = g;
  *m_out = m;
  return TC_OK;
}

double tc_pfit_tail_ratio_auto(const char *backbone, double coreset_ratio) {
  if (!backbone || strcmp(backbone, "mobilenetv2")) return coreset_ratio;
  double r = TC_TAIL_RATIO_FACTOR_MNV2 * coreset_ratio;
  return r < 1.0 ? r : 1.0;
}

/* ------------------------------------------- the views' store (3.6 step 8) */

/* Full-D features of this rank's tail views [ntl x V x HW x D]: in memory
 * when they fit --mem-per-rank, else in a scratch file in the output's
 * directory, unlinked as soon as it is open (a killed job leaves nothing).
 * Only the rows M_tail selects are read back. Local. */
typedef struct {
  float *mem;
  int fd; /* scratch file; -1 when in memory or unused */
} ViewStore;

static TcErr store_open_(ViewStore *s, size_t floats, int in_memory, const char *out) {
  s->mem = NULL;
  s->fd = -1;
  if (floats == 0) return TC_OK;
  if (in_memory) {
    s->mem = tc_malloc_aligned(floats * sizeof(float), "tail view features");
    return s->mem ? TC_OK : TC_ERR_MEM;
  }
  char b1[4096], b2[4096], name[8300];
  snprintf(b1, sizeof b1, "%s", out);
  snprintf(b2, sizeof b2, "%s", out);
  const char *dir = dirname(b1), *base = basename(b2);
  snprintf(name, sizeof name, "%s/.%s.tmp.views.XXXXXX", dir, base);
  s->fd = mkstemp(name);
  TC_CHECK(s->fd >= 0, TC_ERR_IO, "cannot create a scratch file for the tail views in %s: %s", dir,
           strerror(errno));
  unlink(name);
  return TC_OK;
}

/* Copy floats [off, off + n) of the store to/from buf. Local. */
static TcErr store_io_(ViewStore *s, int write, size_t off, float *buf, size_t n) {
  if (s->mem) {
    if (write) memcpy(s->mem + off, buf, n * sizeof(float));
    else memcpy(buf, s->mem + off, n * sizeof(float));
    return TC_OK;
  }
  char *p = (char *)buf;
  size_t left = n * sizeof(float);
  off_t pos = (off_t)(off * sizeof(float));
  while (left > 0) {
    ssize_t r = write ? pwrite(s->fd, p, left, pos) : pread(s->fd, p, left, pos);
    if (r < 0 && errno == EINTR) continue;
    TC_CHECK(r > 0, TC_ERR_IO, "tail view scratch file: %s failed: %s", write ? "write" : "read",
             r < 0 ? strerror(errno) : "unexpected end of file");
    p += r;
    left -= (size_t)r;
    pos += r;
  }
  return TC_OK;
}

static void store_close_(ViewStore *s) {
  free(s->mem);
  s->mem = NULL;
  if (s->fd >= 0) close(s->fd);
  s->fd = -1;
}

/* The extractor for the views, built from features.h5's own feature
 * settings; the weights must be the file the features came from. Local. */
static TcErr views_extractor_(const TcFitOpts *o, const TcFeaturesMeta *m, TcExtractor **out) {
  TcExtractConfig cfg = {m->backbone, o->weights, m->taps, (int)m->D, (int)m->resize, (int)m->crop, 0, 1};
  TC_CALL(tc_extractor_create(&cfg, out));
  const TcExtractor *ex = *out;
  TC_CHECK(strcmp(ex->bb->sha256, m->weights_sha256) == 0, TC_ERR_FORMAT,
           "%s: weights checksum %.16s... differs from %s's weights_sha256 %.16s...: pass the --weights "
           "the features were extracted with",
           o->weights, ex->bb->sha256, o->features, m->weights_sha256);
  const char *norm = ex->bb->norm == TC_NORM_KERAS ? "keras" : "imagenet";
  TC_CHECK(!m->normalisation[0] || strcmp(norm, m->normalisation) == 0, TC_ERR_FORMAT,
           "%s: normalisation %s differs from %s's %s", o->weights, norm, o->features, m->normalisation);
  TC_CHECK(ex->D == m->D && ex->fmap_h == m->fmap_h && ex->fmap_w == m->fmap_w, TC_ERR_FORMAT,
           "%s: the extractor gives D %d on %dx%d, %s has D %lld on %lldx%lld", o->weights, ex->D,
           ex->fmap_h, ex->fmap_w, o->features, (long long)m->D, (long long)m->fmap_h, (long long)m->fmap_w);
  return TC_OK;
}

/* ------------------------------------------------------------ fit's state */

/* M_tail candidates with views: this rank's block [tlo, thi) of the T tail
 * images, each as (1 + V) * HW projected patches in (t, v', position) order
 * (see pfit.h). */
typedef struct {
  int64_t T, tlo, thi;
  int V;
  float *X;    /* [n x P] projected */
  int64_t *g;  /* [n] global patch indices */
  int64_t n;   /* (thi - tlo) * (1 + V) * HW */
  ViewStore store;
} TailViews;

/* One fit on this rank, from features.h5 to the rows of model.h5 it
 * writes: the stages of tc_pfit_run fill it in order and fit_free_
 * releases everything it holds. */
typedef struct {
  MPI_Comm comm;
  const TcFitOpts *o;
  const TcMethod *method;
  int rank, size;
  double t0;
  /* the input and how it is dealt: my images [lo, hi) */
  TcH5File *fin;
  TcFeaturesMeta meta;
  int64_t N, HW, D, E;
  int P;
  int64_t lo, hi, nl, npl, nl_max; /* nl images, npl = nl * HW patches; nl_max over the ranks */
  double need;                     /* bytes per rank of the projection and noise filter stages */
  /* TailSampler's rules, --tail-aug, and whether M_tail covers the views */
  double tail_p;
  double tail_ratio; /* M_tail's coreset ratio, after auto */
  int tail_cut, embed_norm;
  TcAugment aug;
  int views;
  /* projection */
  TcExtractor *ex; /* the views' extractor, until the views are extracted */
  float *W;        /* [P x D] */
  float *feat;     /* one chunk of raw features [CHUNK x HW x D] */
  float *Pj;       /* my projected patches [npl x P]; the noise filter keeps the first nkeep */
  int64_t *gall;   /* their global patch indices */
  float *emb;      /* my embeddings [nl x E] */
  /* tail sampling and M_tail */
  TcTailResult *tres;
  TailViews tv;
  float *Xt;       /* without views: my tail images' projected patches */
  int64_t *gt;     /* and their global patch indices */
  /* noise filter */
  float *lof;      /* LOF score of each of my patches [npl], in patch order */
  float thr;       /* the --lof-keep quantile; NaN without the filter */
  int64_t nkeep, n_removed;
  /* the coresets and their union M */
  int64_t *clean, *tail, *uni;
  int64_t m_clean, m_tail, n_clean, n_tail, M;
  /* my rows of the bank: image rows [r0, r1), view rows [q0, q1) */
  int64_t r0, r1, q0, q1;
  float *bank, *bank_w, *bankv, *bankv_w;
  /* calibration: the validation images, kept out of the bank */
  int calibrate;
  uint8_t *held;   /* [N], every rank: 1 = validation image */
  int64_t n_held;
  TcCalibration cal; /* rank 0: the arrays; every rank: the scalars */
} TcFit;

static void fit_init_(TcFit *s, MPI_Comm comm, const TcFitOpts *o) {
  memset(s, 0, sizeof *s);
  s->comm = comm;
  s->o = o;
  s->method = o->method;
  s->rank = tc_rank(comm);
  s->size = tc_size(comm);
  s->t0 = tc_now();
  s->P = (int)o->proj_dim;
  s->tv.store.fd = -1;
  s->thr = NAN;
  s->aug = TC_AUG_NONE;
  tc_augment_parse(o->tail_aug, &s->aug);
  /* DESIGN 3.6 step 8 needs the images and the weights */
  s->views = s->method->tail_views && s->aug != TC_AUG_NONE && o->data && o->weights;
  s->calibrate = o->val_fraction > 0 || o->val_list;
}

static void fit_free_(TcFit *s) {
  tc_h5_close(&s->fin);
  tc_tail_result_destroy(&s->tres);
  tc_extractor_destroy(&s->ex);
  store_close_(&s->tv.store);
  free(s->tv.X);
  free(s->tv.g);
  free(s->W);
  free(s->feat);
  free(s->Pj);
  free(s->gall);
  free(s->emb);
  free(s->Xt);
  free(s->gt);
  free(s->lof);
  free(s->clean);
  free(s->tail);
  free(s->uni);
  free(s->bank);
  free(s->bank_w);
  free(s->bankv);
  free(s->bankv_w);
  free(s->held);
  tc_calib_clear(&s->cal);
  memset(s, 0, sizeof *s);
}

/* ------------------------------------------------ tail views (3.6 step 8) */

/* One tail image: re-extract its plain features as an identity check of
 * --data against features.h5, extract its views, project all, keep the
 * views' full features. k = local tail ordinal. Local. */
static TcErr view_one_(TcFit *s, const char *rel, int64_t img_index, int64_t k, const float *src, float *chk,
                       float *vf) {
  const TcFitOpts *o = s->o;
  TailViews *tv = &s->tv;
  TcExtractor *ex = s->ex;
  const int64_t HW = s->HW, D = s->D, P = s->P, V = tv->V;
  char path[8192];
  if (rel[0] == '/') snprintf(path, sizeof path, "%s", rel);
  else snprintf(path, sizeof path, "%s/%s", o->data, rel);
  TcImage img = {0};
  /* the model would replace a tail image named by --out (one stat each) */
  const TcGuardInput gi = {"image", path};
  TcErr err = tc_outguard_check("--out", o->out, &gi, 1);
  if (!err) err = tc_image_read(path, &img);
  if (!err) err = tc_resize_preprocess(&img, &ex->pre, ex->input);
  if (!err) err = tc_extractor_run(ex, chk, NULL);
  if (!err) {
    /* same binary, same machine: equal bits; another CPU's BLAS kernels
     * may differ in the last bits, a different image does not */
    double dmax = 0, amax = 0;
    for (int64_t i = 0; i < HW * D; i++) {
      double d = fabs((double)chk[i] - (double)src[i]), a = fabs((double)src[i]);
      if (!(d <= dmax)) dmax = isnan(d) ? INFINITY : d;
      if (a > amax) amax = a;
    }
    if (dmax > 1e-3 * amax + 1e-6)
      err = tc_err_set(TC_ERR_FORMAT,
                       "%s: its features differ from row %lld of %s (max difference %.3g of %.3g): --data "
                       "must be the image root (and --weights the file) the features were extracted from",
                       path, (long long)img_index, o->features, dmax, amax);
  }
  if (!err) err = tc_pextract_views_image(ex, &img, s->aug, vf);
  if (!err) {
    int64_t bad = tc_first_bad_f32(vf, V * HW * D, TC_VALUE_ABS_MAX);
    if (bad >= 0)
      err = tc_err_set(TC_ERR_FORMAT, "%s (image %lld): view %lld holds %s at patch %lld, channel %lld "
                       "(values must be finite, |x| <= %g)", path, (long long)img_index,
                       (long long)(bad / (HW * D)), tc_value_str(vf[bad]), (long long)(bad % (HW * D) / D),
                       (long long)(bad % D), (double)TC_VALUE_ABS_MAX);
  }
  tc_image_free(&img);
  if (err) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tc_err_message());
    tc_err_clear();
    if (strstr(msg, path)) return tc_err_set(err, "tail views: %s", msg);
    return tc_err_set(err, "tail views: %s: %s", path, msg);
  }
  const int64_t t = tv->tlo + k, base = k * (1 + V) * HW;
  TC_CALL(tc_proj_apply(s->W, P, D, src, HW, tv->X + base * P));
  for (int64_t p = 0; p < HW; p++) tv->g[base + p] = img_index * HW + p;
  for (int64_t v = 0; v < V; v++) {
    int64_t b = base + (1 + v) * HW;
    TC_CALL(tc_proj_apply(s->W, P, D, vf + v * HW * D, HW, tv->X + b * P));
    for (int64_t p = 0; p < HW; p++) tv->g[b + p] = s->N * HW + (t * V + v) * HW + p;
  }
  return store_io_(&tv->store, 1, (size_t)(k * V * HW * D), vf, (size_t)(V * HW * D));
}

/* Bytes a rank holds while it extracts the tail views, on top of the
 * projection stage's `base`: the M_tail candidates of the largest block,
 * ntl_max tail images of (1 + V) * HW patches each, P floats projected and
 * an 8-byte global index per patch; and the working set of one image, its
 * features, their re-extracted copy and its V views' features, (V + 2) * HW
 * * D floats. The views' full features (V * HW * D floats an image) come
 * on top: kept in memory when the sum still fits, else in a scratch file. */
/* the coreset's sketch filter: R <= P int8 codes, a residual and a threshold
 * per point (src/sketch.h) */
#define SKETCH_BYTES_(P) ((double)(P) + 8)

static double views_need_(double base, int64_t ntl_max, int64_t V, int64_t HW, int64_t D, int64_t P) {
  return base + (double)ntl_max * (1 + V) * HW * (P * 4.0 + 8 + SKETCH_BYTES_(P)) + (double)(V + 2) * HW * D * 4;
}

/* DESIGN 3.6 step 8: deal the tail images in blocks, extract their views
 * into s->tv. Collective on s->comm. */
static TcErr tail_views_(TcFit *s) {
  MPI_Comm comm = s->comm;
  const TcFitOpts *o = s->o;
  TailViews *tv = &s->tv;
  const uint8_t *is_tail = s->tres->is_tail;
  const int64_t N = s->N, HW = s->HW, D = s->D, P = s->P;
  TcErr err = TC_OK;
  int64_t *tl = NULL;
  float *src = NULL, *chk = NULL, *vf = NULL; /* one image's working set */
  char **rel = NULL;
  tv->V = tc_augment_count(s->aug);
  const int64_t V = tv->V;
  tv->T = 0;
  for (int64_t i = 0; i < N; i++) tv->T += is_tail[i] != 0;
  tc_block_range(tv->T, s->rank, s->size, &tv->tlo, &tv->thi);
  const int64_t ntl = tv->thi - tv->tlo;
  int64_t ntl_max = 0;
  MPI_Allreduce(&ntl, &ntl_max, 1, MPI_INT64_T, MPI_MAX, comm);
  tv->n = ntl * (1 + V) * HW;
  const double store_bytes = (double)ntl * V * HW * D * 4, need = views_need_(s->need, ntl_max, V, HW, D, P);
  if (need > (double)o->mem_per_rank)
    err = tc_err_set(TC_ERR_USAGE, "the tail views need about %.0f MiB per rank with %d rank(s), more than "
                     "--mem-per-rank %.0f MiB: run more ranks or raise --mem-per-rank",
                     need / 1048576, s->size, (double)o->mem_per_rank / 1048576);
  const int in_memory = need + store_bytes <= (double)o->mem_per_rank;
  if (!err) {
    tl = tc_malloc((size_t)(tv->T > 0 ? tv->T : 1) * sizeof(int64_t), "tail list");
    tv->X = tc_malloc_aligned((size_t)(tv->n > 0 ? tv->n : 1) * P * sizeof(float), "tail candidates");
    tv->g = tc_malloc((size_t)(tv->n > 0 ? tv->n : 1) * sizeof(int64_t), "tail indices");
    src = tc_malloc_aligned((size_t)(HW * D) * sizeof(float), "tail image features");
    chk = tc_malloc_aligned((size_t)(HW * D) * sizeof(float), "tail image features");
    vf = tc_malloc_aligned((size_t)(V * HW * D) * sizeof(float), "tail view features");
    if (!tl || !tv->X || !tv->g || !src || !chk || !vf) err = TC_ERR_MEM;
  }
  if (!err) err = store_open_(&tv->store, (size_t)(ntl * V * HW * D), in_memory, o->out);
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  for (int64_t i = 0, t = 0; i < N; i++)
    if (is_tail[i]) tl[t++] = i;
  int spill = !in_memory && ntl > 0, any_spill = 0;
  MPI_Allreduce(&spill, &any_spill, 1, MPI_INT, MPI_MAX, comm);
  tc_log(1, "tail views: %s, %lld view(s) of each of %lld tail image(s): %lld M_tail candidates%s",
         tc_augment_name(s->aug), (long long)V, (long long)tv->T, (long long)(tv->T * (1 + V) * HW),
         any_spill ? " (view features spilled to a scratch file: over --mem-per-rank)" : "");
  TcProgress prog;
  tc_progress_start(&prog, "tail views", "images", tv->T);
  for (int64_t k = 0; k < ntl_max; k++) {
    const int have = k < ntl;
    const int64_t img = have ? tl[tv->tlo + k] : 0;
    TcErr e = tc_features_read(s->fin, &s->meta, img, have, src, NULL);
    if (!e) e = tc_h5_read_strings(s->fin, "paths", img, have, &rel);
    if (!e && have) e = view_one_(s, rel[0], img, k, src, chk, vf);
    free(rel);
    rel = NULL;
    err = tc_agree(comm, e);
    if (err) goto cleanup;
    int64_t est = (k + 1) * s->size; /* rank 0's share times ranks: an estimate */
    tc_progress_update(&prog, est < tv->T ? est : tv->T);
  }
  tc_progress_finish(&prog);
cleanup:
  free(tl);
  free(src);
  free(chk);
  free(vf);
  free(rel);
  return err;
}

/* ------------------------------------------------------------ the stages */

/* Bytes a rank holds while it projects and filters its patches: the
 * projected patches [npl x P floats] once, plus a fifth for the smaller
 * per-patch arrays beside them (global indices, LOF scores, the tail
 * candidates' copy); the noise filter adds two more copies, the send and
 * receive buffers of LOF's all-to-all transpose (plof.c): 3.2 instead of
 * 1.2. Then one chunk of raw features and the embeddings. */
static double project_need_(const TcFit *s) {
  return (double)s->npl * (s->P * 4 * (s->method->noise_filter ? 3.2 : 1.2) + SKETCH_BYTES_(s->P)) +
         (double)CHUNK * s->HW * s->D * 4 + (double)s->nl * s->E * 4;
}

/* Open features.h5, settle TailSampler's rules, deal the images in blocks.
 * Collective. */
static TcErr fit_open_(TcFit *s) {
  const TcFitOpts *o = s->o;
  TcErr err = tc_agree(s->comm, tc_features_open(s->comm, o->features, &s->fin, &s->meta));
  if (err) return err;
  s->N = s->meta.N;
  s->HW = s->meta.fmap_h * s->meta.fmap_w;
  s->D = s->meta.D;
  s->E = s->meta.E;
  /* TailSampler's rules: given, or the defaults of the features' backbone */
  double p_auto;
  int cut_auto;
  tc_tail_default_rules(s->meta.backbone[0] ? s->meta.backbone : NULL, &p_auto, &cut_auto);
  s->tail_p = o->tail_p;
  if (o->tail_p_s) s->tail_p = tc_tail_p_value(o->tail_p_s, p_auto);
  s->tail_cut = !o->tail_cut_s || !strcmp(o->tail_cut_s, "auto") ? cut_auto : tc_tail_cut_parse(o->tail_cut_s);
  s->embed_norm = tc_tail_norm_parse(o->embed_norm_s);
  s->tail_ratio = !o->tail_coreset_ratio_s || !strcmp(o->tail_coreset_ratio_s, "auto")
                      ? tc_pfit_tail_ratio_auto(s->meta.backbone[0] ? s->meta.backbone : NULL, o->coreset_ratio)
                      : strtod(o->tail_coreset_ratio_s, NULL);
  tc_block_range(s->N, s->rank, s->size, &s->lo, &s->hi);
  s->nl = s->hi - s->lo;
  s->npl = s->nl * s->HW;
  s->nkeep = s->npl;
  MPI_Allreduce(&s->nl, &s->nl_max, 1, MPI_INT64_T, MPI_MAX, s->comm);
  tc_log(1, "fit: %s on %lld images x %lld positions x %lld dims, %d rank(s)", o->method_name,
         (long long)s->N, (long long)s->HW, (long long)s->D, s->size);
  return TC_OK;
}

/* Everything checked and allocated before the first read: the memory
 * budget, the views' weights against features.h5 (now, not after LOF), the
 * projection. Collective. */
static TcErr fit_prepare_(TcFit *s) {
  const TcFitOpts *o = s->o;
  const int64_t HW = s->HW, D = s->D, P = s->P;
  TcErr err = TC_OK;
  if (s->N < 1) err = tc_err_set(TC_ERR_FORMAT, "%s holds no image", o->features);
  s->need = project_need_(s);
  if (!err && s->need > (double)o->mem_per_rank)
    err = tc_err_set(TC_ERR_USAGE, "fit needs about %.0f MiB per rank with %d rank(s), more than "
                     "--mem-per-rank %.0f MiB: run more ranks or raise --mem-per-rank",
                     s->need / 1048576, s->size, (double)o->mem_per_rank / 1048576);
  if (!err && s->views) err = views_extractor_(o, &s->meta, &s->ex);
  if (!err) err = tc_proj_create(P, D, (uint64_t)o->seed, &s->W);
  if (!err) {
    s->feat = tc_malloc_aligned((size_t)(CHUNK * HW * D) * sizeof(float), "feature chunk");
    s->Pj = tc_malloc_aligned((size_t)(s->npl > 0 ? s->npl : 1) * P * sizeof(float), "projected patches");
    s->gall = tc_malloc((size_t)(s->npl > 0 ? s->npl : 1) * sizeof(int64_t), "patch indices");
    s->emb = tc_malloc((size_t)(s->nl > 0 ? s->nl : 1) * s->E * sizeof(float), "embeddings");
    if (!s->feat || !s->Pj || !s->gall || !s->emb) err = TC_ERR_MEM;
  }
  return tc_agree(s->comm, err);
}

/* Read chunk c0 of my images into s->feat (a rank past its block reads no
 * row, still inside the collective read); *cn = the images read. */
static TcErr read_chunk_(TcFit *s, int64_t c0, int64_t *cn) {
  *cn = s->nl - c0 < CHUNK ? s->nl - c0 : CHUNK;
  if (*cn < 0) *cn = 0;
  return tc_agree(s->comm, tc_features_read(s->fin, &s->meta, s->lo + (*cn ? c0 : 0), *cn, s->feat, NULL));
}

/* DESIGN 3.3: project, one image per sgemm so the bits do not depend on
 * how images are dealt; then read my embeddings. Collective. */
static TcErr fit_project_(TcFit *s) {
  const int64_t HW = s->HW, D = s->D, P = s->P;
  for (int64_t c0 = 0, cn; c0 < s->nl_max; c0 += CHUNK) {
    TcErr err = read_chunk_(s, c0, &cn);
    if (err) return err;
    for (int64_t i = 0; i < cn; i++)
      tc_proj_apply(s->W, P, D, s->feat + i * HW * D, HW, s->Pj + (c0 + i) * HW * P);
  }
  for (int64_t i = 0; i < s->npl; i++) s->gall[i] = s->lo * HW + i;
  return tc_agree(s->comm, tc_features_read(s->fin, &s->meta, s->lo, s->nl, NULL, s->emb));
}

/* DESIGN 3.6: the tail images, from the embeddings. Collective. */
static TcErr fit_tail_sampling_(TcFit *s) {
  TcPTailOpts to;
  tc_ptailsample_defaults(&to);
  to.tail_p = s->tail_p;
  to.tail_cut = s->tail_cut;
  to.embed_norm = s->embed_norm;
  to.mem_per_rank = s->o->mem_per_rank;
  TcErr err = tc_ptailsample_run(s->comm, s->emb, s->N, s->E, s->lo, s->hi, &to, &s->tres, NULL);
  if (err) return err;
  int64_t ntail_img = 0;
  for (int64_t i = 0; i < s->N; i++) ntail_img += s->tres->is_tail[i];
  tc_log(1, "tailsampler: K_max %lld, %lld tail image(s) of %lld", (long long)s->tres->k_max,
         (long long)ntail_img, (long long)s->N);
  return TC_OK;
}

/* M_tail over the tail images and their views (DESIGN 3.6 steps 8-9); the
 * candidates go as soon as the coreset is chosen. Collective. */
static TcErr fit_tail_views_(TcFit *s) {
  TcErr err = tail_views_(s);
  if (err) return err;
  tc_extractor_destroy(&s->ex);
  err = coreset_(s->comm, s->o, s->tail_ratio, s->tv.X, s->tv.g, s->tv.n, s->P, 1,
                 s->o->tail_per_image ? (1 + s->tv.V) * s->HW : 0, "coreset M_tail", &s->tail, &s->m_tail,
                 &s->n_tail);
  free(s->tv.X);
  free(s->tv.g);
  s->tv.X = NULL;
  s->tv.g = NULL;
  return err;
}

/* M_tail over the tail images' own patches only. Collective. */
static TcErr fit_tail_patches_(TcFit *s) {
  const int64_t HW = s->HW, P = s->P;
  const uint8_t *is_tail = s->tres->is_tail;
  if (s->method->tail_views && s->aug != TC_AUG_NONE)
    tc_log(0, "fit: warning: no --data ROOT and --weights FILE: M_tail uses the tail images' own patches "
              "only, without their %s views (DESIGN 3.6 step 8)", s->o->tail_aug);
  int64_t nt = 0;
  for (int64_t i = 0; i < s->nl; i++) nt += is_tail[s->lo + i] ? HW : 0;
  s->Xt = tc_malloc_aligned((size_t)(nt > 0 ? nt : 1) * P * sizeof(float), "tail patches");
  s->gt = tc_malloc((size_t)(nt > 0 ? nt : 1) * sizeof(int64_t), "tail indices");
  TcErr err = tc_agree(s->comm, s->Xt && s->gt ? TC_OK : TC_ERR_MEM);
  if (err) return err;
  nt = 0;
  for (int64_t i = 0; i < s->nl; i++)
    if (is_tail[s->lo + i]) {
      memcpy(s->Xt + nt * P, s->Pj + i * HW * P, (size_t)(HW * P) * sizeof(float));
      for (int64_t p = 0; p < HW; p++) s->gt[nt + p] = (s->lo + i) * HW + p;
      nt += HW;
    }
  return coreset_(s->comm, s->o, s->tail_ratio, s->Xt, s->gt, nt, P, 1, s->o->tail_per_image ? s->HW : 0,
                  "coreset M_tail", &s->tail, &s->m_tail, &s->n_tail);
}

/* DESIGN 3.4: LOF per position, keep the patches scoring under the
 * --lof-keep quantile (compacted in place, order kept). Collective. */
static TcErr fit_noise_filter_(TcFit *s) {
  const TcFitOpts *o = s->o;
  const int64_t P = s->P;
  s->lof = tc_malloc((size_t)(s->npl > 0 ? s->npl : 1) * sizeof(float), "LOF scores");
  TcErr err = tc_agree(s->comm, s->lof ? TC_OK : TC_ERR_MEM);
  if (err) return err;
  err = tc_plof_scores(s->comm, s->Pj, s->nl, s->N, s->HW, s->P, (int)o->lof_k, s->lof);
  if (err) return err;
  err = tc_agree(s->comm, tc_plof_quantile(s->comm, s->lof, s->npl, o->lof_keep, &s->thr));
  if (err) return err;
  int64_t nkeep = 0;
  for (int64_t i = 0; i < s->npl; i++)
    if (s->lof[i] < s->thr) {
      if (nkeep != i) memmove(s->Pj + nkeep * P, s->Pj + i * P, (size_t)P * sizeof(float));
      s->gall[nkeep] = s->gall[i];
      nkeep++;
    }
  s->nkeep = nkeep;
  int64_t kept = 0;
  MPI_Allreduce(&nkeep, &kept, 1, MPI_INT64_T, MPI_SUM, s->comm);
  s->n_removed = s->N * s->HW - kept;
  tc_log(1, "LOF: %.6g quantile %.6g, %lld of %lld patches removed", o->lof_keep, (double)s->thr,
         (long long)s->n_removed, (long long)(s->N * s->HW));
  return TC_OK;
}

/* Calibration: choose the validation images (after TailSampler, which
 * must see them all and whose tail images are never held out). Collective. */
static TcErr fit_holdout_(TcFit *s) {
  const TcFitOpts *o = s->o;
  s->held = tc_calloc((size_t)s->N, 1, "validation flags");
  TcErr err = tc_agree(s->comm, s->held ? TC_OK : TC_ERR_MEM);
  if (err) return err;
  return tc_pcalib_holdout(s->comm, s->fin, o->features, s->N, s->tres ? s->tres->is_tail : NULL, o->val_fraction,
                           o->val_list, o->seed, s->held, &s->n_held, &s->cal);
}

/* The validation images' patches leave the coreset candidates (compacted
 * in place, order kept). Local. */
static void fit_drop_held_(TcFit *s) {
  const int64_t P = s->P;
  int64_t k = 0;
  for (int64_t i = 0; i < s->nkeep; i++)
    if (!s->held[s->gall[i] / s->HW]) {
      if (k != i) memmove(s->Pj + k * P, s->Pj + i * P, (size_t)P * sizeof(float));
      s->gall[k++] = s->gall[i];
    }
  s->nkeep = k;
}

/* DESIGN 3.5: M_clean over the kept patches, then M = M_clean U M_tail as a
 * sorted set of global patch indices. Collective. */
static TcErr fit_coresets_(TcFit *s) {
  TcErr err = coreset_(s->comm, s->o, s->o->coreset_ratio, s->Pj, s->gall, s->nkeep, s->P, 0, 0,
                       s->method->noise_filter ? "coreset M_clean" : "coreset", &s->clean, &s->m_clean, &s->n_clean);
  if (err) return err;
  if (s->m_clean + s->m_tail == 0)
    return tc_agree(s->comm, tc_err_set(TC_ERR_FORMAT, "the memory bank would be empty (LOF kept no patch)"));
  const int64_t m = s->m_clean + s->m_tail;
  s->uni = tc_malloc((size_t)m * sizeof(int64_t), "memory bank indices");
  err = tc_agree(s->comm, s->uni ? TC_OK : TC_ERR_MEM);
  if (err) return err;
  memcpy(s->uni, s->clean, (size_t)s->m_clean * sizeof(int64_t));
  if (s->m_tail) memcpy(s->uni + s->m_clean, s->tail, (size_t)s->m_tail * sizeof(int64_t));
  qsort(s->uni, (size_t)m, sizeof(int64_t), cmp_i64_);
  for (int64_t t = 0; t < m; t++)
    if (s->M == 0 || s->uni[t] != s->uni[s->M - 1]) s->uni[s->M++] = s->uni[t];
  return TC_OK;
}

/* My image rows of the bank: the indices that fall on my images (one
 * contiguous run of M), copied in full D by a second pass over my images;
 * their weights per the method. features.h5 is closed after. Collective. */
static TcErr fit_bank_rows_(TcFit *s) {
  const int64_t HW = s->HW, D = s->D, M = s->M, lo = s->lo;
  const int64_t *uni = s->uni;
  int64_t r0 = 0;
  while (r0 < M && uni[r0] < lo * HW) r0++;
  int64_t r1 = r0;
  while (r1 < M && uni[r1] < s->hi * HW) r1++;
  s->r0 = r0;
  s->r1 = r1;
  const int64_t mr = r1 - r0;
  s->bank = tc_malloc_aligned((size_t)(mr > 0 ? mr : 1) * D * sizeof(float), "memory bank rows");
  s->bank_w = tc_malloc((size_t)(mr > 0 ? mr : 1) * sizeof(float), "memory weights");
  TcErr err = tc_agree(s->comm, s->bank && s->bank_w ? TC_OK : TC_ERR_MEM);
  if (err) return err;
  for (int64_t t = 0; t < mr; t++) s->bank_w[t] = s->method->memory_weights ? s->lof[uni[r0 + t] - lo * HW] : 1.0f;
  for (int64_t c0 = 0, cn, t = r0; c0 < s->nl_max; c0 += CHUNK) {
    err = read_chunk_(s, c0, &cn);
    if (err) return err;
    for (; t < r1 && uni[t] < (lo + c0 + cn) * HW; t++)
      memcpy(s->bank + (t - r0) * D, s->feat + (uni[t] - (lo + c0) * HW) * D, (size_t)D * sizeof(float));
  }
  tc_h5_close(&s->fin);
  return TC_OK;
}

/* My view rows: the indices of my block of tail images' views (contiguous
 * too, after every image row), read back from the view store, weight 1.
 * Collective. */
static TcErr fit_view_rows_(TcFit *s) {
  const TailViews *tv = &s->tv;
  const int64_t HW = s->HW, D = s->D, M = s->M;
  const int64_t vb0 = s->N * HW + tv->tlo * tv->V * HW, vb1 = s->N * HW + tv->thi * tv->V * HW;
  int64_t q0 = 0;
  while (q0 < M && s->uni[q0] < vb0) q0++;
  int64_t q1 = q0;
  while (q1 < M && s->uni[q1] < vb1) q1++;
  s->q0 = q0;
  s->q1 = q1;
  const int64_t mv = q1 - q0;
  s->bankv = tc_malloc_aligned((size_t)(mv > 0 ? mv : 1) * D * sizeof(float), "memory bank view rows");
  s->bankv_w = tc_malloc((size_t)(mv > 0 ? mv : 1) * sizeof(float), "memory weights");
  TcErr e = s->bankv && s->bankv_w ? TC_OK : TC_ERR_MEM;
  for (int64_t t = 0; !e && t < mv; t++) {
    s->bankv_w[t] = 1.0f;
    e = store_io_(&s->tv.store, 0, (size_t)((s->uni[q0 + t] - vb0) * D), s->bankv + t * D, (size_t)D);
  }
  TcErr err = tc_agree(s->comm, e);
  if (err) return err;
  store_close_(&s->tv.store);
  return TC_OK;
}

/* ------------------------------------------------------------ model.h5 */

/* The tail group (TailSampler's result; zeros and k_max -1 for a method
 * without tail sampling), rank 0's rows. Collective. */
static TcErr write_tail_group_(TcFit *s, TcH5File *fout) {
  const int w0 = s->rank == 0;
  return tc_tail_io_write(fout, s->tres, s->N, 0, w0 ? s->N : 0, w0, NULL);
}

/* The root attributes of model.h5 (model_io.h). vdesc: buffer for the
 * description of the tail views. Local. */
static void model_info_(const TcFit *s, char *vdesc, size_t vlen, TcModelInfo *mi) {
  const TcFitOpts *o = s->o;
  const int two_round = o->coreset_mode.rounds == 2;
  if (s->views)
    snprintf(vdesc, vlen, "%s: %d views of each tail image, extracted from %s with %s", o->tail_aug, s->tv.V,
             o->data, o->weights);
  else
    snprintf(vdesc, vlen, "none (tail images' own patches)");
  *mi = (TcModelInfo){
      .features = &s->meta, .method = o->method_name, .coreset_ratio = o->coreset_ratio,
      .tail_coreset_ratio = s->tail_ratio,
      .coreset_mode = tc_coreset_mode_name(&o->coreset_mode),
      .coreset_shard = two_round ? o->coreset_mode.shard : 0,
      .coreset_oversample = two_round ? o->coreset_mode.oversample : 0,
      .proj_dim = o->proj_dim, .lof_k = o->lof_k, .lof_keep = o->lof_keep, .tail_p = s->tail_p,
      .tail_cut = tc_tail_cut_name(s->tail_cut), .embed_norm = tc_tail_norm_name(s->embed_norm),
      .tail_aug = o->tail_aug, .tail_views = vdesc, .tail_coreset = o->tail_per_image ? "per-image" : "global",
      .tail_views_per_image = s->views ? s->tv.V : 0, .tail_view_images = s->views ? s->tv.T : 0,
      .tail_view_patches = s->views ? s->tv.T * s->tv.V * s->HW : 0,
      .seed = o->seed, .program_version = TC_VERSION, .source_features = o->features,
      .N = s->N, .n_patches = s->N * s->HW, .M = s->M,
      .coreset_clean_size = s->m_clean, .coreset_tail_size = s->m_tail,
      .coreset_clean_candidates = s->n_clean, .coreset_tail_candidates = s->n_tail,
      .lof_removed = s->n_removed, .lof_threshold = s->method->noise_filter ? (double)s->thr : NAN};
}

/* Every rank's rows, rank 0's global arrays, the attributes. Collective:
 * each write agrees inside h5fmt, so every rank stops at the same one. */
static TcErr write_model_(TcFit *s, TcH5File *fout) {
  TC_CALL(tc_model_write_rows(fout, s->r0, s->r1 - s->r0, s->bank, s->bank_w));
  if (s->views) TC_CALL(tc_model_write_rows(fout, s->q0, s->q1 - s->q0, s->bankv, s->bankv_w));
  TC_CALL(tc_model_write_coreset(fout, s->rank == 0, s->M, s->uni, s->m_clean, s->clean, s->m_tail, s->tail));
  TC_CALL(write_tail_group_(s, fout));
  char vdesc[4400];
  TcModelInfo mi;
  model_info_(s, vdesc, sizeof vdesc, &mi);
  TC_CALL(tc_model_write_info(fout, &mi));
  return TC_OK;
}

/* DESIGN 5: model.h5, every rank its rows, then publish. Collective. */
static TcErr fit_write_(TcFit *s) {
  MPI_Comm comm = s->comm;
  TcH5File *fout = NULL;
  TcErr err = tc_agree(comm, tc_fault_injected(comm, "fit-create")
                                 ? tc_err_set(TC_ERR_IO, "injected failure before creating the model")
                                 : TC_OK);
  if (err) return err;
  err = tc_agree(comm, tc_model_create(comm, s->o->out, s->M, s->D, s->m_clean, s->m_tail, &fout));
  if (err) return err;
  TcErr e = write_model_(s, fout);
  if (!e && s->calibrate)
    e = tc_pcalib_write(comm, fout, s->o->features, s->held, s->N, s->o->mem_per_rank, s->o->target_frr, &s->cal);
  if (!e && tc_fault_injected(comm, "fit-write")) e = tc_err_set(TC_ERR_IO, "injected write failure");
  err = tc_agree(comm, e);
  if (err) {
    tc_h5_abandon(&fout);
    return err;
  }
  return tc_agree(comm, tc_h5_publish(&fout));
}

TcErr tc_pfit_run(MPI_Comm comm, const TcFitOpts *o) {
  TcFit s;
  fit_init_(&s, comm, o);
  /* the output directory is checked before hours of work, not after */
  TcErr err = tc_h5_check_output(comm, o->out);
  if (!err) err = fit_open_(&s);
  if (!err) err = fit_prepare_(&s);
  if (!err) err = fit_project_(&s);
  if (!err && s.method->tail_sampling) err = fit_tail_sampling_(&s);
  if (!err && s.calibrate) err = fit_holdout_(&s);
  if (!err && s.method->tail_sampling) err = s.views ? fit_tail_views_(&s) : fit_tail_patches_(&s);
  if (!err && s.method->noise_filter) err = fit_noise_filter_(&s);
  if (!err && s.calibrate) fit_drop_held_(&s);
  if (!err) err = fit_coresets_(&s);
  if (!err) err = fit_bank_rows_(&s);
  if (!err && s.views) err = fit_view_rows_(&s);
  if (!err) err = fit_write_(&s);
  if (!err)
    tc_log(1, "fit: wrote %s: M = %lld (M_clean %lld, M_tail %lld) x %lld in %.1fs", o->out, (long long)s.M,
           (long long)s.m_clean, (long long)s.m_tail, (long long)s.D, tc_now() - s.t0);
  fit_free_(&s);
  return err;
}
