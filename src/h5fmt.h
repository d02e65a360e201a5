/* h5fmt.h - our HDF5 files (DESIGN 5) on parallel HDF5.
 *
 * Every file carries a root attribute `tc_kind` ("features", "model",
 * "scores", "tail", "weights", ...) and `tc_format_version`. Writers create
 * the file under a temporary name in the target directory
 * (`<final>.tmp.<jobid>`), write collectively (each rank its own hyperslab
 * of rows), and publish with a rename after a clean collective close
 * (tc_h5_publish), so a crash never leaves a half file under the final name
 * and an existing file of that name is untouched until the rename.
 *
 * Collectivity: functions taking TcH5File are collective on the file's
 * communicator unless marked Local. A rank that has no rows still calls the
 * row functions with nrows = 0. A communicator of MPI_COMM_SELF gives plain
 * serial access (used by unit tests and by weights loading). */
#ifndef TC_H5FMT_H
#define TC_H5FMT_H

#include <mpi.h>
#include <stdint.h>
#include <stdio.h>

#include "err.h"

#define TC_H5_FORMAT_VERSION 1

/* Limits on what a file may claim (issue 19): the readers refuse a dataset
 * of more dimensions than TC_H5_MAX_RANK, an extent or element count over
 * TC_H5_MAX_ELEMS (2^50: a petabyte of float32, far past any real file, and
 * small enough that a count times 8 bytes never overflows int64), and a
 * string attribute or row of more than TC_H5_MAX_STR bytes. */
#define TC_H5_MAX_RANK 4
#define TC_H5_MAX_ELEMS (INT64_C(1) << 50)
#define TC_H5_MAX_STR 65536

typedef enum { TC_H5_F32 = 0, TC_H5_I32, TC_H5_I64, TC_H5_U8 } TcH5Type;

typedef struct TcH5File TcH5File;

/* The checks tc_h5_create makes before it creates anything (the directory
 * exists and is writable, the path is not a directory), for commands to run
 * before hours of work rather than after. Collective (rank 0 checks, all
 * agree). */
TcErr tc_h5_check_output(MPI_Comm comm, const char *final_path);

/* Create `final_path` for writing under a temporary name (same directory).
 * Collective on comm. Checks that the directory is writable and reserves
 * 1 MiB beside the file (`<tmp>.reserve`, the room its close will need on a
 * full disk) before anything is created; the kind and version attributes are
 * written at once.
 *
 * Write errors: every writing function below (datasets, rows, strings,
 * attributes) agrees on its result across the file's communicator before it
 * returns, so every rank gets the same code and message, and after one
 * failure the file refuses every further write (TC_ERR_IO) until
 * tc_h5_abandon. A full disk reads "<final>: write failed (...): no space
 * left on device". */
TcErr tc_h5_create(MPI_Comm comm, const char *final_path, const char *kind, TcH5File **out);

/* Write a file being written through to disk (its dirty metadata, an
 * MPI_File_sync) so that every rank can read back what any rank wrote, with
 * the same handle, before it is published (a file opened to read: nothing
 * to do). Collective; a failure is agreed and leaves the file to
 * tc_h5_abandon. */
TcErr tc_h5_sync(TcH5File *f);

/* Flush (agreed), collective close, then rank 0 renames the temporary file
 * to its final name; on any error the file is abandoned instead. Collective.
 * *f is NULL afterwards, whatever happens. */
TcErr tc_h5_publish(TcH5File **f);

/* Collective close and removal of the temporary file and its reserve (on
 * an agreed error: every rank must call it). Nothing of the file stays open.
 * Collective. NULL-safe; *f is NULL afterwards. */
void tc_h5_abandon(TcH5File **f);

/* Open an existing file read-only and check it is one of ours with kind
 * `expected_kind` (NULL: any kind). Collective on comm. Clear errors for a
 * missing file, a non-HDF5 file, a foreign HDF5 file, a wrong kind. */
TcErr tc_h5_open(MPI_Comm comm, const char *path, const char *expected_kind, TcH5File **out);

/* tc_h5_open on the calling rank alone (MPI_COMM_SELF), for readers in
 * serial modules (a weights file every rank reads whole) that must not see
 * MPI themselves. Local. */
TcErr tc_h5_open_local(const char *path, const char *expected_kind, TcH5File **out);

/* Close a file opened with tc_h5_open. Collective. NULL-safe. */
void tc_h5_close(TcH5File **f);

/* Local queries. */
const char *tc_h5_path(const TcH5File *f); /* final (or opened) path, for messages */
const char *tc_h5_kind(const TcH5File *f);
MPI_Comm tc_h5_comm(const TcH5File *f);

/* Create dataset `name` (intermediate groups are created: "tail/is_tail")
 * with ndims (1..4) dims. chunk_rows > 0 chunks along the first dimension by
 * that many rows (features: 1 image per chunk); 0 = contiguous. Collective. */
TcErr tc_h5_create_dataset(TcH5File *f, const char *name, TcH5Type type, int ndims,
                           const int64_t *dims, int64_t chunk_rows);

/* Write rows [row0, row0 + nrows) of dataset `name` from buf (row-major,
 * nrows x prod(dims[1..])). Collective (independent per-rank hyperslabs,
 * collective transfer). nrows may be 0. */
TcErr tc_h5_write_rows(TcH5File *f, const char *name, TcH5Type type, int64_t row0, int64_t nrows,
                       const void *buf);

/* Read rows [row0, row0 + nrows) into buf; checks the stored element type
 * is a standard layout of `type`'s class, size and sign, and the rank is
 * 1..TC_H5_MAX_RANK. buf must hold nrows x prod(dims[1..]): the caller
 * checks the trailing extents first (tc_h5_expect). Collective. */
TcErr tc_h5_read_rows(TcH5File *f, const char *name, TcH5Type type, int64_t row0, int64_t nrows,
                      void *buf);

/* Dimensions of dataset `name`. Collective (metadata read). Errors
 * (TC_ERR_FORMAT, naming file and dataset) when missing, of more than
 * TC_H5_MAX_RANK dimensions (checked before the extents are read) or of more
 * than TC_H5_MAX_ELEMS elements. */
TcErr tc_h5_dims(TcH5File *f, const char *name, int *ndims, int64_t dims[4]);

/* Check dataset `name` exists with the given type (class, size, sign,
 * standard layout) and ndims; dims[i] >= 0 must match exactly (pass -1 to
 * accept any extent). Collective. */
TcErr tc_h5_expect(TcH5File *f, const char *name, TcH5Type type, int ndims, const int64_t *dims);

/* 1 when dataset/group `name` exists. Collective. */
int tc_h5_exists(TcH5File *f, const char *name);

/* Variable-length UTF-8 string dataset [n_total]: each rank writes its rows
 * [row0, row0+nlocal). Collective. Implemented as fixed-size rows of a
 * per-file width so it can be written in parallel (width = the max length
 * over all ranks, agreed inside). */
TcErr tc_h5_write_strings(TcH5File *f, const char *name, int64_t n_total, int64_t row0,
                          int64_t nlocal, const char *const *strs);

/* Read rows [row0, row0+n) of a string dataset (rank 1, fixed width or
 * variable length up to TC_H5_MAX_STR bytes a row). Returns n malloc'd strings in
 * *out (an array of n pointers plus the strings, one allocation: the caller
 * frees *out with free()). Collective. */
TcErr tc_h5_read_strings(TcH5File *f, const char *name, int64_t row0, int64_t n, char ***out);

/* Attributes on the root ("/") or on an object path ("tail"). Written by
 * every rank with the same value (collective metadata). Collective. */
TcErr tc_h5_set_attr_str(TcH5File *f, const char *obj, const char *name, const char *value);
TcErr tc_h5_set_attr_i64(TcH5File *f, const char *obj, const char *name, int64_t value);
TcErr tc_h5_set_attr_f64(TcH5File *f, const char *obj, const char *name, double value);

/* Read attributes; a missing attribute is TC_ERR_FORMAT naming file and
 * attribute. Each must hold exactly one value (a scalar or a 1-element
 * space) of the right class: a string (fixed width up to TC_H5_MAX_STR or
 * variable length) copied into buf, an error when it does not fit in
 * buflen - 1 bytes; an integer (any standard integer layout, converted to
 * int64, clipped at its limits); a number (integer or float) as double.
 * Collective. */
TcErr tc_h5_get_attr_str(TcH5File *f, const char *obj, const char *name, char *buf, size_t buflen);
TcErr tc_h5_get_attr_i64(TcH5File *f, const char *obj, const char *name, int64_t *value);
TcErr tc_h5_get_attr_f64(TcH5File *f, const char *obj, const char *name, double *value);
/* The same, and the value must lie in [lo, hi] (a NaN never does): what
 * every size-like attribute is read with, so a hostile value is refused
 * before it sizes anything. Collective. */
TcErr tc_h5_get_attr_i64_range(TcH5File *f, const char *obj, const char *name, int64_t lo, int64_t hi,
                               int64_t *value);
TcErr tc_h5_get_attr_f64_range(TcH5File *f, const char *obj, const char *name, double lo, double hi,
                               double *value);
int tc_h5_has_attr(TcH5File *f, const char *obj, const char *name);

/* Print a readable summary of the file (kind, every dataset with shape and
 * type, every attribute) to out. Collective (only rank 0 prints, from a
 * child process, so that libhdf5 crashing on a damaged attribute message
 * becomes an error). A damaged object ends the listing with TC_ERR_FORMAT
 * naming the file and the object. */
TcErr tc_h5_describe(TcH5File *f, FILE *out);

#endif
