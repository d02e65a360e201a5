/* test_dataset.c - data set modules: the pareto pmf and counts against the
 * scipy reference (tests/golden/pareto_ref.txt), the MVTec lister,
 * manifests, dataset.json, the long-tail plan rules, TIFF/PNG writing, and
 * the synthetic generator's masks (rendered with and without each defect,
 * the changed pixels must lie inside the mask and fill most of it). */
#include <png.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <tiffio.h>
#include <unistd.h>

#include "check.h"
#include "dataset.h"
#include "image_write.h"
#include "longtail.h"
#include "synth.h"

static char tmpdir_[256];

static void rm_rf_(const char *path) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", path);
  if (system(cmd) != 0) fprintf(stderr, "warning: could not remove %s\n", path);
}

static void mkdirs_(const char *path) {
  char p[1024];
  snprintf(p, sizeof p, "%s", path);
  for (char *s = p + 1; *s; s++)
    if (*s == '/') { *s = 0; mkdir(p, 0777); *s = '/'; }
  mkdir(p, 0777);
}

static void touch_image_(const char *root, const char *rel, int c) {
  char p[1024];
  snprintf(p, sizeof p, "%s/%s", root, rel);
  char *slash = strrchr(p, '/');
  *slash = 0;
  mkdirs_(p);
  *slash = '/';
  uint8_t px[8 * 8 * 3];
  memset(px, 100, sizeof px);
  if (tc_image_write(p, 8, 8, c, px, TC_IMAGE_TIFF_RAW) != TC_OK)
    fprintf(stderr, "cannot write %s: %s\n", p, tc_err_message());
}

static void write_text_(const char *path, const char *text) {
  FILE *fp = fopen(path, "w");
  if (fp) { fputs(text, fp); fclose(fp); }
}

/* ---------- pareto vs scipy ---------- */

static FILE *open_golden_(const char *name) {
  char p[1024];
  snprintf(p, sizeof p, "tests/golden/%s", name);
  FILE *fp = fopen(p, "r");
  if (fp) return fp;
  /* run from elsewhere: relative to this source file */
  snprintf(p, sizeof p, "%s", __FILE__);
  char *s = strstr(p, "tests/unit/");
  if (s) { snprintf(s, sizeof p - (size_t)(s - p), "tests/golden/%s", name); fp = fopen(p, "r"); }
  return fp;
}

static int read_row_(FILE *fp, const char *tag, double *v, int n) {
  char word[32];
  if (fscanf(fp, "%31s", word) != 1 || strcmp(word, tag) != 0) return 0;
  for (int i = 0; i < n; i++)
    if (fscanf(fp, "%lf", &v[i]) != 1) return 0;
  return 1;
}

static void test_pareto_(void) {
  CHECK_INT(tc_longtail_round_half_even(2.5), 2);
  CHECK_INT(tc_longtail_round_half_even(3.5), 4);
  CHECK_INT(tc_longtail_round_half_even(-0.5), 0);
  CHECK_INT(tc_longtail_round_half_even(4.4999), 4);
  CHECK_INT(tc_longtail_round_half_even(19.6), 20);
  FILE *fp = open_golden_("pareto_ref.txt");
  CHECK_MSG(fp != NULL, "tests/golden/pareto_ref.txt not found (run from the repository root)");
  if (!fp) return;
  char line[256];
  int ncases = 0;
  if (!fgets(line, sizeof line, fp)) return; /* header comment */
  char word[32];
  int C;
  double alpha;
  while (fscanf(fp, "%31s %d %lf", word, &C, &alpha) == 3 && strcmp(word, "case") == 0) {
    double ref[64], have_d[64], perm_d[64], cnt_d[64], pmf[64], dist[64];
    int64_t have[64], out[64];
    if (C > 64 || !read_row_(fp, "pmf", ref, C) || !read_row_(fp, "have", have_d, C) ||
        !read_row_(fp, "perm", perm_d, C) || !read_row_(fp, "counts", cnt_d, C)) {
      CHECK_MSG(0, "malformed pareto_ref.txt");
      break;
    }
    tc_longtail_pareto_pmf(alpha, C, pmf);
    double maxrel = 0;
    for (int i = 0; i < C; i++) {
      double rel = fabs(pmf[i] - ref[i]) / ref[i];
      if (rel > maxrel) maxrel = rel;
    }
    CHECK_MSG(maxrel < 1e-12, "C=%d alpha=%g: pmf max rel diff %g", C, alpha, maxrel);
    for (int i = 0; i < C; i++) {
      have[i] = (int64_t)have_d[i];
      dist[i] = pmf[(int)perm_d[i]];
    }
    tc_longtail_pareto_counts(dist, have, C, 5, out);
    int same = 1;
    for (int i = 0; i < C; i++) same &= out[i] == (int64_t)cnt_d[i];
    CHECK_MSG(same, "C=%d alpha=%g: counts differ from scipy (first: %lld vs %lld)", C, alpha,
              (long long)out[0], (long long)cnt_d[0]);
    ncases++;
  }
  fclose(fp);
  CHECK_MSG(ncases >= 6, "only %d pareto cases read", ncases);
}

/* ---------- synthetic masks ---------- */

static void test_synth_(void) {
  const int S = 128;
  uint8_t *a = malloc(S * S * 3), *b = malloc(S * S * 3), *m = malloc(S * S), *m2 = malloc(S * S);
  double worst_fill = 1;
  char worst[64] = "";
  for (int c = 0; c < tc_synth_n_classes(); c++) {
    for (int d = 1; d < TC_DEFECT_COUNT; d++) {
      for (uint64_t seed = 1; seed <= 3; seed++) {
        TcErr e1 = tc_synth_render(c, S, seed * 7919 + (uint64_t)c, (TcDefect)d, a, m);
        TcErr e2 = tc_synth_render(c, S, seed * 7919 + (uint64_t)c, TC_DEFECT_NONE, b, m2);
        CHECK_MSG(e1 == TC_OK && e2 == TC_OK, "%s/%s: %s", tc_synth_class_name(c),
                  tc_synth_defect_name((TcDefect)d), tc_err_message());
        if (e1 != TC_OK || e2 != TC_OK) { tc_err_clear(); continue; }
        int64_t area = 0, changed_out = 0, changed_in = 0, binary = 1, twin_clean = 1;
        for (int i = 0; i < S * S; i++) {
          binary &= m[i] == 0 || m[i] == 255;
          twin_clean &= m2[i] == 0;
          int diff = 0;
          for (int k = 0; k < 3; k++) {
            int dd = abs((int)a[3 * i + k] - (int)b[3 * i + k]);
            if (dd > diff) diff = dd;
          }
          if (m[i]) { area++; changed_in += diff >= 10; }
          else changed_out += diff != 0;
        }
        CHECK_MSG(binary && twin_clean, "%s/%s: mask not binary", tc_synth_class_name(c),
                  tc_synth_defect_name((TcDefect)d));
        CHECK_MSG(area > 0 && area <= S * S / 8, "%s/%s seed %llu: mask area %lld",
                  tc_synth_class_name(c), tc_synth_defect_name((TcDefect)d),
                  (unsigned long long)seed, (long long)area);
        CHECK_MSG(changed_out == 0, "%s/%s: %lld changed pixels outside the mask",
                  tc_synth_class_name(c), tc_synth_defect_name((TcDefect)d), (long long)changed_out);
        double fill = area ? (double)changed_in / area : 0;
        if (fill < worst_fill) {
          worst_fill = fill;
          snprintf(worst, sizeof worst, "%s/%s", tc_synth_class_name(c),
                   tc_synth_defect_name((TcDefect)d));
        }
        CHECK_MSG(fill >= 0.6, "%s/%s seed %llu: only %.0f%% of the mask visibly changed",
                  tc_synth_class_name(c), tc_synth_defect_name((TcDefect)d),
                  (unsigned long long)seed, 100 * fill);
      }
    }
  }
  printf("synth masks: worst visibly-changed share %.1f%% (%s)\n", 100 * worst_fill, worst);
  /* Same seed, same bytes; another seed, another pose. */
  tc_synth_render(3, S, 42, TC_DEFECT_STAIN, a, m);
  tc_synth_render(3, S, 42, TC_DEFECT_STAIN, b, m2);
  CHECK(memcmp(a, b, S * S * 3) == 0 && memcmp(m, m2, S * S) == 0);
  tc_synth_render(3, S, 43, TC_DEFECT_STAIN, b, m2);
  CHECK(memcmp(a, b, S * S * 3) != 0);
  CHECK(tc_synth_render(99, S, 1, TC_DEFECT_NONE, a, m) == TC_ERR_USAGE);
  CHECK(tc_synth_render(0, 8, 1, TC_DEFECT_NONE, a, m) == TC_ERR_USAGE);
  tc_err_clear();
  CHECK(tc_synth_sample_seed(0, 1, "train", TC_DEFECT_NONE, 0) !=
        tc_synth_sample_seed(0, 1, "test", TC_DEFECT_NONE, 0));
  CHECK_INT(tc_synth_class_index("screw") >= 0, 1);
  CHECK_INT(tc_synth_defect_index("missing"), TC_DEFECT_MISSING);
  free(a); free(b); free(m); free(m2);
}

/* Defects on a caller's image (tc-realbench's photos): only mask pixels
 * change, most of them visibly, and the result is a function of the seed. */
static void test_defect_paint_(void) {
  const int S = 96;
  const size_t n3 = (size_t)S * S * 3;
  float *img = malloc(n3 * sizeof *img), *col = malloc(n3 * sizeof *col), *sub = malloc(n3 * sizeof *sub);
  uint8_t *m = malloc(S * S), *m2 = malloc(S * S);
  for (int y = 0; y < S; y++)
    for (int x = 0; x < S; x++)
      for (int k = 0; k < 3; k++) {
        img[((size_t)y * S + x) * 3 + k] = (float)(60 + x + (k == 1 ? y : 0)); /* a gradient */
        sub[((size_t)y * S + x) * 3 + k] = 215.0f;
      }
  for (int d = 1; d < TC_DEFECT_COUNT; d++) {
    memcpy(col, img, n3 * sizeof *col);
    TcErr e = tc_synth_defect_paint(S, 77, (TcDefect)d, col, sub, m);
    CHECK_MSG(e == TC_OK, "%s: %s", tc_synth_defect_name((TcDefect)d), tc_err_message());
    int64_t area = 0, out = 0, vis = 0;
    for (int i = 0; i < S * S; i++) {
      float diff = 0;
      for (int k = 0; k < 3; k++) diff = fmaxf(diff, fabsf(col[3 * i + k] - img[3 * i + k]));
      if (m[i]) { area++; vis += diff >= 10; }
      else out += diff != 0;
    }
    CHECK_MSG(area > 0 && area <= S * S / 8 && out == 0 && vis >= area * 6 / 10,
              "%s: area %lld, %lld changed outside, %lld visible", tc_synth_defect_name((TcDefect)d),
              (long long)area, (long long)out, (long long)vis);
    memcpy(col, img, n3 * sizeof *col);
    tc_synth_defect_paint(S, 77, (TcDefect)d, col, sub, m2);
    CHECK(memcmp(m, m2, S * S) == 0);
  }
  tc_synth_defect_paint(S, 78, TC_DEFECT_STAIN, col, sub, m2);
  tc_synth_defect_paint(S, 77, TC_DEFECT_STAIN, col, sub, m);
  CHECK(memcmp(m, m2, S * S) != 0);
  CHECK(tc_synth_defect_paint(S, 1, TC_DEFECT_NONE, col, sub, m) == TC_ERR_USAGE);
  tc_err_clear();
  free(img); free(col); free(sub); free(m); free(m2);
}

/* ---------- image writing ---------- */

static void test_image_write_(void) {
  const int W = 37, H = 23;
  uint8_t rgb[W * H * 3], gray[W * H];
  for (int i = 0; i < W * H * 3; i++) rgb[i] = (uint8_t)(i * 7 + (i / 3));
  for (int i = 0; i < W * H; i++) gray[i] = (uint8_t)(i % 2 ? 255 : 0);
  const TcImageFormat tiffs[2] = {TC_IMAGE_TIFF_DEFLATE, TC_IMAGE_TIFF_RAW};
  char p[512];
  for (int f = 0; f < 2; f++)
    for (int c = 1; c <= 3; c += 2) {
      snprintf(p, sizeof p, "%s/w%d_%d.tiff", tmpdir_, f, c);
      CHECK(tc_image_write(p, W, H, c, c == 3 ? rgb : gray, tiffs[f]) == TC_OK);
      TIFF *t = TIFFOpen(p, "r");
      CHECK(t != NULL);
      if (!t) continue;
      uint32_t w = 0, h = 0;
      uint16_t spp = 0, bps = 0;
      TIFFGetField(t, TIFFTAG_IMAGEWIDTH, &w);
      TIFFGetField(t, TIFFTAG_IMAGELENGTH, &h);
      TIFFGetField(t, TIFFTAG_SAMPLESPERPIXEL, &spp);
      TIFFGetField(t, TIFFTAG_BITSPERSAMPLE, &bps);
      CHECK(w == (uint32_t)W && h == (uint32_t)H && spp == c && bps == 8);
      uint8_t row[W * 3];
      int same = 1;
      for (int y = 0; y < H; y++) {
        TIFFReadScanline(t, row, (uint32_t)y, 0);
        same &= memcmp(row, (c == 3 ? rgb : gray) + (size_t)y * W * c, (size_t)W * c) == 0;
      }
      CHECK_MSG(same, "TIFF %d/%d pixels differ after reading back", f, c);
      TIFFClose(t);
    }
  snprintf(p, sizeof p, "%s/w.png", tmpdir_);
  CHECK(tc_image_write(p, W, H, 3, rgb, TC_IMAGE_PNG) == TC_OK);
  png_image im;
  memset(&im, 0, sizeof im);
  im.version = PNG_IMAGE_VERSION;
  if (png_image_begin_read_from_file(&im, p)) {
    im.format = PNG_FORMAT_RGB;
    uint8_t back[W * H * 3];
    CHECK(png_image_finish_read(&im, NULL, back, 0, NULL) && memcmp(back, rgb, sizeof back) == 0);
  } else {
    CHECK_MSG(0, "PNG not readable");
  }
  /* No temporary file left behind; failure names the path. */
  snprintf(p, sizeof p, "%s/no/such/dir/x.tiff", tmpdir_);
  CHECK(tc_image_write(p, W, H, 3, rgb, TC_IMAGE_TIFF_DEFLATE) != TC_OK);
  CHECK(strstr(tc_err_message(), "no/such/dir") != NULL);
  tc_err_clear();
  CHECK(tc_image_write(p, 0, H, 3, rgb, TC_IMAGE_PNG) == TC_ERR_USAGE);
  tc_err_clear();
}

/* ---------- lister and manifests ---------- */

static void make_tree_(const char *root) {
  const char *files[] = {
      "b_cls/train/good/001.tiff", "b_cls/train/good/000.tiff", "b_cls/train/good/010.TIF",
      "b_cls/test/good/000.tiff", "b_cls/test/crack/000.tiff", "b_cls/test/crack/001.tiff",
      "b_cls/ground_truth/crack/000_mask.tiff", "b_cls/ground_truth/crack/001_mask.png",
      "a_cls/train/good/000.tiff", "a_cls/train/good/001.tiff", "a_cls/test/good/000.tiff",
      "a_cls/test/scratch/000.tiff", "a_cls/ground_truth/scratch/000_mask.tiff",
      "a_cls/test/big_hole/000.tiff", "a_cls/ground_truth/big_hole/000_mask.tiff"};
  for (size_t i = 0; i < sizeof files / sizeof files[0]; i++) touch_image_(root, files[i], 3);
  char p[600];
  snprintf(p, sizeof p, "%s/b_cls/train/good/notes.txt", root);
  write_text_(p, "not an image\n");
  snprintf(p, sizeof p, "%s/split_csv", root);
  mkdirs_(p);
  snprintf(p, sizeof p, "%s/.hidden/train/good", root);
  mkdirs_(p);
}

static void test_lister_(void) {
  char root[512], p[700];
  snprintf(root, sizeof root, "%s/mv", tmpdir_);
  make_tree_(root);
  TcDataset *ds = NULL;
  CHECK(tc_dataset_list(root, "train", &ds) == TC_OK);
  if (ds) {
    CHECK_INT(ds->n, 5);
    CHECK_INT(ds->n_classes, 2);
    CHECK(strcmp(ds->classes[0], "a_cls") == 0 && strcmp(ds->classes[1], "b_cls") == 0);
    CHECK(strcmp(ds->items[0].path, "a_cls/train/good/000.tiff") == 0);
    CHECK(strcmp(ds->items[2].path, "b_cls/train/good/000.tiff") == 0);
    CHECK(strcmp(ds->items[4].path, "b_cls/train/good/010.TIF") == 0);
    CHECK(strcmp(ds->items[4].defect, "good") == 0 && ds->items[4].mask_path == NULL);
  }
  tc_dataset_destroy(&ds);
  CHECK(ds == NULL);
  tc_dataset_destroy(&ds); /* NULL-safe */
  CHECK(tc_dataset_list(root, "test", &ds) == TC_OK);
  if (ds) {
    CHECK_INT(ds->n, 6);
    /* a_cls: big_hole, good, scratch (byte order) */
    CHECK(strcmp(ds->items[0].defect, "big_hole") == 0);
    CHECK(ds->items[0].mask_path && strcmp(ds->items[0].mask_path, "a_cls/ground_truth/big_hole/000_mask.tiff") == 0);
    CHECK(strcmp(ds->items[1].defect, "good") == 0 && ds->items[1].mask_path == NULL);
    CHECK(strcmp(ds->items[3].path, "b_cls/test/crack/000.tiff") == 0);
    CHECK(ds->items[4].mask_path && strcmp(ds->items[4].mask_path, "b_cls/ground_truth/crack/001_mask.png") == 0);
  }
  tc_dataset_destroy(&ds);
  CHECK(tc_dataset_list(root, "val", &ds) == TC_ERR_USAGE);
  tc_err_clear();
  snprintf(p, sizeof p, "%s/none", tmpdir_);
  CHECK(tc_dataset_list(p, "train", &ds) == TC_ERR_IO && ds == NULL);
  CHECK(strstr(tc_err_message(), "none") != NULL);
  tc_err_clear();
  /* a class with train/ but no test/ */
  snprintf(p, sizeof p, "%s/c_cls/train/good", root);
  mkdirs_(p);
  CHECK(tc_dataset_list(root, "test", &ds) == TC_ERR_IO);
  CHECK(strstr(tc_err_message(), "c_cls/test") != NULL);
  tc_err_clear();
  snprintf(p, sizeof p, "%s/c_cls", root);
  rm_rf_(p);

  /* manifests */
  char man[600];
  snprintf(man, sizeof man, "%s/m.txt", tmpdir_);
  write_text_(man, "# kept\r\nb_cls/train/good/001.tiff\r\n\na_cls/test/scratch/000.tiff\n");
  CHECK(tc_dataset_read_manifest(root, man, &ds) == TC_OK);
  if (ds) {
    CHECK_INT(ds->n, 2);
    CHECK(strcmp(ds->items[0].class_name, "b_cls") == 0 && strcmp(ds->items[0].defect, "good") == 0);
    CHECK(strcmp(ds->items[1].defect, "scratch") == 0 && ds->items[1].mask_path != NULL);
    CHECK_INT(ds->n_classes, 2);
  }
  tc_dataset_destroy(&ds);
  write_text_(man, "b_cls/train/good/001.tiff\nb_cls/train/good/999.tiff\n");
  CHECK(tc_dataset_read_manifest(root, man, &ds) == TC_ERR_IO && ds == NULL);
  CHECK(strstr(tc_err_message(), "999.tiff") && strstr(tc_err_message(), ":2:"));
  tc_err_clear();
  write_text_(man, "../etc/passwd\n");
  CHECK(tc_dataset_read_manifest(root, man, &ds) == TC_ERR_FORMAT);
  tc_err_clear();
  write_text_(man, "b_cls/train/good/001.tiff\nb_cls/train/good/001.tiff\n");
  CHECK(tc_dataset_read_manifest(root, man, &ds) == TC_ERR_FORMAT);
  CHECK(strstr(tc_err_message(), "twice") != NULL);
  tc_err_clear();
  write_text_(man, "b_cls/good/001.tiff\n");
  CHECK(tc_dataset_read_manifest(root, man, &ds) == TC_ERR_FORMAT);
  tc_err_clear();
  CHECK(tc_dataset_is_image_name("x.JPEG") && tc_dataset_is_image_name("a.tif") &&
        !tc_dataset_is_image_name("a.txt") && !tc_dataset_is_image_name(".png"));
}

/* ---------- dataset.json ---------- */

static void test_info_(void) {
  char *noise[] = {"x/train/good/hole_\"q\"\\.tiff"}, *src[] = {"x/test/hole/\t1.tiff"};
  TcClassInfo cls[2] = {
      {"x", 0, 10, 10, 1, 3, 4, noise, src},
      {"y\xc3\xa9", 1, 10, 4, 0, 2, 5, NULL, NULL},
  };
  TcDatasetInfo in = {"step_k4", 1, 42, 0.1, 0, 0.4, 4, 14, 1, 2, cls};
  char p[600];
  snprintf(p, sizeof p, "%s/dataset.json", tmpdir_);
  CHECK(tc_dataset_info_write(p, &in) == TC_OK);
  TcDatasetInfo *out = NULL;
  CHECK(tc_dataset_info_read(p, &out) == TC_OK);
  if (out) {
    CHECK(strcmp(out->protocol, "step_k4") == 0 && out->has_seed && out->seed == 42);
    CHECK_NEAR(out->noise_ratio, 0.1, 1e-15);
    CHECK_INT(out->step_k, 4);
    CHECK_INT(out->n_classes, 2);
    const TcClassInfo *x = tc_dataset_info_class(out, "x");
    CHECK(x && !x->is_tail && x->n_noise == 1 && x->n_test_anomaly == 4);
    CHECK(x && strcmp(x->noise[0], noise[0]) == 0 && strcmp(x->noise_source[0], src[0]) == 0);
    const TcClassInfo *y = tc_dataset_info_class(out, "y\xc3\xa9");
    CHECK(y && y->is_tail && y->n_good == 4 && y->n_noise == 0);
    CHECK(tc_dataset_info_class(out, "z") == NULL);
  }
  tc_dataset_info_destroy(&out);
  CHECK(out == NULL);
  write_text_(p, "{\"format\": \"tailedcore-dataset\", \"protocol\": \"x\", \"classes\": [");
  CHECK(tc_dataset_info_read(p, &out) == TC_ERR_FORMAT && out == NULL);
  tc_err_clear();
  write_text_(p, "{\"format\": \"tailedcore-dataset\", \"protocol\": \"x\", \"seed\": null}");
  CHECK(tc_dataset_info_read(p, &out) == TC_ERR_FORMAT);
  CHECK(strstr(tc_err_message(), "noise_ratio") != NULL);
  tc_err_clear();
}

/* ---------- long-tail plan ---------- */

/* A source with C classes of n_train good images and n_anom anomalies. */
static void make_source_(const char *root, int C, const int *n_train, int n_anom) {
  char rel[256];
  for (int c = 0; c < C; c++) {
    for (int i = 0; i < n_train[c]; i++) {
      snprintf(rel, sizeof rel, "k%02d/train/good/%03d.tiff", c, i);
      touch_image_(root, rel, 1);
    }
    snprintf(rel, sizeof rel, "k%02d/test/good/000.tiff", c);
    touch_image_(root, rel, 1);
    for (int i = 0; i < n_anom; i++) {
      snprintf(rel, sizeof rel, "k%02d/test/%s/%03d.tiff", c, i % 2 ? "crack" : "big_hole", i / 2);
      touch_image_(root, rel, 1);
    }
  }
}

static int plans_equal_(const TcLongtailPlan *a, const TcLongtailPlan *b) {
  if (a->n_classes != b->n_classes || a->n_good != b->n_good || a->n_noise != b->n_noise) return 0;
  for (int c = 0; c < a->n_classes; c++) {
    const TcLongtailClass *x = &a->classes[c], *y = &b->classes[c];
    if (x->is_tail != y->is_tail || x->n_keep != y->n_keep || x->n_noise != y->n_noise) return 0;
    for (int64_t i = 0; i < x->n_keep; i++)
      if (strcmp(x->keep[i], y->keep[i])) return 0;
    for (int64_t i = 0; i < x->n_noise; i++)
      if (strcmp(x->noise_src[i], y->noise_src[i]) || strcmp(x->noise_dst[i], y->noise_dst[i])) return 0;
  }
  return 1;
}

static void test_longtail_(void) {
  char root[512];
  snprintf(root, sizeof root, "%s/lt", tmpdir_);
  int n_train[10] = {30, 30, 30, 30, 30, 30, 30, 30, 30, 30};
  make_source_(root, 10, n_train, 20);
  TcLongtailParams p;
  CHECK(tc_longtail_params_init(&p, "step_k7") == TC_OK && p.step_k == 7);
  CHECK(tc_longtail_params_init(&p, "step") == TC_ERR_USAGE);
  CHECK(tc_longtail_params_init(&p, "step_k0") == TC_ERR_USAGE);
  tc_err_clear();
  for (int proto = 0; proto < 3; proto++) {
    const char *name = proto == 0 ? "step_k1" : proto == 1 ? "step_k4" : "pareto";
    for (int64_t seed = 0; seed < 3; seed++) {
      tc_longtail_params_init(&p, name);
      p.seed = seed;
      TcLongtailPlan *a = NULL, *b = NULL;
      CHECK(tc_longtail_plan(root, &p, &a) == TC_OK);
      CHECK(tc_longtail_plan(root, &p, &b) == TC_OK);
      if (!a || !b) { fprintf(stderr, "%s\n", tc_err_message()); tc_err_clear(); continue; }
      CHECK_MSG(plans_equal_(a, b), "%s seed %lld: two plans differ", name, (long long)seed);
      int heads = 0;
      for (int c = 0; c < a->n_classes; c++) {
        const TcLongtailClass *k = &a->classes[c];
        heads += !k->is_tail;
        if (proto < 2) CHECK_INT(k->n_keep, k->is_tail ? p.step_k : 30);
        else CHECK_INT(k->is_tail, k->n_keep < 20);
        if (k->is_tail) CHECK_INT(k->n_noise, 0);
        CHECK(k->n_noise <= k->n_anomaly);
      }
      if (proto < 2) CHECK_INT(heads, 4);
      CHECK_INT(a->n_noise, tc_longtail_round_half_even(0.1 * (double)a->n_good));
      /* write manifests, rebuild, compare */
      char g[600], n[600];
      snprintf(g, sizeof g, "%s/good.txt", tmpdir_);
      snprintf(n, sizeof n, "%s/noise.txt", tmpdir_);
      CHECK(tc_longtail_write_manifests(a, g, n) == TC_OK);
      TcLongtailPlan *r = NULL;
      CHECK(tc_longtail_plan_from_manifests(root, &p, g, n, &r) == TC_OK);
      if (r) CHECK_MSG(plans_equal_(a, r), "%s seed %lld: rebuilt plan differs", name, (long long)seed);
      else { fprintf(stderr, "%s\n", tc_err_message()); tc_err_clear(); }
      tc_longtail_plan_destroy(&r);
      tc_longtail_plan_destroy(&a);
      tc_longtail_plan_destroy(&b);
    }
  }
  /* seeds change the choice */
  TcLongtailPlan *a = NULL, *b = NULL;
  tc_longtail_params_init(&p, "step_k4");
  p.seed = 1;
  tc_longtail_plan(root, &p, &a);
  p.seed = 2;
  tc_longtail_plan(root, &p, &b);
  CHECK(a && b && !plans_equal_(a, b));
  tc_longtail_plan_destroy(&a);
  tc_longtail_plan_destroy(&b);
  /* not enough anomalies for the noise ratio */
  tc_longtail_params_init(&p, "step_k4");
  p.noise_ratio = 0.9;
  CHECK(tc_longtail_plan(root, &p, &a) == TC_ERR_FORMAT && a == NULL);
  CHECK(strstr(tc_err_message(), "anomalies") != NULL);
  tc_err_clear();
  /* a tail class with fewer images than K */
  char root2[512];
  snprintf(root2, sizeof root2, "%s/lt2", tmpdir_);
  int small[5] = {3, 3, 3, 3, 3};
  make_source_(root2, 5, small, 2);
  tc_longtail_params_init(&p, "step_k4");
  CHECK(tc_longtail_plan(root2, &p, &a) == TC_ERR_FORMAT);
  CHECK(strstr(tc_err_message(), "3 images") != NULL);
  tc_err_clear();
  tc_longtail_params_init(&p, "pareto");
  CHECK(tc_longtail_plan(root2, &p, &a) == TC_ERR_FORMAT);
  tc_err_clear();
}

int main(void) {
  snprintf(tmpdir_, sizeof tmpdir_, "%s/tc_test_dataset.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
  if (!mkdtemp(tmpdir_)) { perror("mkdtemp"); return 1; }
  test_pareto_();
  test_image_write_();
  test_lister_();
  test_info_();
  test_longtail_();
  test_synth_();
  test_defect_paint_();
  rm_rf_(tmpdir_);
  return tc_test_report();
}
