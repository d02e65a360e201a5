/* peval.c - AUROC per class of a scores file against the MVTec ground
 * truth (DESIGN 3.7). See peval.h. */
#include "peval.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "features_io.h"
#include "h5fmt.h"
#include "image.h"
#include "log.h"
#include "resize.h"

void tc_eval_result_destroy(TcEvalResult **r) {
  if (!r || !*r) return;
  free((*r)->classes);
  free(*r);
  *r = NULL;
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

TcErr tc_peval_scores(MPI_Comm comm, const char *scores_path, const char *root,
                      const TcDatasetInfo *info, TcEvalResult **out) {
  *out = NULL;
  int rank = tc_rank(comm), size = tc_size(comm);
  TcErr err = TC_OK;
  TcH5File *f = NULL;
  TcDataset *ds = NULL;
  TcDatasetItem **sorted = NULL;
  const TcDatasetItem **match = NULL;
  char **paths = NULL;
  float *scores = NULL, *map = NULL;
  uint8_t *labels = NULL, *mask = NULL, *seen = NULL;
  int *cls_of = NULL;
  double *pix = NULL;
  TcEvalResult *r = NULL;
  int64_t T = 0, crop = 0, resize = 0;

  /* ---- the scores file, read by every rank */
  err = tc_agree(comm, tc_h5_open(comm, scores_path, "scores", &f));
  if (err) return err;
  {
    int nd = 0;
    int64_t d[4] = {0};
    err = tc_h5_dims(f, "image_scores", &nd, d);
    if (!err) T = d[0];
    if (!err) err = tc_h5_get_attr_i64_range(f, "/", "crop", 1, TC_FEATURES_MAX_SIDE, &crop);
    if (!err) err = tc_h5_get_attr_i64_range(f, "/", "resize", 1, TC_FEATURES_MAX_SIDE, &resize);
    int64_t sd[1] = {T}, md[3] = {T, crop, crop};
    if (!err) err = tc_h5_expect(f, "image_scores", TC_H5_F32, 1, sd);
    if (!err) err = tc_h5_expect(f, "anomaly_maps", TC_H5_F32, 3, md);
    if (!err && T <= 0) err = tc_err_set(TC_ERR_FORMAT, "%s: no images", scores_path);
    if (!err && (crop <= 0 || resize < crop))
      err = tc_err_set(TC_ERR_FORMAT, "%s: bad geometry (resize %lld, crop %lld)", scores_path,
                       (long long)resize, (long long)crop);
    r = tc_calloc(1, sizeof(TcEvalResult), "eval result");
    if (!err && !r) err = TC_ERR_MEM;
    if (!err) {
      snprintf(r->path, sizeof r->path, "%s", scores_path);
      snprintf(r->method, sizeof r->method, "?");
      if (tc_h5_has_attr(f, "/", "method"))
        err = tc_h5_get_attr_str(f, "/", "method", r->method, sizeof r->method);
    }
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  scores = tc_malloc(sizeof(float) * (size_t)T, "image scores");
  err = tc_agree(comm, scores ? TC_OK : TC_ERR_MEM);
  if (err) goto cleanup;
  err = tc_agree(comm, tc_h5_read_rows(f, "image_scores", TC_H5_F32, 0, T, scores));
  if (err) goto cleanup;
  err = tc_agree(comm, tc_h5_read_strings(f, "paths", 0, T, &paths));
  if (err) goto cleanup;
  tc_h5_close(&f);

  /* ---- ground truth: the test split of ROOT (listed by every rank: a
   * directory walk, deterministic, no broadcast of a nested structure) */
  err = tc_dataset_list(root, "test", &ds);
  if (!err) {
    sorted = tc_malloc(sizeof(*sorted) * (size_t)ds->n, "listing index");
    match = tc_calloc((size_t)T, sizeof(*match), "matches");
    labels = tc_malloc((size_t)T, "labels");
    cls_of = tc_malloc(sizeof(int) * (size_t)T, "classes");
    seen = tc_calloc((size_t)ds->n + 1, 1, "seen flags");
    if (!sorted || !match || !labels || !cls_of || !seen) err = TC_ERR_MEM;
  }
  if (!err) {
    for (int64_t i = 0; i < ds->n; i++) sorted[i] = &ds->items[i];
    qsort(sorted, (size_t)ds->n, sizeof *sorted, cmp_item_path_);
    for (int64_t i = 0; i < T && !err; i++) {
      TcDatasetItem key = {0}, *kp = &key, **hit;
      key.path = (char *)relative_(paths[i], root);
      hit = bsearch(&kp, sorted, (size_t)ds->n, sizeof *sorted, cmp_item_path_);
      if (!hit) {
        err = tc_err_set(TC_ERR_FORMAT,
                         "%s: image '%s' is not in the test split of %s: no ground truth for it "
                         "(scores of another data set?)",
                         scores_path, paths[i], root);
        break;
      }
      match[i] = *hit;
      labels[i] = strcmp((*hit)->defect, "good") != 0;
      if (labels[i] && !(*hit)->mask_path)
        err = tc_err_set(TC_ERR_FORMAT, "%s: no ground-truth mask for '%s' (expected under %s/%s/ground_truth/%s/)",
                         scores_path, (*hit)->path, root, (*hit)->class_name, (*hit)->defect);
      /* a duplicate would count an image twice in its class's AUROC */
      if (!err && seen[*hit - ds->items]++)
        err = tc_err_set(TC_ERR_FORMAT, "%s: image '%s' is scored twice", scores_path, paths[i]);
    }
  }
  /* classes: the distinct class names of the scored images, sorted */
  if (!err) {
    r->classes = tc_calloc((size_t)(ds->n_classes > 0 ? ds->n_classes : 1), sizeof(TcEvalClass), "classes");
    if (!r->classes) err = TC_ERR_MEM;
    for (int c = 0; !err && c < ds->n_classes; c++) {
      int used = 0;
      for (int64_t i = 0; i < T && !used; i++) used = !strcmp(match[i]->class_name, ds->classes[c]);
      if (!used) continue;
      TcEvalClass *ec = &r->classes[r->n_classes++];
      snprintf(ec->name, sizeof ec->name, "%s", ds->classes[c]);
      ec->is_tail = -1;
    }
    for (int64_t i = 0; !err && i < T; i++) {
      cls_of[i] = class_index_(r, match[i]->class_name);
      r->classes[cls_of[i]].n_images++;
      r->classes[cls_of[i]].n_anomalous += labels[i];
    }
    for (int64_t i = 0; !err && i < ds->n; i++) {
      int c = class_index_(r, ds->items[i].class_name);
      if (c >= 0) r->classes[c].n_unscored++;
    }
    for (int c = 0; !err && c < r->n_classes; c++) r->classes[c].n_unscored -= r->classes[c].n_images;
  }
  if (!err && info) {
    for (int c = 0; !err && c < r->n_classes; c++) {
      const TcClassInfo *ci = tc_dataset_info_class(info, r->classes[c].name);
      if (!ci)
        err = tc_err_set(TC_ERR_FORMAT, "%s: class '%s' is scored but not in the dataset info",
                         scores_path, r->classes[c].name);
      else r->classes[c].is_tail = ci->is_tail ? 1 : 0;
    }
    for (int c = 0; !err && c < info->n_classes; c++)
      if (class_index_(r, info->classes[c].name) < 0)
        err = tc_err_set(TC_ERR_FORMAT,
                         "%s: missing class '%s': the dataset info lists it but the scores file has no "
                         "image of it",
                         scores_path, info->classes[c].name);
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;

  /* ---- image AUROC per class (every rank, cheap) */
  {
    float *cs = tc_malloc(sizeof(float) * (size_t)T, "class scores");
    uint8_t *cl = tc_malloc((size_t)T, "class labels");
    if (!cs || !cl) err = TC_ERR_MEM;
    for (int c = 0; !err && c < r->n_classes; c++) {
      int64_t n = 0;
      for (int64_t i = 0; i < T; i++)
        if (cls_of[i] == c) {
          cs[n] = scores[i];
          cl[n++] = labels[i];
        }
      err = tc_metrics_auroc(cs, cl, n, &r->classes[c].image_auroc);
    }
    free(cs);
    free(cl);
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;

  /* ---- pixel AUROC: class c on rank c % size, maps read one at a time */
  pix = tc_calloc((size_t)r->n_classes, sizeof(double), "pixel aurocs");
  map = tc_malloc(sizeof(float) * (size_t)(crop * crop), "map");
  mask = tc_malloc((size_t)(crop * crop), "mask");
  err = tc_agree(comm, pix && map && mask ? TC_OK : TC_ERR_MEM);
  if (err) goto cleanup;
  {
    int mine = 0;
    for (int c = rank; c < r->n_classes; c += size) mine = 1;
    TcH5File *sf = NULL;
    if (mine) err = tc_h5_open(MPI_COMM_SELF, scores_path, "scores", &sf);
    TcPreproc pp = {(int)resize, (int)crop, TC_NORM_IMAGENET};
    for (int c = rank; !err && c < r->n_classes; c += size) {
      TcAuroc *acc = NULL;
      err = tc_auroc_create(&acc);
      for (int64_t i = 0; !err && i < T; i++) {
        if (cls_of[i] != c) continue;
        err = tc_h5_read_rows(sf, "anomaly_maps", TC_H5_F32, i, 1, map);
        if (err) break;
        memset(mask, 0, (size_t)(crop * crop));
        if (labels[i]) {
          char mp[4096];
          snprintf(mp, sizeof mp, "%s/%s", root, match[i]->mask_path);
          TcImage mk;
          memset(&mk, 0, sizeof mk);
          err = tc_image_read_gray(mp, &mk);
          if (!err && (err = tc_resize_mask(&mk, &pp, mask)) != TC_OK) {
            char msg[512];
            snprintf(msg, sizeof msg, "%s", tc_err_message());
            tc_err_clear();
            err = tc_err_set(err, "%s: %s", mp, msg);
          }
          tc_image_free(&mk);
          if (err) break;
        }
        err = tc_auroc_add(acc, map, mask, crop * crop);
      }
      if (!err) err = tc_auroc_finish(acc, &pix[c]);
      tc_auroc_destroy(&acc);
    }
    if (sf) tc_h5_close(&sf);
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  /* each value has exactly one owner; the others contribute 0 */
  err = tc_agree(comm, tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, pix, r->n_classes, MPI_DOUBLE, MPI_SUM, comm),
                                    "MPI_Allreduce (pixel AUROC)"));
  if (err) goto cleanup;
  {
    double *iv = tc_malloc(sizeof(double) * (size_t)r->n_classes, "means");
    int *tl = tc_malloc(sizeof(int) * (size_t)r->n_classes, "means");
    if (!iv || !tl) err = TC_ERR_MEM;
    for (int c = 0; !err && c < r->n_classes; c++) {
      r->classes[c].pixel_auroc = pix[c];
      iv[c] = r->classes[c].image_auroc;
      tl[c] = r->classes[c].is_tail;
    }
    if (!err) {
      tc_metrics_group_means(iv, tl, r->n_classes, &r->image);
      tc_metrics_group_means(pix, tl, r->n_classes, &r->pixel);
    }
    free(iv);
    free(tl);
  }
  err = tc_agree(comm, err);

cleanup:
  tc_h5_close(&f);
  if (!err) {
    *out = r;
    r = NULL;
  }
  tc_eval_result_destroy(&r);
  free(pix);
  free(mask);
  free(map);
  free(cls_of);
  free(seen);
  free(labels);
  free(match);
  free(sorted);
  free(paths);
  free(scores);
  tc_dataset_destroy(&ds);
  return err;
}
