/* views_check.c - an exact check of tc_pextract_views (DESIGN 3.6 step 8)
 * against plain extraction of images transformed on disk, for the
 * tail-view test (tests/mpi/test_fit_views.sh). One process, no mpirun.
 *
 *   views_check rotflip IMAGE WEIGHTS RESIZE CROP OUTDIR
 *     For each of the 7 rotflip views (flip, then rotate counter-clockwise
 *     by 0/90/180/270 degrees), transform the decoded IMAGE with plain array
 *     index arithmetic, write it to OUTDIR/view_V.tiff, extract that file
 *     the ordinary way (decode, resize, crop, network) and compare with
 *     tc_pextract_views' features of view V. For a square image whose side
 *     equals RESIZE the resize is the identity and the edge padding of the
 *     views is symmetric, so flipping/rotating before the pipeline commutes
 *     with it: the features must be EQUAL (max |diff| = 0). For other
 *     sizes the resize's intermediate rounding (PIL's separable passes, the
 *     horizontal one first) differs between an image and its rotation, so
 *     the tool only prints the difference (--inexact: no failure).
 *     Also checks the view counts (7, 23, 47) and that the rot15flip views
 *     at 90/180/270 degrees and the flips equal the rotflip ones.
 *   views_check bank MODEL FEATURES DATA WEIGHTS
 *     Every memory-bank row of a fit with views equals its source, bit for
 *     bit: image patches the row of features.h5, view patches the patch of
 *     that view extracted again (global index N*HW + (t*V + v)*HW + p).
 *   views_check set-attr FILE NAME VALUE
 *     Set a root string attribute (e.g. a weights file's sha256), to make a
 *     weights file the features do not match.
 * Last line: "N passed, N failed"; exit status 1 on any failure. */
#include <hdf5.h>
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../unit/check.h"
#include "augment.h"
#include "features_io.h"
#include "h5fmt.h"
#include "image.h"
#include "image_write.h"
#include "pextract.h"

/* out = in flipped horizontally (flip) then rotated counter-clockwise by
 * quarter turns q; in and out are [s x s x 3]. */
static void transform_(const uint8_t *in, int s, int flip, int q, uint8_t *out) {
  uint8_t *a = malloc((size_t)s * s * 3), *b = malloc((size_t)s * s * 3);
  for (int y = 0; y < s; y++)
    for (int x = 0; x < s; x++) memcpy(a + ((size_t)y * s + x) * 3, in + ((size_t)y * s + (flip ? s - 1 - x : x)) * 3, 3);
  for (int k = 0; k < q; k++) {
    /* counter-clockwise quarter turn: the input's top row becomes the
     * output's left column, read bottom to top: out(x, y) = in(s-1-y, x) */
    for (int y = 0; y < s; y++)
      for (int x = 0; x < s; x++) memcpy(b + ((size_t)y * s + x) * 3, a + ((size_t)x * s + (s - 1 - y)) * 3, 3);
    uint8_t *t = a;
    a = b;
    b = t;
  }
  memcpy(out, a, (size_t)s * s * 3);
  free(a);
  free(b);
}

static double maxdiff_(const float *a, const float *b, size_t n) {
  double m = 0;
  for (size_t i = 0; i < n; i++) {
    double d = fabs((double)a[i] - (double)b[i]);
    if (!(d <= m)) m = d;
  }
  return m;
}

static int rotflip_(int argc, char **argv) {
  if (argc < 7) {
    fprintf(stderr, "usage: views_check rotflip IMAGE WEIGHTS RESIZE CROP OUTDIR [--inexact]\n");
    return 2;
  }
  const char *image = argv[2], *weights = argv[3], *outdir = argv[6];
  int resize = atoi(argv[4]), crop = atoi(argv[5]), inexact = argc > 7 && !strcmp(argv[7], "--inexact");
  CHECK_INT(tc_augment_count(TC_AUG_ROTFLIP), 7);
  CHECK_INT(tc_augment_count(TC_AUG_ROT30FLIP), 23);
  CHECK_INT(tc_augment_count(TC_AUG_ROT15FLIP), 47);

  TcExtractConfig cfg = {"mobilenetv2", weights, NULL, 0, resize, crop, 0, 1};
  TcExtractor *ex = NULL;
  if (tc_extractor_create(&cfg, &ex) != TC_OK) {
    fprintf(stderr, "views_check: %s\n", tc_err_message());
    return 1;
  }
  TcImage img = {0};
  if (tc_image_read(image, &img) != TC_OK || img.w != img.h) {
    fprintf(stderr, "views_check: %s: need a readable square image\n", image);
    return 1;
  }
  const int s = img.w;
  const size_t fsz = (size_t)ex->fmap_h * ex->fmap_w * ex->D;
  float *v7 = malloc(7 * fsz * sizeof(float)), *v47 = malloc(47 * fsz * sizeof(float));
  float *plain = malloc(fsz * sizeof(float));
  uint8_t *px = malloc((size_t)s * s * 3);
  CHECK(tc_pextract_views(ex, image, TC_AUG_ROTFLIP, v7) == TC_OK);
  CHECK(tc_pextract_views(ex, image, TC_AUG_ROT15FLIP, v47) == TC_OK);
  /* the original itself is not a view: view 0 must differ from it */
  CHECK(tc_extractor_load(ex, image) == TC_OK && tc_extractor_run(ex, plain, NULL) == TC_OK);
  CHECK(maxdiff_(plain, v7, fsz) > 0);
  double worst = 0;
  for (int v = 0; v < 7; v++) {
    int flip, ang, flip15, ang15;
    tc_augment_view_spec(TC_AUG_ROTFLIP, v, &flip, &ang);
    CHECK(ang % 90 == 0);
    transform_(img.rgb, s, flip, ang / 90, px);
    char path[4096];
    snprintf(path, sizeof path, "%s/view_%d.tiff", outdir, v);
    CHECK(tc_image_write(path, s, s, 3, px, TC_IMAGE_TIFF_RAW) == TC_OK);
    CHECK(tc_extractor_load(ex, path) == TC_OK && tc_extractor_run(ex, plain, NULL) == TC_OK);
    double d = maxdiff_(plain, v7 + (size_t)v * fsz, fsz);
    printf("view %d (flip %d, %3d deg): max |features(view) - features(transformed file)| = %g\n", v, flip,
           ang, d);
    if (d > worst) worst = d;
    if (!inexact) CHECK_MSG(d == 0, "view %d differs by %g", v, d);
    /* the same view in the rot15flip order */
    int w = -1;
    for (int u = 0; u < 47; u++) {
      tc_augment_view_spec(TC_AUG_ROT15FLIP, u, &flip15, &ang15);
      if (flip15 == flip && ang15 == ang) w = u;
    }
    CHECK_MSG(w >= 0 && maxdiff_(v7 + (size_t)v * fsz, v47 + (size_t)w * fsz, fsz) == 0,
              "rot15flip view %d != rotflip view %d", w, v);
  }
  printf("views_check: %dx%d image, resize %d, crop %d: worst difference %g (%s)\n", s, s, resize, crop, worst,
         inexact ? "informational" : "must be 0");
  free(v7);
  free(v47);
  free(plain);
  free(px);
  tc_image_free(&img);
  tc_extractor_destroy(&ex);
  return tc_test_report();
}

/* Every memory-bank row against its source: an image patch (g < N*HW) is
 * row g of features.h5; a view patch g = N*HW + (t*V + v)*HW + p is patch p
 * of view v of the t-th tail image, extracted here again. Exact. */
static int bank_(int argc, char **argv) {
  if (argc != 6) {
    fprintf(stderr, "usage: views_check bank MODEL FEATURES DATA WEIGHTS\n");
    return 2;
  }
  TcH5File *mf = NULL, *ff = NULL;
  TcFeaturesMeta fm;
  if (tc_h5_open(MPI_COMM_SELF, argv[2], "model", &mf) || tc_features_open(MPI_COMM_SELF, argv[3], &ff, &fm)) {
    fprintf(stderr, "views_check: %s\n", tc_err_message());
    return 1;
  }
  const int64_t N = fm.N, HW = fm.fmap_h * fm.fmap_w, D = fm.D;
  int64_t M = 0, V = 0;
  char aug_name[32] = "";
  tc_h5_get_attr_i64(mf, "/", "M", &M);
  tc_h5_get_attr_i64(mf, "/", "tail_views_per_image", &V);
  tc_h5_get_attr_str(mf, "/", "tail_aug", aug_name, sizeof aug_name);
  TcAugment aug = TC_AUG_NONE;
  CHECK(tc_augment_parse(aug_name, &aug) == TC_OK && tc_augment_count(aug) == V);
  int64_t *g = malloc((size_t)M * sizeof(int64_t)), *tl = malloc((size_t)N * sizeof(int64_t));
  uint8_t *is_tail = malloc((size_t)N);
  float *bank = malloc((size_t)(M * D) * sizeof(float)), *img = malloc((size_t)(HW * D) * sizeof(float));
  float *views = malloc((size_t)((V ? V : 1) * HW * D) * sizeof(float));
  char **paths = NULL;
  CHECK(tc_h5_read_rows(mf, "coreset/indices", TC_H5_I64, 0, M, g) == TC_OK);
  CHECK(tc_h5_read_rows(mf, "memory_bank", TC_H5_F32, 0, M, bank) == TC_OK);
  CHECK(tc_h5_read_rows(mf, "tail/is_tail", TC_H5_U8, 0, N, is_tail) == TC_OK);
  CHECK(tc_h5_read_strings(ff, "paths", 0, N, &paths) == TC_OK);
  int64_t T = 0;
  for (int64_t i = 0; i < N; i++)
    if (is_tail[i]) tl[T++] = i;
  TcExtractConfig cfg = {fm.backbone, argv[5], fm.taps, (int)D, (int)fm.resize, (int)fm.crop, 0, 1};
  TcExtractor *ex = NULL;
  CHECK(tc_extractor_create(&cfg, &ex) == TC_OK);
  int64_t nimg = 0, nview = 0, bad = 0, cur_t = -1, cur_i = -1;
  for (int64_t r = 0; ex && r < M; r++) {
    const float *want;
    if (g[r] < N * HW) {
      int64_t i = g[r] / HW;
      if (i != cur_i && tc_features_read(ff, &fm, i, 1, img, NULL) != TC_OK) break;
      cur_i = i;
      want = img + (g[r] % HW) * D;
      nimg++;
    } else {
      int64_t q = g[r] - N * HW, t = q / (V * HW), v = (q / HW) % V, p = q % HW;
      if (t >= T) { bad++; continue; }
      if (t != cur_t) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", argv[4], paths[tl[t]]);
        if (tc_pextract_views(ex, path, aug, views) != TC_OK) break;
        cur_t = t;
      }
      want = views + (v * HW + p) * D;
      nview++;
    }
    if (memcmp(want, bank + r * D, (size_t)D * sizeof(float)) != 0) bad++;
  }
  printf("views_check: %lld bank rows: %lld image patches, %lld view patches, %lld mismatches\n", (long long)M,
         (long long)nimg, (long long)nview, (long long)bad);
  CHECK_INT(nimg + nview, M);
  CHECK_INT(bad, 0);
  tc_extractor_destroy(&ex);
  free(paths);
  free(g);
  free(tl);
  free(is_tail);
  free(bank);
  free(img);
  free(views);
  tc_h5_close(&ff);
  tc_h5_close(&mf);
  return tc_test_report();
}

static int set_attr_(int argc, char **argv) {
  if (argc != 5) {
    fprintf(stderr, "usage: views_check set-attr FILE NAME VALUE\n");
    return 2;
  }
  hid_t f = H5Fopen(argv[2], H5F_ACC_RDWR, H5P_DEFAULT);
  if (f < 0) return 1;
  if (H5Aexists(f, argv[3]) > 0) H5Adelete(f, argv[3]);
  hid_t t = H5Tcopy(H5T_C_S1);
  H5Tset_size(t, strlen(argv[4]) + 1);
  hid_t sp = H5Screate(H5S_SCALAR);
  hid_t a = H5Acreate2(f, argv[3], t, sp, H5P_DEFAULT, H5P_DEFAULT);
  int ok = a >= 0 && H5Awrite(a, t, argv[4]) >= 0;
  H5Aclose(a);
  H5Sclose(sp);
  H5Tclose(t);
  H5Fclose(f);
  return ok ? 0 : 1;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  int rc = 2;
  if (argc > 1 && !strcmp(argv[1], "rotflip")) rc = rotflip_(argc, argv);
  else if (argc > 1 && !strcmp(argv[1], "bank")) rc = bank_(argc, argv);
  else if (argc > 1 && !strcmp(argv[1], "set-attr")) rc = set_attr_(argc, argv);
  else fprintf(stderr, "usage: views_check rotflip ... | set-attr ...\n");
  MPI_Finalize();
  return rc;
}
