/* features_io.c - features.h5 layout and validation (DESIGN 5). */
#include "features_io.h"

#include <string.h>

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
  TC_CALL(tc_h5_get_attr_i64(f, "/", "D", &m->D));
  TC_CALL(tc_h5_get_attr_i64(f, "/", "E", &m->E));
  TC_CALL(tc_h5_get_attr_i64(f, "/", "resize", &m->resize));
  TC_CALL(tc_h5_get_attr_i64(f, "/", "crop", &m->crop));
  TC_CALL(tc_h5_get_attr_i64(f, "/", "fmap_h", &m->fmap_h));
  TC_CALL(tc_h5_get_attr_i64(f, "/", "fmap_w", &m->fmap_w));
  TC_CHECK(m->D > 0 && m->E > 0 && m->fmap_h > 0 && m->fmap_w > 0, TC_ERR_FORMAT,
           "%s: bad feature attributes (D=%lld E=%lld fmap %lldx%lld)", tc_h5_path(f),
           (long long)m->D, (long long)m->E, (long long)m->fmap_h, (long long)m->fmap_w);
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
  TC_CHECK_GOTO(err, nd == 1 && d[0] == m->N, TC_ERR_FORMAT, fail,
                "%s: /paths has %lld entries, /features has %lld images", path, (long long)d[0],
                (long long)m->N);
  (void)pdims;
  *out = f;
  return TC_OK;
fail:
  tc_h5_close(&f);
  return err;
}

TcErr tc_features_read(TcH5File *f, const TcFeaturesMeta *m, int64_t row0, int64_t n, float *feats,
                       float *embeds) {
  (void)m;
  if (feats) TC_CALL(tc_h5_read_rows(f, "features", TC_H5_F32, row0, n, feats));
  if (embeds) TC_CALL(tc_h5_read_rows(f, "embeddings", TC_H5_F32, row0, n, embeds));
  return TC_OK;
}
