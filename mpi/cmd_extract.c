/* cmd_extract.c - `tailedcore extract` (not built yet: issue 3). */
#include "commands.h"

TcErr tc_cmd_extract(MPI_Comm comm, int argc, char **argv) {
  (void)comm; (void)argc; (void)argv;
  return tc_cmd_not_built("extract", "3");
}
