"""Where one diagonal-convolution layer's time goes, part by part, on rows.

    python benchmarks/diagonal_parts.py [--case 64:9:512:1] [--json parts.json]

The case is ``N:kernel:channels:batch`` on 2D-TAN's candidate mask of size N. Times (best of a
few calls) and GFLOP/s of: the band slabs' products (forward, input gradient, weight gradient),
the off-band pairs' products (the same three), and the whole ``rows_conv`` /
``rows_conv_backward`` (whose remainder is the masking, zero-filling and index passes), each
also as a share of this machine's peaks measured as ``benchmarks/run.py`` does: the dense
convolution of the same N, kernel and channels (forward + backward) and a 2048^3 matrix product
(docs/performance.md, "What bounds the N=64 reference"). Random inputs.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

import torch

from ms2d.models.maps import candidate_mask
from ms2d.ops.diagonal import _acc_mm, _mm, plan_diagonal, rows_conv, rows_conv_backward

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (benchmarks/ is not a package: run.py's peak measurements)


def best_ms(fn: Callable[[], object], reps: int) -> float:
    return bench.best_of(fn, torch.device("cpu"), reps) * 1e3


def parts(n: int, kernel: int, channels: int, batch: int, reps: int = 3, min_s: float = 1.0) -> dict:
    torch.manual_seed(0)
    plan = plan_diagonal(candidate_mask(n), kernel)
    c, b = channels, batch
    x = torch.randn(plan.rows, b, c) * plan.row_mask(torch.float32)
    g = torch.randn(plan.rows, b, c)
    wt = torch.randn(kernel * kernel, c, c) * 0.01
    x2, g2 = x.view(-1, c), g.view(-1, c)
    y2, dx2, dwt = torch.zeros_like(x2), torch.zeros_like(x2), torch.empty_like(wt)
    xp = x.index_select(0, plan.pair_in).view(-1, c)
    gp = g.index_select(0, plan.pair_out).view(-1, c)
    out = torch.empty_like(xp)

    def slabs(which: str) -> None:
        for t, o, i, m in plan.slabs:
            xs, gs = x2[i * b : (i + m) * b], g2[o * b : (o + m) * b]
            if which == "forward":
                _acc_mm(y2[o * b : (o + m) * b], xs, wt[t])
            elif which == "input gradient":
                _acc_mm(dx2[i * b : (i + m) * b], gs, wt[t].t())
            else:
                _mm(dwt[t], xs.t(), gs)

    def pairs(which: str) -> None:
        for t, lo, hi in plan.pair_taps:
            if which == "forward":
                _mm(out[lo * b : hi * b], xp[lo * b : hi * b], wt[t])
            elif which == "input gradient":
                _mm(out[lo * b : hi * b], gp[lo * b : hi * b], wt[t].t())
            else:
                _acc_mm(dwt[t], xp[lo * b : hi * b].t(), gp[lo * b : hi * b])

    per_row = 2 * b * c * c  # FLOPs of one row's product
    slab_flops, pair_flops = plan.slab_rows * per_row, plan.pairs * per_row
    rows = []
    for which in ("forward", "input gradient", "weight gradient"):
        for part, fn, flops in (("slabs", slabs, slab_flops), ("pairs", pairs, pair_flops)):
            ms = best_ms(lambda fn=fn, which=which: fn(which), reps)
            rows.append({"part": f"{part} {which}", "ms": ms, "gflops_per_s": flops / ms / 1e6})
    fwd = best_ms(lambda: rows_conv(x, wt, plan), reps)
    bwd = best_ms(lambda: rows_conv_backward(x, wt, g, plan), reps)
    rows += [{"part": "rows_conv (whole forward)", "ms": fwd,
              "gflops_per_s": (slab_flops + pair_flops) / fwd / 1e6},
             {"part": "rows_conv_backward (whole backward)", "ms": bwd,
              "gflops_per_s": 2 * (slab_flops + pair_flops) / bwd / 1e6}]
    cpu = torch.device("cpu")
    conv = bench.bench_conv(c, kernel, n, 1 if bench.conv_flops(b, c, kernel, n) >= 20e9 else b,
                            cpu, min_s)["fwd_bwd_gflops_per_s"]
    matmul = bench.bench_matmul(2048 if c >= 256 else 512, cpu, min_s)["gflops_per_s"]
    for r in rows:
        r["frac_conv_peak"], r["frac_matmul_peak"] = r["gflops_per_s"] / conv, r["gflops_per_s"] / matmul
    return {"N": n, "kernel": kernel, "channels": c, "batch": b, "threads": torch.get_num_threads(),
            "slab_rows": plan.slab_rows, "pairs": plan.pairs, "conv_peak_gflops_per_s": conv,
            "matmul_peak_gflops_per_s": matmul, "parts": rows}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--case", default="64:9:512:1", help="N:kernel:channels:batch")
    p.add_argument("--reps", type=int, default=3, help="timed calls per part (best is kept)")
    p.add_argument("--peak-seconds", type=float, default=1.0, help="time spent on each peak")
    p.add_argument("--json", help="write the result here")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    n, k, c, b = (int(v) for v in args.case.split(":"))
    res = parts(n, k, c, b, args.reps, args.peak_seconds)
    print(f"N={n} k={k} C={c} B={b}, {res['threads']} threads: {res['slab_rows']} slab rows, "
          f"{res['pairs']} off-band pairs; peaks: conv (fwd+bwd) "
          f"{res['conv_peak_gflops_per_s']:.1f}, matmul {res['matmul_peak_gflops_per_s']:.1f} GFLOP/s")
    print(f"  {'part':<36} {'ms':>9} {'GFLOP/s':>9} {'% conv':>7} {'% mm':>6}")
    for r in res["parts"]:
        print(f"  {r['part']:<36} {r['ms']:9.1f} {r['gflops_per_s']:9.1f} "
              f"{100 * r['frac_conv_peak']:6.1f}% {100 * r['frac_matmul_peak']:5.1f}%")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(res, f, indent=1)


if __name__ == "__main__":
    main()
