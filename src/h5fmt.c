/* h5fmt.c - our HDF5 files on parallel HDF5 (DESIGN 5, STYLE 5 "I/O roles").
 *
 * Every rank calls every function (metadata operations are collective in
 * parallel HDF5); row data go through per-rank hyperslabs with a collective
 * transfer. HDF5's own error printing is switched off: 64 ranks must not each
 * print a stack; the innermost HDF5 message is folded into ours instead. */
#include "h5fmt.h"

#include <hdf5.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>
#include <sys/wait.h>

#include "agree.h"
#include "log.h"
#include "checked.h"
#include "tmpfiles.h"

#ifndef H5_HAVE_PARALLEL
#error "tailedcore needs parallel HDF5: this hdf5.h is the serial one (use pkg-config hdf5-openmpi)"
#endif

struct TcH5File {
  hid_t file;
  MPI_Comm comm;
  int rank;
  int writing;
  int failed; /* a write failed (agreed): only tc_h5_abandon is left */
  char kind[64];
  char path[4096];     /* final path (or the opened path) */
  char tmp_path[4200]; /* where it is being written */
  char reserve_path[4300]; /* rank 0: space kept free to close the file ("" when none) */
};

/* Parallel HDF5 cannot survive a metadata write that fails on some ranks
 * only (the cache flush is a sequence of collectives that a failing rank
 * leaves early), and H5Fclose always flushes. Raw data writes are agreed
 * (below), so what must never fail is the metadata flushed at close. Between
 * sync points the cache holds at most dirty_bytes_threshold (256 KiB by
 * default) of dirty metadata; a file of 4 times that, allocated next to the
 * temporary file when it is created and removed just before the final flush
 * (or before the close of an abandoned file), leaves room for it however
 * full the disk has become meanwhile. */
#define TC_H5_RESERVE_BYTES (1L << 20)
/* The same limit inside the writing: any metadata operation (a dataset, an
 * attribute) may end in a sync point that writes up to this much, plus what
 * the operation itself dirties (a chunked dataset's whole chunk index, with
 * parallel HDF5's early allocation). So before one, rank 0 checks that the
 * file system has room for both and all ranks agree: a disk that fills up
 * is then an error before HDF5 is entered, not inside its flush. */
#define TC_H5_SYNC_BYTES (256L << 10)

/* ---------------------------------------------------------------- helpers */

static herr_t walk_innermost_(unsigned n, const H5E_error2_t *e, void *data) {
  /* the first frame is where the error was detected: the useful one */
  if (n == 0 && e->desc) snprintf((char *)data, 256, "%s", e->desc);
  return 0;
}

/* The innermost message of HDF5's current error stack. */
static const char *h5_reason_(void) {
  static char buf[256];
  buf[0] = '\0';
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_DOWNWARD, walk_innermost_, buf);
  H5Eclear2(H5E_DEFAULT);
  return buf[0] ? buf : "HDF5 error";
}

static void h5_quiet_(void) {
  static int done = 0;
  if (!done) {
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
    done = 1;
  }
}

static int comm_rank_(MPI_Comm comm) {
  int rank = 0;
  MPI_Comm_rank(comm, &rank);
  return rank;
}

/* ---------------------------------------------------------------- write errors
 *
 * With MPI-IO a write error is local: in a collective H5Dwrite only the
 * rank (aggregator) whose pwrite hit ENOSPC returns an error, the others
 * return success and would go on into the next collective call while the
 * failing rank goes to its error handling: the job hangs. So every writing
 * function below agrees on its result before it returns, and a file with a
 * failed write refuses further writes, so callers that test each result
 * (TC_CALL, `if (!e) e = ...`) all leave the same call on every rank. */

/* Why a write failed, for the one line the user sees. MPI-IO and HDF5 both
 * drop errno from their messages ("can't write data"), so look at errno
 * right after the call and, failing that, at the free space left. */
static const char *write_reason_(const TcH5File *f, int saved_errno, const char *h5) {
  if (saved_errno == ENOSPC) return "no space left on device";
  if (saved_errno == EDQUOT) return "disk quota exceeded";
  char dir[4200];
  snprintf(dir, sizeof dir, "%s", f->tmp_path[0] ? f->tmp_path : f->path);
  struct statvfs sv;
  /* a full file system refuses the write that would overflow it, so less
   * than 1 MiB left after a failed write means that was the cause */
  if (statvfs(dirname(dir), &sv) == 0 && (double)sv.f_bavail * sv.f_frsize < 1048576.0)
    return "no space left on device";
  return h5;
}

static TcErr write_failed_(const TcH5File *f, int saved_errno, const char *what) {
  return tc_err_set(TC_ERR_IO, "%s: write failed (%s): %s", f->path, what,
                    write_reason_(f, saved_errno, h5_reason_()));
}

/* Test hook, the TC_FAIL_RANK / TC_FAIL_AT pair of mpi/context.h (which
 * src/ cannot include): "h5rows" fails this rank's row writes after the
 * transfer, "h5flush" its final flush: the rank-local errors of a full disk,
 * without one. */
static int fault_(const TcH5File *f, const char *point) {
  const char *r = getenv("TC_FAIL_RANK"), *at = getenv("TC_FAIL_AT");
  return r && at && strcmp(at, point) == 0 && atoi(r) == f->rank;
}

/* Every writing function starts here: nothing more goes into a failed file. */
static TcErr check_writable_(const TcH5File *f) {
  TC_CHECK(!f->failed, TC_ERR_IO, "%s: an earlier write failed", f->path);
  return TC_OK;
}

/* ... and ends here (collective): the same code on every rank. */
static TcErr agreed_write_(TcH5File *f, TcErr local) {
  TcErr err = tc_agree(f->comm, local);
  if (err) f->failed = 1;
  return err;
}

/* Before a metadata operation that dirties about `need` bytes (see
 * TC_H5_SYNC_BYTES). Collective. */
static TcErr room_for_metadata_(TcH5File *f, double need, const char *what) {
  TcErr err = TC_OK;
  if (f->rank == 0) {
    char dir[4200];
    snprintf(dir, sizeof dir, "%s", f->tmp_path);
    struct statvfs sv;
    if (statvfs(dirname(dir), &sv) == 0 && (double)sv.f_bavail * sv.f_frsize < need + TC_H5_SYNC_BYTES)
      err = tc_err_set(TC_ERR_IO, "%s: write failed (%s): no space left on device", f->path, what);
  }
  return agreed_write_(f, err);
}

static hid_t file_type_(TcH5Type t) {
  switch (t) {
  case TC_H5_F32: return H5T_IEEE_F32LE;
  case TC_H5_I32: return H5T_STD_I32LE;
  case TC_H5_I64: return H5T_STD_I64LE;
  case TC_H5_U8: return H5T_STD_U8LE;
  }
  return H5T_IEEE_F32LE;
}

static hid_t mem_type_(TcH5Type t) {
  switch (t) {
  case TC_H5_F32: return H5T_NATIVE_FLOAT;
  case TC_H5_I32: return H5T_NATIVE_INT32;
  case TC_H5_I64: return H5T_NATIVE_INT64;
  case TC_H5_U8: return H5T_NATIVE_UINT8;
  }
  return H5T_NATIVE_FLOAT;
}

static const char *type_name_(TcH5Type t) {
  switch (t) {
  case TC_H5_F32: return "float32";
  case TC_H5_I32: return "int32";
  case TC_H5_I64: return "int64";
  case TC_H5_U8: return "uint8";
  }
  return "?";
}

#if H5_VERSION_GE(1, 10, 0)
#define TC_H5_LIBVER_LOW H5F_LIBVER_V110
#else
#define TC_H5_LIBVER_LOW H5F_LIBVER_LATEST
#endif

/* Links stay in their group's object header, which the 1.10 format
 * checksums, rather than moving to "dense" storage past 8 links, whose
 * fractal-heap blocks carry no checksum: a damaged tail.h5 (9 links in
 * tail/) made libhdf5 fault while iterating them (make fuzz seed 4,
 * h5_00273). Our groups hold a dozen links at most. */
#define TC_H5_MAX_COMPACT_LINKS 1024
#define TC_H5_MIN_DENSE_LINKS 1000

static hid_t compact_gcpl_(hid_t cls) {
  hid_t pl = H5Pcreate(cls);
  H5Pset_link_phase_change(pl, TC_H5_MAX_COMPACT_LINKS, TC_H5_MIN_DENSE_LINKS);
  return pl;
}

/* Create the missing groups on the way to `name` with compact links.
 * Collective (every rank creates the same objects in the same order). */
static void compact_parents_(hid_t file, const char *name) {
  char path[512];
  snprintf(path, sizeof path, "%s", name);
  for (char *p = strchr(path + (path[0] == '/'), '/'); p; p = strchr(p + 1, '/')) {
    *p = '\0';
    if (H5Lexists(file, path, H5P_DEFAULT) <= 0) {
      hid_t gcpl = compact_gcpl_(H5P_GROUP_CREATE);
      hid_t g = H5Gcreate2(file, path, H5P_DEFAULT, gcpl, H5P_DEFAULT);
      if (g >= 0) H5Gclose(g);
      H5Pclose(gcpl);
    }
    *p = '/';
  }
}

static hid_t fapl_(MPI_Comm comm) {
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, comm, MPI_INFO_NULL);
  /* metadata through rank 0 and a broadcast instead of every rank reading:
   * what keeps opening a file cheap at thousands of ranks */
  H5Pset_all_coll_metadata_ops(fapl, 1);
  H5Pset_coll_metadata_write(fapl, 1);
  /* POSIX locks are unreliable or absent on Lustre/GPFS and the rename-based
   * publication already keeps readers off half-written files */
  H5Pset_file_locking(fapl, 0, 1);
  return fapl;
}

static TcErr alloc_file_(MPI_Comm comm, const char *path, TcH5File **out) {
  TcH5File *f = tc_calloc(1, sizeof *f, "HDF5 file handle");
  if (!f) return TC_ERR_MEM;
  f->file = H5I_INVALID_HID;
  f->comm = comm;
  f->rank = comm_rank_(comm);
  snprintf(f->path, sizeof f->path, "%s", path);
  *out = f;
  return TC_OK;
}

/* The last resort (STYLE 3): a file that some rank could not close cannot
 * be closed collectively any more, and left open it crashes MPI_Finalize.
 * Rank 0 removes the temporary file and prints the error line; MPI_Abort
 * then ends every rank with the I/O exit status. Collective on f->comm in
 * the sense that every rank calls it after the same agreed test. */
static void abort_job_(const TcH5File *f) {
  if (f->rank == 0) {
    if (f->reserve_path[0]) unlink(f->reserve_path);
    if (f->tmp_path[0]) unlink(f->tmp_path);
    fprintf(stderr, "tailedcore: %s (cannot close %s; aborting the job)\n", tc_err_message(), f->tmp_path);
    fflush(stderr);
  }
  MPI_Barrier(f->comm);
  MPI_Abort(f->comm, 4);
}

/* ---------------------------------------------------------------- reading checks */

/* What a file claims about a type or a shape is checked before it sizes a
 * buffer or drives a conversion (issue 19): a crafted or bit-flipped file
 * can claim anything. */

static const char *bare_(const char *name) { return name[0] == '/' ? name + 1 : name; }

/* 1 when t is one of the standard integer or IEEE float layouts. HDF5 1.10
 * converts with the precision, offset and bit fields the file states, so a
 * flipped bit in a type message makes its bit copier write out of bounds:
 * only types equal to a standard one are ever converted or read. */
static int type_standard_(hid_t t) {
  if (t < 0) return 0;
  const hid_t std[] = {H5T_STD_I8LE,   H5T_STD_I8BE,   H5T_STD_U8LE,    H5T_STD_U8BE,   H5T_STD_I16LE,
                       H5T_STD_I16BE,  H5T_STD_U16LE,  H5T_STD_U16BE,   H5T_STD_I32LE,  H5T_STD_I32BE,
                       H5T_STD_U32LE,  H5T_STD_U32BE,  H5T_STD_I64LE,   H5T_STD_I64BE,  H5T_STD_U64LE,
                       H5T_STD_U64BE,  H5T_IEEE_F32LE, H5T_IEEE_F32BE,  H5T_IEEE_F64LE, H5T_IEEE_F64BE};
  for (size_t i = 0; i < sizeof std / sizeof std[0]; i++)
    if (H5Tequal(t, std[i]) > 0) return 1;
  H5Eclear2(H5E_DEFAULT);
  return 0;
}

/* The stored element type of a dataset read as `type`: same class, size
 * and signedness (no conversion on the collective path), standard layout. */
static TcErr check_elem_type_(TcH5File *f, const char *name, hid_t dtype, TcH5Type type) {
  hid_t want = file_type_(type);
  int ok = type_standard_(dtype) && H5Tget_class(dtype) == H5Tget_class(want) &&
           H5Tget_size(dtype) == H5Tget_size(want) &&
           (type == TC_H5_F32 || H5Tget_sign(dtype) == H5Tget_sign(want));
  H5Eclear2(H5E_DEFAULT);
  TC_CHECK(ok, TC_ERR_FORMAT, "%s: dataset /%s has the wrong element type (expected %s)", f->path,
           bare_(name), type_name_(type));
  return TC_OK;
}

/* Rank and extents of dataspace sp of dataset `name`, checked in that order
 * (a rank-20 space must not be asked for 20 extents into a 4-array): a simple
 * space of rank min_rank..TC_H5_MAX_RANK whose extents and their product
 * stay at or below TC_H5_MAX_ELEMS. */
static TcErr space_extent_(TcH5File *f, const char *name, hid_t sp, int min_rank, int *nd,
                           hsize_t dims[TC_H5_MAX_RANK]) {
  H5S_class_t cls = sp >= 0 ? H5Sget_simple_extent_type(sp) : H5S_NO_CLASS;
  int r = cls == H5S_SIMPLE ? H5Sget_simple_extent_ndims(sp) : cls == H5S_SCALAR ? 0 : -1;
  H5Eclear2(H5E_DEFAULT);
  TC_CHECK(r >= 0, TC_ERR_FORMAT, "%s: dataset /%s has no readable dataspace", f->path, bare_(name));
  TC_CHECK(r >= min_rank && r <= TC_H5_MAX_RANK, TC_ERR_FORMAT,
           "%s: dataset /%s has %d dimensions (%d..%d expected)", f->path, bare_(name), r, min_rank,
           TC_H5_MAX_RANK);
  if (r > 0 && H5Sget_simple_extent_dims(sp, dims, NULL) != r) {
    H5Eclear2(H5E_DEFAULT);
    return tc_err_set(TC_ERR_FORMAT, "%s: dataset /%s: unreadable extents", f->path, bare_(name));
  }
  int64_t total = 1;
  for (int i = 0; i < r; i++) {
    int ok = dims[i] <= (hsize_t)TC_H5_MAX_ELEMS && tc_mul_i64(total, (int64_t)dims[i], &total) &&
             total <= TC_H5_MAX_ELEMS;
    TC_CHECK(ok, TC_ERR_FORMAT, "%s: dataset /%s: extent %llu of dimension %d is implausible (over 2^50 "
             "elements)", f->path, bare_(name), (unsigned long long)dims[i], i);
  }
  *nd = r;
  return TC_OK;
}

/* An attribute holds one value: a scalar space, or a simple one of a single
 * element (h5py's shape (1,)). Anything else would be read over the caller's
 * one-value buffer. */
static TcErr attr_single_(TcH5File *f, const char *name, hid_t a) {
  hid_t sp = H5Aget_space(a);
  H5S_class_t cls = sp >= 0 ? H5Sget_simple_extent_type(sp) : H5S_NO_CLASS;
  hssize_t n = cls == H5S_SCALAR || cls == H5S_SIMPLE ? H5Sget_simple_extent_npoints(sp) : -1;
  if (sp >= 0) H5Sclose(sp);
  H5Eclear2(H5E_DEFAULT);
  TC_CHECK(n == 1, TC_ERR_FORMAT, "%s: attribute %s holds %lld values, expected exactly one", f->path,
           name, (long long)n);
  return TC_OK;
}

/* ---------------------------------------------------------------- files */

/* Rank 0: allocate the reserve (see TC_H5_RESERVE_BYTES). Local. */
static TcErr reserve_(TcH5File *f) {
  snprintf(f->reserve_path, sizeof f->reserve_path, "%s.reserve", f->tmp_path);
  tc_tmpfile_register(f->reserve_path);
  int fd = open(f->reserve_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
  int rc = fd < 0 ? errno : posix_fallocate(fd, 0, TC_H5_RESERVE_BYTES);
  if (fd >= 0 && close(fd) != 0 && rc == 0) rc = errno;
  if (rc == 0) return TC_OK;
  unlink(f->reserve_path);
  tc_tmpfile_forget(f->reserve_path);
  f->reserve_path[0] = '\0';
  if (rc == ENOSPC || rc == EDQUOT)
    return tc_err_set(TC_ERR_IO, "%s: cannot write: %s (not even the %ld KiB needed to close a file safely)",
                      f->path, rc == ENOSPC ? "no space left on device" : "disk quota exceeded",
                      TC_H5_RESERVE_BYTES / 1024);
  return tc_err_set(TC_ERR_IO, "%s: cannot write in its directory: %s", f->path, strerror(rc));
}

/* Give the reserved space back (rank 0). NULL-safe, idempotent. Local. */
static void release_reserve_(TcH5File *f) {
  if (!f->reserve_path[0]) return;
  unlink(f->reserve_path);
  tc_tmpfile_forget(f->reserve_path);
  f->reserve_path[0] = '\0';
}

static TcErr check_output_local_(const char *final_path) {
  char dir[4096];
  snprintf(dir, sizeof dir, "%s", final_path);
  const char *d = dirname(dir);
  struct stat st;
  TC_CHECK(strlen(final_path) > 0, TC_ERR_USAGE, "empty output path");
  TC_CHECK(stat(d, &st) == 0 && S_ISDIR(st.st_mode), TC_ERR_IO,
           "%s: output directory %s does not exist", final_path, d);
  TC_CHECK(access(d, W_OK | X_OK) == 0, TC_ERR_IO, "%s: output directory %s is not writable",
           final_path, d);
  TC_CHECK(!(stat(final_path, &st) == 0 && S_ISDIR(st.st_mode)), TC_ERR_IO, "%s: is a directory",
           final_path);
  return TC_OK;
}

TcErr tc_h5_check_output(MPI_Comm comm, const char *final_path) {
  return tc_agree_root(comm, comm_rank_(comm) == 0 ? check_output_local_(final_path) : TC_OK);
}

TcErr tc_h5_create(MPI_Comm comm, const char *final_path, const char *kind, TcH5File **out) {
  h5_quiet_();
  *out = NULL;
  TcErr err = TC_OK;
  int rank = comm_rank_(comm);
  /* one temporary name for all ranks: the job id when Slurm gives one, else
   * rank 0's pid, broadcast */
  long long tag = 0;
  if (rank == 0) {
    const char *job = getenv("SLURM_JOB_ID");
    tag = job ? atoll(job) * 1000000LL + (long long)getpid() % 1000000 : (long long)getpid();
  }
  MPI_Bcast(&tag, 1, MPI_LONG_LONG, 0, comm);

  if (rank == 0) err = check_output_local_(final_path);
  err = tc_agree_root(comm, err);
  if (err) return err;

  TcH5File *f = NULL;
  TC_CALL(alloc_file_(comm, final_path, &f));
  f->writing = 1;
  snprintf(f->kind, sizeof f->kind, "%s", kind);
  snprintf(f->tmp_path, sizeof f->tmp_path, "%s.tmp.%lld", final_path, tag);
  /* a job stopped by Slurm (SIGTERM) removes its temporary file */
  tc_tmpfile_register(f->tmp_path);
  err = tc_agree_root(comm, rank == 0 ? reserve_(f) : TC_OK);
  if (err) {
    tc_tmpfile_forget(f->tmp_path);
    free(f);
    return err;
  }
  hid_t fapl = fapl_(comm);
  /* The 1.10 file format checksums every piece of metadata (superblock,
   * object headers with their attributes, chunk indexes): a flipped bit is
   * "incorrect metadata checksum" at open, where the 1.8-compatible default
   * let libhdf5 parse the damaged header and overrun its own buffers (make
   * fuzz: heap-buffer-overflow in H5O__attr_exists). Readable by HDF5 1.10
   * and later, h5py included. */
  H5Pset_libver_bounds(fapl, TC_H5_LIBVER_LOW, H5F_LIBVER_LATEST);
  errno = 0;
  hid_t fcpl = compact_gcpl_(H5P_FILE_CREATE);
  f->file = H5Fcreate(f->tmp_path, H5F_ACC_TRUNC, fcpl, fapl);
  H5Pclose(fcpl);
  int saved_errno = errno;
  H5Pclose(fapl);
  if (f->file < 0)
    err = tc_err_set(TC_ERR_IO, "%s: cannot create: %s", f->tmp_path,
                     write_reason_(f, saved_errno, h5_reason_()));
  /* H5Fcreate is collective but its superblock write can fail on one rank
   * only (a full disk) */
  int created[2] = {f->file >= 0, f->file < 0}, any[2]; /* any created, any failed */
  MPI_Allreduce(created, any, 2, MPI_INT, MPI_MAX, comm);
  err = tc_agree(comm, err);
  if (any[1]) {
    if (any[0]) abort_job_(f); /* a file open on some ranks only cannot be closed */
    release_reserve_(f);
    if (rank == 0) unlink(f->tmp_path);
    tc_tmpfile_forget(f->tmp_path);
    free(f);
    return err;
  }
  err = tc_h5_set_attr_str(f, "/", "tc_kind", kind);
  if (!err) err = tc_h5_set_attr_i64(f, "/", "tc_format_version", TC_H5_FORMAT_VERSION);
  if (err) {
    tc_h5_abandon(&f);
    return err;
  }
  *out = f;
  return TC_OK;
}

TcErr tc_h5_sync(TcH5File *f) {
  if (!f->writing) return TC_OK; /* opened to read: nothing to write through */
  TC_CALL(check_writable_(f));
  TC_CALL(room_for_metadata_(f, 0, "sync"));
  errno = 0;
  TcErr err = H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0 ? write_failed_(f, errno, "flush") : TC_OK;
  err = agreed_write_(f, err);
  /* MPI-IO's consistency: every rank's writes synced before any rank reads */
  MPI_Barrier(f->comm);
  return err;
}

TcErr tc_h5_publish(TcH5File **fp) {
  TcH5File *f = *fp;
  if (!f) return tc_err_set(TC_ERR_INTERNAL, "publish of a NULL file");
  MPI_Comm comm = f->comm;
  TcErr err = check_writable_(f);
  if (!err) {
    release_reserve_(f);
    /* Write the dirty metadata (into the room just given back) and sync
     * (MPI_File_sync: where NFS or Lustre report a full disk late) while the
     * file stays open, so an error is agreed like any write error and the
     * file abandoned, and the H5Fclose below has nothing left to write. A
     * failure inside H5Fclose would leave its half-closed id to HDF5's own
     * cleanup in MPI_Finalize, which crashes. */
    errno = 0;
    err = H5Fflush(f->file, H5F_SCOPE_GLOBAL) < 0 ? write_failed_(f, errno, "flush") : TC_OK;
    if (!err && fault_(f, "h5flush"))
      err = tc_err_set(TC_ERR_IO, "%s: write failed (flush): injected failure", f->path);
    err = agreed_write_(f, err);
  }
  if (err) {
    tc_h5_abandon(fp);
    return err;
  }
  *fp = NULL;
  /* nothing is dirty any more: this close writes nothing */
  errno = 0;
  int closed = H5Fclose(f->file) >= 0;
  if (!closed) err = write_failed_(f, errno, "close");
  int all_closed = 0;
  MPI_Allreduce(&closed, &all_closed, 1, MPI_INT, MPI_MIN, comm);
  err = tc_agree(comm, err);
  if (!all_closed) abort_job_(f);
  if (f->rank == 0) {
    if (err) unlink(f->tmp_path);
    else if (rename(f->tmp_path, f->path) != 0) {
      err = tc_err_set(TC_ERR_IO, "%s: cannot rename %s into place: %s", f->path, f->tmp_path,
                       strerror(errno));
      unlink(f->tmp_path);
    }
  }
  err = tc_agree_root(comm, err);
  tc_tmpfile_forget(f->tmp_path);
  free(f);
  return err;
}

void tc_h5_abandon(TcH5File **fp) {
  TcH5File *f = *fp;
  *fp = NULL;
  if (!f) return;
  /* The reserve, and the temporary file's own space (its content is thrown
   * away), go back before the close, so the metadata H5Fclose still writes
   * finds room on a full disk and the close succeeds on every rank. (A close
   * that fails on one rank hangs the others in a collective, and leaves its
   * file id for MPI_Finalize, which crashes on it.) */
  release_reserve_(f);
  if (f->rank == 0 && f->tmp_path[0] && truncate(f->tmp_path, 0) != 0 && errno != ENOENT)
    tc_log(1, "warning: %s: cannot empty the abandoned temporary file: %s", f->tmp_path, strerror(errno));
  MPI_Barrier(f->comm);
  int closed = H5Fclose(f->file) >= 0, all_closed = 0;
  H5Eclear2(H5E_DEFAULT);
  MPI_Allreduce(&closed, &all_closed, 1, MPI_INT, MPI_MIN, f->comm);
  if (!all_closed) abort_job_(f);
  if (f->rank == 0 && f->tmp_path[0]) unlink(f->tmp_path);
  tc_tmpfile_forget(f->tmp_path);
  MPI_Barrier(f->comm);
  free(f);
}

TcErr tc_h5_open_local(const char *path, const char *expected_kind, TcH5File **out) {
  return tc_h5_open(MPI_COMM_SELF, path, expected_kind, out);
}

TcErr tc_h5_open(MPI_Comm comm, const char *path, const char *expected_kind, TcH5File **out) {
  h5_quiet_();
  *out = NULL;
  TcErr err = TC_OK;
  if (comm_rank_(comm) == 0) {
    struct stat st;
    if (stat(path, &st) != 0)
      err = tc_err_set(TC_ERR_IO, "%s: no such file", path);
    else if (S_ISDIR(st.st_mode))
      err = tc_err_set(TC_ERR_IO, "%s: is a directory, not an HDF5 file", path);
    else if (access(path, R_OK) != 0)
      err = tc_err_set(TC_ERR_IO, "%s: not readable (permission denied)", path);
    else {
      htri_t is = H5Fis_hdf5(path);
      if (is <= 0) err = tc_err_set(TC_ERR_FORMAT, "%s: not an HDF5 file", path);
    }
  }
  err = tc_agree_root(comm, err);
  if (err) return err;

  TcH5File *f = NULL;
  TC_CALL(alloc_file_(comm, path, &f));
  hid_t fapl = fapl_(comm);
  f->file = H5Fopen(path, H5F_ACC_RDONLY, fapl);
  H5Pclose(fapl);
  if (f->file < 0) {
    err = tc_err_set(TC_ERR_FORMAT, "%s: cannot open as HDF5: %s", path, h5_reason_());
    free(f);
    return tc_agree(comm, err);
  }
  if (!tc_h5_has_attr(f, "/", "tc_kind")) {
    err = tc_err_set(TC_ERR_FORMAT, "%s: an HDF5 file but not a tailedcore file (no tc_kind attribute)%s%s",
                     path, expected_kind ? "; expected a " : "", expected_kind ? expected_kind : "");
  } else {
    err = tc_h5_get_attr_str(f, "/", "tc_kind", f->kind, sizeof f->kind);
    if (!err && expected_kind && strcmp(f->kind, expected_kind) != 0)
      err = tc_err_set(TC_ERR_FORMAT, "%s: is a %s file, expected a %s file", path, f->kind,
                       expected_kind);
    int64_t version = 0;
    if (!err) err = tc_h5_get_attr_i64(f, "/", "tc_format_version", &version);
    if (!err && version > TC_H5_FORMAT_VERSION)
      err = tc_err_set(TC_ERR_FORMAT, "%s: format version %lld is newer than this program's (%d)",
                       path, (long long)version, TC_H5_FORMAT_VERSION);
    if (!err && version < 1)
      err = tc_err_set(TC_ERR_FORMAT, "%s: format version %lld is not a valid version", path, (long long)version);
  }
  if (err) {
    tc_h5_close(&f);
    return err;
  }
  *out = f;
  return TC_OK;
}

void tc_h5_close(TcH5File **fp) {
  TcH5File *f = *fp;
  *fp = NULL;
  if (!f) return;
  if (f->writing) {
    tc_h5_abandon(&f);
    return;
  }
  H5Fclose(f->file);
  H5Eclear2(H5E_DEFAULT);
  free(f);
}

const char *tc_h5_path(const TcH5File *f) { return f->path; }
const char *tc_h5_kind(const TcH5File *f) { return f->kind; }
MPI_Comm tc_h5_comm(const TcH5File *f) { return f->comm; }

/* ---------------------------------------------------------------- datasets */

int tc_h5_exists(TcH5File *f, const char *name) {
  /* H5Lexists fails on a missing intermediate group: walk the path */
  char buf[512];
  snprintf(buf, sizeof buf, "%s", name);
  for (char *p = buf + (buf[0] == '/'); ; p++) {
    char c = *p;
    if (c == '/' || c == '\0') {
      *p = '\0';
      if (buf[0] && strcmp(buf, "/") != 0 && H5Lexists(f->file, buf, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return 0;
      }
      if (c == '\0') break;
      *p = '/';
    }
  }
  return 1;
}

static TcErr create_dataset_(TcH5File *f, const char *name, TcH5Type type, int ndims,
                             const int64_t *dims, int64_t chunk_rows) {
  TC_CHECK(ndims >= 1 && ndims <= 4, TC_ERR_INTERNAL, "%s: bad rank %d", name, ndims);
  hsize_t hd[4], hc[4];
  for (int i = 0; i < ndims; i++) {
    TC_CHECK(dims[i] >= 0, TC_ERR_INTERNAL, "%s: negative extent", name);
    hd[i] = (hsize_t)dims[i];
    hc[i] = hd[i] ? hd[i] : 1;
  }
  hid_t space = H5Screate_simple(ndims, hd, NULL);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  hid_t dcpl = H5Pcreate(H5P_DATASET_CREATE);
  H5Pset_fill_time(dcpl, H5D_FILL_TIME_NEVER);
  if (chunk_rows > 0 && hd[0] > 0) {
    hc[0] = (hsize_t)chunk_rows < hd[0] ? (hsize_t)chunk_rows : hd[0];
    H5Pset_chunk(dcpl, ndims, hc);
  }
  compact_parents_(f->file, name);
  errno = 0;
  hid_t ds = H5Dcreate2(f->file, name, file_type_(type), space, lcpl, dcpl, H5P_DEFAULT);
  int saved_errno = errno;
  H5Pclose(dcpl);
  H5Pclose(lcpl);
  H5Sclose(space);
  if (ds < 0) {
    char what[600];
    snprintf(what, sizeof what, "creating dataset /%s", name[0] == '/' ? name + 1 : name);
    return write_failed_(f, saved_errno, what);
  }
  H5Dclose(ds);
  return TC_OK;
}

TcErr tc_h5_create_dataset(TcH5File *f, const char *name, TcH5Type type, int ndims,
                           const int64_t *dims, int64_t chunk_rows) {
  TC_CALL(check_writable_(f));
  /* a chunk index entry (v1 B-tree) is 16 + 8 (ndims + 1) bytes; nodes
   * can be half full: twice that per chunk */
  double chunks = chunk_rows > 0 && ndims >= 1 && dims[0] > 0 ? (double)((dims[0] + chunk_rows - 1) / chunk_rows) : 0;
  char what[600];
  snprintf(what, sizeof what, "creating dataset /%s", name[0] == '/' ? name + 1 : name);
  TC_CALL(room_for_metadata_(f, chunks * 2.0 * (16 + 8.0 * (ndims + 1)), what));
  return agreed_write_(f, create_dataset_(f, name, type, ndims, dims, chunk_rows));
}

/* Select rows [row0, row0 + count[0]) of the file space (count[1..] whole)
 * and return the matching memory space. A rank with no rows selects none on
 * both sides but still joins the collective transfer. */
static hid_t select_rows_(hid_t fspace, int nd, const hsize_t *start, const hsize_t *count) {
  if (count[0] > 0) {
    H5Sselect_hyperslab(fspace, H5S_SELECT_SET, start, NULL, count, NULL);
    return H5Screate_simple(nd, count, NULL);
  }
  H5Sselect_none(fspace);
  hid_t mspace = H5Scopy(fspace);
  H5Sselect_none(mspace);
  return mspace;
}

/* Collective MPI-IO transfer properties (every rank calls H5Dread/H5Dwrite). */
static hid_t collective_xfer_(void) {
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_COLLECTIVE);
  return dxpl;
}

/* Reads are independent: a damaged chunk index or a failed read then
 * fails on its own rank, which reports it at the next agreement, instead
 * of leaving the other ranks inside a collective MPI-IO read it never
 * joined (seen as a hang on 2 ranks with a bit-flipped features file).
 * Each rank reads whole rows (one image a chunk), which independent I/O
 * serves as well. */
static hid_t read_xfer_(void) {
  hid_t dxpl = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(dxpl, H5FD_MPIO_INDEPENDENT);
  return dxpl;
}

/* Bytes of one row (all dimensions after the first) in memory type `type`. */
static int64_t row_bytes_(hid_t fspace, int nd, TcH5Type type) {
  hsize_t dims[TC_H5_MAX_RANK] = {0};
  H5Sget_simple_extent_dims(fspace, dims, NULL);
  int64_t b = (int64_t)H5Tget_size(mem_type_(type));
  for (int i = 1; i < nd; i++) b *= (int64_t)dims[i];
  return b;
}

/* HDF5 1.10's MPI-IO driver hands a transfer's byte count to MPI as an
 * int, so one H5Dread/H5Dwrite of 2 GiB or more fails ("can't read data"):
 * a replicated memory bank of 1M rows x D 576 (2.3 GiB) did. Row transfers
 * therefore go in pieces of at most 1 GiB; TC_H5_PIECE_BYTES (test hook)
 * lowers the cap so the tests run the loop on small files. */
static int64_t piece_rows_(hid_t fspace, int nd, TcH5Type type) {
  int64_t cap = (int64_t)1 << 30;
  const char *e = getenv("TC_H5_PIECE_BYTES");
  if (e && *e) {
    long long v = strtoll(e, NULL, 10);
    if (v > 0 && v < cap) cap = v;
  }
  int64_t row_bytes = row_bytes_(fspace, nd, type);
  int64_t rows = row_bytes > 0 ? cap / row_bytes : 1;
  return rows < 1 ? 1 : rows;
}

/* Row hyperslab transfer shared by read and write. */
static TcErr rows_io_(TcH5File *f, const char *name, TcH5Type type, int64_t row0, int64_t nrows,
                      void *buf, int write) {
  TcErr err = TC_OK;
  hid_t ds = H5I_INVALID_HID, fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID,
        dxpl = H5I_INVALID_HID, dtype = H5I_INVALID_HID;
  ds = H5Dopen2(f->file, name, H5P_DEFAULT);
  TC_CHECK_GOTO(err, ds >= 0, TC_ERR_FORMAT, cleanup, "%s: missing dataset /%s", f->path,
                name[0] == '/' ? name + 1 : name);
  if (!write) {
    dtype = H5Dget_type(ds);
    TC_CALL_GOTO(err, check_elem_type_(f, name, dtype, type), cleanup);
  }
  fspace = H5Dget_space(ds);
  int nd = 0;
  hsize_t dims[TC_H5_MAX_RANK] = {0}, start[TC_H5_MAX_RANK] = {0}, count[TC_H5_MAX_RANK];
  TC_CALL_GOTO(err, space_extent_(f, name, fspace, 1, &nd, dims), cleanup);
  TC_CHECK_GOTO(err, row0 >= 0 && nrows >= 0 && (hsize_t)row0 <= dims[0] &&
                         (hsize_t)nrows <= dims[0] - (hsize_t)row0,
                TC_ERR_FORMAT, cleanup, "%s: %lld rows from row %lld out of range for /%s with %llu rows",
                f->path, (long long)nrows, (long long)row0, name, (unsigned long long)dims[0]);
  /* an empty dataset has nothing to transfer, and every rank sees the same
   * extent, so all of them skip the (collective) call together */
  if (dims[0] == 0) goto cleanup;
  for (int i = 0; i < nd; i++) count[i] = dims[i];
  dxpl = write ? collective_xfer_() : read_xfer_();
  /* pieces below HDF5 1.10's 2 GiB transfer limit (piece_rows_); one call
   * when nothing is asked, as before */
  const int64_t per = piece_rows_(fspace, nd, type), rb = row_bytes_(fspace, nd, type);
  herr_t rc = 0;
  for (int64_t done = 0; rc >= 0;) {
    int64_t k = nrows - done < per ? nrows - done : per;
    start[0] = (hsize_t)(row0 + done);
    count[0] = (hsize_t)k;
    mspace = select_rows_(fspace, nd, start, count);
    char *at = (char *)buf + done * rb;
    rc = write ? H5Dwrite(ds, mem_type_(type), mspace, fspace, dxpl, at)
               : H5Dread(ds, mem_type_(type), mspace, fspace, dxpl, at);
    H5Sclose(mspace);
    mspace = H5I_INVALID_HID;
    done += k;
    if (done >= nrows) break;
  }
  /* a read of a file that opened and checked cleanly fails on damage (a
   * chunk index, a heap) far more often than on the device: bad input data */
  TC_CHECK_GOTO(err, rc >= 0, write ? TC_ERR_IO : TC_ERR_FORMAT, cleanup, "%s: %s of /%s failed: %s%s",
                f->path, write ? "write" : "read", name, h5_reason_(), write ? "" : " (damaged file?)");
cleanup:
  if (dxpl >= 0) H5Pclose(dxpl);
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (dtype >= 0) H5Tclose(dtype);
  if (ds >= 0) H5Dclose(ds);
  return err;
}

/* The write side of rows_io_, with the write-error wording (errno is read
 * right after H5Dwrite, before cleanup calls can change it). */
static TcErr write_rows_(TcH5File *f, const char *name, TcH5Type type, int64_t row0, int64_t nrows,
                         const void *buf) {
  TcErr err = TC_OK;
  const char *bare = name[0] == '/' ? name + 1 : name;
  hid_t fspace = H5I_INVALID_HID, mspace = H5I_INVALID_HID, dxpl = H5I_INVALID_HID;
  hid_t ds = H5Dopen2(f->file, name, H5P_DEFAULT);
  TC_CHECK_GOTO(err, ds >= 0, TC_ERR_INTERNAL, cleanup, "%s: no dataset /%s to write", f->path, bare);
  fspace = H5Dget_space(ds);
  int nd = H5Sget_simple_extent_ndims(fspace);
  TC_CHECK_GOTO(err, nd >= 1 && nd <= 4, TC_ERR_INTERNAL, cleanup, "%s: /%s has rank %d", f->path, bare, nd);
  hsize_t dims[4], start[4] = {0}, count[4];
  H5Sget_simple_extent_dims(fspace, dims, NULL);
  TC_CHECK_GOTO(err, row0 >= 0 && nrows >= 0 && (hsize_t)(row0 + nrows) <= dims[0], TC_ERR_INTERNAL,
                cleanup, "%s: rows %lld..%lld out of range for /%s with %llu rows", f->path,
                (long long)row0, (long long)(row0 + nrows), bare, (unsigned long long)dims[0]);
  if (dims[0] == 0) goto cleanup; /* same extent everywhere: all ranks skip the collective */
  for (int i = 0; i < nd; i++) count[i] = dims[i];
  dxpl = collective_xfer_();
  /* pieces below HDF5 1.10's 2 GiB transfer limit (piece_rows_). The write
   * is collective, so every rank makes the same number of calls (the most
   * any rank needs; a rank with fewer rows selects none), and a rank whose
   * piece failed keeps joining the remaining calls: the error is agreed
   * afterwards, as for one call. */
  const int64_t per = piece_rows_(fspace, nd, type);
  const int64_t rb = row_bytes_(fspace, nd, type);
  long long pieces = nrows > 0 ? (long long)((nrows + per - 1) / per) : 1, most = pieces;
  MPI_Allreduce(&pieces, &most, 1, MPI_LONG_LONG, MPI_MAX, f->comm);
  int failed = 0, saved_errno = 0;
  for (long long p = 0; p < most; p++) {
    int64_t done = (int64_t)p * per, k = nrows - done;
    if (k < 0) k = 0;
    if (k > per) k = per;
    start[0] = (hsize_t)(row0 + (k ? done : 0));
    count[0] = (hsize_t)k;
    mspace = select_rows_(fspace, nd, start, count);
    errno = 0;
    if (H5Dwrite(ds, mem_type_(type), mspace, fspace, dxpl, (const char *)buf + (k ? done * rb : 0)) < 0 &&
        !failed) {
      failed = 1;
      saved_errno = errno;
    }
    H5Sclose(mspace);
    mspace = H5I_INVALID_HID;
  }
  if (failed) {
    char what[600];
    snprintf(what, sizeof what, "writing /%s", bare);
    err = write_failed_(f, saved_errno, what);
  } else if (fault_(f, "h5rows")) {
    err = tc_err_set(TC_ERR_IO, "%s: write failed (writing /%s): injected failure", f->path, bare);
  }
cleanup:
  if (dxpl >= 0) H5Pclose(dxpl);
  if (mspace >= 0) H5Sclose(mspace);
  if (fspace >= 0) H5Sclose(fspace);
  if (ds >= 0) H5Dclose(ds);
  return err;
}

TcErr tc_h5_write_rows(TcH5File *f, const char *name, TcH5Type type, int64_t row0, int64_t nrows,
                       const void *buf) {
  TC_CALL(check_writable_(f));
  return agreed_write_(f, write_rows_(f, name, type, row0, nrows, buf));
}

TcErr tc_h5_read_rows(TcH5File *f, const char *name, TcH5Type type, int64_t row0, int64_t nrows,
                      void *buf) {
  return rows_io_(f, name, type, row0, nrows, buf, 0);
}

TcErr tc_h5_dims(TcH5File *f, const char *name, int *ndims, int64_t dims[4]) {
  TC_CHECK(tc_h5_exists(f, name), TC_ERR_FORMAT, "%s: missing dataset /%s", f->path, bare_(name));
  hid_t ds = H5Dopen2(f->file, name, H5P_DEFAULT);
  if (ds < 0) H5Eclear2(H5E_DEFAULT);
  TC_CHECK(ds >= 0, TC_ERR_FORMAT, "%s: /%s is not a dataset", f->path, bare_(name));
  hid_t sp = H5Dget_space(ds);
  int nd = 0;
  hsize_t hd[TC_H5_MAX_RANK] = {0};
  TcErr err = space_extent_(f, name, sp, 0, &nd, hd);
  if (sp >= 0) H5Sclose(sp);
  H5Dclose(ds);
  H5Eclear2(H5E_DEFAULT);
  if (err) return err;
  *ndims = nd;
  for (int i = 0; i < TC_H5_MAX_RANK; i++) dims[i] = i < nd ? (int64_t)hd[i] : 0;
  return TC_OK;
}

TcErr tc_h5_expect(TcH5File *f, const char *name, TcH5Type type, int ndims, const int64_t *dims) {
  int nd = 0;
  int64_t d[TC_H5_MAX_RANK];
  TC_CALL(tc_h5_dims(f, name, &nd, d));
  const char *bare = bare_(name);
  char want[128] = "", have[128] = "";
  for (int i = 0; i < ndims; i++) {
    char t[32];
    if (dims[i] >= 0) snprintf(t, sizeof t, "%s%lld", i ? " x " : "", (long long)dims[i]);
    else snprintf(t, sizeof t, "%s*", i ? " x " : "");
    strncat(want, t, sizeof want - strlen(want) - 1);
  }
  for (int i = 0; i < nd; i++) {
    char t[32];
    snprintf(t, sizeof t, "%s%lld", i ? " x " : "", (long long)d[i]);
    strncat(have, t, sizeof have - strlen(have) - 1);
  }
  int ok = nd == ndims;
  for (int i = 0; ok && i < ndims; i++)
    if (dims[i] >= 0 && dims[i] != d[i]) ok = 0;
  TC_CHECK(ok, TC_ERR_FORMAT, "%s: /%s has shape [%s], expected [%s]", f->path, bare, have, want);
  hid_t ds = H5Dopen2(f->file, name, H5P_DEFAULT);
  hid_t dt = ds >= 0 ? H5Dget_type(ds) : H5I_INVALID_HID;
  TcErr err = check_elem_type_(f, name, dt, type);
  if (dt >= 0) H5Tclose(dt);
  if (ds >= 0) H5Dclose(ds);
  H5Eclear2(H5E_DEFAULT);
  return err;
}

/* ---------------------------------------------------------------- strings */

static TcErr write_strings_(TcH5File *f, const char *name, int64_t n_total, int64_t row0,
                            int64_t nlocal, const char *const *strs) {
  long long width = 1, local = 1;
  for (int64_t i = 0; i < nlocal; i++) {
    long long l = (long long)strlen(strs[i]) + 1;
    if (l > local) local = l;
  }
  MPI_Allreduce(&local, &width, 1, MPI_LONG_LONG, MPI_MAX, f->comm);
  char *buf = tc_calloc((size_t)(nlocal ? nlocal : 1), (size_t)width, "string rows");
  TcErr err = buf ? TC_OK : TC_ERR_MEM;
  err = tc_agree(f->comm, err);
  if (err) {
    free(buf);
    return err;
  }
  for (int64_t i = 0; i < nlocal; i++) memcpy(buf + i * width, strs[i], strlen(strs[i]));
  hid_t st = H5Tcopy(H5T_C_S1);
  H5Tset_size(st, (size_t)width);
  H5Tset_strpad(st, H5T_STR_NULLPAD);
  H5Tset_cset(st, H5T_CSET_UTF8);
  hsize_t hd[1] = {(hsize_t)n_total};
  hid_t space = H5Screate_simple(1, hd, NULL);
  hid_t lcpl = H5Pcreate(H5P_LINK_CREATE);
  H5Pset_create_intermediate_group(lcpl, 1);
  char what[600];
  compact_parents_(f->file, name);
  errno = 0;
  hid_t ds = H5Dcreate2(f->file, name, st, space, lcpl, H5P_DEFAULT, H5P_DEFAULT);
  int saved_errno = errno;
  H5Pclose(lcpl);
  if (ds < 0) {
    snprintf(what, sizeof what, "creating dataset /%s", name);
    err = write_failed_(f, saved_errno, what);
  } else {
    hsize_t start[1] = {(hsize_t)row0}, count[1] = {(hsize_t)nlocal};
    hid_t mspace = select_rows_(space, 1, start, count);
    hid_t dxpl = collective_xfer_();
    errno = 0;
    if (H5Dwrite(ds, st, mspace, space, dxpl, buf) < 0) {
      snprintf(what, sizeof what, "writing /%s", name);
      err = write_failed_(f, errno, what);
    }
    H5Pclose(dxpl);
    H5Sclose(mspace);
    H5Dclose(ds);
  }
  H5Sclose(space);
  H5Tclose(st);
  free(buf);
  return err;
}

TcErr tc_h5_write_strings(TcH5File *f, const char *name, int64_t n_total, int64_t row0,
                          int64_t nlocal, const char *const *strs) {
  TC_CALL(check_writable_(f));
  char what[600];
  snprintf(what, sizeof what, "creating dataset /%s", name[0] == '/' ? name + 1 : name);
  TC_CALL(room_for_metadata_(f, 0, what));
  return agreed_write_(f, write_strings_(f, name, n_total, row0, nlocal, strs));
}

TcErr tc_h5_read_strings(TcH5File *f, const char *name, int64_t row0, int64_t n, char ***out) {
  *out = NULL;
  TcErr err = TC_OK;
  TC_CHECK(tc_h5_exists(f, name), TC_ERR_FORMAT, "%s: missing dataset /%s", f->path, bare_(name));
  hid_t ds = H5Dopen2(f->file, name, H5P_DEFAULT), ft = H5I_INVALID_HID, space = H5I_INVALID_HID,
        mspace = H5I_INVALID_HID, dxpl = H5I_INVALID_HID, mt = H5I_INVALID_HID;
  char *raw = NULL;
  int vlen = 0;
  TC_CHECK_GOTO(err, ds >= 0, TC_ERR_FORMAT, cleanup, "%s: /%s is not a dataset", f->path, bare_(name));
  ft = H5Dget_type(ds);
  TC_CHECK_GOTO(err, ft >= 0 && H5Tget_class(ft) == H5T_STRING, TC_ERR_FORMAT, cleanup,
                "%s: /%s is not a string dataset", f->path, bare_(name));
  vlen = H5Tis_variable_str(ft) > 0;
  /* a fixed width sizes the buffer: bounded before it is used */
  size_t width = vlen ? sizeof(char *) : H5Tget_size(ft);
  TC_CHECK_GOTO(err, width > 0 && width <= TC_H5_MAX_STR, TC_ERR_FORMAT, cleanup,
                "%s: /%s holds strings of %zu bytes (at most %d accepted)", f->path, bare_(name), width,
                TC_H5_MAX_STR);
  space = H5Dget_space(ds);
  int nd = 0;
  hsize_t dims[TC_H5_MAX_RANK] = {0};
  TC_CALL_GOTO(err, space_extent_(f, name, space, 1, &nd, dims), cleanup);
  TC_CHECK_GOTO(err, nd == 1, TC_ERR_FORMAT, cleanup, "%s: /%s has %d dimensions, expected 1", f->path,
                bare_(name), nd);
  TC_CHECK_GOTO(err, row0 >= 0 && n >= 0 && (hsize_t)row0 <= dims[0] && (hsize_t)n <= dims[0] - (hsize_t)row0,
                TC_ERR_FORMAT, cleanup, "%s: rows out of range for /%s", f->path, bare_(name));
  hsize_t start[1] = {(hsize_t)row0}, count[1] = {(hsize_t)n};
  mspace = select_rows_(space, 1, start, count);
  dxpl = read_xfer_();
  raw = tc_calloc((size_t)(n ? n : 1), width + 1, "string rows");
  if (!raw) err = TC_ERR_MEM;
  mt = H5Tcopy(vlen ? H5T_C_S1 : ft); /* fixed: same layout as stored, no conversion on the collective path */
  if (vlen) {
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(ft));
  }
  /* a failed allocation reads no rows (the read is independent; the caller
   * agrees on the error) */
  if (err) {
    H5Sselect_none(mspace);
    H5Sselect_none(space);
  }
  if (H5Dread(ds, mt, mspace, space, dxpl, raw ? raw : (char *)&width) < 0 && !err)
    err = tc_err_set(TC_ERR_FORMAT, "%s: read of /%s failed: %s (damaged file?)", f->path, bare_(name),
                     h5_reason_());
  if (!err) {
    size_t total = (size_t)n * sizeof(char *);
    for (int64_t i = 0; i < n && !err; i++) {
      const char *s = vlen ? ((char **)raw)[i] : raw + (size_t)i * width;
      size_t l = s ? strnlen(s, vlen ? TC_H5_MAX_STR : width) : 0;
      if (vlen && l >= TC_H5_MAX_STR)
        err = tc_err_set(TC_ERR_FORMAT, "%s: /%s row %lld is longer than %d bytes", f->path, bare_(name),
                         (long long)(row0 + i), TC_H5_MAX_STR - 1);
      total += l + 1;
    }
    char **arr = err ? NULL : tc_malloc(total, "strings");
    if (!err && !arr) err = TC_ERR_MEM;
    if (!err) {
      char *p = (char *)(arr + n);
      for (int64_t i = 0; i < n; i++) {
        const char *s = vlen ? ((char **)raw)[i] : raw + (size_t)i * width;
        size_t l = s ? strnlen(s, vlen ? TC_H5_MAX_STR : width) : 0;
        memcpy(p, s ? s : "", l);
        p[l] = '\0';
        arr[i] = p;
        p += l + 1;
      }
      *out = arr;
    }
  }
  if (vlen && raw && n > 0) H5Dvlen_reclaim(mt, mspace, H5P_DEFAULT, raw);
cleanup:
  H5Eclear2(H5E_DEFAULT);
  free(raw);
  if (mt >= 0) H5Tclose(mt);
  if (dxpl >= 0) H5Pclose(dxpl);
  if (mspace >= 0) H5Sclose(mspace);
  if (space >= 0) H5Sclose(space);
  if (ft >= 0) H5Tclose(ft);
  if (ds >= 0) H5Dclose(ds);
  return err;
}

/* ---------------------------------------------------------------- attributes */

static TcErr set_attr_(TcH5File *f, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                       const void *value) {
  TC_CHECK(tc_h5_exists(f, obj), TC_ERR_INTERNAL, "%s: no object %s for attribute %s", f->path,
           obj, name);
  if (H5Aexists_by_name(f->file, obj, name, H5P_DEFAULT) > 0)
    H5Adelete_by_name(f->file, obj, name, H5P_DEFAULT);
  hid_t space = H5Screate(H5S_SCALAR);
  errno = 0;
  hid_t a = H5Acreate_by_name(f->file, obj, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  herr_t rc = a >= 0 ? H5Awrite(a, mtype, value) : -1;
  int saved_errno = errno;
  if (a >= 0) H5Aclose(a);
  H5Sclose(space);
  if (rc < 0) {
    char what[600];
    snprintf(what, sizeof what, "attribute %s", name);
    return write_failed_(f, saved_errno, what);
  }
  return TC_OK;
}

/* Every setter: refused on a failed file, agreed like the other writes. */
static TcErr set_attr_agreed_(TcH5File *f, const char *obj, const char *name, hid_t ftype, hid_t mtype,
                              const void *value) {
  TC_CALL(check_writable_(f));
  char what[600];
  snprintf(what, sizeof what, "attribute %s", name);
  TC_CALL(room_for_metadata_(f, 0, what));
  return agreed_write_(f, set_attr_(f, obj, name, ftype, mtype, value));
}

TcErr tc_h5_set_attr_str(TcH5File *f, const char *obj, const char *name, const char *value) {
  hid_t st = H5Tcopy(H5T_C_S1);
  H5Tset_size(st, strlen(value) + 1);
  H5Tset_strpad(st, H5T_STR_NULLTERM);
  H5Tset_cset(st, H5T_CSET_UTF8);
  TcErr err = set_attr_agreed_(f, obj, name, st, st, value);
  H5Tclose(st);
  return err;
}

TcErr tc_h5_set_attr_i64(TcH5File *f, const char *obj, const char *name, int64_t value) {
  return set_attr_agreed_(f, obj, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

TcErr tc_h5_set_attr_f64(TcH5File *f, const char *obj, const char *name, double value) {
  return set_attr_agreed_(f, obj, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}

int tc_h5_has_attr(TcH5File *f, const char *obj, const char *name) {
  if (!tc_h5_exists(f, obj)) return 0;
  htri_t e = H5Aexists_by_name(f->file, obj, name, H5P_DEFAULT);
  H5Eclear2(H5E_DEFAULT);
  return e > 0;
}

static TcErr open_attr_(TcH5File *f, const char *obj, const char *name, hid_t *a) {
  TC_CHECK(tc_h5_has_attr(f, obj, name), TC_ERR_FORMAT, "%s: missing attribute %s%s%s", f->path,
           strcmp(obj, "/") ? obj : "", strcmp(obj, "/") ? "/" : "", name);
  *a = H5Aopen_by_name(f->file, obj, name, H5P_DEFAULT, H5P_DEFAULT);
  if (*a < 0) H5Eclear2(H5E_DEFAULT);
  TC_CHECK(*a >= 0, TC_ERR_FORMAT, "%s: cannot open attribute %s", f->path, name);
  TcErr err = attr_single_(f, name, *a);
  if (err) H5Aclose(*a);
  return err;
}

TcErr tc_h5_get_attr_str(TcH5File *f, const char *obj, const char *name, char *buf, size_t buflen) {
  hid_t a;
  TC_CALL(open_attr_(f, obj, name, &a));
  TcErr err = TC_OK;
  size_t len = 0;
  hid_t t = H5Aget_type(a);
  htri_t vl = t >= 0 && H5Tget_class(t) == H5T_STRING ? H5Tis_variable_str(t) : -1;
  H5Eclear2(H5E_DEFAULT);
  if (vl < 0) {
    err = tc_err_set(TC_ERR_FORMAT, "%s: attribute %s is not a string", f->path, name);
  } else if (vl > 0) {
    char *s = NULL;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    /* HDF5 1.10 will not convert between ASCII and UTF-8: read as stored
     * (h5py writes variable-length UTF-8 attributes by default) */
    H5Tset_cset(mt, H5Tget_cset(t));
    if (H5Aread(a, mt, &s) < 0) err = tc_err_set(TC_ERR_FORMAT, "%s: cannot read attribute %s", f->path, name);
    else len = s ? strnlen(s, buflen) : 0;
    if (!err && len >= buflen)
      err = tc_err_set(TC_ERR_FORMAT, "%s: attribute %s is longer than %zu bytes", f->path, name, buflen - 1);
    else if (!err) {
      memcpy(buf, s ? s : "", len);
      buf[len] = '\0';
    }
    if (s) H5free_memory(s);
    H5Tclose(mt);
  } else {
    /* the stored size sizes the buffer: bounded first */
    size_t sz = H5Tget_size(t);
    char *tmp = NULL;
    if (sz == 0 || sz > TC_H5_MAX_STR)
      err = tc_err_set(TC_ERR_FORMAT, "%s: attribute %s is a string of %zu bytes (at most %d accepted)",
                       f->path, name, sz, TC_H5_MAX_STR);
    else if (!(tmp = tc_calloc(sz + 1, 1, "attribute")))
      err = TC_ERR_MEM;
    else if (H5Aread(a, t, tmp) < 0)
      err = tc_err_set(TC_ERR_FORMAT, "%s: cannot read attribute %s", f->path, name);
    else if ((len = strnlen(tmp, sz)) >= buflen)
      err = tc_err_set(TC_ERR_FORMAT, "%s: attribute %s is longer than %zu bytes", f->path, name, buflen - 1);
    else {
      memcpy(buf, tmp, len);
      buf[len] = '\0';
    }
    free(tmp);
  }
  H5Eclear2(H5E_DEFAULT);
  if (t >= 0) H5Tclose(t);
  H5Aclose(a);
  return err;
}

static TcErr get_num_attr_(TcH5File *f, const char *obj, const char *name, hid_t mtype, void *v, int want_int) {
  hid_t a;
  TC_CALL(open_attr_(f, obj, name, &a));
  hid_t t = H5Aget_type(a);
  H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
  int standard = type_standard_(t);
  if (t >= 0) H5Tclose(t);
  TcErr err = TC_OK;
  if (!(c == H5T_INTEGER || (!want_int && c == H5T_FLOAT)))
    err = tc_err_set(TC_ERR_FORMAT, "%s: attribute %s is not %s", f->path, name,
                     want_int ? "an integer" : "a number");
  else if (!standard)
    err = tc_err_set(TC_ERR_FORMAT, "%s: attribute %s has a damaged or non-standard number type", f->path,
                     name);
  else if (H5Aread(a, mtype, v) < 0)
    err = tc_err_set(TC_ERR_FORMAT, "%s: cannot read attribute %s", f->path, name);
  H5Eclear2(H5E_DEFAULT);
  H5Aclose(a);
  return err;
}

TcErr tc_h5_get_attr_i64(TcH5File *f, const char *obj, const char *name, int64_t *value) {
  return get_num_attr_(f, obj, name, H5T_NATIVE_INT64, value, 1);
}

TcErr tc_h5_get_attr_f64(TcH5File *f, const char *obj, const char *name, double *value) {
  return get_num_attr_(f, obj, name, H5T_NATIVE_DOUBLE, value, 0);
}

TcErr tc_h5_get_attr_i64_range(TcH5File *f, const char *obj, const char *name, int64_t lo, int64_t hi,
                               int64_t *value) {
  int64_t v = 0;
  TC_CALL(tc_h5_get_attr_i64(f, obj, name, &v));
  /* an unsigned 2^64-1 arrives clipped to INT64_MAX: out of any range too */
  TC_CHECK(v >= lo && v <= hi, TC_ERR_FORMAT, "%s: attribute %s = %lld is out of range (%lld..%lld)",
           f->path, name, (long long)v, (long long)lo, (long long)hi);
  *value = v;
  return TC_OK;
}

TcErr tc_h5_get_attr_f64_range(TcH5File *f, const char *obj, const char *name, double lo, double hi,
                               double *value) {
  double v = 0;
  TC_CALL(tc_h5_get_attr_f64(f, obj, name, &v));
  TC_CHECK(v >= lo && v <= hi, TC_ERR_FORMAT, "%s: attribute %s = %g is out of range (%g..%g)", f->path,
           name, v, lo, hi);
  *value = v;
  return TC_OK;
}

/* ---------------------------------------------------------------- describe */

/* info must survive damaged files: nothing below trusts a type, a shape or
 * an attribute table it has not checked, and the first damage found stops
 * the listing with one error naming the file and the object. */
typedef struct {
  TcH5File *f;
  FILE *out;
  int print;
  TcErr err;
} DescribeCtx;

/* Small numeric values as info shows them: integers are read as long long or
 * unsigned long long (by the stored type's sign) and printed exactly, since
 * through a double a 64-bit value such as an index's bank_digest would print
 * rounded; floats through a double, %.6g. */
typedef struct {
  int kind; /* 0 float, 1 signed integer, 2 unsigned integer */
  union {
    double d[8];
    long long i[8];
    unsigned long long u[8];
  } v;
} Numbers_;

static hid_t numbers_type_(Numbers_ *nb, H5T_class_t c, hid_t t) {
  nb->kind = c == H5T_FLOAT ? 0 : H5Tget_sign(t) == H5T_SGN_NONE ? 2 : 1;
  return nb->kind == 0 ? H5T_NATIVE_DOUBLE : nb->kind == 2 ? H5T_NATIVE_ULLONG : H5T_NATIVE_LLONG;
}

static void numbers_print_(const Numbers_ *nb, hssize_t i, FILE *out) {
  if (nb->kind == 0) fprintf(out, "%.6g", nb->v.d[i]);
  else if (nb->kind == 2) fprintf(out, "%llu", nb->v.u[i]);
  else fprintf(out, "%lld", nb->v.i[i]);
}

static void print_attr_value_(hid_t a, FILE *out) {
  hid_t t = H5Aget_type(a), sp = H5Aget_space(a);
  H5S_class_t cls = sp >= 0 ? H5Sget_simple_extent_type(sp) : H5S_NO_CLASS;
  hssize_t n = cls == H5S_SCALAR || cls == H5S_SIMPLE ? H5Sget_simple_extent_npoints(sp) : -1;
  H5T_class_t c = t >= 0 ? H5Tget_class(t) : H5T_NO_CLASS;
  if (c == H5T_STRING && n == 1 && H5Tis_variable_str(t) > 0) {
    char *s = NULL;
    hid_t mt = H5Tcopy(H5T_C_S1);
    H5Tset_size(mt, H5T_VARIABLE);
    H5Tset_cset(mt, H5Tget_cset(t));
    if (H5Aread(a, mt, &s) >= 0) fprintf(out, "\"%.*s\"", (int)(s ? strnlen(s, 4096) : 0), s ? s : "");
    else fprintf(out, "<unreadable string>");
    if (s) H5free_memory(s);
    H5Tclose(mt);
  } else if (c == H5T_STRING && n == 1) {
    size_t sz = H5Tget_size(t);
    char *buf = sz > 0 && sz <= TC_H5_MAX_STR ? calloc(sz + 1, 1) : NULL;
    if (buf && H5Aread(a, t, buf) >= 0) fprintf(out, "\"%.*s\"", (int)strnlen(buf, 4096), buf);
    else fprintf(out, "<string of %zu bytes>", sz);
    free(buf);
  } else if (c == H5T_STRING) {
    fprintf(out, "<%lld strings>", (long long)n);
  } else if ((c == H5T_INTEGER || c == H5T_FLOAT) && type_standard_(t)) {
    Numbers_ nb;
    hid_t mt = numbers_type_(&nb, c, t);
    if (n >= 1 && n <= 8 && H5Aread(a, mt, &nb.v) >= 0) {
      if (n > 1) fputc('[', out);
      for (hssize_t i = 0; i < n; i++) {
        if (i) fputs(", ", out);
        numbers_print_(&nb, i, out);
      }
      if (n > 1) fputc(']', out);
    } else {
      fprintf(out, "<%lld values>", (long long)n);
    }
  } else {
    fprintf(out, "<attribute of another type>");
  }
  H5Eclear2(H5E_DEFAULT);
  if (sp >= 0) H5Sclose(sp);
  if (t >= 0) H5Tclose(t);
}

/* Attributes of object `loc`, by index. For any by-index access libhdf5
 * 1.10 first builds a table of all the object's attributes, and when one
 * attribute message fails to decode it releases the half-built table,
 * entries that were never set included (a segfault in
 * H5A__attr_release_table on bit-flipped files). A lookup by a name that
 * cannot exist decodes every attribute message one by one without that
 * table and fails cleanly on a damaged one: it runs first, and any failure
 * ends the listing as a format error. */
static TcErr describe_attrs_(DescribeCtx *ctx, hid_t loc, const char *label, const char *indent, int root) {
  H5O_info_t oi;
  if (H5Oget_info2(loc, &oi, H5O_INFO_NUM_ATTRS) < 0) {
    H5Eclear2(H5E_DEFAULT);
    return tc_err_set(TC_ERR_FORMAT, "%s: damaged file: the header of %s is unreadable", ctx->f->path, label);
  }
  if (oi.num_attrs > 0 && H5Aexists_by_name(loc, ".", "\001tailedcore probe", H5P_DEFAULT) != 0) {
    H5Eclear2(H5E_DEFAULT);
    return tc_err_set(TC_ERR_FORMAT, "%s: damaged file: the attributes of %s are unreadable", ctx->f->path,
                      label);
  }
  for (hsize_t i = 0; i < oi.num_attrs; i++) {
    hid_t a = H5Aopen_by_idx(loc, ".", H5_INDEX_NAME, H5_ITER_INC, i, H5P_DEFAULT, H5P_DEFAULT);
    char name[256] = "";
    if (a < 0 || H5Aget_name(a, sizeof name, name) < 0) {
      if (a >= 0) H5Aclose(a);
      H5Eclear2(H5E_DEFAULT);
      return tc_err_set(TC_ERR_FORMAT, "%s: damaged file: attribute %llu of %llu of %s is unreadable",
                        ctx->f->path, (unsigned long long)i, (unsigned long long)oi.num_attrs, label);
    }
    if (!(root && (!strcmp(name, "tc_kind") || !strcmp(name, "tc_format_version"))) && ctx->print) {
      fprintf(ctx->out, "%s@%s = ", indent, name);
      print_attr_value_(a, ctx->out);
      fputc('\n', ctx->out);
    }
    H5Aclose(a);
  }
  return TC_OK;
}

static const char *dtype_label_(hid_t t) {
  H5T_class_t c = H5Tget_class(t);
  size_t s = H5Tget_size(t);
  if (c == H5T_STRING) return "string";
  if (!type_standard_(t)) return "other";
  if (c == H5T_FLOAT) return s == 4 ? "float32" : "float64";
  int sg = H5Tget_sign(t) == H5T_SGN_2;
  switch (s) {
  case 1: return sg ? "int8" : "uint8";
  case 2: return sg ? "int16" : "uint16";
  case 4: return sg ? "int32" : "uint32";
  default: return sg ? "int64" : "uint64";
  }
}

static TcErr describe_dataset_(DescribeCtx *ctx, hid_t root, const char *name) {
  TcErr err = TC_OK;
  hid_t ds = H5Dopen2(root, name, H5P_DEFAULT);
  hid_t sp = ds >= 0 ? H5Dget_space(ds) : H5I_INVALID_HID, t = ds >= 0 ? H5Dget_type(ds) : H5I_INVALID_HID;
  int nd = 0;
  hsize_t d[TC_H5_MAX_RANK] = {0};
  TC_CHECK_GOTO(err, ds >= 0 && t >= 0, TC_ERR_FORMAT, cleanup, "%s: damaged file: dataset /%s is unreadable",
                ctx->f->path, name);
  TC_CALL_GOTO(err, space_extent_(ctx->f, name, sp, 0, &nd, d), cleanup);
  if (ctx->print) {
    fprintf(ctx->out, "  /%-28s %-8s [", name, dtype_label_(t));
    for (int i = 0; i < nd; i++) fprintf(ctx->out, "%s%llu", i ? " x " : "", (unsigned long long)d[i]);
    fputc(']', ctx->out);
  }
  /* small numeric datasets are diagnostics (k_max, coreset sizes): show them */
  hssize_t n = H5Sget_simple_extent_npoints(sp);
  H5T_class_t c = H5Tget_class(t);
  if ((c == H5T_INTEGER || c == H5T_FLOAT) && n >= 1 && n <= 8 && type_standard_(t)) {
    Numbers_ nb;
    hid_t mt = numbers_type_(&nb, c, t);
    if (H5Dread(ds, mt, H5S_ALL, H5S_ALL, H5P_DEFAULT, &nb.v) >= 0 && ctx->print) {
      fprintf(ctx->out, " =");
      for (hssize_t i = 0; i < n; i++) {
        fputc(' ', ctx->out);
        numbers_print_(&nb, i, ctx->out);
      }
    }
  }
  if (ctx->print) fputc('\n', ctx->out);
  char label[300];
  snprintf(label, sizeof label, "dataset /%s", name);
  err = describe_attrs_(ctx, ds, label, "      ", 0);
cleanup:
  H5Eclear2(H5E_DEFAULT);
  if (t >= 0) H5Tclose(t);
  if (sp >= 0) H5Sclose(sp);
  if (ds >= 0) H5Dclose(ds);
  return err;
}

static herr_t describe_obj_(hid_t root, const char *name, const H5O_info_t *info, void *data) {
  DescribeCtx *ctx = data;
  if (!strcmp(name, ".")) return 0;
  if (info->type == H5O_TYPE_GROUP) {
    if (ctx->print) fprintf(ctx->out, "  /%s/\n", name);
    hid_t g = H5Gopen2(root, name, H5P_DEFAULT);
    char label[300];
    snprintf(label, sizeof label, "group /%s", name);
    if (g < 0) ctx->err = tc_err_set(TC_ERR_FORMAT, "%s: damaged file: %s is unreadable", ctx->f->path, label);
    else ctx->err = describe_attrs_(ctx, g, label, "      ", 0);
    if (g >= 0) H5Gclose(g);
  } else if (info->type == H5O_TYPE_DATASET) {
    ctx->err = describe_dataset_(ctx, root, name);
  }
  H5Eclear2(H5E_DEFAULT);
  return ctx->err ? -1 : 0;
}

/* The listing itself, on file handle f->file; everything it prints goes to
 * out (print = 1 on the process that lists). */
static TcErr describe_local_(TcH5File *f, FILE *out) {
  DescribeCtx ctx = {f, out, 1, TC_OK};
  struct stat st;
  long long bytes = stat(f->path, &st) == 0 ? (long long)st.st_size : -1;
  fprintf(out, "%s: tailedcore %s file (format %d), %.1f MiB\nattributes:\n", f->path, f->kind,
          TC_H5_FORMAT_VERSION, bytes / 1048576.0);
  TC_CALL(describe_attrs_(&ctx, f->file, "the root group", "  ", 1));
  fprintf(out, "datasets:\n");
  herr_t rc = H5Ovisit2(f->file, H5_INDEX_NAME, H5_ITER_INC, describe_obj_, &ctx, H5O_INFO_BASIC);
  if (ctx.err) return ctx.err;
  TC_CHECK(rc >= 0, TC_ERR_FORMAT, "%s: damaged file: cannot list its contents: %s", f->path, h5_reason_());
  return TC_OK;
}

/* info walks every attribute message of every object, and libhdf5 1.10's
 * attribute decoder trusts the lengths inside a message: a flipped bit
 * there makes it copy past its buffer (found by fuzzing under ASan, inside
 * H5O_attr_decode) before any of our checks can run. So rank 0 lists the
 * file in a child process with a serial handle of its own; a child killed
 * by a signal becomes a format error naming the file, and the MPI process
 * itself never runs the decoder on the damaged message. Local (rank 0). */
static TcErr describe_isolated_(TcH5File *f, FILE *out) {
  int fd[2];
  fflush(out);
  fflush(stderr);
  pid_t pid = pipe(fd) == 0 ? fork() : -1;
  if (pid < 0) return describe_local_(f, out); /* no process to spare: list in place */
  if (pid == 0) {
    /* the child: no MPI, no exit handlers, its own file handle */
    close(fd[0]);
    TcH5File mine = *f;
    mine.file = H5Fopen(f->path, H5F_ACC_RDONLY, H5P_DEFAULT);
    TcErr err = mine.file < 0 ? tc_err_set(TC_ERR_FORMAT, "%s: cannot open as HDF5: %s", f->path, h5_reason_())
                              : describe_local_(&mine, out);
    fflush(out);
    char msg[1024];
    snprintf(msg, sizeof msg, "%d %s", (int)err, err ? tc_err_message() : "");
    ssize_t w = write(fd[1], msg, strlen(msg));
    (void)w;
    _exit(0);
  }
  close(fd[1]);
  char msg[1100] = "";
  size_t got = 0;
  for (ssize_t r; got < sizeof msg - 1 && (r = read(fd[0], msg + got, sizeof msg - 1 - got)) != 0;)
    if (r > 0) got += (size_t)r;
    else if (errno != EINTR) break;
  msg[got] = '\0';
  close(fd[0]);
  int status = 0;
  while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  if (WIFSIGNALED(status))
    return tc_err_set(TC_ERR_FORMAT, "%s: damaged file: libhdf5 crashed (signal %d) while listing it", f->path,
                      WTERMSIG(status));
  int code = 0, n = 0;
  if (sscanf(msg, "%d %n", &code, &n) < 1 || !WIFEXITED(status) || WEXITSTATUS(status) != 0)
    return tc_err_set(TC_ERR_FORMAT, "%s: damaged file: listing it failed (status %d)", f->path, status);
  if (code != TC_OK) return tc_err_set((TcErr)code, "%s", msg + n);
  return TC_OK;
}

TcErr tc_h5_describe(TcH5File *f, FILE *out) {
  return tc_agree_root(f->comm, f->rank == 0 ? describe_isolated_(f, out) : TC_OK);
}
