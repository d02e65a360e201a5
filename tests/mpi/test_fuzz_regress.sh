#!/usr/bin/env bash
# test_fuzz_regress.sh - every input that once crashed, hung or was silently
# accepted (issue 19, make fuzz) is refused cleanly: for each line
# `FILE COMMAND` of tests/fuzz/regress/cases.txt, the command on FILE ends
# with no signal, no sanitizer report and no timeout (20 s), exit 2, 3 or 4
# (info: also 0, it only has to survive; extract-bounded: a legal image whose
# naive resize once asked for gigabytes may also be accepted, as long as it
# stays within the address-space limit and publishes a complete file)
# without running out of memory (a 2 GB address-space limit), one error line
# naming FILE, and no output or temporary file. The files are
# committed; tests/fuzz/make_regress.py is their recipe.
source "$(dirname "$0")/lib.sh"
R=$ROOT/tests/fuzz/regress
CNN=$BUILD/tests/test_cnn
export TC_TIMEOUT=20
# mpirun waits 2 s before it SIGKILLs what is left of a job whose rank died;
# every case here is one rank, so there is nothing left to wait for (a crash
# costs 0.6 s instead of 2.7 s, and the suite stays under a minute on a build
# where most cases still crash)
export OMPI_MCA_odls_base_sigkill_timeout=0
if [ ! -x "$CNN" ] || [ ! -f "$R/cases.txt" ]; then
  fail "missing $CNN (make BUILD=... $BUILD/tests/test_cnn) or $R/cases.txt"; report; exit 1
fi
# The image cases are decompression and resize bombs: on a build that does not
# refuse them they would take 12 GB of a shared machine. A plain build gets an
# address-space limit (its malloc then fails fast); ASan reserves terabytes of
# shadow, so a SAN=1 build gets ASan's own allocation and RSS limits instead.
if ldd "$TC" 2>/dev/null | grep -q libasan; then
  export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}:hard_rss_limit_mb=2048:max_allocation_size_mb=2048"
  MEMLIMIT=unlimited
else
  MEMLIMIT=2000000 # KB
fi

W=$TMP/weights.h5
(cd "$ROOT" && "$CNN" --write-weights mobilenetv2 mobilenetv2 "$W") >/dev/null 2>&1 || fail "write weights"

# the base files are valid: a refusal below is about the mutation, not the base
(ulimit -v $MEMLIMIT; tc_run 1 fit --features "$R/features.h5" --method patchcore --out "$TMP/base_model.h5" --quiet)
check "base features.h5 fits (exit 0)" test $? = 0
(ulimit -v $MEMLIMIT; tc_run 1 predict --model "$R/model.h5" --features "$R/features.h5" --out "$TMP/base_scores.h5" --quiet)
check "base model.h5 predicts (exit 0)" test $? = 0
cp "$ROOT/tests/fuzz/seeds/rgb8.png" "$TMP/good.png"
echo "$TMP/good.png" >"$TMP/good.txt"
(ulimit -v $MEMLIMIT; tc_run 1 extract --list "$TMP/good.txt" --weights "$W" --out "$TMP/base_features.h5" --quiet)
check "a valid image extracts with the default resize and crop (exit 0)" test $? = 0

n=0
while read -r file cmd _; do
  case "$file" in ''|'#'*) continue ;; esac
  n=$((n + 1))
  in=$R/$file
  out=$TMP/out$n; mkdir -p "$out"
  case "$cmd" in
    extract|extract-bounded) echo "$in" >"$out/list.txt"
             args=(extract --list "$out/list.txt" --weights "$W" --out "$out/o.h5") ;;
    tailsample) args=(tailsample --features "$in" --out "$out/o.h5") ;;
    fit) args=(fit --features "$in" --method patchcore --out "$out/o.h5") ;;
    fit-tailedcore) args=(fit --features "$in" --method tailedcore --tail-aug none --out "$out/o.h5") ;;
    predict-features) args=(predict --model "$R/model.h5" --features "$in" --out "$out/o.h5") ;;
    predict-model) args=(predict --model "$in" --features "$R/features.h5" --out "$out/o.h5") ;;
    info) args=(info "$in") ;; # run as README shows it: without mpirun (a singleton)
    *) fail "cases.txt: unknown command '$cmd' for $file"; continue ;;
  esac
  if [ "$cmd" = info ]; then
    (ulimit -v $MEMLIMIT; timeout --kill-after=5 $TC_TIMEOUT "$TC" "${args[@]}" --quiet) </dev/null >/dev/null 2>"$out/err"
  else
    (ulimit -v $MEMLIMIT; tc_run 1 "${args[@]}" --quiet) </dev/null >/dev/null 2>"$out/err"
  fi
  rc=$?
  what="$file $cmd"
  if [ $rc = 124 ] || [ $rc = 137 ]; then
    fail "$what: no hang (timed out after ${TC_TIMEOUT} s)"
  elif [ $rc -ge 128 ] || grep -qE 'exited on signal|terminated with signal|Sanitizer|runtime error:|corrupted size|double free' "$out/err"; then
    fail "$what: no signal or sanitizer report (exit $rc: $(grep -m1 -E 'signal|Sanitizer|runtime error|corrupted' "$out/err"))"
  else
    pass "$what: no signal, no sanitizer report, no hang"
  fi
  # refused by a check, not by running into the address-space limit above
  if grep -qiE 'out of memory|insufficient memory' "$out/err"; then
    fail "$what: refused before allocating (got exit $rc: $(grep -m1 -iE 'out of memory|insufficient memory' "$out/err"))"
  else
    case $rc in
      2|3|4) pass "$what: exit $rc" ;;
      # info summarises whatever it can read (a rank-12 dataset is printed as such): it need only survive
      0) if [ "$cmd" = info ]; then pass "$what: exit 0 (info)"
         elif [ "$cmd" = extract-bounded ]; then pass "$what: exit 0 within the address-space limit (a legal image)"
         else fail "$what: exit 2, 3 or 4 (got 0: accepted)"; fi ;;
      *) fail "$what: exit 2, 3 or 4 (got $rc: $(grep -m1 '^tailedcore:' "$out/err"))" ;;
    esac
  fi
  errs=$(grep '^tailedcore:' "$out/err" | grep -vE '^tailedcore: ([^ ]+: )?warning')
  if { [ "$cmd" = info ] || [ "$cmd" = extract-bounded ]; } && [ $rc = 0 ]; then
    pass "$what: exit 0 and no error line"
  elif [ "$(printf '%s\n' "$errs" | grep -c .)" = 1 ] && printf '%s' "$errs" | grep -qF "$file"; then
    pass "$what: one error line naming the file"
  else
    fail "$what: one error line naming the file (got: $(printf '%s' "$errs" | head -3 | tr '\n' '|'))"
  fi
  if [ "$cmd" = extract-bounded ] && [ $rc = 0 ]; then
    # accepted: the whole file under its final name, no temporary left
    if [ "$(ls "$out" | grep -E '^o\.h5')" = o.h5 ] && h5dump -H -d /features "$out/o.h5" 2>/dev/null | grep -q 'DATASPACE  SIMPLE { ( 1,'; then
      pass "$what: o.h5 published with its one image, no temporary file"
    else
      fail "$what: o.h5 published with its one image, no temporary file ($(ls "$out" | tr '\n' ' '))"
    fi
  elif ls "$out" | grep -qE '^o\.h5'; then
    fail "$what: nothing published, no temporary file ($(ls "$out" | grep -E '^o\.h5' | tr '\n' ' '))"
  else
    pass "$what: nothing published, no temporary file"
  fi
done <"$R/cases.txt"
check "cases.txt has cases" test $n -gt 0
report
