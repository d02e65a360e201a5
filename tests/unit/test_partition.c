/* test_partition.c - tc_block_range for sizes 1..8 and many n: blocks cover
 * [0, n) exactly once, in rank order, sizes differ by at most one with the
 * larger blocks first; tc_deal_rank deals every item once, balanced, round-
 * robin for full rounds, the partial round spread over the ranks. */
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
  /* tc_deal_rank: counts floor(n / size) or one more, no rank twice in the
   * partial round, full rounds round-robin */
  for (int size = 1; size <= 9; size++) {
    for (int64_t n = 0; n <= 40; n++) {
      int cnt[9] = {0}, ok = 1;
      for (int64_t j = 0; j < n; j++) {
        int r = tc_deal_rank(j, n, size);
        if (r < 0 || r >= size) { ok = 0; break; }
        cnt[r]++;
        if (j < n / size * size && r != (int)(j % size)) ok = 0;
      }
      for (int r = 0; r < size && ok; r++)
        if (cnt[r] != n / size && cnt[r] != n / size + 1) ok = 0;
      CHECK_MSG(ok, "deal: size %d n %lld unbalanced or out of range", size, (long long)n);
    }
  }
  /* fewer items than ranks: spread, not the first ranks (8 ranks, 3 shards) */
  CHECK_INT(tc_deal_rank(0, 3, 8), 0);
  CHECK_INT(tc_deal_rank(1, 3, 8), 2);
  CHECK_INT(tc_deal_rank(2, 3, 8), 5);
  /* 10 items on 4 ranks: 0 1 2 3 | 0 1 2 3 | 0 2 */
  CHECK_INT(tc_deal_rank(7, 10, 4), 3);
  CHECK_INT(tc_deal_rank(8, 10, 4), 0);
  CHECK_INT(tc_deal_rank(9, 10, 4), 2);
  int64_t lo, hi;
  tc_block_range(10, 3, 3, &lo, &hi);
  CHECK(lo == 0 && hi == 0);
  tc_block_range(10, 2, 3, &lo, &hi);
  CHECK_INT(lo, 7);
  CHECK_INT(hi, 10);
  return tc_test_report();
}
