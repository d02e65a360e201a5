/* cmd_tailsample.c - `tailedcore tailsample` (not built yet: issue 4). */
#include "commands.h"

TcErr tc_cmd_tailsample(MPI_Comm comm, int argc, char **argv) {
  (void)comm; (void)argc; (void)argv;
  return tc_cmd_not_built("tailsample", "4");
}
