#!/usr/bin/env bash
# bench/bank_bench.sh [BUILD] - memory-bank benchmarks (NOT tests; timings
# vary with the machine). Prints every figure and the ratios of issue 5:
# coreset step vs the memory-bandwidth bound and vs a PyTorch loop (n=1M x
# 128, one rank), plain vs pruned coreset, LOF 400 images x 784 positions vs
# scikit-learn, 2-rank vs 1-rank coreset.
# Env: N (1000000), STEPS (30), PSTEPS (pruned/MPI steps, 300), LOF_HW (784), SK_HW (sklearn positions, 784).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-${BUILD:-build}}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
N=${N:-1000000}; STEPS=${STEPS:-30}; PSTEPS=${PSTEPS:-300}; LOF_HW=${LOF_HW:-784}; SK_HW=${SK_HW:-784}
MPIRUN=(mpirun --oversubscribe --bind-to none -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
make --no-print-directory BUILD="$BUILD" "$BUILD/libtcmpi.a" "$BUILD/libtailedcore.a" >/dev/null
PKGS="ompi-c hdf5-openmpi scalapack-openmpi openblas"
mpicc -O2 -g -march=x86-64-v2 -std=c11 -D_POSIX_C_SOURCE=200809L -Isrc -Impi $(pkg-config --cflags $PKGS) \
  -o "$BUILD/bank_bench" bench/bank_bench.c "$BUILD/libtcmpi.a" "$BUILD/libtailedcore.a" $(pkg-config --libs $PKGS) -lm
B=$BUILD/bank_bench
out=$(mktemp)
"${MPIRUN[@]}" -np 1 $B coreset $N 128 $STEPS | tee -a $out
/usr/bin/python3 bench/bank_bench.py coreset $N 128 $STEPS | tee -a $out
"${MPIRUN[@]}" -np 1 $B pcoreset $N 128 $PSTEPS | tee -a $out
"${MPIRUN[@]}" -np 2 $B pcoreset $N 128 $PSTEPS | tee -a $out
"${MPIRUN[@]}" -np 1 $B lof 400 $LOF_HW 128 | tee -a $out
/usr/bin/python3 bench/bank_bench.py lof 400 $SK_HW 128 | tee -a $out
g() { awk -v k="$1" '$1 == k {print $2}' $out; }
echo "--- ratios"
awk -v a="$(g coreset_plain_step_ms)" -v b="$(g coreset_bound_step_ms)" 'BEGIN {printf "coreset plain step / bandwidth bound: %.2fx (goal <= 1.5)\n", a / b}'
awk -v a="$(g torch_coreset_step_ms)" -v b="$(g coreset_plain_step_ms)" 'BEGIN {printf "PyTorch loop step / our plain step: %.2fx\n", a / b}'
echo "pruned vs plain (first $STEPS steps): $(g coreset_pruned_speedup)x, identical indices: $(g coreset_identical)"
awk -v a="$(g pcoreset_plain_ranks1_step_ms)" -v b="$(g pcoreset_plain_ranks2_step_ms)" 'BEGIN {printf "2 ranks vs 1 rank, plain step: %.2fx speed-up\n", a / b}'
awk -v a="$(g pcoreset_pruned_ranks1_step_ms)" -v b="$(g pcoreset_pruned_ranks2_step_ms)" 'BEGIN {printf "2 ranks vs 1 rank, pruned step: %.2fx speed-up\n", a / b}'
awk -v a="$(g sklearn_lof_seconds)" -v b="$(g lof_seconds)" -v h=$SK_HW -v l=$LOF_HW 'BEGIN {printf "LOF 400 images: scikit-learn / ours = %.1fx (goal >= 10)\n", (a / h) / (b / l)}'
rm -f $out
