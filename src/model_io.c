/* model_io.c - model.h5 layout and validation (DESIGN 5). See model_io.h. */
#include "model_io.h"

#include <math.h>
#include <string.h>

#include "checked.h"
#include "method.h"

#define KIND "model"
#define BANK "memory_bank"
#define WEIGHTS "memory_weights"
#define INDICES "coreset/indices"
#define CLEAN_ORDER "coreset/clean_order"
#define TAIL_ORDER "coreset/tail_order"
#define METHOD "method"

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

/* How the coreset was chosen (the options fit ran with). */
static TcErr write_settings_(TcH5File *f, const TcModelInfo *m) {
  TC_CALL(tc_h5_set_attr_str(f, "/", METHOD, m->method));
  TC_CALL(tc_h5_set_attr_f64(f, "/", "coreset_ratio", m->coreset_ratio));
  TC_CALL(tc_h5_set_attr_str(f, "/", "coreset_mode", m->coreset_mode));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "coreset_shard", m->coreset_shard));
  TC_CALL(tc_h5_set_attr_f64(f, "/", "coreset_oversample", m->coreset_oversample));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "proj_dim", m->proj_dim));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "lof_k", m->lof_k));
  TC_CALL(tc_h5_set_attr_f64(f, "/", "lof_keep", m->lof_keep));
  TC_CALL(tc_h5_set_attr_f64(f, "/", "tail_p", m->tail_p));
  TC_CALL(tc_h5_set_attr_str(f, "/", "tail_cut", m->tail_cut));
  TC_CALL(tc_h5_set_attr_str(f, "/", "embed_norm", m->embed_norm));
  TC_CALL(tc_h5_set_attr_str(f, "/", "tail_aug", m->tail_aug));
  TC_CALL(tc_h5_set_attr_str(f, "/", "tail_views", m->tail_views));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "tail_views_per_image", m->tail_views_per_image));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "tail_view_images", m->tail_view_images));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "tail_view_patches", m->tail_view_patches));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "seed", m->seed));
  TC_CALL(tc_h5_set_attr_str(f, "/", "program_version", m->program_version));
  TC_CALL(tc_h5_set_attr_str(f, "/", "source_features", m->source_features));
  return TC_OK;
}

/* What the run found: sizes of the bank and of each stage's result. */
static TcErr write_counts_(TcH5File *f, const TcModelInfo *m) {
  TC_CALL(tc_h5_set_attr_i64(f, "/", "N", m->N));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "n_patches", m->n_patches));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "M", m->M));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "coreset_clean_size", m->coreset_clean_size));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "coreset_tail_size", m->coreset_tail_size));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "coreset_clean_candidates", m->coreset_clean_candidates));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "coreset_tail_candidates", m->coreset_tail_candidates));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "lof_removed", m->lof_removed));
  TC_CALL(tc_h5_set_attr_f64(f, "/", "lof_threshold", m->lof_threshold));
  return TC_OK;
}

TcErr tc_model_write_info(TcH5File *f, const TcModelInfo *m) {
  TC_CALL(tc_features_meta_write_attrs(f, m->features));
  TC_CALL(write_settings_(f, m));
  TC_CALL(write_counts_(f, m));
  return TC_OK;
}

TcErr tc_model_open(MPI_Comm comm, const char *path, TcH5File **out) {
  return tc_h5_open(comm, path, KIND, out);
}

TcErr tc_model_read_meta(TcH5File *f, TcModelMeta *m) {
  memset(m, 0, sizeof *m);
  TC_CALL(tc_features_meta_read_attrs(f, &m->features));
  TC_CALL(tc_h5_get_attr_str(f, "/", METHOD, m->method, sizeof m->method));
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
  if (!m->weights_scores && !m->has_weights) return TC_OK;
  TC_CHECK(m->has_weights, TC_ERR_FORMAT, "%s: method %s but no /" WEIGHTS, tc_h5_path(f), m->method);
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
