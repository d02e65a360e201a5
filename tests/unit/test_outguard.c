/* test_outguard.c - src/outguard.c: an output that is an input (same path,
 * another spelling of it, a hard link, a symlink, a temporary name of the
 * output) is refused with exit code 2 and one line naming both; distinct
 * files pass; an existing non-regular output (directory, fifo, device) is
 * refused; text inputs must be regular files of bounded size and line
 * length (directory and fifo: I/O, never blocks; long line, NUL: format).
 * Size options stop at 1P (2^50 bytes) with their own message instead of
 * wrapping (1e19 was cast to INT64_MIN); integers and numbers that overflow
 * are refused. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "check.h"
#include "err.h"
#include "opts.h"
#include "outguard.h"

static char dir_[256];

static const char *p_(char *buf, const char *name) {
  snprintf(buf, 512, "%s/%s", dir_, name);
  return buf;
}

static void write_(const char *path, const char *text, size_t n) {
  FILE *f = fopen(path, "wb");
  if (!f) return;
  fwrite(text, 1, n, f);
  fclose(f);
}

/* code of one check; the message must name both files and be one line */
static TcErr one_(const char *out, const char *what, const char *in) {
  tc_err_clear();
  TcGuardInput gi = {what, in};
  return tc_outguard_check("--out", out, &gi, 1);
}

static int names_both_(const char *a, const char *b) {
  const char *m = tc_err_message();
  return strstr(m, a) && strstr(m, b) && !strchr(m, '\n');
}

static void test_outputs_(void) {
  char a[512], b[512], c[512], d[512], e[512];
  p_(a, "in.h5");
  write_(a, "x", 1);
  /* the same path, and the same file spelt differently */
  CHECK_INT(one_(a, "--features", a), TC_ERR_USAGE);
  CHECK(names_both_("--out", "--features"));
  char alt[600];
  snprintf(alt, sizeof alt, "%s/./sub/../in.h5", dir_);
  mkdir(p_(b, "sub"), 0755);
  CHECK_INT(one_(alt, "--features", a), TC_ERR_USAGE);
  CHECK_INT(one_(a, "--features", alt), TC_ERR_USAGE);
  /* a hard link and a symlink to the input */
  CHECK(link(a, p_(c, "hard.h5")) == 0);
  CHECK_INT(one_(c, "--model", a), TC_ERR_USAGE);
  CHECK(names_both_(c, a));
  CHECK(symlink(a, p_(d, "soft.h5")) == 0);
  CHECK_INT(one_(d, "--model", a), TC_ERR_USAGE);
  CHECK_INT(one_(a, "--model", d), TC_ERR_USAGE);
  /* a symlinked directory: same file through another directory name */
  char ld[512], via[600];
  CHECK(symlink(dir_, p_(ld, "loop")) == 0);
  snprintf(via, sizeof via, "%s/loop/new.h5", dir_);
  CHECK_INT(one_(via, "--features", p_(e, "new.h5")), TC_ERR_USAGE); /* neither exists yet */
  /* distinct files pass; a missing input with another name passes */
  p_(b, "out.h5");
  CHECK_INT(one_(b, "--features", a), TC_OK);
  CHECK_INT(one_(b, "--features", p_(e, "missing.h5")), TC_OK);
  write_(b, "y", 1);
  CHECK_INT(one_(b, "--features", a), TC_OK);
  CHECK_INT(one_(b, "--features", NULL), TC_OK);
  /* an input with the output's temporary name, whether or not out exists */
  char t[600];
  snprintf(t, sizeof t, "%s.tmp.123", b);
  write_(t, "z", 1);
  CHECK_INT(one_(b, "--list", t), TC_ERR_USAGE);
  CHECK(strstr(tc_err_message(), "temporary") != NULL);
  unlink(b);
  CHECK_INT(one_(b, "--list", t), TC_ERR_USAGE);
  /* a name that merely starts like the output is another file */
  snprintf(t, sizeof t, "%s.tmpx", b);
  CHECK_INT(one_(b, "--list", t), TC_OK);
  /* several inputs: the second clashes */
  TcGuardInput two[2] = {{"--weights", e}, {"--features", a}};
  tc_err_clear();
  CHECK_INT(tc_outguard_check("--out", a, two, 2), TC_ERR_USAGE);
  CHECK(strstr(tc_err_message(), "--features") != NULL);
  /* the open/input form, as extract uses it per image */
  TcOutGuard *g = NULL;
  CHECK_INT(tc_outguard_open("--out", b, &g), TC_OK);
  CHECK_INT(tc_outguard_input(g, "image", a), TC_OK);
  CHECK_INT(tc_outguard_input(g, "image", b), TC_ERR_USAGE);
  tc_outguard_close(&g);
  CHECK(g == NULL);
  /* existing outputs that are not regular files */
  tc_err_clear();
  CHECK_INT(tc_outguard_check("--out", dir_, NULL, 0), TC_ERR_USAGE);
  CHECK(strstr(tc_err_message(), "directory") != NULL);
  char fifo[512];
  CHECK(mkfifo(p_(fifo, "fifo"), 0600) == 0);
  tc_err_clear();
  CHECK_INT(tc_outguard_check("--out", fifo, NULL, 0), TC_ERR_USAGE);
  CHECK(strstr(tc_err_message(), "fifo") != NULL);
  tc_err_clear();
  CHECK_INT(tc_outguard_check("--out", "/dev/null", NULL, 0), TC_ERR_USAGE);
  CHECK(strstr(tc_err_message(), "character device") != NULL);
  CHECK_INT(tc_err_exit_status(TC_ERR_USAGE), 2);
}

static void test_text_(void) {
  char a[512], fifo[512];
  FILE *f = NULL;
  char buf[TC_TEXT_LINE_MAX + 1];
  int64_t ln = 0;
  int got = 0;
  /* lines without their ends, CRLF too, a last line without a newline */
  p_(a, "list.txt");
  write_(a, "one\r\ntwo\n\nthree", 15);
  CHECK_INT(tc_text_open(a, "image list", TC_TEXT_MAX_BYTES, &f), TC_OK);
  CHECK(f != NULL);
  const char *want[4] = {"one", "two", "", "three"};
  for (int i = 0; i < 4; i++) {
    CHECK_INT(tc_text_line(f, a, &ln, buf, sizeof buf, &got), TC_OK);
    CHECK(got == 1 && strcmp(buf, want[i]) == 0);
  }
  CHECK_INT(tc_text_line(f, a, &ln, buf, sizeof buf, &got), TC_OK);
  CHECK_INT(got, 0);
  CHECK_INT(ln, 4);
  fclose(f);
  /* a line of exactly TC_TEXT_LINE_MAX bytes passes, one more is refused
   * naming the file and line 2 */
  size_t L = TC_TEXT_LINE_MAX;
  char *big = malloc(2 * L + 8);
  memcpy(big, "x\n", 2);
  memset(big + 2, 'a', L + 1);
  big[2 + L] = '\n';
  write_(a, big, 2 + L + 1);
  f = NULL;
  ln = 0;
  CHECK_INT(tc_text_open(a, "image list", TC_TEXT_MAX_BYTES, &f), TC_OK);
  CHECK_INT(tc_text_line(f, a, &ln, buf, sizeof buf, &got), TC_OK);
  CHECK_INT(tc_text_line(f, a, &ln, buf, sizeof buf, &got), TC_OK);
  CHECK_INT((long long)strlen(buf), (long long)L);
  fclose(f);
  big[2 + L] = 'a';
  big[3 + L] = '\n';
  write_(a, big, 2 + L + 2);
  ln = 0;
  tc_err_clear();
  CHECK_INT(tc_text_open(a, "image list", TC_TEXT_MAX_BYTES, &f), TC_OK);
  CHECK_INT(tc_text_line(f, a, &ln, buf, sizeof buf, &got), TC_OK);
  CHECK_INT(tc_text_line(f, a, &ln, buf, sizeof buf, &got), TC_ERR_FORMAT);
  CHECK(strstr(tc_err_message(), ":2: line longer than 4096 bytes") != NULL);
  fclose(f);
  free(big);
  /* a NUL byte: not text */
  write_(a, "ab\0c\n", 5);
  ln = 0;
  tc_err_clear();
  CHECK_INT(tc_text_open(a, "labels file", TC_TEXT_MAX_BYTES, &f), TC_OK);
  CHECK_INT(tc_text_line(f, a, &ln, buf, sizeof buf, &got), TC_ERR_FORMAT);
  CHECK(strstr(tc_err_message(), "NUL") != NULL);
  fclose(f);
  /* too large for the bound */
  write_(a, "0123456789", 10);
  tc_err_clear();
  CHECK_INT(tc_text_open(a, "labels file", 9, &f), TC_ERR_FORMAT);
  CHECK(f == NULL);
  CHECK_INT(tc_text_open(a, "labels file", 10, &f), TC_OK);
  if (f) fclose(f);
  /* not regular: directory, fifo without a writer (must not block),
   * character device; missing file */
  tc_err_clear();
  CHECK_INT(tc_text_open(dir_, "image list", TC_TEXT_MAX_BYTES, &f), TC_ERR_IO);
  CHECK(strstr(tc_err_message(), "directory") != NULL && strstr(tc_err_message(), dir_) != NULL);
  CHECK(mkfifo(p_(fifo, "fifo2"), 0600) == 0);
  tc_err_clear();
  CHECK_INT(tc_text_open(fifo, "image list", TC_TEXT_MAX_BYTES, &f), TC_ERR_IO);
  CHECK(strstr(tc_err_message(), "fifo") != NULL);
  tc_err_clear();
  CHECK_INT(tc_text_open("/dev/zero", "labels file", TC_TEXT_MAX_BYTES, &f), TC_ERR_IO);
  CHECK(strstr(tc_err_message(), "character device") != NULL);
  CHECK_INT(tc_text_open(p_(a, "nope.txt"), "image list", TC_TEXT_MAX_BYTES, &f), TC_ERR_IO);
}

static void test_option_overflow_(void) {
  int64_t b = -7;
  CHECK_INT(tc_parse_size("1P", &b), TC_ERR_USAGE); /* no P suffix: 1024T is the spelling */
  CHECK_INT(tc_parse_size("1024T", &b), TC_OK);
  CHECK_INT(b, TC_SIZE_MAX);
  CHECK_INT(tc_parse_size("1025T", &b), TC_ERR_USAGE);
  const char *bad[] = {"1e19", "9.3e18", "1e400", "inf", "nan", "-1", "-0.5K", "1e16K", "", "12Q", "0x"};
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    b = 42;
    CHECK_MSG(tc_parse_size(bad[i], &b) == TC_ERR_USAGE && b == 42, "'%s' accepted as %lld", bad[i],
              (long long)b);
  }
  CHECK_INT(tc_parse_size("0", &b), TC_OK);
  CHECK_INT(b, 0);
  CHECK_INT(tc_parse_size("1e-30", &b), TC_OK); /* a fraction of a byte is 0 bytes */
  CHECK_INT(b, 0);

  int64_t mem = 0, k = 0;
  double x = 0;
  TcOpt opts[] = {
      {"mem-per-rank", TC_OPT_SIZE, &mem, "2G", "memory", NULL, 0},
      {"k", TC_OPT_INT, &k, "1", "k", NULL, 0},
      {"x", TC_OPT_DOUBLE, &x, "1", "x", NULL, 0},
  };
  struct { const char *opt, *val, *msg; } cases[] = {
      {"--mem-per-rank", "1e19", "--mem-per-rank: '1e19' is more than the largest size, 1P (2^50 bytes)"},
      {"--mem-per-rank", "2000T", "is more than the largest size"},
      {"--mem-per-rank", "-1G", "--mem-per-rank: '-1G' is not a size"},
      {"--k", "9223372036854775808", "--k: '9223372036854775808' is not an integer"},
      {"--k", "-9223372036854775809", "is not an integer"},
      {"--x", "1e999", "--x: '1e999' is not a number"},
      {"--x", "inf", "is not a number"},
      {"--x", "nan", "is not a number"},
  };
  for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
    char *argv[3] = {"t", (char *)cases[i].opt, (char *)cases[i].val};
    int help = 0;
    tc_err_clear();
    TcErr e = tc_opts_parse("t", opts, 3, 3, argv, &help, NULL, 0, NULL);
    CHECK_MSG(e == TC_ERR_USAGE && strstr(tc_err_message(), cases[i].msg), "%s %s: got '%s'", cases[i].opt,
              cases[i].val, tc_err_message());
  }
}

int main(void) {
  tc_test_tmpdir(dir_, sizeof dir_, "tcguard");
  test_outputs_();
  test_text_();
  test_option_overflow_();
  tc_test_tmpdir_remove(dir_);
  return tc_test_report();
}
