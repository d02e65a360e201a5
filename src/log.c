/* log.c - verbosity and progress lines on stderr (rank 0 only). */
#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

int tc_log_level = 1;
int tc_log_is_printer = 1;

double tc_now(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

void tc_log(int level, const char *fmt, ...) {
  if (!tc_log_is_printer || level > tc_log_level) return;
  va_list ap;
  va_start(ap, fmt);
  fputs("tailedcore: ", stderr);
  vfprintf(stderr, fmt, ap);
  fputc('\n', stderr);
  va_end(ap);
  fflush(stderr);
}

void tc_progress_start(TcProgress *p, const char *stage, const char *unit, int64_t total) {
  p->stage = stage;
  p->unit = unit;
  p->total = total;
  p->t_start = p->t_last = tc_now();
  p->finished = 0;
}

static void format_eta_(double s, char *buf, size_t n) {
  if (s < 0 || s > 1e7) snprintf(buf, n, "?");
  else if (s >= 3600) snprintf(buf, n, "%dh%02dm", (int)(s / 3600), (int)(s / 60) % 60);
  else if (s >= 60) snprintf(buf, n, "%dm%02ds", (int)(s / 60), (int)s % 60);
  else snprintf(buf, n, "%.0fs", s);
}

static void print_(TcProgress *p, int64_t done, int final) {
  if (!tc_log_is_printer || tc_log_level < 1) return;
  double now = tc_now(), el = now - p->t_start;
  double rate = el > 0 ? (double)done / el : 0.0;
  char eta[32];
  format_eta_(rate > 0 ? (double)(p->total - done) / rate : -1, eta, sizeof eta);
  double pct = p->total > 0 ? 100.0 * (double)done / (double)p->total : 100.0;
  if (final)
    fprintf(stderr, "tailedcore: %s: %lld/%lld %s done in %.1fs (%.1f %s/s)\n", p->stage,
            (long long)done, (long long)p->total, p->unit, el, rate, p->unit);
  else
    fprintf(stderr, "tailedcore: %s: %lld/%lld %s (%.0f%%) %.1f %s/s ETA %s\n", p->stage,
            (long long)done, (long long)p->total, p->unit, pct, rate, p->unit, eta);
  fflush(stderr);
}

/* Seconds between progress lines. A terminal gets a line every 2 s; a Slurm
 * log (stderr not a terminal) one a minute, so a stage leaves a few lines in
 * the job log instead of hundreds. --verbose divides both by 10;
 * TC_PROGRESS_SECONDS (a positive number) overrides. */
static double progress_interval_(void) {
  static double interval = -1;
  if (interval < 0) {
    const char *env = getenv("TC_PROGRESS_SECONDS");
    char *end = NULL;
    double v = env ? strtod(env, &end) : 0;
    if (env && end != env && *end == '\0' && v > 0 && v < 1e6) interval = v;
    else interval = isatty(STDERR_FILENO) ? 2.0 : 60.0;
  }
  return tc_log_level >= 2 ? interval / 10 : interval;
}

void tc_progress_update(TcProgress *p, int64_t done) {
  double now = tc_now();
  if (p->finished || now - p->t_last < progress_interval_()) return;
  p->t_last = now;
  print_(p, done, 0);
}

void tc_progress_finish(TcProgress *p) {
  if (p->finished) return;
  p->finished = 1;
  print_(p, p->total, 1);
}
