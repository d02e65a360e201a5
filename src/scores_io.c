/* scores_io.c - scores.h5 layout and validation (DESIGN 5). See scores_io.h. */
#include "scores_io.h"

#include <math.h>

#include "checked.h"

#include <stdio.h>
#include <string.h>

TcErr tc_scores_create(MPI_Comm comm, const char *path, const TcScoresRun *run, TcH5File **out) {
  TcH5File *f = NULL;
  TC_CALL(tc_h5_create(comm, path, "scores", &f));
  TcErr err = TC_OK;
  const int64_t crop = run->features->crop;
  int64_t sdims[1] = {run->T}, mdims[3] = {run->T, crop, crop};
  TC_CALL_GOTO(err, tc_h5_create_dataset(f, "image_scores", TC_H5_F32, 1, sdims, 0), fail);
  TC_CALL_GOTO(err, tc_h5_create_dataset(f, "anomaly_maps", TC_H5_F32, 3, mdims, 1), fail);
  TC_CALL_GOTO(err, tc_features_meta_write_attrs(f, run->features), fail);
  TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "/", "method", run->method), fail);
  TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "/", "model", run->model), fail);
  TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "/", "source", run->source), fail);
  TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "/", "bank_mode", run->bank_mode), fail);
  TC_CALL_GOTO(err, tc_h5_set_attr_f64(f, "/", "sigma", run->sigma), fail);
  TC_CALL_GOTO(err, tc_h5_set_attr_i64(f, "/", "memory_rows", run->memory_rows), fail);
  if (run->calibrated) {
    TC_CALL_GOTO(err, tc_h5_create_dataset(f, "thresholds", TC_H5_F32, 1, sdims, 0), fail);
    TC_CALL_GOTO(err, tc_h5_create_dataset(f, "normalised_scores", TC_H5_F32, 1, sdims, 0), fail);
    TC_CALL_GOTO(err, tc_h5_create_dataset(f, "decisions", TC_H5_U8, 1, sdims, 0), fail);
    TC_CALL_GOTO(err, tc_h5_set_attr_f64(f, "/", "threshold", run->threshold), fail);
    TC_CALL_GOTO(err, tc_h5_set_attr_f64(f, "/", "target_frr", run->target_frr), fail);
    TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "/", "calibration", run->calibration), fail);
  }
  *out = f;
  return TC_OK;
fail:
  tc_h5_abandon(&f);
  return err;
}

TcErr tc_scores_write_images(TcH5File *f, int64_t row0, int64_t n, const float *scores, const float *maps) {
  TC_CALL(tc_h5_write_rows(f, "image_scores", TC_H5_F32, row0, n, scores));
  TC_CALL(tc_h5_write_rows(f, "anomaly_maps", TC_H5_F32, row0, n, maps));
  return TC_OK;
}

TcErr tc_scores_write_decisions(TcH5File *f, int64_t row0, int64_t n, const float *thresholds,
                                const float *normalised, const uint8_t *decisions) {
  TC_CALL(tc_h5_write_rows(f, "thresholds", TC_H5_F32, row0, n, thresholds));
  TC_CALL(tc_h5_write_rows(f, "normalised_scores", TC_H5_F32, row0, n, normalised));
  return tc_h5_write_rows(f, "decisions", TC_H5_U8, row0, n, decisions);
}

TcErr tc_scores_write_ivf(TcH5File *f, const TcScoresIvf *iv) {
  TC_CALL(tc_h5_set_attr_str(f, "/", "search", "ivf"));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "ivf_nlist", iv->nlist));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "ivf_nprobe", iv->nprobe));
  TC_CALL(tc_h5_set_attr_f64(f, "/", "ivf_recall", iv->recall));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "ivf_recall_patches", iv->recall_patches));
  TC_CALL(tc_h5_set_attr_str(f, "/", "ivf_image_score", iv->exact_images ? "exact" : "ivf"));
  return tc_h5_set_attr_i64(f, "/", "ivf_exact_patches", iv->exact_patches);
}

TcErr tc_scores_read_decisions(TcH5File *f, const TcScoresMeta *meta, uint8_t *dec) {
  TC_CHECK(meta->calibrated, TC_ERR_FORMAT, "%s: no /decisions (the model was not calibrated)", tc_h5_path(f));
  TC_CALL(tc_h5_read_rows(f, "decisions", TC_H5_U8, 0, meta->T, dec));
  for (int64_t i = 0; i < meta->T; i++)
    TC_CHECK(dec[i] <= 1, TC_ERR_FORMAT, "%s: /decisions[%lld] = %d is neither 0 (OK) nor 1 (NG)", tc_h5_path(f),
             (long long)i, dec[i]);
  return TC_OK;
}

TcErr tc_scores_write_paths(TcH5File *f, int64_t T, int64_t row0, int64_t n, const char *const *paths) {
  return tc_h5_write_strings(f, "paths", T, row0, n, paths);
}

/* The checks in the order their messages have always come: the extents and
 * geometry first, then the optional method. */
static TcErr read_meta_(TcH5File *f, const char *path, TcScoresMeta *m) {
  int nd = 0;
  int64_t d[4] = {0};
  TC_CALL(tc_h5_dims(f, "image_scores", &nd, d));
  m->T = d[0];
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "crop", 1, TC_FEATURES_MAX_SIDE, &m->crop));
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "resize", 1, TC_FEATURES_MAX_SIDE, &m->resize));
  int64_t sdims[1] = {m->T}, mdims[3] = {m->T, m->crop, m->crop};
  TC_CALL(tc_h5_expect(f, "image_scores", TC_H5_F32, 1, sdims));
  TC_CALL(tc_h5_expect(f, "anomaly_maps", TC_H5_F32, 3, mdims));
  TC_CHECK(m->T > 0, TC_ERR_FORMAT, "%s: no images", path);
  TC_CHECK(m->crop > 0 && m->resize >= m->crop, TC_ERR_FORMAT, "%s: bad geometry (resize %lld, crop %lld)", path,
           (long long)m->resize, (long long)m->crop);
  snprintf(m->method, sizeof m->method, "?");
  if (tc_h5_has_attr(f, "/", "method")) TC_CALL(tc_h5_get_attr_str(f, "/", "method", m->method, sizeof m->method));
  if (tc_h5_has_attr(f, "/", "source")) TC_CALL(tc_h5_get_attr_str(f, "/", "source", m->source, sizeof m->source));
  m->threshold = m->target_frr = NAN;
  m->calibrated = tc_h5_exists(f, "decisions");
  if (m->calibrated) {
    TC_CALL(tc_h5_expect(f, "decisions", TC_H5_U8, 1, sdims));
    TC_CALL(tc_h5_get_attr_f64(f, "/", "threshold", &m->threshold));
    TC_CALL(tc_h5_get_attr_f64(f, "/", "target_frr", &m->target_frr));
  }
  return TC_OK;
}

TcErr tc_scores_open(MPI_Comm comm, const char *path, TcH5File **out, TcScoresMeta *meta) {
  memset(meta, 0, sizeof *meta);
  TC_CALL(tc_h5_open(comm, path, "scores", out));
  TcErr err = read_meta_(*out, path, meta);
  if (err) tc_h5_close(out); /* nothing stays open on error */
  return err;
}

/* A score that is not a finite number would reach the AUROC far from its
 * file (make fuzz seed 4, h5_00543: "auroc: score 0 is NaN"). */
static TcErr check_scores_(TcH5File *f, const char *dset, const float *x, int64_t row0, int64_t n, int64_t len) {
  int64_t bad = tc_first_bad_f32(x, n * len, TC_VALUE_ABS_MAX);
  TC_CHECK(bad < 0, TC_ERR_FORMAT, "%s: image %lld: /%s holds %s (values must be finite, |x| <= %g)",
           tc_h5_path(f), (long long)(row0 + bad / len), dset, tc_value_str(x[bad]), (double)TC_VALUE_ABS_MAX);
  return TC_OK;
}

TcErr tc_scores_read_image_scores(TcH5File *f, const TcScoresMeta *meta, float *scores) {
  TC_CALL(tc_h5_read_rows(f, "image_scores", TC_H5_F32, 0, meta->T, scores));
  return check_scores_(f, "image_scores", scores, 0, meta->T, 1);
}

TcErr tc_scores_read_paths(TcH5File *f, const TcScoresMeta *meta, char ***paths) {
  return tc_h5_read_strings(f, "paths", 0, meta->T, paths);
}

TcErr tc_scores_read_map(TcH5File *f, const TcScoresMeta *meta, int64_t row, float *map) {
  TC_CALL(tc_h5_read_rows(f, "anomaly_maps", TC_H5_F32, row, 1, map));
  return check_scores_(f, "anomaly_maps", map, row, 1, meta->crop * meta->crop);
}
