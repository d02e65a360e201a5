#!/usr/bin/env bash
# Issue 7: predict straight from images (--data), through the real extract,
# fit and eval on a tiny synthetic set: the scores from images equal the
# scores from precomputed test features bit for bit, on 1, 2 and 3 ranks;
# eval runs on the result; bad weights are refused. Weights are the formula
# weights of the CNN golden fixture (test_cnn --write-weights), so no Python.
source "$(dirname "$0")/lib.sh"
T=$BUILD/tests/test_cnn
SYNTH=$BUILD/tc-synth
for b in "$T" "$SYNTH"; do
  if [ ! -x "$b" ]; then fail "missing $b (make BUILD=... all $BUILD/tests/test_cnn)"; report; exit 1; fi
done
same() { h5diff -q "$1" "$2" /image_scores && h5diff -q "$1" "$2" /anomaly_maps && h5diff -q "$1" "$2" /paths; }
cd "$TMP"
W=$TMP/mbv2.h5
(cd "$ROOT" && "$T" --write-weights mobilenetv2 mobilenetv2 "$W") >/dev/null 2>&1 || fail "write weights"
check "make a 2-class data set" "$SYNTH" --out data --classes 2 --train 6 --test-good 2 --test-defect 1 \
  --defects scratch hole --size 96 --quiet
OPTS=(--weights "$W" --resize 80 --crop 64 --quiet)
tc_run 2 extract --data data --split train "${OPTS[@]}" --out train.h5
check "extract train" test -f train.h5
tc_run 2 extract --data data --split test "${OPTS[@]}" --out test.h5
check "extract test" test -f test.h5
tc_run 2 fit --features train.h5 --method patchcore --out model.h5 --quiet
check "fit patchcore" test -f model.h5

tc_run 2 predict --model model.h5 --features test.h5 --out ref.h5 --quiet
check "predict from features: exit 0" test $? = 0
check "maps at the model's crop (64)" bash -c "h5dump -H ref.h5 | grep -q '( 8, 64, 64 )'"
for np in 1 2 3; do
  tc_run $np predict --model model.h5 --data data --weights "$W" --out img$np.h5 --quiet
  check "predict from images on $np ranks: exit 0" test $? = 0
  check "predict from images on $np ranks == from features (bitwise)" same ref.h5 img$np.h5
done
find data -path '*/test/*' -name '*.tiff' | sed 's|^data/||' | sort | head -3 >list.txt
tc_run 2 predict --model model.h5 --data data --list list.txt --weights "$W" --out list.h5 --quiet
check "predict --list: 3 images" bash -c "h5dump -H list.h5 | grep -q '( 3, 64, 64 )'"

out=$(tc_run 2 eval --scores img2.h5 --data data 2>&1); rc=$?
check "eval of image-mode scores: exit 0" test $rc = 0
check "eval table has both classes and the mean" bash -c "grep -q '^| bottle ' <<<'$out' && grep -q '^| cable ' <<<'$out' && grep -q 'mean all' <<<'$out'"

# bad inputs
tc_run 2 predict --model model.h5 --data data --weights nosuch.h5 --out bad.h5 >log.w 2>&1; rc=$?
check "missing weights: exit 4" test $rc = 4
check "  nothing published" test ! -e bad.h5
(cd "$ROOT" && "$T" --write-weights resnet18 resnet18 "$TMP/r18.h5") >/dev/null 2>&1
tc_run 2 predict --model model.h5 --data data --weights r18.h5 --out bad.h5 >log.r 2>&1; rc=$?
check "weights of another backbone: exit 3" test $rc = 3
check "  nothing published" test ! -e bad.h5
mkdir -p data/bottle/test/broken && head -c 100 "$(find data -name '*.tiff' | head -1)" >data/bottle/test/broken/000.tiff
tc_run 2 predict --model model.h5 --data data --weights "$W" --out bad.h5 >log.t 2>&1; rc=$?
check "a truncated test image: exit 3" test $rc = 3
check "  message names it" grep -q "bottle/test/broken/000.tiff" log.t
check "  nothing published, no temporary" bash -c '! ls bad.h5* 2>/dev/null | grep -q .'
report
