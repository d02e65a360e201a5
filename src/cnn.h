/* cnn.h - a small CNN inference runtime for one image at a time (DESIGN 3.2).
 *
 * What it is: a list of operations (convolution with folded BatchNorm and an
 * optional ReLU/ReLU6, max pool, residual add, global average pool) run in
 * order on CHW float32 maps, keeping only the maps still needed, and stopping
 * after the last map somebody asked for. Convolutions go through OpenBLAS
 * sgemm: a 1x1 convolution is a plain sgemm on the input map (no copy), a
 * kxk one multiplies the weights [Cout x Cin*k*k] by an im2col matrix
 * [Cin*k*k x OH*OW], and depthwise convolutions are a direct loop.
 * What it is not: a general framework (no training, no batch dimension, no
 * dilation, no grouped convolution other than depthwise).
 *
 * Layout: one image, channel-major (CHW, as torch's NCHW with N = 1). Conv
 * weights are OIHW (torch), depthwise weights [C x kh x kw].
 * All functions are Local. */
#ifndef TC_CNN_H
#define TC_CNN_H

#include <stdint.h>

#include "err.h"

typedef enum { TC_ACT_NONE = 0, TC_ACT_RELU, TC_ACT_RELU6 } TcAct;

/* Padding of a convolution or pool. EXPLICIT: pad_t/l/b/r as given (torch).
 * TF_SAME: TensorFlow's 'same' computed from the input size at run time,
 * total = max((ceil(in/s)-1)*s + k - in, 0), before = total/2, rest after.
 * For Keras MobileNetV2's stride-2 layers this equals its
 * ZeroPadding2D(correct_pad) + 'valid' (bottom/right only on even inputs). */
typedef enum { TC_PAD_EXPLICIT = 0, TC_PAD_TF_SAME } TcPadMode;

typedef enum { TC_OP_CONV = 0, TC_OP_DWCONV, TC_OP_MAXPOOL, TC_OP_ADD, TC_OP_GAP, TC_OP_GSP } TcOpKind;

/* One operation. Inputs are indices of earlier operations, -1 = the image. */
typedef struct {
  TcOpKind kind;
  char name[64]; /* the map's name, e.g. "layer2" or "block_5_add" */
  int in0, in1;  /* in1 only for ADD */
  int cin, cout; /* channels in/out (DWCONV, MAXPOOL: equal) */
  int kh, kw, stride;
  TcPadMode pad_mode;
  int pad_t, pad_l, pad_b, pad_r; /* EXPLICIT only */
  TcAct act;                      /* applied after conv / add */
  float *w; /* CONV [cout x cin x kh x kw], DWCONV [cout x kh x kw]; owned */
  float *b; /* [cout], folded BatchNorm shift (zeros when none); owned */
} TcOp;

typedef struct TcNet TcNet;

/* An empty network taking a cin-channel image. Free with tc_net_destroy. */
TcErr tc_net_create(int cin, TcNet **out);
/* Free the network, its weights and buffers. NULL-safe; *net = NULL. */
void tc_net_destroy(TcNet **net);

/* Append a convolution. w [cout x cin x kh x kw] (depthwise: [cout x kh x kw]
 * with cin = cout) and b [cout] (NULL = zeros) are copied. in = index of the
 * input op (-1 image). Returns the new op's index in *idx. */
TcErr tc_net_add_conv(TcNet *net, const char *name, int in, int cin, int cout, int kh, int kw,
                      int stride, TcPadMode mode, int pad, int depthwise, const float *w,
                      const float *b, TcAct act, int *idx);
/* Explicit, possibly asymmetric padding of conv/pool op idx (Keras'
 * ZeroPadding2D((0,1),(0,1)) before a 'valid' stride-2 layer is t=l=0,
 * b=r=1). */
TcErr tc_net_set_padding(TcNet *net, int idx, int t, int l, int b, int r);
/* Max pool k x k, stride s, symmetric padding pad (padding never wins). */
TcErr tc_net_add_maxpool(TcNet *net, const char *name, int in, int k, int stride, int pad,
                         int *idx);
/* Elementwise a + b, then act. */
TcErr tc_net_add_add(TcNet *net, const char *name, int a, int b, TcAct act, int *idx);
/* Global average pool: [C x h x w] -> [C x 1 x 1]. */
TcErr tc_net_add_gap(TcNet *net, const char *name, int in, int *idx);
/* Global standard-deviation pool: [C x h x w] -> [C x 1 x 1], per channel
 * sqrt(mean over positions of (x - mean)^2), two passes in double. */
TcErr tc_net_add_gsp(TcNet *net, const char *name, int in, int *idx);

/* Fold inference BatchNorm into the last op (a conv): y = gamma*(x-mean)/
 * sqrt(var+eps) + beta, computed in double. Each of gamma, beta, mean, var
 * is [cout]. */
TcErr tc_net_fold_bn(TcNet *net, int idx, const float *gamma, const float *beta,
                     const float *mean, const float *var, double eps);

/* Index of the op called name, or -1. */
int tc_net_find(const TcNet *net, const char *name);
int tc_net_count(const TcNet *net);
const TcOp *tc_net_op(const TcNet *net, int idx);

/* Ask forward to keep op idx's output (a tap); forward stops after the
 * highest requested op. tc_net_clear_requests forgets all requests. */
TcErr tc_net_request(TcNet *net, int idx);
void tc_net_clear_requests(TcNet *net);

/* Run the network on x [cin x h x w] (input). Afterwards each requested op's
 * map is available through tc_net_output until the next forward. Buffers are
 * kept and reused between calls (one image size -> no allocation after the
 * first image). Errors: TC_ERR_USAGE (no request, map shrinks to nothing),
 * TC_ERR_MEM. */
TcErr tc_net_forward(TcNet *net, const float *x, int h, int w);

/* The map of requested op idx after forward: [*c x *h x *w], owned by the
 * net (do not free). NULL when idx was not requested/computed. */
const float *tc_net_output(const TcNet *net, int idx, int *c, int *h, int *w);

/* ---- single layers, exposed for tests and for callers with their own
 * buffers. All Local; outputs caller-allocated. ---- */

/* Output size and padding of a conv/pool along one axis. */
void tc_cnn_out_size(int in, int k, int stride, TcPadMode mode, int pad_before, int pad_after,
                     int *out, int *before);

/* Convolution of x [cin x h x w] into y [cout x oh x ow] with weights/bias as
 * in TcOp (op->kind CONV or DWCONV). work: scratch of at least
 * tc_cnn_conv_work(op, h, w) floats (may be NULL when that is 0). */
size_t tc_cnn_conv_work(const TcOp *op, int h, int w);
void tc_cnn_conv(const TcOp *op, const float *x, int h, int w, float *y, int oh, int ow,
                 int pt, int pl, float *work);

#endif
