/* tc-features-merge.c - build one features.h5 from a cached features file and
 * a freshly extracted one, for incremental nightly retraining (issue 8,
 * slurm/cache.sh). Serial: it copies rows, it computes nothing.
 *
 *   tc-features-merge --out OUT.h5 --paths UNION.txt
 *                     [--old CACHE.h5 [--old-list L]] [--new NEW.h5 [--new-list L]]
 *
 * UNION.txt lists the images of the output, one per line, in output order.
 * Each is looked up in NEW first, then in OLD; a path found in neither is an
 * error (exit 3), and OLD rows not listed are dropped (images that
 * disappeared). The name of row i of a file is line i of its --*-list when
 * one is given (the list the file was extracted from: this keeps the merge
 * independent of how extract spells paths inside the file), else the file's
 * own /paths entry. The output keeps each row's stored /paths string.
 *
 * Both inputs must have the same feature attributes (backbone, weights
 * sha256, taps, normalisation, D, E, resize, crop, fmap): features of two
 * backbones never mix (exit 3). The output is written under a temporary name
 * and renamed into place (h5fmt publication); on any error nothing appears
 * under OUT.
 *
 * It is NOT an MPI program in any useful sense: h5fmt writes through MPI-IO,
 * so it calls MPI_Init and uses MPI_COMM_SELF. Run it as one task.
 *
 * Exit status: 0 ok, 2 usage, 3 bad data, 4 I/O, 1 other. */
#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "err.h"         /* TcErr, TC_CALL, tc_err_* */
#include "features_io.h" /* TcFeaturesMeta, tc_features_open/create/read */
#include "h5fmt.h"       /* tc_h5_read_strings, tc_h5_write_rows, publish */
#include "outguard.h"    /* tc_outguard_check, tc_text_open */

#define MERGE_RUN_MAX 64 /* rows copied per read/write */

typedef struct {
  const char *path;   /* the file */
  const char *list;   /* optional list naming its rows */
  TcH5File *f;
  TcFeaturesMeta m;
  char **stored;      /* /paths as stored [N] (one allocation) */
  char **names;       /* names used for look-up [N] (stored, or the list) */
  char *list_buf;
} Src;

typedef struct {
  const char *name;
  int src;            /* 0 = new, 1 = old: new wins on equal names */
  int64_t row;
} Entry;

/* Read a text file into an array of lines (no '\n'; blank lines skipped).
 * *lines and *buf are malloc'd; the caller frees both. */
static TcErr read_lines_(const char *path, char ***lines, int64_t *n, char **buf) {
  FILE *fp = NULL;
  TC_CALL(tc_text_open(path, "list", TC_TEXT_MAX_BYTES, &fp));
  fseek(fp, 0, SEEK_END);
  long sz = ftell(fp);
  fseek(fp, 0, SEEK_SET);
  char *b = tc_malloc((size_t)sz + 2, "list text");
  if (!b) { fclose(fp); return TC_ERR_MEM; }
  size_t got = fread(b, 1, (size_t)sz, fp);
  fclose(fp);
  TC_CHECK(got == (size_t)sz, TC_ERR_IO, "%s: short read", path);
  b[sz] = '\n';
  b[sz + 1] = '\0';
  int64_t cap = 1;
  for (long i = 0; i < sz; i++) cap += b[i] == '\n';
  char **l = tc_malloc(sizeof(char *) * (size_t)cap, "list lines");
  if (!l) { free(b); return TC_ERR_MEM; }
  int64_t k = 0;
  for (char *s = b; *s;) {
    char *e = strchr(s, '\n');
    *e = '\0';
    if (e > s && e[-1] == '\r') e[-1] = '\0';
    if (*s) l[k++] = s;
    s = e + 1;
  }
  *lines = l;
  *n = k;
  *buf = b;
  return TC_OK;
}

static TcErr open_src_(Src *s) {
  TC_CALL(tc_features_open(MPI_COMM_SELF, s->path, &s->f, &s->m));
  TC_CALL(tc_h5_read_strings(s->f, "paths", 0, s->m.N, &s->stored));
  s->names = s->stored;
  if (s->list) {
    int64_t n = 0;
    char **l = NULL;
    TC_CALL(read_lines_(s->list, &l, &n, &s->list_buf));
    s->names = l;
    TC_CHECK(n == s->m.N, TC_ERR_FORMAT, "%s names %lld images but %s holds %lld", s->list,
             (long long)n, s->path, (long long)s->m.N);
  }
  return TC_OK;
}

static int entry_cmp_(const void *a, const void *b) {
  const Entry *x = a, *y = b;
  int c = strcmp(x->name, y->name);
  return c ? c : x->src - y->src;
}

/* First entry with this name (new before old), or NULL. */
static const Entry *find_(const Entry *e, int64_t n, const char *name) {
  int64_t lo = 0, hi = n;
  while (lo < hi) {
    int64_t mid = lo + (hi - lo) / 2;
    if (strcmp(e[mid].name, name) < 0) lo = mid + 1;
    else hi = mid;
  }
  return lo < n && !strcmp(e[lo].name, name) ? &e[lo] : NULL;
}

static TcErr same_meta_(const Src *a, const Src *b) {
  const TcFeaturesMeta *x = &a->m, *y = &b->m;
#define SAME_STR(fld) \
  TC_CHECK(!strcmp(x->fld, y->fld), TC_ERR_FORMAT, "%s and %s differ in %s ('%s' vs '%s'): features of different extractions cannot be merged", a->path, b->path, #fld, x->fld, y->fld)
#define SAME_INT(fld) \
  TC_CHECK(x->fld == y->fld, TC_ERR_FORMAT, "%s and %s differ in %s (%lld vs %lld)", a->path, b->path, #fld, (long long)x->fld, (long long)y->fld)
  SAME_STR(backbone);
  SAME_STR(weights_sha256);
  SAME_STR(taps);
  SAME_STR(normalisation);
  SAME_INT(D);
  SAME_INT(E);
  SAME_INT(resize);
  SAME_INT(crop);
  SAME_INT(fmap_h);
  SAME_INT(fmap_w);
#undef SAME_STR
#undef SAME_INT
  return TC_OK;
}

static void usage_(FILE *out) {
  fprintf(out,
          "usage: tc-features-merge --out OUT.h5 --paths UNION.txt\n"
          "                         [--old CACHE.h5 [--old-list LIST]] [--new NEW.h5 [--new-list LIST]]\n"
          "Build OUT.h5 with the images of UNION.txt (one path a line, output order), taking\n"
          "each from NEW.h5 if it is there, else from CACHE.h5. Rows are named by the\n"
          "matching --*-list (line i names row i) or by the file's /paths. Published atomically.\n"
          "exit status: 0 ok, 2 usage, 3 bad data, 4 I/O.\n");
}

static TcErr run_(int argc, char **argv) {
  const char *out = NULL, *paths = NULL;
  Src src[2];
  memset(src, 0, sizeof src); /* 0 = new, 1 = old */
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (!strcmp(a, "--help") || !strcmp(a, "-h")) {
      usage_(stdout);
      return TC_OK;
    }
    TC_CHECK(i + 1 < argc, TC_ERR_USAGE, "option %s needs a value (see --help)", a);
    const char *v = argv[++i];
    if (!strcmp(a, "--out")) out = v;
    else if (!strcmp(a, "--paths")) paths = v;
    else if (!strcmp(a, "--new")) src[0].path = v;
    else if (!strcmp(a, "--new-list")) src[0].list = v;
    else if (!strcmp(a, "--old")) src[1].path = v;
    else if (!strcmp(a, "--old-list")) src[1].list = v;
    else return tc_err_set(TC_ERR_USAGE, "unknown option '%s' (see --help)", a);
  }
  TC_CHECK(out && paths, TC_ERR_USAGE, "--out and --paths are required (see --help)");
  TC_CHECK(src[0].path || src[1].path, TC_ERR_USAGE, "give --old, --new or both");
  TC_CHECK(!(src[0].list && !src[0].path) && !(src[1].list && !src[1].path), TC_ERR_USAGE,
           "--new-list/--old-list need --new/--old");
  const TcGuardInput in[] = {{"--paths", paths},        {"--new", src[0].path}, {"--new-list", src[0].list},
                             {"--old", src[1].path},    {"--old-list", src[1].list}};
  TC_CALL(tc_outguard_check("--out", out, in, 5));

  TcErr err = TC_OK;
  char **want = NULL, *want_buf = NULL;
  int64_t nwant = 0, nent = 0;
  Entry *ent = NULL;
  const Entry **pick = NULL;
  TcH5File *o = NULL;
  float *buf = NULL;
  const char **opaths = NULL;
  unsigned char *used = NULL;

  TC_CALL_GOTO(err, read_lines_(paths, &want, &nwant, &want_buf), done);
  TC_CHECK_GOTO(err, nwant > 0, TC_ERR_FORMAT, done, "%s: no images: nothing to merge", paths);
  for (int s = 0; s < 2; s++)
    if (src[s].path) TC_CALL_GOTO(err, open_src_(&src[s]), done);
  if (src[0].path && src[1].path) TC_CALL_GOTO(err, same_meta_(&src[0], &src[1]), done);
  const Src *ref = src[0].path ? &src[0] : &src[1];

  /* sorted index of every row of both files */
  int64_t total = (src[0].path ? src[0].m.N : 0) + (src[1].path ? src[1].m.N : 0);
  ent = tc_malloc(sizeof(Entry) * (size_t)(total + 1), "path index");
  pick = tc_malloc(sizeof(Entry *) * (size_t)nwant, "row picks");
  opaths = tc_malloc(sizeof(char *) * (size_t)nwant, "output paths");
  used = tc_calloc((size_t)(total + 1), 1, "used flags");
  TC_CHECK_GOTO(err, ent && pick && opaths && used, TC_ERR_MEM, done, "out of memory");
  for (int s = 0; s < 2; s++)
    for (int64_t r = 0; src[s].path && r < src[s].m.N; r++)
      ent[nent++] = (Entry){src[s].names[r], s, r};
  qsort(ent, (size_t)nent, sizeof(Entry), entry_cmp_);
  for (int64_t k = 1; k < nent; k++)
    TC_CHECK_GOTO(err, strcmp(ent[k].name, ent[k - 1].name) || ent[k].src != ent[k - 1].src,
                  TC_ERR_FORMAT, done, "%s: image '%s' appears twice", src[ent[k].src].path,
                  ent[k].name);

  int64_t from[2] = {0, 0};
  for (int64_t i = 0; i < nwant; i++) {
    const Entry *e = find_(ent, nent, want[i]);
    TC_CHECK_GOTO(err, e, TC_ERR_FORMAT, done, "%s:%lld: '%s' is in neither %s nor %s", paths,
                  (long long)i + 1, want[i], src[0].path ? src[0].path : "(no --new)",
                  src[1].path ? src[1].path : "(no --old)");
    TC_CHECK_GOTO(err, !used[e - ent], TC_ERR_FORMAT, done, "%s: '%s' listed twice", paths, want[i]);
    used[e - ent] = 1;
    pick[i] = e;
    opaths[i] = src[e->src].stored[e->row];
    from[e->src]++;
  }

  TcFeaturesMeta m = ref->m;
  m.N = nwant;
  const int64_t row_len = m.fmap_h * m.fmap_w * m.D;
  buf = tc_malloc(sizeof(float) * (size_t)(row_len * MERGE_RUN_MAX + m.E * MERGE_RUN_MAX),
                  "row buffer");
  TC_CHECK_GOTO(err, buf, TC_ERR_MEM, done, "out of memory");
  float *ebuf = buf + row_len * MERGE_RUN_MAX;
  TC_CALL_GOTO(err, tc_features_create(MPI_COMM_SELF, out, &m, &o), done);
  /* copy runs of consecutive rows of one source with one read and one write */
  for (int64_t i = 0; i < nwant;) {
    int64_t n = 1;
    while (i + n < nwant && n < MERGE_RUN_MAX && pick[i + n]->src == pick[i]->src &&
           pick[i + n]->row == pick[i]->row + n)
      n++;
    Src *s = &src[pick[i]->src];
    TC_CALL_GOTO(err, tc_features_read(s->f, &s->m, pick[i]->row, n, buf, ebuf), fail);
    TC_CALL_GOTO(err, tc_h5_write_rows(o, "features", TC_H5_F32, i, n, buf), fail);
    TC_CALL_GOTO(err, tc_h5_write_rows(o, "embeddings", TC_H5_F32, i, n, ebuf), fail);
    i += n;
  }
  TC_CALL_GOTO(err, tc_h5_write_strings(o, "paths", nwant, 0, nwant, opaths), fail);
  TC_CALL_GOTO(err, tc_h5_set_attr_i64(o, "/", "merged_from_new", from[0]), fail);
  TC_CALL_GOTO(err, tc_h5_set_attr_i64(o, "/", "merged_from_old", from[1]), fail);
  TC_CALL_GOTO(err, tc_h5_publish(&o), done);
  printf("tc-features-merge: %s: %lld images (%lld new, %lld reused, %lld of the old file dropped)\n",
         out, (long long)nwant, (long long)from[0], (long long)from[1],
         (long long)((src[1].path ? src[1].m.N : 0) - from[1]));
  goto done;
fail:
  tc_h5_abandon(&o);
done:
  for (int s = 0; s < 2; s++) {
    tc_h5_close(&src[s].f);
    if (src[s].names != src[s].stored) free(src[s].names);
    free(src[s].stored);
    free(src[s].list_buf);
  }
  free(want);
  free(want_buf);
  free(ent);
  free(pick);
  free(opaths);
  free(used);
  free(buf);
  return err;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  TcErr err = run_(argc, argv);
  if (err) fprintf(stderr, "tc-features-merge: %s\n", tc_err_message());
  MPI_Finalize();
  return tc_err_exit_status(err);
}
