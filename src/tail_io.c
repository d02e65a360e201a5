/* tail_io.c - the tail/ group of tail.h5 and model.h5 (see tail_io.h). */
#include "tail_io.h"

#include <string.h>

/* Values that need converting (elbow distances: double in memory, float32
 * in the file) or that do not exist (a model without TailSampler) pass
 * through a stack buffer of this many rows, so the writer never allocates
 * and no rank can fail alone between two collective writes. */
#define STAGE_ROWS_ 4096

/* Write this rank's rows [lo, hi) of the [n] dataset `name` through the
 * stack: from_f64 converted to float32, or zeros when from_f64 is NULL.
 * Every rank makes the same calls, one per STAGE_ROWS_ global rows (at
 * least one), whatever its range. Collective. */
static TcErr write_staged_(TcH5File *f, const char *name, TcH5Type type, int64_t n, int64_t lo, int64_t hi,
                           const double *from_f64) {
  union {
    float f32[STAGE_ROWS_];
    int64_t i64[STAGE_ROWS_];
    uint8_t u8[STAGE_ROWS_];
  } stage;
  memset(&stage, 0, sizeof stage);
  for (int64_t s0 = 0; s0 == 0 || s0 < n; s0 += STAGE_ROWS_) {
    int64_t a = lo > s0 ? lo : s0, b = hi < s0 + STAGE_ROWS_ ? hi : s0 + STAGE_ROWS_;
    if (b < a) b = a;
    if (from_f64)
      for (int64_t i = a; i < b; i++) stage.f32[i - a] = (float)from_f64[i];
    TC_CALL(tc_h5_write_rows(f, name, type, a, b - a, &stage));
  }
  return TC_OK;
}

/* A one-element int64 dataset, written by the lead rank. Collective. */
static TcErr write_scalar_(TcH5File *f, const char *name, int64_t v, int lead) {
  int64_t dims[1] = {1};
  TC_CALL(tc_h5_create_dataset(f, name, TC_H5_I64, 1, dims, 0));
  TC_CALL(tc_h5_write_rows(f, name, TC_H5_I64, 0, lead ? 1 : 0, &v));
  return TC_OK;
}

/* A [N] per-image dataset: this rank's rows [lo, hi) of values (global),
 * or zeros when values is NULL. Collective. */
static TcErr write_per_image_(TcH5File *f, const char *name, TcH5Type type, int64_t N, int64_t lo, int64_t hi,
                             const void *values, size_t width) {
  int64_t dN[1] = {N};
  TC_CALL(tc_h5_create_dataset(f, name, type, 1, dN, 0));
  if (!values) return write_staged_(f, name, type, N, lo, hi, NULL);
  return tc_h5_write_rows(f, name, type, lo, hi - lo, (const unsigned char *)values + (size_t)lo * width);
}

/* The elbow plot's vectors [K], from the lead rank. Collective. */
static TcErr write_elbow_(TcH5File *f, const TcTailResult *r, int lead) {
  int64_t dK[1] = {r->neta};
  TC_CALL(tc_h5_create_dataset(f, "tail/eta", TC_H5_I64, 1, dK, 0));
  TC_CALL(tc_h5_write_rows(f, "tail/eta", TC_H5_I64, 0, lead ? r->neta : 0, r->eta));
  TC_CALL(tc_h5_create_dataset(f, "tail/elbow_distance", TC_H5_F32, 1, dK, 0));
  TC_CALL(write_staged_(f, "tail/elbow_distance", TC_H5_F32, r->neta, 0, lead ? r->neta : 0, r->elbow_dist));
  TC_CALL(write_scalar_(f, "tail/k_elbow", r->k_elbow, lead));
  TC_CALL(write_scalar_(f, "tail/k_cap", r->k_cap, lead));
  return TC_OK;
}

/* tail.h5's attributes on the group. Collective. */
static TcErr write_attrs_(TcH5File *f, const TcTailResult *r, const TcTailFileInfo *full) {
  int64_t n_tail = 0;
  for (int64_t j = 0; j < r->N; j++) n_tail += r->is_tail[j];
  TC_CALL(tc_h5_set_attr_i64(f, "tail", "k_elbow", r->k_elbow));
  TC_CALL(tc_h5_set_attr_i64(f, "tail", "k_cap", r->k_cap));
  TC_CALL(tc_h5_set_attr_i64(f, "tail", "k_max", r->k_max));
  TC_CALL(tc_h5_set_attr_i64(f, "tail", "n_images", r->N));
  TC_CALL(tc_h5_set_attr_i64(f, "tail", "n_tail", n_tail));
  TC_CALL(tc_h5_set_attr_f64(f, "tail", "tail_p", full->tail_p));
  TC_CALL(tc_h5_set_attr_str(f, "tail", "tail_cut", tc_tail_cut_name(r->cut)));
  TC_CALL(tc_h5_set_attr_str(f, "tail", "embed_norm", tc_tail_norm_name(full->embed_norm)));
  TC_CALL(tc_h5_set_attr_str(f, "tail", "mode", full->streamed ? "stream" : "memory"));
  TC_CALL(tc_h5_set_attr_str(f, "tail", "gram",
                             "cosine of embeddings rounded to 2^-11 after normalisation (exact float32 dots)"));
  TC_CALL(tc_h5_set_attr_str(f, "tail", "features", full->features));
  return TC_OK;
}

TcErr tc_tail_io_write(TcH5File *f, const TcTailResult *r, int64_t N, int64_t lo, int64_t hi, int lead,
                       const TcTailFileInfo *full) {
  /* the same arguments on every rank: a refusal here is unanimous */
  TC_CHECK(r || !full, TC_ERR_INTERNAL, "tail_io: tail.h5 needs a TailSampler result");
  TC_CHECK(!r || r->N == N, TC_ERR_INTERNAL, "tail_io: result of %lld images, %lld expected",
           (long long)(r ? r->N : 0), (long long)N);
  TC_CALL(write_per_image_(f, "tail/class_size", TC_H5_I64, N, lo, hi, r ? r->kappa : NULL, sizeof(int64_t)));
  TC_CALL(write_per_image_(f, "tail/is_tail", TC_H5_U8, N, lo, hi, r ? r->is_tail : NULL, 1));
  if (full) {
    TC_CALL(write_per_image_(f, "tail/th", TC_H5_F32, N, lo, hi, r->th, sizeof(float)));
    TC_CALL(write_per_image_(f, "tail/count", TC_H5_I64, N, lo, hi, r->count, sizeof(int64_t)));
    TC_CALL(write_elbow_(f, r, lead));
  }
  TC_CALL(write_scalar_(f, "tail/k_max", r ? r->k_max : -1, lead));
  if (!full) return TC_OK;
  TC_CALL(write_attrs_(f, r, full));
  if (full->has_paths) TC_CALL(tc_h5_write_strings(f, "paths", N, lo, hi - lo, full->paths));
  return TC_OK;
}
