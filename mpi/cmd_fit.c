/* cmd_fit.c - `tailedcore fit` (DESIGN 3.3-3.6): options, then tc_pfit_run. */
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "common_opts.h"
#include "context.h"
#include "image.h"
#include "method.h"
#include "opts.h"
#include "outguard.h"
#include "pfit.h"
#include "tailsampler.h"

static const TcCmdDoc doc_ = {"fit", "tailedcore fit --features features.h5 --out model.h5 [options]",
                               "Build the memory bank (DESIGN 3.3-3.6): random projection, LOF noise filter per position, greedy coreset; tailedcore adds TailSampler's tail images as a second coreset, over the images and their --tail-aug views when --data and --weights are given (else over the images only, with a warning). Run under mpirun/srun: results do not depend on the rank count. Calibration (--val-fraction or --val): the validation images are kept out of the memory bank, scored against it as predict would, and model.h5 stores the threshold for --target-frr (split conformal: the ceil((n+1)(1-r))-th smallest validation score), per-class thresholds for folder classes with enough images, and the validation scores, so predict can decide OK/NG. TailSampler's tail images are never held out."};

TcErr tc_cmd_fit(MPI_Comm comm, int argc, char **argv) {
  TcFitOpts o;
  memset(&o, 0, sizeof o);
  int no_prune = 0;
  const char *filter = NULL;
  int64_t max_pixels = TC_IMAGE_MAX_PIXELS_DEFAULT;
  int64_t shard = 0;
  TcOpt opts[] = {
      {"features", TC_OPT_STRING, &o.features, NULL, "input features.h5 (from `tailedcore extract`)", NULL, 1},
      {"out", TC_OPT_STRING, &o.out, NULL, "output model.h5 (published atomically)", NULL, 1},
      {"data", TC_OPT_STRING, &o.data, NULL, "image root of features.h5's /paths: the tail images' rotated/flipped views are extracted from it (with --weights)", NULL, 0},
      tc_opt_weights(&o.weights, NULL, "backbone weights features.h5 was extracted with (checksum checked), for the tail views"),
      {"method", TC_OPT_CHOICE, &o.method_name, "tailedcore", "memory bank method", TC_METHOD_CHOICES, 0},
      {"coreset-ratio", TC_OPT_DOUBLE, &o.coreset_ratio, "0.1", "greedy coreset keeps floor(n * ratio) patches, in (0, 1]", NULL, 0},
      {"tail-coreset-ratio", TC_OPT_STRING, &o.tail_coreset_ratio_s, "auto", "tailedcore: M_tail's coreset keeps floor(n * this) of the tail images' (view) patches, in (0, 1]; auto: 2.5 x --coreset-ratio (at most 1) for mobilenetv2 features, --coreset-ratio otherwise (DESIGN 3.6 step 9, the authors' setting)", NULL, 0},
      {"proj-dim", TC_OPT_INT, &o.proj_dim, "128", "random projection dimension for LOF and coreset (1..4096)", NULL, 0},
      {"lof-k", TC_OPT_INT, &o.lof_k, "6", "LOF neighbours (1..64)", NULL, 0},
      {"lof-keep", TC_OPT_DOUBLE, &o.lof_keep, "0.85", "keep patches whose LOF is below this quantile, in (0, 1]", NULL, 0},
      tc_opt_tail_p(&o.tail_p_s),
      tc_opt_tail_cut(&o.tail_cut_s),
      tc_opt_embed_norm(&o.embed_norm_s),
      {"tail-aug", TC_OPT_CHOICE, &o.tail_aug, "rot15flip", "extra views of tail images", "rot15flip|rot30flip|rotflip|none", 0},
      {"seed", TC_OPT_INT, &o.seed, "0", "seed of the projection and the first coreset point (>= 0)", NULL, 0},
      tc_opt_mem_per_rank(&o.mem_per_rank, "memory a rank may use for the projected patches, LOF and the tail views (which spill to a scratch file beyond it); 0..1P"),
      {"max-pixels", TC_OPT_INT, &max_pixels, "89478485", "refuse images declaring more pixels than this, before decoding (decompression bombs; the default is PIL's MAX_IMAGE_PIXELS)" " (tail views, with --data)", NULL, 0},
      {"coreset-mode", TC_OPT_CHOICE, &o.coreset_mode_name, "auto", "greedy coreset variant: auto = exact for every method (with --coreset-filter's sketch the fastest mode on every benchmark set, 2-12x faster than before; DECISIONS.md \"An exact coreset that reads less\"); exact is DESIGN 3.5; tworound-int8 pays from about a million patches (1M: 91 s against exact's 163 s on 2 ranks), its AUROC within 0.3 points of exact's on the mean of the measured seeds for tailedcore; bf16/int8 keep the projected points in 2/1 bytes per value (int8: one scale = max |x| / qmax over all points); tworound = composable coreset over fixed shards (--coreset-shard, --coreset-oversample), combinable with bf16/int8; all modes give the same result on any rank count (DECISIONS.md: measured quality and speed)", "auto|exact|bf16|int8|tworound|tworound-bf16|tworound-int8", 0},
      {"coreset-shard", TC_OPT_INT, &shard, "8192", "tworound: points per shard; shards = ceil(n / this), shard j = the points with ordinal % shards == j", NULL, 0},
      {"coreset-oversample", TC_OPT_DOUBLE, &o.coreset_mode.oversample, "2", "tworound: round 1 keeps this times the final coreset size in total, >= 1", NULL, 0},
      {"tail-coreset", TC_OPT_CHOICE, &o.tail_coreset_s, "global", "tailedcore: M_tail as one greedy over all tail images' (view) patches (global, DESIGN 3.6 step 9), or per-image: a greedy over each tail image's own views (they cover each other), then the floor(n x --tail-coreset-ratio) picks of largest covering distance over all images; in the precision of --coreset-mode; about T/4 times fewer distances for T tail images (pareto: M_tail 170 s -> 13 s, against the global greedy before the sketch filter), image AUROC from +0.1 (step_k1) to -0.5 points (pareto) against global, mean of 4 seeds (DECISIONS.md \"Tail views, one image at a time\"); the same result on any rank count", "global|per-image", 0},
      {"coreset-filter", TC_OPT_CHOICE, &filter, "auto", "how a greedy step skips patches whose distance cannot change (every filter selects the same patches as none): sketch = an int8 lower bound on the leading principal axes of the projected patches, 5-9x fewer bytes per step on real features; triangle = the triangle inequality against each patch's centre (the default before issue 17); none = every distance every step; auto = sketch for float32 points where a rank holds at least 4096 and --proj-dim is at most 512, else triangle (DECISIONS.md \"An exact coreset that reads less\")", "auto|sketch|triangle|none", 0},
      {"no-prune", TC_OPT_FLAG, &no_prune, NULL, "the same as --coreset-filter none", NULL, 0},
      {"val-fraction", TC_OPT_DOUBLE, &o.val_fraction, "0", "hold out this fraction of each folder class's good training images (seeded by --seed and each image's path; never a tail image) for calibration, in [0, 0.5]; 0 = no calibration", NULL, 0},
      {"val", TC_OPT_STRING, &o.val_list, NULL, "hold out the images this file lists (paths as in features.h5's /paths, one a line) for calibration, instead of --val-fraction", NULL, 0},
      {"target-frr", TC_OPT_DOUBLE, &o.target_frr, "0.01", "false-reject rate on good images the stored threshold aims at, in (0, 1) (predict --target-frr changes it later without refitting)", NULL, 0},
  };
  int help = 0;
  TcErr err = tc_cmd_options(comm, &doc_, opts, TC_NOPTS(opts), argc, argv, &help);
  if (help) return err;
  if (!err) err = tc_image_set_max_pixels(max_pixels);
  if (!err) {
    o.pruned = no_prune || !strcmp(filter, "none") ? TC_CORESET_PLAIN
               : !strcmp(filter, "sketch")           ? TC_CORESET_SKETCH
               : !strcmp(filter, "triangle")         ? TC_CORESET_TRIANGLE
                                                     : TC_CORESET_FILTERED;
    o.coreset_mode.shard = shard;
    o.tail_per_image = !strcmp(o.tail_coreset_s, "per-image");
    /* auto: the exact greedy for every method. With the sketch filter it is
     * the fastest mode on every benchmark set for tailedcore, and the
     * baselines' bank stays DESIGN's (DECISIONS "An exact coreset that reads
     * less"); the two-round modes pay from about a million patches on */
    if (!strcmp(o.coreset_mode_name, "auto")) o.coreset_mode_name = "exact";
    err = tc_coreset_mode_parse(o.coreset_mode_name, &o.coreset_mode);
  }
  if (!err) {
    o.method = tc_method_find(o.method_name);
    err = tc_pfit_check(&o);
  }
  err = tc_agree(comm, err);
  if (err) return err;
  if (tc_rank(comm) == 0) {
    const TcGuardInput in[] = {{"--features", o.features}, {"--weights", o.weights}, {"--val", o.val_list}};
    err = tc_outguard_check("--out", o.out, in, 3);
  }
  err = tc_agree_root(comm, err);
  if (err) return err;
  return tc_pfit_run(comm, &o);
}
