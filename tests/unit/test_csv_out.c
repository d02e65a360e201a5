/* test_csv_out.c - csv_out (issue 16): rows land under the final name only
 * at publish, fields with commas, quotes or line ends are quoted (RFC 4180),
 * an abandoned table leaves no file; and dataset's plain image lists, which
 * predict --csv tables describe: paths kept as given, the list's entries
 * before the extra files, a missing file named with its line, the class of
 * a ROOT-relative MVTec path. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "check.h"
#include "csv_out.h"
#include "dataset.h"

static int exists_(const char *p) {
  struct stat st;
  return stat(p, &st) == 0;
}

static void write_text_(const char *path, const char *text) {
  FILE *f = fopen(path, "w");
  if (f) {
    fputs(text, f);
    fclose(f);
  }
}

static char *slurp_(const char *path) {
  static char buf[4096];
  FILE *f = fopen(path, "r");
  size_t n = f ? fread(buf, 1, sizeof buf - 1, f) : 0;
  if (f) fclose(f);
  buf[n] = '\0';
  return buf;
}

static void test_publish_(const char *dir) {
  char path[600];
  snprintf(path, sizeof path, "%s/t.csv", dir);
  TcCsvOut *c = NULL;
  CHECK(tc_csv_create(path, &c) == TC_OK && c);
  const char *header[3] = {"path", "class", "score"};
  const char *row[3] = {"a,b/\"q\".png", NULL, "1.5"};
  tc_csv_row(c, 3, header);
  tc_csv_row(c, 3, row);
  CHECK(!exists_(path)); /* nothing under the final name before publish */
  CHECK(tc_csv_publish(&c) == TC_OK);
  CHECK(c == NULL);
  CHECK(strcmp(slurp_(path), "path,class,score\n\"a,b/\"\"q\"\".png\",,1.5\n") == 0);

  char gone[600];
  snprintf(gone, sizeof gone, "%s/gone.csv", dir);
  CHECK(tc_csv_create(gone, &c) == TC_OK);
  tc_csv_row(c, 3, header);
  tc_csv_abandon(&c);
  tc_csv_abandon(&c); /* NULL-safe */
  CHECK(c == NULL && !exists_(gone));
  char nodir[600];
  snprintf(nodir, sizeof nodir, "%s/no/such/dir.csv", dir);
  CHECK(tc_csv_create(nodir, &c) == TC_ERR_IO && c == NULL);
  tc_err_clear();
}

static void test_plain_(const char *dir) {
  char a[600], b[600], list[600], text[2000];
  snprintf(a, sizeof a, "%s/000123.tiff", dir);
  snprintf(b, sizeof b, "%s/x.png", dir);
  snprintf(list, sizeof list, "%s/list.txt", dir);
  write_text_(a, "not decoded here");
  write_text_(b, "nor here");
  snprintf(text, sizeof text, "# cam2\n%s\r\n\n  %s  \n", b, a);
  write_text_(list, text);
  const char *extra[1] = {a};
  TcDataset *ds = NULL;
  CHECK(tc_dataset_read_plain(list, extra, 1, &ds) == TC_OK);
  CHECK(ds && ds->n == 3 && ds->root == NULL && ds->n_classes == 0);
  if (ds && ds->n == 3) {
    CHECK(strcmp(ds->items[0].path, b) == 0 && strcmp(ds->items[1].path, a) == 0);
    CHECK(strcmp(ds->items[2].path, a) == 0); /* duplicates kept */
    CHECK(strcmp(ds->items[0].class_name, "") == 0 && ds->items[0].mask_path == NULL);
  }
  tc_dataset_destroy(&ds);
  CHECK(tc_dataset_read_plain(NULL, extra, 1, &ds) == TC_OK && ds && ds->n == 1);
  tc_dataset_destroy(&ds);

  snprintf(text, sizeof text, "%s\n%s/nosuch.tiff\n", a, dir);
  write_text_(list, text);
  tc_err_clear();
  CHECK(tc_dataset_read_plain(list, NULL, 0, &ds) == TC_ERR_IO && ds == NULL);
  CHECK_MSG(strstr(tc_err_message(), "list.txt:2: ") && strstr(tc_err_message(), "nosuch.tiff does not exist"), "%s", tc_err_message());
  const char *bad[1] = {dir};
  CHECK(tc_dataset_read_plain(NULL, bad, 1, &ds) == TC_ERR_IO && ds == NULL);

  char cls[64];
  CHECK(tc_dataset_class_of("screw/test/scratch/000.png", cls, sizeof cls) == 1 && !strcmp(cls, "screw"));
  CHECK(tc_dataset_class_of("/line3/cam2/000123.tiff", cls, sizeof cls) == 0 && cls[0] == '\0');
  CHECK(tc_dataset_class_of("screw/val/x/000.png", cls, sizeof cls) == 0);
}

int main(void) {
  char dir[512];
  tc_test_tmpdir(dir, sizeof dir, "test_csv_out");
  test_publish_(dir);
  test_plain_(dir);
  tc_test_tmpdir_remove(dir);
  return tc_test_report();
}
