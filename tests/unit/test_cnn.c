/* test_cnn.c - the CNN runtime and the backbones against torch
 * (tests/golden/cnn_fixtures.h5, made by tests/golden/make_cnn_fixtures.py).
 *
 * Every layer type on small random tensors; whole resnet18 and Keras
 * mobilenetv2 trunks (full width) and a width-reduced wrn50 (same Bottleneck
 * structure) at 64x64 with formula weights that this file regenerates bit
 * for bit and writes to a temporary weights file, so the load path is the
 * real one. Errors are max |ours - torch| / max |torch| per tensor; the
 * target is 1e-4.
 *
 * Second mode, for the one-off checks of full-size networks
 * (tests/golden/check_wrn50.sh, analysis/check_mobilenet_weights.py):
 *   test_cnn --ref REF.h5 --weights W.h5 --backbone NAME
 * REF.h5 holds /input [3 x H x W] and reference maps named like the taps
 * plus /embedding; prints the max relative error of each.
 * Third mode, for tests/mpi/test_extract.sh (tests never run Python):
 *   test_cnn --write-weights GROUP BACKBONE OUT.h5
 * writes the formula weights of fixture group net/GROUP as a weights file.
 * Fourth mode, for bench/extract_bench.sh (not a test):
 *   test_cnn --bench BACKBONE WEIGHTS N   (N forwards + patch features at 224) */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backbone.h"
#include "check.h"
#include "cnn.h"
#include "embed.h"
#include "fixture_common.h"
#include "h5fmt.h"

#define TOL 1e-4

static const char *fixture_path_(void) {
  const char *p = getenv("TC_GOLDEN");
  return p ? p : "tests/golden/cnn_fixtures.h5";
}

/* Read a float dataset (any rank) with plain HDF5; returns malloc'd data or
 * NULL when missing. */
static float *rd_(hid_t f, const char *name, size_t *n, int *nd, hsize_t *dims) {
  if (H5Lexists(f, name, H5P_DEFAULT) <= 0) {
    fprintf(stderr, "fixture: missing %s\n", name);
    return NULL;
  }
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT), s = H5Dget_space(d);
  hsize_t dd[8];
  int k = H5Sget_simple_extent_ndims(s);
  H5Sget_simple_extent_dims(s, dd, NULL);
  size_t cnt = 1;
  for (int i = 0; i < k; i++) cnt *= dd[i];
  float *buf = malloc(cnt * sizeof(float) + 4);
  H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Sclose(s);
  H5Dclose(d);
  if (n) *n = cnt;
  if (nd) *nd = k;
  if (dims)
    for (int i = 0; i < k; i++) dims[i] = dd[i];
  return buf;
}

static double attr_d_(hid_t f, const char *obj, const char *name) {
  double v = 0;
  fixture_attr_(f, obj, name, H5T_NATIVE_DOUBLE, &v);
  return v;
}

static void report_(const char *what, double e) {
  printf("  %-46s max rel err %.2e\n", what, e);
  CHECK_MSG(e <= TOL, "%s: max rel err %.3e > %g", what, e, TOL);
}

/* ----------------------------------------------------------- single layers */
static void test_conv_cases_(hid_t f) {
  const char *cases[] = {"conv3x3",           "conv7x7s2",          "conv1x1_relu6",
                         "conv1x1s2",         "conv3x3s2_same_even", "conv3x3s2_same_odd",
                         "conv3x3_bias",      "dw3x3_same",         "dw3x3s2_same_even",
                         "dw3x3s2_same_odd"};
  for (size_t t = 0; t < sizeof cases / sizeof cases[0]; t++) {
    char g[96], p[128];
    snprintf(g, sizeof g, "layer/%s", cases[t]);
    int cin = (int)attr_d_(f, g, "cin"), cout = (int)attr_d_(f, g, "cout");
    int k = (int)attr_d_(f, g, "k"), s = (int)attr_d_(f, g, "stride");
    int mode = (int)attr_d_(f, g, "pad_mode"), pad = (int)attr_d_(f, g, "pad");
    int act = (int)attr_d_(f, g, "act"), dw = (int)attr_d_(f, g, "depthwise");
    double eps = attr_d_(f, g, "eps");
    hsize_t xd[4], yd[4];
    size_t ny;
    snprintf(p, sizeof p, "%s/x", g);
    float *x = rd_(f, p, NULL, NULL, xd);
    snprintf(p, sizeof p, "%s/y", g);
    float *y = rd_(f, p, &ny, NULL, yd);
    float *bn[4], *w, *b = NULL;
    const char *bnn[4] = {"gamma", "beta", "mean", "var"};
    snprintf(p, sizeof p, "%s/w", g);
    w = rd_(f, p, NULL, NULL, NULL);
    for (int i = 0; i < 4; i++) {
      snprintf(p, sizeof p, "%s/%s", g, bnn[i]);
      bn[i] = rd_(f, p, NULL, NULL, NULL);
    }
    snprintf(p, sizeof p, "%s/b", g);
    if (H5Lexists(f, p, H5P_DEFAULT) > 0) b = rd_(f, p, NULL, NULL, NULL);
    TcNet *net = NULL;
    int idx = -1;
    CHECK(tc_net_create(cin, &net) == TC_OK);
    CHECK(tc_net_add_conv(net, cases[t], -1, cin, cout, k, k, s, mode ? TC_PAD_TF_SAME : TC_PAD_EXPLICIT,
                          pad, dw, w, b, (TcAct)act, &idx) == TC_OK);
    CHECK(tc_net_fold_bn(net, idx, bn[0], bn[1], bn[2], bn[3], eps) == TC_OK);
    CHECK(tc_net_request(net, idx) == TC_OK);
    CHECK(tc_net_forward(net, x, (int)xd[1], (int)xd[2]) == TC_OK);
    int oc, oh, ow;
    const float *o = tc_net_output(net, idx, &oc, &oh, &ow);
    CHECK(o != NULL);
    CHECK(oc == (int)yd[0] && oh == (int)yd[1] && ow == (int)yd[2]);
    if (o && oc == (int)yd[0] && oh == (int)yd[1] && ow == (int)yd[2]) {
      char what[96];
      snprintf(what, sizeof what, "layer %s", cases[t]);
      report_(what, fixture_relerr_(o, y, ny));
    }
    tc_net_destroy(&net);
    CHECK(net == NULL);
    free(x), free(y), free(w), free(b);
    for (int i = 0; i < 4; i++) free(bn[i]);
  }
}

/* The 3x3 depthwise fast path against the generic depthwise loop: a 5x5
 * kernel whose outer ring is zero, padded by 2, adds the same nine products
 * in the same order plus exact zeros, so every output is equal (==), at
 * stride 1 and 2, odd and even sizes. */
static void test_dw3x3_matches_generic_(void) {
  const int C = 5;
  for (int s = 1; s <= 2; s++)
    for (int hw = 9; hw <= 10; hw++) {
      float *x = malloc(sizeof(float) * C * hw * hw), w3[5 * 9], w5[5 * 25], b[5];
      uint64_t st = 0x9e3779b97f4a7c15ull ^ (uint64_t)(s * 31 + hw);
      for (int i = 0; i < C * hw * hw; i++) {
        st = st * 6364136223846793005ull + 1442695040888963407ull;
        x[i] = (float)((int64_t)(st >> 40) % 2001 - 1000) / 317.0f;
      }
      memset(w5, 0, sizeof w5);
      for (int c = 0; c < C; c++) {
        b[c] = 0.125f * (float)(c - 2);
        for (int k = 0; k < 9; k++) {
          w3[c * 9 + k] = (float)((c * 9 + k) % 7 - 3) / 3.0f;
          w5[c * 25 + (k / 3 + 1) * 5 + (k % 3 + 1)] = w3[c * 9 + k];
        }
      }
      TcNet *n3 = NULL, *n5 = NULL;
      int i3 = -1, i5 = -1, c3, h3, o3, c5, h5, o5;
      CHECK(tc_net_create(C, &n3) == TC_OK && tc_net_create(C, &n5) == TC_OK);
      CHECK(tc_net_add_conv(n3, "dw3", -1, C, C, 3, 3, s, TC_PAD_EXPLICIT, 1, 1, w3, b, TC_ACT_NONE, &i3) == TC_OK);
      CHECK(tc_net_add_conv(n5, "dw5", -1, C, C, 5, 5, s, TC_PAD_EXPLICIT, 2, 1, w5, b, TC_ACT_NONE, &i5) == TC_OK);
      CHECK(tc_net_request(n3, i3) == TC_OK && tc_net_request(n5, i5) == TC_OK);
      CHECK(tc_net_forward(n3, x, hw, hw) == TC_OK && tc_net_forward(n5, x, hw, hw) == TC_OK);
      const float *y3 = tc_net_output(n3, i3, &c3, &h3, &o3), *y5 = tc_net_output(n5, i5, &c5, &h5, &o5);
      CHECK(y3 && y5 && c3 == c5 && h3 == h5 && o3 == o5);
      int64_t diff = 0;
      for (int64_t i = 0; y3 && y5 && i < (int64_t)c3 * h3 * o3; i++) diff += y3[i] != y5[i];
      CHECK_MSG(diff == 0, "dw3x3 stride %d size %d: %lld outputs differ from the generic loop", s, hw,
                (long long)diff);
      tc_net_destroy(&n3);
      tc_net_destroy(&n5);
      free(x);
    }
}

static void test_other_layers_(hid_t f) {
  hsize_t d[4];
  size_t ny;
  int oc, oh, ow, idx;
  /* max pool 3x3 s2 p1 */
  float *x = rd_(f, "layer/maxpool/x", NULL, NULL, d), *y = rd_(f, "layer/maxpool/y", &ny, NULL, NULL);
  TcNet *net = NULL;
  tc_net_create((int)d[0], &net);
  CHECK(tc_net_add_maxpool(net, "pool", -1, 3, 2, 1, &idx) == TC_OK);
  tc_net_request(net, idx);
  CHECK(tc_net_forward(net, x, (int)d[1], (int)d[2]) == TC_OK);
  const float *o = tc_net_output(net, idx, &oc, &oh, &ow);
  CHECK((size_t)oc * oh * ow == ny);
  report_("layer maxpool 3x3 s2 p1", fixture_relerr_(o, y, ny));
  tc_net_destroy(&net);
  free(x), free(y);
  /* add + relu: input [a; b], two selecting 1x1 convs, then add */
  float *a = rd_(f, "layer/add_relu/a", NULL, NULL, d), *b = rd_(f, "layer/add_relu/b", NULL, NULL, NULL);
  y = rd_(f, "layer/add_relu/y", &ny, NULL, NULL);
  int C = (int)d[0], HW = (int)(d[1] * d[2]);
  float *ab = malloc(sizeof(float) * 2 * C * HW), *sel = calloc((size_t)2 * C * C, sizeof(float));
  memcpy(ab, a, sizeof(float) * C * HW);
  memcpy(ab + (size_t)C * HW, b, sizeof(float) * C * HW);
  tc_net_create(2 * C, &net);
  int ia, ib;
  for (int c = 0; c < C; c++) sel[c * 2 * C + c] = 1.f;
  tc_net_add_conv(net, "a", -1, 2 * C, C, 1, 1, 1, TC_PAD_EXPLICIT, 0, 0, sel, NULL, TC_ACT_NONE, &ia);
  memset(sel, 0, sizeof(float) * 2 * C * C);
  for (int c = 0; c < C; c++) sel[c * 2 * C + C + c] = 1.f;
  tc_net_add_conv(net, "b", -1, 2 * C, C, 1, 1, 1, TC_PAD_EXPLICIT, 0, 0, sel, NULL, TC_ACT_NONE, &ib);
  CHECK(tc_net_add_add(net, "add", ia, ib, TC_ACT_RELU, &idx) == TC_OK);
  tc_net_request(net, idx);
  CHECK(tc_net_forward(net, ab, (int)d[1], (int)d[2]) == TC_OK);
  o = tc_net_output(net, idx, &oc, &oh, &ow);
  report_("layer add + relu", fixture_relerr_(o, y, ny));
  /* an op nobody requested is not kept */
  CHECK(tc_net_output(net, ia, NULL, NULL, NULL) == NULL);
  tc_net_destroy(&net);
  free(a), free(b), free(y), free(ab), free(sel);
  /* global average pool */
  x = rd_(f, "layer/gap/x", NULL, NULL, d);
  y = rd_(f, "layer/gap/y", &ny, NULL, NULL);
  tc_net_create((int)d[0], &net);
  tc_net_add_gap(net, "gap", -1, &idx);
  tc_net_request(net, idx);
  CHECK(tc_net_forward(net, x, (int)d[1], (int)d[2]) == TC_OK);
  o = tc_net_output(net, idx, &oc, &oh, &ow);
  CHECK(oc == (int)ny && oh == 1 && ow == 1);
  report_("layer global average pool", fixture_relerr_(o, y, ny));
  tc_net_destroy(&net);
  free(x), free(y);
}

/* ---------------------------------------------------------- whole networks */
static uint64_t mix_(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* the formula of make_cnn_fixtures.py (tc_formula) */
static void formula_(int64_t k, size_t n, int role, int64_t fan_in, float *out) {
  double bound = role == 0 ? sqrt(3.0 / (double)fan_in) : 0;
  for (size_t i = 0; i < n; i++) {
    uint64_t z = mix_((uint64_t)(k + 1) * 0x9E3779B97F4A7C15ULL + (uint64_t)i);
    double u = (double)(z >> 40) / (double)(1 << 24), v;
    if (role == 0) v = (2 * u - 1) * bound;
    else if (role == 1 || role == 4) v = 0.5 + u;
    else if (role == 2 || role == 3) v = 0.2 * (2 * u - 1);
    else v = 2 * u - 1;
    out[i] = (float)v;
  }
}

/* Write a weights file from the fixture's spec (names, shapes, roles). */
static int write_weights_(hid_t f, const char *g, const char *backbone, const char *path) {
  char p[160];
  snprintf(p, sizeof p, "%s/spec_names", g);
  hid_t d = H5Dopen2(f, p, H5P_DEFAULT), s = H5Dget_space(d), t = H5Dget_type(d);
  hsize_t n;
  H5Sget_simple_extent_dims(s, &n, NULL);
  size_t width = H5Tget_size(t);
  char *names = calloc(n, width + 1), *raw = calloc(n, width);
  H5Dread(d, t, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw);
  for (hsize_t i = 0; i < n; i++) memcpy(names + i * (width + 1), raw + i * width, width);
  H5Tclose(t), H5Sclose(s), H5Dclose(d);
  free(raw);
  snprintf(p, sizeof p, "%s/spec_shapes", g);
  int64_t *shp = malloc(n * 6 * sizeof(int64_t));
  d = H5Dopen2(f, p, H5P_DEFAULT);
  H5Dread(d, H5T_NATIVE_INT64, H5S_ALL, H5S_ALL, H5P_DEFAULT, shp);
  H5Dclose(d);
  char layout[32] = "";
  hid_t a = H5Aopen_by_name(f, g, "layout", H5P_DEFAULT, H5P_DEFAULT), at = H5Aget_type(a);
  if (H5Tis_variable_str(at) > 0) {
    char *v = NULL;
    H5Aread(a, at, &v);
    snprintf(layout, sizeof layout, "%s", v);
    H5free_memory(v);
  } else H5Aread(a, at, layout);
  H5Tclose(at), H5Aclose(a);

  TcH5File *w = NULL;
  int ok = tc_h5_create(MPI_COMM_SELF, path, "weights", &w) == TC_OK;
  ok = ok && tc_h5_set_attr_str(w, "/", "backbone", backbone) == TC_OK;
  ok = ok && tc_h5_set_attr_str(w, "/", "layout", layout) == TC_OK;
  ok = ok && tc_h5_set_attr_f64(w, "/", "bn_eps", attr_d_(f, g, "eps")) == TC_OK;
  ok = ok && tc_h5_set_attr_str(w, "/", "source", "test_cnn formula weights") == TC_OK;
  for (hsize_t i = 0; ok && i < n; i++) {
    int64_t *r = shp + i * 6; /* ndims, dims[4], role */
    int nd = (int)r[0];
    size_t cnt = 1;
    for (int j = 0; j < nd; j++) cnt *= (size_t)r[1 + j];
    float *v = malloc(cnt * sizeof(float));
    int64_t fan = nd == 4 ? r[2] * r[3] * r[4] : 1;
    formula_((int64_t)i, cnt, (int)r[5] /* role */, fan, v);
    ok = tc_h5_create_dataset(w, names + i * (width + 1), TC_H5_F32, nd, r + 1, 0) == TC_OK &&
         tc_h5_write_rows(w, names + i * (width + 1), TC_H5_F32, 0, r[1], v) == TC_OK;
    free(v);
  }
  if (ok) ok = tc_h5_publish(&w) == TC_OK;
  else tc_h5_abandon(&w);
  free(names);
  free(shp);
  if (!ok) fprintf(stderr, "writing %s failed: %s\n", path, tc_err_message());
  return ok;
}

/* The fixtures' /embedding is DESIGN 3.2's: the average of the network's
 * last map (out_relu for mobilenetv2, whose default is now another map). */
static const char *fixture_embed_(const char *backbone) {
  return !strcmp(backbone, "mobilenetv2") ? "out_relu" : NULL;
}

static void test_net_(hid_t f, const char *group, const char *backbone, const char *taps,
                      const char *const *check, int ncheck, const char *tmpdir) {
  char g[64], path[512];
  snprintf(g, sizeof g, "net/%s", group);
  snprintf(path, sizeof path, "%s/%s.h5", tmpdir, group);
  CHECK_MSG(write_weights_(f, g, backbone, path), "weights for %s", group);
  TcBackbone *bb = NULL;
  TcErr err = tc_backbone_load_embed(backbone, path, taps, fixture_embed_(backbone), &bb);
  CHECK_MSG(err == TC_OK, "load %s: %s", group, tc_err_message());
  if (err) return;
  int H = (int)attr_d_(f, g, "h"), W = (int)attr_d_(f, g, "w");
  float *x = malloc(sizeof(float) * 3 * H * W);
  formula_((int64_t)attr_d_(f, "/", "input_k"), (size_t)3 * H * W, 5, 1, x);
  CHECK(tc_backbone_forward(bb, x, H, W) == TC_OK);
  char p[160], what[160];
  for (int i = 0; i < ncheck; i++) {
    size_t n;
    snprintf(p, sizeof p, "%s/%s", g, check[i]);
    float *ref = rd_(f, p, &n, NULL, NULL);
    const float *o = NULL;
    int c = 0, h = 0, w = 0;
    if (!strcmp(check[i], "embedding")) {
      o = tc_backbone_embedding(bb);
      c = bb->embed_dim, h = w = 1;
    } else
      for (int t = 0; t < bb->ntaps; t++)
        if (!strcmp(tc_net_op(bb->net, bb->tap_op[t])->name, check[i]))
          o = tc_backbone_tap(bb, t, &c, &h, &w);
    CHECK_MSG(o && (size_t)c * h * w == n, "%s %s: shape", group, check[i]);
    snprintf(what, sizeof what, "%s %s [%d x %d x %d]", group, check[i], c, h, w);
    if (o && (size_t)c * h * w == n) report_(what, fixture_relerr_(o, ref, n));
    free(ref);
  }
  /* patch features of the two taps at D = 64 (DESIGN 3.2 end to end) */
  snprintf(p, sizeof p, "%s/patch_D64", g);
  if (H5Lexists(f, p, H5P_DEFAULT) > 0 && bb->ntaps == 2) {
    size_t n;
    float *ref = rd_(f, p, &n, NULL, NULL);
    const float *maps[2];
    int c[2], h[2], w[2];
    for (int t = 0; t < 2; t++) maps[t] = tc_backbone_tap(bb, t, &c[t], &h[t], &w[t]);
    float *out = malloc(sizeof(float) * h[0] * w[0] * 64);
    CHECK(tc_embed_patches(2, maps, c, h, w, 64, out) == TC_OK);
    CHECK((size_t)h[0] * w[0] * 64 == n);
    snprintf(what, sizeof what, "%s patch features D=64 [%d x 64]", group, h[0] * w[0]);
    report_(what, fixture_relerr_(out, ref, n));
    free(out);
    free(ref);
  }
  /* odd input size: Keras' stride-2 padding stays bottom/right */
  snprintf(p, sizeof p, "%s/odd_embedding", g);
  if (H5Lexists(f, p, H5P_DEFAULT) > 0) {
    int oh = (int)attr_d_(f, g, "odd_h"), ow = (int)attr_d_(f, g, "odd_w");
    float *x2 = malloc(sizeof(float) * 3 * oh * ow);
    formula_((int64_t)attr_d_(f, "/", "input_k"), (size_t)3 * oh * ow, 5, 1, x2);
    CHECK(tc_backbone_forward(bb, x2, oh, ow) == TC_OK);
    size_t n;
    float *ref = rd_(f, p, &n, NULL, NULL);
    snprintf(what, sizeof what, "%s embedding, odd input %dx%d", group, oh, ow);
    report_(what, fixture_relerr_(tc_backbone_embedding(bb), ref, n));
    free(ref);
    snprintf(p, sizeof p, "%s/odd_block_5_add", g);
    ref = rd_(f, p, &n, NULL, NULL);
    int c, h, w;
    const float *o = tc_backbone_tap(bb, 0, &c, &h, &w);
    CHECK((size_t)c * h * w == n);
    snprintf(what, sizeof what, "%s block_5_add, odd input [%d x %d x %d]", group, c, h, w);
    if ((size_t)c * h * w == n) report_(what, fixture_relerr_(o, ref, n));
    free(ref);
    free(x2);
  }
  tc_backbone_destroy(&bb);
  CHECK(bb == NULL);
  free(x);
  unlink(path);
}

static void test_errors_(const char *tmpdir) {
  TcBackbone *bb = NULL;
  CHECK(tc_backbone_load("vgg", "x.h5", NULL, &bb) == TC_ERR_USAGE);
  tc_err_clear();
  CHECK(tc_backbone_load("resnet18", "/nonexistent/w.h5", NULL, &bb) == TC_ERR_IO);
  tc_err_clear();
  char path[512];
  snprintf(path, sizeof path, "%s/resnet18.h5", tmpdir);
  /* weights of another backbone */
  TcErr e = tc_backbone_load("wrn50", path, NULL, &bb);
  CHECK(e == TC_ERR_FORMAT && strstr(tc_err_message(), "resnet18"));
  tc_err_clear();
  e = tc_backbone_load("resnet18", path, "layer2,nosuchmap", &bb);
  CHECK(e == TC_ERR_USAGE && strstr(tc_err_message(), "nosuchmap"));
  CHECK(bb == NULL);
  tc_err_clear();
  /* an empty image */
  e = tc_backbone_load("resnet18", path, NULL, &bb);
  CHECK(e == TC_OK);
  if (!e) {
    float x[3 * 4 * 4] = {0};
    e = tc_backbone_forward(bb, x, 0, 4);
    CHECK(e == TC_ERR_USAGE);
    tc_err_clear();
  }
  tc_backbone_destroy(&bb);
}

/* ------------------------------------------------- reference-file mode */
static int ref_mode_(const char *ref, const char *weights, const char *backbone, const char *taps) {
  TcBackbone *bb = NULL;
  if (tc_backbone_load_embed(backbone, weights, taps, fixture_embed_(backbone), &bb)) {
    fprintf(stderr, "load: %s\n", tc_err_message());
    return 1;
  }
  hid_t f = H5Fopen(ref, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) return 1;
  hsize_t d[4];
  float *x = rd_(f, "input", NULL, NULL, d);
  double t0 = MPI_Wtime();
  if (tc_backbone_forward(bb, x, (int)d[1], (int)d[2])) {
    fprintf(stderr, "forward: %s\n", tc_err_message());
    return 1;
  }
  printf("%s %dx%d forward %.3f s (weights %s)\n", backbone, (int)d[1], (int)d[2],
         MPI_Wtime() - t0, weights);
  for (int t = 0; t <= bb->ntaps; t++) {
    int c = bb->embed_dim, h = 1, w = 1;
    const char *name = t < bb->ntaps ? tc_net_op(bb->net, bb->tap_op[t])->name : "embedding";
    const float *o = t < bb->ntaps ? tc_backbone_tap(bb, t, &c, &h, &w) : tc_backbone_embedding(bb);
    size_t n;
    float *r = rd_(f, name, &n, NULL, NULL);
    if (!r || n != (size_t)c * h * w) {
      CHECK_MSG(0, "%s: missing or wrong size", name);
      free(r);
      continue;
    }
    char what[128];
    snprintf(what, sizeof what, "%s %s [%d x %d x %d]", backbone, name, c, h, w);
    report_(what, fixture_relerr_(o, r, n));
    free(r);
  }
  free(x);
  H5Fclose(f);
  tc_backbone_destroy(&bb);
  return 0;
}

static int bench_mode_(const char *backbone, const char *weights, int n) {
  TcBackbone *bb = NULL;
  if (tc_backbone_load(backbone, weights, NULL, &bb)) {
    fprintf(stderr, "load: %s\n", tc_err_message());
    return 1;
  }
  int S = 224, D = bb->default_dim;
  float *x = malloc(sizeof(float) * 3 * S * S), *feat = NULL;
  formula_(7, (size_t)3 * S * S, 5, 1, x);
  double tnet = 0, temb = 0;
  for (int i = 0; i <= n; i++) { /* i = 0 warms up (allocations) */
    double t0 = MPI_Wtime();
    if (tc_backbone_forward(bb, x, S, S)) return 1;
    double t1 = MPI_Wtime();
    const float *maps[2];
    int c[2], h[2], w[2];
    for (int t = 0; t < 2; t++) maps[t] = tc_backbone_tap(bb, t, &c[t], &h[t], &w[t]);
    if (!feat) feat = malloc(sizeof(float) * h[0] * w[0] * D);
    if (tc_embed_patches(2, maps, c, h, w, D, feat)) return 1;
    double t2 = MPI_Wtime();
    if (i > 0) tnet += t1 - t0, temb += t2 - t1;
  }
  printf("ours  %-12s %7.2f images/s network only, %7.2f images/s with patch features (D=%d)\n",
         backbone, n / tnet, n / (tnet + temb), D);
  free(x);
  free(feat);
  tc_backbone_destroy(&bb);
  return 0;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  if (argc == 5 && !strcmp(argv[1], "--bench")) {
    int rc = bench_mode_(argv[2], argv[3], atoi(argv[4]));
    MPI_Finalize();
    return rc;
  }
  if (argc >= 7 && !strcmp(argv[1], "--ref")) {
    int rc = ref_mode_(argv[2], argv[4], argv[6], argc >= 9 ? argv[8] : NULL);
    int r = tc_test_report();
    MPI_Finalize();
    return rc ? rc : r;
  }
  hid_t f = H5Fopen(fixture_path_(), H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f >= 0 && argc == 5 && !strcmp(argv[1], "--write-weights")) {
    char g[96];
    snprintf(g, sizeof g, "net/%s", argv[2]);
    int ok = write_weights_(f, g, argv[3], argv[4]);
    H5Fclose(f);
    MPI_Finalize();
    return ok ? 0 : 1;
  }
  if (f < 0) {
    fprintf(stderr, "cannot open %s (run from the repository root or set TC_GOLDEN)\n",
            fixture_path_());
    MPI_Finalize();
    return 1;
  }
  char tmpdir[] = "/tmp/tc_test_cnn.XXXXXX";
  if (!mkdtemp(tmpdir)) return 1;
  test_conv_cases_(f);
  test_dw3x3_matches_generic_();
  test_other_layers_(f);
  const char *r18[] = {"layer3", "embedding"};
  test_net_(f, "resnet18", "resnet18", NULL, r18, 2, tmpdir);
  const char *wrn[] = {"layer2", "layer3", "embedding"};
  test_net_(f, "wrn50_small", "wrn50", NULL, wrn, 3, tmpdir);
  const char *mb[] = {"block_5_add", "block_10_project_BN", "embedding"};
  test_net_(f, "mobilenetv2", "mobilenetv2", NULL, mb, 3, tmpdir);
  /* error paths reuse a resnet18 weights file */
  char path[512];
  snprintf(path, sizeof path, "%s/resnet18.h5", tmpdir);
  CHECK(write_weights_(f, "net/resnet18", "resnet18", path));
  test_errors_(tmpdir);
  unlink(path);
  rmdir(tmpdir);
  H5Fclose(f);
  int rc = tc_test_report();
  MPI_Finalize();
  return rc;
}
