/* ivf_io.h - the IVF index file (`tailedcore index`, `predict --index`):
 * one writer and one reader, the dataset names in ivf_io.c only (STYLE 10:
 * one module per file kind).
 *
 * index.h5 (tc_kind "ivf_index"), an index over an M x D memory bank:
 *   /centroids    float32 [nlist, D]   the k-means centroids (ivf.h)
 *   /list_start   int64   [nlist + 1]  list l = positions [list_start[l],
 *                                      list_start[l + 1]) of the reordered bank
 *   /order        int64   [M]          model bank row at each position
 *   root attributes:
 *     int64   M, D, nlist, n_train, iters, seed (the build's), bank_digest
 *             (tc_calib_bank_digest of the model's /memory_bank in model
 *             order, its uint64 bits)
 *     strings model (the model path as given), program_version
 * What the reorder needs besides (row norms, centroid norms, the inverse
 * permutation) is recomputed on load by tc_ivf_restore, bit for bit.
 *
 * Collective on the file's communicator unless marked Local. */
#ifndef TC_IVF_IO_H
#define TC_IVF_IO_H

#include <stdint.h>

#include "h5fmt.h"
#include "ivf.h"

/* The root attributes: what binds the index to one bank, and its sizes. */
typedef struct {
  int64_t M, D, nlist, n_train, iters;
  uint64_t seed, bank_digest;
} TcIvfFileMeta;

/* Create `path` under a temporary name (h5fmt.h) and write ivf (the same on
 * every rank; the rank passing writer = 1 writes the arrays, the others
 * join with no rows) with bank_digest and the model path.
 * Not published: the caller runs tc_h5_publish, or tc_h5_abandon on error.
 * On a failed create nothing is left. */
TcErr tc_ivf_io_create(MPI_Comm comm, const char *path, int writer, const TcIvf *ivf, uint64_t bank_digest,
                       const char *model, const char *program_version, TcH5File **out);

/* Open an index file (tc_kind "ivf_index"; errors as tc_h5_open's) and read
 * its attributes, each in range (nlist and n_train in [1, M]), and check
 * the datasets' types and shapes against them. Nothing stays open on
 * error. */
TcErr tc_ivf_io_open(MPI_Comm comm, const char *path, TcH5File **out, TcIvfFileMeta *meta);

/* Read the arrays of an opened index (every rank, whole) into ivf: fills
 * M, D, nlist, n_train, iters, seed and allocates centroids, list_start,
 * order (ivf owns them; tc_ivf_free). Then tc_ivf_restore completes it. */
TcErr tc_ivf_io_read(TcH5File *f, const TcIvfFileMeta *meta, TcIvf *ivf);

#endif
