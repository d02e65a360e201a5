/* log.h - verbosity and progress reporting on stderr. Only the process that
 * is told it prints (rank 0) writes anything, so 64 ranks never interleave. */
#ifndef TC_LOG_H
#define TC_LOG_H

#include <stdint.h>

/* 0 = --quiet (errors only), 1 = normal (progress), 2 = --verbose. */
extern int tc_log_level;
/* Set once by main: 1 on the printing rank (rank 0), 0 elsewhere. */
extern int tc_log_is_printer;

/* Print a line "tailedcore: ..." when level <= tc_log_level on the printer. */
void tc_log(int level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Progress of one long stage: "stage: done/total (pct) rate/s ETA". Prints at
 * most every 2 s on a terminal, every 60 s into a log file (TC_PROGRESS_SECONDS
 * overrides; --verbose: ten times as often), and once at the end. Local:
 * callers pass the global count (e.g. after a reduction) or rank 0's estimate. */
typedef struct {
  const char *stage;
  const char *unit;
  int64_t total;
  double t_start;
  double t_last;
  int finished;
} TcProgress;

void tc_progress_start(TcProgress *p, const char *stage, const char *unit, int64_t total);
void tc_progress_update(TcProgress *p, int64_t done);
void tc_progress_finish(TcProgress *p);

/* Monotonic wall time in seconds. */
double tc_now(void);

#endif
