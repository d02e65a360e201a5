/* longtail.h - the noisy long-tail builder of DESIGN 4: from a pristine
 * MVTec-layout root, choose which good training images each class keeps
 * (step_k1, step_k4, pareto) and which test anomalies are injected into the
 * head classes' training sets as noise (the "overlap" protocol: they stay in
 * the test set too), then materialise the result as symlinks or copies.
 *
 * Exact rules (seed s fixes every random choice; each choice has its own
 * splitmix64 stream keyed by (s, purpose, class name), so one class's draw
 * never shifts another's):
 *  - step_kK: n_tail = round(C * (1 - head_ratio)) classes are tail (round
 *    half to even, as Python's round in the authors' generator), the rest are
 *    head. Which: the classes sorted by name are shuffled (Fisher-Yates,
 *    stream "head") and the first C - n_tail are head. A head class keeps all
 *    its training images; a tail class keeps exactly K, a uniform random
 *    subset (stream "keep"). A tail class with fewer than K images is an error.
 *  - pareto: pmf = scipy.stats.pareto(alpha) cdf differences on C+1 evenly
 *    spaced points between its 0.01 and 0.99 quantiles (tc_longtail_pareto_pmf).
 *    The pmf values are dealt to classes by a random permutation; as in the
 *    authors' generator, `pareto_iters` permutations are tried (stream
 *    "pareto") and the first with the largest total kept wins. Counts for a
 *    permutation: tc_longtail_pareto_counts (largest pmf -> that class keeps
 *    all its images, others round(pmf * factor) half to even, capped at what a
 *    class has, floored at 5). Tail = fewer than 20 kept; head = the rest.
 *  - noise: T = round(noise_ratio * total kept good images) (half to even;
 *    the authors' ratio is relative to the kept good images). T is spread
 *    over the head classes in proportion to their kept images by
 *    Sainte-Lague apportionment (each next image to the head class with the
 *    largest kept / (2 n + 1), ties to the first by name, skipping classes
 *    whose test anomalies are used up); which anomalies: a uniform random
 *    subset of the class's test anomalies (stream "noise"). Tail classes get
 *    none. Not enough anomalies in the head classes is an error.
 * All lists are sorted by byte order. Local (no MPI). */
#ifndef TC_LONGTAIL_H
#define TC_LONGTAIL_H

#include <stdint.h>

#include "dataset.h"
#include "dataset_build.h" /* a built set is published with tc_dataset_info_write */
#include "err.h"

typedef enum { TC_LONGTAIL_STEP, TC_LONGTAIL_PARETO } TcLongtailKind;

typedef struct {
  char protocol[32];  /* "step_k1", "step_k4", "step_kK", "pareto" */
  TcLongtailKind kind;
  int64_t step_k;     /* step: images per tail class */
  double head_ratio;  /* step: share of head classes [0.4] */
  double alpha;       /* pareto shape [6.0] */
  double noise_ratio; /* [0.1] */
  int64_t seed;       /* [0] */
  int pareto_iters;   /* [100] permutations tried */
  int64_t floor;      /* pareto: minimum kept per class [5] */
  int64_t tail_below; /* pareto: tail when kept < this [20] */
} TcLongtailParams;

/* Fill params with the defaults above for a protocol name ("step_k1",
 * "step_k4", any "step_kK" with K >= 1, or "pareto"). Local.
 * Errors: TC_ERR_USAGE for an unknown protocol. */
TcErr tc_longtail_params_init(TcLongtailParams *p, const char *protocol);

typedef struct {
  char *name;
  int is_tail;
  int64_t n_source_train; /* good training images in the source */
  int64_t n_test_good;    /* source test/good images */
  int64_t n_anomaly;      /* source test anomalies (test/TYPE, TYPE != good) */
  int64_t n_keep;
  char **keep;            /* [n_keep] CLASS/train/good/NAME, sorted */
  int64_t n_noise;
  char **noise_src;       /* [n_noise] CLASS/test/TYPE/NAME, sorted */
  char **noise_dst;       /* [n_noise] CLASS/train/good/TYPE_NAME, same order */
} TcLongtailClass;

typedef struct {
  TcLongtailParams params;
  int from_manifests;      /* 1: rebuilt from manifests (no seed in dataset.json) */
  int n_classes;
  TcLongtailClass *classes; /* [n_classes], sorted by name */
  int64_t n_good, n_noise;  /* totals */
} TcLongtailPlan;

/* Draw a plan from a pristine root with the rules in the header comment.
 * Local.
 *   src_root (input) pristine MVTec-layout root (train and test listed with
 *            tc_dataset_list; every class needs both).
 *   p (input) parameters; out (output) new plan, free with
 *   tc_longtail_plan_destroy.
 * Errors: TC_ERR_IO / TC_ERR_FORMAT from listing; TC_ERR_FORMAT when a class
 * has fewer images than the protocol needs or the head classes have too few
 * anomalies for the noise ratio (the message names the class and counts);
 * TC_ERR_USAGE for parameters out of range. DESIGN 4. */
TcErr tc_longtail_plan(const char *src_root, const TcLongtailParams *p, TcLongtailPlan **out);

/* Rebuild a plan from the two manifests (the good images kept, and the
 * injected defects CLASS/train/good/TYPE_NAME). Local.
 * Each noise line CLASS/train/good/X is mapped back to the source test
 * anomaly CLASS/test/TYPE/NAME with TYPE_NAME == X
 * (none or several matches is an error). Tail flags follow the protocol in
 * p: step -> tail when the class keeps at most step_k images and gets no
 * noise; pareto -> kept < tail_below. Every class of the source must keep at
 * least one image.
 * Errors: TC_ERR_IO (manifest unreadable, a listed file missing, naming it),
 * TC_ERR_FORMAT (bad line, unknown class, noise line matching no test image). */
TcErr tc_longtail_plan_from_manifests(const char *src_root, const TcLongtailParams *p,
                                      const char *good_manifest, const char *noise_manifest,
                                      TcLongtailPlan **out);

/* Write the plan's manifests: good (CLASS/train/good/NAME per line, class
 * order then name) and noise (CLASS/train/good/TYPE_NAME per line). Local.
 * Errors: TC_ERR_IO. */
TcErr tc_longtail_write_manifests(const TcLongtailPlan *plan, const char *good_path,
                                  const char *noise_path);

/* Materialise a plan: out_root gets, per class, train/good with the kept
 * images and the injected ones (as TYPE_NAME), and the whole test/ and
 * ground_truth/ trees of the source; plus manifest_good.txt,
 * manifest_noise.txt and dataset.json. Files are symlinks to absolute source
 * paths, or copies when copy = 1. Everything is built in a temporary folder
 * next to out_root and renamed at the end, so on any error nothing exists
 * under out_root. An existing out_root is an error unless force = 1 (then it
 * is replaced only after the new one is complete). Local.
 * Errors: TC_ERR_IO naming the path that failed. */
TcErr tc_longtail_materialise(const char *src_root, const TcLongtailPlan *plan,
                              const char *out_root, int copy, int force);

/* The dataset.json record of a plan (counts, tail flags, noise lists).
 * Local. *out is new; free with tc_dataset_info_destroy. */
TcErr tc_longtail_info(const TcLongtailPlan *plan, TcDatasetInfo **out);

/* Free a plan; NULL-safe; sets *plan = NULL. Local. */
void tc_longtail_plan_destroy(TcLongtailPlan **plan);

/* The authors' discrete Pareto pmf over C class ranks. Local.
 *   pmf [C] (output): pmf[i] = cdf(x[i+1]) - cdf(x[i]) with
 *   x = linspace(ppf(0.01), ppf(0.99), C + 1), cdf(x) = 1 - x^-alpha,
 *   ppf(q) = (1 - q)^(-1/alpha), computed in double as numpy/scipy do.
 * Decreasing in i. DESIGN 4 (pinned by tests/golden/pareto_ref.txt). */
void tc_longtail_pareto_pmf(double alpha, int C, double *pmf);

/* Kept counts for one assignment of pmf values to classes (the authors'
 * redistribute step). Local.
 *   dist [C] (input) pmf value of each class; have [C] (input) images each
 *   class has; floor (input) minimum kept; out [C] (output).
 * i* = first argmax of dist; factor = have[i*] / dist[i*];
 * out[i] = max(min(have[i], round_half_even(dist[i] * factor)), floor). */
void tc_longtail_pareto_counts(const double *dist, const int64_t *have, int C, int64_t floor,
                               int64_t *out);

/* Python's round(): nearest integer, halves to even. Local. */
int64_t tc_longtail_round_half_even(double x);

#endif
