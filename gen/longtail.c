/* longtail.c - the noisy long-tail builder (DESIGN 4; rules in longtail.h).
 * Mirrors the authors' make_tailed_noisy_mvtec.py where DESIGN pins it (the
 * pareto pmf, the redistribution, the 100 tries, round half to even) and
 * replaces Python's global random state by one splitmix64 stream per
 * (seed, purpose, class), so a choice is reproducible on its own. */
#include "longtail.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "outguard.h"

/* ---------- helpers ---------- */


typedef struct {
  uint64_t s;
} Rng_;

static uint64_t rng_next_(Rng_ *r) {
  uint64_t z = (r->s += 0x9E3779B97F4A7C15ULL);
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  return z ^ (z >> 31);
}

/* Unbiased integer in [0, n): reject the short last block. */
static uint64_t rng_below_(Rng_ *r, uint64_t n) {
  uint64_t lim = (uint64_t)(-n) % n, x;
  do x = rng_next_(r);
  while (x < lim);
  return x % n;
}

static uint64_t fnv1a_(const char *s, uint64_t h) {
  for (; *s; s++) h = (h ^ (unsigned char)*s) * 0x100000001B3ULL;
  return h;
}

/* The stream of one (seed, purpose, class) choice. */
static Rng_ rng_for_(int64_t seed, const char *purpose, const char *cls) {
  uint64_t h = fnv1a_(purpose, 0xCBF29CE484222325ULL);
  h = fnv1a_("/", h);
  h = fnv1a_(cls, h);
  Rng_ r = {(uint64_t)seed * 0xD1B54A32D192ED03ULL ^ h};
  rng_next_(&r);
  return r;
}

/* Fisher-Yates on idx[0..n), only the first k positions are drawn: the first
 * k entries are then a uniform random k-subset in random order. */
static void shuffle_prefix_(Rng_ *r, int64_t *idx, int64_t n, int64_t k) {
  for (int64_t i = 0; i < k && i < n - 1; i++) {
    int64_t j = i + (int64_t)rng_below_(r, (uint64_t)(n - i));
    int64_t t = idx[i];
    idx[i] = idx[j];
    idx[j] = t;
  }
}

int64_t tc_longtail_round_half_even(double x) {
  double f = floor(x), d = x - f;
  if (d > 0.5) return (int64_t)f + 1;
  if (d < 0.5) return (int64_t)f;
  return ((int64_t)f % 2 == 0) ? (int64_t)f : (int64_t)f + 1;
}

static void free_strs_(char **v, int64_t n) {
  if (!v) return;
  for (int64_t i = 0; i < n; i++) free(v[i]);
  free(v);
}

/* ---------- parameters ---------- */

TcErr tc_longtail_params_init(TcLongtailParams *p, const char *protocol) {
  memset(p, 0, sizeof *p);
  p->head_ratio = 0.4;
  p->alpha = 6.0;
  p->noise_ratio = 0.1;
  p->pareto_iters = 100;
  p->floor = 5;
  p->tail_below = 20;
  TC_CHECK(protocol && strlen(protocol) < sizeof p->protocol, TC_ERR_USAGE,
           "unknown long-tail protocol (step_k1, step_k4, step_kK, pareto)");
  snprintf(p->protocol, sizeof p->protocol, "%s", protocol);
  if (strcmp(protocol, "pareto") == 0) {
    p->kind = TC_LONGTAIL_PARETO;
    return TC_OK;
  }
  char *end = NULL;
  if (strncmp(protocol, "step_k", 6) == 0) {
    long long k = strtoll(protocol + 6, &end, 10);
    if (end != protocol + 6 && *end == '\0' && k >= 1) {
      p->kind = TC_LONGTAIL_STEP;
      p->step_k = k;
      return TC_OK;
    }
  }
  return tc_err_set(TC_ERR_USAGE, "unknown long-tail protocol '%s' (step_k1, step_k4, step_kK, pareto)",
                    protocol);
}

static TcErr check_params_(const TcLongtailParams *p) {
  TC_CHECK(p->noise_ratio >= 0 && p->noise_ratio < 1, TC_ERR_USAGE,
           "noise ratio %g outside [0, 1)", p->noise_ratio);
  TC_CHECK(p->head_ratio >= 0 && p->head_ratio <= 1, TC_ERR_USAGE, "head ratio %g outside [0, 1]",
           p->head_ratio);
  TC_CHECK(p->alpha > 0, TC_ERR_USAGE, "pareto alpha %g must be > 0", p->alpha);
  TC_CHECK(p->pareto_iters >= 1, TC_ERR_USAGE, "pareto iterations must be >= 1");
  TC_CHECK(p->floor >= 1, TC_ERR_USAGE, "pareto floor must be >= 1");
  return TC_OK;
}

/* ---------- pareto ---------- */

void tc_longtail_pareto_pmf(double alpha, int C, double *pmf) {
  /* scipy: ppf(q) = pow(1-q, -1/b), cdf(x) = 1 - x**(-b); numpy linspace:
   * start + i * step with the last point set to stop exactly. */
  double lo = pow(1.0 - 0.01, -1.0 / alpha), hi = pow(1.0 - 0.99, -1.0 / alpha);
  double step = (hi - lo) / C, prev = 0;
  for (int i = 0; i <= C; i++) {
    double x = i == C ? hi : i * step + lo;
    double cdf = 1.0 - pow(x, -alpha);
    if (i > 0) pmf[i - 1] = cdf - prev;
    prev = cdf;
  }
}

void tc_longtail_pareto_counts(const double *dist, const int64_t *have, int C, int64_t floor_,
                               int64_t *out) {
  int imax = 0;
  for (int i = 1; i < C; i++)
    if (dist[i] > dist[imax]) imax = i;
  double factor = (double)have[imax] / dist[imax];
  for (int i = 0; i < C; i++) {
    int64_t d = tc_longtail_round_half_even(dist[i] * factor);
    if (d > have[i]) d = have[i];
    if (d < floor_) d = floor_;
    out[i] = d;
  }
}

/* ---------- listing the source ---------- */

typedef struct {
  TcDataset *train, *test;
} Source_;

static void source_free_(Source_ *s) {
  tc_dataset_destroy(&s->train);
  tc_dataset_destroy(&s->test);
}

/* Set up the plan's classes (names, source counts) from the listings. */
static TcErr plan_classes_(const Source_ *src, TcLongtailPlan *plan) {
  const TcDataset *tr = src->train;
  plan->n_classes = tr->n_classes;
  plan->classes = tc_calloc((size_t)tr->n_classes, sizeof *plan->classes, "plan classes");
  if (!plan->classes) return TC_ERR_MEM;
  for (int c = 0; c < tr->n_classes; c++) {
    TcLongtailClass *k = &plan->classes[c];
    k->name = tc_strfmt("%s", tr->classes[c]);
    if (!k->name) return TC_ERR_MEM;
    for (int64_t i = 0; i < tr->n; i++)
      if (strcmp(tr->items[i].class_name, k->name) == 0 && strcmp(tr->items[i].defect, "good") == 0)
        k->n_source_train++;
    for (int64_t i = 0; i < src->test->n; i++) {
      const TcDatasetItem *it = &src->test->items[i];
      if (strcmp(it->class_name, k->name) != 0) continue;
      if (strcmp(it->defect, "good") == 0) k->n_test_good++;
      else k->n_anomaly++;
    }
    TC_CHECK(k->n_source_train > 0, TC_ERR_FORMAT, "%s/%s/train/good: no training images",
             tr->root, k->name);
  }
  for (int c = 0; c < src->test->n_classes; c++) {
    int found = 0;
    for (int k = 0; k < tr->n_classes; k++) found |= strcmp(tr->classes[k], src->test->classes[c]) == 0;
    TC_CHECK(found, TC_ERR_FORMAT, "%s/%s: has test images but no train/good images", tr->root,
             src->test->classes[c]);
  }
  return TC_OK;
}

static TcErr source_read_(const char *root, Source_ *s) {
  memset(s, 0, sizeof *s);
  TC_CALL(tc_dataset_list(root, "train", &s->train));
  TC_CALL(tc_dataset_list(root, "test", &s->test));
  return TC_OK;
}

/* Indices into `ds` of the items of class `cls` with defect == good (want_good
 * = 1) or != good (want_good = 0). *idx malloc'd. */
static TcErr class_items_(const TcDataset *ds, const char *cls, int want_good, int64_t **idx,
                          int64_t *n) {
  *n = 0;
  *idx = tc_malloc((size_t)(ds->n ? ds->n : 1) * sizeof **idx, "index list");
  if (!*idx) return TC_ERR_MEM;
  for (int64_t i = 0; i < ds->n; i++)
    if (strcmp(ds->items[i].class_name, cls) == 0 &&
        (strcmp(ds->items[i].defect, "good") == 0) == want_good)
      (*idx)[(*n)++] = i;
  return TC_OK;
}

/* CLASS/test/TYPE/NAME -> CLASS/train/good/TYPE_NAME */
static char *noise_name_(const TcDatasetItem *it) {
  const char *name = strrchr(it->path, '/');
  return tc_strfmt("%s/train/good/%s_%s", it->class_name, it->defect, name ? name + 1 : it->path);
}

static int cmp_i64_(const void *a, const void *b) {
  int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
  return (x > y) - (x < y);
}

/* Fill keep lists: n_keep chosen uniformly (stream "keep") unless all. */
static TcErr choose_keep_(const Source_ *src, const TcLongtailParams *p, TcLongtailClass *k) {
  int64_t *idx = NULL, n = 0;
  TC_CALL(class_items_(src->train, k->name, 1, &idx, &n));
  Rng_ r = rng_for_(p->seed, "keep", k->name);
  if (k->n_keep < n) shuffle_prefix_(&r, idx, n, k->n_keep);
  qsort(idx, (size_t)k->n_keep, sizeof *idx, cmp_i64_); /* listing order = byte order */
  k->keep = tc_calloc((size_t)k->n_keep + 1, sizeof *k->keep, "keep list");
  TcErr err = k->keep ? TC_OK : TC_ERR_MEM;
  for (int64_t i = 0; err == TC_OK && i < k->n_keep; i++)
    if (!(k->keep[i] = tc_strfmt("%s", src->train->items[idx[i]].path))) err = TC_ERR_MEM;
  free(idx);
  return err;
}

static TcErr choose_noise_(const Source_ *src, const TcLongtailParams *p, TcLongtailClass *k) {
  int64_t *idx = NULL, n = 0;
  TC_CALL(class_items_(src->test, k->name, 0, &idx, &n));
  Rng_ r = rng_for_(p->seed, "noise", k->name);
  shuffle_prefix_(&r, idx, n, k->n_noise);
  qsort(idx, (size_t)k->n_noise, sizeof *idx, cmp_i64_);
  k->noise_src = tc_calloc((size_t)k->n_noise + 1, sizeof *k->noise_src, "noise list");
  k->noise_dst = tc_calloc((size_t)k->n_noise + 1, sizeof *k->noise_dst, "noise list");
  TcErr err = k->noise_src && k->noise_dst ? TC_OK : TC_ERR_MEM;
  for (int64_t i = 0; err == TC_OK && i < k->n_noise; i++) {
    const TcDatasetItem *it = &src->test->items[idx[i]];
    k->noise_src[i] = tc_strfmt("%s", it->path);
    k->noise_dst[i] = noise_name_(it);
    if (!k->noise_src[i] || !k->noise_dst[i]) err = TC_ERR_MEM;
  }
  free(idx);
  return err;
}

/* Injected names must not collide with kept good images. */
static TcErr check_collisions_(const TcLongtailClass *k) {
  for (int64_t i = 0; i < k->n_noise; i++)
    for (int64_t j = 0; j < k->n_keep; j++)
      TC_CHECK(strcmp(k->noise_dst[i], k->keep[j]) != 0, TC_ERR_FORMAT,
               "injected defect %s (from %s) would overwrite the good image of the same name",
               k->noise_dst[i], k->noise_src[i]);
  return TC_OK;
}

static void totals_(TcLongtailPlan *plan) {
  plan->n_good = plan->n_noise = 0;
  for (int c = 0; c < plan->n_classes; c++) {
    plan->n_good += plan->classes[c].n_keep;
    plan->n_noise += plan->classes[c].n_noise;
  }
}

/* Noise per head class: Sainte-Lague over kept counts, capped by anomalies. */
static TcErr apportion_noise_(TcLongtailPlan *plan, const char *root) {
  const TcLongtailParams *p = &plan->params;
  int64_t good = 0, avail = 0;
  for (int c = 0; c < plan->n_classes; c++) {
    good += plan->classes[c].n_keep;
    if (!plan->classes[c].is_tail) avail += plan->classes[c].n_anomaly;
  }
  int64_t T = tc_longtail_round_half_even(p->noise_ratio * (double)good);
  TC_CHECK(T <= avail, TC_ERR_FORMAT,
           "%s: the head classes have %lld test anomalies, but noise ratio %g of %lld kept "
           "images needs %lld (lower --noise-ratio or add anomalies)",
           root, (long long)avail, p->noise_ratio, (long long)good, (long long)T);
  for (int64_t t = 0; t < T; t++) {
    int best = -1;
    double best_q = -1;
    for (int c = 0; c < plan->n_classes; c++) {
      TcLongtailClass *k = &plan->classes[c];
      if (k->is_tail || k->n_noise >= k->n_anomaly) continue;
      double q = (double)k->n_keep / (double)(2 * k->n_noise + 1);
      if (q > best_q) { best_q = q; best = c; }
    }
    TC_CHECK(best >= 0, TC_ERR_INTERNAL, "noise apportionment ran out of classes");
    plan->classes[best].n_noise++;
  }
  return TC_OK;
}

TcErr tc_longtail_plan(const char *src_root, const TcLongtailParams *p, TcLongtailPlan **out) {
  *out = NULL;
  TC_CALL(check_params_(p));
  Source_ src;
  TcErr err = source_read_(src_root, &src);
  TcLongtailPlan *plan = NULL;
  int64_t *have = NULL, *cnt = NULL, *best = NULL, *order = NULL;
  double *pmf = NULL, *dist = NULL;
  if (err != TC_OK) goto cleanup;
  plan = tc_calloc(1, sizeof *plan, "long-tail plan");
  TC_CHECK_GOTO(err, plan, TC_ERR_MEM, cleanup, "out of memory");
  plan->params = *p;
  TC_CALL_GOTO(err, plan_classes_(&src, plan), cleanup);
  int C = plan->n_classes;
  if (p->kind == TC_LONGTAIL_STEP) {
    int64_t n_tail = tc_longtail_round_half_even((double)C * (1.0 - p->head_ratio));
    int64_t n_head = C - n_tail;
    order = tc_malloc((size_t)C * sizeof *order, "class order");
    TC_CHECK_GOTO(err, order, TC_ERR_MEM, cleanup, "out of memory");
    for (int c = 0; c < C; c++) order[c] = c;
    Rng_ r = rng_for_(p->seed, "head", "");
    shuffle_prefix_(&r, order, C, C);
    for (int c = 0; c < C; c++) plan->classes[c].is_tail = 1;
    for (int64_t i = 0; i < n_head; i++) plan->classes[order[i]].is_tail = 0;
    for (int c = 0; c < C; c++) {
      TcLongtailClass *k = &plan->classes[c];
      if (!k->is_tail) { k->n_keep = k->n_source_train; continue; }
      TC_CHECK_GOTO(err, k->n_source_train >= p->step_k, TC_ERR_FORMAT, cleanup,
                    "%s/%s/train/good: %lld images, but %s keeps %lld per tail class", src_root,
                    k->name, (long long)k->n_source_train, p->protocol, (long long)p->step_k);
      k->n_keep = p->step_k;
    }
  } else {
    have = tc_malloc((size_t)C * sizeof *have, "pareto");
    cnt = tc_malloc((size_t)C * sizeof *cnt, "pareto");
    best = tc_calloc((size_t)C, sizeof *best, "pareto");
    pmf = tc_malloc((size_t)C * sizeof *pmf, "pareto");
    dist = tc_malloc((size_t)C * sizeof *dist, "pareto");
    order = tc_malloc((size_t)C * sizeof *order, "pareto");
    TC_CHECK_GOTO(err, have && cnt && best && pmf && dist && order, TC_ERR_MEM, cleanup,
                  "out of memory");
    for (int c = 0; c < C; c++) {
      have[c] = plan->classes[c].n_source_train;
      TC_CHECK_GOTO(err, have[c] >= p->floor, TC_ERR_FORMAT, cleanup,
                    "%s/%s/train/good: %lld images, but pareto keeps at least %lld per class",
                    src_root, plan->classes[c].name, (long long)have[c], (long long)p->floor);
    }
    tc_longtail_pareto_pmf(p->alpha, C, pmf);
    for (int c = 0; c < C; c++) order[c] = c;
    Rng_ r = rng_for_(p->seed, "pareto", "");
    int64_t best_sum = -1;
    /* The authors shuffle the same array again on each try. */
    for (int it = 0; it < p->pareto_iters; it++) {
      shuffle_prefix_(&r, order, C, C);
      for (int c = 0; c < C; c++) dist[c] = pmf[order[c]];
      tc_longtail_pareto_counts(dist, have, C, p->floor, cnt);
      int64_t sum = 0;
      for (int c = 0; c < C; c++) sum += cnt[c];
      if (sum > best_sum) {
        best_sum = sum;
        memcpy(best, cnt, (size_t)C * sizeof *best);
      }
    }
    for (int c = 0; c < C; c++) {
      plan->classes[c].n_keep = best[c];
      plan->classes[c].is_tail = best[c] < p->tail_below;
    }
  }
  TC_CALL_GOTO(err, apportion_noise_(plan, src_root), cleanup);
  for (int c = 0; c < C; c++) {
    TC_CALL_GOTO(err, choose_keep_(&src, p, &plan->classes[c]), cleanup);
    TC_CALL_GOTO(err, choose_noise_(&src, p, &plan->classes[c]), cleanup);
    TC_CALL_GOTO(err, check_collisions_(&plan->classes[c]), cleanup);
  }
  totals_(plan);
cleanup:
  free(have); free(cnt); free(best); free(pmf); free(dist); free(order);
  source_free_(&src);
  if (err != TC_OK) tc_longtail_plan_destroy(&plan);
  *out = plan;
  return err;
}

/* ---------- from manifests ---------- */

static int class_index_(const TcLongtailPlan *plan, const char *name) {
  for (int c = 0; c < plan->n_classes; c++)
    if (strcmp(plan->classes[c].name, name) == 0) return c;
  return -1;
}

static int cmp_pair_(const void *a, const void *b) {
  /* pairs of (src, dst) sorted by src */
  return strcmp(((char *const *)a)[0], ((char *const *)b)[0]);
}

static TcErr read_noise_manifest_(const char *path, const Source_ *src, TcLongtailPlan *plan) {
  FILE *fp = NULL;
  TC_CALL(tc_text_open(path, "manifest", TC_TEXT_MAX_BYTES, &fp));
  TcErr err = TC_OK;
  char line[TC_TEXT_LINE_MAX + 1];
  size_t len;
  int64_t lineno = 0;
  int got = 0;
  for (;;) {
    TC_CALL_GOTO(err, tc_text_line(fp, path, &lineno, line, sizeof line, &got), cleanup);
    if (!got) break;
    len = strlen(line);
    while (len > 0 && strchr("\r\n \t", line[len - 1])) line[--len] = '\0';
    char *s = line;
    while (*s == ' ' || *s == '\t') s++;
    if (!*s || *s == '#') continue;
    /* CLASS/train/good/X */
    char *slash = strchr(s, '/');
    int ci = -1;
    if (slash) {
      *slash = '\0';
      ci = class_index_(plan, s);
      *slash = '/';
    }
    const char *base = strrchr(s, '/');
    int shape_ok = slash && strncmp(slash, "/train/good/", 12) == 0 && base == slash + 11;
    TC_CHECK_GOTO(err, shape_ok, TC_ERR_FORMAT, cleanup,
                  "%s:%lld: '%s' is not CLASS/train/good/TYPE_NAME", path, (long long)lineno, s);
    TC_CHECK_GOTO(err, ci >= 0, TC_ERR_FORMAT, cleanup,
                  "%s:%lld: '%s': no such class in the source %s", path, (long long)lineno, s,
                  src->train->root);
    TcLongtailClass *k = &plan->classes[ci];
    int64_t match = -1, nmatch = 0;
    for (int64_t i = 0; i < src->test->n; i++) {
      const TcDatasetItem *it = &src->test->items[i];
      if (strcmp(it->class_name, k->name) != 0 || strcmp(it->defect, "good") == 0) continue;
      char *dst = noise_name_(it);
      TC_CHECK_GOTO(err, dst, TC_ERR_MEM, cleanup, "out of memory");
      if (strcmp(dst, s) == 0) { match = i; nmatch++; }
      free(dst);
    }
    TC_CHECK_GOTO(err, nmatch > 0, TC_ERR_IO, cleanup,
                  "%s:%lld: '%s' names no test anomaly %s/%s/test/TYPE/NAME (TYPE_NAME) of the source",
                  path, (long long)lineno, s, src->train->root, k->name);
    TC_CHECK_GOTO(err, nmatch == 1, TC_ERR_FORMAT, cleanup,
                  "%s:%lld: '%s' matches %lld test images of the source", path, (long long)lineno,
                  s, (long long)nmatch);
    char **ns = realloc(k->noise_src, (size_t)(k->n_noise + 1) * sizeof *ns);
    if (ns) k->noise_src = ns;
    char **nd = realloc(k->noise_dst, (size_t)(k->n_noise + 1) * sizeof *nd);
    if (nd) k->noise_dst = nd;
    TC_CHECK_GOTO(err, ns && nd, TC_ERR_MEM, cleanup, "out of memory");
    k->noise_src[k->n_noise] = tc_strfmt("%s", src->test->items[match].path);
    k->noise_dst[k->n_noise] = tc_strfmt("%s", s);
    k->n_noise++;
    TC_CHECK_GOTO(err, k->noise_src[k->n_noise - 1] && k->noise_dst[k->n_noise - 1], TC_ERR_MEM,
                  cleanup, "out of memory");
  }
  TC_CHECK_GOTO(err, !ferror(fp), TC_ERR_IO, cleanup, "%s: read error", path);
  for (int c = 0; c < plan->n_classes; c++) {
    TcLongtailClass *k = &plan->classes[c];
    if (k->n_noise < 2) continue;
    char **pairs = tc_malloc((size_t)k->n_noise * 2 * sizeof *pairs, "noise sort");
    TC_CHECK_GOTO(err, pairs, TC_ERR_MEM, cleanup, "out of memory");
    for (int64_t i = 0; i < k->n_noise; i++) {
      pairs[2 * i] = k->noise_src[i];
      pairs[2 * i + 1] = k->noise_dst[i];
    }
    qsort(pairs, (size_t)k->n_noise, 2 * sizeof *pairs, cmp_pair_);
    for (int64_t i = 0; i < k->n_noise; i++) {
      k->noise_src[i] = pairs[2 * i];
      k->noise_dst[i] = pairs[2 * i + 1];
    }
    free(pairs);
    for (int64_t i = 1; i < k->n_noise; i++)
      TC_CHECK_GOTO(err, strcmp(k->noise_src[i - 1], k->noise_src[i]) != 0, TC_ERR_FORMAT,
                    cleanup, "%s: '%s' is listed twice", path, k->noise_dst[i]);
  }
cleanup:
  fclose(fp);
  return err;
}

TcErr tc_longtail_plan_from_manifests(const char *src_root, const TcLongtailParams *p,
                                      const char *good_manifest, const char *noise_manifest,
                                      TcLongtailPlan **out) {
  *out = NULL;
  TC_CALL(check_params_(p));
  Source_ src;
  TcDataset *good = NULL;
  TcLongtailPlan *plan = NULL;
  TcErr err = source_read_(src_root, &src);
  if (err != TC_OK) goto cleanup;
  plan = tc_calloc(1, sizeof *plan, "long-tail plan");
  TC_CHECK_GOTO(err, plan, TC_ERR_MEM, cleanup, "out of memory");
  plan->params = *p;
  plan->from_manifests = 1;
  TC_CALL_GOTO(err, plan_classes_(&src, plan), cleanup);
  TC_CALL_GOTO(err, tc_dataset_read_manifest(src_root, good_manifest, &good), cleanup);
  for (int64_t i = 0; i < good->n; i++) {
    const TcDatasetItem *it = &good->items[i];
    TC_CHECK_GOTO(err, strncmp(strchr(it->path, '/'), "/train/good/", 12) == 0, TC_ERR_FORMAT,
                  cleanup, "%s: '%s' is not a CLASS/train/good image", good_manifest, it->path);
    int c = class_index_(plan, it->class_name);
    TC_CHECK_GOTO(err, c >= 0, TC_ERR_FORMAT, cleanup, "%s: '%s': unknown class", good_manifest,
                  it->path);
    plan->classes[c].n_keep++;
  }
  for (int c = 0; c < plan->n_classes; c++) {
    TcLongtailClass *k = &plan->classes[c];
    TC_CHECK_GOTO(err, k->n_keep > 0, TC_ERR_FORMAT, cleanup,
                  "%s: class '%s' of the source keeps no image", good_manifest, k->name);
    k->keep = tc_calloc((size_t)k->n_keep + 1, sizeof *k->keep, "keep list");
    TC_CHECK_GOTO(err, k->keep, TC_ERR_MEM, cleanup, "out of memory");
    int64_t j = 0;
    for (int64_t i = 0; i < good->n; i++)
      if (strcmp(good->items[i].class_name, k->name) == 0)
        TC_CHECK_GOTO(err, k->keep[j++] = tc_strfmt("%s", good->items[i].path), TC_ERR_MEM, cleanup,
                      "out of memory");
    tc_dataset_sort_strings(k->keep, k->n_keep);
  }
  TC_CALL_GOTO(err, read_noise_manifest_(noise_manifest, &src, plan), cleanup);
  for (int c = 0; c < plan->n_classes; c++) {
    TcLongtailClass *k = &plan->classes[c];
    k->is_tail = p->kind == TC_LONGTAIL_STEP ? (k->n_keep <= p->step_k && k->n_noise == 0)
                                             : (k->n_keep < p->tail_below);
    TC_CHECK_GOTO(err, !(k->is_tail && k->n_noise), TC_ERR_FORMAT, cleanup,
                  "%s: tail class '%s' (keeps %lld) has injected noise, which %s never does",
                  noise_manifest, k->name, (long long)k->n_keep, p->protocol);
    TC_CALL_GOTO(err, check_collisions_(k), cleanup);
  }
  totals_(plan);
cleanup:
  tc_dataset_destroy(&good);
  source_free_(&src);
  if (err != TC_OK) tc_longtail_plan_destroy(&plan);
  *out = plan;
  return err;
}

void tc_longtail_plan_destroy(TcLongtailPlan **pplan) {
  if (!pplan || !*pplan) return;
  TcLongtailPlan *plan = *pplan;
  for (int c = 0; plan->classes && c < plan->n_classes; c++) {
    TcLongtailClass *k = &plan->classes[c];
    free(k->name);
    free_strs_(k->keep, k->n_keep);
    free_strs_(k->noise_src, k->n_noise);
    free_strs_(k->noise_dst, k->n_noise);
  }
  free(plan->classes);
  free(plan);
  *pplan = NULL;
}

/* ---------- output ---------- */

static TcErr write_lines_(const char *path, const TcLongtailPlan *plan, int noise) {
  FILE *fp = fopen(path, "w");
  TC_CHECK(fp, TC_ERR_IO, "%s: cannot create: %s", path, strerror(errno));
  for (int c = 0; c < plan->n_classes; c++) {
    const TcLongtailClass *k = &plan->classes[c];
    int64_t n = noise ? k->n_noise : k->n_keep;
    char **v = noise ? k->noise_dst : k->keep;
    for (int64_t i = 0; i < n; i++) fprintf(fp, "%s\n", v[i]);
  }
  int bad = ferror(fp);
  if (fclose(fp) != 0) bad = 1;
  TC_CHECK(!bad, TC_ERR_IO, "%s: write failed", path);
  return TC_OK;
}

TcErr tc_longtail_write_manifests(const TcLongtailPlan *plan, const char *good_path,
                                  const char *noise_path) {
  TC_CALL(write_lines_(good_path, plan, 0));
  TC_CALL(write_lines_(noise_path, plan, 1));
  return TC_OK;
}

TcErr tc_longtail_info(const TcLongtailPlan *plan, TcDatasetInfo **out) {
  *out = NULL;
  const TcLongtailParams *p = &plan->params;
  TcDatasetInfo *info = tc_calloc(1, sizeof *info, "dataset info");
  if (!info) return TC_ERR_MEM;
  TcErr err = TC_OK;
  info->protocol = tc_strfmt("%s", p->protocol);
  info->has_seed = !plan->from_manifests;
  info->seed = p->seed;
  info->noise_ratio = p->noise_ratio;
  info->alpha = p->kind == TC_LONGTAIL_PARETO ? p->alpha : 0;
  info->head_ratio = p->kind == TC_LONGTAIL_STEP ? p->head_ratio : 0;
  info->step_k = p->kind == TC_LONGTAIL_STEP ? p->step_k : 0;
  info->n_good = plan->n_good;
  info->n_noise = plan->n_noise;
  info->classes = tc_calloc((size_t)plan->n_classes, sizeof *info->classes, "class info");
  TC_CHECK_GOTO(err, info->protocol && info->classes, TC_ERR_MEM, cleanup, "out of memory");
  info->n_classes = plan->n_classes;
  for (int c = 0; c < plan->n_classes; c++) {
    const TcLongtailClass *k = &plan->classes[c];
    TcClassInfo *o = &info->classes[c];
    o->name = tc_strfmt("%s", k->name);
    o->is_tail = k->is_tail;
    o->n_source_train = k->n_source_train;
    o->n_good = k->n_keep;
    o->n_test_good = k->n_test_good;
    o->n_test_anomaly = k->n_anomaly;
    o->noise = tc_calloc((size_t)k->n_noise + 1, sizeof *o->noise, "noise list");
    o->noise_source = tc_calloc((size_t)k->n_noise + 1, sizeof *o->noise_source, "noise list");
    TC_CHECK_GOTO(err, o->name && o->noise && o->noise_source, TC_ERR_MEM, cleanup, "out of memory");
    for (int64_t i = 0; i < k->n_noise; i++) {
      o->noise[i] = tc_strfmt("%s", k->noise_dst[i]);
      o->noise_source[i] = tc_strfmt("%s", k->noise_src[i]);
      o->n_noise = i + 1;
      TC_CHECK_GOTO(err, o->noise[i] && o->noise_source[i], TC_ERR_MEM, cleanup, "out of memory");
    }
  }
cleanup:
  if (err != TC_OK) tc_dataset_info_destroy(&info);
  *out = info;
  return err;
}

/* mkdir -p for the folders of a file path inside base. */
static TcErr mkdirs_for_(const char *base, const char *rel) {
  char *p = tc_strfmt("%s/%s", base, rel);
  if (!p) return TC_ERR_MEM;
  TcErr err = TC_OK;
  for (char *s = p + strlen(base) + 1; *s; s++) {
    if (*s != '/') continue;
    *s = '\0';
    if (mkdir(p, 0777) != 0 && errno != EEXIST)
      err = tc_err_set(TC_ERR_IO, "%s: cannot create folder: %s", p, strerror(errno));
    *s = '/';
    if (err != TC_OK) break;
  }
  free(p);
  return err;
}

static TcErr copy_file_(const char *from, const char *to) {
  int in = open(from, O_RDONLY);
  TC_CHECK(in >= 0, TC_ERR_IO, "%s: cannot open: %s", from, strerror(errno));
  int o = open(to, O_WRONLY | O_CREAT | O_EXCL, 0666);
  if (o < 0) {
    close(in);
    return tc_err_set(TC_ERR_IO, "%s: cannot create: %s", to, strerror(errno));
  }
  char buf[1 << 16];
  ssize_t n;
  TcErr err = TC_OK;
  while ((n = read(in, buf, sizeof buf)) > 0) {
    for (ssize_t off = 0; off < n;) {
      ssize_t w = write(o, buf + off, (size_t)(n - off));
      if (w <= 0) { err = tc_err_set(TC_ERR_IO, "%s: write failed: %s", to, strerror(errno)); break; }
      off += w;
    }
    if (err != TC_OK) break;
  }
  if (n < 0 && err == TC_OK) err = tc_err_set(TC_ERR_IO, "%s: read failed: %s", from, strerror(errno));
  close(in);
  if (close(o) != 0 && err == TC_OK) err = tc_err_set(TC_ERR_IO, "%s: write failed", to);
  return err;
}

/* Place src_abs/from_rel at tmp/to_rel (symlink to the absolute path, or copy). */
static TcErr place_(const char *src_abs, const char *from_rel, const char *tmp, const char *to_rel,
                    int copy) {
  TC_CALL(mkdirs_for_(tmp, to_rel));
  char *from = tc_strfmt("%s/%s", src_abs, from_rel), *to = tc_strfmt("%s/%s", tmp, to_rel);
  TcErr err = TC_OK;
  if (!from || !to) err = TC_ERR_MEM;
  else if (copy) err = copy_file_(from, to);
  else if (symlink(from, to) != 0)
    err = tc_err_set(TC_ERR_IO, "%s: cannot create symlink: %s", to, strerror(errno));
  free(from);
  free(to);
  return err;
}

TcErr tc_longtail_materialise(const char *src_root, const TcLongtailPlan *plan,
                              const char *out_root, int copy, int force) {
  TcErr err = TC_OK;
  char *out = tc_strfmt("%s", out_root), *tmp = NULL, *old = NULL, *path = NULL, *src_abs = NULL;
  TcDataset *test = NULL;
  TcDatasetInfo *info = NULL;
  TC_CHECK_GOTO(err, out, TC_ERR_MEM, cleanup, "out of memory");
  size_t L = strlen(out);
  while (L > 1 && out[L - 1] == '/') out[--L] = '\0';
  struct stat st;
  TC_CHECK_GOTO(err, force || lstat(out, &st) != 0, TC_ERR_IO, cleanup,
                "%s: already exists (use --force to replace it)", out);
  src_abs = realpath(src_root, NULL);
  TC_CHECK_GOTO(err, src_abs, TC_ERR_IO, cleanup, "%s: %s", src_root, strerror(errno));
  TC_CALL_GOTO(err, tc_dataset_list(src_root, "test", &test), cleanup);
  /* The temporary folder sits next to out_root so the final rename stays
   * on one file system. */
  const char *slash = strrchr(out, '/');
  if (slash)
    tmp = tc_strfmt("%.*s/.%s.tmpXXXXXX", (int)(slash - out), out, slash + 1);
  else
    tmp = tc_strfmt(".%s.tmpXXXXXX", out);
  TC_CHECK_GOTO(err, tmp, TC_ERR_MEM, cleanup, "out of memory");
  if (slash && slash == out) { /* out_root directly under "/" */
    free(tmp);
    tmp = tc_strfmt("/.%s.tmpXXXXXX", out + 1);
    TC_CHECK_GOTO(err, tmp, TC_ERR_MEM, cleanup, "out of memory");
  }
  TC_CALL_GOTO(err, tc_dataset_make_parents(out), cleanup);
  if (!mkdtemp(tmp)) {
    err = tc_err_set(TC_ERR_IO, "%s: cannot create a temporary folder next to it: %s", out,
                     strerror(errno));
    free(tmp);
    tmp = NULL;
    goto cleanup;
  }
  chmod(tmp, 0755);
  for (int c = 0; c < plan->n_classes; c++) {
    const TcLongtailClass *k = &plan->classes[c];
    for (int64_t i = 0; i < k->n_keep; i++)
      TC_CALL_GOTO(err, place_(src_abs, k->keep[i], tmp, k->keep[i], copy), cleanup);
    for (int64_t i = 0; i < k->n_noise; i++)
      TC_CALL_GOTO(err, place_(src_abs, k->noise_src[i], tmp, k->noise_dst[i], copy), cleanup);
  }
  for (int64_t i = 0; i < test->n; i++) {
    TC_CALL_GOTO(err, place_(src_abs, test->items[i].path, tmp, test->items[i].path, copy), cleanup);
    if (test->items[i].mask_path)
      TC_CALL_GOTO(err, place_(src_abs, test->items[i].mask_path, tmp, test->items[i].mask_path, copy),
                   cleanup);
  }
  char *g = tc_strfmt("%s/manifest_good.txt", tmp), *n = tc_strfmt("%s/manifest_noise.txt", tmp);
  if (!g || !n) err = TC_ERR_MEM;
  else err = tc_longtail_write_manifests(plan, g, n);
  free(g);
  free(n);
  if (err != TC_OK) goto cleanup;
  TC_CALL_GOTO(err, tc_longtail_info(plan, &info), cleanup);
  path = tc_strfmt("%s/dataset.json", tmp);
  TC_CHECK_GOTO(err, path, TC_ERR_MEM, cleanup, "out of memory");
  TC_CALL_GOTO(err, tc_dataset_info_write(path, info), cleanup);
  if (lstat(out, &st) == 0) {
    old = tc_strfmt("%s.old", tmp);
    TC_CHECK_GOTO(err, old, TC_ERR_MEM, cleanup, "out of memory");
    TC_CHECK_GOTO(err, rename(out, old) == 0, TC_ERR_IO, cleanup, "%s: cannot move aside: %s", out,
                  strerror(errno));
  }
  if (rename(tmp, out) != 0) {
    err = tc_err_set(TC_ERR_IO, "%s: cannot rename the finished data set into place: %s", out,
                     strerror(errno));
    if (old) rename(old, out);
    goto cleanup;
  }
  free(tmp);
  tmp = NULL;
  if (old) tc_dataset_remove_tree(old);
cleanup:
  if (tmp) tc_dataset_remove_tree(tmp);
  tc_dataset_info_destroy(&info);
  tc_dataset_destroy(&test);
  free(path);
  free(old);
  free(tmp);
  free(src_abs);
  free(out);
  return err;
}
