/* context.c - error agreement across ranks. */
#include "context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int tc_rank(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}

int tc_size(MPI_Comm comm) {
  int size = 1;
  MPI_Comm_size(comm, &size);
  return size;
}

TcErr tc_mpi_check(int rc, const char *what) {
  if (rc == MPI_SUCCESS) return TC_OK;
  char s[MPI_MAX_ERROR_STRING];
  int len = 0;
  MPI_Error_string(rc, s, &len);
  return tc_err_set(TC_ERR_MPI, "%s: MPI error: %s", what, s);
}

TcErr tc_agree(MPI_Comm comm, TcErr local) {
  int rank = tc_rank(comm), size = tc_size(comm);
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
  int rank = tc_rank(comm);
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
  fprintf(stderr, "tailedcore: rank %d: %s: %s (aborting the job)\n", tc_rank(comm), what,
          tc_err_message());
  fflush(stderr);
  MPI_Abort(comm, tc_err_exit_status(code) ? tc_err_exit_status(code) : 1);
}

int tc_fault_injected(MPI_Comm comm, const char *point) {
  const char *pause_at = getenv("TC_PAUSE_AT");
  if (pause_at && strcmp(pause_at, point) == 0) {
    const char *secs = getenv("TC_PAUSE_SECONDS");
    sleep(secs ? (unsigned)atoi(secs) : 60u);
  }
  const char *r = getenv("TC_FAIL_RANK"), *at = getenv("TC_FAIL_AT");
  if (!r || !at || strcmp(at, point) != 0) return 0;
  return atoi(r) == tc_rank(comm);
}
