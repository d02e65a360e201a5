#!/usr/bin/env bash
# get_default_weights.sh - make weights/mobilenetv2.h5, the default backbone's
# weights (DESIGN 3.2): Keras MobileNetV2 alpha 1.0 ImageNet weights as
# shipped in the npm package nsfwjs@4.4.0 (MIT; the Keras weights are
# Apache-2.0). Layers Conv1 .. block_10_project_BN are the frozen ImageNet
# weights; blocks 11-16 and Conv_1 (used only for the global embedding
# out_relu) were fine-tuned by nsfwjs.
#
#   analysis/get_default_weights.sh [OUT]     (default OUT: weights/mobilenetv2.h5)
#
# Needs npm (once, network) and node; the conversion uses Debian's python3
# with numpy and h5py. The tarball is cached in $TC_CACHE (default
# ~/.cache/tailedcore) and its sha256 checked. Nothing here runs in tests.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${1:-$ROOT/weights/mobilenetv2.h5}
CACHE=${TC_CACHE:-$HOME/.cache/tailedcore}
PKG=nsfwjs-4.4.0.tgz
SHA256=585cd178f3b994337c4d10a87b080d342fc52f8b9bf0085c4d1f345a3a1c5382 # measured 2024 on the npm registry tarball
PY=${PYTHON:-/usr/bin/python3}

if [ -s "$OUT" ]; then echo "get_default_weights: $OUT exists"; exit 0; fi
mkdir -p "$CACHE" "$(dirname "$OUT")"
if [ ! -s "$CACHE/$PKG" ]; then
  echo "get_default_weights: npm pack nsfwjs@4.4.0 into $CACHE"
  (cd "$CACHE" && npm pack --silent nsfwjs@4.4.0 >/dev/null)
fi
got=$(sha256sum "$CACHE/$PKG" | cut -d' ' -f1)
if [ "$got" != "$SHA256" ]; then
  echo "get_default_weights: $CACHE/$PKG has sha256 $got, expected $SHA256" >&2
  exit 3
fi
WORK=$(mktemp -d "${TMPDIR:-/tmp}/tcweights.XXXXXX")
trap 'rm -rf "$WORK"' EXIT
tar -xzf "$CACHE/$PKG" -C "$WORK" package/dist/models/mobilenet_v2
node "$ROOT/analysis/nsfwjs_to_raw.js" "$WORK/package/dist/models/mobilenet_v2" "$WORK/raw"
"$PY" "$ROOT/analysis/convert_torchvision.py" --nsfwjs-raw "$WORK/raw" --sha256 "$SHA256" --out "$OUT"
