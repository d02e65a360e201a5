/* bank_bench.c - memory-bank benchmarks (not tests), driven by
 * bench/bank_bench.sh:
 *   bank_bench coreset N DIM STEPS   one rank: STREAM-style read bandwidth,
 *                                    plain step time vs the bandwidth bound,
 *                                    pruned vs plain over STEPS steps
 *   bank_bench pcoreset N DIM STEPS  under mpirun: distributed step time
 *   bank_bench lof N HW DIM          LOF for N images x HW positions
 *   bank_bench plof N HW DIM         under mpirun: the same through fit's
 *                                    distributed LOF (all-to-all included)
 *   bank_bench proj FEATURES.h5 OUT.f32   project every patch to 128-d as
 *                                    fit does (seed 0), raw float32 rows
 *   bank_bench coreset-mode N DIM STEPS   one rank: plain (unpruned) step
 *                                    time per point in each precision of
 *                                    `fit --coreset-mode` (f32, bf16, int8)
 *                                    on the same points; run at N = 1M for
 *                                    the memory-bound scan and at N = one
 *                                    shard (16384) for two-round's round 1
 *   bank_bench real FILE.f32 DIM STEPS [PLAIN_STEPS]   serial greedy coreset on
 *                                    those rows: plain vs pruned step time,
 *                                    points and centres evaluated, identical
 *                                    indices over the first PLAIN_STEPS */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "coreset.h"
#include "context.h"
#include "features_io.h"
#include "proj.h"
#include "lof.h"
#include "log.h"
#include "partition.h"
#include "pcoreset.h"
#include "plof.h"
#include "rng.h"

static void fill_(float *X, int64_t lo, int64_t hi, int dim) {
  for (int64_t i = lo; i < hi; i++) {
    int64_t cl = tc_rng_index(1, 2, (uint64_t)i, 1000);
    for (int c = 0; c < dim; c++)
      X[(i - lo) * dim + c] = (float)(4 * tc_rng_uniform(1, 3, (uint64_t)(cl * dim + c)) +
                                      tc_rng_uniform(1, 4, (uint64_t)(i * dim + c)));
  }
}

int main(int argc, char **argv) {
  MPI_Comm comm = tc_mpi_start(&argc, &argv);
  int rank = tc_rank(comm), size = tc_size(comm);
  tc_log_level = 0;
  const char *mode = argc > 1 ? argv[1] : "";
  if (!strcmp(mode, "coreset") && argc > 4) {
    int64_t n = atoll(argv[2]), steps = atoll(argv[4]);
    int dim = atoi(argv[3]);
    float *X = tc_malloc_aligned((size_t)(n * dim) * sizeof(float), "X");
    fill_(X, 0, n, dim);
    /* STREAM-style read: sum the same array, best of 5 */
    double best = 1e30, sink = 0;
    for (int r = 0; r < 5; r++) {
      double t0 = tc_now();
      float acc[16] = {0};
      for (int64_t i = 0; i < n * dim; i += 16)
        for (int l = 0; l < 16; l++) acc[l] += X[i + l];
      double t = tc_now() - t0;
      for (int l = 0; l < 16; l++) sink += acc[l];
      if (t < best) best = t;
    }
    double bytes = (double)n * dim * 4 + (double)n * 4 * 2; /* points + minima read/write */
    double bw = (double)n * dim * 4 / best;
    int64_t *i1 = malloc(sizeof(int64_t) * steps), *i2 = malloc(sizeof(int64_t) * steps);
    int64_t first = tc_coreset_first(0, n);
    double t0 = tc_now();
    tc_coreset_select(X, n, dim, steps, first, 0, i1, NULL);
    double tp = (tc_now() - t0) / (double)(steps - 1);
    t0 = tc_now();
    tc_coreset_select(X, n, dim, steps, first, 1, i2, NULL);
    double tq = (tc_now() - t0) / (double)(steps - 1);
    printf("stream_read_GBps %.2f\n", bw / 1e9);
    printf("coreset_plain_step_ms %.3f\n", tp * 1e3);
    printf("coreset_bound_step_ms %.3f\n", bytes / bw * 1e3);
    printf("coreset_plain_vs_bound %.2f\n", tp / (bytes / bw));
    printf("coreset_pruned_step_ms %.3f\n", tq * 1e3);
    printf("coreset_pruned_speedup %.2f\n", tp / tq);
    printf("coreset_identical %d\n", !memcmp(i1, i2, sizeof(int64_t) * steps));
    if (sink == 12345) printf(" ");
  } else if (!strcmp(mode, "pcoreset") && argc > 4) {
    int64_t n = atoll(argv[2]), steps = atoll(argv[4]), lo, hi;
    int dim = atoi(argv[3]);
    tc_block_range(n, rank, size, &lo, &hi);
    float *X = tc_malloc_aligned((size_t)((hi - lo) * dim + 1) * sizeof(float), "X");
    fill_(X, lo, hi, dim);
    int64_t *idx = malloc(sizeof(int64_t) * steps);
    for (int pr = 0; pr < 2; pr++) {
      MPI_Barrier(comm);
      double t0 = tc_now();
      tc_pcoreset_select(comm, X, hi - lo, lo, n, dim, steps, tc_coreset_first(0, n), pr, idx, "b");
      double t = (tc_now() - t0) / (double)(steps - 1);
      if (rank == 0) printf("pcoreset_%s_ranks%d_step_ms %.3f\n", pr ? "pruned" : "plain", size, t * 1e3);
    }
  } else if (!strcmp(mode, "lof") && argc > 4) {
    /* every position has its own points (uniform in [0,1)^DIM, as the
     * scikit-learn peer), all generated before the clock starts */
    int64_t N = atoll(argv[2]), HW = atoll(argv[3]);
    int dim = atoi(argv[4]);
    float *P = malloc(sizeof(float) * HW * N * dim), *sc = malloc(sizeof(float) * N);
    for (int64_t p = 0; p < HW; p++)
      for (int64_t i = 0; i < N * dim; i++)
        P[p * N * dim + i] = (float)tc_rng_uniform(2, (uint64_t)p, (uint64_t)i);
    TcLofWork *w = NULL;
    tc_lof_work_create(N, dim, 6, &w);
    double t0 = tc_now();
    for (int64_t p = 0; p < HW; p++) tc_lof_scores(w, P + p * N * dim, N, sc);
    double t = tc_now() - t0;
    printf("lof_seconds %.3f (N=%lld, HW=%lld, dim=%d)\n", t, (long long)N, (long long)HW, dim);
    tc_lof_work_destroy(&w);
    free(P);
    free(sc);
  } else if (!strcmp(mode, "plof") && argc > 4) {
    /* fit's LOF stage as it runs: images dealt to ranks in blocks, the
     * all-to-all to positions, LOF per position, scores sent back */
    int64_t N = atoll(argv[2]), HW = atoll(argv[3]);
    int dim = atoi(argv[4]);
    int64_t lo, hi;
    tc_block_range(N, rank, size, &lo, &hi);
    float *P = malloc(sizeof(float) * ((hi - lo) * HW * dim + 1)),
          *sc = malloc(sizeof(float) * ((hi - lo) * HW + 1));
    for (int64_t i = lo; i < hi; i++)
      for (int64_t p = 0; p < HW; p++)
        for (int c = 0; c < dim; c++)
          P[((i - lo) * HW + p) * dim + c] =
              (float)tc_rng_uniform(2, (uint64_t)p, (uint64_t)(i * dim + c));
    MPI_Barrier(comm);
    double t0 = tc_now();
    TcErr e = tc_plof_scores(comm, P, hi - lo, N, HW, dim, 6, sc);
    MPI_Barrier(comm);
    double t = tc_now() - t0;
    if (e) fprintf(stderr, "%s\n", tc_err_message());
    if (rank == 0)
      printf("plof_ranks%d_seconds %.3f (N=%lld, HW=%lld, dim=%d)\n", size, t, (long long)N,
             (long long)HW, dim);
    free(P);
    free(sc);
  } else if (!strcmp(mode, "proj") && argc > 3) {
    TcH5File *f = NULL;
    TcFeaturesMeta meta;
    if (tc_features_open(comm, argv[2], &f, &meta)) { fprintf(stderr, "%s\n", tc_err_message()); return 1; }
    const int64_t HW = meta.fmap_h * meta.fmap_w, D = meta.D, P = 128;
    float *W = NULL, *feat = malloc(sizeof(float) * HW * D), *Y = malloc(sizeof(float) * HW * P);
    tc_proj_create(P, D, 0, &W);
    FILE *o = fopen(argv[3], "wb");
    for (int64_t i = 0; i < meta.N; i++) {
      tc_features_read(f, &meta, i, 1, feat, NULL);
      tc_proj_apply(W, P, D, feat, HW, Y);
      fwrite(Y, sizeof(float), (size_t)(HW * P), o);
    }
    fclose(o);
    printf("projected %lld x %lld patches to %lld-d\n", (long long)meta.N, (long long)HW, (long long)P);
  } else if (!strcmp(mode, "coreset-mode") && argc > 4) {
    /* the serial step of each precision on the same synthetic points:
     * encode once (not timed), then STEPS plain greedy steps (the centre is
     * the previous step's argmax, as the loop runs); best of 3 repeats when
     * the set is small (a shard: a step is tens of microseconds) */
    int64_t n = atoll(argv[2]), steps = atoll(argv[4]);
    int dim = atoi(argv[3]);
    float *X = tc_malloc_aligned((size_t)(n * dim) * sizeof(float), "X");
    fill_(X, 0, n, dim);
    const TcCoresetPrec precs[3] = {TC_CORESET_F32, TC_CORESET_BF16, TC_CORESET_I8};
    const char *names[3] = {"f32", "bf16", "int8"};
    const float scale = tc_coreset_maxabs(X, n, dim) / (float)tc_coreset_i8_qmax(dim);
    const int reps = n * (int64_t)dim * 4 > (64 << 20) ? 1 : 3;
    for (int p = 0; p < 3; p++) {
      const size_t rb = tc_coreset_row_bytes(precs[p], dim);
      char *E = precs[p] == TC_CORESET_F32 ? (char *)X : tc_malloc_aligned((size_t)n * rb, "E");
      if (E != (char *)X) tc_coreset_encode(precs[p], X, n, dim, scale, E);
      double best = 1e30;
      for (int r = 0; r < reps; r++) {
        TcCoreset *s = NULL;
        if (tc_coreset_create_enc(E, n, dim, precs[p], 0, &s)) { fprintf(stderr, "%s\n", tc_err_message()); return 1; }
        int64_t b = tc_coreset_first(0, n);
        float bv;
        double t0 = tc_now();
        for (int64_t t = 0; t < steps; t++) tc_coreset_step_enc(s, E + b * rb, &b, &bv);
        double t = (tc_now() - t0) / (double)steps;
        if (t < best) best = t;
        tc_coreset_destroy(&s);
      }
      printf("coresetmode_%s_ns_per_point %.3f (n=%lld, dim=%d, %zu B/row, %lld steps)\n", names[p],
             best * 1e9 / (double)n, (long long)n, dim, rb, (long long)steps);
      if (E != (char *)X) free(E);
    }
  } else if (!strcmp(mode, "real") && argc > 4) {
    int dim = atoi(argv[3]);
    int64_t steps = atoll(argv[4]), psteps = argc > 5 ? atoll(argv[5]) : 300;
    FILE *fi = fopen(argv[2], "rb");
    if (!fi) { fprintf(stderr, "cannot open %s\n", argv[2]); return 1; }
    fseek(fi, 0, SEEK_END);
    int64_t n = ftell(fi) / (4 * dim);
    fseek(fi, 0, SEEK_SET);
    float *X = tc_malloc_aligned((size_t)(n * dim) * sizeof(float), "X");
    if (fread(X, sizeof(float), (size_t)(n * dim), fi) != (size_t)(n * dim)) return 1;
    fclose(fi);
    if (steps <= 0) steps = tc_coreset_target(n, 0.1);
    if (psteps > steps) psteps = steps;
    int64_t first = tc_coreset_first(0, n);
    int64_t *i1 = malloc(sizeof(int64_t) * steps), *i2 = malloc(sizeof(int64_t) * steps);
    double t0 = tc_now();
    tc_coreset_select(X, n, dim, psteps, first, 0, i1, NULL);
    double tp = (tc_now() - t0) / (double)(psteps - 1);
    TcCoreset *s = NULL;
    tc_coreset_create(X, n, dim, 1, &s);
    i2[0] = first;
    t0 = tc_now();
    for (int64_t t = 1; t < steps; t++) {
      float bv;
      tc_coreset_step(s, X + i2[t - 1] * dim, &i2[t], &bv);
    }
    double tq = (tc_now() - t0) / (double)(steps - 1);
    printf("real_n %lld\nreal_steps %lld\n", (long long)n, (long long)steps);
    printf("real_plain_step_ms %.3f\n", tp * 1e3);
    printf("real_pruned_step_ms %.3f\n", tq * 1e3);
    printf("real_pruned_total_s %.2f\n", tq * (double)(steps - 1));
    printf("real_points_evaluated_per_step %.0f\n", (double)tc_coreset_evaluated(s) / (double)(steps - 1));
    printf("real_identical_first %lld %d\n", (long long)psteps, !memcmp(i1, i2, sizeof(int64_t) * psteps));
    tc_coreset_destroy(&s);
  } else if (rank == 0) {
    fprintf(stderr, "usage: bank_bench coreset|pcoreset|coreset-mode N DIM STEPS | lof N HW DIM\n");
  }
  MPI_Comm_free(&comm);
  MPI_Finalize();
  return 0;
}
