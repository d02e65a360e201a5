/* coreset_radius.c - covering radius of a model's coreset (issue 17): the
 * largest distance from any candidate patch to its nearest selected patch,
 * in the projected space the greedy works in (fit's seed and proj_dim).
 *
 *   coreset_radius --features train.h5 --model model.h5 [--order clean_order]
 *
 * Meant for `fit --method patchcore` models, whose M_clean candidates are
 * all N x HW patches of features.h5, so /coreset/clean_order holds global
 * patch indices of that set. Ranks split the patches; distances by sgemm
 * (|x|^2 + |c|^2 - 2 x.c in double after the product), max-reduced. Prints
 * "radius R n N m M". */
#include <cblas.h>
#include <math.h>
#include <stdlib.h>

#include "h5fmt.h"
#include "partition.h"
#include "proj.h"
#include "tool_common.h"

#define BLK 256

static TcErr run_(MPI_Comm comm, int argc, char **argv) {
  const char *feat = NULL, *model = NULL, *order = "coreset/clean_order";
  for (int a = 1; a + 1 < argc; a += 2) {
    if (!strcmp(argv[a], "--features")) feat = argv[a + 1];
    else if (!strcmp(argv[a], "--model")) model = argv[a + 1];
    else if (!strcmp(argv[a], "--order")) order = argv[a + 1];
  }
  TC_CHECK(feat && model, TC_ERR_USAGE, "usage: coreset_radius --features F --model M [--order DATASET]");
  const int rank = tc_rank(comm), size = tc_size(comm);
  TcH5File *fm = NULL, *ff = NULL;
  TcFeaturesMeta meta;
  int64_t seed = 0, P = 0, dims[4];
  int nd = 0;
  TC_CALL(tc_h5_open(comm, model, "model", &fm));
  TC_CALL(tc_h5_get_attr_i64(fm, "/", "seed", &seed));
  TC_CALL(tc_h5_get_attr_i64(fm, "/", "proj_dim", &P));
  TC_CALL(tc_h5_dims(fm, order, &nd, dims));
  const int64_t m = dims[0];
  int64_t *sel = malloc(sizeof(int64_t) * (size_t)m);
  TC_CALL(tc_h5_read_rows(fm, order, TC_H5_I64, 0, m, sel));
  tc_h5_close(&fm);
  TC_CALL(tc_features_open(comm, feat, &ff, &meta));
  const int64_t N = meta.N, HW = meta.fmap_h * meta.fmap_w, D = meta.D;
  int64_t lo, hi;
  tc_block_range(N, rank, size, &lo, &hi);
  const int64_t nl = hi - lo, npl = nl * HW;
  int64_t nlmax = 0;
  MPI_Allreduce(&nl, &nlmax, 1, MPI_INT64_T, MPI_MAX, comm);
  float *W = NULL;
  TC_CALL(tc_proj_create(P, D, (uint64_t)seed, &W));
  float *F = malloc(sizeof(float) * (size_t)(16 * HW * D));
  float *X = malloc(sizeof(float) * (size_t)((npl ? npl : 1) * P));
  for (int64_t c0 = 0; c0 < nlmax; c0 += 16) {
    int64_t cn = nl - c0 < 16 ? nl - c0 : 16;
    if (cn < 0) cn = 0;
    TC_CALL(tc_features_read(ff, &meta, lo + (cn ? c0 : 0), cn, F, NULL));
    for (int64_t i = 0; i < cn; i++) tc_proj_apply(W, P, D, F + i * HW * D, HW, X + (c0 + i) * HW * P);
  }
  tc_h5_close(&ff);
  /* the selected rows on every rank: owners fill, zeros elsewhere (exact sum) */
  float *C = calloc((size_t)(m * P), sizeof(float));
  for (int64_t t = 0; t < m; t++)
    if (sel[t] >= lo * HW && sel[t] < hi * HW) memcpy(C + t * P, X + (sel[t] - lo * HW) * P, sizeof(float) * P);
  MPI_Allreduce(MPI_IN_PLACE, C, (int)(m * P), MPI_FLOAT, MPI_SUM, comm);
  double *cn2 = malloc(sizeof(double) * (size_t)m);
  for (int64_t t = 0; t < m; t++) {
    double s = 0;
    for (int64_t j = 0; j < P; j++) s += (double)C[t * P + j] * C[t * P + j];
    cn2[t] = s;
  }
  float *G = malloc(sizeof(float) * (size_t)(BLK * m));
  double r2 = 0;
  for (int64_t b = 0; b < npl; b += BLK) {
    int64_t bn = npl - b < BLK ? npl - b : BLK;
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)bn, (int)m, (int)P, 1.0f, X + b * P, (int)P, C,
                (int)P, 0.0f, G, (int)m);
    for (int64_t i = 0; i < bn; i++) {
      double xn = 0;
      for (int64_t j = 0; j < P; j++) xn += (double)X[(b + i) * P + j] * X[(b + i) * P + j];
      double best = INFINITY;
      for (int64_t t = 0; t < m; t++) {
        double d = xn + cn2[t] - 2.0 * G[i * m + t];
        if (d < best) best = d;
      }
      if (best > r2) r2 = best;
    }
  }
  MPI_Allreduce(MPI_IN_PLACE, &r2, 1, MPI_DOUBLE, MPI_MAX, comm);
  if (rank == 0) printf("radius %.6g n %lld m %lld\n", sqrt(r2 > 0 ? r2 : 0), (long long)(N * HW), (long long)m);
  free(W); free(F); free(X); free(C); free(cn2); free(G); free(sel);
  return TC_OK;
}

int main(int argc, char **argv) { return tool_main_(argc, argv, "coreset_radius", run_); }
