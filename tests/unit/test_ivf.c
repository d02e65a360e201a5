/* test_ivf.c - the IVF index (src/ivf.h): reordering, probe-all = exact,
 * separated clusters with one probe, determinism, ties to the lowest row.
 * Integer-valued data keeps every sgemm key exact, so the comparisons with
 * the exact search hold on any BLAS kernel. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "ivf.h"
#include "rng.h"
#include "score.h"

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

int main(void) {
  test_probe_all_is_exact_();
  test_separated_clusters_();
  test_determinism_();
  test_ties_();
  printf("%d passed, %d failed\n", tc_test_passed_, tc_test_failed_);
  return tc_test_failed_ ? 1 : 0;
}
