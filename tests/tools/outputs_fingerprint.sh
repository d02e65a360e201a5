#!/usr/bin/env bash
# tests/tools/outputs_fingerprint.sh OUTDIR - run a small pipeline (synthetic
# long-tail set, random mobilenetv2 weights) through every command that writes
# a file: extract, tailsample, fit for each method, predict, eval; on 1-4
# ranks; and write an h5dump text of every output into OUTDIR, with what
# legitimately changes from run to run (timings, absolute paths, the program
# version) blanked. A behaviour-preserving change must leave OUTDIR identical:
#
#   tests/tools/outputs_fingerprint.sh /tmp/before     # on the old commit
#   tests/tools/outputs_fingerprint.sh /tmp/after      # on the new one
#   diff -r /tmp/before /tmp/after && echo bit-identical
#
# Not part of make test (about 5 minutes on 2 cores). RANKS="1 2" to shorten.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$ROOT/build}
OUT=$(mkdir -p "$1" && cd "$1" && pwd)
RANKS=${RANKS:-1 2 3 4}
TC=$BUILD/tailedcore
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
MPIRUN=(mpirun --oversubscribe --bind-to none -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
W=$(mktemp -d "${TMPDIR:-/tmp}/tcfp.XXXXXX")
trap 'rm -rf "$W"' EXIT
cd "$W"
"$BUILD/tests/test_cnn" --write-weights mobilenetv2 mobilenetv2 weights.h5 >/dev/null 2>&1 ||
  (cd "$ROOT" && "$BUILD/tests/test_cnn" --write-weights mobilenetv2 mobilenetv2 "$W/weights.h5" >/dev/null)
"$BUILD/tc-synth" --out synth --classes 5 --train 12 --test-good 3 --test-defect 1 --size 96 \
  --longtail step_k4 --longtail-out k4 --quiet
# every dataset and attribute, minus the lines that name run time, where the
# run happened or which build made it
filt() {
  awk '
    /ATTRIBUTE "(seconds|t_[a-z_]*|elapsed[a-z_]*|program_version|source_[a-z]*|created[a-z_]*|host[a-z_]*|[a-z_]*_path|data_root|weights_path)"/ {skip=1}
    skip && /^ *}/ {skip=0; print "   (volatile attribute)"; next}
    !skip' | sed "s|$W|WORKDIR|g"
}
# the attributes as text (readable in a diff), every dataset's values as a hash
dumpit() {
  h5dump -A "$1" | filt
  echo "md5 of every value: $(h5dump "$1" | filt | md5sum | cut -d' ' -f1)"
}
for np in $RANKS; do
  mr=("${MPIRUN[@]}" -np "$np" "$TC")
  "${mr[@]}" extract --data k4 --split train --weights weights.h5 --out train$np.h5 --quiet
  "${mr[@]}" extract --data k4 --split test --weights weights.h5 --out test$np.h5 --quiet
  "${mr[@]}" tailsample --features train$np.h5 --out tail$np.h5 --quiet
  for m in patchcore softpatch tailedcore; do
    "${mr[@]}" fit --features train$np.h5 --data k4 --weights weights.h5 --method $m --tail-aug rotflip \
      --out model_${m}_$np.h5 --quiet
    "${mr[@]}" predict --model model_${m}_$np.h5 --features test$np.h5 --out scores_${m}_$np.h5 --quiet
    "${mr[@]}" eval --scores scores_${m}_$np.h5 --data k4 --dataset-info k4/dataset.json --quiet \
      >eval_${m}_$np.txt
  done
  for f in train test tail; do dumpit $f$np.h5 >"$OUT/$f$np.txt"; done
  for m in patchcore softpatch tailedcore; do
    dumpit model_${m}_$np.h5 >"$OUT/model_${m}_$np.txt"
    dumpit scores_${m}_$np.h5 >"$OUT/scores_${m}_$np.txt"
    cp eval_${m}_$np.txt "$OUT/"
  done
done
ls "$OUT" | wc -l | sed 's/$/ fingerprints in '"${OUT//\//\\/}"'/'
