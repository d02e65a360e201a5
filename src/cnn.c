/* cnn.c - the CNN runtime of cnn.h: sgemm convolutions, depthwise loops,
 * pools, and a forward pass that keeps only live maps (DESIGN 3.2). */
#include "cnn.h"

#include <cblas.h>
#include <float.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
  float *p;
  size_t cap; /* floats */
  int in_use;
} TcBuf;

struct TcNet {
  int cin;
  int nops, capops;
  TcOp *ops;
  int *requested; /* [capops] */
  /* per op, filled by forward */
  int *oc, *oh, *ow, *buf; /* buf: index into bufs, -1 none */
  int *last_use;
  int computed_upto; /* highest op computed by the last forward, -1 none */
  TcBuf *bufs;
  int nbufs;
  float *work;
  size_t work_cap;
};

TcErr tc_net_create(int cin, TcNet **out) {
  *out = NULL;
  TC_CHECK(cin > 0, TC_ERR_USAGE, "network input channels must be positive (got %d)", cin);
  TcNet *n = tc_calloc(1, sizeof *n, "network");
  if (!n) return TC_ERR_MEM;
  n->cin = cin;
  n->computed_upto = -1;
  *out = n;
  return TC_OK;
}

void tc_net_destroy(TcNet **net) {
  if (!net || !*net) return;
  TcNet *n = *net;
  for (int i = 0; i < n->nops; i++) {
    free(n->ops[i].w);
    free(n->ops[i].b);
  }
  for (int i = 0; i < n->nbufs; i++) free(n->bufs[i].p);
  free(n->bufs);
  free(n->ops);
  free(n->requested);
  free(n->oc);
  free(n->oh);
  free(n->ow);
  free(n->buf);
  free(n->last_use);
  free(n->work);
  free(n);
  *net = NULL;
}

static TcErr grow_(TcNet *n) {
  if (n->nops < n->capops) return TC_OK;
  int cap = n->capops ? 2 * n->capops : 64;
  TcOp *ops = realloc(n->ops, (size_t)cap * sizeof *ops);
  if (!ops) return tc_err_set(TC_ERR_MEM, "out of memory growing the network");
  n->ops = ops;
  int **arrs[] = {&n->requested, &n->oc, &n->oh, &n->ow, &n->buf, &n->last_use};
  for (size_t k = 0; k < sizeof arrs / sizeof arrs[0]; k++) {
    int *a = realloc(*arrs[k], (size_t)cap * sizeof(int));
    if (!a) return tc_err_set(TC_ERR_MEM, "out of memory growing the network");
    *arrs[k] = a;
  }
  for (int i = n->capops; i < cap; i++) n->requested[i] = 0;
  n->capops = cap;
  return TC_OK;
}

/* channels of the map produced by op idx (-1: the image) */
static int channels_(const TcNet *n, int idx) { return idx < 0 ? n->cin : n->ops[idx].cout; }

static TcErr new_op_(TcNet *n, TcOpKind kind, const char *name, int in0, TcOp **op, int *idx) {
  TC_CHECK(in0 >= -1 && in0 < n->nops, TC_ERR_INTERNAL, "op %s: bad input index %d", name, in0);
  TC_CALL(grow_(n));
  TcOp *o = &n->ops[n->nops];
  memset(o, 0, sizeof *o);
  o->kind = kind;
  snprintf(o->name, sizeof o->name, "%s", name);
  o->in0 = in0;
  o->in1 = -1;
  o->cin = o->cout = channels_(n, in0);
  o->kh = o->kw = o->stride = 1;
  *op = o;
  if (idx) *idx = n->nops;
  n->nops++;
  return TC_OK;
}

TcErr tc_net_add_conv(TcNet *net, const char *name, int in, int cin, int cout, int kh, int kw,
                      int stride, TcPadMode mode, int pad, int depthwise, const float *w,
                      const float *b, TcAct act, int *idx) {
  TC_CHECK(in >= -1 && in < net->nops && channels_(net, in) == cin, TC_ERR_FORMAT,
           "conv %s: expects %d input channels, its input has %d", name, cin,
           in >= -1 && in < net->nops ? channels_(net, in) : -1);
  TC_CHECK(cout > 0 && kh > 0 && kw > 0 && stride > 0 && pad >= 0, TC_ERR_FORMAT,
           "conv %s: bad shape", name);
  TC_CHECK(!depthwise || cin == cout, TC_ERR_FORMAT, "depthwise conv %s: cin %d != cout %d", name,
           cin, cout);
  size_t nw = (size_t)cout * (depthwise ? 1 : (size_t)cin) * kh * kw;
  float *wc = tc_malloc(nw * sizeof(float), "conv weights");
  float *bc = tc_calloc((size_t)cout, sizeof(float), "conv bias");
  if (!wc || !bc) {
    free(wc);
    free(bc);
    return TC_ERR_MEM;
  }
  memcpy(wc, w, nw * sizeof(float));
  if (b) memcpy(bc, b, (size_t)cout * sizeof(float));
  TcOp *o;
  TcErr err = new_op_(net, depthwise ? TC_OP_DWCONV : TC_OP_CONV, name, in, &o, idx);
  if (err) {
    free(wc);
    free(bc);
    return err;
  }
  o->cin = cin;
  o->cout = cout;
  o->kh = kh;
  o->kw = kw;
  o->stride = stride;
  o->pad_mode = mode;
  o->pad_t = o->pad_l = o->pad_b = o->pad_r = pad;
  o->act = act;
  o->w = wc;
  o->b = bc;
  return TC_OK;
}

TcErr tc_net_set_padding(TcNet *net, int idx, int t, int l, int b, int r) {
  TC_CHECK(idx >= 0 && idx < net->nops && t >= 0 && l >= 0 && b >= 0 && r >= 0, TC_ERR_INTERNAL,
           "set_padding: bad op %d or padding", idx);
  TcOp *o = &net->ops[idx];
  o->pad_mode = TC_PAD_EXPLICIT;
  o->pad_t = t, o->pad_l = l, o->pad_b = b, o->pad_r = r;
  return TC_OK;
}

TcErr tc_net_add_maxpool(TcNet *net, const char *name, int in, int k, int stride, int pad,
                         int *idx) {
  TC_CHECK(k > 0 && stride > 0 && pad >= 0 && 2 * pad <= k, TC_ERR_FORMAT, "maxpool %s: bad shape",
           name);
  TcOp *o;
  TC_CALL(new_op_(net, TC_OP_MAXPOOL, name, in, &o, idx));
  o->kh = o->kw = k;
  o->stride = stride;
  o->pad_t = o->pad_l = o->pad_b = o->pad_r = pad;
  return TC_OK;
}

TcErr tc_net_add_add(TcNet *net, const char *name, int a, int b, TcAct act, int *idx) {
  TC_CHECK(b >= -1 && b < net->nops && channels_(net, a) == channels_(net, b), TC_ERR_FORMAT,
           "add %s: inputs have different channel counts", name);
  TcOp *o;
  TC_CALL(new_op_(net, TC_OP_ADD, name, a, &o, idx));
  o->in1 = b;
  o->act = act;
  return TC_OK;
}

TcErr tc_net_add_gap(TcNet *net, const char *name, int in, int *idx) {
  TcOp *o;
  TC_CALL(new_op_(net, TC_OP_GAP, name, in, &o, idx));
  return TC_OK;
}

TcErr tc_net_add_gsp(TcNet *net, const char *name, int in, int *idx) {
  TcOp *o;
  TC_CALL(new_op_(net, TC_OP_GSP, name, in, &o, idx));
  return TC_OK;
}

TcErr tc_net_fold_bn(TcNet *net, int idx, const float *gamma, const float *beta,
                     const float *mean, const float *var, double eps) {
  TC_CHECK(idx >= 0 && idx < net->nops, TC_ERR_INTERNAL, "fold_bn: bad op %d", idx);
  TcOp *o = &net->ops[idx];
  TC_CHECK(o->kind == TC_OP_CONV || o->kind == TC_OP_DWCONV, TC_ERR_INTERNAL,
           "fold_bn: op %s is not a convolution", o->name);
  size_t per = (size_t)(o->kind == TC_OP_CONV ? o->cin : 1) * o->kh * o->kw;
  for (int c = 0; c < o->cout; c++) {
    TC_CHECK((double)var[c] + eps > 0, TC_ERR_FORMAT, "%s: BatchNorm variance %g + eps <= 0",
             o->name, (double)var[c]);
    double s = (double)gamma[c] / sqrt((double)var[c] + eps);
    float *w = o->w + (size_t)c * per;
    for (size_t k = 0; k < per; k++) w[k] = (float)((double)w[k] * s);
    o->b[c] = (float)((double)beta[c] + ((double)o->b[c] - (double)mean[c]) * s);
  }
  return TC_OK;
}

int tc_net_find(const TcNet *net, const char *name) {
  for (int i = 0; i < net->nops; i++)
    if (!strcmp(net->ops[i].name, name)) return i;
  return -1;
}
int tc_net_count(const TcNet *net) { return net->nops; }
const TcOp *tc_net_op(const TcNet *net, int idx) {
  return idx >= 0 && idx < net->nops ? &net->ops[idx] : NULL;
}

TcErr tc_net_request(TcNet *net, int idx) {
  TC_CHECK(idx >= 0 && idx < net->nops, TC_ERR_USAGE, "request of unknown op %d", idx);
  net->requested[idx] = 1;
  return TC_OK;
}
void tc_net_clear_requests(TcNet *net) {
  for (int i = 0; i < net->nops; i++) net->requested[i] = 0;
}

/* ------------------------------------------------------------------ layers */

void tc_cnn_out_size(int in, int k, int stride, TcPadMode mode, int pad_before, int pad_after,
                     int *out, int *before) {
  if (mode == TC_PAD_TF_SAME) {
    int o = (in + stride - 1) / stride;
    int total = (o - 1) * stride + k - in;
    if (total < 0) total = 0;
    *out = o;
    *before = total / 2;
  } else {
    int span = in + pad_before + pad_after - k;
    *out = span < 0 ? 0 : span / stride + 1;
    *before = pad_before;
  }
}

size_t tc_cnn_conv_work(const TcOp *op, int h, int w) {
  int oh, ow, pt, pl;
  tc_cnn_out_size(h, op->kh, op->stride, op->pad_mode, op->pad_t, op->pad_b, &oh, &pt);
  tc_cnn_out_size(w, op->kw, op->stride, op->pad_mode, op->pad_l, op->pad_r, &ow, &pl);
  if (op->kind == TC_OP_DWCONV)
    return (size_t)((oh - 1) * op->stride + op->kh) * ((ow - 1) * op->stride + op->kw);
  if (op->kh == 1 && op->kw == 1 && op->stride == 1 && pt == 0 && pl == 0) return 0;
  return (size_t)op->cin * op->kh * op->kw * oh * ow;
}

/* Valid output range [*lo, *hi) along one axis for kernel offset k: the
 * input index o*s + k - pad must lie in [0, in). */
static void valid_range_(int out, int in, int s, int k, int pad, int *lo, int *hi) {
  int a = pad - k; /* o*s >= a */
  int l = a <= 0 ? 0 : (a + s - 1) / s;
  int b = in - 1 + pad - k; /* o*s <= b */
  int h = b < 0 ? 0 : b / s + 1;
  if (h > out) h = out;
  if (l > h) l = h;
  *lo = l;
  *hi = h;
}

/* col [(c*kh+ky)*kw+kx][oy*ow+ox]: the input value under kernel tap (ky, kx)
 * of output position (oy, ox), 0 in the padding. Row segments are copied or
 * strided so the inner loop has no bounds tests. */
static void im2col_(const float *x, int cin, int h, int w, int kh, int kw, int s, int pt, int pl,
                    int oh, int ow, float *col) {
  size_t ohw = (size_t)oh * ow;
  for (int c = 0; c < cin; c++) {
    const float *xc = x + (size_t)c * h * w;
    for (int ky = 0; ky < kh; ky++) {
      int ylo, yhi;
      valid_range_(oh, h, s, ky, pt, &ylo, &yhi);
      for (int kx = 0; kx < kw; kx++) {
        float *dst = col + ((size_t)(c * kh + ky) * kw + kx) * ohw;
        int xlo, xhi;
        valid_range_(ow, w, s, kx, pl, &xlo, &xhi);
        if (ylo > 0) memset(dst, 0, (size_t)ylo * ow * sizeof(float));
        for (int oy = ylo; oy < yhi; oy++) {
          float *d = dst + (size_t)oy * ow;
          const float *srow = xc + (size_t)(oy * s + ky - pt) * w + (kx - pl);
          for (int ox = 0; ox < xlo; ox++) d[ox] = 0.f;
          if (s == 1) memcpy(d + xlo, srow + xlo, (size_t)(xhi - xlo) * sizeof(float));
          else
            for (int ox = xlo; ox < xhi; ox++) d[ox] = srow[(size_t)ox * s];
          for (int ox = xhi; ox < ow; ox++) d[ox] = 0.f;
        }
        if (yhi < oh) memset(dst + (size_t)yhi * ow, 0, (size_t)(oh - yhi) * ow * sizeof(float));
      }
    }
  }
}

static void act_(float *y, size_t n, TcAct act) {
  if (act == TC_ACT_RELU) {
    for (size_t i = 0; i < n; i++) y[i] = y[i] > 0.f ? y[i] : 0.f;
  } else if (act == TC_ACT_RELU6) {
    for (size_t i = 0; i < n; i++) {
      float v = y[i] > 0.f ? y[i] : 0.f;
      y[i] = v < 6.f ? v : 6.f;
    }
  }
}

/* One output row of a 3x3 depthwise plane: the nine taps summed in a
 * register in the generic loop's order (so the same bits), one store per
 * output. Called with a literal stride 1 so that case inlines to unit-stride
 * loads the compiler vectorises. */
static inline void dw3x3_row_(const float *r0, const float *r1, const float *r2, const float *w, float bias,
                              int s, int ow, float *yr) {
  for (int ox = 0; ox < ow; ox++) {
    const size_t i = (size_t)ox * s;
    float a = bias;
    a += w[0] * r0[i];
    a += w[1] * r0[i + 1];
    a += w[2] * r0[i + 2];
    a += w[3] * r1[i];
    a += w[4] * r1[i + 1];
    a += w[5] * r1[i + 2];
    a += w[6] * r2[i];
    a += w[7] * r2[i + 1];
    a += w[8] * r2[i + 2];
    yr[ox] = a;
  }
}

/* A 3x3 depthwise plane (every depthwise layer of MobileNetV2) from its
 * zero-padded input (row pitch pw). */
static void dw3x3_(const float *pad, int pw, const float *wc, float bias, int s, int oh, int ow, float *yc) {
  for (int oy = 0; oy < oh; oy++) {
    const float *r0 = pad + (size_t)(oy * s) * pw, *r1 = r0 + pw, *r2 = r1 + pw;
    if (s == 1) dw3x3_row_(r0, r1, r2, wc, bias, 1, ow, yc + (size_t)oy * ow);
    else dw3x3_row_(r0, r1, r2, wc, bias, s, ow, yc + (size_t)oy * ow);
  }
}

void tc_cnn_conv(const TcOp *op, const float *x, int h, int w, float *y, int oh, int ow, int pt,
                 int pl, float *work) {
  size_t ohw = (size_t)oh * ow;
  int s = op->stride;
  if (op->kind == TC_OP_DWCONV) {
    /* one zero-padded plane per channel, then a loop with unit-stride
     * output rows that the compiler vectorises */
    int ph = (oh - 1) * s + op->kh, pw = (ow - 1) * s + op->kw;
    for (int c = 0; c < op->cout; c++) {
      const float *xc = x + (size_t)c * h * w;
      memset(work, 0, (size_t)ph * pw * sizeof(float));
      for (int iy = 0; iy < h; iy++) {
        int py = iy + pt;
        if (py >= ph) break;
        int n = w;
        if (pl + n > pw) n = pw - pl;
        if (n > 0) memcpy(work + (size_t)py * pw + pl, xc + (size_t)iy * w, (size_t)n * sizeof(float));
      }
      const float *wc = op->w + (size_t)c * op->kh * op->kw;
      float *yc = y + (size_t)c * ohw;
      if (op->kh == 3 && op->kw == 3) {
        dw3x3_(work, pw, wc, op->b[c], s, oh, ow, yc);
        continue;
      }
      for (int oy = 0; oy < oh; oy++) {
        float *yr = yc + (size_t)oy * ow;
        for (int ox = 0; ox < ow; ox++) yr[ox] = op->b[c];
        for (int ky = 0; ky < op->kh; ky++) {
          const float *pr = work + (size_t)(oy * s + ky) * pw;
          for (int kx = 0; kx < op->kw; kx++) {
            float wv = wc[ky * op->kw + kx];
            const float *src = pr + kx;
            if (s == 1)
              for (int ox = 0; ox < ow; ox++) yr[ox] += wv * src[ox];
            else
              for (int ox = 0; ox < ow; ox++) yr[ox] += wv * src[(size_t)ox * s];
          }
        }
      }
    }
  } else {
    const float *B = x;
    int K = op->cin * op->kh * op->kw;
    if (!(op->kh == 1 && op->kw == 1 && s == 1 && pt == 0 && pl == 0 && oh == h && ow == w)) {
      im2col_(x, op->cin, h, w, op->kh, op->kw, s, pt, pl, oh, ow, work);
      B = work;
    }
    for (int c = 0; c < op->cout; c++) {
      float *yc = y + (size_t)c * ohw, bv = op->b[c];
      for (size_t i = 0; i < ohw; i++) yc[i] = bv;
    }
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, op->cout, (int)ohw, K, 1.f, op->w, K, B,
                (int)ohw, 1.f, y, (int)ohw);
  }
  act_(y, (size_t)op->cout * ohw, op->act);
}

static void maxpool_(const TcOp *op, const float *x, int c, int h, int w, float *y, int oh,
                     int ow) {
  int k = op->kh, s = op->stride, p = op->pad_t;
  for (int ch = 0; ch < c; ch++) {
    const float *xc = x + (size_t)ch * h * w;
    float *yc = y + (size_t)ch * oh * ow;
    for (int oy = 0; oy < oh; oy++)
      for (int ox = 0; ox < ow; ox++) {
        float m = -FLT_MAX;
        int any = 0;
        for (int ky = 0; ky < k; ky++) {
          int iy = oy * s + ky - p;
          if (iy < 0 || iy >= h) continue;
          for (int kx = 0; kx < k; kx++) {
            int ix = ox * s + kx - p;
            if (ix < 0 || ix >= w) continue;
            float v = xc[(size_t)iy * w + ix];
            if (!any || v > m || isnan(v)) m = v;
            any = 1;
          }
        }
        yc[(size_t)oy * ow + ox] = m;
      }
  }
}

/* ----------------------------------------------------------------- forward */

static TcErr ensure_work_(TcNet *n, size_t floats) {
  if (floats <= n->work_cap) return TC_OK;
  free(n->work);
  n->work = tc_malloc_aligned(floats * sizeof(float), "convolution workspace");
  n->work_cap = n->work ? floats : 0;
  return n->work ? TC_OK : TC_ERR_MEM;
}

/* A free buffer of at least `floats`: the smallest free one that fits,
 * else the largest free one grown, else a new one. */
static TcErr take_buf_(TcNet *n, size_t floats, int *out) {
  int best = -1, largest = -1;
  for (int i = 0; i < n->nbufs; i++) {
    if (n->bufs[i].in_use) continue;
    if (n->bufs[i].cap >= floats && (best < 0 || n->bufs[i].cap < n->bufs[best].cap)) best = i;
    if (largest < 0 || n->bufs[i].cap > n->bufs[largest].cap) largest = i;
  }
  if (best < 0) {
    if (largest < 0) {
      TcBuf *b = realloc(n->bufs, (size_t)(n->nbufs + 1) * sizeof *b);
      if (!b) return tc_err_set(TC_ERR_MEM, "out of memory (feature map buffers)");
      n->bufs = b;
      largest = n->nbufs++;
      n->bufs[largest] = (TcBuf){NULL, 0, 0};
    }
    free(n->bufs[largest].p);
    n->bufs[largest].p = tc_malloc_aligned((floats ? floats : 1) * sizeof(float), "feature map");
    n->bufs[largest].cap = n->bufs[largest].p ? floats : 0;
    if (!n->bufs[largest].p) return TC_ERR_MEM;
    best = largest;
  }
  n->bufs[best].in_use = 1;
  *out = best;
  return TC_OK;
}

TcErr tc_net_forward(TcNet *net, const float *x, int h, int w) {
  int last = -1;
  for (int i = 0; i < net->nops; i++)
    if (net->requested[i]) last = i;
  TC_CHECK(last >= 0, TC_ERR_USAGE, "network forward: no output requested");
  TC_CHECK(h > 0 && w > 0, TC_ERR_USAGE, "network forward: empty input %dx%d", h, w);
  for (int i = 0; i < net->nbufs; i++) net->bufs[i].in_use = 0;
  for (int i = 0; i < net->nops; i++) {
    net->buf[i] = -1;
    net->last_use[i] = net->requested[i] ? INT_MAX : -1;
  }
  for (int j = 0; j <= last; j++) {
    const TcOp *o = &net->ops[j];
    if (o->in0 >= 0 && net->last_use[o->in0] < j) net->last_use[o->in0] = j;
    if (o->in1 >= 0 && net->last_use[o->in1] < j) net->last_use[o->in1] = j;
  }
  net->computed_upto = -1;
  for (int i = 0; i <= last; i++) {
    const TcOp *o = &net->ops[i];
    if (net->last_use[i] < 0) continue; /* nobody needs it: dead branch */
    int ic = channels_(net, o->in0);
    int ih = o->in0 < 0 ? h : net->oh[o->in0], iw = o->in0 < 0 ? w : net->ow[o->in0];
    const float *in = o->in0 < 0 ? x : net->bufs[net->buf[o->in0]].p;
    int oh = ih, ow = iw, pt = 0, pl = 0;
    if (o->kind == TC_OP_CONV || o->kind == TC_OP_DWCONV || o->kind == TC_OP_MAXPOOL) {
      tc_cnn_out_size(ih, o->kh, o->stride, o->pad_mode, o->pad_t, o->pad_b, &oh, &pt);
      tc_cnn_out_size(iw, o->kw, o->stride, o->pad_mode, o->pad_l, o->pad_r, &ow, &pl);
    } else if (o->kind == TC_OP_GAP || o->kind == TC_OP_GSP) {
      oh = ow = 1;
    } else if (o->kind == TC_OP_ADD) {
      int bh = o->in1 < 0 ? h : net->oh[o->in1], bw = o->in1 < 0 ? w : net->ow[o->in1];
      TC_CHECK(bh == ih && bw == iw, TC_ERR_FORMAT, "%s: adding maps of %dx%d and %dx%d", o->name,
               ih, iw, bh, bw);
    }
    TC_CHECK(oh > 0 && ow > 0, TC_ERR_USAGE,
             "%s: the input image (%dx%d) is too small for this network", o->name, h, w);
    int oc = o->cout;
    TC_CALL(take_buf_(net, (size_t)oc * oh * ow, &net->buf[i]));
    float *y = net->bufs[net->buf[i]].p;
    /* take_buf_ may have moved buffers of finished maps only; re-read inputs */
    in = o->in0 < 0 ? x : net->bufs[net->buf[o->in0]].p;
    net->oc[i] = oc;
    net->oh[i] = oh;
    net->ow[i] = ow;
    switch (o->kind) {
      case TC_OP_CONV:
      case TC_OP_DWCONV: {
        size_t need = tc_cnn_conv_work(o, ih, iw);
        TC_CALL(ensure_work_(net, need));
        tc_cnn_conv(o, in, ih, iw, y, oh, ow, pt, pl, net->work);
        break;
      }
      case TC_OP_MAXPOOL:
        maxpool_(o, in, ic, ih, iw, y, oh, ow);
        break;
      case TC_OP_ADD: {
        const float *b = o->in1 < 0 ? x : net->bufs[net->buf[o->in1]].p;
        size_t n = (size_t)oc * oh * ow;
        for (size_t k = 0; k < n; k++) y[k] = in[k] + b[k];
        act_(y, n, o->act);
        break;
      }
      case TC_OP_GAP:
        for (int c = 0; c < ic; c++) {
          double acc = 0;
          const float *xc = in + (size_t)c * ih * iw;
          for (size_t k = 0; k < (size_t)ih * iw; k++) acc += xc[k];
          y[c] = (float)(acc / ((double)ih * iw));
        }
        break;
      case TC_OP_GSP:
        for (int c = 0; c < ic; c++) {
          const float *xc = in + (size_t)c * ih * iw;
          size_t n = (size_t)ih * iw;
          double acc = 0, dev = 0;
          for (size_t k = 0; k < n; k++) acc += xc[k];
          double mean = acc / (double)n;
          /* two passes: the one-pass E[x^2] - E[x]^2 cancels badly on maps
           * with a large mean */
          for (size_t k = 0; k < n; k++) dev += ((double)xc[k] - mean) * ((double)xc[k] - mean);
          y[c] = (float)sqrt(dev / (double)n);
        }
        break;
    }
    /* release inputs whose last reader was this op */
    int ins[2] = {o->in0, o->in1};
    for (int k = 0; k < 2; k++)
      if (ins[k] >= 0 && net->last_use[ins[k]] == i && net->buf[ins[k]] >= 0) {
        net->bufs[net->buf[ins[k]]].in_use = 0;
        if (k == 1 && ins[1] == ins[0]) break;
      }
    net->computed_upto = i;
  }
  return TC_OK;
}

const float *tc_net_output(const TcNet *net, int idx, int *c, int *h, int *w) {
  if (idx < 0 || idx >= net->nops || idx > net->computed_upto || !net->requested[idx] ||
      net->buf[idx] < 0)
    return NULL;
  if (c) *c = net->oc[idx];
  if (h) *h = net->oh[idx];
  if (w) *w = net->ow[idx];
  return net->bufs[net->buf[idx]].p;
}
