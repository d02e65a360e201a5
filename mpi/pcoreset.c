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

/* The local row whose global ordinal is g, or -1: rows [off, off + n) when
 * gid is NULL, else gid [n] (ascending). */
static int64_t local_of_(const int64_t *gid, int64_t n, int64_t off, int64_t g) {
  if (!gid) return g >= off && g < off + n ? g - off : -1;
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    const int64_t mid = lo + (hi - lo) / 2;
    if (gid[mid] < g) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && gid[lo] == g ? lo : -1;
}

/* The one-allreduce-per-step loop over this rank's rows E_local (encoded,
 * rb bytes each); the candidate carries the winner's encoded row. Row i's
 * global ordinal is off + i, or gid[i] when gid is given (ascending, so the
 * local step's lowest-index tie-break is the lowest global ordinal too: the
 * two-round union, whose shards are dealt one at a time, is not one
 * contiguous block per rank). */
static TcErr loop_(MPI_Comm comm, const void *E_local, int64_t n_local, const int64_t *gid, int64_t off,
                   int64_t n_total, int dim, TcCoresetPrec prec, int64_t m, int64_t first, int pruned,
                   int64_t *idx, const char *stage) {
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
  const int64_t lf = local_of_(gid, n_local, off, first);
  if (lf >= 0) {
    mine->gidx = first;
    mine->val = INFINITY;
    memcpy(mine->vec, R + lf * rb, rb);
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
      mine->gidx = gid ? gid[b] : off + b;
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
  tc_log(2, "%s: rank %d computed %.2f%% of its %lld x %lld point-step distances", stage ? stage : "coreset",
         tc_rank(comm), 100.0 * (double)tc_coreset_evaluated(s) / ((double)(n_local > 0 ? n_local : 1) * (double)m),
         (long long)n_local, (long long)m);
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
  return loop_(comm, X_local, n_local, NULL, off, n_total, dim, TC_CORESET_F32, m, first, pruned, idx, stage);
}

static int cmp_i64_(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* One rank's state of a two-round selection, carried from step to step. */
typedef struct {
  MPI_Comm comm;
  int rank, size;
  const char *E_local;         /* [n_local x rb] my encoded rows, ordinals [off, off + n_local) */
  int64_t n_local, off, n_total, m, first;
  int dim;
  TcCoresetPrec prec;
  size_t rb;                   /* bytes of an encoded row */
  const TcCoresetMode *mode;
  double over;                 /* oversampling of round 1 (>= 1) */
  int64_t ns;                  /* number of shards */
  const char *stage;
  int64_t nmy, *mysh;          /* my shards (tc_deal_rank), ascending */
  int64_t *ucnt;               /* [ns] union rows per shard, then each shard's first union ordinal */
  int *scnt, *sdsp, *rcnt, *rdsp; /* [size] all-to-all counts and displacements */
  char *sb;                    /* [n_local x rb] my rows in destination-rank order */
  int64_t *sbo;                /* [n_local] their ordinals */
  char *c0;                    /* [rb] the first point's encoded row */
  int64_t nrecv;               /* rows received for my shards */
  char *rbuf;                  /* [nrecv x rb] */
  int64_t *rord;               /* [nrecv] their ordinals, ascending */
  char *S;                     /* one shard's rows */
  int64_t *ord_s, *pick;       /* their ordinals; round 1's picks in the shard */
  int64_t nu;                  /* my union's size */
  char *U;                     /* the union of my shards' picks */
  int64_t *uo;                 /* their ordinals */
  int64_t *ug;                 /* [nu] their union ordinals, (shard, ordinal) order, ascending */
  int64_t *ui;                 /* round 2's selection in union ordinals */
} TwoRound;

static void tr_free_(TwoRound *T) {
  free(T->scnt); free(T->sdsp); free(T->rcnt); free(T->rdsp);
  free(T->sbo); free(T->mysh); free(T->ucnt); free(T->ug); free(T->rord); free(T->pick); free(T->uo); free(T->ui); free(T->ord_s);
  free(T->sb); free(T->rbuf); free(T->S); free(T->U); free(T->c0);
}

/* The send side's buffers and my shards: shard j lives on rank
 * tc_deal_rank(j, ns, size), dealt one at a time so no rank (or node) holds
 * more than its share, even with fewer shards than ranks. Returns the
 * agreed code. */
static TcErr tr_start_(TwoRound *T) {
  const int size = T->size;
  const int64_t n1 = T->n_local > 0 ? T->n_local : 1;
  TcErr err = TC_OK;
  int64_t nmy = 0;
  for (int64_t j = 0; j < T->ns; j++) nmy += tc_deal_rank(j, T->ns, size) == T->rank;
  T->mysh = tc_malloc((size_t)(nmy > 0 ? nmy : 1) * sizeof(int64_t), "my shards");
  T->ucnt = tc_calloc((size_t)T->ns, sizeof(int64_t), "two-round union counts");
  T->scnt = tc_calloc((size_t)size, sizeof(int), "all-to-all counts");
  T->sdsp = tc_calloc((size_t)size, sizeof(int), "all-to-all counts");
  T->rcnt = tc_calloc((size_t)size, sizeof(int), "all-to-all counts");
  T->rdsp = tc_calloc((size_t)size, sizeof(int), "all-to-all counts");
  T->sb = tc_malloc_aligned((size_t)n1 * T->rb, "shard send rows");
  T->sbo = tc_malloc((size_t)n1 * sizeof(int64_t), "shard send ordinals");
  T->c0 = tc_calloc(1, T->rb, "first point");
  if (!T->mysh || !T->ucnt || !T->scnt || !T->sdsp || !T->rcnt || !T->rdsp || !T->sb || !T->sbo || !T->c0) err = TC_ERR_MEM;
  if (!err && T->n_local > INT_MAX)
    err = tc_err_set(TC_ERR_USAGE, "two-round coreset: %lld points on one rank is too many for MPI counts: "
                     "run more ranks", (long long)T->n_local);
  if (!err && T->ns > INT_MAX)
    err = tc_err_set(TC_ERR_USAGE, "two-round coreset: %lld shards is too many for MPI counts: "
                     "raise --coreset-shard", (long long)T->ns);
  err = tc_agree(T->comm, err);
  if (err) return err;
  for (int64_t j = 0; j < T->ns; j++)
    if (tc_deal_rank(j, T->ns, size) == T->rank) T->mysh[T->nmy++] = j;
  return TC_OK;
}

/* Every rank gets the first point's encoded row from its owner (a sum with
 * zeros is exact only for floats, so move bytes with a max over unsigned
 * chars: every other rank offers zeros). Collective. */
static TcErr tr_first_point_(TwoRound *T) {
  if (T->first >= T->off && T->first < T->off + T->n_local)
    memcpy(T->c0, T->E_local + (T->first - T->off) * T->rb, T->rb);
  TC_CALL(tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, T->c0, (int)T->rb, MPI_UNSIGNED_CHAR, MPI_MAX, T->comm),
                       "first point"));
  return TC_OK;
}

/* The rank that holds the shard of my row i. */
static int tr_dest_(const TwoRound *T, int64_t i) {
  return tc_deal_rank((T->off + i) % T->ns, T->ns, T->size);
}

/* Counting sort of my rows by destination rank, ordinal order kept. Local. */
static void tr_sort_by_dest_(TwoRound *T) {
  for (int64_t i = 0; i < T->n_local; i++) T->scnt[tr_dest_(T, i)]++;
  for (int r = 1; r < T->size; r++) T->sdsp[r] = T->sdsp[r - 1] + T->scnt[r - 1];
  int *fill = tc_calloc((size_t)T->size, sizeof(int), "fill");
  if (!fill) tc_abort(T->comm, TC_ERR_MEM, "two-round coreset");
  for (int64_t i = 0; i < T->n_local; i++) {
    const int dest = tr_dest_(T, i);
    const int64_t at = T->sdsp[dest] + fill[dest]++;
    memcpy(T->sb + at * T->rb, T->E_local + i * T->rb, T->rb);
    T->sbo[at] = T->off + i;
  }
  free(fill);
}

/* The receive side and round 1's buffers, sized by the all-to-all of counts.
 * Returns the agreed code. */
static TcErr tr_alloc_recv_(TwoRound *T) {
  TC_CALL(tc_mpi_check(MPI_Alltoall(T->scnt, 1, MPI_INT, T->rcnt, 1, MPI_INT, T->comm), "shard counts"));
  for (int r = 0; r < T->size; r++) T->nrecv += T->rcnt[r];
  for (int r = 1; r < T->size; r++) T->rdsp[r] = T->rdsp[r - 1] + T->rcnt[r - 1];
  TcErr err = TC_OK;
  if (T->nrecv > INT_MAX) err = tc_err_set(TC_ERR_USAGE, "two-round coreset: %lld points on one rank is too many "
                                           "for MPI counts: run more ranks", (long long)T->nrecv);
  const int64_t ns = T->ns, n_total = T->n_total;
  int64_t ucap = 1;
  for (int64_t s = 0; s < T->nmy; s++)
    ucap += tc_coreset_shard_k(n_total, T->m, (n_total - T->mysh[s] + ns - 1) / ns, T->over);
  const int64_t maxlen = (n_total + ns - 1) / ns, nrecv1 = T->nrecv > 0 ? T->nrecv : 1;
  T->rbuf = tc_malloc_aligned((size_t)nrecv1 * T->rb, "shard rows");
  T->rord = tc_malloc((size_t)nrecv1 * sizeof(int64_t), "shard ordinals");
  T->S = tc_malloc_aligned((size_t)maxlen * T->rb, "shard");
  T->pick = tc_malloc((size_t)(maxlen + 1) * sizeof(int64_t), "shard picks");
  T->ord_s = tc_malloc((size_t)(maxlen > 0 ? maxlen : 1) * sizeof(int64_t), "shard ordinals");
  T->U = tc_malloc_aligned((size_t)ucap * T->rb, "two-round union");
  T->uo = tc_malloc((size_t)ucap * sizeof(int64_t), "two-round union ordinals");
  T->ug = tc_malloc((size_t)ucap * sizeof(int64_t), "two-round union ordinals");
  if (!err && (!T->rbuf || !T->rord || !T->S || !T->pick || !T->ord_s || !T->U || !T->uo || !T->ug))
    err = TC_ERR_MEM;
  return tc_agree(T->comm, err);
}

/* Move every row to the rank of its shard. Collective; an MPI failure
 * aborts (the ranks are inside the exchange). */
static void tr_exchange_(TwoRound *T) {
  MPI_Datatype row = MPI_DATATYPE_NULL;
  if (MPI_Type_contiguous((int)T->rb, MPI_BYTE, &row) != MPI_SUCCESS || MPI_Type_commit(&row) != MPI_SUCCESS)
    tc_abort(T->comm, TC_ERR_MPI, "two-round coreset datatype");
  if (MPI_Alltoallv(T->sb, T->scnt, T->sdsp, row, T->rbuf, T->rcnt, T->rdsp, row, T->comm) != MPI_SUCCESS ||
      MPI_Alltoallv(T->sbo, T->scnt, T->sdsp, MPI_INT64_T, T->rord, T->rcnt, T->rdsp, MPI_INT64_T, T->comm) !=
          MPI_SUCCESS)
    tc_abort(T->comm, TC_ERR_MPI, "two-round coreset exchange");
  MPI_Type_free(&row);
  free(T->sb); T->sb = NULL;
  free(T->sbo); T->sbo = NULL;
}

/* Round 1, no communication: the received rows are in ascending ordinal
 * order (rank r sends only ordinals below rank r+1's), so a stable pass per
 * shard gives each shard its rows in ordinal order; each shard's picks (and
 * the first point) join my union in ordinal order. */
static void tr_round1_(TwoRound *T) {
  const size_t rb = T->rb;
  const int64_t ns = T->ns;
  double t0 = tc_now();
  for (int64_t s = 0; s < T->nmy; s++) {
    const int64_t j = T->mysh[s], nu0 = T->nu;
    int64_t len = 0;
    for (int64_t i = 0; i < T->nrecv; i++)
      if (T->rord[i] % ns == j) {
        memcpy(T->S + len * rb, T->rbuf + i * rb, rb);
        T->ord_s[len++] = T->rord[i];
      }
    if (len == 0) continue;
    const int64_t k = tc_coreset_shard_k(T->n_total, T->m, len, T->over);
    TcErr e = tc_coreset_select_enc(T->S, len, T->dim, T->prec, T->mode->pruned, T->c0, 0, k, T->pick);
    if (e) tc_abort(T->comm, e, "two-round coreset, round 1");
    int64_t kk = k;
    if (T->first % ns == j) T->pick[kk++] = (T->first - j) / ns;
    qsort(T->pick, (size_t)kk, sizeof(int64_t), cmp_i64_);
    for (int64_t r = 0; r < kk; r++) {
      if (r > 0 && T->pick[r] == T->pick[r - 1]) continue;
      memcpy(T->U + T->nu * rb, T->S + T->pick[r] * rb, rb);
      T->uo[T->nu++] = T->ord_s[T->pick[r]];
    }
    T->ucnt[j] = T->nu - nu0;
  }
  tc_log(2, "%s: round 1 on rank %d: %lld shard(s), %lld picks in %.2fs", T->stage ? T->stage : "coreset", T->rank,
         (long long)T->nmy, (long long)T->nu, tc_now() - t0);
  free(T->rbuf); T->rbuf = NULL;
  free(T->S); T->S = NULL;
}

/* Round 2: the exact loop over the union in (shard, ordinal) order, as the
 * serial tc_coreset_select_mode orders it. My shards are not one block of
 * that order, so each union row carries its union ordinal (one allreduce of
 * the per-shard counts, then a prefix sum); my rows ascend in it, which is
 * what loop_'s tie-break needs. The selection is mapped back to the points'
 * ordinals into idx [*m_got]. Returns the agreed code. */
static TcErr tr_round2_(TwoRound *T, int64_t *idx, int64_t *m_got) {
  int64_t ntot = 0, ufirst = -1;
  TC_CALL(tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, T->ucnt, (int)T->ns, MPI_INT64_T, MPI_SUM, T->comm),
                       "two-round union counts"));
  for (int64_t j = 0; j < T->ns; j++) {
    const int64_t c = T->ucnt[j];
    T->ucnt[j] = ntot;
    ntot += c;
  }
  /* my union rows are my shards' picks, shard by shard (round 1's order) */
  for (int64_t s = 0, i = 0; s < T->nmy; s++) {
    const int64_t j = T->mysh[s], end = j + 1 < T->ns ? T->ucnt[j + 1] : ntot;
    for (int64_t g = T->ucnt[j]; g < end; g++) T->ug[i++] = g;
  }
  for (int64_t i = 0; i < T->nu; i++)
    if (T->uo[i] == T->first) ufirst = T->ug[i];
  MPI_Allreduce(MPI_IN_PLACE, &ufirst, 1, MPI_INT64_T, MPI_MAX, T->comm);
  const int64_t mm = T->m < ntot ? T->m : ntot;
  tc_log(1, "%s: two-round: %lld shard(s) of ~%lld, union %lld -> %lld", T->stage ? T->stage : "coreset",
         (long long)T->ns, (long long)((T->n_total + T->ns - 1) / T->ns), (long long)ntot, (long long)mm);
  T->ui = tc_malloc((size_t)mm * sizeof(int64_t), "two-round selection");
  TcErr err = tc_agree(T->comm, T->ui ? TC_OK : TC_ERR_MEM);
  if (!err)
    err = loop_(T->comm, T->U, T->nu, T->ug, 0, ntot, T->dim, T->prec, mm, ufirst, T->mode->pruned, T->ui,
                T->stage);
  if (err) return err;
  for (int64_t t = 0; t < mm; t++) {
    const int64_t l = local_of_(T->ug, T->nu, 0, T->ui[t]);
    idx[t] = l >= 0 ? T->uo[l] : -1;
  }
  TC_CALL(tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, idx, (int)mm, MPI_INT64_T, MPI_MAX, T->comm),
                       "two-round indices"));
  *m_got = mm;
  return TC_OK;
}

/* Two-round selection over encoded rows (see coreset.h). Shards are dealt
 * one at a time (tc_deal_rank); one all-to-all moves every row to the rank
 * of its shard, round 1 runs without communication, round 2 is loop_ over
 * the union in (shard, ordinal) order, each row under its union ordinal, so
 * who computed a shard never shows in the result. Every step that can fail
 * returns an agreed code. */
static TcErr tworound_(MPI_Comm comm, const char *E_local, int64_t n_local, int64_t off, int64_t n_total,
                       int dim, TcCoresetPrec prec, const TcCoresetMode *mode, int64_t m, int64_t first,
                       int64_t *idx, int64_t *m_got, const char *stage) {
  TwoRound T = {.comm = comm, .rank = tc_rank(comm), .size = tc_size(comm), .E_local = E_local,
                .n_local = n_local, .off = off, .n_total = n_total, .m = m, .first = first, .dim = dim,
                .prec = prec, .rb = tc_coreset_row_bytes(prec, dim), .mode = mode,
                .over = mode->oversample >= 1.0 ? mode->oversample : 1.0,
                .ns = tc_coreset_nshards(n_total, mode->shard), .stage = stage};
  TcErr err = tr_start_(&T);
  if (!err) err = tr_first_point_(&T);
  if (!err) {
    tr_sort_by_dest_(&T);
    err = tr_alloc_recv_(&T);
  }
  if (!err) {
    tr_exchange_(&T);
    tr_round1_(&T);
    err = tr_round2_(&T, idx, m_got);
  }
  tr_free_(&T);
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
    err = loop_(comm, E, n_local, NULL, off, n_total, dim, mode->prec, m, first, pruned, idx, stage);
    if (!err) *m_got = m;
  }
  if (E != (const char *)X_local) free(E);
  return err;
}

/* Gather every rank's group picks (ordinals and d2) in rank order, which is
 * group order, into all [npicks] / allv on every rank. Returns the agreed
 * code. */
static TcErr gather_picks_(MPI_Comm comm, const int64_t *mine, const float *minev, int64_t nmine, int64_t npicks,
                           int64_t *all, float *allv) {
  const int size = tc_size(comm);
  int *cnt = tc_malloc((size_t)size * sizeof(int), "pick counts");
  int *dsp = tc_malloc((size_t)size * sizeof(int), "pick offsets");
  TcErr err = cnt && dsp ? TC_OK : TC_ERR_MEM;
  if (!err && nmine > INT_MAX)
    err = tc_err_set(TC_ERR_USAGE, "per-image coreset: %lld picks on one rank is too many for MPI counts: run "
                     "more ranks", (long long)nmine);
  err = tc_agree(comm, err);
  if (!err) {
    int c = (int)nmine;
    err = tc_mpi_check(MPI_Allgather(&c, 1, MPI_INT, cnt, 1, MPI_INT, comm), "per-image pick counts");
  }
  int64_t at = 0;
  for (int r = 0; r < size && !err; r++) {
    dsp[r] = (int)(at < INT_MAX ? at : 0);
    at += cnt[r];
  }
  if (!err && at != npicks)
    err = tc_err_set(TC_ERR_INTERNAL, "per-image coreset: %lld picks gathered, expected %lld (or more than an "
                     "MPI count)", (long long)at, (long long)npicks);
  err = tc_agree(comm, err);
  if (!err) {
    const int me = tc_rank(comm);
    err = tc_mpi_check(MPI_Allgatherv(mine, cnt[me], MPI_INT64_T, all, cnt, dsp, MPI_INT64_T, comm), "picks");
    if (!err) err = tc_mpi_check(MPI_Allgatherv(minev, cnt[me], MPI_FLOAT, allv, cnt, dsp, MPI_FLOAT, comm), "picks");
  }
  free(cnt);
  free(dsp);
  return err;
}

TcErr tc_pcoreset_select_groups(MPI_Comm comm, const float *X_local, int64_t n_local, int64_t off,
                                int64_t n_total, int dim, int64_t group, int64_t m, const TcCoresetMode *mode,
                                int pruned, uint64_t seed, uint64_t counter0, int64_t *idx, const char *stage) {
  TcErr err = TC_OK;
  if (group < 1 || m < 1 || m > n_total || off % group || n_local % group || n_total % group)
    err = tc_err_set(TC_ERR_INTERNAL, "per-image coreset: %lld points from %lld on this rank are not whole "
                     "groups of %lld (m %lld of %lld)", (long long)n_local, (long long)off, (long long)group,
                     (long long)m, (long long)n_total);
  TC_CALL(tc_agree(comm, err));
  const int64_t ng = n_local / group, g0 = off / group;
  const int64_t kcap = tc_coreset_group_k(m, group);
  const int64_t npicks = n_total / group * kcap;
  /* int8: one scale over all groups, so their d2 compare */
  float mx = tc_coreset_maxabs(X_local, n_local, dim);
  TC_CALL(tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, &mx, 1, MPI_FLOAT, MPI_MAX, comm), "coreset scale"));
  const float scale = mx > 0 ? mx / (float)tc_coreset_i8_qmax(dim) : 1.0f;
  int64_t *mine = tc_malloc((size_t)(ng * kcap > 0 ? ng * kcap : 1) * sizeof(int64_t), "group picks");
  float *minev = tc_malloc((size_t)(ng * kcap > 0 ? ng * kcap : 1) * sizeof(float), "group picks");
  int64_t *all = tc_malloc((size_t)npicks * sizeof(int64_t), "all group picks");
  float *allv = tc_malloc((size_t)npicks * sizeof(float), "all group picks");
  if (!mine || !minev || !all || !allv) err = TC_ERR_MEM;
  /* progress counts rank 0's own groups (no collective per group); rank 0
   * may hold more or fewer than its share (5 of 9 tail images on step_k1),
   * hence the log line with both counts */
  tc_log(1, "%s: %lld groups of %lld points, up to %lld picks each; progress is rank 0's %lld",
         stage ? stage : "coreset", (long long)(n_total / group), (long long)group, (long long)kcap, (long long)ng);
  TcProgress prog;
  tc_progress_start(&prog, stage ? stage : "coreset", "groups", ng);
  for (int64_t g = 0; g < ng && !err; g++) {
    err = tc_coreset_groups_run(X_local + g * group * dim, 1, group, dim, kcap, mode->prec, scale, pruned, seed,
                                counter0 + (uint64_t)(g0 + g), mine + g * kcap, minev + g * kcap);
    for (int64_t t = 0; t < kcap && !err; t++) mine[g * kcap + t] += off + g * group;
    tc_progress_update(&prog, g + 1);
  }
  tc_progress_finish(&prog);
  err = tc_agree(comm, err);
  if (!err) err = gather_picks_(comm, mine, minev, ng * kcap, npicks, all, allv);
  if (!err) err = tc_agree(comm, tc_coreset_groups_merge(all, allv, npicks, m, idx));
  free(mine);
  free(minev);
  free(all);
  free(allv);
  return err;
}
