/* ivf_io.c - the IVF index file layout and validation. See ivf_io.h. */
#include "ivf_io.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#define KIND "ivf_index"
#define CENTROIDS "centroids"
#define LIST_START "list_start"
#define ORDER "order"

/* The datasets and attributes of ivf into the created file f. */
static TcErr write_(TcH5File *f, int writer, const TcIvf *ivf, uint64_t bank_digest, const char *model,
                    const char *program_version) {
  const int64_t M = ivf->M, D = ivf->D, nlist = ivf->nlist;
  int64_t dc[2] = {nlist, D}, dl[1] = {nlist + 1}, dorder[1] = {M};
  TC_CALL(tc_h5_create_dataset(f, CENTROIDS, TC_H5_F32, 2, dc, 0));
  TC_CALL(tc_h5_create_dataset(f, LIST_START, TC_H5_I64, 1, dl, 0));
  TC_CALL(tc_h5_create_dataset(f, ORDER, TC_H5_I64, 1, dorder, 0));
  TC_CALL(tc_h5_write_rows(f, CENTROIDS, TC_H5_F32, 0, writer ? nlist : 0, ivf->centroids));
  TC_CALL(tc_h5_write_rows(f, LIST_START, TC_H5_I64, 0, writer ? nlist + 1 : 0, ivf->list_start));
  TC_CALL(tc_h5_write_rows(f, ORDER, TC_H5_I64, 0, writer ? M : 0, ivf->order));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "M", M));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "D", D));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "nlist", nlist));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "n_train", ivf->n_train));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "iters", ivf->iters));
  /* int64 attributes carry the uint64 bits (as the calibration's digest) */
  TC_CALL(tc_h5_set_attr_i64(f, "/", "seed", (int64_t)ivf->seed));
  TC_CALL(tc_h5_set_attr_i64(f, "/", "bank_digest", (int64_t)bank_digest));
  TC_CALL(tc_h5_set_attr_str(f, "/", "model", model));
  return tc_h5_set_attr_str(f, "/", "program_version", program_version);
}

TcErr tc_ivf_io_create(MPI_Comm comm, const char *path, int writer, const TcIvf *ivf, uint64_t bank_digest,
                       const char *model, const char *program_version, TcH5File **out) {
  TcH5File *f = NULL;
  TC_CALL(tc_h5_create(comm, path, KIND, &f));
  TcErr err = write_(f, writer, ivf, bank_digest, model, program_version);
  if (err) {
    tc_h5_abandon(&f);
    return err;
  }
  *out = f;
  return TC_OK;
}

/* The attributes, each in range before it sizes anything, then the
 * datasets' shapes against them. */
static TcErr read_meta_(TcH5File *f, TcIvfFileMeta *m) {
  int64_t seed = 0, digest = 0;
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "M", 1, TC_H5_MAX_ELEMS, &m->M));
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "D", 1, INT_MAX, &m->D));
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "nlist", 1, m->M, &m->nlist));
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "n_train", 1, m->M, &m->n_train));
  TC_CALL(tc_h5_get_attr_i64_range(f, "/", "iters", 1, INT_MAX, &m->iters));
  TC_CALL(tc_h5_get_attr_i64(f, "/", "seed", &seed));
  TC_CALL(tc_h5_get_attr_i64(f, "/", "bank_digest", &digest));
  m->seed = (uint64_t)seed;
  m->bank_digest = (uint64_t)digest;
  int64_t dc[2] = {m->nlist, m->D}, dl[1] = {m->nlist + 1}, dorder[1] = {m->M};
  TC_CALL(tc_h5_expect(f, CENTROIDS, TC_H5_F32, 2, dc));
  TC_CALL(tc_h5_expect(f, LIST_START, TC_H5_I64, 1, dl));
  return tc_h5_expect(f, ORDER, TC_H5_I64, 1, dorder);
}

TcErr tc_ivf_io_open(MPI_Comm comm, const char *path, TcH5File **out, TcIvfFileMeta *meta) {
  memset(meta, 0, sizeof *meta);
  TC_CALL(tc_h5_open(comm, path, KIND, out));
  TcErr err = read_meta_(*out, meta);
  if (err) tc_h5_close(out); /* nothing stays open on error */
  return err;
}

TcErr tc_ivf_io_read(TcH5File *f, const TcIvfFileMeta *m, TcIvf *ivf) {
  memset(ivf, 0, sizeof *ivf);
  ivf->M = m->M;
  ivf->D = m->D;
  ivf->nlist = m->nlist;
  ivf->n_train = m->n_train;
  ivf->iters = m->iters;
  ivf->seed = m->seed;
  ivf->centroids = tc_malloc_aligned(sizeof(float) * (size_t)(m->nlist * m->D), "ivf centroids");
  ivf->list_start = tc_malloc(sizeof(int64_t) * (size_t)(m->nlist + 1), "ivf lists");
  ivf->order = tc_malloc(sizeof(int64_t) * (size_t)m->M, "ivf order");
  TcErr err = ivf->centroids && ivf->list_start && ivf->order ? TC_OK : TC_ERR_MEM;
  /* row reads are independent (h5fmt.h): a rank short of memory may skip
   * them; the caller agrees */
  if (!err) err = tc_h5_read_rows(f, CENTROIDS, TC_H5_F32, 0, m->nlist, ivf->centroids);
  if (!err) err = tc_h5_read_rows(f, LIST_START, TC_H5_I64, 0, m->nlist + 1, ivf->list_start);
  if (!err) err = tc_h5_read_rows(f, ORDER, TC_H5_I64, 0, m->M, ivf->order);
  if (err) tc_ivf_free(ivf);
  return err;
}
