/* tool_common.h - what the test-data tools fake_features and score_tool
 * share: the hash their content comes from (so any rank count writes the
 * same file), the attributes of the features files they write, and main. */
#ifndef TC_TOOL_COMMON_H
#define TC_TOOL_COMMON_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "context.h"
#include "features_io.h"
#include "log.h"

/* A value in [-0.5, 0.5) from (seed, key); the splitmix64 finaliser makes
 * neighbouring keys unrelated. */
static inline float tool_hash_(uint64_t seed, uint64_t key) {
  uint64_t z = seed * 0x9E3779B97F4A7C15ULL ^ key;
  z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
  z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
  z ^= z >> 31;
  return (float)((z >> 40) / (double)(1 << 24)) - 0.5f;
}

/* Square feature maps, the default 256 -> 224 preprocessing, no weights. */
static inline void tool_meta_(TcFeaturesMeta *m, int64_t N, int64_t fmap, int64_t D, int64_t E,
                              const char *backbone) {
  memset(m, 0, sizeof *m);
  m->N = N;
  m->fmap_h = m->fmap_w = fmap;
  m->D = D;
  m->E = E;
  m->resize = 256;
  m->crop = 224;
  snprintf(m->backbone, sizeof m->backbone, "%s", backbone);
  snprintf(m->weights_sha256, sizeof m->weights_sha256, "none");
  snprintf(m->taps, sizeof m->taps, "a,b");
  snprintf(m->normalisation, sizeof m->normalisation, "imagenet");
}

/* Runs cmd on a duplicate of MPI_COMM_WORLD; all ranks exit with the agreed
 * status and only rank 0 prints the message, prefixed with the tool's name. */
static inline int tool_main_(int argc, char **argv, const char *name,
                             TcErr (*cmd)(MPI_Comm comm, int argc, char **argv)) {
  MPI_Init(&argc, &argv);
  MPI_Comm comm;
  MPI_Comm_dup(MPI_COMM_WORLD, &comm);
  tc_log_is_printer = tc_rank(comm) == 0;
  TcErr err = tc_agree(comm, cmd(comm, argc, argv));
  if (err && tc_rank(comm) == 0) fprintf(stderr, "%s: %s\n", name, tc_err_message());
  MPI_Comm_free(&comm);
  MPI_Finalize();
  return tc_err_exit_status(err);
}

#endif
