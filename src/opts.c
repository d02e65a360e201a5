/* opts.c - declarative option parsing (see opts.h). */
#include "opts.h"

#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define TC_OPT_LIST_MAX 64

/* *too_big = 1 when text is a well-formed size above TC_SIZE_MAX (also one
 * whose number overflows a double), so the message can say so. */
static TcErr parse_size_(const char *text, int64_t *bytes, int *too_big) {
  char *end = NULL;
  *too_big = 0;
  errno = 0;
  double v = strtod(text, &end);
  if (end == text || isnan(v) || !(v >= 0)) return TC_ERR_USAGE;
  int overflow = (errno == ERANGE && v != 0) || isinf(v);
  if (errno == ERANGE && !overflow) v = 0; /* underflow: a fraction of a byte */
  double mult = 1;
  if (*end) {
    switch (*end) {
    case 'k': case 'K': mult = 1024.0; break;
    case 'm': case 'M': mult = 1024.0 * 1024; break;
    case 'g': case 'G': mult = 1024.0 * 1024 * 1024; break;
    case 't': case 'T': mult = 1024.0 * 1024 * 1024 * 1024; break;
    default: return TC_ERR_USAGE;
    }
    end++;
    if (*end == 'i') end++;
    if (*end == 'B' || *end == 'b') end++;
    if (*end) return TC_ERR_USAGE;
  }
  /* compare as double before the cast: 1e19 would wrap to INT64_MIN */
  if (overflow || !(v * mult <= (double)TC_SIZE_MAX)) {
    *too_big = 1;
    return TC_ERR_USAGE;
  }
  *bytes = (int64_t)(v * mult);
  return TC_OK;
}

TcErr tc_parse_size(const char *text, int64_t *bytes) {
  int too_big = 0;
  return parse_size_(text, bytes, &too_big);
}

static TcErr set_value_(const char *cmd, TcOpt *o, const char *text) {
  char *end = NULL;
  switch (o->type) {
  case TC_OPT_FLAG:
    *(int *)o->value = 1;
    return TC_OK;
  case TC_OPT_INT: {
    errno = 0;
    long long v = strtoll(text, &end, 10);
    TC_CHECK(end != text && *end == '\0' && errno == 0, TC_ERR_USAGE,
             "%s: --%s: '%s' is not an integer", cmd, o->name, text);
    *(int64_t *)o->value = v;
    return TC_OK;
  }
  case TC_OPT_DOUBLE: {
    errno = 0;
    double v = strtod(text, &end);
    TC_CHECK(end != text && *end == '\0' && errno == 0 && isfinite(v), TC_ERR_USAGE,
             "%s: --%s: '%s' is not a number", cmd, o->name, text);
    *(double *)o->value = v;
    return TC_OK;
  }
  case TC_OPT_SIZE: {
    int too_big = 0;
    if (parse_size_(text, (int64_t *)o->value, &too_big) == TC_OK) return TC_OK;
    TC_CHECK(!too_big, TC_ERR_USAGE, "%s: --%s: '%s' is more than the largest size, 1P (2^50 bytes)",
             cmd, o->name, text);
    return tc_err_set(TC_ERR_USAGE, "%s: --%s: '%s' is not a size (like 512M or 4G)", cmd, o->name,
                      text);
  }
  case TC_OPT_STRING:
    *(const char **)o->value = text;
    return TC_OK;
  case TC_OPT_CHOICE: {
    size_t n = strlen(text);
    const char *c = o->choices;
    while (c && *c) {
      const char *bar = strchr(c, '|');
      size_t len = bar ? (size_t)(bar - c) : strlen(c);
      if (len == n && strncmp(c, text, n) == 0) {
        *(const char **)o->value = text;
        return TC_OK;
      }
      c = bar ? bar + 1 : NULL;
    }
    return tc_err_set(TC_ERR_USAGE, "%s: --%s: '%s' is not one of %s", cmd, o->name, text,
                      o->choices);
  }
  case TC_OPT_LIST: {
    const char **list = (const char **)o->value;
    int n = 0;
    while (list[n]) n++;
    TC_CHECK(n < TC_OPT_LIST_MAX - 1, TC_ERR_USAGE, "%s: --%s: more than %d values", cmd,
             o->name, TC_OPT_LIST_MAX - 1);
    list[n] = text;
    list[n + 1] = NULL;
    return TC_OK;
  }
  }
  return tc_err_set(TC_ERR_INTERNAL, "%s: --%s: unknown option type", cmd, o->name);
}

TcErr tc_opts_parse(const char *cmd, TcOpt *opts, int nopts, int argc, char **argv,
                    int *help_wanted, const char **pos, int max_pos, int *npos) {
  int given[256] = {0};
  TC_CHECK(nopts <= 256, TC_ERR_INTERNAL, "too many options");
  *help_wanted = 0;
  if (npos) *npos = 0;
  for (int i = 0; i < nopts; i++) {
    if (opts[i].type == TC_OPT_FLAG) *(int *)opts[i].value = 0;
    else if (opts[i].type == TC_OPT_LIST) ((const char **)opts[i].value)[0] = NULL;
    else if (opts[i].def) TC_CALL(set_value_(cmd, &opts[i], opts[i].def));
    else if (opts[i].type == TC_OPT_STRING || opts[i].type == TC_OPT_CHOICE)
      *(const char **)opts[i].value = NULL;
  }
  for (int a = 1; a < argc; a++) {
    const char *arg = argv[a];
    if (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0) {
      *help_wanted = 1;
      return TC_OK;
    }
    if (strcmp(arg, "--quiet") == 0 || strcmp(arg, "-q") == 0) { tc_log_level = 0; continue; }
    if (strcmp(arg, "--verbose") == 0 || strcmp(arg, "-v") == 0) { tc_log_level = 2; continue; }
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0') {
      TC_CHECK(npos && *npos < max_pos, TC_ERR_USAGE, "%s: unexpected argument '%s'", cmd, arg);
      pos[(*npos)++] = arg;
      continue;
    }
    const char *name = arg + 2;
    const char *eq = strchr(name, '=');
    size_t nlen = eq ? (size_t)(eq - name) : strlen(name);
    int found = -1;
    for (int i = 0; i < nopts; i++)
      if (strlen(opts[i].name) == nlen && strncmp(opts[i].name, name, nlen) == 0) found = i;
    TC_CHECK(found >= 0, TC_ERR_USAGE, "%s: unknown option '--%.*s' (see %s --help)", cmd,
             (int)nlen, name, cmd);
    TcOpt *o = &opts[found];
    given[found] = 1;
    if (o->type == TC_OPT_FLAG) {
      TC_CHECK(!eq, TC_ERR_USAGE, "%s: --%s takes no value", cmd, o->name);
      TC_CALL(set_value_(cmd, o, NULL));
      continue;
    }
    if (eq) {
      TC_CALL(set_value_(cmd, o, eq + 1));
      continue;
    }
    TC_CHECK(a + 1 < argc && !(strncmp(argv[a + 1], "--", 2) == 0 && argv[a + 1][2]),
             TC_ERR_USAGE, "%s: --%s needs a value", cmd, o->name);
    TC_CALL(set_value_(cmd, o, argv[++a]));
    if (o->type == TC_OPT_LIST)
      while (a + 1 < argc && strncmp(argv[a + 1], "--", 2) != 0) TC_CALL(set_value_(cmd, o, argv[++a]));
  }
  for (int i = 0; i < nopts; i++)
    TC_CHECK(!opts[i].required || given[i], TC_ERR_USAGE, "%s: --%s is required (see %s --help)",
             cmd, opts[i].name, cmd);
  return TC_OK;
}

static const char *type_meta_(const TcOpt *o) {
  switch (o->type) {
  case TC_OPT_FLAG: return "";
  case TC_OPT_INT: return " N";
  case TC_OPT_DOUBLE: return " X";
  case TC_OPT_SIZE: return " SIZE";
  case TC_OPT_STRING: return " STR";
  case TC_OPT_CHOICE: return " CHOICE";
  case TC_OPT_LIST: return " A [B ...]";
  }
  return "";
}

void tc_opts_help(FILE *out, const char *cmd, const char *synopsis, const char *summary,
                  const TcOpt *opts, int nopts) {
  fprintf(out, "usage: %s\n\n%s\n\noptions:\n", synopsis, summary);
  for (int i = 0; i < nopts; i++) {
    const TcOpt *o = &opts[i];
    char lhs[96];
    snprintf(lhs, sizeof lhs, "--%s%s", o->name, type_meta_(o));
    fprintf(out, "  %-28s %s", lhs, o->help);
    if (o->type == TC_OPT_CHOICE) fprintf(out, " (%s)", o->choices);
    if (o->required) fprintf(out, " [required]");
    else if (o->type == TC_OPT_FLAG) fprintf(out, " [default: off]");
    else if (o->def) fprintf(out, " [default: %s]", o->def);
    else fprintf(out, " [default: none]");
    fputc('\n', out);
  }
  fprintf(out, "  %-28s %s\n", "--quiet, -q", "errors only, no progress [default: off]");
  fprintf(out, "  %-28s %s\n", "--verbose, -v", "more detail and frequent progress [default: off]");
  fprintf(out, "  %-28s %s\n", "--help, -h", "this text");
  (void)cmd;
}
