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
#include "outguard.h"
#include "image.h"
#include "partition.h"
#include "pcoreset.h"
#include "pextract.h"
#include "plof.h"
#include "proj.h"
#include "ptailsample.h"
#include "tailsampler.h"
#include "rng.h"

#ifndef TC_VERSION
#define TC_VERSION "0.1.0"
#endif

/* images per collective read */
#define CHUNK 16

TcErr tc_pfit_check(const TcFitOpts *o) {
  TC_CHECK(o->coreset_ratio > 0 && o->coreset_ratio <= 1, TC_ERR_USAGE,
           "--coreset-ratio %g is impossible: it must be in (0, 1]", o->coreset_ratio);
  TC_CHECK(o->lof_keep > 0 && o->lof_keep <= 1, TC_ERR_USAGE,
           "--lof-keep %g is impossible: it must be in (0, 1]", o->lof_keep);
  if (o->tail_p_s && strcmp(o->tail_p_s, "auto")) {
    char *end = NULL;
    double p = strtod(o->tail_p_s, &end);
    TC_CHECK(end != o->tail_p_s && !*end && p > 0 && p <= 1, TC_ERR_USAGE,
             "--tail-p '%s' is impossible: it must be auto or a number in (0, 1]", o->tail_p_s);
  } else if (!o->tail_p_s) {
    TC_CHECK(o->tail_p > 0 && o->tail_p <= 1, TC_ERR_USAGE,
             "--tail-p %g is impossible: it must be in (0, 1]", o->tail_p);
  }
  TC_CHECK(!o->tail_cut_s || !strcmp(o->tail_cut_s, "auto") || tc_tail_cut_parse(o->tail_cut_s) >= 0,
           TC_ERR_USAGE, "--tail-cut '%s' is not auto, %s", o->tail_cut_s, TC_TAIL_CUT_CHOICES);
  TC_CHECK(tc_tail_norm_parse(o->embed_norm_s) >= 0, TC_ERR_USAGE, "--embed-norm '%s' is not %s",
           o->embed_norm_s, TC_TAIL_NORM_CHOICES);
  TC_CHECK(o->proj_dim >= 1 && o->proj_dim <= 4096, TC_ERR_USAGE,
           "--proj-dim %lld is out of range (1..4096)", (long long)o->proj_dim);
  TC_CHECK(o->lof_k >= 1 && o->lof_k <= 64, TC_ERR_USAGE, "--lof-k %lld is out of range (1..64)",
           (long long)o->lof_k);
  TC_CHECK(o->seed >= 0, TC_ERR_USAGE, "--seed must be >= 0");
  TC_CHECK(o->mem_per_rank > 0, TC_ERR_USAGE, "--mem-per-rank must be positive");
  TC_CHECK(o->coreset_mode.shard >= 1, TC_ERR_USAGE, "--coreset-shard must be >= 1");
  TC_CHECK(o->coreset_mode.oversample >= 1 && o->coreset_mode.oversample <= 1000, TC_ERR_USAGE,
           "--coreset-oversample %g is out of range [1, 1000]", o->coreset_mode.oversample);
  TcAugment a;
  TC_CALL(tc_augment_parse(o->tail_aug, &a));
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
static TcErr coreset_(MPI_Comm comm, const TcFitOpts *o, const float *Xsel, const int64_t *gsel,
                      int64_t n_local, int P, uint64_t purpose, const char *stage, int64_t **out,
                      int64_t *m_out, int64_t *n_out) {
  int64_t off = 0, n = 0;
  MPI_Exscan(&n_local, &off, 1, MPI_INT64_T, MPI_SUM, comm);
  if (tc_rank(comm) == 0) off = 0;
  MPI_Allreduce(&n_local, &n, 1, MPI_INT64_T, MPI_SUM, comm);
  *out = NULL;
  *m_out = 0;
  *n_out = n;
  if (n == 0) return TC_OK;
  int64_t m = tc_coreset_target(n, o->coreset_ratio);
  int64_t first = tc_rng_index((uint64_t)o->seed, TC_RNG_STREAM_CORESET, purpose, n);
  int64_t *ord = tc_malloc((size_t)m * sizeof(int64_t), "coreset ordinals");
  int64_t *g = tc_malloc((size_t)m * sizeof(int64_t), "coreset indices");
  TcErr err = tc_agree(comm, ord && g ? TC_OK : TC_ERR_MEM);
  const double t_cs = tc_now();
  if (!err) {
    tc_log(1, "%s: greedy coreset of %lld patches -> %lld", stage, (long long)n, (long long)m);
    err = tc_pcoreset_select_mode(comm, Xsel, n_local, off, n, P, m, first, &o->coreset_mode, o->pruned, ord,
                                  &m, stage);
  }
  if (!err)
    tc_log(1, "%s: coreset (%s) %.2fs", stage, tc_coreset_mode_name(&o->coreset_mode), tc_now() - t_cs);
  if (!err) err = ordinals_to_patches_(comm, ord, m, off, n_local, gsel, g);
  free(ord);
  if (err) { free(g); return err; }
  *out = g;
  *m_out = m;
  return TC_OK;
}

/* ------------------------------------------------ tail views (3.6 step 8) */

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

/* One tail image: re-extract its plain features as an identity check of
 * --data against features.h5, extract its views, project all, keep the
 * views' full features. k = local tail ordinal, t = global one. Local. */
static TcErr view_one_(const TcFitOpts *o, const TcFeaturesMeta *m, TcExtractor *ex, TcAugment aug,
                       const float *W, const char *rel, int64_t img_index, int64_t k, TailViews *tv,
                       const float *src, float *chk, float *vf) {
  const int64_t HW = m->fmap_h * m->fmap_w, D = m->D, P = o->proj_dim, V = tv->V;
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
  if (!err) err = tc_pextract_views_image(ex, &img, aug, vf);
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
  TC_CALL(tc_proj_apply(W, P, D, src, HW, tv->X + base * P));
  for (int64_t p = 0; p < HW; p++) tv->g[base + p] = img_index * HW + p;
  for (int64_t v = 0; v < V; v++) {
    int64_t b = base + (1 + v) * HW;
    TC_CALL(tc_proj_apply(W, P, D, vf + v * HW * D, HW, tv->X + b * P));
    for (int64_t p = 0; p < HW; p++) tv->g[b + p] = m->N * HW + (t * V + v) * HW + p;
  }
  return store_io_(&tv->store, 1, (size_t)(k * V * HW * D), vf, (size_t)(V * HW * D));
}

/* DESIGN 3.6 step 8: deal the tail images in blocks, extract their views.
 * base_need: bytes this rank already holds. Collective on comm. */
static TcErr tail_views_(MPI_Comm comm, const TcFitOpts *o, TcH5File *fin, const TcFeaturesMeta *m,
                         TcExtractor *ex, TcAugment aug, const uint8_t *is_tail, const float *W,
                         double base_need, TailViews *tv) {
  const int rank = tc_rank(comm), size = tc_size(comm);
  const int64_t N = m->N, HW = m->fmap_h * m->fmap_w, D = m->D, P = o->proj_dim;
  TcErr err = TC_OK;
  int64_t *tl = NULL;
  float *src = NULL, *chk = NULL, *vf = NULL;
  char **rel = NULL;
  tv->V = tc_augment_count(aug);
  const int64_t V = tv->V;
  tv->T = 0;
  for (int64_t i = 0; i < N; i++) tv->T += is_tail[i] != 0;
  tc_block_range(tv->T, rank, size, &tv->tlo, &tv->thi);
  const int64_t ntl = tv->thi - tv->tlo;
  int64_t ntl_max = 0;
  MPI_Allreduce(&ntl, &ntl_max, 1, MPI_INT64_T, MPI_MAX, comm);
  tv->n = ntl * (1 + V) * HW;
  const double store_bytes = (double)ntl * V * HW * D * 4;
  double need = base_need + (double)ntl_max * (1 + V) * HW * (P * 4.0 + 8) + (double)(V + 2) * HW * D * 4;
  if (need > (double)o->mem_per_rank)
    err = tc_err_set(TC_ERR_USAGE, "the tail views need about %.0f MiB per rank with %d rank(s), more than "
                     "--mem-per-rank %.0f MiB: run more ranks or raise --mem-per-rank",
                     need / 1048576, size, (double)o->mem_per_rank / 1048576);
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
         tc_augment_name(aug), (long long)V, (long long)tv->T, (long long)(tv->T * (1 + V) * HW),
         any_spill ? " (view features spilled to a scratch file: over --mem-per-rank)" : "");
  TcProgress prog;
  tc_progress_start(&prog, "tail views", "images", tv->T);
  for (int64_t k = 0; k < ntl_max; k++) {
    const int have = k < ntl;
    const int64_t img = have ? tl[tv->tlo + k] : 0;
    TcErr e = tc_features_read(fin, m, img, have, src, NULL);
    if (!e) e = tc_h5_read_strings(fin, "paths", img, have, &rel);
    if (!e && have) e = view_one_(o, m, ex, aug, W, rel[0], img, k, tv, src, chk, vf);
    free(rel);
    rel = NULL;
    err = tc_agree(comm, e);
    if (err) goto cleanup;
    int64_t est = (k + 1) * size; /* rank 0's share times ranks: an estimate */
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

TcErr tc_pfit_run(MPI_Comm comm, const TcFitOpts *o) {
  const int rank = tc_rank(comm), size = tc_size(comm);
  TcErr err = TC_OK;
  TcH5File *fin = NULL, *fout = NULL;
  TcFeaturesMeta meta;
  float *W = NULL, *feat = NULL, *Pj = NULL, *lof = NULL, *emb = NULL, *Xt = NULL, *bank = NULL,
        *wts = NULL, *bank_w = NULL;
  int64_t *gall = NULL, *gt = NULL, *clean = NULL, *tail = NULL, *uni = NULL, *keep_idx = NULL;
  TcTailResult *tres = NULL;
  TcExtractor *ex = NULL;
  TailViews tv;
  memset(&tv, 0, sizeof tv);
  tv.store.fd = -1;
  float *bankv = NULL, *bankv_w = NULL;
  uint8_t *is_tail_all = NULL;
  int64_t n_removed = 0, m_clean = 0, m_tail = 0, n_clean = 0, n_tail = 0, M = 0;
  float thr = NAN;
  double t0 = tc_now();
  const int P = (int)o->proj_dim;
  const int use_lof = o->method != TC_FIT_PATCHCORE, use_tail = o->method == TC_FIT_TAILEDCORE;
  TcAugment aug = TC_AUG_NONE;
  tc_augment_parse(o->tail_aug, &aug);
  /* DESIGN 3.6 step 8 needs the images and the weights */
  const int views = use_tail && aug != TC_AUG_NONE && o->data && o->weights;

  /* the output directory is checked before hours of work, not after */
  err = tc_h5_check_output(comm, o->out);
  if (err) return err;
  err = tc_agree(comm, tc_features_open(comm, o->features, &fin, &meta));
  if (err) return err;
  const int64_t N = meta.N, HW = meta.fmap_h * meta.fmap_w, D = meta.D, E = meta.E;
  /* TailSampler's rules: given, or the defaults of the features' backbone */
  double tail_p = o->tail_p;
  int tail_cut = TC_TAIL_CUT_CAP, embed_norm = tc_tail_norm_parse(o->embed_norm_s);
  {
    double p_auto;
    int cut_auto;
    tc_tail_default_rules(meta.backbone[0] ? meta.backbone : NULL, &p_auto, &cut_auto);
    if (o->tail_p_s) tail_p = strcmp(o->tail_p_s, "auto") ? strtod(o->tail_p_s, NULL) : p_auto;
    tail_cut = !o->tail_cut_s || !strcmp(o->tail_cut_s, "auto") ? cut_auto : tc_tail_cut_parse(o->tail_cut_s);
  }
  int64_t lo, hi;
  tc_block_range(N, rank, size, &lo, &hi);
  const int64_t nl = hi - lo, npl = nl * HW;
  int64_t nl_max = 0;
  MPI_Allreduce(&nl, &nl_max, 1, MPI_INT64_T, MPI_MAX, comm);
  tc_log(1, "fit: %s on %lld images x %lld positions x %lld dims, %d rank(s)", o->method_name,
         (long long)N, (long long)HW, (long long)D, size);
  if (N < 1) err = tc_err_set(TC_ERR_FORMAT, "%s holds no image", o->features);
  /* what one rank holds: projected patches (+ LOF scores, tail copy,
   * transposed LOF buffers) and a chunk of raw features */
  double need = (double)npl * P * 4 * (use_lof ? 3.2 : 1.2) + (double)CHUNK * HW * D * 4 + (double)nl * E * 4;
  if (!err && need > (double)o->mem_per_rank)
    err = tc_err_set(TC_ERR_USAGE, "fit needs about %.0f MiB per rank with %d rank(s), more than "
                     "--mem-per-rank %.0f MiB: run more ranks or raise --mem-per-rank",
                     need / 1048576, size, (double)o->mem_per_rank / 1048576);
  /* check the weights against features.h5 now, not after LOF */
  if (!err && views) err = views_extractor_(o, &meta, &ex);
  if (!err) err = tc_proj_create(P, D, (uint64_t)o->seed, &W);
  if (!err) {
    feat = tc_malloc_aligned((size_t)(CHUNK * HW * D) * sizeof(float), "feature chunk");
    Pj = tc_malloc_aligned((size_t)(npl > 0 ? npl : 1) * P * sizeof(float), "projected patches");
    gall = tc_malloc((size_t)(npl > 0 ? npl : 1) * sizeof(int64_t), "patch indices");
    emb = tc_malloc((size_t)(nl > 0 ? nl : 1) * E * sizeof(float), "embeddings");
    if (!feat || !Pj || !gall || !emb) err = TC_ERR_MEM;
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;

  /* DESIGN 3.3: project, one image per sgemm so the bits do not depend on
   * how images are dealt */
  for (int64_t c0 = 0; c0 < nl_max; c0 += CHUNK) {
    int64_t cn = nl - c0 < CHUNK ? nl - c0 : CHUNK;
    if (cn < 0) cn = 0;
    err = tc_agree(comm, tc_features_read(fin, &meta, lo + (cn ? c0 : 0), cn, feat, NULL));
    if (err) goto cleanup;
    for (int64_t i = 0; i < cn; i++)
      tc_proj_apply(W, P, D, feat + i * HW * D, HW, Pj + (c0 + i) * HW * P);
  }
  for (int64_t i = 0; i < npl; i++) gall[i] = lo * HW + i;
  err = tc_agree(comm, tc_features_read(fin, &meta, lo, nl, NULL, emb));
  if (err) goto cleanup;

  /* DESIGN 3.6: tail images from the embeddings */
  if (use_tail) {
    TcPTailOpts to;
    tc_ptailsample_defaults(&to);
    to.tail_p = tail_p;
    to.tail_cut = tail_cut;
    to.embed_norm = embed_norm;
    to.mem_per_rank = o->mem_per_rank;
    err = tc_ptailsample_run(comm, emb, N, E, lo, hi, &to, &tres, NULL);
    if (err) goto cleanup;
    int64_t ntail_img = 0;
    for (int64_t i = 0; i < N; i++) ntail_img += tres->is_tail[i];
    tc_log(1, "tailsampler: K_max %lld, %lld tail image(s) of %lld", (long long)tres->k_max,
           (long long)ntail_img, (long long)N);
    if (views) {
      err = tail_views_(comm, o, fin, &meta, ex, aug, tres->is_tail, W, need, &tv);
      if (err) goto cleanup;
      tc_extractor_destroy(&ex);
      err = coreset_(comm, o, tv.X, tv.g, tv.n, P, 1, "coreset M_tail", &tail, &m_tail, &n_tail);
      free(tv.X);
      free(tv.g);
      tv.X = NULL;
      tv.g = NULL;
      if (err) goto cleanup;
    } else {
      if (aug != TC_AUG_NONE)
        tc_log(0, "fit: warning: no --data ROOT and --weights FILE: M_tail uses the tail images' own patches "
                  "only, without their %s views (DESIGN 3.6 step 8)", o->tail_aug);
      int64_t nt = 0;
      for (int64_t i = 0; i < nl; i++) nt += tres->is_tail[lo + i] ? HW : 0;
      Xt = tc_malloc_aligned((size_t)(nt > 0 ? nt : 1) * P * sizeof(float), "tail patches");
      gt = tc_malloc((size_t)(nt > 0 ? nt : 1) * sizeof(int64_t), "tail indices");
      err = tc_agree(comm, Xt && gt ? TC_OK : TC_ERR_MEM);
      if (err) goto cleanup;
      nt = 0;
      for (int64_t i = 0; i < nl; i++)
        if (tres->is_tail[lo + i]) {
          memcpy(Xt + nt * P, Pj + i * HW * P, (size_t)(HW * P) * sizeof(float));
          for (int64_t p = 0; p < HW; p++) gt[nt + p] = (lo + i) * HW + p;
          nt += HW;
        }
      err = coreset_(comm, o, Xt, gt, nt, P, 1, "coreset M_tail", &tail, &m_tail, &n_tail);
      if (err) goto cleanup;
    }
  }

  /* DESIGN 3.4: LOF per position, keep score < quantile */
  int64_t nkeep = npl;
  if (use_lof) {
    lof = tc_malloc((size_t)(npl > 0 ? npl : 1) * sizeof(float), "LOF scores");
    err = tc_agree(comm, lof ? TC_OK : TC_ERR_MEM);
    if (err) goto cleanup;
    err = tc_plof_scores(comm, Pj, nl, N, HW, P, (int)o->lof_k, lof);
    if (err) goto cleanup;
    err = tc_agree(comm, tc_plof_quantile(comm, lof, npl, o->lof_keep, &thr));
    if (err) goto cleanup;
    nkeep = 0;
    /* compact in place: kept rows move down, order preserved */
    for (int64_t i = 0; i < npl; i++)
      if (lof[i] < thr) {
        if (nkeep != i) memmove(Pj + nkeep * P, Pj + i * P, (size_t)P * sizeof(float));
        gall[nkeep] = gall[i];
        nkeep++;
      }
    int64_t kept = 0;
    MPI_Allreduce(&nkeep, &kept, 1, MPI_INT64_T, MPI_SUM, comm);
    n_removed = N * HW - kept;
    tc_log(1, "LOF: %.6g quantile %.6g, %lld of %lld patches removed", o->lof_keep, (double)thr,
           (long long)n_removed, (long long)(N * HW));
  }
  err = coreset_(comm, o, Pj, gall, nkeep, P, 0, use_lof ? "coreset M_clean" : "coreset", &clean,
                 &m_clean, &n_clean);
  if (err) goto cleanup;
  if (m_clean + m_tail == 0) {
    err = tc_agree(comm, tc_err_set(TC_ERR_FORMAT, "the memory bank would be empty (LOF kept no patch)"));
    goto cleanup;
  }

  /* M = M_clean U M_tail as a sorted set of global patch indices */
  uni = tc_malloc((size_t)(m_clean + m_tail) * sizeof(int64_t), "memory bank indices");
  err = tc_agree(comm, uni ? TC_OK : TC_ERR_MEM);
  if (err) goto cleanup;
  memcpy(uni, clean, (size_t)m_clean * sizeof(int64_t));
  if (m_tail) memcpy(uni + m_clean, tail, (size_t)m_tail * sizeof(int64_t));
  qsort(uni, (size_t)(m_clean + m_tail), sizeof(int64_t), cmp_i64_);
  for (int64_t t = 0; t < m_clean + m_tail; t++)
    if (M == 0 || uni[t] != uni[M - 1]) uni[M++] = uni[t];

  /* my rows of the bank: the indices that fall on my images (contiguous) */
  int64_t r0 = 0, r1 = 0;
  while (r0 < M && uni[r0] < lo * HW) r0++;
  r1 = r0;
  while (r1 < M && uni[r1] < hi * HW) r1++;
  const int64_t mr = r1 - r0;
  bank = tc_malloc_aligned((size_t)(mr > 0 ? mr : 1) * D * sizeof(float), "memory bank rows");
  bank_w = tc_malloc((size_t)(mr > 0 ? mr : 1) * sizeof(float), "memory weights");
  err = tc_agree(comm, bank && bank_w ? TC_OK : TC_ERR_MEM);
  if (err) goto cleanup;
  for (int64_t t = 0; t < mr; t++)
    bank_w[t] = o->method == TC_FIT_SOFTPATCH ? lof[uni[r0 + t] - lo * HW] : 1.0f;
  /* second pass over my images: copy the selected rows in full D */
  for (int64_t c0 = 0, t = r0; c0 < nl_max; c0 += CHUNK) {
    int64_t cn = nl - c0 < CHUNK ? nl - c0 : CHUNK;
    if (cn < 0) cn = 0;
    err = tc_agree(comm, tc_features_read(fin, &meta, lo + (cn ? c0 : 0), cn, feat, NULL));
    if (err) goto cleanup;
    for (; t < r1 && uni[t] < (lo + c0 + cn) * HW; t++)
      memcpy(bank + (t - r0) * D, feat + (uni[t] - (lo + c0) * HW) * D, (size_t)D * sizeof(float));
  }
  tc_h5_close(&fin);
  /* my view rows: the indices of my block of tail images' views (contiguous
   * too, after every image row) */
  int64_t q0 = 0, q1 = 0;
  if (views) {
    const int64_t vb0 = N * HW + tv.tlo * tv.V * HW, vb1 = N * HW + tv.thi * tv.V * HW;
    while (q0 < M && uni[q0] < vb0) q0++;
    q1 = q0;
    while (q1 < M && uni[q1] < vb1) q1++;
    const int64_t mv = q1 - q0;
    bankv = tc_malloc_aligned((size_t)(mv > 0 ? mv : 1) * D * sizeof(float), "memory bank view rows");
    bankv_w = tc_malloc((size_t)(mv > 0 ? mv : 1) * sizeof(float), "memory weights");
    TcErr e = bankv && bankv_w ? TC_OK : TC_ERR_MEM;
    for (int64_t t = 0; !e && t < mv; t++) {
      bankv_w[t] = 1.0f;
      e = store_io_(&tv.store, 0, (size_t)((uni[q0 + t] - vb0) * D), bankv + t * D, (size_t)D);
    }
    err = tc_agree(comm, e);
    if (err) goto cleanup;
    store_close_(&tv.store);
  }

  /* DESIGN 5: model.h5, every rank its rows, then publish */
  err = tc_agree(comm, tc_fault_injected(comm, "fit-create")
                           ? tc_err_set(TC_ERR_IO, "injected failure before creating the model")
                           : TC_OK);
  if (err) goto cleanup;
  err = tc_agree(comm, tc_h5_create(comm, o->out, "model", &fout));
  if (err) goto cleanup;
  {
    int64_t dM[2] = {M, D}, d1[1] = {M}, dN[1] = {N}, dc[1] = {m_clean}, dt[1] = {m_tail}, one[1] = {1};
    TcErr e = TC_OK;
#define W_(x) do { if (!e) e = (x); } while (0)
    W_(tc_h5_create_dataset(fout, "memory_bank", TC_H5_F32, 2, dM, 0));
    W_(tc_h5_create_dataset(fout, "memory_weights", TC_H5_F32, 1, d1, 0));
    W_(tc_h5_create_dataset(fout, "coreset/indices", TC_H5_I64, 1, d1, 0));
    W_(tc_h5_create_dataset(fout, "coreset/clean_order", TC_H5_I64, 1, dc, 0));
    W_(tc_h5_create_dataset(fout, "coreset/tail_order", TC_H5_I64, 1, dt, 0));
    W_(tc_h5_create_dataset(fout, "tail/class_size", TC_H5_I64, 1, dN, 0));
    W_(tc_h5_create_dataset(fout, "tail/is_tail", TC_H5_U8, 1, dN, 0));
    W_(tc_h5_create_dataset(fout, "tail/k_max", TC_H5_I64, 1, one, 0));
    W_(tc_h5_write_rows(fout, "memory_bank", TC_H5_F32, r0, mr, bank));
    W_(tc_h5_write_rows(fout, "memory_weights", TC_H5_F32, r0, mr, bank_w));
    if (views) {
      W_(tc_h5_write_rows(fout, "memory_bank", TC_H5_F32, q0, q1 - q0, bankv));
      W_(tc_h5_write_rows(fout, "memory_weights", TC_H5_F32, q0, q1 - q0, bankv_w));
    }
    /* small global arrays: rank 0 writes them, the others join with 0 rows */
    int w0 = rank == 0;
    int64_t none = -1; /* HDF5 wants a buffer even for 0 rows */
    W_(tc_h5_write_rows(fout, "coreset/indices", TC_H5_I64, 0, w0 ? M : 0, uni));
    /* (h5fmt cannot write a 0-extent dataset: such a dataset stays empty) */
    if (m_clean > 0)
      W_(tc_h5_write_rows(fout, "coreset/clean_order", TC_H5_I64, 0, w0 ? m_clean : 0, clean ? clean : &none));
    if (m_tail > 0)
      W_(tc_h5_write_rows(fout, "coreset/tail_order", TC_H5_I64, 0, w0 ? m_tail : 0, tail ? tail : &none));
    int64_t *cs = tc_calloc((size_t)N, sizeof(int64_t), "class sizes");
    is_tail_all = tc_calloc((size_t)N, 1, "tail flags");
    if (!cs || !is_tail_all) e = TC_ERR_MEM;
    else if (tres) {
      memcpy(cs, tres->kappa, (size_t)N * sizeof(int64_t));
      memcpy(is_tail_all, tres->is_tail, (size_t)N);
    }
    int64_t kmax = tres ? tres->k_max : -1;
    W_(tc_h5_write_rows(fout, "tail/class_size", TC_H5_I64, 0, w0 ? N : 0, cs));
    W_(tc_h5_write_rows(fout, "tail/is_tail", TC_H5_U8, 0, w0 ? N : 0, is_tail_all));
    W_(tc_h5_write_rows(fout, "tail/k_max", TC_H5_I64, 0, w0 ? 1 : 0, &kmax));
    free(cs);
    W_(tc_features_meta_write_attrs(fout, &meta));
    W_(tc_h5_set_attr_str(fout, "/", "method", o->method_name));
    W_(tc_h5_set_attr_f64(fout, "/", "coreset_ratio", o->coreset_ratio));
    W_(tc_h5_set_attr_str(fout, "/", "coreset_mode", tc_coreset_mode_name(&o->coreset_mode)));
    W_(tc_h5_set_attr_i64(fout, "/", "coreset_shard", o->coreset_mode.rounds == 2 ? o->coreset_mode.shard : 0));
    W_(tc_h5_set_attr_f64(fout, "/", "coreset_oversample", o->coreset_mode.rounds == 2 ? o->coreset_mode.oversample : 0));
    W_(tc_h5_set_attr_i64(fout, "/", "proj_dim", o->proj_dim));
    W_(tc_h5_set_attr_i64(fout, "/", "lof_k", o->lof_k));
    W_(tc_h5_set_attr_f64(fout, "/", "lof_keep", o->lof_keep));
    W_(tc_h5_set_attr_f64(fout, "/", "tail_p", tail_p));
    W_(tc_h5_set_attr_str(fout, "/", "tail_cut", tc_tail_cut_name(tail_cut)));
    W_(tc_h5_set_attr_str(fout, "/", "embed_norm", tc_tail_norm_name(embed_norm)));
    W_(tc_h5_set_attr_str(fout, "/", "tail_aug", o->tail_aug));
    char vdesc[4400];
    if (views)
      snprintf(vdesc, sizeof vdesc, "%s: %d views of each tail image, extracted from %s with %s", o->tail_aug,
               tv.V, o->data, o->weights);
    else
      snprintf(vdesc, sizeof vdesc, "none (tail images' own patches)");
    W_(tc_h5_set_attr_str(fout, "/", "tail_views", vdesc));
    W_(tc_h5_set_attr_i64(fout, "/", "tail_views_per_image", views ? tv.V : 0));
    W_(tc_h5_set_attr_i64(fout, "/", "tail_view_images", views ? tv.T : 0));
    W_(tc_h5_set_attr_i64(fout, "/", "tail_view_patches", views ? tv.T * tv.V * HW : 0));
    W_(tc_h5_set_attr_i64(fout, "/", "seed", o->seed));
    W_(tc_h5_set_attr_str(fout, "/", "program_version", TC_VERSION));
    W_(tc_h5_set_attr_str(fout, "/", "source_features", o->features));
    W_(tc_h5_set_attr_i64(fout, "/", "N", N));
    W_(tc_h5_set_attr_i64(fout, "/", "n_patches", N * HW));
    W_(tc_h5_set_attr_i64(fout, "/", "M", M));
    W_(tc_h5_set_attr_i64(fout, "/", "coreset_clean_size", m_clean));
    W_(tc_h5_set_attr_i64(fout, "/", "coreset_tail_size", m_tail));
    W_(tc_h5_set_attr_i64(fout, "/", "coreset_clean_candidates", n_clean));
    W_(tc_h5_set_attr_i64(fout, "/", "coreset_tail_candidates", n_tail));
    W_(tc_h5_set_attr_i64(fout, "/", "lof_removed", n_removed));
    W_(tc_h5_set_attr_f64(fout, "/", "lof_threshold", use_lof ? (double)thr : NAN));
#undef W_
    if (!e && tc_fault_injected(comm, "fit-write")) e = tc_err_set(TC_ERR_IO, "injected write failure");
    err = tc_agree(comm, e);
    if (err) { tc_h5_abandon(&fout); goto cleanup; }
    err = tc_agree(comm, tc_h5_publish(&fout));
  }
  if (!err)
    tc_log(1, "fit: wrote %s: M = %lld (M_clean %lld, M_tail %lld) x %lld in %.1fs", o->out,
           (long long)M, (long long)m_clean, (long long)m_tail, (long long)D, tc_now() - t0);
cleanup:
  if (fout) tc_h5_abandon(&fout);
  tc_h5_close(&fin);
  tc_tail_result_destroy(&tres);
  tc_extractor_destroy(&ex);
  store_close_(&tv.store);
  free(tv.X);
  free(tv.g);
  free(bankv);
  free(bankv_w);
  free(W); free(feat); free(Pj); free(lof); free(emb); free(Xt); free(bank); free(wts);
  free(bank_w); free(gall); free(gt); free(clean); free(tail); free(uni); free(keep_idx);
  free(is_tail_all);
  return err;
}
