/* blas.h - the Fortran BLAS entry points src/ calls directly (most of
 * src/ uses cblas.h; the TailSampler's Gram panels keep the Fortran sgemm_
 * that mpi/scalapack.h's PBLAS callers share, so both sides run one kernel
 * with one argument order). Serial; see mpi/scalapack.h for the
 * conventions. Add a declaration here rather than in a .c file, so a second
 * caller cannot declare it differently. */
#ifndef TC_BLAS_H
#define TC_BLAS_H

/* Serial BLAS level 3 (OpenBLAS). */
void sgemm_(const char *transa, const char *transb, const int *m, const int *n, const int *k,
            const float *alpha, const float *a, const int *lda, const float *b, const int *ldb,
            const float *beta, float *c, const int *ldc);

#endif
