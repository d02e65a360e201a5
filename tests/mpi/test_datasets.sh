#!/usr/bin/env bash
# test_datasets.sh - the data set tools end to end (no MPI): tc-synth makes a
# small pristine set; tc-longtail builds step_k1 / step_k4 / pareto variants
# for several seeds. Checks counts per protocol and class, the noise ratio,
# the overlap property, determinism (checksums), the manifest round trip,
# --copy, and that bad input fails with a clear message and writes nothing.
source "$(dirname "$0")/lib.sh"
SYN=$BUILD/tc-synth
LT=$BUILD/tc-longtail
for t in "$SYN" "$LT"; do
  [ -x "$t" ] || { fail "missing $t (make BUILD=... all)"; report; exit 1; }
done

C=12; TRAIN=24; TG=2; TD=3; NDEF=5
SRC=$TMP/src
check "tc-synth makes a small set" "$SYN" --out "$SRC" --classes $C --train $TRAIN --test-good $TG \
  --test-defect $TD --size 64 --seed 5 -q

# --- layout and counts of the pristine set
n_classes=$(find "$SRC" -mindepth 1 -maxdepth 1 -type d | wc -l)
check "pristine: $C class folders" [ "$n_classes" = $C ]
check "pristine: train images" [ "$(find "$SRC" -path '*/train/good/*.tiff' | wc -l)" = $((C * TRAIN)) ]
check "pristine: test images" [ "$(find "$SRC" -path '*/test/*.tiff' | wc -l)" = $((C * (TG + NDEF * TD))) ]
check "pristine: one mask per defect image" \
  [ "$(find "$SRC" -path '*/ground_truth/*_mask.tiff' | wc -l)" = $((C * NDEF * TD)) ]
check "pristine: dataset.json" grep -q '"protocol": "pristine"' "$SRC/dataset.json"
missing_mask=0
for f in $(cd "$SRC" && find . -path '*/test/*' -name '*.tiff' ! -path '*/test/good/*'); do
  cls=$(echo "$f" | cut -d/ -f2); typ=$(echo "$f" | cut -d/ -f4); n=$(basename "$f" .tiff)
  [ -f "$SRC/$cls/ground_truth/$typ/${n}_mask.tiff" ] || missing_mask=$((missing_mask + 1))
done
check "pristine: every defect image has its mask" [ $missing_mask = 0 ]

# --- determinism of the generator
sums() { (cd "$1" && find . -type f ! -name '*.tmp*' -print0 | sort -z | xargs -0 sha256sum); }
"$SYN" --out "$TMP/src2" --classes $C --train $TRAIN --test-good $TG --test-defect $TD --size 64 --seed 5 --jobs 1 -q
check "tc-synth: same seed = same bytes (and --jobs does not matter)" \
  diff <(sums "$SRC") <(sums "$TMP/src2")
"$SYN" --out "$TMP/src3" --classes 2 --train 3 --test-good 0 --test-defect 1 --size 64 --seed 6 -q
check "tc-synth: another seed, other images" \
  bash -c "! cmp -s '$SRC/bottle/train/good/000.tiff' '$TMP/src3/bottle/train/good/000.tiff'"
rm -rf "$TMP/src2" "$TMP/src3"

# --- long-tail builds
tree() { (cd "$1" && find . -mindepth 1 -printf '%P %y %l\n' | sort); }
# kept good and injected noise of class $2 in build $1
n_good() { find "$1/$2/train/good" -mindepth 1 -name '[0-9]*' | wc -l; }
n_noise() { find "$1/$2/train/good" -mindepth 1 ! -name '[0-9]*' | wc -l; }

check_build() { # dir protocol K
  local out=$1 proto=$2 k=$3 bad=0 tails=0 good=0 noise=0
  local dir
  for dir in "$out"/*/; do
    local cls; cls=$(basename "$dir")
    local g n; g=$(n_good "$out" "$cls"); n=$(n_noise "$out" "$cls")
    good=$((good + g)); noise=$((noise + n))
    local tail=0
    case $proto in
      step_k*) if [ "$g" = "$k" ]; then tail=1; elif [ "$g" != $TRAIN ]; then echo "  $cls keeps $g" >&2; bad=1; fi ;;
      pareto) [ "$g" -lt 20 ] && tail=1
              if [ "$g" -lt 5 ] || [ "$g" -gt $TRAIN ]; then echo "  $cls keeps $g" >&2; bad=1; fi ;;
    esac
    tails=$((tails + tail))
    if [ $tail = 1 ] && [ "$n" != 0 ]; then echo "  tail class $cls has $n noise images" >&2; bad=1; fi
    # the test set is untouched (overlap protocol)
    [ "$(find "$out/$cls/test" -name '*.tiff' | wc -l)" = $((TG + NDEF * TD)) ] || { echo "  $cls test changed" >&2; bad=1; }
  done
  case $proto in step_k*) [ $tails = 7 ] || { echo "  $tails tail classes, want 7" >&2; bad=1; } ;; esac
  case $proto in pareto) [ $tails -ge 1 ] && [ $tails -lt $C ] || { echo "  $tails tail classes" >&2; bad=1; } ;; esac
  # noise within one image of 10% of the kept good images
  awk -v n=$noise -v g=$good 'BEGIN { d = n - 0.1 * g; exit !(d <= 1 && d >= -1) }' || { echo "  noise $noise for $good good" >&2; bad=1; }
  [ "$(wc -l < "$out/manifest_good.txt")" = $good ] || { echo "  manifest_good count" >&2; bad=1; }
  [ "$(wc -l < "$out/manifest_noise.txt")" = $noise ] || { echo "  manifest_noise count" >&2; bad=1; }
  grep -q "\"n_noise\": $noise," "$out/dataset.json" || { echo "  dataset.json n_noise" >&2; bad=1; }
  [ $bad = 0 ]
}

check_overlap() { # every injected image is a test anomaly of a head class that stays in test
  local out=$1 bad=0
  while read -r line; do
    local cls f typ name
    cls=${line%%/*}; f=${line##*/}
    local hit=0
    for t in "$out/$cls/test"/*/; do
      typ=$(basename "$t"); [ "$typ" = good ] && continue
      case $f in "${typ}_"*) name=${f#"${typ}_"}
        if [ -e "$out/$cls/test/$typ/$name" ] &&
           [ "$(readlink -f "$out/$line")" = "$(readlink -f "$out/$cls/test/$typ/$name")" -o \
             "$(cmp -s "$out/$line" "$out/$cls/test/$typ/$name" && echo same)" = same ]; then hit=1; fi ;;
      esac
    done
    [ $hit = 1 ] || { echo "  $line is not a test anomaly of $cls" >&2; bad=1; }
    [ -e "$out/$line" ] || { echo "  $line missing" >&2; bad=1; }
  done < "$out/manifest_noise.txt"
  [ $bad = 0 ]
}

for proto in step_k1 step_k4 pareto; do
  k=${proto#step_k}
  for seed in 0 1 2; do
    out=$TMP/lt_${proto}_$seed
    if "$LT" --src "$SRC" --out "$out" --protocol $proto --seed $seed -q; then
      check "$proto seed $seed: counts per class, tail rule, noise ratio" check_build "$out" $proto "$k"
      check "$proto seed $seed: overlap (noise = head test anomalies kept in test)" check_overlap "$out"
    else
      fail "$proto seed $seed: tc-longtail failed"
    fi
  done
  # same seed again: identical manifests, dataset.json and tree
  "$LT" --src "$SRC" --out "$TMP/again" --protocol $proto --seed 1 -q
  check "$proto: same seed = same manifests, dataset.json, tree" \
    bash -c "cmp '$TMP/again/manifest_good.txt' '$TMP/lt_${proto}_1/manifest_good.txt' &&
             cmp '$TMP/again/manifest_noise.txt' '$TMP/lt_${proto}_1/manifest_noise.txt' &&
             cmp '$TMP/again/dataset.json' '$TMP/lt_${proto}_1/dataset.json' &&
             diff <(cd '$TMP/again' && find . -printf '%P %y %l\n' | sort) <(cd '$TMP/lt_${proto}_1' && find . -printf '%P %y %l\n' | sort) >/dev/null"
  rm -rf "$TMP/again"
  check "$proto: another seed, another split" \
    bash -c "! cmp -s '$TMP/lt_${proto}_1/manifest_noise.txt' '$TMP/lt_${proto}_2/manifest_noise.txt' ||
             ! cmp -s '$TMP/lt_${proto}_1/manifest_good.txt' '$TMP/lt_${proto}_2/manifest_good.txt'"
  # rebuild from the manifests
  "$LT" --src "$SRC" --out "$TMP/rebuilt" --protocol $proto \
    --good-manifest "$TMP/lt_${proto}_1/manifest_good.txt" --noise-manifest "$TMP/lt_${proto}_1/manifest_noise.txt" -q
  check "$proto: build from manifests = build from seed" \
    bash -c "diff <(cd '$TMP/rebuilt' && find . -printf '%P %y %l\n' | sort) <(cd '$TMP/lt_${proto}_1' && find . -printf '%P %y %l\n' | sort) >/dev/null &&
             diff <(grep -v '\"seed\"' '$TMP/rebuilt/dataset.json') <(grep -v '\"seed\"' '$TMP/lt_${proto}_1/dataset.json') >/dev/null"
  rm -rf "$TMP/rebuilt"
done
check "step_k4: tail classes keep exactly 4" \
  bash -c "[ \$(for d in '$TMP/lt_step_k4_0'/*/; do find \$d/train/good -name '[0-9]*' | wc -l; done | grep -cx 4) = 7 ]"
check "pareto: largest class keeps all $TRAIN" \
  bash -c "for d in '$TMP/lt_pareto_0'/*/; do find \$d/train/good -name '[0-9]*' | wc -l; done | grep -qx $TRAIN"
check "dataset.json tail flags match the rule (7 tails for step)" \
  [ "$(grep -c '"tail": true' "$TMP/lt_step_k4_0/dataset.json")" = 7 ]

# --copy: real files with the source's bytes
"$LT" --src "$SRC" --out "$TMP/copied" --protocol step_k4 --seed 1 --copy -q
check "--copy: regular files, no symlinks" [ "$(find "$TMP/copied" -type l | wc -l)" = 0 ]
check "--copy: same files as the symlinked build" \
  bash -c "diff <(cd '$TMP/copied' && find . -type f -o -type l | sort) <(cd '$TMP/lt_step_k4_1' && find . -type f -o -type l | sort) >/dev/null"
first_noise=$(head -1 "$TMP/copied/manifest_noise.txt")
check "--copy: injected image has the bytes of its source" cmp "$TMP/copied/$first_noise" "$TMP/lt_step_k4_1/$first_noise"
rm -rf "$TMP/copied"

# tc-synth --longtail uses the same builder
"$SYN" --out "$TMP/s2" --classes $C --train $TRAIN --test-good $TG --test-defect $TD --size 64 --seed 5 \
  --longtail step_k4 --longtail-out "$TMP/s2lt" -q
"$LT" --src "$TMP/s2" --out "$TMP/s2lt_b" --protocol step_k4 --seed 5 -q
check "tc-synth --longtail = tc-longtail on its output" \
  bash -c "cmp '$TMP/s2lt/manifest_good.txt' '$TMP/s2lt_b/manifest_good.txt' && cmp '$TMP/s2lt/manifest_noise.txt' '$TMP/s2lt_b/manifest_noise.txt'"
rm -rf "$TMP/s2" "$TMP/s2lt" "$TMP/s2lt_b"

# --- bad input: clear message, non-zero exit, nothing written, no temp left
expect_fail() { # description, expected stderr text, out dir, command...
  local d=$1 want=$2 out=$3; shift 3
  local err rc
  err=$("$@" 2>&1 >/dev/null); rc=$?
  local parent; parent=$(dirname "$out")
  if [ $rc = 0 ]; then fail "$d: succeeded"; return; fi
  if ! echo "$err" | grep -qF -- "$want"; then fail "$d: stderr '$err' lacks '$want'"; return; fi
  if [ -e "$out" ]; then fail "$d: $out was written"; return; fi
  if ls -a "$parent" | grep -q "^\.$(basename "$out")\.tmp"; then fail "$d: temporary folder left"; return; fi
  pass "$d (exit $rc: $err)"
}
expect_fail "missing source" "$TMP/nope" "$TMP/o1" "$LT" --src "$TMP/nope" --out "$TMP/o1"
expect_fail "unknown protocol" "step_x" "$TMP/o1" "$LT" --src "$SRC" --out "$TMP/o1" --protocol step_x
BAD=$TMP/bad; cp -r "$SRC" "$BAD"
rm -f "$BAD"/bottle/train/good/00[2-9].tiff "$BAD"/bottle/train/good/01*.tiff "$BAD"/bottle/train/good/02*.tiff
expect_fail "a tail class with fewer images than K" "bottle/train/good: 2 images" "$TMP/o1" \
  "$LT" --src "$BAD" --out "$TMP/o1" --protocol step_k4 --head-ratio 0
rm -rf "$BAD"/cable/test
expect_fail "a class without its test folder" "cable/test" "$TMP/o1" "$LT" --src "$BAD" --out "$TMP/o1"
rm -rf "$BAD"
cp "$TMP/lt_step_k4_0/manifest_good.txt" "$TMP/g.txt"; echo "tile/train/good/999.tiff" >> "$TMP/g.txt"
expect_fail "manifest naming a missing file" "tile/train/good/999.tiff does not exist" "$TMP/o1" \
  "$LT" --src "$SRC" --out "$TMP/o1" --good-manifest "$TMP/g.txt" --noise-manifest "$TMP/lt_step_k4_0/manifest_noise.txt"
cp "$TMP/lt_step_k4_0/manifest_noise.txt" "$TMP/n.txt"; echo "tile/train/good/scratch_777.tiff" >> "$TMP/n.txt"
expect_fail "noise manifest naming a missing anomaly" "names no test anomaly" "$TMP/o1" \
  "$LT" --src "$SRC" --out "$TMP/o1" --good-manifest "$TMP/lt_step_k4_0/manifest_good.txt" --noise-manifest "$TMP/n.txt"
expect_fail "noise ratio the head classes cannot supply" "anomalies" "$TMP/o1" \
  "$LT" --src "$SRC" --out "$TMP/o1" --noise-ratio 0.9
expect_fail "only one manifest" "both" "$TMP/o1" "$LT" --src "$SRC" --out "$TMP/o1" --good-manifest "$TMP/g.txt"
# an existing output is kept unless --force
err=$("$LT" --src "$SRC" --out "$TMP/lt_step_k4_0" --seed 9 2>&1); rc=$?
check "existing output: refused, untouched" bash -c "[ $rc != 0 ] && echo '$err' | grep -q 'already exists' &&
  cmp -s '$TMP/lt_step_k4_0/manifest_noise.txt' <(cd '$TMP' && cat lt_step_k4_0/manifest_noise.txt)"
check "existing output with --force: replaced" "$LT" --src "$SRC" --out "$TMP/lt_step_k4_0" --seed 9 --force -q
check "--force left no temporary folder" bash -c "! ls -a '$TMP' | grep -q '\.tmp'"
expect_fail "tc-synth: unknown class" "unknown class 'teapot'" "$TMP/o2" "$SYN" --out "$TMP/o2" --class-list teapot
err=$("$SYN" --out "$SRC" --classes 1 --train 1 2>&1); rc=$?
check "tc-synth: existing output refused, untouched ($err)" bash -c "[ $rc = 4 ] && [ \$(find '$SRC' -path '*/train/good/*.tiff' | wc -l) = $((C * TRAIN)) ]"
check "tc-synth --help lists options with defaults" bash -c "'$SYN' --help | grep -q 'default: 256'"
check "tc-longtail --help lists options with defaults" bash -c "'$LT' --help | grep -q 'default: 6.0'"
report
