/* tool.c - see tool.h. */
#include "tool.h"

#include <stdio.h>
#include <string.h>

#include "log.h"

TcErr tc_tool_parse(const char *tool, const char *synopsis, const char *summary, TcOpt *opts, int nopts,
                    int argc, char **argv, int *help) {
  tc_log_is_printer = 1;
  TcErr err = tc_opts_parse(tool, opts, nopts, argc, argv, help, NULL, 0, NULL);
  if (err == TC_OK && *help) tc_opts_help(stdout, tool, synopsis, summary, opts, nopts);
  return err;
}

int tc_tool_exit(const char *tool, TcErr err) {
  if (err == TC_OK) return 0;
  const char *msg = tc_err_message();
  size_t n = strlen(tool);
  int named = strncmp(msg, tool, n) == 0 && msg[n] == ':';
  fprintf(stderr, "%s%s%s\n", named ? "" : tool, named ? "" : ": ", msg);
  if (tc_log_level >= 2 && tc_err_traceback()[0]) fprintf(stderr, "  at %s\n", tc_err_traceback());
  return tc_err_exit_status(err);
}
