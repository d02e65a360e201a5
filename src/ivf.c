/* ivf.c - inverted-file index: k-means build and probe search (issue 17).
 * See ivf.h for the semantics pinned here. */
#include "ivf.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "rng.h"

/* Rows per sgemm block in the k-means assignment. */
#define ASSIGN_BLOCK 1024

int64_t tc_ivf_default_nlist(int64_t M) {
  if (M < 1) return 1;
  int64_t n = (int64_t)llround(4.0 * sqrt((double)M));
  if (n < 1) n = 1;
  if (n > M) n = M;
  return n;
}

void tc_ivf_free(TcIvf *ivf) {
  free(ivf->centroids);
  free(ivf->cnorms);
  free(ivf->list_start);
  free(ivf->order);
  free(ivf->pos);
  free(ivf->norms);
  memset(ivf, 0, sizeof *ivf);
}

/* Nearest centroid of each of the n rows X [n x D] (lowest key, lowest
 * centroid on ties): assign [n], key [n] (the clamped sgemm key). C is
 * scratch of ASSIGN_BLOCK * nlist floats, xn of ASSIGN_BLOCK. Local. */
static void assign_(const float *X, int64_t n, int64_t D, const float *cent, const float *cn, int64_t nlist,
                    float *C, float *xn, int64_t *assign, float *key) {
  for (int64_t i0 = 0; i0 < n; i0 += ASSIGN_BLOCK) {
    int64_t b = n - i0 < ASSIGN_BLOCK ? n - i0 : ASSIGN_BLOCK;
    const float *Xb = X + i0 * D;
    tc_score_row_norms(Xb, b, D, xn);
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)b, (int)nlist, (int)D, -2.0f, Xb, (int)D, cent,
                (int)D, 0.0f, C, (int)nlist);
    for (int64_t i = 0; i < b; i++) {
      const float *c = C + i * nlist;
      float best = INFINITY;
      int64_t bi = 0;
      for (int64_t l = 0; l < nlist; l++) {
        float k = (xn[i] + cn[l]) + c[l];
        if (k < 0.0f) k = 0.0f;
        if (k < best) {
          best = k;
          bi = l;
        }
      }
      assign[i0 + i] = bi;
      key[i0 + i] = best;
    }
  }
}

/* Reorder the rows of bank [M x D] in place so that position k holds old row
 * order[k] (cycle following, one row of scratch). done [M] scratch. Local. */
static void permute_rows_(float *bank, int64_t M, int64_t D, const int64_t *order, unsigned char *done,
                          float *tmp) {
  memset(done, 0, (size_t)M);
  const size_t rb = sizeof(float) * (size_t)D;
  for (int64_t k = 0; k < M; k++) {
    if (done[k] || order[k] == k) {
      done[k] = 1;
      continue;
    }
    memcpy(tmp, bank + k * D, rb);
    int64_t j = k;
    for (;;) {
      int64_t src = order[j];
      done[j] = 1;
      if (src == k) {
        memcpy(bank + j * D, tmp, rb);
        break;
      }
      memcpy(bank + j * D, bank + src * D, rb);
      j = src;
    }
  }
}

TcErr tc_ivf_build(float *bank, int64_t M, int64_t D, int64_t nlist, int iters, uint64_t seed, TcIvf *ivf) {
  memset(ivf, 0, sizeof *ivf);
  TC_CHECK(M >= 1 && D >= 1 && D <= INT_MAX && iters >= 1 && nlist >= 1, TC_ERR_USAGE,
           "ivf: bad sizes (M=%lld D=%lld nlist=%lld iters=%d)", (long long)M, (long long)D, (long long)nlist,
           iters);
  if (nlist > M) nlist = M;
  TC_CHECK(nlist <= INT_MAX / ASSIGN_BLOCK, TC_ERR_USAGE, "ivf: nlist %lld is too large", (long long)nlist);
  int64_t nt = nlist * TC_IVF_TRAIN_PER_LIST;
  if (nt > M || nt / TC_IVF_TRAIN_PER_LIST != nlist) nt = M;
  TcErr err = TC_OK;
  int64_t *perm = tc_malloc(sizeof(int64_t) * (size_t)M, "ivf sample");
  float *T = tc_malloc_aligned(sizeof(float) * (size_t)(nt * D), "ivf training rows");
  float *C = tc_malloc_aligned(sizeof(float) * (size_t)(ASSIGN_BLOCK * nlist), "ivf assignment block");
  float *xn = tc_malloc(sizeof(float) * ASSIGN_BLOCK, "ivf norms");
  int64_t *asg = tc_malloc(sizeof(int64_t) * (size_t)M, "ivf assignment");
  float *key = tc_malloc(sizeof(float) * (size_t)M, "ivf keys");
  double *sum = tc_malloc(sizeof(double) * (size_t)(nlist * D), "ivf centroid sums");
  int64_t *cnt = tc_malloc(sizeof(int64_t) * (size_t)nlist, "ivf counts");
  unsigned char *done = tc_malloc((size_t)M, "ivf permutation flags");
  float *tmp = tc_malloc(sizeof(float) * (size_t)D, "ivf row");
  ivf->centroids = tc_malloc_aligned(sizeof(float) * (size_t)(nlist * D), "ivf centroids");
  ivf->cnorms = tc_malloc(sizeof(float) * (size_t)nlist, "ivf centroid norms");
  ivf->list_start = tc_malloc(sizeof(int64_t) * (size_t)(nlist + 1), "ivf lists");
  ivf->order = tc_malloc(sizeof(int64_t) * (size_t)M, "ivf order");
  ivf->pos = tc_malloc(sizeof(int64_t) * (size_t)M, "ivf positions");
  ivf->norms = tc_malloc(sizeof(float) * (size_t)M, "ivf row norms");
  if (!perm || !T || !C || !xn || !asg || !key || !sum || !cnt || !done || !tmp || !ivf->centroids ||
      !ivf->cnorms || !ivf->list_start || !ivf->order || !ivf->pos || !ivf->norms) {
    err = TC_ERR_MEM;
    goto cleanup;
  }
  ivf->M = M;
  ivf->D = D;
  ivf->nlist = nlist;
  ivf->n_train = nt;
  float *cent = ivf->centroids, *cn = ivf->cnorms;

  /* the training sample: a partial Fisher-Yates shuffle of the rows (all
   * rows in order when the bank is small) */
  for (int64_t i = 0; i < M; i++) perm[i] = i;
  if (nt < M)
    for (int64_t i = 0; i < nt; i++) {
      int64_t j = i + tc_rng_index(seed, TC_RNG_STREAM_IVF, (uint64_t)i, M - i);
      int64_t t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
  else if (nlist < M)
    /* every row trains; the initial centroids are still a seeded sample */
    for (int64_t i = 0; i < nlist; i++) {
      int64_t j = i + tc_rng_index(seed, TC_RNG_STREAM_IVF, (uint64_t)i, M - i);
      int64_t t = perm[i];
      perm[i] = perm[j];
      perm[j] = t;
    }
  for (int64_t i = 0; i < nt; i++) memcpy(T + i * D, bank + perm[i] * D, sizeof(float) * (size_t)D);
  memcpy(cent, T, sizeof(float) * (size_t)(nlist * D));

  for (int it = 0; it < iters; it++) {
    tc_score_row_norms(cent, nlist, D, cn);
    assign_(T, nt, D, cent, cn, nlist, C, xn, asg, key);
    memset(sum, 0, sizeof(double) * (size_t)(nlist * D));
    memset(cnt, 0, sizeof(int64_t) * (size_t)nlist);
    for (int64_t i = 0; i < nt; i++) {
      double *s = sum + asg[i] * D;
      const float *x = T + i * D;
      for (int64_t d = 0; d < D; d++) s[d] += (double)x[d];
      cnt[asg[i]]++;
    }
    for (int64_t l = 0; l < nlist; l++) {
      if (cnt[l] > 0) {
        for (int64_t d = 0; d < D; d++) cent[l * D + d] = (float)(sum[l * D + d] / (double)cnt[l]);
        continue;
      }
      /* empty list: the training row farthest from its centroid (lowest row
       * on ties) among those whose list keeps a row, becomes its centroid */
      int64_t far = -1;
      for (int64_t i = 0; i < nt; i++)
        if (key[i] >= 0.0f && cnt[asg[i]] > 1 && (far < 0 || key[i] > key[far])) far = i;
      if (far < 0) continue; /* fewer distinct rows than lists: keep the old centroid */
      memcpy(cent + l * D, T + far * D, sizeof(float) * (size_t)D);
      cnt[asg[far]]--;
      key[far] = -1.0f;
      cnt[l] = 1;
    }
  }
  tc_score_row_norms(cent, nlist, D, cn);

  /* every bank row into its nearest list; a stable counting sort keeps each
   * list's rows in ascending global order */
  assign_(bank, M, D, cent, cn, nlist, C, xn, asg, key);
  int64_t *ls = ivf->list_start;
  memset(ls, 0, sizeof(int64_t) * (size_t)(nlist + 1));
  for (int64_t r = 0; r < M; r++) ls[asg[r] + 1]++;
  for (int64_t l = 0; l < nlist; l++) ls[l + 1] += ls[l];
  memcpy(cnt, ls, sizeof(int64_t) * (size_t)nlist);
  for (int64_t r = 0; r < M; r++) {
    int64_t k = cnt[asg[r]]++;
    ivf->order[k] = r;
    ivf->pos[r] = k;
  }
  permute_rows_(bank, M, D, ivf->order, done, tmp);
  tc_score_row_norms(bank, M, D, ivf->norms);

cleanup:
  free(perm);
  free(T);
  free(C);
  free(xn);
  free(asg);
  free(key);
  free(sum);
  free(cnt);
  free(done);
  free(tmp);
  if (err) tc_ivf_free(ivf);
  return err;
}

/* Above this many probes the centroids are sorted rather than inserted. */
#define TC_IVF_INSERTION_MAX 32

typedef struct {
  float key;
  int64_t l;
} Rank_;

static int rank_cmp_(const void *a, const void *b) {
  const Rank_ *x = a, *y = b;
  if (x->key != y->key) return x->key < y->key ? -1 : 1;
  return (x->l > y->l) - (x->l < y->l);
}

/* The nprobe non-empty lists of one query (squared norm qn, sgemm row c =
 * -2 q.centroids [nlist]) with the lowest keys, lowest centroid on ties,
 * into p [nprobe]: every non-empty list when nprobe = nfull, a sort when
 * nprobe is large, else insertion into a sorted list (strict <). pkey
 * [nprobe] and rank [nlist] scratch. Local. */
static void probes_(const TcIvf *ivf, const float *c, float qn, int64_t nprobe, int64_t nfull, int64_t *p,
                    float *pkey, Rank_ *rank) {
  const int64_t nlist = ivf->nlist, *ls = ivf->list_start;
  int64_t np = 0;
  if (nprobe == nfull) { /* the order of probes does not matter */
    for (int64_t l = 0; l < nlist; l++)
      if (ls[l + 1] > ls[l]) p[np++] = l;
    return;
  }
  if (nprobe > TC_IVF_INSERTION_MAX) {
    int64_t n = 0;
    for (int64_t l = 0; l < nlist; l++) {
      if (ls[l + 1] == ls[l]) continue;
      float k = (qn + ivf->cnorms[l]) + c[l];
      rank[n].key = k < 0.0f ? 0.0f : k;
      rank[n++].l = l;
    }
    qsort(rank, (size_t)n, sizeof *rank, rank_cmp_);
    for (int64_t j = 0; j < nprobe; j++) p[j] = rank[j].l;
    return;
  }
  for (int64_t l = 0; l < nlist; l++) {
    if (ls[l + 1] == ls[l]) continue;
    float k = (qn + ivf->cnorms[l]) + c[l];
    if (k < 0.0f) k = 0.0f;
    if (np == nprobe && !(k < pkey[np - 1])) continue;
    int64_t j = np < nprobe ? np++ : np - 1;
    while (j > 0 && k < pkey[j - 1]) {
      pkey[j] = pkey[j - 1];
      p[j] = p[j - 1];
      j--;
    }
    pkey[j] = k;
    p[j] = l;
  }
}

TcErr tc_ivf_search(const TcIvf *ivf, const float *bank, const float *Q, int64_t q, int64_t nprobe,
                    TcScoreNN *out) {
  const int64_t D = ivf->D, nlist = ivf->nlist, tile = TC_SCORE_TILE_ROWS;
  TC_CHECK(q >= 0 && nlist >= 1 && D >= 1, TC_ERR_USAGE, "ivf search: bad sizes (q=%lld nlist=%lld)",
           (long long)q, (long long)nlist);
  /* empty lists (possible with duplicate rows) are never probed: a probe
   * always reaches rows */
  int64_t nfull = 0;
  for (int64_t l = 0; l < nlist; l++) nfull += ivf->list_start[l + 1] > ivf->list_start[l];
  if (nprobe < 1) nprobe = 1;
  if (nprobe > nfull) nprobe = nfull;
  tc_score_nn_init(out, q);
  if (q == 0) return TC_OK;
  const int64_t QB = q < TC_SCORE_QUERY_BLOCK ? q : TC_SCORE_QUERY_BLOCK;
  TcErr err = TC_OK;
  float *qn = tc_malloc(sizeof(float) * (size_t)QB, "ivf query norms");
  float *Cc = tc_malloc_aligned(sizeof(float) * (size_t)(QB * nlist), "ivf centroid keys");
  int64_t *probe = tc_malloc(sizeof(int64_t) * (size_t)(QB * nprobe), "ivf probes");
  float *pkey = tc_malloc(sizeof(float) * (size_t)nprobe, "ivf probe keys");
  int64_t *lcount = tc_malloc(sizeof(int64_t) * (size_t)(nlist + 1), "ivf list queries");
  int64_t *lq = tc_malloc(sizeof(int64_t) * (size_t)(QB * nprobe), "ivf list query ids");
  float *Qg = tc_malloc_aligned(sizeof(float) * (size_t)(QB * D), "ivf gathered queries");
  float *gn = tc_malloc(sizeof(float) * (size_t)QB, "ivf gathered norms");
  float *C = tc_malloc_aligned(sizeof(float) * (size_t)(QB * tile), "ivf scan block");
  int64_t *bpos = tc_malloc(sizeof(int64_t) * (size_t)QB, "ivf winners");
  Rank_ *rank = tc_malloc(sizeof(Rank_) * (size_t)nlist, "ivf centroid ranking");
  if (!qn || !Cc || !probe || !pkey || !lcount || !lq || !Qg || !gn || !C || !bpos || !rank) {
    err = TC_ERR_MEM;
    goto cleanup;
  }
  for (int64_t i0 = 0; i0 < q; i0 += QB) {
    const int64_t qb = q - i0 < QB ? q - i0 : QB;
    const float *Qb = Q + i0 * D;
    TcScoreNN *ob = out + i0;
    tc_score_row_norms(Qb, qb, D, qn);
    /* rank the centroids of every query */
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)qb, (int)nlist, (int)D, -2.0f, Qb, (int)D,
                ivf->centroids, (int)D, 0.0f, Cc, (int)nlist);
    for (int64_t i = 0; i < qb; i++)
      probes_(ivf, Cc + i * nlist, qn[i], nprobe, nfull, probe + i * nprobe, pkey, rank);
    /* invert: the queries of each list, in ascending query order */
    memset(lcount, 0, sizeof(int64_t) * (size_t)(nlist + 1));
    for (int64_t i = 0; i < qb * nprobe; i++) lcount[probe[i] + 1]++;
    for (int64_t l = 0; l < nlist; l++) lcount[l + 1] += lcount[l];
    for (int64_t i = 0; i < qb; i++)
      for (int64_t j = 0; j < nprobe; j++) lq[lcount[probe[i * nprobe + j]]++] = i;
    /* lcount[l] is now the end of list l's queries; its start is lcount[l-1] */
    for (int64_t i = 0; i < qb; i++) bpos[i] = -1;
    for (int64_t l = 0; l < nlist; l++) {
      const int64_t a = l ? lcount[l - 1] : 0, nq = lcount[l] - a;
      const int64_t r0 = ivf->list_start[l], nr = ivf->list_start[l + 1] - r0;
      if (nq == 0 || nr == 0) continue;
      for (int64_t j = 0; j < nq; j++) {
        memcpy(Qg + j * D, Qb + lq[a + j] * D, sizeof(float) * (size_t)D);
        gn[j] = qn[lq[a + j]];
      }
      for (int64_t j0 = 0; j0 < nr; j0 += tile) {
        const int64_t mt = nr - j0 < tile ? nr - j0 : tile;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)mt, (int)D, -2.0f, Qg, (int)D,
                    bank + (r0 + j0) * D, (int)D, 0.0f, C, (int)mt);
        const float *bn = ivf->norms + r0 + j0;
        for (int64_t j = 0; j < nq; j++) {
          const float *c = C + j * mt;
          TcScoreNN *o = &ob[lq[a + j]];
          float best = o->key;
          int64_t bj = -1;
          for (int64_t m = 0; m < mt; m++) {
            float k = (gn[j] + bn[m]) + c[m];
            if (k < 0.0f) k = 0.0f;
            /* strict <: rows of one list ascend in global order */
            if (k < best) {
              best = k;
              bj = m;
            } else if (k == best && bj < 0 && o->index >= 0 && ivf->order[r0 + j0 + m] < o->index) {
              /* the same key as a winner of an earlier list: the lower row wins */
              bj = m;
            }
          }
          if (bj >= 0) {
            o->key = best;
            o->index = ivf->order[r0 + j0 + bj];
            bpos[lq[a + j]] = r0 + j0 + bj;
          }
        }
      }
    }
    /* the winners' exact distances, as tc_score_nn_exact */
    for (int64_t i = 0; i < qb; i++) {
      if (bpos[i] < 0) continue;
      const float *x = Qb + i * D, *b = bank + bpos[i] * D;
      double s = 0.0;
      for (int64_t d = 0; d < D; d++) {
        double t = (double)x[d] - (double)b[d];
        s += t * t;
      }
      ob[i].dist = (float)s;
    }
  }
cleanup:
  free(qn);
  free(Cc);
  free(probe);
  free(pkey);
  free(lcount);
  free(lq);
  free(Qg);
  free(gn);
  free(C);
  free(bpos);
  free(rank);
  return err;
}
