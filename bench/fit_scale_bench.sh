#!/usr/bin/env bash
# bench/fit_scale_bench.sh - issue 17's scale target: a 1M-patch `fit` on this
# machine (2 ranks) within FIT_SCALE_LIMIT_S [600] seconds, on clustered
# features of real-looking images (not uniform noise). NOT a test: nothing
# here asserts a time; the BENCH line says whether the fit was under the
# limit.
#
# Data: tc-realbench crops of real photographs (the realbench packages; falls
# back to tc-synth when the photos are missing, and says so), FIT_SCALE_TRAIN
# [200] training images per class, 15 classes, turned into the noisy
# long-tail variant FIT_SCALE_PROTOCOL [step_k4] by tc-longtail: 6 head
# classes x 200 + 9 tail classes x 4 = 1236 good images + 124 injected
# defects = 1360 images = 1,066,240 patches with mobilenetv2 (784 per
# image). --quick: 5 classes x 30 (about 62k patches). The patch count
# reported is the rows of the features file, not this arithmetic.
# Then `extract` on FIT_SCALE_NP [2] ranks (timed), and for each method of
# FIT_SCALE_METHODS [tailedcore patchcore]: `fit --coreset-mode
# FIT_SCALE_MODE [tworound-int8]` (the fastest mode, DECISIONS "Coreset
# modes"), tailedcore with --tail-aug FIT_SCALE_TAIL_AUG [rotflip; --quick
# none] (the default 47 views make M_tail's coreset hours long here: see
# bench/README).
# FIT_SCALE_EXACT=1 also times `--coreset-mode exact`; FIT_SCALE_RATIO sets
# --coreset-ratio [fit's default; --quick 0.01]. Each fit is killed
# after FIT_SCALE_TIMEOUT seconds [LIMIT + 60, so the stage fits run.sh's
# 30 minutes]; the line then says so.
# Stage times come from fit's own log, each line stamped on arrival: a phase
# ends at its closing line (tailsampler: the K_max line; lof: "LOF: ...
# removed"; tail views: their "done in" line; one per coreset: "coreset
# (MODE) Ts", whose own seconds are also given; write: "fit: wrote").
# Peak RSS per rank: /usr/bin/time -f %M around each rank (fit does not log
# it). The load average before and after each fit is in the line: the
# machine is shared.
# Reuse (by hand): FIT_SCALE_DATA=ROOT FIT_SCALE_FEATURES=train.h5 skip the
# generation and extraction; FIT_SCALE_DIR=DIR keeps the generated data,
# features and logs there (default: under BENCH_TMP, removed afterwards).
set -uo pipefail
source "$(dirname "$0")/stage_lib.sh"
TMP=${BENCH_TMP:-$(mktemp -d)}
DIR=${FIT_SCALE_DIR:-$TMP/fit_scale}
mkdir -p "$DIR"
export OPENBLAS_NUM_THREADS=1
NP=${FIT_SCALE_NP:-2}
MR="$MPIRUN -x OPENBLAS_NUM_THREADS -np $NP"
# --quick: 2 head classes x 30 + 3 tail x 4 + noise (about 62k patches), no
# tail views and --coreset-ratio 0.01, so the stage takes a minute or two
# even on a loaded machine (each coreset step is one allreduce: a few ms
# when the ranks wait for a core, whatever the size)
if [ "$quick" = 1 ]; then
  TRAIN=${FIT_SCALE_TRAIN:-30}; CLASSES=(--class-list boats cups dahlia grass moss); AUG0=none
  RATIO=${FIT_SCALE_RATIO:-0.01}
else
  TRAIN=${FIT_SCALE_TRAIN:-200}; CLASSES=(); AUG0=rotflip; RATIO=${FIT_SCALE_RATIO:-}
fi
RATIO_ARGS=(); [ -n "$RATIO" ] && RATIO_ARGS=(--coreset-ratio "$RATIO")
PROTOCOL=${FIT_SCALE_PROTOCOL:-step_k4}
METHODS=${FIT_SCALE_METHODS:-tailedcore patchcore}
MODE=${FIT_SCALE_MODE:-tworound-int8}
TAIL_AUG=${FIT_SCALE_TAIL_AUG:-$AUG0}
LIMIT=${FIT_SCALE_LIMIT_S:-600}
TIMEOUT=${FIT_SCALE_TIMEOUT:-$((LIMIT + 60))}
MODES=$MODE; [ "${FIT_SCALE_EXACT:-0}" = 1 ] && [ "$MODE" != exact ] && MODES="$MODE exact"
TC=$BUILD/tailedcore
load() { cut -d' ' -f1 /proc/loadavg; }
die() { echo "fit_scale: $*" >&2; exit 1; }
make --no-print-directory BUILD="$BUILD" "$TC" "$BUILD/tc-realbench" "$BUILD/tc-synth" "$BUILD/tc-longtail" >/dev/null \
  || die "build failed"

W=$ROOT/weights/mobilenetv2.h5 wnote="mobilenetv2 weights"
if [ ! -s "$W" ]; then
  W=$DIR/mbv2-random.h5 wnote="RANDOM mobilenetv2 weights (weights/mobilenetv2.h5 absent: analysis/get_default_weights.sh)"
  [ -s "$W" ] || "$PY" analysis/convert_torchvision.py --random mobilenetv2_keras --seed 0 --out "$W" >/dev/null \
    || die "no weights/mobilenetv2.h5 and random weights failed"
fi

# ---- data and features -----------------------------------------------------
DATA=${FIT_SCALE_DATA:-} F=${FIT_SCALE_FEATURES:-}
if [ -n "$F" ]; then
  [ -n "$DATA" ] || die "FIT_SCALE_FEATURES needs FIT_SCALE_DATA (the image root, for the tail views)"
  dnote="given: $DATA"
else
  [ -z "$DATA" ] || die "FIT_SCALE_DATA without FIT_SCALE_FEATURES: give both or neither"
  rm -rf "$DIR/pristine" "$DIR/data"
  t0=$EPOCHREALTIME
  # tc-realbench's photos come from Debian packages (./deps.sh realbench)
  if "$BUILD/tc-realbench" --out "$DIR/pristine" --train "$TRAIN" --test-defect 5 -q "${CLASSES[@]}" 2>"$DIR/gen.err"; then
    dnote="tc-realbench (real photographs) --train $TRAIN --test-defect 5 ${CLASSES[*]}"
  else
    echo "fit_scale: tc-realbench failed ($(tail -1 "$DIR/gen.err")); using tc-synth" >&2
    rm -rf "$DIR/pristine"
    n=15; [ "$quick" = 1 ] && n=5
    "$BUILD/tc-synth" --out "$DIR/pristine" --classes $n --train "$TRAIN" --test-defect 5 -q || die "tc-synth failed"
    dnote="tc-synth (realbench photos missing) --classes $n --train $TRAIN"
  fi
  "$BUILD/tc-longtail" --src "$DIR/pristine" --out "$DIR/data" --protocol "$PROTOCOL" --seed 0 -q || die "tc-longtail failed"
  dnote="$dnote, tc-longtail $PROTOCOL seed 0 (10% noise)"
  echo "fit_scale: data generated in $(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')s: $dnote"
  DATA=$DIR/data F=$DIR/train.h5
  l0=$(load); t0=$EPOCHREALTIME
  $MR "$TC" extract --data "$DATA" --split train --weights "$W" --out "$F" >"$DIR/extract.log" 2>&1 \
    || die "extract failed: $(grep -v '^ *$' "$DIR/extract.log" | tail -1)"
  ext=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b - a}')
fi
read -r N HW D < <("$PY" -c "import h5py,sys; print(*h5py.File(sys.argv[1],'r')['features'].shape)" "$F") \
  || die "cannot read the shape of $F"
PATCHES=$((N * HW))
SIZE="patches=$PATCHES,N=$N,HW=$HW,D=$D"
echo "fit_scale: $F: $N images x $HW positions x D $D = $PATCHES patches (rows of /features)"
if [ -n "${ext:-}" ]; then
  echo "BENCH stage=fit-scale-extract size=$SIZE ours=${ext}s peer=- ratio=- limit_frac=- ranks=$NP load=$l0/$(load) note=tailedcore extract on $NP ranks, wall time; $dnote; $wnote"
fi

# ---- timed fits ----------------------------------------------------------
# one fit; prints the BENCH line
fit_one() {
  local method=$1 mode=$2 log=$DIR/fit-$1-$2.log
  local extra=("${RATIO_ARGS[@]}"); [ "$method" = tailedcore ] && extra+=(--tail-aug "$TAIL_AUG")
  # one file per rank: two ranks' lines on the shared stderr interleave
  local tf=$DIR/time-$method-$mode timer=()
  rm -f "$tf".*
  [ -x /usr/bin/time ] && timer=(sh -c 'exec /usr/bin/time -f "fit_scale-peak-rss-kb %M cpu %U %S" \
    -o "$0.${OMPI_COMM_WORLD_RANK:-${PMIX_RANK:-$$}}" "$@"' "$tf")
  local l0 t0 rc; l0=$(load); t0=$EPOCHREALTIME
  # every line stamped on arrival ($EPOCHREALTIME), so the phases can be timed
  timeout --kill-after=10 "$TIMEOUT" $MR "${timer[@]}" "$TC" fit --features "$F" --data "$DATA" --weights "$W" \
    --method "$method" --coreset-mode "$mode" "${extra[@]}" --out "$DIR/model-$method-$mode.h5" 2>&1 \
    | while IFS= read -r l; do printf '%s %s\n' "$EPOCHREALTIME" "$l"; done >"$log"
  rc=${PIPESTATUS[0]}
  for f in "$tf".*; do [ -f "$f" ] && sed "s/^/$EPOCHREALTIME /" "$f" >>"$log"; done
  "$PY" - "$log" "$t0" "$EPOCHREALTIME" "$rc" "$TIMEOUT" "$LIMIT" <<'EOF'
import sys, re
log, t0, t1, rc, tmo, limit = sys.argv[1], float(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), sys.argv[5], float(sys.argv[6])
phases, own, rss, cpu, last, fit_s = [], [], [], [], t0, None
for line in open(log, errors="replace"):
    ts, _, msg = line.rstrip("\n").partition(" ")
    try: ts = float(ts)
    except ValueError: continue
    msg = msg.replace("tailedcore: ", "", 1)
    m = re.match(r"fit_scale-peak-rss-kb (\d+)(?: cpu ([0-9.]+) ([0-9.]+))?", msg)
    if m:
        rss.append(int(m.group(1)) / 1024)
        if m.group(2): cpu.append(float(m.group(2)) + float(m.group(3)))
        continue
    name = None
    if msg.startswith("fit: ") and " on " in msg and "images" in msg: name = "start"
    elif msg.startswith("tailsampler: K_max"): name = "tailsampler"
    elif re.match(r"LOF: .* removed", msg): name = "lof"
    elif re.match(r"tail views: .* done in", msg): name = "tailviews"
    elif re.match(r"fit: wrote", msg):
        name = "write"; m = re.search(r"in ([0-9.]+)s", msg); fit_s = float(m.group(1)) if m else None
    else:
        m = re.match(r"(.*): coreset \(([a-z0-9-]+)\) ([0-9.]+)s", msg)
        if m: name = m.group(1); own.append("%s %ss" % (name, m.group(3)))
    if name:
        phases.append("%s %.1fs" % (name, ts - last)); last = ts
wall = t1 - t0
if rc == 0:
    ours, under = "%.1fs" % wall, "yes" if wall <= limit else "no"
    what = "wall %.1f s (fit's own total %s s)" % (wall, fit_s)
elif rc in (124, 137):
    ours, under = "timeout", "no"
    what = "KILLED after %s s (the phases below are those reached)" % tmo
else:
    ours, under = "failed", "no"
    what = "fit exited %d (log %s)" % (rc, log)
if cpu:  # a loaded machine stretches wall time; CPU seconds show how much of it the ranks got
    what += ", CPU s per rank %s" % "/".join("%.0f" % x for x in cpu)
print("\t".join((ours, under, what, "/".join("%.0f" % r for r in rss) or "-", "; ".join(phases) or "-",
                 "; ".join(own) or "-")))
EOF
  return 0
}
for method in $METHODS; do
  for mode in $MODES; do
    l0=$(load)
    IFS=$'\t' read -r ours under what rss phases own < <(fit_one "$method" "$mode")
    l1=$(load)
    aug="${RATIO:+ --coreset-ratio $RATIO}"; [ "$method" = tailedcore ] && aug="$aug --tail-aug $TAIL_AUG"
    echo "fit_scale: $method $mode: $what; phases (ends of log lines): $phases; peak RSS MiB per rank: $rss; load $l0 -> $l1"
    echo "BENCH stage=fit-scale size=$SIZE ours=$ours peer=- ratio=- limit_frac=- method=$method mode=$mode ranks=$NP under_${LIMIT}s=$under load=$l0/$l1 note=fit --method $method --coreset-mode $mode$aug, wall time; phases: $phases; coreset own: $own; peak RSS per rank (MiB): $rss; $what; $dnote"
  done
done
[ -n "${BENCH_TMP:-}" ] || [ -n "${FIT_SCALE_DIR:-}" ] || rm -rf "$TMP"
