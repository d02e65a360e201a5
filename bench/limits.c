/* limits.c - this machine's ceilings, for `make bench` (issue 9).
 *
 * Measures what the stages are compared against:
 *   - OpenBLAS sgemm GFLOP/s on square matrices (2048 by default), on 1 thread
 *     and on all threads (openblas_set_num_threads);
 *   - STREAM-style memory bandwidth on 1 and on all threads (OpenMP):
 *     triad a[i] = b[i] + s*c[i], counted as 3 x 8 bytes per element (STREAM's
 *     convention: the write-allocate read of a[] is not counted), and read,
 *     a sum over one array, 8 bytes per element.
 * Prints `key=value` lines on stdout (bench/run.sh parses them; keys are listed
 * in bench/README.md). Each figure is the best of several repetitions, because
 * a ceiling is what the hardware can do, not what a noisy neighbour let it do;
 * the median is printed next to it so the noise is visible.
 *
 * It is deliberately not STREAM itself (no copy/scale kernels, no
 * validation report) and not HPL: it only needs to be a fair upper bound.
 *
 * Usage: limits [--quick] [--threads T] [--n N] [--array-mib M]
 */
#include <cblas.h>   /* defines: cblas_sgemm, openblas_set_num_threads (OpenBLAS's cblas.h) */
#include <math.h>
#include <omp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return (x > y) - (x < y);
}

/* Best (minimum) and median of the first n entries of t (sorted in place). */
static void best_median(double *t, int n, double *best, double *median) {
  qsort(t, (size_t)n, sizeof *t, cmp_double);
  *best = t[0];
  *median = (n % 2) ? t[n / 2] : 0.5 * (t[n / 2 - 1] + t[n / 2]);
}

/* sgemm C = A*B at n x n on `threads` OpenBLAS threads; returns best and
 * median GFLOP/s over `reps` timed calls after one untimed warm-up. */
static int bench_sgemm(int n, int threads, int reps, double *gf_best, double *gf_median) {
  size_t nn = (size_t)n * (size_t)n;
  float *a = malloc(nn * sizeof *a), *b = malloc(nn * sizeof *b), *c = malloc(nn * sizeof *c);
  double *t = malloc((size_t)reps * sizeof *t);
  if (!a || !b || !c || !t) { free(a); free(b); free(c); free(t); return -1; }
  /* values in [-1, 1) so the check below is well conditioned */
  uint64_t s = 88172645463325252ull;
  for (size_t i = 0; i < nn; i++) {
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    a[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
    s ^= s << 13; s ^= s >> 7; s ^= s << 17;
    b[i] = (float)((double)(s >> 11) / 9007199254740992.0 * 2.0 - 1.0);
  }
  openblas_set_num_threads(threads);
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
  for (int r = 0; r < reps; r++) {
    double t0 = now_s();
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, n, n, n, 1.0f, a, n, b, n, 0.0f, c, n);
    t[r] = now_s() - t0;
  }
  /* a fast wrong answer is not a ceiling: spot-check a few entries */
  int bad = 0;
  for (int k = 0; k < 4; k++) {
    int i = (k * 977) % n, j = (k * 331 + 7) % n;
    double ref = 0;
    for (int p = 0; p < n; p++) ref += (double)a[(size_t)i * n + p] * b[(size_t)p * n + j];
    if (fabs(ref - c[(size_t)i * n + j]) > 1e-3 * sqrt((double)n)) bad = 1;
  }
  double best, median;
  best_median(t, reps, &best, &median);
  double flop = 2.0 * (double)n * n * n;
  *gf_best = flop / best * 1e-9;
  *gf_median = flop / median * 1e-9;
  free(a); free(b); free(c); free(t);
  return bad ? -2 : 0;
}

/* STREAM-style triad and read on `threads` OpenMP threads over arrays of n
 * doubles already first-touched. Best and median GB/s (1e9 bytes/s). */
static void bench_stream(double *a, const double *b, const double *c, size_t n, int threads, int reps,
                         double *triad_best, double *triad_median, double *read_best, double *read_median) {
  double *tt = malloc((size_t)reps * sizeof *tt), *tr = malloc((size_t)reps * sizeof *tr);
  const double scalar = 3.0;
  volatile double sink = 0;
  for (int r = 0; r < reps + 1; r++) { /* r = 0 is the warm-up */
    double t0 = now_s();
#pragma omp parallel for num_threads(threads) schedule(static)
    for (size_t i = 0; i < n; i++) a[i] = b[i] + scalar * c[i];
    double t1 = now_s();
    /* eight independent partial sums: one accumulator would make the loop
     * add-latency bound (well under memory speed) instead of bandwidth bound */
    double sum = 0;
#pragma omp parallel for num_threads(threads) schedule(static) reduction(+ : sum)
    for (size_t blk = 0; blk < n / 8; blk++) {
      const double *p = b + 8 * blk;
      double s0 = p[0], s1 = p[1], s2 = p[2], s3 = p[3], s4 = p[4], s5 = p[5], s6 = p[6], s7 = p[7];
      sum += ((s0 + s1) + (s2 + s3)) + ((s4 + s5) + (s6 + s7));
    }
    double t2 = now_s();
    sink += sum;
    if (r > 0) { tt[r - 1] = t1 - t0; tr[r - 1] = t2 - t1; }
  }
  (void)sink;
  double bt, mt, br, mr;
  best_median(tt, reps, &bt, &mt);
  best_median(tr, reps, &br, &mr);
  double triad_bytes = 3.0 * 8.0 * (double)n, read_bytes = 8.0 * (double)(n / 8 * 8);
  *triad_best = triad_bytes / bt * 1e-9; *triad_median = triad_bytes / mt * 1e-9;
  *read_best = read_bytes / br * 1e-9;   *read_median = read_bytes / mr * 1e-9;
  free(tt); free(tr);
}

static void usage(FILE *f) {
  fprintf(f, "usage: limits [--quick] [--threads T] [--n N] [--array-mib M]\n"
             "  --quick        small sizes (n = 1024, 64 MiB arrays), for developing the harness\n"
             "  --threads T    the 'all threads' count (default: online CPUs)\n"
             "  --n N          sgemm size (default 2048)\n"
             "  --array-mib M  size of each of the 3 bandwidth arrays (default: 4 x L3, 256..1024 MiB)\n");
}

int main(int argc, char **argv) {
  int quick = 0, threads = (int)sysconf(_SC_NPROCESSORS_ONLN), n = 2048;
  long array_mib = 0;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--quick")) quick = 1;
    else if (!strcmp(argv[i], "--threads") && i + 1 < argc) threads = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--n") && i + 1 < argc) n = atoi(argv[++i]);
    else if (!strcmp(argv[i], "--array-mib") && i + 1 < argc) array_mib = atol(argv[++i]);
    else if (!strcmp(argv[i], "--help") || !strcmp(argv[i], "-h")) { usage(stdout); return 0; }
    else { fprintf(stderr, "limits: unknown option '%s'\n", argv[i]); usage(stderr); return 2; }
  }
  if (threads < 1 || n < 64) { fprintf(stderr, "limits: need --threads >= 1 and --n >= 64\n"); return 2; }
  long l3 = sysconf(_SC_LEVEL3_CACHE_SIZE);
  if (quick && n == 2048) n = 1024;
  if (array_mib <= 0) {
    /* STREAM's rule: each array well beyond the last-level cache, or we
     * measure the cache. A VM may report the host's whole L3, of which it
     * gets a share; cap at 1 GiB per array (3 GiB in all). */
    array_mib = quick ? 64 : (l3 > 0 ? 4 * (l3 >> 20) : 512);
    if (!quick && array_mib < 256) array_mib = 256;
    if (array_mib > 1024) array_mib = 1024;
  }
  int reps_gemm = quick ? 3 : 7, reps_stream = quick ? 5 : 10;

  printf("threads_all=%d\n", threads);
  printf("l3_cache_mib=%ld\n", l3 > 0 ? l3 >> 20 : -1);
  printf("sgemm_n=%d\n", n);
  fflush(stdout);
  int tcounts[2] = {1, threads};
  const char *suffix[2] = {"_1t", ""};
  for (int k = 0; k < 2; k++) {
    double best, median;
    int rc = bench_sgemm(n, tcounts[k], reps_gemm, &best, &median);
    if (rc == -1) { fprintf(stderr, "limits: out of memory for sgemm n=%d\n", n); return 1; }
    if (rc == -2) { fprintf(stderr, "limits: sgemm result wrong: OpenBLAS broken?\n"); return 1; }
    printf("sgemm_gflops%s=%.1f\nsgemm_gflops%s_median=%.1f\n", suffix[k], best, suffix[k], median);
    fflush(stdout);
    if (threads == 1) { /* "all threads" is the 1-thread figure: say so without re-measuring */
      printf("sgemm_gflops=%.1f\nsgemm_gflops_median=%.1f\n", best, median);
      break;
    }
  }

  size_t na = (size_t)array_mib * 1048576u / sizeof(double);
  double *a = malloc(na * sizeof *a), *b = malloc(na * sizeof *b), *c = malloc(na * sizeof *c);
  if (!a || !b || !c) { fprintf(stderr, "limits: out of memory for 3 x %ld MiB\n", array_mib); return 1; }
  /* first touch with the all-thread schedule, so pages sit where the threads
   * that use them run (matters on multi-socket nodes) */
#pragma omp parallel for num_threads(threads) schedule(static)
  for (size_t i = 0; i < na; i++) { a[i] = 0.0; b[i] = 1.0 + (double)(i & 7); c[i] = 2.0; }
  printf("stream_array_mib=%ld\n", array_mib);
  for (int k = 0; k < 2; k++) {
    double tb, tm, rb, rm;
    bench_stream(a, b, c, na, tcounts[k], reps_stream, &tb, &tm, &rb, &rm);
    printf("triad_gbs%s=%.1f\ntriad_gbs%s_median=%.1f\n", suffix[k], tb, suffix[k], tm);
    printf("read_gbs%s=%.1f\nread_gbs%s_median=%.1f\n", suffix[k], rb, suffix[k], rm);
    fflush(stdout);
    if (threads == 1) {
      printf("triad_gbs=%.1f\ntriad_gbs_median=%.1f\nread_gbs=%.1f\nread_gbs_median=%.1f\n", tb, tm, rb, rm);
      break;
    }
  }
  /* the triad must have computed b + 3c, or the timing measured nothing */
  int ok = 1;
  for (size_t i = 0; i < na; i += na / 7 + 1)
    if (a[i] != b[i] + 3.0 * c[i]) ok = 0;
  free(a); free(b); free(c);
  if (!ok) { fprintf(stderr, "limits: triad result wrong\n"); return 1; }
  return 0;
}
