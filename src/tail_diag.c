/* tail_diag.c - Table 5 diagnostics from a labels file (see tail_diag.h). */
#include "tail_diag.h"

#include <stdlib.h>
#include <string.h>

#include "outguard.h"

typedef struct {
  char *path;
  char *cls;
  int noise, tail_class;
} LabelLine_;

typedef struct {
  LabelLine_ *line;
  int64_t n, cap;
} Labels_;

static void labels_free_(Labels_ *L) {
  for (int64_t i = 0; i < L->n; i++) {
    free(L->line[i].path);
    free(L->line[i].cls);
  }
  free(L->line);
  L->line = NULL;
  L->n = L->cap = 0;
}

static TcErr labels_grow_(Labels_ *L, const char *labels_path) {
  int64_t cap = L->cap ? 2 * L->cap : 1024;
  LabelLine_ *grown = realloc(L->line, (size_t)cap * sizeof *grown);
  TC_CHECK(grown, TC_ERR_MEM, "out of memory reading %s", labels_path);
  L->line = grown;
  L->cap = cap;
  return TC_OK;
}

static TcErr labels_add_(Labels_ *L, const char *labels_path, const char *path, const char *cls, int noise,
                         int tail_class) {
  if (L->n == L->cap) TC_CALL(labels_grow_(L, labels_path));
  LabelLine_ l = {.path = strdup(path), .cls = strdup(cls), .noise = noise, .tail_class = tail_class};
  L->line[L->n++] = l; /* labels_free_ frees what strdup did allocate */
  TC_CHECK(l.path && l.cls, TC_ERR_MEM, "out of memory reading %s", labels_path);
  return TC_OK;
}

/* Every labelled line of the file, in file order. */
static TcErr labels_read_(const char *labels_path, Labels_ *L) {
  FILE *fp = NULL;
  TC_CALL(tc_text_open(labels_path, "labels file", TC_TEXT_MAX_BYTES, &fp));
  TcErr err = TC_OK;
  int64_t lineno = 0;
  char buf[TC_TEXT_LINE_MAX + 1];
  for (;;) {
    int got = 0;
    TC_CALL_GOTO(err, tc_text_line(fp, labels_path, &lineno, buf, sizeof buf, &got), done);
    if (!got) break;
    char p[4096], c[1024];
    int a = 0, b = 0;
    char *s = buf;
    while (*s == ' ' || *s == '\t') s++;
    if (*s == '#' || *s == '\n' || *s == '\0') continue;
    if (sscanf(s, "%4095s %1023s %d %d", p, c, &a, &b) != 4 || (a != 0 && a != 1) || (b != 0 && b != 1)) {
      err = tc_err_set(TC_ERR_FORMAT, "%s:%lld: expected 'path class is_noise(0/1) is_tail_class(0/1)'",
                       labels_path, (long long)lineno);
      goto done;
    }
    TC_CALL_GOTO(err, labels_add_(L, labels_path, p, c, a, b), done);
  }
done:
  fclose(fp);
  return err;
}

static int cmp_label_path_(const void *a, const void *b) {
  return strcmp(((const LabelLine_ *)a)->path, ((const LabelLine_ *)b)->path);
}
static int cmp_label_cls_(const void *a, const void *b) {
  return strcmp((*(const LabelLine_ *const *)a)->cls, (*(const LabelLine_ *const *)b)->cls);
}

/* line_cls [L->n] (output): each line's class id, the rank of its class
 * name among the distinct names. */
static TcErr class_ids_(const Labels_ *L, int64_t *line_cls) {
  LabelLine_ **by_cls = tc_malloc((size_t)(L->n > 0 ? L->n : 1) * sizeof *by_cls, "labels");
  if (!by_cls) return TC_ERR_MEM;
  for (int64_t i = 0; i < L->n; i++) by_cls[i] = &L->line[i];
  qsort(by_cls, (size_t)L->n, sizeof *by_cls, cmp_label_cls_);
  int64_t id = -1;
  for (int64_t i = 0; i < L->n; i++) {
    if (i == 0 || strcmp(by_cls[i]->cls, by_cls[i - 1]->cls)) id++;
    line_cls[by_cls[i] - L->line] = id;
  }
  free(by_cls);
  return TC_OK;
}

/* Each image's class id and flags [N] from its line: the line with its
 * path (L sorted by path), or line j when paths is NULL. */
static TcErr match_(const char *labels_path, const Labels_ *L, const int64_t *line_cls, int64_t N,
                    char *const *paths, int64_t *cls, uint8_t *noise, uint8_t *tailc) {
  for (int64_t j = 0; j < N; j++) {
    int64_t li = j;
    if (paths) {
      LabelLine_ key = {.path = paths[j]};
      LabelLine_ *hit = bsearch(&key, L->line, (size_t)L->n, sizeof *L->line, cmp_label_path_);
      TC_CHECK(hit, TC_ERR_FORMAT, "%s: no label for image '%s'", labels_path, paths[j]);
      li = hit - L->line;
    }
    cls[j] = line_cls[li];
    noise[j] = (uint8_t)L->line[li].noise;
    tailc[j] = (uint8_t)L->line[li].tail_class;
  }
  return TC_OK;
}

static void print_(FILE *out, const char *labels_path, const TcTailDiag *d) {
  fprintf(out, "diagnostics (paper Table 5) from %s: %lld classes, %lld tail-class images, %lld head-class images, %lld noise images\n",
          labels_path, (long long)d->n_classes, (long long)d->n_tail_samples, (long long)d->n_head_samples,
          (long long)d->n_noise);
  fprintf(out, "  missing tail samples     %.4f\n", d->missing_tail);
  fprintf(out, "  included anomalies       %.4f\n", d->included_noise);
  fprintf(out, "  included head samples    %.4f\n", d->included_head);
  fprintf(out, "  class-size error (1/|C|) %.4f\n", d->class_size_error);
  fprintf(out, "  AUROC(-kappa, tail)      %.4f\n", d->auroc_tail);
  fflush(out);
}

TcErr tc_tail_diag_report(FILE *out, const char *labels_path, int64_t N, char *const *paths,
                          const TcTailResult *r) {
  TcErr err = TC_OK;
  Labels_ L = {0};
  int64_t *cls = NULL, *line_cls = NULL;
  uint8_t *noise = NULL, *tailc = NULL;
  TC_CALL_GOTO(err, labels_read_(labels_path, &L), cleanup);
  TC_CHECK_GOTO(err, L.n == N, TC_ERR_FORMAT, cleanup, "%s: %lld labelled images, the features file has %lld",
                labels_path, (long long)L.n, (long long)N);
  cls = tc_malloc((size_t)N * sizeof(int64_t), "classes");
  noise = tc_malloc((size_t)N, "noise flags");
  tailc = tc_malloc((size_t)N, "tail-class flags");
  line_cls = tc_malloc((size_t)N * sizeof(int64_t), "class ids");
  if (!cls || !noise || !tailc || !line_cls) {
    err = TC_ERR_MEM;
    goto cleanup;
  }
  if (paths) qsort(L.line, (size_t)L.n, sizeof *L.line, cmp_label_path_);
  TC_CALL_GOTO(err, class_ids_(&L, line_cls), cleanup);
  TC_CALL_GOTO(err, match_(labels_path, &L, line_cls, N, paths, cls, noise, tailc), cleanup);
  TcTailDiag d;
  TC_CALL_GOTO(err, tc_tail_diagnostics(N, r->kappa, r->is_tail, cls, noise, tailc, &d), cleanup);
  print_(out, labels_path, &d);
cleanup:
  labels_free_(&L);
  free(cls);
  free(line_cls);
  free(noise);
  free(tailc);
  return err;
}
