/* agree.c - error agreement across ranks (see agree.h). */
#include "agree.h"

#include <stdio.h>
#include <string.h>

static int rank_(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}

static int size_(MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  return size;
}

TcErr tc_agree(MPI_Comm comm, TcErr local) {
  int rank = rank_(comm), size = size_(comm);
  int codes[2] = {(int)local, local != TC_OK ? -rank : -size};
  int agreed[2];
  /* one reduction finds the worst code and (negated MAX = MIN) the lowest failing rank */
  if (MPI_Allreduce(codes, agreed, 2, MPI_INT, MPI_MAX, comm) != MPI_SUCCESS)
    tc_abort(comm, TC_ERR_MPI, "error agreement");
  if (agreed[0] == TC_OK) return TC_OK;
  int root = -agreed[1];
  int failing = local != TC_OK, nfailing = 0;
  MPI_Allreduce(&failing, &nfailing, 1, MPI_INT, MPI_SUM, comm);
  char msg[1024];
  if (rank == root) {
    /* name the rank only when it matters: some ranks failed, not all, and
     * the message was not already agreed (and prefixed) once */
    if (nfailing < size && strncmp(tc_err_message(), "rank ", 5) != 0)
      snprintf(msg, sizeof msg, "rank %d: %s", rank, tc_err_message());
    else snprintf(msg, sizeof msg, "%s", tc_err_message());
  }
  MPI_Bcast(msg, sizeof msg, MPI_CHAR, root, comm);
  int root_code = (int)local;
  MPI_Bcast(&root_code, 1, MPI_INT, root, comm);
  tc_err_clear();
  tc_err_set((TcErr)root_code, "%s", msg);
  return (TcErr)root_code;
}

TcErr tc_agree_root(MPI_Comm comm, TcErr local) {
  int rank = rank_(comm);
  int code = rank == 0 ? (int)local : 0;
  if (MPI_Bcast(&code, 1, MPI_INT, 0, comm) != MPI_SUCCESS) tc_abort(comm, TC_ERR_MPI, "error agreement");
  if (code == TC_OK) return TC_OK;
  char msg[1024];
  if (rank == 0) snprintf(msg, sizeof msg, "%s", tc_err_message());
  MPI_Bcast(msg, sizeof msg, MPI_CHAR, 0, comm);
  tc_err_clear();
  return tc_err_set((TcErr)code, "%s", msg);
}

void tc_abort(MPI_Comm comm, TcErr code, const char *what) {
  fprintf(stderr, "tailedcore: rank %d: %s: %s (aborting the job)\n", rank_(comm), what,
          tc_err_message());
  fflush(stderr);
  MPI_Abort(comm, tc_err_exit_status(code) ? tc_err_exit_status(code) : 1);
}

