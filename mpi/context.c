/* context.c - MPI start-up, rank helpers, the string-list broadcast and the test hooks (the error agreement itself is src/agree.c). */
#include "context.h"

#include "log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

MPI_Comm tc_mpi_start(int *argc, char ***argv) {
  int provided = 0;
  MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided);
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  tc_log_is_printer = tc_rank(comm) == 0;
  return comm;
}

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

TcErr tc_bcast_strings(MPI_Comm comm, int64_t *n, char *const *in, char ***strs) {
  int rank = tc_rank(comm);
  int64_t hdr[2] = {rank == 0 ? *n : 0, 0};
  if (rank == 0)
    for (int64_t i = 0; i < *n; i++) hdr[1] += (int64_t)strlen(in[i]) + 1;
  /* a failed broadcast cannot be agreed on (the agreement is one too) */
  if (MPI_Bcast(hdr, 2, MPI_INT64_T, 0, comm) != MPI_SUCCESS) tc_abort(comm, TC_ERR_MPI, "string list broadcast");
  const int64_t count = hdr[0], bytes = hdr[1];
  char **p = malloc(sizeof(char *) * (size_t)(count + 1) + (size_t)bytes + 1);
  TcErr err = tc_agree(comm, p ? TC_OK : tc_err_set(TC_ERR_MEM, "out of memory for a list of %lld names",
                                                      (long long)count));
  if (err) {
    free(p);
    return err;
  }
  char *buf = (char *)(p + count + 1);
  if (rank == 0) {
    char *w = buf;
    for (int64_t i = 0; i < count; i++) {
      size_t l = strlen(in[i]) + 1;
      memcpy(w, in[i], l);
      w += l;
    }
  }
  for (int64_t o = 0; o < bytes; o += 1 << 30) {
    int c = (int)(bytes - o < (1 << 30) ? bytes - o : (1 << 30));
    if (MPI_Bcast(buf + o, c, MPI_CHAR, 0, comm) != MPI_SUCCESS) tc_abort(comm, TC_ERR_MPI, "string list broadcast");
  }
  char *r = buf;
  for (int64_t i = 0; i < count; i++) {
    p[i] = r;
    r += strlen(r) + 1;
  }
  p[count] = NULL;
  *n = count;
  *strs = p;
  return TC_OK;
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
