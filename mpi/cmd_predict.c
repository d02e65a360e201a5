/* cmd_predict.c - `tailedcore predict` (not built yet: issue 7). */
#include "commands.h"

TcErr tc_cmd_predict(MPI_Comm comm, int argc, char **argv) {
  (void)comm; (void)argc; (void)argv;
  return tc_cmd_not_built("predict", "7");
}
