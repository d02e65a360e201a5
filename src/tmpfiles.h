/* tmpfiles.h - temporary output files that a terminated job removes.
 *
 * Outputs are written under a temporary name and renamed when complete
 * (h5fmt.h). A job stopped by SIGTERM (Slurm's time limit, scancel), SIGINT
 * or SIGHUP would leave that temporary file behind, and a nightly job that
 * times out every night would fill the output directory with them. A file
 * registered here is unlinked by a signal handler before the signal's
 * previous action (normally: terminate) runs. SIGKILL cannot be caught: a
 * killed job can still leave a `*.tmp.*` file, never a half-written final
 * name. Local to the process. */
#ifndef TC_TMPFILES_H
#define TC_TMPFILES_H

/* Remove `path` if the process is terminated by SIGTERM, SIGINT or SIGHUP
 * until tc_tmpfile_forget(path). Installs the handlers on first use. At most
 * TC_TMPFILES_MAX files at a time; returns 0, or -1 when the table is full
 * (the file is then simply not cleaned up). */
#define TC_TMPFILES_MAX 16
int tc_tmpfile_register(const char *path);

/* Stop watching `path` (it was renamed or removed). NULL-safe. */
void tc_tmpfile_forget(const char *path);

#endif
