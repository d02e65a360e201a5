/* partition.h - dealing n items to ranks: contiguous blocks (DESIGN 6) or
 * one at a time (tc_deal_rank).
 * A pure function so it can be unit-tested for every size without MPI. */
#ifndef TC_PARTITION_H
#define TC_PARTITION_H

#include <stdint.h>

/* Rows [*lo, *hi) owned by `rank` of `size` when n items are dealt in
 * contiguous blocks: the first n % size ranks get one item more, blocks are
 * in rank order and cover [0, n) exactly once. Local.
 * n (global input) >= 0; 0 <= rank < size. Ranks beyond n get empty blocks. */
void tc_block_range(int64_t n, int rank, int size, int64_t *lo, int64_t *hi);

/* The rank that item j of n gets when items are dealt one at a time (the
 * two-round coreset's shards): round-robin, j % size, for every full round
 * of size items; the last, partial round of r = n % size items is spread
 * evenly over the ranks (item i of it to rank floor(i * size / r)) rather
 * than given to ranks 0..r-1, so that with fewer items than ranks (or the
 * few left over) the busy ranks are not all on the first node when ranks
 * are numbered node by node. Every rank gets floor(n / size) or one more
 * item, and no rank two of the partial round. Local, pure.
 * 0 <= j < n; size >= 1. */
int tc_deal_rank(int64_t j, int64_t n, int size);

#endif
