# bench/stage_lib.sh - sourced by the bench/*_bench.sh stage scripts (not a
# stage itself: run.sh runs *_bench.sh only). The repository root as the
# working directory, the settings every stage reads, and mpirun's default
# flags (oversubscribed, unbound: a stage may start more ranks than cores;
# as root Open MPI needs --allow-run-as-root). MPIRUN from the environment
# wins (run.sh passes its own).
cd "$(dirname "${BASH_SOURCE[0]}")/.." || exit 1
ROOT=$PWD
BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
quick=${BENCH_QUICK:-0}
if [ -z "${MPIRUN:-}" ]; then
  MPIRUN="mpirun --oversubscribe --bind-to none"
  [ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
fi
: # a sourced file returns its last status: not the test above
