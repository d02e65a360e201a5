/* commands.h - one function per subcommand. Each is collective on comm,
 * returns an error code agreed by all ranks (tc_agree) and leaves the message
 * in the error buffer; main.c prints it on rank 0 and maps it to the exit
 * status. argv[0] is the command name. */
#ifndef TC_COMMANDS_H
#define TC_COMMANDS_H

#include <mpi.h>

#include "err.h"

TcErr tc_cmd_extract(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_tailsample(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_fit(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_predict(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_eval(MPI_Comm comm, int argc, char **argv);
TcErr tc_cmd_info(MPI_Comm comm, int argc, char **argv);

#endif
