/* embed_taps.c - global embeddings of many backbone maps in one forward
 * pass per image, for measuring TailSampler candidates (DECISIONS.md,
 * "TailSampler on real photographs"; analysis/tail_candidates.py reads the
 * output). One process, no mpirun; not used by any command.
 *
 *   embed_taps list WEIGHTS [BACKBONE]
 *     print every map name of the backbone with its channel count.
 *   embed_taps run WEIGHTS LIST OUTDIR TAP[,TAP...] [BACKBONE]
 *     LIST: one image per line, `PATH NAME` (NAME is what features.h5
 *     records as /paths). TAP "all" = every *_relu, *_project_BN, *_add map.
 *     Writes OUTDIR/names.txt (NAME per line, in LIST order) and, per tap and
 *     pooling, OUTDIR/TAP.POOL.f32: raw little-endian float32 [N x C],
 *     POOL = gap (global average, what extract stores), max, std (standard
 *     deviation over positions), gem (generalised mean, p = 3, of max(x, 0)).
 *     gap is summed in double here, so it equals extract's /embeddings for
 *     that tap up to float rounding (same network, same preprocessing). */
#include <math.h>
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "pextract.h"

static int ends_with_(const char *s, const char *suf) {
  size_t a = strlen(s), b = strlen(suf);
  return a >= b && !strcmp(s + a - b, suf);
}

static int die_(void) {
  fprintf(stderr, "embed_taps: %s\n", tc_err_message());
  return 1;
}

int main(int argc, char **argv) {
  MPI_Init(&argc, &argv);
  if (argc < 3) {
    fprintf(stderr, "usage: embed_taps list WEIGHTS [BACKBONE] | run WEIGHTS LIST OUTDIR TAPS [BACKBONE]\n");
    return 2;
  }
  int is_list = !strcmp(argv[1], "list");
  const char *backbone = is_list ? (argc > 3 ? argv[3] : "mobilenetv2") : (argc > 6 ? argv[6] : "mobilenetv2");
  TcExtractConfig cfg = {.backbone = backbone, .weights = argv[2], .resize = 256, .crop = 224, .batch = 1};
  TcExtractor *ex = NULL;
  if (tc_extractor_create(&cfg, &ex)) return die_();
  TcNet *net = ex->bb->net;
  int nops = tc_net_count(net);
  if (is_list) {
    for (int i = 0; i < nops; i++) printf("%s %d\n", tc_net_op(net, i)->name, tc_net_op(net, i)->cout);
    return 0;
  }
  if (argc < 6) return 2;
  const char *outdir = argv[4];
  int *taps = malloc((size_t)nops * sizeof(int)), ntap = 0;
  if (!strcmp(argv[5], "all")) {
    for (int i = 0; i < nops; i++) {
      const char *nm = tc_net_op(net, i)->name;
      if (ends_with_(nm, "_relu") || ends_with_(nm, "_project_BN") || ends_with_(nm, "_add")) taps[ntap++] = i;
    }
  } else {
    char buf[4096];
    snprintf(buf, sizeof buf, "%s", argv[5]);
    for (char *t = strtok(buf, ","); t; t = strtok(NULL, ",")) {
      int idx = tc_net_find(net, t);
      if (idx < 0) {
        fprintf(stderr, "embed_taps: no map '%s'\n", t);
        return 2;
      }
      taps[ntap++] = idx;
    }
  }
  for (int k = 0; k < ntap; k++)
    if (tc_net_request(net, taps[k])) return die_();
  FILE *lf = fopen(argv[3], "r");
  if (!lf) {
    perror(argv[3]);
    return 4;
  }
  static const char *pools[4] = {"gap", "max", "std", "gem"};
  FILE **outs = calloc((size_t)ntap * 4, sizeof(FILE *));
  for (int k = 0; k < ntap; k++)
    for (int p = 0; p < 4; p++) {
      char fn[1024];
      snprintf(fn, sizeof fn, "%s/%s.%s.f32", outdir, tc_net_op(net, taps[k])->name, pools[p]);
      outs[k * 4 + p] = fopen(fn, "wb");
      if (!outs[k * 4 + p]) {
        perror(fn);
        return 4;
      }
    }
  char nfn[1024];
  snprintf(nfn, sizeof nfn, "%s/names.txt", outdir);
  FILE *nf = fopen(nfn, "w");
  if (!nf) {
    perror(nfn);
    return 4;
  }
  char line[8192], path[4096], name[4096];
  long n = 0;
  float *v = malloc(4096 * 4 * sizeof(float));
  while (fgets(line, sizeof line, lf)) {
    if (sscanf(line, "%4095s %4095s", path, name) != 2) continue;
    if (tc_extractor_load(ex, path) || tc_backbone_forward(ex->bb, ex->input, 224, 224)) return die_();
    for (int k = 0; k < ntap; k++) {
      int c, h, w;
      const float *m = tc_net_output(net, taps[k], &c, &h, &w);
      size_t hw = (size_t)h * w;
      for (int ch = 0; ch < c; ch++) {
        const float *x = m + (size_t)ch * hw;
        double s = 0, s2 = 0, s3 = 0, mx = -INFINITY;
        for (size_t q = 0; q < hw; q++) {
          double a = x[q];
          s += a;
          s2 += a * a;
          double r = a > 0 ? a : 0;
          s3 += r * r * r;
          if (a > mx) mx = a;
        }
        double mean = s / (double)hw, var = s2 / (double)hw - mean * mean;
        v[ch] = (float)mean;
        v[c + ch] = (float)mx;
        v[2 * c + ch] = (float)sqrt(var > 0 ? var : 0);
        v[3 * c + ch] = (float)cbrt(s3 / (double)hw);
      }
      for (int p = 0; p < 4; p++) fwrite(v + (size_t)p * c, sizeof(float), (size_t)c, outs[k * 4 + p]);
    }
    fprintf(nf, "%s\n", name);
    if (++n % 50 == 0) fprintf(stderr, "embed_taps: %ld images\n", n);
  }
  for (int k = 0; k < ntap * 4; k++) fclose(outs[k]);
  fclose(nf);
  fclose(lf);
  fprintf(stderr, "embed_taps: %ld images, %d taps -> %s\n", n, ntap, outdir);
  free(v);
  free(outs);
  free(taps);
  tc_extractor_destroy(&ex);
  MPI_Finalize();
  return 0;
}
