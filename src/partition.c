/* partition.c - contiguous block partition (DESIGN 6) and one-at-a-time deal. */
#include "partition.h"

void tc_block_range(int64_t n, int rank, int size, int64_t *lo, int64_t *hi) {
  if (n < 0) n = 0;
  if (size < 1 || rank < 0 || rank >= size) {
    *lo = *hi = 0;
    return;
  }
  int64_t q = n / size, r = n % size;
  /* ranks below r carry q+1 items, so their starts are rank*(q+1); after
   * them every start shifts by the r extra items already handed out */
  *lo = (int64_t)rank * q + (rank < r ? rank : r);
  *hi = *lo + q + (rank < r ? 1 : 0);
}

int tc_deal_rank(int64_t j, int64_t n, int size) {
  if (size <= 1 || j < 0 || j >= n) return 0;
  const int64_t full = n / size * size; /* items in complete rounds */
  if (j < full) return (int)(j % size);
  /* the partial round: r < size items; i * size / r is strictly increasing
   * in i (size / r > 1), so the r ranks are distinct and start at rank 0 */
  const int64_t r = n - full, i = j - full;
  return (int)(i * size / r);
}
