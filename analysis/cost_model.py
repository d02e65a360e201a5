#!/usr/bin/env python3
"""cost_model.py - project `tailedcore fit` time at plant scale from this
machine's measured per-step costs (issues 9 and 17; formulas and
assumptions in analysis/cost_model.md), per `fit --coreset-mode`.

Reads the key=value file bench/run.sh writes ($BUILD/bench/results.kv):
limits (sgemm_gflops, read_gbs, ...), MPI (allreduce_us_528B, pp_bw_gbs_*,
pp_lat_us_8B) and the stage benches' METRIC keys (coreset_ns_per_point,
lof_s_per_position, gram_gflops, extract_images_per_s, ...). A missing stage
metric falls back to a bound derived from the limits (or, for the coreset
modes, to the fit-time ratios measured in DECISIONS.md), and the row says so.

    /usr/bin/python3 analysis/cost_model.py build/bench/results.kv [--markdown]
        [--patches 1e6,10e6,100e6] [--nodes 1,16,64]
        [--cores-per-node 64] [--node-read-gbs 200] [--net-latency-us 2]
        [--net-gbs 12] [--efficiency 0.7] [--coreset-ratio 0.1]
        [--oversample 2] [--shard 8192] [--cache-mb-per-core 4] ...

Prints a Markdown section (inputs, the phase table, the per-mode table, the
two-round breakdown, the verdicts) on stdout. Standard library only.
It is a model, not a measurement: every number it prints is a projection.
"""
import argparse
import copy
import math
import sys


HW = 784          # patch positions per image (28 x 28 at 224 input, DESIGN 3.2)
PROJ_BYTES = 512  # one projected patch: 128 float32 (DESIGN 3.3)
REC_BYTES = 528   # coreset max-location record: float + int64 + 128 float32, padded
DIM = 128
# bytes a plain step moves per point: the encoded row, plus min_d2 read and
# written (4 + 4); fit's step is memory-bound at these sizes (DECISIONS)
ROW_BYTES = {"f32": DIM * 4, "bf16": DIM * 2, "int8": DIM * 1}
STEP_BYTES = {p: b + 8 for p, b in ROW_BYTES.items()}
# fit-time ratio exact / mode from DECISIONS.md "Coreset modes (issue 17)":
# the back-to-back bench/coreset_bench.sh run (pareto, patchcore, 1%, pruned,
# 2 ranks). Only a fallback when bank_bench's per-precision step is missing.
DECISIONS_RATIO = {"f32": 1.0, "bf16": 1.20, "int8": 1.53}
# the modes of `fit --coreset-mode` and the column of each in the mode table:
# (label, precision, rounds, pruned)
MODES = (("exact --no-prune", "f32", 1, False), ("exact", "f32", 1, True), ("bf16", "bf16", 1, True),
         ("int8", "int8", 1, True), ("tworound", "f32", 2, True), ("tworound-bf16", "bf16", 2, True),
         ("tworound-int8", "int8", 2, True))


def read_kv(path):
    kv = {}
    with open(path) as f:
        for line in f:
            if "=" in line:
                k, v = line.rstrip("\n").split("=", 1)
                kv[k.strip()] = v.strip()
    return kv


def fnum(kv, key):
    try:
        return float(kv[key])
    except (KeyError, ValueError):
        return None


def fmt_p(P):
    """A patch count: 10M, 1.5M, 169k."""
    return "%gM" % (P / 1e6) if P >= 1e6 else "%.0fk" % (P / 1e3)


def fmt_h(t):
    """Seconds as hours, two significant digits."""
    if t is None or not math.isfinite(t):
        return "-"
    h = t / 3600
    if h >= 100:
        return "%.0f" % h
    if h >= 0.01:
        return "%.2g" % h if h < 10 else "%.0f" % h
    return "%.1g" % h


def fmt_s(t):
    """Seconds as a short human duration."""
    if t is None or not math.isfinite(t):
        return "-"
    if t < 1:
        return "%.2f s" % t
    if t < 120:
        return "%.0f s" % t
    if t < 7200:
        return "%.0f min" % (t / 60)
    if t < 2 * 86400:
        return "%.1f h" % (t / 3600)
    return "%.1f d" % (t / 86400)


class Costs:
    """Per-unit costs on ONE core of this machine (or per node where said),
    each with the source it came from ('measured' or 'from limit')."""

    def __init__(self, kv, a):
        T = fnum(kv, "threads_all") or 1.0
        sg = fnum(kv, "sgemm_gflops") or fnum(kv, "sgemm_gflops_1t")
        rd = fnum(kv, "read_gbs") or fnum(kv, "read_gbs_1t")
        if not sg or not rd:
            raise SystemExit("cost_model: results file has no limits (sgemm_gflops, read_gbs)")
        self.src = {}
        self.T, self.sgemm, self.read = T, sg, rd

        # coreset: measured ns/point/step on this machine's T threads, a
        # bandwidth-bound scan; projected to a node by the ratio of node to
        # measured read bandwidth (not by cores: bandwidth saturates).
        def threads(stage):
            return fnum(kv, stage + "_threads") or T
        c = fnum(kv, "coreset_ns_per_point")
        if c:
            ct = threads("coreset")
            # compare with the bandwidth of the same thread count
            rdc = (fnum(kv, "read_gbs_1t") if ct == 1 else rd) or rd
            self.src["coreset"] = "measured: %.3g ns/point/step on %d thread(s) (read %.1f GB/s)" % (c, ct, rdc)
        else:
            rdc = rd
            c = PROJ_BYTES / rd  # bytes / (GB/s) = ns
            self.src["coreset"] = "from limit: 512 B/point at %.1f GB/s read = %.3g ns/point" % (rd, c)
        # bytes-equivalent of one float32 step on a point: ns x GB/s = B
        # (the measured step read as a bandwidth-bound scan)
        self.coreset_step_bytes = c * rdc
        self.coreset_ns_node = c * rdc / a.node_read_gbs
        # per precision: one core's step per point with the points in cache
        # (one two-round shard, coreset_shard_*), the compute side of the
        # roofline; and the memory-bound step at 1M points (coreset_mode_*),
        # shown for reference
        self.shard_ns, self.mode_ns = {}, {}
        sh_n = fnum(kv, "coreset_shard_n")
        f32s = fnum(kv, "coreset_shard_f32_ns_per_point")
        for p in ("f32", "bf16", "int8"):
            v = fnum(kv, "coreset_shard_%s_ns_per_point" % p)
            if v:
                self.shard_ns[p] = v
                self.src["shard_" + p] = "measured: %.3g ns/point, 1 thread, %s points in cache (bank_bench coreset-mode)" % (
                    v, "%d" % sh_n if sh_n else "one shard of")
            elif f32s and p != "f32":
                self.shard_ns[p] = f32s / DECISIONS_RATIO[p]
                self.src["shard_" + p] = "from DECISIONS measurement: f32 shard step / %.2f (fit ratio exact/%s) = %.3g ns/point" % (
                    DECISIONS_RATIO[p], p, self.shard_ns[p])
            else:
                f = 2 * DIM / (sg / T)  # 2 flop per value at the per-core sgemm rate, in ns
                self.shard_ns[p] = f / DECISIONS_RATIO[p]
                self.src["shard_" + p] = "from limit: %d flop/point at %.0f GFLOP/s per core%s = %.3g ns/point" % (
                    2 * DIM, sg / T, "" if p == "f32" else ", / %.2f from DECISIONS measurement" % DECISIONS_RATIO[p],
                    self.shard_ns[p])
            m = fnum(kv, "coreset_mode_%s_ns_per_point" % p)
            if m:
                self.mode_ns[p] = m
        self.prune = fnum(kv, "coreset_prune_speedup") or 1.0
        if fnum(kv, "coreset_prune_speedup") is None:
            self.src["prune"] = "not measured: pruned column = plain"
        else:
            self.src["prune"] = "measured: x%.2f" % self.prune

        # LOF: seconds for one position over n images; brute-force kNN scales
        # as n^2. Per core = measured x T (pessimistic: assumes perfect
        # scaling over the T threads it was measured on).
        ls, ln = fnum(kv, "lof_s_per_position"), fnum(kv, "lof_n_images")
        if ls and ln:
            lt = threads("lof")
            self.lof_core_s_per_pair = ls * lt / (ln * ln)
            self.src["lof"] = "measured: %.3g s/position at %d images, %d thread(s)" % (ls, ln, lt)
        else:
            # distances as a GEMM: 2 * 128 flop per pair, at the sgemm rate
            self.lof_core_s_per_pair = 2 * 128 / (sg / T * 1e9)
            self.src["lof"] = "from limit: 256 flop/pair at sgemm %.0f GFLOP/s (kNN selection not counted)" % sg

        # Gram / TailSampler
        ts, tn = fnum(kv, "tailsampler_s"), fnum(kv, "tailsampler_n")
        gg = fnum(kv, "gram_gflops")
        self.ts_model = None
        if ts and tn:
            # whole TailSampler on 1 rank: Gram N^2 E plus row sorts N^2 log N;
            # scaled as N^2 log N (the larger exponent), per core x T
            tt = threads("tailsampler")
            self.ts_model = (ts * tt, tn)
            self.src["tailsampler"] = "measured: %.3g s at N=%d on %d core(s); scaled as N^2 log N" % (ts, tn, tt)
        elif gg:
            self.gram_core = gg / threads("gram")
            self.src["tailsampler"] = "measured Gram %.0f GFLOP/s; row passes (sort, vote) not counted" % gg
        else:
            self.gram_core = sg / T
            self.src["tailsampler"] = "from limit: Gram at sgemm %.0f GFLOP/s; row passes not counted" % sg

        # extraction
        ei = fnum(kv, "extract_images_per_s")
        if ei:
            et = threads("extract")
            self.extract_core = ei / et
            self.src["extract"] = "measured: %.3g images/s on %d threads" % (ei, et)
        else:
            gf = a.backbone_gflop
            self.extract_core = 0.5 * sg / T / gf
            self.src["extract"] = "from limit: %.2g GFLOP/image at 50%% of sgemm" % gf

        # MPI: one allreduce round inside a node = the measured 2-rank figure
        ar = fnum(kv, "allreduce_us_528B")
        if ar:
            self.ar_shm_us = ar
            self.src["allreduce"] = "measured: %.2f us for 528 B on 2 ranks (shared memory)" % ar
        else:
            self.ar_shm_us = 1.0
            self.src["allreduce"] = "not measured: 1 us assumed per shared-memory round"
        self.pp_gbs = fnum(kv, "pp_bw_gbs_64MB") or fnum(kv, "pp_bw_gbs_16MB")


def project(c, a, P, nodes):
    """Seconds per fit phase for P patches on `nodes` nodes."""
    N = P / HW                         # images
    cores = a.cores_per_node * nodes
    ranks = a.ranks_per_node * nodes
    eff = a.efficiency
    r = {}
    r["extract"] = N / (c.extract_core * cores * eff)
    if c.ts_model:
        s1, n1 = c.ts_model
        r["tailsampler"] = s1 * (N / n1) ** 2 * math.log(N) / math.log(n1) / (cores * eff)
    else:
        r["tailsampler"] = N * N * a.embed_dim / (c.gram_core * 1e9 * cores * eff)
    # LOF: positions are the unit of work (DESIGN 6); a core scores whole
    # positions, so at most HW cores are busy and the busiest does ceil().
    busy = min(cores, HW)
    r["lof"] = math.ceil(HW / busy) * N * N * c.lof_core_s_per_pair / eff
    # all-to-all: each node sends and receives its patches' projections once
    vol = P / nodes * PROJ_BYTES * (nodes - 1) / nodes
    r["lof_a2a"] = vol / (a.net_gbs * 1e9 * a.a2a_efficiency) + (ranks - 1) * a.net_latency_us * 1e-6
    # coreset: steps = ratio x P; each step scans this node's points and does
    # one allreduce: log2(ranks per node) shared-memory rounds, then log2(nodes)
    # network rounds (recursive doubling).
    steps = a.coreset_ratio * P
    net_round = (a.net_latency_us + REC_BYTES / (a.net_gbs * 1e3)) * 1e-6
    ar = math.ceil(math.log2(max(a.ranks_per_node, 1))) * c.ar_shm_us * 1e-6 \
        + math.ceil(math.log2(max(nodes, 1))) * net_round
    # the float32 step on a node: the roofline of step_ns (memory-bound at
    # these sizes unless a rank's points fit its cache)
    scan = step_ns(c, a, "f32", P / nodes, P / ranks) * 1e-9
    r["coreset_scan"] = steps * scan
    r["coreset_allreduce"] = steps * ar
    r["step_scan_us"] = scan * 1e6
    r["step_ar_us"] = ar * 1e6
    r["total"] = r["extract"] + r["tailsampler"] + r["lof"] + r["lof_a2a"] + r["coreset_scan"] + r["coreset_allreduce"]
    r["total_pruned"] = r["total"] - r["coreset_scan"] + r["coreset_scan"] / c.prune
    r["total_no_extract"] = r["total"] - r["extract"]
    r["fixed"] = r["total"] - r["coreset_scan"] - r["coreset_allreduce"]
    r["allreduce_s"] = ar
    return r


def step_ns(c, a, p, pts_node, pts_rank):
    """Nanoseconds of one plain greedy step (precision p) on the busiest
    node: the larger of two terms,
     - compute: the busiest rank's points x one core's in-cache step per
       point (coreset_shard_*), / efficiency;
     - memory: when a rank's points do not fit its share of cache
       (--cache-mb-per-core), the node's points x bytes per point / node read
       bandwidth, with bytes = the measured float32 step's bytes-equivalent x
       STEP_BYTES[p] / STEP_BYTES[f32] (a narrower row reads fewer bytes);
       pts_node counts only the points of ranks that stream at the same time
       (they share the node's bandwidth).
    Divide by the pruning speed-up for a pruned step."""
    comp = pts_rank * c.shard_ns[p] / a.efficiency
    if pts_rank * STEP_BYTES[p] <= a.cache_mb_per_core * 1e6:
        return comp
    mem = pts_node * c.coreset_step_bytes * STEP_BYTES[p] / STEP_BYTES["f32"] / a.node_read_gbs
    return max(comp, mem)


def deal_rank(j, n, size):
    """mpi/pcoreset.c's dealing of shard j of n to a rank (tc_deal_rank in
    src/partition.c): j % size in every full round; item i of the last,
    partial round of r = n % size items goes to rank floor(i * size / r)."""
    full = n // size * size
    if j < full:
        return j % size
    return (j - full) * size // (n - full)


def busiest_node(ns, R, rpn):
    """(shards on the busiest node, ranks holding a shard on it) when ns
    shards are dealt to R ranks numbered node by node, rpn per node. Every
    full round puts rpn shards on each node; only the partial round's ranks
    (at most R) need counting."""
    q, rem = divmod(ns, R)
    nodes = max(1, -(-R // rpn))
    extra = [0] * nodes
    for j in range(q * R, ns):
        extra[deal_rank(j, ns, R) // rpn] += 1
    top = max(range(nodes), key=lambda i: extra[i])
    return rpn * q + extra[top], (rpn if q > 0 else extra[top])


def coreset_mode(c, a, P, nodes, prec, rounds, pruned, ar):
    """Seconds of the coreset stage of `fit --coreset-mode` for P patches on
    `nodes` nodes; ar = one allreduce (s). Returns a dict of the parts."""
    R = a.ranks_per_node * nodes
    m = a.coreset_ratio * P
    sp = c.prune if pruned else 1.0
    o = {}
    if rounds == 1:
        t = step_ns(c, a, prec, P / nodes, P / R) * 1e-9
        o["scan"] = m * t / sp
        o["allreduce"] = m * ar
        o["total"] = o["scan"] + o["allreduce"]
        return o
    # two-round: ns shards of ~len points, k picks each; shards dealt to
    # ranks one at a time (tc_deal_rank: round-robin, the last partial round
    # spread over the ranks), so with ns < ranks they spread over the nodes
    # instead of filling the first one
    ns = math.ceil(P / a.shard)
    ln = P / ns
    k = math.ceil(a.oversample * m * ln / P)
    q, rem = divmod(ns, R)
    per_rank = q + (1 if rem else 0)
    node0, busy = busiest_node(ns, R, a.ranks_per_node)
    # the all-to-all that deals the rows: encoded row + int64 ordinal
    vol = P / nodes * (ROW_BYTES[prec] + 8) * (nodes - 1) / nodes
    o["a2a"] = vol / (a.net_gbs * 1e9 * a.a2a_efficiency) + (R - 1) * a.net_latency_us * 1e-6
    # round 1: k steps over each of my shards, no communication; all busy
    # ranks of a node stream their shards at once (shared bandwidth)
    t1 = step_ns(c, a, prec, busy * ln, ln) * 1e-9
    o["round1"] = per_rank * k * t1 / sp
    # round 2: the distributed exact loop over the union
    u_node, u_rank = node0 * k, per_rank * k
    mm = min(m, ns * k)
    t2 = step_ns(c, a, prec, u_node, u_rank) * 1e-9
    o["round2_scan"] = mm * t2 / sp
    o["allreduce"] = mm * ar
    o["total"] = o["a2a"] + o["round1"] + o["round2_scan"] + o["allreduce"]
    o.update(ns=ns, k=k, per_rank=per_rank, node0=node0, u_node=u_node, union=ns * k)
    return o


def all_modes(c, a, P, nodes):
    """Phase dict of project() plus mode -> (total fit s, coreset dict)."""
    r = project(c, a, P, nodes)
    modes = {}
    for label, prec, rounds, pruned in MODES:
        cm = coreset_mode(c, a, P, nodes, prec, rounds, pruned, r["allreduce_s"])
        modes[label] = (r["fixed"] + cm["total"], cm)
    return r, modes


def local_profile(a, c):
    """The same assumptions on one node of this machine's kind: its cores
    (threads_all) as ranks, its all-thread read bandwidth; the shard that
    bank_bench timed in cache here counts as cache-resident."""
    b = copy.copy(a)
    b.cores_per_node = b.ranks_per_node = int(c.T)
    b.node_read_gbs = c.read
    b.cache_mb_per_core = max(a.cache_mb_per_core, a.shard * STEP_BYTES["f32"] / 1e6)
    return b


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="key=value file from bench/run.sh (build/bench/results.kv)")
    ap.add_argument("--markdown", action="store_true", help="Markdown (the default and only format; kept for clarity)")
    ap.add_argument("--patches", default="1e6,10e6,100e6", help="patch counts (comma list) [1e6,10e6,100e6]")
    ap.add_argument("--nodes", default="1,16,64", help="node counts (comma list) [1,16,64]")
    ap.add_argument("--cores-per-node", type=int, default=64, help="cores per node [64: 2 x 32-core sockets]")
    ap.add_argument("--ranks-per-node", type=int, default=0, help="MPI ranks per node [= cores: one rank per core]")
    ap.add_argument("--node-read-gbs", type=float, default=200.0, help="node memory read bandwidth, GB/s [200]")
    ap.add_argument("--cache-mb-per-core", type=float, default=4.0,
                    help="cache per core (L2 + its share of L3), MB: a rank's points that fit are read from cache [4]")
    ap.add_argument("--net-latency-us", type=float, default=2.0, help="inter-node MPI latency per round, us [2]")
    ap.add_argument("--net-gbs", type=float, default=12.0, help="injection bandwidth per node, GB/s [12: 100 Gb/s]")
    ap.add_argument("--a2a-efficiency", type=float, default=0.5, help="all-to-all fraction of injection bandwidth [0.5]")
    ap.add_argument("--efficiency", type=float, default=0.7, help="parallel efficiency of compute over cores [0.7]")
    ap.add_argument("--coreset-ratio", "--ratio", dest="coreset_ratio", type=float, default=0.1,
                    help="coreset steps per patch, m = ratio x patches [0.1]")
    ap.add_argument("--oversample", type=float, default=2.0, help="two-round: round 1 keeps oversample x m [2]")
    ap.add_argument("--shard", type=int, default=8192, help="two-round: points per shard [8192]")
    ap.add_argument("--embed-dim", type=int, default=1280, help="global embedding E for the Gram [1280: mobilenetv2]")
    ap.add_argument("--backbone-gflop", type=float, default=0.6, help="GFLOP per image if extraction is not measured [0.6]")
    ap.add_argument("--fit-hours", type=float, default=1.0, help="the target for 10M patches on 16 nodes, hours [1]")
    ap.add_argument("--small-minutes", type=float, default=10.0, help="the target for 1M patches on 1 node, minutes [10]")
    a = ap.parse_args()
    if a.ranks_per_node <= 0:
        a.ranks_per_node = a.cores_per_node
    kv = read_kv(a.results)
    c = Costs(kv, a)
    Ps = [float(x) for x in a.patches.split(",")]
    Ns = [int(x) for x in a.nodes.split(",")]

    o = []
    w = o.append
    w("Projection of `tailedcore fit` (method tailedcore) from this run's numbers; formulas and the")
    w("reasoning are in `analysis/cost_model.md`. A model, not a measurement.\n")
    w("| input | value, and where it comes from |\n| --- | --- |")
    for k, label in (("extract", "CNN extraction"), ("tailsampler", "Gram / TailSampler"), ("lof", "LOF per position"),
                     ("coreset", "coreset step scan (float32, memory)"), ("prune", "coreset pruning speed-up"),
                     ("shard_f32", "coreset step in cache, float32"), ("shard_bf16", "coreset step in cache, bf16"),
                     ("shard_int8", "coreset step in cache, int8"),
                     ("allreduce", "allreduce, one shared-memory round")):
        w("| %s | %s |" % (label, c.src[k]))
    if c.mode_ns.get("f32"):
        w("| coreset step at 1M points, per precision | measured (reference, not an input): %s |" % ", ".join(
            "%s %.3g ns/point" % (p, c.mode_ns[p]) for p in ("f32", "bf16", "int8") if p in c.mode_ns))
    w("| node | assumed: %d cores, %d ranks, %.0f GB/s read, %.0f MB cache per core, compute efficiency %.2f |" % (
        a.cores_per_node, a.ranks_per_node, a.node_read_gbs, a.cache_mb_per_core, a.efficiency))
    w("| network | assumed: %.1f us per allreduce round, %.0f GB/s per node, all-to-all at %.0f%% (the ping-pong measured here is shared memory%s) |" % (
        a.net_latency_us, a.net_gbs, 100 * a.a2a_efficiency,
        ": %.1f GB/s" % c.pp_gbs if c.pp_gbs else ""))
    w("| work | DESIGN 3 / issue 9: %d positions/image, coreset steps m = %g x patches, each scanning all patches (one round), E = %d |" % (
        HW, a.coreset_ratio, a.embed_dim))
    w("| two-round | oversample %g, shard %d points; the pruning speed-up is applied to every pruned mode and round |\n" % (
        a.oversample, a.shard))
    w("| patches | nodes | extract | TailSampler | LOF | LOF all-to-all | coreset scan | coreset allreduce | step: scan / allreduce | total | total, pruned coreset |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    res = {}
    for P in Ps:
        for n in Ns:
            r, modes = all_modes(c, a, P, n)
            res[(P, n)] = (r, modes)
            w("| %s | %d | %s | %s | %s | %s | %s | %s | %.0f us / %.1f us | **%s** | %s |" % (
                fmt_p(P), n, fmt_s(r["extract"]), fmt_s(r["tailsampler"]), fmt_s(r["lof"]), fmt_s(r["lof_a2a"]),
                fmt_s(r["coreset_scan"]), fmt_s(r["coreset_allreduce"]), r["step_scan_us"], r["step_ar_us"],
                fmt_s(r["total"]), fmt_s(r["total_pruned"])))
    # where the allreduce starts to dominate a step
    ar64 = project(c, a, 1e6, max(Ns))["step_ar_us"]
    per_node_pts = ar64 * 1e3 / c.coreset_ns_node
    w("\nAt %d nodes one coreset allreduce costs %.1f us: a step is latency-bound once a node scans fewer than" % (max(Ns), ar64))
    w("%.0f points per step (%.0fk patches per node, or a pruning speed-up that large)." % (per_node_pts, per_node_pts / 1e3))

    labels = [m[0] for m in MODES]
    w("\n**Total fit time per `--coreset-mode`, hours** (every phase above; only the coreset differs; all modes")
    w("triangle-pruned as fit runs them, except `exact --no-prune`):\n")
    w("| patches | nodes | " + " | ".join(labels) + " |")
    w("| --- | --- | " + " | ".join("---" for _ in labels) + " |")
    for P in Ps:
        for n in Ns:
            r, modes = res[(P, n)]
            best = min(modes[l][0] for l in labels)
            w("| %s | %d | " % (fmt_p(P), n) + " | ".join(
                ("**%s**" if modes[l][0] == best else "%s") % fmt_h(modes[l][0]) for l in labels) + " |")

    w("\nTwo-round coreset, parts (pruned, float32 / int8 rows): shards dealt to ranks one at a time (round-robin,")
    w("the last partial round spread over the ranks), so with fewer shards than ranks they spread over the nodes.\n")
    w("| patches | nodes | shards | picks per shard | union on busiest node | all-to-all | round 1 | round 2 scan | round 2 allreduce | coreset total |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for P in Ps:
        for n in Ns:
            _, modes = res[(P, n)]
            f, i = modes["tworound"][1], modes["tworound-int8"][1]
            w("| %s | %d | %d | %d | %.0fk of %.0fk | %s / %s | %s / %s | %s / %s | %s | %s / %s |" % (
                fmt_p(P), n, f["ns"], f["k"], f["u_node"] / 1e3, f["union"] / 1e3, fmt_s(f["a2a"]), fmt_s(i["a2a"]),
                fmt_s(f["round1"]), fmt_s(i["round1"]), fmt_s(f["round2_scan"]), fmt_s(i["round2_scan"]),
                fmt_s(f["allreduce"]), fmt_s(f["total"]), fmt_s(i["total"])))

    # verdicts
    w("\n**Verdicts.**\n")
    def under(P, n, limit_s, aa=a, cc=c):
        _, modes = all_modes(cc, aa, P, n)
        ok = sorted((modes[l][0], l) for l in labels if modes[l][0] <= limit_s)
        return modes, ok
    modes, ok = under(10e6, 16, a.fit_hours * 3600)
    tb, lb = min((modes[l][0], l) for l in labels)
    w("- 10M patches on 16 nodes within %g h (issue 17): %s." % (a.fit_hours, (
        "yes with " + ", ".join("`%s` (%s h)" % (l, fmt_h(t)) for t, l in ok)) if ok else
        "no mode (fastest: `%s`, %s h)" % (lb, fmt_h(tb))))
    modes, ok = under(1e6, 1, a.small_minutes * 60)
    w("- 1M patches on 1 node (%d cores, %.0f GB/s) within %g min: %s." % (
        a.cores_per_node, a.node_read_gbs, a.small_minutes,
        ("yes with " + ", ".join("`%s` (%s)" % (l, fmt_s(t)) for t, l in ok)) if ok else "no mode"))
    b = local_profile(a, c)
    modes, ok = under(1e6, 1, a.small_minutes * 60, b)
    w("- 1M patches on 1 node of this machine's kind (%d cores as %d ranks, %.1f GB/s read, measured above): %s." % (
        b.cores_per_node, b.ranks_per_node, b.node_read_gbs,
        ("within %g min with " % a.small_minutes + ", ".join("`%s` (%s)" % (l, fmt_s(t)) for t, l in ok)) if ok else
        "no mode within %g min" % a.small_minutes))
    w("  Per mode: " + "; ".join("%s %s" % (l, fmt_s(modes[l][0])) for l in labels) + ".")
    w("  An idle machine: fits measured on this shared VM ran 2-6x (load 3.4) to 20-50x (load 15-21) slower")
    w("  than the model, each step waiting for the other rank (analysis/cost_model.md, checks).")
    sys.stdout.write("\n".join(o) + "\n")


if __name__ == "__main__":
    main()
