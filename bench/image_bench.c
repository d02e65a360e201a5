/* image_bench.c - decode + DESIGN 3.1 preprocessing throughput, for
 * bench/image_bench.sh. Not a test: it asserts nothing.
 *
 * For each file: one warm-up pass, then repeated tc_image_read +
 * tc_resize_preprocess (Resize 256, CenterCrop 224, ImageNet normalisation)
 * until at least --seconds have passed (and at least 3 repetitions). Prints
 * key=value lines: <label>_decode_ms, <label>_preprocess_ms, <label>_ips
 * (images per second, decode + preprocess, one thread), best of the
 * repetitions' medians being noisy on a shared machine, the median is
 * reported.
 *
 * Usage: image_bench [--seconds S] label=path [label=path ...] */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "image.h"
#include "log.h"
#include "resize.h"

static int cmp_double(const void *a, const void *b) {
  double x = *(const double *)a, y = *(const double *)b;
  return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
  double seconds = 3.0;
  int first = 1;
  if (argc > 2 && strcmp(argv[1], "--seconds") == 0) seconds = atof(argv[2]), first = 3;
  if (first >= argc) {
    fprintf(stderr, "usage: image_bench [--seconds S] label=path ...\n");
    return 2;
  }
  TcPreproc p = TC_PREPROC_DEFAULT;
  float *x = malloc(sizeof(float) * 3 * 224 * 224);
  for (int a = first; a < argc; a++) {
    char label[64];
    const char *eq = strchr(argv[a], '=');
    if (!eq || eq - argv[a] >= (long)sizeof label) {
      fprintf(stderr, "bad argument %s (want label=path)\n", argv[a]);
      return 2;
    }
    memcpy(label, argv[a], (size_t)(eq - argv[a]));
    label[eq - argv[a]] = 0;
    const char *path = eq + 1;
    enum { MAXREP = 10000 };
    double *td = malloc(sizeof(double) * MAXREP), *tp = malloc(sizeof(double) * MAXREP);
    int n = 0;
    double t_start = tc_now();
    for (int rep = -1; rep < MAXREP; rep++) {
      TcImage im;
      double t0 = tc_now();
      if (tc_image_read(path, &im) != TC_OK) {
        fprintf(stderr, "image_bench: %s\n", tc_err_message());
        return 1;
      }
      double t1 = tc_now();
      if (tc_resize_preprocess(&im, &p, x) != TC_OK) {
        fprintf(stderr, "image_bench: %s\n", tc_err_message());
        return 1;
      }
      double t2 = tc_now();
      tc_image_free(&im);
      if (rep < 0) { t_start = tc_now(); continue; } /* warm-up (page cache, allocator) */
      td[n] = t1 - t0, tp[n] = t2 - t1, n++;
      if (n >= 3 && tc_now() - t_start >= seconds) break;
    }
    double *tt = malloc(sizeof(double) * n);
    for (int i = 0; i < n; i++) tt[i] = td[i] + tp[i];
    qsort(td, (size_t)n, sizeof *td, cmp_double);
    qsort(tp, (size_t)n, sizeof *tp, cmp_double);
    qsort(tt, (size_t)n, sizeof *tt, cmp_double);
    printf("%s_reps=%d\n%s_decode_ms=%.3f\n%s_preprocess_ms=%.3f\n%s_ips=%.1f\n", label, n, label,
           1e3 * td[n / 2], label, 1e3 * tp[n / 2], label, 1.0 / tt[n / 2]);
    fflush(stdout);
    free(td), free(tp), free(tt);
  }
  free(x);
  return 0;
}
