/* backbone.c - resnet18 / wrn50 (torchvision) and Keras MobileNetV2 built on
 * the cnn.h runtime from our weights file (DESIGN 3.2). BatchNorm is folded
 * into each convolution while loading. */
#include "backbone.h"

#include <float.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "h5fmt.h"

typedef struct {
  TcH5File *f;
  TcNet *net;
  double eps;
} Loader;

static int has_(Loader *L, const char *name) { return tc_h5_exists(L->f, name); }

/* Read tensor `name` (float32) with ndims dims; dims[i] < 0 accepts any
 * extent and reports it back. Returns malloc'd data. */
static TcErr read_(Loader *L, const char *name, int ndims, int64_t *dims, float **out) {
  *out = NULL;
  int nd;
  int64_t d[4];
  TC_CALL(tc_h5_dims(L->f, name, &nd, d));
  int ok = nd == ndims;
  for (int i = 0; ok && i < ndims; i++) ok = dims[i] < 0 || dims[i] == d[i];
  if (!ok) {
    char want[96] = "", have[96] = "";
    for (int i = 0; i < ndims; i++) {
      char t[24];
      snprintf(t, sizeof t, "%s%lld", i ? "x" : "", (long long)dims[i]);
      strncat(want, t, sizeof want - strlen(want) - 1);
    }
    for (int i = 0; i < nd; i++) {
      char t[24];
      snprintf(t, sizeof t, "%s%lld", i ? "x" : "", (long long)d[i]);
      strncat(have, t, sizeof have - strlen(have) - 1);
    }
    return tc_err_set(TC_ERR_FORMAT, "%s: tensor %s has shape [%s], expected [%s] (-1 = any)",
                      tc_h5_path(L->f), name, have, want);
  }
  size_t n = 1;
  for (int i = 0; i < nd; i++) {
    dims[i] = d[i];
    n *= (size_t)d[i];
  }
  float *buf = tc_malloc((n ? n : 1) * sizeof(float), name);
  if (!buf) return TC_ERR_MEM;
  TcErr err = tc_h5_read_rows(L->f, name, TC_H5_F32, 0, d[0], buf);
  int64_t bad = err ? -1 : tc_first_bad_f32(buf, (int64_t)n, FLT_MAX);
  if (bad >= 0)
    err = tc_err_set(TC_ERR_FORMAT, "%s: tensor %s holds %s at element %lld", tc_h5_path(L->f), name,
                     tc_value_str(buf[bad]), (long long)bad);
  if (err) {
    free(buf);
    return err;
  }
  *out = buf;
  return TC_OK;
}

/* Convolution `conv` (+ BatchNorm `bn` folded in, when bn != NULL) reading
 * op `in`; cin = in's channels; cout, kh, kw come from the weights. */
static TcErr conv_bn_(Loader *L, const char *opname, const char *conv, const char *bn, int in,
                      int stride, TcPadMode mode, int pad, int depthwise, TcAct act, int *idx) {
  char name[160];
  int cin = in < 0 ? 3 : tc_net_op(L->net, in)->cout;
  int64_t d[4] = {-1, depthwise ? 1 : cin, -1, -1};
  float *w = NULL, *bias = NULL, *p[4] = {NULL, NULL, NULL, NULL};
  TcErr err = TC_OK;
  snprintf(name, sizeof name, "%s.weight", conv);
  TC_CALL_GOTO(err, read_(L, name, 4, d, &w), cleanup);
  if (depthwise && d[0] != cin) {
    err = tc_err_set(TC_ERR_FORMAT, "%s: depthwise %s has %lld channels, its input %d",
                     tc_h5_path(L->f), conv, (long long)d[0], cin);
    goto cleanup;
  }
  snprintf(name, sizeof name, "%s.bias", conv);
  if (has_(L, name)) {
    int64_t bd[1] = {d[0]};
    TC_CALL_GOTO(err, read_(L, name, 1, bd, &bias), cleanup);
  }
  TC_CALL_GOTO(err, tc_net_add_conv(L->net, opname, in, cin, (int)d[0], (int)d[2], (int)d[3],
                                    stride, mode, pad, depthwise, w, bias, act, idx),
               cleanup);
  if (bn) {
    const char *suffix[4] = {"weight", "bias", "running_mean", "running_var"};
    for (int k = 0; k < 4; k++) {
      int64_t bd[1] = {d[0]};
      snprintf(name, sizeof name, "%s.%s", bn, suffix[k]);
      TC_CALL_GOTO(err, read_(L, name, 1, bd, &p[k]), cleanup);
    }
    TC_CALL_GOTO(err, tc_net_fold_bn(L->net, *idx, p[0], p[1], p[2], p[3], L->eps), cleanup);
  }
cleanup:
  free(w);
  free(bias);
  for (int k = 0; k < 4; k++) free(p[k]);
  return err;
}

/* torchvision ResNet: BasicBlock (resnet18) or Bottleneck (wrn50), told
 * apart by the presence of conv3 in each block. */
static TcErr build_resnet_(Loader *L) {
  int x;
  TC_CALL(conv_bn_(L, "relu", "conv1", "bn1", -1, 2, TC_PAD_EXPLICIT, 3, 0, TC_ACT_RELU, &x));
  TC_CALL(tc_net_add_maxpool(L->net, "maxpool", x, 3, 2, 1, &x));
  for (int l = 1; l <= 4; l++) {
    char p[64], c[96], b[96], name[96], probe[128];
    snprintf(probe, sizeof probe, "layer%d.0.conv1.weight", l);
    TC_CHECK(has_(L, probe), TC_ERR_FORMAT, "%s: missing tensor %s (not a torchvision ResNet?)",
             tc_h5_path(L->f), probe);
    for (int blk = 0;; blk++) {
      snprintf(p, sizeof p, "layer%d.%d", l, blk);
      snprintf(probe, sizeof probe, "%s.conv1.weight", p);
      if (!has_(L, probe)) break;
      snprintf(probe, sizeof probe, "layer%d.%d.conv1.weight", l, blk + 1);
      int last = !has_(L, probe);
      int stride = (blk == 0 && l > 1) ? 2 : 1;
      snprintf(probe, sizeof probe, "%s.conv3.weight", p);
      int bottleneck = has_(L, probe);
      int in = x, y;
      if (bottleneck) {
        snprintf(c, sizeof c, "%s.conv1", p), snprintf(b, sizeof b, "%s.bn1", p);
        TC_CALL(conv_bn_(L, c, c, b, in, 1, TC_PAD_EXPLICIT, 0, 0, TC_ACT_RELU, &y));
        snprintf(c, sizeof c, "%s.conv2", p), snprintf(b, sizeof b, "%s.bn2", p);
        TC_CALL(conv_bn_(L, c, c, b, y, stride, TC_PAD_EXPLICIT, 1, 0, TC_ACT_RELU, &y));
        snprintf(c, sizeof c, "%s.conv3", p), snprintf(b, sizeof b, "%s.bn3", p);
        TC_CALL(conv_bn_(L, c, c, b, y, 1, TC_PAD_EXPLICIT, 0, 0, TC_ACT_NONE, &y));
      } else {
        snprintf(c, sizeof c, "%s.conv1", p), snprintf(b, sizeof b, "%s.bn1", p);
        TC_CALL(conv_bn_(L, c, c, b, in, stride, TC_PAD_EXPLICIT, 1, 0, TC_ACT_RELU, &y));
        snprintf(c, sizeof c, "%s.conv2", p), snprintf(b, sizeof b, "%s.bn2", p);
        TC_CALL(conv_bn_(L, c, c, b, y, 1, TC_PAD_EXPLICIT, 1, 0, TC_ACT_NONE, &y));
      }
      int id = in;
      snprintf(probe, sizeof probe, "%s.downsample.0.weight", p);
      if (has_(L, probe)) {
        snprintf(c, sizeof c, "%s.downsample.0", p), snprintf(b, sizeof b, "%s.downsample.1", p);
        TC_CALL(conv_bn_(L, c, c, b, in, stride, TC_PAD_EXPLICIT, 0, 0, TC_ACT_NONE, &id));
      }
      if (last) snprintf(name, sizeof name, "layer%d", l);
      else snprintf(name, sizeof name, "%s", p);
      TC_CALL(tc_net_add_add(L->net, name, y, id, TC_ACT_RELU, &x));
      if (last) break;
    }
  }
  return TC_OK;
}

/* Keras MobileNetV2 (alpha 1.0): stride of each inverted residual block;
 * a block adds its input when stride 1 and channels are unchanged. */
static TcErr build_mobilenetv2_(Loader *L) {
  static const int stride2[] = {1, 3, 6, 13};
  int x;
  TC_CALL(conv_bn_(L, "Conv1_relu", "Conv1", "bn_Conv1", -1, 2, TC_PAD_TF_SAME, 0, 0, TC_ACT_RELU6,
                   &x));
  /* Keras' Conv1_pad / block_N_pad: ZeroPadding2D((0,1),(0,1)) then 'valid',
   * fixed whatever the input size (TF 'same' would pad both sides of odd
   * inputs); symmetric padding would shift every feature by a pixel */
  TC_CALL(tc_net_set_padding(L->net, x, 0, 0, 1, 1));
  TC_CALL(conv_bn_(L, "expanded_conv_depthwise_relu", "expanded_conv_depthwise",
                   "expanded_conv_depthwise_BN", x, 1, TC_PAD_TF_SAME, 0, 1, TC_ACT_RELU6, &x));
  TC_CALL(conv_bn_(L, "expanded_conv_project_BN", "expanded_conv_project",
                   "expanded_conv_project_BN", x, 1, TC_PAD_TF_SAME, 0, 0, TC_ACT_NONE, &x));
  for (int blk = 1; blk <= 16; blk++) {
    char p[32], c[64], b[64], o[64], probe[96];
    snprintf(p, sizeof p, "block_%d", blk);
    snprintf(probe, sizeof probe, "%s_project.weight", p);
    if (!has_(L, probe)) break;
    int stride = 1;
    for (size_t k = 0; k < sizeof stride2 / sizeof stride2[0]; k++)
      if (stride2[k] == blk) stride = 2;
    int in = x, y;
    snprintf(c, sizeof c, "%s_expand", p), snprintf(b, sizeof b, "%s_expand_BN", p);
    snprintf(o, sizeof o, "%s_expand_relu", p);
    TC_CALL(conv_bn_(L, o, c, b, in, 1, TC_PAD_TF_SAME, 0, 0, TC_ACT_RELU6, &y));
    snprintf(c, sizeof c, "%s_depthwise", p), snprintf(b, sizeof b, "%s_depthwise_BN", p);
    snprintf(o, sizeof o, "%s_depthwise_relu", p);
    TC_CALL(conv_bn_(L, o, c, b, y, stride, TC_PAD_TF_SAME, 0, 1, TC_ACT_RELU6, &y));
    if (stride == 2) TC_CALL(tc_net_set_padding(L->net, y, 0, 0, 1, 1));
    snprintf(c, sizeof c, "%s_project", p), snprintf(b, sizeof b, "%s_project_BN", p);
    TC_CALL(conv_bn_(L, b, c, b, y, 1, TC_PAD_TF_SAME, 0, 0, TC_ACT_NONE, &y));
    if (stride == 1 && tc_net_op(L->net, y)->cout == tc_net_op(L->net, in)->cout) {
      snprintf(o, sizeof o, "%s_add", p);
      TC_CALL(tc_net_add_add(L->net, o, in, y, TC_ACT_NONE, &y));
    }
    x = y;
  }
  if (has_(L, "Conv_1.weight"))
    TC_CALL(conv_bn_(L, "out_relu", "Conv_1", "Conv_1_bn", x, 1, TC_PAD_TF_SAME, 0, 0,
                     TC_ACT_RELU6, &x));
  return TC_OK;
}

/* Everything that depends on which backbone it is: adding one is adding an
 * entry here (and its name to TC_BACKBONE_CHOICES). */
typedef struct {
  const char *name;
  const char *layout;            /* the weights file's layout attribute */
  TcNorm norm;                   /* input scaling the weights expect */
  int default_dim;               /* D of DESIGN 3.2 */
  const char *default_taps;      /* patch feature maps */
  const char *default_embed_tap; /* maps pooled into the global embedding */
  TcErr (*build)(Loader *L);
} BackboneSpec;

static const BackboneSpec backbones_[] = {
    /* D = 2 x 288 keeps every value distinct (see embed.h). The embedding is
     * not DESIGN 3.2's out_relu: blocks 11-16 of the nsfwjs weights are
     * fine-tuned for NSFW classes and their averages merge product classes;
     * the spatial standard deviation of the last frozen ImageNet map keeps
     * them apart (measured on real photographs: DECISIONS.md) */
    {"mobilenetv2", "keras", TC_NORM_KERAS, 576, "block_5_add,block_10_project_BN", "block_10_project_BN:std",
     build_mobilenetv2_},
    {"resnet18", "torchvision", TC_NORM_IMAGENET, 1024, "layer2,layer3", "layer4", build_resnet_},
    {"wrn50", "torchvision", TC_NORM_IMAGENET, 1024, "layer2,layer3", "layer4", build_resnet_},
};

static const BackboneSpec *spec_of_(const char *name) {
  for (size_t k = 0; k < sizeof backbones_ / sizeof backbones_[0]; k++)
    if (!strcmp(name, backbones_[k].name)) return &backbones_[k];
  return NULL;
}

const char *tc_backbone_default_taps(const char *name) {
  const BackboneSpec *spec = spec_of_(name);
  return spec ? spec->default_taps : NULL;
}

const char *tc_backbone_default_embed_tap(const char *name) {
  const BackboneSpec *spec = spec_of_(name);
  return spec ? spec->default_embed_tap : NULL;
}

TcErr tc_backbone_load(const char *name, const char *path, const char *taps, TcBackbone **out) {
  return tc_backbone_load_embed(name, path, taps, NULL, out);
}

/* Keras' name of the BatchNorm output before a folded activation (e.g.
 * Conv_1_bn before out_relu, block_N_expand_BN before block_N_expand_relu):
 * the op index of the activated convolution, or -1. */
static int preact_of_(const TcNet *net, const char *name) {
  char act[96];
  size_t l = strlen(name);
  if (!strcmp(name, "Conv_1_bn")) snprintf(act, sizeof act, "out_relu");
  else if (!strcmp(name, "bn_Conv1")) snprintf(act, sizeof act, "Conv1_relu");
  else if (l > 3 && l < 80 && !strcmp(name + l - 3, "_BN"))
    snprintf(act, sizeof act, "%.*s_relu", (int)(l - 3), name);
  else return -1;
  int idx = tc_net_find(net, act);
  if (idx < 0) return -1;
  const TcOp *o = tc_net_op(net, idx);
  return (o->kind == TC_OP_CONV || o->kind == TC_OP_DWCONV) && o->act != TC_ACT_NONE ? idx : -1;
}

/* A map by name; a BatchNorm output that only exists before a folded
 * activation is added as a copy of the convolution without it. */
static TcErr find_map_(TcBackbone *bb, const char *name, int *idx) {
  *idx = tc_net_find(bb->net, name);
  if (*idx >= 0) return TC_OK;
  int a = preact_of_(bb->net, name);
  if (a < 0) return TC_OK;
  const TcOp o = *tc_net_op(bb->net, a); /* copy: adding ops may move the array */
  int dw = o.kind == TC_OP_DWCONV;
  TC_CALL(tc_net_add_conv(bb->net, name, o.in0, o.cin, o.cout, o.kh, o.kw, o.stride, o.pad_mode,
                          o.pad_t, dw, o.w, o.b, TC_ACT_NONE, idx));
  if (o.pad_mode == TC_PAD_EXPLICIT)
    TC_CALL(tc_net_set_padding(bb->net, *idx, o.pad_t, o.pad_l, o.pad_b, o.pad_r));
  return TC_OK;
}

/* Add the global pool of each map in the comma-separated list (NULL/"" =
 * the backbone's default) as the embedding: NAME or NAME:avg is the
 * average over positions, NAME:std the standard deviation. */
static TcErr add_embedding_(TcBackbone *bb, const char *embed_tap) {
  const char *def = tc_backbone_default_embed_tap(bb->name);
  char defmap[96] = "";
  if (def) snprintf(defmap, sizeof defmap, "%.*s", (int)strcspn(def, ":"), def);
  /* a truncated network (width- and depth-reduced test weights) may lack
   * the default map: then the average of its last map, DESIGN 3.2's rule */
  if (!def || (tc_net_find(bb->net, defmap) < 0 && preact_of_(bb->net, defmap) < 0))
    def = tc_net_op(bb->net, tc_net_count(bb->net) - 1)->name;
  char buf[256];
  snprintf(buf, sizeof buf, "%s", embed_tap && embed_tap[0] ? embed_tap : def);
  TC_CHECK(!embed_tap || strlen(embed_tap) < sizeof buf, TC_ERR_USAGE, "embedding tap list too long: '%s'",
           embed_tap);
  int src[TC_BACKBONE_MAX_TAPS], is_std[TC_BACKBONE_MAX_TAPS];
  bb->n_embed = 0;
  bb->embed_dim = 0;
  bb->embed_tap[0] = 0;
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    TC_CHECK(bb->n_embed < TC_BACKBONE_MAX_TAPS, TC_ERR_USAGE, "at most %d embedding taps (got '%s')",
             TC_BACKBONE_MAX_TAPS, embed_tap);
    char *colon = strchr(t, ':');
    int sd = 0;
    if (colon) {
      TC_CHECK(!strcmp(colon + 1, "std") || !strcmp(colon + 1, "avg"), TC_ERR_USAGE,
               "embedding tap '%s': the pooling after ':' is avg or std", t);
      sd = !strcmp(colon + 1, "std");
      *colon = 0;
    }
    int idx;
    TC_CALL(find_map_(bb, t, &idx));
    TC_CHECK(idx >= 0 && tc_net_op(bb->net, idx)->kind != TC_OP_GAP &&
                 tc_net_op(bb->net, idx)->kind != TC_OP_GSP,
             TC_ERR_USAGE, "backbone %s has no map called '%s' (embedding tap; default %s)", bb->name, t,
             def);
    is_std[bb->n_embed] = sd;
    src[bb->n_embed++] = idx;
    bb->embed_dim += tc_net_op(bb->net, idx)->cout;
    if (bb->embed_tap[0]) strncat(bb->embed_tap, ",", sizeof bb->embed_tap - strlen(bb->embed_tap) - 1);
    strncat(bb->embed_tap, t, sizeof bb->embed_tap - strlen(bb->embed_tap) - 1);
    /* the record names the pooling only when it is not the average, so
     * files written before std pooling existed read the same */
    if (sd) strncat(bb->embed_tap, ":std", sizeof bb->embed_tap - strlen(bb->embed_tap) - 1);
  }
  TC_CHECK(bb->n_embed > 0, TC_ERR_USAGE, "no embedding tap given");
  /* the pooling ops come after every map, so the patch taps never name them */
  for (int k = 0; k < bb->n_embed; k++) {
    char opname[64];
    if (k == 0) snprintf(opname, sizeof opname, "embedding");
    else snprintf(opname, sizeof opname, "embedding%d", k);
    if (is_std[k]) TC_CALL(tc_net_add_gsp(bb->net, opname, src[k], &bb->embed_ops[k]));
    else TC_CALL(tc_net_add_gap(bb->net, opname, src[k], &bb->embed_ops[k]));
    TC_CALL(tc_net_request(bb->net, bb->embed_ops[k]));
  }
  bb->embed_op = bb->embed_ops[0];
  if (bb->n_embed > 1) {
    bb->embed_buf = tc_malloc((size_t)bb->embed_dim * sizeof(float), "embedding");
    if (!bb->embed_buf) return TC_ERR_MEM;
  }
  return TC_OK;
}

/* The root attributes of the weights file: it must be for this backbone;
 * the rest is recorded in bb. */
static TcErr read_attrs_(TcH5File *f, const char *path, const char *name, TcBackbone *bb) {
  char attr[64];
  TC_CALL(tc_h5_get_attr_str(f, "/", "backbone", attr, sizeof attr));
  TC_CHECK(!strcmp(attr, name), TC_ERR_FORMAT, "%s: weights are for backbone '%s', not '%s'", path, attr, name);
  TC_CALL(tc_h5_get_attr_str(f, "/", "layout", bb->layout, sizeof bb->layout));
  /* 0 would divide a zero running variance by zero */
  TC_CALL(tc_h5_get_attr_f64_range(f, "/", "bn_eps", 1e-12, 1.0, &bb->bn_eps));
  if (tc_h5_has_attr(f, "/", "sha256")) TC_CALL(tc_h5_get_attr_str(f, "/", "sha256", bb->sha256, sizeof bb->sha256));
  if (tc_h5_has_attr(f, "/", "source")) {
    /* informational: a long source is shortened, not refused */
    char src[4096];
    TC_CALL(tc_h5_get_attr_str(f, "/", "source", src, sizeof src));
    snprintf(bb->source, sizeof bb->source, "%.*s", (int)sizeof bb->source - 1, src);
  }
  return TC_OK;
}

/* Request the comma-separated patch maps taps (deftaps named in the
 * message for an unknown one). */
static TcErr add_taps_(TcBackbone *bb, const char *taps, const char *deftaps) {
  char buf[256];
  snprintf(buf, sizeof buf, "%s", taps);
  bb->taps[0] = 0;
  for (char *save = NULL, *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
    TC_CHECK(bb->ntaps < TC_BACKBONE_MAX_TAPS, TC_ERR_USAGE, "at most %d taps (got '%s')", TC_BACKBONE_MAX_TAPS,
             taps);
    int idx = tc_net_find(bb->net, t);
    TC_CHECK(idx >= 0 && tc_net_op(bb->net, idx)->kind != TC_OP_GAP && tc_net_op(bb->net, idx)->kind != TC_OP_GSP,
             TC_ERR_USAGE, "backbone %s has no map called '%s' (defaults: %s)", bb->name, t, deftaps);
    bb->tap_op[bb->ntaps++] = idx;
    TC_CALL(tc_net_request(bb->net, idx));
    if (bb->taps[0]) strncat(bb->taps, ",", sizeof bb->taps - strlen(bb->taps) - 1);
    strncat(bb->taps, t, sizeof bb->taps - strlen(bb->taps) - 1);
  }
  TC_CHECK(bb->ntaps > 0, TC_ERR_USAGE, "no taps given");
  return TC_OK;
}

TcErr tc_backbone_load_embed(const char *name, const char *path, const char *taps,
                             const char *embed_tap, TcBackbone **out) {
  *out = NULL;
  const BackboneSpec *spec = spec_of_(name);
  TC_CHECK(spec, TC_ERR_USAGE, "unknown backbone '%s' (choose %s)", name, TC_BACKBONE_CHOICES);
  if (!taps || !taps[0]) taps = spec->default_taps;
  TcErr err = TC_OK;
  TcBackbone *bb = tc_calloc(1, sizeof *bb, "backbone");
  if (!bb) return TC_ERR_MEM;
  Loader L = {0};
  snprintf(bb->name, sizeof bb->name, "%s", name);
  TC_CALL_GOTO(err, tc_h5_open_local(path, "weights", &L.f), cleanup);
  TC_CALL_GOTO(err, read_attrs_(L.f, path, name, bb), cleanup);
  L.eps = bb->bn_eps;
  TC_CALL_GOTO(err, tc_net_create(3, &L.net), cleanup);
  bb->net = L.net;
  TC_CHECK_GOTO(err, !strcmp(bb->layout, spec->layout), TC_ERR_FORMAT, cleanup,
                "%s: %s needs layout '%s', file says '%s'", path, name, spec->layout, bb->layout);
  bb->norm = spec->norm;
  bb->default_dim = spec->default_dim;
  TC_CALL_GOTO(err, spec->build(&L), cleanup);
  /* embedding: global average of the last map, or of the maps asked for */
  TC_CALL_GOTO(err, add_embedding_(bb, embed_tap), cleanup);
  TC_CALL_GOTO(err, add_taps_(bb, taps, spec->default_taps), cleanup);
cleanup:
  tc_h5_close(&L.f);
  if (err) tc_backbone_destroy(&bb);
  *out = bb;
  return err;
}

void tc_backbone_destroy(TcBackbone **bb) {
  if (!bb || !*bb) return;
  tc_net_destroy(&(*bb)->net);
  free((*bb)->embed_buf);
  free(*bb);
  *bb = NULL;
}

TcErr tc_backbone_forward(TcBackbone *bb, const float *x, int h, int w) {
  TC_CALL(tc_net_forward(bb->net, x, h, w));
  if (bb->n_embed > 1) {
    int o = 0;
    for (int k = 0; k < bb->n_embed; k++) {
      int c;
      const float *e = tc_net_output(bb->net, bb->embed_ops[k], &c, NULL, NULL);
      TC_CHECK(e, TC_ERR_INTERNAL, "embedding map %d not computed", k);
      memcpy(bb->embed_buf + o, e, (size_t)c * sizeof(float));
      o += c;
    }
  }
  return TC_OK;
}

const float *tc_backbone_tap(const TcBackbone *bb, int t, int *c, int *h, int *w) {
  if (t < 0 || t >= bb->ntaps) return NULL;
  return tc_net_output(bb->net, bb->tap_op[t], c, h, w);
}

const float *tc_backbone_embedding(const TcBackbone *bb) {
  if (bb->n_embed > 1) return bb->embed_buf;
  return tc_net_output(bb->net, bb->embed_op, NULL, NULL, NULL);
}
