/* scalapack.h - the one place declaring the BLACS, ScaLAPACK/PBLAS and
 * Fortran BLAS entry points we call (the serial BLAS ones in src/blas.h) (STYLE 8, trap 1: ScaLAPACK ships no C
 * header; PETSc's petscscalapack.h and HPL's hpl_blas.h do the same).
 *
 * Fortran conventions: every argument by address, column-major storage,
 * 1-based global indices (ia, ja), descriptors of 9 ints. The character
 * arguments carry a hidden length in gfortran's ABI; the routines declared
 * here are C (PBLAS) or C-implemented (OpenBLAS) and read only the first
 * character, so the hidden lengths are not passed.
 *
 * Add a declaration here rather than in a .c file, so a second caller cannot
 * declare it differently. */
#ifndef TC_SCALAPACK_H
#define TC_SCALAPACK_H

#include <mpi.h>

#include "blas.h"

/* BLACS: a context from OUR communicator (never Cblacs_get(-1, 0, ...),
 * which is the whole world). */
int Csys2blacs_handle(MPI_Comm comm);
void Cfree_blacs_system_handle(int handle);
void Cblacs_gridinit(int *ctxt, const char *order, int nprow, int npcol);
void Cblacs_gridinfo(int ctxt, int *nprow, int *npcol, int *myrow, int *mycol);
void Cblacs_gridexit(int ctxt);

/* ScaLAPACK tools. */
void descinit_(int *desc, const int *m, const int *n, const int *mb, const int *nb,
               const int *irsrc, const int *icsrc, const int *ictxt, const int *lld, int *info);
int numroc_(const int *n, const int *nb, const int *iproc, const int *isrcproc,
            const int *nprocs);

/* PBLAS level 3. */
void psgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
             const float *alpha, const float *a, const int *ia, const int *ja, const int *desca,
             const float *b, const int *ib, const int *jb, const int *descb, const float *beta,
             float *c, const int *ic, const int *jc, const int *descc);

#endif
