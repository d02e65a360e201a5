/* csv_out.c - CSV tables published atomically (see csv_out.h). */
#include "csv_out.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tmpfiles.h"

struct TcCsvOut {
  FILE *fp;
  char *path, *tmp;
};

static void free_(TcCsvOut **pc) {
  TcCsvOut *c = *pc;
  tc_tmpfile_forget(c->tmp);
  free(c->path);
  free(c->tmp);
  free(c);
  *pc = NULL;
}

TcErr tc_csv_create(const char *path, TcCsvOut **out) {
  *out = NULL;
  TcCsvOut *c = tc_calloc(1, sizeof *c, "CSV output");
  if (!c) return TC_ERR_MEM;
  c->path = tc_strfmt("%s", path);
  c->tmp = tc_strfmt("%s.tmp.%ld", path, (long)getpid());
  if (!c->path || !c->tmp) {
    free_(&c);
    return TC_ERR_MEM;
  }
  tc_tmpfile_register(c->tmp);
  c->fp = fopen(c->tmp, "w");
  if (!c->fp) {
    TcErr err = tc_err_set(TC_ERR_IO, "%s: cannot write: %s", path, strerror(errno));
    free_(&c);
    return err;
  }
  *out = c;
  return TC_OK;
}

static void field_(FILE *fp, const char *s) {
  if (!strpbrk(s, ",\"\r\n")) {
    fputs(s, fp);
    return;
  }
  fputc('"', fp);
  for (; *s; s++) {
    if (*s == '"') fputc('"', fp);
    fputc(*s, fp);
  }
  fputc('"', fp);
}

void tc_csv_row(TcCsvOut *c, int n, const char *const *fields) {
  for (int i = 0; i < n; i++) {
    if (i) fputc(',', c->fp);
    field_(c->fp, fields[i] ? fields[i] : "");
  }
  fputc('\n', c->fp);
}

TcErr tc_csv_publish(TcCsvOut **pc) {
  TcCsvOut *c = *pc;
  if (!c) return tc_err_set(TC_ERR_INTERNAL, "publish of a NULL CSV output");
  /* stdio buffers: a full disk shows up at fflush or fclose as often as in a
   * row; fsync so the renamed file has its bytes after a crash */
  errno = 0;
  int bad = (ferror(c->fp) || fflush(c->fp) != 0 || fsync(fileno(c->fp)) != 0) ? (errno ? errno : EIO) : 0;
  errno = 0;
  if (fclose(c->fp) != 0 && !bad) bad = errno ? errno : EIO;
  c->fp = NULL;
  TcErr err = TC_OK;
  if (bad)
    err = tc_err_set(TC_ERR_IO, "%s: write failed: %s", c->path,
                     bad == ENOSPC ? "no space left on device" : strerror(bad));
  else if (rename(c->tmp, c->path) != 0)
    err = tc_err_set(TC_ERR_IO, "%s: cannot rename %s into place: %s", c->path, c->tmp, strerror(errno));
  if (err) unlink(c->tmp);
  free_(pc);
  return err;
}

void tc_csv_abandon(TcCsvOut **pc) {
  if (!pc || !*pc) return;
  if ((*pc)->fp) fclose((*pc)->fp);
  unlink((*pc)->tmp);
  free_(pc);
}
