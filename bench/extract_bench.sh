#!/usr/bin/env bash
# extract_bench.sh - images/s of the backbone forward at 224 (batch 1, one
# rank) for wrn50 and mobilenetv2, ours vs PyTorch CPU at the same thread
# count, in one run. Random weights (the speed does not depend on them).
# Not a test. Contract of bench/README.md: prints BENCH/METRIC lines.
#   BUILD=build THREADS=1 N=10 bench/extract_bench.sh
# Env: BUILD, PY, BENCH_QUICK (N=3), BENCH_THREADS (default threads),
# THREADS, N, LIMIT_SGEMM_GFLOPS(_1T) (limit_frac = our conv GFLOP/s / sgemm).
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
THREADS=${THREADS:-${BENCH_THREADS:-1}}
if [ "${BENCH_QUICK:-0}" = 1 ]; then N=${N:-3}; else N=${N:-10}; fi
PY=${PY:-/usr/bin/python3}
export OPENBLAS_NUM_THREADS=$THREADS OMP_NUM_THREADS=$THREADS
TMP=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/tcbench.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
T=$BUILD/tests/test_cnn
[ -x "$T" ] || make --no-print-directory -C "$ROOT" BUILD="$BUILD" "$T" >/dev/null
"$PY" "$ROOT/analysis/convert_torchvision.py" --random wide_resnet50_2 --seed 0 --out "$TMP/wrn50.h5" >/dev/null
"$PY" "$ROOT/analysis/convert_torchvision.py" --random mobilenetv2_keras --seed 0 --out "$TMP/mbv2.h5" >/dev/null
echo "threads $THREADS, $N images, 224x224, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2)"
# the sgemm bound of the same thread count (all threads or 1)
sg=${LIMIT_SGEMM_GFLOPS:-}
[ "$THREADS" = 1 ] && sg=${LIMIT_SGEMM_GFLOPS_1T:-$sg}
[ "$THREADS" != 1 ] && [ "$THREADS" != "${BENCH_THREADS:-$THREADS}" ] && sg=""
num() { [[ "${1:-}" =~ ^[0-9.]+$ ]]; }
for b in wrn50:wrn50.h5 mobilenetv2:mbv2.h5; do
  name=${b%%:*}; w=$TMP/${b#*:}
  o=$("$T" --bench "$name" "$w" "$N"); echo "$o"
  p=$("$PY" "$ROOT/bench/extract_torch.py" --backbone "$name" --weights "$w" --n "$N" --threads "$THREADS" 2>"$TMP/torch.err") \
    || { p=""; echo "torch peer failed: $(tail -1 "$TMP/torch.err")"; }
  echo "$p"
  # "ours  NAME  X images/s network only,  Y images/s with patch features (D=d)"
  net=$(sed -n 's/^ours .* \([0-9.]*\) images\/s network only.*/\1/p' <<<"$o")
  full=$(sed -n 's/.* \([0-9.]*\) images\/s with patch features.*/\1/p' <<<"$o")
  dim=$(sed -n 's/.*(D=\([0-9]*\)).*/\1/p' <<<"$o")
  tnet=$(sed -n 's/^torch .* \([0-9.]*\) images\/s network only.*/\1/p' <<<"$p")
  gf=$(sed -n 's/^torch_conv_gflop_per_image=//p' <<<"$p")
  peer="torch:unavailable"; ratio="-"
  if num "$tnet"; then peer="torch:${tnet}img/s"; ratio=$(awk -v a="$net" -v b="$tnet" 'BEGIN {printf "%.2f", a / b}'); fi
  lf="-"; lnote="no bound (conv FLOP count or LIMIT_SGEMM_GFLOPS missing)"
  if num "$gf" && num "$sg"; then
    lf=$(awk -v r="$net" -v g="$gf" -v s="$sg" 'BEGIN {printf "%.2f", r * g / s}')
    lnote="bound = sgemm ${sg} GFLOP/s at ${THREADS} thread(s), ${gf} conv GFLOP/image (counted on the torch forward)"
  fi
  echo "BENCH stage=extract size=$name,224x224,batch=1,n=$N ours=${net}img/s peer=$peer ratio=$ratio limit_frac=$lf threads=$THREADS ranks=1 note=backbone forward only (random weights), torch $([ "$name" = wrn50 ] && echo "torchvision wide_resnet50_2" || echo "F.conv2d Keras-MobileNetV2 graph") with torch.set_num_threads($THREADS); ours with PatchCore patch features (D=$dim): ${full} img/s; $lnote"
  [ "$name" = mobilenetv2 ] && echo "METRIC extract_images_per_s=$full extract_threads=$THREADS"
done
