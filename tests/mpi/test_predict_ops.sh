#!/usr/bin/env bash
# Issue 16: predict on an operator's image files (a plain --list without
# --data, image paths on the command line) and the --csv table. The same
# images scored as plain files and through --data give the same bits on 1,
# 2 and 3 ranks; the CSV has a header and one row per image whose score is
# /image_scores to the float; bad files and outputs onto inputs are refused
# with nothing published. Weights as in test_predict_images.sh (no Python
# for the run; /usr/bin/python3 with h5py only to read the results).
source "$(dirname "$0")/lib.sh"
T=$BUILD/tests/test_cnn
SYNTH=$BUILD/tc-synth
PY=/usr/bin/python3
for b in "$T" "$SYNTH"; do
  if [ ! -x "$b" ]; then fail "missing $b (make BUILD=... all $BUILD/tests/test_cnn)"; report; exit 1; fi
done
# same_scores A B: image scores and anomaly maps equal bit for bit (the paths differ)
same_scores() { h5diff -q "$1" "$2" /image_scores && h5diff -q "$1" "$2" /anomaly_maps; }
nothing_published() { ! ls "$@" 2>/dev/null | grep -q .; }
cd "$TMP"
W=$TMP/mbv2.h5
(cd "$ROOT" && "$T" --write-weights mobilenetv2 mobilenetv2 "$W") >/dev/null 2>&1 || fail "write weights"
check "make a 2-class data set" "$SYNTH" --out data --classes 2 --train 6 --test-good 2 --test-defect 1 \
  --defects scratch hole --size 96 --quiet
tc_run 2 extract --data data --split train --weights "$W" --resize 80 --crop 64 --quiet --out train.h5
tc_run 2 fit --features train.h5 --method patchcore --out model.h5 --quiet
check "fit patchcore" test -f model.h5

# the test images copied outside any MVTec root, in the manifest's order
find data -path '*/test/*' -name '*.tiff' | sed 's|^data/||' | sort >rel.txt
mkdir -p line3/cam2
i=0
while read -r p; do
  cp "data/$p" "line3/cam2/$(printf '%06d' $i).tiff"
  echo "$TMP/line3/cam2/$(printf '%06d' $i).tiff" >>abs.txt
  i=$((i + 1))
done <rel.txt
N=$(wc -l <rel.txt)
check "8 test images" test "$N" = 8
tc_run 2 predict --model model.h5 --data data --list rel.txt --weights "$W" --out ref.h5 --csv ref.csv --quiet
check "predict --data --list --csv: exit 0" test $? = 0

for np in 1 2 3; do
  tc_run $np predict --model model.h5 --list abs.txt --weights "$W" --out plain$np.h5 --quiet
  check "plain --list on $np ranks: exit 0" test $? = 0
  check "plain --list on $np ranks == --data (bitwise)" same_scores ref.h5 plain$np.h5
done
paths_are() { # H5 LISTFILE: /paths equal the file's lines
  "$PY" -c 'import sys, h5py
p = [x.decode() if isinstance(x, bytes) else x for x in h5py.File(sys.argv[1], "r")["paths"][:]]
sys.exit(p != open(sys.argv[2]).read().split("\n")[:-1])' "$1" "$2"
}
check "/paths are the list's, as given" paths_are plain2.h5 abs.txt

tc_run 3 predict --model model.h5 --weights "$W" --out pos.h5 --csv pos.csv --quiet line3/cam2/*.tiff
check "positional paths on 3 ranks: exit 0" test $? = 0
check "positional paths == --data (bitwise)" same_scores ref.h5 pos.h5
ls line3/cam2/*.tiff >pos.txt
check "positional /paths kept as given (relative)" paths_are pos.h5 pos.txt

# the CSV: header, one row per image, the score column equal to /image_scores
check "csv header" test "$(head -1 pos.csv)" = "path,class,score"
check "csv has $N rows" test "$(($(wc -l <pos.csv) - 1))" = "$N"
csv_matches() { # CSV H5 CLASSES: rows in /paths order, scores as float32 equal to /image_scores
  "$PY" - "$@" <<'PY'
import csv, sys, h5py, numpy as np
rows = list(csv.reader(open(sys.argv[1])))
f = h5py.File(sys.argv[2], "r")
paths = [p.decode() if isinstance(p, bytes) else p for p in f["paths"][:]]
s = f["image_scores"][:]
assert rows[0] == ["path", "class", "score"], rows[0]
body = rows[1:]
assert [r[0] for r in body] == paths, "paths differ"
assert all(np.float32(float(r[2])) == s[i] for i, r in enumerate(body)), "scores differ"
want = sys.argv[3]
classes = [r[1] for r in body]
if want == "empty": assert all(c == "" for c in classes), classes
else: assert classes == [p.split("/")[0] for p in paths], classes
PY
}
check "csv of plain files: paths, scores == /image_scores, no class" csv_matches pos.csv pos.h5 empty
check "csv under --data: the CLASS column" csv_matches ref.csv ref.h5 mvtec
check "csv scores equal between --data and plain files" \
  bash -c "diff <(cut -d, -f3 ref.csv | tail -n +2) <(cut -d, -f3 pos.csv | tail -n +2)"
tc_run 2 extract --data data --list rel.txt --weights "$W" --resize 80 --crop 64 --quiet --out test.h5
tc_run 3 predict --model model.h5 --features test.h5 --out feat.h5 --csv feat.csv --quiet
check "predict --features --csv: exit 0, scores == --data (bitwise)" same_scores ref.h5 feat.h5
check "csv from --features: the CLASS of its MVTec paths" csv_matches feat.csv feat.h5 mvtec
tc_run 1 predict --model model.h5 --weights "$W" --list abs.txt --out both.h5 --quiet line3/cam2/000000.tiff
(cat abs.txt; echo line3/cam2/000000.tiff) >both.txt
check "--list and paths together: the list, then the paths" paths_are both.h5 both.txt

# bad inputs: one line naming the file, nothing published
cp abs.txt missing.txt
echo "$TMP/line3/cam2/nosuch.tiff" >>missing.txt
tc_run 2 predict --model model.h5 --list missing.txt --weights "$W" --out bad.h5 --csv bad.csv >log.m 2>&1; rc=$?
check "a missing file in the list: exit 4 (I/O, as a missing --data --list entry)" test $rc = 4
check "  message names it and the line" grep -q "missing.txt:$((N + 1)): $TMP/line3/cam2/nosuch.tiff does not exist" log.m
check "  nothing published, no temporary" nothing_published bad.h5* bad.csv*
tc_run 2 predict --model model.h5 --weights "$W" --out bad.h5 nosuch.png >log.p 2>&1; rc=$?
check "a missing positional file: exit 4 naming it" bash -c "test $rc = 4 && grep -q 'nosuch.png does not exist' log.p"
head -c 100 line3/cam2/000000.tiff >broken.tiff
tc_run 2 predict --model model.h5 --weights "$W" --out bad.h5 --csv bad.csv line3/cam2/000001.tiff broken.tiff >log.t 2>&1; rc=$?
check "a truncated image: exit 3" test $rc = 3
check "  message names it" grep -q "broken.tiff" log.t
check "  nothing published, no temporary" nothing_published bad.h5* bad.csv*

# outputs onto inputs: exit 2, the input unchanged
cp model.h5 model.bak
tc_run 2 predict --model model.h5 --list abs.txt --weights "$W" --out bad.h5 --csv model.h5 >log.g 2>&1; rc=$?
check "--csv onto the model: exit 2" test $rc = 2
check "  message names both" grep -q -- "--csv model.h5 is the same file as --model" log.g
check "  model unchanged" cmp -s model.h5 model.bak
check "  nothing published" nothing_published bad.h5*
tc_run 2 predict --model model.h5 --list abs.txt --weights "$W" --out same.out --csv same.out >/dev/null 2>&1
check "--csv onto --out: exit 2" test $? = 2
cp line3/cam2/000002.tiff img.bak
tc_run 2 predict --model model.h5 --list abs.txt --weights "$W" --out ok.h5 --csv line3/cam2/000002.tiff >log.i 2>&1
check "--csv onto a listed image: exit 2" test $? = 2
check "  image unchanged" cmp -s line3/cam2/000002.tiff img.bak
tc_run 2 predict --model model.h5 --weights "$W" --out line3/cam2/000002.tiff line3/cam2/000002.tiff >/dev/null 2>&1
check "--out onto a positional image: exit 2, image unchanged" bash -c "test $? = 2 && cmp -s line3/cam2/000002.tiff img.bak"
tc_run 2 predict --model model.h5 --list abs.txt --weights "$W" --out ok.h5 --csv abs.txt >/dev/null 2>&1
check "--csv onto --list: exit 2" test $? = 2
tc_run 1 predict --model model.h5 --data data --weights "$W" --out bad.h5 line3/cam2/000000.tiff >/dev/null 2>&1
check "image paths with --data: exit 2" test $? = 2
tc_run 1 predict --model model.h5 --out bad.h5 >/dev/null 2>&1
check "no images at all: exit 2" test $? = 2

tc_run 1 predict --help >help.txt 2>&1
check "--help documents --csv and plain lists" bash -c "grep -q -- '--csv STR' help.txt && grep -q 'cwd-relative' help.txt && grep -q 'OK/NG' help.txt"
report
