#!/usr/bin/env bash
# Issue 2: the parallel HDF5 layer, atomic publication, error discipline and
# the command line, under real mpirun with 1-4 ranks.
source "$(dirname "$0")/lib.sh"
FF=$BUILD/tests/tools/fake_features
ff() { local np=$1; shift; timeout --kill-after=5 120 "${MPIRUN[@]}" -np "$np" "$FF" "$@"; }
cd "$TMP"

# --- written by 3 ranks == written by 1 rank; read back identically by 1..4
ff 1 write one.h5 23 5 16 7 42 >/dev/null 2>&1; check "1-rank write" test -f one.h5
ff 3 write three.h5 23 5 16 7 42 >/dev/null 2>&1; check "3-rank write" test -f three.h5
check "3-rank file content == 1-rank file content (h5diff)" h5diff -q one.h5 three.h5
ref=$(ff 1 sum one.h5 2>/dev/null)
for np in 1 2 3 4; do
  got=$(ff $np sum three.h5 2>/dev/null)
  check "read 3-rank file with $np ranks: same digest" test -n "$ref" -a "$got" = "$ref"
done
check "no temporary files left" bash -c '! ls *.tmp.* 2>/dev/null | grep -q .'
check "h5dump reads it" bash -c "h5dump -H three.h5 | grep -q 'DATASET \"features\"'"

# --- info
out=$(tc_run 2 info three.h5 2>&1); rc=$?
check "info exits 0" test $rc = 0
check "info names kind" grep -q "tailedcore features file" <<<"$out"
check "info shows shape" grep -q "\[23 x 25 x 16\]" <<<"$out"
check "info shows attributes" grep -q '@backbone = "fake"' <<<"$out"
# integers print exactly: read as (unsigned) long long by the stored type's sign,
# not through a double (2^53 + 1 would print as ...992, a 64-bit digest rounded)
cp one.h5 big.h5
if /usr/bin/python3 -c '
import h5py, numpy as np
with h5py.File("big.h5", "a") as f:
    f.attrs["big_i64"] = np.int64(2**53 + 1)
    f.attrs["neg_i64"] = np.int64(-2**63 + 1)
    f.attrs["max_u64"] = np.uint64(2**64 - 1)
    f.attrs["pair_i64"] = np.array([2**62 + 3, -1], dtype=np.int64)
    f.attrs["half"] = np.float64(0.5)
    f["diag"] = np.array([2**53 + 1, 7], dtype=np.int64)
' 2>"$TMP/py.err"; then
  out=$(tc_run 1 info big.h5 2>&1); rc=$?
  check "info: int64 attribute 2^53+1 exactly" grep -qx '  @big_i64 = 9007199254740993' <<<"$out"
  check "info: int64 attribute -(2^63-1) exactly" grep -qx '  @neg_i64 = -9223372036854775807' <<<"$out"
  check "info: uint64 attribute 2^64-1 exactly" grep -qx '  @max_u64 = 18446744073709551615' <<<"$out"
  check "info: int64 array attribute exactly" grep -qx '  @pair_i64 = \[4611686018427387907, -1\]' <<<"$out"
  check "info: float attribute unchanged (%.6g)" grep -qx '  @half = 0.5' <<<"$out"
  check "info: small int64 dataset exactly" grep -q '^  /diag  *int64  *\[2\] = 9007199254740993 7$' <<<"$out"
else
  fail "h5py: add large integer attributes ($(tail -1 "$TMP/py.err"))"
fi
# an index file's bank_digest (a 64-bit hash) as h5dump shows it
if "$TC" index --help >/dev/null 2>&1; then
  "$TC" fit --features one.h5 --method patchcore --out m.h5 --quiet >/dev/null 2>&1 &&
    "$TC" index --model m.h5 --out index.h5 --quiet >/dev/null 2>&1
  want=$(h5dump -A -a /bank_digest index.h5 2>/dev/null | sed -n 's/^ *(0): *//p')
  got=$(tc_run 1 info index.h5 2>/dev/null | sed -n 's/^  @bank_digest = //p')
  check "info: index.h5 bank_digest = h5dump's ($want)" sh -c "[ -n '$want' ] && [ '$got' = '$want' ]"
  rm -f m.h5 index.h5
fi

# --- command line
out=$("$TC" --help 2>&1); check "--help exit 0 and lists commands" bash -c "[ $? = 0 ] && grep -q extract <<<'$out' && grep -q info <<<'$out'"
out=$("$TC" info --help 2>&1); check "info --help" grep -q "usage: tailedcore info" <<<"$out"
"$TC" bogus >/dev/null 2>err.txt; rc=$?
check "unknown command: exit 2" test $rc = 2
check "unknown command: one line" test "$(wc -l <err.txt)" = 1
"$TC" info --frobnicate x >/dev/null 2>err.txt; rc=$?
check "unknown option: exit 2 + message" bash -c "[ $rc = 2 ] && grep -q \"unknown option '--frobnicate'\" err.txt"
"$TC" info >/dev/null 2>err.txt; check "info without file: exit 2" test $? = 2
for c in extract fit predict eval tailsample; do
  "$TC" $c --help >/dev/null 2>&1; rc=$?
  check "$c --help answers (0 if built, 2 'not built yet')" bash -c "[ $rc = 0 ] || [ $rc = 2 ]"
done

# --- bad files: clear error, exit 3/4, nothing under the final name
echo "hello" >noth5.h5
tc_run 2 info noth5.h5 >/dev/null 2>err.txt; rc=$?
check "non-HDF5 file: exit 3" test $rc = 3
check "non-HDF5 file: message names file" grep -q "noth5.h5: not an HDF5 file" err.txt
tc_run 2 info missing.h5 >/dev/null 2>err.txt; rc=$?
check "missing file: exit 4 + message" bash -c "[ $rc = 4 ] && grep -q 'missing.h5: no such file' err.txt"
FAKE_BREAK=other-kind ff 2 write model.h5 4 2 4 3 >/dev/null 2>&1
ff 2 sum model.h5 >/dev/null 2>err.txt; rc=$?
check "wrong kind: exit 3 + message" bash -c "[ $rc = 3 ] && grep -q 'is a model file, expected a features file' err.txt"
FAKE_BREAK=omit-embeddings ff 2 write noemb.h5 6 2 4 3 >/dev/null 2>&1
ff 3 sum noemb.h5 >/dev/null 2>err.txt; rc=$?
check "missing dataset: exit 3 + message" bash -c "[ $rc = 3 ] && grep -q 'missing dataset /embeddings' err.txt"
FAKE_BREAK=bad-shape ff 2 write badshape.h5 6 2 4 3 >/dev/null 2>&1
ff 2 sum badshape.h5 >/dev/null 2>err.txt; rc=$?
check "wrong shape: exit 3 + message" bash -c "[ $rc = 3 ] && grep -q '/embeddings has shape \[7 x 3\], expected \[6 x 3\]' err.txt"
ff 2 write /nonexistent-dir/x.h5 4 2 4 3 >/dev/null 2>err.txt; rc=$?
check "missing output directory: exit 4 + message" bash -c "[ $rc = 4 ] && grep -q 'output directory /nonexistent-dir does not exist' err.txt"
mkdir ro && chmod 555 ro
ff 2 write ro/x.h5 4 2 4 3 >/dev/null 2>err.txt; rc=$?
if [ "$(id -u)" = 0 ]; then
  # root passes permission checks; a directory the kernel refuses still must fail cleanly
  ff 2 write /proc/x.h5 4 2 4 3 >/dev/null 2>err.txt; rc=$?
  check "unwritable output (/proc as root): non-zero + message" bash -c "[ $rc != 0 ] && grep -q 'x.h5' err.txt"
  check "unwritable output: nothing created" test ! -e /proc/x.h5
else
  check "unwritable output directory: exit 4 + message" bash -c "[ $rc = 4 ] && grep -q 'not writable' err.txt"
  check "unwritable output: nothing created" bash -c "! ls ro | grep -q ."
fi

# --- a failure on one rank in the middle of a write: all exit, no hang,
# the published file untouched, no temp file
cp three.h5 published.h5; before=$(md5sum <published.h5)
for np in 2 3 4; do
  start=$(date +%s)
  TC_FAIL_RANK=1 TC_FAIL_AT=h5write ff $np write published.h5 23 5 16 7 99 >/dev/null 2>err.txt; rc=$?
  check "injected failure on rank 1 of $np: exit 4, no hang ($(( $(date +%s) - start ))s)" test $rc = 4
  check "injected failure: message names rank and file" grep -q "rank 1: published.h5: injected failure" err.txt
  check "injected failure: published file unchanged" test "$(md5sum <published.h5)" = "$before"
  check "injected failure: no temp file left" bash -c '! ls published.h5.tmp.* 2>/dev/null | grep -q .'
done
report
