/* cmd_calibrate.c - `tailedcore calibrate`: a model.h5 + features of good
 * images -> a calibration file (threshold for a target false-reject rate)
 * that `predict --calibration` uses instead of the model's own: a model
 * fitted without --val-fraction, or a new validation set of vetted good
 * images, without a refit. Option parsing and the file; the scoring and
 * the rule are pcalib.c's. Collective on comm. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "calib.h"
#include "commands.h"
#include "common_opts.h"
#include "agree.h"
#include "context.h"
#include "features_io.h"
#include "h5fmt.h"
#include "log.h"
#include "model_io.h"
#include "outguard.h"
#include "pcalib.h"

static const TcCmdDoc doc_ = {"calibrate", "tailedcore calibrate --model model.h5 --features good.h5 --out calibration.h5 [--target-frr 0.01]",
                              "Score good images (features from `tailedcore extract` with the model's settings) against the model's memory bank and store the threshold for --target-frr (the split conformal rule of fit's calibration: the ceil((n+1)(1-r))-th smallest score), per-class thresholds for folder classes with enough images, the scores and the bank's digest in a calibration file. `predict --calibration FILE` then decides OK/NG with it; a file made for another backbone, features or memory bank is refused."};

typedef struct {
  const char *model, *features, *out;
  double target_frr;
  int64_t mem_per_rank;
} CalOpts_;

/* The calibration file: the model's feature attributes and method at the
 * root, the /calibration group. Collective; agreed. */
static TcErr write_file_(MPI_Comm comm, const CalOpts_ *o, const TcModelMeta *mm, const TcCalibration *cal) {
  TcH5File *f = NULL;
  TC_CALL(tc_agree(comm, tc_h5_create(comm, o->out, "calibration", &f)));
  TcErr err = tc_features_meta_write_attrs(f, &mm->features);
  if (!err) err = tc_h5_set_attr_str(f, "/", "method", mm->method);
  if (!err) err = tc_h5_set_attr_str(f, "/", "model", o->model);
  if (!err) err = tc_model_write_calibration(f, tc_rank(comm) == 0, cal);
  err = tc_agree(comm, err);
  if (err) {
    tc_h5_abandon(&f);
    return err;
  }
  return tc_agree(comm, tc_h5_publish(&f));
}

/* Open both inputs, check they belong together, score, write. Collective. */
static TcErr calibrate_(MPI_Comm comm, const CalOpts_ *o) {
  TcH5File *model = NULL, *feat = NULL;
  TcModelMeta mm;
  TcFeaturesMeta fm;
  TcCalibration cal;
  memset(&cal, 0, sizeof cal);
  uint8_t *held = NULL;
  TcErr err = tc_h5_check_output(comm, o->out);
  if (!err) err = tc_agree(comm, tc_model_open(comm, o->model, &model));
  if (!err) err = tc_agree(comm, tc_model_read_meta(model, &mm));
  if (!err) err = tc_agree(comm, tc_features_open(comm, o->features, &feat, &fm));
  if (!err && (strcmp(fm.backbone, mm.features.backbone) || strcmp(fm.weights_sha256, mm.features.weights_sha256) ||
               strcmp(fm.taps, mm.features.taps) || fm.D != mm.features.D || fm.crop != mm.features.crop ||
               fm.resize != mm.features.resize))
    err = tc_err_set(TC_ERR_FORMAT, "%s: features of %s (%s, D %lld, crop %lld) are not the model's (%s: %s, D %lld, "
                     "crop %lld): extract the images as the model was trained", o->features, fm.backbone, fm.taps,
                     (long long)fm.D, (long long)fm.crop, o->model, mm.features.backbone, (long long)mm.features.D,
                     (long long)mm.features.crop);
  if (!err && fm.N < 1) err = tc_err_set(TC_ERR_FORMAT, "%s: empty validation set (no image)", o->features);
  err = tc_agree(comm, err);
  if (!err) {
    held = tc_malloc((size_t)fm.N, "validation flags");
    err = tc_agree(comm, held ? TC_OK : TC_ERR_MEM);
  }
  if (!err) err = tc_pcalib_all(comm, feat, o->features, fm.N, &cal, held);
  tc_h5_close(&feat);
  if (!err) err = tc_pcalib_score(comm, model, o->features, held, fm.N, o->mem_per_rank, o->target_frr, &cal);
  if (!err) err = write_file_(comm, o, &mm, &cal);
  if (!err) tc_log(1, "calibrate: wrote %s: threshold %.6g for a false-reject rate of %g (%lld images)", o->out,
                   (double)cal.threshold, o->target_frr, (long long)cal.n_val);
  tc_h5_close(&model);
  tc_calib_clear(&cal);
  free(held);
  return err;
}

TcErr tc_cmd_calibrate(MPI_Comm comm, int argc, char **argv) {
  CalOpts_ o;
  memset(&o, 0, sizeof o);
  TcOpt opts[] = {
      {"model", TC_OPT_STRING, &o.model, NULL, "model file from `tailedcore fit` (input)", NULL, 1},
      {"features", TC_OPT_STRING, &o.features, NULL,
       "features of good images (from `tailedcore extract`, the model's settings), not used to fit the model", NULL, 1},
      {"out", TC_OPT_STRING, &o.out, NULL, "calibration file to write (published atomically)", NULL, 1},
      {"target-frr", TC_OPT_DOUBLE, &o.target_frr, "0.01",
       "false-reject rate on good images the threshold aims at, in (0, 1)", NULL, 0},
      tc_opt_mem_per_rank(&o.mem_per_rank, "memory a rank may use for the memory bank and its work (as predict); 0..1P"),
  };
  int help = 0;
  TcErr err = tc_cmd_options(comm, &doc_, opts, TC_NOPTS(opts), argc, argv, &help);
  if (help) return err;
  if (!err) err = tc_calib_check_frr("calibrate: --target-frr", o.target_frr);
  err = tc_agree(comm, err);
  if (err) return err;
  if (tc_rank(comm) == 0) {
    const TcGuardInput in[] = {{"--model", o.model}, {"--features", o.features}};
    err = tc_outguard_check("--out", o.out, in, 2);
  }
  err = tc_agree_root(comm, err);
  return err ? err : calibrate_(comm, &o);
}
