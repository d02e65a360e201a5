/* dataset.c - MVTec-layout listing, manifests and the dataset.json reader
 * (see dataset.h). Plain POSIX directory calls; no MPI. */
#include "dataset.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "outguard.h"

/* ---------- small string helpers ---------- */


static char *dup_(const char *s) { return s ? tc_strfmt("%s", s) : NULL; }

static int is_dir_(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISDIR(st.st_mode);
}

static int is_file_(const char *p) {
  struct stat st;
  return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

static int cmp_str_(const void *a, const void *b) {
  return strcmp(*(char *const *)a, *(char *const *)b);
}

void tc_dataset_sort_strings(char **s, int64_t n) {
  if (n > 1) qsort(s, (size_t)n, sizeof *s, cmp_str_);
}

static const char *const exts_[] = {"png", "tif", "tiff", "jpg", "jpeg"};
#define N_EXTS_ 5

static const char *ext_of_(const char *name) {
  const char *dot = strrchr(name, '.');
  return dot && dot != name ? dot + 1 : NULL;
}

int tc_dataset_is_image_name(const char *name) {
  const char *e = ext_of_(name);
  if (!e) return 0;
  for (int i = 0; i < N_EXTS_; i++)
    if (strcasecmp(e, exts_[i]) == 0) return 1;
  return 0;
}

TcErr tc_dataset_dir_names(const char *dir, char ***names, int64_t *n) {
  *names = NULL;
  *n = 0;
  DIR *d = opendir(dir);
  TC_CHECK(d, TC_ERR_IO, "%s: cannot open folder: %s", dir, strerror(errno));
  int64_t cap = 16, cnt = 0;
  char **v = tc_malloc((size_t)cap * sizeof *v, "folder listing");
  TcErr err = v ? TC_OK : TC_ERR_MEM;
  struct dirent *e;
  while (err == TC_OK && (e = readdir(d))) {
    if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0) continue;
    if (cnt == cap) {
      char **nv = realloc(v, (size_t)(cap *= 2) * sizeof *v);
      if (!nv) { err = tc_err_set(TC_ERR_MEM, "out of memory listing %s", dir); break; }
      v = nv;
    }
    if (!(v[cnt] = dup_(e->d_name))) err = TC_ERR_MEM;
    else cnt++;
  }
  closedir(d);
  if (err != TC_OK) {
    for (int64_t i = 0; i < cnt; i++) free(v[i]);
    free(v);
    return err;
  }
  tc_dataset_sort_strings(v, cnt);
  *names = v;
  *n = cnt;
  return TC_OK;
}

static void free_names_(char **v, int64_t n) {
  if (!v) return;
  for (int64_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* ---------- listing ---------- */

static TcErr push_item_(TcDataset *ds, int64_t *cap, const char *cls, const char *defect,
                        char *path, char *mask) {
  if (ds->n == *cap) {
    int64_t nc = *cap ? *cap * 2 : 256;
    TcDatasetItem *ni = realloc(ds->items, (size_t)nc * sizeof *ni);
    if (!ni) { free(path); free(mask); return tc_err_set(TC_ERR_MEM, "out of memory listing images"); }
    ds->items = ni;
    *cap = nc;
  }
  TcDatasetItem *it = &ds->items[ds->n];
  it->class_name = dup_(cls);
  it->defect = dup_(defect);
  it->path = path;
  it->mask_path = mask;
  ds->n++;
  if (!it->class_name || !it->defect || !path) return TC_ERR_MEM;
  return TC_OK;
}

/* Mask of root/cls/test/type/name: ground_truth/type/STEM_mask.EXT, the
 * image's own extension first (MVTec: 000.png -> 000_mask.png). */
static TcErr find_mask_(const char *root, const char *cls, const char *type, const char *name,
                        char **mask) {
  *mask = NULL;
  const char *e = ext_of_(name);
  size_t stem = e ? (size_t)(e - 1 - name) : strlen(name);
  for (int k = -1; k < N_EXTS_; k++) {
    const char *ext = k < 0 ? e : exts_[k];
    if (!ext) continue;
    char *rel = tc_strfmt("%s/ground_truth/%s/%.*s_mask.%s", cls, type, (int)stem, name, ext);
    char *abs = rel ? tc_strfmt("%s/%s", root, rel) : NULL;
    if (!rel || !abs) { free(rel); free(abs); return TC_ERR_MEM; }
    int ok = is_file_(abs);
    free(abs);
    if (ok) { *mask = rel; return TC_OK; }
    free(rel);
  }
  return TC_OK;
}

static TcErr fill_classes_(TcDataset *ds) {
  /* Items are grouped by class in both listing orders we produce; collect
   * distinct names and sort, which also covers arbitrary manifest order. */
  char **v = tc_malloc((size_t)(ds->n ? ds->n : 1) * sizeof *v, "class names");
  if (!v) return TC_ERR_MEM;
  int64_t k = 0;
  for (int64_t i = 0; i < ds->n; i++) v[k++] = ds->items[i].class_name;
  tc_dataset_sort_strings(v, k);
  int64_t u = 0;
  for (int64_t i = 0; i < k; i++)
    if (u == 0 || strcmp(v[u - 1], v[i]) != 0) v[u++] = v[i];
  ds->classes = tc_malloc((size_t)(u ? u : 1) * sizeof *ds->classes, "class names");
  if (!ds->classes) { free(v); return TC_ERR_MEM; }
  for (int64_t i = 0; i < u; i++) {
    if (!(ds->classes[i] = dup_(v[i]))) { free(v); return TC_ERR_MEM; }
    ds->n_classes = (int)(i + 1);
  }
  free(v);
  return TC_OK;
}

TcErr tc_dataset_list(const char *root, const char *split, TcDataset **out) {
  *out = NULL;
  TC_CHECK(strcmp(split, "train") == 0 || strcmp(split, "test") == 0, TC_ERR_USAGE,
           "unknown split '%s' (train or test)", split);
  TC_CHECK(is_dir_(root), TC_ERR_IO, "%s: data set root is not a folder", root);
  TcErr err = TC_OK;
  char **classes = NULL, **types = NULL, **files = NULL;
  int64_t nc = 0, nt = 0, nf = 0, cap = 0;
  char *dir = NULL;
  int n_class_dirs = 0;
  TcDataset *ds = tc_calloc(1, sizeof *ds, "data set listing");
  if (!ds) return TC_ERR_MEM;
  TC_CHECK_GOTO(err, ds->root = dup_(root), TC_ERR_MEM, cleanup, "out of memory");
  TC_CALL_GOTO(err, tc_dataset_dir_names(root, &classes, &nc), cleanup);
  for (int64_t c = 0; c < nc; c++) {
    if (classes[c][0] == '.') continue;
    free(dir);
    dir = tc_strfmt("%s/%s", root, classes[c]);
    TC_CHECK_GOTO(err, dir, TC_ERR_MEM, cleanup, "out of memory");
    if (!is_dir_(dir)) continue;
    char *tr = tc_strfmt("%s/train", dir), *te = tc_strfmt("%s/test", dir);
    int has_tr = tr && is_dir_(tr), has_te = te && is_dir_(te);
    free(tr);
    free(te);
    if (!has_tr && !has_te) continue; /* not a class folder (e.g. split_csv) */
    n_class_dirs++;
    free(dir);
    dir = tc_strfmt("%s/%s/%s", root, classes[c], split);
    TC_CHECK_GOTO(err, dir, TC_ERR_MEM, cleanup, "out of memory");
    TC_CHECK_GOTO(err, is_dir_(dir), TC_ERR_IO, cleanup,
                  "%s: missing (class '%s' has no %s folder)", dir, classes[c], split);
    free_names_(types, nt);
    types = NULL;
    TC_CALL_GOTO(err, tc_dataset_dir_names(dir, &types, &nt), cleanup);
    for (int64_t t = 0; t < nt; t++) {
      if (types[t][0] == '.') continue;
      char *tdir = tc_strfmt("%s/%s", dir, types[t]);
      TC_CHECK_GOTO(err, tdir, TC_ERR_MEM, cleanup, "out of memory");
      if (!is_dir_(tdir)) { free(tdir); continue; }
      free_names_(files, nf);
      files = NULL;
      err = tc_dataset_dir_names(tdir, &files, &nf);
      free(tdir);
      if (err != TC_OK) goto cleanup;
      for (int64_t f = 0; f < nf; f++) {
        if (files[f][0] == '.' || !tc_dataset_is_image_name(files[f])) continue;
        char *rel = tc_strfmt("%s/%s/%s/%s", classes[c], split, types[t], files[f]);
        char *mask = NULL;
        TC_CHECK_GOTO(err, rel, TC_ERR_MEM, cleanup, "out of memory");
        if (strcmp(split, "test") == 0 && strcmp(types[t], "good") != 0) {
          err = find_mask_(root, classes[c], types[t], files[f], &mask);
          if (err != TC_OK) { free(rel); goto cleanup; }
        }
        TC_CALL_GOTO(err, push_item_(ds, &cap, classes[c], types[t], rel, mask), cleanup);
      }
    }
  }
  TC_CHECK_GOTO(err, n_class_dirs > 0, TC_ERR_FORMAT, cleanup,
                "%s: no class folders (expected CLASS/train and CLASS/test, MVTec AD layout)",
                root);
  TC_CHECK_GOTO(err, ds->n > 0, TC_ERR_FORMAT, cleanup,
                "%s: no images (.png .tif .tiff .jpg .jpeg) in any CLASS/%s/TYPE folder", root,
                split);
  TC_CALL_GOTO(err, fill_classes_(ds), cleanup);
cleanup:
  free(dir);
  free_names_(classes, nc);
  free_names_(types, nt);
  free_names_(files, nf);
  if (err != TC_OK) tc_dataset_destroy(&ds);
  *out = ds;
  return err;
}

void tc_dataset_destroy(TcDataset **pds) {
  if (!pds || !*pds) return;
  TcDataset *ds = *pds;
  for (int64_t i = 0; i < ds->n; i++) {
    free(ds->items[i].class_name);
    free(ds->items[i].defect);
    free(ds->items[i].path);
    free(ds->items[i].mask_path);
  }
  free(ds->items);
  for (int i = 0; i < ds->n_classes; i++) free(ds->classes[i]);
  free(ds->classes);
  free(ds->root);
  free(ds);
  *pds = NULL;
}

/* ---------- manifests and plain lists ---------- */

/* The next entry of a list or manifest: the line without surrounding blanks;
 * blank lines and '#' comments skipped. *entry points into line; *got = 0
 * at the end of the file. Local. */
static TcErr next_entry_(FILE *fp, const char *file, int64_t *lineno, char *line, size_t cap, char **entry,
                         int *got) {
  for (;;) {
    TC_CALL(tc_text_line(fp, file, lineno, line, cap, got));
    if (!*got) return TC_OK;
    size_t len = strlen(line);
    while (len > 0 && (line[len - 1] == '\n' || line[len - 1] == '\r' || line[len - 1] == ' ' ||
                       line[len - 1] == '\t'))
      line[--len] = '\0';
    char *p = line;
    while (*p == ' ' || *p == '\t') p++;
    if (*p == '\0' || *p == '#') continue;
    *entry = p;
    return TC_OK;
  }
}

/* Split copy (a writable copy of a relative path) in place into
 * CLASS/SPLIT/TYPE/NAME; 1 when it has exactly four components and SPLIT
 * is train or test. Local. */
static int split_mvtec_(char *copy, char *parts[4]) {
  int np = 0;
  for (char *tok = strtok(copy, "/"); tok; tok = strtok(NULL, "/")) {
    if (np < 4) parts[np] = tok;
    np++;
  }
  return np == 4 && (strcmp(parts[1], "train") == 0 || strcmp(parts[1], "test") == 0);
}

int tc_dataset_class_of(const char *rel, char *buf, size_t cap) {
  char copy[TC_TEXT_LINE_MAX + 1], *parts[4] = {0};
  buf[0] = '\0';
  if (!rel || rel[0] == '/' || strlen(rel) >= sizeof copy) return 0;
  snprintf(copy, sizeof copy, "%s", rel);
  if (!split_mvtec_(copy, parts) || strlen(parts[0]) >= cap) return 0;
  snprintf(buf, cap, "%s", parts[0]);
  return 1;
}

TcErr tc_dataset_read_manifest(const char *root, const char *manifest, TcDataset **out) {
  *out = NULL;
  FILE *fp = NULL;
  TC_CALL(tc_text_open(manifest, "manifest", TC_TEXT_MAX_BYTES, &fp));
  TcErr err = TC_OK;
  int64_t cap = 0, lineno = 0;
  char line[TC_TEXT_LINE_MAX + 1], *abs = NULL, *p = NULL;
  int got = 0;
  char **seen = NULL;
  TcDataset *ds = tc_calloc(1, sizeof *ds, "manifest listing");
  TC_CHECK_GOTO(err, ds, TC_ERR_MEM, cleanup, "out of memory");
  TC_CHECK_GOTO(err, ds->root = dup_(root), TC_ERR_MEM, cleanup, "out of memory");
  for (;;) {
    TC_CALL_GOTO(err, next_entry_(fp, manifest, &lineno, line, sizeof line, &p, &got), cleanup);
    if (!got) break;
    TC_CHECK_GOTO(err, p[0] != '/' && strstr(p, "..") == NULL, TC_ERR_FORMAT, cleanup,
                  "%s:%lld: '%s': paths must be relative to the data set root, without '..'",
                  manifest, (long long)lineno, p);
    /* CLASS/SPLIT/TYPE/NAME, exactly four components. */
    char *parts[4] = {0};
    char *copy = dup_(p);
    TC_CHECK_GOTO(err, copy, TC_ERR_MEM, cleanup, "out of memory");
    if (!split_mvtec_(copy, parts)) {
      free(copy);
      err = tc_err_set(TC_ERR_FORMAT,
                       "%s:%lld: '%s' is not CLASS/train/TYPE/NAME or CLASS/test/TYPE/NAME",
                       manifest, (long long)lineno, p);
      goto cleanup;
    }
    free(abs);
    abs = tc_strfmt("%s/%s", root, p);
    if (!abs || !is_file_(abs)) {
      free(copy);
      err = abs ? tc_err_set(TC_ERR_IO, "%s:%lld: %s does not exist", manifest,
                             (long long)lineno, abs)
                : TC_ERR_MEM;
      goto cleanup;
    }
    const char *defect = strcmp(parts[1], "train") == 0 ? "good" : parts[2];
    char *mask = NULL;
    if (strcmp(parts[1], "test") == 0 && strcmp(parts[2], "good") != 0)
      err = find_mask_(root, parts[0], parts[2], parts[3], &mask);
    char *rel = dup_(p);
    if (err == TC_OK) err = push_item_(ds, &cap, parts[0], defect, rel, mask);
    free(copy);
    if (err != TC_OK) goto cleanup;
  }
  TC_CHECK_GOTO(err, !ferror(fp), TC_ERR_IO, cleanup, "%s: read error", manifest);
  /* A path listed twice would make one image count twice. */
  seen = tc_malloc((size_t)(ds->n ? ds->n : 1) * sizeof *seen, "manifest check");
  TC_CHECK_GOTO(err, seen, TC_ERR_MEM, cleanup, "out of memory");
  for (int64_t i = 0; i < ds->n; i++) seen[i] = ds->items[i].path;
  tc_dataset_sort_strings(seen, ds->n);
  for (int64_t i = 1; i < ds->n; i++)
    TC_CHECK_GOTO(err, strcmp(seen[i - 1], seen[i]) != 0, TC_ERR_FORMAT, cleanup,
                  "%s: '%s' is listed twice", manifest, seen[i]);
  TC_CALL_GOTO(err, fill_classes_(ds), cleanup);
cleanup:
  free(seen);
  free(abs);
  fclose(fp);
  if (err != TC_OK) tc_dataset_destroy(&ds);
  *out = ds;
  return err;
}

/* One plain image file: it must be a regular file; class and defect are
 * empty (no layout to read them from). where: "list:N: " or "". Local. */
static TcErr push_plain_(TcDataset *ds, int64_t *cap, const char *where, const char *path) {
  struct stat st;
  TC_CHECK(stat(path, &st) == 0, TC_ERR_IO, "%s%s does not exist: %s", where, path, strerror(errno));
  TC_CHECK(S_ISREG(st.st_mode), TC_ERR_IO, "%s%s is not a regular file", where, path);
  char *copy = dup_(path);
  TC_CHECK(copy, TC_ERR_MEM, "out of memory");
  return push_item_(ds, cap, "", "", copy, NULL);
}

/* The entries of a plain list into ds. Local. */
static TcErr read_plain_list_(TcDataset *ds, int64_t *cap, const char *list) {
  FILE *fp = NULL;
  TC_CALL(tc_text_open(list, "image list", TC_TEXT_MAX_BYTES, &fp));
  TcErr err = TC_OK;
  int64_t lineno = 0;
  char line[TC_TEXT_LINE_MAX + 1], *p = NULL, where[TC_TEXT_LINE_MAX + 64];
  int got = 0;
  for (;;) {
    err = next_entry_(fp, list, &lineno, line, sizeof line, &p, &got);
    if (err || !got) break;
    snprintf(where, sizeof where, "%s:%lld: ", list, (long long)lineno);
    if ((err = push_plain_(ds, cap, where, p))) break;
  }
  if (!err && ferror(fp)) err = tc_err_set(TC_ERR_IO, "%s: read error", list);
  fclose(fp);
  return err;
}

TcErr tc_dataset_read_plain(const char *list, const char *const *files, int64_t nfiles, TcDataset **out) {
  int64_t cap = 0;
  TcErr err = TC_OK;
  TcDataset *ds = tc_calloc(1, sizeof *ds, "image list");
  if (!ds) return TC_ERR_MEM;
  if (list) err = read_plain_list_(ds, &cap, list);
  for (int64_t i = 0; !err && i < nfiles; i++) err = push_plain_(ds, &cap, "", files[i]);
  if (err) tc_dataset_destroy(&ds);
  *out = ds;
  return err;
}

/* ---------- dataset.json: a small generic JSON reader ---------- */

typedef enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ } JKind_;
typedef struct JVal_ {
  JKind_ kind;
  double num;
  int b;
  char *str;            /* J_STR */
  int n;                /* J_ARR / J_OBJ: number of children */
  char **keys;          /* J_OBJ */
  struct JVal_ **items; /* J_ARR / J_OBJ */
} JVal_;

typedef struct {
  const char *s;
  const char *path;
  int depth;
} JParse_;

static void jfree_(JVal_ *v) {
  if (!v) return;
  free(v->str);
  for (int i = 0; i < v->n; i++) {
    if (v->keys) free(v->keys[i]);
    jfree_(v->items[i]);
  }
  free(v->keys);
  free(v->items);
  free(v);
}

static void jws_(JParse_ *p) {
  while (*p->s == ' ' || *p->s == '\n' || *p->s == '\r' || *p->s == '\t') p->s++;
}

static TcErr jerr_(JParse_ *p, const char *what) {
  return tc_err_set(TC_ERR_FORMAT, "%s: not valid JSON near '%.20s': %s", p->path, p->s, what);
}

static TcErr jstring_(JParse_ *p, char **out) {
  *out = NULL;
  if (*p->s != '"') return jerr_(p, "expected a string");
  p->s++;
  size_t cap = 32, n = 0;
  char *b = tc_malloc(cap, "JSON string");
  if (!b) return TC_ERR_MEM;
  while (*p->s && *p->s != '"') {
    unsigned cp = (unsigned char)*p->s++;
    int escaped = cp == '\\';
    if (escaped) {
      char e = *p->s++;
      switch (e) {
      case '"': cp = '"'; break;
      case '\\': cp = '\\'; break;
      case '/': cp = '/'; break;
      case 'b': cp = '\b'; break;
      case 'f': cp = '\f'; break;
      case 'n': cp = '\n'; break;
      case 'r': cp = '\r'; break;
      case 't': cp = '\t'; break;
      case 'u': {
        cp = 0;
        for (int i = 0; i < 4; i++) {
          char h = *p->s++;
          if (!isxdigit((unsigned char)h)) { free(b); return jerr_(p, "bad \\u escape"); }
          cp = cp * 16 + (unsigned)(isdigit((unsigned char)h) ? h - '0' : (tolower(h) - 'a' + 10));
        }
        break;
      }
      default: free(b); return jerr_(p, "bad escape");
      }
    }
    if (n + 4 >= cap) {
      char *nb = realloc(b, cap *= 2);
      if (!nb) { free(b); return tc_err_set(TC_ERR_MEM, "out of memory reading JSON"); }
      b = nb;
    }
    /* Raw bytes (UTF-8 included) are copied; what \u produced is UTF-8
     * encoded (surrogate pairs are not needed for anything we write; they
     * pass through as two 3-byte sequences). */
    if (cp < 0x80 || !escaped) b[n++] = (char)cp;
    else if (cp < 0x800) { b[n++] = (char)(0xC0 | (cp >> 6)); b[n++] = (char)(0x80 | (cp & 63)); }
    else {
      b[n++] = (char)(0xE0 | (cp >> 12));
      b[n++] = (char)(0x80 | ((cp >> 6) & 63));
      b[n++] = (char)(0x80 | (cp & 63));
    }
  }
  if (*p->s != '"') { free(b); return jerr_(p, "unterminated string"); }
  p->s++;
  b[n] = '\0';
  *out = b;
  return TC_OK;
}

static TcErr jvalue_(JParse_ *p, JVal_ **out);

static TcErr jpush_(JVal_ *v, char *key, JVal_ *item) {
  if ((v->n & (v->n - 1)) == 0) { /* grow at powers of two */
    int cap = v->n ? v->n * 2 : 1;
    JVal_ **ni = realloc(v->items, (size_t)cap * sizeof *ni);
    if (ni) v->items = ni;
    char **nk = v->kind == J_OBJ ? realloc(v->keys, (size_t)cap * sizeof *nk) : NULL;
    if (nk) v->keys = nk;
    if (!ni || (v->kind == J_OBJ && !nk)) {
      free(key);
      jfree_(item);
      return tc_err_set(TC_ERR_MEM, "out of memory reading JSON");
    }
  }
  if (v->kind == J_OBJ) v->keys[v->n] = key;
  v->items[v->n++] = item;
  return TC_OK;
}

static TcErr jvalue_(JParse_ *p, JVal_ **out) {
  *out = NULL;
  jws_(p);
  if (++p->depth > 64) return jerr_(p, "nested too deeply");
  JVal_ *v = tc_calloc(1, sizeof *v, "JSON value");
  if (!v) return TC_ERR_MEM;
  TcErr err = TC_OK;
  char c = *p->s;
  if (c == '{' || c == '[') {
    v->kind = c == '{' ? J_OBJ : J_ARR;
    char close = c == '{' ? '}' : ']';
    p->s++;
    jws_(p);
    if (*p->s == close) p->s++;
    else
      for (;;) {
        char *key = NULL;
        JVal_ *item = NULL;
        if (v->kind == J_OBJ) {
          jws_(p);
          if ((err = jstring_(p, &key)) != TC_OK) break;
          jws_(p);
          if (*p->s != ':') { free(key); err = jerr_(p, "expected ':'"); break; }
          p->s++;
        }
        if ((err = jvalue_(p, &item)) != TC_OK) { free(key); break; }
        if ((err = jpush_(v, key, item)) != TC_OK) break;
        jws_(p);
        if (*p->s == ',') { p->s++; continue; }
        if (*p->s == close) { p->s++; break; }
        err = jerr_(p, "expected ',' or a closing bracket");
        break;
      }
  } else if (c == '"') {
    v->kind = J_STR;
    err = jstring_(p, &v->str);
  } else if (strncmp(p->s, "true", 4) == 0) {
    v->kind = J_BOOL; v->b = 1; p->s += 4;
  } else if (strncmp(p->s, "false", 5) == 0) {
    v->kind = J_BOOL; p->s += 5;
  } else if (strncmp(p->s, "null", 4) == 0) {
    v->kind = J_NULL; p->s += 4;
  } else if (c == '-' || isdigit((unsigned char)c)) {
    char *end = NULL;
    v->kind = J_NUM;
    v->num = strtod(p->s, &end);
    if (end == p->s) err = jerr_(p, "bad number");
    else p->s = end;
  } else {
    err = jerr_(p, "unexpected character");
  }
  p->depth--;
  if (err != TC_OK) { jfree_(v); return err; }
  *out = v;
  return TC_OK;
}

static const JVal_ *jget_(const JVal_ *o, const char *key) {
  if (!o || o->kind != J_OBJ) return NULL;
  for (int i = 0; i < o->n; i++)
    if (strcmp(o->keys[i], key) == 0) return o->items[i];
  return NULL;
}

static TcErr jnum_(const JVal_ *o, const char *key, const char *path, double *out) {
  const JVal_ *v = jget_(o, key);
  TC_CHECK(v && v->kind == J_NUM, TC_ERR_FORMAT, "%s: key '%s' missing or not a number", path,
           key);
  *out = v->num;
  return TC_OK;
}

static TcErr jint_(const JVal_ *o, const char *key, const char *path, int64_t *out) {
  double d = 0;
  TC_CALL(jnum_(o, key, path, &d));
  TC_CHECK(d == (double)(int64_t)d, TC_ERR_FORMAT, "%s: key '%s' is not an integer", path, key);
  *out = (int64_t)d;
  return TC_OK;
}

static TcErr jstrdup_(const JVal_ *o, const char *key, const char *path, char **out) {
  const JVal_ *v = jget_(o, key);
  TC_CHECK(v && v->kind == J_STR, TC_ERR_FORMAT, "%s: key '%s' missing or not a string", path,
           key);
  *out = dup_(v->str);
  return *out ? TC_OK : TC_ERR_MEM;
}

/* dataset.json is a few KB; 64 MiB leaves room for any real one and keeps
 * a wrong path (a device, a huge file) from filling memory */
static TcErr read_text_(const char *path, char **text) {
  *text = NULL;
  FILE *fp = NULL;
  TC_CALL(tc_text_open(path, "JSON file", (int64_t)64 << 20, &fp));
  size_t cap = 4096, n = 0, got;
  char *b = tc_malloc(cap + 1, "file text");
  while (b && (got = fread(b + n, 1, cap - n, fp)) > 0) {
    n += got;
    if (n == cap) {
      char *nb = realloc(b, (cap *= 2) + 1);
      if (!nb) { free(b); b = NULL; }
      b = nb;
    }
  }
  int bad = ferror(fp);
  fclose(fp);
  if (!b) return tc_err_set(TC_ERR_MEM, "%s: out of memory reading", path);
  if (bad) { free(b); return tc_err_set(TC_ERR_IO, "%s: read error", path); }
  b[n] = '\0';
  *text = b;
  return TC_OK;
}

TcErr tc_dataset_info_read(const char *path, TcDatasetInfo **out) {
  *out = NULL;
  char *text = NULL;
  TC_CALL(read_text_(path, &text));
  JParse_ p = {text, path, 0};
  JVal_ *root = NULL;
  TcErr err = jvalue_(&p, &root);
  TcDatasetInfo *info = NULL;
  if (err != TC_OK) goto cleanup;
  jws_(&p);
  TC_CHECK_GOTO(err, *p.s == '\0', TC_ERR_FORMAT, cleanup, "%s: trailing text after JSON", path);
  const JVal_ *fmtv = jget_(root, "format");
  TC_CHECK_GOTO(err, fmtv && fmtv->kind == J_STR && strcmp(fmtv->str, "tailedcore-dataset") == 0,
                TC_ERR_FORMAT, cleanup, "%s: not a tailedcore dataset.json (format key)", path);
  info = tc_calloc(1, sizeof *info, "dataset info");
  TC_CHECK_GOTO(err, info, TC_ERR_MEM, cleanup, "out of memory");
  TC_CALL_GOTO(err, jstrdup_(root, "protocol", path, &info->protocol), cleanup);
  const JVal_ *seed = jget_(root, "seed");
  if (seed && seed->kind == J_NUM) {
    info->has_seed = 1;
    info->seed = (int64_t)seed->num;
  }
  TC_CALL_GOTO(err, jnum_(root, "noise_ratio", path, &info->noise_ratio), cleanup);
  TC_CALL_GOTO(err, jnum_(root, "alpha", path, &info->alpha), cleanup);
  TC_CALL_GOTO(err, jnum_(root, "head_ratio", path, &info->head_ratio), cleanup);
  TC_CALL_GOTO(err, jint_(root, "step_k", path, &info->step_k), cleanup);
  TC_CALL_GOTO(err, jint_(root, "n_good", path, &info->n_good), cleanup);
  TC_CALL_GOTO(err, jint_(root, "n_noise", path, &info->n_noise), cleanup);
  const JVal_ *cls = jget_(root, "classes");
  TC_CHECK_GOTO(err, cls && cls->kind == J_ARR, TC_ERR_FORMAT, cleanup,
                "%s: key 'classes' missing or not an array", path);
  info->classes = tc_calloc((size_t)(cls->n ? cls->n : 1), sizeof *info->classes, "class info");
  TC_CHECK_GOTO(err, info->classes, TC_ERR_MEM, cleanup, "out of memory");
  info->n_classes = cls->n;
  for (int c = 0; c < cls->n; c++) {
    const JVal_ *o = cls->items[c];
    TcClassInfo *k = &info->classes[c];
    TC_CALL_GOTO(err, jstrdup_(o, "name", path, &k->name), cleanup);
    const JVal_ *tail = jget_(o, "tail");
    TC_CHECK_GOTO(err, tail && tail->kind == J_BOOL, TC_ERR_FORMAT, cleanup,
                  "%s: class '%s': key 'tail' missing or not true/false", path, k->name);
    k->is_tail = tail->b;
    TC_CALL_GOTO(err, jint_(o, "n_source_train", path, &k->n_source_train), cleanup);
    TC_CALL_GOTO(err, jint_(o, "n_good", path, &k->n_good), cleanup);
    TC_CALL_GOTO(err, jint_(o, "n_test_good", path, &k->n_test_good), cleanup);
    TC_CALL_GOTO(err, jint_(o, "n_test_anomaly", path, &k->n_test_anomaly), cleanup);
    const JVal_ *noise = jget_(o, "noise");
    TC_CHECK_GOTO(err, noise && noise->kind == J_ARR, TC_ERR_FORMAT, cleanup,
                  "%s: class '%s': key 'noise' missing or not an array", path, k->name);
    k->noise = tc_calloc((size_t)noise->n + 1, sizeof *k->noise, "noise list");
    k->noise_source = tc_calloc((size_t)noise->n + 1, sizeof *k->noise_source, "noise list");
    TC_CHECK_GOTO(err, k->noise && k->noise_source, TC_ERR_MEM, cleanup, "out of memory");
    for (int i = 0; i < noise->n; i++) {
      TC_CALL_GOTO(err, jstrdup_(noise->items[i], "path", path, &k->noise[i]), cleanup);
      k->n_noise = i + 1;
      TC_CALL_GOTO(err, jstrdup_(noise->items[i], "source", path, &k->noise_source[i]), cleanup);
    }
    int64_t declared;
    TC_CALL_GOTO(err, jint_(o, "n_noise", path, &declared), cleanup);
    TC_CHECK_GOTO(err, declared == k->n_noise, TC_ERR_FORMAT, cleanup,
                  "%s: class '%s': n_noise %lld but %lld noise entries", path, k->name,
                  (long long)declared, (long long)k->n_noise);
  }
cleanup:
  jfree_(root);
  free(text);
  if (err != TC_OK) tc_dataset_info_destroy(&info);
  *out = info;
  return err;
}

const TcClassInfo *tc_dataset_info_class(const TcDatasetInfo *info, const char *name) {
  for (int c = 0; info && c < info->n_classes; c++)
    if (info->classes[c].name && strcmp(info->classes[c].name, name) == 0) return &info->classes[c];
  return NULL;
}

void tc_dataset_info_destroy(TcDatasetInfo **pinfo) {
  if (!pinfo || !*pinfo) return;
  TcDatasetInfo *info = *pinfo;
  for (int c = 0; c < info->n_classes; c++) {
    TcClassInfo *k = &info->classes[c];
    free(k->name);
    for (int64_t i = 0; k->noise && i < k->n_noise; i++) free(k->noise[i]);
    for (int64_t i = 0; k->noise_source && i < k->n_noise; i++) free(k->noise_source[i]);
    free(k->noise);
    free(k->noise_source);
  }
  free(info->classes);
  free(info->protocol);
  free(info);
  *pinfo = NULL;
}
