/* context.h - the communicator every command runs on, and error agreement
 * across ranks (STYLE 3, layer 2: the HPL_pdinfo pattern). */
#ifndef TC_CONTEXT_H
#define TC_CONTEXT_H

#include <mpi.h>
#include <stdint.h>

#include "agree.h"
#include "err.h"

/* MPI start-up of every MPI program (the tailedcore executable, the MPI
 * tests and benches): MPI_THREAD_FUNNELED (OpenBLAS may thread; only the
 * main thread calls MPI), and our own duplicate of MPI_COMM_WORLD so no
 * library's traffic mixes with ours. Rank 0 is the one that prints. */
MPI_Comm tc_mpi_start(int *argc, char ***argv);

/* Return TC_ERR_MPI with the MPI error string when rc != MPI_SUCCESS. Local. */
TcErr tc_mpi_check(int rc, const char *what);

/* The rank that prints (0) and the size; plain wrappers so callers need not
 * keep both around. Local. */
int tc_rank(MPI_Comm comm);
int tc_size(MPI_Comm comm);

/* Broadcast rank 0's n strings (*strs, n valid on rank 0 only) to every
 * rank in one buffer, in pieces below MPI's int count. On return every rank
 * holds *n and a fresh *strs: n + 1 pointers (the last NULL) and the bytes in
 * one allocation, freed by one free(*strs); rank 0's input array is left to
 * its owner. Collective on comm; an allocation failure is agreed. */
TcErr tc_bcast_strings(MPI_Comm comm, int64_t *n, char *const *in, char ***strs);

/* Test hook: TC_FAIL_RANK=r and TC_FAIL_AT=name make rank r report an
 * injected failure at the named point (e.g. "h5write"). Lets tests prove
 * that one rank failing mid-write leaves no rank hanging. TC_PAUSE_AT=name
 * makes every rank sleep TC_PAUSE_SECONDS (default 60) there instead, so a
 * test can stop the job by a signal while its output is half written.
 * Local. */
int tc_fault_injected(MPI_Comm comm, const char *point);

#endif
