/* pextract.h - feature extraction over MPI ranks (DESIGN 3.1, 3.2, 6):
 * images -> features.h5. The serial extractor (one image to its features,
 * and the augmented views fit uses for tail images, DESIGN 3.6 step 8) is
 * src/extractor.h, included here for the drivers that use both. */
#ifndef TC_PEXTRACT_H
#define TC_PEXTRACT_H

#include <mpi.h>
#include <stdint.h>

#include "err.h"
#include "extractor.h"

/* Extract n images and write features.h5 (DESIGN 5). Collective on comm.
 *   paths [n] (global input, same on every rank): files to read;
 *   names [n] (global input): what /paths records (e.g. ROOT-relative);
 *   out_path: the final file name (written under a temporary name,
 *   published only when complete).
 * Images are dealt in contiguous blocks (tc_block_range). Every rank first
 * decodes its images (keeping the uint8 crops for the second pass when
 * n_local * crop^2 * 3 bytes plus the batch buffers fit mem_per_rank
 * (bytes, global input; 0 = always decode again); the output bits are the
 * same either way); a bad image (missing, truncated, corrupt, unsupported,
 * empty, not an image) stops the job before anything is created, naming the
 * file and the problem, unless cfg->skip_bad, which leaves it out of the
 * output and records it in /skipped/paths and /skipped/reasons and the log.
 * embed_tap (NULL/"" = default) selects the global embedding as in
 * tc_extractor_create_embed; the maps used are recorded as attribute
 * embed_tap. Returns the agreed code. */
TcErr tc_pextract_run(MPI_Comm comm, const TcExtractConfig *cfg, const char *embed_tap, int64_t n,
                      const char *const *paths, const char *const *names, const char *out_path,
                      int64_t mem_per_rank);

#endif
