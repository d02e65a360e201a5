/* cmd_tailsample.c - `tailedcore tailsample`: features.h5 -> tail.h5
 * (DESIGN 3.6 steps 1-7 on the global embeddings; layout in
 * src/tail_io.h), plus the paper's Table 5 diagnostics when the true
 * labels are given (src/tail_diag.h). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "commands.h"
#include "common_opts.h"
#include "context.h"
#include "checked.h"
#include "features_io.h"
#include "h5fmt.h"
#include "log.h"
#include "opts.h"
#include "outguard.h"
#include "partition.h"
#include "peak_rss.h"
#include "ptailsample.h"
#include "tail_diag.h"
#include "tail_io.h"
#include "tailsampler.h"

typedef struct {
  const char *features, *out_path, *mode, *labels;
  const char *tail_p_s, *norm_s, *cut_s;
  double tail_p;
  int64_t mem, panel_rows;
} Args_;

/* This rank's share of the features file. */
typedef struct {
  int64_t N, E, lo, hi;
  float *X;           /* embeddings of rows [lo, hi) */
  char **paths_local; /* /paths rows [lo, hi), NULL when the file has none */
  char **paths_all;   /* every path, on rank 0 with --labels only */
  int has_paths;      /* the file has /paths (every rank knows) */
} Input_;

static void input_free_(Input_ *in) {
  free(in->X);
  free(in->paths_local);
  free(in->paths_all);
  in->X = NULL;
  in->paths_local = in->paths_all = NULL;
}

/* Options, --help, and the checks that need no file. *help = 1 when help
 * was printed. Collective; returns an agreed code. */
static const TcCmdDoc doc_ = {"tailsample", "tailedcore tailsample --features features.h5 --out tail.h5 [options]",
                               "Predict every training image's class size from its global embedding (TailSampler, DESIGN 3.6) and mark the tail images. The cosine Gram runs on ScaLAPACK (in memory) or in row panels computed twice (streaming); both give identical results on any number of ranks."};

static TcErr parse_args_(MPI_Comm comm, int argc, char **argv, Args_ *a, int *help) {
  memset(a, 0, sizeof *a);
  TcOpt opts[] = {
      {"features", TC_OPT_STRING, &a->features, NULL, "features file with /embeddings [N, E] (input)", NULL, 1},
      {"out", TC_OPT_STRING, &a->out_path, NULL, "tail file to write (published atomically)", NULL, 1},
      tc_opt_tail_p(&a->tail_p_s),
      tc_opt_tail_cut(&a->cut_s),
      tc_opt_embed_norm(&a->norm_s),
      tc_opt_mem_per_rank(&a->mem, "memory a rank may use; streaming switches on above it (auto mode); 0..1P"),
      {"mode", TC_OPT_CHOICE, &a->mode, "auto", "memory: ScaLAPACK Gram held in rows; stream: row panels twice, never N x N", "auto|memory|stream", 0},
      {"panel-rows", TC_OPT_INT, &a->panel_rows, "0", "rows per streaming panel (0: the most that fit in --mem-per-rank), >= 0", NULL, 0},
      {"labels", TC_OPT_STRING, &a->labels, NULL, "true labels 'path class is_noise is_tail_class' per line: print Table 5 diagnostics", NULL, 0},
  };
  TcErr err = tc_cmd_options(comm, &doc_, opts, TC_NOPTS(opts), argc, argv, help);
  if (*help) return err;
  if (!err && a->panel_rows < 0) err = tc_err_set(TC_ERR_USAGE, "tailsample: --panel-rows must be >= 0");
  if (!err) err = tc_tail_p_check("tailsample", a->tail_p_s);
  return tc_agree(comm, err);
}

/* Rank 0 checks the paths before any work: the output names no input, and
 * the labels (read only after the Gram) can be opened now. Collective. */
static TcErr check_paths_(MPI_Comm comm, const Args_ *a) {
  TcErr err = TC_OK;
  if (tc_rank(comm) == 0) {
    const TcGuardInput in[] = {{"--features", a->features}, {"--labels", a->labels}};
    err = tc_outguard_check("--out", a->out_path, in, 2);
    FILE *fp = NULL;
    if (!err && a->labels) err = tc_text_open(a->labels, "labels file", TC_TEXT_MAX_BYTES, &fp);
    if (fp) fclose(fp);
  }
  return tc_agree_root(comm, err);
}

/* Open the features file and read the size N x E of /embeddings.
 * tailsample needs only /embeddings, and files from other tools may carry
 * nothing else; but a features file whose own sizes are damaged is a
 * damaged file, refused here as fit and predict refuse it. Collective. */
static TcErr open_features_(MPI_Comm comm, const char *features, TcH5File **in, int64_t *N, int64_t *E) {
  TcErr err = tc_agree(comm, tc_h5_open(comm, features, "features", in));
  if (err) return err;
  int64_t want[2] = {-1, -1}, dims[4];
  int nd = 0;
  err = tc_h5_expect(*in, "embeddings", TC_H5_F32, 2, want);
  if (!err) err = tc_h5_dims(*in, "embeddings", &nd, dims);
  err = tc_agree(comm, err);
  if (err) return err;
  *N = dims[0];
  *E = dims[1];
  if (*N < 1 || *E < 1)
    err = tc_err_set(TC_ERR_FORMAT, "%s: /embeddings is empty [%lld x %lld]", features, (long long)*N,
                     (long long)*E);
  int64_t attr_E = 0, attr_D = 0;
  if (!err && tc_h5_has_attr(*in, "/", "E")) {
    err = tc_h5_get_attr_i64_range(*in, "/", "E", 1, TC_FEATURES_MAX_SIDE, &attr_E);
    if (!err && attr_E != *E)
      err = tc_err_set(TC_ERR_FORMAT, "%s: attribute E = %lld but /embeddings has %lld columns", features,
                       (long long)attr_E, (long long)*E);
  }
  if (!err && tc_h5_has_attr(*in, "/", "D"))
    err = tc_h5_get_attr_i64_range(*in, "/", "D", 1, TC_FEATURES_MAX_SIDE, &attr_D);
  /* a file from extract (it has the feature-map geometry) is checked whole,
   * as fit and predict check it: damaged attributes tailsample does not use
   * still mean a damaged file (make fuzz seed 3) */
  if (!err && tc_h5_has_attr(*in, "/", "fmap_h")) {
    TcFeaturesMeta meta;
    memset(&meta, 0, sizeof meta);
    err = tc_features_meta_read_attrs(*in, &meta);
  }
  return tc_agree(comm, err);
}

/* The TailSampler options: the auto rules follow the backbone the
 * embeddings came from; a file without the attribute (tests, other tools)
 * gets the paper's. Collective. */
static TcErr choose_rules_(MPI_Comm comm, TcH5File *in, Args_ *a, TcPTailOpts *po) {
  char bb[64] = "";
  TcErr err = TC_OK;
  if (tc_h5_has_attr(in, "/", "backbone")) err = tc_h5_get_attr_str(in, "/", "backbone", bb, sizeof bb);
  TC_CALL(tc_agree(comm, err));
  double p_auto;
  int cut_auto;
  tc_tail_default_rules(bb[0] ? bb : NULL, &p_auto, &cut_auto);
  a->tail_p = tc_tail_p_value(a->tail_p_s, p_auto);
  tc_ptailsample_defaults(po);
  po->tail_p = a->tail_p;
  po->mem_per_rank = a->mem;
  po->mode = !strcmp(a->mode, "memory") ? TC_TAIL_MODE_MEMORY
             : !strcmp(a->mode, "stream") ? TC_TAIL_MODE_STREAM : TC_TAIL_MODE_AUTO;
  po->panel_rows = a->panel_rows;
  po->embed_norm = tc_tail_norm_parse(a->norm_s);
  po->tail_cut = !strcmp(a->cut_s, "auto") ? cut_auto : tc_tail_cut_parse(a->cut_s);
  return TC_OK;
}

/* Every mode but an explicit --mode memory needs at least the streaming
 * minimum (this rank's block of embeddings and one panel row) within
 * --mem-per-rank: checked before anything is allocated, so a file that
 * declares 2^40 rows it does not hold is refused with the size instead of
 * a 32 TB allocation (make fuzz seed 3, h5_00632). Local; the same verdict
 * on every rank (global values). */
static TcErr check_input_fits_(const char *features, const TcPTailOpts *po, int64_t N, int64_t E, int size) {
  int64_t NE = 0;
  TC_CHECK(tc_mul_i64(N, E, &NE) && NE <= TC_H5_MAX_ELEMS, TC_ERR_FORMAT,
           "%s: /embeddings declares %lld x %lld values, more than %lld", features, (long long)N, (long long)E,
           (long long)TC_H5_MAX_ELEMS);
  if (po->mode == TC_TAIL_MODE_MEMORY) return TC_OK;
  const int64_t minimum = tc_ptailsample_stream_bytes(N, E, size, 1);
  TC_CHECK(minimum <= po->mem_per_rank, TC_ERR_USAGE,
           "%s: --mem-per-rank %lld bytes is below the streaming minimum of %lld bytes per rank for N = %lld, "
           "E = %lld on %d rank(s)", features, (long long)po->mem_per_rank, (long long)minimum, (long long)N,
           (long long)E, size);
  return TC_OK;
}

/* This rank's block of embeddings (checked finite and bounded) and paths;
 * every path on rank 0 when the labels are matched by path. Collective. */
static TcErr read_input_(MPI_Comm comm, TcH5File *in, const char *features, int labels, Input_ *x) {
  int rank = tc_rank(comm);
  int64_t E = x->E;
  x->has_paths = tc_h5_exists(in, "paths");
  tc_block_range(x->N, rank, tc_size(comm), &x->lo, &x->hi);
  int64_t nloc = x->hi - x->lo;
  x->X = tc_malloc((size_t)(nloc > 0 ? nloc : 1) * (size_t)E * sizeof(float), "embeddings");
  TC_CALL(tc_agree(comm, x->X ? TC_OK : TC_ERR_MEM));
  TcErr err = tc_h5_read_rows(in, "embeddings", TC_H5_F32, x->lo, nloc, x->X);
  if (!err) {
    int64_t bad = tc_first_bad_f32(x->X, nloc * E, TC_VALUE_ABS_MAX);
    if (bad >= 0)
      err = tc_err_set(TC_ERR_FORMAT, "%s: image %lld: /embeddings holds %s at component %lld (values must be "
                       "finite, |x| <= %g)", features, (long long)(x->lo + bad / E), tc_value_str(x->X[bad]),
                       (long long)(bad % E), (double)TC_VALUE_ABS_MAX);
  }
  TC_CALL(tc_agree(comm, err));
  if (!x->has_paths) return TC_OK;
  TC_CALL(tc_agree(comm, tc_h5_read_strings(in, "paths", x->lo, nloc, &x->paths_local)));
  if (labels)
    TC_CALL(tc_agree(comm, tc_h5_read_strings(in, "paths", 0, rank == 0 ? x->N : 0, &x->paths_all)));
  return TC_OK;
}

/* What ran and how fast; the peak memory is the largest over the ranks.
 * Collective. */
static void log_run_(MPI_Comm comm, const TcTailResult *res, const TcPTailStats *st, int64_t E) {
  int64_t N = res->N, n_tail = 0;
  for (int64_t j = 0; j < N; j++) n_tail += res->is_tail[j];
  tc_log(1, "tailsample: %lld classes estimated; K_elbow = %lld, K_cap = %lld, K_max = %lld; %lld of %lld images are tail",
         (long long)res->neta, (long long)res->k_elbow, (long long)res->k_cap, (long long)res->k_max,
         (long long)n_tail, (long long)N);
  int64_t hwm = tc_peak_rss_bytes(), hwm_max = 0;
  MPI_Allreduce(&hwm, &hwm_max, 1, MPI_INT64_T, MPI_MAX, comm);
  if (st->streamed)
    tc_log(1, "tailsample: %.3f s (Gram %.3f s, %.1f GFLOP/s per job; row steps %.3f s); peak memory %.1f MiB per rank (max VmHWM)",
           st->t_total, st->t_gram, st->t_gram > 0 ? st->gram_flops / st->t_gram / 1e9 : 0.0, st->t_rows,
           (double)hwm_max / 1048576.0);
  else
    /* GFLOP/s on the flop computed (one triangle); "full-Gram rate" is what
     * a 2 N^2 E Gram would need to run as fast */
    tc_log(1, "tailsample: %.3f s (Gram %.3f s, %.1f GFLOP/s per job on one triangle, "
           "%.1f GFLOP/s full-Gram rate, mirror %.3f s, block %lld; S mapped in %.3f s; "
           "row steps %.3f s); peak memory %.1f MiB per rank (max VmHWM)",
           st->t_total, st->t_gram, st->t_gram > 0 ? st->gram_flops / (st->t_gram - st->t_mirror) / 1e9 : 0.0,
           st->t_gram > 0 ? 2.0 * (double)N * (double)N * (double)E / st->t_gram / 1e9 : 0.0,
           st->t_mirror, (long long)st->gram_block, st->t_alloc, st->t_rows,
           (double)hwm_max / 1048576.0);
}

/* tail.h5 under a temporary name, published only when every rank wrote
 * its part. Collective. */
static TcErr write_output_(MPI_Comm comm, const char *out_path, const TcTailResult *res, const Input_ *x,
                           const TcTailFileInfo *info) {
  TcH5File *out = NULL;
  TcErr err = tc_agree(comm, tc_h5_create(comm, out_path, "tail", &out));
  if (!err) {
    err = tc_tail_io_write(out, res, x->N, x->lo, x->hi, tc_rank(comm) == 0, info);
    if (!err && tc_fault_injected(comm, "tailwrite"))
      err = tc_err_set(TC_ERR_IO, "%s: injected failure (TC_FAIL_AT=tailwrite)", out_path);
    err = tc_agree(comm, err);
  }
  if (!err) err = tc_agree(comm, tc_h5_publish(&out));
  tc_h5_abandon(&out);
  if (!err) tc_log(1, "tailsample: wrote %s", out_path);
  return err;
}

TcErr tc_cmd_tailsample(MPI_Comm comm, int argc, char **argv) {
  Args_ a;
  int help = 0;
  TcErr err = parse_args_(comm, argc, argv, &a, &help);
  if (err || help) return err;
  TC_CALL(check_paths_(comm, &a));

  TcH5File *in = NULL;
  Input_ x = {0};
  TcPTailOpts po;
  TcPTailStats st;
  TcTailResult *res = NULL;
  TC_CALL_GOTO(err, tc_h5_check_output(comm, a.out_path), cleanup);
  TC_CALL_GOTO(err, open_features_(comm, a.features, &in, &x.N, &x.E), cleanup);
  TC_CALL_GOTO(err, choose_rules_(comm, in, &a, &po), cleanup);
  TC_CALL_GOTO(err, check_input_fits_(a.features, &po, x.N, x.E, tc_size(comm)), cleanup);
  TC_CALL_GOTO(err, read_input_(comm, in, a.features, a.labels != NULL, &x), cleanup);
  tc_h5_close(&in);

  tc_log(2, "tailsample: tail-p %g, tail-cut %s, embed-norm %s", a.tail_p, tc_tail_cut_name(po.tail_cut),
         tc_tail_norm_name(po.embed_norm));
  TC_CALL_GOTO(err, tc_ptailsample_run(comm, x.X, x.N, x.E, x.lo, x.hi, &po, &res, &st), cleanup);
  free(x.X);
  x.X = NULL;
  log_run_(comm, res, &st, x.E);

  /* diagnostics before writing: a bad labels file publishes nothing */
  if (a.labels) {
    if (tc_rank(comm) == 0) err = tc_tail_diag_report(stdout, a.labels, x.N, x.has_paths ? x.paths_all : NULL, res);
    TC_CALL_GOTO(err, tc_agree(comm, err), cleanup);
  }
  const TcTailFileInfo info = {.features = a.features, .tail_p = a.tail_p, .embed_norm = po.embed_norm,
                               .streamed = st.streamed, .has_paths = x.has_paths,
                               .paths = (const char *const *)x.paths_local};
  err = write_output_(comm, a.out_path, res, &x, &info);

cleanup:
  tc_h5_close(&in);
  input_free_(&x);
  tc_tail_result_destroy(&res);
  return err;
}
