#!/usr/bin/env bash
# tailsample_bench.sh - benchmark of `tailedcore tailsample` (NOT a test).
# For N in $SIZES and E in $DIMS: seconds, peak memory per rank (VmHWM),
# Gram GFLOP/s against the sgemm rate (LIMIT_SGEMM_GFLOPS from bench/run.sh,
# else measured here with the linked OpenBLAS, 1 thread x NP), and the
# speed-up over the NumPy implementation (bench/tailsample_numpy.py, OpenBLAS
# on NP threads) at the same N in the same run (NumPy only up to $NUMPY_MAX),
# and over the authors-style Python (bench/tailsample_authors.py: torch Gram,
# one joblib task per row, scipy.stats.mode vote; NP threads/jobs) up to
# $AUTHORS_MAX (default 5000), run with --check (same K_max and tail flags).
# Then streaming at N = $STREAM_N within --mem-per-rank $STREAM_MEM.
#   BUILD=build bash bench/tailsample_bench.sh            (all of it: long)
#   SIZES="2000 5000" DIMS=2048 STREAM_N=0 bash bench/tailsample_bench.sh
# Contract of bench/README.md: BENCH lines (stage tailsampler, gram,
# tailsampler-authors, tailsampler-stream) and METRIC gram_gflops, tailsampler_s, tailsampler_n
# (largest in-memory N at E = $METRIC_E, default 1280 as analysis/cost_model.py).
# BENCH_QUICK=1: SIZES="1000 2000", DIMS=1280, STREAM_N=5000, STREAM_MEM=64M.
set -uo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-build}; case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
PY=${PY:-/usr/bin/python3}
NP=${NP:-${BENCH_THREADS:-2}}
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  SIZES=${SIZES:-"1000 2000"}; DIMS=${DIMS:-1280}; STREAM_N=${STREAM_N:-5000}; STREAM_MEM=${STREAM_MEM:-64M}
else
  SIZES=${SIZES:-"2000 5000 20000"}; DIMS=${DIMS:-"1280 2048"}; STREAM_N=${STREAM_N:-50000}; STREAM_MEM=${STREAM_MEM:-1G}
fi
NUMPY_MAX=${NUMPY_MAX:-20000}
AUTHORS_MAX=${AUTHORS_MAX:-5000}
METRIC_E=${METRIC_E:-1280}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
MPIRUN=(mpirun --oversubscribe --bind-to none -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
T=$BUILD/tests/test_tailsampler
[ -x "$T" ] || make --no-print-directory -C "$ROOT" BUILD="$BUILD" "$T" >/dev/null
TMP=$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/tcbench.XXXXXX"); trap 'rm -rf "$TMP"' EXIT
num() { [[ "${1:-}" =~ ^[0-9.]+$ ]]; }

peak1=$("$T" --sgemm-peak 2000 5000 2048 | sed 's/.*: \([0-9.]*\) GFLOP.*/\1/')
echo "sgemm peak (1 thread, linked OpenBLAS): $peak1 GFLOP/s; job peak on $NP ranks: $(echo "$peak1 * $NP" | bc) GFLOP/s"
# the bound for NP ranks x 1 thread: run.sh's all-thread sgemm when NP is all cores
if num "${LIMIT_SGEMM_GFLOPS:-}" && [ "$NP" = "${BENCH_THREADS:-}" ]; then
  bound=$LIMIT_SGEMM_GFLOPS; bnote="LIMIT_SGEMM_GFLOPS ($bound GFLOP/s, $NP threads)"
else
  bound=$(echo "$peak1 * $NP" | bc); bnote="$NP x sgemm 2000x5000x2048 on 1 thread measured here ($bound GFLOP/s)"
fi
lines=(); mgf=""; ms=""; mn=""
printf '%-6s %-5s %-7s %9s %12s %10s %8s %10s %9s\n' N E mode seconds peakMiB/rank GFLOP/s "%peak" numpy_s speedup
for E in $DIMS; do
  for N in $SIZES; do
    F=$TMP/f_${N}_$E.h5
    "$T" --write-features "$F" "$N" "$E" 1 || { echo "cannot write $F"; continue; }
    log=$TMP/log
    if ! "${MPIRUN[@]}" -np "$NP" "$BUILD/tailedcore" tailsample --features "$F" --out "$TMP/t.h5" --mode memory >"$log" 2>&1; then
      echo "tailsample N=$N E=$E failed: $(grep -m1 tailedcore "$log")"; rm -f "$F"; continue
    fi
    secs=$(grep -o '[0-9.]* s (Gram' "$log" | awk '{print $1}')
    gsecs=$(grep -o '(Gram [0-9.]* s' "$log" | awk '{print $2}')
    gf=$(grep -o '[0-9.]* GFLOP/s per job' "$log" | awk '{print $1}')
    fullgf=$(grep -o '[0-9.]* GFLOP/s full-Gram rate' "$log" | awk '{print $1}')
    mirror=$(grep -o 'mirror [0-9.]* s' "$log" | awk '{print $2}')
    gblock=$(grep -o 'block [0-9]*;' "$log" | tr -dc 0-9)
    mapped=$(grep -o 'S mapped in [0-9.]* s' "$log" | awk '{print $4}')
    mib=$(grep -o 'peak memory [0-9.]* MiB' "$log" | awk '{print $3}')
    pct=$(echo "scale=1; 100 * $gf / $bound" | bc)
    ns=-; sp=-; nmib=-
    if [ "$N" -le "$NUMPY_MAX" ]; then
      no=$(OPENBLAS_NUM_THREADS=$NP OMP_NUM_THREADS=$NP "$PY" "$ROOT/bench/tailsample_numpy.py" "$F" 2>&1)
      ns=$(sed -n 's/^numpy .*seconds=\([0-9.]*\).*/\1/p' <<<"$no"); nmib=$(sed -n 's/^numpy .*peak_MiB=\([0-9.]*\).*/\1/p' <<<"$no")
      if num "$ns"; then sp=$(awk -v a="$ns" -v b="$secs" 'BEGIN {printf "%.2f", a / b}')
      else echo "numpy peer failed: $(tail -1 <<<"$no")"; ns=-; fi
    fi
    printf '%-6s %-5s %-7s %9s %12s %10s %8s %10s %9s\n' "$N" "$E" memory "$secs" "$mib" "$gf" "$pct" "$ns" "$sp"
    if num "$ns"; then peer="numpy:${ns}s"; ratio=$sp; pn="NumPy/OpenBLAS on $NP threads (bench/tailsample_numpy.py: one matmul, a sort per row, a bincount per column), peak RSS ${nmib} MiB"
    elif [ "$N" -gt "$NUMPY_MAX" ]; then peer="-"; ratio="-"; pn="NumPy not run above N=$NUMPY_MAX"
    else peer="numpy:unavailable"; ratio="-"; pn="NumPy peer failed"; fi
    lines+=("BENCH stage=tailsampler size=N=$N,E=$E ours=${secs}s peer=$peer ratio=$ratio limit_frac=- ranks=$NP threads=1 note=whole TailSampler (DESIGN 3.6) in memory, Gram ${gsecs} s (ScaLAPACK psgemm on one triangle + mirror exchange ${mirror} s), S mapped in ${mapped} s; peak ${mib} MiB per rank (VmHWM); peer $pn; see the gram line for the bound")
    lines+=("BENCH stage=gram size=N=$N,E=$E ours=${gf}GFLOP/s peer=- ratio=- limit_frac=$(awk -v a="$gf" -v b="$bound" 'BEGIN {printf "%.2f", a / b}') ranks=$NP threads=1 note=Gram of the TailSampler: psgemm on one triangle in row panels of $gblock (N (N + $gblock) E flop computed) at ${gf} GFLOP/s, the mirror exchange excluded; with the mirror the whole Gram takes ${gsecs} s, the rate a full 2 N^2 E Gram would need to match it is ${fullgf} GFLOP/s ($(awk -v a="$fullgf" -v b="$bound" 'BEGIN {printf "%.2f", a / b}') of the bound); bound = $bnote")
    if [ "$N" -le "$AUTHORS_MAX" ]; then
      # authors-style peer; --check runs after the timed part (exit 1 = a mismatch, still timed)
      ao=$(OPENBLAS_NUM_THREADS=$NP OMP_NUM_THREADS=$NP "$PY" "$ROOT/bench/tailsample_authors.py" --threads "$NP" --check "$F" 2>&1)
      as=$(sed -n 's/^authors .*seconds=\([0-9.]*\).*/\1/p' <<<"$ao"); amib=$(sed -n 's/^authors .*peak_MiB=\([0-9.]*\).*/\1/p' <<<"$ao")
      ak=$(sed -n 's/^authors .*k_max=\([0-9]*\) n_tail=\([0-9]*\).*/K_max \1, \2 tail images/p' <<<"$ao")
      achk=$(sed -n 's/^check: //p' <<<"$ao")
      adiff=$(sed -n 's/^(c) per-image class sizes: \([0-9]*\) of [0-9]* differ (max |diff| \([0-9]*\)).*/\1 of '"$N"' per-image class sizes differ from those of the NumPy peer, by at most \2,/p' <<<"$ao")
      if num "$as"; then
        echo "authors-style: N=$N E=$E seconds=$as peak_MiB(main process)=$amib $ak check=${achk:-none}"
        if [ "$achk" = PASS ]; then same="same K_max and tail flags as the NumPy peer and equal to tests/golden/tailsampler_ref.py on its own S (--check PASS; ${adiff:-no per-image class size differs from the NumPy peer,} as F.normalize and np.linalg.norm round differently in float32)"
        else same="--check ${achk:-did not finish}: $(grep -m1 MISMATCH <<<"$ao")"; fi
        lines+=("BENCH stage=tailsampler-authors size=N=$N,E=$E ours=${secs}s peer=authors-style:${as}s ratio=$(awk -v a="$as" -v b="$secs" 'BEGIN {printf "%.2f", a / b}') limit_frac=- ranks=$NP threads=1 note=peer is the TailedCore authors' code structure (bench/tailsample_authors.py): torch Gram (F.normalize + matmul, float32), one joblib task per row (loky, n_jobs=$NP) quantising and np.sort-ing it for the trim_min threshold, scipy.stats.mode(nan_policy=omit) vote over the masked count map, on $NP threads (OPENBLAS/OMP_NUM_THREADS=$NP, torch.set_num_threads($NP)); timed from the embeddings in memory, joblib worker start included; peak RSS ${amib} MiB (main process); $same")
      else
        echo "authors-style peer failed: $(tail -1 <<<"$ao")"
        lines+=("BENCH stage=tailsampler-authors size=N=$N,E=$E ours=${secs}s peer=authors-style:unavailable ratio=- limit_frac=- ranks=$NP threads=1 note=authors-style peer (bench/tailsample_authors.py: torch, joblib, scipy) failed: $(tail -1 <<<"$ao" | tr -d '\r')")
      fi
    fi
    if [ "$N" = "${SIZES##* }" ] && [ "$E" = "${DIMS%% *}" ]; then
      # the same Gram with shared memory off (pml ob1, btl tcp on loopback),
      # as ranks on different nodes exchange ScaLAPACK panels and the mirror
      tlog=$TMP/log.tcp
      if env OMPI_MCA_pml=ob1 OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_osc=pt2pt \
          "${MPIRUN[@]}" -np "$NP" "$BUILD/tailedcore" tailsample --features "$F" --out "$TMP/t.h5" --mode memory >"$tlog" 2>&1; then
        tg=$(grep -o '(Gram [0-9.]* s' "$tlog" | awk '{print $2}')
        tgf=$(grep -o '[0-9.]* GFLOP/s per job' "$tlog" | awk '{print $1}')
        tmir=$(grep -o 'mirror [0-9.]* s' "$tlog" | awk '{print $2}')
        lines+=("BENCH stage=gram-tcp size=N=$N,E=$E ours=${tg}s peer=shm:${gsecs}s ratio=$(awk -v a="$gsecs" -v b="$tg" 'BEGIN {printf "%.2f", a / b}') limit_frac=$(awk -v a="$tgf" -v b="$bound" 'BEGIN {printf "%.2f", a / b}') ranks=$NP threads=1 note=whole Gram (psgemm + mirror exchange) with Open MPI's shared memory off (pml ob1, btl tcp on loopback: the transport between nodes) vs the shared-memory run; ratio = shm / tcp; psgemm ${tgf} GFLOP/s, mirror ${tmir} s (shm: ${mirror} s)")
      else
        echo "tailsample over TCP N=$N E=$E failed: $(grep -m1 tailedcore "$tlog")"
      fi
    fi
    if [ "$E" = "$METRIC_E" ] || [ -z "$mgf" ]; then mgf=$fullgf; ms=$secs; mn=$N; fi
    rm -f "$F" "$TMP/t.h5"
  done
done
if [ "$STREAM_N" -gt 0 ]; then
  E=${DIMS##* }
  F=$TMP/f_stream.h5
  "$T" --write-features "$F" "$STREAM_N" "$E" 1
  if "${MPIRUN[@]}" -np "$NP" "$BUILD/tailedcore" tailsample --features "$F" --out "$TMP/t.h5" --mode stream --mem-per-rank "$STREAM_MEM" >"$TMP/log" 2>&1; then
    grep -E 'mode|GFLOP' "$TMP/log"
    need=$(echo "4 * $STREAM_N * $STREAM_N / $NP / 1048576" | bc)
    echo "streaming bound: --mem-per-rank $STREAM_MEM (in-memory would need $need MiB per rank for S alone)"
    secs=$(grep -o '[0-9.]* s (Gram' "$TMP/log" | awk '{print $1}')
    gf=$(grep -o '[0-9.]* GFLOP/s per job' "$TMP/log" | awk '{print $1}')
    mib=$(grep -o 'peak memory [0-9.]* MiB' "$TMP/log" | awk '{print $3}')
    lines+=("BENCH stage=tailsampler-stream size=N=$STREAM_N,E=$E ours=${secs}s peer=- ratio=- limit_frac=$(awk -v a="$gf" -v b="$bound" 'BEGIN {printf "%.2f", a / b}') ranks=$NP threads=1 note=streaming mode within --mem-per-rank $STREAM_MEM (S alone would need $need MiB per rank in memory); peak ${mib} MiB per rank; Gram ${gf} GFLOP/s (recomputed in both passes); limit_frac = Gram GFLOP/s / $bnote")
  else
    echo "streaming N=$STREAM_N failed: $(grep -m1 tailedcore "$TMP/log")"
  fi
fi
printf '%s\n' "${lines[@]}"
[ -n "$mgf" ] && echo "METRIC gram_gflops=$mgf gram_threads=$NP tailsampler_s=$ms tailsampler_n=$mn tailsampler_threads=$NP"
