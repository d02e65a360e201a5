/* features_io.c - features.h5 layout and validation (DESIGN 5). */
#include "features_io.h"

#include <string.h>

#include "checked.h"

TcErr tc_features_meta_write_attrs(TcH5File *f, const TcFeaturesMeta *m) {
  TC_CALL(tc_h5_set_attr_str(f, "/", "backbone", m->backbone));
  TC_CALL(tc_h5_set_attr_str(f, "/", "weights_sha256", m->weights_sha256));
  TC_CALL(tc_h5_set_attr_str(f, "/", "taps", m->taps));
  TC_CALL(tc_h5_set_attr_str(f, "/", "normalisation", m->normalisation));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "D", m->D));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "E", m->E));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "resize", m->resize));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "crop", m->crop));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "fmap_h", m->fmap_h));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "fmap_w", m->fmap_w));
  return TC_OK;
}

TcErr tc_features_meta_read_attrs(TcH5File *f, TcFeaturesMeta *m) {
  TC_CALL(tc_h5_get_attr_str(f, "/", "backbone", m->backbone, sizeof m->backbone));
  TC_CALL(tc_h5_get_attr_str(f, "/", "weights_sha256", m->weights_sha256, sizeof m->weights_sha256));
  TC_CALL(tc_h5_get_attr_str(f, "/", "taps", m->taps, sizeof m->taps));
  TC_CALL(tc_h5_get_attr_str(f, "/", "normalisation", m->normalisation, sizeof m->normalisation));
  /* every size is range-checked as it is read and their products checked
   * for overflow: a file claiming fmap_h = 2^61 + 8 must not wrap to a
   * plausible HW, nor INT64_MAX turn negative (= "any extent") */
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "D", 1, TC_FEATURES_MAX_SIDE, &m->D));
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "E", 1, TC_FEATURES_MAX_SIDE, &m->E));
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "resize", 1, TC_FEATURES_MAX_SIDE, &m->resize));
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "crop", 1, m->resize, &m->crop));
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "fmap_h", 1, TC_FEATURES_MAX_SIDE, &m->fmap_h));
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "fmap_w", 1, TC_FEATURES_MAX_SIDE, &m->fmap_w));
  int64_t hwd = 0;
  TC_CHECK(tc_mul3_i64(m->fmap_h, m->fmap_w, m->D, &hwd) && hwd <= TC_H5_MAX_ELEMS, TC_ERR_FORMAT,
           "%s: fmap %lld x %lld x D %lld is too large", tc_h5_path(f), (long long)m->fmap_h,
           (long long)m->fmap_w, (long long)m->D);
  return TC_OK;
}

TcErr tc_features_create(MPI_Comm comm, const char *path, const TcFeaturesMeta *m, TcH5File **out) {
  TcH5File *f = NULL;
  TC_CALL(tc_h5_create(comm, path, "features", &f));
  TcErr err = TC_OK;
  int64_t fdims[3] = {m->N, m->fmap_h * m->fmap_w, m->D}, edims[2] = {m->N, m->E};
  TC_CALL_GOTO(err, tc_features_meta_write_attrs(f, m), fail);
  TC_CALL_GOTO(err, tc_h5_create_dataset(f, "features", TC_H5_F32, 3, fdims, 1), fail);
  TC_CALL_GOTO(err, tc_h5_create_dataset(f, "embeddings", TC_H5_F32, 2, edims, 0), fail);
  *out = f;
  return TC_OK;
fail:
  tc_h5_abandon(&f);
  return err;
}

TcErr tc_features_write(TcH5File *f, const TcFeaturesMeta *m, int64_t row0, int64_t n,
                        const float *feats, const float *embeds, const char *const *paths) {
  TC_CALL(tc_h5_write_rows(f, "features", TC_H5_F32, row0, n, feats));
  TC_CALL(tc_h5_write_rows(f, "embeddings", TC_H5_F32, row0, n, embeds));
  TC_CALL(tc_h5_write_strings(f, "paths", m->N, row0, n, paths));
  return TC_OK;
}

TcErr tc_features_open(MPI_Comm comm, const char *path, TcH5File **out, TcFeaturesMeta *m) {
  TcH5File *f = NULL;
  memset(m, 0, sizeof *m);
  TC_CALL(tc_h5_open(comm, path, "features", &f));
  TcErr err = TC_OK;
  TC_CALL_GOTO(err, tc_features_meta_read_attrs(f, m), fail);
  int nd;
  int64_t d[4];
  TC_CALL_GOTO(err, tc_h5_dims(f, "features", &nd, d), fail);
  m->N = d[0];
  int64_t fdims[3] = {m->N, m->fmap_h * m->fmap_w, m->D}, edims[2] = {m->N, m->E}, pdims[1] = {m->N};
  TC_CALL_GOTO(err, tc_h5_expect(f, "features", TC_H5_F32, 3, fdims), fail);
  TC_CALL_GOTO(err, tc_h5_expect(f, "embeddings", TC_H5_F32, 2, edims), fail);
  TC_CALL_GOTO(err, tc_h5_dims(f, "paths", &nd, d), fail);
  TC_CHECK_GOTO(err, nd == 1, TC_ERR_FORMAT, fail, "%s: /paths has %d dimensions, expected 1", path, nd);
  TC_CHECK_GOTO(err, d[0] == m->N, TC_ERR_FORMAT, fail,
                "%s: /paths has %lld entries, /features has %lld images", path, (long long)d[0],
                (long long)m->N);
  (void)pdims;
  *out = f;
  return TC_OK;
fail:
  tc_h5_close(&f);
  return err;
}

/* The first value of rows [row0, row0 + n) x len that is not finite or over
 * TC_VALUE_ABS_MAX: an error naming the file, the image and the position. */
static TcErr check_values_(TcH5File *f, const char *dset, const float *x, int64_t row0, int64_t n,
                           int64_t len, int64_t D) {
  int64_t bad = tc_first_bad_f32(x, n * len, TC_VALUE_ABS_MAX);
  if (bad < 0) return TC_OK;
  const int64_t img = bad / len, at = bad % len;
  char where[96];
  if (D > 0)
    snprintf(where, sizeof where, "patch %lld, channel %lld", (long long)(at / D), (long long)(at % D));
  else
    snprintf(where, sizeof where, "component %lld", (long long)at);
  return tc_err_set(TC_ERR_FORMAT,
                    "%s: image %lld: /%s holds %s at %s (values must be finite, |x| <= %g)", tc_h5_path(f),
                    (long long)(row0 + img), dset, tc_value_str(x[bad]), where, (double)TC_VALUE_ABS_MAX);
}

TcErr tc_features_read(TcH5File *f, const TcFeaturesMeta *m, int64_t row0, int64_t n, float *feats,
                       float *embeds) {
  const int64_t HW = m->fmap_h * m->fmap_w;
  /* refused where they enter: a NaN patch would collapse the coreset and
   * leave a test patch without a neighbour much later, far from its cause */
  if (feats) {
    TC_CALL(tc_h5_read_rows(f, "features", TC_H5_F32, row0, n, feats));
    TC_CALL(check_values_(f, "features", feats, row0, n, HW * m->D, m->D));
  }
  if (embeds) {
    TC_CALL(tc_h5_read_rows(f, "embeddings", TC_H5_F32, row0, n, embeds));
    TC_CALL(check_values_(f, "embeddings", embeds, row0, n, m->E, 0));
  }
  return TC_OK;
}
