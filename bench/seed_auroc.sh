#!/bin/bash
# seed_auroc.sh - image and pixel AUROC of the exact and the fast coreset over
# several fit seeds, on one data set (issue 17's AUROC rule).
#
# One seed is not enough to tell two coreset modes apart: the exact path's own
# image AUROC moves by 0.3-2.8 points with --seed (another projection and
# first point). This runs, for every method and seed, `fit --coreset-mode
# exact` and `fit --coreset-mode $FAST_MODE`, scores both with the same
# predict (`--search $SEARCH`; the default ivf certifies every image score to
# the exact search's, so only the coreset differs in image AUROC), evaluates,
# and prints per-seed rows and the mean of fast - exact.
#
#   DATA=ROOT FEAT=DIR OUT=DIR [SEEDS="0 1 2 3"] [METHODS="tailedcore softpatch
#   patchcore"] [FAST_MODE=tworound-int8] [SEARCH=ivf] [TAIL_AUG=rotflip]
#   [NP=2] [FIT_ARGS=...] bench/seed_auroc.sh
#
# FEAT holds train.h5 and test.h5 (extracted when missing). A run whose
# metrics file exists is not repeated, so the script can be stopped and
# resumed; ORDER=seed-major runs every method of seed 0 first.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
: "${DATA:?DATA=data root}" "${FEAT:?FEAT=features dir}" "${OUT:?OUT=results dir}"
SEEDS=${SEEDS:-0 1 2 3}
METHODS=${METHODS:-tailedcore softpatch patchcore}
FAST_MODE=${FAST_MODE:-tworound-int8}
SEARCH=${SEARCH:-ivf}
TAIL_AUG=${TAIL_AUG:-rotflip}
NP=${NP:-2}
PATHS=${PATHS:-exact fast}
TC=$ROOT/build/tailedcore
W=$ROOT/weights/mobilenetv2.h5
read -r -a FITX <<<"${FIT_ARGS:-}"
MR=(mpirun --oversubscribe --bind-to none -np "$NP" -x OPENBLAS_NUM_THREADS=1)
[ "$(id -u)" = 0 ] && MR+=(--allow-run-as-root)
mkdir -p "$FEAT" "$OUT"
for split in train test; do
  [ -s "$FEAT/$split.h5" ] || "${MR[@]}" "$TC" extract --data "$DATA" --split $split --weights "$W" \
    --out "$FEAT/$split.h5" -q
done

# one PATH METHOD SEED: fit, predict, eval into $OUT/PATH-METHOD-sSEED
one() {
  local path=$1 m=$2 s=$3 mode=exact
  [ "$path" = fast ] && mode=$FAST_MODE
  local o=$OUT/$path-$m-s$s args=()
  [ -s "$o/metrics.txt" ] && return 0
  mkdir -p "$o"
  [ "$m" = tailedcore ] && args+=(--tail-aug "$TAIL_AUG")
  local t0=$SECONDS
  "${MR[@]}" "$TC" fit --features "$FEAT/train.h5" --data "$DATA" --weights "$W" --method "$m" --seed "$s" \
    --coreset-mode "$mode" "${args[@]}" "${FITX[@]}" --out "$o/model.h5" >"$o/fit.log" 2>&1 \
    || { echo "seed_auroc: fit failed: $o/fit.log" >&2; return 1; }
  local fit_s=$((SECONDS - t0))
  "${MR[@]}" "$TC" predict --model "$o/model.h5" --features "$FEAT/test.h5" --search "$SEARCH" \
    --out "$o/scores.h5" >"$o/predict.log" 2>&1 || { echo "seed_auroc: predict failed: $o/predict.log" >&2; return 1; }
  "${MR[@]}" "$TC" eval --scores "$o/scores.h5" --data "$DATA" --metrics "$o/metrics.tmp" >"$o/eval.md" 2>&1 \
    || { echo "seed_auroc: eval failed: $o/eval.md" >&2; return 1; }
  echo "fit_s=$fit_s" >>"$o/metrics.tmp"
  mv "$o/metrics.tmp" "$o/metrics.txt"
  echo "seed_auroc: $path $m seed $s: $(grep -E '^(image|pixel)_auroc=' "$o/metrics.txt" | tr '\n' ' ')fit ${fit_s}s" >&2
}

if [ "${ORDER:-seed-major}" = seed-major ]; then
  for s in $SEEDS; do for m in $METHODS; do for p in $PATHS; do one "$p" "$m" "$s" || true; done; done; done
else
  for m in $METHODS; do for s in $SEEDS; do for p in $PATHS; do one "$p" "$m" "$s" || true; done; done; done
fi

# ---- table -------------------------------------------------------------------
get() { sed -n "s/^$1=//p" "$2" 2>/dev/null; }
echo "| method | seed | exact image / pixel | $FAST_MODE image / pixel | fast - exact |"
echo "| --- | --- | --- | --- | --- |"
for m in $METHODS; do
  di=() dp=() ei=()
  for s in $SEEDS; do
    e=$OUT/exact-$m-s$s/metrics.txt f=$OUT/fast-$m-s$s/metrics.txt
    if [ -s "$e" ] && [ -s "$f" ]; then
      a=$(get image_auroc "$e") b=$(get pixel_auroc "$e") c=$(get image_auroc "$f") d=$(get pixel_auroc "$f")
      read -r x y < <(awk -v a="$a" -v b="$b" -v c="$c" -v d="$d" 'BEGIN{printf "%+.2f %+.2f\n", c-a, d-b}')
      echo "| $m | $s | $a / $b | $c / $d | $x / $y |"
      di+=("$x") dp+=("$y") ei+=("$a")
    fi
  done
  [ ${#di[@]} -gt 0 ] || continue
  awk -v m="$m" -v di="${di[*]}" -v dp="${dp[*]}" -v ei="${ei[*]}" 'BEGIN{
    n=split(di,A," "); split(dp,B," "); split(ei,E," ")
    for(i=1;i<=n;i++){sa+=A[i]; sb+=B[i]; se+=E[i]}
    me=se/n; for(i=1;i<=n;i++) v+=(E[i]-me)^2
    printf "| %s | mean of %d | exact image sd %.2f | | **%+.2f / %+.2f** |\n", m, n, (n>1?sqrt(v/(n-1)):0), sa/n, sb/n}'
done
