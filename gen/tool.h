/* tool.h - the start and end every data-set tool (tc-synth, tc-longtail,
 * tc-realbench) shares: one parse with --help, one error line naming the
 * tool and the exit status. Serial (the tools run without MPI). */
#ifndef TC_TOOL_H
#define TC_TOOL_H

#include "err.h"
#include "opts.h"

/* Make this process the one that prints, parse argv against opts and, on
 * --help, print the usage (synopsis, summary, options) and set *help. */
TcErr tc_tool_parse(const char *tool, const char *synopsis, const char *summary, TcOpt *opts, int nopts,
                    int argc, char **argv, int *help);

/* The exit status for err; for an error, print its message once on stderr,
 * prefixed by the tool's name unless it names it already (option errors
 * do), and the traceback with --verbose. */
int tc_tool_exit(const char *tool, TcErr err);

#endif
