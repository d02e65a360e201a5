/* test_embed_tap.c - the choice of global embedding (tc_backbone_load_embed,
 * `extract --embed-tap`): default = block_10_project_BN:std, or the average
 * of the last map (out_relu) in a network without block 10 (this one), any
 * named map instead, NAME:std (standard deviation over positions), a
 * comma-separated list concatenated, Keras' pre-activation BatchNorm
 * outputs (Conv_1_bn = out_relu before ReLU6), and patch taps untouched by
 * the choice. Uses a tiny MobileNetV2-layout network
 * with random weights written here (no fixture needed). */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backbone.h"
#include "check.h"
#include "h5fmt.h"

static uint64_t state_ = 12345;
static float rnd_(void) { /* uniform in (-1, 1) */
  state_ = state_ * 6364136223846793005ULL + 1442695040888963407ULL;
  return (float)((double)(state_ >> 40) / (double)(1 << 23) - 1.0);
}

static int put_(TcH5File *w, const char *name, int nd, int64_t d0, int64_t d1, int64_t d2, int64_t d3,
                int positive) {
  int64_t dims[4] = {d0, d1, d2, d3};
  size_t n = 1;
  for (int i = 0; i < nd; i++) n *= (size_t)dims[i];
  float *v = malloc(n * sizeof(float));
  for (size_t i = 0; i < n; i++) v[i] = positive ? 0.5f + 0.5f * (rnd_() + 1) : 0.5f * rnd_();
  int ok = tc_h5_create_dataset(w, name, TC_H5_F32, nd, dims, 0) == TC_OK &&
           tc_h5_write_rows(w, name, TC_H5_F32, 0, dims[0], v) == TC_OK;
  free(v);
  return ok;
}

static int conv_bn_(TcH5File *w, const char *conv, const char *bn, int64_t o, int64_t i, int64_t k) {
  char n[128];
  int ok;
  snprintf(n, sizeof n, "%s.weight", conv);
  ok = put_(w, n, 4, o, i, k, k, 0);
  const char *suf[4] = {"weight", "bias", "running_mean", "running_var"};
  for (int s = 0; ok && s < 4; s++) {
    snprintf(n, sizeof n, "%s.%s", bn, suf[s]);
    ok = put_(w, n, 1, o, 0, 0, 0, s == 0 || s == 3);
  }
  return ok;
}

/* Conv1 (8) -> expanded_conv (depthwise 8, project 4) -> block_1 (expand 12,
 * depthwise stride 2, project 6) -> Conv_1 (10) = out_relu. */
static int write_weights_(const char *path) {
  TcH5File *w = NULL;
  int ok = tc_h5_create(MPI_COMM_SELF, path, "weights", &w) == TC_OK;
  ok = ok && tc_h5_set_attr_str(w, "/", "backbone", "mobilenetv2") == TC_OK;
  ok = ok && tc_h5_set_attr_str(w, "/", "layout", "keras") == TC_OK;
  ok = ok && tc_h5_set_attr_f64(w, "/", "bn_eps", 1e-3) == TC_OK;
  ok = ok && conv_bn_(w, "Conv1", "bn_Conv1", 8, 3, 3);
  ok = ok && conv_bn_(w, "expanded_conv_depthwise", "expanded_conv_depthwise_BN", 8, 1, 3);
  ok = ok && conv_bn_(w, "expanded_conv_project", "expanded_conv_project_BN", 4, 8, 1);
  ok = ok && conv_bn_(w, "block_1_expand", "block_1_expand_BN", 12, 4, 1);
  ok = ok && conv_bn_(w, "block_1_depthwise", "block_1_depthwise_BN", 12, 1, 3);
  ok = ok && conv_bn_(w, "block_1_project", "block_1_project_BN", 6, 12, 1);
  ok = ok && conv_bn_(w, "Conv_1", "Conv_1_bn", 10, 6, 1);
  if (ok) ok = tc_h5_publish(&w) == TC_OK;
  else tc_h5_abandon(&w);
  return ok;
}

/* standard deviation over positions, computed as plainly as possible */
static void gsp_(const float *m, int c, int hw, float *out) {
  for (int k = 0; k < c; k++) {
    double a = 0, d = 0;
    for (int i = 0; i < hw; i++) a += m[(size_t)k * hw + i];
    a /= hw;
    for (int i = 0; i < hw; i++) d += (m[(size_t)k * hw + i] - a) * (m[(size_t)k * hw + i] - a);
    out[k] = (float)sqrt(d / hw);
  }
}

static void gap_(const float *m, int c, int hw, float *out) {
  for (int k = 0; k < c; k++) {
    double a = 0;
    for (int i = 0; i < hw; i++) a += m[(size_t)k * hw + i];
    out[k] = (float)(a / hw);
  }
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  char path[64];
  snprintf(path, sizeof path, "/tmp/test_embed_tap_%d.h5", (int)getpid());
  CHECK(write_weights_(path));
  enum { H = 33, W = 29 }; /* odd sizes: the stride-2 padding matters */
  float *x = malloc(3 * H * W * sizeof(float));
  for (int i = 0; i < 3 * H * W; i++) x[i] = rnd_();

  /* default: block_10_project_BN:std, which this network lacks: out_relu, E = 10 */
  TcBackbone *ref = NULL;
  CHECK(tc_backbone_load("mobilenetv2", path, "expanded_conv_project_BN,out_relu", &ref) == TC_OK);
  CHECK(ref && !strcmp(ref->embed_tap, "out_relu"));
  CHECK(ref && ref->embed_dim == 10 && ref->n_embed == 1);
  CHECK(!strcmp(tc_backbone_default_embed_tap("mobilenetv2"), "block_10_project_BN:std"));
  CHECK(!strcmp(tc_backbone_default_embed_tap("wrn50"), "layer4"));
  CHECK(tc_backbone_default_embed_tap("vgg") == NULL);
  float e_out[10], e_proj[4], s_out[10];
  int c0, h0, w0, c1, h1, w1;
  const float *proj0 = NULL, *out0 = NULL;
  float *proj_copy = NULL, *out_copy = NULL;
  if (ref && tc_backbone_forward(ref, x, H, W) == TC_OK) {
    proj0 = tc_backbone_tap(ref, 0, &c0, &h0, &w0);
    out0 = tc_backbone_tap(ref, 1, &c1, &h1, &w1);
    CHECK(c0 == 4 && c1 == 10);
    proj_copy = malloc((size_t)c0 * h0 * w0 * sizeof(float));
    out_copy = malloc((size_t)c1 * h1 * w1 * sizeof(float));
    memcpy(proj_copy, proj0, (size_t)c0 * h0 * w0 * sizeof(float));
    memcpy(out_copy, out0, (size_t)c1 * h1 * w1 * sizeof(float));
    gap_(proj0, c0, h0 * w0, e_proj);
    gap_(out0, c1, h1 * w1, e_out);
    gsp_(out0, c1, h1 * w1, s_out);
    CHECK(!memcmp(tc_backbone_embedding(ref), e_out, sizeof e_out));
  } else CHECK(0);

  /* explicit default name, another map, a list, a pre-activation map */
  struct {
    const char *embed;
    int E;
  } cases[] = {{"out_relu", 10}, {"expanded_conv_project_BN", 4}, {"expanded_conv_project_BN,out_relu", 14},
               {"Conv_1_bn", 10}, {"block_1_expand_BN,Conv_1_bn", 22}, {"out_relu:std", 10},
               {"expanded_conv_project_BN:avg", 4}, {"expanded_conv_project_BN,out_relu:std", 14}};
  for (size_t k = 0; k < sizeof cases / sizeof cases[0] && proj_copy; k++) {
    TcBackbone *bb = NULL;
    /* patch taps first the same two maps, plus Conv_1_bn when it exists */
    const char *taps = strstr(cases[k].embed, "Conv_1_bn") ? "expanded_conv_project_BN,out_relu,Conv_1_bn"
                                                           : "expanded_conv_project_BN,out_relu";
    TcErr e = tc_backbone_load_embed("mobilenetv2", path, taps, cases[k].embed, &bb);
    CHECK_MSG(e == TC_OK, "%s: %s", cases[k].embed, tc_err_message());
    if (e) continue;
    /* ":avg" is the plain average and is recorded without the suffix */
    char want[96];
    snprintf(want, sizeof want, "%s", cases[k].embed);
    char *avg = strstr(want, ":avg");
    if (avg) *avg = 0;
    CHECK_MSG(!strcmp(bb->embed_tap, want), "recorded '%s'", bb->embed_tap);
    CHECK_INT(bb->embed_dim, cases[k].E);
    CHECK(tc_backbone_forward(bb, x, H, W) == TC_OK);
    int c, h, w;
    const float *p = tc_backbone_tap(bb, 0, &c, &h, &w), *o = tc_backbone_tap(bb, 1, &c, &h, &w);
    CHECK_MSG(p && !memcmp(p, proj_copy, (size_t)c0 * h0 * w0 * sizeof(float)), "%s: patch tap changed",
              cases[k].embed);
    CHECK_MSG(o && !memcmp(o, out_copy, (size_t)c1 * h1 * w1 * sizeof(float)), "%s: out_relu changed",
              cases[k].embed);
    const float *emb = tc_backbone_embedding(bb);
    if (!strcmp(cases[k].embed, "out_relu")) CHECK(!memcmp(emb, e_out, sizeof e_out));
    if (!strcmp(want, "expanded_conv_project_BN")) CHECK(!memcmp(emb, e_proj, sizeof e_proj));
    /* the two-pass double standard deviation, same order: equal bits */
    if (!strcmp(cases[k].embed, "out_relu:std")) CHECK(!memcmp(emb, s_out, sizeof s_out));
    if (!strcmp(cases[k].embed, "expanded_conv_project_BN,out_relu:std"))
      CHECK(!memcmp(emb, e_proj, sizeof e_proj) && !memcmp(emb + 4, s_out, sizeof s_out));
    if (!strcmp(cases[k].embed, "expanded_conv_project_BN,out_relu"))
      CHECK(!memcmp(emb, e_proj, sizeof e_proj) && !memcmp(emb + 4, e_out, sizeof e_out));
    if (strstr(cases[k].embed, "Conv_1_bn")) {
      /* Conv_1_bn: the same convolution without ReLU6 */
      int cb, hb, wb;
      const float *b = tc_backbone_tap(bb, 2, &cb, &hb, &wb);
      CHECK(b && cb == 10 && hb == h1 && wb == w1);
      size_t n = (size_t)cb * hb * wb, neg = 0, bad = 0;
      for (size_t i = 0; b && i < n; i++) {
        float r = b[i] < 0 ? 0 : b[i] > 6 ? 6 : b[i];
        bad += r != out_copy[i];
        neg += b[i] < 0;
      }
      CHECK_MSG(b && bad == 0, "relu6(Conv_1_bn) != out_relu at %zu of %zu", bad, n);
      CHECK_MSG(neg > 0, "Conv_1_bn has no negative values: not the pre-activation map");
      float g[10];
      if (b) gap_(b, cb, hb * wb, g);
      CHECK(b && !memcmp(emb + bb->embed_dim - 10, g, sizeof g));
    }
    tc_backbone_destroy(&bb);
  }

  /* errors: unknown map, a pooling op, too many, empty list */
  const char *bad[] = {"nosuch", "embedding", "out_relu,nosuch", "out_relu,out_relu,out_relu,out_relu,out_relu", ",",
                       "out_relu:max", "embedding:std", "out_relu:"};
  for (size_t k = 0; k < sizeof bad / sizeof bad[0]; k++) {
    TcBackbone *bb = NULL;
    TcErr e = tc_backbone_load_embed("mobilenetv2", path, "out_relu", bad[k], &bb);
    CHECK_MSG(e == TC_ERR_USAGE && bb == NULL, "'%s' gave %d", bad[k], (int)e);
    tc_err_clear();
  }
  /* the default patch taps' names cannot reach the pooling op either */
  TcBackbone *bb = NULL;
  CHECK(tc_backbone_load_embed("mobilenetv2", path, "embedding", NULL, &bb) == TC_ERR_USAGE);
  tc_err_clear();

  tc_backbone_destroy(&ref);
  free(proj_copy);
  free(out_copy);
  free(x);
  unlink(path);
  int rc = tc_test_report();
  MPI_Finalize();
  return rc;
}
