"""One masked conv layer, forward + backward, with each ``conv_impl`` (dense, banded, diagonal).

    python benchmarks/conv_impls.py [--json conv.json] [--cases 64:9:512:1,64:5:512:4]
    python benchmarks/conv_impls.py --device cuda --precision tf32 --cases 64:5:512:32

Each case is ``N:kernel:channels:batch`` on 2D-TAN's candidate mask of size N. Implementations:
dense, banded, diagonal (a standard ``[Co, Ci, k, k]`` weight, reordered to tap-major and back
each call) and diagonal-tapmajor (the weight stored tap-major, as a model stores it where every
scale runs the diagonal conv: ``TapMajorConv2d``). Prints, per implementation, the best of a
few timed calls, the share of the dense convolution's cell-taps it computes ("work") and the
rate of that work (GFLOP/s). Random inputs; no dataset needed.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

from ms2d.models.maps import candidate_mask
from ms2d.ops import TapMajorConv2d, conv_plan_for, masked_conv
from ms2d.train.runtime import autocast, tf32_mode

sys.path.insert(0, str(Path(__file__).resolve().parent))
import run as bench  # noqa: E402  (benchmarks/ is not a package: its timing helper)

DEFAULT_CASES = "64:9:512:1,64:5:512:4,16:5:512:2,24:5:512:4,64:5:64:32,16:5:64:32"
IMPLS = ("dense", "banded", "diagonal", "diagonal-tapmajor")


def _ms(ms: float) -> str:
    return f"{ms:.0f}" if ms >= 100 else f"{ms:.3g}"


def bench_case(n: int, kernel: int, channels: int, batch: int,
               device: str | torch.device = "cpu", amp: bool = False) -> dict:
    device = torch.device(device)
    torch.manual_seed(0)
    mask = candidate_mask(n).to(device)
    x = (torch.randn(batch, channels, n, n, device=device) * mask).requires_grad_()
    w = (torch.randn(channels, channels, kernel, kernel, device=device) * 0.01).requires_grad_()
    # the weight as a model stores it where every scale runs the diagonal conv: tap-major
    conv = torch.nn.Conv2d(channels, channels, kernel, padding=kernel // 2, bias=False)
    conv.weight.data.copy_(w.detach())
    taps = TapMajorConv2d(conv.to(device))
    dense_flops = 3 * 2 * batch * channels * channels * kernel * kernel * n * n  # fwd + 2 bwd
    row = {"N": n, "kernel": kernel, "channels": channels, "batch": batch, "impls": {}}
    for impl in IMPLS:
        plan = conv_plan_for(impl.split("-")[0], mask, kernel)
        weight = taps.weight if impl.endswith("tapmajor") else w

        def step(plan=plan, weight=weight):
            with autocast(device, amp):
                y = masked_conv(x, weight, mask, plan)
            y.backward(torch.ones_like(y))

        reps = 20 if device.type == "cuda" else 3 if channels >= 256 else 5
        t = bench.best_of(step, device, reps)
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
    p.add_argument("--device", default="cpu", help="cpu or cuda")
    p.add_argument("--precision", default="fp32", choices=["fp32", "tf32", "bf16"],
                   help="GPU: fp32 (no TF32), tf32, or bf16 autocast (+ TF32)")
    args = p.parse_args()
    device = torch.device(args.device)
    if args.precision != "fp32" and device.type != "cuda":
        raise SystemExit(f"--precision {args.precision} is for GPUs; a CPU runs fp32")
    if args.threads:
        torch.set_num_threads(args.threads)
    with tf32_mode(device, args.precision != "fp32"):
        run_cases(args, device)


def run_cases(args: argparse.Namespace, device: torch.device) -> None:
    rows = []
    print(f"{device} {args.precision}, threads {torch.get_num_threads()}; "
          "ms / share of the dense cell-taps / GFLOP/s of that work")
    for case in args.cases.split(","):
        n, k, c, b = (int(v) for v in case.split(":"))
        row = bench_case(n, k, c, b, device, args.precision == "bf16")
        row.update(device=str(device), precision=args.precision)
        rows.append(row)
        cells = " | ".join(f"{i} {_ms(r['ms'])} ms {r['work']:.2f} {r['gflops_per_s']:.0f} ({r['speedup']:.2f}x)"
                           for i, r in row["impls"].items())
        print(f"N={n} k={k} C={c} B={b}: {cells}", flush=True)
        if args.json:
            with open(args.json, "w") as f:
                json.dump({"threads": torch.get_num_threads(), "device": str(device),
                           "precision": args.precision, "rows": rows}, f, indent=1)


if __name__ == "__main__":
    main()
