/* test_heatmap.c - heatmap (issue 16, predict --maps): the colour map's
 * ends and rising luminance, the colour range and its ticks (the threshold
 * at 1.0, the cap, raw units), the geometry, overlay pixels worked out by
 * hand (a map of zeros leaves the image as it was, half the threshold tints
 * it by 15 %, the outline at the threshold), the caption's ink, the PNG read
 * back with the project's reader, and bad input refused with nothing
 * written. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "heatmap.h"
#include "image.h"

static int exists_(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static int same_rgb_(const uint8_t *px, int r, int g, int b) {
  return px[0] == r && px[1] == g && px[2] == b;
}

static const uint8_t *at_(const uint8_t *rgb, const TcHeatmapLayout *l, int x, int y) {
  return rgb + ((size_t)y * l->width + x) * 3;
}

/* Overlay pixel (x, y) in overlay coordinates. */
static const uint8_t *overlay_(const uint8_t *rgb, const TcHeatmapLayout *l, int x, int y) {
  return at_(rgb, l, l->map_x + x, l->map_y + y);
}

static double luminance_(const uint8_t c[3]) { return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]; }

static void test_colour_(void) {
  uint8_t c[3], prev[3];
  tc_heatmap_colour(0, c);
  CHECK(same_rgb_(c, 68, 1, 84)); /* viridis(0) */
  tc_heatmap_colour(1, c);
  CHECK(same_rgb_(c, 253, 231, 37)); /* viridis(1) */
  tc_heatmap_colour(0.25, c);
  CHECK(same_rgb_(c, 59, 82, 139)); /* a control point, exactly */
  tc_heatmap_colour(-3, c);
  CHECK(same_rgb_(c, 68, 1, 84));
  tc_heatmap_colour(7, c);
  CHECK(same_rgb_(c, 253, 231, 37));
  tc_heatmap_colour(NAN, c);
  CHECK(same_rgb_(c, 253, 231, 37)); /* broken values look like the worst */
  int monotone = 1;
  tc_heatmap_colour(0, prev);
  for (int k = 1; k <= 1000; k++) {
    tc_heatmap_colour(k / 1000.0, c);
    if (luminance_(c) < luminance_(prev) - 0.5) monotone = 0; /* 8-bit rounding */
    memcpy(prev, c, 3);
  }
  CHECK(monotone);
  tc_heatmap_colour(0, prev);
  tc_heatmap_colour(1, c);
  CHECK(luminance_(c) > luminance_(prev) + 150);
}

static int n_threshold_ticks_(const TcHeatmapRange *r) {
  int n = 0;
  for (int k = 0; k < r->n_ticks; k++) n += r->ticks[k].threshold;
  return n;
}

static void test_range_(void) {
  float map[4] = {0, 0, 0, 0};
  TcHeatmapRange r;
  tc_heatmap_range(map, 4, 9000, &r);
  CHECK(r.calibrated && r.divisor == 9000 && r.vmax == 2.0 && r.knee == 1.0 && !r.saturated);
  CHECK_INT(r.n_ticks, 5);
  const char *want[5] = {"0", "0.5", "1.0", "1.5", "2.0"};
  for (int k = 0; k < 5 && k < r.n_ticks; k++) {
    CHECK_NEAR(r.ticks[k].value, 0.5 * k, 1e-12);
    CHECK_MSG(strcmp(r.ticks[k].label, want[k]) == 0, "tick %d: %s", k, r.ticks[k].label);
    CHECK_INT(r.ticks[k].threshold, k == 2);
  }
  CHECK(strcmp(r.unit, "x thr") == 0);

  /* 5 x threshold: ticks 0 2 4 6, the threshold added between 0 and 2 */
  map[1] = 5 * 9000.f;
  tc_heatmap_range(map, 4, 9000, &r);
  CHECK(r.vmax == 6.0 && r.n_ticks == 5 && n_threshold_ticks_(&r) == 1);
  CHECK(r.ticks[1].threshold && r.ticks[1].value == 1.0 && strcmp(r.ticks[1].label, "1") == 0);
  CHECK(strcmp(r.ticks[4].label, "6") == 0);

  /* 40 x threshold: the cap, with a '+' on top */
  map[1] = 40 * 9000.f;
  map[2] = NAN; /* non-finite values do not set the range */
  tc_heatmap_range(map, 4, 9000, &r);
  CHECK(r.vmax == TC_HEATMAP_CAP && r.saturated);
  CHECK_MSG(strcmp(r.ticks[r.n_ticks - 1].label, "10.0+") == 0, "%s", r.ticks[r.n_ticks - 1].label);
  CHECK(n_threshold_ticks_(&r) == 1);

  /* uncalibrated (0, negative, NaN, inf): raw units, no threshold */
  float raw[3] = {5400, 23811, -3};
  const double uncal[4] = {0, -1, NAN, INFINITY};
  for (int k = 0; k < 4; k++) {
    tc_heatmap_range(raw, 3, uncal[k], &r);
    CHECK(!r.calibrated && r.divisor == 1 && r.vmax == 30000 && r.knee == 15000);
    CHECK(n_threshold_ticks_(&r) == 0 && strcmp(r.unit, "raw") == 0);
  }
  CHECK(r.n_ticks == 4 && strcmp(r.ticks[0].label, "0") == 0);
  CHECK(strcmp(r.ticks[1].label, "10k") == 0 && strcmp(r.ticks[3].label, "30k") == 0);
  tc_heatmap_range(map, 0, 0, &r); /* nothing to range over: 0..1 */
  CHECK(r.vmax == 1.0 && r.n_ticks == 5 && strcmp(r.ticks[1].label, "0.25") == 0);
  float tiny[1] = {3e-9f};
  tc_heatmap_range(tiny, 1, 0, &r);
  CHECK_MSG(strcmp(r.ticks[r.n_ticks - 1].label, "4.0e-09") == 0, "%s", r.ticks[r.n_ticks - 1].label);
}

static void test_layout_(void) {
  TcHeatmapRange r;
  float zero = 0;
  tc_heatmap_range(&zero, 1, 1, &r);
  TcHeatmapLayout l;
  CHECK(tc_heatmap_layout(224, NULL, &r, &l) == TC_OK);
  CHECK(l.zoom == 2 && l.map_side == 448 && l.text_scale == 2 && l.caption_scale == 0);
  CHECK(l.bar_x > l.map_x + l.map_side && l.label_x > l.bar_x + l.bar_w);
  CHECK(l.width > l.label_x && l.height == l.map_y + l.map_side + l.map_x);
  int no_caption_y = l.map_y;
  CHECK(tc_heatmap_layout(224, "NG", &r, &l) == TC_OK);
  CHECK(l.caption_scale == 2 && l.map_y > no_caption_y && l.caption_y + 14 < l.map_y);
  CHECK(tc_heatmap_layout(64, "", &r, &l) == TC_OK);
  CHECK(l.zoom == 4 && l.map_side == 256 && l.text_scale == 1 && l.caption_scale == 0);
  CHECK(tc_heatmap_layout(300, NULL, &r, &l) == TC_OK && l.zoom == 1 && l.map_side == 300);
  char longer[200];
  memset(longer, 'x', sizeof longer - 1);
  longer[sizeof longer - 1] = '\0';
  CHECK(tc_heatmap_layout(224, longer, &r, &l) == TC_OK && l.caption_scale == 1);
  CHECK(tc_heatmap_layout(0, NULL, &r, &l) == TC_ERR_USAGE);
  CHECK(tc_heatmap_layout(TC_HEATMAP_MAX_SIZE + 1, NULL, &r, &l) == TC_ERR_USAGE);
  tc_err_clear();
}

/* A 32 px crop: pixel (x, y) of channel c holds (x * 7 + y * 3 + c * 50) % 256. */
static void fill_image_(uint8_t *px, int size, int channels) {
  for (int y = 0; y < size; y++)
    for (int x = 0; x < size; x++)
      for (int c = 0; c < channels; c++)
        px[((size_t)y * size + x) * channels + c] = (uint8_t)((x * 7 + y * 3 + c * 50) % 256);
}

/* Every overlay pixel equals its image pixel (gray copied to R, G, B). */
static int overlay_is_image_(const uint8_t *rgb, const TcHeatmapLayout *l, const uint8_t *px,
                             int size, int channels) {
  for (int y = 0; y < l->map_side; y++)
    for (int x = 0; x < l->map_side; x++) {
      const uint8_t *p = px + ((size_t)(y / l->zoom) * size + x / l->zoom) * channels;
      const uint8_t *o = overlay_(rgb, l, x, y);
      for (int c = 0; c < 3; c++)
        if (o[c] != p[channels == 3 ? c : 0]) return 0;
    }
  return 1;
}

static void test_zero_map_(void) {
  enum { S = 32 };
  static uint8_t px[S * S * 3];
  static float map[S * S];
  map[5] = -0.0f;
  map[6] = -2.0f; /* below zero counts as zero */
  for (int channels = 1; channels <= 3; channels += 2) {
    fill_image_(px, S, channels);
    for (int cal = 0; cal < 2; cal++) {
      TcHeatmapInput in = {px, S, channels, map, cal ? 7.0 : 0.0, NULL};
      TcHeatmapLayout l;
      uint8_t *rgb = NULL;
      CHECK(tc_heatmap_render(&in, &l, &rgb) == TC_OK && rgb);
      if (!rgb) continue;
      CHECK(l.zoom == 8 && l.map_side == 256);
      CHECK_MSG(overlay_is_image_(rgb, &l, px, S, channels), "channels %d calibrated %d", channels, cal);
      CHECK(same_rgb_(at_(rgb, &l, 0, 0), 255, 255, 255)); /* background */
      free(rgb);
    }
  }
}

/* A calibrated map: a 10 x 10 square at 1.5 x threshold, a pixel at half
 * the threshold; and an uncalibrated NaN. Image: all 100. */
static void test_overlay_values_(void) {
  enum { S = 32 };
  static uint8_t px[S * S * 3];
  static float map[S * S];
  memset(px, 100, sizeof px);
  for (int y = 10; y < 20; y++)
    for (int x = 10; x < 20; x++) map[y * S + x] = 1.5f * 4;
  map[2 * S + 3] = 0.5f * 4;
  TcHeatmapInput in = {px, S, 3, map, 4.0, "NG"};
  TcHeatmapLayout l;
  uint8_t *rgb = NULL;
  CHECK(tc_heatmap_render(&in, &l, &rgb) == TC_OK && rgb && l.zoom == 8);
  if (!rgb) return;
  /* half the threshold: opacity 0.6 * 0.5^2 = 0.15 of colour(0.25) =
   * (59, 82, 139): 0.85 * 100 + 0.15 * c = 93.85, 97.3, 105.85 */
  CHECK(same_rgb_(overlay_(rgb, &l, 3 * 8 + 4, 2 * 8 + 4), 94, 97, 106));
  /* 1.5 x threshold inside the square: opacity 0.6 of colour(0.75) =
   * (94, 201, 98): 40 + 0.6 * c = 96.4, 160.6, 98.8 */
  CHECK(same_rgb_(overlay_(rgb, &l, 15 * 8, 15 * 8), 96, 161, 99));
  /* its edge, on the inside, is outlined white; just outside it is not */
  CHECK(same_rgb_(overlay_(rgb, &l, 10 * 8, 15 * 8), 255, 255, 255));
  CHECK(same_rgb_(overlay_(rgb, &l, 19 * 8 + 7, 12 * 8), 255, 255, 255));
  CHECK(same_rgb_(overlay_(rgb, &l, 10 * 8 - 1, 15 * 8), 100, 100, 100));
  CHECK(same_rgb_(overlay_(rgb, &l, 10 * 8 + 1, 15 * 8), 96, 161, 99));
  free(rgb);

  map[0] = NAN;
  in.scale = 0; /* raw: no outline; NaN at full strength in the top colour:
                 * 40 + 0.6 * (253, 231, 37) = 191.8, 178.6, 62.2 */
  CHECK(tc_heatmap_render(&in, &l, &rgb) == TC_OK && rgb);
  if (!rgb) return;
  CHECK(same_rgb_(overlay_(rgb, &l, 0, 0), 192, 179, 62));
  CHECK(!same_rgb_(overlay_(rgb, &l, 10 * 8, 15 * 8), 255, 255, 255));
  free(rgb);
}

/* The bar: top colour at the top, bottom colour at the bottom, the
 * threshold drawn white across it at 1.0, the frame dark. */
static void test_bar_(void) {
  enum { S = 224 };
  static uint8_t px[S * S];
  static float map[S * S];
  TcHeatmapInput in = {px, S, 1, map, 1.0, NULL};
  TcHeatmapLayout l;
  uint8_t *rgb = NULL;
  CHECK(tc_heatmap_render(&in, &l, &rgb) == TC_OK && rgb);
  if (!rgb) return;
  int bottom = l.bar_y + l.bar_h - 1, mid = l.bar_x + l.bar_w / 2;
  CHECK(same_rgb_(at_(rgb, &l, mid, l.bar_y), 253, 231, 37));
  CHECK(same_rgb_(at_(rgb, &l, mid, bottom), 68, 1, 84));
  int thr_y = bottom - (int)lround((l.bar_h - 1) / 2.0); /* 1.0 of vmax 2 */
  CHECK(same_rgb_(at_(rgb, &l, mid, thr_y), 255, 255, 255));
  CHECK(same_rgb_(at_(rgb, &l, l.bar_x - 2, thr_y), 24, 24, 24)); /* stub left of the bar */
  CHECK(same_rgb_(at_(rgb, &l, mid, l.bar_y - 1), 24, 24, 24));    /* frame */
  int ink = 0; /* the labels right of the ticks */
  for (int y = l.bar_y - 8; y <= bottom + 8; y++)
    for (int x = l.label_x; x < l.width; x++) ink += at_(rgb, &l, x, y)[0] != 255;
  CHECK(ink > 100);
  free(rgb);
}

static int caption_ink_(const char *caption) {
  enum { S = 224 };
  static uint8_t px[S * S * 3];
  static float map[S * S];
  TcHeatmapInput in = {px, S, 3, map, 1.0, caption};
  TcHeatmapLayout l;
  uint8_t *rgb = NULL;
  if (tc_heatmap_render(&in, &l, &rgb) != TC_OK) return -1;
  int ink = 0; /* the caption's line (the bar's top label reaches above the overlay) */
  for (int y = l.caption_y; y < l.caption_y + 7 * l.caption_scale; y++)
    for (int x = 0; x < l.width; x++) ink += !same_rgb_(at_(rgb, &l, x, y), 255, 255, 255);
  free(rgb);
  return ink;
}

static void test_caption_(void) {
  int ink = caption_ink_("NG  score 1.83 x threshold");
  CHECK_MSG(ink > 300, "ink %d", ink);
  CHECK_INT(caption_ink_("    "), 0);
  CHECK_INT(caption_ink_(NULL), 0);
  /* bytes outside ASCII 32..126 are drawn as '?' */
  CHECK_INT(caption_ink_("\x01\xff"), caption_ink_("??"));
  CHECK(caption_ink_("?") > 0);
}

static void test_png_(const char *dir) {
  enum { S = 224 };
  static uint8_t px[S * S * 3];
  static float map[S * S];
  fill_image_(px, S, 3);
  for (int y = 100; y < 140; y++)
    for (int x = 60; x < 90; x++) map[y * S + x] = 2.5f;
  TcHeatmapInput in = {px, S, 3, map, 1.0, "NG  score 2.50 x threshold"};
  char path[600];
  snprintf(path, sizeof path, "%s/map.png", dir);
  CHECK(tc_heatmap_write_png(path, &in) == TC_OK);
  TcHeatmapLayout l;
  uint8_t *rgb = NULL;
  CHECK(tc_heatmap_render(&in, &l, &rgb) == TC_OK && rgb);
  TcImage img;
  CHECK(tc_image_read(path, &img) == TC_OK);
  CHECK(img.w == l.width && img.h == l.height && img.c == 3);
  if (rgb && img.rgb && img.w == l.width && img.h == l.height)
    CHECK(memcmp(img.rgb, rgb, (size_t)l.width * l.height * 3) == 0); /* lossless */
  /* a pixel of the image far from the square is the image's own */
  if (img.rgb) CHECK(same_rgb_(overlay_(img.rgb, &l, 2 * 10 + 1, 2 * 10), px[(10 * S + 10) * 3],
                               px[(10 * S + 10) * 3 + 1], px[(10 * S + 10) * 3 + 2]));
  tc_image_free(&img);
  free(rgb);
}

static void test_refused_(const char *dir) {
  enum { S = 16 };
  static uint8_t px[S * S * 3];
  static float map[S * S];
  char path[600];
  snprintf(path, sizeof path, "%s/bad.png", dir);
  TcHeatmapInput good = {px, S, 3, map, 1.0, "x"};
  TcHeatmapInput bad[5] = {good, good, good, good, good};
  bad[0].pixels = NULL;
  bad[1].map = NULL;
  bad[2].channels = 2;
  bad[3].size = 0;
  bad[4].size = TC_HEATMAP_MAX_SIZE + 1;
  for (int k = 0; k < 5; k++) {
    tc_err_clear();
    CHECK_MSG(tc_heatmap_write_png(path, &bad[k]) == TC_ERR_USAGE, "case %d", k);
    CHECK_MSG(strstr(tc_err_message(), path) != NULL, "case %d: %s", k, tc_err_message());
  }
  tc_err_clear();
  CHECK(tc_heatmap_write_png(path, NULL) == TC_ERR_USAGE);
  CHECK(tc_heatmap_write_png(NULL, &good) == TC_ERR_USAGE);
  uint8_t *rgb = (uint8_t *)1;
  TcHeatmapLayout l;
  CHECK(tc_heatmap_render(&bad[2], &l, &rgb) == TC_ERR_USAGE && rgb == NULL);
  CHECK(!exists_(path));
  char nodir[600];
  snprintf(nodir, sizeof nodir, "%s/no/such/dir/map.png", dir);
  tc_err_clear();
  CHECK(tc_heatmap_write_png(nodir, &good) == TC_ERR_IO);
  CHECK_MSG(strstr(tc_err_message(), nodir) != NULL, "%s", tc_err_message());
  tc_err_clear();
}

int main(void) {
  char dir[512];
  tc_test_tmpdir(dir, sizeof dir, "test_heatmap");
  test_colour_();
  test_range_();
  test_layout_();
  test_zero_map_();
  test_overlay_values_();
  test_bar_();
  test_caption_();
  test_png_(dir);
  test_refused_(dir);
  tc_test_tmpdir_remove(dir);
  return tc_test_report();
}
