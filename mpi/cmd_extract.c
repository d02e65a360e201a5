/* cmd_extract.c - `tailedcore extract`: images -> features.h5 (DESIGN 3.1,
 * 3.2, 5, 6). Rank 0 builds the image list (MVTec listing, or a list file)
 * and broadcasts it; tc_pextract_run does the rest. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backbone.h"
#include "commands.h"
#include "common_opts.h"
#include "context.h"
#include "dataset.h"
#include "image.h"
#include "log.h"
#include "opts.h"
#include "outguard.h"
#include "pextract.h"

#define TC_RESIZE_MAX 4096

/* Rank 0: the images to read (paths) and what to record (names). */
static TcErr build_list_(const char *data, const char *list, const char *split, int64_t *n,
                         char ***paths, char ***names) {
  *n = 0;
  *paths = *names = NULL;
  TcErr err = TC_OK;
  TcDataset *ds = NULL;
  int64_t cnt = 0, cap = 0;
  char **p = NULL, **nm = NULL;
  if (data && !list) {
    TC_CALL(tc_dataset_list(data, split, &ds));
    cnt = ds->n;
    p = tc_calloc((size_t)cnt, sizeof(char *), "paths");
    nm = tc_calloc((size_t)cnt, sizeof(char *), "names");
    if (!p || !nm) err = TC_ERR_MEM;
    for (int64_t i = 0; !err && i < cnt; i++) {
      size_t l = strlen(data) + strlen(ds->items[i].path) + 2;
      p[i] = malloc(l);
      nm[i] = strdup(ds->items[i].path);
      if (!p[i] || !nm[i]) err = tc_err_set(TC_ERR_MEM, "out of memory listing %s", data);
      else snprintf(p[i], l, "%s/%s", data, ds->items[i].path);
    }
    tc_dataset_destroy(&ds);
  } else {
    /* one path per line; blank lines and '#' comments skipped; relative to
     * --data when given, else as written */
    FILE *fp = NULL;
    TC_CALL(tc_text_open(list, "image list", TC_TEXT_MAX_BYTES, &fp));
    char line[TC_TEXT_LINE_MAX + 1];
    int64_t lineno = 0;
    int got = 0;
    while (!err) {
      err = tc_text_line(fp, list, &lineno, line, sizeof line, &got);
      if (err || !got) break;
      size_t l = strlen(line);
      while (l && (line[l - 1] == '\r' || line[l - 1] == ' ')) line[--l] = 0;
      if (!l || line[0] == '#') continue;
      if (cnt == cap) {
        cap = cap ? 2 * cap : 256;
        char **a = realloc(p, (size_t)cap * sizeof *a), **b = a ? realloc(nm, (size_t)cap * sizeof *b) : NULL;
        if (a) p = a;
        if (b) nm = b;
        if (!a || !b) {
          err = tc_err_set(TC_ERR_MEM, "out of memory reading %s", list);
          break;
        }
      }
      size_t pl = (data ? strlen(data) + 1 : 0) + l + 1;
      p[cnt] = malloc(pl);
      nm[cnt] = strdup(line);
      if (!p[cnt] || !nm[cnt]) {
        free(p[cnt]);
        free(nm[cnt]);
        err = tc_err_set(TC_ERR_MEM, "out of memory reading %s", list);
        break;
      }
      if (data && line[0] != '/') snprintf(p[cnt], pl, "%s/%s", data, line);
      else snprintf(p[cnt], pl, "%s", line);
      cnt++;
    }
    fclose(fp);
    if (!err && cnt == 0) err = tc_err_set(TC_ERR_FORMAT, "%s: no image paths in the list", list);
  }
  if (err) {
    for (int64_t i = 0; p && nm && i < cnt; i++) free(p[i]), free(nm[i]);
    free(p);
    free(nm);
    return err;
  }
  *n = cnt;
  *paths = p;
  *names = nm;
  return TC_OK;
}

/* Rank 0: no image of the list may be the output (the features would
 * replace it). One stat per image when out exists, else name compares. */
static TcErr guard_images_(const char *out, int64_t n, char **paths) {
  TcOutGuard *g = NULL;
  TC_CALL(tc_outguard_open("--out", out, &g));
  TcErr err = TC_OK;
  for (int64_t i = 0; !err && i < n; i++) err = tc_outguard_input(g, "image", paths[i]);
  tc_outguard_close(&g);
  return err;
}

/* rank 0's own list (build_list_: one allocation per string) */
static void free_list_(int64_t n, char **s) {
  for (int64_t i = 0; s && i < n; i++) free(s[i]);
  free(s);
}

static const TcCmdDoc doc_ = {"extract", "tailedcore extract --data ROOT | --list FILE --out features.h5 [options]",
                               "Decode, resize and crop every image (DESIGN 3.1), run the backbone and write the patch features [N, HW, D] and global embeddings [N, E] (DESIGN 3.2) to an HDF5 file. Images are dealt to the ranks in contiguous blocks; the result does not depend on the number of ranks. A bad image stops the job before anything is written, unless --skip-bad-images."};

TcErr tc_cmd_extract(MPI_Comm comm, int argc, char **argv) {
  int rank = tc_rank(comm);
  const char *data = NULL, *list = NULL, *split = NULL, *backbone = NULL, *weights = NULL;
  const char *out = NULL, *taps = NULL, *embed_tap = NULL;
  int64_t dim = 0, resize = 256, crop = 224, batch = 8, mem_per_rank = 0;
  int skip_bad = 0;
  int64_t max_pixels = TC_IMAGE_MAX_PIXELS_DEFAULT;
  TcOpt opts[] = {
      {"data", TC_OPT_STRING, &data, NULL, "MVTec-layout root (CLASS/train/good, CLASS/test/TYPE); with --list: the root list paths are relative to", NULL, 0},
      {"list", TC_OPT_STRING, &list, NULL, "text file with one image path per line (instead of listing --data)", NULL, 0},
      {"split", TC_OPT_CHOICE, &split, "train", "which split of --data to list", "train|test", 0},
      {"backbone", TC_OPT_CHOICE, &backbone, "mobilenetv2", "feature backbone (DESIGN 3.2)", TC_BACKBONE_CHOICES, 0},
      tc_opt_weights(&weights, TC_WEIGHTS_DEFAULT, "weights file of the backbone (analysis/get_default_weights.sh makes the default)"),
      {"out", TC_OPT_STRING, &out, NULL, "features file to write (published atomically)", NULL, 1},
      {"dim", TC_OPT_INT, &dim, "0", "patch feature dimension D (0: backbone default, 1024 resnets, 576 mobilenetv2), 0..2^20", NULL, 0},
      {"resize", TC_OPT_INT, &resize, "256", "shorter side after the antialiased bilinear resize, --crop..4096", NULL, 0},
      {"crop", TC_OPT_INT, &crop, "224", "centre crop side, 1..--resize", NULL, 0},
      {"taps", TC_OPT_STRING, &taps, "", "comma-separated feature maps (default: layer2,layer3 / block_5_add,block_10_project_BN)", NULL, 0},
      {"embed-tap", TC_OPT_STRING, &embed_tap, "", "feature map(s) pooled into the embedding for TailSampler: NAME (average over positions) or NAME:std (standard deviation over positions); a comma-separated list concatenates them (not normalised per part). Default: layer4 for wrn50/resnet18, block_10_project_BN:std for mobilenetv2 (DESIGN 3.2 says out_relu; DECISIONS.md). Recorded as attribute embed_tap", NULL, 0},
      {"skip-bad-images", TC_OPT_FLAG, &skip_bad, NULL, "skip unreadable images (recorded in /skipped and the log) instead of stopping", NULL, 0},
      {"batch", TC_OPT_INT, &batch, "8", "images per rank between collective writes (memory: batch x HW x D floats), 1..4096", NULL, 0},
      tc_opt_mem_per_rank(&mem_per_rank, "memory a rank may use: the decoded crops (crop x crop x 3 bytes per image) are kept between the check and the extraction when they fit, else (or with 0) images are decoded twice; 0..1P"),
      {"max-pixels", TC_OPT_INT, &max_pixels, "89478485", "refuse images declaring more pixels than this, before decoding (decompression bombs; the default is PIL's MAX_IMAGE_PIXELS)", NULL, 0},
  };
  int help = 0;
  TcErr err = tc_cmd_options(comm, &doc_, opts, TC_NOPTS(opts), argc, argv, &help);
  if (help) return err;
  if (!err) err = tc_image_set_max_pixels(max_pixels);
  if (!err && !data && !list) err = tc_err_set(TC_ERR_USAGE, "extract: give --data ROOT or --list FILE");
  if (!err && (dim < 0 || dim > 1 << 20)) err = tc_err_set(TC_ERR_USAGE, "extract: bad --dim %lld", (long long)dim);
  /* 4096: a 4096 x 4096 crop is 16.8 M pixels, 334x the default 224 x 224;
   * beyond it the CNN's activations alone outgrow a node */
  if (!err && (crop < 1 || resize < crop || resize > TC_RESIZE_MAX))
    err = tc_err_set(TC_ERR_USAGE, "extract: need 1 <= --crop (%lld) <= --resize (%lld) <= %d", (long long)crop,
                     (long long)resize, TC_RESIZE_MAX);
  if (!err && (batch < 1 || batch > 4096)) err = tc_err_set(TC_ERR_USAGE, "extract: --batch must be in 1..4096");
  err = tc_agree(comm, err);
  if (err) return err;

  if (rank == 0) {
    const TcGuardInput in[] = {{"--weights", weights}, {"--list", list}};
    err = tc_outguard_check("--out", out, in, 2);
  }
  err = tc_agree_root(comm, err);
  if (err) return err;

  int64_t n = 0;
  char **paths = NULL, **names = NULL;
  if (rank == 0) err = build_list_(data, list, split, &n, &paths, &names);
  if (rank == 0 && !err) err = guard_images_(out, n, paths);
  err = tc_agree_root(comm, err);
  char **all_paths = NULL, **all_names = NULL;
  int64_t n_names = n;
  if (!err) err = tc_bcast_strings(comm, &n, paths, &all_paths);
  if (!err) err = tc_bcast_strings(comm, &n_names, names, &all_names);
  free_list_(n, paths);
  free_list_(n, names);
  if (!err) {
    tc_log(1, "extract: %lld images, backbone %s (%s), %d rank(s)", (long long)n, backbone, weights,
           tc_size(comm));
    TcExtractConfig cfg = {backbone, weights, taps, (int)dim, (int)resize, (int)crop, skip_bad, (int)batch};
    err = tc_pextract_run(comm, &cfg, embed_tap, n, (const char *const *)all_paths,
                          (const char *const *)all_names, out, mem_per_rank);
  }
  free(all_paths);
  free(all_names);
  return err;
}
