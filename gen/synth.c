/* synth.c - procedural product images and defects (see synth.h).
 *
 * Each class is a function from canonical coordinates (u, v) in "256-pixel
 * units", centred on the image, to a foreground colour, a background colour
 * and the foreground coverage alpha (anti-aliased edges come from signed
 * distances, no supersampling). Pose maps pixels to (u, v); lighting and
 * sensor noise are applied last, after the defect, so a sample rendered with
 * and without a defect differs only inside the mask. Sensor noise is a
 * counter-based hash of (seed, x, y, channel): it does not depend on what
 * the defect consumed from its random stream. */
#include "synth.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#define PI_ 3.14159265358979323846

/* ---------- hashing and noise ---------- */

static uint64_t mix64_(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

typedef struct {
  uint64_t s;
} Rng_;

static uint64_t rnext_(Rng_ *r) { return mix64_(r->s += 0x9E3779B97F4A7C15ULL); }
static double runif_(Rng_ *r) { return (double)(rnext_(r) >> 11) * (1.0 / 9007199254740992.0); }
static double rrange_(Rng_ *r, double a, double b) { return a + (b - a) * runif_(r); }

/* Lattice hash in [0, 1) for value noise. */
static inline double lat_(int ix, int iy, uint32_t salt) {
  uint32_t h = (uint32_t)ix * 0x8DA6B343u ^ (uint32_t)iy * 0xD8163841u ^ salt * 0xCB1AB31Fu;
  h ^= h >> 15;
  h *= 0x2C1B3C6Du;
  h ^= h >> 12;
  h *= 0x297A2D39u;
  h ^= h >> 15;
  return (h >> 8) * (1.0 / 16777216.0);
}

/* Smooth value noise in [0, 1). */
static double vnoise_(double x, double y, uint32_t salt) {
  double fx = floor(x), fy = floor(y);
  int ix = (int)fx, iy = (int)fy;
  double tx = x - fx, ty = y - fy;
  tx = tx * tx * (3 - 2 * tx);
  ty = ty * ty * (3 - 2 * ty);
  double a = lat_(ix, iy, salt), b = lat_(ix + 1, iy, salt);
  double c = lat_(ix, iy + 1, salt), d = lat_(ix + 1, iy + 1, salt);
  return a + (b - a) * tx + (c - a) * ty + (a - b - c + d) * tx * ty;
}

static double fbm2_(double x, double y, uint32_t salt) {
  return (vnoise_(x, y, salt) * 2 + vnoise_(2.03 * x, 2.03 * y, salt + 7)) / 3.0;
}

static inline double clamp01_(double x) { return x < 0 ? 0 : x > 1 ? 1 : x; }

/* Coverage of a shape with signed distance d (negative inside) at pixel size px. */
static inline double cov_(double d, double px) { return clamp01_(0.5 - d / px); }

static inline double seg_dist_(double u, double v, double ax, double ay, double bx, double by) {
  double dx = bx - ax, dy = by - ay;
  double t = ((u - ax) * dx + (v - ay) * dy) / (dx * dx + dy * dy);
  t = t < 0 ? 0 : t > 1 ? 1 : t;
  double ex = u - ax - t * dx, ey = v - ay - t * dy;
  return sqrt(ex * ex + ey * ey);
}

/* ---------- classes ---------- */

typedef struct {
  double fg[3], bg[3], a;
} Px_;

typedef void (*ClassFn_)(double u, double v, double px, Px_ *o);

static void set3_(double *c, double r, double g, double b) { c[0] = r; c[1] = g; c[2] = b; }

static void bottle_(double u, double v, double px, Px_ *o) {
  double r = sqrt(u * u + v * v);
  set3_(o->bg, 12, 12, 14);
  o->a = cov_(r - 100, px);
  if (o->a <= 0) { set3_(o->fg, 0, 0, 0); return; }
  double rim = exp(-pow((r - 92) / 5.0, 2)), inner = clamp01_((r - 38) / 50.0);
  double ref = 40 * exp(-pow((r - 62) / 6.0, 2)) * clamp01_(0.5 - 0.5 * sin(atan2(v, u) + 0.7));
  set3_(o->fg, 20 + 30 * inner + 70 * rim + ref, 60 + 60 * inner + 110 * rim + ref,
        30 + 35 * inner + 80 * rim + ref);
  if (r < 36) set3_(o->fg, 8, 14, 10);
}

static void cable_(double u, double v, double px, Px_ *o) {
  static const double wc[3][3] = {{60, 160, 60}, {50, 80, 185}, {130, 75, 40}};
  double r = sqrt(u * u + v * v);
  set3_(o->bg, 205, 205, 200);
  set3_(o->fg, 70, 70, 74); /* filler */
  double sheath = cov_(-(r - 90), px); /* 1 outside r = 90 */
  for (int k = 0; k < 3; k++) {
    double ang = -PI_ / 2 + k * 2 * PI_ / 3;
    double cx = 44 * cos(ang), cy = 44 * sin(ang);
    double d2 = (u - cx) * (u - cx) + (v - cy) * (v - cy);
    if (d2 > 35.0 * 35.0) continue;
    double d = sqrt(d2);
    double w = cov_(d - 33, px), core = cov_(d - 17, px);
    double strand = core > 0 ? 0.85 + 0.15 * sin(atan2(v - cy, u - cx) * 9 + d * 0.9) : 1;
    double col[3];
    for (int c = 0; c < 3; c++) {
      double ins = wc[k][c] * (0.8 + 0.25 * clamp01_(1 - d / 33));
      double cu = (c == 0 ? 205 : c == 1 ? 135 : 75) * strand;
      col[c] = ins + (cu - ins) * core;
      o->fg[c] += (col[c] - o->fg[c]) * w;
    }
  }
  for (int c = 0; c < 3; c++) o->fg[c] += ((c == 2 ? 130 : 125) - o->fg[c]) * sheath;
  o->a = cov_(r - 104, px);
}

static void capsule_(double u, double v, double px, Px_ *o) {
  set3_(o->bg, 238, 238, 234);
  double d = seg_dist_(u, v, -62, 0, 62, 0) - 33;
  double shade = 0.78 + 0.3 * cos(clamp01_(fabs(v) / 33) * 1.4);
  double spec = 55 * exp(-pow((v + 14) / 5.0, 2));
  if (u < 0) set3_(o->fg, 190 * shade + spec, 35 * shade + spec, 40 * shade + spec);
  else set3_(o->fg, 235 * shade + spec, 195 * shade + spec, 45 * shade + spec);
  double seam = exp(-pow(u / 1.5, 2));
  for (int c = 0; c < 3; c++) o->fg[c] *= 1 - 0.35 * seam;
  o->a = cov_(d, px);
}

static void carpet_(double u, double v, double px, Px_ *o) {
  (void)px;
  double row = floor(v / 9.0), sh = fmod(row, 2) * 4.0;
  double cu = (u + sh) / 8.0, cv = v / 9.0;
  double fu = cu - floor(cu) - 0.5, fv = cv - floor(cv) - 0.5;
  double loop = 1 - clamp01_((fu * fu * 3.2 + fv * fv * 2.6));
  double var = 0.85 + 0.3 * lat_((int)floor(cu), (int)row, 11);
  double low = 0.85 + 0.3 * fbm2_(u / 50, v / 50, 12);
  double k = (0.45 + 0.65 * loop) * var * low;
  set3_(o->fg, 125 * k, 52 * k, 112 * k);
  set3_(o->bg, 205, 192, 168);
  o->a = 1;
}

static void gear_(double u, double v, double px, Px_ *o) {
  double r = sqrt(u * u + v * v);
  set3_(o->bg, 18, 20, 30);
  if (r > 87) { o->a = 0; set3_(o->fg, 0, 0, 0); return; }
  double phi = atan2(v, u);
  double s = r > 70 ? cos(14 * phi) : 1;
  double rad = 72 + 13 * clamp01_((s + 0.25) * 2.5);
  double d = r - rad;
  d = fmax(d, 20 - r);
  for (int k = 0; k < 6 && r > 33 && r < 57; k++) {
    double hx = 45 * cos(k * PI_ / 3 + PI_ / 6), hy = 45 * sin(k * PI_ / 3 + PI_ / 6);
    double dh = 10 - sqrt((u - hx) * (u - hx) + (v - hy) * (v - hy));
    d = fmax(d, dh);
  }
  double brush = 0.9 + 0.1 * sin(r * 2.1) + 0.12 * cos(2 * phi);
  double hub = r < 30 ? 0.8 : 1.0;
  set3_(o->fg, 210 * brush * hub, 168 * brush * hub, 72 * brush * hub);
  o->a = cov_(d, px);
}

static void grid_(double u, double v, double px, Px_ *o) {
  const double P = 22, W = 3.4;
  double mu = fmod(fmod(u, P) + P, P) - P / 2, mv = fmod(fmod(v, P) + P, P) - P / 2;
  double du = fabs(mu), dv = fabs(mv); /* distance to the wires at mid-cell offsets */
  double dx = P / 2 - du, dy = P / 2 - dv; /* distance to the nearest vertical / horizontal wire */
  double cx = cov_(dx - W, px), cy = cov_(dy - W, px);
  double a = fmax(cx, cy);
  /* the wire on top at a crossing alternates, like a woven mesh */
  double sx = 1 - pow(clamp01_(dx / W), 2), sy = 1 - pow(clamp01_(dy / W), 2);
  double sh = cx >= cy ? sx : sy;
  double k = 0.55 + 0.5 * sh;
  set3_(o->fg, 188 * k, 184 * k, 172 * k);
  set3_(o->bg, 36, 33, 30);
  o->a = a;
}

static void leather_(double u, double v, double px, Px_ *o) {
  (void)px;
  const double G = 13;
  double gu = u / G, gv = v / G;
  int iu = (int)floor(gu), iv = (int)floor(gv);
  double f1 = 9, f2 = 9;
  for (int j = -1; j <= 1; j++)
    for (int i = -1; i <= 1; i++) {
      double cx = iu + i + 0.15 + 0.7 * lat_(iu + i, iv + j, 21);
      double cy = iv + j + 0.15 + 0.7 * lat_(iu + i, iv + j, 22);
      double d = (gu - cx) * (gu - cx) + (gv - cy) * (gv - cy);
      if (d < f1) { f2 = f1; f1 = d; } else if (d < f2) f2 = d;
    }
  double crease = clamp01_((sqrt(f2) - sqrt(f1)) * 3.0);
  double k = (0.55 + 0.45 * crease) * (0.9 + 0.2 * fbm2_(u / 40, v / 40, 23));
  k *= 0.95 + 0.1 * vnoise_(u * 0.7, v * 0.7, 24);
  set3_(o->fg, 140 * k, 72 * k, 45 * k);
  set3_(o->bg, 195, 165, 135);
  o->a = 1;
}

static void nut_(double u, double v, double px, Px_ *o) {
  set3_(o->bg, 176, 186, 202);
  /* regular hexagon, circumradius 82 */
  double ax = fabs(u), ay = fabs(v);
  const double k0 = -0.866025404, k1 = 0.5, ri = 82 * 0.866025404;
  double dd = 2 * fmin(k0 * ax + k1 * ay, 0);
  double hx = ax - dd * k0, hy = ay - dd * k1;
  hx -= fmin(fmax(hx, -ri * 0.57735), ri * 0.57735);
  hy -= ri;
  double dhex = sqrt(hx * hx + hy * hy) * (hy < 0 ? -1 : 1);
  double r = sqrt(u * u + v * v);
  double d = fmax(dhex, r - 78); /* chamfered corners */
  d = fmax(d, 31 - r);
  double face = r < 40 ? 0.62 + 0.12 * sin(r * 3.0 + atan2(v, u)) : 0.95 + 0.05 * sin(r * 1.7);
  double cham = r > 70 ? 1.15 : 1.0;
  set3_(o->fg, 105 * face * cham, 106 * face * cham, 114 * face * cham);
  o->a = cov_(d, px);
}

/* PCB: a fixed trace layout, the same for every sample of the class. */
typedef struct {
  double ax, ay, bx, by;
} Seg_;
static Seg_ pcb_segs_[64];
static int pcb_nsegs_ = 0;

static void pcb_layout_(void) {
  /* A fixed, hand-set pattern (data, not randomness): buses and branches. */
  static const double rows[] = {-96, -64, -30, 6, 40, 74, 104};
  int n = 0;
  for (int i = 0; i < 7; i++) {
    double y = rows[i], x0 = -140 + (i % 3) * 18, x1 = 140 - (i % 2) * 26;
    pcb_segs_[n++] = (Seg_){x0, y, x1 - 40, y};
    pcb_segs_[n++] = (Seg_){x1 - 40, y, x1, y + ((i % 2) ? 16 : -16)};
  }
  static const double cols[] = {-110, -58, -8, 46, 96};
  for (int i = 0; i < 5; i++) {
    double x = cols[i];
    pcb_segs_[n++] = (Seg_){x, rows[i], x, rows[i + 2]};
    pcb_segs_[n++] = (Seg_){x, rows[i + 2], x + 20, rows[i + 2] + 20};
  }
  pcb_nsegs_ = n;
}

static void pcb_(double u, double v, double px, Px_ *o) {
  /* the pattern repeats every 280 units so texture shifts never run out */
  double uu = fmod(fmod(u + 140, 280) + 280, 280) - 140, vv = fmod(fmod(v + 140, 280) + 280, 280) - 140;
  double d = 1e9, dp2 = 1e18;
  for (int i = 0; i < pcb_nsegs_; i++) {
    const Seg_ *s = &pcb_segs_[i];
    /* nothing of a segment reaches further than a pad (7.5) plus a pixel */
    if (uu < fmin(s->ax, s->bx) - 10 || uu > fmax(s->ax, s->bx) + 10 ||
        vv < fmin(s->ay, s->by) - 10 || vv > fmax(s->ay, s->by) + 10)
      continue;
    double e = seg_dist_(uu, vv, s->ax, s->ay, s->bx, s->by);
    if (e < d) d = e;
    double p1 = (uu - s->ax) * (uu - s->ax) + (vv - s->ay) * (vv - s->ay);
    double p2 = (uu - s->bx) * (uu - s->bx) + (vv - s->by) * (vv - s->by);
    if (p1 < dp2) dp2 = p1;
    if (p2 < dp2) dp2 = p2;
  }
  double dp = sqrt(dp2);
  double trace = cov_(d - 3.2, px), pad = cov_(dp - 7.5, px), drill = cov_(dp - 2.6, px);
  double a = fmax(trace, pad);
  double weave = 0.92 + 0.08 * sin(u * 1.3) * sin(v * 1.3);
  set3_(o->bg, 28 * weave, 108 * weave, 58 * weave);
  double shine = 0.9 + 0.15 * vnoise_(u / 6, v / 6, 31);
  set3_(o->fg, 205 * shine, 152 * shine, 72 * shine);
  for (int c = 0; c < 3; c++) o->fg[c] += ((c == 0 ? 45 : 35) - o->fg[c]) * drill;
  /* a silkscreen IC outline */
  double rx = fabs(uu - 20) - 34, ry = fabs(vv + 47) - 12;
  double box = fabs(fmax(rx, ry));
  double silk = cov_(box - 1.3, px) * (a < 0.5);
  for (int c = 0; c < 3; c++) o->bg[c] += (228 - o->bg[c]) * silk;
  o->a = a;
}

static void pill_(double u, double v, double px, Px_ *o) {
  set3_(o->bg, 32, 42, 92);
  double e = sqrt((u / 92) * (u / 92) + (v / 54) * (v / 54));
  double d = (e - 1) * 54;
  double shade = 0.84 + 0.16 * sqrt(clamp01_(1 - e * e));
  set3_(o->fg, 236 * shade, 232 * shade, 222 * shade);
  double sp = vnoise_(u / 2.2, v / 2.2, 41);
  if (sp > 0.86) set3_(o->fg, 200 * shade, 70 * shade, 60 * shade);
  double groove = exp(-pow(v / 1.6, 2)) * (fabs(u) < 64);
  for (int c = 0; c < 3; c++) o->fg[c] *= 1 - 0.3 * groove;
  o->a = cov_(d, px);
}

static void screw_(double u, double v, double px, Px_ *o) {
  set3_(o->bg, 214, 208, 192);
  double hw = 13;
  if (u < -78) hw = 13 - (-78 - u) * 0.45;
  double dshaft = fmax(fabs(v) - hw, fmax(-96 - u, u - 52));
  double hx = fabs(u - 64) - 14, hy = fabs(v) - 27;
  double dhead = fmin(fmax(hx, hy), 0) + hypot(fmax(hx, 0), fmax(hy, 0)) - 4;
  double d = fmin(dshaft, dhead);
  if (dhead < dshaft) {
    double shade = 0.7 + 0.3 * cos(clamp01_(fabs(v) / 31) * 1.3);
    double slot = fabs(v) < 3.5 && fabs(u - 64) < 15 ? 0.35 : 1;
    set3_(o->fg, 175 * shade * slot, 175 * shade * slot, 182 * shade * slot);
  } else {
    double t = (u + 0.45 * v) / 8.0;
    double thread = fabs(t - floor(t) - 0.5) * 2;
    double shade = 0.55 + 0.45 * cos(clamp01_(fabs(v) / 14) * 1.3);
    double k = shade * (0.55 + 0.55 * thread);
    set3_(o->fg, 170 * k, 170 * k, 178 * k);
  }
  o->a = cov_(d, px);
}

static void tile_(double u, double v, double px, Px_ *o) {
  const double P = 62, G = 2.8;
  double mu = fmod(fmod(u, P) + P, P), mv = fmod(fmod(v, P) + P, P);
  double dg = fmin(fmin(mu, P - mu), fmin(mv, P - mv)); /* to grout centre line */
  o->a = cov_(G - dg, px);
  int tu = (int)floor(u / P), tv = (int)floor(v / P);
  double tint = 0.95 + 0.08 * lat_(tu, tv, 51);
  double sp = vnoise_(u / 1.8, v / 1.8, 52);
  double base[3] = {228 * tint, 220 * tint, 200 * tint};
  if (sp > 0.8) set3_(base, 95, 85, 80);
  else if (sp < 0.12) set3_(base, 175, 150, 120);
  memcpy(o->fg, base, sizeof base);
  set3_(o->bg, 148, 148, 142);
}

static void washer_(double u, double v, double px, Px_ *o) {
  double r = sqrt(u * u + v * v);
  set3_(o->bg, 45, 55, 78);
  double d = fmax(r - 80, 34 - r);
  o->a = cov_(d, px);
  if (o->a <= 0) { set3_(o->fg, 0, 0, 0); return; }
  double phi = atan2(v, u);
  double k = 0.78 + 0.2 * cos(2 * phi - 0.6) + 0.04 * sin(r * 1.3);
  set3_(o->fg, 172 * k, 175 * k, 182 * k);
}

static void weave_(double u, double v, double px, Px_ *o) {
  const double P = 18, I = 1.6;
  double cu = u / P, cv = v / P;
  int iu = (int)floor(cu), iv = (int)floor(cv);
  double fu = (cu - iu) * P, fv = (cv - iv) * P;
  int horiz = ((iu + iv) & 1) == 0;
  double across = horiz ? fv : fu, along = horiz ? fu : fv;
  double din = fmin(across, P - across); /* distance to the gap */
  o->a = cov_(I - din, px);
  double sh = 0.65 + 0.35 * sin(PI_ * clamp01_(across / P));
  double fib = 0.92 + 0.08 * sin(along * 2.2 + across * 0.6);
  double k = sh * fib;
  if (horiz) set3_(o->fg, 216 * k, 196 * k, 150 * k);
  else set3_(o->fg, 60 * k, 92 * k, 165 * k);
  set3_(o->bg, 28, 28, 38);
}

static void wood_(double u, double v, double px, Px_ *o) {
  (void)px;
  double t = v + 7 * sin(u / 45 + 0.5) + 9 * fbm2_(u / 70, v / 25, 61);
  double ring = 0.5 + 0.5 * sin(2 * PI_ * t / 15);
  ring = ring * ring * ring;
  double fib = vnoise_(u / 30, v / 1.4, 62);
  double k = (0.72 + 0.3 * (1 - ring)) * (0.92 + 0.14 * fib);
  set3_(o->fg, 165 * k, 108 * k, 62 * k);
  set3_(o->bg, 228, 205, 165);
  o->a = 1;
}

static void zipper_(double u, double v, double px, Px_ *o) {
  double fab = 0.85 + 0.15 * sin((u + v) * 1.6) * sin((u - v) * 1.6);
  double tape = fabs(u) < 40 ? 1.5 : 1.0;
  set3_(o->bg, 30 * fab * tape, 30 * fab * tape, 33 * fab * tape);
  const double P = 12;
  double k = floor(v / P);
  double fv = v - k * P - P / 2;
  int left = ((int64_t)k & 1) == 0;
  double x0 = left ? -24 : -3, x1 = left ? 3 : 24;
  double dx = fmax(x0 - u, u - x1), dy = fabs(fv) - 4;
  double d = fmin(fmax(dx, dy), 0) + hypot(fmax(dx, 0), fmax(dy, 0)) - 1.5;
  double sh = 0.75 + 0.3 * cos(clamp01_(fabs(fv) / 5.5) * 1.4);
  set3_(o->fg, 192 * sh, 190 * sh, 196 * sh);
  o->a = cov_(d, px);
}

typedef struct {
  const char *name;
  ClassFn_ fn;
  int texture;
} Class_;

static const Class_ classes_[] = {
    {"bottle", bottle_, 0}, {"cable", cable_, 0},   {"capsule", capsule_, 0},
    {"carpet", carpet_, 1}, {"gear", gear_, 0},     {"grid", grid_, 1},
    {"leather", leather_, 1}, {"nut", nut_, 0},     {"pcb", pcb_, 1},
    {"pill", pill_, 0},     {"screw", screw_, 0},   {"tile", tile_, 1},
    {"washer", washer_, 0}, {"weave", weave_, 1},   {"wood", wood_, 1},
    {"zipper", zipper_, 1},
};
#define N_CLASSES_ ((int)(sizeof classes_ / sizeof classes_[0]))

static const char *const defect_names_[TC_DEFECT_COUNT] = {"good", "scratch", "hole", "stain",
                                                           "missing", "contamination"};

int tc_synth_n_classes(void) { return N_CLASSES_; }
const char *tc_synth_class_name(int c) { return c >= 0 && c < N_CLASSES_ ? classes_[c].name : NULL; }
int tc_synth_class_is_texture(int c) { return c >= 0 && c < N_CLASSES_ ? classes_[c].texture : 0; }

int tc_synth_class_index(const char *name) {
  for (int c = 0; c < N_CLASSES_; c++)
    if (strcmp(classes_[c].name, name) == 0) return c;
  return -1;
}

const char *tc_synth_defect_name(TcDefect d) {
  return d >= 0 && d < TC_DEFECT_COUNT ? defect_names_[d] : NULL;
}

int tc_synth_defect_index(const char *name) {
  for (int d = 0; d < TC_DEFECT_COUNT; d++)
    if (strcmp(defect_names_[d], name) == 0) return d;
  return -1;
}

uint64_t tc_synth_sample_seed(uint64_t dataset_seed, int cls, const char *split, TcDefect defect,
                              int64_t index) {
  uint64_t h = mix64_(dataset_seed ^ 0x5EED5EED5EED5EEDULL);
  /* the class by name, so the same class keeps its images in any selection */
  const char *name = tc_synth_class_name(cls);
  for (const char *s = name ? name : ""; *s; s++) h = mix64_(h ^ (unsigned char)*s);
  for (const char *s = split; *s; s++) h = mix64_(h ^ ((uint64_t)(unsigned char)*s << 8));
  h = mix64_(h ^ ((uint64_t)defect << 16));
  return mix64_(h ^ (uint64_t)index);
}

/* ---------- defects ---------- */

typedef struct {
  int S;            /* size in pixels */
  double unit;      /* pixels per 256-unit */
  float *col;       /* [S*S*3] composed colour before lighting */
  const float *bg;  /* [S*S*3] background colour */
  const float *a;   /* [S*S] coverage */
  int texture;
  uint8_t *m;       /* [S*S] defect mask being built */
} Canvas_;

static double lum_(const float *c) { return 0.299 * c[0] + 0.587 * c[1] + 0.114 * c[2]; }

/* A pixel may carry a defect: on objects only where the object is. */
static int on_product_(const Canvas_ *cv, int i) { return cv->texture || cv->a[i] >= 0.5f; }

/* Pick a defect centre on the product, away from the border. */
static int pick_centre_(Rng_ *r, const Canvas_ *cv, int on_pattern, double *cx, double *cy) {
  double margin = 24 * cv->unit;
  for (int t = 0; t < 4000; t++) {
    double x = rrange_(r, margin, cv->S - margin), y = rrange_(r, margin, cv->S - margin);
    int i = (int)y * cv->S + (int)x;
    if ((cv->texture && !on_pattern) || cv->a[i] >= 0.999f) { *cx = x; *cy = y; return 1; }
  }
  return 0;
}

/* Pick a point on the object's rim (for a missing piece). */
static int pick_rim_(Rng_ *r, const Canvas_ *cv, double *cx, double *cy) {
  double margin = 8 * cv->unit;
  for (int t = 0; t < 20000; t++) {
    double x = rrange_(r, margin, cv->S - margin), y = rrange_(r, margin, cv->S - margin);
    int i = (int)y * cv->S + (int)x;
    if (cv->a[i] > 0.2f && cv->a[i] < 0.8f) { *cx = x; *cy = y; return 1; }
  }
  return 0;
}

static void bbox_(const Canvas_ *cv, double cx, double cy, double rad, int *x0, int *x1, int *y0,
                  int *y1) {
  *x0 = (int)floor(cx - rad - 1); *x1 = (int)ceil(cx + rad + 1);
  *y0 = (int)floor(cy - rad - 1); *y1 = (int)ceil(cy + rad + 1);
  if (*x0 < 0) *x0 = 0;
  if (*y0 < 0) *y0 = 0;
  if (*x1 > cv->S) *x1 = cv->S;
  if (*y1 > cv->S) *y1 = cv->S;
}

/* Stamp a thin quadratic Bezier (width w pixels) into the mask. */
/* Mark the mask pixels of the product whose centres lie within r of
 * (px, py). */
static void stamp_disc_(Canvas_ *cv, double px, double py, double r) {
  int x0, x1, y0, y1;
  bbox_(cv, px, py, r, &x0, &x1, &y0, &y1);
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) {
      double dx = x + 0.5 - px, dy = y + 0.5 - py;
      int i = y * cv->S + x;
      if (dx * dx + dy * dy <= r * r && on_product_(cv, i)) cv->m[i] = 255;
    }
}

static void stamp_curve_(Canvas_ *cv, double x0, double y0, double x1, double y1, double x2,
                         double y2, double w) {
  int steps = (int)(hypot(x2 - x0, y2 - y0) * 2) + 8;
  double r = w / 2;
  for (int s = 0; s <= steps; s++) {
    double t = (double)s / steps, mt = 1 - t;
    double px = mt * mt * x0 + 2 * mt * t * x1 + t * t * x2;
    double py = mt * mt * y0 + 2 * mt * t * y1 + t * t * y2;
    stamp_disc_(cv, px, py, r);
  }
}

/* Irregular blob: radius R modulated by two harmonics. */
static void stamp_blob_(Canvas_ *cv, Rng_ *r, double cx, double cy, double R, int need_alpha) {
  double p1 = rrange_(r, 0, 2 * PI_), p2 = rrange_(r, 0, 2 * PI_);
  double a1 = rrange_(r, 0.1, 0.25), a2 = rrange_(r, 0.05, 0.15);
  int x0, x1, y0, y1;
  bbox_(cv, cx, cy, R * 1.45, &x0, &x1, &y0, &y1);
  for (int y = y0; y < y1; y++)
    for (int x = x0; x < x1; x++) {
      double dx = x + 0.5 - cx, dy = y + 0.5 - cy, ph = atan2(dy, dx);
      double rr = R * (1 + a1 * sin(3 * ph + p1) + a2 * sin(5 * ph + p2));
      int i = y * cv->S + x;
      int ok = need_alpha ? cv->a[i] > 0.05f : on_product_(cv, i);
      if (dx * dx + dy * dy <= rr * rr && ok) cv->m[i] = 255;
    }
}

static int64_t mask_area_(const Canvas_ *cv) {
  int64_t n = 0;
  for (int i = 0; i < cv->S * cv->S; i++) n += cv->m[i] != 0;
  return n;
}

/* Shape the mask for one try; 0 when no place was found. */
static int shape_defect_(Canvas_ *cv, Rng_ *r, TcDefect d, double *cx, double *cy) {
  double u = cv->unit;
  memset(cv->m, 0, (size_t)cv->S * cv->S);
  switch (d) {
  case TC_DEFECT_SCRATCH: {
    if (!pick_centre_(r, cv, 0, cx, cy)) return 0;
    double len = rrange_(r, 35, 70) * u, ang = rrange_(r, 0, PI_);
    double dx = cos(ang) * len / 2, dy = sin(ang) * len / 2, bend = rrange_(r, -0.35, 0.35) * len;
    stamp_curve_(cv, *cx - dx, *cy - dy, *cx - dy * bend / len * 2, *cy + dx * bend / len * 2,
                 *cx + dx, *cy + dy, fmax(1.6, rrange_(r, 1.8, 2.8) * u));
    return 1;
  }
  case TC_DEFECT_HOLE: {
    if (!pick_centre_(r, cv, 0, cx, cy)) return 0;
    double ra = rrange_(r, 5, 10) * u, rb = ra * rrange_(r, 0.65, 1.0), th = rrange_(r, 0, PI_);
    int x0, x1, y0, y1;
    bbox_(cv, *cx, *cy, ra, &x0, &x1, &y0, &y1);
    for (int y = y0; y < y1; y++)
      for (int x = x0; x < x1; x++) {
        double dx = x + 0.5 - *cx, dy = y + 0.5 - *cy;
        double p = (dx * cos(th) + dy * sin(th)) / ra, q = (-dx * sin(th) + dy * cos(th)) / rb;
        int i = y * cv->S + x;
        if (p * p + q * q <= 1 && on_product_(cv, i)) cv->m[i] = 255;
      }
    return 1;
  }
  case TC_DEFECT_STAIN:
    if (!pick_centre_(r, cv, 0, cx, cy)) return 0;
    stamp_blob_(cv, r, *cx, *cy, rrange_(r, 9, 17) * u, 0);
    return 1;
  case TC_DEFECT_MISSING:
    if (cv->texture) { /* where the pattern is, so something goes missing */
      if (!pick_centre_(r, cv, 1, cx, cy)) return 0;
      stamp_blob_(cv, r, *cx, *cy, rrange_(r, 12, 20) * u, 1);
    } else {
      if (!pick_rim_(r, cv, cx, cy)) return 0;
      stamp_blob_(cv, r, *cx, *cy, rrange_(r, 14, 22) * u, 1);
    }
    return 1;
  case TC_DEFECT_CONTAMINATION: {
    if (!pick_centre_(r, cv, 0, cx, cy)) return 0;
    int n = 4 + (int)(rnext_(r) % 5);
    for (int k = 0; k < n; k++) {
      double px = *cx + rrange_(r, -14, 14) * u, py = *cy + rrange_(r, -14, 14) * u;
      if (rnext_(r) % 3 == 0) { /* a fibre */
        double len = rrange_(r, 10, 22) * u, ang = rrange_(r, 0, PI_);
        double dx = cos(ang) * len / 2, dy = sin(ang) * len / 2;
        stamp_curve_(cv, px - dx, py - dy, px + dy * 0.4, py - dx * 0.4, px + dx, py + dy,
                     fmax(1.3, 1.4 * u));
      } else { /* a particle */
        double rad = rrange_(r, 1.6, 3.6) * u;
        stamp_disc_(cv, px, py, rad);
      }
    }
    return 1;
  }
  default:
    return 0;
  }
}

/* Change the colour inside the mask. */
static void paint_defect_(Canvas_ *cv, Rng_ *r, TcDefect d, double cx, double cy) {
  int S = cv->S;
  (void)cx;
  /* Dark or bright defect by the mean brightness under it, so it shows. */
  double lc = 0;
  int64_t n = 0;
  for (int i = 0; i < S * S; i++)
    if (cv->m[i]) { lc += lum_(&cv->col[3 * i]); n++; }
  lc = n ? lc / n : 128;
  double stain[3], dirt[3], mixk;
  if (lc > 100) { set3_(stain, 105, 62, 18); mixk = 0.62; set3_(dirt, 22, 18, 16); }
  else { set3_(stain, 215, 190, 120); mixk = 0.55; set3_(dirt, 236, 228, 190); }
  uint32_t salt = (uint32_t)rnext_(r);
  for (int i = 0; i < S * S; i++) {
    if (!cv->m[i]) continue;
    float *c = &cv->col[3 * i];
    int x = i % S, y = i / S;
    switch (d) {
    case TC_DEFECT_SCRATCH:
      if (lum_(c) > 110) for (int k = 0; k < 3; k++) c[k] *= 0.35f;
      else for (int k = 0; k < 3; k++) c[k] = c[k] * 0.4f + 150;
      break;
    case TC_DEFECT_HOLE: {
      double dd = hypot(x + 0.5 - cx, y + 0.5 - cy) / (10 * cv->unit);
      double sh = clamp01_(dd) * clamp01_(dd);
      /* a hole shows what is behind: dark, or a light backdrop under a dark product */
      for (int k = 0; k < 3; k++) c[k] = (float)(lc > 70 ? 10 + 22 * sh : 225 - 30 * sh);
      break;
    }
    case TC_DEFECT_STAIN: {
      double t = mixk * (0.85 + 0.3 * vnoise_(x / (4 * cv->unit), y / (4 * cv->unit), salt));
      for (int k = 0; k < 3; k++) c[k] += (float)((stain[k] - c[k]) * t);
      break;
    }
    case TC_DEFECT_MISSING:
      for (int k = 0; k < 3; k++) c[k] = cv->bg[3 * i + k];
      break;
    case TC_DEFECT_CONTAMINATION:
      for (int k = 0; k < 3; k++) c[k] = (float)dirt[k];
      break;
    default:
      break;
    }
  }
}

/* Shape (with retries) and paint one defect on a canvas; the random stream
 * depends on (seed, defect) only, so the same sample with another defect
 * type gets an independent place. */
static TcErr place_defect_(Canvas_ *cv, uint64_t seed, TcDefect defect, const char *what) {
  Rng_ dr = {mix64_(seed ^ 0xDEFEC7ULL ^ ((uint64_t)defect << 40))};
  /* Retry until the defect is large enough to be seen (a scratch may fall
   * mostly off a thin object); the bounds keep it far from the whole image. */
  int64_t min_area = (int64_t)(18 * cv->unit * cv->unit) + 6,
          max_area = (int64_t)((size_t)cv->S * cv->S / 8);
  int placed = 0;
  double cx = 0, cy = 0;
  for (int t = 0; t < 64 && !placed; t++) {
    if (!shape_defect_(cv, &dr, defect, &cx, &cy)) continue;
    int64_t a = mask_area_(cv);
    placed = a >= min_area && a <= max_area;
  }
  TC_CHECK(placed, TC_ERR_INTERNAL, "could not place a %s defect on a %s sample",
           tc_synth_defect_name(defect), what);
  paint_defect_(cv, &dr, defect, cx, cy);
  return TC_OK;
}

TcErr tc_synth_defect_paint(int size, uint64_t seed, TcDefect defect, float *col,
                            const float *substrate, uint8_t *mask) {
  TC_CHECK(size >= 32 && size <= 4096, TC_ERR_USAGE, "image size %d outside 32..4096", size);
  TC_CHECK(defect > TC_DEFECT_NONE && defect < TC_DEFECT_COUNT, TC_ERR_USAGE,
           "unknown defect %d", (int)defect);
  const size_t np = (size_t)size * size;
  float *al = tc_malloc(np * sizeof *al, "defect coverage");
  uint8_t *m = tc_calloc(np, 1, "defect mask");
  TcErr err = TC_OK;
  if (!al || !m) { err = TC_ERR_MEM; goto cleanup; }
  /* the whole frame is product, as for the texture classes */
  for (size_t i = 0; i < np; i++) al[i] = 1.0f;
  Canvas_ cv = {size, size / 256.0, col, substrate, al, 1, m};
  TC_CALL_GOTO(err, place_defect_(&cv, seed, defect, "photo"), cleanup);
  if (mask) memcpy(mask, m, np);
cleanup:
  free(al);
  free(m);
  return err;
}

/* ---------- rendering ---------- */

static void pcb_once_(void) {
  if (pcb_nsegs_ == 0) pcb_layout_(); /* idempotent fill of constant data */
}

TcErr tc_synth_render(int cls, int size, uint64_t seed, TcDefect defect, uint8_t *rgb,
                      uint8_t *mask) {
  TC_CHECK(cls >= 0 && cls < N_CLASSES_, TC_ERR_USAGE, "synthetic class %d out of range", cls);
  TC_CHECK(size >= 32 && size <= 4096, TC_ERR_USAGE, "image size %d outside 32..4096", size);
  TC_CHECK(defect >= TC_DEFECT_NONE && defect < TC_DEFECT_COUNT, TC_ERR_USAGE,
           "unknown defect %d", (int)defect);
  pcb_once_();
  const int S = size;
  const size_t np = (size_t)S * S;
  const Class_ *K = &classes_[cls];
  float *col = tc_malloc(np * 3 * sizeof *col, "synthetic image");
  float *bg = tc_malloc(np * 3 * sizeof *bg, "synthetic image");
  float *al = tc_malloc(np * sizeof *al, "synthetic image");
  uint8_t *m = tc_calloc(np, 1, "synthetic mask");
  TcErr err = TC_OK;
  if (!col || !bg || !al || !m) { err = TC_ERR_MEM; goto cleanup; }

  Rng_ pose = {mix64_(seed ^ 0x9053ULL)};
  double unit = S / 256.0, px = 1.0 / unit;
  double th, tx, ty, sc, phu = 0, phv = 0;
  if (K->texture) {
    th = rrange_(&pose, -2, 2) * PI_ / 180;
    tx = ty = 0;
    sc = rrange_(&pose, 0.98, 1.02);
    phu = rrange_(&pose, -30, 30); /* a small shift: same product, new position */
    phv = rrange_(&pose, -30, 30);
  } else {
    th = rrange_(&pose, -6, 6) * PI_ / 180;
    tx = rrange_(&pose, -5, 5);
    ty = rrange_(&pose, -5, 5);
    sc = rrange_(&pose, 0.97, 1.03);
  }
  double gain = rrange_(&pose, 0.93, 1.07), gx = rrange_(&pose, -0.06, 0.06),
         gy = rrange_(&pose, -0.06, 0.06);
  double ct = cos(th), st = sin(th);
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++) {
      double qx = ((x + 0.5) - S / 2.0) * px - tx, qy = ((y + 0.5) - S / 2.0) * px - ty;
      qx /= sc;
      qy /= sc;
      double u = ct * qx + st * qy + phu, v = -st * qx + ct * qy + phv;
      Px_ o;
      K->fn(u, v, px / sc, &o);
      size_t i = (size_t)y * S + x;
      al[i] = (float)o.a;
      for (int k = 0; k < 3; k++) {
        bg[3 * i + k] = (float)o.bg[k];
        col[3 * i + k] = (float)(o.a * o.fg[k] + (1 - o.a) * o.bg[k]);
      }
    }

  if (defect != TC_DEFECT_NONE) {
    Canvas_ cv = {S, unit, col, bg, al, K->texture, m};
    TC_CALL_GOTO(err, place_defect_(&cv, seed, defect, K->name), cleanup);
  }

  /* Lighting and sensor noise: a function of (seed, x, y, c) only. */
  uint64_t ns = mix64_(seed ^ 0x7015EULL);
  for (int y = 0; y < S; y++) {
    double ly = gy * ((y + 0.5) / S - 0.5);
    for (int x = 0; x < S; x++) {
      size_t i = (size_t)y * S + x;
      double g = gain * (1 + gx * ((x + 0.5) / S - 0.5) + ly);
      uint64_t h = mix64_(ns ^ (uint64_t)i * 0x9E3779B97F4A7C15ULL);
      for (int k = 0; k < 3; k++) {
        /* sum of two uniforms: triangular noise, sigma about 3 levels */
        double n1 = (double)((h >> (k * 20)) & 0x3FF) / 1024.0;
        double n2 = (double)((h >> (k * 20 + 10)) & 0x3FF) / 1024.0;
        double val = col[3 * i + k] * g + (n1 + n2 - 1.0) * 7.3;
        val = val < 0 ? 0 : val > 255 ? 255 : val;
        rgb[3 * i + k] = (uint8_t)(val + 0.5 > 255 ? 255 : val + 0.5);
      }
    }
  }
  if (mask) memcpy(mask, m, np);
cleanup:
  free(col);
  free(bg);
  free(al);
  free(m);
  return err;
}

TcErr tc_synth_parse_defects(const char *const *names, TcDefect *defs, int *n) {
  int nd = 0;
  if (!names[0])
    for (int d = 1; d < TC_DEFECT_COUNT; d++) defs[nd++] = (TcDefect)d;
  for (int i = 0; names[i]; i++) {
    int d = tc_synth_defect_index(names[i]);
    TC_CHECK(d > 0, TC_ERR_USAGE, "unknown defect '%s' (scratch hole stain missing contamination)", names[i]);
    for (int j = 0; j < nd; j++)
      TC_CHECK(defs[j] != (TcDefect)d, TC_ERR_USAGE, "defect '%s' given twice", names[i]);
    defs[nd++] = (TcDefect)d;
  }
  *n = nd;
  return TC_OK;
}
