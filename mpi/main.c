/* main.c - the tailedcore executable: MPI start-up, subcommand dispatch and
 * the exit status (STYLE 3, layer 3). Everything else takes a communicator. */
#include <mpi.h>
#include <stdio.h>
#include <string.h>

#include "commands.h"
#include "context.h"
#include "log.h"
#include "opts.h"
#include "version.h"


typedef struct {
  const char *name;
  TcErr (*run)(MPI_Comm, int, char **);
  const char *what;
} TcCommand;

static const TcCommand commands_[] = {
    {"extract", tc_cmd_extract, "images -> features.h5 (patch features + global embeddings)"},
    {"tailsample", tc_cmd_tailsample, "features.h5 -> tail.h5 (class sizes, tail images)"},
    {"fit", tc_cmd_fit, "features.h5 or images -> model.h5 (memory bank)"},
    {"calibrate", tc_cmd_calibrate, "model.h5 + features of good images -> calibration.h5 (OK/NG threshold)"},
    {"index", tc_cmd_index, "model.h5 -> index.h5 (the IVF index of predict --search ivf, built once)"},
    {"predict", tc_cmd_predict, "model.h5 + test images -> scores.h5"},
    {"eval", tc_cmd_eval, "scores.h5 + ground truth -> AUROC table (tail / head / all)"},
    {"info", tc_cmd_info, "print a summary of any tailedcore HDF5 file"},
};
static const int ncommands_ = (int)(sizeof commands_ / sizeof commands_[0]);

static void usage_(FILE *out) {
  fprintf(out,
          "usage: tailedcore <command> [options]   (run under mpirun/srun for several ranks)\n\n"
          "TailedCore anomaly detection (CVPR 2025) as an MPI job.\n\ncommands:\n");
  for (int i = 0; i < ncommands_; i++)
    fprintf(out, "  %-11s %s\n", commands_[i].name, commands_[i].what);
  fprintf(out,
          "\n`tailedcore <command> --help` lists every option with its default.\n"
          "exit status: 0 ok, 1 internal/library error, 2 usage, 3 bad input data, 4 I/O.\n"
          "version %s\n",
          TC_VERSION);
}

TcErr tc_cmd_options(MPI_Comm comm, const TcCmdDoc *doc, TcOpt *opts, int nopts, int argc, char **argv,
                     int *help) {
  *help = 0;
  TcErr err = tc_opts_parse(doc->name, opts, nopts, argc, argv, help, NULL, 0, NULL);
  if (err || !*help) return err;
  if (tc_rank(comm) == 0) tc_opts_help(stdout, doc->name, doc->synopsis, doc->summary, opts, nopts);
  return tc_agree(comm, TC_OK);
}

int main(int argc, char **argv) {
  MPI_Comm comm = tc_mpi_start(&argc, &argv);
  int rank = tc_rank(comm);

  TcErr err = TC_OK;
  const char *cmd = argc > 1 ? argv[1] : NULL;
  if (!cmd) {
    if (rank == 0) usage_(stderr);
    err = TC_ERR_USAGE;
    tc_err_set(err, "no command given");
  } else if (!strcmp(cmd, "--help") || !strcmp(cmd, "-h") || !strcmp(cmd, "help")) {
    if (rank == 0) usage_(stdout);
  } else if (!strcmp(cmd, "--version")) {
    if (rank == 0) printf("tailedcore %s\n", TC_VERSION);
  } else {
    const TcCommand *c = NULL;
    for (int i = 0; i < ncommands_; i++)
      if (!strcmp(commands_[i].name, cmd)) c = &commands_[i];
    if (!c) err = tc_err_set(TC_ERR_USAGE, "unknown command '%s' (see tailedcore --help)", cmd);
    else err = c->run(comm, argc - 1, argv + 1);
  }
  /* commands return agreed codes; this keeps the exit status identical on
   * every rank even if one forgot */
  err = tc_agree(comm, err);
  if (err != TC_OK && rank == 0) {
    fprintf(stderr, "tailedcore: %s%s%s\n", cmd && err != TC_ERR_USAGE ? cmd : "",
            cmd && err != TC_ERR_USAGE ? ": " : "", tc_err_message());
    if (tc_log_level >= 2 && tc_err_traceback()[0])
      fprintf(stderr, "tailedcore: traceback: %s\n", tc_err_traceback());
  }
  MPI_Comm_free(&comm);
  MPI_Finalize();
  return tc_err_exit_status(err);
}
