/* cmd_eval.c - `tailedcore eval` (not built yet: issue 7). */
#include "commands.h"

TcErr tc_cmd_eval(MPI_Comm comm, int argc, char **argv) {
  (void)comm; (void)argc; (void)argv;
  return tc_cmd_not_built("eval", "7");
}
