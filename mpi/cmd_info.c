/* cmd_info.c - `tailedcore info FILE...`: a readable summary of any of our
 * HDF5 files (kind, datasets with shapes and types, attributes, small
 * diagnostic values). Collective on comm; rank 0 prints. */
#include <stdio.h>

#include "commands.h"
#include "context.h"
#include "h5fmt.h"
#include "opts.h"

TcErr tc_cmd_info(MPI_Comm comm, int argc, char **argv) {
  int help = 0, npos = 0;
  const char *pos[32];
  TcErr err = tc_opts_parse("info", NULL, 0, argc, argv, &help, pos, 32, &npos);
  if (!err && help) {
    if (tc_rank(comm) == 0)
      tc_opts_help(stdout, "info", "tailedcore info FILE [FILE ...]",
                   "Print a summary of tailedcore HDF5 files (features.h5, model.h5, scores.h5,\n"
                   "tail.h5, weights): kind, every dataset with its shape and type, every\n"
                   "attribute and parameter, and small diagnostic values such as K_max.",
                   NULL, 0);
    return TC_OK;
  }
  if (!err && npos == 0) err = tc_err_set(TC_ERR_USAGE, "info: no file given (see tailedcore info --help)");
  if (err) return err;
  for (int i = 0; i < npos; i++) {
    TcH5File *f = NULL;
    TC_CALL(tc_h5_open(comm, pos[i], NULL, &f));
    err = tc_h5_describe(f, stdout);
    fflush(stdout);
    tc_h5_close(&f);
    TC_CALL(tc_agree(comm, err));
  }
  return TC_OK;
}
