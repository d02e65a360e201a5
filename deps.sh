#!/usr/bin/env bash
# deps.sh - install what tailedcore needs on Debian/Ubuntu, only what is missing.
#
#   ./deps.sh            build + test dependencies (make test runs this)
#   ./deps.sh demo       + what `make demo` needs (node/npm for the one-time weight conversion)
#   ./deps.sh fixtures   + python3-torch/torchvision/sklearn/scipy to regenerate golden fixtures
#   ./deps.sh bench      + the peers the benchmarks compare against
#   ./deps.sh slurm      + a single-node Slurm for the cluster tests
#   ./deps.sh realbench  + the packages whose photographs make the real-photo benchmark
#
# Does nothing (and needs no root) when everything is installed. On other
# systems it prints what is missing and leaves the rest to you (see README
# "Build on a cluster").
set -euo pipefail

want=(build-essential pkg-config libopenmpi-dev openmpi-bin libhdf5-openmpi-dev hdf5-tools
      libscalapack-openmpi-dev libopenblas-dev libtiff-dev libpng-dev libjpeg62-turbo-dev
      python3 python3-numpy python3-h5py)
for extra in "$@"; do
  case "$extra" in
    test|"") ;;
    demo) want+=(python3-matplotlib)
          # node + npm fetch the default backbone once; a NodeSource nodejs
          # already carries npm and conflicts with Debian's npm package
          command -v npm >/dev/null || want+=(nodejs npm) ;;
    fixtures) want+=(python3-torch python3-torchvision python3-sklearn python3-scipy python3-pil) ;;
    bench) want+=(python3-torch python3-torchvision python3-sklearn python3-scipy python3-joblib python3-faiss libfaiss-dev) ;;
    slurm) want+=(slurmctld slurmd slurm-client munge libpmix-dev) ;;
    # the photographs tc-realbench crops (inputs/realbench_sources.h); sklearn's
    # two sample photos come only with the whole python3-sklearn package
    realbench) want+=(mate-backgrounds plasma-workspace-wallpapers python3-sklearn python-matplotlib-data) ;;
    *) echo "deps.sh: unknown set '$extra' (use: demo fixtures bench slurm realbench)" >&2; exit 2 ;;
  esac
done

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
  echo "deps.sh: missing packages: ${missing[*]} (no apt-get here; install them or load modules, see README)" >&2
  exit 1
fi
if [ "$(id -u)" != 0 ]; then
  echo "deps.sh: missing packages: ${missing[*]}; run as root: sudo ./deps.sh $*" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt_opts=(-y -q -o DPkg::Lock::Timeout=600)
# an old package list makes installs fail with 404s on a fresh machine
if ! apt-get install "${apt_opts[@]}" --no-install-recommends "${missing[@]}" >/tmp/tailedcore-deps.log 2>&1; then
  apt-get update -q >>/tmp/tailedcore-deps.log 2>&1 || true
  apt-get install "${apt_opts[@]}" --no-install-recommends "${missing[@]}" >>/tmp/tailedcore-deps.log 2>&1 \
    || { echo "deps.sh: apt-get install failed, see /tmp/tailedcore-deps.log" >&2; tail -20 /tmp/tailedcore-deps.log >&2; exit 1; }
fi
