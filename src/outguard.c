/* outguard.c - outputs that never name an input, text inputs that cannot
 * hang a job (see outguard.h). */
#include "outguard.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef PATH_MAX
#define PATH_MAX 4096
#endif

struct TcOutGuard {
  char opt[64];
  const char *out;      /* as given (messages) */
  int exists;
  dev_t dev;
  ino_t ino;
  char dir[PATH_MAX];   /* resolved directory of out ("" when unresolvable) */
  char base[PATH_MAX];  /* base name of out */
};

static const char *kind_(mode_t m) {
  if (S_ISDIR(m)) return "a directory";
  if (S_ISCHR(m)) return "a character device";
  if (S_ISBLK(m)) return "a block device";
  if (S_ISFIFO(m)) return "a fifo";
  if (S_ISSOCK(m)) return "a socket";
  return "not a regular file";
}

/* Split path into its resolved directory and base name. A base name of ""
 * (path ends in '/') or "." / ".." stays as written: such outputs are
 * directories and were refused already. Returns 0 when the directory does
 * not resolve (then nothing can be compared by name). */
static int resolve_(const char *path, char *dir, char *base) {
  size_t n = strlen(path);
  while (n > 1 && path[n - 1] == '/') n--;
  const char *slash = NULL;
  for (size_t i = 0; i < n; i++)
    if (path[i] == '/') slash = path + i;
  char d[PATH_MAX];
  if (!slash) {
    snprintf(d, sizeof d, ".");
    snprintf(base, PATH_MAX, "%.*s", (int)n, path);
  } else {
    size_t dl = slash == path ? 1 : (size_t)(slash - path);
    if (dl >= sizeof d) return 0;
    memcpy(d, path, dl);
    d[dl] = '\0';
    snprintf(base, PATH_MAX, "%.*s", (int)(n - (size_t)(slash + 1 - path)), slash + 1);
  }
  char *r = realpath(d, NULL);
  if (!r) return 0;
  snprintf(dir, PATH_MAX, "%s", r);
  free(r);
  return 1;
}

TcErr tc_outguard_open(const char *opt, const char *out, TcOutGuard **pg) {
  *pg = NULL;
  TcOutGuard *g = tc_calloc(1, sizeof *g, "output check");
  if (!g) return TC_ERR_MEM;
  snprintf(g->opt, sizeof g->opt, "%s", opt);
  g->out = out;
  struct stat st;
  if (stat(out, &st) == 0) {
    if (!S_ISREG(st.st_mode)) {
      free(g);
      return tc_err_set(TC_ERR_USAGE, "%s %s is %s, not a regular file: refusing to replace it", opt,
                        out, kind_(st.st_mode));
    }
    g->exists = 1;
    g->dev = st.st_dev;
    g->ino = st.st_ino;
  }
  if (!resolve_(out, g->dir, g->base)) g->dir[0] = '\0';
  *pg = g;
  return TC_OK;
}

/* Is name (a base name) the output's own or one of its temporary names? */
static int name_clash_(const TcOutGuard *g, const char *name, int *is_tmp) {
  size_t bl = strlen(g->base);
  *is_tmp = 0;
  if (strcmp(name, g->base) == 0) return 1;
  if (strncmp(name, g->base, bl) == 0 && strncmp(name + bl, ".tmp.", 5) == 0) {
    *is_tmp = 1;
    return 1;
  }
  return 0;
}

TcErr tc_outguard_input(const TcOutGuard *g, const char *what, const char *path) {
  if (!path || !*path) return TC_OK;
  struct stat st;
  if (g->exists && stat(path, &st) == 0 && st.st_dev == g->dev && st.st_ino == g->ino)
    return tc_err_set(TC_ERR_USAGE, "%s %s is the same file as %s %s: refusing to overwrite an input",
                      g->opt, g->out, what, path);
  if (!g->dir[0]) return TC_OK;
  /* names first: a list of a million images costs string compares, and only
   * a matching base name pays for resolving the directory */
  const char *slash = strrchr(path, '/');
  const char *name = slash ? slash + 1 : path;
  int is_tmp = 0;
  /* a symlink to the output needs the output to exist: the stat above */
  if (!name_clash_(g, name, &is_tmp)) return TC_OK;
  char dir[PATH_MAX], base[PATH_MAX];
  if (!resolve_(path, dir, base) || strcmp(dir, g->dir) != 0) return TC_OK;
  if (is_tmp)
    return tc_err_set(TC_ERR_USAGE, "%s %s: its temporary file %s.tmp.* could overwrite %s %s: "
                      "refusing (rename the input)", g->opt, g->out, g->out, what, path);
  return tc_err_set(TC_ERR_USAGE, "%s %s is the same file as %s %s: refusing to overwrite an input",
                    g->opt, g->out, what, path);
}

void tc_outguard_close(TcOutGuard **g) {
  if (!g || !*g) return;
  free(*g);
  *g = NULL;
}

TcErr tc_outguard_check(const char *opt, const char *out, const TcGuardInput *in, int n) {
  TcOutGuard *g = NULL;
  TC_CALL(tc_outguard_open(opt, out, &g));
  TcErr err = TC_OK;
  for (int i = 0; !err && i < n; i++) err = tc_outguard_input(g, in[i].what, in[i].path);
  tc_outguard_close(&g);
  return err;
}

TcErr tc_outguard_dataset(const char *opt, const char *out, const TcDataset *ds, int masks) {
  TcOutGuard *g = NULL;
  TC_CALL(tc_outguard_open(opt, out, &g));
  TcErr err = TC_OK;
  char path[2 * PATH_MAX];
  for (int64_t i = 0; !err && i < ds->n; i++) {
    for (int k = 0; !err && k < 1 + (masks != 0); k++) {
      const char *rel = k ? ds->items[i].mask_path : ds->items[i].path;
      if (!rel) continue;
      snprintf(path, sizeof path, "%s/%s", ds->root, rel);
      err = tc_outguard_input(g, k ? "mask" : "image", path);
    }
  }
  tc_outguard_close(&g);
  return err;
}

TcErr tc_text_open(const char *path, const char *what, int64_t max_bytes, FILE **fp) {
  *fp = NULL;
  /* O_NONBLOCK: opening a fifo without a writer would wait forever; the
   * flag is cleared again for the regular file that passes */
  int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
  TC_CHECK(fd >= 0, TC_ERR_IO, "%s: cannot open %s: %s", path, what, strerror(errno));
  struct stat st;
  if (fstat(fd, &st) != 0) {
    int e = errno;
    close(fd);
    return tc_err_set(TC_ERR_IO, "%s: cannot stat %s: %s", path, what, strerror(e));
  }
  if (!S_ISREG(st.st_mode)) {
    close(fd);
    return tc_err_set(TC_ERR_IO, "%s: %s is %s, not a regular file", path, what, kind_(st.st_mode));
  }
  if ((int64_t)st.st_size > max_bytes) {
    close(fd);
    return tc_err_set(TC_ERR_FORMAT, "%s: %s is %lld bytes, more than the %lld allowed", path, what,
                      (long long)st.st_size, (long long)max_bytes);
  }
  int fl = fcntl(fd, F_GETFL);
  if (fl >= 0) fcntl(fd, F_SETFL, fl & ~O_NONBLOCK);
  FILE *f = fdopen(fd, "r");
  if (!f) {
    int e = errno;
    close(fd);
    return tc_err_set(TC_ERR_IO, "%s: cannot open %s: %s", path, what, strerror(e));
  }
  *fp = f;
  return TC_OK;
}

TcErr tc_text_line(FILE *fp, const char *path, int64_t *lineno, char *buf, size_t cap, int *got) {
  *got = 0;
  size_t n = 0;
  int c = EOF;
  while ((c = getc(fp)) != EOF && c != '\n') {
    TC_CHECK(c != '\0', TC_ERR_FORMAT, "%s:%lld: NUL byte: not a text file", path,
             (long long)*lineno + 1);
    TC_CHECK(n + 1 < cap, TC_ERR_FORMAT, "%s:%lld: line longer than %zu bytes", path,
             (long long)*lineno + 1, cap - 1);
    buf[n++] = (char)c;
  }
  TC_CHECK(!ferror(fp), TC_ERR_IO, "%s: read error after line %lld", path, (long long)*lineno);
  if (c == EOF && n == 0) return TC_OK;
  if (n > 0 && buf[n - 1] == '\r') n--;
  buf[n] = '\0';
  (*lineno)++;
  *got = 1;
  return TC_OK;
}
