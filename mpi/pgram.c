/* pgram.c - one triangle of S = A A^T with psgemm on a 1 x P grid, block
 * cyclic rows, then the other triangle by a mirror exchange (see pgram.h). */
#include "pgram.h"

#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "log.h"
#include "scalapack.h"
#include "transpose.h"

int64_t tc_pgram_cyclic_nb(int64_t N, int size) {
  const char *env = getenv("TC_GRAM_BLOCK");
  if (env && *env) {
    char *end = NULL;
    long long v = strtoll(env, &end, 10);
    /* a block larger than N is one block of N rows */
    if (end && *end == '\0' && v > 0) return v < N ? v : (N > 0 ? N : 1);
    static int warned = 0;
    if (!warned) tc_log(0, "warning: TC_GRAM_BLOCK='%s' is not a positive integer; using the default", env);
    warned = 1;
  }
  int64_t target = size > 0 ? N / (4 * (int64_t)size) : N, nb = 32;
  while (nb * 2 <= target && nb < 512) nb *= 2;
  return nb;
}

int64_t tc_pgram_cyclic_rows(int64_t N, int64_t nb, int rank, int size) {
  int64_t nblk = (N + nb - 1) / nb, mine = 0;
  for (int64_t b = rank; b < nblk; b += size) mine += (b + 1) * nb <= N ? nb : N - b * nb;
  return mine;
}

/* rows in global block b */
static inline int64_t block_rows_(int64_t b, int64_t nb, int64_t N) {
  return (b + 1) * nb <= N ? nb : N - b * nb;
}

/* Fill the tiles (bg, bi), bi > bg, of this rank's rows from the computed
 * tiles (bi, bg) of the owners of block bi. Tiles on block diagonal d
 * (bi = bg + d) come from rank + d (mod P) and go to rank - d: one
 * MPI_Sendrecv per d, or a local transpose when d is a multiple of P. The
 * sender walks its blocks bi ascending and the receiver its blocks bg =
 * bi - d ascending, so tiles arrive in the order they are placed.
 * sendbuf, recvbuf: nloc x nb floats each. */
static TcErr mirror_(MPI_Comm comm, float *S, int64_t N, int64_t nb, float *sendbuf,
                     float *recvbuf) {
  int rank = tc_rank(comm), size = tc_size(comm);
  int64_t nblk = (N + nb - 1) / nb;
  for (int64_t d = 1; d < nblk; d++) {
    int to = (int)(((int64_t)rank - d % size + size) % size), from = (int)((rank + d) % size);
    int64_t nsend = 0, nrecv = 0;
    for (int64_t lb = 0, bi = rank; bi < nblk; lb++, bi += size) {
      int64_t bg = bi - d;
      if (bg < 0) continue;
      int64_t ri = block_rows_(bi, nb, N), rg = block_rows_(bg, nb, N);
      const float *tile = S + lb * nb * N + bg * nb; /* rows of bi, columns of bg */
      if (to == rank) {
        /* the owner of bg is this rank: place it directly */
        int64_t lg = bg / size;
        tc_transpose_f32(tile, N, S + lg * nb * N + bi * nb, N, ri, rg);
      } else {
        tc_transpose_f32(tile, N, sendbuf + nsend, ri, ri, rg);
        nsend += ri * rg;
      }
    }
    if (to == rank) continue;
    for (int64_t bg = rank; bg + d < nblk; bg += size) nrecv += block_rows_(bg, nb, N) * block_rows_(bg + d, nb, N);
    int rc = MPI_Sendrecv(sendbuf, (int)nsend, MPI_FLOAT, to, 78, recvbuf, (int)nrecv, MPI_FLOAT,
                          from, 78, comm, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) {
      /* a failed point-to-point cannot be agreed on: the peer may be gone */
      tc_mpi_check(rc, "tailsample: Gram mirror exchange");
      tc_abort(comm, TC_ERR_MPI, "tailsample Gram mirror");
    }
    int64_t off = 0;
    for (int64_t lg = 0, bg = rank; bg + d < nblk; lg++, bg += size) {
      int64_t bi = bg + d, ri = block_rows_(bi, nb, N), rg = block_rows_(bg, nb, N);
      for (int64_t r = 0; r < rg; r++)
        memcpy(S + (lg * nb + r) * N + bi * nb, recvbuf + off + r * ri, (size_t)ri * sizeof(float));
      off += ri * rg;
    }
  }
  return TC_OK;
}

TcErr tc_pgram_sym_rows(MPI_Comm comm, const float *A_local, int64_t N, int64_t E, int64_t nb,
                        float *S_local, TcPGramStats *stats) {
  int rank = tc_rank(comm), size = tc_size(comm);
  TcPGramStats st = {0.0, 0.0, 0.0};
  int64_t nloc = tc_pgram_cyclic_rows(N, nb, rank, size);
  /* every rank reaches the same verdict from global values: no agreement needed */
  int64_t bmax = tc_pgram_cyclic_rows(N, nb, 0, size);
  TC_CHECK(N * E < 2147483647LL && bmax * N < 2147483647LL && nb < 2147483647LL, TC_ERR_USAGE,
           "gram: N = %lld, E = %lld too large for the in-memory ScaLAPACK Gram; use --mode stream",
           (long long)N, (long long)E);
  int n = (int)N, e = (int)E, inb = (int)nb, zero_i = 0, one_i = 1, info = 0;
  TcErr err = TC_OK;
  size_t wbytes = (size_t)(nloc > 0 ? nloc : 1) * (size_t)nb * sizeof(float);
  float *sendbuf = tc_malloc_aligned(wbytes, "Gram mirror send buffer");
  float *recvbuf = tc_malloc_aligned(wbytes, "Gram mirror receive buffer");
  if (!sendbuf || !recvbuf) err = TC_ERR_MEM;

  int handle = Csys2blacs_handle(comm);
  int ctxt = handle;
  Cblacs_gridinit(&ctxt, "Row", 1, size);
  int nprow = 0, npcol = 0, myrow = -1, mycol = -1;
  Cblacs_gridinfo(ctxt, &nprow, &npcol, &myrow, &mycol);
  if (!err && (nprow != 1 || npcol != size || mycol != rank)) {
    err = tc_err_set(TC_ERR_LIB, "gram: BLACS grid is %d x %d, I am column %d (expected 1 x %d, %d)",
                     nprow, npcol, mycol, size, rank);
  }
  /* Row-major [rows x E] is column-major At = A^T [E x rows]: At is E x N
   * over the 1 x P grid with column blocks of nb dealt cyclically, one row
   * block of E (the inner dimension whole). C = At^T At is N x N with the
   * same column deal; column-major local [N x nloc] = our row-major rows. */
  int descA[9], descC[9];
  if (!err) {
    int nl = numroc_(&n, &inb, &mycol, &zero_i, &npcol);
    if (nl != (int)nloc)
      err = tc_err_set(TC_ERR_INTERNAL, "gram: numroc gives %d local rows, layout %lld", nl,
                       (long long)nloc);
  }
  if (!err) {
    int lldA = e > 1 ? e : 1, lldC = n > 1 ? n : 1;
    descinit_(descA, &e, &n, &e, &inb, &zero_i, &zero_i, &ctxt, &lldA, &info);
    if (info == 0) descinit_(descC, &n, &n, &n, &inb, &zero_i, &zero_i, &ctxt, &lldC, &info);
    if (info != 0) err = tc_err_set(TC_ERR_LIB, "gram: descinit failed (info %d)", info);
  }
  err = tc_agree(comm, err);
  if (!err) {
    const float one = 1.0f, zero = 0.0f;
    /* A rank with no rows still takes part: PBLAS is collective on the grid */
    static const float dummy[1] = {0.0f};
    float dummy_out[1];
    const float *a = nloc > 0 ? A_local : dummy;
    float *c = nloc > 0 ? S_local : dummy_out;
    /* Panel t: C(i0:i0+h, i0:N), the rows of block t against every column
     * from the diagonal on (in our row-major view: columns i0.. of every row
     * >= i0). Each call is balanced because the columns >= i0 are dealt
     * cyclically; the diagonal tile is computed whole (nb/N of the work). */
    double t0 = tc_now();
    TcProgress prog;
    int npanels = (int)((N + nb - 1) / nb);
    tc_progress_start(&prog, "tailsample Gram (psgemm)", "row panels", npanels);
    for (int t = 0; t < npanels; t++) {
      int i0 = t * inb, h = n - i0 < inb ? n - i0 : inb, w = n - i0, ia = i0 + 1;
      psgemm_("T", "N", &h, &w, &e, &one, a, &one_i, &ia, descA, a, &one_i, &ia, descA, &zero, c,
              &ia, &ia, descC);
      st.flops += 2.0 * (double)h * (double)w * (double)E;
      tc_progress_update(&prog, t + 1);
    }
    tc_progress_finish(&prog);
    st.t_gemm = tc_now() - t0;
    t0 = tc_now();
    err = mirror_(comm, S_local, N, nb, sendbuf, recvbuf);
    st.t_mirror = tc_now() - t0;
    tc_log(2, "tailsample: Gram psgemm %.3f s (%d panels of %lld rows), mirror %.3f s",
           st.t_gemm, npanels, (long long)nb, st.t_mirror);
  }
  Cblacs_gridexit(ctxt);
  Cfree_blacs_system_handle(handle);
  free(sendbuf);
  free(recvbuf);
  if (stats) *stats = st;
  return tc_agree(comm, err);
}

/* PBLAS's documented tuning hook (PBLAS/SRC/pilaenv.f: "the user should
 * modify this routine"): the logical block size PBLAS uses to split the
 * inner dimension of psgemm into separate local sgemm calls. The reference
 * value 32 makes every local call a rank-32 update at a few percent of sgemm
 * peak; 1024 lets OpenBLAS run its own blocking. Defining it here overrides
 * the library's copy for the whole executable. Results do not change: the
 * Gram's dot products are exact (see tailsampler.h). */
int pilaenv_(int *ictxt, char *prec) {
  (void)ictxt;
  (void)prec;
  return 1024;
}
