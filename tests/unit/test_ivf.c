/* test_ivf.c - the IVF index (src/ivf.h): reordering, probe-all = exact,
 * separated clusters with one probe, determinism, ties to the lowest row;
 * the split build (every part's rows are the serial build's bits), restore
 * from stored parts and the index file (src/ivf_io.h) round trip.
 * Integer-valued data keeps every sgemm key exact, so the comparisons with
 * the exact search hold on any BLAS kernel. HDF5 on MPI_COMM_SELF. */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "h5_test.h"
#include "ivf.h"
#include "ivf_io.h"
#include "rng.h"
#include "score.h"

static char dir_[512];

/* integers in [-r, r] */
static void fill_int_(float *x, int64_t n, int r, uint64_t seed) {
  for (int64_t i = 0; i < n; i++) x[i] = (float)(tc_rng_index(seed, TC_RNG_STREAM_TEST, (uint64_t)i, 2 * r + 1) - r);
}

/* ivf search vs exact search of the original bank: number of queries whose
 * index or distance differ */
static int64_t mismatches_(const TcIvf *ivf, const float *perm_bank, const float *orig, int64_t M, int64_t D,
                           const float *Q, int64_t q, int64_t nprobe) {
  TcScoreNN *nn = malloc(sizeof(TcScoreNN) * (size_t)q);
  float *norms = malloc(sizeof(float) * (size_t)M), *dist = malloc(sizeof(float) * (size_t)q);
  int64_t *idx = malloc(sizeof(int64_t) * (size_t)q), bad = 0;
  tc_score_row_norms(orig, M, D, norms);
  if (tc_ivf_search(ivf, perm_bank, Q, q, nprobe, nn) || tc_score_nn_bank(Q, q, orig, norms, M, D, dist, idx)) bad = -1;
  for (int64_t i = 0; bad >= 0 && i < q; i++)
    if (nn[i].index != idx[i] || nn[i].dist != dist[i]) bad++;
  free(nn);
  free(norms);
  free(dist);
  free(idx);
  return bad;
}

static void test_probe_all_is_exact_(void) {
  const int64_t M = 300, D = 8, q = 200;
  float *orig = malloc(sizeof(float) * M * D), *bank = malloc(sizeof(float) * M * D), *Q = malloc(sizeof(float) * q * D);
  fill_int_(orig, M * D, 3, 1);
  fill_int_(Q, q * D, 3, 2);
  memcpy(bank, orig, sizeof(float) * M * D);
  TcIvf ivf;
  CHECK_INT(tc_ivf_build(bank, M, D, 7, 10, 42, &ivf), TC_OK);
  CHECK_INT(ivf.nlist, 7);
  CHECK_INT(ivf.list_start[0], 0);
  CHECK_INT(ivf.list_start[7], M);
  /* the bank is reordered: position k holds row order[k]; pos inverts it;
   * rows of one list ascend */
  int bad = 0;
  for (int64_t k = 0; k < M; k++) {
    if (memcmp(bank + k * D, orig + ivf.order[k] * D, sizeof(float) * D)) bad++;
    if (ivf.pos[ivf.order[k]] != k) bad++;
  }
  for (int64_t l = 0; l < 7; l++)
    for (int64_t k = ivf.list_start[l] + 1; k < ivf.list_start[l + 1]; k++)
      if (ivf.order[k] <= ivf.order[k - 1]) bad++;
  CHECK_INT(bad, 0);
  /* many equal keys (small integers): every tie must go to the lowest row */
  CHECK_INT(mismatches_(&ivf, bank, orig, M, D, Q, q, 7), 0);
  CHECK_INT(mismatches_(&ivf, bank, orig, M, D, Q, q, 100), 0); /* clamped to nlist */
  /* fewer probes: never better than exact, and a real neighbour */
  TcScoreNN *nn = malloc(sizeof(TcScoreNN) * q);
  CHECK_INT(tc_ivf_search(&ivf, bank, Q, q, 2, nn), TC_OK);
  float *norms = malloc(sizeof(float) * M), *dist = malloc(sizeof(float) * q);
  tc_score_row_norms(orig, M, D, norms);
  tc_score_nn_bank(Q, q, orig, norms, M, D, dist, NULL);
  bad = 0;
  int64_t hits = 0;
  for (int64_t i = 0; i < q; i++) {
    if (nn[i].index < 0 || nn[i].index >= M || nn[i].dist < dist[i]) bad++;
    hits += nn[i].dist == dist[i];
  }
  CHECK_INT(bad, 0);
  CHECK_MSG(hits > q / 2, "recall with 2 of 7 probes: %lld of %lld", (long long)hits, (long long)q);
  tc_ivf_free(&ivf);
  /* one list = exact; nlist > M is clamped to M (every row its own list) */
  memcpy(bank, orig, sizeof(float) * M * D);
  CHECK_INT(tc_ivf_build(bank, M, D, 1, 3, 42, &ivf), TC_OK);
  CHECK_INT(mismatches_(&ivf, bank, orig, M, D, Q, q, 1), 0);
  tc_ivf_free(&ivf);
  memcpy(bank, orig, sizeof(float) * 20 * D);
  CHECK_INT(tc_ivf_build(bank, 20, D, 50, 3, 42, &ivf), TC_OK);
  CHECK_INT(ivf.nlist, 20);
  CHECK_INT(mismatches_(&ivf, bank, orig, 20, D, Q, q, 20), 0);
  tc_ivf_free(&ivf);
  free(nn);
  free(norms);
  free(dist);
  free(orig);
  free(bank);
  free(Q);
}

/* four clusters 100 apart, integer noise in [-2, 2]: each list is one
 * cluster, and one probe finds every query's exact neighbour */
static void test_separated_clusters_(void) {
  const int64_t K = 4, per = 40, M = K * per, D = 16, q = 120;
  float *orig = malloc(sizeof(float) * M * D), *bank = malloc(sizeof(float) * M * D), *Q = malloc(sizeof(float) * q * D);
  fill_int_(orig, M * D, 2, 3);
  fill_int_(Q, q * D, 2, 4);
  /* rows interleaved over the clusters: row r is in cluster r % K */
  for (int64_t r = 0; r < M; r++) orig[r * D + (r % K)] += 100.0f;
  for (int64_t i = 0; i < q; i++) Q[i * D + (i % K)] += 100.0f;
  memcpy(bank, orig, sizeof(float) * M * D);
  TcIvf ivf;
  CHECK_INT(tc_ivf_build(bank, M, D, K, 10, 7, &ivf), TC_OK);
  int bad = 0;
  for (int64_t l = 0; l < K; l++) {
    if (ivf.list_start[l + 1] - ivf.list_start[l] != per) bad++;
    for (int64_t k = ivf.list_start[l]; k < ivf.list_start[l + 1]; k++)
      if (ivf.order[k] % K != ivf.order[ivf.list_start[l]] % K) bad++;
  }
  CHECK_MSG(bad == 0, "k-means did not find the 4 clusters");
  CHECK_INT(mismatches_(&ivf, bank, orig, M, D, Q, q, 1), 0);
  tc_ivf_free(&ivf);
  free(orig);
  free(bank);
  free(Q);
}

/* same seed -> same centroids and order; the default nlist */
static void test_determinism_(void) {
  const int64_t M = 2000, D = 12;
  float *orig = malloc(sizeof(float) * M * D), *b1 = malloc(sizeof(float) * M * D), *b2 = malloc(sizeof(float) * M * D);
  for (int64_t i = 0; i < M * D; i++) orig[i] = tc_rng_uniform_f(5, TC_RNG_STREAM_TEST, (uint64_t)i, -1.0f, 1.0f);
  memcpy(b1, orig, sizeof(float) * M * D);
  memcpy(b2, orig, sizeof(float) * M * D);
  TcIvf a, b;
  int64_t nl = tc_ivf_default_nlist(M);
  CHECK_INT(nl, 179);
  CHECK_INT(tc_ivf_default_nlist(1), 1);
  CHECK_INT(tc_ivf_default_nlist(2), 2); /* round(4 sqrt 2) = 6, clamped to the rows */
  CHECK_INT(tc_ivf_build(b1, M, D, nl, 10, 99, &a), TC_OK);
  CHECK_INT(tc_ivf_build(b2, M, D, nl, 10, 99, &b), TC_OK);
  CHECK(memcmp(a.centroids, b.centroids, sizeof(float) * nl * D) == 0);
  CHECK(memcmp(a.order, b.order, sizeof(int64_t) * M) == 0);
  CHECK(memcmp(b1, b2, sizeof(float) * M * D) == 0);
  /* trained on 32 rows a list at most: 179 * 32 > 2000, so every row */
  CHECK_INT(a.n_train, M);
  tc_ivf_free(&b);
  memcpy(b2, orig, sizeof(float) * M * D);
  CHECK_INT(tc_ivf_build(b2, M, D, nl, 10, 100, &b), TC_OK);
  CHECK(memcmp(a.centroids, b.centroids, sizeof(float) * nl * D) != 0);
  tc_ivf_free(&b);
  /* a smaller training sample: 10 lists x 32 rows of 2000 */
  memcpy(b2, orig, sizeof(float) * M * D);
  CHECK_INT(tc_ivf_build(b2, M, D, 10, 5, 99, &b), TC_OK);
  CHECK_INT(b.n_train, 320);
  CHECK_INT(b.list_start[10], M);
  tc_ivf_free(&b);
  /* 32 probes are inserted, 33 sorted: the 33 nearest lists hold the 32
   * nearest, so never a farther neighbour, never nearer than exact */
  {
    const int64_t q = 300;
    float *Q = malloc(sizeof(float) * q * D), *nrm = malloc(sizeof(float) * M), *ex = malloc(sizeof(float) * q);
    TcScoreNN *n32 = malloc(sizeof(TcScoreNN) * q), *n33 = malloc(sizeof(TcScoreNN) * q);
    for (int64_t i = 0; i < q * D; i++) Q[i] = tc_rng_uniform_f(6, TC_RNG_STREAM_TEST, (uint64_t)i, -1.0f, 1.0f);
    tc_score_row_norms(orig, M, D, nrm);
    tc_score_nn_bank(Q, q, orig, nrm, M, D, ex, NULL);
    CHECK_INT(tc_ivf_search(&a, b1, Q, q, 32, n32), TC_OK);
    CHECK_INT(tc_ivf_search(&a, b1, Q, q, 33, n33), TC_OK);
    int64_t worse = 0, below = 0;
    for (int64_t i = 0; i < q; i++) {
      worse += n33[i].dist > n32[i].dist;
      below += n33[i].dist < ex[i];
    }
    CHECK_INT(worse, 0);
    CHECK_INT(below, 0);
    free(Q);
    free(nrm);
    free(ex);
    free(n32);
    free(n33);
  }
  tc_ivf_free(&a);
  free(orig);
  free(b1);
  free(b2);
}

/* equal distances: the lowest global row wins, within a list and across lists */
static void test_ties_(void) {
  const int64_t D = 2;
  /* rows 1, 4 and 6 are (1, 0); rows 0 and 5 are (-1, 0): all at distance 1
   * from the query (0, 0); far rows make other lists */
  float orig[] = {-1, 0, 50, 50, -50, 50, 50, -50, 1, 0, -1, 0, 1, 0, -50, -50};
  const int64_t M = 8;
  float bank[16];
  memcpy(bank, orig, sizeof bank);
  /* row order 0..7: (-1,0) (50,50) (-50,50) (50,-50) (1,0) (-1,0) (1,0) (-50,-50) */
  TcIvf ivf;
  CHECK_INT(tc_ivf_build(bank, M, D, 5, 10, 1, &ivf), TC_OK);
  float Q[2] = {0, 0};
  TcScoreNN nn;
  CHECK_INT(tc_ivf_search(&ivf, bank, Q, 1, 5, &nn), TC_OK);
  CHECK_INT(nn.index, 0);
  CHECK(nn.dist == 1.0f);
  /* (1, 0) and (-1, 0) are 2 apart: with (2, 0) as query the lowest (1, 0) row, 4 */
  float Q2[2] = {2, 0};
  CHECK_INT(tc_ivf_search(&ivf, bank, Q2, 1, 5, &nn), TC_OK);
  CHECK_INT(nn.index, 4);
  tc_ivf_free(&ivf);
  /* 30 copies of 3 distinct rows, 10 lists: most lists end up empty and are
   * never probed; every query still gets its exact neighbour */
  float dup[60], dup0[60];
  for (int r = 0; r < 30; r++) {
    dup0[2 * r] = (float)(r % 3) * 10.0f;
    dup0[2 * r + 1] = 0.0f;
  }
  memcpy(dup, dup0, sizeof dup);
  CHECK_INT(tc_ivf_build(dup, 30, 2, 10, 5, 3, &ivf), TC_OK);
  int64_t full = 0;
  for (int l = 0; l < 10; l++) full += ivf.list_start[l + 1] > ivf.list_start[l];
  CHECK_INT(full, 3);
  float Q3[6] = {1, 0, 9, 1, 21, 0};
  TcScoreNN n3[3];
  for (int64_t np = 1; np <= 10; np++) {
    CHECK_INT(tc_ivf_search(&ivf, dup, Q3, 3, np, n3), TC_OK);
    CHECK_INT(n3[0].index, 0);
    CHECK_INT(n3[1].index, 1);
    CHECK_INT(n3[2].index, 2);
  }
  tc_ivf_free(&ivf);
  /* bad sizes */
  CHECK_INT(tc_ivf_build(bank, 0, D, 5, 10, 1, &ivf), TC_ERR_USAGE);
  CHECK_INT(tc_ivf_build(bank, M, D, 5, 0, 1, &ivf), TC_ERR_USAGE);
}

/* the parts' rows: whole 1024-row blocks, contiguous, covering [0, n) once */
static void test_part_rows_(void) {
  const int64_t ns[] = {0, 1, 1023, 1024, 1025, 3000, 3 * 1024, 10000};
  int bad = 0;
  for (size_t i = 0; i < sizeof ns / sizeof ns[0]; i++)
    for (int k = 1; k <= 8; k++) {
      int64_t next = 0;
      for (int p = 0; p < k; p++) {
        int64_t lo, hi;
        tc_ivf_part_rows(ns[i], p, k, &lo, &hi);
        if (lo != next || hi < lo || (lo % TC_IVF_ASSIGN_BLOCK && lo != ns[i]) ||
            (hi % TC_IVF_ASSIGN_BLOCK && hi != ns[i]))
          bad++;
        next = hi;
      }
      if (next != ns[i]) bad++;
    }
  CHECK_INT(bad, 0);
  int64_t lo, hi;
  tc_ivf_part_rows(3000, 1, 2, &lo, &hi); /* 3 blocks over 2 parts: 2 + 1 */
  CHECK_INT(lo, 2048);
  CHECK_INT(hi, 3000);
  tc_ivf_part_rows(1600, 2, 3, &lo, &hi); /* 2 blocks over 3 parts: the last gets none */
  CHECK_INT(lo, 1600);
  CHECK_INT(hi, 1600);
}

/* The split build without MPI: a serial build records every assignment
 * (n, assign, key) through its share callback; then each part of a k-part
 * build checks its own rows against the record, bit for bit, and takes the
 * other parts' rows from it, as an Allgatherv would bring them. */
#define LOG_MAX_ 16
typedef struct {
  int64_t ncalls, n[LOG_MAX_];
  int64_t *asg[LOG_MAX_];
  float *key[LOG_MAX_];
  int part, nparts;
  int64_t own_mismatch, replayed;
} Log_;

static TcErr agree_local_(void *ctx, TcErr local) {
  (void)ctx;
  return local;
}

static TcErr record_(void *ctx, int64_t n, int64_t *assign, float *key) {
  Log_ *g = ctx;
  if (g->ncalls == LOG_MAX_) return tc_err_set(TC_ERR_INTERNAL, "test log full");
  g->n[g->ncalls] = n;
  g->asg[g->ncalls] = malloc(sizeof(int64_t) * (size_t)n);
  g->key[g->ncalls] = malloc(sizeof(float) * (size_t)n);
  memcpy(g->asg[g->ncalls], assign, sizeof(int64_t) * (size_t)n);
  memcpy(g->key[g->ncalls], key, sizeof(float) * (size_t)n);
  g->ncalls++;
  return TC_OK;
}

static TcErr replay_(void *ctx, int64_t n, int64_t *assign, float *key) {
  Log_ *g = ctx;
  int64_t c = g->replayed++, lo, hi;
  if (c >= g->ncalls || g->n[c] != n) return tc_err_set(TC_ERR_INTERNAL, "call %lld not in the log", (long long)c);
  tc_ivf_part_rows(n, g->part, g->nparts, &lo, &hi);
  if (memcmp(assign + lo, g->asg[c] + lo, sizeof(int64_t) * (size_t)(hi - lo)) ||
      memcmp(key + lo, g->key[c] + lo, sizeof(float) * (size_t)(hi - lo)))
    g->own_mismatch++;
  memcpy(assign, g->asg[c], sizeof(int64_t) * (size_t)n);
  memcpy(key, g->key[c], sizeof(float) * (size_t)n);
  return TC_OK;
}

/* two indexes and their reordered banks are the same bits */
static int same_ivf_(const TcIvf *a, const TcIvf *b, const float *ba, const float *bb) {
  if (a->M != b->M || a->D != b->D || a->nlist != b->nlist || a->n_train != b->n_train || a->iters != b->iters ||
      a->seed != b->seed)
    return 0;
  const size_t M = (size_t)a->M, D = (size_t)a->D, L = (size_t)a->nlist;
  return !memcmp(a->centroids, b->centroids, sizeof(float) * L * D) &&
         !memcmp(a->cnorms, b->cnorms, sizeof(float) * L) &&
         !memcmp(a->list_start, b->list_start, sizeof(int64_t) * (L + 1)) &&
         !memcmp(a->order, b->order, sizeof(int64_t) * M) && !memcmp(a->pos, b->pos, sizeof(int64_t) * M) &&
         !memcmp(a->norms, b->norms, sizeof(float) * M) && !memcmp(ba, bb, sizeof(float) * M * D);
}

static void test_split_is_serial_(void) {
  /* 80 lists x 32 = 2560 training rows (3 blocks) of 3000 (3 blocks) */
  const int64_t M = 3000, D = 8, nlist = 80;
  float *orig = malloc(sizeof(float) * M * D), *b0 = malloc(sizeof(float) * M * D), *b1 = malloc(sizeof(float) * M * D);
  for (int64_t i = 0; i < M * D; i++) orig[i] = tc_rng_uniform_f(8, TC_RNG_STREAM_TEST, (uint64_t)i, -1.0f, 1.0f);
  memcpy(b0, orig, sizeof(float) * M * D);
  TcIvf ref, rec, part;
  CHECK_INT(tc_ivf_build(b0, M, D, nlist, 10, 5, &ref), TC_OK);
  CHECK_INT(ref.n_train, 2560);
  Log_ g;
  memset(&g, 0, sizeof g);
  memcpy(b1, orig, sizeof(float) * M * D);
  TcIvfSplit one = {0, 1, &g, agree_local_, record_};
  CHECK_INT(tc_ivf_build_split(b1, M, D, nlist, 10, 5, &one, &rec), TC_OK);
  CHECK_INT(g.ncalls, 11); /* 10 iterations and the whole bank */
  CHECK(same_ivf_(&ref, &rec, b0, b1));
  tc_ivf_free(&rec);
  for (int k = 2; k <= 4; k++)
    for (int p = 0; p < k; p++) {
      g.part = p;
      g.nparts = k;
      g.replayed = g.own_mismatch = 0;
      memcpy(b1, orig, sizeof(float) * M * D);
      TcIvfSplit sp = {p, k, &g, agree_local_, replay_};
      CHECK_INT(tc_ivf_build_split(b1, M, D, nlist, 10, 5, &sp, &part), TC_OK);
      CHECK_INT(g.replayed, 11);
      CHECK_MSG(g.own_mismatch == 0, "part %d of %d: its rows differ from the serial build's", p, k);
      CHECK_MSG(same_ivf_(&ref, &part, b0, b1), "part %d of %d: another index", p, k);
      tc_ivf_free(&part);
    }
  /* a part that cannot allocate: the agreed error, nothing held */
  TcIvfSplit bad = {3, 2, &g, agree_local_, replay_};
  CHECK_INT(tc_ivf_build_split(b1, M, D, nlist, 10, 5, &bad, &part), TC_ERR_USAGE);
  CHECK(part.centroids == NULL);
  for (int64_t c = 0; c < g.ncalls; c++) {
    free(g.asg[c]);
    free(g.key[c]);
  }
  tc_ivf_free(&ref);
  free(orig);
  free(b0);
  free(b1);
}

/* a copy of what the index file stores: centroids, list_start, order and
 * the sizes, as tc_ivf_io_read hands them to tc_ivf_restore */
static void stored_(const TcIvf *a, TcIvf *s) {
  memset(s, 0, sizeof *s);
  s->M = a->M;
  s->D = a->D;
  s->nlist = a->nlist;
  s->n_train = a->n_train;
  s->iters = a->iters;
  s->seed = a->seed;
  s->centroids = malloc(sizeof(float) * (size_t)(a->nlist * a->D));
  s->list_start = malloc(sizeof(int64_t) * (size_t)(a->nlist + 1));
  s->order = malloc(sizeof(int64_t) * (size_t)a->M);
  memcpy(s->centroids, a->centroids, sizeof(float) * (size_t)(a->nlist * a->D));
  memcpy(s->list_start, a->list_start, sizeof(int64_t) * (size_t)(a->nlist + 1));
  memcpy(s->order, a->order, sizeof(int64_t) * (size_t)a->M);
}

/* six 1-d rows, two clusters {0, 1, 2} (rows 0, 2, 4) and {10, 11, 12}
 * (rows 1, 3, 5): the lists and centroids 1 and 11 by hand; restored from
 * the stored parts (in memory, then through index.h5) it is the same index */
static void test_restore_(void) {
  const float orig[6] = {0, 10, 1, 11, 2, 12};
  float bank[6], b2[6];
  memcpy(bank, orig, sizeof bank);
  TcIvf ivf, s;
  CHECK_INT(tc_ivf_build(bank, 6, 1, 2, 10, 3, &ivf), TC_OK);
  int lo = orig[ivf.order[0]] < 5.0f ? 0 : 1; /* the list of the low cluster */
  CHECK_INT(ivf.list_start[1], 3);
  CHECK(ivf.centroids[lo] == 1.0f && ivf.centroids[1 - lo] == 11.0f);
  for (int k = 0; k < 3; k++) {
    CHECK_INT(ivf.order[3 * lo + k], 2 * k);
    CHECK_INT(ivf.order[3 * (1 - lo) + k], 2 * k + 1);
    CHECK(bank[3 * lo + k] == (float)k);
  }
  stored_(&ivf, &s);
  memcpy(b2, orig, sizeof b2);
  CHECK_INT(tc_ivf_restore(b2, "mem", &s), TC_OK);
  CHECK(same_ivf_(&ivf, &s, bank, b2));
  tc_ivf_free(&s);

  /* through the file */
  char path[600];
  snprintf(path, sizeof path, "%s/index.h5", dir_);
  TcH5File *f = NULL;
  CHECK_INT(tc_ivf_io_create(MPI_COMM_SELF, path, 1, &ivf, 0xfedcba9876543210ULL, "model.h5", "test", &f), TC_OK);
  CHECK_INT(tc_h5_publish(&f), TC_OK);
  TcIvfFileMeta m;
  CHECK_INT(tc_ivf_io_open(MPI_COMM_SELF, path, &f, &m), TC_OK);
  CHECK_INT(m.M, 6);
  CHECK_INT(m.D, 1);
  CHECK_INT(m.nlist, 2);
  CHECK_INT(m.iters, 10);
  CHECK(m.seed == 3 && m.bank_digest == 0xfedcba9876543210ULL);
  CHECK_INT(tc_ivf_io_read(f, &m, &s), TC_OK);
  tc_h5_close(&f);
  memcpy(b2, orig, sizeof b2);
  CHECK_INT(tc_ivf_restore(b2, path, &s), TC_OK);
  CHECK(same_ivf_(&ivf, &s, bank, b2));
  tc_ivf_free(&s);
  /* a folder is not an index file */
  CHECK_INT(tc_ivf_io_open(MPI_COMM_SELF, dir_, &f, &m) != TC_OK, 1);

  /* damaged parts: refused, naming the source; the bank untouched */
  for (int c = 0; c < 5; c++) {
    stored_(&ivf, &s);
    if (c == 0) s.order[1] = s.order[0]; /* a row twice */
    if (c == 1) s.list_start[2] = 5;     /* the lists end short of M */
    if (c == 2) s.list_start[1] = 4;     /* a list running into the next: its rows do not ascend */
    if (c == 3) s.centroids[0] = NAN;
    if (c == 4) s.order[5] = 6;          /* not a bank row */
    memcpy(b2, orig, sizeof b2);
    tc_err_clear(); /* the first message wins: start from none */
    CHECK_INT(tc_ivf_restore(b2, "idx.h5", &s), TC_ERR_FORMAT);
    CHECK_MSG(strstr(tc_err_message(), "idx.h5") != NULL, "case %d: %s", c, tc_err_message());
    tc_err_clear();
    CHECK(!memcmp(b2, orig, sizeof b2) && s.centroids == NULL && s.order == NULL);
  }
  tc_ivf_free(&ivf);
}

/* tc_ivf_certify_max: after a one-list search (many misses), the max patch
 * score equals the exact search's max, with and without weights; patches
 * not rescored keep the search's neighbour; a clustered image closes the
 * bound in the first batch; nothing scored above the returned max. */
static void test_certify_(void) {
  const int64_t M = 600, D = 16, q = 300;
  float *orig = malloc(sizeof(float) * M * D), *bank = malloc(sizeof(float) * M * D), *Q = malloc(sizeof(float) * q * D);
  float *norms = malloc(sizeof(float) * M), *dist = malloc(sizeof(float) * q), *w = malloc(sizeof(float) * M);
  int64_t *idx = malloc(sizeof(int64_t) * q);
  TcScoreNN *nn = malloc(sizeof(TcScoreNN) * q), *raw = malloc(sizeof(TcScoreNN) * q);
  fill_int_(orig, M * D, 5, 11);
  fill_int_(Q, q * D, 5, 12);
  for (int64_t r = 0; r < M; r++) w[r] = 0.5f + (float)(r % 7) * 0.25f;
  memcpy(bank, orig, sizeof(float) * M * D);
  tc_score_row_norms(orig, M, D, norms);
  CHECK_INT(tc_score_nn_bank(Q, q, orig, norms, M, D, dist, idx), TC_OK);
  TcIvf ivf;
  CHECK_INT(tc_ivf_build(bank, M, D, 30, 5, 3, &ivf), TC_OK);
  for (int weighted = 0; weighted < 2; weighted++) {
    const float *wt = weighted ? w : NULL;
    float ex_max = -INFINITY, raw_max = -INFINITY;
    for (int64_t i = 0; i < q; i++) {
      float s = wt ? dist[i] * wt[idx[i]] : dist[i];
      if (s > ex_max) ex_max = s;
    }
    CHECK_INT(tc_ivf_search(&ivf, bank, Q, q, 1, nn), TC_OK);
    memcpy(raw, nn, sizeof(TcScoreNN) * q);
    int64_t misses = 0;
    for (int64_t i = 0; i < q; i++) {
      misses += raw[i].dist > dist[i];
      float s = wt ? raw[i].dist * wt[raw[i].index] : raw[i].dist;
      if (s > raw_max) raw_max = s;
    }
    CHECK_MSG(misses > q / 10, "one probe of 30 lists should miss often (%lld misses)", (long long)misses);
    int64_t n_exact = -1;
    CHECK_INT(tc_ivf_certify_max(&ivf, bank, Q, q, wt, 2.0f, NULL, 0, nn, &n_exact), TC_OK); /* w: 0.5 .. 2 */
    float got = -INFINITY;
    int64_t changed = 0, bad = 0;
    for (int64_t i = 0; i < q; i++) {
      float s = wt ? nn[i].dist * wt[nn[i].index] : nn[i].dist;
      if (s > got) got = s;
      if (memcmp(&nn[i], &raw[i], sizeof nn[i])) {
        changed++;
        /* a rescored patch holds the exact search's neighbour */
        if (nn[i].index != idx[i] || nn[i].dist != dist[i]) bad++;
      }
    }
    CHECK_MSG(got == ex_max, "weighted %d: certified max %g, exact max %g (raw %g)", weighted, (double)got,
              (double)ex_max, (double)raw_max);
    CHECK_INT(bad, 0);
    CHECK_MSG(n_exact >= 1 && n_exact <= q && changed <= n_exact, "weighted %d: %lld rescored, %lld changed",
              weighted, (long long)n_exact, (long long)changed);
  }
  /* every query a bank row + its own small offset (the row stays its
   * nearest): the first batches close the bound */
  for (int64_t i = 0; i < q; i++)
    for (int64_t d = 0; d < D; d++) Q[i * D + d] = orig[(i * 7 % M) * D + d] + (d == 0 ? 0.0015f * (float)(i + 1) : 0.0f);
  CHECK_INT(tc_ivf_search(&ivf, bank, Q, q, 1, nn), TC_OK);
  int64_t n_exact = -1;
  CHECK_INT(tc_ivf_certify_max(&ivf, bank, Q, q, NULL, 0.0f, NULL, 0, nn, &n_exact), TC_OK);
  CHECK_MSG(n_exact <= TC_IVF_CERTIFY_FIRST * 3, "near-bank queries: %lld rescored", (long long)n_exact);
  float mx = -INFINITY;
  for (int64_t i = 0; i < q; i++) mx = nn[i].dist > mx ? nn[i].dist : mx;
  CHECK_MSG(fabsf(mx - 0.2025f) < 1e-5f, "near-bank max %g (expected 0.45^2)", (double)mx);
  CHECK_INT(tc_ivf_certify_max(&ivf, bank, Q, 0, NULL, 0.0f, NULL, 0, nn, &n_exact), TC_OK);
  CHECK_INT(n_exact, 0);
  /* first[] (the recall sample): those patches leave with the exact
   * neighbour whatever their bound, are not counted, and the max is the same */
  fill_int_(Q, q * D, 5, 12);
  {
    const int64_t first[] = {3, 150, 299, 0};
    const int64_t nf = 4;
    CHECK_INT(tc_ivf_search(&ivf, bank, Q, q, 1, nn), TC_OK);
    memcpy(raw, nn, sizeof(TcScoreNN) * q);
    int64_t n_plain = -1, n_first = -1;
    CHECK_INT(tc_ivf_certify_max(&ivf, bank, Q, q, NULL, 0.0f, NULL, 0, nn, &n_plain), TC_OK);
    float m_plain = -INFINITY;
    for (int64_t i = 0; i < q; i++) m_plain = nn[i].dist > m_plain ? nn[i].dist : m_plain;
    memcpy(nn, raw, sizeof(TcScoreNN) * q);
    CHECK_INT(tc_ivf_certify_max(&ivf, bank, Q, q, NULL, 0.0f, first, nf, nn, &n_first), TC_OK);
    float m_first = -INFINITY;
    for (int64_t i = 0; i < q; i++) m_first = nn[i].dist > m_first ? nn[i].dist : m_first;
    CHECK_MSG(m_first == m_plain, "max with first[] %g, without %g", (double)m_first, (double)m_plain);
    for (int64_t k = 0; k < nf; k++)
      CHECK_MSG(nn[first[k]].index == idx[first[k]] && nn[first[k]].dist == dist[first[k]],
                "first patch %lld: row %lld dist %g, exact row %lld dist %g", (long long)first[k],
                (long long)nn[first[k]].index, (double)nn[first[k]].dist, (long long)idx[first[k]],
                (double)dist[first[k]]);
    CHECK_MSG(n_first >= 1 && n_first <= q - nf, "%lld rescored for their bound", (long long)n_first);
    const int64_t dup[] = {5, 5};
    memcpy(nn, raw, sizeof(TcScoreNN) * q);
    CHECK_INT(tc_ivf_certify_max(&ivf, bank, Q, q, NULL, 0.0f, dup, 2, nn, &n_first), TC_ERR_USAGE);
    tc_err_clear();
  }
  tc_ivf_free(&ivf);
  free(orig); free(bank); free(Q); free(norms); free(dist); free(w); free(idx); free(nn); free(raw);
}

int main(int argc, char **argv) {
  tc_test_h5_begin(&argc, &argv, dir_, sizeof dir_, "tc_ivf");
  test_probe_all_is_exact_();
  test_separated_clusters_();
  test_determinism_();
  test_ties_();
  test_part_rows_();
  test_split_is_serial_();
  test_restore_();
  test_certify_();
  return tc_test_h5_end(dir_);
}
