#!/usr/bin/env bash
# test_extract.sh - `tailedcore extract` on 1-4 ranks (DESIGN 3.1, 3.2, 5, 6):
# features, embeddings and paths bit-identical for every rank count (7
# images: uneven blocks on 2, 3 and 4 ranks); each kind of bad image stops
# the job with a clear message naming the file and publishes nothing;
# --skip-bad-images records them in /skipped; --embed-tap changes only the
# embeddings (E, attribute embed_tap), still identical for 1 and 3 ranks. Weights are the formula
# weights of the golden fixture (test_cnn --write-weights), so no Python.
source "$(dirname "$0")/lib.sh"
T=$BUILD/tests/test_cnn
SYNTH=$BUILD/tc-synth
IMG=$ROOT/tests/golden/images
for b in "$T" "$SYNTH"; do
  if [ ! -x "$b" ]; then fail "missing $b (make BUILD=... all $BUILD/tests/test_cnn)"; report; exit 1; fi
done
no_output() { # neither the final name nor a temporary name exists
  [ ! -e "$1" ] && [ -z "$(ls "$(dirname "$1")" 2>/dev/null | grep -F "$(basename "$1").tmp")" ]
}
same() { h5diff -q "$1" "$2" /features /features && h5diff -q "$1" "$2" /embeddings /embeddings \
  && h5diff -q "$1" "$2" /paths /paths; }

W=$TMP/mbv2.h5
(cd "$ROOT" && "$T" --write-weights mobilenetv2 mobilenetv2 "$W") || fail "write weights"
check "make 7-image data set" "$SYNTH" --out "$TMP/data" --classes 1 --train 7 --test-good 1 \
  --test-defect 1 --defects scratch --size 96 --quiet
OPTS=(--weights "$W" --resize 80 --crop 64 --quiet)

tc_run 1 extract --data "$TMP/data" "${OPTS[@]}" --out "$TMP/f1.h5"
check "1 rank: exit 0" test $? = 0
check "1 rank: 7 images, 8x8 patches, D=576" sh -c "h5ls '$TMP/f1.h5/features' | grep -q '{7, 64, 576}'"
check "1 rank: paths relative to --data" sh -c "h5dump -d /paths '$TMP/f1.h5' | grep -q 'bottle/train/good/000.tiff'"
check "1 rank: attributes" sh -c "h5dump -A '$TMP/f1.h5' | grep -q 'block_5_add,block_10_project_BN'"
for np in 2 3 4; do
  tc_run $np extract --data "$TMP/data" "${OPTS[@]}" --batch 2 --out "$TMP/f$np.h5"
  check "$np ranks: exit 0" test $? = 0
  check "$np ranks: features/embeddings/paths identical to 1 rank" same "$TMP/f1.h5" "$TMP/f$np.h5"
done

# --embed-tap: the global embedding is another map's pool (default: the
# standard deviation of block_10_project_BN for mobilenetv2, DECISIONS.md)
attr() { h5dump -a "$2" "$1" 2>/dev/null | grep '(0)' | sed 's/.*(0): *//; s/"//g'; }
check "default embed_tap attribute = block_10_project_BN:std" test "$(attr "$TMP/f1.h5" embed_tap)" = block_10_project_BN:std
E0=$(attr "$TMP/f1.h5" E)
check "default embedding: E = 96" test "$E0" = 96
tc_run 2 extract --data "$TMP/data" "${OPTS[@]}" --embed-tap block_10_project_BN:std --out "$TMP/d2.h5"
check "explicit --embed-tap block_10_project_BN:std == the default" same "$TMP/f1.h5" "$TMP/d2.h5"
for np in 1 3; do
  tc_run $np extract --data "$TMP/data" "${OPTS[@]}" --embed-tap out_relu --out "$TMP/e$np.h5"
  check "--embed-tap out_relu on $np rank(s): exit 0" test $? = 0
  tc_run $np extract --data "$TMP/data" "${OPTS[@]}" --embed-tap block_5_add,Conv_1_bn --out "$TMP/c$np.h5"
  check "--embed-tap block_5_add,Conv_1_bn on $np rank(s): exit 0" test $? = 0
done
E1=$(attr "$TMP/e1.h5" E); E2=$(attr "$TMP/c1.h5" E)
check "--embed-tap: E changes ($E0 -> $E1)" sh -c "[ -n '$E1' ] && [ '$E1' != '$E0' ]"
check "--embed-tap: /embeddings is [7 x E]" sh -c "h5ls '$TMP/e1.h5/embeddings' | grep -q '{7, $E1}'"
check "--embed-tap: recorded as attribute embed_tap" test "$(attr "$TMP/e1.h5" embed_tap)" = out_relu
check "--embed-tap list: recorded in order" test "$(attr "$TMP/c1.h5" embed_tap)" = block_5_add,Conv_1_bn
check "--embed-tap list: E = sum of the maps' channels ($E2)" sh -c "[ -n '$E2' ] && [ '$E2' -gt '$E0' ]"
check "--embed-tap: patch features unchanged" h5diff -q "$TMP/f1.h5" "$TMP/e1.h5" /features /features
check "--embed-tap: patch features unchanged (list)" h5diff -q "$TMP/f1.h5" "$TMP/c3.h5" /features /features
check "--embed-tap: 1 and 3 ranks identical" same "$TMP/e1.h5" "$TMP/e3.h5"
check "--embed-tap list: 1 and 3 ranks identical" same "$TMP/c1.h5" "$TMP/c3.h5"
tc_run 2 extract --data "$TMP/data" "${OPTS[@]}" --embed-tap nosuch --out "$TMP/ue.h5" 2>"$TMP/ue.err"
check "unknown --embed-tap: exit 2" test $? = 2
check "unknown --embed-tap: message names it" grep -q nosuch "$TMP/ue.err"
check "unknown --embed-tap: nothing published" no_output "$TMP/ue.h5"

# pass 1 keeps the decoded crops for pass 2 when they fit --mem-per-rank;
# decoding twice (--mem-per-rank 0, or too little memory) gives the same bits
tc_run 2 extract --data "$TMP/data" "${OPTS[@]/--quiet/--verbose}" --out "$TMP/k2.h5" 2>"$TMP/k2.err"
check "crops kept in memory (default --mem-per-rank 2G)" grep -q "crops kept in memory" "$TMP/k2.err"
for mem in 0 1M; do
  tc_run 3 extract --data "$TMP/data" "${OPTS[@]/--quiet/--verbose}" --mem-per-rank $mem --out "$TMP/d$mem.h5" 2>"$TMP/d$mem.err"
  check "--mem-per-rank $mem: decodes twice" grep -q "decoding twice" "$TMP/d$mem.err"
  check "--mem-per-rank $mem: same features as with kept crops" same "$TMP/f1.h5" "$TMP/d$mem.h5"
done

# --list: the same images as plain paths
find "$TMP/data/bottle/train" -name '*.tiff' | sort >"$TMP/list.txt"
tc_run 3 extract --list "$TMP/list.txt" "${OPTS[@]}" --out "$TMP/l3.h5"
check "--list on 3 ranks: exit 0" test $? = 0
check "--list: same features as --data" h5diff -q "$TMP/f1.h5" "$TMP/l3.h5" /features /features

# bad images, one kind at a time, placed in the middle of the list
good=$(find "$TMP/data/bottle/train" -name '*.tiff' | sort)
head -c 700 "$TMP/data/bottle/train/good/000.tiff" >"$TMP/truncated.tiff"
cp "$IMG/png_rgb.png" "$TMP/corrupt.png"
printf '\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00\x00' | dd of="$TMP/corrupt.png" bs=1 seek=40 conv=notrunc 2>/dev/null
cp "$IMG/tif_float.tif" "$TMP/float32.tif"
: >"$TMP/empty.png"
echo "this is not an image" >"$TMP/notimage.jpg"
declare -A STATUS=([truncated.tiff]=3 [corrupt.png]=3 [float32.tif]=3 [empty.png]=3 [notimage.jpg]=3 [missing.png]=4)
for bad in truncated.tiff corrupt.png float32.tif empty.png notimage.jpg missing.png; do
  { echo "$good" | head -4; echo "$TMP/$bad"; echo "$good" | tail -3; } >"$TMP/bad.txt"
  tc_run 3 extract --list "$TMP/bad.txt" "${OPTS[@]}" --out "$TMP/bad.h5" 2>"$TMP/bad.err"
  st=$?
  check "bad image $bad: exit ${STATUS[$bad]} (got $st)" test "$st" = "${STATUS[$bad]}"
  check "bad image $bad: message names the file" grep -q "$bad" "$TMP/bad.err"
  check "bad image $bad: nothing published, no temp file" no_output "$TMP/bad.h5"
  echo "    $(grep -m1 "^tailedcore:" "$TMP/bad.err")"
done

# all of them at once, skipped and recorded
{ echo "$good"; for b in truncated.tiff corrupt.png float32.tif empty.png notimage.jpg missing.png; do echo "$TMP/$b"; done; } >"$TMP/mixed.txt"
tc_run 4 extract --list "$TMP/mixed.txt" "${OPTS[@]}" --out "$TMP/skip.h5" --skip-bad-images 2>"$TMP/skip.err"
check "--skip-bad-images on 4 ranks: exit 0" test $? = 0
check "--skip-bad-images: 7 good images kept" sh -c "h5ls '$TMP/skip.h5/features' | grep -q '{7, 64, 576}'"
check "--skip-bad-images: features equal the clean run" h5diff -q "$TMP/l3.h5" "$TMP/skip.h5" /features /features
check "--skip-bad-images: /skipped/paths lists the 6 bad files" sh -c "h5ls '$TMP/skip.h5/skipped/paths' | grep -q '{6}'"
check "--skip-bad-images: reasons recorded" sh -c "h5dump -d /skipped/reasons '$TMP/skip.h5' | grep -q float32.tif"
check "--skip-bad-images: each skip logged" test "$(grep -c 'skipped bad image' "$TMP/skip.err")" = 6

# usage errors
tc_run 2 extract --out "$TMP/u.h5" --weights "$W" 2>/dev/null
check "no --data/--list: exit 2" test $? = 2
tc_run 2 extract --data "$TMP/data" --weights "$W" --taps nosuch --out "$TMP/u.h5" 2>"$TMP/u.err"
check "unknown tap: exit 2" test $? = 2
check "unknown tap: nothing published" no_output "$TMP/u.h5"
tc_run 2 extract --data "$TMP/data" --backbone resnet18 --weights "$W" --out "$TMP/u.h5" 2>"$TMP/u.err"
check "weights of another backbone: exit 3" test $? = 3
tc_run 1 extract --data "$TMP/data" --weights "$TMP/nosuch.h5" --out "$TMP/u.h5" 2>"$TMP/u.err"
check "missing weights: exit 4" test $? = 4
tc_run 2 extract --data "$TMP/data" --weights "$W" --out "$TMP/nodir/x.h5" 2>"$TMP/nd.err"
check "missing output directory: exit 4" test $? = 4
check "missing output directory: message names it" grep -q "output directory $TMP/nodir does not exist" "$TMP/nd.err"
check "missing output directory: found before any image is read" sh -c "! grep -q 'decoding images' '$TMP/nd.err'"
report
