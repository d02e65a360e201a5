/* ptailsample.c - the collective TailSampler driver (see ptailsample.h).
 *
 * Order of work, both modes: quantise this rank's embeddings (step 1),
 * S rows -> th, count (steps 2-3), allgather th and count, S rows again
 * (streaming) or kept (memory) -> kappa (step 4), allgather kappa, then
 * steps 5-7 on every rank from the same global kappa. Results do not depend
 * on the rank count, the mode or the panel height because every S_ij is
 * computed exactly (src/tailsampler.h) and every other step is row-local or
 * runs on allgathered global vectors. */
#include "ptailsample.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "log.h"
#include "pgram.h"
#include "scalapack.h"

void tc_ptailsample_defaults(TcPTailOpts *opts) {
  opts->tail_p = 0.85;
  opts->mem_per_rank = (int64_t)2 << 30;
  opts->mode = TC_TAIL_MODE_AUTO;
  opts->panel_rows = 0;
}

/* global vectors (th, count, kappa, is_tail, r, offsets) and row-step work */
static int64_t vectors_bytes_(int64_t N) { return 64 * N + 4096; }

int64_t tc_ptailsample_memory_bytes(int64_t N, int64_t E, int size) {
  int64_t b = (N + size - 1) / size;
  /* S rows, A gathered inside PBLAS, X + A local + redistribution copy */
  return 4 * b * N + 4 * N * E + 12 * b * E + vectors_bytes_(N);
}

int64_t tc_ptailsample_stream_bytes(int64_t N, int64_t E, int size, int64_t R) {
  int64_t b = (N + size - 1) / size;
  /* panel, X + own A + two ring buffers */
  return 4 * R * N + 16 * b * E + vectors_bytes_(N);
}

/* Allgather one value per row: this rank's rows already sit at their place
 * in the global `all` [N] (in place, no aliasing); counts in rows of
 * `width` bytes. */
static TcErr allgather_rows_(MPI_Comm comm, void *all, const int64_t *los, const int64_t *his,
                             size_t width) {
  int size = tc_size(comm);
  int *cnt = tc_malloc((size_t)size * sizeof(int), "allgather counts");
  int *dsp = tc_malloc((size_t)size * sizeof(int), "allgather displacements");
  if (!cnt || !dsp) {
    free(cnt);
    free(dsp);
    return TC_ERR_MEM;
  }
  for (int q = 0; q < size; q++) {
    cnt[q] = (int)(his[q] - los[q]);
    dsp[q] = (int)los[q];
  }
  MPI_Datatype row;
  MPI_Type_contiguous((int)width, MPI_BYTE, &row);
  MPI_Type_commit(&row);
  int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, row, all, cnt, dsp, row, comm);
  MPI_Type_free(&row);
  free(cnt);
  free(dsp);
  return tc_mpi_check(rc, "tailsample: allgather");
}

/* Move rows of width `width` floats from one contiguous partition (slo/shi)
 * to another (dlo/dhi). Collective. */
static TcErr redistribute_rows_(MPI_Comm comm, const float *src, float *dst, int64_t width,
                                const int64_t *slo, const int64_t *shi, const int64_t *dlo,
                                const int64_t *dhi) {
  int rank = tc_rank(comm), size = tc_size(comm);
  int *sc = tc_calloc((size_t)size * 4, sizeof(int), "alltoallv counts");
  if (!sc) return TC_ERR_MEM;
  int *sd = sc + size, *rc = sc + 2 * size, *rd = sc + 3 * size;
  for (int q = 0; q < size; q++) {
    int64_t a = slo[rank] > dlo[q] ? slo[rank] : dlo[q];
    int64_t z = shi[rank] < dhi[q] ? shi[rank] : dhi[q];
    sc[q] = z > a ? (int)(z - a) : 0;
    sd[q] = z > a ? (int)(a - slo[rank]) : 0;
    a = dlo[rank] > slo[q] ? dlo[rank] : slo[q];
    z = dhi[rank] < shi[q] ? dhi[rank] : shi[q];
    rc[q] = z > a ? (int)(z - a) : 0;
    rd[q] = z > a ? (int)(a - dlo[rank]) : 0;
  }
  MPI_Datatype row;
  MPI_Type_contiguous((int)width, MPI_FLOAT, &row);
  MPI_Type_commit(&row);
  static float dummy[1];
  int rcode = MPI_Alltoallv(src ? src : dummy, sc, sd, row, dst ? dst : dummy, rc, rd, row, comm);
  MPI_Type_free(&row);
  free(sc);
  return tc_mpi_check(rcode, "tailsample: redistribute rows");
}

/* One streaming panel: exact dots of rows [lo + i0, lo + i0 + nr) with all N columns into
 * panel [nr x N], from blocks of A passed around the ring. Every rank calls
 * it the same number of times (nr may be 0) because it takes part in the
 * ring. cur, nxt: [bmax x E] buffers. */
static TcErr stream_panel_(MPI_Comm comm, const float *A_own, int64_t N,
                           int64_t E, const int64_t *los, const int64_t *his, int64_t i0,
                           int64_t nr, float *panel, float *cur, float *nxt, double *t_gram) {
  int rank = tc_rank(comm), size = tc_size(comm);
  int64_t lo = los[rank];
  int64_t nown = his[rank] - lo;
  memcpy(cur, A_own, (size_t)(nown * E) * sizeof(float));
  int to = (rank - 1 + size) % size, from = (rank + 1) % size;
  for (int s = 0; s < size; s++) {
    int owner = (rank + s) % size;
    int64_t olo = los[owner], on = his[owner] - olo;
    MPI_Request req[2];
    int nreq = 0;
    if (s < size - 1) {
      /* after s+1 shifts we hold the block of rank + s + 1 */
      int nextq = (rank + s + 1) % size;
      int64_t nn = his[nextq] - los[nextq];
      MPI_Irecv(nxt, (int)(nn * E), MPI_FLOAT, from, 77, comm, &req[nreq++]);
      MPI_Isend(cur, (int)(on * E), MPI_FLOAT, to, 77, comm, &req[nreq++]);
    }
    double t0 = tc_now();
    if (nr > 0 && on > 0) {
      int m = (int)on, n = (int)nr, k = (int)E, ldc = (int)N;
      const float one = 1.0f, zero = 0.0f;
      /* row-major tile [nr x on] at column olo = column-major [on x nr]:
       * B^T(E x on)^T * A_panel(E x nr) */
      sgemm_("T", "N", &m, &n, &k, &one, cur, &k, A_own + i0 * E, &k, &zero, panel + olo, &ldc);
    }
    *t_gram += tc_now() - t0;
    if (nreq) {
      int rc = MPI_Waitall(nreq, req, MPI_STATUSES_IGNORE);
      /* a failed point-to-point inside the ring cannot be agreed on */
      if (rc != MPI_SUCCESS) {
        tc_mpi_check(rc, "tailsample: ring exchange");
        tc_abort(comm, TC_ERR_MPI, "tailsample ring");
      }
      float *t = cur;
      cur = nxt;
      nxt = t;
    }
  }
  return TC_OK;
}

TcErr tc_ptailsample_run(MPI_Comm comm, const float *X_local, int64_t N, int64_t E, int64_t lo,
                         int64_t hi, const TcPTailOpts *opts, TcTailResult **out,
                         TcPTailStats *stats) {
  int rank = tc_rank(comm), size = tc_size(comm);
  double t_start = tc_now();
  TcPTailStats st;
  memset(&st, 0, sizeof st);
  *out = NULL;
  TcErr err = TC_OK;
  TcTailResult *res = NULL;
  int64_t *los = NULL, *his = NULL, *glo = NULL, *ghi = NULL;
  float *A = NULL, *Ag = NULL, *S = NULL, *cur = NULL, *nxt = NULL;
  double *r_all = NULL;
  int64_t nloc = hi - lo;

  /* ---- validate the layout and the data, agree before any collective work */
  los = tc_malloc((size_t)size * 4 * sizeof(int64_t), "row layout");
  if (!los) err = TC_ERR_MEM;
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  his = los + size;
  glo = los + 2 * size;
  ghi = los + 3 * size;
  {
    int64_t mine[2] = {lo, hi}, *both = glo; /* glo/ghi as scratch for 2*size values */
    MPI_Allgather(mine, 2, MPI_INT64_T, both, 2, MPI_INT64_T, comm);
    for (int q = size - 1; q >= 0; q--) {
      int64_t a = both[2 * q], z = both[2 * q + 1];
      his[q] = z;
      los[q] = a;
    }
  }
  {
    int ok = los[0] == 0 && his[size - 1] == N;
    for (int q = 0; q < size; q++) ok = ok && los[q] <= his[q] && (q == 0 || los[q] == his[q - 1]);
    if (!ok)
      err = tc_err_set(TC_ERR_INTERNAL, "tailsample: row blocks do not tile [0, %lld) in rank order",
                       (long long)N);
    else if (N < 1 || E < 1)
      err = tc_err_set(TC_ERR_FORMAT, "tailsample: no embeddings (N = %lld, E = %lld)",
                       (long long)N, (long long)E);
    else if (!(opts->tail_p >= 0.0 && opts->tail_p <= 1.0))
      err = tc_err_set(TC_ERR_USAGE, "tailsample: --tail-p %g is not in [0, 1]", opts->tail_p);
    else if (N > 16777215)
      /* trunc(N s) and k / N must be exact in float32 */
      err = tc_err_set(TC_ERR_USAGE, "tailsample: N = %lld exceeds 2^24 - 1 images", (long long)N);
  }
  if (!err) {
    for (int64_t i = 0; i < nloc * E; i++)
      if (!isfinite(X_local[i])) {
        err = tc_err_set(TC_ERR_FORMAT, "tailsample: embedding of image %lld is not finite",
                         (long long)(lo + i / E));
        break;
      }
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;

  /* ---- choose the mode from global values: every rank decides the same */
  int64_t bmax = 0;
  for (int q = 0; q < size; q++) bmax = his[q] - los[q] > bmax ? his[q] - los[q] : bmax;
  int64_t bceil = (N + size - 1) / size;
  int64_t mem_bytes = tc_ptailsample_memory_bytes(N, E, size);
  int fits_int = N * E < INT_MAX && bceil * N < INT_MAX;
  int stream = 0;
  if (opts->mode == TC_TAIL_MODE_STREAM) stream = 1;
  else if (opts->mode == TC_TAIL_MODE_MEMORY) {
    if (!fits_int)
      err = tc_err_set(TC_ERR_USAGE, "tailsample: N = %lld too large for --mode memory (ScaLAPACK "
                       "int indexing); use --mode stream", (long long)N);
  } else stream = mem_bytes > opts->mem_per_rank || !fits_int;
  int64_t R = 0;
  if (!err && stream) {
    int64_t fixed = tc_ptailsample_stream_bytes(N, E, size, 0);
    R = opts->panel_rows;
    if (R <= 0) {
      R = (opts->mem_per_rank - fixed) / (4 * N);
      if (R < 1)
        err = tc_err_set(TC_ERR_USAGE, "tailsample: --mem-per-rank %lld bytes is below the "
                         "streaming minimum of %lld bytes per rank for N = %lld, E = %lld",
                         (long long)opts->mem_per_rank, (long long)(fixed + 4 * N),
                         (long long)N, (long long)E);
    }
    if (R > bmax) R = bmax > 0 ? bmax : 1;
    if (!err && (bmax * E >= INT_MAX || R * N >= INT_MAX))
      err = tc_err_set(TC_ERR_USAGE, "tailsample: a block of %lld x %lld or a panel of %lld x %lld "
                       "exceeds BLAS int indexing; use more ranks or --panel-rows",
                       (long long)bmax, (long long)E, (long long)R, (long long)N);
  }
  st.streamed = stream;
  st.panel_rows = R;
  st.est_bytes = stream ? tc_ptailsample_stream_bytes(N, E, size, R) : mem_bytes;
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  tc_log(1, "tailsample: N = %lld, E = %lld, %d rank%s, %s mode%s, ~%.1f MiB per rank",
         (long long)N, (long long)E, size, size > 1 ? "s" : "", stream ? "streaming" : "in-memory",
         stream ? "" : " (ScaLAPACK psgemm, 1 x P grid)", (double)st.est_bytes / 1048576.0);
  if (stream) tc_log(2, "tailsample: panel rows %lld", (long long)R);

  /* ---- step 1: quantise local rows, allgather inverse norms */
  TC_CALL_GOTO(err, tc_tail_result_create(N, &res), agree);
  A = tc_malloc_aligned((size_t)(nloc > 0 ? nloc : 1) * (size_t)E * sizeof(float), "quantised rows");
  r_all = tc_malloc((size_t)N * sizeof(double), "inverse norms");
  if (!A || !r_all) err = TC_ERR_MEM;
  if (!err) {
    double *r_loc = r_all + lo; /* in place: allgather below fills the rest */
    tc_tail_quantise(X_local, nloc, E, A, r_loc);
  }
agree:
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  {
    /* MPI forbids aliased send/recv buffers: use MPI_IN_PLACE semantics */
    int *cnt = tc_malloc((size_t)size * 2 * sizeof(int), "counts");
    if (!cnt) err = TC_ERR_MEM;
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    for (int q = 0; q < size; q++) {
      cnt[q] = (int)(his[q] - los[q]);
      cnt[size + q] = (int)los[q];
    }
    int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DOUBLE, r_all, cnt, cnt + size, MPI_DOUBLE, comm);
    free(cnt);
    TC_CALL_GOTO(err, tc_mpi_check(rc, "tailsample: allgather norms"), cleanup);
  }

  if (!stream) {
    /* ---- memory mode: rows of S from ScaLAPACK in its ceil-block layout */
    for (int q = 0; q < size; q++) tc_pgram_block_range(N, q, size, &glo[q], &ghi[q]);
    int64_t gn = ghi[rank] - glo[rank];
    int same = 1;
    for (int q = 0; q < size; q++) same = same && glo[q] == los[q] && ghi[q] == his[q];
    S = tc_malloc_aligned((size_t)(gn > 0 ? gn : 1) * (size_t)N * sizeof(float), "S rows");
    if (!same) Ag = tc_malloc_aligned((size_t)(gn > 0 ? gn : 1) * (size_t)E * sizeof(float), "gram rows");
    if (!S || (!same && !Ag)) err = TC_ERR_MEM;
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    if (!same) TC_CALL_GOTO(err, redistribute_rows_(comm, A, Ag, E, los, his, glo, ghi), cleanup);
    double t0 = tc_now();
    err = tc_pgram_rows(comm, same ? A : Ag, N, E, S);
    st.t_gram = tc_now() - t0;
    st.gram_flops = 2.0 * (double)N * (double)N * (double)E;
    if (err) goto cleanup;
    t0 = tc_now();
    err = tc_tail_scale_threshold_rows(S, gn, N, N, r_all, glo[rank], opts->tail_p,
                                       res->th + glo[rank], res->count + glo[rank]);
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    TC_CALL_GOTO(err, allgather_rows_(comm, res->th, glo, ghi, sizeof(float)), cleanup);
    TC_CALL_GOTO(err, allgather_rows_(comm, res->count, glo, ghi, sizeof(int64_t)), cleanup);
    err = tc_tail_vote_rows(S, gn, N, N, res->th, res->count, res->kappa + glo[rank]);
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    TC_CALL_GOTO(err, allgather_rows_(comm, res->kappa, glo, ghi, sizeof(int64_t)), cleanup);
    st.t_rows = tc_now() - t0;
  } else {
    /* ---- streaming mode: panels of R rows, twice, A blocks around a ring */
    S = tc_malloc_aligned((size_t)R * (size_t)N * sizeof(float), "S panel");
    cur = tc_malloc_aligned((size_t)(bmax > 0 ? bmax : 1) * (size_t)E * sizeof(float), "ring block");
    nxt = tc_malloc_aligned((size_t)(bmax > 0 ? bmax : 1) * (size_t)E * sizeof(float), "ring block");
    if (!S || !cur || !nxt) err = TC_ERR_MEM;
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    int64_t npanels = (bmax + R - 1) / R;
    for (int pass = 0; pass < 2; pass++) {
      TcProgress prog;
      tc_progress_start(&prog, pass == 0 ? "tailsample pass 1 (thresholds)" : "tailsample pass 2 (votes)",
                        "panels", npanels);
      for (int64_t t = 0; t < npanels; t++) {
        int64_t i0 = t * R;
        int64_t nr = nloc - i0 < R ? nloc - i0 : R;
        if (nr < 0) nr = 0;
        TC_CALL_GOTO(err, stream_panel_(comm, A, N, E, los, his, i0, nr, S, cur, nxt, &st.t_gram), cleanup);
        double t0 = tc_now();
        /* a row-step failure is only an allocation failure: remember it and
         * keep the ring going so no rank is left waiting in it */
        TcErr e2;
        if (pass == 0) {
          e2 = tc_tail_scale_threshold_rows(S, nr, N, N, r_all, lo + i0, opts->tail_p,
                                            res->th + lo + i0, res->count + lo + i0);
        } else {
          tc_tail_scale(S, nr, N, N, r_all + lo + i0, r_all, lo + i0, 0);
          e2 = tc_tail_vote_rows(S, nr, N, N, res->th, res->count, res->kappa + lo + i0);
        }
        if (e2 && !err) err = e2;
        st.t_rows += tc_now() - t0;
        tc_progress_update(&prog, t + 1);
      }
      tc_progress_finish(&prog);
      err = tc_agree(comm, err);
      if (err) goto cleanup;
      if (pass == 0) {
        TC_CALL_GOTO(err, allgather_rows_(comm, res->th, los, his, sizeof(float)), cleanup);
        TC_CALL_GOTO(err, allgather_rows_(comm, res->count, los, his, sizeof(int64_t)), cleanup);
      }
    }
    TC_CALL_GOTO(err, allgather_rows_(comm, res->kappa, los, his, sizeof(int64_t)), cleanup);
    st.gram_flops = 4.0 * (double)N * (double)N * (double)E;
  }

  /* ---- steps 5-7 on the global kappa: the same on every rank */
  err = tc_tail_finish(res);
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  *out = res;
  res = NULL;

cleanup:
  st.t_total = tc_now() - t_start;
  if (stats) *stats = st;
  tc_tail_result_destroy(&res);
  free(los);
  free(A);
  free(Ag);
  free(S);
  free(cur);
  free(nxt);
  free(r_all);
  (void)rank;
  return err;
}
