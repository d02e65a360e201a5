/* backbone.h - the feature backbones of DESIGN 3.2 built on cnn.h from a
 * weights file (kind "weights", written by analysis/convert_torchvision.py or
 * analysis/get_default_weights.sh).
 *
 * Backbones:
 *   resnet18, wrn50  torchvision layout (state_dict names: conv1.weight,
 *                    bn1.running_mean, layer2.0.downsample.0.weight, ...);
 *                    maps: "layer1".."layer4" (outputs of each stage),
 *                    "layerL.B" (block B of stage L). Default taps
 *                    layer2,layer3; embedding = average of layer4.
 *   mobilenetv2      Keras MobileNetV2 alpha 1.0 (names Conv1.weight,
 *                    bn_Conv1.*, block_N_expand/depthwise/project[_BN].*,
 *                    Conv_1.weight, Conv_1_bn.*), TF 'same' padding (equal
 *                    to Keras' bottom/right ZeroPadding2D before its stride-2
 *                    layers). Maps carry Keras layer names: Conv1_relu,
 *                    block_N_expand_relu, block_N_depthwise_relu,
 *                    block_N_project_BN, block_N_add, out_relu. Default taps
 *                    block_5_add,block_10_project_BN; embedding = standard
 *                    deviation over positions of block_10_project_BN (96;
 *                    DESIGN 3.2 says the average of out_relu, see
 *                    DECISIONS.md "TailSampler on real photographs").
 * The global embedding is the average of the last map by default (layer4 /
 * out_relu, DESIGN 3.2); tc_backbone_load_embed picks any map(s) instead.
 * Channel counts are read from the weight shapes, so width-reduced variants
 * of the same structure load too (used by the unit tests).
 *
 * Weights file layout: one float32 dataset per tensor, named as above;
 * convolutions OIHW, depthwise [C x 1 x kh x kw]; BatchNorm as
 * NAME.weight/.bias/.running_mean/.running_var. Root attributes: backbone,
 * layout ("torchvision" | "keras"), bn_eps, source, sha256. */
#ifndef TC_BACKBONE_H
#define TC_BACKBONE_H

#include <stdint.h>

#include "cnn.h"
#include "err.h"
#include "resize.h"

#define TC_BACKBONE_MAX_TAPS 4

typedef struct {
  char name[32];      /* "resnet18", "wrn50", "mobilenetv2" */
  char layout[16];    /* "torchvision" | "keras" */
  char sha256[80];    /* sha256 attribute of the weights file (its source) */
  char source[256];   /* source attribute */
  char taps[160];     /* comma-separated tap names actually used */
  double bn_eps;
  TcNorm norm;        /* input scaling the weights expect */
  int default_dim;    /* default D of the patch embedding (DESIGN 3.2) */
  int ntaps;
  int tap_op[TC_BACKBONE_MAX_TAPS]; /* op indices in net */
  int embed_op;       /* the global-average op of the first embedding tap */
  int embed_dim;      /* E (sum of the embedding taps' channels) */
  char embed_tap[160]; /* comma-separated maps averaged into the embedding */
  int n_embed;        /* number of embedding taps (1 by default) */
  int embed_ops[TC_BACKBONE_MAX_TAPS]; /* their global-average ops */
  float *embed_buf;   /* [embed_dim] concatenation when n_embed > 1 */
  TcNet *net;
} TcBackbone;

/* Names accepted by tc_backbone_load: the names of the backbone table in
 * backbone.c (a literal for option tables; test_extractor checks that each
 * has its table entry). */
#define TC_BACKBONE_CHOICES "mobilenetv2|resnet18|wrn50"

/* Default taps of a backbone ("layer2,layer3" / "block_5_add,
 * block_10_project_BN"), NULL for an unknown name. Local. */
const char *tc_backbone_default_taps(const char *name);

/* Build backbone `name` from the weights file at path. taps: comma-separated
 * map names (NULL or "" = the default; at most TC_BACKBONE_MAX_TAPS; the
 * first one sets the feature grid). The file's backbone attribute must match
 * name. Reads the file serially (MPI_COMM_SELF: call on every rank, MPI must
 * be initialised). Local. *out is freed with tc_backbone_destroy.
 * Errors: TC_ERR_IO (missing file), TC_ERR_FORMAT (wrong kind, wrong
 * backbone, missing or mis-shaped tensor), TC_ERR_USAGE (unknown tap). */
TcErr tc_backbone_load(const char *name, const char *path, const char *taps, TcBackbone **out);

/* Default embedding tap of a backbone ("layer4": the last map of the full
 * network; "block_10_project_BN:std" for mobilenetv2), NULL for an unknown
 * name. Local. */
const char *tc_backbone_default_embed_tap(const char *name);

/* tc_backbone_load with a choice of global embedding: embed_tap = comma-
 * separated map names (at most TC_BACKBONE_MAX_TAPS; NULL or "" = the
 * default above, or the last map of a network that lacks it); NAME or
 * NAME:avg pools the map by its average over positions, NAME:std by its
 * standard deviation; the pools are concatenated in the given order (not
 * normalised per part), E = the sum of their channels. bb->embed_tap
 * records the names used (":std" kept, ":avg" dropped).
 * Errors as tc_backbone_load (TC_ERR_USAGE for an unknown map). Local. */
TcErr tc_backbone_load_embed(const char *name, const char *path, const char *taps,
                             const char *embed_tap, TcBackbone **out);

/* NULL-safe; *bb = NULL. */
void tc_backbone_destroy(TcBackbone **bb);

/* Run the network on x [3 x h x w] (preprocessed input). Afterwards:
 * taps[t] = map of tap t [c_t x h_t x w_t] and emb [embed_dim], both owned
 * by the backbone and valid until the next forward. Local. */
TcErr tc_backbone_forward(TcBackbone *bb, const float *x, int h, int w);
const float *tc_backbone_tap(const TcBackbone *bb, int t, int *c, int *h, int *w);
const float *tc_backbone_embedding(const TcBackbone *bb);

#endif
