/* cmd_info.c - `tailedcore info FILE` (stub until h5fmt lands). */
#include "commands.h"

TcErr tc_cmd_info(MPI_Comm comm, int argc, char **argv) {
  (void)comm; (void)argc; (void)argv;
  return tc_cmd_not_built("info", "2");
}
