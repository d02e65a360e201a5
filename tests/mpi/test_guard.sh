#!/usr/bin/env bash
# test_guard.sh - inputs are never overwritten and hostile command lines fail
# at once (issue 19), on 1 and 2 ranks under real mpirun:
#  - every writing command (fit, tailsample, calibrate, index, predict,
#    extract, eval --csv)
#    refuses an output that is one of its inputs (the same path, another
#    spelling, a hard link, a symlink, an image of the list or data set, the
#    list, labels or weights file, a name its temporary file could take) and
#    an existing output that is not a regular file (directory, fifo, and as
#    root a device node made with mknod): exit 2, one line naming both, the
#    input byte-identical (md5), no *.tmp.* left;
#  - option values out of range (--sigma 1e9, --mem-per-rank 1e19, --resize
#    20000, integer overflow, ...) exit 2 with one line before any work;
#  - list, manifest, labels and dataset.json inputs that are /dev/zero,
#    /dev/urandom, a fifo or a directory exit 4 at once (no hang, no memory
#    growth); a line longer than 4096 bytes exits 3 naming file and line.
# Inputs are tiny: fake_features (no CNN), a 4-image tc-synth set, the golden
# test images; weights are never read (every case fails before), except for
# fit --data, whose tail images are known only after TailSampler: there the
# formula weights of test_cnn extract the 2 training images (64 x 64).
source "$(dirname "$0")/lib.sh"
FF=$BUILD/tests/tools/fake_features
SYNTH=$BUILD/tc-synth
SYNTH_LT=$BUILD/tc-longtail
for b in "$TC" "$FF" "$SYNTH" "$SYNTH_LT" "$BUILD/tc-features-merge"; do
  if [ ! -x "$b" ]; then fail "missing $b (make BUILD=... all)"; report; exit 1; fi
done
W=$TMP/w
mkdir -p "$W" && cd "$W" || exit 1

# run NP ARGS... : the command's stderr in $TMP/err, its exit code in $rc;
# a hang past 30 s is a failure (timeout's 124/137). NP 0: the binary alone
# (an MPI singleton, 1 rank): mpirun's start-up is 1.5-2.5 s on a loaded
# 2-core machine, so most one-rank cases run this way and each kind of case
# runs under mpirun too (1 or 2 ranks).
run() {
  local np=$1; shift
  if [ "$np" = 0 ]; then timeout --kill-after=5 30 "$TC" "$@" >"$TMP/out" 2>"$TMP/err"
  else timeout --kill-after=5 30 "${MPIRUN[@]}" -np "$np" "$TC" "$@" >"$TMP/out" 2>"$TMP/err"; fi
  rc=$?
}
on_() { [ "$1" = 0 ] && echo "1 rank, no mpirun" || echo "mpirun -np $1"; }
one_line() { [ "$(grep -c '^tailedcore:' "$TMP/err")" = 1 ]; }
no_tmp() { [ -z "$(find "$W" -name '*.tmp.*' ! -name 'o.h5.tmp.77' 2>/dev/null)" ]; }
snap() { md5sum "$@" 2>/dev/null | sort >"$TMP/md5"; }
unchanged() { md5sum $(awk '{print $2}' "$TMP/md5") 2>/dev/null | sort | cmp -s - "$TMP/md5"; }
# refuse DESC CODE PATTERN NP ARGS... : exit CODE, one "tailedcore:" line
# matching PATTERN, the snapshotted inputs unchanged, no temporary file
refuse() {
  local d=$1 code=$2 pat=$3 np=$4; shift 4
  run "$np" "$@"
  if [ "$rc" = "$code" ]; then pass "$d: exit $code"; else fail "$d: exit $code (got $rc)"; fi
  if one_line && grep -q -- "$pat" "$TMP/err"; then pass "$d: one line naming it"
  else fail "$d: one line matching '$pat'"; sed 's/^/    /' "$TMP/err" | head -5; fi
  if unchanged && no_tmp; then pass "$d: inputs unchanged, no temporary file"
  else fail "$d: inputs unchanged, no temporary file"; fi
}

# ---- inputs: features, a model, scores, a data set, images, lists
mpirun_ff() { timeout 60 "${MPIRUN[@]}" -np 1 "$FF" "$@"; }
check "make features (fake_features)" mpirun_ff write f.h5 12 4 16 8
run 1 fit --features f.h5 --method patchcore --out m.h5 --quiet
check "fit onto a new file: exit 0 (control)" test "$rc" = 0
run 1 predict --model m.h5 --features f.h5 --out s.h5 --quiet
check "predict onto a new file: exit 0 (control)" test "$rc" = 0
check "make a 4-image data set (tc-synth)" "$SYNTH" --out D --classes 1 --train 2 --test-good 1 \
  --test-defect 1 --defects scratch --size 64 --quiet
mkdir -p img && cp "$ROOT"/tests/golden/images/{photo.png,jpg_rgb.jpg} img/
printf 'img/photo.png\nimg/jpg_rgb.jpg\n' >list.txt
printf 'bottle/test/good/000.tiff\nbottle/test/scratch/000.tiff\n' >manifest.txt
printf 'bottle/train/good/000.tiff bottle 0 0\n' >labels.txt
head -c 4096 /dev/urandom >W.h5 # stands for weights: never read, every case fails first
snap f.h5 m.h5 s.h5 W.h5 list.txt manifest.txt labels.txt img/photo.png img/jpg_rgb.jpg \
  D/bottle/test/good/000.tiff D/bottle/ground_truth/scratch/000_mask.tiff D/dataset.json

# ---- an output that names an input
for np in 1 2; do
  refuse "fit --out its features ($(on_ $np))" 2 "--out f.h5 is the same file as --features f.h5" $np \
    fit --features f.h5 --method patchcore --out f.h5
  refuse "tailsample --out its features ($(on_ $np))" 2 "is the same file as --features f.h5" $np \
    tailsample --features f.h5 --out f.h5
done
refuse "predict --out its model" 2 "--out m.h5 is the same file as --model m.h5" 0 \
  predict --model m.h5 --features f.h5 --out m.h5
refuse "predict --out its features" 2 "is the same file as --features f.h5" 0 \
  predict --model m.h5 --features f.h5 --out f.h5
refuse "calibrate --out its model" 2 "--out m.h5 is the same file as --model m.h5: refusing to overwrite an input" 0 \
  calibrate --model m.h5 --features f.h5 --out m.h5
refuse "calibrate --out its features (2 ranks)" 2 "--out f.h5 is the same file as --features f.h5: refusing to overwrite an input" 2 \
  calibrate --model m.h5 --features f.h5 --out f.h5
refuse "index --out its model" 2 "--out m.h5 is the same file as --model m.h5: refusing to overwrite an input" 0 \
  index --model m.h5 --out m.h5
refuse "extract --out W.h5 --weights W.h5 (2 ranks)" 2 "--out W.h5 is the same file as --weights W.h5" 2 \
  extract --list list.txt --weights W.h5 --out W.h5
refuse "extract --out its list" 2 "--out list.txt is the same file as --list list.txt" 0 \
  extract --list list.txt --weights W.h5 --out list.txt
refuse "extract --out an image of the list (2 ranks)" 2 "is the same file as image img/jpg_rgb.jpg" 2 \
  extract --list list.txt --weights W.h5 --out img/jpg_rgb.jpg
refuse "extract --out an image of --data" 2 "is the same file as image D/bottle/test/good/000.tiff" 0 \
  extract --data D --split test --weights W.h5 --out D/bottle/test/good/000.tiff
refuse "predict --out its manifest" 2 "is the same file as --list manifest.txt" 0 \
  predict --model m.h5 --data D --list manifest.txt --weights W.h5 --out manifest.txt
refuse "predict --out a test image (2 ranks)" 2 "is the same file as image D/bottle/test/good/000.tiff" 2 \
  predict --model m.h5 --data D --weights W.h5 --out ./D/bottle/test/good/000.tiff
refuse "predict --out its --weights" 2 "is the same file as --weights W.h5" 0 \
  predict --model m.h5 --data D --weights W.h5 --out W.h5
refuse "tailsample --out its labels" 2 "is the same file as --labels labels.txt" 0 \
  tailsample --features f.h5 --labels labels.txt --out labels.txt
refuse "fit --out its weights" 2 "is the same file as --weights W.h5" 0 \
  fit --features f.h5 --data D --weights W.h5 --out W.h5
refuse "eval --csv onto its scores" 2 "--csv s.h5 is the same file as --scores s.h5" 0 \
  eval --scores s.h5 --data D --csv s.h5
refuse "eval --csv onto a ground-truth mask" 2 "is the same file as mask" 0 \
  eval --scores s.h5 --data D --csv D/bottle/ground_truth/scratch/000_mask.tiff
refuse "eval --csv onto --dataset-info" 2 "is the same file as --dataset-info" 0 \
  eval --scores s.h5 --data D --dataset-info D/dataset.json --csv D/dataset.json
# fit --data: a tail image is known only once TailSampler has run; each is
# checked as it is read (real formula weights and features of the images)
CNN=$BUILD/tests/test_cnn
if [ -x "$CNN" ] && (cd "$ROOT" && "$CNN" --write-weights mobilenetv2 mobilenetv2 "$W/Wr.h5" >/dev/null 2>&1) &&
   run 0 extract --data D --weights Wr.h5 --resize 64 --crop 64 --out fx.h5 --quiet && [ "$rc" = 0 ]; then
  snap f.h5 m.h5 fx.h5 Wr.h5 D/bottle/train/good/000.tiff D/bottle/train/good/001.tiff
  refuse "fit --data --out a tail image (2 ranks)" 2 "--out D/bottle/train/good/001.tiff is the same file as image D/bottle/train/good/001.tiff" 2 \
    fit --features fx.h5 --data D --weights Wr.h5 --out D/bottle/train/good/001.tiff --quiet
else
  fail "features of the tc-synth images for the fit --data case (needs $CNN)"
fi
snap f.h5 m.h5 s.h5 W.h5 list.txt manifest.txt labels.txt img/photo.png img/jpg_rgb.jpg \
  D/bottle/test/good/000.tiff D/bottle/ground_truth/scratch/000_mask.tiff D/dataset.json
# the same file under another name
mkdir -p sub && ln f.h5 hard.h5 && ln -s f.h5 soft.h5 && ln -s . here
refuse "fit --out a hard link of its features" 2 "--out hard.h5 is the same file as --features f.h5" 0 \
  fit --features f.h5 --method patchcore --out hard.h5
refuse "fit --out a symlink to its features" 2 "--out soft.h5 is the same file as --features" 0 \
  fit --features f.h5 --method patchcore --out soft.h5
refuse "predict --out ./sub/../m.h5 (its model)" 2 "is the same file as --model m.h5" 0 \
  predict --model m.h5 --features f.h5 --out ./sub/../m.h5
refuse "predict --out here/new.h5 --features new.h5 (neither exists)" 2 "is the same file as --features new.h5" 0 \
  predict --model m.h5 --features new.h5 --out here/new.h5
# an input with a name the output's temporary file could take
cp f.h5 o.h5.tmp.77
snap f.h5 m.h5 o.h5.tmp.77
refuse "tailsample --features o.h5.tmp.77 --out o.h5" 2 "temporary file o.h5.tmp.\* could overwrite --features" 0 \
  tailsample --features o.h5.tmp.77 --out o.h5
check "  o.h5 not created" test ! -e o.h5
# existing outputs that are not regular files
mkdir -p adir && mkfifo afifo
refuse "fit --out a directory" 2 "--out adir is a directory, not a regular file" 0 \
  fit --features f.h5 --method patchcore --out adir
refuse "tailsample --out a fifo" 2 "--out afifo is a fifo, not a regular file" 0 \
  tailsample --features f.h5 --out afifo
check "  the fifo is still a fifo" test -p afifo
if [ "$(id -u)" = 0 ] && mknod anull c 1 3 2>/dev/null; then
  for np in 0 2; do
    refuse "fit --out a device node ($(on_ $np))" 2 "--out anull is a character device" $np \
      fit --features f.h5 --method patchcore --out anull
    check "  the device node is still a character device 1,3" sh -c "test -c anull && [ \"\$(stat -c '%t,%T' anull)\" = 1,3 ]"
  done
  refuse "predict --out a device node" 2 "--out anull is a character device" 0 \
    predict --model m.h5 --features f.h5 --out anull
  check "  still a character device" test -c anull
else
  echo "skip device-node cases (not root or mknod refused)"
fi

# ---- option values out of range: exit 2, one line, before any work
refuse "predict --sigma 1e9" 2 "--sigma 1e+09 is out of range: it must be in (0, 64\]" 0 \
  predict --model m.h5 --features f.h5 --out n1.h5 --sigma 1e9
refuse "predict --sigma 0" 2 "--sigma 0 is out of range" 0 predict --model m.h5 --features f.h5 --out n1.h5 --sigma 0
refuse "predict --sigma nan" 2 "--sigma: 'nan' is not a number" 0 predict --model m.h5 --features f.h5 --out n1.h5 --sigma nan
refuse "predict --mem-per-rank 1e19 (2 ranks)" 2 "--mem-per-rank: '1e19' is more than the largest size, 1P" 2 \
  predict --model m.h5 --features f.h5 --out n1.h5 --mem-per-rank 1e19
for cmd in "fit --features f.h5" "tailsample --features f.h5" "extract --list list.txt"; do
  refuse "${cmd%% *} --mem-per-rank 1e19" 2 "'1e19' is more than the largest size" 0 $cmd --out n2.h5 --mem-per-rank 1e19
done
refuse "fit --mem-per-rank 9000000T" 2 "is more than the largest size" 0 fit --features f.h5 --out n2.h5 --mem-per-rank 9000000T
refuse "fit --mem-per-rank -1" 2 "'-1' is not a size" 0 fit --features f.h5 --out n2.h5 --mem-per-rank -1
refuse "extract --resize 20000 --crop 20000" 2 "need 1 <= --crop (20000) <= --resize (20000) <= 4096" 0 \
  extract --list list.txt --weights W.h5 --out n3.h5 --resize 20000 --crop 20000
refuse "extract --crop 300 --resize 256" 2 "need 1 <= --crop (300) <= --resize (256)" 0 \
  extract --list list.txt --weights W.h5 --out n3.h5 --crop 300
refuse "extract --batch 0" 2 "--batch must be in 1..4096" 0 extract --list list.txt --out n3.h5 --batch 0
refuse "fit --proj-dim 2^70 (overflow)" 2 "--proj-dim: '1180591620717411303424' is not an integer" 0 \
  fit --features f.h5 --out n2.h5 --proj-dim 1180591620717411303424
refuse "fit --coreset-ratio 1e999" 2 "--coreset-ratio: '1e999' is not a number" 0 \
  fit --features f.h5 --out n2.h5 --coreset-ratio 1e999
refuse "fit --lof-k 65" 2 "--lof-k 65 is out of range" 0 fit --features f.h5 --out n2.h5 --lof-k 65
refuse "tailsample --tail-p 2" 2 "--tail-p '2' is not auto or a number in" 0 tailsample --features f.h5 --out n2.h5 --tail-p 2
check "nothing published by a refused command" sh -c "! ls n1.h5 n2.h5 n3.h5 o.h5 2>/dev/null | grep -q ."

# ---- text inputs: regular files of bounded line length, no hang
mkdir -p ldir && mkfifo lfifo
for np in 0 2; do
  refuse "extract --list /dev/zero ($(on_ $np))" 4 "/dev/zero: image list is a character device, not a regular file" $np \
    extract --list /dev/zero --weights W.h5 --out x.h5
done
refuse "extract --list /dev/urandom" 4 "/dev/urandom: image list is a character device" 0 \
  extract --list /dev/urandom --weights W.h5 --out x.h5
refuse "extract --list DIR" 4 "ldir: image list is a directory, not a regular file" 0 \
  extract --list ldir --weights W.h5 --out x.h5
refuse "extract --list FIFO (no writer: must not block)" 4 "lfifo: image list is a fifo" 0 \
  extract --list lfifo --weights W.h5 --out x.h5
refuse "tailsample --labels /dev/zero (2 ranks, before the Gram)" 4 "/dev/zero: labels file is a character device" 2 \
  tailsample --features f.h5 --labels /dev/zero --out x.h5
refuse "tailsample --labels DIR" 4 "ldir: labels file is a directory" 0 \
  tailsample --features f.h5 --labels ldir --out x.h5
refuse "predict --list /dev/zero (2 ranks)" 4 "/dev/zero: manifest is a character device" 2 \
  predict --model m.h5 --data D --list /dev/zero --weights W.h5 --out x.h5
refuse "eval --dataset-info /dev/zero" 4 "/dev/zero: JSON file is a character device" 0 \
  eval --scores s.h5 --data D --dataset-info /dev/zero
refuse "eval --dataset-info DIR" 4 "ldir: JSON file is a directory" 0 eval --scores s.h5 --data D --dataset-info ldir
long_() { echo "$1"; head -c 5000 /dev/zero | tr '\0' a; echo; }
long_ img/photo.png >long.txt
long_ bottle/test/good/000.tiff >longm.txt
long_ "bottle/train/good/000.tiff bottle 0 0" >longl.txt
refuse "extract --list with a 5000-byte line" 3 "long.txt:2: line longer than 4096 bytes" 0 \
  extract --list long.txt --weights W.h5 --out x.h5
refuse "predict --list with a 5000-byte line (2 ranks)" 3 "longm.txt:2: line longer than 4096 bytes" 2 \
  predict --model m.h5 --data D --list longm.txt --weights W.h5 --out x.h5
refuse "tailsample --labels with a 5000-byte line (read after the Gram)" 3 "longl.txt:2: line longer than 4096 bytes" 0 \
  tailsample --features f.h5 --labels longl.txt --out x.h5 --quiet
printf 'img/photo.png\nimg/jpg\0rgb.jpg\n' >nul.txt
refuse "extract --list with a NUL byte" 3 "nul.txt:2: NUL byte" 0 extract --list nul.txt --weights W.h5 --out x.h5
check "nothing published" test ! -e x.h5

# ---- the serial tools that read lists: tc-features-merge (writes HDF5),
# tc-longtail (its manifests)
MERGE=$BUILD/tc-features-merge
tool() { # DESC CODE PATTERN CMD... (one tool line, exit CODE, inputs unchanged)
  local d=$1 code=$2 pat=$3; shift 3
  timeout --kill-after=5 30 "$@" >"$TMP/out" 2>"$TMP/err"; rc=$?
  if [ "$rc" = "$code" ]; then pass "$d: exit $code"; else fail "$d: exit $code (got $rc)"; fi
  if [ "$(wc -l <"$TMP/err")" = 1 ] && grep -q -- "$pat" "$TMP/err"; then pass "$d: one line naming it"
  else fail "$d: one line matching '$pat'"; sed 's/^/    /' "$TMP/err" | head -5; fi
  if unchanged && no_tmp; then pass "$d: inputs unchanged, no temporary file"
  else fail "$d: inputs unchanged, no temporary file"; fi
}
printf 'p0\n' >union.txt; printf 'bottle/train/good/000.tiff\n' >good.txt
snap f.h5 union.txt
tool "tc-features-merge --out its --old" 2 "--out f.h5 is the same file as --old f.h5" \
  "$MERGE" --out f.h5 --paths union.txt --old f.h5
tool "tc-features-merge --out its --paths" 2 "--out union.txt is the same file as --paths union.txt" \
  "$MERGE" --out union.txt --paths union.txt --old f.h5
tool "tc-features-merge --paths /dev/zero" 4 "/dev/zero: list is a character device" \
  "$MERGE" --out mm.h5 --paths /dev/zero --old f.h5
tool "tc-longtail --noise-manifest /dev/zero" 4 "/dev/zero: manifest is a character device" \
  "$SYNTH_LT" --src D --out LT --good-manifest good.txt --noise-manifest /dev/zero --quiet
check "  no long-tail output" test ! -e LT

# ---- --help shows the ranges and every default
"$TC" predict --help >"$TMP/h" 2>&1
check "predict --help: --sigma range and default" grep -q -- "--sigma X .*in (0, 64\] \[default: 4\]" "$TMP/h"
"$TC" extract --help >"$TMP/h" 2>&1
check "extract --help: --resize range and default" grep -q -- "--resize N .*--crop..4096 \[default: 256\]" "$TMP/h"
report
