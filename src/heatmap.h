/* heatmap.h - the operator's heatmap overlay of one scored image (issue 16,
 * predict --maps DIR): an RGB PNG holding the image under its anomaly map in
 * colour, a colour bar with tick labels, and a caption line.
 *
 * Picture, top to bottom: the caption (when given), then the overlay with
 * the colour bar to its right and the bar's unit under the bar ("x thr"
 * for a calibrated map, "raw" otherwise). White background, dark text from
 * a built-in 5x7 font (ASCII 32..126; other bytes are drawn as '?').
 *
 * Values. A calibrated map (scale > 0 and finite, scale = the model's
 * threshold) is drawn in units of the threshold, v = map / scale, so 1.0 is
 * the OK/NG boundary; the bar's range is 0..vmax with
 * vmax = max(2, a rounded value at or above the map's max), capped at
 * TC_HEATMAP_CAP: larger values take the top colour and the top label gets
 * a '+'. The cap keeps the threshold line on the bar high enough to be
 * read and the colours of NG images comparable with each other; the
 * caption carries the exact score. An uncalibrated map (scale <= 0 or not
 * finite) is drawn raw, 0..a rounded value at or above its max, without a
 * threshold. Negative values count as 0 (squared distances are never
 * negative; rounding can make -0.0); non-finite values (NaN, +-inf) are
 * drawn in the top colour at full strength, as the worst a map can say,
 * rather than refused: the scores were already written, and the picture
 * shows where the computation broke down.
 *
 * Colours: viridis (matplotlib's, from 9 control points, linear in
 * between): perceptually ordered, luminance increasing, readable by
 * colour-blind operators. The overlay blends the image with the colour of
 * each pixel with opacity TC_HEATMAP_ALPHA * min(1, v / knee)^2, knee =
 * 1.0 (the threshold) calibrated, vmax / 2 raw: a map of zeros leaves the
 * image exactly as it was, normal texture is tinted lightly, anything at
 * the threshold and above is strongly coloured while the product shows
 * through. A calibrated overlay also outlines, in white, the pixels where
 * the map itself reaches the threshold (or is not finite). The map is smoothed (DESIGN 3.7),
 * so an image whose score (its largest patch) is only just above the
 * threshold can have no outline.
 *
 * Size: crops below 256 px are enlarged by an integer factor (nearest
 * neighbour, so one map pixel stays one block) to at least 256 px; text is
 * drawn 1x up to 447 px of overlay, then 2x, 3x, 4x per 224 px. The default
 * 224 px crop makes a 448 px overlay with 2x text.
 *
 * All functions are Local (no MPI) and deterministic. */
#ifndef TC_HEATMAP_H
#define TC_HEATMAP_H

#include <stdint.h>

#include "err.h"

#define TC_HEATMAP_MAX_SIZE 8192 /* largest crop side accepted */
#define TC_HEATMAP_CAP 10.0      /* top of a calibrated bar, x threshold */
#define TC_HEATMAP_ALPHA 0.6     /* overlay opacity at and above the knee */
#define TC_HEATMAP_MAX_TICKS 8
#define TC_HEATMAP_BACKGROUND 255 /* grey level of everything not drawn */

/* What to draw. */
typedef struct {
  const uint8_t *pixels; /* [size x size x channels] row-major, interleaved:
                          * the image after tc_resize_preprocess_u8 */
  int size;              /* crop side, 1..TC_HEATMAP_MAX_SIZE */
  int channels;          /* 1 (gray) or 3 (RGB) */
  const float *map;      /* [size x size] anomaly map, raw squared L2 */
  double scale;          /* threshold to divide by; <= 0 or NaN: raw */
  const char *caption;   /* one line, e.g. "NG  score 1.83 x threshold";
                          * NULL or "" for none */
} TcHeatmapInput;

typedef struct {
  double value;  /* position on the bar, in the bar's units */
  char label[16];
  int threshold; /* 1 for the OK/NG boundary (1.0 on a calibrated bar) */
} TcHeatmapTick;

/* The colour range of one map. */
typedef struct {
  int calibrated;  /* scale > 0 and finite */
  double divisor;  /* scale when calibrated, else 1 */
  double vmax;     /* value of the top colour (> 0) */
  double knee;     /* value from which the overlay is fully opaque-ish */
  int saturated;   /* some finite value lies above vmax (the cap) */
  int n_ticks;     /* 2..TC_HEATMAP_MAX_TICKS, by increasing value */
  TcHeatmapTick ticks[TC_HEATMAP_MAX_TICKS];
  const char *unit; /* "x thr" or "raw" */
} TcHeatmapRange;

/* Where things are in the picture, in pixels from its top-left corner. */
typedef struct {
  int width, height;  /* the whole PNG */
  int zoom;           /* overlay pixels per crop pixel (>= 1) */
  int text_scale;     /* font pixels per glyph pixel for labels */
  int map_x, map_y, map_side; /* the overlay: map_side = size * zoom */
  int bar_x, bar_y, bar_w, bar_h;
  int tick_len, label_x;
  int unit_x, unit_y;
  int caption_x, caption_y, caption_scale; /* caption_scale 0: no caption */
} TcHeatmapLayout;

/* Colour of normalised value t (0 = bottom of the bar, 1 = top) into
 * rgb[3]. t is clamped to [0, 1]; NaN gives the top colour. Local. */
void tc_heatmap_colour(double t, uint8_t rgb[3]);

/* The colour range and ticks of a map of n values divided by scale (see
 * the header comment). Ticks are evenly spaced from 0 to vmax by 1, 2, 2.5
 * or 5 times a power of ten, at most 5 of them, plus the threshold at 1.0
 * on a calibrated bar when it is not one already. Labels: "0" at the
 * bottom, the others with the decimals the step needs, raw ones from 1e4 up
 * in thousands ("k"), millions ("M") or billions ("G"); all in "%.1e" when
 * one would be longer than 7 characters. Local. */
void tc_heatmap_range(const float *map, int64_t n, double scale, TcHeatmapRange *r);

/* The picture's geometry for a crop side and caption (see the header
 * comment); a caption too wide for the picture is drawn smaller, down to
 * 1x, then cut at the right edge. Local.
 * Errors: TC_ERR_USAGE unless 1 <= size <= TC_HEATMAP_MAX_SIZE. */
TcErr tc_heatmap_layout(int size, const char *caption, const TcHeatmapRange *r,
                        TcHeatmapLayout *l);

/* Draw the picture. Local.
 *   in  (input) see TcHeatmapInput.
 *   l   (output) its geometry.
 *   rgb (output) [l->height x l->width x 3], allocated here; the caller
 *       frees it with free(). NULL on failure.
 * Errors: TC_ERR_USAGE (NULL input, size outside 1..TC_HEATMAP_MAX_SIZE,
 * channels not 1 or 3), TC_ERR_MEM. */
TcErr tc_heatmap_render(const TcHeatmapInput *in, TcHeatmapLayout *l, uint8_t **rgb);

/* Draw the picture and write it as an RGB PNG with tc_image_write (under a
 * temporary name, renamed when complete; byte-for-byte deterministic).
 * Local. Errors: as tc_heatmap_render, with messages naming path;
 * TC_ERR_IO / TC_ERR_LIB from tc_image_write, naming path. */
TcErr tc_heatmap_write_png(const char *path, const TcHeatmapInput *in);

#endif
