#!/usr/bin/env bash
# bench/score_bench.sh - nearest-neighbour scoring throughput (query patches
# per second) of our blocked-sgemm kernel (src/score.c) against faiss
# IndexFlatL2 at the same thread count, memory banks of 20k and 200k rows x
# D 1024 (issue 7; goal: ours >= 1.0x faiss). NOT a test: numbers depend on
# the machine and its load; run it on an idle machine.
#
#   bench/score_bench.sh [THREADS...]     default: 1 2   (BUILD=dir, REPS=n)
# Needs: make BUILD=$BUILD all (builds $BUILD/tests/tools/score_bench) and
# Debian python3-faiss (./deps.sh bench).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
REPS=${REPS:-3}
OURS=$BUILD/tests/tools/score_bench
[ -x "$OURS" ] || make --no-print-directory BUILD="$BUILD" "$OURS" >/dev/null
threads=("$@")
[ ${#threads[@]} -eq 0 ] && threads=(1 2)
D=1024
printf '%-8s %-8s %-7s %-14s %-14s %s\n' rows queries threads "ours q/s" "faiss q/s" "ours/faiss"
for t in "${threads[@]}"; do
  for M in 20000 200000; do
    # about the same work per case: 7840 queries (10 images) at 20k rows, 784 at 200k
    if [ "$M" = 20000 ]; then Q=7840; else Q=784; fi
    o=$(OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$OURS" $M $D $Q "$REPS")
    f=$(OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t /usr/bin/python3 bench/score_faiss.py $M $D $Q "$REPS" "$t")
    oq=$(sed -n 's/.*qps=\([0-9.]*\).*/\1/p' <<<"$o")
    fq=$(sed -n 's/.*qps=\([0-9.]*\).*/\1/p' <<<"$f")
    printf '%-8s %-8s %-7s %-14s %-14s %s\n' $M $Q $t "$oq" "$fq" "$(awk -v a="$oq" -v b="$fq" 'BEGIN{printf "%.2fx", a/b}')"
  done
done
