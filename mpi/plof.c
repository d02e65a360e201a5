/* plof.c - distributed LOF and quantile (DESIGN 3.4, 6). */
#include "plof.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "lof.h"
#include "log.h"
#include "partition.h"
#include "quantile.h"

TcErr tc_plof_select(MPI_Comm comm, const float *x_local, int64_t n_local, int64_t k, float *out) {
  uint32_t prefix = 0;
  int64_t part[256], tot[256];
  for (int shift = 24; shift >= 0; shift -= 8) {
    tc_quantile_hist(x_local, n_local, prefix, shift, part);
    TC_CALL(tc_mpi_check(MPI_Allreduce(part, tot, 256, MPI_INT64_T, MPI_SUM, comm), "quantile"));
    int b = tc_quantile_pick(tot, &k);
    prefix |= (uint32_t)b << shift;
  }
  *out = tc_quantile_unkey(prefix);
  return TC_OK;
}

TcErr tc_plof_quantile(MPI_Comm comm, const float *x_local, int64_t n_local, double q, float *out) {
  int64_t n = 0;
  TC_CALL(tc_mpi_check(MPI_Allreduce(&n_local, &n, 1, MPI_INT64_T, MPI_SUM, comm), "quantile"));
  TC_CHECK(n >= 1, TC_ERR_INTERNAL, "quantile of an empty set");
  int64_t lo, hi;
  float w, a, b;
  tc_quantile_rank(n, q, &lo, &hi, &w);
  TC_CALL(tc_plof_select(comm, x_local, n_local, lo, &a));
  if (hi == lo) b = a;
  else TC_CALL(tc_plof_select(comm, x_local, n_local, hi, &b));
  *out = tc_quantile_lerp(a, b, w);
  return TC_OK;
}

TcErr tc_plof_scores(MPI_Comm comm, const float *P_local, int64_t n_img, int64_t N, int64_t HW,
                     int dim, int k, float *lof_local) {
  const int rank = tc_rank(comm), size = tc_size(comm);
  TcErr err = TC_OK;
  int *scnt = NULL, *sdsp = NULL, *rcnt = NULL, *rdsp = NULL;
  int64_t *img_lo = NULL;
  float *sbuf = NULL, *rbuf = NULL, *pts = NULL, *sc = NULL, *sc_back = NULL;
  TcLofWork *w = NULL;
  MPI_Datatype patch = MPI_DATATYPE_NULL;
  int64_t plo, phi;
  tc_block_range(HW, rank, size, &plo, &phi);
  const int64_t npos = phi - plo;

  scnt = tc_calloc((size_t)size, sizeof(int), "alltoall counts");
  sdsp = tc_calloc((size_t)size, sizeof(int), "alltoall counts");
  rcnt = tc_calloc((size_t)size, sizeof(int), "alltoall counts");
  rdsp = tc_calloc((size_t)size, sizeof(int), "alltoall counts");
  img_lo = tc_calloc((size_t)size + 1, sizeof(int64_t), "image blocks");
  if (!scnt || !sdsp || !rcnt || !rdsp || !img_lo) err = TC_ERR_MEM;
  /* image blocks of every rank, from the counts (callers may deal images
   * in any rank-ordered blocks) */
  if (!err) {
    int64_t *cnts = tc_calloc((size_t)size, sizeof(int64_t), "image counts");
    if (!cnts) err = TC_ERR_MEM;
    else {
      MPI_Allgather(&n_img, 1, MPI_INT64_T, cnts, 1, MPI_INT64_T, comm);
      for (int r = 0; r < size; r++) img_lo[r + 1] = img_lo[r] + cnts[r];
      if (img_lo[size] != N) err = tc_err_set(TC_ERR_INTERNAL, "LOF: image blocks do not cover N");
      free(cnts);
    }
  }
  if (!err) {
    int64_t s_off = 0, r_off = 0;
    for (int r = 0; r < size; r++) {
      int64_t lo, hi;
      tc_block_range(HW, r, size, &lo, &hi);
      int64_t sn = n_img * (hi - lo), rn = (img_lo[r + 1] - img_lo[r]) * npos;
      if (s_off + sn > INT_MAX || r_off + rn > INT_MAX) {
        err = tc_err_set(TC_ERR_USAGE, "LOF transpose: more than 2^31 patches per rank; use more ranks");
        break;
      }
      scnt[r] = (int)sn; sdsp[r] = (int)s_off; rcnt[r] = (int)rn; rdsp[r] = (int)r_off;
      s_off += sn; r_off += rn;
    }
    if (!err) {
      if (size > 1) {
        sbuf = tc_malloc_aligned((size_t)(s_off > 0 ? s_off : 1) * dim * sizeof(float), "LOF send buffer");
        rbuf = tc_malloc_aligned((size_t)(r_off > 0 ? r_off : 1) * dim * sizeof(float), "LOF receive buffer");
        sc_back = tc_malloc((size_t)(s_off > 0 ? s_off : 1) * sizeof(float), "LOF scores");
      }
      sc = tc_malloc((size_t)(npos * N > 0 ? npos * N : 1) * sizeof(float), "LOF scores");
      pts = tc_malloc_aligned((size_t)(N > 0 ? N : 1) * dim * sizeof(float), "LOF points");
      if ((size > 1 && (!sbuf || !rbuf || !sc_back)) || !sc || !pts) err = TC_ERR_MEM;
    }
  }
  if (!err && npos > 0 && N > 0) err = tc_lof_work_create(N, dim, k, &w);
  err = tc_agree(comm, err);
  if (err) goto cleanup;

  /* one rank: its [image][position][dim] array already is the layout the
   * positions are gathered from; no exchange */
  const float *by_pos = P_local;
  if (size > 1) {
    /* pack: for each destination, its positions of every local image */
    for (int r = 0; r < size; r++) {
      int64_t lo, hi;
      tc_block_range(HW, r, size, &lo, &hi);
      float *dst = sbuf + (size_t)sdsp[r] * dim;
      for (int64_t i = 0; i < n_img; i++, dst += (hi - lo) * dim)
        memcpy(dst, P_local + (i * HW + lo) * dim, (size_t)((hi - lo) * dim) * sizeof(float));
    }
    TC_CALL_GOTO(err, tc_mpi_check(MPI_Type_contiguous(dim, MPI_FLOAT, &patch), "patch type"), cleanup);
    MPI_Type_commit(&patch);
    if (MPI_Alltoallv(sbuf, scnt, sdsp, patch, rbuf, rcnt, rdsp, patch, comm) != MPI_SUCCESS)
      tc_abort(comm, TC_ERR_MPI, "LOF transpose");
    by_pos = rbuf;
  }
  /* by_pos is [N][npos][dim] in global image order (sources in rank order) */
  TcProgress prog;
  tc_progress_start(&prog, "LOF", "positions", HW);
  for (int64_t p = 0; p < npos; p++) {
    /* a failure here is local; remember it and agree after the loop */
    for (int64_t i = 0; i < N; i++)
      memcpy(pts + i * dim, by_pos + (i * npos + p) * dim, (size_t)dim * sizeof(float));
    if (!err) err = tc_lof_scores(w, pts, N, sc + p * N);
    tc_progress_update(&prog, (p + 1) * size); /* rank 0's share times ranks: an estimate */
  }
  tc_progress_finish(&prog);
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  if (size == 1) {
    for (int64_t i = 0; i < N; i++)
      for (int64_t p = 0; p < HW; p++) lof_local[i * HW + p] = sc[p * N + i];
    goto cleanup;
  }
  /* back: to each source rank, [its images][my positions] */
  for (int r = 0; r < size; r++)
    for (int64_t i = img_lo[r]; i < img_lo[r + 1]; i++)
      for (int64_t p = 0; p < npos; p++)
        rbuf[rdsp[r] + (i - img_lo[r]) * npos + p] = sc[p * N + i];
  if (MPI_Alltoallv(rbuf, rcnt, rdsp, MPI_FLOAT, sc_back, scnt, sdsp, MPI_FLOAT, comm) != MPI_SUCCESS)
    tc_abort(comm, TC_ERR_MPI, "LOF transpose back");
  for (int r = 0; r < size; r++) {
    int64_t lo, hi;
    tc_block_range(HW, r, size, &lo, &hi);
    for (int64_t i = 0; i < n_img; i++)
      for (int64_t p = lo; p < hi; p++)
        lof_local[i * HW + p] = sc_back[sdsp[r] + i * (hi - lo) + (p - lo)];
  }
cleanup:
  if (patch != MPI_DATATYPE_NULL) MPI_Type_free(&patch);
  tc_lof_work_destroy(&w);
  free(scnt); free(sdsp); free(rcnt); free(rdsp); free(img_lo);
  free(sbuf); free(rbuf); free(pts); free(sc); free(sc_back);
  return err;
}
