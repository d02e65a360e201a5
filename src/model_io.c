/* model_io.c - model.h5 layout and validation (DESIGN 5). See model_io.h. */
#include "model_io.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

#include "checked.h"
#include "method.h"

#define KIND "model"
#define BANK "memory_bank"
#define WEIGHTS "memory_weights"
#define INDICES "coreset/indices"
#define CLEAN_ORDER "coreset/clean_order"
#define TAIL_ORDER "coreset/tail_order"
#define METHOD_ATTR "method" /* = TcModelInfo's field, written from attrs_ */

TcErr tc_model_create(MPI_Comm comm, const char *path, int64_t M, int64_t D, int64_t m_clean,
                      int64_t m_tail, TcH5File **out) {
  TcH5File *f = NULL;
  TC_CALL(tc_h5_create(comm, path, KIND, &f));
  TcErr err = TC_OK;
  int64_t dbank[2] = {M, D}, dM[1] = {M}, dclean[1] = {m_clean}, dtail[1] = {m_tail};
  TC_CALL_GOTO(err, tc_h5_create_dataset(f, BANK, TC_H5_F32, 2, dbank, 0), fail);
  TC_CALL_GOTO(err, tc_h5_create_dataset(f, WEIGHTS, TC_H5_F32, 1, dM, 0), fail);
  TC_CALL_GOTO(err, tc_h5_create_dataset(f, INDICES, TC_H5_I64, 1, dM, 0), fail);
  TC_CALL_GOTO(err, tc_h5_create_dataset(f, CLEAN_ORDER, TC_H5_I64, 1, dclean, 0), fail);
  TC_CALL_GOTO(err, tc_h5_create_dataset(f, TAIL_ORDER, TC_H5_I64, 1, dtail, 0), fail);
  *out = f;
  return TC_OK;
fail:
  tc_h5_abandon(&f);
  return err;
}

TcErr tc_model_write_rows(TcH5File *f, int64_t row0, int64_t n, const float *rows, const float *weights) {
  TC_CALL(tc_h5_write_rows(f, BANK, TC_H5_F32, row0, n, rows));
  TC_CALL(tc_h5_write_rows(f, WEIGHTS, TC_H5_F32, row0, n, weights));
  return TC_OK;
}

TcErr tc_model_write_coreset(TcH5File *f, int writer, int64_t M, const int64_t *indices, int64_t m_clean,
                             const int64_t *clean, int64_t m_tail, const int64_t *tail) {
  int64_t none = -1; /* HDF5 wants a buffer even for 0 rows */
  TC_CALL(tc_h5_write_rows(f, INDICES, TC_H5_I64, 0, writer ? M : 0, indices));
  /* h5fmt cannot write a 0-extent dataset: such a dataset stays empty */
  if (m_clean > 0)
    TC_CALL(tc_h5_write_rows(f, CLEAN_ORDER, TC_H5_I64, 0, writer ? m_clean : 0, clean ? clean : &none));
  if (m_tail > 0)
    TC_CALL(tc_h5_write_rows(f, TAIL_ORDER, TC_H5_I64, 0, writer ? m_tail : 0, tail ? tail : &none));
  return TC_OK;
}

/* The root attributes, in the order written, each named as its field of
 * TcModelInfo. */
typedef enum { ATTR_STR, ATTR_I64, ATTR_F64 } AttrType;
#define ATTR_(type, field) {#field, type, offsetof(TcModelInfo, field)}
static const struct {
  const char *name;
  AttrType type;
  size_t offset;
} attrs_[] = {
    ATTR_(ATTR_STR, method),
    ATTR_(ATTR_F64, coreset_ratio),
    ATTR_(ATTR_F64, tail_coreset_ratio),
    ATTR_(ATTR_STR, coreset_mode),
    ATTR_(ATTR_I64, coreset_shard),
    ATTR_(ATTR_F64, coreset_oversample),
    ATTR_(ATTR_STR, tail_coreset),
    ATTR_(ATTR_I64, proj_dim),
    ATTR_(ATTR_I64, lof_k),
    ATTR_(ATTR_F64, lof_keep),
    ATTR_(ATTR_F64, tail_p),
    ATTR_(ATTR_STR, tail_cut),
    ATTR_(ATTR_STR, embed_norm),
    ATTR_(ATTR_STR, tail_aug),
    ATTR_(ATTR_STR, tail_views),
    ATTR_(ATTR_I64, tail_views_per_image),
    ATTR_(ATTR_I64, tail_view_images),
    ATTR_(ATTR_I64, tail_view_patches),
    ATTR_(ATTR_I64, seed),
    ATTR_(ATTR_STR, program_version),
    ATTR_(ATTR_STR, source_features),
    ATTR_(ATTR_I64, N),
    ATTR_(ATTR_I64, n_patches),
    ATTR_(ATTR_I64, M),
    ATTR_(ATTR_I64, coreset_clean_size),
    ATTR_(ATTR_I64, coreset_tail_size),
    ATTR_(ATTR_I64, coreset_clean_candidates),
    ATTR_(ATTR_I64, coreset_tail_candidates),
    ATTR_(ATTR_I64, lof_removed),
    ATTR_(ATTR_F64, lof_threshold),
};
#undef ATTR_

TcErr tc_model_write_info(TcH5File *f, const TcModelInfo *m) {
  TC_CALL(tc_features_meta_write_attrs(f, m->features));
  for (size_t i = 0; i < sizeof attrs_ / sizeof attrs_[0]; i++) {
    const char *field = (const char *)m + attrs_[i].offset;
    switch (attrs_[i].type) {
      case ATTR_STR: {
        const char *s = *(const char *const *)field;
        TC_CHECK(s, TC_ERR_INTERNAL, "model attribute %s not set", attrs_[i].name);
        TC_CALL(tc_h5_set_attr_str(f, "/", attrs_[i].name, s));
        break;
      }
      case ATTR_I64: TC_CALL(tc_h5_set_attr_i64(f, "/", attrs_[i].name, *(const int64_t *)field)); break;
      case ATTR_F64: TC_CALL(tc_h5_set_attr_f64(f, "/", attrs_[i].name, *(const double *)field)); break;
    }
  }
  return TC_OK;
}

TcErr tc_model_open(MPI_Comm comm, const char *path, TcH5File **out) {
  return tc_h5_open(comm, path, KIND, out);
}

TcErr tc_model_read_meta(TcH5File *f, TcModelMeta *m) {
  memset(m, 0, sizeof *m);
  TC_CALL(tc_features_meta_read_attrs(f, &m->features));
  TC_CALL(tc_h5_get_attr_str(f, "/", METHOD_ATTR, m->method, sizeof m->method));
  return TC_OK;
}

TcErr tc_model_check_bank(TcH5File *f, TcModelMeta *m) {
  int nd = 0;
  int64_t dims[4] = {0}, want_bank[2] = {-1, m->features.D};
  TC_CALL(tc_h5_dims(f, BANK, &nd, dims));
  TC_CALL(tc_h5_expect(f, BANK, TC_H5_F32, 2, want_bank));
  m->M = dims[0];
  TC_CHECK(m->M > 0, TC_ERR_FORMAT, "%s: /" BANK " is empty", tc_h5_path(f));
  const TcMethod *method = tc_method_find(m->method);
  m->weights_scores = method && method->weights_scores;
  m->has_weights = tc_h5_exists(f, WEIGHTS);
  TC_CHECK(m->has_weights, TC_ERR_FORMAT, "%s: method %s but no /" WEIGHTS "%s", tc_h5_path(f), m->method,
           m->weights_scores ? "" : " (fit writes them for every method: a damaged model)");
  int64_t want_weights[1] = {m->M};
  TC_CALL(tc_h5_expect(f, WEIGHTS, TC_H5_F32, 1, want_weights));
  return TC_OK;
}

TcErr tc_model_read_rows(TcH5File *f, const TcModelMeta *m, int64_t row0, int64_t n, float *bank,
                         float *weights) {
  const int64_t D = m->features.D;
  TC_CALL(tc_h5_read_rows(f, BANK, TC_H5_F32, row0, n, bank));
  if (weights) TC_CALL(tc_h5_read_rows(f, WEIGHTS, TC_H5_F32, 0, m->M, weights));
  /* a NaN row has no distance to anything: refused here, naming it, not
   * later as a patch without a neighbour */
  int64_t bad = tc_first_bad_f32(bank, n * D, TC_VALUE_ABS_MAX);
  TC_CHECK(bad < 0, TC_ERR_FORMAT,
           "%s: /" BANK " row %lld holds %s at column %lld (values must be finite, |x| <= %g)", tc_h5_path(f),
           (long long)(row0 + bad / D), tc_value_str(bank[bad]), (long long)(bad % D), (double)TC_VALUE_ABS_MAX);
  return TC_OK;
}

TcErr tc_model_check_weights(const TcH5File *f, const TcModelMeta *m, const float *weights) {
  for (int64_t i = 0; weights && i < m->M; i++)
    TC_CHECK(isfinite(weights[i]) && fabsf(weights[i]) <= TC_VALUE_ABS_MAX, TC_ERR_FORMAT,
             "%s: /" WEIGHTS "[%lld] holds %s (values must be finite, |x| <= %g)", tc_h5_path(f), (long long)i,
             tc_value_str(weights[i]), (double)TC_VALUE_ABS_MAX);
  return TC_OK;
}

/* ------------------------------------------------------ the calibration */

#define CAL "calibration"

TcErr tc_model_write_calibration(TcH5File *f, int writer, const TcCalibration *c) {
  const int64_t n = c->n_val, k = c->n_classes;
  TC_CALL(tc_h5_create_dataset(f, CAL "/val_scores", TC_H5_F32, 1, &n, 0));
  TC_CALL(tc_h5_write_rows(f, CAL "/val_scores", TC_H5_F32, 0, writer ? n : 0, c->val_scores));
  TC_CALL(tc_h5_create_dataset(f, CAL "/val_class", TC_H5_I64, 1, &n, 0));
  TC_CALL(tc_h5_write_rows(f, CAL "/val_class", TC_H5_I64, 0, writer ? n : 0, c->val_class));
  TC_CALL(tc_h5_write_strings(f, CAL "/val_paths", n, 0, writer ? n : 0, (const char *const *)c->val_paths));
  if (k > 0) {
    TC_CALL(tc_h5_write_strings(f, CAL "/class_names", k, 0, writer ? k : 0,
                                (const char *const *)c->class_names));
    TC_CALL(tc_h5_create_dataset(f, CAL "/class_thresholds", TC_H5_F32, 1, &k, 0));
    TC_CALL(tc_h5_write_rows(f, CAL "/class_thresholds", TC_H5_F32, 0, writer ? k : 0, c->class_thresholds));
    TC_CALL(tc_h5_create_dataset(f, CAL "/class_counts", TC_H5_I64, 1, &k, 0));
    TC_CALL(tc_h5_write_rows(f, CAL "/class_counts", TC_H5_I64, 0, writer ? k : 0, c->class_counts));
  }
  TC_CALL(tc_h5_set_attr_f64(f, CAL, "target_frr", c->target_frr));
  TC_CALL(tc_h5_set_attr_f64(f, CAL, "threshold", (double)c->threshold));
  TC_CALL(tc_h5_set_attr_f64(f, CAL, "expected_frr", c->expected_frr));
  TC_CALL(tc_h5_set_attr_i64(f, CAL, "n_val", n));
  TC_CALL(tc_h5_set_attr_i64(f, CAL, "n_classes", k));
  TC_CALL(tc_h5_set_attr_i64(f, CAL, "bank_digest", (int64_t)c->bank_digest));
  return tc_h5_set_attr_str(f, CAL, "source", c->source);
}

int tc_model_has_calibration(TcH5File *f) { return tc_h5_exists(f, CAL); }

/* The stored arrays, shapes checked first. Collective. */
static TcErr read_calibration_arrays_(TcH5File *f, TcCalibration *c) {
  const int64_t n = c->n_val, k = c->n_classes;
  TC_CALL(tc_h5_expect(f, CAL "/val_scores", TC_H5_F32, 1, &n));
  TC_CALL(tc_h5_expect(f, CAL "/val_class", TC_H5_I64, 1, &n));
  c->val_scores = tc_malloc((size_t)n * sizeof(float), "validation scores");
  c->val_class = tc_malloc((size_t)n * sizeof(int64_t), "validation classes");
  if (!c->val_scores || !c->val_class) return TC_ERR_MEM;
  TC_CALL(tc_h5_read_rows(f, CAL "/val_scores", TC_H5_F32, 0, n, c->val_scores));
  TC_CALL(tc_h5_read_rows(f, CAL "/val_class", TC_H5_I64, 0, n, c->val_class));
  TC_CALL(tc_h5_read_strings(f, CAL "/val_paths", 0, n, &c->val_paths));
  if (k > 0) TC_CALL(tc_h5_read_strings(f, CAL "/class_names", 0, k, &c->class_names));
  for (int64_t i = 0; i < n; i++) {
    TC_CHECK(isfinite(c->val_scores[i]) && c->val_scores[i] >= 0, TC_ERR_FORMAT,
             "%s: /" CAL "/val_scores[%lld] is %g, not a distance", tc_h5_path(f), (long long)i,
             (double)c->val_scores[i]);
    TC_CHECK(c->val_class[i] >= -1 && c->val_class[i] < k, TC_ERR_FORMAT,
             "%s: /" CAL "/val_class[%lld] = %lld is not a class of %lld", tc_h5_path(f), (long long)i,
             (long long)c->val_class[i], (long long)k);
  }
  return TC_OK;
}

TcErr tc_model_read_calibration(TcH5File *f, TcCalibration *c) {
  memset(c, 0, sizeof *c);
  double thr = 0, r = 0;
  TC_CALL(tc_h5_get_attr_f64(f, CAL, "target_frr", &r));
  TC_CALL(tc_h5_get_attr_f64(f, CAL, "threshold", &thr));
  TC_CALL(tc_h5_get_attr_i64_range(f, CAL, "n_val", 1, INT64_C(1) << 40, &c->n_val));
  TC_CALL(tc_h5_get_attr_i64_range(f, CAL, "n_classes", 0, c->n_val, &c->n_classes));
  TC_CALL(tc_h5_get_attr_str(f, CAL, "source", c->source, sizeof c->source));
  int64_t digest = 0;
  TC_CALL(tc_h5_get_attr_i64(f, CAL, "bank_digest", &digest));
  c->bank_digest = (uint64_t)digest;
  TC_CHECK(r > 0 && r < 1, TC_ERR_FORMAT, "%s: /" CAL " target_frr %g is not in (0, 1)", tc_h5_path(f), r);
  TC_CALL(read_calibration_arrays_(f, c));
  /* the stored threshold must be what the rule makes of the stored scores:
   * anything else is a damaged or hand-edited file */
  TC_CALL(tc_calib_compute(c, r));
  TC_CHECK((double)c->threshold == thr, TC_ERR_FORMAT,
           "%s: /" CAL " threshold %.9g is not the rule's %.9g over its %lld validation scores (damaged)",
           tc_h5_path(f), thr, (double)c->threshold, (long long)c->n_val);
  return TC_OK;
}
