/* fixture_common.h - what the tests against golden HDF5 fixtures share:
 * open a fixture file, read a dataset or an attribute with plain serial
 * HDF5 calls, and the relative error they report. bank_fixture.h and
 * score_fixture.h name their files on top of it. */
#ifndef TC_FIXTURE_COMMON_H
#define TC_FIXTURE_COMMON_H

#include <hdf5.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

/* Tests run from the repository root; TC_GOLDEN_DIR overrides the directory. */
static inline hid_t fixture_open_(const char *file) {
  const char *dir = getenv("TC_GOLDEN_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/%s", dir ? dir : "tests/golden", file);
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) fprintf(stderr, "cannot open fixture %s\n", path);
  return f;
}

/* Read a whole dataset converted to `mem` type; *n elements, dims[0..1]
 * (dims[1] = 1 for 1-D, 0-D gives n = 1). Caller frees. NULL when missing,
 * with *n and dims zeroed so a test that goes on reads no garbage. */
static inline void *fixture_read_(hid_t f, const char *name, hid_t mem, size_t esize, int64_t *n,
                                  int64_t dims[2]) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) {
    fprintf(stderr, "fixture: no dataset %s\n", name);
    *n = 0;
    if (dims) dims[0] = dims[1] = 0;
    return NULL;
  }
  hid_t sp = H5Dget_space(d);
  hsize_t h[4] = {1, 1, 1, 1};
  int nd = H5Sget_simple_extent_dims(sp, h, NULL);
  int64_t tot = 1;
  for (int i = 0; i < nd; i++) tot *= (int64_t)h[i];
  if (dims) {
    dims[0] = nd > 0 ? (int64_t)h[0] : 1;
    dims[1] = nd > 1 ? (int64_t)h[1] : 1;
  }
  void *buf = malloc((size_t)(tot > 0 ? tot : 1) * esize);
  if (H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf) < 0) {
    free(buf);
    buf = NULL;
  }
  H5Sclose(sp);
  H5Dclose(d);
  *n = tot;
  return buf;
}

/* Read attribute obj@name as `mem` type into *v; a missing one leaves *v
 * as the caller's default. */
static inline void fixture_attr_(hid_t f, const char *obj, const char *name, hid_t mem, void *v) {
  hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  if (a < 0) return;
  H5Aread(a, mem, v);
  H5Aclose(a);
}

/* max |a - b| / max |b| (divisor 1 when b is all zero); a NaN in a sticks. */
static inline double fixture_relerr_(const float *a, const float *b, size_t n) {
  double md = 0, mb = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (!(d <= md)) md = d;
    if (fabs((double)b[i]) > mb) mb = fabs((double)b[i]);
  }
  return md / (mb > 0 ? mb : 1.0);
}

#endif
