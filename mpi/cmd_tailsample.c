/* cmd_tailsample.c - `tailedcore tailsample`: features.h5 -> tail.h5
 * (DESIGN 3.6 steps 1-7 on the global embeddings), plus the paper's Table 5
 * diagnostics when the true labels are given.
 *
 * tail.h5 (kind "tail"):
 *   /tail/class_size     int64 [N]  predicted class size kappa per image
 *   /tail/is_tail        uint8 [N]  1 = tail image (kappa <= K_max)
 *   /tail/th             float32 [N] per-row trim_min threshold
 *   /tail/count          int64 [N]  neighbourhood size
 *   /tail/eta            int64 [K]  class cardinalities, descending (elbow plot y)
 *   /tail/elbow_distance float32 [K] distance of (t, eta_t) to the elbow line
 *   /tail/k_elbow, /tail/k_cap, /tail/k_max   int64 [1]
 *   /paths               string [N] (copied from the features file)
 *   attributes on "tail": k_elbow, k_cap, k_max, tail_p, tail_cut,
 *   embed_norm, n_images, n_tail, mode, gram, features
 *
 * Labels file (--labels, diagnostics only, never used for the result): one
 * line per training image, `path class is_noise is_tail_class`, separated
 * by blanks; `#` starts a comment line. Lines are matched to the features
 * file by path (by order when the features file has no /paths). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "context.h"
#include "checked.h"
#include "features_io.h"
#include "h5fmt.h"
#include "log.h"
#include "opts.h"
#include "outguard.h"
#include "partition.h"
#include "ptailsample.h"
#include "tailsampler.h"

/* Peak resident memory of this process in bytes (VmHWM), 0 if unknown. */
static int64_t peak_rss_(void) {
  FILE *fp = fopen("/proc/self/status", "r");
  if (!fp) return 0;
  char line[256];
  long long kb = 0;
  while (fgets(line, sizeof line, fp))
    if (sscanf(line, "VmHWM: %lld kB", &kb) == 1) break;
  fclose(fp);
  return (int64_t)kb * 1024;
}

typedef struct {
  char *path;
  char *cls;
  int noise, tail_class;
} LabelLine_;

static int cmp_label_path_(const void *a, const void *b) {
  return strcmp(((const LabelLine_ *)a)->path, ((const LabelLine_ *)b)->path);
}
static int cmp_label_cls_(const void *a, const void *b) {
  return strcmp((*(const LabelLine_ *const *)a)->cls, (*(const LabelLine_ *const *)b)->cls);
}

/* Rank 0: read the labels file, match it to the N images, compute and print
 * the Table 5 measures. Local. paths [N] or NULL (match by order). */
static TcErr diagnostics_(const char *labels_path, int64_t N, char **paths, const TcTailResult *r) {
  TcErr err = TC_OK;
  FILE *fp = NULL;
  TC_CALL(tc_text_open(labels_path, "labels file", TC_TEXT_MAX_BYTES, &fp));
  LabelLine_ *lines = NULL;
  LabelLine_ **by_cls = NULL;
  int64_t n = 0, cap = 0, lineno = 0;
  int64_t *cls = NULL;
  uint8_t *noise = NULL, *tailc = NULL;
  char buf[TC_TEXT_LINE_MAX + 1];
  int got = 0;
  for (;;) {
    TC_CALL_GOTO(err, tc_text_line(fp, labels_path, &lineno, buf, sizeof buf, &got), cleanup);
    if (!got) break;
    char p[4096], c[1024];
    int a = 0, b = 0;
    char *s = buf;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '#' || *s == '\n' || *s == '\0') continue;
    if (sscanf(s, "%4095s %1023s %d %d", p, c, &a, &b) != 4 || (a != 0 && a != 1) ||
        (b != 0 && b != 1)) {
      err = tc_err_set(TC_ERR_FORMAT, "%s:%lld: expected 'path class is_noise(0/1) is_tail_class(0/1)'",
                       labels_path, (long long)lineno);
      goto cleanup;
    }
    if (n == cap) {
      cap = cap ? 2 * cap : 1024;
      LabelLine_ *nl = realloc(lines, (size_t)cap * sizeof *lines);
      if (!nl) {
        err = tc_err_set(TC_ERR_MEM, "out of memory reading %s", labels_path);
        goto cleanup;
      }
      lines = nl;
    }
    lines[n].path = strdup(p);
    lines[n].cls = strdup(c);
    lines[n].noise = a;
    lines[n].tail_class = b;
    n++;
  }
  TC_CHECK_GOTO(err, n == N, TC_ERR_FORMAT, cleanup, "%s: %lld labelled images, the features file has %lld",
                labels_path, (long long)n, (long long)N);
  /* class ids: rank of the class name among the distinct names */
  by_cls = tc_malloc((size_t)n * sizeof *by_cls, "labels");
  cls = tc_malloc((size_t)N * sizeof(int64_t), "classes");
  noise = tc_malloc((size_t)N, "noise flags");
  tailc = tc_malloc((size_t)N, "tail-class flags");
  int64_t *line_cls = tc_malloc((size_t)n * sizeof(int64_t), "class ids");
  if (!by_cls || !cls || !noise || !tailc || !line_cls) {
    free(line_cls);
    err = TC_ERR_MEM;
    goto cleanup;
  }
  if (paths) qsort(lines, (size_t)n, sizeof *lines, cmp_label_path_);
  for (int64_t i = 0; i < n; i++) by_cls[i] = &lines[i];
  qsort(by_cls, (size_t)n, sizeof *by_cls, cmp_label_cls_);
  int64_t id = -1;
  for (int64_t i = 0; i < n; i++) {
    if (i == 0 || strcmp(by_cls[i]->cls, by_cls[i - 1]->cls)) id++;
    line_cls[by_cls[i] - lines] = id;
  }
  for (int64_t j = 0; j < N; j++) {
    int64_t li = j;
    if (paths) {
      LabelLine_ key = {.path = paths[j]};
      LabelLine_ *hit = bsearch(&key, lines, (size_t)n, sizeof *lines, cmp_label_path_);
      if (!hit) {
        free(line_cls);
        err = tc_err_set(TC_ERR_FORMAT, "%s: no label for image '%s'", labels_path, paths[j]);
        goto cleanup;
      }
      li = hit - lines;
    }
    cls[j] = line_cls[li];
    noise[j] = (uint8_t)lines[li].noise;
    tailc[j] = (uint8_t)lines[li].tail_class;
  }
  free(line_cls);
  TcTailDiag d;
  TC_CALL_GOTO(err, tc_tail_diagnostics(N, r->kappa, r->is_tail, cls, noise, tailc, &d), cleanup);
  printf("diagnostics (paper Table 5) from %s: %lld classes, %lld tail-class images, %lld head-class images, %lld noise images\n",
         labels_path, (long long)d.n_classes, (long long)d.n_tail_samples, (long long)d.n_head_samples,
         (long long)d.n_noise);
  printf("  missing tail samples     %.4f\n", d.missing_tail);
  printf("  included anomalies       %.4f\n", d.included_noise);
  printf("  included head samples    %.4f\n", d.included_head);
  printf("  class-size error (1/|C|) %.4f\n", d.class_size_error);
  printf("  AUROC(-kappa, tail)      %.4f\n", d.auroc_tail);
  fflush(stdout);
cleanup:
  fclose(fp);
  for (int64_t i = 0; i < n; i++) {
    free(lines[i].path);
    free(lines[i].cls);
  }
  free(lines);
  free(by_cls);
  free(cls);
  free(noise);
  free(tailc);
  return err;
}

static TcErr write_scalar_(TcH5File *f, const char *name, int64_t v, int rank) {
  int64_t dims[1] = {1};
  TC_CALL(tc_h5_create_dataset(f, name, TC_H5_I64, 1, dims, 0));
  TC_CALL(tc_h5_write_rows(f, name, TC_H5_I64, 0, rank == 0 ? 1 : 0, &v));
  return TC_OK;
}

/* Write tail.h5. Collective; the caller abandons the file on error. */
static TcErr write_tail_(TcH5File *f, const TcTailResult *r, int64_t lo, int64_t hi,
                         char **paths_local, const char *features, double tail_p, int embed_norm,
                         int streamed, int rank) {
  int64_t N = r->N, nloc = hi - lo, dN[1] = {N}, dK[1] = {r->neta};
  int64_t n_tail = 0;
  for (int64_t j = 0; j < N; j++) n_tail += r->is_tail[j];
  TC_CALL(tc_h5_create_dataset(f, "tail/class_size", TC_H5_I64, 1, dN, 0));
  TC_CALL(tc_h5_write_rows(f, "tail/class_size", TC_H5_I64, lo, nloc, r->kappa + lo));
  TC_CALL(tc_h5_create_dataset(f, "tail/is_tail", TC_H5_U8, 1, dN, 0));
  TC_CALL(tc_h5_write_rows(f, "tail/is_tail", TC_H5_U8, lo, nloc, r->is_tail + lo));
  TC_CALL(tc_h5_create_dataset(f, "tail/th", TC_H5_F32, 1, dN, 0));
  TC_CALL(tc_h5_write_rows(f, "tail/th", TC_H5_F32, lo, nloc, r->th + lo));
  TC_CALL(tc_h5_create_dataset(f, "tail/count", TC_H5_I64, 1, dN, 0));
  TC_CALL(tc_h5_write_rows(f, "tail/count", TC_H5_I64, lo, nloc, r->count + lo));
  /* the short vectors come from rank 0 (all ranks hold the same values) */
  int64_t kn = rank == 0 ? r->neta : 0;
  float *dist = tc_malloc((size_t)r->neta * sizeof(float), "elbow distances");
  TcErr err = dist ? TC_OK : TC_ERR_MEM;
  err = tc_agree(tc_h5_comm(f), err);
  if (err) {
    free(dist);
    return err;
  }
  for (int64_t t = 0; t < r->neta; t++) dist[t] = (float)r->elbow_dist[t];
  TC_CALL_GOTO(err, tc_h5_create_dataset(f, "tail/eta", TC_H5_I64, 1, dK, 0), out);
  TC_CALL_GOTO(err, tc_h5_write_rows(f, "tail/eta", TC_H5_I64, 0, kn, r->eta), out);
  TC_CALL_GOTO(err, tc_h5_create_dataset(f, "tail/elbow_distance", TC_H5_F32, 1, dK, 0), out);
  TC_CALL_GOTO(err, tc_h5_write_rows(f, "tail/elbow_distance", TC_H5_F32, 0, kn, dist), out);
  TC_CALL_GOTO(err, write_scalar_(f, "tail/k_elbow", r->k_elbow, rank), out);
  TC_CALL_GOTO(err, write_scalar_(f, "tail/k_cap", r->k_cap, rank), out);
  TC_CALL_GOTO(err, write_scalar_(f, "tail/k_max", r->k_max, rank), out);
  TC_CALL_GOTO(err, tc_h5_set_attr_i64(f, "tail", "k_elbow", r->k_elbow), out);
  TC_CALL_GOTO(err, tc_h5_set_attr_i64(f, "tail", "k_cap", r->k_cap), out);
  TC_CALL_GOTO(err, tc_h5_set_attr_i64(f, "tail", "k_max", r->k_max), out);
  TC_CALL_GOTO(err, tc_h5_set_attr_i64(f, "tail", "n_images", N), out);
  TC_CALL_GOTO(err, tc_h5_set_attr_i64(f, "tail", "n_tail", n_tail), out);
  TC_CALL_GOTO(err, tc_h5_set_attr_f64(f, "tail", "tail_p", tail_p), out);
  TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "tail", "tail_cut", tc_tail_cut_name(r->cut)), out);
  TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "tail", "embed_norm", tc_tail_norm_name(embed_norm)), out);
  TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "tail", "mode", streamed ? "stream" : "memory"), out);
  TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "tail", "gram", "cosine of embeddings rounded to 2^-11 after normalisation (exact float32 dots)"), out);
  TC_CALL_GOTO(err, tc_h5_set_attr_str(f, "tail", "features", features), out);
  if (paths_local)
    TC_CALL_GOTO(err, tc_h5_write_strings(f, "paths", N, lo, nloc, (const char *const *)paths_local), out);
out:
  free(dist);
  return err;
}

TcErr tc_cmd_tailsample(MPI_Comm comm, int argc, char **argv) {
  int rank = tc_rank(comm), size = tc_size(comm);
  const char *features = NULL, *out_path = NULL, *mode = NULL, *labels = NULL;
  const char *tail_p_s = NULL, *norm_s = NULL, *cut_s = NULL;
  double tail_p = 0.85;
  int tail_cut = TC_TAIL_CUT_CAP;
  int64_t mem = 0, panel_rows = 0;
  TcOpt opts[] = {
      {"features", TC_OPT_STRING, &features, NULL, "features file with /embeddings [N, E] (input)", NULL, 1},
      {"out", TC_OPT_STRING, &out_path, NULL, "tail file to write (published atomically)", NULL, 1},
      {"tail-p", TC_OPT_STRING, &tail_p_s, "auto", "trim_min quantile p of the per-row threshold (DESIGN 3.6 step 2), in [0, 1]; auto: 1 for mobilenetv2 features, the paper's 0.85 otherwise", NULL, 0},
      {"tail-cut", TC_OPT_CHOICE, &cut_s, "auto", "K_max rule: cap = the paper's min(K_elbow, K_cap); elbow = K_elbow; gap = the size after the largest ratio of consecutive class sizes when >= 3/2, else cap; auto: gap for mobilenetv2 features, cap otherwise", "auto|" TC_TAIL_CUT_CHOICES, 0},
      {"embed-norm", TC_OPT_CHOICE, &norm_s, "none", "embeddings before the cosine: none (the paper) or center (subtract the mean normalised embedding)", TC_TAIL_NORM_CHOICES, 0},
      {"mem-per-rank", TC_OPT_SIZE, &mem, "2G", "memory a rank may use; streaming switches on above it (auto mode); at most 1P", NULL, 0},
      {"mode", TC_OPT_CHOICE, &mode, "auto", "memory: ScaLAPACK Gram held in rows; stream: row panels twice, never N x N", "auto|memory|stream", 0},
      {"panel-rows", TC_OPT_INT, &panel_rows, "0", "rows per streaming panel (0: the most that fit in --mem-per-rank), >= 0", NULL, 0},
      {"labels", TC_OPT_STRING, &labels, NULL, "true labels 'path class is_noise is_tail_class' per line: print Table 5 diagnostics", NULL, 0},
  };
  int nopts = (int)(sizeof opts / sizeof opts[0]);
  int help = 0;
  TcErr err = tc_opts_parse("tailsample", opts, nopts, argc, argv, &help, NULL, 0, NULL);
  if (!err && help) {
    if (rank == 0)
      tc_opts_help(stdout, "tailsample", "tailedcore tailsample --features features.h5 --out tail.h5 [options]",
                   "Predict every training image's class size from its global embedding (TailSampler, DESIGN 3.6) "
                   "and mark the tail images. The cosine Gram runs on ScaLAPACK (in memory) or in row panels "
                   "computed twice (streaming); both give identical results on any number of ranks.",
                   opts, nopts);
    return tc_agree(comm, TC_OK);
  }
  if (!err && panel_rows < 0) err = tc_err_set(TC_ERR_USAGE, "tailsample: --panel-rows must be >= 0");
  if (!err && strcmp(tail_p_s, "auto")) {
    char *end = NULL;
    tail_p = strtod(tail_p_s, &end);
    if (end == tail_p_s || *end || !(tail_p >= 0.0 && tail_p <= 1.0))
      err = tc_err_set(TC_ERR_USAGE, "tailsample: --tail-p '%s' is not auto or a number in [0, 1]", tail_p_s);
  }
  err = tc_agree(comm, err);
  if (err) return err;
  if (rank == 0) {
    const TcGuardInput in[] = {{"--features", features}, {"--labels", labels}};
    err = tc_outguard_check("--out", out_path, in, 2);
    /* the labels are read after the Gram: a wrong path fails now, not then */
    FILE *fp = NULL;
    if (!err && labels) err = tc_text_open(labels, "labels file", TC_TEXT_MAX_BYTES, &fp);
    if (fp) fclose(fp);
  }
  err = tc_agree_root(comm, err);
  if (err) return err;

  TcH5File *in = NULL, *out = NULL;
  float *X = NULL;
  char **paths_local = NULL, **paths_all = NULL;
  TcTailResult *res = NULL;
  int64_t N = 0, E = 0, lo = 0, hi = 0;
  int has_paths = 0;

  err = tc_h5_check_output(comm, out_path);
  if (err) goto cleanup;
  err = tc_h5_open(comm, features, "features", &in);
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  {
    int64_t want[2] = {-1, -1}, dims[4];
    int nd = 0;
    err = tc_h5_expect(in, "embeddings", TC_H5_F32, 2, want);
    if (!err) err = tc_h5_dims(in, "embeddings", &nd, dims);
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    N = dims[0];
    E = dims[1];
    if (N < 1 || E < 1)
      err = tc_err_set(TC_ERR_FORMAT, "%s: /embeddings is empty [%lld x %lld]", features,
                       (long long)N, (long long)E);
    /* tailsample needs only /embeddings, and files from other tools may carry
     * nothing else; but a features file whose own sizes are damaged is a
     * damaged file, refused here as fit and predict refuse it */
    int64_t attr_E = 0, attr_D = 0;
    if (!err && tc_h5_has_attr(in, "/", "E")) {
      err = tc_h5_get_attr_i64_range(in, "/", "E", 1, TC_FEATURES_MAX_SIDE, &attr_E);
      if (!err && attr_E != E)
        err = tc_err_set(TC_ERR_FORMAT, "%s: attribute E = %lld but /embeddings has %lld columns", features,
                         (long long)attr_E, (long long)E);
    }
    if (!err && tc_h5_has_attr(in, "/", "D"))
      err = tc_h5_get_attr_i64_range(in, "/", "D", 1, TC_FEATURES_MAX_SIDE, &attr_D);
    err = tc_agree(comm, err);
    if (err) goto cleanup;
  }
  {
    /* auto rules follow the backbone the embeddings came from; a file
     * without the attribute (tests, other tools) gets the paper's */
    char bb[64] = "";
    if (tc_h5_has_attr(in, "/", "backbone")) err = tc_h5_get_attr_str(in, "/", "backbone", bb, sizeof bb);
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    double p_auto;
    int cut_auto;
    tc_tail_default_rules(bb[0] ? bb : NULL, &p_auto, &cut_auto);
    if (!strcmp(tail_p_s, "auto")) tail_p = p_auto;
    tail_cut = !strcmp(cut_s, "auto") ? cut_auto : tc_tail_cut_parse(cut_s);
  }
  has_paths = tc_h5_exists(in, "paths");
  tc_block_range(N, rank, size, &lo, &hi);
  X = tc_malloc((size_t)(hi > lo ? hi - lo : 1) * (size_t)E * sizeof(float), "embeddings");
  err = X ? TC_OK : TC_ERR_MEM;
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  err = tc_h5_read_rows(in, "embeddings", TC_H5_F32, lo, hi - lo, X);
  if (!err) {
    int64_t bad = tc_first_bad_f32(X, (hi - lo) * E, TC_VALUE_ABS_MAX);
    if (bad >= 0)
      err = tc_err_set(TC_ERR_FORMAT, "%s: image %lld: /embeddings holds %s at component %lld (values must be "
                       "finite, |x| <= %g)", features, (long long)(lo + bad / E), tc_value_str(X[bad]),
                       (long long)(bad % E), (double)TC_VALUE_ABS_MAX);
  }
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  if (has_paths) {
    err = tc_h5_read_strings(in, "paths", lo, hi - lo, &paths_local);
    err = tc_agree(comm, err);
    if (err) goto cleanup;
    if (labels) {
      /* rank 0 matches labels by path: it alone reads them all */
      err = tc_h5_read_strings(in, "paths", 0, rank == 0 ? N : 0, &paths_all);
      err = tc_agree(comm, err);
      if (err) goto cleanup;
    }
  }
  tc_h5_close(&in);

  TcPTailOpts po;
  tc_ptailsample_defaults(&po);
  po.tail_p = tail_p;
  po.mem_per_rank = mem;
  po.mode = !strcmp(mode, "memory") ? TC_TAIL_MODE_MEMORY
            : !strcmp(mode, "stream") ? TC_TAIL_MODE_STREAM : TC_TAIL_MODE_AUTO;
  po.panel_rows = panel_rows;
  po.embed_norm = tc_tail_norm_parse(norm_s);
  po.tail_cut = tail_cut;
  tc_log(2, "tailsample: tail-p %g, tail-cut %s, embed-norm %s", tail_p, tc_tail_cut_name(tail_cut),
         tc_tail_norm_name(po.embed_norm));
  TcPTailStats st;
  err = tc_ptailsample_run(comm, X, N, E, lo, hi, &po, &res, &st);
  if (err) goto cleanup;
  free(X);
  X = NULL;

  int64_t n_tail = 0;
  for (int64_t j = 0; j < N; j++) n_tail += res->is_tail[j];
  tc_log(1, "tailsample: %lld classes estimated; K_elbow = %lld, K_cap = %lld, K_max = %lld; %lld of %lld images are tail",
         (long long)res->neta, (long long)res->k_elbow, (long long)res->k_cap, (long long)res->k_max,
         (long long)n_tail, (long long)N);
  int64_t hwm = peak_rss_(), hwm_max = 0;
  MPI_Allreduce(&hwm, &hwm_max, 1, MPI_INT64_T, MPI_MAX, comm);
  if (st.streamed)
    tc_log(1, "tailsample: %.3f s (Gram %.3f s, %.1f GFLOP/s per job; row steps %.3f s); peak memory %.1f MiB per rank (max VmHWM)",
           st.t_total, st.t_gram, st.t_gram > 0 ? st.gram_flops / st.t_gram / 1e9 : 0.0, st.t_rows,
           (double)hwm_max / 1048576.0);
  else
    /* GFLOP/s on the flop computed (one triangle); "full-Gram rate" is what
     * a 2 N^2 E Gram would need to run as fast */
    tc_log(1, "tailsample: %.3f s (Gram %.3f s, %.1f GFLOP/s per job on one triangle, "
           "%.1f GFLOP/s full-Gram rate, mirror %.3f s, block %lld; S mapped in %.3f s; "
           "row steps %.3f s); peak memory %.1f MiB per rank (max VmHWM)",
           st.t_total, st.t_gram, st.t_gram > 0 ? st.gram_flops / (st.t_gram - st.t_mirror) / 1e9 : 0.0,
           st.t_gram > 0 ? 2.0 * (double)N * (double)N * (double)E / st.t_gram / 1e9 : 0.0,
           st.t_mirror, (long long)st.gram_block, st.t_alloc, st.t_rows,
           (double)hwm_max / 1048576.0);

  /* diagnostics before writing: a bad labels file publishes nothing */
  if (labels) {
    if (rank == 0) err = diagnostics_(labels, N, has_paths ? paths_all : NULL, res);
    err = tc_agree(comm, err);
    if (err) goto cleanup;
  }

  err = tc_h5_create(comm, out_path, "tail", &out);
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  err = write_tail_(out, res, lo, hi, has_paths ? paths_local : NULL, features, tail_p, po.embed_norm,
                    st.streamed, rank);
  if (!err && tc_fault_injected(comm, "tailwrite"))
    err = tc_err_set(TC_ERR_IO, "%s: injected failure (TC_FAIL_AT=tailwrite)", out_path);
  err = tc_agree(comm, err);
  if (err) {
    tc_h5_abandon(&out);
    goto cleanup;
  }
  err = tc_h5_publish(&out);
  err = tc_agree(comm, err);
  if (err) goto cleanup;
  tc_log(1, "tailsample: wrote %s", out_path);

cleanup:
  tc_h5_close(&in);
  if (out) tc_h5_abandon(&out);
  free(X);
  free(paths_local);
  free(paths_all);
  tc_tail_result_destroy(&res);
  return err;
}
