"""``ms2d captions``: a CSV of captions for your own videos -> annotations ms2d trains on."""

from __future__ import annotations

import argparse

NAME = "captions"
HELP = ("Turn a captions CSV (video,caption[,start,end]: one or more sentences per video, times "
        "optional) into the JSONL annotations ms2d train reads, with durations from the feature "
        "file of ms2d extract (docs/own-videos.md).")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("captions", metavar="CAPTIONS.csv",
                        help="CSV with a header row: video,caption (optional start,end seconds)")
    parser.add_argument("--features", required=True, metavar="FEATURES.hdf5",
                        help="the feature file of ms2d extract that holds these videos")
    parser.add_argument("--out", required=True, metavar="ANNOTATIONS/SPLIT.jsonl",
                        help="JSONL file to write, e.g. annotations/train.jsonl (val.jsonl and "
                             "test.jsonl for captions with start,end)")


def run(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..data.annotations import write_annotations
    from ..data.captions import read_captions
    from ..files import check_output_file
    from ._common import check_input

    # the output and the inputs before anything is read
    if Path(args.out).suffix != ".jsonl":
        raise ValueError(f"--out {args.out}: give a .jsonl file path, e.g. "
                         "annotations/train.jsonl")
    check_output_file(args.out, "--out", suffix=".jsonl")
    check_input(args.captions, "CAPTIONS.csv", folder_ok=False)
    check_input(args.features, "--features")
    queries = read_captions(args.captions, args.features)
    (path,) = write_annotations(queries, "jsonl", args.out)
    videos = len({q.vid for q in queries})
    windows = sum(q.window is not None for q in queries)
    print(f"{path}: {len(queries)} caption(s) of {videos} video(s), {windows} with a window")
    return 0
