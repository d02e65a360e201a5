/* test_tmpfiles.c - a registered temporary file is removed when the process
 * is stopped by SIGTERM/SIGINT/SIGHUP, a forgotten one is kept, the process
 * still dies by that signal, and an ignored signal stays ignored. Each case
 * runs in a forked child so the signal ends the child, not the test. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"
#include "tmpfiles.h"

static int exists_(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static void touch_(const char *p) {
  FILE *f = fopen(p, "w");
  if (f) fclose(f);
}

/* Child: register a (and b, then forget b), then raise sig. Returns the
 * child's wait status. */
static int run_child_(const char *a, const char *b, int sig, int ignore_first) {
  pid_t pid = fork();
  if (pid == 0) {
    /* the test itself may run with SIGINT/SIGHUP ignored (a background job
     * of a non-interactive shell, nohup), and an ignored signal is meant to
     * stay ignored: start the default case from SIG_DFL explicitly */
    signal(sig, ignore_first ? SIG_IGN : SIG_DFL);
    tc_tmpfile_register(a);
    tc_tmpfile_register(b);
    tc_tmpfile_forget(b);
    raise(sig);
    _exit(0); /* reached only when the signal is ignored */
  }
  int status = 0;
  waitpid(pid, &status, 0);
  return status;
}

int main(void) {
  char dir[] = "/tmp/tc_tmpfiles.XXXXXX";
  CHECK(mkdtemp(dir) != NULL);
  char a[256], b[256];
  snprintf(a, sizeof a, "%s/out.h5.tmp.1", dir);
  snprintf(b, sizeof b, "%s/other.h5.tmp.1", dir);
  const int sigs[3] = {SIGTERM, SIGINT, SIGHUP};
  for (int s = 0; s < 3; s++) {
    touch_(a);
    touch_(b);
    int st = run_child_(a, b, sigs[s], 0);
    CHECK_MSG(WIFSIGNALED(st) && WTERMSIG(st) == sigs[s], "signal %d: child status %d", sigs[s], st);
    CHECK_MSG(!exists_(a), "signal %d: registered file left behind", sigs[s]);
    CHECK_MSG(exists_(b), "signal %d: forgotten file removed", sigs[s]);
  }
  /* nohup-style: an ignored SIGHUP stays ignored and removes nothing */
  touch_(a);
  int st = run_child_(a, b, SIGHUP, 1);
  CHECK(WIFEXITED(st) && WEXITSTATUS(st) == 0);
  CHECK(exists_(a));
  /* the table has a bound, and says so */
  int full = 0;
  for (int i = 0; i < TC_TMPFILES_MAX + 1; i++) full |= tc_tmpfile_register("/nonexistent/x") != 0;
  CHECK(full);
  unlink(a);
  unlink(b);
  rmdir(dir);
  return tc_test_report();
}
