/* outguard.h - what a command checks about the files it is given before it
 * reads or writes anything (issue 19):
 *
 *  - an output never names one of its inputs: publishing renames
 *    <out>.tmp.<id> over <out>, so an output that is an input (same device
 *    and inode, a hard link, a symlink, or the same resolved path when the
 *    output does not exist yet) would destroy it, and an input called
 *    <out>.tmp.* could be truncated by the temporary file;
 *  - an existing output must be a regular file: renaming over a device node,
 *    fifo or socket replaces it, and a directory cannot be replaced;
 *  - text inputs (image lists, labels, dataset.json) are regular files of
 *    bounded size and line length, so `--list /dev/zero`, a fifo or a
 *    directory fail at once with one line instead of hanging or filling
 *    memory.
 *
 * Serial and local: commands run the checks on rank 0 and agree (tc_agree). */
#ifndef TC_OUTGUARD_H
#define TC_OUTGUARD_H

#include <stdint.h>
#include <stdio.h>

#include "dataset.h"
#include "err.h"

/* Longest line of a list or labels file, without its line end. A path line
 * is at most PATH_MAX (4096) on Linux. */
#define TC_TEXT_LINE_MAX 4096
/* Largest list or labels file: 1 GiB is ~10 million image paths. */
#define TC_TEXT_MAX_BYTES ((int64_t)1 << 30)

/* One input of a command: the option (or role) that names it, e.g.
 * "--features" or "image", and its path (NULL: not given, skipped). */
typedef struct {
  const char *what;
  const char *path;
} TcGuardInput;

typedef struct TcOutGuard TcOutGuard;

/* Start checking output `out` given by option `opt` (e.g. "--out").
 * TC_ERR_USAGE when out exists and is not a regular file (directory, device,
 * fifo, socket); TC_ERR_MEM. Local. */
TcErr tc_outguard_open(const char *opt, const char *out, TcOutGuard **g);

/* TC_ERR_USAGE with one line naming both when `path` (an input named by
 * `what`) is the output file, or a name the output's temporary file
 * <out>.tmp.* could take. Cheap enough to call once per image of a list:
 * one stat when the output exists, else a name comparison and, only when the
 * base names match, two realpath calls. NULL path: TC_OK. Local. */
TcErr tc_outguard_input(const TcOutGuard *g, const char *what, const char *path);

void tc_outguard_close(TcOutGuard **g);

/* tc_outguard_open + tc_outguard_input for each of the n inputs + close.
 * Local. */
TcErr tc_outguard_check(const char *opt, const char *out, const TcGuardInput *in, int n);

/* tc_outguard_check against every image of a data set listing (and its
 * masks when masks != 0), ROOT-relative paths under ds->root. Local. */
TcErr tc_outguard_dataset(const char *opt, const char *out, const TcDataset *ds, int masks);

/* Open a text input for reading. `what` names it in messages ("image list",
 * "labels file"). TC_ERR_IO when it cannot be opened or is not a regular
 * file (a directory, device, fifo or socket: never blocks on a fifo);
 * TC_ERR_FORMAT when it is larger than max_bytes. Local. */
TcErr tc_text_open(const char *path, const char *what, int64_t max_bytes, FILE **fp);

/* Read the next line of fp (opened by tc_text_open on `path`) into buf
 * [cap], without its "\n" or "\r\n"; *got = 0 at the end of the file,
 * else 1 and *lineno is incremented. TC_ERR_FORMAT "path:N: ..." for a line
 * of cap bytes or more or a NUL byte (not a text file); TC_ERR_IO on a read
 * error. Local. */
TcErr tc_text_line(FILE *fp, const char *path, int64_t *lineno, char *buf, size_t cap, int *got);

#endif
