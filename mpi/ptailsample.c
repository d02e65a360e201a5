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
  opts->embed_norm = TC_TAIL_NORM_NONE;
  opts->tail_cut = TC_TAIL_CUT_CAP;
}

/* global vectors (th, count, kappa, is_tail, r, offsets) and row-step work */
static int64_t vectors_bytes_(int64_t N) { return 64 * N + 4096; }

int64_t tc_ptailsample_memory_bytes(int64_t N, int64_t E, int size) {
  int64_t b = (N + size - 1) / size;
  int64_t nb = tc_pgram_cyclic_nb(N, size), bc = tc_pgram_cyclic_rows(N, nb, 0, size);
  /* S rows and the two mirror buffers; X, A and the pack copy in read
   * blocks; A in the cyclic deal; PBLAS work (a panel of A and its copy,
   * and a copy of the local A, as an upper bound) */
  return 4 * bc * N + 8 * bc * nb + 12 * b * E + 4 * bc * E + 4 * (2 * nb * E + bc * E) +
         vectors_bytes_(N);
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
  /* agree first: a rank that returned here would leave the others in the collective */
  TcErr err = tc_agree(comm, cnt && dsp ? TC_OK : TC_ERR_MEM);
  if (err) {
    free(cnt);
    free(dsp);
    return err;
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

/* Step 1 for memory mode: quantise this rank's rows (read blocks los/his)
 * straight into the cyclic deal of the Gram (block nb, mpi/pgram.h): rows
 * this rank keeps go to their place in Ag, the others are packed by
 * destination into pack. plan [4 size] (output) holds the alltoallv counts
 * and displacements in rows (send counts, send displacements, receive
 * counts, receive displacements), with this rank's own share set to 0: on
 * the receiving side the rows from source s are exactly its rows inside
 * [los[s], his[s]) in ascending order, and the local order of the cyclic
 * deal is ascending too, so each source's rows land contiguously. Local.
 * Returns tc_tail_quantise's first non-finite row, -1, or -2 (no memory). */
static int64_t quantise_to_cyclic_(MPI_Comm comm, const float *X, int64_t E, const int64_t *los,
                                   const int64_t *his, int64_t nb, float *pack, float *Ag,
                                   double *r, int *plan) {
  int rank = tc_rank(comm), size = tc_size(comm);
  int *sc = plan, *sd = plan + size, *rc = plan + 2 * size, *rd = plan + 3 * size;
  int64_t lo = los[rank], hi = his[rank], bad = -1;
  for (int64_t g = lo; g < hi; g++) sc[(g / nb) % size]++;
  for (int s = 0; s < size; s++) {
    for (int64_t g = los[s]; g < his[s]; g++) rc[s] += (g / nb) % size == rank;
    rd[s] = s > 0 ? rd[s - 1] + rc[s - 1] : 0;
  }
  int64_t *fill = tc_calloc((size_t)size, sizeof(int64_t), "pack cursors");
  if (!fill) return -2;
  int64_t self = rd[rank];
  sc[rank] = 0;
  for (int q = 1; q < size; q++) sd[q] = sd[q - 1] + sc[q - 1];
  for (int64_t g = lo; g < hi; g++) {
    int q = (int)((g / nb) % size);
    float *dst = q == rank ? Ag + (self++) * E : pack + (sd[q] + fill[q]++) * E;
    int64_t b = tc_tail_quantise(X + (g - lo) * E, 1, E, dst, r + (g - lo));
    if (b >= 0 && bad < 0) bad = g - lo;
  }
  rc[rank] = 0;
  free(fill);
  return bad;
}

/* Step 1's exchange: pack -> Ag with the plan of quantise_to_cyclic_.
 * Collective. */
static TcErr cyclic_exchange_(MPI_Comm comm, const float *pack, float *Ag, int64_t E,
                              const int *plan) {
  int size = tc_size(comm);
  MPI_Datatype row;
  MPI_Type_contiguous((int)E, MPI_FLOAT, &row);
  MPI_Type_commit(&row);
  static float dummy[1];
  int rcode = MPI_Alltoallv(pack ? pack : dummy, plan, plan + size, row, Ag ? Ag : dummy,
                            plan + 2 * size, plan + 3 * size, row, comm);
  MPI_Type_free(&row);
  return tc_mpi_check(rcode, "tailsample: rows to the Gram layout");
}

/* Allgather one value per row from the cyclic deal (block nb): this rank's
 * values already sit at their global rows in `all` [N]; width in bytes. */
static TcErr allgather_cyclic_(MPI_Comm comm, void *all, int64_t N, int64_t nb, size_t width) {
  int rank = tc_rank(comm), size = tc_size(comm);
  int *cnt = tc_malloc((size_t)size * 2 * sizeof(int), "allgather counts");
  unsigned char *mine = tc_malloc(((size_t)N / (size_t)size + (size_t)nb + 1) * width, "allgather send");
  unsigned char *tmp = tc_malloc((size_t)N * width + 1, "allgather receive");
  unsigned char *a = all;
  /* agree first: a rank that returned here would leave the others in the collective */
  TcErr err = tc_agree(comm, cnt && mine && tmp ? TC_OK : TC_ERR_MEM);
  if (err) {
    free(cnt);
    free(mine);
    free(tmp);
    return err;
  }
  int *dsp = cnt + size;
  for (int q = 0; q < size; q++) {
    cnt[q] = (int)tc_pgram_cyclic_rows(N, nb, q, size);
    dsp[q] = q > 0 ? dsp[q - 1] + cnt[q - 1] : 0;
  }
  for (int64_t l = 0; l < cnt[rank]; l++)
    memcpy(mine + l * width, a + tc_pgram_cyclic_global(l, nb, rank, size) * width, width);
  MPI_Datatype row;
  MPI_Type_contiguous((int)width, MPI_BYTE, &row);
  MPI_Type_commit(&row);
  int rc = MPI_Allgatherv(mine, cnt[rank], row, tmp, cnt, dsp, row, comm);
  MPI_Type_free(&row);
  if (rc == MPI_SUCCESS)
    for (int q = 0; q < size; q++)
      for (int64_t l = 0; l < cnt[q]; l++)
        memcpy(a + tc_pgram_cyclic_global(l, nb, q, size) * width, tmp + (dsp[q] + l) * width, width);
  free(cnt);
  free(mine);
  free(tmp);
  return tc_mpi_check(rc, "tailsample: allgather");
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
  int64_t *los = NULL, *his = NULL;
  float *A = NULL, *Ag = NULL, *S = NULL, *cur = NULL, *nxt = NULL, *Xc = NULL;
  int *plan = NULL;
  size_t S_bytes = 0; /* nonzero: S came from tc_malloc_populated */
  double *r_all = NULL;
  int64_t nloc = hi - lo;

  /* ---- validate the layout and the data, agree before any collective work */
  los = tc_malloc((size_t)size * 4 * sizeof(int64_t), "row layout");
  int64_t *both = NULL;
  if (!los) err = TC_ERR_MEM;
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  his = los + size;
  both = los + 2 * size;
  {
    int64_t mine[2] = {lo, hi};
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
    else if (opts->embed_norm != TC_TAIL_NORM_NONE && opts->embed_norm != TC_TAIL_NORM_CENTER)
      err = tc_err_set(TC_ERR_USAGE, "tailsample: unknown embedding norm %d", opts->embed_norm);
    else if (opts->tail_cut < TC_TAIL_CUT_CAP || opts->tail_cut > TC_TAIL_CUT_GAP)
      err = tc_err_set(TC_ERR_USAGE, "tailsample: unknown tail cut %d", opts->tail_cut);
    else if (!(opts->tail_p >= 0.0 && opts->tail_p <= 1.0))
      err = tc_err_set(TC_ERR_USAGE, "tailsample: --tail-p %g is not in [0, 1]", opts->tail_p);
    else if (N > 16777215)
      /* trunc(N s) and k / N must be exact in float32 */
      err = tc_err_set(TC_ERR_USAGE, "tailsample: N = %lld exceeds 2^24 - 1 images", (long long)N);
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;

  /* ---- choose the mode from global values: every rank decides the same */
  int64_t bmax = 0;
  for (int q = 0; q < size; q++) bmax = his[q] - los[q] > bmax ? his[q] - los[q] : bmax;
  int64_t bceil = tc_pgram_cyclic_rows(N, tc_pgram_cyclic_nb(N, size), 0, size);
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
         stream ? "" : " (ScaLAPACK psgemm on one triangle, 1 x P grid, block-cyclic rows)", (double)st.est_bytes / 1048576.0);
  if (stream) tc_log(2, "tailsample: panel rows %lld", (long long)R);

  /* ---- before step 1 (option): centre on the mean of all N embeddings.
   * The sums are integers, so the allreduce is exact in any order. */
  if (opts->embed_norm == TC_TAIL_NORM_CENTER) {
    Xc = tc_malloc((size_t)(nloc > 0 ? nloc : 1) * (size_t)E * sizeof(float), "centred embeddings");
    int64_t *csum = tc_calloc((size_t)E, sizeof(int64_t), "embedding sums");
    int64_t bad = -1;
    if (!Xc || !csum) err = TC_ERR_MEM;
    else bad = tc_tail_center_sums(X_local, nloc, E, csum);
    if (bad == -2) err = TC_ERR_MEM;
    else if (bad >= 0)
      err = tc_err_set(TC_ERR_FORMAT, "tailsample: embedding of image %lld is not finite",
                       (long long)(lo + bad));
    err = tc_agree(comm, err);
    if (!err) {
      int rc = MPI_Allreduce(MPI_IN_PLACE, csum, (int)E, MPI_INT64_T, MPI_SUM, comm);
      err = tc_mpi_check(rc, "tailsample: allreduce embedding sums");
    }
    if (!err) tc_tail_center_apply(X_local, nloc, E, csum, N, Xc);
    free(csum);
    if (err) goto cleanup;
    X_local = Xc;
  }

  /* ---- step 1: quantise local rows (in memory mode straight into their
   * slot for the Gram's cyclic deal), allgather inverse norms. The
   * finiteness check rides on quantisation's sum of squares. */
  int64_t nb = 0, gn = 0;
  TC_CALL_GOTO(err, tc_tail_result_create(N, &res), agree);
  res->cut = opts->tail_cut;
  r_all = tc_malloc((size_t)N * sizeof(double), "inverse norms");
  if (stream) {
    A = tc_malloc_aligned((size_t)(nloc > 0 ? nloc : 1) * (size_t)E * sizeof(float), "quantised rows");
  } else {
    nb = tc_pgram_cyclic_nb(N, size);
    gn = tc_pgram_cyclic_rows(N, nb, rank, size);
    /* every page of S is written by psgemm or the mirror: map them at once */
    S_bytes = (size_t)(gn > 0 ? gn : 1) * (size_t)N * sizeof(float);
    double t0 = tc_now();
    S = tc_malloc_populated(S_bytes, "S rows");
    st.t_alloc = tc_now() - t0;
    Ag = tc_malloc_aligned((size_t)(gn > 0 ? gn : 1) * (size_t)E * sizeof(float), "gram rows");
    /* rows bound for other ranks, packed by destination */
    A = tc_malloc_aligned((size_t)(nloc > 0 ? nloc : 1) * (size_t)E * sizeof(float), "row pack");
    plan = tc_calloc((size_t)size * 4, sizeof(int), "alltoallv counts");
    if (!S || !Ag || !plan) err = TC_ERR_MEM;
  }
  if (!A || !r_all) err = TC_ERR_MEM;
  if (!err) {
    int64_t bad = stream ? tc_tail_quantise(X_local, nloc, E, A, r_all + lo)
                         : quantise_to_cyclic_(comm, X_local, E, los, his, nb, A, Ag, r_all + lo, plan);
    if (bad == -2) err = TC_ERR_MEM;
    else if (bad >= 0)
      err = tc_err_set(TC_ERR_FORMAT, "tailsample: embedding of image %lld is not finite",
                       (long long)(lo + bad));
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
    /* ---- memory mode: rows of S from ScaLAPACK in its cyclic deal */
    TC_CALL_GOTO(err, cyclic_exchange_(comm, A, Ag, E, plan), cleanup);
    free(A);
    A = NULL;
    TcPGramStats gs;
    err = tc_pgram_sym_rows(comm, Ag, N, E, nb, S, &gs);
    st.t_gram = gs.t_gemm + gs.t_mirror;
    st.t_mirror = gs.t_mirror;
    st.gram_flops = gs.flops;
    if (err) goto cleanup;
    double t0 = tc_now();
    /* the row kernels take consecutive global rows: one call per block */
    for (int64_t l0 = 0; l0 < gn && !err; l0 += nb) {
      int64_t g0 = tc_pgram_cyclic_global(l0, nb, rank, size), nr = gn - l0 < nb ? gn - l0 : nb;
      err = tc_tail_scale_threshold_rows(S + l0 * N, nr, N, N, r_all, g0, opts->tail_p,
                                         res->th + g0, res->count + g0);
    }
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    TC_CALL_GOTO(err, allgather_cyclic_(comm, res->th, N, nb, sizeof(float)), cleanup);
    TC_CALL_GOTO(err, allgather_cyclic_(comm, res->count, N, nb, sizeof(int64_t)), cleanup);
    for (int64_t l0 = 0; l0 < gn && !err; l0 += nb) {
      int64_t g0 = tc_pgram_cyclic_global(l0, nb, rank, size), nr = gn - l0 < nb ? gn - l0 : nb;
      err = tc_tail_vote_rows(S + l0 * N, nr, N, N, res->th, res->count, res->kappa + g0);
    }
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    TC_CALL_GOTO(err, allgather_cyclic_(comm, res->kappa, N, nb, sizeof(int64_t)), cleanup);
    st.t_rows = tc_now() - t0;
    st.gram_block = nb;
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
  free(plan);
  free(A);
  free(Ag);
  if (S_bytes) tc_free_populated(S, S_bytes);
  else free(S);
  free(cur);
  free(nxt);
  free(r_all);
  free(Xc);
  (void)rank;
  return err;
}
