/* rng.h - counter-based random numbers (DESIGN 3.3, 3.5).
 *
 * Every value is a pure function of (seed, stream, counter): splitmix64's
 * finaliser applied to the three words in turn. No state, so any rank computes
 * element i of any random array without communication and the result never
 * depends on how the work is split. Not a cryptographic generator. */
#ifndef TC_RNG_H
#define TC_RNG_H

#include <stdint.h>

/* Streams keep unrelated uses of one seed independent. */
enum {
  TC_RNG_STREAM_PROJ = 1,       /* projection matrix W, counter = row * D + col */
  TC_RNG_STREAM_CORESET = 2,    /* first coreset point, counter = call purpose */
  TC_RNG_STREAM_HOLDOUT = 3,    /* calibration hold-out key, counter = hash of the image path */
  TC_RNG_STREAM_IVF = 4,        /* IVF k-means training sample, counter = draw number */
  TC_RNG_STREAM_IVF_RECALL = 5, /* IVF recall sample, counter = global patch number */
  TC_RNG_STREAM_TEST = 1000     /* unit tests */
};

/* 64 random bits for (seed, stream, counter). Local. */
uint64_t tc_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter);

/* Uniform double in the open interval (0, 1): the top 53 bits plus half an ulp,
 * so neither end is ever returned. Local. */
double tc_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter);

/* Uniform float in the open interval (lo, hi) (lo < hi). The value is rounded
 * to float then pulled inside when rounding lands on an end. Local. */
float tc_rng_uniform_f(uint64_t seed, uint64_t stream, uint64_t counter, float lo, float hi);

/* Uniform integer in [0, n) (n >= 1) by the multiply-high rule (Lemire); the
 * bias is below n / 2^64, negligible for any n we use. Local. */
int64_t tc_rng_index(uint64_t seed, uint64_t stream, uint64_t counter, int64_t n);

#endif
