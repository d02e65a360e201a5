/* transpose.c - see transpose.h. */
#include "transpose.h"

void tc_transpose_f32(const float *src, int64_t lds, float *dst, int64_t ldd, int64_t rows,
                      int64_t cols) {
  /* 32 x 32 tiles: a tile of src and of dst (8 KiB in all) stay in L1 */
  for (int64_t r0 = 0; r0 < rows; r0 += 32) {
    int64_t r1 = r0 + 32 < rows ? r0 + 32 : rows;
    for (int64_t c0 = 0; c0 < cols; c0 += 32) {
      int64_t c1 = c0 + 32 < cols ? c0 + 32 : cols;
      int64_t r = r0, c;
#ifdef __AVX2__
      for (; r + 8 <= r1; r += 8) {
        for (c = c0; c + 8 <= c1; c += 8) tc_transpose8_f32(src + r * lds + c, lds, dst + c * ldd + r, ldd);
        for (; c < c1; c++)
          for (int64_t k = r; k < r + 8; k++) dst[c * ldd + k] = src[k * lds + c];
      }
#endif
      for (c = c0; c < c1; c++)
        for (int64_t k = r; k < r1; k++) dst[c * ldd + k] = src[k * lds + c];
    }
  }
}
