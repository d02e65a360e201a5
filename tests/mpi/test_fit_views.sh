#!/usr/bin/env bash
# test_fit_views.sh - `tailedcore fit --data ROOT --weights FILE`: the tail
# images' rotated/flipped views (DESIGN 3.6 steps 8-9).
#   - tc_pextract_views against images flipped/rotated on disk: the 7
#     rotflip views equal, bit for bit, plain extraction of the transformed
#     files (80x80 images, --resize 80: the resize is the identity); the
#     rot15flip views at right angles equal the rotflip ones;
#   - fit with views on 1, 2, 3, 4 ranks: bit-identical models; M_tail has
#     T * (1 + 47) * HW candidates and selects view patches (global index
#     >= N*HW); the same model when the view features spill to a scratch
#     file (small --mem-per-rank); --tail-coreset per-image: bit-identical
#     on 1-4 ranks, as many picks as global, from the tail images only;
#   - bad input: --data without --weights, weights whose checksum differs
#     from features.h5, a --data root with other images, a missing image:
#     clear error, nothing published.
# Data: 9 images, 6 copies of one image (a class of 6 for TailSampler) and 3
# distinct ones (the tail), interleaved so the tail images (1, 4, 7) fall on
# different ranks; random formula weights (test_cnn --write-weights).
source "$(dirname "$0")/lib.sh"
T=$BUILD/tests/test_cnn
SYNTH=$BUILD/tc-synth
VC=$BUILD/tests/tools/views_check
for b in "$T" "$SYNTH" "$VC"; do
  if [ ! -x "$b" ]; then fail "missing $b (make BUILD=... all $BUILD/tests/test_cnn)"; report; exit 1; fi
done
no_output() { # dir base : nothing under the final name, no temporary left
  ! ls -a "$1" 2>/dev/null | grep -q "^\.\?$2"
}
dump() { h5dump -b LE -d "$2" -o "$3" "$1" >/dev/null 2>&1; }
same_model() { # a b
  local d
  for d in /memory_bank /memory_weights /coreset/indices /coreset/clean_order /coreset/tail_order \
    /tail/class_size /tail/is_tail /tail/k_max; do
    dump "$1" $d $TMP/a.bin; dump "$2" $d $TMP/b.bin
    cmp -s $TMP/a.bin $TMP/b.bin || { echo "  differs: $d"; return 1; }
  done
  diff <(h5dump -A -g / "$1" | sed 1d) <(h5dump -A -g / "$2" | sed 1d) >/dev/null
}
attr() { # file name : the value of a scalar root attribute
  h5dump -a "/$2" "$1" 2>/dev/null | awk '/\(0\)/ {sub(/.*\(0\): */, ""); print; exit}'
}

W=$TMP/mbv2.h5
(cd "$ROOT" && "$T" --write-weights mobilenetv2 mobilenetv2 "$W") >/dev/null || fail "write weights"
"$SYNTH" --out "$TMP/synth" --classes 1 --train 4 --test-good 1 --test-defect 1 --defects scratch \
  --size 80 --quiet || fail "tc-synth"
G=$TMP/synth/bottle/train/good
mkdir -p "$TMP/img" "$TMP/views"
for i in 0 1 2 3 4 5; do cp "$G/000.tiff" "$TMP/img/h$i.tiff"; done
for i in 0 1 2; do cp "$G/00$((i + 1)).tiff" "$TMP/img/t$i.tiff"; done
printf '%s\n' h0.tiff t0.tiff h1.tiff h2.tiff t1.tiff h3.tiff h4.tiff t2.tiff h5.tiff >"$TMP/list.txt"

# 1. the views against transformed files (exact)
"$VC" rotflip "$TMP/img/t0.tiff" "$W" 80 64 "$TMP/views" >"$TMP/vc.out" 2>&1
check "views = plain extraction of flipped/rotated files, bit for bit (80x80, resize 80)" test $? = 0
sed 's/^/    /' "$TMP/vc.out" | grep -E "view|passed"

# 2. features, then fit with views on 1-4 ranks
OPTS=(--weights "$W" --resize 80 --crop 64 --quiet)
tc_run 2 extract --list "$TMP/list.txt" --data "$TMP/img" "${OPTS[@]}" --out "$TMP/f.h5"
check "extract 9 images" test $? = 0
FIT=(fit --features "$TMP/f.h5" --data "$TMP/img" --weights "$W" --seed 2)
fit_with() { # np data weights out : fit with views from another root / weights
  tc_run "$1" fit --features "$TMP/f.h5" --data "$2" --weights "$3" --seed 2 --out "$4"
}
for np in 1 2 3 4; do
  tc_run $np "${FIT[@]}" --out "$TMP/m$np.h5" 2>"$TMP/fit$np.err"
  check "fit with views on $np rank(s): exit 0" test $? = 0
done
grep "^tailedcore: tail" "$TMP/fit1.err" | sed 's/^/    /'
for np in 2 3 4; do
  check "fit with views: $np ranks bit-identical to 1 rank" same_model "$TMP/m1.h5" "$TMP/m$np.h5"
done
N=9 HW=64 V=47
check "TailSampler finds the 3 distinct images (1, 4, 7) as tail" \
  sh -c "h5dump -d /tail/is_tail '$TMP/m1.h5' | grep -q '(0): 0, 1, 0, 0, 1, 0, 0, 1, 0'"
check "M_tail candidates = 3 x (1 + 47) x 64" test "$(attr "$TMP/m1.h5" coreset_tail_candidates)" = $((3 * (1 + V) * HW))
check "model records 47 views per tail image" test "$(attr "$TMP/m1.h5" tail_views_per_image)" = $V
check "model records 3 x 47 x 64 view patches" test "$(attr "$TMP/m1.h5" tail_view_patches)" = $((3 * V * HW))
# mobilenetv2 features: --tail-coreset-ratio auto = 2.5 x the coreset ratio 0.1
check "M_tail = floor(0.25 x candidates) (auto for mobilenetv2)" test "$(attr "$TMP/m1.h5" coreset_tail_size)" = $((3 * (1 + V) * HW / 4))
h5dump -d /coreset/tail_order -y -w 0 "$TMP/m1.h5" | tr ', ' '\n\n' | grep -E '^[0-9]+$' >"$TMP/tail_order.txt"
nview=$(awk -v b=$((N * HW)) '$1 >= b' "$TMP/tail_order.txt" | wc -l)
check "M_tail selects view patches (index >= N*HW): $nview" test "$nview" -gt 0
check "view indices < N*HW + 3*47*64" test "$(sort -n "$TMP/tail_order.txt" | tail -1)" -lt $((N * HW + 3 * V * HW))
check "memory bank holds M rows" \
  sh -c "h5ls '$TMP/m1.h5/memory_bank' | grep -q '{$(attr "$TMP/m1.h5" M), 576}'"
"$VC" bank "$TMP/m1.h5" "$TMP/f.h5" "$TMP/img" "$W" >"$TMP/bank.out" 2>&1
check "every bank row equals its image patch (features.h5) or its view patch (extracted again)" test $? = 0
sed -n 1p "$TMP/bank.out" | sed 's/^/    /'
tc_run 2 "${FIT[@]}" --mem-per-rank 20M --out "$TMP/spill.h5" 2>"$TMP/spill.err"
check "small --mem-per-rank: view features spill to a scratch file" grep -q "spilled" "$TMP/spill.err"
check "spilled: same model as in memory" same_model "$TMP/m1.h5" "$TMP/spill.h5"
check "spilled: no scratch file left" sh -c "! ls -a '$TMP' | grep -q 'tmp.views'"
tc_run 2 "${FIT[@]}" --tail-aug rotflip --out "$TMP/rf.h5" 2>/dev/null
check "--tail-aug rotflip: 3 x (1 + 7) x 64 candidates" test "$(attr "$TMP/rf.h5" coreset_tail_candidates)" = $((3 * 8 * HW))
# --tail-coreset per-image: one greedy per tail image over its own 48 x 64
# view patches, then the picks of largest distance over the three images:
# M_tail as large as the global one's, from every tail image
check "default model records tail_coreset global" test "$(attr "$TMP/m1.h5" tail_coreset)" = '"global"'
for np in 1 2 3 4; do
  tc_run $np "${FIT[@]}" --tail-coreset per-image --out "$TMP/pi$np.h5" 2>"$TMP/pi$np.err"
  check "--tail-coreset per-image on $np rank(s): exit 0" test $? = 0
done
for np in 2 3 4; do
  check "--tail-coreset per-image: $np ranks bit-identical to 1 rank" same_model "$TMP/pi1.h5" "$TMP/pi$np.h5"
done
check "per-image: model records tail_coreset per-image" test "$(attr "$TMP/pi1.h5" tail_coreset)" = '"per-image"'
check "per-image: M_tail = floor(0.25 x candidates), as global" \
  test "$(attr "$TMP/pi1.h5" coreset_tail_size)" = $((3 * (1 + V) * HW / 4))
h5dump -d /coreset/tail_order -y -w 0 "$TMP/pi1.h5" | sed -n '/DATA {/,$p' | tr ', ' '\n\n' | grep -E '^[0-9]+$' \
  >"$TMP/pi_order.txt"
# owner tail image of each pick (own patch g < N*HW: image g / HW; view
# patch: the (g - N*HW) / (47*HW)-th tail image); the first three picks are
# the images' seeded first points, one each, in tail-image order
owners=$(awk -v nhw=$((N * HW)) -v hw=$HW -v vhw=$((V * HW)) 'BEGIN { split("1 4 7", tl, " ") }
  { print $1 < nhw ? int($1 / hw) : tl[int(($1 - nhw) / vhw) + 1] }' "$TMP/pi_order.txt")
check "per-image: picks 0-2 are one from each tail image, in order" \
  test "$(echo "$owners" | head -3 | tr '\n' ' ')" = "1 4 7 "
check "per-image: every pick from a tail image (1, 4, 7)" test "$(echo "$owners" | sort -u | tr '\n' ' ')" = "1 4 7 "
check "per-image: no patch picked twice" test "$(sort -u "$TMP/pi_order.txt" | wc -l)" = "$(wc -l <"$TMP/pi_order.txt")"
grep "coreset M_tail" "$TMP/pi2.err" | tail -1 | sed 's/^/    /'
tc_run 2 fit --features "$TMP/f.h5" --seed 2 --out "$TMP/noviews.h5" 2>"$TMP/nv.err"
check "without --data/--weights: exit 0 with a warning" grep -q "without their rot15flip views" "$TMP/nv.err"
check "without --data/--weights: 0 views recorded" test "$(attr "$TMP/noviews.h5" tail_views_per_image)" = 0
for np in 1 3; do
  tc_run $np fit --features "$TMP/f.h5" --seed 2 --tail-coreset per-image --out "$TMP/nvpi$np.h5" 2>/dev/null
done
check "without views, per-image: M_tail = floor(0.25 x 3 x 64)" test "$(attr "$TMP/nvpi1.h5" coreset_tail_size)" = 48
check "without views, per-image: 3 ranks bit-identical to 1 rank" same_model "$TMP/nvpi1.h5" "$TMP/nvpi3.h5"

# 3. bad input
tc_run 2 fit --features "$TMP/f.h5" --data "$TMP/img" --out "$TMP/b1.h5" 2>"$TMP/b1.err"
check "--data without --weights: exit 2" test $? = 2
check "--data without --weights: says they go together" grep -q "go together" "$TMP/b1.err"
cp "$W" "$TMP/other.h5"
"$VC" set-attr "$TMP/other.h5" sha256 0123456789abcdef0123456789abcdef || fail "set-attr"
fit_with 2 "$TMP/img" "$TMP/other.h5" "$TMP/b2.h5" 2>"$TMP/b2.err"
check "weights with another checksum: exit 3" test $? = 3
check "weights with another checksum: message names the checksum" grep -q "weights_sha256" "$TMP/b2.err"
check "weights with another checksum: nothing published" no_output "$TMP" b2.h5
grep "^tailedcore:" "$TMP/b2.err" | tail -1 | sed 's/^/    /'
mkdir -p "$TMP/img2"; cp "$TMP"/img/* "$TMP/img2/"; cp "$TMP/img/t0.tiff" "$TMP/img2/t1.tiff"
fit_with 3 "$TMP/img2" "$W" "$TMP/b3.h5" 2>"$TMP/b3.err"
check "--data with another image under a tail path: exit 3" test $? = 3
check "--data with another image: message names the file" grep -q "t1.tiff.*differ" "$TMP/b3.err"
check "--data with another image: nothing published" no_output "$TMP" b3.h5
grep "^tailedcore:" "$TMP/b3.err" | tail -1 | sed 's/^/    /'
mkdir -p "$TMP/img3"; cp "$TMP"/img/* "$TMP/img3/"; rm "$TMP/img3/t2.tiff"
fit_with 4 "$TMP/img3" "$W" "$TMP/b4.h5" 2>"$TMP/b4.err"
check "missing tail image: exit 4" test $? = 4
check "missing tail image: message names the file" grep -q "t2.tiff" "$TMP/b4.err"
check "missing tail image: nothing published" no_output "$TMP" b4.h5
grep "^tailedcore:" "$TMP/b4.err" | tail -1 | sed 's/^/    /'
report
