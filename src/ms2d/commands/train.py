"""``ms2d train``: train a model (weakly supervised by default) and keep the best checkpoint."""

from __future__ import annotations

import argparse

from ._common import add_data_arguments, config_from_args

NAME = "train"
HELP = "Train a model on a dataset; checkpoints are selected on the validation split."


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--preset", default=None,
                        help="config preset name or YAML path (ms2d/configs): paper, charades-sta, "
                             "activitynet-captions, cpu-small, synthetic-cpu ...; with --dataset, "
                             "'cpu-small' picks the dataset's cpu-small variant")
    parser.add_argument("--out", required=True, help="run folder (config, checkpoints, logs)")
    parser.add_argument("--resume", action="store_true", help="continue the run in --out from last.pt")
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    parser.add_argument("--word-vectors", default=None, help="GloVe / word2vec file for the embeddings")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides, e.g. train.epochs=5 model.hidden=128")


def run(args: argparse.Namespace) -> int:
    from ..train.loop import train

    cfg = config_from_args(args)
    if args.word_vectors:
        cfg.data.word_vectors = args.word_vectors
    if args.quiet:
        cfg.train.progress = False
    summary = train(cfg, args.out, resume=args.resume, overwrite=args.overwrite)
    best = summary["best"]
    if best:
        print(f"best epoch {best['epoch']}: val {best['metric']}={best['score']:.2f} -> {args.out}/best.pt")
    return 130 if summary["interrupted"] else 0
