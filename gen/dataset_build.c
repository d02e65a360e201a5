/* dataset_build.c - dataset.json writer and folder helpers of the data-set
 * builders (see dataset_build.h). Plain POSIX calls; no MPI. */
#include "dataset_build.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

TcErr tc_dataset_make_parents(const char *path) {
  char *p = tc_strfmt("%s", path);
  TC_CHECK(p, TC_ERR_MEM, "out of memory");
  size_t L = strlen(p);
  while (L > 1 && p[L - 1] == '/') p[--L] = '\0';
  char *last = strrchr(p, '/');
  TcErr err = TC_OK;
  if (last && last != p) {
    *last = '\0';
    for (char *s = p + 1;; s++) {
      if (*s != '/' && *s != '\0') continue;
      char c = *s;
      *s = '\0';
      if (mkdir(p, 0777) != 0 && errno != EEXIST) {
        err = tc_err_set(TC_ERR_IO, "%s: cannot create folder: %s", p, strerror(errno));
        break;
      }
      *s = c;
      if (!c) break;
    }
  }
  free(p);
  return err;
}

void tc_dataset_remove_tree(const char *path) {
  struct stat st;
  if (lstat(path, &st) != 0) return;
  if (S_ISDIR(st.st_mode)) {
    char **names = NULL;
    int64_t n = 0;
    if (tc_dataset_dir_names(path, &names, &n) == TC_OK) {
      for (int64_t i = 0; i < n; i++) {
        char *c = tc_strfmt("%s/%s", path, names[i]);
        if (c) tc_dataset_remove_tree(c);
        free(c);
        free(names[i]);
      }
      free(names);
    }
    rmdir(path);
  } else {
    unlink(path);
  }
}

/* ---------- dataset.json: writer ---------- */

static void json_str_(FILE *fp, const char *s) {
  fputc('"', fp);
  for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
    if (*p == '"' || *p == '\\') fprintf(fp, "\\%c", *p);
    else if (*p == '\n') fputs("\\n", fp);
    else if (*p == '\t') fputs("\\t", fp);
    else if (*p < 0x20) fprintf(fp, "\\u%04x", *p);
    else fputc(*p, fp);
  }
  fputc('"', fp);
}

TcErr tc_dataset_info_write(const char *path, const TcDatasetInfo *info) {
  char *tmp = tc_strfmt("%s.tmp%ld", path, (long)getpid());
  if (!tmp) return TC_ERR_MEM;
  FILE *fp = fopen(tmp, "w");
  if (!fp) {
    TcErr e = tc_err_set(TC_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
    free(tmp);
    return e;
  }
  /* One key per line, seed on its own line, so `grep -v '"seed"'` compares
   * a seeded build with its rebuild from manifests. */
  fprintf(fp, "{\n  \"format\": \"tailedcore-dataset\",\n  \"version\": 1,\n  \"protocol\": ");
  json_str_(fp, info->protocol ? info->protocol : "pristine");
  if (info->has_seed) fprintf(fp, ",\n  \"seed\": %lld", (long long)info->seed);
  else fprintf(fp, ",\n  \"seed\": null");
  fprintf(fp, ",\n  \"noise_ratio\": %.17g,\n  \"alpha\": %.17g,\n  \"head_ratio\": %.17g",
          info->noise_ratio, info->alpha, info->head_ratio);
  fprintf(fp, ",\n  \"step_k\": %lld,\n  \"n_good\": %lld,\n  \"n_noise\": %lld",
          (long long)info->step_k, (long long)info->n_good, (long long)info->n_noise);
  fprintf(fp, ",\n  \"classes\": [");
  for (int c = 0; c < info->n_classes; c++) {
    const TcClassInfo *k = &info->classes[c];
    fprintf(fp, "%s\n    {\"name\": ", c ? "," : "");
    json_str_(fp, k->name);
    fprintf(fp,
            ", \"tail\": %s, \"n_source_train\": %lld, \"n_good\": %lld, \"n_noise\": %lld, "
            "\"n_test_good\": %lld, \"n_test_anomaly\": %lld,\n     \"noise\": [",
            k->is_tail ? "true" : "false", (long long)k->n_source_train, (long long)k->n_good,
            (long long)k->n_noise, (long long)k->n_test_good, (long long)k->n_test_anomaly);
    for (int64_t i = 0; i < k->n_noise; i++) {
      fprintf(fp, "%s\n       {\"path\": ", i ? "," : "");
      json_str_(fp, k->noise[i]);
      fprintf(fp, ", \"source\": ");
      json_str_(fp, k->noise_source[i]);
      fputc('}', fp);
    }
    fprintf(fp, "]}");
  }
  fprintf(fp, "\n  ]\n}\n");
  TcErr err = TC_OK;
  if (ferror(fp)) err = tc_err_set(TC_ERR_IO, "%s: write failed", tmp);
  if (fclose(fp) != 0 && err == TC_OK) err = tc_err_set(TC_ERR_IO, "%s: write failed", tmp);
  if (err == TC_OK && rename(tmp, path) != 0)
    err = tc_err_set(TC_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
  if (err != TC_OK) unlink(tmp);
  free(tmp);
  return err;
}

TcErr tc_dataset_publish_pristine(const char *tmp, const char *out, TcClassInfo *ci, int nc, int64_t seed,
                                  int64_t n_train) {
  for (int i = 1; i < nc; i++)
    for (int j = i; j > 0 && strcmp(ci[j - 1].name, ci[j].name) > 0; j--) {
      TcClassInfo t = ci[j];
      ci[j] = ci[j - 1];
      ci[j - 1] = t;
    }
  TcDatasetInfo info = {0};
  info.protocol = "pristine";
  info.has_seed = 1;
  info.seed = seed;
  info.n_good = (int64_t)nc * n_train;
  info.n_classes = nc;
  info.classes = ci;
  char p[4300];
  snprintf(p, sizeof p, "%s/dataset.json", tmp);
  TC_CALL(tc_dataset_info_write(p, &info));
  struct stat st;
  if (lstat(out, &st) != 0) {
    TC_CHECK(rename(tmp, out) == 0, TC_ERR_IO, "%s: cannot rename into place: %s", out, strerror(errno));
    return TC_OK;
  }
  char old[4300];
  snprintf(old, sizeof old, "%s.old", tmp);
  TC_CHECK(rename(out, old) == 0, TC_ERR_IO, "%s: cannot move aside: %s", out, strerror(errno));
  if (rename(tmp, out) != 0) {
    TcErr err = tc_err_set(TC_ERR_IO, "%s: cannot rename into place: %s", out, strerror(errno));
    rename(old, out);
    return err;
  }
  tc_dataset_remove_tree(old);
  return TC_OK;
}

TcErr tc_dataset_begin(const char *out_arg, int force, char *out, size_t out_len, char *tmp, size_t tmp_len) {
  snprintf(out, out_len, "%s", out_arg);
  size_t L = strlen(out);
  while (L > 1 && out[L - 1] == '/') out[--L] = '\0';
  struct stat st;
  TC_CHECK(force || lstat(out, &st) != 0, TC_ERR_IO, "%s: already exists (use --force to replace it)", out);
  const char *slash = strrchr(out, '/');
  if (slash) snprintf(tmp, tmp_len, "%.*s/.%s.tmpXXXXXX", (int)(slash - out), out, slash + 1);
  else snprintf(tmp, tmp_len, ".%s.tmpXXXXXX", out);
  TC_CALL(tc_dataset_make_parents(out));
  TC_CHECK(mkdtemp(tmp), TC_ERR_IO, "%s: cannot create a temporary folder next to it: %s", out, strerror(errno));
  chmod(tmp, 0755);
  return TC_OK;
}
