#!/usr/bin/env bash
# bench/score_ivf_bench.sh - predict --search ivf's nearest-neighbour search
# (src/ivf.c) against our exact search (src/score.c) on the same clustered
# bank (issue 17): query patches per second of each, ratio = ivf / exact, and
# the recall@1 of the IVF in the note. NOT a test: numbers depend on the
# machine and its load.
#
#   bench/score_ivf_bench.sh          (BUILD=dir, BENCH_QUICK=1, BENCH_THREADS=n,
#                                      NPROBES="4 8 16", SIZE=rows)
# Contract of bench/README.md: BENCH lines, one per nprobe (the default nlist,
# round(4 sqrt(M))). The bank: M/100 cluster centres, rows = centre + Gaussian
# noise of a per-cluster scale (tests/tools/ivf_bench.c); queries: bank rows
# plus noise (90%) and off-bank points (10%), in blocks of 784 (one image).
# The index build (k-means, 10 iterations) is timed apart and not in the rates.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
quick=${BENCH_QUICK:-0}
T=${BENCH_THREADS:-1}
if [ "$quick" = 1 ]; then M=${SIZE:-20000}; Q=784; else M=${SIZE:-200000}; Q=1568; fi
D=1024
NPROBES=${NPROBES:-"4 8 16"}
TOOL=$BUILD/tests/tools/ivf_bench
[ -x "$TOOL" ] || make --no-print-directory BUILD="$BUILD" "$TOOL" >/dev/null
out=$(OPENBLAS_NUM_THREADS=$T OMP_NUM_THREADS=$T "$TOOL" $M $D $Q 0 "$(tr ' ' , <<<"$NPROBES")")
echo "$out"
while read -r line; do
  case $line in ivf*) ;; *) continue ;; esac
  get() { sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$line"; }
  echo "BENCH stage=score-ivf size=M=$M,D=$D,Q=$Q ours=$(get qps)q/s peer=exact:$(get exact_qps)q/s ratio=$(get speedup) limit_frac=- threads=$T note=ivf nlist $(get nlist) nprobe $(get nprobe): recall@1 $(get recall) (IVF neighbour as near as the exact one), mean relative distance excess $(get mean_rel_dist_excess), list imbalance $(get imbalance), index build $(get build_s) s (k-means on $(get train_rows) rows) not counted; peer = our exact blocked-sgemm search (src/score.c) on the same bank and queries, 784 queries a call"
done <<<"$out"
