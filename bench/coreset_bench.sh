#!/usr/bin/env bash
# bench/coreset_bench.sh - the coreset modes of `fit --coreset-mode` against
# the exact greedy (issue 17): coreset seconds per mode and the ratio to
# exact, and the covering radius ratio (max distance from a patch to its
# nearest selected patch, projected space; tests/tools/coreset_radius). NOT a
# test: timings vary with the machine and its load.
#
# Features: CORESET_FEATURES=train.h5 (e.g. a real-photo set extracted with
# `tailedcore extract`), else a clustered synthetic set from
# `test_pcoreset --make-features` (classes of long-tailed sizes, 10% noisy
# images). `fit --method patchcore` (all patches are candidates) on 2 ranks,
# CORESET_RATIO (default 0.1; --quick 0.05) and CORESET_MODES (default:
# exact bf16 int8 tworound tworound-int8). Contract of bench/README.md:
# BENCH lines, peer = the exact mode in the same run, ratio = exact / mode.
set -euo pipefail
source "$(dirname "$0")/stage_lib.sh"
TMP=${BENCH_TMP:-$(mktemp -d)}
export OPENBLAS_NUM_THREADS=1
MR="$MPIRUN -x OPENBLAS_NUM_THREADS -np 2"
MODES=${CORESET_MODES:-exact bf16 int8 tworound tworound-int8}
if [ "$quick" = 1 ]; then RATIO=${CORESET_RATIO:-0.05}; NIMG=60; else RATIO=${CORESET_RATIO:-0.1}; NIMG=200; fi
make --no-print-directory BUILD="$BUILD" "$BUILD/tailedcore" "$BUILD/tests/test_pcoreset" \
  "$BUILD/tests/tools/coreset_radius" >/dev/null
F=${CORESET_FEATURES:-}
if [ -z "$F" ]; then
  F=$TMP/coreset_features.h5
  # 28 x 28 positions, D 256: the patch count of NIMG real images
  $MR "$BUILD/tests/test_pcoreset" --make-features "$F" $NIMG 28 28 256 32 1 >/dev/null
fi
declare -A sec rad
for mode in $MODES; do
  log=$TMP/fit-$mode.log
  $MR "$BUILD/tailedcore" fit --features "$F" --out "$TMP/model-$mode.h5" --method patchcore \
    --coreset-ratio "$RATIO" --coreset-mode "$mode" >"$log" 2>&1
  sec[$mode]=$(sed -n 's/.*coreset ([a-z0-9-]*) \([0-9.]*\)s.*/\1/p' "$log" | tail -1)
  rad[$mode]=$($MR "$BUILD/tests/tools/coreset_radius" --features "$F" --model "$TMP/model-$mode.h5" | awk '/^radius/ {print $2}')
  n=$(sed -n 's/.*greedy coreset of \([0-9]*\) patches -> \([0-9]*\).*/n=\1,m=\2/p' "$log" | tail -1)
  echo "mode $mode: coreset ${sec[$mode]}s, covering radius ${rad[$mode]} ($n)"
done
ex=${sec[exact]:-}
for mode in $MODES; do
  [ "$mode" = exact ] && continue
  ratio="-"; peer="exact:unavailable"; rr="-"
  if [ -n "$ex" ]; then
    peer="exact:${ex}s"
    ratio=$(awk -v a="$ex" -v b="${sec[$mode]}" 'BEGIN{printf "%.2f", a / b}')
    rr=$(awk -v a="${rad[$mode]}" -v b="${rad[exact]}" 'BEGIN{printf "%.3f", a / b}')
  fi
  echo "BENCH stage=coreset-mode size=${n},d=128 ours=${sec[$mode]}s peer=$peer ratio=$ratio limit_frac=- mode=$mode ranks=2 note=fit --method patchcore --coreset-ratio $RATIO --coreset-mode $mode vs exact (the default --coreset-filter) on $(basename "$F"); covering radius ratio $rr (1 = exact's)"
done
[ -n "${BENCH_TMP:-}" ] || rm -rf "$TMP"
