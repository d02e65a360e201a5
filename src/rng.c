/* rng.c - splitmix64-based counter generator (see rng.h). */
#include "rng.h"

#include <math.h>

static uint64_t mix_(uint64_t z) {
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
  return z ^ (z >> 31);
}

uint64_t tc_rng_u64(uint64_t seed, uint64_t stream, uint64_t counter) {
  /* each word goes through a full finaliser before the next is folded in, so
   * (seed, stream, counter) triples that differ in one word decorrelate */
  uint64_t z = mix_(seed + 0x9e3779b97f4a7c15ULL);
  z = mix_(z ^ (stream * 0xd1b54a32d192ed03ULL + 0x9e3779b97f4a7c15ULL));
  return mix_(z ^ (counter + 0x632be59bd9b4e019ULL));
}

double tc_rng_uniform(uint64_t seed, uint64_t stream, uint64_t counter) {
  uint64_t x = tc_rng_u64(seed, stream, counter) >> 11;
  return ((double)x + 0.5) * 0x1.0p-53;
}

float tc_rng_uniform_f(uint64_t seed, uint64_t stream, uint64_t counter, float lo, float hi) {
  double u = tc_rng_uniform(seed, stream, counter);
  float v = (float)((double)lo + ((double)hi - (double)lo) * u);
  /* rounding to float can land exactly on an end of a narrow interval */
  if (v <= lo) v = nextafterf(lo, hi);
  if (v >= hi) v = nextafterf(hi, lo);
  return v;
}

int64_t tc_rng_index(uint64_t seed, uint64_t stream, uint64_t counter, int64_t n) {
  if (n <= 1) return 0;
  unsigned __int128 p = (unsigned __int128)tc_rng_u64(seed, stream, counter) * (uint64_t)n;
  return (int64_t)(p >> 64);
}
