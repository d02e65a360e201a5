#!/usr/bin/env bash
# tailsample_bench.sh - benchmark of `tailedcore tailsample` (NOT a test).
# For N in $SIZES and E in $DIMS: seconds, peak memory per rank (VmHWM),
# Gram GFLOP/s against the measured sgemm rate of the linked OpenBLAS, and
# the speed-up over the NumPy implementation (bench/tailsample_numpy.py) at
# the same N in the same run (NumPy only up to $NUMPY_MAX). Then streaming at
# N = $STREAM_N within --mem-per-rank $STREAM_MEM.
#   BUILD=build bash bench/tailsample_bench.sh            (all of it: long)
#   SIZES="2000 5000" DIMS=2048 STREAM_N=0 bash bench/tailsample_bench.sh
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}; case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
NP=${NP:-2}
SIZES=${SIZES:-"2000 5000 20000"}
DIMS=${DIMS:-"1280 2048"}
NUMPY_MAX=${NUMPY_MAX:-5000}
STREAM_N=${STREAM_N:-50000}
STREAM_MEM=${STREAM_MEM:-1G}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
MPIRUN=(mpirun --oversubscribe --bind-to none -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
T=$BUILD/tests/test_tailsampler
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tcbench.XXXXXX"); trap 'rm -rf "$TMP"' EXIT

peak1=$("$T" --sgemm-peak 2000 5000 2048 | sed 's/.*: \([0-9.]*\) GFLOP.*/\1/')
echo "sgemm peak (1 thread, linked OpenBLAS): $peak1 GFLOP/s; job peak on $NP ranks: $(echo "$peak1 * $NP" | bc) GFLOP/s"
printf '%-6s %-5s %-7s %9s %12s %10s %8s %10s %9s\n' N E mode seconds peakMiB/rank GFLOP/s "%peak" numpy_s speedup
for E in $DIMS; do
  for N in $SIZES; do
    F=$TMP/f_${N}_$E.h5
    "$T" --write-features "$F" "$N" "$E" 1 || { echo "cannot write $F"; continue; }
    log=$TMP/log
    "${MPIRUN[@]}" -np "$NP" "$BUILD/tailedcore" tailsample --features "$F" --out "$TMP/t.h5" --mode memory >"$log" 2>&1
    secs=$(grep -o '[0-9.]* s (Gram' "$log" | awk '{print $1}')
    gf=$(grep -o '[0-9.]* GFLOP/s per job' "$log" | awk '{print $1}')
    mib=$(grep -o 'peak memory [0-9.]* MiB' "$log" | awk '{print $3}')
    pct=$(echo "scale=1; 100 * $gf / ($peak1 * $NP)" | bc)
    ns=-; sp=-
    if [ "$N" -le "$NUMPY_MAX" ]; then
      ns=$(/usr/bin/python3 "$ROOT/bench/tailsample_numpy.py" "$F" | sed 's/.*seconds=\([0-9.]*\).*/\1/')
      sp=$(echo "scale=1; $ns / $secs" | bc)
    fi
    printf '%-6s %-5s %-7s %9s %12s %10s %8s %10s %9s\n' "$N" "$E" memory "$secs" "$mib" "$gf" "$pct" "$ns" "$sp"
    rm -f "$F" "$TMP/t.h5"
  done
done
if [ "$STREAM_N" -gt 0 ]; then
  E=${DIMS##* }
  F=$TMP/f_stream.h5
  "$T" --write-features "$F" "$STREAM_N" "$E" 1
  "${MPIRUN[@]}" -np "$NP" "$BUILD/tailedcore" tailsample --features "$F" --out "$TMP/t.h5" --mode stream --mem-per-rank "$STREAM_MEM" >"$TMP/log" 2>&1
  grep -E 'mode|GFLOP' "$TMP/log"
  echo "streaming bound: --mem-per-rank $STREAM_MEM (in-memory would need $(echo "4 * $STREAM_N * $STREAM_N / $NP / 1048576" | bc) MiB per rank for S alone)"
fi
