"""``ms2d quickstart``: the main job on the built-in simulated benchmark."""

from __future__ import annotations

import argparse

from ._common import SEED, check_input, count

NAME = "quickstart"
HELP = ("Simulate a benchmark, train weak (multi- and single-scale) and fully supervised models, "
        "compare with random and prior-only baselines, and write results.{json,md,png}.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", default="ms2d-quickstart", help="output folder (default ./ms2d-quickstart)")
    parser.add_argument("--seed", type=SEED, default=0, help="seed for the simulation and training")
    parser.add_argument("--preset", default="synthetic-cpu", help="config preset (default synthetic-cpu)")
    parser.add_argument("--overwrite", action="store_true", help="replace runs already in --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("--jobs", type=count(1, 256), default=None,
                        help="training processes on a CPU (default: one per core, at most 3; "
                             "1 = one process using every core)")
    parser.add_argument("--combine", nargs="+", metavar="RESULTS.json",
                        help="instead of running: combine the results.json of several seeds "
                             "into --out/results.{md,png} (mean, std and each seed's value)")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE", help="config overrides")


def run(args: argparse.Namespace) -> int:
    from ..config import resolve
    from ..files import check_output_dir
    from ..quickstart import run_quickstart

    check_output_dir(args.out, "--out")
    if args.combine:
        from ..quickstart import combine_seed_files

        for path in args.combine:
            check_input(path, "--combine", folder_ok=False)
        combine_seed_files(args.combine, args.out)
        return 0
    resolve(args.preset, args.overrides)  # the preset and every override, before simulating
    run_quickstart(args.out, seed=args.seed, preset=args.preset, overrides=args.overrides,
                   overwrite=args.overwrite, progress=not args.quiet, jobs=args.jobs)
    return 0
