/* ivf.c - inverted-file index: k-means build and probe search (issue 17).
 * See ivf.h for the semantics pinned here. */
#include "ivf.h"

#include <cblas.h>
#include <limits.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "checked.h"
#include "partition.h"
#include "rng.h"

#define ASSIGN_BLOCK TC_IVF_ASSIGN_BLOCK

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

/* The reordered bank's row norms and their max (the certification's error
 * bound). Local. */
static void bank_norms_(const float *bank, TcIvf *ivf) {
  tc_score_row_norms(bank, ivf->M, ivf->D, ivf->norms);
  float mx = 0.0f;
  for (int64_t r = 0; r < ivf->M; r++)
    if (ivf->norms[r] > mx) mx = ivf->norms[r];
  ivf->norm_max = mx;
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

void tc_ivf_part_rows(int64_t n, int part, int nparts, int64_t *lo, int64_t *hi) {
  int64_t b0, b1;
  tc_block_range((n + ASSIGN_BLOCK - 1) / ASSIGN_BLOCK, part, nparts, &b0, &b1);
  *lo = b0 * ASSIGN_BLOCK < n ? b0 * ASSIGN_BLOCK : n;
  *hi = b1 * ASSIGN_BLOCK < n ? b1 * ASSIGN_BLOCK : n;
}

/* The scratch of one build; ivf holds what it keeps. */
typedef struct {
  int64_t *perm, *asg, *cnt;
  float *T, *C, *xn, *key, *tmp;
  double *sum;
  unsigned char *done;
} Work_;

static void work_free_(Work_ *w) {
  free(w->perm);
  free(w->T);
  free(w->C);
  free(w->xn);
  free(w->asg);
  free(w->key);
  free(w->sum);
  free(w->cnt);
  free(w->done);
  free(w->tmp);
}

/* Every buffer of a build of nt training rows. Local. */
static TcErr work_alloc_(Work_ *w, TcIvf *ivf, int64_t M, int64_t D, int64_t nlist, int64_t nt) {
  w->perm = tc_malloc(sizeof(int64_t) * (size_t)M, "ivf sample");
  w->T = tc_malloc_aligned(sizeof(float) * (size_t)(nt * D), "ivf training rows");
  w->C = tc_malloc_aligned(sizeof(float) * (size_t)(ASSIGN_BLOCK * nlist), "ivf assignment block");
  w->xn = tc_malloc(sizeof(float) * ASSIGN_BLOCK, "ivf norms");
  w->asg = tc_malloc(sizeof(int64_t) * (size_t)M, "ivf assignment");
  w->key = tc_malloc(sizeof(float) * (size_t)M, "ivf keys");
  w->sum = tc_malloc(sizeof(double) * (size_t)(nlist * D), "ivf centroid sums");
  w->cnt = tc_malloc(sizeof(int64_t) * (size_t)nlist, "ivf counts");
  w->done = tc_malloc((size_t)M, "ivf permutation flags");
  w->tmp = tc_malloc(sizeof(float) * (size_t)D, "ivf row");
  ivf->centroids = tc_malloc_aligned(sizeof(float) * (size_t)(nlist * D), "ivf centroids");
  ivf->cnorms = tc_malloc(sizeof(float) * (size_t)nlist, "ivf centroid norms");
  ivf->list_start = tc_malloc(sizeof(int64_t) * (size_t)(nlist + 1), "ivf lists");
  ivf->order = tc_malloc(sizeof(int64_t) * (size_t)M, "ivf order");
  ivf->pos = tc_malloc(sizeof(int64_t) * (size_t)M, "ivf positions");
  ivf->norms = tc_malloc(sizeof(float) * (size_t)M, "ivf row norms");
  int ok = w->perm && w->T && w->C && w->xn && w->asg && w->key && w->sum && w->cnt && w->done && w->tmp &&
           ivf->centroids && ivf->cnorms && ivf->list_start && ivf->order && ivf->pos && ivf->norms;
  return ok ? TC_OK : TC_ERR_MEM;
}

/* Nearest centroid of the n rows X: this part's rows (all of them when not
 * split), then the other parts' shared in. The parts' rows start on block
 * boundaries, so assign_ makes the serial build's sgemm calls. */
static TcErr assign_split_(const TcIvfSplit *sp, const float *X, int64_t n, int64_t D, const float *cent,
                           const float *cn, int64_t nlist, Work_ *w) {
  int64_t lo = 0, hi = n;
  if (sp) tc_ivf_part_rows(n, sp->part, sp->nparts, &lo, &hi);
  assign_(X + lo * D, hi - lo, D, cent, cn, nlist, w->C, w->xn, w->asg + lo, w->key + lo);
  return sp ? sp->share(sp->ctx, n, w->asg, w->key) : TC_OK;
}

/* The training sample into w->T (a partial Fisher-Yates shuffle of the rows;
 * all rows in order when the bank is small) and the initial centroids: its
 * first nlist rows. Local. */
static void sample_(const float *bank, int64_t M, int64_t D, int64_t nlist, int64_t nt, uint64_t seed, Work_ *w,
                    float *cent) {
  int64_t *perm = w->perm;
  for (int64_t i = 0; i < M; i++) perm[i] = i;
  /* with every row training, the initial centroids are still a seeded sample */
  int64_t nshuffle = nt < M ? nt : nlist < M ? nlist : 0;
  for (int64_t i = 0; i < nshuffle; i++) {
    int64_t j = i + tc_rng_index(seed, TC_RNG_STREAM_IVF, (uint64_t)i, M - i);
    int64_t t = perm[i];
    perm[i] = perm[j];
    perm[j] = t;
  }
  for (int64_t i = 0; i < nt; i++) memcpy(w->T + i * D, bank + perm[i] * D, sizeof(float) * (size_t)D);
  memcpy(cent, w->T, sizeof(float) * (size_t)(nlist * D));
}

/* One Lloyd update from the assignments in w: float64 sums in training-row
 * order, then the means; an empty list takes the training row farthest from
 * its centroid (lowest row on ties) among those whose list keeps a row.
 * Local. */
static void update_(const float *T, int64_t nt, int64_t D, int64_t nlist, Work_ *w, float *cent) {
  double *sum = w->sum;
  int64_t *cnt = w->cnt, *asg = w->asg;
  float *key = w->key;
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

/* The lists from every bank row's list asg [M]: a stable counting sort keeps
 * each list's rows in ascending global order; order and pos. Local. */
static void lists_(const int64_t *asg, int64_t M, TcIvf *ivf) {
  int64_t *ls = ivf->list_start, nlist = ivf->nlist;
  memset(ls, 0, sizeof(int64_t) * (size_t)(nlist + 1));
  for (int64_t r = 0; r < M; r++) ls[asg[r] + 1]++;
  for (int64_t l = 0; l < nlist; l++) ls[l + 1] += ls[l];
  for (int64_t r = 0; r < M; r++) ivf->pos[r] = ls[asg[r]]++;
  /* ls[l] is now the end of list l: shift back to the starts */
  for (int64_t l = nlist; l > 0; l--) ls[l] = ls[l - 1];
  ls[0] = 0;
  for (int64_t r = 0; r < M; r++) ivf->order[ivf->pos[r]] = r;
}

TcErr tc_ivf_build(float *bank, int64_t M, int64_t D, int64_t nlist, int iters, uint64_t seed, TcIvf *ivf) {
  return tc_ivf_build_split(bank, M, D, nlist, iters, seed, NULL, ivf);
}

TcErr tc_ivf_build_split(float *bank, int64_t M, int64_t D, int64_t nlist, int iters, uint64_t seed,
                         const TcIvfSplit *split, TcIvf *ivf) {
  memset(ivf, 0, sizeof *ivf);
  TC_CHECK(M >= 1 && D >= 1 && D <= INT_MAX && iters >= 1 && nlist >= 1, TC_ERR_USAGE,
           "ivf: bad sizes (M=%lld D=%lld nlist=%lld iters=%d)", (long long)M, (long long)D, (long long)nlist,
           iters);
  TC_CHECK(!split || (split->nparts >= 1 && split->part >= 0 && split->part < split->nparts), TC_ERR_USAGE,
           "ivf: bad split (part %d of %d)", split ? split->part : 0, split ? split->nparts : 0);
  if (nlist > M) nlist = M;
  TC_CHECK(nlist <= INT_MAX / ASSIGN_BLOCK, TC_ERR_USAGE, "ivf: nlist %lld is too large", (long long)nlist);
  int64_t nt = nlist * TC_IVF_TRAIN_PER_LIST;
  if (nt > M || nt / TC_IVF_TRAIN_PER_LIST != nlist) nt = M;
  Work_ w;
  memset(&w, 0, sizeof w);
  TcErr err = work_alloc_(&w, ivf, M, D, nlist, nt);
  if (split) err = split->agree(split->ctx, err);
  if (err) goto cleanup;
  ivf->M = M;
  ivf->D = D;
  ivf->nlist = nlist;
  ivf->n_train = nt;
  ivf->iters = iters;
  ivf->seed = seed;
  float *cent = ivf->centroids, *cn = ivf->cnorms;
  sample_(bank, M, D, nlist, nt, seed, &w, cent);
  for (int it = 0; it < iters && !err; it++) {
    tc_score_row_norms(cent, nlist, D, cn);
    err = assign_split_(split, w.T, nt, D, cent, cn, nlist, &w);
    if (!err) update_(w.T, nt, D, nlist, &w, cent);
  }
  if (err) goto cleanup;
  tc_score_row_norms(cent, nlist, D, cn);
  /* every bank row into its nearest list, the bank reordered list by list */
  TC_CALL_GOTO(err, assign_split_(split, bank, M, D, cent, cn, nlist, &w), cleanup);
  lists_(w.asg, M, ivf);
  permute_rows_(bank, M, D, ivf->order, w.done, w.tmp);
  bank_norms_(bank, ivf);

cleanup:
  work_free_(&w);
  if (err) tc_ivf_free(ivf);
  return err;
}

/* The stored lists and order describe a valid reordering: list_start from 0
 * to M without a step back, order a permutation ascending within each list
 * (the search's tie rule relies on it); pos [M] filled as its inverse.
 * Local. */
static TcErr check_lists_(const TcIvf *ivf, const char *what) {
  const int64_t M = ivf->M, *ls = ivf->list_start, *order = ivf->order;
  TC_CHECK(ls[0] == 0 && ls[ivf->nlist] == M, TC_ERR_FORMAT,
           "%s: the lists cover positions %lld..%lld, not the bank's 0..%lld", what, (long long)ls[0],
           (long long)ls[ivf->nlist], (long long)M);
  for (int64_t r = 0; r < M; r++) ivf->pos[r] = -1;
  for (int64_t l = 0; l < ivf->nlist; l++) {
    TC_CHECK(ls[l + 1] >= ls[l] && ls[l + 1] <= M, TC_ERR_FORMAT, "%s: list %lld ends at %lld, before its start %lld",
             what, (long long)l, (long long)ls[l + 1], (long long)ls[l]);
    for (int64_t k = ls[l]; k < ls[l + 1]; k++) {
      int64_t r = order[k];
      TC_CHECK(r >= 0 && r < M && ivf->pos[r] < 0, TC_ERR_FORMAT,
               "%s: order[%lld] = %lld is not a bank row or appears twice", what, (long long)k, (long long)r);
      TC_CHECK(k == ls[l] || r > order[k - 1], TC_ERR_FORMAT,
               "%s: the rows of list %lld do not ascend at position %lld", what, (long long)l, (long long)k);
      ivf->pos[r] = k;
    }
  }
  return TC_OK;
}

TcErr tc_ivf_restore(float *bank, const char *what, TcIvf *ivf) {
  const int64_t M = ivf->M, D = ivf->D, nlist = ivf->nlist;
  TcErr err = TC_OK;
  unsigned char *done = NULL;
  float *tmp = NULL;
  TC_CHECK_GOTO(err, M >= 1 && D >= 1 && D <= INT_MAX && nlist >= 1 && nlist <= M, TC_ERR_FORMAT, cleanup,
                "%s: bad index sizes (M=%lld D=%lld nlist=%lld)", what, (long long)M, (long long)D,
                (long long)nlist);
  ivf->cnorms = tc_malloc(sizeof(float) * (size_t)nlist, "ivf centroid norms");
  ivf->pos = tc_malloc(sizeof(int64_t) * (size_t)M, "ivf positions");
  ivf->norms = tc_malloc(sizeof(float) * (size_t)M, "ivf row norms");
  done = tc_malloc((size_t)M, "ivf permutation flags");
  tmp = tc_malloc(sizeof(float) * (size_t)D, "ivf row");
  if (!ivf->cnorms || !ivf->pos || !ivf->norms || !done || !tmp || !ivf->centroids || !ivf->list_start ||
      !ivf->order) {
    err = TC_ERR_MEM;
    goto cleanup;
  }
  int64_t bad = tc_first_bad_f32(ivf->centroids, nlist * D, TC_VALUE_ABS_MAX);
  TC_CHECK_GOTO(err, bad < 0, TC_ERR_FORMAT, cleanup, "%s: centroid %lld holds %s (values must be finite)", what,
                (long long)(bad / D), bad < 0 ? "" : tc_value_str(ivf->centroids[bad]));
  TC_CALL_GOTO(err, check_lists_(ivf, what), cleanup);
  /* the same calls, in the same order, as the end of tc_ivf_build_split */
  tc_score_row_norms(ivf->centroids, nlist, D, ivf->cnorms);
  permute_rows_(bank, M, D, ivf->order, done, tmp);
  bank_norms_(bank, ivf);
cleanup:
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

/* One scan block: C [nq x mt] = -2 q.row for the nq queries lq[0..nq) (squared
 * norms ql) against the mt reordered rows from position p0; each query's
 * winner (out, its position in bpos) replaced where a row's key is lower,
 * or equal with a lower global row than an earlier list's winner. Local. */
static void take_best_(const TcIvf *ivf, const float *C, int64_t p0, int64_t mt, const float *ql,
                       const int64_t *lq, int64_t nq, TcScoreNN *out, int64_t *bpos) {
  const float *bn = ivf->norms + p0;
  for (int64_t j = 0; j < nq; j++) {
    const float *c = C + j * mt;
    TcScoreNN *o = &out[lq[j]];
    float best = o->key;
    int64_t bj = -1;
    for (int64_t m = 0; m < mt; m++) {
      float k = (ql[j] + bn[m]) + c[m];
      if (k < 0.0f) k = 0.0f;
      /* strict <: rows of one list ascend in global order */
      if (k < best) {
        best = k;
        bj = m;
      } else if (k == best && bj < 0 && o->index >= 0 && ivf->order[p0 + m] < o->index) {
        /* the same key as a winner of an earlier list: the lower row wins */
        bj = m;
      }
    }
    if (bj >= 0) {
      o->key = best;
      o->index = ivf->order[p0 + bj];
      bpos[lq[j]] = p0 + bj;
    }
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
    /* rank the centroids of every query (not needed when all are probed:
     * the exact rescoring of tc_ivf_certify_max) */
    if (nprobe < nfull)
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
      /* a list every query probes takes them in order: no gather (the
       * same values, so the same bits) */
      const float *Ql = Qb, *ql = qn;
      if (nq < qb) {
        for (int64_t j = 0; j < nq; j++) {
          memcpy(Qg + j * D, Qb + lq[a + j] * D, sizeof(float) * (size_t)D);
          gn[j] = qn[lq[a + j]];
        }
        Ql = Qg;
        ql = gn;
      }
      for (int64_t j0 = 0; j0 < nr; j0 += tile) {
        const int64_t mt = nr - j0 < tile ? nr - j0 : tile;
        cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, (int)nq, (int)mt, (int)D, -2.0f, Ql, (int)D,
                    bank + (r0 + j0) * D, (int)D, 0.0f, C, (int)mt);
        take_best_(ivf, C, r0 + j0, mt, ql, lq + a, nq, ob, bpos);
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

/* Candidates of the certification, in descending bound. */
typedef struct {
  float bound;
  int64_t patch;
} Bound_;

static int bound_desc_(const void *a, const void *b) {
  const Bound_ *x = a, *y = b;
  if (x->bound != y->bound) return x->bound > y->bound ? -1 : 1;
  return (x->patch > y->patch) - (x->patch < y->patch);
}

TcErr tc_ivf_certify_max(const TcIvf *ivf, const float *bank, const float *Q, int64_t q, const float *weights,
                         float weights_max, const int64_t *first, int64_t nfirst, TcScoreNN *nn, int64_t *n_exact) {
  const int64_t D = ivf->D;
  *n_exact = 0;
  if (q == 0) return TC_OK;
  const float w_max = weights ? weights_max : 1.0f;
  /* The index's row is some bank row, so its distance (float64, rounded to
   * float32 as the exact search's is) is never below the nearest row's:
   * the bound is the index's patch score with the largest weight, rounded
   * up past the float32 products. The exact search's own winner may differ
   * from the nearest row where two keys tie within their float32 rounding;
   * so can this rescoring's (other sgemm shapes): no bound closes that gap,
   * and no slack is added for it. */
  const double up = 1.0 + 4.0 * ldexp(1.0, -24);
  Bound_ *cand = tc_malloc(sizeof(Bound_) * (size_t)q, "certification bounds");
  float *Qc = tc_malloc_aligned(sizeof(float) * (size_t)(q * D), "certification queries");
  TcScoreNN *ex = tc_malloc(sizeof(TcScoreNN) * (size_t)q, "certification neighbours");
  int64_t *pick = tc_malloc(sizeof(int64_t) * (size_t)q, "certification batch");
  unsigned char *forced = calloc((size_t)q, 1);
  TcErr err = cand && Qc && ex && pick && forced ? TC_OK : TC_ERR_MEM;
  if (err) goto cleanup;
  for (int64_t i = 0; i < nfirst; i++) {
    TC_CHECK_GOTO(err, first[i] >= 0 && first[i] < q && !forced[first[i]], TC_ERR_USAGE, cleanup,
                  "ivf certification: bad first patch %lld of %lld", (long long)first[i], (long long)q);
    forced[first[i]] = 1;
  }
  int64_t nc = 0;
  for (int64_t p = 0; p < q; p++) {
    if (forced[p]) continue; /* rescored in the first batch anyway */
    /* a distance of 0 is exact (an identical row); a bound above it would
     * send every patch of an image copied into the bank to be rescored */
    const float b = (float)((double)nn[p].dist * (double)w_max * up);
    cand[nc].bound = b > 0.0f ? nextafterf(b, INFINITY) : 0.0f;
    cand[nc++].patch = p;
  }
  qsort(cand, (size_t)nc, sizeof *cand, bound_desc_);
  /* Rescore in batches of growing size: a batch is one pass over the bank
   * whatever its size (memory-bound), and the first few patches usually
   * close the bound. The first batch also carries the caller's patches. */
  float best = -INFINITY;
  int64_t next = 0, batch = TC_IVF_CERTIFY_FIRST, extra = nfirst;
  while (extra > 0 || (next < nc && cand[next].bound > best)) {
    int64_t nb = 0;
    for (int64_t i = 0; i < extra; i++) pick[nb++] = first[i];
    const int64_t from_bound = nb;
    while (nb - from_bound < batch && next < nc && cand[next].bound > best) pick[nb++] = cand[next++].patch;
    for (int64_t i = 0; i < nb; i++) memcpy(Qc + i * D, Q + pick[i] * D, sizeof(float) * (size_t)D);
    /* every list probed: the whole bank, ties to the lowest model row as
     * the exact search breaks them */
    TC_CALL_GOTO(err, tc_ivf_search(ivf, bank, Qc, nb, ivf->nlist, ex), cleanup);
    for (int64_t i = 0; i < nb; i++) {
      TcScoreNN *o = &nn[pick[i]];
      *o = ex[i];
      const float s = weights ? o->dist * weights[o->index] : o->dist;
      if (s > best) best = s;
    }
    *n_exact += nb - from_bound;
    extra = 0;
    batch = 2 * batch < TC_SCORE_QUERY_BLOCK ? 2 * batch : TC_SCORE_QUERY_BLOCK;
  }
cleanup:
  free(cand);
  free(Qc);
  free(ex);
  free(pick);
  free(forced);
  return err;
}
