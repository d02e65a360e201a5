/* cmd_predict.c - `tailedcore predict`: model.h5 + test features (or test
 * images) -> scores.h5 (DESIGN 3.7). Option parsing only; the work is
 * tc_ppredict_run (mpi/ppredict.c). Collective on comm. */
#include <string.h>

#include "commands.h"
#include "common_opts.h"
#include "context.h"
#include "image.h"
#include "opts.h"
#include "outguard.h"
#include "ppredict.h"

#define TC_SIGMA_MAX 64.0

static const TcCmdDoc doc_ = {"predict", "tailedcore predict --model model.h5 (--features test.h5 | --data ROOT [--split test] | --data ROOT --list FILE) --out scores.h5 [options]",
                               "Score test images against a model's memory bank (DESIGN 3.7): patch score = squared L2 distance to the nearest memory patch (times its weight for softpatch), image score = max, anomaly map = bilinear to the crop size + Gaussian. Test images are dealt to the ranks in contiguous blocks; the scores do not depend on the number of ranks."};

TcErr tc_cmd_predict(MPI_Comm comm, int argc, char **argv) {
  TcPredictOptions o;
  memset(&o, 0, sizeof o);
  const char *bank = NULL;
  int64_t max_pixels = TC_IMAGE_MAX_PIXELS_DEFAULT;
  TcOpt opts[] = {
      {"model", TC_OPT_STRING, &o.model, NULL, "model file from `tailedcore fit` (input)", NULL, 1},
      {"features", TC_OPT_STRING, &o.features, NULL,
       "precomputed test features (features.h5 from `tailedcore extract` on the test images)", NULL, 0},
      {"data", TC_OPT_STRING, &o.data_root, NULL, "MVTec-layout data set root: extract the test images here", NULL, 0},
      {"split", TC_OPT_CHOICE, &o.split, "test", "split of --data to score", "test|train", 0},
      {"list", TC_OPT_STRING, &o.list, NULL, "manifest of ROOT-relative image paths (with --data)", NULL, 0},
      tc_opt_weights(&o.weights, TC_WEIGHTS_DEFAULT,
                     "backbone weights (with --data); must be the file the model was trained with (checksum)"),
      {"out", TC_OPT_STRING, &o.out, NULL, "scores file to write (published atomically)", NULL, 1},
      tc_opt_mem_per_rank(&o.mem_per_rank, "memory a rank may use for the memory bank and its work; above it the "
                                           "bank is split over the ranks; 0..1P"),
      {"bank", TC_OPT_CHOICE, &bank, "auto",
       "memory-bank placement: auto (split only when it does not fit), replicated, split", "auto|replicated|split", 0},
      {"sigma", TC_OPT_DOUBLE, &o.sigma, "4", "Gaussian sigma of the anomaly maps in pixels (DESIGN 3.7), in (0, 64]", NULL, 0},
      {"max-pixels", TC_OPT_INT, &max_pixels, "89478485", "refuse images declaring more pixels than this, before decoding (decompression bombs; the default is PIL's MAX_IMAGE_PIXELS)" " (with --data)", NULL, 0},
  };
  int help = 0;
  TcErr err = tc_cmd_options(comm, &doc_, opts, TC_NOPTS(opts), argc, argv, &help);
  if (help) return err;
  if (!err) err = tc_image_set_max_pixels(max_pixels);
  if (!err) {
    int sources = (o.features != NULL) + (o.data_root != NULL);
    if (sources != 1)
      err = tc_err_set(TC_ERR_USAGE, "predict: give exactly one of --features or --data (see --help)");
    else if (o.list && !o.data_root)
      err = tc_err_set(TC_ERR_USAGE, "predict: --list needs --data (the root its paths are relative to)");
    /* the kernel is 8 sigma + 1 wide: past 64 it is wider than any crop
     * the maps are made for (and 1e9 asked for gigabytes) */
    else if (!(o.sigma > 0.0 && o.sigma <= TC_SIGMA_MAX))
      err = tc_err_set(TC_ERR_USAGE, "predict: --sigma %g is out of range: it must be in (0, %g]", o.sigma,
                       TC_SIGMA_MAX);
  }
  if (!err) o.bank_mode = !strcmp(bank, "split") ? TC_BANK_SPLIT
                        : !strcmp(bank, "replicated") ? TC_BANK_REPLICATED : TC_BANK_AUTO;
  err = tc_agree(comm, err);
  if (err) return err;
  /* the default --weights is an input only when images are extracted */
  if (tc_rank(comm) == 0) {
    const TcGuardInput in[] = {{"--model", o.model}, {"--features", o.features}, {"--list", o.list},
                               {"--weights", o.data_root ? o.weights : NULL}};
    err = tc_outguard_check("--out", o.out, in, 4);
  }
  err = tc_agree_root(comm, err);
  if (err) return err;
  return tc_ppredict_run(comm, &o);
}
