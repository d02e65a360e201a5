/* quantile.h - torch.quantile's linear rule and the serial half of an exact
 * distributed order-statistic selection (DESIGN 3.4).
 *
 * torch.quantile(x, q) (interpolation='linear') on float32 x, as pinned from
 * aten/src/ATen/native/Sorting.cpp: rank = q * (n - 1) computed in float32
 * (q itself rounded to float32), lo = floor(rank), hi = ceil(rank),
 * w = rank - lo, result = lerp(x_(lo), x_(hi), w) with ATen's CPU lerp
 * (|w| < 0.5 ? fma(w, b - a, a) : fma(w - 1, b - a, b)), all in float32. torch
 * refuses n > 2^24; beyond that float32 cannot even hold the rank, so we
 * compute the rank in double there (documented extension). */
#ifndef TC_QUANTILE_H
#define TC_QUANTILE_H

#include <stdint.h>

#include "err.h"

/* The two order-statistic positions and the weight of torch's rule for n
 * values (n >= 1). Local. */
void tc_quantile_rank(int64_t n, double q, int64_t *lo, int64_t *hi, float *w);

/* torch's lerp in float32. Local. */
float tc_quantile_lerp(float a, float b, float w);

/* torch.quantile(x[0..n), q) for one array (x is not modified; a sorted copy
 * is made). Local. */
TcErr tc_quantile(const float *x, int64_t n, double q, float *out);

/* Order-preserving map of float32 to uint32 (NaN sorts last). Local. */
uint32_t tc_quantile_key(float x);
float tc_quantile_unkey(uint32_t k);

/* One round of radix selection: counts[256] (output, zeroed here) of the
 * byte at bit `shift` (24, 16, 8, 0) of the keys of x whose higher bits equal
 * prefix's higher bits. Local; the caller sums counts over ranks. */
void tc_quantile_hist(const float *x, int64_t n, uint32_t prefix, int shift, int64_t counts[256]);

/* After a round: the bin holding order statistic *k (0-based among the
 * candidates), *k reduced to its position inside that bin; returns the bin.
 * Local. */
int tc_quantile_pick(const int64_t counts[256], int64_t *k);

#endif
