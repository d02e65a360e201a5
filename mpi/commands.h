/* commands.h - one function per subcommand. Each is collective on comm,
 * returns an error code agreed by all ranks (tc_agree) and leaves the message
 * in the error buffer; main.c prints it on rank 0 and maps it to the exit
 * status. argv[0] is the command name. */
#ifndef TC_COMMANDS_H
#define TC_COMMANDS_H

#include <mpi.h>

#include "err.h"
#include "opts.h"

/* The length of an option table. */
#define TC_NOPTS(opts) ((int)(sizeof(opts) / sizeof((opts)[0])))

/* What --help prints above the option list. */
typedef struct {
  const char *name, *synopsis, *summary;
} TcCmdDoc;

/* Every command's option parsing: tc_opts_parse, and on --help the usage
 * on rank 0 (then *help is 1 and TC_OK is returned, agreed). A parse error
 * is returned unagreed (every rank parses the same argv and reaches it),
 * so the command can add its own checks before one agreement.
 * Collective when --help is given; local otherwise. */
TcErr tc_cmd_options(MPI_Comm comm, const TcCmdDoc *doc, TcOpt *opts, int nopts, int argc, char **argv,
                     int *help);

TcErr tc_cmd_extract(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_tailsample(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_fit(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_calibrate(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_index(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_predict(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_eval(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_info(MPI_Comm comm, int argc, char **argv);

#endif
