/* context.h - the communicator every command runs on, and error agreement
 * across ranks (STYLE 3, layer 2: the HPL_pdinfo pattern). */
#ifndef TC_CONTEXT_H
#define TC_CONTEXT_H

#include <mpi.h>

#include "err.h"

/* Agree on an error before a collective. Collective on comm.
 * Every rank passes its local code; all get the same agreed code (the max).
 * When the agreed code is not TC_OK, the message of the lowest failing rank
 * is broadcast into every rank's message buffer, prefixed "rank R: " when
 * size > 1, so rank 0 prints the same line whatever the rank count. */
TcErr tc_agree(MPI_Comm comm, TcErr local);

/* Agree on a verdict only rank 0 reached (a check of files it alone looks
 * at, to spare the file system one stat per rank): every rank returns
 * rank 0's code and holds its message, without the "rank 0: " prefix
 * tc_agree gives a failure of some ranks only, so the line printed is the
 * same for any rank count. Collective on comm; `local` is ignored on the
 * other ranks. */
TcErr tc_agree_root(MPI_Comm comm, TcErr local);

/* Abort the whole job after a failure inside a collective that cannot be
 * agreed on (STYLE 3). Prints the message of the calling rank. Local. */
void tc_abort(MPI_Comm comm, TcErr code, const char *what);

/* Return TC_ERR_MPI with the MPI error string when rc != MPI_SUCCESS. Local. */
TcErr tc_mpi_check(int rc, const char *what);

/* The rank that prints (0) and the size; plain wrappers so callers need not
 * keep both around. Local. */
int tc_rank(MPI_Comm comm);
int tc_size(MPI_Comm comm);

/* Test hook: TC_FAIL_RANK=r and TC_FAIL_AT=name make rank r report an
 * injected failure at the named point (e.g. "h5write"). Lets tests prove
 * that one rank failing mid-write leaves no rank hanging. TC_PAUSE_AT=name
 * makes every rank sleep TC_PAUSE_SECONDS (default 60) there instead, so a
 * test can stop the job by a signal while its output is half written.
 * Local. */
int tc_fault_injected(MPI_Comm comm, const char *point);

#endif
