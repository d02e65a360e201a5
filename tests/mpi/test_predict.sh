#!/usr/bin/env bash
# Issue 7: predict and eval under real mpirun with 1-4 ranks.
# (--search exact throughout: this suite is the exact search; the default
# --search auto is tested in test_ivf.sh)
#  - the same scores bits for 1, 2, 3, 4 ranks, replicated or split memory bank
#    (forced, and chosen automatically by --mem-per-rank);
#  - softpatch weighting changes the scores and is rank-independent too;
#  - bad inputs: a model of another backbone / D than the features (exit 3),
#    missing files (exit 4), unwritable output and an injected failure mid-run
#    (nothing published, an existing file untouched, no temporary left);
#  - eval on a hand-made scores file with known AUROCs (1, 0, 0.5 per class),
#    --compare, CSV, and its bad inputs (scores without ground truth, missing
#    class).
source "$(dirname "$0")/lib.sh"
export TC_TIMEOUT=60
same() { # a b: the three datasets of two scores files are bit-identical
  h5diff -q "$1" "$2" /image_scores && h5diff -q "$1" "$2" /anomaly_maps && h5diff -q "$1" "$2" /paths
}
cd "$TMP"

# --- inputs: a 5000-row bank (3 tiles of 2048), 5 test images of 28x28 patches, D 64
st 2 model model.h5 5000 64 28 1 >/dev/null 2>&1; check "score_tool model" test -f model.h5
st 2 model soft.h5 5000 64 28 1 fake softpatch >/dev/null 2>&1; check "score_tool softpatch model" test -f soft.h5
st 3 features feat.h5 5 28 64 1 >/dev/null 2>&1; check "score_tool features" test -f feat.h5

tc_run 1 predict --search exact --model model.h5 --features feat.h5 --out ref.h5 >log.1 2>&1
check "predict 1 rank exits 0" test $? = 0
check "scores published" test -f ref.h5
check "kind scores, 5 x 224 x 224 maps" bash -c "h5dump -H ref.h5 | grep -q '( 5, 224, 224 )'"
check "image scores are positive finite" bash -c "h5dump -d /image_scores ref.h5 | grep -qE '\(0\): [0-9]'"
for np in 2 3 4; do
  tc_run $np predict --search exact --model model.h5 --features feat.h5 --out r$np.h5 >log.$np 2>&1
  check "predict $np ranks (replicated bank) exits 0" test $? = 0
  check "predict $np ranks == 1 rank (bitwise)" same ref.h5 r$np.h5
  tc_run $np predict --search exact --model model.h5 --features feat.h5 --out s$np.h5 --bank split >logs.$np 2>&1
  check "predict $np ranks, bank split by rows, exits 0" test $? = 0
  check "split bank on $np ranks == replicated (bitwise)" same ref.h5 s$np.h5
  check "split mode reported" grep -q "(split," logs.$np
done
check "no temporary files left" bash -c '! ls *.tmp.* 2>/dev/null | grep -q .'

# --- automatic split from --mem-per-rank (20000 x 64 bank: ~11.6 MiB replicated)
st 1 model big.h5 20000 64 28 1 >/dev/null 2>&1
tc_run 2 predict --search exact --model big.h5 --features feat.h5 --out auto2.h5 --mem-per-rank 11M >log.a2 2>&1
check "auto: 2 ranks split the bank under --mem-per-rank 11M" grep -q "(split," log.a2
tc_run 1 predict --search exact --model big.h5 --features feat.h5 --out auto1.h5 >log.a1 2>&1
check "auto: 1 rank replicates under the default 2G" grep -q "(replicated," log.a1
check "auto split == replicated (bitwise)" same auto1.h5 auto2.h5
tc_run 1 predict --search exact --model big.h5 --features feat.h5 --out none.h5 --mem-per-rank 9M >log.m1 2>&1; rc=$?
check "bank larger than --mem-per-rank on 1 rank: exit 1" test $rc = 1
check "  says so" grep -q "more than --mem-per-rank" log.m1
check "  nothing published" test ! -e none.h5

# --- softpatch: scores weighted by the nearest row's weight, rank-independent
tc_run 1 predict --search exact --model soft.h5 --features feat.h5 --out soft1.h5 >/dev/null 2>&1
tc_run 3 predict --search exact --model soft.h5 --features feat.h5 --out soft3.h5 --bank split >/dev/null 2>&1
check "softpatch 3 ranks split == 1 rank" same soft1.h5 soft3.h5
check "softpatch weighting changes the scores" bash -c '! h5diff -q ref.h5 soft1.h5 /image_scores'
check "method attribute recorded" bash -c "h5dump -a /method soft1.h5 | grep -q softpatch"

# --- bad inputs
st 1 model other.h5 5000 64 28 1 resnet18 >/dev/null 2>&1
tc_run 2 predict --search exact --model other.h5 --features feat.h5 --out bad.h5 >log.b 2>&1; rc=$?
check "model of another backbone: exit 3" test $rc = 3
check "  message names the backbone" grep -q "backbone 'fake' differs from the model's 'resnet18'" log.b
check "  nothing published" test ! -e bad.h5
st 1 model d32.h5 5000 32 28 1 >/dev/null 2>&1
tc_run 2 predict --search exact --model d32.h5 --features feat.h5 --out bad.h5 >log.d 2>&1; rc=$?
check "model of another D: exit 3" test $rc = 3
check "  message names D" grep -q "D 64 differs from the model's 32" log.d
tc_run 2 predict --search exact --model nosuch.h5 --features feat.h5 --out bad.h5 >log.n 2>&1; rc=$?
check "missing model: exit 4" test $rc = 4
check "  message names the file" grep -q "nosuch.h5" log.n
tc_run 2 predict --search exact --model model.h5 --features nosuch.h5 --out bad.h5 >/dev/null 2>&1; rc=$?
check "missing features: exit 4" test $rc = 4
tc_run 2 predict --search exact --model feat.h5 --features feat.h5 --out bad.h5 >/dev/null 2>&1; rc=$?
check "a features file given as model: exit 3" test $rc = 3
tc_run 2 predict --search exact --model model.h5 --features feat.h5 --out nodir/x/s.h5 >log.u 2>&1; rc=$?
check "unwritable output directory: exit 4" test $rc = 4
check "  nothing created" test ! -e nodir
check "  found before the model is read" grep -q "output directory nodir/x does not exist" log.u
tc_run 2 predict --search exact --model model.h5 --out bad.h5 >/dev/null 2>&1; rc=$?
check "no input source: usage, exit 2" test $rc = 2
echo old >keep.h5
TC_FAIL_RANK=1 TC_FAIL_AT=predict tc_run 2 predict --search exact --model model.h5 \
  --features feat.h5 --out keep.h5 >log.f 2>&1; rc=$?
check "injected failure on rank 1 mid-run: exit 4" test $rc = 4
check "  message names rank 1" grep -q "rank 1: keep.h5: injected failure" log.f
check "  existing output untouched" test "$(cat keep.h5)" = old
check "  no temporary file left" bash -c '! ls keep.h5.tmp.* 2>/dev/null | grep -q .'
has() { grep -q -- "$1" <<<"$2"; }
out=$("$TC" predict --help 2>&1)
check "predict --help lists --mem-per-rank with its default" has '--mem-per-rank SIZE.*default: 2G' "$out"
out=$("$TC" eval --help 2>&1)
check "eval --help lists --compare" has '--compare' "$out"

# --- eval: a tiny MVTec layout with masks and a hand-made scores file whose
# AUROCs are known: alpha (tail) 100/100, beta (head) 0/0, gamma (head) 50/50
st 1 dataset ds >/dev/null 2>&1; check "score_tool dataset" test -f ds/dataset.json
st 1 scores hand.h5 ds >/dev/null 2>&1; check "score_tool scores" test -f hand.h5
# 1 rank, 2 (one rank two classes), 4 (a rank without a class)
for np in 1 2 4; do
  tc_run $np eval --scores hand.h5 --data ds --dataset-info ds/dataset.json --csv e$np.csv >eval.$np 2>&1
  check "eval $np ranks exits 0" test $? = 0
  check "eval $np ranks: alpha 100/100" grep -q '^| alpha | tail | 6 (3 anomalous) | 100.00 | 100.00 |' eval.$np
  check "eval $np ranks: beta 0/0" grep -q '^| beta | head | 6 (3 anomalous) | 0.00 | 0.00 |' eval.$np
  check "eval $np ranks: gamma 50/50 (all tied)" grep -q '^| gamma | head | 6 (3 anomalous) | 50.00 | 50.00 |' eval.$np
  check "eval $np ranks: means tail/head/all" bash -c "grep -q 'mean tail.*100.00.*100.00' eval.$np &&
    grep -q 'mean head.*25.00.*25.00' eval.$np && grep -q 'mean all.*50.00.*50.00' eval.$np"
  check "eval $np ranks: CSV == 1 rank" cmp -s e1.csv e$np.csv
done
check "CSV mean_all row" grep -q '^handmade,hand.h5,mean_all,mean,3,,0.5,0.5$' e1.csv
tc_run 2 eval --scores hand.h5 --data ds >eval.ni 2>&1
check "eval without dataset info: only the mean over all, said so" bash -c \
  "grep -q 'mean all' eval.ni && ! grep -q 'mean tail' eval.ni && grep -q 'tail/head membership unknown' eval.ni"
cp hand.h5 hand2.h5
tc_run 2 eval --scores hand.h5 --data ds --dataset-info ds/dataset.json --compare hand2.h5 >eval.c 2>&1
check "eval --compare: two column pairs" grep -q 'handmade(hand.h5) image .*handmade(hand2.h5) image' eval.c

# eval bad inputs
tc_run 2 eval --scores hand.h5 --data ds --csv nodir/e.csv >log.e0 2>&1; rc=$?
check "eval --csv into a missing directory: exit 4 before the table" bash -c \
  "[ $rc = 4 ] && grep -q 'output directory nodir does not exist' log.e0 && ! grep -q 'mean all' log.e0"
tc_run 2 eval --scores ref.h5 --data ds >log.e1 2>&1; rc=$?
check "scores of other images (no ground truth): exit 3" test $rc = 3
check "  message names the image" grep -q "is not in the test split of ds" log.e1
mkdir -p ds2 && cp -r ds/alpha ds/beta ds2/ && cp ds/dataset.json ds2/
tc_run 2 eval --scores hand.h5 --data ds2 >/dev/null 2>&1; rc=$?
check "scores of a class the data root lacks: exit 3" test $rc = 3
rm -rf ds3 && cp -r ds ds3 && rm ds3/beta/ground_truth/crack/001_mask.png
tc_run 2 eval --scores hand.h5 --data ds3 >log.e3 2>&1; rc=$?
check "an anomalous image without its mask: exit 3" test $rc = 3
check "  message says no ground-truth mask" grep -q "no ground-truth mask for 'beta/test/crack/001.png'" log.e3
# scores covering two classes, dataset.json listing three: missing class
st 1 scores hand_ab.h5 ds2 >/dev/null 2>&1
tc_run 2 eval --scores hand_ab.h5 --data ds --dataset-info ds/dataset.json >log.e4 2>&1; rc=$?
check "missing class (in dataset.json, not scored): exit 3" test $rc = 3
check "  message says missing class 'gamma'" grep -q "missing class 'gamma'" log.e4
tc_run 2 eval --scores hand.h5 --data ds --compare hand_ab.h5 >log.e5 2>&1; rc=$?
check "--compare of files with different classes: exit 3" test $rc = 3
tc_run 2 eval --scores model.h5 --data ds >/dev/null 2>&1; rc=$?
check "a model file given as scores: exit 3" test $rc = 3
report
