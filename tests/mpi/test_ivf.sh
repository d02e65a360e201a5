#!/usr/bin/env bash
# Issue 17: predict --search ivf under real mpirun with 1-4 ranks.
#  - the same scores bits for 1, 2, 3, 4 ranks (every rank builds the same index);
#  - --nprobe = --nlist scans every row: the exact search's scores;
#  - the recall line and the scores.h5 attributes; exact runs carry none of them
#    and are unchanged by an explicit --search exact;
#  - refusals: --bank split, a bank too large for --mem-per-rank, --nlist /
#    --nprobe without --search ivf, bad values.
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

tc1 predict --model model.h5 --features feat.h5 --out exact.h5 >log.e 2>&1
check "exact predict exits 0" test $? = 0
tc1 predict --model model.h5 --features feat.h5 --out exact2.h5 --search exact >/dev/null 2>&1
check "--search exact == the default (every dataset and attribute)" h5diff exact.h5 exact2.h5
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
check "  image scores never below the exact ones" /usr/bin/python3 -c "
import h5py, numpy as np, sys
a = h5py.File('ivf1.h5')['image_scores'][:]; e = h5py.File('exact.h5')['image_scores'][:]
sys.exit(0 if np.all(a >= e) else 1)"
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
tc1 predict --model small.h5 --features feat.h5 --out smalle.h5 >/dev/null 2>&1
tc1 predict --model small.h5 --features feat.h5 --out smalli.h5 --search ivf --nlist 9999 --nprobe 99999 >/dev/null 2>&1
check "nlist above the rows (clamped to 300), nprobe clamped: exact scores" same smalle.h5 smalli.h5
check "  ivf_nlist 300" test "$(attr smalli.h5 ivf_nlist)" = 300
tc1 predict --model soft.h5 --features feat.h5 --out softe.h5 >/dev/null 2>&1
tc1 predict --model soft.h5 --features feat.h5 --out softi.h5 --search ivf --nlist 10 --nprobe 10 >/dev/null 2>&1
check "softpatch: every list probed == exact (weights follow the reordered rows)" same softe.h5 softi.h5

# --- refusals (nothing published)
tc_run 2 predict --model model.h5 --features feat.h5 --out no.h5 --search ivf --bank split >log.r1 2>&1; rc=$?
check "ivf with --bank split: exit 2" test $rc = 2
check "  one clear line" grep -q "search ivf needs the whole memory bank on every rank: it cannot run with --bank split" log.r1
check "  nothing published" test ! -e no.h5
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search ivf --mem-per-rank 1M >log.r2 2>&1; rc=$?
check "ivf bank over --mem-per-rank: exit 1" test $rc = 1
check "  says to raise it or use exact" grep -q "raise --mem-per-rank or use --search exact" log.r2
check "  nothing published" test ! -e no.h5
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --nprobe 4 >log.r3 2>&1; rc=$?
check "--nprobe without --search ivf: exit 2" test $rc = 2
check "  says so" grep -q "give them with --search ivf" log.r3
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search ivf --nprobe 0 >log.r4 2>&1; rc=$?
check "--nprobe 0: exit 2" test $rc = 2
tc1 predict --model model.h5 --features feat.h5 --out no.h5 --search ivf --nlist x >log.r5 2>&1; rc=$?
check "--nlist x: exit 2" test $rc = 2
check "  names the option" grep -q "\-\-nlist 'x'" log.r5
check "nothing published by the refusals" test ! -e no.h5
check "--help documents --search, --nlist, --nprobe with defaults" bash -c "
  '$TC' predict --help | grep -q -- '--search CHOICE.*default: exact' &&
  '$TC' predict --help | grep -q -- '--nlist.*default: auto' &&
  '$TC' predict --help | grep -q -- '--nprobe.*default: '"
check "no temporary files left" bash -c '! ls *.tmp.* 2>/dev/null | grep -q .'
report
