/* h5_test.h - start and end of a unit test that writes HDF5 files through
 * h5fmt (which needs MPI even on one process): MPI, libhdf5's own error
 * printing off (the tests check our messages), a scratch folder. */
#ifndef TC_H5_TEST_H
#define TC_H5_TEST_H

#include <hdf5.h>
#include <mpi.h>

#include "check.h"

static inline void tc_test_h5_begin(int *argc, char ***argv, char *dir, size_t n, const char *name) {
  MPI_Init(argc, argv);
  H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
  tc_test_tmpdir(dir, n, name);
}

/* Use as `return tc_test_h5_end(dir);` in main. */
static inline int tc_test_h5_end(const char *dir) {
  tc_test_tmpdir_remove(dir);
  MPI_Finalize();
  return tc_test_report();
}

#endif
