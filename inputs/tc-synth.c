/* tc-synth - generate a synthetic multi-class product data set with defect
 * masks in the MVTec AD layout (DESIGN 4), so the whole pipeline runs with
 * no download. Optionally builds a noisy long-tail variant of it right away
 * with the same code as tc-longtail.
 *
 * Output (OUT is built in a temporary folder next to it, then renamed):
 *   OUT/CLASS/train/good/000.tiff ...
 *   OUT/CLASS/test/good/000.tiff, OUT/CLASS/test/TYPE/000.tiff ...
 *   OUT/CLASS/ground_truth/TYPE/000_mask.tiff   (8-bit gray, 0 or 255)
 *   OUT/dataset.json                             (protocol "pristine")
 * A serial tool: no MPI. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "dataset.h"
#include "dataset_build.h"
#include "err.h"
#include "image_write.h"
#include "log.h"
#include "longtail.h"
#include "opts.h"
#include "tool.h"
#include "synth.h"

typedef struct {
  const char *out;
  int64_t seed, n_classes, n_train, n_test_good, n_test_defect, size;
  const char *class_list[64];
  const char *defects[64];
  const char *format;
  int twins, force, copy;
  int64_t jobs;
  const char *longtail, *longtail_out;
  double noise_ratio, alpha, head_ratio;
} Args_;

static int mkdir_p_(char *path) {
  for (char *s = path + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    int bad = mkdir(path, 0777) != 0 && errno != EEXIST;
    *s = '/';
    if (bad) return -1;
  }
  return mkdir(path, 0777) != 0 && errno != EEXIST ? -1 : 0;
}

/* Write one image (and its mask) of class c. */
static TcErr write_sample_(const char *root, const Args_ *a, TcImageFormat fmt, int c,
                           const char *split, TcDefect d, int64_t idx, uint8_t *rgb,
                           uint8_t *mask) {
  const char *cls = tc_synth_class_name(c), *type = tc_synth_defect_name(d);
  const char *ext = tc_image_format_ext(fmt);
  int S = (int)a->size;
  char path[4096];
  uint64_t seed = tc_synth_sample_seed((uint64_t)a->seed, c, split, d, idx);
  TC_CALL(tc_synth_render(c, S, seed, d, rgb, mask));
  snprintf(path, sizeof path, "%s/%s/%s/%s", root, cls, split, type);
  TC_CHECK(mkdir_p_(path) == 0, TC_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
  snprintf(path, sizeof path, "%s/%s/%s/%s/%03lld.%s", root, cls, split, type, (long long)idx, ext);
  TC_CALL(tc_image_write(path, S, S, 3, rgb, fmt));
  if (d == TC_DEFECT_NONE) return TC_OK;
  snprintf(path, sizeof path, "%s/%s/ground_truth/%s", root, cls, type);
  TC_CHECK(mkdir_p_(path) == 0, TC_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
  snprintf(path, sizeof path, "%s/%s/ground_truth/%s/%03lld_mask.%s", root, cls, type,
           (long long)idx, ext);
  TC_CALL(tc_image_write(path, S, S, 1, mask, fmt));
  if (a->twins) {
    /* the same sample without its defect, for checking masks by difference */
    TC_CALL(tc_synth_render(c, S, seed, TC_DEFECT_NONE, rgb, NULL));
    snprintf(path, sizeof path, "%s/%s/twin/%s", root, cls, type);
    TC_CHECK(mkdir_p_(path) == 0, TC_ERR_IO, "%s: cannot create folder: %s", path, strerror(errno));
    snprintf(path, sizeof path, "%s/%s/twin/%s/%03lld.%s", root, cls, type, (long long)idx, ext);
    TC_CALL(tc_image_write(path, S, S, 3, rgb, fmt));
  }
  return TC_OK;
}

static TcErr run_(Args_ *a) {
  TcImageFormat fmt;
  TC_CALL(tc_image_format_parse(a->format, &fmt));
  TC_CHECK(a->size >= 32 && a->size <= 4096, TC_ERR_USAGE, "--size %lld outside 32..4096",
           (long long)a->size);
  TC_CHECK(a->n_train >= 1 && a->n_test_good >= 0 && a->n_test_defect >= 0 && a->n_train <= 100000 &&
               a->n_test_good <= 100000 && a->n_test_defect <= 100000,
           TC_ERR_USAGE, "image counts out of range");
  /* classes: a list, or the first N by name */
  int cls[64], nc = 0;
  if (a->class_list[0]) {
    for (int i = 0; a->class_list[i]; i++) {
      int c = tc_synth_class_index(a->class_list[i]);
      TC_CHECK(c >= 0, TC_ERR_USAGE, "unknown class '%s' (see --help)", a->class_list[i]);
      for (int j = 0; j < nc; j++)
        TC_CHECK(cls[j] != c, TC_ERR_USAGE, "class '%s' given twice", a->class_list[i]);
      cls[nc++] = c;
    }
  } else {
    TC_CHECK(a->n_classes >= 1 && a->n_classes <= tc_synth_n_classes(), TC_ERR_USAGE,
             "--classes %lld outside 1..%d", (long long)a->n_classes, tc_synth_n_classes());
    for (int c = 0; c < a->n_classes; c++) cls[nc++] = c;
  }
  TcDefect defs[TC_DEFECT_COUNT];
  int nd = 0;
  TC_CALL(tc_synth_parse_defects(a->defects, defs, &nd));

  char out[4096], tmp[4200];
  TC_CALL(tc_dataset_begin(a->out, a->force, out, sizeof out, tmp, sizeof tmp));

  TcErr err = TC_OK;
  size_t np = (size_t)a->size * a->size;
  uint8_t *rgb = tc_malloc(np * 3, "image"), *mask = tc_malloc(np, "mask");
  TcClassInfo *ci = tc_calloc((size_t)nc, sizeof *ci, "class info");
  TC_CHECK_GOTO(err, rgb && mask && ci, TC_ERR_MEM, cleanup, "out of memory");
  int64_t per_class = a->n_train + a->n_test_good + nd * a->n_test_defect;
  int64_t total = (int64_t)nc * per_class;
  for (int k = 0; k < nc; k++) {
    int c = cls[k];
    ci[k].name = (char *)tc_synth_class_name(c);
    ci[k].n_source_train = ci[k].n_good = a->n_train;
    ci[k].n_test_good = a->n_test_good;
    ci[k].n_test_anomaly = nd * a->n_test_defect;
  }
  /* Worker w renders classes w, w + J, ...; every image is a pure function
   * of its seed, so the split never changes a byte. Workers are forked
   * processes (no threads in the library); each reports its own error. */
  int J = (int)(a->jobs < 1 ? 1 : a->jobs > nc ? nc : a->jobs);
  pid_t pids[64];
  int nforked = 0;
  for (int w = 1; w < J; w++) {
    fflush(NULL);
    pid_t pid = fork();
    TC_CHECK_GOTO(err, pid >= 0, TC_ERR_IO, wait_workers, "cannot start a worker: %s", strerror(errno));
    if (pid == 0) {
      TcErr e = TC_OK;
      for (int k = w; k < nc && e == TC_OK; k += J) {
        int c = cls[k];
        for (int64_t i = 0; i < a->n_train && e == TC_OK; i++)
          e = write_sample_(tmp, a, fmt, c, "train", TC_DEFECT_NONE, i, rgb, mask);
        for (int64_t i = 0; i < a->n_test_good && e == TC_OK; i++)
          e = write_sample_(tmp, a, fmt, c, "test", TC_DEFECT_NONE, i, rgb, mask);
        for (int j = 0; j < nd; j++)
          for (int64_t i = 0; i < a->n_test_defect && e == TC_OK; i++)
            e = write_sample_(tmp, a, fmt, c, "test", defs[j], i, rgb, mask);
      }
      if (e != TC_OK) fprintf(stderr, "tc-synth: %s\n", tc_err_message());
      fflush(NULL);
      _exit(e == TC_OK ? 0 : tc_err_exit_status(e));
    }
    pids[nforked++] = pid;
  }
  {
    TcProgress prog;
    int64_t done = 0;
    tc_progress_start(&prog, "tc-synth", "images", total);
    for (int k = 0; k < nc && err == TC_OK; k += J) {
      int c = cls[k];
      for (int64_t i = 0; i < a->n_train; i++)
        TC_CALL_GOTO(err, write_sample_(tmp, a, fmt, c, "train", TC_DEFECT_NONE, i, rgb, mask), wait_workers);
      for (int64_t i = 0; i < a->n_test_good; i++)
        TC_CALL_GOTO(err, write_sample_(tmp, a, fmt, c, "test", TC_DEFECT_NONE, i, rgb, mask), wait_workers);
      for (int j = 0; j < nd; j++)
        for (int64_t i = 0; i < a->n_test_defect; i++)
          TC_CALL_GOTO(err, write_sample_(tmp, a, fmt, c, "test", defs[j], i, rgb, mask), wait_workers);
      done += per_class * J; /* the workers run at about the same pace */
      tc_progress_update(&prog, done < total ? done : total);
    }
    tc_progress_finish(&prog);
  }
wait_workers:
  for (int w = 0; w < nforked; w++) {
    int status = 0;
    while (waitpid(pids[w], &status, 0) < 0 && errno == EINTR) {}
    if (!(WIFEXITED(status) && WEXITSTATUS(status) == 0) && err == TC_OK)
      err = tc_err_set(TC_ERR_IO, "a tc-synth worker failed (its message is above)");
  }
  if (err != TC_OK) goto cleanup;
  TC_CALL_GOTO(err, tc_dataset_publish_pristine(tmp, out, ci, nc, a->seed, a->n_train), cleanup);
  tmp[0] = '\0';
  tc_log(1, "tc-synth: wrote %lld images of %d classes to %s", (long long)total, nc, out);

  if (a->longtail) {
    TcLongtailParams p;
    TcLongtailPlan *plan = NULL;
    char lt[4300];
    if (a->longtail_out) snprintf(lt, sizeof lt, "%s", a->longtail_out);
    else snprintf(lt, sizeof lt, "%s-%s-seed%lld", out, a->longtail, (long long)a->seed);
    TC_CALL_GOTO(err, tc_longtail_params_init(&p, a->longtail), cleanup);
    p.seed = a->seed;
    p.noise_ratio = a->noise_ratio;
    p.alpha = a->alpha;
    p.head_ratio = a->head_ratio;
    TC_CALL_GOTO(err, tc_longtail_plan(out, &p, &plan), cleanup);
    err = tc_longtail_materialise(out, plan, lt, a->copy, a->force);
    if (err == TC_OK)
      tc_log(1, "tc-synth: long-tail %s: %lld good + %lld noise training images in %s", a->longtail,
             (long long)plan->n_good, (long long)plan->n_noise, lt);
    tc_longtail_plan_destroy(&plan);
  }
cleanup:
  if (tmp[0]) tc_dataset_remove_tree(tmp);
  free(rgb);
  free(mask);
  free(ci);
  return err;
}

int main(int argc, char **argv) {
  Args_ a;
  memset(&a, 0, sizeof a);
  static char class_help[512];
  int off = snprintf(class_help, sizeof class_help, "product classes by name, any of:");
  for (int c = 0; c < tc_synth_n_classes() && off < (int)sizeof class_help - 16; c++)
    off += snprintf(class_help + off, sizeof class_help - off, " %s", tc_synth_class_name(c));
  TcOpt opts[] = {
      {"out", TC_OPT_STRING, &a.out, NULL, "output root (must not exist unless --force)", NULL, 1},
      {"seed", TC_OPT_INT, &a.seed, "0", "seed: fixes every image (same seed = same bytes)", NULL, 0},
      {"classes", TC_OPT_INT, &a.n_classes, "15", "number of classes, the first N by name (max 16)", NULL, 0},
      {"class-list", TC_OPT_LIST, a.class_list, NULL, class_help, NULL, 0},
      {"train", TC_OPT_INT, &a.n_train, "60", "good training images per class", NULL, 0},
      {"test-good", TC_OPT_INT, &a.n_test_good, "8", "good test images per class", NULL, 0},
      {"test-defect", TC_OPT_INT, &a.n_test_defect, "3", "test images per class and defect type", NULL, 0},
      {"defects", TC_OPT_LIST, a.defects, NULL,
       "defect types (scratch hole stain missing contamination) [all when not given]", NULL, 0},
      {"size", TC_OPT_INT, &a.size, "256", "image width = height in pixels", NULL, 0},
      {"format", TC_OPT_CHOICE, &a.format, "tiff", "image format (tiff = deflate TIFF)", "tiff|tiff-raw|png", 0},
      {"twins", TC_OPT_FLAG, &a.twins, NULL,
       "also write CLASS/twin/TYPE/NNN: each defect image without its defect (mask checks)", NULL, 0},
      {"jobs", TC_OPT_INT, &a.jobs, "2", "worker processes (output does not depend on it)", NULL, 0},
      {"force", TC_OPT_FLAG, &a.force, NULL, "replace existing output folders", NULL, 0},
      {"longtail", TC_OPT_STRING, &a.longtail, NULL,
       "also build a noisy long-tail variant: step_k1, step_k4, step_kK or pareto", NULL, 0},
      {"longtail-out", TC_OPT_STRING, &a.longtail_out, NULL,
       "where the long-tail variant goes [default: OUT-PROTOCOL-seedSEED]", NULL, 0},
      {"copy", TC_OPT_FLAG, &a.copy, NULL, "long-tail variant: copy files instead of symlinks", NULL, 0},
      {"noise-ratio", TC_OPT_DOUBLE, &a.noise_ratio, "0.1", "long-tail: noise images / kept good images", NULL, 0},
      {"alpha", TC_OPT_DOUBLE, &a.alpha, "6.0", "long-tail pareto: shape", NULL, 0},
      {"head-ratio", TC_OPT_DOUBLE, &a.head_ratio, "0.4", "long-tail step: share of head classes", NULL, 0},
  };
  int help = 0;
  TcErr err = tc_tool_parse("tc-synth", "tc-synth --out DIR [options]",
                            "Generate a synthetic multi-class product data set with defects and masks in the\n"
                            "MVTec AD layout (TIFF by default). See inputs/README.md.",
                            opts, (int)(sizeof opts / sizeof opts[0]), argc, argv, &help);
  if (help) return 0;
  if (err == TC_OK) err = run_(&a);
  return tc_tool_exit("tc-synth", err);
}
