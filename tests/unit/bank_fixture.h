/* bank_fixture.h - read tests/golden/bank_fixtures.h5 (made by
 * tests/golden/make_bank_fixtures.py) with plain serial HDF5 calls. Tests
 * run from the repository root; TC_GOLDEN_DIR overrides the directory. */
#ifndef TC_BANK_FIXTURE_H
#define TC_BANK_FIXTURE_H

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static hid_t bank_fixture_open_(void) {
  const char *dir = getenv("TC_GOLDEN_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/bank_fixtures.h5", dir ? dir : "tests/golden");
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) fprintf(stderr, "cannot open fixture %s\n", path);
  return f;
}

/* Read a whole dataset as `mem` type; *n = number of elements, dims[0..1]. */
static void *bank_fixture_read_(hid_t f, const char *name, hid_t mem, size_t esize, int64_t *n,
                                int64_t dims[2]) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) { fprintf(stderr, "fixture: no dataset %s\n", name); return NULL; }
  hid_t sp = H5Dget_space(d);
  hsize_t h[4] = {1, 1, 1, 1};
  int nd = H5Sget_simple_extent_dims(sp, h, NULL);
  int64_t tot = 1;
  for (int i = 0; i < nd; i++) tot *= (int64_t)h[i];
  if (dims) { dims[0] = (int64_t)h[0]; dims[1] = nd > 1 ? (int64_t)h[1] : 1; }
  void *buf = malloc((size_t)(tot > 0 ? tot : 1) * esize);
  H5Dread(d, mem, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Sclose(sp);
  H5Dclose(d);
  *n = tot;
  return buf;
}

static int64_t bank_fixture_attr_i64_(hid_t f, const char *obj, const char *name) {
  int64_t v = -1;
  hid_t a = H5Aopen_by_name(f, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  if (a >= 0) { H5Aread(a, H5T_NATIVE_INT64, &v); H5Aclose(a); }
  return v;
}

#endif
