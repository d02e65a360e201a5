/* score_fixture.h - read tests/golden/score_fixtures.h5 (made by
 * tests/golden/make_score_fixtures.py) with plain serial HDF5 calls. Tests
 * run from the repository root; TC_GOLDEN_DIR overrides the directory. */
#ifndef TC_SCORE_FIXTURE_H
#define TC_SCORE_FIXTURE_H

#include <hdf5.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static hid_t score_fixture_open_(void) {
  const char *dir = getenv("TC_GOLDEN_DIR");
  char path[1024];
  snprintf(path, sizeof path, "%s/score_fixtures.h5", dir ? dir : "tests/golden");
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) fprintf(stderr, "cannot open fixture %s\n", path);
  return f;
}

/* Read a whole dataset converted to `mem` type; *n elements, dims[0..1]
 * (dims[1] = 1 for 1-D, 0-D gives n = 1). Caller frees. NULL when missing. */
static void *score_fixture_read_(hid_t f, const char *name, hid_t mem, size_t esize, int64_t *n,
                                 int64_t dims[2]) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) {
    fprintf(stderr, "fixture: no dataset %s\n", name);
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

#endif
