/* checked.c - the finiteness scan (see checked.h). */
#include "checked.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

int64_t tc_first_bad_f32(const float *x, int64_t n, float bound) {
  /* |x| <= bound  <=>  the sign-cleared bit pattern is <= bound's: IEEE
   * order is integer order for non-negative floats, and every NaN and inf
   * pattern lies above every finite one */
  uint32_t lim;
  memcpy(&lim, &bound, sizeof lim);
  enum { BLOCK = 4096 };
  for (int64_t i0 = 0; i0 < n; i0 += BLOCK) {
    const int64_t i1 = n - i0 < BLOCK ? n : i0 + BLOCK;
    uint32_t bad = 0;
    for (int64_t i = i0; i < i1; i++) {
      uint32_t u;
      memcpy(&u, x + i, sizeof u);
      bad |= (u & 0x7fffffffu) > lim;
    }
    if (bad)
      for (int64_t i = i0; i < i1; i++) {
        uint32_t u;
        memcpy(&u, x + i, sizeof u);
        if ((u & 0x7fffffffu) > lim) return i;
      }
  }
  return -1;
}

const char *tc_value_str(float v) {
  static char buf[32];
  if (isnan(v)) return "NaN";
  if (isinf(v)) return v > 0 ? "inf" : "-inf";
  snprintf(buf, sizeof buf, "%g", (double)v);
  return buf;
}
