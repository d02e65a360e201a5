/* peval.c - AUROC per class of a scores file against the MVTec ground
 * truth (DESIGN 3.7). See peval.h.
 *
 * tc_peval_scores runs in steps over one Eval_ state that owns every
 * buffer; each step ends with an agreement, so no rank enters the next
 * collective (the reads of the scores file, the AUROC reduction) alone. */
#include "peval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "image.h"
#include "log.h"
#include "resize.h"
#include "scores_io.h"

void tc_eval_result_destroy(TcEvalResult **r) {
  if (!r || !*r) return;
  free((*r)->classes);
  free(*r);
  *r = NULL;
}

/* One evaluation: the scores file's contents, their match to the ground
 * truth, and the result being filled. */
typedef struct {
  MPI_Comm comm;
  int rank, size;
  const char *scores_path, *root;
  TcScoresMeta sm;
  float *scores;               /* [T] image scores */
  uint8_t *dec;                /* [T] decisions (1 = NG) of a calibrated run, else NULL */
  char **paths;                /* [T] scored paths (one allocation) */
  TcDataset *ds;               /* ROOT's test split */
  TcDatasetItem **sorted;      /* [ds->n] listing by path, for bsearch */
  const TcDatasetItem **match; /* [T] the listing item of each scored image */
  uint8_t *labels;             /* [T] 1 anomalous */
  uint8_t *seen;               /* [ds->n] scored already (duplicates) */
  int *cls_of;                 /* [T] index into r->classes */
  double *pix;                 /* [n_classes] pixel AUROC, 0 where another rank owns it */
  float *map;                  /* [crop x crop] one anomaly map */
  uint8_t *mask;               /* [crop x crop] its ground truth */
  TcEvalResult *r;
} Eval_;

static void eval_free_(Eval_ *e) {
  void *buffers[] = {e->pix,    e->mask,  e->map,    e->cls_of, e->seen,  e->labels,
                     e->match,  e->sorted, e->paths, e->scores, e->dec};
  for (size_t i = 0; i < sizeof buffers / sizeof buffers[0]; i++) free(buffers[i]);
  tc_eval_result_destroy(&e->r);
  tc_dataset_destroy(&e->ds);
}

static int cmp_item_path_(const void *a, const void *b) {
  return strcmp((*(const TcDatasetItem *const *)a)->path, (*(const TcDatasetItem *const *)b)->path);
}

/* The ROOT-relative form of a scored path: strip "ROOT/" (or "./") when
 * present, so absolute and relative listings both match. Local. */
static const char *relative_(const char *p, const char *root) {
  size_t n = strlen(root);
  while (n > 1 && root[n - 1] == '/') n--;
  if (strncmp(p, root, n) == 0 && p[n] == '/') p += n + 1;
  while (p[0] == '.' && p[1] == '/') p += 2;
  return p;
}

static int class_index_(const TcEvalResult *r, const char *name) {
  int lo = 0, hi = r->n_classes - 1;
  while (lo <= hi) {
    int mid = (lo + hi) / 2, c = strcmp(r->classes[mid].name, name);
    if (c == 0) return mid;
    if (c < 0) lo = mid + 1;
    else hi = mid - 1;
  }
  return -1;
}

/* The scores file, validated and read by every rank (scores and paths);
 * closed again before the ground truth is listed. Collective. */
static TcErr read_scores_(Eval_ *e) {
  TcH5File *f = NULL;
  TcErr err = tc_agree(e->comm, tc_scores_open(e->comm, e->scores_path, &f, &e->sm));
  if (err) return err;
  e->r = tc_calloc(1, sizeof(TcEvalResult), "eval result");
  if (e->r) {
    snprintf(e->r->path, sizeof e->r->path, "%s", e->scores_path);
    snprintf(e->r->method, sizeof e->r->method, "%s", e->sm.method);
    snprintf(e->r->source, sizeof e->r->source, "%s", e->sm.source);
  }
  err = tc_agree(e->comm, e->r ? TC_OK : TC_ERR_MEM);
  if (!err) {
    e->scores = tc_malloc(sizeof(float) * (size_t)e->sm.T, "image scores");
    err = tc_agree(e->comm, e->scores ? TC_OK : TC_ERR_MEM);
  }
  if (!err) err = tc_agree(e->comm, tc_scores_read_image_scores(f, &e->sm, e->scores));
  if (!err) err = tc_agree(e->comm, tc_scores_read_paths(f, &e->sm, &e->paths));
  if (!err && e->sm.calibrated) {
    e->dec = tc_malloc((size_t)e->sm.T, "decisions");
    err = tc_agree(e->comm, e->dec ? tc_scores_read_decisions(f, &e->sm, e->dec) : TC_ERR_MEM);
  }
  tc_h5_close(&f);
  return err;
}

/* Each scored image's item in ROOT's test split (listed by every rank: a
 * directory walk, deterministic, no broadcast of a nested structure): its
 * label, and a mask file for an anomalous one. Local. */
static TcErr match_ground_truth_(Eval_ *e) {
  const int64_t T = e->sm.T;
  TC_CALL(tc_dataset_list(e->root, "test", &e->ds));
  const TcDataset *ds = e->ds;
  e->sorted = tc_malloc(sizeof(*e->sorted) * (size_t)ds->n, "listing index");
  e->match = tc_calloc((size_t)T, sizeof(*e->match), "matches");
  e->labels = tc_malloc((size_t)T, "labels");
  e->cls_of = tc_malloc(sizeof(int) * (size_t)T, "classes");
  e->seen = tc_calloc((size_t)ds->n + 1, 1, "seen flags");
  if (!e->sorted || !e->match || !e->labels || !e->cls_of || !e->seen) return TC_ERR_MEM;
  for (int64_t i = 0; i < ds->n; i++) e->sorted[i] = &ds->items[i];
  qsort(e->sorted, (size_t)ds->n, sizeof *e->sorted, cmp_item_path_);
  for (int64_t i = 0; i < T; i++) {
    TcDatasetItem key = {0}, *kp = &key, **hit;
    key.path = (char *)relative_(e->paths[i], e->root);
    hit = bsearch(&kp, e->sorted, (size_t)ds->n, sizeof *e->sorted, cmp_item_path_);
    TC_CHECK(hit, TC_ERR_FORMAT,
             "%s: image '%s' is not in the test split of %s: no ground truth for it "
             "(scores of another data set?)",
             e->scores_path, e->paths[i], e->root);
    e->match[i] = *hit;
    e->labels[i] = strcmp((*hit)->defect, "good") != 0;
    TC_CHECK(!e->labels[i] || (*hit)->mask_path, TC_ERR_FORMAT,
             "%s: no ground-truth mask for '%s' (expected under %s/%s/ground_truth/%s/)", e->scores_path,
             (*hit)->path, e->root, (*hit)->class_name, (*hit)->defect);
    /* a duplicate would count an image twice in its class's AUROC */
    TC_CHECK(!e->seen[*hit - ds->items]++, TC_ERR_FORMAT, "%s: image '%s' is scored twice", e->scores_path,
             e->paths[i]);
  }
  return TC_OK;
}

/* The result's classes: the distinct class names of the scored images,
 * sorted, with their image counts. Local. */
static TcErr build_classes_(Eval_ *e) {
  const TcDataset *ds = e->ds;
  TcEvalResult *r = e->r;
  r->classes = tc_calloc((size_t)(ds->n_classes > 0 ? ds->n_classes : 1), sizeof(TcEvalClass), "classes");
  if (!r->classes) return TC_ERR_MEM;
  for (int c = 0; c < ds->n_classes; c++) {
    int used = 0;
    for (int64_t i = 0; i < e->sm.T && !used; i++) used = !strcmp(e->match[i]->class_name, ds->classes[c]);
    if (!used) continue;
    TcEvalClass *ec = &r->classes[r->n_classes++];
    snprintf(ec->name, sizeof ec->name, "%s", ds->classes[c]);
    ec->is_tail = -1;
  }
  for (int64_t i = 0; i < e->sm.T; i++) {
    e->cls_of[i] = class_index_(r, e->match[i]->class_name);
    r->classes[e->cls_of[i]].n_images++;
    r->classes[e->cls_of[i]].n_anomalous += e->labels[i];
  }
  for (int64_t i = 0; i < ds->n; i++) {
    int c = class_index_(r, ds->items[i].class_name);
    if (c >= 0) r->classes[c].n_unscored++;
  }
  for (int c = 0; c < r->n_classes; c++) r->classes[c].n_unscored -= r->classes[c].n_images;
  return TC_OK;
}

/* Tail/head membership from the dataset info, which must name exactly the
 * scored classes. Local. */
static TcErr apply_info_(Eval_ *e, const TcDatasetInfo *info) {
  TcEvalResult *r = e->r;
  for (int c = 0; c < r->n_classes; c++) {
    const TcClassInfo *ci = tc_dataset_info_class(info, r->classes[c].name);
    TC_CHECK(ci, TC_ERR_FORMAT, "%s: class '%s' is scored but not in the dataset info", e->scores_path,
             r->classes[c].name);
    r->classes[c].is_tail = ci->is_tail ? 1 : 0;
  }
  for (int c = 0; c < info->n_classes; c++)
    TC_CHECK(class_index_(r, info->classes[c].name) >= 0, TC_ERR_FORMAT,
             "%s: missing class '%s': the dataset info lists it but the scores file has no "
             "image of it",
             e->scores_path, info->classes[c].name);
  return TC_OK;
}

/* The image AUROC of every class (every rank, cheap). Local. */
static TcErr image_aurocs_(Eval_ *e) {
  const int64_t T = e->sm.T;
  TcErr err = TC_OK;
  float *cs = tc_malloc(sizeof(float) * (size_t)T, "class scores");
  uint8_t *cl = tc_malloc((size_t)T, "class labels");
  if (!cs || !cl) err = TC_ERR_MEM;
  for (int c = 0; !err && c < e->r->n_classes; c++) {
    int64_t n = 0;
    for (int64_t i = 0; i < T; i++)
      if (e->cls_of[i] == c) {
        cs[n] = e->scores[i];
        cl[n++] = e->labels[i];
      }
    err = tc_metrics_auroc(cs, cl, n, &e->r->classes[c].image_auroc);
  }
  free(cs);
  free(cl);
  return err;
}

/* The ground-truth mask of scored image i into e->mask: zero for a good
 * image, else its mask file resized and cropped as the maps were. Local. */
static TcErr truth_mask_(Eval_ *e, int64_t i, const TcPreproc *pp) {
  memset(e->mask, 0, (size_t)(e->sm.crop * e->sm.crop));
  if (!e->labels[i]) return TC_OK;
  char mp[4096];
  snprintf(mp, sizeof mp, "%s/%s", e->root, e->match[i]->mask_path);
  TcImage mk;
  memset(&mk, 0, sizeof mk);
  TcErr err = tc_image_read_gray(mp, &mk);
  if (!err && (err = tc_resize_mask(&mk, pp, e->mask)) != TC_OK) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", tc_err_message());
    tc_err_clear();
    err = tc_err_set(err, "%s: %s", mp, msg);
  }
  tc_image_free(&mk);
  return err;
}

/* The pixel AUROC of class c, its maps read one at a time from sf. Local. */
static TcErr class_pixel_auroc_(Eval_ *e, TcH5File *sf, const TcPreproc *pp, int c, double *auc) {
  const int64_t pixels = e->sm.crop * e->sm.crop;
  TcAuroc *acc = NULL;
  TcErr err = tc_auroc_create(&acc);
  for (int64_t i = 0; !err && i < e->sm.T; i++) {
    if (e->cls_of[i] != c) continue;
    err = tc_scores_read_map(sf, &e->sm, i, e->map);
    if (!err) err = truth_mask_(e, i, pp);
    if (!err) err = tc_auroc_add(acc, e->map, e->mask, pixels);
  }
  if (!err) err = tc_auroc_finish(acc, auc);
  tc_auroc_destroy(&acc);
  return err;
}

/* Pixel AUROC: class c on rank c % size, through that rank's own serial
 * handle of the file; one reduction gives every rank every value. Collective. */
static TcErr pixel_aurocs_(Eval_ *e) {
  const int64_t pixels = e->sm.crop * e->sm.crop;
  const int n_classes = e->r->n_classes;
  e->pix = tc_calloc((size_t)n_classes, sizeof(double), "pixel aurocs");
  e->map = tc_malloc(sizeof(float) * (size_t)pixels, "map");
  e->mask = tc_malloc((size_t)pixels, "mask");
  TcErr err = tc_agree(e->comm, e->pix && e->map && e->mask ? TC_OK : TC_ERR_MEM);
  if (err) return err;
  TcH5File *sf = NULL;
  TcScoresMeta own;
  if (e->rank < n_classes) err = tc_scores_open(MPI_COMM_SELF, e->scores_path, &sf, &own);
  TcPreproc pp = {(int)e->sm.resize, (int)e->sm.crop, TC_NORM_IMAGENET};
  for (int c = e->rank; !err && c < n_classes; c += e->size) err = class_pixel_auroc_(e, sf, &pp, c, &e->pix[c]);
  tc_h5_close(&sf);
  err = tc_agree(e->comm, err);
  if (err) return err;
  /* each value has exactly one owner; the others contribute 0 */
  return tc_agree(e->comm, tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, e->pix, n_classes, MPI_DOUBLE, MPI_SUM,
                                                      e->comm),
                                        "MPI_Allreduce (pixel AUROC)"));
}

/* The means over tail, head and all classes of both AUROCs. Local. */
static TcErr group_means_(Eval_ *e) {
  TcEvalResult *r = e->r;
  TcErr err = TC_OK;
  double *iv = tc_malloc(sizeof(double) * (size_t)r->n_classes, "means");
  int *tl = tc_malloc(sizeof(int) * (size_t)r->n_classes, "means");
  if (!iv || !tl) err = TC_ERR_MEM;
  for (int c = 0; !err && c < r->n_classes; c++) {
    r->classes[c].pixel_auroc = e->pix[c];
    iv[c] = r->classes[c].image_auroc;
    tl[c] = r->classes[c].is_tail;
  }
  if (!err) {
    tc_metrics_group_means(iv, tl, r->n_classes, &r->image);
    tc_metrics_group_means(e->pix, tl, r->n_classes, &r->pixel);
  }
  free(iv);
  free(tl);
  return err;
}

/* False rejects and escapes at the scores' decisions. Local. */
static void decision_counts_(Eval_ *e) {
  TcEvalResult *r = e->r;
  r->calibrated = e->dec != NULL;
  r->threshold = e->sm.threshold;
  r->target_frr = e->sm.target_frr;
  for (int64_t i = 0; i < e->sm.T; i++) {
    int ng = e->dec && e->dec[i];
    if (e->labels[i]) r->n_bad++, r->n_bad_ok += e->dec && !ng;
    else r->n_good++, r->n_good_ng += ng;
  }
}

/* The ground truth of every scored image and the classes it gives (checked
 * against the dataset info when there is one). Local. */
static TcErr ground_truth_(Eval_ *e, const TcDatasetInfo *info) {
  TC_CALL(match_ground_truth_(e));
  TC_CALL(build_classes_(e));
  decision_counts_(e);
  if (info) TC_CALL(apply_info_(e, info));
  return TC_OK;
}

TcErr tc_peval_scores(MPI_Comm comm, const char *scores_path, const char *root,
                      const TcDatasetInfo *info, TcEvalResult **out) {
  *out = NULL;
  Eval_ e = {.comm = comm, .rank = tc_rank(comm), .size = tc_size(comm), .scores_path = scores_path, .root = root};
  TcErr err = read_scores_(&e);
  if (!err) err = tc_agree(comm, ground_truth_(&e, info));
  if (!err) err = tc_agree(comm, image_aurocs_(&e));
  if (!err) err = pixel_aurocs_(&e);
  if (!err) err = tc_agree(comm, group_means_(&e));
  if (!err) {
    *out = e.r;
    e.r = NULL;
  }
  eval_free_(&e);
  return err;
}
