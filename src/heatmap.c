/* heatmap.c - the operator's heatmap overlay PNG (see heatmap.h). */
#include "heatmap.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "image_write.h"

static const uint8_t text_rgb_[3] = {24, 24, 24};
static const uint8_t outline_rgb_[3] = {255, 255, 255};

/* matplotlib's viridis at t = 0, 1/8, ..., 1 (rounded to 8 bits); its
 * luminance rises at every step, so linear interpolation keeps it monotone. */
static const uint8_t viridis_[9][3] = {
    {68, 1, 84},    {71, 45, 123},  {59, 82, 139},  {44, 114, 142}, {33, 145, 140},
    {40, 174, 128}, {94, 201, 98},  {173, 220, 48}, {253, 231, 37}};

/* 5x7 glyphs for ASCII 32..126, one byte per row from the top, bit 4 the
 * leftmost column. Drawn for this module (no third-party font data). */
static const uint8_t font_[95][7] = {
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x00}, /* space */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x00, 0x04}, /* ! */
    {0x0A, 0x0A, 0x0A, 0x00, 0x00, 0x00, 0x00}, /* " */
    {0x0A, 0x0A, 0x1F, 0x0A, 0x1F, 0x0A, 0x0A}, /* # */
    {0x04, 0x0F, 0x14, 0x0E, 0x05, 0x1E, 0x04}, /* $ */
    {0x18, 0x19, 0x02, 0x04, 0x08, 0x13, 0x03}, /* % */
    {0x0C, 0x12, 0x14, 0x08, 0x15, 0x12, 0x0D}, /* & */
    {0x04, 0x04, 0x04, 0x00, 0x00, 0x00, 0x00}, /* ' */
    {0x02, 0x04, 0x08, 0x08, 0x08, 0x04, 0x02}, /* ( */
    {0x08, 0x04, 0x02, 0x02, 0x02, 0x04, 0x08}, /* ) */
    {0x00, 0x04, 0x15, 0x0E, 0x15, 0x04, 0x00}, /* * */
    {0x00, 0x04, 0x04, 0x1F, 0x04, 0x04, 0x00}, /* + */
    {0x00, 0x00, 0x00, 0x00, 0x0C, 0x04, 0x08}, /* , */
    {0x00, 0x00, 0x00, 0x1F, 0x00, 0x00, 0x00}, /* - */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x0C, 0x0C}, /* . */
    {0x00, 0x01, 0x02, 0x04, 0x08, 0x10, 0x00}, /* / */
    {0x0E, 0x11, 0x13, 0x15, 0x19, 0x11, 0x0E}, /* 0 */
    {0x04, 0x0C, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* 1 */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x08, 0x1F}, /* 2 */
    {0x1F, 0x02, 0x04, 0x02, 0x01, 0x11, 0x0E}, /* 3 */
    {0x02, 0x06, 0x0A, 0x12, 0x1F, 0x02, 0x02}, /* 4 */
    {0x1F, 0x10, 0x1E, 0x01, 0x01, 0x11, 0x0E}, /* 5 */
    {0x06, 0x08, 0x10, 0x1E, 0x11, 0x11, 0x0E}, /* 6 */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x08, 0x08}, /* 7 */
    {0x0E, 0x11, 0x11, 0x0E, 0x11, 0x11, 0x0E}, /* 8 */
    {0x0E, 0x11, 0x11, 0x0F, 0x01, 0x02, 0x0C}, /* 9 */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x0C, 0x00}, /* : */
    {0x00, 0x0C, 0x0C, 0x00, 0x0C, 0x04, 0x08}, /* ; */
    {0x02, 0x04, 0x08, 0x10, 0x08, 0x04, 0x02}, /* < */
    {0x00, 0x00, 0x1F, 0x00, 0x1F, 0x00, 0x00}, /* = */
    {0x08, 0x04, 0x02, 0x01, 0x02, 0x04, 0x08}, /* > */
    {0x0E, 0x11, 0x01, 0x02, 0x04, 0x00, 0x04}, /* ? */
    {0x0E, 0x11, 0x01, 0x0D, 0x15, 0x15, 0x0E}, /* @ */
    {0x0E, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* A */
    {0x1E, 0x11, 0x11, 0x1E, 0x11, 0x11, 0x1E}, /* B */
    {0x0E, 0x11, 0x10, 0x10, 0x10, 0x11, 0x0E}, /* C */
    {0x1C, 0x12, 0x11, 0x11, 0x11, 0x12, 0x1C}, /* D */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x1F}, /* E */
    {0x1F, 0x10, 0x10, 0x1E, 0x10, 0x10, 0x10}, /* F */
    {0x0E, 0x11, 0x10, 0x17, 0x11, 0x11, 0x0F}, /* G */
    {0x11, 0x11, 0x11, 0x1F, 0x11, 0x11, 0x11}, /* H */
    {0x0E, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* I */
    {0x07, 0x02, 0x02, 0x02, 0x02, 0x12, 0x0C}, /* J */
    {0x11, 0x12, 0x14, 0x18, 0x14, 0x12, 0x11}, /* K */
    {0x10, 0x10, 0x10, 0x10, 0x10, 0x10, 0x1F}, /* L */
    {0x11, 0x1B, 0x15, 0x15, 0x11, 0x11, 0x11}, /* M */
    {0x11, 0x11, 0x19, 0x15, 0x13, 0x11, 0x11}, /* N */
    {0x0E, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* O */
    {0x1E, 0x11, 0x11, 0x1E, 0x10, 0x10, 0x10}, /* P */
    {0x0E, 0x11, 0x11, 0x11, 0x15, 0x12, 0x0D}, /* Q */
    {0x1E, 0x11, 0x11, 0x1E, 0x14, 0x12, 0x11}, /* R */
    {0x0F, 0x10, 0x10, 0x0E, 0x01, 0x01, 0x1E}, /* S */
    {0x1F, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* T */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x11, 0x0E}, /* U */
    {0x11, 0x11, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* V */
    {0x11, 0x11, 0x11, 0x15, 0x15, 0x15, 0x0A}, /* W */
    {0x11, 0x11, 0x0A, 0x04, 0x0A, 0x11, 0x11}, /* X */
    {0x11, 0x11, 0x0A, 0x04, 0x04, 0x04, 0x04}, /* Y */
    {0x1F, 0x01, 0x02, 0x04, 0x08, 0x10, 0x1F}, /* Z */
    {0x0E, 0x08, 0x08, 0x08, 0x08, 0x08, 0x0E}, /* [ */
    {0x00, 0x10, 0x08, 0x04, 0x02, 0x01, 0x00}, /* backslash */
    {0x0E, 0x02, 0x02, 0x02, 0x02, 0x02, 0x0E}, /* ] */
    {0x04, 0x0A, 0x11, 0x00, 0x00, 0x00, 0x00}, /* ^ */
    {0x00, 0x00, 0x00, 0x00, 0x00, 0x00, 0x1F}, /* _ */
    {0x08, 0x04, 0x02, 0x00, 0x00, 0x00, 0x00}, /* ` */
    {0x00, 0x00, 0x0E, 0x01, 0x0F, 0x11, 0x0F}, /* a */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x1E}, /* b */
    {0x00, 0x00, 0x0E, 0x10, 0x10, 0x11, 0x0E}, /* c */
    {0x01, 0x01, 0x0D, 0x13, 0x11, 0x11, 0x0F}, /* d */
    {0x00, 0x00, 0x0E, 0x11, 0x1F, 0x10, 0x0E}, /* e */
    {0x06, 0x09, 0x08, 0x1C, 0x08, 0x08, 0x08}, /* f */
    {0x00, 0x0F, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* g */
    {0x10, 0x10, 0x16, 0x19, 0x11, 0x11, 0x11}, /* h */
    {0x04, 0x00, 0x0C, 0x04, 0x04, 0x04, 0x0E}, /* i */
    {0x02, 0x00, 0x06, 0x02, 0x02, 0x12, 0x0C}, /* j */
    {0x10, 0x10, 0x12, 0x14, 0x18, 0x14, 0x12}, /* k */
    {0x0C, 0x04, 0x04, 0x04, 0x04, 0x04, 0x0E}, /* l */
    {0x00, 0x00, 0x1A, 0x15, 0x15, 0x11, 0x11}, /* m */
    {0x00, 0x00, 0x16, 0x19, 0x11, 0x11, 0x11}, /* n */
    {0x00, 0x00, 0x0E, 0x11, 0x11, 0x11, 0x0E}, /* o */
    {0x00, 0x00, 0x1E, 0x11, 0x1E, 0x10, 0x10}, /* p */
    {0x00, 0x00, 0x0D, 0x13, 0x0F, 0x01, 0x01}, /* q */
    {0x00, 0x00, 0x16, 0x19, 0x10, 0x10, 0x10}, /* r */
    {0x00, 0x00, 0x0E, 0x10, 0x0E, 0x01, 0x1E}, /* s */
    {0x08, 0x08, 0x1C, 0x08, 0x08, 0x09, 0x06}, /* t */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x13, 0x0D}, /* u */
    {0x00, 0x00, 0x11, 0x11, 0x11, 0x0A, 0x04}, /* v */
    {0x00, 0x00, 0x11, 0x11, 0x15, 0x15, 0x0A}, /* w */
    {0x00, 0x00, 0x11, 0x0A, 0x04, 0x0A, 0x11}, /* x */
    {0x00, 0x00, 0x11, 0x11, 0x0F, 0x01, 0x0E}, /* y */
    {0x00, 0x00, 0x1F, 0x02, 0x04, 0x08, 0x1F}, /* z */
    {0x02, 0x04, 0x04, 0x08, 0x04, 0x04, 0x02}, /* { */
    {0x04, 0x04, 0x04, 0x04, 0x04, 0x04, 0x04}, /* | */
    {0x08, 0x04, 0x04, 0x02, 0x04, 0x04, 0x08}, /* } */
    {0x00, 0x00, 0x08, 0x15, 0x02, 0x00, 0x00}, /* ~ */
};

void tc_heatmap_colour(double t, uint8_t rgb[3]) {
  if (!(t >= 0)) t = isnan(t) ? 1 : 0;
  if (t > 1) t = 1;
  double pos = t * 8;
  int k = (int)pos;
  if (k > 7) k = 7;
  double f = pos - k;
  for (int c = 0; c < 3; c++)
    rgb[c] = (uint8_t)lround((1 - f) * viridis_[k][c] + f * viridis_[k + 1][c]);
}

/* The smallest of 1, 2, 2.5, 5 times a power of ten that is >= x > 0. */
static double nice_step_(double x) {
  static const double mult[4] = {1, 2, 2.5, 5};
  double p = pow(10, floor(log10(x)));
  for (int k = 0; k < 4; k++)
    if (x <= mult[k] * p * (1 + 1e-12)) return mult[k] * p;
  return 10 * p;
}

/* Decimals that print step (in units of div) exactly. */
static int decimals_(double step) {
  int d = 0;
  for (double s = step; d < 6 && fabs(s - round(s)) > 1e-6 * s; s *= 10) d++;
  return d;
}

/* Labels of every tick: fixed-point in units of div with a suffix, or
 * "%.1e" for all when one would be longer than 7 characters. */
static void label_ticks_(TcHeatmapRange *r, double step) {
  static const struct {
    double from, div;
    const char *suffix;
  } units[4] = {{1e10, 1e9, "G"}, {1e7, 1e6, "M"}, {1e4, 1e3, "k"}, {0, 1, ""}};
  int u = 0;
  while (u < 3 && (r->calibrated || r->vmax < units[u].from)) u++;
  int d = decimals_(step / units[u].div), longest = 0;
  for (int k = 0; k < r->n_ticks; k++) {
    TcHeatmapTick *t = &r->ticks[k];
    int len = snprintf(t->label, sizeof t->label, "%.*f%s", d, t->value / units[u].div,
                       units[u].suffix);
    if (len > longest) longest = len;
  }
  for (int k = 0; longest > 7 && k < r->n_ticks; k++)
    snprintf(r->ticks[k].label, sizeof r->ticks[k].label, "%.1e", r->ticks[k].value);
  snprintf(r->ticks[0].label, sizeof r->ticks[0].label, "0"); /* "0k", "0.0e+00" say less */
  if (r->saturated) {
    char *top = r->ticks[r->n_ticks - 1].label;
    size_t len = strlen(top);
    if (len + 1 < sizeof r->ticks[0].label) memcpy(top + len, "+", 2);
  }
}

/* Put the threshold tick at 1.0 (marking a regular tick when one is there). */
static void add_threshold_tick_(TcHeatmapRange *r) {
  int at = 0;
  while (at < r->n_ticks && r->ticks[at].value < 1 - 1e-9) at++;
  if (at < r->n_ticks && fabs(r->ticks[at].value - 1) <= 1e-9) {
    r->ticks[at].threshold = 1;
    return;
  }
  memmove(&r->ticks[at + 1], &r->ticks[at], sizeof r->ticks[0] * (size_t)(r->n_ticks - at));
  r->ticks[at] = (TcHeatmapTick){.value = 1.0, .threshold = 1};
  r->n_ticks++;
}

void tc_heatmap_range(const float *map, int64_t n, double scale, TcHeatmapRange *r) {
  memset(r, 0, sizeof *r);
  r->calibrated = isfinite(scale) && scale > 0;
  r->divisor = r->calibrated ? scale : 1;
  r->unit = r->calibrated ? "x thr" : "raw";
  double top = 0;
  for (int64_t i = 0; i < n; i++)
    if (isfinite(map[i]) && map[i] / r->divisor > top) top = map[i] / r->divisor;
  double target = top > 0 ? top : 1;
  if (r->calibrated) {
    if (target < 2) target = 2;
    if (target > TC_HEATMAP_CAP) target = TC_HEATMAP_CAP, r->saturated = 1;
  }
  /* at most 4 intervals: 5 regular ticks, plus the threshold */
  double step = nice_step_(target / 4);
  int intervals = (int)ceil(target / step - 1e-9);
  r->vmax = step * intervals;
  r->knee = r->calibrated ? 1.0 : r->vmax / 2;
  r->n_ticks = intervals + 1;
  for (int k = 0; k <= intervals; k++) r->ticks[k].value = step * k;
  if (r->calibrated) add_threshold_tick_(r);
  label_ticks_(r, step);
}

/* Width in pixels of n characters at font scale s (no trailing gap). */
static int text_width_(size_t n, int s) { return n ? (int)n * 6 * s - s : 0; }

TcErr tc_heatmap_layout(int size, const char *caption, const TcHeatmapRange *r,
                        TcHeatmapLayout *l) {
  TC_CHECK(size >= 1 && size <= TC_HEATMAP_MAX_SIZE, TC_ERR_USAGE,
           "heatmap: crop side %d outside 1..%d", size, TC_HEATMAP_MAX_SIZE);
  memset(l, 0, sizeof *l);
  l->zoom = size >= 256 ? 1 : (256 + size - 1) / size;
  l->map_side = size * l->zoom;
  int ts = l->map_side / 224;
  ts = ts < 1 ? 1 : ts > 4 ? 4 : ts;
  l->text_scale = ts;
  int margin = 6 * ts, glyph_h = 7 * ts;
  size_t label_chars = 0;
  for (int k = 0; k < r->n_ticks; k++)
    if (strlen(r->ticks[k].label) > label_chars) label_chars = strlen(r->ticks[k].label);
  l->map_x = margin;
  l->bar_x = l->map_x + l->map_side + margin;
  l->bar_w = 10 * ts;
  l->tick_len = 3 * ts;
  /* a tick touching its label would read as a minus sign */
  l->label_x = l->bar_x + l->bar_w + l->tick_len + 3 * ts;
  l->unit_x = l->bar_x;
  int right = l->label_x + text_width_(label_chars, ts);
  int unit_right = l->unit_x + text_width_(strlen(r->unit), ts);
  l->width = (right > unit_right ? right : unit_right) + margin;
  l->map_y = margin;
  if (caption && *caption) {
    int cs = ts;
    while (cs > 1 && text_width_(strlen(caption), cs) > l->width - 2 * margin) cs--;
    l->caption_scale = cs;
    l->caption_x = margin;
    l->caption_y = margin;
    l->map_y = margin + 7 * cs + margin;
  }
  l->bar_y = l->map_y;
  l->unit_y = l->map_y + l->map_side - glyph_h;
  /* room under the bar for half of the bottom label, a gap, the unit */
  l->bar_h = l->unit_y - 6 * ts - l->bar_y;
  l->height = l->map_y + l->map_side + margin;
  return TC_OK;
}

/* A picture being drawn: [h x w x 3]. */
typedef struct {
  uint8_t *rgb;
  int w, h;
} Canvas_;

static void fill_rect_(Canvas_ *cv, int x, int y, int w, int h, const uint8_t rgb[3]) {
  int x1 = x + w < cv->w ? x + w : cv->w, y1 = y + h < cv->h ? y + h : cv->h;
  for (int yy = y < 0 ? 0 : y; yy < y1; yy++)
    for (int xx = x < 0 ? 0 : x; xx < x1; xx++) memcpy(cv->rgb + ((size_t)yy * cv->w + xx) * 3, rgb, 3);
}

/* Text with its top-left corner at (x, y), glyph pixels s x s, cut at the
 * canvas edges. */
static void draw_text_(Canvas_ *cv, int x, int y, int s, const char *text) {
  for (const unsigned char *p = (const unsigned char *)text; *p; p++, x += 6 * s) {
    const uint8_t *g = font_[(*p >= 32 && *p <= 126 ? *p : '?') - 32];
    for (int row = 0; row < 7; row++)
      for (int col = 0; col < 5; col++)
        if (g[row] & (0x10 >> col)) fill_rect_(cv, x + col * s, y + row * s, s, s, text_rgb_);
  }
}

/* A map pixel in bar units; NaN for a non-finite raw value. */
static double value_(const TcHeatmapInput *in, const TcHeatmapRange *r, int cx, int cy) {
  float raw = in->map[(size_t)cy * in->size + cx];
  if (!isfinite(raw)) return NAN;
  double v = raw / r->divisor;
  return v > 0 ? v : 0;
}

static int at_threshold_(const TcHeatmapInput *in, const TcHeatmapRange *r, int cx, int cy) {
  double v = value_(in, r, cx, cy);
  return isnan(v) || v >= 1;
}

/* Whether overlay pixel (x, y) lies on the inner edge of the region at or
 * above the threshold; the overlay's border is no edge. */
static int on_outline_(const TcHeatmapInput *in, const TcHeatmapRange *r, int zoom, int x, int y) {
  int side = in->size * zoom;
  if (!at_threshold_(in, r, x / zoom, y / zoom)) return 0;
  static const int dx[4] = {-1, 1, 0, 0}, dy[4] = {0, 0, -1, 1};
  for (int k = 0; k < 4; k++) {
    int nx = x + dx[k], ny = y + dy[k];
    if (nx < 0 || ny < 0 || nx >= side || ny >= side) continue;
    if (!at_threshold_(in, r, nx / zoom, ny / zoom)) return 1;
  }
  return 0;
}

static void draw_overlay_(Canvas_ *cv, const TcHeatmapInput *in, const TcHeatmapRange *r,
                          const TcHeatmapLayout *l) {
  for (int y = 0; y < l->map_side; y++)
    for (int x = 0; x < l->map_side; x++) {
      int cx = x / l->zoom, cy = y / l->zoom;
      uint8_t *out = cv->rgb + ((size_t)(l->map_y + y) * cv->w + l->map_x + x) * 3;
      if (r->calibrated && on_outline_(in, r, l->zoom, x, y)) {
        memcpy(out, outline_rgb_, 3);
        continue;
      }
      double v = value_(in, r, cx, cy);
      double q = isnan(v) ? 1 : fmin(1, v / r->knee);
      double alpha = TC_HEATMAP_ALPHA * q * q;
      uint8_t colour[3];
      tc_heatmap_colour(isnan(v) ? 1 : v / r->vmax, colour);
      const uint8_t *px = in->pixels + ((size_t)cy * in->size + cx) * in->channels;
      for (int c = 0; c < 3; c++) {
        double image = px[in->channels == 3 ? c : 0];
        out[c] = (uint8_t)lround((1 - alpha) * image + alpha * colour[c]);
      }
    }
}

/* The colour bar (top = vmax), its frame, ticks, labels and unit. */
static void draw_bar_(Canvas_ *cv, const TcHeatmapRange *r, const TcHeatmapLayout *l) {
  int ts = l->text_scale, bottom = l->bar_y + l->bar_h - 1;
  fill_rect_(cv, l->bar_x - 1, l->bar_y - 1, l->bar_w + 2, l->bar_h + 2, text_rgb_);
  for (int y = l->bar_y; y <= bottom; y++) {
    uint8_t colour[3];
    tc_heatmap_colour((double)(bottom - y) / (l->bar_h - 1), colour);
    fill_rect_(cv, l->bar_x, y, l->bar_w, 1, colour);
  }
  for (int k = 0; k < r->n_ticks; k++) {
    const TcHeatmapTick *t = &r->ticks[k];
    int y = bottom - (int)lround(t->value / r->vmax * (l->bar_h - 1));
    int x0 = l->bar_x + l->bar_w, x1 = x0 + l->tick_len;
    if (t->threshold) {
      /* across the bar, light on its dark end, framed dark on its light one */
      x0 = l->bar_x - 3 * ts;
      fill_rect_(cv, x0, y - ts / 2 - 1, x1 - x0, ts + 2, text_rgb_);
      fill_rect_(cv, l->bar_x, y - ts / 2, l->bar_w, ts, outline_rgb_);
    } else {
      fill_rect_(cv, x0, y - ts / 2, x1 - x0, ts, text_rgb_);
    }
    draw_text_(cv, l->label_x, y - 7 * ts / 2, ts, t->label);
  }
  draw_text_(cv, l->unit_x, l->unit_y, ts, r->unit);
}

/* tc_heatmap_render, naming `name` (the output path, or "heatmap") in
 * messages. */
static TcErr render_(const TcHeatmapInput *in, const char *name, TcHeatmapLayout *l,
                     uint8_t **rgb) {
  *rgb = NULL;
  TC_CHECK(in, TC_ERR_USAGE, "%s: no heatmap input", name);
  TC_CHECK(in->pixels && in->map, TC_ERR_USAGE, "%s: heatmap without %s", name,
           in->pixels ? "an anomaly map" : "image pixels");
  TC_CHECK(in->size >= 1 && in->size <= TC_HEATMAP_MAX_SIZE, TC_ERR_USAGE,
           "%s: heatmap crop side %d outside 1..%d", name, in->size, TC_HEATMAP_MAX_SIZE);
  TC_CHECK(in->channels == 1 || in->channels == 3, TC_ERR_USAGE,
           "%s: heatmap image has %d channels (1 or 3 expected)", name, in->channels);
  TcHeatmapRange r;
  tc_heatmap_range(in->map, (int64_t)in->size * in->size, in->scale, &r);
  TC_CALL(tc_heatmap_layout(in->size, in->caption, &r, l));
  Canvas_ cv = {tc_malloc((size_t)l->width * l->height * 3, "heatmap picture"), l->width, l->height};
  if (!cv.rgb) return TC_ERR_MEM;
  memset(cv.rgb, TC_HEATMAP_BACKGROUND, (size_t)l->width * l->height * 3);
  if (l->caption_scale) draw_text_(&cv, l->caption_x, l->caption_y, l->caption_scale, in->caption);
  draw_overlay_(&cv, in, &r, l);
  draw_bar_(&cv, &r, l);
  *rgb = cv.rgb;
  return TC_OK;
}

TcErr tc_heatmap_render(const TcHeatmapInput *in, TcHeatmapLayout *l, uint8_t **rgb) {
  TC_CALL(render_(in, "heatmap", l, rgb));
  return TC_OK;
}

TcErr tc_heatmap_write_png(const char *path, const TcHeatmapInput *in) {
  TC_CHECK(path && *path, TC_ERR_USAGE, "heatmap: no output path");
  TcHeatmapLayout l;
  uint8_t *rgb = NULL;
  TC_CALL(render_(in, path, &l, &rgb));
  TcErr err = tc_image_write(path, l.width, l.height, 3, rgb, TC_IMAGE_PNG);
  free(rgb);
  TC_CALL(err);
  return TC_OK;
}
