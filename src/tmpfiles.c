/* tmpfiles.c - see tmpfiles.h. The handler only calls unlink, sigaction and
 * raise, which are async-signal-safe; a slot's path is written while the
 * slot is marked unused, so the handler never reads a half-written path. */
#include "tmpfiles.h"

#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

static char paths_[TC_TMPFILES_MAX][4096];
static volatile sig_atomic_t used_[TC_TMPFILES_MAX];
static const int signals_[] = {SIGTERM, SIGINT, SIGHUP};
#define NSIG_ (int)(sizeof signals_ / sizeof signals_[0])
static struct sigaction previous_[NSIG_];
static int installed_ = 0;

static void on_signal_(int sig) {
  for (int i = 0; i < TC_TMPFILES_MAX; i++)
    if (used_[i]) unlink(paths_[i]);
  for (int s = 0; s < NSIG_; s++)
    if (signals_[s] == sig) sigaction(sig, &previous_[s], NULL);
  raise(sig);
}

static void install_(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_signal_;
  sigemptyset(&sa.sa_mask);
  for (int s = 0; s < NSIG_; s++) sigaddset(&sa.sa_mask, signals_[s]);
  for (int s = 0; s < NSIG_; s++) {
    sigaction(signals_[s], NULL, &previous_[s]);
    /* a signal the caller ignores (nohup) stays ignored */
    if (previous_[s].sa_handler != SIG_IGN) sigaction(signals_[s], &sa, NULL);
  }
  installed_ = 1;
}

int tc_tmpfile_register(const char *path) {
  if (!installed_) install_();
  for (int i = 0; i < TC_TMPFILES_MAX; i++) {
    if (used_[i]) continue;
    snprintf(paths_[i], sizeof paths_[i], "%s", path);
    used_[i] = 1;
    return 0;
  }
  return -1;
}

void tc_tmpfile_forget(const char *path) {
  if (!path) return;
  for (int i = 0; i < TC_TMPFILES_MAX; i++)
    if (used_[i] && strcmp(paths_[i], path) == 0) used_[i] = 0;
}
