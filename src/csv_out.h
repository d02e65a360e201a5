/* csv_out.h - a CSV output published like every other output: written
 * under <path>.tmp.<pid> (removed if the job is stopped by a signal, see
 * tmpfiles.h) and renamed into place only when complete, so a reader never
 * sees half a table and an error leaves nothing under the final name.
 *
 * Fields are quoted as RFC 4180 says when they hold a comma, a double quote
 * or a line end (an image path may), quotes doubled. Local (no MPI): the
 * commands write their tables from rank 0. */
#ifndef TC_CSV_OUT_H
#define TC_CSV_OUT_H

#include "err.h"

typedef struct TcCsvOut TcCsvOut;

/* Create the temporary file of `path`. TC_ERR_IO naming path when it cannot
 * be created; TC_ERR_MEM. */
TcErr tc_csv_create(const char *path, TcCsvOut **out);

/* Append one row of n fields. Write errors are remembered and reported by
 * tc_csv_publish (stdio buffers them anyway). */
void tc_csv_row(TcCsvOut *c, int n, const char *const *fields);

/* Close and rename into place. TC_ERR_IO on a write, close or rename error
 * (a full disk named as such); the temporary file is then removed. Frees
 * *c and sets it to NULL, on success and on error. */
TcErr tc_csv_publish(TcCsvOut **c);

/* Remove the temporary file without publishing; NULL-safe; sets *c = NULL. */
void tc_csv_abandon(TcCsvOut **c);

#endif
