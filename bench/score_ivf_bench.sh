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
# Then the stored index (`tailedcore index`, `predict --index`) on a model of
# the same M x D (score_tool's hash bank: the k-means cost does not depend on
# the values, 10 iterations of fixed shapes): the build on 1 and 2 ranks
# (assignments split over the ranks, the same index bits; OpenBLAS on 1
# thread per rank), and predict's load of the stored file against building
# it. Times from the tailedcore logs: the build or load itself, without MPI
# start-up or reading the bank.
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

# ---- the stored index
TMPD=${BENCH_TMP:-$(mktemp -d)}
[ -n "${BENCH_TMP:-}" ] || trap 'rm -rf "$TMPD"' EXIT
if [ -z "${MPIRUN:-}" ]; then
  MPIRUN="mpirun --oversubscribe --bind-to none"
  [ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
fi
TC=$BUILD/tailedcore
ST=$BUILD/tests/tools/score_tool
[ -x "$ST" ] || make --no-print-directory BUILD="$BUILD" "$ST" >/dev/null
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
run() { $MPIRUN -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS -np "$@"; }
run 1 "$ST" model "$TMPD/ivfm.h5" $M $D 28 1 >/dev/null
run 1 "$ST" features "$TMPD/ivff.h5" 1 28 $D 1 >/dev/null
for np in 1 2; do
  run $np "$TC" index --model "$TMPD/ivfm.h5" --out "$TMPD/ivfi$np.h5" 2>&1 | tee "$TMPD/index$np.log"
done
cmp -s "$TMPD/ivfi1.h5" "$TMPD/ivfi2.h5" && same=identical || same=DIFFERENT
h5diff -q "$TMPD/ivfi1.h5" "$TMPD/ivfi2.h5" >/dev/null 2>&1 && same=identical
run 1 "$TC" predict --model "$TMPD/ivfm.h5" --features "$TMPD/ivff.h5" --out "$TMPD/ivfs.h5" --search ivf \
  --index "$TMPD/ivfi1.h5" --mem-per-rank 64G 2>&1 | tee "$TMPD/load.log"
b1=$(sed -n 's/.*built on 1 rank(s) in \([0-9.]*\) s.*/\1/p' "$TMPD/index1.log")
b2=$(sed -n 's/.*built on 2 rank(s) in \([0-9.]*\) s.*/\1/p' "$TMPD/index2.log")
c1=$(sed -n 's/.*built on 1 rank(s) in .* s (\([0-9.]*\) s CPU.*/\1/p' "$TMPD/index1.log")
c2=$(sed -n 's/.*built on 2 rank(s) in .* s (\([0-9.]*\) s CPU.*/\1/p' "$TMPD/index2.log")
nl=$(sed -n 's/.*index: \([0-9]*\) lists over.*/\1/p' "$TMPD/index1.log")
ld=$(sed -n 's/.*loaded from .* in \([0-9.]*\) s.*/\1/p' "$TMPD/load.log")
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }
echo "BENCH stage=ivf-index-build size=M=$M,D=$D,nlist=$nl ours=${b2}s peer=1-rank:${b1}s ratio=$(ratio "$b1" "$b2") limit_frac=- ranks=2 threads=1 note=tailedcore index on 2 ranks vs 1 (k-means assignments in whole 1024-row blocks per rank, int32 assignments and keys allgathered, centroid update whole on every rank); index files $same; build only (log), not MPI start-up or the bank read; CPU on rank 0 ${c1} s on 1 rank, ${c2} s on 2 (the work each rank does, whatever else loads the node)"
echo "BENCH stage=ivf-index-load size=M=$M,D=$D,nlist=$nl ours=${ld}s peer=build-1-rank:${b1}s ratio=$(ratio "$b1" "$ld") limit_frac=- ranks=1 threads=1 note=predict --search ivf --index: index.h5 read and checked (bank binding, lists, permutation), bank reordered, norms; peer = the same index built in process on 1 rank (what every predict run paid before)"
