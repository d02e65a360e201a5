#!/usr/bin/env bash
# tests/mpi/test_fit.sh - `tailedcore fit` (DESIGN 3.3-3.6, 5, 6): the same
# model, bit for bit, on 1, 2, 3 and 4 ranks for every method; bad input
# gives a clear error and publishes nothing.
. "$(dirname "$0")/lib.sh"
TOOL=$BUILD/tests/test_pcoreset
F=$TMP/features.h5
"${MPIRUN[@]}" -np 2 "$TOOL" --make-features "$F" 36 4 5 40 16 7 >/dev/null 2>&1
check "synthetic features file made" [ -f "$F" ]

# every dataset, dumped as raw little-endian binary, compared byte for byte
dump() { # file dataset out
  h5dump -b LE -d "$2" -o "$3" "$1" >/dev/null 2>&1
}
same_model() { # a b
  local d
  for d in /memory_bank /memory_weights /coreset/indices /coreset/clean_order /tail/class_size /tail/is_tail /tail/k_max; do
    dump "$1" $d $TMP/a.bin; dump "$2" $d $TMP/b.bin
    cmp -s $TMP/a.bin $TMP/b.bin || { echo "  differs: $d"; return 1; }
  done
  # attributes too (h5dump text of the root attributes)
  diff <(h5dump -A -g / "$1" | grep -v source_features | sed 1d) <(h5dump -A -g / "$2" | grep -v source_features | sed 1d) >/dev/null
}

for m in patchcore softpatch tailedcore; do
  for np in 1 2 3 4; do
    tc_run $np fit --quiet --features "$F" --out $TMP/$m.$np.h5 --method $m --seed 3 2>$TMP/err.$m.$np
    check "fit $m on $np rank(s) exits 0" [ $? = 0 ]
  done
  for np in 2 3 4; do
    check "fit $m: model on $np ranks bit-identical to 1 rank" same_model $TMP/$m.1.h5 $TMP/$m.$np.h5
  done
done
# HDF5 1.10 fails a single MPI-IO transfer of 2 GiB or more, so row reads
# and writes go in pieces; a tiny piece cap runs that loop here (features
# read an image a piece, the bank written in many collective pieces, ranks
# with different row counts): the model must not change.
for np in 1 3; do
  TC_H5_PIECE_BYTES=3000 tc_run $np fit --quiet --features "$F" --out $TMP/piece.$np.h5 --method tailedcore --seed 3 2>/dev/null
  check "fit with 3000-byte HDF5 pieces on $np rank(s) exits 0" [ $? = 0 ]
  check "fit with 3000-byte HDF5 pieces on $np rank(s): the same model" same_model $TMP/tailedcore.1.h5 $TMP/piece.$np.h5
done
# plain loop gives the same model as the pruned default
tc_run 2 fit --quiet --features "$F" --out $TMP/plain.h5 --method softpatch --seed 3 --no-prune 2>/dev/null
check "--no-prune gives the same model" same_model $TMP/softpatch.1.h5 $TMP/plain.h5
# every --coreset-filter selects the same patches, on any rank count (the
# sketch is forced: these features are below auto's 4096 points a rank)
for f in none sketch triangle; do
  for np in 1 3; do
    tc_run $np fit --quiet --features "$F" --out $TMP/filt.$f.$np.h5 --method tailedcore --seed 3 --coreset-mode exact \
      --coreset-filter $f 2>/dev/null
    check "--coreset-filter $f on $np rank(s): the model of --coreset-filter none on 1 rank" \
      same_model $TMP/filt.none.1.h5 $TMP/filt.$f.$np.h5
  done
done
tc_run 1 fit --quiet --features "$F" --out $TMP/filt.bad.h5 --coreset-filter fast 2>$TMP/filt.err
check "--coreset-filter fast: exit 2, one line naming the choices, no model" \
  sh -c "[ $? = 2 ] && grep -q 'auto|sketch|triangle|none' $TMP/filt.err && [ ! -e $TMP/filt.bad.h5 ]"
# issue 17: a two-round int8 coreset over 8 fixed shards is a model of its
# own, the same on 1-4 ranks, with its mode recorded
for np in 1 2 3 4; do
  tc_run $np fit --quiet --features "$F" --out $TMP/tr.$np.h5 --method tailedcore --seed 3 \
    --coreset-mode tworound-int8 --coreset-shard 100 --coreset-oversample 1.5 2>/dev/null
  check "fit --coreset-mode tworound-int8 on $np rank(s) exits 0" [ $? = 0 ]
  [ $np = 1 ] || check "tworound-int8 model on $np ranks bit-identical to 1 rank" same_model $TMP/tr.1.h5 $TMP/tr.$np.h5
done
check "model records coreset_mode = tworound-int8" bash -c "h5dump -a /coreset_mode $TMP/tr.1.h5 | grep -q '\"tworound-int8\"'"
check "model records coreset_shard = 100" bash -c "h5dump -a /coreset_shard $TMP/tr.1.h5 | grep -q '(0): 100\$'"
# --coreset-mode auto (the default): the exact greedy for every method (with
# the sketch filter, the fastest mode on every benchmark set for tailedcore)
check "auto: the tailedcore model records coreset_mode = exact" bash -c "h5dump -a /coreset_mode $TMP/tailedcore.1.h5 | grep -q '\"exact\"'"
check "auto: the patchcore model records coreset_mode = exact" bash -c "h5dump -a /coreset_mode $TMP/patchcore.1.h5 | grep -q '\"exact\"'"
check "auto: the softpatch model records coreset_mode = exact" bash -c "h5dump -a /coreset_mode $TMP/softpatch.1.h5 | grep -q '\"exact\"'"
# tailedcore with --coreset-mode exact: the default's model, on 1 and 3 ranks
for np in 1 3; do
  tc_run $np fit --quiet --features "$F" --out $TMP/exact.$np.h5 --method tailedcore --seed 3 --coreset-mode exact 2>/dev/null
  check "fit --coreset-mode exact on $np rank(s) exits 0" [ $? = 0 ]
done
check "exact model on 3 ranks bit-identical to 1 rank" same_model $TMP/exact.1.h5 $TMP/exact.3.h5
check "exact model = the default (auto) model" same_model $TMP/tailedcore.1.h5 $TMP/exact.1.h5
check "exact model records coreset_mode = exact" bash -c "h5dump -a /coreset_mode $TMP/exact.1.h5 | grep -q '\"exact\"'"
# issue 15: M_tail's own ratio; by default it is --coreset-ratio (DESIGN 3.6 step 9)
attr() { h5dump -a "/$2" "$1" | awk '/\(0\)/ {print $2}'; }
for np in 1 3; do
  tc_run $np fit --quiet --features "$F" --out $TMP/tr5.$np.h5 --method tailedcore --seed 3 --tail-coreset-ratio 0.5 2>/dev/null
  check "fit --tail-coreset-ratio 0.5 on $np rank(s) exits 0" [ $? = 0 ]
done
check "--tail-coreset-ratio model on 3 ranks bit-identical to 1 rank" same_model $TMP/tr5.1.h5 $TMP/tr5.3.h5
nt=$(attr $TMP/tr5.1.h5 coreset_tail_candidates)
check "M_tail keeps floor(0.5 n) of its $nt candidates" [ "$(attr $TMP/tr5.1.h5 coreset_tail_size)" = $((nt / 2)) ]
check "M_clean is the default's" [ "$(attr $TMP/tr5.1.h5 coreset_clean_size)" = "$(attr $TMP/tailedcore.1.h5 coreset_clean_size)" ]
check "default model records tail_coreset_ratio = coreset_ratio" \
  [ "$(attr $TMP/tailedcore.1.h5 tail_coreset_ratio)" = "$(attr $TMP/tailedcore.1.h5 coreset_ratio)" ]
# auto: 2.5 x --coreset-ratio for mobilenetv2 features (DECISIONS "M_tail's coreset ratio")
cp "$F" $TMP/mnv2.h5
/usr/bin/python3 -c "import h5py, sys; f = h5py.File(sys.argv[1], 'r+'); f.attrs['backbone'] = 'mobilenetv2'" $TMP/mnv2.h5
tc_run 2 fit --quiet --features $TMP/mnv2.h5 --out $TMP/mnv2.m.h5 --method tailedcore --seed 3 --coreset-ratio 0.2 2>/dev/null
check "auto on mobilenetv2 features: M_tail keeps floor(0.5 n) at --coreset-ratio 0.2" \
  [ "$(attr $TMP/mnv2.m.h5 coreset_tail_size)" = $(($(attr $TMP/mnv2.m.h5 coreset_tail_candidates) / 2)) ]
check "auto on mobilenetv2 features: model records tail_coreset_ratio 0.5" [ "$(attr $TMP/mnv2.m.h5 tail_coreset_ratio)" = 0.5 ]
tc_run 1 fit --quiet --features "$F" --out $TMP/bad.h5 --tail-coreset-ratio 1.5 2>$TMP/err.tr
check "--tail-coreset-ratio 1.5 is a usage error (exit 2) naming the option" bash -c "[ $? = 2 ] && grep -q tail-coreset-ratio $TMP/err.tr"
tc_run 1 fit --quiet --features "$F" --out $TMP/bad.h5 --coreset-mode fp8 2>$TMP/err.mode
check "--coreset-mode fp8 is a usage error (exit 2)" [ $? = 2 ]
M=$(h5dump -A -g / $TMP/tailedcore.1.h5 | awk '/ATTRIBUTE "M"/ {getline; getline; getline; getline; print $2}')
check "tailedcore model has a memory bank" [ -n "$M" ]
check "softpatch weights are LOF scores (not all 1)" bash -c "h5dump -d /memory_weights $TMP/softpatch.1.h5 | grep -qvE '^ *\(.*\): (1, )*1\$'"
check "tailedcore warns that views are not extracted" grep -q "views" $TMP/err.tailedcore.1

no_output() { # dir base : nothing under the final name, no temporary left
  ! ls "$1" 2>/dev/null | grep -q "^$2"
}
# bad input
tc_run 2 fit --features "$F" --out $TMP/bad1.h5 --coreset-ratio 0 2>$TMP/e1; rc=$?
check "impossible ratio: usage error (exit 2)" [ $rc = 2 ]
check "impossible ratio: message names the option" grep -q "coreset-ratio" $TMP/e1
check "impossible ratio: nothing published" no_output $TMP bad1.h5
tc_run 2 fit --features "$F" --out $TMP/bad2.h5 --lof-keep 1.5 2>/dev/null
check "impossible lof-keep: exit 2" [ $? = 2 ]
tc_run 2 fit --features $TMP/patchcore.1.h5 --out $TMP/bad3.h5 2>$TMP/e3; rc=$?
check "wrong kind: data error (exit 3)" [ $rc = 3 ]
check "wrong kind: message says model vs features" grep -qi "model" $TMP/e3
check "wrong kind: nothing published" no_output $TMP bad3.h5
"${MPIRUN[@]}" -np 1 "$TOOL" --make-bad-features $TMP/badshape.h5 >/dev/null 2>&1
tc_run 3 fit --features $TMP/badshape.h5 --out $TMP/bad4.h5 2>$TMP/e4; rc=$?
check "inconsistent shapes: data error (exit 3)" [ $rc = 3 ]
check "inconsistent shapes: message names embeddings" grep -q "embeddings" $TMP/e4
check "inconsistent shapes: nothing published" no_output $TMP bad4.h5
tc_run 2 fit --features "$F" --out $TMP/no/such/dir/m.h5 2>$TMP/e5; rc=$?
check "unwritable output: I/O error (exit 4)" [ $rc = 4 ]
check "unwritable output: message names the directory" grep -q "output directory $TMP/no/such/dir does not exist" $TMP/e5
tc_run 2 fit --features $TMP/missing.h5 --out $TMP/bad6.h5 2>$TMP/e6; rc=$?
check "missing features file: I/O error (exit 4)" [ $rc = 4 ]
# a rank failing while the model is written: nothing published, no temp left
TC_FAIL_RANK=1 TC_FAIL_AT=fit-write timeout 120 "${MPIRUN[@]}" -x TC_FAIL_RANK -x TC_FAIL_AT -np 2 "$TC" fit --features "$F" --out $TMP/bad7.h5 2>$TMP/e7; rc=$?
check "rank 1 failing mid-write: non-zero exit, no hang" [ $rc != 0 -a $rc != 124 ]
check "rank 1 failing mid-write: nothing published, no temporary left" no_output $TMP bad7.h5
tc_run 1 fit --help >$TMP/help 2>&1
check "fit --help lists every option with its default" bash -c "grep -q 'coreset-ratio' $TMP/help && grep -q 'rot15flip' $TMP/help && grep -q '0.85' $TMP/help"
report
