"""``ms2d simulate-features``: simulated clip features for the real annotation files.

See ``ms2d.data.simulate.real`` and ``docs/datasets.md`` ("Simulated features for the real
annotations").
"""

from __future__ import annotations

import argparse
import time

from ._common import SEED, check_input, count, number

NAME = "simulate-features"
HELP = ("Write simulated clip features (HDF5, in the real file's layout) for the videos of the "
        "Charades-STA or ActivityNet Captions annotations.")

#: dataset -> (layout, dim, clips per second, default splits)
DEFAULTS: dict[str, tuple[str, int, float, tuple[str, ...]]] = {
    "charades-sta": ("flat", 1024, 1.0, ("train_full", "test")),
    "activitynet-captions": ("grouped", 500, 0.5, ("train", "val", "test")),
}


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dataset", required=True, choices=sorted(DEFAULTS),
                        help="annotation format of --annotations")
    parser.add_argument("--annotations", required=True, metavar="DIR",
                        help="folder holding the dataset's annotation files")
    parser.add_argument("--out", required=True, metavar="FILE.hdf5",
                        help="feature file to write")
    parser.add_argument("--layout", choices=("flat", "grouped"), default=None,
                        help="flat: one dataset per video (Charades I3D style); grouped: one "
                             "group per video holding 'c3d_features' (ActivityNet C3D style). "
                             "Default: flat for charades-sta, grouped for activitynet-captions")
    parser.add_argument("--dim", type=count(1, 65536), default=None, metavar="N",
                        help="feature width (default: the world's; with the classic world "
                             "1024 for charades-sta, 500 for activitynet-captions)")
    parser.add_argument("--clips-per-second", type=number(gt=0, max=1000), default=None,
                        metavar="X",
                        help="clips per second of video (default 1.0 for charades-sta, 0.5 for "
                             "activitynet-captions)")
    parser.add_argument("--splits", default=None, metavar="S1,S2",
                        help="splits whose videos get features (default train_full,test for "
                             "charades-sta, train,val,test for activitynet-captions; charades-sta "
                             "also knows train and val, the carve-out of the train file)")
    parser.add_argument("--subset", default=None, metavar="N|SPLIT=N,...",
                        help="keep only the videos of the first N pairs of each split (N), or "
                             "of the named splits (e.g. train=3000: the other splits stay whole)")
    parser.add_argument("--world", default="classic",
                        help="the generative story of the features (docs/simulator.md): "
                             "classic, i3d, c3d, vgg (default classic)")
    parser.add_argument("--seed", type=SEED, default=0, help="seed (default 0)")
    parser.add_argument("--overwrite", action="store_true", help="replace an existing --out")
    parser.add_argument("--quiet", action="store_true", help="no progress bar and no summary")


def parse_subset(text: str | None, splits: list[str]) -> dict[str, int | None]:
    """``"N"`` -> every split N; ``"train=3000,val=100"`` -> those splits, the others whole."""
    out: dict[str, int | None] = dict.fromkeys(splits)
    if text is None or not text.strip():
        return out

    def number(v: str) -> int:
        try:
            n = int(v)
        except ValueError:
            raise ValueError(f"--subset: {v!r} is not a whole number") from None
        if n < 1:
            raise ValueError(f"--subset: {n} must be >= 1")
        return n

    if "=" not in text:
        n = number(text.strip())
        return dict.fromkeys(splits, n)
    for part in text.split(","):
        if not part.strip():
            continue
        name, sep, value = part.partition("=")
        name = name.strip()
        if not sep or name not in out:
            raise ValueError(
                f"--subset: {part.strip()!r} must read SPLIT=N with SPLIT one of "
                f"{', '.join(splits)}"
            )
        out[name] = number(value.strip())
    return out


def select_queries(per_split: dict[str, list], subset: dict[str, int | None]) -> tuple[list, dict]:
    """The queries of the kept videos: per split, the videos of its first N pairs (all when
    N is None); every pair of the selected splits on a kept video is returned, so that a video's
    features carry all of its annotated sentences."""
    kept: set[str] = set()
    per_split_videos: dict[str, int] = {}
    for split, queries in per_split.items():
        n = subset.get(split)
        vids = {q.vid for q in (queries if n is None else queries[:n])}
        per_split_videos[split] = len(vids)
        kept |= vids
    selected = [q for queries in per_split.values() for q in queries if q.vid in kept]
    return selected, per_split_videos


def run(args: argparse.Namespace) -> int:
    from ..data.annotations import read_annotations
    from ..data.simulate import world_config
    from ..data.simulate.real import simulate_features

    world = world_config(args.world)  # an unknown world fails before anything is read
    layout, dim, cps, splits = DEFAULTS[args.dataset]
    layout = args.layout or layout
    if args.dim is not None:
        dim = args.dim
    elif world.world != "classic":  # the world's own width (I3D 1024, C3D 500, VGG 4096)
        dim = world.feature_dim
    cps = args.clips_per_second if args.clips_per_second is not None else cps
    if args.splits is not None:
        splits = tuple(s.strip() for s in args.splits.split(",") if s.strip())
        if not splits:
            raise ValueError("--splits: give at least one split name")
    subset = parse_subset(args.subset, list(splits))
    from ..files import check_output_file

    out = check_output_file(args.out, "--out", overwrite=args.overwrite, suffix=".hdf5")
    check_input(args.annotations, "--annotations")

    per_split = {s: read_annotations(args.dataset, args.annotations, s).queries for s in splits}
    queries, videos = select_queries(per_split, subset)
    t0 = time.perf_counter()
    stats = simulate_features(queries, out, layout=layout, dim=dim, clips_per_second=cps,
                              seed=args.seed, world=world, overwrite=args.overwrite,
                              progress=not args.quiet)
    elapsed = time.perf_counter() - t0
    if not args.quiet:
        where = f"{layout} HDF5" + (" (dataset 'c3d_features' per video group)"
                                    if layout == "grouped" else "")
        print(f"simulated features written to {out} in {elapsed:.1f}s (world {world.world}, "
              f"seed {args.seed})")
        print(f"  {where}, float32 [T, {dim}] per video, {cps:g} clip(s)/s")
        for split in splits:
            n = subset[split]
            print(f"  {split:<10} {videos[split]:>6} videos"
                  + (f" (of the first {n} pairs)" if n else " (all)"))
        print(f"  {stats['videos']:,} videos, {stats['events']:,} events from {stats['pairs']:,} "
              f"pairs, {stats['clips']:,} clips (mean T {stats['mean_clips']}), "
              f"{stats['bytes'] / 2**20:.1f} MiB")
    return 0
