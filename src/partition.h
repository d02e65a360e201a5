/* partition.h - contiguous block partition of n items over ranks (DESIGN 6).
 * A pure function so it can be unit-tested for every size without MPI. */
#ifndef TC_PARTITION_H
#define TC_PARTITION_H

#include <stdint.h>

/* Rows [*lo, *hi) owned by `rank` of `size` when n items are dealt in
 * contiguous blocks: the first n % size ranks get one item more, blocks are
 * in rank order and cover [0, n) exactly once. Local.
 * n (global input) >= 0; 0 <= rank < size. Ranks beyond n get empty blocks. */
void tc_block_range(int64_t n, int rank, int size, int64_t *lo, int64_t *hi);

#endif
