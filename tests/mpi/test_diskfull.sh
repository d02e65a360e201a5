#!/usr/bin/env bash
# test_diskfull.sh - issue 19: a full disk, or a write error on one rank, ends
# every writing command on every rank with one clear line and exit 4: no
# hang (each run under `timeout 60`), no crash at exit, no *.tmp.* left, the
# output that was there before unchanged (md5).
#
# The outputs go to a small tmpfs (we mount one; without the right to mount,
# those checks print a skip line and the injected-failure checks still run).
# A filler file leaves a chosen amount free, so the error comes at different
# points: before anything is written (less than the 1 MiB reserve h5fmt keeps
# to close a file), during the dataset writes, near the end. The inputs live
# in $TMP on the normal disk. Each command runs on 1 and 2 ranks.
source "$(dirname "$0")/lib.sh"
export TC_TIMEOUT=60
ST=$BUILD/tests/tools/score_tool
FF=$BUILD/tests/tools/fake_features
CNN=$BUILD/tests/test_cnn
SYNTH=$BUILD/tc-synth
for b in "$ST" "$FF" "$CNN" "$SYNTH"; do
  if [ ! -x "$b" ]; then fail "missing $b (make all $BUILD/tests/test_cnn)"; report; exit 1; fi
done
RESERVE=1048576 # TC_H5_RESERVE_BYTES in src/h5fmt.c
SYNC=262144     # TC_H5_SYNC_BYTES: kept free before each metadata operation
cd "$TMP"

# --- inputs (about 5 s): features for fit/tailsample, images and formula
# weights for extract, a bank and test features for predict, a hand-made
# scores file and data root for eval
"${MPIRUN[@]}" -np 1 "$FF" write feat.h5 40 8 128 32 5 >/dev/null 2>&1
check "fake features" test -f feat.h5
(cd "$ROOT" && "$CNN" --write-weights mobilenetv2 mobilenetv2 "$TMP/w.h5" >/dev/null 2>&1)
check "formula weights" test -f w.h5
"$SYNTH" --out data --classes 1 --train 7 --test-good 1 --test-defect 1 --defects scratch --size 96 --quiet
check "7-image data set" test -d data
"$ST" model model.h5 500 64 28 1 >/dev/null 2>&1 && "$ST" features pf.h5 3 28 64 1 >/dev/null 2>&1
check "bank and test features" test -f model.h5 -a -f pf.h5
"$ST" dataset ds >/dev/null 2>&1 && "$ST" scores hand.h5 ds >/dev/null 2>&1
check "eval data root and scores" test -f hand.h5

# name ARGS... (the output is OUT, replaced per run)
CMDS=(
  "extract|extract --data data --weights w.h5 --resize 80 --crop 64 --quiet --out OUT"
  "tailsample|tailsample --features feat.h5 --quiet --out OUT"
  # half the patches in the bank: a 640 KiB model, larger than the margin
  "fit-patchcore|fit --features feat.h5 --method patchcore --coreset-ratio 0.5 --quiet --out OUT"
  "fit-tailedcore|fit --features feat.h5 --method tailedcore --coreset-ratio 0.5 --quiet --out OUT"
  "predict|predict --model model.h5 --features pf.h5 --quiet --out OUT"
  "eval-csv|eval --scores hand.h5 --data ds --csv OUT"
)
run_cmd() { # np spec out -> exit status; stderr in err.log. One rank runs
  # as an MPI singleton (how a 1-rank job crashed in MPI_Finalize; no
  # mpirun start-up either)
  local np=$1 spec=$2 out=$3
  # shellcheck disable=SC2086
  if [ "$np" = 1 ]; then timeout --kill-after=5 60 "$TC" ${spec//OUT/$out} >out.log 2>err.log
  else tc_run "$np" ${spec//OUT/$out} >out.log 2>err.log; fi
}
no_tmp() { ! ls "$1" | grep -q '\.tmp\.'; }
errlines() { grep '^tailedcore' err.log | grep -Ev '^tailedcore: ([a-z]+: )?warning:'; }
one_line() { # err.log: exactly one error line, naming the file and the cause
  [ "$(errlines | wc -l)" = 1 ] && errlines | grep -F -q "$1" &&
    errlines | grep -Eqi 'no space left on device|write failed'
}
no_crash() { ! grep -Eqi 'signal|segmentation|MPI_ABORT|core dumped' err.log; }

# --- the output size of each command, for choosing how much to leave free
declare -A SIZE
for c in "${CMDS[@]}"; do
  name=${c%%|*}; spec=${c#*|}
  [ "$name" = eval-csv ] && continue
  run_cmd 1 "$spec" "$TMP/ref.$name"
  check "$name: reference run exits 0" test $? = 0
  SIZE[$name]=$(stat -c %s "$TMP/ref.$name" 2>/dev/null || echo 0)
done

MNT=$TMP/full
mkdir -p "$MNT"
if mount -t tmpfs -o size=6m tmpfs "$MNT" 2>/dev/null; then
  trap 'umount "$MNT" 2>/dev/null; rm -rf "$TMP"' EXIT
  fill_to() { # leave about $1 bytes free on the tmpfs
    rm -f "$MNT/filler"
    local av n
    av=$(df -B1 --output=avail "$MNT" | tail -1)
    n=$((av - $1))
    [ "$n" -gt 0 ] && fallocate -l "$n" "$MNT/filler"
    true
  }
  for c in "${CMDS[@]}"; do
    name=${c%%|*}; spec=${c#*|}
    sz=${SIZE[$name]:-0}
    # free space: none (refused before anything is created: the same code for
    # every HDF5 output, so once); the reserve, the metadata margin and half
    # the output (fails in the row writes); the same with all but the last
    # few KiB of the output (fails in the last writes or attributes). A
    # tail file (9 KiB) is smaller than the metadata margin: its rows cannot
    # meet a full disk, its metadata checks can (half the margin free).
    levels="$((RESERVE + SYNC + sz / 2)) $((RESERVE + SYNC + sz - 6144))"
    case $name in
      eval-csv) levels=0 ;;
      fit-patchcore) levels="0 $levels" ;;
      tailsample) levels=$((RESERVE + SYNC / 2)) ;;
    esac
    for np in 1 2; do
      for free in $levels; do
        out=$MNT/$name.out
        echo "previous $name output" >"$out"
        before=$(md5sum <"$out")
        fill_to "$free"
        run_cmd "$np" "$spec" "$out"; rc=$?
        what="$name, $np rank(s), $free bytes free"
        check "$what: exit 4 (not a hang: 124, not a crash)" test $rc = 4
        check "$what: one line naming the file and the cause" one_line "$out"
        check "$what: no crash or abort at exit" no_crash
        check "$what: no temporary file left" no_tmp "$MNT"
        check "$what: previous output unchanged" test "$(md5sum <"$out")" = "$before"
        if [ $rc = 4 ]; then errlines | sed 's/^/     /'; else echo "  --- stderr:"; sed 's/^/  /' err.log | head -20; fi
      done
    done
  done
  rm -f "$MNT/filler"
  # with room again, the same commands publish into the same directory
  run_cmd 2 "${CMDS[2]#*|}" "$MNT/ok.h5"
  check "fit with room again: exit 0, published, no temporary left" \
    bash -c "[ $? = 0 ] && [ -s '$MNT/ok.h5' ] && ! ls '$MNT' | grep -q '\.tmp\.'"
else
  echo "skip: cannot mount a tmpfs here (not root, or no CAP_SYS_ADMIN): the full-disk runs are skipped"
fi

# --- injected write failures (no mount needed): one rank fails, the other
# is left inside or before a collective write; every rank must leave together
inject() { # np rank point spec out
  local np=$1 r=$2 at=$3 spec=$4 out=$5
  echo "previous output" >"$out"
  local before
  before=$(md5sum <"$out")
  # shellcheck disable=SC2086
  TC_FAIL_RANK=$r TC_FAIL_AT=$at timeout --kill-after=5 60 "${MPIRUN[@]}" -x TC_FAIL_RANK -x TC_FAIL_AT \
    -np "$np" "$TC" ${spec//OUT/$out} >out.log 2>err.log
  local rc=$?
  check "injected $at on rank $r of $np: exit 4" test $rc = 4
  check "injected $at on rank $r of $np: one line, no crash" bash -c \
    "[ \$(grep '^tailedcore' err.log | grep -Evc '^tailedcore: ([a-z]+: )?warning:') = 1 ] && ! grep -Eqi 'signal|segmentation|MPI_ABORT' err.log"
  check "injected $at on rank $r of $np: previous output unchanged, no temporary left" bash -c \
    "[ \"\$(md5sum <'$out')\" = '$before' ] && ! ls '$TMP' | grep -q '\.tmp\.'"
}
inject 2 1 h5flush "${CMDS[2]#*|}" "$TMP/inj_fit.h5"
inject 2 0 h5flush "${CMDS[4]#*|}" "$TMP/inj_predict.h5"
inject 1 0 h5flush "${CMDS[1]#*|}" "$TMP/inj_tail.h5"
inject 2 1 h5rows "${CMDS[0]#*|}" "$TMP/inj_extract.h5"
inject 2 1 fit-write "${CMDS[3]#*|}" "$TMP/inj_fit2.h5"
report
