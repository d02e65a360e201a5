/* pfit.h - `tailedcore fit`: features.h5 -> model.h5 (DESIGN 3.3-3.6, 5, 6).
 *
 * The memory bank is written in ascending global patch index order
 * (g = image * HW + position): then the rows of rank r's images form one
 * contiguous block and every rank writes its own hyperslab, no shuffle.
 * /coreset/indices gives each row's g; the selection orders (as the greedy
 * loops picked them) are kept in /coreset/clean_order and /coreset/tail_order.
 *
 * Tail views (tailedcore with --data and --weights, DESIGN 3.6 steps 8-9):
 * the T tail images (in image order, t = 0..T-1) are dealt to the ranks in
 * blocks; each rank reads its tail images' own features from features.h5
 * and extracts their V views (augment.h order). View patches get the global
 * indices g = N*HW + (t*V + v)*HW + position, after the N*HW image patches,
 * so a rank's view rows of the bank are again one contiguous block. M_tail
 * is the greedy coreset of the T*(1+V)*HW patches with ordinals in (t, v',
 * position) order, v' = 0 the image itself and v' = v+1 view v: a function
 * of the data only, not of the rank count.
 *
 * Bit-identical output for any rank count: projection by one fixed-shape
 * sgemm per image, LOF per position on identical inputs, exact quantile,
 * coreset identical to the serial loop (of its --coreset-mode, recorded as
 * the attributes coreset_mode, coreset_shard, coreset_oversample), raw
 * features copied.
 *
 * model.h5's layout: model_io.h. */
#ifndef TC_PFIT_H
#define TC_PFIT_H

#include <mpi.h>
#include <stdint.h>

#include "coreset.h"
#include "err.h"
#include "method.h"

typedef struct {
  const char *features;  /* input features.h5 */
  const char *out;       /* model.h5 */
  const char *data;      /* image root of features.h5's /paths, for the tail views; NULL = none */
  const char *weights;   /* backbone weights features.h5 was extracted with (sha256 checked) */
  const char *method_name;
  const TcMethod *method; /* tc_method_find(method_name): the stages fit runs */
  double coreset_ratio;  /* [0.1] */
  const char *tail_coreset_ratio_s; /* M_tail's ratio: "auto" [tc_pfit_tail_ratio_auto] or a number in (0, 1] */
  int64_t proj_dim;      /* [128] */
  int64_t lof_k;         /* [6] */
  double lof_keep;       /* [0.85] quantile; keep LOF < it */
  double tail_p;         /* [auto: tc_tail_default_rules of the features' backbone] */
  const char *tail_p_s;  /* "auto" or a number, parsed into tail_p by tc_pfit_run */
  const char *tail_cut_s;/* "auto" | cap | elbow | gap */
  const char *embed_norm_s; /* none | center */
  const char *tail_aug;  /* [rot15flip] */
  int64_t seed;          /* [0] */
  int64_t mem_per_rank;  /* [2G] */
  int pruned;            /* TC_CORESET_PLAIN/FILTERED/TRIANGLE/SKETCH: how steps skip points (identical result) */
  const char *tail_coreset_s;    /* [global] | per-image: M_tail one tail image (and its views) at a time */
  int tail_per_image;            /* parsed from tail_coreset_s */
  const char *coreset_mode_name; /* [exact] */
  TcCoresetMode coreset_mode;    /* parsed from coreset_mode_name, + shard and oversample */
  double val_fraction;   /* [0] calibration hold-out per folder class (calib.h) */
  const char *val_list;  /* or the images to hold out, as listed in /paths */
  double target_frr;     /* [0.01] */
} TcFitOpts;

/* Run fit. Collective on comm; returns an agreed code. opts (global input,
 * same on every rank, already validated by tc_pfit_check). */
TcErr tc_pfit_run(MPI_Comm comm, const TcFitOpts *opts);

/* M_tail's coreset ratio when --tail-coreset-ratio is auto: DESIGN 3.6 step 9
 * uses --coreset-ratio for both coresets, kept for wrn50/resnet18 and unknown
 * backbones (the authors' setting); mobilenetv2 features get
 * TC_TAIL_RATIO_FACTOR_MNV2 x coreset_ratio, at most 1 (DECISIONS.md
 * "M_tail's coreset ratio"). Local. */
#define TC_TAIL_RATIO_FACTOR_MNV2 2.5
double tc_pfit_tail_ratio_auto(const char *backbone, double coreset_ratio);

/* Validate option values (ranges, method, augmentation). Local. */
TcErr tc_pfit_check(const TcFitOpts *opts);

#endif
