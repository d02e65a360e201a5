/* cmd_index.c - `tailedcore index`: model.h5 -> index.h5, the IVF index of
 * `predict --search ivf` built once (ranks split its k-means assignments)
 * and stored, so that predict runs load it (`--index`) instead of building
 * it on every rank of every run. Option parsing and the output checks; the
 * work is tc_pivf_index_run (mpi/pivf.c). Collective on comm. */
#include <stdlib.h>
#include <string.h>

#include "agree.h"
#include "commands.h"
#include "context.h"
#include "ivf.h"
#include "outguard.h"
#include "pivf.h"

static const TcCmdDoc doc_ = {"index", "tailedcore index --model model.h5 --out index.h5 [--nlist auto] [--seed 20261206]",
                              "Build the inverted-file index of `predict --search ivf` (k-means of the memory bank into --nlist lists, 10 iterations on at most 32 rows a list) once and store it: the centroids, every bank row's list, nlist, the seed, and the bank's rows x D and digest, which bind the file to this model. `predict --search ivf --index index.h5` then loads it instead of building it (the same scores, bit for bit, as predict's own build with the same --nlist and the default seed); predict refuses an index made for another memory bank or another --nlist. The k-means assignments are split over the ranks; the index is the same, bit for bit, on any number of ranks."};

/* --nlist: auto or 1..1e8 (predict's range). Local. */
static TcErr parse_nlist_(const char *text, int64_t *nlist) {
  *nlist = 0;
  if (!strcmp(text, "auto")) return TC_OK;
  char *end = NULL;
  long long v = strtoll(text, &end, 10);
  if (end == text || *end || v < 1 || v > 100000000LL)
    return tc_err_set(TC_ERR_USAGE, "index: --nlist '%s' must be auto or an integer in 1..100000000", text);
  *nlist = v;
  return TC_OK;
}

TcErr tc_cmd_index(MPI_Comm comm, int argc, char **argv) {
  TcIndexOptions o;
  memset(&o, 0, sizeof o);
  const char *nlist = NULL;
  int64_t seed = 0;
  TcOpt opts[] = {
      {"model", TC_OPT_STRING, &o.model, NULL, "model file from `tailedcore fit` (input)", NULL, 1},
      {"out", TC_OPT_STRING, &o.out, NULL, "index file to write (published atomically; never one of the inputs)",
       NULL, 1},
      {"nlist", TC_OPT_STRING, &nlist, "auto",
       "k-means lists; auto = round(4 sqrt(memory rows)), as predict; clamped to the memory rows", NULL, 0},
      {"seed", TC_OPT_INT, &seed, "20261206",
       "k-means sample seed, >= 0 (the default is predict's own build's: keep it for the same scores)", NULL, 0},
  };
  int help = 0;
  TcErr err = tc_cmd_options(comm, &doc_, opts, TC_NOPTS(opts), argc, argv, &help);
  if (help) return err;
  if (!err) err = parse_nlist_(nlist, &o.nlist);
  if (!err && seed < 0) err = tc_err_set(TC_ERR_USAGE, "index: --seed %lld must be >= 0", (long long)seed);
  o.seed = (uint64_t)seed;
  err = tc_agree(comm, err);
  if (err) return err;
  if (tc_rank(comm) == 0) {
    const TcGuardInput in[] = {{"--model", o.model}};
    err = tc_outguard_check("--out", o.out, in, 1);
  }
  err = tc_agree_root(comm, err);
  return err ? err : tc_pivf_index_run(comm, &o);
}
