#!/usr/bin/env bash
# bench/score_bench.sh - nearest-neighbour scoring throughput (query patches
# per second) of our blocked-sgemm kernel (src/score.c) against faiss
# IndexFlatL2 at the same thread count, memory banks of 20k and 200k rows x
# D 1024 (issue 7; goal: ours >= 1.0x faiss). NOT a test: numbers depend on
# the machine and its load; run it on an idle machine.
#
#   bench/score_bench.sh [THREADS...]     default: 1 and $BENCH_THREADS (or 1 2)
#   (BUILD=dir, REPS=n, SIZES="20000 200000")
# Contract of bench/README.md: prints BENCH lines (limit_frac = our distance
# GFLOP/s, 2 M D flop per query, / LIMIT_SGEMM_GFLOPS of the same thread count)
# and METRIC score_ns_per_pair (largest bank, most threads). BENCH_QUICK=1:
# banks of 20k and 50k rows, 784 queries, 2 repetitions, $BENCH_THREADS only.
# Needs: make BUILD=$BUILD all (builds $BUILD/tests/tools/score_bench) and
# Debian python3-faiss (./deps.sh bench).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
quick=${BENCH_QUICK:-0}
if [ "$quick" = 1 ]; then REPS=${REPS:-2}; SIZES=${SIZES:-"20000 50000"}
else REPS=${REPS:-3}; SIZES=${SIZES:-"20000 200000"}; fi
OURS=$BUILD/tests/tools/score_bench
[ -x "$OURS" ] || make --no-print-directory BUILD="$BUILD" "$OURS" >/dev/null
threads=("$@")
if [ ${#threads[@]} -eq 0 ]; then
  if [ -n "${BENCH_THREADS:-}" ]; then
    if [ "$quick" = 1 ] || [ "$BENCH_THREADS" = 1 ]; then threads=("$BENCH_THREADS"); else threads=(1 "$BENCH_THREADS"); fi
  else threads=(1 2); fi
fi
D=1024
num() { [[ "${1:-}" =~ ^[0-9.]+$ ]]; }
lines=(); metric=""
printf '%-8s %-8s %-7s %-14s %-14s %s\n' rows queries threads "ours q/s" "faiss q/s" "ours/faiss"
for t in "${threads[@]}"; do
  sg=""
  if [ "$t" = 1 ]; then sg=${LIMIT_SGEMM_GFLOPS_1T:-}; elif [ "$t" = "${BENCH_THREADS:-}" ]; then sg=${LIMIT_SGEMM_GFLOPS:-}; fi
  for M in $SIZES; do
    # about the same work per case: 7840 queries (10 images) at 20k rows, 784 at 200k
    if [ "$quick" = 1 ]; then Q=784; elif [ "$M" -le 20000 ]; then Q=7840; else Q=784; fi
    o=$(OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$OURS" $M $D $Q "$REPS")
    f=$(OPENBLAS_NUM_THREADS=$t OMP_NUM_THREADS=$t "$PY" bench/score_faiss.py $M $D $Q "$REPS" "$t" 2>&1) || { echo "faiss peer failed: $f"; f=""; }
    oq=$(sed -n 's/.*qps=\([0-9.]*\).*/\1/p' <<<"$o")
    fq=$(sed -n 's/^faiss .*qps=\([0-9.]*\).*/\1/p' <<<"$f")
    echo "$o"; [ -n "$f" ] && echo "$f"
    peer="faiss:unavailable"; ratio="-"
    if num "$fq"; then peer="faiss:${fq}q/s"; ratio=$(awk -v a="$oq" -v b="$fq" 'BEGIN{printf "%.2f", a/b}'); fi
    printf '%-8s %-8s %-7s %-14s %-14s %s\n' $M $Q $t "$oq" "${fq:-NA}" "${ratio}x"
    gf=$(awk -v q="$oq" -v m=$M -v d=$D 'BEGIN{printf "%.1f", 2 * m * d * q / 1e9}')
    lf="-"; lnote="no bound (LIMIT_SGEMM_GFLOPS for $t thread(s) not given)"
    if num "$sg"; then
      lf=$(awk -v g="$gf" -v s="$sg" 'BEGIN{printf "%.2f", g / s}')
      lnote="bound = sgemm ${sg} GFLOP/s at $t thread(s); ours ${gf} GFLOP/s counting 2 x M x D flop per query"
    fi
    lines+=("BENCH stage=score size=M=$M,D=$D,Q=$Q ours=${oq}q/s peer=$peer ratio=$ratio limit_frac=$lf threads=$t note=exact 1-NN distance of each query patch to the bank, best of $REPS; faiss IndexFlatL2.search(k=1) in blocks of 784 queries, faiss.omp_set_num_threads($t); $lnote")
    metric="score_ns_per_pair=$(awk -v q="$oq" -v m=$M 'BEGIN{printf "%.4f", 1e9 / (q * m)}') score_threads=$t"
  done
done
printf '%s\n' "${lines[@]}"
echo "METRIC $metric"
