/* test_pcoreset.c - the MPI memory-bank drivers against the serial kernels.
 * Run alone (singleton MPI) by tests/run.sh, and under mpirun with 1-4 ranks
 * by tests/mpi/test_coreset.sh:
 *   - the max-location op: larger value wins, lowest index on ties;
 *   - tc_pcoreset_select (plain and pruned) == serial tc_coreset_select;
 *   - tc_plof_scores == serial tc_lof_scores per position, and
 *     tc_plof_quantile == tc_quantile.
 * Prints "coreset-checksum X" so runs with different rank counts can be
 * compared, and only rank 0 prints the closing line (failures summed).
 *
 * Second mode, a test-data tool until `extract` exists:
 *   test_pcoreset --make-features PATH N FMAP_H FMAP_W D E SEED
 * writes a features.h5 (kind "features") whose embeddings form classes of
 * sizes 40%, 25%, 15% ... of N down to single images, so TailSampler finds a
 * tail, and whose patch features cluster per class with a few outliers.
 *   test_pcoreset --make-bad-features PATH
 * writes a features file whose /embeddings has N-1 rows (a bad-input test). */
#include <math.h>
#include <mpi.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "context.h"
#include "coreset.h"
#include "features_io.h"
#include "lof.h"
#include "log.h"
#include "partition.h"
#include "pcoreset.h"
#include "plof.h"
#include "quantile.h"
#include "rng.h"

static float val_(uint64_t stream, int64_t i) { return (float)(tc_rng_uniform(77, stream, (uint64_t)i) * 2 - 1); }

static int make_features_(MPI_Comm comm, int argc, char **argv) {
  if (argc < 9) { fprintf(stderr, "usage: --make-features PATH N FMAP_H FMAP_W D E SEED\n"); return 2; }
  TcFeaturesMeta m;
  memset(&m, 0, sizeof m);
  m.N = atoll(argv[3]); m.fmap_h = atoll(argv[4]); m.fmap_w = atoll(argv[5]);
  m.D = atoll(argv[6]); m.E = atoll(argv[7]);
  uint64_t seed = (uint64_t)atoll(argv[8]);
  m.resize = 256; m.crop = 224;
  snprintf(m.backbone, sizeof m.backbone, "synthetic");
  snprintf(m.weights_sha256, sizeof m.weights_sha256, "none");
  snprintf(m.taps, sizeof m.taps, "synthetic");
  snprintf(m.normalisation, sizeof m.normalisation, "imagenet");
  int rank = tc_rank(comm), size = tc_size(comm);
  int64_t lo, hi, HW = m.fmap_h * m.fmap_w;
  tc_block_range(m.N, rank, size, &lo, &hi);
  int64_t n = hi - lo;
  float *F = malloc(sizeof(float) * (size_t)((n ? n : 1) * HW * m.D));
  float *E = malloc(sizeof(float) * (size_t)((n ? n : 1) * m.E));
  char **paths = malloc(sizeof(char *) * (size_t)(n ? n : 1));
  for (int64_t i = lo; i < hi; i++) {
    /* class of image i: 40%, 25%, 15%, 10%, then classes of 3, 2, 1 */
    int64_t cls = 0, acc = 0, sizes[64], nc = 0;
    double fr[4] = {0.4, 0.25, 0.15, 0.1};
    for (int c = 0; c < 4; c++) { sizes[nc] = (int64_t)(fr[c] * m.N); acc += sizes[nc++]; }
    while (acc < m.N && nc < 63) {
      int64_t s = nc % 3 == 1 ? 3 : nc % 3 == 2 ? 2 : 1;
      if (s > m.N - acc) s = m.N - acc;
      sizes[nc++] = s; acc += s;
    }
    for (int64_t c = 0, a = 0; c < nc; a += sizes[c], c++)
      if (i >= a && i < a + sizes[c]) cls = c;
    int outlier = tc_rng_uniform(seed, 5, (uint64_t)i) < 0.1;
    for (int64_t e = 0; e < m.E; e++)
      E[(i - lo) * m.E + e] = 1.0f + val_(seed * 100 + 1, cls * m.E + e) + 0.05f * val_(seed * 100 + 2, i * m.E + e);
    for (int64_t p = 0; p < HW; p++)
      for (int64_t d = 0; d < m.D; d++) {
        float base = val_(seed * 100 + 3, (cls * HW + p) * m.D + d);
        float noise = 0.1f * val_(seed * 100 + 4, (i * HW + p) * m.D + d);
        if (outlier && p % 3 == 0) noise *= 20.0f;
        F[((i - lo) * HW + p) * m.D + d] = base + noise;
      }
    paths[i - lo] = malloc(64);
    snprintf(paths[i - lo], 64, "class%02lld/train/good/%04lld.png", (long long)cls, (long long)i);
  }
  TcH5File *f = NULL;
  TcErr err = tc_features_create(comm, argv[2], &m, &f);
  if (!err) err = tc_features_write(f, &m, lo, n, F, E, (const char *const *)paths);
  if (!err) err = tc_h5_publish(&f);
  else tc_h5_abandon(&f);
  if (err && rank == 0) fprintf(stderr, "make-features: %s\n", tc_err_message());
  for (int64_t i = 0; i < n; i++) free(paths[i]);
  free(paths); free(F); free(E);
  return err ? 1 : 0;
}

/* A features file whose /embeddings has one row too few (shapes disagree). */
static int make_bad_features_(MPI_Comm comm, const char *path) {
  TcFeaturesMeta m;
  memset(&m, 0, sizeof m);
  m.N = 4; m.fmap_h = 2; m.fmap_w = 2; m.D = 8; m.E = 4; m.resize = 256; m.crop = 224;
  snprintf(m.backbone, sizeof m.backbone, "synthetic");
  TcH5File *f = NULL;
  int64_t fd[3] = {4, 4, 8}, ed[2] = {3, 4};
  float buf[4 * 4 * 8] = {0};
  int r0 = tc_rank(comm) == 0;
  const char *paths[4] = {"a", "b", "c", "d"};
  TcErr err = tc_h5_create(comm, path, "features", &f);
  if (!err) err = tc_features_meta_write_attrs(f, &m);
  if (!err) err = tc_h5_create_dataset(f, "features", TC_H5_F32, 3, fd, 1);
  if (!err) err = tc_h5_create_dataset(f, "embeddings", TC_H5_F32, 2, ed, 0);
  if (!err) err = tc_h5_write_rows(f, "features", TC_H5_F32, 0, r0 ? 4 : 0, buf);
  if (!err) err = tc_h5_write_rows(f, "embeddings", TC_H5_F32, 0, r0 ? 3 : 0, buf);
  if (!err) err = tc_h5_write_strings(f, "paths", 4, 0, r0 ? 4 : 0, paths);
  if (!err) err = tc_h5_publish(&f);
  else tc_h5_abandon(&f);
  if (err) fprintf(stderr, "make-bad-features: %s\n", tc_err_message());
  return err ? 1 : 0;
}

int main(int argc, char **argv) {
  MPI_Comm comm = tc_mpi_start(&argc, &argv);
  int rank = tc_rank(comm), size = tc_size(comm);
  tc_log_level = 0;
  if (argc > 2 && !strcmp(argv[1], "--make-bad-features")) {
    int rc = make_bad_features_(comm, argv[2]);
    MPI_Comm_free(&comm);
    MPI_Finalize();
    return rc;
  }
  if (argc > 1 && !strcmp(argv[1], "--make-features")) {
    int rc = make_features_(comm, argc, argv);
    MPI_Comm_free(&comm);
    MPI_Finalize();
    return rc;
  }

  /* the op: value first, then lowest index */
  {
    MPI_Datatype type;
    MPI_Op op;
    CHECK(tc_pcoreset_op_create(3, &type, &op) == TC_OK);
    size_t cb = sizeof(TcPcoresetCand) + 3 * sizeof(float);
    TcPcoresetCand *a = calloc(1, cb), *b = calloc(1, cb);
    /* every rank offers value 5 except rank 1 (7, if it exists); ties on
     * value go to the lowest index, whatever rank holds it */
    a->val = rank == 1 ? 7.0f : 5.0f;
    a->gidx = 100 - rank;
    a->vec[0] = (float)rank;
    MPI_Allreduce(a, b, 1, type, op, comm);
    if (size > 1) { CHECK(b->val == 7.0f); CHECK_INT(b->gidx, 99); CHECK(b->vec[0] == 1.0f); }
    else { CHECK(b->val == 5.0f); CHECK_INT(b->gidx, 100); }
    a->val = 5.0f;
    MPI_Allreduce(a, b, 1, type, op, comm);
    CHECK_INT(b->gidx, 100 - (size - 1));
    CHECK(b->vec[0] == (float)(size - 1));
    free(a); free(b);
    tc_pcoreset_op_free(&type, &op);
  }

  /* distributed coreset == serial, plain and pruned, on the same points */
  {
    const int64_t n = 30011, m = 400;
    const int dim = 32;
    float *X = malloc(sizeof(float) * n * dim);
    for (int64_t i = 0; i < n; i++) {
      int64_t cl = tc_rng_index(1, 2, (uint64_t)i, 40);
      for (int c = 0; c < dim; c++)
        X[i * dim + c] = 4 * val_(3, cl * dim + c) + val_(4, i * dim + c);
    }
    for (int c = 0; c < dim; c++) X[77 * dim + c] = X[78 * dim + c]; /* a duplicate */
    int64_t first = tc_coreset_first(0, n);
    int64_t *ref = malloc(sizeof(int64_t) * m), *got = malloc(sizeof(int64_t) * m);
    CHECK(tc_coreset_select(X, n, dim, m, first, 0, ref, NULL) == TC_OK);
    int64_t lo, hi;
    tc_block_range(n, rank, size, &lo, &hi);
    for (int pr = 0; pr < 2; pr++) {
      memset(got, 0xff, sizeof(int64_t) * m);
      CHECK(tc_pcoreset_select(comm, X + lo * dim, hi - lo, lo, n, dim, m, first, pr, got, "t") == TC_OK);
      CHECK_MSG(!memcmp(got, ref, sizeof(int64_t) * m), "pcoreset (pruned=%d) != serial", pr);
    }
    uint64_t h = 1469598103934665603ULL;
    for (int64_t t = 0; t < m; t++) h = (h ^ (uint64_t)got[t]) * 1099511628211ULL;
    if (rank == 0) printf("coreset-checksum %016llx (n=%lld m=%lld ranks=%d)\n", (unsigned long long)h,
                          (long long)n, (long long)m, size);
    /* uneven, even empty, blocks: all points on the last rank */
    int64_t lo2 = rank == size - 1 ? 0 : n, hi2 = n;
    CHECK(tc_pcoreset_select(comm, X + (lo2 < n ? lo2 : 0) * dim, hi2 - lo2, lo2, n, dim, 50, first, 1,
                             got, "t") == TC_OK);
    CHECK(!memcmp(got, ref, sizeof(int64_t) * 50));

    /* every coreset mode == its serial reference; the two-round shards are
     * fixed (n / 3000 -> 11 shards), so 1-4 ranks deal them differently and
     * must still agree; one checksum per mode for tests/mpi/test_coreset.sh */
    const char *modes[] = {"exact", "bf16", "int8", "tworound", "tworound-bf16", "tworound-int8"};
    for (int k = 0; k < 6; k++) {
      TcCoresetMode md = {TC_CORESET_F32, 1, 3000, 2.0, 0};
      CHECK(tc_coreset_mode_parse(modes[k], &md) == TC_OK);
      int64_t mr = 0, mg = 0;
      CHECK(tc_coreset_select_mode(X, n, dim, m, first, &md, ref, &mr) == TC_OK);
      memset(got, 0xff, sizeof(int64_t) * m);
      CHECK(tc_pcoreset_select_mode(comm, X + lo * dim, hi - lo, lo, n, dim, m, first, &md, 1, got, &mg, "t") ==
            TC_OK);
      CHECK_INT(mg, mr);
      CHECK_MSG(mg == mr && !memcmp(got, ref, sizeof(int64_t) * (size_t)mr), "pcoreset mode %s != serial",
                modes[k]);
      uint64_t hm = 1469598103934665603ULL;
      for (int64_t t = 0; t < mg; t++) hm = (hm ^ (uint64_t)got[t]) * 1099511628211ULL;
      if (rank == 0) printf("coreset-checksum-%s %016llx (m=%lld ranks=%d)\n", modes[k], (unsigned long long)hm,
                            (long long)mg, size);
      /* all points on the last rank: the empty ranks still join every exchange */
      memset(got, 0xff, sizeof(int64_t) * m);
      CHECK(tc_pcoreset_select_mode(comm, X + (lo2 < n ? lo2 : 0) * dim, hi2 - lo2, lo2, n, dim, m, first, &md, 1,
                                    got, &mg, "t") == TC_OK);
      CHECK_MSG(mg == mr && !memcmp(got, ref, sizeof(int64_t) * (size_t)mr), "pcoreset mode %s, one full rank",
                modes[k]);
    }
    /* fewer shards than ranks (n / 20000 -> 2 shards: ranks 0 and 2 of 4
     * hold them, rank 1 none) and 5 shards (4 ranks: rank 0 holds shards 0
     * and 4, so its union rows are not one block of the (shard, ordinal)
     * order): still the serial list */
    const int64_t shards[] = {20000, 6003};
    for (int k = 0; k < 2; k++) {
      TcCoresetMode md = {TC_CORESET_F32, 1, shards[k], 2.0, 0};
      CHECK(tc_coreset_mode_parse(k ? "tworound-int8" : "tworound", &md) == TC_OK);
      int64_t mr = 0, mg = 0;
      CHECK(tc_coreset_select_mode(X, n, dim, m, first, &md, ref, &mr) == TC_OK);
      memset(got, 0xff, sizeof(int64_t) * m);
      CHECK(tc_pcoreset_select_mode(comm, X + lo * dim, hi - lo, lo, n, dim, m, first, &md, 1, got, &mg, "t") ==
            TC_OK);
      CHECK_MSG(mg == mr && !memcmp(got, ref, sizeof(int64_t) * (size_t)mr), "pcoreset, shard %lld != serial",
                (long long)shards[k]);
    }
    /* --tail-coreset per-image: 23 groups of 1300 (the last 311 points left
     * out), dealt in whole groups as fit deals tail images (0-1 groups on
     * some ranks); == the serial kernel, f32 and int8, one checksum each */
    {
      const int64_t G = 1300, ng = 23, mg = 2990;
      int64_t g_lo, g_hi;
      tc_block_range(ng, rank, size, &g_lo, &g_hi);
      int64_t *gref = malloc(sizeof(int64_t) * mg), *ggot = malloc(sizeof(int64_t) * mg);
      const char *gmodes[] = {"exact", "int8"};
      for (int k8 = 0; k8 < 2; k8++) {
        TcCoresetMode md = {TC_CORESET_F32, 1, 1, 1.5, 1};
        CHECK(tc_coreset_mode_parse(gmodes[k8], &md) == TC_OK);
        CHECK(tc_coreset_select_groups(X, ng * G, G, dim, mg, &md, 7, TC_CORESET_GROUP_COUNTER, gref) == TC_OK);
        memset(ggot, 0xff, sizeof(int64_t) * mg);
        CHECK(tc_pcoreset_select_groups(comm, X + g_lo * G * dim, (g_hi - g_lo) * G, g_lo * G, ng * G, dim, G, mg,
                                        &md, 1, 7, TC_CORESET_GROUP_COUNTER, ggot, "t") == TC_OK);
        CHECK_MSG(!memcmp(ggot, gref, sizeof(int64_t) * mg), "per-group pcoreset (%s) != serial", gmodes[k8]);
        uint64_t hg = 1469598103934665603ULL;
        for (int64_t t = 0; t < mg; t++) hg = (hg ^ (uint64_t)ggot[t]) * 1099511628211ULL;
        if (rank == 0) printf("coreset-checksum-pergroup-%s %016llx (m=%lld ranks=%d)\n", gmodes[k8],
                              (unsigned long long)hg, (long long)mg, size);
      }
      /* a block that splits a group is refused on every rank, no hang */
      int64_t bl = rank == 0 ? 0 : G + 1, bn = rank == 0 ? G + 1 : (rank == size - 1 ? ng * G - G - 1 : 0);
      if (size == 1) { bl = 0; bn = ng * G; }
      TcCoresetMode md = {TC_CORESET_F32, 1, 1, 1.5, 1};
      TcErr e = tc_pcoreset_select_groups(comm, X + bl * dim, bn, bl, ng * G, dim, G, mg, &md, 1, 7,
                                          TC_CORESET_GROUP_COUNTER, ggot, "t");
      CHECK_MSG(size == 1 ? e == TC_OK : e != TC_OK, "split group on %d rank(s): code %d", size, (int)e);
      free(gref); free(ggot);
    }
    free(X); free(ref); free(got);
  }

  /* distributed LOF and quantile == serial */
  {
    const int64_t N = 37, HW = 11;
    const int dim = 24;
    float *P = malloc(sizeof(float) * N * HW * dim);
    for (int64_t i = 0; i < N * HW * dim; i++) P[i] = val_(9, i) + (i % 7 == 0 ? 3.0f : 0.0f);
    for (int c = 0; c < dim; c++) P[(5 * HW + 2) * dim + c] = P[(6 * HW + 2) * dim + c];
    float *ref = malloc(sizeof(float) * N * HW), *pts = malloc(sizeof(float) * N * dim),
          *sc = malloc(sizeof(float) * N);
    TcLofWork *w = NULL;
    CHECK(tc_lof_work_create(N, dim, 6, &w) == TC_OK);
    for (int64_t p = 0; p < HW; p++) {
      for (int64_t i = 0; i < N; i++) memcpy(pts + i * dim, P + (i * HW + p) * dim, sizeof(float) * dim);
      tc_lof_scores(w, pts, N, sc);
      for (int64_t i = 0; i < N; i++) ref[i * HW + p] = sc[i];
    }
    tc_lof_work_destroy(&w);
    int64_t lo, hi;
    tc_block_range(N, rank, size, &lo, &hi);
    float *got = malloc(sizeof(float) * (hi - lo + 1) * HW);
    CHECK(tc_plof_scores(comm, P + lo * HW * dim, hi - lo, N, HW, dim, 6, got) == TC_OK);
    int same = !memcmp(got, ref + lo * HW, sizeof(float) * (hi - lo) * HW);
    CHECK_MSG(same, "plof != serial LOF");
    double qs[4] = {0.85, 0.5, 0.0, 1.0};
    for (int j = 0; j < 4; j++) {
      float a, b;
      CHECK(tc_quantile(ref, N * HW, qs[j], &a) == TC_OK);
      CHECK(tc_plof_quantile(comm, got, (hi - lo) * HW, qs[j], &b) == TC_OK);
      CHECK_MSG(a == b, "quantile %g: %g vs %g", qs[j], a, b);
    }
    free(P); free(ref); free(pts); free(sc); free(got);
  }
  int fails[2] = {tc_test_passed_, tc_test_failed_}, tot[2];
  MPI_Allreduce(fails, tot, 2, MPI_INT, MPI_SUM, comm);
  int rc = tot[1] ? 1 : 0;
  if (rank == 0) printf("%d passed, %d failed\n", tot[0], tot[1]);
  MPI_Comm_free(&comm);
  MPI_Finalize();
  return rc;
}
