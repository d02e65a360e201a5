/* test_foundation.c - src/ pieces of issue 2 without MPI: the error buffer,
 * exit statuses, option parsing (defaults, every type, errors). */
#include <string.h>

#include "check.h"
#include "err.h"
#include "log.h"
#include "opts.h"

static TcErr fails_deep_(void) { return tc_err_set(TC_ERR_FORMAT, "%s: strip %u unreadable", "a.tif", 3u); }
static TcErr calls_(void) {
  TC_CALL(fails_deep_());
  return TC_OK;
}

int main(void) {
  tc_log_level = 0;
  /* error buffer: first message wins, traceback grows */
  tc_err_clear();
  CHECK_INT(calls_(), TC_ERR_FORMAT);
  CHECK(strcmp(tc_err_message(), "a.tif: strip 3 unreadable") == 0);
  CHECK(strstr(tc_err_traceback(), "test_foundation.c") != NULL);
  tc_err_set(TC_ERR_IO, "second");
  CHECK(strcmp(tc_err_message(), "a.tif: strip 3 unreadable") == 0);
  tc_err_clear();
  CHECK(tc_err_message()[0] == '\0');
  CHECK_INT(tc_err_exit_status(TC_OK), 0);
  CHECK_INT(tc_err_exit_status(TC_ERR_USAGE), 2);
  CHECK_INT(tc_err_exit_status(TC_ERR_FORMAT), 3);
  CHECK_INT(tc_err_exit_status(TC_ERR_IO), 4);
  CHECK_INT(tc_err_exit_status(TC_ERR_MEM), 1);

  /* options */
  int64_t k = 0, mem = 0;
  double ratio = 0;
  const char *out = NULL, *method = NULL;
  int flag = 7;
  const char *list[64];
  TcOpt opts[] = {
      {"lof-k", TC_OPT_INT, &k, "6", "neighbours", NULL, 0},
      {"coreset-ratio", TC_OPT_DOUBLE, &ratio, "0.1", "ratio", NULL, 0},
      {"out", TC_OPT_STRING, &out, NULL, "output", NULL, 1},
      {"method", TC_OPT_CHOICE, &method, "tailedcore", "method", "tailedcore|softpatch|patchcore", 0},
      {"mem-per-rank", TC_OPT_SIZE, &mem, "2G", "memory", NULL, 0},
      {"skip", TC_OPT_FLAG, &flag, NULL, "skip", NULL, 0},
      {"compare", TC_OPT_LIST, list, NULL, "files", NULL, 0},
  };
  int n = (int)(sizeof opts / sizeof opts[0]), help = 0, npos = 0;
  const char *pos[4];
  char *a1[] = {"fit", "--out", "m.h5"};
  tc_err_clear();
  CHECK_INT(tc_opts_parse("fit", opts, n, 3, a1, &help, pos, 4, &npos), TC_OK);
  CHECK_INT(k, 6);
  CHECK_NEAR(ratio, 0.1, 1e-12);
  CHECK(strcmp(out, "m.h5") == 0);
  CHECK(strcmp(method, "tailedcore") == 0);
  CHECK_INT(mem, 2LL << 30);
  CHECK_INT(flag, 0);
  CHECK(list[0] == NULL);

  char *a2[] = {"fit", "--out=x", "--lof-k", "9", "--method", "softpatch", "--mem-per-rank", "512M",
                "--skip", "--compare", "a.h5", "b.h5", "--coreset-ratio", "0.25", "pos1"};
  CHECK_INT(tc_opts_parse("fit", opts, n, 15, a2, &help, pos, 4, &npos), TC_OK);
  CHECK_INT(k, 9);
  CHECK(strcmp(out, "x") == 0);
  CHECK(strcmp(method, "softpatch") == 0);
  CHECK_INT(mem, 512LL << 20);
  CHECK_INT(flag, 1);
  CHECK(list[0] && !strcmp(list[0], "a.h5") && list[1] && !strcmp(list[1], "b.h5") && !list[2]);
  CHECK_NEAR(ratio, 0.25, 1e-12);
  CHECK_INT(npos, 1);

  struct { int argc; char *argv[4]; const char *msg; } bad[] = {
      {3, {"fit", "--bogus", "1"}, "unknown option '--bogus'"},
      {3, {"fit", "--lof-k", "six"}, "--lof-k: 'six' is not an integer"},
      {3, {"fit", "--coreset-ratio", "0.1x"}, "--coreset-ratio: '0.1x' is not a number"},
      {3, {"fit", "--method", "knn"}, "--method: 'knn' is not one of tailedcore|softpatch|patchcore"},
      {3, {"fit", "--mem-per-rank", "lots"}, "--mem-per-rank: 'lots' is not a size"},
      {2, {"fit", "--lof-k"}, "--lof-k needs a value"},
      {1, {"fit"}, "--out is required"},
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    tc_err_clear();
    char *argv[5] = {bad[i].argv[0], bad[i].argv[1], bad[i].argv[2], bad[i].argv[3], NULL};
    TcErr e = tc_opts_parse("fit", opts, n, bad[i].argc, argv, &help, pos, 0, &npos);
    CHECK_MSG(e == TC_ERR_USAGE && strstr(tc_err_message(), bad[i].msg), "case %zu: got '%s'", i,
              tc_err_message());
  }
  char *a3[] = {"fit", "--help"};
  CHECK_INT(tc_opts_parse("fit", opts, n, 2, a3, &help, pos, 0, &npos), TC_OK);
  CHECK_INT(help, 1);

  /* help text lists every option with its default */
  char buf[4096] = {0};
  FILE *mf = fmemopen(buf, sizeof buf - 1, "w");
  tc_opts_help(mf, "fit", "tailedcore fit ...", "Fit.", opts, n);
  fclose(mf);
  CHECK(strstr(buf, "--lof-k N") && strstr(buf, "[default: 6]"));
  CHECK(strstr(buf, "[default: tailedcore]") && strstr(buf, "(tailedcore|softpatch|patchcore)"));
  CHECK(strstr(buf, "--out STR") && strstr(buf, "[required]"));
  CHECK(strstr(buf, "--quiet") && strstr(buf, "--verbose"));

  int64_t b = 0;
  CHECK_INT(tc_parse_size("1.5K", &b), TC_OK);
  CHECK_INT(b, 1536);
  CHECK_INT(tc_parse_size("4GiB", &b), TC_OK);
  CHECK_INT(b, 4LL << 30);
  CHECK(tc_parse_size("-1", &b) != TC_OK);
  return tc_test_report();
}
