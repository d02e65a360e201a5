/* err.c - the per-process error message buffer. Each MPI rank is a process,
 * so one static buffer per process is the rank's buffer. */
#include "err.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

static char tc_err_msg_[1024];
static char tc_err_tb_[1024];
static int tc_err_has_ = 0;

TcErr tc_err_set(TcErr code, const char *fmt, ...) {
  if (!tc_err_has_) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tc_err_msg_, sizeof tc_err_msg_, fmt, ap);
    va_end(ap);
    tc_err_has_ = 1;
    tc_err_tb_[0] = '\0';
  }
  return code;
}

void tc_err_trace(const char *file, int line) {
  size_t used = strlen(tc_err_tb_);
  if (used + 2 < sizeof tc_err_tb_)
    snprintf(tc_err_tb_ + used, sizeof tc_err_tb_ - used, "%s%s:%d",
             used ? " <- " : "", file, line);
}

const char *tc_err_message(void) { return tc_err_has_ ? tc_err_msg_ : ""; }
const char *tc_err_traceback(void) { return tc_err_tb_; }

void tc_err_clear(void) {
  tc_err_has_ = 0;
  tc_err_msg_[0] = '\0';
  tc_err_tb_[0] = '\0';
}

const char *tc_err_name(TcErr code) {
  switch (code) {
  case TC_OK: return "ok";
  case TC_ERR_USAGE: return "usage";
  case TC_ERR_FORMAT: return "format";
  case TC_ERR_IO: return "io";
  case TC_ERR_MEM: return "memory";
  case TC_ERR_LIB: return "library";
  case TC_ERR_MPI: return "mpi";
  case TC_ERR_INTERNAL: return "internal";
  }
  return "unknown";
}

int tc_err_exit_status(TcErr code) {
  switch (code) {
  case TC_OK: return 0;
  case TC_ERR_USAGE: return 2;
  case TC_ERR_FORMAT: return 3;
  case TC_ERR_IO: return 4;
  default: return 1;
  }
}

void *tc_malloc(size_t bytes, const char *what) {
  void *p = malloc(bytes ? bytes : 1);
  if (!p) tc_err_set(TC_ERR_MEM, "out of memory allocating %zu bytes for %s", bytes, what);
  return p;
}

void *tc_calloc(size_t count, size_t size, const char *what) {
  void *p = calloc(count ? count : 1, size ? size : 1);
  if (!p)
    tc_err_set(TC_ERR_MEM, "out of memory allocating %zu x %zu bytes for %s", count, size, what);
  return p;
}

char *tc_strfmt(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  int n = vsnprintf(NULL, 0, fmt, ap);
  va_end(ap);
  if (n < 0) {
    tc_err_set(TC_ERR_INTERNAL, "bad format string");
    return NULL;
  }
  char *s = tc_malloc((size_t)n + 1, "string");
  if (!s) return NULL;
  va_start(ap, fmt);
  vsnprintf(s, (size_t)n + 1, fmt, ap);
  va_end(ap);
  return s;
}

void *tc_malloc_populated(size_t bytes, const char *what) {
#ifdef MAP_POPULATE
  void *p = mmap(NULL, bytes ? bytes : 1, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  if (p == MAP_FAILED) {
    tc_err_set(TC_ERR_MEM, "out of memory mapping %zu bytes for %s", bytes, what);
    return NULL;
  }
  return p;
#else
  return tc_malloc_aligned(bytes, what);
#endif
}

void tc_free_populated(void *p, size_t bytes) {
  if (!p) return;
#ifdef MAP_POPULATE
  munmap(p, bytes ? bytes : 1);
#else
  (void)bytes;
  free(p);
#endif
}

void *tc_malloc_aligned(size_t bytes, const char *what) {
  void *p = NULL;
  size_t rounded = (bytes + 63) / 64 * 64;
  if (posix_memalign(&p, 64, rounded ? rounded : 64) != 0) {
    tc_err_set(TC_ERR_MEM, "out of memory allocating %zu bytes for %s", bytes, what);
    return NULL;
  }
  return p;
}
