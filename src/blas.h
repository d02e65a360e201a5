/* blas.h - the Fortran BLAS entry points src/ calls directly (most of
 * src/ uses cblas.h; the TailSampler's Gram panels keep the Fortran sgemm_
 * that mpi/scalapack.h's PBLAS callers share, so both sides run one kernel
 * with one argument order). Serial; see mpi/scalapack.h for the
 * conventions. Add a declaration here rather than in a .c file, so a second
 * caller cannot declare it differently. */
#ifndef TC_BLAS_H
#define TC_BLAS_H

#include <stddef.h>

/* Serial BLAS level 3 (OpenBLAS). */
void sgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc);

/* LAPACK (OpenBLAS): symmetric eigen-decomposition, the coreset sketch's
 * principal axes (src/sketch.c). The trailing lengths of the character
 * arguments are gfortran's hidden ones (a C-built LAPACK ignores them). */
void dsyev_(const char *jobz, const char *uplo, const int *n, double *a, const int *lda, double *w, double *work,
            const int *lwork, int *info, size_t jobz_len, size_t uplo_len);

#endif
