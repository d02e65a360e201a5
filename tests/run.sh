#!/usr/bin/env bash
# tests/run.sh [unit|mpi|tcp] - run every unit binary in $BUILD/tests and every
# tests/mpi/test_*.sh script; each prints "N passed, N failed" last. Sums them,
# prints the total line, exits non-zero on any failure (or a suite that died
# without its closing line).
set -uo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
export BUILD
# SAN=1 builds: LeakSanitizer's exit-time tracer crashes (signal 11) in
# binaries that start Open MPI's and OpenBLAS' threads, after every check has
# passed; address and undefined-behaviour checks stay on
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=0}
which=${1:-all}
total_pass=0; total_fail=0
logdir=$BUILD/test-logs; mkdir -p "$logdir"

run_suite() { # name, command...
  local name=$1; shift
  local log=$logdir/${name//\//_}.log
  local t0=$(date +%s)
  "$@" >"$log" 2>&1; local rc=$?
  local line; line=$(grep -E '^[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  local p=0 f=0
  if [ -n "$line" ]; then
    p=$(echo "$line" | awk '{print $1}'); f=$(echo "$line" | awk '{print $3}')
  fi
  if [ -z "$line" ] || { [ "$rc" != 0 ] && [ "$f" = 0 ]; }; then
    f=$((f + 1)); echo "  suite $name exited $rc without a clean closing line" >>"$log"
  fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  printf '%-40s %4d passed %3d failed  (%ds)\n' "$name" "$p" "$f" "$(( $(date +%s) - t0 ))"
  if [ "$f" != 0 ]; then sed -n '1,60p' "$log" | grep -E 'FAIL|error|Error|exited' | head -20 | sed 's/^/    /'; fi
}

if [ "$which" = all ] || [ "$which" = unit ]; then
  for t in "$BUILD"/tests/test_*; do
    [ -x "$t" ] || continue
    run_suite "unit/$(basename "$t")" "$t"
  done
fi
# The unit suites again under other OpenBLAS kernels: the next machine may
# run Haswell, SkylakeX or Sandybridge kernels (other summation orders, other
# rounding), and a golden comparison that holds only for this machine's kernel
# is a red CI waiting to happen. Only core types this CPU can execute; a
# machine whose environment already pins OPENBLAS_CORETYPE (done on some
# processors for correctness) keeps its pin and skips these passes.
other_core_types() {
  local native flags t out=""
  native=$(OPENBLAS_VERBOSE=2 "$BUILD"/tests/test_score 2>&1 >/dev/null | sed -n 's/^Core: //p' | head -1)
  flags=$(grep -m1 '^flags' /proc/cpuinfo 2>/dev/null)
  for t in Haswell SkylakeX Sandybridge; do
    [ "${t,,}" = "${native,,}" ] && continue
    case $t in
      Haswell) [[ $flags == *" avx2 "* && $flags == *" fma "* ]] || continue ;;
      SkylakeX) [[ $flags == *" avx512f "* ]] || continue ;;
      Sandybridge) [[ $flags == *" avx "* ]] || continue ;;
    esac
    out="$out $t"
  done
  echo "native=${native:-unknown}$out"
}
if { [ "$which" = all ] || [ "$which" = unit ]; } && [ -x "$BUILD/tests/test_score" ]; then
  if [ -n "${OPENBLAS_CORETYPE:-}" ]; then
    echo "OPENBLAS_CORETYPE=$OPENBLAS_CORETYPE is set by this machine: unit suites not repeated under other kernels"
  else
    cores=$(other_core_types)
    echo "OpenBLAS kernels: ${cores%% *}; unit suites repeated under:${cores#* }"
    for ct in ${cores#* }; do
      [ "$ct" = "${cores%% *}" ] && continue
      for t in "$BUILD"/tests/test_*; do
        [ -x "$t" ] || continue
        run_suite "unit[$ct]/$(basename "$t")" env OPENBLAS_CORETYPE=$ct "$t"
      done
    done
  fi
fi
# the source tree against the README's layer map (includes, function
# length, one module per file layout): reads sources only
if [ "$which" = all ] || [ "$which" = unit ]; then
  run_suite "layout/check_layout.sh" bash tests/tools/check_layout.sh
fi
if [ "$which" = all ] || [ "$which" = mpi ]; then
  for t in tests/mpi/test_*.sh; do
    [ -f "$t" ] || continue
    run_suite "mpi/$(basename "$t")" bash "$t"
  done
fi
# The suites whose results must not depend on the rank count, again with
# Open MPI's shared-memory paths switched off (ob1 over the TCP BTL on
# loopback, no vader, no UCX): ranks on different nodes talk like this, and
# a collective that only works through shared memory would pass above and
# fail on a cluster. TC_TCP_SUITES overrides the list ("" skips the pass).
if [ "$which" = all ] || [ "$which" = mpi ] || [ "$which" = tcp ]; then
  for s in ${TC_TCP_SUITES-test_coreset test_fit}; do
    [ -f "tests/mpi/$s.sh" ] || continue
    run_suite "mpi[tcp]/$s.sh" env OMPI_MCA_pml=ob1 OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=lo \
      OMPI_MCA_osc=pt2pt bash "tests/mpi/$s.sh"
  done
fi
echo "logs in $logdir"
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" = 0 ]
