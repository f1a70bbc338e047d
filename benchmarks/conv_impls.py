"""One masked conv layer, forward + backward, with each ``conv_impl``: dense, banded, diagonal.

    python benchmarks/conv_impls.py [--json conv.json] [--cases 64:9:512:1,64:5:512:4]

Each case is ``N:kernel:channels:batch`` on 2D-TAN's candidate mask of size N. Prints, per
implementation, the best of a few timed calls, the share of the dense convolution's cell-taps it
computes ("work") and the rate of that work (GFLOP/s). Random inputs; no dataset needed.
"""

from __future__ import annotations

import argparse
import json
import time

import torch

from ms2d.models.fusion import conv_plan_for, masked_conv
from ms2d.models.maps import candidate_mask

DEFAULT_CASES = "64:9:512:1,64:5:512:4,16:5:512:2,24:5:512:4,64:5:64:32,16:5:64:32"
IMPLS = ("dense", "banded", "diagonal")


def best_time(fn, reps: int) -> float:
    fn()  # warm-up: plans, allocator, mkldnn primitives
    times = []
    for _ in range(reps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def bench_case(n: int, kernel: int, channels: int, batch: int) -> dict:
    torch.manual_seed(0)
    mask = candidate_mask(n)
    x = (torch.randn(batch, channels, n, n) * mask).requires_grad_()
    w = (torch.randn(channels, channels, kernel, kernel) * 0.01).requires_grad_()
    dense_flops = 3 * 2 * batch * channels * channels * kernel * kernel * n * n  # fwd + 2 bwd
    row = {"N": n, "kernel": kernel, "channels": channels, "batch": batch, "impls": {}}
    for impl in IMPLS:
        plan = conv_plan_for(impl, mask, kernel)

        def step(plan=plan):
            y = masked_conv(x, w, mask, plan)
            y.backward(torch.ones_like(y))

        t = best_time(step, 3 if channels >= 256 else 5)
        work = 1.0 if plan is None else plan.work
        row["impls"][impl] = {"ms": t * 1e3, "work": work, "gflops_per_s": dense_flops * work / t / 1e9}
    dense = row["impls"]["dense"]["ms"]
    for r in row["impls"].values():
        r["speedup"] = dense / r["ms"]
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--cases", default=DEFAULT_CASES, help="comma-separated N:kernel:channels:batch")
    p.add_argument("--json", help="write the rows here")
    p.add_argument("--threads", type=int, help="torch.set_num_threads (default: torch's)")
    args = p.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = []
    print(f"threads {torch.get_num_threads()}; ms / share of the dense cell-taps / GFLOP/s of that work")
    for case in args.cases.split(","):
        n, k, c, b = (int(v) for v in case.split(":"))
        row = bench_case(n, k, c, b)
        rows.append(row)
        cells = " | ".join(f"{i} {r['ms']:.0f} ms {r['work']:.2f} {r['gflops_per_s']:.0f} ({r['speedup']:.2f}x)"
                           for i, r in row["impls"].items())
        print(f"N={n} k={k} C={c} B={b}: {cells}", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"threads": torch.get_num_threads(), "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
