/* test_h5read.c - issue 19: the typed HDF5 readers refuse what a file may
 * claim but must not be trusted with, and the size and value helpers they
 * rely on (checked.h). Files are written here with the plain HDF5 API
 * (anything a hostile writer could make), read through h5fmt on
 * MPI_COMM_SELF. */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "h5_test.h"
#include "checked.h"
#include "features_io.h"
#include "h5fmt.h"

static char dir_[256];
static char path_[512];

/* A file with tc_kind "features" and version 1, open for adding more. */
static hid_t new_file_(const char *name) {
  snprintf(path_, sizeof path_, "%s/%s", dir_, name);
  hid_t f = H5Fcreate(path_, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
  hid_t st = H5Tcopy(H5T_C_S1), sc = H5Screate(H5S_SCALAR);
  H5Tset_size(st, 9);
  hid_t a = H5Acreate2(f, "tc_kind", st, sc, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, st, "features");
  H5Aclose(a);
  int64_t one = 1;
  a = H5Acreate2(f, "tc_format_version", H5T_STD_I64LE, sc, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, H5T_NATIVE_INT64, &one);
  H5Aclose(a);
  H5Sclose(sc);
  H5Tclose(st);
  return f;
}

/* Attribute `name` of type t over n values (n = 0: scalar) from buf. */
static void put_attr_(hid_t f, const char *name, hid_t t, hsize_t n, const void *buf) {
  hid_t sp = n ? H5Screate_simple(1, &n, NULL) : H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT);
  H5Awrite(a, t, buf);
  H5Aclose(a);
  H5Sclose(sp);
}

static void put_dataset_(hid_t f, const char *name, hid_t t, int rank, const hsize_t *dims) {
  hid_t sp = H5Screate_simple(rank, dims, NULL);
  hid_t d = H5Dcreate2(f, name, t, sp, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(d);
  H5Sclose(sp);
}

static TcH5File *reopen_(hid_t f) {
  H5Fclose(f);
  TcH5File *h = NULL;
  TcErr err = tc_h5_open(MPI_COMM_SELF, path_, NULL, &h);
  CHECK_MSG(err == TC_OK, "%s: %s", path_, tc_err_message());
  tc_err_clear();
  return h;
}

/* err is TC_ERR_FORMAT and the message contains `want`. */
static void refused_(TcErr err, const char *want) {
  CHECK_MSG(err == TC_ERR_FORMAT, "code %d, expected format, for '%s'", (int)err, want);
  CHECK_MSG(strstr(tc_err_message(), want) != NULL, "message '%s' lacks '%s'", tc_err_message(), want);
  tc_err_clear();
}

static void test_checked_(void) {
  int64_t r = -1;
  CHECK(tc_mul_i64(3, 5, &r) && r == 15);
  CHECK(tc_mul_i64(0, INT64_MAX, &r) && r == 0);
  /* 2^61 + 2 times 8 wraps to 16 in uint64 arithmetic: refused here */
  CHECK(!tc_mul_i64((INT64_C(1) << 61) + 2, 8, &r));
  CHECK(!tc_mul_i64(INT64_MAX, 2, &r));
  CHECK(!tc_mul_i64(-1, 4, &r));
  CHECK(tc_mul3_i64(4, 4, 16, &r) && r == 256);
  CHECK(!tc_mul3_i64(65536, 65536, INT64_C(1) << 31, &r));
  CHECK(tc_add_i64(INT64_MAX - 1, 1, &r) && r == INT64_MAX);
  CHECK(!tc_add_i64(INT64_MAX, 1, &r));

  float x[10000];
  for (int i = 0; i < 10000; i++) x[i] = (float)(i % 97) - 48.0f;
  CHECK_INT(tc_first_bad_f32(x, 10000, TC_VALUE_ABS_MAX), -1);
  CHECK_INT(tc_first_bad_f32(x, 0, TC_VALUE_ABS_MAX), -1);
  const float bad[] = {NAN, -NAN, INFINITY, -INFINITY, 1e20f, -1e20f, 1.0001e15f};
  for (int k = 0; k < 7; k++) {
    float y[10000];
    memcpy(y, x, sizeof y);
    y[5000 + k] = bad[k];
    y[9000] = bad[k];
    CHECK_INT(tc_first_bad_f32(y, 10000, TC_VALUE_ABS_MAX), 5000 + k);
  }
  x[17] = TC_VALUE_ABS_MAX;
  x[18] = -TC_VALUE_ABS_MAX;
  CHECK_INT(tc_first_bad_f32(x, 10000, TC_VALUE_ABS_MAX), -1);
  /* the bound keeps a squared float32 distance finite at D = 65536 */
  float d2 = 0.0f;
  for (int i = 0; i < 65536; i++) d2 += (2 * TC_VALUE_ABS_MAX) * (2 * TC_VALUE_ABS_MAX);
  CHECK(isfinite(d2));
  CHECK(strcmp(tc_value_str(NAN), "NaN") == 0 && strcmp(tc_value_str(-INFINITY), "-inf") == 0);
}

static void test_attributes_(void) {
  hid_t f = new_file_("attrs.h5");
  int64_t hundred[100];
  for (int i = 0; i < 100; i++) hundred[i] = i;
  int64_t one = 16, huge = INT64_MAX;
  uint64_t umax = UINT64_MAX;
  double eps = 1e-5, nan = NAN;
  put_attr_(f, "D", H5T_STD_I64LE, 0, &one);
  put_attr_(f, "D1", H5T_STD_I64LE, 1, &one); /* h5py's shape (1,) */
  put_attr_(f, "D100", H5T_STD_I64LE, 100, hundred);
  put_attr_(f, "Dbig", H5T_STD_I64LE, 0, &huge);
  put_attr_(f, "Du64", H5T_STD_U64LE, 0, &umax);
  put_attr_(f, "eps", H5T_IEEE_F64LE, 0, &eps);
  put_attr_(f, "nan", H5T_IEEE_F64LE, 0, &nan);
  /* an integer type whose precision field says 13 bits of 64: what a flipped
   * bit makes of a type message */
  hid_t odd = H5Tcopy(H5T_STD_I64LE);
  H5Tset_precision(odd, 13);
  put_attr_(f, "odd", odd, 0, &one);
  H5Tclose(odd);
  hid_t s8 = H5Tcopy(H5T_C_S1);
  H5Tset_size(s8, 8);
  char fifty[50][8];
  for (int i = 0; i < 50; i++) memcpy(fifty[i], "features", 8);
  put_attr_(f, "kind50", s8, 50, fifty);
  put_attr_(f, "name", s8, 0, "mobilene");
  H5Tclose(s8);
  hid_t vl = H5Tcopy(H5T_C_S1);
  H5Tset_size(vl, H5T_VARIABLE);
  const char *vls[50];
  for (int i = 0; i < 50; i++) vls[i] = "features";
  put_attr_(f, "kindvl", vl, 50, vls);
  const char *one_vl = "resnet18";
  put_attr_(f, "vl1", vl, 0, &one_vl);
  H5Tclose(vl);
  TcH5File *h = reopen_(f);
  if (!h) return;

  int64_t v = -1;
  CHECK(tc_h5_get_attr_i64(h, "/", "D", &v) == TC_OK && v == 16);
  CHECK(tc_h5_get_attr_i64(h, "/", "D1", &v) == TC_OK && v == 16);
  refused_(tc_h5_get_attr_i64(h, "/", "D100", &v), "attribute D100 holds 100 values, expected exactly one");
  refused_(tc_h5_get_attr_i64_range(h, "/", "Dbig", 1, 65536, &v), "Dbig = 9223372036854775807 is out of range");
  refused_(tc_h5_get_attr_i64_range(h, "/", "Du64", 1, 65536, &v), "out of range");
  refused_(tc_h5_get_attr_i64(h, "/", "eps", &v), "attribute eps is not an integer");
  refused_(tc_h5_get_attr_i64(h, "/", "name", &v), "attribute name is not an integer");
  refused_(tc_h5_get_attr_i64(h, "/", "odd", &v), "damaged or non-standard number type");
  refused_(tc_h5_get_attr_i64(h, "/", "nope", &v), "missing attribute nope");
  double d = 0;
  CHECK(tc_h5_get_attr_f64(h, "/", "D", &d) == TC_OK && d == 16.0);
  CHECK(tc_h5_get_attr_f64_range(h, "/", "eps", 1e-12, 1.0, &d) == TC_OK && d == 1e-5);
  refused_(tc_h5_get_attr_f64_range(h, "/", "nan", 0.0, 1.0, &d), "nan = nan is out of range");

  char buf[64];
  CHECK(tc_h5_get_attr_str(h, "/", "name", buf, sizeof buf) == TC_OK && !strcmp(buf, "mobilene"));
  CHECK(tc_h5_get_attr_str(h, "/", "vl1", buf, sizeof buf) == TC_OK && !strcmp(buf, "resnet18"));
  refused_(tc_h5_get_attr_str(h, "/", "kind50", buf, sizeof buf), "attribute kind50 holds 50 values");
  refused_(tc_h5_get_attr_str(h, "/", "kindvl", buf, sizeof buf), "attribute kindvl holds 50 values");
  refused_(tc_h5_get_attr_str(h, "/", "D", buf, sizeof buf), "attribute D is not a string");
  char small[5];
  refused_(tc_h5_get_attr_str(h, "/", "name", small, sizeof small), "attribute name is longer than 4 bytes");
  refused_(tc_h5_get_attr_str(h, "/", "vl1", small, sizeof small), "attribute vl1 is longer than 4 bytes");
  tc_h5_close(&h);
}

static void test_datasets_(void) {
  hid_t f = new_file_("dsets.h5");
  hsize_t ones[20], d3[3] = {2, 3, 4}, d1[1] = {5}, huge[2] = {INT64_C(1) << 40, INT64_C(1) << 20};
  for (int i = 0; i < 20; i++) ones[i] = 1;
  put_dataset_(f, "r12", H5T_IEEE_F32LE, 12, ones);
  put_dataset_(f, "r20", H5T_IEEE_F32LE, 20, ones);
  put_dataset_(f, "ok", H5T_IEEE_F32LE, 3, d3);
  put_dataset_(f, "f64", H5T_IEEE_F64LE, 3, d3);
  put_dataset_(f, "u32", H5T_STD_U32LE, 1, d1);
  put_dataset_(f, "huge", H5T_IEEE_F32LE, 2, huge);
  hid_t sc = H5Screate(H5S_SCALAR);
  hid_t ds = H5Dcreate2(f, "scalar", H5T_IEEE_F32LE, sc, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  H5Dclose(ds);
  H5Sclose(sc);
  hid_t s2 = H5Tcopy(H5T_C_S1);
  H5Tset_size(s2, 4);
  hsize_t p2[2] = {3, 2};
  put_dataset_(f, "paths2d", s2, 2, p2);
  H5Tclose(s2);
  TcH5File *h = reopen_(f);
  if (!h) return;

  int nd = -1;
  int64_t dims[4];
  CHECK(tc_h5_dims(h, "ok", &nd, dims) == TC_OK && nd == 3 && dims[0] == 2 && dims[2] == 4);
  refused_(tc_h5_dims(h, "r12", &nd, dims), "dataset /r12 has 12 dimensions");
  refused_(tc_h5_dims(h, "r20", &nd, dims), "dataset /r20 has 20 dimensions");
  refused_(tc_h5_dims(h, "huge", &nd, dims), "implausible");
  CHECK(tc_h5_dims(h, "scalar", &nd, dims) == TC_OK && nd == 0);
  int64_t want[3] = {2, 3, 4}, any[3] = {-1, -1, -1};
  CHECK(tc_h5_expect(h, "ok", TC_H5_F32, 3, want) == TC_OK);
  refused_(tc_h5_expect(h, "f64", TC_H5_F32, 3, any), "wrong element type (expected float32)");
  refused_(tc_h5_expect(h, "r12", TC_H5_F32, 3, any), "has 12 dimensions");
  int64_t w1[1] = {5};
  refused_(tc_h5_expect(h, "u32", TC_H5_I32, 1, w1), "wrong element type (expected int32)");
  float buf[24];
  refused_(tc_h5_read_rows(h, "r20", TC_H5_F32, 0, 1, buf), "has 20 dimensions");
  refused_(tc_h5_read_rows(h, "scalar", TC_H5_F32, 0, 1, buf), "has 0 dimensions");
  refused_(tc_h5_read_rows(h, "f64", TC_H5_F32, 0, 1, buf), "wrong element type");
  refused_(tc_h5_read_rows(h, "ok", TC_H5_F32, 1, 2, buf), "out of range");
  refused_(tc_h5_read_rows(h, "ok", TC_H5_F32, INT64_MAX, 2, buf), "out of range");
  CHECK(tc_h5_read_rows(h, "ok", TC_H5_F32, 0, 2, buf) == TC_OK);
  char **s = NULL;
  refused_(tc_h5_read_strings(h, "paths2d", 0, 3, &s), "/paths2d has 2 dimensions");
  refused_(tc_h5_read_strings(h, "ok", 0, 1, &s), "not a string dataset");
  CHECK(s == NULL);
  tc_h5_close(&h);
}

/* The feature attributes: ranges and the HW product that used to wrap. */
static void test_features_meta_(void) {
  const struct {
    const char *attr;
    int64_t value;
    const char *want;
  } cases[] = {
      {"fmap_h", (INT64_C(1) << 61) + 2, "fmap_h = 2305843009213693954 is out of range (1..65536)"},
      {"fmap_h", INT64_MAX, "fmap_h = 9223372036854775807 is out of range"},
      {"fmap_w", 0, "fmap_w = 0 is out of range"},
      {"D", -16, "D = -16 is out of range"},
      {"crop", 300, "crop = 300 is out of range (1..256)"},
  };
  for (size_t c = 0; c < sizeof cases / sizeof cases[0]; c++) {
    hid_t f = new_file_("meta.h5");
    const char *names[] = {"D", "E", "resize", "crop", "fmap_h", "fmap_w"};
    int64_t vals[] = {16, 8, 256, 224, 4, 4};
    for (int i = 0; i < 6; i++)
      put_attr_(f, names[i], H5T_STD_I64LE, 0, strcmp(names[i], cases[c].attr) ? &vals[i] : &cases[c].value);
    hid_t s = H5Tcopy(H5T_C_S1);
    H5Tset_size(s, 5);
    const char *snames[] = {"backbone", "weights_sha256", "taps", "normalisation"};
    for (int i = 0; i < 4; i++) put_attr_(f, snames[i], s, 0, "fake");
    H5Tclose(s);
    TcH5File *h = reopen_(f);
    if (!h) continue;
    TcFeaturesMeta m;
    refused_(tc_features_meta_read_attrs(h, &m), cases[c].want);
    tc_h5_close(&h);
  }
}

int main(int argc, char **argv) {
  tc_test_h5_begin(&argc, &argv, dir_, sizeof dir_, "tc_h5read");
  test_checked_();
  test_attributes_();
  test_datasets_();
  test_features_meta_();
  return tc_test_h5_end(dir_);
}
