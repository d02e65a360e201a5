#!/usr/bin/env bash
# check_wrn50.sh - one-off check (not in `make test`: needs torch and ~600 MB
# of temporary files): wrn50 at 224 on converted random-init torchvision
# weights matches torch; also the default mobilenetv2 weights converted from
# nsfwjs (when weights/mobilenetv2.h5 or $MBV2 exists) against the torch
# Keras-layout forward. Target: max relative error 1e-4.
#   BUILD=build tests/golden/check_wrn50.sh
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
PY=/usr/bin/python3
T=$BUILD/tests/test_cnn
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tcwrn.XXXXXX")
trap 'rm -rf "$TMP"' EXIT
rc=0
"$PY" "$ROOT/analysis/convert_torchvision.py" --random wide_resnet50_2 --seed 0 --out "$TMP/wrn50.h5"
"$PY" "$ROOT/tests/golden/make_ref_forward.py" --backbone wrn50 --weights "$TMP/wrn50.h5" --out "$TMP/ref.h5"
"$T" --ref "$TMP/ref.h5" --weights "$TMP/wrn50.h5" --backbone wrn50 || rc=1
MBV2=${MBV2:-$ROOT/weights/mobilenetv2.h5}
if [ -s "$MBV2" ]; then
  "$PY" "$ROOT/tests/golden/make_ref_forward.py" --backbone mobilenetv2 --weights "$MBV2" --out "$TMP/mref.h5"
  "$T" --ref "$TMP/mref.h5" --weights "$MBV2" --backbone mobilenetv2 || rc=1
else
  echo "skipping the nsfwjs mobilenetv2 check: no $MBV2 (analysis/get_default_weights.sh makes it)"
fi
exit $rc
