#!/usr/bin/env bash
# bench/bank_bench.sh - memory-bank benchmarks (NOT tests; timings vary with
# the machine). Contract of bench/README.md: prints BENCH/METRIC lines.
#  - coreset step, plain and filtered (the default --coreset-filter), vs the read-bandwidth bound
#    (bytes that must be read per step / LIMIT_READ_GBS_1T or our own STREAM
#    read) on n = 1M x 128 synthetic points and vs a PyTorch loop;
#  - the same on a realistic set (REAL_FEATURES, default /tmp/e2e/train.h5:
#    every patch projected to 128-d as fit does), whole selection m = n/10
#    unless REAL_STEPS is set; identical indices checked;
#  - LOF 400 images x LOF_HW positions vs scikit-learn, both as we call it
#    (LocalOutlierFactor(n_neighbors=6)) and as the authors' code calls it
#    (metric="l2", float32 features[:, p, :]; a slower sklearn code path for
#    the same Euclidean LOF, checked on L2CHECK_POS positions);
#  - 2 ranks vs 1 rank (distributed coreset step);
#  - the plain step per point in each precision of `fit --coreset-mode`
#    (f32, bf16, int8) at N points (memory-bound) and at one two-round shard
#    of SHARD points (cache-resident), for analysis/cost_model.py.
# Env: BUILD, PY, BENCH_QUICK, LIMIT_READ_GBS_1T, N, STEPS, PSTEPS, MSTEPS,
# SHARD, SHSTEPS, LOF_HW,
# SK_HW, L2CHECK_POS, REAL_FEATURES, REAL_STEPS; BANK_ONLY=lof runs only the
# LOF part (default: everything).
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${BUILD:-build}
PY=${PY:-/usr/bin/python3}
export OPENBLAS_NUM_THREADS=1 OMP_NUM_THREADS=1
if [ "${BENCH_QUICK:-0}" = 1 ]; then
  N=${N:-200000}; STEPS=${STEPS:-10}; PSTEPS=${PSTEPS:-100}; LOF_HW=${LOF_HW:-100}; SK_HW=${SK_HW:-20}
  MSTEPS=${MSTEPS:-5}; SHSTEPS=${SHSTEPS:-100}
  REAL_STEPS=${REAL_STEPS:-2000}
else
  N=${N:-1000000}; STEPS=${STEPS:-30}; PSTEPS=${PSTEPS:-300}; LOF_HW=${LOF_HW:-784}; SK_HW=${SK_HW:-100}
  MSTEPS=${MSTEPS:-20}; SHSTEPS=${SHSTEPS:-500}
  REAL_STEPS=${REAL_STEPS:-0}
fi
REAL_FEATURES=${REAL_FEATURES:-/tmp/e2e/train.h5}
L2CHECK_POS=${L2CHECK_POS:-5}
SHARD=${SHARD:-16384}
BANK_ONLY=${BANK_ONLY:-}
case "$BANK_ONLY" in ""|all) coreset=1 ;; lof) coreset=0 ;; *) echo "BANK_ONLY=$BANK_ONLY: expected lof or all" >&2; exit 2 ;; esac
if [ -z "${MPIRUN:-}" ]; then
  MPIRUN="mpirun --oversubscribe --bind-to none"
  [ "$(id -u)" = 0 ] && MPIRUN="$MPIRUN --allow-run-as-root"
fi
MPIRUN="$MPIRUN -x OPENBLAS_NUM_THREADS -x OMP_NUM_THREADS"
TCP_ENV="OMPI_MCA_pml=ob1 OMPI_MCA_btl=tcp,self OMPI_MCA_btl_tcp_if_include=lo OMPI_MCA_osc=pt2pt"
make --no-print-directory BUILD="$BUILD" "$BUILD/bench/bank_bench" >/dev/null
B=$BUILD/bench/bank_bench
out=$(mktemp)
trap 'rm -f "$out" "${TMPR:-}"' EXIT
if [ $coreset = 1 ]; then
$MPIRUN -np 1 $B coreset $N 128 $STEPS | tee -a $out
$PY bench/bank_bench.py coreset $N 128 $STEPS | tee -a $out || echo "torch_coreset_step_ms unavailable" | tee -a $out
$MPIRUN -np 1 $B pcoreset $N 128 $PSTEPS | tee -a $out
$MPIRUN -np 2 $B pcoreset $N 128 $PSTEPS | tee -a $out
# the same step with shared memory off (ob1 + TCP BTL on loopback), as ranks
# on different nodes talk: the per-step allreduce then pays TCP latency
env $TCP_ENV $MPIRUN -np 2 $B pcoreset $N 128 $PSTEPS | sed 's/_ranks2_/_ranks2tcp_/' | tee -a $out
# the step of each --coreset-mode precision, at N points and at one shard
$MPIRUN -np 1 $B coreset-mode $N 128 $MSTEPS | tee -a $out
$MPIRUN -np 1 $B coreset-mode $SHARD 128 $SHSTEPS | sed 's/^coresetmode_/coresetshard_/' | tee -a $out
if [ -r "$REAL_FEATURES" ]; then
  TMPR=$(mktemp --suffix=.f32)
  $MPIRUN -np 1 $B proj "$REAL_FEATURES" $TMPR | tee -a $out
  $MPIRUN -np 1 $B real $TMPR 128 $REAL_STEPS 100 | tee -a $out
else
  echo "real_features unavailable ($REAL_FEATURES)" | tee -a $out
fi
fi
$MPIRUN -np 1 $B lof 400 $LOF_HW 128 | tee -a $out
$MPIRUN -np 1 $B plof 400 $LOF_HW 128 | tee -a $out
$MPIRUN -np 2 $B plof 400 $LOF_HW 128 | tee -a $out
$PY bench/bank_bench.py lof 400 $SK_HW 128 | tee -a $out || echo "sklearn_lof_seconds unavailable" | tee -a $out
# scikit-learn given both cores (its brute-force neighbour search is OpenMP)
OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 $PY bench/bank_bench.py lof 400 $SK_HW 128 | sed 's/^sklearn_lof_seconds/sklearn2_lof_seconds/' | tee -a $out || true
# the authors' call: LocalOutlierFactor(n_neighbors=6, metric="l2") on float32 features[:, p, :]
$PY bench/bank_bench.py lof-authors 400 $SK_HW 128 | tee -a $out || echo "sklearn_authors_lof_seconds unavailable" | tee -a $out
OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2 $PY bench/bank_bench.py lof-authors 400 $SK_HW 128 | sed 's/^sklearn_authors_lof_seconds/sklearn2_authors_lof_seconds/' | tee -a $out || true
$PY bench/bank_bench.py lof-l2check 400 $L2CHECK_POS 128 | tee -a $out || echo "sklearn_l2_vs_default_max_rel_diff unavailable" | tee -a $out
g() { awk -v k="$1" '$1 == k {print $2}' $out | tail -1; }
bw=${LIMIT_READ_GBS_1T:-$(g stream_read_GBps)}
num() { [[ "$1" =~ ^[0-9.]+$ ]]; }
echo "--- ratios"
if [ $coreset = 1 ]; then
plain=$(g coreset_plain_step_ms); pruned=$(g coreset_pruned_step_ms); torch=$(g torch_coreset_step_ms)
bound=$(awk -v n=$N -v bw=$bw 'BEGIN {printf "%.3f", (n * 128 * 4 + n * 8) / (bw * 1e9) * 1e3}')
peer="torch:unavailable"; ratio="-"
if num "$torch"; then peer="torch:${torch}ms/step"; ratio=$(awk -v a=$torch -v b=$plain 'BEGIN {printf "%.2f", a / b}'); fi
echo "BENCH stage=coreset-step size=n=$N,d=128 ours=${plain}ms/step peer=$peer ratio=$ratio limit_frac=$(awk -v a=$bound -v b=$plain 'BEGIN {printf "%.2f", a / b}') threads=1 ranks=1 note=plain loop (every point read each step); bound = $(awk -v n=$N 'BEGIN {printf "%.0f", n * (128 * 4 + 8) / 1e6}') MB / read ${bw} GB/s = ${bound} ms; uniform clustered synthetic points"
echo "BENCH stage=coreset-step-pruned size=n=$N,d=128 ours=${pruned}ms/step peer=$peer ratio=$(num "$torch" && awk -v a=$torch -v b=$pruned 'BEGIN {printf "%.2f", a / b}' || echo -) limit_frac=$(awk -v a=$bound -v b=$pruned 'BEGIN {printf "%.2f", a / b}') threads=1 ranks=1 note=the default filter (fit --coreset-filter auto: the sketch at this size), first $STEPS steps with the sketch's build (PCA and codes of all points) counted in them: early steps settle few points, whole selections are where it pays (coreset-mode exact lines) (identical indices: $(g coreset_identical)); limit_frac > 1 means below the plain bandwidth bound"
for v in plain pruned; do
  t1=$(g pcoreset_${v}_ranks1_step_ms); t2=$(g pcoreset_${v}_ranks2_step_ms)
  echo "BENCH stage=coreset-ranks-$v size=n=$N,d=128 ours=${t2}ms/step peer=1rank:${t1}ms/step ratio=$(awk -v a=$t1 -v b=$t2 'BEGIN {printf "%.2f", a / b}') limit_frac=- ranks=2 note=2-rank vs 1-rank distributed step (first $PSTEPS steps, one allreduce per step)"
  tt=$(g pcoreset_${v}_ranks2tcp_step_ms)
  if num "$tt"; then
    echo "BENCH stage=coreset-tcp-$v size=n=$N,d=128 ours=${tt}ms/step peer=shm:${t2}ms/step ratio=$(awk -v a=$t2 -v b=$tt 'BEGIN {printf "%.2f", a / b}') limit_frac=- ranks=2 note=2-rank distributed step with Open MPI's shared memory off (pml ob1, btl tcp on loopback: the transport between nodes) vs the shared-memory run above; ratio = shm / tcp (1 = TCP costs nothing); loopback has no wire latency, so a real network adds its allreduce latency once per step"
  fi
done
rn=$(g real_n)
if [ -n "$rn" ]; then
  rp=$(g real_plain_step_ms); rq=$(g real_pruned_step_ms); rs=$(g real_steps); ev=$(g real_points_evaluated_per_step)
  rb=$(awk -v n=$rn -v bw=$bw 'BEGIN {printf "%.3f", (n * 128 * 4 + n * 8) / (bw * 1e9) * 1e3}')
  echo "BENCH stage=coreset-real size=n=$rn,d=128,m=$rs ours=${rq}ms/step peer=plain:${rp}ms/step ratio=$(awk -v a=$rp -v b=$rq 'BEGIN {printf "%.2f", a / b}') limit_frac=$(awk -v a=$rb -v b=$rq 'BEGIN {printf "%.2f", a / b}') threads=1 ranks=1 note=realistic set ($REAL_FEATURES projected to 128-d); the default filter (--coreset-filter auto: the sketch) mean over $rs steps, ${ev} of $rn points evaluated per step; plain = mean of first 100 steps; bound = plain bytes ${rb} ms at ${bw} GB/s; identical first-100 indices: $(g real_identical_first | awk '{print $1}')"
  echo "METRIC coreset_prune_speedup=$(awk -v a=$rp -v b=$rq 'BEGIN {printf "%.2f", a / b}')"
fi
echo "METRIC coreset_ns_per_point=$(awk -v a=$plain -v n=$N 'BEGIN {printf "%.2f", a * 1e6 / n}') coreset_threads=1"
# per-precision steps (plain, 1 thread): coreset_mode_* at N points (memory),
# coreset_shard_* at one shard of SHARD points (cache); cost_model.py reads them
ml="METRIC coreset_shard_n=$SHARD"
for p in f32 bf16 int8; do
  v=$(g coresetmode_${p}_ns_per_point); num "$v" && ml="$ml coreset_mode_${p}_ns_per_point=$v"
  v=$(g coresetshard_${p}_ns_per_point); num "$v" && ml="$ml coreset_shard_${p}_ns_per_point=$v"
done
echo "$ml"
f=$(g coresetmode_f32_ns_per_point)
for p in bf16 int8; do
  v=$(g coresetmode_${p}_ns_per_point)
  num "$f" && num "$v" && echo "BENCH stage=coreset-step-$p size=n=$N,d=128 ours=${v}ns/point peer=f32:${f}ns/point ratio=$(awk -v a=$f -v b=$v 'BEGIN {printf "%.2f", a / b}') limit_frac=- threads=1 ranks=1 note=plain serial step of --coreset-mode $p (encoded rows, $([ $p = bf16 ] && echo 2 || echo 1) B/value) vs the float32 step in the same harness, $MSTEPS steps; one shard of $SHARD points (cache-resident): f32 $(g coresetshard_f32_ns_per_point), $p $(g coresetshard_${p}_ns_per_point) ns/point"
done
fi
ours=$(g lof_seconds); sk=$(g sklearn_lof_seconds); sk2=$(g sklearn2_lof_seconds)
p1=$(g plof_ranks1_seconds); p2=$(g plof_ranks2_seconds)
ours_pp=$(awk -v a=$ours -v h=$LOF_HW 'BEGIN {printf "%.5f", a / h}')
# the floor: the half Gram (ssyrk, 400 x 401 / 2 x 128 x 2 flop per position) at the sgemm peak
gflop=$(awk -v h=$LOF_HW 'BEGIN {printf "%.3f", h * 400 * 401 / 2 * 128 * 2 / 1e9}')
pk1=${LIMIT_SGEMM_GFLOPS_1T:-}; pk=${LIMIT_SGEMM_GFLOPS:-}
lf1=-; lf2=-
num "$pk1" && lf1=$(awk -v g=$gflop -v p=$pk1 -v t=$ours 'BEGIN {printf "%.2f", g / p / t}')
num "$pk" && num "$p2" && lf2=$(awk -v g=$gflop -v p=$pk -v t=$p2 'BEGIN {printf "%.2f", g / p / t}')
if num "$sk"; then
  sk_pp=$(awk -v a=$sk -v h=$SK_HW 'BEGIN {printf "%.5f", a / h}')
  skf=$(awk -v a=$sk_pp -v h=$LOF_HW 'BEGIN {printf "%.2f", a * h}')
  echo "BENCH stage=lof size=N=400,HW=$LOF_HW,d=128 ours=$(awk -v a=$ours_pp -v h=$LOF_HW 'BEGIN {printf "%.3f", a * h}')s peer=sklearn:${skf}s ratio=$(awk -v a=$sk_pp -v b=$ours_pp 'BEGIN {printf "%.2f", a / b}') limit_frac=$lf1 threads=1 note=serial kernel vs LocalOutlierFactor(n_neighbors=6).fit per position, 1 thread each; sklearn timed on $SK_HW positions and scaled to $LOF_HW; limit_frac = ${gflop} GFLOP half-Gram at the 1-thread sgemm peak / ours"
  if num "$sk2" && num "$p2"; then
    sk2f=$(awk -v a=$sk2 -v s=$SK_HW -v h=$LOF_HW 'BEGIN {printf "%.2f", a / s * h}')
    echo "BENCH stage=lof-machine size=N=400,HW=$LOF_HW,d=128 ours=${p2}s peer=sklearn:${sk2f}s ratio=$(awk -v a=$sk2f -v b=$p2 'BEGIN {printf "%.2f", a / b}') limit_frac=$lf2 ranks=2 threads=1 note=both cores each: fit's distributed LOF on 2 ranks (image-to-position all-to-all included; 1 rank ${p1}s) vs scikit-learn with OMP_NUM_THREADS=2; limit_frac = half-Gram at the all-core sgemm peak / ours"
  fi
else
  echo "BENCH stage=lof size=N=400,HW=$LOF_HW,d=128 ours=${ours}s peer=sklearn:unavailable ratio=- limit_frac=- threads=1 note=scikit-learn could not be imported"
fi
ska=$(g sklearn_authors_lof_seconds); ska2=$(g sklearn2_authors_lof_seconds); l2d=$(g sklearn_l2_vs_default_max_rel_diff)
anote="the authors' configuration: LocalOutlierFactor(n_neighbors=6, metric=\"l2\").fit once per position on float32 features[:, p, :] of one (400, HW, 128) array; timed on $SK_HW positions and scaled to $LOF_HW; same Euclidean LOF as the default metric (max relative difference of -negative_outlier_factor_ l2 vs default on $L2CHECK_POS positions: ${l2d:-unavailable}), but scikit-learn $($PY -c 'import sklearn; print(sklearn.__version__)' 2>/dev/null || echo '?') sends metric=\"l2\" through its generic per-pair distance loop instead of the GEMM Euclidean search"
if num "$ska"; then
  skaf=$(awk -v a=$ska -v s=$SK_HW -v h=$LOF_HW 'BEGIN {printf "%.2f", a / s * h}')
  echo "BENCH stage=lof-authors size=N=400,HW=$LOF_HW,d=128 ours=$(awk -v a=$ours_pp -v h=$LOF_HW 'BEGIN {printf "%.3f", a * h}')s peer=sklearn-l2:${skaf}s ratio=$(awk -v a=$ska -v s=$SK_HW -v b=$ours_pp 'BEGIN {printf "%.2f", a / s / b}') limit_frac=$lf1 threads=1 note=serial kernel vs $anote; 1 thread each; limit_frac as for stage lof"
else
  echo "BENCH stage=lof-authors size=N=400,HW=$LOF_HW,d=128 ours=$(awk -v a=$ours_pp -v h=$LOF_HW 'BEGIN {printf "%.3f", a * h}')s peer=sklearn-l2:unavailable ratio=- limit_frac=$lf1 threads=1 note=scikit-learn could not be imported"
fi
if num "$p2"; then
  if num "$ska2"; then
    ska2f=$(awk -v a=$ska2 -v s=$SK_HW -v h=$LOF_HW 'BEGIN {printf "%.2f", a / s * h}')
    echo "BENCH stage=lof-authors-machine size=N=400,HW=$LOF_HW,d=128 ours=${p2}s peer=sklearn-l2:${ska2f}s ratio=$(awk -v a=$ska2f -v b=$p2 'BEGIN {printf "%.2f", a / b}') limit_frac=$lf2 ranks=2 threads=1 note=both cores each: fit's distributed LOF on 2 ranks (all-to-all included; 1 rank ${p1}s) vs $anote; OMP_NUM_THREADS=2 OPENBLAS_NUM_THREADS=2; limit_frac as for stage lof-machine"
  else
    echo "BENCH stage=lof-authors-machine size=N=400,HW=$LOF_HW,d=128 ours=${p2}s peer=sklearn-l2:unavailable ratio=- limit_frac=$lf2 ranks=2 threads=1 note=scikit-learn (2 threads) could not be run"
  fi
fi
echo "METRIC lof_s_per_position=$ours_pp lof_n_images=400 lof_threads=1"
