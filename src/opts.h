/* opts.h - declarative command-line options: one table per command gives
 * each option's name, type, default and help, so `--help` always lists every
 * option with its default and parsing errors are uniform. Local: every rank
 * parses the same argv and reaches the same verdict without communication. */
#ifndef TC_OPTS_H
#define TC_OPTS_H

#include <stdint.h>
#include <stdio.h>

#include "err.h"

typedef enum {
  TC_OPT_FLAG,   /* int*: 1 when given, no value */
  TC_OPT_INT,    /* int64_t* */
  TC_OPT_DOUBLE, /* double* */
  TC_OPT_STRING, /* const char** (points into argv or the default) */
  TC_OPT_CHOICE, /* const char**, value must be one of choices "a|b|c" */
  TC_OPT_SIZE,   /* int64_t* bytes; accepts suffixes K, M, G, T (powers of 1024) */
  TC_OPT_LIST    /* const char** ; repeated use or several values until the next --option,
                    stored as up to 64 pointers in value (NULL-terminated array) */
} TcOptType;

typedef struct {
  const char *name;    /* long name without "--" */
  TcOptType type;
  void *value;         /* where the parsed value goes (see type) */
  const char *def;     /* default as text, NULL = none (required or unset) */
  const char *help;    /* one line */
  const char *choices; /* TC_OPT_CHOICE only */
  int required;        /* 1: must be given */
} TcOpt;

/* Parse argv[1..argc-1] (argv[0] is the command name) against opts.
 * Defaults are applied first. `--help` sets *help_wanted and returns TC_OK.
 * Arguments that do not start with "--" are positional: up to max_pos are
 * stored in pos[] and counted in *npos (pass max_pos 0 to refuse them).
 * --quiet and --verbose are always accepted and set tc_log_level.
 * Errors: TC_ERR_USAGE with a one-line message naming the option. */
TcErr tc_opts_parse(const char *cmd, TcOpt *opts, int nopts, int argc, char **argv,
                    int *help_wanted, const char **pos, int max_pos, int *npos);

/* Print usage: synopsis line, summary paragraph, every option with its
 * default, and the common options. */
void tc_opts_help(FILE *out, const char *cmd, const char *synopsis, const char *summary,
                  const TcOpt *opts, int nopts);

/* Largest size option, 1 PiB: far above any node's memory, far below
 * INT64_MAX, so sums and products of a few sizes cannot overflow. */
#define TC_SIZE_MAX ((int64_t)1 << 50)

/* Parse a size like "512M", "2G", "1000" into bytes. TC_ERR_USAGE (no
 * message) for text that is not a size, negative, NaN, infinite, or more
 * than TC_SIZE_MAX bytes. */
TcErr tc_parse_size(const char *text, int64_t *bytes);

#endif
