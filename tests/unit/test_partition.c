/* test_partition.c - tc_block_range for sizes 1..8 and many n: blocks cover
 * [0, n) exactly once, in rank order, sizes differ by at most one with the
 * larger blocks first. */
#include <stdint.h>

#include "check.h"
#include "partition.h"

int main(void) {
  const int64_t ns[] = {0, 1, 2, 3, 5, 7, 8, 9, 10, 17, 100, 1001, 3000000007LL};
  for (int size = 1; size <= 8; size++) {
    for (size_t t = 0; t < sizeof ns / sizeof ns[0]; t++) {
      int64_t n = ns[t], expect_lo = 0, total = 0;
      int ok_order = 1, ok_balance = 1;
      for (int rank = 0; rank < size; rank++) {
        int64_t lo, hi;
        tc_block_range(n, rank, size, &lo, &hi);
        if (lo != expect_lo || hi < lo) ok_order = 0;
        int64_t len = hi - lo, base = n / size;
        if (len != base + (rank < n % size ? 1 : 0)) ok_balance = 0;
        total += len;
        expect_lo = hi;
      }
      CHECK_MSG(ok_order, "size %d n %lld: blocks not contiguous in rank order", size, (long long)n);
      CHECK_MSG(ok_balance, "size %d n %lld: unbalanced", size, (long long)n);
      CHECK_MSG(total == n && expect_lo == n, "size %d n %lld: coverage %lld", size, (long long)n,
                (long long)total);
    }
  }
  int64_t lo, hi;
  tc_block_range(10, 3, 3, &lo, &hi);
  CHECK(lo == 0 && hi == 0);
  tc_block_range(10, 2, 3, &lo, &hi);
  CHECK_INT(lo, 7);
  CHECK_INT(hi, 10);
  return tc_test_report();
}
