/* cmd_fit.c - `tailedcore fit` (not built yet: issue 5). */
#include "commands.h"

TcErr tc_cmd_fit(MPI_Comm comm, int argc, char **argv) {
  (void)comm; (void)argc; (void)argv;
  return tc_cmd_not_built("fit", "5");
}
