#!/usr/bin/env bash
# test_tailsample.sh - `tailedcore tailsample` on 1-4 ranks (DESIGN 6):
# identical tail flags, class sizes, thresholds, counts, eta and K values
# for every rank count, in memory and streaming (forced and auto-switched),
# equal to the NumPy golden fixture; bad inputs fail clearly and publish
# nothing. Features files come from the unit binary's --write-features mode.
source "$(dirname "$0")/lib.sh"
T=$BUILD/tests/test_tailsampler
GOLD=$ROOT/tests/golden
if [ ! -x "$T" ]; then fail "missing $T (make BUILD=... $BUILD/tests/test_tailsampler)"; report; exit 1; fi

dump() { "$T" --dump-tail "$@"; }
no_output() { # path: neither the final name nor a temporary name exists
  [ ! -e "$1" ] && [ -z "$(ls "$(dirname "$1")" 2>/dev/null | grep -F "$(basename "$1").tmp")" ]
}

# N = 302: the balanced read blocks (76 76 75 75 on 4 ranks) differ from
# ScaLAPACK's ceil blocks (76 76 76 74), so the row redistribution runs too.
F=$TMP/features.h5
check "make a synthetic features file" "$T" --write-features "$F" 302 40 11

tc_run 1 tailsample --features "$F" --out "$TMP/ref.h5" --mode memory --quiet
check "1 rank, memory: exit 0" test $? = 0
dump "$TMP/ref.h5" tail >"$TMP/ref.txt" || fail "dump ref"
check "reference has tail images and class sizes" grep -q ' 1$' "$TMP/ref.txt"

for np in 2 3 4; do
  tc_run $np tailsample --features "$F" --out "$TMP/m$np.h5" --mode memory --quiet
  check "$np ranks, memory: exit 0" test $? = 0
  dump "$TMP/m$np.h5" tail >"$TMP/m$np.txt"
  check "$np ranks, memory == 1 rank (flags, sizes, th, count, eta, K)" cmp -s "$TMP/ref.txt" "$TMP/m$np.txt"
done
# the Gram's cyclic deal with other blocks (TC_GRAM_BLOCK): ragged last
# block (302 = 43 x 7 + 1), one row per block, one block holding every row
# (1000 > N: one block of 302 rows; 3 ranks idle in psgemm and the mirror)
for case in "3 7 7" "2 1 1" "4 1000 302" "1 5 5"; do
  set -- $case
  TC_GRAM_BLOCK=$2 tc_run $1 tailsample --features "$F" --out "$TMP/b$1_$2.h5" --mode memory -v 2>"$TMP/b$1_$2.err"
  check "$1 ranks, Gram block $2: exit 0" test $? = 0
  check "$1 ranks, Gram block $2: block $3 used" grep -q "block $3;" "$TMP/b$1_$2.err"
  dump "$TMP/b$1_$2.h5" tail >"$TMP/b$1_$2.txt"
  check "$1 ranks, Gram block $2 == 1 rank default" cmp -s "$TMP/ref.txt" "$TMP/b$1_$2.txt"
done
# a NaN in one embedding: named, non-zero exit, nothing published (both modes)
"$T" --write-features "$TMP/nan.h5" 302 40 11 250 || fail "write the NaN features file"
for mode in memory stream; do
  tc_run 3 tailsample --features "$TMP/nan.h5" --out "$TMP/nan_$mode.h5" --mode $mode 2>"$TMP/nan_$mode.err"
  rc=$?
  check "NaN embedding, $mode: non-zero exit ($rc)" test $rc != 0
  check "NaN embedding, $mode: names the file and image 250" grep -qE "nan.h5: image 250: /embeddings holds NaN" "$TMP/nan_$mode.err"
  check "NaN embedding, $mode: nothing published" no_output "$TMP/nan_$mode.h5"
done
for np in 1 3; do
  tc_run $np tailsample --features "$F" --out "$TMP/s$np.h5" --mode stream --panel-rows 13 --quiet
  check "$np ranks, stream (13-row panels): exit 0" test $? = 0
  dump "$TMP/s$np.h5" tail >"$TMP/s$np.txt"
  check "$np ranks, stream == memory" cmp -s "$TMP/ref.txt" "$TMP/s$np.txt"
done
# auto: 302 x 302 floats exceed 300K per rank on 2 ranks -> streaming by itself
tc_run 2 tailsample --features "$F" --out "$TMP/a2.h5" --mem-per-rank 300K 2>"$TMP/a2.err"
check "2 ranks, auto with --mem-per-rank 300K: exit 0" test $? = 0
check "auto switched to streaming" grep -q "streaming mode" "$TMP/a2.err"
dump "$TMP/a2.h5" tail >"$TMP/a2.txt"
check "auto-stream == memory" cmp -s "$TMP/ref.txt" "$TMP/a2.txt"
tc_run 4 tailsample --features "$F" --out "$TMP/s4.h5" --mode stream --panel-rows 1 --quiet
dump "$TMP/s4.h5" tail >"$TMP/s4.txt"
check "4 ranks, stream with 1-row panels == memory" cmp -s "$TMP/ref.txt" "$TMP/s4.txt"

# options beyond DESIGN 3.6 (centring before the Gram, other K_max rules,
# p = 1): still the same bits for 1-4 ranks, in memory and streaming
for opt in "--embed-norm center" "--tail-cut gap --tail-p 1" "--embed-norm center --tail-cut elbow"; do
  tag=$(echo "$opt" | tr -dc 'a-z0-9')
  tc_run 1 tailsample --features "$F" --out "$TMP/o1_$tag.h5" --mode memory $opt --quiet
  check "$opt: 1 rank, memory: exit 0" test $? = 0
  dump "$TMP/o1_$tag.h5" tail >"$TMP/o1_$tag.txt"
  for np in 2 3 4; do
    tc_run $np tailsample --features "$F" --out "$TMP/o${np}_$tag.h5" --mode memory $opt --quiet
    dump "$TMP/o${np}_$tag.h5" tail >"$TMP/o${np}_$tag.txt"
    check "$opt: $np ranks, memory == 1 rank" cmp -s "$TMP/o1_$tag.txt" "$TMP/o${np}_$tag.txt"
  done
  for np in 1 3; do
    tc_run $np tailsample --features "$F" --out "$TMP/os${np}_$tag.h5" --mode stream --panel-rows 13 $opt --quiet
    dump "$TMP/os${np}_$tag.h5" tail >"$TMP/os${np}_$tag.txt"
    check "$opt: $np ranks, stream == memory" cmp -s "$TMP/o1_$tag.txt" "$TMP/os${np}_$tag.txt"
  done
done
check "centring changes the result on this set" sh -c "! cmp -s '$TMP/ref.txt' '$TMP/o1_embednormcenter.txt'"
check "tail.h5 records the rules" sh -c "h5dump -a /tail/tail_cut '$TMP/o1_tailcutgaptailp1.h5' | grep -q gap && h5dump -a /tail/embed_norm '$TMP/o1_embednormcenter.h5' | grep -q center"
# auto rules follow the features' backbone: mobilenetv2 gets p = 1 and gap,
# a file without the attribute (all of the above) the paper's rules
cp "$F" "$TMP/mnv2.h5"
"$BUILD/tests/tools/views_check" set-attr "$TMP/mnv2.h5" backbone mobilenetv2 >/dev/null || fail "set backbone attribute"
tc_run 2 tailsample --features "$TMP/mnv2.h5" --out "$TMP/auto.h5" --quiet
dump "$TMP/auto.h5" tail >"$TMP/auto.txt"
check "auto on mobilenetv2 features == --tail-p 1 --tail-cut gap" cmp -s "$TMP/o1_tailcutgaptailp1.txt" "$TMP/auto.txt"
tc_run 2 tailsample --features "$TMP/mnv2.h5" --out "$TMP/paper.h5" --tail-p 0.85 --tail-cut cap --quiet
dump "$TMP/paper.h5" tail >"$TMP/paper.txt"
check "explicit paper rules on mobilenetv2 features == the paper's result" cmp -s "$TMP/ref.txt" "$TMP/paper.txt"
tc_run 2 tailsample --features "$F" --out "$TMP/x7.h5" --tail-p 1.5 2>"$TMP/x7.err"
check "--tail-p 1.5: exit 2" test $? = 2
tc_run 2 tailsample --features "$F" --out "$TMP/x8.h5" --tail-cut nope 2>"$TMP/x8.err"
check "--tail-cut nope: exit 2" test $? = 2

# the golden NumPy fixture through the whole command, uneven 3-rank blocks
dump "$GOLD/tailsampler_step_k4.h5" expected >"$TMP/gold.txt"
tc_run 3 tailsample --features "$GOLD/tailsampler_step_k4.h5" --out "$TMP/g3.h5" \
  --labels "$GOLD/tailsampler_step_k4.labels" >"$TMP/g3.out" 2>&1
check "golden step_k4 on 3 ranks: exit 0" test $? = 0
dump "$TMP/g3.h5" tail >"$TMP/g3.txt"
check "golden step_k4: 3 ranks == NumPy reference" cmp -s "$TMP/gold.txt" "$TMP/g3.txt"
check "diagnostics printed, no missing tail samples" grep -Eq "missing tail samples +0\.0000" "$TMP/g3.out"
check "diagnostics print the AUROC" grep -q "AUROC(-kappa, tail)" "$TMP/g3.out"
tc_run 2 tailsample --features "$GOLD/tailsampler_pareto.h5" --out "$TMP/p2.h5" --mode stream --panel-rows 50 --quiet
dump "$GOLD/tailsampler_pareto.h5" expected >"$TMP/goldp.txt"
dump "$TMP/p2.h5" tail >"$TMP/p2.txt"
check "golden pareto: 2 ranks streaming == NumPy reference" cmp -s "$TMP/goldp.txt" "$TMP/p2.txt"

# ---- bad inputs: clear error, right exit status, nothing published
"$T" --write-features "$TMP/noemb.h5" 20 0 1
tc_run 2 tailsample --features "$TMP/noemb.h5" --out "$TMP/x1.h5" 2>"$TMP/x1.err"
rc=$?
check "missing /embeddings: exit 3" test $rc = 3
check "missing /embeddings: message names it" grep -q "embeddings" "$TMP/x1.err"
check "missing /embeddings: nothing published" no_output "$TMP/x1.h5"

tc_run 2 tailsample --features "$TMP/ref.h5" --out "$TMP/x2.h5" 2>"$TMP/x2.err"
rc=$?
check "wrong kind: exit 3" test $rc = 3
check "wrong kind: message says tail vs features" grep -q "is a tail file, expected a features file" "$TMP/x2.err"
check "wrong kind: nothing published" no_output "$TMP/x2.h5"

tc_run 3 tailsample --features "$F" --out "$TMP/nodir/x3.h5" 2>"$TMP/x3.err"
rc=$?
check "unwritable output directory: exit 4" test $rc = 4
check "unwritable output: one clear line" test "$(grep -c tailedcore: "$TMP/x3.err")" -ge 1
check "unwritable output: nothing published" test ! -e "$TMP/nodir"
check "unwritable output: found before the Gram" sh -c "! grep -q 'in-memory mode\|streaming mode' '$TMP/x3.err'"

tc_run 2 tailsample --features "$F" --out "$TMP/prog.h5" --mode memory 2>"$TMP/prog.err"
check "in-memory Gram reports progress on rank 0 (panels done, rate)" \
  grep -q "^tailedcore: tailsample Gram (psgemm): [0-9]*/[0-9]* row panels done in .* row panels/s" "$TMP/prog.err"

# stopped by SIGTERM (Slurm's time limit, scancel) while the output is open:
# every rank removes the temporary file before it dies
TC_PAUSE_AT=tailwrite TC_PAUSE_SECONDS=60 "${MPIRUN[@]}" -x TC_PAUSE_AT -x TC_PAUSE_SECONDS -np 2 "$TC" \
  tailsample --features "$F" --out "$TMP/sig.h5" >"$TMP/sig.log" 2>&1 &
mp=$!
for _ in $(seq 1 300); do ls "$TMP"/sig.h5.tmp.* >/dev/null 2>&1 && break; sleep 0.1; done
check "SIGTERM: the temporary file exists while the job writes" sh -c "ls '$TMP'/sig.h5.tmp.* >/dev/null 2>&1"
kill -TERM $mp
wait $mp
rc=$?
check "SIGTERM: non-zero exit" test $rc != 0
check "SIGTERM: no temporary file and no output left" sh -c "! ls '$TMP'/sig.h5* >/dev/null 2>&1"

tc_run 2 tailsample --features "$TMP/missing.h5" --out "$TMP/x4.h5" 2>"$TMP/x4.err"
check "missing features file: exit 4" test $? = 4

TC_FAIL_RANK=1 TC_FAIL_AT=tailwrite tc_run 3 tailsample --features "$F" --out "$TMP/x5.h5" 2>"$TMP/x5.err"
rc=$?
check "rank 1 fails mid-write: exit 4, no hang" test $rc = 4
check "rank 1 fails mid-write: nothing published, no temp file" no_output "$TMP/x5.h5"

printf 'only/one/line.png class0 0 1\n' >"$TMP/bad.labels"
tc_run 2 tailsample --features "$F" --out "$TMP/x6.h5" --labels "$TMP/bad.labels" 2>"$TMP/x6.err"
check "bad labels file: exit 3" test $? = 3
check "bad labels file: nothing published" no_output "$TMP/x6.h5"

tc_run 2 tailsample --features "$F" --out "$TMP/x7.h5" --tail-p 1.5 2>"$TMP/x7.err"
check "--tail-p 1.5: usage error, exit 2" test $? = 2
tc_run 2 tailsample --features "$F" --out "$TMP/x8.h5" --mode memory --mem-per-rank 1K 2>/dev/null
check "--mode memory ignores the memory budget (explicit choice): exit 0" test $? = 0
tc_run 2 tailsample --features "$F" --out "$TMP/x9.h5" --mode stream --mem-per-rank 1K 2>"$TMP/x9.err"
check "--mode stream below the minimum memory: usage error, exit 2" test $? = 2
check "--mode stream below the minimum: says how much is needed" grep -q "streaming minimum" "$TMP/x9.err"

tc_run 1 tailsample --help >"$TMP/help.txt" 2>&1
check "--help lists --mem-per-rank with its default" grep -q "mem-per-rank.*2G" "$TMP/help.txt"
check "--help lists --tail-p with its default" grep -q "tail-p.*0.85" "$TMP/help.txt"

report
