/* pcoreset.c - distributed greedy coreset: one allreduce per step. */
#include "pcoreset.h"

#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "coreset.h"
#include "log.h"
#include "partition.h"

static void maxloc_(void *in, void *inout, int *len, MPI_Datatype *type) {
  int bytes = 0;
  MPI_Type_size(*type, &bytes);
  char *a = in, *b = inout;
  for (int e = 0; e < *len; e++, a += bytes, b += bytes) {
    const TcPcoresetCand *x = (const TcPcoresetCand *)a;
    const TcPcoresetCand *y = (const TcPcoresetCand *)b;
    /* a total order on (val desc, gidx asc): the result cannot depend on
     * the reduction tree, hence not on the rank count */
    if (x->val > y->val || (x->val == y->val && x->gidx < y->gidx)) memcpy(b, a, (size_t)bytes);
  }
}

TcErr tc_pcoreset_op_create(int dim, MPI_Datatype *type, MPI_Op *op) {
  int bytes = (int)(sizeof(TcPcoresetCand) + (size_t)dim * sizeof(float));
  TC_CALL(tc_mpi_check(MPI_Type_contiguous(bytes, MPI_BYTE, type), "coreset datatype"));
  TC_CALL(tc_mpi_check(MPI_Type_commit(type), "coreset datatype"));
  TC_CALL(tc_mpi_check(MPI_Op_create(maxloc_, 1, op), "coreset max-location op"));
  return TC_OK;
}

void tc_pcoreset_op_free(MPI_Datatype *type, MPI_Op *op) {
  if (*op != MPI_OP_NULL) MPI_Op_free(op);
  if (*type != MPI_DATATYPE_NULL) MPI_Type_free(type);
}

/* The one-allreduce-per-step loop over this rank's rows E_local (encoded,
 * rb bytes each); the candidate carries the winner's encoded row. */
static TcErr loop_(MPI_Comm comm, const void *E_local, int64_t n_local, int64_t off, int64_t n_total,
                   int dim, TcCoresetPrec prec, int64_t m, int64_t first, int pruned, int64_t *idx,
                   const char *stage) {
  TcErr err = TC_OK;
  TcCoreset *s = NULL;
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_Op op = MPI_OP_NULL;
  const size_t rb = tc_coreset_row_bytes(prec, dim);
  const char *R = E_local;
  size_t cbytes = sizeof(TcPcoresetCand) + (size_t)dim * sizeof(float);
  TcPcoresetCand *mine = NULL, *win = NULL;
  if (!(n_total >= 1 && m >= 1 && m <= n_total && first >= 0 && first < n_total && dim >= 1))
    err = tc_err_set(TC_ERR_INTERNAL, "coreset: bad sizes (n %lld, m %lld, first %lld)",
                     (long long)n_total, (long long)m, (long long)first);
  if (!err) {
    err = tc_coreset_create_enc(E_local, n_local, dim, prec, pruned, &s);
  }
  if (!err) {
    mine = tc_malloc(cbytes, "coreset candidate");
    win = tc_malloc(cbytes, "coreset candidate");
    if (!mine || !win) err = TC_ERR_MEM;
  }
  if (!err) err = tc_pcoreset_op_create(dim, &type, &op);
  err = tc_agree(comm, err);
  if (err) goto cleanup;

  /* the seeded first point travels through the same op: its owner offers
   * it with +inf, everyone else offers nothing */
  mine->gidx = INT64_MAX;
  mine->val = -1.0f;
  memset(mine->vec, 0, (size_t)dim * sizeof(float));
  if (first >= off && first < off + n_local) {
    mine->gidx = first;
    mine->val = INFINITY;
    memcpy(mine->vec, R + (first - off) * rb, rb);
  }
  TC_CALL_GOTO(err, tc_mpi_check(MPI_Allreduce(mine, win, 1, type, op, comm), "coreset step"),
               cleanup);
  idx[0] = win->gidx;
  TcProgress prog;
  tc_progress_start(&prog, stage ? stage : "coreset", "points", m);
  for (int64_t t = 1; t < m; t++) {
    int64_t b;
    float bv;
    /* cannot fail after create (no allocation in the plain step; the pruned
     * step may grow its centre table: a failure there aborts, since the
     * other ranks are already inside the next allreduce) */
    if (tc_coreset_step_enc(s, win->vec, &b, &bv) != TC_OK) tc_abort(comm, TC_ERR_MEM, "coreset step");
    if (b >= 0) {
      mine->gidx = off + b;
      mine->val = bv;
      memcpy(mine->vec, R + b * rb, rb);
    } else {
      mine->gidx = INT64_MAX;
      mine->val = -1.0f;
    }
    int rc = MPI_Allreduce(mine, win, 1, type, op, comm);
    if (rc != MPI_SUCCESS) tc_abort(comm, TC_ERR_MPI, "coreset step");
    idx[t] = win->gidx;
    tc_progress_update(&prog, t + 1);
  }
  tc_progress_finish(&prog);
cleanup:
  tc_pcoreset_op_free(&type, &op);
  tc_coreset_destroy(&s);
  free(mine);
  free(win);
  return err;
}

TcErr tc_pcoreset_select(MPI_Comm comm, const float *X_local, int64_t n_local, int64_t off,
                         int64_t n_total, int dim, int64_t m, int64_t first, int pruned,
                         int64_t *idx, const char *stage) {
  return loop_(comm, X_local, n_local, off, n_total, dim, TC_CORESET_F32, m, first, pruned, idx, stage);
}

static int cmp_i64_(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Two-round selection over encoded rows (see coreset.h). Shards are dealt in
 * contiguous blocks of shard numbers; one all-to-all moves every row to the
 * rank of its shard, round 1 runs without communication, round 2 is loop_
 * over the union in (shard, ordinal) order, which is rank-blocked because
 * the shards are. */
static TcErr tworound_(MPI_Comm comm, const char *E_local, int64_t n_local, int64_t off, int64_t n_total,
                       int dim, TcCoresetPrec prec, const TcCoresetMode *mode, int64_t m, int64_t first,
                       int64_t *idx, int64_t *m_got, const char *stage) {
  const int rank = tc_rank(comm), size = tc_size(comm);
  const size_t rb = tc_coreset_row_bytes(prec, dim);
  const int64_t ns = tc_coreset_nshards(n_total, mode->shard);
  const double over = mode->oversample >= 1.0 ? mode->oversample : 1.0;
  TcErr err = TC_OK;
  int *scnt = NULL, *sdsp = NULL, *rcnt = NULL, *rdsp = NULL;
  int64_t *sbo = NULL, *shlo = NULL, *rord = NULL, *pick = NULL, *uo = NULL, *ui = NULL, *ord_s = NULL;
  char *sb = NULL, *rbuf = NULL, *S = NULL, *U = NULL, *c0 = NULL;
  MPI_Datatype row = MPI_DATATYPE_NULL;
  int64_t nrecv = 0, nu = 0;

  /* shard j lives on the rank whose block of shard numbers holds it */
  shlo = tc_malloc((size_t)(size + 1) * sizeof(int64_t), "shard blocks");
  scnt = tc_calloc((size_t)size, sizeof(int), "all-to-all counts");
  sdsp = tc_calloc((size_t)size, sizeof(int), "all-to-all counts");
  rcnt = tc_calloc((size_t)size, sizeof(int), "all-to-all counts");
  rdsp = tc_calloc((size_t)size, sizeof(int), "all-to-all counts");
  sb = tc_malloc_aligned((size_t)(n_local > 0 ? n_local : 1) * rb, "shard send rows");
  sbo = tc_malloc((size_t)(n_local > 0 ? n_local : 1) * sizeof(int64_t), "shard send ordinals");
  c0 = tc_calloc(1, rb, "first point");
  if (!shlo || !scnt || !sdsp || !rcnt || !rdsp || !sb || !sbo || !c0) err = TC_ERR_MEM;
  if (!err && n_local > INT_MAX) err = tc_err_set(TC_ERR_USAGE, "two-round coreset: %lld points on one rank "
                                                  "is too many for MPI counts: run more ranks", (long long)n_local);
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  for (int r = 0; r <= size; r++) {
    int64_t lo, hi;
    tc_block_range(ns, r < size ? r : size - 1, size, &lo, &hi);
    shlo[r] = r < size ? lo : hi;
  }
  /* the first point's encoded row, from its owner (a sum with zeros is exact
   * only for floats, so move bytes with a max over unsigned chars: every
   * other rank offers zeros) */
  if (first >= off && first < off + n_local) memcpy(c0, E_local + (first - off) * rb, rb);
  TC_CALL_GOTO(err, tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, c0, (int)rb, MPI_UNSIGNED_CHAR, MPI_MAX, comm),
                                 "first point"), cleanup);

  /* counting sort of my rows by destination rank, ordinal order kept */
  {
    int dest = 0;
    for (int64_t i = 0; i < n_local; i++) {
      const int64_t j = (off + i) % ns;
      dest = 0;
      while (dest + 1 < size && j >= shlo[dest + 1]) dest++;
      scnt[dest]++;
    }
    for (int r = 1; r < size; r++) sdsp[r] = sdsp[r - 1] + scnt[r - 1];
    int *fill = tc_calloc((size_t)size, sizeof(int), "fill");
    if (!fill) tc_abort(comm, TC_ERR_MEM, "two-round coreset");
    for (int64_t i = 0; i < n_local; i++) {
      const int64_t j = (off + i) % ns;
      dest = 0;
      while (dest + 1 < size && j >= shlo[dest + 1]) dest++;
      const int64_t at = sdsp[dest] + fill[dest]++;
      memcpy(sb + at * rb, E_local + i * rb, rb);
      sbo[at] = off + i;
    }
    free(fill);
  }
  TC_CALL_GOTO(err, tc_mpi_check(MPI_Alltoall(scnt, 1, MPI_INT, rcnt, 1, MPI_INT, comm), "shard counts"), cleanup);
  for (int r = 0; r < size; r++) nrecv += rcnt[r];
  for (int r = 1; r < size; r++) rdsp[r] = rdsp[r - 1] + rcnt[r - 1];
  if (nrecv > INT_MAX) err = tc_err_set(TC_ERR_USAGE, "two-round coreset: %lld points on one rank is too many "
                                        "for MPI counts: run more ranks", (long long)nrecv);
  {
    const int64_t my_ns = shlo[rank + 1] - shlo[rank];
    int64_t ucap = 1;
    for (int64_t j = shlo[rank]; j < shlo[rank + 1]; j++)
      ucap += tc_coreset_shard_k(n_total, m, (n_total - j + ns - 1) / ns, over);
    const int64_t maxlen = (n_total + ns - 1) / ns;
    rbuf = tc_malloc_aligned((size_t)(nrecv > 0 ? nrecv : 1) * rb, "shard rows");
    rord = tc_malloc((size_t)(nrecv > 0 ? nrecv : 1) * sizeof(int64_t), "shard ordinals");
    S = tc_malloc_aligned((size_t)maxlen * rb, "shard");
    pick = tc_malloc((size_t)(maxlen + 1) * sizeof(int64_t), "shard picks");
    ord_s = tc_malloc((size_t)(maxlen > 0 ? maxlen : 1) * sizeof(int64_t), "shard ordinals");
    U = tc_malloc_aligned((size_t)ucap * rb, "two-round union");
    uo = tc_malloc((size_t)ucap * sizeof(int64_t), "two-round union ordinals");
    if (!err && (!rbuf || !rord || !S || !pick || !ord_s || !U || !uo)) err = TC_ERR_MEM;
    (void)my_ns;
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  if (MPI_Type_contiguous((int)rb, MPI_BYTE, &row) != MPI_SUCCESS || MPI_Type_commit(&row) != MPI_SUCCESS)
    tc_abort(comm, TC_ERR_MPI, "two-round coreset datatype");
  if (MPI_Alltoallv(sb, scnt, sdsp, row, rbuf, rcnt, rdsp, row, comm) != MPI_SUCCESS ||
      MPI_Alltoallv(sbo, scnt, sdsp, MPI_INT64_T, rord, rcnt, rdsp, MPI_INT64_T, comm) != MPI_SUCCESS)
    tc_abort(comm, TC_ERR_MPI, "two-round coreset exchange");
  free(sb); sb = NULL;
  free(sbo); sbo = NULL;

  /* round 1, no communication: the received rows are in ascending ordinal
   * order (rank r sends only ordinals below rank r+1's), so a stable pass per
   * shard gives each shard its rows in ordinal order */
  {
    double t0 = tc_now();
    for (int64_t j = shlo[rank]; j < shlo[rank + 1]; j++) {
      int64_t len = 0;
      for (int64_t i = 0; i < nrecv; i++)
        if (rord[i] % ns == j) {
          memcpy(S + len * rb, rbuf + i * rb, rb);
          ord_s[len++] = rord[i];
        }
      if (len == 0) continue;
      const int64_t k = tc_coreset_shard_k(n_total, m, len, over);
      TcErr e = tc_coreset_select_enc(S, len, dim, prec, mode->pruned, c0, 0, k, pick);
      if (e) tc_abort(comm, e, "two-round coreset, round 1");
      int64_t kk = k;
      if (first % ns == j) pick[kk++] = (first - j) / ns;
      qsort(pick, (size_t)kk, sizeof(int64_t), cmp_i64_);
      for (int64_t r = 0; r < kk; r++) {
        if (r > 0 && pick[r] == pick[r - 1]) continue;
        memcpy(U + nu * rb, S + pick[r] * rb, rb);
        uo[nu++] = ord_s[pick[r]];
      }
    }
    tc_log(2, "%s: round 1 on rank %d: %lld shard(s), %lld picks in %.2fs", stage ? stage : "coreset", rank,
           (long long)(shlo[rank + 1] - shlo[rank]), (long long)nu, tc_now() - t0);
  }
  free(rbuf); rbuf = NULL;
  free(S); S = NULL;

  /* round 2: the exact loop over the union, ordinals (shard, ordinal) */
  {
    int64_t uoff = 0, ntot = 0, ufirst = -1;
    MPI_Exscan(&nu, &uoff, 1, MPI_INT64_T, MPI_SUM, comm);
    if (rank == 0) uoff = 0;
    MPI_Allreduce(&nu, &ntot, 1, MPI_INT64_T, MPI_SUM, comm);
    for (int64_t i = 0; i < nu; i++)
      if (uo[i] == first) ufirst = uoff + i;
    MPI_Allreduce(MPI_IN_PLACE, &ufirst, 1, MPI_INT64_T, MPI_MAX, comm);
    const int64_t mm = m < ntot ? m : ntot;
    tc_log(1, "%s: two-round: %lld shard(s) of ~%lld, union %lld -> %lld", stage ? stage : "coreset",
           (long long)ns, (long long)((n_total + ns - 1) / ns), (long long)ntot, (long long)mm);
    ui = tc_malloc((size_t)mm * sizeof(int64_t), "two-round selection");
    err = tc_agree(comm, ui ? TC_OK : TC_ERR_MEM);
    if (!err) err = loop_(comm, U, nu, uoff, ntot, dim, prec, mm, ufirst, mode->pruned, ui, stage);
    if (err) goto cleanup;
    for (int64_t t = 0; t < mm; t++) idx[t] = ui[t] >= uoff && ui[t] < uoff + nu ? uo[ui[t] - uoff] : -1;
    TC_CALL_GOTO(err, tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, idx, (int)mm, MPI_INT64_T, MPI_MAX, comm),
                                   "two-round indices"), cleanup);
    *m_got = mm;
  }
cleanup:
  if (row != MPI_DATATYPE_NULL) MPI_Type_free(&row);
  free(scnt); free(sdsp); free(rcnt); free(rdsp);
  free(sbo); free(shlo); free(rord); free(pick); free(uo); free(ui); free(ord_s);
  free(sb); free(rbuf); free(S); free(U); free(c0);
  return err;
}

TcErr tc_pcoreset_select_mode(MPI_Comm comm, const float *X_local, int64_t n_local, int64_t off,
                              int64_t n_total, int dim, int64_t m, int64_t first, const TcCoresetMode *mode,
                              int pruned, int64_t *idx, int64_t *m_got, const char *stage) {
  *m_got = 0;
  if (mode->prec == TC_CORESET_F32 && mode->rounds == 1) {
    TcErr err = tc_pcoreset_select(comm, X_local, n_local, off, n_total, dim, m, first, pruned, idx, stage);
    if (!err) *m_got = m;
    return err;
  }
  /* int8's scale is a max over every rank's points: exact, so rank-count free */
  float mx = tc_coreset_maxabs(X_local, n_local, dim);
  TC_CALL(tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, &mx, 1, MPI_FLOAT, MPI_MAX, comm), "coreset scale"));
  const float scale = mx > 0 ? mx / (float)tc_coreset_i8_qmax(dim) : 1.0f;
  const size_t rb = tc_coreset_row_bytes(mode->prec, dim);
  char *E = NULL;
  if (mode->prec == TC_CORESET_F32) E = (char *)X_local; /* never written */
  else E = tc_malloc_aligned((size_t)(n_local > 0 ? n_local : 1) * rb, "encoded points");
  TcErr err = tc_agree(comm, E ? TC_OK : TC_ERR_MEM);
  if (err) return err;
  if (mode->prec != TC_CORESET_F32) tc_coreset_encode(mode->prec, X_local, n_local, dim, scale, E);
  TcCoresetMode md = *mode;
  md.pruned = pruned;
  if (mode->rounds == 2) {
    err = tworound_(comm, E, n_local, off, n_total, dim, mode->prec, &md, m, first, idx, m_got, stage);
  } else {
    err = loop_(comm, E, n_local, off, n_total, dim, mode->prec, m, first, pruned, idx, stage);
    if (!err) *m_got = m;
  }
  if (E != (const char *)X_local) free(E);
  return err;
}
