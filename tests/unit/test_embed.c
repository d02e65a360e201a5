/* test_embed.c - the DESIGN 3.2 patch embedding against PatchCore's torch
 * code (F.unfold 3x3 pad 1, F.interpolate bilinear align_corners=False,
 * F.adaptive_avg_pool1d), fixtures in tests/golden/embed_fixtures.h5 made by
 * tests/golden/make_cnn_fixtures.py. Error = max |ours - torch| / max |torch|,
 * target 1e-4 (ours pools before interpolating: equal up to rounding). */
#include <hdf5.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "embed.h"
#include "fixture_common.h"

static float *rd_(hid_t f, const char *name, size_t *n, hsize_t *dims) {
  hid_t d = H5Dopen2(f, name, H5P_DEFAULT);
  if (d < 0) return NULL;
  hid_t s = H5Dget_space(d);
  hsize_t dd[8];
  int k = H5Sget_simple_extent_ndims(s);
  H5Sget_simple_extent_dims(s, dd, NULL);
  size_t cnt = 1;
  for (int i = 0; i < k; i++) cnt *= dd[i];
  float *buf = malloc(cnt * sizeof(float));
  H5Dread(d, H5T_NATIVE_FLOAT, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf);
  H5Sclose(s), H5Dclose(d);
  if (n) *n = cnt;
  if (dims) memcpy(dims, dd, (size_t)k * sizeof(hsize_t));
  return buf;
}

static int attr_i_(hid_t f, const char *obj, const char *name) {
  int v = 0;
  fixture_attr_(f, obj, name, H5T_NATIVE_INT, &v);
  return v;
}

int main(void) {
  const char *path = getenv("TC_GOLDEN_EMBED") ? getenv("TC_GOLDEN_EMBED")
                                               : "tests/golden/embed_fixtures.h5";
  hid_t f = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
  if (f < 0) {
    fprintf(stderr, "cannot open %s (run from the repository root)\n", path);
    return 1;
  }
  /* adaptive pooling bins, shrinking and growing */
  size_t nx;
  float *x = rd_(f, "embed/pool/x", &nx, NULL);
  int ns[] = {5, 37, 50, 100};
  for (int t = 0; t < 4; t++) {
    char p[64];
    snprintf(p, sizeof p, "embed/pool/y%d", ns[t]);
    float *ref = rd_(f, p, NULL, NULL), *y = malloc(sizeof(float) * ns[t]);
    tc_embed_adaptive_pool(x, (int)nx, y, ns[t]);
    double e = fixture_relerr_(y, ref, ns[t]);
    printf("  adaptive pool %zu -> %-3d max rel err %.2e\n", nx, ns[t], e);
    CHECK_MSG(e <= 1e-6, "pool %d: %.3e", ns[t], e);
    free(ref), free(y);
  }
  free(x);
  const char *cases[] = {"two_layers", "repeat_values", "three_layers", "odd_ratio"};
  for (int t = 0; t < 4; t++) {
    char g[64], p[96];
    snprintf(g, sizeof g, "embed/%s", cases[t]);
    int L = attr_i_(f, g, "nlayers"), D = attr_i_(f, g, "D");
    float *maps[4];
    int c[4], h[4], w[4];
    for (int l = 0; l < L; l++) {
      hsize_t d[3];
      snprintf(p, sizeof p, "%s/map%d", g, l);
      maps[l] = rd_(f, p, NULL, d);
      c[l] = (int)d[0], h[l] = (int)d[1], w[l] = (int)d[2];
    }
    size_t n;
    snprintf(p, sizeof p, "%s/y", g);
    float *ref = rd_(f, p, &n, NULL);
    float *out = malloc(sizeof(float) * h[0] * w[0] * D);
    CHECK(tc_embed_patches(L, (const float *const *)maps, c, h, w, D, out) == TC_OK);
    CHECK_INT(n, (size_t)h[0] * w[0] * D);
    double e = fixture_relerr_(out, ref, n);
    printf("  patch embedding %-14s (%d layers, D=%d) max rel err %.2e\n", cases[t], L, D, e);
    CHECK_MSG(e <= 1e-4, "%s: %.3e", cases[t], e);
    free(out), free(ref);
    for (int l = 0; l < L; l++) free(maps[l]);
  }
  int c0 = 1, h0 = 1, w0 = 1;
  float m = 1.f, o;
  const float *mp[1] = {&m};
  CHECK(tc_embed_patches(0, mp, &c0, &h0, &w0, 4, &o) == TC_ERR_USAGE);
  CHECK(tc_embed_patches(1, mp, &c0, &h0, &w0, 0, &o) == TC_ERR_USAGE);
  H5Fclose(f);
  return tc_test_report();
}
