#!/usr/bin/env bash
# test_image_bombs.sh - decompression and resize bombs (issue 19) under real
# mpirun: every hostile image of tests/tools/make_bombs.c (huge declared
# sizes with a few bytes of data, baseline / gray / progressive JPEG, a
# 999999 x 16 PNG header on 82 bytes, scans that stop halfway, truncated
# JPEG / PNG / TIFF) makes `extract` exit 3 with one line naming the file,
# within 20 s and under 500 MB peak RSS, on 1 rank (five of them also on
# 2 ranks, as rank 1's image), publishing
# nothing; --skip-bad-images skips all of them and records each in
# /skipped; the valid extreme shapes (1 x 65500 JPEG, 999999 x 16 PNG) and a
# 4000 x 3000 photo are extracted under the same bounds; --max-pixels is
# inclusive, refuses with exit 3, is range-checked (exit 2) and is listed
# with its default by every command that decodes images.
source "$(dirname "$0")/lib.sh"
T=$BUILD/tests/test_cnn
MB=$BUILD/tests/tools/make_bombs
for b in "$T" "$MB"; do
  if [ ! -x "$b" ]; then fail "missing $b (make BUILD=... all $BUILD/tests/test_cnn)"; report; exit 1; fi
done
W=$TMP/mbv2.h5
(cd "$ROOT" && "$T" --write-weights mobilenetv2 mobilenetv2 "$W" >/dev/null) || fail "write weights"
B=$TMP/b
mkdir -p "$B"
check "make_bombs writes the hostile images" "$MB" "$B"
OPTS=(--weights "$W" --quiet)
RSS_MAX_KB=512000 # 500 MB
TIMEV=(); [ -x /usr/bin/time ] && TIMEV=(/usr/bin/time -f "%e %M" -o "$TMP/time.txt")
export TC_TIMEOUT=20

# run_one NP LISTFILE OUT [extra...]: sets rc, secs, rss_kb; stderr in $TMP/err.txt
run_one() {
  local np=$1 list=$2 out=$3; shift 3
  rm -f "$TMP/time.txt"
  "${TIMEV[@]}" timeout --kill-after=5 $TC_TIMEOUT "${MPIRUN[@]}" -np "$np" "$TC" extract --list "$list" \
    --data "$B" "${OPTS[@]}" --out "$out" "$@" 2>"$TMP/err.txt"
  rc=$?
  secs=?; rss_kb=0
  if [ -s "$TMP/time.txt" ]; then read -r secs rss_kb < <(tail -1 "$TMP/time.txt"); fi
}
one_line_naming() { # exactly one line from us, naming the file
  [ "$(grep -c '^tailedcore:' "$TMP/err.txt")" = 1 ] && grep '^tailedcore:' "$TMP/err.txt" | grep -qF "$1"
}
no_output() { [ ! -e "$1" ] && [ -z "$(ls "$(dirname "$1")" | grep -F "$(basename "$1").tmp")" ]; }

REFUSED=(jpeg_32768_base.jpg jpeg_32768_gray.jpg jpeg_prog_bomb.jpg jpeg_8000_base.jpg jpeg_1x65500_cut.jpg
         png_999999x16_bomb.png png_short_rows.png jpeg_missing.jpg jpeg_prog_missing.jpg
         trunc.jpg trunc.png trunc.tif trunc_strips.tif)
declare -A WHY=([jpeg_32768_base.jpg]="--max-pixels" [jpeg_32768_gray.jpg]="--max-pixels"
  [jpeg_prog_bomb.jpg]="--max-pixels" [jpeg_8000_base.jpg]="one bit per block"
  [jpeg_1x65500_cut.jpg]="one bit per block" [png_999999x16_bomb.png]="1032:1"
  [png_short_rows.png]="Not enough image data" [jpeg_missing.jpg]="premature end of data segment"
  [jpeg_prog_missing.jpg]="premature end of data segment" [trunc.jpg]="Premature end of JPEG file"
  [trunc.png]="PNG" [trunc.tif]="TIFF" [trunc_strips.tif]="TIFF strip")
printf '%s\n' photo_4000x3000.jpg > "$TMP/good.txt"
declare -A TWO=([jpeg_32768_base.jpg]=1 [jpeg_prog_bomb.jpg]=1 [png_999999x16_bomb.png]=1
  [jpeg_prog_missing.jpg]=1 [trunc_strips.tif]=1) # also on 2 ranks (each run costs an mpirun start)
for f in "${REFUSED[@]}"; do
  for np in 1 2; do
    [ $np = 2 ] && [ -z "${TWO[$f]:-}" ] && continue
    # on 2 ranks the bomb is rank 1's image, after a good one on rank 0
    if [ $np = 1 ]; then echo "$f" > "$TMP/l.txt"; else printf '%s\n' photo_4000x3000.jpg "$f" > "$TMP/l.txt"; fi
    run_one $np "$TMP/l.txt" "$TMP/o.h5"
    check "$f on $np rank(s): exit 3 (got $rc, ${secs}s, $((rss_kb / 1024)) MB)" test "$rc" = 3
    check "$f on $np rank(s): one line naming the file and '${WHY[$f]}'" \
      sh -c "$(declare -f one_line_naming); TMP='$TMP'; one_line_naming '$B/$f' && grep -qF -- '${WHY[$f]}' '$TMP/err.txt'"
    check "$f on $np rank(s): peak RSS $((rss_kb / 1024)) MB < 500 MB" test "$rss_kb" -lt $RSS_MAX_KB
    check "$f on $np rank(s): nothing published" no_output "$TMP/o.h5"
  done
  grep '^tailedcore:' "$TMP/err.txt" | sed 's/^/    /'
done

ACCEPTED=(jpeg_1x65500.jpg png_999999x16.png photo_4000x3000.jpg photo_4000x3000.png gray_ifd_first.tif)
for f in "${ACCEPTED[@]}"; do
  echo "$f" > "$TMP/l.txt"
  run_one 1 "$TMP/l.txt" "$TMP/ok.h5"
  check "$f: exit 0 in ${secs}s, peak RSS $((rss_kb / 1024)) MB < 500 MB" \
    sh -c "[ '$rc' = 0 ] && [ '$rss_kb' -lt $RSS_MAX_KB ]"
  rm -f "$TMP/ok.h5"
done

# --skip-bad-images: every bomb skipped and recorded, the valid ones kept
printf '%s\n' "${ACCEPTED[@]}" "${REFUSED[@]}" > "$TMP/all.txt"
for np in 1 2; do
  run_one $np "$TMP/all.txt" "$TMP/skip$np.h5" --skip-bad-images
  check "--skip-bad-images on $np rank(s): exit 0 (${secs}s, $((rss_kb / 1024)) MB)" test "$rc" = 0
  check "--skip-bad-images on $np rank(s): ${#ACCEPTED[@]} images extracted" \
    sh -c "h5ls '$TMP/skip$np.h5/features' | grep -q '{${#ACCEPTED[@]}, '"
  check "--skip-bad-images on $np rank(s): the ${#REFUSED[@]} bombs listed in /skipped/paths" \
    sh -c "h5ls '$TMP/skip$np.h5/skipped/paths' | grep -q '{${#REFUSED[@]}}'"
  for f in jpeg_32768_base.jpg png_999999x16_bomb.png jpeg_missing.jpg trunc.tif; do
    check "--skip-bad-images on $np rank(s): reason for $f recorded" \
      sh -c "h5dump -d /skipped/reasons '$TMP/skip$np.h5' | grep -qF '$f'"
  done
done
check "--skip-bad-images: 1 and 2 ranks identical" h5diff -q "$TMP/skip1.h5" "$TMP/skip2.h5" /features /features

# over --max-pixels, the file-size bound still refuses a bomb
echo jpeg_prog_bomb.jpg > "$TMP/l.txt"
run_one 1 "$TMP/l.txt" "$TMP/pb.h5" --max-pixels 2000000000
check "jpeg_prog_bomb.jpg with --max-pixels 2e9: exit 3, 'one bit per block' (${secs}s, $((rss_kb / 1024)) MB)" \
  sh -c "[ '$rc' = 3 ] && grep -q 'one bit per block' '$TMP/err.txt' && [ '$rss_kb' -lt $RSS_MAX_KB ]"

# --max-pixels: inclusive, exit 3 above it, exit 2 out of range
echo photo_4000x3000.png > "$TMP/l.txt"
run_one 1 "$TMP/l.txt" "$TMP/mp.h5" --max-pixels 12000000
check "--max-pixels 12000000 takes a 4000x3000 image" test "$rc" = 0
run_one 2 "$TMP/l.txt" "$TMP/mp2.h5" --max-pixels 11999999
check "--max-pixels 11999999 refuses it: exit 3 naming the limit" \
  sh -c "[ '$rc' = 3 ] && grep -q 'over the limit of 11999999 (--max-pixels' '$TMP/err.txt'"
for bad in 0 -5 2000000000000 abc; do
  run_one 1 "$TMP/l.txt" "$TMP/mp3.h5" --max-pixels $bad
  check "--max-pixels $bad: exit 2" test "$rc" = 2
done
for cmd in extract fit predict eval; do
  check "$cmd --help lists --max-pixels [default: 89478485]" \
    sh -c "'$TC' $cmd --help | grep -- '--max-pixels' | grep -q 'default: 89478485'"
done
check "fit --max-pixels 0: exit 2" sh -c "'$TC' fit --features x.h5 --out y.h5 --max-pixels 0 2>/dev/null; [ \$? = 2 ]"
check "predict --max-pixels 0: exit 2" sh -c "'$TC' predict --model x.h5 --features x.h5 --out y.h5 --max-pixels 0 2>/dev/null; [ \$? = 2 ]"
check "eval --max-pixels 0: exit 2" sh -c "'$TC' eval --scores x.h5 --data . --max-pixels 0 2>/dev/null; [ \$? = 2 ]"
report
