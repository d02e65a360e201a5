#!/usr/bin/env bash
# extract_bench.sh - images/s of the backbone forward at 224 (batch 1, one
# rank) for wrn50 and mobilenetv2, ours vs PyTorch CPU at the same thread
# count, in one run. Random weights (the speed does not depend on them).
# Not a test. Usage: BUILD=build THREADS=1 N=10 bench/extract_bench.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
THREADS=${THREADS:-1}
N=${N:-10}
PY=/usr/bin/python3
export OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tcbench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
"$PY" "$ROOT/analysis/convert_torchvision.py" --random wide_resnet50_2 --seed 0 --out "$TMP/wrn50.h5" >/dev/null
"$PY" "$ROOT/analysis/convert_torchvision.py" --random mobilenetv2_keras --seed 0 --out "$TMP/mbv2.h5" >/dev/null
echo "threads $THREADS, $N images, 224x224, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
for b in wrn50:wrn50.h5 mobilenetv2:mbv2.h5; do
  name=${b%%:*}; w=$TMP/${b#*:}
  "$BUILD/tests/test_cnn" --bench "$name" "$w" "$N"
  "$PY" "$ROOT/bench/extract_torch.py" --backbone "$name" --weights "$w" --n "$N" --threads "$THREADS"
done
