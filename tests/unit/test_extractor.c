/* test_extractor.c - the serial extractor's checks before any image
 * (src/extractor.h) and the backbone table behind them (src/backbone.c):
 * every name of TC_BACKBONE_CHOICES has its defaults, an unknown name, bad
 * sizes, a missing file, weights of another backbone and a layout that does
 * not fit are refused with their codes. Weights files here hold only the
 * root attributes (no tensors needed: the checks come first). */
#include <mpi.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "check.h"
#include "extractor.h"
#include "h5fmt.h"

/* A weights file with only the root attributes the loader reads first. */
static int write_attrs_(const char *path, const char *backbone, const char *layout) {
  TcH5File *w = NULL;
  int ok = tc_h5_create(MPI_COMM_SELF, path, "weights", &w) == TC_OK;
  ok = ok && tc_h5_set_attr_str(w, "/", "backbone", backbone) == TC_OK;
  ok = ok && tc_h5_set_attr_str(w, "/", "layout", layout) == TC_OK;
  ok = ok && tc_h5_set_attr_f64(w, "/", "bn_eps", 1e-5) == TC_OK;
  if (ok) ok = tc_h5_publish(&w) == TC_OK;
  else tc_h5_abandon(&w);
  return ok;
}

static void test_table_(void) {
  char choices[] = TC_BACKBONE_CHOICES;
  int n = 0;
  for (char *save = NULL, *b = strtok_r(choices, "|", &save); b; b = strtok_r(NULL, "|", &save), n++) {
    CHECK_MSG(tc_backbone_default_taps(b) != NULL, "default taps of %s", b);
    CHECK_MSG(tc_backbone_default_embed_tap(b) != NULL, "default embedding of %s", b);
  }
  CHECK_INT(n, 3);
  CHECK(!strcmp(tc_backbone_default_taps("mobilenetv2"), "block_5_add,block_10_project_BN"));
  CHECK(!strcmp(tc_backbone_default_taps("resnet18"), "layer2,layer3"));
  CHECK(!strcmp(tc_backbone_default_taps("wrn50"), "layer2,layer3"));
  CHECK(!strcmp(tc_backbone_default_embed_tap("resnet18"), "layer4"));
  CHECK(tc_backbone_default_taps("vgg") == NULL);
}

/* cfg with one field changed must fail with code, leaving *out NULL. */
static void expect_fail_(const TcExtractConfig *cfg, TcErr code, const char *needle) {
  TcExtractor *ex = (TcExtractor *)&ex; /* not NULL: create must reset it */
  TcErr e = tc_extractor_create(cfg, &ex);
  CHECK_MSG(e == code, "%s: got %s (%s)", needle, tc_err_name(e), tc_err_message());
  CHECK(ex == NULL);
  CHECK_MSG(strstr(tc_err_message(), needle) != NULL, "message '%s' lacks '%s'", tc_err_message(), needle);
  tc_err_clear();
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  test_table_();
  char keras[64], torch[64];
  snprintf(keras, sizeof keras, "/tmp/test_extractor_k_%d.h5", (int)getpid());
  snprintf(torch, sizeof torch, "/tmp/test_extractor_t_%d.h5", (int)getpid());
  CHECK(write_attrs_(keras, "mobilenetv2", "keras"));
  CHECK(write_attrs_(torch, "resnet18", "keras")); /* a resnet needs torchvision */

  const TcExtractConfig ok = {"mobilenetv2", keras, NULL, 0, 256, 224, 0, 8};
  TcExtractConfig c = ok;
  c.crop = 300;
  expect_fail_(&c, TC_ERR_USAGE, "--crop (300) <= --resize (256)");
  c = ok;
  c.dim = -1;
  expect_fail_(&c, TC_ERR_USAGE, "--dim");
  c = ok;
  c.backbone = "vgg";
  expect_fail_(&c, TC_ERR_USAGE, "unknown backbone 'vgg' (choose " TC_BACKBONE_CHOICES ")");
  c = ok;
  c.weights = "/tmp/test_extractor_nosuch.h5";
  expect_fail_(&c, TC_ERR_IO, "nosuch");
  c = ok;
  c.backbone = "wrn50";
  expect_fail_(&c, TC_ERR_FORMAT, "weights are for backbone 'mobilenetv2', not 'wrn50'");
  c = ok;
  c.backbone = "resnet18";
  c.weights = torch;
  expect_fail_(&c, TC_ERR_FORMAT, "resnet18 needs layout 'torchvision', file says 'keras'");
  /* the layout fits: the loader goes on to the tensors, absent here */
  expect_fail_(&ok, TC_ERR_FORMAT, "Conv1");

  TcExtractor *none = NULL;
  tc_extractor_destroy(&none);
  tc_extractor_destroy(NULL);
  CHECK(none == NULL);
  unlink(keras);
  unlink(torch);
  int rc = tc_test_report();
  MPI_Finalize();
  return rc;
}
