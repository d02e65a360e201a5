/* pgram.c - S = A A^T with psgemm on a 1 x P grid built from our
 * communicator (see pgram.h for why this grid). */
#include "pgram.h"

#include "context.h"
#include "log.h"
#include "scalapack.h"

/* Rows of S per psgemm call (a progress step; see tc_pgram_rows). */
#define TC_PGRAM_PANEL 2048

void tc_pgram_block_range(int64_t N, int rank, int size, int64_t *lo, int64_t *hi) {
  int64_t b = size > 0 ? (N + size - 1) / size : N;
  if (b < 1) b = 1;
  int64_t a = (int64_t)rank * b, z = a + b;
  *lo = a < N ? a : N;
  *hi = z < N ? z : N;
}

TcErr tc_pgram_rows(MPI_Comm comm, const float *A_local, int64_t N, int64_t E, float *S_local) {
  int rank = tc_rank(comm), size = tc_size(comm);
  int64_t lo, hi;
  tc_pgram_block_range(N, rank, size, &lo, &hi);
  int64_t b = (N + size - 1) / size;
  if (b < 1) b = 1;
  /* every rank reaches the same verdict from global values: no agreement needed */
  TC_CHECK(N * E < 2147483647LL && b * N < 2147483647LL, TC_ERR_USAGE,
           "gram: N = %lld, E = %lld too large for the in-memory ScaLAPACK Gram; use --mode stream",
           (long long)N, (long long)E);
  int n = (int)N, e = (int)E, nb = (int)b, zero_i = 0, one_i = 1, info = 0;

  int handle = Csys2blacs_handle(comm);
  int ctxt = handle;
  Cblacs_gridinit(&ctxt, "Row", 1, size);
  int nprow = 0, npcol = 0, myrow = -1, mycol = -1;
  Cblacs_gridinfo(ctxt, &nprow, &npcol, &myrow, &mycol);
  TcErr err = TC_OK;
  if (nprow != 1 || npcol != size || mycol != rank) {
    err = tc_err_set(TC_ERR_LIB, "gram: BLACS grid is %d x %d, I am column %d (expected 1 x %d, %d)",
                     nprow, npcol, mycol, size, rank);
  }
  /* Row-major [rows x E] is column-major At = A^T [E x rows]: At is E x N
   * over the 1 x P grid with column blocks of b, one row block of E (the
   * inner dimension whole). C = At^T At is N x N, column-major local
   * [N x rows] = our row-major rows. */
  int descA[9], descC[9];
  if (err == TC_OK) {
    int nloc = numroc_(&n, &nb, &mycol, &zero_i, &npcol);
    if (nloc != (int)(hi - lo))
      err = tc_err_set(TC_ERR_INTERNAL, "gram: numroc gives %d local rows, layout %lld", nloc,
                       (long long)(hi - lo));
  }
  if (err == TC_OK) {
    int lldA = e > 1 ? e : 1, lldC = n > 1 ? n : 1;
    descinit_(descA, &e, &n, &e, &nb, &zero_i, &zero_i, &ctxt, &lldA, &info);
    if (info == 0) descinit_(descC, &n, &n, &n, &nb, &zero_i, &zero_i, &ctxt, &lldC, &info);
    if (info != 0) err = tc_err_set(TC_ERR_LIB, "gram: descinit failed (info %d)", info);
  }
  err = tc_agree(comm, err);
  if (err == TC_OK) {
    const float one = 1.0f, zero = 0.0f;
    /* A rank with no rows still takes part: PBLAS is collective on the grid */
    static const float dummy[1] = {0.0f};
    float dummy_out[1];
    const float *a = hi > lo ? A_local : dummy;
    float *c = hi > lo ? S_local : dummy_out;
    /* Row panels of C, one psgemm each, so a Gram of minutes shows progress
     * (one call over all rows is silent until it returns). Measured at
     * N = 20000 (E = 1280) and N = 5000 (E = 2048): the same speed as one
     * call within the noise; the dots are exact, so the bits are the same. */
    TcProgress prog;
    int npanels = (n + TC_PGRAM_PANEL - 1) / TC_PGRAM_PANEL;
    tc_progress_start(&prog, "tailsample Gram (psgemm)", "row panels", npanels);
    for (int t = 0; t < npanels; t++) {
      int i0 = t * TC_PGRAM_PANEL, h = n - i0 < TC_PGRAM_PANEL ? n - i0 : TC_PGRAM_PANEL;
      int ja = i0 + 1;
      psgemm_("T", "N", &h, &n, &e, &one, a, &one_i, &ja, descA, a, &one_i, &one_i, descA, &zero,
              c, &ja, &one_i, descC);
      tc_progress_update(&prog, t + 1);
    }
    tc_progress_finish(&prog);
  }
  Cblacs_gridexit(ctxt);
  Cfree_blacs_system_handle(handle);
  return err;
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
