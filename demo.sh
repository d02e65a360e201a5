#!/usr/bin/env bash
# demo.sh - `make demo`: from a fresh Debian 12 machine to the comparison
# table. Dependencies, build, the default pretrained backbone (nsfwjs'
# MobileNetV2, converted once), a synthetic noisy long-tail (step_k4) data
# set, then fit + predict + eval for tailedcore, softpatch and patchcore on
# NP ranks, the Markdown table on stdout and the plots in $OUT/plots.
#
#   NP=2 OUT=demo CLASSES=10 TRAIN=30 TAIL_AUG=rotflip ./demo.sh
#
# The demo uses the 7 right-angle tail views (rotflip) instead of the paper's
# 47 (rot15flip, fit's default): the M_tail coreset grows with the number of
# views and is memory-bandwidth bound, and the demo has to finish in minutes
# on 2 cores. TAIL_AUG=rot15flip runs the paper's setting.
set -euo pipefail
cd "$(dirname "$0")"
NP=${NP:-2}
OUT=${OUT:-demo}
CLASSES=${CLASSES:-10}      # synthetic product classes (max 16)
TRAIN=${TRAIN:-30}          # good training images per class before the long-tail cut
TAIL_AUG=${TAIL_AUG:-rotflip}
# TailSampler runs with the defaults of the documented run (README): for
# mobilenetv2 the embedding block_10_project_BN:std, p = 1, the gap cut
# (DECISIONS.md). EMBED_TAP=NAME tries another embedding.
EMBED_ARGS=()
[ -n "${EMBED_TAP:-}" ] && EMBED_ARGS=(--embed-tap "$EMBED_TAP")
SEED=${SEED:-0}
PROTOCOL=${PROTOCOL:-step_k4}
export OPENBLAS_NUM_THREADS=${OPENBLAS_NUM_THREADS:-1}   # ranks x BLAS threads <= cores
t0=$(date +%s)
stamp() { echo "demo: [$(( $(date +%s) - t0 ))s] $*" >&2; }

stamp "dependencies"
if [ "$(id -u)" = 0 ]; then ./deps.sh demo; else ./deps.sh demo || echo "demo: run ./deps.sh demo as root if something is missing" >&2; fi
stamp "build"
make -j"$(nproc)" all >/dev/null
[ -f weights/mobilenetv2.h5 ] || { stamp "default backbone weights (npm pack nsfwjs@4.4.0, converted once)"; analysis/get_default_weights.sh; }

MR=(mpirun --oversubscribe --bind-to none -np "$NP" -x OPENBLAS_NUM_THREADS)
[ "$(id -u)" = 0 ] && MR+=(--allow-run-as-root)
TC=build/tailedcore
rm -rf "$OUT"; mkdir -p "$OUT"
D=$OUT/$PROTOCOL
stamp "synthetic data: $CLASSES classes, $TRAIN train images each, long-tail $PROTOCOL with 10% noise"
build/tc-synth --out "$OUT/synth" --classes "$CLASSES" --train "$TRAIN" --test-good 6 --test-defect 2 \
  --seed "$SEED" --longtail "$PROTOCOL" --longtail-out "$D" -q
stamp "extract train and test features ($NP ranks)"
"${MR[@]}" $TC extract --data "$D" --split train "${EMBED_ARGS[@]}" --out "$OUT/train.h5"
"${MR[@]}" $TC extract --data "$D" --split test "${EMBED_ARGS[@]}" --out "$OUT/test.h5"
stamp "TailSampler"
"${MR[@]}" $TC tailsample --features "$OUT/train.h5" --out "$OUT/tail.h5"
for m in tailedcore softpatch patchcore; do
  stamp "fit + predict: $m"
  "${MR[@]}" $TC fit --features "$OUT/train.h5" --data "$D" --weights weights/mobilenetv2.h5 \
    --method $m --tail-aug "$TAIL_AUG" --out "$OUT/model_$m.h5"
  "${MR[@]}" $TC predict --model "$OUT/model_$m.h5" --features "$OUT/test.h5" --out "$OUT/scores_$m.h5"
done
stamp "eval"
"${MR[@]}" $TC eval --scores "$OUT/scores_tailedcore.h5" --compare "$OUT/scores_softpatch.h5" \
  "$OUT/scores_patchcore.h5" --data "$D" --dataset-info "$D/dataset.json" --csv "$OUT/results.csv" \
  | tee "$OUT/results.md"
stamp "plots"
/usr/bin/python3 analysis/plot_results.py --out-dir "$OUT/plots" --csv "$OUT/results.csv" \
  --scores "$OUT/scores_tailedcore.h5" --data "$D" --tail "$OUT/tail.h5" >/dev/null
stamp "done: table in $OUT/results.md, plots in $OUT/plots/"
