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

/* One run's state, shared by its steps. */
typedef struct {
  MPI_Comm comm;
  int rank, size;
  const TcPTailOpts *opts;
  int64_t N, E, lo, nloc;
  int64_t *los, *his; /* [size] every rank's read block [los[q], his[q]) */
  int64_t bmax;       /* the largest read block */
  int stream;         /* 1: streaming mode, 0: memory mode */
  int64_t R;          /* streaming: panel rows */
  int64_t nb, gn;     /* memory: block of the cyclic deal, this rank's rows in it */
  const float *X;     /* this rank's embeddings (Xc when centred) */
  float *Xc;          /* centred embeddings */
  float *A;           /* quantised rows (streaming), rows packed for other ranks (memory) */
  float *Ag;          /* memory: quantised rows of this rank's share of the cyclic deal */
  float *S;           /* memory: S rows of the deal; streaming: one panel */
  size_t S_bytes;     /* nonzero: S came from tc_malloc_populated */
  float *cur, *nxt;   /* streaming: ring buffers */
  int *plan;          /* memory: alltoallv plan of quantise_to_cyclic_ */
  double *r_all;      /* [N] inverse norms */
  TcTailResult *res;
  TcPTailStats st;
} Run_;

static void run_free_(Run_ *r) {
  tc_tail_result_destroy(&r->res);
  free(r->los);
  free(r->plan);
  free(r->A);
  free(r->Ag);
  if (r->S_bytes) tc_free_populated(r->S, r->S_bytes);
  else free(r->S);
  free(r->cur);
  free(r->nxt);
  free(r->r_all);
  free(r->Xc);
}

/* Every rank's row block, and the checks on layout, sizes and options.
 * Collective; returns an agreed code before any collective work. */
static TcErr agree_layout_(Run_ *r, int64_t hi) {
  const int size = r->size;
  const TcPTailOpts *opts = r->opts;
  const int64_t N = r->N, E = r->E;
  r->los = tc_malloc((size_t)size * 4 * sizeof(int64_t), "row layout");
  TC_CALL(tc_agree(r->comm, r->los ? TC_OK : TC_ERR_MEM));
  r->his = r->los + size;
  int64_t *both = r->los + 2 * size, mine[2] = {r->lo, hi};
  MPI_Allgather(mine, 2, MPI_INT64_T, both, 2, MPI_INT64_T, r->comm);
  for (int q = size - 1; q >= 0; q--) {
    int64_t a = both[2 * q], z = both[2 * q + 1];
    r->his[q] = z;
    r->los[q] = a;
  }
  TcErr err = TC_OK;
  int ok = r->los[0] == 0 && r->his[size - 1] == N;
  for (int q = 0; q < size; q++) ok = ok && r->los[q] <= r->his[q] && (q == 0 || r->los[q] == r->his[q - 1]);
  if (!ok)
    err = tc_err_set(TC_ERR_INTERNAL, "tailsample: row blocks do not tile [0, %lld) in rank order", (long long)N);
  else if (N < 1 || E < 1)
    err = tc_err_set(TC_ERR_FORMAT, "tailsample: no embeddings (N = %lld, E = %lld)", (long long)N, (long long)E);
  else if (opts->embed_norm != TC_TAIL_NORM_NONE && opts->embed_norm != TC_TAIL_NORM_CENTER)
    err = tc_err_set(TC_ERR_USAGE, "tailsample: unknown embedding norm %d", opts->embed_norm);
  else if (opts->tail_cut < TC_TAIL_CUT_CAP || opts->tail_cut > TC_TAIL_CUT_GAP)
    err = tc_err_set(TC_ERR_USAGE, "tailsample: unknown tail cut %d", opts->tail_cut);
  else if (!(opts->tail_p >= 0.0 && opts->tail_p <= 1.0))
    err = tc_err_set(TC_ERR_USAGE, "tailsample: --tail-p %g is not in [0, 1]", opts->tail_p);
  else if (N > 16777215)
    /* trunc(N s) and k / N must be exact in float32 */
    err = tc_err_set(TC_ERR_USAGE, "tailsample: N = %lld exceeds 2^24 - 1 images", (long long)N);
  return tc_agree(r->comm, err);
}

/* Streaming panel rows R: --panel-rows, else the most --mem-per-rank
 * allows, at most the largest block. Local, from global values. */
static TcErr panel_rows_(Run_ *r) {
  const TcPTailOpts *opts = r->opts;
  const int64_t N = r->N, E = r->E;
  int64_t fixed = tc_ptailsample_stream_bytes(N, E, r->size, 0);
  int64_t R = opts->panel_rows;
  if (R <= 0) {
    R = (opts->mem_per_rank - fixed) / (4 * N);
    if (R < 1)
      return tc_err_set(TC_ERR_USAGE, "tailsample: --mem-per-rank %lld bytes is below the "
                        "streaming minimum of %lld bytes per rank for N = %lld, E = %lld",
                        (long long)opts->mem_per_rank, (long long)(fixed + 4 * N), (long long)N, (long long)E);
  }
  if (R > r->bmax) R = r->bmax > 0 ? r->bmax : 1;
  r->R = R;
  if (r->bmax * E >= INT_MAX || R * N >= INT_MAX)
    return tc_err_set(TC_ERR_USAGE, "tailsample: a block of %lld x %lld or a panel of %lld x %lld "
                      "exceeds BLAS int indexing; use more ranks or --panel-rows",
                      (long long)r->bmax, (long long)E, (long long)R, (long long)N);
  return TC_OK;
}

/* The mode, from global values: every rank decides the same. Collective;
 * returns an agreed code. */
static TcErr choose_mode_(Run_ *r) {
  const TcPTailOpts *opts = r->opts;
  const int64_t N = r->N, E = r->E;
  const int size = r->size;
  for (int q = 0; q < size; q++) r->bmax = r->his[q] - r->los[q] > r->bmax ? r->his[q] - r->los[q] : r->bmax;
  int64_t bceil = tc_pgram_cyclic_rows(N, tc_pgram_cyclic_nb(N, size), 0, size);
  int64_t mem_bytes = tc_ptailsample_memory_bytes(N, E, size);
  int fits_int = N * E < INT_MAX && bceil * N < INT_MAX;
  TcErr err = TC_OK;
  if (opts->mode == TC_TAIL_MODE_STREAM) r->stream = 1;
  else if (opts->mode == TC_TAIL_MODE_MEMORY) {
    if (!fits_int)
      err = tc_err_set(TC_ERR_USAGE, "tailsample: N = %lld too large for --mode memory (ScaLAPACK "
                       "int indexing); use --mode stream", (long long)N);
  } else r->stream = mem_bytes > opts->mem_per_rank || !fits_int;
  if (!err && r->stream) err = panel_rows_(r);
  r->st.streamed = r->stream;
  r->st.panel_rows = r->R;
  r->st.est_bytes = r->stream ? tc_ptailsample_stream_bytes(N, E, size, r->R) : mem_bytes;
  TC_CALL(tc_agree(r->comm, err));
  tc_log(1, "tailsample: N = %lld, E = %lld, %d rank%s, %s mode%s, ~%.1f MiB per rank",
         (long long)N, (long long)E, size, size > 1 ? "s" : "", r->stream ? "streaming" : "in-memory",
         r->stream ? "" : " (ScaLAPACK psgemm on one triangle, 1 x P grid, block-cyclic rows)",
         (double)r->st.est_bytes / 1048576.0);
  if (r->stream) tc_log(2, "tailsample: panel rows %lld", (long long)r->R);
  return TC_OK;
}

/* Before step 1 (option): centre on the mean of all N embeddings. The sums
 * are integers, so the allreduce is exact in any order. Collective. */
static TcErr center_(Run_ *r) {
  const int64_t E = r->E, nloc = r->nloc;
  r->Xc = tc_malloc((size_t)(nloc > 0 ? nloc : 1) * (size_t)E * sizeof(float), "centred embeddings");
  int64_t *csum = tc_calloc((size_t)E, sizeof(int64_t), "embedding sums");
  int64_t bad = -1;
  TcErr err = TC_OK;
  if (!r->Xc || !csum) err = TC_ERR_MEM;
  else bad = tc_tail_center_sums(r->X, nloc, E, csum);
  if (bad == -2) err = TC_ERR_MEM;
  else if (bad >= 0)
    err = tc_err_set(TC_ERR_FORMAT, "tailsample: embedding of image %lld is not finite", (long long)(r->lo + bad));
  err = tc_agree(r->comm, err);
  if (!err) {
    int rc = MPI_Allreduce(MPI_IN_PLACE, csum, (int)E, MPI_INT64_T, MPI_SUM, r->comm);
    err = tc_mpi_check(rc, "tailsample: allreduce embedding sums");
  }
  if (!err) tc_tail_center_apply(r->X, nloc, E, csum, r->N, r->Xc);
  free(csum);
  if (!err) r->X = r->Xc;
  return err;
}

/* Step 1: quantise this rank's rows (in memory mode straight into their
 * slot for the Gram's cyclic deal) and their inverse norms into r_all.
 * The finiteness check rides on quantisation's sum of squares. Local: the
 * caller agrees. */
static TcErr quantise_(Run_ *r) {
  const int64_t N = r->N, E = r->E, nloc = r->nloc, rows = nloc > 0 ? nloc : 1;
  TC_CALL(tc_tail_result_create(N, &r->res));
  r->res->cut = r->opts->tail_cut;
  r->r_all = tc_malloc((size_t)N * sizeof(double), "inverse norms");
  TcErr err = TC_OK;
  if (r->stream) {
    r->A = tc_malloc_aligned((size_t)rows * (size_t)E * sizeof(float), "quantised rows");
  } else {
    r->nb = tc_pgram_cyclic_nb(N, r->size);
    r->gn = tc_pgram_cyclic_rows(N, r->nb, r->rank, r->size);
    /* every page of S is written by psgemm or the mirror: map them at once */
    r->S_bytes = (size_t)(r->gn > 0 ? r->gn : 1) * (size_t)N * sizeof(float);
    double t0 = tc_now();
    r->S = tc_malloc_populated(r->S_bytes, "S rows");
    r->st.t_alloc = tc_now() - t0;
    r->Ag = tc_malloc_aligned((size_t)(r->gn > 0 ? r->gn : 1) * (size_t)E * sizeof(float), "gram rows");
    /* rows bound for other ranks, packed by destination */
    r->A = tc_malloc_aligned((size_t)rows * (size_t)E * sizeof(float), "row pack");
    r->plan = tc_calloc((size_t)r->size * 4, sizeof(int), "alltoallv counts");
    if (!r->S || !r->Ag || !r->plan) err = TC_ERR_MEM;
  }
  if (!r->A || !r->r_all) err = TC_ERR_MEM;
  if (err) return err;
  int64_t bad = r->stream ? tc_tail_quantise(r->X, nloc, E, r->A, r->r_all + r->lo)
                          : quantise_to_cyclic_(r->comm, r->X, E, r->los, r->his, r->nb, r->A, r->Ag,
                                                r->r_all + r->lo, r->plan);
  if (bad == -2) return TC_ERR_MEM;
  if (bad >= 0)
    return tc_err_set(TC_ERR_FORMAT, "tailsample: embedding of image %lld is not finite", (long long)(r->lo + bad));
  return TC_OK;
}

/* Every rank's inverse norms into r_all. Collective. */
static TcErr gather_norms_(Run_ *r) {
  const int size = r->size;
  /* MPI forbids aliased send/recv buffers: use MPI_IN_PLACE semantics */
  int *cnt = tc_malloc((size_t)size * 2 * sizeof(int), "counts");
  TcErr err = tc_agree(r->comm, cnt ? TC_OK : TC_ERR_MEM);
  if (err) {
    free(cnt);
    return err;
  }
  for (int q = 0; q < size; q++) {
    cnt[q] = (int)(r->his[q] - r->los[q]);
    cnt[size + q] = (int)r->los[q];
  }
  int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DOUBLE, r->r_all, cnt, cnt + size, MPI_DOUBLE, r->comm);
  free(cnt);
  return tc_mpi_check(rc, "tailsample: allgather norms");
}

/* Memory mode, steps 2-4 on this rank's rows of S from ScaLAPACK in its
 * cyclic deal; the row kernels take consecutive global rows, so one call
 * per block of the deal. Collective. */
static TcErr memory_rows_(Run_ *r) {
  const MPI_Comm comm = r->comm;
  const int64_t N = r->N, nb = r->nb, gn = r->gn;
  TcTailResult *res = r->res;
  TC_CALL(cyclic_exchange_(comm, r->A, r->Ag, r->E, r->plan));
  free(r->A);
  r->A = NULL;
  TcPGramStats gs;
  TcErr err = tc_pgram_sym_rows(comm, r->Ag, N, r->E, nb, r->S, &gs);
  r->st.t_gram = gs.t_gemm + gs.t_mirror;
  r->st.t_mirror = gs.t_mirror;
  r->st.gram_flops = gs.flops;
  if (err) return err;
  double t0 = tc_now();
  for (int64_t l0 = 0; l0 < gn && !err; l0 += nb) {
    int64_t g0 = tc_pgram_cyclic_global(l0, nb, r->rank, r->size), nr = gn - l0 < nb ? gn - l0 : nb;
    err = tc_tail_scale_threshold_rows(r->S + l0 * N, nr, N, N, r->r_all, g0, r->opts->tail_p, res->th + g0,
                                       res->count + g0);
  }
  TC_CALL(tc_agree(comm, err));
  TC_CALL(allgather_cyclic_(comm, res->th, N, nb, sizeof(float)));
  TC_CALL(allgather_cyclic_(comm, res->count, N, nb, sizeof(int64_t)));
  for (int64_t l0 = 0; l0 < gn && !err; l0 += nb) {
    int64_t g0 = tc_pgram_cyclic_global(l0, nb, r->rank, r->size), nr = gn - l0 < nb ? gn - l0 : nb;
    err = tc_tail_vote_rows(r->S + l0 * N, nr, N, N, res->th, res->count, res->kappa + g0);
  }
  TC_CALL(tc_agree(comm, err));
  TC_CALL(allgather_cyclic_(comm, res->kappa, N, nb, sizeof(int64_t)));
  r->st.t_rows = tc_now() - t0;
  r->st.gram_block = nb;
  return TC_OK;
}

/* One streaming pass over this rank's rows in panels: pass 0 thresholds
 * and counts (steps 2-3), pass 1 votes (step 4). Collective; returns an
 * agreed code. */
static TcErr stream_pass_(Run_ *r, int pass, int64_t npanels) {
  const int64_t N = r->N, R = r->R, lo = r->lo, nloc = r->nloc;
  TcTailResult *res = r->res;
  TcErr err = TC_OK;
  TcProgress prog;
  tc_progress_start(&prog, pass == 0 ? "tailsample pass 1 (thresholds)" : "tailsample pass 2 (votes)", "panels",
                    npanels);
  for (int64_t t = 0; t < npanels; t++) {
    int64_t i0 = t * R;
    int64_t nr = nloc - i0 < R ? nloc - i0 : R;
    if (nr < 0) nr = 0;
    TC_CALL(stream_panel_(r->comm, r->A, N, r->E, r->los, r->his, i0, nr, r->S, r->cur, r->nxt, &r->st.t_gram));
    double t0 = tc_now();
    /* a row-step failure is only an allocation failure: remember it and
     * keep the ring going so no rank is left waiting in it */
    TcErr e2;
    if (pass == 0) {
      e2 = tc_tail_scale_threshold_rows(r->S, nr, N, N, r->r_all, lo + i0, r->opts->tail_p, res->th + lo + i0,
                                        res->count + lo + i0);
    } else {
      tc_tail_scale(r->S, nr, N, N, r->r_all + lo + i0, r->r_all, lo + i0, 0);
      e2 = tc_tail_vote_rows(r->S, nr, N, N, res->th, res->count, res->kappa + lo + i0);
    }
    if (e2 && !err) err = e2;
    r->st.t_rows += tc_now() - t0;
    tc_progress_update(&prog, t + 1);
  }
  tc_progress_finish(&prog);
  return tc_agree(r->comm, err);
}

/* Streaming mode, steps 2-4: panels of R rows, twice, A blocks around a
 * ring. Collective. */
static TcErr stream_rows_(Run_ *r) {
  const int64_t N = r->N, E = r->E, blk = r->bmax > 0 ? r->bmax : 1;
  TcTailResult *res = r->res;
  r->S = tc_malloc_aligned((size_t)r->R * (size_t)N * sizeof(float), "S panel");
  r->cur = tc_malloc_aligned((size_t)blk * (size_t)E * sizeof(float), "ring block");
  r->nxt = tc_malloc_aligned((size_t)blk * (size_t)E * sizeof(float), "ring block");
  TC_CALL(tc_agree(r->comm, r->S && r->cur && r->nxt ? TC_OK : TC_ERR_MEM));
  int64_t npanels = (r->bmax + r->R - 1) / r->R;
  TC_CALL(stream_pass_(r, 0, npanels));
  TC_CALL(allgather_rows_(r->comm, res->th, r->los, r->his, sizeof(float)));
  TC_CALL(allgather_rows_(r->comm, res->count, r->los, r->his, sizeof(int64_t)));
  TC_CALL(stream_pass_(r, 1, npanels));
  TC_CALL(allgather_rows_(r->comm, res->kappa, r->los, r->his, sizeof(int64_t)));
  r->st.gram_flops = 4.0 * (double)N * (double)N * (double)E;
  return TC_OK;
}

TcErr tc_ptailsample_run(MPI_Comm comm, const float *X_local, int64_t N, int64_t E, int64_t lo,
                         int64_t hi, const TcPTailOpts *opts, TcTailResult **out,
                         TcPTailStats *stats) {
  double t_start = tc_now();
  *out = NULL;
  Run_ r = {.comm = comm, .rank = tc_rank(comm), .size = tc_size(comm), .opts = opts, .N = N, .E = E,
            .lo = lo, .nloc = hi - lo, .X = X_local};
  TcErr err = agree_layout_(&r, hi);
  if (!err) err = choose_mode_(&r);
  if (!err && opts->embed_norm == TC_TAIL_NORM_CENTER) err = center_(&r);
  if (!err) err = tc_agree(comm, quantise_(&r));
  if (!err) err = gather_norms_(&r);
  if (!err) err = r.stream ? stream_rows_(&r) : memory_rows_(&r);
  /* steps 5-7 on the global kappa: the same on every rank */
  if (!err) err = tc_agree(comm, tc_tail_finish(r.res));
  if (!err) {
    *out = r.res;
    r.res = NULL;
  }
  r.st.t_total = tc_now() - t_start;
  if (stats) *stats = r.st;
  run_free_(&r);
  return err;
}
