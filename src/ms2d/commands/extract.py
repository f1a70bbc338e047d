"""``ms2d extract``: raw videos -> clip features (HDF5, one dataset per video id)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ._common import check_input, count, number

NAME = "extract"
HELP = ("Extract clip features from raw videos (a file or a folder) into an HDF5 file that "
        "ms2d train/evaluate/predict read; needs the video extra: pip install 'ms2d[video]'.")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="video file(s) and/or folder(s) of videos (searched recursively); "
                             "with --merge: the feature files to merge")
    parser.add_argument("--out", metavar="FEATURES.hdf5",
                        help="HDF5 file to write, required unless --list-backbones (created, or "
                             "extended: finished videos are skipped, so an interrupted run "
                             "resumes)")
    parser.add_argument("--fps", type=number(gt=0, max=1000), default=2.0,
                        help="frames sampled per second, by timestamp (default 2)")
    parser.add_argument("--clip-seconds", type=number(gt=0, max=3600), default=1.0,
                        help="seconds of video averaged into one clip feature (default 1.0)")
    parser.add_argument("--backbone", default=None,
                        help="image backbone (default efficientnet-lite0, 1280-d, no download "
                             "needed); see --list-backbones")
    parser.add_argument("--weights", default=None, metavar="PATH",
                        help="local weights file, for backbones whose weights no package ships")
    parser.add_argument("--batch-size", type=count(1, 65536), default=32, metavar="N",
                        help="frames per backbone forward pass (default 32)")
    parser.add_argument("--shard", default=None, metavar="I/N",
                        help="process only every N-th video starting at I (0-based) and write "
                             "FEATURES.shardIofN.hdf5; merge the shards with --merge")
    parser.add_argument("--merge", action="store_true",
                        help="merge the feature files given as INPUT (e.g. shards) into --out")
    parser.add_argument("--device", default="auto", help="cpu, cuda, cuda:1 ... (default auto)")
    parser.add_argument("--list-backbones", action="store_true",
                        help="print the known backbones and exit")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")


def run(args: argparse.Namespace) -> int:
    from ..video.backbones import DEFAULT_BACKBONE, list_backbones
    from ..video.decode import VideoDependencyError

    if args.list_backbones:
        from ..video.backbones import backbone_dim

        for name in list_backbones():
            dim = backbone_dim(name)
            if name == DEFAULT_BACKBONE:
                note = "weights in the [video] extra's package, nothing to download (default)"
            elif name == "custom":
                note = "your own exported image model: --weights MODEL.pt2"
            else:
                note = "needs --weights PATH (no package ships them)"
            print(f"{name:<20} {f'{dim}-d' if dim else 'any dim':>8}  {note}")
        return 0
    missing = [what for what, ok in (("INPUT (a video file or folder)", args.inputs),
                                     ("--out FEATURES.hdf5", args.out)) if not ok]
    if missing:
        print(f"ms2d extract: error: give {' and '.join(missing)}, e.g. ms2d extract videos/ "
              "--out features.hdf5 (or --list-backbones alone)", file=sys.stderr)
        return 2
    from ..files import check_output_file
    from ..settings import did_you_mean
    from ..utils import check_device

    check_output_file(args.out, "--out", suffix=".hdf5")  # before any video is opened
    if args.merge:
        from ..video.extract import merge_feature_files

        n = merge_feature_files(args.inputs, args.out)
        print(f"merged {n} video(s) from {len(args.inputs)} file(s) into {args.out}")
        return 0
    from ..utils import pick_device
    from ..video.extract import extract_features, parse_shard, shard_output

    shard = parse_shard(args.shard) if args.shard is not None else (0, 1)
    check_device(args.device, "--device")
    name = args.backbone if args.backbone is not None else DEFAULT_BACKBONE
    if name.split(":", 1)[0] not in list_backbones():
        raise ValueError(f"--backbone {name!r} is not known{did_you_mean(name, list_backbones())};"
                         f" known: {', '.join(list_backbones())} (see --list-backbones)")
    for path in args.inputs:
        check_input(path, "INPUT")
    if args.weights is not None:
        check_input(args.weights, "--weights", folder_ok=False)
    out = shard_output(args.out, shard)
    check_output_file(out, "--out", suffix=".hdf5")
    try:
        report = extract_features(
            [Path(p) for p in args.inputs], out, backbone=name,
            weights=args.weights, fps=args.fps, clip_seconds=args.clip_seconds,
            batch_size=args.batch_size, shard=shard, device=pick_device(args.device),
            progress=not args.quiet,
        )
    except (VideoDependencyError, ValueError) as exc:
        print(f"ms2d extract: error: {exc}", file=sys.stderr)
        return 2
    spec = report.spec
    rate = report.frames / report.seconds if report.seconds > 0 else 0.0
    print(f"{out}: {len(report.done)} video(s) extracted, {len(report.skipped)} already there, "
          f"{len(report.failed)} failed ({spec.name}, {spec.dim}-d, {spec.fps:g} fps, "
          f"{spec.clip_seconds:g} s clips; {report.frames} frames in {report.seconds:.1f}s, "
          f"{rate:.1f} frames/s)")
    if shard[1] > 1:
        pattern = shard_output(args.out, shard).name.replace(f"shard{shard[0]}of", "shard*of")
        print(f"shard {shard[0]}/{shard[1]}: when every shard is done, merge them with: ms2d "
              f"extract --merge {Path(args.out).parent / pattern} --out {args.out}")
    if report.failed:
        print(f"ms2d extract: {len(report.failed)} video(s) could not be read:", file=sys.stderr)
        for path, reason in report.failed.items():
            print(f"  {reason if reason.startswith(path) else f'{path}: {reason}'}",
                  file=sys.stderr)
        return 1
    return 0
