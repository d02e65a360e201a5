#!/usr/bin/env bash
# Issue 17: predict --search ivf under real mpirun with 1-4 ranks.
#  - the same scores bits for 1, 2, 3, 4 ranks (every rank builds the same index);
#  - --nprobe = --nlist scans every row: the exact search's scores;
#  - the image scores made exact by default (--image-score exact), within
#    1e-6 of the exact search's, softpatch too; --image-score ivf's never
#    below them;
#  - the recall line and the scores.h5 attributes; exact runs carry none of them;
#  - the default --search auto: ivf on a replicated bank (the same file as
#    --search ivf), exact where the bank is split (--bank split, or over
#    --mem-per-rank: the same file as --search exact);
#  - refusals: --bank split, a bank too large for --mem-per-rank, --nlist /
#    --nprobe with --search exact, bad values;
#  - a stored index (`tailedcore index`): the same file built on 1-4 ranks,
#    predict --index == predict's own build on 1, 2, 4 ranks, an index of
#    another bank or --nlist refused, bad inputs refused with one line and
#    no hang, no output over an input.
source "$(dirname "$0")/lib.sh"
export TC_TIMEOUT=60
# one rank as an MPI singleton (no mpirun start-up: keeps the suite short)
tc1() { echo "+ $TC $*" >&2; timeout --kill-after=5 60 "$TC" "$@"; }
same() { # a b: the three datasets of two scores files are bit-identical
  h5diff -q "$1" "$2" /image_scores && h5diff -q "$1" "$2" /anomaly_maps && h5diff -q "$1" "$2" /paths
}
attr() { # file name: the value of a root attribute
  h5dump -a "/$2" "$1" | sed -n 's/^ *(0): *//p' | tr -d '"'
}
cd "$TMP"

# --- inputs: a 5000-row bank (uniform noise: the hard case for an IVF), 7 test
# images of 28x28 patches, D 64
st 1 model model.h5 5000 64 28 1 >/dev/null 2>&1; check "score_tool model" test -f model.h5
st 1 model soft.h5 5000 64 28 1 fake softpatch >/dev/null 2>&1; check "score_tool softpatch model" test -f soft.h5
st 1 features feat.h5 7 28 64 1 >/dev/null 2>&1; check "score_tool features" test -f feat.h5

tc1 predict --model model.h5 --features feat.h5 --out exact.h5 --search exact >log.e 2>&1
check "exact predict exits 0" test $? = 0
check "exact scores carry no search attribute" bash -c '! h5dump -A exact.h5 | grep -q "ATTRIBUTE \"search\""'

tc1 predict --model model.h5 --features feat.h5 --out ivf1.h5 --search ivf >log.i1 2>&1
check "ivf predict 1 rank exits 0" test $? = 0
check "  logs the index" grep -q "ivf: index of 283 lists" log.i1
check "  logs the recall" grep -qE "ivf: nlist 283, nprobe 8, recall@1 [01]\.[0-9]{4} on [0-9]+ sampled patches" log.i1
check "  search attribute ivf" test "$(attr ivf1.h5 search)" = ivf
check "  ivf_nlist 283 (round(4 sqrt(5000)))" test "$(attr ivf1.h5 ivf_nlist)" = 283
check "  ivf_nprobe 8" test "$(attr ivf1.h5 ivf_nprobe)" = 8
check "  about 2000 patches in the recall sample" bash -c "r=\$(h5dump -a /ivf_recall_patches ivf1.h5 | sed -n 's/^ *(0): *//p'); test \$r -gt 1800 -a \$r -lt 2200"
rec=$(attr ivf1.h5 ivf_recall)
check "  recall in (0.3, 1] (uniform noise, 8 of 283 lists): $rec" awk -v r="$rec" 'BEGIN{exit !(r > 0.3 && r <= 1)}'
# the default --image-score exact: each image score the exact search's.
# Compared within 1e-6: the rescoring's sgemm shapes are not the exact
# search's, so a key could round differently on another BLAS kernel
cmp_scores() { # a b rel: every image score of a within rel of b's
  /usr/bin/python3 -c "
import h5py, numpy as np, sys
a = h5py.File('$1')['image_scores'][:]; b = h5py.File('$2')['image_scores'][:]
sys.exit(0 if a.shape == b.shape and np.all(np.abs(a - b) <= $3 * np.abs(b)) else 1)"
}
check "  image scores == the exact search's (within 1e-6)" cmp_scores ivf1.h5 exact.h5 1e-6
check "  logs the rescoring" grep -qE "ivf: image scores made exact by rescoring [0-9]+ patches against the whole bank" log.i1
check "  ivf_image_score exact" test "$(attr ivf1.h5 ivf_image_score)" = exact
nx=$(attr ivf1.h5 ivf_exact_patches)
check "  ivf_exact_patches in [7, 7 x 784): $nx" test "$nx" -ge 7 -a "$nx" -lt 5488
tc1 predict --model model.h5 --features feat.h5 --out raw1.h5 --search ivf --image-score ivf >log.w1 2>&1
check "--image-score ivf exits 0" test $? = 0
check "  ivf_image_score ivf, no patch rescored" test "$(attr raw1.h5 ivf_image_score) $(attr raw1.h5 ivf_exact_patches)" = "ivf 0"
check "  image scores never below the exact ones, some above (recall < 1)" /usr/bin/python3 -c "
import h5py, numpy as np, sys
a = h5py.File('raw1.h5')['image_scores'][:]; e = h5py.File('exact.h5')['image_scores'][:]
sys.exit(0 if np.all(a >= e) and np.any(a > e * (1 + 1e-5)) else 1)"
tc_run 3 predict --model model.h5 --features feat.h5 --out raw3.h5 --search ivf --image-score ivf >/dev/null 2>&1
check "  3 ranks == 1 rank (bitwise)" same raw1.h5 raw3.h5
for np in 2 3 4; do
  tc_run $np predict --model model.h5 --features feat.h5 --out ivf$np.h5 --search ivf >log.i$np 2>&1
  check "ivf predict $np ranks exits 0" test $? = 0
  check "ivf $np ranks == 1 rank (bitwise)" same ivf1.h5 ivf$np.h5
  check "  same recall on $np ranks" test "$(attr ivf$np.h5 ivf_recall)" = "$rec"
done

# --- every list probed: the exact search's scores
tc_run 3 predict --model model.h5 --features feat.h5 --out all3.h5 --search ivf --nlist 40 --nprobe 40 >log.a3 2>&1
check "nprobe = nlist on 3 ranks exits 0" test $? = 0
check "  == exact scores (bitwise)" same exact.h5 all3.h5
check "  recall 1" test "$(attr all3.h5 ivf_recall)" = 1
st 1 model small.h5 300 64 28 1 >/dev/null 2>&1
tc1 predict --model small.h5 --features feat.h5 --out smalle.h5 --search exact >/dev/null 2>&1
tc1 predict --model small.h5 --features feat.h5 --out smalli.h5 --search ivf --nlist 9999 --nprobe 99999 >/dev/null 2>&1
check "nlist above the rows (clamped to 300), nprobe clamped: exact scores" same smalle.h5 smalli.h5
check "  ivf_nlist 300" test "$(attr smalli.h5 ivf_nlist)" = 300
tc1 predict --model soft.h5 --features feat.h5 --out softe.h5 --search exact >/dev/null 2>&1
tc1 predict --model soft.h5 --features feat.h5 --out softi.h5 --search ivf --nlist 10 --nprobe 10 >/dev/null 2>&1
check "softpatch: every list probed == exact (weights follow the reordered rows)" same softe.h5 softi.h5
tc_run 2 predict --model soft.h5 --features feat.h5 --out softc.h5 --search ivf --nlist 40 --nprobe 1 >/dev/null 2>&1
check "softpatch, 1 of 40 lists: image scores == exact's (bound x largest weight)" cmp_scores softc.h5 softe.h5 1e-6

# --- the default, --search auto: ivf where the bank is replicated, exact
# where it must be split; which one ran is logged and recorded
tc_run 2 predict --model model.h5 --features feat.h5 --out auto2.h5 >log.u2 2>&1
check "default predict on 2 ranks exits 0" test $? = 0
check "  logs search ivf (auto)" grep -q "(replicated, .*search ivf (auto)" log.u2
check "  the same file as --search ivf (every dataset and attribute)" h5diff ivf1.h5 auto2.h5
tc_run 2 predict --model model.h5 --features feat.h5 --out autos.h5 --bank split >log.us 2>&1
check "default predict with --bank split exits 0" test $? = 0
check "  logs search exact (auto), bank split" grep -q "(split, .*search exact (auto)" log.us
check "  the same scores as --search exact (bitwise)" same exact.h5 autos.h5
tc_run 2 predict --model model.h5 --features feat.h5 --out autom.h5 --mem-per-rank 8M >log.um 2>&1
check "default predict over --mem-per-rank for the index exits 0" test $? = 0
check "  falls back to the exact search (bank replicated)" grep -q "(replicated, .*search exact (auto)" log.um
check "  the same image scores as ivf's (within 1e-6)" cmp_scores autom.h5 ivf1.h5 1e-6
tc_run 2 predict --model model.h5 --features feat.h5 --out no.h5 --index nosuch.h5 --bank split >log.ui 2>&1; rc=$?
check "an explicit --index with --bank split: refused (exit 2), not made exact" test $rc = 2
check "  nothing published" test ! -e no.h5

# --- refusals (nothing published)
tc_run 2 predict --model model.h5 --features feat.h5 --out no.h5 --search ivf --bank split >log.r1 2>&1; rc=$?
check "ivf with --bank split: exit 2" test $rc = 2
check "  one clear line" grep -q "search ivf needs the whole memory bank on every rank: it cannot run with --bank split" log.r1
check "  nothing published" test ! -e no.h5
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search ivf --mem-per-rank 1M >log.r2 2>&1; rc=$?
check "ivf bank over --mem-per-rank: exit 1" test $rc = 1
check "  says to raise it or use exact" grep -q "raise --mem-per-rank or use --search exact" log.r2
check "  nothing published" test ! -e no.h5
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search exact --nprobe 4 >log.r3 2>&1; rc=$?
check "--nprobe with --search exact: exit 2" test $rc = 2
check "  says so" grep -q "give them with --search ivf" log.r3
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search ivf --nprobe 0 >log.r4 2>&1; rc=$?
check "--nprobe 0: exit 2" test $rc = 2
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search ivf --nlist x >log.r5 2>&1; rc=$?
check "--nlist x: exit 2" test $rc = 2
check "  names the option" grep -q "\-\-nlist 'x'" log.r5
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search exact --image-score ivf >log.r6 2>&1; rc=$?
check "--image-score ivf with --search exact: exit 2" bash -c "test $rc = 2 && grep -q 'give it with --search ivf' log.r6"
check "nothing published by the refusals" test ! -e no.h5
check "--help documents --search, --nlist, --nprobe with defaults" bash -c "
  '$TC' predict --help | grep -q -- '--search CHOICE.*default: auto' &&
  '$TC' predict --help | grep -q -- '--nlist.*default: auto' &&
  '$TC' predict --help | grep -q -- '--nprobe.*default: ' &&
  '$TC' predict --help | grep -q -- '--image-score CHOICE.*default: exact'"
# --- a stored index: tailedcore index, predict --index
tc1 index --model model.h5 --out idx1.h5 >log.x1 2>&1
check "index 1 rank exits 0" test $? = 0
check "  logs the build" grep -qE "index: 283 lists over 5000 x 64 rows .* built on 1 rank\(s\)" log.x1
check "  nlist 283, seed 20261206 stored" test "$(attr idx1.h5 nlist) $(attr idx1.h5 seed)" = "283 20261206"
tc_run 3 index --model model.h5 --out idx3.h5 >log.x3 2>&1
check "index 3 ranks exits 0" test $? = 0
check "  == the 1-rank file (every dataset and attribute)" h5diff idx1.h5 idx3.h5
# 40 lists: 1280 training rows (2 blocks) and 5000 rows (5 blocks) dealt unevenly,
# some ranks without a training block
tc1 index --model model.h5 --out i40_1.h5 --nlist 40 >/dev/null 2>&1
for np in 2 4; do
  tc_run $np index --model model.h5 --out i40_$np.h5 --nlist 40 >/dev/null 2>&1
  check "index --nlist 40 on $np ranks == 1 rank" h5diff i40_1.h5 i40_$np.h5
done
tc1 predict --model model.h5 --features feat.h5 --out x1.h5 --search ivf --index idx3.h5 >log.p1 2>&1
check "predict --index 1 rank exits 0" test $? = 0
check "  logs the load" grep -q "ivf: index of 283 lists (seed 20261206; lists of .*) loaded from idx3.h5" log.p1
check "  == predict's own build (every dataset and attribute)" h5diff ivf1.h5 x1.h5
for np in 2 4; do
  tc_run $np predict --model model.h5 --features feat.h5 --out x$np.h5 --search ivf --index idx1.h5 >/dev/null 2>&1
  check "predict --index on $np ranks == own build on 1 rank" h5diff ivf1.h5 x$np.h5
done
tc_run 3 predict --model model.h5 --features feat.h5 --out y3.h5 --search ivf --nlist 40 --index i40_4.h5 \
  >/dev/null 2>&1
tc1 predict --model model.h5 --features feat.h5 --out y1.h5 --search ivf --nlist 40 >/dev/null 2>&1
check "--nlist 40 --index on 3 ranks == own build" h5diff y1.h5 y3.h5
st 1 model other.h5 5000 64 28 2 >/dev/null 2>&1
tc_run 2 predict --model other.h5 --features feat.h5 --out no.h5 --search ivf --index idx1.h5 >log.m1 2>&1; rc=$?
check "index of another bank (same shape): exit 3" test $rc = 3
check "  one line naming both" grep -q "idx1.h5: an index of another memory bank .* than other.h5's" log.m1
tc1 predict --model small.h5 --features feat.h5 --out no.h5 --search ivf --index idx1.h5 >log.m2 2>&1; rc=$?
check "index of another bank (300 rows): exit 3" test $rc = 3
check "  says the rows" grep -q "(5000 x 64, digest [0-9a-f]*) than small.h5's (300 x 64" log.m2
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search ivf --index idx1.h5 --nlist 40 >log.m3 2>&1
rc=$?
check "--nlist 40 against an index of 283 lists: exit 2" test $rc = 2
check "  says so" grep -q "\-\-nlist 40 differs from the 283 lists of idx1.h5" log.m3
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search ivf --index gone.h5 >log.m4 2>&1; rc=$?
check "missing --index: exit 4, naming it" bash -c "test $rc = 4 && grep -q 'gone.h5: no such file' log.m4"
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search ivf --index model.h5 >log.m5 2>&1; rc=$?
check "a model as --index: exit 3" bash -c "test $rc = 3 && grep -q 'model.h5: is a model file, expected a ivf_index file' log.m5"
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search exact --index idx1.h5 >log.m6 2>&1; rc=$?
check "--index with --search exact: exit 2" test $rc = 2
tc1 predict --model model.h5 --features feat.h5 --out idx1.h5 --search ivf --index idx1.h5 >log.m7 2>&1; rc=$?
check "predict --out over its --index: exit 2" bash -c "test $rc = 2 && grep -q 'refusing to overwrite an input' log.m7"
check "  the index unchanged" h5diff idx1.h5 idx3.h5
check "nothing published by the index refusals" test ! -e no.h5
sum=$(md5sum <model.h5)
tc_run 2 index --model model.h5 --out model.h5 >log.n1 2>&1; rc=$?
check "index --out over its --model: exit 2, one line" bash -c "test $rc = 2 && test \$(grep -c tailedcore: log.n1) = 1 && grep -q 'is the same file as --model' log.n1"
check "  the model unchanged" test "$(md5sum <model.h5)" = "$sum"
tc_run 2 index --model gone.h5 --out no.h5 >log.n2 2>&1; rc=$?
check "index of a missing model, 2 ranks: exit 4 naming it" bash -c "test $rc = 4 && grep -q 'index: gone.h5: no such file' log.n2"
echo "not hdf5" >junk.h5
tc_run 3 index --model junk.h5 --out no.h5 >log.n3 2>&1; rc=$?
check "index of a non-HDF5 file, 3 ranks: exit 3" bash -c "test $rc = 3 && grep -q 'junk.h5: not an HDF5 file' log.n3"
tc_run 2 index --model feat.h5 --out no.h5 >log.n4 2>&1; rc=$?
check "index of a features file: exit 3" bash -c "test $rc = 3 && grep -q 'feat.h5: is a features file, expected a model file' log.n4"
tc1 index --model model.h5 --out no.h5 --seed -1 >/dev/null 2>&1; rc=$?
check "index --seed -1: exit 2" test $rc = 2
check "nothing published by the failed index runs" test ! -e no.h5
check "index --help documents --model, --out, --nlist, --seed with defaults" bash -c "
  h=\$('$TC' index --help) &&
  grep -q -- '--model STR.*required' <<<\"\$h\" && grep -q -- '--out STR.*required' <<<\"\$h\" &&
  grep -q -- '--nlist.*default: auto' <<<\"\$h\" && grep -q -- '--seed N.*default: 20261206' <<<\"\$h\""
check "predict --help documents --index" bash -c "'$TC' predict --help | grep -q -- '--index STR'"
check "no temporary files left" bash -c '! ls *.tmp.* 2>/dev/null | grep -q .'
report
