#!/usr/bin/env python3
"""cost_model.py - project `tailedcore fit` time at plant scale from this
machine's measured per-step costs (issue 9; formulas and assumptions in
analysis/cost_model.md).

Reads the key=value file bench/run.sh writes ($BUILD/bench/results.kv):
limits (sgemm_gflops, read_gbs, ...), MPI (allreduce_us_528B, pp_bw_gbs_*,
pp_lat_us_8B) and the stage benches' METRIC keys (coreset_ns_per_point,
lof_s_per_position, gram_gflops, extract_images_per_s, ...). A missing stage
metric falls back to a bound derived from the limits, and the row says so.

    /usr/bin/python3 analysis/cost_model.py build/bench/results.kv [--markdown]
        [--cores-per-node 64] [--node-read-gbs 200] [--net-latency-us 2]
        [--net-gbs 12] [--efficiency 0.7] ...

Prints a Markdown section (assumptions, then one table) on stdout. numpy only.
It is a model, not a measurement: every number it prints is a projection.
"""
import argparse
import math
import sys


HW = 784          # patch positions per image (28 x 28 at 224 input, DESIGN 3.2)
PROJ_BYTES = 512  # one projected patch: 128 float32 (DESIGN 3.3)
REC_BYTES = 528   # coreset max-location record: float + int64 + 128 float32, padded


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
        self.coreset_ns_node = c * rdc / a.node_read_gbs
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
    scan = (P / nodes) * c.coreset_ns_node * 1e-9
    net_round = (a.net_latency_us + REC_BYTES / (a.net_gbs * 1e3)) * 1e-6
    ar = math.ceil(math.log2(max(a.ranks_per_node, 1))) * c.ar_shm_us * 1e-6 \
        + math.ceil(math.log2(max(nodes, 1))) * net_round
    r["coreset_scan"] = steps * scan
    r["coreset_allreduce"] = steps * ar
    r["step_scan_us"] = scan * 1e6
    r["step_ar_us"] = ar * 1e6
    r["total"] = r["extract"] + r["tailsampler"] + r["lof"] + r["lof_a2a"] + r["coreset_scan"] + r["coreset_allreduce"]
    r["total_pruned"] = r["total"] - r["coreset_scan"] + r["coreset_scan"] / c.prune
    r["total_no_extract"] = r["total"] - r["extract"]
    return r


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("results", help="key=value file from bench/run.sh (build/bench/results.kv)")
    ap.add_argument("--markdown", action="store_true", help="Markdown (the default and only format; kept for clarity)")
    ap.add_argument("--patches", default="10e6,100e6", help="patch counts (comma list) [10e6,100e6]")
    ap.add_argument("--nodes", default="16,64", help="node counts (comma list) [16,64]")
    ap.add_argument("--cores-per-node", type=int, default=64, help="cores per node [64: 2 x 32-core sockets]")
    ap.add_argument("--ranks-per-node", type=int, default=0, help="MPI ranks per node [= cores: one rank per core]")
    ap.add_argument("--node-read-gbs", type=float, default=200.0, help="node memory read bandwidth, GB/s [200]")
    ap.add_argument("--net-latency-us", type=float, default=2.0, help="inter-node MPI latency per round, us [2]")
    ap.add_argument("--net-gbs", type=float, default=12.0, help="injection bandwidth per node, GB/s [12: 100 Gb/s]")
    ap.add_argument("--a2a-efficiency", type=float, default=0.5, help="all-to-all fraction of injection bandwidth [0.5]")
    ap.add_argument("--efficiency", type=float, default=0.7, help="parallel efficiency of compute over cores [0.7]")
    ap.add_argument("--coreset-ratio", type=float, default=0.1, help="coreset steps per patch [0.1]")
    ap.add_argument("--embed-dim", type=int, default=1280, help="global embedding E for the Gram [1280: mobilenetv2]")
    ap.add_argument("--backbone-gflop", type=float, default=0.6, help="GFLOP per image if extraction is not measured [0.6]")
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
                     ("coreset", "coreset step scan"), ("prune", "coreset pruning speed-up"),
                     ("allreduce", "allreduce, one shared-memory round")):
        w("| %s | %s |" % (label, c.src[k]))
    w("| node | assumed: %d cores, %d ranks, %.0f GB/s read, compute efficiency %.2f |" % (
        a.cores_per_node, a.ranks_per_node, a.node_read_gbs, a.efficiency))
    w("| network | assumed: %.1f us per allreduce round, %.0f GB/s per node, all-to-all at %.0f%% (the ping-pong measured here is shared memory%s) |" % (
        a.net_latency_us, a.net_gbs, 100 * a.a2a_efficiency,
        ": %.1f GB/s" % c.pp_gbs if c.pp_gbs else ""))
    w("| work | DESIGN 3 / issue 9: %d positions/image, coreset steps = %.0f%% of patches, each scanning all patches, E = %d |\n" % (
        HW, 100 * a.coreset_ratio, a.embed_dim))
    w("| patches | nodes | extract | TailSampler | LOF | LOF all-to-all | coreset scan | coreset allreduce | step: scan / allreduce | total | total, pruned coreset |")
    w("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    for P in Ps:
        for n in Ns:
            r = project(c, a, P, n)
            w("| %.0fM | %d | %s | %s | %s | %s | %s | %s | %.0f us / %.1f us | **%s** | %s |" % (
                P / 1e6, n, fmt_s(r["extract"]), fmt_s(r["tailsampler"]), fmt_s(r["lof"]), fmt_s(r["lof_a2a"]),
                fmt_s(r["coreset_scan"]), fmt_s(r["coreset_allreduce"]), r["step_scan_us"], r["step_ar_us"],
                fmt_s(r["total"]), fmt_s(r["total_pruned"])))
    # where the allreduce starts to dominate a step
    ar64 = project(c, a, 1e6, max(Ns))["step_ar_us"]
    per_node_pts = ar64 * 1e3 / c.coreset_ns_node
    w("\nAt %d nodes one coreset allreduce costs %.1f us: a step is latency-bound once a node scans fewer than" % (max(Ns), ar64))
    w("%.0f points per step (%.0fk patches per node, or a pruning speed-up that large)." % (per_node_pts, per_node_pts / 1e3))
    sys.stdout.write("\n".join(o) + "\n")


if __name__ == "__main__":
    main()
