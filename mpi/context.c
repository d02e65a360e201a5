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
