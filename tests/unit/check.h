/* check.h - the unit-test harness: check macros that report file and line,
 * a pass/fail count, and the closing line "N passed, N failed" that the
 * runner (and CI) reads. Include once per test binary. */
#ifndef TC_CHECK_H
#define TC_CHECK_H

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static int tc_test_passed_ = 0, tc_test_failed_ = 0;

#define CHECK(cond)                                                           \
  do {                                                                        \
    if (cond) tc_test_passed_++;                                              \
    else {                                                                    \
      tc_test_failed_++;                                                      \
      fprintf(stderr, "FAIL %s:%d: %s\n", __FILE__, __LINE__, #cond);         \
    }                                                                         \
  } while (0)

#define CHECK_MSG(cond, ...)                                                  \
  do {                                                                        \
    if (cond) tc_test_passed_++;                                              \
    else {                                                                    \
      tc_test_failed_++;                                                      \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);         \
      fprintf(stderr, __VA_ARGS__);                                           \
      fprintf(stderr, "\n");                                                  \
    }                                                                         \
  } while (0)

#define CHECK_INT(a, b)                                                       \
  do {                                                                        \
    long long ca_ = (long long)(a), cb_ = (long long)(b);                     \
    CHECK_MSG(ca_ == cb_, "%lld != %lld", ca_, cb_);                          \
  } while (0)

/* |a-b| <= tol * max(1, |b|) */
#define CHECK_NEAR(a, b, tol)                                                 \
  do {                                                                        \
    double ca_ = (double)(a), cb_ = (double)(b);                              \
    double sc_ = fabs(cb_) > 1.0 ? fabs(cb_) : 1.0;                           \
    CHECK_MSG(fabs(ca_ - cb_) <= (tol) * sc_, "%.9g vs %.9g (tol %g)", ca_,   \
              cb_, (double)(tol));                                            \
  } while (0)

/* A scratch folder for one test binary, TMPDIR/NAME.XXXXXX, into dir [n];
 * the binary stops (exit 1) when it cannot be made. */
static inline void tc_test_tmpdir(char *dir, size_t n, const char *name) {
  snprintf(dir, n, "%s/%s.XXXXXX", getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp", name);
  if (!mkdtemp(dir)) {
    perror("mkdtemp");
    exit(1);
  }
}

/* Remove what tc_test_tmpdir made, with everything in it. */
static inline void tc_test_tmpdir_remove(const char *dir) {
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir);
}

/* Print the closing line; use as `return tc_test_report();` in main. */
static inline int tc_test_report(void) {
  printf("%d passed, %d failed\n", tc_test_passed_, tc_test_failed_);
  return tc_test_failed_ ? 1 : 0;
}

#endif
