/* agree.h - the one error agreement across ranks (STYLE 3, the HPL_pdinfo
 * pattern). With src/h5fmt.c, the only src/ module that calls MPI: both
 * mpi/ drivers and the parallel HDF5 layer agree on errors before every
 * collective, and a second copy of this logic is how they once came to
 * differ (no rank prefix, no MPI return check). */
#ifndef TC_AGREE_H
#define TC_AGREE_H

#include <mpi.h>

#include "err.h"

/* Agree on an error before a collective. Collective on comm.
 * Every rank passes its local code; all get the same agreed code (the max).
 * When the agreed code is not TC_OK, the message of the lowest failing rank
 * is broadcast into every rank's message buffer, prefixed "rank R: " when
 * some ranks failed and others did not, so the line says where. */
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

#endif
