/* pextract.c - images -> features.h5 over MPI ranks (DESIGN 3.1, 3.2, 5, 6).
 *
 * Two passes over each rank's contiguous block of images:
 *   1. decode + preprocess every image (no network): a bad image is found
 *      before anything is created, and the number of good images per rank
 *      (hence every rank's first output row) is known. The uint8 crops
 *      (150 KB per image at 224) are kept for pass 2 when they fit
 *      --mem-per-rank, so each image is decoded once;
 *   2. extract in rounds of cfg->batch images per rank and write each round
 *      collectively (a rank with nothing left writes 0 rows), agreeing on
 *      errors before each write. Without the kept crops pass 2 decodes
 *      again and memory stays bounded whatever N is. */
#include "pextract.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "context.h"
#include "features_io.h"
#include "h5fmt.h"
#include "log.h"
#include "partition.h"

/* One rank's share of a tc_pextract_run, carried from step to step. */
typedef struct {
  MPI_Comm comm;
  int rank, size;
  const TcExtractConfig *cfg;
  const char *const *paths, *const *names; /* [n], global */
  int64_t n, lo, hi;         /* all images; this rank's block [lo, hi) */
  TcExtractor *ex;
  int batch;                 /* images per rank per written round */
  size_t cbytes, fsz;        /* bytes of one crop; floats of one image's patch features */
  int64_t ngood, nskip;      /* this rank's good and skipped images so far */
  int64_t *good;             /* [hi - lo] global indices of this rank's good images */
  char **spaths, **sreasons; /* [hi - lo] names and reasons of the skipped ones */
  uint8_t *crops;            /* [ngood x cbytes]: pass 1's crops, or NULL */
  int64_t ntot, row0;        /* good images of all ranks; this rank's first row */
  int64_t nskip_tot, skip0;  /* the same for the skipped images */
  float *feat, *emb;         /* [batch x fsz], [batch x E]: one round's output */
  const char **gnames;       /* [ngood] what /paths records for this rank */
} Job;

/* Pack strings "a\0b\0..." for MPI. Returns malloc'd buffer and its size. */
static char *pack_(char **s, int64_t n, int *bytes) {
  size_t len = 0;
  for (int64_t i = 0; i < n; i++) len += strlen(s[i]) + 1;
  char *buf = tc_malloc(len ? len : 1, "string buffer");
  if (!buf) return NULL;
  size_t o = 0;
  for (int64_t i = 0; i < n; i++) {
    size_t l = strlen(s[i]) + 1;
    memcpy(buf + o, s[i], l);
    o += l;
  }
  *bytes = (int)len;
  return buf;
}

/* Rank 0 logs every skipped image (all ranks' reasons gathered in rank
 * order, so the log is the same for any rank count; each reason names its
 * file). Collective. */
static TcErr log_skipped_(MPI_Comm comm, char **sreasons, int64_t ns) {
  int rank = tc_rank(comm), size = tc_size(comm);
  int bytes = 0;
  char *buf = pack_(sreasons, ns, &bytes);
  int *counts = rank == 0 ? tc_calloc((size_t)size, sizeof(int), "counts") : NULL;
  int *displs = rank == 0 ? tc_calloc((size_t)size, sizeof(int), "displs") : NULL;
  TcErr err = (!buf || (rank == 0 && (!counts || !displs))) ? TC_ERR_MEM : TC_OK;
  err = tc_agree(comm, err);
  char *all = NULL;
  if (!err) {
    MPI_Gather(&bytes, 1, MPI_INT, counts, 1, MPI_INT, 0, comm);
    size_t tot = 0;
    if (rank == 0) {
      for (int r = 0; r < size; r++) {
        displs[r] = (int)tot;
        tot += (size_t)counts[r];
      }
      all = tc_malloc(tot ? tot : 1, "skip log");
    }
    err = tc_agree(comm, rank == 0 && !all ? TC_ERR_MEM : TC_OK);
    if (!err) {
      MPI_Gatherv(buf, bytes, MPI_CHAR, all, counts, displs, MPI_CHAR, 0, comm);
      if (rank == 0)
        for (size_t o = 0; o < tot; o += strlen(all + o) + 1) tc_log(0, "skipped bad image %s", all + o);
    }
  }
  free(all);
  free(counts);
  free(displs);
  free(buf);
  return err;
}

/* Load the extractor and the per-image bookkeeping. Returns the agreed code. */
static TcErr job_open_(Job *J, const char *embed_tap) {
  TcErr err = TC_OK;
  const int64_t nloc = J->hi - J->lo;
  TC_CHECK_GOTO(err, J->n > 0, TC_ERR_USAGE, agree, "no images to extract");
  TC_CALL_GOTO(err, tc_extractor_create_embed(J->cfg, embed_tap, &J->ex), agree);
  J->batch = J->cfg->batch > 0 ? J->cfg->batch : 1;
  J->fsz = (size_t)J->ex->fmap_h * J->ex->fmap_w * J->ex->D;
  J->cbytes = (size_t)J->cfg->crop * J->cfg->crop * 3;
  J->good = tc_malloc((size_t)(nloc ? nloc : 1) * sizeof(int64_t), "image index");
  J->spaths = tc_calloc((size_t)(nloc ? nloc : 1), sizeof(char *), "skipped");
  J->sreasons = tc_calloc((size_t)(nloc ? nloc : 1), sizeof(char *), "skipped");
  if (!J->good || !J->spaths || !J->sreasons) err = TC_ERR_MEM;
agree:
  return tc_agree(J->comm, err);
}

static void job_close_(Job *J) {
  tc_extractor_destroy(&J->ex);
  if (J->spaths)
    for (int64_t i = 0; i < J->nskip; i++) free(J->spaths[i]);
  if (J->sreasons)
    for (int64_t i = 0; i < J->nskip; i++) free(J->sreasons[i]);
  free(J->spaths);
  free(J->sreasons);
  free(J->good);
  free(J->crops);
  free(J->feat);
  free(J->emb);
  free(J->gnames);
}

/* Keep the uint8 crops for pass 2 when they fit (the network's own memory
 * is not counted), else pass 2 decodes again; each rank decides for itself,
 * the log says whether every rank kept them. Collective. */
static void keep_crops_(Job *J, int64_t mem_per_rank) {
  const int64_t nloc = J->hi - J->lo;
  const double keep_bytes =
      (double)nloc * J->cbytes + (double)J->batch * (J->fsz + J->ex->E) * sizeof(float);
  if (mem_per_rank > 0 && keep_bytes <= (double)mem_per_rank) {
    J->crops = tc_malloc(nloc ? (size_t)nloc * J->cbytes : 1, "decoded crops");
    if (!J->crops) tc_err_clear(); /* optional: decode twice instead */
  }
  int kept = J->crops != NULL, all_kept = 0;
  MPI_Allreduce(&kept, &all_kept, 1, MPI_INT, MPI_MIN, J->comm);
  tc_log(2, "extract: %s", all_kept ? "decoded crops kept in memory for the second pass"
                                    : "decoding twice (crops over --mem-per-rank on some rank)");
}

/* Pass 1 for image i: count it as good (its crop kept when crops are), or
 * record it as skipped under --skip-bad-images. An error stops pass 1. */
static TcErr decode_one_(Job *J, int64_t i) {
  uint8_t *dst = J->crops ? J->crops + (size_t)J->ngood * J->cbytes : J->ex->crop_u8;
  TcErr e = tc_extractor_load_u8(J->ex, J->paths[i], dst);
  if (!e) {
    J->good[J->ngood++] = i;
    return TC_OK;
  }
  if (e == TC_ERR_MEM || !J->cfg->skip_bad) return e;
  J->spaths[J->nskip] = strdup(J->names[i]);
  J->sreasons[J->nskip] = strdup(tc_err_message());
  tc_err_clear();
  /* counted before the check so that job_close_ frees a half-made record */
  J->nskip++;
  if (!J->spaths[J->nskip - 1] || !J->sreasons[J->nskip - 1]) return tc_err_set(TC_ERR_MEM, "out of memory");
  return TC_OK;
}

/* Pass 1: decode every image of this rank, so a bad one stops the job
 * before anything is created. Returns the agreed code. */
static TcErr decode_all_(Job *J) {
  TcErr err = TC_OK;
  TcProgress prog;
  tc_progress_start(&prog, "extract: decoding images", "images", J->n);
  for (int64_t i = J->lo; !err && i < J->hi; i++) {
    err = decode_one_(J, i);
    if (!err && J->rank == 0) tc_progress_update(&prog, (i - J->lo + 1) * (int64_t)J->size);
  }
  if (err == TC_ERR_FORMAT || err == TC_ERR_IO) {
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", tc_err_message());
    tc_err_clear();
    tc_err_set(err, "%s (nothing written; --skip-bad-images skips such images)", msg);
  }
  err = tc_agree(J->comm, err);
  if (!err) tc_progress_finish(&prog);
  return err;
}

/* Every rank's first output row and first skipped row; the skipped images
 * logged. Returns the agreed code (TC_ERR_FORMAT when no image was good). */
static TcErr count_rows_(Job *J) {
  MPI_Allreduce(&J->ngood, &J->ntot, 1, MPI_INT64_T, MPI_SUM, J->comm);
  MPI_Exscan(&J->ngood, &J->row0, 1, MPI_INT64_T, MPI_SUM, J->comm);
  MPI_Allreduce(&J->nskip, &J->nskip_tot, 1, MPI_INT64_T, MPI_SUM, J->comm);
  MPI_Exscan(&J->nskip, &J->skip0, 1, MPI_INT64_T, MPI_SUM, J->comm);
  if (J->rank == 0) J->row0 = J->skip0 = 0; /* MPI_Exscan leaves rank 0's undefined */
  if (J->nskip_tot > 0) TC_CALL(log_skipped_(J->comm, J->sreasons, J->nskip));
  TC_CHECK(J->ntot > 0, TC_ERR_FORMAT, "all %lld images were bad; nothing written", (long long)J->n);
  return TC_OK;
}

/* The round buffers of pass 2. Returns the agreed code. */
static TcErr alloc_round_(Job *J) {
  J->feat = tc_malloc_aligned((size_t)J->batch * J->fsz * sizeof(float), "patch features");
  J->emb = tc_malloc((size_t)J->batch * J->ex->E * sizeof(float), "embeddings");
  J->gnames = tc_calloc((size_t)(J->ngood ? J->ngood : 1), sizeof(char *), "names");
  return tc_agree(J->comm, !J->feat || !J->emb || !J->gnames ? TC_ERR_MEM : TC_OK);
}

/* Create the output with everything that fixes what a feature means.
 * Collective. */
static TcErr create_output_(Job *J, const char *out_path, TcH5File **f) {
  const TcExtractor *ex = J->ex;
  TcFeaturesMeta meta;
  memset(&meta, 0, sizeof meta);
  meta.N = J->ntot;
  meta.fmap_h = ex->fmap_h;
  meta.fmap_w = ex->fmap_w;
  meta.D = ex->D;
  meta.E = ex->E;
  meta.resize = J->cfg->resize;
  meta.crop = J->cfg->crop;
  snprintf(meta.backbone, sizeof meta.backbone, "%s", ex->bb->name);
  snprintf(meta.weights_sha256, sizeof meta.weights_sha256, "%s", ex->bb->sha256);
  snprintf(meta.taps, sizeof meta.taps, "%s", ex->bb->taps);
  snprintf(meta.normalisation, sizeof meta.normalisation, "%s",
           ex->bb->norm == TC_NORM_KERAS ? "keras" : "imagenet");
  TC_CALL(tc_features_create(J->comm, out_path, &meta, f));
  TC_CALL(tc_h5_set_attr_str(*f, "/", "weights_source", ex->bb->source));
  TC_CALL(tc_h5_set_attr_str(*f, "/", "embed_tap", ex->bb->embed_tap));
  TC_CALL(tc_h5_set_attr_i64(*f, "/", "n_skipped", J->nskip_tot));
  return TC_OK;
}

/* Pass 2: extract in rounds of batch images per rank, each round written
 * collectively (a rank with nothing left writes 0 rows) after agreeing on
 * its errors. Collective. */
static TcErr write_rounds_(Job *J, TcH5File *f) {
  TcExtractor *ex = J->ex;
  const int64_t batch = J->batch, ngood = J->ngood;
  int64_t my_rounds = (ngood + batch - 1) / batch, rounds = 0;
  MPI_Allreduce(&my_rounds, &rounds, 1, MPI_INT64_T, MPI_MAX, J->comm);
  TcProgress prog;
  tc_progress_start(&prog, "extract", "images", J->ntot);
  int64_t done = 0;
  TcErr err = TC_OK;
  for (int64_t r = 0; r < rounds; r++) {
    int64_t k0 = r * batch, k1 = k0 + batch < ngood ? k0 + batch : ngood;
    if (k1 < k0) k1 = k0;
    for (int64_t k = k0; !err && k < k1; k++) {
      if (J->crops) tc_extractor_set_u8(ex, J->crops + (size_t)k * J->cbytes);
      else err = tc_extractor_load(ex, J->paths[J->good[k]]);
      if (!err) err = tc_extractor_run(ex, J->feat + (size_t)(k - k0) * J->fsz, J->emb + (size_t)(k - k0) * ex->E);
    }
    if (!err && tc_fault_injected(J->comm, "extract")) err = tc_err_set(TC_ERR_IO, "injected failure (extract)");
    err = tc_agree(J->comm, err);
    if (err) return err;
    TC_CALL(tc_h5_write_rows(f, "features", TC_H5_F32, J->row0 + k0, k1 - k0, J->feat));
    TC_CALL(tc_h5_write_rows(f, "embeddings", TC_H5_F32, J->row0 + k0, k1 - k0, J->emb));
    int64_t mine = k1 - k0, all = 0;
    MPI_Allreduce(&mine, &all, 1, MPI_INT64_T, MPI_SUM, J->comm);
    done += all;
    tc_progress_update(&prog, done);
  }
  tc_progress_finish(&prog);
  return TC_OK;
}

/* /paths of the good images and /skipped of the others. Collective. */
static TcErr write_names_(Job *J, TcH5File *f) {
  for (int64_t k = 0; k < J->ngood; k++) J->gnames[k] = J->names[J->good[k]];
  TC_CALL(tc_h5_write_strings(f, "paths", J->ntot, J->row0, J->ngood, J->gnames));
  if (J->nskip_tot > 0) {
    TC_CALL(tc_h5_write_strings(f, "skipped/paths", J->nskip_tot, J->skip0, J->nskip,
                                (const char *const *)J->spaths));
    TC_CALL(tc_h5_write_strings(f, "skipped/reasons", J->nskip_tot, J->skip0, J->nskip,
                                (const char *const *)J->sreasons));
  }
  return TC_OK;
}

TcErr tc_pextract_run(MPI_Comm comm, const TcExtractConfig *cfg, const char *embed_tap, int64_t n,
                      const char *const *paths, const char *const *names, const char *out_path,
                      int64_t mem_per_rank) {
  /* the output directory is checked before the CNN runs, not after */
  TcErr err = tc_h5_check_output(comm, out_path);
  if (err) return err;
  Job J = {.comm = comm, .rank = tc_rank(comm), .size = tc_size(comm), .cfg = cfg,
           .paths = paths, .names = names, .n = n};
  tc_block_range(n, J.rank, J.size, &J.lo, &J.hi);
  TcH5File *f = NULL;
  /* every step returns an agreed code, so all ranks take the same path */
  err = job_open_(&J, embed_tap);
  if (!err) {
    keep_crops_(&J, mem_per_rank);
    err = decode_all_(&J);
  }
  if (!err) err = count_rows_(&J);
  if (!err) err = alloc_round_(&J);
  if (!err) err = create_output_(&J, out_path, &f);
  if (!err) err = write_rounds_(&J, f);
  if (!err) err = write_names_(&J, f);
  if (!err) err = tc_h5_publish(&f);
  if (!err)
    tc_log(1, "extract: wrote %s: %lld images x %d x %d patches x D=%d, embeddings E=%d (%s)%s", out_path,
           (long long)J.ntot, J.ex->fmap_h, J.ex->fmap_w, J.ex->D, J.ex->E, J.ex->bb->embed_tap,
           J.nskip_tot ? " (some images skipped, see /skipped)" : "");
  err = tc_agree(comm, err);
  if (f) tc_h5_abandon(&f);
  job_close_(&J);
  return err;
}
