#!/usr/bin/env bash
# analysis/cost_model.py (issues 9, 17): on the committed inputs
# (analysis/cost_model_inputs.kv) it prints the phase table with 9 rows (1M,
# 10M, 100M patches x 1, 16, 64 nodes), the per-mode table with every
# --coreset-mode, the two-round breakdown and the verdicts; on a file with
# only the limits every fallback is named ("from limit", "from DECISIONS
# measurement", "not measured"); the options change what they should; a file
# without limits is refused in one line. No MPI, no build: python only.
source "$(dirname "$0")/lib.sh"
PY=/usr/bin/python3
CM=$ROOT/analysis/cost_model.py
KV=$ROOT/analysis/cost_model_inputs.kv
cd "$TMP"
"$PY" "$CM" "$KV" --markdown >full.md 2>err.txt
check "cost_model on the committed inputs: exit 0" test $? = 0
check "  9 rows (1M, 10M, 100M x 1, 16, 64) in each of the 3 tables" test "$(grep -cE '^\| (1|10|100)M \| (1|16|64) \| [0-9]' full.md)" = 27
check "  the mode table has every mode" grep -q '^| patches | nodes | exact --no-prune | exact | bf16 | int8 | tworound | tworound-bf16 | tworound-int8 |$' full.md
check "  every row of the mode table has 9 cells" "$PY" -c "
import sys
lines = open('full.md').read().split('**Total fit time')[1].split('Two-round')[0].splitlines()
rows = [l for l in lines if l.startswith('| ') and 'M |' in l]
assert len(rows) == 9, len(rows)
for l in rows:
    cells = [c.strip() for c in l.strip('|').split('|')]
    assert len(cells) == 9 and all(c and c != '-' for c in cells), l
"
check "  no input is a fallback" bash -c "! grep -qE 'from limit|from DECISIONS|not measured' full.md"
check "  the issue-17 verdict for 10M on 16 nodes" grep -q '^- 10M patches on 16 nodes within 1 h (issue 17): yes with' full.md
check "  a verdict for one node of this machine's kind" grep -q "^- 1M patches on 1 node of this machine's kind (2 cores" full.md

# limits only: every stage falls back, and says so
grep -E '^(threads_all|sgemm_gflops|sgemm_gflops_1t|read_gbs|read_gbs_1t)=' "$KV" >limits.kv
"$PY" "$CM" limits.kv >lim.md 2>err.txt
check "limits only: exit 0" test $? = 0
check "  the coreset scan from limit" grep -q '^| coreset step scan (float32, memory) | from limit' lim.md
check "  the in-cache float32 step from limit" grep -q '^| coreset step in cache, float32 | from limit' lim.md
check "  bf16 and int8 steps name the DECISIONS ratios" test "$(grep -c 'from DECISIONS measurement' lim.md)" = 2
check "  pruning not measured" grep -q 'not measured: pruned column = plain' lim.md
# only the float32 shard measured: the narrow ones are scaled by DECISIONS' ratios
{ cat limits.kv; echo coreset_shard_f32_ns_per_point=10; } >f32.kv
"$PY" "$CM" f32.kv >f32.md 2>/dev/null
check "f32 shard only: int8 = 10 / 1.53 from DECISIONS" grep -q '^| coreset step in cache, int8 | from DECISIONS measurement: f32 shard step / 1.53 (fit ratio exact/int8) = 6.54 ns/point |$' f32.md

# options: ratio, oversample, shard, patches, nodes
"$PY" "$CM" "$KV" --patches 2e6 --nodes 4 --ratio 0.05 --oversample 4 --shard 8192 >opt.md 2>err.txt
check "options: exit 0" test $? = 0
check "  one row per table for 2M x 4 nodes" test "$(grep -c '^| 2M | 4 |' opt.md)" = 3
check "  245 shards of 8192, 1633 picks each (ceil(4 x 0.05 x 2M x len / 2M))" grep -qE '^\| 2M \| 4 \| 245 \| 1633 \|' opt.md
check "  the work line shows the ratio" grep -q 'm = 0.05 x patches' opt.md
# a cache of 0 turns every step into the memory-bound scan of the old model
"$PY" "$CM" "$KV" --cache-mb-per-core 0 >nocache.md 2>/dev/null
check "  --cache-mb-per-core 0: 10M on 64 nodes at 464 us per plain step (memory)" grep -qE '^\| 10M \| 64 \| .*\| 464 us / ' nocache.md

echo "sgemm_gflops=1" >bad.kv
"$PY" "$CM" bad.kv >/dev/null 2>err.txt
check "no read bandwidth: refused" test $? != 0
check "  in one line naming the limits" grep -q 'no limits' err.txt
report
