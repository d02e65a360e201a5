#!/usr/bin/env bash
# bench/run.sh - run every benchmark on the machine at hand and write
# BENCHMARKS.md (issue 9). `make bench` calls it; bench/README.md explains the
# order, the line format stage scripts print, and the peers.
#
#   bench/run.sh [--quick] [--out FILE] [--no-deps] [--no-build] [--only STAGE] [--no-stages]
#     --only STAGE: limits, MPI and bench/STAGE_bench.sh only (no scaling)
#     --no-stages:  limits, MPI, scaling and cost model, no bench/*_bench.sh
#
# Everything measured goes to $BUILD/bench/: one log per step, results.kv (every
# key=value: machine, limits, MPI, METRIC lines, peers, scaling) and
# bench-lines.txt (every BENCH line). The report is rebuilt from those files, so
# nothing in BENCHMARKS.md is typed by hand or copied from another run.
# Nothing here fails on a slow number; it fails (exit 1) only when the limits
# themselves could not be measured. A stage that dies is reported as such.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
MAKE=${MAKE:-make}
PY=/usr/bin/python3            # Debian's: numpy, torch, sklearn, scipy, faiss (pyenv's python3 has none)
quick=0 out=$ROOT/BENCHMARKS.md do_deps=1 do_build=1 only="" do_stages=1

usage() { sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
  case "$1" in
    --quick) quick=1 ;;
    --out) out=$2; shift ;;
    --no-deps) do_deps=0 ;;
    --no-build) do_build=0 ;;
    --only) only=$2; shift ;;
    --no-stages) do_stages=0 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench/run.sh: unknown option '$1'" >&2; usage >&2; exit 2 ;;
  esac
  shift
done
case "$out" in /*) ;; *) out=$ROOT/$out ;; esac
[ -n "${SKIP_DEPS:-}" ] && do_deps=0   # make bench SKIP_DEPS=1, as for make test

BD=$BUILD/bench
mkdir -p "$BD"
KV=$BD/results.kv LINES=$BD/bench-lines.txt RAW=$BD/raw-lines.txt
: >"$KV"; : >"$LINES"; : >"$RAW"
TMPROOT=$(mktemp -d "${TMPDIR:-/tmp}/tcbench.XXXXXX")
trap 'rm -rf "$TMPROOT"' EXIT
qflag=(); [ $quick = 1 ] && qflag=(--quick)
NCORES=$(nproc 2>/dev/null || echo 1)

kv() { printf '%s=%s\n' "$1" "$2" >>"$KV"; }
kvget() { grep -E "^$1=" "$KV" | tail -1 | cut -d= -f2-; }
say() { echo "bench: $*" >&2; }

# As tests/mpi/lib.sh: oversubscription for 3-4 ranks on 2 cores, root
# allowed (containers). Unlike the tests we keep Open MPI's single-copy (CMA)
# for large messages when it works, since that is what a user gets; the
# ping-pong below falls back to single-copy off if CMA is blocked.
MPIRUN="mpirun --oversubscribe --bind-to none"
[ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
export OMPI_MCA_rmaps_base_oversubscribe=1

# ---- machine -------------------------------------------------------------
kv date "$(date -u '+%Y-%m-%d %H:%M UTC')"
commit=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
[ -n "$(git status --porcelain --untracked-files=no 2>/dev/null)" ] && commit="$commit (+ uncommitted changes)"
kv commit "$commit"
kv cpu_model "$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')"
kv cores "$NCORES"
kv mem_gib "$(awk '/MemTotal/ {printf "%.1f", $2/1048576}' /proc/meminfo 2>/dev/null)"
kv hypervisor "$(lscpu 2>/dev/null | awk -F: '/Hypervisor vendor/ {gsub(/^ +/, "", $2); print $2}')"
kv kernel "$(uname -r)"
kv mpi "$(mpirun --version 2>/dev/null | head -1)"
kv openblas "$(dpkg-query -W -f='${Version}' libopenblas0-pthread 2>/dev/null || echo '?')"
kv quick "$quick"

# ---- peers: install (root) and check what can really be imported -----------
if [ $do_deps = 1 ]; then
  if ./deps.sh bench >"$BD/deps.log" 2>&1; then kv deps ok
  else kv deps "failed: $(tail -1 "$BD/deps.log")"; say "./deps.sh bench failed (see $BD/deps.log); missing peers are reported"; fi
fi
# name  python-module  Debian package
peers="numpy:numpy:python3-numpy torch:torch:python3-torch torchvision:torchvision:python3-torchvision
sklearn:sklearn:python3-sklearn scipy:scipy:python3-scipy joblib:joblib:python3-joblib faiss:faiss:python3-faiss PIL:PIL:python3-pil"
for p in $peers; do
  IFS=: read -r name mod pkg <<<"$p"
  if [ ! -x "$PY" ]; then v="unavailable: $PY missing"
  elif v=$("$PY" -c "import $mod, sys; print(getattr($mod, '__version__', 'ok'))" 2>"$BD/peer-$name.err"); then :
  else v="unavailable: $(tail -1 "$BD/peer-$name.err") (Debian: $pkg)"; fi
  kv "peer.$name" "$v"
done

# ---- build ---------------------------------------------------------------
if [ $do_build = 1 ]; then
  say "building bench programs and $BUILD/tailedcore"
  $MAKE --no-print-directory BUILD="$BUILD" SKIP_DEPS=1 check-pkgs "$BUILD/bench/limits" "$BUILD/bench/pingpong" >"$BD/build.log" 2>&1 \
    || { say "bench/limits or bench/pingpong failed to build, see $BD/build.log"; tail -20 "$BD/build.log" >&2; exit 1; }
  # tailedcore, the unit binaries (stage scripts use their bench modes, e.g.
  # tests/test_cnn --bench) and other bench/*.c may be mid-development: a
  # failed build is reported, the stages that need it say so, and the limits
  # are still measured
  units=(); for f in tests/unit/test_*.c; do [ -f "$f" ] && units+=("$BUILD/tests/$(basename "$f" .c)"); done
  if $MAKE --no-print-directory -k -j"$NCORES" BUILD="$BUILD" SKIP_DEPS=1 all "${units[@]}" >>"$BD/build.log" 2>&1; then kv build ok
  else kv build "failed (see $BD/build.log)"; say "tailedcore build failed; continuing with what exists"; fi
  if $MAKE --no-print-directory -k -j"$NCORES" BUILD="$BUILD" SKIP_DEPS=1 bench-bin >>"$BD/build.log" 2>&1; then kv build_bench ok
  else kv build_bench "failed (see $BD/build.log)"; say "some bench/*.c failed to build; continuing"; fi
fi

# ---- limits --------------------------------------------------------------
say "limits (sgemm, bandwidth)"
if ! "$BUILD/bench/limits" "${qflag[@]}" --threads "$NCORES" >"$BD/limits.log" 2>"$BD/limits.err"; then
  say "limits failed:"; cat "$BD/limits.err" >&2; exit 1
fi
grep -E '^[A-Za-z0-9_]+=' "$BD/limits.log" >>"$KV"
for k in sgemm_gflops_1t sgemm_gflops triad_gbs_1t triad_gbs read_gbs_1t read_gbs; do
  export "LIMIT_$(echo "$k" | tr a-z A-Z)=$(kvget "$k")"
done

# ---- MPI ping-pong / allreduce ---------------------------------------------
say "MPI ping-pong and allreduce (2 ranks)"
pingpong() { timeout --kill-after=10 600 $MPIRUN -np 2 "$BUILD/bench/pingpong" "${qflag[@]}" >"$BD/pingpong.log" 2>"$BD/pingpong.err"; }
pp_ok=1
if pingpong; then kv mpi_single_copy "on (CMA, Open MPI's default)"
else
  export OMPI_MCA_btl_vader_single_copy_mechanism=none
  if pingpong; then kv mpi_single_copy "off (CMA failed here)"
  else pp_ok=0; unset OMPI_MCA_btl_vader_single_copy_mechanism; fi
fi
if [ $pp_ok = 1 ]; then
  grep -E '^[A-Za-z0-9_]+=' "$BD/pingpong.log" >>"$KV"; kv pingpong ok
else
  kv pingpong "failed: $(grep -v '^-' "$BD/pingpong.err" | head -1)"
  say "pingpong failed, see $BD/pingpong.err"
fi

# ---- stage benches -------------------------------------------------------
export BUILD PY MPIRUN BENCH_QUICK=$quick BENCH_THREADS=$NCORES
stage_timeout=${BENCH_STAGE_TIMEOUT:-$([ $quick = 1 ] && echo 300 || echo 1800)}
if [ $do_stages = 0 ]; then kv stages_mode "--no-stages"; elif [ -n "$only" ]; then kv stages_mode "--only $only"; else kv stages_mode all; fi
for script in bench/*_bench.sh; do
  [ -f "$script" ] && [ $do_stages = 1 ] || continue
  name=$(basename "$script" _bench.sh)
  [ -n "$only" ] && [ "$name" != "$only" ] && continue
  say "stage $name ($script, limit ${stage_timeout}s)"
  export BENCH_TMP=$TMPROOT/$name; mkdir -p "$BENCH_TMP"
  t0=$(date +%s)
  # no arguments (scripts have their own options); --quick travels as BENCH_QUICK=1
  timeout --kill-after=10 "$stage_timeout" bash "$script" </dev/null >"$BD/${name}_bench.log" 2>"$BD/${name}_bench.err"
  rc=$?
  kv "stage.$name.rc" "$rc"; kv "stage.$name.seconds" "$(( $(date +%s) - t0 ))"
  [ $rc = 124 ] && kv "stage.$name.rc" "timeout after ${stage_timeout}s"
  [ -s "$BD/${name}_bench.err" ] && kv "stage.$name.err_tail" "$(grep -v '^ *$' "$BD/${name}_bench.err" | tail -1 | cut -c1-160)"
  grep -E '^BENCH ' "$BD/${name}_bench.log" | sed "s/^BENCH /BENCH script=$name /" >>"$LINES"
  grep -E '^METRIC ' "$BD/${name}_bench.log" | sed 's/^METRIC *//' | tr ' ' '\n' | grep -E '^[A-Za-z0-9_.]+=' >>"$KV"
  grep -vE '^(BENCH|METRIC) ' "$BD/${name}_bench.log" | sed "s|^|$name: |" >>"$RAW"
  rm -rf "$BENCH_TMP"
done

# ---- scaling: end-to-end extract + fit on 1, 2 (speed) and 3, 4 ranks (correctness) ----
# The synthetic data set (tc-synth, a noisy long-tail variant) is extracted and
# fitted; BENCH_DATA=ROOT uses an MVTec-layout root instead. Wall clock of the
# whole mpirun, OpenBLAS on 1 thread per rank so ranks x threads never exceeds
# the cores. Every fit reads the 1-rank features, so the model comparison
# isolates fit; the 2-rank features are compared with the 1-rank ones too.
TC=$BUILD/tailedcore
# same_output A B TOL: "yes (bit-identical)", "yes (max diff X)" or "no: ..."
same_output() {
  "$PY" - "$@" <<'PYEOF'
import sys, h5py, numpy as np
def walk(f):
    out = {}
    f.visititems(lambda n, o: out.__setitem__(n, o[()]) if isinstance(o, h5py.Dataset) else None)
    return out
a, b, tol = walk(h5py.File(sys.argv[1], "r")), walk(h5py.File(sys.argv[2], "r")), float(sys.argv[3])
if a.keys() != b.keys():
    print("no: datasets differ: %s" % sorted(set(a) ^ set(b))); sys.exit()
bad, worst = [], 0.0
for k in sorted(a):
    x, y = np.asarray(a[k]), np.asarray(b[k])
    if x.shape != y.shape: bad.append(k + " shape"); continue
    if np.array_equal(x, y): continue
    if x.dtype.kind == "f":
        d = float(np.max(np.abs(x.astype(np.float64) - y))); worst = max(worst, d)
        if d > tol: bad.append("%s max diff %.2g" % (k, d))
    else: bad.append(k)
print("no: " + ", ".join(bad) if bad else ("yes (bit-identical)" if worst == 0 else "yes (max diff %.2g)" % worst))
PYEOF
}
# timed KEY NP LOG CMD...: run CMD under mpirun on NP ranks, record seconds or the failure
timed() {
  local key=$1 np=$2 log=$3; shift 3
  local t0 t1; t0=$(date +%s.%N)
  if OPENBLAS_NUM_THREADS=1 timeout --kill-after=10 "$stage_timeout" $MPIRUN -x OPENBLAS_NUM_THREADS -np "$np" "$@" >"$log" 2>&1; then
    t1=$(date +%s.%N)
    kv "$key.seconds" "$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.2f", b - a}')"
    grep -m1 -i 'warning' "$log" | sed 's/^/note: /' | while read -r l; do kv "$key.warning" "${l#note: }"; done
    return 0
  fi
  kv "$key" "failed: $(grep -v '^-\|^ *$' "$log" | head -1)"; return 1
}
scaling() {
  if [ ! -x "$TC" ]; then echo "not available yet: $TC was not built"; return; fi
  local msg; msg=$("$TC" fit --help 2>&1 >/dev/null); local rc=$?
  if [ $rc != 0 ]; then echo "not available yet: \`tailedcore fit\` says: $(echo "$msg" | head -1)"; return; fi
  local W=$ROOT/weights/mobilenetv2.h5
  if [ -s "$W" ]; then kv scale.weights "weights/mobilenetv2.h5"
  else
    W=$TMPROOT/mbv2-random.h5
    if ! "$PY" analysis/convert_torchvision.py --random mobilenetv2_keras --seed 0 --out "$W" >"$BD/weights.log" 2>&1; then
      echo "not available yet: no weights/mobilenetv2.h5 and random weights failed: $(tail -1 "$BD/weights.log")"; return
    fi
    kv scale.weights "random mobilenetv2 weights (weights/mobilenetv2.h5 absent; speed and rank-independence do not depend on the values)"
  fi
  local data=${BENCH_DATA:-}
  if [ -z "$data" ]; then
    local gen=$BUILD/tc-synth
    if [ ! -x "$gen" ]; then echo "not available yet: no synthetic data generator $gen (inputs/, issue 6); set BENCH_DATA=ROOT to use a data set"; return; fi
    local gargs=(--seed 1 --test-good 1 --test-defect 1 -q)
    if [ $quick = 1 ]; then gargs+=(--classes 4 --train 8 --longtail step_k1)
    else gargs+=(--classes 15 --train 30 --longtail step_k4); fi
    if ! "$gen" --out "$TMPROOT/synth" --longtail-out "$TMPROOT/synth-lt" "${gargs[@]}" >"$BD/synth.log" 2>&1; then
      echo "not available yet: '$gen ${gargs[*]}' failed: $(tail -1 "$BD/synth.log")"; return
    fi
    data=$TMPROOT/synth-lt
    kv scale.data "tc-synth ${gargs[*]}"
  else kv scale.data "$data"; fi
  local np
  for np in 1 2; do
    timed "scale.extract.np$np" $np "$BD/extract_np$np.log" "$TC" extract --data "$data" --weights "$W" \
      --out "$TMPROOT/features_np$np.h5" --quiet || { [ $np = 1 ] && { echo "extract failed: $(kvget scale.extract.np1)"; return; }; }
  done
  kv scale.size "$("$PY" -c "import h5py,sys; f=h5py.File(sys.argv[1],'r'); n,hw,d=f['features'].shape; print('N=%d,HW=%d,D=%d' % (n,hw,d))" "$TMPROOT/features_np1.h5")"
  [ -f "$TMPROOT/features_np2.h5" ] && kv scale.extract.np2.same_output "$(same_output "$TMPROOT/features_np1.h5" "$TMPROOT/features_np2.h5" 1e-5)"
  # rotflip (7 extra views) keeps the tail coreset small enough for 4 runs
  # here; the views are extracted with the weights the features were made with
  # (fit refuses --data without --weights)
  local fitw=(--weights "$W")
  for np in 1 2 3 4; do
    timed "scale.fit.np$np" $np "$BD/fit_np$np.log" "$TC" fit --features "$TMPROOT/features_np1.h5" --data "$data" \
      "${fitw[@]}" --tail-aug rotflip --out "$TMPROOT/model_np$np.h5" || continue
    # the phases' own timings from the progress lines ("NAME: i/n ... done in Ts")
    kv "scale.fit.np$np.phases" "$(sed -n 's/^tailedcore: \([^:]*\): .* done in \([0-9.]*s\).*/\1 \2/p' "$BD/fit_np$np.log" | paste -sd ';' | sed 's/;/; /g')"
    [ $np -gt 1 ] && [ -f "$TMPROOT/model_np1.h5" ] && \
      kv "scale.fit.np$np.same_output" "$(same_output "$TMPROOT/model_np1.h5" "$TMPROOT/model_np$np.h5" 1e-6)"
  done
  echo "ok"
}
if [ -n "$only" ]; then kv scale.status "not run (--only $only)"
else say "scaling (end-to-end fit, 1-4 ranks)"; kv scale.status "$(scaling)"; fi

# ---- cost model ----------------------------------------------------------
say "cost model"
if "$PY" analysis/cost_model.py "$KV" --markdown >"$BD/cost_model.md" 2>"$BD/cost_model.err"; then kv cost_model ok
else kv cost_model "failed: $(tail -1 "$BD/cost_model.err")"; fi

# ---- report --------------------------------------------------------------
say "writing $out"
"$PY" - "$KV" "$LINES" "$RAW" "$BD/cost_model.md" "$out" <<'EOF'
import sys, re, os
kvf, linesf, rawf, costf, outf = sys.argv[1:6]
kv = {}
for line in open(kvf):
    if "=" in line:
        k, v = line.rstrip("\n").split("=", 1)
        kv[k] = v
def g(k, d="?"): return kv.get(k, d)
def num(k):
    try: return float(kv[k])
    except (KeyError, ValueError): return None

def parse_bench(line):
    """BENCH k=v ... note=free text -> dict (bench/README.md)."""
    body = line[len("BENCH "):].strip()
    note = ""
    m = re.search(r"(^|\s)note=", body)
    if m:
        note = body[m.end():].strip(); body = body[:m.start()]
    d = {}
    extra = []
    for tok in body.split():
        if "=" in tok:
            k, v = tok.split("=", 1); d[k] = v
            if k not in ("script", "stage", "size", "ours", "peer", "ratio", "limit_frac"): extra.append(tok)
        else: extra.append(tok)
    d["note"] = " ".join(extra + ([note] if note else []))
    return d

rows = [parse_bench(l) for l in open(linesf) if l.startswith("BENCH ")]
raw = [l.rstrip("\n") for l in open(rawf) if l.strip()]
T = g("threads_all")
o = []
w = o.append
w("# Benchmarks\n")
w("Written by `make bench` (bench/run.sh, issue 9) on the machine below; every number in this file")
w("was measured in that one run, each stage and its peer side by side. `bench/README.md` says how to")
w("run it and what each peer is. Times vary by 10-20% between runs on this shared 2-core machine.\n")
if g("quick") == "1":
    w("> **Quick run (`--quick`): small sizes, for developing the harness. Not the figures to quote.**\n")
w("| machine | |\n| --- | --- |")
w("| CPU | %s (%s cores%s) |" % (g("cpu_model"), g("cores"), ", VM: " + g("hypervisor") if g("hypervisor", "") else ""))
w("| memory | %s GiB |" % g("mem_gib"))
w("| date | %s |" % g("date"))
w("| commit | %s |" % g("commit"))
w("| software | %s; OpenBLAS %s (pthreads); kernel %s |" % (g("mpi"), g("openblas"), g("kernel")))
w("| tailedcore build | %s; stage bench programs: %s |\n" % (g("build", "not attempted (--no-build)"), g("build_bench", "-")))

w("## Limits of this machine\n")
w("| limit | 1 thread | %s threads | note |\n| --- | --- | --- | --- |" % T)
w("| sgemm %s^3 (GFLOP/s) | %s | %s | OpenBLAS, best of 7 (median %s / %s) |" % (
    g("sgemm_n"), g("sgemm_gflops_1t"), g("sgemm_gflops"), g("sgemm_gflops_1t_median"), g("sgemm_gflops_median")))
w("| triad a=b+s*c (GB/s) | %s | %s | 3 x %s MiB arrays (L3 reported: %s MiB), 24 B/element, best of 10 |" % (
    g("triad_gbs_1t"), g("triad_gbs"), g("stream_array_mib"), g("l3_cache_mib")))
w("| read, sum of one array (GB/s) | %s | %s | 8 B/element; the bound for the coreset step's scan |\n" % (
    g("read_gbs_1t"), g("read_gbs")))
w("| MPI, 2 ranks, one node | value |\n| --- | --- |")
if g("pingpong") != "ok":
    w("| ping-pong | **%s** |" % g("pingpong", "not run"))
for k in sorted((k for k in kv if k.startswith("pp_lat_us_")), key=lambda s: int(re.sub(r"\D", "", s))):
    w("| latency, %s (half round trip) | %s us |" % (k[len("pp_lat_us_"):], kv[k]))
for k in sorted((k for k in kv if k.startswith("pp_bw_gbs_")), key=lambda s: int(re.sub(r"\D", "", s))):
    w("| bandwidth, %s message | %s GB/s |" % (k[len("pp_bw_gbs_"):], kv[k]))
for k, what in (("allreduce_us_maxloc8B", "MPI_Allreduce, builtin MAXLOC, 8 B"),
                ("allreduce_us_140B", "MPI_Allreduce, coreset user op, 140 B (issue 9's size)"),
                ("allreduce_us_528B", "MPI_Allreduce, coreset user op, 528 B (float + int64 + 128 x float32)")):
    if k in kv: w("| %s | %s us |" % (what, kv[k]))
w("\nShared memory inside one machine (Open MPI vader, single-copy %s): not a network figure.\n" % g("mpi_single_copy", "?"))

w("## Stages against their peers and limits\n")
w("`ratio` = how many times faster ours is than the peer (> 1: ours wins). `of limit` = fraction of this")
w("machine's bound that ours reaches (the note says which bound).\n")
w("| stage | size | ours | peer | ratio | of limit | note |\n| --- | --- | --- | --- | --- | --- | --- |")
def cell(s): return (s or "-").replace("|", "\\|")
for r in rows:
    peer = r.get("peer", "-")
    if peer.endswith(":unavailable"): peer = "**%s unavailable**" % peer.split(":")[0]
    w("| %s |" % " | ".join(cell(x) for x in (r.get("stage"), r.get("size"), r.get("ours"), peer,
                                               r.get("ratio"), r.get("limit_frac"), r.get("note"))))
expected = ["image", "extract", "tailsample", "bank", "score"]
present = sorted(k.split(".")[1] for k in kv if k.startswith("stage.") and k.endswith(".rc"))
for s in present:
    rc = g("stage.%s.rc" % s)
    if rc != "0":
        w("| %s | - | **bench/%s_bench.sh failed: exit %s** | - | - | - | %s (build/bench/%s_bench.err) |" % (
            s, s, rc, cell(g("stage.%s.err_tail" % s, "")), s))
    elif not any(r.get("script") == s for r in rows):
        tail = g("stage.%s.err_tail" % s, "")
        w("| %s | - | **bench/%s_bench.sh ran but printed no BENCH line** | - | - | - | %s |" % (
            s, s, cell("its stderr ends: " + tail) if tail else "output under Raw stage output"))
for s in expected:
    if s not in present:
        if not os.path.exists("bench/%s_bench.sh" % s): why = "bench/%s_bench.sh not present yet" % s
        elif g("stages_mode") != "all": why = "not run (%s)" % g("stages_mode")
        else: why = "bench/%s_bench.sh appeared after the stages ran" % s
        w("| %s | - | **not measured: %s** | - | - | - | |" % (s, why))
st = g("scale.status", "not run")
if st == "ok":
    e1, f1, f2 = num("scale.extract.np1.seconds"), num("scale.fit.np1.seconds"), num("scale.fit.np2.seconds")
    e2 = num("scale.extract.np2.seconds")
    note = "extract + fit (--tail-aug rotflip), 1 rank, OPENBLAS_NUM_THREADS=1"
    if e2 and f2 and e1 and f1: note += "; 2 ranks: %.1f s (x%.2f)" % (e2 + f2, (e1 + f1) / (e2 + f2))
    w("| fit end-to-end | %s | %s | - | - | - | %s |" % (g("scale.size"), "%.1fs" % (e1 + f1) if e1 and f1 else "**failed**", note))
else:
    w("| fit end-to-end | - | **%s** | - | - | - | |" % st.replace("|", "\\|"))
w("")

w("## Scaling (end-to-end extract + fit of the synthetic data set)\n")
if st == "ok" and g("build", "ok") != "ok":
    w("> **The tailedcore build failed in this run: the binaries below are left from an earlier build.**\n")
if st == "ok":
    w("Data: `%s` (%s); weights: %s. 3 and 4 ranks run oversubscribed on %s cores: their times are" % (
        g("scale.data"), g("scale.size"), g("scale.weights"), g("cores")))
    w("not speed figures, only their outputs count.\n")
    w("| step | ranks | wall time | speed-up vs 1 rank | same output as 1 rank |\n| --- | --- | --- | --- | --- |")
    for step, nps in (("extract", (1, 2)), ("fit", (1, 2, 3, 4))):
        t1 = num("scale.%s.np1.seconds" % step)
        for np_ in nps:
            s_ = num("scale.%s.np%d.seconds" % (step, np_))
            if s_ is None:
                w("| %s | %d | **%s** | - | - |" % (step, np_, g("scale.%s.np%d" % (step, np_), "not run"))); continue
            sp = "1" if np_ == 1 else ("%.2f" % (t1 / s_) if t1 and np_ <= int(g("cores", "2")) else "(oversubscribed)")
            same = "reference" if np_ == 1 else g("scale.%s.np%d.same_output" % (step, np_), "-")
            w("| %s | %d | %.1f s | %s | %s |" % (step, np_, s_, sp, same))
    for np_ in (1, 2):
        ph = g("scale.fit.np%d.phases" % np_, "")
        if ph: w("\nfit phases on %d rank%s (from its progress lines): %s." % (np_, "s" if np_ > 1 else "", ph))
    warns = sorted(set(v for k, v in kv.items() if k.endswith(".warning")))
    for v in warns: w("\nThe run warned: `%s`" % v)
else:
    w("**%s.**" % st)
w("")

peers = sorted(k for k in kv if k.startswith("peer."))
w("## Peers\n")
w("| peer | status |\n| --- | --- |")
for k in peers:
    v = kv[k]
    w("| %s | %s |" % (k[5:], ("**%s**" % v) if v.startswith("unavailable") else v))
missing = sorted(set(r["peer"].split(":")[0] for r in rows if r.get("peer", "").endswith(":unavailable")))
if missing: w("\nStages whose peer could not be had: **%s**." % ", ".join(missing))
if g("deps", "ok") != "ok": w("\n`./deps.sh bench`: %s" % g("deps"))
w("")

# The reading: a template filled with this run's numbers; the lead edits the prose.
w("## Reading\n")
w("<!-- Filled from a template by bench/run.sh with this run's numbers; edit the prose, keep the numbers. -->\n")
s1, sa, rd1, rda, tra = num("sgemm_gflops_1t"), num("sgemm_gflops"), num("read_gbs_1t"), num("read_gbs"), num("triad_gbs")
if s1 and sa:
    w("- **FLOP-bound stages** (Gram of TailSampler, CNN convolutions, LOF distances as GEMM): OpenBLAS sgemm")
    w("  gives %.0f GFLOP/s on 1 thread and %.0f on %s (x%.2f). A stage that reaches a large fraction of that is" % (s1, sa, T, sa / s1))
    w("  done; one far below it is bound by something else (memory traffic, im2col, small matrices).")
if rd1 and rda:
    w("- **Bandwidth-bound stages** (the greedy-coreset step, nearest-neighbour scoring at small batch):")
    w("  one core reads %.1f GB/s, %s cores %.1f (triad: %.1f and %.1f; one read stream per core is limited" % (
        rd1, T, rda, num("triad_gbs_1t") or 0, tra or 0))
    w("  by the misses a core can keep in flight, so a scan is bounded by `read`, not `triad`). One coreset")
    w("  step over 1M x 128 float32 points reads 512 MB: its bound is %.0f ms/step on 1 thread and %.0f ms on %s." % (
        512e6 / (rd1 * 1e9) * 1e3, 512e6 / (rda * 1e9) * 1e3, T))
    w("  The VM reports a %s MiB L3 (the host's), so data sets of a few hundred MB may partly come from cache" % g("l3_cache_mib"))
    w("  and beat this bound; the limits use 3 x %s MiB arrays%s." % (g("stream_array_mib"),
        " (quick run: small enough to sit in that cache)" if g("quick") == "1" else " to stay out of it"))
c = num("coreset_ns_per_point")
a528 = num("allreduce_us_528B")
if a528 is not None:
    if c:
        w("- **Coreset at scale**: a step costs %.2f ns per point here; with n points per rank the step takes" % c)
        w("  n x %.2f ns plus one allreduce (%.2f us for the 528-B record on 2 ranks in one node). The" % (c, a528))
        w("  allreduce equals the scan at n = %.0f points per rank: below that, latency bounds the step." % (a528 * 1e3 / c))
    else:
        w("- **Coreset at scale**: one 528-B max-location allreduce costs %.2f us on 2 ranks in one node;" % a528)
        w("  the per-point step cost is not measured yet (no `METRIC coreset_ns_per_point`).")
for r in rows:
    w("- **%s** (%s): ours %s, peer %s, ratio %s, %s of its limit. _What bounds it: (lead: fill in)_" % (
        r.get("stage"), r.get("size"), r.get("ours"), r.get("peer"), r.get("ratio"), r.get("limit_frac")))
w("")

w("## Cost model: projected fit time\n")
if os.path.exists(costf) and os.path.getsize(costf) > 0 and g("cost_model") == "ok":
    o.append(open(costf).read().rstrip("\n"))
else:
    w("**cost model failed: %s**" % g("cost_model", "not run"))
w("")
if raw:
    w("## Raw stage output\n")
    w("Lines the stage scripts printed besides BENCH/METRIC (first 40 per stage; all in build/bench/*_bench.log).\n")
    w("```")
    per = {}
    for l in raw:
        s = l.split(":", 1)[0]; per[s] = per.get(s, 0) + 1
        if per[s] <= 40: w(l)
    w("```")
open(outf, "w").write("\n".join(o) + "\n")
EOF
say "done: $out (logs and results.kv in $BD)"
