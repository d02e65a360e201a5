/* ivf_bench.c - IVF (src/ivf.h) against the exact search (src/score.h) on a
 * clustered synthetic bank, for bench/score_ivf_bench.sh (not a test: no
 * assertion on speed).
 *
 *   ivf_bench M D Q NLIST NPROBE[,NPROBE...] [SEED]   threads: OPENBLAS_NUM_THREADS
 *
 * Bank: M/100 cluster centres uniform in [0, 1)^D; each row is a centre plus
 * Gaussian noise whose scale differs per cluster (0.05..0.25: dense and
 * sparse regions, as a long-tailed class mix gives). Queries: 90% a random
 * bank row plus noise 0.1 (normal patches, between memory rows), 10% a random
 * centre plus noise 0.3 (off the bank). Both searches run in blocks of 784
 * queries (one 28x28 image), as predict does. NLIST 0 = tc_ivf_default_nlist.
 * prints "exact ..." once, then one "ivf ..." line per NPROBE:
 *   ivf M=.. D=.. Q=.. nlist=.. nprobe=.. build_s=.. qps=.. exact_qps=.. speedup=.. recall=.. */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "ivf.h"
#include "log.h"
#include "rng.h"
#include "score.h"

static float gauss_(uint64_t seed, uint64_t c) {
  double u1 = tc_rng_uniform(seed, TC_RNG_STREAM_TEST, 2 * c), u2 = tc_rng_uniform(seed, TC_RNG_STREAM_TEST, 2 * c + 1);
  return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}

int main(int argc, char **argv) {
  if (argc < 6) {
    fprintf(stderr, "usage: ivf_bench M D Q NLIST NPROBE[,NPROBE...] [SEED]\n");
    return 2;
  }
  int64_t M = atoll(argv[1]), D = atoll(argv[2]), Q = atoll(argv[3]), nlist = atoll(argv[4]);
  uint64_t seed = argc > 6 ? strtoull(argv[6], NULL, 10) : 1;
  if (nlist <= 0) nlist = tc_ivf_default_nlist(M);
  int64_t K = M / 100 > 0 ? M / 100 : 1;
  float *C = tc_malloc_aligned(sizeof(float) * (size_t)(K * D), "centres");
  float *B = tc_malloc_aligned(sizeof(float) * (size_t)(M * D), "bank");
  float *X = tc_malloc_aligned(sizeof(float) * (size_t)(Q * D), "queries");
  float *nrm = tc_malloc(sizeof(float) * (size_t)M, "norms");
  float *dist = tc_malloc(sizeof(float) * (size_t)Q, "dist");
  int64_t *idx = tc_malloc(sizeof(int64_t) * (size_t)Q, "idx");
  TcScoreNN *nn = tc_malloc(sizeof(TcScoreNN) * (size_t)Q, "ivf nn");
  if (!C || !B || !X || !nrm || !dist || !idx || !nn) {
    fprintf(stderr, "ivf_bench: %s\n", tc_err_message());
    return 1;
  }
  uint64_t ctr = 0;
  const float cs = getenv("IVF_BENCH_SPREAD") ? (float)atof(getenv("IVF_BENCH_SPREAD")) : 0.5f;
  for (int64_t i = 0; i < K * D; i++) C[i] = cs * (float)tc_rng_uniform(seed, TC_RNG_STREAM_TEST + 1, (uint64_t)i);
  for (int64_t r = 0; r < M; r++) {
    int64_t k = tc_rng_index(seed, TC_RNG_STREAM_TEST + 2, (uint64_t)r, K);
    float sc = 0.05f + 0.2f * (float)tc_rng_uniform(seed, TC_RNG_STREAM_TEST + 3, (uint64_t)k);
    for (int64_t d = 0; d < D; d++) B[r * D + d] = C[k * D + d] + sc * gauss_(seed, ctr++);
  }
  for (int64_t i = 0; i < Q; i++) {
    int off = tc_rng_index(seed, TC_RNG_STREAM_TEST + 4, (uint64_t)i, 10) == 0;
    const float *src = off ? C + tc_rng_index(seed, TC_RNG_STREAM_TEST + 5, (uint64_t)i, K) * D
                           : B + tc_rng_index(seed, TC_RNG_STREAM_TEST + 5, (uint64_t)i, M) * D;
    float sc = off ? 0.3f : 0.1f;
    for (int64_t d = 0; d < D; d++) X[i * D + d] = src[d] + sc * gauss_(seed + 1, ctr++);
  }
  const int64_t blk = 784;
  tc_score_row_norms(B, M, D, nrm);
  double t0 = tc_now();
  for (int64_t q0 = 0; q0 < Q; q0 += blk) {
    int64_t n = Q - q0 < blk ? Q - q0 : blk;
    if (tc_score_nn_bank(X + q0 * D, n, B, nrm, M, D, dist + q0, idx + q0) != TC_OK) {
      fprintf(stderr, "ivf_bench: %s\n", tc_err_message());
      return 1;
    }
  }
  double te = tc_now() - t0, eq = (double)Q / te;
  printf("exact M=%lld D=%lld Q=%lld s=%.3f qps=%.1f\n", (long long)M, (long long)D, (long long)Q, te, eq);
  fflush(stdout);
  TcIvf ivf;
  t0 = tc_now();
  if (tc_ivf_build(B, M, D, nlist, TC_IVF_ITERS, TC_IVF_SEED, &ivf) != TC_OK) {
    fprintf(stderr, "ivf_bench: %s\n", tc_err_message());
    return 1;
  }
  double tb = tc_now() - t0;
  /* faiss's imbalance factor: nlist * sum(size^2) / M^2 (1 = balanced) */
  double ss = 0.0;
  for (int64_t l = 0; l < ivf.nlist; l++) {
    double n = (double)(ivf.list_start[l + 1] - ivf.list_start[l]);
    ss += n * n;
  }
  double imbalance = (double)ivf.nlist * ss / ((double)M * (double)M);
  for (char *tok = strtok(argv[5], ","); tok; tok = strtok(NULL, ",")) {
    int64_t np = atoll(tok);
    t0 = tc_now();
    for (int64_t q0 = 0; q0 < Q; q0 += blk) {
      int64_t n = Q - q0 < blk ? Q - q0 : blk;
      if (tc_ivf_search(&ivf, B, X + q0 * D, n, np, nn + q0) != TC_OK) {
        fprintf(stderr, "ivf_bench: %s\n", tc_err_message());
        return 1;
      }
    }
    double ti = tc_now() - t0;
    int64_t hit = 0;
    double relerr = 0.0;
    for (int64_t i = 0; i < Q; i++) {
      hit += nn[i].dist <= dist[i];
      if (dist[i] > 0) relerr += ((double)nn[i].dist - dist[i]) / dist[i];
    }
    printf("ivf M=%lld D=%lld Q=%lld nlist=%lld nprobe=%lld build_s=%.2f s=%.3f qps=%.1f exact_qps=%.1f "
           "speedup=%.2f recall=%.4f mean_rel_dist_excess=%.5f imbalance=%.2f train_rows=%lld\n",
           (long long)M, (long long)D, (long long)Q, (long long)ivf.nlist, (long long)np, tb, ti, (double)Q / ti, eq,
           ((double)Q / ti) / eq, (double)hit / (double)Q, relerr / (double)Q, imbalance, (long long)ivf.n_train);
    fflush(stdout);
  }
  tc_ivf_free(&ivf);
  free(C);
  free(B);
  free(X);
  free(nrm);
  free(dist);
  free(idx);
  free(nn);
  return 0;
}
