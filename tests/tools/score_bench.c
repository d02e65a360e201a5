/* score_bench.c - throughput of the nearest-neighbour kernel (score.h) in
 * query patches per second, for bench/score_bench.sh (not a test: no
 * assertion on speed). Queries are scored in blocks of one image (784
 * patches) as predict does; the bank norms are computed once outside the
 * timing, as faiss computes them when rows are added.
 *
 *   score_bench M D Q [REPS [SEED]]      threads: OPENBLAS_NUM_THREADS
 * prints: "ours M=.. D=.. Q=.. best_s=.. qps=.. checksum=.." */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "err.h"
#include "log.h"
#include "score.h"

static uint64_t z_ = 0x9E3779B97F4A7C15ULL;
static float frand_(void) {
  z_ ^= z_ << 13;
  z_ ^= z_ >> 7;
  z_ ^= z_ << 17;
  return (float)((double)(z_ >> 40) / 16777216.0);
}

int main(int argc, char **argv) {
  if (argc < 4) {
    fprintf(stderr, "usage: score_bench M D Q [REPS [SEED]]\n");
    return 2;
  }
  int64_t M = atoll(argv[1]), D = atoll(argv[2]), Q = atoll(argv[3]);
  int reps = argc > 4 ? atoi(argv[4]) : 3;
  if (argc > 5) z_ ^= strtoull(argv[5], NULL, 10) * 0xBF58476D1CE4E5B9ULL;
  float *B = tc_malloc_aligned(sizeof(float) * (size_t)(M * D), "bank");
  float *X = tc_malloc_aligned(sizeof(float) * (size_t)(Q * D), "queries");
  float *nrm = tc_malloc(sizeof(float) * (size_t)M, "norms");
  float *dist = tc_malloc(sizeof(float) * (size_t)Q, "dist");
  int64_t *idx = tc_malloc(sizeof(int64_t) * (size_t)Q, "idx");
  if (!B || !X || !nrm || !dist || !idx) {
    fprintf(stderr, "score_bench: %s\n", tc_err_message());
    return 1;
  }
  for (int64_t i = 0; i < M * D; i++) B[i] = frand_();
  /* queries: memory rows plus noise, like normal test patches */
  for (int64_t i = 0; i < Q; i++) {
    int64_t r = (int64_t)(frand_() * (float)M) % M;
    for (int64_t d = 0; d < D; d++) X[i * D + d] = B[r * D + d] + 0.05f * (frand_() - 0.5f);
  }
  tc_score_row_norms(B, M, D, nrm);
  const int64_t blk = 784;
  double best = 1e30, sum = 0;
  for (int r = 0; r < reps; r++) {
    double t0 = tc_now();
    for (int64_t q0 = 0; q0 < Q; q0 += blk) {
      int64_t n = Q - q0 < blk ? Q - q0 : blk;
      if (tc_score_nn_bank(X + q0 * D, n, B, nrm, M, D, dist + q0, idx + q0) != TC_OK) {
        fprintf(stderr, "score_bench: %s\n", tc_err_message());
        return 1;
      }
    }
    double t = tc_now() - t0;
    if (t < best) best = t;
  }
  for (int64_t i = 0; i < Q; i++) sum += dist[i] + (double)idx[i];
  printf("ours M=%lld D=%lld Q=%lld best_s=%.4f qps=%.1f checksum=%.6g\n", (long long)M, (long long)D,
         (long long)Q, best, (double)Q / best, sum);
  free(B);
  free(X);
  free(nrm);
  free(dist);
  free(idx);
  return 0;
}
