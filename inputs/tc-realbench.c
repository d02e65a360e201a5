/* tc-realbench - a real-photo product data set in the MVTec AD layout, for
 * measuring TailSampler on images a CNN sees as natural (issue 15).
 *
 * Each class is one photograph shipped in a Debian package (wallpapers,
 * scikit-learn's and matplotlib's sample images): its images are crops of one
 * region of that photo with a small random pose (shift, scale, rotation) and
 * lighting change, so a class is one "product" with natural variation.
 * Defects are painted with tc-synth's defect code (tc_synth_defect_paint),
 * each with its exact pixel mask.
 *
 * Output (OUT is built in a temporary folder next to it, then renamed):
 *   OUT/CLASS/train/good/000.png, OUT/CLASS/test/good/000.png
 *   OUT/CLASS/test/TYPE/000.png, OUT/CLASS/ground_truth/TYPE/000_mask.png
 *   OUT/dataset.json   (protocol "pristine")
 *   OUT/sources.tsv    class, package (dpkg -S), file, sha256, size, crop
 * A serial tool: no MPI. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dataset.h"
#include "dataset_build.h"
#include "err.h"
#include "image.h"
#include "image_write.h"
#include "log.h"
#include "opts.h"
#include "tool.h"
#include "resize.h"
#include "rng.h"
#include "synth.h"

/* One class: a photo and the region of it the crops come from (centre as a
 * fraction of width/height, side as a fraction of the shorter side). The
 * regions were picked by eye so that each holds one product or surface. */
typedef struct {
  const char *name, *path;
  double fx, fy, frac;
} Source_;

static const Source_ default_sources_[] = {
#include "realbench_sources.h"
};
#define N_DEFAULT_ ((int)(sizeof default_sources_ / sizeof default_sources_[0]))

typedef struct {
  const char *out, *format, *sources;
  int64_t seed, n_train, n_test_good, n_test_defect, size;
  const char *class_list[64];
  const char *defects[64];
  double shift, scale, rotate, gain;
  int force, list;
} Args_;

static int mkdir_p_(char *path) {
  for (char *s = path + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    int bad = mkdir(path, 0777) != 0 && errno != EEXIST;
    *s = '/';
    if (bad) return -1;
  }
  return mkdir(path, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* ---------- SHA-256 (FIPS 180-4), to pin the source files ---------- */

static const uint32_t sha_k_[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR_(x, n) (((x) >> (n)) | ((x) << (32 - (n))))

static void sha_block_(uint32_t h[8], const uint8_t *p) {
  uint32_t w[64];
  for (int i = 0; i < 16; i++)
    w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 | (uint32_t)p[4 * i + 2] << 8 |
           p[4 * i + 3];
  for (int i = 16; i < 64; i++) {
    uint32_t s0 = ROR_(w[i - 15], 7) ^ ROR_(w[i - 15], 18) ^ (w[i - 15] >> 3);
    uint32_t s1 = ROR_(w[i - 2], 17) ^ ROR_(w[i - 2], 19) ^ (w[i - 2] >> 10);
    w[i] = w[i - 16] + s0 + w[i - 7] + s1;
  }
  uint32_t a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
  for (int i = 0; i < 64; i++) {
    uint32_t t1 = k + (ROR_(e, 6) ^ ROR_(e, 11) ^ ROR_(e, 25)) + ((e & f) ^ (~e & g)) + sha_k_[i] + w[i];
    uint32_t t2 = (ROR_(a, 2) ^ ROR_(a, 13) ^ ROR_(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
    k = g; g = f; f = e; e = d + t1; d = c; c = b; b = a; a = t1 + t2;
  }
  h[0] += a; h[1] += b; h[2] += c; h[3] += d; h[4] += e; h[5] += f; h[6] += g; h[7] += k;
}

static TcErr sha256_file_(const char *path, char hex[65]) {
  FILE *f = fopen(path, "rb");
  TC_CHECK(f, TC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                   0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};
  uint8_t buf[64 * 1024];
  uint64_t total = 0;
  size_t n, have = 0;
  uint8_t blk[128];
  while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
    total += n;
    size_t i = 0;
    if (have) {
      while (have < 64 && i < n) blk[have++] = buf[i++];
      if (have == 64) { sha_block_(h, blk); have = 0; }
    }
    for (; i + 64 <= n; i += 64) sha_block_(h, buf + i);
    while (i < n) blk[have++] = buf[i++];
  }
  int bad = ferror(f);
  fclose(f);
  TC_CHECK(!bad, TC_ERR_IO, "%s: read error", path);
  blk[have++] = 0x80;
  if (have > 56) {
    while (have < 64) blk[have++] = 0;
    sha_block_(h, blk);
    have = 0;
  }
  while (have < 56) blk[have++] = 0;
  for (int i = 7; i >= 0; i--) blk[have++] = (uint8_t)((total * 8) >> (8 * i));
  sha_block_(h, blk);
  for (int i = 0; i < 8; i++) snprintf(hex + 8 * i, 9, "%08x", h[i]);
  return TC_OK;
}

/* The Debian package that owns a file, "-" when dpkg does not know it. */
static void owner_package_(const char *path, char *pkg, size_t cap) {
  snprintf(pkg, cap, "-");
  if (strchr(path, '\'')) return;
  char cmd[4200];
  snprintf(cmd, sizeof cmd, "dpkg -S '%s' 2>/dev/null", path);
  FILE *p = popen(cmd, "r");
  if (!p) return;
  char line[4600];
  if (fgets(line, sizeof line, p)) {
    char *colon = strstr(line, ": ");
    if (colon) { *colon = '\0'; snprintf(pkg, cap, "%.*s", (int)(cap - 1), line); }
  }
  pclose(p);
}

/* ---------- rendering ---------- */

/* A class's base: its photo region, resized once so that one output crop is
 * about S pixels across with room for the jitter around it. */
typedef struct {
  uint8_t *px; /* [B x B x 3] */
  int B;
  double mean[3];
  int x0, y0, side; /* the region in the photo, for sources.tsv */
  int w, h;
} Base_;

static TcErr base_load_(const Source_ *src, const Args_ *a, Base_ *b) {
  TcImage img = {0};
  TC_CALL(tc_image_read(src->path, &img));
  int shorter = img.w < img.h ? img.w : img.h;
  /* the margin covers shift + scale-down + rotation of the crop window */
  double margin = 1.0 + 2 * a->shift + (a->scale) + 2 * sin(a->rotate * M_PI / 180) + 0.06;
  int side = (int)(src->frac * shorter * margin);
  if (side > shorter) side = shorter;
  int cx = (int)(src->fx * img.w), cy = (int)(src->fy * img.h);
  int x0 = cx - side / 2, y0 = cy - side / 2;
  if (x0 < 0) x0 = 0;
  if (y0 < 0) y0 = 0;
  if (x0 + side > img.w) x0 = img.w - side;
  if (y0 + side > img.h) y0 = img.h - side;
  b->x0 = x0; b->y0 = y0; b->side = side; b->w = img.w; b->h = img.h;
  /* crop window = side / margin photo pixels -> S output pixels */
  int B = (int)lround(a->size * margin);
  /* Never upsample beyond the photo's own detail. Then one base pixel is one
   * photo pixel and the crop window (S base pixels) takes more of the region
   * than side / margin, so the largest jitters reach the region's border,
   * where render_ repeats the edge pixels (the two 640 x 427 scikit-learn
   * photos: a smear of up to ~14 px in a corner of some images). Kept as is
   * so the published data stay reproducible. */
  if (B > side) B = side;
  uint8_t *reg = tc_malloc((size_t)side * side * 3, "photo region");
  b->px = tc_malloc((size_t)B * B * 3, "photo base");
  TcErr err = TC_OK;
  if (!reg || !b->px) { err = TC_ERR_MEM; goto done; }
  for (int y = 0; y < side; y++)
    memcpy(reg + (size_t)y * side * 3, img.rgb + ((size_t)(y0 + y) * img.w + x0) * 3, (size_t)side * 3);
  TC_CALL_GOTO(err, tc_resize_bilinear(reg, side, side, 3, b->px, B, B), done);
  b->B = B;
  for (int k = 0; k < 3; k++) b->mean[k] = 0;
  for (size_t i = 0; i < (size_t)B * B; i++)
    for (int k = 0; k < 3; k++) b->mean[k] += b->px[3 * i + k];
  for (int k = 0; k < 3; k++) b->mean[k] /= (double)B * B;
done:
  free(reg);
  tc_image_free(&img);
  if (err != TC_OK) { free(b->px); b->px = NULL; }
  return err;
}

static uint64_t name_hash_(const char *s) {
  uint64_t h = 0xcbf29ce484222325ULL;
  for (; *s; s++) h = (h ^ (uint8_t)*s) * 0x100000001b3ULL;
  return h;
}

enum { STREAM_POSE_ = 7001, STREAM_NOISE_ = 7002 };

/* Render one sample: an affine crop of the base with bilinear sampling, the
 * defect on the float image, then lighting and sensor noise, so the same
 * sample with and without a defect differs only inside the mask. */
static TcErr render_(const Base_ *b, const Args_ *a, uint64_t seed, TcDefect d, float *col,
                     float *sub, uint8_t *rgb, uint8_t *mask) {
  int S = (int)a->size;
  double u[8];
  for (int i = 0; i < 8; i++) u[i] = tc_rng_uniform(seed, STREAM_POSE_, (uint64_t)i) * 2 - 1;
  double tx = u[0] * a->shift * S, ty = u[1] * a->shift * S;
  double sc = 1 + u[2] * a->scale, th = u[3] * a->rotate * M_PI / 180;
  double gain = 1 + u[4] * a->gain, gx = u[5] * 0.06, gy = u[6] * 0.06;
  double cast = u[7] * 0.03;
  double ct = cos(th), st = sin(th), c0 = b->B / 2.0;
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++) {
      double qx = (x + 0.5 - S / 2.0) * sc, qy = (y + 0.5 - S / 2.0) * sc;
      double sx = c0 + ct * qx - st * qy + tx - 0.5, sy = c0 + st * qx + ct * qy + ty - 0.5;
      if (sx < 0) sx = 0;
      if (sy < 0) sy = 0;
      if (sx > b->B - 1.001) sx = b->B - 1.001;
      if (sy > b->B - 1.001) sy = b->B - 1.001;
      int ix = (int)sx, iy = (int)sy;
      double fx = sx - ix, fy = sy - iy;
      const uint8_t *p = b->px + ((size_t)iy * b->B + ix) * 3;
      size_t B3 = (size_t)b->B * 3;
      for (int k = 0; k < 3; k++)
        col[((size_t)y * S + x) * 3 + k] =
            (float)((1 - fy) * ((1 - fx) * p[k] + fx * p[3 + k]) + fy * ((1 - fx) * p[B3 + k] + fx * p[B3 + 3 + k]));
    }
  if (mask) memset(mask, 0, (size_t)S * S);
  if (d != TC_DEFECT_NONE) {
    /* a missing patch shows a flat backing that contrasts with the product */
    double lum = 0.299 * b->mean[0] + 0.587 * b->mean[1] + 0.114 * b->mean[2];
    float v = lum > 110 ? 35.0f : 215.0f;
    for (size_t i = 0; i < (size_t)S * S * 3; i++) sub[i] = v;
    TC_CALL(tc_synth_defect_paint(S, seed, d, col, sub, mask));
  }
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++) {
      size_t i = (size_t)y * S + x;
      double g = gain * (1 + gx * ((x + 0.5) / S - 0.5) + gy * ((y + 0.5) / S - 0.5));
      uint64_t h = tc_rng_u64(seed, STREAM_NOISE_, i);
      for (int k = 0; k < 3; k++) {
        double n1 = (double)((h >> (k * 20)) & 0x3FF) / 1024.0;
        double n2 = (double)((h >> (k * 20 + 10)) & 0x3FF) / 1024.0;
        double cg = g * (1 + (k == 0 ? cast : k == 2 ? -cast : 0));
        double val = col[3 * i + k] * cg + (n1 + n2 - 1.0) * 5.0;
        val = val < 0 ? 0 : val > 255 ? 255 : val;
        rgb[3 * i + k] = (uint8_t)(val + 0.5 > 255 ? 255 : val + 0.5);
      }
    }
  return TC_OK;
}

typedef struct {
  Source_ src[64];
  int n;
  char *text; /* backing store of a --sources file */
} Sources_;

/* Read a sources file: "name path fx fy frac" per line, '#' comments. */
static TcErr sources_read_(const char *path, Sources_ *s) {
  FILE *f = fopen(path, "r");
  TC_CHECK(f, TC_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
  fseek(f, 0, SEEK_END);
  long n = ftell(f);
  fseek(f, 0, SEEK_SET);
  s->text = tc_malloc((size_t)n + 1, "sources file");
  if (!s->text) { fclose(f); return TC_ERR_MEM; }
  size_t got = fread(s->text, 1, (size_t)n, f);
  fclose(f);
  s->text[got] = '\0';
  int line = 0;
  for (char *save = NULL, *l = strtok_r(s->text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
    line++;
    while (*l == ' ' || *l == '\t') l++;
    if (!*l || *l == '#') continue;
    TC_CHECK(s->n < 64, TC_ERR_FORMAT, "%s: more than 64 classes", path);
    Source_ *c = &s->src[s->n];
    char *f2 = NULL, *tok[5];
    int nt = 0;
    for (char *t = strtok_r(l, " \t", &f2); t && nt < 5; t = strtok_r(NULL, " \t", &f2)) tok[nt++] = t;
    TC_CHECK(nt == 5, TC_ERR_FORMAT, "%s:%d: want 'name path fx fy frac'", path, line);
    c->name = tok[0]; c->path = tok[1];
    c->fx = atof(tok[2]); c->fy = atof(tok[3]); c->frac = atof(tok[4]);
    TC_CHECK(c->fx >= 0 && c->fx <= 1 && c->fy >= 0 && c->fy <= 1 && c->frac > 0 && c->frac <= 1,
             TC_ERR_FORMAT, "%s:%d: fx, fy in [0,1] and frac in (0,1] expected", path, line);
    s->n++;
  }
  return TC_OK;
}

static TcErr write_class_(const char *root, const Args_ *a, TcImageFormat fmt, const Source_ *src,
                          const TcDefect *defs, int nd, FILE *tsv, TcProgress *prog, int64_t *done) {
  Base_ b = {0};
  TC_CALL(base_load_(src, a, &b));
  int S = (int)a->size;
  size_t np = (size_t)S * S;
  float *col = tc_malloc(np * 3 * sizeof *col, "image"), *sub = tc_malloc(np * 3 * sizeof *sub, "image");
  uint8_t *rgb = tc_malloc(np * 3, "image"), *mask = tc_malloc(np, "mask");
  TcErr err = TC_OK;
  if (!col || !sub || !rgb || !mask) { err = TC_ERR_MEM; goto done; }
  const char *ext = tc_image_format_ext(fmt);
  uint64_t cseed = tc_rng_u64((uint64_t)a->seed, name_hash_(src->name), 0);
  for (int part = 0; part < 2 + nd; part++) {
    const char *split = part == 0 ? "train" : "test";
    TcDefect d = part < 2 ? TC_DEFECT_NONE : defs[part - 2];
    const char *type = tc_synth_defect_name(d);
    int64_t n = part == 0 ? a->n_train : part == 1 ? a->n_test_good : a->n_test_defect;
    char path[4400];
    snprintf(path, sizeof path, "%s/%s/%s/%s", root, src->name, split, type);
    TC_CHECK_GOTO(err, mkdir_p_(path) == 0, TC_ERR_IO, done, "%s: cannot create folder: %s", path,
                  strerror(errno));
    if (d != TC_DEFECT_NONE) {
      snprintf(path, sizeof path, "%s/%s/ground_truth/%s", root, src->name, type);
      TC_CHECK_GOTO(err, mkdir_p_(path) == 0, TC_ERR_IO, done, "%s: cannot create folder: %s", path,
                    strerror(errno));
    }
    for (int64_t i = 0; i < n; i++) {
      uint64_t seed = tc_rng_u64(cseed, (uint64_t)(part == 0 ? 100 : 200 + d), (uint64_t)i);
      TC_CALL_GOTO(err, render_(&b, a, seed, d, col, sub, rgb, mask), done);
      snprintf(path, sizeof path, "%s/%s/%s/%s/%03lld.%s", root, src->name, split, type, (long long)i, ext);
      TC_CALL_GOTO(err, tc_image_write(path, S, S, 3, rgb, fmt), done);
      if (d != TC_DEFECT_NONE) {
        snprintf(path, sizeof path, "%s/%s/ground_truth/%s/%03lld_mask.%s", root, src->name, type,
                 (long long)i, ext);
        TC_CALL_GOTO(err, tc_image_write(path, S, S, 1, mask, fmt), done);
      }
      tc_progress_update(prog, ++*done);
    }
  }
  {
    char hex[65], pkg[256], real[4096];
    const char *p = realpath(src->path, real) ? real : src->path;
    TC_CALL_GOTO(err, sha256_file_(src->path, hex), done);
    owner_package_(src->path, pkg, sizeof pkg);
    if (strcmp(pkg, "-") == 0 && p != src->path) owner_package_(p, pkg, sizeof pkg);
    fprintf(tsv, "%s\t%s\t%s\t%s\t%dx%d\t%d,%d,%d\n", src->name, pkg, src->path, hex, b.w, b.h,
            b.x0, b.y0, b.side);
  }
done:
  free(b.px);
  free(col);
  free(sub);
  free(rgb);
  free(mask);
  return err;
}

static TcErr run_(Args_ *a) {
  static Sources_ srcs;
  if (a->sources) {
    TC_CALL(sources_read_(a->sources, &srcs));
  } else {
    for (int i = 0; i < N_DEFAULT_; i++) srcs.src[i] = default_sources_[i];
    srcs.n = N_DEFAULT_;
  }
  if (a->list) {
    for (int i = 0; i < srcs.n; i++)
      printf("%s\t%s\t%.3f\t%.3f\t%.3f\n", srcs.src[i].name, srcs.src[i].path, srcs.src[i].fx,
             srcs.src[i].fy, srcs.src[i].frac);
    return TC_OK;
  }
  TC_CHECK(a->out, TC_ERR_USAGE, "--out is required");
  TcImageFormat fmt;
  TC_CALL(tc_image_format_parse(a->format, &fmt));
  TC_CHECK(a->size >= 32 && a->size <= 4096, TC_ERR_USAGE, "--size %lld outside 32..4096",
           (long long)a->size);
  TC_CHECK(a->n_train >= 1 && a->n_test_good >= 0 && a->n_test_defect >= 0 && a->n_train <= 100000 &&
               a->n_test_good <= 100000 && a->n_test_defect <= 100000,
           TC_ERR_USAGE, "image counts out of range");
  TC_CHECK(a->shift >= 0 && a->shift <= 0.25 && a->scale >= 0 && a->scale <= 0.25 && a->rotate >= 0 &&
               a->rotate <= 20 && a->gain >= 0 && a->gain <= 0.5,
           TC_ERR_USAGE, "jitter out of range (shift, scale <= 0.25, rotate <= 20, gain <= 0.5)");
  /* classes: a list picks by name, else all */
  const Source_ *cls[64];
  int nc = 0;
  if (a->class_list[0]) {
    for (int i = 0; a->class_list[i]; i++) {
      int found = -1;
      for (int j = 0; j < srcs.n; j++)
        if (strcmp(srcs.src[j].name, a->class_list[i]) == 0) found = j;
      TC_CHECK(found >= 0, TC_ERR_USAGE, "unknown class '%s' (see --list)", a->class_list[i]);
      for (int j = 0; j < nc; j++)
        TC_CHECK(cls[j] != &srcs.src[found], TC_ERR_USAGE, "class '%s' given twice", a->class_list[i]);
      cls[nc++] = &srcs.src[found];
    }
  } else {
    for (int j = 0; j < srcs.n; j++) cls[nc++] = &srcs.src[j];
  }
  for (int i = 0; i < nc; i++) {
    TC_CHECK(access(cls[i]->path, R_OK) == 0, TC_ERR_IO,
             "%s (class %s): not readable: %s (install the packages: ./deps.sh realbench)",
             cls[i]->path, cls[i]->name, strerror(errno));
    for (int j = 0; j < i; j++)
      TC_CHECK(strcmp(cls[i]->name, cls[j]->name) != 0, TC_ERR_FORMAT, "class '%s' listed twice",
               cls[i]->name);
  }
  TcDefect defs[TC_DEFECT_COUNT];
  int nd = 0;
  TC_CALL(tc_synth_parse_defects(a->defects, defs, &nd));

  char out[4096], tmp[4200];
  TC_CALL(tc_dataset_begin(a->out, a->force, out, sizeof out, tmp, sizeof tmp));

  TcErr err = TC_OK;
  FILE *tsv = NULL;
  TcClassInfo *ci = tc_calloc((size_t)nc, sizeof *ci, "class info");
  TC_CHECK_GOTO(err, ci, TC_ERR_MEM, cleanup, "out of memory");
  {
    char p[4300];
    snprintf(p, sizeof p, "%s/sources.tsv", tmp);
    tsv = fopen(p, "w");
    TC_CHECK_GOTO(err, tsv, TC_ERR_IO, cleanup, "%s: cannot create: %s", p, strerror(errno));
    fprintf(tsv, "class\tpackage\tfile\tsha256\tphoto_size\tcrop_x0,y0,side\n");
  }
  int64_t per_class = a->n_train + a->n_test_good + nd * a->n_test_defect, done = 0;
  TcProgress prog;
  tc_progress_start(&prog, "tc-realbench", "images", (int64_t)nc * per_class);
  for (int k = 0; k < nc; k++) {
    TC_CALL_GOTO(err, write_class_(tmp, a, fmt, cls[k], defs, nd, tsv, &prog, &done), cleanup);
    ci[k].name = (char *)cls[k]->name;
    ci[k].n_source_train = ci[k].n_good = a->n_train;
    ci[k].n_test_good = a->n_test_good;
    ci[k].n_test_anomaly = nd * a->n_test_defect;
  }
  tc_progress_finish(&prog);
  TC_CHECK_GOTO(err, fclose(tsv) == 0, TC_ERR_IO, cleanup, "sources.tsv: write error");
  tsv = NULL;
  TC_CALL_GOTO(err, tc_dataset_publish_pristine(tmp, out, ci, nc, a->seed, a->n_train), cleanup);
  tmp[0] = '\0';
  tc_log(1, "tc-realbench: wrote %lld images of %d classes to %s", (long long)(nc * per_class), nc, out);
cleanup:
  if (tsv) fclose(tsv);
  if (tmp[0]) tc_dataset_remove_tree(tmp);
  free(ci);
  return err;
}

int main(int argc, char **argv) {
  Args_ a;
  memset(&a, 0, sizeof a);
  TcOpt opts[] = {
      {"out", TC_OPT_STRING, &a.out, NULL, "output root (must not exist unless --force)", NULL, 0},
      {"seed", TC_OPT_INT, &a.seed, "0", "seed: fixes every crop, jitter and defect", NULL, 0},
      {"sources", TC_OPT_STRING, &a.sources, NULL,
       "file of 'name path fx fy frac' lines (crop centre fx, fy; side = frac x shorter side) "
       "[built-in list, see --list]", NULL, 0},
      {"list", TC_OPT_FLAG, &a.list, NULL, "print the classes and their photos, then exit", NULL, 0},
      {"class-list", TC_OPT_LIST, a.class_list, NULL, "classes by name [all]", NULL, 0},
      {"train", TC_OPT_INT, &a.n_train, "60", "good training images per class", NULL, 0},
      {"test-good", TC_OPT_INT, &a.n_test_good, "8", "good test images per class", NULL, 0},
      {"test-defect", TC_OPT_INT, &a.n_test_defect, "3", "test images per class and defect type", NULL, 0},
      {"defects", TC_OPT_LIST, a.defects, NULL,
       "defect types (scratch hole stain missing contamination) [all when not given]", NULL, 0},
      {"size", TC_OPT_INT, &a.size, "256", "image width = height in pixels", NULL, 0},
      {"format", TC_OPT_CHOICE, &a.format, "png", "image format", "png|tiff|tiff-raw", 0},
      {"shift", TC_OPT_DOUBLE, &a.shift, "0.05", "crop shift, up to this fraction of the side", NULL, 0},
      {"scale", TC_OPT_DOUBLE, &a.scale, "0.04", "crop scale change, up to +-this fraction", NULL, 0},
      {"rotate", TC_OPT_DOUBLE, &a.rotate, "3", "crop rotation, up to +-this many degrees", NULL, 0},
      {"gain", TC_OPT_DOUBLE, &a.gain, "0.07", "brightness change, up to +-this fraction", NULL, 0},
      {"force", TC_OPT_FLAG, &a.force, NULL, "replace an existing output folder", NULL, 0},
  };
  int help = 0;
  TcErr err = tc_tool_parse("tc-realbench", "tc-realbench --out DIR [options]",
                            "Generate a real-photo product data set with painted defects and masks in the\n"
                            "MVTec AD layout: one class per photograph from Debian packages (install them\n"
                            "with ./deps.sh realbench). See inputs/README.md.",
                            opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, &help);
  if (help) return 0;
  if (err == TC_OK) err = run_(&a);
  return tc_tool_exit("tc-realbench", err);
}
