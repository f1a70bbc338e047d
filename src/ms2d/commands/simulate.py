"""``ms2d simulate``: write the built-in simulated benchmark (see ``docs/simulator.md``)."""

from __future__ import annotations

import argparse
import sys
import time
from dataclasses import replace
from pathlib import Path

from ._common import SEED, count

#: videos per split at most (a typo guard: the default benchmark has 1,700 in all)
MAX_VIDEOS = 1_000_000

NAME = "simulate"
HELP = "Generate the simulated weakly supervised moment retrieval benchmark into a folder."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    from ..data.simulate import WORLDS, SimConfig

    d = SimConfig()
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--world", default="classic", choices=list(WORLDS),
                        help="the generative story (docs/simulator.md): " + ", ".join(WORLDS)
                        + " (default classic)")
    parser.add_argument("--seed", type=SEED, default=d.seed, help=f"master seed (default {d.seed})")
    parser.add_argument(
        "--videos-train",
        type=count(0, MAX_VIDEOS),
        default=d.num_videos_train,
        metavar="N",
        help=f"training videos (default {d.num_videos_train})",
    )
    parser.add_argument(
        "--videos-val",
        type=count(0, MAX_VIDEOS),
        default=d.num_videos_val,
        metavar="N",
        help=f"validation videos (default {d.num_videos_val})",
    )
    parser.add_argument(
        "--videos-test",
        type=count(0, MAX_VIDEOS),
        default=d.num_videos_test,
        metavar="N",
        help=f"test videos (default {d.num_videos_test})",
    )
    parser.add_argument(
        "--feature-dim",
        type=count(1, 65536),
        default=None,
        metavar="D",
        help=f"clip feature width (default: the world's; {d.feature_dim} for classic)",
    )
    parser.add_argument(
        "--overwrite",
        action="store_true",
        help="replace the files of an earlier simulation in --out",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def run(args: argparse.Namespace) -> int:
    from ..data.simulate import simulate, world_config
    from ..files import check_output_dir

    check_output_dir(args.out, "--out")  # a file, a read-only place: before simulating
    try:
        config = world_config(args.world)
        config = replace(
            config,
            seed=args.seed,
            num_videos_train=args.videos_train,
            num_videos_val=args.videos_val,
            num_videos_test=args.videos_test,
            feature_dim=config.feature_dim if args.feature_dim is None else args.feature_dim,
        )
    except ValueError as exc:
        print(f"ms2d simulate: error: {exc}", file=sys.stderr)
        return 2
    t0 = time.perf_counter()
    stats = simulate(args.out, config, overwrite=args.overwrite, progress=not args.quiet)
    elapsed = time.perf_counter() - t0
    if not args.quiet:
        out = Path(args.out)
        v, p = stats["videos"], stats["pairs"]
        print(f"simulated benchmark written to {out} in {elapsed:.1f}s (world {config.world}, "
              f"seed {config.seed})")
        for split in ("train", "val", "test"):
            print(
                f"  {split:<5} {v[split]:>6} videos {p[split]:>6} pairs  {out / (split + '.json')}"
            )
        print(f"  features  {out / 'features.hdf5'}  (float32 [T, {config.feature_dim}] per video)")
        print(f"  events    {out / 'events.json'}  (all events, distractors included)")
        print(f"  metadata  {out / 'simulation.json'}")
        f = stats["features"]
        print(f"  feature values: mean {f['mean']:.3f}, std {f['std']:.3f}, {f['negative']:.0%} "
              f"negative, {f['zero']:.0%} zero, shared component {f['shared_energy']:.0%} of "
              "the energy")
        print(
            f"  mean duration {stats['mean_duration']:.1f}s, "
            f"mean moment/duration {stats['mean_moment_ratio']:.3f}, "
            f"vocabulary {stats['vocabulary_size']} words, "
            f"{stats['event_types']} event types, "
            f"bag-of-words linear residual {stats['bow_linear_residual']:.2f}"
        )
    return 0
