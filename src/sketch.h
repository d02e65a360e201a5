/* sketch.h - a lower bound on Euclidean distances that reads a few bytes per
 * point: the exact greedy coreset's filter (issue 17, DESIGN 3.5).
 *
 * The points X [n x dim] are rotated onto their R leading principal axes
 * (z = V (x - mu), V [R x dim] orthonormal rows, computed in double) and z is
 * stored as int8 codes q = round(z / scale) with, per point, an upper bound
 * resid >= |z - scale q| (rounded up, clamping included). For any two points
 * x, c the triangle inequality and |V y| <= |y| give
 *     |x - c| >= |z_x - z_c| >= scale sqrt(Q) - resid_x - resid_c,
 * Q = sum (q_x - q_c)^2, an exact integer. So a greedy step may skip x when
 * that bound already exceeds x's current minimum: the float32 d2 it would
 * compute cannot be smaller (the margin below is far above float32 rounding),
 * the minima stay bit-identical and so does every selected index. The basis
 * only decides how often the bound is tight enough (speed); any basis is
 * correct, so it comes from the points at hand with no communication.
 *
 * R: the smallest multiple of 16 whose axes hold TC_SKETCH_VARIANCE of the
 * variance (at most dim). On real patch features (128 projected dims) that
 * is 48-64 dims: 56-72 bytes per point and step instead of 516. */
#ifndef TC_SKETCH_H
#define TC_SKETCH_H

#include <stdint.h>

#include "err.h"

#define TC_SKETCH_VARIANCE 0.85
/* relative slack of the skip test: float32 d2 is within 2e-6 of the real
 * squared distance (16-term lanes and a tree of 8), double rounding of z
 * is 1e-13; 1e-4 covers both with room */
#define TC_SKETCH_MARGIN 1e-4

typedef struct {
  int64_t n;
  int dim, R, qmax;
  double scale;  /* code step, in units of x */
  double *mu;    /* [dim] */
  double *V;     /* [R x dim] */
  int8_t *code;  /* [n x R] */
  float *resid;  /* [n] upper bound of |z - scale q|, units of x */
} TcSketch;

/* Exact squared distance of two int8 rows; order-free (integers). Local. */
static inline int32_t tc_i8_d2(const int8_t *restrict a, const int8_t *restrict b, int dim) {
  int32_t acc = 0;
  for (int j = 0; j < dim; j++) {
    int32_t t = (int32_t)a[j] - (int32_t)b[j];
    acc += t * t;
  }
  return acc;
}

/* Build the sketch of X [n x dim] (n >= 1; X is read, not kept). Local. */
TcErr tc_sketch_build(const float *X, int64_t n, int dim, TcSketch *sk);
void tc_sketch_free(TcSketch *sk);

/* The code [R] of a centre c [dim] and its residual bound divided by scale,
 * rounded up. Local. */
void tc_sketch_centre(const TcSketch *sk, const float *c, int8_t *code, float *resid_units);

/* The skip threshold of a point with minimum mind2 and residual resid, in
 * units of scale, rounded up: a step with centre residual u (units) may skip
 * the point when (float)Q > (t + u)^2 * (1 + 1e-6) in float arithmetic (the
 * factor absorbs that rounding). +inf when mind2 is +inf. Local. */
float tc_sketch_threshold(const TcSketch *sk, float mind2, float resid);

#endif
