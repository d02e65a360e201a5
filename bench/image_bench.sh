#!/usr/bin/env bash
# bench/image_bench.sh - decode + preprocessing images/s of tailedcore (C)
# versus PIL + torchvision (Debian python3), one thread each, on a 1024x1024
# RGB image stored as uncompressed TIFF, deflate TIFF and PNG. A benchmark,
# not a test: it prints figures and asserts nothing.
#
# Usage: bench/image_bench.sh [--seconds S] [--build DIR]
#   --seconds S  minimum timed seconds per file and implementation (default 3)
#   --build DIR  build directory (default $BUILD or build)
# Output: key=value lines (c_<kind>_*, peer_<kind>_*, ratio_<kind>) and a
# small table; everything is also kept in $BUILD/bench/image_bench_detail.log.
# Contract of bench/README.md: also prints one BENCH line per kind and a
# METRIC line. Env: BUILD, PY, BENCH_QUICK (--seconds 0.5 unless given),
# LIMIT_READ_GBS_1T (limit_frac: reading the 3 MiB of decoded pixels once).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=3
[ "${BENCH_QUICK:-0}" = 1 ] && seconds=0.5
build=${BUILD:-build}
while [ $# -gt 0 ]; do
  case $1 in
    --seconds) seconds=$2; shift 2 ;;
    --build) build=$2; shift 2 ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "image_bench.sh: unknown argument $1" >&2; exit 2 ;;
  esac
done
PY=${PY:-/usr/bin/python3}
out=$build/bench
mkdir -p "$out"
log=$out/image_bench_detail.log   # not image_bench.log: bench/run.sh writes stdout there
: >"$log"
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1

make --no-print-directory BUILD="$build" "$build/libtailedcore.a" >>"$log" 2>&1
PKGS=${PKGS:-ompi-c hdf5-openmpi scalapack-openmpi openblas libtiff-4 libpng libjpeg}
# shellcheck disable=SC2046
mpicc -O2 -std=c11 -D_POSIX_C_SOURCE=200809L -D_DEFAULT_SOURCE -Isrc $(pkg-config --cflags $PKGS) \
  -o "$out/image_bench" bench/image_bench.c "$build/libtailedcore.a" $(pkg-config --libs $PKGS) -lm

data=$out/image_data
if [ ! -f "$data/bench_1024.png" ]; then
  "$PY" bench/image_bench.py --make "$data"
fi
files=("tiff=$data/bench_1024.tif" "tiffdeflate=$data/bench_1024_deflate.tif" "png=$data/bench_1024.png")

c_out=$("$out/image_bench" --seconds "$seconds" "${files[@]/#/c_}")
if peer_out=$("$PY" bench/image_bench.py --seconds "$seconds" "${files[@]/#/peer_}" 2>>"$log"); then :; else
  peer_out=""
  echo "peer unavailable: $PY with PIL+torchvision failed (see $log)" | tee -a "$log"
fi
{ echo "$c_out"; echo "$peer_out"; } | tee -a "$log"

printf '\n%-12s %10s %10s %12s %12s %8s\n' kind "C img/s" "peer img/s" "C dec+pre ms" "peer ms" ratio | tee -a "$log"
lines=(); metric=()
for kind in tiff tiffdeflate png; do
  c=$(echo "$c_out" | sed -n "s/^c_${kind}_ips=//p")
  p=$(echo "$peer_out" | sed -n "s/^peer_${kind}_ips=//p")
  cd_=$(echo "$c_out" | sed -n "s/^c_${kind}_decode_ms=//p"); cp_=$(echo "$c_out" | sed -n "s/^c_${kind}_preprocess_ms=//p")
  pd_=$(echo "$peer_out" | sed -n "s/^peer_${kind}_decode_ms=//p"); pp_=$(echo "$peer_out" | sed -n "s/^peer_${kind}_preprocess_ms=//p")
  ratio=NA
  [ -n "$p" ] && ratio=$(awk -v a="$c" -v b="$p" 'BEGIN{printf "%.2f", a/b}')
  echo "ratio_${kind}=$ratio" >>"$log"
  printf '%-12s %10s %10s %5s+%-6s %5s+%-6s %8s\n' "$kind" "$c" "${p:-NA}" "$cd_" "$cp_" "${pd_:-NA}" "${pp_:-NA}" "$ratio" | tee -a "$log"
  peer="pil+torchvision:unavailable"; [ -n "$p" ] && peer="pil+torchvision:${p}img/s"
  [ "$ratio" = NA ] && ratio="-"
  lf="-"; lnote="no bound (LIMIT_READ_GBS_1T unset)"
  if [ -n "${LIMIT_READ_GBS_1T:-}" ]; then
    lf=$(awk -v r="$c" -v bw="$LIMIT_READ_GBS_1T" 'BEGIN {printf "%.3f", r * 1024 * 1024 * 3 / (bw * 1e9)}')
    lnote="bound = the 3 MiB of decoded RGB read once at ${LIMIT_READ_GBS_1T} GB/s (1-thread read)"
  fi
  lines+=("BENCH stage=image-$kind size=1024x1024,rgb8->224x224 ours=${c}img/s peer=$peer ratio=$ratio limit_frac=$lf threads=1 note=decode + resize 256 + crop 224 + normalise (DESIGN 3.1), median of >= 3 reps and ${seconds}s; ours decode ${cd_} ms + preprocess ${cp_} ms; peer PIL Image.open().convert(RGB) + torchvision Resize(256)/CenterCrop(224)/ToTensor/Normalize, torch.set_num_threads(1), ${pd_:-?} ms + ${pp_:-?} ms; $lnote")
  metric+=("image_${kind}_images_per_s=$c")
done
echo "(one thread each; ratio = C images/s / peer images/s; log: $log)"
printf '%s\n' "${lines[@]}" | tee -a "$log"
echo "METRIC ${metric[*]} image_threads=1" | tee -a "$log"
