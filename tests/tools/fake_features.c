/* fake_features.c - write or read a features.h5 with deterministic content,
 * on any number of ranks, to test the parallel HDF5 layer and the
 * publication rules (issue 2) without the CNN.
 *
 *   fake_features write OUT N FMAP D E [SEED]   value(i,p,d) from a hash of (seed,i,p,d)
 *   fake_features sum IN                         print a checksum of every value (order-independent
 *                                                of the rank count: sums per image in image order)
 *   env TC_FAIL_RANK=r TC_FAIL_AT=h5write: rank r fails after the first half of its rows,
 *   the ranks agree, the temporary file is removed and nothing is published. */
#include <inttypes.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "features_io.h"
#include "partition.h"
#include "tool_common.h"

static float value_(uint64_t seed, int64_t i, int64_t p, int64_t d) {
  return tool_hash_(seed, (uint64_t)(i * 1000003 + p * 10007 + d));
}

/* This rank's block [lo, lo + n) of the m->N images and room for their
 * features and embeddings (+1: never a zero-byte allocation). */
static void rows_(MPI_Comm comm, const TcFeaturesMeta *m, int64_t *lo, int64_t *n, float **feats,
                  float **emb) {
  int64_t hi;
  tc_block_range(m->N, tc_rank(comm), tc_size(comm), lo, &hi);
  *n = hi - *lo;
  *feats = tc_malloc(sizeof(float) * (size_t)(*n * m->fmap_h * m->fmap_w * m->D + 1), "features");
  *emb = tc_malloc(sizeof(float) * (size_t)(*n * m->E + 1), "embeddings");
}

static TcErr write_(MPI_Comm comm, int argc, char **argv) {
  TC_CHECK(argc >= 7, TC_ERR_USAGE, "write OUT N FMAP D E [SEED]");
  TcFeaturesMeta m;
  tool_meta_(&m, atoll(argv[3]), atoll(argv[4]), atoll(argv[5]), atoll(argv[6]), "fake");
  uint64_t seed = argc > 7 ? strtoull(argv[7], NULL, 10) : 0;
  int64_t lo, n, HW = m.fmap_h * m.fmap_w;
  float *feats, *emb;
  rows_(comm, &m, &lo, &n, &feats, &emb);
  char **paths = tc_calloc((size_t)n + 1, sizeof(char *), "paths");
  char *pbuf = tc_malloc((size_t)(n + 1) * 64, "path text");
  TcErr err = (feats && emb && paths && pbuf) ? TC_OK : TC_ERR_MEM;
  for (int64_t i = 0; !err && i < n; i++) {
    for (int64_t p = 0; p < HW; p++)
      for (int64_t d = 0; d < m.D; d++) feats[(i * HW + p) * m.D + d] = value_(seed, lo + i, p, d);
    for (int64_t e = 0; e < m.E; e++) emb[i * m.E + e] = value_(seed + 1, lo + i, 0, e);
    paths[i] = pbuf + i * 64;
    snprintf(paths[i], 64, "class%02d/train/good/%06lld.tiff", (int)((lo + i) % 7), (long long)(lo + i));
  }
  TC_CALL(tc_agree(comm, err));
  TcH5File *f = NULL;
  /* FAKE_BREAK makes a malformed file for the reader tests:
   * omit-embeddings, bad-shape (embeddings with one row too many) */
  const char *brk = getenv("FAKE_BREAK");
  if (brk && !strcmp(brk, "omit-embeddings")) {
    int64_t fd[3] = {m.N, HW, m.D};
    TC_CALL(tc_h5_create(comm, argv[2], "features", &f));
    TC_CALL(tc_features_meta_write_attrs(f, &m));
    TC_CALL(tc_h5_create_dataset(f, "features", TC_H5_F32, 3, fd, 1));
    TC_CALL(tc_h5_write_strings(f, "paths", m.N, lo, n, (const char *const *)paths));
    return tc_h5_publish(&f);
  }
  if (brk && !strcmp(brk, "bad-shape")) {
    int64_t fd[3] = {m.N, HW, m.D}, ed[2] = {m.N + 1, m.E};
    TC_CALL(tc_h5_create(comm, argv[2], "features", &f));
    TC_CALL(tc_features_meta_write_attrs(f, &m));
    TC_CALL(tc_h5_create_dataset(f, "features", TC_H5_F32, 3, fd, 1));
    TC_CALL(tc_h5_create_dataset(f, "embeddings", TC_H5_F32, 2, ed, 0));
    TC_CALL(tc_h5_write_strings(f, "paths", m.N, lo, n, (const char *const *)paths));
    return tc_h5_publish(&f);
  }
  if (brk && !strcmp(brk, "other-kind")) {
    TC_CALL(tc_h5_create(comm, argv[2], "model", &f));
    return tc_h5_publish(&f);
  }
  TC_CALL(tc_features_create(comm, argv[2], &m, &f));
  /* two halves, with a failure point between them: a rank that fails stops
   * writing, the others finish their first half, then all agree */
  int64_t half = n / 2;
  err = tc_h5_write_rows(f, "features", TC_H5_F32, lo, half, feats);
  if (!err && tc_fault_injected(comm, "h5write"))
    err = tc_err_set(TC_ERR_IO, "%s: injected failure after %lld rows", argv[2], (long long)half);
  err = tc_agree(comm, err);
  if (!err) err = tc_agree(comm, tc_h5_write_rows(f, "features", TC_H5_F32, lo + half, n - half,
                                                   feats + half * HW * m.D));
  if (!err) err = tc_agree(comm, tc_h5_write_rows(f, "embeddings", TC_H5_F32, lo, n, emb));
  if (!err) err = tc_agree(comm, tc_h5_write_strings(f, "paths", m.N, lo, n, (const char *const *)paths));
  if (err) tc_h5_abandon(&f);
  else err = tc_h5_publish(&f);
  free(feats);
  free(emb);
  free(paths);
  free(pbuf);
  return err;
}

static TcErr sum_(MPI_Comm comm, int argc, char **argv) {
  TC_CHECK(argc >= 3, TC_ERR_USAGE, "sum IN");
  TcH5File *f = NULL;
  TcFeaturesMeta m;
  TC_CALL(tc_features_open(comm, argv[2], &f, &m));
  int64_t lo, n, HW = m.fmap_h * m.fmap_w;
  float *feats, *emb;
  rows_(comm, &m, &lo, &n, &feats, &emb);
  TcErr err = tc_agree(comm, feats && emb ? TC_OK : TC_ERR_MEM);
  if (!err) err = tc_agree(comm, tc_features_read(f, &m, lo, n, feats, emb));
  char **paths = NULL;
  if (!err) err = tc_agree(comm, tc_h5_read_strings(f, "paths", lo, n, &paths));
  /* an exact, order-independent digest: XOR of per-element hashes of the bits */
  uint64_t h = 0;
  for (int64_t i = 0; !err && i < n * HW * m.D; i++) {
    uint32_t b;
    memcpy(&b, &feats[i], 4);
    h ^= ((uint64_t)b + 0x9E3779B97F4A7C15ULL * (uint64_t)(lo * HW * m.D + i + 1)) * 0xBF58476D1CE4E5B9ULL;
  }
  for (int64_t i = 0; !err && i < n * m.E; i++) {
    uint32_t b;
    memcpy(&b, &emb[i], 4);
    h ^= ((uint64_t)b + 0x632BE59BD9B4E019ULL * (uint64_t)(lo * m.E + i + 1)) * 0x94D049BB133111EBULL;
  }
  for (int64_t i = 0; !err && i < n; i++)
    for (const char *c = paths[i]; *c; c++) h ^= ((uint64_t)(unsigned char)*c + (uint64_t)(lo + i) * 131) * 0xD6E8FEB86659FD93ULL;
  uint64_t all = 0;
  MPI_Allreduce(&h, &all, 1, MPI_UINT64_T, MPI_BXOR, comm);
  if (!err && tc_rank(comm) == 0)
    printf("N=%lld HW=%lld D=%lld E=%lld digest=%016" PRIx64 "\n", (long long)m.N, (long long)HW,
           (long long)m.D, (long long)m.E, all);
  free(paths);
  free(feats);
  free(emb);
  tc_h5_close(&f);
  return err;
}

static TcErr run_(MPI_Comm comm, int argc, char **argv) {
  if (argc >= 2 && !strcmp(argv[1], "write")) return write_(comm, argc, argv);
  if (argc >= 2 && !strcmp(argv[1], "sum")) return sum_(comm, argc, argv);
  return tc_err_set(TC_ERR_USAGE, "usage: fake_features write OUT N FMAP D E [SEED] | sum IN");
}

int main(int argc, char **argv) { return tool_main_(argc, argv, "fake_features", run_); }
