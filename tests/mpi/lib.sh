# tests/mpi/lib.sh - helpers for shell tests that run the real binary under
# real mpirun (IOR's testing/test-lib.sh shape). Source it; call `report` last.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
BUILD=${BUILD:-build}
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
TC=$BUILD/tailedcore
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
# Open MPI refuses root without these; oversubscribe lets 3-4 ranks run on 2 cores.
MPIRUN=(mpirun --oversubscribe --bind-to none -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS)
[ "$(id -u)" = 0 ] && MPIRUN+=(--allow-run-as-root)
export OMPI_MCA_rmaps_base_oversubscribe=1 OMPI_MCA_btl_vader_single_copy_mechanism=none
TMP=$(mktemp -d "${TMPDIR:-/tmp}/tctest.XXXXXX")
[ -n "${TC_KEEP_TMP:-}" ] || trap 'rm -rf "$TMP"' EXIT
npass=0; nfail=0

pass() { npass=$((npass + 1)); echo "ok   $*"; }
fail() { nfail=$((nfail + 1)); echo "FAIL $*"; }
check() { # description, command... : pass when the command succeeds
  local d=$1; shift
  if "$@"; then pass "$d"; else fail "$d  [cmd: $*]"; fi
}
# tc_run NP ARGS... : run the binary on NP ranks with a timeout (a hang is a failure).
tc_run() {
  local np=$1; shift
  echo "+ mpirun -np $np $TC $*" >&2
  timeout --kill-after=5 ${TC_TIMEOUT:-300} "${MPIRUN[@]}" -np "$np" "$TC" "$@"
}
report() { echo "$npass passed, $nfail failed"; [ "$nfail" = 0 ]; }

# tests/tools/score_tool on np ranks (one rank: an MPI singleton, no mpirun
# start-up, which keeps the suites short); 120 s before it counts as a hang
ST=$BUILD/tests/tools/score_tool
st() { local np=$1; shift
  if [ "$np" = 1 ]; then timeout --kill-after=5 120 "$ST" "$@"
  else timeout --kill-after=5 120 "${MPIRUN[@]}" -np "$np" "$ST" "$@"; fi; }
