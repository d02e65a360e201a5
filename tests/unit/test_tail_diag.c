/* test_tail_diag.c - Table 5 diagnostics from a labels file
 * (src/tail_diag.h): matching by path and by order give the same report,
 * comments and blank lines are skipped, and a malformed, short or
 * non-matching labels file is refused naming it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "tail_diag.h"
#include "tailsampler.h"

static char dir_[] = "/tmp/tc_tail_diag.XXXXXX";

/* dir_/name holding text; the path is returned in a new string. */
static char *write_labels_(const char *name, const char *text) {
  char *path = malloc(600);
  if (!path) return NULL;
  snprintf(path, 600, "%s/%s", dir_, name);
  FILE *fp = fopen(path, "w");
  if (fp) {
    fputs(text, fp);
    fclose(fp);
  }
  return path;
}

/* The report printed for `labels` into a buffer [cap]. */
static TcErr report_(const char *labels, int64_t N, char *const *paths, const TcTailResult *r, char *buf,
                     size_t cap) {
  FILE *out = tmpfile();
  if (!out) return TC_ERR_IO;
  TcErr err = tc_tail_diag_report(out, labels, N, paths, r);
  rewind(out);
  size_t n = fread(buf, 1, cap - 1, out);
  buf[n] = '\0';
  fclose(out);
  return err;
}

int main(void) {
  if (!mkdtemp(dir_)) {
    perror("mkdtemp");
    return 1;
  }
  /* four images: a head class of three (one of them noise), a tail class
   * of one; TailSampler found exactly the tail image */
  TcTailResult *r = NULL;
  CHECK_INT(tc_tail_result_create(4, &r), TC_OK);
  if (!r) return tc_test_report();
  const int64_t kappa[4] = {3, 3, 3, 1};
  const uint8_t tail[4] = {0, 0, 0, 1};
  memcpy(r->kappa, kappa, sizeof kappa);
  memcpy(r->is_tail, tail, sizeof tail);
  char *paths[4] = {"h/0.png", "h/1.png", "h/2.png", "t/0.png"};
  char *ordered = write_labels_("ordered.labels",
                                      "# path class is_noise is_tail_class\n"
                                      "h/0.png head 0 0\nh/1.png head 0 0\n\n  h/2.png head 1 0\nt/0.png tail 0 1\n");
  char by_path[2048], by_order[2048];
  CHECK_INT(report_(ordered, 4, paths, r, by_path, sizeof by_path), TC_OK);
  CHECK(strstr(by_path, "2 classes, 1 tail-class images, 2 head-class images, 1 noise images") != NULL);
  CHECK(strstr(by_path, "missing tail samples     0.0000") != NULL);
  CHECK(strstr(by_path, "included head samples    0.0000") != NULL);
  char *shuffled = write_labels_("shuffled.labels",
                                       "t/0.png tail 0 1\nh/2.png head 1 0\nh/0.png head 0 0\nh/1.png head 0 0\n");
  char shuffled_out[2048];
  CHECK_INT(report_(shuffled, 4, paths, r, shuffled_out, sizeof shuffled_out), TC_OK);
  CHECK(!strcmp(strchr(by_path, ':'), strchr(shuffled_out, ':')));
  CHECK_INT(report_(ordered, 4, NULL, r, by_order, sizeof by_order), TC_OK);
  CHECK(!strcmp(strchr(by_path, ':'), strchr(by_order, ':')));

  char buf[2048];
  char *bad_flag = write_labels_("flag.labels", "h/0.png head 0 2\n");
  CHECK_INT(report_(bad_flag, 4, paths, r, buf, sizeof buf), TC_ERR_FORMAT);
  CHECK(strstr(tc_err_message(), "flag.labels:1: expected") != NULL);
  tc_err_clear();
  char *short_file = write_labels_("short.labels", "h/0.png head 0 0\n");
  CHECK_INT(report_(short_file, 4, paths, r, buf, sizeof buf), TC_ERR_FORMAT);
  CHECK(strstr(tc_err_message(), "1 labelled images, the features file has 4") != NULL);
  tc_err_clear();
  char *other = write_labels_("other.labels", "h/0.png head 0 0\nh/1.png head 0 0\nh/2.png head 1 0\nx.png tail 0 1\n");
  CHECK_INT(report_(other, 4, paths, r, buf, sizeof buf), TC_ERR_FORMAT);
  CHECK(strstr(tc_err_message(), "no label for image 't/0.png'") != NULL);
  tc_err_clear();
  CHECK_INT(report_("/nonexistent/labels", 4, paths, r, buf, sizeof buf), TC_ERR_IO);
  tc_err_clear();

  free(ordered);
  free(shuffled);
  free(bad_flag);
  free(short_file);
  free(other);
  tc_tail_result_destroy(&r);
  char cmd[600];
  snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir_);
  if (system(cmd) != 0) fprintf(stderr, "could not remove %s\n", dir_);
  return tc_test_report();
}
