#!/usr/bin/env bash
# test_slurm.sh - the cluster side (issue 8) on a REAL single-node Slurm that
# this test starts and stops itself (tests/slurm/cluster.sh: munged,
# slurmctld, slurmd, all state under $TMP, stopped by PID, also on failure).
#
#   1. without a cluster: the sbatch scripts refuse to run outside a job;
#      tc-features-merge (new rows win, old rows reused, vanished rows dropped,
#      mismatched features refused, nothing published on error)
#   2. a 2-rank MPI job through sbatch + srun --mpi=pmix (fake_features):
#      the published file equals a 1-rank write; an injected failure on rank 1
#      proves the two tasks are one MPI world; a failed job cancels its
#      afterok dependant (kill_invalid_depend) instead of leaving it pending
#   3. only when extract, fit, predict, eval and tc-synth are built: the
#      nightly chain on a small synthetic set, three nights (first; +10 images,
#      only those extracted, merged features equal a full extraction, model
#      republished, model.prev.h5 = the first; a forced fit failure: chain
#      stops, model untouched, exit non-zero). Not built: a SKIP line.
source "$(dirname "$0")/lib.sh"
source "$ROOT/tests/slurm/cluster.sh"
FF=$BUILD/tests/tools/fake_features
MERGE=$BUILD/tc-features-merge
for b in "$FF" "$MERGE"; do
  if [ ! -x "$b" ]; then fail "missing $b (make BUILD=$BUILD)"; report; exit 1; fi
done
CL=$TMP/cluster
teardown() { slurm_cluster_stop "$CL" >/dev/null 2>&1; rm -rf "$TMP"; }
trap teardown EXIT
trap 'exit 130' INT TERM
no_output() { # neither the final name nor a temporary name exists
  [ ! -e "$1" ] && [ -z "$(ls "$(dirname "$1")" 2>/dev/null | grep -F "$(basename "$1").tmp")" ]
}
digest() { "$FF" sum "$1" 2>/dev/null | sed -n 's/.*digest=//p'; }

# ---------------------------------------------------------------- 1. no cluster
for s in extract fit predict; do
  (unset SLURM_JOB_ID; bash "$ROOT/slurm/$s.sbatch" >/dev/null 2>"$TMP/g.err"); rc=$?
  check "$s.sbatch outside a job: exit 2 and says so" \
    sh -c "[ $rc = 2 ] && grep -q 'not inside a Slurm job' '$TMP/g.err'"
done

# fake rows depend only on (seed, row): rows 0-3 of a 4-row file with seed 1
# equal rows 0-3 of a 10-row one, so merges have exact expected digests
"${MPIRUN[@]}" -np 2 "$FF" write "$TMP/old.h5" 10 2 4 3 1 >/dev/null 2>&1
"${MPIRUN[@]}" -np 1 "$FF" write "$TMP/same4.h5" 4 2 4 3 1 >/dev/null 2>&1
"${MPIRUN[@]}" -np 1 "$FF" write "$TMP/other4.h5" 4 2 4 3 2 >/dev/null 2>&1
"${MPIRUN[@]}" -np 1 "$FF" write "$TMP/old8.h5" 8 2 4 3 1 >/dev/null 2>&1
fpath() { printf 'class%02d/train/good/%06d.tiff\n' $(( $1 % 7 )) "$1"; }
for i in $(seq 0 9); do fpath "$i"; done >"$TMP/all10.txt"
head -8 "$TMP/all10.txt" >"$TMP/first8.txt"
"$MERGE" --out "$TMP/m1.h5" --paths "$TMP/all10.txt" --old "$TMP/old.h5" --new "$TMP/same4.h5" >/dev/null
check "merge: 4 rows from new + 6 from the cache = the 10-row file" test "$(digest "$TMP/m1.h5")" = "$(digest "$TMP/old.h5")"
"$MERGE" --out "$TMP/m2.h5" --paths "$TMP/all10.txt" --old "$TMP/old.h5" --new "$TMP/other4.h5" >/dev/null
check "merge: rows present in both are taken from the new file" \
  sh -c "[ -f '$TMP/m2.h5' ] && [ '$(digest "$TMP/m2.h5")' != '$(digest "$TMP/old.h5")' ]"
"$MERGE" --out "$TMP/m3.h5" --paths "$TMP/first8.txt" --old "$TMP/old.h5" >/dev/null
check "merge: images not listed drop out (10 -> 8)" test "$(digest "$TMP/m3.h5")" = "$(digest "$TMP/old8.h5")"
"$MERGE" --out "$TMP/m4.h5" --paths "$TMP/all10.txt" --new "$TMP/same4.h5" 2>"$TMP/m4.err"; rc=$?
check "merge: a listed image in neither file: exit 3, nothing published" \
  sh -c "[ $rc = 3 ] && grep -q 'in neither' '$TMP/m4.err'"
check "merge: no m4.h5 or temp file" no_output "$TMP/m4.h5"
"${MPIRUN[@]}" -np 1 "$FF" write "$TMP/wide.h5" 4 2 5 3 1 >/dev/null 2>&1
"$MERGE" --out "$TMP/m5.h5" --paths "$TMP/all10.txt" --old "$TMP/old.h5" --new "$TMP/wide.h5" 2>"$TMP/m5.err"; rc=$?
check "merge: features of another D refused: exit 3" sh -c "[ $rc = 3 ] && grep -q 'differ in D' '$TMP/m5.err'"
"$MERGE" --out "$TMP/nodir/m6.h5" --paths "$TMP/all10.txt" --old "$TMP/old.h5" 2>/dev/null
check "merge: unwritable output: exit 4" test $? = 4

# ---------------------------------------------------------------- 2. the cluster
if ! command -v slurmctld >/dev/null || ! command -v munged >/dev/null || ! command -v sbatch >/dev/null \
   || ! dpkg-query -W -f='${Status}' libpmix-dev 2>/dev/null | grep -q 'install ok installed'; then
  echo "installing Slurm: ./deps.sh slurm" >&2
  if ! (cd "$ROOT" && ./deps.sh slurm) >"$TMP/deps.log" 2>&1; then
    fail "Slurm is not installed and ./deps.sh slurm failed: $(tail -1 "$TMP/deps.log") -- the cluster tests did NOT run"
    report; exit 1
  fi
fi
t_start=$SECONDS
if ! slurm_cluster_start "$CL" 4 2>"$TMP/cluster.err"; then
  fail "start a single-node Slurm: $(tail -3 "$TMP/cluster.err" | tr '\n' ' ')"
  report; exit 1
fi
pass "single-node Slurm up in $((SECONDS - t_start)) s ($(sinfo -h -N -o '%N %T %c CPUs'))"
cluster_pids=$(cat "$CL/run/pids")
SB=(-N1 -n2 -c1 --time=5 --chdir="$TMP")

# a 2-rank MPI job: sbatch + srun --mpi=pmix
j=$(slurm_submit "${SB[@]}" -o "$TMP/j1.out" --wrap \
  "srun --mpi=pmix sh -c 'echo task \$SLURM_PROCID of \$SLURM_NTASKS' && srun --mpi=pmix $FF write $TMP/ff.h5 12 4 8 6 7")
st=$(slurm_wait "$j" 120)
check "2-rank job (sbatch, srun --mpi=pmix): $st in $(scontrol show job -o "$j" | sed -n 's/.*RunTime=\([^ ]*\).*/\1/p')" test "$st" = COMPLETED
check "2-rank job: two tasks ran" sh -c "grep -q 'task 0 of 2' '$TMP/j1.out' && grep -q 'task 1 of 2' '$TMP/j1.out'"
"${MPIRUN[@]}" -np 1 "$FF" write "$TMP/ff1.h5" 12 4 8 6 7 >/dev/null 2>&1
check "2-rank job: published file equals a 1-rank write" \
  sh -c "[ -n '$(digest "$TMP/ff.h5")' ] && [ '$(digest "$TMP/ff.h5")' = '$(digest "$TMP/ff1.h5")' ]"
check "2-rank job: no temporary file left" sh -c "! ls '$TMP' | grep -q 'ff.h5.tmp'"

# an injected failure on rank 1: only a real 2-rank world has a rank 1
j=$(TC_FAIL_RANK=1 TC_FAIL_AT=h5write slurm_submit "${SB[@]}" -o "$TMP/j2.out" --wrap "srun --mpi=pmix $FF write $TMP/bad.h5 12 4 8 6 7")
d=$(slurm_submit "${SB[@]}" -o /dev/null --dependency=afterok:"$j" --wrap "true")
st=$(slurm_wait "$j" 120)
check "failure on rank 1 fails the job ($st), names the rank" sh -c "[ '$st' = FAILED ] && grep -q 'injected failure' '$TMP/j2.out'"
check "failure on rank 1: nothing published" no_output "$TMP/bad.h5"
st=$(slurm_wait "$d" 30)
check "afterok dependant of a failed job is cancelled, not left pending ($st)" test "$st" = CANCELLED

# ---------------------------------------------------------------- 3. the nightly chain
built() { "$TC" "$1" --help >/dev/null 2>&1; }
SYNTH=$BUILD/tc-synth
CNNT=$BUILD/tests/test_cnn
missing=""
for c in extract fit predict eval; do built "$c" || missing+=" tailedcore-$c"; done
[ -x "$SYNTH" ] || missing+=" tc-synth"
[ -x "$CNNT" ] || missing+=" tests/test_cnn(weights)"
if [ -n "$missing" ]; then
  echo "SKIP nightly chain: stages not built yet:$missing (the chain test did NOT run)"
else
  DATA=$TMP/data WORK=$TMP/work W=$TMP/mbv2.h5
  (cd "$ROOT" && "$CNNT" --write-weights mobilenetv2 mobilenetv2 "$W") >/dev/null 2>&1 || fail "write test weights"
  "$SYNTH" --out "$DATA" --classes 3 --train 10 --test-good 2 --test-defect 1 --defects scratch \
    --size 96 --seed 1 --quiet || fail "tc-synth data set"
  "$SYNTH" --out "$TMP/more" --classes 3 --train 4 --test-good 1 --test-defect 1 --defects scratch \
    --size 96 --seed 2 --quiet || fail "tc-synth extra images"
  export TC_HOME=$ROOT TC_BIN=$TC TC_MERGE=$MERGE TC_DATA=$DATA TC_WORK=$WORK
  export TC_BACKBONE=mobilenetv2 TC_WEIGHTS=$W TC_POLL=0.5
  export TC_EXTRACT_ARGS="--resize 80 --crop 64 --quiet"
  # the #SBATCH lines ask for 8 ranks x 4 CPUs: this 4-CPU test node gets 2 x 1
  export TC_SBATCH_ARGS="-N1 -n2 --ntasks-per-node=2 -c1 --time=10"
  export TC_FIT_ARGS=${TC_TEST_FIT_ARGS:---quiet}
  night() { # N: run one night, output in $TMP/nightN.out
    local t0=$SECONDS
    timeout 600 "$ROOT/slurm/nightly" >"$TMP/night$1.out" 2>&1; local rc=$?
    echo "  night $1: exit $rc in $((SECONDS - t0)) s; log: $(tail -1 "$WORK/nightly.log" 2>/dev/null)"
    local st
    st=$(tail -1 "$WORK/nightly.log" 2>/dev/null | sed -n 's/.*status=failed stage=\([a-z]*\).*/\1/p')
    if [ -n "$st" ]; then  # show why, so a failure can be rerun by hand
      tail -8 "$(lastnight)/$st"-*.out 2>/dev/null | sed "s/^/    [$st job] /"
    fi
    return $rc
  }
  logf() { tail -1 "$WORK/nightly.log" | tr ' ' '\n' | sed -n "s/^$1=//p"; }
  lastnight() { ls -d "$WORK"/nights/* | tail -1; }

  # night 1: everything is new
  night 1; rc=$?
  no_eval=0
  if [ $rc != 0 ] && grep -qs 'not built yet' "$(lastnight)"/predict-*.out; then
    # predict/eval answer --help but say "not built yet" for this use (exit 2,
    # the project's convention): run the chain without them rather than not at all
    echo "SKIP nightly chain predict+eval: $(grep -h 'not built yet' "$(lastnight)"/predict-*.out | head -1)"
    echo "     -> the nights run again from scratch with TC_EVAL=0 (published after fit; no eval table)"
    no_eval=1; export TC_EVAL=0
    rm -rf "$WORK"
    night 1; rc=$?
  fi
  check "night 1: exit 0" test $rc = 0
  check "night 1: printed the job ids" grep -q "extract=[0-9]* fit=[0-9]*$([ $no_eval = 1 ] || echo ' predict=[0-9]*') finalize=[0-9]*" "$TMP/night1.out"
  check "night 1: model.h5 published, a model file" sh -c "'$TC' info '$WORK/model.h5' 2>/dev/null | grep -qi model"
  check "night 1: fit saw the tail images rotated/flipped (TC_DATA + TC_WEIGHTS)" sh -c "'$TC' info '$WORK/model.h5' 2>/dev/null | grep -q '@tail_views_per_image = 47'"
  check "night 1: no model.prev.h5 yet" test ! -e "$WORK/model.prev.h5"
  if [ $no_eval = 0 ]; then
    check "night 1: eval table published" sh -c "grep -q '|' '$WORK/eval.md' && grep -qi 'all' '$WORK/eval.md'"
    check "night 1: eval read the set's dataset.json by itself (tail/head means)" grep -q 'mean head' "$WORK/eval.md"
  else
    echo "SKIP night 1: eval table (predict not built yet)"
  fi
  check "night 1: log line: status=ok images=30 extracted=30" \
    sh -c "[ '$(logf status)' = ok ] && [ '$(logf images)' = 30 ] && [ '$(logf extracted)' = 30 ]"
  check "night 1: log line has memory bank size and stage times" \
    sh -c "[ -n '$(logf memory_bank)' ] && [ '$(logf memory_bank)' != '?' ] && [ -n '$(logf t_fit)' ]"
  cp "$WORK/model.h5" "$TMP/model.night1.h5" 2>/dev/null
  [ -f "$WORK/eval.md" ] && sed 's/^/    /' "$WORK/eval.md"

  # night 2: 10 new images (4 + 4 + 2 of the same classes, new names)
  k=0
  for f in $(cd "$TMP/more" && find . -path './*/train/good/*' -type f | sort); do
    [ $k -lt 10 ] || break
    cls=$(echo "$f" | cut -d/ -f2)
    cp "$TMP/more/$f" "$DATA/$cls/train/good/new_$k.${f##*.}"; k=$((k + 1))
  done
  night 2; rc=$?
  n2=$(lastnight)
  check "night 2: exit 0" test $rc = 0
  check "night 2: log: 40 images, new=10, extracted=10, reused=30, removed=0" \
    sh -c "[ '$(logf images)' = 40 ] && [ '$(logf new)' = 10 ] && [ '$(logf extracted)' = 10 ] && [ '$(logf reused)' = 30 ] && [ '$(logf removed)' = 0 ]"
  check "night 2: the extract job extracted exactly the 10 new images" \
    sh -c "[ \$(wc -l <'$n2/new.txt') = 10 ] && ! grep -qv '/new_' '$n2/new.txt' && grep -q 'extracting 10 new' '$n2'/extract-*.out"
  check "night 2: model.prev.h5 is the first night's model" cmp -s "$WORK/model.prev.h5" "$TMP/model.night1.h5"
  check "night 2: model.h5 republished (the night's model, not the first)" \
    sh -c "cmp -s '$WORK/model.h5' '$n2/model.h5' && ! cmp -s '$WORK/model.h5' '$TMP/model.night1.h5'"
  # incremental must equal a full extraction of the same images in the same order
  sed "s|^|$DATA/|" "$n2/union.rel" >"$TMP/union.txt"
  tc_run 2 extract --list "$TMP/union.txt" --split train --backbone mobilenetv2 --weights "$W" \
    --out "$TMP/full.h5" $TC_EXTRACT_ARGS 2>/dev/null
  check "night 2: merged features equal a full extraction (features, embeddings, paths)" \
    sh -c "h5diff -q '$n2/features.h5' '$TMP/full.h5' /features /features && h5diff -q '$n2/features.h5' '$TMP/full.h5' /embeddings /embeddings && h5diff -q '$n2/features.h5' '$TMP/full.h5' /paths /paths"
  cp "$WORK/model.h5" "$TMP/model.night2.h5" 2>/dev/null

  # night 3: fit forced to fail (a bad option): chain stops, nothing published
  TC_FIT_ARGS="--no-such-option" night 3; rc=$?
  n3=$(lastnight)
  check "night 3 (fit fails): nightly exits non-zero" test $rc != 0
  check "night 3: model.h5 unchanged" cmp -s "$WORK/model.h5" "$TMP/model.night2.h5"
  check "night 3: model.prev.h5 unchanged" cmp -s "$WORK/model.prev.h5" "$TMP/model.night1.h5"
  if [ $no_eval = 0 ]; then
    read -r _ jf jp jz <"$n3/jobs"
    check "night 3: fit FAILED, predict CANCELLED (never ran), finalizer COMPLETED its report" \
      sh -c "[ '$(slurm_job_state "$jf")' = FAILED ] && [ '$(slurm_job_state "$jp")' = CANCELLED ] && [ ! -e '$n3/stage.predict.start' ] && [ -s '$n3/result' ]"
  else
    read -r _ jf _ <"$n3/jobs"
    check "night 3: fit FAILED, finalizer ran (no predict stage: TC_EVAL=0)" \
      sh -c "[ '$(slurm_job_state "$jf")' = FAILED ] && [ -s '$n3/result' ]"
  fi
  check "night 3: log line says failed at fit, model unchanged" \
    sh -c "tail -1 '$WORK/nightly.log' | grep -q 'status=failed stage=fit' && tail -1 '$WORK/nightly.log' | grep -q 'model=unchanged'"
  check "night 3: lock released (a new night may start)" test ! -e "$WORK/nightly.lock"
  echo "  run log ($WORK/nightly.log):"; sed 's/^/    /' "$WORK/nightly.log"
fi

# ---------------------------------------------------------------- teardown
slurm_cluster_stop "$CL" 2>/dev/null
alive=""
for p in $cluster_pids; do kill -0 "$p" 2>/dev/null && alive+=" $p"; done
check "cluster torn down: munged, slurmctld, slurmd stopped (${cluster_pids//$'\n'/ })" test -z "$alive"
report
