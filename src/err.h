/* err.h - error codes and the per-process message buffer (STYLE 3).
 *
 * Every function in src/ returns TcErr. On failure it records one message
 * with tc_err_set() (first message wins: the root cause, not the symptoms)
 * and TC_CALL appends "file:line" frames as the error travels up, a light
 * version of PETSc's traceback. Nothing reachable from bad input calls exit,
 * abort or assert. */
#ifndef TC_ERR_H
#define TC_ERR_H

#include <stddef.h>

typedef enum {
  TC_OK = 0,
  TC_ERR_USAGE,  /* bad option or argument          -> exit 2 */
  TC_ERR_FORMAT, /* bad input data (image, h5 kind) -> exit 3 */
  TC_ERR_IO,     /* missing / unwritable file       -> exit 4 */
  TC_ERR_MEM,    /* allocation failed               -> exit 1 */
  TC_ERR_LIB,    /* a library call failed           -> exit 1 */
  TC_ERR_MPI,    /* an MPI call failed              -> exit 1 */
  TC_ERR_INTERNAL /* a bug                          -> exit 1 */
} TcErr;

/* Record the error message of this process (printf-style). Keeps the first
 * message until tc_err_clear(). Returns code, so `return tc_err_set(...)`. */
TcErr tc_err_set(TcErr code, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
/* Append a traceback frame (used by TC_CALL). */
void tc_err_trace(const char *file, int line);
/* The message recorded so far ("" when none). */
const char *tc_err_message(void);
/* The traceback recorded so far ("" when none). */
const char *tc_err_traceback(void);
void tc_err_clear(void);
/* Short name of a code ("usage", "format", ...). */
const char *tc_err_name(TcErr code);
/* Process exit status for a code: 0 ok, 1 internal, 2 usage, 3 data, 4 I/O. */
int tc_err_exit_status(TcErr code);

/* Return the error code of expr (with a traceback frame) when it fails. */
#define TC_CALL(expr)                                                         \
  do {                                                                        \
    TcErr tc_call_err_ = (expr);                                              \
    if (tc_call_err_ != TC_OK) {                                              \
      tc_err_trace(__FILE__, __LINE__);                                       \
      return tc_call_err_;                                                    \
    }                                                                         \
  } while (0)

/* Same, but jump to a cleanup label after storing the code in `err`. */
#define TC_CALL_GOTO(err, expr, label)                                        \
  do {                                                                        \
    (err) = (expr);                                                           \
    if ((err) != TC_OK) {                                                     \
      tc_err_trace(__FILE__, __LINE__);                                       \
      goto label;                                                             \
    }                                                                         \
  } while (0)

/* Validate a condition; on failure record the message and return code. */
#define TC_CHECK(cond, code, ...)                                             \
  do {                                                                        \
    if (!(cond)) return tc_err_set((code), __VA_ARGS__);                      \
  } while (0)

/* Same, jumping to a cleanup label. */
#define TC_CHECK_GOTO(err, cond, code, label, ...)                            \
  do {                                                                        \
    if (!(cond)) {                                                            \
      (err) = tc_err_set((code), __VA_ARGS__);                                \
      goto label;                                                             \
    }                                                                         \
  } while (0)

/* malloc/calloc that record TC_ERR_MEM with the size and what it was for. */
void *tc_malloc(size_t bytes, const char *what);
void *tc_calloc(size_t count, size_t size, const char *what);
/* printf into a new string (caller frees); NULL with TC_ERR_MEM recorded. */
char *tc_strfmt(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* 64-byte aligned allocation (free with free()). */
void *tc_malloc_aligned(size_t bytes, const char *what);
/* A large buffer whose pages are mapped at once (mmap MAP_POPULATE where
 * available, else tc_malloc_aligned), for a buffer that will be written
 * whole anyway: faulting 4 KiB pages in one by one costs ~0.9 s per GB on
 * the VMs we measured, populating ~0.27 s. Page-aligned. Free with
 * tc_free_populated(p, bytes); NULL-safe. */
void *tc_malloc_populated(size_t bytes, const char *what);
void tc_free_populated(void *p, size_t bytes);

#endif
