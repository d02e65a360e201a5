/* tc-longtail - build a noisy long-tail variant (step_k1, step_k4, pareto)
 * of a pristine MVTec-layout data set, as in DESIGN 4 and the TailedCore
 * paper, or rebuild one exactly from its two manifests. The rules are in
 * gen/longtail.h. A serial tool: no MPI.
 *
 * Output OUT/: CLASS/train/good (kept good images + injected defects named
 * TYPE_NAME), CLASS/test and CLASS/ground_truth (all of the source),
 * manifest_good.txt, manifest_noise.txt and dataset.json. Symlinks to the
 * source by default, copies with --copy. Built in a temporary folder next to
 * OUT and renamed at the end: on any error nothing is written. */
#include <stdio.h>
#include <string.h>

#include "err.h"
#include "log.h"
#include "longtail.h"
#include "opts.h"
#include "tool.h"

int main(int argc, char **argv) {
  const char *src = NULL, *out = NULL, *protocol = NULL, *good = NULL, *noise = NULL;
  int64_t seed = 0, iters = 0;
  double alpha = 0, noise_ratio = 0, head_ratio = 0;
  int copy = 0, force = 0, dry = 0, help = 0;
  TcOpt opts[] = {
      {"src", TC_OPT_STRING, &src, NULL, "pristine MVTec-layout root (CLASS/train/good, CLASS/test/TYPE)", NULL, 1},
      {"out", TC_OPT_STRING, &out, NULL, "output root (must not exist unless --force)", NULL, 0},
      {"protocol", TC_OPT_STRING, &protocol, "step_k4", "step_k1, step_k4, step_kK (K per tail class) or pareto", NULL, 0},
      {"seed", TC_OPT_INT, &seed, "0", "seed of every random choice (same seed = same output)", NULL, 0},
      {"noise-ratio", TC_OPT_DOUBLE, &noise_ratio, "0.1", "injected defects / kept good training images", NULL, 0},
      {"head-ratio", TC_OPT_DOUBLE, &head_ratio, "0.4", "step: share of classes that are head classes", NULL, 0},
      {"alpha", TC_OPT_DOUBLE, &alpha, "6.0", "pareto: shape of scipy.stats.pareto", NULL, 0},
      {"pareto-iters", TC_OPT_INT, &iters, "100", "pareto: class orders tried (largest total wins)", NULL, 0},
      {"good-manifest", TC_OPT_STRING, &good, NULL, "rebuild: the kept good images (with --noise-manifest)", NULL, 0},
      {"noise-manifest", TC_OPT_STRING, &noise, NULL, "rebuild: the injected defects CLASS/train/good/TYPE_NAME", NULL, 0},
      {"copy", TC_OPT_FLAG, &copy, NULL, "copy files instead of making symlinks", NULL, 0},
      {"force", TC_OPT_FLAG, &force, NULL, "replace an existing output root", NULL, 0},
      {"dry-run", TC_OPT_FLAG, &dry, NULL, "print the per-class plan, write nothing", NULL, 0},
  };
  TcErr err = tc_tool_parse("tc-longtail", "tc-longtail --src ROOT --out DIR [--protocol P] [options]",
                            "Build a noisy long-tail data set (DESIGN 4) from a pristine MVTec-layout root,\n"
                            "or rebuild one from its manifests. See inputs/README.md for the exact rules.",
                            opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, &help);
  if (help) return 0;
  TcLongtailParams p;
  TcLongtailPlan *plan = NULL;
  if (err == TC_OK && !out && !dry)
    err = tc_err_set(TC_ERR_USAGE, "--out is required (or --dry-run)");
  if (err == TC_OK && (!good) != (!noise))
    err = tc_err_set(TC_ERR_USAGE, "give both --good-manifest and --noise-manifest, or neither");
  if (err == TC_OK) err = tc_longtail_params_init(&p, protocol);
  if (err == TC_OK) {
    p.seed = seed;
    p.noise_ratio = noise_ratio;
    p.head_ratio = head_ratio;
    p.alpha = alpha;
    p.pareto_iters = (int)(iters > 1000000 ? 1000000 : iters);
    err = good ? tc_longtail_plan_from_manifests(src, &p, good, noise, &plan)
               : tc_longtail_plan(src, &p, &plan);
  }
  if (err == TC_OK && (dry || tc_log_level >= 2)) {
    printf("%-24s %-4s %8s %6s %6s %9s\n", "class", "", "source", "kept", "noise", "anomalies");
    for (int c = 0; c < plan->n_classes; c++) {
      const TcLongtailClass *k = &plan->classes[c];
      printf("%-24s %-4s %8lld %6lld %6lld %9lld\n", k->name, k->is_tail ? "tail" : "head",
             (long long)k->n_source_train, (long long)k->n_keep, (long long)k->n_noise,
             (long long)k->n_anomaly);
    }
    printf("total: %lld good + %lld noise = %lld training images (noise %.2f%% of good)\n",
           (long long)plan->n_good, (long long)plan->n_noise, (long long)(plan->n_good + plan->n_noise),
           plan->n_good ? 100.0 * plan->n_noise / plan->n_good : 0.0);
  }
  if (err == TC_OK && !dry) {
    err = tc_longtail_materialise(src, plan, out, copy, force);
    if (err == TC_OK)
      tc_log(1, "tc-longtail: %s: %lld good + %lld noise training images in %s", p.protocol,
             (long long)plan->n_good, (long long)plan->n_noise, out);
  }
  tc_longtail_plan_destroy(&plan);
  return tc_tool_exit("tc-longtail", err);
}
