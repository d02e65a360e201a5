/* cmd_predict.c - `tailedcore predict`: model.h5 + test features (or test
 * images) -> scores.h5 (DESIGN 3.7). Option parsing only; the work is
 * tc_ppredict_run (mpi/ppredict.c). Collective on comm. */
#include <stdlib.h>
#include <string.h>

#include <math.h>

#include "calib.h"
#include "commands.h"
#include "common_opts.h"
#include "context.h"
#include "h5fmt.h"
#include "image.h"
#include "opts.h"
#include "outguard.h"
#include "ppredict.h"

#define TC_SIGMA_MAX 64.0
/* --nprobe's default (issue 17: recall@1 measured in DECISIONS.md) */
static const char NPROBE_DEFAULT_[] = "8";
static const char NLIST_DEFAULT_[] = "auto";

static const TcCmdDoc doc_ = {"predict", "tailedcore predict --model model.h5 (--features test.h5 | --data ROOT [--split test] | --data ROOT --list FILE | [--list FILE] [IMAGE ...]) --out scores.h5 [--csv scores.csv] [--maps DIR] [options]",
                               "Score test images against a model's memory bank (DESIGN 3.7): patch score = squared L2 distance to the nearest memory patch (times its weight for softpatch), image score = max, anomaly map = bilinear to the crop size + Gaussian. Images are either an MVTec-layout root (--data), or plain image files anywhere: --list FILE without --data (one absolute or cwd-relative path a line) and/or IMAGE paths after the options; /paths keeps them as given. Test images are dealt to the ranks in contiguous blocks; the scores do not depend on the number of ranks. --csv adds a table path,class,score (raw image score, %.9g; class: the CLASS folder under --data, else empty). A model fitted with --val-fraction or --val is calibrated: then every image also gets a threshold (its class's when the class had enough validation images, else the global one), a normalised score (score / threshold: 1 is the boundary) and an OK/NG decision (NG when score > threshold); in scores.h5 (/thresholds, /normalised_scores, /decisions) and as --csv columns threshold,normalised_score,decision. --maps DIR writes a heatmap PNG (the crop the model saw, the anomaly map over it in units of the threshold, a colour bar, the decision) per NG image, or per image with --maps-all or an uncalibrated model, as DIR/NAME.heatmap.png (NAME = the image path as listed, without its extension)."};

/* Which images: exactly one of --features, --data (with --split or a
 * manifest --list), or plain files (--list without --data, and/or paths on
 * the command line). Local. */
static TcErr check_sources_(const TcPredictOptions *o) {
  int plain = !o->data_root && (o->list || o->n_images > 0);
  int sources = (o->features != NULL) + (o->data_root != NULL) + plain;
  if (o->features && (o->list || o->n_images > 0))
    return tc_err_set(TC_ERR_USAGE, "predict: --features scores its own images: no --list or image paths with it");
  if (o->data_root && o->n_images > 0)
    return tc_err_set(TC_ERR_USAGE, "predict: image paths ('%s') are scored without --data (use --list with --data)",
                      o->images[0]);
  if (sources != 1)
    return tc_err_set(TC_ERR_USAGE,
                      "predict: give one of --features, --data, or image files (--list FILE and/or paths) (see --help)");
  /* the kernel is 8 sigma + 1 wide: past 64 it is wider than any crop
   * the maps are made for (and 1e9 asked for gigabytes) */
  if (o->maps_dir && o->features)
    return tc_err_set(TC_ERR_USAGE, "predict: --maps draws over the images: score them with --data or as image "
                                    "files, not from --features");
  if (o->maps_all && !o->maps_dir) return tc_err_set(TC_ERR_USAGE, "predict: --maps-all needs --maps DIR");
  if (!(o->sigma > 0.0 && o->sigma <= TC_SIGMA_MAX))
    return tc_err_set(TC_ERR_USAGE, "predict: --sigma %g is out of range: it must be in (0, %g]", o->sigma,
                      TC_SIGMA_MAX);
  return TC_OK;
}

/* --search, --nlist, --nprobe, --index: the IVF's only with --search ivf.
 * Local. */
static TcErr parse_search_(const char *search, const char *nlist, const char *nprobe, const char *image_score,
                          TcPredictOptions *o) {
  o->search_mode = !strcmp(search, "ivf") ? TC_SEARCH_IVF : !strcmp(search, "auto") ? TC_SEARCH_AUTO : TC_SEARCH_EXACT;
  o->ivf_image_score = o->search_mode != TC_SEARCH_EXACT && !strcmp(image_score, "ivf");
  if (o->search_mode == TC_SEARCH_EXACT) {
    if (strcmp(image_score, "exact"))
      return tc_err_set(TC_ERR_USAGE, "predict: --image-score ivf is the IVF search's own max: give it with --search ivf");
    if (strcmp(nlist, NLIST_DEFAULT_) || nprobe != NPROBE_DEFAULT_)
      return tc_err_set(TC_ERR_USAGE, "predict: --nlist and --nprobe size the IVF index: give them with --search ivf");
    if (o->index) return tc_err_set(TC_ERR_USAGE, "predict: --index is an IVF index: give it with --search ivf");
    return TC_OK;
  }
  char *end = NULL;
  o->nlist = 0;
  if (strcmp(nlist, "auto")) {
    long long v = strtoll(nlist, &end, 10);
    if (end == nlist || *end || v < 1 || v > 100000000LL)
      return tc_err_set(TC_ERR_USAGE, "predict: --nlist '%s' must be auto or an integer in 1..100000000", nlist);
    o->nlist = v;
  }
  long long v = strtoll(nprobe, &end, 10);
  if (end == nprobe || *end || v < 1 || v > 100000000LL)
    return tc_err_set(TC_ERR_USAGE, "predict: --nprobe '%s' must be an integer in 1..100000000", nprobe);
  o->nprobe = v;
  return TC_OK;
}

/* Outputs never name an input: --out and --csv against the model, the
 * features, the list, the weights (only when images are extracted: the
 * default --weights is not read otherwise), and each other; then the
 * output folders are checked before the work. Collective; agreed. The
 * images themselves are checked when they are listed (ppredict.c). */
static TcErr guard_outputs_(MPI_Comm comm, const TcPredictOptions *o) {
  TcErr err = TC_OK;
  if (tc_rank(comm) == 0) {
    const TcGuardInput in[] = {{"--model", o->model}, {"--features", o->features}, {"--list", o->list},
                               {"--weights", o->features ? NULL : o->weights}, {"--calibration", o->calibration},
                               {"--index", o->index}, {"--out", o->out}};
    err = tc_outguard_check("--out", o->out, in, 6);
    if (!err && o->csv) err = tc_outguard_check("--csv", o->csv, in, 7);
    /* a heatmap never lands on the model, the list, ...: its names end in
     * .heatmap.png, which no input is checked to lack, so the folder is
     * checked not to be one of them */
    if (!err && o->maps_dir) err = tc_outguard_check("--maps", o->maps_dir, in, 7);
  }
  err = tc_agree_root(comm, err);
  if (!err && o->csv) err = tc_h5_check_output(comm, o->csv);
  return err;
}

TcErr tc_cmd_predict(MPI_Comm comm, int argc, char **argv) {
  TcPredictOptions o;
  memset(&o, 0, sizeof o);
  const char *bank = NULL, *target_frr = NULL, *search = NULL, *nlist = NULL, *nprobe = NULL, *image_score = NULL;
  int64_t max_pixels = TC_IMAGE_MAX_PIXELS_DEFAULT;
  TcOpt opts[] = {
      {"model", TC_OPT_STRING, &o.model, NULL, "model file from `tailedcore fit` (input)", NULL, 1},
      {"features", TC_OPT_STRING, &o.features, NULL,
       "precomputed test features (features.h5 from `tailedcore extract` on the test images)", NULL, 0},
      {"data", TC_OPT_STRING, &o.data_root, NULL, "MVTec-layout data set root: extract the test images here", NULL, 0},
      {"split", TC_OPT_CHOICE, &o.split, "test", "split of --data to score", "test|train", 0},
      {"list", TC_OPT_STRING, &o.list, NULL,
       "with --data: manifest of ROOT-relative image paths; without: image files to score, one absolute or "
       "cwd-relative path a line ('#' comments and blank lines skipped)", NULL, 0},
      tc_opt_weights(&o.weights, TC_WEIGHTS_DEFAULT,
                     "backbone weights (when scoring images); must be the file the model was trained with (checksum)"),
      {"out", TC_OPT_STRING, &o.out, NULL, "scores file to write (published atomically)", NULL, 1},
      {"csv", TC_OPT_STRING, &o.csv, NULL,
       "also write path,class,score, one row per image, header first (published atomically after --out), "
       "plus threshold,normalised_score,decision when the model is calibrated", NULL, 0},
      tc_opt_mem_per_rank(&o.mem_per_rank, "memory a rank may use for the memory bank and its work; above it the "
                                           "bank is split over the ranks; 0..1P"),
      {"bank", TC_OPT_CHOICE, &bank, "auto",
       "memory-bank placement: auto (split only when it does not fit), replicated, split", "auto|replicated|split", 0},
      {"target-frr", TC_OPT_STRING, &target_frr, "model",
       "false-reject rate the decisions aim at: 'model' keeps the threshold fit stored; a rate in (0, 1) sets "
       "a new one from the model's validation scores (no refit)", NULL, 0},
      {"calibration", TC_OPT_STRING, &o.calibration, NULL,
       "threshold data from `tailedcore calibrate` instead of the model's own (must be made for this model's "
       "backbone, features, method and memory bank)", NULL, 0},
      {"maps", TC_OPT_STRING, &o.maps_dir, NULL,
       "folder for heatmap PNGs of the NG images (created; needs images, not --features)", NULL, 0},
      {"maps-all", TC_OPT_FLAG, &o.maps_all, NULL, "with --maps: a heatmap for every image, OK ones too", NULL, 0},
      {"search", TC_OPT_CHOICE, &search, "auto",
       "nearest-neighbour search: exact (every memory row), ivf (an inverted-file index, k-means of the bank into "
       "--nlist lists, --nprobe nearest lists scanned per patch; the image scores are made exact by "
       "--image-score, the maps stay approximate; needs the whole bank on every rank, never splits it; logs and "
       "stores the recall@1 measured on ~2000 sampled patches), or auto: ivf, unless the bank must be split over "
       "the ranks (--bank split, or bank and index above --mem-per-rank), then exact; the log line and scores.h5's "
       "`search` say which ran (DECISIONS.md \"The fast path becomes tailedcore's default\")",
       "auto|exact|ivf", 0},
      {"nlist", TC_OPT_STRING, &nlist, NLIST_DEFAULT_,
       "with --search ivf or auto: k-means lists; auto = round(4 sqrt(memory rows)); clamped to the memory rows", NULL, 0},
      {"nprobe", TC_OPT_STRING, &nprobe, NPROBE_DEFAULT_,
       "with --search ivf or auto: lists scanned per patch, 1..nlist (more: slower, higher recall)", NULL, 0},
      {"index", TC_OPT_STRING, &o.index, NULL,
       "with --search ivf or auto: load this index (from `tailedcore index` on this model) instead of building it; "
       "refused when made for another memory bank, or when an explicit --nlist differs from its lists "
       "(input; default: none, build it)", NULL, 0},
      {"image-score", TC_OPT_CHOICE, &image_score, "exact",
       "with --search ivf or auto: exact (each image score made equal to the exact search's: the patches whose IVF score "
       "plus its rounding bound could exceed the best exactly rescored patch are rescored against the whole bank, "
       "a few an image; the maps stay the IVF's elsewhere) or ivf (the max of the IVF patch scores: faster, never "
       "lower than exact)", "exact|ivf", 0},
      {"sigma", TC_OPT_DOUBLE, &o.sigma, "4", "Gaussian sigma of the anomaly maps in pixels (DESIGN 3.7), in (0, 64]", NULL, 0},
      {"max-pixels", TC_OPT_INT, &max_pixels, "89478485", "refuse images declaring more pixels than this, before decoding (decompression bombs; the default is PIL's MAX_IMAGE_PIXELS)" " (when scoring images)", NULL, 0},
  };
  int help = 0, npos = 0;
  /* image paths after the options: as many as the shell passes */
  const char **images = tc_malloc(sizeof(char *) * (size_t)(argc + 1), "image arguments");
  TcErr err = images ? tc_opts_parse(doc_.name, opts, TC_NOPTS(opts), argc, argv, &help, images, argc, &npos)
                     : TC_ERR_MEM;
  o.images = images;
  o.n_images = npos;
  if (!err && help) {
    if (tc_rank(comm) == 0) tc_opts_help(stdout, doc_.name, doc_.synopsis, doc_.summary, opts, TC_NOPTS(opts));
    free(images);
    return tc_agree(comm, TC_OK);
  }
  if (!err) err = tc_image_set_max_pixels(max_pixels);
  if (!err && strcmp(target_frr, "model")) {
    char *end = NULL;
    o.target_frr = strtod(target_frr, &end);
    if (end == target_frr || *end) o.target_frr = NAN;
    err = tc_calib_check_frr("predict: --target-frr", o.target_frr);
  }
  if (!err) err = parse_search_(search, nlist, nprobe, image_score, &o);
  if (!err) err = check_sources_(&o);
  if (!err) o.bank_mode = !strcmp(bank, "split") ? TC_BANK_SPLIT
                        : !strcmp(bank, "replicated") ? TC_BANK_REPLICATED : TC_BANK_AUTO;
  err = tc_agree(comm, err);
  if (!err) err = guard_outputs_(comm, &o);
  if (!err) err = tc_ppredict_run(comm, &o);
  free(images);
  return err;
}
