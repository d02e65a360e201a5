#!/usr/bin/env bash
# tests/mpi/test_hostile_h5.sh - issue 19: crafted and damaged HDF5 inputs.
# Every hostile file is made here, at test time, with h5py from a small
# features file and its model (nothing binary is committed):
#  - attributes of the wrong shape or class (tc_kind as 50 fixed or
#    variable-length strings, as an integer, too long; D as 100 values, as a
#    float, a string, 2^64-1), datasets of rank 12 and 20 or of float64,
#    /paths of rank 2;
#  - sizes that overflow (fmap_h = 2^61 + 2 with fmap_w = 8 wraps to the
#    real HW = 16; fmap_h = INT64_MAX);
#  - NaN, inf and +-1e20 in /features, NaN in /embeddings and /memory_bank.
#    Each gives exit 3, one line naming the file and the problem, nothing
#    written, no temporary file, on 1 and 2 ranks;
#  - bit-flipped copies (seeded offsets) of the features and model files
#    through info, fit, tailsample and predict: never a signal or a hang,
#    and a refusal names the file.
. "$(dirname "$0")/lib.sh"
export TC_TIMEOUT=60
# SAN=1 builds: a damaged header can make libhdf5 ask for terabytes, which
# malloc refuses (HDF5 then fails cleanly) but ASan by default treats as fatal
export ASAN_OPTIONS="${ASAN_OPTIONS:-detect_leaks=0}:allocator_may_return_null=1"
FF=$BUILD/tests/tools/fake_features
cd "$TMP"

"${MPIRUN[@]}" -np 2 "$FF" write feat.h5 12 4 16 8 1 >/dev/null 2>&1
check "features file made" test -f feat.h5
tc_run 1 fit --quiet --features feat.h5 --method patchcore --out model.h5 >/dev/null 2>&1
check "model made" test -f model.h5
# the Debian python3-h5py lives under /usr/bin/python3, which a pyenv shim may hide
PY=
for p in ${PYTHON:-} python3 /usr/bin/python3; do
  "$p" -c "import h5py" 2>/dev/null && { PY=$p; break; }
done
[ -n "$PY" ] || { fail "python3-h5py is needed to make the hostile files"; report; exit; }

"$PY" - <<'EOF'
import shutil, h5py, numpy as np
def variant(src, dst, edit):
    shutil.copy(src, dst)
    with h5py.File(dst, "r+") as f:
        edit(f)
def attr(name, value):
    def e(f):
        del f.attrs[name]
        f.attrs[name] = value
    return e
def attrs(**kv):
    def e(f):
        for k, v in kv.items():
            del f.attrs[k]
            f.attrs[k] = v
    return e
def dset(name, shape, dtype="f4"):
    def e(f):
        del f[name]
        f.create_dataset(name, shape=shape, dtype=dtype)
    return e
def poke(name, index, value):
    def e(f):
        f[name][index] = value
    return e
def retype(name, dtype):
    def e(f):
        x = f[name][...]
        del f[name]
        f.create_dataset(name, data=x.astype(dtype))
    return e
F, M = "feat.h5", "model.h5"
variant(F, "f_kind50.h5", attr("tc_kind", np.array([b"features"] * 50, dtype="S8")))
variant(F, "f_kindvl.h5", attr("tc_kind", np.array(["features"] * 50, dtype=h5py.string_dtype())))
variant(F, "f_kindint.h5", attr("tc_kind", np.int64(7)))
variant(F, "f_kindlong.h5", attr("tc_kind", np.bytes_(b"features" * 600)))
variant(F, "f_D100.h5", attr("D", np.arange(100, dtype=np.int64)))
variant(F, "f_Dfloat.h5", attr("D", np.float64(16.0)))
variant(F, "f_Dstr.h5", attr("D", np.bytes_(b"16")))
variant(F, "f_Du64.h5", attr("D", np.uint64(2**64 - 1)))
variant(F, "f_rank12.h5", dset("features", (1,) * 12))
variant(F, "f_f64.h5", retype("features", "f8"))
variant(F, "f_paths2d.h5", dset("paths", (12, 2), "S8"))
variant(F, "f_fmapwrap.h5", attrs(fmap_h=np.int64(2**61 + 2), fmap_w=np.int64(8)))
variant(F, "f_fmapmax.h5", attr("fmap_h", np.int64(2**63 - 1)))
variant(F, "f_nan.h5", poke("features", (3, 5, 7), np.nan))
variant(F, "f_inf.h5", poke("features", (0, 0, 0), np.inf))
variant(F, "f_big.h5", poke("features", (0, 2, 1), 1e20))
variant(F, "f_nbig.h5", poke("features", (11, 15, 15), -1e20))
variant(F, "f_embnan.h5", poke("embeddings", (2, 1), np.nan))
variant(M, "m_nan.h5", poke("memory_bank", (1, 3), np.nan))
variant(M, "m_rank20.h5", dset("memory_bank", (1,) * 20))
variant(M, "m_fmapwrap.h5", attrs(fmap_h=np.int64(2**61 + 2), fmap_w=np.int64(8)))
variant(M, "m_D100.h5", attr("D", np.arange(100, dtype=np.int64)))
EOF
check "hostile files made" test -f m_D100.h5

# refused NP FILE PATTERN ARGS...: exit 3, exactly one line matching
# "FILE: ...PATTERN", no sign of a crash, nothing published, no temporary.
refused() {
  local np=$1 file=$2 pat=$3; shift 3
  [ "$np" = 1 ] || [[ "$file" =~ ^($TWO)\.h5$ ]] || return 0
  rm -f out.h5
  tc_run "$np" "$@" --quiet --out out.h5 >out.txt 2>err.txt; local rc=$?
  local what="$* ($np rank(s))"
  check "$what: exit 3" test $rc = 3
  check "$what: one line naming $file and '$pat'" \
    test "$(grep -c -- "$file: .*$pat" err.txt)" = 1
  check "$what: no crash report" bash -c '! grep -qiE "on signal|segmentation fault|sanitizer|runtime error:|core dumped|stack smashing|corrupted" err.txt'
  check "$what: nothing written, no temporary" bash -c '! ls out.h5 *.tmp.* 2>/dev/null | grep -q .'
  [ $rc = 3 ] || sed 's/^/    | /' err.txt | head -5
}

# every case on 1 rank; on 2 ranks those where the ranks read different rows
# or could disagree (a bad row on one rank, attributes read by all)
TWO="f_kind50|f_D100|f_fmapwrap|f_rank12|f_nan|f_nbig|f_embnan|m_nan|m_rank20|f_paths2d"
for np in 1 2; do
  refused $np f_kind50.h5 "attribute tc_kind holds 50 values" tailsample --features f_kind50.h5
  refused $np f_kindvl.h5 "attribute tc_kind holds 50 values" fit --features f_kindvl.h5 --method patchcore
  refused $np f_kindint.h5 "attribute tc_kind is not a string" tailsample --features f_kindint.h5
  refused $np f_kindlong.h5 "attribute tc_kind is longer than 63 bytes" fit --features f_kindlong.h5 --method patchcore
  refused $np f_D100.h5 "attribute D holds 100 values" fit --features f_D100.h5 --method patchcore
  refused $np f_Dfloat.h5 "attribute D is not an integer" fit --features f_Dfloat.h5 --method patchcore
  refused $np f_Dstr.h5 "attribute D is not an integer" predict --model model.h5 --features f_Dstr.h5
  refused $np f_Du64.h5 "attribute D = 9223372036854775807 is out of range" fit --features f_Du64.h5 --method patchcore
  refused $np f_rank12.h5 "dataset /features has 12 dimensions" fit --features f_rank12.h5 --method patchcore
  refused $np f_f64.h5 "wrong element type (expected float32)" fit --features f_f64.h5 --method patchcore
  refused $np f_paths2d.h5 "/paths has 2 dimensions" predict --model model.h5 --features f_paths2d.h5
  refused $np f_fmapwrap.h5 "attribute fmap_h = 2305843009213693954 is out of range" fit --features f_fmapwrap.h5 --method patchcore
  refused $np f_fmapwrap.h5 "attribute fmap_h = 2305843009213693954 is out of range" predict --model model.h5 --features f_fmapwrap.h5
  refused $np f_fmapmax.h5 "attribute fmap_h = 9223372036854775807 is out of range" fit --features f_fmapmax.h5 --method tailedcore
  refused $np f_nan.h5 "image 3: /features holds NaN at patch 5, channel 7" fit --features f_nan.h5 --method patchcore
  refused $np f_nan.h5 "image 3: /features holds NaN at patch 5, channel 7" predict --model model.h5 --features f_nan.h5
  refused $np f_inf.h5 "image 0: /features holds inf at patch 0, channel 0" predict --model model.h5 --features f_inf.h5
  refused $np f_big.h5 "image 0: /features holds 1e+20 at patch 2, channel 1" predict --model model.h5 --features f_big.h5
  refused $np f_nbig.h5 "image 11: /features holds -1e+20 at patch 15, channel 15" fit --features f_nbig.h5 --method softpatch
  refused $np f_embnan.h5 "image 2: /embeddings holds NaN at component 1" fit --features f_embnan.h5 --method tailedcore
  refused $np m_nan.h5 "/memory_bank row 1 holds NaN at column 3" predict --model m_nan.h5 --features feat.h5
  refused $np m_rank20.h5 "dataset /memory_bank has 20 dimensions" predict --model m_rank20.h5 --features feat.h5
  refused $np m_fmapwrap.h5 "attribute fmap_h = 2305843009213693954 is out of range" predict --model m_fmapwrap.h5 --features feat.h5
  refused $np m_D100.h5 "attribute D holds 100 values" predict --model m_D100.h5 --features feat.h5
done
# info reads every attribute: the hostile shapes are shown, not trusted
for f in f_kind50 f_kindvl f_D100 f_rank12 m_rank20; do
  tc_run 1 info $f.h5 >out.txt 2>err.txt; rc=$?
  check "info $f.h5: no signal (exit $rc)" test $rc -lt 124
done

# --- bit flips at seeded offsets (half of them in the first 4 KiB, where
# the superblock, object headers and attribute messages are)
"$PY" - <<'EOF'
import random
for src, tag in (("feat.h5", "ff"), ("model.h5", "mf")):
    data = open(src, "rb").read()
    for seed in range(10):
        r = random.Random(1000 * seed + len(tag))
        b = bytearray(data)
        for _ in range(1 + seed % 3):
            o = r.randrange(4096 if r.random() < 0.5 else len(b))
            b[o] ^= 1 << r.randrange(8)
        open("%s%02d.h5" % (tag, seed), "wb").write(bytes(b))
EOF
bad=""; refusals=0; nruns=0
# flip_run FILE ARGS...: any signal or hang is recorded; a refusal must name FILE
flip_run() {
  local file=$1; shift
  local np=$(( nruns % 4 == 3 ? 2 : 1 ))
  nruns=$((nruns + 1))
  rm -f out.h5
  tc_run $np "$@" --quiet >out.txt 2>err.txt; local rc=$?
  if [ $rc -ge 124 ]; then bad="$bad [$* on $np: exit $rc]"
  elif grep -qiE "on signal|segmentation fault|sanitizer|runtime error:|stack smashing|corrupted" err.txt; then
    bad="$bad [$* on $np: $(grep -iE -m1 "sanitizer|runtime error:|signal|smashing|corrupted" err.txt)]"
  elif [ $rc != 0 ]; then
    refusals=$((refusals + 1))
    grep -q "$file" err.txt || bad="$bad [$* on $np: exit $rc without naming $file: $(tail -1 err.txt)]"
  fi
}
for i in $(seq -w 0 9); do
  flip_run ff$i.h5 info ff$i.h5
  flip_run ff$i.h5 fit --features ff$i.h5 --method patchcore --out out.h5
  flip_run ff$i.h5 tailsample --features ff$i.h5 --out out.h5
  flip_run ff$i.h5 predict --model model.h5 --features ff$i.h5 --out out.h5
  flip_run mf$i.h5 info mf$i.h5
  flip_run mf$i.h5 predict --model mf$i.h5 --features feat.h5 --out out.h5
done
echo "bit flips: $nruns runs, $refusals refused"
check "bit-flipped files: no signal, no hang, refusals name the file${bad:+:$bad}" test -z "$bad"
check "bit-flipped files: no temporary left" bash -c '! ls *.tmp.* 2>/dev/null | grep -q .'
report
