"""``ms2d convert``: rewrite annotations from one format into another."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..data.annotations import DATASETS, output_paths, read_annotations, write_annotations
from ..data.records import DataError
from ..files import check_output_file
from ._common import check_input, number

NAME = "convert"
HELP = "Convert annotations between the charades-sta, activitynet-captions, cpl and jsonl formats."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--from", dest="src_fmt", required=True, choices=DATASETS, help="input format"
    )
    parser.add_argument(
        "--to", dest="dst_fmt", required=True, choices=DATASETS, help="output format"
    )
    parser.add_argument(
        "input",
        metavar="INPUT",
        help="input directory (needs --split) or file (cpl, jsonl, activitynet)",
    )
    parser.add_argument(
        "output",
        metavar="OUTPUT",
        help="output file (.jsonl / .json / .txt) or directory (needs --split)",
    )
    parser.add_argument(
        "--split",
        default=None,
        help="split to read from a directory and to name the output files "
        "(e.g. train, val, test; charades-sta also train_full)",
    )
    parser.add_argument(
        "--protocol",
        default=None,
        help="reading protocol: 2d-tan (default) or cpl (truncated) for charades-sta/cpl input",
    )
    parser.add_argument(
        "--val-fraction",
        type=number(gt=0, max=0.999),
        default=0.1,
        help="charades-sta train/val carve-out: fraction of train videos (default 0.1)",
    )
    parser.add_argument(
        "--overwrite", action="store_true", help="replace output files that already exist"
    )


def run(args: argparse.Namespace) -> int:
    src = check_input(args.input, "INPUT")
    if src.is_dir() and not args.split:
        raise DataError(f"{src} is a directory: give --split to say which split to convert.")
    split = args.split or src.stem
    # the output files, before reading: a folder where a file goes, an unwritable place
    targets = output_paths(args.dst_fmt, args.output, args.split)
    for t in targets:
        check_output_file(t, "OUTPUT", overwrite=True, suffix=t.suffix)
        if t.exists() and not args.overwrite:
            raise DataError(f"{t} already exists. Fix: pass --overwrite or choose another OUTPUT.")
    anns = read_annotations(
        args.src_fmt, src, split, protocol=args.protocol, val_fraction=args.val_fraction
    )
    src_files = {Path(anns.source).resolve()}
    if args.src_fmt == "charades-sta":
        src_files.add(
            (Path(anns.source).parent / f"Charades_v1_{Path(anns.source).stem[13:]}.csv").resolve()
        )
    for t in targets:
        if t.resolve() in src_files:
            raise DataError(f"{t} is the input file; write the output somewhere else.")
    written = write_annotations(anns.queries, args.dst_fmt, args.output, split=args.split)
    rep = anns.report
    dropped = sum(v for k, v in rep.items() if k.startswith("dropped_"))
    part = f"split {split}, " if args.split else ""
    print(
        f"read {rep['raw']:,} records from {anns.source} ({part}protocol {anns.protocol}): "
        f"kept {rep['kept']:,}, dropped {dropped:,}, clamped end {rep['clamped_end']:,}"
    )
    for w in written:
        print(f"wrote {w}")
    return 0
