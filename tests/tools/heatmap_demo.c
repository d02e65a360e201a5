/* heatmap_demo.c - sample heatmap overlays (heatmap.h) to look at, from a
 * synthetic woven product with a dark blob defect and a map shaped like the
 * ones predict computes (a smooth bump over a noisy floor). One process, no
 * mpirun.
 *
 *   heatmap_demo OUTDIR
 *     writes OUTDIR/ng.png (blob at 1.8 x threshold), ok.png (a good image,
 *     0.6 x threshold at most), raw.png (the same map uncalibrated, raw
 *     squared-L2 units near the demo's 5e3..2.4e4), huge.png (40 x
 *     threshold: the bar stops at its cap), small_gray.png (a 64 px gray
 *     crop enlarged 4x, with NaN map pixels) and long_caption.png.
 * Last line: "N passed, N failed" (every file written and read back). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "../unit/check.h"
#include "heatmap.h"
#include "image.h"

#define DEMO_THRESHOLD 9000.0 /* a raw threshold of the size predict sees */

/* A woven texture in a warm colour, with a dark blob at (0.65, 0.35). */
static void product_(int size, int channels, uint8_t *px) {
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) {
      double weave = 0.5 + 0.25 * sin(x * 0.9) * sin(y * 0.9) + 0.15 * sin((x + y) * 0.21);
      double dx = x - 0.65 * size, dy = y - 0.35 * size;
      double blob = exp(-(dx * dx + dy * dy) / (2 * pow(0.05 * size, 2)));
      double shade = weave * (1 - 0.8 * blob);
      const double tint[3] = {190, 150, 105};
      for (int c = 0; c < channels; c++) {
        double v = channels == 3 ? tint[c] * (0.55 + 0.6 * shade) : 180 * (0.55 + 0.6 * shade);
        px[((size_t)y * size + x) * channels + c] = (uint8_t)fmin(255, v);
      }
    }
}

/* The map: floor * threshold with a little ripple, plus a bump whose peak
 * reaches `peak` x threshold over the blob. */
static void map_(int size, double floor, double peak, float *map) {
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++) {
      double dx = x - 0.65 * size, dy = y - 0.35 * size;
      double bump = exp(-(dx * dx + dy * dy) / (2 * pow(0.08 * size, 2)));
      double ripple = 0.08 * sin(x * 0.13 + 1) * cos(y * 0.11);
      double v = (floor + ripple) * (1 - bump) + peak * bump;
      map[(size_t)y * size + x] = (float)(v * DEMO_THRESHOLD);
    }
}

/* Write one sample and check it decodes with the size the layout gives. */
static void sample_(const char *dir, const char *name, int size, int channels, double floor,
                    double peak, double scale, const char *caption) {
  uint8_t *px = malloc((size_t)size * size * channels);
  float *map = malloc(sizeof(float) * (size_t)size * size);
  product_(size, channels, px);
  map_(size, floor, peak, map);
  if (channels == 1)
    for (int k = 0; k < 40; k++) map[(size_t)(size / 2) * size + k] = NAN;
  char path[600];
  snprintf(path, sizeof path, "%s/%s", dir, name);
  TcHeatmapInput in = {px, size, channels, map, scale, caption};
  TcErr err = tc_heatmap_write_png(path, &in);
  CHECK_MSG(err == TC_OK, "%s: %s", path, tc_err_message());
  TcHeatmapLayout l;
  uint8_t *rgb = NULL;
  CHECK(tc_heatmap_render(&in, &l, &rgb) == TC_OK);
  TcImage img;
  CHECK(tc_image_read(path, &img) == TC_OK && img.w == l.width && img.h == l.height);
  printf("%s: %d x %d, overlay %d px (zoom %d, text %dx)\n", path, l.width, l.height, l.map_side,
         l.zoom, l.text_scale);
  tc_image_free(&img);
  free(rgb);
  free(px);
  free(map);
}

int main(int argc, char **argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: heatmap_demo OUTDIR\n");
    return 2;
  }
  const char *dir = argv[1];
  sample_(dir, "ng.png", 224, 3, 0.35, 1.8, DEMO_THRESHOLD, "NG  score 1.83 x threshold");
  sample_(dir, "ok.png", 224, 3, 0.35, 0.6, DEMO_THRESHOLD, "OK  score 0.62 x threshold");
  sample_(dir, "raw.png", 224, 3, 0.6, 2.6, 0, "score 23811 (uncalibrated)");
  sample_(dir, "huge.png", 224, 3, 0.35, 40, DEMO_THRESHOLD, "NG  score 41.2 x threshold");
  sample_(dir, "small_gray.png", 64, 1, 0.35, 1.3, DEMO_THRESHOLD, "NG  1.31 x thr");
  sample_(dir, "long_caption.png", 224, 3, 0.35, 1.2, DEMO_THRESHOLD,
          "NG  score 1.24 x threshold  carpet/test/color/000.png  (class carpet, 98.7%)");
  return tc_test_report();
}
