/* pcoreset.c - distributed greedy coreset: one allreduce per step. */
#include "pcoreset.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "coreset.h"
#include "log.h"

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

TcErr tc_pcoreset_select(MPI_Comm comm, const float *X_local, int64_t n_local, int64_t off,
                         int64_t n_total, int dim, int64_t m, int64_t first, int pruned,
                         int64_t *idx, const char *stage) {
  TcErr err = TC_OK;
  TcCoreset *s = NULL;
  MPI_Datatype type = MPI_DATATYPE_NULL;
  MPI_Op op = MPI_OP_NULL;
  size_t cbytes = sizeof(TcPcoresetCand) + (size_t)dim * sizeof(float);
  TcPcoresetCand *mine = NULL, *win = NULL;
  if (!(n_total >= 1 && m >= 1 && m <= n_total && first >= 0 && first < n_total && dim >= 1))
    err = tc_err_set(TC_ERR_INTERNAL, "coreset: bad sizes (n %lld, m %lld, first %lld)",
                     (long long)n_total, (long long)m, (long long)first);
  if (!err) err = tc_coreset_create(X_local, n_local, dim, pruned, &s);
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
    memcpy(mine->vec, X_local + (first - off) * dim, (size_t)dim * sizeof(float));
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
    if (tc_coreset_step(s, win->vec, &b, &bv) != TC_OK) tc_abort(comm, TC_ERR_MEM, "coreset step");
    if (b >= 0) {
      mine->gidx = off + b;
      mine->val = bv;
      memcpy(mine->vec, X_local + b * dim, (size_t)dim * sizeof(float));
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
