/* pivf.c - the IVF index over MPI ranks: split k-means build, `tailedcore
 * index`, predict's load of a stored index. See pivf.h. */
#include "pivf.h"

#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "agree.h"
#include "calib.h"
#include "context.h"
#include "h5fmt.h"
#include "ivf_io.h"
#include "log.h"
#include "model_io.h"
#include "partition.h"
#include "version.h"

/* ---- the split build */

/* What the share callback needs: the communicator and its buffers. */
typedef struct {
  MPI_Comm comm;
  int rank, size;
  int32_t *a32; /* [M] the assignments as they travel */
  int *counts;  /* [2 x size]: rows, then first row, of every rank */
} Split_;

static TcErr split_agree_(void *ctx, TcErr local) {
  return tc_agree(((Split_ *)ctx)->comm, local);
}

/* Every rank's rows of assign and key into every rank's arrays: its own
 * assignments as int32 (nlist < 2^31: ivf.c's bound), two in-place
 * MPI_Allgatherv. A failure inside this exchange cannot be agreed on (the
 * other ranks may be in the next one): the job aborts (STYLE 3). */
static TcErr split_share_(void *ctx, int64_t n, int64_t *assign, float *key) {
  Split_ *sp = ctx;
  int *counts = sp->counts, *displs = sp->counts + sp->size;
  for (int r = 0; r < sp->size; r++) {
    int64_t lo, hi;
    tc_ivf_part_rows(n, r, sp->size, &lo, &hi);
    counts[r] = (int)(hi - lo);
    displs[r] = (int)lo;
  }
  for (int64_t i = displs[sp->rank]; i < displs[sp->rank] + counts[sp->rank]; i++) sp->a32[i] = (int32_t)assign[i];
  int rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, sp->a32, counts, displs, MPI_INT32_T, sp->comm);
  if (rc == MPI_SUCCESS)
    rc = MPI_Allgatherv(MPI_IN_PLACE, 0, MPI_DATATYPE_NULL, key, counts, displs, MPI_FLOAT, sp->comm);
  if (rc != MPI_SUCCESS) tc_abort(sp->comm, tc_mpi_check(rc, "MPI_Allgatherv (ivf assignments)"), "index");
  for (int64_t i = 0; i < n; i++) assign[i] = sp->a32[i];
  return TC_OK;
}

TcErr tc_pivf_build(MPI_Comm comm, float *bank, int64_t M, int64_t D, int64_t nlist, int iters, uint64_t seed,
                    TcIvf *ivf) {
  const int size = tc_size(comm);
  /* one rank, or more rows than an MPI count holds: the serial build, which
   * gives the same bits */
  if (size == 1 || M > INT_MAX) return tc_agree(comm, tc_ivf_build(bank, M, D, nlist, iters, seed, ivf));
  Split_ sp = {comm, tc_rank(comm), size, NULL, NULL};
  sp.a32 = tc_malloc(sizeof(int32_t) * (size_t)(M > 0 ? M : 1), "ivf assignment exchange");
  sp.counts = tc_malloc(sizeof(int) * 2 * (size_t)size, "ivf exchange counts");
  TcErr err = tc_agree(comm, sp.a32 && sp.counts ? TC_OK : TC_ERR_MEM);
  if (!err) {
    TcIvfSplit split = {sp.rank, size, &sp, split_agree_, split_share_};
    err = tc_agree(comm, tc_ivf_build_split(bank, M, D, nlist, iters, seed, &split, ivf));
  }
  if (err) tc_ivf_free(ivf);
  free(sp.a32);
  free(sp.counts);
  return err;
}

/* ---- predict --index */

/* The stored index belongs to this bank and this --nlist. Local. */
static TcErr check_binding_(const TcIvfFileMeta *m, const char *path, const char *model, int64_t M, int64_t D,
                            uint64_t digest, int64_t nlist) {
  TC_CHECK(m->M == M && m->D == D && m->bank_digest == digest, TC_ERR_FORMAT,
           "%s: an index of another memory bank (%lld x %lld, digest %016llx) than %s's (%lld x %lld, digest "
           "%016llx): build it again with tailedcore index --model %s",
           path, (long long)m->M, (long long)m->D, (unsigned long long)m->bank_digest, model, (long long)M,
           (long long)D, (unsigned long long)digest, model);
  if (nlist > M) nlist = M;
  TC_CHECK(nlist <= 0 || nlist == m->nlist, TC_ERR_USAGE,
           "predict: --nlist %lld differs from the %lld lists of %s: drop --nlist or build the index with it",
           (long long)nlist, (long long)m->nlist, path);
  return TC_OK;
}

TcErr tc_pivf_load(MPI_Comm comm, const char *path, const char *model, float *bank, int64_t M, int64_t D,
                   uint64_t bank_digest, int64_t nlist, TcIvf *ivf) {
  memset(ivf, 0, sizeof *ivf);
  TcH5File *f = NULL;
  TcIvfFileMeta meta;
  TC_CALL(tc_agree(comm, tc_ivf_io_open(comm, path, &f, &meta)));
  TcErr err = tc_agree(comm, check_binding_(&meta, path, model, M, D, bank_digest, nlist));
  if (!err) err = tc_agree(comm, tc_ivf_io_read(f, &meta, ivf));
  tc_h5_close(&f);
  if (!err) err = tc_agree(comm, tc_ivf_restore(bank, path, ivf));
  if (err) tc_ivf_free(ivf);
  return err;
}

/* ---- tailedcore index */

/* The whole bank of an open, checked model on every rank, and its digest
 * (over blocks of rows, summed: the calibration check's). Collective;
 * agreed. *bank is the caller's to free. */
static TcErr read_bank_(MPI_Comm comm, TcH5File *model, const TcModelMeta *mm, float **bank, uint64_t *digest) {
  const int64_t M = mm->M, D = mm->features.D;
  *bank = tc_malloc_aligned(sizeof(float) * (size_t)(M * D), "memory bank");
  TC_CALL(tc_agree(comm, *bank ? TC_OK : TC_ERR_MEM));
  TC_CALL(tc_agree(comm, tc_model_read_rows(model, mm, 0, M, *bank, NULL)));
  int64_t lo, hi;
  tc_block_range(M, tc_rank(comm), tc_size(comm), &lo, &hi);
  *digest = tc_calib_bank_digest(*bank + lo * D, hi - lo, D, lo);
  return tc_agree(comm, tc_mpi_check(MPI_Allreduce(MPI_IN_PLACE, digest, 1, MPI_UINT64_T, MPI_SUM, comm),
                                     "MPI_Allreduce (bank digest)"));
}

/* The index file, published. Collective; agreed. */
static TcErr write_index_(MPI_Comm comm, const TcIndexOptions *opt, const TcIvf *ivf, uint64_t digest) {
  TcH5File *f = NULL;
  TC_CALL(tc_agree(comm, tc_ivf_io_create(comm, opt->out, tc_rank(comm) == 0, ivf, digest, opt->model, TC_VERSION,
                                          &f)));
  return tc_agree(comm, tc_h5_publish(&f));
}

TcErr tc_pivf_index_run(MPI_Comm comm, const TcIndexOptions *opt) {
  TcH5File *model = NULL;
  TcModelMeta mm;
  float *bank = NULL;
  uint64_t digest = 0;
  TcIvf ivf;
  memset(&ivf, 0, sizeof ivf);
  TcErr err = tc_h5_check_output(comm, opt->out);
  if (!err) err = tc_agree(comm, tc_model_open(comm, opt->model, &model));
  if (!err) err = tc_agree(comm, tc_model_read_meta(model, &mm));
  if (!err) err = tc_agree(comm, tc_model_check_bank(model, &mm));
  if (!err) err = read_bank_(comm, model, &mm, &bank, &digest);
  tc_h5_close(&model);
  if (!err) {
    const int64_t M = mm.M, D = mm.features.D;
    const int64_t nlist = opt->nlist > 0 ? opt->nlist : tc_ivf_default_nlist(M);
    double t0 = tc_now();
    /* the CPU time too: on a shared node the wall time hides how the work
     * divides over the ranks */
    clock_t c0 = clock();
    err = tc_pivf_build(comm, bank, M, D, nlist, TC_IVF_ITERS, opt->seed, &ivf);
    if (!err)
      tc_log(1, "index: %lld lists over %lld x %lld rows (k-means, %d iterations on %lld rows, seed %llu) built on "
                "%d rank(s) in %.2f s (%.2f s CPU on rank 0)",
             (long long)ivf.nlist, (long long)M, (long long)D, TC_IVF_ITERS, (long long)ivf.n_train,
             (unsigned long long)opt->seed, tc_size(comm), tc_now() - t0, (double)(clock() - c0) / CLOCKS_PER_SEC);
  }
  if (!err) err = write_index_(comm, opt, &ivf, digest);
  if (!err) tc_log(1, "index: wrote %s (bank digest %016llx)", opt->out, (unsigned long long)digest);
  tc_ivf_free(&ivf);
  free(bank);
  return err;
}
