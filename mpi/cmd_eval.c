/* cmd_eval.c - `tailedcore eval`: scores.h5 (one or several, side by side)
 * + MVTec ground truth -> image / pixel AUROC per class and the means over
 * tail, head and all classes, as a Markdown table on stdout and a CSV
 * (DESIGN 3.7). The work per file is tc_peval_scores (mpi/peval.c); this
 * file parses options and prints. Collective on comm; rank 0 prints. */
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <limits.h>
#include <sys/stat.h>
#include <unistd.h>

#include "commands.h"
#include "csv_out.h"
#include "context.h"
#include "dataset.h"
#include "h5fmt.h"
#include "image.h"
#include "log.h"
#include "opts.h"
#include "outguard.h"
#include "peval.h"
#include "tmpfiles.h"

#define MAX_FILES 64

/* AUROC as the paper's tables print it: percent, one decimal more. */
static void pct_(char *buf, size_t n, double v) {
  if (isnan(v)) snprintf(buf, n, "n/a");
  else snprintf(buf, n, "%.2f", 100.0 * v);
}

static const char *group_name_(int is_tail) { return is_tail == 1 ? "tail" : is_tail == 0 ? "head" : "-"; }

static void print_table_(FILE *o, TcEvalResult **res, int nres, int have_info) {
  char a[32], b[32];
  fprintf(o, "\nAUROC %% per class (image / pixel); scores: ");
  for (int k = 0; k < nres; k++) fprintf(o, "%s%s = %s", k ? ", " : "", res[k]->method, res[k]->path);
  fprintf(o, "\n\n| class | group | test images |");
  for (int k = 0; k < nres; k++) fprintf(o, " %s image | %s pixel |", res[k]->method, res[k]->method);
  fprintf(o, "\n| --- | --- | ---: |");
  for (int k = 0; k < nres; k++) fprintf(o, " ---: | ---: |");
  fprintf(o, "\n");
  const TcEvalResult *r0 = res[0];
  for (int c = 0; c < r0->n_classes; c++) {
    const TcEvalClass *ec = &r0->classes[c];
    fprintf(o, "| %s | %s | %lld (%lld anomalous) |", ec->name, group_name_(ec->is_tail),
            (long long)ec->n_images, (long long)ec->n_anomalous);
    for (int k = 0; k < nres; k++) {
      pct_(a, sizeof a, res[k]->classes[c].image_auroc);
      pct_(b, sizeof b, res[k]->classes[c].pixel_auroc);
      fprintf(o, " %s | %s |", a, b);
    }
    fprintf(o, "\n");
  }
  const char *names[3] = {"tail", "head", "all"};
  for (int g = have_info ? 0 : 2; g < 3; g++) {
    int ncls = g == 0 ? r0->image.n_tail : g == 1 ? r0->image.n_head : r0->image.n_all;
    fprintf(o, "| **mean %s** | %s | %d classes |", names[g], names[g], ncls);
    for (int k = 0; k < nres; k++) {
      const TcGroupMeans *im = &res[k]->image, *px = &res[k]->pixel;
      pct_(a, sizeof a, g == 0 ? im->tail : g == 1 ? im->head : im->all);
      pct_(b, sizeof b, g == 0 ? px->tail : g == 1 ? px->head : px->all);
      fprintf(o, " **%s** | **%s** |", a, b);
    }
    fprintf(o, "\n");
  }
  if (!have_info)
    fprintf(o, "\n(no --dataset-info: tail/head membership unknown, only the mean over all classes)\n");
  for (int c = 0; c < r0->n_classes; c++)
    if (r0->classes[c].n_unscored > 0)
      fprintf(o, "note: class %s: %lld test images of the data root are not in the scores (--partial)\n",
              r0->classes[c].name, (long long)r0->classes[c].n_unscored);
  for (int k = 0; k < nres; k++) {
    const TcEvalResult *r = res[k];
    if (!r->calibrated) continue;
    fprintf(o, "\n%s: decisions at threshold %.6g (target false-reject rate %g): %lld of %lld good images NG "
               "(false-reject rate %.4f), %lld of %lld anomalous images OK (escape rate %.4f)\n",
            r->path, r->threshold, r->target_frr, (long long)r->n_good_ng, (long long)r->n_good,
            r->n_good ? (double)r->n_good_ng / (double)r->n_good : NAN, (long long)r->n_bad_ok, (long long)r->n_bad,
            r->n_bad ? (double)r->n_bad_ok / (double)r->n_bad : NAN);
  }
}

/* key=value of a --metrics line, "nan" when undefined. Local. */
static void metric_(char *buf, size_t n, const char *key, double v) {
  if (isnan(v)) snprintf(buf, n, "%s=nan", key);
  else snprintf(buf, n, "%s=%.9g", key, v);
}

/* --metrics: key=value lines of the first scores file, for scripts (the
 * nightly's gate). Local (rank 0); published by rename. */
static TcErr write_metrics_(const char *path, const TcEvalResult *r) {
  char l[9][160];
  /* percent with four decimals, as the nightly's log prints them */
  metric_(l[0], sizeof l[0], "image_auroc", isnan(r->image.all) ? NAN : round(1e6 * r->image.all) / 1e4);
  metric_(l[1], sizeof l[1], "pixel_auroc", isnan(r->pixel.all) ? NAN : round(1e6 * r->pixel.all) / 1e4);
  snprintf(l[2], sizeof l[2], "images=%lld", (long long)(r->n_good + r->n_bad));
  snprintf(l[3], sizeof l[3], "good_images=%lld", (long long)r->n_good);
  metric_(l[4], sizeof l[4], "threshold", r->calibrated ? r->threshold : NAN);
  metric_(l[5], sizeof l[5], "target_frr", r->calibrated ? r->target_frr : NAN);
  metric_(l[6], sizeof l[6], "frr", r->calibrated && r->n_good ? (double)r->n_good_ng / (double)r->n_good : NAN);
  metric_(l[7], sizeof l[7], "escape_rate", r->calibrated && r->n_bad ? (double)r->n_bad_ok / (double)r->n_bad : NAN);
  snprintf(l[8], sizeof l[8], "classes=%d", r->n_classes);
  TcCsvOut *c = NULL;
  TC_CALL(tc_csv_create(path, &c));
  for (int i = 0; i < 9; i++) {
    const char *f[1] = {l[i]};
    tc_csv_row(c, 1, f);
  }
  return tc_csv_publish(&c);
}

/* Scores made from a data root other than --data: same names, maybe other
 * images (another seed of a generator, yesterday's copy). The names match,
 * so only the recorded root can tell: a warning, since a moved or mounted
 * copy of the same data is legitimate. Local (rank 0). */
static void warn_other_root_(const TcEvalResult *r, const char *root) {
  struct stat st;
  char a[PATH_MAX], b[PATH_MAX];
  if (!r->source[0] || stat(r->source, &st) != 0 || !S_ISDIR(st.st_mode)) return;
  if (!realpath(r->source, a) || !realpath(root, b) || !strcmp(a, b)) return;
  tc_log(0, "eval: warning: %s scored the images under %s, the ground truth comes from --data %s", r->path,
         r->source, root);
}

/* Scores that leave test images of a class unscored are scores of another
 * root or of a subset: an error unless --partial says a subset is meant.
 * Local. */
static TcErr check_coverage_(const TcEvalResult *r, const char *root, int partial) {
  for (int c = 0; !partial && c < r->n_classes; c++)
    TC_CHECK(r->classes[c].n_unscored == 0, TC_ERR_FORMAT,
             "%s: class %s: %lld of its %lld test images under %s are not scored: a wrong --data root, or scores of "
             "a subset (then pass --partial)",
             r->path, r->classes[c].name, (long long)r->classes[c].n_unscored,
             (long long)(r->classes[c].n_unscored + r->classes[c].n_images), root);
  return TC_OK;
}

/* CSV, one row per (file, class) and per (file, mean); written under a
 * temporary name and renamed, like every other output. Local (rank 0). */
static TcErr write_csv_(const char *path, TcEvalResult **res, int nres) {
  char tmp[4200];
  snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
  tc_tmpfile_register(tmp);
  FILE *fp = fopen(tmp, "w");
  if (!fp) tc_tmpfile_forget(tmp);
  TC_CHECK(fp, TC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
  fprintf(fp, "method,scores,class,group,n_images,n_anomalous,image_auroc,pixel_auroc\n");
  for (int k = 0; k < nres; k++) {
    const TcEvalResult *r = res[k];
    for (int c = 0; c < r->n_classes; c++) {
      const TcEvalClass *ec = &r->classes[c];
      fprintf(fp, "%s,%s,%s,%s,%lld,%lld,%.10g,%.10g\n", r->method, r->path, ec->name,
              ec->is_tail == 1 ? "tail" : ec->is_tail == 0 ? "head" : "unknown", (long long)ec->n_images,
              (long long)ec->n_anomalous, ec->image_auroc, ec->pixel_auroc);
    }
    fprintf(fp, "%s,%s,mean_tail,mean,%d,,%.10g,%.10g\n", r->method, r->path, r->image.n_tail, r->image.tail,
            r->pixel.tail);
    fprintf(fp, "%s,%s,mean_head,mean,%d,,%.10g,%.10g\n", r->method, r->path, r->image.n_head, r->image.head,
            r->pixel.head);
    fprintf(fp, "%s,%s,mean_all,mean,%d,,%.10g,%.10g\n", r->method, r->path, r->image.n_all, r->image.all,
            r->pixel.all);
  }
  /* stdio buffers: a full disk shows up at fclose as often as in fprintf */
  int bad = ferror(fp) ? (errno ? errno : EIO) : 0;
  errno = 0;
  if (fclose(fp) != 0 && !bad) bad = errno ? errno : EIO;
  if (!bad && rename(tmp, path) != 0) {
    int e = errno;
    unlink(tmp);
    tc_tmpfile_forget(tmp);
    return tc_err_set(TC_ERR_IO, "%s: cannot rename %s into place: %s", path, tmp, strerror(e));
  }
  if (bad) {
    unlink(tmp);
    tc_tmpfile_forget(tmp);
    return tc_err_set(TC_ERR_IO, "%s: write failed: %s", path,
                      bad == ENOSPC ? "no space left on device" : strerror(bad));
  }
  tc_tmpfile_forget(tmp);
  return TC_OK;
}

static const TcCmdDoc doc_ = {"eval", "tailedcore eval --scores scores.h5 --data ROOT [--dataset-info dataset.json] [--compare b.h5 c.h5 ...] [--csv out.csv]",
                               "Image and pixel AUROC per product class (ties as scikit-learn's roc_auc_score), and their means over tail, head and all classes as in the paper's tables (DESIGN 3.7). Ground truth from the MVTec layout: label = defect type != good, masks from ground_truth/ with the DESIGN 3.1 resize and crop. Prints a Markdown table; --compare adds columns."};

TcErr tc_cmd_eval(MPI_Comm comm, int argc, char **argv) {
  int rank = tc_rank(comm);
  const char *scores = NULL, *root = NULL, *info_path = NULL, *csv = NULL, *metrics = NULL;
  int partial = 0;
  const char *compare[65]; /* TC_OPT_LIST: up to 64 values, NULL-terminated */
  compare[0] = NULL;
  int64_t max_pixels = TC_IMAGE_MAX_PIXELS_DEFAULT;
  TcOpt opts[] = {
      {"scores", TC_OPT_STRING, &scores, NULL, "scores file from `tailedcore predict` (input)", NULL, 1},
      {"data", TC_OPT_STRING, &root, NULL, "MVTec-layout data set root with test/ and ground_truth/", NULL, 1},
      {"dataset-info", TC_OPT_STRING, &info_path, NULL,
       "dataset.json of the data set: tail/head membership for the tail/head means", NULL, 0},
      {"compare", TC_OPT_LIST, compare, NULL, "more scores files evaluated side by side (methods)", NULL, 0},
      {"max-pixels", TC_OPT_INT, &max_pixels, "89478485", "refuse images declaring more pixels than this, before decoding (decompression bombs; the default is PIL's MAX_IMAGE_PIXELS)" " (ground-truth masks)", NULL, 0},
      {"csv", TC_OPT_STRING, &csv, NULL, "also write the results as CSV here", NULL, 0},
      {"metrics", TC_OPT_STRING, &metrics, NULL,
       "also write key=value lines for scripts (of --scores): image_auroc, pixel_auroc (mean over classes, %), "
       "images, good_images, threshold, target_frr, frr (good images decided NG), escape_rate (anomalous images "
       "decided OK), classes; nan where undefined or uncalibrated", NULL, 0},
      {"partial", TC_OPT_FLAG, &partial, NULL,
       "accept scores of only some of a class's test images (else an error: a wrong --data root looks the same)",
       NULL, 0},
  };
  int help = 0;
  TcErr err = tc_cmd_options(comm, &doc_, opts, TC_NOPTS(opts), argc, argv, &help);
  if (help) return err;
  if (!err) err = tc_image_set_max_pixels(max_pixels);
  err = tc_agree(comm, err);
  if (err) return err;

  const char *files[MAX_FILES];
  int nfiles = 0;
  files[nfiles++] = scores;
  for (int i = 0; compare[i] && nfiles < MAX_FILES; i++) files[nfiles++] = compare[i];
  const char *const outs[2] = {csv, metrics}, *const out_opts[2] = {"--csv", "--metrics"};
  for (int j = 0; j < 2 && rank == 0 && !err; j++) {
    if (!outs[j]) continue;
    TcGuardInput in[MAX_FILES + 2];
    for (int k = 0; k < nfiles; k++) in[k] = (TcGuardInput){k ? "--compare" : "--scores", files[k]};
    in[nfiles] = (TcGuardInput){"--dataset-info", info_path};
    in[nfiles + 1] = (TcGuardInput){out_opts[1 - j], outs[1 - j]};
    err = tc_outguard_check(out_opts[j], outs[j], in, nfiles + 2);
    /* the test images and masks are inputs too; a root that does not list
     * is reported by the evaluation itself */
    TcDataset *ds = NULL;
    if (!err && tc_dataset_list(root, "test", &ds) == TC_OK) err = tc_outguard_dataset(out_opts[j], outs[j], ds, 1);
    else if (!err) tc_err_clear();
    tc_dataset_destroy(&ds);
  }
  err = tc_agree_root(comm, err);
  if (err) return err;
  for (int j = 0; j < 2 && !err; j++)
    if (outs[j]) err = tc_h5_check_output(comm, outs[j]);
  if (err) return err;
  TcEvalResult *res[MAX_FILES] = {0};
  TcDatasetInfo *info = NULL;
  /* dataset.json: small text, read by every rank (a broadcast of the parsed
   * record would need a serialiser; the verdict is the same everywhere) */
  if (info_path) err = tc_dataset_info_read(info_path, &info);
  err = tc_agree(comm, err);
  for (int k = 0; !err && k < nfiles; k++) {
    err = tc_peval_scores(comm, files[k], root, info, &res[k]);
    if (!err) err = tc_agree(comm, check_coverage_(res[k], root, partial));
    if (!err) tc_log(2, "eval: %s: %d classes", files[k], res[k]->n_classes);
    if (!err && rank == 0) warn_other_root_(res[k], root);
  }
  /* side by side only over the same classes: a mean over other classes is
   * not comparable */
  for (int k = 1; !err && k < nfiles; k++) {
    int same = res[k]->n_classes == res[0]->n_classes;
    for (int c = 0; same && c < res[0]->n_classes; c++)
      same = !strcmp(res[k]->classes[c].name, res[0]->classes[c].name);
    if (!same)
      err = tc_err_set(TC_ERR_FORMAT, "eval: %s and %s score different classes (missing class): cannot compare",
                       files[0], files[k]);
  }
  err = tc_agree(comm, err);
  /* the same method twice (e.g. two runs): label those columns by file too */
  int dup[MAX_FILES] = {0};
  for (int k = 0; !err && k < nfiles; k++)
    for (int j = 0; j < nfiles; j++)
      if (j != k && !strcmp(res[j]->method, res[k]->method)) dup[k] = 1;
  for (int k = 0; !err && k < nfiles; k++)
    if (dup[k]) {
      const char *b = strrchr(files[k], '/');
      char lab[64];
      snprintf(lab, sizeof lab, "%.30s(%.30s)", res[k]->method, b ? b + 1 : files[k]);
      snprintf(res[k]->method, sizeof res[k]->method, "%s", lab);
    }
  if (!err && rank == 0) {
    print_table_(stdout, res, nfiles, info != NULL);
    fflush(stdout);
    if (csv) err = write_csv_(csv, res, nfiles);
    if (!err && metrics) err = write_metrics_(metrics, res[0]);
  }
  /* the CSV is rank 0's alone, so its failure is every rank's: no "rank 0:"
   * in the line, which then reads the same for any rank count */
  int code = (int)err;
  MPI_Bcast(&code, 1, MPI_INT, 0, comm);
  if (rank != 0 && !err && code != TC_OK) err = tc_err_set((TcErr)code, "writing the CSV failed on rank 0");
  err = tc_agree(comm, err);
  for (int k = 0; k < nfiles; k++) tc_eval_result_destroy(&res[k]);
  tc_dataset_info_destroy(&info);
  return err;
}
