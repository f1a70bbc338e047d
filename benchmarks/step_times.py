"""Per-step wall time of one training configuration, step by step (warm-up and drift visible).

    python benchmarks/step_times.py [--config ref-n64-k9] [--steps 10] [--model ms2d|dense-2d-tan]

The configurations and the training step are ``benchmarks/run.py``'s (random inputs of
realistic shape, Adam, gradient clipping). ``run.py`` times a few steps after one warm-up step;
this prints every step from the first, with its CPU share (CPU time / (wall x threads)), and the
median and minimum of the steps after the first two.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
import run as bench  # noqa: E402  (benchmarks/ is not a package)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--config", default="ref-n64-k9", help="a configuration of benchmarks/run.py")
    p.add_argument("--model", default="ms2d", choices=["ms2d", "dense-2d-tan"])
    p.add_argument("--steps", type=int, default=10)
    p.add_argument("--threads", type=int, default=0, help="torch.set_num_threads (default: torch's)")
    args = p.parse_args(argv)
    if args.steps < 3:
        raise SystemExit("--steps: at least 3 (the first two are reported apart)")
    if args.threads:
        torch.set_num_threads(args.threads)
    device = torch.device("cpu")
    cases = {c.name: c for c in bench.training_cases(device, False, None)}
    if args.config not in cases:
        raise SystemExit(f"unknown --config {args.config!r}; known: {', '.join(cases)}")
    case = cases[args.config]
    cfg = case.config()
    model = bench.make_model(args.model, cfg, device)
    opt = bench.make_optimizer(model, cfg.train.lr)
    batch = bench.random_batch(case.batch, max(cfg.model.scales), case.feature_dim, device)
    step = bench.make_step(args.model, model, cfg, opt, batch)
    threads = torch.get_num_threads()
    times = []
    print(f"{args.config} {args.model}, batch {case.batch}, {threads} threads")
    for i in range(args.steps):
        c0, t0 = time.process_time(), time.perf_counter()
        step()
        wall = time.perf_counter() - t0
        times.append(wall)
        print(f"step {i + 1}: {wall:.3f} s, CPU share {(time.process_time() - c0) / wall / threads:.2f}",
              flush=True)
    rest = times[2:]
    print(f"steps 3-{args.steps}: median {statistics.median(rest):.3f} s, min {min(rest):.3f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
